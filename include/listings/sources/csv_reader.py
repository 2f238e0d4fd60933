"""Robust reader for uploaded DMO CSV files: detects encoding and delimiter, parses rows untrimmed, and
reports row-level problems without stopping; whole-file problems raise CsvFormatError.

Field size: the csv module's own limit (131,072 characters by default, process-wide) is lifted, so that a
record is always read whole; a value over ``max_field_bytes`` (UTF-8 bytes; the pipeline passes
``LISTINGS_CSV_MAX_FIELD_BYTES``, 10 MiB by default) makes its row a ``field_too_large`` error, with its row
and line numbers, and reading goes on after it. (Left to the csv module, the limit failed the whole file when
hit before the first row, and split a long quoted multi-line value into false ragged rows otherwise.)"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

__all__ = [
    "DEFAULT_MAX_FIELD_BYTES",
    "DELIMITERS",
    "CsvFormatError",
    "CsvReadResult",
    "CsvRow",
    "CsvRowError",
    "CsvStream",
    "iter_csv",
    "read_csv",
]

#: Delimiters the detector chooses from, in tie-break order.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")

_SAMPLE_MAX_LINES = 200  # delimiter detection looks at no more than this many physical lines ...
_SAMPLE_MAX_CHARS = 64 * 1024  # ... or this many characters,
_SAMPLE_MAX_RECORDS = 50  # ... and scores at most this many data records.
_ENCODING_SAMPLE_BYTES = 64 * 1024  # bytes of non-ASCII lines shown to charset_normalizer
_BINARY_SAMPLE_BYTES = 64 * 1024
_PREVIEW_CHARS = 40
#: A value longer than this (in UTF-8 bytes) makes its row a ``field_too_large`` error.
DEFAULT_MAX_FIELD_BYTES = 10 * 1024 * 1024
# The csv module's field limit, lifted to the largest value a C long takes everywhere: records are read whole
# and the reader applies max_field_bytes itself.
_CSV_MODULE_FIELD_LIMIT = 2**31 - 1

_NON_ASCII_BYTES = bytes(range(128, 256))
# C0 control bytes that never occur in text files (tab, LF, VT, FF, CR and the DOS EOF marker 0x1a are allowed).
_CONTROL_BYTES = bytes([*range(0x01, 0x09), 0x0E, 0x0F, *range(0x10, 0x1A), *range(0x1B, 0x20)])
# Physical lines of an ASCII-compatible byte string, split like io.StringIO(newline="") splits text.
_BYTE_LINE_RE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_NON_ASCII_RE = re.compile(rb"[\x80-\xff]")
_LINE_END_RE = re.compile(rb"[\r\n]")
_WORD_RE = re.compile(r"[^\W\d_]+")

_MAGIC_NUMBERS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or OpenDocument workbook?)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Excel .xls workbook"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
)
# Checked in this order: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class CsvFormatError(ValueError):
    """The file as a whole cannot be read as CSV (empty, binary, no usable header, undecodable)."""


@dataclass(frozen=True)
class CsvRow:
    row_no: int  # 1-based data-row number: header and blank records excluded; shown to users
    line_no: int  # 1-based physical line where the row starts (quoted newlines make rows span lines)
    values: dict[str, str]  # header name -> original, untrimmed text


@dataclass(frozen=True)
class CsvRowError:
    row_no: int
    line_no: int
    error_type: str  # "ragged_row", "decode_error", "unclosed_quote", "field_too_large" or "parse_error"
    message: str
    # header -> value for the fields that exist, plus "_extra" (values beyond the header) or "_missing"
    # (header names without a value), and "_raw" (the raw text of the row, line terminator removed).
    original: dict[str, Any]


@dataclass(frozen=True)
class CsvReadResult:
    encoding: str  # "utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16", ...
    delimiter: str
    header: list[str]
    rows: list[CsvRow]
    errors: list[CsvRowError]
    blank_lines: int  # blank records skipped (empty, whitespace-only, or every field empty)


def read_csv(
    data: bytes,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
) -> CsvReadResult:
    """Read a whole CSV upload.

    ``encoding``/``delimiter`` override detection; a value over ``max_field_bytes`` rejects its row. Raises CsvFormatError for whole-file problems and
    ValueError for an unknown encoding or an unusable delimiter argument; every row-level problem ends up
    in ``errors`` and the rest of the file is still read.
    """
    stream = iter_csv(data, encoding=encoding, delimiter=delimiter, max_field_bytes=max_field_bytes)
    rows: list[CsvRow] = []
    errors: list[CsvRowError] = []
    for item in stream:
        if isinstance(item, CsvRow):
            rows.append(item)
        else:
            errors.append(item)
    return CsvReadResult(
        encoding=stream.encoding,
        delimiter=stream.delimiter,
        header=list(stream.header),
        rows=rows,
        errors=errors,
        blank_lines=stream.blank_lines,
    )


def iter_csv(
    data: bytes,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
) -> CsvStream:
    """Streaming variant of read_csv: decodes, detects and validates the header now (raising
    CsvFormatError at once), then yields CsvRow / CsvRowError items in file order when iterated."""
    return CsvStream(data, encoding=encoding, delimiter=delimiter, max_field_bytes=max_field_bytes)


class CsvStream:
    """Rows of one CSV upload, produced lazily. Iterate once; ``blank_lines`` is final after iteration."""

    def __init__(
        self,
        data: bytes,
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
    ) -> None:
        if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
            raise ValueError(
                f"delimiter must be one character other than a quote or newline, got {delimiter!r}"
            )
        if max_field_bytes < 1:
            raise ValueError(f"max_field_bytes must be positive, got {max_field_bytes}")
        self.max_field_bytes = max_field_bytes
        if csv.field_size_limit() < _CSV_MODULE_FIELD_LIMIT:
            csv.field_size_limit(_CSV_MODULE_FIELD_LIMIT)
        if not data:
            raise CsvFormatError("the file is empty (0 bytes)")
        decoded = _decode(data, encoding)
        self.encoding: str = decoded.encoding
        self._lines = decoded.lines
        self._bad_lines = decoded.bad_lines
        self._explicit_encoding = encoding is not None
        self.delimiter: str = delimiter if delimiter is not None else _detect_delimiter(self._lines)
        self.blank_lines: int = 0
        self.header: list[str] = []
        self._data_start = 0  # index of the first physical line after the header
        self._read_header()
        self._iterated = False

    # -- header ---------------------------------------------------------------------------------------

    def _read_header(self) -> None:
        reader = csv.reader(self._lines, delimiter=self.delimiter, strict=False)
        prev = 0
        try:
            for fields in reader:
                start, prev = prev, reader.line_num
                if _is_blank(fields):
                    self.blank_lines += 1
                    continue
                self._check_header_bytes(start, prev)
                self.header = _validate_header(fields, line_no=start + 1)
                self._data_start = prev
                return
        except csv.Error as exc:
            raise CsvFormatError(f"the header (line {prev + 1}) cannot be parsed: {exc}") from None
        raise CsvFormatError("the file has no header: it is empty or contains only blank lines")

    def _check_header_bytes(self, start: int, end: int) -> None:
        for i in range(start, end):
            bad = self._bad_lines.get(i)
            if bad is not None:
                raise CsvFormatError(
                    f"the header (line {i + 1}) contains bytes that are not valid {self.encoding} "
                    f"({bad.first_byte} in {bad.snippet!r}); re-save the file as UTF-8"
                )

    # -- data rows ------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[CsvRow | CsvRowError]:
        if self._iterated:
            raise RuntimeError("a CsvStream can be iterated only once; call iter_csv() again")
        self._iterated = True
        return self._iter_rows()

    def _iter_rows(self) -> Iterator[CsvRow | CsvRowError]:
        lines = self._lines
        header = self.header
        width = len(header)
        bad_lines = self._bad_lines
        row_no = 0
        base = self._data_start
        while True:
            reader = csv.reader(islice(lines, base, None), delimiter=self.delimiter, strict=False)
            prev = 0
            resume_at: int | None = None
            try:
                for fields in reader:
                    cur = reader.line_num
                    start = base + prev
                    prev = cur
                    if not fields or not "".join(fields).strip():
                        self.blank_lines += 1
                        continue
                    row_no += 1
                    end = base + cur
                    if bad_lines and any(i in bad_lines for i in range(start, end)):
                        yield self._decode_error(row_no, start, end, fields)
                        continue
                    n = len(fields)
                    multiline = end - start > 1
                    if n == width or (n > width and not "".join(fields[width:]).strip()):
                        # A multi-line row that fits is still suspect when its quoting is malformed and
                        # its continuation lines are complete rows: an unclosed quote swallowed them.
                        if not (
                            multiline
                            and _malformed_quoting(lines[start:end], self.delimiter)
                            and self._continuation_lines_fit(start, end)
                        ):
                            too_large = self._too_large_error(row_no, start, end, fields)
                            if too_large is not None:
                                yield too_large
                                continue
                            yield CsvRow(row_no, start + 1, dict(zip(header, fields, strict=False)))
                            continue
                        yield self._unclosed_quote_error(row_no, start, end)
                        resume_at = start + 1
                        break
                    if multiline and self._continuation_lines_fit(start, end):
                        yield self._unclosed_quote_error(row_no, start, end)
                        resume_at = start + 1
                        break
                    yield self._ragged_error(row_no, start, end, fields)
            except csv.Error as exc:
                start = base + prev
                row_no += 1
                yield self._parse_error(row_no, start, exc)
                resume_at = start + 1
            if resume_at is None:
                return
            base = resume_at

    def _continuation_lines_fit(self, start: int, end: int) -> bool:
        """True when every non-blank line after the first one of a record parses, on its own, into a row
        that fits the header: the record most likely swallowed whole rows after an unclosed quote."""
        seen = False
        for line in self._lines[start + 1 : end]:
            fields = self._single_line_fields(line)
            if _is_blank(fields):
                continue
            if not _fits(fields, len(self.header)):
                return False
            seen = True
        return seen

    def _raw(self, start: int, end: int) -> str:
        return "".join(self._lines[start:end]).rstrip("\r\n")

    def _original(self, fields: list[str], raw: str) -> dict[str, Any]:
        header = self.header
        original: dict[str, Any] = dict(zip(header, fields, strict=False))
        if len(fields) > len(header):
            original["_extra"] = fields[len(header) :]
        elif len(fields) < len(header):
            original["_missing"] = header[len(fields) :]
        original["_raw"] = raw
        return original

    def _where(self, row_no: int, start: int, end: int) -> str:
        if end - start > 1:
            return f"row {row_no} (lines {start + 1}-{end})"
        return f"row {row_no} (line {start + 1})"

    def _ragged_error(self, row_no: int, start: int, end: int, fields: list[str]) -> CsvRowError:
        header = self.header
        n, width = len(fields), len(header)
        where = self._where(row_no, start, end)
        delim = _delimiter_name(self.delimiter)
        if n > width:
            detail = (
                f"unexpected value(s) {_preview_list(fields[width:])} after the last column {header[-1]!r}; "
                f"a value probably contains an unquoted {delim} — put that value in double quotes"
            )
        elif end - start > 1:
            detail = (
                f"no value for {_preview_list(header[n:])}; the row spans {end - start} lines because of "
                f"a quoted line break — check its quotes"
            )
        else:
            detail = (
                f"no value for {_preview_list(header[n:])}; a {delim} is probably missing, or a value "
                f"that should contain a {delim} was split"
            )
        message = f"{where} has {n} field{'s' if n != 1 else ''}, the header has {width}: {detail}"
        return CsvRowError(
            row_no, start + 1, "ragged_row", message, self._original(fields, self._raw(start, end))
        )

    def _too_large_error(self, row_no: int, start: int, end: int, fields: list[str]) -> CsvRowError | None:
        """The row's error when one of its values is over max_field_bytes (the first such value), else None."""
        cap = self.max_field_bytes
        for i, value in enumerate(fields):
            if len(value) * 4 <= cap:  # a character is at most 4 bytes: no need to encode
                continue
            size = len(value.encode("utf-8", "surrogatepass"))
            if size <= cap:
                continue
            column = repr(self.header[i]) if i < len(self.header) else f"number {i + 1}"
            message = (
                f"{self._where(row_no, start, end)}: the value of column {column} is {size:,} bytes, over the "
                f"limit of {cap:,} bytes per value (LISTINGS_CSV_MAX_FIELD_BYTES); the row is rejected"
            )
            original = self._original(fields, self._raw(start, end))
            return CsvRowError(row_no, start + 1, "field_too_large", message, original)
        return None

    def _decode_error(self, row_no: int, start: int, end: int, fields: list[str]) -> CsvRowError:
        first = next(self._bad_lines[i] for i in range(start, end) if i in self._bad_lines)
        where = self._where(row_no, start, end)
        if self._explicit_encoding:
            context = f"the encoding configured for this source is {self.encoding}"
        else:
            context = (
                f"the rest of the file is {self.encoding}, so this row was probably written in another "
                f"encoding (e.g. Windows-1252)"
            )
        message = (
            f"{where} contains bytes that are not valid {self.encoding} ({first.first_byte} in "
            f"{first.snippet!r}); {context}. Fix the characters in this row or re-save the whole file as UTF-8"
        )
        raw = "".join(
            self._bad_lines[i].text if i in self._bad_lines else self._lines[i] for i in range(start, end)
        ).rstrip("\r\n")
        return CsvRowError(row_no, start + 1, "decode_error", message, self._original(fields, raw))

    def _single_line_fields(self, line: str) -> list[str]:
        return next(csv.reader([line.rstrip("\r\n")], delimiter=self.delimiter, strict=False), [])

    def _unclosed_quote_error(self, row_no: int, start: int, end: int) -> CsvRowError:
        line = self._lines[start]
        message = (
            f"row {row_no} (line {start + 1}) opens a quoted value that is not closed properly: read as "
            f"written, that value would swallow lines {start + 2}-{end}, which look like rows of their own. "
            f"Only line {start + 1} is rejected; reading resumed at line {start + 2}. "
            f'Remove the stray " or, inside a quoted value, write it as ""'
        )
        original = self._original(self._single_line_fields(line), line.rstrip("\r\n"))
        return CsvRowError(row_no, start + 1, "unclosed_quote", message, original)

    def _parse_error(self, row_no: int, start: int, exc: csv.Error) -> CsvRowError:
        line = self._lines[start]
        resumed = f"Only line {start + 1} is rejected; reading resumed at line {start + 2}."
        if '"' in line:
            error_type = "unclosed_quote"
            message = (
                f"row {row_no} (line {start + 1}) cannot be parsed ({exc}): a quoted value that starts on "
                f"this line is probably never closed. {resumed} "
                f'Remove the stray " or, inside a quoted value, write it as ""'
            )
        else:
            error_type = "parse_error"
            message = f"row {row_no} (line {start + 1}) cannot be parsed ({exc}). {resumed}"
        original = self._original(self._single_line_fields(line), line.rstrip("\r\n"))
        return CsvRowError(row_no, start + 1, error_type, message, original)


