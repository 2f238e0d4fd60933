"""The health page's numbers: per-day series over the last N days and the alerts. No Airflow import.

Every series is one aggregate per day in SQL over the pipeline's own small tables (one row per job, per
file, per provider-day-job of API usage, per review item); `public.listings` is never read. Days are UTC
days (the database sessions run in UTC and the pipeline writes UTC timestamps); a job counts on the day it
was created.

- throughput: jobs per day by outcome (succeeded, partial, failed, other) and records read per day
  (`job_results.records_total`);
- error rate: failed jobs / finished jobs, and record errors / records read, per day (%);
- records by outcome: new, updated, unchanged, deleted, duplicates, error per day (`job_results`);
- geotag: Places calls, cache hits, failures and budget refusals per day (`pipeline.api_usage`), the
  estimated cost (calls x cost per call: `Settings.geocode_cost_per_call` when the settings have it, else
  `DEFAULT_COST_PER_CALL_USD`), and this month's calls per DMO;
- storage: bytes of data files written per day (`job_files.file_size`) and of images downloaded per day
  (`image_fetches.bytes`, found through the jobs of the window and `ix_image_fetches_job_id`), and their
  running total since the window's first day;
- review queue: open items at the end of each day (items open at the window's start, plus those created,
  minus those resolved or dismissed, day by day);
- quality gates: the promotions a gate stopped (a dbt test of the job's change logs, dbt/tests/promotion;
  their rows are the job's `quality_gate` errors), by job and gate, and whether the job was promoted since.

`alerts(conn, now=...)`: a job failed in the last 24 h (critical; warning when a later run of its DMO
succeeded), a duplicates spike (a job of the last 24 h whose duplicate rate is over `SPIKE_ABSOLUTE`, or
over `SPIKE_FACTOR` x the median of its DMO's `TRAILING_JOBS` previous jobs), a geotag budget nearly
spent (today's calls of a provider at `BUDGET_WARN` or more of `Settings.geocode_day_budget`, and a job
of the last 24 h at that share of `geocode_run_budget`), a removal sweep held for review (warning, until an
admin releases or dismisses it: `listings.catalogue.lifecycle`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, text

from listings.admin.queries import QueryError
from listings.settings import Settings, get_settings

DEFAULT_DAYS = 30
MAX_DAYS = 366
# Google Places "Find Place from Text" (legacy) at list price: USD 17 per 1,000 requests (Text Search, the
# fallback, costs more). An estimate: the bill is Google's.
DEFAULT_COST_PER_CALL_USD = 0.017
OUTCOMES = ("new", "updated", "unchanged", "deleted", "duplicates", "error")
JOB_GROUPS = ("succeeded", "partial", "failed", "other")
FINISHED = ("succeeded", "partial", "failed")

ALERT_WINDOW = timedelta(hours=24)
SPIKE_ABSOLUTE = 0.20  # a duplicate rate above this is a spike whatever the DMO's history
SPIKE_FACTOR = 3.0  # ... and above this many times the DMO's trailing median
SPIKE_MEDIAN_FLOOR = 0.01  # a median of 0 compares as 1%: one duplicate in a clean feed is not a spike
TRAILING_JOBS = 10
MIN_TRAILING = 3  # jobs of history needed for the relative rule
BUDGET_WARN = 0.80
SEVERITIES = ("critical", "warning")


@dataclass(frozen=True)
class Window:
    start: date
    end: date  # included
    days: list[date]

    @property
    def start_ts(self) -> datetime:
        return datetime.combine(self.start, time.min)

    @property
    def end_ts(self) -> datetime:
        """The first instant after the window."""
        return datetime.combine(self.end + timedelta(days=1), time.min)

    @property
    def labels(self) -> list[str]:
        return [d.strftime("%m-%d") for d in self.days]


@dataclass(frozen=True)
class DailySeries:
    days: list[date]
    values: Mapping[str, Sequence[float | None]]  # series name -> one value per day (None: no value)
    totals: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthReport:
    window: Window
    jobs: DailySeries  # jobs per day by group (JOB_GROUPS)
    records: DailySeries  # "records" per day
    error_rate: DailySeries  # "failed jobs %", "record errors %"
    outcomes: DailySeries  # OUTCOMES
    geotag: DailySeries  # calls, cache_hits, failures, budget_refusals, cost
    geotag_by_dmo: list[dict[str, Any]]  # this month's calls and cost per DMO
    storage: DailySeries  # data_files, images, cumulative
    review: DailySeries  # open
    gate_stops: list[dict[str, Any]]  # the promotions a quality gate stopped, by job and gate
    cost_per_call: float
    day_budget: int
    run_budget: int


@dataclass(frozen=True)
class Alert:
    kind: str  # job_failed | duplicates_spike | geotag_budget | removal_held
    severity: str  # critical | warning
    title: str
    detail: str
    link: str  # a path of the admin app
    at: datetime | None = None
    job_id: int | None = None
    dmo_id: int | None = None


# ------------------------------------------------------------------------------------------------
# The window
# ------------------------------------------------------------------------------------------------


def utc_now() -> datetime:
    """Now, as the naive UTC timestamp the pipeline tables hold."""
    return datetime.now(UTC).replace(tzinfo=None)


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def window(days: int = DEFAULT_DAYS, *, today: date | None = None) -> Window:
    """The last `days` UTC days, today included; QueryError outside 1..MAX_DAYS."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise QueryError(f"days must be a whole number between 1 and {MAX_DAYS}; got {days!r}")
    end = today or utc_now().date()
    start = end - timedelta(days=days - 1)
    return Window(start, end, [start + timedelta(days=i) for i in range(days)])


