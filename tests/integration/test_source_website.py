"""The `website` source against the local demo directory site: the Scrapy crawl (a subprocess), robots.txt,
pagination, retries, failures, preview, and one end-to-end test into public (then unchanged, then
incremental).

Each crawl starts a Scrapy subprocess (about a second), so a test checks every fact of the run it starts.
The connector's failure modes are tested here at the connector level (what `fetch()` raises, or the errors
and records `parse()` returns); what the pipeline makes of them (a `partial` job with `pipeline.job_errors`
rows, a `failed` job naming the URL) is tested end to end with the WordPress source (test_source_wordpress).
"""

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
from listings.pipeline.runner import run_job
from listings.sources.base import FetchContext, ParseResult, RawPayload, SourceError
from listings.sources.http import RawPages
from listings.sources.website import WebsiteSource
from listings_dev.demo_sites import DemoSites
from listings_dev.demo_sites.server import Request, Response
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


def arrival_times(sites: DemoSites, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When each request reached the site, in the order of `sites.requests` (the spider sends one at a time;
    a request it gave up on may still be answered late, but it was counted on arrival)."""
    stamps: list[float] = []
    dispatch = sites.dispatch

    def stamped(request: Request) -> Response:
        stamps.append(time.monotonic())
        return dispatch(request)

    monkeypatch.setattr(sites, "dispatch", stamped)
    return stamps


def seconds_between_attempts(sites: DemoSites, stamps: list[float], line: str) -> float:
    first, second = [n for n, r in enumerate(sites.requests) if r == line][:2]
    return stamps[second] - stamps[first]


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


def test_429_5xx_and_timeouts_are_retried_in_place_and_max_pages_stops(
    sites: DemoSites, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One queue for every request under /directory/, in crawl order: list page 1 answers 429 with
    # Retry-After: 0.3, then passes; detail page 1 answers 500 then 502, then passes; detail pages 2..10 pass;
    # list page 2 answers only after 2 s (past the 0.5 s timeout), then passes.
    sites.faults.add("/directory/", "retry-after:0.3", "pass", 500, 502, *["pass"] * 10, "slow:2")
    stamps = arrival_times(sites, monkeypatch)
    payload, parsed = crawl(config(sites, max_pages=2, timeout_seconds=0.5))
    plain = expected_requests(sites, pages=2)  # max_pages=2: no third list page
    attempts = {"GET /directory/": 2, plain[2]: 3, "GET /directory/?page=2": 2}
    # each retry goes out at once after its wait, before the pages queued behind it
    assert sites.requests == [line for line in plain for _ in range(attempts.get(line, 1))]
    # Retry-After honoured: the backoff alone (backoff_seconds=0.01) would retry within a few milliseconds
    assert seconds_between_attempts(sites, stamps, "GET /directory/") >= 0.3
    # the timeout cut the slow answer short: the retry did not wait for it
    assert seconds_between_attempts(sites, stamps, "GET /directory/?page=2") < 2
    assert RawPages.load(payload.data).request["crawl"]["retry/count"] == 4
    assert payload.metadata["complete"] is True and payload.metadata["list_pages"] == 2
    assert len(parsed.records) == 20 and parsed.errors == []


def test_failures_after_the_start_page_keep_the_other_pages(sites: DemoSites) -> None:
    # Under /directory/, in crawl order: list page 1 passes; detail page 1 comes back truncated; detail page 2
    # answers 404 (not retried); detail pages 3..10 pass; list page 2 answers 502 until the retries run out.
    sites.faults.add("/directory/", "pass", "malformed", 404, *["pass"] * 8, 502, 502, 502)
    payload, parsed = crawl(config(sites))
    every = places(sites.site)
    assert sites.requests == [*expected_requests(sites, pages=1), *["GET /directory/?page=2"] * 3]
    assert payload.metadata["complete"] is False
    fetch_error = payload.metadata["fetch_error"]
    assert fetch_error.startswith("2 page(s) failed: ")
    assert f"HTTP 404 for GET {sites.base_url}{every[1].path}: " in fetch_error
    assert f"GET {sites.base_url}/directory/?page=2 failed after 3 attempt(s): HTTP 502" in fetch_error

    # the truncated page is a record-level error in its row; the 404 page has no row; the others are kept
    assert [r.values["_id"] for r in parsed.records] == [p.path for p in every[2:10]]
    assert [r.row_no for r in parsed.records] == list(range(2, 10))
    assert parsed.metadata["links_not_fetched"] == 2  # the 404 page, and the private one (robots.txt)
    truncated, failed = parsed.errors
    assert (truncated.row_no, truncated.error_type) == (1, "malformed_response")
    assert every[0].path in truncated.message and "truncated" in truncated.message
    assert (failed.row_no, failed.error_type, failed.message) == (0, "fetch_error", fetch_error)


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
        SourceError,
        match=r"crawl failed on its start page: GET http://127\.0\.0\.1:\d+/directory/ failed after 2 "
        r"attempt\(s\): .*Connection refused",
    ):
        fetch(cfg)


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

    # incremental: the crawl asks for what changed since the start of the last good run (the second one)
    apply(engine, config(sites, incremental=True, since_param="since"))
    sites.requests.clear()
    third = run_job(DMO_ID)
    (started,) = q(engine, "select started_at from pipeline.jobs where id = :j", j=again["job_id"])[0]
    stamp = started.replace(tzinfo=UTC).isoformat()  # pipeline.jobs keeps UTC without a zone
    assert sites.requests[:2] == [
        "GET /robots.txt",
        f"GET /directory/?since={stamp.replace(':', '%3A').replace('+', '%2B')}",
    ]
    assert third["status"] == "succeeded" and third["counts"]["records_total"] == 0  # none changed since


def test_the_demo_config_is_valid_and_crawls(sites: DemoSites) -> None:
    import yaml

    doc = yaml.safe_load((REPO / "include/config/dmos/website-demo.yaml").read_text(encoding="utf-8"))
    assert doc["dmo"]["id"] == DMO_ID and doc["config_params"]["delay_seconds"] == 0.1
    doc["base_url"] = f"{sites.base_url}/directory/"
    doc["config_params"].update(FAST, max_pages=1)
    _, parsed = crawl(parse_config(doc))
    assert len(parsed.records) == 10 and parsed.errors == []
    assert json.dumps(parsed.records[0].values, ensure_ascii=False)  # records stay JSON-serialisable
