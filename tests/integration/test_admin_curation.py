"""The admin UI's curation pages against real PostgreSQL, through FastAPI's TestClient with the app mounted as
Airflow mounts it (Airflow's read check runs; only the user is replaced, one per role; see
test_admin_app.py): the soft-deleted page with restore, manual edits from the listing page (locks that
survive a re-import, a bad value shown by its field and nothing saved, unlock), and the review queue of
manual-edit conflicts (accept / keep, one or several at once)."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PREFIX
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.config.store import apply_config
from listings.pipeline.runner import run_job

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Description", "Lat", "Lng"]
# fmt: off
OLIMPICO = ["a", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "Espresso.", "45.5235", "-73.6004"]
GERMAIN = ["b", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "Hotel.", "45.5020", "-73.5750"]
CHATEAU = ["d", "Château Frontenac", "Hôtel", "1 rue des Carrières", "Québec", "G1R 4P5", "418-555-0104", "", "46.8118", "-71.2055"]
# fmt: on


def _upload(tmp_path: Path, rows: Sequence[Sequence[str]], name: str = "201.csv") -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _catalogue(engine: Engine, folder: Path) -> dict[str, Any]:
    with engine.begin() as conn:
        apply_config(conn, csv_config(201, HEADER, images={"enabled": False}))
        apply_config(conn, csv_config(202, HEADER, images={"enabled": False}))
    file = _upload(folder, [OLIMPICO, GERMAIN, CHATEAU])
    run_job(201, file=file)
    run_job(202, file=_upload(folder, [OLIMPICO], "202.csv"))
    rows = q(engine, "select external_source_id, listing_id, id from public.listing_info where dmo_id = 201")
    out: dict[str, Any] = {sid: lid for sid, lid, _ in rows}
    out |= {f"info_{sid}": iid for sid, _, iid in rows}
    out["info_a_202"] = q(engine, "select id from public.listing_info where dmo_id = 202")[0][0]
    out["file"] = file
    return out


@pytest.fixture
def catalogue(scenario: Callable[..., Any]) -> dict[str, Any]:
    """DMO 201 sends three listings, DMO 202 sends Café Olimpico again. Returns listing and listing_info
    ids by source id (of DMO 201), and the path of DMO 201's file."""
    return scenario(_catalogue)


