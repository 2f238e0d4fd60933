"""Every bundled demo DMO config (one per source type) runs end to end against the local demo sites, and a
second run changes nothing: what `make demo` does, pinned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, text

from listings.config.store import apply_config, parse_config
from listings.pipeline.runner import run_job
from listings_dev.demo_sites import DemoSites

DMO_DIR = Path(__file__).resolve().parents[2] / "include" / "config" / "dmos"
DEMO_PORT_URL = "http://127.0.0.1:8765"
CONFIGS = sorted(DMO_DIR.glob("*.yaml"))


@pytest.fixture(scope="module")
def sites() -> Iterator[DemoSites]:
    server = DemoSites()
    server.start()
    yield server
    server.stop()


def test_there_is_a_demo_dmo_of_every_source_type() -> None:
    from listings.sources.registry import CONNECTORS

    types = {yaml.safe_load(p.read_text())["source_type"] for p in CONFIGS}
    assert types == set(CONNECTORS)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_demo_config_runs_then_reruns_unchanged(
    path: Path, sites: DemoSites, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for conn_id in ("LISTINGS_DEMO_AFFILIATE", "LISTINGS_DEMO_HERE"):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id}", json.dumps({"conn_type": "http", "password": sites.site.api_key})
        )
    document = yaml.safe_load(path.read_text().replace(DEMO_PORT_URL, sites.base_url))
    document["config_params"] = (
        {**document.get("config_params", {}), "delay_seconds": 0}
        if document["base_url"]
        else document.get("config_params", {})
    )
    if not document["base_url"]:
        # An uploaded sample's image URLs name the demo's fixed port, not this test's server: images off here
        # (tests/integration/test_images_flow.py covers the images step; the site-based DMOs fetch theirs).
        document["images"] = {**document.get("images", {}), "enabled": False}
    config = parse_config(document, str(path))
    with engine.begin() as conn:
        apply_config(conn, config)

    first = run_job(config.dmo.id)
    assert first["status"] in ("succeeded", "partial"), first
    assert first["counts"]["records_new"] >= 20, first["counts"]
    second = run_job(config.dmo.id)
    assert second["counts"]["records_unchanged"] == first["counts"]["records_new"], second["counts"]
    assert second["counts"]["records_new"] == second["counts"]["records_updated"] == 0
    with engine.connect() as conn:
        located = conn.execute(
            text(
                "select count(*) from public.listing_info li join public.listings l on l.id = li.listing_id"
                " join public.locations loc on loc.id = l.location_id"
                " where li.dmo_id = :d and li.external_source_id is not null and loc.geog is not null"
            ),
            {"d": config.dmo.id},
        ).scalar_one()
    assert located > 0  # ids and coordinates made it to public
