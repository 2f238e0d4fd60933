"""Fixtures of the integration tests beyond tests/conftest.py: the admin UI's (admin_helpers)."""

from admin_helpers import admin_app, client_as

__all__ = ["admin_app", "client_as"]
