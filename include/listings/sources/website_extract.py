"""Extraction for `website` sources: pure functions from HTML to field values, no network. The connector
(listings.sources.website) applies them to the stored pages; the spider (scrapers/) uses the selector and link
helpers to crawl, so that crawling and parsing share one grammar.

- Selectors: `split_selector`, `select`, `check_selector`, the visible text of elements (`values_of`,
  `field_value`) and the links of list pages (`list_items`, `item_link`, `next_page_link`).
- schema.org: the JSON-LD and microdata items of a page (`schema_items`), the one that describes the place
  (`pick_place`) and the canonical fields read from it (`schema_values`, `opening_hours_text`).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from parsel import Selector, SelectorList

# Fields whose value is always a list (the others are one text, or a list when several elements match).
MULTI_VALUED = frozenset({"images"})
# Fields whose matches read as paragraphs rather than as a list of values.
JOINED_BY_LINES = frozenset({"description", "opening_hours"})
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
            error = f"JSON-LD block {i} is not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})"
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


def schema_text(value: Any) -> str | None:
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
        "name": schema_text(item.get("name")),
        "description": schema_text(item.get("description")),
        "category": next(
            (t for t in _type_names(item) if t not in ("Place", "LocalBusiness", "Thing")), None
        ),
        "phone": _strip_prefix(schema_text(item.get("telephone")), "tel:"),
        "email": _strip_prefix(schema_text(item.get("email")), "mailto:"),
        "opening_hours": opening_hours_text(item),
    }
    address = _one(item.get("address"))
    if isinstance(address, dict):
        street = address.get("streetAddress")
        out["address1"] = (
            ", ".join(str(s) for s in street) if isinstance(street, list) else schema_text(street)
        )
        out["city"] = schema_text(address.get("addressLocality"))
        out["state"] = schema_text(address.get("addressRegion"))
        out["zip"] = schema_text(address.get("postalCode"))
        out["country"] = schema_text(address.get("addressCountry"))
    elif isinstance(address, str):
        out["address1"] = address.strip() or None
    geo = _one(item.get("geo"))
    if isinstance(geo, dict):
        out["lat"], out["lng"] = schema_text(geo.get("latitude")), schema_text(geo.get("longitude"))
    if not out.get("lat"):
        out["lat"], out["lng"] = schema_text(item.get("latitude")), schema_text(item.get("longitude"))
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
