"""Jobs: one `pipeline.jobs` row per run, its config snapshot, status, files, errors and results."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert

from listings.config.models import DmoConfig
from listings.config.store import get_config
from listings.db import tables as t


@dataclass(frozen=True)
class Job:
    id: int
    dmo_id: int
    data_domain: str
    status: str
    created_at: datetime
    params: dict[str, Any]
    config: DmoConfig  # the snapshot this job runs with, never the live config
    config_version: int
    promoted_at: datetime | None


def start_job(
    conn: Connection,
    *,
    dmo_id: int,
    data_domain: str,
    dag_id: str,
    run_id: str,
    trigger: str,
    params: dict[str, Any] | None = None,
) -> int:
    """Create the job for (dag_id, run_id) and snapshot its config; idempotent for a retried task.
    The job records this process's host and pid and a first heartbeat; the DMO's other in_progress jobs
    whose process is gone (or whose DAG run is over) are reaped as it starts: a dead run never blocks a new
    one (listings.pipeline.liveness)."""
    from listings.pipeline.liveness import HOST, NewJob, reap_stale_jobs

    stored = get_config(conn, dmo_id, data_domain)
    alive = {"heartbeat_at": func.now(), "host": HOST, "pid": os.getpid()}
    job_id: int = conn.execute(
        insert(t.jobs)
        .values(
            dmo_id=dmo_id,
            config_id=stored.config_id,
            data_domain=data_domain,
            status="in_progress",
            trigger=trigger,
            dag_id=dag_id,
            run_id=run_id,
            params=params or {},
            started_at=func.now(),
            **alive,
        )
        .on_conflict_do_update(
            constraint="uq_jobs_dag_id_run_id",
            set_={"status": "in_progress", "error_summary": None, "finished_at": None, **alive},
        )
        .returning(t.jobs.c.id)
    ).scalar_one()
    reap_stale_jobs(
        conn, dmo_id=dmo_id, data_domain=data_domain, new_job=NewJob(job_id, trigger, dag_id, run_id)
    )
    cfg = stored.config
    conn.execute(
        insert(t.job_configs)
        .values(
            job_id=job_id,
            dmo_id=dmo_id,
            source_type=cfg.source_type.value,
            data_domain=data_domain,
            base_url=str(cfg.base_url) if cfg.base_url else None,
            field_mappings=cfg.field_mappings,
            config_params=cfg.config_params,
            config_version=stored.version,
            schedule=cfg.schedule.value,
            document=cfg.document(),
            source_updated_at=stored.updated_at,
        )
        .on_conflict_do_nothing(index_elements=[t.job_configs.c.job_id])
    )
    return int(job_id)


def load_job(conn: Connection, job_id: int) -> Job:
    row = conn.execute(
        select(t.jobs, t.job_configs.c.document, t.job_configs.c.config_version)
        .select_from(t.jobs.join(t.job_configs, t.job_configs.c.job_id == t.jobs.c.id))
        .where(t.jobs.c.id == job_id)
    ).first()
    if row is None:
        raise LookupError(f"job {job_id} does not exist (or has no config snapshot)")
    return Job(
        id=row.id,
        dmo_id=row.dmo_id,
        data_domain=row.data_domain,
        status=row.status,
        created_at=row.created_at,
        params=row.params,
        config=DmoConfig.model_validate(row.document),
        config_version=row.config_version,
        promoted_at=row.promoted_at,
    )


def set_status(
    conn: Connection, job_id: int, status: str, *, error_summary: str | None = None, finished: bool = False
) -> None:
    values: dict[str, Any] = {"status": status, "error_summary": error_summary}
    if finished:
        values["finished_at"] = func.now()
    conn.execute(t.jobs.update().where(t.jobs.c.id == job_id).values(**values))


def job_file(conn: Connection, job_id: int, stage: str) -> Any:
    """The job's file of one stage (one per stage per job for file sources), or None."""
    return conn.execute(
        select(t.job_files)
        .where(t.job_files.c.job_id == job_id, t.job_files.c.stage == stage)
        .order_by(t.job_files.c.id)
    ).first()


def next_batch(conn: Connection, dmo_id: int, stage: str, file_date: Any) -> int:
    current = conn.execute(
        select(func.max(t.job_files.c.batch)).where(
            t.job_files.c.dmo_id == dmo_id, t.job_files.c.stage == stage, t.job_files.c.file_date == file_date
        )
    ).scalar()
    return int(current or 0) + 1


def replace_errors(conn: Connection, job_id: int, stage: str, errors: Sequence[dict[str, Any]]) -> None:
    """Record a stage's per-record errors; a re-run of the stage replaces its earlier rows."""
    conn.execute(t.job_errors.delete().where(t.job_errors.c.job_id == job_id, t.job_errors.c.stage == stage))
    if errors:
        conn.execute(t.job_errors.insert(), [{"job_id": job_id, "stage": stage, **e} for e in errors])


def upsert_results(conn: Connection, job_id: int, **counts: int) -> None:
    conn.execute(
        insert(t.job_results)
        .values(job_id=job_id, **counts)
        .on_conflict_do_update(
            index_elements=[t.job_results.c.job_id], set_={**counts, "updated_at": func.now()}
        )
    )


# The counts of a job (pipeline.job_results), as `listings run` prints them, the DAG's finalize task pushes
# them (XCom) and the job page shows them. Read: records_total rows; records_duplicates merged into another
# row of the file and records_error rejected, neither promoted. Each promoted record is counted once as
# records_matched (joined a listing that existed before the job, or one the job created for an earlier
# record), records_review (a hidden listing in the review queue) or records_new (a new listing); and, as
# for this DMO's listing_info, records_updated or records_unchanged (both among the matched) or added.
RESULT_COUNTS = (
    "records_total",
    "records_matched",
    "records_review",
    "records_new",
    "records_updated",
    "records_unchanged",
    "records_duplicates",
    "records_error",
    "records_deleted",
)


def results(conn: Connection, job_id: int) -> dict[str, int]:
    row: Any = conn.execute(select(t.job_results).where(t.job_results.c.job_id == job_id)).mappings().first()
    return {k: int(row[k] or 0) if row is not None else 0 for k in RESULT_COUNTS}
