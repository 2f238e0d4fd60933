"""The one CSV export helper: a text cell that a spreadsheet would run as a formula gets a
leading quote; numbers, numeric text and ordinary text are written as they are."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from listings.admin.csv_export import CsvLines, csv_lines, safe_cell, safe_row


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://x","y")',
        "+1 514-555-0101",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "  =1+1",
        "-",
        "+",
        "=",
    ],
)
def test_formula_text_gets_a_leading_quote(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value",
    ["Café Olimpico", "45.5235", "-73.6004", "+1", "-2e5", ".5", "", "a=b", "x@y.ca", "'=already quoted"],
)
def test_plain_text_and_numeric_text_are_unchanged(value: str) -> None:
    assert safe_cell(value) == value


def test_non_text_values_are_unchanged() -> None:
    values = [-73.6004, -5, Decimal("-1.5"), None, True]
    assert safe_row(values) == values


def test_lines_are_csv_with_every_cell_neutralised() -> None:
    lines = CsvLines()
    header = lines.line(["id", "reason"])
    row = lines.line([-1, '=HYPERLINK("http://x","y")'])
    parsed = list(csv.reader(io.StringIO(header + row)))
    assert parsed == [["id", "reason"], ["-1", '\'=HYPERLINK("http://x","y")']]
    assert list(csv_lines([["@a", "-73.5"]])) == ["'@a,-73.5\r\n"]
