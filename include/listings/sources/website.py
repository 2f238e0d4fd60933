"""Websites: a generic, config-driven Scrapy crawl of an HTML directory, parsed offline from the pages kept.

What the crawl expects of a site:
- list pages (the start URLs): each listing is an element matched by `item_selector`; inside it,
  `link_selector` finds the detail page's link (an `href`, or an element whose `href` is taken);
  `next_page_selector` finds the next list page (pagination, followed up to `max_pages` list pages);
- detail pages: HTML with the place's name, address, phone... read with the configured `fields`
  selectors, and usually a schema.org description (JSON-LD `<script type="application/ld+json">` or
  microdata `itemscope`/`itemprop`), used as the fallback for every field the selectors miss;
- without `link_selector` each list item is one listing (its fields read on the item itself); without
  `item_selector` the start URLs are detail pages.

A selector is CSS (`css:h1.name::text`, or bare `h1.name`; `::text` and `::attr(name)` allowed) or XPath
(`xpath://h1/text()`). A selector that matches elements yields their visible text; `href`/`src`
attributes are made absolute; `tel:` and `mailto:` prefixes are dropped.

Fetch: `fetch()` runs the `generic` spider of the Scrapy project in `scrapers/` AS A SUBPROCESS
(`python -m scrapy crawl generic -a spec=<json> -a output=<jsonl>`), so that Twisted's reactor never runs
inside an Airflow worker or a test process. The spider obeys robots.txt, fetches one request at a time with
`delay_seconds` between two (AutoThrottle may slow it further), retries 429/5xx/timeouts with backoff,
honouring Retry-After, and writes one JSON line per fetched page. The raw payload is a `RawPages` envelope
(`fmt="json"`): every page's URL, status, headers, fetch time and HTML as it came, with `kind` ("list" or
"detail"), `link` (the absolute link as found on the list page) and `from_url` (that list page).
A start page that cannot be fetched fails the job; later failures are kept in `raw.error` (job partial).

Parse: the selectors and the schema.org fallback are applied to the STORED html, offline. One record per
detail page (or per list item without `link_selector`), shaped:

    {<field>: value, ...,            # every configured field (selectors), then schema.org for the rest
     "images": [url, ...],           # always a list
     "_url": "https://site/directory/place/x",   # the page the record was read on
     "_path": "/directory/place/x",  # its path (and query): the default source_id
     "_id": ...,                     # the configured `source_id` field, else `_path` (detail pages)
     "_sources": {field: "selector" | "list" | "schema.org"},
     "_schema_org": {...}}           # the schema.org item used, for mappings such as `_schema_org.priceRange`
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from parsel import Selector, SelectorList
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from listings.sources.base import (
    FetchContext,
    ParseResult,
    RawPayload,
    SourceError,
    SourceRecord,
    SourceRecordError,
)
from listings.sources.http import HttpParams, RawPages, get_credentials, provenance

if TYPE_CHECKING:
    from listings.config.models import DmoConfig

log = logging.getLogger(__name__)

SPIDER = "generic"
SCRAPY_SETTINGS_MODULE = "listings_scrapers.settings"
# Fields whose value is always a list (the others are one text, or a list when several elements match).
MULTI_VALUED = frozenset({"images"})
# Fields whose matches read as paragraphs rather than as a list of values.
JOINED_BY_LINES = frozenset({"description", "opening_hours"})
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_URL_ATTRIBUTE = re.compile(r"(::attr\(\s*(href|src)\s*\)|@(href|src))\s*$", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------
# Selectors (shared with the spider, which imports them: one grammar for crawling and parsing)
def split_selector(selector: str) -> tuple[str, str]:
    """("css" | "xpath", expression) of a configured selector."""
    text = selector.strip()
    if text.startswith("xpath:"):
        return "xpath", text[len("xpath:") :].strip()
    if text.startswith("css:"):
        return "css", text[len("css:") :].strip()
    return "css", text


def select(node: Selector, selector: str) -> SelectorList[Selector]:
    kind, expr = split_selector(selector)
    return node.xpath(expr) if kind == "xpath" else node.css(expr)


def check_selector(selector: str) -> str:
    """The selector if it compiles, else ValueError with the parser's message (shown at config time)."""
    kind, expr = split_selector(selector)
    if not expr:
        raise ValueError(f"empty {kind} selector {selector!r}")
    try:
        select(Selector(text="<html><body><p>x</p></body></html>"), selector)
    except Exception as exc:  # cssselect raises SelectorError (a SyntaxError), lxml a ValueError
        raise ValueError(f"invalid {kind} selector {expr!r}: {exc}") from None
    return selector


