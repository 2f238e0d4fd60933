"""HTTP for API and web sources: polite, retrying GETs, and the raw envelope that keeps every response.

- Timeouts on every request; retries with exponential backoff and jitter on 429, 5xx, timeouts and
  connection errors, honouring `Retry-After`; a minimum delay between two requests to one host.
- 401/403/404 (and other 4xx) fail at once with an error naming the URL.
- No request reaches a loopback, private or link-local address (`listings.netguard`), redirects and DNS
  answers included, unless the config's `allow_private_hosts` (which only an admin may set).
- `RawPages` is the raw payload of an HTTP source: each response's URL, status, useful headers,
  fetch time and body text exactly as received, stored as one `.json.gz`. A fetch that fails half-way
  keeps the pages it got and records the error, so the run ends `partial` instead of losing them.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field

from listings.netguard import GuardedAdapter, PrivateAddressError, refuse_private_url
from listings.sources.base import RawPayload, SourceError, SourceRecordError

log = logging.getLogger(__name__)

USER_AGENT = "listings-pipeline/0.1 (+https://github.com/; DMO listings ingestion)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Response headers worth keeping as provenance / for paging.
KEPT_HEADERS = (
    "content-type",
    "etag",
    "last-modified",
    "retry-after",
    "link",
    "x-wp-total",
    "x-wp-totalpages",
    "x-total-count",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
)
ENVELOPE_FORMAT = "listings.http-pages/1"


class HttpParams(BaseModel):
    """`config_params` shared by every HTTP source (connectors extend this model)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    timeout_seconds: float = Field(default=30, gt=0, description="Connect and read timeout per request.")
    retries: int = Field(default=4, ge=0, le=10, description="Retries on 429/5xx/timeouts/connection errors.")
    backoff_seconds: float = Field(default=1.0, ge=0, description="First retry delay; doubles each retry.")
    max_backoff_seconds: float = Field(
        default=60, ge=0, description="Cap on a retry delay and on Retry-After."
    )
    delay_seconds: float = Field(
        default=1.0, ge=0, description="Minimum time between two requests to one host."
    )
    concurrency: int = Field(default=1, ge=1, le=16, description="Slots of the host's Airflow pool.")
    max_pages: int | None = Field(default=None, ge=1, description="Stop after this many pages.")
    incremental: bool = Field(default=False, description="Fetch only what changed since the last good run.")
    auth_conn_id: str | None = Field(default=None, description="Airflow connection holding credentials.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    allow_private_hosts: bool = Field(
        default=False,
        description="Let requests reach loopback, private and link-local addresses (a source on the "
        "internal network). Only an admin may set it.",
    )


class HttpError(SourceError):
    def __init__(self, message: str, *, url: str, status: int | None = None, body: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.body = body  # the start of an error response: APIs explain themselves there


@dataclass(frozen=True)
class Credentials:
    login: str | None
    password: str | None
    extra: dict[str, Any]


def get_credentials(conn_id: str) -> Credentials:
    """Credentials from an Airflow connection (env `AIRFLOW_CONN_<ID>`, secrets backend or metadata DB)."""
    try:
        from airflow.sdk import Connection

        conn = Connection.get(conn_id)
    except Exception as exc:  # not found, or Airflow not configured
        raise SourceError(f"Airflow connection {conn_id!r} is not available: {exc}") from None
    return Credentials(conn.login, conn.password, dict(conn.extra_dejson or {}))


@dataclass
class Page:
    url: str
    status: int
    headers: dict[str, str]
    fetched_at: str
    text: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.text)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds, from delta-seconds or an HTTP date (one without a zone is UTC)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_HINTS = {
    401: "check the credentials (auth_conn_id)",
    403: "access is refused: check the credentials and that the site allows this client",
    404: "check base_url and the path in config_params",
}


