"""Google Places (legacy web service) as a geocoder: Find Place from Text, then Text Search as fallback.

Requests (every one of them is billable, retries included):

- `GET {base}/maps/api/place/findplacefromtext/json?input=<text>&inputtype=textquery
  &fields=place_id,name,formatted_address,geometry,types[&locationbias=rectangle:S,W|N,E][&language=]&key=`
  → `{"candidates": [{"place_id", "name", "formatted_address", "geometry": {"location": {"lat", "lng"}},
  "types"}], "status": "OK" | "ZERO_RESULTS" | ..., "error_message"?}`
- only when that finds nothing usable: `GET {base}/maps/api/place/textsearch/json?query=<text>
  &region=<cc>[&location=lat,lng&radius=m][&language=]&key=` → `{"results": [...same item shape...],
  "status", "error_message"?}`.

Google answers HTTP 200 with a `status` even for errors. OK / ZERO_RESULTS end the lookup;
OVER_QUERY_LIMIT and UNKNOWN_ERROR (and HTTP 429/5xx, timeouts, connection errors, unreadable bodies) are
retried with exponential backoff, then end as `error`; REQUEST_DENIED, INVALID_REQUEST, OVER_DAILY_LIMIT
and other 4xx are never retried. A refused key, or a quota still spent after the retries, is `fatal`: the
`Geotagger` stops asking for the rest of the run instead of paying for more refusals.

A candidate that is only an area (a city, a postal code, a street without a number: its `types` are all
area types) is not a listing's location: it is skipped, and if nothing else is found the answer is
`zero_results` with a message saying so.

Why not `listings.sources.http.HttpClient`: it raises on 4xx, knows nothing of Google's in-body statuses,
and logs full URLs; here the key travels in the URL and must never reach a log, a message or the cache.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import requests

from listings.geocode import GeocodeQuery, LookupAnswer

log = logging.getLogger(__name__)

FIND_PLACE = "/maps/api/place/findplacefromtext/json"
TEXT_SEARCH = "/maps/api/place/textsearch/json"
FIND_PLACE_FIELDS = "place_id,name,formatted_address,geometry,types"
REDACTED = "REDACTED"

_RETRY_STATUSES = frozenset({"OVER_QUERY_LIMIT", "UNKNOWN_ERROR"})
_RETRY_HTTP = frozenset({429, 500, 502, 503, 504})
# Failures that will repeat for every query of the run: stop calling.
_FATAL_STATUSES = frozenset({"REQUEST_DENIED", "OVER_DAILY_LIMIT", "OVER_QUERY_LIMIT"})
_AREA_TYPES = frozenset(
    {
        "country",
        "political",
        "locality",
        "postal_town",
        "postal_code",
        "postal_code_prefix",
        "postal_code_suffix",
        "colloquial_area",
        "neighborhood",
        "route",
        "plus_code",
        *(f"administrative_area_level_{i}" for i in range(1, 8)),
        "sublocality",
        *(f"sublocality_level_{i}" for i in range(1, 6)),
    }
)
_KEY_IN_URL = re.compile(r"([?&]key=)[^&#\s\"']*")


@dataclass
class _Step:
    """One endpoint's outcome after its retries."""

    kind: str  # "done" (OK / ZERO_RESULTS) | "error" | "over_budget"
    body: dict[str, Any] | None = None
    message: str | None = None
    fatal: bool = False