def _by_day(w: Window, rows: Sequence[Any], names: Sequence[str]) -> dict[str, list[float]]:
    """One list per name, one value per day of the window (0 for a day without a row)."""
    found = {r.day: r for r in rows}
    return {n: [float(getattr(found[d], n) or 0) if d in found else 0.0 for d in w.days] for n in names}


def cost_per_call(settings: Settings | None = None) -> float:
    """USD per Places call: the settings' `geocode_cost_per_call` if they have one, else the default."""
    value = getattr(settings or get_settings(), "geocode_cost_per_call", None)
    return float(value) if isinstance(value, int | float) and value >= 0 else DEFAULT_COST_PER_CALL_USD


# ------------------------------------------------------------------------------------------------
# Series
# ------------------------------------------------------------------------------------------------

JOBS_PER_DAY_SQL = """
select j.created_at::date as day,
       count(*) filter (where j.status = 'succeeded') as succeeded,
       count(*) filter (where j.status = 'partial') as partial,
       count(*) filter (where j.status = 'failed') as failed,
       count(*) filter (where j.status not in ('succeeded', 'partial', 'failed')) as other,
       count(*) filter (where j.status in ('succeeded', 'partial', 'failed')) as finished,
       coalesce(sum(r.records_total), 0) as records,
       coalesce(sum(r.records_new), 0) as new,
       coalesce(sum(r.records_updated), 0) as updated,
       coalesce(sum(r.records_unchanged), 0) as unchanged,
       coalesce(sum(r.records_deleted), 0) as deleted,
       coalesce(sum(r.records_duplicates), 0) as duplicates,
       coalesce(sum(r.records_error), 0) as error
from pipeline.jobs j
left join pipeline.job_results r on r.job_id = j.id
where j.created_at >= :start and j.created_at < :end
group by 1
"""


