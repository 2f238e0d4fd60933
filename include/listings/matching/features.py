"""Pair features for fuzzy matching: how alike two normalised place records are, field by field.

This module owns `MatchRecord` (one place reduced to NORMALISED comparison keys), `build_match_record`
(which fills one from raw field values with the normalisers of `listings.transform.normalize`, exactly as
the scoring model was fitted: use it rather than filling the keys by hand) and
`pair_features(a, b) -> Features`, a pure function with no database and no model. Every feature that
cannot be computed because one side lacks the data is None (unknown): the scorer (`listings.matching.scoring`) gives unknowns no weight either way, so a DMO
that publishes no phone is neither rewarded nor punished for it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jellyfish
from rapidfuzz import fuzz

from listings.transform.normalize import (
    address_tokens,
    house_number,
    name_tokens,
    normalize_phone,
    postal_key,
    split_unit,
    unit_key,
    website_host,
    without_directions,
)
from listings.transform.places import city_match_key, region_key

__all__ = [
    "CategoryCompat",
    "Features",
    "MatchRecord",
    "build_match_record",
    "default_compat",
    "haversine_m",
    "image_similarity",
    "pair_features",
    "with_shared",
]

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG); the error against the ellipsoid is <0.5% at our distances

_E164 = re.compile(r"\+[1-9]\d{6,14}")

CategoryCompat = Callable[[str | None, str | None], float]

# "One Gustave L. Levy Place" is "1 Gustave L Levy Pl" (matching only: the record hash keeps the text's key)
_NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"],
        start=1,
    )
}
_number_word = re.compile(rf"^\s*({'|'.join(_NUMBER_WORDS)})\b(?=\s+\w)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """One place as matching sees it: every text value already normalised (see `build_match_record`).

    Empty strings and None both mean "unknown". `name` is the display name (for explanations only).
    `name_key` and `address_key` are the token forms without articles and street types
    (`normalize.name_tokens` / `normalize.address_tokens` joined by spaces), so that "The Red Lion" and
    "Red Lion", "1234, rue Saint-Denis" and "1234 Saint-Denis Street" compare equal.
    """

    name: str
    name_key: str
    address_key: str | None = None
    house_number: str | None = None
    city_key: str | None = None
    postal_key: str | None = None
    country: str | None = None
    region_key: str | None = None  # the state / province code (`places.region_key`)
    unit: str | None = None  # suite / stand / apartment id ("50" for "#50", "Suite 50", "Stand 50")
    lat: float | None = None
    lng: float | None = None
    phone: str | None = None  # E.164
    website_host: str | None = None  # host without "www."
    category: str | None = None  # vocabulary id
    image_hashes: tuple[str, ...] = ()  # 16-hex-digit 64-bit perceptual hashes (pHash/dHash)


@dataclass(slots=True)
class Features:
    """How alike two records are. Similarities are in [0, 1]; None means one side lacks the data.

    A value: nothing changes one once made (`with_shared` returns a copy). Not frozen because a frozen
    dataclass sets each of its 19 fields through `object.__setattr__`: 5.8 -> 1.9 us per pair, and the
    match step makes one for every candidate pair (about 50,000 per 5,000 records)."""

    name_jw: float | None = None
    name_token: float | None = None
    name_partial: float | None = None
    # Distinctive words one name adds to the other when one's words are all in the other ("Hendrick Medical
    # Center" / "ContinueCare Hospital at Hendrick Medical Center": 2): a place inside or beside another
    # rather than the same one. 0 when neither name's words contain the other's.
    name_extra: int | None = None
    # Both names add a word the other lacks, and no added word of one resembles one of the other's ("Harris
    # Health Ben Taub Hospital" / "Harris Health Quentin Mease Hospital", "Hôtel Silver" / "Hôtel Seoul"):
    # two places of one family, however long the prefix they share (Jaro-Winkler rewards it). A typo,
    # an abbreviation or the city written into one name is not a conflict (`names_conflict`).
    name_conflict: bool | None = None
    address_sim: float | None = None
    house_number_eq: bool | None = None
    unit_eq: bool | None = None
    distance_m: float | None = None
    same_postal: bool | None = None
    same_city: bool | None = None
    phone_eq: bool | None = None
    website_eq: bool | None = None
    category_compat: float | None = None
    image_sim: float | None = None
    # The value both sides share when their name keys / phones / website hosts are equal (else None): the
    # Fellegi-Sunter model weighs a common shared value (a chain's name, host or call centre) less than a
    # rare one.
    name_value: str | None = None
    phone_value: str | None = None
    website_value: str | None = None
    # How many of the record's candidate listings share that value (set by the match step): a chain's name
    # or booking site shared by three listings of the region says "one of those three", not "this one".
    name_shared_by: int | None = None
    phone_shared_by: int | None = None
    website_shared_by: int | None = None


def _coordinate(value: float | str | Decimal | None) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def build_match_record(
    *,
    name: str | None,
    address1: str | None = None,
    address2: str | None = None,
    city: str | None = None,
    postal: str | None = None,
    country: str | None = None,
    state: str | None = None,
    lat: float | str | Decimal | None = None,
    lng: float | str | Decimal | None = None,
    phone: str | None = None,
    website: str | None = None,
    category: str | None = None,
    image_hashes: Iterable[str] = (),
) -> MatchRecord:
    """A MatchRecord from raw (or already cleaned) field values. Never raises on odd text.

    `country` (ISO alpha-2, default "CA") drives postal, phone and address parsing; `phone` may be raw
    text or E.164; `category` is a vocabulary id (map a DMO's wording with `Vocabulary.map` first). A pin
    with only one coordinate, or a non-finite one, is no pin.
    """
    cc = (country or "").strip().upper() or "CA"
    address1 = _number_word.sub(lambda m: _NUMBER_WORDS[m.group(1).lower()], address1 or "") or None
    y, x = _coordinate(lat), _coordinate(lng)
    if y is None or x is None or not (-90.0 <= y <= 90.0 and -180.0 <= x <= 180.0):
        y = x = None
    e164: str | None = None
    if phone and _E164.fullmatch(phone.strip()):
        e164 = phone.strip()  # already normalised (the catalogue stores E.164): skip libphonenumber
    elif phone:
        parsed = normalize_phone(phone, country=cc)
        e164 = parsed.e164 if parsed is not None else None
    return MatchRecord(
        name=name or "",
        name_key=" ".join(name_tokens(name)),
        address_key=" ".join(address_tokens(address1, country=cc)) or None,
        house_number=house_number(address1, country=cc),
        unit=unit_key(address2 or split_unit(address1, country=cc)[1]),
        city_key=city_match_key(city, state, cc) or None,
        postal_key=postal_key(postal, country=cc) or None,
        country=cc,
        region_key=region_key(state, cc),
        lat=y,
        lng=x,
        phone=e164,
        website_host=website_host(website),
        category=(category or "").strip() or None,
        image_hashes=tuple(h.strip() for h in image_hashes if h and h.strip()),
    )


def default_compat(a: str | None, b: str | None) -> float:
    """1.0 for the same category, 0.5 when either is unknown, 0.0 for different ones.

    The category vocabulary's `Vocabulary.compatible` replaces this in the pipeline (it knows that a
    motel and a hotel are closer than a motel and a museum).
    """
    if not a or not b:
        return 0.5
    return 1.0 if a == b else 0.0


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def _hash_bits(values: Iterable[str]) -> list[int]:
    out: list[int] = []
    for value in values:
        text = value.strip().lower().removeprefix("0x")
        # A hash of another width (or garbage) would make hamming distances meaningless: skip it.
        if len(text) != 16:
            continue
        try:
            out.append(int(text, 16))
        except ValueError:
            continue
    return out


def image_similarity(a: Iterable[str], b: Iterable[str]) -> float | None:
    """Best match between two sets of 64-bit perceptual hashes: 1 - hamming / 64, None when a side has none."""
    bits_a, bits_b = _hash_bits(a), _hash_bits(b)
    if not bits_a or not bits_b:
        return None
    best = min((x ^ y).bit_count() for x in bits_a for y in bits_b)
    return 1.0 - best / 64.0


def _known(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _eq(a: str | None, b: str | None) -> bool | None:
    if a is None or b is None:
        return None
    if a == b:  # the usual case (keys are stripped already): no copies
        return True if a.strip() else None
    a, b = a.strip(), b.strip()
    return a == b if a and b else None


def _coord(value: float | None, limit: float) -> float | None:
    # A hand-filled record may carry anything: an impossible coordinate is no coordinate.
    if value is None or not math.isfinite(value) or abs(value) > limit:
        return None
    return float(value)


@functools.lru_cache(maxsize=1 << 16)
def _words(key: str) -> frozenset[str]:
    # A record is compared with each of its candidates, a listing with each record that found it.
    return frozenset(key.split())


def pair_features(
    a: MatchRecord,
    b: MatchRecord,
    *,
    compat: CategoryCompat = default_compat,
    generic: Collection[str] = (),
) -> Features:
    """Compare two records. Symmetric except where `compat` is not; never raises on odd values. `generic`:
    the name words too common to tell two places apart (`generic_words`)."""
    name_a, name_b = _known(a.name_key), _known(b.name_key)
    name_jw = name_token = name_partial = None
    name_extra = None
    name_conflict = None
    if name_a is not None and name_b is not None:
        name_jw = float(jellyfish.jaro_winkler_similarity(name_a, name_b))
        # token_set ignores word order and words one side adds ("Café X" vs "Café X & Bistro");
        # partial_ratio catches a name embedded in a longer one ("Hôtel X" vs "Hôtel X Montréal").
        name_token = fuzz.token_set_ratio(name_a, name_b) / 100.0
        name_partial = fuzz.partial_ratio(name_a, name_b) / 100.0
        words_a, words_b = _words(name_a), _words(name_b)
        name_extra = len(words_a ^ words_b) if words_a < words_b or words_b < words_a else 0
        name_conflict = names_conflict(
            words_a, words_b, ignore=generic, also=(*(a.city_key or "").split(), *(b.city_key or "").split())
        )

    addr_a, addr_b = _known(a.address_key), _known(b.address_key)
    address_sim = None
    if addr_a is not None and addr_b is not None:
        # token_sort, not token_set: a set ratio scores "12 rue x" vs "12 rue x 3e etage" at 1.0 but also
        # "rue x" vs "120 rue x", and the civic number is the part that must not be ignored.
        address_sim = fuzz.token_sort_ratio(addr_a, addr_b) / 100.0
        bare_a, bare_b = without_directions(addr_a), without_directions(addr_b)
        # a direction one side leaves out ("1501 South Coulter" / "1501 Coulter"), not two that differ
        if (bare_a == addr_a) != (bare_b == addr_b) and bare_a and bare_b:
            address_sim = max(address_sim, fuzz.token_sort_ratio(bare_a, bare_b) / 100.0)

    distance = None
    if a.lat is not None and a.lng is not None and b.lat is not None and b.lng is not None:
        lat_a, lng_a = _coord(a.lat, 90.0), _coord(a.lng, 180.0)
        lat_b, lng_b = _coord(b.lat, 90.0), _coord(b.lng, 180.0)
        if lat_a is not None and lng_a is not None and lat_b is not None and lng_b is not None:
            distance = haversine_m(lat_a, lng_a, lat_b, lng_b)

    category_compat = None
    if _known(a.category) is not None and _known(b.category) is not None:
        category_compat = min(1.0, max(0.0, float(compat(a.category, b.category))))

    phone_eq, website_eq = _eq(a.phone, b.phone), _eq(a.website_host, b.website_host)
    return Features(
        name_jw=name_jw,
        name_token=name_token,
        name_partial=name_partial,
        name_extra=name_extra,
        name_conflict=name_conflict,
        address_sim=address_sim,
        house_number_eq=_eq(a.house_number, b.house_number),
        unit_eq=_eq(a.unit, b.unit),
        distance_m=distance,
        same_postal=_eq(a.postal_key, b.postal_key),
        same_city=_eq(a.city_key, b.city_key),
        phone_eq=phone_eq,
        website_eq=website_eq,
        category_compat=category_compat,
        image_sim=image_similarity(a.image_hashes, b.image_hashes)
        if a.image_hashes and b.image_hashes
        else None,
        name_value=name_a if name_a is not None and name_a == name_b else None,
        phone_value=_known(a.phone) if phone_eq else None,
        website_value=_known(a.website_host) if website_eq else None,
    )


def with_shared(f: Features, shared: tuple[int, int, int]) -> Features:
    """`f` with the number of candidates that share its agreeing name, phone and website (when > 1)."""
    names, phones, sites = shared
    if not (
        (f.name_value and names > 1) or (f.phone_value and phones > 1) or (f.website_value and sites > 1)
    ):
        return f
    return dataclasses.replace(
        f,
        name_shared_by=names if f.name_value and names > 1 else None,
        phone_shared_by=phones if f.phone_value and phones > 1 else None,
        website_shared_by=sites if f.website_value and sites > 1 else None,
    )


# A name word this share of a batch's names hold (and at least GENERIC_MIN of them) is a generic one
# ("hospital", "medical", "center", a state's name): "Memorial Hermann Hospital" and "Memorial Hermann Texas
# Medical Center" do not conflict on such words.
GENERIC_SHARE = 0.01
GENERIC_MIN = 3


def word_counts(records: Iterable[MatchRecord]) -> Counter[str]:
    """How many of `records`' names hold each name word."""
    return Counter(w for rec in records for w in set(rec.name_key.split()))


