"""The esri source against the local fake ArcGIS server: offset paging, object-id batches, Web Mercator,
GeoJSON, ArcGIS error bodies, HTTP faults (retried, or a malformed page / a failure half way: what the
connector keeps and reports), preview, uploads, and runs into public (incremental, uploaded, refused)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from dmo_helpers import q
from sqlalchemy import Engine

from listings.config.preview import preview
from listings.config.store import apply_config, parse_config
from listings.pipeline.runner import JobFailed, run_job
from listings.sources.base import FetchContext, ParseResult, RawPayload, SourceError
from listings.sources.esri import EsriSource, web_mercator_to_wgs84
from listings.sources.http import RawPages
from listings_dev.demo_sites import DemoSites
from listings_dev.demo_sites import esri as demo
from listings_dev.devdata import generate_listings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "esri"
LAYER0 = "/arcgis/rest/services/Tourism/POI/FeatureServer/0"
LAYER1 = "/arcgis/rest/services/Tourism/POI/FeatureServer/1"
FAST = {
    "allow_private_hosts": True,
    "delay_seconds": 0,
    "backoff_seconds": 0.01,
    "retries": 2,
    "timeout_seconds": 5,
}
DEMO_MAPPINGS = {
    "source_id": "POI_ID", "category": "CATEGORY", "phone": "PHONE", "website": "WEBSITE",
    "description": "DESCRIPTION", "opening_hours": "HOURS", "images": "PHOTOS",
}  # fmt: skip
DMO = 108


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    server = DemoSites(port=0)
    server.start()
    yield server
    server.stop()


def config(
    sites: DemoSites | None, layer: str | None = LAYER0, mappings: dict[str, Any] | None = None, **params: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "dmo": {"id": DMO, "name": "Québec ArcGIS", "dmo_type": "PARTNER", "country": "CA", "state": "QC"},
        "source_type": "esri",
        "base_url": sites.base_url if sites else None,
        "field_mappings": DEMO_MAPPINGS if mappings is None else mappings,
        "config_params": {**FAST, **({"layer_url": layer.lstrip("/")} if layer else {}), **params},
    }
    return doc


def fetch_parse(doc: dict[str, Any], **ctx: Any) -> tuple[RawPayload, ParseResult]:
    cfg = parse_config(doc)
    source = EsriSource()
    payload = source.fetch(FetchContext(config=cfg, params=cfg.params(), project_dir=Path.cwd(), **ctx))
    return payload, source.parse(payload.data, cfg)


def asked(sites: DemoSites) -> list[tuple[str, dict[str, str]]]:
    """The requests the server saw, as (path, query) with one value per parameter."""
    out = []
    for line in sites.requests:
        parts = urlsplit(line.split(" ", 1)[1])
        out.append((parts.path, {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}))
    return out


def page_query(offset: int, count: int = 15, **extra: str) -> dict[str, str]:
    return {
        "where": "1=1", "outFields": "*", "f": "json", "outSR": "4326", "returnGeometry": "true",
        "orderByFields": "OBJECTID", "resultOffset": str(offset), "resultRecordCount": str(count), **extra,
    }  # fmt: skip


def apply(engine: Engine, doc: dict[str, Any]) -> int:
    with engine.begin() as conn:
        apply_config(conn, parse_config(doc))
    return DMO


# ------------------------------------------------------------------------------------------------
# Fetch and parse (no database)


def test_offset_paging_asks_exact_pages_and_reads_esri_json(sites: DemoSites) -> None:
    payload, parsed = fetch_parse(config(sites))
    assert asked(sites) == [
        (LAYER0, {"f": "json"}),
        (f"{LAYER0}/query", page_query(0)),
        (f"{LAYER0}/query", page_query(15)),
        (f"{LAYER0}/query", page_query(30)),
    ]
    assert payload.fmt == "json" and payload.metadata["pages"] == 4 and payload.metadata["complete"]
    envelope = json.loads(payload.data)
    assert [p["kind"] for p in envelope["pages"]] == ["metadata", "query", "query", "query"]
    assert envelope["request"]["mode"] == "offset" and envelope["request"]["page_size"] == 15
    assert parsed.errors == [] and [r.row_no for r in parsed.records] == list(range(1, 41))
    assert parsed.metadata["layer"]["max_record_count"] == 15
    assert parsed.metadata["layer"]["supports_pagination"] is True

    expected = generate_listings(40, seed=0, id_prefix="QC")
    first, row = parsed.records[0], expected[0]
    assert first.values["POI_ID"] == row["ID"] and first.values["_name"] == row["Name"]
    assert first.values["_object_id"] == 1
    assert first.values["_address"] == {
        "address1": row["Address1"], "city": row["City"], "state": row["Province"], "zip": row["Postal"],
    }  # fmt: skip
    for rec, src in zip(parsed.records, expected, strict=True):
        if src["Latitude"]:
            assert rec.values["_lat"] == pytest.approx(float(src["Latitude"]), abs=1e-6)
            assert rec.values["_lng"] == pytest.approx(float(src["Longitude"]), abs=1e-6)
        else:
            assert rec.values["_lat"] is None and rec.values["_lng"] is None
    prov = first.provenance
    assert prov["source_url"] == f"{sites.base_url}{LAYER0}/1" and prov["original_id"] == "1"
    assert prov["http_status"] == 200 and prov["fetched_at"] and "resultOffset=0" in prov["page_url"]


@pytest.mark.parametrize("fmt", ["json", "geojson"])
def test_object_id_batches_and_web_mercator_on_an_old_layer(sites: DemoSites, fmt: str) -> None:
    _, parsed = fetch_parse(config(sites, LAYER1, mappings={"source_id": "SITE_ID"}, format=fmt))
    calls = asked(sites)
    ids = [1000 + 2 * i for i in range(1, 41)]
    assert calls[:2] == [
        (LAYER1, {"f": "json"}),
        (f"{LAYER1}/query", {"where": "1=1", "returnIdsOnly": "true", "f": "json"}),
    ]
    batches = [c[1] for c in calls[2:]]
    assert [b["objectIds"] for b in batches] == [",".join(map(str, ids[i : i + 15])) for i in (0, 15, 30)]
    assert all(b["f"] == fmt and b["outSR"] == "4326" and "resultOffset" not in b for b in batches)
    assert parsed.errors == [] and len(parsed.records) == 40
    assert parsed.metadata["mode"] == "object_ids"
    assert parsed.metadata["geometry"]["from_web_mercator"] == parsed.metadata["geometry"]["points"] > 30
    expected = generate_listings(40, seed=1, id_prefix="ATT", cities=["Québec", "Lévis"])
    for rec, src in zip(parsed.records, expected, strict=True):
        assert rec.values["_name"] == src["Name"]  # from `Title`, matched case-insensitively
        assert rec.values["_address"]["address1"] == src["Address1"]  # FULLADDR
        assert rec.values["_address"]["city"] == src["City"]  # Municipality
        assert rec.values["_address"]["zip"] == src["Postal"]  # Postal_Code
        if src["Latitude"]:
            assert rec.values["_lat"] == pytest.approx(float(src["Latitude"]), abs=1e-6)
            assert rec.values["_lng"] == pytest.approx(float(src["Longitude"]), abs=1e-6)


def test_geojson_paging_reads_the_same_records(sites: DemoSites) -> None:
    _, as_json = fetch_parse(config(sites))
    sites.requests.clear()
    _, as_geojson = fetch_parse(config(sites, format="geojson"))
    assert [c[1].get("resultOffset") for c in asked(sites)] == [None, "0", "15", "30"]
    assert all(c[1]["f"] == "geojson" for c in asked(sites)[1:])

    def key(values: dict[str, Any]) -> tuple[Any, ...]:
        return values["_object_id"], values["_name"], values["_lat"], values["_lng"], values["EditDate"]

    assert [key(r.values) for r in as_geojson.records] == [key(r.values) for r in as_json.records]


def test_use_object_ids_and_max_pages(sites: DemoSites) -> None:
    payload, parsed = fetch_parse(config(sites, use_object_ids=True, page_size=10, max_pages=2))
    assert [c[1].get("objectIds", "") for c in asked(sites)[2:]] == [
        ",".join(map(str, range(1, 11))),
        ",".join(map(str, range(11, 21))),
    ]
    assert len(parsed.records) == 20 and parsed.errors == []
    assert "max_pages" in json.loads(payload.data)["request"]["stopped"]


def test_429_with_retry_after_then_success(sites: DemoSites) -> None:
    sites.faults.add(f"{LAYER0}/query", "retry-after:1")
    started = time.monotonic()
    _, parsed = fetch_parse(config(sites))
    assert time.monotonic() - started >= 0.9  # Retry-After honoured, not the 0.01 s backoff
    calls = asked(sites)
    assert calls[1] == calls[2] == (f"{LAYER0}/query", page_query(0))
    assert len(calls) == 5 and len(parsed.records) == 40 and parsed.errors == []


def test_500_then_success(sites: DemoSites) -> None:
    sites.faults.add(f"{LAYER0}/query", "slow:0", 500)
    _, parsed = fetch_parse(config(sites))
    calls = asked(sites)
    assert calls[2] == calls[3] == (f"{LAYER0}/query", page_query(15))
    assert len(parsed.records) == 40 and parsed.errors == []


def test_timeout_is_retried(sites: DemoSites) -> None:
    sites.faults.add(LAYER0, "slow:1.6")
    _, parsed = fetch_parse(config(sites, timeout_seconds=1))
    assert asked(sites)[:2] == [(LAYER0, {"f": "json"})] * 2
    assert len(parsed.records) == 40


def test_token_is_sent_as_a_header_and_errors_in_the_body_are_detected(
    sites: DemoSites, monkeypatch: pytest.MonkeyPatch
) -> None:
    secure = "/arcgis/rest/services/Secure/POI/FeatureServer/0"
    with pytest.raises(
        SourceError,
        match=r"ArcGIS error 499 for GET http://\S+/Secure/POI/FeatureServer/0\?f=json: Token Required",
    ):
        fetch_parse(config(sites, secure))
    monkeypatch.setenv(
        "AIRFLOW_CONN_LISTINGS_DEMO_ESRI_TEST", json.dumps({"conn_type": "generic", "password": "demo-key"})
    )
    payload, parsed = fetch_parse(config(sites, secure, auth_conn_id="listings_demo_esri_test"))
    assert len(parsed.records) == 40
    assert "demo-key" not in payload.data.decode()  # the token never lands in the raw payload
    monkeypatch.setenv(
        "AIRFLOW_CONN_LISTINGS_DEMO_ESRI_TEST", json.dumps({"conn_type": "generic", "password": "wrong"})
    )
    with pytest.raises(SourceError, match=r"498.*Invalid Token"):
        fetch_parse(config(sites, secure, auth_conn_id="listings_demo_esri_test"))


def test_preview_with_a_limit_asks_little(sites: DemoSites) -> None:
    result = preview(parse_config(config(sites)), limit=5)
    assert asked(sites) == [(LAYER0, {"f": "json"}), (f"{LAYER0}/query", page_query(0, 5))]
    assert len(result.records) == 5 and result.errors == []
    fields = {f.field: f for f in result.records[0].fields}
    expected = generate_listings(1, seed=0, id_prefix="QC")[0]
    assert (fields["name"].status, fields["name"].value) == ("ok", expected["Name"])
    assert fields["source_id"].value == expected["ID"] and fields["city"].path == "_address.city"
    assert fields["lat"].status == "ok" and fields["lat"].value == expected["Latitude"]

    sites.requests.clear()
    old = preview(parse_config(config(sites, LAYER1, mappings={})), limit=5)
    assert len(asked(sites)) == 3 and asked(sites)[2][1]["objectIds"] == "1002,1004,1006,1008,1010"
    assert len(old.records) == 5


def test_web_mercator_formula() -> None:
    lat, lng = web_mercator_to_wgs84(-8238310.24, 4970071.58)  # New York City Hall, EPSG:3857
    assert (lat, lng) == pytest.approx((40.7128, -74.006), abs=1e-5)
    assert web_mercator_to_wgs84(0, 0) == (0, 0)


def test_geojson_upload_parses_points_polygons_and_lines() -> None:
    cfg = parse_config(config(None, None, mappings={}))
    parsed = EsriSource().parse((FIXTURES / "places.geojson").read_bytes(), cfg)
    assert parsed.errors == []
    values = [r.values for r in parsed.records]
    assert [v["_name"] for v in values] == ["Basilique Notre-Dame", "Parc du Mont-Royal", "Canal de Lachine"]
    assert [v["_object_id"] for v in values] == [21, 22, 23]  # the GeoJSON feature ids
    assert (values[0]["_lat"], values[0]["_lng"]) == (45.5088, -73.554)
    assert (values[1]["_lat"], values[1]["_lng"]) == pytest.approx((45.505, -73.59))
    assert (values[2]["_lat"], values[2]["_lng"]) == pytest.approx((45.51, -73.54))
    assert values[0]["_address"] == {
        "address1": "110, rue Notre-Dame Ouest", "city": "Montréal", "state": "QC", "zip": "H2Y 1T1",
    }  # fmt: skip
    assert values[1]["_address"]["address1"] == "1260 chemin Remembrance"  # house number + street
    assert parsed.metadata["geometry"]["vertex_averages"] == 2
    with pytest.raises(SourceError, match="not JSON"):
        EsriSource().parse(b"<html>nope</html>", cfg)
    with pytest.raises(SourceError, match="no `features` list"):
        EsriSource().parse(b'{"type": "Feature"}', cfg)


# ------------------------------------------------------------------------------------------------
# Faults at the connector: what is kept and reported when paging goes wrong. How the pipeline turns
# this into a `partial` job (job_errors rows, raw `complete: false`) is checked end to end once, in
# test_source_wordpress.py.


def query_url(sites: DemoSites, offset: int) -> str:
    return f"{sites.base_url}{LAYER0}/query?{urlencode(page_query(offset))}"


def test_malformed_page_keeps_the_pages_before_it_and_reports_both(sites: DemoSites) -> None:
    sites.faults.add(f"{LAYER0}/query", "slow:0", "malformed")
    payload, parsed = fetch_parse(config(sites))
    assert asked(sites) == [
        (LAYER0, {"f": "json"}),
        (f"{LAYER0}/query", page_query(0)),
        (f"{LAYER0}/query", page_query(15)),  # paging stopped at the bad page
    ]
    broken = query_url(sites, 15)
    raw = RawPages.load(payload.data)
    assert [p["kind"] for p in raw.pages] == ["metadata", "query", "query"]  # the bad body is kept
    assert raw.pages[2]["url"] == broken and raw.pages[2]["status"] == 200
    assert raw.error == f"the answer of GET {broken} is not a valid ArcGIS answer; fetching stopped"
    assert payload.metadata["pages"] == 3 and payload.metadata["complete"] is False
    assert [r.values["_object_id"] for r in parsed.records] == list(range(1, 16))
    assert [(e.row_no, e.error_type) for e in parsed.errors] == [
        (0, "malformed_response"),
        (0, "fetch_error"),
    ]
    malformed, stopped = parsed.errors
    assert malformed.message.startswith(f"response of GET {broken} is not valid JSON (")
    assert "resultOffset=15" in malformed.message and malformed.original["url"] == broken
    assert stopped.message == raw.error and stopped.original["pages_kept"] == 3


def test_failure_half_way_keeps_the_pages_before_it_and_reports_the_page(sites: DemoSites) -> None:
    sites.faults.add(f"{LAYER0}/query", "slow:0", 500, 500, 500)
    payload, parsed = fetch_parse(config(sites))
    assert asked(sites) == [
        (LAYER0, {"f": "json"}),
        (f"{LAYER0}/query", page_query(0)),
        *[(f"{LAYER0}/query", page_query(15))] * 3,  # retried twice, then stopped
    ]
    message = f"GET {query_url(sites, 15)} failed after 3 attempt(s): HTTP 500 Internal Server Error"
    raw = RawPages.load(payload.data)
    assert [p["kind"] for p in raw.pages] == ["metadata", "query"] and raw.error == message
    assert payload.metadata["pages"] == 2 and payload.metadata["complete"] is False
    assert payload.metadata["fetch_error"] == message
    assert [r.values["_object_id"] for r in parsed.records] == list(range(1, 16))
    assert [(e.row_no, e.error_type, e.message) for e in parsed.errors] == [(0, "fetch_error", message)]
    assert parsed.errors[0].original["pages_kept"] == 2


def test_empty_result_is_a_complete_fetch_with_no_records(sites: DemoSites) -> None:
    payload, parsed = fetch_parse(config(sites, where="CATEGORY = 'Aucune'"))
    assert asked(sites) == [
        (LAYER0, {"f": "json"}),
        (f"{LAYER0}/query", page_query(0, where="CATEGORY = 'Aucune'")),
    ]
    assert RawPages.load(payload.data).error is None
    assert payload.metadata["pages"] == 2 and payload.metadata["complete"] is True
    assert parsed.records == [] and parsed.errors == []
    sites.requests.clear()
    _, parsed = fetch_parse(config(sites, LAYER1, where="Type = 'Aucune'"))  # `objectIds: null`
    assert asked(sites) == [
        (LAYER1, {"f": "json"}),
        (f"{LAYER1}/query", {"where": "Type = 'Aucune'", "returnIdsOnly": "true", "f": "json"}),
    ]
    assert parsed.records == [] and parsed.errors == []


# ------------------------------------------------------------------------------------------------
# Jobs end to end


def test_run_into_public_then_rerun_is_unchanged(engine: Engine, sites: DemoSites) -> None:
    dmo = apply(engine, config(sites))
    first = run_job(dmo)
    assert first["status"] == "succeeded"
    assert first["counts"]["records_total"] == 40
    assert first["counts"]["records_new"] + first["counts"]["records_duplicates"] == 40
    assert first["counts"]["records_error"] == 0
    rows = q(
        engine,
        """select li.external_source_id, l.name, loc.lat, loc.lng, loc.city, c.local_phone
           from public.listing_info li join public.listings l on l.id = li.listing_id
           join public.locations loc on loc.id = l.location_id
           join public.contact_info c on c.id = li.contact_info_id
           where li.dmo_id = :d order by li.external_source_id""",
        d=dmo,
    )
    expected = {r["ID"]: r for r in generate_listings(40, seed=0, id_prefix="QC")}
    assert len(rows) == first["counts"]["records_new"]
    for row in rows:
        src = expected[row.external_source_id]
        assert row.name == src["Name"] and row.city == src["City"]
        if src["Latitude"]:
            assert float(row.lat) == pytest.approx(float(src["Latitude"]))
            assert float(row.lng) == pytest.approx(float(src["Longitude"]))
    assert sum(1 for r in rows if r.lat is not None) >= 30

    again = run_job(dmo)
    assert again["counts"]["records_unchanged"] == first["counts"]["records_new"]
    assert again["counts"]["records_new"] == again["counts"]["records_updated"] == 0


def test_incremental_run_asks_for_edits_since_the_last_good_run(engine: Engine, sites: DemoSites) -> None:
    dmo = apply(engine, config(sites, incremental=True, edit_date_field="EditDate"))
    first = run_job(dmo)
    assert first["counts"]["records_total"] == 40
    assert asked(sites)[1][1]["where"] == "1=1"  # no good run before: everything
    demo.touch(sites.site, 0, [3, 7, 11])
    sites.requests.clear()
    second = run_job(dmo)
    (started,) = q(engine, "select started_at from pipeline.jobs where id = :j", j=first["job_id"])
    since = started[0].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert asked(sites)[1][1]["where"] == f"EditDate >= timestamp '{since}'"
    assert second["status"] == "succeeded"
    assert second["counts"]["records_total"] == 3 and second["counts"]["records_unchanged"] == 3


@pytest.mark.parametrize("status", [401, 403, 404])
def test_refused_requests_fail_the_job_naming_the_url(engine: Engine, sites: DemoSites, status: int) -> None:
    dmo = apply(engine, config(sites))
    sites.faults.add(LAYER0, status)
    with pytest.raises(JobFailed):
        run_job(dmo)
    (job,) = q(engine, "select status, error_summary from pipeline.jobs")
    assert job.status == "failed" and f"HTTP {status}" in job.error_summary
    assert f"{sites.base_url}{LAYER0}?f=json" in job.error_summary
    assert len(asked(sites)) == 1  # 4xx is not retried


def test_esri_error_body_fails_the_job(engine: Engine, sites: DemoSites) -> None:
    dmo = apply(engine, config(sites, where="NAME LIKE 'Café%'"))
    with pytest.raises(JobFailed):
        run_job(dmo)
    (job,) = q(engine, "select status, error_summary from pipeline.jobs")
    assert job.status == "failed" and "ArcGIS error 400" in job.error_summary
    assert f"{sites.base_url}{LAYER0}/query?where=NAME+LIKE" in job.error_summary
    assert "'where' parameter is invalid" in job.error_summary


def test_uploaded_feature_collection_runs_end_to_end(engine: Engine) -> None:
    mappings = {"category": "Type", "website": "website"}
    dmo = apply(engine, config(None, None, mappings=mappings))
    upload = FIXTURES / "featurecollection-quebec.json"
    res = run_job(dmo, file=upload)
    assert res["status"] == "partial"
    assert res["counts"]["records_total"] == 7 and res["counts"]["records_new"] == 4
    errors = q(engine, "select record_no, error_type from pipeline.job_errors order by record_no")
    assert [(e.record_no, e.error_type) for e in errors] == [
        (5, "missing_field"), (6, "missing_field"), (7, "malformed_feature"),
    ]  # fmt: skip
    rows = {
        r.external_source_id: r
        for r in q(
            engine,
            """select li.external_source_id, l.name, loc.lat, loc.lng, loc.address1
               from public.listing_info li join public.listings l on l.id = li.listing_id
               join public.locations loc on loc.id = l.location_id""",
        )
    }
    assert sorted(rows) == ["0", "1", "2", "3"]  # FID, the layerDefinition's objectIdField
    assert (float(rows["0"].lat), float(rows["0"].lng)) == pytest.approx((46.8117, -71.2046))
    assert (float(rows["2"].lat), float(rows["2"].lng)) == pytest.approx((46.803, -71.22), abs=1e-4)
    assert rows["3"].lat is None and rows["3"].address1 == "160, quai Saint-André"
    (raw,) = q(engine, "select format, s3_path from pipeline.job_files where stage = 'raw'")
    assert raw.format == "json"
    again = run_job(dmo, file=upload)
    assert again["counts"]["records_unchanged"] == 4
