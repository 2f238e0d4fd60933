"""The admin UI's jobs pages against real PostgreSQL (jobs made by `run_job` on CSV DMOs), through FastAPI's
TestClient as in test_admin_app.py (Airflow's own read check, one fake user per role), and a fake Airflow
REST server (fake_airflow.py) that records the DAG runs the actions trigger.

Covered: the dashboard (counts, filters by DMO / status / dates, paging, htmx partial), one job (files,
steps, results, config snapshot, record errors with the original record), the CSV error log, "run now" and
"run again" triggering exactly one DAG run each with the right dag_id and conf, the answer when no Airflow
API is configured, and a viewer's POST refused with nothing triggered."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PREFIX
from dmo_helpers import csv_config, q
from fake_airflow import FakeAirflow, use_airflow
from sqlalchemy import Engine

from listings.admin.jobs import CSV_COLUMNS
from listings.config.store import apply_config
from listings.pipeline.runner import JobFailed, run_job

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Lat", "Lng"]
# fmt: off
OLIMPICO = ["a", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"]
GERMAIN = ["b", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"]
NO_NAME = ["x9", "   ", "Bar", "1 rue Nulle", "Laval", "H7N 1A1", "", "", ""]
# fmt: on


def _upload(tmp_path: Path, rows: Sequence[Sequence[str]], name: str) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _failed_job(tmp_path: Path, dmo_id: int) -> tuple[int, Path]:
    empty = tmp_path / f"empty-{dmo_id}.csv"
    empty.write_bytes(b"")
    with pytest.raises(JobFailed) as err:
        run_job(dmo_id, file=empty)
    return err.value.job_id, empty


def _job_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-job-id="(\d+)"', html)]


def test_dashboard_detail_and_error_log(
    client_as: Callable[..., Any],
    engine: Engine,
    tmp_path: Path,
) -> None:
    with engine.begin() as conn:
        apply_config(conn, csv_config(301, HEADER, images={"enabled": False}))
        apply_config(conn, csv_config(302, HEADER, images={"enabled": False}))
    partial = run_job(301, file=_upload(tmp_path, [OLIMPICO, GERMAIN, NO_NAME], "301.csv"))
    ok = run_job(302, file=_upload(tmp_path, [OLIMPICO], "302.csv"))
    failed, _ = _failed_job(tmp_path, 301)
    assert (partial["status"], ok["status"]) == ("partial", "succeeded")
    p_id, ok_id = partial["job_id"], ok["job_id"]

    client = client_as("viewer")
    page = client.get(PREFIX + "/jobs")
    assert page.status_code == 200, page.text
    html = page.text
    assert _job_ids(html) == [failed, ok_id, p_id]  # newest first
    assert "DMO 301" in html and "DMO 302" in html and 'aria-current="page">Jobs<' in html
    row = html.split(f'data-job-id="{p_id}"')[1].split("</tr>")[0]
    assert 'data-status="partial"' in row
    assert re.search(r'data-count="records_total">3<', row) and re.search(r'data-count="records_new">2<', row)
    assert re.search(r'data-count="records_error">1<', row) and re.search(r'data-count="error_rows">.*1', row)

    def ids(**params: Any) -> list[int]:
        response = client.get(PREFIX + "/jobs", params=params)
        assert response.status_code == 200, response.text
        return _job_ids(response.text)

    (day,) = q(engine, "select distinct created_at::date from pipeline.jobs")[0]
    assert ids(dmo_id=301) == [failed, p_id]
    assert ids(status="failed") == [failed]
    assert ids(dmo_id=301, status="succeeded") == []
    assert ids(start=day.isoformat(), end=day.isoformat()) == [failed, ok_id, p_id]
    assert ids(start=(day + timedelta(days=1)).isoformat()) == []
    assert ids(end=(day - timedelta(days=1)).isoformat()) == []
    assert ids(per_page=1) == [failed]
    second = client.get(PREFIX + "/jobs", params={"per_page": 1, "page": 2})
    assert _job_ids(second.text) == [ok_id] and "Page 2 of 3" in second.text
    assert ids(per_page=1, page=9) == [p_id]  # clamped to the last page
    partial_page = client.get(
        PREFIX + "/jobs", params={"status": "partial"}, headers={"HX-Request": "true", "HX-Target": "results"}
    )
    assert _job_ids(partial_page.text) == [p_id] and "<html" not in partial_page.text
    assert client.get(PREFIX + "/jobs", params={"start": "yesterday"}).status_code == 400
    assert client.get(PREFIX + "/jobs", params={"status": "nope"}).status_code == 400

    # One job: files raw -> transformed, steps, results, config snapshot, errors with the original record
    detail = client.get(f"{PREFIX}/jobs/{p_id}")
    assert detail.status_code == 200, detail.text
    html = detail.text
    stages = re.findall(r'data-stage="(raw|transformed)"', html)
    assert stages == ["raw", "transformed"]
    files = q(engine, "select s3_path, sha256 from pipeline.job_files where job_id = :j order by id", j=p_id)
    assert all(f.s3_path in html and f.sha256[:12] in html for f in files)
    steps = dict(re.findall(r'data-step="(\w+)">.*?data-state="([\w ]+)"', html, re.S))
    assert steps == {
        "extract": "done", "transform": "done", "stage": "done", "images": "skipped", "match": "done",
        "promote": "done", "finalize": "done",
    }  # fmt: skip
    assert re.search(r'data-count="records_new">2<', html)
    assert re.search(r'data-count="records_error">1<', html)
    assert "source_type: csv" in html and "name: DMO 301" in html  # the YAML snapshot
    assert 'data-error-type="missing_field"' in html and "Laval" in html and "x9" in html
    assert f'href="{PREFIX}/jobs/{p_id}/errors.csv"' in html
    assert "Run again" in html and "disabled" in html  # a viewer sees the buttons disabled

    failed_html = client.get(f"{PREFIX}/jobs/{failed}").text
    steps = dict(re.findall(r'data-step="(\w+)">.*?data-state="([\w ]+)"', failed_html, re.S))
    assert steps["extract"] == "failed" and steps["transform"] == "not run"
    assert "empty" in failed_html.lower() and "No record error." in failed_html
    ok_html = client.get(f"{PREFIX}/jobs/{ok_id}").text
    assert "Run again" not in ok_html and "Run DMO 302 now" in ok_html
    assert client.get(f"{PREFIX}/jobs/999999").status_code == 404

    # The error log as CSV
    log = client.get(f"{PREFIX}/jobs/{p_id}/errors.csv")
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/csv")
    assert f"job-{p_id}-errors.csv" in log.headers["content-disposition"]
    (error,) = list(csv.DictReader(io.StringIO(log.text)))
    assert (error["job_id"], error["stage"], error["error_type"]) == (str(p_id), "transform", "missing_field")
    assert json.loads(error["original_record"])["City"] == "Laval" and error["file"].endswith(".gz")
    empty_log = client.get(f"{PREFIX}/jobs/{failed}/errors.csv")
    assert empty_log.text.splitlines() == [",".join(CSV_COLUMNS)]  # the header only
    assert client.get(f"{PREFIX}/jobs/999999/errors.csv").status_code == 404


def test_run_now_and_again_trigger_one_dag_run_and_a_viewer_triggers_nothing(
    client_as: Callable[..., Any],
    engine: Engine,
    tmp_path: Path,
    fake_airflow: FakeAirflow,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with engine.begin() as conn:
        apply_config(conn, csv_config(303, HEADER, images={"enabled": False}))
    fake_airflow.add_dag("dmo_303_listings")
    job_id, upload = _failed_job(tmp_path, 303)
    conf = {"file": str(upload.resolve())}

    # No Airflow API configured: a clear message, nothing triggered.
    user = client_as("user", "uma")
    answer = user.post(f"{PREFIX}/jobs/{job_id}/run-now")
    assert answer.status_code == 200 and "No Airflow API is configured" in answer.text
    assert fake_airflow.requests == []

    use_airflow(monkeypatch, fake_airflow.url)

    # A viewer's POST is refused and triggers nothing.
    viewer = client_as("viewer", "vera")
    for action in ("run-now", "run-again"):
        refused = viewer.post(f"{PREFIX}/jobs/{job_id}/{action}")
        assert refused.status_code == 403 and "vera has the viewer role" in refused.text
    assert fake_airflow.requests == [] and fake_airflow.triggered == []

    # Run now: exactly one DAG run of the DMO's DAG, with the job's params as conf.
    user = client_as("user", "uma")
    done = user.post(f"{PREFIX}/jobs/{job_id}/run-now", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{PREFIX}/jobs/{job_id}"
    assert len(fake_airflow.triggered) == 1
    dag_id, body = fake_airflow.triggered[0]
    assert dag_id == "dmo_303_listings"
    assert body["conf"] == conf and "logical_date" in body and body["logical_date"] is None
    assert "uma" in body["note"]
    shown = user.get(f"{PREFIX}/jobs/{job_id}")
    assert "Triggered dmo_303_listings (run manual__1)" in shown.text

    # Run again (the job failed): one more run, same DAG and conf.
    again = client_as("op", "otto").post(f"{PREFIX}/jobs/{job_id}/run-again")
    assert again.status_code == 200 and "Triggered dmo_303_listings (run manual__2)" in again.text
    assert fake_airflow.triggered[1] == (
        "dmo_303_listings",
        {**body, "note": fake_airflow.triggered[1][1]["note"]},
    )
    assert len(fake_airflow.calls("POST", "/api/v2/dags/dmo_303_listings/dagRuns")) == 2

    # A succeeded job is not "run again"; an unknown job is a 404; neither triggers anything.
    with engine.begin() as conn:
        conn.exec_driver_sql(f"update pipeline.jobs set status = 'succeeded' where id = {job_id}")
    refused_again = user.post(f"{PREFIX}/jobs/{job_id}/run-again")
    assert "only a failed or partial job is run again" in refused_again.text
    assert user.post(f"{PREFIX}/jobs/999999/run-now").status_code == 404
    assert len(fake_airflow.triggered) == 2


def test_the_error_log_csv_neutralises_spreadsheet_formulas(
    client_as: Callable[..., Any], engine: Engine, tmp_path: Path
) -> None:
    """A cell of the CSV export that starts with = + - @ (or a tab / carriage return) is
    what a spreadsheet runs as a formula; the export prefixes it with a quote. Ids stay plain numbers."""
    with engine.begin() as conn:
        apply_config(conn, csv_config(303, HEADER, images={"enabled": False}))
    formula_row = ["@SUM(1+1)", "   ", "Bar", "1 rue Nulle", "-2+3+cmd|' /C calc'!A0", "H7N 1A1", "", "", ""]
    job = run_job(303, file=_upload(tmp_path, [OLIMPICO, formula_row], "303.csv"))
    assert job["status"] == "partial"
    job_id = job["job_id"]
    ((error_id,),) = q(engine, "select id from pipeline.job_errors where job_id = :j", j=job_id)
    reason = '=HYPERLINK("http://x","y")'
    ignored = client_as("user", "uma").post(
        f"{PREFIX}/jobs/{job_id}/errors/ignore", data={"reason": reason, "one": str(error_id)}
    )
    assert ignored.status_code == 200, ignored.text
    assert q(engine, "select ignore_reason from pipeline.job_errors where id = :e", e=error_id) == [(reason,)]

    log = client_as("viewer").get(f"{PREFIX}/jobs/{job_id}/errors.csv", params={"errors": "all"})
    assert log.status_code == 200
    (row,) = list(csv.DictReader(io.StringIO(log.text)))
    assert row["ignore_reason"] == "'" + reason
    assert row["record_id"] == "row:2"
    assert (row["error_id"], row["job_id"]) == (str(error_id), str(job_id))  # numbers are left alone
    original = json.loads(row["original_record"])  # inside the JSON: no cell of its own, kept as sent
    assert (original["ID"], original["City"]) == ("@SUM(1+1)", "-2+3+cmd|' /C calc'!A0")
    for cell in row.values():
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