def job_series(conn: Connection, w: Window) -> tuple[DailySeries, DailySeries, DailySeries, DailySeries]:
    """(jobs by group, records read, error rates in %, records by outcome), per day: one query."""
    rows = conn.execute(text(JOBS_PER_DAY_SQL), {"start": w.start_ts, "end": w.end_ts}).all()
    raw = _by_day(w, rows, [*JOB_GROUPS, "finished", "records", *OUTCOMES])
    jobs = {g: raw[g] for g in JOB_GROUPS}
    # A day without a finished job (or a record read) has no rate: a gap in the line, not a 0%.
    failed_pct: list[float | None] = [
        round(100.0 * f / n, 2) if n else None for f, n in zip(raw["failed"], raw["finished"], strict=True)
    ]
    error_pct: list[float | None] = [
        round(100.0 * e / n, 2) if n else None for e, n in zip(raw["error"], raw["records"], strict=True)
    ]
    finished, records = sum(raw["finished"]), sum(raw["records"])
    return (
        DailySeries(
            w.days, jobs, {g: sum(v) for g, v in jobs.items()} | {"jobs": sum(map(sum, jobs.values()))}
        ),
        DailySeries(w.days, {"records": raw["records"]}, {"records": records}),
        DailySeries(
            w.days,
            {"failed jobs %": failed_pct, "record errors %": error_pct},
            {
                "failed jobs %": round(100.0 * sum(raw["failed"]) / finished, 2) if finished else 0.0,
                "record errors %": round(100.0 * sum(raw["error"]) / records, 2) if records else 0.0,
            },
        ),
        DailySeries(w.days, {o: raw[o] for o in OUTCOMES}, {o: sum(raw[o]) for o in OUTCOMES}),
    )


GEOTAG_SQL = """
select day, coalesce(sum(calls), 0) as calls, coalesce(sum(cache_hits), 0) as cache_hits,
       coalesce(sum(failures), 0) as failures, coalesce(sum(budget_refusals), 0) as budget_refusals
from pipeline.api_usage
where day >= :start and day <= :end
group by 1
"""

GEOTAG_BY_DMO_SQL = """
select j.dmo_id, d.name as dmo_name, sum(u.calls) as calls, sum(u.cache_hits) as cache_hits,
       count(distinct u.job_id) as jobs
from pipeline.api_usage u
join pipeline.jobs j on j.id = u.job_id
join public.dmos d on d.id = j.dmo_id
where u.day >= :start and u.day <= :end
group by 1, 2
order by 3 desc, 1
"""


def geotag_series(conn: Connection, w: Window, *, cost: float) -> DailySeries:
    rows = conn.execute(text(GEOTAG_SQL), {"start": w.start, "end": w.end}).all()
    values = _by_day(w, rows, ["calls", "cache_hits", "failures", "budget_refusals"])
    values["cost"] = [round(c * cost, 4) for c in values["calls"]]
    return DailySeries(w.days, values, {k: round(sum(v), 4) for k, v in values.items()})


def geotag_by_dmo(conn: Connection, start: date, end: date, *, cost: float) -> list[dict[str, Any]]:
    """Calls per DMO between two days (both included), through the jobs that made them."""
    return [
        dict(r) | {"cost": round(float(r["calls"] or 0) * cost, 2)}
        for r in conn.execute(text(GEOTAG_BY_DMO_SQL), {"start": start, "end": end}).mappings()
    ]


STORAGE_SQL = """
select f.created_at::date as day, coalesce(sum(f.file_size), 0) as data_files
from pipeline.job_files f
where f.created_at >= :start and f.created_at < :end
group by 1
"""

# Downloads of the window's jobs (and of admin re-fetches, job_id null), by the job_id index.
IMAGE_BYTES_SQL = """
select f.created_at::date as day, coalesce(sum(f.bytes), 0) as images
from pipeline.image_fetches f
where (f.job_id in (select j.id from pipeline.jobs j where j.created_at >= :jobs_from) or f.job_id is null)
  and f.status = 'downloaded' and f.created_at >= :start and f.created_at < :end
group by 1
"""


