"""Reader for uploaded spreadsheets (.xls, .xlsx, .xlsm): decodes a workbook safely and reads one sheet of
it into rows, one per data row; whole-file problems raise WorkbookFormatError. The connector
(listings.sources.xls) stores the upload and turns the rows into records.

Shape expected: a workbook of one or more sheets; the listings sheet has a header row (column names) and a
data row per place below it. What real exports add around that is handled:

- the format comes from the magic bytes, never from the file name: OLE2 (`D0 CF 11 E0`) is a legacy BIFF
  `.xls` read with xlrd, ZIP (`PK`) an `.xlsx`/`.xlsm` read with openpyxl in read-only mode (streamed, so big
  files stay cheap). Anything else (an HTML table or a CSV renamed `.xls`, an `.ods`, an `.xlsb`) is a
  `SourceError` that says what the file is.
- the sheet: `sheet` (a name, matched ignoring case and spaces, or a 0-based index) or, by default, the
  first visible sheet with a detectable header row, preferring one whose header has the column mapped to
  `name` (so an empty sheet, a "Lisez-moi" notes sheet or a column dictionary before the data is passed
  over; hidden sheets are skipped unless named).
- the header row: `header_row` (1-based, as Excel numbers rows) or detected: the first of the first 30 rows
  with at least two non-empty cells that are mostly (80 %) distinct texts, at least half as wide as the
  rows that follow it. A cell merged across columns is not a duplicate of itself, but a row made mostly of
  such spans (a merged title, group headings like "Adresse" over five columns) is no header; a header cell
  merged down (a two-row header) makes the row it ends on the header. So title rows, export notes and
  group headings above the header are skipped.
- merged cells: a merged header cell names every column it covers (the vertical part of a two-row header;
  a cell merged across columns names them `Adresse`, `Adresse (2)`, ...); a merged data cell fills the
  rows below it in its first column (a city merged down a block of rows), not the columns beside it.
- header names are trimmed with inner whitespace (Alt+Enter line breaks) collapsed. Two columns with the
  same name are a `SourceError` naming both column letters (a mapping to either would be a guess). A
  column without a name that holds data (a helper column, notes right of the table, a ragged row) is kept
  under `_col_<letter>` (`_col_H`), which a mapping can use, and listed in the metadata; an unnamed column
  that is empty everywhere is ignored. Cells are placed by column, so unlike CSV a longer row is no error.

Every cell becomes text as a person reads it in Excel: whole numbers without ".0" (5145550123.0 →
"5145550123"), other numbers to 15 significant digits and never in scientific notation, numbers shown
through a digit mask keep it ("00000" → "05830", Excel's phone format → "(819) 555-0123"), dates as ISO
("2024-05-14", "2024-05-14T09:30:00"), times "09:30:00", booleans "true"/"false", empty and error cells
(#N/A) empty. In identifier columns (a header naming an id, number, code, phone, fax, postal or zip code,
or a column mapped to source_id, phone or zip) a date, time, boolean or error cell is a value Excel
converted by mistake: the row becomes an `invalid_cell` error instead of a wrong phone number.

Spreadsheet bombs: an .xlsx is compressed XML (0.5 MB on disk can hold 500 MB of sheet XML, which a parser
turns into gigabytes), and a few bytes of XML can make a reader widen every row to 16,384 cells or walk a
million empty rows. What a workbook may hold is capped by the module constants below, checked before
openpyxl or xlrd parses a part (from the ZIP directory, then by streaming through the shared strings and
each sheet's XML, counting, keeping nothing) and again while rows are read; beyond a cap the whole file is a
`WorkbookFormatError` naming the cap (a run fails, the preview says why). `check_workbook` runs the same
checks on a file without reading it as a workbook: the upload check (listings.admin.dmo_uploads) refuses such
a file before it is stored.
"""

from __future__ import annotations

import io
import os
import re
import struct
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

__all__ = [
    "CellError",
    "SheetRow",
    "SheetRowError",
    "WorkbookFormatError",
    "WorkbookReadResult",
    "cell_text",
    "check_workbook",
    "detect_format",
    "is_identifier_column",
    "read_workbook",
    "unnamed_key",
]

HEADER_SCAN_ROWS = 30  # the header is looked for in this many rows from the top
_FOLLOW_ROWS = 10  # non-blank rows after a candidate header that it must be about as wide as
_DISTINCT_SHARE = 0.8
_MIN_WIDTH_SHARE = 0.5

# What a workbook may hold (spreadsheet bombs; see the module docstring). A DMO's listings sheet is at most a
# few tens of thousands of rows of 10-100 columns: an .xlsx of 100,000 rows x 20 columns is ~10 MB on disk,
# ~100 MB decompressed, its sheet XML compressed 5-20:1.
MAX_XLSX_PARTS = 10_000  # files in an .xlsx ZIP, counted from its end record before the directory is read
MAX_XLSX_UNCOMPRESSED = 200_000_000  # bytes of all the files of an .xlsx decompressed, as its directory says
MAX_XLSX_RATIO = 100  # a file of more than XLSX_RATIO_FROM bytes may be compressed at most this much
XLSX_RATIO_FROM = 10_000_000
MAX_SHARED_STRINGS = 2_000_000  # entries of an .xlsx's shared strings table (openpyxl loads them all)
MAX_XLSX_XML_PART = 20_000_000  # bytes of any other XML part that openpyxl may parse whole (styles...)
MAX_SHEET_ROWS = 250_000  # rows of a sheet, blank ones included (Excel's own limit: 1,048,576)
MAX_SHEET_COLUMNS = 1_000  # columns of a sheet, and cells of one row (Excel's: 16,384)

