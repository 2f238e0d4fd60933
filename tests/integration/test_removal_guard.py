"""The removal sweep never hides a DMO's catalogue because of one bad file.

A DMO with `removal` set imports 300 good records; then each test sends a bad full snapshot: random text,
a renamed header, a header-only file, a file with 40% of the records. A file whose mapped columns are missing
fails the job (naming the columns); a run with no valid record, or fewer than `removal.min_ratio` x the last
good full snapshot's records, holds the sweep (job `partial`, the reason stored, a health alert): all 300
listing_info stay visible until an admin releases the hold (`listings removal release JOB_ID`). A normal
shrink above the ratio still removes as before.
"""

from __future__ import annotations

import csv
import io
import random
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.catalogue import lifecycle
from listings.cli import main
from listings.config.store import apply_config
from listings.pipeline.runner import JobFailed, run_job

DMO = 301
HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Lat", "Lng"]
WORDS = ("Café", "Boulangerie", "Librairie", "Galerie", "Bistro", "Fromagerie", "Atelier", "Épicerie")


def rows(n: int) -> list[list[str]]:
    """`n` distinct, valid listings (with coordinates: nothing is geotagged)."""
    return [
        [
            f"r{i:03d}",
            f"{WORDS[i % len(WORDS)]} du Plateau {i}",
            "Café",
            f"{100 + i} rue Saint-Denis",
            "Montréal",
            "H2X 1K4",
            f"514-555-{1000 + i:04d}",
            f"{45.50 + i * 0.0004:.6f}",
            f"{-73.57 - i * 0.0003:.6f}",
        ]
        for i in range(1, n + 1)
    ]


ALL = rows(300)


def write(
    tmp_path: Path, name: str, records: Sequence[Sequence[str]], header: Sequence[str] = HEADER
) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *records])
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def setup_dmo(engine: Engine, tmp_path: Path, **removal: Any) -> int:
    with engine.begin() as conn:
        apply_config(conn, csv_config(DMO, HEADER, removal=removal or {"after_runs": 1}))
    first = run_job(DMO, file=write(tmp_path, "good.csv", ALL))
    assert first["status"] == "succeeded" and first["counts"]["records_new"] == 300
    assert visible_count(engine) == 300
    return int(first["job_id"])


def visible_count(engine: Engine) -> int:
    (row,) = q(
        engine,
        "select count(*) filter (where info_visible and info_status = 'active') from public.listing_info"
        " where dmo_id = :d",
        d=DMO,
    )
    return int(row[0])


def job(engine: Engine, job_id: int) -> Any:
    (row,) = q(
        engine,
        "select j.status, j.error_summary, r.records_deleted from pipeline.jobs j"
        " left join pipeline.job_results r on r.job_id = j.id where j.id = :j",
        j=job_id,
    )
    return row


def last_job_id(engine: Engine) -> int:
    (row,) = q(engine, "select max(id) from pipeline.jobs where dmo_id = :d", d=DMO)
    return int(row[0])


def assert_nothing_removed(engine: Engine) -> None:
    assert visible_count(engine) == 300
    assert q(engine, "select count(*) from public.listing_info where info_status <> 'active'")[0][0] == 0


# ------------------------------------------------------------------------------------------------
# A file without the mapped columns fails the job: nothing promoted, nothing removed
# ------------------------------------------------------------------------------------------------


def test_random_text_fails_the_job_and_removes_nothing(engine: Engine, tmp_path: Path) -> None:
    setup_dmo(engine, tmp_path)
    rng = random.Random(4)
    alphabet = string.ascii_letters + string.digits + string.punctuation + "     \t"
    lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(20, 120))) for _ in range(700)]
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("\n".join(lines)[:50_000], encoding="utf-8")
    assert garbage.stat().st_size == 50_000

    with pytest.raises(JobFailed, match="mapped columns missing"):
        run_job(DMO, file=garbage)
    failed = job(engine, last_job_id(engine))
    assert failed.status == "failed" and failed.status != "succeeded"
    assert "mapped columns missing" in failed.error_summary and "Name" in failed.error_summary
    assert not failed.records_deleted
    assert_nothing_removed(engine)
    # re-running the same step gives the same result: the stored raw file says why it failed
    from listings.pipeline import steps
    from listings.sources.base import SourceError

    with pytest.raises(SourceError, match="mapped columns missing"):
        steps.extract(last_job_id(engine))


