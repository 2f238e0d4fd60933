"""The HERE connector against the local HERE-like demo site: v7 discover/browse/lookup, v1 `next` paging,
de-duplication across queries, the API key kept out of everything stored, faults (checked on the connector:
the requests, the pages kept, the payload's error and the parse errors; the `partial` job they lead to is
tested end to end in test_source_wordpress.py), preview, uploads, and a DMO end to end into public."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dmo_helpers import q
from sqlalchemy import Engine

from listings.config.models import DmoConfig
from listings.config.preview import preview
from listings.config.store import ConfigError, apply_config, load_config_file, parse_config
from listings.pipeline.runner import JobFailed, run_job
from listings.sources.base import FetchContext, ParseResult, RawPayload, SourceError
from listings.sources.here import HereParams, HereSource, country_alpha2
from listings.sources.http import HttpError, RawPages
from listings.transform.records import build_record
from listings_dev.demo_sites import DemoSites
from listings_dev.demo_sites import here as here_site

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "here"
FAST = {
    "allow_private_hosts": True,
    "delay_seconds": 0,
    "backoff_seconds": 0.01,
    "retries": 2,
    "timeout_seconds": 5,
}
MONTREAL = "45.5017,-73.5673"
QUEBEC = "46.8139,-71.2080"


@pytest.fixture
def sites(monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoSites]:
    monkeypatch.setenv(
        "AIRFLOW_CONN_LISTINGS_TEST_HERE", json.dumps({"conn_type": "http", "password": "demo-key"})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_LISTINGS_TEST_HERE_EXTRA",
        json.dumps({"conn_type": "http", "extra": {"api_key": "demo-key"}}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_LISTINGS_TEST_HERE_BAD", json.dumps({"conn_type": "http", "password": "nope"})
    )
    server = DemoSites(port=0)
    server.start()
    yield server
    server.stop()


def config(sites: DemoSites, **params: Any) -> DmoConfig:
    return parse_config(
        {
            "dmo": {
                "id": 109,
                "name": "HERE test",
                "dmo_type": "TRAVEL_SITE",
                "country": "CA",
                "state": "QC",
            },
            "source_type": "here",
            "base_url": f"{sites.base_url}/here/",
            "config_params": {"auth_conn_id": "listings_test_here", **FAST, **params},
        }
    )


def fetch(cfg: DmoConfig, *, limit: int | None = None, slept: list[float] | None = None) -> RawPayload:
    source = HereSource(sleep=slept.append if slept is not None else lambda s: None)
    return source.fetch(FetchContext(cfg, cfg.params(), REPO, limit=limit))


def fetch_parse(cfg: DmoConfig, **kw: Any) -> tuple[RawPayload, ParseResult]:
    payload = fetch(cfg, **kw)
    return payload, HereSource().parse(payload.data, cfg)


def browse(sites: DemoSites, *queries: dict[str, str], **params: Any) -> DmoConfig:
    return config(sites, endpoint="browse", queries=list(queries), **params)


def _km(at: str, place: dict[str, Any]) -> float:
    lat, lng = (float(v) for v in at.split(","))
    return here_site._distance(lat, lng, place["position"]["lat"], place["position"]["lng"]) / 1000


# -- fetch and parse -------------------------------------------------------------------------------
def test_browse_queries_are_deduplicated_and_the_key_is_never_stored(sites: DemoSites) -> None:
    cfg = browse(
        sites, {"at": MONTREAL, "in": f"circle:{MONTREAL};r=60000"}, {"at": QUEBEC, "in": "countryCode:CAN"}
    )
    payload, parsed = fetch_parse(cfg)
    assert sites.requests == [
        "GET /here/browse?at=45.5017%2C-73.5673&in=circle%3A45.5017%2C-73.5673%3Br%3D60000&limit=100&apiKey=demo-key",
        "GET /here/browse?at=46.8139%2C-71.2080&in=countryCode%3ACAN&limit=100&apiKey=demo-key",
    ]
    # the second query finds every place, the first a subset: each is kept once, in first-seen order
    assert len(parsed.records) == 40 and parsed.errors == []
    near = [p for p in here_site._places(sites.site) if _km(MONTREAL, p) <= 60]
    assert parsed.metadata["duplicates_skipped"] == len(near) > 0
    assert [r.row_no for r in parsed.records] == list(range(1, 41))
    assert len({r.values["id"] for r in parsed.records}) == 40

    assert b"demo-key" not in payload.data
    raw = RawPages.load(payload.data)
    assert all(p["url"].endswith("apiKey=***") for p in raw.pages)
    assert raw.request["auth"] == "apiKey query parameter (redacted)" and raw.request["since"] is None
    assert payload.metadata["items"] == 40 and payload.source_uri == f"{sites.base_url}/here/browse"

    rec = parsed.records[0]
    demo = next(p for p in here_site._places(sites.site) if p["id"] == rec.values["id"])
    address = demo["address"]
    number = address.get("houseNumber")
    assert rec.values["_street"] == (f"{number} {address['street']}" if number else address["street"])
    assert (rec.values["_city"], rec.values["_state"], rec.values["_zip"], rec.values["_country2"]) == (
        address["city"], "QC", address["postalCode"], "CA",
    )  # fmt: skip
    assert (rec.values["_lat"], rec.values["_lng"]) == (demo["position"]["lat"], demo["position"]["lng"])
    assert rec.provenance["original_id"] == rec.values["id"] and rec.provenance["http_status"] == 200
    assert rec.provenance["source_url"].endswith("apiKey=***") and rec.provenance["fetched_at"]

    with_hours = next(r for r in parsed.records if r.values.get("openingHours"))
    hours = with_hours.values["openingHours"][0]
    assert with_hours.values["_hours"] == "; ".join(hours["text"])  # lang fr: "lun-ven: 09:00 - 17:00"
    assert hours["structured"][0]["recurrence"].startswith("FREQ:DAILY;BYDAY:")  # kept as it came
    built = build_record(
        rec.row_no, rec.values, cfg.mappings(), country="CA", state="QC", provenance=rec.provenance
    )
    assert built.values["name"] == demo["title"] and built.values["source_id"] == demo["id"]


def test_v1_explore_follows_next_links_until_absent_or_max_pages(sites: DemoSites) -> None:
    cfg = config(
        sites, endpoint="places_v1", limit=4, queries=[{"at": MONTREAL, "categories": ["restaurant"]}]
    )
    payload, parsed = fetch_parse(cfg)
    restaurants = [p for p in here_site._places(sites.site) if p["_key"] == "restaurant"]
    pages = -(-len(restaurants) // 4)
    assert pages >= 3
    assert sites.requests[0] == (
        "GET /here/places/v1/discover/explore?at=45.5017%2C-73.5673&cat=restaurant&size=4&apiKey=demo-key"
    )
    for n, request in enumerate(sites.requests[1:], start=1):
        context = here_site._context(4 * n, 4)  # offset, size: what the previous page's `next` said
        # the key is the session's, not doubled from the link that echoed it
        assert request == (
            f"GET /here/places/v1/discover/explore;context={context}?at=45.5017%2C-73.5673&cat=restaurant&apiKey=demo-key"
        )
    assert len(sites.requests) == pages
    assert len(parsed.records) == len(restaurants) and parsed.metadata["api"] == "v1"
    assert [r.values["id"] for r in parsed.records] == [p["id"].removeprefix("here:pds:place:") for p in sorted(
        restaurants, key=lambda p: (_km(MONTREAL, p), p["id"])
    )]  # fmt: skip
    # v1 echoes the key in its links: the stored bodies have it redacted
    assert b"demo-key" not in payload.data and b"apiKey=***" in payload.data
    rec = parsed.records[0]
    assert rec.values["_street"] and rec.values["_city"] and rec.values["_state"] == "QC"
    assert rec.values["_categories"] == ["Restaurant"] and rec.values["_country2"] is None
    assert rec.provenance["source_url"].startswith(f"{sites.base_url}/here/places/v1/places/")

    sites.requests.clear()
    cfg = config(sites, endpoint="places_v1", limit=10, max_pages=2, queries=[{"at": MONTREAL}])
    payload, parsed = fetch_parse(cfg)
    assert len(sites.requests) == 2 and len(parsed.records) == 20


def test_lookup_asks_once_per_id_and_reports_unknown_ids(sites: DemoSites) -> None:
    known = [p["id"] for p in here_site._places(sites.site)[:2]]
    cfg = config(sites, endpoint="lookup", ids=[known[0], "here:pds:place:gone", known[1]])
    _, parsed = fetch_parse(cfg)
    assert [r.split("?")[0] for r in sites.requests] == ["GET /here/lookup"] * 3
    assert [r.values["id"] for r in parsed.records] == known
    (error,) = parsed.errors
    assert error.error_type == "not_found" and "here:pds:place:gone" in error.message
    assert "demo-key" not in error.message

    with pytest.raises(HttpError) as err:  # not one id found: a wrong path rather than gone places
        fetch(config(sites, endpoint="lookup", ids=["here:pds:place:gone"]))
    assert err.value.status == 404 and "demo-key" not in str(err.value)


def test_429_with_retry_after_then_500_then_success(sites: DemoSites) -> None:
    sites.faults.add("/here/", "retry-after:1", 500)
    slept: list[float] = []
    payload, parsed = fetch_parse(browse(sites, {"at": MONTREAL}, limit=5), slept=slept)
    assert len(sites.requests) == 3 and len(parsed.records) == 5 and parsed.errors == []
    assert slept[0] == 1.0 and len(slept) == 2
    assert payload.metadata["complete"] is True


def test_a_timeout_is_retried_and_a_lasting_one_names_the_url(sites: DemoSites) -> None:
    sites.faults.add("/here/", "slow:1.5")
    _, parsed = fetch_parse(browse(sites, {"at": MONTREAL}, limit=5, timeout_seconds=1))
    assert len(parsed.records) == 5 and len(sites.requests) == 2

    sites.faults.add("/here/", "slow:1.5")
    with pytest.raises(HttpError, match=r"timed out after 1 s") as err:
        fetch(browse(sites, {"at": MONTREAL}, timeout_seconds=1, retries=0))
    assert f"{sites.base_url}/here/browse?" in str(err.value) and "demo-key" not in str(err.value)


@pytest.mark.parametrize(("status", "hint"), [(401, "credentials"), (403, "refused"), (404, "base_url")])
def test_client_errors_fail_naming_the_url_without_the_key(sites: DemoSites, status: int, hint: str) -> None:
    sites.faults.add("/here/", status)
    with pytest.raises(HttpError) as err:
        fetch(browse(sites, {"at": MONTREAL}))
    message = str(err.value)
    assert err.value.status == status and hint in message and f"{sites.base_url}/here/browse?at=" in message
    assert "demo-key" not in message and len(sites.requests) == 1


def test_key_from_the_connection_extra_and_missing_connection(sites: DemoSites) -> None:
    _, parsed = fetch_parse(browse(sites, {"at": MONTREAL}, limit=2, auth_conn_id="listings_test_here_extra"))
    assert len(parsed.records) == 2
    with pytest.raises(SourceError, match="auth_conn_id"):
        fetch(browse(sites, {"at": MONTREAL}, auth_conn_id=None))


def test_config_validation() -> None:
    def here(**params: Any) -> DmoConfig:
        return parse_config(
            {
                "dmo": {"id": 109, "name": "x", "dmo_type": "TRAVEL_SITE", "country": "CA"},
                "source_type": "here",
                "config_params": params,
            }
        )

    stored = here(endpoint="discover", queries=[{"q": "café", "in": "countryCode:CAN", "at": "45.5, -73.6"}])
    assert stored.config_params["queries"][0] == {
        "q": "café",
        "at": "45.5,-73.6",
        "in": "countryCode:CAN",
        "categories": None,
    }
    assert parse_config(stored.document()).config_params == stored.config_params  # `in` survives a round trip
    cases: list[tuple[dict[str, Any], str]] = [
        ({"endpoint": "discover", "queries": [{"at": MONTREAL}]}, "needs `q`"),
        ({"endpoint": "discover", "queries": [{"q": "x", "at": MONTREAL, "categories": "100"}]}, "browse"),
        ({"endpoint": "browse", "queries": [{"in": "countryCode:CAN"}]}, "needs `at`"),
        ({"endpoint": "discover", "queries": [{"q": "x", "in": "countryCode:CAN"}]}, "query 1: discover"),
        ({"endpoint": "browse"}, "needs `queries`"),
        ({"endpoint": "lookup"}, "needs `ids`"),
        ({"endpoint": "browse", "queries": [{"at": "north"}]}, "lat,lng"),
        ({"endpoint": "upload", "incremental": True}, "no 'changed since' filter"),
        ({"endpoint": "upload", "extra_query": {"apiKey": "x"}}, "Airflow connection"),
        ({"endpoint": "upload", "limit": 101}, "less than or equal to 100"),
    ]
    for bad, message in cases:
        with pytest.raises(ConfigError, match=message):
            here(**bad)
    params = here(endpoint="browse", queries=[{"at": MONTREAL}]).params()
    assert isinstance(params, HereParams)
    assert params.endpoint_url(None) == "https://browse.search.hereapi.com/v1/browse"
    lookup = here(endpoint="lookup", ids=["x"], path="https://lookup.search.hereapi.com/v1/lookup").params()
    assert isinstance(lookup, HereParams)
    assert lookup.endpoint_url("http://127.0.0.1:8765/here/") == "https://lookup.search.hereapi.com/v1/lookup"
    assert [country_alpha2(c) for c in ("CAN", "HRV", "USA", "XKS", "ca", "ZZZ", None)] == [
        "CA", "HR", "US", "XK", "CA", None, None,
    ]  # fmt: skip


def test_parse_uploaded_v1_response_and_stored_error_pages(sites: DemoSites) -> None:
    cfg = config(sites, endpoint="upload")
    parsed = HereSource().parse((FIXTURES / "explore_v1.json").read_bytes(), cfg)
    assert [r.values["title"] for r in parsed.records] == ["Le Lapin Sauté", "Musée de la civilisation"]
    lapin = parsed.records[0].values
    assert (lapin["_street"], lapin["_city"], lapin["_state"], lapin["_zip"]) == (
        "52 Rue du Petit-Champlain", "Québec", "QC", "G1K 4H4",
    )  # fmt: skip
    assert (lapin["_lat"], lapin["_lng"], lapin["_categories"]) == (46.81227, -71.20531, ["Restaurant"])
    assert lapin["_hours"] == "Mon-Fri: 11:00 - 22:00; Sat, Sun: 09:00 - 22:00"
    assert parsed.records[0].provenance["original_id"] == "124f25dv-11112222333344445555666677778888"

    v7 = HereSource().parse((FIXTURES / "discover_v7.json").read_bytes(), cfg)
    olimpico = v7.records[0].values
    assert olimpico["_categories"] == ["Café", "Restauration décontractée"]  # the primary first
    assert (olimpico["_phone"], olimpico["_website"], olimpico["_email"]) == (
        "+15145550101", "https://olimpico.example/", "bonjour@olimpico.example",
    )  # fmt: skip
    assert (
        olimpico["_street"] == "124 Rue Saint-Viateur O"
        and v7.records[1].values["_street"] == "Chemin Remembrance"
    )
    assert [(e.row_no, e.error_type) for e in v7.errors] == [(3, "invalid_item")]

    with pytest.raises(SourceError, match="not JSON"):
        HereSource().parse(b"{nope", cfg)
    with pytest.raises(SourceError, match="error response"):
        HereSource().parse(b'{"error": "Unauthorized", "error_description": "apiKey invalid."}', cfg)


# -- faults: what the connector keeps --------------------------------------------------------------
M30 = {"at": MONTREAL, "in": f"circle:{MONTREAL};r=30000"}
ASK_M30 = "GET /here/browse?at=45.5017%2C-73.5673&in=circle%3A45.5017%2C-73.5673%3Br%3D30000&limit=100"


def test_a_malformed_answer_is_a_malformed_response_error_and_the_next_query_is_asked(
    sites: DemoSites,
) -> None:
    cfg = browse(sites, M30, {"at": QUEBEC, "in": "countryCode:CAN"})
    sites.faults.add("/here/", "malformed")  # the first query's answer is cut in half
    payload, parsed = fetch_parse(cfg)
    assert sites.requests == [
        f"{ASK_M30}&apiKey=demo-key",
        "GET /here/browse?at=46.8139%2C-71.2080&in=countryCode%3ACAN&limit=100&apiKey=demo-key",
    ]
    raw = RawPages.load(payload.data)  # the fetch went to the end, the malformed page kept as it came
    assert len(raw.pages) == 2 and raw.error is None and payload.metadata["complete"] is True
    assert len(parsed.records) == 40 and parsed.metadata["duplicates_skipped"] == 0
    (err,) = parsed.errors
    url = f"{sites.base_url}{ASK_M30.removeprefix('GET ')}&apiKey=***"
    assert (err.row_no, err.error_type, err.original["url"]) == (0, "malformed_response", url)
    assert err.message.startswith(f"response of GET {url} is not valid JSON (")
    assert "demo-key" not in err.message and "demo-key" not in json.dumps(err.original)


def test_a_query_failing_on_every_retry_stops_the_fetch_and_keeps_the_pages_before_it(
    sites: DemoSites,
) -> None:
    cfg = browse(
        sites,
        M30,
        {"at": QUEBEC, "in": f"circle:{QUEBEC};r=30000"},
        {"at": MONTREAL, "in": "countryCode:CAN"},
    )
    sites.faults.add("/here/", "slow:0", 500, 500, 500)  # the first query answers, the second never does
    payload, parsed = fetch_parse(cfg)
    quebec = "GET /here/browse?at=46.8139%2C-71.2080&in=circle%3A46.8139%2C-71.2080%3Br%3D30000&limit=100"
    assert sites.requests == [f"{ASK_M30}&apiKey=demo-key", *[f"{quebec}&apiKey=demo-key"] * 3]
    raw = RawPages.load(payload.data)  # the third query is not asked
    assert len(raw.pages) == 1 and payload.metadata["pages"] == 1 and payload.metadata["complete"] is False
    assert raw.error == (
        f"GET {sites.base_url}{quebec.removeprefix('GET ')} failed after 3 attempt(s): "
        "HTTP 500 Internal Server Error"
    )
    montreal = [p for p in here_site._places(sites.site) if _km(MONTREAL, p) <= 30]
    assert len(montreal) > 0
    assert sorted(r.values["id"] for r in parsed.records) == sorted(p["id"] for p in montreal)
    (err,) = parsed.errors
    assert (err.row_no, err.error_type, err.message) == (0, "fetch_error", raw.error)
    assert err.original["pages_kept"] == 1 and "demo-key" not in err.message


def test_an_empty_answer_is_no_records_and_no_errors(sites: DemoSites) -> None:
    sites.faults.add("/here/", "empty")
    payload, parsed = fetch_parse(browse(sites, {"at": MONTREAL}))
    assert sites.requests == ["GET /here/browse?at=45.5017%2C-73.5673&limit=100&apiKey=demo-key"]
    assert parsed.records == [] and parsed.errors == []
    raw = RawPages.load(payload.data)
    assert len(raw.pages) == 1 and raw.error is None and payload.metadata["complete"] is True
    assert payload.metadata["items"] == 0


# -- end to end ------------------------------------------------------------------------------------
@pytest.fixture
def demo_config(sites: DemoSites) -> DmoConfig:
    """The shipped demo config, pointed at this test's server with fast params."""
    doc = load_config_file(REPO / "include" / "config" / "dmos" / "here-demo.yaml").document()
    doc["base_url"] = f"{sites.base_url}/here/"
    doc["config_params"].update({**FAST, "auth_conn_id": "listings_test_here"})
    return parse_config(doc)


