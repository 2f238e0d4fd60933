"""The shared HTTP core against a real local server: retries, Retry-After, politeness, clear errors,
the raw page envelope, partial fetches; plus per-host pools and their REST sync."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from listings.config.store import parse_config
from listings.orchestration.pools import host_pool, pools_document, sync_pools_rest
from listings.sources.base import SourceError
from listings.sources.http import HttpClient, HttpError, HttpParams, RawPages, keep_partial, provenance
from listings_dev.demo_sites import DemoSites


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    server = DemoSites()
    server.start()
    yield server
    server.stop()


def fast(**kw: Any) -> HttpParams:
    return HttpParams(
        **{
            "allow_private_hosts": True,
            "delay_seconds": 0,
            "backoff_seconds": 0.01,
            "retries": 2,
            "timeout_seconds": 2,
            **kw,
        }
    )


def test_retries_5xx_then_succeeds_and_keeps_headers(sites: DemoSites) -> None:
    sites.faults.add("/robots.txt", 500, 503)
    slept: list[float] = []
    page = HttpClient(fast(), sleep=slept.append).get(f"{sites.base_url}/robots.txt")
    assert page.status == 200 and "Disallow" in page.text
    assert page.headers["content-type"].startswith("text/plain")
    assert sites.requests == ["GET /robots.txt"] * 3
    assert len(slept) == 2 and slept[1] == 1.0  # the 503 carried Retry-After: 1


def test_retry_after_is_honoured_and_capped(sites: DemoSites) -> None:
    sites.faults.add("/robots.txt", "retry-after:7", "retry-after:120")
    slept: list[float] = []
    HttpClient(fast(max_backoff_seconds=30), sleep=slept.append).get(f"{sites.base_url}/robots.txt")
    assert slept == [7.0, 30.0]


def test_gives_up_after_retries_with_the_url_in_the_error(sites: DemoSites) -> None:
    sites.faults.add("/robots.txt", 500, 500, 500)
    with pytest.raises(HttpError) as err:
        HttpClient(fast(), sleep=lambda s: None).get(f"{sites.base_url}/robots.txt", {"a": 1})
    assert f"GET {sites.base_url}/robots.txt?a=1 failed after 3 attempt(s): HTTP 500" in str(err.value)


@pytest.mark.parametrize(("status", "hint"), [(401, "credentials"), (403, "refused"), (404, "base_url")])
def test_client_errors_fail_at_once_naming_the_url(sites: DemoSites, status: int, hint: str) -> None:
    sites.faults.add("/robots.txt", status)
    with pytest.raises(HttpError) as err:
        HttpClient(fast(), sleep=lambda s: None).get(f"{sites.base_url}/robots.txt")
    assert (
        err.value.status == status
        and hint in str(err.value)
        and f"{sites.base_url}/robots.txt" in str(err.value)
    )
    assert len(sites.requests) == 1  # no retry on 4xx


def test_timeout_is_retried_then_reported(sites: DemoSites) -> None:
    sites.faults.add("/robots.txt", "slow:1.5", "slow:1.5")
    with pytest.raises(HttpError, match=r"timed out after 0\.5 s"):
        HttpClient(fast(timeout_seconds=0.5, retries=1), sleep=lambda s: None).get(
            f"{sites.base_url}/robots.txt"
        )


def test_polite_delay_between_requests_to_one_host(sites: DemoSites) -> None:
    client = HttpClient(fast(delay_seconds=0.3))
    started = time.monotonic()
    for _ in range(3):
        client.get(f"{sites.base_url}/robots.txt")
    assert time.monotonic() - started >= 0.6


def test_raw_pages_round_trip_and_partial_fetch(sites: DemoSites) -> None:
    client = HttpClient(fast(), sleep=lambda s: None)
    raw = RawPages("test", request={"url": sites.base_url})
    sites.faults.add("/robots.txt", "pass", 404)  # second page fails for good
    with keep_partial(raw):
        for _ in range(3):
            raw.add(client.get(f"{sites.base_url}/robots.txt"), kind="list")
    assert len(raw.pages) == 1 and raw.error and "HTTP 404" in raw.error
    payload = raw.payload("http://x/", extra="kept")
    assert (
        payload.fmt == "json"
        and payload.metadata["complete"] is False
        and payload.metadata["extra"] == "kept"
    )
    loaded = RawPages.load(payload.data)
    assert loaded.pages[0]["kind"] == "list" and loaded.pages[0]["text"].startswith("User-agent")
    (err,) = loaded.fetch_error()
    assert err.row_no == 0 and err.error_type == "fetch_error" and "404" in err.message
    page, body, problem = next(loaded.json_pages())
    assert body is None and problem is not None and problem.error_type == "malformed_response"
    prov = provenance(page, original_id=5)
    assert (
        prov["original_id"] == "5"
        and prov["http_status"] == 200
        and prov["source_url"].endswith("/robots.txt")
    )


def test_first_page_failure_is_raised(sites: DemoSites) -> None:
    raw = RawPages("test")
    sites.faults.add("/robots.txt", 401)
    with pytest.raises(SourceError, match="401"), keep_partial(raw):
        raw.add(HttpClient(fast(), sleep=lambda s: None).get(f"{sites.base_url}/robots.txt"))


def test_raw_pages_rejects_foreign_documents() -> None:
    with pytest.raises(SourceError, match="not JSON"):
        RawPages.load(b"<html>")
    with pytest.raises(SourceError, match=r"listings\.http-pages/1"):
        RawPages.load(b'{"pages": []}')


# --- pools -------------------------------------------------------------------------------------
def _config(dmo_id: int, base_url: str | None, concurrency: int = 1) -> Any:
    return parse_config(
        {
            "dmo": {
                "id": dmo_id,
                "name": f"DMO {dmo_id}",
                "dmo_type": "SCRAPED",
                "country": "CA",
                "state": "QC",
            },
            "source_type": "csv",
            "base_url": base_url,
            "field_mappings": {"name": "Name"},
        }
    ).model_copy(update={"config_params": {"concurrency": concurrency}})


def test_pools_per_host_take_the_politest_concurrency() -> None:
    a = _config(1, "https://www.Example.org/wp-json/", 3)
    b = _config(2, "https://www.example.org:443/other", 2)
    c = _config(3, "http://127.0.0.1:8765/here/", 1)
    upload = _config(4, None)
    assert host_pool(a) == "site_www_example_org" and host_pool(upload) is None
    doc = pools_document([a, b, c, upload])
    assert doc["listings_promotion"]["slots"] == 1
    assert doc["site_www_example_org"]["slots"] == 2  # one host however it is written; the politest wins
    assert doc["site_127_0_0_1_8765"]["slots"] == 1
    # image pools: per image host too (an upload's images share images_default), 4 slots by default
    assert sorted(doc) == [
        "images_127_0_0_1_8765", "images_default", "images_www_example_org",
        "listings_promotion", "site_127_0_0_1_8765", "site_www_example_org",
    ]  # fmt: skip
    assert doc["images_www_example_org"]["slots"] == 4
    assert (
        doc["images_www_example_org"]["description"]
        == "image requests to www_example_org: per-host politeness"
    )


class _FakeAirflow(BaseHTTPRequestHandler):
    pools: ClassVar[dict[str, dict[str, Any]]] = {}
    calls: ClassVar[list[str]] = []

    def _json(self, status: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_POST(self) -> None:
        self.calls.append(f"POST {self.path}")
        if self.path == "/auth/token":
            body = self._body()
            if body == {"username": "admin", "password": "pw"}:
                return self._json(201, {"access_token": "t0k"})
            return self._json(401, {"detail": "bad"})
        if self.headers.get("Authorization") != "Bearer t0k":
            return self._json(401, {"detail": "no token"})
        body = self._body()
        self.pools[body["name"]] = body
        return self._json(201, body)

    def do_PATCH(self) -> None:
        self.calls.append(f"PATCH {self.path}")
        name = self.path.rsplit("/", 1)[1]
        if name not in self.pools:
            return self._json(404, {"detail": "not found"})
        self.pools[name] = self._body()
        return self._json(200, self.pools[name])

    def log_message(self, *args: Any) -> None:
        pass


def test_sync_pools_through_the_airflow_rest_api() -> None:
    _FakeAirflow.pools = {"listings_promotion": {"name": "listings_promotion", "slots": 5}}
    _FakeAirflow.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeAirflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        doc = pools_document([_config(1, "https://dmo.example/", 2)])
        doc.pop("images_dmo_example")
        assert sync_pools_rest(doc, url, "admin", "pw") == ["listings_promotion", "site_dmo_example"]
        assert _FakeAirflow.pools["listings_promotion"]["slots"] == 1
        assert _FakeAirflow.pools["site_dmo_example"]["slots"] == 2
        assert _FakeAirflow.calls == [
            "POST /auth/token",
            "PATCH /api/v2/pools/listings_promotion",
            "PATCH /api/v2/pools/site_dmo_example",
            "POST /api/v2/pools",
        ]
    finally:
        server.shutdown()
