"""The admin UI (Airflow plugin) against real PostgreSQL, through FastAPI's TestClient: the app is mounted at
/listings-admin as Airflow's API server mounts it, Airflow's own read check (`requires_access_view` with the
real SimpleAuthManager) runs on every request, and only the user is replaced, one per role. One test uses
real Airflow JWTs in the `_token` cookie instead.

Covered: the plugin declaration (Airflow's own loader), pages with data, search / filters / sorting /
paging, htmx partials, viewers refused (403, nothing changed), archive / restore and hide / show recorded
in pipeline.listing_edits, a refused action showing its message, the image queue with a failed image,
previews of stored bytes, and re-fetch."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PLUGINS, PREFIX
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.config.store import apply_config
from listings.pipeline.runner import run_job

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Lat", "Lng"]
# fmt: off
OLIMPICO = ["a", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"]
GERMAIN = ["b", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"]
MUSEE = ["c", "Musée des beaux-arts", "Musée", "1380 rue Sherbrooke O", "Montréal", "H3G 1J5", "514-555-0103", "45.4985", "-73.5794"]
CHATEAU = ["d", "Château Frontenac", "Hôtel", "1 rue des Carrières", "Québec", "G1R 4P5", "418-555-0104", "46.8118", "-71.2055"]
BISTRO = ["e", "Bistro du Vieux-Port", "Restaurant", "8 rue du Sault-au-Matelot", "Québec", "G1K 3Y7", "418-555-0105", "46.8160", "-71.2030"]
# fmt: on


# ------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------


def _upload(tmp_path: Path, rows: Sequence[Sequence[str]], name: str, header: Sequence[str] = HEADER) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _catalogue(engine: Engine, folder: Path) -> dict[str, int]:
    with engine.begin() as conn:
        apply_config(conn, csv_config(201, HEADER, images={"enabled": False}))
        apply_config(conn, csv_config(202, HEADER, images={"enabled": False}))
    run_job(201, file=_upload(folder, [OLIMPICO, GERMAIN, MUSEE, CHATEAU, BISTRO], "201.csv"))
    own = ["f", "Parc du Mont-Royal", "Parc", "1260 chemin Remembrance", "Montréal", "H3H 1A2", "514-555-0106",
           "45.5048", "-73.5874"]  # fmt: skip
    run_job(202, file=_upload(folder, [OLIMPICO, own], "202.csv"))
    rows = q(engine, "select li.external_source_id, li.dmo_id, li.listing_id from public.listing_info li")
    ids = {sid: lid for sid, dmo, lid in rows if dmo == 201}
    ids["f"] = next(lid for sid, dmo, lid in rows if dmo == 202 and sid == "f")
    assert next(lid for sid, dmo, lid in rows if dmo == 202 and sid == "a") == ids["a"]  # matched
    return ids


@pytest.fixture
def catalogue(scenario: Callable[..., Any]) -> dict[str, int]:
    """Two CSV DMOs: 201 sends five listings (Montréal, Québec), 202 sends Café Olimpico again (matched to
    the same listing) and a listing of its own. Returns listing ids by source id of DMO 201 (+ "f")."""
    return scenario(_catalogue)


def _listed_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-listing-id="(\d+)"', html)]


def _count(html: str, status: str) -> int:
    found = re.search(rf'data-status="{status}">([\d,]+)<', html)
    assert found, f"no count for {status}"
    return int(found.group(1).replace(",", ""))


def _edits(engine: Engine) -> list[Any]:
    return q(
        engine,
        "select listing_id, listing_info_id, action, field, edited_by from pipeline.listing_edits order by id",
    )


# ------------------------------------------------------------------------------------------------
# The plugin as Airflow sees it (no database, no running Airflow)
# ------------------------------------------------------------------------------------------------


def test_the_plugin_declares_the_app_and_its_pages_under_one_menu() -> None:
    from airflow._shared.plugins_manager.plugins_manager import _load_plugins_from_plugin_directory
    from fastapi import FastAPI

    plugins, errors = _load_plugins_from_plugin_directory(str(PLUGINS))  # Airflow's own loader
    assert errors == {}
    (plugin,) = [p for p in plugins if p.name == "listings_admin"]
    # .airflowignore keeps the package's files from being loaded again as loose modules ("app", "auth")
    assert [p.source.path for p in plugins] == ["listings_admin_plugin.py"]

    (mounted,) = plugin.fastapi_apps
    assert mounted["url_prefix"] == PREFIX
    app = mounted["app"].app  # built on first use (see below)
    assert isinstance(app, FastAPI)
    # Airflow's read check guards every route of the app (the mounted app inherits nothing from Airflow).
    guards = [d.dependency.__qualname__ for d in app.router.dependencies]
    assert guards == ["requires_access_view.<locals>.inner", "guard_writes"]
    paths = {route.path for route in app.routes}
    assert {"/listings", "/listings/{listing_id:int}", "/images"} <= paths

    views = plugin.external_views
    assert {v["category"] for v in views} == {"Listings"}
    assert [v["name"] for v in views] == [
        "Listings", "Review", "Matching", "DMOs", "Schedule", "Jobs", "Files", "Images", "Soft-deleted", "Health",
    ]  # fmt: skip
    for view in views:
        assert view["href"].startswith(PREFIX + "/") and view["href"].removeprefix(PREFIX) in paths
        assert view["destination"] == "nav" and view["url_route"]
    assert len({v["url_route"] for v in views}) == len(views)

    # Loading the plugin (as each task's process does, for macros) does not import the app.
    probe = (
        "import sys, listings_admin_plugin as p; assert p.ListingsAdminPlugin.fastapi_apps;"
        " print(sorted(m for m in ('listings_admin.main', 'airflow.api_fastapi.core_api.security', 'fastapi')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=PLUGINS, capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


ROUTE_MODULES = sorted(
    p.stem for p in (PLUGINS / "listings_admin" / "routes").glob("*.py") if p.stem != "__init__"
)


# Each route module imported first, with none of the app's modules loaded (Airflow and FastAPI stay loaded:
# importing them for each module in a fresh interpreter cost 6-11 s a module).
ROUTE_PROBE = """
import importlib, sys
from fastapi import APIRouter
for name in sys.argv[1:]:
    for loaded in [k for k in sys.modules if k.split(".")[0] == "listings_admin"]:
        del sys.modules[loaded]
    m = importlib.import_module("listings_admin.routes." + name)
    assert isinstance(m.router, APIRouter) and m.router.routes, name + ": no router"
    print(name, "main imported" if "listings_admin.main" in sys.modules else "alone")
