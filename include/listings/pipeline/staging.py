"""Bulk load of one job's transformed records into the `staging` mirror tables (PostgreSQL COPY)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, text

from listings.fields import CONTACT_COLUMNS, LOCATION_FIELDS, SCALAR_FIELDS
from listings.pipeline.jobs import Job

Row = dict[str, Any]

# staging table -> (columns, row builder). Staging keys are (job_id, record_no); no ids from public.


def _keys(r: Row) -> dict[str, Any]:
    return r.get("match_keys") or {}


def _listings(r: Row) -> tuple[Any, ...]:
    return (r["listing_id"], r["name"], _keys(r).get("name_key"))


def _locations(r: Row) -> tuple[Any, ...]:
    keys = _keys(r)
    return (
        *(r[k] for k in LOCATION_FIELDS), r["location_hash"],
        keys.get("address_key"), keys.get("house_number"), keys.get("city_key"), keys.get("region_key"),
    )  # fmt: skip


def _contact(r: Row) -> tuple[Any, ...]:
    return (
        r["name"],
        *(r[key] if key in SCALAR_FIELDS else r.get(key) for _, key in CONTACT_COLUMNS),  # (phone_e164)
        r["contact_hash"],
        _keys(r).get("website_host"),
    )


TABLES: Sequence[tuple[str, Sequence[str], Callable[[Row], tuple[Any, ...]]]] = (
    ("listings", ("listing_id", "name", "name_key"), _listings),
    (
        "locations",
        (*LOCATION_FIELDS, "location_hash", "address_key", "house_number", "city_key", "region_key"),
        _locations,
    ),
    ("contact_info", ("name", *(c for c, _ in CONTACT_COLUMNS), "contact_hash", "website_host"), _contact),
)


def load_staging(conn: Connection, job: Job, file_id: int, records: Sequence[Row]) -> None:
    """Replace this job's staging rows with `records`, in the caller's transaction.

    `seen_at` is the job's start: when the source was read."""
    seen_at = job.created_at
    conn.execute(text("delete from staging.listings where job_id = :j"), {"j": job.id})  # cascades
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        for table, columns, build in TABLES:
            with cur.copy(
                f"copy staging.{table} (job_id, record_no, {', '.join(columns)}) from stdin"
            ) as copy:
                for r in records:
                    copy.write_row((job.id, r["record_no"], *build(r)))
        with cur.copy(
            "copy staging.listing_info (job_id, record_no, dmo_id, listing_info_id, file_id, source_id,"
            " record_hash, content_hash, match_method, name, description, category, seen_at,"
            " source_category, opening_hours_text) from stdin"
        ) as copy:
            for r in records:
                copy.write_row(
                    (
                        job.id, r["record_no"], job.dmo_id, r["listing_info_id"], file_id, r["source_id"],
                        r["record_hash"], r["content_hash"], r["match_method"], r["name"], r["description"],
                        r["category"], seen_at, r.get("category_raw"), r.get("opening_hours"),
                    )
                )  # fmt: skip
        with cur.copy("copy staging.listing_images (job_id, record_no, rank, image) from stdin") as copy:
            for r in records:
                for rank, url in enumerate(r["images"], start=1):
                    copy.write_row((job.id, r["record_no"], rank, url))
        # Parsed opening hours: one opening_dates row per period, its opening_hours rows below it.
        with cur.copy(
            "copy staging.opening_dates (job_id, record_no, seq, start_date, end_date) from stdin"
        ) as copy:
            for r in records:
                for seq, start, end in {(row[0], row[1], row[2]) for row in r.get("hours", [])}:
                    copy.write_row((job.id, r["record_no"], seq, start, end))
        with cur.copy(
            "copy staging.opening_hours (job_id, record_no, seq, hours_seq, day_id, open_time, close_time) from stdin"
        ) as copy:
            for r in records:
                for seq, _start, _end, hours_seq, day_id, open_time, close_time in r.get("hours", []):
                    if day_id is not None:
                        copy.write_row(
                            (job.id, r["record_no"], seq, hours_seq, day_id, open_time, close_time)
                        )
    # Fresh statistics after a bulk load, so that promotion's plans fit the batch just loaded.
    for table in (
        "listings",
        "locations",
        "contact_info",
        "listing_info",
        "listing_images",
        "opening_dates",
        "opening_hours",
    ):
        conn.execute(text(f"analyze staging.{table}"))


def prune_staging(conn: Connection, job: Job) -> int:
    """Drop the staging rows of the DMO's earlier promoted jobs: staging keeps the latest batch only."""
    return conn.execute(
        text(
            """
            delete from staging.listings s
            using pipeline.jobs j
            where s.job_id = j.id and j.dmo_id = :dmo and j.data_domain = :domain
              and j.id < :job and j.promoted_at is not null
            """
        ),
        {"dmo": job.dmo_id, "domain": job.data_domain, "job": job.id},
    ).rowcount