def generic_words(records: Collection[MatchRecord]) -> frozenset[str]:
    """The name words of `records` common enough to be generic (GENERIC_SHARE of the names, at least
    GENERIC_MIN): a batch is the best sample of its source's vocabulary."""
    floor = max(GENERIC_MIN, GENERIC_SHARE * len(records))
    return frozenset(w for w, n in word_counts(records).items() if n >= floor)


def names_conflict(
    words_a: AbstractSet[str],
    words_b: AbstractSet[str],
    *,
    ignore: Collection[str] = (),
    also: Collection[str] = (),
) -> bool:
    """Whether each name has a word the other lacks and none of those words is a variant of one of the
    other's (a typo: similarity >= 80; a prefix: "deli" / "delicatessen"; a short abbreviation whose letters
    the longer word holds in order: "st" / "saint", "ctr" / "center"). Words in `ignore` and `also` (the
    batch's generic words, the cities) are left out: "Hôtel X - Montréal" and "Hôtel X Downtown" do not
    conflict on that."""
    extra_a = [w for w in words_a - words_b if w not in ignore and w not in also]
    if not extra_a:
        return False
    extra_b = [w for w in words_b - words_a if w not in ignore and w not in also]
    if not extra_b:
        return False
    return not any(_variant(x, y) for x in extra_a for y in extra_b)


def _variant(x: str, y: str) -> bool:
    short, long = (x, y) if len(x) <= len(y) else (y, x)
    if long.startswith(short) or fuzz.ratio(x, y) >= 80:
        return True
    if len(short) <= 4 and short[0] == long[0]:
        rest = iter(long)
        return all(ch in rest for ch in short)
    return False


MATCH_KEY_FIELDS = (
    "name_key",
    "address_key",
    "house_number",
    "unit",
    "city_key",
    "region_key",
    "website_host",
)


def match_keys(values: Mapping[str, Any]) -> dict[str, str | None]:
    """The matching keys of a transformed record, computed once in transform and stored with the public
    rows, so that candidates are scored without normalising them again."""
    rec = build_match_record(
        name=values.get("name"),
        address1=values.get("address1"),
        address2=values.get("address2"),
        city=values.get("city"),
        postal=values.get("zip"),
        country=values.get("country"),
        state=values.get("state"),
        website=values.get("website"),
    )
    return {name: getattr(rec, name) or None for name in MATCH_KEY_FIELDS}
