"""Real-data matching benchmark: public listings of one region from several publishers, run through the
product exactly as a user would and through Splink 5 on the same files, scored against hand-checked pairs.

    python bench/matching_real.py [--set NAME] [--order forward|reverse|both] [--keep] [--no-splink]

Sets live in bench/data/matching_real/<set>/: one CSV per source (source_id,name,address,address2,city,
state,zip,phone,website and whatever else the publisher has), gold.csv (the duplicate pairs, checked by
hand), review.csv (every candidate pair with its verdict: `not` pairs were checked and are different
places, `ambiguous` pairs are kept out of every count), set.yaml (country and state of the DMOs) and a
README with the provenance. No coordinates are given to anyone: the product runs without a geocoder.

For each set and order:
1. the product: a throwaway project-local PostgreSQL, `listings db migrate`, one CSV DMO config per
   source file (`config_params.file`, LISTINGS_IMPORT_ROOTS = the set folder), `listings config apply`,
   then `listings run <dmo>` per source, each in its own process, in the order asked (`forward`: largest
   source first; `reverse`: smallest first). Two records are predicted the same ("auto") when their
   listing_info rows (external_source_id = source_id) or their latest bridge rows lead to the same
   listing (merged listings followed to the one they were merged into); "auto+review" adds, for every
   record in an open match review item, the records whose listing is among the item's candidates.
2. Splink 5 (`make bench-deps`), unsupervised, with the settings a competent user would choose without
   looking at the gold: DuckDB, link_and_dedupe over the same CSVs (lower-cased, punctuation-free names and
   addresses, phone = last ten digits, zip = first five); predictions blocked on name, phone, zip and
   address; Jaro-Winkler levels on name and address, exact city, zip and phone; probability that two
   random records match from deterministic rules, u by random sampling, m by EM (two sessions, blocked on
   zip and on phone); the pairs scored at match probability >= 0.5 and >= 0.9 ("pairs"), and the same
   clustered into connected components ("clusters": what a user who wants entities does; the product's
   listings are clusters, and the gold is closed under transitivity).

Scores: a predicted pair is a true positive when gold has it. `precision` counts every predicted pair that
is not ambiguous (pairs the hand check never saw count as wrong: a lower bound); `judged` counts only the
pairs whose status is known (gold, or checked and found different). recall(auto) and recall(auto+review)
are over the gold pairs; F1 uses `precision` and recall(auto). Review rate = records in an open review item
/ records imported. Wall time: the `listings run` processes for the product (not the database start or the
migration), train + predict + cluster for Splink.

It prints figures and never asserts; a failing `listings run` is printed with its error and the bench goes
on. --keep leaves the cluster running and prints its URL; --show N prints examples of wrong merges, pairs of
unknown status and missed duplicates for each system.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text

DATA = Path(__file__).resolve().parent / "data" / "matching_real"
NOT_SOURCES = ("gold.csv", "review.csv")
FIRST_DMO_ID = 9201
DATABASE = "listings_matching_real"
SPLINK_THRESHOLDS = (0.5, 0.9)
REVIEW_TYPES = ("low_confidence_match", "multiple_close_matches")
# The canonical fields a set's CSV columns are mapped to, when the CSV has the column.
FIELD_MAPPINGS = {
    "source_id": "source_id",
    "name": "name",
    "address1": "address",
    "address2": "address2",
    "city": "city",
    "state": "state",
    "zip": "zip",
    "phone": "phone",
    "website": "website",
}

Pair = frozenset[str]  # two record keys "<source>:<source_id>"


class BenchError(RuntimeError):
    pass


# --- sets --------------------------------------------------------------------------------------------


@dataclass
class Source:
    name: str
    path: Path
    columns: list[str]
    rows: list[dict[str, str]]


@dataclass
class EvalSet:
    name: str
    folder: Path
    country: str
    state: str | None
    sources: list[Source]
    gold: set[Pair]
    not_duplicates: set[Pair]
    ambiguous: set[Pair]

    @property
    def records(self) -> int:
        return sum(len(s.rows) for s in self.sources)


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def load_set(folder: Path) -> EvalSet:
    meta = yaml.safe_load((folder / "set.yaml").read_text(encoding="utf-8"))
    sources = []
    for path in sorted(folder.glob("*.csv")):
        if path.name not in NOT_SOURCES:
            columns, rows = _read_csv(path)
            sources.append(Source(path.stem, path, columns, rows))
    _, gold_rows = _read_csv(folder / "gold.csv")
    gold = {frozenset((f"{r['source_a']}:{r['id_a']}", f"{r['source_b']}:{r['id_b']}")) for r in gold_rows}
    not_dup: set[Pair] = set()
    ambiguous: set[Pair] = set()
    if (folder / "review.csv").exists():
        for r in _read_csv(folder / "review.csv")[1]:
            pair = frozenset((f"{r['source_a']}:{r['id_a']}", f"{r['source_b']}:{r['id_b']}"))
            if r["verdict"] == "not":
                not_dup.add(pair)
            elif r["verdict"] == "ambiguous":
                ambiguous.add(pair)
    return EvalSet(
        folder.name, folder, meta["country"], meta.get("state"), sources, gold, not_dup - gold, ambiguous
    )


def ordered_sources(s: EvalSet, order: str) -> list[Source]:
    """forward: the largest source first (ties by name); reverse: the opposite order."""
    forward = sorted(s.sources, key=lambda src: (-len(src.rows), src.name))
    return forward if order == "forward" else forward[::-1]


# --- scoring -----------------------------------------------------------------------------------------


@dataclass
class Score:
    system: str
    precision: float | None
    judged: float | None
    recall_auto: float
    recall_review: float | None
    review_rate: float | None
    wall: float | None
    pairs: set[Pair] = field(default_factory=set)
    review_pairs: set[Pair] = field(default_factory=set)
    note: str = ""

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall_auto
        if p is None or not p + r:
            return None
        return 2 * p * r / (p + r)


def score(
    s: EvalSet,
    system: str,
    auto: set[Pair],
    with_review: set[Pair] | None,
    review_rate: float | None,
    wall: float | None,
) -> Score:
    counted = auto - s.ambiguous
    tp = len(counted & s.gold)
    judged = tp + len(counted & s.not_duplicates)
    recall_review = len((with_review | auto) & s.gold) / len(s.gold) if with_review is not None else None
    return Score(
        system,
        precision=tp / len(counted) if counted else None,
        judged=tp / judged if judged else None,
        recall_auto=tp / len(s.gold),
        recall_review=recall_review,
        review_rate=review_rate,
        wall=wall,
        pairs=counted,
        review_pairs=with_review or set(),
        note=f"{len(counted)} pairs predicted, {len(counted) - judged} of unknown status",
    )


def pairs_of_groups(groups: Iterable[Iterable[str]]) -> set[Pair]:
    return {frozenset(p) for g in groups for p in combinations(sorted(set(g)), 2)}


# --- the product -------------------------------------------------------------------------------------


def listings_command() -> list[str]:
    """The `listings` console script beside this interpreter, else `python -m listings.cli` (which runs
    whatever `listings` package PYTHONPATH selects: a branch's worktree, say)."""
    beside = Path(sys.executable).parent / "listings"
    if beside.exists() and not os.environ.get("PYTHONPATH"):
        return [str(beside)]
    return [sys.executable, "-m", "listings.cli"]


def _tail(output: str, lines: int = 25) -> str:
    return "\n".join(output.rstrip().splitlines()[-lines:])


def cli(args: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*listings_command(), *args], env=dict(env), capture_output=True, text=True)


