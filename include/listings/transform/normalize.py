"""Field normalisation for the transform step: matching keys and display forms of names, addresses,
postal codes, phones, websites, e-mails, social profiles and descriptions.

This module owns two kinds of output, and never mixes them:

- *keys* (`name_key`, `address_key`, `address_tokens`, `city_key`, `postal_key`, `house_number`,
  `website_host`, `Phone.e164`) are for matching only: accent-folded, case-folded, abbreviations expanded.
  They must be stable (a key of a key is the same key) and are never shown to anyone.
- *display forms* (`split_unit`, `normalize_postal`, `Phone.national`, `normalize_website`,
  `normalize_email`, `sort_social`, `split_contacts`, `safe_description`) keep the source's wording and
  only fix what is objectively wrong (case of a postal code, tracking parameters, a missing scheme...).

Every function is pure and total: arbitrary text never raises, unusable input gives None (or "" for keys).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from urllib.parse import quote, unquote_plus, urlsplit

import idna
import phonenumbers

from listings.fields import SOCIAL_FIELDS
from listings.transform.html import html_to_text
from listings.transform.limits import FIELD_LIMITS, URL_MAX_CHARS

__all__ = [
    "Phone",
    "address_key",
    "address_tokens",
    "city_key",
    "classify_social",
    "cut_text",
    "fold",
    "house_number",
    "http_url",
    "name_key",
    "name_tokens",
    "normalize_email",
    "normalize_phone",
    "normalize_postal",
    "normalize_social",
    "normalize_website",
    "postal_key",
    "safe_description",
    "sort_social",
    "split_contacts",
    "split_unit",
    "website_host",
]


_NON_WORD = re.compile(r"[^\w]+")
_WS = re.compile(r"\s+")

# ========================================================================================================
# Folding (shared by every key)
# ========================================================================================================

# Letters that NFKD does not decompose but that people type without their diacritic ("Bœuf"/"Boeuf").
# Apostrophe look-alikes become "'" so "L’Auberge" and "L'Auberge" fold alike.
_FOLD_TABLE = str.maketrans({
    "œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i",
    "’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "′": "'",
})  # fmt: skip


@cache
def _strip_combining() -> dict[int, None]:
    # str.translate with a table is much faster than a per-character filter (same trick as hashing.py).
    return {cp: None for cp in range(0x300, 0x10000) if unicodedata.combining(chr(cp))}


def fold(value: str | None) -> str:
    """Case- and accent-folded text with punctuation kept: NFKC, casefold, ligatures spelled out,
    apostrophes unified, NFKD with combining marks dropped. The first step of every key; consistent with
    `listings.transform.hashing.normalize_key` (which additionally turns punctuation into spaces)."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKC", value).casefold().translate(_FOLD_TABLE)
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", text).translate(_strip_combining())
    if not text.isascii() and max(text) > "\uffff":
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text


def _words(text: str) -> list[str]:
    return _NON_WORD.sub(" ", text).replace("_", " ").split()


# ========================================================================================================
# Business names
# ========================================================================================================

# Legal forms, as token sequences (after folding and dotted-initials collapsing: "S.E.N.C." -> "senc").
_LEGAL_SUFFIX_WORDS = [
    "inc", "incorporated", "incorporee", "ltd", "limited", "ltee", "limitee", "llc", "l l c", "llp", "ulc",
    "corp", "corporation", "co", "company", "and co", "cie", "and cie", "senc", "s e n c", "sencrl",
    "s e n c r l", "sa", "s a", "sas", "s a s", "sarl", "s a r l", "srl", "sprl", "gmbh", "ag", "plc", "pty",
    "bv", "nv", "enr", "enrg", "enregistree",
]  # fmt: skip
_LEGAL_SUFFIXES = tuple(sorted((tuple(s.split()) for s in _LEGAL_SUFFIX_WORDS), key=len, reverse=True))
# "S.E.N.C." / "S.A" / "A.B.C." -> "senc" / "sa" / "abc": single letters joined by dots are one word.
_DOTTED_INITIALS = re.compile(r"(?<!\w)(?:[^\W\d_]\.)+[^\W\d_]\.?(?!\w)")
_POSSESSIVE = re.compile(r"(?<=\w)'s\b")  # "Joe's" / "McDonald's" keyed like "Joes" / "McDonalds"
_SAINT_HYPHEN = re.compile(r"(?<!\w)st(e?)\.?-(?=[^\W\d_])")  # "St-Denis", "Ste-Foy": always Saint(e)
_NAME_STOPWORDS = frozenset({"the", "le", "la", "les", "l", "de", "du", "des", "d", "of", "and"})


def _saint(match: re.Match[str]) -> str:
    return "sainte " if match.group(1) else "saint "


def name_key(name: str | None) -> str:
    """Matching key of a business name (never for display).

    Folded (see `fold`), "&"/"et"/"and" unified as "and", punctuation -> space, "St-"/"Ste-" (and a
    leading "St"/"Ste") -> "saint"/"sainte", legal forms dropped from the end ("Inc.", "Ltée", "S.E.N.C.",
    "& Cie", "GmbH"... repeatedly, but never the whole name). Leading articles are kept.
    """
    text = fold(name)
    if not text:
        return ""
    text = _DOTTED_INITIALS.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _POSSESSIVE.sub("s", text)
    text = _SAINT_HYPHEN.sub(_saint, text)
    tokens = ["and" if t in ("et", "and") else t for t in _words(text.replace("&", " and "))]
    if len(tokens) > 1 and tokens[0] in ("st", "ste"):
        tokens[0] = "saint" if tokens[0] == "st" else "sainte"
    stripped = True
    while stripped:
        stripped = False
        for suffix in _LEGAL_SUFFIXES:
            n = len(suffix)
            if len(tokens) > n and tuple(tokens[-n:]) == suffix:
                del tokens[-n:]
                stripped = True
                break
    return " ".join(tokens)


def name_tokens(name: str | None) -> list[str]:
    """The words of `name_key` without articles and linking words ("le", "the", "de", "and"...), for
    token-set similarity; the full key's words when nothing else is left ("Le Bar" -> ["bar"],
    "La La" -> ["la", "la"])."""
    return key_words(name_key(name))


