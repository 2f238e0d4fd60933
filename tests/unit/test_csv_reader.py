"""Unit tests for listings.sources.csv_reader (all data is built in the tests)."""

from __future__ import annotations

import codecs

import pytest

from listings.sources.csv_reader import (
    CsvFormatError,
    CsvReadResult,
    CsvRow,
    CsvRowError,
    iter_csv,
    read_csv,
)


def values(result: CsvReadResult) -> list[dict[str, str]]:
    return [row.values for row in result.rows]


# -- encodings --------------------------------------------------------------------------------------------

CP1252_TEXT = "Café Olé – Montréal’s best"


def test_utf8_without_bom() -> None:
    result = read_csv(f"name,price\n{CP1252_TEXT},€ 12\n".encode())
    assert result.encoding == "utf-8"
    assert result.header == ["name", "price"]
    assert values(result) == [{"name": CP1252_TEXT, "price": "€ 12"}]
    assert result.errors == []


def test_utf8_with_bom_is_stripped_and_reported() -> None:
    result = read_csv(codecs.BOM_UTF8 + f"name,city\n{CP1252_TEXT},Montréal\n".encode())
    assert result.encoding == "utf-8-sig"
    assert result.header == ["name", "city"]
    assert values(result) == [{"name": CP1252_TEXT, "city": "Montréal"}]


def test_pure_ascii_is_utf8() -> None:
    assert read_csv(b"a,b\n1,2\n").encoding == "utf-8"


def test_cp1252_detected() -> None:
    data = f"name;price\n{CP1252_TEXT};€ 12\nHôtel de l’Océan;—\n".encode("cp1252")
    result = read_csv(data)
    assert result.encoding == "cp1252"
    assert result.delimiter == ";"
    assert values(result) == [
        {"name": CP1252_TEXT, "price": "€ 12"},
        {"name": "Hôtel de l’Océan", "price": "—"},
    ]


def test_latin1_bytes_that_cp1252_also_decodes_come_out_right_as_cp1252() -> None:
    text = "Zürich Señor ½ Straße,Bâle\n"
    result = read_csv(("name,city\n" + text).encode("latin-1"))
    assert result.encoding == "cp1252"  # identical for these bytes; cp1252 is preferred
    assert values(result) == [{"name": "Zürich Señor ½ Straße", "city": "Bâle"}]


def test_latin1_when_cp1252_cannot_decode() -> None:
    # 0x81 is undefined in cp1252; latin-1 decodes every byte.
    data = "name,city\nGasthof Mühle\x81,Köln\n".encode("latin-1")
    result = read_csv(data)
    assert result.encoding == "latin-1"
    assert values(result) == [{"name": "Gasthof Mühle\x81", "city": "Köln"}]


def test_non_latin_single_byte_encoding_found_by_charset_normalizer() -> None:
    data = "название;город\nГостиница Москва;Москва\nРесторан Пушкин;Санкт-Петербург\n".encode("cp1251")
    result = read_csv(data)
    assert result.encoding == "cp1251"
    assert values(result)[1] == {"название": "Ресторан Пушкин", "город": "Санкт-Петербург"}


def test_utf16_with_bom_excel_unicode_text() -> None:
    result = read_csv("name\tcity\nCafé\tMontréal\n".encode("utf-16"))
    assert result.encoding == "utf-16"
    assert result.delimiter == "\t"
    assert values(result) == [{"name": "Café", "city": "Montréal"}]


def test_utf8_file_with_one_cp1252_row_reports_that_row() -> None:
    data = (
        "id,name,city\n1,Café,Paris\n".encode()
        + "2,Olé,Nice\n".encode("cp1252")
        + "3,Crème brûlée,Lyon\n".encode()
    )
    result = read_csv(data)
    assert result.encoding == "utf-8"
    assert values(result) == [
        {"id": "1", "name": "Café", "city": "Paris"},
        {"id": "3", "name": "Crème brûlée", "city": "Lyon"},
    ]
    [error] = result.errors
    assert (error.row_no, error.line_no, error.error_type) == (2, 3, "decode_error")
    assert "0xe9" in error.message and "row 2 (line 3)" in error.message
    assert error.original["_raw"] == "2,Ol\\xe9,Nice"
    assert error.original["id"] == "2"


