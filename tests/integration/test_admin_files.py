"""The admin UI's file browsers against real PostgreSQL and real pipeline runs of CSV DMOs (file:// storage,
and one run on moto's S3 server), through FastAPI's TestClient as in test_admin_jobs.py.

Covered: the list (stage tabs and counts, filters by DMO / region / days / job, paging, htmx partial, bad
filters refused with a message), one file (metadata, job link, the job's other file), the preview of a
transformed file (record hash, the bridge's listing id, enrichment flags such as geotagged, paging) and of
a raw CSV (rows as read by the pipeline's CSV reader), the download (as stored and unzipped), a missing
object, and the bounded reading of stored objects (a record line too long, a scan cap, raw JSON as text, a
spreadsheet, a CSV cut at its cap)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PREFIX
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.admin import files
from listings.admin.queries import QueryError
from listings.config.store import apply_config, parse_config
from listings.pipeline.runner import run_job
from listings.settings import get_settings
from listings.storage import FileStore, dump_json_gz, gzip_bytes
from listings_dev.demo_sites import DemoSites

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Lat", "Lng"]
# fmt: off
OLIMPICO = ["a", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"]
GERMAIN = ["b", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"]
MUSEE = ["c", "Musée des beaux-arts", "Musée", "1380 rue Sherbrooke O", "Montréal", "H3G 1J5", "", "", ""]  # geotagged
ROM = ["r", "Royal Ontario Museum", "Musée", "100 Queen's Park", "Toronto", "M5S 2C6", "416-555-0100", "43.6677", "-79.3948"]
# fmt: on


def _upload(tmp_path: Path, rows: Sequence[Sequence[str]], name: str) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _ontario(dmo_id: int) -> Any:
    doc = csv_config(dmo_id, HEADER, images={"enabled": False}).document()
    doc["dmo"]["state"] = "ON"
    return parse_config(doc)


def _file_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-file-id="(\d+)"', html)]


def _records(html: str) -> list[dict[str, str]]:
    return [
        {"no": no, "hash": h, "listing": lid, "geo": geo}
        for no, h, lid, geo in re.findall(
            r'data-record-no="(\d+)" data-record-hash="([0-9a-f]*)" data-listing-id="(\d*)" data-geotagged="(\w+)"',
            html,
        )
    ]


@pytest.fixture
def places(listings_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoSites]:
    """The local Places stand-in, so that a record without coordinates is geotagged (test_geotag_flow)."""
    sites = DemoSites()
    sites.start()
    monkeypatch.setenv("LISTINGS_GEOCODER_URL", sites.base_url)
    monkeypatch.setenv("LISTINGS_GEOCODE_MIN_INTERVAL_MS", "0")
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_PLACES", json.dumps({"conn_type": "http", "password": sites.site.api_key})
    )
    get_settings.cache_clear()
    yield sites
    sites.stop()


def test_browse_filter_preview_and_download(
    client_as: Callable[..., Any], engine: Engine, places: DemoSites, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        apply_config(conn, csv_config(401, HEADER, images={"enabled": False}))
        apply_config(conn, _ontario(402))
    qc_upload = _upload(tmp_path, [OLIMPICO, GERMAIN, MUSEE], "401.csv")
    qc = run_job(401, file=qc_upload)
    on = run_job(402, file=_upload(tmp_path, [ROM], "402.csv"))
    assert (qc["status"], on["status"]) == ("succeeded", "succeeded")
    by = {
        (r.job_id, r.stage): r
        for r in q(
            engine, "select id, job_id, stage, file_size, record_count, s3_path from pipeline.job_files"
        )
    }
    qc_raw, qc_tr = by[(qc["job_id"], "raw")], by[(qc["job_id"], "transformed")]
    on_raw, on_tr = by[(on["job_id"], "raw")], by[(on["job_id"], "transformed")]

    client = client_as("viewer")
    page = client.get(PREFIX + "/files")
    assert page.status_code == 200, page.text
    assert _file_ids(page.text) == sorted([f.id for f in by.values()], reverse=True)  # newest first
    assert 'data-stage-count="raw">2<' in page.text and 'data-stage-count="transformed">2<' in page.text
    assert f'href="{PREFIX}/jobs/{qc["job_id"]}"' in page.text

    def ids(**params: Any) -> list[int]:
        res = client.get(PREFIX + "/files", params=params)
        assert res.status_code == 200, res.text
        return sorted(_file_ids(res.text))

    assert ids(stage="raw") == sorted([qc_raw.id, on_raw.id])
    assert ids(stage="transformed", dmo_id=401) == [qc_tr.id]
    assert ids(region="CA-ON") == sorted([on_raw.id, on_tr.id])
    assert ids(region="ca/qc") == sorted([qc_raw.id, qc_tr.id])
    assert ids(region="CA") == sorted(f.id for f in by.values())
    assert ids(region="US") == []
    assert ids(job_id=on["job_id"]) == sorted([on_raw.id, on_tr.id])
    today = datetime.now(UTC).date()
    assert ids(start=today.isoformat(), end=today.isoformat()) == sorted(f.id for f in by.values())
    assert ids(end=(today - timedelta(days=1)).isoformat()) == []
    assert ids(start=(today + timedelta(days=1)).isoformat()) == []
    # paging: one per page, newest first
    second = client.get(PREFIX + "/files", params={"per_page": 1, "page": 2})
    assert _file_ids(second.text) == [sorted((f.id for f in by.values()), reverse=True)[1]]
    assert "Page 2 of 4" in second.text
    # htmx asks for the results only
    partial = client.get(PREFIX + "/files?stage=raw", headers={"HX-Request": "true", "HX-Target": "results"})
    assert partial.text.lstrip().startswith('<section id="results"') and "<html" not in partial.text
    # bad filters: a message, nothing listed
    for params, message in (
        ({"stage": "cooked"}, "stage must be one of raw, transformed"),
        ({"start": "yesterday"}, "from must be a date"),
        ({"start": today.isoformat(), "end": (today - timedelta(days=2)).isoformat()}, "ends"),
        ({"region": "Québec!"}, "region must be a country code"),
        ({"dmo_id": "x"}, "dmo_id must be a whole number"),
    ):
        bad = client.get(PREFIX + "/files", params=params)
        assert bad.status_code == 400 and message in bad.text, (params, bad.text)

    # one transformed file: metadata, its job, its raw file, every record with hash, listing, flags
    detail = client.get(PREFIX + f"/files/{qc_tr.id}")
    assert detail.status_code == 200, detail.text
    html = detail.text
    assert f'href="{PREFIX}/jobs/{qc["job_id"]}" data-job-link' in html
    assert f'href="{PREFIX}/files/{qc_raw.id}" data-sibling="raw"' in html
    assert qc_tr.s3_path in html and "transformed" in html
    records = _records(html)
    bridge = {
        r.source_record_hash: r.listing_id
        for r in q(
            engine,
            "select source_record_hash, listing_id from pipeline.bridge_source_listing where job_file_id = :f",
            f=qc_tr.id,
        )
    }
    assert len(records) == 3 and {r["hash"] for r in records} == set(bridge)
    assert all(int(r["listing"]) == bridge[r["hash"]] for r in records)
    geo = {r["no"]: r["geo"] for r in records}
    assert geo == {"1": "no", "2": "no", "3": "yes"}  # only the record without coordinates was geotagged
    assert ">geotagged</span>" in html and ">category: cafe</span>" in html and ">phone E.164</span>" in html
    # paging through the records
    page2 = client.get(PREFIX + f"/files/{qc_tr.id}", params={"limit": 1, "offset": 1})
    (only,) = _records(page2.text)
    assert only["no"] == "2" and "Records 2–2 of 3" in page2.text
    assert f"/files/{qc_tr.id}?limit=1&amp;offset=2" in page2.text  # next
    assert f"/files/{qc_tr.id}?limit=1" in page2.text  # previous: back to the start
    part = client.get(
        PREFIX + f"/files/{qc_tr.id}?limit=1&offset=2",
        headers={"HX-Request": "true", "HX-Target": "file-preview"},
    )
    assert part.text.lstrip().startswith('<section id="file-preview"') and [
        r["no"] for r in _records(part.text)
    ] == ["3"]
    assert client.get(PREFIX + f"/files/{qc_tr.id}", params={"limit": 0}).status_code == 400
    assert client.get(PREFIX + f"/files/{qc_tr.id}", params={"offset": -1}).status_code == 400

    # the raw CSV, as rows the pipeline's CSV reader reads
    raw = client.get(PREFIX + f"/files/{qc_raw.id}")
    assert raw.status_code == 200 and 'data-kind="rows"' in raw.text
    assert "<th>Postal</th>" in raw.text and "Hôtel Le Germain" in raw.text and "delimiter" in raw.text
    assert len(re.findall(r'data-row-no="\d+"', raw.text)) == 3

    # downloads: the stored object as it is, and unzipped (the upload byte for byte)
    stored = client.get(PREFIX + f"/files/{qc_raw.id}/download")
    assert stored.status_code == 200 and stored.headers["content-type"] == "application/gzip"
    assert (
        "attachment" in stored.headers["content-disposition"]
        and ".csv.gz" in stored.headers["content-disposition"]
    )
    assert len(stored.content) == qc_raw.file_size
    assert gzip.decompress(stored.content) == qc_upload.read_bytes()
    plain = client.get(PREFIX + f"/files/{qc_raw.id}/download", params={"decompress": 1})
    assert plain.content == qc_upload.read_bytes() and plain.headers["content-type"] == "text/csv"
    transformed = client.get(PREFIX + f"/files/{qc_tr.id}/download", params={"decompress": "1"})
    assert [r["record_hash"] for r in json.loads(transformed.content)] == [r["hash"] for r in records]

    # unknown file; object gone from the store
    assert client.get(PREFIX + "/files/999999").status_code == 404
    assert client.get(PREFIX + "/files/999999/download").status_code == 404
    (get_settings().home / "objects" / on_raw.s3_path.removeprefix("s3://")).unlink()
    gone = client.get(PREFIX + f"/files/{on_raw.id}")
    assert gone.status_code == 200 and "The stored object is missing" in gone.text
    assert client.get(PREFIX + f"/files/{on_raw.id}/download").status_code == 404

    # these pages only read: a viewer's POST changes nothing
    before = q(engine, "select count(*) from pipeline.job_files")
    refused = client.post(PREFIX + f"/files/{qc_raw.id}/download")
    assert refused.status_code in (403, 405)
    assert q(engine, "select count(*) from pipeline.job_files") == before


def test_preview_reads_through_s3(
    client_as: Callable[..., Any], engine: Engine, tmp_path: Path, s3_storage: str
) -> None:
    with engine.begin() as conn:
        apply_config(conn, csv_config(403, HEADER, images={"enabled": False}))
    job = run_job(403, file=_upload(tmp_path, [OLIMPICO, GERMAIN], "403.csv"))
    assert job["status"] == "succeeded"
    assert not (get_settings().home / "objects").exists()  # nothing written to a local folder
    ((tr_id, raw_id),) = q(
        engine,
        "select max(id) filter (where stage = 'transformed'), max(id) filter (where stage = 'raw')"
        " from pipeline.job_files",
    )
    client = client_as("viewer")
    page = client.get(PREFIX + f"/files/{tr_id}")
    assert page.status_code == 200, page.text
    records = _records(page.text)
    assert len(records) == 2 and all(r["listing"] for r in records)
    raw = client.get(PREFIX + f"/files/{raw_id}")
    assert "Café Olimpico" in raw.text and len(re.findall(r'data-row-no="\d+"', raw.text)) == 2
    download = client.get(PREFIX + f"/files/{raw_id}/download", params={"decompress": 1})
    assert download.status_code == 200 and download.content.startswith(b"ID,Name,")


# ------------------------------------------------------------------------------------------------
# Bounded reading (the service, on a file:// store of its own)
# ------------------------------------------------------------------------------------------------


def _stored(
    store: FileStore, name: str, data: bytes, *, stage: str, fmt: str, **extra: Any
) -> dict[str, Any]:
    path = f"dev-trippl-data/{stage}/listings/ca/qc/9/20260101/{name}"
    store.put(path, data)
    return {"id": 1, "stage": stage, "format": fmt, "s3_path": f"s3://{path}", "dmo_id": None, **extra}


def test_preview_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileStore(tmp_path)
    records = [
        {
            "record_no": i,
            "record_hash": f"{i:064x}",
            "name": f"Place {i}",
            "flags": [],
            "lat": None,
            "lng": None,
        }
        for i in range(1, 8)
    ]
    records[2]["description"] = "x" * 5000  # one long line
    records[3]["flags"] = ["geotagged (cache)", "invalid_phone: '1'"]
    row = _stored(
        store, "001-a.json.gz", dump_json_gz(records), stage="transformed", fmt="json", record_count=7
    )

    monkeypatch.setattr(files, "MAX_LINE_BYTES", 1000)
    p = files.preview_records(store, row, offset=1, limit=3)
    assert p.kind == "records" and [r["record_no"] for r in p.rows] == [2, 3, 4]
    assert (
        p.rows[1].get("too_large") and p.rows[2]["geotagged"] and p.rows[2]["flags"] == ["invalid_phone: '1'"]
    )
    assert p.has_more and p.next_offset == 4 and p.prev_offset == 0
    last = files.preview_records(store, row, offset=6, limit=3)
    assert [r["record_no"] for r in last.rows] == [7] and not last.has_more and last.next_offset is None

    monkeypatch.setattr(files, "MAX_SCAN_BYTES", 2000)  # stops reading well before the end
    cut = files.preview_records(store, row, offset=5, limit=3)
    assert cut.truncated and cut.message == files.SCAN_STOPPED and not cut.has_more
    assert files.preview_records(store, row, offset=files.MAX_PREVIEW_OFFSET + 1).kind == "error"
    with pytest.raises(QueryError):
        files.preview_records(store, row, limit=files.PREVIEW_LIMIT_MAX + 1)

    # raw JSON: text, pretty-printed when small; a chunk at a time
    payload = json.dumps({"data": [{"id": i, "title": f"Event {i}"} for i in range(3)]}).encode()
    raw = _stored(store, "001-b.json.gz", gzip_bytes(payload), stage="raw", fmt="json")
    t = files.preview_records(store, raw)
    assert t.kind == "text" and t.text is not None and '\n  "data": [' in t.text and not t.has_more
    big = b"[" + b",".join(b'{"n": %d}' % i for i in range(40_000)) + b"]"
    monkeypatch.setattr(files, "PRETTY_MAX_BYTES", 10_000)
    monkeypatch.setattr(files, "MAX_SCAN_BYTES", 64 * 1024 * 1024)
    raw_big = _stored(store, "001-c.json.gz", gzip_bytes(big), stage="raw", fmt="json")
    first = files.preview_records(store, raw_big)
    assert first.text == big[: files.TEXT_CHUNK].decode() and first.has_more
    later = files.preview_records(store, raw_big, offset=first.next_offset or 0)
    assert later.text == big[files.TEXT_CHUNK : 2 * files.TEXT_CHUNK].decode()

    # a raw CSV past its cap: the rows of the head only, said so
    lines = ["ID,Name"] + [f"{i},Place {i}" for i in range(1, 2000)]
    csv_row = _stored(store, "001-d.csv.gz", gzip_bytes("\n".join(lines).encode()), stage="raw", fmt="csv")
    monkeypatch.setattr(files, "MAX_TEXT_BYTES", 1000)
    head = files.preview_records(store, csv_row, limit=200)
    assert head.truncated and head.columns == ["ID", "Name"] and 50 < len(head.rows) < 100
    assert head.rows[0]["values"] == {"ID": "1", "Name": "Place 1"}

    # a spreadsheet, read with the pipeline's workbook reader
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["ID", "Name", "City"])
    for i in range(1, 6):
        sheet.append([i, f"Lieu {i}", "Québec"])
    buf = io.BytesIO()
    book.save(buf)
    xls_row = _stored(store, "001-e.xls.gz", gzip_bytes(buf.getvalue()), stage="raw", fmt="xls")
    x = files.preview_records(store, xls_row, offset=2, limit=2)
    assert x.kind == "rows" and x.columns == ["ID", "Name", "City"] and x.total == 5
    assert [r["values"]["Name"] for r in x.rows] == ["Lieu 3", "Lieu 4"] and x.next_offset == 4

    # not gzip, missing, outside the store
    broken = _stored(store, "001-f.json.gz", b"not gzip at all", stage="transformed", fmt="json")
    assert files.preview_records(store, broken).kind == "error"
    assert "missing" in (
        files.preview_records(store, {**broken, "s3_path": broken["s3_path"] + "x"}).message or ""
    )
    escape = files.preview_records(store, {**broken, "s3_path": "s3://dev-trippl-data/../../etc/passwd"})
    assert escape.kind == "error"
    with pytest.raises(ValueError):
        files.object_path({"s3_path": "s3://dev-trippl-data/raw/../../secret"})