def test_renamed_header_fails_naming_the_missing_columns(engine: Engine, tmp_path: Path) -> None:
    setup_dmo(engine, tmp_path)
    renamed = ["ID", "Nom", "Category", "Adresse", "City", "Postal", "Téléphone", "Lat", "Lng"]
    with pytest.raises(JobFailed) as failure:
        run_job(DMO, file=write(tmp_path, "renamed.csv", ALL, header=renamed))
    assert failure.value.step == "extract"
    failed = job(engine, last_job_id(engine))
    assert failed.status == "failed"
    assert "mapped columns missing from the header: Address1, Name, Phone" in failed.error_summary
    (raw,) = q(
        engine, "select status, metadata from pipeline.job_files where job_id = :j", j=last_job_id(engine)
    )
    assert raw.status == "failed" and raw.metadata["mapped_columns_missing"] == ["Address1", "Name", "Phone"]
    # nothing of it reached staging or public
    assert q(engine, "select count(*) from staging.listings where job_id = :j", j=last_job_id(engine)) == [
        (0,)
    ]
    assert_nothing_removed(engine)


# ------------------------------------------------------------------------------------------------
# Too few records: the sweep is held for review
# ------------------------------------------------------------------------------------------------


def test_header_only_file_holds_the_sweep(engine: Engine, tmp_path: Path) -> None:
    good = setup_dmo(engine, tmp_path)
    res = run_job(DMO, file=write(tmp_path, "empty.csv", []))
    held = job(engine, res["job_id"])
    assert res["status"] == held.status == "partial"
    assert held.records_deleted == 0
    assert "removal held" in held.error_summary and "no valid record" in held.error_summary
    assert f"job {good}" in held.error_summary
    (error,) = q(
        engine,
        "select stage, error_type, error_message from pipeline.job_errors where job_id = :j",
        j=res["job_id"],
    )
    assert (error.stage, error.error_type) == ("finalize", "removal_held")
    assert_nothing_removed(engine)
    # the absences this run would have counted are not kept: the next good run starts from a clean slate
    assert q(engine, "select count(*) from pipeline.listing_info_absence")[0][0] == 0
    # an admin sees it on the health page
    from listings.admin.health import alerts

    with engine.connect() as conn:
        found = [a for a in alerts(conn) if a.kind == "removal_held"]
    assert [a.job_id for a in found] == [res["job_id"]] and found[0].severity == "warning"
    assert "listings removal release" in found[0].detail


def test_a_file_with_40_percent_holds_then_release_removes(engine: Engine, tmp_path: Path) -> None:
    from listings.admin.health import alerts

    good = setup_dmo(engine, tmp_path)
    res = run_job(DMO, file=write(tmp_path, "shrunk.csv", ALL[:120]))
    job_id = int(res["job_id"])
    held = job(engine, job_id)
    assert held.status == "partial" and held.records_deleted == 0
    assert f"120 valid records, fewer than 0.5 x the 300 of job {good}" in held.error_summary
    assert_nothing_removed(engine)
    with engine.connect() as conn:
        (hold,) = lifecycle.holds(conn, dmo_id=DMO)
    assert (hold.job_id, hold.status, hold.records, hold.baseline_records) == (job_id, "held", 120, 300)

    # releasing it runs the sweep the run would have run: the 180 records not sent are removed
    out = CliRunner().invoke(main, ["removal", "release", str(job_id), "--user", "alice"])
    assert out.exit_code == 0, out.output
    assert "180 listing_info removed" in out.output
    assert visible_count(engine) == 120
    released = job(engine, job_id)
    assert released.records_deleted == 180 and "released by alice" in released.error_summary
    reasons = q(
        engine,
        "select distinct status_reason from public.listing_info where dmo_id = :d and info_status = 'removed'",
        d=DMO,
    )
    assert [r[0] for r in reasons] == [f"not seen in the last 1 runs (jobs {job_id} to {job_id})"]
    with engine.connect() as conn:
        assert [h.status for h in lifecycle.holds(conn, dmo_id=DMO)] == ["released"]
        assert [a for a in alerts(conn) if a.kind == "removal_held"] == []
    # a second release changes nothing and says so
    again = CliRunner().invoke(main, ["removal", "release", str(job_id)])
    assert again.exit_code == 1 and "already released" in again.output
    assert visible_count(engine) == 120 and job(engine, job_id).records_deleted == 180
    # the released run is the new baseline: the same file again removes nothing more and is not held
    res = run_job(DMO, file=write(tmp_path, "shrunk-again.csv", ALL[:120]))
    assert res["status"] == "succeeded" and res["counts"]["records_deleted"] == 0


