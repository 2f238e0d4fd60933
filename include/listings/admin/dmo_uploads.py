"""Data files uploaded for a DMO whose source is an upload (CSV, XLS): store them under the data folder,
list them, and run the DMO's DAG on one (conf `{"file": <absolute path>}`, as the DAG factory documents).

No Airflow import. Where the files go: `<LISTINGS_HOME>/uploads/<dag_id>/` (the settings' data folder,
`Settings.home`; a config's `config_params.file` may name such a file too, as the preview allows files of
the data folder). The client's file name is never used as a path: a stored file is
`<UTC timestamp>_<safe stem>.<extension>`, and a JSON sidecar (`.<name>.json`) records who uploaded it,
when, its original name and its SHA-256. A file is refused, and nothing is kept, when it is empty, larger
than `MAX_UPLOAD_BYTES`, has an extension the source type does not read, or its content is not what
the extension says (a workbook's magic bytes; a text file with NUL bytes or a binary signature), or a
workbook holds more than the spreadsheet reader's caps (listings.sources.xls_reader: decompressed size,
rows, columns...).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, text

from listings.settings import Settings, get_settings

MAX_UPLOAD_BYTES = 50_000_000  # as the preview's upload limit
CHUNK = 1 << 20
UPLOAD_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".tsv", ".txt"),
    "xls": (".xls", ".xlsx", ".xlsm"),
}
LIST_LIMIT = 50  # uploads shown on a DMO's page (newest first)
# Signatures of files that are not text, whatever their extension says.
_BINARY_MAGIC = (
    b"PK\x03\x04",  # zip (xlsx, docx...)
    b"\xd0\xcf\x11\xe0",  # OLE2 (xls, doc)
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",  # JPEG
    b"\x7fELF",
    b"MZ",
    b"\x1f\x8b",  # gzip
    b"BZh",
    b"7z\xbc\xaf",
    b"Rar!",
)
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_NAME = re.compile(r"^(\d{8}T\d{6}(?:\d{6})?Z)_([A-Za-z0-9][A-Za-z0-9._-]{0,79})\.([a-z]{3,4})$")


class UploadRefused(ValueError):
    """The file was not stored (or cannot be run); the message says why."""


@dataclass(frozen=True)
class StoredUpload:
    name: str  # the stored file name, also its id in URLs
    path: Path
    size: int
    uploaded_at: datetime
    uploaded_by: str | None
    original_name: str | None
    sha256: str | None


@dataclass(frozen=True)
class UploadRun:
    dag_id: str
    dag_run_id: str
    conf: dict[str, Any]

    @property
    def message(self) -> str:
        return f"Triggered {self.dag_id} (run {self.dag_run_id}) with {Path(self.conf['file']).name}."


def upload_source(source_type: str) -> bool:
    """True when configs of this source type import uploaded files."""
    return source_type in UPLOAD_EXTENSIONS


def upload_dir(dmo_id: int, data_domain: str = "listings", settings: Settings | None = None) -> Path:
    """The folder of one config's uploads (named after its DAG)."""
    settings = settings or get_settings()
    return settings.home / "uploads" / f"dmo_{int(dmo_id)}_{data_domain}"


def safe_stem(filename: str | None) -> str:
    """A file-system-safe stem of the client's file name: ASCII letters, digits, '.', '_', '-'."""
    base = re.split(r"[\\/]", filename or "")[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_stem).strip("._-")
    return (re.sub(r"[-_.]{2,}", "-", cleaned) or "upload")[:60]


def _extension(filename: str | None, source_type: str) -> str:
    allowed = UPLOAD_EXTENSIONS.get(source_type)
    if allowed is None:
        raise UploadRefused(f"a {source_type} source reads no uploaded file (only csv and xls sources do)")
    base = re.split(r"[\\/]", filename or "")[-1]
    ext = ("." + base.rsplit(".", 1)[1].lower()) if "." in base else ""
    if ext not in allowed:
        shown = ext or "no extension"
        raise UploadRefused(f"a {source_type} source reads {', '.join(allowed)} files, not {shown}")
    return ext


def check_content(head: bytes, ext: str, path: Path | None = None) -> None:
    """Refuse a file whose first bytes (and, for a workbook, its ZIP directory) do not match `ext`, or a
    workbook beyond the reader's caps (`listings.sources.xls_reader.check_workbook`: a spreadsheet bomb, too
    many rows or columns), so that it is never stored nor previewed."""
    from listings.sources.xls_reader import WorkbookFormatError, check_workbook, detect_format

    if not head:
        raise UploadRefused("the file is empty")
    if ext in UPLOAD_EXTENSIONS["xls"]:
        try:
            kind = detect_format(head)
            if path is not None:
                check_workbook(path)
        except WorkbookFormatError as exc:
            raise UploadRefused(str(exc)) from None
        if kind == "xlsx" and path is not None:
            try:
                with zipfile.ZipFile(path) as book:
                    names = set(book.namelist())
            except (zipfile.BadZipFile, OSError) as exc:
                raise UploadRefused(f"not an Excel workbook: a damaged ZIP file ({exc})") from None
            if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
                raise UploadRefused("not an Excel workbook: a ZIP file without xl/workbook.xml")
        return
    if head.startswith(_BINARY_MAGIC):
        raise UploadRefused(f"not a text file: it starts with {head[:8]!r} (a binary format)")
    if b"\x00" in head and not head.startswith(_UTF16_32_BOMS):
        raise UploadRefused(
            "not a text file: it holds NUL bytes (binary, or UTF-16 without a byte-order mark)"
        )


