"""The affiliate hotel/activity API source (`api`) against the local demo site: paging, the API key,
rate limits, retries, faults (a malformed page, a failure half way, an empty answer: checked on the
connector; the `partial` job they lead to is tested end to end in test_source_wordpress.py), incremental
runs, preview, and runs end to end into `public`."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from dmo_helpers import q
from sqlalchemy import Engine

from listings.config.models import DmoConfig
from listings.config.preview import preview
from listings.config.store import apply_config, parse_config
from listings.pipeline.runner import JobFailed, run_job
from listings.sources.affiliate import AffiliateApiParams, AffiliateApiSource
from listings.sources.base import FetchContext, ParseResult, RawPayload, SourceError
from listings.sources.http import RawPages
from listings.transform.html import html_to_text
from listings_dev.demo_sites import DemoSites
from listings_dev.demo_sites import affiliate as site_api

DMO = 107
HOTELS = "/affiliate/v1/hotels"
CONN_ID = "listings_test_affiliate"
FAST = {
    "allow_private_hosts": True,
    "delay_seconds": 0,
    "backoff_seconds": 0.01,
    "retries": 2,
    "timeout_seconds": 5,
}


@pytest.fixture(scope="module")
def server() -> Iterator[DemoSites]:
    sites = DemoSites(port=0)
    sites.start()
    yield sites
    sites.stop()


@pytest.fixture
def sites(server: DemoSites, monkeypatch: pytest.MonkeyPatch) -> DemoSites:
    """The shared server with fresh data, rate-limit window and request log; the test API key exported."""
    server.faults.clear()
    server.requests.clear()
    server.site.cache.clear()
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "http", "password": "demo-key"})
    )
    return server


def config(sites: DemoSites, **params: Any) -> dict[str, Any]:
    return {
        "dmo": {"id": DMO, "name": "Affiliate (test)", "dmo_type": "TRAVEL_SITE", "country": "CA", "state": "QC"},
        "source_type": "api",
        "base_url": sites.base_url,
        "config_params": {"auth_conn_id": CONN_ID, "page_size": 10, **FAST, **params},
    }  # fmt: skip


def fetch(
    sites: DemoSites, source: AffiliateApiSource | None = None, *, limit: int | None = None, **params: Any
) -> tuple[RawPayload, ParseResult, DmoConfig]:
    cfg = parse_config(config(sites, **params))
    source = source or AffiliateApiSource()
    payload = source.fetch(FetchContext(cfg, cfg.params(), Path("."), limit=limit))
    return payload, source.parse(payload.data, cfg), cfg


def pages(n: int, size: int = 10, resource: str = "hotels", extra: str = "") -> list[str]:
    return [f"GET /affiliate/v1/{resource}?{extra}page={p}&page_size={size}" for p in range(1, n + 1)]


def apply(engine: Engine, sites: DemoSites, **params: Any) -> None:
    with engine.begin() as conn:
        apply_config(conn, parse_config(config(sites, **params)))


# A fault the demo server does not know passes the request through: it lets a test aim at a later page.
OK = "pass"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- fetch and parse against the demo site -----------------------------------------------------------
def test_pages_until_total_pages_with_the_key_and_filters(sites: DemoSites) -> None:
    payload, parsed, _ = fetch(sites)
    assert sites.requests == pages(4)
    assert payload.metadata["pages"] == 4 and payload.metadata["total_results"] == 40
    assert [r.row_no for r in parsed.records] == list(range(1, 41)) and parsed.errors == []
    first = parsed.records[0]
    assert first.values["_id"] == 100001 and first.values["hotel_id"] == 100001
    assert first.values["_description"].endswith("Check-in from 15:00 & check-out until 11:00")
    assert "<p>" not in first.values["_description"]
    prov = first.provenance
    assert prov["original_id"] == "100001" and prov["http_status"] == 200
    assert prov["source_url"].startswith("https://www.travel-affiliate.example/hotels/100001-")
    assert prov["page_url"].endswith("/affiliate/v1/hotels?page=1&page_size=10") and prov["fetched_at"]
    assert prov["extras"]["currency"] == "CAD" and isinstance(prov["extras"]["price_from"], float)
    assert set(prov["extras"]) >= {"review_score", "review_count", "star_rating"}
    raw = RawPages.load(payload.data)
    assert raw.request["resource"] == "hotels" and raw.request["since"] is None
    assert AffiliateApiSource().parse(payload.data, parse_config(config(sites))) == parsed  # deterministic

    sites.requests.clear()
    _, montreal, _ = fetch(sites, query={"city": "montreal"}, max_pages=1, page_size=5)
    assert sites.requests == pages(1, 5, extra="city=montreal&")
    assert len(montreal.records) == 5
    assert all(r.values["address"]["city"] == "Montréal" for r in montreal.records)


def test_activities_share_the_default_mapping(sites: DemoSites) -> None:
    _, parsed, cfg = fetch(sites, resource="activities", page_size=100)
    assert sites.requests == pages(1, 100, "activities") and len(parsed.records) == 25
    assert cfg.config_params["extra_fields"]["price_from"] == "price.from"
    result = preview(cfg, limit=2)
    fields = {f.field: f for f in result.records[0].fields}
    assert fields["source_id"].value == str(parsed.records[0].values["activity_id"])
    assert fields["address1"].path == "_address.line1" and fields["address1"].status == "ok"
    assert fields["opening_hours"].status == "ok" and fields["category"].status == "ok"
    assert "price_from" in parsed.records[0].provenance["extras"]


def test_preview_asks_only_for_what_it_shows(sites: DemoSites) -> None:
    result = preview(parse_config(config(sites)), limit=3)
    assert sites.requests == ["GET /affiliate/v1/hotels?page=1&page_size=3"]
    assert len(result.records) == 3 and result.errors == []
    fields = {f.field: f for f in result.records[0].fields}
    assert fields["name"].status == "ok" and fields["lat"].status == "ok" and fields["images"].value
    assert fields["zip"].value and fields["country"].value == "CA"


def test_retry_after_429_then_500_then_success(sites: DemoSites) -> None:
    sleeps = Sleeps()
    sites.faults.add(HOTELS, "retry-after:2")
    _, parsed, _ = fetch(sites, AffiliateApiSource(sleep=sleeps), page_size=20)
    assert sites.requests == [pages(2, 20)[0], *pages(2, 20)]
    assert 2.0 in sleeps and len(parsed.records) == 40

    sites.requests.clear()
    sites.faults.add(HOTELS, 500)
    _, parsed, _ = fetch(sites, page_size=20)
    assert sites.requests == [pages(2, 20)[0], *pages(2, 20)] and len(parsed.records) == 40


def test_waits_for_the_rate_limit_window_instead_of_spending_a_429(sites: DemoSites) -> None:
    site_api.limiter(sites.site).limit = 3
    waits = Sleeps()

    def sleep(seconds: float) -> None:
        waits(seconds)
        time.sleep(seconds)

    _, parsed, _ = fetch(sites, AffiliateApiSource(sleep=sleep))
    assert sites.requests == pages(4)  # no 429, no retry: it waited for X-RateLimit-Reset
    assert len(waits) == 1 and 0 < waits[0] <= 1 and len(parsed.records) == 40

    # an impolite client is refused with a 429 that says when to come back
    url = f"{sites.base_url}{HOTELS}"
    answers = [requests.get(url, headers={"X-Api-Key": "demo-key"}, timeout=5) for _ in range(4)]
    refused = answers[-1]
    assert [a.status_code for a in answers[:3]].count(200) >= 1 and refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_a_timeout_is_retried(sites: DemoSites) -> None:
    sites.faults.add(HOTELS, "slow:1.5")
    _, parsed, _ = fetch(sites, page_size=50, timeout_seconds=1)
    assert sites.requests == [pages(1, 50)[0], pages(1, 50)[0]] and len(parsed.records) == 40


def test_api_key_as_query_parameter_is_never_stored(sites: DemoSites) -> None:
    payload, parsed, _ = fetch(sites, api_key_param="api_key", page_size=20)
    assert sites.requests == [
        f"GET /affiliate/v1/hotels?page={p}&page_size=20&api_key=demo-key" for p in (1, 2)
    ]
    assert b"demo-key" not in payload.data and len(parsed.records) == 40
    assert "api_key=REDACTED" in parsed.records[0].provenance["page_url"]


def test_credentials_problems_are_clear(sites: DemoSites, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "http", "login": "x"}))
    with pytest.raises(SourceError, match="has no API key"):
        fetch(sites)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps({"conn_type": "http", "extra": {"api_key": "demo-key"}}),
    )
    assert len(fetch(sites, page_size=100)[1].records) == 40


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="set by the connector"):
        AffiliateApiParams(query={"page": 2})
    with pytest.raises(ValueError, match="go together"):
        AffiliateApiParams(query={"latitude": 45.5})
    with pytest.raises(ValueError, match="less than or equal to 100"):
        AffiliateApiParams(page_size=500)
    with pytest.raises(ValueError, match="Extra inputs"):
        AffiliateApiParams.model_validate({"pagesize": 10})
    assert AffiliateApiParams(resource="activities").extra_fields["price_from"] == "price.from"
    assert AffiliateApiParams(resource="activities", extra_fields={"x": "y"}).extra_fields == {"x": "y"}


def test_parse_keeps_bad_items_and_pages_as_errors() -> None:
    page = {
        "url": "http://x/affiliate/v1/hotels?page=1",
        "status": 200,
        "headers": {},
        "fetched_at": "t",
        "seconds": 0,
    }
    good = {"hotel_id": 7, "name": "Auberge", "location": None, "meeting_point": None}
    raw = RawPages(
        "api",
        request={"resource": "hotels"},
        pages=[
            {**page, "text": json.dumps({"meta": {"page": 1}, "results": [good, "oops", good]})},
            {**page, "text": json.dumps({"error": {"code": "server_busy", "message": "later"}})},
            {**page, "text": '{"results": [{"hotel_id"'},
        ],
        error="GET http://x/affiliate/v1/hotels?page=4 failed after 3 attempt(s): HTTP 500",
    )
    cfg = parse_config(
        {"dmo": {"id": DMO, "name": "x", "dmo_type": "TRAVEL_SITE", "country": "CA"}, "source_type": "api"}
    )
    parsed = AffiliateApiSource().parse(raw.payload("http://x").data, cfg)
    assert [r.row_no for r in parsed.records] == [1, 3]
    assert [(e.row_no, e.error_type) for e in parsed.errors] == [
        (2, "invalid_item"), (0, "malformed_response"), (0, "malformed_response"), (0, "fetch_error"),
    ]  # fmt: skip
    assert "server_busy" in parsed.errors[1].message


def test_html_descriptions_become_text() -> None:
    html = "<div><p>Caf&eacute; &amp; bar</p><ul><li>Vue</li><li>Terrasse</li></ul><script>x()</script>Fin<br/>!</div>"
    assert html_to_text(html) == "Café & bar\n\n- Vue\n- Terrasse\n\nFin\n!"
    assert html_to_text("Plain &amp; simple") == "Plain & simple"
    assert html_to_text(None) is None and html_to_text("<p> </p>") is None


def test_demo_site_contract(sites: DemoSites) -> None:
    url = f"{sites.base_url}{HOTELS}"
    for headers in ({}, {"X-Api-Key": "wrong"}):
        denied = requests.get(url, headers=headers, timeout=5)
        assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key"
    key = {"X-Api-Key": "demo-key"}
    bad = requests.get(url, params={"page_size": 101}, headers=key, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_parameter"
    last = requests.get(url, params={"page": 3, "page_size": 15}, headers=key, timeout=5).json()
    assert last["meta"] == {"page": 3, "page_size": 15, "total_pages": 3, "total_results": 40}
    assert len(last["results"]) == 10
    near = requests.get(
        url,
        params={"latitude": 45.5017, "longitude": -73.5673, "radius_km": 30, "page_size": 100},
        headers=key,
        timeout=5,
    ).json()
    assert 0 < near["meta"]["total_results"] < 40
    second = site_api.data(sites.site)["hotels"][1]["hotel_id"]
    site_api.touch(sites.site, "hotels", second, phone="+15145550199")
    recent = requests.get(
        url, params={"updated_since": "2026-01-01T00:00:00Z"}, headers=key, timeout=5
    ).json()
    assert [h["hotel_id"] for h in recent["results"]] == [second]


def test_an_empty_answer_ends_the_paging_with_no_records_and_no_errors(sites: DemoSites) -> None:
    payload, parsed, _ = fetch(sites, query={"city": "Atlantis"})
    assert sites.requests == pages(1, extra="city=Atlantis&")
    assert parsed.records == [] and parsed.errors == []
    assert payload.metadata["total_results"] == 0 and payload.metadata["complete"] is True

    sites.requests.clear()
    sites.faults.add(HOTELS, "empty")  # 200 with an empty `results` and no `meta`
    payload, parsed, _ = fetch(sites)
    assert sites.requests == pages(1)
    assert parsed.records == [] and parsed.errors == []
    raw = RawPages.load(payload.data)
    assert len(raw.pages) == 1 and raw.error is None and payload.metadata["complete"] is True


def test_a_malformed_page_is_a_malformed_response_error_and_the_paging_goes_on(sites: DemoSites) -> None:
    sites.faults.add(HOTELS, OK, "malformed")  # page 2 is cut in half
    payload, parsed, _ = fetch(sites)
    assert sites.requests == pages(4)  # page 1 said there are 4
    raw = RawPages.load(payload.data)
    assert len(raw.pages) == 4 and raw.error is None and payload.metadata["complete"] is True
    hotels = [h["hotel_id"] for h in site_api.data(sites.site)["hotels"]]
    assert [r.values["_id"] for r in parsed.records] == hotels[:10] + hotels[20:]
    (err,) = parsed.errors
    url = f"{sites.base_url}{HOTELS}?page=2&page_size=10"
    assert (err.row_no, err.error_type, err.original["url"]) == (0, "malformed_response", url)
    assert err.message.startswith(f"response of GET {url} is not valid JSON (")


def test_a_page_failing_on_every_retry_stops_the_fetch_and_keeps_the_pages_before_it(
    sites: DemoSites,
) -> None:
    sites.faults.add(HOTELS, OK, OK, 500, 500, 500)  # page 3 fails on every attempt
    payload, parsed, _ = fetch(sites)
    assert sites.requests == [*pages(3), *pages(3)[2:] * 2]
    raw = RawPages.load(payload.data)
    assert len(raw.pages) == 2 and payload.metadata["pages"] == 2 and payload.metadata["complete"] is False
    assert raw.error == (
        f"GET {sites.base_url}{HOTELS}?page=3&page_size=10 failed after 3 attempt(s): "
        "HTTP 500 Internal Server Error"
    )
    assert payload.metadata["fetch_error"] == raw.error
    hotels = [h["hotel_id"] for h in site_api.data(sites.site)["hotels"]]
    assert [r.values["_id"] for r in parsed.records] == hotels[:20]
    (err,) = parsed.errors
    assert (err.row_no, err.error_type, err.message) == (0, "fetch_error", raw.error)
    assert err.original["pages_kept"] == 2


# -- jobs end to end ----------------------------------------------------------------------------------
def test_end_to_end_into_public_then_unchanged(engine: Engine, sites: DemoSites, listings_env: Path) -> None:
    apply(engine, sites)
    first = run_job(DMO)
    assert first["status"] == "succeeded"
    assert first["counts"]["records_total"] == 40 and first["counts"]["records_error"] == 0
    assert first["counts"]["records_new"] + first["counts"]["records_duplicates"] == 40
    (hotel,) = q(
        engine,
        """select l.name, li.external_source_id, loc.lat, loc.lng, loc.city, loc.zip
           from public.listing_info li join public.listings l on l.id = li.listing_id
           join public.locations loc on loc.id = l.location_id where li.external_source_id = '100001'""",
    )
    assert hotel.name == "The Quiet Thistle Inn" and hotel.city == "Mont-Tremblant"
    assert float(hotel.lat) == pytest.approx(46.254657) and float(hotel.lng) == pytest.approx(-74.614138)
    (path,) = q(engine, "select s3_path from pipeline.job_files where stage = 'transformed'")[0]
    records = json.loads(
        gzip.decompress((listings_env / "objects" / path.removeprefix("s3://")).read_bytes())
    )
    assert records[0]["provenance"][0]["extras"]["currency"] == "CAD"

    again = run_job(DMO)
    assert again["status"] == "succeeded"
    assert again["counts"]["records_unchanged"] == first["counts"]["records_new"]
    assert again["counts"]["records_new"] == again["counts"]["records_updated"] == 0


def test_incremental_run_asks_only_for_what_changed(engine: Engine, sites: DemoSites) -> None:
    apply(engine, sites, incremental=True, page_size=100)
    first = run_job(DMO)
    assert first["status"] == "succeeded" and sites.requests == pages(1, 100)
    site_api.touch(sites.site, "hotels", 100001, phone="+18195550100")
    sites.requests.clear()
    second = run_job(DMO)
    (asked,) = sites.requests
    assert asked.startswith("GET /affiliate/v1/hotels?updated_since=") and asked.endswith(
        "&page=1&page_size=100"
    )
    assert second["counts"]["records_total"] == 1 and second["counts"]["records_updated"] == 1
    (phone,) = q(
        engine,
        """select c.local_phone from public.listing_info li join public.contact_info c on c.id = li.contact_info_id
           where li.external_source_id = '100001'""",
    )
    assert "819" in phone[0] and "0100" in phone[0]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_refused_first_page_fails_the_job_naming_the_url(
    engine: Engine, sites: DemoSites, status: int
) -> None:
    apply(engine, sites)
    if status == 401:
        sites.site.api_key = "rotated-key"
    else:
        sites.faults.add(HOTELS, status)
    try:
        with pytest.raises(JobFailed) as err:
            run_job(DMO)
    finally:
        sites.site.api_key = "demo-key"
    assert err.value.step == "extract"
    (job,) = q(engine, "select status, error_summary from pipeline.jobs")
    assert job.status == "failed" and f"HTTP {status}" in job.error_summary
    assert f"{sites.base_url}{HOTELS}?page=1&page_size=10" in job.error_summary
    assert sites.requests == pages(1)  # not retried


def test_an_incremental_run_asks_for_the_second_the_last_run_started_in(sites: DemoSites) -> None:
    """The API stamps items to the second and answers items updated strictly after `updated_since`: an item
    edited in the second the last good run started (after its start) must still come."""
    since = datetime(2026, 1, 1, 10, 0, 0, 400_000, tzinfo=UTC)
    for item in site_api.data(sites.site)["hotels"]:
        item["updated_at"] = "2025-12-31T00:00:00Z"  # older than the last run: not asked for
    site_api.data(sites.site)["hotels"][0]["updated_at"] = "2026-01-01T10:00:00Z"  # 10:00:00.7, say
    cfg = parse_config(config(sites, incremental=True))
    source = AffiliateApiSource()
    payload = source.fetch(FetchContext(cfg, cfg.params(), Path("."), since=since))
    (asked,) = sites.requests
    assert "updated_since=2026-01-01T09%3A59%3A59Z&" in asked
    parsed = source.parse(payload.data, cfg)
    assert [r.values["hotel_id"] for r in parsed.records] == [
        site_api.data(sites.site)["hotels"][0]["hotel_id"]
    ]