def key_words(key: str) -> list[str]:
    """`name_tokens` of a name key already computed."""
    tokens = key.split()
    kept = [t for t in tokens if t not in _NAME_STOPWORDS]
    return kept or tokens


def city_key(city: str | None) -> str:
    """Matching key of a city name: folded, punctuation -> space, "St-"/"Ste-" -> "saint"/"sainte"
    ("St-Jérôme" = "Saint-Jérôme" = "saint jerome")."""
    text = _SAINT_HYPHEN.sub(_saint, fold(city))
    tokens = _words(text)
    if len(tokens) > 1 and tokens[0] in ("st", "ste"):
        tokens[0] = "saint" if tokens[0] == "st" else "sainte"
    return " ".join(tokens)


# ========================================================================================================
# Street addresses
# ========================================================================================================

# Countries that write the house number after the street ("Hauptstraße 5", "Via Roma 12").
_NUMBER_AFTER_STREET = frozenset(
    {"AT", "BE", "CH", "CZ", "DE", "DK", "ES", "FI", "HR", "IT", "NL", "NO", "PL", "PT", "SE", "SI", "SK"}
)
_GERMAN_STREETS = frozenset({"DE", "AT", "CH"})

_UNIT_WORDS = (
    "appartement|apartment|appt|apt|app|suite|ste|unité|unite|unit|bureau|bur|local|loc|porte|room|rm|"
    "office|bldg|building|bâtiment|batiment|bât|bat|pièce|piece|flat|floor|fl|étage|etage|level|lvl|"
    "niveau|niv|numéro|numero|no|n°|"
    # Postal boxes: not a unit, but not part of the street either.
    r"c\.?\s?p|p\.?\s?o\.?\s?box|post\s+office\s+box|case\s+postale|b\.?\s?p|box"
)
_UNIT_ID = r"[A-Za-z]?-?\d+[A-Za-z]?(?:-[A-Za-z]?\d+[A-Za-z]?)?|[A-Za-z](?:-?\d+)?"
_UNIT = re.compile(
    rf"(?<![\w#°])(?:(?:{_UNIT_WORDS})(?:\.|\b|(?=\d))\s*(?:#|n[o°]\.?|:)?\s*|#\s*)(?:{_UNIT_ID})(?![\w-])",
    re.IGNORECASE,
)
_FLOOR = re.compile(
    r"(?<!\w)\d+\s*(?:e|er|re|ère|eme|ème|ième|ieme|nd|rd|th|st)\s+(?:étage|etage|floor|fl\b\.?)(?!\w)",
    re.IGNORECASE,
)
# Parts that are units only when they stand alone between commas ("1234 rue X, RC").
_UNIT_SEGMENT = re.compile(
    r"rc|rdc|r\.?-?d\.?-?c\.?|rez[- ]de[- ]chauss[ée]e|ground(?:\s+floor)?|sous[- ]sol|basement|mezzanine",
    re.IGNORECASE,
)
# Canada Post's unit-civic form: "200-1234 rue X" is unit 200 at civic 1234.
_CA_UNIT_CIVIC = re.compile(
    r"^\s*#?\s*(?P<unit>[A-Za-z]?\d+[A-Za-z]?|[A-Za-z])\s*-\s*(?P<civic>\d+[A-Za-z]?)(?=[\s,]|$)"
)
_TIDY_SEPARATORS = re.compile(r"\s*([,;])(?:\s*[,;])+\s*")
_EMPTY_PARENS = re.compile(r"\(\s*[,;-]?\s*\)")
_EDGE_PUNCT = re.compile(r"^[\s,;:/–—-]+|[\s,;:/(–—-]+$")

_NUMBER_LETTER = re.compile(r"(?<![\w-])(\d+)-([a-z])(?![\w-])")  # "1234-a" = "1234a"
_BIS = re.compile(r"(?<![\w-])(\d+)\s*-?\s*(bis|ter|quater)\b")  # French "12 bis" = "12bis"
_ORDINAL = re.compile(r"(\d+)(?:st|nd|rd|th|d|er|re|ere|e|eme|ieme|iem|em|me)")
_HOUSE_NUMBER = re.compile(r"\d+[a-z]?|\d+(?:bis|ter|quater)")

_WORD_ORDINALS = {
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5",
    "sixth": "6", "seventh": "7", "eighth": "8", "ninth": "9", "tenth": "10",
    "premier": "1", "premiere": "1", "deuxieme": "2", "troisieme": "3", "quatrieme": "4",
    "cinquieme": "5", "sixieme": "6", "septieme": "7", "huitieme": "8", "neuvieme": "9", "dixieme": "10",
}  # fmt: skip

# One canonical (English) token per direction; French and abbreviated forms map onto it. Only tokens in
# a direction position are converted (see _canonical_address_tokens): "Est" in the middle of a name stays.
_DIRECTIONS = {
    "n": "north", "north": "north", "nord": "north",
    "s": "south", "south": "south", "sud": "south",
    "e": "east", "east": "east", "est": "east",
    "w": "west", "west": "west", "o": "west", "ouest": "west",
    "ne": "northeast", "northeast": "northeast", "nordest": "northeast",
    "nw": "northwest", "no": "northwest", "northwest": "northwest", "nordouest": "northwest",
    "se": "southeast", "southeast": "southeast", "sudest": "southeast",
    "sw": "southwest", "so": "southwest", "southwest": "southwest", "sudouest": "southwest",
}  # fmt: skip

