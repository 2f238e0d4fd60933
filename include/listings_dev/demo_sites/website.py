"""A tourism directory website in plain HTML, for the `website` source: what a DMO's "where to stay / eat /
visit" pages look like to a crawler.

- `GET /directory/?page=N` — a list page: 10 places (`li.place`, link `a.place-link`), a pager with
  `a[rel=next]`; filters `city=<slug>` and `since=<ISO 8601>` (places modified after it), kept in the pager
  links. Page 1 also lists a members-only place under /directory/private/ (robots.txt disallows it).
- `GET /directory/place/<slug>` — a detail page: name, category, address, phone, website, description and
  photos in the HTML (hours only on odd-numbered places); a JSON-LD block with all of that plus `geo`,
  `email`, `sameAs` and `openingHours` (so some fields exist ONLY as schema.org). Every fourth place
  carries microdata instead of JSON-LD. `Last-Modified` and `ETag` headers. Photos are on the demo image
  host: `{base_url}/images/website/<slug>-<k>.<jpg|png|webp>`.
- `GET /directory/private/...` — 403; anything else under /directory/ — 404 (HTML).

Data: `generate_listings(site.size, seed=site.seed, id_prefix="WEB")`, deterministic.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

from listings_dev.demo_sites.server import Request, Response, Site
from listings_dev.devdata import UniqueSlugs, category_of, demo_image_urls, generate_listings, slugify

PREFIX = "/directory/"
PER_PAGE = 10
PRIVATE_PATH = "/directory/private/salon-des-partenaires"
IMAGE_SITE = "website"  # photos are served by the demo image host under /images/website/
_FIRST_MODIFIED = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)

SCHEMA_TYPES = {
    "hotel": "Hotel",
    "motel": "Motel",
    "bed_and_breakfast": "BedAndBreakfast",
    "campground": "Campground",
    "restaurant": "Restaurant",
    "cafe": "CafeOrCoffeeShop",
    "bar": "BarOrPub",
    "brewery": "Brewery",
    "museum": "Museum",
    "gallery": "ArtGallery",
    "park": "Park",
    "attraction": "TouristAttraction",
    "spa": "DaySpa",
    "shop": "Store",
    "market": "LocalBusiness",
    "theatre": "PerformingArtsTheater",
    "festival_venue": "EventVenue",
    "ski_resort": "SkiResort",
    "golf": "GolfCourse",
    "tour_operator": "TravelAgency",
}


@dataclass(frozen=True)
class Place:
    number: int
    slug: str
    row: dict[str, str]
    modified: datetime
    schema_type: str
    images: tuple[str, ...] = ()  # absolute URLs on the site's image host

    @property
    def microdata(self) -> bool:
        return self.number % 4 == 0

    @property
    def hours_in_html(self) -> bool:
        return self.number % 2 == 1

    @property
    def path(self) -> str:
        return f"{PREFIX}place/{self.slug}"


def places(site: Site) -> list[Place]:
    def make() -> list[Place]:
        out = []
        image_slugs = UniqueSlugs()
        for i, row in enumerate(generate_listings(site.size, seed=site.seed, id_prefix="WEB"), start=1):
            key = category_of(row["Category"]) or ""
            count = len([u for u in row["Images"].split("|") if u])
            out.append(
                Place(
                    number=i,
                    slug=f"{slugify(row['Name'])}-{i}",  # names repeat (chains): the number keeps it unique
                    row=row,
                    modified=_FIRST_MODIFIED + timedelta(days=2 * i, hours=i % 7),
                    schema_type=SCHEMA_TYPES.get(key, "LocalBusiness"),
                    images=tuple(demo_image_urls(site.base_url, IMAGE_SITE, image_slugs(row["Name"]), count)),
                )
            )
        return out

    result: list[Place] = site.memo("website:places", make)
    return result


def handle(request: Request, site: Site) -> Response:
    path = request.path
    if path == PREFIX:
        return _list_page(request, site)
    if path.startswith(f"{PREFIX}place/"):
        slug = path[len(f"{PREFIX}place/") :].strip("/")
        for place in places(site):
            if place.slug == slug:
                return _detail_page(place, site)
        return _html_error(404, "Page introuvable", f"Aucun établissement « {slug} ».")
    if path.startswith(f"{PREFIX}private/"):
        return _html_error(403, "Accès réservé", "Cette section est réservée aux membres.")
    return _html_error(404, "Page introuvable", f"Aucune page à l'adresse {path}.")


# ------------------------------------------------------------------------------------------------
def _page(title: str, body: str, head: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)} — Répertoire touristique</title>\n{head}</head>\n<body>\n"
        '<header><nav class="site"><a href="/directory/">Répertoire</a> · '
        '<a href="/directory/private/">Espace membres</a></nav></header>\n'
        f"<main>\n{body}\n</main>\n<footer><p>© Répertoire touristique (démo)</p></footer>\n</body>\n</html>\n"
    )


def _html_error(status: int, title: str, message: str) -> Response:
    return Response.html(_page(title, f"<h1>{escape(title)}</h1>\n<p>{escape(message)}</p>"), status=status)


def _list_page(request: Request, site: Site) -> Response:
    try:
        page_no = int(request.arg("page", "1") or "1")
        since_arg = request.arg("since")
        since = datetime.fromisoformat(since_arg) if since_arg else None
    except ValueError as exc:
        return _html_error(400, "Requête invalide", str(exc))
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    city = request.arg("city")
    selected = [
        p
        for p in places(site)
        if (city is None or slugify(p.row["City"]) == city) and (since is None or p.modified > since)
    ]
    pages = max(1, -(-len(selected) // PER_PAGE))
    if page_no < 1 or page_no > pages:
        return _html_error(404, "Page introuvable", f"Il n'y a que {pages} page(s).")
    shown = selected[(page_no - 1) * PER_PAGE : page_no * PER_PAGE]
    filters = {k: v for k, v in (("city", city), ("since", since_arg)) if v}

    def page_url(n: int) -> str:
        return f"{PREFIX}?{urlencode({**filters, 'page': n})}"

    items = [
        f'<li class="place" data-number="{p.number}">\n'
        f'  <h2><a class="place-link" href="{escape(p.path)}">{escape(p.row["Name"])}</a></h2>\n'
        f'  <p class="teaser"><span class="category">{escape(p.row["Category"])}</span> · '
        f'<span class="city">{escape(p.row["City"])}</span></p>\n</li>'
        for p in shown
    ]
    if page_no == 1 and shown:
        items.append(
            '<li class="place featured">\n'
            f'  <h2><a class="place-link" href="{PRIVATE_PATH}">Salon des partenaires</a></h2>\n'
            '  <p class="teaser"><span class="category">Réservé aux membres</span></p>\n</li>'
        )
    listing = (
        '<ul class="places">\n' + "\n".join(items) + "\n</ul>"
        if items
        else '<p class="empty">Aucun établissement ne correspond à votre recherche.</p>'
    )
    pager = [f"<span>Page {page_no} de {pages}</span>"]
    if page_no > 1:
        pager.insert(0, f'<a rel="prev" href="{escape(page_url(page_no - 1))}">‹ Précédent</a>')
    if page_no < pages:
        pager.append(f'<a rel="next" class="next" href="{escape(page_url(page_no + 1))}">Suivant ›</a>')
    body = (
        f"<h1>Répertoire des entreprises touristiques</h1>\n<p>{len(selected)} établissement(s)</p>\n"
        f'{listing}\n<nav class="pager">{" ".join(pager)}</nav>'
    )
    return Response.html(_page(f"Répertoire — page {page_no}", body))


def _jsonld(place: Place, site: Site) -> dict[str, Any]:
    r = place.row
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": place.schema_type,
        "@id": f"{site.base_url}{place.path}#place",
        "name": r["Name"],
        "description": r["Description"],
        "address": {
            "@type": "PostalAddress",
            "streetAddress": ", ".join(v for v in (r["Address1"], r["Address2"]) if v),
            "addressLocality": r["City"],
            "addressRegion": r["Province"],
            "postalCode": r["Postal"],
            "addressCountry": r["Country"],
        },
    }
    if r["Latitude"]:
        doc["geo"] = {
            "@type": "GeoCoordinates",
            "latitude": float(r["Latitude"]),
            "longitude": float(r["Longitude"]),
        }
    optional = {
        "telephone": r["Phone"],
        "email": r["Email"],
        "url": r["Website"],
        "openingHours": r["Hours"],
    }
    doc.update({k: v for k, v in optional.items() if v})
    same_as = [u for u in (r["Facebook"], r["Instagram"]) if u]
    if same_as:
        doc["sameAs"] = same_as
    if place.images:
        doc["image"] = list(place.images)
    return doc


def _detail_page(place: Place, site: Site) -> Response:
    r = place.row
    md = place.microdata

    def prop(name: str) -> str:
        return f' itemprop="{name}"' if md else ""

    lines = [
        f'<article class="place-detail" data-listing-id="{escape(r["ID"])}"'
        + (f' itemscope itemtype="https://schema.org/{place.schema_type}"' if md else "")
        + ">",
        f'<h1 class="name"{prop("name")}>{escape(r["Name"])}</h1>',
        f'<p class="category">{escape(r["Category"])}</p>',
        f'<div class="address"{prop("address")}'
        + (' itemscope itemtype="https://schema.org/PostalAddress"' if md else "")
        + ">",
        f'  <span class="street-address"{prop("streetAddress")}>{escape(r["Address1"])}</span>'
        + (f', <span class="extended-address">{escape(r["Address2"])}</span>' if r["Address2"] else "")
        + "<br>",
        f'  <span class="locality"{prop("addressLocality")}>{escape(r["City"])}</span> '
        f'(<span class="region"{prop("addressRegion")}>{escape(r["Province"])}</span>) '
        f'<span class="postal-code"{prop("postalCode")}>{escape(r["Postal"])}</span>',
        "</div>",
        '<p class="contact">',
    ]
    if r["Phone"]:
        lines.append(
            f'  <a class="phone" href="tel:{escape(r["Phone"])}"{prop("telephone")}>{escape(r["Phone"])}</a>'
        )
    if r["Website"]:
        lines.append(f'  <a class="website" href="{escape(r["Website"])}"{prop("url")}>Site web</a>')
    lines.append("</p>")
    if r["Hours"] and place.hours_in_html:
        lines.append(f'<dl class="schedule"><dt>Heures</dt><dd class="hours">{escape(r["Hours"])}</dd></dl>')
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in r["Description"].split("\n") if p.strip())
    lines.append(f'<div class="description"{prop("description")}>{paragraphs}</div>')
    if place.images:
        imgs = "".join(f'<img src="{escape(u)}" alt=""{prop("image")}>' for u in place.images)
        lines.append(f'<div class="gallery">{imgs}</div>')
    if md:
        if r["Latitude"]:
            lines.append(
                '<div itemprop="geo" itemscope itemtype="https://schema.org/GeoCoordinates">'
                f'<meta itemprop="latitude" content="{r["Latitude"]}">'
                f'<meta itemprop="longitude" content="{r["Longitude"]}"></div>'
            )
        if r["Email"]:
            lines.append(f'<meta itemprop="email" content="{escape(r["Email"])}">')
        if r["Hours"]:
            lines.append(f'<meta itemprop="openingHours" content="{escape(r["Hours"])}">')
        lines.extend(
            f'<link itemprop="sameAs" href="{escape(u)}">' for u in (r["Facebook"], r["Instagram"]) if u
        )
    lines.append(
        f'<p class="updated">Mis à jour le <time datetime="{place.modified.isoformat()}">'
        f"{place.modified:%Y-%m-%d}</time></p>"
    )
    lines.append("</article>")
    head = f'<link rel="canonical" href="{site.base_url}{place.path}">\n'
    if not md:
        block = json.dumps(_jsonld(place, site), ensure_ascii=False, indent=1).replace("</", "<\\/")
        head += f'<script type="application/ld+json">\n{block}\n</script>\n'
    html = _page(r["Name"], "\n".join(lines), head)
    body = html.encode()
    return Response(
        200,
        body,
        {
            "Content-Type": "text/html; charset=utf-8",
            "Last-Modified": format_datetime(place.modified, usegmt=True),
            "ETag": f'"{hashlib.sha256(body).hexdigest()[:16]}"',
        },
    )
