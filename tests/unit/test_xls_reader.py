"""Unit tests for listings.sources.xls_reader and the xls connector: every workbook is built in the test
(openpyxl for .xlsx, xlwt for legacy .xls when it is installed)."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time, timedelta
from typing import Any

import openpyxl
import pytest
import xlwt  # type: ignore[import-untyped]
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import ValidationError

from listings.config.models import DmoConfig
from listings.sources.base import SourceError
from listings.sources.xls import XlsParams, XlsSource
from listings.sources.xls_reader import (
    CellError,
    WorkbookFormatError,
    cell_text,
    detect_format,
    is_identifier_column,
    read_workbook,
    unnamed_key,
)

PHONE_FORMAT = "[<=9999999]###-####;(###) ###-####"


def xlsx(*sheets: tuple[str, list[list[Any]]], setup: Any = None) -> bytes:
    """A workbook of (sheet name, rows); `setup(wb)` may merge cells, set formats, hide sheets."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets:
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    if setup is not None:
        setup(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


HEADER = ["ID", "Nom", "Ville", "Code postal", "Téléphone"]
ROW1 = ["A1", "Café Olimpico", "Montréal", "H2T 2L1", "514-555-0101"]
ROW2 = ["B2", "Hôtel Le Germain", "Montréal", "H3A 1Y9", "514-555-0102"]


def values(data: bytes, **kwargs: Any) -> list[dict[str, str]]:
    return [r.values for r in read_workbook(data, **kwargs).rows]


# -- header detection -------------------------------------------------------------------------------------


def test_title_rows_and_merged_group_headings_above_the_header_are_skipped() -> None:
    def setup(wb: openpyxl.Workbook) -> None:
        ws = wb["Data"]
        ws.merge_cells("A1:E1")
        ws.merge_cells("C4:E4")

    rows: list[list[Any]] = [
        ["Répertoire des entreprises — Montréal"],
        ["Exporté le", date(2024, 5, 14)],
        [],
        [None, None, "Adresse"],
        HEADER,
        ROW1,
        ROW2,
    ]
    result = read_workbook(xlsx(("Data", rows), setup=setup))
    assert (result.format, result.sheet, result.header_row, result.header) == ("xlsx", "Data", 5, HEADER)
    assert [(r.row_no, r.sheet_row) for r in result.rows] == [(1, 6), (2, 7)]
    assert result.rows[0].values == dict(zip(HEADER, ROW1, strict=True))


def test_a_subtitle_of_distinct_texts_is_not_the_header_when_the_rows_below_are_wider() -> None:
    rows: list[list[Any]] = [["Région", "Montréal"], HEADER, ROW1]
    assert read_workbook(xlsx(("Data", rows))).header_row == 2


def test_two_row_header_with_vertically_merged_cells_names_every_column() -> None:
    def setup(wb: openpyxl.Workbook) -> None:
        ws = wb["Data"]
        ws.merge_cells("A1:A2")
        ws.merge_cells("B1:B2")
        ws.merge_cells("C1:E1")

    rows: list[list[Any]] = [
        ["ID", "Nom", "Adresse"],
        [None, None, "Rue", "Ville", "Code\npostal"],
        ["A1", "Café Olimpico", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1"],
    ]
    result = read_workbook(xlsx(("Data", rows), setup=setup))
    assert result.header_row == 2
    assert result.header == ["ID", "Nom", "Rue", "Ville", "Code postal"]  # Alt+Enter collapsed
    assert result.rows[0].values["Nom"] == "Café Olimpico"


def test_a_row_of_merged_group_headings_over_an_unmerged_header_is_skipped() -> None:
    def setup(wb: openpyxl.Workbook) -> None:
        ws = wb["Data"]
        ws.merge_cells("C1:E1")
        ws.merge_cells("F1:G1")

    rows: list[list[Any]] = [
        [None, None, "Adresse", None, None, "Contact"],
        ["ID", "Nom", "Rue", "Ville", "Code postal", "Téléphone", "Courriel"],
        ["A1", "Café", "124 rue X", "Montréal", "H2T 2L1", "514-555-0101", "a@example.com"],
    ]
    result = read_workbook(xlsx(("Data", rows), setup=setup))
    assert result.header_row == 2 and result.header[2:5] == ["Rue", "Ville", "Code postal"]


def test_a_header_cell_merged_across_columns_names_them_with_a_suffix() -> None:
    def setup(wb: openpyxl.Workbook) -> None:
        wb["Data"].merge_cells("C1:D1")

    rows: list[list[Any]] = [["ID", "Nom", "Adresse", None], ["A1", "Café", "124 rue X", "local 2"]]
    assert values(xlsx(("Data", rows), setup=setup)) == [
        {"ID": "A1", "Nom": "Café", "Adresse": "124 rue X", "Adresse (2)": "local 2"}
    ]


def test_explicit_header_row_is_used_as_given() -> None:
    rows: list[list[Any]] = [["x", "y"], ["Code", "Libellé"], ["1", "Hôtel"], ["2", "Café"]]
    assert read_workbook(xlsx(("Data", rows))).header_row == 1
    result = read_workbook(xlsx(("Data", rows)), header_row=2)
    assert result.header == ["Code", "Libellé"] and [r.values["Libellé"] for r in result.rows] == [
        "Hôtel",
        "Café",
    ]
    with pytest.raises(WorkbookFormatError, match=r"row 9 .*empty"):
        read_workbook(xlsx(("Data", rows)), header_row=9)


def test_a_header_only_sheet_has_no_rows() -> None:
    result = read_workbook(xlsx(("Data", [["Titre"], HEADER])))
    assert (result.header_row, result.rows, result.errors) == (2, [], [])


def test_duplicate_header_names_are_an_error_naming_the_columns() -> None:
    rows: list[list[Any]] = [["ID", "Nom", "Ville", "Nom", "Tél"], ROW1]
    with pytest.raises(WorkbookFormatError, match=r"column D 'Nom' duplicates column B"):
        read_workbook(xlsx(("Data", rows)))


def test_an_unnamed_column_with_data_is_kept_under_its_letter_and_an_empty_one_is_ignored() -> None:
    rows: list[list[Any]] = [["ID", "Nom", None, "Ville"], ["A1", "Café", None, "Montréal"]]
    assert values(xlsx(("Data", rows))) == [{"ID": "A1", "Nom": "Café", "Ville": "Montréal"}]
    rows.append(["B2", "Bar", "note", "Laval"])
    result = read_workbook(xlsx(("Data", rows)))
    assert [r.values for r in result.rows] == [
        {"ID": "A1", "Nom": "Café", "Ville": "Montréal", "_col_C": ""},
        {"ID": "B2", "Nom": "Bar", "_col_C": "note", "Ville": "Laval"},
    ]
    assert result.unnamed_columns == {"_col_C": 3} and unnamed_key(26) == "_col_AA"


# -- sheets -----------------------------------------------------------------------------------------------

NOTES: list[list[Any]] = [["Ce classeur contient les fiches."], ["Voir l'onglet Fiches."]]
DICTIONARY: list[list[Any]] = [["Colonne", "Contenu"], ["ID", "Identifiant"], ["Nom", "Nom commercial"]]
DATA: list[list[Any]] = [HEADER, ROW1, ROW2]


def test_sheet_by_name_and_by_index() -> None:
    data = xlsx(("Autre", [["a", "b"], ["1", "2"]]), ("Fiches", DATA))
    by_name = read_workbook(data, sheet="Fiches")
    by_index = read_workbook(data, sheet=1)
    assert by_name.sheet == by_index.sheet == "Fiches" and by_index.sheet_index == 1
    assert by_name.sheets == ["Autre", "Fiches"] and values(data, sheet=1)[0]["Nom"] == "Café Olimpico"
    assert read_workbook(data, sheet=" fiches ").sheet == "Fiches"  # case and spaces forgiven
    assert read_workbook(data).sheet == "Autre"  # default: the first sheet with a header
    with pytest.raises(WorkbookFormatError, match=r"no sheet named 'Listes' \(sheets: 'Autre', 'Fiches'\)"):
        read_workbook(data, sheet="Listes")
    with pytest.raises(WorkbookFormatError, match="index 2 is out of range"):
        read_workbook(data, sheet=2)


def test_empty_or_notes_first_sheets_and_hidden_sheets_are_passed_over() -> None:
    def hide(wb: openpyxl.Workbook) -> None:
        wb["Listes"].sheet_state = "hidden"

    data = xlsx(("Vide", []), ("Lisez-moi", NOTES), ("Listes", DICTIONARY), ("Fiches", DATA), setup=hide)
    assert read_workbook(data).sheet == "Fiches"
    with pytest.raises(WorkbookFormatError, match="'Vide': empty"):
        read_workbook(data, sheet=0)
    with pytest.raises(WorkbookFormatError, match="no header row in the first 30 rows"):
        read_workbook(data, sheet="Lisez-moi")
    assert read_workbook(data, sheet="Listes").header == ["Colonne", "Contenu"]  # hidden, but asked for


def test_the_sheet_with_the_mapped_name_column_is_preferred() -> None:
    data = xlsx(("Lisez-moi", DICTIONARY), ("Fiches", DATA))
    assert read_workbook(data).sheet == "Lisez-moi"
    assert read_workbook(data, prefer_column="Nom").sheet == "Fiches"
    assert read_workbook(data, prefer_column="Absent").sheet == "Lisez-moi"  # none has it: the first


def test_a_workbook_without_any_header_says_why_per_sheet() -> None:
    with pytest.raises(
        WorkbookFormatError, match=r"no sheet has a header row: 'Vide' \(empty\); 'Notes' \(no header"
    ):
        read_workbook(xlsx(("Vide", []), ("Notes", NOTES)))


# -- values -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        (5145550123.0, "General", "5145550123"),
        (5145550123, "General", "5145550123"),
        (12.0, "General", "12"),
        (-3.0, "General", "-3"),
        (45.501689, "0.00", "45.501689"),
        (0.1 + 0.2, "General", "0.3"),
        (1.5e20, "General", "150000000000000000000"),
        (1.2345678901234567e19, "General", "12345678901234600000"),
        (0.00001, "General", "0.00001"),
        (5830, "00000", "05830"),
        (5830.0, "00000", "05830"),
        (5145550123, PHONE_FORMAT, "(514) 555-0123"),
        (5550123, PHONE_FORMAT, "555-0123"),
        (5145550123, "000-000-0000", "514-555-0123"),
        (123, '"No "0000', "No 0123"),
        (1234567, "#,##0", "1234567"),
        (0.15, "0%", "0.15"),
        (True, "General", "true"),
        (False, "General", "false"),
        (date(2024, 5, 14), "yyyy-mm-dd", "2024-05-14"),
        (datetime(2024, 5, 14), "yyyy-mm-dd", "2024-05-14"),
        (datetime(2024, 5, 14, 9, 30), "yyyy-mm-dd h:mm", "2024-05-14T09:30:00"),
        (datetime(2024, 5, 14, 9, 29, 59, 999000), "yyyy-mm-dd h:mm", "2024-05-14T09:30:00"),
        (time(9, 30), "h:mm", "09:30:00"),
        (timedelta(hours=30, minutes=5), "[h]:mm", "30:05:00"),
        (None, "", ""),
        ("  texte tel quel ", "@", "  texte tel quel "),
        (CellError("#N/A"), "", ""),
    ],
)
def test_cell_text(value: Any, fmt: str, expected: str) -> None:
    assert cell_text(value, fmt) == expected


