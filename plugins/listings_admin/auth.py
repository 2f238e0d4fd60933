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
"""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_view
from fastapi import Depends, Request

# SimpleAuthManagerRole's order: each role may do what the ones before it may.
ROLE_ORDER = {"viewer": 0, "user": 1, "op": 2, "admin": 3}
ACTING_ROLE = "user"  # the least role that may change data
RESOURCE_NAME = "Listings"  # the custom-view resource other auth managers are asked about
SAFE_METHODS = frozenset({"GET", "HEAD"})

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
    """App-wide dependency: GET and HEAD are reads; anything else needs `may_act`. A POST from another
    site is refused even when the browser sent the cookie (the cookie is SameSite=Lax already)."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise ActionRefused("Refused: this request came from another site.")
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
