"""ArcGIS feature layers (FeatureServer / MapServer REST API), and uploaded Esri JSON or GeoJSON files.

HTTP mode (`layer_url`, relative to the DMO's base_url or absolute), requests in order:

1. `GET {layer}?f=json`: the layer's metadata (`maxRecordCount`, `objectIdField` or the field typed
   `esriFieldTypeOID`, `advancedQueryCapabilities.supportsPagination`, `fields`, `editFieldsInfo`). It is
   kept as the first page of the raw envelope (`kind: metadata`); an error here fails the job.
2. Either offset paging, when the layer supports it (ArcGIS Server 10.3+ / ArcGIS Online):
   `GET {layer}/query?where=&outFields=&f=json|geojson&outSR=4326&returnGeometry=true&orderByFields=<oid>
   &resultOffset=N&resultRecordCount=M`, again while the answer says `exceededTransferLimit: true`
   (Esri JSON: top level; GeoJSON: `properties.exceededTransferLimit`), `kind: query`;
   or object-id batches (no `supportsPagination`, e.g. 10.0 servers whose metadata has no
   `advancedQueryCapabilities`, or `use_object_ids: true`): `GET {layer}/query?where=&returnIdsOnly=true&f=json`
   → `{"objectIdFieldName": "OBJECTID", "objectIds": [...] | null}` (`kind: ids`), then
   `GET {layer}/query?objectIds=1,2,3&outFields=&f=&outSR=4326&returnGeometry=true` in batches of at most
   `maxRecordCount` ids (`kind: query`).

Esri JSON answers: `{"objectIdFieldName", "geometryType", "spatialReference": {"wkid", "latestWkid"},
"fields": [...], "features": [{"attributes": {...}, "geometry": {"x", "y"} | {"rings"} | {"paths"} |
{"points"}}], "exceededTransferLimit": true}`. GeoJSON answers: a FeatureCollection of features with `id`,
`properties` and `geometry`. ArcGIS reports errors with HTTP 200 and `{"error": {"code", "message",
"details"}}` (bad where clause: 400; token required: 499; invalid token: 498): they are detected on every
response and reported with the URL. Incremental runs (`incremental: true` and a previous good run) add
`<edit_date_field> >= timestamp 'YYYY-MM-DD HH:MM:SS'` (UTC) to the where clause; the field defaults to the
layer's `editFieldsInfo.editDateField`. Deleted features cannot be seen that way (a full run sees them).

Secured services: `auth_conn_id` names an Airflow connection whose password (or extra `token`) is an
ArcGIS token, sent as `X-Esri-Authorization: Bearer <token>` so that it never lands in a stored URL.

Upload mode (`file` param, or the run's file): an Esri JSON featureSet or query answer (`{"features": ...}`),
a feature-collection layer (`{"featureSet": ..., "layerDefinition": ...}`), a web-map feature collection
(`{"layers": [{"featureSet", "layerDefinition"}]}`, possibly under `featureCollection`), or a GeoJSON
FeatureCollection; stored byte for byte (fmt json) and parsed like the answers above.

Records are the feature's `attributes` (GeoJSON: `properties`) as they came, plus derived keys:
- `_lat`, `_lng`: WGS84 from the geometry. Points as given; Web Mercator (wkid/latestWkid 102100, 3857,
  102113, 900913 — servers may ignore outSR) converted with the spherical inverse
  `lng = x / R · 180/π`, `lat = (2·atan(exp(y / R)) − π/2) · 180/π`, R = 6 378 137 m. Multipoints, lines
  and polygons get the plain average of their vertices (a polygon's first ring only): a rough label point
  that is enough to place a park or a trail, not a true centroid. NAD83 (4269, 4617) is taken as WGS84
  (they differ by about a metre); other spatial references cannot be converted without a projection
  library: the coordinates are left empty and counted in the parse metadata.
- `_object_id`: the object id (`id_field`, else the layer's object-id field, else OBJECTID/FID/OID, else
  the GeoJSON feature id). Republishing a layer can renumber object ids: map `source_id` to a stable field
  of the DMO's when the layer has one.
- `_name`: the first non-empty of `name_fields` (matched case-insensitively).
- `_address`: `{address1, city, state, zip}` from common field names (ADDRESS, FULLADDR, ADDR, else house
  number + street parts; CITY; STATE/PROVINCE; ZIP/ZIPCODE/POSTAL...), case-insensitive; None when absent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator

from listings.sources.base import (
    FetchContext,
    ParseResult,
    RawPayload,
    SourceError,
    SourceRecord,
    SourceRecordError,
)
from listings.sources.files import read_upload
from listings.sources.http import (
    ENVELOPE_FORMAT,
    HttpClient,
    HttpParams,
    Page,
    RawPages,
    get_credentials,
    provenance,
)

if TYPE_CHECKING:
    from listings.config.models import DmoConfig

DEFAULT_NAME_FIELDS = ["NAME", "PLACE_NAME", "BUSINESS_NAME", "FACILITY", "TITLE", "LABEL"]
ADDRESS1_FIELDS = (
    "ADDRESS",
    "FULLADDR",
    "FULL_ADDRESS",
    "ADDR",
    "ADDRESS1",
    "SITE_ADDRESS",
    "STREET_ADDRESS",
)
HOUSE_NUMBER_FIELDS = ("HOUSENO", "HOUSE_NUM", "HOUSENUM", "ADDNUM", "ADD_NUMBER", "ADDRNUM", "ST_NUM")
PRE_DIR_FIELDS = ("PRE_DIR", "PREDIR")
STREET_FIELDS = ("STREET", "STREET_NAME", "STREETNAME")
SUFFIX_FIELDS = ("SUFFIX", "STREET_TYPE", "STREETTYPE", "ST_TYPE")
POST_DIR_FIELDS = ("POST_DIR", "POSTDIR")
CITY_FIELDS = ("CITY", "CITY_NAME", "MUNICIPALITY", "TOWN")
STATE_FIELDS = ("STATE", "PROVINCE", "STATE_CODE")
ZIP_FIELDS = ("ZIP", "ZIPCODE", "ZIP_CODE", "POSTAL", "POSTALCODE", "POSTAL_CODE", "POSTCODE")
OID_CANDIDATES = ("OBJECTID", "FID", "OID", "OBJECTID_1")

WEB_MERCATOR_WKIDS = frozenset({102100, 102113, 900913, 3857, 3785})
# NAD83 and NAD83(CSRS) differ from WGS84 by about a metre: close enough to place a listing.
LATLNG_WKIDS = frozenset({4326, 4269, 4617})
EARTH_RADIUS_M = 6378137.0
DEFAULT_MAX_RECORD_COUNT = 1000  # what ArcGIS Server uses when the metadata does not say

Shape = Literal["esri", "geojson"]


class EsriParams(HttpParams):
    """`config_params` of an esri source."""

    layer_url: str | None = Field(
        default=None,
        description="Feature layer URL, absolute or relative to base_url, e.g. "
        "`arcgis/rest/services/Tourism/POI/FeatureServer/0` (no query string).",
    )
    where: str = Field(default="1=1", min_length=1, description="SQL where clause of the query.")
    out_fields: str = Field(default="*", min_length=1, description="`outFields`: `*` or a comma list.")
    format: Literal["json", "geojson"] = Field(
        default="json", description="Response format asked for: Esri JSON or GeoJSON (`f=`)."
    )
    page_size: int | None = Field(
        default=None, ge=1, description="Features per request; default and cap: the layer's maxRecordCount."
    )
    use_object_ids: bool = Field(
        default=False,
        description="Page by object-id batches even when the layer supports resultOffset paging.",
    )
    edit_date_field: str | None = Field(
        default=None,
        description="Date field for incremental runs (default: the layer's editFieldsInfo.editDateField).",
    )
    id_field: str | None = Field(
        default=None, description="Attribute holding the object id (default: the layer's)."
    )
    name_fields: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NAME_FIELDS),
        min_length=1,
        description="Attributes tried in order (case-insensitive) for `_name`.",
    )
    file: str | None = Field(
        default=None,
        description="Upload mode: an Esri JSON featureSet / FeatureCollection or GeoJSON file "
        "(relative: to the project dir).",
    )
    image_separator: str = Field(
        default="|", min_length=1, description="Separator of image URLs in one field."
    )

    @field_validator("layer_url")
    @classmethod
    def _layer_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if "?" in v:
            raise ValueError("give the layer URL without a query string (use where / out_fields)")
        v = v.rstrip("/")
        return v.removesuffix("/query") or None


class EsriServiceError(SourceError):
    """An ArcGIS error body (`{"error": {...}}`, usually with HTTP 200)."""

    def __init__(self, url: str, error: Mapping[str, Any]) -> None:
        details = [str(d) for d in error.get("details") or [] if d]
        message = (
            f"ArcGIS error {error.get('code', '?')} for GET {url}: {error.get('message') or 'no message'}"
        )
        super().__init__(message + (f" ({'; '.join(details)})" if details else ""))
        self.url = url
        self.code = error.get("code")


def _esri_error(body: Any) -> Mapping[str, Any] | None:
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return body["error"]  # type: ignore[no-any-return]
    return None


def web_mercator_to_wgs84(x: float, y: float) -> tuple[float, float]:
    """(lat, lng) in degrees of a spherical Web Mercator (EPSG:3857) point in metres."""
    lng = math.degrees(x / EARTH_RADIUS_M)
    lat = math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS_M)) - math.pi / 2)
    return lat, lng


# ------------------------------------------------------------------------------------------------
# Parsing: shared by HTTP answers and uploads


def _wkid(sr: Any) -> int | None:
    """The spatial reference's id; latestWkid first since wkid may be the deprecated 102100."""
    if isinstance(sr, Mapping):
        for key in ("latestWkid", "wkid"):
            value = sr.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def _crs_wkid(crs: Any) -> int | None:
    """EPSG code of an (old-style) GeoJSON `crs` member: `EPSG:3857`, `urn:ogc:def:crs:EPSG::3857`."""
    if isinstance(crs, Mapping) and isinstance(crs.get("properties"), Mapping):
        name = str(crs["properties"].get("name", ""))
        if "CRS84" in name.upper():
            return 4326
        match = re.search(r"(\d+)\s*$", name)
        if match:
            return int(match.group(1))
    return None