def test_explicit_encoding_wins() -> None:
    utf8 = "name\nCafé\n".encode()
    result = read_csv(utf8, encoding="cp1252")
    assert result.encoding == "cp1252"
    assert values(result) == [{"name": "CafÃ©"}]

    assert read_csv("name\nCafé\n".encode("cp1252"), encoding="latin1").encoding == "latin-1"


def test_explicit_utf8_on_a_bom_file_strips_the_bom() -> None:
    result = read_csv(codecs.BOM_UTF8 + b"name\nx\n", encoding="utf-8")
    assert result.encoding == "utf-8-sig"
    assert result.header == ["name"]


def test_explicit_encoding_that_does_not_fit_gives_decode_errors_per_row() -> None:
    data = "id,name\n1,Paris\n2,Montréal\n3,Lyon\n".encode("cp1252")
    result = read_csv(data, encoding="utf-8")
    assert [r.values["id"] for r in result.rows] == ["1", "3"]
    [error] = result.errors
    assert (error.row_no, error.line_no, error.error_type) == (2, 3, "decode_error")
    assert "configured" in error.message


def test_unknown_encoding_argument() -> None:
    with pytest.raises(ValueError, match="unknown encoding"):
        read_csv(b"a\n1\n", encoding="no-such-codec")


# -- delimiters -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_detected(delimiter: str) -> None:
    rows = [
        ["name", "address", "lat", "lon"],
        ["Hôtel A", "1 rue X", "48.85", "2.35"],
        ["B & B", "2 Main St", "51.5", "-0.12"],
    ]
    # Values containing the *other* candidates must not confuse detection.
    others = "".join(c for c in ",;|" if c != delimiter)
    rows.append([f"C{others}D", "3 Road", "1", "2"])
    text = "\n".join(
        delimiter.join(f'"{v}"' if any(c in v for c in ",;\t|") else v for v in row) for row in rows
    )
    result = read_csv((text + "\n").encode())
    assert result.delimiter == delimiter
    assert result.header == ["name", "address", "lat", "lon"]
    assert [r.values["name"] for r in result.rows] == ["Hôtel A", "B & B", f"C{others}D"]
    assert result.errors == []


def test_semicolon_file_with_decimal_commas() -> None:
    result = read_csv(b"name;lat;lon\nA;48,85;2,35\nB;43,29;5,37\n")
    assert result.delimiter == ";"
    assert values(result)[0] == {"name": "A", "lat": "48,85", "lon": "2,35"}


def test_detection_respects_quotes() -> None:
    data = b'id,description\n1,"a;b;c;d"\n2,"e;f;g;h"\n3,"i;j;k;l"\n'
    result = read_csv(data)
    assert result.delimiter == ","
    assert [r.values["description"] for r in result.rows] == ["a;b;c;d", "e;f;g;h", "i;j;k;l"]


def test_single_column_file() -> None:
    result = read_csv(b"name\nA\nB\n")
    assert result.header == ["name"]
    assert values(result) == [{"name": "A"}, {"name": "B"}]


def test_explicit_delimiter_wins() -> None:
    data = b"a;b,c\n1;2,3\n"
    assert read_csv(data).header == ["a;b", "c"]  # a tie: "," comes first
    result = read_csv(data, delimiter=";")
    assert result.delimiter == ";"
    assert values(result) == [{"a": "1", "b,c": "2,3"}]


def test_bad_delimiter_argument() -> None:
    with pytest.raises(ValueError, match="delimiter"):
        read_csv(b"a\n", delimiter=";;")


# -- quoting and line endings -----------------------------------------------------------------------------