OLE2_MAGIC = b"\xd0\xcf\x11\xe0"
ZIP_MAGIC = b"PK"
# Excel 2.x-4.0 saved a bare BIFF stream, not wrapped in OLE2: it starts with a BOF record.
BIFF_STREAM_MAGIC = (b"\x09\x00", b"\x09\x02", b"\x09\x04")


# -- cell values ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CellError:
    """An Excel error value (#N/A, #REF!, ...): a formula that failed, not data."""

    code: str


# One cell as read: its value and, for numbers, its number format (which can hold a digit mask).
Cell = tuple[Any, str]

_MASK_CONDITION = re.compile(r"\[(<=|>=|<>|<|>|=)(-?\d+(?:\.\d+)?)\]")
_MASK_TOKENS = re.compile(r'"([^"]*)"|\\(.)|([0#])|([-+() ])|(.)')
_COMPARE = {
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "=": lambda a, b: a == b,
}


def _mask_section(n: int, fmt: str) -> str | None:
    """The section of a number format that applies to a non-negative integer, without its [tags]."""
    sections = fmt.split(";")
    matches = [_MASK_CONDITION.match(s) for s in sections]
    if any(matches):
        for section, m in zip(sections, matches, strict=True):
            if m is None:
                return re.sub(r"\[[^\]]*\]", "", section)
            if _COMPARE[m.group(1)](n, float(m.group(2))):
                return re.sub(r"\[[^\]]*\]", "", section[m.end() :])
        return None
    section = sections[2] if n == 0 and len(sections) >= 3 else sections[0]
    return re.sub(r"\[[^\]]*\]", "", section)


def _masked(n: int, fmt: str) -> str | None:
    """`n` shown through a digit mask such as "00000" or "(###) ###-####", as Excel shows it; None when the
    format is not a pure digit mask (General, decimals, thousands separators, percentages, text)."""
    if n < 0 or not fmt or fmt == "General":
        return None
    section = _mask_section(n, fmt)
    if not section:
        return None
    tokens: list[tuple[bool, str]] = []  # (is placeholder, text)
    for m in _MASK_TOKENS.finditer(section):
        quoted, escaped, placeholder, literal, other = m.groups()
        if other is not None:
            return None
        if placeholder is not None:
            tokens.append((True, placeholder))
        else:
            tokens.append((False, quoted if quoted is not None else escaped or literal))
    placeholders = [i for i, (is_ph, _) in enumerate(tokens) if is_ph]
    if not placeholders:
        return None
    digits = str(n)
    left = len(digits)
    out: list[str] = []
    for i in range(len(tokens) - 1, -1, -1):
        is_ph, text = tokens[i]
        if not is_ph:
            out.append(text)
        elif i == placeholders[0]:  # the leftmost placeholder takes every digit still unplaced
            out.append(digits[:left] if left > 0 else ("0" if text == "0" else ""))
            left = 0
        elif left > 0:
            left -= 1
            out.append(digits[left])
        elif text == "0":
            out.append("0")
    return "".join(reversed(out))


def _number_text(value: float) -> str:
    # Excel keeps 15 significant digits; more would show binary noise (0.30000000000000004).
    text = f"{value:.15g}"
    if "e" in text:
        text = format(Decimal(text), "f")
    return text


def _round_second(value: datetime) -> datetime:
    if value.microsecond:
        value = (value + timedelta(microseconds=500_000)).replace(microsecond=0)
    return value


def cell_text(value: Any, number_format: str = "") -> str:
    """A cell's value as text, as a person reads it in the spreadsheet (see the module docstring)."""
    if value is None or isinstance(value, CellError):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _masked(value, number_format) or str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return _masked(int(value), number_format) or str(int(value))
        return _number_text(value)
    if isinstance(value, datetime):
        moment = _round_second(value)
        if moment.time() == time(0):
            return moment.date().isoformat()
        return moment.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return _round_second(datetime.combine(date(2000, 1, 1), value)).time().isoformat(timespec="seconds")
    if isinstance(value, timedelta):
        seconds = round(value.total_seconds())
        sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
        return f"{sign}{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value)


# Cell types that are no identifier as typed: Excel converted what was typed (or a formula failed).
_CONVERTED = (datetime, date, time, timedelta, bool, CellError)


def _describe(value: Any, number_format: str = "") -> str:
    """A cell's value for an error message: what Excel made of it, and what it looks like."""
    if isinstance(value, CellError):
        return f"the error value {value.code}"
    if isinstance(value, bool):
        return f"the boolean {cell_text(value)}"
    if isinstance(value, datetime | date):
        return f"the date {cell_text(value)}"
    if isinstance(value, time | timedelta):
        return f"the time {cell_text(value)}"
    return repr(cell_text(value, number_format))


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# -- identifier columns ----------------------------------------------------------------------------------

_ID_WORDS = frozenset(
    re.split(
        r"\s+",
        "id ids identifiant identifier ident uid uuid guid code codes ref reference no nos num numero numeros "
        "number nr nbr tel telephone telephones phone phones fax cell cellulaire mobile postal zip zipcode "
        "postcode cp citq neq sku",
    )
)
_ID_PHRASES = ("sans frais", "toll free")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", _CAMEL.sub(" ", text))
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def is_identifier_column(name: str) -> bool:
    """Whether a header names identifiers whose text must be kept exactly (ids, phones, postal codes)."""
    folded = _fold(name)
    words = re.findall(r"[a-z0-9]+", folded)
    return "#" in name or any(w in _ID_WORDS for w in words) or any(p in folded for p in _ID_PHRASES)


# -- workbook access -------------------------------------------------------------------------------------


class WorkbookFormatError(ValueError):
    """The file as a whole cannot be read as a workbook, or has no usable sheet/header."""


@dataclass(frozen=True)
class SheetInfo:
    name: str
    hidden: bool


