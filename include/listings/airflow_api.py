"""A small client of Airflow 3's REST API (`/api/v2`) for the admin UI: the DMO DAGs (paused or not, next
run), their queued and running runs (cancel), "re-run from a step" (clear a task and everything
downstream), the pools. No Airflow import: it speaks HTTP with `requests`, so it is importable and testable
on its own (the tests fake Airflow with a small HTTP server).

Authentication: a JWT from `POST /auth/token` ({"username", "password"}), sent as `Authorization: Bearer`.
Tokens are cached per (API URL, user, password) for `TOKEN_TTL` seconds and fetched again once when
Airflow answers 401. Every failure (no API configured, Airflow down, credentials refused, a refused call) is
one exception type, `AirflowApiError`, whose message reads well in a flash.

Two functions for other pages (the DMO config save dialog): `queued_runs(dag_id)` and
`cancel_queued_runs(dag_id, run_ids, user=...)`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from listings.settings import Settings, get_settings

log = logging.getLogger(__name__)

DAG_PREFIX = "dmo_"  # DmoConfig.dag_id: dmo_<id>_<domain>
TOKEN_TTL = 600.0  # seconds a token is reused (Airflow's default JWT lifetime is much longer)
PAGE_LIMIT = 100  # Airflow's default [api] maximum_page_limit
MAX_ITEMS = 1000  # a listing stops after this many items
RUN_STATES = ("queued", "running", "success", "failed")
NOT_CONFIGURED = (
    "No Airflow API is configured (LISTINGS_AIRFLOW_API_URL): the schedule, runs and pools cannot be read"
    " or changed from here."
)

NO_LOGIN = (
    "No login for Airflow's API is configured (LISTINGS_AIRFLOW_API_USER and LISTINGS_AIRFLOW_API_PASSWORD;"
    " there is no default): nothing was asked of Airflow."
)


class AirflowApiError(Exception):
    """A call to Airflow's REST API failed or could not be made; the message says why. `status` is the
    HTTP status when Airflow answered (None when it did not, or when no API is configured)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AirflowNotConfigured(AirflowApiError):
    """The settings name no Airflow API (`airflow_api_url` is empty)."""


