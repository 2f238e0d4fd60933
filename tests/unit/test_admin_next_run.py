"""The DMO list's next run: Airflow's schedule presets, from a given moment."""

from __future__ import annotations

from datetime import datetime

import pytest

from listings.admin.dmos import next_run

NOW = datetime(2026, 11, 28, 19, 41, 5)  # a Saturday


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("hourly", datetime(2026, 11, 28, 20, 0)),
        ("daily", datetime(2026, 11, 29, 0, 0)),
        ("weekly", datetime(2026, 11, 29, 0, 0)),  # @weekly: Sunday at midnight
        ("monthly", datetime(2026, 12, 1, 0, 0)),
        ("manual", None),
    ],
)
def test_next_run_follows_the_airflow_presets(schedule: str, expected: datetime | None) -> None:
    assert next_run(schedule, NOW) == expected


def test_edges() -> None:
    sunday_noon = datetime(2026, 11, 29, 12, 0)
    assert next_run("weekly", sunday_noon) == datetime(2026, 12, 6, 0, 0)
    assert next_run("monthly", datetime(2026, 12, 31, 23, 59)) == datetime(2027, 1, 1)
    assert next_run("daily", datetime(2026, 12, 31, 23, 0)) == datetime(2027, 1, 1)
    assert next_run("hourly", NOW, active=False) is None
