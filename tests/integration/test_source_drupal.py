"""The drupal connector against the local Drupal-like JSON:API site: paging by links.next, include=
resolution, translations, incremental filters, faults at the connector (429, 500, slow, malformed, empty,
a failure half-way: what is kept and reported), preview, a DMO end to end into public, and refusals
(401/403/404, JSON:API error documents) that fail the job."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from dmo_helpers import q
from sqlalchemy import Engine

from listings.config.models import DmoConfig, Images
from listings.config.preview import preview
from listings.config.store import apply_config, parse_config
from listings.pipeline.runner import JobFailed, run_job
from listings.sources.base import FetchContext, SourceError
from listings.sources.drupal import DrupalParams, DrupalSource, _rebase
from listings.sources.http import RawPages
from listings.transform.html import html_to_text
from listings_dev.demo_sites import DemoSites
from listings_dev.demo_sites import drupal as site_module

DMO_ID = 105
SIZE = 25
FAST = {
    "allow_private_hosts": True,
    "delay_seconds": 0,
    "backoff_seconds": 0.01,
    "retries": 2,
    "timeout_seconds": 2,
}
FIRST = "GET /jsonapi/node/place?page%5Blimit%5D=10&sort=drupal_internal__nid&include=field_image%2Cfield_category"


def _next(offset: int, extra: str = "") -> str:
    return (
        "GET /jsonapi/node/place?sort=drupal_internal__nid&include=field_image%2Cfield_category"
        f"{extra}&page%5Boffset%5D={offset}&page%5Blimit%5D=10"
    )


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    server = DemoSites(port=0, size=SIZE)
    server.start()
    yield server
    server.stop()


def make_config(base_url: str, **params: Any) -> DmoConfig:
    return parse_config(
        {
            "dmo": {"id": DMO_ID, "name": "Drupal DMO", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
            "source_type": "drupal",
            "base_url": base_url,
            "field_mappings": {"phone": "attributes.field_phone", "website": "attributes.field_website.uri"},
            "config_params": {
                "bundle": "place",
                "include": ["field_image", "field_category"],
                "page_limit": 10,
                **FAST,
                **params,
            },
        }
    )


def fetch_parse(config: DmoConfig, **ctx: Any) -> tuple[Any, Any]:
    source = DrupalSource()
    payload = source.fetch(FetchContext(config=config, params=config.params(), project_dir=Path("."), **ctx))
    return payload, source.parse(payload.data, config)


def setup_dmo(engine: Engine, base_url: str, *, images: dict[str, Any] | None = None, **params: Any) -> int:
    config = make_config(base_url, **params)
    if images is not None:
        config = config.model_copy(update={"images": Images(**images)})
    with engine.begin() as conn:
        apply_config(conn, config)
    return DMO_ID


# --- fetch + parse against the site -----------------------------------------------------------------
def test_pages_follow_links_next_and_resolve_included(sites: DemoSites) -> None:
    payload, parsed = fetch_parse(make_config(sites.base_url))
    assert sites.requests == [FIRST, _next(10), _next(20)]
    assert payload.fmt == "json" and payload.metadata["pages"] == 3 and payload.metadata["complete"]
    assert [r.row_no for r in parsed.records] == list(range(1, SIZE + 1)) and parsed.errors == []
    raw = RawPages.load(payload.data)
    assert raw.request["query"]["sort"] == "drupal_internal__nid" and raw.request["since"] is None
    assert json.loads(raw.pages[0]["text"])["links"]["next"]  # stored as it came

    places = site_module.data(sites.site)["places"]
    with_images = next(r for r in parsed.records if places[r.row_no - 1]["files"])
    place = places[with_images.row_no - 1]
    v = with_images.values
    assert v["_source_id"] == str(place["nid"]) and v["id"] == place["id"] and v["type"] == "node--place"
    assert v["_images"] == [f"{sites.base_url}/images/drupal/{f['name']}" for f in place["files"]]
    assert v["_terms"] == [site_module.data(sites.site)["terms"][place["term"]]["name"]["en"]]
    assert v["_address"]["locality"] == place["address"]["locality"] and v["_langcode"] == "en"
    assert "<" not in v["_description"] and place["title"] in v["_description"]
    located = next(r for r in parsed.records if places[r.row_no - 1]["location"])
    assert located.values["_lat"] == places[located.row_no - 1]["location"]["lat"]
    assert with_images.provenance["source_url"].startswith(
        f"{sites.base_url}/jsonapi/node/place/{place['id']}"
    )
    assert (
        with_images.provenance["original_id"] == str(place["nid"])
        and with_images.provenance["http_status"] == 200
    )
    assert parsed.metadata["languages"] == {"en": SIZE}


def test_translation_by_path_prefix_falls_back_like_drupal(sites: DemoSites) -> None:
    _payload, parsed = fetch_parse(make_config(sites.base_url, langcode="fr"))
    assert sites.requests[0] == FIRST.replace("GET /jsonapi/", "GET /fr/jsonapi/")
    assert (
        all(r.startswith("GET /fr/jsonapi/node/place?") for r in sites.requests) and len(sites.requests) == 3
    )
    places = site_module.data(sites.site)["places"]
    langs = {r.values["_langcode"] for r in parsed.records}
    assert langs == {"fr", "en"}  # untranslated places come back in English: recorded as such
    for rec in parsed.records:
        assert rec.values["_langcode"] == ("fr" if places[rec.row_no - 1]["translated"] else "en")
        assert rec.provenance["langcode"] == rec.values["_langcode"]
    terms = site_module.data(sites.site)["terms"]
    assert parsed.records[0].values["_terms"] == [terms[places[0]["term"]]["name"]["fr"]]


def test_translation_by_query_parameter(sites: DemoSites) -> None:
    _, parsed = fetch_parse(make_config(sites.base_url, langcode="fr", language_negotiation="query"))
    assert sites.requests[0] == FIRST + "&language=fr" and sites.requests[1] == _next(10, "&language=fr")
    assert "fr" in parsed.metadata["languages"]


def test_429_with_retry_after_then_success(sites: DemoSites) -> None:
    sites.faults.add("/jsonapi/", "retry-after:1")
    started = time.monotonic()
    _, parsed = fetch_parse(make_config(sites.base_url))
    assert time.monotonic() - started >= 0.9  # waited as the site asked
    assert sites.requests == [FIRST, FIRST, _next(10), _next(20)] and len(parsed.records) == SIZE


def test_500_then_success_and_a_timeout_then_success(sites: DemoSites) -> None:
    sites.faults.add("/jsonapi/", "pass", 500, "slow:1.5")
    _, parsed = fetch_parse(make_config(sites.base_url, timeout_seconds=1))
    assert sites.requests == [FIRST, _next(10), _next(10), _next(10), _next(20)]
    assert len(parsed.records) == SIZE and parsed.errors == []


def test_preview_with_a_limit_asks_for_few_records(sites: DemoSites) -> None:
    result = preview(make_config(sites.base_url), limit=3)
    assert sites.requests == [FIRST.replace("page%5Blimit%5D=10", "page%5Blimit%5D=3")]
    assert len(result.records) == 3
    fields = {f.field: f for f in result.records[0].fields}
    place = site_module.data(sites.site)["places"][0]
    assert fields["name"].value == place["title"] and fields["name"].status == "ok"
    assert fields["city"].value == place["address"]["locality"] and fields["source_id"].value == "1"
    assert fields["category"].status == "ok" and fields["country"].value == "CA"


def test_parse_real_shapes_media_styles_geolocation_and_bad_items() -> None:
    """Shapes the demo site does not serve: a single-resource document, images through media entities,
    image style links, geolocation lat/lng, WKT only, no nid, a non-resource item, an error page."""
    base = "https://dmo.example.org"
    file_a = {
        "type": "file--file", "id": "f1",
        "attributes": {"uri": {"value": "public://a.jpg", "url": "/sites/default/files/a.jpg"}, "filemime": "image/jpeg",
                       "image_style_uri": [{"large": "https://cdn.example.org/styles/large/a.jpg"}]},
    }  # fmt: skip
    media = {
        "type": "media--image", "id": "m1",
        "relationships": {"thumbnail": {"data": {"type": "file--file", "id": "f0"}},
                          "field_media_image": {"data": {"type": "file--file", "id": "f1"}}},
    }  # fmt: skip
    pdf = {
        "type": "file--file",
        "id": "f2",
        "attributes": {"uri": {"url": "/x.pdf"}, "filemime": "application/pdf"},
    }
    single = {
        "data": {
            "type": "node--place", "id": "uuid-1",
            "links": {"self": {"href": f"{base}/jsonapi/node/place/uuid-1"}},
            "attributes": {"title": "Café &amp; Bar", "langcode": "fr",
                           "body": [{"value": "<p>Un caf&eacute;&nbsp;&laquo;&#160;culte&#160;&raquo;</p><script>x()</script><ul><li>a</li><li>b</li></ul>"}],
                           "field_location": {"lat": "45.5", "lng": "-73.6"}},
            "relationships": {"field_media_image": {"data": {"type": "media--image", "id": "m1"}},
                              "field_brochure": {"data": [{"type": "file--file", "id": "f2"}]},
                              "field_tags": {"data": [{"type": "taxonomy_term--tags", "id": "t1"},
                                                      {"type": "taxonomy_term--tags", "id": "missing"}]}},
        },
        "included": [media, file_a, pdf, {"type": "taxonomy_term--tags", "id": "t1", "attributes": {"name": "Café"}}],
    }  # fmt: skip
    wkt_only = {
        "data": [
            {"type": "node--place", "id": "uuid-2", "attributes": {"drupal_internal__nid": 7, "title": "Parc",
             "field_location": [{"value": "POINT (-71.2 46.8)"}],
             "field_address": [{"address_line1": "1 rue A", "locality": "Québec", "country_code": "CA", "postal_code": ""}]}},
            "not a resource",
        ],
        "links": {"self": {"href": f"{base}/jsonapi/node/place"}},
    }  # fmt: skip
    error_doc = {
        "jsonapi": {"version": "1.0"},
        "errors": [{"title": "Forbidden", "status": "403", "detail": "No access"}],
    }
    page = {
        "status": 200,
        "headers": {"etag": '"e1"'},
        "fetched_at": "2024-01-01T00:00:00+00:00",
        "seconds": 0.1,
    }
    raw = RawPages(
        "drupal",
        request={"base_url": base},
        pages=[
            {**page, "url": f"{base}/a", "text": json.dumps(single)},
            {**page, "url": f"{base}/b", "text": json.dumps(wkt_only)},
            {**page, "url": f"{base}/c", "text": json.dumps(error_doc)},
            {**page, "url": f"{base}/d", "text": '{"data": [trunc'},
        ],
    )
    config = make_config(base)
    parsed = DrupalSource().parse(raw.payload(base).data, config)
    first, second = parsed.records
    assert first.values["_source_id"] == "uuid-1" and first.row_no == 1  # no nid: the uuid
    assert first.values["_images"] == [f"{base}/sites/default/files/a.jpg"]  # via the media entity; no PDF
    assert first.values["_terms"] == ["Café"]
    assert first.values["_description"] == "Un café « culte »\n\n- a\n- b"  # NBSPs fold like any space
    assert (first.values["_lat"], first.values["_lng"]) == ("45.5", "-73.6")
    assert first.provenance["etag"] == '"e1"' and first.provenance["source_url"].endswith("/uuid-1")
    assert second.values["_source_id"] == "7" and (second.values["_lat"], second.values["_lng"]) == (
        "46.8",
        "-71.2",
    )
    address = {k: v for k, v in second.values["_address"].items() if v is not None}
    assert address == {"address_line1": "1 rue A", "locality": "Québec", "country_code": "CA"}
    assert "postal_code" in second.values["_address"] and first.values["_address"] == {}
    assert second.provenance["source_url"] == f"{base}/b"  # no self link: the page
    assert [(e.row_no, e.error_type) for e in parsed.errors] == [
        (3, "invalid_item"),
        (0, "jsonapi_error"),
        (0, "malformed_response"),
    ]
    assert "403 Forbidden: No access" in parsed.errors[1].message and f"{base}/c" in parsed.errors[1].message

    styled = make_config(base, image_style="large", image_fields=["field_media_image", "field_brochure"])
    again = DrupalSource().parse(raw.payload(base).data, styled).records[0]
    assert again.values["_images"] == ["https://cdn.example.org/styles/large/a.jpg", f"{base}/x.pdf"]


def test_params_are_validated_and_html_is_read_as_text() -> None:
    with pytest.raises(ValueError, match="exactly one of bundle"):
        DrupalParams()
    with pytest.raises(ValueError, match="page_limit"):
        DrupalParams(bundle="place", query={"page[limit]": "5"})
    with pytest.raises(ValueError, match="machine name"):
        DrupalParams(bundle="place/../x")
    assert DrupalParams(resource_path="jsonapi/views/places/page_1", sort=None).bundle is None
    assert html_to_text("<h2>Titre</h2><p>A&amp;B <br>C</p>") == "Titre\n\nA&B\nC"
    assert html_to_text("<p> </p>") is None
    # Links written with a proxy's internal address are followed on the configured host.
    assert _rebase(
        "http://drupal:8080/fr/jsonapi/node/place?page%5Boffset%5D=50", "https://dmo.example.org/"
    ) == ("https://dmo.example.org/fr/jsonapi/node/place?page%5Boffset%5D=50")


# --- faults at the connector: what is kept and reported when paging goes wrong ---------------------
# How the pipeline turns this into a `partial` job (job_errors rows, raw `complete: false`) is checked
# end to end once, in test_source_wordpress.py.
def test_failure_half_way_keeps_the_pages_before_it_and_reports_the_page(sites: DemoSites) -> None:
    sites.faults.add("/jsonapi/", "pass", 500, 500, 500)
    payload, parsed = fetch_parse(make_config(sites.base_url))
    assert sites.requests == [FIRST, _next(10), _next(10), _next(10)]  # retried twice, then stopped
    failed = sites.base_url + _next(10).removeprefix("GET ")
    message = f"GET {failed} failed after 3 attempt(s): HTTP 500 Internal Server Error"
    raw = RawPages.load(payload.data)
    assert len(raw.pages) == 1 and raw.error == message
    assert payload.metadata["pages"] == 1 and payload.metadata["complete"] is False
    assert payload.metadata["fetch_error"] == message
    places = site_module.data(sites.site)["places"]
    assert [r.values["_source_id"] for r in parsed.records] == [str(p["nid"]) for p in places[:10]]
    assert [(e.row_no, e.error_type, e.message) for e in parsed.errors] == [(0, "fetch_error", message)]
    assert parsed.errors[0].original["pages_kept"] == 1


def test_malformed_json_is_kept_and_reported_with_its_url(sites: DemoSites) -> None:
    sites.faults.add("/jsonapi/", "pass", "malformed")
    payload, parsed = fetch_parse(make_config(sites.base_url))
    assert sites.requests == [FIRST, _next(10)]  # no links.next to follow in a broken body
    broken = sites.base_url + _next(10).removeprefix("GET ")
    raw = RawPages.load(payload.data)
    assert len(raw.pages) == 2 and raw.pages[1]["url"] == broken  # the broken body is kept as it came
    assert raw.pages[1]["status"] == 200 and raw.pages[1]["text"].startswith('{"jsonapi"')
    assert raw.error == f"paging stopped: the response of GET {broken} is not valid JSON"
    assert payload.metadata["pages"] == 2 and payload.metadata["complete"] is False
    assert [r.row_no for r in parsed.records] == list(range(1, 11))  # the first page is read
    assert [(e.row_no, e.error_type) for e in parsed.errors] == [
        (0, "malformed_response"),
        (0, "fetch_error"),
    ]
    malformed, stopped = parsed.errors
    # the parser's own words, then where: "Unterminated string starting at: line 1 column 880"
    assert re.fullmatch(
        rf"response of GET {re.escape(broken)} is not valid JSON \(\w[^()]*\w: line 1 column \d+\)",
        malformed.message,
    ), malformed.message
    assert malformed.original["url"] == broken and malformed.original["status"] == 200
    assert stopped.message == raw.error and stopped.original["pages_kept"] == 2


def test_empty_collection_is_a_complete_fetch_with_no_records(sites: DemoSites) -> None:
    sites.faults.add("/jsonapi/", "empty")
    payload, parsed = fetch_parse(make_config(sites.base_url))
    assert sites.requests == [FIRST]
    assert RawPages.load(payload.data).error is None
    assert payload.metadata["pages"] == 1 and payload.metadata["complete"] is True
    assert parsed.records == [] and parsed.errors == [] and parsed.metadata["pages"] == 1


# --- jobs end to end --------------------------------------------------------------------------------
def test_end_to_end_into_public_then_rerun_unchanged(engine: Engine, sites: DemoSites) -> None:
    dmo = setup_dmo(engine, sites.base_url, images={"allow_private_hosts": True})  # images on 127.0.0.1
    first = run_job(dmo)
    assert first["status"] == "succeeded", first
    assert first["counts"]["records_total"] == SIZE and first["counts"]["records_error"] == 0
    assert first["counts"]["records_new"] + first["counts"]["records_duplicates"] == SIZE
    place = site_module.data(sites.site)["places"][0]
    (row,) = q(
        engine,
        """select l.name, li.external_source_id, li.category, li.description, loc.city, loc.zip, loc.lat, loc.lng,
                  st_y(loc.geog::geometry) as gy, c.local_phone, c.international_phone,
                  array(select source_url from public.listing_images i where i.listing_info_id = li.id order by rank) as images
           from public.listing_info li join public.listings l on l.id = li.listing_id
           join public.locations loc on loc.id = l.location_id left join public.contact_info c on c.id = li.contact_info_id
           where li.dmo_id = :d and li.external_source_id = '1'""",
        d=dmo,
    )
    assert row.name == place["title"] and row.city == place["address"]["locality"]
    assert (
        row.zip == place["address"]["postal_code"]
        and row.international_phone == "+1" + "".join(ch for ch in place["phone"] if ch.isdigit())[-10:]
    )
    if place["location"]:
        assert float(row.lat) == pytest.approx(place["location"]["lat"]) and row.gy == pytest.approx(
            place["location"]["lat"]
        )
    assert row.images == [f"{sites.base_url}/images/drupal/{f['name']}" for f in place["files"]]
    located = q(engine, "select count(*) from public.locations where lat is not null and lng is not null")[0][
        0
    ]
    assert located >= SIZE // 2

    again = run_job(dmo)
    assert again["status"] == "succeeded"
    assert again["counts"]["records_unchanged"] == first["counts"]["records_new"]
    assert again["counts"]["records_new"] == again["counts"]["records_updated"] == 0


def test_incremental_run_asks_for_what_changed_since_the_last_good_run(
    engine: Engine, sites: DemoSites
) -> None:
    dmo = setup_dmo(engine, sites.base_url, incremental=True)
    first = run_job(dmo)
    assert first["status"] == "succeeded" and len(sites.requests) == 3
    assert not any("filter" in r for r in sites.requests)
    (started,) = q(
        engine,
        "select floor(extract(epoch from started_at))::bigint from pipeline.jobs where id = :j",
        j=first["job_id"],
    )[0]
    site_module.touch(sites.site, 3, title="Nouveau nom du lieu")
    sites.requests.clear()
    second = run_job(dmo)
    (request,) = sites.requests
    query = parse_qs(urlsplit(request.removeprefix("GET ")).query)
    assert query["filter[changed][condition][path]"] == ["changed"]
    assert query["filter[changed][condition][operator]"] == [">="]
    assert query["filter[changed][condition][value]"] == [str(started)]
    assert second["counts"]["records_total"] == 1 and second["counts"]["records_updated"] == 1
    assert (
        q(engine, "select name from public.listing_info where external_source_id = '3'")[0][0]
        == "Nouveau nom du lieu"
    )
    (raw,) = q(
        engine,
        "select s3_path from pipeline.job_files where job_id = :j and stage = 'raw'",
        j=second["job_id"],
    )
    assert raw[0]  # the raw payload of the incremental run is stored like any other


@pytest.mark.parametrize("status", [401, 403, 404])
def test_client_errors_fail_the_job_naming_the_url(engine: Engine, sites: DemoSites, status: int) -> None:
    dmo = setup_dmo(engine, sites.base_url)
    sites.faults.add("/jsonapi/", status)
    with pytest.raises(JobFailed) as err:
        run_job(dmo)
    assert err.value.step == "extract" and len(sites.requests) == 1
    (job,) = q(engine, "select status, error_summary from pipeline.jobs")
    assert job.status == "failed" and f"HTTP {status}" in job.error_summary
    assert f"{sites.base_url}/jsonapi/node/place?" in job.error_summary


def test_jsonapi_error_documents_are_explained(engine: Engine, sites: DemoSites) -> None:
    dmo = setup_dmo(engine, sites.base_url, bundle="hotel")
    with pytest.raises(JobFailed):
        run_job(dmo)
    (summary,) = q(engine, "select error_summary from pipeline.jobs")[0]
    assert f"{sites.base_url}/jsonapi/node/hotel" in summary and "404 Not Found: No route found" in summary

    bad_include = make_config(sites.base_url, include=["field_gallery"])
    with pytest.raises(
        SourceError, match=r"400 Bad Request: `field_gallery` is not a valid relationship.*\(at include\)"
    ):
        fetch_parse(bad_include)


@pytest.mark.parametrize("since_format", ["timestamp", "iso8601"])
def test_an_incremental_run_asks_for_the_second_the_last_run_started_in(
    sites: DemoSites, since_format: str
) -> None:
    """Drupal keeps `changed` to the second: a node saved in the second the last good run started (after its
    start) must still come."""
    since = datetime(2026, 1, 1, 10, 0, 0, 400_000, tzinfo=UTC)
    places = site_module.data(sites.site)["places"]
    for place in places:
        place["changed"] = int(since.timestamp()) - 86_400  # before the last run: not asked for
    places[2]["changed"] = int(since.timestamp())  # 10:00:00.7, say
    _, parsed = fetch_parse(
        make_config(sites.base_url, incremental=True, since_format=since_format), since=since
    )
    assert [r.values["_source_id"] for r in parsed.records] == [str(places[2]["nid"])]
