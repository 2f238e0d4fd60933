"""Data and helpers of the browser tests (a plain module: pytest puts this folder on sys.path; `conftest`
is a name every test folder has, so tests import from here)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LISTINGS_TEST_CHROMIUM", "/usr/bin/chromium")
# Chromium as root, on a machine without outside network: no sandbox, no background calls home.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(os.environ.get("LISTINGS_TEST_ARTIFACTS", REPO / "test-artifacts")) / "screenshots"

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Latitude", "Longitude"]
# fmt: off
DMO_101 = [
    ["A", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"],
    ["T1", "Tim Hortons", "Café", "1 rue Sainte-Catherine O", "Montréal", "H3B 1A1", "514-555-0120", "45.5000", "-73.5700"],
    ["G", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"],
]
DMO_102 = [
    ["x4", "Olimpico", "Café", "rue Saint-Viateur", "MONTREAL", "", "", "", ""],  # a street, no number: review
    ["x5", "Musée des beaux-arts", "Musée", "1380 rue Sherbrooke O", "Montréal", "H3G 1J5", "514-555-0103", "45.4985", "-73.5794"],
]
# fmt: on


def csv_config(dmo_id: int, header: Sequence[str] = HEADER) -> Any:
    from listings.config.store import parse_config

    mappings = {"ID": "source_id", "Name": "name", "Category": "category", "Address1": "address1", "City": "city",
                "Postal": "zip", "Phone": "phone", "Latitude": "lat", "Longitude": "lng"}  # fmt: skip
    dmo = {"id": dmo_id, "name": f"DMO {dmo_id}", "dmo_type": "CLIENT", "country": "CA", "state": "QC"}
    return parse_config(
        {
            "dmo": dmo,
            "source_type": "csv",
            "schedule": "manual",
            "field_mappings": {mappings[c]: c for c in header},
        }
    )


def write_csv(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


@dataclass
class Stack:
    url: str  # Airflow's base URL
    admin: str  # the admin app's base URL (Airflow + /listings-admin)
    engine: Any
    airflow: Any  # LocalAirflow
    home: Path

    def q(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))
