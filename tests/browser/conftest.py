"""Browser tests of the admin UI: a real Airflow (api-server with the plugin, scheduler, dag-processor;
LocalExecutor) on a private database and port, and Debian's Chromium driven by Playwright.

The catalogue is seeded in-process (`run_job`) before Airflow starts: DMO 101's three places, then DMO 102's
file whose bare "Olimpico" waits in the review queue. Screenshots go to $LISTINGS_TEST_ARTIFACTS
(default: test-artifacts/ in the checkout), one PNG per page and step.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DMO_101,
    DMO_102,
    Stack,
    csv_config,
    write_csv,
)

from listings_dev.local_postgres import free_port


@pytest.fixture(scope="module")
def stack(pg_admin_url: str, template_db: str) -> Iterator[Stack]:
    import psycopg

    from listings.config.store import apply_config
    from listings.db.engine import get_engine
    from listings.pipeline.runner import run_job
    from listings.settings import get_settings
    from listings_dev.local_airflow import LocalAirflow

    sys_path = tempfile.mkdtemp(prefix="listings-browser-")
    home = Path(sys_path) / "home"
    listings_db, airflow_db = f"listings_ui_{uuid.uuid4().hex[:8]}", f"airflow_ui_{uuid.uuid4().hex[:8]}"
    server = pg_admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'create database "{listings_db}" template "{template_db}"')
        conn.execute(f'create database "{airflow_db}"')
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mp = pytest.MonkeyPatch()
    mp.setenv("LISTINGS_HOME", str(home))
    mp.setenv("LISTINGS_DATABASE_URL", f"{pg_admin_url.rpartition('/')[0]}/{listings_db}")
    mp.setenv("AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL", "5")  # a new DMO's DAG appears quickly
    mp.setenv("AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME", "1")
    get_settings.cache_clear()
    engine = get_engine()
    with engine.begin() as conn:
        apply_config(conn, csv_config(101))
        apply_config(conn, csv_config(102))
    run_job(101, file=write_csv(Path(sys_path) / "dmo101.csv", DMO_101))
    run_job(102, file=write_csv(Path(sys_path) / "dmo102.csv", DMO_102))
    # no triggerer: no task of the pipeline defers
    components = ("api-server", "scheduler", "dag-processor")
    airflow = LocalAirflow(get_settings(), port=port, metadata_database=airflow_db, components=components)
    try:
        airflow.start(timeout=300)
        airflow.wait_for_dags(["dmo_101_listings", "dmo_102_listings"])
        yield Stack(url=url, admin=f"{url}/listings-admin", engine=engine, airflow=airflow, home=home)
    finally:
        airflow.stop()
        engine.dispose()
        mp.undo()
        get_settings.cache_clear()
        with psycopg.connect(server, autocommit=True) as conn:
            for name in (listings_db, airflow_db):
                conn.execute(f'drop database if exists "{name}" with (force)')
        logs = home / "airflow" / "logs"
        if logs.exists():  # kept with the screenshots: what the API server and scheduler said
            shutil.copytree(logs, ARTIFACTS.parent / "airflow-logs", dirs_exist_ok=True)
        shutil.rmtree(sys_path, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def login(browser: Any, stack: Stack, user: str) -> Any:
    """A new browser session logged in through Airflow's own login page; returns its page."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(f"{stack.url}/")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.get_by_label(re.compile("username", re.I)).fill(user)
    page.get_by_label(re.compile("password", re.I)).fill(stack.airflow.logins[user])
    page.get_by_role("button", name=re.compile("sign in|log in|login", re.I)).click()
    page.wait_for_url(lambda u: "/auth/login" not in u)
    assert any(c["name"] == "_token" for c in context.cookies())
    return page


@pytest.fixture(scope="module")
def as_admin(browser: Any, stack: Stack) -> Iterator[Any]:
    page = login(browser, stack, "admin")
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def as_viewer(browser: Any, stack: Stack) -> Iterator[Any]:
    page = login(browser, stack, "viewer")
    yield page
    page.context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """shot(page, "name") saves a full-page screenshot as an artifact; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}--{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