class _Forms(HTMLParser):
    """The fields a browser would send for each form with a `data-edit-*` attribute (by that value)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._form: dict[str, str] | None = None
        self._text: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            key = next((f"{k}={v}" for k, v in a.items() if k.startswith("data-edit-")), None)
            self._form = self.forms.setdefault(key, {}) if key else None
        elif self._form is not None and tag == "input" and a.get("name"):
            self._form[str(a["name"])] = a.get("value") or ""
        elif self._form is not None and tag == "textarea":
            self._text = str(a["name"])
            self._form[self._text] = ""
        elif self._form is not None and tag == "select":
            self._select = str(a["name"])
            self._form.setdefault(self._select, "")
        elif self._form is not None and tag == "option" and self._select and "selected" in a:
            self._form[self._select] = a.get("value") or ""

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._text:
            self._form[self._text] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._text = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self._form = None


def _forms(html: str) -> dict[str, dict[str, str]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def _edits(engine: Engine) -> list[Any]:
    return q(
        engine, "select listing_info_id, action, field, edited_by from pipeline.listing_edits order by id"
    )


def _info(engine: Engine, info_id: int) -> Any:
    return q(
        engine,
        "select li.description, li.name, li.locked_fields, ci.international_phone, ci.email, li.manually_modified_by"
        " from public.listing_info li left join public.contact_info ci on ci.id = li.contact_info_id"
        " where li.id = :i",
        i=info_id,
    )[0]


# ------------------------------------------------------------------------------------------------


def test_pages_render_and_a_viewer_may_not_change_anything(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, Any]
) -> None:
    from listings.catalogue import edits

    with engine.begin() as conn:
        edits.archive_listing(conn, catalogue["b"], user="alice", reason="closed for good")
        edits.hide_listing_info(conn, catalogue["info_a_202"], user="alice", reason="duplicate")
        edits.edit_listing_info(conn, catalogue["info_a"], {"description": "Best espresso."}, user="alice")
    viewer = client_as("viewer")
    infos = viewer.get(PREFIX + "/soft-deleted")
    assert infos.status_code == 200 and 'aria-current="page">Soft-deleted</a>' in infos.text
    assert re.findall(r'data-listing-info-id="(\d+)"', infos.text) == [str(catalogue["info_a_202"])]
    assert "duplicate" in infos.text and "DMO 202" in infos.text and "disabled" in infos.text
    assert '<span data-kind="listings">1</span>' in infos.text
    archived = viewer.get(PREFIX + "/soft-deleted", params={"kind": "listings"})
    assert re.findall(r'data-listing-id="(\d+)"', archived.text) == [str(catalogue["b"])]
    assert "closed for good" in archived.text and "Restore listing" in archived.text
    assert (
        viewer.get(PREFIX + "/soft-deleted", params={"dmo_id": 201}).text.count("data-listing-info-id") == 0
    )
    assert viewer.get(PREFIX + "/soft-deleted", params={"kind": "gone"}).status_code == 400
    review = viewer.get(PREFIX + "/review")
    assert review.status_code == 200 and "Nothing to review." in review.text
    assert (
        viewer.get(PREFIX + "/review", params={"type": "low_confidence_match", "status": "all"}).status_code
        == 200
    )
    assert viewer.get(PREFIX + "/review", params={"status": "x"}).status_code == 400
    detail = viewer.get(f"{PREFIX}/listings/{catalogue['a']}").text
    forms = _forms(detail)
    assert forms[f"data-edit-info={catalogue['info_a']}"]["description"] == "Best espresso."
    assert forms[f"data-edit-listing={catalogue['a']}"]["name"] == "Café Olimpico"
    assert "Unlock description" in detail and 'class="lock"' in detail

    before = (
        q(engine, "select * from public.listing_info order by id"),
        q(engine, "select * from public.listings order by id"),
    )
    edits_before = _edits(engine)
    for path, data in (
        (f"/soft-deleted/listing-info/{catalogue['info_a_202']}/show", {}),
        (f"/soft-deleted/listings/{catalogue['b']}/restore", {}),
        (f"/listing-info/{catalogue['info_a']}/fields/edit", {"description": "Nope."}),
        (f"/listing-info/{catalogue['info_a']}/fields/unlock", {"field": "description"}),
        (f"/listings/{catalogue['a']}/fields/edit", {"name": "Nope"}),
        (f"/listings/{catalogue['a']}/fields/unlock", {"field": "name"}),
        ("/review/decide", {"decide": "accept:1"}),
    ):
        response = viewer.post(PREFIX + path, data=data)
        assert response.status_code == 403, path
        assert "viewer has the viewer role, which may only read" in response.text
    after = (
        q(engine, "select * from public.listing_info order by id"),
        q(engine, "select * from public.listings order by id"),
    )
    assert after == before and _edits(engine) == edits_before


def test_an_edit_locks_what_changed_survives_a_re_import_and_a_bad_value_saves_nothing(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, Any]
) -> None:
    admin = client_as("admin", "alice")
    info_id, listing_id = catalogue["info_a"], catalogue["a"]
    page = admin.get(f"{PREFIX}/listings/{listing_id}").text
    form = _forms(page)[f"data-edit-info={info_id}"]
    assert set(form) >= {
        "name",
        "description",
        "category",
        "opening_hours",
        "email",
        "phone",
        "website",
        "yelp",
    }
    assert form["phone"] == "+15145550101" and form["category"] == "cafe"
    saved = admin.post(
        f"{PREFIX}/listing-info/{info_id}/fields/edit",
        data=form | {"description": "Best espresso\r\nin town.", "phone": "(514) 555-0199"},
    )
    assert saved.status_code == 200 and saved.url.path == f"{PREFIX}/listings/{listing_id}"
    assert f"listing_info {info_id}: saved description, phone (locked against imports)." in saved.text
    edited = _info(engine, info_id)
    assert (edited.description, edited.international_phone) == ("Best espresso\nin town.", "+15145550199")
    assert edited.locked_fields == ["description", "phone"] and edited.manually_modified_by == "alice"
    # the canonical listing: a new name and coordinates (location is locked as one value)
    lform = _forms(saved.text)[f"data-edit-listing={listing_id}"]
    done = admin.post(
        f"{PREFIX}/listings/{listing_id}/fields/edit", data=lform | {"name": "Olimpico", "lat": "45.5236"}
    )
    assert done.status_code == 200 and "saved name, location" in done.text
    assert q(engine, "select locked_fields, name from public.listings where id = :i", i=listing_id) == [
        (["location", "name"], "Olimpico")
    ]
    # saving the form again unchanged changes and locks nothing more
    same = admin.post(
        f"{PREFIX}/listing-info/{info_id}/fields/edit", data=_forms(done.text)[f"data-edit-info={info_id}"]
    )
    assert "nothing changed" in same.text and _info(engine, info_id).locked_fields == ["description", "phone"]

    # a re-import of the same file keeps every locked value and queues nothing
    assert run_job(201, file=catalogue["file"])["counts"]["records_unchanged"] == 3
    kept = _info(engine, info_id)
    assert (kept.description, kept.international_phone) == ("Best espresso\nin town.", "+15145550199")
    assert q(engine, "select name from public.listings where id = :i", i=listing_id) == [("Olimpico",)]
    assert q(engine, "select count(*) from pipeline.review_items")[0][0] == 0

    # a bad value: the form comes back with the message by its field, and nothing is saved
    before, trail = _info(engine, info_id), _edits(engine)
    bad = admin.post(
        f"{PREFIX}/listing-info/{info_id}/fields/edit",
        data=form | {"description": "Changed too.", "email": "not-an-email", "name": ""},
    )
    assert bad.status_code == 400 and "Nothing was saved" in bad.text
    assert "data-error-for=\"email\">email: 'not-an-email' is not an e-mail address<" in html.unescape(
        bad.text
    )
    assert 'data-error-for="name">name: must not be empty<' in bad.text
    assert _forms(bad.text)[f"data-edit-info={info_id}"]["email"] == "not-an-email"  # what was sent, to fix
    bad_listing = admin.post(f"{PREFIX}/listings/{listing_id}/fields/edit", data=lform | {"lat": "95"})
    assert (
        bad_listing.status_code == 400
        and 'data-error-for="lat">location.lat: 95.0 is outside' in bad_listing.text
    )
    assert _info(engine, info_id) == before and _edits(engine) == trail

    # unlock: the field is the source's again at the next import
    unlocked = admin.post(f"{PREFIX}/listing-info/{info_id}/fields/unlock", data={"field": "description"})
    assert unlocked.status_code == 200 and "description unlocked" in unlocked.text
    again = admin.post(f"{PREFIX}/listing-info/{info_id}/fields/unlock", data={"field": "description"})
    assert "description is not locked" in again.text
    run_job(
        201,
        file=_upload(
            catalogue["file"].parent,
            [[*OLIMPICO[:7], "New espresso.", *OLIMPICO[8:]], GERMAIN, CHATEAU],
            "b.csv",
        ),
    )
    assert _info(engine, info_id).description == "New espresso."
    assert [e[1:] for e in _edits(engine)] == [
        ("edit", "description", "alice"), ("edit", "phone", "alice"), ("edit", "name", "alice"),
        ("edit", "location", "alice"), ("unlock", "description", "alice"),
    ]  # fmt: skip


def test_conflicts_are_shown_side_by_side_and_accepted_or_kept(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, Any], tmp_path: Path
) -> None:
    from listings.catalogue import edits

    with engine.begin() as conn:
        edits.edit_listing_info(
            conn, catalogue["info_a"], {"description": "Espresso bar.", "phone": "514-555-0199"}, user="alice"
        )
        edits.edit_listing_info(conn, catalogue["info_b"], {"description": "A hotel."}, user="alice")
    changed = [[*OLIMPICO[:6], "514-555-0111", "Espresso and pastries.", *OLIMPICO[8:]],
               [*GERMAIN[:7], "A fine hotel.", *GERMAIN[8:]], CHATEAU]  # fmt: skip
    run_job(201, file=_upload(tmp_path, changed, "changed.csv"))
    items = {
        (r.listing_info_id, r.payload["field"]): r.id
        for r in q(engine, "select * from pipeline.review_items")
    }
    assert set(items) == {
        (catalogue["info_a"], "description"),
        (catalogue["info_a"], "phone"),
        (catalogue["info_b"], "description"),
    }

    admin = client_as("user", "bob")
    page = admin.get(PREFIX + "/review")
    assert page.status_code == 200 and page.text.count('name="item_id"') == 3
    row = page.text.split(f'data-review-item-id="{items[(catalogue["info_a"], "description")]}"', 1)[1].split(
        "</tr>"
    )[0]
    assert (
        "Espresso <mark>bar</mark>." in row and "Espresso <mark>and pastries</mark>." in row
    )  # the difference highlighted
    assert '<span data-type="manual_edit_conflict">3</span>' in page.text

    one = admin.post(
        PREFIX + "/review/decide", data={"decide": f"accept:{items[(catalogue['info_a'], 'description')]}"}
    )
    assert one.status_code == 200 and "1 conflict(s) decided (accepted the source's value)" in html.unescape(
        one.text
    )
    bulk = admin.post(
        PREFIX + "/review/decide",
        data={
            "decide": "keep",
            "item_id": [items[(catalogue["info_a"], "phone")], items[(catalogue["info_b"], "description")]],
        },
    )
    assert bulk.status_code == 200 and "2 conflict(s) decided (kept the manual value)" in bulk.text
    assert "Nothing to review." in bulk.text
    a, b = _info(engine, catalogue["info_a"]), _info(engine, catalogue["info_b"])
    assert (a.description, a.international_phone, a.locked_fields) == (
        "Espresso and pastries.",
        "+15145550199",
        ["phone"],
    )
    assert (b.description, b.locked_fields) == ("A hotel.", ["description"])
    assert sorted(q(engine, "select resolution, resolved_by from pipeline.review_items")) == [
        ("accept_source", "bob"), ("keep_manual", "bob"), ("keep_manual", "bob")
    ]  # fmt: skip
    decided = admin.get(PREFIX + "/review", params={"status": "all"}).text
    assert decided.count("keep manual by bob") == 2 and decided.count("accept source by bob") == 1
    again = admin.post(
        PREFIX + "/review/decide", data={"decide": f"keep:{items[(catalogue['info_a'], 'phone')]}"}
    )
    assert "is already dismissed" in again.text
    assert "Select at least one" in admin.post(PREFIX + "/review/decide", data={"decide": "keep"}).text


def test_restore_from_the_soft_deleted_page(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, Any]
) -> None:
    from listings.admin import curation
    from listings.catalogue import edits

    with engine.begin() as conn:
        edits.archive_listing(conn, catalogue["b"], user="alice")
        edits.archive_listing(conn, catalogue["d"], user="alice")
        edits.hide_listing_info(conn, catalogue["info_a_202"], user="alice")
    with engine.connect() as conn:
        page = curation.soft_deleted(conn, kind="listings", per_page=1, page=2)
        assert (page.paging.total, page.paging.pages, len(page.rows), page.counts["info"]) == (2, 2, 1, 1)
        assert curation.soft_deleted(conn, kind="listings", dmo_id=202).counts == {"info": 1, "listings": 0}

    op = client_as("op", "olga")
    here = f"{PREFIX}/soft-deleted?kind=listings"
    restored = op.post(f"{PREFIX}/soft-deleted/listings/{catalogue['b']}/restore", data={"next": here})
    assert restored.status_code == 200 and restored.url.path == f"{PREFIX}/soft-deleted"
    assert f"Listing {catalogue['b']} restored." in restored.text
    assert re.findall(r'data-listing-id="(\d+)"', restored.text) == [str(catalogue["d"])]
    shown = op.post(f"{PREFIX}/soft-deleted/listing-info/{catalogue['info_a_202']}/show")
    assert shown.status_code == 200 and "(dmo 202) shown" in shown.text.lower()
    assert "Nothing removed or hidden." in shown.text
    refused = op.post(f"{PREFIX}/soft-deleted/listings/{catalogue['b']}/restore")
    assert "is active, not archived" in refused.text
    assert q(engine, "select listing_status from public.listings where id = :i", i=catalogue["b"]) == [
        ("active",)
    ]
    assert q(
        engine, "select info_visible from public.listing_info where id = :i", i=catalogue["info_a_202"]
    ) == [(True,)]
    assert _edits(engine)[-2:] == [
        (None, "restore", "listing_status", "olga"),
        (catalogue["info_a_202"], "show", "visibility", "olga"),
    ]


def test_a_conflict_diff_marks_words_and_location_parts_that_differ() -> None:
    from listings.admin.curation import value_diff

    text = value_diff("Open 9-5, Mon-Fri", "Open 9-6, Mon-Sat")
    assert [p for changed, p in text["source"] if changed] == ["6", "Sat"]
    assert value_diff(None, "x") == {
        "kind": "text", "manual": [], "source": [(True, "x")], "manual_empty": True, "source_empty": False
    }  # fmt: skip
    location = value_diff({"address1": "126 rue X", "lat": 45.5}, {"address1": "130 rue X", "lat": 45.5})
    assert location["rows"] == [("address1", "126 rue X", "130 rue X", True), ("lat", "45.5", "45.5", False)]
