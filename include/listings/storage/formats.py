"""Payload encoding for stored data files: gzip framing and the gzipped JSON array format."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

# Data objects are `.{fmt}.gz`: the bytes are this content type, gzip-compressed (Content-Encoding: gzip
# in HTTP terms). Stores keep the gzip file as is and do not set that header, since HTTP clients would
# then decompress on download and the bytes would no longer match the recorded size and sha256.
CONTENT_TYPES: Final[Mapping[str, str]] = {
    "json": "application/json",
    "csv": "text/csv",
    "xls": "application/vnd.ms-excel",
}

# Level 6 is zlib's default: nearly level 9's size at a fraction of the time on large batches.
_COMPRESS_LEVEL: Final = 6
# Records are encoded one by one and written in chunks so a big batch never exists as one huge str.
_CHUNK_RECORDS: Final = 1000


def gzip_bytes(data: bytes) -> bytes:
    """gzip `data`; the same input always gives the same bytes (mtime 0, no file name)."""
    return gzip.compress(data, compresslevel=_COMPRESS_LEVEL, mtime=0)


def gunzip_bytes(data: bytes) -> bytes:
    return gzip.decompress(data)


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        # str keeps every digit; float would silently round prices and coordinates.
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot store a {type(value).__name__} in JSON: {value!r}")


def dump_json_gz(records: Iterable[Mapping[str, Any]]) -> bytes:
    """gzip of one UTF-8 JSON array, one record per line; dates as ISO strings, Decimals as strings.

    NaN and infinities are refused (ValueError): they are not JSON and PostgreSQL's jsonb rejects them.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_json_default)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=_COMPRESS_LEVEL, mtime=0) as gz:
        gz.write(b"[")
        chunk: list[str] = []
        separator = "\n"
        for record in records:
            if not isinstance(record, Mapping):
                raise TypeError(f"records must be mappings; got {type(record).__name__}")
            chunk.append(separator)
            chunk.append(encoder.encode(record if isinstance(record, dict) else dict(record)))
            separator = ",\n"
            if len(chunk) >= 2 * _CHUNK_RECORDS:
                gz.write("".join(chunk).encode("utf-8"))
                chunk.clear()
        chunk.append("\n]\n")
        gz.write("".join(chunk).encode("utf-8"))
    return buffer.getvalue()


def load_json_gz(data: bytes) -> list[dict[str, Any]]:
    """Inverse of dump_json_gz (dates and Decimals come back as the strings they were stored as)."""
    document = json.loads(gunzip_bytes(data).decode("utf-8"))
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        raise ValueError("expected a gzipped JSON array of objects")
    return document
