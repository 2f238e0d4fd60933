"""The `website` connector offline: selectors, the schema.org fallback, the parse of stored pages and the
spider's list-page callback, on hand-written HTML pages (tests/fixtures/website/)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from listings.config.models import DmoConfig
from listings.sources.http import RawPages
from listings.sources.website import WebsiteParams, WebsiteSource
from listings.sources.website_extract import (
    document_base,
    html_selector,
    item_link,
    list_items,
    next_page_link,
    opening_hours_text,
    pick_place,
    schema_items,
    schema_values,
    values_of,
)
from listings.transform.records import build_record

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "website"
SITE = "https://www.tourisme-exemple.example"
LIST_URL = f"{SITE}/fr/repertoire"  # its <base href> points at /repertoire/
PARAMS: dict[str, Any] = {
    "start_urls": [LIST_URL],
    "item_selector": "ul.results > li.result",
    "link_selector": "h3 a",
    "next_page_selector": "a.next",
    "fields": {
        "source_id": "xpath://article/@data-fiche",
        "name": "h1::text",
        "address1": ".adr .rue::text",
        "city": ".adr .ville::text",
        "zip": ".adr .cp::text",
        "phone": "xpath://a[@class='tel']/@href",
        "description": ".texte p",
        "images": "xpath://div[@class='photos']//img/@src",
    },
    "list_fields": {"category": ".cat::text"},
}
DETAILS = {
    "auberge": f"{SITE}/repertoire/fiche/auberge-du-lac-clair",
    "bistro": f"{SITE}/repertoire/fiche/bistro-le-quai",
    "musee": f"{SITE}/repertoire/fiche/musee-de-la-riviere",
    "camping": f"{SITE}/repertoire/fiche/camping-des-pins",
}


def html(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def page(url: str, name: str | None, kind: str, *, text: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "url": url,
        "status": 200,
        "headers": {"content-type": "text/html; charset=utf-8", "etag": '"e1"'},
        "fetched_at": "2025-03-01T12:00:00+00:00",
        "text": html(name) if name else text,
        "seconds": 0.01,
        "kind": kind,
        "link": url,
        "from_url": None,
        **extra,
    }


def config(**params: Any) -> DmoConfig:
    return DmoConfig.model_validate(
        {
            "dmo": {
                "id": 106,
                "name": "Tourisme Exemple",
                "dmo_type": "SCRAPED",
                "country": "CA",
                "state": "QC",
            },
            "source_type": "website",
            "base_url": f"{SITE}/",
            "config_params": {**PARAMS, **params},
        }
    )


def stored(*pages: dict[str, Any], error: str | None = None) -> bytes:
    raw = RawPages(source_type="website", request={"start_urls": [LIST_URL]}, pages=list(pages), error=error)
    return raw.payload(LIST_URL).data


def crawl_pages() -> list[dict[str, Any]]:
    """The pages of a crawl, stored in a different order than the list shows them."""
    return [
        page(LIST_URL, "list-page-1.html", "list"),
        page(DETAILS["musee"], "fiche-musee.html", "detail", from_url=LIST_URL),
        page(DETAILS["auberge"], "fiche-auberge.html", "detail", from_url=LIST_URL),
        page(f"{SITE}/repertoire/?page=2", "list-page-2.html", "list"),
        page(DETAILS["bistro"], "fiche-bistro.html", "detail", from_url=LIST_URL),
        page(DETAILS["camping"], "fiche-camping.html", "detail"),
    ]


# ------------------------------------------------------------------------------------------------
def test_list_page_items_links_and_next_page() -> None:
    sel = html_selector(html("list-page-1.html"), LIST_URL)
    base = document_base(sel, LIST_URL)
    assert base == f"{SITE}/repertoire/"
    items = list_items(sel, "ul.results > li.result")
    links = [item_link(i, "h3 a", base) for i in items]
    assert links == [
        DETAILS["auberge"],  # relative to <base href>, fragment dropped
        DETAILS["bistro"],
        None,  # an ad without a link
        DETAILS["musee"],
        f"{SITE}/membres/salon-des-partenaires",
    ]
    assert item_link(items[0], "xpath:.//h3/a/@href", base) == DETAILS["auberge"]
    assert next_page_link(sel, "a.next", base) == f"{SITE}/repertoire/?page=2"
    assert next_page_link(sel, "css:a[rel=next]::attr(href)", base) == f"{SITE}/repertoire/?page=2"
    last = html_selector(html("list-page-2.html"), f"{SITE}/repertoire/?page=2")
    assert next_page_link(last, "a.next", f"{SITE}/repertoire/?page=2") is None


def test_values_of_css_xpath_text_and_attributes() -> None:
    url = DETAILS["auberge"]
    sel = html_selector(html("fiche-auberge.html"), url)
    assert values_of(sel, "h1::text", url) == ["Auberge du Lac Clair"]
    assert values_of(sel, "xpath://h1/text()", url) == ["Auberge du Lac Clair"]
    assert values_of(sel, ".adr", url) == ["12, chemin du Lac-Clair\nVal-des-Lacs J0T 2P0"]  # <br> breaks
    assert values_of(sel, "a.tel::attr(href)", url) == ["+18195550142"]  # tel: dropped
    assert values_of(sel, ".texte", url) == [
        "Une auberge au bord de l'eau.\nCanot, kayak et sentiers sur place."
    ]
    assert values_of(sel, ".photos img::attr(src)", url) == [
        f"{SITE}/media/auberge-1.jpg",
        f"{SITE}/repertoire/fiche/photos/auberge-3.jpg",
    ]
    assert values_of(sel, "xpath:normalize-space(//p[@class='contact'])", url) == ["819 555-0142"]
    assert values_of(sel, ".nothing-here", url) == []
    camping = html_selector(html("fiche-camping.html"), DETAILS["camping"])
    assert values_of(camping, ".texte", DETAILS["camping"]) == [
        "120 emplacements ombragés.\nPlage et location d’embarcations."  # the <script> is not text
    ]


def test_schema_org_from_a_jsonld_graph_skips_the_publisher() -> None:
    url = DETAILS["auberge"]
    items, problems = schema_items(html_selector(html("fiche-auberge.html"), url), url)
    assert problems == [] and [i["@type"] for i in items][:2] == ["WebPage", "Organization"]
    place = pick_place(items)
    assert place is not None and place["name"] == "Auberge du Lac Clair"
    assert schema_values(place, url) == {
        "name": "Auberge du Lac Clair",
        "description": "Une auberge au bord de l'eau, avec vue sur le lac & les montagnes.",  # entity decoded
        "category": "Hotel",
        "phone": "+1-819-555-0142",
        "email": "reservations@auberge-lac-clair.example",
        "opening_hours": "Monday, Tuesday, Wednesday, Thursday, Friday 08:00-22:00; Saturday, Sunday 09:00-23:00",
        "address1": "12, chemin du Lac-Clair, Pavillon B",
        "city": "Val-des-Lacs",
        "state": "QC",
        "zip": "J0T 2P0",
        "country": "CA",
        "lat": "46.143210",
        "lng": "-74.512345",
        "website": "https://auberge-lac-clair.example/",
        "facebook": "https://www.facebook.com/aubergelacclair",
        "instagram": "https://instagram.com/aubergelacclair",
        "tripadvisor": "https://www.tripadvisor.ca/Hotel_Review-g1-d2",
        "images": [f"{SITE}/media/auberge-1.jpg", "https://images.example.org/auberge-2.jpg"],
    }


def test_schema_org_from_microdata() -> None:
    url = DETAILS["bistro"]
    items, _ = schema_items(html_selector(html("fiche-bistro.html"), url), url)
    place = pick_place(items)
    assert place is not None
    values = schema_values(place, url)
    assert values["lat"] == "46.0512" and values["lng"] == "-74.4021"
    assert values["opening_hours"] == "Tu-Fr 11:30-22:00; Sa-Su 10:00-23:00"
    assert values["phone"] == "8195550188" and values["email"] == "bonjour@bistro-le-quai.example"
    assert values["website"] == "https://bistro-le-quai.example/" and values["category"] == "Restaurant"
    assert values["address1"] == "3, rue du Quai" and values["city"] == "Rivière-Claire"


def test_a_broken_jsonld_block_does_not_hide_the_others() -> None:
    url = DETAILS["musee"]
    items, problems = schema_items(html_selector(html("fiche-musee.html"), url), url)
    assert len(problems) == 1 and problems[0].startswith("JSON-LD block 1 is not valid JSON")
    place = pick_place(items)  # the theme's block, read despite its comment and trailing comma
    assert place is not None and place["@type"] == "Museum"
    values = schema_values(place, url)
    assert values["address1"].startswith("88, boulevard de la Rivière")
    assert (values["lat"], values["lng"]) == ("46.0601", "-74.3987")
    assert "website" not in values  # its url is the directory's own page, not the museum's site


def test_opening_hours_specification_closed_days_and_seasons() -> None:
    item = {
        "openingHoursSpecification": [
            {"dayOfWeek": "http://schema.org/Monday", "opens": "00:00", "closes": "00:00"},
            {"dayOfWeek": ["Saturday"], "opens": "10:00:00", "closes": "16:00:00", "validFrom": "2025-06-01", "validThrough": "2025-09-01"},
        ]
    }  # fmt: skip
    assert opening_hours_text(item) == "Monday closed; Saturday 10:00-16:00 (2025-06-01 to 2025-09-01)"
    assert opening_hours_text({}) is None


# ------------------------------------------------------------------------------------------------
def test_parse_one_record_per_detail_page_in_list_order() -> None:
    result = WebsiteSource().parse(stored(*crawl_pages()), config())
    assert result.errors == []
    assert [r.values["name"] for r in result.records] == [
        "Auberge du Lac Clair",
        "Bistro Le Quai",
        "Musée de la Rivière",
        "Camping des Pins",
    ]
    assert [r.row_no for r in result.records] == [1, 2, 3, 4]
    assert result.metadata["items"] == 6 and result.metadata["items_without_link"] == 1
    assert result.metadata["links_not_fetched"] == 1  # the members-only page was never fetched

    auberge, bistro, musee, camping = (r.values for r in result.records)
    assert auberge["_id"] == "F-1001" and auberge["_path"] == "/repertoire/fiche/auberge-du-lac-clair"
    assert auberge["category"] == "Hébergement" and auberge["_sources"]["category"] == "list"
    assert auberge["phone"] == "+18195550142" and auberge["_sources"]["phone"] == "selector"
    assert (auberge["lat"], auberge["lng"]) == ("46.143210", "-74.512345")  # only in the JSON-LD
    assert auberge["_sources"]["lat"] == "schema.org" and auberge["opening_hours"].startswith("Monday")
    assert auberge["images"] == [
        f"{SITE}/media/auberge-1.jpg",
        f"{SITE}/repertoire/fiche/photos/auberge-3.jpg",
    ]
    assert auberge["_schema_org"]["@type"] == ["Hotel", "LodgingBusiness"]
    assert bistro["email"] == "bonjour@bistro-le-quai.example" and bistro["_sources"]["email"] == "schema.org"
    assert musee["address1"].startswith("88, boulevard") and musee["_sources"]["address1"] == "schema.org"
    assert camping["images"] == [f"{SITE}/media/camping-1.jpg"] and "lat" not in camping
    assert camping["category"] == "Camping"  # read on list page 2
    (problem,) = result.metadata["schema_org_problems"]
    assert problem.startswith(f"{DETAILS['musee']}: JSON-LD block 1 is not valid JSON (Unterminated string")

    prov = result.records[0].provenance
    assert prov == {
        "source_url": DETAILS["auberge"],
        "page_url": DETAILS["auberge"],
        "original_id": "F-1001",
        "fetched_at": "2025-03-01T12:00:00+00:00",
        "http_status": 200,
        "etag": '"e1"',
    }
    # deterministic: the stored bytes alone give the same records
    again = WebsiteSource().parse(stored(*crawl_pages()), config())
    assert json.dumps([r.values for r in again.records]) == json.dumps([r.values for r in result.records])


def test_default_source_id_is_the_url_path_and_mappings_build_records() -> None:
    fields = {k: v for k, v in PARAMS["fields"].items() if k != "source_id"}
    cfg = config(fields=fields)
    result = WebsiteSource().parse(stored(*crawl_pages()), cfg)
    first = result.records[0]
    assert first.values["_id"] == "/repertoire/fiche/auberge-du-lac-clair"
    rec = build_record(
        first.row_no, first.values, cfg.mappings(), country="CA", state="QC", provenance=first.provenance
    )
    assert rec.values["source_id"] == "/repertoire/fiche/auberge-du-lac-clair"
    assert rec.values["name"] == "Auberge du Lac Clair" and rec.values["country"] == "CA"
    assert (rec.values["lat"], rec.values["lng"]) == ("46.14321", "-74.512345")
    assert rec.values["description"] == "Une auberge au bord de l'eau.\nCanot, kayak et sentiers sur place."
    assert rec.values["facebook"] == "https://www.facebook.com/aubergelacclair"
    assert len(rec.images) == 2 and rec.flags == []


def test_schema_org_fallback_can_be_turned_off() -> None:
    result = WebsiteSource().parse(stored(*crawl_pages()), config(use_schema_org=False))
    auberge = result.records[0].values
    assert "lat" not in auberge and "_schema_org" not in auberge
    assert set(auberge["_sources"].values()) <= {"selector", "list"}


def test_list_items_without_link_selector_are_the_records() -> None:
    cfg = config(
        item_selector="div.grid > section.card",
        link_selector=None,
        next_page_selector=None,
        list_fields={},
        fields={
            "source_id": "::attr(data-id)",
            "name": "h2",
            "opening_hours": ".horaire",
            "address1": "p.adr",
        },
    )
    url = f"{SITE}/marches"
    result = WebsiteSource().parse(stored(page(url, "inline-list.html", "list")), cfg)
    assert [r.values.get("name") for r in result.records] == [
        "Marché de Val-des-Lacs",
        "Marché de Rivière-Claire",
        None,
    ]
    first, second, _ = (r.values for r in result.records)
    assert first["_id"] == "M-1" and first["lat"] == "46.1401" and first["_sources"]["lat"] == "schema.org"
    assert first["address1"] == "5, place du Marché, Val-des-Lacs"
    assert result.records[0].provenance["source_url"] == f"{SITE}/marches/val-des-lacs"
    assert second["_id"] == "M-2" and "lat" not in second
    assert result.records[1].provenance["source_url"] == url


def test_start_urls_that_are_detail_pages() -> None:
    cfg = config(item_selector=None, link_selector=None, next_page_selector=None, list_fields={})
    result = WebsiteSource().parse(stored(page(DETAILS["bistro"], "fiche-bistro.html", "detail")), cfg)
    (rec,) = result.records
    assert rec.values["name"] == "Bistro Le Quai" and rec.values["_id"] == "F-1002"


def test_bad_pages_become_errors_and_the_others_are_kept() -> None:
    truncated = page(DETAILS["auberge"], None, "detail", text=html("fiche-auberge.html")[:1500])
    not_html = page(f"{SITE}/repertoire/?page=2", None, "list", text='{"data": []}')
    not_html["headers"] = {"content-type": "application/json"}
    pages = [page(LIST_URL, "list-page-1.html", "list"), truncated, not_html,
             page(DETAILS["bistro"], "fiche-bistro.html", "detail")]  # fmt: skip
    result = WebsiteSource().parse(stored(*pages, error="1 page(s) failed: HTTP 404 for GET x"), config())
    assert [r.values["name"] for r in result.records] == ["Bistro Le Quai"]
    assert [(e.row_no, e.error_type) for e in result.errors] == [
        (1, "malformed_response"),  # the truncated detail page (first on list page 1): it was row 1
        (0, "malformed_response"),  # the JSON list page
        (0, "fetch_error"),
    ]
    assert "looks truncated" in result.errors[0].message and DETAILS["auberge"] in result.errors[0].message
    assert "not an HTML page (application/json)" in result.errors[1].message
    assert result.records[0].row_no == 2


# ------------------------------------------------------------------------------------------------
def test_params_are_validated_at_config_time() -> None:
    with pytest.raises(ValidationError, match="invalid css selector 'h1\\['"):
        WebsiteParams.model_validate({"fields": {"name": "h1["}})
    with pytest.raises(ValidationError, match="invalid xpath selector"):
        WebsiteParams.model_validate({"item_selector": "xpath://li[", "fields": {"name": "h1"}})
    with pytest.raises(ValidationError, match="link_selector needs item_selector"):
        WebsiteParams.model_validate({"link_selector": "a"})
    with pytest.raises(ValidationError, match="since_param"):
        WebsiteParams.model_validate({"incremental": True})
    with pytest.raises(ValidationError, match="field name '_id'"):
        WebsiteParams.model_validate({"fields": {"_id": "h1"}})
    with pytest.raises(ValidationError, match="nothing to read"):
        WebsiteParams.model_validate({"use_schema_org": False})
    with pytest.raises(ValidationError, match="extra"):
        WebsiteParams.model_validate({"selectors": {}})
    ok = WebsiteParams.model_validate({"start_urls": ["/directory/"], "fields": {"name": "css:h1::text"}})
    assert ok.use_schema_org is True and ok.max_pages is None


# ------------------------------------------------------------------------------------------------
@pytest.fixture
def spider_module() -> Any:
    sys.path.insert(0, str(REPO / "scrapers"))
    try:
        from listings_scrapers.spiders import generic

        yield generic
    finally:
        sys.path.remove(str(REPO / "scrapers"))


def make_spider(module: Any, tmp_path: Path, **spec: Any) -> Any:
    doc = {
        "start_urls": [LIST_URL],
        "item_selector": PARAMS["item_selector"],
        "link_selector": PARAMS["link_selector"],
        "next_page_selector": PARAMS["next_page_selector"],
        **spec,
    }
    (tmp_path / "spec.json").write_text(json.dumps(doc), encoding="utf-8")
    return module.GenericSpider(spec=str(tmp_path / "spec.json"), output=str(tmp_path / "out.jsonl"))


def list_response(name: str = "list-page-1.html", url: str = LIST_URL) -> Any:
    from scrapy.http import HtmlResponse, Request

    request = Request(url, meta={"kind": "list", "link": url, "from_url": None})
    return HtmlResponse(
        url,
        body=html(name).encode(),
        encoding="utf-8",
        request=request,
        headers={"Content-Type": "text/html"},
    )


def test_spider_list_callback_follows_details_in_order_then_the_next_page(
    spider_module: Any, tmp_path: Path
) -> None:
    spider = make_spider(spider_module, tmp_path)
    spider.list_pages_requested = 1
    out = list(spider.parse_list(list_response()))
    assert [(r.url, r.meta["kind"]) for r in out] == [
        (DETAILS["auberge"], "detail"),
        (DETAILS["bistro"], "detail"),
        (DETAILS["musee"], "detail"),
        (f"{SITE}/membres/salon-des-partenaires", "detail"),  # robots.txt decides, in the downloader
        (f"{SITE}/repertoire/?page=2", "list"),
    ]
    assert all(r.errback == spider.failed for r in out) and out[0].meta["from_url"] == LIST_URL
    spider.out.close()
    (line,) = (json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines())
    assert line["type"] == "page" and line["kind"] == "list" and line["text"] == html("list-page-1.html")
    assert line["headers"] == {"content-type": "text/html"}


def test_spider_stops_at_the_limit_and_at_max_pages(spider_module: Any, tmp_path: Path) -> None:
    limited = make_spider(spider_module, tmp_path, limit=2)
    assert [r.url for r in limited.parse_list(list_response())] == [DETAILS["auberge"], DETAILS["bistro"]]
    limited.out.close()
    one_page = make_spider(spider_module, tmp_path, max_pages=1)
    one_page.list_pages_requested = 1
    assert [r.meta["kind"] for r in one_page.parse_list(list_response())] == ["detail"] * 4
    one_page.out.close()
    last = make_spider(spider_module, tmp_path)
    assert [
        r.url for r in last.parse_list(list_response("list-page-2.html", f"{SITE}/repertoire/?page=2"))
    ] == [DETAILS["camping"]]
    last.out.close()


def test_retry_after_values(spider_module: Any) -> None:
    from listings_scrapers.middlewares import retry_after_seconds

    assert retry_after_seconds(b"3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None


def test_the_spec_is_validated(spider_module: Any, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="absolute"):
        make_spider(spider_module, tmp_path, start_urls=["/relative"])