@dataclass
class _Collection:
    """The features of one answer or file section, and what is needed to read them."""

    features: list[Any]
    shape: Shape
    wkid: int | None
    oid_field: str | None


@dataclass
class _GeometryStats:
    points: int = 0
    averaged: int = 0
    web_mercator: int = 0
    missing: int = 0
    unsupported: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "vertex_averages": self.averaged,
            "from_web_mercator": self.web_mercator,
            "missing": self.missing,
            "unsupported_spatial_reference": dict(sorted(self.unsupported.items())),
        }


def _oid_field_of(doc: Mapping[str, Any]) -> str | None:
    for key in ("objectIdFieldName", "objectIdField"):
        if isinstance(doc.get(key), str) and doc[key]:
            return str(doc[key])
    for f in doc.get("fields") or []:
        if isinstance(f, Mapping) and f.get("type") == "esriFieldTypeOID" and f.get("name"):
            return str(f["name"])
    return None


def _collections(doc: Any, default_oid: str | None = None) -> list[_Collection] | None:
    """The feature collections in an answer or an uploaded document, or None when it has none."""
    if not isinstance(doc, Mapping):
        return None
    if isinstance(doc.get("featureCollection"), Mapping):
        doc = doc["featureCollection"]
    if doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
        return [_Collection(doc["features"], "geojson", _crs_wkid(doc.get("crs")) or 4326, default_oid)]
    if isinstance(doc.get("features"), list):
        oid = _oid_field_of(doc) or default_oid
        return [_Collection(doc["features"], "esri", _wkid(doc.get("spatialReference")), oid)]
    if isinstance(doc.get("featureSet"), Mapping):
        fs, layer = doc["featureSet"], doc.get("layerDefinition")
        layer = layer if isinstance(layer, Mapping) else {}
        if not isinstance(fs.get("features"), list):
            return None
        extent = layer.get("extent") if isinstance(layer.get("extent"), Mapping) else {}
        wkid = (
            _wkid(fs.get("spatialReference"))
            or _wkid(layer.get("spatialReference"))
            or _wkid(extent.get("spatialReference") if extent else None)
        )
        oid = _oid_field_of(fs) or _oid_field_of(layer) or default_oid
        return [_Collection(fs["features"], "esri", wkid, oid)]
    if isinstance(doc.get("layers"), list):
        out: list[_Collection] = []
        for layer_doc in doc["layers"]:
            found = _collections(layer_doc, default_oid)
            if found:
                out.extend(found)
        return out if out else None
    return None


