"""Downloader middlewares of the generic spider.

- `PrivateAddressMiddleware`: no request (robots.txt and redirects included) to a loopback, private or
  link-local address unless the crawl spec allows it (`allow_private_hosts`, which only an admin may set).
- `PoliteRetryMiddleware`: Scrapy's RetryMiddleware re-queues a failed request at once; a site that
  answered 429 or 503 asked us to slow down, so wait for its Retry-After (capped), else back off
  exponentially."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response
from scrapy.settings import BaseSettings

from listings.netguard import PrivateAddressError, refuse_private_url

log = logging.getLogger(__name__)


def retry_after_seconds(value: bytes | str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class PrivateAddressMiddleware:
    """Refuses a request whose host is, or resolves to, a non-public address (checked before each request,
    so a redirect or robots.txt cannot lead there either)."""

    def process_request(self, request: Request, spider: Any) -> None:
        spec = getattr(spider, "spec", None)
        if spec is not None and getattr(spec, "allow_private_hosts", False):
            return
        try:
            refuse_private_url(request.url)
        except ValueError as exc:
            raise PrivateAddressError(str(exc)) from None


class PoliteRetryMiddleware(RetryMiddleware):
    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        self.backoff = settings.getfloat("RETRY_BACKOFF_SECONDS", 1.0)
        self.max_backoff = settings.getfloat("RETRY_MAX_BACKOFF_SECONDS", 60.0)

    def _delay(self, retry: Request, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        attempt = max(0, int(retry.meta.get("retry_times", 1)) - 1)
        return min(self.backoff * 2.0**attempt * random.uniform(0.5, 1.5), self.max_backoff)

    async def _wait(self, retry: Request, retry_after: float | None) -> None:
        delay = self._delay(retry, retry_after)
        if delay > 0:
            log.info("waiting %.2f s before retrying %s", delay, retry.url)
            # With CONCURRENT_REQUESTS = 1 the request stays active while we wait, so the crawl pauses.
            await asyncio.sleep(delay)

    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        result = super().process_response(request, response)
        if isinstance(result, Request):
            await self._wait(result, retry_after_seconds(response.headers.get(b"Retry-After")))
        return result

    async def process_exception(self, request: Request, exception: Exception) -> Request | Response | None:  # type: ignore[override]
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await self._wait(result, None)
        return result
