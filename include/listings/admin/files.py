"""The file browsers of the admin UI: every stored raw and transformed file (`pipeline.job_files`) by
stage, DMO, day and region, one file's metadata, a bounded preview of its records, and its bytes for
download. No Airflow import: importable and testable on its own.

Reading an object never loads it whole into a page. The object is streamed from the store (a file for
`file://`, the GetObject body for `s3://`), gunzipped as it is read, and reading stops after the page:

- transformed files (`dump_json_gz`: a JSON array, one record per line) are read line by line; each record
  line is bounded (`MAX_LINE_BYTES`) and the records before the page are skipped without being parsed,
  up to `MAX_SCAN_BYTES` of decompressed data;
- raw CSV is previewed from its first `MAX_TEXT_BYTES` (cut at a line end), read with the pipeline's own
  CSV reader (encoding and delimiter detection, the job's config overrides);
- raw spreadsheets are read with the pipeline's workbook reader when they are at most `MAX_WORKBOOK_BYTES`;
- raw JSON (API, WordPress, website pages...) is shown as text in chunks of `TEXT_CHUNK` characters,
  pretty-printed when the payload is at most `PRETTY_MAX_BYTES`.

For a transformed file, each record shows its record hash, the listing it maps to (the bridge: this
file's row for the hash, else the DMO's latest; one query per page, `ix_bridge_source_listing_dmo_hash`),
and its enrichment flags (geotagged, coordinates, category mapped, phone in E.164, hours parsed, images).

Indexes: the list walks `job_files`' primary key backwards (newest first) and stops after one page; a DMO
filter alone is served by `ix_job_files_dmo_id_stage_file_date`, a job by `ix_job_files_job_id`. The
count behind the pager is bounded (`MAX_ROWS`). `job_files` holds two rows per job.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath
from typing import Any, BinaryIO, cast

from sqlalchemy import Connection, text

from listings.admin.queries import MAX_ROWS, Paging, QueryError, clamp_page, page_args, parse_day
from listings.storage import FileStore, ObjectNotFoundError, ObjectStore, S3Store
from listings.storage.store import object_path as stored_object_path
from listings.storage.store import split_path

STAGES = ("raw", "transformed")
PREVIEW_LIMIT_MAX = 200
MAX_PREVIEW_OFFSET = 100_000  # records (or text characters x 1000) a preview may skip
MAX_LINE_BYTES = 256 * 1024  # one transformed record line; longer ones are shown as "too large"
MAX_SCAN_BYTES = 64 * 1024 * 1024  # decompressed bytes read to reach a page
MAX_TEXT_BYTES = 8 * 1024 * 1024  # decompressed bytes of a raw CSV read for its preview
MAX_WORKBOOK_BYTES = 16 * 1024 * 1024  # a raw spreadsheet read whole for its preview
PRETTY_MAX_BYTES = 2 * 1024 * 1024  # a raw JSON payload up to this is pretty-printed
TEXT_CHUNK = 32 * 1024  # characters of raw text per preview page
DOWNLOAD_CHUNK = 256 * 1024
SCAN_STOPPED = (
    f"The preview stops after {MAX_SCAN_BYTES // 2**20} MB of decompressed data: download the file."
)
_REGION_RE = re.compile(r"([A-Za-z]{2})(?:[-/ ]([A-Za-z0-9]{1,3}))?")


class PreviewError(Exception):
    """The object cannot be previewed (missing, not gzip, too large); the message says why."""


@dataclass(frozen=True)
class FilePage:
    rows: list[dict[str, Any]]
    paging: Paging
    counts_by_stage: dict[str, int]
    filters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileDetail:
    file: dict[str, Any]  # the job_files row, its DMO's name, the job's status and config params
    siblings: list[dict[str, Any]]  # the job's other files (raw <-> transformed)
    error_count: int  # pipeline.job_errors rows that name this file
    bridge_rows: int  # pipeline.bridge_source_listing rows written from this file


@dataclass
class Preview:
    """One page of a stored file. `kind`: "records" (transformed), "rows" (CSV, spreadsheet),
    "text" (JSON and anything else raw), or "error" (`message` says why)."""

    kind: str
    offset: int
    limit: int
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    text: str | None = None
    has_more: bool = False
    truncated: bool = False  # a byte cap was reached: the rest of the file is not shown
    total: int | None = None  # records in the file, when known
    next_offset: int | None = None
    message: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # encoding, delimiter, sheet...

    @property
    def prev_offset(self) -> int | None:
        if self.offset <= 0:
            return None
        step = TEXT_CHUNK if self.kind == "text" else self.limit
        return max(0, self.offset - step)


# ------------------------------------------------------------------------------------------------
# The list
# ------------------------------------------------------------------------------------------------


def parse_region(region: str | None) -> tuple[str, str | None] | None:
    """`CA` -> ("CA", None); `CA-QC` or `CA/QC` -> ("CA", "QC"); QueryError for anything else."""
    if region is None or not region.strip():
        return None
    found = _REGION_RE.fullmatch(region.strip())
    if not found:
        raise QueryError(f"region must be a country code (CA) or country-state (CA-QC); got {region!r}")
    return found.group(1).upper(), (found.group(2) or "").upper() or None


def list_files(
    conn: Connection,
    *,
    stage: str | None = None,
    dmo_id: int | None = None,
    day_from: date | str | None = None,
    day_to: date | str | None = None,
    region: str | None = None,
    job_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> FilePage:
    """One page of stored files, newest first, matching every given filter: `stage` raw/transformed,
    `day_from`/`day_to` on the file's day (both included), `region` the DMO's country or country-state
    (`CA`, `CA-QC`), `job_id` one job's files. Counts by stage ignore the stage filter."""
    page, per_page = page_args(page, per_page)
    if stage is not None and stage not in STAGES:
        raise QueryError(f"stage must be one of {', '.join(STAGES)}; got {stage!r}")
    start, end = parse_day("from", day_from), parse_day("to", day_to)
    if start and end and end < start:
        raise QueryError(f"the date range ends ({end}) before it starts ({start})")
    where: list[str] = []
    params: dict[str, Any] = {}
    if dmo_id is not None:
        where.append("f.dmo_id = :dmo_id")
        params["dmo_id"] = dmo_id
    if job_id is not None:
        where.append("f.job_id = :job_id")
        params["job_id"] = job_id
    if start:
        where.append("f.file_date >= :start")
        params["start"] = start
    if end:
        where.append("f.file_date <= :end")
        params["end"] = end
    parsed = parse_region(region)
    if parsed:
        where.append("upper(f.country) = :country")
        params["country"] = parsed[0]
        if parsed[1]:
            where.append("upper(f.state) = :state")
            params["state"] = parsed[1]
    base = " and ".join(where) or "true"
    counts = {s: 0 for s in STAGES}
    for row in conn.execute(
        text(
            "select stage, count(*) as n from"
            f" (select f.stage from pipeline.job_files f where {base} limit :cap) as m group by 1"
        ),
        {**params, "cap": 2 * MAX_ROWS + 1},
    ):
        counts[str(row.stage)] = int(row.n)
    total = counts[stage] if stage else sum(counts.values())
    paging = clamp_page(page, per_page, total)
    if stage:
        base = f"{base} and f.stage = :stage"
        params["stage"] = stage
    rows = [
        dict(r)
        for r in conn.execute(
            text(
                "select f.id, f.job_id, f.stage, f.dmo_id, d.name as dmo_name, f.data_domain, f.country, f.state,"
                " f.file_date, f.batch, f.format, f.file_size, f.record_count, f.status, f.s3_path,"
                " f.created_at, j.status as job_status"
                " from pipeline.job_files f"
                " left join public.dmos d on d.id = f.dmo_id"
                " left join pipeline.jobs j on j.id = f.job_id"
                f" where {base} order by f.id desc limit :limit offset :offset"
            ),
            {**params, "limit": per_page, "offset": paging.offset},
        ).mappings()
    ]
    filters = {
        "stage": stage,
        "dmo_id": dmo_id,
        "from": start,
        "to": end,
        "region": f"{parsed[0]}-{parsed[1]}" if parsed and parsed[1] else (parsed[0] if parsed else None),
        "job_id": job_id,
    }
    return FilePage(rows=rows, paging=paging, counts_by_stage=counts, filters=filters)


