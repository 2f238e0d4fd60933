"""Spreadsheet bombs: a small workbook that would take the reader gigabytes is refused before a
library parses it, by the reader (runs, the preview, the files page) and by the upload check, with a message
that says why. Every bomb is built here, streamed into a deflated ZIP (a few hundred KB on disk); the caps
are the module constants of listings.sources.xls_reader, lowered in a test where a smaller file shows the
same."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlwt  # type: ignore[import-untyped]

from listings.admin import dmo_uploads
from listings.config.models import DmoConfig
from listings.settings import Settings
from listings.sources import xls_reader
from listings.sources.base import SourceError
from listings.sources.xls import XlsSource
from listings.sources.xls_reader import WorkbookFormatError, read_workbook

NS = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
HEADER = ["ID", "Nom", "Ville"]
ROW = ["A1", "Café Olimpico", "Montréal"]


def workbook(rows: list[list[Any]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Fiches"
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def with_parts(parts: dict[str, Callable[[], Iterator[bytes]]], base: bytes | None = None) -> bytes:
    """A valid workbook whose parts named in `parts` are replaced (or added) by the chunks their function
    yields, streamed into the deflated ZIP: a bomb is never held in memory decompressed."""
    src = zipfile.ZipFile(io.BytesIO(base or workbook([HEADER, ROW])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name in {*src.namelist(), *parts}:
            if name in parts:
                with z.open(name, "w", force_zip64=True) as fh:
                    for chunk in parts[name]():
                        fh.write(chunk)
            else:
                z.writestr(name, src.read(name))
    return out.getvalue()


def sheet(*rows: bytes, head: bytes = b"") -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        yield NS + head + b"<sheetData>"
        yield from rows
        yield b"</sheetData></worksheet>"

    return chunks


def text_row(*values: str) -> bytes:
    return (
        b"<row>"
        + b"".join(b'<c t="inlineStr"><is><t>%s</t></is></c>' % v.encode() for v in values)
        + b"</row>"
    )


def repeated(chunk: bytes, total: int) -> Iterator[bytes]:
    block = chunk * max(1, 1_000_000 // len(chunk))
    for _ in range(total // len(block) + 1):
        yield block


SHEET = "xl/worksheets/sheet1.xml"
SHARED_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml"'
    b' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)


@pytest.fixture(scope="module")
def sheet_xml_bomb() -> bytes:
    """The issue's case, smaller: 300 MB of sheet XML (a header, then one row again and again)."""

    def chunks() -> Iterator[bytes]:
        yield NS + b"<sheetData>" + text_row("ID", "Nom")
        yield from repeated(text_row("1", "boom"), 300_000_000)
        yield b"</sheetData></worksheet>"

    return with_parts({SHEET: chunks})


class NotParsed(AssertionError):
    pass


@pytest.fixture
def nothing_parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """openpyxl may not load the workbook; returns the ZIP members opened (as they are opened)."""
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, *args, **kwargs)

    def load_workbook(*args: Any, **kwargs: Any) -> None:
        raise NotParsed("openpyxl was asked to parse the workbook")

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    monkeypatch.setattr(openpyxl, "load_workbook", load_workbook)
    return opened


