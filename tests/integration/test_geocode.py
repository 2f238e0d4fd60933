"""Geotagging against the local Google Places stand-in and a real database: Find Place and its Text Search
fallback, the cache (ok and zero_results kept, errors not, expiry, key normalisation), per-run and
per-day budgets that refuse before any request, usage rows, the minimum interval, retries, fatal errors,
timeouts, and the API key kept out of everything stored or logged."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from listings.geocode import GeocodeQuery, country_name
from listings.geocode.places import GooglePlacesClient, get_api_key
from listings.geocode.service import Geotagger, UsageStats, purge_expired, usage
from listings.sources.base import SourceError
from listings_dev.demo_sites import DemoSites
from listings_dev.demo_sites import places as places_site
from listings_dev.devdata import CITIES

FIND = places_site.FIND_PLACE
TEXT = places_site.TEXT_SEARCH
KEY = "demo-key"  # the stand-in's key (Site.api_key)

# Pending the lead's migration; `if not exists` keeps the tests valid once it lands.


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    demo = DemoSites(port=0)
    demo.start()
    yield demo
    demo.stop()


@pytest.fixture
def db(engine: Engine) -> Engine:
    return engine


def make_client(sites: DemoSites, **kw: Any) -> GooglePlacesClient:
    options: dict[str, Any] = {
        "api_key": KEY,
        "timeout": 5,
        "min_interval_seconds": 0,
        "backoff_seconds": 0.01,
        "sleep": lambda s: None,
        **kw,
    }
    return GooglePlacesClient(sites.base_url, **options)


def make_tagger(db: Engine, client: GooglePlacesClient, **kw: Any) -> Geotagger:
    options: dict[str, Any] = {"per_run_budget": 100, "per_day_budget": 1000, "job_id": 7, **kw}
    return Geotagger(db, client, **options)


def q(
    name: str | None = "Café Olimpico",
    address: str | None = "124 rue Saint-Viateur Ouest",
    city: str | None = "Montréal",
    state: str | None = "QC",
    zip: str | None = "H2T 2L1",
    country: str = "CA",
) -> GeocodeQuery:
    return GeocodeQuery(name, address, city, state, zip, country)


def endpoints(sites: DemoSites) -> list[str]:
    return ["find" if r.split("?")[0] == f"GET {FIND}" else "text" for r in sites.requests]


def usage_rows(db: Engine) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "select provider, job_id, calls, cache_hits, failures, budget_refusals, day"
                " from pipeline.api_usage order by job_id nulls first"
            )
        ).mappings()
        return [dict(r) for r in rows]


def cache_rows(db: Engine) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return [
            dict(r) for r in conn.execute(text("select * from pipeline.geocode_cache order by id")).mappings()
        ]


def in_box(lat: float | None, lng: float | None, city: str) -> bool:
    box = CITIES[city]
    assert lat is not None and lng is not None
    return box.lat[0] <= lat <= box.lat[1] and box.lng[0] <= lng <= box.lng[1]


# ------------------------------------------------------------------------------------------------
# The query: text and cache key (pure)
# ------------------------------------------------------------------------------------------------


def test_query_text_reads_like_an_address_with_the_country_spelled_out() -> None:
    assert q().text() == "Café Olimpico, 124 rue Saint-Viateur Ouest, Montréal, QC H2T 2L1, Canada"
    assert GeocodeQuery("Joe's Diner", None, "Burlington", "VT", None, "us").text() == (
        "Joe's Diner, Burlington, VT, United States"
    )
    assert GeocodeQuery(" ", "10 Downing St", "London", None, "SW1A 2AA", "GB").text() == (
        "10 Downing St, London, SW1A 2AA, United Kingdom"
    )
    assert country_name("zz") == "ZZ"  # unknown codes pass through


def test_cache_key_ignores_case_accents_punctuation_whitespace_and_postal_spacing() -> None:
    base = q()
    variants = [
        q("CAFE OLIMPICO", "124, rue Saint Viateur ouest", " montreal ", "qc", "h2t2l1", "ca"),
        q("café  olimpico", "124 RUE SAINT-VIATEUR OUEST", "MONTRÉAL", "Qc", "H2T-2L1", "CA"),
    ]
    assert all(v.key() == base.key() for v in variants)
    assert re.fullmatch(r"[0-9a-f]{64}", base.key())
    # Fields stay apart, and real differences still count.
    assert (
        GeocodeQuery("Laval", None, None, None, None, "CA").key()
        != GeocodeQuery(None, None, "Laval", None, None, "CA").key()
    )
    assert q(address="126 rue Saint-Viateur Ouest").key() != base.key()
    assert q(country="FR").key() != base.key()
    # The bias is a preference, not part of what is asked.
    biased = GeocodeQuery(
        base.name,
        base.address,
        base.city,
        base.state,
        base.zip,
        base.country,
        bias=(45.4, -74.0, 45.7, -73.4),
    )
    assert biased.key() == base.key() and biased == base


def test_searchable_needs_something_to_find_and_somewhere_to_find_it() -> None:
    assert q().searchable()
    assert q(address=None, zip=None).searchable()  # name + city
    assert q(name=None).searchable()  # a street address alone is enough
    assert not q(address=None, city=None, zip=None).searchable()  # "Café Olimpico", CA
    assert not q(name=None, address=None).searchable()  # just a city: an area, not a listing
    assert not q(name="  ", address="", city="Montréal").searchable()


_maybe_text = st.one_of(st.none(), st.text())


@settings(max_examples=200, deadline=None)
@given(_maybe_text, _maybe_text, _maybe_text, _maybe_text, _maybe_text, st.text(max_size=3))
def test_any_query_has_a_text_and_a_stable_key(
    name: str | None, address: str | None, city: str | None, state: str | None, zip: str | None, country: str
) -> None:
    query = GeocodeQuery(name, address, city, state, zip, country)
    assert isinstance(query.text(), str)
    assert query.key() == GeocodeQuery(name, address, city, state, zip, country).key()
    # Case never changes the key.
    folded = GeocodeQuery(name and name.casefold(), address, city and city.casefold(), state, zip, country)
    assert folded.key() == query.key()
    assert re.fullmatch(r"[0-9a-f]{64}", query.key())
    query.searchable()


# ------------------------------------------------------------------------------------------------
# The stand-in server
# ------------------------------------------------------------------------------------------------


def test_fake_places_speaks_googles_shapes_and_wants_the_key(sites: DemoSites) -> None:
    base = sites.base_url
    find = requests.get(
        base + FIND,
        params={"input": q().text(), "inputtype": "textquery", "fields": "place_id,geometry", "key": KEY},
        timeout=5,
    )
    assert find.status_code == 200
    doc = find.json()
    assert doc["status"] == "OK" and set(doc["candidates"][0]) == {"place_id", "geometry"}
    loc = doc["candidates"][0]["geometry"]["location"]
    assert in_box(loc["lat"], loc["lng"], "Montréal")
    again = requests.get(base + TEXT, params={"query": q().text(), "key": KEY}, timeout=5).json()
    assert again["results"][0]["geometry"]["location"] == loc  # deterministic: same query, same point
    assert again["results"][0]["place_id"] == doc["candidates"][0]["place_id"]

    missing = requests.get(base + FIND, params={"input": "x", "inputtype": "textquery"}, timeout=5)
    assert missing.status_code == 200 and missing.json()["status"] == "REQUEST_DENIED"
    assert "API key" in missing.json()["error_message"]
    wrong = requests.get(base + TEXT, params={"query": "x", "key": "nope"}, timeout=5).json()
    assert wrong == {
        "results": [],
        "status": "REQUEST_DENIED",
        "html_attributions": [],
        "error_message": "The provided API key is invalid.",
    }
    no_input = requests.get(base + FIND, params={"inputtype": "textquery", "key": KEY}, timeout=5).json()
    assert no_input["status"] == "INVALID_REQUEST"


def test_fake_places_reads_the_city_not_the_province(sites: DemoSites) -> None:
    def point(query: str) -> dict[str, Any]:
        doc = requests.get(sites.base_url + TEXT, params={"query": query, "key": KEY}, timeout=5).json()
        return doc["results"][0]["geometry"]["location"] if doc["results"] else {}

    loc = point("Auberge La Muse, 39 rue Saint-Jean-Baptiste, Baie-Saint-Paul, Québec, Canada")
    assert in_box(loc["lat"], loc["lng"], "Baie-Saint-Paul")
    loc = point("Château Frontenac, 1 rue des Carrières, QUEBEC, QC G1R 4P5")
    assert in_box(loc["lat"], loc["lng"], "Québec")
    assert point("Tim Hortons, 1 Main Street, Toronto, ON, Canada") == {}


# ------------------------------------------------------------------------------------------------
# Client and service
# ------------------------------------------------------------------------------------------------


def test_find_place_ok_is_stored_and_counted(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites))
    result = tagger.geocode(q())
    assert result.status == "ok" and not result.from_cache and result.provider == "google_places"
    assert in_box(result.lat, result.lng, "Montréal")
    assert result.place_id and result.place_id.startswith("ChIJ")
    assert result.formatted_address == "124 rue Saint-Viateur Ouest, Montréal, QC H2T 2L1, Canada"
    assert endpoints(sites) == ["find"]
    assert "inputtype=textquery" in sites.requests[0]
    assert "fields=place_id%2Cname%2Cformatted_address%2Cgeometry%2Ctypes" in sites.requests[0]
    assert tagger.stats() == UsageStats(calls=1, cache_hits=0, failures=0, budget_refusals=0)
    (row,) = cache_rows(db)
    assert (row["provider"], row["status"], row["query"]) == ("google_places", "ok", q().text())
    assert float(row["lat"]) == pytest.approx(result.lat) and row["place_id"] == result.place_id
    assert row["response"]["lookup"]["endpoint"] == "findplacefromtext"
    assert (row["expires_at"] - row["created_at"]).days == 30


def test_text_search_is_the_fallback_when_find_place_finds_nothing(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites))
    result = tagger.geocode(q(name="Fromagerie NOT_IN_FINDPLACE", city="Laval", zip=None))
    assert result.status == "ok" and in_box(result.lat, result.lng, "Laval")
    assert endpoints(sites) == ["find", "text"]
    assert "region=ca" in sites.requests[1]
    assert tagger.stats().calls == 2
    assert cache_rows(db)[0]["response"]["lookup"]["endpoint"] == "textsearch"


def test_zero_results_is_cached_and_the_second_call_makes_no_request(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites))
    query = GeocodeQuery("Joe's Diner", "12 Main Street", "Springfield", "IL", "62701", "US")
    first = tagger.geocode(query)
    assert first.status == "zero_results" and first.lat is None and not first.from_cache
    assert endpoints(sites) == ["find", "text"] and "region=us" in sites.requests[1]
    second = make_tagger(db, make_client(sites)).geocode(query)  # another run
    assert second.status == "zero_results" and second.from_cache
    assert len(sites.requests) == 2
    assert [r["status"] for r in cache_rows(db)] == ["zero_results"]


def test_an_area_is_not_a_listing_location(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites))
    result = tagger.geocode(q(name="Chez Nobody AREA_ONLY", address=None, city="Magog", zip=None))
    assert result.status == "zero_results" and result.lat is None
    assert result.message == "only areas matched (Magog, QC, Canada)"
    assert endpoints(sites) == ["find", "text"]
    cached = tagger.geocode(q(name="chez nobody area_only", address=None, city="MAGOG", zip=None))
    assert cached.from_cache and cached.message == result.message


def test_ok_is_cached_across_runs_whatever_the_spelling(sites: DemoSites, db: Engine) -> None:
    first = make_tagger(db, make_client(sites)).geocode(q())
    tagger = make_tagger(db, make_client(sites), job_id=8)
    again = tagger.geocode(
        q("CAFE OLIMPICO", "124, rue Saint Viateur Ouest", "montreal", "qc", "h2t2l1", "ca")
    )
    assert again.from_cache and again.status == "ok"
    assert (again.lat, again.lng, again.place_id, again.formatted_address) == (
        pytest.approx(first.lat),
        pytest.approx(first.lng),
        first.place_id,
        first.formatted_address,
    )
    assert len(sites.requests) == 1
    assert tagger.stats() == UsageStats(calls=0, cache_hits=1, failures=0, budget_refusals=0)


def test_expired_rows_are_not_used_and_can_be_purged(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites))
    tagger.geocode(q())
    with db.begin() as conn:
        conn.execute(text("update pipeline.geocode_cache set expires_at = now() - interval '1 day'"))
    assert purge_expired(db, "other_provider") == 0
    assert purge_expired(db) == 1 and cache_rows(db) == []
    tagger.geocode(q())
    with db.begin() as conn:
        conn.execute(text("update pipeline.geocode_cache set expires_at = now() - interval '1 day'"))
    result = tagger.geocode(q())
    assert not result.from_cache and result.status == "ok"
    assert len(sites.requests) == 3 and len(cache_rows(db)) == 1  # refreshed in place


def test_errors_are_not_cached(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites))
    query = q(name="Bistro INVALID_REQUEST")
    first = tagger.geocode(query)
    assert first.status == "error" and "INVALID_REQUEST" in (first.message or "")
    second = tagger.geocode(query)
    assert second.status == "error" and not second.from_cache
    assert len(sites.requests) == 2  # not retried within a lookup, asked again by the next one
    assert cache_rows(db) == []
    assert tagger.stats() == UsageStats(calls=2, cache_hits=0, failures=2, budget_refusals=0)


def test_per_run_budget_refuses_without_a_request(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites), per_run_budget=1)
    assert tagger.geocode(q()).status == "ok"
    refused = tagger.geocode(q(name="Boulangerie Guillaume"))
    assert refused.status == "over_budget" and refused.message == "per-run budget of 1 calls spent"
    assert len(sites.requests) == 1
    assert tagger.geocode(q()).from_cache  # the cache still answers when the budget is spent
    assert tagger.stats() == UsageStats(calls=1, cache_hits=1, failures=0, budget_refusals=1)
    assert cache_rows(db)[0]["query"] == q().text()  # the refusal is not cached


def test_budget_spent_half_way_through_a_lookup(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites), per_run_budget=1)
    result = tagger.geocode(q(name="Fromagerie NOT_IN_FINDPLACE"))
    assert result.status == "over_budget"
    assert endpoints(sites) == ["find"]  # the fallback was not sent
    assert cache_rows(db) == []  # "not found by Find Place" is not "not found"
    assert tagger.stats() == UsageStats(calls=1, cache_hits=0, failures=0, budget_refusals=1)


def test_zero_budget_is_cache_only(sites: DemoSites, db: Engine) -> None:
    make_tagger(db, make_client(sites)).geocode(q())
    tagger = make_tagger(db, make_client(sites), per_run_budget=0)
    assert tagger.geocode(q()).from_cache
    assert tagger.geocode(q(name="Autre")).status == "over_budget"
    assert len(sites.requests) == 1


def test_per_day_budget_counts_every_job_of_the_day(sites: DemoSites, db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(
            text(
                "insert into pipeline.api_usage (provider, day, job_id, calls) values"
                " ('google_places', (now() at time zone 'UTC')::date, 1, 3),"
                " ('google_places', (now() at time zone 'UTC')::date, null, 1),"
                " ('google_places', (now() at time zone 'UTC')::date - 1, 2, 50),"
                " ('other_api', (now() at time zone 'UTC')::date, 3, 50)"
            )
        )
    tagger = make_tagger(db, make_client(sites), per_day_budget=5)
    assert tagger.geocode(q()).status == "ok"  # 4 used today, one left
    refused = tagger.geocode(q(name="Boulangerie Guillaume"))
    assert refused.status == "over_budget"
    assert refused.message == "per-day budget of 5 calls spent (5 today)"
    assert len(sites.requests) == 1
    assert usage(db, "google_places", all_jobs=True).calls == 5


def test_per_day_budget_holds_across_concurrent_jobs(sites: DemoSites, db: Engine) -> None:
    taggers = [make_tagger(db, make_client(sites), per_day_budget=3, job_id=j) for j in (1, 2)]
    results: list[str] = []

    def work(tagger: Geotagger, n: int) -> None:
        for i in range(4):
            results.append(tagger.geocode(q(name=f"Resto {n}-{i}")).status)

    threads = [threading.Thread(target=work, args=(t, n)) for n, t in enumerate(taggers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sites.requests) <= 3 and usage(db, "google_places", all_jobs=True).calls == len(sites.requests)
    assert results.count("over_budget") >= 5


def test_usage_rows_per_job_and_outside_jobs(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites), per_run_budget=2, job_id=42)
    tagger.geocode(q())  # 1 call
    tagger.geocode(q())  # cache hit
    tagger.geocode(q(name="Bistro INVALID_REQUEST"))  # 1 call, failure
    tagger.geocode(q(name="Boulangerie Guillaume"))  # refused
    tagger.geocode(q(name=None, address=None))  # skipped: not counted
    preview = Geotagger(db.begin, make_client(sites), per_run_budget=5, per_day_budget=100, job_id=None)
    assert preview.geocode(q()).from_cache
    counts = [
        (r["provider"], r["job_id"], r["calls"], r["cache_hits"], r["failures"], r["budget_refusals"])
        for r in usage_rows(db)
    ]
    # (provider, job_id, calls, cache_hits, failures, budget_refusals)
    assert counts == [("google_places", None, 0, 1, 0, 0), ("google_places", 42, 2, 1, 1, 1)]
    assert tagger.stats().as_dict() == {"calls": 2, "cache_hits": 1, "failures": 1, "budget_refusals": 1}
    assert usage(db, "google_places", job_id=42) == tagger.stats()
    assert usage(db, "google_places") == UsageStats(0, 1, 0, 0)  # job_id None: outside jobs


def test_thin_queries_are_skipped_without_a_call(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites))
    result = tagger.geocode(GeocodeQuery("Tim Hortons", None, None, None, None, "CA"))
    assert result.status == "skipped" and result.message
    assert sites.requests == [] and usage_rows(db) == []


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_minimum_interval_between_requests(sites: DemoSites) -> None:
    fake = FakeTime()
    client = make_client(sites, min_interval_seconds=0.1, clock=fake.clock, sleep=fake.sleep)
    client.lookup(q())
    client.lookup(q(name="Boulangerie Guillaume"))
    fake.now += 0.03
    client.lookup(q(name="Fromagerie NOT_IN_FINDPLACE"))  # two requests
    assert len(sites.requests) == 4
    assert fake.slept == pytest.approx([0.1, 0.07, 0.1])
    fake.now += 5  # long idle: no wait
    client.lookup(q(name="Librairie Drawn"))
    assert len(fake.slept) == 3


def test_minimum_interval_in_real_time(sites: DemoSites) -> None:
    import time

    client = GooglePlacesClient(sites.base_url, api_key=KEY, min_interval_seconds=0.15)
    started = time.monotonic()
    for name in ("A", "B", "C"):
        client.lookup(q(name=f"Resto {name}"))
    assert len(sites.requests) >= 3
    assert time.monotonic() - started >= 0.15 * (len(sites.requests) - 1)


def test_over_query_limit_is_retried_with_backoff(sites: DemoSites, db: Engine) -> None:
    slept: list[float] = []
    tagger = make_tagger(db, make_client(sites, sleep=slept.append))
    result = tagger.geocode(q(name="Resto OVER_QUERY_LIMIT:2"))
    assert result.status == "ok"
    assert endpoints(sites) == ["find"] * 3
    assert len(slept) == 2 and 0.0075 <= slept[0] <= 0.0125 and 0.015 <= slept[1] <= 0.025
    assert tagger.stats().calls == 3  # every attempt is billable
    assert usage(db, "google_places", job_id=7).calls == 3


def test_over_query_limit_that_persists_stops_the_run(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites))
    result = tagger.geocode(q(name="Resto OVER_QUERY_LIMIT"))
    assert result.status == "error" and result.message is not None
    assert "OVER_QUERY_LIMIT" in result.message and "after 3 attempts" in result.message
    assert len(sites.requests) == 3
    nxt = tagger.geocode(q(name="Boulangerie Guillaume"))
    assert nxt.status == "error" and (nxt.message or "").startswith("calls stopped:")
    assert len(sites.requests) == 3
    assert tagger.stats() == UsageStats(calls=3, cache_hits=0, failures=2, budget_refusals=0)


def test_unknown_error_and_http_faults_are_retried(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites))
    assert tagger.geocode(q(name="Resto UNKNOWN_ERROR:1")).status == "ok"
    sites.faults.add(places_site.PREFIX, 500, "malformed")
    assert tagger.geocode(q(name="Boulangerie Guillaume")).status == "ok"
    assert len(sites.requests) == 5
    sites.faults.add(places_site.PREFIX, 503, 503, 503)
    failed = tagger.geocode(q(name="Pâtisserie Kouign"))
    assert failed.status == "error" and "HTTP 503" in (failed.message or "")
    assert tagger.geocode(q(name="Pâtisserie Kouign")).status == "ok"  # an HTTP error is not fatal


def test_request_denied_is_never_retried_and_stops_the_run(sites: DemoSites, db: Engine) -> None:
    tagger = make_tagger(db, make_client(sites, api_key="wrong-key"))
    result = tagger.geocode(q())
    assert result.status == "error"
    assert result.message == "Google Places REQUEST_DENIED: The provided API key is invalid."
    assert len(sites.requests) == 1
    assert tagger.geocode(q(name="Autre")).status == "error"
    assert len(sites.requests) == 1  # the key will not get better within the run
    assert cache_rows(db) == []


def test_timeout_is_an_error_result_not_an_exception(sites: DemoSites, db: Engine) -> None:
    sites.faults.add(places_site.PREFIX, "slow:1")
    tagger = make_tagger(db, make_client(sites, timeout=0.2, retries=0))
    result = tagger.geocode(q())
    assert result.status == "error" and "timed out after 0.2 s" in (result.message or "")
    assert cache_rows(db) == [] and tagger.stats().failures == 1
    assert tagger.geocode(q()).status == "ok"  # a timeout is not fatal


def test_the_key_is_never_stored_or_logged(
    sites: DemoSites, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="listings.geocode")
    tagger = make_tagger(db, make_client(sites))
    tagger.geocode(q())
    tagger.geocode(q(name="Fromagerie NOT_IN_FINDPLACE"))
    tagger.geocode(GeocodeQuery("Joe's", "1 Main St", "Springfield", "IL", None, "US"))
    tagger.geocode(q(name="Resto OVER_QUERY_LIMIT:1"))
    with db.connect() as conn:
        dump = json.dumps(
            [
                [list(map(str, r)) for r in conn.execute(text("select * from pipeline.geocode_cache"))],
                [list(map(str, r)) for r in conn.execute(text("select * from pipeline.api_usage"))],
            ]
        )
    assert len(cache_rows(db)) == 4
    assert "key=REDACTED" in dump and KEY not in dump
    assert KEY not in caplog.text and "retry 1/2" in caplog.text

    # A key that a URL must encode, refused by the server, and a connection error whose text
    # (in requests) carries the full URL.
    secret = "s3cr3t+KEY/ü=&"
    denied = make_tagger(db, make_client(sites, api_key=secret)).geocode(q())
    gone = GooglePlacesClient("http://127.0.0.1:9", api_key=secret, retries=1, backoff_seconds=0.0)
    failed = gone.lookup(q())
    assert failed.status == "error" and "connection error" in (failed.message or "")
    everything = json.dumps([str(denied), str(failed), failed.response, repr(gone)]) + caplog.text
    for form in (secret, requests.utils.quote(secret, safe=""), "s3cr3t"):
        assert form not in everything


def test_a_connection_factory_works_like_an_engine(sites: DemoSites, db: Engine) -> None:
    factory: Callable[[], Any] = db.begin
    tagger = Geotagger(factory, make_client(sites), per_run_budget=1, per_day_budget=1)
    assert tagger.geocode(q()).status == "ok"
    assert usage(db, "google_places") == UsageStats(1, 0, 0, 0)


def test_invalid_settings_are_refused(sites: DemoSites, db: Engine) -> None:
    with pytest.raises(ValueError, match="API key"):
        GooglePlacesClient(api_key=" ")
    with pytest.raises(ValueError, match="budgets"):
        make_tagger(db, make_client(sites), per_run_budget=-1)
    with pytest.raises(ValueError, match="lifetimes"):
        make_tagger(db, make_client(sites), cache_ttl_days=0)


def test_api_key_from_an_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_LISTINGS_TEST_PLACES", json.dumps({"conn_type": "http", "password": " k1 "})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_LISTINGS_TEST_PLACES_EXTRA",
        json.dumps({"conn_type": "http", "extra": {"api_key": "k2"}}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_LISTINGS_TEST_PLACES_EMPTY", json.dumps({"conn_type": "http"}))
    assert get_api_key("listings_test_places") == "k1"
    assert get_api_key("listings_test_places_extra") == "k2"
    with pytest.raises(SourceError, match="no API key"):
        get_api_key("listings_test_places_empty")
    with pytest.raises(SourceError, match="not available"):
        get_api_key("listings_test_places_missing")


def test_bias_and_language_reach_both_endpoints(sites: DemoSites) -> None:
    client = make_client(sites, language="fr")
    base = q(name="Fromagerie NOT_IN_FINDPLACE")
    query = GeocodeQuery(
        base.name,
        base.address,
        base.city,
        base.state,
        base.zip,
        base.country,
        bias=(45.41, -73.97, 45.7, -73.48),
    )
    assert client.lookup(query).status == "ok"
    find, search = sites.requests
    assert "locationbias=rectangle%3A45.41%2C-73.97%7C45.7%2C-73.48" in find and "language=fr" in find
    assert "location=45.555000%2C-73.725000" in search and "language=fr" in search
    radius = int(re.search(r"radius=(\d+)", search).group(1))  # type: ignore[union-attr]
    assert 24_000 < radius < 26_000  # half the diagonal of Montréal's box
