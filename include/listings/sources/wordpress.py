"""WordPress sites (source type `wordpress`): the core REST API, for posts, pages and custom post types
such as ``listing`` or ``place``, with Advanced Custom Fields (ACF).

Request
-------
``GET {base_url}/wp-json/wp/v2/{post_type}?per_page=100&page={n}&orderby=id&order=asc&_embed=1
[&modified_after={iso}][&status=...][&{query}]``

- ``post_type`` is the type's REST base (``posts``, ``pages``, ``listing``...). ``rest_base`` overrides the
  whole path: relative to ``/wp-json/`` (``myplugin/v1/places``), from the site root
  (``/index.php?rest_route=/wp/v2/listing`` for a site without pretty permalinks) or a full URL.
- ``orderby=id&order=asc`` keeps paging deterministic: the default order (newest first) shifts every page
  when a post is published during the fetch.
- ``_embed`` inlines the featured image (``_embedded["wp:featuredmedia"]``) and the terms
  (``_embedded["wp:term"]``: one list per taxonomy), so no request per item is needed.
- ``modified_after`` (WordPress 5.7+; older sites ignore it and send everything): on incremental runs the
  start of the DMO's last good run, minus ``incremental_overlap_hours`` because WordPress compares it with
  the post's local modification time and the site's time zone is not known here.
- Basic auth with an application password when ``auth_conn_id`` names an Airflow connection (login =
  user name, password = application password): needed for drafts (``status``), private post types or a
  site that closes its REST API to anonymous clients.

Response
--------
A JSON list of items; headers ``X-WP-Total`` / ``X-WP-TotalPages`` and ``Link: <...>; rel="next"``.
Paging stops at ``X-WP-TotalPages``; when a proxy stripped the headers, on a short or empty page or when
no ``rel="next"`` link is given. WordPress answers ``400 rest_post_invalid_page_number`` for a page past
the last one: after at least one page this ends the fetch normally (the same query was accepted for
page 1, so the page number is what it refuses). A single object with an ``id`` (``rest_base`` naming one
item: ``wp/v2/pages/211``) is one item. Errors come as ``{"code": "rest_forbidden", "message": ...,
"data": {"status": 401}}`` with a 4xx status; 401/403/404 fail the job with the URL named.

Items
-----
The core fields (``id``, ``date_gmt``, ``modified_gmt``, ``slug``, ``status``, ``type``, ``link``,
``title.rendered``, ``content.rendered``, ``excerpt.rendered``, ``featured_media``, taxonomy id lists,
``meta``), ``acf`` (ACF 5.11+ "Show in REST API", or the "ACF to REST API" plugin) and ``_embedded``. An
ACF google-map field is ``{"address": "124 Rue Saint-Viateur O, Montréal, QC H2T 2L1, Canada",
"lat": 45.52, "lng": -73.60, "zoom": 14, "place_id": ..., "name": ..., "street_number": "124",
"street_name": "Rue Saint-Viateur Ouest", "city": "Montréal", "state": "Québec", "state_short": "QC",
"post_code": "H2T 2L1", "country": "Canada", "country_short": "CA"}``; before ACF 5.8.6 only address,
lat and lng. An ACF gallery is a list of image objects (``url``, ``sizes``...), URLs or attachment ids.

Parsed records
--------------
Each item as it came (the mapping can reach any field, e.g. ``acf.location.address``), plus derived keys:

- ``_title``, ``_description`` (content, else the excerpt), ``_excerpt``: HTML decoded to text (entities,
  ``&#8217;`` from wptexturize, tags, unrendered shortcodes removed; paragraphs kept as lines).
- ``_lat``, ``_lng``, ``_address1``, ``_city``, ``_state``, ``_zip``, ``_country`` from the ACF map field
  ``acf_map_field`` (when an item has no such field, the first ACF value shaped like a map is used); for an
  address-only map, a Google formatted address ``street, city, ST A1A 1A1, country`` is split.
- ``_phone``, ``_email``, ``_website``, ``_facebook``, ``_instagram``, ``_opening_hours`` (and fallbacks
  for the location keys) from the first non-empty of the ``acf_keys`` candidates, in ``acf`` then ``meta``
  (a link field gives its url; HTML is decoded; the lines of a WYSIWYG hours field are joined by "; ").
- ``_category``: the names of the embedded terms (``category_taxonomies``; default every taxonomy but tags
  and post formats; WordPress's placeholder "Uncategorized" is left out).
- ``_images``: the featured image (embedded, or Jetpack's ``jetpack_featured_media_url``), then the ACF
  gallery fields (``acf_gallery_fields``); attachment ids cannot be resolved without more requests and
  are counted in the parse metadata instead.

An item that appears twice (a post published mid-fetch) is kept once. `row_no` runs over the items kept.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

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
from listings.transform.html import html_to_text as _html_text
from listings.transform.mapping import MISSING, resolve_path

if TYPE_CHECKING:
    from listings.config.models import DmoConfig

SOURCE_TYPE = "wordpress"
MAX_PER_PAGE = 100  # WordPress refuses more (400 rest_invalid_param)
# Query parameters the connector owns: paging must stay under its control to be complete and stable.
RESERVED_QUERY = frozenset({"page", "per_page", "offset", "orderby", "order", "_embed", "modified_after"})
# Derived keys that `acf_keys` can fill (canonical field -> `_<field>`).
ACF_KEY_FIELDS = (
    "phone",
    "email",
    "website",
    "facebook",
    "instagram",
    "opening_hours",
    "lat",
    "lng",
    "address1",
    "city",
    "state",
    "zip",
)
DEFAULT_ACF_KEYS: dict[str, list[str]] = {
    "phone": ["phone", "telephone", "phone_number", "tel", "telephone_number"],
    "email": ["email", "courriel", "email_address", "e-mail"],
    "website": ["website", "site_web", "siteweb", "website_url", "web", "url"],
    "facebook": ["facebook", "facebook_url"],
    "instagram": ["instagram", "instagram_url"],
    "opening_hours": ["opening_hours", "hours", "horaires", "heures_ouverture"],
    "lat": ["latitude", "lat", "geo_latitude"],
    "lng": ["longitude", "lng", "lon", "geo_longitude"],
    "address1": ["address", "adresse", "street_address"],
    "city": ["city", "ville"],
    "state": ["state", "province"],
    "zip": ["postal_code", "post_code", "zip", "zip_code", "code_postal"],
}
LOCATION_KEYS = ("lat", "lng", "address1", "city", "state", "zip", "country")


class WordPressParams(HttpParams):
    """`config_params` of a wordpress source."""

    post_type: str = Field(
        default="posts",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="REST base of the post type: posts, pages, or a custom post type such as listing.",
    )
    rest_base: str | None = Field(
        default=None,
        min_length=1,
        description="Override of the collection path: relative to /wp-json/ (myplugin/v1/places), from the "
        "site root (/index.php?rest_route=/wp/v2/listing) or a full URL.",
    )
    per_page: int = Field(
        default=MAX_PER_PAGE, ge=1, le=MAX_PER_PAGE, description="Items per page (max 100)."
    )
    embed: bool = Field(default=True, description="Ask for _embed (featured image and terms inline).")
    status: list[str] | None = Field(
        default=None, description="Post statuses to fetch (publish, draft...); other than publish needs auth."
    )
    query: dict[str, str | int | list[str]] = Field(
        default_factory=dict,
        description="Extra query parameters passed through (categories, search, lang...).",
    )
    incremental_overlap_hours: float = Field(
        default=24,
        ge=0,
        description="Incremental runs ask for what changed since the last good run minus this margin "
        "(WordPress compares modified_after with the site's local time).",
    )
    acf_map_field: str | None = Field(
        default="location",
        description="ACF google-map field (a path inside acf; dots for group fields). When an item has no "
        "such field, the first ACF value with lat and lng is used.",
    )
    acf_gallery_fields: list[str] = Field(
        default_factory=lambda: ["gallery", "galerie", "photos", "images"],
        description="ACF gallery/image fields whose images follow the featured image.",
    )
    acf_keys: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_ACF_KEYS.items()},
        description="Canonical field -> candidate keys looked up in acf, then meta, for the derived "
        "_<field>; a field given here replaces its default candidates ([] turns it off).",
    )
    category_taxonomies: list[str] | None = Field(
        default=None,
        description="Taxonomies whose embedded terms make the category (default: all but post_tag and "
        "post_format).",
    )

    @field_validator("query")
    @classmethod
    def _query(cls, v: dict[str, str | int | list[str]]) -> dict[str, str | int | list[str]]:
        reserved = sorted(set(v) & RESERVED_QUERY)
        if reserved:
            raise ValueError(f"{', '.join(reserved)} are set by the connector (use the params instead)")
        return v

    @field_validator("acf_keys", mode="before")
    @classmethod
    def _acf_keys(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v
        unknown = sorted(set(v) - set(ACF_KEY_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(ACF_KEY_FIELDS)}")
        return {**{k: list(keys) for k, keys in DEFAULT_ACF_KEYS.items()}, **v}

    @field_validator("rest_base")
    @classmethod
    def _rest_base(cls, v: str | None) -> str | None:
        if v is not None and v.startswith(("http://", "https://")) and not urlsplit(v).netloc:
            raise ValueError("a full URL needs a host")
        return v


# ------------------------------------------------------------------------------------------------
# HTML to text
# A shortcode left unrendered when its plugin is gone ([vc_row], [/et_pb_section], [gallery ids="1,2"]):
# page-builder names (with _ or -) or the core ones, with attributes only as name=value, so that bracketed
# prose ("[Fermé le lundi]", "[…]") is kept.
_SHORTCODE = re.compile(
    r"\[/?(?:[a-z][a-z0-9]*[_-][a-z0-9_-]*|caption|gallery|embed|audio|video|playlist|button|row|column)"
    r"(?:\s+[^\[\]=]+=[^\[\]]*)?\s*/?\]"
)


def html_to_text(value: Any) -> str | None:
    """Rendered HTML (a `{"rendered": ...}` object or a string) as plain text, unrendered shortcodes removed."""
    if isinstance(value, Mapping):
        value = value.get("rendered")
    if not isinstance(value, str):
        return None
    text = _html_text(value)
    if text is None:
        return None
    lines = (" ".join(line.split()) for line in _SHORTCODE.sub("", text).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() or None


def html_to_line(value: Any) -> str | None:
    text = html_to_text(value)
    return " ".join(text.split()) if text else None


# ------------------------------------------------------------------------------------------------
# Derived keys
def _mapping(value: Any) -> Mapping[str, Any]:
    # ACF answers [] (not {}) for a post without fields, and meta is [] on some sites.
    return value if isinstance(value, Mapping) else {}


def _scalar(value: Any, *, multiline: bool = False) -> str | None:
    """One text value from an ACF/meta value: a string (HTML decoded), a number, a link/select field's
    url/value/label, or the first usable element of a list (non-single meta, checkbox)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        text = (
            (html_to_text(value) if multiline else html_to_line(value))
            if "<" in value or "&" in value
            else value
        )
        return text.strip() if text and text.strip() else None
    if isinstance(value, Mapping):
        for key in ("url", "value", "label"):
            if key in value:
                return _scalar(value[key], multiline=multiline)
        return None
    if isinstance(value, list):
        for item in value:
            text = _scalar(item, multiline=multiline)
            if text:
                return text
    return None


