"""Jobs killed or stopped do not stay `in_progress` forever.

A killed `listings run` (its pid gone), an Airflow job whose DAG run is over, a job silent past the heartbeat
timeout: the reaper marks it `stale` with the reason, drops its staging rows when it was never promoted, and
the DMO runs again; the admin UI runs a stale job again. A live job (this process, a fresh heartbeat, a run
Airflow still lists) is never reaped.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PREFIX
from click.testing import CliRunner
from dmo_helpers import csv_config, q
from fake_airflow import FakeAirflow, use_airflow
from sqlalchemy import Engine, text

from listings.cli import main
from listings.config.store import apply_config
from listings.pipeline import steps
from listings.pipeline.runner import run_job

DMO = 311
HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Lat", "Lng"]
# fmt: off
ROWS = [
    ["a", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"],
    ["b", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"],
]
# fmt: on


def upload(tmp_path: Path, rows: Sequence[Sequence[str]] = ROWS, name: str = "upload.csv") -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def dmo(engine: Engine) -> int:
    with engine.begin() as conn:
        apply_config(conn, csv_config(DMO, HEADER, images={"enabled": False}))
    return DMO


def dead_pid() -> int:
    """The pid of a process that has exited (and been waited for)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def staged_job(tmp_path: Path, *, trigger: str = "cli", run_id: str | None = None) -> int:
    """A job that got as far as staging, then stopped (its process 'killed': no step runs any more)."""
    job_id = steps.start(
        DMO,
        trigger=trigger,
        run_id=run_id,
        dag_id=f"dmo_{DMO}_listings",
        params={"file": str(upload(tmp_path, name=f"up-{run_id}.csv"))},
    )
    for step in ("extract", "transform", "stage"):
        getattr(steps, step)(job_id)
    return job_id


def job(engine: Engine, job_id: int) -> Any:
    (row,) = q(engine, "select * from pipeline.jobs where id = :j", j=job_id)
    return row


def staging_rows(engine: Engine, job_id: int) -> int:
    return int(q(engine, "select count(*) from staging.listings where job_id = :j", j=job_id)[0][0])


def set_job(engine: Engine, job_id: int, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"update pipeline.jobs set {sql} where id = :j"), {"j": job_id, **params})


def test_a_killed_cli_job_is_reaped_and_the_dmo_runs_again(engine: Engine, dmo: int, tmp_path: Path) -> None:
    job_id = staged_job(tmp_path)
    started = job(engine, job_id)
    assert (started.status, started.host, started.pid) == ("in_progress", socket.gethostname(), os.getpid())
    assert started.heartbeat_at is not None and staging_rows(engine, job_id) == 2
    pid = dead_pid()
    set_job(engine, job_id, "pid = :p", p=pid)  # the process that ran it was killed

    out = CliRunner().invoke(main, ["jobs", "reap", "--no-airflow"])
    assert out.exit_code == 0, out.output
    assert f'"job_id": {job_id}' in out.stdout and "1 job(s) reaped" in out.stderr
    reaped = job(engine, job_id)
    assert reaped.status == "stale" and reaped.finished_at is not None
    assert reaped.error_summary.startswith(f"stale: its process {pid} on {socket.gethostname()} is gone")
    assert "2 staging rows dropped" in reaped.error_summary
    assert staging_rows(engine, job_id) == 0
    assert q(engine, "select count(*) from staging.listing_info where job_id = :j", j=job_id) == [(0,)]
    # reaping again finds nothing; the DMO runs again and succeeds
    again = CliRunner().invoke(main, ["jobs", "reap", "--no-airflow"])
    assert again.exit_code == 0 and "0 job(s) reaped" in again.stderr
    res = run_job(DMO, file=upload(tmp_path))
    assert res["status"] == "succeeded" and res["counts"]["records_new"] == 2


KILLED_MID_RUN = """
import os, signal, sys
from listings.pipeline import steps
job_id = steps.start(int(sys.argv[1]), trigger="cli", params={"file": sys.argv[2]})
for step in ("extract", "transform", "stage"):
    getattr(steps, step)(job_id)
print(job_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # killed before match and promote: nothing tells the job row
"""