"""


def test_each_route_module_imports_on_its_own(tmp_path: Path) -> None:
    """No route module depends on another having been imported before it (nor on the app,
    `listings_admin.main`), and each has its APIRouter with routes."""
    assert len(ROUTE_MODULES) >= 10 and "listings" in ROUTE_MODULES
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGINS), str(PLUGINS.parent / "include")])}
    out = subprocess.run(
        [sys.executable, "-c", ROUTE_PROBE, *ROUTE_MODULES],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    said = [line for line in out.stdout.splitlines() if line.split(" ", 1)[0] in ROUTE_MODULES]
    assert said == [f"{m} alone" for m in ROUTE_MODULES], out.stdout + out.stderr[-3000:]


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------


def test_pages_render_with_search_filters_sorting_and_paging(
    client_as: Callable[..., Any], catalogue: dict[str, int]
) -> None:
    client = client_as("viewer")
    assert client.get(PREFIX + "/", follow_redirects=False).headers["location"] == PREFIX + "/listings"
    page = client.get(PREFIX + "/listings")
    assert page.status_code == 200
    html = page.text
    assert "<html" in html and f'src="{PREFIX}/static/htmx.min.js"' in html
    by_name = [
        catalogue[k] for k in ("e", "a", "d", "b", "c", "f")
    ]  # Bistro, Café, Château, Hôtel, Musée, Parc
    assert _listed_ids(html) == by_name
    assert (_count(html, "active"), _count(html, "archived")) == (6, 0)
    assert "DMO 201" in html and "DMO 202" in html and "viewer · viewer · read-only" in html

    def ids(**params: Any) -> list[int]:
        response = client.get(PREFIX + "/listings", params=params)
        assert response.status_code == 200, response.text
        return _listed_ids(response.text)

    assert ids(q="olimp") == [catalogue["a"]]
    assert ids(q=str(catalogue["c"])) == [catalogue["c"]]  # a number finds the listing id
    assert ids(dmo_id=202) == [catalogue["a"], catalogue["f"]]
    assert ids(category="hotel") == [catalogue["d"], catalogue["b"]]
    assert ids(city="quebec") == [catalogue["e"], catalogue["d"]]  # city keys: accents and case folded
    assert ids(city="Montréal", q="o") == [catalogue["a"], catalogue["f"]]
    assert ids(status="archived") == []
    assert ids(sort="-name") == by_name[::-1]
    assert ids(sort="id") == sorted(by_name)
    assert ids(per_page=2, page=2) == by_name[2:4]
    assert ids(per_page=4, page=9) == by_name[4:]  # past the end: the last page
    second = client.get(PREFIX + "/listings", params={"per_page": 2, "page": 2}).text
    assert "Page 2 of 3" in second and "page=3" in second and "page=1" in second

    # htmx asks for the results only
    partial = client.get(
        PREFIX + "/listings", params={"q": "ch"}, headers={"HX-Request": "true", "HX-Target": "results"}
    )
    assert partial.status_code == 200 and partial.text.lstrip().startswith('<section id="results"')
    assert "<html" not in partial.text and _listed_ids(partial.text) == [catalogue["d"]]
    # bad parameters are a 400 page naming the parameter, not a crash
    bad = client.get(PREFIX + "/listings", params={"status": "gone"})
    assert bad.status_code == 400 and "status must be one of" in bad.text
    assert client.get(PREFIX + "/listings", params={"dmo_id": "x"}).status_code == 400

    # one listing: canonical data, both DMOs side by side, no timeline yet, no buttons for a viewer
    detail = client.get(f"{PREFIX}/listings/{catalogue['a']}")
    assert detail.status_code == 200
    assert "Café Olimpico" in detail.text and "124 rue Saint-Viateur O" in detail.text
    assert detail.text.count('data-listing-info-id="') == 2 and "+15145550101" in detail.text
    assert "No manual change yet." in detail.text and "disabled" in detail.text
    assert client.get(f"{PREFIX}/listings/999999").status_code == 404


def test_the_search_service_counts_by_status_and_pages(engine: Engine, catalogue: dict[str, int]) -> None:
    from listings.admin import queries
    from listings.catalogue import edits

    with engine.begin() as conn:
        edits.archive_listing(conn, catalogue["c"], user="test")
    with engine.connect() as conn:
        page = queries.search_listings(conn, per_page=2, page=3)
        assert page.counts_by_status == {"active": 5, "archived": 1, "invalid": 0, "merged": 0}
        assert (page.paging.total, page.paging.pages, [r["id"] for r in page.rows]) == (
            6,
            3,
            [catalogue["c"], catalogue["f"]],
        )
        archived = queries.search_listings(conn, status="archived", city="montreal")
        assert [r["id"] for r in archived.rows] == [catalogue["c"]] and archived.paging.total == 1
        # counts ignore the status filter (they are the tabs), the total does not
        assert archived.counts_by_status["active"] == 3
        with pytest.raises(queries.QueryError, match="sort must be one of"):
            queries.search_listings(conn, sort="name; drop table x")


def test_region_and_source_filters(engine: Engine, catalogue: dict[str, int], client_as: Any) -> None:
    from listings.admin import queries

    with engine.begin() as conn:  # one listing in Ontario; DMO 202 turned into an XLS source
        conn.exec_driver_sql(
            "update public.locations set state = 'ON' where id = (select location_id from public.listings"
            f" where id = {catalogue['d']})"
        )
        conn.exec_driver_sql("update public.dmos set source_type = 'xls' where id = 202")
    with engine.connect() as conn:
        assert [r["id"] for r in queries.search_listings(conn, region=" on ").rows] == [catalogue["d"]]
        assert catalogue["d"] not in [r["id"] for r in queries.search_listings(conn, region="QC").rows]
        by_source = queries.search_listings(conn, source="xls", sort="id")
        assert [r["id"] for r in by_source.rows] == sorted([catalogue["a"], catalogue["f"]])
        assert queries.search_listings(conn, source="xls", region="ON").paging.total == 0
        with pytest.raises(queries.QueryError, match="source must be one of"):
            queries.search_listings(conn, source="ftp")
    page = client_as("viewer").get(f"{PREFIX}/listings", params={"region": "ON"})
    assert page.status_code == 200 and _listed_ids(page.text) == [catalogue["d"]]
    assert '<option value="QC">' in page.text  # the DMOs' regions are suggested
    assert client_as("viewer").get(f"{PREFIX}/listings", params={"source": "ftp"}).status_code == 400


def test_the_detail_page_says_where_each_value_comes_from(
    engine: Engine, catalogue: dict[str, int], client_as: Any
) -> None:
    (info,) = q(
        engine,
        "select id, last_job_id from public.listing_info where dmo_id = 201 and external_source_id = 'b'",
    )
    answer = client_as("admin", "marie").post(
        f"{PREFIX}/listing-info/{info.id}/fields/edit",
        data={"phone": "+1 514-555-0199"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    html = client_as("viewer").get(f"{PREFIX}/listings/{catalogue['b']}").text

    def origin(field: str) -> str:
        rows = re.findall(rf'<tr data-provenance="{field}">(.*?)</tr>', html, re.S)
        return " ".join(
            re.sub(r"<[^>]+>", " ", rows[-1]).split()
        )  # the listing_info's row (after the canonical)

    assert origin("phone").startswith("Phone edited by hand: marie locked")
    assert origin("description").startswith(f"Description DMO 201 (csv), job {info.last_job_id}")
    canonical = " ".join(
        re.sub(r"<[^>]+>", " ", re.findall(r'<tr data-provenance="name">(.*?)</tr>', html, re.S)[0]).split()
    )
    assert canonical.startswith("name DMO 201 (csv), job")


def test_typed_query_parameters_empty_values_and_error_pages(engine: Engine, client_as: Any) -> None:
    """FastAPI parses the integer parameters; a bad one is one HTML 400 page naming it (not FastAPI's JSON
    422). An empty one (a GET form's empty field) is the default. A missing listing is the 404 page, with the
    user's name as on every page."""
    client = client_as("viewer", "vera")
    for path, params, message in (
        ("/listings", {"page": "0"}, "page must be 1 or more; got &#39;0&#39;"),
        ("/listings", {"page": "two"}, "page must be a whole number; got &#39;two&#39;"),
        ("/jobs", {"per_page": "-1"}, "per_page must be 1 or more"),
        ("/jobs", {"dmo_id": "x", "page": "y"}, "dmo_id must be a whole number"),
        ("/bridge", {"max_certainty": "high"}, "max_certainty must be a number; got &#39;high&#39;"),
        ("/files/1", {"offset": "-5"}, "offset must be 0 or more"),
        ("/health", {"days": "many"}, "days must be a whole number"),
    ):
        bad = client.get(PREFIX + path, params=params)
        assert bad.status_code == 400, (path, params, bad.text)
        assert bad.headers["content-type"].startswith("text/html"), bad.headers
        assert message in bad.text and 'role="alert"' in bad.text, (path, params, bad.text)
    both = client.get(PREFIX + "/jobs", params={"dmo_id": "x", "page": "y"}).text
    assert "page must be a whole number" in both  # every bad parameter is named
    for path in ("/listings", "/images", "/jobs", "/files", "/bridge", "/bridge/conflicts", "/review",
                 "/soft-deleted", "/schedule", "/health"):  # fmt: skip
        params = {"dmo_id": "", "page": "", "per_page": "", "job_id": "", "listing_id": "", "days": " "}
        assert client.get(PREFIX + path, params=params).status_code == 200, path
    missing = client.get(PREFIX + "/listings/999999")
    assert missing.status_code == 404 and "There is no listing 999999." in missing.text
    assert "vera · viewer · read-only" in missing.text


# ------------------------------------------------------------------------------------------------
# Acting
# ------------------------------------------------------------------------------------------------


def test_a_viewer_is_refused_every_change_and_nothing_changes(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, int]
) -> None:
    before = q(engine, "select id, listing_status, updated_at from public.listings order by id")
    infos_before = q(engine, "select id, info_visible, info_status from public.listing_info order by id")
    viewer = client_as("viewer")
    (info_id,) = q(
        engine, "select id from public.listing_info where dmo_id = 201 and external_source_id = 'a'"
    )[0]
    for path in (
        f"/listings/{catalogue['a']}/archive",
        f"/listings/{catalogue['a']}/restore",
        f"/listing-info/{info_id}/hide",
        "/images/1/refetch",
    ):
        response = viewer.post(PREFIX + path, data={"reason": "test"})
        assert response.status_code == 403, path
        assert "viewer has the viewer role, which may only read" in response.text
    assert q(engine, "select id, listing_status, updated_at from public.listings order by id") == before
    assert (
        q(engine, "select id, info_visible, info_status from public.listing_info order by id") == infos_before
    )
    assert _edits(engine) == []

    # a user without a role does not pass Airflow's own view check (SimpleAuthManager decides)
    assert client_as(None).get(PREFIX + "/listings").status_code == 403
    # a POST from another site is refused even for an admin
    cross = client_as("admin").post(
        f"{PREFIX}/listings/{catalogue['a']}/archive", headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403 and q(engine, "select count(*) from pipeline.listing_edits")[0][0] == 0


def test_an_admin_archives_restores_hides_and_shows_and_each_is_recorded(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, int]
) -> None:
    admin = client_as("admin", "alice")
    listing = catalogue["a"]
    archived = admin.post(f"{PREFIX}/listings/{listing}/archive", data={"reason": "closed for good"})
    assert archived.status_code == 200 and archived.url.path == f"{PREFIX}/listings/{listing}"
    assert f"Listing {listing} archived" in archived.text  # the flash, shown once after the redirect
    assert "closed for good" in archived.text and "Restore listing" in archived.text
    assert q(
        engine, "select listing_status, listing_visible from public.listings where id = :i", i=listing
    ) == [("archived", False)]
    listed = admin.get(PREFIX + "/listings", params={"status": "archived"}).text
    assert _listed_ids(listed) == [listing] and _count(listed, "archived") == 1
    again = admin.get(f"{PREFIX}/listings/{listing}")
    assert f"Listing {listing} archived" not in again.text  # the flash is gone

    restored = admin.post(f"{PREFIX}/listings/{listing}/restore")
    assert restored.status_code == 200 and f"Listing {listing} restored" in restored.text
    assert q(engine, "select listing_status from public.listings where id = :i", i=listing) == [("active",)]

    info_id = q(
        engine, "select id from public.listing_info where dmo_id = 202 and listing_id = :l", l=listing
    )[0][0]
    hidden = admin.post(f"{PREFIX}/listing-info/{info_id}/hide", data={"reason": "duplicate"})
    assert hidden.status_code == 200 and "(dmo 202) hidden" in hidden.text.lower()
    assert q(
        engine, "select info_visible, info_status from public.listing_info where id = :i", i=info_id
    ) == [(False, "removed")]
    shown = admin.post(f"{PREFIX}/listing-info/{info_id}/show")
    assert shown.status_code == 200
    assert q(engine, "select info_visible from public.listing_info where id = :i", i=info_id) == [(True,)]

    assert _edits(engine) == [
        (listing, None, "archive", "listing_status", "alice"),
        (listing, None, "restore", "listing_status", "alice"),
        (listing, info_id, "hide", "visibility", "alice"),
        (listing, info_id, "show", "visibility", "alice"),
    ]
    timeline = shown.text.split("<h2>Timeline</h2>", 1)[1]
    assert [a for a in re.findall(r"<td>(archive|restore|hide|show)</td>", timeline)] == [
        "show",
        "hide",
        "restore",
        "archive",
    ]  # fmt: skip  (newest first)
    assert timeline.count("<td>alice</td>") == 4 and "DMO 202" in timeline
    # a user (not only an admin) may act too
    user = client_as("user", "bob")
    assert user.post(f"{PREFIX}/listings/{catalogue['b']}/archive").status_code == 200
    assert _edits(engine)[-1] == (catalogue["b"], None, "archive", "listing_status", "bob")


