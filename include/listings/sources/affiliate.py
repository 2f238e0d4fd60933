"""Affiliate hotel and activity APIs (source type `api`), in the style of the partner APIs of Priceline,
Booking.com or Expedia: a keyed JSON API that lists the properties / experiences a travel site sells.

Request
-------
``GET {base_url}/affiliate/v1/{resource}?{query}&page={n}&page_size={size}[&updated_since={iso}]``

- ``resource``: ``hotels`` or ``activities`` (config param ``resource``).
- ``query``: location filters passed through as they are written in ``config_params.query``:
  ``city`` (e.g. ``Montréal``), or ``latitude`` + ``longitude`` (+ ``radius_km``); any other filter the
  API knows (``property_type``, ``category``...) passes through too.
- ``page`` from 1, ``page_size`` at most 100 (a preview asks for no more than it shows).
- ``updated_since``: ISO 8601 UTC (``2025-06-01T04:00:00Z``), sent on incremental runs only: the start of
  the DMO's last good run, less one second (``updated_at`` is to the second); the API answers only the
  items whose ``updated_at`` is later.
- The API key, from the Airflow connection ``auth_conn_id`` (its password, else its extra ``api_key``), is
  sent in the ``X-Api-Key`` header (``api_key_header``), or as a query parameter when ``api_key_param``
  is set; it never appears in the stored pages, the errors or the logs.

Response
--------
``200`` with::

    {"meta": {"page": 1, "page_size": 100, "total_pages": 3, "total_results": 240},
     "results": [<item>, ...]}

Paging stops at ``meta.total_pages`` (or on an empty / short page when ``meta`` is missing), at
``max_pages``, or once a preview has its records. A ``meta.page`` other than the page asked is an error
(an API that ignores ``page`` would otherwise be read forever).

Errors: ``{"error": {"code": "invalid_api_key", "message": "..."}}`` with 401 (missing or wrong key), 403,
404, 400 (``invalid_parameter``); 429 (``rate_limited``) with ``Retry-After``, which the HTTP client
retries. Every answer carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``
(seconds until the window resets; a value above 10^9 is read as a Unix time): when Remaining reaches 0,
the connector waits until Reset (at most ``max_backoff_seconds``) before its next request, instead of
spending a 429.

Items
-----
A hotel::

    {"hotel_id": 100042, "name": "...", "property_type": "Hotel",
     "address": {"line1": "...", "line2": null, "city": "...", "state_code": "QC", "postal_code": "...",
                 "country_code": "CA"},
     "location": {"latitude": 45.5, "longitude": -73.6},
     "phone": "+15145550123", "website": "https://...", "email": "...",
     "star_rating": 3.5, "review_score": 8.4, "review_count": 312,
     "price": {"currency": "CAD", "min_nightly": 129.0, "max_nightly": 289.0},
     "images": [{"url": "https://...", "caption": "...", "type": "exterior"}],
     "amenities": ["Free WiFi", ...], "description": "<p>HTML</p>",
     "url": "https://<the affiliate's page of the hotel>", "updated_at": "2025-03-02T10:00:00Z"}

An activity: ``activity_id``, ``name``, ``category``, ``description`` (HTML), ``duration_minutes``,
``price {currency, from}``, ``meeting_point {name, address {...as above}, location {latitude,
longitude}}``, ``phone``, ``website``, ``email``, ``opening_hours`` (text), ``review_score``,
``review_count``, ``images``, ``url``, ``updated_at``.

Parsed records
--------------
Each item as it came, plus derived keys shared by both resources, so one default mapping serves both:
``_id`` (hotel_id / activity_id), ``_category`` (property_type / category), ``_address`` and
``_location`` (the item's own, else its meeting point's), ``_description`` (the HTML as text, entities
decoded, paragraphs and line breaks kept). The canonical schema has no columns for prices or ratings
yet: the ``extra_fields`` paths (name -> path into the item) are resolved into each record's
``provenance["extras"]``, which the transformed file keeps.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, Field, field_validator, model_validator

from listings.sources.base import (
    FetchContext,
    ParseResult,
    RawPayload,
    SourceError,
    SourceRecord,
    SourceRecordError,
)
from listings.sources.http import (
    HttpClient,
    HttpParams,
    Page,
    RawPages,
    get_credentials,
    keep_partial,
    provenance,
)
from listings.transform.html import html_to_text
from listings.transform.mapping import MISSING, resolve_path

if TYPE_CHECKING:
    from listings.config.models import DmoConfig

log = logging.getLogger(__name__)

SOURCE_TYPE = "api"
API_PATH = "affiliate/v1"
MAX_PAGE_SIZE = 100
ID_KEYS: dict[str, str] = {"hotels": "hotel_id", "activities": "activity_id"}
HOTEL_EXTRA_FIELDS: dict[str, str] = {
    "currency": "price.currency",
    "price_from": "price.min_nightly",
    "star_rating": "star_rating",
    "review_score": "review_score",
    "review_count": "review_count",
}
ACTIVITY_EXTRA_FIELDS: dict[str, str] = {
    "currency": "price.currency",
    "price_from": "price.from",
    "review_score": "review_score",
    "review_count": "review_count",
    "duration_minutes": "duration_minutes",
}
# Query parameters the connector sets itself: a `query` entry may not override them.
_RESERVED_QUERY = frozenset({"page", "page_size", "updated_since"})
_REDACTED = "REDACTED"


class AffiliateApiParams(HttpParams):
    """`config_params` of an affiliate hotel/activity API (plus the HTTP ones: timeouts, retries, delay...)."""

    resource: Literal["hotels", "activities"] = Field(
        default="hotels", description="What to list: `hotels` or `activities` (the path's last step)."
    )
    query: dict[str, str | int | float] = Field(
        default_factory=dict,
        description="Filters sent as they are: `city`, or `latitude` + `longitude` (+ `radius_km`), ...",
    )
    page_size: int = Field(
        default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Items per page (the API allows 100)."
    )
    api_key_header: str = Field(
        default="X-Api-Key", min_length=1, description="Request header that carries the API key."
    )
    api_key_param: str | None = Field(
        default=None,
        min_length=1,
        description="Send the API key as this query parameter instead of a header (e.g. `api_key`).",
    )
    extra_fields: dict[str, str] = Field(
        default_factory=lambda: dict(HOTEL_EXTRA_FIELDS),
        description="Values with no canonical column (currency, price, ratings): name -> path in the item; "
        "kept in each record's provenance `extras`. Default: hotel fields, or activity fields for activities.",
    )

    @field_validator("query")
    @classmethod
    def _query(cls, v: dict[str, str | int | float]) -> dict[str, str | int | float]:
        reserved = sorted(set(v) & _RESERVED_QUERY)
        if reserved:
            raise ValueError(f"{', '.join(reserved)} are set by the connector; remove them from `query`")
        if ("latitude" in v) != ("longitude" in v):
            raise ValueError("`latitude` and `longitude` go together")
        if "radius_km" in v and "latitude" not in v:
            raise ValueError("`radius_km` needs `latitude` and `longitude`")
        return v

    @field_validator("extra_fields")
    @classmethod
    def _extra_fields(cls, v: dict[str, str]) -> dict[str, str]:
        empty = sorted(name for name, path in v.items() if not path.strip())
        if empty:
            raise ValueError(f"empty path for {', '.join(empty)}")
        return v

    @model_validator(mode="after")
    def _defaults(self) -> AffiliateApiParams:
        if self.api_key_param is not None and self.api_key_param in self.query:
            raise ValueError(f"`query` must not set the API key parameter {self.api_key_param!r}")
        if self.resource == "activities" and "extra_fields" not in self.model_fields_set:
            self.extra_fields = dict(ACTIVITY_EXTRA_FIELDS)
        return self


# ------------------------------------------------------------------------------------------------
def _description(value: Any) -> str | None:
    """A description as the API sends it (HTML or plain text) as plain text."""
    return html_to_text(value) if isinstance(value, str) else None


def _reset_seconds(value: str | None) -> float | None:
    """`X-RateLimit-Reset` as seconds to wait: a delay, or (above 10^9) a Unix time."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number > 1e9:
        number -= time.time()
    return max(0.0, number)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _results(body: Any) -> list[Any] | None:
    """The items of one response body, or None when it has none (an error body, an unknown shape)."""
    if isinstance(body, list):  # some partners answer a bare list on their simplest endpoints
        return body
    if isinstance(body, Mapping) and isinstance(body.get("results"), list):
        return list(body["results"])
    return None