def test_typed_values_in_a_workbook_come_out_as_people_read_them() -> None:
    def setup(wb: openpyxl.Workbook) -> None:
        ws: Worksheet = wb["Data"]
        ws["D2"].number_format = "00000"
        ws["E2"].number_format = PHONE_FORMAT
        ws["G2"].number_format = "yyyy-mm-dd"
        ws["H2"].number_format = "yyyy-mm-dd hh:mm"

    header = [
        "ID",
        "Nom",
        "Étoiles",
        "Code postal",
        "Téléphone",
        "Accessible",
        "Ouverture",
        "Mise à jour",
        "Lat",
    ]
    row = [10001, "Inn", 3.0, 5830, 8025550151, True, date(2024, 6, 1), datetime(2024, 5, 14, 9, 30), 45.5]
    assert values(xlsx(("Data", [header, row]), setup=setup)) == [
        {
            "ID": "10001", "Nom": "Inn", "Étoiles": "3", "Code postal": "05830", "Téléphone": "(802) 555-0151",
            "Accessible": "true", "Ouverture": "2024-06-01", "Mise à jour": "2024-05-14T09:30:00", "Lat": "45.5",
        }
    ]  # fmt: skip


def test_error_cells_are_empty_except_in_identifier_columns_where_they_reject_the_row() -> None:
    rows: list[list[Any]] = [["ID", "Nom", "Note"], ["A1", "Café", "#DIV/0!"], ["#REF!", "Bar", "ok"]]
    result = read_workbook(xlsx(("Data", rows)))
    assert [r.values for r in result.rows] == [{"ID": "A1", "Nom": "Café", "Note": ""}]
    (err,) = result.errors
    assert (err.row_no, err.sheet_row, err.error_type) == (2, 3, "invalid_cell")
    assert "the error value #REF!" in err.message and err.original["ID"] == "#REF!"


