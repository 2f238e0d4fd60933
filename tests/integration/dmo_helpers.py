"""Helpers shared by the integration tests that run CSV DMOs end to end (imported as a plain module:
pytest puts this folder on sys.path)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, text

from listings.config.models import DmoConfig
from listings.config.store import parse_config

# CSV column -> canonical field, for the column names these tests use
CANONICAL = {
    "ID": "source_id", "Name": "name", "Category": "category", "Address1": "address1", "City": "city",
    "Postal": "zip", "Phone": "phone", "Website": "website", "Description": "description", "Images": "images",
    "Hours": "opening_hours", "Lat": "lat", "Lng": "lng", "Latitude": "lat", "Longitude": "lng",
    "State": "state", "Address2": "address2", "Country": "country",
}  # fmt: skip


def csv_config(
    dmo_id: int, header: Sequence[str], *, country: str = "CA", state: str = "QC", **extra: Any
) -> DmoConfig:
    """A CSV DMO (CLIENT, Québec unless told) whose mappings follow `header`; `extra` adds config fields
    (e.g. removal)."""
    return parse_config(
        {
            "dmo": {
                "id": dmo_id,
                "name": f"DMO {dmo_id}",
                "dmo_type": "CLIENT",
                "country": country,
                "state": state,
            },
            "source_type": "csv",
            "field_mappings": {CANONICAL[column]: column for column in header},
            **extra,
        }
    )


def q(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params))