def test_a_job_killed_mid_run_does_not_stay_in_progress(engine: Engine, dmo: int, tmp_path: Path) -> None:
    """The reproduction with nothing but the pipeline: a `listings run` killed (SIGKILL) after `stage`."""
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_RUN, str(DMO), str(upload(tmp_path))],
        capture_output=True, text=True, env=os.environ.copy(),
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    job_id = int(killed.stdout.split()[0])
    assert job(engine, job_id).status == "in_progress" and staging_rows(engine, job_id) == 2
    res = run_job(DMO, file=upload(tmp_path))  # the next run of the DMO
    assert res["status"] == "succeeded"
    dead = job(engine, job_id)
    assert dead.status in ("stale", "failed") and "gone" in dead.error_summary
    assert staging_rows(engine, job_id) == 0  # its unpromoted staging rows were pruned


def test_a_new_run_of_the_dmo_reaps_its_dead_job_first(engine: Engine, dmo: int, tmp_path: Path) -> None:
    job_id = staged_job(tmp_path)
    set_job(engine, job_id, "pid = :p", p=dead_pid())
    res = run_job(DMO, file=upload(tmp_path))
    assert res["status"] == "succeeded"
    assert job(engine, job_id).status == "stale" and staging_rows(engine, job_id) == 0
    # a re-run of the dead job from `promote` (its staging gone) fails clearly instead of promoting nothing
    with pytest.raises(RuntimeError, match="none staged: run it again from `stage`"):
        steps.promote(job_id)


def test_a_live_job_is_not_reaped(engine: Engine, dmo: int, tmp_path: Path) -> None:
    from listings.pipeline.liveness import reap_stale_jobs

    job_id = staged_job(tmp_path)  # this very process, a fresh heartbeat
    with engine.begin() as conn:
        assert reap_stale_jobs(conn) == []
    # even with a zero timeout: a live process on this host is alive whatever its heartbeat's age
    set_job(engine, job_id, "heartbeat_at = now() - interval '5 hours'")
    with engine.begin() as conn:
        assert reap_stale_jobs(conn, older_than=timedelta(0)) == []
    # and a new run of the DMO next to it leaves it alone
    assert run_job(DMO, file=upload(tmp_path))["status"] == "succeeded"
    assert job(engine, job_id).status == "in_progress" and staging_rows(engine, job_id) == 2


def test_a_reused_pid_does_not_keep_a_dead_job_alive(engine: Engine, dmo: int, tmp_path: Path) -> None:
    from listings.pipeline.liveness import reap_stale_jobs

    job_id = staged_job(tmp_path)
    # the pid is alive, but its process started long after the job: the job's own process is gone
    set_job(engine, job_id, "created_at = '2001-01-01', started_at = '2001-01-01'")
    with engine.begin() as conn:
        (reaped,) = reap_stale_jobs(conn)
    assert reaped.job_id == job_id and "now belongs to a process started" in reaped.reason


def test_a_silent_job_of_another_host_is_reaped_after_the_timeout(
    engine: Engine, dmo: int, tmp_path: Path
) -> None:

    job_id = staged_job(tmp_path)
    set_job(engine, job_id, "host = 'worker-7', heartbeat_at = now() - interval '10 minutes'")
    out = CliRunner().invoke(main, ["jobs", "reap", "--no-airflow"])  # default timeout: one hour
    assert "0 job(s) reaped" in out.stderr and job(engine, job_id).status == "in_progress"
    out = CliRunner().invoke(main, ["jobs", "reap", "--no-airflow", "--older-than", "300"])
    assert "1 job(s) reaped" in out.stderr
    reaped = job(engine, job_id)
    assert reaped.status == "stale" and "no heartbeat for 6" in reaped.error_summary
    assert "from worker-7" in reaped.error_summary and staging_rows(engine, job_id) == 0


