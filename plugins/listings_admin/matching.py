"""The matching pages of the admin UI, registered on the app by `register(app)`; the work is done
by `listings.admin.matching`.

Routes (under the mount prefix):
    GET  /bridge                        bridge viewer: record hash -> listing, certainty, method, reason;
                                        filters (DMO, listing, hash prefix or source id, method, certainty)
    GET  /bridge/conflicts              listings two records of one DMO claim; open source conflicts
    POST /bridge/force-match            move a listing_info to another listing (form: listing_info_id,
                                        to_listing_id, next)
    POST /listings/{id}/merge           merge a listing into another (form: into_listing_id, next)
    POST /listing-info/{id}/unmerge     take a listing_info out into a new listing of its own (form: next)
    GET  /review/{id}                   one match item side by side (decided through POST /review/decide)

A rejected form (a bad or unknown id, a merged or archived target) renders the page it came from (`next`)
again with status 400 and the message, and saves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from listings_admin.app import BadRequest, _engine, _error, _int, _is_own_path, _redirect, _url, render
from listings_admin.auth import ActingUser


def _float(name: str, value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise BadRequest(f"{name} must be a number between 0 and 1; got {value!r}") from None


# ------------------------------------------------------------------------------------------------
# Bridge viewer
# ------------------------------------------------------------------------------------------------


def _bridge_context(request: Request, query: Mapping[str, str]) -> dict[str, Any]:
    from listings.admin import matching, queries

    with _engine().connect() as conn:
        result = matching.bridge_rows(
            conn,
            dmo_id=_int("dmo_id", query.get("dmo_id")),
            listing_id=_int("listing_id", query.get("listing_id")),
            q=query.get("q") or None,
            method=query.get("method") or None,
            max_certainty=_float("max_certainty", query.get("max_certainty")),
            page=_int("page", query.get("page"), default=1) or 1,
        )
        dmos = queries.dmo_choices(conn)
    params = {k: v for k, v in result.filters.items() if v not in (None, "")}
    return {
        "title": "Matching",
        "nav": "matching",
        "result": result,
        "params": params,
        "dmos": dmos,
        "methods": matching.BRIDGE_METHODS,
        "max_rows": queries.MAX_ROWS,
        "here": _url(request, "/bridge", params | {"page": result.paging.page}),
        "form_error": None,
    }


def bridge_page(
    request: Request,
    user: GetUserDep,
    dmo_id: str | None = None,
    listing_id: str | None = None,
    q: str | None = None,
    method: str | None = None,
    max_certainty: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    query = {"dmo_id": dmo_id, "listing_id": listing_id, "q": q, "method": method,
             "max_certainty": max_certainty, "page": page}  # fmt: skip
    context = _bridge_context(request, {k: v for k, v in query.items() if v is not None})
    return render(request, user, "bridge.html", context)


def _conflicts_context(request: Request, query: Mapping[str, str]) -> dict[str, Any]:
    from listings.admin import matching, queries

    with _engine().connect() as conn:
        result = matching.claim_conflicts(
            conn,
            dmo_id=_int("dmo_id", query.get("dmo_id")),
            page=_int("page", query.get("page"), default=1) or 1,
        )
        dmos = queries.dmo_choices(conn)
    params = {k: v for k, v in result.filters.items() if v not in (None, "")}
    return {
        "title": "Claim conflicts",
        "nav": "matching",
        "result": result,
        "params": params,
        "dmos": dmos,
        "max_rows": queries.MAX_ROWS,
        "here": _url(request, "/bridge/conflicts", params | {"page": result.paging.page}),
    }


def conflicts_page(
    request: Request, user: GetUserDep, dmo_id: str | None = None, page: str | None = None
) -> HTMLResponse:
    query = {k: v for k, v in {"dmo_id": dmo_id, "page": page}.items() if v is not None}
    return render(request, user, "bridge_conflicts.html", _conflicts_context(request, query))


# ------------------------------------------------------------------------------------------------
# One review item (a match item) side by side
# ------------------------------------------------------------------------------------------------


def _item_context(request: Request, item_id: int, back: str) -> dict[str, Any] | None:
    from listings.admin import matching

    with _engine().connect() as conn:
        detail = matching.match_item_detail(conn, item_id)
        following = matching.next_open_item(conn, item_id) if detail is not None else None
    if detail is None:
        return None
    after = _url(request, f"/review/{following}", {"back": back}) if following else back
    return {
        "title": f"Review item {item_id}",
        "nav": "review",
        "d": detail,
        "back": back,
        "after": after,
        "here": _url(request, f"/review/{item_id}", {"back": back}),
    }


def item_response(
    request: Request,
    user: Any,
    item_id: int,
    *,
    back: str = "",
    status_code: int = 200,
    flashes: list[dict[str, str]] | None = None,
) -> Response:
    """The item's page (also the page a rejected decision on it comes back to, with status 400)."""
    back = back if _is_own_path(request, back) else _url(request, "/review")
    context = _item_context(request, item_id, back)
    if context is None:
        return _error(request, user, f"There is no review item {item_id}.", 404)
    if context["d"]["item"]["item_type"] not in _match_types():
        params = {"type": context["d"]["item"]["item_type"], "status": "all"}
        return RedirectResponse(_url(request, "/review", params), status_code=307)
    return render(request, user, "review_item.html", context, status_code=status_code, flashes=flashes)


def _match_types() -> tuple[str, ...]:
    from listings.admin.matching import MATCH_ITEM_TYPES

    return MATCH_ITEM_TYPES


def item_page(request: Request, user: GetUserDep, item_id: int, back: str = "") -> Response:
    return item_response(request, user, item_id, back=back)


