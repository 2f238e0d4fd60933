"""HERE places: Geocoding & Search v7 (`discover`, `browse`, `lookup`), the older Places API v1
(`discover/explore`, paged by `next` links), or an uploaded HERE JSON response.

Requests (the key is the `apiKey` query parameter; it comes from the Airflow connection `auth_conn_id`,
its password or extra `api_key`):

- v7 discover: GET https://discover.search.hereapi.com/v1/discover?q=…&at=lat,lng|in=…&limit=…&lang=…
- v7 browse:   GET https://browse.search.hereapi.com/v1/browse?at=lat,lng&categories=100-1000-0000,…&in=…
- v7 lookup:   GET https://lookup.search.hereapi.com/v1/lookup?id=here:pds:place:…   (one request per id)
- v1 explore:  GET …/places/v1/discover/explore?at=lat,lng&cat=…&size=…, then every `next` URL

`base_url` is the API root (default: the real host of the endpoint) and `path` the endpoint below it (or
an absolute URL), so one config talks to the real hosts or to the local demo stand-in alike.

Responses:

- v7 discover/browse: `{"items": [item, …]}`, no paging: one request per query, `limit` ≤ 100.
- v7 lookup: the item itself; an unknown id answers 404 (kept as a `not_found` error, the run goes on).
- v1: first page `{"results": {"items": […], "next": url}, "search": {"context": …}}`, later pages
  `{"items": […], "next": url, "previous": url, "offset": n}`; `next` is followed until it is absent or
  `max_pages` pages of that query were fetched.

A v7 item: `id` ("here:pds:place:…"), `title`, `address` {label, countryCode (ISO alpha-3), countryName,
stateCode, state, county, city, district, street, houseNumber, postalCode}, `position` {lat, lng},
`access`, `categories` [{id "100-1000-0000", name, primary}], `foodTypes`, `chains`, `references`,
`contacts` [{phone|mobile|tollFree|fax|www|email: [{value, categories}]}], `openingHours` [{categories,
text: [line, …], isOpen, structured: [{start "T083000", duration "PT08H00M", recurrence "FREQ:…"}]}].
A v1 item: `id`, `title`, `position` [lat, lng], `vicinity` ("1520 Elm St<br/>Dallas, TX 75201"),
`category` {id, title}, `tags`, `href` (its own URL), `openingHours` {text "a<br/>b", label, isOpen,
structured}; v1 place details add `location.address` and `contacts` {phone|website|email: [{value}]}.

Records are the items as they came (so `openingHours[].structured` is kept as it came) plus derived keys:
`_street` (house number + street in the label's order, or the v1 vicinity's first line), `_city`,
`_state`, `_zip` (v7 address; parsed from the v1 vicinity, which has no structured address),
`_country2` (ISO alpha-3 → alpha-2), `_phone`, `_website`, `_email` (first contact value), `_categories`
(names, the primary first), `_hours` (the opening-hours text lines joined), `_lat`, `_lng`.

Each query of `queries` covers part of the DMO's area; items are de-duplicated by HERE id across the run
(the first wins). That happens in `parse`, so it is reproducible from the stored pages alone.

HERE search has no "changed since" filter: every run is a full snapshot and `incremental` is refused.
The API key never reaches the raw payload, a log line or an error: it is added by the HTTP session when a
request is sent, and stripped from stored page URLs and bodies (v1 echoes it in its `next`/`href` links),
so stored pages are as they came except for the key.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import quote, quote_plus, urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    HttpError,
    HttpParams,
    Page,
    RawPages,
    get_credentials,
    keep_partial,
    provenance,
)

if TYPE_CHECKING:
    from listings.config.models import DmoConfig

Endpoint = Literal["discover", "browse", "lookup", "places_v1", "upload"]

# The real hosts; a config's base_url replaces them (the demo site, a proxy).
DEFAULT_BASE_URLS: dict[str, str] = {
    "discover": "https://discover.search.hereapi.com/v1/",
    "browse": "https://browse.search.hereapi.com/v1/",
    "lookup": "https://lookup.search.hereapi.com/v1/",
    "places_v1": "https://places.ls.hereapi.com/",
}
DEFAULT_PATHS: dict[str, str] = {
    "discover": "discover",
    "browse": "browse",
    "lookup": "lookup",
    "places_v1": "places/v1/discover/explore",
}
NOT_FOUND_KIND = "lookup_not_found"
_KEY_PARAM = re.compile(r"(?i)([?&;]apikey=)[^&#\s\"'<>\\]*")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_CITY_LINE = re.compile(
    r"^(?P<city>[^,]+),\s*(?P<state>[A-Z]{2,3})(?:\s+(?P<zip>[A-Za-z0-9][A-Za-z0-9 -]*))?$"
)
_LAT_LNG = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")

# ISO 3166-1 alpha-3 → alpha-2, all 249 codes (generated from pycountry 26.2.16), plus HERE's XKS (Kosovo).
_ISO3_ISO2 = (
    "ABWAW AFGAF AGOAO AIAAI ALAAX ALBAL ANDAD AREAE ARGAR ARMAM ASMAS ATAAQ ATFTF ATGAG AUSAU AUTAT "
    "AZEAZ BDIBI BELBE BENBJ BESBQ BFABF BGDBD BGRBG BHRBH BHSBS BIHBA BLMBL BLRBY BLZBZ BMUBM BOLBO "
    "BRABR BRBBB BRNBN BTNBT BVTBV BWABW CAFCF CANCA CCKCC CHECH CHLCL CHNCN CIVCI CMRCM CODCD COGCG "
    "COKCK COLCO COMKM CPVCV CRICR CUBCU CUWCW CXRCX CYMKY CYPCY CZECZ DEUDE DJIDJ DMADM DNKDK DOMDO "
    "DZADZ ECUEC EGYEG ERIER ESHEH ESPES ESTEE ETHET FINFI FJIFJ FLKFK FRAFR FROFO FSMFM GABGA GBRGB "
    "GEOGE GGYGG GHAGH GIBGI GINGN GLPGP GMBGM GNBGW GNQGQ GRCGR GRDGD GRLGL GTMGT GUFGF GUMGU GUYGY "
    "HKGHK HMDHM HNDHN HRVHR HTIHT HUNHU IDNID IMNIM INDIN IOTIO IRLIE IRNIR IRQIQ ISLIS ISRIL ITAIT "
    "JAMJM JEYJE JORJO JPNJP KAZKZ KENKE KGZKG KHMKH KIRKI KNAKN KORKR KWTKW LAOLA LBNLB LBRLR LBYLY "
    "LCALC LIELI LKALK LSOLS LTULT LUXLU LVALV MACMO MAFMF MARMA MCOMC MDAMD MDGMG MDVMV MEXMX MHLMH "
    "MKDMK MLIML MLTMT MMRMM MNEME MNGMN MNPMP MOZMZ MRTMR MSRMS MTQMQ MUSMU MWIMW MYSMY MYTYT NAMNA "
    "NCLNC NERNE NFKNF NGANG NICNI NIUNU NLDNL NORNO NPLNP NRUNR NZLNZ OMNOM PAKPK PANPA PCNPN PERPE "
    "PHLPH PLWPW PNGPG POLPL PRIPR PRKKP PRTPT PRYPY PSEPS PYFPF QATQA REURE ROURO RUSRU RWARW SAUSA "
    "SDNSD SENSN SGPSG SGSGS SHNSH SJMSJ SLBSB SLESL SLVSV SMRSM SOMSO SPMPM SRBRS SSDSS STPST SURSR "
    "SVKSK SVNSI SWESE SWZSZ SXMSX SYCSC SYRSY TCATC TCDTD TGOTG THATH TJKTJ TKLTK TKMTM TLSTL TONTO "
    "TTOTT TUNTN TURTR TUVTV TWNTW TZATZ UGAUG UKRUA UMIUM URYUY USAUS UZBUZ VATVA VCTVC VENVE VGBVG "
    "VIRVI VNMVN VUTVU WLFWF WSMWS YEMYE ZAFZA ZMBZM ZWEZW XKSXK"
)
_ISO3_TO_2: dict[str, str] = {pair[:3]: pair[3:] for pair in _ISO3_ISO2.split()}


def country_alpha2(code: Any) -> str | None:
    """An ISO 3166-1 alpha-2 code for HERE's alpha-3 `countryCode` (alpha-2 passes through)."""
    if not isinstance(code, str):
        return None
    upper = code.strip().upper()
    if len(upper) == 2 and upper.isalpha():
        return upper
    return _ISO3_TO_2.get(upper)


