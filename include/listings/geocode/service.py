"""The geotagging service: a provider client wrapped in a results cache, budgets and usage counts.

`Geotagger.geocode(query)`, in order:

1. a query too thin to find anything (`GeocodeQuery.searchable()`) → `skipped`, nothing counted;
2. `pipeline.geocode_cache` (provider, query key): an `ok` or `zero_results` row not yet expired →
   returned `from_cache`, counted as a cache hit. Errors are never cached (a later run retries them);
3. after a fatal provider error (refused key, spent quota) earlier in the run → `error`, no call;
4. the client, which asks `permit()` before EACH HTTP request. A permit is granted only while this run
   has made fewer than `per_run_budget` calls and all runs together fewer than `per_day_budget` today;
   a granted permit records the call in `pipeline.api_usage` before the request goes out, so the per-day
   budget holds across concurrent jobs (the check and the count happen under one advisory lock per
   provider). Refused → `over_budget` (one budget refusal; no request is made);
5. `ok` / `zero_results` are stored in the cache for `cache_ttl_days`; an `error` counts a failure.

Usage rows are one per (provider, UTC day, job_id); job_id NULL counts calls outside a job (preview).
The row is updated, or inserted when missing, under the same advisory lock, which works whether or not
the unique constraint treats NULL job_ids as equal.

Cache lifetime: Google's terms let latitude/longitude from the Places API be cached for at most 30 days
(place IDs without limit), hence the 30-day default; `purge_expired()` deletes rows past their time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from listings.geocode import GeocodeQuery, GeocodeResult, LookupAnswer, PlacesLookup

ConnFactory = Callable[[], AbstractContextManager[Connection]]

_UTC_NOW = "(now() at time zone 'UTC')"
_USAGE_COLUMNS = ("calls", "cache_hits", "failures", "budget_refusals")


@dataclass
class UsageStats:
    """What one `Geotagger` (one run) did; `calls` are billable HTTP requests."""

    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    budget_refusals: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Geotagger:
    """Thread-safe: workers may share one instance (its counters and budgets are the run's)."""

    def __init__(
        self,
        db: Engine | ConnFactory,
        client: PlacesLookup,
        *,
        provider: str = "google_places",
        per_run_budget: int,
        per_day_budget: int,
        cache_ttl_days: int = 30,
        zero_results_ttl_days: int | None = None,
        job_id: int | None = None,
    ) -> None:
        if per_run_budget < 0 or per_day_budget < 0:
            raise ValueError("budgets must be >= 0 (0: answer from the cache only)")
        if cache_ttl_days < 1 or (zero_results_ttl_days is not None and zero_results_ttl_days < 1):
            raise ValueError("cache lifetimes must be at least one day")
        self._db: ConnFactory = db.begin if isinstance(db, Engine) else db
        self.client = client
        self.provider = provider
        self.per_run_budget = per_run_budget
        self.per_day_budget = per_day_budget
        self.cache_ttl_days = cache_ttl_days
        self.zero_results_ttl_days = zero_results_ttl_days or cache_ttl_days
        self.job_id = job_id
        self._stats = UsageStats()
        self._lock = threading.Lock()
        self._stopped: str | None = None  # why calls stopped for the rest of the run

    # -- public -----------------------------------------------------------------------------------
    def geocode(self, query: GeocodeQuery) -> GeocodeResult:
        """Never raises for provider trouble (that is an `error` result); database errors do raise."""
        if not query.searchable():
            return GeocodeResult.without_point(
                "skipped",
                self.provider,
                "needs a name or street address, and an address, city or postal code",
            )
        key = query.key()
        cached = self._cached(key)
        if cached is not None:
            self._count(cache_hits=1)
            return cached
        if self._stopped:
            self._count(failures=1)
            return GeocodeResult.without_point("error", self.provider, f"calls stopped: {self._stopped}")

        refusals: list[str] = []

        def permit() -> bool:
            reason = self._permit()
            if reason:
                refusals.append(reason)
            return reason is None

        answer = self.client.lookup(query, permit=permit)
        if answer.status == "over_budget":
            self._count(budget_refusals=1)
            return GeocodeResult.without_point(
                "over_budget", self.provider, refusals[-1] if refusals else answer.message
            )
        if answer.status == "error":
            if answer.fatal:
                self._stopped = answer.message or "fatal provider error"
            self._count(failures=1)
            return GeocodeResult.without_point("error", self.provider, answer.message)
        self._store(key, query, answer)
        return GeocodeResult(
            answer.status,
            answer.lat,
            answer.lng,
            answer.place_id,
            answer.formatted_address,
            self.provider,
            False,
            answer.message,
        )

    def stats(self) -> UsageStats:
        with self._lock:
            return UsageStats(**self._stats.as_dict())

    # -- cache --------------------------------------------------------------------------------------
    def _cached(self, key: str) -> GeocodeResult | None:
        with self._db() as conn:
            row = conn.execute(
                text(
                    f"""
                    select status, lat, lng, place_id, response
                    from pipeline.geocode_cache
                    where provider = :provider and query_hash = :key
                      and status in ('ok', 'zero_results')
                      and (expires_at is null or expires_at > {_UTC_NOW})
                    """
                ),
                {"provider": self.provider, "key": key},
            ).one_or_none()
        if row is None:
            return None
        response: dict[str, Any] = row.response or {}
        return GeocodeResult(
            row.status,
            None if row.lat is None else float(row.lat),
            None if row.lng is None else float(row.lng),
            row.place_id,
            response.get("formatted_address"),
            self.provider,
            True,
            response.get("message"),
        )

    def _store(self, key: str, query: GeocodeQuery, answer: LookupAnswer) -> None:
        ttl = self.cache_ttl_days if answer.status == "ok" else self.zero_results_ttl_days
        response = {
            "formatted_address": answer.formatted_address,
            "message": answer.message,
            "lookup": answer.response,  # the client's, API key already redacted
        }
        with self._db() as conn:
            conn.execute(
                text(
                    f"""
                    insert into pipeline.geocode_cache
                        (provider, query_hash, query, status, lat, lng, place_id, response, created_at,
                         expires_at)
                    values (:provider, :key, :query, :status, :lat, :lng, :place_id, :response,
                            {_UTC_NOW}, {_UTC_NOW} + make_interval(days => :ttl))
                    on conflict (provider, query_hash) do update set
                        query = excluded.query, status = excluded.status, lat = excluded.lat,
                        lng = excluded.lng, place_id = excluded.place_id, response = excluded.response,
                        created_at = excluded.created_at, expires_at = excluded.expires_at
                    """
                ).bindparams(bindparam("response", type_=JSONB)),
                {
                    "provider": self.provider,
                    "key": key,
                    "query": query.text(),
                    "status": answer.status,
                    "lat": answer.lat,
                    "lng": answer.lng,
                    "place_id": answer.place_id,
                    "response": response,
                    "ttl": ttl,
                },
            )

    # -- budgets and usage --------------------------------------------------------------------------
    def _permit(self) -> str | None:
        """None when one more call may go out (and it is counted now), else why not."""
        with self._lock:
            if self._stats.calls >= self.per_run_budget:
                return f"per-run budget of {self.per_run_budget} calls spent"
            with self._db() as conn:
                day = self._lock_usage(conn)
                used: int = conn.execute(
                    text(
                        "select coalesce(sum(calls), 0) from pipeline.api_usage"
                        " where provider = :provider and day = :day"
                    ),
                    {"provider": self.provider, "day": day},
                ).scalar_one()
                if used >= self.per_day_budget:
                    return f"per-day budget of {self.per_day_budget} calls spent ({used} today)"
                self._bump(conn, day, calls=1)
            self._stats.calls += 1
            return None

    def _count(self, **increments: int) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self._stats, name, getattr(self._stats, name) + value)
        with self._db() as conn:
            day = self._lock_usage(conn)
            self._bump(conn, day, **increments)

    def _lock_usage(self, conn: Connection) -> Any:
        """Serialise usage writes and budget checks of this provider (all jobs); returns today (UTC)."""
        conn.execute(
            text("select pg_advisory_xact_lock(hashtextextended(:name, 0))"),
            {"name": f"listings.api_usage:{self.provider}"},
        )
        return conn.execute(text(f"select {_UTC_NOW}::date")).scalar_one()

    def _bump(self, conn: Connection, day: Any, **increments: int) -> None:
        values = {c: increments.get(c, 0) for c in _USAGE_COLUMNS}
        params = {"provider": self.provider, "day": day, "job_id": self.job_id, **values}
        updated = conn.execute(
            text(
                """
                update pipeline.api_usage set calls = calls + :calls, cache_hits = cache_hits + :cache_hits,
                    failures = failures + :failures, budget_refusals = budget_refusals + :budget_refusals
                where provider = :provider and day = :day and job_id is not distinct from :job_id
                """
            ),
            params,
        ).rowcount
        if not updated:
            conn.execute(
                text(
                    """
                    insert into pipeline.api_usage
                        (provider, day, job_id, calls, cache_hits, failures, budget_refusals)
                    values (:provider, :day, :job_id, :calls, :cache_hits, :failures, :budget_refusals)
                    """
                ),
                params,
            )