def test_quoted_delimiters_doubled_quotes_and_newlines() -> None:
    data = b'id,name,desc\n1,"Smith, John","He said ""hi"""\n2,"multi\nline, text","x\r\ny"\n3,plain,z\n'
    result = read_csv(data)
    assert values(result) == [
        {"id": "1", "name": "Smith, John", "desc": 'He said "hi"'},
        {"id": "2", "name": "multi\nline, text", "desc": "x\r\ny"},
        {"id": "3", "name": "plain", "desc": "z"},
    ]
    assert [(r.row_no, r.line_no) for r in result.rows] == [(1, 2), (2, 3), (3, 6)]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings(eol: str) -> None:
    text = eol.join(["id,name", "1,A", f'2,"two{eol}lines"', "3,C", ""])
    result = read_csv(text.encode())
    assert values(result) == [
        {"id": "1", "name": "A"},
        {"id": "2", "name": f"two{eol}lines"},
        {"id": "3", "name": "C"},
    ]
    assert [r.line_no for r in result.rows] == [2, 3, 5]


def test_last_line_without_terminator() -> None:
    assert values(read_csv(b"a,b\r\n1,2")) == [{"a": "1", "b": "2"}]


def test_values_are_not_trimmed() -> None:
    result = read_csv(b"name , city\n  Caf\xc3\xa9 ,\tParis \n")
    assert result.header == ["name", "city"]
    assert values(result) == [{"name": "  Café ", "city": "\tParis "}]


# -- blank lines ------------------------------------------------------------------------------------------


def test_blank_lines_are_skipped_and_counted() -> None:
    data = b'\n  \nid,name,city\n1,A,X\n\n,,\n   \n\t\n"",\t, \n2,B,Y\n,,,,\n'
    result = read_csv(data)
    assert result.header == ["id", "name", "city"]
    assert values(result) == [{"id": "1", "name": "A", "city": "X"}, {"id": "2", "name": "B", "city": "Y"}]
    assert [(r.row_no, r.line_no) for r in result.rows] == [(1, 4), (2, 10)]
    assert result.errors == []
    assert result.blank_lines == 8  # 2 before the header, 5 between the rows, 1 at the end


def test_header_only_file() -> None:
    result = read_csv(b"id,name\n\n")
    assert result.header == ["id", "name"]
    assert result.rows == [] and result.errors == []
    assert result.blank_lines == 1


# -- ragged rows ------------------------------------------------------------------------------------------


def test_row_with_more_fields_is_an_error_and_reading_goes_on() -> None:
    result = read_csv(b"id,name,city\n1,A,X\n2,B,Y,extra,more\n3,C,Z\n")
    assert [r.values["id"] for r in result.rows] == ["1", "3"]
    [error] = result.errors
    assert (error.row_no, error.line_no, error.error_type) == (2, 3, "ragged_row")
    assert error.message.startswith("row 2 (line 3) has 5 fields, the header has 3")
    assert "'extra'" in error.message
    assert error.original == {
        "id": "2",
        "name": "B",
        "city": "Y",
        "_extra": ["extra", "more"],
        "_raw": "2,B,Y,extra,more",
    }


def test_row_with_fewer_fields_is_an_error() -> None:
    result = read_csv(b"id,name,city,phone\r\n1,A,X,123\r\n2,B\r\n3,C,Z,456\r\n")
    assert [r.values["id"] for r in result.rows] == ["1", "3"]
    [error] = result.errors
    assert (error.row_no, error.line_no, error.error_type) == (2, 3, "ragged_row")
    assert error.message.startswith("row 2 (line 3) has 2 fields, the header has 4")
    assert error.original == {"id": "2", "name": "B", "_missing": ["city", "phone"], "_raw": "2,B"}


def test_trailing_empty_extra_fields_are_accepted() -> None:
    result = read_csv(b"id,name\n1,A,,\n2,B, ,\t\n3,C,\n")
    assert result.errors == []
    assert values(result) == [{"id": "1", "name": "A"}, {"id": "2", "name": "B"}, {"id": "3", "name": "C"}]


def test_trailing_empty_header_names_from_excel_are_dropped() -> None:
    result = read_csv(b"id,name,,\n1,A,,\n2,B,x,\n")
    assert result.header == ["id", "name"]
    assert values(result) == [{"id": "1", "name": "A"}]
    [error] = result.errors
    assert error.error_type == "ragged_row" and error.original["_extra"] == ["x", ""]