def _meta_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.json")


def store_upload(
    stream: BinaryIO,
    filename: str | None,
    *,
    dmo_id: int,
    data_domain: str,
    source_type: str,
    user: str,
    settings: Settings | None = None,
    max_bytes: int | None = None,
    now: datetime | None = None,
) -> StoredUpload:
    """Copy an uploaded file into the config's upload folder, checking it on the way (UploadRefused, and
    nothing kept, when it is refused). Read in chunks: at most `max_bytes` + 1 bytes are ever read."""
    limit = MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    ext = _extension(filename, source_type)
    folder = upload_dir(dmo_id, data_domain, settings)
    folder.mkdir(parents=True, exist_ok=True)
    when = (now or datetime.now(UTC)).astimezone(UTC)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, tmp_name = tempfile.mkstemp(prefix=".partial-", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UploadRefused(f"the file is larger than {limit:,} bytes")
                if len(head) < 65536:
                    head += chunk[: 65536 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        check_content(head, ext, tmp)
        name = f"{when:%Y%m%dT%H%M%S%fZ}_{safe_stem(filename)}{ext}"
        path = folder / name
        if path.exists():
            raise UploadRefused("a file of the same name was stored at the same instant; upload it again")
        tmp.chmod(0o640)
        tmp.rename(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    meta = {
        "uploaded_by": user,
        "uploaded_at": when.isoformat(),
        "original_name": (filename or "")[:200],
        "size": size,
        "sha256": digest.hexdigest(),
    }
    _meta_path(path).write_text(json.dumps(meta), encoding="utf-8")
    return _stored(path)


def _stored(path: Path) -> StoredUpload:
    meta: Mapping[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads(_meta_path(path).read_text(encoding="utf-8"))
    stat = path.stat()
    try:
        when = datetime.fromisoformat(str(meta["uploaded_at"]))
    except (KeyError, ValueError):
        when = datetime.fromtimestamp(stat.st_mtime, UTC)
    return StoredUpload(
        name=path.name,
        path=path,
        size=stat.st_size,
        uploaded_at=when,
        uploaded_by=meta.get("uploaded_by"),
        original_name=meta.get("original_name"),
        sha256=meta.get("sha256"),
    )


def list_uploads(
    dmo_id: int, data_domain: str = "listings", *, limit: int = LIST_LIMIT, settings: Settings | None = None
) -> tuple[list[StoredUpload], int]:
    """The config's uploads, newest first (at most `limit`), and how many there are."""
    folder = upload_dir(dmo_id, data_domain, settings)
    if not folder.is_dir():
        return [], 0
    names = sorted((p.name for p in folder.iterdir() if _NAME.match(p.name) and p.is_file()), reverse=True)
    return [_stored(folder / n) for n in names[:limit]], len(names)


def upload_path(dmo_id: int, data_domain: str, name: str, settings: Settings | None = None) -> Path:
    """The stored file `name` of a config (LookupError when there is none: only stored names resolve)."""
    folder = upload_dir(dmo_id, data_domain, settings)
    if not _NAME.match(name):
        raise LookupError(f"DMO {dmo_id} has no upload {name!r}")
    path = (folder / name).resolve()
    if path.parent != folder.resolve() or not path.is_file():
        raise LookupError(f"DMO {dmo_id} has no upload {name!r}")
    return path


def run_upload(
    conn: Connection,
    dmo_id: int,
    data_domain: str,
    name: str,
    *,
    user: str,
    settings: Settings | None = None,
) -> UploadRun:
    """Trigger the config's DAG on one stored upload through Airflow's REST API (conf {"file": path}).
    LookupError: no such config or upload; RunRefused: no API configured, config inactive, Airflow said no."""
    from listings.admin.jobs import RunRefused, trigger_dag_run

    settings = settings or get_settings()
    row = conn.execute(
        text("select source_type, active from pipeline.configs where dmo_id = :d and data_domain = :dd"),
        {"d": dmo_id, "dd": data_domain},
    ).one_or_none()
    if row is None:
        raise LookupError(f"DMO {dmo_id} has no {data_domain} config")
    path = upload_path(dmo_id, data_domain, name, settings)
    if not upload_source(row.source_type):
        raise RunRefused(f"DMO {dmo_id} reads a {row.source_type} source, not an uploaded file.")
    if not row.active:
        raise RunRefused(f"DMO {dmo_id}'s {data_domain} config is inactive, hence has no DAG to trigger.")
    if not settings.airflow_api_url:
        raise RunRefused(
            "No Airflow API is configured (LISTINGS_AIRFLOW_API_URL): nothing was triggered. The file is "
            f"stored; run it with `listings run {dmo_id} --file {path}` or from Airflow."
        )
    dag_id = f"dmo_{dmo_id}_{data_domain}"  # DmoConfig.dag_id
    conf = {"file": str(path)}
    run_id = trigger_dag_run(
        dag_id,
        conf,
        api_url=settings.airflow_api_url,
        user=settings.airflow_api_user,
        password=settings.airflow_api_password,
        note=f"upload {name} run by {user} (listings admin)",
    )
    return UploadRun(dag_id=dag_id, dag_run_id=run_id, conf=conf)
