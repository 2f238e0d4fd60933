"""The DMO DAG factory: one Airflow DAG per active config (`dmo_<id>_<domain>`), one task per step of a run
(`listings.pipeline.steps`; the images step mapped over batches).

Parsing stays cheap: one bounded query for the configs (short timeout; a database that is down yields
no DMO DAGs and a logged error, never an import error); pipeline code is imported inside the tasks.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Param, get_parsing_context, task

from listings.orchestration.pools import PROMOTION_POOL, host_pool, image_pool

if TYPE_CHECKING:
    from listings.config.store import StoredConfig

log = logging.getLogger(__name__)

OWNER = "data-engineering"
SCHEDULES: dict[str, str | None] = {
    "manual": None,
    "hourly": "@hourly",
    "daily": "@daily",
    "weekly": "@weekly",
    "monthly": "@monthly",
}
# Every tag a generated DAG may carry (the DagBag policy test holds DAGs to this set).
BASE_TAGS = ("listings", "dmo")
ALLOWED_TAGS = frozenset(
    {*BASE_TAGS, "maintenance", "csv", "xls", "wordpress", "drupal", "website", "api", "esri", "here"}
    | {"listings-domain", "events-domain", "reviews-domain"}
)
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def load_active_configs() -> list[StoredConfig]:
    """The active configs, or [] (logged) when the database cannot be reached."""
    try:
        from listings.config.store import list_configs
        from listings.db.engine import get_engine

        with get_engine().connect() as conn:
            return list_configs(conn, active_only=True)
    except Exception as exc:  # a down database must not break DAG parsing
        log.error("listings: cannot read DMO configs, no DMO DAGs built: %s", exc)
        return []


def _mark_failed(context: Any) -> None:
    """Task failure callback (after the last retry): mark the job failed with the task's error."""
    ti = context["ti"]
    job_id = ti.xcom_pull(task_ids="snapshot_config")
    if job_id is None:
        return
    from listings.pipeline import steps

    steps.fail(int(job_id), ti.task_id, context.get("exception"))


def _alive(job_id: int) -> AbstractContextManager[None]:
    """Keep the job's heartbeat fresh while a task runs its step (listings.pipeline.liveness)."""
    from listings.pipeline.liveness import heartbeat

    return heartbeat(int(job_id))


def _doc(stored: StoredConfig) -> str:
    c = stored.config
    mapped = ", ".join(f"`{k}` ← `{v}`" for k, v in c.field_mappings.items()) or "source defaults"
    return f"""\
### {c.dmo.name} (DMO {c.dmo.id}) — {c.data_domain.value}

Source **{c.source_type.value}**, schedule **{c.schedule.value}**, config version **{stored.version}**
({c.dmo.country}{"/" + c.dmo.state if c.dmo.state else ""}, {c.dmo.dmo_type.value}).

Steps: `snapshot_config` (copy the config into `pipeline.job_configs`) → `extract` (raw payload, gzipped and
immutable, in object storage) → `transform` (mapping, cleaning, hashes, in-file merge, bridge lookup;
transformed `.json.gz`; record errors in `pipeline.job_errors`) → `stage` (COPY into `staging.*`) →
`match` (records without a deterministic hit scored against candidate listings: auto-merge, review
queue or new) → `promote` (dbt: hash-compared change set applied to `public` in one transaction) → `finalize`
(`pipeline.job_results`, job status).

Field mappings: {mapped}.

Trigger with conf `{{"file": "/path/to/upload.csv"}}` to import a specific upload.
"""


