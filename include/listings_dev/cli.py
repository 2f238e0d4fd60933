"""The development commands `listings` gains when `listings_dev` is installed: the project-local
PostgreSQL (`db start|stop|status`), Airflow on this machine (`airflow start|stop|status`) and the demo
source sites (`demo-sites`), which `make demo` and the tests use."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from listings.settings import get_settings

if TYPE_CHECKING:
    from listings_dev.local_airflow import LocalAirflow
    from listings_dev.local_postgres import LocalPostgres


@click.group()
def db() -> None:
    """The project-local PostgreSQL."""


@click.group()
def airflow() -> None:
    """Airflow on this machine (api-server, scheduler, dag-processor, triggerer) for the demo."""


def _local() -> LocalPostgres:
    from listings_dev.local_postgres import LocalPostgres

    return LocalPostgres(get_settings().pg_dir)


def _external() -> bool:
    if get_settings().database_url:
        click.echo("LISTINGS_DATABASE_URL is set: using that server, not the project-local one.", err=True)
        return True
    return False


@db.command("start")
@click.option("--database", "databases", multiple=True, default=("listings",), show_default=True)
def db_start(databases: tuple[str, ...]) -> None:
    """Start (and on first use initialise) the local PostgreSQL 15 cluster under $LISTINGS_HOME/pg."""
    if _external():
        return
    pg = _local()
    st = pg.start()
    for name in databases:
        pg.ensure_database(name)
    click.echo(f"PostgreSQL running on 127.0.0.1:{st.port} (data: {pg.data})")


@db.command("stop")
def db_stop() -> None:
    """Stop the local cluster (data is kept)."""
    if _external():
        return
    _local().stop()
    click.echo("PostgreSQL stopped")


@db.command("status")
def db_status() -> None:
    """Say whether the local cluster runs, and where."""
    if _external():
        return
    pg = _local()
    if not pg.initialized():
        click.echo(f"not initialised ({pg.data})")
        sys.exit(3)
    running = pg.running()
    click.echo(f"{'running' if running else 'stopped'} on 127.0.0.1:{pg.state().port} (data: {pg.data})")
    sys.exit(0 if running else 3)


def _local_airflow(port: int, **options: Any) -> LocalAirflow:
    from listings_dev.local_airflow import LocalAirflow

    return LocalAirflow(get_settings(), port=port, **options)


_PORT = click.option("--port", default=8080, show_default=True, envvar="LISTINGS_AIRFLOW_PORT")


@airflow.command("start")
@_PORT
@click.option("--trigger/--no-trigger", default=True, help="Run each DMO DAG once if it never ran.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="LISTINGS_AIRFLOW_HOST",
    help="Address the API server listens on (0.0.0.0 exposes the UI to the network).",
)
@click.option(
    "--demo-logins", is_flag=True, help="Fixed logins admin/admin and viewer/viewer (make demo); else random."
)
def airflow_start(port: int, trigger: bool, host: str, demo_logins: bool) -> None:
    """Start Airflow in the background; print the UI URL and login."""
    from listings.config.store import list_configs
    from listings.db.engine import get_engine
    from listings_dev.local_postgres import LocalPostgres

    settings = get_settings()
    if not settings.database_url:
        LocalPostgres(settings.pg_dir).ensure_database("airflow")
    af = _local_airflow(port, host=host, demo_logins=demo_logins)
    af.start()
    with get_engine().connect() as conn:
        dag_ids = [s.config.dag_id for s in list_configs(conn, active_only=True)]
    af.wait_for_dags(dag_ids)
    if trigger:
        for dag_id in dag_ids:
            run_id = af.trigger_if_never_run(dag_id)
            if run_id:
                click.echo(f"triggered {dag_id}: {run_id}")
    logins = af.logins
    click.echo(
        f"\nAirflow UI: {af.url}/   login: admin / {logins['admin']}   (read-only: viewer / {logins['viewer']})"
    )
    if not demo_logins:
        click.echo(f"passwords kept in {af.passwords_file} (mode 0600)")
    click.echo(f"DMO DAGs: {', '.join(dag_ids)}   logs: {af.home / 'logs'}   stop: make stop")


@airflow.command("stop")
@_PORT
def airflow_stop(port: int) -> None:
    """Stop the background Airflow processes."""
    stopped = _local_airflow(port).stop()
    click.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@airflow.command("status")
@_PORT
def airflow_status(port: int) -> None:
    """Show which Airflow processes run."""
    status = _local_airflow(port).status()
    for component, pid in status.items():
        click.echo(f"{component:14} {f'running (pid {pid})' if pid else 'stopped'}")
    sys.exit(0 if all(status.values()) else 3)


# --- demo sites ------------------------------------------------------------------------------------
@click.group("demo-sites")
def demo_sites() -> None:
    """Local stand-ins for every source type (WordPress, Drupal, HTML, affiliate API, ArcGIS, HERE)."""


_SITES_PORT = click.option("--port", default=8765, show_default=True, envvar="LISTINGS_DEMO_SITES_PORT")


def _sites_pidfile() -> Path:
    return get_settings().home / "demo-sites.pid"


@demo_sites.command("serve")
@_SITES_PORT
def demo_sites_serve(port: int) -> None:
    """Serve the demo sites in the foreground."""
    from listings_dev.demo_sites import DemoSites

    sites = DemoSites(port=port)
    click.echo(f"demo sites on {sites.base_url}/", err=True)
    sites.serve_forever()


@demo_sites.command("start")
@_SITES_PORT
def demo_sites_start(port: int) -> None:
    """Serve the demo sites in the background (pid in $LISTINGS_HOME/demo-sites.pid)."""
    import subprocess
    import time

    import requests

    url = f"http://127.0.0.1:{port}/"
    pidfile = _sites_pidfile()
    try:
        if requests.get(url, timeout=2).ok and pidfile.exists():
            click.echo(f"demo sites already running on {url}")
            return
    except requests.RequestException:
        pass
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    log = (get_settings().home / "demo-sites.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "listings.cli", "demo-sites", "serve", "--port", str(port)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    pidfile.write_text(str(proc.pid))
    for _ in range(100):
        try:
            if requests.get(url, timeout=2).ok:
                click.echo(f"demo sites running on {url}")
                return
        except requests.RequestException:
            time.sleep(0.1)
    click.echo(f"demo sites did not start; see {get_settings().home / 'demo-sites.log'}", err=True)
    sys.exit(1)


@demo_sites.command("stop")
def demo_sites_stop() -> None:
    """Stop the background demo sites."""
    import os
    import signal

    pidfile = _sites_pidfile()
    if not pidfile.exists():
        click.echo("demo sites: not running")
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
    pidfile.unlink()
    click.echo("demo sites stopped")


def register(main: click.Group) -> None:
    """Adds these commands to the `listings` command's `db` and `airflow` groups, and `demo-sites`."""
    for name, group in (("db", db), ("airflow", airflow)):
        target = main.commands[name]
        assert isinstance(target, click.Group)
        for command in group.commands.values():
            target.add_command(command)
    main.add_command(demo_sites)