def _api_error(body: Any) -> str | None:
    if isinstance(body, Mapping) and "error" in body:
        err = body["error"]
        if isinstance(err, Mapping):
            return f"{err.get('code', 'error')}: {err.get('message', '')}".strip(": ")
        return str(err)
    return None


class AffiliateApiSource:
    source_type: ClassVar[str] = SOURCE_TYPE
    params_model: ClassVar[type[BaseModel]] = AffiliateApiParams
    default_mappings: ClassVar[dict[str, str]] = {
        "source_id": "_id",
        "name": "name",
        "description": "_description",
        "category": "_category",
        "address1": "_address.line1",
        "address2": "_address.line2",
        "city": "_address.city",
        "state": "_address.state_code",
        "zip": "_address.postal_code",
        "country": "_address.country_code",
        "lat": "_location.latitude",
        "lng": "_location.longitude",
        "phone": "phone",
        "email": "email",
        "website": "website",
        "opening_hours": "opening_hours",
        "images": "images.*.url",
    }

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    # -- fetch ---------------------------------------------------------------------------------
    def _api_key(self, params: AffiliateApiParams) -> str | None:
        if params.auth_conn_id is None:
            return None
        creds = get_credentials(params.auth_conn_id)
        key = creds.password or creds.extra.get("api_key")
        if not key:
            raise SourceError(
                f"Airflow connection {params.auth_conn_id!r} has no API key: set its password or extra `api_key`"
            )
        return str(key)

    def _client(self, params: AffiliateApiParams, key: str | None) -> HttpClient:
        headers = {"Accept": "application/json"}
        client = HttpClient(params, headers=headers, sleep=self._sleep)
        if key is not None:
            if params.api_key_param:
                # Session params are added when the request is sent: the URLs HttpClient logs and puts in
                # its errors never carry the key (stored pages are redacted separately).
                client.session.params = {params.api_key_param: key}
            else:
                client.session.headers[params.api_key_header] = key
        return client

    def _wait_for_rate_limit(self, page: Page, params: AffiliateApiParams) -> None:
        remaining = _int(page.headers.get("x-ratelimit-remaining"))
        if remaining is None or remaining > 0:
            return
        wait = _reset_seconds(page.headers.get("x-ratelimit-reset"))
        if wait is None:
            return
        wait = min(wait, params.max_backoff_seconds)
        if wait > 0:
            log.info("rate limit reached on %s: waiting %.1f s for the window to reset", page.url, wait)
            self._sleep(wait)

    def fetch(self, ctx: FetchContext) -> RawPayload:
        params = ctx.params
        assert isinstance(params, AffiliateApiParams)
        dmo = ctx.config.dmo.id
        if ctx.config.base_url is None:
            raise SourceError(f"DMO {dmo}: base_url is required for an affiliate API (the API's root URL)")
        url = f"{str(ctx.config.base_url).rstrip('/')}/{API_PATH}/{params.resource}"
        key = self._api_key(params)
        query: dict[str, str | int | float] = dict(params.query)
        since = ctx.since.astimezone(UTC) if (params.incremental and ctx.since) else None
        if since is not None:  # items are stamped to the second and asked for strictly later: one earlier
            # second, so that an item edited in the second the last run started comes
            query["updated_since"] = (since.replace(microsecond=0) - timedelta(seconds=1)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        page_size = min(params.page_size, ctx.limit) if ctx.limit else params.page_size
        raw = RawPages(
            SOURCE_TYPE,
            request={
                "url": url,
                "resource": params.resource,
                "query": query,
                "page_size": page_size,
                "since": since.isoformat() if since else None,
                "limit": ctx.limit,
                "max_pages": params.max_pages,
            },
        )
        secret = params.api_key_param if key is not None else None
        client = self._client(params, key)
        fetched = 0
        total_results: int | None = None
        with keep_partial(raw):
            page_no, total_pages = 1, None
            while True:
                page = client.get(url, {**query, "page": page_no, "page_size": page_size})
                if secret:
                    page.url = _redact(page.url, secret)
                raw.add(page, page_no=page_no)
                try:
                    body = page.json()
                except json.JSONDecodeError:
                    # Parse reports the malformed page; paging can go on only if an earlier page told
                    # how many there are.
                    body = None
                results = _results(body)
                meta = body.get("meta") if isinstance(body, Mapping) else None
                if isinstance(meta, Mapping):
                    total_pages = _int(meta.get("total_pages"))
                    if total_results is None:
                        total_results = _int(meta.get("total_results"))
                    answered = _int(meta.get("page"))
                    if answered is not None and answered != page_no:
                        raise SourceError(
                            f"GET {url}: asked for page {page_no}, the API answered page {answered}"
                        )
                fetched += len(results or [])
                if body is None:
                    if total_pages is None or page_no >= total_pages:
                        break
                elif not results:
                    break
                elif total_pages is not None:
                    if page_no >= total_pages:
                        break
                elif len(results) < page_size:
                    break
                if params.max_pages is not None and page_no >= params.max_pages:
                    break
                if ctx.limit is not None and fetched >= ctx.limit:
                    break
                self._wait_for_rate_limit(page, params)
                page_no += 1
        source_uri = f"{url}?{urlencode(query)}" if query else url
        return raw.payload(
            source_uri,
            resource=params.resource,
            items_fetched=fetched,
            **({"total_results": total_results} if total_results is not None else {}),
            **({"since": since.isoformat()} if since else {}),
        )

    # -- parse ---------------------------------------------------------------------------------
    def parse(self, data: bytes, config: DmoConfig) -> ParseResult:
        params = AffiliateApiParams.model_validate(config.config_params)
        raw = RawPages.load(data)
        resource = str(raw.request.get("resource") or params.resource)
        id_key = ID_KEYS.get(resource, "id")
        records: list[SourceRecord] = []
        errors: list[SourceRecordError] = []
        row_no = 0
        for page, body, bad in raw.json_pages():
            if bad is not None:
                errors.append(bad)
                continue
            items = _results(body)
            if items is None:
                problem = _api_error(body) or "no `results` list"
                errors.append(
                    SourceRecordError(
                        0,
                        "malformed_response",
                        f"response of GET {page['url']} has no items ({problem})",
                        {"url": page["url"], "status": page["status"], "body_start": page["text"][:200]},
                    )
                )
                continue
            for item in items:
                row_no += 1
                if not isinstance(item, dict):
                    errors.append(
                        SourceRecordError(
                            row_no,
                            "invalid_item",
                            f"item {row_no} of GET {page['url']} is a {type(item).__name__}, not an object",
                            {"item": item, "url": page["url"]},
                        )
                    )
                    continue
                values = _derive(item, id_key)
                item_url = item.get("url")
                prov = provenance(
                    page,
                    original_id=values["_id"],
                    source_url=item_url if isinstance(item_url, str) and item_url else None,
                )
                prov["extras"] = _extras(item, params.extra_fields)
                records.append(SourceRecord(row_no, values, prov))
        errors.extend(raw.fetch_error())
        return ParseResult(
            records=records,
            errors=errors,
            metadata={"resource": resource, "pages_parsed": len(raw.pages), "items": row_no},
        )


def _derive(item: dict[str, Any], id_key: str) -> dict[str, Any]:
    """The item with the `_` keys that let one mapping serve hotels and activities."""
    meeting = item.get("meeting_point")
    meeting = meeting if isinstance(meeting, Mapping) else {}
    address = item.get("address")
    location = item.get("location")
    return {
        **item,
        "_id": item.get(id_key, item.get("id")),
        "_category": item.get("property_type") or item.get("category"),
        "_address": address if isinstance(address, Mapping) else meeting.get("address"),
        "_location": location if isinstance(location, Mapping) else meeting.get("location"),
        "_description": _description(item.get("description")),
    }


def _extras(item: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, path in fields.items():
        value = resolve_path(item, path)
        if value is not MISSING and value is not None:
            out[name] = value
    return out


def _redact(url: str, param: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [(k, _REDACTED if k == param else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(pairs)))
