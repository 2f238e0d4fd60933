"""Matching benchmark on PostgreSQL: N incoming records against a catalogue of M canonical listings, through
the pipeline's own match step (candidate SQL with PostGIS/pg_trgm/postal blocking, calibrated scorer,
decisions), with labelled truth.

    python bench/matching.py [--canonical 1000000] [--incoming 100000] [--seed 7] [--batch 5000] [--keep]

1. generates a labelled set (`listings_dev.labelled.generate`): canonical listings, and incoming
   records that are noisy duplicates of them (typos, abbreviations, missing fields, moved pins, renamed
   businesses), new places, chain branches and near-identical neighbours. A catalogue of a million
   listings spans many destinations, not one: `--regions R` (default: one per 100,000 canonical listings)
   builds R such sets with their own seeds and places each in its own region (its own province,
   coordinates shifted west, postal codes and city names of their own). `--regions 1` puts everything in the generator's
   twenty Québec cities: a stress test far denser than any real city;
2. loads the canonical listings into `public` of a throwaway PostgreSQL (COPY; phones in E.164 and
   categories in the vocabulary, as promotion stores them);
3. turns the incoming rows into transformed records with the transform's own functions (`build_record`,
   `enrich`) — timed apart: that is transform's cost, not matching's;
4. runs `listings.matching.engine.match_records` batch by batch and prints records/s, then auto-merge
   precision, recall of true duplicates (auto-merged + sent to review with the true listing among the
   candidates), the review rate and the accuracy of "new" decisions. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from listings.db.engine import engine_for, migrate
from listings.matching.engine import Thresholds, match_records
from listings.matching.features import match_keys
from listings.transform.categories import load_vocabulary
from listings.transform.normalize import normalize_phone
from listings.transform.records import build_record, enrich
from listings_dev.labelled import LabelledSet, generate
from listings_dev.local_postgres import LocalPostgres

FIELDS = ("name", "category", "address1", "address2", "city", "state", "zip", "country", "lat", "lng",
          "phone", "email", "website", "images")  # fmt: skip
E164_SPACED = re.compile(r"^\+[0-9 ]{8,20}$")


def e164(phone: str) -> str | None:
    if not phone:
        return None
    if E164_SPACED.match(phone):  # the generator's canonical form: no need for libphonenumber
        return phone.replace(" ", "")
    parsed = normalize_phone(phone, country="CA")
    return parsed.e164 if parsed else None


POSTAL_LETTERS = "ABCEGHJKLMNPRSTVXY"  # the letters a Canadian postal code starts with
# Region r's province (the generator writes Québec): candidate blocks that look within a province (the same
# street address, the same name) must not see ten destinations' listings as one province's.
PROVINCES = ("QC", "ON", "BC", "AB", "MB", "SK", "NS", "NB", "NL", "PE", "YT", "NT", "NU")


def _province(source_id: str) -> str:
    """The province of a row of `generate_regions` (its source id starts with "R<region>-")."""
    return PROVINCES[int(source_id[1 : source_id.index("-")]) % len(PROVINCES)]


def _regional(row: dict[str, str], region: int, prefix: str) -> dict[str, str]:
    """The same row placed in region `region`: its own province, longitudes, postal codes and city names."""
    out = dict(row, source_id=prefix + row["source_id"])
    if region == 0:
        return out
    if row["state"]:  # (region 0 keeps the generator's spellings: "QC", "Québec", "Quebec")
        out["state"] = PROVINCES[region % len(PROVINCES)]
    if row["lng"]:
        out["lng"] = f"{float(row['lng']) - 8.0 * region:.6f}"
    if row["city"]:
        out["city"] = f"{row['city']} R{region}"
    zip_code = row["zip"]
    if len(zip_code) > 1 and zip_code[0].upper() in POSTAL_LETTERS and zip_code[1].isdigit():
        shift = 3 * (region % 6)  # Québec's G, H, J are consecutive: six disjoint triples of letters
        letter = POSTAL_LETTERS[(POSTAL_LETTERS.index(zip_code[0].upper()) + shift) % len(POSTAL_LETTERS)]
        digit = str((int(zip_code[1]) + 5 * (region // 6)) % 10)
        out["zip"] = letter + digit + zip_code[2:]
    return out


def generate_regions(n_canonical: int, n_incoming: int, *, seed: int, regions: int) -> LabelledSet:
    canonical: list[dict[str, str]] = []
    incoming: list[dict[str, str]] = []
    truth: dict[str, str | None] = {}
    kinds: dict[str, str] = {}
    for r in range(regions):
        part = generate(n_canonical // regions, n_incoming // regions, seed=seed + r)
        prefix = f"R{r}-"
        canonical += [_regional(row, r, prefix) for row in part.canonical]
        incoming += [_regional(row, r, prefix) for row in part.incoming]
        truth |= {prefix + k: (prefix + v if v else None) for k, v in part.truth.items()}
        kinds |= {prefix + k: v for k, v in part.kinds.items()}
    return LabelledSet(canonical, incoming, truth, kinds)


def load_catalogue(url: str, canonical: list[dict[str, str]]) -> float:
    import psycopg

    vocab = load_vocabulary()
    started = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into public.dmos (id, name, dmo_type_id, source_type, country, state) values (1, 'catalogue', 1, 'csv', 'CA', 'QC')"
        )
        # what transform computes (a row without a province gets its DMO's) and promotion stores
        canonical = [{**r, "state": r["state"] or _province(r["source_id"])} for r in canonical]
        keys = [match_keys(r) for r in canonical]
        with cur.copy(
            "copy public.locations (id, address1, address2, city, state, zip, country, lat, lng, geog,"
            " address_key, house_number, city_key, region_key) from stdin"
        ) as cp:
            for i, (r, k) in enumerate(zip(canonical, keys, strict=True), start=1):
                point = f"SRID=4326;POINT({r['lng']} {r['lat']})" if r["lat"] and r["lng"] else None
                cp.write_row((i, r["address1"] or None, r["address2"] or None, r["city"], r["state"], r["zip"] or None,
                              r["country"] or "CA", r["lat"] or None, r["lng"] or None, point,
                              k["address_key"], k["house_number"], k["city_key"], k["region_key"]))  # fmt: skip
        with cur.copy("copy public.listings (id, name, name_key, location_id) from stdin") as cp:
            for i, (r, k) in enumerate(zip(canonical, keys, strict=True), start=1):
                cp.write_row((i, r["name"], k["name_key"], i))
        with cur.copy(
            "copy public.contact_info (id, international_phone, website_url, website_host) from stdin"
        ) as cp:
            for i, (r, k) in enumerate(zip(canonical, keys, strict=True), start=1):
                cp.write_row((i, e164(r["phone"]), r["website"] or None, k["website_host"]))
        with cur.copy(
            "copy public.listing_info (id, listing_id, dmo_id, contact_info_id, category, name) from stdin"
        ) as cp:
            for i, r in enumerate(canonical, start=1):
                cp.write_row((i, i, 1, i, vocab.map(r["category"]).category, r["name"]))
        for seq in ("locations", "listings", "contact_info", "listing_info"):
            cur.execute(f"select setval(pg_get_serial_sequence('public.{seq}', 'id'), {len(canonical)})")
        cur.execute("select pipeline.refresh_listing_match(null)")  # what promotion keeps up to date
        conn.commit()
        conn.autocommit = True  # VACUUM cannot run in a transaction
        cur.execute("vacuum analyze")
    return time.perf_counter() - started


def transformed(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    mappings = {f: f for f in FIELDS} | {"source_id": "source_id"}
    out = []
    for no, row in enumerate(rows, start=1):
        # the DMO's province fills a row's empty one, as a DMO's config does
        rec = enrich(
            build_record(no, row, mappings, country="CA", state=_province(row["source_id"])),
            source_type="csv",
        )
        rec.values["match_keys"] = match_keys(rec.values)
        out.append({"record_no": no, **rec.values, "record_hash": rec.record_hash, "images": rec.images})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--canonical", type=int, default=1_000_000)
    ap.add_argument("--incoming", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument(
        "--workers", type=int, default=2, help="Matching processes (the match step's default: 2)."
    )
    ap.add_argument(
        "--regions", type=int, help="Regions the catalogue spans (default: one per 100,000 listings)."
    )
    ap.add_argument("--keep", action="store_true", help="Keep the throwaway cluster and print its URL.")
    ap.add_argument(
        "--reuse",
        metavar="URL",
        help="Match against the catalogue a --keep run loaded (same --canonical, --regions, --seed): no load."
        " Matching writes nothing, so runs against one catalogue compare.",
    )
    args = ap.parse_args()

    print(
        f"matching benchmark: {args.incoming:,} incoming records against {args.canonical:,} canonical listings"
    )
    t0 = time.perf_counter()
    regions = args.regions or max(1, args.canonical // 100_000)
    ls = generate_regions(args.canonical, args.incoming, seed=args.seed, regions=regions)
    print(f"labelled set generated in {time.perf_counter() - t0:.1f} s ({regions} region(s)) "
          f"({sum(1 for v in ls.truth.values() if v)} true duplicates; kinds: {dict(Counter(ls.kinds.values()))})")  # fmt: skip

    root = pg = None
    if args.reuse:
        url = args.reuse
    else:
        root = Path(tempfile.mkdtemp(prefix="listings-bench-match-"))
        root.chmod(0o755)
        pg = LocalPostgres(root / "pg", fast=True)
        pg.start()
        pg.ensure_database("bench")
        url = pg.url("bench")
    try:
        if pg is not None:
            migrate(url)
            seconds = load_catalogue(url, ls.canonical)
            print(f"catalogue loaded (COPY, matching index, vacuum analyze) in {seconds:.1f} s")

        t0 = time.perf_counter()
        records = transformed(ls.incoming)
        t_transform = time.perf_counter() - t0
        print(f"incoming records normalised (transform's build_record + enrich) in {t_transform:.1f} s "
              f"= {len(records) / t_transform:,.0f} records/s")  # fmt: skip

        engine = engine_for(url)
        outcomes = []
        t0 = time.perf_counter()
        for start in range(0, len(records), args.batch):  # one match step per batch, as one job's file
            outcomes.extend(
                match_records(engine, records[start : start + args.batch], Thresholds(), workers=args.workers)
            )
        t_match = time.perf_counter() - t0
        rss = psutil.Process().memory_info().rss / 2**20

        canonical_id = {r["source_id"]: i for i, r in enumerate(ls.canonical, start=1)}
        incoming_id = [r["source_id"] for r in ls.incoming]
        merges = correct_merges = reviews = recalled = new_ok = new_total = 0
        duplicates = sum(1 for v in ls.truth.values() if v)
        actions: Counter[str] = Counter()
        for o in outcomes:
            truth = ls.truth[incoming_id[o.record_no - 1]]
            want = canonical_id[truth] if truth else None
            actions[o.decision.action] += 1
            shown = {s.candidate.listing_id for s in o.scored[:10]}
            if o.decision.action == "auto_merge":
                merges += 1
                # joining another record of the batch (a new listing they share, candidate None): right
                # only when both are the same place; the generator's batches hold no such pair
                right = want is not None and o.decision.candidate_id == want
                if o.same_as is not None:
                    leader = ls.truth[incoming_id[o.same_as - 1]]
                    right = want is not None and leader is not None and canonical_id[leader] == want
                correct_merges += right
                recalled += right
            elif o.decision.action == "review":
                reviews += 1
                recalled += want is not None and want in shown
            if want is None:
                new_total += 1
                new_ok += o.decision.action == "new"
        print()
        print(f"  match step: {len(records):,} records in {t_match:.1f} s = {len(records) / t_match:,.0f} records/s "
              f"(batches of {args.batch:,}, {args.workers} worker processes); "
              f"process RSS {rss:,.0f} MB")  # fmt: skip
        print(f"  decisions: {dict(actions)}")
        per_record = sorted(o.found for o in outcomes)
        print(
            f"  candidate listings per record (all blocks): mean {sum(per_record) / max(len(per_record), 1):.1f}, "
            f"p99 {per_record[int(0.99 * (len(per_record) - 1))] if per_record else 0}, max {max(per_record, default=0)}"
        )
        print(
            f"  auto-merge precision: {correct_merges / max(merges, 1):.4f} ({correct_merges:,}/{merges:,})   target >= 0.99"
        )
        print(
            f"  recall of true duplicates (auto + review): {recalled / max(duplicates, 1):.4f} ({recalled:,}/{duplicates:,})   target >= 0.97"
        )
        print(f"  review rate: {reviews / len(records):.2%} of incoming   target <= 10%")
        print(f"  new places decided new: {new_ok / max(new_total, 1):.4f} ({new_ok:,}/{new_total:,})")
        print(f"SUMMARY canonical={args.canonical} incoming={args.incoming} regions={regions} records_per_s={len(records) / t_match:.0f} "
              f"precision={correct_merges / max(merges, 1):.4f} recall={recalled / max(duplicates, 1):.4f} "
              f"review_rate={reviews / len(records):.4f}")  # fmt: skip
    finally:
        if pg is None or root is None:
            pass
        elif args.keep:
            print(f"kept: {pg.url('bench', driver='postgresql')}  (stop: rm -rf {root} after pg_ctl stop)")
        else:
            pg.destroy()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
