"""Job liveness: a job whose process is gone does not stay `in_progress` forever.

While a step runs, `heartbeat(job_id)` keeps `pipeline.jobs.heartbeat_at` fresh (a daemon thread, every
`LISTINGS_JOB_HEARTBEAT_SECONDS`, on a connection of its own) and records the host and pid of the process.
`reap_stale_jobs` marks an `in_progress` job `stale`, with the reason in its `error_summary`, when:

- it was started by `listings run` on this host and its process is gone (or the pid now belongs to a
  process started after the job: reused);
- Airflow ran it and its DAG run is over: another run of the same DAG has started (a DMO DAG has one
  active run at a time), or Airflow's REST API (when configured) no longer lists the run as queued or
  running;
- otherwise (another host, no Airflow API): no heartbeat for `LISTINGS_JOB_STALE_AFTER_SECONDS`. A live
  process on this host, or a run Airflow still lists, is never reaped for its heartbeat's age (an Airflow
  job waiting for a pool slot between two tasks has no process beating for it).

A reaped job that was never promoted loses its staging rows (`staging.*` of that job id); a promoted one keeps
them (the next run of the DMO prunes them). A stale job can be run again. The reaper runs at the start of
every new job of the DMO (a dead run never blocks a new one), from `listings jobs reap`, and on the admin's
job page and "run again".
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from listings.settings import Settings, get_settings

log = logging.getLogger(__name__)

HOST = socket.gethostname()
PID_REUSE_TOLERANCE = timedelta(seconds=60)  # clock differences between this host and the database

# dag_id -> the run ids Airflow lists as queued or running; None when Airflow could not say.
LiveRuns = Callable[[str], "set[str] | None"]


@dataclass(frozen=True)
class Reaped:
    job_id: int
    dmo_id: int
    data_domain: str
    reason: str
    staging_rows: int  # staging.listings rows dropped (their dependents went with them)
    promoted: bool


# ------------------------------------------------------------------------------------------------
# The heartbeat
# ------------------------------------------------------------------------------------------------


def touch(conn: Connection, job_id: int) -> None:
    """Stamp the job's heartbeat with this process's host and pid."""
    conn.execute(
        text("update pipeline.jobs set heartbeat_at = now(), host = :h, pid = :p where id = :j"),
        {"h": HOST, "p": os.getpid(), "j": job_id},
    )


def _libpq_url(url: str) -> str:
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


@contextmanager
def heartbeat(job_id: int, *, interval: float | None = None) -> Iterator[None]:
    """Keep the job's heartbeat fresh while the block runs.

    The beating thread has its own autocommit psycopg connection, owned by this frame: a process forked
    meanwhile (the match step's workers) never uses or closes it."""
    import psycopg

    from listings.db.engine import database_url, get_engine

    settings = get_settings()
    every = interval if interval is not None else settings.job_heartbeat_seconds
    with get_engine().begin() as conn:
        touch(conn, job_id)
    beat_conn = psycopg.connect(
        _libpq_url(database_url(settings)),
        autocommit=True,
        connect_timeout=5,
        options="-c timezone=UTC",
    )
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                beat_conn.execute("update pipeline.jobs set heartbeat_at = now() where id = %s", (job_id,))
            except Exception as exc:  # the database may be briefly away: the next beat tries again
                log.warning("job %s: heartbeat failed: %s", job_id, exc)

    thread = threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every + 10)
        beat_conn.close()


# ------------------------------------------------------------------------------------------------
# Is a process alive?
# ------------------------------------------------------------------------------------------------


def _boot_time() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def process_started_at(pid: int) -> datetime | None:
    """When the process `pid` of this host started (UTC), from /proc; None when it cannot be told."""
    boot = _boot_time()
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    if boot is None:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        ticks = int(fields[19])  # field 22 of proc(5): starttime, in clock ticks since boot
    except (IndexError, ValueError):
        return None
    return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), UTC)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True


def _process_gone(pid: int, job_started: datetime | None) -> str | None:
    """Why the job's process `pid` (on this host) is no longer the job's, or None when it is alive."""
    if not pid_alive(pid):
        return f"its process {pid} on {HOST} is gone"
    started = process_started_at(pid)
    if started is not None and job_started is not None:
        job_at = job_started.replace(tzinfo=UTC) if job_started.tzinfo is None else job_started
        if started > job_at + PID_REUSE_TOLERANCE:
            return (
                f"its process {pid} on {HOST} is gone (pid {pid} now belongs to a process started"
                f" {started:%Y-%m-%d %H:%M:%S} UTC, after the job)"
            )
    return None


# ------------------------------------------------------------------------------------------------
# Airflow's view
# ------------------------------------------------------------------------------------------------


def airflow_live_runs(settings: Settings | None = None, *, timeout: float = 5.0) -> LiveRuns | None:
    """A lookup of the queued/running runs of a DAG through Airflow's REST API (each DAG asked once), or
    None when no API is configured. A DAG whose runs cannot be listed answers None (unknown)."""
    settings = settings or get_settings()
    if not settings.airflow_api_url:
        return None
    from listings.airflow_api import AirflowApi, AirflowApiError

    api = AirflowApi.from_settings(settings, timeout=timeout)
    known: dict[str, set[str] | None] = {}

    def live(dag_id: str) -> set[str] | None:
        if dag_id not in known:
            try:
                known[dag_id] = {str(r["run_id"]) for r in api.runs(("queued", "running"), dag_id)}
            except AirflowApiError as exc:
                log.warning("cannot list the runs of %s in Airflow: %s", dag_id, exc)
                known[dag_id] = None
        return known[dag_id]

    return live