@pytest.mark.parametrize(
    "name",
    ["ID", "No de fiche", "Numéro", "Téléphone", "Tél.", "Phone", "Fax", "Code postal", "Postal", "ZIP", "ListingID",
     "postalCode", "# CITQ", "Sans frais", "Cellulaire"],
)  # fmt: skip
def test_identifier_columns(name: str) -> None:
    assert is_identifier_column(name)


@pytest.mark.parametrize(
    "name", ["Nom", "Ville", "Latitude", "Description", "Site web", "Catégorie", "Province"]
)
def test_not_identifier_columns(name: str) -> None:
    assert not is_identifier_column(name)


def test_a_phone_or_postal_code_excel_made_a_date_rejects_the_row_naming_the_cell() -> None:
    def setup(wb: openpyxl.Workbook) -> None:
        wb["Data"]["E3"].number_format = "d-mmm"

    rows: list[list[Any]] = [HEADER, ROW1, ["B2", "Bar", "Laval", "H7N 1A1", datetime(2024, 3, 15)], ROW2]
    result = read_workbook(xlsx(("Data", rows), setup=setup))
    assert [r.row_no for r in result.rows] == [1, 3]
    (err,) = result.errors
    assert (err.row_no, err.sheet_row, err.error_type) == (2, 3, "invalid_cell")
    assert "cell E3 ('Téléphone') holds the date 2024-03-15" in err.message
    assert err.original["Téléphone"] == "2024-03-15" and err.original["_sheet"] == "Data"


