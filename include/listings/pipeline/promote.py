"""Run dbt: build the staging/intermediate views and apply one job's change set to `public`.

dbt's credentials come from the settings (LISTINGS_DATABASE_URL or the local cluster), passed to the
committed, secret-free `dbt/profiles.yml` through environment variables.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import make_url

from listings.db.engine import database_url
from listings.settings import get_settings

log = logging.getLogger(__name__)


class DbtError(RuntimeError):
    pass


def dbt_env(database_url: str) -> dict[str, str]:
    url = make_url(database_url)
    return {
        "LISTINGS_DBT_HOST": url.host or "127.0.0.1",
        "LISTINGS_DBT_PORT": str(url.port or 5432),
        "LISTINGS_DBT_USER": url.username or "",
        "LISTINGS_DBT_PASSWORD": url.password or "",
        "LISTINGS_DBT_DBNAME": url.database or "",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _behavior_flag_source() -> str:
    """The module that declared a dbt behavior flag: the first caller outside dbt_common.behavior_flags."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name and name != "dbt_common.behavior_flags":
            return str(name)
        frame = frame.f_back  # type: ignore[assignment]
    return "Unknown"


def _quick_behavior_flags() -> None:
    """dbt names the module behind each of its adapter's behavior flags with `inspect.stack()` on every
    invocation: that reads the source of every frame and, for a frame run from a string (a pytest-xdist
    worker, any `exec`), scans every loaded module. With Airflow and Great Expectations loaded it was 85% of
    a promotion's time in the test workers (seconds per promotion). The same name, read from the frames."""
    from dbt_common.behavior_flags import BehaviorFlagRendered

    BehaviorFlagRendered._default_source = staticmethod(_behavior_flag_source)  # type: ignore[method-assign]


def run_dbt(args: Sequence[str], *, quiet: bool = True) -> object:
    """Invoke dbt in-process with the project's paths; raise DbtError with dbt's message on failure."""
    from dbt.cli.main import dbtRunner

    _quick_behavior_flags()
    settings = get_settings()
    work = settings.dbt_work_path
    common = [
        "--project-dir", str(settings.dbt_project_dir),
        "--profiles-dir", str(settings.dbt_project_dir),
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
    ]  # fmt: skip
    errors: list[str] = []  # dbt's error events: a failed operation carries its message only there

    def collect(event: Any) -> None:
        if event.info.level == "error" and event.info.msg:
            errors.append(str(event.info.msg).strip())

    with _environ(dbt_env(database_url(settings))):
        res = dbtRunner(callbacks=[collect]).invoke([*args, *common, *(["--quiet"] if quiet else [])])
    if not res.success:
        detail = res.exception or _failures(res.result) or " | ".join(errors) or f"see {work / 'logs'}"
        raise DbtError(f"dbt {' '.join(args)} failed: {detail}")
    return res.result


def _failures(result: object) -> str:
    return "; ".join(
        f"{r.node.name}: {r.message}"
        for r in getattr(result, "results", []) or []
        if getattr(r, "status", None) not in ("success", "pass") and getattr(r, "node", None) and r.message
    )


MARKED_VIEW = "staging.int_listing_changes"  # its comment records the models it was built from


def models_digest() -> str:
    """SHA-256 of the dbt project's models, macros and settings: what the views are built from."""
    import hashlib

    root = get_settings().dbt_project_dir
    digest = hashlib.sha256()
    for path in sorted(
        p for p in root.rglob("*") if p.suffix in (".sql", ".yml") and "target" not in p.parts
    ):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_views() -> None:
    """`dbt run` (the stg_/int_ views), skipped when the database's views were built from these very models:
    a promotion then costs only its own SQL, not a dbt run."""
    from sqlalchemy import text

    from listings.db.engine import get_engine

    digest = models_digest()
    query = text("select obj_description(to_regclass(:v), 'pg_class')")
    with get_engine().connect() as conn:
        if conn.execute(query, {"v": MARKED_VIEW}).scalar() == f"models {digest}":
            return
    run_dbt(["run"])
    with get_engine().begin() as conn:
        conn.execute(text(f"comment on view {MARKED_VIEW} is 'models {digest}'"))


# Tables a promotion grows; their statistics are refreshed after a large batch (see analyze_after).
PROMOTED_TABLES = (
    "public.listings",
    "public.listing_info",
    "public.locations",
    "public.contact_info",
    "public.listing_images",
    "pipeline.bridge_source_listing",
)
ANALYZE_THRESHOLD = 1000


def promote_job(job_id: int) -> None:
    build_views()
    run_dbt(["run-operation", "promote_job", "--args", json.dumps({"job_id": job_id})])
    log.info("job %s promoted", job_id)
    analyze_after(job_id)


def promotion_sql(job_id: int) -> str:
    """The SQL `promote_job` runs for the job (one transaction: `begin;` ... `commit;`), rendered by dbt from
    the `promote_job_sql` macro: for reading its statements' plans (tests) or running it by hand."""
    macro = "{{ promote_job_sql(" + str(int(job_id)) + ") }}"
    result: Any = run_dbt(["compile", "--inline", macro])
    return str(result.results[0].node.compiled_code)


def analyze_after(job_id: int) -> None:
    """Refresh planner statistics after a batch that added or changed many rows.

    Autovacuum catches up only a minute or so later; a promotion planned on stale statistics (e.g.
    tables still estimated empty after a first 100k-row import) picks nested loops that take minutes.
    (Within its own transaction the promotion analyses what it grew: `refresh_statistics` in
    promote_job.sql; this refreshes every column once it is committed.) Each table is analysed in its own
    transaction: holding one table's lock while waiting for the next could deadlock with a promotion
    analysing them in its transaction.
    """
    from sqlalchemy import text

    from listings.db.engine import get_engine

    engine = get_engine()
    with engine.connect() as conn:
        changed = conn.execute(
            text(
                # the records that added or changed a listing_info: every promoted one but the unchanged
                "select coalesce(records_matched, 0) + coalesce(records_review, 0) + coalesce(records_new, 0)"
                " - coalesce(records_unchanged, 0) from pipeline.job_results where job_id = :j"
            ),
            {"j": job_id},
        ).scalar()
    if (changed or 0) >= ANALYZE_THRESHOLD:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in PROMOTED_TABLES:
                conn.execute(text(f"analyze {table}"))
