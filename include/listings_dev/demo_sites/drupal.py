"""A Drupal site's JSON:API (core `jsonapi` module) serving a `place` content type, shaped like the real
thing: `{"jsonapi", "data", "included", "links"}` documents, offset paging with `links.next`
(`page[offset]`, `page[limit]` capped at 50), `sort=`, `include=` (field_image → file--file,
field_category → taxonomy_term--category, uid → user--user), `filter[...]` conditions (incremental runs
filter on `changed`), an English default language with a French translation (path prefix `/fr/jsonapi/`
or the query-negotiation parameter `?language=fr`; places without a translation fall back to English as
Drupal does), and JSON:API error documents (404 for an unknown bundle, 400 for a bad include/sort/filter).

Places carry an Address-module `field_address`, a geofield `field_location`, `body` (HTML),
`field_phone`, `field_email`, `field_website`/`field_facebook`/`field_instagram` (link fields) and
`field_opening_hours`; the data come from `listings_dev.devdata` (same seed → same site). Image files have a
root-relative `uri.url` on the demo image host, `/images/drupal/<slug>-<k>.<jpg|png|webp>`, and a `large`
style derivative link below it.
"""

from __future__ import annotations

import html
import random
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from listings_dev.demo_sites.server import Request, Response, Site
from listings_dev.devdata import (
    CATEGORIES,
    UniqueSlugs,
    category_of,
    demo_image_urls,
    describe,
    generate_listings,
)

PREFIX = "/jsonapi/"
# Also served when the server routes them (Drupal's path-prefix language negotiation).
EXTRA_PREFIXES = ("/fr/jsonapi/", "/en/jsonapi/")  # language prefixes, served by handle()
LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
BUNDLE = "place"
MAX_LIMIT = 50
JSONAPI = {"version": "1.0", "meta": {"links": {"self": {"href": "http://jsonapi.org/format/1.0/"}}}}
EPOCH = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())
RELATIONSHIPS = ("node_type", "uid", "field_image", "field_category")
SORTABLE = ("drupal_internal__nid", "changed", "created", "title")
FILTERABLE = ("drupal_internal__nid", "changed", "created", "title", "status", "langcode")
_PATH = re.compile(r"^(?:/(?P<lang>[a-z]{2}))?/jsonapi(?P<rest>/.*)?$")
# The site's public file system path (Drupal's `file_public_path`) is images/drupal: the demo image host
# serves public://x.jpg at /images/drupal/x.jpg, and image style derivatives below it.
IMAGE_SITE = "drupal"
_MIME_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_FILTER = re.compile(r"^filter\[([^\]]+)\](?:\[([^\]]+)\])?(?:\[([^\]]+)\])?$")


def _uuid(site: Site, *parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, ":".join(["drupal-demo", str(site.seed), *map(str, parts)])))


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _paragraphs(text: str, name: str) -> str:
    sentences = [s for s in re.split(r"(?<=[.!])\s+", text) if s]
    first = html.escape(sentences[0]).replace(html.escape(name), f"<strong>{html.escape(name)}</strong>", 1)
    rest = " ".join(html.escape(s) for s in sentences[1:])
    return f"<p>{first}</p>" + (f"\n<p>{rest}</p>" if rest else "")


def _link(url: str) -> dict[str, Any] | None:
    return {"uri": url, "title": "", "options": []} if url else None


