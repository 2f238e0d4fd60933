"""Downloads listing photos from the URLs sources give us, safely: those URLs are untrusted input, so a
download may not reach our own network, may not run forever or fill the memory, and may not take a web
page or a truncated file for a photo.

`fetch_image` never raises for a network or HTTP problem: it returns a `Fetched` whose `reason` is one of
FAILURE_REASONS, so a batch of thousands of images counts its failures instead of stopping at the first.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import ReadTimeoutError

from listings.netguard import DEFAULT_PORTS, GuardedAdapter, PrivateAddressError, private_addresses
from listings.sources.http import retry_after_seconds

FAILURE_REASONS = (
    "bad_url",
    "private_address",
    "too_many_redirects",
    "content_type",
    "too_large",
    "truncated",
    "timeout",
    "connection",
    "not_found",
    "http_error",
    "failed",
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
MAX_RETRY_WAIT = 30.0  # seconds: a Retry-After or backoff beyond this is capped
# Spellings servers use for the types we accept (compared only; Fetched keeps what the server said).
TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchLimits:
    allowed_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp", "image/gif")
    max_bytes: int = 15_000_000
    connect_timeout: float = 5.0
    read_timeout: float = 15.0  # per socket read
    total_timeout: float = 60.0  # per attempt, from its first connection to the body's last byte
    max_redirects: int = 3
    retries: int = 2  # extra attempts after the first, for connection errors, timeouts, 429, 5xx
    backoff: float = 0.5  # seconds, doubled per attempt; Retry-After (seconds or date) wins, capped at 30
    allow_private: bool = (
        False  # loopback/private/link-local/reserved/multicast/unspecified refused unless True
    )
    user_agent: str = "listings-pipeline-images/1.0"


@dataclass(frozen=True)
class Fetched:
    url: str  # the URL asked for
    status: str  # "downloaded" | "unchanged" | "failed"
    reason: str | None  # one of FAILURE_REASONS when failed
    detail: str | None  # a sentence when failed
    http_status: int | None  # of the last response
    final_url: str | None  # of the last response (after redirects)
    content: bytes | None  # only when downloaded
    content_type: str | None  # the server's claim, lower-case, without parameters
    etag: str | None
    last_modified: str | None
    attempts: int  # requests made for it, redirects aside
    elapsed_ms: int  # the whole call, waits between attempts included


def image_session(limits: FetchLimits = FetchLimits()) -> requests.Session:
    """A session for many downloads (connections reused per host), guarded unless `allow_private`. Pass it
    to fetch_image as `session`; close it when done."""
    session = requests.Session()
    session.headers["User-Agent"] = limits.user_agent
    if not limits.allow_private:
        for prefix in ("http://", "https://"):
            session.mount(prefix, GuardedAdapter())
    return session


@dataclass
class _Trace:
    """What one attempt learnt, for the result whether it ends well or in an exception."""

    url: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Outcome:
    status: str
    reason: str | None = None
    detail: str | None = None
    content: bytes | None = None
    retry: bool = False
    retry_after: float | None = None


def fetch_image(
    url: str,
    *,
    limits: FetchLimits = FetchLimits(),
    etag: str | None = None,
    last_modified: str | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Fetched:
    """Download one image, conditionally when `etag`/`last_modified` of an earlier download are given (a
    304 is "unchanged"). Retries connection errors, timeouts, truncated bodies, 429 and 5xx. A session
    from the caller is used as it is (see image_session for the connection guard)."""
    started = time.monotonic()
    http = session if session is not None else image_session(limits)
    headers = _request_headers(limits, etag, last_modified)
    attempts = 0
    try:
        while True:
            attempts += 1
            trace = _Trace()
            outcome = _attempt(http, url, headers, limits, trace)
            if not outcome.retry or attempts > limits.retries:
                break
            sleep(_retry_wait(limits, attempts, outcome.retry_after))
    finally:
        if session is None:
            http.close()
    return Fetched(
        url=url,
        status=outcome.status,
        reason=outcome.reason,
        detail=outcome.detail,
        http_status=trace.status,
        final_url=trace.url,
        content=outcome.content,
        content_type=_media_type(trace.headers.get("content-type")),
        etag=trace.headers.get("etag"),
        last_modified=trace.headers.get("last-modified"),
        attempts=attempts,
        elapsed_ms=round((time.monotonic() - started) * 1000),
    )


def _request_headers(limits: FetchLimits, etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {
        "User-Agent": limits.user_agent,
        "Accept": ", ".join(limits.allowed_types),
        # Images are compressed already; identity keeps Content-Length comparable with what we read.
        "Accept-Encoding": "identity",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _retry_wait(limits: FetchLimits, attempt: int, retry_after: float | None) -> float:
    wait = retry_after if retry_after is not None else limits.backoff * 2.0 ** (attempt - 1)
    return min(max(wait, 0.0), MAX_RETRY_WAIT)


def _attempt(
    http: requests.Session, url: str, headers: dict[str, str], limits: FetchLimits, trace: _Trace
) -> _Outcome:
    """One attempt, redirects included, with every exception turned into an outcome."""
    try:
        return _follow(http, url, headers, limits, trace)
    except PrivateAddressError as exc:
        return _failed("private_address", str(exc))
    except requests.Timeout as exc:
        return _failed("timeout", f"no answer within the time limits: {exc}", retry=True)
    except requests.exceptions.SSLError as exc:
        return _failed("connection", f"TLS failed: {exc}")  # a bad certificate stays bad
    except requests.ConnectionError as exc:
        if exc.args and isinstance(exc.args[0], ReadTimeoutError):  # a stalled body, while streaming
            return _failed("timeout", f"the body stalled for {limits.read_timeout:g} s", retry=True)
        return _failed("connection", f"connection failed: {exc}", retry=True)
    except requests.exceptions.ChunkedEncodingError as exc:
        if "IncompleteRead" in str(exc):
            return _failed("truncated", f"the server closed the connection early: {exc}", retry=True)
        return _failed("connection", f"the connection broke during the body: {exc}", retry=True)
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
        return _failed("bad_url", str(exc))
    except Exception as exc:  # whatever else: reported, never raised into a batch of downloads
        return _failed("failed", f"{type(exc).__name__}: {exc}")


def _failed(reason: str, detail: str, *, retry: bool = False, retry_after: float | None = None) -> _Outcome:
    return _Outcome("failed", reason, detail, retry=retry, retry_after=retry_after)


def _follow(
    http: requests.Session, url: str, headers: dict[str, str], limits: FetchLimits, trace: _Trace
) -> _Outcome:
    """GET `url`, following redirects by hand so that every hop's address is checked first."""
    deadline = time.monotonic() + limits.total_timeout
    current, visited = url, {url}
    for hop in range(limits.max_redirects + 1):
        refused = _refuse_url(current, limits)
        if refused is not None:
            return refused
        if time.monotonic() > deadline:
            return _failed("timeout", f"redirects took more than {limits.total_timeout:g} s", retry=True)
        response = http.get(
            current,
            headers=headers,
            stream=True,
            allow_redirects=False,
            timeout=(limits.connect_timeout, limits.read_timeout),
        )
        with contextlib.closing(response):
            trace.url, trace.status = current, response.status_code
            trace.headers = {key.lower(): value for key, value in response.headers.items()}
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return _answer(
                    response,
                    limits,
                    deadline,
                    conditional="If-None-Match" in headers or "If-Modified-Since" in headers,
                )
            target = urljoin(current, location)
            if target in visited or hop == limits.max_redirects:
                why = "loops back" if target in visited else f"goes past {limits.max_redirects} redirects"
                return _failed("too_many_redirects", f"the redirect chain from {url} {why} (at {target})")
            visited.add(target)
            current = target
    raise AssertionError("unreachable: the last hop returns")


