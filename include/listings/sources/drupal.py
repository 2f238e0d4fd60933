"""Drupal sites through the core JSON:API module.

Request: ``GET {base_url}[/{langcode}]/jsonapi/{entity_type}/{bundle}`` (or ``{base_url}/{resource_path}``,
e.g. a jsonapi_views display) with ``Accept: application/vnd.api+json`` and the query
``page[limit]=<page_limit>``, ``sort=drupal_internal__nid`` (paging by offset is only stable on a
sorted collection), ``include=field_image,field_category`` (the `include` param) and, on incremental runs,
``filter[changed][condition][path]=changed``, ``filter[changed][condition][operator]=>=``,
``filter[changed][condition][value]=<since, to the second>``. Later pages come from ``links.next.href`` as the site
wrote it (Drupal carries the query over); paging ends when a document has no ``links.next``.

Response (a JSON:API document)::

    {"data": [{"type": "node--place", "id": "<uuid>", "links": {"self": {"href": ...}},
               "attributes": {"drupal_internal__nid": 12, "langcode": "en", "title": ..., "changed": ...,
                              "body": {"value": "<p>..</p>", "processed": "<p>..</p>", ...},
                              "field_address": {"address_line1": ..., "locality": ..., "country_code": ...},
                              "field_location": {"lat": 45.5, "lon": -73.6, "value": "POINT (-73.6 45.5)"}},
               "relationships": {"field_image": {"data": [{"type": "file--file", "id": "<uuid>"}]},
                                 "field_category": {"data": [{"type": "taxonomy_term--category", ...}]}}}],
     "included": [{"type": "file--file", "id": ..., "attributes": {"uri": {"url": "/sites/default/files/a.jpg"}}},
                  {"type": "taxonomy_term--category", "id": ..., "attributes": {"name": "Hôtel"}}],
     "links": {"next": {"href": ...}, "self": {"href": ...}}}

A single-resource document (``"data": {...}``) is read as one item. An error document
(``{"errors": [{"status": "404", "title": "Not Found", "detail": ...}]}``) is reported with its URL: on the
first page the job fails, later the pages already fetched are kept and the job ends `partial`.

Each item becomes one record: ``id``, ``type``, ``links``, ``attributes`` and ``relationships`` as they
came, plus derived keys: ``_source_id`` (``drupal_internal__nid``, else the uuid), ``_langcode``,
``_url``, ``_images`` (absolute file URLs of related images, through media entities too; an image style's
derivative when `image_style` is set), ``_terms`` (names of related taxonomy terms), ``_description``
(the body's HTML as text), ``_lat``/``_lng`` (geofield or geolocation field), ``_address`` (the Address
module's parts) and ``_related`` (every included resource by relationship name, for custom mappings).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import unquote, urlencode, urljoin, urlsplit, urlunsplit

import requests
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
    HttpError,
    HttpParams,
    Page,
    RawPages,
    get_credentials,
    keep_partial,
    provenance,
)
from listings.transform.html import html_to_text

if TYPE_CHECKING:
    from listings.config.models import DmoConfig

JSONAPI_MEDIA_TYPE = "application/vnd.api+json"
ADDRESS_PARTS = (
    "address_line1",
    "address_line2",
    "address_line3",
    "dependent_locality",
    "locality",
    "administrative_area",
    "postal_code",
    "country_code",
    "organization",
)
# Query keys the connector owns; letting `query` set them too would make the request ambiguous.
_OWNED_KEYS = ("include", "sort", "page[")
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_LANGCODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]+)*$")
_WKT_POINT = re.compile(r"POINT\s*\(\s*(-?[\d.]+(?:[eE][-+]?\d+)?)\s+(-?[\d.]+(?:[eE][-+]?\d+)?)", re.I)


class DrupalParams(HttpParams):
    """`config_params` of a drupal source (besides the shared HTTP ones)."""

    bundle: str | None = Field(
        default=None, description="Bundle (content type) to read: {base_url}/jsonapi/<entity_type>/<bundle>."
    )
    entity_type: str = Field(
        default="node", description="Entity type of the bundle (node, taxonomy_term...)."
    )
    resource_path: str | None = Field(
        default=None,
        description="Instead of entity_type/bundle: the collection's path under the site root, "
        "e.g. jsonapi/views/places/page_1 (a jsonapi_views display).",
    )
    jsonapi_prefix: str = Field(
        default="jsonapi", description="The JSON:API base path, when the site changed it (jsonapi_extras)."
    )
    page_limit: int = Field(
        default=50,
        ge=1,
        le=500,
        description="page[limit]; Drupal serves at most 50 unless the site allows more.",
    )
    include: list[str] = Field(
        default_factory=list,
        description="Relationships to embed (include=), e.g. field_image, field_category, "
        "field_media_image.field_media_image; images and terms are only found among included resources.",
    )
    sort: str | None = Field(
        default="drupal_internal__nid",
        description="sort= for stable offset paging; null for resources that refuse it (views).",
    )
    query: dict[str, str] = Field(
        default_factory=dict,
        description='Extra query parameters, e.g. {"filter[status]": "1"}; not include/sort/page[...].',
    )
    langcode: str | None = Field(
        default=None, description="Read this translation (e.g. fr) instead of the default language."
    )
    language_negotiation: Literal["path", "query"] = Field(
        default="path",
        description="How the site picks the language: a path prefix (/fr/jsonapi/..., Drupal's default) "
        "or a query parameter (language_query_param).",
    )
    language_query_param: str = Field(
        default="language", description="Query parameter of the site's query-based language negotiation."
    )
    changed_field: str = Field(default="changed", description="Field filtered on by incremental runs.")
    since_format: Literal["timestamp", "iso8601"] = Field(
        default="timestamp",
        description="Filter value of incremental runs: a Unix timestamp (what `changed`, a timestamp "
        "field, compares against) or an ISO 8601 date (for datetime fields).",
    )
    image_fields: list[str] | None = Field(
        default=None,
        description="Relationships holding the images; default: every relationship to an image "
        "file--file or a media entity.",
    )
    image_style: str | None = Field(
        default=None,
        description="Use this image style's derivative (file links from consumer_image_styles, or "
        "attributes.image_style_uri) instead of the original file when the site offers it.",
    )
    term_fields: list[str] | None = Field(
        default=None,
        description="Relationships holding the categories; default: every relationship to a taxonomy term.",
    )
    description_field: str = Field(default="body", description="Text (HTML) field read as the description.")
    geo_field: str = Field(
        default="field_location", description="Geofield/geolocation field: lat with lng, lon or longitude."
    )
    address_field: str = Field(default="field_address", description="Address-module field.")

    @field_validator(
        "bundle", "entity_type", "changed_field", "description_field", "geo_field", "address_field"
    )
    @classmethod
    def _machine_name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError(f"{v!r} is not a Drupal machine name (letters, digits, _)")
        return v

    @field_validator("langcode")
    @classmethod
    def _langcode(cls, v: str | None) -> str | None:
        if v is not None and not _LANGCODE.match(v):
            raise ValueError(f"{v!r} is not a language code such as fr or pt-br")
        return v

    @field_validator("query")
    @classmethod
    def _query(cls, v: dict[str, str]) -> dict[str, str]:
        owned = sorted(k for k in v if k.startswith(_OWNED_KEYS))
        if owned:
            raise ValueError(f"set {', '.join(owned)} with the include/sort/page_limit params, not query")
        return v

    @model_validator(mode="after")
    def _resource(self) -> DrupalParams:
        if (self.bundle is None) == (self.resource_path is None):
            raise ValueError("set exactly one of bundle (e.g. place) and resource_path")
        return self


# ------------------------------------------------------------------------------------------------
def resource_url(base_url: str, params: DrupalParams) -> str:
    """The collection URL; a path-negotiated translation lives under the language prefix."""
    base = base_url.rstrip("/")
    if params.langcode and params.language_negotiation == "path":
        base = f"{base}/{params.langcode}"
    if params.resource_path is not None:
        return f"{base}/{params.resource_path.strip('/')}"
    return f"{base}/{params.jsonapi_prefix.strip('/')}/{params.entity_type}/{params.bundle}"


def first_query(params: DrupalParams, *, since: datetime | None, limit: int | None) -> dict[str, str]:
    query: dict[str, str] = {
        "page[limit]": str(min(params.page_limit, limit) if limit else params.page_limit)
    }
    if params.sort:
        query["sort"] = params.sort
    if params.include:
        query["include"] = ",".join(params.include)
    if since is not None:  # `changed` is kept to the second: from the second the last run started in
        key = f"filter[{params.changed_field}][condition]"
        start = since.replace(microsecond=0)
        value = str(int(start.timestamp())) if params.since_format == "timestamp" else start.isoformat()
        query.update({f"{key}[path]": params.changed_field, f"{key}[operator]": ">=", f"{key}[value]": value})
    if params.langcode and params.language_negotiation == "query":
        query[params.language_query_param] = params.langcode
    query.update(params.query)
    return query


def jsonapi_errors(doc: Any) -> str | None:
    """A JSON:API error document as one line ("404 Not Found: detail; ..."), or None if it is not one."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("errors"), list) or doc.get("data"):
        return None
    parts = []
    for err in doc["errors"][:5]:
        if not isinstance(err, Mapping):
            continue
        head = " ".join(str(err[k]) for k in ("status", "title") if err.get(k)) or "error"
        detail = err.get("detail")
        source = err.get("source")
        where = ""
        if isinstance(source, Mapping) and (source.get("parameter") or source.get("pointer")):
            where = f" (at {source.get('parameter') or source.get('pointer')})"
        parts.append(f"{head}: {detail}{where}" if detail else f"{head}{where}")
    more = len(doc["errors"]) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "") or "an empty errors list"