def test_a_refused_action_shows_its_message_and_changes_nothing(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, int]
) -> None:
    admin = client_as("admin")
    listing = catalogue["d"]
    before = q(engine, "select listing_status, updated_at from public.listings where id = :i", i=listing)
    response = admin.post(f"{PREFIX}/listings/{listing}/restore")
    assert response.status_code == 400
    assert f"listing {listing} is active, not archived: nothing to restore" in response.text
    assert "Château Frontenac" in response.text  # the listing's page, with the message on top
    info_id = q(engine, "select id from public.listing_info where listing_id = :l", l=listing)[0][0]
    shown = admin.post(f"{PREFIX}/listing-info/{info_id}/show")
    assert shown.status_code == 400 and "is already shown" in shown.text
    unknown = admin.post(f"{PREFIX}/listings/{listing}/delete")
    assert unknown.status_code == 400 and "unknown listing action" in unknown.text
    missing = admin.post(f"{PREFIX}/listings/999999/archive")
    assert missing.status_code == 404 and "no listing 999999" in missing.text.lower()
    assert (
        q(engine, "select listing_status, updated_at from public.listings where id = :i", i=listing) == before
    )
    assert _edits(engine) == []


# ------------------------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------------------------


def test_the_image_page_lists_a_failed_image_previews_stored_ones_and_refetches(
    engine: Engine, client_as: Callable[..., Any], tmp_path: Path
) -> None:
    from listings_dev.demo_sites import DemoSites

    sites = DemoSites()
    sites.start()
    try:
        header = [*HEADER, "Images"]
        config = csv_config(
            301,
            header,
            images={"allow_private_hosts": True, "retries": 0, "timeout_seconds": 2, "batch_size": 10},
        )
        with engine.begin() as conn:
            apply_config(conn, config)
        good, flaky = sites.base_url + "/images/test/harbour.jpg", sites.base_url + "/images/test/flaky.jpg"
        sites.faults.add("/images/test/flaky.jpg", 503)  # the first fetch fails, the next one works
        result = run_job(301, file=_upload(tmp_path, [[*OLIMPICO, f"{good}|{flaky}"]], "301.csv", header))
        (failed_id,) = q(engine, "select id from pipeline.images where url = :u", u=flaky)[0]
        (good_id,) = q(engine, "select id from pipeline.images where url = :u", u=good)[0]

        viewer = client_as("viewer")
        page = viewer.get(PREFIX + "/images")
        assert page.status_code == 200
        assert f'data-image-id="{failed_id}"' in page.text and "http_error" in page.text
        assert _count(page.text, "failed") == 1 and _count(page.text, "downloaded") == 1
        assert 'data-reason="http_error"' in page.text
        only_failed = viewer.get(PREFIX + "/images", params={"status": "failed"}).text
        assert re.findall(r'data-image-id="(\d+)"', only_failed) == [str(failed_id)]
        in_job = viewer.get(PREFIX + "/images", params={"job_id": result["job_id"]})
        assert f"Outcomes of job <b>{result['job_id']}</b>" in in_job.text and "503" in in_job.text
        assert viewer.get(PREFIX + "/images", params={"job_id": 999999}).status_code == 400

        # previews: the stored bytes, read through the app from the object store
        thumb = viewer.get(f"{PREFIX}/images/{good_id}/object", params={"rendition": "thumb.webp"})
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
        assert thumb.content[:4] == b"RIFF"
        original = viewer.get(f"{PREFIX}/images/{good_id}/object")
        assert original.status_code == 200 and original.headers["content-type"].startswith("image/")
        assert viewer.get(f"{PREFIX}/images/{failed_id}/object").status_code == 404  # nothing stored
        listing_id = q(engine, "select listing_id from public.listing_info where dmo_id = 301")[0][0]
        detail = viewer.get(f"{PREFIX}/listings/{listing_id}").text
        (shown_id,) = re.findall(rf'src="{PREFIX}/listing-images/(\d+)/object\?rendition=thumb.webp"', detail)
        shown = viewer.get(f"{PREFIX}/listing-images/{shown_id}/object", params={"rendition": "thumb.webp"})
        assert shown.status_code == 200 and shown.content == thumb.content

        # re-fetch: refused for a viewer, done for an admin (recorded as a fetch outside any job)
        assert viewer.post(f"{PREFIX}/images/{failed_id}/refetch").status_code == 403
        assert q(engine, "select status from pipeline.images where id = :i", i=failed_id) == [("failed",)]
        here = f"{PREFIX}/images?status=failed"
        done = client_as("admin").post(f"{PREFIX}/images/{failed_id}/refetch", data={"next": here})
        assert done.status_code == 200 and done.url.path == f"{PREFIX}/images"
        assert f"Image {failed_id} fetched again: downloaded." in done.text
        assert q(engine, "select status from pipeline.images where id = :i", i=failed_id) == [("downloaded",)]
        assert q(engine, "select job_id, status from pipeline.image_fetches where image_id = :i order by id",
                 i=failed_id) == [(result["job_id"], "failed"), (None, "downloaded")]  # fmt: skip
        # an outside `next` is not followed (no open redirect)
        other = client_as("admin").post(
            f"{PREFIX}/images/{good_id}/refetch",
            data={"next": "https://evil.example/"},
            follow_redirects=False,
        )
        assert other.status_code == 303 and other.headers["location"] == f"{PREFIX}/images"
        assert client_as("admin").post(f"{PREFIX}/images/999999/refetch").status_code == 404
    finally:
        sites.stop()