# Street types: every abbreviation onto one canonical form per language ("rue" stays "rue": it is not
# translated, so "rue X" and "X Street" differ in address_key; address_tokens drops the street's type).
# "st" (street or saint) and "dr" (drive or doctor) depend on their position and are handled apart.
_STREET_TYPES = {
    "street": "street", "str": "street",
    "av": "avenue", "ave": "avenue", "aven": "avenue", "avn": "avenue", "avenue": "avenue",
    "blvd": "boulevard", "boul": "boulevard", "boulv": "boulevard", "bd": "boulevard",
    "blv": "boulevard", "boulevard": "boulevard",
    "rd": "road", "road": "road",
    "drive": "drive", "drv": "drive",
    "ch": "chemin", "chem": "chemin", "chemin": "chemin",
    "rte": "route", "rt": "route", "route": "route",
    "pl": "place", "place": "place",
    "ct": "court", "crt": "court", "court": "court",
    "cr": "crescent", "cres": "crescent", "cresc": "crescent", "crescent": "crescent",
    "crois": "croissant", "croissant": "croissant",
    "hwy": "highway", "hway": "highway", "highway": "highway",
    "pkwy": "parkway", "pky": "parkway", "parkway": "parkway",
    "ln": "lane", "lane": "lane",
    "rg": "rang", "rang": "rang",
    "cote": "cote",
    "mtee": "montee", "montee": "montee",
    "terr": "terrace", "terrace": "terrace", "tsse": "terrasse", "terrasse": "terrasse",
    "cir": "circle", "circ": "circle", "circle": "circle",
    "sq": "square", "square": "square",
    "imp": "impasse", "impasse": "impasse",
    "prom": "promenade", "promenade": "promenade",
    "carr": "carre", "carre": "carre",
    "sent": "sentier", "sentier": "sentier",
    "rle": "ruelle", "ruelle": "ruelle",
    "esp": "esplanade", "esplanade": "esplanade",
    "trl": "trail", "trail": "trail",
    "expy": "expressway", "expressway": "expressway",
    "fwy": "freeway", "freeway": "freeway",
    "aut": "autoroute", "autoroute": "autoroute",
    "gdns": "gardens", "gardens": "gardens",
    "fbg": "faubourg", "fg": "faubourg", "faubourg": "faubourg",
    "rue": "rue", "allee": "allee", "cours": "cours", "quai": "quai", "way": "way", "passage": "passage",
    "strasse": "strasse",
}  # fmt: skip
_TYPE_WORDS = frozenset({*_STREET_TYPES, *_STREET_TYPES.values(), "st", "dr"})
_CANONICAL_DIRECTIONS = frozenset(_DIRECTIONS.values())


@lru_cache(maxsize=1 << 16)  # matching asks for the same keys pair after pair
def without_directions(key: str) -> str:
    """An address key without its directions: one source writes "1501 South Coulter", another "1501
    Coulter" (matching compares both forms; the key itself keeps them: "100 Main St E" is not "100 Main St
    W" in a record's hash)."""
    return " ".join(t for t in key.split() if t not in _CANONICAL_DIRECTIONS)


_ADDRESS_STOPWORDS = frozenset({"de", "du", "des", "la", "le", "les", "l", "d", "the", "of", "a"})


def _country(country: str | None) -> str:
    return (country or "").strip().upper()


def split_unit(address1: str | None, *, country: str = "CA") -> tuple[str | None, str | None]:
    """(civic street address without its unit, the unit), both for display, in the source's wording.

    Units in English and French ("Suite 200", "Ste 200", "Unit 4", "#12", "Apt 3", "App. 3", "Bureau 210",
    "Local A-12", "Porte B", "2e étage", "C.P. 148", "RC" between commas) are found anywhere; in Canada (and
    when the country is unknown) the "200-1234 rue X" form gives unit "200" at civic 1234. Several units are joined with ", ". A value that
    is only a unit gives (None, unit).
    """
    if address1 is None:
        return None, None
    text = _WS.sub(" ", unicodedata.normalize("NFKC", address1)).strip()
    if not text:
        return None, None
    units: list[str] = []
    if _country(country) in ("CA", ""):
        m = _CA_UNIT_CIVIC.match(text)
        if m:
            units.append(m.group("unit"))
            text = text[: m.start("unit")] + text[m.start("civic") :]
            text = text.lstrip("# ")

    def take(match: re.Match[str]) -> str:
        units.append(match.group(0).strip())
        return " "

    text = _FLOOR.sub(take, text)
    text = _UNIT.sub(take, text)
    segments = [_EDGE_PUNCT.sub("", s) for s in re.split(r"[,;]", text)]
    if any(_UNIT_SEGMENT.fullmatch(s) for s in segments):
        units.extend(s for s in segments if _UNIT_SEGMENT.fullmatch(s))
        text = ", ".join(s for s in segments if not _UNIT_SEGMENT.fullmatch(s))
    text = _EMPTY_PARENS.sub(" ", text)
    text = _TIDY_SEPARATORS.sub(r"\1 ", text)
    text = _EDGE_PUNCT.sub("", _WS.sub(" ", text)).strip()
    text = re.sub(r"\s+([,;])", r"\1", text)
    civic = text if any(ch.isalnum() for ch in text) else None
    return civic, ", ".join(units) or None


def _raw_address_tokens(civic: str) -> list[str]:
    text = _SAINT_HYPHEN.sub(_saint, fold(civic))
    text = _NUMBER_LETTER.sub(r"\1\2", text)
    text = _BIS.sub(r"\1\2", text)
    return _words(text)


def _is_number(token: str) -> bool:
    return token[:1].isdigit()


def _canonical_address_tokens(tokens: list[str], country: str) -> list[str]:
    out = list(tokens)
    # Ordinals first, so that position rules below see "1" wherever a later pass would.
    for i, t in enumerate(out):
        m = _ORDINAL.fullmatch(t)
        if m:
            out[i] = m.group(1)
    for i, t in enumerate(out):
        if t in _WORD_ORDINALS and (
            (i + 1 < len(out) and out[i + 1] in _TYPE_WORDS) or (i > 0 and out[i - 1] in _TYPE_WORDS)
        ):
            out[i] = _WORD_ORDINALS[t]
    # "Nord-Est" arrives as two words.
    if (
        len(out) >= 3
        and _DIRECTIONS.get(out[-2]) in ("north", "south")
        and _DIRECTIONS.get(out[-1]) in ("east", "west")
    ):
        out[-2:] = [_DIRECTIONS[out[-2]] + _DIRECTIONS[out[-1]]]
    n = len(out)

    def direction_at(i: int) -> bool:
        # Last word ("Main St W"), or right after the civic number when a street follows ("123 N Main St").
        return out[i] in _DIRECTIONS and (i == n - 1 or (i == 1 and _is_number(out[0]) and n >= 3))

    dirs = [direction_at(i) for i in range(n)]
    german = _country(country) in _GERMAN_STREETS
    for i, t in enumerate(out):
        if dirs[i]:
            out[i] = _DIRECTIONS[t]
        elif t in ("st", "dr"):
            # "rue St Denis", "123 St Clair Ave": Saint; "Main St", "Main St W", "123 St": Street. Between
            # two plain words ("Main St Montreal") Street is the likelier reading. "Dr" is Drive only at
            # the end (before directions); elsewhere it is a title ("Dr Penfield") and stays.
            street_end = i > 0 and all(dirs[i + 1 :])
            if t == "dr":
                out[i] = "drive" if street_end else "dr"
            elif not street_end and (i == 0 or _is_number(out[i - 1]) or out[i - 1] in _TYPE_WORDS):
                out[i] = "saint" if i + 1 < n else "street"
            else:
                out[i] = "street"
        elif t == "ste":
            out[i] = "sainte"
        elif german and (t == "str" or (len(t) > 3 and t.endswith("str"))):
            out[i] = t[:-3] + "strasse"
        elif t in _STREET_TYPES:
            out[i] = _STREET_TYPES[t]
    return out