def test_row_and_line_numbers_after_a_quoted_newline_and_blank_lines() -> None:
    data = b'id,name,desc\n1,A,"first\nsecond\nthird"\n\n2,B,ok\n3,C\n4,D,"x\ny",extra\n5,E,ok\n'
    result = read_csv(data)
    assert [(r.row_no, r.line_no, r.values["id"]) for r in result.rows] == [
        (1, 2, "1"),
        (2, 6, "2"),
        (5, 10, "5"),
    ]
    assert [(e.row_no, e.line_no, e.error_type) for e in result.errors] == [
        (3, 7, "ragged_row"),
        (4, 8, "ragged_row"),
    ]
    assert result.errors[0].message.startswith("row 3 (line 7) has 2 fields")
    assert result.errors[1].message.startswith("row 4 (lines 8-9) has 4 fields")
    assert result.errors[1].original["_raw"] == '4,D,"x\ny",extra'
    assert result.blank_lines == 1


# -- unclosed quotes --------------------------------------------------------------------------------------


def test_unclosed_quote_does_not_swallow_following_rows() -> None:
    data = b'id,name,city\n1,"Hotel A,Paris\n2,Hotel B,Lyon\n3,"Hotel C",Nice\n4,D,Metz\n'
    result = read_csv(data)
    assert [(r.row_no, r.line_no, r.values["name"]) for r in result.rows] == [
        (2, 3, "Hotel B"),
        (3, 4, "Hotel C"),
        (4, 5, "D"),
    ]
    [error] = result.errors
    assert (error.row_no, error.line_no, error.error_type) == (1, 2, "unclosed_quote")
    assert error.original["_raw"] == '1,"Hotel A,Paris'


def test_well_quoted_multiline_value_is_not_mistaken_for_an_unclosed_quote() -> None:
    # The second physical line alone would look like a 2-field row, but the quoting is well-formed.
    result = read_csv(b'name,description\nA,"Open daily\nClosed Mondays, holidays"\nB,short\n')
    assert result.errors == []
    assert values(result) == [
        {"name": "A", "description": "Open daily\nClosed Mondays, holidays"},
        {"name": "B", "description": "short"},
    ]


def test_unclosed_quote_running_to_the_end_of_the_file() -> None:
    result = read_csv(b'id,name,city\n1,"Hotel A,Paris\n2,Hotel B,Lyon\n3,Hotel C,Nice\n')
    assert [r.values["id"] for r in result.rows] == ["2", "3"]
    assert [e.error_type for e in result.errors] == ["unclosed_quote"]


def test_unclosed_quote_in_a_large_file_is_one_error_and_reading_recovers() -> None:
    lines = ["id,name,city", '1,"Hotel A,Paris'] + [f"{i},Hotel {i},City {i}" for i in range(2, 20_002)]
    result = read_csv(("\n".join(lines) + "\n").encode())
    assert len(result.rows) == 20_000
    [error] = result.errors
    assert (error.row_no, error.line_no, error.error_type) == (1, 2, "unclosed_quote")


# -- header and whole-file errors -------------------------------------------------------------------------


def test_header_names_are_stripped_of_whitespace_and_bom() -> None:
    result = read_csv(b" id ,\tname\t, \xef\xbb\xbfcity\n1,A,X\n", encoding="utf-8")
    assert result.header == ["id", "name", "city"]


def test_duplicate_header_name() -> None:
    with pytest.raises(CsvFormatError, match=r"column 3 'name' duplicates column 2"):
        read_csv(b"id,name, name\n1,A,B\n")


def test_empty_header_name() -> None:
    with pytest.raises(CsvFormatError, match=r"column 2 has no name"):
        read_csv(b"id,,city\n1,A,X\n")


@pytest.mark.parametrize("data", [b"", codecs.BOM_UTF8, b"\n\n", b" \r\n,,,\r\n"])
def test_empty_file(data: bytes) -> None:
    with pytest.raises(CsvFormatError, match="empty"):
        read_csv(data)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "xls"),
        (b"%PDF-1.7\n", "PDF"),
        (b"id,name\n1,\x00\x01\x02\x03\n", "NUL byte"),
        (bytes(range(1, 9)) * 20, "binary"),
    ],
)
def test_binary_data(data: bytes, match: str) -> None:
    with pytest.raises(CsvFormatError, match=match):
        read_csv(data)


