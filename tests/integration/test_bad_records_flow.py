"""Bad input end to end: over-long values, NUL bytes in rejected rows, big CSV fields and unsafe
image URLs. Each is one clear per-record error in `pipeline.job_errors` (or a flag), the rest of the batch
is promoted, and a re-run gives the same result."""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
import random
import re
import string
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PREFIX
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.config.store import apply_config, parse_config
from listings.pipeline import steps
from listings.pipeline.runner import JobFailed, run_job
from listings.settings import get_settings
from listings.sources.base import SourceError

HEADER = ["ID", "Name", "Address1", "City", "Postal", "Phone", "Description", "Images", "Lat", "Lng"]
# fmt: off
A = ["A1", "Café Olimpico", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "Espresso.", "", "45.5235", "-73.6004"]
B = ["B2", "Hôtel Le Germain", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "Hotel.", "", "45.5020", "-73.5750"]
C = ["C3", "Musée des beaux-arts", "1380 rue Sherbrooke O", "Montréal", "H3G 1J5", "514-555-0103", "", "", "45.4985", "-73.5794"]
D = ["D4", "Bistro Chez Émile", "45 av. du Parc", "Québec", "G1R 4P5", "418-555-0104", "", "", "46.81", "-71.21"]
# fmt: on
DMO = 301
NAME_MAX, DESCRIPTION_MAX = 300, 10_000  # listings.transform.limits.FIELD_LIMITS


@pytest.fixture
def dmo(engine: Engine) -> int:
    with engine.begin() as conn:
        apply_config(conn, csv_config(DMO, HEADER, images={"enabled": False}))
    return DMO


def write_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows([HEADER, *rows])
    path.write_bytes(buf.getvalue().encode("utf-8"))
    return path


def with_(row: Sequence[str], **changes: str) -> list[str]:
    out = list(row)
    for column, value in changes.items():
        out[HEADER.index(column)] = value
    return out


def incompressible(length: int) -> str:
    """Letters and single spaces that pglz cannot compress, from a fixed seed."""
    rng = random.Random(13)
    chars = [rng.choice(string.ascii_letters + "éèàôç") for _ in range(length)]
    for i in range(7, length - 1, 9):
        chars[i] = " "
    return "".join(chars)