def address_key(address: str | None, *, country: str = "CA") -> str:
    """Matching key of a street address (never for display): unit removed (see `split_unit`), folded,
    punctuation -> space, street types and directions in one canonical form each, ordinals as digits.

    "1234, rue St-Denis, bureau 5" -> "1234 rue saint denis"; "200-1234 boul. St-Laurent O." ->
    "1234 boulevard saint laurent west"; "123 Main St. W., Suite 4" -> "123 main street west".
    """
    key = _address_key_once(address, country)
    # A key is read again until it is stable: punctuation removed by the first reading can reveal a unit
    # ("C.P., 12" -> "c p 12"). Real addresses are stable after one reading; 4 bounds adversarial text.
    for _ in range(4):
        again = _address_key_once(key, country)
        if again == key:
            break
        key = again
    return key


def _address_key_once(address: str | None, country: str) -> str:
    # Units are looked for in the folded text, so that a key read again finds what the first reading found.
    civic, _ = split_unit(fold(address), country=country)
    if not civic:
        return ""
    return " ".join(_canonical_address_tokens(_raw_address_tokens(civic), country))


def address_tokens(address: str | None, *, country: str = "CA") -> list[str]:
    """The words of `address_key` without the street type and linking words, for token similarity across
    languages: "1234, rue Saint-Denis" and "1234 Saint-Denis Street" both give ["1234", "saint", "denis"].

    Only the street's own type is dropped (the last word before the directions, else the first word after
    the civic number), so "chemin de la Côte-des-Neiges" keeps "cote".
    """
    tokens = address_key(address, country=country).split()
    end = len(tokens)
    while end > 0 and tokens[end - 1] in _CANONICAL_DIRECTIONS:
        end -= 1
    # English order puts the type last ("Côte-Sainte-Catherine Road"), French order first ("chemin de la
    # Côte-Sainte-Catherine"); only one of them is the street's type.
    drop = end - 1
    if not (end > 0 and tokens[drop] in _TYPE_WORDS):
        drop = 1 if tokens and _is_number(tokens[0]) else 0
    kept = [
        t
        for i, t in enumerate(tokens)
        if t not in _ADDRESS_STOPWORDS and not (i == drop and t in _TYPE_WORDS)
    ]
    return kept or tokens


_UNIT_TOKEN = re.compile(r"[a-z]?\d+[a-z]?|(?<![a-z])[a-z](?![a-z])")


def unit_key(unit: str | None) -> str | None:
    """The identifying part of a unit, for comparing two: "#50", "Suite 50", "Stand 50", "bureau 50" -> "50";
    "Apt 3B" -> "3b". None when it has none."""
    tokens = _UNIT_TOKEN.findall(fold(unit))
    return " ".join(tokens) or None


def house_number(address: str | None, *, country: str = "CA") -> str | None:
    """The civic number, upper-case, units removed: "200-1234 rue X" -> "1234", "1234-A rue X" ->
    "1234A", "12 bis rue X" -> "12BIS"; the trailing number where streets come first ("Hauptstraße 5a"
    -> "5A"). None when there is none ("1re Avenue" has an ordinal, not a number)."""
    civic, _ = split_unit(fold(address), country=country)
    if not civic:
        return None
    tokens = _raw_address_tokens(civic)
    if not tokens:
        return None
    if _HOUSE_NUMBER.fullmatch(tokens[0]) and not (
        len(tokens) > 1 and _ORDINAL.fullmatch(tokens[0]) and tokens[1] in _TYPE_WORDS
    ):
        return tokens[0].upper()
    if _country(country) in _NUMBER_AFTER_STREET and _HOUSE_NUMBER.fullmatch(tokens[-1]):
        return tokens[-1].upper()
    return None


# ========================================================================================================
# Postal codes
# ========================================================================================================

_CA_POSTAL = re.compile(
    r"(?<![A-Z0-9])([ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z])[\s-]?(\d[ABCEGHJ-NPRSTV-Z]\d)(?![A-Z0-9])"
)
_US_ZIP = re.compile(r"(?<![\dA-Z])(\d{5})(?:\s?-?\s?(\d{4}))?(?![\dA-Z])")
_GB_POSTCODE = re.compile(r"(?<![A-Z0-9])(GIR|[A-Z]{1,2}\d[A-Z\d]?)\s?(\d[ABD-HJLNP-UW-Z]{2})(?![A-Z0-9])")
_NL_POSTCODE = re.compile(r"(?<![A-Z0-9])([1-9]\d{3})\s?([A-Z]{2})(?![A-Z0-9])")
# Countries whose codes are plain digits, and how many.
_DIGIT_POSTAL = {
    "FR": 5, "DE": 5, "IT": 5, "ES": 5, "MX": 5, "FI": 5, "HR": 5, "MC": 5,
    "AU": 4, "BE": 4, "CH": 4, "AT": 4, "LU": 4, "DK": 4, "NO": 4, "NZ": 4,
}  # fmt: skip
_SPREADSHEET_FLOAT = re.compile(r"(\d+)\.0+")


