"""The health pages of the admin UI (issue 7), registered on the app by `register(app)`."""

from __future__ import annotations

from fastapi import FastAPI


def register(app: FastAPI) -> None:
    """Add this module's routes to the admin app (its app-wide read and write guards apply)."""
