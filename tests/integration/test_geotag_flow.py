"""Conditional geotagging inside a run: only records with no coordinates and no match are geocoded
(against the local Places stand-in), every call is counted, and an unchanged re-run makes none."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dmo_helpers import q
from sqlalchemy import Engine

from listings.config.store import apply_config, parse_config
from listings.pipeline.runner import run_job
from listings.settings import get_settings
from listings_dev.demo_sites import DemoSites

CSV = (
    "ID,Name,Address1,City,Postal,Latitude,Longitude\n"
    "1,Café Olimpico,124 rue Saint-Viateur O,Montréal,H2T 2L1,,\n"  # needs a geotag
    "2,Hôtel Le Germain,2050 rue Mansfield,Montréal,H3A 1Y9,45.5020,-73.5750\n"  # has coordinates
    "3,Musée des beaux-arts,1380 rue Sherbrooke O,Montréal,H3G 1J5,,\n"  # needs a geotag
    "4,Auberge du lac,,Nowhere,,,\n"  # needs one, cannot be found: no location, so rejected
)


@pytest.fixture
def places(listings_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoSites]:
    sites = DemoSites()
    sites.start()
    monkeypatch.setenv("LISTINGS_GEOCODER_URL", sites.base_url)
    monkeypatch.setenv("LISTINGS_GEOCODE_MIN_INTERVAL_MS", "0")
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_PLACES", json.dumps({"conn_type": "http", "password": sites.site.api_key})
    )
    get_settings.cache_clear()
    yield sites
    sites.stop()


def test_geotag_only_what_needs_it_and_never_twice(engine: Engine, places: DemoSites, tmp_path: Path) -> None:
    with engine.begin() as conn:
        apply_config(conn, parse_config({
            "dmo": {"id": 101, "name": "Visit", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
            "source_type": "csv",
            "field_mappings": {"source_id": "ID", "name": "Name", "address1": "Address1", "city": "City",
                               "zip": "Postal", "lat": "Latitude", "lng": "Longitude"},
        }))  # fmt: skip
    upload = tmp_path / "upload.csv"
    upload.write_text(CSV, encoding="utf-8")

    first = run_job(101, file=upload)
    # the one that could not be found has no location: it starts no listing (its error says why)
    assert (first["counts"]["records_new"], first["counts"]["records_error"]) == (3, 1)
    located = {r.external_source_id: r for r in q(engine, """
        select li.external_source_id, loc.lat, loc.geog is not null as has_geog
        from public.listing_info li join public.listings l on l.id = li.listing_id
        join public.locations loc on loc.id = l.location_id""")}  # fmt: skip
    assert located["1"].has_geog and located["3"].has_geog and located["2"].has_geog
    assert "4" not in located
    (meta,) = q(engine, "select metadata->'geotagging' from pipeline.job_files where stage = 'transformed'")
    geo = meta[0]
    assert geo["needed"] == 3 and geo["statuses"].get("ok") == 2
    requests_first = [r for r in places.requests if r.startswith("GET /maps/api/place/")]
    assert len(requests_first) >= 3 and places.site.api_key not in json.dumps(geo)
    (usage,) = q(
        engine,
        "select calls, cache_hits, failures from pipeline.api_usage where job_id = :j",
        j=first["job_id"],
    )
    assert usage.calls == len(requests_first)  # every HTTP call counted, for the cost dashboard

    second = run_job(101, file=upload)
    assert second["counts"]["records_unchanged"] == 3
    assert [
        r for r in places.requests if r.startswith("GET /maps/api/place/")
    ] == requests_first  # no new call
    (meta2,) = q(
        engine,
        "select metadata->'geotagging' from pipeline.job_files where stage = 'transformed' and job_id = :j",
        j=second["job_id"],
    )
    assert meta2[0]["needed"] == 1  # only the rejected record, which has no listing: the cache answered