# ------------------------------------------------------------------------------------------------
class HereQuery(BaseModel):
    """One search of a run: a part of the DMO's area, or one kind of place."""

    # `in` is a Python keyword: the field is `in_`, written and stored as `in`.
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    q: str | None = Field(default=None, min_length=1, description="Free-text query (discover; v1 search).")
    at: str | None = Field(default=None, description="Search centre as 'lat,lng' (WGS84).")
    in_: str | None = Field(
        default=None,
        alias="in",
        min_length=1,
        description="Area filter: 'countryCode:CAN', 'circle:lat,lng;r=metres' or 'bbox:west,south,east,north'.",
    )
    categories: str | None = Field(
        default=None,
        min_length=1,
        description="Comma-separated HERE category ids, e.g. '100-1000-0000,500-5000' (browse; v1: `cat`).",
    )

    @field_validator("categories", mode="before")
    @classmethod
    def _join(cls, v: Any) -> Any:
        return ",".join(str(c).strip() for c in v) if isinstance(v, list) else v

    @field_validator("at")
    @classmethod
    def _at(cls, v: str | None) -> str | None:
        if v is None:
            return None
        m = _LAT_LNG.match(v)
        if not m or not (-90 <= float(m[1]) <= 90 and -180 <= float(m[2]) <= 180):
            raise ValueError(f"must be 'lat,lng' in degrees, e.g. '45.5017,-73.5673' (got {v!r})")
        return f"{m[1]},{m[2]}"

    def query(self, endpoint: str) -> dict[str, str]:
        names = {"categories": "cat"} if endpoint == "places_v1" else {}
        pairs = (("q", self.q), ("at", self.at), ("in", self.in_), ("categories", self.categories))
        return {names.get(k, k): v for k, v in pairs if v is not None}