# A merged range, 0-based and end-exclusive: (first row, last row + 1, first column, last column + 1).
Merge = tuple[int, int, int, int]


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _Book:
    """One workbook, whatever its format: sheet names, rows of cells from spreadsheet row 1, merges."""

    format: str
    sheets: list[SheetInfo]

    def rows(self, index: int) -> Iterator[list[Cell]]:
        try:
            yield from self._rows(index)
        except WorkbookFormatError:
            raise
        except Exception as exc:  # the libraries fail in many ways on a damaged sheet; all mean the same
            raise WorkbookFormatError(
                f"sheet {self.sheets[index].name!r} cannot be read ({_why(exc)})"
            ) from None

    def merges(self, index: int) -> list[Merge]:
        try:
            return self._merges(index)
        except WorkbookFormatError:
            raise
        except Exception as exc:
            raise WorkbookFormatError(
                f"sheet {self.sheets[index].name!r} cannot be read ({_why(exc)})"
            ) from None

    def _rows(self, index: int) -> Iterator[list[Cell]]:
        raise NotImplementedError

    def _merges(self, index: int) -> list[Merge]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _printable_start(data: bytes) -> str:
    return data[:24].decode("latin-1").encode("unicode_escape").decode("ascii")


def detect_format(data: bytes) -> str:
    """The format from the magic bytes, "xls" or "xlsx"; anything else raises WorkbookFormatError saying
    what the file is instead."""
    if not data:
        raise WorkbookFormatError("the file is empty")
    if data.startswith(OLE2_MAGIC) or data.startswith(BIFF_STREAM_MAGIC):
        return "xls"
    if data.startswith(ZIP_MAGIC):
        return "xlsx"
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<"):
        what = "an HTML/XML document (many 'export to Excel' buttons produce an HTML table)"
    elif head.startswith(b"%pdf"):
        what = "a PDF document"
    elif b"\x00" not in data[:4096]:
        what = "a text file (a CSV/TSV export? use source_type csv)"
    else:
        what = "an unknown binary format"
    raise WorkbookFormatError(
        f"not an Excel workbook: it is {what}; expected an .xls (bytes D0 CF 11 E0) or .xlsx/.xlsm "
        f"(bytes 50 4B 'PK'), the file starts with {_printable_start(data)!r}"
    )


class _Discard(io.StringIO):
    def write(self, text: str) -> int:
        return len(text)


_QUIET = _Discard()  # xlrd writes its diagnostics (stream dumps of corrupt files) to stdout by default


# A password-protected .xlsx is an OLE2 file holding the encrypted ZIP in this stream (names are UTF-16).
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_ENCRYPTED = "a password-protected (encrypted) workbook: remove the password in Excel and upload it again"


class _XlsBook(_Book):
    """Legacy BIFF .xls, through xlrd (which reads, but cannot write, these files)."""

    def __init__(self, data: bytes) -> None:
        import xlrd

        self.format = "xls"
        if _ENCRYPTED_STREAM in data:
            raise WorkbookFormatError(_ENCRYPTED)
        try:
            self._book = xlrd.open_workbook(
                file_contents=data, formatting_info=True, on_demand=True, ragged_rows=True, logfile=_QUIET
            )
        except NotImplementedError:  # formatting_info is not supported for some BIFF versions
            self._book = self._open_plain(data)
        except Exception as exc:  # xlrd raises several types for a broken file; all mean the same here
            if "encrypted" in str(exc).lower():
                raise WorkbookFormatError(_ENCRYPTED) from None
            raise WorkbookFormatError(f"unreadable .xls workbook ({_why(exc)})") from None
        self._datemode = self._book.datemode
        self._formats: dict[int, str] = {}
        for i, xf in enumerate(getattr(self._book, "xf_list", [])):
            fmt = self._book.format_map.get(xf.format_key)
            self._formats[i] = fmt.format_str if fmt is not None else ""
        self.sheets = [
            SheetInfo(name, self._book.sheet_by_index(i).visibility != 0)
            for i, name in enumerate(self._book.sheet_names())
        ]
        # xlrd has read every sheet by now (BIFF is not compressed: its cells take a few times the file's
        # size); none goes further than this when it is bigger than a sheet may be.
        for i, info in enumerate(self.sheets):
            sheet = self._book.sheet_by_index(i)
            _check_size(info.name, sheet.nrows, sheet.ncols)

    @staticmethod
    def _open_plain(data: bytes) -> Any:
        import xlrd

        try:
            return xlrd.open_workbook(file_contents=data, on_demand=True, ragged_rows=True, logfile=_QUIET)
        except Exception as exc:
            raise WorkbookFormatError(f"unreadable .xls workbook ({_why(exc)})") from None

    def _cell(self, ctype: int, value: Any, xf_index: int | None) -> Cell:
        import xlrd

        fmt = self._formats.get(xf_index, "") if xf_index is not None else ""
        if ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
            return (None, "")
        if ctype == xlrd.XL_CELL_TEXT:
            return (value, "")
        if ctype == xlrd.XL_CELL_BOOLEAN:
            return (bool(value), "")
        if ctype == xlrd.XL_CELL_ERROR:
            from xlrd.biffh import error_text_from_code

            return (CellError(error_text_from_code.get(value, f"#ERROR{value}")), "")
        if ctype == xlrd.XL_CELL_DATE:
            try:
                moment = xlrd.xldate.xldate_as_datetime(value, self._datemode)
            except (ValueError, OverflowError, xlrd.xldate.XLDateError):
                return (value, fmt)  # a date format on a number that is no valid date: show the number
            return (moment.time() if 0 <= value < 1 else moment, fmt)
        return (value, fmt)

    def _rows(self, index: int) -> Iterator[list[Cell]]:
        sheet = self._book.sheet_by_index(index)
        for r in range(sheet.nrows):
            types = sheet.row_types(r)
            values = sheet.row_values(r)
            xfs: Sequence[int | None]
            try:
                xfs = [sheet.cell_xf_index(r, c) for c in range(len(values))]
            except Exception:  # no formatting info: numbers then show without their digit masks
                xfs = [None] * len(values)
            yield [self._cell(t, v, x) for t, v, x in zip(types, values, xfs, strict=True)]

    def _merges(self, index: int) -> list[Merge]:
        return [tuple(m) for m in self._book.sheet_by_index(index).merged_cells]

    def close(self) -> None:
        self._book.release_resources()