def test_airflow_jobs_follow_their_dag_run(
    engine: Engine, dmo: int, tmp_path: Path, fake_airflow: FakeAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:

    use_airflow(monkeypatch, fake_airflow.url)
    dag_id = f"dmo_{DMO}_listings"
    fake_airflow.add_dag(dag_id)
    # two Airflow jobs of the DMO in_progress (made as CLI jobs of this live process, so that the second's
    # start does not reap the first, then turned into Airflow's)
    running, over = staged_job(tmp_path, run_id="r1"), staged_job(tmp_path, run_id="r2")
    fake_airflow.add_run(dag_id, "manual__running", state="running")
    fake_airflow.add_run(dag_id, "manual__over", state="failed")
    # both silent for 20 minutes (waiting for a pool slot, or dead), their task processes gone (an
    # Airflow job's pid says nothing: each task is a process of its own): Airflow tells which is which
    for job_id, run_id in ((running, "manual__running"), (over, "manual__over")):
        set_job(
            engine, job_id,
            "trigger = 'airflow', run_id = :r, heartbeat_at = now() - interval '20 minutes', pid = :p",
            r=run_id, p=dead_pid(),
        )  # fmt: skip
    out = CliRunner().invoke(main, ["jobs", "reap", "--older-than", "60"])
    assert out.exit_code == 0 and "1 job(s) reaped" in out.stderr
    assert job(engine, running).status == "in_progress"
    assert job(engine, over).status == "stale"
    assert "its Airflow DAG run manual__over of dmo_311_listings is no longer queued or running" in (
        job(engine, over).error_summary
    )
    # a new run of the DAG starting means the one before it is over (one active run per DMO DAG)
    steps.start(DMO, trigger="airflow", dag_id=dag_id, run_id="scheduled__next")
    assert job(engine, running).status == "stale"
    assert "run scheduled__next of dmo_311_listings started" in job(engine, running).error_summary


def test_the_heartbeat_is_kept_fresh_while_a_step_runs(engine: Engine, dmo: int, tmp_path: Path) -> None:
    from listings.pipeline.liveness import heartbeat, reap_stale_jobs

    job_id = steps.start(DMO, params={"file": str(upload(tmp_path))})
    set_job(engine, job_id, "heartbeat_at = '2001-01-01', pid = null, host = null")
    with heartbeat(job_id, interval=0.05):
        entered = job(engine, job_id)
        assert entered.heartbeat_at.year > 2001 and entered.pid == os.getpid()
        set_job(engine, job_id, "heartbeat_at = '2001-01-01'")
        # the beating thread refreshes it again (polled: no assumption on how soon)
        for _ in range(600):
            if job(engine, job_id).heartbeat_at.year > 2001:
                break
            time.sleep(0.05)
        assert job(engine, job_id).heartbeat_at.year > 2001
    with engine.begin() as conn:
        assert reap_stale_jobs(conn) == []


def test_the_admin_runs_a_dead_job_again(
    client_as: Callable[..., Any],
    engine: Engine,
    dmo: int,
    tmp_path: Path,
    fake_airflow: FakeAirflow,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_airflow(monkeypatch, fake_airflow.url)
    dag_id = f"dmo_{DMO}_listings"
    fake_airflow.add_dag(dag_id)
    live = staged_job(tmp_path, trigger="airflow", run_id="manual__live")
    fake_airflow.add_run(dag_id, "manual__live", state="running")
    set_job(engine, live, "heartbeat_at = now() - interval '20 minutes'")
    user = client_as("op", "otto")
    # still running in Airflow: "run again" is refused, nothing triggered
    refused = user.post(f"{PREFIX}/jobs/{live}/run-again")
    assert "This one is still alive" in refused.text and fake_airflow.triggered == []
    assert job(engine, live).status == "in_progress"

    # the worker was killed: Airflow failed the run, the job row stayed in_progress
    fake_airflow.runs[-1]["state"] = "failed"
    page = user.get(f"{PREFIX}/jobs/{live}")
    assert page.status_code == 200 and 'data-status="stale"' in page.text
    assert "no longer queued or running" in page.text and "Run again" in page.text
    again = user.post(f"{PREFIX}/jobs/{live}/run-again")
    assert f"Triggered {dag_id}" in again.text and len(fake_airflow.triggered) == 1
    assert staging_rows(engine, live) == 0
