"""A HERE-like places API under /here/, generated from `listings_dev.devdata` (Québec places, `site.size` of
them), in the shapes of the real one:

- `/here/discover?q=&at=|in=&limit=&lang=` and `/here/browse?at=&categories=&in=&limit=&lang=`: v7
  `{"items": [...]}` sorted by distance from `at`, no paging (`limit` 1..100, default 20);
- `/here/lookup?id=`: the v7 item itself, or 404 when the id is unknown;
- `/here/places/v1/discover/explore[;context=…]?at=&cat=&size=`: Places API v1, the first page
  `{"results": {"items", "next"}, "search": {"context"}}`, later pages `{"items", "next", "previous",
  "offset"}`; like v1, its `next` and `href` links echo the caller's `apiKey`.

Every route wants `apiKey=<site.api_key>`: missing or wrong answers HERE's 401. `in` understands
`countryCode:CAN`, `circle:lat,lng;r=metres` and `bbox:west,south,east,north`; `categories` (v1: `cat`)
match a category id or any id below it (`100` matches `100-1000-0000`). Category ids follow the HERE
places category system (a few of them approximated). Opening hours come in the request's `lang` (French
unless `lang` starts with "en"). HERE search has no "changed since" filter, so neither has this site.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import re
import unicodedata
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from listings_dev.demo_sites.server import Request, Response, Site
from listings_dev.devdata import CITIES, category_of, generate_listings

PREFIX = "/here/"
V1_EXPLORE = "/here/places/v1/discover/explore"

# devdata category → (v7 id, v7 name, v1 id, v1 title)
CATEGORIES: dict[str, tuple[str, str, str, str]] = {
    "restaurant": ("100-1000-0000", "Restaurant", "restaurant", "Restaurant"),
    "cafe": ("100-1100-0010", "Coffee Shop", "coffee-tea", "Coffee/Tea"),
    "bar": ("200-2000-0011", "Bar or Pub", "bar-pub", "Bar/Pub"),
    "brewery": ("200-2000-0018", "Brewery", "bar-pub", "Bar/Pub"),
    "hotel": ("500-5000-0053", "Hotel", "hotel", "Hotel"),
    "motel": ("500-5000-0054", "Motel", "motel", "Motel"),
    "bed_and_breakfast": ("500-5100-0058", "Bed and Breakfast", "hotel", "Hotel"),
    "campground": ("500-5100-0056", "Campground", "camping", "Campground"),
    "museum": ("300-3100-0000", "Museum", "museum", "Museum"),
    "gallery": ("300-3100-0029", "Art Gallery", "museum", "Museum"),
    "theatre": ("200-2200-0020", "Performing Arts", "theatre-music-culture", "Theatre, Music & Culture"),
    "festival_venue": ("200-2200-0000", "Theatre, Music and Culture", "theatre-music-culture", "Theatre"),
    "attraction": ("300-3000-0023", "Tourist Attraction", "sights-museums", "Sights & Museums"),
    "park": ("550-5510-0202", "Park-Recreation Area", "leisure-outdoor", "Leisure & Outdoor"),
    "ski_resort": ("550-5520-0208", "Ski Lift", "leisure-outdoor", "Leisure & Outdoor"),
    "golf": ("800-8600-0193", "Golf Course", "leisure-outdoor", "Leisure & Outdoor"),
    "tour_operator": ("700-7400-0286", "Tour Operator", "travel-agency", "Travel Agency"),
    "spa": ("600-6950-0400", "Day Spa", "hair-beauty", "Hair & Beauty"),
    "shop": ("600-6900-0000", "Shopping", "shopping", "Shopping"),
    "market": ("600-6300-0244", "Market", "food-drink", "Food & Drink"),
}
_LODGING = {"hotel", "motel", "bed_and_breakfast", "campground"}
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_NAMES = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "fr": ("lun", "mar", "mer", "jeu", "ven", "sam", "dim"),
}
# Weekly patterns: (first day, last day, opens, hours open)
_HOURS: tuple[tuple[tuple[int, int, float, float], ...], ...] = (
    ((0, 4, 9, 8),),
    ((0, 6, 11, 12),),
    ((1, 5, 11.5, 10.5), (6, 6, 10, 5)),
    ((0, 4, 8, 10), (5, 6, 9, 8)),
    ((2, 6, 17, 6),),
)
_LODGING_HOURS: tuple[tuple[int, int, float, float], ...] = ((0, 6, 0, 24),)


def _unauthorized() -> Response:
    return Response.json(
        {"error": "Unauthorized", "error_description": "apiKey invalid. apiKey not found."}, status=401
    )


def _bad(parameter: str, cause: str) -> Response:
    return Response.json(
        {
            "status": 400,
            "title": f"Illegal input for parameter '{parameter}'",
            "cause": cause,
            "action": "Check the API reference",
            "correlationId": "demo",
            "requestId": "demo",
        },
        status=400,
    )


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


def _phone(text: str) -> str | None:
    digits = re.sub(r"\D", "", text)
    if len(digits) == 10:
        digits = "1" + digits
    return f"+{digits}" if len(digits) == 11 else None


def _hhmm(hour: float) -> str:
    return f"{int(hour):02d}:{round(hour % 1 * 60):02d}"


def _hours(rng: random.Random, category: str) -> dict[str, Any]:
    pattern = _LODGING_HOURS if category in _LODGING else rng.choice(_HOURS)
    structured: list[dict[str, str]] = []
    text_en: list[str] = []
    text_fr: list[str] = []
    for first, last, opens, length in pattern:
        days = _DAYS[first : last + 1]
        structured.append(
            {
                "start": f"T{_hhmm(opens).replace(':', '')}00",
                "duration": f"PT{int(length):02d}H{round(length % 1 * 60):02d}M",
                "recurrence": f"FREQ:DAILY;BYDAY:{','.join(days)}",
            }
        )
        for lang, out in (("en", text_en), ("fr", text_fr)):
            names = _DAY_NAMES[lang]
            span = names[first] if first == last else f"{names[first]}-{names[last]}"
            out.append(f"{span}: {_hhmm(opens)} - {_hhmm(opens + length)}")
    return {"text_en": text_en, "text_fr": text_fr, "structured": structured, "isOpen": rng.random() < 0.5}


def _place(row: dict[str, str], seed: int) -> dict[str, Any]:
    rng = random.Random(f"here:{seed}:{row['ID']}")
    city = CITIES[row["City"]]
    key = category_of(row["Category"]) or "attraction"
    v7_id, v7_name, _, _ = CATEGORIES[key]
    m = re.match(r"^(?:\d+-)?(\d+[A-C]?),?\s+(.+)$", row["Address1"])
    number, street = (m[1], m[2]) if m else (None, row["Address1"])
    street = street[:1].upper() + street[1:]
    postal = re.sub(r"\s", "", row["Postal"]).upper()
    postal = f"{postal[:3]} {postal[3:]}"
    if row["Latitude"]:
        lat, lng = round(float(row["Latitude"]), 5), round(float(row["Longitude"]), 5)
    else:  # HERE always knows where a place is
        lat, lng = round(rng.uniform(*city.lat), 5), round(rng.uniform(*city.lng), 5)
    line = f"{number} {street}" if number else street
    address = {
        "label": f"{row['Name']}, {line}, {city.name}, QC {postal}, Canada",
        "countryCode": "CAN",
        "countryName": "Canada",
        "stateCode": "QC",
        "state": "Québec",
        "city": city.name,
        **({"district": rng.choice(city.districts)} if city.big else {}),
        "street": street,
        "postalCode": postal,
        **({"houseNumber": number} if number else {}),
    }
    categories = [{"id": v7_id, "name": v7_name, "primary": True}]
    if key == "restaurant" and rng.random() < 0.5:
        categories.append({"id": "100-1000-0001", "name": "Casual Dining"})
    contact: dict[str, list[dict[str, Any]]] = {}
    phone = _phone(row["Phone"])
    if phone:
        contact["phone"] = [{"value": phone}]
    www = row["Website"] or row["Facebook"]
    if www:
        contact["www"] = [{"value": www if www.startswith("http") else f"https://{www}"}]
    if row["Email"]:
        contact["email"] = [{"value": row["Email"]}]
    digest = hashlib.sha1(f"{seed}:{row['ID']}".encode()).hexdigest()[:32]
    item: dict[str, Any] = {
        "title": row["Name"],
        "id": f"here:pds:place:124f25dv-{digest}",
        "language": "fr",
        "resultType": "place",
        "address": address,
        "position": {"lat": lat, "lng": lng},
        "access": [{"lat": round(lat + 0.00008, 5), "lng": round(lng - 0.00005, 5)}],
        "categories": categories,
        **({"contacts": [contact]} if contact else {}),
        "_key": key,
    }
    if row["Hours"]:
        item["_hours"] = _hours(rng, key)
    return item


def _places(site: Site) -> list[dict[str, Any]]:
    def make() -> list[dict[str, Any]]:
        rows = generate_listings(site.size, seed=site.seed, id_prefix="HERE")
        return [_place(row, site.seed) for row in rows]

    places: list[dict[str, Any]] = site.memo("here:places", make)
    return places


def _distance(lat1: float, lng1: float, lat2: float, lng2: float) -> int:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * 6_371_000 * math.asin(math.sqrt(a)))


def _coords(text: str) -> tuple[float, float]:
    lat, lng = (float(v) for v in text.split(","))
    return lat, lng


def _area_filter(value: str) -> Any:
    """A predicate on a place for an `in` value; ValueError when it is not understood."""
    kind, _, spec = value.partition(":")
    if kind == "countryCode":
        codes = set(spec.split(","))
        return lambda p: p["address"]["countryCode"] in codes
    if kind == "circle":
        centre, _, radius = spec.partition(";r=")
        lat, lng = _coords(centre)
        r = float(radius)
        return lambda p: _distance(lat, lng, p["position"]["lat"], p["position"]["lng"]) <= r
    if kind == "bbox":
        west, south, east, north = (float(v) for v in spec.split(","))
        return lambda p: south <= p["position"]["lat"] <= north and west <= p["position"]["lng"] <= east
    raise ValueError(value)


def _search(request: Request, site: Site, *, v1: bool) -> tuple[list[dict[str, Any]], Response | None]:
    """The places matching the request's filters, nearest first (each with its `distance`)."""
    places = _places(site)
    at, area = request.arg("at"), request.arg("in")
    if request.path == "/here/browse" and not at:
        return [], _bad("at", "'at' is required")
    if not at and not (area and area.split(":")[0] in ("circle", "bbox")):
        return [], _bad("at", "Either 'at' or 'in=circle' or 'in=bbox' must be provided")
    try:
        centre = _coords(at) if at else None
        if area:
            keep = _area_filter(area)
            places = [p for p in places if keep(p)]
    except ValueError:
        return [], _bad("in" if area else "at", f"cannot read {area or at!r}")
    query = request.arg("q")
    if request.path == "/here/discover" and not query:
        return [], _bad("q", "'q' is required")
    if query:
        words = _fold(query).split()

        def text(p: dict[str, Any]) -> str:
            cats = " ".join(c["name"] for c in p["categories"])
            return _fold(f"{p['title']} {cats} {p['address']['city']} {p['address']['street']}")

        places = [p for p in places if all(w in text(p) for w in words)]
    wanted = request.arg("cat" if v1 else "categories")
    if wanted:
        prefixes = [c.strip() for c in wanted.split(",") if c.strip()]
        places = [
            p
            for p in places
            if any(
                (CATEGORIES[p["_key"]][2] if v1 else c["id"]) == w or (not v1 and c["id"].startswith(w + "-"))
                for c in p["categories"]
                for w in prefixes
            )
        ]
    if centre is None:
        first = places[0]["position"] if places else {"lat": 0, "lng": 0}
        centre = (first["lat"], first["lng"])
    lat, lng = centre
    found = [
        {**p, "distance": _distance(lat, lng, p["position"]["lat"], p["position"]["lng"])} for p in places
    ]
    found.sort(key=lambda p: (p["distance"], p["id"]))
    return found, None