class _ErrorBodies:
    """Keeps the body of the last 4xx/5xx response: HttpClient raises before a caller sees it, and the
    JSON:API error document in it says what was wrong (an unknown bundle, a bad include or filter)."""

    def __init__(self) -> None:
        self.last: str | None = None

    def capture(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code >= 400:
            self.last = response.text[:20_000]

    def explain(self) -> str | None:
        if self.last is None:
            return None
        try:
            return jsonapi_errors(json.loads(self.last))
        except ValueError:
            return None


def _next_href(doc: Mapping[str, Any]) -> str | None:
    links = doc.get("links")
    nxt = links.get("next") if isinstance(links, Mapping) else None
    href = nxt.get("href") if isinstance(nxt, Mapping) else nxt
    return href if isinstance(href, str) and href else None


def _rebase(href: str, base_url: str) -> str:
    """A next link on the configured scheme and host. Drupal behind a proxy often writes its internal
    address (http://, another host) into links; following it would bypass the host we are polite to."""
    absolute = urljoin(base_url.rstrip("/") + "/", href)
    parts, base = urlsplit(absolute), urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


def _count(doc: Mapping[str, Any]) -> int:
    data = doc.get("data")
    return len(data) if isinstance(data, list) else 1 if isinstance(data, Mapping) else 0


# ------------------------------------------------------------------------------------------------
def _first(value: Any) -> Any:
    return (value[0] if value else None) if isinstance(value, list) else value


def _description(value: Any) -> str | None:
    value = _first(value)
    if isinstance(value, Mapping):
        value = value.get("processed") or value.get("value")
    return html_to_text(value) if isinstance(value, str) and value.strip() else None


def _coordinates(value: Any) -> tuple[Any, Any]:
    value = _first(value)
    if not isinstance(value, Mapping):
        return None, None
    lat = next((value[k] for k in ("lat", "latitude") if value.get(k) not in (None, "")), None)
    lng = next((value[k] for k in ("lng", "lon", "longitude") if value.get(k) not in (None, "")), None)
    if (lat is None or lng is None) and isinstance(value.get("value"), str):
        point = _WKT_POINT.search(value["value"])  # WKT is "POINT (lng lat)"
        if point:
            lng, lat = point.group(1), point.group(2)
    return lat, lng


def _address(value: Any) -> dict[str, Any]:
    value = _first(value)
    if not isinstance(value, Mapping):
        return {}
    # Every part, None when blank: a mapped part that is empty is "empty" in a preview, not "missing".
    return {k: None if value.get(k) in (None, "") else value[k] for k in ADDRESS_PARTS}


def _linkages(rel: Any) -> list[Mapping[str, Any]]:
    data = rel.get("data") if isinstance(rel, Mapping) else None
    items = data if isinstance(data, list) else [data] if isinstance(data, Mapping) else []
    return [d for d in items if isinstance(d, Mapping) and d.get("type") and d.get("id")]


Index = dict[tuple[str, str], Mapping[str, Any]]


def _related(relationships: Mapping[str, Any], index: Index) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for name, rel in relationships.items():
        found = [index[key] for d in _linkages(rel) if (key := (str(d["type"]), str(d["id"]))) in index]
        if found:
            out[name] = found
    return out


class _Images:
    def __init__(self, base_url: str, style: str | None) -> None:
        self.base = base_url.rstrip("/") + "/"
        self.style = style

    def file_url(self, file: Mapping[str, Any]) -> str | None:
        attrs = file.get("attributes") or {}
        if self.style:
            links = file.get("links") or {}
            styled = links.get(self.style) if isinstance(links, Mapping) else None
            href = styled.get("href") if isinstance(styled, Mapping) else None
            uris = attrs.get("image_style_uri")
            for entry in uris if isinstance(uris, list) else [uris]:
                if not href and isinstance(entry, Mapping) and isinstance(entry.get(self.style), str):
                    href = entry[self.style]
            if isinstance(href, str) and href:
                return urljoin(self.base, href)
        uri = attrs.get("uri")
        url = uri.get("url") if isinstance(uri, Mapping) else None
        if (
            not url
            and isinstance(uri, Mapping)
            and str(uri.get("value", "")).startswith(("http://", "https://"))
        ):
            url = uri["value"]
        if not url and isinstance(uri, str) and uri.startswith(("http://", "https://", "/")):
            url = uri
        return urljoin(self.base, url) if isinstance(url, str) and url else None

    def of(self, resource: Mapping[str, Any], index: Index, *, any_file: bool) -> list[str]:
        kind = str(resource.get("type", ""))
        if kind == "file--file":
            mime = str((resource.get("attributes") or {}).get("filemime") or "")
            if any_file or mime.startswith("image/") or not mime:
                url = self.file_url(resource)
                return [url] if url else []
            return []
        if kind.startswith("media--"):
            # A media entity points at its file: the source field first, the thumbnail as a fallback.
            rels = resource.get("relationships") or {}
            order = sorted(rels, key=lambda n: (n == "thumbnail", not n.startswith("field_media")))
            for name in order:
                if name in ("uid", "revision_user", "bundle"):
                    continue
                for d in _linkages(rels[name]):
                    file = index.get((str(d["type"]), str(d["id"])))
                    if file is not None and file.get("type") == "file--file":
                        url = self.file_url(file)
                        if url:
                            return [url]
        return []


def _term_name(resource: Mapping[str, Any]) -> str | None:
    attrs = resource.get("attributes") or {}
    name = attrs.get("name") or attrs.get("label") or attrs.get("title")
    return str(name) if name not in (None, "") else None


# ------------------------------------------------------------------------------------------------
class DrupalSource:
    source_type: ClassVar[str] = "drupal"
    params_model: ClassVar[type[BaseModel]] = DrupalParams
    default_mappings: ClassVar[dict[str, str]] = {
        "source_id": "_source_id",
        "name": "attributes.title",
        "description": "_description",
        "category": "_terms",
        "address1": "_address.address_line1",
        "address2": "_address.address_line2",
        "city": "_address.locality",
        "state": "_address.administrative_area",
        "zip": "_address.postal_code",
        "country": "_address.country_code",
        "lat": "_lat",
        "lng": "_lng",
        "images": "_images",
    }

    def fetch(self, ctx: FetchContext) -> RawPayload:
        params = ctx.params
        assert isinstance(params, DrupalParams)
        if ctx.config.base_url is None:
            raise SourceError(
                f"DMO {ctx.config.dmo.id}: a drupal source needs base_url (the site's root URL)"
            )
        base_url = str(ctx.config.base_url).rstrip("/")
        url = resource_url(base_url, params)
        since = ctx.since if params.incremental else None
        query = first_query(params, since=since, limit=ctx.limit)
        auth, headers = self._auth(params)
        client = HttpClient(params, auth=auth, headers={"Accept": JSONAPI_MEDIA_TYPE, **headers})
        bodies = _ErrorBodies()
        client.session.hooks["response"].append(bodies.capture)
        raw = RawPages(
            self.source_type,
            request={
                "base_url": base_url,
                "url": url,
                "query": query,
                "since": since.isoformat() if since else None,
                "langcode": params.langcode,
                "limit": ctx.limit,
            },
        )
        fetched = 0
        requested: set[str] = set()
        next_url: str | None = url
        next_query: dict[str, str] | None = query
        with keep_partial(raw):
            while next_url is not None:
                if params.max_pages is not None and len(raw.pages) >= params.max_pages:
                    raw.request["stopped"] = f"max_pages ({params.max_pages}) reached"
                    break
                requested.add(unquote(f"{next_url}?{urlencode(next_query)}" if next_query else next_url))
                page = self._get(client, bodies, next_url, next_query)
                try:
                    doc = page.json()
                except ValueError:
                    raw.add(page)
                    raw.error = f"paging stopped: the response of GET {page.url} is not valid JSON"
                    break
                problem = jsonapi_errors(doc)
                if problem is not None:
                    raise SourceError(f"GET {page.url} answered a JSON:API error document: {problem}")
                raw.add(page)
                if not isinstance(doc, Mapping):
                    break  # parse reports it; there is no link to follow
                fetched += _count(doc)
                if ctx.limit is not None and fetched >= ctx.limit:
                    break
                href = _next_href(doc)
                if href is None:
                    break
                next_url, next_query = _rebase(href, base_url), None
                if unquote(next_url) in requested:
                    raise SourceError(f"links.next of GET {page.url} points back to {next_url}: paging loops")
        return raw.payload(url, source_url=url, requests=client.requests)

    @staticmethod
    def _auth(params: DrupalParams) -> tuple[tuple[str, str] | None, dict[str, str]]:
        """Basic auth (login/password: Drupal's basic_auth module) or a bearer token (extra `token`:
        simple_oauth); public sites need neither, JSON:API being readable anonymously by default."""
        if not params.auth_conn_id:
            return None, {}
        creds = get_credentials(params.auth_conn_id)
        token = creds.extra.get("token") or creds.extra.get("access_token")
        if token:
            return None, {"Authorization": f"Bearer {token}"}
        if creds.login:
            return (creds.login, creds.password or ""), {}
        raise SourceError(
            f"Airflow connection {params.auth_conn_id!r} has neither a login nor an extra token"
        )

    @staticmethod
    def _get(client: HttpClient, bodies: _ErrorBodies, url: str, query: dict[str, str] | None) -> Page:
        bodies.last = None
        try:
            return client.get(url, query)
        except HttpError as exc:
            problem = bodies.explain()
            if problem is None:
                raise
            raise HttpError(f"{exc} (JSON:API error: {problem})", url=exc.url, status=exc.status) from None

    # --------------------------------------------------------------------------------------------
    def parse(self, data: bytes, config: DmoConfig) -> ParseResult:
        params = DrupalParams.model_validate(config.config_params)
        raw = RawPages.load(data)
        base_url = str(config.base_url or raw.request.get("base_url") or "")
        images = _Images(base_url, params.image_style)
        records: list[SourceRecord] = []
        errors: list[SourceRecordError] = []
        languages: Counter[str] = Counter()
        types: Counter[str] = Counter()
        omitted = 0
        row_no = 0
        for page, doc, error in raw.json_pages():
            if error is not None:
                errors.append(error)
                continue
            problem = jsonapi_errors(doc)
            data_member = doc.get("data") if isinstance(doc, Mapping) else None
            if problem is not None or not isinstance(data_member, list | Mapping):
                what = (
                    f"a JSON:API error document: {problem}"
                    if problem
                    else "not a JSON:API document with a data member"
                )
                errors.append(
                    SourceRecordError(
                        0,
                        "jsonapi_error" if problem else "unexpected_response",
                        f"response of GET {page['url']} is {what}",
                        {"url": page["url"], "status": page["status"], "body_start": page["text"][:200]},
                    )
                )
                continue
            assert isinstance(doc, Mapping)
            index: Index = {
                (str(inc["type"]), str(inc["id"])): inc
                for inc in doc.get("included") or []
                if isinstance(inc, Mapping) and inc.get("type") and inc.get("id")
            }
            meta = doc.get("meta")
            if isinstance(meta, Mapping) and isinstance(meta.get("omitted"), Mapping):
                links = meta["omitted"].get("links")
                omitted += sum(1 for k in links if k != "help") if isinstance(links, Mapping) else 0
            for item in data_member if isinstance(data_member, list) else [data_member]:
                row_no += 1
                if not isinstance(item, Mapping) or not item.get("id") or not item.get("type"):
                    errors.append(
                        SourceRecordError(
                            row_no,
                            "invalid_item",
                            f"item {row_no} of GET {page['url']} is not a JSON:API resource (type and id)",
                            {"item": item if isinstance(item, Mapping) else repr(item)[:500]},
                        )
                    )
                    continue
                values = self._record(item, index, params, images)
                languages[str(values["_langcode"] or "und")] += 1
                types[str(item["type"])] += 1
                prov = provenance(page, original_id=values["_source_id"], source_url=values["_url"])
                if values["_langcode"]:
                    prov["langcode"] = values["_langcode"]
                records.append(SourceRecord(row_no, values, prov))
        errors.extend(raw.fetch_error())
        metadata: dict[str, Any] = {
            "pages": len(raw.pages),
            "resource_types": dict(types),
            "languages": dict(languages),
        }
        if omitted:
            metadata["omitted_resources"] = omitted  # the site hid included resources from this client
        return ParseResult(records=records, errors=errors, metadata=metadata)

    @staticmethod
    def _record(
        item: Mapping[str, Any], index: Index, params: DrupalParams, images: _Images
    ) -> dict[str, Any]:
        attrs = item.get("attributes")
        attrs = attrs if isinstance(attrs, Mapping) else {}
        rels = item.get("relationships")
        rels = rels if isinstance(rels, Mapping) else {}
        related = _related(rels, index)
        urls: list[str] = []
        terms: list[str] = []
        for name, resources in related.items():
            if params.image_fields is None or name in params.image_fields:
                for res in resources:
                    urls.extend(images.of(res, index, any_file=params.image_fields is not None))
            if params.term_fields is None or name in params.term_fields:
                for res in resources:
                    if params.term_fields is not None or str(res.get("type", "")).startswith(
                        "taxonomy_term--"
                    ):
                        term = _term_name(res)
                        if term:
                            terms.append(term)
        lat, lng = _coordinates(attrs.get(params.geo_field))
        nid = attrs.get("drupal_internal__nid")
        links = item.get("links")
        self_link = links.get("self") if isinstance(links, Mapping) else None
        url = self_link.get("href") if isinstance(self_link, Mapping) else None
        return {
            "id": item["id"],
            "type": item["type"],
            "links": links,
            "attributes": attrs,
            "relationships": rels,
            "_source_id": str(nid) if nid not in (None, "") else str(item["id"]),
            "_langcode": attrs.get("langcode"),
            "_url": url if isinstance(url, str) else None,
            "_images": list(dict.fromkeys(urls)),
            "_terms": list(dict.fromkeys(terms)),
            "_description": _description(attrs.get(params.description_field)),
            "_lat": lat,
            "_lng": lng,
            "_address": _address(attrs.get(params.address_field)),
            "_related": related,
        }
