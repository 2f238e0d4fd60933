"""Promotion's guarantees and gates: a record whose validation fails at `error` severity never becomes a
listing (it is rejected, with its error, and the rest of the batch goes on), and one without a location
only joins a listing that has one; the dbt tests check what the catalogue holds, not only that rows exist;
an older job never overwrites what a newer one promoted; an unchanged re-run writes no row to `public`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from dmo_helpers import csv_config, q
from sqlalchemy import Engine, text

from listings.config.store import apply_config
from listings.pipeline import steps
from listings.pipeline.runner import run_job

HEADER = "ID,Name,Category,Address1,City,Postal,Phone,Lat,Lng\n"
GOOD = "ok,Café Olimpico,Café,124 rue Saint-Viateur O,Montréal,H2T 2L1,514-555-0101,45.5235,-73.6004\n"


def config(dmo_id: int) -> Any:
    return csv_config(dmo_id, HEADER.strip().split(","))


def after_a_located_place(
    engine: Engine, tmp_path: Path, dmo_ids: tuple[int, int], row: str
) -> dict[str, Any]:
    """The first DMO imports Café Olimpico (located, GOOD, from tmp_path / "a.csv"); then the second DMO's
    file of one `row`: its run's result."""
    with engine.begin() as conn:
        for dmo_id in dmo_ids:
            apply_config(conn, config(dmo_id))
    (tmp_path / "a.csv").write_text(HEADER + GOOD)
    run_job(dmo_ids[0], file=tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text(HEADER + row)
    return run_job(dmo_ids[1], file=tmp_path / "b.csv")


def test_a_record_failing_validation_at_error_severity_is_rejected_not_shown(
    engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        apply_config(conn, config(401))
    path = tmp_path / "f.csv"
    path.write_text(
        HEADER
        + GOOD
        # a city is not a location: no coordinates and no street address
        + "nowhere,Hotel Nowhere,Hotel,,Montréal,,514-555-0102,,\n"
        # coordinates that are on no map (transform drops them), and no street address
        + "offmap,Bistro Offmap,Restaurant,,Montréal,H2X 1A1,514-555-0103,95.5,-273.6\n"
        # no name
        + "noname,,Restaurant,2 rue Peel,Montréal,H3C 2G9,514-555-0105,,\n"
    )
    result = run_job(401, file=path)
    assert result["status"] == "partial"
    assert result["counts"]["records_error"] == 3
    assert (result["counts"]["records_new"], result["counts"]["records_matched"]) == (1, 0)
    names = q(engine, "select l.name, li.info_visible from public.listings l join public.listing_info li"
                      " on li.listing_id = l.id order by l.id")  # fmt: skip
    assert [tuple(r) for r in names] == [("Café Olimpico", True)]
    errors = q(
        engine,
        "select e.error_type, e.error_message, e.original_record, e.stage from pipeline.job_errors e"
        " where e.job_id = :j order by e.error_type, e.record_no",
        j=result["job_id"],
    )
    assert [(r.error_type, r.stage) for r in errors] == [
        ("missing_field", "transform"),
        ("no_location", "promote"),
        ("no_location", "promote"),
        ("validation:location_present", "validation"),
        ("validation:location_present", "validation"),
    ]
    assert errors[1].error_message == (
        "not promoted: no location (coordinates, or a street address and a city) and no listing in the"
        " catalogue to join"
    )
    assert errors[3].error_message == (
        "[error] neither coordinates (lat + lng) nor an address (address1 + city) is present"
    )
    assert errors[4].error_message == (
        "[error] neither coordinates (lat + lng) nor an address (address1 + city) is present"
        " (dropped: lat '95.5' is outside [-90, 90]; lng '-273.6' is outside [-180, 180])"
    )
    # nothing accepted is lost: the error row keeps what transform made of the record
    assert errors[3].original_record["name"] == "Hotel Nowhere"
    assert errors[3].original_record["phone_e164"] == "+15145550102"

    # The DMO fixes its file: the records come in on the next run.
    path.write_text(
        HEADER
        + GOOD
        + "nowhere,Hotel Nowhere,Hotel,9 rue Peel,Montréal,H3C 2G9,514-555-0102,,\n"
        + "offmap,Bistro Offmap,Restaurant,1 rue Sherbrooke,Montréal,H2X 1A1,514-555-0103,45.5,-73.6\n"
    )
    again = run_job(401, file=path)
    assert again["status"] == "succeeded" and again["counts"]["records_error"] == 0
    assert again["counts"]["records_new"] == 2 and again["counts"]["records_unchanged"] == 1


def test_a_record_without_a_location_joins_a_listing_that_has_one(engine: Engine, tmp_path: Path) -> None:
    """A source without addresses still adds its description of a known place; it never blanks the place's
    location, even when its own record is the one that placed the listing."""
    joined = after_a_located_place(
        engine, tmp_path, (406, 407), "o7,Café Olimpico,Café,,Montréal,,(514) 555-0101,,\n"
    )
    first = tmp_path / "a.csv"
    assert joined["status"] == "succeeded" and joined["counts"]["records_matched"] == 1
    rows = q(engine, "select li.dmo_id, li.info_visible, l.id from public.listing_info li"
                     " join public.listings l on l.id = li.listing_id order by li.dmo_id")  # fmt: skip
    assert [(r[0], r[1]) for r in rows] == [(406, True), (407, True)] and rows[0][2] == rows[1][2]

    first.write_text(HEADER + GOOD.replace("124 rue Saint-Viateur O", "").replace("45.5235,-73.6004", ","))
    lost = run_job(406, file=first)
    assert lost["status"] == "succeeded" and lost["counts"]["records_unchanged"] == 1
    (place,) = q(engine, "select loc.address1, loc.lat::float8 from public.listings l"
                         " join public.locations loc on loc.id = l.location_id")  # fmt: skip
    assert tuple(place) == ("124 rue Saint-Viateur O", 45.5235)


def test_warnings_only_flag_a_record_which_is_promoted(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        apply_config(conn, config(402))
    path = tmp_path / "f.csv"
    path.write_text(HEADER + "w,Chez Warn,,5 rue Peel,Montréal,H3C 2G9,514-555-0104,,\n")  # no category
    result = run_job(402, file=path)
    assert result["status"] == "succeeded" and result["counts"]["records_new"] == 1
    (row,) = q(engine, "select error_type, error_message from pipeline.job_errors where job_id = :j",
               j=result["job_id"])  # fmt: skip
    assert row.error_type == "validation:category_not_null" and row.error_message.startswith("[warning]")
    assert q(engine, "select info_visible from public.listing_info")[0][0] is True


def test_the_location_test_reads_what_a_location_holds(engine: Engine, tmp_path: Path) -> None:
    from listings.pipeline.promote import DbtError, run_dbt

    with engine.begin() as conn:
        apply_config(conn, config(403))
    path = tmp_path / "f.csv"
    path.write_text(HEADER + GOOD)
    run_job(403, file=path)
    run_dbt(["test", "--select", "assert_every_listing_has_a_location"])
    with engine.begin() as conn:  # a location row with nothing in it: what the old gate let through
        conn.execute(text("update public.locations set address1 = null, lat = null, lng = null, geog = null"))
    with pytest.raises(DbtError, match="assert_every_listing_has_a_location"):
        run_dbt(["test", "--select", "assert_every_listing_has_a_location"])


def test_an_older_job_promoted_after_a_newer_one_does_not_overwrite_it(
    engine: Engine, tmp_path: Path
) -> None:
    """Two jobs of one DMO staged before either is promoted (a failed promotion retried later, an old run
    re-run from its promote step): the newer job's values stay, whatever order the promotions run in."""
    with engine.begin() as conn:
        apply_config(conn, config(404))
    path = tmp_path / "f.csv"
    path.write_text(HEADER + GOOD)
    run_job(404, file=path)

    def staged(phone: str) -> int:
        path.write_text(HEADER + GOOD.replace("514-555-0101", phone))
        job_id = steps.start(404, params={"file": str(path)})
        for step in ("extract", "transform", "stage", "images", "match"):
            getattr(steps, step)(job_id)
        return job_id

    older = staged("514-555-0111")
    newer = staged("514-555-0122")
    for job_id in (newer, older):
        steps.promote(job_id)
        steps.finalize(job_id)
    phone = q(engine, "select ci.international_phone, li.last_job_id from public.listing_info li"
                      " join public.contact_info ci on ci.id = li.contact_info_id")  # fmt: skip
    assert [tuple(r) for r in phone] == [("+15145550122", newer)]
    counts = q(engine, "select records_updated, records_unchanged from pipeline.job_results where job_id = :j",
               j=older)  # fmt: skip
    assert tuple(counts[0]) == (0, 1)


def test_a_record_without_a_location_in_the_review_band_is_rejected_with_its_review_item(
    engine: Engine, tmp_path: Path
) -> None:
    """A bare name in the right city scores in the review band against the place of that name: a reviewer
    could only merge it there or make it a listing without a place. It is rejected; no item is left open."""
    result = after_a_located_place(engine, tmp_path, (408, 409), "x4,Olimpico,Café,,MONTREAL,,,,\n")
    assert result["status"] == "partial" and result["counts"]["records_error"] == 1
    (decision,) = q(
        engine, "select match_method from staging.listing_info where job_id = :j", j=result["job_id"]
    )
    assert decision.match_method == "review"  # what the matcher made of it
    assert q(engine, "select count(*) from pipeline.review_items")[0][0] == 0
    assert q(engine, "select count(*) from public.listings")[0][0] == 1


def test_an_impossible_value_after_transform_rejects_the_record_before_staging(
    engine: Engine, tmp_path: Path
) -> None:
    """A two-letter country that is no ISO code ("ÉU" passes transform's letter check): the record is
    rejected by transform, so that it never reaches staging (whose gate would stop the whole batch)."""
    with engine.begin() as conn:
        apply_config(conn, csv_config(410, ["ID", "Name", "Address1", "City", "Country"]))
    path = tmp_path / "f.csv"
    path.write_text("ID,Name,Address1,City,Country\nc1,Chez Nous,5 rue Peel,Montréal,CA\n"
                    "c2,Chez Eux,6 rue Peel,Montréal,ÉU\n")  # fmt: skip
    result = run_job(410, file=path)
    assert result["status"] == "partial" and result["counts"]["records_error"] == 1
    assert result["counts"]["records_new"] == 1
    (err,) = q(engine, "select stage, error_type, record_no from pipeline.job_errors where job_id = :j"
                       " and error_message like '[error]%'", j=result["job_id"])  # fmt: skip
    assert (err.stage, err.error_type, err.record_no) == ("validation", "validation:country_code", 2)
    staged = q(engine, "select record_no from staging.listing_info where job_id = :j", j=result["job_id"])
    assert [r.record_no for r in staged] == [1]


def public_writes(engine: Engine) -> int:
    """Rows inserted, updated or deleted in `public` so far, as PostgreSQL's statistics count them, once
    every backend has reported: the pipeline's pooled connections are closed, and a backend reports at the
    latest about a second after it went idle, so the count is read until it holds still for 1.5 s."""
    from listings.db.engine import get_engine

    get_engine().dispose()

    def count() -> int:
        with engine.connect() as conn:
            conn.execute(text("select pg_stat_clear_snapshot()"))
            sql = ("select coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) from pg_stat_user_tables"
                   " where schemaname = 'public'")  # fmt: skip
            return int(conn.execute(text(sql)).scalar_one())

    value, still_since, deadline = count(), time.monotonic(), time.monotonic() + 15
    while time.monotonic() - still_since < 1.5 and time.monotonic() < deadline:
        time.sleep(0.25)
        now = count()
        if now != value:
            value, still_since = now, time.monotonic()
    return value


def test_an_unchanged_re_run_writes_no_row_to_public(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        apply_config(conn, csv_config(411, ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone",
                                            "Images", "Hours", "Lat", "Lng"], images={"enabled": False}))  # fmt: skip
    path = tmp_path / "f.csv"
    path.write_text(
        "ID,Name,Category,Address1,City,Postal,Phone,Images,Hours,Lat,Lng\n"
        + "".join(
            f"p{i},Place {i},Restaurant,{i} rue Peel,Montréal,H3C 2G9,514-555-{i:04d},"
            f"https://img.example/{i}.jpg,Mon-Fri 9am-5pm,45.5{i:02d},-73.5{i:02d}\n"
            for i in range(20)
        )
    )
    before = public_writes(engine)
    first = run_job(411, file=path)
    assert first["counts"]["records_new"] == 20
    written = public_writes(engine)
    assert written - before >= 20 * 4  # the measure sees a promotion's writes (listings, infos, places...)
    again = run_job(411, file=path)
    assert again["counts"]["records_unchanged"] == 20
    assert public_writes(engine) == written


def test_an_edit_made_while_a_promotion_is_built_is_kept_and_the_promotion_built_again(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from listings.catalogue import edits
    from listings.pipeline import promote

    with engine.begin() as conn:
        apply_config(conn, config(412))
    (tmp_path / "a.csv").write_text(HEADER + GOOD)
    run_job(412, file=tmp_path / "a.csv")
    (info_id,) = q(engine, "select id from public.listing_info")[0]
    # The source renames the place and changes its phone.
    (tmp_path / "b.csv").write_text(
        HEADER + GOOD.replace("Café Olimpico", "Olimpico Bar").replace("0101", "0199")
    )
    job_id = steps.start(412, params={"file": str(tmp_path / "b.csv")})
    for step in ("extract", "transform", "stage", "match"):
        getattr(steps, step)(job_id)

    # The promotion's first build: its change logs, then an admin renames the listing_info (which locks
    # its name), then the apply, which finds the row changed since the change logs were built.
    run_dbt, refused = promote.run_dbt, []

    def edited_between_build_and_apply(args: list[str], **kwargs: Any) -> object:
        if args[0] != "build" or refused:
            return run_dbt(args, **kwargs)
        job = ["--vars", json.dumps({"job_id": job_id})]
        run_dbt(["build", "--select", "promotion", "--exclude", "promotion__applied", *job], **kwargs)
        with engine.begin() as conn:
            edits.edit_listing_info(conn, info_id, {"name": "Olimpico (Mile End)"}, user="ops")
        try:
            return run_dbt(["run", "--select", "promotion__applied", *job], **kwargs)
        except promote.DbtError as exc:
            refused.append(str(exc))
            assert q(engine, "select name from public.listing_info")[0][0] == "Olimpico (Mile End)"
            raise

    monkeypatch.setattr(promote, "run_dbt", edited_between_build_and_apply)
    steps.promote(job_id)  # refused once, then built again from the catalogue as the admin left it
    assert len(refused) == 1
    assert "1 row(s) of public.listing_info changed since the change log was built" in refused[0]
    row = q(
        engine,
        "select li.name, ci.international_phone from public.listing_info li"
        " join public.contact_info ci on ci.id = li.contact_info_id",
    )
    assert [tuple(r) for r in row] == [("Olimpico (Mile End)", "+15145550199")]
    (item,) = q(engine, "select item_type, payload from pipeline.review_items")
    assert item.item_type == "manual_edit_conflict"
    assert (item.payload["field"], item.payload["source_value"]) == ("name", "Olimpico Bar")
    assert q(engine, "select promoted_at is not null from pipeline.jobs where id = :j", j=job_id)[0][0]


def test_a_large_job_builds_its_change_logs_in_parallel_and_skips_them_when_unchanged(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job from PARALLEL_FROM_RECORDS staged records (the suite's small jobs build in one invocation, on
    one thread) builds its records first, then its change logs on BUILD_THREADS dbt threads and the apply:
    the same promotion. Re-run unchanged, it builds the apply alone; unless a change log still holds rows of
    an unapplied build of the job, which a full build clears."""
    from listings.pipeline import promote

    monkeypatch.setattr(promote, "PARALLEL_FROM_RECORDS", 2)
    with engine.begin() as conn:
        apply_config(conn, config(405))
    path = tmp_path / "f.csv"
    path.write_text(
        HEADER
        + GOOD
        + "b,Café Névé,Café,151 rue Rachel E,Montréal,H2W 1E1,514-555-0202,45.5188,-73.5790\n"
        + "c,Dispatch Coffee,Café,267 rue Saint-Zotique O,Montréal,H2V 1A4,514-555-0303,45.5301,-73.6142\n"
    )
    invoked: list[str] = []
    real_run_dbt = promote.run_dbt

    def recorded(args: list[str], **kwargs: Any) -> object:
        if "--threads" in args:  # (not the project's parse)
            invoked.append(" ".join(args[: args.index("--threads")]))
        return real_run_dbt(args, **kwargs)

    monkeypatch.setattr(promote, "run_dbt", recorded)

    def staged_job() -> int:
        job_id = steps.start(405, params={"file": str(path)})
        for step in ("extract", "transform", "stage", "images", "match"):
            getattr(steps, step)(job_id)
        assert promote.is_large(job_id)
        invoked.clear()
        return job_id

    def catalogue() -> list[tuple[Any, ...]]:
        rows = q(engine, "select l.name, ci.international_phone, li.last_job_id from public.listings l"
                         " join public.listing_info li on li.listing_id = l.id"
                         " join public.contact_info ci on ci.id = li.contact_info_id order by 1")  # fmt: skip
        return [tuple(r) for r in rows]

    first = staged_job()
    steps.promote(first)
    records = "run --select promotion__records promotion__changes"
    assert invoked == [
        records, "build --select promotion --exclude promotion__records promotion__changes --exclude"
        " test_name:unique_key --exclude-resource-type unit_test"
    ]  # fmt: skip
    assert catalogue() == [
        ("Café Névé", "+15145550202", first), ("Café Olimpico", "+15145550101", first),
        ("Dispatch Coffee", "+15145550303", first),
    ]  # fmt: skip

    unchanged = staged_job()
    steps.promote(unchanged)
    assert invoked == [records, "build --select promotion__applied --exclude test_name:unique_key"
                                " --exclude-resource-type unit_test"]  # fmt: skip
    assert catalogue()[0][2] == first  # seen today already: nothing written
    counts = q(
        engine,
        "select records_unchanged, records_new from pipeline.job_results where job_id = :j",
        j=unchanged,
    )
    assert tuple(counts[0]) == (3, 0)
    assert q(engine, "select promoted_at is not null from pipeline.jobs where id = :j", j=unchanged)[0][0]

    # A killed build of the next job left a row in a change log: the full build clears it.
    leftover = staged_job()
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into staging.promotion__listings select (jsonb_populate_record(null::staging.promotion__listings,"
                " to_jsonb(l) || jsonb_build_object('job_id', :j))).* from staging.promotion__listings l"
                " where l.job_id = :first limit 1"
            ),
            {"j": leftover, "first": first},
        )
    steps.promote(leftover)
    assert invoked[0] == records and invoked[1].startswith(
        "build --select promotion --exclude promotion__records"
    )
    assert (
        q(engine, "select count(*) from staging.promotion__listings where job_id = :j", j=leftover)[0][0] == 0
    )
    assert [row[:2] for row in catalogue()] == [
        ("Café Névé", "+15145550202"), ("Café Olimpico", "+15145550101"), ("Dispatch Coffee", "+15145550303"),
    ]  # fmt: skip
    path.write_text(HEADER + GOOD)
    assert not promote.is_large(steps.start(405, params={"file": str(path)}))  # nothing staged yet