def test_demo_dmo_end_to_end_then_unchanged(engine: Engine, sites: DemoSites, demo_config: DmoConfig) -> None:
    with engine.begin() as conn:
        apply_config(conn, demo_config)
    first = run_job(109)
    assert first["status"] == "succeeded", first
    assert len(sites.requests) == 3 and all(r.startswith("GET /here/browse?") for r in sites.requests)
    assert first["counts"]["records_total"] == 40 and first["counts"]["records_error"] == 0
    new = first["counts"]["records_new"]
    assert new + first["counts"]["records_duplicates"] == 40 and new >= 38
    rows = q(
        engine,
        """select li.external_source_id, l.name, loc.address1, loc.city, loc.zip, loc.country, loc.lat, loc.lng,
                  c.local_phone, c.website_url
           from public.listing_info li join public.listings l on l.id = li.listing_id
           join public.locations loc on loc.id = l.location_id join public.contact_info c on c.id = li.contact_info_id
           where li.dmo_id = 109""",
    )
    assert len(rows) == new
    assert all(r.external_source_id.startswith("here:pds:place:124f25dv-") for r in rows)
    assert all(r.lat is not None and r.lng is not None and r.country == "CA" for r in rows)
    demo = {p["id"]: p for p in here_site._places(sites.site)}
    for r in rows:
        place = demo[r.external_source_id]
        assert float(r.lat) == pytest.approx(place["position"]["lat"]) and r.city == place["address"]["city"]
    assert sum(1 for r in rows if r.local_phone) > 30

    (raw,) = q(engine, "select metadata from pipeline.job_files where stage = 'raw'")
    assert raw[0]["pages"] == 3 and raw[0]["duplicates_skipped"] > 0
    again = run_job(109)
    assert again["status"] == "succeeded"
    assert again["counts"]["records_unchanged"] == new
    assert again["counts"]["records_new"] == again["counts"]["records_updated"] == 0