# ------------------------------------------------------------------------------------------------
# Actions
# ------------------------------------------------------------------------------------------------

LISTING_PAGE = re.compile(r"/listings/(\d+)")
ITEM_PAGE = re.compile(r"/review/(\d+)")


def back_with_error(
    request: Request,
    user: Any,
    next_path: str,
    message: str,
    *,
    fallback: str,
    form_error: dict[str, Any] | None = None,
) -> Response:
    """The page a rejected form came from (`next`), again, with status 400 and the message; nothing was
    saved. `form_error` marks the bridge row whose input was wrong."""
    flashes = [{"kind": "error", "message": f"Nothing was changed: {message}"}]
    target = next_path if _is_own_path(request, next_path) else _url(request, fallback)
    parts = urlsplit(target)
    path = parts.path.removeprefix(str(request.scope.get("root_path", "")).rstrip("/"))
    query = dict(parse_qsl(parts.query))
    if path == "/bridge":
        context = _bridge_context(request, query) | {"form_error": form_error}
        return render(request, user, "bridge.html", context, status_code=400, flashes=flashes)
    if path == "/bridge/conflicts":
        context = _conflicts_context(request, query)
        return render(request, user, "bridge_conflicts.html", context, status_code=400, flashes=flashes)
    if found := LISTING_PAGE.fullmatch(path):
        from listings_admin.app import _detail_response

        return _detail_response(request, user, int(found.group(1)), status_code=400, flashes=flashes)
    if found := ITEM_PAGE.fullmatch(path):
        return item_response(
            request, user, int(found.group(1)), back=query.get("back", ""), status_code=400, flashes=flashes
        )
    if path == "/review":
        from listings_admin.curation import review_response

        return review_response(request, user, query, status_code=400, flashes=flashes)
    return _error(request, user, message, 400)


def _listing_id_field(name: str, value: str) -> int:
    value = value.strip()
    if not value:
        raise ValueError(f"{name}: give the id of a listing")
    if not value.isdigit() or len(value) > 9:
        raise ValueError(f"{name}: {value!r} is not a listing id (a whole number)")
    return int(value)


def force_match(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_info_id: Annotated[str, Form()] = "",
    to_listing_id: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    from listings.admin import matching
    from listings.catalogue.edits import EditError

    error = {"listing_info_id": listing_info_id.strip(), "to_listing_id": to_listing_id}
    try:
        info_id = int(listing_info_id.strip())
    except ValueError:
        message = f"listing_info_id: {listing_info_id!r} is not a listing_info id"
        return back_with_error(
            request, user, next, message, fallback="/bridge", form_error=error | {"message": message}
        )
    try:
        target = _listing_id_field("to_listing_id", to_listing_id)
        with _engine().begin() as conn:
            result = matching.force_match(conn, info_id, target, user=acting)
    except (ValueError, EditError) as exc:
        return back_with_error(
            request, user, next, str(exc), fallback="/bridge", form_error=error | {"message": str(exc)}
        )
    back = next if _is_own_path(request, next) else ""
    if not back or LISTING_PAGE.fullmatch(urlsplit(back).path.removeprefix(_url(request, ""))):
        back = _url(request, f"/listings/{result.listing_id}")  # from a listing's page: to where it went
    return _redirect(request, back, "success", result.message)


def merge_listing(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_id: int,
    into_listing_id: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    from listings.admin import matching
    from listings.catalogue.edits import EditError

    try:
        into = _listing_id_field("into_listing_id", into_listing_id)
        with _engine().begin() as conn:
            result = matching.merge_listings(conn, listing_id, into, user=acting)
    except (ValueError, EditError) as exc:
        if str(exc) == f"no listing {listing_id}":
            return _error(request, user, f"There is no listing {listing_id}.", 404)
        return back_with_error(request, user, next, str(exc), fallback=f"/listings/{listing_id}")
    return _redirect(request, _url(request, f"/listings/{result.listing_id}"), "success", result.message)


def unmerge_info(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_info_id: int,
    next: Annotated[str, Form()] = "",
) -> Response:
    from listings.admin import matching
    from listings.catalogue.edits import EditError

    try:
        with _engine().begin() as conn:
            result = matching.unmerge(conn, listing_info_id, user=acting)
    except EditError as exc:
        if str(exc) == f"no listing_info {listing_info_id}":
            return _error(request, user, f"There is no listing_info {listing_info_id}.", 404)
        return back_with_error(request, user, next, str(exc), fallback="/bridge/conflicts")
    return _redirect(request, _url(request, f"/listings/{result.listing_id}"), "success", result.message)


# ------------------------------------------------------------------------------------------------


def _first(app: FastAPI, path: str, endpoint: Any, methods: list[str]) -> None:
    """Add a route ahead of the app's own: POST /listings/{id}/{action} and /listing-info/{id}/{action}
    (archive, hide...) would otherwise take /merge and /unmerge."""
    app.add_api_route(path, endpoint, methods=methods)
    routes: list[BaseRoute] = app.router.routes
    routes.insert(0, routes.pop())


def register(app: FastAPI) -> None:
    """Add this module's routes to the admin app (its app-wide read and write guards apply)."""
    app.add_api_route("/bridge", bridge_page, methods=["GET"])
    app.add_api_route("/bridge/conflicts", conflicts_page, methods=["GET"])
    app.add_api_route("/bridge/force-match", force_match, methods=["POST"])
    app.add_api_route("/review/{item_id:int}", item_page, methods=["GET"])
    _first(app, "/listings/{listing_id:int}/merge", merge_listing, ["POST"])
    _first(app, "/listing-info/{listing_info_id:int}/unmerge", unmerge_info, ["POST"])
