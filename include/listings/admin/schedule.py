"""The schedule page of the admin UI: every DMO config with its schedule, its DAG (paused or not, next run),
its last job and its pools; the queued and running runs of every DMO DAG (cancel a queued one); the pools
with their slots. Pause/resume, run now and cancel go through Airflow's REST API (`airflow_api`). No
Airflow import.

Reads: the configs (`list_configs`, one row per DMO and data domain: a few hundred at most) and, per
config on the shown page, its last job through `ix_jobs_dmo_id_created_at`; the jobs behind the shown runs
through `uq_jobs_dag_id_run_id`. When Airflow's API is not configured or does not answer, the overview is
built from the database alone and `notice` says why.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from listings.admin.queries import Paging, QueryError, clamp_page, page_args
from listings.airflow_api import AirflowApi, AirflowApiError, cancel_queued
from listings.config.store import list_configs
from listings.orchestration.pools import PROMOTION_POOL, host_pool, image_pool

log = logging.getLogger(__name__)

DAG_ID = re.compile(r"dmo_(\d+)_([a-z_]+)")
RUNS_PER_PAGE = 50


@dataclass(frozen=True)
class ScheduleOverview:
    rows: list[dict[str, Any]]  # one page of configs
    paging: Paging
    runs: list[dict[str, Any]]  # one page of the queued and running runs of every DMO DAG
    runs_paging: Paging
    pools: list[dict[str, Any]]
    notice: str | None  # why Airflow's side is missing, when it is
    airflow: bool  # Airflow answered
    counts: dict[str, int] = field(default_factory=dict)


class ScheduleRefused(Exception):
    """The action was not done; the message says why."""


LAST_JOB_SQL = text(
    """
    select j.id, j.status, j.trigger, j.run_id, coalesce(j.finished_at, j.started_at, j.created_at) as at
    from pipeline.jobs j
    where j.dmo_id = :dmo_id and j.data_domain = :domain and j.status <> 'deleted'
    order by j.created_at desc, j.id desc
    limit 1
    """
)


def _config_rows(conn: Connection) -> list[dict[str, Any]]:
    rows = []
    for stored in list_configs(conn):
        cfg = stored.config
        pools = [p for p in (host_pool(cfg), image_pool(cfg) if cfg.images.enabled else None) if p]
        rows.append(
            {
                "config_id": stored.config_id,
                "dmo_id": cfg.dmo.id,
                "dmo_name": cfg.dmo.name,
                "data_domain": cfg.data_domain.value,
                "dag_id": cfg.dag_id,
                "schedule": cfg.schedule.value,
                "source_type": cfg.source_type.value,
                "active": cfg.active,
                "version": stored.version,
                "pools": [*pools, PROMOTION_POOL],
            }
        )
    return sorted(rows, key=lambda r: (r["dmo_id"], r["data_domain"]))


def _dmo_active(conn: Connection) -> dict[int, bool]:
    return {int(r.id): bool(r.active) for r in conn.execute(text("select id, active from public.dmos"))}


def schedule_overview(
    conn: Connection,
    api: AirflowApi | None,
    *,
    page: int = 1,
    per_page: int = 50,
    runs_page: int = 1,
    notice: str | None = None,
) -> ScheduleOverview:
    """The page's data. `api` None (no API configured: `notice` says so) or down: the database part only."""
    page, per_page = page_args(page, per_page)
    runs_page, _ = page_args(runs_page, RUNS_PER_PAGE)
    rows = _config_rows(conn)
    active_dmos = _dmo_active(conn)
    dags: dict[str, dict[str, Any]] = {}
    runs: list[dict[str, Any]] = []
    pools: list[dict[str, Any]] = []
    airflow = False
    if api is not None:
        try:
            dags = {d["dag_id"]: d for d in api.dags()}
            runs = api.runs(states=("queued", "running"))
            pools = api.pools()
            airflow = True
        except AirflowApiError as exc:
            notice = f"Airflow's API could not be read, so the DAG state, runs and pools are missing: {exc}"
            log.warning("schedule page: %s", exc)

    paging = clamp_page(page, per_page, len(rows))
    shown = rows[paging.offset : paging.offset + per_page]
    for row in shown:
        row["has_dag"] = row["active"] and active_dmos.get(row["dmo_id"], False)
        row["dag"] = dags.get(row["dag_id"])
        last = conn.execute(LAST_JOB_SQL, {"dmo_id": row["dmo_id"], "domain": row["data_domain"]})
        found = last.mappings().first()
        row["last_job"] = dict(found) if found else None
        row["queued"] = sum(1 for r in runs if r["dag_id"] == row["dag_id"] and r["state"] == "queued")
        row["running"] = sum(1 for r in runs if r["dag_id"] == row["dag_id"] and r["state"] == "running")

    runs_paging = clamp_page(runs_page, RUNS_PER_PAGE, len(runs))
    shown_runs = runs[runs_paging.offset : runs_paging.offset + RUNS_PER_PAGE]
    _attach_jobs(conn, shown_runs, {r["dag_id"]: r for r in rows})

    users: dict[str, list[str]] = {}
    for row in rows:
        if row["active"]:
            for p in row["pools"]:
                users.setdefault(p, []).append(f"{row['dmo_name']} ({row['dmo_id']})")
    for p in pools:
        p["used_by"] = users.get(str(p["name"]), [])
    counts = {
        "configs": len(rows),
        "queued": sum(1 for r in runs if r["state"] == "queued"),
        "running": sum(1 for r in runs if r["state"] == "running"),
        "paused": sum(1 for d in dags.values() if d["is_paused"]),
    }
    return ScheduleOverview(
        rows=shown,
        paging=paging,
        runs=shown_runs,
        runs_paging=runs_paging,
        pools=pools,
        notice=notice,
        airflow=airflow,
        counts=counts,
    )


