"""Curation pages of the admin UI; the work is done by `listings.admin.curation` (and
`listings.admin.actions` for restore / show).

Routes (under the mount prefix):
    GET  /soft-deleted                               removed or hidden listing_info, archived listings
    POST /soft-deleted/listing-info/{id}/show        show a listing_info again, back to the list
    POST /soft-deleted/listings/{id}/restore         restore an archived listing, back to the list
    POST /listing-info/{id}/fields/edit              save a listing_info's edit form (locks the changed fields)
    POST /listing-info/{id}/fields/unlock            release one lock (form field `field`)
    POST /listings/{id}/fields/edit                  save the canonical listing's form (name, location)
    POST /listings/{id}/fields/unlock
    GET  /review                                     review queue: every item type (filter), keyboard shortcuts

The review queue's decisions (POST /review/decide) are `decisions.py`, which renders this queue again
(`review_response`) when it refuses one.

The POSTs change the catalogue in transactions of their own; the listing page they render again reads
through a connection opened for it.
"""

from __future__ import annotations

from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from listings_admin.auth import ActingUser
from listings_admin.deps import Conn, OptionalInt, Page, engine
from listings_admin.rendering import NotFound, is_own_path, redirect, render, url
from listings_admin.routes.listings import detail_response, listing_of_info

router = APIRouter()


def back_to(request: Request, next_path: str, default: str) -> str:
    """`next_path` when it is a path of this app, else `default` (a path of this app, without the prefix)."""
    return next_path if is_own_path(request, next_path) else url(request, default)


# ------------------------------------------------------------------------------------------------
# Soft-deleted
# ------------------------------------------------------------------------------------------------


@router.get("/soft-deleted")
def soft_deleted_page(
    request: Request,
    user: GetUserDep,
    conn: Conn,
    kind: str = "info",
    dmo_id: OptionalInt = None,
    page: Page = 1,
) -> HTMLResponse:
    from listings.admin import curation, queries

    result = curation.soft_deleted(conn, kind=kind or "info", dmo_id=dmo_id, page=page)
    params = {k: v for k, v in result.filters.items() if v not in (None, "")}
    context = {
        "title": "Soft-deleted",
        "nav": "soft-deleted",
        "result": result,
        "params": params,
        "dmos": queries.dmo_choices(conn),
        "max_rows": queries.MAX_ROWS,
        "here": url(request, "/soft-deleted", params | {"page": result.paging.page}),
    }
    return render(request, user, "soft_deleted.html", context)


@router.post("/soft-deleted/listing-info/{listing_info_id:int}/show")
def soft_deleted_show(
    request: Request, acting: ActingUser, listing_info_id: int, next: Annotated[str, Form()] = ""
) -> Response:
    from listings.admin import actions
    from listings.catalogue.edits import EditError

    back = back_to(request, next, "/soft-deleted")
    try:
        result = actions.listing_info_action(listing_info_id, "show", user=acting, engine=engine())
    except EditError as exc:
        return redirect(request, back, "error", str(exc))
    return redirect(request, back, "success", result.message)


@router.post("/soft-deleted/listings/{listing_id:int}/restore")
def soft_deleted_restore(
    request: Request, acting: ActingUser, listing_id: int, next: Annotated[str, Form()] = ""
) -> Response:
    from listings.admin import actions
    from listings.catalogue.edits import EditError

    back = back_to(request, next, "/soft-deleted?kind=listings")
    try:
        result = actions.listing_action(listing_id, "restore", user=acting, engine=engine())
    except EditError as exc:
        return redirect(request, back, "error", str(exc))
    return redirect(request, back, "success", result.message)


# ------------------------------------------------------------------------------------------------
# Manual edits (forms on the listing page)
# ------------------------------------------------------------------------------------------------


def _detail_with_form(
    request: Request, user: Any, listing_id: int, edit: dict[str, Any], message: str
) -> HTMLResponse:
    """The listing page again, the rejected form filled with what was sent and each error by its field."""
    flashes = [{"kind": "error", "message": f"Nothing was saved: {message}"}]
    with engine().connect() as conn:
        return detail_response(request, user, conn, listing_id, status_code=400, flashes=flashes, edit=edit)


def _owner_of_info(listing_info_id: int) -> int | None:
    with engine().connect() as conn:
        return listing_of_info(conn, listing_info_id)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _saved_message(what: str, changed: list[str]) -> str:
    if not changed:
        return f"{what}: nothing changed."
    return f"{what}: saved {', '.join(changed)} (locked against imports)."


@router.post("/listing-info/{listing_info_id:int}/fields/edit")
async def edit_info(request: Request, user: GetUserDep, acting: ActingUser, listing_info_id: int) -> Response:
    from listings.admin import curation
    from listings.catalogue.edits import EditError

    form = await _form(request)
    listing_id = await run_in_threadpool(_owner_of_info, listing_info_id)
    if listing_id is None:
        raise NotFound(f"There is no listing_info {listing_info_id}.")
    try:
        changed = await run_in_threadpool(
            curation.edit_info_from_form, listing_info_id, form, user=acting, engine=engine()
        )
    except curation.FormErrors as exc:
        edit = {"target": ["info", listing_info_id], "values": form, "errors": exc.errors}
        return await run_in_threadpool(_detail_with_form, request, user, listing_id, edit, str(exc))
    except EditError as exc:
        edit = {"target": ["info", listing_info_id], "values": form, "errors": {}}
        return await run_in_threadpool(_detail_with_form, request, user, listing_id, edit, str(exc))
    message = _saved_message(f"listing_info {listing_info_id}", changed)
    return redirect(request, url(request, f"/listings/{listing_id}"), "success", message)


