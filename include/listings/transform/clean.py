"""Plain cleaning of source values: text whitespace, coordinates, lists; and the cleaning of a rejected
record's original values before they are stored as JSON (`json_safe`).

Issue-4 normalisation (E.164 phones, URL canonicalisation, category vocabulary, hours parsing) builds on these.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_WS = re.compile(r"\s+")
_HSPACE = re.compile(r"[^\S\n]+")
# C0/C1 control characters except tab/newline, which _WS folds anyway; and lone UTF-16 surrogates (a JSON
# "\ud800" escape decodes to one), which cannot be encoded to UTF-8 for PostgreSQL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# What PostgreSQL's text and jsonb refuse: NUL (also as the JSON escape \u0000) and lone surrogates.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def clean_text(value: object) -> str | None:
    """Unicode NFC, control characters removed, whitespace trimmed and collapsed; empty → None."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value))
    text = _WS.sub(" ", _CONTROL.sub("", text)).strip()
    return text or None


def clean_multiline(value: object) -> str | None:
    """Like clean_text within each line, but keeps line breaks; runs of blank lines become one."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value)).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_HSPACE.sub(" ", _CONTROL.sub("", line)).strip() for line in text.split("\n")]
    joined = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return joined or None


class InvalidValue(ValueError):
    pass


_COORDINATE_MAX_CHARS = 64


def parse_coordinate(value: object, *, kind: str) -> Decimal | None:
    """Latitude/longitude as a Decimal with at most 8 decimals; empty → None; out of range → InvalidValue."""
    text = clean_text(value)
    if text is None:
        return None
    if len(text) > _COORDINATE_MAX_CHARS:
        raise InvalidValue(f"{kind} is {len(text):,} characters long: not a number")
    try:
        number = Decimal(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
    except InvalidOperation:
        raise InvalidValue(f"{kind} {text!r} is not a number") from None
    limit = 90 if kind == "lat" else 180
    if not number.is_finite() or not -limit <= number <= limit:
        raise InvalidValue(f"{kind} {text!r} is outside [-{limit}, {limit}]")
    # Canonical text form: at most 8 decimals (the column's scale), no trailing zeros, no exponent.
    rounded = round(number, 8) if number.as_tuple().exponent < -8 else number  # type: ignore[operator]
    return Decimal(format(rounded.normalize(), "f"))


# -- rejected records -------------------------------------------------------------------------------------

JSON_STRING_MAX_CHARS = 10_000  # of one string of a rejected record's original
JSON_TOTAL_MAX_CHARS = 100_000  # of all its strings: past it, each further string keeps a short sample
JSON_SAMPLE_CHARS = 200
JSON_MAX_ITEMS = 500  # entries of one mapping or list
JSON_MAX_DEPTH = 20


@dataclass
class _Budget:
    chars: int


def json_safe(value: Any) -> Any:
    """A rejected record's original values, cleaned to be stored as jsonb like records are cleaned: NUL
    characters and lone surrogates removed from every string, keys included, at any depth; a long string cut
    with a marker (`…[truncated: 20,971,520 characters]`), the whole bounded (about 100,000 characters of
    text, 500 entries per mapping or list, 20 levels); NaN and infinities, Decimals, dates and any other
    type as text. The raw file keeps the record whole."""
    return _json_safe(value, _Budget(JSON_TOTAL_MAX_CHARS), 0)


def _json_safe(value: Any, budget: _Budget, depth: int) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _safe_str(value, budget)
    if depth >= JSON_MAX_DEPTH:
        return _safe_str(repr(value), budget)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for i, (key, item) in enumerate(value.items()):
            if i == JSON_MAX_ITEMS:
                out["_truncated_entries"] = len(value) - JSON_MAX_ITEMS
                break
            name = _UNSTORABLE.sub("", str(key))[:JSON_SAMPLE_CHARS]
            out[name] = _json_safe(item, budget, depth + 1)
        return out
    if isinstance(value, list | tuple):
        items = [_json_safe(item, budget, depth + 1) for item in value[:JSON_MAX_ITEMS]]
        if len(value) > JSON_MAX_ITEMS:
            items.append(f"…[truncated: {len(value):,} items]")
        return items
    return _safe_str(str(value), budget)


def _safe_str(text: str, budget: _Budget) -> str:
    text = _UNSTORABLE.sub("", text)
    keep = min(JSON_STRING_MAX_CHARS, max(budget.chars, JSON_SAMPLE_CHARS))
    if len(text) > keep:
        text = f"{text[:keep]}…[truncated: {len(text):,} characters]"
    budget.chars -= len(text)
    return text
