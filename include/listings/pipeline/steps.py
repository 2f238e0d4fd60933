"""The steps of one DMO run, as plain functions of a job id: snapshot the config (`start`), extract,
transform, stage, images, match, promote, finalize.

Each step is idempotent: it writes to its own job-keyed objects and rows, and a re-run after success
returns the recorded result without doing the work twice. The Airflow DAG and `listings run` both call these.
The images step is mapped over batches in Airflow (`listings.pipeline.images`); `images` here runs it whole.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from listings.db import tables as t
from listings.db.engine import get_engine
from listings.matching import bridge
from listings.matching.features import match_keys
from listings.pipeline import jobs
from listings.pipeline.geotag import geotag_records
from listings.pipeline.snapshot_guard import unusable_payload
from listings.settings import get_settings
from listings.sources import get_source
from listings.sources.base import FetchContext, ParseResult, SourceError
from listings.storage import DataKey, ObjectExistsError, ObjectStore, get_store, object_path
from listings.storage.formats import CONTENT_TYPES, dump_json_gz, gunzip_bytes, gzip_bytes, load_json_gz
from listings.transform.categories import CategoryStats
from listings.transform.clean import json_safe
from listings.transform.records import CanonicalRecord, RecordError, build_record, enrich, merge_in_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    records: int
    skipped: bool = False  # True when a re-run found the step already done


def _put_once(store: ObjectStore, path: str, data: bytes, content_type: str) -> str:
    """Write an immutable object; if a crashed earlier attempt already wrote the same bytes, reuse them."""
    try:
        return store.put(path, data, immutable=True, content_type=content_type).sha256
    except ObjectExistsError:
        existing = hashlib.sha256(store.get(path)).hexdigest()
        if existing != hashlib.sha256(data).hexdigest():
            raise
        log.info("object %s already written by an earlier attempt; reusing it", path)
        return existing


def _data_key(job: jobs.Job, stage: str, batch: int, fmt: str) -> DataKey:
    dmo = job.config.dmo
    return DataKey(
        env=get_settings().env.value,
        stage=stage,
        domain=job.data_domain,
        country=dmo.country,
        state=dmo.state,
        dmo_id=dmo.id,
        when=job.created_at.replace(tzinfo=UTC),
        batch=batch,
        fmt=fmt,
    )


# ------------------------------------------------------------------------------------------------
def start(
    dmo_id: int,
    *,
    data_domain: str = "listings",
    dag_id: str | None = None,
    run_id: str | None = None,
    trigger: str = "cli",
    params: dict[str, Any] | None = None,
) -> int:
    """snapshot_config: create the job and copy the DMO's current config into `job_configs`."""
    run_id = run_id or f"{trigger}__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%f')}"
    with get_engine().begin() as conn:
        return jobs.start_job(
            conn,
            dmo_id=dmo_id,
            data_domain=data_domain,
            dag_id=dag_id or f"dmo_{dmo_id}_{data_domain}",
            run_id=run_id,
            trigger=trigger,
            params=params,
        )


