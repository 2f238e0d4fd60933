"""Fixtures of the integration tests beyond tests/conftest.py: the admin UI's (admin_helpers) and a fake
Airflow REST API (fake_airflow)."""

from admin_helpers import admin_app, client_as
from fake_airflow import fake_airflow

__all__ = ["admin_app", "client_as", "fake_airflow"]
