"""The jobs pages of the admin UI, registered on the app by `register(app)`.

Routes (under the mount prefix):
    GET  /jobs                          every job, newest first: filters (DMO, status, dates), paging
    GET  /jobs/{id}                     one job: config snapshot, files, steps, results, record errors
    GET  /jobs/{id}/errors.csv          the job's record errors as CSV
    POST /jobs/{id}/run-again           trigger the DMO's DAG again (a failed or partial job), job params as conf
    POST /jobs/{id}/run-now             trigger the DMO's DAG now, job params as conf
    POST /jobs/{id}/rerun-from          re-run the job's DAG run from a step (form: task_id): Airflow clears
                                        that task and everything downstream
    POST /jobs/{id}/errors/ignore       ignore record errors (form: reason; one=<id>, or error_id repeated,
                                        or all_open=1 for every open one); kept, out of the error rate and CSV
    POST /jobs/{id}/errors/unignore     take "ignore" back (form: one=<id> or error_id repeated)

`GET /jobs/{id}` and `/jobs/{id}/errors.csv` take `errors=open|ignored|all` (page: all by default, ignored
ones struck through; CSV: open by default).

The queries and the trigger are `listings.admin.jobs`; reads are open to every role, the POSTs need the
user, op or admin role (the app's `guard_writes`, and `ActingUser`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, Form, Request
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
    errors: str | None = None,
) -> HTMLResponse:
    return _job_response(
        request,
        user,
        job_id,
        errors_page=_int("errors_page", errors_page, default=1) or 1,
        errors_filter=errors or "all",
    )


def _job_response(
    request: Request,
    user: Any,
    job_id: int,
    *,
    errors_page: int = 1,
    errors_filter: str = "all",
    status_code: int = 200,
    flashes: list[dict[str, str]] | None = None,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    from listings.admin import jobs

    jobs.reap_if_dead(job_id)  # a job whose process is gone shows as stale, and can be run again
    with _engine().connect() as conn:
        detail = jobs.job_detail(conn, job_id, errors_page=errors_page, errors_filter=errors_filter)
    if detail is None:
        return _error(request, user, f"There is no job {job_id}.", 404)
    failed = next((s["name"] for s in detail.steps if s["state"] == "failed"), None)
    context = {
        "title": f"Job {job_id}",
        "nav": "jobs",
        "d": detail,
        "j": detail.job,
        "rerun_statuses": jobs.RERUN_STATUSES,
        "rerun_from_statuses": jobs.RERUN_FROM_STATUSES,
        "dag_tasks": jobs.DAG_TASKS,
        "failed_task": {"images": "plan_images"}.get(failed or "", failed),
        "error_filters": jobs.ERROR_FILTERS,
        "params": {},
        "form": form or {},
    }
    if _partial(request, "errors-list"):
        return render(request, user, "_job_errors.html", context, status_code=status_code, flashes=flashes)
    return render(request, user, "job.html", context, status_code=status_code, flashes=flashes)


def job_errors_csv(request: Request, user: GetUserDep, job_id: int, errors: str | None = None) -> Response:
    from listings.admin import jobs
    from listings.admin.queries import QueryError

    errors_filter = errors or "open"
    if errors_filter not in jobs.ERROR_FILTERS:
        raise QueryError(f"errors must be one of {', '.join(jobs.ERROR_FILTERS)}; got {errors_filter!r}")
    with _engine().connect() as conn:
        if not jobs.job_exists(conn, job_id):
            return _error(request, user, f"There is no job {job_id}.", 404)

    def lines() -> Any:
        with _engine().connect() as conn:
            yield from jobs.errors_csv(conn, job_id, errors_filter=errors_filter)

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


def job_rerun_from(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    job_id: int,
    task_id: Annotated[str, Form()] = "",
) -> Response:
    from listings.admin import jobs

    if task_id not in jobs.DAG_TASKS:
        message = f"Choose the step to re-run from ({', '.join(jobs.DAG_TASKS)}); got {task_id!r}."
        return _job_response(
            request, user, job_id, status_code=400, flashes=[{"kind": "error", "message": message}]
        )
    back = _url(request, f"/jobs/{job_id}")
    try:
        with _engine().connect() as conn:
            message = jobs.rerun_from_step(conn, job_id, task_id, user=acting)
    except LookupError as exc:
        return _error(request, user, str(exc).strip("'\""), 404)
    except jobs.RunRefused as exc:
        return _redirect(request, back, "error", str(exc))
    return _redirect(request, back, "success", message)


def _errors_back(request: Request, job_id: int, errors: str, errors_page: str) -> str:
    from listings.admin import jobs

    return (
        _url(
            request,
            f"/jobs/{job_id}",
            {
                "errors": errors if errors in jobs.ERROR_FILTERS and errors != "all" else None,
                "errors_page": errors_page if errors_page.isdigit() and errors_page != "1" else None,
            },
        )
        + "#errors"
    )


def job_errors_ignore(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    job_id: int,
    reason: Annotated[str, Form()] = "",
    one: Annotated[str, Form()] = "",
    error_id: Annotated[list[str] | None, Form()] = None,
    all_open: Annotated[str, Form()] = "",
    errors: Annotated[str, Form()] = "all",
    errors_page: Annotated[str, Form()] = "1",
) -> Response:
    return _errors_action(
        request, user, acting, job_id, "ignore", reason, one, error_id, all_open == "1", errors, errors_page
    )


def job_errors_unignore(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    job_id: int,
    one: Annotated[str, Form()] = "",
    error_id: Annotated[list[str] | None, Form()] = None,
    errors: Annotated[str, Form()] = "all",
    errors_page: Annotated[str, Form()] = "1",
) -> Response:
    return _errors_action(
        request, user, acting, job_id, "unignore", "", one, error_id, False, errors, errors_page
    )


def _errors_action(
    request: Request,
    user: Any,
    acting: str,
    job_id: int,
    action: str,
    reason: str,
    one: str,
    error_ids: list[str] | None,
    every_open: bool,
    errors: str,
    errors_page: str,
) -> Response:
    from listings.admin import jobs
    from listings.admin.queries import QueryError

    ids: list[str] | None = [one] if one.strip() else [i for i in (error_ids or []) if i.strip()]
    if action == "ignore" and every_open and not one.strip():
        ids = None
    try:
        with _engine().begin() as conn:
            if action == "ignore":
                n = jobs.ignore_errors(conn, job_id, ids, user=acting, reason=reason)
            else:
                n = jobs.unignore_errors(conn, job_id, ids or [], user=acting)
    except LookupError as exc:
        return _error(request, user, str(exc).strip("'\""), 404)
    except QueryError as exc:
        page = int(errors_page) if errors_page.isdigit() and int(errors_page) > 0 else 1
        return _job_response(
            request,
            user,
            job_id,
            errors_page=page,
            errors_filter=errors if errors in jobs.ERROR_FILTERS else "all",
            status_code=400,
            form={"reason": reason, "error": str(exc), "error_ids": ids or []},
        )
    plural = "" if n == 1 else "s"
    message = (
        f"Ignored {n} record error{plural} (by {acting}): {reason.strip()}"
        if action == "ignore"
        else f"{n} record error{plural} no longer ignored (by {acting})."
    )
    return _redirect(request, _errors_back(request, job_id, errors, errors_page), "success", message)


def register(app: FastAPI) -> None:
    app.add_api_route("/jobs", jobs_page, methods=["GET"])
    app.add_api_route("/jobs/{job_id:int}", job_page, methods=["GET"])
    app.add_api_route("/jobs/{job_id:int}/errors.csv", job_errors_csv, methods=["GET"])
    app.add_api_route("/jobs/{job_id:int}/run-again", job_run_again, methods=["POST"])
    app.add_api_route("/jobs/{job_id:int}/run-now", job_run_now, methods=["POST"])
    app.add_api_route("/jobs/{job_id:int}/rerun-from", job_rerun_from, methods=["POST"])
    app.add_api_route("/jobs/{job_id:int}/errors/ignore", job_errors_ignore, methods=["POST"])
    app.add_api_route("/jobs/{job_id:int}/errors/unignore", job_errors_unignore, methods=["POST"])