def _v7(place: dict[str, Any], lang: str) -> dict[str, Any]:
    out = {k: v for k, v in place.items() if not k.startswith("_")}
    hours = place.get("_hours")
    if hours:
        out["openingHours"] = [
            {
                "categories": [{"id": place["categories"][0]["id"]}],
                "text": hours["text_en"] if lang.startswith("en") else hours["text_fr"],
                "isOpen": hours["isOpen"],
                "structured": hours["structured"],
            }
        ]
    return out


def _limit(request: Request, name: str, default: int) -> int | Response:
    try:
        limit = int(request.arg(name) or default)
    except ValueError:
        return _bad(name, "must be an integer")
    return limit if 1 <= limit <= 100 else _bad(name, "must be between 1 and 100")


def _context(offset: int, size: int) -> str:
    return base64.urlsafe_b64encode(f"offset={offset}&size={size}".encode()).decode().rstrip("=")


def _read_context(path: str) -> tuple[int, int | None]:
    _, _, ctx = path.partition(";context=")
    if not ctx:
        return 0, None
    fields = parse_qs(base64.urlsafe_b64decode(ctx + "=" * (-len(ctx) % 4)).decode())
    return int(fields["offset"][0]), int(fields["size"][0])


def _v1_item(place: dict[str, Any], site: Site, key: str, rank: int) -> dict[str, Any]:
    short_id = place["id"].removeprefix("here:pds:place:")
    _, _, v1_id, v1_title = CATEGORIES[place["_key"]]
    a = place["address"]
    line = f"{a['houseNumber']} {a['street']}" if "houseNumber" in a else a["street"]
    auth = urlencode({"apiKey": key})
    item: dict[str, Any] = {
        "position": [place["position"]["lat"], place["position"]["lng"]],
        "distance": place["distance"],
        "title": place["title"],
        "averageRating": 0,
        "category": {
            "id": v1_id,
            "title": v1_title,
            "href": f"{site.base_url}/here/places/v1/categories/places/{v1_id}?{auth}",
            "type": "urn:nlp-types:category",
            "system": "places",
        },
        "icon": "https://download.vcdn.example.org/p/d/places2/icons/categories/03.icon",
        "vicinity": f"{line}<br/>{a['city']}, {a['stateCode']} {a['postalCode']}",
        "having": [],
        "type": "urn:nlp-types:place",
        "href": f"{site.base_url}/here/places/v1/places/{short_id};context={_context(rank, 1)}?{auth}",
        "tags": [],
        "id": short_id,
    }
    hours = place.get("_hours")
    if hours:
        item["openingHours"] = {
            "text": "<br/>".join(hours["text_en"]),
            "label": "Opening hours",
            "isOpen": hours["isOpen"],
            "structured": hours["structured"],
        }
    return item


