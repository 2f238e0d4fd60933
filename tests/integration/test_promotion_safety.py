"""Promotion is safe: a killed promotion leaves `public` untouched and a re-run completes it exactly like a run
that was never interrupted; the quality gates (GX checkpoint on staging, checks inside the transaction) stop
a bad batch with a clear error and promote nothing; one DMO listing one place twice is queued for review."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from dmo_helpers import csv_config, q
from sqlalchemy import Engine, create_engine, text

from listings.admin import health
from listings.catalogue import edits
from listings.config.store import apply_config
from listings.db.engine import engine_for
from listings.pipeline import steps
from listings.pipeline.runner import JobFailed, run_job
from listings.settings import get_settings
from listings.validation.staging import GateFailed

HEADER = "ID,Name,Category,Address1,City,Postal,Phone,Website,Images,Hours,Lat,Lng\n"
COUNTED = ("listings", "listing_info", "locations", "contact_info", "listing_images", "opening_dates",
           "opening_hours")  # fmt: skip


def config(dmo_id: int) -> Any:
    return csv_config(dmo_id, HEADER.strip().split(","))


def big_file(path: Path, n: int = 400) -> Path:
    rows = [
        f"s{i},Place {i} {uuid.UUID(int=i).hex[:6]},Restaurant,{100 + i} rue Saint-Denis,Montréal,H2X 1K{i % 10},"
        f"514-555-{i:04d},https://place{i}.example,https://img.example/{i}.jpg|https://img.example/{i}b.jpg,"
        f"Mon-Fri 9am-5pm,{45.5 + i * 0.001:.6f},{-73.6 + i * 0.001:.6f}\n"
        for i in range(n)
    ]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def counts(engine: Engine) -> dict[str, int]:
    return {t: q(engine, f"select count(*) from public.{t}")[0][0] for t in COUNTED}


def catalogue(engine: Engine) -> list[tuple[Any, ...]]:
    """The catalogue by natural keys (ids differ between databases: sequences are not transactional)."""
    rows = q(
        engine,
        """
        select li.dmo_id, li.external_source_id, li.name, li.category, li.info_visible, li.info_status,
               l.name, l.listing_status, loc.address1, loc.zip, loc.lat, loc.lng, ci.international_phone,
               ci.website_url,
               (select array_agg(image order by rank) from public.listing_images i where i.listing_info_id = li.id),
               (select array_agg(format('%s %s-%s', h.day_id, h.open_time, h.close_time) order by h.day_id)
                from public.opening_dates d join public.opening_hours h on h.opening_date_id = d.id
                where d.listing_info_id = li.id),
               b.job_id, b.match_method, b.certainty_score
        from public.listing_info li
        join public.listings l on l.id = li.listing_id
        join public.locations loc on loc.id = l.location_id
        left join public.contact_info ci on ci.id = li.contact_info_id
        join pipeline.bridge_source_listing b on b.listing_info_id = li.id
        order by li.dmo_id, li.external_source_id, b.job_id
        """,
    )
    return [tuple(r) for r in rows]


def promote_in_subprocess(db_url: str, home: Path, job_id: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LISTINGS_DATABASE_URL": db_url, "LISTINGS_HOME": str(home)}
    code = f"from listings.pipeline import steps; steps.promote({job_id})"
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


ALIVE = "select 1 from pg_stat_activity where pid = :p"


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.1)


def test_a_killed_promotion_leaves_public_untouched_and_a_rerun_completes_it(
    engine: Engine, db_url: str, pg_admin_url: str, listings_env: Path, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        apply_config(conn, config(301))
    run_job(
        301, file=big_file(tmp_path / "first.csv", 200)
    )  # an existing catalogue: updates, not only inserts
    job_id = steps.start(301, params={"file": str(big_file(tmp_path / "second.csv", 400))})
    for step in ("extract", "transform", "stage", "match"):
        getattr(steps, step)(job_id)
    before, catalogue_before = counts(engine), catalogue(engine)

    # The reference: a copy of this database, promoted without interruption.
    engine.dispose()
    reference = f"listings_ref_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create database "{reference}" template "{db_url.rpartition("/")[2]}"'))
    reference_url = f"{db_url.rpartition('/')[0]}/{reference}"
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("LISTINGS_DATABASE_URL", reference_url)
            get_settings.cache_clear()
            steps.promote(job_id)
        get_settings.cache_clear()
        ref_engine = engine_for(reference_url)
        expected_counts, expected = counts(ref_engine), catalogue(ref_engine)
        ref_engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{reference}" with (force)'))

    # Killed at three points, each held by a lock the promotion needs there: inside dbt, building the change
    # logs (the listing_info log, after the records, locations, contact and listings logs were built); inside
    # the apply's transaction, half way (the images, after the listings, locations, contact rows and
    # listing_info); and at its last writes (the job's counts). Each a real `steps.promote` process.
    holds = [
        ("lock table staging.promotion__listing_info in exclusive mode", {}),
        ("lock table public.listing_images in exclusive mode", {}),
        ("select 1 from pipeline.job_results where job_id = :j for update", {"j": job_id}),
    ]
    waiting = (
        "select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
    )
    for hold, params in holds:
        blocker = engine.connect()
        blocker.execute(text(hold), params)
        proc = promote_in_subprocess(db_url, listings_env, job_id)
        wait_for(lambda: bool(q(engine, waiting)))
        (pid,) = q(engine, waiting)[0]
        os.kill(proc.pid, signal.SIGKILL)  # a real process kill, mid-transaction
        proc.wait(timeout=30)
        # The server notices the dead client (client_connection_check_interval) and rolls it all back.
        wait_for(lambda backend=pid: not q(engine, ALIVE, p=backend), timeout=30)
        blocker.rollback()
        blocker.close()
        assert counts(engine) == before and catalogue(engine) == catalogue_before, hold
        assert q(engine, "select promoted_at from pipeline.jobs where id = :j", j=job_id)[0][0] is None

    steps.promote(job_id)  # the re-run (in this process: only the killed run needs a process of its own)
    assert counts(engine) == expected_counts
    assert catalogue(engine) == expected
    assert counts(engine) != before  # the job did change public
    steps.promote(job_id)  # promoted once: a further run is a no-op
    assert counts(engine) == expected_counts


def test_the_staging_gate_stops_a_bad_batch_and_promotes_nothing(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        apply_config(conn, config(302))
    job_id = steps.start(302, params={"file": str(big_file(tmp_path / "f.csv", 20))})
    for step in ("extract", "transform", "stage", "match"):
        getattr(steps, step)(job_id)
    with engine.begin() as conn:  # what a broken stage step (or a hand edit) could leave behind
        conn.execute(
            text("update staging.locations set lat = 95 where job_id = :j and record_no = 3"), {"j": job_id}
        )
        conn.execute(
            text("delete from staging.contact_info where job_id = :j and record_no = 7"), {"j": job_id}
        )
    before = counts(engine)
    with pytest.raises(GateFailed) as failed:
        steps.promote(job_id)
    message = str(failed.value)
    assert "nothing was promoted" in message
    assert "expect_column_values_to_be_between on lat: 1 of 20 rows (e.g. record 3 (95.0))" in message
    assert "has_contact" in message and "record 7" in message
    assert counts(engine) == before
    assert q(engine, "select promoted_at from pipeline.jobs where id = :j", j=job_id)[0][0] is None


def test_the_gates_stop_a_promotion_that_would_break_an_invariant(engine: Engine, tmp_path: Path) -> None:
    import json

    from listings.pipeline.promote import DbtError, run_dbt

    with engine.begin() as conn:
        apply_config(conn, config(303))
    run_job(303, file=big_file(tmp_path / "f.csv", 5))
    # A second visible listing_info of the same DMO on one listing (only a broken tool could do this).
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into public.listing_info (listing_id, dmo_id, name, info_visible, info_status)"
                " select listing_id, dmo_id, 'stray', true, 'active' from public.listing_info order by id limit 1"
            )
        )
    before = catalogue(engine)
    changed = big_file(tmp_path / "g.csv", 5).read_text().replace("Mon-Fri 9am-5pm", "Mon-Sat 9am-6pm")
    (tmp_path / "g.csv").write_text(changed)
    # The dbt test on the job's change logs fails: the apply is skipped, the failures are kept for the
    # Health page.
    with pytest.raises(JobFailed, match="gate_one_visible_listing_info_per_dmo: Got 1 result"):
        run_job(303, file=tmp_path / "g.csv")
    assert catalogue(engine) == before
    (job_id,) = q(engine, "select max(id) from pipeline.jobs")[0]
    assert q(engine, "select promoted_at from pipeline.jobs where id = :j", j=job_id)[0][0] is None
    stored = q(
        engine, "select job_id, listing_id, dmo_id from dbt_test__audit.gate_one_visible_listing_info_per_dmo"
    )
    assert [tuple(r) for r in stored] == [(job_id, 1, 303)]
    # ... and as the job's errors, for the job page and the Health page.
    errors = q(engine, "select stage, record_id, error_type, error_message from pipeline.job_errors where job_id = :j",
               j=job_id)  # fmt: skip
    assert [tuple(r) for r in errors] == [
        ("promote", "1", "quality_gate",
         "gate_one_visible_listing_info_per_dmo: listing_id 1, dmo_id 303, visible_listing_info 2"),
    ]  # fmt: skip
    with engine.connect() as conn:
        stops = health.gate_stops(conn, health.window(1))
    assert [(g["job_id"], g["gate"], g["n"]) for g in stops] == [
        (job_id, "gate_one_visible_listing_info_per_dmo", 1)
    ]
    # The apply checks the same in its transaction, once written (here run without the tests before it).
    with pytest.raises(DbtError, match="more than one visible listing_info: listing 1 / DMO 303"):
        run_dbt(["run", "--select", "promotion", "--vars", json.dumps({"job_id": job_id})])
    assert catalogue(engine) == before
    assert q(engine, "select promoted_at from pipeline.jobs where id = :j", j=job_id)[0][0] is None


def test_one_dmo_listing_one_place_twice_is_queued_not_shown_twice(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        apply_config(conn, config(304))
    first = tmp_path / "a.csv"
    first.write_text(
        HEADER
        + "a,Café Olimpico,Café,124 rue Saint-Viateur O,Montréal,H2T 2L1,514-555-0101,,,,45.5235,-73.6004\n"
    )
    run_job(304, file=first)
    second = tmp_path / "b.csv"
    second.write_text(
        first.read_text()
        + "a2,Caffe Olimpico,Café,124 Saint-Viateur Ouest,Montreal,H2T2L1,(514) 555-0101,,,,45.52365,-73.60050\n"
    )
    run_job(304, file=second)
    rows = q(
        engine,
        "select external_source_id, listing_id, info_visible, info_status from public.listing_info order by id",
    )
    assert [(r[0], r[2], r[3]) for r in rows] == [("a", True, "active"), ("a2", False, "pending")]
    assert rows[0][1] == rows[1][1]  # matched to the same listing, but not shown twice
    (item,) = q(engine, "select item_type, listing_info_id, payload from pipeline.review_items")
    assert item.item_type == "source_conflict" and item.payload["kept_listing_info_id"] == 1
    with engine.begin() as conn, pytest.raises(edits.EditError, match="already shown"):
        edits.show_listing_info(conn, item.listing_info_id, user="ops")


def test_dbt_build_passes_on_a_promoted_catalogue_and_its_tests_catch_a_broken_one(
    engine: Engine, tmp_path: Path
) -> None:
    from listings.pipeline.promote import DbtError, run_dbt

    with engine.begin() as conn:
        apply_config(conn, config(305))
    run_job(305, file=big_file(tmp_path / "f.csv", 30))
    result: Any = run_dbt(["build"])
    statuses = {r.node.name: str(r.status) for r in result.results}
    assert {"int_listing_changes", "assert_every_listing_has_a_location",
            "assert_one_visible_listing_info_per_dmo_and_listing", "assert_no_orphan_dependents",
            "change_detection_by_hash_comparison",  # the unit tests of change detection
            "an_older_job_promoted_after_a_newer_one_is_superseded",
            "a_locked_field_keeps_the_admins_value",  # the unit tests of the change logs
            "one_dmo_listing_one_place_twice_keeps_the_first_visible",
            "gate_promoted_listings_have_a_location", "gate_one_visible_listing_info_per_dmo"} <= set(statuses)  # fmt: skip
    # every model's key: (job_id, record_no) unique, each part not null
    keys = [n for n in statuses if n.startswith("unique_key_")]
    assert len(keys) == 22, keys
    # everything built or passed (the exposure, the catalogue the apply writes, has nothing to run)
    assert {n: s for n, s in statuses.items() if s not in ("success", "pass")} == {
        "public_catalogue": "no-op"
    }
    source_tests = [
        n for n in statuses if n.startswith(("source_unique_", "source_not_null_", "source_relationships_"))
    ]
    assert len(source_tests) >= 20

    with engine.begin() as conn:  # what the promotion gates forbid, done behind their back
        conn.execute(text("update public.listings set listing_status = 'archived' where id = 1"))
    with pytest.raises(DbtError, match="assert_archived_listings_are_hidden"):
        run_dbt(["test"])


def test_dbt_docs_describe_every_model_and_column(engine: Engine, listings_env: Path) -> None:
    import json

    from listings.pipeline.promote import run_dbt

    run_dbt(["run"])
    run_dbt(["docs", "generate"])
    target = get_settings().dbt_work_path / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    assert (target / "index.html").exists()
    undocumented = []
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        if not node["description"].strip():
            undocumented.append(node["name"])
        documented = {name for name, col in node["columns"].items() if col["description"].strip()}
        built = set(catalog["nodes"][uid]["columns"])  # the view's real columns
        undocumented += [f"{node['name']}.{c}" for c in sorted(built - documented)]
    # every column of the public and staging source tables, as the database has them
    described_sources = [s for s in manifest["sources"].values() if s["source_name"] in ("public", "staging")]
    assert {s["unique_id"] for s in described_sources} <= set(catalog["sources"])  # the tables exist
    for source in described_sources:
        documented = {name for name, col in source["columns"].items() if col["description"].strip()}
        built = set(catalog["sources"][source["unique_id"]]["columns"])
        undocumented += [f"{source['source_name']}.{source['name']}.{c}" for c in sorted(built - documented)]
    assert undocumented == []
    for source in manifest["sources"].values():
        assert source["description"].strip(), source["unique_id"]
    # the lineage runs from the staging sources through the models
    parents = manifest["parent_map"]
    assert {"model.listings.stg_public__listing_info", "model.listings.int_staged_records"} <= set(
        parents["model.listings.int_listing_changes"]
    )
    assert "model.listings.stg_staging__listing_info" in parents["model.listings.int_staged_records"]
    # sources are read by the stg_ models only (and by the apply, which writes public)
    reading_sources = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and any(p.startswith("source.") for p in node["depends_on"]["nodes"])
    }
    assert reading_sources and all(name.startswith("stg_") for name in reading_sources), reading_sources


def test_source_freshness_passes_after_a_run(engine: Engine, tmp_path: Path) -> None:
    from listings.pipeline.promote import run_dbt

    with engine.begin() as conn:
        apply_config(conn, config(306))
    run_job(306, file=big_file(tmp_path / "f.csv", 5))
    result: Any = run_dbt(["source", "freshness"])
    checked = {r.node.unique_id: r for r in result.results}
    assert {"source.listings.staging.listings", "source.listings.staging.listing_info",
            "source.listings.pipeline.jobs"} <= set(checked)  # fmt: skip
    assert {uid: str(r.status) for uid, r in checked.items()} == dict.fromkeys(checked, "pass")
    # the timestamps are read as the pipeline writes them (UTC): the job just ran
    assert all(0 <= r.age < 3600 for r in checked.values()), {uid: r.age for uid, r in checked.items()}