def inflate(path: Path, placeholder: str, value: str) -> None:
    """Put `value` in place of `placeholder` in a saved workbook's XML parts."""
    import zipfile

    with zipfile.ZipFile(path) as zin:
        parts = {info: zin.read(info) for info in zin.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in parts.items():
            zout.writestr(info, data.replace(placeholder.encode(), value.encode()))


def errors(engine: Engine, job_id: int) -> list[Any]:
    return q(
        engine,
        "select record_no, record_id, error_type, error_message, original_record from pipeline.job_errors"
        " where job_id = :j and stage = 'transform' order by record_no",
        j=job_id,
    )


def public_ids(engine: Engine) -> list[str]:
    return [r[0] for r in q(engine, "select external_source_id from public.listing_info order by 1")]


def transformed(engine: Engine, listings_env: Path, job_id: int) -> list[dict[str, Any]]:
    (path,) = q(
        engine, "select s3_path from pipeline.job_files where job_id = :j and stage = 'transformed'", j=job_id
    )
    records: list[dict[str, Any]] = json.loads(
        gzip.decompress((listings_env / "objects" / path[0].removeprefix("s3://")).read_bytes())
    )
    return records


def assert_rerun_is_the_same(engine: Engine, first: dict[str, Any], file: Path) -> dict[str, Any]:
    again = run_job(DMO, file=file)
    assert again["status"] == first["status"]
    assert again["counts"]["records_error"] == first["counts"]["records_error"]
    assert again["counts"]["records_unchanged"] == first["counts"]["records_new"]
    assert again["counts"]["records_new"] == again["counts"]["records_updated"] == 0
    key = [(e.record_no, e.record_id, e.error_type, e.error_message) for e in errors(engine, first["job_id"])]
    assert [
        (e.record_no, e.record_id, e.error_type, e.error_message) for e in errors(engine, again["job_id"])
    ] == key
    return again


# -- 5. over-long values ---------------------------------------------------------------------------------


def test_a_4000_character_name_is_one_record_error_and_the_batch_is_promoted(
    engine: Engine, dmo: int, tmp_path: Path
) -> None:
    # It used to fail the promotion of the whole batch, on every re-run: "index row size 4024 exceeds
    # btree maximum 2704" (public.listings' name index).
    long_name = incompressible(4000)  # (a repetitive one would be compressed below the limit)
    file = write_csv(tmp_path / "v1.csv", [A, with_(B, Name=long_name), C])
    first = run_job(dmo, file=file)
    assert first["status"] == "partial"
    assert (first["counts"]["records_new"], first["counts"]["records_error"]) == (2, 1)
    assert public_ids(engine) == ["A1", "C3"]
    (err,) = errors(engine, first["job_id"])
    assert (err.record_no, err.record_id, err.error_type) == (2, "row:2", "field_too_long")
    assert err.error_message == (
        f"row 2: the name (source field 'Name') is 4,000 characters long; at most {NAME_MAX:,} are allowed"
    )
    assert err.original_record["ID"] == "B2"
    assert_rerun_is_the_same(engine, first, file)


def test_a_huge_spreadsheet_cell_is_one_record_error_or_a_truncated_description(
    engine: Engine, tmp_path: Path, listings_env: Path
) -> None:
    import openpyxl

    config = {
        "dmo": {"id": DMO, "name": "Excel DMO", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
        "source_type": "xls",
        "field_mappings": {
            "source_id": "ID",
            "name": "Nom",
            "address1": "Adresse",
            "city": "Ville",
            "description": "Description",
        },
        "images": {"enabled": False},
    }
    with engine.begin() as conn:
        apply_config(conn, parse_config(config))
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["ID", "Nom", "Adresse", "Ville", "Description"])
    ws.append(["1", "Café du Quai", "1 rue du Quai", "Saguenay", "Vue sur le fjord."])
    ws.append(["2", "HUGE-NAME", "2 rue du Quai", "Saguenay", ""])
    ws.append(["3", "Auberge de la Rivière", "3 rue du Quai", "Saguenay", "Belle vue. " * 5000])  # 55 KB
    path = tmp_path / "export.xlsx"
    wb.save(path)
    # openpyxl (like Excel) writes at most 32,767 characters in a cell; other tools write more
    inflate(path, "HUGE-NAME", incompressible(2_000_000))  # a 2 MB name cell

    first = run_job(DMO, file=path)
    assert first["status"] == "partial"
    assert (first["counts"]["records_new"], first["counts"]["records_error"]) == (2, 1)
    assert public_ids(engine) == ["1", "3"]
    (err,) = errors(engine, first["job_id"])
    assert (err.record_no, err.error_type) == (
        2,
        "field_too_long",
    ) and "2,000,000 characters" in err.error_message
    # the error row keeps a bounded sample of the original, marked as cut
    assert (
        err.original_record["ID"] == "2" and "[truncated: 2,000,000 characters]" in err.original_record["Nom"]
    )
    assert len(json.dumps(err.original_record)) < 100_000
    (desc,) = q(engine, "select description from public.listing_info where external_source_id = '3'")
    limit = DESCRIPTION_MAX
    assert len(desc[0]) <= limit and desc[0].startswith("Belle vue. Belle vue.") and desc[0].endswith("…")
    (rec3,) = [r for r in transformed(engine, listings_env, first["job_id"]) if r["source_id"] == "3"]
    assert any(f.startswith("field_truncated: description") for f in rec3["flags"])

    again = run_job(DMO, file=path)
    assert (again["counts"]["records_unchanged"], again["counts"]["records_error"]) == (2, 1)


# -- 8. NUL bytes in a rejected row ----------------------------------------------------------------------


def test_a_nul_byte_after_64k_in_a_rejected_row_is_cleaned_from_its_error_row(
    engine: Engine, dmo: int, tmp_path: Path
) -> None:
    # The binary check reads the first 64 KB only; a NUL later in a ragged row used to crash transform
    # (PostgreSQL's jsonb refuses \u0000) and fail the job with raw SQL as its summary.
    long = "Une description de dix-huit mille caractères. " * 400  # 18,800 characters (cut, flagged)
    rows = [with_(r, Description=long) for r in (A, B, C, D)]  # 75 KB before the bad rows
    nul_in_name = with_(D, ID="E5", Name="Chez\x00 Nul", Address1="1 rue du Zéro")
    ragged = [*with_(A, ID="Y9", Name="Trop\x00 de champs", Address1="2 rue\x00"), "sur\x00plus"]
    file = write_csv(tmp_path / "v1.csv", [*rows, nul_in_name, ragged])
    assert file.read_bytes().find(b"\x00") > 64 * 1024

    first = run_job(dmo, file=file)
    assert first["status"] == "partial"
    assert (first["counts"]["records_new"], first["counts"]["records_error"]) == (5, 1)
    assert public_ids(engine) == ["A1", "B2", "C3", "D4", "E5"]
    assert q(engine, "select name from public.listings where name like 'Chez%'") == [("Chez Nul",)]
    (err,) = errors(engine, first["job_id"])
    assert (err.record_no, err.error_type) == (6, "ragged_row") and "row 6 (line 7)" in err.error_message
    original = err.original_record
    assert original["Name"] == "Trop de champs" and original["_extra"] == ["surplus"]
    assert "\x00" not in json.dumps(original) and "Trop de champs" in original["_raw"]
    assert_rerun_is_the_same(engine, first, file)


# -- 9. big CSV fields -----------------------------------------------------------------------------------


def test_big_csv_fields_are_read_and_the_description_truncated(
    engine: Engine, dmo: int, tmp_path: Path, listings_env: Path
) -> None:
    # An unquoted field over 128 KB used to fail the whole file, with no row number and no raw object
    # stored; a quoted 300 KB multi-line field gave 299 false ragged_row errors.
    unquoted = "x" * 200_000
    multiline = "\n".join(f"Paragraphe {i} " + "y" * 1000 for i in range(300))
    file = write_csv(
        tmp_path / "big.csv", [A, with_(B, Description=unquoted), with_(C, Description=multiline), D]
    )
    assert b'"' not in file.read_bytes().split(b"\r\n")[2]  # B's field is written unquoted

    first = run_job(dmo, file=file)
    assert first["status"] == "succeeded", first
    assert (first["counts"]["records_new"], first["counts"]["records_error"]) == (4, 0)
    assert public_ids(engine) == ["A1", "B2", "C3", "D4"]
    limit = DESCRIPTION_MAX
    descriptions = q(
        engine, "select external_source_id, length(description) from public.listing_info order by 1"
    )
    lengths = {sid: n for sid, n in descriptions}
    assert lengths["B2"] == limit and limit - 1100 < lengths["C3"] <= limit  # C3's is cut at a line end
    (raw,) = q(engine, "select status, record_count from pipeline.job_files where stage = 'raw'")
    assert (raw.status, raw.record_count) == ("success", 4)
    cut = {
        r["source_id"]: [f for f in r["flags"] if f.startswith("field_truncated")]
        for r in transformed(engine, listings_env, first["job_id"])
    }
    assert cut["B2"] == [f"field_truncated: description (200,000 characters) cut to {limit:,}"]
    assert cut["C3"] and cut["A1"] == cut["D4"] == []
    assert_rerun_is_the_same(engine, first, file)


def test_a_field_over_the_configured_cap_is_a_row_error_with_its_row_and_column(
    engine: Engine, dmo: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LISTINGS_CSV_MAX_FIELD_BYTES", "100000")
    get_settings.cache_clear()
    huge = "z" * 2_000_000  # unquoted, 2 MB
    multiline = "\n".join("w" * 1000 for _ in range(300))  # quoted, 300 KB over 300 lines
    file = write_csv(
        tmp_path / "big.csv", [A, with_(B, Description=huge), with_(C, Description=multiline), D]
    )

    first = run_job(dmo, file=file)
    assert first["status"] == "partial"
    assert (
        first["counts"]["records_total"],
        first["counts"]["records_new"],
        first["counts"]["records_error"],
    ) == (4, 2, 2)
    assert public_ids(engine) == ["A1", "D4"]
    found = errors(engine, first["job_id"])
    assert [(e.record_no, e.record_id, e.error_type) for e in found] == [
        (2, "row:2", "field_too_large"), (3, "row:3", "field_too_large"),
    ]  # fmt: skip
    assert found[0].error_message.startswith(
        "row 2 (line 3): the value of column 'Description' is 2,000,000 bytes"
    )
    assert "100,000" in found[0].error_message and "LISTINGS_CSV_MAX_FIELD_BYTES" in found[0].error_message
    assert found[1].error_message.startswith(
        "row 3 (lines 4-303): the value of column 'Description' is 300,299 bytes"
    )
    assert found[0].original_record["ID"] == "B2" and found[0].original_record["_line_no"] == 3
    assert all(len(json.dumps(e.original_record)) < 100_000 for e in found)  # not the 2 MB value
    (raw,) = q(engine, "select status, record_count from pipeline.job_files where stage = 'raw'")
    assert (raw.status, raw.record_count) == ("success", 4)
    assert_rerun_is_the_same(engine, first, file)


def test_extract_stores_the_raw_object_whatever_the_parse_outcome(
    engine: Engine, dmo: int, tmp_path: Path, listings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from listings.sources.csv_source import CsvSource

    def broken(self: Any, data: bytes, config: Any) -> Any:
        raise csv.Error("field larger than field limit (131072)")  # what a >128 KB field used to raise

    monkeypatch.setattr(CsvSource, "parse", broken)
    file = write_csv(tmp_path / "v1.csv", [A, B])
    with pytest.raises(JobFailed) as err:
        run_job(dmo, file=file)
    assert err.value.step == "extract"
    (job,) = q(engine, "select status, error_summary from pipeline.jobs")
    assert job.status == "failed" and "field larger than field limit" in job.error_summary
    (raw,) = q(
        engine, "select status, record_count, s3_path, metadata from pipeline.job_files where stage = 'raw'"
    )
    assert raw.status == "failed" and raw.record_count is None
    assert (
        "could not be parsed" in raw.metadata["error"]
        and "field larger than field limit" in raw.metadata["error"]
    )
    stored = listings_env / "objects" / raw.s3_path.removeprefix("s3://")
    assert gzip.decompress(stored.read_bytes()) == file.read_bytes()
    with pytest.raises(SourceError, match="field larger than field limit"):
        steps.extract(err.value.job_id)  # a retry fails the same way, from the stored row
    assert q(engine, "select count(*) from pipeline.job_files")[0][0] == 1


# -- 10. unsafe image URLs -------------------------------------------------------------------------------


def test_only_http_image_urls_reach_public_and_the_admin_links_no_other(
    engine: Engine, dmo: int, tmp_path: Path, listings_env: Path, client_as: Callable[..., Any]
) -> None:
    images = "|".join([
        "https://img.example.org/a.jpg", "javascript:alert(document.cookie)", "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd", "http://img.example.org/b.jpg",
    ])  # fmt: skip
    file = write_csv(tmp_path / "v1.csv", [with_(A, Images=images), B])
    first = run_job(dmo, file=file)
    assert first["status"] == "succeeded"
    shown = q(engine, "select image from public.listing_images order by rank")
    assert [r[0] for r in shown] == ["https://img.example.org/a.jpg", "http://img.example.org/b.jpg"]
    (rec,) = [r for r in transformed(engine, listings_env, first["job_id"]) if r["source_id"] == "A1"]
    dropped = [f for f in rec["flags"] if f.startswith("invalid_image_url")]
    assert len(dropped) == 3 and any("javascript:alert" in f for f in dropped)
    assert_rerun_is_the_same(engine, first, file)

    # defence in depth: a row written before this check (or by hand) is not rendered as a link
    (info_id, listing_id) = q(
        engine, "select id, listing_id from public.listing_info where external_source_id = 'A1'"
    )[0]
    with engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(
            text("insert into public.listing_images (listing_info_id, image, rank) values (:i, :u, 9)"),
            {"i": info_id, "u": " JavaScript:alert(1)"},
        )
    page = client_as("viewer").get(f"{PREFIX}/listings/{listing_id}")
    assert page.status_code == 200
    hrefs = re.findall(r'href="([^"]*)"', page.text)
    assert "https://img.example.org/a.jpg" in hrefs
    assert not [h for h in hrefs if "javascript" in html.unescape(h).lower()]


# -- 5. the manual edit of an over-long value -----------------------------------------------------------


def test_an_over_long_manual_edit_is_a_form_error_and_saves_nothing(
    engine: Engine, dmo: int, tmp_path: Path, client_as: Callable[..., Any]
) -> None:
    from listings.catalogue import edits

    run_job(dmo, file=write_csv(tmp_path / "v1.csv", [A]))
    (info_id, listing_id) = q(engine, "select id, listing_id from public.listing_info")[0]
    before = q(engine, "select name, locked_fields from public.listings")
    with engine.begin() as conn, pytest.raises(edits.EditError, match=r"name: 4,000 characters; at most 300"):
        edits.edit_listing(conn, listing_id, {"name": "N" * 4000}, user="alice")
    with engine.begin() as conn, pytest.raises(edits.EditError, match=r"location.city: 500 characters"):
        edits.edit_listing(conn, listing_id, {"location": {"city": "C" * 500}}, user="alice")
    with engine.begin() as conn, pytest.raises(edits.EditError, match=r"description: 10,001 characters"):
        edits.edit_listing_info(conn, info_id, {"description": "d" * 10_001}, user="alice")

    admin = client_as("admin", "alice")
    bad = admin.post(f"{PREFIX}/listings/{listing_id}/fields/edit", data={"name": "N" * 4000})
    assert bad.status_code == 400 and 'data-error-for="name">name: 4,000 characters; at most 300' in bad.text
    bad_info = admin.post(f"{PREFIX}/listing-info/{info_id}/fields/edit", data={"name": "I" * 301})
    assert (
        bad_info.status_code == 400
        and 'data-error-for="name">name: 301 characters; at most 300' in bad_info.text
    )
    assert q(engine, "select name, locked_fields from public.listings") == before
    assert q(engine, "select count(*) from pipeline.listing_edits")[0][0] == 0


def test_a_database_error_fails_the_job_with_its_reason_not_its_sql(
    engine: Engine, dmo: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What failed the job is the database's message, not the statement with its parameters (a whole
    batch of records in the summary, unreadable on the jobs page)."""
    from sqlalchemy import text

    def finalize(job_id: int) -> Any:
        with engine.begin() as conn:
            conn.execute(
                text("select 1 / (count(*) - count(*)) from public.listings where name <> :n"),
                {"n": "x" * 500},
            )

    monkeypatch.setattr(steps, "finalize", finalize)
    with pytest.raises(JobFailed):
        run_job(DMO, file=write_csv(tmp_path / "a.csv", [A]))
    (summary,) = q(engine, "select error_summary from pipeline.jobs")[0]
    assert summary.startswith("finalize: database error: division by zero"), summary
    assert "select" not in summary.lower() and "xxxxx" not in summary
