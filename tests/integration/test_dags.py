"""The DAG factory under Airflow: DagBag policy, pinned DAG shape, parsing with the database down, and one
whole DMO run with `dag.test()`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from listings.config.store import apply_config, parse_config
from listings_dev.demo_sites import DemoSites

pytestmark = pytest.mark.airflow

REPO = Path(__file__).resolve().parents[2]
CONFIG = {
    "dmo": {"id": 101, "name": "Visit Example", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
    "source_type": "csv",
    "schedule": "daily",
    "field_mappings": {"source_id": "ID", "name": "Name", "address1": "Address1", "city": "City", "zip": "Postal", "phone": "Phone", "images": "Images"},
    "images": {"allow_private_hosts": True, "batch_size": 1},  # the test's image host is on 127.0.0.1
}  # fmt: skip
EXPECTED_EDGES = {
    "snapshot_config": ["extract"],
    "extract": ["transform"],
    "transform": ["stage"],
    "stage": ["finish_images", "plan_images"],
    "plan_images": ["fetch_images"],
    "fetch_images": ["finish_images"],  # mapped over the batches plan_images returns
    "finish_images": ["match"],
    "match": ["promote"],
    "promote": ["finalize"],
    "finalize": [],
}


@pytest.fixture
def configs(engine: Engine) -> None:
    with engine.begin() as conn:
        apply_config(conn, parse_config(CONFIG))
        apply_config(
            conn, parse_config({**CONFIG, "dmo": {**CONFIG["dmo"], "id": 102}, "schedule": "manual"})
        )  # type: ignore[dict-item]
        apply_config(conn, parse_config({**CONFIG, "dmo": {**CONFIG["dmo"], "id": 103}, "active": False}))  # type: ignore[dict-item]
        wordpress = {
            "dmo": {**CONFIG["dmo"], "id": 104},  # type: ignore[dict-item]
            "source_type": "wordpress",
            "base_url": "https://www.dmo.example/",
            "config_params": {"post_type": "listing", "concurrency": 2},
        }
        apply_config(conn, parse_config(wordpress))


def _dagbag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_dagbag_policy(configs: None) -> None:
    from listings.orchestration.dag_factory import ALLOWED_TAGS

    bag = _dagbag()
    assert bag.import_errors == {}
    assert sorted(bag.dags) == [
        "dmo_101_listings",
        "dmo_102_listings",
        "dmo_104_listings",
    ]  # not inactive 103
    for dag_id, dag in bag.dags.items():
        assert dag.tags and set(dag.tags) <= ALLOWED_TAGS, dag_id
        assert dag.doc_md and "DMO" in dag.doc_md, dag_id
        assert dag.max_active_runs == 1 and dag.catchup is False
        for task in dag.tasks:
            assert task.retries >= 2, (dag_id, task.task_id)
            assert task.owner == "data-engineering", (dag_id, task.task_id)


def test_generated_dag_shape_is_pinned(configs: None) -> None:
    bag = _dagbag()
    dag = bag.dags["dmo_101_listings"]
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == EXPECTED_EDGES
    assert dag.task_dict["promote"].pool == "listings_promotion"
    assert dag.task_dict["extract"].pool == "default_pool"  # an upload reads no site
    assert bag.dags["dmo_104_listings"].task_dict["extract"].pool == "site_www_dmo_example"
    # one pool per image host: the site's own host, or a shared one for uploads
    assert bag.dags["dmo_104_listings"].task_dict["fetch_images"].pool == "images_www_dmo_example"
    assert dag.task_dict["fetch_images"].pool == "images_default"
    assert dag.task_dict["finish_images"].trigger_rule == "none_failed"
    assert dag.schedule == "@daily"
    assert bag.dags["dmo_102_listings"].schedule is None  # manual
    assert sorted(dag.tags) == ["csv", "dmo", "listings", "listings-domain"]


def test_parsing_with_the_database_down_builds_no_dmo_dags() -> None:
    code = (
        "from airflow.dag_processing.dagbag import DagBag;"
        f"b = DagBag(dag_folder={str(REPO / 'dags')!r});"
        "print('ERRORS', b.import_errors); print('DAGS', sorted(b.dags))"
    )
    env = {
        **{k: v for k, v in __import__("os").environ.items() if not k.startswith("LISTINGS_")},
        "LISTINGS_DATABASE_URL": "postgresql+psycopg://nobody:x@127.0.0.1:9/none",
    }
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "ERRORS {}" in res.stdout and "DAGS []" in res.stdout
    assert "cannot read DMO configs" in res.stderr + res.stdout


@pytest.fixture(scope="module")
def airflow_db() -> None:
    """Airflow's own metadata DB (SQLite in the test AIRFLOW_HOME) for dag.test()."""
    res = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-2000:]