def cli_ok(args: Sequence[str], env: Mapping[str, str]) -> str:
    res = cli(args, env)
    if res.returncode != 0:
        raise BenchError(
            f"`listings {' '.join(args)}` failed with exit code {res.returncode}\n"
            f"--- stderr (tail) ---\n{_tail(res.stderr)}\n--- stdout (tail) ---\n{_tail(res.stdout)}"
        )
    return res.stdout


def dmo_config(s: EvalSet, src: Source, dmo_id: int) -> dict[str, Any]:
    dmo: dict[str, Any] = {
        "id": dmo_id,
        "name": f"{s.name} {src.name}",
        "dmo_type": "PARTNER",
        "country": s.country,
    }
    if s.state:
        dmo["state"] = s.state
    return {
        "dmo": dmo,
        "source_type": "csv",
        "data_domain": "listings",
        "schedule": "manual",
        "base_url": None,
        "field_mappings": {k: v for k, v in FIELD_MAPPINGS.items() if v in src.columns},
        "config_params": {"file": str(src.path)},
        "images": {"enabled": False},
    }


@dataclass
class ProductRun:
    auto: set[Pair]
    with_review: set[Pair]
    in_review: int
    wall: float
    runs: list[tuple[str, float, dict[str, Any] | None, str | None]]  # source, seconds, summary, error


