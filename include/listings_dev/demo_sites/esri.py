"""A fake ArcGIS Server REST API with Québec points of interest, shaped like the real one.

- `GET /arcgis/rest/services?f=json`, `/arcgis/rest/services/Tourism?f=json`, `.../POI/FeatureServer?f=json`:
  the catalog, folder and service directory.
- `.../FeatureServer/0`: "Points d'intérêt", a modern hosted layer: `maxRecordCount` 15,
  `advancedQueryCapabilities.supportsPagination: true` (resultOffset / resultRecordCount / orderByFields),
  stored in Web Mercator and answered in the asked `outSR` (4326 or 102100/3857; Web Mercator when none).
- `.../FeatureServer/1`: "Attraits", an old-server layer: no pagination (resultOffset and
  resultRecordCount are ignored, as 10.0 servers do: always the first 15 with `exceededTransferLimit`), so
  clients must page by `returnIdsOnly` + `objectIds`; it answers in Web Mercator whatever the `outSR`
  (GeoJSON too, with an old-style `crs` member); `objectIds: null` when nothing matches.
- `f=json` (Esri JSON), `f=geojson`; `where` understands `1=1` and `FIELD <op> 'text' | number |
  timestamp 'YYYY-MM-DD HH:MM:SS'` joined with AND; anything else is the ArcGIS error body with HTTP 200:
  `{"error": {"code": 400, "message": "Cannot perform query. Invalid query parameters.", "details": [...]}}`.
- `EditDate` (epoch milliseconds, as ArcGIS stores dates) for incremental queries; `touch()` edits features.
- Layer 0's `PHOTOS` holds `|`-separated URLs on the demo image host:
  `{base_url}/images/esri/<slug>-<k>.<jpg|png|webp>`.
- `/arcgis/rest/services/Secure/POI/FeatureServer/0`: layer 0 behind a token (`X-Esri-Authorization:
  Bearer <site.api_key>` or `token=`): 499 Token Required / 498 Invalid Token, with HTTP 200.
"""

from __future__ import annotations

import math
import operator
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from listings_dev.demo_sites.server import Request, Response, Site
from listings_dev.devdata import UniqueSlugs, demo_image_urls, generate_listings

PREFIX = "/arcgis/"
MAX_RECORD_COUNT = 15
EARTH_RADIUS_M = 6378137.0
EDIT_BASE_MS = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)
SERVICES = "/arcgis/rest/services"
IMAGE_SITE = "esri"  # PHOTOS point at the demo image host under /images/esri/


def _field(name: str, ftype: str, length: int | None = None, alias: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": f"esriFieldType{ftype}", "alias": alias or name}
    if length:
        out["length"] = length
    return out


POI_FIELDS = [
    _field("OBJECTID", "OID"),
    _field("GlobalID", "GlobalID", 38),
    _field("POI_ID", "String", 20),
    _field("NAME", "String", 255, "Nom"),
    _field("CATEGORY", "String", 100, "Catégorie"),
    _field("ADDRESS", "String", 255, "Adresse"),
    _field("SUITE", "String", 100),
    _field("CITY", "String", 100, "Ville"),
    _field("PROVINCE", "String", 50),
    _field("ZIP", "String", 10, "Code postal"),
    _field("COUNTRY", "String", 2),
    _field("PHONE", "String", 30, "Téléphone"),
    _field("EMAIL", "String", 255),
    _field("WEBSITE", "String", 255, "Site web"),
    _field("FACEBOOK", "String", 255),
    _field("INSTAGRAM", "String", 255),
    _field("DESCRIPTION", "String", 4000),
    _field("HOURS", "String", 1000, "Horaires"),
    _field("PHOTOS", "String", 2000),
    _field("CreationDate", "Date", 8),
    _field("EditDate", "Date", 8),
]
ATTRAIT_FIELDS = [
    _field("OBJECTID", "OID"),
    _field("SITE_ID", "String", 20),
    _field("Title", "String", 255),
    _field("Type", "String", 100),
    _field("FULLADDR", "String", 255),
    _field("Municipality", "String", 100),
    _field("Postal_Code", "String", 10),
    _field("Telephone", "String", 30),
    _field("Web", "String", 255),
    _field("EditDate", "Date", 8),
]


@dataclass
class Layer:
    id: int
    name: str
    fields: list[dict[str, Any]]
    rows: list[dict[str, Any]]  # {"attributes": {...}, "lat": float | None, "lng": float | None}
    paging: bool
    forced_wkid: int | None  # answers in this spatial reference whatever outSR says
    version: float


def _mercator(lat: float, lng: float) -> tuple[float, float]:
    x = EARTH_RADIUS_M * math.radians(lng)
    y = EARTH_RADIUS_M * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return round(x, 4), round(y, 4)


def _coords(row: dict[str, str]) -> tuple[float | None, float | None]:
    if not row["Latitude"] or not row["Longitude"]:
        return None, None
    return float(row["Latitude"]), float(row["Longitude"])


def _poi_layer(site: Site) -> Layer:
    rows = []
    image_slugs = UniqueSlugs()
    for i, r in enumerate(generate_listings(site.size, seed=site.seed, id_prefix="QC"), start=1):
        lat, lng = _coords(r)
        count = len([u for u in r["Images"].split("|") if u])
        photos = demo_image_urls(site.base_url, IMAGE_SITE, image_slugs(r["Name"]), count)
        attrs = {
            "OBJECTID": i,
            "GlobalID": "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"esri-demo/{r['ID']}")).upper() + "}",
            "POI_ID": r["ID"],
            "NAME": r["Name"],
            "CATEGORY": r["Category"],
            "ADDRESS": r["Address1"],
            "SUITE": r["Address2"] or None,
            "CITY": r["City"],
            "PROVINCE": r["Province"],
            "ZIP": r["Postal"],
            "COUNTRY": r["Country"],
            "PHONE": r["Phone"] or None,
            "EMAIL": r["Email"] or None,
            "WEBSITE": r["Website"] or None,
            "FACEBOOK": r["Facebook"] or None,
            "INSTAGRAM": r["Instagram"] or None,
            "DESCRIPTION": r["Description"],
            "HOURS": r["Hours"] or None,
            "PHOTOS": "|".join(photos) or None,
            "CreationDate": EDIT_BASE_MS - 90 * 86_400_000 + i * 3_600_000,
            "EditDate": EDIT_BASE_MS + i * 36 * 3_600_000,
        }
        rows.append({"attributes": attrs, "lat": lat, "lng": lng})
    return Layer(0, "Points d'intérêt", POI_FIELDS, rows, paging=True, forced_wkid=None, version=11.1)


