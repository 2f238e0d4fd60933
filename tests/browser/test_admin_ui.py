"""The admin UI in headless Chromium, logged in through Airflow: the Listings menu, every page, and the main
journeys of a content admin (see conftest.py for the stack these run against)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Stack

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
        assert frame.locator("nav a[aria-current=page]").inner_text() == name
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
    from conftest import DMO_101, write_csv

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
        "select international_phone as phone, locked_fields from public.listing_info where dmo_id = 101 and external_source_id = 'G'"
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
        "select international_phone as phone from public.listing_info where dmo_id = 101 and external_source_id = 'G'"
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
