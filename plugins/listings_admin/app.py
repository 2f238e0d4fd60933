"""The admin UI: a FastAPI app that Airflow's API server mounts at /listings-admin (see
`listings_admin_plugin.py`). Server-rendered Jinja2 pages, htmx for the parts that change in place; every
read is a function of `listings.admin.queries`, every action one of `listings.admin.actions`.

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
    GET  /static/...                    CSS, admin.js (the pages' scripts) and the vendored htmx

Every response carries SECURITY_HEADERS (Content-Security-Policy with frame-ancestors 'self', nosniff,
Referrer-Policy same-origin); every change is checked by `auth.guard_writes` (role and origin).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, overload
from urllib.parse import urlencode

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from listings.fields import FIELDS
from listings_admin.auth import ActingUser, ActionRefused, guard_writes, may_act, read_access, user_role

HERE = Path(__file__).parent
FLASH_COOKIE = "listings_admin_flash"
templates = Jinja2Templates(directory=HERE / "templates")
# (column, label) of the social profiles a listing_info shows, from the field registry
templates.env.globals["social_links"] = [(f.column, f.label) for f in FIELDS if f.social]


# ------------------------------------------------------------------------------------------------
# Rendering helpers
# ------------------------------------------------------------------------------------------------


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _url(request: Request, path: str, params: Mapping[str, Any] | None = None) -> str:
    """A path of this app (behind whatever prefix mounted it), with the non-empty params."""
    query = urlencode({k: v for k, v in (params or {}).items() if v not in (None, "")})
    return f"{_root(request)}{path}" + (f"?{query}" if query else "")


def _when(value: Any) -> str:
    return (
        value.strftime("%Y-%m-%d %H:%M")
        if isinstance(value, datetime)
        else ("" if value is None else str(value))
    )


def _filesize(value: Any) -> str:
    from listings.admin.charts import fmt_bytes

    return "" if value is None else fmt_bytes(float(value))


def _http_url(value: Any) -> str | None:
    """The URL when it is an absolute http(s) one, else None: templates link nothing else (javascript:,
    data:, file: URLs from older imports or typed by hand are shown as text)."""
    from listings.transform.normalize import http_url

    return http_url(value) if isinstance(value, str) else None


templates.env.filters["when"] = _when
templates.env.filters["http_url"] = _http_url
templates.env.filters["filesize"] = _filesize
templates.env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)
templates.env.filters["combine"] = lambda params, **changes: {**params, **changes}


def _read_flash(request: Request) -> list[dict[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        kind, message = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError, binascii.Error):
        return []
    return [{"kind": str(kind), "message": str(message)}]


def _set_flash(request: Request, response: Response, kind: str, message: str) -> None:
    value = base64.urlsafe_b64encode(json.dumps([kind, message]).encode()).decode()
    response.set_cookie(
        FLASH_COOKIE, value, max_age=120, path=_root(request) or "/", httponly=True, samesite="lax"
    )


def render(
    request: Request,
    user: Any,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    flashes: list[dict[str, str]] | None = None,
) -> HTMLResponse:
    shown = [*_read_flash(request), *(flashes or [])]
    response = templates.TemplateResponse(
        request,
        template,
        {
            "url": lambda path, params=None: _url(request, path, params),
            "user_name": user.get_name() if user is not None else None,
            "role": user_role(user) if user is not None else None,
            "can_act": may_act(user) if user is not None else False,
            "flashes": shown,
            **context,
        },
        status_code=status_code,
    )
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path=_root(request) or "/")
    response.headers["Vary"] = "HX-Request, HX-Target, Cookie"
    return response


def _error(request: Request, user: Any, message: str, status_code: int) -> HTMLResponse:
    return render(request, user, "error.html", {"title": "Refused" if status_code == 403 else "Error",
                  "message": message, "status_code": status_code}, status_code=status_code)  # fmt: skip


def _redirect(request: Request, path: str, kind: str, message: str) -> RedirectResponse:
    response = RedirectResponse(path, status_code=303)
    _set_flash(request, response, kind, message)
    return response


def _partial(request: Request, target: str) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == target


class BadRequest(Exception):
    """A query parameter that does not parse; rendered as a 400 page."""


@overload
def _int(name: str, value: str | None, *, default: int) -> int: ...
@overload
def _int(name: str, value: str | None, *, default: None = None) -> int | None: ...
def _int(name: str, value: str | None, *, default: int | None = None) -> int | None:
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number; got {value!r}") from None


def _engine() -> Any:
    from listings.db.engine import get_engine

    return get_engine()


@lru_cache(maxsize=4)
def _store_for(storage_url: str | None, conn_id: str | None) -> Any:
    from listings.storage import get_store

    return get_store()


def _store() -> Any:
    """The object store of the current settings (cached: an S3 store holds a client)."""
    from listings.settings import get_settings

    settings = get_settings()
    return _store_for(settings.storage_url, settings.storage_conn_id)


# ------------------------------------------------------------------------------------------------
# Pages
# ------------------------------------------------------------------------------------------------


def home(request: Request) -> RedirectResponse:
    return RedirectResponse(_url(request, "/listings"), status_code=307)


def listings_page(
    request: Request,
    user: GetUserDep,
    q: str | None = None,
    status: str | None = None,
    dmo_id: str | None = None,
    category: str | None = None,
    city: str | None = None,
    region: str | None = None,
    source: str | None = None,
    sort: str = "name",
    page: str | None = None,
    per_page: str | None = None,
) -> HTMLResponse:
    from listings.admin import queries

    with _engine().connect() as conn:
        result = queries.search_listings(
            conn,
            q=q or None,
            status=status or None,
            dmo_id=_int("dmo_id", dmo_id),
            category=category or None,
            city=city or None,
            region=region or None,
            source=source or None,
            page=_int("page", page, default=1) or 1,
            per_page=_int("per_page", per_page, default=50) or 50,
            sort=sort or "name",
        )
        choices = (
            {}
            if _partial(request, "results")
            else {"dmos": queries.dmo_choices(conn), "regions": queries.region_choices(conn)}
        )
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
    if _partial(request, "results"):
        return render(request, user, "_listings_results.html", context)
    return render(request, user, "listings.html", context | {"categories": queries.category_choices()})


def listing_page(request: Request, user: GetUserDep, listing_id: int) -> HTMLResponse:
    return _detail_response(request, user, listing_id)


def _detail_response(
    request: Request,
    user: Any,
    listing_id: int,
    *,
    status_code: int = 200,
    flashes: list[dict[str, str]] | None = None,
) -> HTMLResponse:
    from listings.admin import queries

    with _engine().connect() as conn:
        detail = queries.listing_detail(conn, listing_id)
    if detail is None:
        return _error(request, user, f"There is no listing {listing_id}.", 404)
    context = {"title": detail.listing["name"] or f"Listing {listing_id}", "nav": "listings", "d": detail}
    return render(request, user, "listing.html", context, status_code=status_code, flashes=flashes)


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
        return _detail_response(
            request, user, listing_id, status_code=400, flashes=[{"kind": "error", "message": str(exc)}]
        )
    return _redirect(request, _url(request, f"/listings/{result.listing_id}"), "success", result.message)


def listing_info_action(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    listing_info_id: int,
    action: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    from sqlalchemy import text

    from listings.admin import actions
    from listings.catalogue.edits import EditError

    try:
        result = actions.listing_info_action(listing_info_id, action, user=acting, reason=reason)
    except EditError as exc:
        with _engine().connect() as conn:
            listing_id = conn.execute(
                text("select listing_id from public.listing_info where id = :i"), {"i": listing_info_id}
            ).scalar()
        if listing_id is None:
            return _error(request, user, str(exc), 404)
        flashes = [{"kind": "error", "message": str(exc)}]
        return _detail_response(request, user, int(listing_id), status_code=400, flashes=flashes)
    return _redirect(request, _url(request, f"/listings/{result.listing_id}"), "success", result.message)


def images_page(
    request: Request,
    user: GetUserDep,
    job_id: str | None = None,
    dmo_id: str | None = None,
    status: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    from listings.admin import queries

    dmo = _int("dmo_id", dmo_id)
    with _engine().connect() as conn:
        result = queries.image_queue(
            conn,
            job_id=_int("job_id", job_id),
            dmo_id=dmo,
            status=status or None,
            page=_int("page", page, default=1) or 1,
        )
        choices = (
            {}
            if _partial(request, "results")
            else {"dmos": queries.dmo_choices(conn), "jobs": queries.image_jobs(conn, dmo_id=dmo)}
        )
    context = {
        "title": "Images",
        "nav": "images",
        "result": result,
        "params": {k: v for k, v in result.filters.items() if v not in (None, "")},
        "statuses": queries.IMAGE_STATUSES,
        "max_rows": queries.MAX_ROWS,
        "here": _url(request, "/images", result.filters | {"page": result.paging.page}),
        **choices,
    }
    if _partial(request, "results"):
        return render(request, user, "_images_results.html", context)
    return render(request, user, "images.html", context)


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
        return _error(request, user, str(exc).strip("'\""), 404)
    reason = f" ({result['reason']})" if result.get("reason") else ""
    kind = "error" if result["status"] == "failed" else "success"
    back = next if _is_own_path(request, next) else _url(request, "/images")
    return _redirect(request, back, kind, f"Image {image_id} fetched again: {result['status']}{reason}.")


def _is_own_path(request: Request, path: str) -> bool:
    """Only redirect to a path of this app (no open redirect to another site)."""
    root = _root(request) + "/"
    return path.startswith(root) and not path.startswith("//") and "\\" not in path


def image_object(image_id: int, rendition: str | None = None) -> Response:
    return _object_response(image_id=image_id, rendition=rendition)


def listing_image_object(listing_image_id: int, rendition: str | None = None) -> Response:
    return _object_response(listing_image_id=listing_image_id, rendition=rendition)


def _object_response(
    *, image_id: int | None = None, listing_image_id: int | None = None, rendition: str | None = None
) -> Response:
    from listings.admin import objects, queries
    from listings.storage import ObjectNotFoundError

    with _engine().connect() as conn:
        url = queries.stored_image_url(
            conn, image_id=image_id, listing_image_id=listing_image_id, rendition=rendition or None
        )
    if url is None:
        return Response("no stored copy of this image", status_code=404, media_type="text/plain")
    try:
        data, media_type = objects.read_object(url, _store())
    except (ObjectNotFoundError, ValueError):
        return Response("the stored copy is missing", status_code=404, media_type="text/plain")
    # Object names carry their content hash: the same URL always has the same bytes.
    headers = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=media_type, headers=headers)


# ------------------------------------------------------------------------------------------------
# The app
# ------------------------------------------------------------------------------------------------


def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ActionRefused)
    return _error(request, None, exc.message, exc.status_code)


def _bad_request(request: Request, exc: Exception) -> Response:
    return _error(request, None, str(exc), 400)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 401:
        message = "You are not logged in to Airflow (or your session expired): log in, then come back."
    elif exc.status_code == 403:
        message = "Airflow does not let your user see plugin pages."
    else:
        message = str(exc.detail)
    return _error(request, None, message, exc.status_code)


# The pages load only this app's own files: htmx and admin.js (no inline script, no eval: htmx's
# hx-on and trigger filters are not used), admin.css (no inline style; htmx's own indicator style is turned
# off in base.html), images of the object store served by this app. frame-ancestors: the pages show inside
# the Airflow UI, which is served from the same origin; no other site may frame them (clickjacking).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    )
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # our own pages' Referer reaches us (check_origin), no other site
)


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every response of the app (pages, partials, errors, downloads,
    static files), unless a route set its own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((k, v) for k, v in SECURITY_HEADERS if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app() -> FastAPI:
    """The admin app. Airflow's read check and the write guard apply to every route."""
    from listings.admin.queries import QueryError

    app = FastAPI(
        title="Listings admin",
        dependencies=[Depends(read_access), Depends(guard_writes)],
        # No public OpenAPI/docs routes: FastAPI serves them outside the app's dependencies.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_api_route("/", home, methods=["GET"], include_in_schema=False)
    app.add_api_route("/listings", listings_page, methods=["GET"])
    app.add_api_route("/listings/{listing_id:int}", listing_page, methods=["GET"])
    app.add_api_route("/listings/{listing_id:int}/{action}", listing_action, methods=["POST"])
    app.add_api_route("/listing-info/{listing_info_id:int}/{action}", listing_info_action, methods=["POST"])
    app.add_api_route("/images", images_page, methods=["GET"])
    app.add_api_route("/images/{image_id:int}/refetch", refetch_image, methods=["POST"])
    app.add_api_route("/images/{image_id:int}/object", image_object, methods=["GET"])
    app.add_api_route("/listing-images/{listing_image_id:int}/object", listing_image_object, methods=["GET"])
    from listings_admin import curation, dmos, files, health, jobs, matching, schedule

    for pages in (jobs, dmos, curation, matching, schedule, files, health):
        pages.register(app)
    app.add_exception_handler(ActionRefused, _refused)
    app.add_exception_handler(BadRequest, _bad_request)
    app.add_exception_handler(QueryError, _bad_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(SecurityHeaders)
    return app


app = create_app()