class HereParams(HttpParams):
    """`config_params` of a here source."""

    endpoint: Endpoint = Field(
        default="discover",
        description="discover | browse | lookup (v7), places_v1 (v1 discover/explore), upload (a file only).",
    )
    path: str | None = Field(
        default=None,
        min_length=1,
        description="Endpoint path below base_url, or an absolute URL (default: discover, browse, lookup, "
        "places/v1/discover/explore).",
    )
    queries: list[HereQuery] = Field(
        default_factory=list,
        description="The searches of one run ({q, at, in, categories}); items de-duplicated.",
    )
    ids: list[str] = Field(default_factory=list, description="HERE place ids to look up (endpoint lookup).")
    limit: int = Field(default=100, ge=1, le=100, description="Items per request (v7 `limit`, v1 `size`).")
    lang: str | None = Field(
        default=None, description="Preferred language of the results (BCP 47), e.g. fr-CA."
    )
    extra_query: dict[str, str] = Field(
        default_factory=dict, description="More query parameters sent as they are (e.g. politicalView, show)."
    )
    file: str | None = Field(
        default=None, description="A saved HERE JSON response to load instead of calling the API."
    )

    @field_validator("incremental")
    @classmethod
    def _no_incremental(cls, v: bool) -> bool:
        if v:
            raise ValueError("HERE search has no 'changed since' filter: every run fetches the full set")
        return v

    @field_validator("extra_query")
    @classmethod
    def _no_key(cls, v: dict[str, str]) -> dict[str, str]:
        if any(k.lower() == "apikey" for k in v):
            raise ValueError("the API key goes in the Airflow connection (auth_conn_id), not in the config")
        return v

    @model_validator(mode="after")
    def _needs(self) -> HereParams:
        if self.file is not None or self.endpoint == "upload":
            return self
        if self.endpoint == "lookup":
            if not self.ids:
                raise ValueError("endpoint lookup needs `ids` (HERE place ids)")
            return self
        if not self.queries:
            raise ValueError(
                f"endpoint {self.endpoint} needs `queries` (a list of {{q, at, in, categories}})"
            )
        for n, query in enumerate(self.queries, start=1):
            where = f"query {n}"
            area = (query.in_ or "").split(":")[0] in ("circle", "bbox")
            if self.endpoint == "discover":
                if not query.q or not (query.at or area):
                    raise ValueError(f"{where}: discover needs `q` and `at` (or `in` circle:/bbox:)")
                if query.categories:
                    raise ValueError(f"{where}: discover has no categories filter (use endpoint browse)")
            elif self.endpoint == "browse":
                if not query.at:
                    raise ValueError(f"{where}: browse needs `at`")
                if query.q:
                    raise ValueError(f"{where}: browse has no `q` (use endpoint discover)")
            elif not (query.at or area):
                raise ValueError(f"{where}: places_v1 needs `at` or `in` circle:/bbox:")
        return self

    def endpoint_url(self, base_url: str | None) -> str:
        path = self.path or DEFAULT_PATHS[self.endpoint]
        if urlsplit(path).scheme:
            return path
        base = base_url or DEFAULT_BASE_URLS[self.endpoint]
        return urljoin(base if base.endswith("/") else base + "/", path.lstrip("/"))


