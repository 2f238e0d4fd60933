"""Run dbt: build the staging/intermediate views, and promote one job: `dbt build --select promotion`
builds the job's change logs, tests them and applies them to `public` (dbt/models/promotion).

dbt's credentials come from the settings (LISTINGS_DATABASE_URL or the local cluster), passed to the
committed, secret-free `dbt/profiles.yml` through environment variables.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import make_url

from listings.catalogue.merge import PROMOTION_LOCK  # the apply (dbt/macros/promotion_apply.sql) takes it too
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


def run_dbt(args: Sequence[str], *, quiet: bool = True, manifest: Any = None) -> object:
    """Invoke dbt in-process with the project's paths; raise DbtError with dbt's message on failure.
    With a manifest (parse_project), dbt does not parse the project again."""
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
        res = dbtRunner(manifest=manifest, callbacks=[collect]).invoke(
            [*args, *common, *(["--quiet"] if quiet else [])]
        )
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


STALE_CHANGE_LOG = "changed since the change log was built"
BUILD_ATTEMPTS = 3
BUILD_THREADS = 4
PARALLEL_FROM_RECORDS = 5000  # a job's staged records from which it is large (is_large, build_large)
GATE_FAILURE = re.compile(r"\b(gate_\w+): Got \d+ results?")
GATE_AUDIT_SCHEMA = "dbt_test__audit"  # where dbt keeps a failed test's rows (store_failures)

_manifests: dict[str, Any] = {}


def parse_project() -> Any:
    """The project's parsed manifest, kept per process for these models.

    A run with other `--vars` (each promotion names its job) would make dbt parse the whole project again
    (1.5-2 s); parsed once without them (a partial parse, when the project did not change), the manifest
    serves every job: dbt renders `var('job_id')` when it compiles a model, with that run's vars. (It names
    the database it was parsed for: one per database.)"""
    settings = get_settings()
    key = f"{models_digest()} {database_url(settings)} {settings.dbt_work_path}"
    if key not in _manifests:
        _manifests.clear()
        _manifests[key] = run_dbt(["parse", "--no-write-json"])
    return _manifests[key]


@contextmanager
def promotion_lock(job_id: int) -> Iterator[bool]:
    """Hold the promotion lock (a session advisory lock, on a connection of its own) for a job's whole
    promotion: its change logs are built from the catalogue as it is, and applied before anything else
    changes it (merges and review decisions wait for it too). Yields whether the job is promoted already.
    The connection is named for the job, so the apply, which takes the lock itself when run by hand, knows
    it is held for it. A killed process's connection closes, and the lock goes with it."""
    from sqlalchemy import text

    from listings.db.engine import get_engine

    with get_engine().connect() as conn:
        conn.execute(
            text("select set_config('application_name', :n, false)"),
            {"n": f"listings promotion of job {job_id}"},
        )
        conn.execute(text("select pg_advisory_lock(hashtext(:k))"), {"k": PROMOTION_LOCK})
        conn.commit()
        try:
            promoted = conn.execute(
                text("select promoted_at is not null from pipeline.jobs where id = :j"), {"j": job_id}
            ).scalar()
            conn.commit()
            yield bool(promoted)
        finally:
            conn.execute(text("select pg_advisory_unlock(hashtext(:k))"), {"k": PROMOTION_LOCK})
            conn.execute(text("reset application_name"))
            conn.commit()


def promote_job(job_id: int) -> None:
    """Promote one job: `dbt build --select promotion --vars '{job_id: N}'` (its records, its change logs,
    their tests, the apply; a large job in two steps: build_large), under the promotion lock. A row an admin
    changed between the build and the apply stops the apply (nothing is written): the change logs are built
    again from the catalogue as it now is."""
    build_views()
    with promotion_lock(job_id) as promoted:
        if promoted:
            log.info("job %s is promoted already: nothing to do", job_id)
            return
        large = is_large(job_id)
        for attempt in range(1, BUILD_ATTEMPTS + 1):
            try:
                if large:
                    build_large(job_id)
                else:
                    run_dbt(
                        ["build", "--select", "promotion", *build_args(job_id, threads=1)],
                        manifest=parse_project(),
                    )
                break
            except DbtError as exc:
                if gates := GATE_FAILURE.findall(str(exc)):
                    record_gate_failures(job_id, gates)
                if STALE_CHANGE_LOG not in str(exc) or attempt == BUILD_ATTEMPTS:
                    raise
                log.warning("job %s: %s (attempt %s)", job_id, exc, attempt)
    log.info("job %s promoted", job_id)
    analyze_after(job_id)


def build_args(job_id: int, *, threads: int) -> list[str]:
    """`dbt build` options of a promotion. The gates run at every promotion; the models' key and unit tests
    run with the project's tests (`dbt build`, the test suite): the apply's targets have the same keys as
    constraints."""
    return ["--exclude", "test_name:unique_key", "--exclude-resource-type", "unit_test",
            *run_args(job_id, threads=threads)]  # fmt: skip


