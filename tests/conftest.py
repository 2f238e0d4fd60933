"""Shared fixtures: a throwaway PostgreSQL cluster (or LISTINGS_TEST_DATABASE_URL), migrated databases
cloned from a template, isolated settings, and an Airflow home for the few tests that run Airflow."""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

# Airflow reads its configuration at import: point it at a private home before any test imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="listings-airflow-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false",
    }
)
for _key in [k for k in os.environ if k.startswith(("LISTINGS_", "AIRFLOW_CONN_"))]:
    del os.environ[_key]  # tests never touch a developer's own data folder, database or credentials


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test is `unit` (tests/unit: no database, no server), `e2e` (runs Airflow or the browser) or
    `integration` (the rest: a real PostgreSQL, HTTP servers on 127.0.0.1, the pipeline's steps)."""
    for item in items:
        if item.get_closest_marker("airflow") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.e2e)
        elif item.path.relative_to(REPO / "tests").parts[0] == "unit":
            item.add_marker(pytest.mark.unit)
        else:
            item.add_marker(pytest.mark.integration)


def _admin_url_from_env() -> str | None:
    return os.environ.get("LISTINGS_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of a superuser connection to a server the tests may create databases on."""
    external = _admin_url_from_env()
    if external:
        yield external
        return
    from listings_dev.local_postgres import LocalPostgres

    root = Path(tempfile.mkdtemp(prefix="listings-test-pg-"))
    root.chmod(0o755)  # PostgreSQL runs as the postgres user and must reach its data folder
    pg = LocalPostgres(root / "pg", fast=True)
    pg.start()
    try:
        yield pg.url("postgres")
    finally:
        pg.destroy()
        shutil.rmtree(root, ignore_errors=True)


def _server_conn(admin_url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(admin_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _db_url(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database that test databases are cloned from (CREATE DATABASE ... TEMPLATE)."""
    from listings.db.engine import engine_for, migrate

    name = f"listings_tpl_{uuid.uuid4().hex[:8]}"
    with _server_conn(pg_admin_url) as conn:
        conn.execute(f'create database "{name}"')
    url = _db_url(pg_admin_url, name)
    migrate(url)
    _build_views(url, tmp_path_factory.mktemp("template-home"))
    engine_for(url).dispose()
    return name


def _build_views(url: str, home: Path) -> None:
    """The dbt views in the template: each test's first promotion then finds them built from these very
    models (`promote.build_views`) instead of running `dbt run` with a full parse."""
    from listings.db.engine import get_engine
    from listings.pipeline.promote import build_views
    from listings.settings import get_settings

    with pytest.MonkeyPatch.context() as env:
        env.setenv("LISTINGS_DATABASE_URL", url)
        env.setenv("LISTINGS_HOME", str(home))
        get_settings.cache_clear()
        try:
            build_views()
            get_engine().dispose()
        finally:
            get_settings.cache_clear()


@pytest.fixture
def empty_db_url(pg_admin_url: str) -> Iterator[str]:
    """A new, empty database (no migrations applied)."""
    name = f"listings_empty_{uuid.uuid4().hex[:8]}"
    with _server_conn(pg_admin_url) as conn:
        conn.execute(f'create database "{name}"')
    yield _db_url(pg_admin_url, name)
    _drop(pg_admin_url, name)


def _drop(admin_url: str, name: str) -> None:
    from listings.db.engine import engine_for

    engine_for(_db_url(admin_url, name)).dispose()
    with _server_conn(admin_url) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def worker_tag(worker_id: str) -> str:
    """This test process's part of its databases' names, the same for the whole session: dbt re-parses the
    whole project whenever the database it connects to has another name (the name is part of its
    partial-parse check), 1.5 s per promotion instead of 0.2 s."""
    return f"{uuid.uuid4().hex[:8]}_{worker_id}"


@pytest.fixture(scope="session")
def dbt_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One dbt target folder per test process (LISTINGS_DBT_WORK_DIR), where its parsed project stays."""
    return tmp_path_factory.mktemp("dbt-work")


def _clone(admin_url: str, template: str, name: str) -> str:
    """`name`, a fresh copy of `template` (whatever a previous test left under that name is dropped)."""
    _drop(admin_url, name)
    with _server_conn(admin_url) as conn:
        conn.execute(f'create database "{name}" template "{template}"')
    return _db_url(admin_url, name)


@pytest.fixture
def db_url(pg_admin_url: str, template_db: str, worker_tag: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    name = f"listings_test_{worker_tag}"
    yield _clone(pg_admin_url, template_db, name)
    _drop(pg_admin_url, name)


@pytest.fixture
def another_db_url(pg_admin_url: str, template_db: str, worker_tag: str) -> Iterator[str]:
    """A second fresh, migrated database (a second, independent import in one test)."""
    name = f"listings_test_{worker_tag}_b"
    yield _clone(pg_admin_url, template_db, name)
    _drop(pg_admin_url, name)


@pytest.fixture
def listings_env(
    db_url: str, dbt_work_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Settings for one test: a fresh database, a private data folder, file:// objects. Yields LISTINGS_HOME."""
    from listings.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("LISTINGS_HOME", str(home))
    # configs of the tests name files they write under tmp_path, and the bundled samples
    monkeypatch.setenv(
        "LISTINGS_IMPORT_ROOTS", os.pathsep.join([str(tmp_path), str(REPO / "include" / "samples")])
    )
    monkeypatch.setenv("LISTINGS_DATABASE_URL", db_url)
    monkeypatch.setenv("LISTINGS_DBT_WORK_DIR", str(dbt_work_dir))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def engine(listings_env: Path):  # type: ignore[no-untyped-def]
    from listings.db.engine import get_engine

    return get_engine()


@dataclass(frozen=True)
class _Built:
    database: str  # a template database: the catalogue the builder left
    home: Path  # a copy of the data folder it left (raw and transformed objects, images, uploads)
    folder: Path  # the builder's own files (its uploads), which the jobs' parameters name
    value: Any


@pytest.fixture(scope="session")
def _built_scenarios(pg_admin_url: str) -> Iterator[dict[str, _Built]]:
    built: dict[str, _Built] = {}
    yield built
    for b in built.values():
        _drop(pg_admin_url, b.database)


@pytest.fixture
def scenario(
    listings_env: Path,
    db_url: str,
    pg_admin_url: str,
    worker_tag: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    _built_scenarios: dict[str, _Built],
) -> Callable[[Callable[[Any, Path], Any]], Any]:
    """`scenario(build)`: this test's database and data folder as `build(engine, folder)` leaves them, and
    its value. `build` runs once per test process (a few `run_job`s: seconds); every later test gets a copy
    (CREATE DATABASE ... TEMPLATE and a folder copy: a fraction of a second). `folder` is the builder's
    own, kept for the session and importable, so its jobs' files stay readable for re-runs."""
    from listings.db.engine import engine_for, get_engine
    from listings.settings import get_settings

    def use(build: Callable[[Any, Path], Any]) -> Any:
        key = f"{build.__module__}.{build.__qualname__}"
        built = _built_scenarios.get(key)
        folder = built.folder if built else tmp_path_factory.mktemp("scenario")
        roots = os.environ["LISTINGS_IMPORT_ROOTS"]
        monkeypatch.setenv("LISTINGS_IMPORT_ROOTS", os.pathsep.join([roots, str(folder)]))
        get_settings.cache_clear()
        if built is None:
            value = build(get_engine(), folder)
            engine_for(db_url).dispose()
            name = f"listings_scenario_{len(_built_scenarios)}_{worker_tag}"
            with _server_conn(pg_admin_url) as conn:
                conn.execute(f'create database "{name}" template "{db_url.rpartition("/")[2]}"')
            listings_env.mkdir(parents=True, exist_ok=True)
            shutil.copytree(listings_env, folder / ".home", symlinks=True)
            built = _built_scenarios[key] = _Built(name, folder / ".home", folder, value)
        else:
            _clone(pg_admin_url, built.database, db_url.rpartition("/")[2])
            shutil.rmtree(listings_env, ignore_errors=True)
            shutil.copytree(built.home, listings_env, symlinks=True)
        return copy.deepcopy(built.value)

    return use


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Switch the settings to s3:// storage on the moto server through an Airflow connection."""
    import json

    from listings.settings import get_settings

    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LISTINGS_S3_TEST", json.dumps(conn))
    monkeypatch.setenv("LISTINGS_STORAGE_URL", "s3://")
    monkeypatch.setenv("LISTINGS_STORAGE_CONN_ID", "listings_s3_test")
    import requests

    requests.post(f"{s3_server}/moto-api/reset", timeout=10).raise_for_status()  # empty buckets per test
    get_settings.cache_clear()
    return s3_server
