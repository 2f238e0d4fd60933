"""A fake WordPress site with a ``listing`` custom post type and ACF fields, shaped like the real REST API
(WordPress 6 with ACF's "Show in REST API"), for `listings.sources.wordpress`.

- ``GET /wp-json/`` the API index; ``GET /wp-json/wp/v2/{listing,posts,pages}`` collections and
  ``/{id}`` items; ``/wp-json/wp/v2/media/{id}``; the taxonomies ``listing-category``, ``categories``,
  ``tags``. Unknown routes -> 404 ``rest_no_route``.
- ``site.size`` published listings (from `listings_dev.devdata`, ``site.seed``) plus two drafts, a few blog
  posts and two pages. Listing ids step by 3 (attachments take ids in between, as on a real site); dates
  are spread over 2023-2024 with varied ``modified_gmt``; the site's time zone is UTC-5.
- Listing ``acf``: ``location`` (google map: full ACF 5.8.6+ shape; every 7th the older address/lat/lng
  shape; null without coordinates), ``phone``, ``email``, ``website`` (a URL, every 5th a link field
  object), ``facebook``, ``instagram``, ``hours`` (text or HTML), ``gallery`` (ACF image arrays).
  Titles and content are texturized (``&#8217;``, ``&#038;``) like WordPress renders them. Uploads (the
  featured image, then the gallery) are on the demo image host:
  ``{base_url}/images/wordpress/<post slug>-<k>.<jpg|png|webp>``, sizes as ``<name>-<w>x<h>.<ext>``.
- Collection parameters as WordPress validates them: ``page`` (past the last page -> 400
  ``rest_post_invalid_page_number``), ``per_page`` (1..100, default 10, else 400 ``rest_invalid_param``),
  ``orderby`` (date, id, modified, title, slug; default date) / ``order`` (default desc),
  ``modified_after`` / ``modified_before`` / ``after`` / ``before`` (ISO 8601, compared with the GMT
  dates), ``status`` (other than publish needs auth), ``search``, ``context=edit`` (needs auth),
  ``_embed`` (author, ``wp:featuredmedia``, ``wp:term``), ``_fields``.
- Headers ``X-WP-Total``, ``X-WP-TotalPages``, ``Link`` (rel prev/next). ``strip_paging_headers(site)``
  drops them, as some caching proxies do.
- ``Authorization: Basic`` is checked when sent (``site.credentials``; an application password's spaces
  do not count): unknown user -> 401 ``invalid_username``, wrong password -> 401 ``incorrect_password``.
- ``touch(site, post_id, title=...)`` edits a post and stamps its modification time now, so tests and
  demos can see an incremental run pick it up.
"""

from __future__ import annotations

import base64
import math
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from html import escape
from typing import Any
from urllib.parse import urlencode

from listings_dev.demo_sites.server import Request, Response, Site
from listings_dev.devdata import demo_image_urls, generate_listings, slugify

PREFIX = "/wp-json/"
API = "/wp-json/wp/v2/"
SITE_TZ = timezone(timedelta(hours=-5))
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
_EPOCH = datetime(2023, 1, 9, 14, 0, tzinfo=UTC)
_CACHE_KEY = "wordpress:data"
_STRIP_KEY = "wordpress:strip_paging_headers"
POST_TYPES = {"listing": "listing", "posts": "post", "pages": "page"}
TAXONOMIES = {"listing-category": "listing-category", "categories": "category", "tags": "post_tag"}
ORDERBY = ("date", "id", "modified", "title", "slug")
JSON = "application/json; charset=UTF-8"
IMAGE_SITE = "wordpress"  # uploads are served by the demo image host under /images/wordpress/
_MIME_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

BLOG_POSTS = (
    ("10 terrasses où l'on mange bien cet été", "Gastronomie", ("terrasses", "été")),
    ("Le guide des sentiers d'automne", "Plein air", ("randonnée",)),
    ("Où dormir à Mont-Tremblant : nos 5 coups de cœur", "Hébergement", ("hôtels",)),
    ("Marchés publics & producteurs locaux", "Gastronomie", ("marchés", "terroir")),
    ("Festival d'hiver : le programme", "Uncategorized", ()),
    ("Musées : les expositions à ne pas manquer", "Culture", ("musées",)),
)
PAGES = (("À propos", "<p>L’office de tourisme vous accueille toute l’année.</p>"), ("Contact", ""))