# -- decoding ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _BadLine:
    text: str  # the line with undecodable bytes shown as \xNN escapes
    first_byte: str  # e.g. "byte 0xe9"
    snippet: str  # escaped text around the first undecodable byte


@dataclass(frozen=True)
class _Decoded:
    encoding: str
    lines: list[str]  # physical lines with their terminators
    bad_lines: dict[int, _BadLine]  # 0-based line index -> undecodable bytes on that line


def _decode(data: bytes, encoding: str | None) -> _Decoded:
    _reject_known_binary(data)
    if encoding is not None:
        name = _codec_name(encoding)
        if name == "utf-8" and data.startswith(codecs.BOM_UTF8):
            name = "utf-8-sig"
        if _is_ascii_compatible(name):
            _reject_binary_bytes(data)
        return _decode_as(data, name)
    for bom, name in _BOMS:
        if data.startswith(bom):
            return _decode_as(data, name)
    _reject_binary_bytes(data)
    try:
        return _Decoded("utf-8", _split_lines(data.decode("utf-8")), {})
    except UnicodeDecodeError:
        pass
    if _mostly_utf8(data):
        return _decode_as(data, "utf-8")
    return _decode_as(data, _guess_single_byte_encoding(data))


def _decode_as(data: bytes, name: str) -> _Decoded:
    """Decode strictly; if that fails, decode line by line and remember the lines that did not decode."""
    try:
        return _Decoded(name, _split_lines(data.decode(name)), {})
    except UnicodeDecodeError as exc:
        failure = exc
    body, codec = data, name
    if name == "utf-8-sig":
        body, codec = data[len(codecs.BOM_UTF8) :], "utf-8"
    if not _is_ascii_compatible(codec):
        raise CsvFormatError(
            f"the file is not valid {name}: {failure.reason} at byte offset {failure.start}; "
            f"re-save the file as UTF-8"
        ) from None
    lines: list[str] = []
    bad: dict[int, _BadLine] = {}
    for i, raw in enumerate(_BYTE_LINE_RE.findall(body)):
        try:
            lines.append(raw.decode(codec))
        except UnicodeDecodeError as exc:
            lines.append(raw.decode(codec, "replace"))
            bad[i] = _BadLine(
                text=raw.decode(codec, "backslashreplace"),
                first_byte=f"byte 0x{raw[exc.start]:02x}",
                snippet=raw[max(0, exc.start - 20) : exc.end + 20]
                .decode(codec, "backslashreplace")
                .rstrip("\r\n"),
            )
    return _Decoded(name, lines, bad)


