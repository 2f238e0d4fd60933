"""The match step: score the records that found no deterministic hit against candidate listings and decide.

For each such record: candidates from PostgreSQL (`candidates`), features per pair (`features`), a
calibrated confidence (`scoring`), then `decide`: auto-merge into the best listing when it is above the
auto-merge threshold with no close rival; queue a review item (low confidence, or several close
candidates) with the candidates, their features, confidences and explanations; or leave the record to
become a new listing. Decisions are written to staging (promotion applies them and records them in the
bridge table with their certainty and reason) and to `pipeline.review_items`.
"""

from __future__ import annotations

import gc
import itertools
import json
import math
import multiprocessing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import Connection, Engine, text

from listings.matching.batch import (
    HOPELESS_NAME_SIMILARITY,
    BatchPair,
    batch_confidence,
    link_batch,
    pair_batch,
)
from listings.matching.candidates import Candidate, Incoming, find_candidates
from listings.matching.features import (
    Features,
    MatchRecord,
    generic_words,
    match_keys,
    pair_features,
    with_shared,
)
from listings.matching.fellegi_sunter import DEFAULT_FS_MODEL
from listings.matching.model_store import current_model, fit_batch
from listings.matching.scoring import AnyModel, Decision, confidence, decide, explain, reason_for
from listings.transform.categories import load_vocabulary
from listings.transform.normalize import name_tokens, postal_key
from listings.transform.places import region_key

MATCH_METHODS = ("auto_match", "review", "new")  # what the match step writes (transform writes the others)


@dataclass(frozen=True)
class Thresholds:
    auto_merge: float = 0.8
    # Measured on two real hospital registries: 0.5 left 6-7% of the true pairs below review (renamed
    # places, a legal name and a trading name at one address); 0.35 brings recall (auto + review) to
    # 0.952-0.959 with 3-5% of records in review (0.3: 0.96, but 10.5% in review on the generated bench).
    review: float = 0.35
    margin: float = 0.1


@dataclass
class ScoredCandidate:
    candidate: Candidate
    features: Features
    confidence: float
    found_by: frozenset[str] = frozenset()


@dataclass
class MatchOutcome:
    record_no: int
    decision: Decision
    scored: list[ScoredCandidate] = field(default_factory=list)
    found: int = 0  # candidate listings the blocks returned (before hopeless ones were skipped)
    # A duplicate inside the batch (`batch.link_batch`): the record whose new listing this one joins, or
    # the record whose listing it is reviewed against, and the pair that says so.
    same_as: int | None = None
    review_of: int | None = None
    batch_pair: BatchPair | None = None
    model: AnyModel | None = None  # what scored it (None: scoring.DEFAULT_MODEL): explanations use it too
    shared: tuple[int, int, int] = (0, 0, 0)  # candidate listings that carry its name, phone, website host


def incoming_record(r: Mapping[str, Any]) -> MatchRecord:
    """A transformed record as matching sees it, from the keys transform computed (`match_keys`)."""
    keys = r.get("match_keys")
    if not keys:  # a transformed file written before match keys existed
        keys = match_keys(r)
    return MatchRecord(
        name=r["name"],
        name_key=keys.get("name_key") or "",
        address_key=keys.get("address_key"),
        house_number=keys.get("house_number"),
        unit=keys.get("unit"),
        city_key=keys.get("city_key"),
        postal_key=postal_key(r.get("zip"), country=r.get("country") or "CA") or None,
        country=r.get("country") or "CA",
        region_key=keys["region_key"]
        if "region_key" in keys
        else region_key(r.get("state"), r.get("country")),
        lat=_coord(r.get("lat"), 90),
        lng=_coord(r.get("lng"), 180),
        phone=r.get("phone_e164"),
        website_host=keys.get("website_host"),
        category=r.get("category"),
        image_hashes=tuple(r.get("image_hashes") or ()),
    )


def incoming_row(record_no: int, rec: MatchRecord) -> Incoming:
    """What candidate search looks a record up by (every key it has: see `candidates`)."""
    return Incoming(
        record_no,
        rec.name,
        rec.lat,
        rec.lng,
        rec.postal_key or "",
        rec.city_key or "",
        phone=rec.phone or "",
        website_host=rec.website_host or "",
        address_key=(rec.address_key or "") if rec.house_number else "",
        region_key=rec.region_key or "",
        name_key=rec.name_key or "",
    )


