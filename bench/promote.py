"""Promotion benchmark: a new DMO's first import of N records into a `public` that already holds M listings
(none with --catalogue 0: a new database), then the same records again, unchanged.

    python bench/promote.py [--catalogue 1000000] [--rows 100000] [--seed 0] [--keep] [--profile [N]]
    python bench/promote.py --catalogue 0 --rows 100000     # a new DMO's first import into an empty catalogue
    python bench/promote.py --catalogue 0 --rows 100000 --profile   # and where each promotion's time went

1. starts a throwaway project-local PostgreSQL and migrates it;
2. fills `public` with M listings of another DMO (locations, contact rows, listing_info, one bridge row
   each, the matching index) with set-based SQL, then VACUUM ANALYZE (with M = 0 only the latter: the
   statistics of an empty catalogue);
3. builds the dbt views (once per installation: not timed), writes a CSV of N realistic listings
   (`listings_dev.devdata`) for a new CSV DMO and runs the pipeline's own steps up to `match`, then times
   `promote` alone (dbt: GX checkpoint, change set, one transaction, statistics refresh);
   its promotion plans on statistics from before its rows, as a new DMO's first import does;
4. runs the same file again as a new job (every record now unchanged) and times its `promote`;
5. prints both times, their ratio (target: the first import within 3x of the unchanged re-run), and the
   rows each promotion inserted, updated or deleted in `public` (from pg_stat_user_tables). It prints
   figures; it asserts nothing.

--profile [N]: the cluster runs with pg_stat_statements (track = all: statements inside functions and DO
blocks too), reset before each `promote`; after it, its N (default 25) costliest statements are printed
with their total time, calls, rows, and whether they ran at top level or nested (a nested statement's time
is also inside its function's / DO block's), then the top-level SQL total against the step's wall time
(the rest: dbt, the GX checkpoint's Python, the statistics refresh's round trips). That is how to find the
next hot spot; the extension costs a few percent.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import DMO_ID, iter_rows, write_dmo_config

from listings_dev.local_postgres import LocalPostgres

CATALOGUE_SQL = """
insert into public.dmos (id, name, dmo_type_id, source_type, country, state)
values (1, 'catalogue', 1, 'csv', 'CA', 'ON');
insert into pipeline.jobs (id, dmo_id, data_domain, status, trigger, dag_id, run_id, promoted_at)
values (1, 1, 'listings', 'succeeded', 'bench', 'dmo_1_listings', 'bench', now());
insert into pipeline.job_files (id, job_id, dmo_id, stage, s3_path, format, status)
values (1, 1, 1, 'transformed', 'file://bench/transformed.json.gz', 'json', 'success');
insert into public.locations (id, address1, city, state, zip, country, lat, lng, geog, location_hash)
select g, g || ' Main Street', 'Town ' || (g % 500), 'ON', 'P0' || chr(65 + g % 26) || ' ' || (g % 10) || 'A' || (g % 10),
       'CA', 42 + (g % 1000) * 0.005, -95 + (g / 1000) * 0.005,
       st_setsrid(st_makepoint(-95 + (g / 1000) * 0.005, 42 + (g % 1000) * 0.005), 4326)::geography, md5('l' || g)
from generate_series(1, :n) as g;
insert into public.listings (id, name, name_key, location_id, listing_status, listing_visible, last_job_id)
select g, 'Catalogue place ' || g, 'catalogue place ' || g, g, 'active', true, 1 from generate_series(1, :n) as g;
insert into public.contact_info (id, international_phone, website_url, website_host, contact_hash)
select g, '+1705' || lpad(g::text, 7, '0'), 'https://place' || g || '.example/', 'place' || g || '.example', md5('c' || g)
from generate_series(1, :n) as g;
insert into public.listing_info (id, listing_id, dmo_id, contact_info_id, name, category, external_source_id,
    content_hash, info_visible, info_status, last_seen_at, last_job_id)