def test_a_date_in_a_column_the_config_maps_to_phone_is_rejected_whatever_its_header() -> None:
    rows: list[list[Any]] = [["Nom", "Joindre"], ["Café", datetime(2024, 3, 15)]]
    assert read_workbook(xlsx(("Data", rows))).rows[0].values["Joindre"] == "2024-03-15"
    result = read_workbook(xlsx(("Data", rows)), identifier_columns=["Joindre"])
    assert result.rows == [] and result.errors[0].error_type == "invalid_cell"


def test_blank_rows_are_skipped_and_not_counted_and_longer_rows_keep_their_extra_cells() -> None:
    rows: list[list[Any]] = [HEADER, ROW1, [], [None, "  ", None], ["C3", "Bistro"], [*ROW2, None, "surplus"]]
    result = read_workbook(xlsx(("Data", rows)))
    assert result.blank_rows == 2 and result.errors == []
    assert [(r.row_no, r.sheet_row) for r in result.rows] == [(1, 2), (2, 5), (3, 6)]
    short, long = result.rows[1].values, result.rows[2].values
    assert short == {
        "ID": "C3",
        "Nom": "Bistro",
        "Ville": "",
        "Code postal": "",
        "Téléphone": "",
        "_col_G": "",
    }
    assert long["_col_G"] == "surplus" and result.unnamed_columns == {"_col_G": 6}


def test_a_data_cell_merged_down_fills_its_column_only() -> None:
    def setup(wb: openpyxl.Workbook) -> None:
        ws = wb["Data"]
        ws.merge_cells("C2:C4")
        ws.merge_cells("D5:E5")

    rows: list[list[Any]] = [
        HEADER,
        ["A1", "Café", "Magog", "J1X 1A1", "819-555-0101"],
        ["A2", "Bar", None, "J1X 1A2", None],
        ["A3", "Spa", None, "J1X 1A3", None],
        ["A4", "Gîte", "Bromont", "pas de code postal", None],
    ]
    got = values(xlsx(("Data", rows), setup=setup))
    assert [r["Ville"] for r in got] == ["Magog", "Magog", "Magog", "Bromont"]
    assert (got[3]["Code postal"], got[3]["Téléphone"]) == ("pas de code postal", "")