def _split_lines(text: str) -> list[str]:
    # newline="" splits on \r\n, \n and a lone \r (old Mac) and keeps the terminators for the csv module.
    return io.StringIO(text, newline="").readlines()


def _codec_name(encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    return "latin-1" if name == "iso8859-1" else name


def _is_ascii_compatible(name: str) -> bool:
    probe = '\r\n,;\t|"azAZ09 '
    try:
        return probe.encode(name) == probe.encode("ascii")
    except (UnicodeError, LookupError):
        return False


def _reject_known_binary(data: bytes) -> None:
    for magic, what in _MAGIC_NUMBERS:
        if data.startswith(magic):
            raise CsvFormatError(
                f"the file is {what}, not CSV text; save or export it as CSV (UTF-8) and upload that"
            )


def _reject_binary_bytes(data: bytes) -> None:
    head = data[:_BINARY_SAMPLE_BYTES]
    nul = head.find(b"\x00")
    if nul >= 0:
        raise CsvFormatError(
            f"the file contains binary data (a NUL byte at offset {nul}), so it is not CSV text "
            f"(or it is UTF-16 without a byte-order mark); save or export it as CSV (UTF-8)"
        )
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if controls > max(8, len(head) // 100):
        raise CsvFormatError(
            f"the file looks binary ({controls} control bytes in its first {len(head)} bytes), "
            f"not CSV text; save or export it as CSV (UTF-8)"
        )


def _mostly_utf8(data: bytes) -> bool:
    """Invalid UTF-8, but with more well-formed multi-byte characters than invalid sequences: a UTF-8 file
    with a few rows pasted from another encoding (those rows become decode errors), not a Windows export."""
    text = data.decode("utf-8", "replace")
    invalid = text.count("\ufffd") - data.count("\ufffd".encode())
    ascii_chars = len(data.translate(None, _NON_ASCII_BYTES))
    well_formed = len(text) - ascii_chars - invalid
    return well_formed > invalid


def _guess_single_byte_encoding(data: bytes) -> str:
    """cp1252 (or latin-1 when cp1252 cannot decode the bytes), unless charset_normalizer finds a non-Latin
    script (Cyrillic, Greek, ...): it is unreliable between the Latin code pages, which cp1252 covers for
    Western European data, so only a clearly non-Latin guess overrides the Windows default."""
    sample = _non_ascii_lines(data, _ENCODING_SAMPLE_BYTES)
    guess = _charset_normalizer_guess(sample)
    if (
        guess is not None
        and guess not in ("cp1252", "latin-1", "ascii", "utf-8")
        and _decodes(sample, guess)
        and _looks_non_latin(sample.decode(guess))
        and _decodes(data, guess)
    ):
        return guess
    return "cp1252" if _decodes(data, "cp1252") else "latin-1"


def _non_ascii_lines(data: bytes, limit: int) -> bytes:
    """The lines that contain non-ASCII bytes, up to ``limit`` bytes: dense evidence for the detector."""
    parts: list[bytes] = []
    size = pos = 0
    while size < limit and (found := _NON_ASCII_RE.search(data, pos)) is not None:
        start = max(data.rfind(b"\n", 0, found.start()), data.rfind(b"\r", 0, found.start())) + 1
        line_end = _LINE_END_RE.search(data, found.end())
        end = line_end.start() if line_end is not None else len(data)
        parts.append(data[start:end])
        size += end - start + 1
        pos = end
    return b"\n".join(parts)[:limit]


def _charset_normalizer_guess(sample: bytes) -> str | None:
    if not sample:
        return None
    from charset_normalizer import from_bytes  # fallback only: not needed for UTF-8 files

    best = from_bytes(sample).best()
    if best is None:
        return None
    try:
        return _codec_name(str(best.encoding))
    except ValueError:
        return None


def _decodes(data: bytes, name: str) -> bool:
    try:
        data.decode(name)
    except UnicodeDecodeError:
        return False
    return True


def _looks_non_latin(text: str) -> bool:
    """Words of two or more letters that contain non-ASCII letters are mostly written entirely in a non-Latin
    script. Western text mis-decoded with, say, a Cyrillic code page gives words like "Montrйal" that mix
    scripts; single letters ("à" -> "а") are ignored as too weak a signal."""
    words = [w for w in _WORD_RE.findall(text) if len(w) > 1 and not w.isascii()]
    non_latin = sum(1 for w in words if all(_is_non_latin_letter(c) for c in w))
    return non_latin >= 3 and non_latin * 4 > len(words) * 3


def _is_non_latin_letter(char: str) -> bool:
    return ord(char) > 127 and not unicodedata.name(char, "LATIN").startswith("LATIN")


# -- delimiter detection ----------------------------------------------------------------------------------


def _detect_delimiter(lines: list[str]) -> str:
    """The candidate whose header has more than one field and whose sampled rows agree best with it."""
    sample: list[str] = []
    size = 0
    for line in lines[:_SAMPLE_MAX_LINES]:
        sample.append(line)
        size += len(line)
        if size >= _SAMPLE_MAX_CHARS:
            break
    truncated = len(sample) < len(lines)
    best: tuple[float, int] | None = None
    chosen = DELIMITERS[0]
    for candidate in DELIMITERS:
        records = [r for r in csv.reader(sample, delimiter=candidate, strict=False) if not _is_blank(r)]
        if truncated and len(records) > 1:
            records.pop()  # may have been cut inside a quoted value
        if not records:
            continue
        width = len(_trim_trailing_empty(records[0]))
        if width < 2:
            continue
        data = records[1 : _SAMPLE_MAX_RECORDS + 1]
        score = sum(1 for r in data if _fits(r, width)) / len(data) if data else 1.0
        key = (score, width)
        if best is None or key > best:
            best, chosen = key, candidate
    return chosen


# -- helpers ----------------------------------------------------------------------------------------------


def _validate_header(fields: list[str], *, line_no: int) -> list[str]:
    names = [field.strip().strip("\ufeff").strip() for field in fields]
    # Trailing empty names come from trailing delimiters (Excel); the columns they would name must then be
    # empty in every row, which the ragged-row rule enforces.
    names = _trim_trailing_empty(names)
    listing = ", ".join(repr(n) for n in names)
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise CsvFormatError(
                f"header (line {line_no}) column {position} has no name; every column needs a unique name "
                f"(header: {listing})"
            )
        if name in seen:
            raise CsvFormatError(
                f"header (line {line_no}) column {position} {name!r} duplicates column {seen[name]}; every "
                f"column needs a unique name (header: {listing})"
            )
        seen[name] = position
    return names


def _is_blank(fields: list[str]) -> bool:
    return not "".join(fields).strip()


def _trim_trailing_empty(fields: list[str]) -> list[str]:
    end = len(fields)
    while end and not fields[end - 1].strip():
        end -= 1
    return fields[:end]


def _fits(fields: list[str], width: int) -> bool:
    n = len(fields)
    return n == width or (n > width and not "".join(fields[width:]).strip())


def _malformed_quoting(record_lines: list[str], delimiter: str) -> bool:
    """True when a multi-line record is only parseable thanks to lenient quoting: a closing quote followed by
    something other than a delimiter or line end, the typical trace of an unclosed quote swallowing rows."""
    try:
        for _ in csv.reader(record_lines, delimiter=delimiter, strict=True):
            pass
    except csv.Error:
        return True
    return False


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(delimiter, repr(delimiter))


def _preview(value: str) -> str:
    return repr(value if len(value) <= _PREVIEW_CHARS else value[: _PREVIEW_CHARS - 1] + "…")


def _preview_list(values: list[str], limit: int = 5) -> str:
    shown = ", ".join(_preview(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")