# ------------------------------------------------------------------------------------------------
Redact = Callable[[str], str]
Provenance = Callable[[dict[str, Any]], dict[str, Any]]


def _redactor(key: str) -> Redact:
    forms = sorted({key, quote(key, safe=""), quote_plus(key)}, key=len, reverse=True)

    def redact(text: str) -> str:
        text = _KEY_PARAM.sub(r"\1***", text)
        for form in forms:
            text = text.replace(form, "***")
        return text

    return redact


def _strip_key(url: str) -> str:
    """A link the API gave (v1 `next`) without its apiKey parameter: the session adds ours."""
    parts = urlsplit(url)
    query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("apikey="))
    return parts._replace(query=query).geturl()


@dataclass
class _Run:
    client: HttpClient
    raw: RawPages
    redact: Redact
    limit: int | None
    seen: set[str] = field(default_factory=set)

    def get(self, url: str, query: Mapping[str, Any] | None, **extra: Any) -> Any:
        """GET one page and keep it (key redacted); its decoded JSON, or None when it is not JSON."""
        page = self.client.get(url, query)
        self.raw.add(page, **extra)
        kept = self.raw.pages[-1]
        kept["url"], kept["text"] = self.redact(page.url), self.redact(page.text)
        try:
            return json.loads(page.text)
        except json.JSONDecodeError:
            return None  # kept as it came; parse reports it as a malformed response

    def count(self, items: Iterable[Any]) -> None:
        self.seen.update(str(i["id"]) for i in items if isinstance(i, dict) and i.get("id") is not None)

    def remaining(self) -> int | None:
        return None if self.limit is None else self.limit - len(self.seen)

    def full(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0


def _items(body: Any) -> tuple[list[Any], str | None, str | None]:
    """The items of one HERE response (v7 list, v1 first or later page, lookup item, saved list), the
    v1 `next` link, and a problem when the body is none of those."""
    if isinstance(body, list):
        return body, None, None
    if not isinstance(body, dict):
        return [], None, f"a JSON {type(body).__name__}, not a HERE response object"
    results = body.get("results")
    if isinstance(body.get("items"), list):
        nxt = body.get("next")
        return body["items"], nxt if isinstance(nxt, str) else None, None
    if isinstance(results, dict) and isinstance(results.get("items"), list):
        nxt = results.get("next")
        return results["items"], nxt if isinstance(nxt, str) else None, None
    if isinstance(results, list):
        return results, None, None
    if body.get("id") is not None and ("title" in body or "address" in body):
        return [body], None, None  # a lookup answer is the item itself
    if "error" in body or ("status" in body and "title" in body):
        detail = body.get("error_description") or body.get("title") or body.get("error")
        return [], None, f"an error response: {detail}"
    return [], None, f"no items in a response with keys {', '.join(sorted(map(str, body))[:12])}"


# ------------------------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = html.unescape(str(value)).strip()
    return text or None


def _lines(value: Any) -> list[str]:
    """Text lines of a HERE text field: a v7 list of lines or a v1 string with <br/> breaks."""
    values = value if isinstance(value, list) else [value]
    out: list[str] = []
    for v in values:
        if isinstance(v, str):
            out.extend(t for t in (_text(part) for part in _BR.split(v)) if t)
    return out


def _position(item: Mapping[str, Any]) -> tuple[Any, Any]:
    pos = item.get("position")
    if pos is None and isinstance(item.get("location"), Mapping):
        pos = item["location"].get("position")
    if isinstance(pos, Mapping):
        return pos.get("lat"), pos.get("lng")
    if isinstance(pos, list) and len(pos) >= 2:
        return pos[0], pos[1]
    return None, None


def _street(address: Mapping[str, Any], number_key: str) -> str | None:
    number, street = _text(address.get(number_key)), _text(address.get("street"))
    if not (number and street):
        return street or None
    label = str(address.get("label") or address.get("text") or "")
    # The label is written in the country's own order ("Anticova ulica 5" in Croatia).
    if f"{street} {number}" in label and f"{number} {street}" not in label:
        return f"{street} {number}"
    return f"{number} {street}"


def _address(item: Mapping[str, Any]) -> dict[str, Any]:
    address = item.get("address")
    if isinstance(address, Mapping):  # v7
        return {
            "_street": _street(address, "houseNumber"),
            "_city": _text(address.get("city")),
            "_state": _text(address.get("stateCode") or address.get("state")),
            "_zip": _text(address.get("postalCode")),
            "_country2": country_alpha2(address.get("countryCode")),
        }
    location = item.get("location")
    details = location.get("address") if isinstance(location, Mapping) else None
    if isinstance(details, Mapping):  # v1 place details
        return {
            "_street": _street(details, "house"),
            "_city": _text(details.get("city")),
            "_state": _text(details.get("stateCode") or details.get("state")),
            "_zip": _text(details.get("postalCode")),
            "_country2": country_alpha2(details.get("countryCode")),
        }
    out: dict[str, Any] = {"_street": None, "_city": None, "_state": None, "_zip": None, "_country2": None}
    lines = _lines(item.get("vicinity"))  # v1 search results: "street<br/>City, ST zip"
    if lines:
        m = _CITY_LINE.match(lines[-1])
        if m:
            out.update(
                _city=m["city"].strip(), _state=m["state"], _zip=m["zip"].strip() if m["zip"] else None
            )
            street_lines = lines[:-1]
        else:
            street_lines = lines[:1] if len(lines) > 1 else lines
        out["_street"] = street_lines[0] if street_lines else None
    return out


def _contact(item: Mapping[str, Any], kinds: tuple[str, ...]) -> str | None:
    contacts = item.get("contacts")
    groups = contacts if isinstance(contacts, list) else [contacts] if isinstance(contacts, Mapping) else []
    for kind in kinds:
        for group in groups:
            entries = group.get(kind) if isinstance(group, Mapping) else None
            for entry in entries if isinstance(entries, list) else []:
                value = _text(entry.get("value")) if isinstance(entry, Mapping) else None
                if value:
                    return value
    return None


def _categories(item: Mapping[str, Any]) -> list[str]:
    cats = item.get("categories")
    if isinstance(cats, list):
        entries = [c for c in cats if isinstance(c, Mapping)]
        entries.sort(key=lambda c: not c.get("primary"))  # stable: the primary first, then HERE's order
        names = [_text(c.get("name")) for c in entries]
    else:
        cat = item.get("category")
        names = [_text(cat.get("title") or cat.get("name"))] if isinstance(cat, Mapping) else []
    return list(dict.fromkeys(n for n in names if n))


def _hours(item: Mapping[str, Any]) -> str | None:
    hours = item.get("openingHours")
    entries = hours if isinstance(hours, list) else [hours] if isinstance(hours, Mapping) else []
    lines = [line for e in entries if isinstance(e, Mapping) for line in _lines(e.get("text"))]
    return "; ".join(dict.fromkeys(lines)) or None


def record_values(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as it came plus the derived `_` keys the default mappings read."""
    lat, lng = _position(item)
    return {
        **item,
        **_address(item),
        "_phone": _contact(item, ("phone", "mobile", "tollFree")),
        "_website": _contact(item, ("www", "website")),
        "_email": _contact(item, ("email",)),
        "_categories": _categories(item),
        "_hours": _hours(item),
        "_lat": lat,
        "_lng": lng,
    }


# ------------------------------------------------------------------------------------------------
class HereSource:
    source_type: ClassVar[str] = "here"
    params_model: ClassVar[type[BaseModel]] = HereParams
    default_mappings: ClassVar[dict[str, str]] = {
        "source_id": "id",
        "name": "title",
        "category": "_categories.0",
        "address1": "_street",
        "city": "_city",
        "state": "_state",
        "zip": "_zip",
        "country": "_country2",
        "lat": "_lat",
        "lng": "_lng",
        "phone": "_phone",
        "email": "_email",
        "website": "_website",
        "opening_hours": "openingHours",  # structured hours: the parser prefers them to their text
    }

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep  # tests pass their own to see the waits

    # -- fetch ---------------------------------------------------------------------------------
    def fetch(self, ctx: FetchContext) -> RawPayload:
        params = ctx.params
        assert isinstance(params, HereParams)
        if ctx.file is not None or params.file is not None or params.endpoint == "upload":
            data, metadata, uri = read_upload(ctx, params.file, "HERE JSON")
            return RawPayload(data=data, fmt="json", source_uri=uri, metadata=metadata)

        key = self._api_key(params, ctx.config.dmo.id)
        base = str(ctx.config.base_url) if ctx.config.base_url else None
        url = params.endpoint_url(base)
        common = {**({"lang": params.lang} if params.lang else {}), **params.extra_query}
        raw = RawPages(
            self.source_type,
            request={
                "endpoint": params.endpoint,
                "url": url,
                "queries": [q.model_dump(exclude_none=True) for q in params.queries],
                "ids": params.ids,
                "limit": params.limit,
                "query": common,
                "max_pages": params.max_pages,
                "preview_limit": ctx.limit,
                "since": None,  # HERE has no change filter
                "auth": "apiKey query parameter (redacted)",
            },
        )
        client = HttpClient(params, headers={"Accept": "application/json"}, sleep=self._sleep)
        # Session params are added when a request is sent: the URLs HttpClient logs and names in its
        # errors never carry the key; the stored pages are redacted by _Run.
        client.session.params = {"apiKey": key}
        run = _Run(client, raw, _redactor(key), ctx.limit)
        with keep_partial(raw):
            if params.endpoint == "lookup":
                self._lookup(run, url, params, common)
            elif params.endpoint == "places_v1":
                self._v1(run, url, params, common)
            else:
                self._v7(run, url, params, common)
        return raw.payload(url, endpoint=params.endpoint, items=len(run.seen))

    @staticmethod
    def _api_key(params: HereParams, dmo_id: int) -> str:
        if params.auth_conn_id is None:
            raise SourceError(
                f"DMO {dmo_id}: HERE needs an API key: set config_params.auth_conn_id to an Airflow "
                "connection whose password (or extra `api_key`) is the key"
            )
        creds = get_credentials(params.auth_conn_id)
        key = creds.password or creds.extra.get("api_key")
        if not key:
            raise SourceError(
                f"Airflow connection {params.auth_conn_id!r} has no API key: set its password or extra `api_key`"
            )
        return str(key)

    @staticmethod
    def _v7(run: _Run, url: str, params: HereParams, common: dict[str, str]) -> None:
        for n, query in enumerate(params.queries):
            if run.full():
                break
            left = run.remaining()
            limit = params.limit if left is None else min(params.limit, left)
            body = run.get(url, {**query.query(params.endpoint), "limit": limit, **common}, query_no=n)
            run.count(_items(body)[0])

    @staticmethod
    def _v1(run: _Run, url: str, params: HereParams, common: dict[str, str]) -> None:
        origin = urlsplit(url)
        for n, query in enumerate(params.queries):
            page_url: str | None = url
            left = run.remaining()
            size = params.limit if left is None else min(params.limit, left)
            page_query: dict[str, Any] | None = {**query.query("places_v1"), "size": size, **common}
            page_no = 0
            while page_url is not None and not run.full():
                if params.max_pages is not None and page_no >= params.max_pages:
                    break
                page_no += 1
                body = run.get(page_url, page_query, query_no=n, page_no=page_no)
                items, nxt, _ = _items(body)
                run.count(items)
                if not nxt:
                    break
                nxt = urljoin(page_url, nxt)
                there = urlsplit(nxt)
                if there.netloc != origin.netloc or there.scheme not in (origin.scheme, "https"):
                    # Following it would send the API key to another host.
                    raise SourceError(
                        f"the `next` link {run.redact(nxt)} leaves {origin.netloc}: not followed"
                    )
                page_url, page_query = _strip_key(nxt), None

    @staticmethod
    def _lookup(run: _Run, url: str, params: HereParams, common: dict[str, str]) -> None:
        missing: list[HttpError] = []
        for place_id in params.ids:
            if run.full():
                break
            try:
                body = run.get(url, {"id": place_id, **common}, lookup_id=place_id)
            except HttpError as exc:
                if exc.status != 404:
                    raise
                missing.append(exc)
                # An id HERE no longer knows: kept as a page so that parse reports it, the run goes on.
                run.raw.add(
                    Page(exc.url, 404, {}, datetime.now(UTC).isoformat(), "", 0.0),
                    kind=NOT_FOUND_KIND,
                    lookup_id=place_id,
                )
                continue
            run.count(_items(body)[0])
        if missing and all(p.get("kind") == NOT_FOUND_KIND for p in run.raw.pages):
            run.raw.pages.clear()  # not one id found: rather a wrong path than gone places; fail the job
            raise missing[0]

    # -- parse ---------------------------------------------------------------------------------
    def parse(self, data: bytes, config: DmoConfig) -> ParseResult:
        try:
            doc = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SourceError(f"DMO {config.dmo.id}: the HERE payload is not JSON: {exc}") from None
        if isinstance(doc, dict) and doc.get("format") == ENVELOPE_FORMAT:
            return self._parse_pages(RawPages.load(data))
        return self._parse_upload(doc, config)

    def _parse_pages(self, raw: RawPages) -> ParseResult:
        out = _Collector()
        for page, body, error in raw.json_pages():
            if page.get("kind") == NOT_FOUND_KIND:
                out.errors.append(
                    SourceRecordError(
                        0,
                        "not_found",
                        f"HERE has no place {page.get('lookup_id')!r} (HTTP 404 for GET {page['url']})",
                        {"id": page.get("lookup_id"), "url": page["url"], "status": page["status"]},
                    )
                )
                continue
            if error is not None:
                out.errors.append(error)
                continue
            items, _, problem = _items(body)
            if problem:
                out.errors.append(
                    SourceRecordError(
                        0,
                        "unexpected_response",
                        f"response of GET {page['url']} is {problem}",
                        {"url": page["url"], "status": page["status"], "body_start": page["text"][:200]},
                    )
                )
            for item in items:
                out.add(item, _page_provenance(page))
        out.errors.extend(raw.fetch_error())
        return out.result(pages=len(raw.pages))

    def _parse_upload(self, doc: Any, config: DmoConfig) -> ParseResult:
        items, _, problem = _items(doc)
        if problem:
            raise SourceError(f"DMO {config.dmo.id}: the uploaded file is {problem}")
        out = _Collector()
        for item in items:
            out.add(item, _upload_provenance)
        return out.result(upload=True)


def _page_provenance(page: Mapping[str, Any]) -> Provenance:
    def prov(item: dict[str, Any]) -> dict[str, Any]:
        return provenance(page, original_id=item.get("id"), source_url=_href(item))

    return prov


def _upload_provenance(item: dict[str, Any]) -> dict[str, Any]:
    return {"original_id": None if item.get("id") is None else str(item["id"]), "source_url": _href(item)}


def _href(item: Mapping[str, Any]) -> str | None:
    """A v1 item's own URL (stored redacted); v7 items have none."""
    href = item.get("href")
    return href if isinstance(href, str) and href.startswith("http") else None


@dataclass
class _Collector:
    records: list[SourceRecord] = field(default_factory=list)
    errors: list[SourceRecordError] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    duplicates: int = 0
    row_no: int = 0
    versions: set[str] = field(default_factory=set)

    def add(self, item: Any, prov: Provenance) -> None:
        if isinstance(item, dict) and item.get("id") is not None:
            if str(item["id"]) in self.seen:
                self.duplicates += 1  # another query of the run found it too
                return
            self.seen.add(str(item["id"]))
        self.row_no += 1
        if not isinstance(item, dict):
            self.errors.append(
                SourceRecordError(
                    self.row_no, "invalid_item", f"item {self.row_no} is not an object", {"item": item}
                )
            )
            return
        self.versions.add("v1" if isinstance(item.get("position"), list) or "vicinity" in item else "v7")
        self.records.append(
            SourceRecord(self.row_no, record_values(item), {"row_no": self.row_no, **prov(item)})
        )

    def result(self, **metadata: Any) -> ParseResult:
        return ParseResult(
            self.records,
            self.errors,
            {
                "api": "+".join(sorted(self.versions)) or None,
                "items": self.row_no,
                "duplicates_skipped": self.duplicates,
                **metadata,
            },
        )