# -- formats ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"<!DOCTYPE html><html><table><tr><td>Nom</td></tr></table>", "HTML"),
        ("Nom;Ville\nCafé;Montréal\n".encode("cp1252"), "a text file"),
        (b"%PDF-1.7\n\x00\x01", "a PDF document"),
        (b"\x00\x01\x02\x03binary", "an unknown binary format"),
    ],
)
def test_bad_magic_bytes_say_what_the_file_is(data: bytes, message: str) -> None:
    with pytest.raises(WorkbookFormatError, match=message):
        detect_format(data)
    with pytest.raises(WorkbookFormatError, match="not an Excel workbook" if data else "empty"):
        read_workbook(data)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, body in files.items():
            z.writestr(name, body)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}), r"OpenDocument .*\.ods"),
        (_zip({"xl/workbook.bin": b"\x00"}), r"\.xlsb"),
        (_zip({"word/document.xml": b"<w/>"}), "not an Excel workbook"),
        (_zip({"xl/workbook.xml": b"<broken"}), "unreadable .xlsx"),
        (b"PK\x03\x04 truncated", "damaged ZIP"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "unreadable .xls"),
    ],
)
def test_zip_and_ole2_files_that_are_not_readable_workbooks(data: bytes, message: str) -> None:
    with pytest.raises(WorkbookFormatError, match=message):
        read_workbook(data)