def build_dmo_dag(stored: StoredConfig) -> DAG:
    cfg = stored.config
    dmo_id, domain, dag_id = cfg.dmo.id, cfg.data_domain.value, cfg.dag_id

    with DAG(
        dag_id=dag_id,
        description=f"{cfg.dmo.name}: {cfg.source_type.value} {domain} import",
        schedule=SCHEDULES[cfg.schedule.value],
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=[*BASE_TAGS, cfg.source_type.value, f"{domain}-domain"],
        doc_md=_doc(stored),
        default_args={
            "owner": OWNER,
            "retries": 2,
            "retry_delay": timedelta(minutes=1),
            "retry_exponential_backoff": True,
            "on_failure_callback": _mark_failed,
        },
        params={
            "file": Param(None, type=["null", "string"], description="Absolute path of a file to import.")
        },
    ) as dag:

        @task
        def snapshot_config(**context: Any) -> int:
            from listings.pipeline import steps

            file = context["params"].get("file")
            return steps.start(
                dmo_id,
                data_domain=domain,
                dag_id=dag_id,
                run_id=context["run_id"],
                trigger="airflow",
                params={"file": file} if file else {},
            )

        # Requests to one site share its pool, across every DMO that reads from it.
        @task(pool=host_pool(cfg) or "default_pool")
        def extract(job_id: int) -> int:
            from listings.pipeline import steps

            with _alive(job_id):
                steps.extract(job_id)
            return job_id

        @task
        def transform(job_id: int) -> int:
            from listings.pipeline import steps

            with _alive(job_id):
                steps.transform(job_id)
            return job_id

        @task
        def stage(job_id: int) -> int:
            from listings.pipeline import steps

            with _alive(job_id):
                steps.stage(job_id)
            return job_id

        # Images: plan batches, fetch them as mapped tasks (bounded per run, and across runs by the image
        # host's pool), then hand the outcomes to staging. No images (or images off): the mapped task is
        # skipped and finish_images runs anyway.
        @task
        def plan_images(job_id: int) -> list[dict[str, int]]:
            from listings.pipeline import images

            with _alive(job_id):
                return [b.as_dict() for b in images.plan(job_id)]

        @task(pool=image_pool(cfg), max_active_tis_per_dagrun=cfg.images.pool_slots)
        def fetch_images(batch: dict[str, int]) -> dict[str, int]:
            from listings.pipeline import images

            with _alive(batch["job_id"]):
                return images.run_batch(batch["job_id"], batch["first_id"], batch["last_id"])

        @task(trigger_rule="none_failed")
        def finish_images(job_id: int) -> int:
            from listings.pipeline import images

            with _alive(job_id):
                images.finish(job_id)
            return job_id

        # Matching reads public listings that promotions change: it shares the promotion pool.
        @task(pool=PROMOTION_POOL)
        def match(job_id: int) -> int:
            from listings.pipeline import steps

            with _alive(job_id):
                steps.match(job_id)
            return job_id

        @task(pool=PROMOTION_POOL)
        def promote(job_id: int) -> int:
            from listings.pipeline import steps

            with _alive(job_id):
                steps.promote(job_id)
            return job_id

        @task
        def finalize(job_id: int) -> dict[str, int]:
            from listings.db.engine import get_engine
            from listings.pipeline import jobs, steps

            with _alive(job_id):
                steps.finalize(job_id)
            with get_engine().connect() as conn:
                return jobs.results(conn, job_id)

        # Each step hands the job id to the next: the XCom chain is also the dependency chain.
        staged = stage(transform(extract(snapshot_config())))  # type: ignore[arg-type]  # XComArgs
        fetched = fetch_images.expand(batch=plan_images(staged))  # type: ignore[arg-type]
        images_done = finish_images(staged)  # type: ignore[arg-type]
        fetched >> images_done
        finalize(promote(match(images_done)))  # type: ignore[arg-type]
    return dag


def build_dmo_dags() -> dict[str, DAG]:
    """All DMO DAGs by dag_id; when a worker runs one task, only that DAG is built."""
    wanted = get_parsing_context().dag_id
    dags: dict[str, DAG] = {}
    for stored in load_active_configs():
        if wanted and stored.config.dag_id != wanted:
            continue
        dags[stored.config.dag_id] = build_dmo_dag(stored)
    return dags