def _build(site: Site) -> dict[str, Any]:
    rows = generate_listings(site.size, seed=site.seed, id_prefix="DRU")
    places: list[dict[str, Any]] = []
    terms: dict[str, dict[str, Any]] = {}
    image_slugs = UniqueSlugs()
    for nid, row in enumerate(rows, start=1):
        rng = random.Random(f"{site.seed}:{nid}")
        key = category_of(row["Category"]) or "attraction"
        if key not in terms:
            fr, en = CATEGORIES[key]
            terms[key] = {
                "tid": len(terms) + 1,
                "id": _uuid(site, "term", key),
                "name": {"en": en[0], "fr": fr[0]},
            }
        body = {
            lang: _paragraphs(describe(rng, row["Name"], key, row["City"], lang), row["Name"])
            for lang in LANGUAGES
        }
        count = len([u for u in row["Images"].split("|") if u])
        # Root-relative, as Drupal writes `uri.url`: the connector resolves them on its base_url.
        images = demo_image_urls("", IMAGE_SITE, image_slugs(row["Name"]), count)
        lat, lng = row["Latitude"], row["Longitude"]
        places.append(
            {
                "nid": nid,
                "id": _uuid(site, "node", nid),
                "created": EPOCH - 86400 * 30 + nid * 60,
                "changed": EPOCH + nid * 5400,
                "title": row["Name"],
                "translated": rng.random() < 0.85,  # the others fall back to English under /fr/
                "slug": re.sub(r"[^a-z0-9]+", "-", row["Name"].lower()).strip("-"),
                "body": body,
                "term": key,
                "files": [
                    {
                        "fid": nid * 10 + k,
                        "id": _uuid(site, "file", nid, k),
                        "name": url.rsplit("/", 1)[-1],
                        "url": url,
                    }
                    for k, url in enumerate(images, start=1)
                ],
                "address": {
                    "langcode": "",
                    "country_code": "CA",
                    "administrative_area": "QC",
                    "locality": row["City"],
                    "dependent_locality": None,
                    "postal_code": row["Postal"],
                    "sorting_code": None,
                    "address_line1": row["Address1"],
                    "address_line2": row["Address2"] or None,
                    "address_line3": None,
                    "organization": None,
                    "given_name": None,
                    "additional_name": None,
                    "family_name": None,
                },
                "location": None
                if not lat
                else {
                    "value": f"POINT ({lng} {lat})",
                    "geo_type": "Point",
                    "lat": float(lat),
                    "lon": float(lng),
                    "left": float(lng),
                    "top": float(lat),
                    "right": float(lng),
                    "bottom": float(lat),
                    "geohash": None,
                    "latlon": f"{lat},{lng}",
                },
                "phone": row["Phone"] or None,
                "email": row["Email"] or None,
                "website": _link(row["Website"]),
                "facebook": _link(row["Facebook"]),
                "instagram": _link(row["Instagram"]),
                "hours": row["Hours"] or None,
            }
        )
    return {"places": places, "terms": terms}


def data(site: Site) -> dict[str, Any]:
    """The site's places and terms (generated once per site)."""
    result: dict[str, Any] = site.memo("drupal", lambda: _build(site))
    return result


def touch(site: Site, nid: int, **changes: Any) -> None:
    """Edit a place as an editor would (e.g. title="..."), moving its `changed` time to now; for tests."""
    place = next(p for p in data(site)["places"] if p["nid"] == nid)
    place.update(changes)
    place["changed"] = int(datetime.now(UTC).timestamp())


# ------------------------------------------------------------------------------------------------
def _error(status: int, title: str, detail: str, url: str, parameter: str | None = None) -> Response:
    err: dict[str, Any] = {
        "title": title,
        "status": str(status),
        "detail": detail,
        "links": {"via": {"href": url}},
    }
    if parameter:
        err["source"] = {"parameter": parameter}
    return Response.json(
        {"jsonapi": JSONAPI, "errors": [err]}, status=status, content_type="application/vnd.api+json"
    )


class _BadRequest(Exception):
    def __init__(self, detail: str, parameter: str) -> None:
        super().__init__(detail)
        self.parameter = parameter


def _node(site: Site, place: dict[str, Any], lang: str, root: str) -> dict[str, Any]:
    translated = lang == DEFAULT_LANGUAGE or place["translated"]
    langcode = lang if translated else DEFAULT_LANGUAGE
    self_url = f"{root}/jsonapi/node/{BUNDLE}/{place['id']}"
    term = data(site)["terms"][place["term"]]

    def rel(name: str, linkage: Any) -> dict[str, Any]:
        return {
            "data": linkage,
            "links": {
                "related": {"href": f"{self_url}/{name}?resourceVersion=id%3A{place['nid'] * 2}"},
                "self": {"href": f"{self_url}/relationships/{name}?resourceVersion=id%3A{place['nid'] * 2}"},
            },
        }

    return {
        "type": f"node--{BUNDLE}",
        "id": place["id"],
        "links": {"self": {"href": f"{self_url}?resourceVersion=id%3A{place['nid'] * 2}"}},
        "attributes": {
            "drupal_internal__nid": place["nid"],
            "drupal_internal__vid": place["nid"] * 2,
            "langcode": langcode,
            "revision_timestamp": _iso(place["changed"]),
            "revision_log": None,
            "status": True,
            "title": place["title"],
            "created": _iso(place["created"]),
            "changed": _iso(place["changed"]),
            "promote": False,
            "sticky": False,
            "default_langcode": langcode == DEFAULT_LANGUAGE,
            "revision_translation_affected": True,
            "path": {
                "alias": f"/{'lieux' if langcode == 'fr' else 'places'}/{place['slug']}",
                "pid": place["nid"],
                "langcode": langcode,
            },
            "body": {
                "value": place["body"][langcode],
                "format": "basic_html",
                "processed": place["body"][langcode] + "\n",
                "summary": "",
            },
            "field_address": place["address"],
            "field_location": place["location"],
            "field_phone": place["phone"],
            "field_email": place["email"],
            "field_website": place["website"],
            "field_facebook": place["facebook"],
            "field_instagram": place["instagram"],
            "field_opening_hours": place["hours"],
        },
        "relationships": {
            "node_type": rel(
                "node_type",
                {
                    "type": "node_type--node_type",
                    "id": _uuid(site, "type", BUNDLE),
                    "meta": {"drupal_internal__target_id": BUNDLE},
                },
            ),
            "uid": rel(
                "uid",
                {
                    "type": "user--user",
                    "id": _uuid(site, "user", 2),
                    "meta": {"drupal_internal__target_id": 2},
                },
            ),
            "field_image": rel(
                "field_image",
                [
                    {
                        "type": "file--file",
                        "id": f["id"],
                        "meta": {
                            "alt": place["title"],
                            "title": "",
                            "width": 1200,
                            "height": 800,
                            "drupal_internal__target_id": f["fid"],
                        },
                    }
                    for f in place["files"]
                ],
            ),
            "field_category": rel(
                "field_category",
                [
                    {
                        "type": "taxonomy_term--category",
                        "id": term["id"],
                        "meta": {"drupal_internal__target_id": term["tid"]},
                    }
                ],
            ),
        },
    }