def test_format_error_is_a_value_error() -> None:
    assert issubclass(CsvFormatError, ValueError)


# -- streaming and scale ----------------------------------------------------------------------------------


def test_iter_csv_streams_rows_and_errors_in_file_order() -> None:
    stream = iter_csv(b"id;name\n1;A\n\n2\n3;C\n")
    assert (stream.encoding, stream.delimiter, stream.header) == ("utf-8", ";", ["id", "name"])
    items = list(stream)
    assert [type(i) for i in items] == [CsvRow, CsvRowError, CsvRow]
    assert stream.blank_lines == 1
    with pytest.raises(RuntimeError):
        list(stream)


def test_100k_rows_round_trip() -> None:
    columns = [f"col{i}" for i in range(12)]
    lines = [",".join(columns)]
    for i in range(100_000):
        fields = [str(i), f"Hôtel {i}", '"12, rue de la Paix"', "Paris", "48.8566", "2.3522"]
        fields += [f"v{i}-{j}" for j in range(6)]
        lines.append(",".join(fields))
    lines[50_001] += ",unexpected"  # one ragged row (data row 50001)
    lines.insert(70_000, "")  # one blank line
    data = ("\r\n".join(lines) + "\r\n").encode("cp1252")

    result = read_csv(data)

    assert result.encoding == "cp1252"
    assert result.delimiter == ","
    assert result.header == columns
    assert len(result.rows) == 99_999
    assert result.blank_lines == 1
    [error] = result.errors
    assert (error.row_no, error.line_no) == (50_001, 50_002)
    last = result.rows[-1]
    assert (last.row_no, last.line_no) == (100_000, 100_002)
    assert last.values["col1"] == "Hôtel 99999"
    assert last.values["col2"] == "12, rue de la Paix"
    assert last.values["col11"] == "v99999-5"


# -- big fields -------------------------------------------------------------------------------------------


def test_an_unquoted_field_over_128k_is_read() -> None:
    # The csv module's default field limit (131,072) used to fail the whole file, with no row number.
    big = "x" * 200_000
    result = read_csv(f"ID,Name,Desc\n1,A,short\n2,B,{big}\n3,C,ok\n".encode())
    assert result.errors == []
    assert [r.values["ID"] for r in result.rows] == ["1", "2", "3"]
    assert result.rows[1].values["Desc"] == big


def test_a_quoted_multiline_field_of_300k_is_one_row() -> None:
    # ... and split a quoted 300 KB multi-line value into 299 false ragged rows.
    value = "\n".join(f"line {i} " + "y" * 1000 for i in range(300))
    result = read_csv(f'ID,Name,Desc\n1,A,short\n2,B,"{value}"\n3,C,ok\n'.encode())
    assert result.errors == []
    assert [(r.row_no, r.line_no, r.values["ID"]) for r in result.rows] == [
        (1, 2, "1"),
        (2, 3, "2"),
        (3, 303, "3"),
    ]
    assert result.rows[1].values["Desc"] == value


def test_a_field_over_the_cap_is_a_row_error_and_reading_goes_on() -> None:
    cap = 10_000
    unquoted = "u" * (cap + 1)
    quoted = "\n".join("q" * 100 for _ in range(200))  # 20,199 characters over 200 lines
    data = (
        f'ID,Name,Desc\n1,A,short\n2,B,{unquoted}\n3,C,"{quoted}"\n4,D,"é{"é" * (cap // 2)}"\n5,E,ok\n'
    ).encode()
    result = read_csv(data, max_field_bytes=cap)
    assert [r.values["ID"] for r in result.rows] == ["1", "5"]
    assert [(e.row_no, e.line_no, e.error_type) for e in result.errors] == [
        (2, 3, "field_too_large"), (3, 4, "field_too_large"), (4, 204, "field_too_large"),
    ]  # fmt: skip
    first, second, third = (e.message for e in result.errors)
    assert "row 2 (line 3)" in first and "'Desc'" in first and "10,001 bytes" in first and "10,000" in first
    assert "row 3 (lines 4-203)" in second and "20,199 bytes" in second
    assert "10,002 bytes" in third  # UTF-8 bytes, not characters
    assert result.errors[0].original["ID"] == "2"
