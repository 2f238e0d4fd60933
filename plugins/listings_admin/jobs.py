"""The jobs pages of the admin UI (issue 7), registered on the app by `register(app)`.

Routes (under the mount prefix):
    GET  /jobs                          every job, newest first: filters (DMO, status, dates), paging
    GET  /jobs/{id}                     one job: config snapshot, files, steps, results, record errors
    GET  /jobs/{id}/errors.csv          the job's record errors as CSV
    POST /jobs/{id}/run-again           trigger the DMO's DAG again (a failed or partial job), job params as conf
    POST /jobs/{id}/run-now             trigger the DMO's DAG now, job params as conf

The queries and the trigger are `listings.admin.jobs`; reads are open to every role, the POSTs need the
user, op or admin role (the app's `guard_writes`, and `ActingUser`).
"""

from __future__ import annotations

import json
from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from listings_admin.app import _engine, _error, _int, _partial, _redirect, _url, render, templates
from listings_admin.auth import ActingUser


def _duration(seconds: Any) -> str:
    from listings.admin.jobs import duration

    return duration(seconds)


templates.env.filters["duration"] = _duration
templates.env.filters["pretty_json"] = lambda value: json.dumps(
    value, ensure_ascii=False, indent=2, default=str
)


def jobs_page(
    request: Request,
    user: GetUserDep,
    dmo_id: str | None = None,
    status: str | None = None,
    start: str | None = None,
    end: str | None = None,
    page: str | None = None,
    per_page: str | None = None,
) -> HTMLResponse:
    from listings.admin import jobs, queries
    from listings.db.tables import JOB_STATUSES

    with _engine().connect() as conn:
        result = jobs.list_jobs(
            conn,
            dmo_id=_int("dmo_id", dmo_id),
            status=status or None,
            created_from=start or None,
            created_to=end or None,
            page=_int("page", page, default=1) or 1,
            per_page=_int("per_page", per_page, default=50) or 50,
        )
        choices = {} if _partial(request, "results") else {"dmos": queries.dmo_choices(conn)}
    f = result.filters
    params = {
        "dmo_id": f["dmo_id"],
        "status": f["status"],
        "start": f["from"].isoformat() if f["from"] else None,
        "end": f["to"].isoformat() if f["to"] else None,
        "per_page": _int("per_page", per_page),
    }
    context = {
        "title": "Jobs",
        "nav": "jobs",
        "result": result,
        "params": {k: v for k, v in params.items() if v not in (None, "")},
        "statuses": JOB_STATUSES,
        "max_rows": queries.MAX_ROWS,
        **choices,
    }
    if _partial(request, "results"):
        return render(request, user, "_jobs_results.html", context)
    return render(request, user, "jobs.html", context)


def job_page(
    request: Request,
    user: GetUserDep,
    job_id: int,
    errors_page: str | None = None,
) -> HTMLResponse:
    from listings.admin import jobs

    with _engine().connect() as conn:
        detail = jobs.job_detail(conn, job_id, errors_page=_int("errors_page", errors_page, default=1) or 1)
    if detail is None:
        return _error(request, user, f"There is no job {job_id}.", 404)
    context = {
        "title": f"Job {job_id}",
        "nav": "jobs",
        "d": detail,
        "j": detail.job,
        "rerun_statuses": jobs.RERUN_STATUSES,
        "params": {},
    }
    if _partial(request, "errors-list"):
        return render(request, user, "_job_errors.html", context)
    return render(request, user, "job.html", context)


def job_errors_csv(request: Request, user: GetUserDep, job_id: int) -> Response:
    from listings.admin import jobs

    with _engine().connect() as conn:
        if not jobs.job_exists(conn, job_id):
            return _error(request, user, f"There is no job {job_id}.", 404)

    def lines() -> Any:
        with _engine().connect() as conn:
            yield from jobs.errors_csv(conn, job_id)

    headers = {"Content-Disposition": f'attachment; filename="job-{job_id}-errors.csv"'}
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)


def job_run(request: Request, user: GetUserDep, acting: ActingUser, job_id: int, mode: str) -> Response:
    from listings.admin import jobs

    back = _url(request, f"/jobs/{job_id}")
    try:
        with _engine().connect() as conn:
            done = jobs.run_job_dag(conn, job_id, mode=mode, user=acting)
    except LookupError as exc:
        return _error(request, user, str(exc).strip("'\""), 404)
    except jobs.RunRefused as exc:
        return _redirect(request, back, "error", str(exc))
    return _redirect(request, back, "success", done.message)


def job_run_again(request: Request, user: GetUserDep, acting: ActingUser, job_id: int) -> Response:
    return job_run(request, user, acting, job_id, "again")


def job_run_now(request: Request, user: GetUserDep, acting: ActingUser, job_id: int) -> Response:
    return job_run(request, user, acting, job_id, "now")


def register(app: FastAPI) -> None:
    app.add_api_route("/jobs", jobs_page, methods=["GET"])
    app.add_api_route("/jobs/{job_id:int}", job_page, methods=["GET"])
    app.add_api_route("/jobs/{job_id:int}/errors.csv", job_errors_csv, methods=["GET"])
    app.add_api_route("/jobs/{job_id:int}/run-again", job_run_again, methods=["POST"])
    app.add_api_route("/jobs/{job_id:int}/run-now", job_run_now, methods=["POST"])