def _attrait_layer(site: Site) -> Layer:
    rows = []
    listings = generate_listings(site.size, seed=site.seed + 1, id_prefix="ATT", cities=["Québec", "Lévis"])
    for i, r in enumerate(listings, start=1):
        lat, lng = _coords(r)
        attrs = {
            "OBJECTID": 1000 + 2 * i,  # gaps, as deleted features leave them
            "SITE_ID": r["ID"],
            "Title": r["Name"],
            "Type": r["Category"],
            "FULLADDR": r["Address1"],
            "Municipality": r["City"],
            "Postal_Code": r["Postal"],
            "Telephone": r["Phone"] or None,
            "Web": r["Website"] or None,
            "EditDate": EDIT_BASE_MS + i * 24 * 3_600_000,
        }
        rows.append({"attributes": attrs, "lat": lat, "lng": lng})
    return Layer(1, "Attraits", ATTRAIT_FIELDS, rows, paging=False, forced_wkid=102100, version=10.0)


def layers(site: Site) -> dict[int, Layer]:
    result: dict[int, Layer] = site.memo(
        "esri:layers", lambda: {0: _poi_layer(site), 1: _attrait_layer(site)}
    )
    return result


def touch(site: Site, layer_id: int, object_ids: list[int], when: datetime | None = None) -> None:
    """Edit features as an editor would: their EditDate moves to `when` (default: now)."""
    ms = int((when or datetime.now(UTC)).timestamp() * 1000)
    for row in layers(site)[layer_id].rows:
        if row["attributes"]["OBJECTID"] in object_ids:
            row["attributes"]["EditDate"] = ms


# ------------------------------------------------------------------------------------------------
def esri_error(code: int, message: str, details: list[str] | None = None) -> Response:
    """ArcGIS reports errors in the body, with HTTP 200."""
    return Response.json({"error": {"code": code, "message": message, "details": details or []}})


def _bad_query(detail: str) -> Response:
    return esri_error(400, "Cannot perform query. Invalid query parameters.", [detail])


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_CLAUSE = re.compile(
    r"^(\w+)\s*(>=|<=|<>|=|>|<)\s*(?:timestamp\s*'([^']*)'|'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?))$", re.I
)