def region_choices(conn: Connection) -> list[dict[str, str]]:
    """Every country and country-state of the DMOs, for the region filter (`value`, `label`)."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for r in conn.execute(
        text(
            "select distinct upper(country) as country, upper(state) as state from public.dmos order by 1, 2"
        )
    ):
        if r.country not in seen:
            seen.add(r.country)
            out.append({"value": r.country, "label": r.country})
        if r.state:
            out.append({"value": f"{r.country}-{r.state}", "label": f"{r.country} · {r.state}"})
    return out


# ------------------------------------------------------------------------------------------------
# One file
# ------------------------------------------------------------------------------------------------


def file_detail(conn: Connection, file_id: int) -> FileDetail | None:
    """The file's row with its DMO's name, its job's status and creation time, the job's config params
    (the snapshot's: how the raw file was read), the job's other files and the error and bridge rows
    that name this file; None if there is no such file."""
    row = (
        conn.execute(
            text(
                "select f.*, d.name as dmo_name, j.status as job_status, j.created_at as job_created_at,"
                " c.config_params, c.source_type"
                " from pipeline.job_files f"
                " left join public.dmos d on d.id = f.dmo_id"
                " left join pipeline.jobs j on j.id = f.job_id"
                " left join pipeline.job_configs c on c.job_id = f.job_id"
                " where f.id = :id"
            ),
            {"id": file_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        return None
    siblings = [
        dict(r)
        for r in conn.execute(
            text(
                "select id, stage, format, record_count, file_size, status, created_at from pipeline.job_files"
                " where job_id = :j and id <> :id order by case stage when 'raw' then 0 else 1 end, id"
            ),
            {"j": row["job_id"], "id": file_id},
        ).mappings()
    ]
    errors = int(
        conn.execute(
            text("select count(*) from pipeline.job_errors where job_id = :j and file_id = :id"),
            {"j": row["job_id"], "id": file_id},
        ).scalar_one()
    )
    bridge_rows = int(
        conn.execute(
            text("select count(*) from pipeline.bridge_source_listing where job_file_id = :id"),
            {"id": file_id},
        ).scalar_one()
    )
    return FileDetail(file=dict(row), siblings=siblings, error_count=errors, bridge_rows=bridge_rows)


def object_path(file_row: Mapping[str, Any]) -> str:
    """The store's `bucket/key` path of a file row (`s3_path` is the logical `s3://` URI whatever the
    backend); ValueError if it is not a safe object path."""
    path = stored_object_path(str(file_row["s3_path"]))
    split_path(path)
    return path


def download_name(file_row: Mapping[str, Any], *, decompressed: bool = False) -> str:
    """`file-<id>-<stage>-<object name>`; without `.gz` when the download is decompressed. Only a name: an
    odd `s3_path` still gets one (the download itself goes through `object_path`'s check)."""
    name = PurePosixPath(str(file_row["s3_path"])).name
    if decompressed:
        name = name.removesuffix(".gz")
    return f"file-{file_row['id']}-{file_row['stage']}-{name}"


def open_object(store: ObjectStore, path: str) -> BinaryIO:
    """A readable stream of the stored object's bytes, without reading it whole (a file of a `file://`
    store, the body of an S3 GetObject). Another store is read whole only when it is small enough.
    ObjectNotFoundError if the object is gone."""
    if isinstance(store, FileStore):
        bucket, key = split_path(path)
        try:
            return open(store.root.joinpath(bucket, *key.split("/")), "rb")  # the caller closes it
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFoundError(path) from None
    if isinstance(store, S3Store):
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        bucket, key = split_path(path)
        try:
            response = store.client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            info = getattr(exc, "response", None) or {}
            status = int(info.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if status == 404 or info.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchBucket", "404"):
                raise ObjectNotFoundError(path) from None
            raise
        return cast(BinaryIO, response["Body"])
    if store.size(path) > MAX_SCAN_BYTES:
        raise PreviewError(f"the object is over {MAX_SCAN_BYTES:,} bytes: download it instead")
    return io.BytesIO(store.get(path))


def iter_object(
    store: ObjectStore, file_row: Mapping[str, Any], *, decompress: bool = False, chunk: int = DOWNLOAD_CHUNK
) -> Iterator[bytes]:
    """The stored object's bytes in chunks (gunzipped with `decompress`), for a download."""
    stream = open_object(store, object_path(file_row))
    try:
        source: BinaryIO = cast(BinaryIO, gzip.GzipFile(fileobj=stream)) if decompress else stream
        while True:
            data = source.read(chunk)
            if not data:
                return
            yield data
    finally:
        stream.close()


# ------------------------------------------------------------------------------------------------
# Preview
# ------------------------------------------------------------------------------------------------


class _Capped:
    """Reads a gunzipped stream, counting bytes; gives nothing after `cap` of them (`hit_cap` says whether
    the cap cut the data short)."""

    def __init__(self, raw: BinaryIO, cap: int) -> None:
        self._gz = gzip.GzipFile(fileobj=raw)
        self.cap = cap
        self.used = 0
        self.hit_cap = False
        self._checked = False

    def _count(self, data: bytes) -> bytes:
        self.used += len(data)
        if self.used >= self.cap and not self._checked:
            self._checked = True
            self.hit_cap = bool(self._gz.read(1))  # anything left: the cap cut the data
        return data

    def read(self, n: int) -> bytes:
        if self.used >= self.cap:
            return b""
        return self._count(self._gz.read(min(n, self.cap - self.used)))

    def readline(self, limit: int) -> bytes:
        if self.used >= self.cap:
            return b""
        return self._count(self._gz.readline(min(limit, self.cap - self.used)))

    def skip_line(self) -> None:
        """Consume the rest of the current line (bounded by the cap)."""
        while True:
            piece = self.readline(64 * 1024)
            if not piece or piece.endswith(b"\n"):
                return


def preview_records(
    store: ObjectStore,
    file_row: Mapping[str, Any],
    *,
    offset: int = 0,
    limit: int = 50,
    conn: Connection | None = None,
) -> Preview:
    """One page of the file's content: records of a transformed file (with their listing when `conn` is
    given), rows of a raw CSV or spreadsheet, text of any other raw payload. Never raises for the
    object's content: a problem comes back as a Preview of kind "error"."""
    if not 1 <= limit <= PREVIEW_LIMIT_MAX:
        raise QueryError(f"limit must be between 1 and {PREVIEW_LIMIT_MAX}; got {limit}")
    if offset < 0:
        raise QueryError(f"offset must be 0 or more; got {offset}")
    stage, fmt = file_row.get("stage"), (file_row.get("format") or "json")
    kind = "records" if stage == "transformed" else "rows" if fmt in ("csv", "xls") else "text"
    cap = MAX_PREVIEW_OFFSET * (1000 if kind == "text" else 1)
    if offset > cap:
        return Preview(
            "error", offset, limit, message=f"The preview reaches {cap:,} at most: download the file."
        )
    try:
        path = object_path(file_row)
        stream = open_object(store, path)
    except ObjectNotFoundError:
        return Preview(
            "error", offset, limit, message=f"The stored object is missing: {file_row.get('s3_path')}"
        )
    except (PreviewError, ValueError) as exc:
        return Preview("error", offset, limit, message=str(exc))
    try:
        if kind == "records":
            preview = _transformed(stream, offset, limit, file_row)
        elif fmt == "csv":
            preview = _csv(stream, offset, limit, file_row)
        elif fmt == "xls":
            preview = _workbook(stream, offset, limit, file_row)
        else:
            preview = _text(stream, offset)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        return Preview("error", offset, limit, message=f"The stored object cannot be read as gzip: {exc}")
    finally:
        stream.close()
    if preview.kind == "records" and conn is not None and preview.rows:
        attach_listings(conn, file_row, preview.rows)
    return preview


def _transformed(stream: BinaryIO, offset: int, limit: int, file_row: Mapping[str, Any]) -> Preview:
    reader = _Capped(stream, MAX_SCAN_BYTES)
    total = file_row.get("record_count")
    preview = Preview("records", offset, limit, total=int(total) if total is not None else None)
    seen = 0
    while True:
        line = reader.readline(MAX_LINE_BYTES + 1)
        if not line:
            break
        complete = line.endswith(b"\n") or len(line) <= MAX_LINE_BYTES
        stripped = line.strip()
        if stripped in (b"[", b"]", b""):
            continue
        seen += 1
        if seen <= offset:
            if not complete:
                reader.skip_line()
            continue
        if len(preview.rows) >= limit:
            preview.has_more = True
            break
        if not complete:
            reader.skip_line()
            preview.rows.append({"record_no": seen, "too_large": True, "flags": [], "enrichment": []})
            continue
        try:
            record = json.loads(stripped.removesuffix(b","))
        except ValueError:
            if seen == 1 and offset == 0:
                return Preview(
                    "error", offset, limit,
                    message="This file is not one JSON record per line: download it to read it.",
                )  # fmt: skip
            preview.rows.append({"record_no": seen, "unreadable": True, "flags": [], "enrichment": []})
            continue
        if isinstance(record, dict):
            preview.rows.append(summarize_record(record))
    preview.truncated = reader.hit_cap
    if preview.total is not None:
        preview.has_more = offset + len(preview.rows) < preview.total and not reader.hit_cap
    if preview.has_more:
        preview.next_offset = offset + len(preview.rows)
    if not preview.rows and offset and not preview.truncated:
        preview.message = f"The file has no record past {offset:,}."
    if preview.truncated:
        preview.message = SCAN_STOPPED
    return preview


def summarize_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the preview shows of one transformed record: its number, hash, name and place, the listing the
    transform matched it to, its enrichment flags (what was added) and its issue flags (what was wrong)."""
    flags = [str(f) for f in record.get("flags") or []]
    enrichment: list[str] = []
    geotagged = any(f.startswith("geotagged") for f in flags) or bool(record.get("geotag"))
    if geotagged:
        enrichment.append(next((f for f in flags if f.startswith("geotagged")), "geotagged"))
    if record.get("lat") is not None and record.get("lng") is not None:
        enrichment.append("coordinates")
    if record.get("category") and record.get("category_method") not in (None, "unmapped"):
        enrichment.append(f"category: {record['category']}")
    if record.get("phone_e164"):
        enrichment.append("phone E.164")
    if record.get("hours_status") in ("parsed", "ok", "complete"):
        enrichment.append("hours parsed")
    images = record.get("images") or []
    if images:
        enrichment.append(f"{len(images)} image{'s' if len(images) != 1 else ''}")
    if record.get("listing_id") is not None:
        enrichment.append(f"matched ({record.get('match_method') or 'bridge'})")
    issues = [f for f in flags if not f.startswith("geotagged")]
    return {
        "record_no": record.get("record_no"),
        "row_nos": record.get("row_nos") or [],
        "record_hash": record.get("record_hash"),
        "source_id": record.get("source_id"),
        "name": record.get("name"),
        "city": record.get("city"),
        "state": record.get("state"),
        "category": record.get("category"),
        "transform_listing_id": record.get("listing_id"),
        "geotagged": geotagged,
        "enrichment": enrichment,
        "flags": issues,
        "record": dict(record),
    }


def attach_listings(conn: Connection, file_row: Mapping[str, Any], rows: list[dict[str, Any]]) -> None:
    """Set each row's `listing_id` (and how it was matched) from the bridge, in one query for the page:
    the bridge row this file wrote for the hash, else the DMO's latest one (an unchanged record adds no
    row once it is mapped); the transform's own match when the bridge has none."""
    hashes = sorted({str(r["record_hash"]) for r in rows if r.get("record_hash")})
    found: dict[str, Any] = {}
    if hashes and file_row.get("dmo_id") is not None:
        found = {
            r.source_record_hash: r
            for r in conn.execute(
                text(
                    "select distinct on (b.source_record_hash) b.source_record_hash, b.listing_id,"
                    " b.listing_info_id, b.match_method, b.certainty_score, b.job_file_id = :file as this_file"
                    " from pipeline.bridge_source_listing b"
                    " where b.dmo_id = :dmo and b.source_record_hash = any(:hashes)"
                    " order by b.source_record_hash, (b.job_file_id = :file) desc, b.id desc"
                ),
                {"dmo": file_row["dmo_id"], "hashes": hashes, "file": file_row["id"]},
            )
        }
    for row in rows:
        hit = found.get(str(row.get("record_hash")))
        if hit is not None and hit.listing_id is not None:
            row["listing_id"] = int(hit.listing_id)
            row["match_method"] = hit.match_method
            row["certainty"] = float(hit.certainty_score) if hit.certainty_score is not None else None
            row["bridge"] = "this file" if hit.this_file else "an earlier file"
        else:
            row["listing_id"] = row.get("transform_listing_id")
            row["match_method"] = None
            row["certainty"] = None
            row["bridge"] = None


def _csv(stream: BinaryIO, offset: int, limit: int, file_row: Mapping[str, Any]) -> Preview:
    from listings.sources.csv_reader import CsvFormatError, CsvRow, iter_csv

    reader = _Capped(stream, MAX_TEXT_BYTES)
    data = _read_all(reader)
    preview = Preview("rows", offset, limit)
    if reader.hit_cap:
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        data = data[: cut + 1] if cut > 0 else data
        preview.truncated = True
    params = file_row.get("config_params") or {}
    try:
        rows = iter_csv(data, encoding=params.get("encoding"), delimiter=params.get("delimiter"))
    except (CsvFormatError, ValueError, LookupError) as exc:
        return Preview("error", offset, limit, message=f"The CSV cannot be read: {exc}")
    preview.columns = list(rows.header)
    preview.detail = {"encoding": rows.encoding, "delimiter": rows.delimiter}
    seen = 0
    for item in rows:
        seen += 1
        if seen <= offset:
            continue
        if len(preview.rows) >= limit:
            preview.has_more = True
            break
        if isinstance(item, CsvRow):
            preview.rows.append(
                {"row_no": item.row_no, "line_no": item.line_no, "values": _cells(item.values)}
            )
        else:
            preview.rows.append({
                "row_no": item.row_no, "line_no": item.line_no, "error": f"{item.error_type}: {item.message}",
                "values": _cells({k: v for k, v in item.original.items() if k in rows.header}),
            })  # fmt: skip
    if preview.has_more:
        preview.next_offset = offset + len(preview.rows)
    if preview.truncated:
        preview.message = (
            f"Only the first {MAX_TEXT_BYTES // 2**20} MB are previewed: download the file for the rest."
        )
    return preview


def _workbook(stream: BinaryIO, offset: int, limit: int, file_row: Mapping[str, Any]) -> Preview:
    from listings.sources.xls_reader import WorkbookFormatError, read_workbook

    reader = _Capped(stream, MAX_WORKBOOK_BYTES)
    data = _read_all(reader)
    if reader.hit_cap:
        return Preview(
            "error", offset, limit,
            message=f"The spreadsheet is over {MAX_WORKBOOK_BYTES // (1024 * 1024)} MB: download it to read it.",
        )  # fmt: skip
    params = file_row.get("config_params") or {}
    try:
        book = read_workbook(data, sheet=params.get("sheet"), header_row=params.get("header_row"))
    except (WorkbookFormatError, ValueError) as exc:
        return Preview("error", offset, limit, message=f"The spreadsheet cannot be read: {exc}")
    page = book.rows[offset : offset + limit]
    preview = Preview(
        "rows",
        offset,
        limit,
        columns=list(book.header),
        rows=[{"row_no": r.row_no, "line_no": r.sheet_row, "values": _cells(r.values)} for r in page],
        has_more=offset + len(page) < len(book.rows),
        total=len(book.rows),
        detail={
            "format": book.format,
            "sheet": book.sheet,
            "sheets": book.sheets,
            "header_row": book.header_row,
        },
    )
    if preview.has_more:
        preview.next_offset = offset + len(page)
    return preview


def _text(stream: BinaryIO, offset: int) -> Preview:
    """A chunk of the payload as text. A payload of at most `PRETTY_MAX_BYTES` is read whole and shown
    pretty-printed when it is JSON (`offset` counts characters of that text); a bigger one is shown as it
    is stored (`offset` counts bytes; undecodable bytes are replaced)."""
    reader = _Capped(stream, MAX_SCAN_BYTES)
    head = _read_all(reader, PRETTY_MAX_BYTES + 1)
    if len(head) <= PRETTY_MAX_BYTES:
        try:
            shown = json.dumps(json.loads(head), ensure_ascii=False, indent=2)
        except ValueError:
            shown = head.decode("utf-8", errors="replace")
        preview = Preview(
            "text", offset, TEXT_CHUNK, text=shown[offset : offset + TEXT_CHUNK], total=len(shown)
        )
        preview.has_more = offset + TEXT_CHUNK < len(shown)
    else:
        if offset + TEXT_CHUNK < len(head):
            data = head[offset : offset + TEXT_CHUNK + 1]
        else:
            data = head[offset:]
            to_skip = max(0, offset - len(head))
            while to_skip:
                piece = reader.read(min(DOWNLOAD_CHUNK, to_skip))
                if not piece:
                    break
                to_skip -= len(piece)
            data += reader.read(TEXT_CHUNK + 1 - len(data))
        preview = Preview(
            "text", offset, TEXT_CHUNK, text=data[:TEXT_CHUNK].decode("utf-8", errors="replace")
        )
        preview.has_more = len(data) > TEXT_CHUNK
        preview.truncated = reader.hit_cap
        if preview.truncated:
            preview.message = SCAN_STOPPED
    preview.next_offset = offset + TEXT_CHUNK if preview.has_more else None
    return preview


def _read_all(reader: _Capped, limit: int | None = None) -> bytes:
    """Everything the reader gives (up to its cap), or the first `limit` bytes."""
    parts: list[bytes] = []
    got = 0
    while limit is None or got < limit:
        piece = reader.read(DOWNLOAD_CHUNK if limit is None else min(DOWNLOAD_CHUNK, limit - got))
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


def _cells(values: Mapping[str, Any], max_chars: int = 500) -> dict[str, str]:
    """Cell texts, each cut at `max_chars` (a description can be pages long)."""
    out: dict[str, str] = {}
    for k, v in values.items():
        s = "" if v is None else str(v)
        out[str(k)] = s if len(s) <= max_chars else s[:max_chars] + "…"
    return out
