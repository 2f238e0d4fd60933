"""The jobs pages of the admin UI: the dashboard (every job, filters, paging), one job in full (config
snapshot, files, per-step results, record errors), its error log as CSV, and the "run again" / "run now"
actions, which trigger the DMO's DAG through Airflow's REST API. No Airflow import: importable and
testable on its own.

Indexes (migrations as they are): `pipeline.jobs` has its primary key, `uq_jobs_dag_id_run_id` and
`ix_jobs_dmo_id_created_at`. The dashboard walks the primary key backwards (newest first) and stops after
one page; with a DMO it reads that DMO's rows through `ix_jobs_dmo_id_created_at`. Neither the status nor
a date range alone has an index: such a filter is applied while walking the primary key, and the count
behind the pager is bounded (`MAX_ROWS`). The decorations (results, error counts, image outcomes) are
read for the page's ids only, through `job_results`' key, `ix_job_errors_job_id`, `ix_image_fetches_job_id`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import yaml
from sqlalchemy import Connection, text

from listings.admin.csv_export import CsvLines
from listings.admin.queries import MAX_ROWS, Paging, QueryError, clamp_page, page_args, parse_day
from listings.airflow_api import AirflowApi, AirflowApiError
from listings.db.tables import JOB_STATUSES
from listings.pipeline.jobs import RESULT_COUNTS
from listings.pipeline.steps import STEPS
from listings.settings import Settings, get_settings

log = logging.getLogger(__name__)

RERUN_STATUSES = ("failed", "partial", "stale")  # "run again" is offered for these (stale: process gone)
ERRORS_PER_PAGE = 50
CSV_COLUMNS = (
    "error_id", "job_id", "stage", "record_no", "record_id", "error_type", "error_message", "file",
    "original_record", "created_at", "ignored_at", "ignored_by", "ignore_reason",
)  # fmt: skip
ERROR_FILTERS = ("open", "ignored", "all")  # the record errors shown: not ignored, ignored, every one
_ERROR_WHERE = {"open": " and e.ignored_at is null", "ignored": " and e.ignored_at is not null", "all": ""}
MAX_REASON = 500
# The task ids of a DMO DAG (listings.orchestration.dag_factory), in run order: "re-run from a step"
# clears the chosen one and everything downstream of it in the job's DAG run.
DAG_TASKS = (
    "snapshot_config", "extract", "transform", "stage", "plan_images", "fetch_images", "finish_images",
    "match", "promote", "finalize",
)  # fmt: skip
RERUN_FROM_STATUSES = ("failed", "partial", "succeeded", "stale")  # a finished job, or a dead one (stale)


@dataclass(frozen=True)
class JobPage:
    rows: list[dict[str, Any]]
    paging: Paging
    filters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobDetail:
    job: dict[str, Any]
    config_yaml: str | None  # the job_configs snapshot, as YAML
    config_version: int | None
    files: list[dict[str, Any]]  # raw first, then transformed
    # pipeline.job_results, None when the job wrote none; a count is None when the job did not count it
    # (records_matched / records_review of a job promoted before they were counted, migration 0013)
    results: dict[str, int | None] | None
    steps: list[dict[str, Any]]  # one per pipeline step: name, state, records, detail
    image_outcomes: dict[str, int]
    errors: list[dict[str, Any]]  # one page of pipeline.job_errors (of `errors_filter`)
    errors_paging: Paging
    errors_by_type: dict[str, int]  # every error of the job, ignored or not
    errors_filter: str = "all"
    errors_ignored: int = 0  # how many of the job's errors are ignored
    promoted: int | None = None  # the records promoted (promoted_records), None when not promoted


# ------------------------------------------------------------------------------------------------
# Dashboard
# ------------------------------------------------------------------------------------------------


def list_jobs(
    conn: Connection,
    *,
    dmo_id: int | None = None,
    status: str | None = None,
    created_from: date | str | None = None,
    created_to: date | str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> JobPage:
    """One page of jobs, newest first, matching every given filter. `created_from` / `created_to` are
    days, both included (on `created_at`)."""
    page, per_page = page_args(page, per_page)
    if status is not None and status not in JOB_STATUSES:
        raise QueryError(f"status must be one of {', '.join(JOB_STATUSES)}; got {status!r}")
    start, end = parse_day("from", created_from), parse_day("to", created_to)
    if start and end and end < start:
        raise QueryError(f"the date range ends ({end}) before it starts ({start})")
    where: list[str] = []
    params: dict[str, Any] = {}
    if dmo_id is not None:
        where.append("j.dmo_id = :dmo_id")
        params["dmo_id"] = dmo_id
    if status:
        where.append("j.status = :status")
        params["status"] = status
    if start:
        where.append("j.created_at >= :start")
        params["start"] = datetime.combine(start, datetime.min.time())
    if end:
        where.append("j.created_at < :end")
        params["end"] = datetime.combine(end + timedelta(days=1), datetime.min.time())
    base = " and ".join(where) or "true"
    # Bounded count: past MAX_ROWS the pager stops anyway.
    total = int(
        conn.execute(
            text(f"select count(*) from (select 1 from pipeline.jobs j where {base} limit :cap) as m"),
            {**params, "cap": MAX_ROWS + 1},
        ).scalar_one()
    )
    paging = clamp_page(page, per_page, total)
    # With a DMO, ordering by (created_at, id) follows ix_jobs_dmo_id_created_at; without, the primary key.
    order = "j.created_at desc, j.id desc" if dmo_id is not None else "j.id desc"
    ids = [
        int(r[0])
        for r in conn.execute(
            text(
                f"select j.id from pipeline.jobs j where {base} order by {order} limit :limit offset :offset"
            ),
            {**params, "limit": per_page, "offset": paging.offset},
        )
    ]
    filters = {"dmo_id": dmo_id, "status": status, "from": start, "to": end}
    return JobPage(rows=_job_rows(conn, ids), paging=paging, filters=filters)


JOB_ROWS_SQL = """
select j.id, j.dmo_id, d.name as dmo_name, j.data_domain, j.status, j.trigger, j.dag_id, j.run_id, j.params,
       j.created_at, j.started_at, j.finished_at, j.promoted_at, j.full_snapshot, j.error_summary,
       extract(epoch from (j.finished_at - coalesce(j.started_at, j.created_at))) as duration_s,
       r.records_total, r.records_matched, r.records_review, r.records_new, r.records_updated,
       r.records_unchanged, r.records_duplicates,
       r.records_error, r.records_deleted, (r.job_id is not null) as has_results,
       (select count(*) from pipeline.job_errors e where e.job_id = j.id) as error_count,
       coalesce((select json_object_agg(s.status, s.n) from (
           select f.status, count(*) as n from pipeline.image_fetches f where f.job_id = j.id group by 1
       ) as s), '{}') as images