def _resolve(listing_id: int, merged_into: Mapping[int, int]) -> int:
    seen = set()
    while listing_id in merged_into and listing_id not in seen:
        seen.add(listing_id)
        listing_id = merged_into[listing_id]
    return listing_id


def predicted_pairs(url: str, dmo_sources: Mapping[int, str]) -> tuple[set[Pair], set[Pair], int]:
    """(auto pairs, review pairs, records in an open review item) read from the product's tables."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            merged_into = {
                int(r.id): int(r.merged_into_id)
                for r in conn.execute(
                    text("select id, merged_into_id from public.listings where merged_into_id is not null")
                )
            }
            listings_of: dict[str, set[int]] = defaultdict(set)
            info_key: dict[int, str] = {}
            hash_key: dict[tuple[int, str], str] = {}
            dmos = list(dmo_sources)
            for r in conn.execute(
                text(
                    "select id, dmo_id, external_source_id, listing_id from public.listing_info where dmo_id = any(:d)"
                ),
                {"d": dmos},
            ):
                if r.external_source_id is None or r.listing_id is None:
                    continue
                key = f"{dmo_sources[r.dmo_id]}:{r.external_source_id}"
                listings_of[key].add(_resolve(int(r.listing_id), merged_into))
                info_key[int(r.id)] = key
            for r in conn.execute(
                text(
                    "select distinct on (dmo_id, source_id) dmo_id, source_id, source_record_hash, listing_id"
                    " from pipeline.bridge_source_listing where dmo_id = any(:d) and source_id is not null"
                    " order by dmo_id, source_id, id desc"
                ),
                {"d": dmos},
            ):
                key = f"{dmo_sources[r.dmo_id]}:{r.source_id}"
                hash_key[(int(r.dmo_id), r.source_record_hash)] = key
                if r.listing_id is not None:
                    listings_of[key].add(_resolve(int(r.listing_id), merged_into))
            members: dict[int, set[str]] = defaultdict(set)
            for key, ids in listings_of.items():
                for listing_id in ids:
                    members[listing_id].add(key)
            auto = pairs_of_groups(members.values())

            review: set[Pair] = set()
            in_review: set[str] = set()
            for r in conn.execute(
                text(
                    "select dmo_id, listing_id, listing_info_id, source_record_hash, payload, candidates"
                    " from pipeline.review_items where status = 'open' and item_type = any(:t) and dmo_id = any(:d)"
                ),
                {"t": list(REVIEW_TYPES), "d": dmos},
            ):
                record = (r.payload or {}).get("record") or {}
                reviewed: str | None = None
                if record.get("source_id") is not None:
                    reviewed = f"{dmo_sources[r.dmo_id]}:{record['source_id']}"
                elif r.listing_info_id is not None:
                    reviewed = info_key.get(int(r.listing_info_id))
                elif r.source_record_hash is not None:
                    reviewed = hash_key.get((int(r.dmo_id), r.source_record_hash))
                if reviewed is None:
                    continue
                in_review.add(reviewed)
                candidates = {
                    int(c["listing_id"]) for c in (r.candidates or []) if c.get("listing_id") is not None
                }
                if r.listing_id is not None:
                    candidates.add(int(r.listing_id))
                for listing_id in {_resolve(c, merged_into) for c in candidates}:
                    review |= {
                        frozenset((reviewed, other))
                        for other in members.get(listing_id, ())
                        if other != reviewed
                    }
            return auto, review, len(in_review)
    finally:
        engine.dispose()


def run_product(s: EvalSet, order: str, pg: Any, tmp: Path) -> ProductRun:
    database = f"{DATABASE}_{s.name}_{order}"[:63]
    pg.ensure_database(database)
    url = pg.url(database)
    home = tmp / f"home-{s.name}-{order}"
    env = {
        **os.environ,
        "LISTINGS_HOME": str(home),
        "LISTINGS_DATABASE_URL": url,
        "LISTINGS_IMPORT_ROOTS": str(s.folder),
    }
    for var in ("LISTINGS_GEOCODER_URL", "AIRFLOW_CONN_GOOGLE_PLACES", "LISTINGS_AIRFLOW_API_URL"):
        env.pop(var, None)
    cli_ok(["db", "migrate"], env)
    config_dir = tmp / f"configs-{s.name}-{order}"
    config_dir.mkdir(parents=True, exist_ok=True)
    dmo_of = {src.name: FIRST_DMO_ID + i for i, src in enumerate(s.sources)}
    for src in s.sources:
        doc = dmo_config(s, src, dmo_of[src.name])
        (config_dir / f"{src.name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    cli_ok(["config", "apply", str(config_dir)], env)
    runs: list[tuple[str, float, dict[str, Any] | None, str | None]] = []
    total = 0.0
    for src in ordered_sources(s, order):
        t0 = time.perf_counter()
        res = cli(["run", str(dmo_of[src.name])], env)
        seconds = time.perf_counter() - t0
        total += seconds
        summary, error = None, None
        try:
            summary = json.loads(res.stdout.strip().splitlines()[-1]) if res.stdout.strip() else None
        except json.JSONDecodeError:
            summary = None
        if res.returncode != 0:
            error = (
                f"exit code {res.returncode}: {json.dumps(summary) if summary else ''}\n{_tail(res.stderr)}"
            )
        runs.append((src.name, seconds, summary, error))
    auto, review, in_review = predicted_pairs(url, {dmo_of[src.name]: src.name for src in s.sources})
    return ProductRun(auto, review, in_review, total, runs)


def print_runs(product: ProductRun) -> None:
    for source, seconds, summary, error in product.runs:
        counts = ""
        if summary:
            found = summary.get("counts") or summary.get("results") or {}
            if isinstance(found, dict):
                counts = ", ".join(f"{k} {v}" for k, v in found.items() if isinstance(v, int | float))
        status = (summary or {}).get("status", "?")
        print(f"  listings run {source:<8} {seconds:6.1f} s  {status}  {counts}")
        if error:
            print(f"    FAILED: {error}")


# --- Splink ------------------------------------------------------------------------------------------


def _clean(value: str | None) -> str | None:
    words = re.findall(r"[a-z0-9]+", (value or "").lower())
    return " ".join(words) or None


def _phone(value: str | None) -> str | None:
    digits = re.sub(r"\D", "", value or "")
    return digits[-10:] if len(digits) >= 10 else None


def splink_frame(s: EvalSet, src: Source) -> list[dict[str, Any]]:
    return [
        {
            "unique_id": f"{src.name}:{r['source_id']}",
            "name": _clean(r.get("name")),
            "address": _clean(" ".join(filter(None, (r.get("address"), r.get("address2"))))),
            "city": _clean(r.get("city")),
            "zip": (re.sub(r"\D", "", r.get("zip") or "")[:5] or None),
            "phone": _phone(r.get("phone")),
        }
        for r in src.rows
    ]


def run_splink(s: EvalSet) -> tuple[dict[str, set[Pair]], float] | str:
    """The pairs predicted at each threshold, as scored and as clustered (by label), and the seconds taken;
    or why Splink could not run."""
    try:
        import pandas as pd
        import splink.comparison_library as cl
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    except ImportError as exc:
        return f"Splink is not installed ({exc}): run `make bench-deps`"
    t0 = time.perf_counter()
    db_api = DuckDBAPI()
    tables = [
        db_api.register(pd.DataFrame(splink_frame(s, src)), dataset_display_name=src.name)
        for src in s.sources
    ]
    settings = SettingsCreator(
        link_type="link_and_dedupe",
        comparisons=[
            cl.JaroWinklerAtThresholds("name", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.8]),
            cl.ExactMatch("city"),
            cl.ExactMatch("zip"),
            cl.ExactMatch("phone"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("name"),
            block_on("phone"),
            block_on("zip"),
            block_on("address"),
        ],
    )
    linker = Linker(tables, settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("phone", "zip"), block_on("name", "zip")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)  # every pair of these small sets
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("zip"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("phone"))
    predictions = linker.inference.predict(threshold_match_probability=min(SPLINK_THRESHOLDS))
    scored = predictions.as_pandas_dataframe()[["unique_id_l", "unique_id_r", "match_probability"]]
    out: dict[str, set[Pair]] = {}
    for threshold in SPLINK_THRESHOLDS:
        above = scored[scored["match_probability"] >= threshold]
        out[f"splink p>={threshold} pairs"] = {
            frozenset((str(a), str(b)))
            for a, b in zip(above["unique_id_l"], above["unique_id_r"], strict=True)
        }
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
        groups: dict[str, list[str]] = defaultdict(list)
        for row in clusters.as_pandas_dataframe()[["cluster_id", "unique_id"]].itertuples(index=False):
            groups[str(row.cluster_id)].append(str(row.unique_id))
        out[f"splink p>={threshold} clusters"] = pairs_of_groups(groups.values())
    return out, time.perf_counter() - t0


# --- report ------------------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_examples(s: EvalSet, scores: Sequence[Score], limit: int) -> None:
    """Up to `limit` pairs of each kind per system: wrong merges (predicted, checked and found different),
    predicted pairs of unknown status (the place to grow the gold: a duplicate there goes into
    hand_verdicts.txt as D), and missed gold pairs (not predicted, nor in review for the product)."""
    records = {f"{src.name}:{r['source_id']}": r for src in s.sources for r in src.rows}

    def show(key: str) -> str:
        r = records.get(key, {})
        return (
            f"{key} {r.get('name', '')} | {r.get('address', '')} | {r.get('city', '')} {r.get('zip', '')}"
            f" | {r.get('phone', '')}"
        )

    for sc in scores:
        kinds = {
            "wrong": sc.pairs & s.not_duplicates,
            "unknown status": sc.pairs - s.gold - s.not_duplicates,
            "missed": s.gold - sc.pairs - sc.review_pairs,
        }
        for kind, pairs in kinds.items():
            listed = sorted(tuple(sorted(p)) for p in pairs)
            if listed:
                print(f"  {sc.system}: {len(listed)} {kind} pairs, first {min(limit, len(listed))}:")
                for a, b in listed[:limit]:
                    print(f"    {show(a)}\n      ~ {show(b)}")


def print_table(title: str, scores: Sequence[Score]) -> None:
    print(f"\n{title}")
    header = (
        "system",
        "precision",
        "judged",
        "recall(auto)",
        "recall(auto+review)",
        "F1",
        "review rate",
        "wall s",
    )
    rows = [
        (
            sc.system,
            _f(sc.precision),
            _f(sc.judged),
            _f(sc.recall_auto),
            _f(sc.recall_review),
            _f(sc.f1),
            _f(sc.review_rate),
            _f(sc.wall, 1),
        )
        for sc in scores
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print(" | ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)))
    for sc in scores:
        print(f"  {sc.system}: {sc.note}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sets = sorted(p.name for p in DATA.iterdir() if (p / "gold.csv").exists())
    parser.add_argument("--set", choices=sets, action="append", help="a set to run (default: every set)")
    parser.add_argument("--order", choices=("forward", "reverse", "both"), default="forward")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and leave the cluster running")
    parser.add_argument("--no-splink", action="store_true", help="run the product only")
    parser.add_argument("--no-product", action="store_true", help="run Splink only (no database)")
    parser.add_argument(
        "--show",
        type=int,
        default=0,
        metavar="N",
        help="print up to N wrong, unknown and missed pairs per system",
    )
    args = parser.parse_args(argv)
    args.sets = args.set or sets
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import listings
    from listings_dev.local_postgres import LocalPostgres

    orders = ("forward", "reverse") if args.order == "both" else (args.order,)
    tmp = Path(tempfile.mkdtemp(prefix="listings-matching-real-"))
    tmp.chmod(0o755)  # PostgreSQL runs as the postgres user and must traverse it
    pg = None
    try:
        print(f"listings code: {Path(listings.__file__).parent}")
        t0 = time.perf_counter()
        pg = LocalPostgres(tmp / "pg")
        pg.start()
        print(f"database: throwaway PostgreSQL in {pg.root}, started in {time.perf_counter() - t0:.1f} s")
        for name in args.sets:
            s = load_set(DATA / name)
            sizes = ", ".join(f"{src.name} {len(src.rows)}" for src in s.sources)
            print(
                f"\n=== {name}: {s.records} records ({sizes}); {len(s.gold)} gold pairs, "
                f"{len(s.not_duplicates)} checked non-duplicates, {len(s.ambiguous)} ambiguous"
            )
            splink_scores: list[Score] = []
            if not args.no_splink:
                result = run_splink(s)
                if isinstance(result, str):
                    print(f"  splink: {result}")
                else:
                    by_label, seconds = result
                    for label, pairs in by_label.items():
                        splink_scores.append(score(s, label, pairs, None, None, seconds))
            product_scores: dict[str, Score] = {}
            if args.no_product:
                print_table(f"{name} (Splink only)", splink_scores)
                if args.show:
                    print_examples(s, splink_scores, args.show)
            for order in () if args.no_product else orders:
                print(
                    f"\n  product, order {order}: {' > '.join(src.name for src in ordered_sources(s, order))}"
                )
                try:
                    run = run_product(s, order, pg, tmp)
                except BenchError as exc:
                    print(f"  product could not run: {exc}")
                    continue
                print_runs(run)
                product_scores[order] = score(
                    s, f"product ({order})", run.auto, run.with_review, run.in_review / s.records, run.wall
                )
                print_table(f"{name}, order {order}", [product_scores[order], *splink_scores])
                if args.show:
                    print_examples(s, [product_scores[order], *splink_scores], args.show)
            if len(product_scores) == 2:
                fwd, rev = product_scores["forward"], product_scores["reverse"]
                diff = None if fwd.f1 is None or rev.f1 is None else abs(fwd.f1 - rev.f1)
                print(
                    f"\n{name}: pairwise F1 forward {_f(fwd.f1)}, reverse {_f(rev.f1)}, difference {_f(diff)}; "
                    f"pairs predicted in one order only: {len(fwd.pairs ^ rev.pairs)}"
                )
    except BenchError as exc:
        print(f"\nbenchmark aborted: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"\nkept {tmp}")
            if pg is not None:
                print(f"  databases: {pg.url(DATABASE)}_<set>_<order>")
        else:
            if pg is not None:
                try:
                    pg.destroy()
                except Exception as exc:  # never hide the bench's own result behind a cleanup error
                    print(
                        f"warning: could not stop the throwaway cluster in {pg.root}: {exc}", file=sys.stderr
                    )
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