def _coord(value: Any, limit: float) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return number if math.isfinite(number) and -limit <= number <= limit else None


def _name_keys(names: Iterable[str]) -> Iterator[str]:
    """The name keys of other DMOs' names for a listing (`Candidate.names`), as `MatchRecord.name_key`."""
    return (" ".join(name_tokens(n)) for n in names)


def candidate_record(c: Candidate, incoming: MatchRecord) -> MatchRecord:
    """A candidate listing as matching sees it, from the keys stored at its promotion. A listing carries
    every DMO's contacts and categories: the value most favourable to the incoming record stands for it
    ("any DMO's phone matches")."""
    if c.name_key is None:  # promoted before match keys were stored
        keys = match_keys(
            {"name": c.name, "address1": c.address1, "city": c.city, "zip": c.zip, "country": c.country}
        )
        c = replace(c, name_key=keys["name_key"] or "", address_key=keys["address_key"],
                    house_number=keys["house_number"], city_key=keys["city_key"])  # fmt: skip
    hosts = c.website_hosts
    vocab = load_vocabulary()
    name, name_key = c.name or "", c.name_key or ""
    if c.names and incoming.name_key:  # another DMO's name for the listing may be the closer one
        name, name_key = max(
            [(name, name_key), *zip(c.names, _name_keys(c.names), strict=True)],
            key=lambda nk: fuzz.token_set_ratio(incoming.name_key, nk[1]),
        )
    return MatchRecord(
        name=name,
        name_key=name_key,
        address_key=c.address_key,
        house_number=c.house_number,
        city_key=c.city_key,
        postal_key=c.postal_key,
        country=c.country or incoming.country,
        lat=c.lat,
        lng=c.lng,
        phone=incoming.phone if incoming.phone in c.phones else (c.phones[0] if c.phones else None),
        website_host=incoming.website_host
        if incoming.website_host in hosts
        else (hosts[0] if hosts else None),
        category=max(c.categories, key=lambda cat: vocab.compatible(incoming.category, cat))
        if c.categories
        else None,
        image_hashes=tuple(h.strip() for h in c.image_hashes),
    )


@dataclass
class Paired:
    """One record's candidates with their features, before any model scores them."""

    record_no: int
    found: int  # candidate listings the blocks returned
    pairs: list[tuple[Candidate, frozenset[str], Features]]
    shared: tuple[int, int, int] = (0, 0, 0)  # `MatchOutcome.shared`


# Fewer records than this are matched in the calling process: starting worker processes and their
# connections costs more than matching them (an incremental run of a few changed records).
PARALLEL_MIN_RECORDS = 500


