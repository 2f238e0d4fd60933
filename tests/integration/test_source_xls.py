"""A spreadsheet DMO end to end: the bundled demo workbook (include/samples, made by make_xlsx_sample.py)
through raw → transformed → staging → public, a re-run that changes nothing, preview(), a legacy .xls
upload, and uploads that are not workbooks."""

from __future__ import annotations

import gzip
import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import xlwt  # type: ignore[import-untyped]
from dmo_helpers import q
from sqlalchemy import Engine

from listings.config.preview import preview
from listings.config.store import apply_config, load_config_file, parse_config
from listings.pipeline.runner import JobFailed, run_job

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "include" / "config" / "dmos" / "xls-demo.yaml"
SAMPLE = REPO / "include" / "samples" / "cantons-de-l-est-repertoire.xlsx"
DMO = 103
PUBLIC_ROWS = {"listings": 119, "listing_info": 119, "locations": 119, "contact_info": 119}


def table_counts(engine: Engine) -> dict[str, int]:
    names = ["listings", "listing_info", "locations", "contact_info"]
    return {n: q(engine, f"select count(*) from public.{n}")[0][0] for n in names}


@pytest.fixture
def demo(engine: Engine) -> int:
    with engine.begin() as conn:
        # The workbook's photo URLs name the demo's image host (make demo's port, not running here): images
        # off, else each of them is retried into a refused connection (15 s; test_images_flow.py covers images)
        config = load_config_file(DEMO_CONFIG)
        apply_config(
            conn, config.model_copy(update={"images": config.images.model_copy(update={"enabled": False})})
        )
    return DMO


def test_demo_workbook_end_to_end_then_unchanged(engine: Engine, demo: int, listings_env: Path) -> None:
    first = run_job(demo)  # the config's own file: include/samples/cantons-de-l-est-repertoire.xlsx
    assert first["status"] == "partial"
    assert first["counts"] == {
        "records_total": 120, "records_matched": 0, "records_review": 0, "records_new": 119,
        "records_updated": 0, "records_unchanged": 0,
        "records_duplicates": 0, "records_error": 1, "records_deleted": 0,
    }  # fmt: skip
    assert table_counts(engine) == PUBLIC_ROWS

    # raw: the workbook byte for byte, under the seed's `xls` naming, with what was read from it
    (raw,) = q(
        engine, "select s3_path, format, record_count, metadata from pipeline.job_files where stage = 'raw'"
    )
    assert raw.format == "xls" and raw.s3_path.endswith(".xls.gz") and raw.record_count == 120
    stored = listings_env / "objects" / raw.s3_path.removeprefix("s3://")
    assert gzip.decompress(stored.read_bytes()) == SAMPLE.read_bytes()
    meta = raw.metadata
    assert (meta["format"], meta["sheet"], meta["header_row"]) == ("xlsx", "Répertoire", 5)
    assert meta["sheets"] == ["Lisez-moi", "Répertoire", "Listes"]
    assert meta["header"][:3] == ["No de fiche", "Nom", "Catégorie"] and "Code postal" in meta["header"]
    assert meta["mapped_columns_missing"] == [] and meta["blank_rows"] == 3

    # the phone Excel turned into a date is a row error naming the cell, not a wrong phone number
    (err,) = q(
        engine, "select record_no, error_type, error_message, original_record from pipeline.job_errors"
    )
    assert (
        err.error_type == "invalid_cell" and "I69" in err.error_message and "2024-03-15" in err.error_message
    )
    assert err.original_record["_sheet_row"] == 69 and err.original_record["Téléphone"] == "2024-03-15"

    # numbers typed where text was meant come out as the text people see
    rows = {
        r.external_source_id: r
        for r in q(
            engine,
            """select li.external_source_id, l.name, loc.city, loc.state, loc.zip, loc.country, loc.lat, loc.lng,
                      c.local_phone
               from public.listing_info li join public.listings l on l.id = li.listing_id
               join public.locations loc on loc.id = l.location_id join public.contact_info c on c.id = li.contact_info_id""",
        )
    }
    assert len(rows) == 119 and all(k.isdigit() and len(k) == 5 for k in rows)  # "30001", never "30001.0"
    derby, newport, troy = rows["30119"], rows["30120"], rows["30121"]
    assert (derby.city, derby.state, derby.country, derby.zip) == ("Derby Line", "VT", "US", "05830")
    # the reader keeps the cell's digits ("5855"); transform restores the ZIP's lost leading zero
    assert newport.zip == "05855" and newport.local_phone == "(802) 555-0151"
    assert troy.zip == "05859" and float(troy.lat) == pytest.approx(44.9956)
    assert sum(1 for r in rows.values() if r.city == "Bromont") == 24  # the merged city cell fills its block
    phones = [r.local_phone for r in rows.values() if r.local_phone]
    assert not any(p.endswith(".0") or "e+" in p for p in phones)
    assert sum(1 for p in phones if p.startswith("(") and p[4:6] == ") ") >= 5  # Excel's phone format
    located = [r for r in rows.values() if r.lat is not None]
    assert len(located) > 100 and all(
        44.9 < float(r.lat) < 45.5 and -72.8 < float(r.lng) < -71.8 for r in located
    )

    again = run_job(demo)
    assert again["counts"]["records_unchanged"] == 119
    assert (again["counts"]["records_new"], again["counts"]["records_updated"]) == (0, 0)
    assert table_counts(engine) == PUBLIC_ROWS