def storage_series(conn: Connection, w: Window) -> DailySeries:
    params = {"start": w.start_ts, "end": w.end_ts, "jobs_from": w.start_ts - timedelta(days=1)}
    data = _by_day(w, conn.execute(text(STORAGE_SQL), params).all(), ["data_files"])
    images = _by_day(w, conn.execute(text(IMAGE_BYTES_SQL), params).all(), ["images"])
    cumulative: list[float] = []
    running = 0.0
    for a, b in zip(data["data_files"], images["images"], strict=True):
        running += a + b
        cumulative.append(running)
    values = {"data files": data["data_files"], "images": images["images"], "cumulative": cumulative}
    return DailySeries(
        w.days,
        values,
        {"data files": sum(data["data_files"]), "images": sum(images["images"]), "cumulative": running},
    )


# An item is closed when it was resolved or dismissed (resolved_at; a closed item without it counts as
# closed from its creation).
REVIEW_SQL = """
with items as (
    select created_at,
           coalesce(resolved_at, case when status <> 'open' then created_at end) as closed_at
    from pipeline.review_items
)
select
    (select count(*) from items where created_at < :start and (closed_at is null or closed_at >= :start))
        as baseline,
    coalesce((select json_object_agg(day, n) from (
        select created_at::date as day, count(*) as n from items
        where created_at >= :start and created_at < :end group by 1) c), '{}') as created,
    coalesce((select json_object_agg(day, n) from (
        select closed_at::date as day, count(*) as n from items
        where closed_at >= :start and closed_at < :end and created_at < :end group by 1) c), '{}') as closed
"""


def review_series(conn: Connection, w: Window) -> DailySeries:
    row = conn.execute(text(REVIEW_SQL), {"start": w.start_ts, "end": w.end_ts}).one()
    created = {date.fromisoformat(k): int(v) for k, v in (row.created or {}).items()}
    closed = {date.fromisoformat(k): int(v) for k, v in (row.closed or {}).items()}
    open_now = int(row.baseline)
    values: list[float] = []
    for d in w.days:
        open_now += created.get(d, 0) - closed.get(d, 0)
        values.append(float(open_now))
    return DailySeries(w.days, {"open": values}, {"open": values[-1] if values else 0.0})


GATE_STOPS_SQL = """
select e.job_id, j.dmo_id, d.name as dmo_name, split_part(e.error_message, ':', 1) as gate, count(*) as n,
       min(e.error_message) as example, max(e.created_at) as at, j.promoted_at is not null as promoted
from pipeline.job_errors e
join pipeline.jobs j on j.id = e.job_id
join public.dmos d on d.id = j.dmo_id
where e.error_type = 'quality_gate' and e.created_at >= :start and e.created_at < :end
group by e.job_id, j.dmo_id, d.name, split_part(e.error_message, ':', 1), j.promoted_at
order by at desc, e.job_id desc
limit 50
"""


def gate_stops(conn: Connection, w: Window) -> list[dict[str, Any]]:
    """The promotions a quality gate stopped in the window (ix_job_errors_quality_gate: these rows alone)."""
    rows = conn.execute(text(GATE_STOPS_SQL), {"start": w.start_ts, "end": w.end_ts})
    return [dict(r._mapping) for r in rows]


def report(
    conn: Connection, *, days: int = DEFAULT_DAYS, today: date | None = None, settings: Settings | None = None
) -> HealthReport:
    """Every series of the health page for the last `days` days."""
    settings = settings or get_settings()
    w = window(days, today=today)
    cost = cost_per_call(settings)
    jobs, records, error_rate, outcomes = job_series(conn, w)
    return HealthReport(
        window=w,
        jobs=jobs,
        records=records,
        error_rate=error_rate,
        outcomes=outcomes,
        geotag=geotag_series(conn, w, cost=cost),
        geotag_by_dmo=geotag_by_dmo(conn, w.end.replace(day=1), w.end, cost=cost),
        storage=storage_series(conn, w),
        review=review_series(conn, w),
        gate_stops=gate_stops(conn, w),
        cost_per_call=cost,
        day_budget=settings.geocode_day_budget,
        run_budget=settings.geocode_run_budget,
    )


# ------------------------------------------------------------------------------------------------
# Alerts
# ------------------------------------------------------------------------------------------------