@contextmanager
def _gc_frozen() -> Iterator[None]:
    """The objects that exist now moved out of the garbage collector's reach (`gc.freeze`) for the block.
    A caller may hold a whole batch, or more: the collector scanning it again and again cost 15-25% of the
    match step at 100,000 listings; and forked workers then leave those pages unwritten (no copy on write)."""
    if gc.get_freeze_count():  # a caller froze them already: theirs to unfreeze
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@_gc_frozen()
def match_records(
    db: Connection | Engine,
    records: Sequence[Mapping[str, Any]],
    thresholds: Thresholds = Thresholds(),
    *,
    chunk: int = 2000,
    workers: int = 1,
    within_batch: bool = True,
    learn_min_pairs: int = 0,
) -> list[MatchOutcome]:
    """Candidates, features, confidences and a decision for every record (none is written here), then
    (`within_batch`) the batch's own duplicates linked (`batch.link_batch`).

    The model: the latest model `listings matching fit` stored, else the documented Fellegi–Sunter defaults;
    with `learn_min_pairs` > 0 and at least that many candidate pairs, that model re-estimated by EM on this
    run's own pairs (`model_store.fit_batch`). One run's EM is not stable enough to be the default
    (measured: 556 pairs of a generated run gave a prior of 0.009 and a shared phone +1.3 bits, nothing
    merged; on the real-data bench, 2,000+ pairs of one registry halved the recall).

    With an Engine and `workers` > 1, chunks are paired in that many processes, each on its own
    connection: candidate SQL and feature computation then use every core (they are both CPU-bound)."""
    by_no = records_by_no(records)
    incoming = {no: incoming_record(r) for no, r in by_no.items()}
    generic = generic_words(incoming.values())
    # The model is known before any pair is scored unless this run learns its own: then the chunks are
    # scored where they were paired (in the workers), and only the batch's own pairs here.
    model: AnyModel | None = None
    if not learn_min_pairs:
        with _connection(db) as conn:
            model = current_model(conn, fallback=DEFAULT_FS_MODEL)
    items = [(no, rec, by_no[no].get("_listing_id")) for no, rec in incoming.items()]
    if isinstance(db, Connection) or len(items) < PARALLEL_MIN_RECORDS:
        workers = 1
    parts = _parts(items, chunk, workers)

    def own_pairs() -> tuple[list[tuple[int, int, Features]], list[BatchPair] | None]:
        """The batch's own pairs, and their scores when the model is known."""
        pairs = pair_batch(incoming, load_vocabulary().compatible, generic) if within_batch else []
        return pairs, (_scored(pairs, model) if model is not None else None)

    if isinstance(db, Connection) or workers <= 1 or len(parts) <= 1:
        with _connection(db, begin=True) as conn:
            done = [p for part in parts for p in _pair_chunk(conn, part, model, thresholds, generic)]
        batch_pairs, scored_pairs = own_pairs()
    else:
        url = db.url.render_as_string(hide_password=False)
        context = multiprocessing.get_context("fork")  # the parent's imports are reused: no start-up cost
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init) as pool:
            n = len(parts)
            chunks = pool.map(_pair_chunk_url, [url] * n, parts, [model] * n, [thresholds] * n, [generic] * n)
            batch_pairs, scored_pairs = own_pairs()  # while the workers search the catalogue
            done = [p for part in chunks for p in part]
    if model is None:
        paired = [p for p in done if isinstance(p, Paired)]
        with _connection(db) as conn:
            model = _model(conn, paired, batch_pairs, incoming, learn_min_pairs)
        outcomes = [_decide(p, thresholds, model) for p in paired]
    else:
        outcomes = [o for o in done if isinstance(o, MatchOutcome)]
    order = {int(r["record_no"]): i for i, r in enumerate(records)}
    outcomes.sort(key=lambda o: order[o.record_no])
    if within_batch:
        shared = {o.record_no: o.shared for o in outcomes}
        pairs = [
            _with_catalogue_counts(p, shared, model) for p in scored_pairs or _scored(batch_pairs, model)
        ]
        _link_within_batch(outcomes, pairs, thresholds, model)
    return outcomes


def _scored(pairs: Sequence[tuple[int, int, Features]], model: AnyModel) -> list[BatchPair]:
    return [BatchPair(a, b, f, batch_confidence(f, model)) for a, b, f in pairs]


def _with_catalogue_counts(
    p: BatchPair, shared: Mapping[int, tuple[int, int, int]], model: AnyModel
) -> BatchPair:
    """`p` rescored when the catalogue holds its agreeing name, phone or website at several listings (two
    records of a chain's new branches agree on what the chain's listings share)."""
    a, b = shared.get(p.a, (0, 0, 0)), shared.get(p.b, (0, 0, 0))
    f = with_shared(p.features, (max(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2])))
    return p if f is p.features else BatchPair(p.a, p.b, f, batch_confidence(f, model))


@contextmanager
def _connection(db: Connection | Engine, *, begin: bool = False) -> Iterator[Connection]:
    """`db` itself when it is a connection, else a new one from the engine (in a transaction: `begin`)."""
    if isinstance(db, Connection):
        yield db
    else:
        with db.begin() if begin else db.connect() as conn:
            yield conn


def _model(
    conn: Connection,
    paired: Sequence[Paired],
    batch_pairs: Sequence[tuple[int, int, Features]],
    incoming: Mapping[int, MatchRecord],
    learn_min_pairs: int,
) -> AnyModel:
    features = [f for p in paired for _, _, f in p.pairs] + [f for _, _, f in batch_pairs]
    if not learn_min_pairs or len(features) < learn_min_pairs:
        return current_model(conn, fallback=DEFAULT_FS_MODEL)
    fit = fit_batch(conn, features, batch=[incoming[n] for n in sorted(incoming)])
    meta = {**fit.model.meta, "candidate_pairs": fit.candidate_pairs, "random_pairs": fit.random_pairs}
    return replace(fit.model, meta=meta)