def test_a_sheet_xml_bomb_is_refused_before_any_xml_is_read(
    sheet_xml_bomb: bytes, nothing_parsed: list[str]
) -> None:
    assert len(sheet_xml_bomb) < 1_500_000  # about 1 MB on disk
    with zipfile.ZipFile(io.BytesIO(sheet_xml_bomb)) as z:
        assert sum(i.file_size for i in z.infolist()) > 300_000_000
    nothing_parsed.clear()
    with pytest.raises(WorkbookFormatError, match=r"decompresses to 30\d MB.* at most 200 MB"):
        read_workbook(sheet_xml_bomb)
    assert not [n for n in nothing_parsed if n.startswith("xl/worksheets/")]
    config = DmoConfig.model_validate(
        {"dmo": {"id": 7, "name": "X", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
         "source_type": "xls", "field_mappings": {"name": "Nom"}}
    )  # fmt: skip
    with pytest.raises(SourceError, match=r"unreadable spreadsheet: .*decompresses to 30\d MB"):
        XlsSource().parse(sheet_xml_bomb, config)  # a run, and the preview ("test this config")


def test_a_sheet_xml_bomb_is_refused_at_upload_and_nothing_is_kept(
    sheet_xml_bomb: bytes, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home")
    with pytest.raises(dmo_uploads.UploadRefused, match=r"decompresses to 30\d MB"):
        dmo_uploads.store_upload(
            io.BytesIO(sheet_xml_bomb), "fiches.xlsx", dmo_id=7, data_domain="listings", source_type="xls",
            user="uma", settings=settings,
        )  # fmt: skip
    folder = dmo_uploads.upload_dir(7, "listings", settings)
    assert list(folder.iterdir()) == []


def test_a_part_compressed_far_beyond_any_workbook_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the decompressed-size cap, a part compressed more than MAX_XLSX_RATIO:1 is still no workbook."""
    bomb = with_parts({SHEET: sheet(text_row("ID", "Nom"), *repeated(text_row("1", "boom"), 30_000_000))})
    with pytest.raises(WorkbookFormatError, match=r"xl/worksheets/sheet1.xml is compressed \d+:1"):
        read_workbook(bomb)
    monkeypatch.setattr(xls_reader, "MAX_XLSX_RATIO", 10_000)
    monkeypatch.setattr(xls_reader, "MAX_SHEET_ROWS", 1_000)
    with pytest.raises(WorkbookFormatError, match="more than 1,000 rows"):  # the next cap still holds
        read_workbook(bomb)


def test_too_many_parts_are_refused_before_the_zip_directory_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xls_reader, "MAX_XLSX_PARTS", 5)
    built: list[str] = []
    real_init = zipfile.ZipFile.__init__

    def spy(self: zipfile.ZipFile, *args: Any, **kwargs: Any) -> None:
        built.append("ZipFile")
        real_init(self, *args, **kwargs)

    data = workbook([HEADER, ROW])
    monkeypatch.setattr(zipfile.ZipFile, "__init__", spy)
    with pytest.raises(WorkbookFormatError, match=r"holds \d+ files, more than the 5"):
        read_workbook(data)
    assert built == []


def test_a_row_of_more_cells_than_columns_is_refused_before_the_sheet_is_parsed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    # this one is about the cells, not the compression
    monkeypatch.setattr(xls_reader, "MAX_XLSX_RATIO", 100_000)

    def parse(*args: Any, **kwargs: Any) -> None:
        raise NotParsed("openpyxl parsed the sheet")

    monkeypatch.setattr(ReadOnlyWorksheet, "_cells_by_row", parse)
    # 2,000,000 cells in one row: 30 MB of XML, under the decompressed cap, gigabytes for a parser
    wide = with_parts({SHEET: sheet(b"<row>", *repeated(b"<c><v>1</v></c>", 30_000_000), b"</row>")})
    with pytest.raises(WorkbookFormatError, match=r"sheet 'Fiches': row 1 has more than 1,000 cells"):
        read_workbook(wide)
    with pytest.raises(dmo_uploads.UploadRefused, match="more than 1,000 cells"):
        dmo_uploads.check_content(wide[:65536], ".xlsx", _write(tmp_path, wide))


def test_too_many_rows_or_columns_are_refused_with_the_sheet_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(xls_reader, "MAX_SHEET_ROWS", 20)
    monkeypatch.setattr(xls_reader, "MAX_SHEET_COLUMNS", 10)
    assert (
        len(read_workbook(workbook([HEADER] + [[str(i), f"Lieu {i}", "Laval"] for i in range(19)])).rows)
        == 19
    )
    # counted in the sheet's XML before it is parsed (a sheet that declares no size)
    many = with_parts({SHEET: sheet(*(text_row(f"id {i}", f"Lieu {i}") for i in range(21)))})
    assert (
        len(
            read_workbook(
                with_parts({SHEET: sheet(*(text_row(f"id {i}", f"Lieu {i}") for i in range(20)))})
            ).rows
        )
        == 19
    )
    with pytest.raises(WorkbookFormatError, match=r"sheet 'Fiches' has more than 20 rows"):
        read_workbook(many)
    with pytest.raises(dmo_uploads.UploadRefused, match="sheet 'Fiches' has more than 20 rows"):
        dmo_uploads.check_content(many[:65536], ".xlsx", _write(tmp_path, many))
    wide = with_parts({SHEET: sheet(text_row(*(f"Colonne {c}" for c in range(11))))})
    with pytest.raises(WorkbookFormatError, match=r"sheet 'Fiches': row 1 has more than 10 cells"):
        read_workbook(wide)
    # the sheet's declared size (<dimension ref>, as Excel and openpyxl write it) is refused first
    declared = with_parts({SHEET: sheet(text_row("ID", "Nom"), head=b'<dimension ref="A1:B5000"/>')})
    with pytest.raises(WorkbookFormatError, match=r"sheet 'Fiches' declares 5,000 rows and 2 columns"):
        read_workbook(declared)
    written = workbook([HEADER] + [[str(i), f"Lieu {i}", "Laval"] for i in range(30)])
    with pytest.raises(
        WorkbookFormatError, match=r"sheet 'Fiches' declares 31 rows and 3 columns \(ref A1:C31\)"
    ):
        read_workbook(written)
    with pytest.raises(dmo_uploads.UploadRefused, match="sheet 'Fiches' declares 31 rows"):
        dmo_uploads.check_content(written[:65536], ".xlsx", _write(tmp_path, written))
    written = workbook([[f"Colonne {c}" for c in range(12)], list(range(12))])
    with pytest.raises(WorkbookFormatError, match=r"declares 2 rows and 12 columns"):
        read_workbook(written)


def test_a_cell_far_right_or_far_down_is_refused_before_the_sheet_is_parsed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One cell a row, but in column XFD (a reader widens every row to 16,384 cells) or a row numbered
    1,000,000 (a reader yields every empty row before it): the XML is small, the reading is not. The sheet's
    XML is checked before openpyxl parses it, and the reader checks each row as well."""
    rows = (b'<row r="%d"><c r="XFD%d"><v>1</v></c></row>' % (r, r) for r in range(2, 2_002))
    far_right = with_parts({SHEET: sheet(text_row("ID", "Nom"), *rows)})
    far_down = with_parts(
        {SHEET: sheet(text_row("ID", "Nom"), b'<row r="1000000"><c r="A1000000"><v>1</v></c></row>')}
    )
    right = r"sheet 'Fiches': row 2 reaches column XFD, past the 1,000 columns"
    down = r"sheet 'Fiches' has more than 250,000 rows"
    for data, message in ((far_right, right), (far_down, down)):
        with pytest.raises(WorkbookFormatError, match=message):
            read_workbook(data)
        with pytest.raises(dmo_uploads.UploadRefused, match=message):
            dmo_uploads.check_content(data[:65536], ".xlsx", _write(tmp_path, data))
    # the reader's own check, were the XML to get past the first one
    monkeypatch.setattr(xls_reader, "_scan_sheet", lambda book, path, title: [])
    for data, message in ((far_right, right), (far_down, down)):
        with pytest.raises(WorkbookFormatError, match=message):
            read_workbook(data)


def test_too_many_shared_strings_are_refused_before_they_are_loaded(
    monkeypatch: pytest.MonkeyPatch, nothing_parsed: list[str]
) -> None:
    monkeypatch.setattr(xls_reader, "MAX_SHARED_STRINGS", 100)

    def strings() -> Iterator[bytes]:
        yield b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        yield b"<si><t>a</t></si>" * 150
        yield b"</sst>"

    base = zipfile.ZipFile(io.BytesIO(workbook([HEADER, ROW])))
    types = base.read("[Content_Types].xml").replace(b"</Types>", SHARED_TYPE + b"</Types>")
    bomb = with_parts({"xl/sharedStrings.xml": strings, "[Content_Types].xml": lambda: iter([types])})
    with pytest.raises(WorkbookFormatError, match=r"more than 100 shared strings"):
        read_workbook(bomb)
    monkeypatch.undo()  # openpyxl itself: the part is one it would load
    book = openpyxl.load_workbook(io.BytesIO(bomb), read_only=True)
    assert len(book.worksheets[0]._shared_strings) == 150


def test_legacy_xls_rows_and_columns_are_capped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(xls_reader, "MAX_SHEET_ROWS", 20)
    monkeypatch.setattr(xls_reader, "MAX_SHEET_COLUMNS", 10)

    def legacy(rows: int, columns: int) -> bytes:
        wb = xlwt.Workbook(encoding="utf-8")
        ws = wb.add_sheet("Fiches")
        for c in range(columns):
            ws.write(0, c, f"Colonne {c}")
        for r in range(1, rows):
            for c in range(columns):
                ws.write(r, c, f"v{r}-{c}")
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()

    assert len(read_workbook(legacy(20, 10)).rows) == 19
    with pytest.raises(WorkbookFormatError, match=r"sheet 'Fiches' has more than 20 rows"):
        read_workbook(legacy(21, 3))
    with pytest.raises(WorkbookFormatError, match=r"sheet 'Fiches' has more than 10 columns"):
        read_workbook(legacy(3, 11))
    with pytest.raises(dmo_uploads.UploadRefused, match="more than 20 rows"):
        dmo_uploads.check_content(b"\xd0\xcf\x11\xe0", ".xls", _write(tmp_path, legacy(21, 3), ".xls"))


def test_an_ordinary_workbook_passes_every_check(tmp_path: Path) -> None:
    from listings.sources.xls_reader import check_workbook

    data = workbook([HEADER] + [[str(i), f"Lieu {i}", "Laval"] for i in range(500)])
    check_workbook(data)
    dmo_uploads.check_content(data[:65536], ".xlsx", _write(tmp_path, data))
    assert len(read_workbook(data).rows) == 500


def _write(folder: Path, data: bytes, suffix: str = ".xlsx") -> Path:
    path = folder / f"upload-{len(list(folder.iterdir()))}{suffix}"
    path.write_bytes(data)
    return path
