"""The admin UI's health page: the SVG chart helper (unit tests: values map to coordinates, gaps, the empty
state, escaping), the per-day series against real PostgreSQL and real pipeline runs of CSV DMOs (plus
geotag usage and review items written as the pipeline writes them), the page itself, and the alerts
(a failed job, a duplicates spike, a geotag budget nearly spent), each shown above its threshold and not
below it."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PREFIX
from dmo_helpers import csv_config, q
from sqlalchemy import Connection, Engine, text

from listings.admin import charts, health
from listings.admin.queries import QueryError
from listings.config.store import apply_config
from listings.pipeline.runner import JobFailed, run_job
from listings.settings import Settings

NS = {"s": "http://www.w3.org/2000/svg"}
HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Lat", "Lng"]
# fmt: off
OLIMPICO = ["a", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"]
GERMAIN = ["b", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"]
NO_NAME = ["x9", "   ", "Bar", "1 rue Nulle", "Laval", "H7N 1A1", "", "", ""]
# fmt: on


# ------------------------------------------------------------------------------------------------
# The SVG chart helper
# ------------------------------------------------------------------------------------------------


def _bars(svg: str) -> list[dict[str, float | str]]:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    return [
        {
            "series": r.get("data-series", ""),
            "label": r.get("data-label", ""),
            "value": float(r.get("data-value", "nan")),
            "x": float(r.get("x", "nan")),
            "y": float(r.get("y", "nan")),
            "width": float(r.get("width", "nan")),
            "height": float(r.get("height", "nan")),
        }
        for r in root.iterfind(".//s:rect[@class='bar']", NS)
    ]


def test_bar_values_map_to_coordinates() -> None:
    f = charts.Frame()
    assert (f.plot_width, f.plot_height, f.baseline) == (564.0, 164.0, 194.0)
    svg = charts.bar_chart(["11-01", "11-02"], {"jobs": [5, 10]}, title="Jobs per day")
    b5, b10 = _bars(svg)
    # the axis ends at nice_max(10) = 10: the 10 reaches the top of the plot, the 5 half of it
    assert (b10["y"], b10["height"]) == (f.top, f.plot_height)
    assert (b5["y"], b5["height"]) == (f.baseline - 82, 82)
    band = f.plot_width / 2
    assert b5["width"] == pytest.approx(band * charts.BAR_FILL, abs=0.01)
    assert b5["x"] == pytest.approx(f.left + (band - band * charts.BAR_FILL) / 2, abs=0.01)
    assert b10["x"] == pytest.approx(b5["x"] + band, abs=0.01)
    assert (b5["label"], b5["value"], b10["label"]) == ("11-01", 5, "11-02")
    assert "<title>11-02 · jobs: 10</title>" in svg and 'aria-label="Jobs per day"' in svg
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]*)</text>', svg)
    assert ticks == ["0", "5", "10"]


def test_stacked_and_side_by_side_bars() -> None:
    f = charts.Frame()
    a, b = _bars(charts.bar_chart(["d"], {"a": [1.5], "b": [3]}, title="t"))  # stacked: axis to 5
    assert (a["y"], a["height"]) == (pytest.approx(f.baseline - 1.5 / 5 * 164), pytest.approx(1.5 / 5 * 164))
    assert (b["y"], b["height"]) == (pytest.approx(f.baseline - 4.5 / 5 * 164), pytest.approx(3 / 5 * 164))
    assert a["x"] == b["x"] and a["y"] == pytest.approx(b["y"] + b["height"])
    c, d = _bars(charts.bar_chart(["d"], {"c": [4], "d": [7]}, title="t", stacked=False))  # counts: axis to 8
    assert c["width"] == d["width"] == pytest.approx(564 * charts.BAR_FILL / 2, abs=0.01)
    assert d["x"] == pytest.approx(c["x"] + c["width"], abs=0.01)
    assert (c["height"], d["height"]) == (pytest.approx(0.5 * 164), pytest.approx(7 / 8 * 164))
    # a zero draws no bar, a None counts as zero
    assert [x["label"] for x in _bars(charts.bar_chart(["a", "b", "c"], {"s": [0, 3, None]}, title="t"))] == [
        "b"
    ]


def test_line_points_and_gaps() -> None:
    f = charts.Frame()
    svg = charts.line_chart(["a", "b", "c", "d"], {"open": [0, 25, None, 50]}, title="Open items")
    root = ET.fromstring(svg)
    points = [(float(c.get("cx", "")), float(c.get("cy", ""))) for c in root.iterfind(".//s:circle", NS)]
    band = f.plot_width / 4
    assert points == [
        (pytest.approx(f.left + 0.5 * band), f.baseline),
        (pytest.approx(f.left + 1.5 * band), pytest.approx(f.baseline - 82)),
        (pytest.approx(f.left + 3.5 * band), f.top),
    ]
    (path,) = root.iterfind(".//s:path[@class='line']", NS)
    moves = re.findall(r"([ML])[\d.]+,[\d.]+", path.get("d", ""))
    assert moves == ["M", "L", "M"]  # None leaves a gap: the line starts again after it


def test_empty_series_render_the_empty_state() -> None:
    for svg in (
        charts.bar_chart([], {}, title="Jobs"),
        charts.bar_chart(["a", "b"], {"jobs": [0, 0], "x": [None, 0]}, title="Jobs"),
        charts.line_chart(["a"], {"cost": [None]}, title="Cost"),
    ):
        root = ET.fromstring(svg)
        assert "chart-empty" in root.get("class", "")
        assert charts.EMPTY_MESSAGE in svg and not _bars(svg) and "<circle" not in svg
    custom = charts.line_chart(["a"], {"x": [0]}, title="T", empty_message="Nothing yet")
    assert "Nothing yet" in custom


def test_chart_text_is_escaped_and_lengths_checked() -> None:
    svg = charts.bar_chart(["<b>&"], {'x"<y>': [1]}, title="A <script>alert(1)</script>")
    ET.fromstring(svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;&amp;" in svg
    with pytest.raises(ValueError, match="2 values for 1 labels"):
        charts.bar_chart(["a"], {"x": [1, 2]}, title="t")


@pytest.mark.parametrize(
    ("value", "integers", "expected"),
    [
        (0, False, 1), (-3, False, 1), (1, False, 1), (7, False, 10), (10, False, 10), (11, False, 20),
        (0.3, False, 0.5), (240, False, 250), (2500, False, 2500), (3001, False, 5000),
        # counts: the middle tick is a whole number
        (0, True, 2), (1, True, 2), (3, True, 4), (5, True, 6), (10, True, 10), (11, True, 20), (240, True, 500),
    ],
)  # fmt: skip
def test_nice_max(value: float, integers: bool, expected: float) -> None:
    assert charts.nice_max(value, integers=integers) == pytest.approx(expected)


def test_formats() -> None:
    assert charts.fmt_bytes(512) == "512 B" and charts.fmt_bytes(1536) == "1.5 KB"
    assert charts.fmt_bytes(300 * 1024 * 1024) == "300 MB"
    assert charts.fmt_count(1234) == "1,234" and charts.fmt_count(25_000) == "25k"
    assert (
        charts.fmt_pct(33.333) == "33%" and charts.fmt_pct(2.5) == "2.5%" and charts.fmt_usd(1.5) == "$1.50"
    )


# ------------------------------------------------------------------------------------------------
# Series and the page
# ------------------------------------------------------------------------------------------------


def _upload(tmp_path: Path, rows: Sequence[Sequence[str]], name: str) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _failed_job(tmp_path: Path, dmo_id: int) -> int:
    empty = tmp_path / f"empty-{dmo_id}.csv"
    empty.write_bytes(b"")
    with pytest.raises(JobFailed) as err:
        run_job(dmo_id, file=empty)
    return err.value.job_id


def _at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour))


def _review_item(
    conn: Connection, created: datetime, *, status: str = "open", resolved: datetime | None = None
) -> None:
    conn.execute(
        text(
            "insert into pipeline.review_items (item_type, status, created_at, resolved_at)"
            " values ('low_confidence_match', :s, :c, :r)"
        ),
        {"s": status, "c": created, "r": resolved},
    )


def _usage(
    conn: Connection, day: date, calls: int, *, job_id: int | None = None, cache_hits: int = 0
) -> None:
    conn.execute(
        text(
            "insert into pipeline.api_usage (provider, day, job_id, calls, cache_hits)"
            " values ('google_places', :d, :j, :c, :h)"
        ),
        {"d": day, "j": job_id, "c": calls, "h": cache_hits},
    )


def test_series_from_real_runs_and_the_page(
    client_as: Callable[..., Any], engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        apply_config(conn, csv_config(601, HEADER, images={"enabled": False}))
        apply_config(conn, csv_config(602, HEADER, images={"enabled": False}))
    partial = run_job(601, file=_upload(tmp_path, [OLIMPICO, GERMAIN, NO_NAME], "601.csv"))
    ok = run_job(602, file=_upload(tmp_path, [OLIMPICO], "602.csv"))
    failed = _failed_job(tmp_path, 601)
    assert (partial["status"], ok["status"]) == ("partial", "succeeded")
    today = health.utc_now().date()
    with engine.begin() as conn:
        _usage(conn, today, 4, job_id=ok["job_id"], cache_hits=2)
        _usage(conn, today - timedelta(days=1), 3)  # calls outside a job (a config preview)
        _review_item(conn, _at(today - timedelta(days=10)))  # open all along
        _review_item(
            conn, _at(today - timedelta(days=3)), status="resolved", resolved=_at(today - timedelta(days=1))
        )
        _review_item(
            conn, _at(today - timedelta(days=40)), status="resolved", resolved=_at(today - timedelta(days=35))
        )
        _review_item(conn, _at(today - timedelta(days=2)), status="dismissed")  # closed, no resolved_at
        conn.execute(  # a promotion a quality gate stopped (test_promotion_safety makes real ones); the
            text(  # row holds source values (a listing's name)
                "insert into pipeline.job_errors (job_id, stage, record_id, error_type, error_message)"
                " values (:j, 'promote', '7', 'quality_gate', 'gate_x: listing_id 7, name <script>x()</script>')"
            ),
            {"j": failed},
        )

    with engine.connect() as conn:
        r = health.report(conn, days=7, today=today)
    assert (
        r.window.days[0] == today - timedelta(days=6)
        and r.window.days[-1] == today
        and len(r.window.labels) == 7
    )
    assert {g: v[-1] for g, v in r.jobs.values.items()} == {
        "succeeded": 1,
        "partial": 1,
        "failed": 1,
        "other": 0,
    }
    assert all(v[:-1] == [0] * 6 for v in r.jobs.values.values())
    results = q(engine, "select * from pipeline.job_results")
    assert r.records.values["records"][-1] == sum(x.records_total for x in results)
    for outcome in health.OUTCOMES:
        assert r.outcomes.values[outcome][-1] == sum(getattr(x, f"records_{outcome}") or 0 for x in results)
    # new listings: two from DMO 601; DMO 602's café joined DMO 601's listing (matched)
    assert r.outcomes.values["new"][-1] == 2 and r.outcomes.values["error"][-1] >= 1
    assert r.error_rate.values["failed jobs %"][-1] == pytest.approx(33.33)
    assert r.error_rate.values["failed jobs %"][:-1] == [None] * 6  # no job: no rate, a gap
    errors, total = r.outcomes.values["error"][-1], r.records.values["records"][-1]
    assert r.error_rate.values["record errors %"][-1] == pytest.approx(round(100 * errors / total, 2))
    assert r.geotag.values["calls"][-2:] == [3, 4] and r.geotag.values["cache_hits"][-1] == 2
    assert r.geotag.values["cost"][-1] == pytest.approx(4 * health.DEFAULT_COST_PER_CALL_USD)
    assert [(g["dmo_id"], g["calls"]) for g in r.geotag_by_dmo] == [(602, 4)]
    ((stored,),) = q(engine, "select sum(file_size) from pipeline.job_files")
    assert r.storage.values["data files"][-1] == stored and r.storage.values["cumulative"][-1] == stored
    assert r.storage.values["images"] == [0] * 7
    assert r.review.values["open"] == [1, 1, 1, 2, 2, 1, 1]  # the resolved one counted from day -3 to day -2
    assert [(g["job_id"], g["gate"], g["n"], g["promoted"]) for g in r.gate_stops] == [
        (failed, "gate_x", 1, False)
    ]

    client = client_as("viewer")
    page = client.get(PREFIX + "/health", params={"days": 7})
    assert page.status_code == 200, page.text
    html = page.text
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') == 9
    assert "cdn" not in html.lower() and re.findall(r"<script\b[^>]*>", html) == [
        f'<script src="{PREFIX}/static/{js}" defer>' for js in ("htmx.min.js", "admin.js")
    ]  # the app's own files only
    assert f'data-alert="job_failed" data-severity="critical" data-job-id="{failed}"' in html
    assert f'href="{PREFIX}/jobs/{failed}"' in html
    assert f'<tr data-job-id="{failed}" data-gate="gate_x">' in html
    assert "listing_id 7, name &lt;script&gt;x()&lt;/script&gt;" in html  # (and no script: checked above)
    assert 'data-series="succeeded"' in html and 'data-series="calls"' in html and "DMO 602" in html
    assert client.get(PREFIX + "/health").status_code == 200  # 30 days by default
    for bad in ("0", "367", "a week"):
        refused = client.get(PREFIX + "/health", params={"days": bad})
        assert refused.status_code == 400 and "days must be" in refused.text
    with engine.connect() as conn, pytest.raises(QueryError):
        health.report(conn, days=0)


def test_an_empty_database_shows_empty_charts_and_no_alert(
    client_as: Callable[..., Any], engine: Engine
) -> None:
    page = client_as("viewer").get(PREFIX + "/health")
    assert page.status_code == 200, page.text
    assert page.text.count(f">{charts.EMPTY_MESSAGE}</text>") == 9 and "No alert" in page.text
    assert "No promotion was stopped by a quality gate" in page.text


# ------------------------------------------------------------------------------------------------
# Alerts
# ------------------------------------------------------------------------------------------------


def _job(conn: Connection, dmo_id: int, created: datetime, *, status: str = "succeeded", total: int = 0,
         duplicates: int = 0) -> int:  # fmt: skip
    job_id = int(
        conn.execute(
            text(
                "insert into pipeline.jobs (dmo_id, data_domain, status, trigger, dag_id, run_id, created_at,"
                " started_at, finished_at) values (:d, 'listings', :s, 'cli', :dag, :run, :c, :c, :c) returning id"
            ),
            {
                "d": dmo_id,
                "s": status,
                "dag": f"dmo_{dmo_id}_listings",
                "run": f"test__{created.isoformat()}",
                "c": created,
            },
        ).scalar_one()
    )
    if total:
        conn.execute(
            text(
                "insert into pipeline.job_results (job_id, records_total, records_duplicates, records_new)"
                " values (:j, :t, :d, :n)"
            ),
            {"j": job_id, "t": total, "d": duplicates, "n": total - duplicates},
        )
    return job_id


def _kinds(alerts: list[health.Alert]) -> set[tuple[str, int | None]]:
    return {(a.kind, a.job_id) for a in alerts}


def test_alerts_above_and_below_their_thresholds(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        for dmo in (701, 702, 703, 704, 705):
            apply_config(conn, csv_config(dmo, HEADER, images={"enabled": False}))
    quiet = Settings(geocode_day_budget=100, geocode_run_budget=1000)
    failed = _failed_job(tmp_path, 701)  # a real failed run
    now = health.utc_now()

    with engine.connect() as conn:
        found = health.alerts(conn, now=now, settings=quiet)
        (alert,) = [a for a in found if a.kind == "job_failed"]
        assert (alert.job_id, alert.severity, alert.link, alert.dmo_id) == (
            failed,
            "critical",
            f"/jobs/{failed}",
            701,
        )
        assert "extract" in alert.detail or "empty" in alert.detail
        # a day later it is no longer news
        assert not [
            a
            for a in health.alerts(conn, now=now + timedelta(hours=25), settings=quiet)
            if a.kind == "job_failed"
        ]

    with engine.begin() as conn:
        _job(conn, 701, now + timedelta(minutes=1))  # the DMO ran fine afterwards
        history = [now - timedelta(days=d) for d in (5, 4, 3)]
        for dmo in (702, 703):
            for at in history:
                _job(conn, dmo, at, total=100, duplicates=2)  # a 2% median
        spike = _job(conn, 702, now - timedelta(hours=1), total=100, duplicates=10)  # 10% > 3 x 2%
        calm = _job(conn, 703, now - timedelta(hours=1), total=100, duplicates=5)  # 5% < 6%
        absolute = _job(conn, 704, now - timedelta(hours=2), total=100, duplicates=25)  # no history, > 20%
        fresh = _job(conn, 705, now - timedelta(hours=2), total=100, duplicates=15)  # no history, < 20%

    with engine.connect() as conn:
        found = health.alerts(conn, now=now + timedelta(minutes=2), settings=quiet)
    by_job = {a.job_id: a for a in found}
    assert by_job[failed].severity == "warning" and "later run" in by_job[failed].detail
    assert {("duplicates_spike", spike), ("duplicates_spike", absolute)} <= _kinds(found)
    assert not {("duplicates_spike", calm), ("duplicates_spike", fresh)} & _kinds(found)
    assert (
        "10 of 100 records (10.0%)" in by_job[spike].detail
        and "median over its last 3 jobs is 2.0%" in by_job[spike].detail
    )
    assert by_job[spike].link == f"/jobs/{spike}" and by_job[spike].severity == "warning"
    assert not [a for a in found if a.kind == "geotag_budget"]

    # geotag: today's calls against the day budget (85%: an alert; 79%: none), a job's against the run budget
    with engine.begin() as conn:
        _usage(conn, now.date(), 85)
    with engine.connect() as conn:
        (budget,) = [a for a in health.alerts(conn, now=now, settings=quiet) if a.kind == "geotag_budget"]
    assert budget.severity == "warning" and "85%" in budget.title and "85 of 100 calls" in budget.detail
    assert budget.link == "/health#geotag"
    with engine.begin() as conn:
        conn.execute(text("update pipeline.api_usage set calls = 79 where job_id is null"))
        _usage(conn, now.date(), 17, job_id=spike)
    with engine.connect() as conn:
        assert not [
            a
            for a in health.alerts(conn, now=now, settings=Settings(geocode_day_budget=200))
            if a.kind == "geotag_budget"
        ]
        tight = Settings(geocode_day_budget=1000, geocode_run_budget=20)
        (per_run,) = [a for a in health.alerts(conn, now=now, settings=tight) if a.kind == "geotag_budget"]
        assert (per_run.job_id, per_run.link) == (
            spike,
            f"/jobs/{spike}",
        ) and "17 of 20 calls" in per_run.detail
        assert not [
            a
            for a in health.alerts(
                conn, now=now, settings=Settings(geocode_day_budget=1000, geocode_run_budget=22)
            )
            if a.kind == "geotag_budget"
        ]
        over = health.alerts(conn, now=now, settings=Settings(geocode_day_budget=90, geocode_run_budget=1000))
    (spent,) = [a for a in over if a.kind == "geotag_budget"]
    assert spent.severity == "critical" and "107%" in spent.title  # 79 + 17 of 90
    assert [a.severity for a in over] == sorted((a.severity for a in over), key=health.SEVERITIES.index)