def _lookup(item: Mapping[str, Any], keys: Iterable[str], *, multiline: bool = False) -> str | None:
    acf, meta = _mapping(item.get("acf")), _mapping(item.get("meta"))
    for source in (acf, meta):
        for key in keys:
            text = _scalar(source.get(key), multiline=multiline)
            if text:
                return text
    return None


def _is_map(value: Any) -> bool:
    return isinstance(value, Mapping) and "lat" in value and "lng" in value


def find_map(acf: Mapping[str, Any], field: str | None) -> Mapping[str, Any] | None:
    """The item's ACF google-map value: the configured field when the item has it (even empty: the place
    has no location), else the first ACF value shaped like a map."""
    if field:
        value = resolve_path(acf, field)
        if value is not MISSING:
            return value if isinstance(value, Mapping) else None
    for value in acf.values():
        if _is_map(value):
            return value  # type: ignore[no-any-return]
    return None


_STATE_ZIP = re.compile(
    r"^(?P<state>[A-Z]{2})\s+(?P<zip>[A-Z]\d[A-Z][ -]?\d[A-Z]\d|\d{5}(?:-\d{4})?)$", re.IGNORECASE
)
_CIVIC = re.compile(r"^\d+[A-Za-z]?(?:-\d+[A-Za-z]?)?$")