def _lookup(attrs: Mapping[str, Any], names: Any) -> Any:
    """The first non-empty attribute among `names`: exact key first, then case-insensitive."""
    lowered: dict[str, str] = {}
    for attr in attrs:
        lowered.setdefault(str(attr).lower(), attr)
    for name in names:
        key = name if name in attrs else lowered.get(name.lower())
        if key is None:
            continue
        value = attrs[key]
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        return value
    return None


def _address(attrs: Mapping[str, Any]) -> dict[str, Any]:
    address1 = _lookup(attrs, ADDRESS1_FIELDS)
    if address1 is None:
        street = _lookup(attrs, STREET_FIELDS)
        if street is not None:
            parts = [
                _lookup(attrs, HOUSE_NUMBER_FIELDS),
                _lookup(attrs, PRE_DIR_FIELDS),
                street,
                _lookup(attrs, SUFFIX_FIELDS),
                _lookup(attrs, POST_DIR_FIELDS),
            ]
            address1 = " ".join(str(p).strip() for p in parts if p is not None and str(p).strip())
    return {
        "address1": address1,
        "city": _lookup(attrs, CITY_FIELDS),
        "state": _lookup(attrs, STATE_FIELDS),
        "zip": _lookup(attrs, ZIP_FIELDS),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _xy(position: Any) -> tuple[float, float] | None:
    if isinstance(position, list | tuple) and len(position) >= 2:
        x, y = _number(position[0]), _number(position[1])
        if x is not None and y is not None:
            return x, y
    return None


def _ring(ring: Any) -> list[tuple[float, float]]:
    points = [p for p in (_xy(v) for v in ring) if p is not None] if isinstance(ring, list) else []
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()  # a closed ring repeats its first vertex: do not count it twice
    return points


def _vertices(geometry: Any, shape: Shape) -> tuple[list[tuple[float, float]], bool]:
    """The geometry's vertices, and whether it is a single point."""
    if not isinstance(geometry, Mapping):
        return [], False
    if shape == "esri":
        if "x" in geometry:
            point = _xy([geometry.get("x"), geometry.get("y")])
            return ([point] if point else []), True
        if isinstance(geometry.get("rings"), list) and geometry["rings"]:
            return _ring(geometry["rings"][0]), False
        if isinstance(geometry.get("paths"), list):
            return [p for path in geometry["paths"] for p in _ring(path)], False
        if isinstance(geometry.get("points"), list):
            return [p for p in (_xy(v) for v in geometry["points"]) if p], False
        return [], False
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Point":
        point = _xy(coords)
        return ([point] if point else []), True
    if kind in ("MultiPoint", "LineString"):
        return _ring(coords), False
    if kind == "MultiLineString" and isinstance(coords, list):
        return [p for line in coords for p in _ring(line)], False
    if kind == "Polygon" and isinstance(coords, list) and coords:
        return _ring(coords[0]), False
    if kind == "MultiPolygon" and isinstance(coords, list):
        return [p for poly in coords if isinstance(poly, list) and poly for p in _ring(poly[0])], False
    return [], False


def _lat_lng(geometry: Any, shape: Shape, wkid: int | None, stats: _GeometryStats) -> tuple[Any, Any]:
    if isinstance(geometry, Mapping) and shape == "esri":
        wkid = _wkid(geometry.get("spatialReference")) or wkid
    vertices, single = _vertices(geometry, shape)
    if not vertices:
        stats.missing += 1
        return None, None
    x = sum(v[0] for v in vertices) / len(vertices)
    y = sum(v[1] for v in vertices) / len(vertices)
    if single:
        stats.points += 1
    else:
        stats.averaged += 1
    if wkid in WEB_MERCATOR_WKIDS:
        stats.web_mercator += 1
        lat, lng = web_mercator_to_wgs84(x, y)
    elif wkid is None or wkid in LATLNG_WKIDS:
        # No spatial reference: the value is passed on; if it is not degrees the cleaner flags it.
        lat, lng = y, x
    else:
        stats.unsupported[str(wkid)] = stats.unsupported.get(str(wkid), 0) + 1
        return None, None
    # 7 decimals is about 1 cm: stable text for the hashes whatever the float noise of the conversion.
    return round(lat, 7), round(lng, 7)


@dataclass
class _ParseState:
    params: EsriParams
    stats: _GeometryStats = field(default_factory=_GeometryStats)
    records: list[SourceRecord] = field(default_factory=list)
    errors: list[SourceRecordError] = field(default_factory=list)
    row_no: int = 0

    def add(self, coll: _Collection, page: Mapping[str, Any] | None, layer_url: str | None) -> None:
        oid_field = self.params.id_field or coll.oid_field
        for feature in coll.features:
            self.row_no += 1
            attrs_key = "properties" if coll.shape == "geojson" else "attributes"
            attrs = feature.get(attrs_key) if isinstance(feature, Mapping) else None
            if attrs is None and isinstance(feature, Mapping) and "geometry" in feature:
                attrs = {}  # a bare geometry still is a feature; the name check rejects it later
            if not isinstance(attrs, Mapping):
                self.errors.append(
                    SourceRecordError(
                        self.row_no,
                        "malformed_feature",
                        f"feature {self.row_no} has no `{attrs_key}` object",
                        {"feature": feature if isinstance(feature, Mapping) else repr(feature)[:500]},
                    )
                )
                continue
            oid = _lookup(attrs, [oid_field]) if oid_field else None
            if oid is None and not oid_field:
                oid = _lookup(attrs, OID_CANDIDATES)
            if oid is None and coll.shape == "geojson":
                oid = feature.get("id")
            lat, lng = _lat_lng(feature.get("geometry"), coll.shape, coll.wkid, self.stats)
            values = {
                **attrs,
                "_lat": lat,
                "_lng": lng,
                "_object_id": oid,
                "_name": _lookup(attrs, self.params.name_fields),
                "_address": _address(attrs),
            }
            if page is not None:
                own_url = f"{layer_url}/{oid}" if layer_url and oid is not None else None
                prov = provenance(page, original_id=oid, source_url=own_url)
            else:
                prov = {"row_no": self.row_no, "original_id": None if oid is None else str(oid)}
            self.records.append(SourceRecord(self.row_no, values, prov))


def _layer_info(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    if not meta:
        return {}
    aqc = meta.get("advancedQueryCapabilities")
    edit = meta.get("editFieldsInfo")
    return {
        "name": meta.get("name"),
        "type": meta.get("type"),
        "current_version": meta.get("currentVersion"),
        "geometry_type": meta.get("geometryType"),
        "object_id_field": _oid_field_of(meta),
        "max_record_count": meta.get("maxRecordCount"),
        "supports_pagination": bool(aqc.get("supportsPagination")) if isinstance(aqc, Mapping) else False,
        "edit_date_field": edit.get("editDateField") if isinstance(edit, Mapping) else None,
        "fields": [f.get("name") for f in meta.get("fields") or [] if isinstance(f, Mapping)],
    }


# ------------------------------------------------------------------------------------------------
# Fetching


def _decode(page: Page) -> Any:
    """The JSON body of an answer; None when it is not JSON. Raises on an ArcGIS error body."""
    try:
        body = page.json()
    except json.JSONDecodeError:
        return None
    error = _esri_error(body)
    if error is not None:
        raise EsriServiceError(page.url, error)
    return body


def _exceeded(body: Any) -> bool:
    if not isinstance(body, Mapping):
        return False
    if body.get("exceededTransferLimit") is True:
        return True
    props = body.get("properties")
    return isinstance(props, Mapping) and props.get("exceededTransferLimit") is True


def _features(body: Any) -> list[Any] | None:
    if isinstance(body, Mapping) and isinstance(body.get("features"), list):
        return body["features"]  # type: ignore[no-any-return]
    return None


def _malformed(page: Page, what: str) -> str:
    return f"{what} of GET {page.url} is not a valid ArcGIS answer; fetching stopped"


class EsriSource:
    source_type: ClassVar[str] = "esri"
    params_model: ClassVar[type[BaseModel]] = EsriParams
    default_mappings: ClassVar[dict[str, str]] = {
        "source_id": "_object_id",
        "name": "_name",
        "address1": "_address.address1",
        "city": "_address.city",
        "state": "_address.state",
        "zip": "_address.zip",
        "lat": "_lat",
        "lng": "_lng",
    }

    # -- fetch ---------------------------------------------------------------------------------------
    def fetch(self, ctx: FetchContext) -> RawPayload:
        params = ctx.params
        assert isinstance(params, EsriParams)
        dmo = ctx.config.dmo.id
        if ctx.file is not None or params.file:
            data, metadata, uri = read_upload(ctx, params.file, "Esri JSON / GeoJSON")
            return RawPayload(data=data, fmt="json", source_uri=uri, metadata=metadata)
        if not params.layer_url:
            raise SourceError(f"DMO {dmo}: set config_params.layer_url (or give an Esri JSON / GeoJSON file)")
        layer = self._layer_url(ctx, params.layer_url)
        client = HttpClient(params, headers=self._auth_headers(params))
        raw = RawPages(self.source_type, request={"layer_url": layer, "format": params.format})

        meta_page = client.get(layer, {"f": "json"})
        meta = _decode(meta_page)
        if not isinstance(meta, Mapping):
            raise SourceError(f"DMO {dmo}: " + _malformed(meta_page, "the layer metadata"))
        raw.add(meta_page, kind="metadata")
        info = _layer_info(meta)
        max_count = info["max_record_count"]
        max_count = max_count if isinstance(max_count, int) and max_count > 0 else DEFAULT_MAX_RECORD_COUNT
        size = min(params.page_size or max_count, max_count)
        oid_field = params.id_field or info["object_id_field"]
        by_ids = params.use_object_ids or not info["supports_pagination"]

        where = params.where
        edit_field = params.edit_date_field or info["edit_date_field"]
        since = ctx.since if params.incremental else None
        if since is not None and edit_field:
            clause = f"{edit_field} >= timestamp '{since.astimezone(UTC):%Y-%m-%d %H:%M:%S}'"
            where = clause if where.replace(" ", "") == "1=1" else f"({where}) AND {clause}"
        raw.request.update(
            {
                "query_url": f"{layer}/query",
                "where": where,
                "out_fields": params.out_fields,
                "out_sr": 4326,
                "mode": "object_ids" if by_ids else "offset",
                "page_size": size,
                "since": since.isoformat() if since else None,
                "edit_date_field": edit_field if since else None,
                "limit": ctx.limit,
            }
        )
        if since is not None and not edit_field:
            raw.request["since_ignored"] = "no edit_date_field and the layer names no editDateField"

        query = {
            "where": where,
            "outFields": params.out_fields,
            "f": params.format,
            "outSR": 4326,
            "returnGeometry": "true",
        }
        # Not keep_partial(): the metadata page is already kept, yet a failure on the first page of
        # features must still fail the job rather than end it `partial` with nothing.
        try:
            if by_ids:
                self._by_ids(client, raw, f"{layer}/query", query, size, params, ctx.limit)
            else:
                self._by_offset(client, raw, f"{layer}/query", query, oid_field, size, params, ctx.limit)
        except SourceError as exc:
            if not any(p.get("kind") == "query" for p in raw.pages):
                raise
            raw.error = str(exc)
        return raw.payload(layer, layer_name=info.get("name"), mode=raw.request["mode"])

    @staticmethod
    def _layer_url(ctx: FetchContext, layer_url: str) -> str:
        if re.match(r"https?://", layer_url):
            return layer_url
        if ctx.config.base_url is None:
            raise SourceError(
                f"DMO {ctx.config.dmo.id}: layer_url {layer_url!r} is relative but base_url is not set"
            )
        return f"{str(ctx.config.base_url).rstrip('/')}/{layer_url.lstrip('/')}"

    @staticmethod
    def _auth_headers(params: EsriParams) -> dict[str, str]:
        if not params.auth_conn_id:
            return {}
        creds = get_credentials(params.auth_conn_id)
        token = creds.password or creds.extra.get("token")
        if not token:
            raise SourceError(
                f"Airflow connection {params.auth_conn_id!r} holds no token (password or extra.token)"
            )
        return {"X-Esri-Authorization": f"Bearer {token}"}

    @staticmethod
    def _by_offset(
        client: HttpClient,
        raw: RawPages,
        url: str,
        query: dict[str, Any],
        oid_field: str | None,
        size: int,
        params: EsriParams,
        limit: int | None,
    ) -> None:
        offset = pages = got = 0
        while True:
            count = size if limit is None else max(1, min(size, limit - got))
            page_query = {**query, **({"orderByFields": oid_field} if oid_field else {})}
            page = client.get(url, {**page_query, "resultOffset": offset, "resultRecordCount": count})
            body = _decode(page)
            raw.add(page, kind="query")
            features = _features(body)
            if features is None:
                raw.error = _malformed(page, "the answer")
                return
            pages += 1
            got += len(features)
            offset += len(features)
            if not features or not _exceeded(body) or (limit is not None and got >= limit):
                return
            if params.max_pages is not None and pages >= params.max_pages:
                raw.request["stopped"] = f"max_pages ({params.max_pages}) reached"
                return

    @staticmethod
    def _by_ids(
        client: HttpClient,
        raw: RawPages,
        url: str,
        query: dict[str, Any],
        size: int,
        params: EsriParams,
        limit: int | None,
    ) -> None:
        ids_page = client.get(url, {"where": query["where"], "returnIdsOnly": "true", "f": "json"})
        body = _decode(ids_page)
        if not isinstance(body, Mapping) or not isinstance(body.get("objectIds") or [], list):
            raise SourceError(_malformed(ids_page, "the object-id list"))
        raw.add(ids_page, kind="ids")
        ids: list[Any] = list(body.get("objectIds") or [])
        if all(isinstance(i, int) for i in ids):
            ids.sort()  # stable batches whatever order the server lists them in
        if limit is not None:
            ids = ids[:limit]
        batch_query = {k: v for k, v in query.items() if k != "where"}
        for n, start in enumerate(range(0, len(ids), size)):
            if params.max_pages is not None and n >= params.max_pages:
                raw.request["stopped"] = f"max_pages ({params.max_pages}) reached"
                return
            batch = ids[start : start + size]
            page = client.get(url, {"objectIds": ",".join(str(i) for i in batch), **batch_query})
            body = _decode(page)
            raw.add(page, kind="query", object_ids=len(batch))
            if _features(body) is None:
                raw.error = _malformed(page, "the answer")
                return

    # -- parse ---------------------------------------------------------------------------------------
    def parse(self, data: bytes, config: DmoConfig) -> ParseResult:
        params = EsriParams.model_validate(config.config_params)
        try:
            doc = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SourceError(f"DMO {config.dmo.id}: the payload is not JSON ({exc})") from None
        if isinstance(doc, Mapping) and doc.get("format") == ENVELOPE_FORMAT:
            return self._parse_pages(RawPages.load(data), params)
        return self._parse_upload(doc, params, config)

    @staticmethod
    def _parse_upload(doc: Any, params: EsriParams, config: DmoConfig) -> ParseResult:
        error = _esri_error(doc)
        if error is not None:
            raise SourceError(
                f"DMO {config.dmo.id}: the file is an ArcGIS error answer, not features: "
                f"{error.get('code', '?')} {error.get('message') or ''}".rstrip()
            )
        collections = _collections(doc)
        if collections is None:
            raise SourceError(
                f"DMO {config.dmo.id}: the file is not an Esri JSON featureSet / FeatureCollection "
                "or a GeoJSON FeatureCollection (no `features` list found)"
            )
        state = _ParseState(params)
        for coll in collections:
            state.add(coll, None, None)
        return ParseResult(
            state.records,
            state.errors,
            {
                "shape": sorted({c.shape for c in collections}),
                "spatial_references": sorted({c.wkid for c in collections if c.wkid is not None}),
                "geometry": state.stats.as_dict(),
            },
        )

    @staticmethod
    def _parse_pages(raw: RawPages, params: EsriParams) -> ParseResult:
        state = _ParseState(params)
        layer_url = raw.request.get("layer_url")
        meta: Mapping[str, Any] | None = None
        for page, body, error in raw.json_pages():
            if error is not None:
                state.errors.append(error)
                continue
            kind = page.get("kind")
            if kind == "metadata":
                meta = body if isinstance(body, Mapping) else None
                continue
            if kind != "query":
                continue
            default_oid = _oid_field_of(meta) if meta else None
            collections = _collections(body, default_oid)
            if collections is None:
                state.errors.append(
                    SourceRecordError(
                        0,
                        "malformed_response",
                        f"response of GET {page['url']} has no features list",
                        {"url": page["url"], "status": page["status"], "body_start": page["text"][:200]},
                    )
                )
                continue
            for coll in collections:
                if coll.wkid is None and coll.shape == "esri":
                    coll.wkid = 4326  # what was asked (outSR); servers name it when they answer otherwise
                state.add(coll, page, layer_url)
        state.errors.extend(raw.fetch_error())
        return ParseResult(
            state.records,
            state.errors,
            {
                "layer": _layer_info(meta),
                "mode": raw.request.get("mode"),
                "where": raw.request.get("where"),
                "geometry": state.stats.as_dict(),
            },
        )