def _predicate(where: str, layer: Layer) -> Callable[[dict[str, Any]], bool]:
    """A where clause as a test on attributes; ValueError when this little SQL cannot read it."""
    names = {f["name"].lower(): f["name"] for f in layer.fields}
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for part in re.split(r"\s+AND\s+", where.strip(), flags=re.I):
        text = part.strip()
        while text.startswith("(") and text.endswith(")"):
            text = text[1:-1].strip()
        if text.replace(" ", "") == "1=1":
            continue
        match = _CLAUSE.match(text)
        if not match:
            raise ValueError(f"'{part.strip()}' is not a valid where clause")
        column, op, stamp, string, number = match.groups()
        if column.lower() not in names:
            raise ValueError(f"Invalid field: {column}")
        key = names[column.lower()]
        value: Any
        if stamp is not None:
            try:
                when = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
            except ValueError:
                raise ValueError(f"invalid timestamp '{stamp}'") from None
            value = int(when.timestamp() * 1000)
        elif string is not None:
            value = string.replace("''", "'")
        else:
            value = float(number)
        compare = _OPS[op]

        def test(attrs: dict[str, Any], key: str = key, value: Any = value, compare: Any = compare) -> bool:
            current = attrs.get(key)
            if current is None:
                return False
            try:
                return bool(compare(current, value))
            except TypeError:
                return False

        tests.append(test)
    return lambda attrs: all(t(attrs) for t in tests)


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is None, 0 if value is None else value)


def _true(value: str | None) -> bool:
    return (value or "").lower() == "true"


def _query(request: Request, layer: Layer) -> Response:
    fmt = request.arg("f", "html")
    if fmt not in ("json", "pjson", "geojson"):
        return _bad_query("'f' parameter is invalid")
    where, object_ids = request.arg("where"), request.arg("objectIds")
    if not where and not object_ids:
        return _bad_query("'where' parameter is invalid")
    try:
        test = _predicate(where or "1=1", layer)
        wanted = {int(i) for i in object_ids.split(",") if i.strip()} if object_ids else None
    except ValueError as exc:
        return _bad_query(f"'where' parameter is invalid: {exc}" if where else str(exc))
    rows = [
        r
        for r in layer.rows
        if test(r["attributes"]) and (wanted is None or r["attributes"]["OBJECTID"] in wanted)
    ]
    if _true(request.arg("returnIdsOnly")):
        ids = [r["attributes"]["OBJECTID"] for r in rows]
        # Old servers answer null rather than an empty list when nothing matches.
        return Response.json({"objectIdFieldName": "OBJECTID", "objectIds": ids or None})
    if _true(request.arg("returnCountOnly")):
        return Response.json({"count": len(rows)})
    order = request.arg("orderByFields")
    if order and layer.paging:
        column, _, direction = order.strip().partition(" ")
        rows.sort(key=lambda r: _sort_key(r["attributes"].get(column)))
        if direction.strip().upper() == "DESC":
            rows.reverse()
    offset, count = 0, MAX_RECORD_COUNT
    if layer.paging:
        try:
            offset = int(request.arg("resultOffset") or 0)
            count = min(int(request.arg("resultRecordCount") or MAX_RECORD_COUNT), MAX_RECORD_COUNT)
        except ValueError:
            return _bad_query("'resultOffset' or 'resultRecordCount' parameter is invalid")
    page, exceeded = rows[offset : offset + count], offset + count < len(rows)

    out_fields = request.arg("outFields") or "*"
    keep: list[str] | None = None
    if out_fields.strip() != "*":
        names = {f["name"].lower(): f["name"] for f in layer.fields}
        keep = []
        for name in out_fields.split(","):
            if name.strip().lower() not in names:
                return _bad_query(f"'outFields' parameter is invalid: Invalid field: {name.strip()}")
            keep.append(names[name.strip().lower()])
    fields = [f for f in layer.fields if keep is None or f["name"] in keep]

    def attributes(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row["attributes"].items() if keep is None or k in keep}

    if fmt == "geojson":
        return _geojson(layer, page, attributes, exceeded)
    try:
        asked = int(request.arg("outSR") or 102100)
    except ValueError:
        return _bad_query("'outSR' parameter is invalid")
    wkid = layer.forced_wkid or (4326 if asked == 4326 else 102100)
    features = []
    for row in page:
        feature: dict[str, Any] = {"attributes": attributes(row)}
        if row["lat"] is not None:
            if wkid == 4326:
                feature["geometry"] = {"x": row["lng"], "y": row["lat"]}
            else:
                x, y = _mercator(row["lat"], row["lng"])
                feature["geometry"] = {"x": x, "y": y}
        features.append(feature)
    doc: dict[str, Any] = {
        "objectIdFieldName": "OBJECTID",
        "uniqueIdField": {"name": "OBJECTID", "isSystemMaintained": True},
        "globalIdFieldName": "GlobalID" if layer.id == 0 else "",
        "geometryType": "esriGeometryPoint",
        "spatialReference": {"wkid": 4326, "latestWkid": 4326}
        if wkid == 4326
        else {"wkid": 102100, "latestWkid": 3857},
        "fields": fields,
        "features": features,
    }
    if exceeded:
        doc["exceededTransferLimit"] = True
    return Response.json(doc, content_type="application/json; charset=utf-8")