def html_selector(text: str, url: str | None = None) -> Selector:
    return Selector(text=text or "<html></html>", type="html", base_url=url)


def document_base(page: Selector, url: str) -> str:
    """The URL relative links of a page resolve against: its `<base href>` if any, else its own URL."""
    base = page.xpath("//head/base/@href").get()
    return urljoin(url, base.strip()) if base and base.strip() else url


# Word lists read better than quoted names, hence `.split()` (SIM905) here and in the schema.org types.
_BLOCK_TAGS = frozenset(
    """address article aside blockquote br dd div dl dt fieldset figcaption figure footer form h1 h2 h3
    h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr ul""".split()  # noqa: SIM905
)


def element_text(root: Any) -> str:
    """Visible text of an lxml element: block elements and <br> break lines, scripts and styles skipped."""
    parts: list[str] = []

    def walk(el: Any) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""  # comments and processing instructions
        if tag and tag.lower() not in ("script", "style", "template", "noscript"):
            block = tag.lower() in _BLOCK_TAGS
            if block:
                parts.append("\n")
            if el.text:
                parts.append(el.text)
            for child in el:
                walk(child)
                if child.tail:
                    parts.append(child.tail)
            if block:
                parts.append("\n")

    walk(root)
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _text_of(match: Selector) -> str:
    root = match.root
    if isinstance(root, str | int | float | bool):  # ::text, ::attr(), XPath text(), @attr, string()...
        return str(root)
    return element_text(root)


def _absolute(value: str, base_url: str) -> str:
    return urljoin(base_url, value.strip())


def values_of(node: Selector, selector: str, base_url: str) -> list[str]:
    """Every non-empty text a selector yields on a node, in document order, without repeats."""
    make_absolute = bool(_URL_ATTRIBUTE.search(split_selector(selector)[1]))
    out: dict[str, None] = {}
    for match in select(node, selector):
        text = _text_of(match).strip()
        scheme_less = text
        for prefix in ("mailto:", "tel:", "callto:"):
            if text.lower().startswith(prefix):
                scheme_less = text[len(prefix) :].strip()
        if scheme_less != text:
            text = scheme_less  # a phone or an address, not a link to resolve
        elif text and make_absolute:
            text = _absolute(text, base_url)
        if text:
            out.setdefault(text, None)
    return list(out)


def field_value(node: Selector, name: str, selector: str, base_url: str) -> str | list[str] | None:
    found = values_of(node, selector, base_url)
    if name in MULTI_VALUED:
        return found or None
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return "\n".join(found) if name in JOINED_BY_LINES else found


def _link_of(match: Selector, base_url: str) -> str | None:
    root = match.root
    if isinstance(root, str):
        href: str | None = root
    else:
        href = match.attrib.get("href") or match.css("a::attr(href)").get()
    if not href or not href.strip() or href.strip().lower().startswith(("javascript:", "mailto:", "tel:")):
        return None
    return urljoin(base_url, href.strip()).split("#", 1)[0]


def list_items(page: Selector, item_selector: str) -> SelectorList[Selector]:
    return select(page, item_selector)


def item_link(item: Selector, link_selector: str, base_url: str) -> str | None:
    """The absolute detail link of one list item (fragment dropped), or None."""
    for match in select(item, link_selector):
        link = _link_of(match, base_url)
        if link:
            return link
    return None


def next_page_link(page: Selector, next_page_selector: str, base_url: str) -> str | None:
    for match in select(page, next_page_selector):
        link = _link_of(match, base_url)
        if link:
            return link
    return None