_MERGE_REF = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+)([0-9]+)(?::([A-Z]+)([0-9]+))?"')


def _column_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1


def _column_letter(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


class _XlsxBook(_Book):
    """.xlsx/.xlsm through openpyxl in read-only mode: rows are streamed from the sheet's XML."""

    def __init__(self, data: bytes) -> None:
        import openpyxl

        self.format = "xlsx"
        self._zip = _open_zip(data)
        names = set(self._zip.namelist())
        if "mimetype" in names and b"opendocument" in self._zip.read("mimetype"):
            raise WorkbookFormatError(
                "an OpenDocument spreadsheet (.ods) is not supported: save it as .xlsx from LibreOffice"
            )
        if "xl/workbook.bin" in names:
            raise WorkbookFormatError("a binary .xlsb workbook is not supported: save it as .xlsx")
        if not any(n.startswith("xl/") for n in names):
            raise WorkbookFormatError("a ZIP archive that is not an Excel workbook (it has no xl/ folder)")
        if "xl/workbook.xml" in names and b"purl.oclc.org/ooxml" in self._head("xl/workbook.xml"):
            raise WorkbookFormatError(
                "a Strict Open XML workbook is not supported: save it as 'Excel Workbook (.xlsx)'"
            )
        if "xl/vbaProject.bin" in names:
            self.format = "xlsm"
        # openpyxl reads the shared strings, the styles, the workbook part... whole, and walks every
        # worksheet's XML when it does not declare its size: all of it is checked (counted) before.
        self._scanned = _check_parts(self._zip, data)
        try:
            self._wb = openpyxl.load_workbook(
                io.BytesIO(data), read_only=True, data_only=True, keep_links=False
            )
        except Exception as exc:  # openpyxl raises many types for a broken file; all mean the same here
            raise WorkbookFormatError(f"unreadable .xlsx workbook ({_why(exc)})") from None
        self._sheets = list(self._wb.worksheets)
        self.sheets = [SheetInfo(ws.title, ws.sheet_state != "visible") for ws in self._sheets]

    def _head(self, name: str) -> bytes:
        try:
            with self._zip.open(name) as fh:
                return fh.read(2000)
        except (zipfile.BadZipFile, OSError, ValueError):
            return b""  # openpyxl reports the damage, below

    def _rows(self, index: int) -> Iterator[list[Cell]]:
        ws = self._sheets[index]
        ws.reset_dimensions()  # some writers declare a wrong used range; read what is there
        title = self.sheets[index].name
        for r, row in enumerate(ws.iter_rows(min_row=1, min_col=1)):
            # openpyxl yields every empty row before a row numbered far down, and widens a row to its last
            # cell's column: both are refused here, before the row's cells are looked at.
            if r >= MAX_SHEET_ROWS:
                raise WorkbookFormatError(_too_many_rows(title))
            if len(row) > MAX_SHEET_COLUMNS:
                raise WorkbookFormatError(_too_far_right(title, r + 1, _column_letter(len(row) - 1)))
            cells: list[Cell] = []
            for c in row:
                value = c.value
                if value is None:
                    cells.append((None, ""))
                elif getattr(c, "data_type", None) == "e":
                    cells.append((CellError(str(value)), ""))
                else:
                    fmt = (c.number_format or "") if isinstance(value, int | float) else ""
                    cells.append((value, fmt))
            yield cells

    def _merges(self, index: int) -> list[Merge]:
        # Read-only mode does not expose merged ranges: they are listed after the cells in the sheet's XML,
        # which `_check_parts` read as a stream (counting its rows and cells) before openpyxl opened it.
        path = getattr(self._sheets[index], "_worksheet_path", None)
        if not path:
            return []
        path = path.lstrip("/")
        if path not in self._scanned:
            self._scanned[path] = _scan_sheet(self._zip, path, self.sheets[index].name)
        return self._scanned[path]

    def close(self) -> None:
        self._wb.close()
        self._zip.close()


# -- caps (spreadsheet bombs) ----------------------------------------------------------------------------

_EOCD = b"PK\x05\x06"  # a ZIP's end of central directory record
_EOCD64 = b"PK\x06\x06"  # its ZIP64 version
_EOCD_SEARCH = 22 + 65_535  # the record and the longest archive comment
_CHUNK = 1 << 20
_TAIL = 256  # bytes of a chunk kept for the next one when a tag may start there
_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")
_CELL_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
_SHARED_STRING_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\b[^>]*?\bref="([A-Z]*)(\d*)(?::([A-Z]+)(\d+))?"')


def _too_many_rows(title: str) -> str:
    return (
        f"sheet {title!r} has more than {MAX_SHEET_ROWS:,} rows, the most a sheet may have here: split the "
        "file (or delete the empty rows below the table)"
    )


def _too_far_right(title: str, row: int, column: str) -> str:
    return (
        f"sheet {title!r}: row {row} reaches column {column}, past the {MAX_SHEET_COLUMNS:,} columns a sheet may "
        "have here (delete the columns right of the table, even empty formatted ones)"
    )


def _check_size(title: str, rows: int, columns: int) -> None:
    if rows > MAX_SHEET_ROWS:
        raise WorkbookFormatError(_too_many_rows(title))
    if columns > MAX_SHEET_COLUMNS:
        raise WorkbookFormatError(
            f"sheet {title!r} has more than {MAX_SHEET_COLUMNS:,} columns, the most a sheet may have here "
            "(delete the columns right of the table, even empty formatted ones)"
        )


def _zip_entries(tail: bytes) -> int | None:
    """How many files an archive says it holds, from its end record (`tail`: its last `_EOCD_SEARCH`
    bytes); None when there is no record to read (zipfile then says the archive is damaged)."""
    pos = tail.rfind(_EOCD)
    if pos < 0 or pos + 22 > len(tail):
        return None
    (count,) = struct.unpack_from("<H", tail, pos + 10)
    if count != 0xFFFF:
        return int(count)
    pos64 = tail.rfind(_EOCD64, 0, pos)
    if pos64 < 0 or pos64 + 56 > len(tail):
        raise WorkbookFormatError("a ZIP64 archive whose file count cannot be read: not a workbook")
    (count64,) = struct.unpack_from("<Q", tail, pos64 + 32)
    return int(count64)


def _open_zip(source: bytes | str | os.PathLike[str]) -> zipfile.ZipFile:
    """The .xlsx's ZIP, once its end record and directory are within the caps: MAX_XLSX_PARTS files (counted
    before zipfile reads the directory), MAX_XLSX_UNCOMPRESSED bytes decompressed, no big file compressed
    more than MAX_XLSX_RATIO:1. zipfile never decompresses more than a file's declared size (a file that
    holds more fails its CRC check), so the declared sizes bound what any reader gets."""
    if isinstance(source, bytes):
        tail = source[-_EOCD_SEARCH:]
        target: Any = io.BytesIO(source)
    else:
        with open(source, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - _EOCD_SEARCH))
            tail = fh.read()
        target = source
    entries = _zip_entries(tail)
    if entries is not None and entries > MAX_XLSX_PARTS:
        raise WorkbookFormatError(
            f"the archive holds {entries:,} files, more than the {MAX_XLSX_PARTS:,} a workbook may have: "
            "not a workbook"
        )
    try:
        book = zipfile.ZipFile(target)
        infos = book.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise WorkbookFormatError(f"a damaged ZIP archive, not a readable .xlsx ({exc})") from None
    total = sum(i.file_size for i in infos)
    if total > MAX_XLSX_UNCOMPRESSED:
        book.close()
        raise WorkbookFormatError(
            f"the workbook decompresses to {total / 1e6:,.0f} MB; a workbook may hold at most "
            f"{MAX_XLSX_UNCOMPRESSED / 1e6:,.0f} MB (a spreadsheet bomb, or a file too big to import: split "
            "it)"
        )
    for info in infos:
        if info.file_size > XLSX_RATIO_FROM and info.file_size > MAX_XLSX_RATIO * max(info.compress_size, 1):
            book.close()
            raise WorkbookFormatError(
                f"{info.filename} is compressed {info.file_size // max(info.compress_size, 1):,}:1 "
                f"({info.file_size / 1e6:,.0f} MB from {info.compress_size / 1e3:,.0f} KB), far beyond any "
                f"workbook (at most {MAX_XLSX_RATIO}:1): a spreadsheet bomb"
            )
    return book


