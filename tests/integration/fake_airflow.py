"""A fake Airflow 3 REST API for the admin UI tests (imported as a plain module: pytest puts this folder on
sys.path; tests/integration/conftest.py re-exports the fixture).

`fake_airflow` starts a server on 127.0.0.1 with a fresh, empty state (no DAGs, no runs, the default pool)
and yields a `FakeAirflow`: its `url`, the state the tests seed and read (`dags`, `runs`, `pools`), and what
reached it (`requests`, every one with its body; `triggered` and `cancelled` runs). `use_airflow` points the
settings at it.

It answers as Airflow 3 does: `POST /auth/token` (user ops, password pw), then a bearer token on every call;
the DAGs (list with dag_id_pattern as ILIKE %pattern%, one, pause/resume), the DAG runs (list one DAG's or
every DAG's with `~`, trigger, patch), clearTaskInstances, the pools. A DAG it does not know is a 404 on
every DAG path (trigger included); a triggered run is a queued run the list endpoints show. Request bodies
are checked with Airflow's own pydantic models (DAGPatchBody, DAGRunPatchBody, ClearTaskInstancesBody,
TriggerDAGRunPostBody), so a field Airflow would refuse gets a 422 here too."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

USER, PASSWORD, TOKEN = "ops", "pw", "t0k"
NOW = "2030-01-02T00:00:00Z"  # the fake's clock: when a triggered run is queued


class FakeAirflow:
    """The state of one fake Airflow, and what reached it."""

    def __init__(self) -> None:
        self.url = ""
        self.dags: dict[str, dict[str, Any]] = {}
        self.runs: list[dict[str, Any]] = []  # every DAG's, in the order they were added or triggered
        self.pools: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []  # {"method", "path", "query", "body"}, token requests too
        self.triggered: list[tuple[str, dict[str, Any]]] = []  # (dag_id, body) of each run triggered
        self.cancelled: list[tuple[str, str, dict[str, Any]]] = []  # (dag_id, run_id, body): marked failed
        self.lock = threading.Lock()
        self.add_pool("default_pool", 128, description="Default pool")

    # -- seeding ------------------------------------------------------------------------------------

    def add_dag(
        self, dag_id: str, *, paused: bool = False, schedule: str | None = None, next_run: str | None = None
    ) -> dict[str, Any]:
        """A DAG as `GET /api/v2/dags/{dag_id}` gives it."""
        dag = {
            "dag_id": dag_id, "dag_display_name": dag_id, "is_paused": paused, "is_stale": False,
            "timetable_summary": schedule, "timetable_description": schedule, "has_import_errors": False,
            "next_dagrun_logical_date": next_run, "next_dagrun_run_after": next_run, "max_active_runs": 1,
        }  # fmt: skip
        self.dags[dag_id] = dag
        return dag

    def add_run(
        self,
        dag_id: str,
        run_id: str,
        state: str = "queued",
        queued_at: str = NOW,
        *,
        conf: dict[str, Any] | None = None,
        note: str | None = None,
        user: str = USER,
    ) -> dict[str, Any]:
        """A run of a known DAG as `GET /api/v2/dags/{dag_id}/dagRuns` lists it."""
        assert dag_id in self.dags, f"add_dag({dag_id!r}) first"
        run = {
            "dag_run_id": run_id, "dag_id": dag_id, "state": state, "run_type": "manual", "logical_date": None,
            "queued_at": queued_at, "start_date": None if state == "queued" else queued_at, "end_date": None,
            "run_after": queued_at, "conf": conf or {}, "note": note, "triggering_user_name": user,
        }  # fmt: skip
        self.runs.append(run)
        return run

    def add_pool(
        self,
        name: str,
        slots: int,
        *,
        occupied: int = 0,
        running: int = 0,
        queued: int = 0,
        description: str | None = None,
    ) -> dict[str, Any]:
        pool = {
            "name": name, "slots": slots, "occupied_slots": occupied, "running_slots": running,
            "queued_slots": queued, "scheduled_slots": 0, "open_slots": slots - occupied, "deferred_slots": 0,
            "description": description, "include_deferred": False,
        }  # fmt: skip
        self.pools.append(pool)
        return pool

    # -- reading ------------------------------------------------------------------------------------

    def calls(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """The API requests (not the token's), of one method and path when given."""
        return [
            r for r in self.requests
            if r["path"] != "/auth/token" and (method is None or r["method"] == method)
            and (path is None or r["path"] == path)
        ]  # fmt: skip

    def states(self, dag_id: str) -> list[str]:
        """The states of one DAG's runs, in order."""
        return [r["state"] for r in self.runs if r["dag_id"] == dag_id]


class _Server(ThreadingHTTPServer):
    fake: FakeAirflow


class _Handler(BaseHTTPRequestHandler):
    """Airflow's token, DAG, DAG run, clear and pool endpoints over the server's FakeAirflow."""

    @property
    def fake(self) -> FakeAirflow:
        return cast(_Server, self.server).fake

    def _json(self, status: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        query = parse_qs(url.query)
        with self.fake.lock:
            self.fake.requests.append({"method": method, "path": url.path, "query": query, "body": body})
            if url.path == "/auth/token":
                if body == {"username": USER, "password": PASSWORD}:
                    return self._json(201, {"access_token": TOKEN})
                return self._json(401, {"detail": "bad"})
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._json(401, {"detail": "no token"})
            if not url.path.startswith("/api/v2/"):
                return self._json(404, {"detail": "not found"})
            parts = [unquote(p) for p in url.path.split("/")[3:]]  # after /api/v2
            try:
                return self._route(method, parts, query, body)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                return self._json(422, {"detail": [{"msg": str(exc)}]})

    def _page(self, key: str, items: list[dict[str, Any]], query: dict[str, list[str]]) -> None:
        limit, offset = int(query.get("limit", ["50"])[0]), int(query.get("offset", ["0"])[0])
        self._json(200, {key: items[offset : offset + limit], "total_entries": len(items)})

    def _route(self, method: str, parts: list[str], query: dict[str, list[str]], body: Any) -> None:
        from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunPatchBody, TriggerDAGRunPostBody
        from airflow.api_fastapi.core_api.datamodels.dags import DAGPatchBody
        from airflow.api_fastapi.core_api.datamodels.task_instances import ClearTaskInstancesBody

        from listings.admin.jobs import DAG_TASKS

        fake = self.fake
        if parts == ["pools"] and method == "GET":
            return self._page("pools", fake.pools, query)
        if parts == ["dags"] and method == "GET":
            pattern = query.get("dag_id_pattern", [""])[0].lower()
            found = [d for i, d in sorted(fake.dags.items()) if pattern in i.lower()]  # ILIKE %pattern%
            return self._page("dags", found, query)
        if len(parts) == 2 and parts[0] == "dags":
            dag = fake.dags.get(parts[1])
            if dag is None:
                return self._json(404, {"detail": f"Dag with id {parts[1]} was not found"})
            if method == "PATCH":
                dag["is_paused"] = DAGPatchBody.model_validate(body).is_paused
            return self._json(200, dag)
        if len(parts) >= 3 and parts[0] == "dags" and parts[1] != "~" and parts[1] not in fake.dags:
            return self._json(404, {"detail": f"Dag with id {parts[1]} was not found"})
        if len(parts) == 3 and parts[2] == "dagRuns" and method == "GET":
            states = query.get("state", [])
            pattern = query.get("dag_id_pattern", [""])[0].lower()
            found = [
                r for r in fake.runs
                if (parts[1] == "~" or r["dag_id"] == parts[1]) and (not states or r["state"] in states)
                and pattern in r["dag_id"].lower()
            ]  # fmt: skip
            return self._page("dag_runs", found, query)
        if len(parts) == 3 and parts[1] != "~" and parts[2] == "dagRuns" and method == "POST":
            trigger = TriggerDAGRunPostBody.model_validate(body)
            run = fake.add_run(
                parts[1], f"manual__{len(fake.runs) + 1}", conf=dict(trigger.conf or {}), note=trigger.note
            )
            fake.triggered.append((parts[1], body))
            return self._json(200, run)
        if len(parts) == 4 and parts[2] == "dagRuns" and method == "PATCH":
            patch = DAGRunPatchBody.model_validate(body)
            run = next(
                (r for r in fake.runs if r["dag_id"] == parts[1] and r["dag_run_id"] == parts[3]), None
            )
            if run is None:
                return self._json(404, {"detail": f"Dag run {parts[3]} of {parts[1]} was not found"})
            run["state"] = patch.state.value if patch.state else run["state"]
            run["note"] = patch.note
            if run["state"] == "failed":
                fake.cancelled.append((parts[1], parts[3], body))
            return self._json(200, run)
        if len(parts) == 3 and parts[2] == "clearTaskInstances" and method == "POST":
            clear = ClearTaskInstancesBody.model_validate(body)
            assert clear.task_ids and not clear.dry_run
            first = DAG_TASKS.index(str(clear.task_ids[0]))
            tasks = DAG_TASKS[first:] if clear.include_downstream else DAG_TASKS[first : first + 1]
            tis = [{"task_id": t, "dag_run_id": clear.dag_run_id} for t in tasks]
            return self._json(200, {"task_instances": tis, "total_entries": len(tis)})
        return self._json(404, {"detail": "not found"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_airflow() -> Iterator[FakeAirflow]:
    """A fake Airflow on 127.0.0.1 with a fresh state; not yet in the settings (see `use_airflow`)."""
    from listings.airflow_api import AirflowApi

    AirflowApi._tokens.clear()
    fake = FakeAirflow()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield fake
    server.shutdown()
    server.server_close()


def use_airflow(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point the settings at the Airflow API at `url`, with the fake's credentials."""
    from listings.settings import get_settings

    monkeypatch.setenv("LISTINGS_AIRFLOW_API_URL", url)
    monkeypatch.setenv("LISTINGS_AIRFLOW_API_USER", USER)
    monkeypatch.setenv("LISTINGS_AIRFLOW_API_PASSWORD", PASSWORD)
    get_settings.cache_clear()
