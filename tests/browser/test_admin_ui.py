"""The admin UI in headless Chromium, logged in through Airflow: the Listings menu, every page, and the main
journeys of a content admin (see conftest.py for the stack these run against)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Stack

pytestmark = pytest.mark.browser


def test_login_shows_the_listings_menu_and_every_page(
    as_admin: Any, stack: Stack, shot: Callable[..., Path]
) -> None:
    from listings_admin_plugin import PAGES

    page = as_admin
    page.goto(f"{stack.url}/")
    # Airflow 3 shows a plugin's own category as a submenu of its Plugins menu: Plugins > Listings > pages
    page.get_by_role("button", name="Plugins").click()
    page.get_by_role("menuitem", name="Listings").click()
    items = page.get_by_role("menuitem")
    items.filter(has_text="Health").wait_for()
    shown = [t.strip() for t in items.all_inner_texts()]
    assert shown[-len(PAGES) :] == [name for name, _, _ in PAGES]
    shot(page, "airflow-menu")
    items.filter(has_text="Review").click()  # opens the page inside the Airflow UI
    page.wait_for_url(re.compile(r"/plugin/listing-review"))
    for name, _path, route in PAGES:
        page.goto(f"{stack.url}/plugin/{route}")
        frame = page.frame_locator("iframe")
        frame.locator("main h1").first.wait_for()
        assert frame.locator("header nav a[aria-current=page]").inner_text() == name
        shot(page, f"page-{route}")


def _listing_id(stack: Stack, dmo_id: int, source_id: str) -> int:
    (row,) = stack.q(
        "select listing_id from public.listing_info where dmo_id = :d and external_source_id = :s",
        d=dmo_id,
        s=source_id,
    )
    return int(row.listing_id)


def test_a_manual_edit_is_locked_and_survives_a_reimport(
    as_admin: Any, stack: Stack, shot: Callable[..., Path], tmp_path: Path
) -> None:
    from browser_helpers import DMO_101, write_csv

    from listings.pipeline.runner import run_job

    page = as_admin
    page.goto(f"{stack.admin}/listings?q=Germain")
    page.get_by_role("link", name="Hôtel Le Germain").first.click()
    page.wait_for_url(re.compile(r"/listings/\d+$"))
    page.get_by_text("Edit for DMO 101").click()
    form = page.locator("form[data-edit-info]")
    form.get_by_label("Phone").fill("not a phone")
    form.get_by_role("button", name="Save for DMO 101").click()
    error = page.locator("[data-error-for=phone]")
    error.wait_for()
    shot(page, "edit-rejected")
    form = page.locator("form[data-edit-info]")
    form.get_by_label("Phone").fill("+1 514-555-0199")
    form.get_by_role("button", name="Save for DMO 101").click()
    page.locator(".flash-success").wait_for()
    shot(page, "edit-saved")
    (saved,) = stack.q(
        "select ci.international_phone as phone, li.locked_fields from public.listing_info li"
        " join public.contact_info ci on ci.id = li.contact_info_id where li.dmo_id = 101 and li.external_source_id = 'G'"
    )
    assert "phone" in saved.locked_fields

    run_job(101, file=write_csv(tmp_path / "again.csv", DMO_101))  # the source still says 514-555-0102
    page.reload()
    page.get_by_text("Edit for DMO 101").click()
    phone = page.locator("form[data-edit-info]").get_by_label(re.compile("Phone"))
    assert phone.input_value() == saved.phone
    assert page.locator("form[data-edit-info] .lock").first.is_visible()
    shot(page, "edit-after-reimport")
    (after,) = stack.q(
        "select ci.international_phone as phone from public.listing_info li"
        " join public.contact_info ci on ci.id = li.contact_info_id where li.dmo_id = 101 and li.external_source_id = 'G'"
    )
    assert after.phone == saved.phone


def test_hide_for_one_dmo_then_restore_from_soft_deleted(
    as_admin: Any, stack: Stack, shot: Callable[..., Path]
) -> None:
    page = as_admin
    listing_id = _listing_id(stack, 101, "T1")
    page.goto(f"{stack.admin}/listings/{listing_id}")
    page.get_by_role("button", name="Hide for DMO 101").click()
    page.locator(".flash-success").wait_for()
    shot(page, "hidden")
    (info,) = stack.q(
        "select id, info_visible from public.listing_info where dmo_id = 101 and external_source_id = 'T1'"
    )
    assert info.info_visible is False

    page.goto(f"{stack.admin}/soft-deleted?kind=info&dmo_id=101")
    row = page.locator("tr", has_text="Tim Hortons")
    shot(page, "soft-deleted")
    row.get_by_role("button", name=re.compile("Show|Restore")).click()
    page.locator(".flash-success").wait_for()
    (info,) = stack.q("select info_visible from public.listing_info where id = :i", i=info.id)
    assert info.info_visible is True
    page.goto(f"{stack.admin}/listings/{listing_id}")
    assert page.get_by_role("button", name="Hide for DMO 101").is_visible()
    shot(page, "restored")


def test_a_viewer_reads_but_cannot_change_anything(
    as_viewer: Any, stack: Stack, shot: Callable[..., Path]
) -> None:
    page = as_viewer
    listing_id = _listing_id(stack, 101, "A")
    page.goto(f"{stack.admin}/listings/{listing_id}")
    assert page.get_by_text("read-only").first.is_visible()
    assert page.get_by_role("button", name="Archive (hide for every DMO)").is_disabled()
    shot(page, "viewer-listing")
    before = stack.q("select listing_status, updated_at from public.listings where id = :l", l=listing_id)
    # the same POST the button would send, with the viewer's cookie: refused by the app, nothing changes
    answer = page.request.post(f"{stack.admin}/listings/{listing_id}/archive", form={"reason": "x"})
    assert answer.status == 403
    assert (
        stack.q("select listing_status, updated_at from public.listings where id = :l", l=listing_id)
        == before
    )


NEW_DMO_ROWS = [
    ["n1", "Boulangerie Première Moisson", "Boulangerie", "860 avenue du Mont-Royal E", "Montréal", "H2J 1X1",
     "514-555-0301", "", "45.5262", "-73.5802"],
    ["n2", "Jardin botanique de Montréal", "Jardin", "4101 rue Sherbrooke E", "Montréal", "H1X 2B2",
     "514-555-0302", "", "45.5600", "-73.5630"],
]  # fmt: skip
NEW_DMO_HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Website", "Lat", "Lng"]


def test_create_a_csv_dmo_upload_a_file_run_it_and_watch_it_finish(
    as_admin: Any, stack: Stack, shot: Callable[..., Path], tmp_path: Path
) -> None:
    from browser_helpers import write_csv

    page = as_admin
    page.goto(f"{stack.admin}/dmos/new?mode=form")
    page.locator("#f-dmo-id").fill("130")
    page.locator("#f-dmo-name").fill("Browser test DMO")
    page.locator("#f-dmo-id").fill("0")  # a bad value first: its message, nothing saved
    page.get_by_role("button", name="Create").click()
    page.locator(".field-error").first.wait_for()
    shot(page, "form-rejected")
    assert not stack.q("select 1 from pipeline.configs where dmo_id = 130")
    page.locator("#f-dmo-id").fill("130")
    mappings = [page.locator("input[name='field_mappings.source']").nth(i).input_value() for i in range(10)]
    assert mappings == NEW_DMO_HEADER  # the form's CSV template: the columns of the file below
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/dmos/130"))
    page.locator(".flash-success").wait_for()
    shot(page, "dmo-created")

    stack.airflow.wait_for_dags(["dmo_130_listings"])  # the DAG factory makes its DAG on the next parse
    upload = write_csv(tmp_path / "browser-upload.csv", NEW_DMO_ROWS, header=NEW_DMO_HEADER)
    page.locator(".upload-form input[type=file]").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and run now with this file").click()
    page.locator(".flash-success").wait_for()
    shot(page, "uploaded-and-triggered")

    page.goto(f"{stack.admin}/jobs?dmo_id=130")
    status = page.locator("tr[data-job-id] [data-status]").first
    for _ in range(90):  # the scheduler runs the DAG's tasks (LocalExecutor); the page shows the job's status
        if status.count() and status.inner_text().strip() in ("succeeded", "partial", "failed", "stale"):
            break
        page.wait_for_timeout(2000)
        page.reload()
    shot(page, "job-finished")
    assert status.inner_text().strip() == "succeeded"
    rows = stack.q("select name from public.listing_info where dmo_id = 130 order by name")
    assert [r.name for r in rows] == ["Boulangerie Première Moisson", "Jardin botanique de Montréal"]
    job_id = int(page.locator("tr[data-job-id]").first.get_attribute("data-job-id"))
    page.locator("tr[data-job-id] a").first.click()
    page.wait_for_url(re.compile(rf"/jobs/{job_id}$"))
    shot(page, "job-detail")
    # the job's transformed file, its records previewed with their hash and listing
    page.goto(f"{stack.admin}/files?job_id={job_id}&stage=transformed")
    page.locator("#results a[href*='/files/']").first.click()
    page.get_by_text("Boulangerie Première Moisson").first.wait_for()
    shot(page, "transformed-file")


def test_resolve_a_review_item_by_merging(as_admin: Any, stack: Stack, shot: Callable[..., Path]) -> None:
    page = as_admin
    (item,) = stack.q(
        "select id from pipeline.review_items where status = 'open' and item_type = 'low_confidence_match'"
    )
    # DMO 102's bare "Olimpico", waiting hidden on a listing of its own
    (own,) = stack.q(
        "select id, listing_id from public.listing_info where dmo_id = 102 and external_source_id = 'x4'"
    )
    target = _listing_id(stack, 101, "A")  # Café Olimpico
    page.goto(f"{stack.admin}/review")
    shot(page, "review-queue")
    page.locator(f"a[href$='/review/{item.id}'], a[href*='/review/{item.id}?']").first.click()
    page.wait_for_url(re.compile(rf"/review/{item.id}"))
    shot(page, "review-item")
    form = page.locator(f"form[data-merge-from='{own.listing_id}']")
    form.locator("select").select_option(str(target))
    form.get_by_role("button", name="Merge").click()
    page.locator(".flash-success").wait_for()
    shot(page, "review-merged")

    (merged,) = stack.q(
        "select listing_status, merged_into_id from public.listings where id = :l", l=own.listing_id
    )
    assert (merged.listing_status, merged.merged_into_id) == ("merged", target)
    (info,) = stack.q("select listing_id from public.listing_info where id = :i", i=own.id)
    assert info.listing_id == target
    (decided,) = stack.q("select status, resolved_by from pipeline.review_items where id = :i", i=item.id)
    assert (decided.status, decided.resolved_by) == ("resolved", "admin")
