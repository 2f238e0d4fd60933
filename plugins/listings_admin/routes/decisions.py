"""Matching decisions in the admin UI: review items decided, a record forced to a listing, listings merged,
a record taken out of its listing. The work is done by `listings.admin.matching`, each change in a
transaction of its own.

Routes (under the mount prefix):
    POST /review/decide                 decide one or the selected review items: manual-edit conflicts
                                        (accept / keep) and match items (accept / choose / new / dismiss)
    POST /bridge/force-match            move a listing_info to another listing (form: listing_info_id,
                                        to_listing_id, next)
    POST /listings/{id}/merge           merge a listing into another (form: into_listing_id, next)
    POST /listing-info/{id}/unmerge     take a listing_info out into a new listing of its own (form: next)

A rejected form (a bad or unknown id, a merged or archived target) renders the page it came from (`next`)
again with status 400 and the message, and saves nothing (`back_with_error`). That page is one of
`listings.py`, `curation.py` or `matching.py`; this module imports them, none of them imports it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from listings_admin.auth import ActingUser
from listings_admin.deps import engine, optional_float, optional_int, page_number
from listings_admin.rendering import NotFound, error_page, is_own_path, redirect, root, url
from listings_admin.routes.curation import back_to, review_response
from listings_admin.routes.listings import detail_response
from listings_admin.routes.matching import bridge_response, conflicts_response, item_response

router = APIRouter()

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
    saved. `form_error` marks the bridge row whose input was wrong. The page reads through a connection
    opened for it (the decision used its own)."""
    flashes = [{"kind": "error", "message": f"Nothing was changed: {message}"}]
    target = next_path if is_own_path(request, next_path) else url(request, fallback)
    parts = urlsplit(target)
    path = parts.path.removeprefix(root(request))
    query = dict(parse_qsl(parts.query))
    with engine().connect() as conn:
        if path == "/bridge":
            return bridge_response(
                request,
                user,
                conn,
                dmo_id=optional_int("dmo_id", query.get("dmo_id")),
                listing_id=optional_int("listing_id", query.get("listing_id")),
                q=query.get("q"),
                method=query.get("method"),
                max_certainty=optional_float("max_certainty", query.get("max_certainty")),
                page=page_number(query.get("page")),
                status_code=400,
                flashes=flashes,
                form_error=form_error,
            )
        if path == "/bridge/conflicts":
            dmo_id = optional_int("dmo_id", query.get("dmo_id"))
            page = page_number(query.get("page"))
            return conflicts_response(
                request, user, conn, dmo_id=dmo_id, page=page, status_code=400, flashes=flashes
            )
        if found := LISTING_PAGE.fullmatch(path):
            return detail_response(request, user, conn, int(found.group(1)), status_code=400, flashes=flashes)
        if found := ITEM_PAGE.fullmatch(path):
            back = query.get("back", "")
            return item_response(
                request, user, conn, int(found.group(1)), back=back, status_code=400, flashes=flashes
            )
        if path == "/review":
            return review_response(
                request,
                user,
                conn,
                status=query.get("status") or "open",
                item_type=query.get("type") or "all",
                dmo_id=optional_int("dmo_id", query.get("dmo_id")),
                page=page_number(query.get("page")),
                status_code=400,
                flashes=flashes,
            )
    return error_page(request, user, message, 400)


# ------------------------------------------------------------------------------------------------
# Review decisions
# ------------------------------------------------------------------------------------------------


DECIDED = {  # decision -> (manual-edit conflicts, match items) in the message
    "accept": ("accepted the source's value", "accepted the top candidate"),
    "keep": ("kept the manual value", "kept"),
    "dismiss": ("kept the manual value", "dismissed"),
    "new": ("", "kept as listings of their own"),
    "choose": ("", "joined the chosen listing"),
}