# ------------------------------------------------------------------------------------------------
# Params
class WebsiteParams(HttpParams):
    """`config_params` of a website source (the HTTP knobs of HttpParams, plus what to crawl and read)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    start_urls: list[str] = Field(
        default_factory=list,
        description="Pages the crawl starts from: absolute, or relative to base_url (empty: base_url).",
    )
    item_selector: str | None = Field(
        default=None,
        description="Each listing on a list page (CSS, or `xpath:`). Without it the start URLs are detail pages.",
    )
    link_selector: str | None = Field(
        default=None,
        description="Inside a list item: the detail page link (`a::attr(href)`, or an element whose href is "
        "taken). Without it the fields are read on the list item itself.",
    )
    next_page_selector: str | None = Field(
        default=None, description="On a list page: the next list page's link (pagination)."
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Field name (canonical, e.g. `name`, or your own) -> selector read on the detail page "
        "(on the list item without link_selector).",
    )
    list_fields: dict[str, str] = Field(
        default_factory=dict,
        description="Field -> selector read on the list item, for what the detail page lacks (e.g. category).",
    )
    use_schema_org: bool = Field(
        default=True,
        description="Fill the fields the selectors miss from the page's schema.org JSON-LD or microdata.",
    )
    since_param: str | None = Field(
        default=None,
        description="Incremental runs: query parameter added to the start URLs with the last good run's "
        "start (ISO 8601, UTC), for sites whose listing can filter on modification time.",
    )
    max_pages: int | None = Field(
        default=None, ge=1, description="Stop after this many LIST pages (detail pages are not counted)."
    )

    @field_validator("item_selector", "link_selector", "next_page_selector")
    @classmethod
    def _selector(cls, v: str | None) -> str | None:
        return None if v is None else check_selector(v)

    @field_validator("fields", "list_fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        for name, selector in v.items():
            if not _FIELD_NAME.match(name):
                raise ValueError(
                    f"field name {name!r} must start with a letter and use letters, digits and _ "
                    "(names starting with _ are the connector's own)"
                )
            try:
                check_selector(selector)
            except ValueError as exc:
                raise ValueError(f"field {name!r}: {exc}") from None
        return v

    @field_validator("start_urls")
    @classmethod
    def _start_urls(cls, v: list[str]) -> list[str]:
        for url in v:
            scheme = urlsplit(url).scheme
            if scheme and scheme not in ("http", "https"):
                raise ValueError(f"start URL {url!r}: only http and https are crawled")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> WebsiteParams:
        if self.link_selector and not self.item_selector:
            raise ValueError("link_selector needs item_selector (the list items the links are read in)")
        if self.list_fields and not self.item_selector:
            raise ValueError("list_fields needs item_selector (the list items they are read on)")
        if self.next_page_selector and not self.item_selector:
            raise ValueError("next_page_selector needs item_selector (pagination of list pages)")
        if not self.fields and not self.list_fields and not self.use_schema_org:
            raise ValueError("nothing to read: set fields, or leave use_schema_org on")
        if self.incremental and not self.since_param:
            raise ValueError(
                "a website has no generic 'changed since' filter: set since_param (the query parameter "
                "the site's listing filters on) or leave incremental off"
            )
        return self


class CrawlSpec(BaseModel):
    """What `fetch()` hands the spider (a JSON file): the spider validates it with this model."""

    model_config = ConfigDict(extra="forbid")

    start_urls: list[str] = Field(min_length=1)
    item_selector: str | None = None
    link_selector: str | None = None
    next_page_selector: str | None = None
    max_pages: int | None = Field(default=None, ge=1)
    limit: int | None = Field(default=None, ge=1, description="Stop after this many listings (preview).")
    delay_seconds: float = Field(default=1.0, ge=0)
    timeout_seconds: float = Field(default=30, gt=0)
    retries: int = Field(default=4, ge=0)
    backoff_seconds: float = Field(default=1.0, ge=0)
    max_backoff_seconds: float = Field(default=60, ge=0)
    headers: dict[str, str] = Field(default_factory=dict)
    http_user: str | None = None
    http_password: str | None = None
    allow_private_hosts: bool = False

    @field_validator("start_urls")
    @classmethod
    def _absolute(cls, v: list[str]) -> list[str]:
        for url in v:
            if urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"start URL {url!r} is not an absolute http(s) URL")
        return v

    @field_validator("item_selector", "link_selector", "next_page_selector")
    @classmethod
    def _selector(cls, v: str | None) -> str | None:
        return None if v is None else check_selector(v)


# ------------------------------------------------------------------------------------------------
# schema.org
# Types whose item describes the place itself (LocalBusiness and Place subtypes DMOs publish).
PLACE_TYPES = frozenset(
    """Place LocalBusiness TouristAttraction TouristDestination LodgingBusiness Hotel Motel Hostel Resort
    BedAndBreakfast Campground VacationRental FoodEstablishment Restaurant CafeOrCoffeeShop BarOrPub
    Brewery Winery Distillery Bakery FastFoodRestaurant IceCreamShop Museum Park Zoo Aquarium ArtGallery
    MovieTheater PerformingArtsTheater NightClub AmusementPark SkiResort GolfCourse SportsActivityLocation
    StadiumOrArena DaySpa HealthAndBeautyBusiness Store ShoppingCenter LandmarksOrHistoricalBuildings
    CivicStructure Beach EventVenue TouristInformationCenter EntertainmentBusiness Library PlaceOfWorship
    Casino TravelAgency SportsClub FitnessCenter ExerciseGym Marina""".split()  # noqa: SIM905
)
_PLACE_SUFFIXES = ("Business", "Store", "Restaurant", "Establishment", "Attraction", "Shop", "Center")
# Items that describe the page or its publisher, never the listing.
NON_PLACE_TYPES = frozenset(
    """WebSite WebPage CollectionPage ItemPage SearchResultsPage BreadcrumbList ItemList ListItem
    SearchAction Organization Corporation NGO GovernmentOrganization Person ImageObject VideoObject
    Article NewsArticle BlogPosting Review AggregateRating Event Offer Product SiteNavigationElement
    WPHeader WPFooter""".split()  # noqa: SIM905
)
SOCIAL_HOSTS: dict[str, tuple[str, ...]] = {
    "facebook": ("facebook.com", "fb.com"),
    "instagram": ("instagram.com",),
    "youtube": ("youtube.com", "youtu.be"),
    "tiktok": ("tiktok.com",),
    "twitter": ("twitter.com", "x.com"),
    "pinterest": ("pinterest.com", "pinterest.ca"),
    "tripadvisor": ("tripadvisor.com", "tripadvisor.ca", "tripadvisor.fr"),
    "yelp": ("yelp.com", "yelp.ca"),
}
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _type_names(item: Mapping[str, Any]) -> list[str]:
    raw = item.get("@type") or item.get("type") or []
    types = raw if isinstance(raw, list) else [raw]
    # "schema:Hotel", "https://schema.org/Hotel" -> "Hotel"
    return [re.split(r"[/:#]", str(t))[-1] for t in types if t]


def _is_place_type(name: str) -> bool:
    return name in PLACE_TYPES or (name not in NON_PLACE_TYPES and name.endswith(_PLACE_SUFFIXES))


def _place_score(item: Mapping[str, Any]) -> int:
    types = _type_names(item)
    if any(_is_place_type(t) for t in types):
        return 2
    if types and all(t in NON_PLACE_TYPES for t in types):
        return 0
    return 1 if ("address" in item or "geo" in item) else 0


def _flatten(doc: Any) -> Iterator[dict[str, Any]]:
    """Top-level JSON-LD items: lists and `@graph` containers opened."""
    if isinstance(doc, list):
        for d in doc:
            yield from _flatten(d)
    elif isinstance(doc, dict):
        if "@graph" in doc:
            yield from _flatten(doc["@graph"])
        else:
            yield doc


_JSON_COMMENT = re.compile(r"^\s*(<!--|//\s*<!\[CDATA\[)|(-->|//\s*\]\]>)\s*$")


def _jsonld_blocks(page: Selector) -> tuple[list[Any], list[str]]:
    """Every JSON-LD block's document; a block that is not valid JSON is reported, the others kept."""
    docs: list[Any] = []
    problems: list[str] = []
    for i, script in enumerate(
        page.xpath("//script[contains(translate(@type, 'LDJSON', 'ldjson'), 'ld+json')]/text()").getall(), 1
    ):
        text = _JSON_COMMENT.sub("", script.strip())
        if not text:
            continue
        try:
            docs.append(json.loads(text, strict=False))
            continue
        except json.JSONDecodeError as exc:
            error = f"JSON-LD block {i} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        tolerant = _tolerant_jsonld(script)  # comments, trailing commas: what JSON-LD consumers forgive
        if tolerant is None:
            problems.append(error)
        else:
            docs.extend(tolerant)
    return docs, problems