def test_wrong_api_key_fails_the_job_naming_the_url(engine: Engine, sites: DemoSites) -> None:
    with engine.begin() as conn:
        apply_config(conn, browse(sites, {"at": MONTREAL}, auth_conn_id="listings_test_here_bad"))
    with pytest.raises(JobFailed) as err:
        run_job(109)
    assert err.value.step == "extract"
    (job,) = q(engine, "select status, error_summary from pipeline.jobs")
    assert job.status == "failed" and "HTTP 401" in job.error_summary and "credentials" in job.error_summary
    assert f"{sites.base_url}/here/browse?at=" in job.error_summary and "nope" not in job.error_summary


def test_upload_run_end_to_end(engine: Engine, sites: DemoSites) -> None:
    with engine.begin() as conn:
        apply_config(conn, config(sites, endpoint="upload"))
    res = run_job(109, file=FIXTURES / "discover_v7.json")
    assert (
        res["status"] == "partial"
        and res["counts"]["records_new"] == 2
        and res["counts"]["records_error"] == 1
    )
    assert sites.requests == []
    (raw,) = q(engine, "select format, metadata from pipeline.job_files where stage = 'raw'")
    assert raw.format == "json" and raw.metadata["file_name"] == "discover_v7.json"
    (hours,) = q(
        engine,
        "select l.name, loc.address1 from public.listings l join public.locations loc on loc.id = l.location_id where l.name = 'Café Olimpico'",
    )
    assert hours.address1 == "124 Rue Saint-Viateur O"


def test_preview_asks_for_just_enough(sites: DemoSites, listings_env: Path) -> None:
    cfg = browse(sites, {"at": MONTREAL}, {"at": QUEBEC})
    result = preview(cfg, limit=3)
    assert sites.requests == ["GET /here/browse?at=45.5017%2C-73.5673&limit=3&apiKey=demo-key"]
    assert len(result.records) == 3
    fields = {f.field: f for f in result.records[0].fields}
    for name in ("source_id", "name", "category", "address1", "city", "zip", "country", "lat", "lng"):
        assert fields[name].status == "ok", (name, fields[name])
    assert fields["country"].value == "CA" and fields["description"].status == "unmapped"