def extract(job_id: int) -> StepResult:
    """Fetch the source payload and store it, as it came, gzipped and immutable, under the raw naming."""
    engine = get_engine()
    with engine.connect() as conn:
        job = jobs.load_job(conn, job_id)
        done = jobs.job_file(conn, job_id, "raw")
    if done is not None:
        if done.status == "failed":
            raise SourceError(done.metadata.get("error", f"raw file {done.s3_path} could not be parsed"))
        return StepResult(int(done.record_count or 0), skipped=True)
    source = get_source(job.config.source_type.value)
    with engine.begin() as conn:
        ctx = fetch_context(conn, job)
        conn.execute(
            text("update pipeline.jobs set full_snapshot = :f where id = :j"),
            {"f": ctx.since is None, "j": job_id},
        )
    payload = source.fetch(ctx)
    data = gzip_bytes(payload.data)
    with engine.begin() as conn:
        # One writer per DMO allocates the day's next batch number.
        conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": job.dmo_id})
        batch = jobs.next_batch(conn, job.dmo_id, "raw", job.created_at.date())
        key = _data_key(job, "raw", batch, payload.fmt)
        # The payload is stored before it is parsed: whatever the parse does, the raw object is kept.
        sha = _put_once(get_store(), key.path, data, CONTENT_TYPES[payload.fmt])
        # Parse once here so that a payload that cannot be read at all fails the run now. Any error of the
        # reader (a bug, a csv.Error) fails it like a SourceError: the raw file row says why.
        error: SourceError | None = None
        try:
            parsed = source.parse(payload.data, job.config)
            status, count, metadata = "success", parsed.total, {**payload.metadata, **parsed.metadata}
        except Exception as exc:
            error = exc if isinstance(exc, SourceError) else SourceError(
                f"DMO {job.dmo_id}: the {payload.fmt} payload could not be parsed: {type(exc).__name__}: {exc}"
            )  # fmt: skip
            status, count, metadata = "failed", None, {**payload.metadata, "error": str(error)}
        else:
            # A payload of another shape (random text, a renamed header) fails now: never zero records.
            unusable = unusable_payload(parsed, job.config)
            if unusable is not None:
                error = SourceError(unusable)
                status, metadata = "failed", {**metadata, "error": unusable}
        _insert_file(
            conn, job, key, data, sha, record_count=count, status=status,
            source_uri=payload.source_uri, metadata=metadata,
        )  # fmt: skip
    if error is not None:
        raise error
    return StepResult(count or 0)


def fetch_context(conn: Any, job: jobs.Job) -> FetchContext:
    """What the connector gets: the snapshot config, the run's upload, and for incremental sources the
    start of the DMO's last good run (what changed since then is fetched)."""
    params = job.config.params()
    since = None
    if getattr(params, "incremental", False):
        since = conn.execute(
            select(func.max(t.jobs.c.started_at)).where(
                t.jobs.c.dmo_id == job.dmo_id,
                t.jobs.c.data_domain == job.data_domain,
                t.jobs.c.status.in_(("succeeded", "partial")),
                t.jobs.c.id != job.id,
            )
        ).scalar()
    file = job.params.get("file")
    return FetchContext(
        config=job.config,
        params=params,
        project_dir=get_settings().project_dir,
        file=Path(file) if file else None,
        since=since.replace(tzinfo=UTC) if since else None,
    )


