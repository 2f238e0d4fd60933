"""Manual edits and the listing lifecycle against real PostgreSQL: locked fields survive re-imports,
conflicts go to the review queue and can be accepted or dismissed, archive / hide / restore, soft removal of
what a source no longer sends, and exact job counts."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from dmo_helpers import csv_config, q
from sqlalchemy import Engine, text

from listings.catalogue import edits
from listings.catalogue.lifecycle import sweep
from listings.config.models import Removal
from listings.config.store import apply_config
from listings.pipeline.runner import run_job

HEADER = [
    "ID",
    "Name",
    "Category",
    "Address1",
    "City",
    "Postal",
    "Phone",
    "Website",
    "Description",
    "Lat",
    "Lng",
]
# fmt: off
A = ["a", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "https://olimpico.example", "Espresso since 1970.", "45.5235", "-73.6004"]
B = ["b", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "https://germain.example", "Boutique hotel.", "45.5020", "-73.5750"]
C = ["c", "Musée des beaux-arts", "Musée", "1380 rue Sherbrooke O", "Montréal", "H3G 1J5", "514-555-0103", "", "Fine arts.", "45.4985", "-73.5794"]
# fmt: on


def config(dmo_id: int, removal: dict[str, int] | None = None) -> Any:
    return csv_config(dmo_id, HEADER, removal=removal or {})


def upload(tmp_path: Path, rows: Sequence[Sequence[str]], name: str = "upload.csv") -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def one(engine: Engine, sql: str, **params: Any) -> Any:
    (row,) = q(engine, sql, **params)
    return row


def info_of(engine: Engine, dmo_id: int, source_id: str) -> Any:
    return one(
        engine,
        """select li.*, ci.international_phone, ci.website_url, l.name as listing_name, l.locked_fields as listing_locks,
                  loc.address1, loc.lat
           from public.listing_info li join public.listings l on l.id = li.listing_id
           left join public.contact_info ci on ci.id = li.contact_info_id
           left join public.locations loc on loc.id = l.location_id
           where li.dmo_id = :d and li.external_source_id = :s""",
        d=dmo_id,
        s=source_id,
    )


@pytest.fixture
def dmo(engine: Engine) -> int:
    with engine.begin() as conn:
        apply_config(conn, config(201))
    return 201


def test_locked_fields_survive_re_imports_and_conflicts_are_queued(
    engine: Engine, dmo: int, tmp_path: Path
) -> None:
    run_job(dmo, file=upload(tmp_path, [A, B]))
    a = info_of(engine, dmo, "a")
    with engine.begin() as conn:
        changed = edits.edit_listing_info(
            conn, a.id, {"description": "Best espresso in town.", "phone": "(514) 555-0199"}, user="alice"
        )
        edits.edit_listing(conn, a.listing_id, {"name": "Café Olimpico (Mile End)"}, user="alice")
    assert sorted(changed) == ["description", "phone"]
    edited = info_of(engine, dmo, "a")
    assert edited.description == "Best espresso in town." and edited.international_phone == "+15145550199"
    assert sorted(edited.locked_fields) == ["description", "phone"] and edited.listing_locks == ["name"]
    assert (edited.manually_modified, edited.manually_modified_by) == (True, "alice")
    assert edited.manually_modified_at is not None

    # Three re-imports of the unchanged source: every locked field stays, nothing is queued.
    for _ in range(3):
        res = run_job(dmo, file=upload(tmp_path, [A, B]))
        assert res["counts"]["records_unchanged"] == 2
    again = info_of(engine, dmo, "a")
    assert (again.description, again.international_phone, again.listing_name) == (
        "Best espresso in town.", "+15145550199", "Café Olimpico (Mile End)",
    )  # fmt: skip
    assert q(engine, "select * from pipeline.review_items") == []

    # The source changes the description, the phone and the website: the unlocked website follows the
    # source, the locked fields stay, and one conflict per locked field shows both values.
    changed_a = [*A]
    changed_a[6], changed_a[7], changed_a[8] = (
        "514-555-0111",
        "https://olimpico.example/fr",
        "Espresso & pastries.",
    )
    for _ in range(2):  # the same change twice: still one item per field
        res = run_job(dmo, file=upload(tmp_path, [changed_a, B]))
    now = info_of(engine, dmo, "a")
    assert now.website_url == "https://olimpico.example/fr"
    assert (now.description, now.international_phone) == ("Best espresso in town.", "+15145550199")
    items = {
        r.payload["field"]: r
        for r in q(engine, "select * from pipeline.review_items where item_type = 'manual_edit_conflict'")
    }
    assert set(items) == {"description", "phone"}
    assert items["description"].payload["manual_value"] == "Best espresso in town."
    assert items["description"].payload["source_value"] == "Espresso & pastries."
    assert items["phone"].payload["source_value"] == "+15145550111"
    assert all(r.status == "open" and r.listing_info_id == a.id for r in items.values())

    # Accept the source's description (applied, unlocked); keep the admin's phone (dismissed, still locked).
    with engine.begin() as conn:
        edits.resolve_conflict(conn, items["description"].id, accept_source=True, user="bob")
        edits.resolve_conflict(conn, items["phone"].id, accept_source=False, user="bob")
        with pytest.raises(edits.EditError, match="already resolved"):
            edits.resolve_conflict(conn, items["description"].id, accept_source=True, user="bob")
    resolved = info_of(engine, dmo, "a")
    assert resolved.description == "Espresso & pastries." and resolved.locked_fields == ["phone"]
    assert resolved.international_phone == "+15145550199"
    statuses = dict(q(engine, "select resolution, status from pipeline.review_items"))
    assert statuses == {"accept_source": "resolved", "keep_manual": "dismissed"}

    # Unlocked again: the next change from the source applies.
    changed_a[8] = "Espresso, pastries and sandwiches."
    run_job(dmo, file=upload(tmp_path, [changed_a, B]))
    assert info_of(engine, dmo, "a").description == "Espresso, pastries and sandwiches."

    trail = q(engine, "select action, field, edited_by from pipeline.listing_edits order by id")
    assert [tuple(r) for r in trail] == [
        ("edit", "description", "alice"), ("edit", "phone", "alice"), ("edit", "name", "alice"),
        ("accept_source", "description", "bob"), ("keep_manual", "phone", "bob"),
    ]  # fmt: skip


def test_locked_location_is_kept_and_a_moved_source_location_is_a_conflict(
    engine: Engine, dmo: int, tmp_path: Path
) -> None:
    run_job(dmo, file=upload(tmp_path, [A]))
    a = info_of(engine, dmo, "a")
    with engine.begin() as conn:
        edits.edit_listing(
            conn, a.listing_id, {"location": {"address1": "126 rue Saint-Viateur O"}}, user="al"
        )
    assert info_of(engine, dmo, "a").address1 == "126 rue Saint-Viateur O"
    assert run_job(dmo, file=upload(tmp_path, [A]))["counts"]["records_unchanged"] == 1
    moved = [*A]
    moved[3], moved[9] = "130 rue Saint-Viateur O", "45.5240"
    run_job(dmo, file=upload(tmp_path, [moved]))
    kept = info_of(engine, dmo, "a")
    assert (kept.address1, float(kept.lat)) == ("126 rue Saint-Viateur O", 45.5235)
    item = one(engine, "select * from pipeline.review_items")
    assert item.payload["level"] == "listing" and item.payload["field"] == "location"
    assert item.payload["source_value"]["address1"] == "130 rue Saint-Viateur O"
    with engine.begin() as conn:
        edits.resolve_conflict(conn, item.id, accept_source=True, user="al")
    accepted = info_of(engine, dmo, "a")
    assert (accepted.address1, float(accepted.lat), accepted.listing_locks) == (
        "130 rue Saint-Viateur O",
        45.524,
        [],
    )
    match = one(engine, "select address1, st_y(geog::geometry) as lat from pipeline.listing_match where listing_id = :i",
                i=a.listing_id)  # fmt: skip
    assert (match.address1, round(match.lat, 4)) == ("130 rue Saint-Viateur O", 45.524)  # matching follows


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": "red"}, "unknown field"),
        ({"name": "  "}, "must not be empty"),
        ({"category": "spaceport"}, "not in the vocabulary"),
        ({"phone": "12"}, "not a complete phone number"),
        ({"email": "not-an-email"}, "not an e-mail address"),
    ],
)
def test_a_bad_edit_is_rejected_and_writes_nothing(
    engine: Engine, dmo: int, tmp_path: Path, changes: dict[str, str], message: str
) -> None:
    run_job(dmo, file=upload(tmp_path, [A]))
    a = info_of(engine, dmo, "a")
    with engine.begin() as conn, pytest.raises(edits.EditError, match=message):
        edits.edit_listing_info(conn, a.id, changes, user="alice")
    after = info_of(engine, dmo, "a")
    assert after.locked_fields == [] and not after.manually_modified
    assert q(engine, "select * from pipeline.listing_edits") == []


def visible(engine: Engine, dmo_id: int) -> set[str]:
    rows = q(engine, "select external_source_id from public.visible_listing_info where dmo_id = :d", d=dmo_id)
    return {r[0] for r in rows}


def test_archive_hides_a_listing_for_every_dmo_and_hide_is_per_dmo(
    engine: Engine, dmo: int, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        apply_config(conn, config(202))
    run_job(dmo, file=upload(tmp_path, [A, B]))
    run_job(202, file=upload(tmp_path, [A, B], "other.csv"))
    a1, a2 = info_of(engine, dmo, "a"), info_of(engine, 202, "a")
    # two DMOs share one listing, each with its own listing_info and contact
    assert a1.listing_id == a2.listing_id and a1.id != a2.id and a1.contact_info_id != a2.contact_info_id
    assert visible(engine, dmo) == visible(engine, 202) == {"a", "b"}

    with engine.begin() as conn:
        edits.archive_listing(conn, a1.listing_id, user="ops", reason="closed for good")
    assert visible(engine, dmo) == visible(engine, 202) == {"b"}
    run_job(dmo, file=upload(tmp_path, [A, B]))  # a re-import does not bring an archived listing back
    assert visible(engine, dmo) == {"b"}
    listing = one(engine, "select * from public.listings where id = :i", i=a1.listing_id)
    assert (listing.listing_status, listing.status_reason) == ("archived", "closed for good")
    with engine.begin() as conn:
        edits.restore_listing(conn, a1.listing_id, user="ops")
    assert visible(engine, dmo) == visible(engine, 202) == {"a", "b"}
    # only an archived listing can be restored, and only an active one archived
    with pytest.raises(edits.EditError, match="not archived"), engine.begin() as conn:
        edits.restore_listing(conn, a1.listing_id, user="ops")
    with engine.begin() as conn:
        edits.archive_listing(conn, a1.listing_id, user="ops")
    with pytest.raises(edits.EditError, match="already archived"), engine.begin() as conn:
        edits.archive_listing(conn, a1.listing_id, user="ops")
    with engine.begin() as conn:
        edits.restore_listing(conn, a1.listing_id, user="ops")

    # hidden for one DMO only, and a re-import does not show it again
    with engine.begin() as conn:
        edits.hide_listing_info(conn, a2.id, user="ops", reason="not in our area")
    run_job(202, file=upload(tmp_path, [A, B], "other.csv"))
    assert visible(engine, dmo) == {"a", "b"} and visible(engine, 202) == {"b"}
    with engine.begin() as conn:
        edits.show_listing_info(conn, a2.id, user="ops")
    assert visible(engine, 202) == {"a", "b"}
    assert one(engine, "select count(*) from public.listings")[0] == 2  # nothing was ever deleted


def test_records_not_seen_are_soft_removed_and_come_back(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        apply_config(conn, config(203, removal={"after_runs": 2}))
    run_job(203, file=upload(tmp_path, [A, B, C]))
    first = run_job(203, file=upload(tmp_path, [A, B]))  # C missing once: within the grace of 2 runs
    assert first["counts"]["records_deleted"] == 0 and visible(engine, 203) == {"a", "b", "c"}
    second = run_job(203, file=upload(tmp_path, [A]))  # C missing twice, B once
    assert second["counts"]["records_deleted"] == 1 and visible(engine, 203) == {"a", "b"}
    c = info_of(engine, 203, "c")
    assert (c.info_status, c.info_visible) == ("removed", False)
    assert c.status_reason.startswith("not seen in the last 2 runs") and c.last_seen_at is not None
    third = run_job(203, file=upload(tmp_path, [A, C]))  # C is back; B now missing twice
    assert third["counts"]["records_deleted"] == 1 and visible(engine, 203) == {"a", "c"}
    assert (info_of(engine, 203, "c").info_status, info_of(engine, 203, "c").status_reason) == (
        "active",
        None,
    )
    assert one(engine, "select count(*) from public.listing_info")[0] == 3  # soft: every row is still there

    # An admin's hide is not undone by the source sending the record again.
    b = info_of(engine, 203, "b")
    with engine.begin() as conn:
        edits.hide_listing_info(conn, b.id, user="ops")
    run_job(203, file=upload(tmp_path, [A, B, C]))
    assert visible(engine, 203) == {"a", "c"}


def test_incremental_or_incomplete_runs_never_remove(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        apply_config(conn, config(204, removal={"after_runs": 1}))
    run_job(204, file=upload(tmp_path, [A, B]))
    res = run_job(204, file=upload(tmp_path, [A]))
    assert res["counts"]["records_deleted"] == 1  # B, with a full snapshot
    run_job(204, file=upload(tmp_path, [A, B]))
    job = run_job(204, file=upload(tmp_path, [A]))["job_id"]
    with engine.begin() as conn:
        conn.execute(text("update public.listing_info set info_status = 'active', info_visible = true"))
        conn.execute(text("update pipeline.jobs set full_snapshot = false where id = :j"), {"j": job})
        assert sweep(conn, job, 204, Removal(after_runs=1)) == 0  # incremental: no picture of what is gone
        conn.execute(text("update pipeline.jobs set full_snapshot = true where id = :j"), {"j": job})
        conn.execute(
            text(
                "insert into pipeline.job_errors (job_id, record_no, error_type, error_message)"
                " values (:j, 0, 'fetch_error', 'connection reset on page 3')"
            ),
            {"j": job},
        )
        assert sweep(conn, job, 204, Removal(after_runs=1)) == 0  # the fetch stopped half-way
        assert sweep(conn, job, 204, Removal()) == 0  # no removal configured


def test_exact_counts_for_a_mixed_batch(engine: Engine, dmo: int, tmp_path: Path) -> None:
    run_job(dmo, file=upload(tmp_path, [A, B, C]))
    changed_b = [*B]
    changed_b[8] = "Boutique hotel, renovated."
    new = ["d", "Marché Jean-Talon", "Marché", "7070 av. Henri-Julien", "Montréal", "H2S 3S3", "", "", "", "45.5363", "-73.6147"]  # fmt: skip
    duplicate = [*new]
    duplicate[0] = "d2"  # the same place twice in the file: merged, counted once as a duplicate
    bad = ["e", "", "Café", "", "", "", "", "", "", "", ""]  # no name: a record error
    bad_pin = ["f", "Bad pin", "Café", "1 rue X", "Montréal", "H2T 1A1", "", "", "", "95.0", "-73.6"]
    res = run_job(dmo, file=upload(tmp_path, [A, changed_b, new, duplicate, bad, bad_pin]))
    results = one(engine, "select * from pipeline.job_results where job_id = :j", j=res["job_id"])
    errors = q(
        engine, "select record_no, error_type from pipeline.job_errors where job_id = :j", j=res["job_id"]
    )
    assert (results.records_total, results.records_new, results.records_updated, results.records_unchanged,
            results.records_duplicates, results.records_error, results.records_deleted) == (
        6, 2, 1, 1, 1, 1, 0,
    )  # fmt: skip
    assert [tuple(r) for r in errors] == [(5, "missing_field")]  # the row without a name, nothing else
    # the place with an impossible pin is kept (new), without coordinates
    assert info_of(engine, dmo, "f").lat is None