def _included(
    site: Site, places: list[dict[str, Any]], include: list[str], lang: str, root: str
) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    terms = data(site)["terms"]
    for place in places:
        if "field_image" in include:
            for f in place["files"]:
                name = f["name"]
                out[f["id"]] = {
                    "type": "file--file",
                    "id": f["id"],
                    "links": {
                        "self": {"href": f"{root}/jsonapi/file/file/{f['id']}"},
                        "large": {
                            "href": f"{site.base_url}/images/{IMAGE_SITE}/styles/large/public/{name}?itok=d3m0",
                            "meta": {
                                "rel": [
                                    "drupal://jsonapi/extensions/consumer_image_styles/links/relation-types/#derivative"
                                ],
                                "width": 480,
                                "height": 320,
                            },
                        },
                    },
                    "attributes": {
                        "drupal_internal__fid": f["fid"],
                        "langcode": DEFAULT_LANGUAGE,
                        "filename": f["name"],
                        "uri": {"value": f"public://{name}", "url": f["url"]},
                        "filemime": _MIME_TYPES[name.rsplit(".", 1)[-1]],
                        "filesize": 180_000 + f["fid"],
                        "status": True,
                        "created": _iso(place["created"]),
                        "changed": _iso(place["created"]),
                    },
                }
        if "field_category" in include:
            term = terms[place["term"]]
            out[term["id"]] = {
                "type": "taxonomy_term--category",
                "id": term["id"],
                "links": {"self": {"href": f"{root}/jsonapi/taxonomy_term/category/{term['id']}"}},
                "attributes": {
                    "drupal_internal__tid": term["tid"],
                    "langcode": lang,
                    "name": term["name"][lang],
                    "description": None,
                    "weight": 0,
                    "changed": _iso(EPOCH),
                    "default_langcode": lang == DEFAULT_LANGUAGE,
                },
            }
        if "uid" in include:
            uid = _uuid(site, "user", 2)
            out[uid] = {"type": "user--user", "id": uid, "attributes": {"display_name": "Éditrice Tourisme"}}
    return list(out.values())


def _value(place: dict[str, Any], *, path: str, lang: str) -> Any:
    if path == "drupal_internal__nid":
        return place["nid"]
    if path in ("changed", "created"):
        return place[path]
    if path == "langcode":
        return lang if place["translated"] else DEFAULT_LANGUAGE
    if path == "status":
        return 1
    return place["title"]


def _coerce(path: str, raw: str) -> Any:
    if path in ("changed", "created"):
        if re.fullmatch(r"-?\d+", raw):
            return int(raw)
        try:
            return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp())
        except ValueError:
            raise _BadRequest(f"The value {raw!r} is not a valid date for `{path}`.", "filter") from None
    if path in ("drupal_internal__nid", "status"):
        if not re.fullmatch(r"-?\d+", raw):
            raise _BadRequest(f"The value {raw!r} is not a valid integer for `{path}`.", "filter")
        return int(raw)
    return raw


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "CONTAINS": lambda a, b: str(b).lower() in str(a).lower(),
    "STARTS_WITH": lambda a, b: str(a).lower().startswith(str(b).lower()),
}


def _conditions(query: dict[str, list[str]]) -> list[tuple[str, str, Any]]:
    """`filter[<id>][condition][path|operator|value]=...` and the shorthands `filter[<field>]=<value>`,
    `filter[<field>][value]=`/`[operator]=`."""
    groups: dict[str, dict[str, str]] = {}
    for key, values in query.items():
        m = _FILTER.match(key)
        if not m:
            continue
        name, second, third = m.groups()
        part = third if second == "condition" else second or "value"
        groups.setdefault(name, {"path": name})[part] = values[0]
    out = []
    for group in groups.values():
        path, op = group.get("path", ""), group.get("operator", "=")
        if path not in FILTERABLE:
            raise _BadRequest(
                f"Invalid nested filtering. The field `{path}`, given in the path `{path}`, does not exist.",
                "filter",
            )
        if op not in _OPERATORS:
            raise _BadRequest(f'The operator "{op}" is not known.', "filter")
        out.append((path, op, _coerce(path, group.get("value", ""))))
    return out


