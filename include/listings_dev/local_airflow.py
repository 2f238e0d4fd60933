"""Airflow on one machine for `make demo`: api-server, scheduler, dag-processor and triggerer as background
processes, LocalExecutor, metadata in the `airflow` database of the listings PostgreSQL.

State (logs, pid files, secrets that must survive restarts) lives under `$LISTINGS_HOME/airflow` (0700;
secrets and the passwords file 0600, outside any folder a config may name). The API server listens on
127.0.0.1 unless told otherwise. Logins: `admin` and `viewer` with random passwords made once and kept in
the passwords file, or the fixed demo logins (admin/admin, viewer/viewer) when `demo_logins` (`make demo`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy.engine import make_url

from listings.db.engine import database_url
from listings.private_files import write_private
from listings.settings import Settings

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DEMO_USERS = {"admin": "admin", "viewer": "viewer"}


@dataclass(frozen=True)
class LocalAirflow:
    settings: Settings
    port: int = 8080
    metadata_database: str = "airflow"  # Airflow's own database, on the listings PostgreSQL server
    host: str = "127.0.0.1"  # the API server's address: loopback unless the operator asks for more
    demo_logins: bool = False  # admin/admin and viewer/viewer (make demo only); else random passwords
    components: tuple[str, ...] = COMPONENTS

    @property
    def home(self) -> Path:
        return self.settings.home / "airflow"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"

    def _home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        return self.home

    def _secret(self, name: str, make: object = None) -> str:
        path = self._home() / name
        if not path.exists():
            write_private(path, secrets.token_urlsafe(32) if make is None else str(make))
        path.chmod(0o600)
        return path.read_text().strip()

    @property
    def logins(self) -> dict[str, str]:
        """The users and their passwords: the demo's fixed ones, or random ones made once and kept."""
        if self.demo_logins:
            wanted = dict(DEMO_USERS)
        else:
            try:
                wanted = json.loads(self.passwords_file.read_text())
            except (OSError, ValueError):
                wanted = {}
            if set(wanted) != set(DEMO_USERS) or wanted == DEMO_USERS:
                wanted = {user: secrets.token_urlsafe(12) for user in DEMO_USERS}
        if not self.passwords_file.exists() or json.loads(self.passwords_file.read_text()) != wanted:
            write_private(self._home() / self.passwords_file.name, json.dumps(wanted))
        self.passwords_file.chmod(0o600)
        return wanted

    def metadata_url(self) -> str:
        url = make_url(database_url(self.settings))
        return url.set(drivername="postgresql+psycopg2", database=self.metadata_database).render_as_string(
            hide_password=False
        )

    def env(self) -> dict[str, str]:
        logins = self.logins
        from cryptography.fernet import Fernet

        project = self.settings.project_dir
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url(),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(project / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{u}" for u in DEMO_USERS),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__CORE__FERNET_KEY": self._secret("fernet_key", Fernet.generate_key().decode()),
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
            "AIRFLOW__API__SECRET_KEY": self._secret("api_secret_key"),
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "LISTINGS_HOME": str(self.settings.home),
            # the admin UI's schedule, run-now and re-run buttons call this Airflow's REST API as admin
            "LISTINGS_AIRFLOW_API_URL": self.url,
            "LISTINGS_AIRFLOW_API_USER": "admin",
            "LISTINGS_AIRFLOW_API_PASSWORD": logins["admin"],
            "DO_NOT_TRACK": "1",
            "GX_ANALYTICS_ENABLED": "false",
        }

    def _airflow(self, *args: str, env: dict[str, str]) -> None:
        res = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True
        )
        if res.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{res.stderr[-3000:]}")

    def import_pools(self, env: dict[str, str]) -> None:
        from listings.orchestration.pools import active_pools_document

        path = self.home / "pools.json"
        path.write_text(json.dumps(active_pools_document(), indent=2))
        self._airflow("pools", "import", str(path), env=env)

    def _pidfile(self, component: str) -> Path:
        return self.home / f"{component}.pid"

    def _alive(self, component: str) -> int | None:
        path = self._pidfile(component)
        if not path.exists():
            return None
        pid = int(path.read_text())
        with contextlib.suppress(
            ChildProcessError
        ):  # our own child (tests start Airflow): reap it if it ended
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                path.unlink()
                return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            path.unlink()
            return None
        return pid

    def start(self, timeout: float = 240) -> None:
        env = self.env()
        self._airflow("db", "migrate", env=env)
        self.import_pools(env)
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        for component in self.components:
            if self._alive(component):
                continue
            args = [component]
            if component == "api-server":
                args += ["--host", self.host, "--port", str(self.port)]
            with (logs / f"{component}.log").open("ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "airflow", *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # survives `make demo` returning; stopped by `listings airflow stop`
                    cwd=self.home,
                )
            self._pidfile(component).write_text(str(proc.pid))
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            dead = [c for c in self.components if not self._alive(c)]
            if dead:
                raise RuntimeError(f"Airflow {', '.join(dead)} exited; see {self.home / 'logs'}")
            try:
                health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
                states = {k: v.get("status") for k, v in health.items() if isinstance(v, dict)}
                if states.get("metadatabase") == "healthy" and states.get("scheduler") == "healthy":
                    return
                last = json.dumps(states)
            except (requests.RequestException, ValueError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise TimeoutError(f"Airflow not healthy after {timeout:.0f}s ({last}); see {self.home / 'logs'}")

    def token(self, user: str = "admin") -> str:
        res = requests.post(
            f"{self.url}/auth/token", json={"username": user, "password": self.logins[user]}, timeout=10
        )
        res.raise_for_status()
        return str(res.json()["access_token"])

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        headers = {"Authorization": f"Bearer {self.token()}"}
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while time.monotonic() < deadline:
            missing = [
                d
                for d in dag_ids
                if requests.get(f"{self.url}/api/v2/dags/{d}", headers=headers, timeout=10).status_code != 200
            ]
            if not missing:
                return
            time.sleep(1)
        raise TimeoutError(f"DAGs not parsed after {timeout:.0f}s: {', '.join(missing)}")

    def trigger_if_never_run(self, dag_id: str) -> str | None:
        """Trigger one run of a DAG that has none yet (the demo's first look shows a finished run)."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        runs = requests.get(f"{self.url}/api/v2/dags/{dag_id}/dagRuns", headers=headers, timeout=10)
        runs.raise_for_status()
        if runs.json().get("total_entries", 0):
            return None
        res = requests.post(
            f"{self.url}/api/v2/dags/{dag_id}/dagRuns",
            headers=headers,
            json={"logical_date": None, "conf": {}},
            timeout=10,
        )
        res.raise_for_status()
        return str(res.json()["dag_run_id"])

    def stop(self, timeout: float = 30) -> list[str]:
        """SIGTERM to every component at once (each shuts down in seconds; one after the other took the sum),
        then SIGKILL to any still running after `timeout`."""
        running = {c: pid for c in COMPONENTS if (pid := self._alive(c)) is not None}
        for pid in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(self._alive(c) for c in running) and time.monotonic() < deadline:
            time.sleep(0.2)
        for component, pid in running.items():
            if self._alive(component):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            self._pidfile(component).unlink(missing_ok=True)
        return list(running)

    def status(self) -> dict[str, int | None]:
        return {c: self._alive(c) for c in self.components}