def split_google_address(address: str) -> dict[str, str]:
    """The parts of a Google formatted North-American address, "street, city, ST A1A 1A1[, country]";
    nothing when it has another shape ("Tauranga, New Zealand"): guessing would be worse than blank."""
    segments = [s.strip() for s in address.split(",") if s.strip()]
    # Québec style "3174, place Saint-Georges": the civic number has its own segment.
    if len(segments) > 1 and _CIVIC.match(segments[0]):
        segments[:2] = [f"{segments[0]} {segments[1]}"]
    for idx in (len(segments) - 1, len(segments) - 2):
        if idx < 1:
            continue
        match = _STATE_ZIP.match(segments[idx])
        if match:
            out = {"state": match["state"].upper(), "zip": match["zip"].upper(), "city": segments[idx - 1]}
            if idx >= 2:
                out["address1"] = ", ".join(segments[: idx - 1])
            return out
    return {}


def map_location(value: Mapping[str, Any]) -> dict[str, Any]:
    """lat, lng, address1, city, state, zip, country (ISO 3166-1 alpha-2) from an ACF google-map value."""

    def text(*keys: str) -> str | None:
        for key in keys:
            v = value.get(key)
            if isinstance(v, str | int | float) and not isinstance(v, bool) and str(v).strip():
                return str(v).strip()
        return None

    number, street = text("street_number"), text("street_name", "street_name_short")
    address1 = f"{number} {street}" if number and street else street
    name = text("name")
    if not address1 and name and name[:1].isdigit():
        address1 = name  # ACF names a plain street address after itself
    parsed = split_google_address(text("address") or "")
    country = text("country_short")
    return {
        "lat": value.get("lat") if value.get("lat") not in ("", None) else None,
        "lng": value.get("lng") if value.get("lng") not in ("", None) else None,
        "address1": address1 or parsed.get("address1"),
        "city": text("city") or parsed.get("city"),
        "state": text("state_short", "state") or parsed.get("state"),
        "zip": text("post_code") or parsed.get("zip"),
        "country": country.upper() if country and len(country) == 2 else None,
    }