def normalize_postal(value: str | None, *, country: str) -> str | None:
    """Display form of a postal code for `country`, or None when it is not one.

    CA "H2X 1Y4" (letter/digit pattern and letters checked), US "12345" / "12345-6789", FR/DE/IT/ES (and
    other all-digit countries) their digit count, GB "SW1A 1AA", NL "1234 AB". A code found inside a longer
    value ("Montréal (QC) H2X 1Y4", "MA 02134", "F-75001") is taken. Spreadsheets' damage is undone: a
    trailing ".0", and one lost leading zero (US "2134", FR "1000", AU "800"). Other countries: upper-case,
    letters, digits and single spaces or hyphens ("123-4567").
    """
    if value is None:
        return None
    text = _WS.sub(" ", unicodedata.normalize("NFKC", value).upper()).strip()
    m = _SPREADSHEET_FLOAT.fullmatch(text)
    if m:
        text = m.group(1)
    code = _country(country)
    compact = re.sub(r"[\s.]", "", text)
    if code == "CA":
        found = {f"{a} {b}" for a, b in _CA_POSTAL.findall(text)}
        return found.pop() if len(found) == 1 else None
    if code == "US":
        if re.fullmatch(r"\d{4}|\d{8}", compact):
            compact = "0" + compact
        found = {f"{a}-{b}" if b else a for a, b in _US_ZIP.findall(compact if compact.isdigit() else text)}
        return found.pop() if len(found) == 1 else None
    if code in ("GB", "UK"):
        found = {f"{a} {b}" for a, b in _GB_POSTCODE.findall(text)}
        return found.pop() if len(found) == 1 else None
    if code == "NL":
        found = {f"{a} {b}" for a, b in _NL_POSTCODE.findall(text)}
        return found.pop() if len(found) == 1 else None
    if code in _DIGIT_POSTAL:
        size = _DIGIT_POSTAL[code]
        if compact.isdigit() and len(compact) == size - 1:
            return "0" + compact
        found = set(
            re.findall(rf"(?<![\dA-Z])\d{{{size}}}(?![\dA-Z])", compact if compact.isdigit() else text)
        )
        return found.pop() if len(found) == 1 else None
    cleaned = re.sub(r"[^\w\s-]|_", " ", text)
    cleaned = re.sub(r"\s*-\s*", "-", _WS.sub(" ", cleaned)).strip(" -")
    cleaned = re.sub(r"-{2,}", "-", cleaned)
    return cleaned if any(ch.isalnum() for ch in cleaned) else None


def postal_key(value: str | None, *, country: str | None = None) -> str:
    """Matching key of a postal code: letters and digits, upper-case (as `hashing.normalize_postal`); a US
    ZIP+4 keys on its 5-digit ZIP. With `country`, the code is first read by `normalize_postal` (so
    "Montréal QC H2X 1Y4" keys as "H2X1Y4"); "" when there is no code."""
    if country is not None and value:
        value = normalize_postal(value, country=country) or value
    # NFKC again after upper-casing: a few capitals ("Ǆ") have compatibility decompositions.
    upper = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value or "").upper())
    key = "".join(ch for ch in upper if ch.isalnum())
    if len(key) == 9 and key.isascii() and key.isdigit() and (country is None or _country(country) == "US"):
        return key[:5]
    return key


# ========================================================================================================
# Phones
# ========================================================================================================


@dataclass(frozen=True)
class Phone:
    """A phone number read from a cell.

    `e164` is set when the digits form a complete number for its country (libphonenumber's
    `is_possible_number`, full length only); `valid` says whether the number is also in an allocated range
    (`is_valid_number`). `national` is the number's own national format ("(514) 555-0123"); `raw` is the
    cell as written (whitespace tidied); `others` holds further numbers found in the same cell.
    """

    e164: str | None
    national: str | None
    extension: str | None
    valid: bool
    raw: str
    others: tuple[Phone, ...] = ()


_PHONE_SPLIT = re.compile(r"\s*(?:[/;|\n]|,(?!\s*\d{1,6}\s*$)|\s(?:ou|or|et|and)\s)\s*", re.IGNORECASE)
_EXTENSION = re.compile(
    r"(?:[,;]?\s*(?:\b(?:ext|extension|poste|post|p|x|local|loc)\b\.?|(?<=\d)x|#)\s*:?\s*)(\d{1,7})\s*$",
    re.IGNORECASE,
)
_EXTENSION_START = re.compile(
    r"(?:(?:ext|extension|poste|post|p|x|local|loc)\b\.?|#)\s*:?\s*\d", re.IGNORECASE
)
_TRAILING_NOTE = re.compile(r"[\s(\[][^\d]*$")
_SCIENTIFIC = re.compile(r"\d(?:\.\d+)?[eE]\+?\d{1,2}")
_REGION_ALIASES = {"UK": "GB"}
_MAX_PHONE_CELL = 200  # libphonenumber refuses longer input; nothing longer is one phone cell


