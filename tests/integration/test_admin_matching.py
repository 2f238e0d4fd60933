"""The admin UI's matching pages and the review queue's match items against real PostgreSQL and real pipeline
runs, through FastAPI's TestClient with the app mounted as Airflow mounts it (Airflow's read check runs; only
the user is replaced): two DMOs whose records half-match, so that the match step queues review items; the
bridge viewer and its filters; deciding items (accept, choose, new, dismiss, in bulk) and what that does to
the public tables, the bridge and the item; merge then unmerge; force-match, after which re-imports resolve
to the target listing; claim conflicts; a viewer's POSTs refused with nothing changed; bad ids refused with
a message (400) and nothing changed."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PREFIX
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.config.store import apply_config
from listings.pipeline.runner import run_job

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Latitude", "Longitude"]
# fmt: off
OLIMPICO = ["A", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"]
TIM_1 = ["T1", "Tim Hortons", "Café", "1 rue Sainte-Catherine O", "Montréal", "H3B 1A1", "514-555-0120", "45.5000", "-73.5700"]
TIM_2 = ["T2", "Tim Hortons", "Café", "900 boulevard René-Lévesque O", "Montréal", "H3B 4A5", "514-555-0121", "45.5001", "-73.5670"]
GERMAIN = ["G", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"]
# DMO 302: a bare name (low confidence), a chain between two branches (two close candidates), another bare
# name, and a place of its own (a new listing).
VAGUE = ["x4", "Olimpico", "Café", "rue Saint-Viateur", "MONTREAL", "", "", "", ""]
TIM_VAGUE = ["x7", "Tim Hortons", "Café", "", "Montréal", "", "", "45.50005", "-73.5685"]
GERMAIN_V = ["x8", "Le Germain", "Hôtel", "", "Montréal", "", "", "45.5032", "-73.5768"]
NEW_PLACE = ["x5", "Musée des beaux-arts", "Musée", "1380 rue Sherbrooke O", "Montréal", "H3G 1J5", "514-555-0103", "45.4985", "-73.5794"]
# fmt: on


def _upload(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _catalogue(engine: Engine, folder: Path) -> dict[str, Any]:
    with engine.begin() as conn:
        for dmo_id in (301, 302, 303):
            apply_config(conn, csv_config(dmo_id, HEADER, images={"enabled": False}))
    run_job(301, file=_upload(folder / "301.csv", [OLIMPICO, TIM_1, TIM_2, GERMAIN]))
    file = _upload(folder / "302.csv", [VAGUE, TIM_VAGUE, GERMAIN_V, NEW_PLACE])
    run_job(302, file=file)
    out: dict[str, Any] = {"file": file}
    for sid, dmo_id, listing_id, info_id in q(
        engine, "select external_source_id, dmo_id, listing_id, id from public.listing_info"
    ):
        if dmo_id == 301:
            out[sid] = listing_id
        else:
            out[f"info_{sid}"], out[f"own_{sid}"] = info_id, listing_id
    for item in q(engine, "select id, item_type, payload from pipeline.review_items"):
        out[f"item_{item.payload['record']['source_id']}"] = item.id
    types = dict(q(engine, "select id, item_type from pipeline.review_items"))
    assert types == {
        out["item_x4"]: "low_confidence_match",
        out["item_x7"]: "multiple_close_matches",
        out["item_x8"]: "low_confidence_match",
    }
    return out


@pytest.fixture
def catalogue(scenario: Callable[..., Any]) -> dict[str, Any]:
    """DMO 301's four listings, then DMO 302's four records: three wait in the review queue (hidden), one is
    new. Returns DMO 301's listing ids and DMO 302's listing_info ids (`info_x4`...), its review item ids
    (`item_x4`...) and the path of its file."""
    return scenario(_catalogue)


def _snapshot(engine: Engine) -> tuple[list[Any], ...]:
    return tuple(
        q(engine, f"select * from {table} order by 1")
        for table in (
            "public.listings",
            "public.listing_info",
            "pipeline.bridge_source_listing",
            "pipeline.review_items",
            "pipeline.listing_edits",
            "pipeline.listing_match",
        )
    )


def _info(engine: Engine, info_id: int) -> Any:
    return q(
        engine,
        "select li.listing_id, li.info_status, li.info_visible, l.listing_status, l.listing_visible"
        " from public.listing_info li join public.listings l on l.id = li.listing_id where li.id = :i",
        i=info_id,
    )[0]


def _listing(engine: Engine, listing_id: int) -> Any:
    return q(
        engine,
        "select listing_status, merged_into_id, listing_visible from public.listings where id = :i",
        i=listing_id,
    )[0]


def _bridge(engine: Engine, info_id: int) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in q(
            engine,
            "select listing_id, match_method, certainty_score from pipeline.bridge_source_listing"
            " where listing_info_id = :i order by id",
            i=info_id,
        )
    ]


def _item(engine: Engine, item_id: int) -> Any:
    return q(
        engine,
        "select status, resolved_by, resolved_at, resolution from pipeline.review_items where id = :i",
        i=item_id,
    )[0]


def _flash(page: str) -> str:
    found = re.findall(r'<p class="flash flash-\w+"[^>]*>(.*?)</p>', page, re.S)
    return html.unescape(" ".join(found))


def _in_match_index(engine: Engine, listing_id: int) -> bool:
    found = q(engine, "select count(*) from pipeline.listing_match where listing_id = :l", l=listing_id)
    return bool(found[0][0])


# ------------------------------------------------------------------------------------------------


def test_pages_show_the_bridge_and_the_items_and_a_viewer_changes_nothing(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, Any]
) -> None:
    c = catalogue
    viewer = client_as("viewer")
    bridge = viewer.get(PREFIX + "/bridge")
    assert bridge.status_code == 200 and 'aria-current="page">Matching</a>' in bridge.text
    assert bridge.text.count("data-bridge-id=") == 8 and "8 row(s)" in bridge.text
    assert "no candidate listing nearby" in bridge.text and "below the auto-merge threshold" in bridge.text
    assert 'name="to_listing_id"' in bridge.text and "disabled" in bridge.text  # read-only for a viewer

    def shown(**params: Any) -> list[int]:
        page = viewer.get(PREFIX + "/bridge", params=params)
        assert page.status_code == 200, page.text
        return [int(i) for i in re.findall(r'data-listing-id="(\d+)"', page.text)]

    assert len(shown(dmo_id=302)) == 4 and len(shown(method="review")) == 3
    assert sorted(shown(max_certainty="0.8")) == sorted(
        [c["own_x4"], c["own_x8"], c["own_x5"], c["A"], c["T1"], c["T2"], c["G"]]
    )  # the two low-confidence reviews and the new listings (certainty 0); not the 0.98 chain
    assert shown(listing_id=c["G"]) == [c["G"]]
    (record_hash,) = q(
        engine,
        "select source_record_hash from pipeline.bridge_source_listing where listing_info_id = :i",
        i=c["info_x4"],
    )[0]
    by_hash = viewer.get(PREFIX + "/bridge", params={"q": record_hash[:10]})
    assert 'data-q-kind="hash"' in by_hash.text and re.findall(r'data-listing-id="(\d+)"', by_hash.text) == [
        str(c["own_x4"])
    ]
    by_source = viewer.get(PREFIX + "/bridge", params={"q": "x8", "dmo_id": 302})
    assert 'data-q-kind="source_id"' in by_source.text
    assert re.findall(r'data-listing-id="(\d+)"', by_source.text) == [str(c["own_x8"])]
    assert shown(q="nothing-like-this") == []
    for bad, message in (
        ({"method": "guess"}, "method must be one of"),
        ({"max_certainty": "2"}, "max_certainty must be between 0 and 1"),
        ({"max_certainty": "high"}, "max_certainty must be a number"),
        ({"dmo_id": "x"}, "dmo_id must be a whole number"),
    ):
        refused = viewer.get(PREFIX + "/bridge", params=bad)
        assert refused.status_code == 400 and message in html.unescape(refused.text), bad

    conflicts = viewer.get(PREFIX + "/bridge/conflicts")
    assert conflicts.status_code == 200 and "No listing is claimed twice by one DMO." in conflicts.text

    # the review queue: every type by default, match items with their record and best candidate
    review = viewer.get(PREFIX + "/review")
    assert review.status_code == 200 and '<span data-type="all">3</span>' in review.text
    assert review.text.count('name="item_id"') == 3 and "Olimpico" in review.text
    assert "+1 other candidate(s)" in review.text  # the chain: two branches
    assert (
        "Keyboard shortcuts" in review.text
        and 'data-key="a"' in review.text
        and 'data-key="n"' in review.text
    )
    only = viewer.get(PREFIX + "/review", params={"type": "multiple_close_matches"})
    assert re.findall(r'data-review-item-id="(\d+)"', only.text) == [str(c["item_x7"])]

    # one item side by side: fields aligned, differences marked, pins, features and confidence
    with engine.begin() as conn:
        from sqlalchemy import text

        image_id = conn.execute(
            text(
                "insert into public.listing_images (listing_info_id, image, rank, renditions)"
                " select id, 'file:///nowhere/objects/images/a.jpg', 1,"
                ' \'{"thumb.webp": "file:///nowhere/objects/images/a-thumb.webp"}\''
                " from public.listing_info where dmo_id = 301 and external_source_id = 'T2' returning id"
            )
        ).scalar_one()
    item = viewer.get(f"{PREFIX}/review/{c['item_x7']}")
    assert item.status_code == 200
    page = item.text
    assert f'data-candidate="{c["T1"]}"' in page and f'data-candidate="{c["T2"]}"' in page
    name_row = page.split('data-field="name"', 1)[1].split("</tr>", 1)[0]
    assert name_row.count('data-state="same"') == 2  # "Tim Hortons" on every side
    address_row = page.split('data-field="address"', 1)[1].split("</tr>", 1)[0]
    assert address_row.count('data-state="unknown"') == 2  # the record gives no address
    distance_row = page.split('data-field="distance"', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r"(\d+) m<", distance_row) and 'data-state="differs"' in distance_row
    assert "<svg" in page and 'data-pin="R"' in page and 'data-pin="1"' in page and 'data-pin="2"' in page
    assert re.search(r"data-scale>\d+ m<", page)
    assert f"/listing-images/{image_id}/object?rendition=thumb.webp" in page
    with engine.connect() as conn:
        shown = conn.execute(
            text("select candidates -> 0 ->> 'confidence' from pipeline.review_items where id = :i"),
            {"i": c["item_x7"]},
        ).scalar_one()
    assert "name_token" in page and shown in page and "2 candidates within 0.10" in page
    assert 'value="accept:' in page and f'value="choose:{c["item_x7"]}:{c["T2"]}"' in page
    vague = viewer.get(f"{PREFIX}/review/{c['item_x4']}").text
    assert "No coordinates: R" in vague or "No coordinates on either side" in vague
    assert viewer.get(f"{PREFIX}/review/999999").status_code == 404

    # a viewer's POSTs are refused and change nothing
    before = _snapshot(engine)
    for path, data in (
        ("/review/decide", {"decide": f"accept:{c['item_x4']}"}),
        ("/review/decide", {"decide": "dismiss", "item_id": [c["item_x7"], c["item_x8"]]}),
        ("/bridge/force-match", {"listing_info_id": c["info_x8"], "to_listing_id": c["G"]}),
        (f"/listings/{c['own_x8']}/merge", {"into_listing_id": c["G"]}),
        (f"/listing-info/{c['info_x8']}/unmerge", {}),
    ):
        response = viewer.post(PREFIX + path, data=data)
        assert response.status_code == 403, path
        assert "viewer has the viewer role, which may only read" in response.text
    assert _snapshot(engine) == before


def test_review_decisions_accept_choose_new_from_the_pages(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, Any]
) -> None:
    c = catalogue
    admin = client_as("admin", "alice")
    queue = f"{PREFIX}/review?status=open&type=all"

    # accept: the bare "Olimpico" joins Café Olimpico; its hidden listing forwards there
    accepted = admin.post(PREFIX + "/review/decide", data={"decide": f"accept:{c['item_x4']}", "next": queue})
    assert accepted.status_code == 200 and accepted.url.path == PREFIX + "/review"
    assert f"DMO 302's record joined listing {c['A']}" in _flash(accepted.text)
    assert tuple(_info(engine, c["info_x4"])) == (c["A"], "active", True, "active", True)
    assert tuple(_listing(engine, c["own_x4"])) == ("merged", c["A"], False)
    assert _bridge(engine, c["info_x4"]) == [(c["A"], "manual", 1)]
    item = _item(engine, c["item_x4"])
    assert (item.status, item.resolved_by, item.resolution) == (
        "resolved",
        "alice",
        f"accepted: listing {c['A']}",
    )
    assert item.resolved_at is not None
    assert not _in_match_index(engine, c["own_x4"]) and _in_match_index(engine, c["A"])
    edits = q(
        engine,
        "select listing_id, listing_info_id, action, field, edited_by, review_item_id from pipeline.listing_edits"
        " order by id",
    )
    assert {(e.listing_id, e.action, e.field) for e in edits} == {
        (c["own_x4"], "move", "listing_id"),
        (c["A"], "move", "listing_id"),
        (c["A"], "show", "visibility"),
        (c["own_x4"], "merge", "listing_status"),
        (c["own_x4"], "merge", "merged_into_id"),
    }
    assert {(e.edited_by, e.review_item_id) for e in edits} == {("alice", c["item_x4"])}
    timeline = admin.get(f"{PREFIX}/listings/{c['A']}").text
    assert "listing_id" in timeline and "alice" in timeline

    # choose: a listing that is not a candidate is refused on the item's page, nothing saved
    before = _snapshot(engine)
    item_page = f"{PREFIX}/review/{c['item_x7']}?back=%2Flistings-admin%2Freview"
    wrong = admin.post(
        PREFIX + "/review/decide", data={"decide": f"choose:{c['item_x7']}:{c['G']}", "next": item_page}
    )
    assert wrong.status_code == 400
    assert f"listing {c['G']} is not a candidate of review item {c['item_x7']}" in _flash(wrong.text)
    assert 'data-candidate="' in wrong.text  # the item's page again
    not_an_id = admin.post(PREFIX + "/review/decide", data={"decide": f"choose:{c['item_x7']}:abc"})
    assert not_an_id.status_code == 400 and "are not ids" in _flash(not_an_id.text)
    unknown = admin.post(PREFIX + "/review/decide", data={"decide": "merge:1"})
    assert unknown.status_code == 400 and "Choose a decision" in _flash(unknown.text)
    assert _snapshot(engine) == before
    # the second branch, chosen from the item's page: then the next open item is shown
    chosen = admin.post(
        PREFIX + "/review/decide",
        data={"decide": f"choose:{c['item_x7']}:{c['T2']}", "next": f"{PREFIX}/review/{c['item_x8']}"},
    )
    assert chosen.status_code == 200 and chosen.url.path == f"{PREFIX}/review/{c['item_x8']}"
    assert tuple(_info(engine, c["info_x7"])) == (c["T2"], "active", True, "active", True)
    assert tuple(_listing(engine, c["own_x7"])) == ("merged", c["T2"], False)
    assert _item(engine, c["item_x7"]).resolution == f"chose: listing {c['T2']}"

    # new: "Le Germain" is a place of its own, shown
    new = admin.post(PREFIX + "/review/decide", data={"decide": f"new:{c['item_x8']}", "next": queue})
    assert new.status_code == 200 and "is listing" in _flash(new.text)
    assert tuple(_info(engine, c["info_x8"])) == (c["own_x8"], "active", True, "active", True)
    assert _bridge(engine, c["info_x8"]) == [(c["own_x8"], "manual", 1)]
    item = _item(engine, c["item_x8"])
    assert (item.status, item.resolved_by) == ("resolved", "alice")
    # decided once: a second decision is refused with its reason
    again = admin.post(PREFIX + "/review/decide", data={"decide": f"dismiss:{c['item_x8']}", "next": queue})
    assert again.status_code == 400 and f"review item {c['item_x8']} is already resolved" in _flash(
        again.text
    )
    assert "Nothing to review." in admin.get(PREFIX + "/review").text
    decided = admin.get(PREFIX + "/review", params={"status": "all"}).text
    assert decided.count("by alice") == 3
    detail = admin.get(f"{PREFIX}/review/{c['item_x8']}").text
    assert "new: kept as listing" in detail and "by alice" in detail and 'value="new:' not in detail

    # the next import of DMO 302 finds every record where a person put it, and queues nothing
    rerun = run_job(302, file=c["file"])
    assert rerun["counts"]["records_unchanged"] == 4
    for info_id, listing_id in ((c["info_x4"], c["A"]), (c["info_x7"], c["T2"]), (c["info_x8"], c["own_x8"])):
        assert _info(engine, info_id).listing_id == listing_id
    assert q(engine, "select count(*) from pipeline.review_items")[0][0] == 3


def test_bulk_decisions_and_dismiss(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, Any]
) -> None:
    c = catalogue
    admin = client_as("user", "bob")
    queue = f"{PREFIX}/review?status=open&type=low_confidence_match"
    page = admin.get(queue).text
    assert page.count('name="item_id"') == 2 and "Accept the top candidate for the selected" in page
    nothing = admin.post(PREFIX + "/review/decide", data={"decide": "accept", "next": queue})
    assert nothing.status_code == 400 and "Select at least one item" in _flash(nothing.text)
    keep = admin.post(
        PREFIX + "/review/decide", data={"decide": "keep", "item_id": [c["item_x4"]], "next": queue}
    )
    assert keep.status_code == 400 and "'keep' is for manual-edit conflicts" in _flash(keep.text)
    bulk = admin.post(
        PREFIX + "/review/decide",
        data={"decide": "accept", "item_id": [c["item_x4"], c["item_x8"], 999999], "next": queue},
    )
    assert bulk.status_code == 200
    message = _flash(bulk.text)
    assert "2 match item(s) decided (accepted the top candidate)" in message
    assert "Not decided: no review item 999999" in message
    assert (
        _info(engine, c["info_x4"]).listing_id == c["A"] and _info(engine, c["info_x8"]).listing_id == c["G"]
    )
    assert {_item(engine, i).resolved_by for i in (c["item_x4"], c["item_x8"])} == {"bob"}
    # dismiss: the item closes, the record stays where it waits (hidden)
    dismissed = admin.post(
        PREFIX + "/review/decide", data={"decide": "dismiss", "item_id": [c["item_x7"]], "next": queue}
    )
    assert "Review item" in _flash(dismissed.text) and "dismissed" in _flash(dismissed.text)
    assert tuple(_info(engine, c["info_x7"])) == (c["own_x7"], "pending", False, "active", False)
    item = _item(engine, c["item_x7"])
    assert (item.status, item.resolved_by) == ("dismissed", "bob")


def test_merge_then_unmerge_and_claim_conflicts(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, Any]
) -> None:
    from listings.catalogue import edits

    c = catalogue
    admin = client_as("admin", "alice")
    with engine.begin() as conn:
        edits.archive_listing(conn, c["A"], user="alice", reason="closed")

    # refused merges: the listing's page again (400), with the reason; nothing changed
    before = _snapshot(engine)
    listing_page = f"{PREFIX}/listings/{c['own_x8']}"
    for into, message in (
        (str(c["own_x8"]), f"listing {c['own_x8']} cannot be merged into itself"),
        (str(c["A"]), f"listing {c['A']} is archived"),
        ("abc", "into_listing_id: 'abc' is not a listing id"),
        ("", "into_listing_id: give the id of a listing"),
        ("999999", "no listing 999999"),
    ):
        refused = admin.post(
            f"{PREFIX}/listings/{c['own_x8']}/merge", data={"into_listing_id": into, "next": listing_page}
        )
        assert refused.status_code == 400 and message in _flash(refused.text), into
        assert "Le Germain" in refused.text  # the listing's page
    assert admin.post(f"{PREFIX}/listings/999999/merge", data={"into_listing_id": c["G"]}).status_code == 404
    assert _snapshot(engine) == before

    # merge from the item's page: the record's waiting listing into the candidate; the item is decided
    item_page = f"{PREFIX}/review/{c['item_x8']}"
    form = admin.get(item_page).text
    assert f'data-merge-from="{c["own_x8"]}"' in form and f'<option value="{c["G"]}">' in form
    merged = admin.post(
        f"{PREFIX}/listings/{c['own_x8']}/merge", data={"into_listing_id": c["G"], "next": item_page}
    )
    assert merged.status_code == 200 and merged.url.path == f"{PREFIX}/listings/{c['G']}"
    assert f"Listing {c['own_x8']} merged into listing {c['G']}: 1 listing_info moved." in _flash(merged.text)
    assert tuple(_info(engine, c["info_x8"])) == (c["G"], "active", True, "active", True)
    assert tuple(_listing(engine, c["own_x8"])) == ("merged", c["G"], False)
    assert _bridge(engine, c["info_x8"]) == [(c["G"], "manual", 1)]
    item = _item(engine, c["item_x8"])
    assert (item.status, item.resolved_by) == ("resolved", "alice") and "merged into" in item.resolution
    into_merged = admin.post(
        f"{PREFIX}/listings/{c['T1']}/merge", data={"into_listing_id": c["own_x8"], "next": listing_page}
    )
    assert into_merged.status_code == 400
    assert f"listing {c['own_x8']} was merged into listing {c['G']}: use that one" in _flash(into_merged.text)

    # unmerge it again (from the listing's page): a new listing of its own, named after the record, shown
    listing = admin.get(f"{PREFIX}/listings/{c['G']}").text
    assert f"/listing-info/{c['info_x8']}/unmerge" in listing and "Merge into…" in listing
    unmerged = admin.post(
        f"{PREFIX}/listing-info/{c['info_x8']}/unmerge", data={"next": f"{PREFIX}/listings/{c['G']}"}
    )
    assert unmerged.status_code == 200 and "taken out of listing" in _flash(unmerged.text)
    new_id = _info(engine, c["info_x8"]).listing_id
    assert new_id not in (c["G"], c["own_x8"])
    assert tuple(_info(engine, c["info_x8"])) == (new_id, "active", True, "active", True)
    assert q(engine, "select name from public.listings where id = :i", i=new_id) == [("Le Germain",)]
    assert q(engine, "select count(*) from public.listing_info where listing_id = :l", l=c["G"]) == [(1,)]
    assert _bridge(engine, c["info_x8"]) == [(new_id, "manual", 1)]
    assert _in_match_index(engine, new_id)
    only = admin.post(
        f"{PREFIX}/listing-info/{c['info_x8']}/unmerge", data={"next": f"{PREFIX}/listings/{new_id}"}
    )
    assert only.status_code == 400 and "is the only listing_info of listing" in _flash(only.text)
    assert admin.post(f"{PREFIX}/listing-info/999999/unmerge").status_code == 404

    # two records of one DMO on one listing: the moved one is hidden and queued; a claim conflict
    clash = admin.post(
        f"{PREFIX}/listings/{c['T1']}/merge",
        data={"into_listing_id": c["T2"], "next": f"{PREFIX}/listings/{c['T1']}"},
    )
    assert clash.status_code == 200 and "queued as a source conflict" in _flash(clash.text)
    t1_info = q(
        engine, "select id from public.listing_info where dmo_id = 301 and external_source_id = 'T1'"
    )[0][0]
    assert tuple(_info(engine, t1_info)) == (c["T2"], "pending", False, "active", True)
    (conflict_id,) = q(
        engine, "select id from pipeline.review_items where item_type = 'source_conflict' and status = 'open'"
    )[0]
    conflicts = admin.get(PREFIX + "/bridge/conflicts").text
    assert f'data-listing-id="{c["T2"]}" data-dmo-id="301"' in conflicts
    assert (
        f'data-listing-info-id="{t1_info}"' in conflicts
        and f'data-review-item-id="{conflict_id}"' in conflicts
    )
    assert "DMO 301 <small" in conflicts
    side = admin.get(f"{PREFIX}/review/{conflict_id}").text
    assert "(shown)" in side and 'value="new:' in side
    # "new" takes the hidden record out into a listing of its own, shown
    done = admin.post(
        PREFIX + "/review/decide", data={"decide": f"new:{conflict_id}", "next": f"{PREFIX}/bridge/conflicts"}
    )
    assert done.status_code == 200 and "No listing is claimed twice by one DMO." in done.text
    placed = _info(engine, t1_info)
    assert placed.listing_id not in (c["T1"], c["T2"]) and tuple(placed)[1:] == (
        "active",
        True,
        "active",
        True,
    )
    assert _item(engine, conflict_id).resolved_by == "alice"


def test_force_match_and_later_imports_resolve_to_the_target(
    engine: Engine, client_as: Callable[..., Any], catalogue: dict[str, Any], tmp_path: Path
) -> None:
    c = catalogue
    admin = client_as("op", "carol")
    here = f"{PREFIX}/bridge?dmo_id=302&page=1"

    # bad ids: the bridge page again (400), the message by the row's field; nothing changed
    before = _snapshot(engine)
    for target, message in (
        ("abc", "to_listing_id: 'abc' is not a listing id (a whole number)"),
        ("", "to_listing_id: give the id of a listing"),
        ("999999", "no listing 999999"),
        (str(c["own_x8"]), f"listing_info {c['info_x8']} is already on listing {c['own_x8']}"),
    ):
        refused = admin.post(
            PREFIX + "/bridge/force-match",
            data={"listing_info_id": c["info_x8"], "to_listing_id": target, "next": here},
        )
        assert refused.status_code == 400, target
        by_field = refused.text.split('data-error-for="to_listing_id">', 1)[1].split("<", 1)[0]
        assert message in html.unescape(by_field), target
        assert refused.text.count("data-bridge-id=") == 4  # the same filtered page
    bad_info = admin.post(
        PREFIX + "/bridge/force-match", data={"listing_info_id": "x", "to_listing_id": c["G"], "next": here}
    )
    assert bad_info.status_code == 400 and "is not a listing_info id" in _flash(bad_info.text)
    assert _snapshot(engine) == before

    # force-match the waiting "Le Germain" onto Hôtel Le Germain
    done = admin.post(
        PREFIX + "/bridge/force-match",
        data={"listing_info_id": c["info_x8"], "to_listing_id": c["G"], "next": here},
    )
    assert done.status_code == 200 and done.url.path == PREFIX + "/bridge"
    assert f"moved from listing {c['own_x8']} to listing {c['G']}" in _flash(done.text)
    assert tuple(_info(engine, c["info_x8"])) == (c["G"], "active", True, "active", True)
    assert tuple(_listing(engine, c["own_x8"])) == ("merged", c["G"], False)
    assert _bridge(engine, c["info_x8"]) == [(c["G"], "manual", 1)]
    assert "force-matched to listing" in done.text and "method-manual" in done.text
    item = _item(engine, c["item_x8"])  # its review item is decided with it
    assert (item.status, item.resolved_by) == ("resolved", "carol")
    assert q(
        engine,
        "select action, field, edited_by from pipeline.listing_edits where listing_id = :l order by id",
        l=c["G"],
    ) == [("move", "listing_id", "carol"), ("show", "visibility", "carol")]
    merged_target = admin.post(
        PREFIX + "/bridge/force-match",
        data={"listing_info_id": c["info_x5"], "to_listing_id": c["own_x8"], "next": here},
    )
    assert merged_target.status_code == 400 and f"was merged into listing {c['G']}" in _flash(
        merged_target.text
    )

    # DMO 302 again, the record changed (a phone): an update of the same listing_info, on the target
    changed = [*GERMAIN_V[:6], "514-555-0102", *GERMAIN_V[7:]]
    rerun = run_job(302, file=_upload(tmp_path / "302b.csv", [VAGUE, TIM_VAGUE, changed, NEW_PLACE]))
    assert rerun["counts"]["records_updated"] == 1
    assert _info(engine, c["info_x8"]).listing_id == c["G"]
    assert q(
        engine,
        "select listing_id from pipeline.bridge_source_listing where listing_info_id = :i order by id desc limit 1",
        i=c["info_x8"],
    ) == [(c["G"],)]
    # another DMO sending the same record (same hash) is placed on the target through the bridge
    run_job(303, file=_upload(tmp_path / "303.csv", [GERMAIN_V]))
    (placed,) = q(engine, "select listing_id from public.listing_info where dmo_id = 303")
    assert placed == (c["G"],)
    assert q(engine, "select match_method from pipeline.bridge_source_listing where dmo_id = 303") == [
        ("bridge_other_dmo",)
    ]

    # from a listing's page ("Merge into…"): back to the listing it went to
    page = admin.get(f"{PREFIX}/listings/{c['own_x5']}").text
    assert "Merge into…" in page
    moved = admin.post(
        PREFIX + "/bridge/force-match",
        data={
            "listing_info_id": c["info_x5"],
            "to_listing_id": c["T1"],
            "next": f"{PREFIX}/listings/{c['own_x5']}",
        },
    )
    assert moved.status_code == 200 and moved.url.path == f"{PREFIX}/listings/{c['T1']}"
    bad = admin.post(
        PREFIX + "/bridge/force-match",
        data={"listing_info_id": c["info_x5"], "to_listing_id": "-1", "next": f"{PREFIX}/listings/{c['T1']}"},
    )
    assert bad.status_code == 400 and "is not a listing id" in _flash(bad.text) and "Tim Hortons" in bad.text
