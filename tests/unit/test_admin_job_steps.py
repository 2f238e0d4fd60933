"""The job page's steps: what each step did, from the pipeline tables' rows (no database needed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from listings.admin.jobs import job_steps

JOB = {"status": "partial", "promoted_at": datetime(2026, 12, 7, 9, 30), "error_summary": None}
FILES = [
    {"stage": "raw", "status": "stored", "record_count": 4, "metadata": {}},
    {"stage": "transformed", "status": "stored", "record_count": 3, "metadata": {}},
]
RESULTS = {"records_matched": 1, "records_review": 0, "records_new": 1, "records_updated": 0,
           "records_unchanged": 1, "records_deleted": 0}  # fmt: skip


def steps(errors_by_stage: dict[str, int]) -> dict[str, Any]:
    return {s["name"]: s for s in job_steps(JOB, FILES, RESULTS, {}, errors_by_stage)}


def test_the_promote_step_says_how_many_records_it_rejected_for_want_of_a_location() -> None:
    promote = steps({"transform": 1, "promote": 1})["promote"]
    assert promote["state"] == "done" and promote["records"] == 2
    assert promote["detail"] == (
        "promoted 2026-12-07 09:30; matched 1, review 0, new 1 (updated 0, unchanged 1);"
        " rejected 1 without a location"
    )
    assert steps({"transform": 1})["transform"]["detail"] == "1 record errors"
    assert "rejected" not in steps({})["promote"]["detail"]