def _attach_jobs(conn: Connection, runs: list[dict[str, Any]], configs: dict[str, dict[str, Any]]) -> None:
    """Each run's DMO and, once its snapshot_config step ran, its job (uq_jobs_dag_id_run_id)."""
    jobs: dict[tuple[str, str], dict[str, Any]] = {}
    if runs:
        found = conn.execute(
            text(
                "select j.id, j.status, j.dag_id, j.run_id from pipeline.jobs j"
                " join unnest(cast(:dags as text[]), cast(:runs as text[])) as k(dag_id, run_id)"
                " on j.dag_id = k.dag_id and j.run_id = k.run_id"
            ),
            {"dags": [r["dag_id"] for r in runs], "runs": [r["run_id"] for r in runs]},
        ).mappings()
        jobs = {(r["dag_id"], r["run_id"]): dict(r) for r in found}
    for run in runs:
        cfg = configs.get(run["dag_id"])
        run["dmo_name"] = cfg["dmo_name"] if cfg else None
        run["dmo_id"] = cfg["dmo_id"] if cfg else None
        run["job"] = jobs.get((run["dag_id"], run["run_id"]))


# ------------------------------------------------------------------------------------------------
# Actions
# ------------------------------------------------------------------------------------------------


def check_dag_id(conn: Connection, dag_id: str) -> tuple[int, str]:
    """The (dmo_id, data_domain) of a DMO DAG id; QueryError when it is not one of a stored config."""
    found = DAG_ID.fullmatch(dag_id or "")
    if not found:
        raise QueryError(f"{dag_id!r} is not a DMO DAG id (dmo_<id>_<domain>)")
    dmo_id, domain = int(found.group(1)), found.group(2)
    row = conn.execute(
        text("select 1 from pipeline.configs where dmo_id = :d and data_domain = :k"),
        {"d": dmo_id, "k": domain},
    ).first()
    if row is None:
        raise QueryError(f"There is no config for DAG {dag_id}.")
    return dmo_id, domain


def set_paused(conn: Connection, api: AirflowApi, dag_id: str, paused: bool, *, user: str) -> str:
    """Pause or resume a DMO's DAG in Airflow; the message for the user."""
    check_dag_id(conn, dag_id)
    try:
        now = api.set_paused(dag_id, paused)
    except AirflowApiError as exc:
        raise ScheduleRefused(str(exc)) from exc
    log.info("%s %s %s", user, "paused" if paused else "resumed", dag_id)
    return f"{dag_id} is {'paused' if now else 'running on its schedule'} (by {user})."


def run_now(conn: Connection, api: AirflowApi, dag_id: str, *, user: str) -> str:
    """Trigger one run of a DMO's DAG now (no conf: the config's own source); the message for the user."""
    from listings.admin.jobs import RunRefused, trigger_dag_run

    check_dag_id(conn, dag_id)
    try:
        run_id = trigger_dag_run(
            dag_id,
            {},
            api_url=api.api_url,
            user=api.user,
            password=api.password,
            note=f"run now by {user} (listings admin schedule)",
        )
        dag = api.dag(dag_id)
    except (RunRefused, AirflowApiError) as exc:
        raise ScheduleRefused(str(exc)) from exc
    log.info("%s triggered %s (run %s)", user, dag_id, run_id)
    waits = " The DAG is paused: the run waits until it is resumed." if dag and dag["is_paused"] else ""
    return f"Triggered {dag_id} (run {run_id}).{waits}"


def cancel_runs(conn: Connection, api: AirflowApi, dag_id: str, run_ids: list[str], *, user: str) -> str:
    """Cancel queued runs of a DMO's DAG (a run that started meanwhile is left alone)."""
    check_dag_id(conn, dag_id)
    if not run_ids:
        raise QueryError("Choose at least one queued run to cancel.")
    try:
        n = cancel_queued(api, dag_id, run_ids, user=user)
    except AirflowApiError as exc:
        raise ScheduleRefused(str(exc)) from exc
    left = len(set(run_ids)) - n
    extra = f"; {left} no longer queued, left alone" if left else ""
    return f"Cancelled {n} queued run{'s' if n != 1 else ''} of {dag_id}{extra}."
