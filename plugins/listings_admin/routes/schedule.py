"""The schedule pages of the admin UI.

Routes (under the mount prefix):
    GET  /schedule                      every DMO config: schedule, DAG paused or not, next run, last job, pools;
                                        the queued and running runs of every DMO DAG; the pools and their slots
    POST /schedule/{dag_id}/pause       pause the DMO's DAG in Airflow
    POST /schedule/{dag_id}/resume      resume it
    POST /schedule/{dag_id}/run         trigger one run now
    POST /schedule/runs/cancel          cancel queued runs (form: dag_id, run_id repeated)

The reads and actions are `listings.admin.schedule` through `listings.airflow_api`; when Airflow's
API is not configured or does not answer, the page shows the database side and says why. The POSTs need
the user, op or admin role (the app's `guard_writes`, and `ActingUser`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from listings_admin.auth import ActingUser
from listings_admin.deps import DEFAULT_PER_PAGE, Conn, Page, PerPage
from listings_admin.rendering import redirect, render, url

router = APIRouter()

API_TIMEOUT = 5.0  # seconds: the page must not hang on an Airflow that does not answer


def _api() -> tuple[Any, str | None]:
    """The Airflow client of the settings, or None and why."""
    from listings.airflow_api import AirflowApi, AirflowNotConfigured

    try:
        return AirflowApi.from_settings(timeout=API_TIMEOUT), None
    except AirflowNotConfigured as exc:
        return None, str(exc)


def _page(
    request: Request,
    user: Any,
    conn: Connection,
    *,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
    runs_page: int = 1,
    status_code: int = 200,
    flashes: list[dict[str, str]] | None = None,
) -> HTMLResponse:
    from listings.admin.schedule import schedule_overview

    api, notice = _api()
    overview = schedule_overview(conn, api, page=page, per_page=per_page, runs_page=runs_page, notice=notice)
    context = {
        "title": "Schedule",
        "nav": "schedule",
        "o": overview,
        "params": {"per_page": per_page if per_page != DEFAULT_PER_PAGE else None},
    }
    return render(request, user, "schedule.html", context, status_code=status_code, flashes=flashes)


@router.get("/schedule")
def schedule_page(
    request: Request,
    user: GetUserDep,
    conn: Conn,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
    runs_page: Page = 1,
) -> HTMLResponse:
    return _page(request, user, conn, page=page, per_page=per_page, runs_page=runs_page)


def _act(request: Request, user: Any, conn: Connection, action: Callable[[Connection, Any], str]) -> Response:
    """Run an action (a function of conn and api); flash its message and go back to the page. Bad input:
    the page again, status 400, nothing done."""
    from listings.admin.queries import QueryError
    from listings.admin.schedule import ScheduleRefused

    back = url(request, "/schedule")
    api, notice = _api()
    if api is None:
        return redirect(request, back, "error", f"{notice} Nothing was changed.")
    try:
        message = action(conn, api)
    except QueryError as exc:
        return _page(request, user, conn, status_code=400, flashes=[{"kind": "error", "message": str(exc)}])
    except ScheduleRefused as exc:
        return redirect(request, back, "error", str(exc))
    return redirect(request, back, "success", message)


@router.post("/schedule/runs/cancel")
def schedule_cancel(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    conn: Conn,
    dag_id: Annotated[str, Form()] = "",
    run_id: Annotated[list[str] | None, Form()] = None,
) -> Response:
    from listings.admin.schedule import cancel_runs

    run_ids = [r for r in (run_id or []) if r.strip()]
    return _act(request, user, conn, lambda conn, api: cancel_runs(conn, api, dag_id, run_ids, user=acting))


@router.post("/schedule/{dag_id}/pause")
def schedule_pause(
    request: Request, user: GetUserDep, acting: ActingUser, conn: Conn, dag_id: str
) -> Response:
    from listings.admin.schedule import set_paused

    return _act(request, user, conn, lambda conn, api: set_paused(conn, api, dag_id, True, user=acting))


@router.post("/schedule/{dag_id}/resume")
def schedule_resume(
    request: Request, user: GetUserDep, acting: ActingUser, conn: Conn, dag_id: str
) -> Response:
    from listings.admin.schedule import set_paused

    return _act(request, user, conn, lambda conn, api: set_paused(conn, api, dag_id, False, user=acting))


@router.post("/schedule/{dag_id}/run")
def schedule_run(request: Request, user: GetUserDep, acting: ActingUser, conn: Conn, dag_id: str) -> Response:
    from listings.admin.schedule import run_now

    return _act(request, user, conn, lambda conn, api: run_now(conn, api, dag_id, user=acting))
