"""Admin pages benchmark: the server time of each admin page with 1M listings in the database.

    python bench/admin_pages.py [--catalogue 1000000] [--runs 5] [--keep] [--url URL]

1. starts a throwaway project-local PostgreSQL, migrates it, and fills `public` with M listings (the
   promotion benchmark's set-based SQL: locations, contacts, listing_info, bridge rows, the matching index),
   with five categories, a few archived listings and removed listing_info, then VACUUM ANALYZE;
2. serves the admin app (plugins/listings_admin) in-process through FastAPI's TestClient as an admin user
   (Airflow's own checks run; only the token reading is replaced, as in the tests);
3. requests every GET page of the app (each list page unfiltered and with each filter, a listing's detail)
   once to warm up, then `--runs` times, and prints the median and the slowest time per page.
`--keep` leaves the database running and prints its URL; `--url` times the pages again on such a database
(migrating it first), without loading anything. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# as Airflow puts its plugins folder on sys.path
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
from promote import load_catalogue

from listings_dev.local_postgres import LocalPostgres

VARIETY_SQL = """
update public.listing_info set category = (array['restaurant', 'hotel', 'museum', 'park', 'cafe'])[1 + id % 5];
update public.listings set listing_status = 'archived', status_reason = 'bench' where id % 997 = 0;
update public.listing_info set info_status = 'removed', info_visible = false, status_reason = 'bench'
where id % 991 = 0;
"""


def add_config_and_review_item(engine: Any) -> None:
    """A config for DMO 1 (its pages and form) and one open match item (its side-by-side page): listing
    424242 written with a typo, its candidates 424242 and 424243. Idempotent."""
    from sqlalchemy import text

    from listings.config.store import apply_config, parse_config
    from listings.matching.engine import write_review_items

    dmo = {"id": 1, "name": "catalogue", "dmo_type": "CLIENT", "country": "CA", "state": "ON"}
    mappings = {"source_id": "ID", "name": "Name", "city": "City", "lat": "Lat", "lng": "Lng"}
    with engine.begin() as conn:
        apply_config(conn, parse_config({"dmo": dmo, "source_type": "csv", "field_mappings": mappings}))
        if conn.execute(text("select exists (select 1 from pipeline.review_items)")).scalar_one():
            return
        rows = conn.execute(
            text(
                "select l.id, l.name, loc.address1, loc.city, loc.zip, loc.lat, loc.lng from public.listings l"
                " join public.locations loc on loc.id = l.location_id where l.id in (424242, 424243) order by l.id"
            )
        ).mappings()
        candidates = [
            {"listing_id": r["id"], "name": r["name"], "address1": r["address1"], "city": r["city"], "zip": r["zip"],
             "lat": r["lat"], "lng": r["lng"], "phones": [], "websites": [], "categories": [], "found_by": ["name"],
             "confidence": 0.7 - 0.3 * i, "features": {}, "explanation": [], "reason": "bench"}
            for i, r in enumerate(rows)
        ]  # fmt: skip
        record = {k: candidates[0][k] for k in ("name", "address1", "city", "zip", "lat", "lng")}
        record["name"] = record["name"].replace("a", "e", 1)
        payload = {"record_no": 1, "record": record, "decision": {"action": "review", "reason": "bench"}}
        write_review_items(
            conn,
            [{"item_type": "low_confidence_match", "dmo_id": 1, "job_id": None, "listing_id": 424242,
              "listing_info_id": None, "source_record_hash": "0" * 64, "payload": payload,
              "candidates": candidates, "confidence": 0.7}],
        )  # fmt: skip


# (page, path): list pages unfiltered and with each filter, then one listing; pages other rounds add are
# requested when the app has them.
PAGES = [
    ("listings", "/listings"),
    ("listings by name", "/listings?q=place+4242"),
    ("listings by city", "/listings?city=Town+42"),
    ("listings by category", "/listings?category=museum"),
    ("listings by DMO", "/listings?dmo_id=1"),
    ("listings archived", "/listings?status=archived"),
    ("listings page 100", "/listings?page=100"),
    ("listings name desc", "/listings?sort=-name"),
    ("listings by region", "/listings?region=ON"),  # every listing
    ("listings rare region", "/listings?region=QC"),  # none
    ("listings by source", "/listings?source=csv"),
    ("listings category+DMO", "/listings?category=museum&dmo_id=1"),
    ("listing detail", "/listings/424242"),
    ("images", "/images"),
    ("soft-deleted", "/soft-deleted"),
    ("review", "/review"),
    ("jobs", "/jobs"),
    ("job detail", "/jobs/1"),
    ("dmos", "/dmos"),
    ("dmo detail", "/dmos/1"),
    ("dmo form", "/dmos/1/edit"),
    ("review item", "/review/1"),
    ("file detail", "/files/1"),
    ("bridge", "/bridge"),
    ("bridge by method", "/bridge?method=manual"),
    ("bridge doubtful", "/bridge?max_certainty=0.5"),
    ("bridge by source id", "/bridge?q=src-424242"),
    ("bridge conflicts", "/bridge/conflicts"),
    ("schedule", "/schedule"),
    ("files", "/files"),
    ("health", "/health"),
]


def client() -> Any:
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    create_auth_manager()
    from listings_admin.main import app

    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="bench", role="admin")
    root = FastAPI()
    root.mount("/listings-admin", app)
    return TestClient(root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalogue", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--url", help="a database kept by an earlier --keep run: time the pages again")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="listings-bench-admin-"))
    root.chmod(0o755)
    pg = None if args.url else LocalPostgres(root / "pg", fast=True)
    if pg is not None:
        pg.start()
        pg.ensure_database("bench")
    url = args.url.replace("postgresql://", "postgresql+psycopg://") if args.url else pg.url("bench")  # type: ignore[union-attr]
    os.environ["LISTINGS_DATABASE_URL"] = url
    os.environ["LISTINGS_HOME"] = str(root / "home")
    try:
        from listings.db.engine import get_engine, migrate
        from listings.settings import get_settings

        get_settings.cache_clear()
        migrate(url)
        engine = get_engine()
        if pg is not None:
            t0 = time.perf_counter()
            load_catalogue(engine, args.catalogue, VARIETY_SQL)
            print(f"catalogue: {args.catalogue:,} listings loaded in {time.perf_counter() - t0:.1f} s")
        else:
            with engine.begin() as conn:
                conn.exec_driver_sql("analyze")
        add_config_and_review_item(engine)

        http = client()
        print(f"{'page':<24} {'status':>6} {'median ms':>10} {'max ms':>8}  path")
        for name, path in PAGES:
            url = "/listings-admin" + path
            if http.get(url).status_code == 404:
                print(f"{name:<24} {404:>6} {'-':>10} {'-':>8}  {path} (absent)")
                continue
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                response = http.get(url)
                times.append((time.perf_counter() - t0) * 1000)
            print(
                f"{name:<24} {response.status_code:>6} {statistics.median(times):>10.0f} {max(times):>8.0f}  {path}"
            )
    finally:
        if pg is not None and args.keep:
            print(f"kept: {pg.url('bench', driver='postgresql')}")
        elif pg is not None:
            pg.destroy()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