def _link_within_batch(
    outcomes: Sequence[MatchOutcome], pairs: Sequence[BatchPair], thresholds: Thresholds, model: AnyModel
) -> None:
    links = link_batch(
        {o.record_no: o.decision for o in outcomes},
        pairs,
        auto_threshold=thresholds.auto_merge,
        review_threshold=thresholds.review,
        model=model,
    )
    for o in outcomes:
        link = links.get(o.record_no)
        if link is not None:
            o.decision, o.same_as, o.review_of, o.batch_pair = (
                link.decision,
                link.same_as,
                link.review_of,
                link.pair,
            )
            o.scored = []


def _worker_init() -> None:
    # A forked child must not use the parent's pooled connections (shared sockets): drop them, unclosed.
    from listings.db.engine import engine_for

    engine_for.cache_clear()


# A chunk of records to pair: (record_no, the record, the listing it is in when it is being re-matched).
Chunk = Sequence[tuple[int, MatchRecord, Any]]


def _parts(items: Sequence[tuple[int, MatchRecord, Any]], chunk: int, workers: int) -> list[Chunk]:
    """`items` in chunks of at most `chunk`, as many as a multiple of `workers` and of even size (3 chunks of
    2,000 / 2,000 / 1,000 for 2 workers keep one of them busy twice as long as the other)."""
    n = max(1, math.ceil(len(items) / chunk))
    if workers > 1:
        n = workers * math.ceil(n / workers)
    size = max(1, math.ceil(len(items) / n))
    return [items[i : i + size] for i in range(0, len(items), size)]


def _pair_chunk_url(
    url: str,
    part: Chunk,
    model: AnyModel | None,
    thresholds: Thresholds,
    generic: frozenset[str],
) -> list[Paired] | list[MatchOutcome]:
    from listings.db.engine import engine_for

    with engine_for(url).begin() as conn:
        return _pair_chunk(conn, part, model, thresholds, generic)


def _pair_chunk(
    conn: Connection,
    part: Chunk,
    model: AnyModel | None = None,
    thresholds: Thresholds = Thresholds(),
    generic: frozenset[str] = frozenset(),
) -> list[Paired] | list[MatchOutcome]:
    """A chunk's candidates and features (`Paired`), scored and decided already when `model` is given.
    `generic`: the batch's generic name words (`features.generic_words`)."""
    found = find_candidates(conn, [incoming_row(no, rec) for no, rec, _ in part])
    compat = load_vocabulary().compatible
    out = []
    for no, rec, listing_id in part:
        # A record being re-matched (rematch) is not its own candidate: `listing_id` is the listing it is in.
        exclude = int(listing_id) if listing_id else None
        cands = [(cand, found_by) for cand, found_by in found.get(no, []) if exclude != cand.listing_id]
        shared = _shared_counts(rec, [cand for cand, _ in cands])
        pairs = [
            (cand, found_by, with_shared(pair_features(rec, candidate_record(cand, rec), compat=compat,
                                                        generic=generic), shared))
            for cand, found_by in cands
            if not _hopeless(rec, cand)
        ]  # fmt: skip
        out.append(Paired(no, len(found.get(no, [])), pairs, shared))
    if model is not None:
        return [_decide(p, thresholds, model) for p in out]
    return out


def _shared_counts(rec: MatchRecord, cands: Sequence[Candidate]) -> tuple[int, int, int]:
    """How many of `cands` carry the record's name key (any DMO's name), phone and website host."""
    return (
        sum(
            1
            for c in cands
            if rec.name_key and (c.name_key == rec.name_key or rec.name_key in _name_keys(c.names))
        ),
        sum(1 for c in cands if rec.phone and rec.phone in c.phones),
        sum(1 for c in cands if rec.website_host and rec.website_host in c.website_hosts),
    )


def _hopeless(rec: MatchRecord, cand: Candidate) -> bool:
    """As `batch._hopeless`, for a catalogue candidate (any DMO's phone, website host or name counts)."""
    if not rec.name_key or not cand.name_key:
        return False
    if (rec.phone and rec.phone in cand.phones) or (
        rec.website_host and rec.website_host in cand.website_hosts
    ):
        return False
    if rec.address_key and rec.house_number and rec.address_key == cand.address_key:
        return False
    keys = itertools.chain([cand.name_key], _name_keys(cand.names))
    return all(fuzz.token_set_ratio(rec.name_key, key) < HOPELESS_NAME_SIMILARITY for key in keys)


