"""One SQLAlchemy engine per database URL, and the helpers that run migrations."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, create_engine

from listings.settings import Settings, get_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
LOCAL_SUPERUSER = "listings"  # the project-local cluster's only role (`listings db start`)


def local_cluster_url(root: Path, database: str = "listings", driver: str = "postgresql+psycopg") -> str:
    """The URL of a database of the project-local cluster under `root`, from the port and password its
    `listings db start` wrote to root/state.json."""
    state = Path(root) / "state.json"
    if not state.exists():
        raise RuntimeError(
            f"no local PostgreSQL under {root}: set LISTINGS_DATABASE_URL, or run `listings db start`"
        )
    raw = json.loads(state.read_text())
    return f"{driver}://{LOCAL_SUPERUSER}:{raw['password']}@127.0.0.1:{int(raw['port'])}/{database}"


def database_url(settings: Settings | None = None) -> str:
    """The database URL: `LISTINGS_DATABASE_URL`, else the project-local cluster's."""
    settings = settings or get_settings()
    return settings.database_url or local_cluster_url(settings.pg_dir)


@cache
def engine_for(url: str) -> Engine:
    return create_engine(
        url, pool_pre_ping=True, connect_args={"connect_timeout": 5, "options": "-c timezone=UTC"}
    )


def get_engine() -> Engine:
    return engine_for(database_url())


def alembic_config(url: str | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", (url or database_url()).replace("%", "%%"))
    return cfg


def migrate(url: str | None = None, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)