def _geojson(
    layer: Layer,
    page: list[dict[str, Any]],
    attributes: Callable[[dict[str, Any]], dict[str, Any]],
    exceeded: bool,
) -> Response:
    mercator = layer.forced_wkid is not None
    features = []
    for row in page:
        geometry = None
        if row["lat"] is not None:
            coords = list(_mercator(row["lat"], row["lng"])) if mercator else [row["lng"], row["lat"]]
            geometry = {"type": "Point", "coordinates": coords}
        features.append(
            {
                "type": "Feature",
                "id": row["attributes"]["OBJECTID"],
                "geometry": geometry,
                "properties": attributes(row),
            }
        )
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if mercator:
        doc["crs"] = {"type": "name", "properties": {"name": "EPSG:3857"}}
    if exceeded:
        doc["properties"] = {"exceededTransferLimit": True}
    return Response.json(doc, content_type="application/geo+json; charset=utf-8")


def _metadata(layer: Layer) -> dict[str, Any]:
    xs = [_mercator(r["lat"], r["lng"]) for r in layer.rows if r["lat"] is not None]
    doc: dict[str, Any] = {
        "currentVersion": layer.version,
        "id": layer.id,
        "name": layer.name,
        "type": "Feature Layer",
        "description": "Demo layer generated by listings_dev.devdata",
        "geometryType": "esriGeometryPoint",
        "copyrightText": "Demo data",
        "extent": {
            "xmin": min((x for x, _ in xs), default=0),
            "ymin": min((y for _, y in xs), default=0),
            "xmax": max((x for x, _ in xs), default=0),
            "ymax": max((y for _, y in xs), default=0),
            "spatialReference": {"wkid": 102100, "latestWkid": 3857},
        },
        "displayField": "NAME" if layer.id == 0 else "Title",
        "objectIdField": "OBJECTID",
        "fields": layer.fields,
        "maxRecordCount": MAX_RECORD_COUNT,
        "standardMaxRecordCount": MAX_RECORD_COUNT,
        "supportedQueryFormats": "JSON, geoJSON",
        "capabilities": "Query",
        "advancedQueryCapabilities": {
            "supportsPagination": layer.paging,
            "supportsOrderBy": layer.paging,
            "supportsDistinct": layer.paging,
            "supportsQueryWithResultType": layer.paging,
            "supportsReturningGeometryCentroid": False,
        },
        "editFieldsInfo": {
            "creationDateField": "CreationDate" if layer.id == 0 else None,
            "editDateField": "EditDate",
        },
    }
    if layer.id == 0:
        doc["globalIdField"] = "GlobalID"
    return doc


def _token_error(request: Request, site: Site) -> Response | None:
    headers = {k.lower(): v for k, v in request.headers.items()}
    given = request.arg("token")
    auth = headers.get("x-esri-authorization", "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not given:
        return esri_error(499, "Token Required")
    if given != site.api_key:
        return esri_error(498, "Invalid Token")
    return None


def handle(request: Request, site: Site) -> Response:
    path = request.path.rstrip("/")
    fmt = request.arg("f", "html")
    if fmt == "html":
        return Response.html(
            f"<!doctype html><title>ArcGIS REST Services Directory</title><h1>{path}</h1>"
            "<p>Add <code>?f=json</code> for the JSON answer.</p>"
        )
    if path == SERVICES:
        return Response.json({"currentVersion": 11.1, "folders": ["Secure", "Tourism"], "services": []})
    if path in (f"{SERVICES}/Tourism", f"{SERVICES}/Secure"):
        folder = path.rsplit("/", 1)[1]
        return Response.json(
            {
                "currentVersion": 11.1,
                "folders": [],
                "services": [{"name": f"{folder}/POI", "type": "FeatureServer"}],
            }
        )
    match = re.fullmatch(rf"{SERVICES}/(Tourism|Secure)/POI/FeatureServer(?:/(\d+)(/query)?)?", path)
    if not match:
        return esri_error(400, "Invalid URL", ["Invalid URL"])
    folder, layer_id, is_query = match.groups()
    if folder == "Secure":
        problem = _token_error(request, site)
        if problem is not None:
            return problem
    all_layers = layers(site)
    if folder == "Secure":
        all_layers = {0: all_layers[0]}
    if layer_id is None:
        return Response.json(
            {
                "currentVersion": 11.1,
                "serviceDescription": "Points d'intérêt touristiques du Québec (démo)",
                "maxRecordCount": MAX_RECORD_COUNT,
                "supportedQueryFormats": "JSON, geoJSON",
                "layers": [
                    {"id": lyr.id, "name": lyr.name, "geometryType": "esriGeometryPoint"}
                    for lyr in all_layers.values()
                ],
                "spatialReference": {"wkid": 102100, "latestWkid": 3857},
            }
        )
    layer = all_layers.get(int(layer_id))
    if layer is None:
        return esri_error(400, "Invalid URL", ["Invalid URL"])
    if is_query:
        return _query(request, layer)
    return Response.json(_metadata(layer))