def _when(value: Any) -> datetime | None:
    """An ISO 8601 timestamp from Airflow (`...Z` or `+00:00`) as an aware datetime; None stays None."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _q(value: str) -> str:
    return quote(value, safe="")


def _dag_row(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "dag_id": d["dag_id"],
        "is_paused": bool(d.get("is_paused")),
        "schedule": d.get("timetable_summary"),
        "schedule_description": d.get("timetable_description"),
        "next_dagrun_logical_date": _when(d.get("next_dagrun_logical_date")),
        "next_dagrun_run_after": _when(d.get("next_dagrun_run_after")),
        "has_import_errors": bool(d.get("has_import_errors")),
        "is_stale": bool(d.get("is_stale")),
        "max_active_runs": d.get("max_active_runs"),
    }


class AirflowApi:
    """One Airflow API server, one set of credentials."""

    _tokens: ClassVar[dict[tuple[str, str, str], tuple[str, float]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, api_url: str | None, user: str | None, password: str | None, *, timeout: float = 10.0
    ) -> None:
        if not api_url:
            raise AirflowNotConfigured(NOT_CONFIGURED)
        if not user or not password:
            raise AirflowNotConfigured(NO_LOGIN)
        self.api_url = api_url.rstrip("/")
        self.user = user
        self.password = password
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, timeout: float = 10.0) -> AirflowApi:
        """The API of the settings (LISTINGS_AIRFLOW_API_URL / _USER / _PASSWORD); AirflowNotConfigured
        when there is none."""
        settings = settings or get_settings()
        return cls(
            settings.airflow_api_url,
            settings.airflow_api_user,
            settings.airflow_api_password,
            timeout=timeout,
        )

    # -- transport ---------------------------------------------------------------------------------

    @property
    def _key(self) -> tuple[str, str, str]:
        return (self.api_url, self.user, self.password)

    def _token(self, *, fresh: bool = False) -> str:
        now = time.monotonic()
        if not fresh:
            with self._lock:
                cached = self._tokens.get(self._key)
            if cached and cached[1] > now:
                return cached[0]
        try:
            res = requests.post(
                f"{self.api_url}/auth/token",
                json={"username": self.user, "password": self.password},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise AirflowApiError(f"Airflow at {self.api_url} did not answer: {exc}") from exc
        if res.status_code >= 400:
            raise AirflowApiError(
                f"Airflow at {self.api_url} refused the credentials (HTTP {res.status_code}).",
                status=res.status_code,
            )
        try:
            token = str(res.json()["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise AirflowApiError(f"Airflow at {self.api_url} sent no access token.") from exc
        with self._lock:
            self._tokens[self._key] = (token, now + TOKEN_TTL)
        return token

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
    ) -> requests.Response:
        """One authenticated call (`path` starts with /api/v2); the response whatever its status, except
        401, which gets a fresh token and one retry. AirflowApiError when Airflow does not answer or
        refuses the credentials."""
        url = f"{self.api_url}{path}"
        for fresh in (False, True):
            headers = {"Authorization": f"Bearer {self._token(fresh=fresh)}"}
            try:
                res = requests.request(
                    method, url, params=params, json=json, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise AirflowApiError(f"Airflow at {self.api_url} did not answer: {exc}") from exc
            if res.status_code != 401:
                return res
        with self._lock:
            self._tokens.pop(self._key, None)
        raise AirflowApiError(
            f"Airflow at {self.api_url} refused the token for {method} {path} (HTTP 401).", status=401
        )

    @staticmethod
    def _detail(res: requests.Response) -> str:
        try:
            detail = res.json().get("detail")
        except (ValueError, AttributeError):
            detail = None
        if isinstance(detail, list):  # FastAPI validation errors
            detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
        return str(detail or res.text[:300] or res.reason)

    def _ok(self, res: requests.Response, what: str) -> Any:
        if res.status_code >= 400:
            raise AirflowApiError(
                f"Airflow refused to {what}: HTTP {res.status_code} {self._detail(res)}",
                status=res.status_code,
            )
        if not res.content:
            return {}
        try:
            return res.json()
        except ValueError as exc:
            raise AirflowApiError(f"Airflow sent no JSON when asked to {what}.") from exc

    def _pages(self, path: str, key: str, params: list[tuple[str, Any]], what: str) -> list[dict[str, Any]]:
        """Every item of a paged collection (limit/offset), at most MAX_ITEMS."""
        items: list[dict[str, Any]] = []
        while len(items) < MAX_ITEMS:
            page = self._ok(
                self.request("GET", path, params=[*params, ("limit", PAGE_LIMIT), ("offset", len(items))]),
                what,
            )
            got = list(page.get(key) or [])
            items.extend(got)
            total = page.get("total_entries")
            if not got or len(got) < PAGE_LIMIT or (isinstance(total, int) and len(items) >= total):
                break
        return items[:MAX_ITEMS]

    # -- DAGs ---------------------------------------------------------------------------------------

    def dags(self, prefix: str = DAG_PREFIX) -> list[dict[str, Any]]:
        """The DAGs whose id starts with `prefix`, sorted by id: dag_id, is_paused, schedule (the
        timetable's summary), schedule_description, next_dagrun_logical_date, next_dagrun_run_after,
        has_import_errors, is_stale, max_active_runs."""
        found = self._pages("/api/v2/dags", "dags", [("dag_id_pattern", prefix)], f"list the DAGs {prefix}*")
        out = []
        for d in found:
            if not str(d.get("dag_id", "")).startswith(prefix):  # dag_id_pattern is ILIKE %prefix%
                continue
            out.append(_dag_row(d))
        return sorted(out, key=lambda d: d["dag_id"])

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        """One DAG as `dags` gives it; None when Airflow has no such DAG."""
        res = self.request("GET", f"/api/v2/dags/{_q(dag_id)}")
        if res.status_code == 404:
            return None
        return _dag_row(self._ok(res, f"read {dag_id}"))

    def set_paused(self, dag_id: str, paused: bool) -> bool:
        """Pause or resume a DAG (`PATCH /api/v2/dags/{dag_id}`); returns its new is_paused."""
        what = f"{'pause' if paused else 'resume'} {dag_id}"
        res = self.request("PATCH", f"/api/v2/dags/{_q(dag_id)}", json={"is_paused": paused})
        if res.status_code == 404:
            raise AirflowApiError(
                f"Airflow has no DAG {dag_id} (is the DMO's config active and parsed?).", status=404
            )
        return bool(self._ok(res, what).get("is_paused", paused))

    # -- runs ---------------------------------------------------------------------------------------

    def runs(
        self,
        states: Iterable[str] = ("queued", "running"),
        dag_id: str | None = None,
        *,
        prefix: str = DAG_PREFIX,
    ) -> list[dict[str, Any]]:
        """The runs in `states` of one DAG, or of every DAG whose id starts with `prefix` (dag_id None,
        `GET /api/v2/dags/~/dagRuns`); oldest first. Each: dag_id, run_id, state, run_type, logical_date,
        queued_at, start_date, run_after, conf, note, triggering_user_name."""
        states = list(states)
        bad = [s for s in states if s not in RUN_STATES]
        if bad:
            raise AirflowApiError(f"unknown run state(s): {', '.join(bad)}")
        params: list[tuple[str, Any]] = [("state", s) for s in states]
        if dag_id is None:
            params.append(("dag_id_pattern", prefix))
        path = f"/api/v2/dags/{_q(dag_id) if dag_id else '~'}/dagRuns"
        what = f"list the runs of {dag_id or prefix + '*'}"
        try:
            found = self._pages(path, "dag_runs", params, what)
        except AirflowApiError as exc:
            if dag_id is not None and exc.status == 404:
                return []  # no such DAG (yet): no runs
            raise
        out = []
        for r in found:
            if dag_id is None and not str(r.get("dag_id", "")).startswith(prefix):
                continue
            out.append(
                {
                    "dag_id": r.get("dag_id") or dag_id,
                    "run_id": r.get("dag_run_id") or r.get("run_id"),
                    "state": r.get("state"),
                    "run_type": r.get("run_type"),
                    "logical_date": _when(r.get("logical_date")),
                    "queued_at": _when(r.get("queued_at")),
                    "start_date": _when(r.get("start_date")),
                    "run_after": _when(r.get("run_after")),
                    "conf": r.get("conf") or {},
                    "note": r.get("note"),
                    "triggering_user_name": r.get("triggering_user_name"),
                }
            )

        def order(r: dict[str, Any]) -> tuple[str, str]:
            at = r["queued_at"] or r["run_after"] or r["logical_date"]
            return (at.isoformat() if at else "", str(r["run_id"]))

        return sorted(out, key=order)

    def cancel_run(self, dag_id: str, run_id: str, *, note: str | None = None) -> dict[str, Any]:
        """Mark a run failed (`PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}` {"state": "failed"}): a
        queued run never starts, a running one stops. `note` is kept on the run."""
        body: dict[str, Any] = {"state": "failed"}
        if note:
            body["note"] = note[:1000]
        res = self.request("PATCH", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", json=body)
        if res.status_code == 404:
            raise AirflowApiError(f"Airflow has no run {run_id} of {dag_id}.", status=404)
        return dict(self._ok(res, f"cancel run {run_id} of {dag_id}"))

    def clear_from_task(
        self, dag_id: str, run_id: str, task_id: str, *, note: str | None = None
    ) -> list[str]:
        """Re-run one run from a step: clear `task_id` and everything downstream of it in that run, and
        set the run queued again (`POST /api/v2/dags/{dag_id}/clearTaskInstances`). Returns the task ids
        cleared."""
        body: dict[str, Any] = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": [task_id],
            "include_downstream": True,
            "include_upstream": False,
            "only_failed": False,
            "reset_dag_runs": True,
        }
        if note:
            body["note"] = note[:1000]
        res = self.request("POST", f"/api/v2/dags/{_q(dag_id)}/clearTaskInstances", json=body)
        if res.status_code == 404:
            raise AirflowApiError(
                f"Airflow has no run {run_id} of {dag_id} (or no such DAG): nothing was cleared.", status=404
            )
        if res.status_code == 409:
            raise AirflowApiError(
                f"Airflow refused to clear {task_id} of {run_id}: a task is still running"
                f" ({self._detail(res)}).",
                status=409,
            )
        doc = self._ok(res, f"clear {task_id} of run {run_id} of {dag_id}")
        return sorted({str(t.get("task_id")) for t in doc.get("task_instances") or [] if t.get("task_id")})

    # -- pools --------------------------------------------------------------------------------------

    def pools(self) -> list[dict[str, Any]]:
        """Every pool, sorted by name: name, slots, occupied, running, queued, scheduled, open,
        deferred, description."""
        out = []
        for p in self._pages("/api/v2/pools", "pools", [], "list the pools"):
            out.append(
                {
                    "name": p.get("name") or p.get("pool"),
                    "slots": p.get("slots"),
                    "occupied": p.get("occupied_slots", 0),
                    "running": p.get("running_slots", 0),
                    "queued": p.get("queued_slots", 0),
                    "scheduled": p.get("scheduled_slots", 0),
                    "open": p.get("open_slots", 0),
                    "deferred": p.get("deferred_slots", 0),
                    "description": p.get("description"),
                }
            )
        return sorted(out, key=lambda p: str(p["name"]))


# ------------------------------------------------------------------------------------------------
# For the DMO config save dialog: the queued runs of one DAG, and cancelling them
# ------------------------------------------------------------------------------------------------


def queued_runs(dag_id: str) -> list[dict[str, Any]]:
    """The queued runs of `dag_id`, oldest first: run_id, logical_date, queued_at, run_after, conf (and
    the other keys of `AirflowApi.runs`). An empty list when Airflow has no such DAG. Raises
    AirflowApiError (AirflowNotConfigured when no API is configured) when Airflow cannot be asked."""
    return AirflowApi.from_settings().runs(states=("queued",), dag_id=dag_id)


def cancel_queued_runs(dag_id: str, run_ids: list[str] | None = None, *, user: str) -> int:
    """Cancel (mark failed) the queued runs of `dag_id`: all of them, or only those of `run_ids` that are
    still queued (a run that started meanwhile, or an unknown id, is left alone). Each cancelled run gets
    a note naming `user`. Returns how many were cancelled. Raises AirflowApiError as `queued_runs`."""
    return cancel_queued(AirflowApi.from_settings(), dag_id, run_ids, user=user)


def cancel_queued(api: AirflowApi, dag_id: str, run_ids: list[str] | None = None, *, user: str) -> int:
    """`cancel_queued_runs` through a given client."""
    queued = [r["run_id"] for r in api.runs(states=("queued",), dag_id=dag_id)]
    wanted = queued if run_ids is None else [r for r in queued if r in set(run_ids)]
    for run_id in wanted:
        api.cancel_run(dag_id, run_id, note=f"cancelled by {user} (listings admin)")
        log.info("%s cancelled queued run %s of %s", user, run_id, dag_id)
    return len(wanted)