def test_dag_test_runs_a_dmo_end_to_end(
    configs: None, airflow_db: None, engine: Engine, tmp_path: Path
) -> None:
    sites = DemoSites()
    sites.start()
    image = f"{sites.base_url}/images/test"
    upload = tmp_path / "upload.csv"
    upload.write_text(
        "ID,Name,Address1,City,Postal,Phone,Images\n"
        f"1,Café Olimpico,124 rue Saint-Viateur O,Montréal,H2T 2L1,514-555-0101,{image}/cafe.jpg\n"
        "2,,nameless,Laval,,,\n"
        f"3,Hôtel Le Germain,2050 rue Mansfield,Montréal,H3A 1Y9,514-555-0102,{image}/hotel.jpg|{image}/lobby.png\n",
        encoding="utf-8",
    )
    # DMO 102 already lists the café, written differently (same record hash): the run's café joins its listing.
    from listings.pipeline.runner import run_job

    other = tmp_path / "other.csv"
    other.write_text(
        'ID,Name,Address1,City,Postal,Phone,Images\no1,CAFÉ OLIMPICO,"124, rue Saint-Viateur O.",MONTREAL,h2t2l1,,\n',
        encoding="utf-8",
    )
    assert run_job(102, file=other)["counts"]["records_new"] == 1
    dag = _dagbag().dags["dmo_101_listings"]
    try:
        run = dag.test(run_conf={"file": str(upload)})
    finally:
        sites.stop()
    assert run.state == "success"
    # finalize pushes the job's counts (XCom): the café matched, the hotel new, the nameless row rejected
    (finalize,) = [ti for ti in run.get_task_instances() if ti.task_id == "finalize"]
    pushed = finalize.xcom_pull(task_ids="finalize")
    assert {k: pushed[k] for k in ("records_total", "records_matched", "records_review", "records_new", "records_error")} == {
        "records_total": 3, "records_matched": 1, "records_review": 0, "records_new": 1, "records_error": 1,
    }  # fmt: skip
    # the images step ran as one mapped task instance per batch (batch_size 1: one per image)
    mapped = [ti for ti in run.get_task_instances() if ti.task_id == "fetch_images"]
    assert sorted((ti.map_index, ti.state) for ti in mapped) == [
        (0, "success"),
        (1, "success"),
        (2, "success"),
    ]
    with engine.connect() as conn:
        job = conn.execute(
            text("select id, status, trigger, dag_id, run_id from pipeline.jobs where dmo_id = 101")
        ).one()
        assert (job.status, job.trigger, job.dag_id, job.run_id) == (
            "partial",
            "airflow",
            "dmo_101_listings",
            run.run_id,
        )
        counts = conn.execute(
            text("select * from pipeline.job_results where job_id = :j"), {"j": job.id}
        ).one()
        assert {k: counts._mapping[k] for k in pushed} == pushed  # the XCom is the job's row
        assert conn.execute(text("select count(*) from public.listing_info where dmo_id = 101")).scalar() == 2
        stored = conn.execute(text("select image from public.listing_images order by id")).scalars().all()
        assert len(stored) == 3 and all(url.startswith("file://") for url in stored)
        snapshot = conn.execute(
            text("select config_version, schedule from pipeline.job_configs where job_id = :j"), {"j": job.id}
        ).one()
        assert tuple(snapshot) == (1, "daily")