def _tolerant_jsonld(text: str) -> list[Any] | None:
    import extruct  # type: ignore[import-untyped]

    if "</script" in text.lower():
        return None
    wrapped = f'<html><head><script type="application/ld+json">{text}</script></head></html>'
    try:
        found = extruct.extract(wrapped, syntaxes=["json-ld"], errors="ignore").get("json-ld")
    except Exception:  # extruct's parser failing on this one block must not fail the page
        return None
    return list(found) if found else None


def _microdata(root: Any, base_url: str) -> list[dict[str, Any]]:
    import extruct

    try:
        found = extruct.extract(
            root, base_url=base_url, syntaxes=["microdata"], uniform=True, errors="ignore"
        ).get("microdata", [])
    except Exception:  # broken markup in one page's microdata: the selectors still apply
        return []
    return [d for d in found if isinstance(d, dict)]


def schema_items(
    node: Selector, base_url: str, *, jsonld: bool = True
) -> tuple[list[dict[str, Any]], list[str]]:
    """schema.org items of a page (JSON-LD then microdata, top-level), and the problems met."""
    items: list[dict[str, Any]] = []
    problems: list[str] = []
    if jsonld:
        docs, problems = _jsonld_blocks(node)
        for doc in docs:
            items.extend(_flatten(doc))
    items.extend(_microdata(node.root, base_url))
    return items, problems