def _decide(p: Paired, thresholds: Thresholds, model: AnyModel) -> MatchOutcome:
    scored = [ScoredCandidate(cand, f, confidence(f, model), found_by) for cand, found_by, f in p.pairs]
    scored.sort(key=lambda s: (-s.confidence, s.candidate.listing_id))
    decision = decide(
        [(s.candidate.listing_id, s.confidence) for s in scored],
        auto_threshold=thresholds.auto_merge,
        review_threshold=thresholds.review,
        margin=thresholds.margin,
        features={s.candidate.listing_id: s.features for s in scored},
        model=model,
    )
    # A reviewer sees the candidates; an automatic decision keeps only the one it chose (or the best).
    shown = scored if decision.action == "review" else scored[:1]
    return MatchOutcome(p.record_no, decision, shown, found=p.found, model=model, shared=p.shared)


def records_by_no(records: Sequence[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    return {int(r["record_no"]): r for r in records}


def candidate_doc(s: ScoredCandidate, model: AnyModel | None = None) -> dict[str, Any]:
    c = s.candidate
    return {
        "listing_id": c.listing_id,
        "name": c.name,
        "address1": c.address1,
        "city": c.city,
        "zip": c.zip,
        "lat": c.lat,
        "lng": c.lng,
        "phones": c.phones,
        "websites": c.websites,
        "categories": c.categories,
        "found_by": sorted(s.found_by),
        "confidence": round(s.confidence, 4),
        "features": asdict(s.features),
        "explanation": [[name, round(value, 3)] for name, value in explain(s.features, model)],
        "reason": reason_for(s.features, model),
    }


def reset_decisions(conn: Connection, job_id: int) -> None:
    """Undo an earlier run of the match step for this job (a retried task decides again from scratch)."""
    # Records that joined another record's new listing share its reserved id: they lose it (the first
    # record keeps its own, which the images step may already have stored images under).
    conn.execute(
        text(
            """
            update staging.listings l set reserved_listing_id = null
            where l.job_id = :j and exists (
                select 1 from staging.listings o
                where o.job_id = l.job_id and o.reserved_listing_id = l.reserved_listing_id and o.record_no < l.record_no
            )
            """
        ),
        {"j": job_id},
    )
    conn.execute(
        text(
            """
            update staging.listings l set listing_id = null
            from staging.listing_info li
            where li.job_id = l.job_id and li.record_no = l.record_no and l.job_id = :j
              and li.match_method = any(:methods)
            """
        ),
        {"j": job_id, "methods": list(MATCH_METHODS)},
    )
    conn.execute(
        text(
            """
            update staging.listing_info
            set match_method = null, certainty = null, match_reason = null, pending_review = false
            where job_id = :j and match_method = any(:methods)
            """
        ),
        {"j": job_id, "methods": list(MATCH_METHODS)},
    )
    conn.execute(
        text(
            "delete from pipeline.review_items where job_id = :j and status = 'open' and item_type in ('low_confidence_match', 'multiple_close_matches')"
        ),
        {"j": job_id},
    )


def write_decisions(
    conn: Connection,
    job_id: int,
    dmo_id: int,
    records: Mapping[int, Mapping[str, Any]],
    outcomes: Iterable[MatchOutcome],
) -> dict[str, int]:
    """Apply decisions to staging and queue review items; returns counts per action."""
    outcomes = list(outcomes)
    _shared_listings(conn, job_id, outcomes)
    counts = {"auto_merge": 0, "review": 0, "new": 0}
    merges, infos, reviews = [], [], []
    for o in outcomes:
        d = o.decision
        counts[d.action] += 1
        method = {"auto_merge": "auto_match", "review": "review", "new": "new"}[d.action]
        infos.append(
            {
                "j": job_id,
                "n": o.record_no,
                "m": method,
                "c": round(d.confidence, 4),
                "r": d.reason[:2000],
                "p": d.action == "review",
            }
        )
        if d.action == "auto_merge" and d.candidate_id is not None:
            merges.append({"j": job_id, "n": o.record_no, "l": d.candidate_id})
        elif d.action == "review":
            record = records[o.record_no]
            candidates = [candidate_doc(s, o.model) for s in o.scored[:10]]
            if o.review_of is not None and o.batch_pair is not None:
                candidates = [
                    _batch_candidate_doc(records[o.review_of], d.candidate_id, o.batch_pair, o.model)
                ]
            reviews.append(
                {
                    "item_type": d.review_type,
                    "dmo_id": dmo_id,
                    "job_id": job_id,
                    "listing_id": d.candidate_id,
                    "listing_info_id": None,
                    "source_record_hash": record["record_hash"],
                    "payload": _review_payload(record, o),
                    "candidates": candidates,
                    "confidence": round(d.confidence, 4),
                }
            )
    if infos:
        conn.execute(
            text(
                "update staging.listing_info set match_method = :m, certainty = :c, match_reason = :r, pending_review = :p"
                " where job_id = :j and record_no = :n"
            ),
            infos,
        )
    if merges:
        conn.execute(
            text("update staging.listings set listing_id = :l where job_id = :j and record_no = :n"), merges
        )
    write_review_items(conn, reviews)
    return counts


def _shared_listings(conn: Connection, job_id: int, outcomes: Sequence[MatchOutcome]) -> None:
    """Records that join another record's new listing get that record's reserved listing id: promotion
    creates the listing once, under it (`listings.matching.batch`)."""
    leader = {o.record_no: o.same_as for o in outcomes if o.same_as is not None}
    if not leader:
        return
    rows = conn.execute(
        text(
            "update staging.listings set reserved_listing_id = coalesce(reserved_listing_id,"
            " nextval(pg_get_serial_sequence('public.listings', 'id'))::integer)"
            " where job_id = :j and record_no = any(:nos) returning record_no, reserved_listing_id"
        ),
        {"j": job_id, "nos": sorted(set(leader.values()))},
    )
    reserved = {int(r.record_no): int(r.reserved_listing_id) for r in rows}
    conn.execute(
        text("update staging.listings set reserved_listing_id = :l where job_id = :j and record_no = :n"),
        [{"j": job_id, "n": n, "l": reserved[first]} for n, first in leader.items()],
    )


def _batch_candidate_doc(
    other: Mapping[str, Any], listing_id: int | None, pair: BatchPair, model: AnyModel | None
) -> dict[str, Any]:
    """A review candidate that is another record of the same batch (its listing is created at promotion)."""
    return {
        "listing_id": listing_id,
        "name": other.get("name"),
        "address1": other.get("address1"),
        "city": other.get("city"),
        "zip": other.get("zip"),
        "lat": other.get("lat"),
        "lng": other.get("lng"),
        "phones": [other["phone_e164"]] if other.get("phone_e164") else [],
        "websites": [other["website"]] if other.get("website") else [],
        "categories": [other["category"]] if other.get("category") else [],
        "found_by": ["batch"],
        "record_no": int(other["record_no"]),
        "confidence": round(pair.confidence, 4),
        "features": asdict(pair.features),
        "explanation": [[name, round(value, 3)] for name, value in explain(pair.features, model)],
        "reason": reason_for(pair.features, model),
    }


def write_review_items(conn: Connection, items: Sequence[Mapping[str, Any]]) -> None:
    """Queue review items (item_type, dmo_id, job_id, listing_id, listing_info_id, source_record_hash,
    payload, candidates, confidence)."""
    if not items:
        return
    conn.execute(
        text(
            "insert into pipeline.review_items (item_type, dmo_id, job_id, listing_id, listing_info_id,"
            " source_record_hash, payload, candidates, confidence) values (:item_type, :dmo_id, :job_id,"
            " :listing_id, :listing_info_id, :source_record_hash, cast(:payload as jsonb),"
            " cast(:candidates as jsonb), :confidence)"
        ),
        [
            {
                **i,
                "payload": json.dumps(i["payload"], default=str),
                "candidates": json.dumps(i["candidates"], default=str),
            }
            for i in items
        ],
    )


def _review_payload(record: Mapping[str, Any], o: MatchOutcome) -> dict[str, Any]:
    fields = ("name", "address1", "address2", "city", "state", "zip", "country", "lat", "lng", "phone", "phone_e164",
              "email", "website", "category", "category_raw", "source_id", "images")  # fmt: skip
    return {
        "record_no": o.record_no,
        "record": {k: record.get(k) for k in fields},
        "decision": {
            "action": o.decision.action,
            "reason": o.decision.reason,
            "review_type": o.decision.review_type,
        },
    }
