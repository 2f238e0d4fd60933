"""The project-local PostgreSQL: init on first start, data kept across restarts, CLI status/url."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from listings.cli import main
from listings_dev.local_postgres import LocalPostgres


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Path:
    from listings.settings import get_settings

    root = Path(tempfile.mkdtemp(prefix="listings-localpg-"))
    root.chmod(0o755)
    monkeypatch.setenv("LISTINGS_HOME", str(root))
    monkeypatch.delenv("LISTINGS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield root
    LocalPostgres(root / "pg").destroy()
    shutil.rmtree(root, ignore_errors=True)
    get_settings.cache_clear()


def test_cli_start_status_url_stop_keeps_data(home: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["db", "start"])
    assert res.exit_code == 0, res.output
    assert "PostgreSQL running on 127.0.0.1:" in res.output

    url = runner.invoke(main, ["db", "url", "--driver", "postgresql"]).output.strip()
    assert url.startswith("postgresql://listings:") and url.endswith("/listings")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table kept (v text)")
        conn.execute("insert into kept values ('still here')")

    assert runner.invoke(main, ["db", "status"]).exit_code == 0
    assert runner.invoke(main, ["db", "stop"]).exit_code == 0
    assert runner.invoke(main, ["db", "status"]).exit_code == 3
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)

    res = runner.invoke(main, ["db", "start"])  # same data folder: no initdb, same password
    assert res.exit_code == 0, res.output
    url2 = runner.invoke(main, ["db", "url", "--driver", "postgresql"]).output.strip()
    with psycopg.connect(url2) as conn:
        assert conn.execute("select v from kept").fetchone() == ("still here",)
        assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute(
            "select count(*) from pg_available_extensions where name = 'postgis'"
        ).fetchone() == (1,)


def test_restart_moves_to_a_free_port_when_its_port_is_taken(home: Path) -> None:
    import socket

    pg = LocalPostgres(home / "pg")
    port = pg.start().port
    pg.stop()
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the old server's TIME_WAITs
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        new_port = pg.start().port
    assert new_port != port
    assert pg.state().port == new_port
    pg.stop()


def test_a_project_the_postgres_user_cannot_enter_still_gets_its_cluster() -> None:
    """As root, initdb and postgres run as the postgres user, which cannot enter a project under root's
    0700 home: `make demo` from /root/listings-pipeline failed in initdb. The cluster then lives outside the
    project, which keeps a symlink to it; a later command finds it there."""
    import os

    private = Path(tempfile.mkdtemp(prefix="listings-private-"))  # 0700, as /root is
    home = private / "listings-pipeline" / ".listings" / "pg"
    pg = LocalPostgres(home, fast=True)
    try:
        st = pg.start()
        with psycopg.connect(pg.url("postgres", driver="postgresql"), autocommit=True) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        again = LocalPostgres(home)  # another command, from the project's folder
        assert again.running() and again.state().port == st.port
        if os.geteuid() == 0:
            assert home.is_symlink() and not str(again.data).startswith(str(private))
    finally:
        pg.destroy()
        shutil.rmtree(private, ignore_errors=True)
    assert not home.exists() and not pg.root.exists()