def test_a_held_run_does_not_count_as_a_miss_and_can_be_superseded(engine: Engine, tmp_path: Path) -> None:
    setup_dmo(engine, tmp_path, after_runs=2)
    held = int(run_job(DMO, file=write(tmp_path, "shrunk.csv", ALL[:120]))["job_id"])
    assert job(engine, held).status == "partial"
    # ten records really gone: one miss each (the held run did not count), so nothing removed yet
    first = run_job(DMO, file=write(tmp_path, "290.csv", ALL[:290]))
    assert first["status"] == "succeeded" and first["counts"]["records_deleted"] == 0
    assert visible_count(engine) == 300
    second = run_job(DMO, file=write(tmp_path, "290-again.csv", ALL[:290]))
    assert second["counts"]["records_deleted"] == 10 and visible_count(engine) == 290
    # a later full snapshot settled the question: the hold can only be dismissed now
    with engine.begin() as conn, pytest.raises(lifecycle.HoldError, match="superseded by job"):
        lifecycle.release_hold(conn, held, user="alice")
    with engine.begin() as conn:
        lifecycle.dismiss_hold(conn, held, user="alice")
        assert [h.status for h in lifecycle.holds(conn, dmo_id=DMO)] == ["dismissed"]
    assert visible_count(engine) == 290


def test_min_ratio_is_configurable_and_a_normal_shrink_still_removes(engine: Engine, tmp_path: Path) -> None:
    setup_dmo(engine, tmp_path)
    # 90% of the records: above the default ratio; the 30 others are removed as before
    res = run_job(DMO, file=write(tmp_path, "270.csv", ALL[:270]))
    assert res["status"] == "succeeded" and res["counts"]["records_deleted"] == 30
    assert job(engine, res["job_id"]).error_summary is None
    assert visible_count(engine) == 270
    # a stricter ratio holds a run that the default would let through
    with engine.begin() as conn:
        apply_config(conn, csv_config(DMO, HEADER, removal={"after_runs": 1, "min_ratio": 0.95}))
    res = run_job(DMO, file=write(tmp_path, "250.csv", ALL[:250]))
    assert res["status"] == "partial" and res["counts"]["records_deleted"] == 0
    assert "fewer than 0.95 x the 270" in job(engine, res["job_id"]).error_summary
    assert visible_count(engine) == 270


def test_min_ratio_is_validated() -> None:
    from listings.config.models import Removal
    from listings.config.store import ConfigError

    assert Removal().min_ratio == 0.5
    with pytest.raises(ConfigError, match=r"removal\.min_ratio"):
        csv_config(DMO, HEADER, removal={"after_runs": 1, "min_ratio": 1.5})


def test_without_a_baseline_only_an_empty_run_is_held(engine: Engine, tmp_path: Path) -> None:
    """The first run of a DMO has no earlier good run to compare with: only a run without any valid
    record is held; a held run is no baseline either."""
    with engine.begin() as conn:
        apply_config(conn, csv_config(DMO, HEADER, removal={"after_runs": 1}))
    res = run_job(DMO, file=write(tmp_path, "none.csv", []))
    assert res["status"] == "partial"
    assert "no valid record (no earlier good full snapshot)" in job(engine, res["job_id"]).error_summary
    res = run_job(DMO, file=write(tmp_path, "few.csv", ALL[:3]))
    assert res["status"] == "succeeded" and job(engine, res["job_id"]).error_summary is None