def _insert_file(
    conn: Any,
    job: jobs.Job,
    key: DataKey,
    data: bytes,
    sha: str,
    *,
    record_count: int | None,
    status: str = "success",
    source_uri: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> int:
    return int(
        conn.execute(
            t.job_files.insert()
            .values(
                job_id=job.id,
                s3_path=f"s3://{key.path}",
                stage=key.stage,
                data_domain=key.domain,
                country=job.config.dmo.country,
                state=job.config.dmo.state,
                dmo_id=job.dmo_id,
                file_date=key.when.date(),
                batch=key.batch,
                format=key.fmt,
                file_size=len(data),
                record_count=record_count,
                status=status,
                sha256=sha,
                source_uri=source_uri,
                metadata=metadata or {},
            )
            .returning(t.job_files.c.id)
        ).scalar_one()
    )


# ------------------------------------------------------------------------------------------------
def _transformed_record(
    no: int, rec: CanonicalRecord, match: bridge.BridgeMatch | None, hashes: dict[str, str]
) -> dict[str, Any]:
    return {
        "record_no": no,
        "row_nos": rec.row_nos,
        **rec.values,
        "images": rec.images,
        "flags": rec.flags,
        "provenance": rec.provenance,
        **hashes,
        "listing_id": match.listing_id if match else None,
        "listing_info_id": match.listing_info_id if match else None,
        "match_method": match.method if match else None,
    }


def transform(job_id: int) -> StepResult:
    """Map, clean, merge in-file duplicates, normalise (phones, postal codes, URLs, categories, hours),
    hash, look up the bridge, geotag what needs it, validate (Great Expectations); write the transformed file."""
    engine = get_engine()
    with engine.connect() as conn:
        job = jobs.load_job(conn, job_id)
        raw = jobs.job_file(conn, job_id, "raw")
        done = jobs.job_file(conn, job_id, "transformed")
    if done is not None:
        return StepResult(int(done.record_count or 0), skipped=True)
    if raw is None:
        raise RuntimeError(f"job {job_id}: no raw file; run extract first")
    cfg = job.config
    store = get_store()
    source = get_source(cfg.source_type.value)
    parsed: ParseResult = source.parse(gunzip_bytes(store.get(object_path(raw.s3_path))), cfg)

    errors: list[dict[str, Any]] = [
        # row 0: the payload's own problems (a page that failed, a malformed response), not one record's
        _error(raw.id, e.row_no, f"row:{e.row_no}" if e.row_no else None, e.original, e.error_type, e.message)
        for e in parsed.errors
    ]
    built: list[CanonicalRecord] = []
    separator = str(cfg.config_params.get("image_separator", "|"))
    mappings = cfg.mappings()
    for rec in parsed.records:
        try:
            built.append(
                build_record(
                    rec.row_no,
                    rec.values,
                    mappings,
                    country=cfg.dmo.country,
                    state=cfg.dmo.state,
                    image_separator=separator,
                    provenance=rec.provenance,
                )
            )
        except RecordError as exc:
            errors.append(
                _error(raw.id, rec.row_no, f"row:{rec.row_no}", rec.values, exc.error_type, str(exc))
            )
    merged = merge_in_file(built)
    for conflict, message in merged.conflicts:
        errors.append(
            _error(
                raw.id,
                conflict.row_nos[0],
                conflict.record_hash,
                conflict.values,
                "duplicate_source_id",
                message,
            )
        )
    categories = CategoryStats()
    synonyms = cfg.category_synonyms or None
    for canonical in merged.records:
        enrich(canonical, source_type=cfg.source_type.value, category_synonyms=synonyms, stats=categories)
        canonical.values["match_keys"] = match_keys(canonical.values)
    # Hashes describe the source's data: computed before geotagging, so that a re-run (which finds the
    # record in the bridge and does not geotag it) sees the same location hash.
    hashes = {r.record_hash: r.hashes() for r in merged.records}
    with engine.connect() as conn:
        matches = bridge.resolve(
            conn, job.dmo_id, [(r.record_hash, r.values.get("source_id")) for r in merged.records]
        )
    geotagging = geotag_records(merged.records, set(matches), job_id)
    out = [
        _transformed_record(i, r, matches.get(r.record_hash), hashes[r.record_hash])
        for i, r in enumerate(merged.records, start=1)
    ]
    validation = _validate(raw.id, out)
    # A record that failed an `error` expectation cannot become a usable listing: it is rejected here (its
    # error rows keep the record); warnings only flag. One without a location goes on: it may join a listing
    # that has one, and promotion rejects it if it would start a listing.
    rejected = validation["rejected"]
    out = [r for r in out if r["record_no"] not in rejected]
    data = dump_json_gz(out)
    key = _data_key(job, "transformed", raw.batch, "json")
    sha = _put_once(store, key.path, data, CONTENT_TYPES["json"])
    with engine.begin() as conn:
        _insert_file(
            conn,
            job,
            key,
            data,
            sha,
            record_count=len(out),
            metadata={
                "raw_file_id": raw.id,
                "matched": sum(1 for r in out if r["listing_id"] is not None),
                "flagged": sum(1 for r in out if r["flags"]),
                "categories": categories.as_dict(top=50),
                "geotagging": geotagging,
                "validation": validation["summary"],
            },
        )
        jobs.replace_errors(conn, job_id, "transform", errors)
        jobs.replace_errors(conn, job_id, "validation", validation["errors"])
        jobs.upsert_results(
            conn,
            job_id,
            records_total=parsed.total,
            records_duplicates=merged.duplicates,
            records_error=len(errors) + len(rejected),
        )
    return StepResult(len(out))


# The `error` expectation promotion enforces instead of transform: a record without a location may still
# join a listing that has one.
UNPLACED = "location_present"


def _validate(file_id: int, out: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the Great Expectations suite on the transformed records: an error row per failure, each failing
    record flagged, and the record_nos that failed at `error` severity (`rejected`), but for a missing
    location alone. An `error` row keeps the whole transformed record; a warning's, the name and the value."""
    from listings.validation import validate_transformed

    report = validate_transformed(out)
    by_no = {r["record_no"]: r for r in out}
    rejected = {
        no for no, fails in report.failures.items()
        if any(f.severity == "error" and f.expectation != UNPLACED for f in fails)
    }  # fmt: skip
    rows = []
    for record_no, failures in report.failures.items():
        record = by_no[record_no]
        for f in failures:
            record["flags"].append(f"validation:{f.expectation} ({f.severity})")
            original = (
                record
                if f.severity == "error"
                else {"name": record.get("name"), f.column: record.get(f.column)}
            )
            rows.append(
                _error(file_id, record_no, record["record_hash"], original,
                       f"validation:{f.expectation}", f"[{f.severity}] {f.message}")
            )  # fmt: skip
    summary = [
        {"expectation": e.name, "column": e.column, "severity": e.severity, "unexpected": e.unexpected_count}
        for e in report.summary
    ]
    return {"errors": rows, "rejected": rejected, "summary": summary}


def _error(
    file_id: int,
    record_no: int,
    record_id: str | None,
    original: dict[str, Any],
    error_type: str,
    message: str,
) -> dict[str, Any]:
    # The original is cleaned like records are (jsonb refuses NUL) and bounded (a 20 MB cell is not stored).
    return {
        "file_id": file_id,
        "record_no": record_no,
        "record_id": record_id,
        "original_record": json_safe(original),
        "error_type": error_type,
        "error_message": json_safe(message),
    }


# ------------------------------------------------------------------------------------------------
def stage(job_id: int) -> StepResult:
    """Bulk-load (COPY) the transformed file into `staging.*`, replacing any earlier load of this job."""
    from listings.pipeline.staging import load_staging

    engine = get_engine()
    with engine.connect() as conn:
        job = jobs.load_job(conn, job_id)
        transformed = jobs.job_file(conn, job_id, "transformed")
    if transformed is None:
        raise RuntimeError(f"job {job_id}: no transformed file; run transform first")
    if job.promoted_at is not None:
        return StepResult(int(transformed.record_count or 0), skipped=True)
    records = load_json_gz(get_store().get(object_path(transformed.s3_path)))
    with engine.begin() as conn:
        load_staging(conn, job, transformed.id, records)
    return StepResult(len(records))


def images(job_id: int) -> StepResult:
    """Fetch, validate, re-encode and store the job's images; staging gets their canonical URLs."""
    from listings.pipeline.images import run_all

    counts = run_all(job_id)
    return StepResult(sum(counts.values()), skipped=not counts)


def match(job_id: int) -> StepResult:
    """Score the staged records that found no deterministic hit against candidate listings: auto-merge,
    queue for review, or leave new. Re-running decides again from scratch."""
    from listings.matching.engine import Thresholds, match_records, reset_decisions, write_decisions
    from listings.matching.fellegi_sunter import FSModel
    from listings.matching.model_store import save_model
    from listings.pipeline.images import image_hashes

    engine = get_engine()
    with engine.connect() as conn:
        job = jobs.load_job(conn, job_id)
        transformed = jobs.job_file(conn, job_id, "transformed")
    if transformed is None:
        raise RuntimeError(f"job {job_id}: no transformed file; run transform first")
    if job.promoted_at is not None:
        return StepResult(0, skipped=True)
    records = {
        int(r["record_no"]): r for r in load_json_gz(get_store().get(object_path(transformed.s3_path)))
    }
    settings = get_settings()
    thresholds = Thresholds(
        settings.match_auto_threshold, settings.match_review_threshold, settings.match_margin
    )
    with engine.begin() as conn:
        reset_decisions(conn, job_id)
        rows = conn.execute(
            text(
                "select record_no from staging.listings where job_id = :j and listing_id is null order by record_no"
            ),
            {"j": job_id},
        )
        todo = [records[int(row.record_no)] for row in rows if int(row.record_no) in records]
        # Perceptual hashes of the images the images step stored: a matching feature.
        hashes = image_hashes(conn, job_id, (int(r["record_no"]) for r in todo))
        todo = [{**r, "image_hashes": hashes.get(int(r["record_no"]), [])} for r in todo]
    # Matching reads committed public data on its own connections, in parallel worker processes.
    outcomes = match_records(
        engine,
        todo,
        thresholds,
        workers=settings.match_workers,
        learn_min_pairs=settings.match_learn_min_pairs,
    )
    with engine.begin() as conn:
        reset_decisions(conn, job_id)
        counts = write_decisions(conn, job_id, job.dmo_id, records, outcomes)
        model = outcomes[0].model if outcomes else None
        if isinstance(model, FSModel):  # what decided this job, kept with it (explanations, audits)
            meta = model.meta
            save_model(conn, model, source="run", job_id=job_id, candidate_pairs=int(meta.get("candidate_pairs", 0)),
                       random_pairs=int(meta.get("random_pairs", 0)), metrics={"decisions": counts})  # fmt: skip
    log.info("job %s matching: %s", job_id, counts)
    return StepResult(len(todo))


def promote(job_id: int) -> StepResult:
    """Apply the job's change set to `public` with dbt, in one transaction (a re-run after commit is a no-op)."""
    from listings.pipeline.promote import promote_job
    from listings.validation.staging import require_staged_batch

    with get_engine().connect() as conn:
        job = jobs.load_job(conn, job_id)
        staged: int = conn.execute(
            text("select count(*) from staging.listing_info where job_id = :j"), {"j": job_id}
        ).scalar_one()
    if job.promoted_at is not None:
        return StepResult(int(staged), skipped=True)
    with get_engine().connect() as conn:
        transformed = jobs.job_file(conn, job_id, "transformed")
        if not staged and transformed is not None and transformed.record_count:
            # e.g. the job was reaped as stale (its staging rows dropped), then re-run from this step
            raise RuntimeError(
                f"job {job_id}: {transformed.record_count} records transformed but none staged: run it again"
                " from `stage`"
            )
        require_staged_batch(conn, job_id, job.dmo_id)  # the GX checkpoint: a failure promotes nothing
    promote_job(job_id)
    return StepResult(int(staged))


def finalize(job_id: int) -> StepResult:
    """Close the job: soft-remove what the source no longer sends (`removal` in the config), unless the
    run has too few records (the sweep is then held for review: status `partial`, the reason as summary);
    status `succeeded`, or `partial` when some records were rejected; staging keeps only this job's batch."""
    from listings.catalogue.lifecycle import finish_removal
    from listings.pipeline.staging import prune_staging

    with get_engine().begin() as conn:
        job = jobs.load_job(conn, job_id)
        _, hold = finish_removal(conn, job_id, job.dmo_id, job.config.removal)
        counts = jobs.results(conn, job_id)
        status = "partial" if counts["records_error"] or hold is not None else "succeeded"
        jobs.set_status(conn, job_id, status, error_summary=hold.summary if hold else None, finished=True)
        prune_staging(conn, job)
    return StepResult(counts["records_total"])


def error_summary(step: str, exc: object) -> str:
    """What a job's failure says on its page: the step and the error's own message. A database error
    gives the database's message, never the statement and its parameters (a batch of records)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        lines = [line for line in str(exc.orig).splitlines() if line.strip()]
        message = "database error: " + " ".join(lines[:3])
    else:
        message = str(exc) if exc is not None else "failed"
    return f"{step}: {message}"[:4000]


def fail(job_id: int, step: str, exc: object) -> None:
    """Mark the job failed in `step` because of `exc` (error_summary)."""
    with get_engine().begin() as conn:
        jobs.set_status(conn, job_id, "failed", error_summary=error_summary(step, exc), finished=True)


STEPS = ("extract", "transform", "stage", "images", "match", "promote", "finalize")
