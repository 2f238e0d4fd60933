"""The health page of the admin UI.

Routes (under the mount prefix):
    GET  /health                        alerts, then charts over the last ?days=30 (1..366) days: job
                                        throughput, error rate, records by outcome, geotag calls and
                                        estimated cost, storage growth, review-queue size; the
                                        promotions a quality gate stopped

The numbers are `listings.admin.health` (per-day aggregates over the pipeline tables), the charts
`listings.admin.charts` (inline SVG rendered here: no JavaScript, nothing from a CDN).
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from listings_admin.deps import Conn, OptionalInt
from listings_admin.rendering import BadRequest, render

router = APIRouter()

DAY_CHOICES = (7, 30, 90, 365)
OUTCOME_COLORS = {
    "new": "#12b76a",
    "updated": "#2e90fa",
    "unchanged": "#98a2b3",
    "deleted": "#f79009",
    "duplicates": "#9e77ed",
    "error": "#f04438",
}
JOB_COLORS = {"succeeded": "#12b76a", "partial": "#f79009", "failed": "#f04438", "other": "#98a2b3"}


def charts(report: Any) -> dict[str, str]:
    """The page's charts, as SVG text, by name."""
    from listings.admin import charts as c

    labels = report.window.labels
    return {
        "jobs": c.bar_chart(labels, report.jobs.values, title="Jobs per day", colors=JOB_COLORS),
        "records": c.bar_chart(labels, report.records.values, title="Records read per day"),
        "error_rate": c.line_chart(
            labels,
            report.error_rate.values,
            title="Error rate per day",
            fmt=c.fmt_pct,
            colors={"failed jobs %": "#f04438", "record errors %": "#f79009"},
        ),
        "outcomes": c.bar_chart(
            labels, report.outcomes.values, title="Records by outcome per day", colors=OUTCOME_COLORS
        ),
        "geotag_calls": c.bar_chart(
            labels,
            {k: report.geotag.values[k] for k in ("calls", "cache_hits", "failures", "budget_refusals")},
            title="Geotag calls per day",
            stacked=False,
        ),
        "geotag_cost": c.line_chart(
            labels,
            {"cost (USD)": report.geotag.values["cost"]},
            title="Estimated geotag cost per day",
            fmt=c.fmt_usd,
        ),
        "storage_daily": c.bar_chart(
            labels,
            {k: report.storage.values[k] for k in ("data files", "images")},
            title="Bytes stored per day",
            fmt=c.fmt_bytes,
        ),
        "storage_total": c.line_chart(
            labels,
            {"cumulative": report.storage.values["cumulative"]},
            title="Storage growth since the first day",
            fmt=c.fmt_bytes,
        ),
        "review": c.line_chart(
            labels,
            report.review.values,
            title="Open review items at the end of each day",
            colors={"open": "#9e77ed"},
        ),
    }


@router.get("/health")
def health_page(request: Request, user: GetUserDep, conn: Conn, days: OptionalInt = None) -> HTMLResponse:
    from listings.admin import health

    n = health.DEFAULT_DAYS if days is None else days  # the form's days field may come empty
    if not 1 <= n <= health.MAX_DAYS:
        raise BadRequest(f"days must be between 1 and {health.MAX_DAYS}; got {n}")
    report = health.report(conn, days=n)
    context = {
        "title": "Health",
        "nav": "health",
        "r": report,
        "alerts": health.alerts(conn),
        "charts": charts(report),
        "days": n,
        "day_choices": DAY_CHOICES,
    }
    return render(request, user, "health.html", context)
