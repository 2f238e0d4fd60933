"""Match models and labelled pairs in the database (migration 0015): what the match step scores with, how a
model is fitted on the catalogue, and how it is checked against people's decisions.

- `current_model(conn)`: the model the match step uses: the latest row of `pipeline.match_models`, else
  `fallback` (the logistic `scoring.DEFAULT_MODEL` unless the caller passes another).
- Labelled pairs (`pipeline.match_labels`): every review decision and manual merge stores both sides'
  values as matching saw them (a *side*: name, address1, city, zip, country, lat, lng and the lists
  phones, websites, categories, image_hashes), so that a later merge or edit does not change what was
  judged. `label_review_item`, `label_listings` write them; `load_labels` turns them into features.
- `fit_catalogue`: u on random pairs of listings (`pipeline.listing_match`, a deterministic sample), term
  frequencies of names, phones and website hosts over the whole index, and EM over the catalogue's own
  candidate pairs (the blocks of today's candidate search: within 500 m, same postal key, same city key
  with trigram-similar names), starting from `DEFAULT_FS_MODEL` (or the latest stored model, on request).
  A deduplicated catalogue holds few duplicates, so its fit mostly measures u and λ among candidates and
  the TF tables, and keeps m near the start model; EM over a run's own candidate pairs (`fit_batch`, which
  starts from the latest stored model, else the default) learns m from the run.
- `fit_labels`: m and u counted on the labelled pairs (with the start model as a prior), λ their share.
- `evaluate`: precision, recall and F1 of a model on the labelled pairs at the auto-merge and review
  thresholds.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, text

from listings.matching import fellegi_sunter as fs
from listings.matching.features import Features, MatchRecord, build_match_record, pair_features, with_shared
from listings.matching.scoring import DEFAULT_MODEL, AnyModel, confidence
from listings.transform.normalize import normalize_phone, website_host

__all__ = [
    "FitResult",
    "Label",
    "current_model",
    "evaluate",
    "fit_batch",
    "fit_catalogue",
    "fit_labels",
    "label_listings",
    "label_review_item",
    "latest_model",
    "load_labels",
    "save_model",
    "side_features",
    "store_label",
]

Side = dict[str, Any]
Compat = Callable[[str | None, str | None], float]
SEED = 14
_E164 = re.compile(r"\+[1-9]\d{6,14}")
SIDE_FIELDS = ("name", "address1", "city", "zip", "country", "lat", "lng")
SIDE_LISTS = ("phones", "websites", "categories", "image_hashes")


# --------------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------------


def latest_model(conn: Connection) -> tuple[int, fs.FSModel] | None:
    """The latest model `listings matching fit` stored (id, model), or None; the models runs scored with
    (source 'run') are a record, not a start. A stored model whose levels are not today's is skipped (it
    would score the wrong comparisons): the one before it is tried."""
    ids: list[int] = list(
        conn.execute(
            text("select id from pipeline.match_models where source <> 'run' order by id desc limit 20")
        ).scalars()
    )
    for model_id in ids:
        params = conn.execute(text("select params from pipeline.match_models where id = :i"), {"i": model_id})
        try:
            return int(model_id), fs.FSModel.from_params(params.scalar_one())
        except (KeyError, TypeError, ValueError):
            continue
    return None


def current_model(conn: Connection, *, fallback: AnyModel = DEFAULT_MODEL) -> AnyModel:
    """The model the match step scores with: the latest stored one, else `fallback`."""
    found = latest_model(conn)
    return found[1] if found is not None else fallback


def save_model(
    conn: Connection,
    model: fs.FSModel,
    *,
    source: str,
    candidate_pairs: int = 0,
    random_pairs: int = 0,
    labelled_pairs: int = 0,
    metrics: Mapping[str, Any] | None = None,
    job_id: int | None = None,
) -> int:
    """Store a model; a run's model (`job_id`) replaces what an earlier run of that job's match step stored."""
    if job_id is not None:
        conn.execute(text("delete from pipeline.match_models where job_id = :j"), {"j": job_id})
    return int(
        conn.execute(
            text(
                "insert into pipeline.match_models (source, params, candidate_pairs, random_pairs, labelled_pairs,"
                " metrics, job_id) values (:s, cast(:p as jsonb), :c, :r, :l, cast(:m as jsonb), :j) returning id"
            ),
            {
                "j": job_id,
                "s": source,
                "p": json.dumps(model.to_params()),
                "c": candidate_pairs,
                "r": random_pairs,
                "l": labelled_pairs,
                "m": json.dumps(metrics or {}, default=str),
            },
        ).scalar_one()
    )


# --------------------------------------------------------------------------------------------------------
# Sides: one place's values as matching sees them, storable as JSON
# --------------------------------------------------------------------------------------------------------


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if v]


def make_side(values: Mapping[str, Any], **lists: Any) -> Side:
    side: Side = {k: values.get(k) for k in SIDE_FIELDS}
    side["lat"], side["lng"] = _float(side["lat"]), _float(side["lng"])
    for name in SIDE_LISTS:
        side[name] = _list(lists.get(name, values.get(name)))
    return side


def side_of_record(record: Mapping[str, Any]) -> Side:
    """A transformed record (a review item's `payload.record`) as a side."""
    phone = record.get("phone_e164") or record.get("phone")
    images = record.get("image_hashes") or []
    return make_side(record, phones=_list(phone), websites=_list(record.get("website")),
                     categories=_list(record.get("category")), image_hashes=images)  # fmt: skip


def side_of_candidate(doc: Mapping[str, Any], country: str | None) -> Side:
    """A review item's candidate document as a side (the listing as the reviewer saw it), with how many
    candidates shared its agreeing name, phone and website (`features.with_shared`: context the two sides
    alone do not hold)."""
    side = make_side({**doc, "country": doc.get("country") or country})
    features = doc.get("features") or {}
    shared = [int(features.get(f"{k}_shared_by") or 0) for k in ("name", "phone", "website")]
    if any(shared):
        side["shared_by"] = shared
    return side


def _phone(value: str, country: str) -> str | None:
    if _E164.fullmatch(value.strip()):
        return value.strip()
    parsed = normalize_phone(value, country=country)
    return parsed.e164 if parsed is not None else None


@dataclass(frozen=True)
class _Prepared:
    record: MatchRecord  # with its first phone, host and category
    phones: tuple[str, ...]
    hosts: tuple[str, ...]
    categories: tuple[str, ...]


def _prepare(side: Mapping[str, Any]) -> _Prepared:
    country = (side.get("country") or "CA").strip().upper() or "CA"
    phones = tuple(dict.fromkeys(p for p in (_phone(v, country) for v in _list(side.get("phones"))) if p))
    hosts = tuple(dict.fromkeys(h for h in (website_host(w) for w in _list(side.get("websites"))) if h))
    categories = tuple(_list(side.get("categories")))
    record = build_match_record(
        name=side.get("name"),
        address1=side.get("address1"),
        city=side.get("city"),
        postal=side.get("zip"),
        country=country,
        lat=_float(side.get("lat")),
        lng=_float(side.get("lng")),
        image_hashes=_list(side.get("image_hashes")),
    )
    record = replace(
        record,
        phone=phones[0] if phones else None,
        website_host=hosts[0] if hosts else None,
        category=categories[0] if categories else None,
    )
    return _Prepared(record, phones, hosts, categories)


def _facing(p: _Prepared, other: _Prepared, compat: Compat) -> MatchRecord:
    """`p`'s record with the phone, host and category most favourable to `other` (as the engine reads a
    candidate listing that carries every DMO's contacts: "any DMO's phone matches")."""
    rec = p.record
    changes: dict[str, Any] = {}
    if len(p.phones) > 1 and (shared := [x for x in p.phones if x in other.phones]):
        changes["phone"] = shared[0]
    if len(p.hosts) > 1 and (shared := [x for x in p.hosts if x in other.hosts]):
        changes["website_host"] = shared[0]
    if len(p.categories) > 1 and other.record.category:
        changes["category"] = max(p.categories, key=lambda c: compat(other.record.category, c))
    return replace(rec, **changes) if changes else rec


def _features(a: _Prepared, b: _Prepared, compat: Compat) -> Features:
    return pair_features(_facing(a, b, compat), _facing(b, a, compat), compat=compat)


def _compat() -> Compat:
    from listings.transform.categories import load_vocabulary

    return load_vocabulary().compatible


def side_features(
    left: Mapping[str, Any], right: Mapping[str, Any], compat: Compat | None = None
) -> Features:
    """The features of two stored sides."""
    f = _features(_prepare(left), _prepare(right), compat or _compat())
    names, phones, sites = right.get("shared_by") or left.get("shared_by") or (0, 0, 0)
    return with_shared(f, (names, phones, sites))


# --------------------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------------------


def store_label(
    conn: Connection,
    left: Side,
    right: Side,
    *,
    label: bool,
    source: str,
    left_listing_id: int | None = None,
    right_listing_id: int | None = None,
    listing_info_id: int | None = None,
    review_item_id: int | None = None,
    user: str | None = None,
) -> None:
    conn.execute(
        text(
            "insert into pipeline.match_labels (left_record, right_record, left_listing_id, right_listing_id,"
            " listing_info_id, review_item_id, label, source, decided_by) values (cast(:a as jsonb),"
            " cast(:b as jsonb), :la, :lb, :li, :ri, :label, :source, :user)"
        ),
        {"a": json.dumps(left, default=str), "b": json.dumps(right, default=str), "la": left_listing_id,
         "lb": right_listing_id, "li": listing_info_id, "ri": review_item_id, "label": label,
         "source": source, "user": user},
    )  # fmt: skip


def label_review_item(
    conn: Connection,
    item: Any,
    decision: str,
    *,
    chosen_listing_id: int | None,
    own_listing_id: int | None,
    listing_info_id: int | None,
    user: str,
) -> int:
    """Store the labelled pairs of a decided match item: its record against each candidate it offered.
    accept/choose: the chosen candidate is the same place, the others offered are not; new and dismiss:
    none of them is. Returns the number of pairs stored (0 for an item without record or candidates)."""
    payload = item.payload or {}
    record = payload.get("record")
    if not isinstance(record, Mapping) or not record.get("name"):
        return 0
    left = side_of_record(record)
    stored = 0
    for doc in item.candidates or []:
        cid = doc.get("listing_id")
        if cid is None or int(cid) == own_listing_id:
            continue
        label = decision in ("accept", "choose") and int(cid) == chosen_listing_id
        store_label(conn, left, side_of_candidate(doc, record.get("country")), label=label, source=decision,
                    left_listing_id=own_listing_id, right_listing_id=int(cid), listing_info_id=listing_info_id,
                    review_item_id=int(item.id), user=user)  # fmt: skip
        stored += 1
    return stored


LISTING_SIDE_SQL = """
select listing_id, name, address1, city, zip, country, lat, lng, phones, websites, categories, image_phashes
from pipeline.listing_match where listing_id = any(:ids)
"""


def _listing_side(row: Any) -> Side:
    return make_side(row._mapping, image_hashes=row.image_phashes)


def listing_sides(conn: Connection, ids: Iterable[int]) -> dict[int, Side]:
    rows = conn.execute(text(LISTING_SIDE_SQL), {"ids": sorted(set(ids))})
    return {int(r.listing_id): _listing_side(r) for r in rows}


def label_listings(
    conn: Connection,
    left_id: int,
    right_id: int,
    *,
    label: bool,
    source: str,
    user: str,
    listing_info_id: int | None = None,
) -> bool:
    """Store two listings of the matching index as a labelled pair (a manual merge: same place; an unmerge:
    not). False when either is not in the index (merged away, or never promoted)."""
    sides = listing_sides(conn, (left_id, right_id))
    if left_id not in sides or right_id not in sides:
        return False
    store_label(conn, sides[left_id], sides[right_id], label=label, source=source, left_listing_id=left_id,
                right_listing_id=right_id, listing_info_id=listing_info_id, user=user)  # fmt: skip
    return True


@dataclass(frozen=True)
class Label:
    id: int
    features: Features
    label: bool
    source: str


def load_labels(conn: Connection, *, compat: Compat | None = None) -> list[Label]:
    """Every labelled pair with its features, oldest first. A pair labelled again later (the same two
    listings) keeps its latest label only."""
    compat = compat or _compat()
    rows = conn.execute(
        text(
            "select id, left_record, right_record, left_listing_id, right_listing_id, review_item_id, label, source"
            " from pipeline.match_labels order by id"
        )
    ).all()
    latest: dict[tuple[Any, ...], Any] = {}
    for r in rows:
        if r.left_listing_id is not None and r.right_listing_id is not None and r.review_item_id is None:
            key: tuple[Any, ...] = ("listings", *sorted((int(r.left_listing_id), int(r.right_listing_id))))
        else:
            key = ("row", int(r.id))
        latest[key] = r
    out = [
        Label(int(r.id), side_features(r.left_record, r.right_record, compat), bool(r.label), str(r.source))
        for r in latest.values()
    ]
    return sorted(out, key=lambda lb: lb.id)


# --------------------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------------------


@dataclass
class FitResult:
    model: fs.FSModel
    source: str
    candidate_pairs: int
    random_pairs: int
    labelled_pairs: int
    metrics: dict[str, Any] = field(default_factory=dict)


SAMPLE_SQL = """
select listing_id, name, address1, city, zip, country, lat, lng, phones, websites, categories, image_phashes
from pipeline.listing_match
order by md5(listing_id::text || :seed), listing_id
limit :n
"""


def _of_record(r: MatchRecord) -> _Prepared:
    return _Prepared(r, (r.phone,) if r.phone else (), (r.website_host,) if r.website_host else (),
                     (r.category,) if r.category else ())  # fmt: skip


def random_pairs(
    sides: Sequence[Side],
    *,
    pairs: int,
    seed: int = SEED,
    compat: Compat | None = None,
    records: Sequence[MatchRecord] = (),
) -> list[Features]:
    """Features of `pairs` random pairs of distinct sides and already normalised `records` (the same seed,
    the same pairs)."""
    if len(sides) + len(records) < 2:
        return []
    compat = compat or _compat()
    prepared = [_prepare(s) for s in sides] + [_of_record(r) for r in records]
    rng = random.Random(seed)
    out = []
    for _ in range(pairs):
        i, j = rng.sample(range(len(prepared)), 2)
        out.append(_features(prepared[i], prepared[j], compat))
    return out


TF_SQL = {
    "name": "select name_key as v, count(*) as n from pipeline.listing_match where name_key is not null"
    " and name_key <> '' group by name_key",
    "phone": "select p as v, count(distinct listing_id) as n from pipeline.listing_match, unnest(phones) p group by p",
    "website": "select h as v, count(distinct listing_id) as n from pipeline.listing_match, unnest(website_hosts) h"
    " group by h",
}


def tf_tables(
    conn: Connection, chance: Mapping[str, float], batch: Sequence[MatchRecord] = ()
) -> dict[str, dict[str, float]]:
    """{field: {value: share}} for names (name keys), phones and website hosts over the matching index plus
    `batch`, keeping the values more common than chance agreement (`chance`: u_random of the exact level)."""
    prepared = [_of_record(r) for r in batch]
    extra = {
        "name": [p.record.name_key for p in prepared],
        "phone": [x for p in prepared for x in p.phones],
        "website": [x for p in prepared for x in p.hosts],
    }
    tables: dict[str, dict[str, float]] = {}
    for name, sql in TF_SQL.items():
        counts: dict[str, int] = {}
        for row in conn.execute(text(sql)):
            counts[str(row.v)] = int(row.n)
        for v in extra[name]:
            if v:
                counts[v] = counts.get(v, 0) + 1
        total = sum(counts.values())
        threshold = chance.get(name, fs.EPS)
        common = sorted(((n, v) for v, n in counts.items() if n >= 2 and n / max(1, total) > threshold),
                        key=lambda nv: (-nv[0], nv[1]))  # fmt: skip
        tables[name] = {v: n / total for n, v in common[: fs.TF_MAX_VALUES]}
    return tables


CATALOGUE_PAIRS_SQL = """
with s as (
    select * from pipeline.listing_match order by md5(listing_id::text || :seed), listing_id limit :n
)
select distinct least(s.listing_id, c.listing_id) as a, greatest(s.listing_id, c.listing_id) as b
from s
cross join lateral (
    (select m.listing_id from pipeline.listing_match m
     where s.geog is not null and m.listing_id <> s.listing_id and st_dwithin(m.geog, s.geog, 500)
     order by m.geog <-> s.geog limit 6)
    union
    (select m.listing_id from pipeline.listing_match m
     where s.postal_key is not null and m.postal_key = s.postal_key and m.listing_id <> s.listing_id
     order by similarity(m.name, s.name) desc, m.listing_id limit 5)
    union
    (select m.listing_id from pipeline.listing_match m
     where s.city_key is not null and m.city_key = s.city_key and m.name % s.name and m.listing_id <> s.listing_id
     order by similarity(m.name, s.name) desc, m.listing_id limit 8)
) c
order by 1, 2
"""


def catalogue_pairs(conn: Connection, *, sample: int, seed: int = SEED) -> list[tuple[int, int]]:
    """Candidate pairs of listings of the matching index: a deterministic sample of listings, each with the
    listings today's candidate blocks find for it (near, postal, name in city)."""
    conn.execute(text("set local pg_trgm.similarity_threshold = 0.35"))
    rows = conn.execute(text(CATALOGUE_PAIRS_SQL), {"seed": str(seed), "n": sample})
    return [(int(r.a), int(r.b)) for r in rows]


def fit_catalogue(
    conn: Connection,
    *,
    seed: int = SEED,
    sample: int = 5000,
    n_random: int = 20_000,
    fix_u: bool = False,
    start: fs.FSModel | None = None,
    compat: Compat | None = None,
) -> FitResult:
    """EM on the catalogue's candidate pairs, u_random on random pairs, TF over the whole index. The start
    model (initial values and prior) is `DEFAULT_FS_MODEL` unless given, so that fitting the same catalogue
    again gives the same model, whatever was stored meanwhile. Nothing is stored here."""
    compat = compat or _compat()
    start = start or fs.DEFAULT_FS_MODEL
    sides = [_listing_side(r) for r in conn.execute(text(SAMPLE_SQL), {"seed": str(seed), "n": sample})]
    randoms = random_pairs(sides, pairs=n_random if len(sides) > 1 else 0, seed=seed, compat=compat)
    pairs = catalogue_pairs(conn, sample=sample, seed=seed)
    ids = {i for pair in pairs for i in pair}
    by_id = {i: _prepare(s) for i, s in listing_sides(conn, ids).items()}
    candidates = [_features(by_id[a], by_id[b], compat) for a, b in pairs if a in by_id and b in by_id]
    return _fit(conn, candidates, randoms, start=start, fix_u=fix_u)


def fit_batch(
    conn: Connection,
    candidates: Sequence[Features],
    batch: Sequence[MatchRecord] = (),
    *,
    seed: int = SEED,
    sample: int = 5000,
    n_random: int = 20_000,
    fix_u: bool = False,
    start: fs.FSModel | None = None,
    compat: Compat | None = None,
) -> FitResult:
    """EM over one run's candidate pairs (`candidates`: their features, as the match step computed them);
    random pairs from a sample of the matching index plus up to `sample` of the batch's records, and TF
    tables over the index plus the whole batch (`batch`: the incoming records as the match step normalised
    them, `engine.incoming_record`). The match step can score the run with the result (`FitResult.model`)."""
    compat = compat or _compat()
    if start is None:
        found = latest_model(conn)
        start = found[1] if found is not None else fs.DEFAULT_FS_MODEL
    sides = [_listing_side(r) for r in conn.execute(text(SAMPLE_SQL), {"seed": str(seed), "n": sample})]
    # Sorted first: the same records in another order (another import order) give the same model.
    ordered = sorted(batch, key=lambda r: tuple("" if v is None else str(v) for v in astuple(r)))
    picked = ordered if len(ordered) <= sample else random.Random(seed).sample(ordered, sample)
    randoms = random_pairs(sides, pairs=n_random, seed=seed, compat=compat, records=picked)
    return _fit(conn, candidates, randoms, start=start, fix_u=fix_u, batch=batch)


def _fit(
    conn: Connection,
    candidates: Sequence[Features],
    randoms: Sequence[Features],
    *,
    start: fs.FSModel,
    fix_u: bool,
    batch: Sequence[MatchRecord] = (),
) -> FitResult:
    counts = fs.level_counts(randoms) if len(randoms) >= 1000 else None
    if counts is not None:
        u_random = fs.u_from_counts(counts)
        chance = {name: max(fs.EPS, u_random[name][0]) for name in fs.TF_FIELDS}
    else:  # too few listings to measure chance agreement: keep the start model's
        chance = dict(start.u_random_exact) or {name: fs.EPS for name in fs.TF_FIELDS}
    tf = tf_tables(conn, chance, batch)
    model = fs.estimate(candidates, start=start, random_counts=counts, tf=tf, fix_u=fix_u)
    if counts is None:
        model = replace(model, u_random_exact=chance)
    return FitResult(model, "em", len(candidates), len(randoms), 0)


def fit_labels(
    labels: Sequence[Label], *, start: fs.FSModel = fs.DEFAULT_FS_MODEL, prior_pairs: float = 20.0
) -> fs.FSModel:
    """m and u counted on labelled pairs (true: m, false: u), each level pulled towards `start` by
    `prior_pairs` pseudo-pairs; λ the share of true labels (same prior). Clamped and monotone."""
    pos = fs.level_counts(lb.features for lb in labels if lb.label)
    neg = fs.level_counts(lb.features for lb in labels if not lb.label)
    params = {}
    for name in fs.FIELDS:
        p0 = start.params[name]
        tp, tn = sum(pos[name]), sum(neg[name])
        m = [(n + prior_pairs * m0) / (tp + prior_pairs) for n, m0 in zip(pos[name], p0.m, strict=True)]
        u = [(n + prior_pairs * u0) / (tn + prior_pairs) for n, u0 in zip(neg[name], p0.u, strict=True)]
        params[name] = fs.monotone(m, u)
    n_true = sum(1 for lb in labels if lb.label)
    prior = (n_true + prior_pairs * start.prior) / (len(labels) + prior_pairs)
    return fs.FSModel(
        prior=min(1 - fs.EPS, max(fs.EPS, prior)),
        params=params,
        u_random_exact=start.u_random_exact,
        tf=start.tf,
        meta={"labelled_pairs": len(labels), "true": n_true},
    )


# --------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------


def _scores(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def evaluate(model: AnyModel, labels: Sequence[Label], *, auto: float, review: float) -> dict[str, Any]:
    """Pairwise precision, recall and F1 on the labelled pairs: `auto_merge` counts a pair as matched when
    its confidence is above the auto-merge threshold (as `decide` does), `review` when it is at or above the
    review threshold (auto-merged or shown to a reviewer)."""
    scored = [(confidence(lb.features, model), lb.label) for lb in labels]
    out: dict[str, Any] = {"pairs": len(labels), "true": sum(1 for _, y in scored if y)}
    for name, threshold, strict in (("auto_merge", auto, True), ("review", review, False)):
        hits = [(s > threshold if strict else s >= threshold, y) for s, y in scored]
        tp = sum(1 for hit, y in hits if y and hit)
        fp = sum(1 for hit, y in hits if not y and hit)
        fn = sum(1 for hit, y in hits if y and not hit)
        out[name] = _scores(tp, fp, fn)
    return out