@router.post("/listings/{listing_id:int}/fields/edit")
async def edit_listing(request: Request, user: GetUserDep, acting: ActingUser, listing_id: int) -> Response:
    from listings.admin import curation
    from listings.catalogue.edits import EditError

    form = await _form(request)
    try:
        changed = await run_in_threadpool(
            curation.edit_listing_from_form, listing_id, form, user=acting, engine=engine()
        )
    except curation.FormErrors as exc:
        edit = {"target": ["listing", listing_id], "values": form, "errors": exc.errors}
        return await run_in_threadpool(_detail_with_form, request, user, listing_id, edit, str(exc))
    except EditError as exc:
        if str(exc).startswith("no listing"):
            raise NotFound(str(exc)) from None
        edit = {"target": ["listing", listing_id], "values": form, "errors": {}}
        return await run_in_threadpool(_detail_with_form, request, user, listing_id, edit, str(exc))
    message = _saved_message(f"Listing {listing_id}", changed)
    return redirect(request, url(request, f"/listings/{listing_id}"), "success", message)


@router.post("/listing-info/{listing_info_id:int}/fields/unlock")
def unlock_info(
    request: Request, acting: ActingUser, listing_info_id: int, field: Annotated[str, Form()] = ""
) -> Response:
    return _unlock(request, acting, field, listing_info_id=listing_info_id)


@router.post("/listings/{listing_id:int}/fields/unlock")
def unlock_listing(
    request: Request, acting: ActingUser, listing_id: int, field: Annotated[str, Form()] = ""
) -> Response:
    return _unlock(request, acting, field, listing_id=listing_id)


def _unlock(
    request: Request,
    acting: str,
    field: str,
    *,
    listing_id: int | None = None,
    listing_info_id: int | None = None,
) -> Response:
    from listings.admin import curation
    from listings.catalogue.edits import EditError

    where = f"listing_info {listing_info_id}" if listing_info_id is not None else f"Listing {listing_id}"
    try:
        owner = curation.unlock_field(
            field=field, user=acting, engine=engine(), listing_id=listing_id, listing_info_id=listing_info_id
        )
    except EditError as exc:
        owner_id = listing_id if listing_id is not None else _owner_of_info(listing_info_id or 0)
        if owner_id is None or str(exc).startswith("no "):
            raise NotFound(str(exc)) from None
        return redirect(request, url(request, f"/listings/{owner_id}"), "error", str(exc))
    message = f"{where}: {field} unlocked (the next import may change it)."
    return redirect(request, url(request, f"/listings/{owner}"), "success", message)


# ------------------------------------------------------------------------------------------------
# Review queue
# ------------------------------------------------------------------------------------------------


REVIEW_SHORTCUTS = (  # key, what it does (review.html documents them; its small script binds them)
    ("j / k", "next / previous item"),
    ("x", "select the item (for the bulk buttons)"),
    ("a", "accept: the top candidate of a match item, the source's value of a manual-edit conflict"),
    ("n", "new: keep a match item's record as a listing of its own"),
    ("d", "dismiss (a manual-edit conflict: keep the manual value)"),
    ("o", "open the item side by side"),
)


def review_response(
    request: Request,
    user: Any,
    conn: Connection,
    *,
    status: str = "open",
    item_type: str = "all",
    dmo_id: int | None = None,
    page: int = 1,
    status_code: int = 200,
    flashes: list[dict[str, str]] | None = None,
) -> HTMLResponse:
    """The review queue with these filters (also the page a refused decision comes back to). `status` and
    `item_type` "all": no filter."""
    from listings.admin import curation, matching, queries
    from listings.catalogue.merge import MATCH_ITEM_TYPES

    result = curation.review_queue(
        conn,
        status=None if status == "all" else status,
        item_type=None if item_type == "all" else item_type,
        dmo_id=dmo_id,
        page=page,
    )
    dmos = queries.dmo_choices(conn)
    matching.review_summaries(result.rows)
    f = result.filters
    params = {"status": f["status"] or "all", "type": f["item_type"] or "all", "dmo_id": f["dmo_id"]}
    params = {k: v for k, v in params.items() if v not in (None, "")}
    here = url(request, "/review", params | {"page": result.paging.page})
    context = {
        "title": "Review",
        "nav": "review",
        "result": result,
        "params": params,
        "dmos": dmos,
        "statuses": curation.REVIEW_STATUSES,
        "types": curation.REVIEW_TYPES,
        "match_types": MATCH_ITEM_TYPES,
        "shortcuts": REVIEW_SHORTCUTS,
        "max_rows": queries.MAX_ROWS,
        "here": here,
        "item_url": lambda item_id: url(request, f"/review/{item_id}", {"back": here}),
    }
    return render(request, user, "review.html", context, status_code=status_code, flashes=flashes)


@router.get("/review")
def review_page(
    request: Request,
    user: GetUserDep,
    conn: Conn,
    status: str = "open",
    item_type: Annotated[str, Query(alias="type")] = "all",
    dmo_id: OptionalInt = None,
    page: Page = 1,
) -> HTMLResponse:
    return review_response(
        request, user, conn, status=status or "open", item_type=item_type or "all", dmo_id=dmo_id, page=page
    )
