"""The admin UI's schedule page, "re-run from a step" and "ignore a record" on the job page, against real
PostgreSQL (configs applied, jobs made by `run_job` on CSV DMOs) and the fake Airflow REST server of
fake_airflow.py, which records every request and checks bodies with Airflow's own pydantic models.

Covered: the page without an API configured and with Airflow down (200, a notice, the database side);
DAGs paused or not, next run, last job, queued and running runs across DMO DAGs, pools; pause, resume, run
now, cancel a queued run (PATCH state failed), a run no longer queued left alone; `queued_runs` and
`cancel_queued_runs`; re-run from a step (the clearTaskInstances body); ignoring record errors (page,
filters, CSV, the DMO's error rate); a viewer's POSTs refused with no request reaching Airflow."""

from __future__ import annotations

import csv
import io
import re
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PREFIX
from dmo_helpers import csv_config, q
from fake_airflow import FakeAirflow, use_airflow
from sqlalchemy import Engine

from listings.admin.jobs import DAG_TASKS
from listings.config.store import apply_config
from listings.pipeline.runner import JobFailed, run_job

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Lat", "Lng"]
# fmt: off
OLIMPICO = ["a", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"]
GERMAIN = ["b", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"]
# fmt: on


def _bad(source_id: str) -> list[str]:
    """A record the transform rejects (no name)."""
    return [source_id, "   ", "Bar", "1 rue Nulle", "Laval", "H7N 1A1", "", "", ""]


def _upload(tmp_path: Path, rows: Sequence[Sequence[str]], name: str) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _closed_port() -> int:
    with socket.socket() as sock:  # a port nothing listens on: Airflow down
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _row(html: str, attr: str, value: str) -> str:
    return html.split(f'{attr}="{value}"')[1].split("</tr>")[0]


# ------------------------------------------------------------------------------------------------
# Schedule page
# ------------------------------------------------------------------------------------------------


def test_schedule_page_actions_and_a_viewer_reaches_no_airflow(
    client_as: Callable[..., Any],
    engine: Engine,
    tmp_path: Path,
    fake_airflow: FakeAirflow,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from listings.airflow_api import cancel_queued_runs, queued_runs

    with engine.begin() as conn:
        apply_config(conn, csv_config(501, HEADER, schedule="daily", images={"enabled": False}))
        apply_config(conn, csv_config(502, HEADER, images={"enabled": False}))
        apply_config(conn, csv_config(503, HEADER, active=False, images={"enabled": False}))
    job = run_job(501, file=_upload(tmp_path, [OLIMPICO], "501.csv"))
    (run_id,) = q(engine, "select run_id from pipeline.jobs where id = :j", j=job["job_id"])[0]
    fake_airflow.add_dag("dmo_501_listings", schedule="@daily", next_run="2030-01-02T00:00:00Z")
    fake_airflow.add_dag("dmo_502_listings", paused=True)
    fake_airflow.add_dag("other_dag")
    fake_airflow.add_dag("xdmo_9")  # matches ILIKE %dmo_%
    fake_airflow.add_pool(
        "listings_promotion", 1, occupied=1, running=1, queued=2, description="dbt promotion"
    )
    fake_airflow.add_run("dmo_501_listings", "manual__q1", "queued", "2030-01-01T10:00:00Z")
    fake_airflow.add_run("dmo_501_listings", "manual__q2", "queued", "2030-01-01T11:00:00Z")
    fake_airflow.add_run("dmo_501_listings", run_id, "running", "2030-01-01T09:00:00Z")
    fake_airflow.add_run("dmo_502_listings", "scheduled__old", "success", "2029-12-31T00:00:00Z")
    fake_airflow.add_run("other_dag", "manual__other", "queued", "2030-01-01T08:00:00Z")

    def viewer() -> Any:  # client_as sets the app's user: call it before each request
        return client_as("viewer", "vera")

    def user() -> Any:
        return client_as("user", "uma")

    # No API configured: the database side, a notice, nothing asked of Airflow.
    page = viewer().get(f"{PREFIX}/schedule")
    assert page.status_code == 200, page.text
    assert "No Airflow API is configured" in page.text and 'aria-current="page">Schedule<' in page.text
    assert all(f'data-dag-id="dmo_{i}_listings"' in page.text for i in (501, 502, 503))
    assert f'href="{PREFIX}/jobs/{job["job_id"]}"' in _row(page.text, "data-dag-id", "dmo_501_listings")
    assert "inactive: no DAG" in _row(page.text, "data-dag-id", "dmo_503_listings")
    refused = user().post(f"{PREFIX}/schedule/dmo_501_listings/pause", follow_redirects=True)
    assert "No Airflow API is configured" in refused.text and "Nothing was changed" in refused.text

    # Airflow down: still 200 from the database, with a clear notice.
    use_airflow(monkeypatch, f"http://127.0.0.1:{_closed_port()}")
    down = viewer().get(f"{PREFIX}/schedule")
    assert down.status_code == 200, down.text
    assert "API could not be read" in down.text and "did not answer" in down.text
    assert 'data-dag-id="dmo_501_listings"' in down.text
    assert fake_airflow.requests == []

    use_airflow(monkeypatch, fake_airflow.url)
    html = viewer().get(f"{PREFIX}/schedule").text
    assert "could not be read" not in html and "No Airflow API" not in html
    row501, row502 = (_row(html, "data-dag-id", f"dmo_{i}_listings") for i in (501, 502))
    assert 'data-state="active"' in row501 and "2030-01-02 00:00" in row501 and "daily" in row501
    assert "2 queued, 1 running" in row501 and "site_" not in row501 and "listings_promotion" in row501
    assert 'data-state="paused"' in row502 and ">Resume<" in row502 and "manual" in row502
    assert 'data-dag-id="other_dag"' not in html and "xdmo_9" not in html and "manual__other" not in html
    runs = re.findall(r'data-run-id="([^"]+)" data-dag-id="([^"]+)" data-state="(\w+)"', html)
    assert runs == [
        (run_id, "dmo_501_listings", "running"),
        ("manual__q1", "dmo_501_listings", "queued"),
        ("manual__q2", "dmo_501_listings", "queued"),
    ]
    assert f'href="{PREFIX}/jobs/{job["job_id"]}"' in _row(html, "data-run-id", run_id)
    assert "Cancel" not in _row(html, "data-run-id", run_id) and "Cancel" in _row(
        html, "data-run-id", "manual__q1"
    )
    promo = _row(html, "data-pool", "listings_promotion")
    assert re.search(r'data-count="slots">1<', promo) and re.search(r'data-count="occupied">1<', promo)
    assert re.search(r'data-count="queued">2<', promo) and "DMO 501 (501)" in promo
    (dags_call,) = fake_airflow.calls("GET", "/api/v2/dags")
    assert dags_call["query"]["dag_id_pattern"] == ["dmo_"]
    (runs_call,) = fake_airflow.calls("GET", "/api/v2/dags/~/dagRuns")
    assert sorted(runs_call["query"]["state"]) == ["queued", "running"]

    # A viewer's POSTs are refused before any request reaches Airflow.
    before = len(fake_airflow.requests)
    for path, data in (
        ("/schedule/dmo_501_listings/pause", None),
        ("/schedule/dmo_502_listings/resume", None),
        ("/schedule/dmo_501_listings/run", None),
        ("/schedule/runs/cancel", {"dag_id": "dmo_501_listings", "run_id": "manual__q1"}),
    ):
        answer = viewer().post(PREFIX + path, data=data)
        assert answer.status_code == 403 and "vera has the viewer role" in answer.text
    assert len(fake_airflow.requests) == before
    assert fake_airflow.dags["dmo_501_listings"]["is_paused"] is False
    assert fake_airflow.runs[0]["state"] == "queued"

    # Pause and resume: one PATCH each with {"is_paused": ...}.
    done = user().post(f"{PREFIX}/schedule/dmo_501_listings/pause", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{PREFIX}/schedule"
    assert [c["body"] for c in fake_airflow.calls("PATCH", "/api/v2/dags/dmo_501_listings")] == [
        {"is_paused": True}
    ]
    resumed = user().post(f"{PREFIX}/schedule/dmo_502_listings/resume")
    assert (
        resumed.status_code == 200 and "dmo_502_listings is running on its schedule (by uma)" in resumed.text
    )
    assert [c["body"] for c in fake_airflow.calls("PATCH", "/api/v2/dags/dmo_502_listings")] == [
        {"is_paused": False}
    ]
    html = resumed.text
    assert 'data-state="paused"' in _row(html, "data-dag-id", "dmo_501_listings")
    assert 'data-state="active"' in _row(html, "data-dag-id", "dmo_502_listings")

    # Run now: one trigger, no conf; a paused DAG's run waits (said so).
    ran = user().post(f"{PREFIX}/schedule/dmo_501_listings/run")
    assert "Triggered dmo_501_listings (run manual__6)" in ran.text and "The DAG is paused" in ran.text
    (trigger,) = fake_airflow.calls("POST", "/api/v2/dags/dmo_501_listings/dagRuns")
    assert trigger["body"]["conf"] == {} and trigger["body"]["logical_date"] is None
    assert "uma" in trigger["body"]["note"]

    # Cancel a queued run: PATCH state failed on that run only; a running run is left alone.
    cancelled = user().post(
        f"{PREFIX}/schedule/runs/cancel", data={"dag_id": "dmo_501_listings", "run_id": "manual__q1"}
    )
    assert "Cancelled 1 queued run of dmo_501_listings" in cancelled.text
    (patch,) = fake_airflow.calls("PATCH", "/api/v2/dags/dmo_501_listings/dagRuns/manual__q1")
    assert patch["body"]["state"] == "failed" and "uma" in patch["body"]["note"]
    assert [r["state"] for r in fake_airflow.runs[:3]] == ["failed", "queued", "running"]
    assert 'data-run-id="manual__q1"' not in cancelled.text
    running = user().post(
        f"{PREFIX}/schedule/runs/cancel", data={"dag_id": "dmo_501_listings", "run_id": run_id}
    )
    assert "Cancelled 0 queued runs" in running.text and "1 no longer queued, left alone" in running.text
    assert fake_airflow.calls("PATCH", f"/api/v2/dags/dmo_501_listings/dagRuns/{run_id}") == []

    # Bad input: 400, nothing asked of Airflow.
    before = len(fake_airflow.requests)
    bad = user().post(f"{PREFIX}/schedule/not_a_dmo/pause")
    assert bad.status_code == 400 and "is not a DMO DAG id" in bad.text
    assert user().post(f"{PREFIX}/schedule/dmo_999_listings/run").status_code == 400
    nothing = user().post(f"{PREFIX}/schedule/runs/cancel", data={"dag_id": "dmo_501_listings"})
    assert nothing.status_code == 400 and "Choose at least one queued run" in nothing.text
    assert [r for r in fake_airflow.requests[before:] if r["method"] != "GET"] == []

    # The functions the DMO config dialog uses.
    queued = queued_runs("dmo_501_listings")
    assert [r["run_id"] for r in queued] == ["manual__q2", "manual__6"]
    assert queued[0]["queued_at"].isoformat() == "2030-01-01T11:00:00+00:00" and queued[0]["conf"] == {}
    assert queued_runs("dmo_999_listings") == []  # Airflow has no such DAG
    assert cancel_queued_runs("dmo_501_listings", ["manual__q2", "nope"], user="otto") == 1
    assert cancel_queued_runs("dmo_501_listings", user="otto") == 1
    assert queued_runs("dmo_501_listings") == []
    assert fake_airflow.states("dmo_501_listings") == ["failed", "failed", "running", "failed"]


def test_airflow_api_errors_read_well(fake_airflow: FakeAirflow, monkeypatch: pytest.MonkeyPatch) -> None:
    from listings.airflow_api import AirflowApi, AirflowApiError, AirflowNotConfigured, queued_runs
    from listings.settings import get_settings

    monkeypatch.delenv("LISTINGS_AIRFLOW_API_URL", raising=False)
    get_settings.cache_clear()
    with pytest.raises(AirflowNotConfigured, match="No Airflow API is configured"):
        queued_runs("dmo_1_listings")
    with pytest.raises(AirflowApiError, match="refused the credentials"):
        AirflowApi(fake_airflow.url, "ops", "wrong").dags()
    api = AirflowApi(fake_airflow.url, "ops", "pw")
    with pytest.raises(AirflowApiError, match="Airflow has no DAG dmo_9_listings") as err:
        api.set_paused("dmo_9_listings", True)
    assert err.value.status == 404
    with pytest.raises(AirflowApiError, match="unknown run state"):
        api.runs(states=("bogus",))
    # The token is asked for once, then reused.
    api.dags()
    api.pools()
    assert [r["path"] for r in fake_airflow.requests].count("/auth/token") == 2  # the refused one, then one
    get_settings.cache_clear()


# ------------------------------------------------------------------------------------------------
# Job page: re-run from a step
# ------------------------------------------------------------------------------------------------


def test_the_dag_tasks_are_the_dag_factorys() -> None:
    source = (Path(__file__).parents[2] / "include/listings/orchestration/dag_factory.py").read_text()
    assert tuple(re.findall(r"@task[^\n]*\n\s+def (\w+)\(", source)) == DAG_TASKS


def test_rerun_from_a_step_clears_that_task_and_downstream(
    client_as: Callable[..., Any],
    engine: Engine,
    tmp_path: Path,
    fake_airflow: FakeAirflow,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with engine.begin() as conn:
        apply_config(conn, csv_config(501, HEADER, images={"enabled": False}))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(JobFailed) as err:
        run_job(501, file=empty)
    job_id = err.value.job_id
    cli = run_job(501, file=_upload(tmp_path, [OLIMPICO], "ok.csv"))["job_id"]
    with engine.begin() as conn:  # as the DAG's snapshot_config task records an Airflow run
        conn.exec_driver_sql(
            f"update pipeline.jobs set trigger = 'airflow', run_id = 'manual__2030-01-01T00:00:00+00:00'"
            f" where id = {job_id}"
        )
    fake_airflow.add_dag("dmo_501_listings")
    use_airflow(monkeypatch, fake_airflow.url)

    def viewer() -> Any:  # client_as sets the app's user: call it before each request
        return client_as("viewer", "vera")

    def user() -> Any:
        return client_as("op", "otto")

    page = viewer().get(f"{PREFIX}/jobs/{job_id}").text
    assert "Re-run from step" in page
    options = re.findall(
        r'<option value="(\w+)"\s*(selected)?>', page.split('id="rerun-task"')[1].split("</select>")[0]
    )
    assert tuple(o for o, _ in options) == DAG_TASKS
    assert [o for o, s in options if s] == ["extract"]  # the step the job failed in
    assert "Re-run from step" not in viewer().get(f"{PREFIX}/jobs/{cli}").text  # not an Airflow run

    refused = viewer().post(f"{PREFIX}/jobs/{job_id}/rerun-from", data={"task_id": "transform"})
    assert refused.status_code == 403 and fake_airflow.requests == []

    client = user()  # one client: the flash cookie of the redirect shows on the next page
    done = client.post(
        f"{PREFIX}/jobs/{job_id}/rerun-from", data={"task_id": "transform"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"{PREFIX}/jobs/{job_id}"
    (clear,) = fake_airflow.calls("POST", "/api/v2/dags/dmo_501_listings/clearTaskInstances")
    assert clear["body"] == {
        "dry_run": False, "dag_run_id": "manual__2030-01-01T00:00:00+00:00", "task_ids": ["transform"],
        "include_downstream": True, "include_upstream": False, "only_failed": False, "reset_dag_runs": True,
        "note": "re-run from transform by otto (listings admin)",
    }  # fmt: skip
    shown = client.get(f"{PREFIX}/jobs/{job_id}").text
    assert (
        "Re-running dmo_501_listings run manual__2030-01-01T00:00:00+00:00 from transform: transform, stage"
        in shown
    )

    before = len(fake_airflow.requests)
    bad = user().post(f"{PREFIX}/jobs/{job_id}/rerun-from", data={"task_id": "drop_tables"})
    assert bad.status_code == 400 and "Choose the step to re-run from" in bad.text
    not_airflow = user().post(f"{PREFIX}/jobs/{cli}/rerun-from", data={"task_id": "extract"})
    assert "was not run by Airflow" in not_airflow.text
    with engine.begin() as conn:
        conn.exec_driver_sql(f"update pipeline.jobs set status = 'in_progress' where id = {job_id}")
    running = user().post(f"{PREFIX}/jobs/{job_id}/rerun-from", data={"task_id": "extract"})
    assert "is in_progress: re-run a step once the run has finished" in running.text
    assert user().post(f"{PREFIX}/jobs/999999/rerun-from", data={"task_id": "extract"}).status_code == 404
    assert len(fake_airflow.requests) == before


# ------------------------------------------------------------------------------------------------
# Job page: ignore a record
# ------------------------------------------------------------------------------------------------


def _error_rate(engine: Engine, dmo_id: int) -> float | None:
    from listings.admin.dmos import dmo_list

    with engine.connect() as conn:
        return next(r["error_rate"] for r in dmo_list(conn) if r["dmo_id"] == dmo_id)


def _csv_ids(text: str) -> list[int]:
    return [int(r["error_id"]) for r in csv.DictReader(io.StringIO(text))]


def test_ignore_record_errors(client_as: Callable[..., Any], engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        apply_config(conn, csv_config(504, HEADER, images={"enabled": False}))
    rows = [OLIMPICO, GERMAIN, _bad("x1"), _bad("x2"), _bad("x3")]
    job = run_job(504, file=_upload(tmp_path, rows, "504.csv"))
    assert job["status"] == "partial"
    job_id = job["job_id"]
    e1, e2, e3 = (
        r[0]
        for r in q(
            engine, "select id from pipeline.job_errors where job_id = :j order by record_no", j=job_id
        )
    )
    assert _error_rate(engine, 504) == pytest.approx(3 / 5)

    def viewer() -> Any:  # client_as sets the app's user: call it before each request
        return client_as("viewer", "vera")

    def user() -> Any:
        return client_as("user", "uma")

    ignore, unignore = f"{PREFIX}/jobs/{job_id}/errors/ignore", f"{PREFIX}/jobs/{job_id}/errors/unignore"

    def ignored() -> list[tuple[int, str | None, str | None]]:
        return [
            tuple(r)
            for r in q(
                engine,
                "select id, ignored_by, ignore_reason from pipeline.job_errors"
                " where job_id = :j and ignored_at is not null order by id",
                j=job_id,
            )
        ]

    # A viewer may not; a missing reason or no error chosen is refused with a message by the field.
    assert "Ignore selected" not in viewer().get(f"{PREFIX}/jobs/{job_id}").text
    refused = viewer().post(ignore, data={"reason": "x", "error_id": [str(e1)]})
    assert refused.status_code == 403 and ignored() == []
    no_reason = user().post(ignore, data={"reason": "  ", "error_id": [str(e1), str(e2)]})
    assert no_reason.status_code == 400 and 'id="ignore-error"' in no_reason.text
    assert "Give a reason for ignoring" in no_reason.text and ignored() == []
    assert no_reason.text.count("checked") == 2  # the choice survives the refusal
    nothing = user().post(ignore, data={"reason": "why"})
    assert nothing.status_code == 400 and "Choose at least one record error" in nothing.text
    assert user().post(ignore, data={"reason": "x" * 501, "one": str(e1)}).status_code == 400
    assert user().post(ignore, data={"reason": "why", "one": "abc"}).status_code == 400
    assert ignored() == []

    # Ignore two in bulk: recorded with who and why; the page strikes them through and filters them.
    client = user()  # one client: the flash cookie of the redirect shows on the next page
    done = client.post(
        ignore, data={"reason": "test rows", "error_id": [str(e1), str(e2)]}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"{PREFIX}/jobs/{job_id}#errors"
    assert ignored() == [(e1, "uma", "test rows"), (e2, "uma", "test rows")]
    page = client.get(f"{PREFIX}/jobs/{job_id}").text
    assert "Ignored 2 record errors (by uma): test rows" in page
    assert "Record errors (3, 2 ignored)" in page
    assert f'href="{PREFIX}/jobs/{job_id}/errors.csv"' in page  # the log: open errors
    assert f'href="{PREFIX}/jobs/{job_id}/errors.csv?errors=all"' in page and "with the 2 ignored" in page
    for e in (e1, e2):
        row = _row(page, "data-error-id", str(e))
        assert (
            'class="ignored"' in row and "ignored by uma" in row and "test rows" in row and "Un-ignore" in row
        )
    assert 'class="ignored"' not in _row(page, "data-error-id", str(e3))

    def shown(errors: str) -> list[int]:
        html = viewer().get(f"{PREFIX}/jobs/{job_id}", params={"errors": errors}).text
        return [int(i) for i in re.findall(r'data-error-id="(\d+)"', html)]

    assert (shown("open"), shown("ignored"), shown("all")) == ([e3], [e1, e2], [e1, e2, e3])
    assert viewer().get(f"{PREFIX}/jobs/{job_id}", params={"errors": "bogus"}).status_code == 400
    partial = viewer().get(
        f"{PREFIX}/jobs/{job_id}",
        params={"errors": "open"},
        headers={"HX-Request": "true", "HX-Target": "errors-list"},
    )
    assert partial.text.lstrip().startswith('<section id="errors-list"') and "open (1)" in partial.text

    # The CSV log leaves them out unless asked; the DMO's error rate no longer counts them.
    log = viewer().get(f"{PREFIX}/jobs/{job_id}/errors.csv")
    assert log.status_code == 200 and _csv_ids(log.text) == [e3]
    every = list(
        csv.DictReader(io.StringIO(viewer().get(f"{PREFIX}/jobs/{job_id}/errors.csv?errors=all").text))
    )
    assert [int(r["error_id"]) for r in every] == [e1, e2, e3]
    assert (
        every[0]["ignored_by"] == "uma"
        and every[0]["ignore_reason"] == "test rows"
        and every[2]["ignored_at"] == ""
    )
    assert _csv_ids(viewer().get(f"{PREFIX}/jobs/{job_id}/errors.csv?errors=ignored").text) == [e1, e2]
    assert viewer().get(f"{PREFIX}/jobs/{job_id}/errors.csv?errors=nope").status_code == 400
    assert _error_rate(engine, 504) == pytest.approx(1 / 5)

    # One at a time, un-ignore, and "every open one"; an id of another job is left alone.
    user().post(unignore, data={"one": str(e1), "errors": "ignored"})
    assert ignored() == [(e2, "uma", "test rows")] and _error_rate(engine, 504) == pytest.approx(2 / 5)
    other = run_job(504, file=_upload(tmp_path, [OLIMPICO, _bad("y1")], "504b.csv"))["job_id"]
    (foreign,) = q(engine, "select id from pipeline.job_errors where job_id = :j", j=other)[0]
    moved = user().post(ignore, data={"reason": "not mine", "one": str(foreign)})
    assert "Ignored 0 record errors" in moved.text
    assert q(engine, "select ignored_at from pipeline.job_errors where id = :e", e=foreign)[0][0] is None
    user().post(ignore, data={"reason": "known issue", "all_open": "1"})
    assert ignored() == [(e1, "uma", "known issue"), (e2, "uma", "test rows"), (e3, "uma", "known issue")]
    assert _csv_ids(viewer().get(f"{PREFIX}/jobs/{job_id}/errors.csv").text) == []