class HttpClient:
    def __init__(
        self,
        params: HttpParams,
        *,
        auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.params = params
        self.session = requests.Session()
        if not params.allow_private_hosts:
            for prefix in ("http://", "https://"):
                self.session.mount(prefix, GuardedAdapter())
        self.session.headers.update({"User-Agent": USER_AGENT, **params.headers, **(headers or {})})
        if auth:
            self.session.auth = auth
        self._sleep = sleep
        self._last_request: dict[str, float] = {}
        self.requests = 0

    def _polite_wait(self, host: str) -> None:
        last = self._last_request.get(host)
        if last is not None:
            wait = self.params.delay_seconds - (time.monotonic() - last)
            if wait > 0:
                self._sleep(wait)
        self._last_request[host] = time.monotonic()

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.params.max_backoff_seconds)
        base: float = self.params.backoff_seconds * 2.0**attempt
        return min(base * random.uniform(0.5, 1.5), self.params.max_backoff_seconds)

    def get(
        self, url: str, query: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> Page:
        """GET with retries; returns the final 2xx/3xx response, or raises HttpError naming the URL."""
        full = f"{url}{'&' if '?' in url else '?'}{urlencode(query, doseq=True)}" if query else url
        try:
            if not self.params.allow_private_hosts:
                refuse_private_url(full)
            return self._get(full, headers)
        except ValueError as exc:  # not an http(s) URL (requests' InvalidURL too)
            raise HttpError(f"GET {full} refused: {exc}", url=full) from None
        except PrivateAddressError as exc:  # before connecting, or a connection (redirect, DNS) reached one
            raise HttpError(
                f"GET {full} refused: {exc}. Requests to loopback, private and link-local addresses need "
                "config_params.allow_private_hosts, which only an admin may set.",
                url=full,
            ) from None

    def _get(self, full: str, headers: Mapping[str, str] | None) -> Page:
        host = urlsplit(full).netloc
        attempts = self.params.retries + 1
        problem = ""
        for attempt in range(attempts):
            self._polite_wait(host)
            started = time.monotonic()
            retry_after: float | None = None
            try:
                self.requests += 1
                resp = self.session.get(full, headers=headers, timeout=self.params.timeout_seconds)
            except requests.Timeout:
                problem = f"timed out after {self.params.timeout_seconds:g} s"
            except requests.ConnectionError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                if resp.status_code < 400:
                    return Page(
                        url=resp.url,
                        status=resp.status_code,
                        headers={k: resp.headers[k] for k in KEPT_HEADERS if k in resp.headers},
                        fetched_at=datetime.now(UTC).isoformat(),
                        text=resp.text,
                        seconds=round(time.monotonic() - started, 3),
                    )
                reason = f"HTTP {resp.status_code} {resp.reason or ''}".strip()
                if resp.status_code not in RETRY_STATUSES:
                    hint = _HINTS.get(resp.status_code, "the server refused the request")
                    raise HttpError(
                        f"{reason} for GET {full}: {hint}",
                        url=full,
                        status=resp.status_code,
                        body=resp.text[:2000],
                    )
                problem = reason
                retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
            if attempt + 1 < attempts:
                delay = self._backoff(attempt, retry_after)
                log.warning(
                    "GET %s: %s; retry %d/%d in %.1f s", full, problem, attempt + 1, attempts - 1, delay
                )
                self._sleep(delay)
        raise HttpError(f"GET {full} failed after {attempts} attempt(s): {problem}", url=full)


# ------------------------------------------------------------------------------------------------
@dataclass
class RawPages:
    """The raw payload of an HTTP source: every response as it came, plus how the fetch ended."""

    source_type: str
    request: dict[str, Any] = field(default_factory=dict)  # what was asked: base URL, params, since...
    pages: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # set when the fetch stopped early; the pages before it are kept

    def add(self, page: Page, **extra: Any) -> None:
        """Keep one response; `extra` notes what the connector needs to parse it (e.g. kind: detail)."""
        self.pages.append({**asdict(page), **extra})

    def payload(self, source_uri: str, **metadata: Any) -> RawPayload:
        doc = {"format": ENVELOPE_FORMAT, **asdict(self)}
        data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        statuses = sorted({p["status"] for p in self.pages})
        meta = {
            "pages": len(self.pages),
            "http_statuses": statuses,
            "complete": self.error is None,
            "fetched_at": self.pages[0]["fetched_at"] if self.pages else datetime.now(UTC).isoformat(),
            **({"fetch_error": self.error} if self.error else {}),
            **metadata,
        }
        return RawPayload(data=data, fmt="json", source_uri=source_uri, metadata=meta)

    @classmethod
    def load(cls, data: bytes) -> RawPages:
        try:
            doc = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SourceError(f"raw payload is not JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != ENVELOPE_FORMAT:
            raise SourceError(f"raw payload is not a {ENVELOPE_FORMAT} document")
        return cls(
            source_type=doc["source_type"], request=doc["request"], pages=doc["pages"], error=doc["error"]
        )

    def fetch_error(self) -> list[SourceRecordError]:
        """The stored fetch error as a record-level error (row 0), so the run ends `partial`."""
        if not self.error:
            return []
        return [
            SourceRecordError(
                0, "fetch_error", self.error, {"request": self.request, "pages_kept": len(self.pages)}
            )
        ]

    def json_pages(self) -> Iterator[tuple[dict[str, Any], Any, SourceRecordError | None]]:
        """Each stored page with its decoded JSON body, or a `malformed_response` error for it."""
        for page in self.pages:
            try:
                yield page, json.loads(page["text"]), None
            except json.JSONDecodeError as exc:
                snippet = page["text"][:200]
                yield (
                    page,
                    None,
                    SourceRecordError(
                        0,
                        "malformed_response",
                        f"response of GET {page['url']} is not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})",
                        {"url": page["url"], "status": page["status"], "body_start": snippet},
                    ),
                )


def provenance(page: Mapping[str, Any], *, original_id: Any, source_url: str | None = None) -> dict[str, Any]:
    """The provenance kept with every record of an HTTP source."""
    headers = page.get("headers", {})
    return {
        "source_url": source_url or page["url"],
        "page_url": page["url"],
        "original_id": None if original_id is None else str(original_id),
        "fetched_at": page["fetched_at"],
        "http_status": page["status"],
        **({"etag": headers["etag"]} if "etag" in headers else {}),
        **({"last_modified": headers["last-modified"]} if "last-modified" in headers else {}),
    }


@contextmanager
def keep_partial(raw: RawPages) -> Iterator[RawPages]:
    """Around a connector's paging loop: an error on the very first page is raised (nothing to keep: the
    job fails); a later one is stored in `raw.error` and the pages fetched so far are kept (the job ends
    `partial`)."""
    try:
        yield raw
    except SourceError as exc:
        if not raw.pages:
            raise
        raw.error = str(exc)
        log.warning("fetch stopped after %d page(s): %s", len(raw.pages), exc)
