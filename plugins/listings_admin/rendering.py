"""Rendering for every page of the admin UI: the Jinja2 templates with their filters and globals, the flash
message cookie, paths of this app behind the mount prefix, redirects, htmx partials and the error page.

`BadRequest` (a query that does not parse: 400) and `NotFound` (404) are raised by the routes and rendered
as the error page by the app's exception handlers (`main.py`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from listings.admin.curation import INFO_FORM, LOCATION_LABELS
from listings.fields import FIELDS
from listings_admin.auth import may_act, user_role

HERE = Path(__file__).parent
FLASH_COOKIE = "listings_admin_flash"


class BadRequest(Exception):
    """A query parameter that does not parse; rendered as a 400 page."""


class NotFound(Exception):
    """What the URL names does not exist; rendered as a 404 page with the message."""


# ------------------------------------------------------------------------------------------------
# Paths of this app
# ------------------------------------------------------------------------------------------------


def root(request: Request) -> str:
    """The prefix this app is mounted at (`/listings-admin`), without a trailing slash."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def url(request: Request, path: str, params: Mapping[str, Any] | None = None) -> str:
    """A path of this app (behind whatever prefix mounted it), with the non-empty params."""
    query = urlencode({k: v for k, v in (params or {}).items() if v not in (None, "")})
    return f"{root(request)}{path}" + (f"?{query}" if query else "")


def is_own_path(request: Request, path: str) -> bool:
    """Only redirect to a path of this app (no open redirect to another site)."""
    prefix = root(request) + "/"
    return path.startswith(prefix) and not path.startswith("//") and "\\" not in path


def is_partial(request: Request, target: str) -> bool:
    """True for an htmx request that swaps the element `target` (render only that part of the page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == target


# ------------------------------------------------------------------------------------------------
# Templates: filters and globals
# ------------------------------------------------------------------------------------------------


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


def _duration(seconds: Any) -> str:
    from listings.admin.jobs import duration

    return duration(seconds)


def _pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _category_choices() -> list[tuple[str, str]]:
    from listings.admin.queries import category_choices

    return category_choices()


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(
    when=_when,
    http_url=_http_url,
    filesize=_filesize,
    json=lambda value: json.dumps(value, ensure_ascii=False, default=str),
    combine=lambda params, **changes: {**params, **changes},
    duration=_duration,
    pretty_json=_pretty_json,  # a job's config snapshot and records
    file_json=_pretty_json,  # a file's previewed records
)
templates.env.globals.update(
    # (column, label) of the social profiles a listing_info shows, from the field registry
    social_links=[(f.column, f.label) for f in FIELDS if f.social],
    # the manual edit forms of the listing page
    category_choices=_category_choices,
    info_form=INFO_FORM,
    location_labels=LOCATION_LABELS,
)


# ------------------------------------------------------------------------------------------------
# Flash messages, pages, redirects
# ------------------------------------------------------------------------------------------------


def read_flash(request: Request) -> list[dict[str, str]]:
    """The message a redirect left in the flash cookie (at most one), as {"kind", "message"}."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        kind, message = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError, binascii.Error):
        return []
    return [{"kind": str(kind), "message": str(message)}]


def set_flash(request: Request, response: Response, kind: str, message: str) -> None:
    """Leave a message ("success" or "error") for the next page this browser renders."""
    value = base64.urlsafe_b64encode(json.dumps([kind, message]).encode()).decode()
    response.set_cookie(
        FLASH_COOKIE, value, max_age=120, path=root(request) or "/", httponly=True, samesite="lax"
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
    """A page (or an htmx partial): the template with `context`, the user's name and role, the flash
    messages (the cookie's, then `flashes`) and `url(path, params)`."""
    shown = [*read_flash(request), *(flashes or [])]
    response = templates.TemplateResponse(
        request,
        template,
        {
            "url": lambda path, params=None: url(request, path, params),
            "user_name": user.get_name() if user is not None else None,
            "role": user_role(user) if user is not None else None,
            "can_act": may_act(user) if user is not None else False,
            "flashes": shown,
            **context,
        },
        status_code=status_code,
    )
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path=root(request) or "/")
    response.headers["Vary"] = "HX-Request, HX-Target, Cookie"
    return response


def error_page(request: Request, user: Any, message: str, status_code: int) -> HTMLResponse:
    """The error page: the message, with the status code (403: "Refused")."""
    title = "Refused" if status_code == 403 else "Error"
    context = {"title": title, "message": message, "status_code": status_code}
    return render(request, user, "error.html", context, status_code=status_code)


def redirect(request: Request, path: str, kind: str, message: str) -> RedirectResponse:
    """303 to `path` (a full path of this app: `url(...)`), with a flash message for the page there."""
    response = RedirectResponse(path, status_code=303)
    set_flash(request, response, kind, message)
    return response