def _phone_region(country: str | None) -> str | None:
    code = _country(country)
    code = _REGION_ALIASES.get(code, code)
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def _parse_phone(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _round_trips(e164: str) -> bool:
    # A possible-but-odd number (a national prefix inside the "national" digits) can print an E.164 that
    # reads back as another number; such a key would not be stable, so it is not given.
    try:
        again = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.format_number(again, phonenumbers.PhoneNumberFormat.E164) == e164


def _read_one_phone(text: str, region: str | None, raw: str) -> Phone:
    text = text.strip()
    m = _SPREADSHEET_FLOAT.fullmatch(text)
    if m:
        text = m.group(1)
    elif _SCIENTIFIC.fullmatch(text):
        try:
            number = Decimal(text)
            if number == number.to_integral_value():
                text = str(int(number))
        except InvalidOperation:
            pass
    extension: str | None = None
    ext = _EXTENSION.search(text)
    if ext and sum(ch.isdigit() for ch in text[: ext.start()]) >= 7:
        extension = ext.group(1)
        text = text[: ext.start()]
    # Labels before the number ("Tél. :", "Phone", "T") go; libphonenumber handles the rest, except a
    # trailing note ("(bureau)"), which is cut only when the number does not read without cutting it (so
    # that "1-800-FLOWERS" keeps its letters).
    text = re.sub(r"^[^\d+(]*", "", text)[:_MAX_PHONE_CELL]
    parsed = _parse_phone(text, region)
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        shorter = _TRAILING_NOTE.sub("", text)
        parsed = (_parse_phone(shorter, region) if shorter != text else None) or parsed
    if parsed is None:
        return Phone(None, None, extension, False, raw)
    extension = extension or parsed.extension or None
    possible = (
        phonenumbers.is_possible_number_with_reason(parsed) == phonenumbers.ValidationResult.IS_POSSIBLE
    )
    valid = phonenumbers.is_valid_number(parsed)
    parsed.extension = None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not (possible or valid) or not _round_trips(e164):
        return Phone(None, None, extension, False, raw)
    return Phone(
        e164=e164,
        national=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
        extension=extension,
        valid=valid,
        raw=raw,
    )


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def normalize_phone(value: str | None, *, country: str) -> Phone | None:
    """Read a phone cell with `country` (the DMO's, ISO alpha-2) as the default region.

    Accepts the usual separators, a "+"/"1" prefix, labels ("tél. :"), extensions ("poste 22", "ext. 12",
    "x12", "#12"), spreadsheet floats ("5145550123.0") and several numbers in a cell ("A / B", "A ou B":
    the first is read, the others are in `others`). None when the cell has no digit at all; a number that
    cannot be read keeps its `raw` text with `valid=False`. Never raises.
    """
    if value is None:
        return None
    text = _WS.sub(" ", unicodedata.normalize("NFKC", value)).strip()
    if not any(ch.isdigit() for ch in text):
        return None
    region = _phone_region(country)
    pieces: list[str] = []
    for piece in _PHONE_SPLIT.split(text):
        if pieces and _EXTENSION_START.match(piece):
            pieces[-1] += " " + piece  # "514 555-0123, poste 22": the extension belongs to the number
        elif pieces and _digits(pieces[-1]) < 7 and _digits(piece) >= 7:
            # "310/246-1501": a slash after an area code, not between two numbers (libphonenumber's
            # PhoneNumberMatcher reads this one, but drops the first of "310/246-1501 / 310/246-1502")
            pieces[-1] += " " + piece
        elif piece and any(ch.isdigit() for ch in piece):
            pieces.append(piece)
    if not pieces:
        return None
    first = _read_one_phone(pieces[0], region, text)
    # A later piece with too few digits to be a number ("514-555-0101 / 02") is not reported.
    others = tuple(_read_one_phone(p, region, p.strip()) for p in pieces[1:] if _digits(p) >= 7)
    if others:
        return Phone(first.e164, first.national, first.extension, first.valid, first.raw, others)
    return first


# ========================================================================================================
# Websites
# ========================================================================================================

_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "mc_cid", "mc_eid", "_ga",
        "_gl", "yclid", "igshid", "igsh", "twclid", "ttclid", "li_fat_id", "_hsenc", "_hsmi", "mkt_tok",
        "srsltid", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid", "rb_clickid", "s_cid",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "hsa_", "pk_", "mtm_")
_NOT_URLS = frozenset(
    {"n/a", "na", "n.a.", "none", "null", "nil", "aucun", "aucune", "non", "no", "-", "--", "?"}
)
_WEB_SCHEME = re.compile(r"^(https?)\s*(?::\s*/*|/+)", re.IGNORECASE)  # also "http//x", "https:/x"
_OTHER_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:(?!\d)", re.IGNORECASE)
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/?%:@!$'()*+,;=-._~"


def _idna_host(host: str) -> str | None:
    host = host.rstrip(".")
    if not host:
        return None
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                return None
    host = host.lower()
    try:
        ipaddress.IPv4Address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    tld = labels[-1]
    if not ((tld.isalpha() and len(tld) >= 2) or tld.startswith("xn--")):
        return None
    return host


def _is_tracking(name: str, value: str) -> bool:
    name = name.lower()
    if name in _TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES):
        return True
    if name in ("ref", "ref_src"):
        # A referral tag ("ref=producthunt", "ref_src=twsrc^tfw", "ref=dmo.example") has no digit; a
        # product or booking reference ("ref=AB123") does, and is kept.
        return not any(ch.isdigit() for ch in value) or "." in value
    return False


def _filter_query(query: str, keep: frozenset[str] | None = None) -> str:
    pieces = []
    for piece in query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        name_text, value_text = unquote_plus(name), unquote_plus(value)
        if keep is not None:
            if name_text in keep:
                pieces.append(piece)
        elif not _is_tracking(name_text, value_text):
            pieces.append(piece)
    return quote("&".join(pieces), safe=_QUERY_SAFE + "&")


