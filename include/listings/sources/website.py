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

The selector grammar and the schema.org extraction (pure functions of HTML, shared with the spider) are in
listings.sources.website_extract; this module holds the params, the crawl and the parse of stored pages.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from parsel import Selector
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
from listings.sources.website_extract import (
    check_selector,
    document_base,
    field_value,
    html_selector,
    item_link,
    list_items,
    pick_place,
    schema_items,
    schema_text,
    schema_values,
)

if TYPE_CHECKING:
    from listings.config.models import DmoConfig

log = logging.getLogger(__name__)

SPIDER = "generic"
SCRAPY_SETTINGS_MODULE = "listings_scrapers.settings"
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


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
    return schema_text(values.get("source_id"))


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
