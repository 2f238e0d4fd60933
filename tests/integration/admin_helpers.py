"""Fixtures shared by the admin UI tests (imported as a plain module: pytest puts this folder on sys.path).

`admin_app` is the plugin's FastAPI app; `client_as("viewer")` gives a TestClient whose requests come from a
SimpleAuthManager user with that role (None: a user without a role). Airflow's own checks still run; only
the token reading is replaced."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
if str(PLUGINS) not in sys.path:  # Airflow puts its plugins folder on sys.path; so do we
    sys.path.insert(0, str(PLUGINS))

PREFIX = "/listings-admin"


@pytest.fixture(scope="module")
def admin_app() -> Any:
    from airflow.api_fastapi.app import create_auth_manager

    create_auth_manager()  # the API server does this at start-up; requires_access_view asks it
    from listings_admin.main import app

    return app


@pytest.fixture
def client_as(admin_app: Any) -> Iterator[Callable[..., Any]]:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    root = FastAPI()
    root.mount(PREFIX, admin_app)  # as airflow.api_fastapi.app.init_plugins does

    def make(role: str | None, name: str | None = None) -> TestClient:
        user = SimpleAuthManagerUser(username=name or (role or "nobody"), role=role)
        admin_app.dependency_overrides[get_user] = lambda: user
        return TestClient(root)

    yield make
    admin_app.dependency_overrides.clear()
