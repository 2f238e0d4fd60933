"""CSV uploads: the file is stored byte for byte as raw `.csv.gz`, then parsed by the robust CSV reader."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from listings.settings import get_settings
from listings.sources.base import (
    FetchContext,
    ParseResult,
    RawPayload,
    SourceError,
    SourceRecord,
    SourceRecordError,
)
from listings.sources.csv_reader import CsvFormatError, read_csv
from listings.sources.files import read_upload

if TYPE_CHECKING:
    from listings.config.models import DmoConfig


class CsvParams(BaseModel):
    """`config_params` of a csv source."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    file: str | None = Field(
        default=None, description="Path of the uploaded file (relative: to the project dir)."
    )
    encoding: str | None = Field(default=None, description="Force an encoding instead of detecting it.")
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    image_separator: str = Field(default="|", min_length=1)


class CsvSource:
    source_type: ClassVar[str] = "csv"
    params_model: ClassVar[type[BaseModel]] = CsvParams
    default_mappings: ClassVar[dict[str, str]] = {}  # CSV columns are the DMO's own: the config maps them

    def fetch(self, ctx: FetchContext) -> RawPayload:
        params = ctx.params
        assert isinstance(params, CsvParams)
        data, metadata, uri = read_upload(ctx, params.file, "CSV")
        return RawPayload(data=data, fmt="csv", source_uri=uri, metadata=metadata)

    def parse(self, data: bytes, config: DmoConfig) -> ParseResult:
        params = CsvParams.model_validate(config.config_params)
        try:
            result = read_csv(
                data,
                encoding=params.encoding,
                delimiter=params.delimiter,
                max_field_bytes=get_settings().csv_max_field_bytes,
            )
        except CsvFormatError as exc:
            raise SourceError(f"DMO {config.dmo.id}: unreadable CSV: {exc}") from None
        id_column = config.field_mappings.get("source_id")
        records = [
            SourceRecord(
                row.row_no,
                dict(row.values),
                {
                    "row_no": row.row_no,
                    "line_no": row.line_no,
                    "original_id": row.values.get(id_column) if id_column else None,
                },
            )
            for row in result.rows
        ]
        errors = [
            SourceRecordError(e.row_no, e.error_type, e.message, {**e.original, "_line_no": e.line_no})
            for e in result.errors
        ]
        unmapped = sorted({c for c in config.field_mappings.values() if c} - set(result.header))
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