def _terms(item: Mapping[str, Any], taxonomies: list[str] | None) -> list[str]:
    groups = _mapping(item.get("_embedded")).get("wp:term")
    names: dict[str, None] = {}
    for group in groups if isinstance(groups, list) else []:
        for term in group if isinstance(group, list) else []:
            if not isinstance(term, Mapping) or not isinstance(term.get("name"), str):
                continue  # an error object (term not viewable) or a term without a name
            taxonomy = term.get("taxonomy")
            wanted = (
                taxonomy in taxonomies
                if taxonomies is not None
                else taxonomy not in ("post_tag", "post_format")
            )
            if not wanted or (taxonomy == "category" and term.get("slug") == "uncategorized"):
                continue
            name = " ".join(html.unescape(term["name"]).split())
            if name:
                names.setdefault(name, None)
    return list(names)


def _image_url(value: Any) -> str | None:
    if isinstance(value, str):
        url = value.strip()
    elif isinstance(value, Mapping):
        url = value.get("url") or value.get("source_url") or ""
        url = url.strip() if isinstance(url, str) else ""
    else:
        return None
    return url if url.startswith(("http://", "https://")) else None


def _images(item: Mapping[str, Any], gallery_fields: list[str]) -> tuple[list[str], int]:
    """Image URLs (featured first, then galleries) and how many gallery entries were bare attachment ids."""
    urls: dict[str, None] = {}
    unresolved = 0
    media = _mapping(item.get("_embedded")).get("wp:featuredmedia")
    for entry in media if isinstance(media, list) else []:
        # Private or deleted media embed as {"code": "rest_forbidden", ...}: no source_url, skipped.
        if isinstance(entry, Mapping) and entry.get("media_type", "image") == "image":
            url = _image_url(entry.get("source_url"))
            if url:
                urls.setdefault(url, None)
    if not urls:
        url = _image_url(item.get("jetpack_featured_media_url"))
        if url:
            urls.setdefault(url, None)
    acf = _mapping(item.get("acf"))
    for name in gallery_fields:
        value = acf.get(name)
        for entry in value if isinstance(value, list) else [value]:
            if isinstance(entry, int) and not isinstance(entry, bool):
                unresolved += 1
                continue
            url = _image_url(entry)
            if url:
                urls.setdefault(url, None)
    return list(urls), unresolved


