"""The image downloader against the local image host over real HTTP: good images, every kind of broken or
hostile answer (each with its reason), retries, conditional GETs and the private-address guard."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
import requests

from listings.images.fetch import FAILURE_REASONS, Fetched, FetchLimits, fetch_image, image_session
from listings.images.process import ImageRejected, process_image
from listings_dev.demo_sites import DemoSites

# Local server: private addresses allowed, short waits so the file stays fast.
LIMITS = FetchLimits(
    allow_private=True, backoff=0.01, connect_timeout=1.0, read_timeout=1.0, total_timeout=5.0
)


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    server = DemoSites()
    server.start()
    yield server
    server.stop()


def fetch(
    sites: DemoSites,
    path: str,
    limits: FetchLimits = LIMITS,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Fetched:
    result = fetch_image(
        f"{sites.base_url}{path}",
        limits=limits,
        etag=etag,
        last_modified=last_modified,
        session=session,
        sleep=sleep,
    )
    assert result.status in ("downloaded", "unchanged", "failed")
    assert (result.reason in FAILURE_REASONS) == (result.status == "failed")
    assert (result.content is not None) == (result.status == "downloaded")
    return result


def failed(result: Fetched, reason: str) -> bool:
    assert result.status == "failed" and result.reason == reason, (result.reason, result.detail)
    return result.detail is not None and result.content is None


@pytest.mark.parametrize(
    ("ext", "content_type", "fmt"),
    [("jpg", "image/jpeg", "jpeg"), ("png", "image/png", "png"), ("webp", "image/webp", "webp")],
)
def test_a_good_image_downloads_with_its_validators(
    sites: DemoSites, ext: str, content_type: str, fmt: str
) -> None:
    result = fetch(sites, f"/images/hotel-1.{ext}?w=640&h=480")
    assert result.status == "downloaded" and result.reason is None and result.http_status == 200
    assert result.content_type == content_type and result.attempts == 1
    assert result.etag and result.etag.startswith('"') and result.last_modified
    assert result.final_url == f"{sites.base_url}/images/hotel-1.{ext}?w=640&h=480"
    assert result.content is not None
    processed = process_image(result.content)
    assert processed.source_format == fmt and (processed.width, processed.height) == (640, 480)
    again = fetch(sites, f"/images/hotel-1.{ext}?w=640&h=480")
    assert again.content == result.content  # the host is deterministic


def test_a_png_claiming_to_be_jpeg_is_downloaded_and_processed_as_png(sites: DemoSites) -> None:
    result = fetch(sites, "/images/_fault/claims-jpeg.jpg")
    assert result.status == "downloaded" and result.content_type == "image/jpeg"
    assert result.content is not None and process_image(result.content).source_format == "png"


def test_a_web_page_is_refused_before_its_body(sites: DemoSites) -> None:
    result = fetch(sites, "/images/_fault/wrong-type.jpg")
    assert failed(result, "content_type") and result.content_type == "text/html" and result.attempts == 1


def test_a_truncated_file_downloads_and_processing_refuses_it(sites: DemoSites) -> None:
    result = fetch(sites, "/images/_fault/truncated.jpg")
    assert result.status == "downloaded" and result.content is not None  # the server said it was whole
    with pytest.raises(ImageRejected) as err:
        process_image(result.content)
    assert err.value.reason == "truncated"


def test_a_body_shorter_than_its_content_length_is_truncated(sites: DemoSites) -> None:
    result = fetch(sites, "/images/_fault/short-body.jpg", replace(LIMITS, retries=1))
    assert failed(result, "truncated") and result.attempts == 2  # a cut connection is worth one more try


def test_a_decompression_bomb_downloads_small_and_processing_refuses_it(sites: DemoSites) -> None:
    result = fetch(sites, "/images/_fault/bomb.png")
    assert result.status == "downloaded" and result.content is not None and len(result.content) < 100_000
    with pytest.raises(ImageRejected) as err:
        process_image(result.content)
    assert err.value.reason == "decompression_bomb"


def test_a_declared_oversize_body_is_refused_unread(sites: DemoSites) -> None:
    result = fetch(sites, "/images/_fault/huge.jpg?bytes=50000000", replace(LIMITS, max_bytes=1_000_000))
    assert failed(result, "too_large") and "50,000,000" in (result.detail or "") and result.attempts == 1


def test_an_undeclared_oversize_body_is_cut_at_the_limit(sites: DemoSites) -> None:
    result = fetch(
        sites, "/images/_fault/huge.jpg?bytes=50000000&declare=0", replace(LIMITS, max_bytes=1_000_000)
    )
    assert failed(result, "too_large") and result.attempts == 1 and result.elapsed_ms < 3000


def test_redirects_are_followed_and_loops_refused(sites: DemoSites) -> None:
    followed = fetch(sites, "/images/_fault/redirect.jpg")
    assert (
        followed.status == "downloaded"
        and followed.final_url == f"{sites.base_url}/images/redirected/target.jpg"
    )
    loop = fetch(sites, "/images/_fault/redirect-loop.jpg")
    assert failed(loop, "too_many_redirects") and loop.http_status == 302
    none_allowed = fetch(sites, "/images/_fault/redirect.jpg", replace(LIMITS, max_redirects=0))
    assert failed(none_allowed, "too_many_redirects")


def test_a_missing_image_is_not_found_at_once(sites: DemoSites) -> None:
    result = fetch(sites, "/images/_fault/no-such-fault.jpg")
    assert failed(result, "not_found") and result.http_status == 404 and result.attempts == 1
    sites.faults.add("/images/gone.jpg", 410)
    assert failed(fetch(sites, "/images/gone.jpg"), "not_found")


def test_other_client_errors_are_not_retried(sites: DemoSites) -> None:
    sites.faults.add("/images/forbidden.jpg", 403)
    result = fetch(sites, "/images/forbidden.jpg")
    assert failed(result, "http_error") and result.http_status == 403 and result.attempts == 1


def test_a_stalled_body_times_out_and_is_retried(sites: DemoSites) -> None:
    limits = replace(LIMITS, read_timeout=0.5, retries=1)
    result = fetch(sites, "/images/_fault/slow.jpg?seconds=2", limits)
    assert failed(result, "timeout") and result.attempts == 2 and result.elapsed_ms < 2500


def test_a_trickling_body_hits_the_total_deadline(sites: DemoSites) -> None:
    # 64 KiB every 0.2 s: each read is quick, the whole is too slow.
    limits = replace(LIMITS, total_timeout=0.5, retries=0)
    result = fetch(sites, "/images/_fault/huge.jpg?bytes=2000000&delay=0.2", limits)
    assert failed(result, "timeout") and "0.5 s" in (result.detail or "") and result.elapsed_ms < 1500


def test_server_errors_are_retried_until_success(sites: DemoSites) -> None:
    sites.faults.add("/images/flaky.jpg", 500, 503)
    slept: list[float] = []
    result = fetch(sites, "/images/flaky.jpg", sleep=slept.append)
    assert result.status == "downloaded" and result.attempts == 3
    assert sites.requests == ["GET /images/flaky.jpg"] * 3
    assert slept == [0.01, 1.0]  # backoff, then the 503's Retry-After: 1


def test_server_errors_give_up_after_the_retries(sites: DemoSites) -> None:
    sites.faults.add("/images/down.jpg", 500, 500, 500)
    result = fetch(sites, "/images/down.jpg", sleep=lambda s: None)
    assert failed(result, "http_error") and result.http_status == 500 and result.attempts == 3


def test_429_honours_retry_after_capped(sites: DemoSites) -> None:
    sites.faults.add("/images/busy.jpg", "retry-after:7", "retry-after:120")
    slept: list[float] = []
    result = fetch(sites, "/images/busy.jpg", sleep=slept.append)
    assert result.status == "downloaded" and result.attempts == 3 and slept == [7.0, 30.0]


def test_a_conditional_get_reports_unchanged(sites: DemoSites) -> None:
    first = fetch(sites, "/images/cached.jpg")
    by_etag = fetch(sites, "/images/cached.jpg", etag=first.etag)
    assert by_etag.status == "unchanged" and by_etag.http_status == 304 and by_etag.content is None
    assert by_etag.reason is None and by_etag.etag == first.etag
    by_date = fetch(sites, "/images/cached.jpg", last_modified=first.last_modified)
    assert by_date.status == "unchanged"
    changed = fetch(sites, "/images/other.jpg", etag=first.etag)  # another picture: a new ETag
    assert changed.status == "downloaded"


def test_loopback_is_refused_unless_allowed(sites: DemoSites) -> None:
    strict = replace(LIMITS, allow_private=False)
    result = fetch(sites, "/images/a.jpg", strict)
    assert failed(result, "private_address") and "127.0.0.1" in (result.detail or "")
    assert failed(
        fetch_image(f"http://localhost:{sites.base_url.rsplit(':', 1)[1]}/x.jpg", limits=strict),
        "private_address",
    )
    # The connection guard of image_session checks the address actually reached, even when the check
    # before the request is skipped (what a DNS rebinding would get past).
    with image_session(strict) as session:
        guarded = fetch(sites, "/images/a.jpg", LIMITS, session=session)
    assert failed(guarded, "private_address")
    assert sites.requests == []  # nothing ever reached the server


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/a.jpg", "file:///etc/passwd", "http:///a.jpg", "not a url", "http://[::1/a.jpg"],
)
def test_a_non_http_url_is_refused(url: str) -> None:
    assert failed(fetch_image(url, limits=LIMITS), "bad_url")


def test_a_redirect_to_another_scheme_is_refused(sites: DemoSites) -> None:
    result = fetch(sites, "/images/_fault/redirect.jpg?to=file:///etc/passwd")
    assert failed(result, "bad_url") and result.http_status == 302 and len(sites.requests) == 1


def test_a_refused_connection_is_a_connection_failure() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = fetch_image(
        f"http://127.0.0.1:{port}/a.jpg", limits=replace(LIMITS, retries=1), sleep=lambda s: None
    )
    assert failed(result, "connection") and result.attempts == 2


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (socket.EAI_NONAME, 1),
        (socket.EAI_AGAIN, 3),
    ],  # no such host: final; the resolver did not answer: retried
)
def test_a_host_that_does_not_exist_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, error: int, attempts: int
) -> None:
    def resolve(host: str, *args: object, **kwargs: object) -> object:
        raise socket.gaierror(error, "resolver says no")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    waits: list[float] = []
    result = fetch_image("https://img.example/a.jpg", sleep=waits.append)
    assert failed(result, "connection") and result.attempts == attempts and len(waits) == attempts - 1
