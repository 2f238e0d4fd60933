"""A Google Places (legacy web service) stand-in under /maps/api/place/, for the geotagging demo and tests.

Routes, in Google's JSON shapes (always HTTP 200 with a `status`, as Google does, errors included):

- `findplacefromtext/json?input=&inputtype=textquery|phonenumber&fields=&locationbias=&key=` →
  `{"candidates": [{"place_id", "name", "formatted_address", "geometry": {"location": {"lat", "lng"},
  "viewport"}, "types"}], "status"}`; only the requested `fields` are returned (all when none are asked).
- `textsearch/json?query=&region=&location=&radius=&key=` → `{"html_attributions": [], "results":
  [{...same item, "business_status"}], "status"}`.

`key` must be `site.api_key`: missing or wrong → `REQUEST_DENIED` with Google's `error_message`. A missing
`input`/`query` (or a bad `inputtype`) → `INVALID_REQUEST`.

Geocoding is deterministic: a query that names one of `listings_dev.devdata.CITIES` (accents, case and
punctuation ignored; the city of Québec only when no other city is named, since "Québec" is also the
province) gets a point inside that city's box, derived from a hash of the folded query, so the same query
gives the same point and place_id every time. Any other query → `ZERO_RESULTS`. Find Place misses about
one query in four that Text Search then finds, so a demo run exercises the fallback.

Magic tokens anywhere in the query (upper case, as written) for tests:

- `OVER_QUERY_LIMIT`, `UNKNOWN_ERROR`, `REQUEST_DENIED`, `INVALID_REQUEST`, `ZERO_RESULTS`: answer that
  status on every request; with a count, `OVER_QUERY_LIMIT:2`, only the first 2 requests carrying that
  query do (on either endpoint), then the query is answered normally;
- `NOT_IN_FINDPLACE`: Find Place answers ZERO_RESULTS, Text Search finds the place;
- `AREA_ONLY`: both answer with the city itself (types locality, political), as Google does for a business
  it does not know.

The server's request log (`DemoSites.requests`) is how tests count billable calls.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import unicodedata
from typing import Any

from listings_dev.demo_sites.server import Request, Response, Site, not_found
from listings_dev.devdata import CITIES, City

PREFIX = "/maps/api/place/"
FIND_PLACE = PREFIX + "findplacefromtext/json"
TEXT_SEARCH = PREFIX + "textsearch/json"

STATUS_TOKENS = ("OVER_QUERY_LIMIT", "UNKNOWN_ERROR", "REQUEST_DENIED", "INVALID_REQUEST", "ZERO_RESULTS")
_TOKEN = re.compile(r"\b(" + "|".join((*STATUS_TOKENS, "NOT_IN_FINDPLACE", "AREA_ONLY")) + r")(?::(\d+))?\b")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_MESSAGES = {
    "REQUEST_DENIED": "The provided API key is invalid.",
    "INVALID_REQUEST": "Invalid request. Missing the 'input' parameter.",
    "OVER_QUERY_LIMIT": "You have exceeded your rate-limit for this API.",
    "UNKNOWN_ERROR": None,
    "ZERO_RESULTS": None,
}
_NO_KEY = (
    "You must use an API key to authenticate each request to Google Maps Platform APIs. "
    "For additional information, please refer to http://g.co/dev/maps-no-account"
)
_ALL_FIELDS = ("place_id", "name", "formatted_address", "geometry", "types")
_counter_lock = threading.Lock()


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return _NON_ALNUM.sub(" ", "".join(c for c in decomposed if not unicodedata.combining(c))).strip()


_CITY_KEYS = sorted(((_fold(c.name), c) for c in CITIES.values()), key=lambda kv: -len(kv[0]))


def _city_in(folded: str) -> City | None:
    padded = f" {folded} "
    found = [city for key, city in _CITY_KEYS if f" {key} " in padded]
    others = [c for c in found if c.name != "Québec"]
    chosen = others or found
    return chosen[0] if chosen else None


def _status(status: str, message: str | None = None, items_key: str = "candidates") -> Response:
    doc: dict[str, Any] = {items_key: [], "status": status}
    if items_key == "results":
        doc["html_attributions"] = []
    if message:
        doc["error_message"] = message
    return Response.json(doc)


def _forced_status(query: str, site: Site) -> str | None:
    """The status a magic token asks for, counting down `TOKEN:n` per query text."""
    for match in _TOKEN.finditer(query):
        token, count = match.group(1), match.group(2)
        if token not in STATUS_TOKENS:
            continue
        if count is None:
            return token
        seen: dict[str, int] = site.memo("places:token-counts", dict)
        with _counter_lock:
            used = seen.get(query, 0)
            if used < int(count):
                seen[query] = used + 1
                return token
    return None


def _place(query: str, city: City, area_only: bool) -> dict[str, Any]:
    if area_only:
        lat, lng = sum(city.lat) / 2, sum(city.lng) / 2
        digest = hashlib.sha256(f"city|{city.name}".encode()).digest()
        name, address, types = city.name, f"{city.name}, QC, Canada", ["locality", "political"]
    else:
        digest = hashlib.sha256(_fold(query).encode()).digest()
        # 5% margin so a point never sits on the box's edge.
        fx = int.from_bytes(digest[0:8], "big") / 2**64 * 0.9 + 0.05
        fy = int.from_bytes(digest[8:16], "big") / 2**64 * 0.9 + 0.05
        lat = city.lat[0] + (city.lat[1] - city.lat[0]) * fx
        lng = city.lng[0] + (city.lng[1] - city.lng[0]) * fy
        parts = [p.strip() for p in query.split(",") if p.strip()]
        name = parts[0] if parts else city.name
        rest = [p for p in parts[1:] if p.casefold() not in ("canada", "ca")]
        address = ", ".join([*rest, "Canada"]) if rest else f"{city.name}, QC, Canada"
        types = ["point_of_interest", "establishment"]
    lat, lng = round(lat, 7), round(lng, 7)
    return {
        "place_id": "ChIJ" + base64.urlsafe_b64encode(digest[:18]).decode().rstrip("="),
        "name": name,
        "formatted_address": address,
        "geometry": {
            "location": {"lat": lat, "lng": lng},
            "viewport": {
                "northeast": {"lat": round(lat + 0.0013, 7), "lng": round(lng + 0.0013, 7)},
                "southwest": {"lat": round(lat - 0.0013, 7), "lng": round(lng - 0.0013, 7)},
            },
        },
        "types": types,
    }


def handle(request: Request, site: Site) -> Response:
    if request.path not in (FIND_PLACE, TEXT_SEARCH):
        return not_found(request.path)
    find = request.path == FIND_PLACE
    items_key = "candidates" if find else "results"
    key = request.arg("key")
    if not key:
        return _status("REQUEST_DENIED", _NO_KEY, items_key)
    if key != site.api_key:
        return _status("REQUEST_DENIED", _MESSAGES["REQUEST_DENIED"], items_key)
    query = (request.arg("input") if find else request.arg("query")) or ""
    if not query.strip():
        missing = "input" if find else "query"
        return _status("INVALID_REQUEST", f"Invalid request. Missing the '{missing}' parameter.", items_key)
    if find and request.arg("inputtype") not in ("textquery", "phonenumber"):
        return _status("INVALID_REQUEST", "Invalid request. Invalid 'inputtype' parameter.", items_key)

    forced = _forced_status(query, site)
    if forced:
        return _status(forced, _MESSAGES[forced], items_key)
    tokens = {m.group(1) for m in _TOKEN.finditer(query)}
    clean = " ".join(_TOKEN.sub(" ", query).split()).replace(" ,", ",").strip(" ,")
    city = _city_in(_fold(clean))
    if city is None:
        return _status("ZERO_RESULTS", None, items_key)
    area_only = "AREA_ONLY" in tokens
    place = _place(clean, city, area_only)
    if find and not area_only:
        misses = "NOT_IN_FINDPLACE" in tokens or hashlib.sha256(_fold(clean).encode()).digest()[16] % 4 == 0
        if misses:
            return _status("ZERO_RESULTS", None, items_key)
    if find:
        wanted = [f.strip() for f in (request.arg("fields") or "").split(",") if f.strip()]
        fields = [f for f in _ALL_FIELDS if not wanted or f in wanted]
        return Response.json({"candidates": [{f: place[f] for f in fields}], "status": "OK"})
    return Response.json(
        {"html_attributions": [], "results": [{**place, "business_status": "OPERATIONAL"}], "status": "OK"}
    )
