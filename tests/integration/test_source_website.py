"""The `website` source against the local demo directory site: the Scrapy crawl (a subprocess), robots.txt,
pagination, retries, failures, preview, and runs end to end into public."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dmo_helpers import q
from sqlalchemy import Engine

from listings.config.models import DmoConfig
from listings.config.preview import preview
from listings.config.store import apply_config, parse_config
from listings.pipeline.runner import JobFailed, run_job
from listings.sources.base import FetchContext, ParseResult, RawPayload, SourceError
from listings.sources.http import RawPages
from listings.sources.website import WebsiteSource
from listings_dev.demo_sites import DemoSites
from listings_dev.demo_sites.website import PRIVATE_PATH, places

REPO = Path(__file__).resolve().parents[2]
DMO_ID = 106
SIZE = 25  # three list pages (10, 10, 5): enough for pagination, quick to crawl
FAST = {
    "allow_private_hosts": True,
    "delay_seconds": 0,
    "backoff_seconds": 0.01,
    "retries": 2,
    "timeout_seconds": 5,
}
PARAMS: dict[str, Any] = {
    "start_urls": ["/directory/"],
    "item_selector": "li.place",
    "link_selector": "a.place-link::attr(href)",
    "next_page_selector": "a[rel=next]::attr(href)",
    "fields": {
        "name": "h1.name::text",
        "address1": ".address .street-address::text",
        "city": ".address .locality::text",
        "zip": ".address .postal-code::text",
        "phone": "a.phone::text",
        "website": "a.website::attr(href)",
        "opening_hours": "dd.hours::text",
        "description": "div.description",
        "images": ".gallery img::attr(src)",
    },
    "list_fields": {"category": ".category::text"},
    **FAST,
}


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    server = DemoSites(port=0, size=SIZE)
    server.start()
    yield server
    server.stop()


def config(sites: DemoSites, **params: Any) -> DmoConfig:
    return parse_config(
        {
            "dmo": {
                "id": DMO_ID,
                "name": "Répertoire (test)",
                "dmo_type": "SCRAPED",
                "country": "CA",
                "state": "QC",
            },
            "source_type": "website",
            "base_url": f"{sites.base_url}/directory/",
            "config_params": {**copy.deepcopy(PARAMS), **params},
        }
    )


def fetch(cfg: DmoConfig, *, limit: int | None = None, since: datetime | None = None) -> RawPayload:
    ctx = FetchContext(config=cfg, params=cfg.params(), project_dir=REPO, limit=limit, since=since)
    return WebsiteSource().fetch(ctx)


def crawl(cfg: DmoConfig, **kwargs: Any) -> tuple[RawPayload, ParseResult]:
    payload = fetch(cfg, **kwargs)
    return payload, WebsiteSource().parse(payload.data, cfg)


def expected_requests(sites: DemoSites, pages: int = 3) -> list[str]:
    """robots.txt, then each list page followed by its ten detail pages in document order."""
    out = ["GET /robots.txt"]
    every = places(sites.site)
    for n in range(1, pages + 1):
        out.append(f"GET /directory/?page={n}" if n > 1 else "GET /directory/")
        out.extend(f"GET {p.path}" for p in every[(n - 1) * 10 : n * 10])
    return out


# ------------------------------------------------------------------------------------------------
def test_crawl_follows_pagination_in_order_and_obeys_robots_txt(sites: DemoSites) -> None:
    payload, parsed = crawl(config(sites))
    assert sites.requests == expected_requests(sites)
    assert not any(PRIVATE_PATH in r for r in sites.requests)  # listed on page 1, disallowed by robots.txt
    assert payload.metadata["list_pages"] == 3 and payload.metadata["detail_pages"] == SIZE
    assert payload.metadata["complete"] is True
    raw = RawPages.load(payload.data)
    assert raw.request["not_fetched"] == [
        {"url": f"{sites.base_url}{PRIVATE_PATH}", "reason": "Forbidden by robots.txt"}
    ]
    assert [p["kind"] for p in raw.pages[:3]] == ["list", "detail", "detail"]
    assert raw.pages[1]["from_url"] == f"{sites.base_url}/directory/"

    assert (len(parsed.records), parsed.errors) == (SIZE, [])
    assert [r.row_no for r in parsed.records] == list(range(1, SIZE + 1))
    every = places(sites.site)
    assert [r.values["_id"] for r in parsed.records] == [p.path for p in every]
    # geo and e-mail are only in the JSON-LD / microdata: the schema.org fallback filled them
    with_geo = [p for p in every if p.row["Latitude"]]
    assert parsed.metadata["schema_org_fallback"]["lat"] == len(with_geo)
    first = parsed.records[0].values
    row = every[0].row
    assert first["name"] == row["Name"] and first["category"] == row["Category"]
    assert first["_sources"]["name"] == "selector" and first["_sources"]["category"] == "list"
    micro = parsed.records[3].values  # every fourth page carries microdata instead of JSON-LD
    assert every[3].microdata and micro["_sources"].get("lat") == "schema.org"
    assert micro["lat"] == every[3].row["Latitude"]
    hours_only_in_jsonld = next(p for p in every if p.row["Hours"] and not p.hours_in_html)
    rec = parsed.records[hours_only_in_jsonld.number - 1].values
    assert rec["opening_hours"] == hours_only_in_jsonld.row["Hours"]
    assert rec["_sources"]["opening_hours"] == "schema.org"
    prov = parsed.records[0].provenance
    assert prov["source_url"] == f"{sites.base_url}{every[0].path}" and prov["original_id"] == every[0].path
    assert prov["http_status"] == 200 and prov["etag"] and prov["last_modified"]


def test_max_pages_stops_pagination(sites: DemoSites) -> None:
    _, parsed = crawl(config(sites, max_pages=2))
    assert sites.requests == expected_requests(sites, pages=2)
    assert len(parsed.records) == 20


def test_preview_with_a_limit_makes_few_requests(sites: DemoSites) -> None:
    result = preview(config(sites), limit=3)
    every = places(sites.site)
    assert sites.requests == ["GET /robots.txt", "GET /directory/", *(f"GET {p.path}" for p in every[:3])]
    assert len(result.records) == 3
    fields = {f.field: f for f in result.records[0].fields}
    assert fields["name"].value == every[0].row["Name"] and fields["name"].status == "ok"
    assert fields["source_id"].value == every[0].path
    assert fields["country"].value == "CA"


def test_incremental_run_asks_with_the_since_filter(sites: DemoSites) -> None:
    every = places(sites.site)
    since = every[19].modified  # places 21..25 changed after it
    _, parsed = crawl(config(sites, incremental=True, since_param="since"), since=since)
    stamp = since.astimezone(UTC).isoformat().replace(":", "%3A").replace("+", "%2B")
    assert sites.requests[1] == f"GET /directory/?since={stamp}"
    assert [r.values["_id"] for r in parsed.records] == [p.path for p in every[20:]]
    # without since (a first run) the same config crawls everything
    sites.requests.clear()
    _, first = crawl(config(sites, incremental=True, since_param="since", max_pages=1))
    assert sites.requests[1] == "GET /directory/" and len(first.records) == 10


def test_429_with_retry_after_is_waited_for_then_succeeds(sites: DemoSites) -> None:
    sites.faults.add("/directory/", "retry-after:1")
    started = time.monotonic()
    payload, parsed = crawl(config(sites, max_pages=1))
    assert time.monotonic() - started >= 1.0
    assert sites.requests[:3] == ["GET /robots.txt", "GET /directory/", "GET /directory/"]
    assert len(parsed.records) == 10 and parsed.errors == []
    assert RawPages.load(payload.data).request["crawl"]["retry/count"] == 1


def test_500_on_a_detail_page_is_retried(sites: DemoSites) -> None:
    sites.faults.add("/directory/place/", 500, 503)
    _, parsed = crawl(config(sites, max_pages=1))
    first = places(sites.site)[0].path
    assert sites.requests[2:5] == [f"GET {first}"] * 3
    assert len(parsed.records) == 10 and parsed.errors == []


def test_a_timeout_is_retried(sites: DemoSites) -> None:
    sites.faults.add("/directory/", "slow:3")
    started = time.monotonic()
    _, parsed = crawl(config(sites, max_pages=1, timeout_seconds=1))
    assert time.monotonic() - started < 10
    assert sites.requests[1:3] == ["GET /directory/", "GET /directory/"]
    assert len(parsed.records) == 10 and parsed.errors == []


def test_a_truncated_page_is_a_malformed_response(sites: DemoSites) -> None:
    sites.faults.add("/directory/place/", "malformed")
    _, parsed = crawl(config(sites, max_pages=1))
    assert len(parsed.records) == 9
    (error,) = parsed.errors
    assert (error.row_no, error.error_type) == (1, "malformed_response")
    assert places(sites.site)[0].path in error.message and "truncated" in error.message
    assert [r.row_no for r in parsed.records] == list(range(2, 11))


def test_a_non_html_list_page_is_a_malformed_response(sites: DemoSites) -> None:
    sites.faults.add("/directory/", "empty")  # a JSON body where the list page should be
    _, parsed = crawl(config(sites))
    assert parsed.records == []
    (error,) = parsed.errors
    assert error.error_type == "malformed_response" and "not an HTML page" in error.message


@pytest.mark.parametrize("status", [401, 403, 404])
def test_start_page_refused_fails_with_the_url(sites: DemoSites, status: int) -> None:
    sites.faults.add("/directory/", status)
    with pytest.raises(SourceError) as err:
        fetch(config(sites))
    assert f"HTTP {status}" in str(err.value) and f"{sites.base_url}/directory/" in str(err.value)
    assert sites.requests == ["GET /robots.txt", "GET /directory/"]  # not retried


def test_connection_refused_fails_with_the_url(sites: DemoSites) -> None:
    cfg = config(sites, retries=1, timeout_seconds=1)
    sites.stop()
    with pytest.raises(
        SourceError, match=r"crawl failed on its start page: GET http://127\.0\.0\.1:\d+/directory/"
    ):
        fetch(cfg)


def test_failure_half_way_keeps_the_pages(sites: DemoSites) -> None:
    # page 1 and its ten detail pages pass ("slow:0" is no fault), then page 2 answers 502 until the retries run out
    sites.faults.add("/directory/", *["slow:0"] * 11, 502, 502, 502)
    payload, parsed = crawl(config(sites))
    assert payload.metadata["complete"] is False
    assert "?page=2" in payload.metadata["fetch_error"] and "3 attempt(s)" in payload.metadata["fetch_error"]
    assert len(parsed.records) == 10
    assert [e.error_type for e in parsed.errors] == ["fetch_error"]


def test_empty_directory_yields_no_records(sites: DemoSites) -> None:
    _, parsed = crawl(config(sites, start_urls=["/directory/?city=nulle-part"]))
    assert sites.requests == ["GET /robots.txt", "GET /directory/?city=nulle-part"]
    assert (parsed.records, parsed.errors) == ([], [])


# ------------------------------------------------------------------------------------------------
def apply(engine: Engine, cfg: DmoConfig) -> None:
    with engine.begin() as conn:
        apply_config(conn, cfg)


def test_end_to_end_into_public_then_unchanged(engine: Engine, sites: DemoSites) -> None:
    apply(engine, config(sites))
    first = run_job(DMO_ID)
    assert first["status"] == "succeeded", first
    assert first["counts"]["records_total"] == SIZE and first["counts"]["records_new"] == SIZE
    every = places(sites.site)
    listed = q(
        engine,
        """select li.external_source_id, l.name, loc.lat, loc.lng, loc.city
           from public.listing_info li join public.listings l on l.id = li.listing_id
           join public.locations loc on loc.id = l.location_id order by li.external_source_id""",
    )
    assert sorted(r.external_source_id for r in listed) == sorted(p.path for p in every)
    place = next(p for p in every if p.row["Latitude"])
    row = next(r for r in listed if r.external_source_id == place.path)
    assert row.name == place.row["Name"] and row.city == place.row["City"]
    assert float(row.lat) == pytest.approx(float(place.row["Latitude"]))  # only in JSON-LD / microdata
    assert float(row.lng) == pytest.approx(float(place.row["Longitude"]))
    (raw,) = q(engine, "select format, metadata from pipeline.job_files where stage = 'raw'")
    assert raw.format == "json" and raw.metadata["detail_pages"] == SIZE

    again = run_job(DMO_ID)
    assert again["status"] == "succeeded"
    assert again["counts"]["records_unchanged"] == SIZE
    assert again["counts"]["records_new"] == again["counts"]["records_updated"] == 0


def test_incremental_job_asks_since_the_last_good_run(engine: Engine, sites: DemoSites) -> None:
    apply(engine, config(sites, incremental=True, since_param="since", max_pages=1))
    assert run_job(DMO_ID)["counts"]["records_new"] == 10
    sites.requests.clear()
    second = run_job(DMO_ID)
    (started,) = q(engine, "select min(started_at) from pipeline.jobs")[0]
    assert sites.requests[1].startswith("GET /directory/?since=2")
    since = datetime.fromisoformat(
        sites.requests[1].split("since=", 1)[1].replace("%3A", ":").replace("%2B", "+")
    )
    assert since == started.replace(tzinfo=UTC)  # pipeline.jobs keeps UTC without a zone
    assert second["status"] == "succeeded" and second["counts"]["records_total"] == 0


def test_job_is_partial_when_a_detail_page_fails(engine: Engine, sites: DemoSites) -> None:
    apply(engine, config(sites, max_pages=1))
    sites.faults.add("/directory/place/", 404)
    res = run_job(DMO_ID)
    assert res["status"] == "partial"
    assert res["counts"]["records_new"] == 9 and res["counts"]["records_error"] == 1
    (error,) = q(engine, "select error_type, error_message from pipeline.job_errors")
    assert error.error_type == "fetch_error" and "HTTP 404" in error.error_message
    assert places(sites.site)[0].path in error.error_message


def test_job_fails_when_the_start_page_is_refused(engine: Engine, sites: DemoSites) -> None:
    apply(engine, config(sites))
    sites.faults.add("/directory/", 403)
    with pytest.raises(JobFailed) as err:
        run_job(DMO_ID)
    assert err.value.step == "extract"
    (job,) = q(engine, "select status, error_summary from pipeline.jobs")
    assert job.status == "failed" and f"{sites.base_url}/directory/" in job.error_summary


def test_the_demo_config_is_valid_and_crawls(sites: DemoSites) -> None:
    import yaml

    doc = yaml.safe_load((REPO / "include/config/dmos/website-demo.yaml").read_text(encoding="utf-8"))
    assert doc["dmo"]["id"] == DMO_ID and doc["config_params"]["delay_seconds"] == 0.1
    doc["base_url"] = f"{sites.base_url}/directory/"
    doc["config_params"].update(FAST, max_pages=1)
    _, parsed = crawl(parse_config(doc))
    assert len(parsed.records) == 10 and parsed.errors == []
    assert json.dumps(parsed.records[0].values, ensure_ascii=False)  # records stay JSON-serialisable