def normalize_website(value: str | None) -> str | None:
    """Canonical display URL of a website, or None when the value is not a web address.

    Trimmed (quotes, brackets, trailing punctuation), first of several, scheme added when missing —
    "https://": nearly every site serves HTTPS and browsers upgrade, while an explicit "http://" from the
    source is kept as given (host equality, `website_host`, ignores the scheme anyway). Scheme and host
    lower-cased, host IDNA-encoded, credentials and default ports dropped, fragment dropped, tracking
    parameters (utm_*, fbclid, gclid, ..., and "ref"/"ref_src" without digits) removed with the other
    parameters kept in order, empty path -> "/", spaces and non-ASCII in path and query percent-encoded.
    E-mails, "n/a", "-", other schemes (mailto:, tel:, javascript:) and hosts without a dot give None.
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip().strip("<>\"'“”«»()[] ")
    # Several addresses in one cell: the first ("a.example, www.b.example", "a.example b.example").
    text = re.split(r"[,;|]\s*(?=https?:|www\.)|\s+", text, maxsplit=1)[0]
    text = text.rstrip(".,;:!?)]}>\"'»”")
    if not text or text.lower() in _NOT_URLS:
        return None
    m = _WEB_SCHEME.match(text)
    if m:
        scheme, rest = m.group(1).lower(), text[m.end() :]
    elif text.startswith("//"):
        scheme, rest = "https", text.lstrip("/")
    elif _OTHER_SCHEME.match(text) and not re.match(r"^[\w.-]+\.[a-z]{2,}(?::\d+)?(?:[/?#]|$)", text, re.I):
        return None  # mailto:, tel:, javascript:, ftp:... (but "www.x.example:8080/a" is a host and port)
    else:
        scheme, rest = "https", text
        if "@" in re.split(r"[/?#]", rest, maxsplit=1)[0]:
            return None  # an e-mail address, not a website
    try:
        parts = urlsplit(f"{scheme}://{rest}")
        hostname, port = parts.hostname, parts.port
    except ValueError:
        return None
    host = _idna_host(hostname or "")
    if host is None:
        return None
    port_text = "" if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f":{port}"
    path = quote(parts.path, safe=_PATH_SAFE) or "/"
    query = _filter_query(parts.query)
    # Trailing sentence punctuation is not part of a URL (and would be stripped when read again).
    return f"{scheme}://{host}{port_text}{path}{'?' + query if query else ''}".rstrip(".,;:!?")


_URL_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def http_url(value: str | None) -> str | None:
    """`value` when it is an absolute http(s) URL with a host, at most 2,048 characters, as written (trimmed);
    a protocol-relative one ("//cdn.example/a.jpg") gets "https:". None for anything else: javascript:,
    data:, file: and other schemes, relative paths, control characters (browsers drop tabs and newlines, so
    "java\tscript:" is javascript:). For image URLs, which are fetched and shown as links."""
    if value is None:
        return None
    text = value.strip()
    if text.startswith("//"):
        text = "https:" + text
    if not text or len(text) > URL_MAX_CHARS or _URL_CONTROL.search(text):
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return text


def website_host(value: str | None) -> str | None:
    """The host of `normalize_website(value)` without "www."/"www2." (for equality checks), or None."""
    url = normalize_website(value)
    if url is None:
        return None
    host = urlsplit(url).hostname or ""
    return re.sub(r"^www\d*\.", "", host) or None


# ========================================================================================================
# E-mails
# ========================================================================================================

_OBFUSCATED_AT = re.compile(r"\s*[\[({]\s*(?:at|arobase|@)\s*[\])}]\s*", re.IGNORECASE)
_OBFUSCATED_DOT = re.compile(r"\s*[\[({]\s*(?:dot|point)\s*[\])}]\s*", re.IGNORECASE)
_LOCAL_PART = re.compile(r"[^\s@<>()\[\],;:\"\\]+")


def normalize_email(value: str | None) -> str | None:
    """An e-mail address with its domain lower-cased (the local part keeps its case), or None.

    Strips "mailto:" (and its "?subject=" query), whitespace, quotes and angle brackets ("Name <a@b.ca>"),
    undoes "[at]"/"(dot)" obfuscation, takes the first of several addresses, and checks the shape: one "@",
    no spaces, a local part, a domain with a dot and a real-looking TLD.
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    bracketed = re.search(r"<([^<>]*@[^<>]*)>", text)
    if bracketed:
        text = bracketed.group(1)
    text = _OBFUSCATED_DOT.sub(".", _OBFUSCATED_AT.sub("@", text))
    candidates = [c for c in re.split(r"[\s,;/|]+", text) if "@" in c]
    if not candidates:
        return None
    text = candidates[0]
    text = re.sub(r"^mailto:", "", text, flags=re.IGNORECASE).split("?", 1)[0]
    text = text.strip("<>\"'()[]{}").rstrip(".")
    if text.count("@") != 1:
        return None
    local, domain = text.split("@")
    if (
        not _LOCAL_PART.fullmatch(local)
        or len(local) > 64
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        return None
    domain = domain.lower().rstrip(".")
    if _idna_host(domain) is None:
        return None
    try:
        ipaddress.IPv4Address(domain)
        return None  # "user@1.2.3.4" is not a business address
    except ValueError:
        pass
    return f"{local}@{domain}"


# ========================================================================================================
# Social profiles
# ========================================================================================================

_SOCIAL_HOSTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("facebook", re.compile(r"(?:^|\.)(?:facebook\.com|fb\.com|fb\.me|fb\.watch)$")),
    ("instagram", re.compile(r"(?:^|\.)(?:instagram\.com|instagr\.am)$")),
    ("youtube", re.compile(r"(?:^|\.)(?:youtube\.com|youtu\.be|youtube-nocookie\.com)$")),
    ("tiktok", re.compile(r"(?:^|\.)tiktok\.com$")),
    ("twitter", re.compile(r"(?:^|\.)(?:twitter\.com|x\.com)$")),
    ("pinterest", re.compile(r"(?:^|\.)(?:pinterest\.(?:com?\.)?[a-z]{2,3}|pin\.it)$")),
    ("tripadvisor", re.compile(r"(?:^|\.)tripadvisor\.(?:com?\.)?[a-z]{2,3}$")),
    ("yelp", re.compile(r"(?:^|\.)yelp\.(?:com?\.)?[a-z]{2,3}$")),
)
# Profile URL for a bare handle typed in a platform's column ("@bistro" in the Instagram column).
_HANDLE_URLS = {
    "facebook": "https://www.facebook.com/{}",
    "instagram": "https://www.instagram.com/{}",
    "youtube": "https://www.youtube.com/@{}",
    "tiktok": "https://www.tiktok.com/@{}",
    "twitter": "https://x.com/{}",
    "pinterest": "https://www.pinterest.com/{}",
}
_HANDLE = re.compile(r"@?([A-Za-z0-9_.-]{1,100})")  # platforms only allow ASCII handles
# Query parameters that identify the page (everything else on a profile URL is tracking or UI state).
_SOCIAL_QUERY_KEEP = {"facebook": frozenset({"id"}), "youtube": frozenset({"v", "list"})}
# Short-link hosts keep their host; every other subdomain becomes the platform's canonical host.
_SOCIAL_CANONICAL_HOST = {
    "facebook": ("www.facebook.com", frozenset({"fb.me", "fb.watch"})),
    "instagram": ("www.instagram.com", frozenset()),
    "youtube": ("www.youtube.com", frozenset({"youtu.be"})),
    "tiktok": ("www.tiktok.com", frozenset({"vm.tiktok.com", "vt.tiktok.com"})),
    "twitter": ("x.com", frozenset()),
}


def _social_kind(host: str) -> str | None:
    return next((kind for kind, pattern in _SOCIAL_HOSTS if pattern.search(host)), None)


