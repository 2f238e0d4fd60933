"""Who may do what in the admin UI: Airflow's own login, then a role check per action.

- Every route needs Airflow's read access to plugin views (`requires_access_view(AccessView.PLUGINS)`):
  the user comes from the `_token` cookie the Airflow UI sets (it reaches the iframe too) or an
  `Authorization: Bearer` token; no or a bad token gives 401/403 before any page code runs.
- Every method but GET/HEAD also needs a role that may change data: `user`, `op` or `admin`. Airflow's
  SimpleAuthManager lets a viewer pass every view check, so the role on the user object decides
  (`SimpleAuthManagerUser.role`, from `[core] simple_auth_manager_users`). A user object without a role
  (another auth manager: FAB, Keycloak...) is asked about through the auth manager's hook for plugin
  views, `is_authorized_custom_view(method="POST", resource_name="Listings")`, which refuses unless that
  auth manager grants it.
- Every method but GET/HEAD must also come from a page of this origin (cross-site request forgery): the
  Airflow `_token` cookie rides along with any request the browser sends, whichever page made it (another
  site, or another port of this host: SameSite=Lax counts both as the same "site"). See `check_origin`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_view
from fastapi import Depends, Request

# SimpleAuthManagerRole's order: each role may do what the ones before it may.
ROLE_ORDER = {"viewer": 0, "user": 1, "op": 2, "admin": 3}
ACTING_ROLE = "user"  # the least role that may change data
RESOURCE_NAME = "Listings"  # the custom-view resource other auth managers are asked about
SAFE_METHODS = frozenset({"GET", "HEAD"})
SESSION_COOKIE = "_token"  # the Airflow UI's JWT cookie (airflow...base_auth_manager.COOKIE_NAME_JWT_TOKEN)
_DEFAULT_PORTS = {"http": 80, "https": 443}

read_access = requires_access_view(AccessView.PLUGINS)


class ActionRefused(Exception):
    """The user may not do this; the message says why (rendered as a page with `status_code`)."""

    def __init__(self, message: str, status_code: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def user_role(user: BaseUser) -> str | None:
    """The user's role name, lower case, when the user object has one (SimpleAuthManager)."""
    role = getattr(user, "role", None)
    return str(role).lower() if role else None


def may_act(user: BaseUser) -> bool:
    """True when the user may change data through the admin UI."""
    role = user_role(user)
    if role is not None:
        return ROLE_ORDER.get(role, -1) >= ROLE_ORDER[ACTING_ROLE]
    if not hasattr(user, "role"):
        from airflow.api_fastapi.app import get_auth_manager

        return bool(
            get_auth_manager().is_authorized_custom_view(
                method="POST", resource_name=RESOURCE_NAME, user=user
            )
        )
    return False  # a role attribute without a value: no permission (as SimpleAuthManager decides)


def origin_of(url: str | None) -> str | None:
    """`scheme://host[:port]` of a URL or an Origin header, lower case, without the scheme's default port;
    None for anything that is no http(s) URL with a host (`null`, `about:blank`, garbage)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def trusted_origins(request: Request) -> set[str]:
    """The origins whose pages may change data: this request's own (scheme as the server sees it, i.e. after
    uvicorn's proxy headers when Airflow's API server trusts them, and the Host header), Airflow's public
    URL (`[api] base_url`), and `LISTINGS_ADMIN_ALLOWED_ORIGINS` (comma-separated; for a proxy in front of
    Airflow that does not pass the scheme or the host on)."""
    from airflow.configuration import conf

    from listings.settings import get_settings

    found = {
        origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}"),
        origin_of(conf.get("api", "base_url", fallback=None)),
        *(origin_of(o) for o in get_settings().admin_allowed_origins.split(",")),
    }
    return {o for o in found if o}


def check_origin(request: Request) -> None:
    """Refuse (403) a change that this origin's pages did not send, whatever the user may do.

    In order, the first evidence decides:
    1. `Sec-Fetch-Site` (every current browser, on https and on localhost): only `same-origin` passes;
       `same-site` (another port or subdomain of this host), `cross-site` and `none` are refused.
    2. `Origin` (every browser sends it on a POST): it must be a trusted origin (`trusted_origins`);
       `null` (a sandboxed frame, a privacy redirect) is refused.
    3. `Referer` (an old browser): its origin must be trusted. Our pages send it to themselves
       (`Referrer-Policy: same-origin`).
    4. None of these: a script or a command-line client. Allowed when it authenticates with an
       `Authorization: Bearer` header or with no cookie at all: only a cookie rides along with a forged
       request, and Airflow then reads the user from the header. A request that carries Airflow's
       `_token` cookie without any evidence of its origin is refused.
    """
    what = "nothing was changed. Make the change from the Listings pages of this Airflow."
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site.strip().lower() == "same-origin":
            return
        where = {
            "same-site": "another site or another port of this host",
            "cross-site": "another site",
            "none": "outside any page (a bookmark, a typed address, another application)",
        }.get(fetch_site.strip().lower(), f"another origin (Sec-Fetch-Site: {fetch_site})")
        raise ActionRefused(f"Refused: this request came from {where}, not from this page: {what}")
    origin = request.headers.get("origin")
    if origin is not None:
        if origin_of(origin) in trusted_origins(request):
            return
        raise ActionRefused(f"Refused: this request came from another origin ({origin[:100]}): {what}")
    referer = request.headers.get("referer")
    if referer is not None:
        if origin_of(referer) in trusted_origins(request):
            return
        shown = origin_of(referer) or "an unreadable address"
        raise ActionRefused(f"Refused: this request came from a page of another origin ({shown}): {what}")
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer " or SESSION_COOKIE not in request.cookies:
        return
    raise ActionRefused(
        "Refused: this request carries the Airflow session cookie but says nothing of the page that sent "
        f"it (no Origin, Referer or Sec-Fetch-Site header), as another page's forged request would: {what} "
        "Scripts authenticate with an Authorization: Bearer header instead."
    )


def is_admin(user: BaseUser) -> bool:
    """True when the user has the admin role (or, with another auth manager, may change Airflow's config):
    what only an admin may do, such as letting a source reach private addresses."""
    role = user_role(user)
    if role is not None:
        return role == "admin"
    if not hasattr(user, "role"):
        from airflow.api_fastapi.app import get_auth_manager

        return bool(get_auth_manager().is_authorized_configuration(method="PUT", user=user))
    return False


def guard_writes(request: Request, user: GetUserDep) -> None:
    """App-wide dependency: GET and HEAD are reads; anything else must come from this origin
    (`check_origin`) and needs `may_act`."""
    if request.method in SAFE_METHODS:
        return
    check_origin(request)
    if not may_act(user):
        role = user_role(user) or "no"
        raise ActionRefused(
            f"{user.get_name()} has the {role} role, which may only read. Changing the catalogue needs the "
            "user, op or admin role: nothing was changed."
        )


def acting_user(user: GetUserDep) -> str:
    """The name recorded with an action (who archived, hid, re-fetched)."""
    if not may_act(user):  # guard_writes ran first; this keeps a route safe if it is mounted elsewhere
        raise ActionRefused(f"{user.get_name()} may only read: nothing was changed.")
    return user.get_name()


ActingUser = Annotated[str, Depends(acting_user)]
