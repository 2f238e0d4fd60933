"""The admin UI: a FastAPI app that Airflow's API server mounts at /listings-admin (see
`listings_admin_plugin.py`, which imports this module on the first request). Server-rendered Jinja2 pages
(`rendering.py`), htmx for the parts that change in place; every read is a function of
`listings.admin.queries` and its siblings, every action one of `listings.admin.actions` and its siblings.

The routes are the routers of `routes/` (each module's docstring lists its own):
    routes/listings.py      GET /, /listings, /listings/{id}, /images, the stored image bytes;
                            POST /listings/{id}/archive|restore, /listing-info/{id}/hide|show,
                            /images/{id}/refetch
    routes/curation.py      /soft-deleted (show, restore), the listing page's edit forms and locks, GET /review
    routes/matching.py      GET /bridge, /bridge/conflicts, /review/{id}
    routes/decisions.py     POST /review/decide, /bridge/force-match, /listings/{id}/merge,
                            /listing-info/{id}/unmerge
    routes/dmos.py          GET /dmos, /dmos/{id}, /dmos/{id}/config.yaml; activate, deactivate, uploads
    routes/dmo_config.py    /dmos/new, /dmos/import, /dmos/{id}/config, /dmos/{id}/edit (YAML and form editors)
    routes/dmo_preview.py   /dmos/preview, /dmos/{id}/preview ("test this config")
    routes/schedule.py      /schedule: pause, resume, run now, cancel queued runs
    routes/jobs.py          /jobs, /jobs/{id}, errors.csv, run again, re-run from a step, ignore errors
    routes/files.py         /files, /files/{id}, /files/{id}/download
    routes/health.py        /health
    GET /static/...         CSS, admin.js (the pages' scripts) and the vendored htmx

Every response carries SECURITY_HEADERS (Content-Security-Policy with frame-ancestors 'self', nosniff,
Referrer-Policy same-origin); every change is checked by `auth.guard_writes` (role and origin).

Errors are pages: `ActionRefused` (its status, 403 by default), `BadRequest` and `listings.admin.queries.
QueryError` (400), a query parameter FastAPI cannot parse (`RequestValidationError`: 400, the message
names the parameter), `NotFound` (404), and Starlette's HTTP errors (Airflow's 401 / 403, an unknown path).
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from listings_admin.auth import ActionRefused, guard_writes, read_access
from listings_admin.deps import remember_user, validation_message
from listings_admin.rendering import HERE, BadRequest, NotFound, error_page
from listings_admin.routes import (
    curation,
    decisions,
    dmo_config,
    dmo_preview,
    dmos,
    files,
    health,
    jobs,
    listings,
    matching,
    schedule,
)

# In this order: Starlette takes the first route that matches. `decisions` (POST /listings/{id}/merge,
# /listing-info/{id}/unmerge) and `curation` come before `listings`, whose POST /listings/{id}/{action} and
# /listing-info/{id}/{action} take any action name; `dmo_config` and `dmo_preview` (POST /dmos/{id}/config,
# /edit, /preview) before `dmos`, whose POST /dmos/{id}/{action} does.
ROUTERS = (
    decisions.router,
    curation.router,
    matching.router,
    listings.router,
    dmo_config.router,
    dmo_preview.router,
    dmos.router,
    schedule.router,
    jobs.router,
    files.router,
    health.router,
)


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------


def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ActionRefused)
    return error_page(request, None, exc.message, exc.status_code)


def _bad_request(request: Request, exc: Exception) -> Response:
    return error_page(request, None, str(exc), 400)


def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_page(request, None, validation_message(exc.errors()), 400)


def _not_found(request: Request, exc: Exception) -> Response:
    return error_page(request, getattr(request.state, "user", None), str(exc), 404)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 401:
        message = "You are not logged in to Airflow (or your session expired): log in, then come back."
    elif exc.status_code == 403:
        message = "Airflow does not let your user see plugin pages."
    else:
        message = str(exc.detail)
    return error_page(request, None, message, exc.status_code)


# ------------------------------------------------------------------------------------------------
# Security headers
# ------------------------------------------------------------------------------------------------

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


# ------------------------------------------------------------------------------------------------
# The app
# ------------------------------------------------------------------------------------------------


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
    for router in ROUTERS:
        app.include_router(router, dependencies=[Depends(remember_user)])
    app.add_exception_handler(ActionRefused, _refused)
    app.add_exception_handler(BadRequest, _bad_request)
    app.add_exception_handler(QueryError, _bad_request)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(SecurityHeaders)
    return app


app = create_app()
