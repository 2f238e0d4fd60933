"""Record hashes: identity (`record_hash`) and change detection (location, contact, content hashes).

`record_hash` is the seed's SHA-256 of normalised name|address|city|postal (the matching keys of
`listings.transform.normalize`); it keys the bridge table, so its normalisation must stay stable.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import cache

_NON_WORD = re.compile(r"[^\w]+")


@cache
def _strip_combining() -> dict[int, None]:
    # Every combining mark of the Basic Multilingual Plane, for str.translate (much faster than a
    # per-character filter); text beyond the BMP takes the per-character path below.
    return {cp: None for cp in range(0x300, 0x10000) if unicodedata.combining(chr(cp))}


def normalize_key(value: str | None) -> str:
    """Matching-key normalisation: accents folded, case folded, punctuation → space, whitespace collapsed."""
    if not value:
        return ""
    if value.isascii():
        folded = value.casefold()
    else:
        decomposed = unicodedata.normalize("NFKD", value)
        if max(decomposed) <= "\uffff":
            folded = decomposed.translate(_strip_combining()).casefold()
        else:
            folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).replace("_", " ").split())


def normalize_postal(value: str | None) -> str:
    return "".join(ch for ch in (value or "").upper() if ch.isalnum())


def sha256_fields(parts: Iterable[object]) -> str:
    joined = "|".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def record_hash(
    name: str | None, address1: str | None, city: str | None, zip_code: str | None, country: str | None = None
) -> str:
    """SHA-256 of the matching keys of name|address|city|postal: formatting, accents, legal suffixes,
    street-type and direction abbreviations and unit numbers do not change a place's identity."""
    from listings.transform import normalize as norm

    cc = country or "CA"
    return sha256_fields(
        [
            norm.name_key(name),
            norm.address_key(address1, country=cc),
            norm.city_key(city),
            norm.postal_key(zip_code, country=cc),
        ]
    )