def _refuse_url(url: str, limits: FetchLimits) -> _Outcome | None:
    """bad_url, private_address or an unresolvable host (connection) before connecting; None when fine."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        _ = parts.port  # ValueError for a port out of range
    except ValueError as exc:
        return _failed("bad_url", f"{url!r} is not a valid URL: {exc}")
    if scheme not in DEFAULT_PORTS or not host:
        return _failed("bad_url", f"{url!r} is not an http(s) URL with a host")
    if limits.allow_private:
        return None
    try:
        forbidden = private_addresses(url)
    except (OSError, UnicodeError) as exc:
        # A name that does not exist stays so for the seconds a retry waits; a resolver that did not
        # answer may answer next time.
        final = isinstance(exc, socket.gaierror) and exc.errno in _NO_SUCH_NAME
        return _failed("connection", f"cannot resolve {host}: {exc}", retry=not final)
    if forbidden:
        return _failed(
            "private_address", f"{host} resolves to the non-public address(es) {', '.join(forbidden)}"
        )
    return None


def _answer(
    response: requests.Response, limits: FetchLimits, deadline: float, *, conditional: bool
) -> _Outcome:
    """Judge a final (non-redirect) response, reading its body only when it may be an image we want."""
    status = response.status_code
    if status == 304 and conditional:
        return _Outcome("unchanged")
    if status in (404, 410):
        return _failed("not_found", f"HTTP {status}: the image is gone")
    if status == 429 or status >= 500:
        return _failed(
            "http_error",
            f"HTTP {status} {response.reason or ''}".rstrip(),
            retry=True,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if status != 200:
        return _failed("http_error", f"HTTP {status} {response.reason or ''}".rstrip())
    claimed = _media_type(response.headers.get("Content-Type"))
    allowed = {TYPE_ALIASES.get(t, t) for t in limits.allowed_types}
    if claimed is None or TYPE_ALIASES.get(claimed, claimed) not in allowed:
        return _failed(
            "content_type", f"the server sends {claimed or 'no Content-Type'}, not an accepted image type"
        )
    declared = _content_length(response.headers.get("Content-Length"))
    if declared is not None and declared > limits.max_bytes:
        return _failed(
            "too_large", f"Content-Length {declared:,} bytes is over the {limits.max_bytes:,} limit"
        )
    return _read_body(response, limits, deadline, declared)


def _read_body(
    response: requests.Response, limits: FetchLimits, deadline: float, declared: int | None
) -> _Outcome:
    body = bytearray()
    for chunk in response.iter_content(_CHUNK):
        body += chunk
        if len(body) > limits.max_bytes:
            return _failed(
                "too_large", f"the body passed the {limits.max_bytes:,}-byte limit; stopped reading"
            )
        if time.monotonic() > deadline:
            return _failed(
                "timeout",
                f"the download took more than {limits.total_timeout:g} s ({len(body):,} bytes so far)",
                retry=True,
            )
    encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
    if declared is not None and not encoded and len(body) < declared:
        return _failed("truncated", f"got {len(body):,} of the {declared:,} bytes declared", retry=True)
    return _Outcome("downloaded", content=bytes(body))


def _media_type(value: str | None) -> str | None:
    media = (value or "").split(";", 1)[0].strip().lower()
    return media or None


def _content_length(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None  # unreadable: the streamed limit still applies
