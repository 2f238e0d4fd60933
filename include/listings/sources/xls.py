"""Spreadsheet uploads (.xls, .xlsx, .xlsm): the file is stored byte for byte as raw `.xls.gz`, then one sheet
of it is read into records, one per data row, by the spreadsheet reader (listings.sources.xls_reader, which
describes the shape expected, the cell values and the caps on spreadsheet bombs).

Records: `values` = header name -> text for every named column; `row_no` = 1..N over non-blank data rows
(blank rows are skipped and not counted); provenance = row_no, sheet, sheet_row (the row number Excel
shows) and original_id (the mapped source_id column). The parse metadata records the real format, every
sheet's name, the chosen sheet, the header row, the header and the unnamed columns kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from listings.sources.base import (
    FetchContext,
    ParseResult,
    RawPayload,
    SourceError,
    SourceRecord,
    SourceRecordError,
)
from listings.sources.files import read_upload
from listings.sources.xls_reader import HEADER_SCAN_ROWS, WorkbookFormatError, read_workbook

if TYPE_CHECKING:
    from listings.config.models import DmoConfig

__all__ = ["XlsParams", "XlsSource"]


class XlsParams(BaseModel):
    """`config_params` of an xls source (.xls, .xlsx and .xlsm uploads)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    file: str | None = Field(
        default=None, description="Path of the uploaded workbook (relative: to the project dir)."
    )
    sheet: str | Annotated[int, Field(ge=0, strict=True)] | None = Field(
        default=None,
        description="The sheet to read: its name, or its 0-based position among the worksheets. Default: "
        "the first visible sheet with a header row (preferring one with the column mapped to `name`).",
    )
    header_row: int | None = Field(
        default=None,
        ge=1,
        description="1-based row number of the header, as Excel shows it. Default: detected in the first "
        f"{HEADER_SCAN_ROWS} rows (title rows above it are skipped).",
    )
    image_separator: str = Field(
        default="|", min_length=1, description="Separator between image URLs in one cell."
    )


# -- the connector ---------------------------------------------------------------------------------------


class XlsSource:
    source_type: ClassVar[str] = "xls"
    params_model: ClassVar[type[BaseModel]] = XlsParams
    default_mappings: ClassVar[dict[str, str]] = {}  # the columns are the DMO's own: the config maps them

    def fetch(self, ctx: FetchContext) -> RawPayload:
        params = ctx.params
        assert isinstance(params, XlsParams)
        data, metadata, uri = read_upload(ctx, params.file, "spreadsheet")
        return RawPayload(data=data, fmt="xls", source_uri=uri, metadata=metadata)

    def parse(self, data: bytes, config: DmoConfig) -> ParseResult:
        params = XlsParams.model_validate(config.config_params)
        mappings = config.mappings()
        id_column = mappings.get("source_id")
        try:
            result = read_workbook(
                data,
                sheet=params.sheet,
                header_row=params.header_row,
                identifier_columns=[mappings[k] for k in ("source_id", "phone", "zip") if k in mappings],
                prefer_column=mappings.get("name"),
            )
        except WorkbookFormatError as exc:
            raise SourceError(f"DMO {config.dmo.id}: unreadable spreadsheet: {exc}") from None
        records = [
            SourceRecord(
                row.row_no,
                dict(row.values),
                {
                    "row_no": row.row_no,
                    "sheet": result.sheet,
                    "sheet_row": row.sheet_row,
                    "original_id": (row.values.get(id_column) or None) if id_column else None,
                },
            )
            for row in result.rows
        ]
        errors = [
            SourceRecordError(e.row_no, e.error_type, e.message, dict(e.original)) for e in result.errors
        ]
        unmapped = sorted({c for c in config.field_mappings.values() if c} - set(result.header))
        return ParseResult(
            records=records,
            errors=errors,
            metadata={
                "format": result.format,
                "sheets": result.sheets,
                "sheet": result.sheet,
                "sheet_index": result.sheet_index,
                "header_row": result.header_row,
                "header": result.header,
                "blank_rows": result.blank_rows,
                "identifier_columns": result.identifier_columns,
                "unnamed_columns": result.unnamed_columns,
                "mapped_columns_missing": unmapped,
            },
        )
