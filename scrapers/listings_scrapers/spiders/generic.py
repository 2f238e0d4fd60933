"""The generic, config-driven spider of `website` sources.

    python -m scrapy crawl generic -a spec=<crawl spec .json> -a output=<pages .jsonl>

The spec (`listings.sources.website.CrawlSpec`, validated with pydantic) says where to start, which
selectors find the list items, their detail links and the next list page, how politely to crawl, and when to
stop (`max_pages` list pages, `limit` listings). The spider does not extract fields: it writes one JSON line
per fetched page (url, status, headers, fetched_at, kind list|detail, link, from_url, text), one per failed
page (`error`, with a message naming the URL) and per request it did not make (`skipped`: robots.txt), and
a final `stats` line. The connector parses the stored HTML later, offline.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from listings.sources.http import KEPT_HEADERS
from listings.sources.website import CrawlSpec
from listings.sources.website_extract import (
    document_base,
    html_selector,
    item_link,
    list_items,
    next_page_link,
)

_HINTS = {
    401: "check the credentials (auth_conn_id)",
    403: "access is refused: check the credentials and that the site allows this client",
    404: "check base_url and start_urls / the links the selectors find",
}
_STATS = (
    "downloader/request_count",
    "downloader/response_count",
    "retry/count",
    "retry/max_reached",
    "robotstxt/forbidden",
    "robotstxt/request_count",
    "finish_reason",
    "elapsed_time_seconds",
)


def load_spec(path: str) -> CrawlSpec:
    return CrawlSpec.model_validate_json(Path(path).read_text(encoding="utf-8"))


class GenericSpider(scrapy.Spider):
    name = "generic"

    def __init__(self, spec: str, output: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = load_spec(spec)
        self.out: TextIO = Path(output).open("w", encoding="utf-8")  # noqa: SIM115 (closed on spider_closed)
        self.list_pages_requested = 0
        self.listings = 0  # detail links followed, or list items read without link_selector
        self.links: set[str] = set()
        if self.spec.http_user is not None:
            self.http_user = self.spec.http_user
            # HttpAuthMiddleware sends them to the first request's domain only (the site's own).
            self.http_pass = self.spec.http_password or ""

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> GenericSpider:
        spider: GenericSpider = super().from_crawler(crawler, *args, **kwargs)
        spec = spider.spec
        # Settings may still change here (before the crawler applies them): the spec is per DMO.
        crawler.settings.setdict(
            {
                "DOWNLOAD_DELAY": spec.delay_seconds,
                "AUTOTHROTTLE_START_DELAY": spec.delay_seconds,
                "AUTOTHROTTLE_MAX_DELAY": max(60.0, spec.delay_seconds),
                "DOWNLOAD_TIMEOUT": spec.timeout_seconds,
                "DNS_TIMEOUT": spec.timeout_seconds,
                "RETRY_TIMES": spec.retries,
                "RETRY_BACKOFF_SECONDS": spec.backoff_seconds,
                "RETRY_MAX_BACKOFF_SECONDS": spec.max_backoff_seconds,
                "DEFAULT_REQUEST_HEADERS": {
                    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                    "Accept-Language": "fr-CA,fr;q=0.9,en;q=0.8",
                    **spec.headers,
                },
            },
            priority="spider",
        )
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        return spider

    # --------------------------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Request]:
        for url in self.spec.start_urls:
            if self.spec.item_selector:
                self.list_pages_requested += 1
                yield self._request(url, "list", None)
            else:
                self.listings += 1
                yield self._request(url, "detail", None)

    def _request(self, url: str, kind: str, from_url: str | None) -> Request:
        return Request(
            url,
            callback=self.parse_list if kind == "list" else self.parse_detail,
            errback=self.failed,
            meta={"kind": kind, "link": url, "from_url": from_url},
        )

    def _limit_reached(self) -> bool:
        return self.spec.limit is not None and self.listings >= self.spec.limit

    def parse_list(self, response: Response) -> Any:
        self._write_page(response)
        if not isinstance(response, TextResponse) or not self.spec.item_selector:
            return
        page = html_selector(response.text, response.url)
        base = document_base(page, response.url)
        for item in list_items(page, self.spec.item_selector):
            if self._limit_reached():
                return  # preview: enough listings, no more pages either
            if not self.spec.link_selector:
                self.listings += 1
                continue
            link = item_link(item, self.spec.link_selector, base)
            if link is None or link in self.links:
                continue
            self.links.add(link)
            self.listings += 1
            yield self._request(link, "detail", response.url)
        if self._limit_reached() or not self.spec.next_page_selector:
            return
        if self.spec.max_pages is not None and self.list_pages_requested >= self.spec.max_pages:
            return
        next_url = next_page_link(page, self.spec.next_page_selector, base)
        if next_url and next_url != response.url:
            self.list_pages_requested += 1
            yield self._request(next_url, "list", response.url)

    def parse_detail(self, response: Response) -> None:
        self._write_page(response)

    def failed(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        url = request.url
        attempts = int(request.meta.get("retry_times", 0)) + 1
        if isinstance(failure.value, HttpError):
            response = failure.value.response
            status = response.status
            if status in (429, 500, 502, 503, 504, 522, 524, 408) and attempts > 1:
                message = f"GET {url} failed after {attempts} attempt(s): HTTP {status}"
            else:
                hint = _HINTS.get(status, "the server refused the request")
                message = f"HTTP {status} for GET {url}: {hint}"
            self._write(
                {
                    "type": "error",
                    "url": url,
                    "kind": request.meta.get("kind"),
                    "status": status,
                    "message": message,
                }
            )
        elif isinstance(failure.value, IgnoreRequest):  # HttpError is one too, hence the order
            self._write(
                {
                    "type": "skipped",
                    "url": url,
                    "kind": request.meta.get("kind"),
                    "reason": str(failure.value) or "ignored",
                }
            )
        else:
            reason = (
                f"{failure.type.__name__}: {failure.getErrorMessage()}"
                if failure.type
                else str(failure.value)
            )
            message = f"GET {url} failed after {attempts} attempt(s): {reason}"
            self._write(
                {
                    "type": "error",
                    "url": url,
                    "kind": request.meta.get("kind"),
                    "status": None,
                    "message": message,
                }
            )

    # --------------------------------------------------------------------------------------------
    def _write(self, doc: dict[str, Any]) -> None:
        self.out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        self.out.flush()  # a crawl killed by a timeout still leaves every complete line

    def _write_page(self, response: Response) -> None:
        headers = {}
        for name in KEPT_HEADERS:
            value = response.headers.get(name)
            if value is not None:
                headers[name] = value.decode("latin-1")
        text = response.text if isinstance(response, TextResponse) else ""
        self._write(
            {
                "type": "page",
                "url": response.url,
                "status": response.status,
                "headers": headers,
                "fetched_at": datetime.now(UTC).isoformat(),
                "text": text,
                "seconds": round(float(response.meta.get("download_latency", 0.0)), 3),
                "kind": response.meta.get("kind"),
                "link": response.meta.get("link"),
                "from_url": response.meta.get("from_url"),
            }
        )

    def _closed(self, spider: scrapy.Spider, reason: str) -> None:
        assert self.crawler.stats is not None
        stats = self.crawler.stats.get_stats()
        kept = {k: stats[k] for k in _STATS if k in stats}
        kept["finish_reason"] = reason
        self._write({"type": "stats", "stats": json.loads(json.dumps(kept, default=str))})
        self.out.close()