@router.post("/review/decide")
async def review_decide(request: Request, user: GetUserDep, acting: ActingUser) -> Response:
    """Decide one item (`decide=<decision>:<item id>`, `choose:<item id>:<listing id>`) or the selected
    ones (`decide=<decision>` with `item_id` fields). Bad input: the page again, 400, nothing saved."""
    from listings.catalogue import review

    form = await request.form()
    decide = str(form.get("decide") or "")
    next_path = str(form.get("next") or "")
    back = back_to(request, next_path, "/review")

    async def refuse(message: str) -> Response:
        return await run_in_threadpool(back_with_error, request, user, back, message, fallback="/review")

    choice, _, rest = decide.partition(":")
    one, _, chosen = rest.partition(":")
    if choice not in review.REVIEW_DECISIONS:
        return await refuse(
            "Choose a decision: accept, new, dismiss, choose a candidate (match items), or accept the"
            " source's value / keep the manual one (manual-edit conflicts)."
        )
    raw_ids = [one] if one else [str(v) for v in form.getlist("item_id")]
    try:
        ids = [int(i) for i in raw_ids]
        listing_id = int(chosen or str(form.get("listing_id") or "").strip() or 0) or None
    except ValueError:
        return await refuse("The selected items or the chosen listing are not ids (whole numbers).")
    if not ids:
        return await refuse("Select at least one item first: nothing was changed.")
    if choice == "choose" and listing_id is None:
        return await refuse("choose: give the id of one of the item's candidate listings.")
    result = await run_in_threadpool(
        review.decide_review_items, engine(), ids, choice, user=acting, listing_id=listing_id
    )
    if not result.done:
        return await refuse("Not decided: " + "; ".join(result.failed.values()) + ".")
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
    return redirect(request, back, "error" if result.failed else "success", " ".join(parts))


# ------------------------------------------------------------------------------------------------
# Force-match, merge, unmerge
# ------------------------------------------------------------------------------------------------


def _listing_id_field(name: str, value: str) -> int:
    value = value.strip()
    if not value:
        raise ValueError(f"{name}: give the id of a listing")
    if not value.isdigit() or len(value) > 9:
        raise ValueError(f"{name}: {value!r} is not a listing id (a whole number)")
    return int(value)


@router.post("/bridge/force-match")
def force_match(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_info_id: Annotated[str, Form()] = "",
    to_listing_id: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    from listings.catalogue import merge
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
        with engine().begin() as conn:
            result = merge.force_match(conn, info_id, target, user=acting)
    except (ValueError, EditError) as exc:
        return back_with_error(
            request, user, next, str(exc), fallback="/bridge", form_error=error | {"message": str(exc)}
        )
    back = next if is_own_path(request, next) else ""
    if not back or LISTING_PAGE.fullmatch(urlsplit(back).path.removeprefix(url(request, ""))):
        back = url(request, f"/listings/{result.listing_id}")  # from a listing's page: to where it went
    return redirect(request, back, "success", result.message)


@router.post("/listings/{listing_id:int}/merge")
def merge_listing(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_id: int,
    into_listing_id: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    from listings.catalogue import merge
    from listings.catalogue.edits import EditError

    try:
        into = _listing_id_field("into_listing_id", into_listing_id)
        with engine().begin() as conn:
            result = merge.merge_listings(conn, listing_id, into, user=acting)
    except (ValueError, EditError) as exc:
        if str(exc) == f"no listing {listing_id}":
            raise NotFound(f"There is no listing {listing_id}.") from None
        return back_with_error(request, user, next, str(exc), fallback=f"/listings/{listing_id}")
    return redirect(request, url(request, f"/listings/{result.listing_id}"), "success", result.message)


@router.post("/listing-info/{listing_info_id:int}/unmerge")
def unmerge_info(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_info_id: int,
    next: Annotated[str, Form()] = "",
) -> Response:
    from listings.catalogue import merge
    from listings.catalogue.edits import EditError

    try:
        with engine().begin() as conn:
            result = merge.unmerge(conn, listing_info_id, user=acting)
    except EditError as exc:
        if str(exc) == f"no listing_info {listing_info_id}":
            raise NotFound(f"There is no listing_info {listing_info_id}.") from None
        return back_with_error(request, user, next, str(exc), fallback="/bridge/conflicts")
    return redirect(request, url(request, f"/listings/{result.listing_id}"), "success", result.message)
