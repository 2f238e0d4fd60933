"""The matching pages of the admin UI; what they read is `listings.admin.matching`.

Routes (under the mount prefix):
    GET  /bridge                        bridge viewer: record hash -> listing, certainty, method, reason;
                                        filters (DMO, listing, hash prefix or source id, method, certainty)
    GET  /bridge/conflicts              listings two records of one DMO claim; open source conflicts
    GET  /review/{id}                   one match item side by side (decided through POST /review/decide)

The matching decisions (force-match, merge, unmerge, review decisions) are `decisions.py`, which renders
these pages again (`bridge_response`, `conflicts_response`, `item_response`) when it refuses one.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from listings_admin.deps import Conn, OptionalFloat, OptionalInt, Page
from listings_admin.rendering import NotFound, is_own_path, render, url

router = APIRouter()


# ------------------------------------------------------------------------------------------------
# Bridge viewer
# ------------------------------------------------------------------------------------------------


def bridge_response(
    request: Request,
    user: Any,
    conn: Connection,
    *,
    dmo_id: int | None = None,
    listing_id: int | None = None,
    q: str | None = None,
    method: str | None = None,
    max_certainty: float | None = None,
    page: int = 1,
    status_code: int = 200,
    flashes: list[dict[str, str]] | None = None,
    form_error: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The bridge viewer with these filters (also the page a refused force-match comes back to:
    `form_error` marks the row whose input was wrong)."""
    from listings.admin import matching, queries

    result = matching.bridge_rows(
        conn,
        dmo_id=dmo_id,
        listing_id=listing_id,
        q=q or None,
        method=method or None,
        max_certainty=max_certainty,
        page=page,
    )
    params = {k: v for k, v in result.filters.items() if v not in (None, "")}
    context = {
        "title": "Matching",
        "nav": "matching",
        "result": result,
        "params": params,
        "dmos": queries.dmo_choices(conn),
        "methods": matching.BRIDGE_METHODS,
        "max_rows": queries.MAX_ROWS,
        "here": url(request, "/bridge", params | {"page": result.paging.page}),
        "form_error": form_error,
    }
    return render(request, user, "bridge.html", context, status_code=status_code, flashes=flashes)


@router.get("/bridge")
def bridge_page(
    request: Request,
    user: GetUserDep,
    conn: Conn,
    dmo_id: OptionalInt = None,
    listing_id: OptionalInt = None,
    q: str | None = None,
    method: str | None = None,
    max_certainty: OptionalFloat = None,
    page: Page = 1,
) -> HTMLResponse:
    return bridge_response(
        request,
        user,
        conn,
        dmo_id=dmo_id,
        listing_id=listing_id,
        q=q,
        method=method,
        max_certainty=max_certainty,
        page=page,
    )


def conflicts_response(
    request: Request,
    user: Any,
    conn: Connection,
    *,
    dmo_id: int | None = None,
    page: int = 1,
    status_code: int = 200,
    flashes: list[dict[str, str]] | None = None,
) -> HTMLResponse:
    """The claim conflicts (also the page a refused unmerge comes back to)."""
    from listings.admin import matching, queries

    result = matching.claim_conflicts(conn, dmo_id=dmo_id, page=page)
    params = {k: v for k, v in result.filters.items() if v not in (None, "")}
    context = {
        "title": "Claim conflicts",
        "nav": "matching",
        "result": result,
        "params": params,
        "dmos": queries.dmo_choices(conn),
        "max_rows": queries.MAX_ROWS,
        "here": url(request, "/bridge/conflicts", params | {"page": result.paging.page}),
    }
    return render(request, user, "bridge_conflicts.html", context, status_code=status_code, flashes=flashes)


@router.get("/bridge/conflicts")
def conflicts_page(
    request: Request, user: GetUserDep, conn: Conn, dmo_id: OptionalInt = None, page: Page = 1
) -> HTMLResponse:
    return conflicts_response(request, user, conn, dmo_id=dmo_id, page=page)


# ------------------------------------------------------------------------------------------------
# One review item (a match item) side by side
# ------------------------------------------------------------------------------------------------


def item_response(
    request: Request,
    user: Any,
    conn: Connection,
    item_id: int,
    *,
    back: str = "",
    status_code: int = 200,
    flashes: list[dict[str, str]] | None = None,
) -> Response:
    """The item's page (also the page a rejected decision on it comes back to, with status 400). An item
    of another type (a manual-edit conflict) redirects to the review queue of its type."""
    from listings.admin import matching
    from listings.catalogue.merge import MATCH_ITEM_TYPES

    back = back if is_own_path(request, back) else url(request, "/review")
    detail = matching.match_item_detail(conn, item_id)
    if detail is None:
        raise NotFound(f"There is no review item {item_id}.")
    following = matching.next_open_item(conn, item_id)
    if detail.item["item_type"] not in MATCH_ITEM_TYPES:
        params = {"type": detail.item["item_type"], "status": "all"}
        return RedirectResponse(url(request, "/review", params), status_code=307)
    context = {
        "title": f"Review item {item_id}",
        "nav": "review",
        "d": detail,
        "back": back,
        "after": url(request, f"/review/{following}", {"back": back}) if following else back,
        "here": url(request, f"/review/{item_id}", {"back": back}),
    }
    return render(request, user, "review_item.html", context, status_code=status_code, flashes=flashes)


@router.get("/review/{item_id:int}")
def item_page(request: Request, user: GetUserDep, conn: Conn, item_id: int, back: str = "") -> Response:
    return item_response(request, user, conn, item_id, back=back)