def run_args(job_id: int, *, threads: int) -> list[str]:
    return ["--threads", str(threads), "--no-write-json", "--vars", json.dumps({"job_id": job_id})]


RECORDS_MODELS = ("promotion__records", "promotion__changes")


def build_large(job_id: int) -> None:
    """A large job's promotion in two dbt invocations: its records first (promotion__records, __changes),
    then its change logs on BUILD_THREADS threads, their gates and the apply; or, when no record writes
    anything (an unchanged re-run), the apply alone. Its change logs would be empty: building them, nine
    models and two gates, were a fifth of a 100k-record unchanged re-run's dbt build, where a second dbt
    invocation costs 0.25 s. (A change log that still holds rows of an earlier, unapplied build of the job
    is built again: its pre-hook clears them.)"""
    manifest = parse_project()
    run_dbt(["run", "--select", *RECORDS_MODELS, *run_args(job_id, threads=1)], manifest=manifest)
    if writes_nothing(job_id, manifest):
        log.info("job %s writes nothing: its change logs stay empty", job_id)
        run_dbt(
            ["build", "--select", "promotion__applied", *build_args(job_id, threads=1)], manifest=manifest
        )
    else:
        args = ["build", "--select", "promotion", "--exclude", *RECORDS_MODELS]
        run_dbt([*args, *build_args(job_id, threads=BUILD_THREADS)], manifest=manifest)


def writes_nothing(job_id: int, manifest: Any) -> bool:
    """True when the job's promotion__changes is empty and no change log holds rows of the job (the tables
    exist: build_views built every model), in one query."""
    from sqlalchemy import text

    from listings.db.engine import get_engine

    logs = [
        n.relation_name
        for n in manifest.nodes.values()
        if n.resource_type == "model" and n.config.meta.get("apply")
    ]
    tables = [manifest.nodes["model.listings.promotion__changes"].relation_name, *logs]
    any_rows = " or ".join(f"exists (select 1 from {table} where job_id = :j)" for table in tables)
    with get_engine().connect() as conn:
        return not conn.execute(text(f"select {any_rows}"), {"j": job_id}).scalar()


def is_large(job_id: int) -> bool:
    """Whether a job is large enough (PARALLEL_FROM_RECORDS staged records) for `build_large`: its change
    logs build side by side when their SQL is what takes the time (100k new records: 0.2-1 s of SQL per
    log). For a small job dbt's own Python is the time, and threads only contend for the GIL (one thread
    promotes 50 records in 1.1 s, four in 1.55 s), and one invocation costs less than two."""
    from sqlalchemy import text

    from listings.db.engine import get_engine

    with get_engine().connect() as conn:
        staged: int = conn.execute(
            text("select count(*) from (select 1 from staging.listing_info where job_id = :j limit :n) as s"),
            {"j": job_id, "n": PARALLEL_FROM_RECORDS},
        ).scalar_one()
    return staged >= PARALLEL_FROM_RECORDS


def record_gate_failures(job_id: int, gates: Sequence[str]) -> None:
    """The rows of the quality gates that stopped a job's promotion (dbt keeps them in its audit schema
    until the next build replaces them) as the job's errors, one per row: error_type `quality_gate`, the
    row in `original_record`. The job's earlier gate errors go first: they hold its latest stop's."""
    from sqlalchemy import text

    from listings.db.engine import get_engine

    with get_engine().begin() as conn:
        conn.execute(
            text("delete from pipeline.job_errors where job_id = :j and error_type = 'quality_gate'"),
            {"j": job_id},
        )
        for gate in gates:
            conn.execute(
                text(
                    "insert into pipeline.job_errors"
                    " (job_id, stage, record_id, error_type, error_message, original_record)"
                    " select :j, 'promote', f.row ->> 'listing_id', 'quality_gate',"
                    "  :gate || ': ' || (select string_agg(k || ' ' || v, ', ') from json_each_text(f.row) as e(k, v)"
                    "                    where k <> 'job_id'),"  # (json: the gate's column order)
                    "  f.row::jsonb"
                    f" from (select to_json(t) as row from {GATE_AUDIT_SCHEMA}.{gate} as t) as f"
                    " where (f.row ->> 'job_id')::bigint = :j"
                ),
                {"j": job_id, "gate": gate},
            )


def analyze_after(job_id: int) -> None:
    """Refresh planner statistics after a batch that added or changed many rows.

    Autovacuum catches up only a minute or so later; a promotion planned on stale statistics (e.g.
    tables still estimated empty after a first 100k-row import) picks nested loops that take minutes.
    (Within its own transaction the apply analyses what it grew: `refresh_statistics` in
    dbt/macros/promotion.sql; this refreshes every column once it is committed.) Each table is analysed in its own
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