class GooglePlacesClient:
    """Thread-safe: one instance may serve several workers; the minimum interval holds across them."""

    provider = "google_places"

    def __init__(
        self,
        base_url: str = "https://maps.googleapis.com",
        *,
        api_key: str,
        timeout: float = 10,
        min_interval_seconds: float = 0.1,
        session: requests.Session | None = None,
        retries: int = 2,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        language: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("GooglePlacesClient needs an API key")
        self.base_url = base_url.rstrip("/")
        self._key = api_key.strip()
        self.timeout = timeout
        self.min_interval_seconds = min_interval_seconds
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.language = language
        if session is None:
            from listings.sources.http import USER_AGENT

            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
        self.session = session
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self.requests_sent = 0  # over the client's life, for logs and tests

    def __repr__(self) -> str:  # the default repr would be harmless, but say it: no key in reprs
        return f"GooglePlacesClient(base_url={self.base_url!r}, api_key={REDACTED!r})"

    # -- public ---------------------------------------------------------------------------------
    def lookup(self, query: GeocodeQuery, *, permit: Callable[[], bool] = lambda: True) -> LookupAnswer:
        """Geocode `query`; never raises for what the network or Google do (that becomes `error`)."""
        text = query.text()
        trail: list[dict[str, Any]] = []
        calls = [0]
        find_params: dict[str, str] = {
            "input": text,
            "inputtype": "textquery",
            "fields": FIND_PLACE_FIELDS,
        }
        if query.bias:
            south, west, north, east = query.bias
            find_params["locationbias"] = f"rectangle:{south:g},{west:g}|{north:g},{east:g}"
        if self.language:
            find_params["language"] = self.language
        step = self._call(FIND_PLACE, find_params, permit, trail, calls)
        answer = self._answer(step, "findplacefromtext", "candidates", trail, calls[0])
        if answer is not None:
            return answer
        first_zero = step.body or {}

        search_params: dict[str, str] = {"query": text}
        if query.country.strip():
            search_params["region"] = query.country.strip().lower()
        if query.bias:
            south, west, north, east = query.bias
            # The box's centre and half-diagonal in metres (Google caps the radius at 50 km).
            lat, lng = (south + north) / 2, (west + east) / 2
            height = (north - south) * 111_320
            width = abs(east - west) * 111_320 * math.cos(math.radians(lat))
            radius = min(50_000, int(math.hypot(height, width) / 2))
            search_params["location"] = f"{lat:.6f},{lng:.6f}"
            search_params["radius"] = str(max(radius, 1))
        if self.language:
            search_params["language"] = self.language
        step = self._call(TEXT_SEARCH, search_params, permit, trail, calls)
        answer = self._answer(step, "textsearch", "results", trail, calls[0])
        if answer is not None:
            return answer
        areas = list(
            dict.fromkeys(
                _area_names(first_zero.get("candidates")) + _area_names((step.body or {}).get("results"))
            )
        )
        message = f"only areas matched ({', '.join(areas[:3])})" if areas else None
        return LookupAnswer(
            "zero_results",
            calls[0],
            message=message,
            response=self._keep({"endpoint": "textsearch", "status": "ZERO_RESULTS", "requests": trail}),
        )

    # -- internals --------------------------------------------------------------------------------
    def _answer(
        self, step: _Step, endpoint: str, items_key: str, trail: list[dict[str, Any]], calls: int
    ) -> LookupAnswer | None:
        """The final answer from one endpoint's step, or None to try the next endpoint."""
        if step.kind == "over_budget":
            return LookupAnswer(
                "over_budget",
                calls,
                message=step.message,
                response=self._keep({"endpoint": endpoint, "requests": trail}),
            )
        if step.kind == "error":
            return LookupAnswer(
                "error",
                calls,
                message=self._redact(step.message or "unknown error"),
                response=self._keep({"endpoint": endpoint, "requests": trail}),
                fatal=step.fatal,
            )
        body = step.body or {}
        items = body.get(items_key)
        chosen = _first_point(items if isinstance(items, list) else [])
        if chosen is None:
            return None
        item, lat, lng = chosen
        response = {
            "endpoint": endpoint,
            "status": body.get("status"),
            items_key: len(items) if isinstance(items, list) else 0,
            "result": item,
            "requests": trail,
        }
        return LookupAnswer(
            "ok",
            calls,
            lat=lat,
            lng=lng,
            place_id=_text(item.get("place_id")),
            formatted_address=_text(item.get("formatted_address")),
            response=self._keep(response),
        )

    def _call(
        self,
        path: str,
        params: Mapping[str, str],
        permit: Callable[[], bool],
        trail: list[dict[str, Any]],
        calls: list[int],
    ) -> _Step:
        url = f"{self.base_url}{path}?{urlencode({**params, 'key': self._key}, quote_via=quote)}"
        shown = self._redact(url)
        attempts = self.retries + 1
        problem = "no attempt"
        fatal_if_exhausted = False
        for attempt in range(attempts):
            if not permit():
                return _Step("over_budget", message=f"budget spent before GET {path}")
            self._wait_turn()
            calls[0] += 1
            self.requests_sent += 1
            started = time.monotonic()
            entry: dict[str, Any] = {"url": shown}
            trail.append(entry)
            fatal_if_exhausted = False
            try:
                resp = self.session.get(url, timeout=self.timeout)
            except requests.Timeout:
                problem = f"GET {path} timed out after {self.timeout:g} s"
            except requests.RequestException as exc:  # its text holds the URL, so the key: not shown
                problem = f"GET {path} failed: connection error ({type(exc).__name__})"
            else:
                entry["http_status"] = resp.status_code
                entry["seconds"] = round(time.monotonic() - started, 3)
                if resp.status_code in _RETRY_HTTP:
                    problem = f"GET {path} answered HTTP {resp.status_code}"
                elif resp.status_code >= 400:
                    return _Step(
                        "error",
                        message=f"GET {path} answered HTTP {resp.status_code}: {resp.text[:200]}",
                        fatal=resp.status_code in (401, 403),
                    )
                else:
                    try:
                        body = resp.json()
                    except ValueError:
                        body = None
                    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
                        problem = f"GET {path} answered an unreadable body: {resp.text[:120]!r}"
                    else:
                        status = body["status"]
                        entry["status"] = status
                        detail = _text(body.get("error_message"))
                        if status in ("OK", "ZERO_RESULTS"):
                            return _Step("done", body=body)
                        message = f"Google Places {status}" + (f": {detail}" if detail else "")
                        if status not in _RETRY_STATUSES:
                            return _Step("error", message=message, fatal=status in _FATAL_STATUSES)
                        problem = message
                        fatal_if_exhausted = status in _FATAL_STATUSES
            if attempt + 1 < attempts:
                delay = self._backoff(attempt)
                log.warning(
                    "%s; retry %d/%d in %.1f s", self._redact(problem), attempt + 1, attempts - 1, delay
                )
                self._sleep(delay)
        suffix = f" (after {attempts} attempts)" if attempts > 1 else ""
        return _Step("error", message=problem + suffix, fatal=fatal_if_exhausted)

    def _wait_turn(self) -> None:
        """Space requests at least `min_interval_seconds` apart (Google's per-second quota)."""
        with self._lock:
            if self._last is not None:
                wait = self._last + self.min_interval_seconds - self._clock()
                if wait > 0:
                    self._sleep(wait)
            self._last = self._clock()

    def _backoff(self, attempt: int) -> float:
        base: float = self.backoff_seconds * 2.0**attempt
        return min(base * random.uniform(0.75, 1.25), self.max_backoff_seconds)

    def _redact(self, text: str) -> str:
        for form in {self._key, quote(self._key, safe=""), quote_plus(self._key)}:
            text = text.replace(form, REDACTED)
        return _KEY_IN_URL.sub(rf"\g<1>{REDACTED}", text)

    def _keep(self, doc: dict[str, Any]) -> dict[str, Any]:
        """`doc` as it may be stored: JSON-safe, the key in none of its strings (keys and values)."""

        def clean(value: Any) -> Any:
            if isinstance(value, str):
                return self._redact(value)
            if isinstance(value, dict):
                return {clean(str(k)): clean(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [clean(v) for v in value]
            return value

        kept: dict[str, Any] = clean(json.loads(json.dumps(doc, ensure_ascii=False, default=str)))
        return kept


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _location(item: Mapping[str, Any]) -> tuple[float, float] | None:
    try:
        loc = item["geometry"]["location"]
        lat, lng = float(loc["lat"]), float(loc["lng"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):  # also rejects NaN
        return None
    return lat, lng


def _is_area(item: Mapping[str, Any]) -> bool:
    types = item.get("types")
    return isinstance(types, list) and bool(types) and all(t in _AREA_TYPES for t in types)


def _first_point(items: list[Any]) -> tuple[dict[str, Any], float, float] | None:
    """Google's best candidate that is a place with a point, not an area."""
    for item in items:
        if isinstance(item, dict) and not _is_area(item):
            point = _location(item)
            if point is not None:
                return item, point[0], point[1]
    return None


def _area_names(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [
        str(i.get("formatted_address") or i.get("name") or "?")
        for i in items
        if isinstance(i, dict) and _is_area(i)
    ]


def get_api_key(conn_id: str) -> str:
    """The API key of an Airflow connection: its password, or `api_key` in its extra."""
    from listings.sources.base import SourceError
    from listings.sources.http import get_credentials

    creds = get_credentials(conn_id)
    key = creds.password or creds.extra.get("api_key")
    if not isinstance(key, str) or not key.strip():
        raise SourceError(f"Airflow connection {conn_id!r} has no API key (password or extra api_key)")
    return key.strip()
