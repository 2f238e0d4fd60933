"""CSV uploads: the file is stored byte for byte as raw `.csv.gz`, then parsed by the robust CSV reader."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from listings.config.models import CsvParams, DmoConfig
from listings.sources.base import ParseResult, RawPayload, SourceError, SourceRecord, SourceRecordError
from listings.sources.csv_reader import CsvFormatError, read_csv


def _params(config: DmoConfig) -> CsvParams:
    return CsvParams.model_validate(config.config_params)


class CsvSource:
    source_type = "csv"

    def fetch(self, config: DmoConfig, *, file: Path | None, project_dir: Path) -> RawPayload:
        configured = _params(config).file
        path = file or (Path(configured) if configured else None)
        if path is None:
            raise SourceError(
                f"DMO {config.dmo.id}: no CSV file given (pass --file / the run's `file` conf, or set config_params.file)"
            )
        if not path.is_absolute():
            path = project_dir / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"DMO {config.dmo.id}: cannot read {path}: {exc.strerror}") from None
        stat = path.stat()
        return RawPayload(
            data=data,
            fmt="csv",
            source_uri=path.resolve().as_uri(),
            metadata={
                "file_name": path.name,
                "file_size": stat.st_size,
                "file_modified_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
                "fetched_at": datetime.now(UTC).isoformat(),
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        )

    def parse(self, data: bytes, config: DmoConfig) -> ParseResult:
        params = _params(config)
        try:
            result = read_csv(data, encoding=params.encoding, delimiter=params.delimiter)
        except CsvFormatError as exc:
            raise SourceError(f"DMO {config.dmo.id}: unreadable CSV: {exc}") from None
        records = [
            SourceRecord(row.row_no, dict(row.values), {"row_no": row.row_no, "line_no": row.line_no})
            for row in result.rows
        ]
        errors = [
            SourceRecordError(e.row_no, e.error_type, e.message, {**e.original, "_line_no": e.line_no})
            for e in result.errors
        ]
        unmapped = sorted(set(config.field_mappings.values()) - set(result.header))
        return ParseResult(
            records=records,
            errors=errors,
            metadata={
                "encoding": result.encoding,
                "delimiter": result.delimiter,
                "header": result.header,
                "blank_lines": result.blank_lines,
                "mapped_columns_missing": unmapped,
            },
        )