def _collection(request: Request, site: Site, lang: str, root: str, url: str) -> Response:
    try:
        offset = int(request.arg("page[offset]", "0") or 0)
        limit = min(int(request.arg("page[limit]", str(MAX_LIMIT)) or MAX_LIMIT), MAX_LIMIT)
    except ValueError:
        return _error(400, "Bad Request", "page[offset] and page[limit] must be integers.", url, "page")
    include = [i for i in (request.arg("include") or "").split(",") if i]
    bad = [i for i in include if i.split(".")[0] not in RELATIONSHIPS]
    if bad:
        return _error(
            400,
            "Bad Request",
            f"`{bad[0]}` is not a valid relationship field name. Possible values: {', '.join(RELATIONSHIPS)}.",
            url,
            "include",
        )
    places = list(data(site)["places"])
    try:
        for path, op, value in _conditions(request.query):
            places = [p for p in places if _OPERATORS[op](_value(p, path=path, lang=lang), value)]
    except _BadRequest as exc:
        return _error(400, "Bad Request", str(exc), url, exc.parameter)
    for field in reversed([s for s in (request.arg("sort") or "").split(",") if s]):
        name = field.lstrip("-")
        if name not in SORTABLE:
            return _error(
                400, "Bad Request", f"Invalid sort: the field `{name}` does not exist.", url, "sort"
            )
        places.sort(key=partial(_value, path=name, lang=lang), reverse=field.startswith("-"))
    page = places[offset : offset + limit]
    base_query = {k: v[0] for k, v in request.query.items() if k not in ("page[offset]", "page[limit]")}

    def href(at: int) -> str:
        return f"{root}/jsonapi/node/{BUNDLE}?{urlencode({**base_query, 'page[offset]': at, 'page[limit]': limit})}"

    links: dict[str, Any] = {
        "self": {"href": f"{url}?{urlencode({k: v[0] for k, v in request.query.items()})}"}
    }
    if offset + limit < len(places):
        links["next"] = {"href": href(offset + limit)}
    if offset > 0:
        links["first"] = {"href": href(0)}
        links["prev"] = {"href": href(max(0, offset - limit))}
    doc: dict[str, Any] = {
        "jsonapi": JSONAPI,
        "data": [_node(site, p, lang, root) for p in page],
        "links": links,
    }
    if include:
        doc["included"] = _included(site, page, include, lang, root)
    return Response.json(doc, content_type="application/vnd.api+json")


def handle(request: Request, site: Site) -> Response:
    m = _PATH.match(request.path)
    url = f"{site.base_url}{request.path}"
    if m is None or (m["lang"] and m["lang"] not in LANGUAGES):
        return _error(404, "Not Found", f'No route found for "GET {url}"', url)
    lang = m["lang"] or ""
    if not lang:
        wanted = request.arg("language")
        lang = wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE
    # Links keep the language prefix the request came with, as Drupal writes them.
    root = f"{site.base_url}/{m['lang']}" if m["lang"] else site.base_url
    parts = [p for p in (m["rest"] or "/").split("/") if p]
    if not parts:
        return Response.json(
            {
                "jsonapi": JSONAPI,
                "data": [],
                "links": {
                    "self": {"href": f"{root}/jsonapi"},
                    f"node--{BUNDLE}": {"href": f"{root}/jsonapi/node/{BUNDLE}"},
                    "taxonomy_term--category": {"href": f"{root}/jsonapi/taxonomy_term/category"},
                    "file--file": {"href": f"{root}/jsonapi/file/file"},
                },
            },
            content_type="application/vnd.api+json",
        )
    if parts[0] != "node" or len(parts) < 2 or parts[1] != BUNDLE or len(parts) > 3:
        return _error(404, "Not Found", f'No route found for "GET {url}"', url)
    if len(parts) == 2:
        return _collection(request, site, lang, root, url)
    place = next((p for p in data(site)["places"] if p["id"] == parts[2]), None)
    if place is None:
        return _error(404, "Not Found", f"The requested resource with id {parts[2]} could not be found.", url)
    include = [i for i in (request.arg("include") or "").split(",") if i]
    doc: dict[str, Any] = {
        "jsonapi": JSONAPI,
        "data": _node(site, place, lang, root),
        "links": {"self": {"href": f"{root}/jsonapi/node/{BUNDLE}/{place['id']}"}},
    }
    if include:
        doc["included"] = _included(site, [place], include, lang, root)
    return Response.json(doc, content_type="application/vnd.api+json")
