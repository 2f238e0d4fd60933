"""The jobs pages of the admin UI.

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

from collections.abc import Iterator
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import Connection

from listings_admin.auth import ActingUser
from listings_admin.deps import DEFAULT_PER_PAGE, Conn, OptionalInt, Page, PerPage, engine
from listings_admin.rendering import NotFound, is_partial, redirect, render, url

router = APIRouter()


@router.get("/jobs")
def jobs_page(
    request: Request,
    user: GetUserDep,
    conn: Conn,
    dmo_id: OptionalInt = None,
    status: str | None = None,
    start: str | None = None,
    end: str | None = None,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> HTMLResponse:
    from listings.admin import jobs, queries
    from listings.db.tables import JOB_STATUSES

    result = jobs.list_jobs(
        conn,
        dmo_id=dmo_id,
        status=status or None,
        created_from=start or None,
        created_to=end or None,
        page=page,
        per_page=per_page,
    )
    partial = is_partial(request, "results")
    choices = {} if partial else {"dmos": queries.dmo_choices(conn)}
    f = result.filters
    params = {
        "dmo_id": f["dmo_id"],
        "status": f["status"],
        "start": f["from"].isoformat() if f["from"] else None,
        "end": f["to"].isoformat() if f["to"] else None,
        "per_page": per_page if per_page != DEFAULT_PER_PAGE else None,
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
    if partial:
        return render(request, user, "_jobs_results.html", context)
    return render(request, user, "jobs.html", context)


@router.get("/jobs/{job_id:int}")
def job_page(
    request: Request, user: GetUserDep, job_id: int, errors_page: Page = 1, errors: str | None = None
) -> HTMLResponse:
    return job_response(request, user, job_id, errors_page=errors_page, errors_filter=errors or "all")


def job_response(
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
    """The job's page (also the page a refused action on it comes back to). A job whose process is gone
    is marked stale first, in a transaction of its own, so that it shows it can be run again; then the
    page reads through a connection of its own (the refused POSTs reach here having used theirs)."""
    from listings.admin import jobs

    jobs.reap_if_dead(job_id)
    with engine().connect() as conn:
        detail = jobs.job_detail(conn, job_id, errors_page=errors_page, errors_filter=errors_filter)
    if detail is None:
        raise NotFound(f"There is no job {job_id}.")
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
    if is_partial(request, "errors-list"):
        return render(request, user, "_job_errors.html", context, status_code=status_code, flashes=flashes)
    return render(request, user, "job.html", context, status_code=status_code, flashes=flashes)


@router.get("/jobs/{job_id:int}/errors.csv")
def job_errors_csv(conn: Conn, job_id: int, errors: str | None = None) -> Response:
    from listings.admin import jobs
    from listings.admin.queries import QueryError

    errors_filter = errors or "open"
    if errors_filter not in jobs.ERROR_FILTERS:
        raise QueryError(f"errors must be one of {', '.join(jobs.ERROR_FILTERS)}; got {errors_filter!r}")
    if not jobs.job_exists(conn, job_id):
        raise NotFound(f"There is no job {job_id}.")

    def lines() -> Iterator[str]:
        # The body is read after the route returned (and its connection closed): a connection of its own.
        with engine().connect() as stream:
            yield from jobs.errors_csv(stream, job_id, errors_filter=errors_filter)

    headers = {"Content-Disposition": f'attachment; filename="job-{job_id}-errors.csv"'}
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)


def _run(request: Request, conn: Connection, acting: str, job_id: int, mode: str) -> Response:
    from listings.admin import jobs

    back = url(request, f"/jobs/{job_id}")
    try:
        done = jobs.run_job_dag(conn, job_id, mode=mode, user=acting)
    except LookupError as exc:
        raise NotFound(str(exc).strip("'\"")) from None
    except jobs.RunRefused as exc:
        return redirect(request, back, "error", str(exc))
    return redirect(request, back, "success", done.message)


@router.post("/jobs/{job_id:int}/run-again")
def job_run_again(request: Request, conn: Conn, acting: ActingUser, job_id: int) -> Response:
    return _run(request, conn, acting, job_id, "again")


@router.post("/jobs/{job_id:int}/run-now")
def job_run_now(request: Request, conn: Conn, acting: ActingUser, job_id: int) -> Response:
    return _run(request, conn, acting, job_id, "now")


@router.post("/jobs/{job_id:int}/rerun-from")
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
        return job_response(
            request, user, job_id, status_code=400, flashes=[{"kind": "error", "message": message}]
        )
    back = url(request, f"/jobs/{job_id}")
    try:
        # Not the Conn dependency: the refusal above renders the job page, which reads through its own.
        with engine().connect() as conn:
            message = jobs.rerun_from_step(conn, job_id, task_id, user=acting)
    except LookupError as exc:
        raise NotFound(str(exc).strip("'\"")) from None
    except jobs.RunRefused as exc:
        return redirect(request, back, "error", str(exc))
    return redirect(request, back, "success", message)


def _errors_back(request: Request, job_id: int, errors: str, errors_page: str) -> str:
    from listings.admin import jobs

    return (
        url(
            request,
            f"/jobs/{job_id}",
            {
                "errors": errors if errors in jobs.ERROR_FILTERS and errors != "all" else None,
                "errors_page": errors_page if errors_page.isdigit() and errors_page != "1" else None,
            },
        )
        + "#errors"
    )


@router.post("/jobs/{job_id:int}/errors/ignore")
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


@router.post("/jobs/{job_id:int}/errors/unignore")
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
        with engine().begin() as conn:  # a transaction of its own: all of the errors or none
            if action == "ignore":
                n = jobs.ignore_errors(conn, job_id, ids, user=acting, reason=reason)
            else:
                n = jobs.unignore_errors(conn, job_id, ids or [], user=acting)
    except LookupError as exc:
        raise NotFound(str(exc).strip("'\"")) from None
    except QueryError as exc:
        page = int(errors_page) if errors_page.isdigit() and int(errors_page) > 0 else 1
        return job_response(
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
    return redirect(request, _errors_back(request, job_id, errors, errors_page), "success", message)