# ------------------------------------------------------------------------------------------------
# The reaper
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewJob:
    """The job being started, whose run may tell that an older run of the same DAG is over."""

    id: int
    trigger: str
    dag_id: str
    run_id: str


def dead_reason(
    row: Any,
    *,
    stale_after: timedelta,
    fresh: timedelta | None = None,
    new_job: NewJob | None = None,
    live_runs: LiveRuns | None = None,
) -> str | None:
    """Why the in_progress job `row` is dead, or None when it may be alive. `fresh`: a heartbeat younger
    than this is a step running now (default: 3 heartbeat intervals); Airflow is not asked then."""
    if row.trigger == "cli" and row.pid is not None and row.host == HOST:
        gone = _process_gone(int(row.pid), row.started_at or row.created_at)
        return gone  # on this host the process says it all: alive is alive, whatever the heartbeat
    silent = timedelta(seconds=float(row.silent_s))
    if row.trigger == "airflow":
        if (
            new_job is not None
            and new_job.trigger == "airflow"
            and new_job.dag_id == row.dag_id
            and new_job.run_id != row.run_id
        ):
            return (
                f"its Airflow DAG run {row.run_id} is over: run {new_job.run_id} of {row.dag_id} started"
                " (one active run per DMO DAG)"
            )
        if fresh is None:
            fresh = timedelta(seconds=3 * get_settings().job_heartbeat_seconds)
        live = live_runs(row.dag_id) if live_runs is not None and silent >= fresh else None
        if live is not None:
            if row.run_id in live:
                return None
            return f"its Airflow DAG run {row.run_id} of {row.dag_id} is no longer queued or running"
    if silent > stale_after:
        return (
            f"no heartbeat for {int(silent.total_seconds())} s (last {row.last_beat:%Y-%m-%d %H:%M:%S} UTC"
            f"{f' from {row.host} pid {row.pid}' if row.host else ''}; stale after"
            f" {int(stale_after.total_seconds())} s, LISTINGS_JOB_STALE_AFTER_SECONDS)"
        )
    return None


def reap_stale_jobs(
    conn: Connection,
    *,
    older_than: timedelta | None = None,
    dmo_id: int | None = None,
    data_domain: str | None = None,
    job_ids: Sequence[int] | None = None,
    new_job: NewJob | None = None,
    live_runs: LiveRuns | None = None,
) -> list[Reaped]:
    """Mark the dead `in_progress` jobs (of one DMO / domain, or these ids, when given) `stale` with the
    reason, and drop the staging rows of those never promoted. Runs in the caller's transaction; a job row
    locked by a live transaction is skipped. `older_than`: the heartbeat timeout (default: the setting)."""
    stale_after = (
        older_than if older_than is not None else timedelta(seconds=get_settings().job_stale_after_seconds)
    )
    rows = conn.execute(
        text(
            """
            select j.id, j.dmo_id, j.data_domain, j.trigger, j.dag_id, j.run_id, j.host, j.pid,
                   j.created_at, j.started_at, j.promoted_at,
                   coalesce(j.heartbeat_at, j.started_at, j.created_at) as last_beat,
                   extract(epoch from now() - coalesce(j.heartbeat_at, j.started_at, j.created_at)) as silent_s
            from pipeline.jobs j
            where j.status = 'in_progress'
              and (cast(:dmo as integer) is null or j.dmo_id = :dmo)
              and (cast(:domain as text) is null or j.data_domain = :domain)
              and (cast(:ids as bigint[]) is null or j.id = any(cast(:ids as bigint[])))
              and (cast(:new as bigint) is null or j.id <> :new)
            order by j.id
            for update skip locked
            """
        ),
        {
            "dmo": dmo_id,
            "domain": data_domain,
            "ids": list(job_ids) if job_ids is not None else None,
            "new": new_job.id if new_job is not None else None,
        },
    ).all()
    reaped: list[Reaped] = []
    for row in rows:
        reason = dead_reason(row, stale_after=stale_after, new_job=new_job, live_runs=live_runs)
        if reason is None:
            continue
        promoted = row.promoted_at is not None
        staging_rows = 0
        if not promoted:
            # staging.listings' dependents (locations, contact, listing_info, images, hours...) cascade
            staging_rows = conn.execute(
                text("delete from staging.listings where job_id = :j"), {"j": row.id}
            ).rowcount
        summary = f"stale: {reason}" + (
            f"; {staging_rows} staging rows dropped (never promoted)"
            if not promoted
            else "; promoted before it stopped (its removal sweep and counts may be missing)"
        )
        conn.execute(
            text(
                "update pipeline.jobs set status = 'stale', finished_at = now(), error_summary = :m"
                " where id = :j and status = 'in_progress'"
            ),
            {"m": summary[:4000], "j": row.id},
        )
        log.warning("job %s (DMO %s) reaped: %s", row.id, row.dmo_id, summary)
        reaped.append(Reaped(int(row.id), int(row.dmo_id), row.data_domain, reason, staging_rows, promoted))
    return reaped