from pipeline.jobs j
join public.dmos d on d.id = j.dmo_id
left join pipeline.job_results r on r.job_id = j.id
where j.id = any(:ids)
"""


def _job_rows(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    found = {r["id"]: dict(r) for r in conn.execute(text(JOB_ROWS_SQL), {"ids": ids}).mappings()}
    return [found[i] for i in ids if i in found]


def duration(seconds: float | None) -> str:
    """`1h 02m`, `3m 05s`, `4.2s`; empty for a job that has not finished."""
    if seconds is None:
        return ""
    s = float(seconds)
    if s < 60:
        return f"{s:.1f}s"
    whole = round(s)
    h, rest = divmod(whole, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {sec:02d}s"


# ------------------------------------------------------------------------------------------------
# One job
# ------------------------------------------------------------------------------------------------


def job_detail(
    conn: Connection,
    job_id: int,
    *,
    errors_page: int = 1,
    errors_per_page: int = ERRORS_PER_PAGE,
    errors_filter: str = "all",
) -> JobDetail | None:
    """One job in full; its record errors one page at a time, `errors_filter` "open" (not ignored),
    "ignored" or "all" (ignored ones are marked, `ignored_at` set)."""
    errors_page, errors_per_page = page_args(errors_page, errors_per_page)
    if errors_filter not in ERROR_FILTERS:
        raise QueryError(f"errors must be one of {', '.join(ERROR_FILTERS)}; got {errors_filter!r}")
    rows = _job_rows(conn, [job_id])
    if not rows:
        return None
    job = rows[0]
    snapshot = conn.execute(
        text("select document, config_version from pipeline.job_configs where job_id = :j"), {"j": job_id}
    ).one_or_none()
    files = [
        dict(r)
        for r in conn.execute(
            text(
                "select id, stage, s3_path, format, record_count, sha256, file_size, status, source_uri,"
                " file_date, batch, metadata, created_at from pipeline.job_files where job_id = :j"
                " order by case stage when 'raw' then 0 else 1 end, id"
            ),
            {"j": job_id},
        ).mappings()
    ]
    by_type = {
        str(r.error_type or "unknown"): int(r.n)
        for r in conn.execute(
            text(
                "select error_type, count(*) as n from pipeline.job_errors where job_id = :j"
                " group by 1 order by 2 desc, 1"
            ),
            {"j": job_id},
        )
    }
    errors_by_stage = {
        str(r.stage): int(r.n)
        for r in conn.execute(
            text("select stage, count(*) as n from pipeline.job_errors where job_id = :j group by 1"),
            {"j": job_id},
        )
    }
    ignored = int(
        conn.execute(
            text("select count(*) from pipeline.job_errors where job_id = :j and ignored_at is not null"),
            {"j": job_id},
        ).scalar_one()
    )  # ix_job_errors_job_id_ignored
    total = sum(by_type.values())
    shown_total = {"all": total, "open": total - ignored, "ignored": ignored}[errors_filter]
    paging = clamp_page(errors_page, errors_per_page, shown_total)
    errors = [
        dict(r)
        for r in conn.execute(
            text(
                "select e.id, e.stage, e.record_id, e.record_no, e.original_record, e.error_type,"
                " e.error_message, e.created_at, e.ignored_at, e.ignored_by, e.ignore_reason,"
                " f.s3_path as file from pipeline.job_errors e"
                " left join pipeline.job_files f on f.id = e.file_id where e.job_id = :j"
                + _ERROR_WHERE[errors_filter]
                + " order by e.record_no nulls last, e.id limit :limit offset :offset"
            ),
            {"j": job_id, "limit": errors_per_page, "offset": paging.offset},
        ).mappings()
    ]
    results = {k: _count(job, k) for k in RESULT_COUNTS} if job["has_results"] else None
    images = {str(k): int(v) for k, v in (job["images"] or {}).items()}
    return JobDetail(
        job=job,
        config_yaml=(
            yaml.safe_dump(snapshot.document, sort_keys=False, allow_unicode=True) if snapshot else None
        ),
        config_version=int(snapshot.config_version) if snapshot else None,
        files=files,
        results=results,
        steps=job_steps(job, files, results, images, errors_by_stage),
        image_outcomes=images,
        errors=errors,
        errors_paging=paging,
        errors_by_type=by_type,
        errors_filter=errors_filter,
        errors_ignored=ignored,
        promoted=promoted_records(job, results),
    )


# Counts a job promoted before migration 0013 has no value for (null): shown as not counted, never as 0.
UNCOUNTED_BEFORE_0013 = ("records_matched", "records_review")


def _count(job: Mapping[str, Any], key: str) -> int | None:
    if job[key] is None and key in UNCOUNTED_BEFORE_0013 and job["promoted_at"] is not None:
        return None
    return int(job[key] or 0)


def promoted_records(job: Mapping[str, Any], results: Mapping[str, int | None] | None) -> int | None:
    """The records the job promoted: matched + review + new, each record counted once by its matching
    outcome (before 0013, when records_new counted new listing_info: new + updated + unchanged); None when
    the job was not promoted."""
    if job["promoted_at"] is None or not results:
        return None
    if any(results.get(k) is None for k in UNCOUNTED_BEFORE_0013):
        return sum(int(results.get(k) or 0) for k in ("records_new", "records_updated", "records_unchanged"))
    return sum(int(results.get(k) or 0) for k in ("records_matched", "records_review", "records_new"))


def _failed_step(job: Mapping[str, Any]) -> str | None:
    """The step a failed job stopped in: its error summary starts with the step (task) name."""
    if job["status"] != "failed":
        return None
    found = re.match(r"\s*(\w+):", job.get("error_summary") or "")
    return found.group(1) if found and found.group(1) in STEPS else None


def job_steps(
    job: Mapping[str, Any],
    files: list[dict[str, Any]],
    results: Mapping[str, int | None] | None,
    images: Mapping[str, int],
    errors_by_stage: Mapping[str, int],
) -> list[dict[str, Any]]:
    """What each step did, as far as the pipeline tables tell: `done`, `failed`, `skipped`, `running`
    or `not run`, with its records and a short detail."""
    raw = next((f for f in files if f["stage"] == "raw"), None)
    transformed = next((f for f in files if f["stage"] == "transformed"), None)
    finished_ok = job["status"] in ("succeeded", "partial")
    failed_in = _failed_step(job)
    evidence: dict[str, bool] = {
        "extract": raw is not None and raw["status"] != "failed",
        "transform": transformed is not None,
        "stage": job["promoted_at"] is not None or bool(images) or finished_ok,
        "images": bool(images) or job["promoted_at"] is not None or finished_ok,
        "match": job["promoted_at"] is not None or finished_ok,
        "promote": job["promoted_at"] is not None,
        "finalize": finished_ok,
    }
    n_images = sum(images.values())
    info: dict[str, tuple[int | None, str]] = {
        "extract": (
            raw["record_count"] if raw else None,
            (raw["metadata"] or {}).get("error", "") if raw and raw["status"] == "failed" else "",
        ),
        "transform": (
            transformed["record_count"] if transformed else None,
            f"{errors_by_stage.get('transform', 0)} record errors"
            if errors_by_stage.get("transform")
            else "",
        ),
        "stage": (transformed["record_count"] if transformed else None, ""),
        "images": (
            n_images or None,
            ", ".join(f"{k} {v}" for k, v in sorted(images.items())) or "no image fetched",
        ),
        "match": (None, ""),
        "promote": (
            promoted_records(job, results),
            _promote_detail(job, results or {}, errors_by_stage.get("promote", 0))
            if job["promoted_at"]
            else "",
        ),
        "finalize": (
            (results or {}).get("records_deleted") if finished_ok else None,
            f"{job['status']}; removed {(results or {}).get('records_deleted', 0)}" if finished_ok else "",
        ),
    }
    reached = STEPS.index(failed_in) if failed_in else None
    out = []
    for i, name in enumerate(STEPS):
        if reached is not None:
            state = "done" if i < reached else "failed" if i == reached else "not run"
        elif evidence[name]:
            state = "done"
        elif name == "images" and evidence["match"]:
            state = "skipped"
        elif job["status"] in ("in_progress", "queued") and (i == 0 or evidence[STEPS[i - 1]]):
            state = "running"
        else:
            state = "not run"
        if name == "images" and state == "done" and not images:
            state = "skipped"
        records, detail = info[name]
        if state == "failed":
            detail = job.get("error_summary") or detail
        out.append({"name": name, "state": state, "records": records, "detail": detail})
    return out


def _promote_detail(job: Mapping[str, Any], results: Mapping[str, int | None], rejected: int = 0) -> str:
    """When the job was promoted and where its records went: matched / review / new (updated / unchanged),
    and the records it rejected (no location, and no listing to join)."""

    def n(key: str) -> str:
        value = results.get(key)
        return "not counted" if value is None else f"{value:,}"

    return (
        f"promoted {job['promoted_at']:%Y-%m-%d %H:%M}; matched {n('records_matched')},"
        f" review {n('records_review')}, new {n('records_new')}"
        f" (updated {n('records_updated')}, unchanged {n('records_unchanged')})"
        + (f"; rejected {rejected:,} without a location" if rejected else "")
    )


def errors_csv(
    conn: Connection, job_id: int, *, batch: int = 1000, errors_filter: str = "open"
) -> Iterator[str]:
    """The job's record errors as CSV lines (header first), the original record as JSON; read in batches
    by id (ix_job_errors_job_id). A text cell a spreadsheet would run as a formula starts with `'`. Ignored errors are left out unless asked: `errors_filter` "all" (every
    error) or "ignored" (only those)."""
    if errors_filter not in ERROR_FILTERS:
        raise QueryError(f"errors must be one of {', '.join(ERROR_FILTERS)}; got {errors_filter!r}")
    line = CsvLines().line  # formulas neutralised (listings.admin.csv_export)
    yield line(CSV_COLUMNS)
    after = 0
    while True:
        rows = conn.execute(
            text(
                "select e.id, e.job_id, e.stage, e.record_no, e.record_id, e.error_type, e.error_message,"
                " f.s3_path, e.original_record, e.created_at, e.ignored_at, e.ignored_by, e.ignore_reason"
                " from pipeline.job_errors e"
                " left join pipeline.job_files f on f.id = e.file_id"
                " where e.job_id = :j and e.id > :after"
                + _ERROR_WHERE[errors_filter]
                + " order by e.id limit :n"
            ),
            {"j": job_id, "after": after, "n": batch},
        ).all()
        for r in rows:
            record = (
                json.dumps(r.original_record, ensure_ascii=False) if r.original_record is not None else ""
            )
            yield line(
                [
                    *list(r)[:8],
                    record,
                    r.created_at.isoformat() if r.created_at else "",
                    r.ignored_at.isoformat() if r.ignored_at else "",
                    r.ignored_by or "",
                    r.ignore_reason or "",
                ]
            )
        if len(rows) < batch:
            return
        after = int(rows[-1].id)


def job_exists(conn: Connection, job_id: int) -> bool:
    return conn.execute(text("select 1 from pipeline.jobs where id = :j"), {"j": job_id}).first() is not None


# ------------------------------------------------------------------------------------------------
# Run again / run now: a DAG run through Airflow's REST API
# ------------------------------------------------------------------------------------------------


class RunRefused(Exception):
    """The run cannot be triggered; the message says why and nothing was triggered."""


@dataclass(frozen=True)
class Triggered:
    job_id: int
    dag_id: str
    dag_run_id: str
    conf: dict[str, Any]

    @property
    def message(self) -> str:
        return f"Triggered {self.dag_id} (run {self.dag_run_id}) for job {self.job_id}'s DMO."


def reap_if_dead(job_id: int, settings: Settings | None = None) -> str | None:
    """An in_progress job whose process is gone (heartbeat, pid, Airflow's run) becomes `stale` now, in a
    transaction of its own, so that it can be run again. Returns the reason, or None (alive, or not in
    progress)."""
    from listings.db.engine import get_engine
    from listings.pipeline.liveness import airflow_live_runs, reap_stale_jobs

    settings = settings or get_settings()
    with get_engine().begin() as conn:
        reaped = reap_stale_jobs(conn, job_ids=[job_id], live_runs=airflow_live_runs(settings))
    return reaped[0].reason if reaped else None


def _reaped_status(job_id: int, status: str, settings: Settings | None) -> str:
    """The job's status once a dead in_progress job is reaped (`stale`)."""
    if status != "in_progress":
        return status
    return "stale" if reap_if_dead(job_id, settings) is not None else status


def trigger_dag_run(
    dag_id: str,
    conf: Mapping[str, Any],
    *,
    api_url: str,
    user: str | None,
    password: str | None,
    note: str | None = None,
) -> str:
    """Trigger one run of a DAG now (`POST /api/v2/dags/{dag_id}/dagRuns`); returns its dag_run_id."""
    body: dict[str, Any] = {"logical_date": None, "conf": dict(conf)}
    if note:
        body["note"] = note
    try:
        res = AirflowApi(api_url, user, password).request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
    except AirflowApiError as exc:
        raise RunRefused(str(exc)) from exc
    if res.status_code == 404:
        raise RunRefused(f"Airflow has no DAG {dag_id} (is the DMO's config active and parsed?).")
    if res.status_code >= 400:
        raise RunRefused(f"Airflow refused to trigger {dag_id}: HTTP {res.status_code} {res.text[:300]}")
    return str(res.json().get("dag_run_id", ""))


def run_job_dag(
    conn: Connection, job_id: int, *, mode: str, user: str, settings: Settings | None = None
) -> Triggered:
    """Trigger the DMO's DAG for a job, with the job's params as conf. `mode` "again" is for a failed or
    partial job; "now" for any. The API URL and credentials come from the settings; without an API URL
    nothing is triggered (RunRefused says so)."""
    if mode not in ("again", "now"):
        raise RunRefused(f"unknown action {mode!r}")
    settings = settings or get_settings()
    row = conn.execute(
        text(
            "select j.id, j.dmo_id, j.data_domain, j.status, j.params, c.active from pipeline.jobs j"
            " left join pipeline.configs c on c.dmo_id = j.dmo_id and c.data_domain = j.data_domain"
            " where j.id = :j"
        ),
        {"j": job_id},
    ).one_or_none()
    if row is None:
        raise LookupError(f"There is no job {job_id}.")
    status = _reaped_status(job_id, row.status, settings) if mode == "again" else row.status
    if mode == "again" and status not in RERUN_STATUSES:
        raise RunRefused(
            f"Job {job_id} is {status}: only a failed or partial job is run again (or a stale one, whose"
            " process is gone)."
            + (" This one is still alive (heartbeat or Airflow run)." if status == "in_progress" else "")
        )
    if not settings.airflow_api_url:
        raise RunRefused(
            "No Airflow API is configured (LISTINGS_AIRFLOW_API_URL): nothing was triggered. Trigger the"
            " DMO's DAG from Airflow, or run `listings run` by hand."
        )
    if row.active is None or not row.active:
        raise RunRefused(f"DMO {row.dmo_id} has no active {row.data_domain} config, hence no DAG to trigger.")
    dag_id = f"dmo_{row.dmo_id}_{row.data_domain}"  # DmoConfig.dag_id
    conf = dict(row.params or {})
    run_id = trigger_dag_run(
        dag_id,
        conf,
        api_url=settings.airflow_api_url,
        user=settings.airflow_api_user,
        password=settings.airflow_api_password,
        note=f"run {mode} from job {job_id} by {user} (listings admin)",
    )
    return Triggered(job_id=job_id, dag_id=dag_id, dag_run_id=run_id, conf=conf)


# ------------------------------------------------------------------------------------------------
# Re-run from a step: clear that task and everything downstream in the job's DAG run
# ------------------------------------------------------------------------------------------------


def rerun_from_step(
    conn: Connection, job_id: int, task_id: str, *, user: str, settings: Settings | None = None
) -> str:
    """Re-run a finished job's DAG run from `task_id` (one of DAG_TASKS): Airflow clears that task and
    every task downstream of it in the run, and queues the run again. Only for a job that Airflow ran
    (its run_id is an Airflow run) and that is no longer running. The message for the user; RunRefused
    (nothing cleared) when it cannot be done."""
    from listings.airflow_api import AirflowApi, AirflowApiError

    if task_id not in DAG_TASKS:
        raise RunRefused(f"Choose a step among {', '.join(DAG_TASKS)}; got {task_id!r}.")
    row = conn.execute(
        text("select id, status, trigger, dag_id, run_id from pipeline.jobs where id = :j"), {"j": job_id}
    ).one_or_none()
    if row is None:
        raise LookupError(f"There is no job {job_id}.")
    if row.trigger != "airflow" or not row.dag_id or not row.run_id:
        raise RunRefused(
            f"Job {job_id} was not run by Airflow ({row.trigger}): there is no DAG run to re-run. Use"
            " “Run again” or “Run now”."
        )
    status = _reaped_status(job_id, row.status, settings)
    if status not in RERUN_FROM_STATUSES:
        raise RunRefused(f"Job {job_id} is {status}: re-run a step once the run has finished.")
    try:
        api = AirflowApi.from_settings(settings)
        cleared = api.clear_from_task(
            row.dag_id, row.run_id, task_id, note=f"re-run from {task_id} by {user} (listings admin)"
        )
    except AirflowApiError as exc:
        raise RunRefused(str(exc)) from exc
    log.info("%s re-ran %s run %s from %s (job %s)", user, row.dag_id, row.run_id, task_id, job_id)
    steps = f": {', '.join(t for t in DAG_TASKS if t in cleared)}" if cleared else ""
    return f"Re-running {row.dag_id} run {row.run_id} from {task_id}{steps}."


# ------------------------------------------------------------------------------------------------
# Ignore a record: mark record errors as ignored (kept, out of the error rate and the CSV log)
# ------------------------------------------------------------------------------------------------


def _error_ids(error_ids: Iterable[int | str] | None) -> list[int] | None:
    if error_ids is None:
        return None
    ids = []
    for value in error_ids:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise QueryError(f"error ids are whole numbers; got {value!r}") from None
    if not ids:
        raise QueryError("Choose at least one record error.")
    return sorted(set(ids))


def ignore_errors(
    conn: Connection, job_id: int, error_ids: Iterable[int | str] | None, *, user: str, reason: str
) -> int:
    """Ignore record errors of a job: those of `error_ids` (ids of another job are left alone), or every
    open one when `error_ids` is None. Records who, when and why; returns how many were ignored (an
    error already ignored keeps its first reason). QueryError (nothing saved) without a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise QueryError("Give a reason for ignoring (it is kept with the error).")
    if len(reason) > MAX_REASON:
        raise QueryError(f"The reason is at most {MAX_REASON} characters; it has {len(reason)}.")
    ids = _error_ids(error_ids)
    if not job_exists(conn, job_id):
        raise LookupError(f"There is no job {job_id}.")
    only = "" if ids is None else " and id = any(:ids)"
    done = conn.execute(
        text(
            "update pipeline.job_errors set ignored_at = now(), ignored_by = :user, ignore_reason = :reason"
            f" where job_id = :j and ignored_at is null{only}"
        ),
        {"j": job_id, "ids": ids, "user": user, "reason": reason},
    ).rowcount
    log.info("%s ignored %s record errors of job %s: %s", user, done, job_id, reason)
    return int(done)


def unignore_errors(conn: Connection, job_id: int, error_ids: Iterable[int | str], *, user: str) -> int:
    """Take back "ignore" on record errors of a job; returns how many were open again."""
    ids = _error_ids(error_ids)
    if not job_exists(conn, job_id):
        raise LookupError(f"There is no job {job_id}.")
    done = conn.execute(
        text(
            "update pipeline.job_errors set ignored_at = null, ignored_by = null, ignore_reason = null"
            " where job_id = :j and ignored_at is not null and id = any(:ids)"
        ),
        {"j": job_id, "ids": ids},
    ).rowcount
    log.info("%s un-ignored %s record errors of job %s", user, done, job_id)
    return int(done)
