"""The dbt docs site (`make docs`), one of the project's user interfaces: generated from a database that
promoted a job, served over HTTP and opened in Chromium on its lineage graph, from the staging sources
through the stg_, int_ and promotion models to the apply and the public catalogue it writes."""

from __future__ import annotations

import functools
import http.server
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import DMO_101, csv_config, write_csv
from sqlalchemy import Engine

from listings.config.store import apply_config
from listings.pipeline.promote import run_dbt
from listings.pipeline.runner import run_job
from listings.settings import get_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def docs_site(engine: Engine, tmp_path: Path) -> Iterator[str]:
    with engine.begin() as conn:
        apply_config(conn, csv_config(101))
    run_job(101, file=write_csv(tmp_path / "f.csv", DMO_101))
    run_dbt(["docs", "generate"])
    target = get_settings().dbt_work_path / "target"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(target))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_the_lineage_runs_from_the_staging_sources_to_the_public_catalogue(
    docs_site: str, browser: Any, shot: Callable[[Any, str], Path]
) -> None:
    context = browser.new_context(viewport={"width": 1800, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The apply's lineage: everything upstream of it, and the exposure it feeds (`+node+`).
    page.goto(f"{docs_site}/#!/model/model.listings.promotion__applied?g_v=1&g_i=%2Bpromotion__applied%2B")
    page.get_by_text("promotion__applied", exact=True).first.wait_for()
    graph = page.locator("#cy canvas").first
    graph.wait_for()
    page.wait_for_timeout(2000)  # the graph's layout settles
    path = shot(page, "lineage")
    assert path.stat().st_size > 50_000  # a drawn graph, not an empty page
    assert errors == []
    context.close()
    # What the graph draws, from the manifest the site reads: sources -> stg_ -> int_ -> promotion -> public.
    manifest = json.loads((get_settings().dbt_work_path / "target" / "manifest.json").read_text())
    parents = {uid: set(ps) for uid, ps in manifest["parent_map"].items()}
    chain = [
        "source.listings.staging.listing_info",
        "model.listings.stg_staging__listing_info",
        "model.listings.int_staged_records",
        "model.listings.int_listing_changes",
        "model.listings.promotion__records",
        "model.listings.promotion__changes",
        "model.listings.promotion__listing_info",
        "model.listings.promotion__applied",
        "exposure.listings.public_catalogue",
    ]
    for parent, child in itertools.pairwise(chain):
        assert parent in parents[child], (parent, child)
