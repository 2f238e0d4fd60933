"""The listings and images pages of the admin UI.

Routes (under the mount prefix):
    GET  /                              -> /listings
    GET  /listings                      search, filters, sorting, paging (htmx swaps #results)
    GET  /listings/{id}                 one listing: canonical data, every DMO's listing_info, images, timeline
    POST /listings/{id}/archive|restore
    POST /listing-info/{id}/hide|show
    GET  /images                        image queue: per job or latest state, failures, counts
    POST /images/{id}/refetch
    GET  /images/{id}/object            stored bytes of an image (?rendition=thumb.webp)
    GET  /listing-images/{id}/object    stored bytes of a shown image (?rendition=...)

`POST /listings/{id}/{action}` and `/listing-info/{id}/{action}` take any action name (an unknown one is a
400 page): `main.create_app` includes this router after the ones with more specific routes of these paths
(merge, unmerge, fields/...).
"""

from __future__ import annotations

from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from listings_admin.auth import ActingUser
from listings_admin.deps import DEFAULT_PER_PAGE, Conn, OptionalInt, Page, PerPage, engine, store
from listings_admin.rendering import NotFound, is_own_path, is_partial, redirect, render, url

router = APIRouter()


# ------------------------------------------------------------------------------------------------
# Listings
# ------------------------------------------------------------------------------------------------


@router.get("/", include_in_schema=False)
def home(request: Request) -> RedirectResponse:
    return RedirectResponse(url(request, "/listings"), status_code=307)