FAILED_SQL = """
select j.id, j.dmo_id, d.name as dmo_name, j.error_summary, coalesce(j.finished_at, j.created_at) as at,
       exists (
           select 1 from pipeline.jobs later
           where later.dmo_id = j.dmo_id and later.data_domain = j.data_domain and later.id > j.id
             and later.status in ('succeeded', 'partial')
       ) as recovered
from pipeline.jobs j
join public.dmos d on d.id = j.dmo_id
where j.status = 'failed' and coalesce(j.finished_at, j.created_at) >= :since
  and coalesce(j.finished_at, j.created_at) <= :now
order by at desc, j.id desc
limit 50
"""

SPIKE_SQL = """
select j.id, j.dmo_id, d.name as dmo_name, coalesce(j.finished_at, j.created_at) as at,
       r.records_total, r.records_duplicates, t.median, coalesce(t.n, 0) as n
from pipeline.jobs j
join pipeline.job_results r on r.job_id = j.id
join public.dmos d on d.id = j.dmo_id
left join lateral (
    select percentile_cont(0.5) within group (order by p.rate) as median, count(*) as n
    from (
        select r2.records_duplicates::float / r2.records_total as rate
        from pipeline.jobs j2
        join pipeline.job_results r2 on r2.job_id = j2.id
        where j2.dmo_id = j.dmo_id and j2.data_domain = j.data_domain and j2.created_at <= j.created_at
          and j2.id < j.id and r2.records_total > 0
        order by j2.created_at desc, j2.id desc
        limit :trailing
    ) p
) t on true
where coalesce(j.finished_at, j.created_at) >= :since and coalesce(j.finished_at, j.created_at) <= :now
  and r.records_total > 0 and r.records_duplicates > 0
order by j.id desc
limit 200
"""

DAY_USAGE_SQL = """
select provider, coalesce(sum(calls), 0) as calls from pipeline.api_usage where day = :day group by 1 order by 1
"""

RUN_USAGE_SQL = """
select j.id, j.dmo_id, d.name as dmo_name, coalesce(j.finished_at, j.created_at) as at, sum(u.calls) as calls
from pipeline.api_usage u
join pipeline.jobs j on j.id = u.job_id
join public.dmos d on d.id = j.dmo_id
where u.day >= :since_day and coalesce(j.finished_at, j.created_at) >= :since
group by 1, 2, 3, 4
having sum(u.calls) >= :threshold
order by 1 desc
limit 50
"""


def is_spike(rate: float, median: float | None, history: int) -> bool:
    """A duplicate rate is a spike over `SPIKE_ABSOLUTE`, or over `SPIKE_FACTOR` x the DMO's trailing
    median (floored at `SPIKE_MEDIAN_FLOOR`) when the DMO has `MIN_TRAILING` jobs of history."""
    if rate > SPIKE_ABSOLUTE:
        return True
    if history < MIN_TRAILING or median is None:
        return False
    return rate > SPIKE_FACTOR * max(float(median), SPIKE_MEDIAN_FLOOR)