def test_stored_image_urls_map_to_store_paths_and_nothing_outside(tmp_path: Path) -> None:
    from listings.admin.objects import content_type, object_path
    from listings.storage import FileStore

    store = FileStore(tmp_path / "objects")
    key = "dev-trippl-images/ca/qc/301/7/harbour-0123456789ab-thumb.webp"
    assert object_path(store.uri(key), store) == key
    assert object_path("file:///elsewhere/home/objects/" + key, store) == key  # another data folder
    assert object_path("s3://" + key, store) == key
    assert content_type(key) == "image/webp"
    for bad in (
        "file:///etc/passwd",
        store.uri("dev-trippl-images/x") + "/../../../../etc/passwd",
        "s3://dev-trippl-images/../secrets",
        "https://example.com/a.jpg",
    ):
        with pytest.raises(ValueError):
            object_path(bad, store)


# ------------------------------------------------------------------------------------------------
# Real Airflow tokens (no dependency override)
# ------------------------------------------------------------------------------------------------


def test_airflow_tokens_decide_who_reads_and_who_acts(
    admin_app: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.models.revoked_token import RevokedToken
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "admin-app-test-secret-" + "x" * 64)
    # The revocation list lives in Airflow's metadata database, which these tests do not create.
    monkeypatch.setattr(RevokedToken, "is_revoked", classmethod(lambda cls, jti, session=None: False))
    admin_app.dependency_overrides.clear()
    root = FastAPI()
    root.mount(PREFIX, admin_app)
    client = TestClient(root)

    def token(name: str, role: str) -> str:
        return str(get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=name, role=role)))

    assert client.get(PREFIX + "/listings").status_code == 401  # no token
    assert client.get(PREFIX + "/listings", cookies={"_token": "not-a-jwt"}).status_code in (401, 403)
    viewer = {"_token": token("vera", "viewer")}
    page = client.get(PREFIX + "/listings", cookies=viewer)
    assert page.status_code == 200 and "vera · viewer · read-only" in page.text
    same_origin = {"Origin": "http://testserver"}  # what the browser adds to a POST from our own page
    refused = client.post(PREFIX + "/listings/1/archive", cookies=viewer, headers=same_origin)
    assert refused.status_code == 403 and "vera has the viewer role" in refused.text
    # the same cookie on a POST from another origin: refused before the role is even looked at
    forged = client.post(
        PREFIX + "/listings/1/archive", cookies=viewer, headers={"Origin": "http://evil.example"}
    )
    assert forged.status_code == 403 and "came from another origin" in forged.text
    # an op's token passes both checks and reaches the action (there is no listing 1 here)
    bearer = {"Authorization": f"Bearer {token('olga', 'op')}"}
    reached = client.post(PREFIX + "/listings/1/archive", headers=bearer)
    assert reached.status_code == 404 and "no listing 1" in reached.text