def _explore(request: Request, site: Site, key: str) -> Response:
    try:
        offset, size = _read_context(request.path)
    except (ValueError, KeyError, UnicodeDecodeError):
        return _bad("context", "cannot read the context")
    if size is None:
        size_or = _limit(request, "size", 20)
        if isinstance(size_or, Response):
            return size_or
        size = size_or
    found, error = _search(request, site, v1=True)
    if error is not None:
        return error
    page = [_v1_item(p, site, key, offset + i) for i, p in enumerate(found[offset : offset + size])]
    carry = {k: request.arg(k) for k in ("at", "in", "cat", "q") if request.arg(k)}
    link = f"{site.base_url}{V1_EXPLORE};context={{}}?{urlencode({**carry, 'apiKey': key}, quote_via=quote)}"
    nxt = link.format(_context(offset + size, size)) if offset + size < len(found) else None
    if offset == 0:
        at = request.arg("at") or ""
        results: dict[str, Any] = {**({"next": nxt} if nxt else {}), "items": page}
        context = {
            "location": {
                "position": [float(v) for v in at.split(",")] if at else None,
                "address": {"text": "Québec<br/>Canada", "countryCode": "CAN", "country": "Canada"},
            },
            "type": "urn:nlp-types:place",
        }
        return Response.json({"results": results, "search": {"context": context}})
    previous = link.format(_context(max(0, offset - size), size))
    return Response.json(
        {**({"next": nxt} if nxt else {}), "previous": previous, "offset": offset, "items": page}
    )


def handle(request: Request, site: Site) -> Response:
    key = request.arg("apiKey")
    if key != site.api_key:
        return _unauthorized()
    lang = request.arg("lang") or "fr"
    if request.path.startswith(V1_EXPLORE):
        return _explore(request, site, key)
    if request.path == "/here/lookup":
        wanted = request.arg("id")
        if not wanted:
            return _bad("id", "'id' is required")
        for place in _places(site):
            if place["id"] == wanted:
                return Response.json(_v7(place, lang))
        return Response.json(
            {
                "status": 404,
                "title": "The requested ID was not found",
                "correlationId": "demo",
                "requestId": "demo",
            },
            status=404,
        )
    if request.path in ("/here/discover", "/here/browse"):
        limit = _limit(request, "limit", 20)
        if isinstance(limit, Response):
            return limit
        found, error = _search(request, site, v1=False)
        if error is not None:
            return error
        return Response.json({"items": [_v7(p, lang) for p in found[:limit]]})
    return Response.json(
        {
            "status": 404,
            "title": f"No route for {request.path}",
            "correlationId": "demo",
            "requestId": "demo",
        },
        status=404,
    )
