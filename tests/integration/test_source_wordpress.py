"""The wordpress source against the local fake WordPress site: paging, incremental runs, faults, auth,
parsing of real-shaped items, preview, and a run end to end into public."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from dmo_helpers import q
from sqlalchemy import Engine

from listings.config.models import DmoConfig, Images
from listings.config.preview import preview
from listings.config.store import apply_config, parse_config
from listings.pipeline.runner import JobFailed, run_job
from listings.sources.base import FetchContext, ParseResult, SourceError
from listings.sources.http import RawPages
from listings.sources.wordpress import WordPressSource
from listings_dev.demo_sites import DemoSites
from listings_dev.demo_sites import wordpress as wp_site
from listings_dev.devdata import generate_listings

DMO_ID = 104
FAST = {
    "allow_private_hosts": True,
    "delay_seconds": 0,
    "backoff_seconds": 0.01,
    "retries": 2,
    "timeout_seconds": 5,
}
PATH = "/wp-json/wp/v2/listing"
ORDER = "orderby=id&order=asc&_embed=1"
SOURCE = WordPressSource()


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    server = DemoSites(port=0)
    server.start()
    yield server
    server.stop()


def make_config(sites: DemoSites, **params: Any) -> DmoConfig:
    return parse_config(
        {
            "dmo": {"id": DMO_ID, "name": "WP demo", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
            "source_type": "wordpress",
            "base_url": sites.base_url,
            "config_params": {"post_type": "listing", "per_page": 15, **FAST, **params},
        }
    )


def fetch_parse(config: DmoConfig, **ctx: Any) -> tuple[RawPages, ParseResult]:
    payload = SOURCE.fetch(FetchContext(config=config, params=config.params(), project_dir=Path("."), **ctx))
    return RawPages.load(payload.data), SOURCE.parse(payload.data, config)


def pages(per_page: int, numbers: range, extra: str = "") -> list[str]:
    return [f"GET {PATH}?per_page={per_page}&page={n}&{ORDER}{extra}" for n in numbers]


@pytest.fixture
def dmo(engine: Engine) -> Iterator[Any]:
    def setup(config: DmoConfig) -> int:
        with engine.begin() as conn:
            apply_config(conn, config)
        return DMO_ID

    yield setup


# ------------------------------------------------------------------------------------------------
def test_pages_in_id_order_until_x_wp_totalpages(sites: DemoSites) -> None:
    raw, parsed = fetch_parse(make_config(sites))
    assert sites.requests == pages(15, range(1, 4))
    assert [p["headers"]["x-wp-totalpages"] for p in raw.pages] == ["3", "3", "3"]
    assert parsed.errors == [] and parsed.metadata["wp_total"] == 40
    assert [r.row_no for r in parsed.records] == list(range(1, 41))
    ids = [r.values["id"] for r in parsed.records]
    assert ids == sorted(ids) and len(set(ids)) == 40
    first = parsed.records[0]
    assert first.provenance["source_url"] == f"{sites.base_url}/listing/the-quiet-thistle-inn/"
    assert first.provenance["original_id"] == "103" and first.provenance["http_status"] == 200
    assert first.provenance["page_url"].endswith("per_page=15&page=1&" + ORDER)
    assert raw.request["url"] == sites.base_url + PATH and raw.request["since"] is None


def test_headers_stripped_short_page_400_past_the_end_and_max_pages(sites: DemoSites) -> None:
    wp_site.strip_paging_headers(sites.site)
    _, parsed = fetch_parse(make_config(sites))  # 15 + 15 + 10: the short page is the last
    assert sites.requests == pages(15, range(1, 4)) and len(parsed.records) == 40

    sites.requests.clear()
    raw, parsed = fetch_parse(make_config(sites, per_page=20))  # 20 + 20, then WordPress's 400
    assert sites.requests == pages(20, range(1, 4))
    assert len(parsed.records) == 40 and parsed.errors == [] and raw.error is None
    assert "past the last page" in parsed.metadata["stopped"]

    sites.requests.clear()
    wp_site.strip_paging_headers(sites.site, False)
    raw, parsed = fetch_parse(make_config(sites, per_page=10, max_pages=2))
    assert sites.requests == pages(10, range(1, 3)) and len(parsed.records) == 20
    assert raw.request["stopped"] == "max_pages (2) reached"


def test_retry_after_429_then_500_then_success(sites: DemoSites) -> None:
    sites.faults.add("/wp-json/", "retry-after:1", "slow:0", 500)
    _, parsed = fetch_parse(make_config(sites))
    assert sites.requests == [*pages(15, range(1, 2)), *pages(15, range(1, 3)), *pages(15, range(2, 4))]
    assert len(parsed.records) == 40 and parsed.errors == []


def test_timeout_is_retried_then_fails_naming_the_url(sites: DemoSites) -> None:
    sites.faults.add("/wp-json/", "slow:0.6")
    _, parsed = fetch_parse(make_config(sites, timeout_seconds=0.3))
    assert len(parsed.records) == 40 and sites.requests[:2] == pages(15, range(1, 2)) * 2

    sites.faults.add("/wp-json/", "slow:0.6", "slow:0.6")
    with pytest.raises(SourceError, match=r"timed out") as err:
        fetch_parse(make_config(sites, timeout_seconds=0.3, retries=1))
    assert f"{sites.base_url}{PATH}?per_page=15&page=1" in str(err.value)


def test_incremental_run_asks_modified_after(engine: Engine, dmo: Any, sites: DemoSites) -> None:
    dmo_id = dmo(make_config(sites, incremental=True, per_page=100))
    first = run_job(dmo_id)
    # one post's ACF map is empty: no location, and no listing to join (see the end-to-end test)
    assert first["status"] == "partial" and first["counts"]["records_new"] == 39
    assert sites.requests == pages(100, range(1, 2))
    (started,) = q(engine, "select started_at from pipeline.jobs where id = :j", j=first["job_id"])[0]

    wp_site.touch(sites.site, 106, title="Rôtisserie Ottawa & Fils")
    sites.requests.clear()
    second = run_job(dmo_id)
    after = (started.replace(tzinfo=UTC) - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sites.requests == pages(100, range(1, 2), f"&modified_after={quote(after)}")
    assert second["counts"]["records_total"] == 1 and second["counts"]["records_updated"] == 1
    (name,) = q(
        engine,
        "select l.name from public.listings l join public.listing_info li on li.listing_id = l.id "
        "where li.external_source_id = '106'",
    )[0]
    assert name == "Rôtisserie Ottawa & Fils"


def test_end_to_end_into_public_then_unchanged(engine: Engine, dmo: Any, sites: DemoSites) -> None:
    images = Images(allow_private_hosts=True)  # the demo image host is on 127.0.0.1
    dmo_id = dmo(make_config(sites, per_page=20).model_copy(update={"images": images}))
    first = run_job(dmo_id)
    assert first["status"] == "partial", first
    assert first["counts"] == {
        "records_total": 40, "records_matched": 0, "records_review": 0, "records_new": 39,
        "records_updated": 0, "records_unchanged": 0,
        "records_duplicates": 0, "records_error": 1, "records_deleted": 0,
    }  # fmt: skip
    assert (
        q(engine, "select count(*) from public.listing_info where external_source_id is not null")[0][0] == 39
    )
    # The post whose ACF map is empty (null: no coordinates, no address) starts no listing without a place.
    unplaced = [row["Name"] for row in generate_listings(40, seed=0, id_prefix="WP") if not row["Latitude"]]
    rejected = q(engine, "select e.stage, o.original_record ->> 'name' from pipeline.job_errors e"
                         " join pipeline.job_errors o on o.job_id = e.job_id and o.record_no = e.record_no"
                         " and o.stage = 'validation' where e.error_type = 'no_location'")  # fmt: skip
    assert [(r[0], r[1].replace("’", "'")) for r in rejected] == [("promote", name) for name in unplaced]
    assert len(unplaced) == 1
    (motel,) = q(
        engine,
        """select l.name, li.external_source_id, li.description, loc.address1, loc.city, loc.zip, loc.lat, loc.lng,
                  c.local_phone, array(select source_url from public.listing_images i where i.listing_info_id = li.id
                  order by rank) as images
           from public.listings l join public.listing_info li on li.listing_id = l.id
           join public.locations loc on loc.id = l.location_id join public.contact_info c on c.id = li.contact_info_id
           where li.external_source_id = '118'""",
    )
    assert motel.name == "Motel L’Églantier Cuivré"  # &#8217; decoded
    assert (
        motel.address1 == "8571 Boulevard Daniel-Johnson" and motel.city == "Laval" and motel.zip == "H7E 7K0"
    )
    assert float(motel.lat) == pytest.approx(45.527005) and float(motel.lng) == pytest.approx(-73.822649)
    assert motel.description.startswith("Motel L’Églantier Cuivré est un motel") and "\n" in motel.description
    assert motel.local_phone == "(579) 555-0181"
    assert motel.images == [
        f"{sites.base_url}/images/wordpress/motel-leglantier-cuivre-{k}.jpg" for k in range(1, 5)
    ]
    # the images step stored every image the site serves: public shows the stored copies
    stored = q(engine, "select image from public.listing_images")
    assert stored and all(r.image.startswith("file://") for r in stored)
    located = sum(1 for row in generate_listings(40, seed=0, id_prefix="WP") if row["Latitude"])
    assert q(engine, "select count(*) from public.locations where lat is not null")[0][0] == located
    # an older ACF map value (address, lat, lng only): the Google formatted address is split
    (old,) = q(
        engine,
        "select loc.address1, loc.city, loc.zip from public.locations loc join public.listings l "
        "on l.location_id = loc.id join public.listing_info li on li.listing_id = l.id "
        "where li.external_source_id = '109'",
    )
    assert tuple(old) == ("3 rue Sherbrooke Ouest", "Montréal", "H1M 3C4")

    before = q(
        engine, "select id, listing_id, contact_info_id, updated_at from public.listing_info order by id"
    )
    again = run_job(dmo_id)
    assert again["status"] == "partial" and again["counts"]["records_unchanged"] == 39
    assert again["counts"]["records_new"] == again["counts"]["records_updated"] == 0
    assert (
        q(engine, "select id, listing_id, contact_info_id, updated_at from public.listing_info order by id")
        == before
    )


def test_malformed_page_is_kept_as_an_error_and_the_job_is_partial(
    engine: Engine, dmo: Any, sites: DemoSites
) -> None:
    sites.faults.add("/wp-json/", "slow:0", "malformed")  # page 2 is cut in half
    res = run_job(dmo(make_config(sites)))
    assert sites.requests == pages(15, range(1, 4))  # X-WP-TotalPages says there is a page 3
    assert res["status"] == "partial"
    assert (res["counts"]["records_new"], res["counts"]["records_error"]) == (25, 1)
    (err,) = q(engine, "select error_type, error_message from pipeline.job_errors")
    assert err.error_type == "malformed_response" and "page=2" in err.error_message


def test_failure_half_way_keeps_the_pages_and_ends_partial(
    engine: Engine, dmo: Any, sites: DemoSites
) -> None:
    sites.faults.add("/wp-json/", "slow:0", 500, 500, 500)  # page 2 fails on every attempt
    res = run_job(dmo(make_config(sites)))
    assert sites.requests == pages(15, range(1, 2)) + pages(15, range(2, 3)) * 3
    assert res["status"] == "partial" and res["counts"]["records_new"] == 15
    (err,) = q(engine, "select error_type, error_message from pipeline.job_errors")
    assert err.error_type == "fetch_error" and "page=2" in err.error_message and "500" in err.error_message
    (raw,) = q(engine, "select metadata from pipeline.job_files where stage = 'raw'")
    assert raw.metadata["complete"] is False and raw.metadata["pages"] == 1


def test_empty_result_succeeds_with_no_records(dmo: Any, sites: DemoSites) -> None:
    sites.faults.add("/wp-json/", "empty")
    res = run_job(dmo(make_config(sites)))
    assert res["status"] == "succeeded" and res["counts"]["records_total"] == 0
    assert sites.requests == pages(15, range(1, 2))


@pytest.mark.parametrize("status", [401, 403, 404])
def test_refusals_fail_the_job_naming_the_url(
    engine: Engine, dmo: Any, sites: DemoSites, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    params: dict[str, Any] = {}
    if status == 401:  # the site itself refuses a wrong application password
        conn = {"conn_type": "http", "login": "editor", "password": "wrong password"}
        monkeypatch.setenv("AIRFLOW_CONN_LISTINGS_TEST_WP", json.dumps(conn))
        params["auth_conn_id"] = "listings_test_wp"
    elif status == 403:
        sites.faults.add("/wp-json/", 403)
    else:
        params["post_type"] = "lisitng"  # a typo: rest_no_route
    with pytest.raises(JobFailed) as err:
        run_job(dmo(make_config(sites, **params)))
    assert err.value.step == "extract"
    (job,) = q(engine, "select status, error_summary from pipeline.jobs")
    assert job.status == "failed" and f"HTTP {status}" in job.error_summary
    assert f"{sites.base_url}/wp-json/wp/v2/" in job.error_summary
    assert len(sites.requests) == 1  # never retried


def test_application_password_reaches_drafts(sites: DemoSites, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "http", "login": "editor", "password": "demo app password"}  # spaces do not count
    monkeypatch.setenv("AIRFLOW_CONN_LISTINGS_TEST_WP", json.dumps(conn))
    cfg = make_config(sites, per_page=100, auth_conn_id="listings_test_wp", status=["publish", "draft"])
    raw, parsed = fetch_parse(cfg)
    assert [r.values["status"] for r in parsed.records].count("draft") == 2 and len(parsed.records) == 42
    assert raw.request["auth"] == "basic (listings_test_wp)" and "demo" not in json.dumps(raw.request)

    with pytest.raises(SourceError, match=r"HTTP 400 .*status=publish%2Cdraft"):
        fetch_parse(make_config(sites, status=["publish", "draft"]))  # drafts need auth


def test_preview_with_a_limit_asks_for_that_many(sites: DemoSites) -> None:
    result = preview(make_config(sites), limit=3)
    assert sites.requests == pages(3, range(1, 2))
    assert len(result.records) == 3 and result.errors == []
    fields = {f.field: f for f in result.records[1].fields}
    assert (fields["name"].path, fields["name"].value, fields["name"].status) == (
        "_title",
        "Rôtisserie Ottawa",
        "ok",
    )
    assert fields["lat"].value == "45.67778" and fields["city"].value == "Montréal"
    assert fields["category"].value == "Restauration" and fields["source_id"].value == "106"
    assert fields["website"].status == "empty" and fields["youtube"].status == "unmapped"
    assert fields["images"].value == [f"{sites.base_url}/images/wordpress/rotisserie-ottawa-1.webp"]


def test_posts_pages_and_rest_base(sites: DemoSites) -> None:
    _, parsed = fetch_parse(make_config(sites, post_type="posts"))
    assert sites.requests == [f"GET /wp-json/wp/v2/posts?per_page=15&page=1&{ORDER}"]
    assert len(parsed.records) == 6
    by_title = {r.values["_title"]: r.values for r in parsed.records}
    terrasses = by_title["10 terrasses où l’on mange bien cet été"]
    assert terrasses["_category"] == ["Gastronomie"]  # tags are not categories
    assert terrasses["_description"] == (
        "10 terrasses où l’on mange bien cet été : notre sélection & nos conseils.\n\nBonne découverte !"
    )  # entities decoded, the unrendered page-builder shortcode dropped
    assert by_title["Festival d’hiver : le programme"]["_category"] is None  # "Uncategorized" left out

    sites.requests.clear()
    _, parsed = fetch_parse(make_config(sites, rest_base="/wp-json/wp/v2/pages", query={"search": "propos"}))
    assert sites.requests == [f"GET /wp-json/wp/v2/pages?per_page=15&page=1&{ORDER}&search=propos"]
    assert [r.values["_title"] for r in parsed.records] == ["À propos"]

    sites.requests.clear()
    _, parsed = fetch_parse(make_config(sites, rest_base="wp/v2/listing/106"))  # one item: no paging
    assert len(sites.requests) == 1 and [r.values["id"] for r in parsed.records] == [106]


def test_params_are_checked(sites: DemoSites) -> None:
    for bad in (
        {"per_page": 101},
        {"query": {"page": 2}},
        {"acf_keys": {"fax": ["fax"]}},
        {"post_type": "a/b"},
    ):
        with pytest.raises(ValueError):
            make_config(sites, **bad)
    cfg = make_config(sites, acf_keys={"phone": ["tel_1"]})
    assert cfg.config_params["acf_keys"]["phone"] == ["tel_1"]
    assert cfg.config_params["acf_keys"]["email"][0] == "email"  # the other defaults stay


# ------------------------------------------------------------------------------------------------
def _page(body: Any, url: str = "https://site.example/wp-json/wp/v2/place?page=1") -> dict[str, Any]:
    text_body = body if isinstance(body, str) else json.dumps(body)
    return {
        "url": url,
        "status": 200,
        "headers": {},
        "fetched_at": "2025-01-01T00:00:00+00:00",
        "text": text_body,
    }


def test_parse_real_shapes(sites: DemoSites) -> None:
    place = {
        "id": 7,
        "link": "https://site.example/place/chez-leo/",
        "title": {"rendered": "Chez L&#8217;&Eacute;o &#038; fils <em>bistro</em>"},
        "content": {"rendered": "", "protected": True},
        "excerpt": {"rendered": "<p>Cuisine du march&eacute;&hellip;</p>\n"},
        "meta": [],
        "acf": {
            "carte": {
                "address": "124, rue Saint-Viateur O, Montréal, QC H2T2L1, Canada",
                "lat": "45.5235",
                "lng": "-73.6004",
            },
            "tel": "514-555-0101",
            "site_web": {"title": "Site", "url": "https://leo.example/", "target": ""},
            "horaires": "<p>Lun-Ven 11h-22h<br />\nSam 10h-23h</p>",
            "galerie": [17, "https://img.example/2.jpg", {"id": 18, "url": "https://img.example/3.jpg"}],
        },
        "jetpack_featured_media_url": "https://img.example/1.jpg",
        "_embedded": {
            "wp:featuredmedia": [{"code": "rest_forbidden", "data": {"status": 401}}],
            "wp:term": [
                [{"taxonomy": "category", "slug": "uncategorized", "name": "Uncategorized"}],
                [{"taxonomy": "place-type", "slug": "bistro", "name": "Bistro &amp; bar"}],
                [{"taxonomy": "post_tag", "slug": "terrasse", "name": "terrasse"}],
            ],
        },
    }
    bare = {
        "id": 8,
        "title": {"rendered": "Sans carte"},
        "acf": [],
        "meta": {"latitude": ["46.1"], "longitude": "-71.2"},
    }
    raw = RawPages(
        "wordpress", request={"url": "x"}, error="GET ...page=4 failed after 3 attempt(s): HTTP 503"
    )
    raw.pages = [
        _page([place, "oops", bare]),
        _page([place], url="https://site.example/wp-json/wp/v2/place?page=2"),  # repeated by the site
        _page({"code": "rest_no_route", "message": "No route", "data": {"status": 404}}),
        _page('[{"id": 9, "title"'),
        _page({"id": 10, "title": {"rendered": "One item"}}),
    ]
    cfg = make_config(sites, acf_keys={"phone": ["tel"]})
    parsed = SOURCE.parse(raw.payload("x").data, cfg)
    assert [(r.row_no, r.values["id"]) for r in parsed.records] == [(1, 7), (3, 8), (4, 10)]
    v = parsed.records[0].values
    assert v["_title"] == "Chez L’Éo & fils bistro" and v["_description"] == "Cuisine du marché…"
    assert (v["_lat"], v["_lng"], v["_address1"], v["_city"], v["_state"], v["_zip"], v["_country"]) == (
        "45.5235", "-73.6004", "124 rue Saint-Viateur O", "Montréal", "QC", "H2T2L1", None,
    )  # fmt: skip
    assert v["_phone"] == "514-555-0101" and v["_website"] == "https://leo.example/"
    assert v["_opening_hours"] == "Lun-Ven 11h-22h; Sam 10h-23h"
    assert v["_category"] == ["Bistro & bar"]
    assert v["_images"] == [
        "https://img.example/1.jpg",
        "https://img.example/2.jpg",
        "https://img.example/3.jpg",
    ]
    assert parsed.records[0].provenance["source_url"] == "https://site.example/place/chez-leo/"
    b = parsed.records[1].values
    assert (b["_lat"], b["_lng"], b["_address1"], b["_images"]) == ("46.1", "-71.2", None, None)
    assert [(e.row_no, e.error_type) for e in parsed.errors] == [
        (2, "invalid_item"), (0, "unexpected_response"), (0, "malformed_response"), (0, "fetch_error"),
    ]  # fmt: skip
    assert "rest_no_route" in parsed.errors[1].message
    assert parsed.metadata["duplicates_dropped"] == 1 and parsed.metadata["gallery_ids_unresolved"] == 1