def test_preview_of_the_demo_workbook(engine: Engine, demo: int) -> None:
    result = preview(load_config_file(DEMO_CONFIG), limit=5)
    assert result.source_type == "xls" and len(result.records) == 5
    assert result.metadata["sheet"] == "Répertoire" and result.metadata["format"] == "xlsx"
    first = result.records[0]
    assert first.provenance["sheet"] == "Répertoire" and first.provenance["sheet_row"] == 6
    assert first.provenance["original_id"].isdigit()
    fields = {f.field: f for f in first.fields}
    assert fields["name"].status == "ok" and fields["name"].path == "Nom"
    assert fields["source_id"].value == first.provenance["original_id"]
    assert fields["lat"].status == "ok" and fields["city"].value == "Sherbrooke"
    assert fields["twitter"].status == "unmapped"
    assert [e["error_type"] for e in result.errors] == ["invalid_cell"]


XLS_CONFIG = {
    "dmo": {"id": 104, "name": "Legacy Excel DMO", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
    "source_type": "xls",
    "field_mappings": {
        "source_id": "ID", "name": "Nom", "city": "Ville", "zip": "Code postal", "phone": "Téléphone",
        "lat": "Latitude", "lng": "Longitude",
    },
    "config_params": {"sheet": "Fiches"},
}  # fmt: skip


def _legacy_xls() -> bytes:
    wb = xlwt.Workbook(encoding="utf-8")
    notes = wb.add_sheet("Notes")
    notes.write(0, 0, "Export du 2024-05-14")
    ws = wb.add_sheet("Fiches")
    ws.write_merge(0, 0, 0, 5, "Répertoire — Saguenay")
    for c, name in enumerate(["ID", "Nom", "Ville", "Code postal", "Téléphone", "Latitude", "Longitude"]):
        ws.write(2, c, name)
    day = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    rows: list[list[Any]] = [
        [501.0, "Café du Quai", "Saguenay", "G7H 5B1", 4185550101.0, 48.4284, -71.0685],
        [502.0, "Auberge de la Rivière", "Saguenay", "G7B 3N8", "418-555-0102", 48.3361, -70.8800],
        [503.0, "Musée du Fjord", "Saguenay", "G7B 2M9", date(2024, 3, 15), 48.3340, -70.8700],
    ]
    for r, values in enumerate(rows, start=3):
        for c, value in enumerate(values):
            ws.write(r, c, value, day) if isinstance(value, date) else ws.write(r, c, value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_legacy_xls_upload_end_to_end(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "export.xls"
    path.write_bytes(_legacy_xls())
    with engine.begin() as conn:
        apply_config(conn, parse_config(XLS_CONFIG))
    res = run_job(104, file=path)
    assert res["status"] == "partial"
    assert (res["counts"]["records_new"], res["counts"]["records_error"]) == (2, 1)
    rows = q(
        engine,
        """select li.external_source_id, c.local_phone, loc.lat from public.listing_info li
           join public.listings l on l.id = li.listing_id join public.locations loc on loc.id = l.location_id
           join public.contact_info c on c.id = li.contact_info_id order by 1""",
    )
    assert [(r.external_source_id, r.local_phone) for r in rows] == [
        ("501", "(418) 555-0101"),  # phones normalised: national format here, E.164 beside it
        ("502", "(418) 555-0102"),
    ]
    (meta,) = q(engine, "select metadata from pipeline.job_files where stage = 'raw'")
    assert (meta[0]["format"], meta[0]["sheet"], meta[0]["header_row"]) == ("xls", "Fiches", 3)
    again = run_job(104, file=path)
    assert again["counts"]["records_unchanged"] == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"<html><body><table><tr><td>Nom</td></tr></table></body></html>", "HTML"),
        ("No de fiche;Nom\n1;Café\n".encode(), "CSV"),
        (b"", "empty"),
    ],
    ids=["html", "csv", "empty"],
)
def test_an_upload_that_is_no_workbook_fails_the_job(
    engine: Engine, demo: int, tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "export.xls"
    path.write_bytes(content)
    with pytest.raises(JobFailed) as err:
        run_job(demo, file=path)
    assert err.value.step == "extract"
    (job,) = q(engine, "select status, error_summary from pipeline.jobs")
    assert job.status == "failed" and "DMO 103" in job.error_summary and expected in job.error_summary
    assert table_counts(engine)["listings"] == 0