def alerts(conn: Connection, *, now: datetime | None = None, settings: Settings | None = None) -> list[Alert]:
    """What needs a look now, critical first then newest first: failed jobs, duplicate spikes, geotag
    budgets nearly spent (see the module docstring for the rules)."""
    settings = settings or get_settings()
    now = _naive_utc(now) if now is not None else utc_now()
    since = now - ALERT_WINDOW
    out: list[Alert] = []
    for r in conn.execute(text(FAILED_SQL), {"since": since, "now": now}):
        summary = (r.error_summary or "no error recorded").strip()
        out.append(
            Alert(
                kind="job_failed",
                severity="warning" if r.recovered else "critical",
                title=f"Job {r.id} of {r.dmo_name} failed",
                detail=(summary[:300] + ("…" if len(summary) > 300 else ""))
                + (" A later run of this DMO succeeded." if r.recovered else ""),
                link=f"/jobs/{r.id}",
                at=r.at,
                job_id=int(r.id),
                dmo_id=int(r.dmo_id),
            )
        )
    for r in conn.execute(text(SPIKE_SQL), {"since": since, "now": now, "trailing": TRAILING_JOBS}):
        rate = r.records_duplicates / r.records_total
        median = float(r.median) if r.median is not None else None
        if not is_spike(rate, median, int(r.n)):
            continue
        against = (
            f"; the DMO's median over its last {int(r.n)} jobs is {median:.1%}" if median is not None else ""
        )
        out.append(
            Alert(
                kind="duplicates_spike",
                severity="warning",
                title=f"Duplicates spike in job {r.id} of {r.dmo_name}",
                detail=f"{r.records_duplicates} of {r.records_total} records ({rate:.1%}) were duplicates{against}.",
                link=f"/jobs/{r.id}",
                at=r.at,
                job_id=int(r.id),
                dmo_id=int(r.dmo_id),
            )
        )
    out += _budget_alerts(conn, now, since, settings)
    out += _hold_alerts(conn)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    out.sort(key=lambda a: a.at or datetime.min, reverse=True)
    out.sort(key=lambda a: order.get(a.severity, len(order)))
    return out


HELD_SQL = """
select h.job_id, h.dmo_id, d.name as dmo_name, h.reason, h.created_at as at
from pipeline.removal_holds h
join public.dmos d on d.id = h.dmo_id
where h.status = 'held'
order by h.job_id desc
limit 50
"""


def _hold_alerts(conn: Connection) -> list[Alert]:
    """Every open removal hold, whatever its age: it waits for an admin's decision."""
    return [
        Alert(
            kind="removal_held",
            severity="warning",
            title=f"Removal held for job {r.job_id} of {r.dmo_name}",
            detail=(
                f"{r.reason}; nothing was removed. Check the file, then release the hold"
                f" (`listings removal release {r.job_id}`) or dismiss it (`listings removal dismiss {r.job_id}`)."
            ),
            link=f"/jobs/{r.job_id}",
            at=r.at,
            job_id=int(r.job_id),
            dmo_id=int(r.dmo_id),
        )
        for r in conn.execute(text(HELD_SQL))
    ]


def _budget_alerts(conn: Connection, now: datetime, since: datetime, settings: Settings) -> list[Alert]:
    out: list[Alert] = []
    day_budget, run_budget = settings.geocode_day_budget, settings.geocode_run_budget
    if day_budget > 0:
        for r in conn.execute(text(DAY_USAGE_SQL), {"day": now.date()}):
            share = int(r.calls) / day_budget
            if share >= BUDGET_WARN:
                out.append(
                    Alert(
                        kind="geotag_budget",
                        severity="critical" if share >= 1 else "warning",
                        title=f"{r.provider}: {share:.0%} of today's geotag budget used",
                        detail=(
                            f"{int(r.calls):,} of {day_budget:,} calls today (UTC; LISTINGS_GEOCODE_DAY_BUDGET)."
                            " Past the budget, records are kept without coordinates until tomorrow."
                        ),
                        link="/health#geotag",
                        at=now,
                    )
                )
    if run_budget > 0:
        threshold = max(1, int(run_budget * BUDGET_WARN + 0.999999))
        params = {"since_day": since.date(), "since": since, "threshold": threshold}
        for r in conn.execute(text(RUN_USAGE_SQL), params):
            share = int(r.calls) / run_budget
            out.append(
                Alert(
                    kind="geotag_budget",
                    severity="critical" if share >= 1 else "warning",
                    title=f"Job {r.id} of {r.dmo_name} used {share:.0%} of its geotag budget",
                    detail=f"{int(r.calls):,} of {run_budget:,} calls per run (LISTINGS_GEOCODE_RUN_BUDGET).",
                    link=f"/jobs/{r.id}",
                    at=r.at,
                    job_id=int(r.id),
                    dmo_id=int(r.dmo_id),
                )
            )
    return out