def test_format_comes_from_the_magic_bytes() -> None:
    assert detect_format(xlsx(("Data", DATA))) == "xlsx"
    assert detect_format(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest") == "xls"
    assert detect_format(b"\x09\x04\x06\x00\x00\x00\x10\x00") == "xls"  # Excel 4.0: a bare BIFF stream


def test_password_protected_and_strict_workbooks_say_so() -> None:
    encrypted = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500 + "EncryptedPackage".encode("utf-16-le")
    with pytest.raises(WorkbookFormatError, match="password-protected"):
        read_workbook(encrypted)
    strict = _zip({"xl/workbook.xml": b'<workbook xmlns="http://purl.oclc.org/ooxml/spreadsheetml/main"/>'})
    with pytest.raises(WorkbookFormatError, match="Strict Open XML"):
        read_workbook(strict)


def test_a_sheet_the_library_cannot_parse_is_a_format_error_naming_it() -> None:
    src = zipfile.ZipFile(io.BytesIO(xlsx(("Fiches", DATA))))
    broken = {n: src.read(n) for n in src.namelist()}
    sheet = next(n for n in broken if n.startswith("xl/worksheets/"))
    broken[sheet] = broken[sheet].replace(
        b"<sheetData>", b"<sheetData><row r='x'><c r='A1' t='s'><v>99</v></c></row>"
    )
    with pytest.raises(WorkbookFormatError, match="sheet 'Fiches' cannot be read"):
        read_workbook(_zip(broken))


def test_a_sheet_of_many_rows_reads_every_row_below_its_title() -> None:
    """(Its speed at 10,000 rows: bench/readers.py.)"""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Liste des fiches"])
    ws.append([f"Colonne {i}" for i in range(1, 16)])
    for i in range(1000):
        ws.append([i + 1, f"Lieu {i}", 45.5 + i / 1e5, -73.5, 5145550000 + i, date(2024, 1, 1), True]
                  + [f"texte {i}-{c}" for c in range(8)])  # fmt: skip
    buf = io.BytesIO()
    wb.save(buf)
    result = read_workbook(buf.getvalue())
    assert len(result.rows) == 1000 and result.header_row == 2
    assert (
        result.rows[-1].values["Colonne 1"] == "1000" and result.rows[-1].values["Colonne 5"] == "5145550999"
    )


# -- legacy .xls (written with xlwt; xlrd only reads) -----------------------------------------------------


def test_legacy_xls_title_rows_merges_numbers_dates_and_booleans() -> None:
    wb = xlwt.Workbook(encoding="utf-8")
    wb.add_sheet("Vide")
    ws = wb.add_sheet("Répertoire")
    ws.write_merge(0, 0, 0, 6, "Répertoire — Cantons-de-l'Est")
    header = ["No de fiche", "Nom", "Ville", "Code postal", "Téléphone", "Accessible", "Mise à jour"]
    for c, name in enumerate(header):
        ws.write(2, c, name)
    zip_style = xlwt.easyxf(num_format_str="00000")
    day = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    ws.write(3, 0, 30001.0)
    ws.write(3, 1, "Café du Lac")
    ws.write_merge(3, 5, 2, 2, "Magog")
    ws.write(3, 3, 5830, zip_style)
    ws.write(3, 4, 8195550101.0)
    ws.write(3, 5, True)
    ws.write(3, 6, datetime(2024, 5, 14, 9, 30), xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM"))
    ws.write(5, 0, 30002.0)
    ws.write(5, 1, "Bistro")
    ws.write(5, 4, date(2024, 3, 15), day)
    ws.write(6, 0, 30003.0)
    ws.write(6, 1, "Gîte")
    ws.write(6, 6, date(2023, 1, 2), day)
    buf = io.BytesIO()
    wb.save(buf)

    result = read_workbook(buf.getvalue())
    assert (result.format, result.sheet, result.header_row, result.header) == ("xls", "Répertoire", 3, header)
    assert result.blank_rows == 1  # row 5: only its merged city, which the block fills in, so not blank
    first, gite = result.rows
    assert first.values == {
        "No de fiche": "30001", "Nom": "Café du Lac", "Ville": "Magog", "Code postal": "05830",
        "Téléphone": "8195550101", "Accessible": "true", "Mise à jour": "2024-05-14T09:30:00",
    }  # fmt: skip
    assert (gite.row_no, gite.sheet_row, gite.values["Mise à jour"], gite.values["Ville"]) == (
        3,
        7,
        "2023-01-02",
        "",
    )
    (err,) = result.errors
    assert (err.row_no, err.sheet_row, err.error_type) == (2, 6, "invalid_cell")
    assert "E6" in err.message and err.original["Ville"] == "Magog"


# -- the connector ----------------------------------------------------------------------------------------


def config(**params: Any) -> DmoConfig:
    return DmoConfig.model_validate(
        {
            "dmo": {"id": 103, "name": "Test", "dmo_type": "PARTNER", "country": "CA", "state": "QC"},
            "source_type": "xls",
            "field_mappings": {"source_id": "ID", "name": "Nom", "city": "Ville", "phone": "Téléphone"},
            "config_params": params,
        }
    )


def test_parse_gives_records_with_provenance_and_metadata() -> None:
    data = xlsx(("Lisez-moi", DICTIONARY), ("Fiches", [["Titre"], [], HEADER, ROW1, [], ROW2]))
    result = XlsSource().parse(data, config())
    assert [r.row_no for r in result.records] == [1, 2] and result.errors == []
    assert result.records[1].provenance == {
        "row_no": 2,
        "sheet": "Fiches",
        "sheet_row": 6,
        "original_id": "B2",
    }
    assert result.records[0].values["Nom"] == "Café Olimpico"
    meta = result.metadata
    assert (meta["format"], meta["sheet"], meta["sheet_index"], meta["header_row"]) == (
        "xlsx",
        "Fiches",
        1,
        3,
    )
    assert meta["sheets"] == ["Lisez-moi", "Fiches"] and meta["blank_rows"] == 1
    assert meta["mapped_columns_missing"] == [] and "Téléphone" in meta["identifier_columns"]


def test_parse_turns_unreadable_workbooks_into_source_errors() -> None:
    with pytest.raises(SourceError, match=r"DMO 103: unreadable spreadsheet: .*no sheet named 'Nope'"):
        XlsSource().parse(xlsx(("Fiches", DATA)), config(sheet="Nope"))
    with pytest.raises(SourceError, match="DMO 103: unreadable spreadsheet: not an Excel workbook"):
        XlsSource().parse(b"ID,Nom\n1,x\n", config())


def test_params() -> None:
    assert XlsParams.model_validate({"sheet": 0}).sheet == 0
    assert XlsParams.model_validate({"sheet": " Fiches "}).sheet == "Fiches"
    assert config(sheet=2, header_row=4).config_params == {
        "file": None, "sheet": 2, "header_row": 4, "image_separator": "|",
    }  # fmt: skip
    for bad in ({"sheet": -1}, {"header_row": 0}, {"sheet": True}, {"delimiter": ";"}):
        with pytest.raises(ValidationError):
            XlsParams.model_validate(bad)