@router.get("/listings")
def listings_page(
    request: Request,
    user: GetUserDep,
    conn: Conn,
    q: str | None = None,
    status: str | None = None,
    dmo_id: OptionalInt = None,
    category: str | None = None,
    city: str | None = None,
    region: str | None = None,
    source: str | None = None,
    sort: str = "name",
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> HTMLResponse:
    from listings.admin import queries

    result = queries.search_listings(
        conn,
        q=q or None,
        status=status or None,
        dmo_id=dmo_id,
        category=category or None,
        city=city or None,
        region=region or None,
        source=source or None,
        page=page,
        per_page=per_page,
        sort=sort or "name",
    )
    partial = is_partial(request, "results")
    choices = {} if partial else {"dmos": queries.dmo_choices(conn), "regions": queries.region_choices(conn)}
    context = {
        "title": "Listings",
        "nav": "listings",
        "result": result,
        "params": {k: v for k, v in result.filters.items() if v not in (None, "")} | {"sort": result.sort},
        "statuses": queries.LISTING_STATUSES,
        "sources": queries.SOURCE_TYPES,
        "max_rows": queries.MAX_ROWS,
        **choices,
    }
    if partial:
        return render(request, user, "_listings_results.html", context)
    return render(request, user, "listings.html", context | {"categories": queries.category_choices()})


@router.get("/listings/{listing_id:int}")
def listing_page(request: Request, user: GetUserDep, conn: Conn, listing_id: int) -> HTMLResponse:
    return detail_response(request, user, conn, listing_id)


def detail_response(
    request: Request,
    user: Any,
    conn: Connection,
    listing_id: int,
    *,
    status_code: int = 200,
    flashes: list[dict[str, str]] | None = None,
    edit: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The listing's page (also the page a refused change comes back to, with its status and message;
    `edit`: a rejected edit form, filled with what was sent and each error by its field)."""
    from listings.admin import queries

    detail = queries.listing_detail(conn, listing_id)
    if detail is None:
        raise NotFound(f"There is no listing {listing_id}.")
    context = {"title": detail.listing["name"] or f"Listing {listing_id}", "nav": "listings", "d": detail}
    if edit is not None:
        context["edit"] = edit
    return render(request, user, "listing.html", context, status_code=status_code, flashes=flashes)


def listing_of_info(conn: Connection, listing_info_id: int) -> int | None:
    """The listing a listing_info belongs to; None when there is no such listing_info."""
    from sqlalchemy import text

    found = conn.execute(
        text("select listing_id from public.listing_info where id = :i"), {"i": listing_info_id}
    ).scalar()
    return None if found is None else int(found)


# The actions change the catalogue in a transaction of their own (`listings.admin.actions`); a refused one
# renders the listing's page with a connection opened for it.


@router.post("/listings/{listing_id:int}/{action}")
def listing_action(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_id: int,
    action: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    from listings.admin import actions
    from listings.catalogue.edits import EditError

    try:
        result = actions.listing_action(listing_id, action, user=acting, reason=reason)
    except EditError as exc:
        with engine().connect() as conn:
            flashes = [{"kind": "error", "message": str(exc)}]
            return detail_response(request, user, conn, listing_id, status_code=400, flashes=flashes)
    return redirect(request, url(request, f"/listings/{result.listing_id}"), "success", result.message)


@router.post("/listing-info/{listing_info_id:int}/{action}")
def listing_info_action(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_info_id: int,
    action: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    from listings.admin import actions
    from listings.catalogue.edits import EditError

    try:
        result = actions.listing_info_action(listing_info_id, action, user=acting, reason=reason)
    except EditError as exc:
        with engine().connect() as conn:
            listing_id = listing_of_info(conn, listing_info_id)
            if listing_id is None:
                raise NotFound(str(exc)) from None
            flashes = [{"kind": "error", "message": str(exc)}]
            return detail_response(request, user, conn, listing_id, status_code=400, flashes=flashes)
    return redirect(request, url(request, f"/listings/{result.listing_id}"), "success", result.message)


# ------------------------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------------------------


@router.get("/images")
def images_page(
    request: Request,
    user: GetUserDep,
    conn: Conn,
    job_id: OptionalInt = None,
    dmo_id: OptionalInt = None,
    status: str | None = None,
    page: Page = 1,
) -> HTMLResponse:
    from listings.admin import queries

    result = queries.image_queue(conn, job_id=job_id, dmo_id=dmo_id, status=status or None, page=page)
    partial = is_partial(request, "results")
    choices = (
        {}
        if partial
        else {"dmos": queries.dmo_choices(conn), "jobs": queries.image_jobs(conn, dmo_id=dmo_id)}
    )
    context = {
        "title": "Images",
        "nav": "images",
        "result": result,
        "params": {k: v for k, v in result.filters.items() if v not in (None, "")},
        "statuses": queries.IMAGE_STATUSES,
        "max_rows": queries.MAX_ROWS,
        "here": url(request, "/images", result.filters | {"page": result.paging.page}),
        **choices,
    }
    if partial:
        return render(request, user, "_images_results.html", context)
    return render(request, user, "images.html", context)


@router.post("/images/{image_id:int}/refetch")
def refetch_image(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    image_id: int,
    next: Annotated[str, Form()] = "",
) -> Response:
    from listings.admin import actions

    try:
        result = actions.refetch_image(image_id, user=acting)
    except LookupError as exc:
        raise NotFound(str(exc).strip("'\"")) from None
    reason = f" ({result['reason']})" if result.get("reason") else ""
    kind = "error" if result["status"] == "failed" else "success"
    back = next if is_own_path(request, next) else url(request, "/images")
    return redirect(request, back, kind, f"Image {image_id} fetched again: {result['status']}{reason}.")


@router.get("/images/{image_id:int}/object")
def image_object(conn: Conn, image_id: int, rendition: str | None = None) -> Response:
    return _object_response(conn, image_id=image_id, rendition=rendition)


@router.get("/listing-images/{listing_image_id:int}/object")
def listing_image_object(conn: Conn, listing_image_id: int, rendition: str | None = None) -> Response:
    return _object_response(conn, listing_image_id=listing_image_id, rendition=rendition)


def _object_response(
    conn: Connection,
    *,
    image_id: int | None = None,
    listing_image_id: int | None = None,
    rendition: str | None = None,
) -> Response:
    """The stored bytes (a plain-text 404 when there are none: these are images, not pages)."""
    from listings.admin import objects, queries
    from listings.storage import ObjectNotFoundError

    stored = queries.stored_image_url(
        conn, image_id=image_id, listing_image_id=listing_image_id, rendition=rendition or None
    )
    if stored is None:
        return Response("no stored copy of this image", status_code=404, media_type="text/plain")
    try:
        data, media_type = objects.read_object(stored, store())
    except (ObjectNotFoundError, ValueError):
        return Response("the stored copy is missing", status_code=404, media_type="text/plain")
    # Object names carry their content hash: the same URL always has the same bytes.
    headers = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=media_type, headers=headers)