select g, g, 1, g, 'Catalogue place ' || g, 'restaurant', 'C' || g, md5('i' || g), true, 'active', now(), 1
from generate_series(1, :n) as g;
insert into pipeline.bridge_source_listing (job_file_id, job_id, dmo_id, source_record_hash, source_id, listing_id,
    listing_info_id, certainty_score, match_method, reason)
select 1, 1, 1, encode(sha256(('r' || g)::bytea), 'hex'), 'C' || g, g, g, 1.0, 'new', 'bench catalogue'
from generate_series(1, :n) as g;
"""


def load_catalogue(engine: Any, n: int, extra_sql: str = "") -> None:
    """Fill `public` with n listings of another DMO (CATALOGUE_SQL, then `extra_sql`), set the id sequences
    past them, build the matching index, VACUUM ANALYZE. n = 0: only VACUUM ANALYZE (an empty catalogue)."""
    if n == 0:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("vacuum analyze"))
        return
    with engine.begin() as conn:
        for statement in (CATALOGUE_SQL + extra_sql).split(";\n"):
            if statement.strip():
                conn.execute(text(statement), {"n": n})
        for table in ("locations", "listings", "contact_info", "listing_info"):
            conn.execute(text(f"select setval(pg_get_serial_sequence('public.{table}', 'id'), :n)"), {"n": n})
        conn.execute(text("select setval(pg_get_serial_sequence('pipeline.jobs', 'id'), 1)"))
        conn.execute(text("select setval(pg_get_serial_sequence('pipeline.job_files', 'id'), 1)"))
        conn.execute(text("select pipeline.refresh_listing_match(null)"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("vacuum analyze"))


TOUCHED_SQL = """
select coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_del), 0)
from pg_stat_user_tables where schemaname = 'public'
"""


def touched(engine: Any) -> tuple[int, int, int]:
    time.sleep(1.5)  # backends report their table statistics within a second of going idle
    with engine.connect() as conn:
        conn.execute(text("select pg_stat_clear_snapshot()"))
        ins, upd, dele = conn.execute(text(TOUCHED_SQL)).one()
    return int(ins), int(upd), int(dele)


PROFILE_SQL = """
select toplevel, calls, total_exec_time, rows, query
from pg_stat_statements
where dbid = (select oid from pg_database where datname = current_database())
order by total_exec_time desc
"""


def enable_profiling(pg: LocalPostgres) -> None:
    """Restart the cluster with pg_stat_statements tracking every statement, nested ones included."""
    import psycopg

    with psycopg.connect(pg.url("postgres", driver="postgresql"), autocommit=True) as conn:
        conn.execute("alter system set shared_preload_libraries = 'pg_stat_statements'")
    pg.stop()
    pg.start()
    with psycopg.connect(pg.url("bench", driver="postgresql"), autocommit=True) as conn:
        conn.execute("create extension if not exists pg_stat_statements")
        # (its settings exist once the library is loaded at start)
        conn.execute("alter system set pg_stat_statements.track = 'all'")
        conn.execute("alter system set track_functions = 'all'")
        conn.execute("select pg_reload_conf()")


def reset_profile(engine: Any) -> None:
    with engine.connect() as conn:
        conn.execute(text("select pg_stat_statements_reset()"))
        conn.commit()


def print_profile(engine: Any, label: str, wall: float, top: int) -> None:
    """The statements that cost the most since reset_profile, then the top-level SQL total."""
    with engine.connect() as conn:
        stats = conn.execute(text(PROFILE_SQL)).all()
    toplevel_ms = sum(s.total_exec_time for s in stats if s.toplevel)
    print(f"  {label}: the {min(top, len(stats))} costliest statements (of {len(stats)})")
    print(f"  {'ms':>9} {'%':>5} {'calls':>6} {'rows':>8}  level   statement")
    for s in stats[:top]:
        query = " ".join(s.query.split())
        if query.startswith('/* {"app": "dbt"'):  # dbt's comment: the node the statement ran for
            node = query.split('"node_id": "', 1)[-1].split('"', 1)[0]
            query = f"[{node.split('.')[-1]}] " + query.split("*/", 1)[-1].strip()
        share = 100 * s.total_exec_time / (wall * 1000)
        print(
            f"  {s.total_exec_time:9.0f} {share:5.1f} {s.calls:6d} {s.rows:8d}  "
            f"{'top' if s.toplevel else 'nested':<6}  {query[:110]}"
        )
    print(
        f"  top-level SQL {toplevel_ms / 1000:.1f} s of the step's {wall:.1f} s "
        f"(the rest: dbt and Python between statements)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalogue", type=int, default=1_000_000)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--profile", type=int, nargs="?", const=25, default=0, metavar="N")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="listings-bench-promote-"))
    root.chmod(0o755)
    pg = LocalPostgres(root / "pg", fast=True)
    pg.start()
    pg.ensure_database("bench")
    if args.profile:
        enable_profiling(pg)
    os.environ["LISTINGS_DATABASE_URL"] = pg.url("bench")
    os.environ["LISTINGS_HOME"] = str(root / "home")
    os.environ["LISTINGS_IMPORT_ROOTS"] = str(root)  # a file source reads only from the import folders
    from listings.config.store import apply_paths
    from listings.db.engine import get_engine, migrate
    from listings.pipeline import steps
    from listings.settings import get_settings

    get_settings.cache_clear()
    try:
        migrate(pg.url("bench"))
        engine = get_engine()
        t0 = time.perf_counter()
        load_catalogue(engine, args.catalogue)
        print(f"catalogue: {args.catalogue:,} listings loaded in {time.perf_counter() - t0:.1f} s")

        from listings.pipeline.promote import build_views

        t0 = time.perf_counter()
        build_views()  # `dbt run` of the views, done once per installation and models version
        print(f"dbt views built in {time.perf_counter() - t0:.1f} s")

        config = root / "dmo.yaml"
        write_dmo_config(config)
        apply_paths(engine, [config])
        from listings_dev.devdata import write_csv

        upload = root / "upload.csv"
        write_csv(upload, iter_rows(args.rows, args.seed))

        results = []
        for label in ("first promotion", "unchanged re-run"):
            job_id = steps.start(DMO_ID, params={"file": str(upload)})
            t0 = time.perf_counter()
            for step in ("extract", "transform", "stage", "match"):
                getattr(steps, step)(job_id)
            before = touched(engine)
            prepared = time.perf_counter() - t0
            if args.profile:
                reset_profile(engine)
            t0 = time.perf_counter()
            steps.promote(job_id)
            seconds = time.perf_counter() - t0
            if args.profile:
                print_profile(engine, label, seconds, args.profile)
            after = touched(engine)
            steps.finalize(job_id)
            with engine.connect() as conn:
                counts = conn.execute(
                    text(
                        "select records_new, records_updated, records_unchanged from pipeline.job_results where job_id = :j"
                    ),
                    {"j": job_id},
                ).one()
            rows = tuple(a - b for a, b in zip(after, before, strict=True))
            results.append(seconds)
            print(
                f"{label}: promote {seconds:.1f} s = {args.rows / seconds:,.0f} records/s "
                f"(extract..match {prepared:.1f} s); new/updated/unchanged {tuple(counts)}; "
                f"public rows inserted/updated/deleted {rows}"
            )
        ratio = results[0] / results[1]
        print(
            f"new DMO's first import of {args.rows:,} records into a catalogue of {args.catalogue:,}: "
            f"first promotion {results[0]:.1f} s, unchanged re-run {results[1]:.1f} s, ratio {ratio:.1f}x "
            f"(target: within 3x)"
        )
        print(
            f"SUMMARY catalogue={args.catalogue} rows={args.rows} first_s={results[0]:.1f} "
            f"unchanged_s={results[1]:.1f} ratio={ratio:.1f}x"
        )
    finally:
        if args.keep:
            print(f"kept: {pg.url('bench', driver='postgresql')}")
        else:
            pg.destroy()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