def _chunks(book: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    """The part `name` as pieces that end where no tag starts (a tag cut in two is carried to the next)."""
    carry = b""
    with book.open(name) as fh:
        while chunk := fh.read(_CHUNK):
            window = carry + chunk
            cut = window.rfind(b"<", max(0, len(window) - _TAIL))
            if cut < 0:
                cut = len(window)
            carry = window[cut:]
            yield window[:cut]
    if carry:
        yield carry


def _check_shared_strings(book: zipfile.ZipFile) -> None:
    """openpyxl loads the whole shared strings table when it opens a workbook: count its entries first."""
    for name in book.namelist():
        if name.lower().endswith("sharedstrings.xml"):
            count = 0
            for piece in _chunks(book, name):
                count += len(_SHARED_STRING_TAG.findall(piece))
                if count > MAX_SHARED_STRINGS:
                    raise WorkbookFormatError(
                        f"the workbook has more than {MAX_SHARED_STRINGS:,} shared strings (distinct texts), "
                        "the most a workbook may have here"
                    )


def _scan_sheet(book: zipfile.ZipFile, path: str, title: str) -> list[Merge]:
    """A sheet's merged ranges, read from its XML as a stream, which is also checked against the caps
    before any parser sees it: its declared size (`<dimension ref>`), how many rows it has, how many cells
    each row has, and the row and column of every reference past the caps."""
    found: set[Merge] = set()
    rows = 0
    cells = 0  # in the row being read
    first = True
    # A row or cell reference past the caps (`<row r="1000000">`, `<c r="XFD2">`) makes a reader walk the
    # empty rows before it or widen its row: only references with at least as many digits / letters as the
    # cap's are looked at (none in an ordinary sheet).
    far_down = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?row\s[^>]*?\br="(\d{%d,})"' % len(str(MAX_SHEET_ROWS)))
    far_right = re.compile(rb'\sr="([A-Z]{%d,})(\d+)"' % len(_column_letter(MAX_SHEET_COLUMNS - 1)))
    for piece in _chunks(book, path.lstrip("/")):
        if first:
            first = False
            dim = _DIMENSION.search(piece, 0, 8192)
            if dim and dim.group(4):
                last_row, last_col = int(dim.group(4)), _column_index(dim.group(3)) + 1
                if last_row > MAX_SHEET_ROWS or last_col > MAX_SHEET_COLUMNS:
                    ref = (b"%s%s:%s%s" % dim.groups()).decode()
                    raise WorkbookFormatError(
                        f"sheet {title!r} declares {last_row:,} rows and {last_col:,} columns (ref {ref}), "
                        f"more than a sheet may have here ({MAX_SHEET_ROWS:,} rows, {MAX_SHEET_COLUMNS:,} "
                        "columns)"
                    )
        if any(int(n) > MAX_SHEET_ROWS for n in far_down.findall(piece)):
            raise WorkbookFormatError(_too_many_rows(title))
        for letters, row in far_right.findall(piece):
            if _column_index(letters) >= MAX_SHEET_COLUMNS:
                raise WorkbookFormatError(_too_far_right(title, int(row), letters.decode()))
        for m in _MERGE_REF.finditer(piece):
            c1, r1, c2, r2 = m.groups()
            found.add((int(r1) - 1, int(r2 or r1), _column_index(c1), _column_index(c2 or c1) + 1))
        parts = _ROW_TAG.split(piece)
        cells += len(_CELL_TAG.findall(parts[0]))
        for part in parts[1:]:
            rows += 1
            cells = len(_CELL_TAG.findall(part))
            if cells > MAX_SHEET_COLUMNS:
                break
        if rows > MAX_SHEET_ROWS:
            raise WorkbookFormatError(_too_many_rows(title))
        if cells > MAX_SHEET_COLUMNS:
            raise WorkbookFormatError(
                f"sheet {title!r}: row {rows} has more than {MAX_SHEET_COLUMNS:,} cells, more than a sheet "
                "may have columns here"
            )
    return sorted(found)


_READ_WHOLE_EXEMPT = re.compile(
    r"xl/worksheets/[^/]+\.xml|(?:.*/)?sharedstrings\.xml|xl/pivotcache/.*|xl/calcchain\.xml", re.IGNORECASE
)  # parts read as streams and checked on their own, or never read (pivot cache records, calculation chain)


def _worksheet_parts(source: bytes | str | os.PathLike[str]) -> dict[str, str]:
    """Worksheet part -> sheet name, found as openpyxl finds them (its manifest, the workbook part and its
    relationships, all small parts by now); {} when they cannot be read (openpyxl then fails on them too)."""
    from openpyxl.reader.excel import ExcelReader

    try:
        with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as fh:
            reader = ExcelReader(fh, read_only=True, keep_links=False)
            try:
                reader.read_manifest()
                reader.read_workbook()
                return {
                    rel.target.lstrip("/"): sheet.name
                    for sheet, rel in reader.parser.find_sheets()
                    if rel.Type.endswith("/worksheet")
                }
            finally:
                reader.archive.close()
    except Exception:  # a damaged workbook: the reader says so when openpyxl opens it
        return {}


def _check_parts(book: zipfile.ZipFile, source: bytes | str | os.PathLike[str]) -> dict[str, list[Merge]]:
    """Check what openpyxl would read of an .xlsx (`_open_zip` checked its directory), without parsing any
    of it as a whole: the shared strings are counted, every other XML part is at most MAX_XLSX_XML_PART
    bytes, and each worksheet's XML is counted (`_scan_sheet`). Returns each worksheet's merged ranges."""
    _check_shared_strings(book)
    for info in book.infolist():
        name = info.filename
        read_whole = name.lower().endswith((".xml", ".rels")) and not _READ_WHOLE_EXEMPT.fullmatch(name)
        if read_whole and info.file_size > MAX_XLSX_XML_PART:
            raise WorkbookFormatError(
                f"{name} holds {info.file_size / 1e6:,.0f} MB of XML, more than the "
                f"{MAX_XLSX_XML_PART / 1e6:,.0f} MB such a part may have: not a workbook to import"
            )
    names = set(book.namelist())
    sheets = {n: n for n in names if re.fullmatch(r"xl/worksheets/[^/]+\.xml", n)}
    sheets.update(_worksheet_parts(source))
    return {part: _scan_sheet(book, part, title) for part, title in sheets.items() if part in names}


def check_workbook(source: bytes | str | os.PathLike[str]) -> None:
    """Refuse (WorkbookFormatError) a workbook that holds more than the caps allow, without parsing it as a
    workbook: for an .xlsx its ZIP directory, shared strings, XML parts and every worksheet's XML are
    checked as the reader checks them (counted as streams: memory stays flat whatever the file); an .xls is
    opened with xlrd and its sheets measured (BIFF is not compressed). Other problems are the reader's."""
    data = source if isinstance(source, bytes) else None
    if data is None:
        with open(source, "rb") as fh:
            head = fh.read(8)
    else:
        head = data[:8]
    if detect_format(head) == "xls":
        if data is None:
            with open(source, "rb") as fh:
                data = fh.read()
        _XlsBook(data).close()
        return
    with _open_zip(source) as book:
        _check_parts(book, source)


def _open_book(data: bytes) -> _Book:
    return _XlsBook(data) if detect_format(data) == "xls" else _XlsxBook(data)


# -- reading a sheet -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SheetRow:
    row_no: int  # 1-based over non-blank data rows: shown to users
    sheet_row: int  # the spreadsheet's own 1-based row number
    values: dict[str, str]  # header name -> cell text


@dataclass(frozen=True)
class SheetRowError:
    row_no: int
    sheet_row: int
    error_type: str  # "invalid_cell"
    message: str
    original: dict[str, Any]  # the row's values, "_sheet" and "_sheet_row"


@dataclass
class WorkbookReadResult:
    format: str  # xls | xlsx | xlsm
    sheets: list[str]
    sheet: str
    sheet_index: int
    header_row: int  # 1-based
    header: list[str]
    rows: list[SheetRow] = field(default_factory=list)
    errors: list[SheetRowError] = field(default_factory=list)
    blank_rows: int = 0
    merged_ranges: int = 0
    identifier_columns: list[str] = field(default_factory=list)
    unnamed_columns: dict[str, int] = field(default_factory=dict)  # key -> first spreadsheet row with data


def unnamed_key(column: int) -> str:
    """The key of a column without a header name that holds data: `_col_` and its letter(s)."""
    return f"_col_{_column_letter(column)}"


def _fill_all(rows: list[list[Cell]], merges: list[Merge]) -> list[list[Any]]:
    """Values of the top rows with every merged range's value copied into each of its cells."""
    grid = [[v for v, _ in row] for row in rows]
    for r0, r1, c0, c1 in merges:
        if r0 >= len(grid) or c0 >= len(grid[r0]):
            continue
        value = grid[r0][c0]
        for r in range(r0, min(r1, len(grid))):
            if len(grid[r]) < c1:
                grid[r].extend([None] * (c1 - len(grid[r])))
            for c in range(c0, c1):
                if (r, c) != (r0, c0):
                    grid[r][c] = value
    return grid


def _width(row: list[Any]) -> int:
    return sum(1 for v in row if not _is_blank(v))


def _detect_header(grid: list[list[Any]], merges: list[Merge]) -> int | None:
    """0-based index of the header row in `grid` (the top rows, merged ranges filled in), or None.

    A cell merged across columns counts as cells, but its copies are not duplicates, unless the row is
    mostly such copies: a merged title or a row of group headings ("Adresse" over five columns) is no
    header. A header cell merged down (two-row headers) makes the row it ends on the header.
    """
    copies: dict[int, int] = {}  # row -> cells that repeat a merged cell to their left
    for r0, r1, c0, c1 in merges:
        for r in range(r0, min(r1, len(grid))):
            copies[r] = copies.get(r, 0) + c1 - c0 - 1
    nonblank = [i for i, row in enumerate(grid) if _width(row)]
    for pos, i in enumerate(nonblank):
        if i >= HEADER_SCAN_ROWS:
            break
        cells = [v for v in grid[i] if not _is_blank(v)]
        if len(cells) < 2:
            continue
        texts = {v.strip().casefold() for v in cells if isinstance(v, str)}
        repeated = copies.get(i, 0)
        if sum(1 for v in cells if isinstance(v, str)) < _DISTINCT_SHARE * len(cells):
            continue
        if len(texts) < _DISTINCT_SHARE * (len(cells) - repeated) or repeated >= len(texts):
            continue
        following = nonblank[pos + 1 : pos + 1 + _FOLLOW_ROWS]
        if following and len(cells) < _MIN_WIDTH_SHARE * max(_width(grid[j]) for j in following):
            continue  # a subtitle or a group heading: the rows below are much wider
        header = i
        while any(r0 <= header and r1 > header + 1 and r1 - r0 <= 3 for r0, r1, _, _ in merges):
            header += 1
        return header if header < len(grid) else None
    return None


def _header_names(grid_row: list[Any], merges: list[Merge], header: int) -> tuple[list[str | None], str]:
    """Column names of the header row (None: unnamed; columns a merged cell spans sideways get (2), (3)...)
    and what is wrong with them ("" when nothing)."""
    copies: dict[int, int] = {}
    for r0, r1, c0, c1 in merges:
        if r0 <= header < r1:
            for c in range(c0 + 1, c1):
                copies[c] = c - c0 + 1
    names: list[str | None] = []
    for c, value in enumerate(grid_row):
        text = " ".join(cell_text(value).split())
        if text and c in copies:
            text = f"{text} ({copies[c]})"
        names.append(text or None)
    while names and names[-1] is None:
        names.pop()
    seen: dict[str, int] = {}
    for c, name in enumerate(names):
        if name is None:
            continue
        if name in seen:
            return names, (
                f"header row {header + 1}: column {_column_letter(c)} {name!r} duplicates column "
                f"{_column_letter(seen[name])}; every column needs a unique name"
            )
        seen[name] = c
    return names, ""


@dataclass
class _Candidate:
    index: int
    header: int  # 0-based
    names: list[str | None]
    problem: str  # why this header cannot be used (duplicate names), "" when it can


def _head(book: _Book, index: int, size: int) -> list[list[Cell]]:
    rows = book.rows(index)
    try:
        return list(islice(rows, size))
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def _candidate(
    book: _Book, index: int, header_row: int | None, merges: list[Merge]
) -> tuple[_Candidate | None, str]:
    """The sheet's header, or None and why not."""
    size = max(HEADER_SCAN_ROWS, header_row or 0) + _FOLLOW_ROWS + 1
    grid = _fill_all(_head(book, index, size), merges)
    if not any(_width(row) for row in grid):
        return None, "empty"
    if header_row is not None:
        if header_row > len(grid) or not _width(grid[header_row - 1]):
            return None, f"row {header_row} (header_row) is empty"
        header = header_row - 1
    else:
        found = _detect_header(grid, merges)
        if found is None:
            return None, f"no header row in the first {HEADER_SCAN_ROWS} rows"
        header = found
    names, problem = _header_names(grid[header], merges, header)
    return _Candidate(index, header, names, problem), ""


def _choose(
    book: _Book, sheet: str | int | None, header_row: int | None, prefer_column: str | None
) -> tuple[_Candidate, list[Merge]]:
    names = [s.name for s in book.sheets]
    listing = ", ".join(repr(n) for n in names)
    if not names:
        raise WorkbookFormatError("the workbook has no worksheet")
    if sheet is not None:
        if isinstance(sheet, int):
            if sheet >= len(names):
                raise WorkbookFormatError(
                    f"sheet index {sheet} is out of range: the workbook has {len(names)} sheet(s) ({listing})"
                )
            index = sheet
        else:
            folded = [" ".join(n.split()).casefold() for n in names]
            wanted = " ".join(sheet.split()).casefold()
            exact = [i for i, n in enumerate(names) if n == sheet]
            loose = [i for i, n in enumerate(folded) if n == wanted]
            if not (exact or loose):
                raise WorkbookFormatError(f"no sheet named {sheet!r} (sheets: {listing})")
            index = (exact or loose)[0]
        merges = book.merges(index)
        found, why = _candidate(book, index, header_row, merges)
        if found is None:
            raise WorkbookFormatError(f"sheet {names[index]!r}: {why}")
        return found, merges
    tried: list[str] = []
    fallback: tuple[_Candidate, list[Merge]] | None = None
    for index, info in enumerate(book.sheets):
        if info.hidden:
            tried.append(f"{info.name!r} (hidden)")
            continue
        merges = book.merges(index)
        found, why = _candidate(book, index, header_row, merges)
        if found is None:
            tried.append(f"{info.name!r} ({why})")
            continue
        if prefer_column is None or prefer_column in found.names:
            return found, merges
        fallback = fallback or (found, merges)
    if fallback is not None:
        return fallback
    raise WorkbookFormatError(f"no sheet has a header row: {'; '.join(tried)}")


def read_workbook(
    data: bytes,
    *,
    sheet: str | int | None = None,
    header_row: int | None = None,
    identifier_columns: Sequence[str] = (),
    prefer_column: str | None = None,
) -> WorkbookReadResult:
    """Read one sheet of an .xls/.xlsx workbook into rows of text (see the module docstring).

    `identifier_columns` are columns to treat as identifiers whatever their header says; `prefer_column`
    steers the default sheet choice to a sheet whose header has that column. Whole-file problems raise
    WorkbookFormatError; row problems become SheetRowErrors.
    """
    book = _open_book(data)
    try:
        chosen, merges = _choose(book, sheet, header_row, prefer_column)
        if chosen.problem:
            raise WorkbookFormatError(f"sheet {book.sheets[chosen.index].name!r}, {chosen.problem}")
        return _read_rows(book, chosen, merges, set(identifier_columns))
    finally:
        book.close()


def _read_rows(
    book: _Book, chosen: _Candidate, merges: list[Merge], extra_ids: set[str]
) -> WorkbookReadResult:
    sheet = book.sheets[chosen.index].name
    names = chosen.names
    columns = [(c, n) for c, n in enumerate(names) if n is not None]
    ids = {c for c, n in columns if n in extra_ids or is_identifier_column(n)}
    span = len(names)
    result = WorkbookReadResult(
        format=book.format,
        sheets=[s.name for s in book.sheets],
        sheet=sheet,
        sheet_index=chosen.index,
        header_row=chosen.header + 1,
        header=[n for _, n in columns],
        merged_ranges=len(merges),
        identifier_columns=[n for c, n in columns if c in ids],
    )
    # A merged data cell fills the rows below it in its first column, which is how a reader takes a city
    # merged down a block of rows; the columns beside it keep their own cells.
    starts: dict[int, list[tuple[int, int]]] = {}
    for r0, r1, c0, _ in merges:
        if r0 > chosen.header and r1 - r0 > 1:
            starts.setdefault(r0, []).append((c0, r1))
    carry: dict[int, tuple[int, Cell]] = {}  # column -> (end row, top cell)
    unnamed: dict[str, int] = {}  # key of an unnamed column -> first spreadsheet row with data in it

    row_no = 0
    for r, row in enumerate(book.rows(chosen.index)):
        if r <= chosen.header:
            continue
        # Judged on the row's own cells: a row holding nothing but part of a merged cell is blank.
        blank = all(_is_blank(v) for v, _ in row)
        if carry:
            for c, (end, cell) in list(carry.items()):
                if r >= end:
                    del carry[c]
                    continue
                if len(row) <= c:
                    row = [*row, *([(None, "")] * (c + 1 - len(row)))]
                row[c] = cell
        for c, end in starts.get(r, ()):
            if c < len(row):
                carry[c] = (end, row[c])
        if blank:
            result.blank_rows += 1
            continue
        row_no += 1
        sheet_row = r + 1
        values: dict[str, str] = {}
        problems: list[str] = []
        for c in range(max(span, len(row))):
            name = names[c] if c < span else None
            value, fmt = row[c] if c < len(row) else (None, "")
            if name is None:
                if _is_blank(value):
                    continue
                name = unnamed_key(c)
                unnamed.setdefault(name, sheet_row)
            values[name] = cell_text(value, fmt)
            if (c in ids or name in extra_ids) and isinstance(value, _CONVERTED):
                problems.append(
                    f"cell {_column_letter(c)}{sheet_row} ({name!r}) holds {_describe(value)}, not the "
                    "identifier typed: Excel converted it; format the column as Text and retype it"
                )
                values[name] = value.code if isinstance(value, CellError) else cell_text(value)
        if problems:
            result.errors.append(
                SheetRowError(
                    row_no,
                    sheet_row,
                    "invalid_cell",
                    f"row {row_no} (sheet {sheet!r}, row {sheet_row}): " + "; ".join(problems),
                    {**values, "_sheet": sheet, "_sheet_row": sheet_row},
                )
            )
        else:
            result.rows.append(SheetRow(row_no, sheet_row, values))
    # Every record gets every column that has data somewhere, so a mapping finds an empty value, not none.
    result.unnamed_columns = unnamed
    for key in unnamed:
        for rec in result.rows:
            rec.values.setdefault(key, "")
        for err in result.errors:
            err.original.setdefault(key, "")
    return result
