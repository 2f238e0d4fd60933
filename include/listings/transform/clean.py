"""Plain cleaning of source values: text whitespace, coordinates, lists.

Issue-4 normalisation (E.164 phones, URL canonicalisation, category vocabulary, hours parsing) builds on these.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

_WS = re.compile(r"\s+")
_HSPACE = re.compile(r"[^\S\n]+")
# C0/C1 control characters except tab/newline, which _WS folds anyway.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


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


def parse_coordinate(value: object, *, kind: str) -> Decimal | None:
    """Latitude/longitude as a Decimal with at most 8 decimals; empty → None; out of range → InvalidValue."""
    text = clean_text(value)
    if text is None:
        return None
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
