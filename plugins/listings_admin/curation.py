"""Curation pages of the admin UI, registered on the app by `register(app)`; the work is done by
`listings.admin.curation` (and `listings.admin.actions` for restore / show).

Routes (under the mount prefix):
    GET  /soft-deleted                               removed or hidden listing_info, archived listings
    POST /soft-deleted/listing-info/{id}/show        show a listing_info again, back to the list
    POST /soft-deleted/listings/{id}/restore         restore an archived listing, back to the list
    POST /listing-info/{id}/fields/edit              save a listing_info's edit form (locks the changed fields)
    POST /listing-info/{id}/fields/unlock            release one lock (form field `field`)
    POST /listings/{id}/fields/edit                  save the canonical listing's form (name, location)
    POST /listings/{id}/fields/unlock
    GET  /review                                     review queue: every item type (filter), keyboard shortcuts
    POST /review/decide                              decide one or the selected items: conflicts (accept / keep)
                                                     and match items (accept / choose / new / dismiss)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from listings_admin.app import _engine, _error, _int, _is_own_path, _redirect, _url, render, templates
from listings_admin.auth import ActingUser


def _category_choices() -> list[tuple[str, str]]:
    from listings.admin.queries import category_choices

    return category_choices()


# ------------------------------------------------------------------------------------------------
# Soft-deleted
# ------------------------------------------------------------------------------------------------


def soft_deleted_page(
    request: Request,
    user: GetUserDep,
    kind: str = "info",
    dmo_id: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    from listings.admin import curation, queries

    with _engine().connect() as conn:
        result = curation.soft_deleted(
            conn, kind=kind or "info", dmo_id=_int("dmo_id", dmo_id), page=_int("page", page, default=1) or 1
        )
        dmos = queries.dmo_choices(conn)
    params = {k: v for k, v in result.filters.items() if v not in (None, "")}
    context = {
        "title": "Soft-deleted",
        "nav": "soft-deleted",
        "result": result,
        "params": params,
        "dmos": dmos,
        "max_rows": queries.MAX_ROWS,
        "here": _url(request, "/soft-deleted", params | {"page": result.paging.page}),
    }
    return render(request, user, "soft_deleted.html", context)


def _back(request: Request, next_path: str, default: str) -> str:
    return next_path if _is_own_path(request, next_path) else _url(request, default)


def soft_deleted_show(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_info_id: int,
    next: Annotated[str, Form()] = "",
) -> Response:
    from listings.admin import actions
    from listings.catalogue.edits import EditError

    back = _back(request, next, "/soft-deleted")
    try:
        result = actions.listing_info_action(listing_info_id, "show", user=acting, engine=_engine())
    except EditError as exc:
        return _redirect(request, back, "error", str(exc))
    return _redirect(request, back, "success", result.message)


def soft_deleted_restore(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_id: int,
    next: Annotated[str, Form()] = "",
) -> Response:
    from listings.admin import actions
    from listings.catalogue.edits import EditError

    back = _back(request, next, "/soft-deleted?kind=listings")
    try:
        result = actions.listing_action(listing_id, "restore", user=acting, engine=_engine())
    except EditError as exc:
        return _redirect(request, back, "error", str(exc))
    return _redirect(request, back, "success", result.message)


# ------------------------------------------------------------------------------------------------
# Manual edits (forms on the listing page)
# ------------------------------------------------------------------------------------------------


def _detail_with_form(
    request: Request, user: Any, listing_id: int, edit: dict[str, Any], message: str
) -> HTMLResponse:
    """The listing page again, the rejected form filled with what was sent and each error by its field."""
    from listings.admin import queries

    with _engine().connect() as conn:
        detail = queries.listing_detail(conn, listing_id)
    if detail is None:
        return _error(request, user, f"There is no listing {listing_id}.", 404)
    context = {"title": detail.listing["name"] or f"Listing {listing_id}", "nav": "listings", "d": detail,
               "edit": edit}  # fmt: skip
    return render(request, user, "listing.html", context, status_code=400,
                  flashes=[{"kind": "error", "message": f"Nothing was saved: {message}"}])  # fmt: skip


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _saved_message(what: str, changed: list[str]) -> str:
    if not changed:
        return f"{what}: nothing changed."
    return f"{what}: saved {', '.join(changed)} (locked against imports)."


async def edit_info(request: Request, user: GetUserDep, acting: ActingUser, listing_info_id: int) -> Response:
    from listings.admin import curation
    from listings.catalogue.edits import EditError

    form = await _form(request)
    listing_id = await run_in_threadpool(_listing_of_info, listing_info_id)
    if listing_id is None:
        return _error(request, user, f"There is no listing_info {listing_info_id}.", 404)
    try:
        changed = await run_in_threadpool(
            curation.edit_info_from_form, listing_info_id, form, user=acting, engine=_engine()
        )
    except curation.FormErrors as exc:
        edit = {"target": ["info", listing_info_id], "values": form, "errors": exc.errors}
        return await run_in_threadpool(_detail_with_form, request, user, listing_id, edit, str(exc))
    except EditError as exc:
        edit = {"target": ["info", listing_info_id], "values": form, "errors": {}}
        return await run_in_threadpool(_detail_with_form, request, user, listing_id, edit, str(exc))
    message = _saved_message(f"listing_info {listing_info_id}", changed)
    return _redirect(request, _url(request, f"/listings/{listing_id}"), "success", message)


async def edit_listing(request: Request, user: GetUserDep, acting: ActingUser, listing_id: int) -> Response:
    from listings.admin import curation
    from listings.catalogue.edits import EditError

    form = await _form(request)
    try:
        changed = await run_in_threadpool(
            curation.edit_listing_from_form, listing_id, form, user=acting, engine=_engine()
        )
    except curation.FormErrors as exc:
        edit = {"target": ["listing", listing_id], "values": form, "errors": exc.errors}
        return await run_in_threadpool(_detail_with_form, request, user, listing_id, edit, str(exc))
    except EditError as exc:
        if str(exc).startswith("no listing"):
            return _error(request, user, str(exc), 404)
        edit = {"target": ["listing", listing_id], "values": form, "errors": {}}
        return await run_in_threadpool(_detail_with_form, request, user, listing_id, edit, str(exc))
    message = _saved_message(f"Listing {listing_id}", changed)
    return _redirect(request, _url(request, f"/listings/{listing_id}"), "success", message)


def _listing_of_info(listing_info_id: int) -> int | None:
    from sqlalchemy import text

    with _engine().connect() as conn:
        found = conn.execute(
            text("select listing_id from public.listing_info where id = :i"), {"i": listing_info_id}
        ).scalar()
    return None if found is None else int(found)


def unlock_info(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_info_id: int,
    field: Annotated[str, Form()] = "",
) -> Response:
    return _unlock(request, user, acting, field, listing_info_id=listing_info_id)


def unlock_listing(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_id: int,
    field: Annotated[str, Form()] = "",
) -> Response:
    return _unlock(request, user, acting, field, listing_id=listing_id)


def _unlock(
    request: Request,
    user: Any,
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
            field=field, user=acting, engine=_engine(), listing_id=listing_id, listing_info_id=listing_info_id
        )
    except EditError as exc:
        owner_id = listing_id if listing_id is not None else _listing_of_info(listing_info_id or 0)
        if owner_id is None or str(exc).startswith("no "):
            return _error(request, user, str(exc), 404)
        return _redirect(request, _url(request, f"/listings/{owner_id}"), "error", str(exc))
    message = f"{where}: {field} unlocked (the next import may change it)."
    return _redirect(request, _url(request, f"/listings/{owner}"), "success", message)


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


def _review_context(request: Request, query: Mapping[str, str]) -> dict[str, Any]:
    from listings.admin import curation, matching, queries

    status = query.get("status") or "open"
    item_type = query.get("type") or "all"
    with _engine().connect() as conn:
        result = curation.review_queue(
            conn,
            status=None if status == "all" else status,
            item_type=None if item_type == "all" else item_type,
            dmo_id=_int("dmo_id", query.get("dmo_id")),
            page=_int("page", query.get("page"), default=1) or 1,
        )
        dmos = queries.dmo_choices(conn)
    matching.review_summaries(result.rows)
    f = result.filters
    params = {"status": f["status"] or "all", "type": f["item_type"] or "all", "dmo_id": f["dmo_id"]}
    params = {k: v for k, v in params.items() if v not in (None, "")}
    here = _url(request, "/review", params | {"page": result.paging.page})
    return {
        "title": "Review",
        "nav": "review",
        "result": result,
        "params": params,
        "dmos": dmos,
        "statuses": curation.REVIEW_STATUSES,
        "types": curation.REVIEW_TYPES,
        "match_types": matching.MATCH_ITEM_TYPES,
        "shortcuts": REVIEW_SHORTCUTS,
        "max_rows": queries.MAX_ROWS,
        "here": here,
        "item_url": lambda item_id: _url(request, f"/review/{item_id}", {"back": here}),
    }


def review_response(
    request: Request,
    user: Any,
    query: Mapping[str, str],
    *,
    status_code: int = 200,
    flashes: list[dict[str, str]] | None = None,
) -> HTMLResponse:
    """The review queue with the filters of `query` (also the page a rejected decision comes back to)."""
    context = _review_context(request, query)
    return render(request, user, "review.html", context, status_code=status_code, flashes=flashes)


def review_page(
    request: Request,
    user: GetUserDep,
    status: str = "open",
    type: str = "all",
    dmo_id: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    query = {"status": status, "type": type, "dmo_id": dmo_id or "", "page": page or ""}
    return review_response(request, user, query)


DECIDED = {  # decision -> (manual-edit conflicts, match items) in the message
    "accept": ("accepted the source's value", "accepted the top candidate"),
    "keep": ("kept the manual value", "kept"),
    "dismiss": ("kept the manual value", "dismissed"),
    "new": ("", "kept as listings of their own"),
    "choose": ("", "joined the chosen listing"),
}


async def review_decide(request: Request, user: GetUserDep, acting: ActingUser) -> Response:
    """Decide one item (`decide=<decision>:<item id>`, `choose:<item id>:<listing id>`) or the selected
    ones (`decide=<decision>` with `item_id` fields). Bad input: the page again, 400, nothing saved."""
    from listings.admin import matching
    from listings_admin.matching import back_with_error

    form = await request.form()
    decide = str(form.get("decide") or "")
    next_path = str(form.get("next") or "")
    back = _back(request, next_path, "/review")

    def refuse(message: str) -> Response:
        return back_with_error(request, user, back, message, fallback="/review")

    choice, _, rest = decide.partition(":")
    one, _, chosen = rest.partition(":")
    if choice not in matching.REVIEW_DECISIONS:
        return refuse(
            "Choose a decision: accept, new, dismiss, choose a candidate (match items), or accept the"
            " source's value / keep the manual one (manual-edit conflicts)."
        )
    raw_ids = [one] if one else [str(v) for v in form.getlist("item_id")]
    try:
        ids = [int(i) for i in raw_ids]
        listing_id = int(chosen or str(form.get("listing_id") or "").strip() or 0) or None
    except ValueError:
        return refuse("The selected items or the chosen listing are not ids (whole numbers).")
    if not ids:
        return refuse("Select at least one item first: nothing was changed.")
    if choice == "choose" and listing_id is None:
        return refuse("choose: give the id of one of the item's candidate listings.")
    result = await run_in_threadpool(
        matching.decide_review_items, _engine(), ids, choice, user=acting, listing_id=listing_id
    )
    if not result.done:
        return refuse("Not decided: " + "; ".join(result.failed.values()) + ".")
    parts = []
    conflicts = [i for i in result.done if result.kinds.get(i) == "manual_edit_conflict"]
    matches = [i for i in result.done if i not in conflicts]
    if conflicts:
        how = DECIDED[choice][0]
        parts.append(f"{len(conflicts)} conflict(s) decided ({how}): {', '.join(map(str, conflicts))}.")
    if len(matches) == 1 and not conflicts:
        parts.append(result.messages[matches[0]])
    elif matches:
        how = DECIDED[choice][1]
        parts.append(f"{len(matches)} match item(s) decided ({how}): {', '.join(map(str, matches))}.")
    if result.failed:
        parts.append("Not decided: " + "; ".join(result.failed.values()) + ".")
    return _redirect(request, back, "error" if result.failed else "success", " ".join(parts))


# ------------------------------------------------------------------------------------------------


def register(app: FastAPI) -> None:
    """Add the curation routes to the admin app (its app-wide read and write guards apply)."""
    from listings.admin.curation import INFO_FORM, LOCATION_LABELS

    templates.env.globals.update(
        category_choices=_category_choices, info_form=INFO_FORM, location_labels=LOCATION_LABELS
    )
    app.add_api_route("/soft-deleted", soft_deleted_page, methods=["GET"])
    app.add_api_route(
        "/soft-deleted/listing-info/{listing_info_id:int}/show", soft_deleted_show, methods=["POST"]
    )
    app.add_api_route(
        "/soft-deleted/listings/{listing_id:int}/restore", soft_deleted_restore, methods=["POST"]
    )
    app.add_api_route("/listing-info/{listing_info_id:int}/fields/edit", edit_info, methods=["POST"])
    app.add_api_route("/listing-info/{listing_info_id:int}/fields/unlock", unlock_info, methods=["POST"])
    app.add_api_route("/listings/{listing_id:int}/fields/edit", edit_listing, methods=["POST"])
    app.add_api_route("/listings/{listing_id:int}/fields/unlock", unlock_listing, methods=["POST"])
    app.add_api_route("/review", review_page, methods=["GET"])
    app.add_api_route("/review/decide", review_decide, methods=["POST"])