def purge_expired(db: Engine | ConnFactory, provider: str | None = None) -> int:
    """Delete cache rows past their lifetime (Google's terms: no latitude/longitude kept beyond 30 days)."""
    factory: ConnFactory = db.begin if isinstance(db, Engine) else db
    with factory() as conn:
        result = conn.execute(
            text(
                f"""
                delete from pipeline.geocode_cache
                where expires_at <= {_UTC_NOW} and (cast(:provider as text) is null or provider = :provider)
                """
            ),
            {"provider": provider},
        )
        return int(result.rowcount)


def usage(
    db: Engine | ConnFactory, provider: str, *, job_id: int | None = None, all_jobs: bool = False
) -> UsageStats:
    """Today's (UTC) usage of a provider: one job's row (job_id None: calls outside jobs), or all rows."""
    factory: ConnFactory = db.begin if isinstance(db, Engine) else db
    with factory() as conn:
        row = conn.execute(
            text(
                f"""
                select coalesce(sum(calls), 0) as calls, coalesce(sum(cache_hits), 0) as cache_hits,
                       coalesce(sum(failures), 0) as failures,
                       coalesce(sum(budget_refusals), 0) as budget_refusals
                from pipeline.api_usage
                where provider = :provider and day = {_UTC_NOW}::date
                  and (:all_jobs or job_id is not distinct from cast(:job_id as bigint))
                """
            ),
            {"provider": provider, "job_id": job_id, "all_jobs": all_jobs},
        ).one()
    return UsageStats(int(row.calls), int(row.cache_hits), int(row.failures), int(row.budget_refusals))