def derive(item: Mapping[str, Any], params: WordPressParams) -> tuple[dict[str, Any], int]:
    """The derived keys of one item (always all of them, None when empty, so a preview shows "empty"
    rather than "missing"), and its unresolved gallery ids."""
    acf = _mapping(item.get("acf"))
    description = html_to_text(item.get("content")) or html_to_text(item.get("excerpt"))
    found = find_map(acf, params.acf_map_field)
    location: dict[str, Any] = map_location(found) if found is not None else dict.fromkeys(LOCATION_KEYS)
    derived: dict[str, Any] = {
        "_title": html_to_line(item.get("title")),
        "_description": description,
        "_excerpt": html_to_text(item.get("excerpt")),
        "_category": _terms(item, params.category_taxonomies) or None,
    }
    for key in LOCATION_KEYS:
        value = location.get(key)
        if value is None and key in params.acf_keys:
            value = _lookup(item, params.acf_keys[key])
        derived[f"_{key}"] = value
    for key in ("phone", "email", "website", "facebook", "instagram"):
        derived[f"_{key}"] = _lookup(item, params.acf_keys.get(key, []))
    # Hours typed in a WYSIWYG field come one day per line; the canonical field is one line.
    hours = _lookup(item, params.acf_keys.get("opening_hours", []), multiline=True)
    derived["_opening_hours"] = "; ".join(line for line in hours.splitlines() if line) if hours else None
    images, unresolved = _images(item, params.acf_gallery_fields)
    derived["_images"] = images or None
    return derived, unresolved


# ------------------------------------------------------------------------------------------------
def collection_url(config: DmoConfig, params: WordPressParams) -> str:
    if params.rest_base and params.rest_base.startswith(("http://", "https://")):
        return params.rest_base
    if config.base_url is None:
        raise SourceError(f"DMO {config.dmo.id}: a wordpress source needs base_url (the site's address)")
    site = str(config.base_url).rstrip("/")
    if params.rest_base and params.rest_base.startswith("/"):
        return site + params.rest_base
    # A base_url given as the API root (https://site/wp-json) is accepted as well.
    api = site if site.endswith("/wp-json") else f"{site}/wp-json"
    path = params.rest_base.strip("/") if params.rest_base else f"wp/v2/{params.post_type}"
    return f"{api}/{path}"


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return None