# ------------------------------------------------------------------------------------------------
# Rendering helpers: what WordPress does to text on the way out.
def texturize(text: str) -> str:
    """HTML-escape the way the_title/the_content render: & -> &#038;, ' -> &#8217;."""
    out = escape(text, quote=False).replace("&amp;", "&#038;")
    return out.replace("'", "&#8217;").replace('"', "&#8221;")


def _local(when: datetime) -> str:
    return when.astimezone(SITE_TZ).strftime("%Y-%m-%dT%H:%M:%S")


def _gmt(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _error(code: str, message: str, status: int, **data: Any) -> Response:
    return Response.json(
        {"code": code, "message": message, "data": {"status": status, **data}}, status, content_type=JSON
    )


def _invalid_param(name: str, message: str) -> Response:
    return _error("rest_invalid_param", f"Invalid parameter(s): {name}", 400, params={name: message})


def _no_route() -> Response:
    return _error("rest_no_route", "No route was found matching the URL and request method.", 404)


# ------------------------------------------------------------------------------------------------
# Data
def _split_address(address1: str) -> tuple[str | None, str]:
    match = re.match(r"^(\d+[A-Za-z]?(?:-\d+)?),?\s+(.+)$", address1)
    if not match:
        return None, address1
    street = match[2]
    return match[1], street[:1].upper() + street[1:]


def _postal(text: str) -> str:
    compact = text.replace(" ", "").upper()
    return f"{compact[:3]} {compact[3:]}" if len(compact) == 6 else text


def _media(site: Site, media_id: int, url: str, parent_link: str, alt: str, when: datetime) -> dict[str, Any]:
    stem, ext = url.rsplit(".", 1)
    name = stem.rsplit("/", 1)[-1]
    mime = _MIME_TYPES[ext]
    sizes = {  # WordPress keeps the upload's format for its intermediate sizes
        size: {
            "file": f"{name}-{w}x{h}.{ext}",
            "width": w,
            "height": h,
            "mime_type": mime,
            "source_url": f"{stem}-{w}x{h}.{ext}",
        }
        for size, (w, h) in {"thumbnail": (150, 150), "medium": (300, 200), "large": (1024, 683)}.items()
    }
    sizes["full"] = {
        "file": f"{name}.{ext}",
        "width": 1600,
        "height": 1067,
        "mime_type": mime,
        "source_url": url,
    }
    return {
        "id": media_id,
        "date": _local(when),
        "slug": f"{name}-{media_id}",
        "type": "attachment",
        "link": f"{parent_link}{name}-{media_id}/",
        "title": {"rendered": texturize(alt)},
        "author": 1,
        "featured_media": 0,
        "caption": {"rendered": ""},
        "alt_text": alt,
        "media_type": "image",
        "mime_type": mime,
        "media_details": {"width": 1600, "height": 1067, "file": f"2024/05/{name}.{ext}", "sizes": sizes},
        "source_url": url,
        "_links": {"self": [{"href": f"{site.base_url}{API}media/{media_id}"}]},
    }


def _acf_image(media: dict[str, Any]) -> dict[str, Any]:
    sizes = media["media_details"]["sizes"]
    return {
        "ID": media["id"],
        "id": media["id"],
        "title": media["alt_text"],
        "filename": sizes["full"]["file"],
        "url": media["source_url"],
        "alt": media["alt_text"],
        "mime_type": media["mime_type"],
        "type": "image",
        "width": 1600,
        "height": 1067,
        "sizes": {k: v["source_url"] for k, v in sizes.items() if k != "full"},
    }


def _links(site: Site, rest_base: str, post: dict[str, Any], taxonomies: list[str]) -> dict[str, Any]:
    api = f"{site.base_url}{API}"
    links: dict[str, Any] = {
        "self": [{"href": f"{api}{rest_base}/{post['id']}"}],
        "collection": [{"href": f"{api}{rest_base}"}],
        "about": [{"href": f"{api}types/{post['type']}"}],
        "author": [{"embeddable": True, "href": f"{api}users/1"}],
    }
    if post.get("featured_media"):
        links["wp:featuredmedia"] = [{"embeddable": True, "href": f"{api}media/{post['featured_media']}"}]
    links["wp:attachment"] = [{"href": f"{api}media?parent={post['id']}"}]
    if taxonomies:
        links["wp:term"] = [
            {"taxonomy": TAXONOMIES[t], "embeddable": True, "href": f"{api}{t}?post={post['id']}"}
            for t in taxonomies
        ]
    links["curies"] = [{"name": "wp", "href": "https://api.w.org/{rel}", "templated": True}]
    return links


class _Data:
    """The site's content: posts by type (in id order), media by id, terms by taxonomy REST base."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.rng = random.Random(f"wordpress-demo-{site.seed}")
        self.posts: dict[str, list[dict[str, Any]]] = {k: [] for k in POST_TYPES}
        self.media: dict[int, dict[str, Any]] = {}
        self.private_media: set[int] = set()
        self.terms: dict[str, list[dict[str, Any]]] = {k: [] for k in TAXONOMIES}
        self._slugs: set[str] = set()
        self._next_id = 100
        self._listings()
        self._blog()

    def _id(self) -> int:
        self._next_id += 3
        return self._next_id

    def _slug(self, text: str) -> str:
        base = slugify(text)
        slug, n = base, 2
        while slug in self._slugs:
            slug, n = f"{base}-{n}", n + 1
        self._slugs.add(slug)
        return slug

    def _dates(self) -> tuple[datetime, datetime]:
        created = _EPOCH + timedelta(days=self.rng.randint(0, 400), seconds=self.rng.randint(0, 86_399))
        modified = created + timedelta(
            days=self.rng.choice((0, 0, 3, 30, 120, 300)), seconds=self.rng.randint(0, 9999)
        )
        return created, modified

    def term(self, rest_base: str, name: str) -> int:
        for term in self.terms[rest_base]:
            if term["name"] == escape(name, quote=False):
                term["count"] += 1
                return int(term["id"])
        term_id = 20 + sum(len(v) for v in self.terms.values())
        slug = slugify(name)
        self.terms[rest_base].append(
            {
                "id": term_id,
                "count": 1,
                "description": "",
                "link": f"{self.site.base_url}/{TAXONOMIES[rest_base].replace('post_tag', 'tag')}/{slug}/",
                "name": escape(name, quote=False),  # WordPress stores term names HTML-escaped
                "slug": slug,
                "taxonomy": TAXONOMIES[rest_base],
                "parent": 0,
                "meta": [],
            }
        )
        return term_id

    def _post(
        self,
        rest_base: str,
        title: str,
        content_html: str,
        *,
        status: str = "publish",
        taxonomies: dict[str, list[int]] | None = None,
        images: int = 0,
        acf: dict[str, Any] | list[Any] | None = None,
    ) -> dict[str, Any]:
        """A post with `images` uploads (on the demo image host, named after the post's slug): the first
        is its featured image, the others its ACF gallery."""
        post_id = self._id()
        created, modified = self._dates()
        slug = self._slug(title)
        post_type = POST_TYPES[rest_base]
        base = self.site.base_url
        link = f"{base}/{post_type}/{slug}/" if post_type != "post" else f"{base}/{created:%Y/%m}/{slug}/"
        featured = 0
        gallery: list[dict[str, Any]] = []
        for k, url in enumerate(demo_image_urls(base, IMAGE_SITE, slug, images)):
            media = _media(self.site, post_id + 1 if k == 0 else post_id * 100 + k, url, link, title, created)
            self.media[media["id"]] = media
            if k == 0:
                featured = media["id"]
            else:
                gallery.append(_acf_image(media))
        first = re.search(r"<p>(.*?)</p>", content_html, re.S)
        excerpt = f"<p>{first[1].split('. ')[0]} [&hellip;]</p>\n" if first else ""
        post: dict[str, Any] = {
            "id": post_id,
            "date": _local(created),
            "date_gmt": _gmt(created),
            "guid": {"rendered": f"{base}/?post_type={post_type}&#038;p={post_id}"},
            "modified": _local(modified),
            "modified_gmt": _gmt(modified),
            "slug": slug,
            "status": status,
            "type": post_type,
            "link": link,
            "title": {"rendered": texturize(title)},
            "content": {"rendered": content_html, "protected": False},
            "excerpt": {"rendered": excerpt, "protected": False},
            "author": 1,
            "featured_media": featured,
            "parent": 0,
            "menu_order": 0,
            "comment_status": "closed" if post_type != "post" else "open",
            "ping_status": "closed",
            "template": "",
            "meta": {"footnotes": ""},
        }
        if post_type == "post":
            post.update(sticky=False, format="standard")
        for tax, ids in (taxonomies or {}).items():
            post[tax] = ids
        post["class_list"] = [f"post-{post_id}", post_type, f"type-{post_type}", f"status-{status}"]
        if acf is not None:
            if isinstance(acf, dict) and gallery:
                acf["gallery"] = gallery
            post["acf"] = acf
        post["_links"] = _links(self.site, rest_base, post, list(taxonomies or {}))
        self.posts[rest_base].append(post)
        return post

    def _listings(self) -> None:
        site = self.site
        rows = generate_listings(site.size + 2, seed=site.seed, id_prefix="WP")
        for i, row in enumerate(rows, start=1):
            number, street = _split_address(row["Address1"])
            postal = _postal(row["Postal"])
            formatted = f"{row['Address1'].replace(',', '')}, {row['City']}, QC {postal}, Canada"
            location: dict[str, Any] | None
            if not row["Latitude"]:
                location = None
            elif i % 7 == 3:
                location = {
                    "address": formatted,
                    "lat": float(row["Latitude"]),
                    "lng": float(row["Longitude"]),
                }
            else:
                location = {
                    "address": formatted,
                    "lat": float(row["Latitude"]),
                    "lng": float(row["Longitude"]),
                    "zoom": 15,
                    "place_id": "ChIJ" + base64.urlsafe_b64encode(row["ID"].encode()).decode().rstrip("="),
                    "name": f"{number} {street}" if number else street,
                    **({"street_number": number} if number else {}),
                    "street_name": street,
                    "street_name_short": street.replace("Boulevard", "Boul.").replace("boulevard", "boul."),
                    "city": row["City"],
                    "state": "Québec",
                    "state_short": "QC",
                    "post_code": postal,
                    "country": "Canada",
                    "country_short": "CA",
                }
            hours = row["Hours"]
            if " | " in hours:  # a WYSIWYG field: one line per day
                hours = "<p>" + escape(hours, quote=False).replace(" | ", "<br />\n") + "</p>\n"
            website: Any = row["Website"] or ""
            if website and i % 5 == 0:
                website = {"title": "Site web", "url": website, "target": "_blank"}
            acf: dict[str, Any] = {
                "location": location,
                "phone": row["Phone"],
                "email": row["Email"],
                "website": website,
                "facebook": row["Facebook"],
                "instagram": row["Instagram"],
                "hours": hours,
                "gallery": False,  # ACF's empty gallery
            }
            sentences = [s if s.endswith(".") else s + "." for s in row["Description"].split(". ") if s]
            content = f"<p>{texturize(sentences[0])}</p>\n"
            if len(sentences) > 1:
                content += f"<p>{texturize(' '.join(sentences[1:]))}</p>\n"
            post = self._post(
                "listing",
                row["Name"],
                content,
                status="publish" if i <= site.size else "draft",
                taxonomies={"listing-category": [self.term("listing-category", row["Category"])]},
                images=len([u for u in row["Images"].split("|") if u]),
                acf=acf,
            )
            if i % 11 == 5 and post["featured_media"]:
                self.private_media.add(post["featured_media"])

    def _blog(self) -> None:
        for k, (title, category, tags) in enumerate(BLOG_POSTS):
            body = (
                f"<p>{texturize(title)} : notre sélection &amp; nos conseils.</p>\n"
                f"<!-- more -->\n<p>Bonne découverte&nbsp;!</p>\n[et_pb_section][/et_pb_section]\n"
            )
            self._post(
                "posts",
                title,
                body,
                taxonomies={
                    "categories": [self.term("categories", category)],
                    "tags": [self.term("tags", t) for t in tags],
                },
                images=1 if k % 2 == 0 else 0,
                acf=[],  # ACF answers [] for a post type without field groups
            )
        for title, body in PAGES:
            self._post("pages", title, body)


def _data(site: Site) -> _Data:
    data: _Data = site.memo(_CACHE_KEY, lambda: _Data(site))
    return data


def strip_paging_headers(site: Site, strip: bool = True) -> None:
    """Answer without X-WP-Total / X-WP-TotalPages / Link, as behind a proxy that drops them."""
    site.cache[_STRIP_KEY] = strip


def touch(
    site: Site, post_id: int, *, title: str | None = None, when: datetime | None = None
) -> dict[str, Any]:
    """Edit a post (any type) and stamp its modification time (default: now)."""
    for posts in _data(site).posts.values():
        for post in posts:
            if post["id"] == post_id:
                if title is not None:
                    post["title"] = {"rendered": texturize(title)}
                stamp = when or datetime.now(UTC)
                post["modified"], post["modified_gmt"] = _local(stamp), _gmt(stamp)
                return post
    raise KeyError(post_id)


# ------------------------------------------------------------------------------------------------
# Request handling
def _header(request: Request, name: str) -> str | None:
    for key, value in request.headers.items():
        if key.lower() == name:
            return value
    return None


def _authenticate(request: Request, site: Site) -> Response | bool:
    """True for a valid application password, False for an anonymous request, or the 401 answer."""
    header = _header(request, "authorization")
    if not header or not header.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except ValueError:
        return _error("rest_invalid_authorization", "Malformed Authorization header.", 401)
    login, secret = site.credentials
    if user != login:
        return _error("invalid_username", "Unknown username. Check again or try your email address.", 401)
    if re.sub(r"[^a-z\d]", "", password, flags=re.I) != re.sub(r"[^a-z\d]", "", secret, flags=re.I):
        return _error("incorrect_password", "The provided password is an invalid application password.", 401)
    return True


def _parse_date(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _embedded(data: _Data, post: dict[str, Any], authed: bool) -> dict[str, Any]:
    site = data.site
    out: dict[str, Any] = {
        "author": [
            {
                "id": 1,
                "name": "Équipe éditoriale",
                "url": "",
                "description": "",
                "link": f"{site.base_url}/author/redaction/",
                "slug": "redaction",
                "avatar_urls": {},
            }
        ]
    }
    media_id = post.get("featured_media")
    if media_id:
        if media_id in data.private_media and not authed:
            out["wp:featuredmedia"] = [
                {
                    "code": "rest_forbidden",
                    "message": "Sorry, you are not allowed to do that.",
                    "data": {"status": 401},
                }
            ]
        else:
            out["wp:featuredmedia"] = [data.media[media_id]]
    groups = []
    for rest_base in TAXONOMIES:
        if rest_base in post:
            by_id = {t["id"]: t for t in data.terms[rest_base]}
            groups.append([{k: v for k, v in by_id[i].items() if k != "meta"} for i in post[rest_base]])
    if groups:
        out["wp:term"] = groups
    return out


def _render(data: _Data, post: dict[str, Any], request: Request, authed: bool) -> dict[str, Any]:
    out = dict(post)
    if request.arg("_embed") is not None:
        out["_embedded"] = _embedded(data, post, authed)
    fields = request.arg("_fields")
    if fields:
        wanted = {f.strip().split(".")[0] for f in fields.split(",") if f.strip()}
        out = {k: v for k, v in out.items() if k in wanted}
    return out


def _collection(data: _Data, rest_base: str, request: Request, authed: bool) -> Response:
    args: dict[str, Any] = {}
    for name, default, low, high in (("page", 1, 1, None), ("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)):
        raw = request.arg(name)
        try:
            value = default if raw is None or raw == "" else int(raw)
        except ValueError:
            return _invalid_param(name, f"{name} is not of type integer.")
        if value < low or (high is not None and value > high):
            bounds = (
                f"between {low} (inclusive) and {high} (inclusive)"
                if high
                else f"greater than or equal to {low}"
            )
            return _invalid_param(name, f"{name} must be {bounds}")
        args[name] = value
    orderby, order = request.arg("orderby", "date"), request.arg("order", "desc")
    if orderby not in ORDERBY:
        return _invalid_param("orderby", f"orderby is not one of {', '.join(ORDERBY)}.")
    if order not in ("asc", "desc"):
        return _invalid_param("order", "order is not one of asc and desc.")
    if request.arg("context") == "edit" and not authed:
        return _error(
            "rest_forbidden_context", "Sorry, you are not allowed to edit posts in this post type.", 401
        )
    statuses = [s for s in (request.arg("status") or "publish").split(",") if s]
    if any(s != "publish" for s in statuses) and not authed:
        return _invalid_param("status", "Status is forbidden.")
    filters: list[tuple[str, str, datetime]] = []
    for name, key in (
        ("modified_after", "modified_gmt"),
        ("modified_before", "modified_gmt"),
        ("after", "date_gmt"),
        ("before", "date_gmt"),
    ):
        raw = request.arg(name)
        if raw is None:
            continue
        when = _parse_date(raw)
        if when is None:
            return _invalid_param(name, f"{name} is not a valid date.")
        filters.append((name, key, when))

    def keep(post: dict[str, Any]) -> bool:
        if "any" not in statuses and post["status"] not in statuses:
            return False
        for name, key, when in filters:
            stamp = datetime.fromisoformat(post[key]).replace(tzinfo=UTC)
            if (name.endswith("after") and stamp <= when) or (name.endswith("before") and stamp >= when):
                return False
        search = (request.arg("search") or "").lower()
        return not search or search in post["title"]["rendered"].lower()

    items = [p for p in data.posts[rest_base] if keep(p)]
    sort_key = {"date": "date_gmt", "modified": "modified_gmt"}.get(orderby, orderby)
    items.sort(key=lambda p: p["title"]["rendered"].lower() if sort_key == "title" else p[sort_key])
    if order == "desc":
        items.reverse()
    total = len(items)
    pages = math.ceil(total / args["per_page"])
    page = args["page"]
    if page > pages and total > 0:
        return _error(
            "rest_post_invalid_page_number",
            "The page number requested is larger than the number of pages available.",
            400,
        )
    chunk = items[(page - 1) * args["per_page"] : page * args["per_page"]]
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    base = f"{data.site.base_url}{request.path}"
    links = []
    for rel, target in (("prev", page - 1), ("next", page + 1)):
        if 1 <= target <= pages:
            query = {k: v for k, v in request.query.items() if k != "page"}
            links.append(f'<{base}?{urlencode({**query, "page": [str(target)]}, doseq=True)}>; rel="{rel}"')
    if links:
        headers["Link"] = ", ".join(links)
    if data.site.cache.get(_STRIP_KEY):
        headers = {}
    headers.update({"Allow": "GET", "Access-Control-Expose-Headers": "X-WP-Total, X-WP-TotalPages, Link"})
    body = [_render(data, p, request, authed) for p in chunk]
    return Response.json(body, headers=headers, content_type=JSON)


def _index(site: Site) -> Response:
    routes = {
        f"/wp/v2/{base}": {"namespace": "wp/v2", "methods": ["GET"]} for base in (*POST_TYPES, *TAXONOMIES)
    }
    return Response.json(
        {
            "name": "Tourisme Démo",
            "description": "Un site WordPress de démonstration",
            "url": site.base_url,
            "home": site.base_url,
            "gmt_offset": -5,
            "timezone_string": "America/Toronto",
            "namespaces": ["oembed/1.0", "wp/v2", "wp-site-health/v1"],
            "authentication": {
                "application-passwords": {
                    "endpoints": {"authorization": f"{site.base_url}/wp-admin/authorize-application.php"}
                }
            },
            "routes": {
                "/": {"namespace": "", "methods": ["GET"]},
                "/wp/v2": {"namespace": "wp/v2"},
                **routes,
            },
        },
        content_type=JSON,
    )


_ROUTE = re.compile(r"^/wp-json/wp/v2/([a-z0-9_-]+)(?:/(\d+))?/?$")


def handle(request: Request, site: Site) -> Response:
    authed = _authenticate(request, site)
    if isinstance(authed, Response):
        return authed
    if request.path.rstrip("/") == "/wp-json":
        return _index(site)
    match = _ROUTE.match(request.path)
    if not match:
        return _no_route()
    rest_base, item_id = match[1], match[2]
    data = _data(site)
    if rest_base in POST_TYPES:
        if item_id is None:
            return _collection(data, rest_base, request, authed)
        for post in data.posts[rest_base]:
            if post["id"] == int(item_id) and (post["status"] == "publish" or authed):
                return Response.json(_render(data, post, request, authed), content_type=JSON)
        return _error("rest_post_invalid_id", "Invalid post ID.", 404)
    if rest_base == "media" and item_id is not None:
        media = data.media.get(int(item_id))
        if media is None:
            return _error("rest_post_invalid_id", "Invalid post ID.", 404)
        if int(item_id) in data.private_media and not authed:
            return _error("rest_forbidden", "Sorry, you are not allowed to do that.", 401)
        return Response.json(media, content_type=JSON)
    if rest_base in TAXONOMIES and item_id is None:
        terms = data.terms[rest_base]
        return Response.json(
            terms, headers={"X-WP-Total": str(len(terms)), "X-WP-TotalPages": "1"}, content_type=JSON
        )
    return _no_route()