def pick_place(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The item that describes the listing: a place type first, else a typed item with an address/geo."""
    best: dict[str, Any] | None = None
    best_score = 0
    for item in items:
        score = _place_score(item)
        if score > best_score:
            best, best_score = item, score
    return best


def _one(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _text(value: Any) -> str | None:
    value = _one(value)
    if isinstance(value, dict):
        value = value.get("@value", value.get("name", value.get("text")))
    if value is None or isinstance(value, dict | list):
        return None
    # JSON-LD strings are not HTML, yet CMS plugins often write entities into them (`&amp;`, `&#039;`).
    text = html.unescape(str(value)).strip()
    return text or None


def _strip_prefix(text: str | None, *prefixes: str) -> str | None:
    if text is None:
        return None
    for prefix in prefixes:
        if text.lower().startswith(prefix):
            return text[len(prefix) :].strip() or None
    return text


def _urls(value: Any, base_url: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out: dict[str, None] = {}
    for item in items:
        url = item
        if isinstance(item, dict):
            url = item.get("url") or item.get("contentUrl") or item.get("@id")
            url = _one(url)
        if isinstance(url, str) and url.strip():
            out.setdefault(urljoin(base_url, url.strip()), None)
    return list(out)


def _hhmm(value: Any) -> str:
    text = str(value or "").strip()
    return text[:5] if re.match(r"^\d\d:\d\d(:\d\d)?", text) else text


def opening_hours_text(item: Mapping[str, Any]) -> str | None:
    """`openingHours` as written, else `openingHoursSpecification` as "Monday, Tuesday 09:00-17:00; ..."."""
    hours = item.get("openingHours")
    if hours:
        parts = [str(h).strip() for h in (hours if isinstance(hours, list) else [hours]) if str(h).strip()]
        if parts:
            return "; ".join(parts)
    specs = item.get("openingHoursSpecification")
    if not specs:
        return None
    groups: dict[tuple[str, str, str], list[str]] = {}
    for spec in specs if isinstance(specs, list) else [specs]:
        if not isinstance(spec, dict):
            continue
        days = spec.get("dayOfWeek") or []
        names = [re.split(r"[/:#]", str(d))[-1] for d in (days if isinstance(days, list) else [days])]
        opens, closes = _hhmm(spec.get("opens")), _hhmm(spec.get("closes"))
        season = ""
        if spec.get("validFrom") or spec.get("validThrough"):
            season = f" ({spec.get('validFrom') or '…'} to {spec.get('validThrough') or '…'})"
        key = (opens, closes, season)
        groups.setdefault(key, [])
        groups[key].extend(n for n in names if n not in groups[key])
    rendered = []
    for (opens, closes, season), days in groups.items():
        days_sorted = sorted(days, key=lambda d: _DAYS.index(d) if d in _DAYS else len(_DAYS))
        when = "closed" if opens == closes == "00:00" or not (opens or closes) else f"{opens}-{closes}"
        rendered.append(f"{', '.join(days_sorted)} {when}{season}".strip())
    return "; ".join(rendered) or None


def schema_values(item: Mapping[str, Any], page_url: str) -> dict[str, Any]:
    """Canonical fields from a schema.org place item (empty ones left out)."""
    out: dict[str, Any] = {
        "name": _text(item.get("name")),
        "description": _text(item.get("description")),
        "category": next(
            (t for t in _type_names(item) if t not in ("Place", "LocalBusiness", "Thing")), None
        ),
        "phone": _strip_prefix(_text(item.get("telephone")), "tel:"),
        "email": _strip_prefix(_text(item.get("email")), "mailto:"),
        "opening_hours": opening_hours_text(item),
    }
    address = _one(item.get("address"))
    if isinstance(address, dict):
        street = address.get("streetAddress")
        out["address1"] = ", ".join(str(s) for s in street) if isinstance(street, list) else _text(street)
        out["city"] = _text(address.get("addressLocality"))
        out["state"] = _text(address.get("addressRegion"))
        out["zip"] = _text(address.get("postalCode"))
        out["country"] = _text(address.get("addressCountry"))
    elif isinstance(address, str):
        out["address1"] = address.strip() or None
    geo = _one(item.get("geo"))
    if isinstance(geo, dict):
        out["lat"], out["lng"] = _text(geo.get("latitude")), _text(geo.get("longitude"))
    if not out.get("lat"):
        out["lat"], out["lng"] = _text(item.get("latitude")), _text(item.get("longitude"))
    page_host = urlsplit(page_url).netloc.lower()
    website = next(
        (u for u in _urls(item.get("url"), page_url) if urlsplit(u).netloc.lower() != page_host), None
    )
    out["website"] = website  # a `url` on the directory's own host is the listing page, not the place's site
    for link in _urls(item.get("sameAs"), page_url):
        host = urlsplit(link).netloc.lower().removeprefix("www.").removeprefix("m.")
        for name, hosts in SOCIAL_HOSTS.items():
            if host in hosts and name not in out:
                out[name] = link
    out["images"] = _urls(item.get("image") or item.get("photo"), page_url) or None
    return {k: v for k, v in out.items() if v not in (None, "", [])}


# ------------------------------------------------------------------------------------------------
# Parsing stored pages
def _is_html(page: Mapping[str, Any]) -> bool:
    ctype = str(page.get("headers", {}).get("content-type", "")).lower()
    if ctype:
        return "html" in ctype or "xml" in ctype
    return "<" in str(page.get("text", ""))[:1000]


def _truncated(text: str) -> bool:
    """An HTML page cut short: it opened <html>/<body> but closes neither (real pages nearly always do)."""
    lower = text.lower()
    return ("<body" in lower or "<html" in lower) and "</body" not in lower and "</html" not in lower


def _page_problem(page: Mapping[str, Any]) -> str | None:
    if not _is_html(page):
        ctype = page.get("headers", {}).get("content-type", "no content type")
        return f"response of GET {page['url']} is not an HTML page ({ctype})"
    if not str(page.get("text", "")).strip():
        return f"response of GET {page['url']} is empty"
    if _truncated(str(page["text"])):
        return f"response of GET {page['url']} looks truncated (no closing </body> or </html>)"
    return None


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class _Reader:
    """Applies one config's selectors and schema.org fallback to stored pages."""

    def __init__(self, params: WebsiteParams) -> None:
        self.params = params
        self.fallback_counts: dict[str, int] = {}
        self.schema_problems: list[str] = []

    def read(
        self,
        node: Selector,
        url: str,
        base: str,
        list_values: Mapping[str, Any] | None = None,
        *,
        jsonld: bool = True,
    ) -> dict[str, Any]:
        """One record's values from a detail page (or a list item); `url` is the page's, `base` what its
        relative links resolve against."""
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name, selector in self.params.fields.items():
            value = field_value(node, name, selector, base)
            if value is not None:
                values[name], sources[name] = value, "selector"
        for name, value in (list_values or {}).items():
            if name not in values:
                values[name], sources[name] = value, "list"
        if self.params.use_schema_org:
            items, problems = schema_items(node, base, jsonld=jsonld)
            self.schema_problems.extend(f"{url}: {p}" for p in problems)
            place = pick_place(items)
            if place is not None:
                for name, value in schema_values(place, base).items():
                    if name not in values:
                        values[name], sources[name] = value, "schema.org"
                        self.fallback_counts[name] = self.fallback_counts.get(name, 0) + 1
                values["_schema_org"] = place
        values["_url"] = url
        values["_path"] = _path_of(url)
        values["_sources"] = sources
        return values

    def list_values(self, item: Selector, base: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, selector in self.params.list_fields.items():
            value = field_value(item, name, selector, base)
            if value is not None:
                out[name] = value
        return out


def _own_id(values: Mapping[str, Any]) -> str | None:
    """The configured `source_id` field's value (the first one if the selector matched several)."""
    return _text(values.get("source_id"))


class WebsiteSource:
    source_type: ClassVar[str] = "website"
    params_model: ClassVar[type[BaseModel]] = WebsiteParams
    default_mappings: ClassVar[dict[str, str]] = {
        "source_id": "_id",
        "name": "name",
        "description": "description",
        "category": "category",
        "address1": "address1",
        "address2": "address2",
        "city": "city",
        "state": "state",
        "zip": "zip",
        "country": "country",
        "lat": "lat",
        "lng": "lng",
        "phone": "phone",
        "email": "email",
        "website": "website",
        "facebook": "facebook",
        "instagram": "instagram",
        "youtube": "youtube",
        "tiktok": "tiktok",
        "twitter": "twitter",
        "pinterest": "pinterest",
        "tripadvisor": "tripadvisor",
        "yelp": "yelp",
        "opening_hours": "opening_hours",
        "images": "images",
    }

    # --------------------------------------------------------------------------------------------
    def fetch(self, ctx: FetchContext) -> RawPayload:
        params = ctx.params
        assert isinstance(params, WebsiteParams)
        start_urls = self._start_urls(ctx, params)
        since = ctx.since if params.incremental else None
        if since is not None and params.since_param:
            start_urls = [
                _with_query(u, {params.since_param: since.astimezone(UTC).isoformat()}) for u in start_urls
            ]
        user = password = None
        if params.auth_conn_id:
            creds = get_credentials(params.auth_conn_id)
            user, password = creds.login, creds.password
        spec = CrawlSpec(
            start_urls=start_urls,
            item_selector=params.item_selector,
            link_selector=params.link_selector,
            next_page_selector=params.next_page_selector,
            max_pages=params.max_pages,
            limit=ctx.limit,
            delay_seconds=params.delay_seconds,
            timeout_seconds=params.timeout_seconds,
            retries=params.retries,
            backoff_seconds=params.backoff_seconds,
            max_backoff_seconds=params.max_backoff_seconds,
            headers=params.headers,
            http_user=user,
            http_password=password,
            allow_private_hosts=params.allow_private_hosts,
        )
        lines, stderr, code = run_spider(spec, scrapers_dir(ctx.project_dir))
        raw = RawPages(
            source_type=self.source_type,
            request={
                "start_urls": start_urls,
                "since": since.isoformat() if since else None,
                "limit": ctx.limit,
                "max_pages": params.max_pages,
                "selectors": {
                    "item": params.item_selector,
                    "link": params.link_selector,
                    "next_page": params.next_page_selector,
                },
            },
        )
        errors: list[str] = []
        not_fetched: list[dict[str, Any]] = []
        for line in lines:
            kind = line.get("type")
            if kind == "page":
                raw.pages.append({k: v for k, v in line.items() if k != "type"})
            elif kind == "error":
                errors.append(str(line.get("message")))
            elif kind == "skipped":
                not_fetched.append({"url": line.get("url"), "reason": line.get("reason")})
            elif kind == "stats":
                raw.request["crawl"] = line.get("stats", {})
        raw.request["not_fetched"] = not_fetched
        if code != 0:
            errors.append(f"the crawler exited with code {code}: {_tail(stderr)}")
        if not raw.pages:
            if errors:
                raise SourceError(f"DMO {ctx.config.dmo.id}: crawl failed on its start page: {errors[0]}")
            blocked = [n["url"] for n in not_fetched]
            why = f" (robots.txt disallows {', '.join(map(str, blocked))})" if blocked else ""
            raise SourceError(
                f"DMO {ctx.config.dmo.id}: the crawl of {', '.join(start_urls)} fetched no page{why}"
            )
        if errors:
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raw.error = f"{len(errors)} page(s) failed: " + "; ".join(errors[:5]) + more
            log.warning("crawl of %s: %s", start_urls[0], raw.error)
        kinds = [p.get("kind") for p in raw.pages]
        return raw.payload(
            start_urls[0],
            list_pages=kinds.count("list"),
            detail_pages=kinds.count("detail"),
            not_fetched=len(not_fetched),
        )

    @staticmethod
    def _start_urls(ctx: FetchContext, params: WebsiteParams) -> list[str]:
        base = str(ctx.config.base_url) if ctx.config.base_url else None
        urls = params.start_urls or ([base] if base else [])
        if not urls:
            raise SourceError(f"DMO {ctx.config.dmo.id}: set base_url or config_params.start_urls")
        out = []
        for url in urls:
            if not urlsplit(url).scheme:
                if base is None:
                    raise SourceError(
                        f"DMO {ctx.config.dmo.id}: start URL {url!r} is relative and there is no base_url"
                    )
                url = urljoin(base, url)
            out.append(url)
        return out

    # --------------------------------------------------------------------------------------------
    def parse(self, data: bytes, config: DmoConfig) -> ParseResult:
        params = WebsiteParams.model_validate(config.config_params)
        raw = RawPages.load(data)
        reader = _Reader(params)
        records: list[SourceRecord] = []
        errors: list[SourceRecordError] = []
        row = 0
        counts = {"items": 0, "items_without_link": 0, "links_not_fetched": 0}

        details = [p for p in raw.pages if p.get("kind") == "detail"]
        by_link: dict[str, dict[str, Any]] = {}
        for p in details:
            by_link.setdefault(str(p.get("link") or p["url"]), p)
            by_link.setdefault(str(p["url"]), p)
        done: set[int] = set()

        def emit_detail(page: dict[str, Any], list_values: Mapping[str, Any] | None) -> None:
            nonlocal row
            done.add(id(page))
            row += 1
            problem = _page_problem(page)
            if problem is not None:
                errors.append(_malformed(row, page, problem))
                return
            try:
                sel = html_selector(page["text"], page["url"])
                values = reader.read(sel, page["url"], document_base(sel, page["url"]), list_values)
            except Exception as exc:  # one unreadable page must not lose the others
                errors.append(_page_error(row, page, exc))
                return
            values["_id"] = _own_id(values) or values["_path"]
            records.append(
                SourceRecord(row, values, provenance(page, original_id=values["_id"], source_url=page["url"]))
            )

        for page in raw.pages:
            if page.get("kind") != "list":
                continue
            problem = _page_problem(page)
            if problem is not None:
                errors.append(_malformed(0, page, problem))
                if not _is_html(page):
                    continue  # a truncated list page still has the items it got before the cut
            try:
                sel = html_selector(page["text"], page["url"])
                base = document_base(sel, page["url"])
                items = list_items(sel, params.item_selector) if params.item_selector else []
            except Exception as exc:  # one unreadable page must not lose the others
                errors.append(_page_error(0, page, exc))
                continue
            for item in items:
                counts["items"] += 1
                if params.link_selector:
                    link = item_link(item, params.link_selector, base)
                    if link is None:
                        counts["items_without_link"] += 1
                        continue
                    detail = by_link.get(link)
                    if detail is None:
                        counts["links_not_fetched"] += 1  # robots.txt, the limit, or a failed page
                        continue
                    if id(detail) not in done:
                        emit_detail(detail, reader.list_values(item, base))
                    continue
                row += 1
                try:
                    # JSON-LD is page-wide, so it cannot be told apart per item: only the item's microdata
                    values = reader.read(
                        item, page["url"], base, reader.list_values(item, base), jsonld=False
                    )
                except Exception as exc:
                    errors.append(_page_error(row, page, exc))
                    continue
                values["_id"] = _own_id(values)
                link = item_link(item, "a::attr(href)", base)
                records.append(
                    SourceRecord(
                        row,
                        values,
                        provenance(page, original_id=values["_id"], source_url=link or page["url"]),
                    )
                )
        for page in details:
            if id(page) not in done:
                emit_detail(page, None)

        errors.extend(raw.fetch_error())
        return ParseResult(
            records=records,
            errors=errors,
            metadata={
                "list_pages": sum(1 for p in raw.pages if p.get("kind") == "list"),
                "detail_pages": len(details),
                **counts,
                "schema_org_fallback": dict(sorted(reader.fallback_counts.items())),
                "schema_org_problems": reader.schema_problems[:20],
                "not_fetched": raw.request.get("not_fetched", []),
            },
        )


def _malformed(row: int, page: Mapping[str, Any], message: str) -> SourceRecordError:
    return SourceRecordError(
        row,
        "malformed_response",
        message,
        {"url": page["url"], "status": page.get("status"), "body_start": str(page.get("text", ""))[:200]},
    )


def _page_error(row: int, page: Mapping[str, Any], exc: Exception) -> SourceRecordError:
    return SourceRecordError(
        row,
        "parse_error",
        f"page {page['url']} could not be read: {type(exc).__name__}: {exc}",
        {"url": page["url"], "status": page.get("status")},
    )


def _with_query(url: str, extra: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in extra]
    query.extend(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _tail(text: str, lines: int = 8) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "no output"


# ------------------------------------------------------------------------------------------------
# Running the spider
def scrapers_dir(project_dir: Path) -> Path:
    """The Scrapy project: `<checkout>/scrapers` (the image copies it to /opt/airflow/scrapers)."""
    for candidate in (project_dir / "scrapers", Path(__file__).resolve().parents[3] / "scrapers"):
        if (candidate / "scrapy.cfg").is_file():
            return candidate
    raise SourceError(f"the Scrapy project is missing: no scrapy.cfg in {project_dir / 'scrapers'}")


def run_spider(spec: CrawlSpec, project: Path) -> tuple[list[dict[str, Any]], str, int]:
    """Run the generic spider in a subprocess; its output lines (pages, errors, skips, stats), its log, its
    exit code."""
    with tempfile.TemporaryDirectory(prefix="listings-crawl-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        out_path = Path(tmp) / "pages.jsonl"
        spec_path.write_text(spec.model_dump_json(), encoding="utf-8")
        spec_path.chmod(0o600)  # it may hold the site's credentials
        env = {
            **os.environ,
            "SCRAPY_SETTINGS_MODULE": SCRAPY_SETTINGS_MODULE,
            "PYTHONPATH": os.pathsep.join(p for p in (str(project), os.environ.get("PYTHONPATH", "")) if p),
        }
        cmd = [
            sys.executable, "-m", "scrapy", "crawl", SPIDER,
            "-a", f"spec={spec_path}", "-a", f"output={out_path}",
        ]  # fmt: skip
        started = datetime.now(UTC)
        proc = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, check=False)
        log.info(
            "crawl of %s: exit %d in %.1f s",
            spec.start_urls[0],
            proc.returncode,
            (datetime.now(UTC) - started).total_seconds(),
        )
        lines: list[dict[str, Any]] = []
        if out_path.exists():
            with out_path.open(encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        try:
                            lines.append(json.loads(line))
                        except json.JSONDecodeError:
                            break  # a crawler killed mid-write: keep what was complete
        return lines, proc.stderr, proc.returncode