def classify_social(url: str | None) -> str | None:
    """Which SOCIAL_FIELDS platform a URL belongs to, by host ("fr-ca.facebook.com", "youtu.be", "x.com",
    "tripadvisor.co.uk", "fr.yelp.ca"...), or None for any other site."""
    host = website_host(url)
    return _social_kind(host) if host else None


def normalize_social(value: str | None, field: str | None = None) -> str | None:
    """Canonical URL of a social profile, or None when the value is not one.

    HTTPS, the platform's canonical host (locale and mobile subdomains of Facebook/Instagram/YouTube/TikTok
    -> www; twitter.com -> x.com; "m." -> "www." elsewhere), no trailing slash, no query except what
    identifies the page (Facebook `profile.php?id=`, YouTube `watch?v=`). With `field`, a bare handle
    ("@bistro", "bistro") is read as that platform's profile.
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    handle = _HANDLE.fullmatch(text)
    name = handle.group(1).strip(".") if handle else ""
    if (
        field in _HANDLE_URLS
        and (text.startswith("@") or "." not in text)
        and any(ch.isalpha() for ch in name)
        and text.lower() not in _NOT_URLS
    ):
        return _HANDLE_URLS[field].format(name)
    url = normalize_website(text)
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    kind = _social_kind(host)
    if kind is None:
        return None
    if kind in _SOCIAL_CANONICAL_HOST:
        canonical, keep = _SOCIAL_CANONICAL_HOST[kind]
        if host not in keep:
            host = canonical
    elif host.startswith("m."):
        host = "www." + host[2:]
    path = parts.path.rstrip("/.,;:!?")
    query = _filter_query(parts.query, _SOCIAL_QUERY_KEEP.get(kind, frozenset()))
    return f"https://{host}{path}{'?' + query if query else ''}".rstrip(".,;:!?")


def sort_social(urls: Iterable[str | None]) -> dict[str, str]:
    """Each URL normalised (`normalize_social`) and placed in its platform's field; the first URL of a
    platform wins; URLs of other sites are left out."""
    out: dict[str, str] = {}
    for url in urls:
        social = normalize_social(url)
        kind = _social_kind(urlsplit(social).hostname or "") if social else None
        if social and kind and kind not in out:
            out[kind] = social
    return out


def split_contacts(
    website: str | None, socials: Mapping[str, str | None]
) -> tuple[str | None, dict[str, str]]:
    """(website, socials) with every URL in its right column, normalised.

    `socials` is keyed by SOCIAL_FIELDS names (a "_url" suffix, as in the contact_info columns, is
    accepted). A value in its own platform's column wins; a URL of another platform moves to that
    platform's column if it is empty (a "website" that is a Facebook page becomes `facebook`); a plain
    website found in a social column becomes the website when there is none (otherwise it is dropped:
    the explicit website wins). The returned dict holds only the filled fields.
    """
    placed: dict[str, str] = {}
    misplaced: list[tuple[str, str]] = []
    stray_sites: list[str] = []
    for key, value in socials.items():
        field = key.removesuffix("_url")
        known = field in SOCIAL_FIELDS
        social = normalize_social(value, field if known else None)
        if social is None:
            site = normalize_website(value) if known else None
            if site is not None:
                stray_sites.append(site)
            continue
        kind = _social_kind(urlsplit(social).hostname or "")
        if kind == field and field not in placed:
            placed[field] = social
        elif kind is not None:
            misplaced.append((kind, social))
    site = normalize_website(website)
    as_social = normalize_social(site) if site else None
    if as_social is not None:
        kind = _social_kind(urlsplit(as_social).hostname or "")
        if kind is not None:
            misplaced.append((kind, as_social))
        site = None
    for kind, social in misplaced:
        placed.setdefault(kind, social)
    if site is None and stray_sites:
        site = stray_sites[0]
    return site, {f: placed[f] for f in SOCIAL_FIELDS if f in placed}


# ========================================================================================================
# Descriptions
# ========================================================================================================

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Invisible characters: zero-width space/joiners, word joiner, BOM, soft hyphen, Mongolian vowel
# separator, and the bidi embeddings/overrides/isolates (they can reorder displayed text).
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u202a-\u202e\u2066-\u2069]")


def _invisible(match: re.Match[str]) -> str:
    char, text, at = match.group(0), match.string, match.start()
    before = text[at - 1] if at else ""
    after = text[at + 1] if at + 1 < len(text) else ""
    # Emoji ZWJ sequences (woman + ZWJ + cook) need the joiner between two pictographs.
    if (
        char == "\u200d"
        and (unicodedata.category(before or " ") in ("So", "Sk") or before == "\ufe0f")
        and unicodedata.category(after or " ") == "So"
    ):
        return char
    if char == "\u200c" and before and after and ord(before) >= 0x590 and ord(after) >= 0x590:
        return char  # ZWNJ shapes Persian and Indic words
    return ""


def safe_description(
    value: str | None, *, max_length: int = FIELD_LIMITS["description"].max_chars
) -> str | None:
    """A description as plain, safe text: HTML reduced by `html_to_text` (tags dropped, entities decoded,
    paragraphs kept), control and invisible characters removed (emoji joiners kept), whitespace tidied
    within lines, at most one blank line between paragraphs; longer than `max_length` -> cut at a word
    boundary with "…" (the result, "…" included, is at most `max_length` long). None when empty."""
    if max_length < 2:
        raise ValueError("max_length must be at least 2")
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    text = html_to_text(text) or ""
    text = _INVISIBLE.sub(_invisible, _CONTROL.sub("", text.replace("\t", " ")))
    lines = [" ".join(line.split()) for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if not text:
        return None
    return cut_text(text, max_length)


def cut_text(text: str, max_length: int) -> str:
    """`text` when at most `max_length` long, else cut at a word boundary (in its second half) with "…"
    (the result, "…" included, is at most `max_length` long)."""
    if len(text) <= max_length:
        return text
    cut = text[: max_length - 1]
    boundary = max(cut.rfind(" "), cut.rfind("\n"))
    if boundary >= max_length // 2:
        cut = cut[:boundary]
    return cut.rstrip(" \n,;:–—-(") + "…"