def _items_of(doc: Any) -> tuple[list[Any] | None, bool]:
    """A response's items, and whether it was one object (nothing to page); None when it holds none."""
    if isinstance(doc, list):
        return doc, False
    if isinstance(doc, dict) and "id" in doc and "code" not in doc:
        return [doc], True
    return None, False


def _page_items(page: Page) -> tuple[list[Any] | None, bool]:
    try:
        return _items_of(page.json())
    except ValueError:
        return None, False


def _item_id(item: Any) -> Any:
    return item.get("id") if isinstance(item, Mapping) else None


class WordPressSource:
    source_type: ClassVar[str] = SOURCE_TYPE
    params_model: ClassVar[type[BaseModel]] = WordPressParams
    default_mappings: ClassVar[dict[str, str]] = {
        "source_id": "id",
        "name": "_title",
        "description": "_description",
        "category": "_category",
        "address1": "_address1",
        "city": "_city",
        "state": "_state",
        "zip": "_zip",
        "country": "_country",
        "lat": "_lat",
        "lng": "_lng",
        "phone": "_phone",
        "email": "_email",
        "website": "_website",
        "facebook": "_facebook",
        "instagram": "_instagram",
        "opening_hours": "_opening_hours",
        "images": "_images",
    }

    def fetch(self, ctx: FetchContext) -> RawPayload:
        params = ctx.params
        assert isinstance(params, WordPressParams)
        url = collection_url(ctx.config, params)
        auth: tuple[str, str] | None = None
        if params.auth_conn_id:
            creds = get_credentials(params.auth_conn_id)
            if not creds.login or not creds.password:
                raise SourceError(
                    f"Airflow connection {params.auth_conn_id!r} needs a login (WordPress user) and a "
                    "password (an application password)"
                )
            auth = (creds.login, creds.password)
        client = HttpClient(params, auth=auth)
        # A preview asks for no more items than it shows.
        per_page = min(params.per_page, ctx.limit) if ctx.limit else params.per_page
        query: dict[str, Any] = {"per_page": per_page, "orderby": "id", "order": "asc"}
        if params.embed:
            query["_embed"] = "1"
        since = ctx.since if params.incremental else None
        modified_after = None
        if since is not None:
            after = since.astimezone(UTC) - timedelta(hours=params.incremental_overlap_hours)
            modified_after = after.strftime("%Y-%m-%dT%H:%M:%SZ")
            query["modified_after"] = modified_after
        if params.status:
            query["status"] = ",".join(params.status)
        query.update(params.query)
        raw = RawPages(
            SOURCE_TYPE,
            request={
                "url": url,
                "query": query,
                "since": since.isoformat() if since else None,
                "modified_after": modified_after,
                "limit": ctx.limit,
                "auth": f"basic ({params.auth_conn_id})" if auth else None,
            },
        )
        with keep_partial(raw):
            self._pages(client, url, query, params, ctx.limit, raw)
        first = raw.pages[0]["headers"] if raw.pages else {}
        return raw.payload(
            url,
            post_type=params.post_type,
            wp_total=_int_header(first, "x-wp-total"),
            wp_total_pages=_int_header(first, "x-wp-totalpages"),
            requests=client.requests,
        )

    def _pages(
        self,
        client: HttpClient,
        url: str,
        query: dict[str, Any],
        params: WordPressParams,
        limit: int | None,
        raw: RawPages,
    ) -> None:
        seen: set[Any] = set()
        fetched = 0
        page_no = 1
        while True:
            # `page` right after per_page: the requests read naturally in logs and tests.
            page_query = {"per_page": query["per_page"], "page": page_no, **query}
            try:
                page = client.get(url, page_query)
            except HttpError as exc:
                if exc.status == 400 and raw.pages:
                    # rest_post_invalid_page_number: the list ended (headers missing, or posts deleted
                    # while paging); page 1 was accepted with the same query.
                    raw.request["stopped"] = f"HTTP 400 for page {page_no}: past the last page"
                    return
                raise
            raw.add(page, page_no=page_no)
            total_pages = _int_header(page.headers, "x-wp-totalpages")
            items, single = _page_items(page)
            if items is None:
                # Not a list (malformed JSON, an error object): parse reports it; go on only if the
                # headers say there is more.
                if total_pages is None or page_no >= total_pages:
                    return
            else:
                ids = [i for i in map(_item_id, items) if i is not None]
                if ids and all(i in seen for i in ids):
                    raise SourceError(
                        f"page {page_no} of {url} repeats items already fetched: the site seems to "
                        "ignore the page parameter"
                    )
                seen.update(ids)
                fetched += len(items)
                if not items or single:
                    return
                if limit and fetched >= limit:
                    return
                if total_pages is not None:
                    if page_no >= total_pages:
                        return
                elif "link" in page.headers:
                    if 'rel="next"' not in page.headers["link"]:
                        return
                elif len(items) < int(query["per_page"]):
                    return  # headers stripped by a proxy: a short page is the last
            if params.max_pages and page_no >= params.max_pages:
                raw.request["stopped"] = f"max_pages ({params.max_pages}) reached"
                return
            page_no += 1

    def parse(self, data: bytes, config: DmoConfig) -> ParseResult:
        params = WordPressParams.model_validate(config.config_params)
        raw = RawPages.load(data)
        records: list[SourceRecord] = []
        errors: list[SourceRecordError] = []
        seen: set[Any] = set()
        duplicates = unresolved = row_no = 0
        for page, doc, error in raw.json_pages():
            if error is not None:
                errors.append(error)
                continue
            items, _ = _items_of(doc)
            if items is None:
                errors.append(_unexpected(page, doc))
                continue
            for item in items:
                item_id = _item_id(item)
                if item_id is not None and item_id in seen:
                    duplicates += 1
                    continue
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
                seen.add(item_id)
                try:
                    derived, missing_images = derive(item, params)
                except Exception as exc:  # one odd item must not sink the others
                    errors.append(
                        SourceRecordError(
                            row_no,
                            "invalid_item",
                            f"item {item_id} of GET {page['url']} could not be read: {type(exc).__name__}: {exc}",
                            {"id": item_id, "url": page["url"]},
                        )
                    )
                    continue
                unresolved += missing_images
                link = item.get("link")
                records.append(
                    SourceRecord(
                        row_no,
                        {**item, **derived},
                        provenance(
                            page,
                            original_id=item_id,
                            source_url=link if isinstance(link, str) and link.startswith("http") else None,
                        ),
                    )
                )
        errors.extend(raw.fetch_error())
        first = raw.pages[0]["headers"] if raw.pages else {}
        return ParseResult(
            records=records,
            errors=errors,
            metadata={
                "pages": len(raw.pages),
                "items": row_no,
                "wp_total": _int_header(first, "x-wp-total"),
                "duplicates_dropped": duplicates,
                "gallery_ids_unresolved": unresolved,
                **({"stopped": raw.request["stopped"]} if raw.request.get("stopped") else {}),
            },
        )


def _unexpected(page: Mapping[str, Any], doc: Any) -> SourceRecordError:
    if isinstance(doc, dict) and "code" in doc:
        what = f"a WordPress error {doc.get('code')!r}: {doc.get('message')!r}"
    else:
        what = f"a JSON {type(doc).__name__}, not a list of items"
    return SourceRecordError(
        0,
        "unexpected_response",
        f"response of GET {page['url']} is {what} (check post_type / rest_base)",
        {"url": page["url"], "status": page["status"], "body_start": page["text"][:200]},
    )
