"""Labelled matching data: canonical listings plus incoming records whose true match is known.

This module owns `generate(...) -> LabelledSet`, the ground truth the fuzzy matcher is fitted and judged
on (bench/matching_quality.py, tests/unit/test_matching_scoring.py, and end-to-end runs, which can ingest
`canonical` and then `incoming` as two DMOs' CSV files); `match_record(row)`, which turns one of its rows
into a `MatchRecord` the way the pipeline does; and an in-memory copy of the database's candidate search
(`candidates`, `labelled_pairs`) so that the scorer can be fitted and measured without PostgreSQL.

Canonical listings come from `listings_dev.devdata.generate_listings`; about 6% of them are rewritten as
NEIGHBOURS of another one (same building or next door, often with a near-identical generic name). The
incoming records are:
- duplicates of a canonical listing, re-typed by another DMO with realistic noise: typos (1-2 edits),
  abbreviations (St/Saint, Ave/Avenue, boulevard/boul.), English street forms, accents dropped, case
  changes, missing phone/website/postal code/coordinates, moved pins (5-150 m, sometimes ~300 m, rarely
  up to 900 m), renamed businesses ("Café X & Bistro", a legal suffix added, "The" dropped, the type
  word added or dropped, an English rendering), another line's phone, a new domain, a corner building's
  other address, other phone/postal/URL formats, another DMO's category wording, re-encoded photos;
- genuinely new places (most), new NEIGHBOURS of a canonical listing (a different business in the same
  building or next door, similar names such as "Café du Parc" / "Café du Port", sometimes the same
  switchboard phone or a shared photo of the building), and new CHAIN branches (the same name and website
  host as canonical branches, at another address), which must match nothing.

devdata phones use the fictional 555-01xx range (100 numbers per area code), so unrelated places share a
phone far more often than real ones do: phone equality is weaker evidence here than in production.

Rows are plain dicts of strings ("" when missing) with canonical field names, so they can be written as
CSV with `CSV_FIELDS`. `image_phashes` is not a canonical field: it carries the perceptual hashes of the
row's `images` ("|"-separated 16-hex-digit pHashes), which the pipeline would compute from the images.
The same seed gives the same set on every machine.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from listings.matching.features import (
    CategoryCompat,
    Features,
    MatchRecord,
    build_match_record,
    haversine_m,
    pair_features,
)
from listings.transform.categories import Vocabulary, load_vocabulary
from listings.transform.normalize import address_key, name_tokens
from listings_dev.devdata import CITIES, category_label, category_of, generate_listings, slugify

__all__ = [
    "CSV_FIELDS",
    "KINDS",
    "LabelledPair",
    "LabelledSet",
    "candidates",
    "generate",
    "labelled_pairs",
    "match_record",
    "trigram_similarity",
    "trigrams",
]

CSV_FIELDS: tuple[str, ...] = (
    "source_id",
    "name",
    "category",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "country",
    "lat",
    "lng",
    "phone",
    "email",
    "website",
    "images",
    "image_phashes",
)

# What an incoming record is, for reporting (the truth itself is `LabelledSet.truth`).
KINDS = (
    "duplicate",  # a re-typed copy of a canonical listing
    "duplicate_chain",  # ... of a chain branch (other branches of the chain are candidates too)
    "duplicate_neighbour",  # ... of a listing that has a canonical neighbour in its building / next door
    "new",  # a place the catalogue does not have
    "new_chain_branch",  # a new branch of a chain the catalogue has other branches of
    "new_neighbour",  # a new business in the building of (or next door to) a canonical listing
)


@dataclass
class LabelledSet:
    canonical: list[dict[str, str]]
    incoming: list[dict[str, str]]
    truth: dict[str, str | None]  # incoming source_id -> canonical source_id, None for a new place
    kinds: dict[str, str] = field(default_factory=dict)  # incoming source_id -> one of KINDS


# --------------------------------------------------------------------------------------------------------
# Small text helpers
# --------------------------------------------------------------------------------------------------------

_CHAIN_NAMES = frozenset(
    (
        "Café Nordet",
        "Brûlerie Saint-Ours",
        "Pizzeria Vesuvio Express",
        "Rôtisserie Chez Gaston",
        "Hôtel Escale Boréale",
        "Motel Relais du Huard",
        "Microbrasserie Le Castor Joyeux",
        "Northern Lantern Inn & Suites",
        "Boulangerie Pain d'Antan",
    )
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


_KEYBOARD_NEIGHBOURS = {
    "a": "qsz",
    "b": "vgn",
    "c": "xdv",
    "d": "sfe",
    "e": "wrd",
    "f": "dgr",
    "g": "fht",
    "h": "gjy",
    "i": "uok",
    "j": "hku",
    "k": "jli",
    "l": "kop",
    "m": "nj",
    "n": "bm",
    "o": "ipl",
    "p": "ol",
    "q": "wa",
    "r": "etf",
    "s": "adw",
    "t": "ryg",
    "u": "yij",
    "v": "cbf",
    "w": "qes",
    "x": "zcs",
    "y": "tuh",
    "z": "xa",
}


def _typo(rng: random.Random, text: str, edits: int) -> str:
    """1-2 keyboard slips: a neighbouring key, a dropped, doubled or swapped letter; rarely the first one."""
    chars = list(text)
    for _ in range(edits):
        letters = [i for i, c in enumerate(chars) if c.isalpha() and i > 0]
        if not letters:
            break
        i = rng.choice(letters)
        op = rng.random()
        if op < 0.35:
            c = chars[i]
            pool = _KEYBOARD_NEIGHBOURS.get(_strip_accents(c).lower(), "e")
            new = rng.choice(pool)
            chars[i] = new.upper() if c.isupper() else new
        elif op < 0.6:
            del chars[i]
        elif op < 0.8:
            chars.insert(i, chars[i])
        elif i + 1 < len(chars) and chars[i + 1].isalpha():
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            del chars[i]
    return "".join(chars)


def _case(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.5:
        return text.upper()
    if roll < 0.8:
        return text.lower()
    return text.title()


# --------------------------------------------------------------------------------------------------------
# Field noise, as another DMO would type the same place
# --------------------------------------------------------------------------------------------------------

_LEGAL_SUFFIXES = (" Inc.", " inc.", " Ltée", " ltée", " enr.", " S.E.N.C.", " Ltd.", " Inc")
_FOOD_ADDITIONS = (" & Bistro", " Bistro", " Café-Bar", " et Cie", " & Co.", " Resto-Bar")
_LODGING_ADDITIONS = (" & Suites", " & Spa", " Inn", " et Spa")
_TYPE_WORDS = frozenset(
    _strip_accents(w).lower()
    for w in _words(
        "Restaurant Bistro Brasserie Resto Bistrot Buvette Cantine Rôtisserie Café Brûlerie Bar Pub Hôtel "
        "Auberge Motel Gîte Camping Musée Galerie Boutique Boulangerie Microbrasserie Spa Théâtre Marché "
        "Pâtisserie Épicerie Grill Pizzeria Salon Atelier"
    )
)


_KIND_WORDS = {
    "restaurant": ("Restaurant", "Resto", "Bistro"),
    "cafe": ("Café",),
    "bar": ("Bar", "Pub"),
    "brewery": ("Microbrasserie", "Brasserie"),
    "hotel": ("Hôtel", "Hotel"),
    "motel": ("Motel",),
    "bed_and_breakfast": ("Gîte", "B&B"),
    "museum": ("Musée",),
    "gallery": ("Galerie",),
    "spa": ("Spa",),
    "shop": ("Boutique",),
}


def _rename(rng: random.Random, name: str, category: str | None, city: str) -> str:
    """The same business under a different name: what DMOs actually disagree on."""
    words = name.split(" ")
    roll = rng.random()
    if roll < 0.2:
        return name + rng.choice(_LEGAL_SUFFIXES)
    if roll < 0.35 and name.startswith("The "):
        # "The Red Lion" -> "Red Lion", or "Red Lion Pub" when the DMO adds what it is.
        kind = rng.choice(_KIND_WORDS.get(category or "", ("",)))
        return f"{name[4:]} {kind}".strip() if rng.random() < 0.5 else name[4:]
    if roll < 0.35 and len(words) >= 3 and _strip_accents(words[0]).lower() in _TYPE_WORDS:
        return " ".join(words[1:])  # "Restaurant Chez Gaston" -> "Chez Gaston"
    if roll < 0.45 and _strip_accents(words[0]).lower() not in _TYPE_WORDS and category in _KIND_WORDS:
        return f"{rng.choice(_KIND_WORDS[category])} {name}"  # "Chez Gaston" -> "Restaurant Chez Gaston"
    if roll < 0.55:
        return f"{name} {rng.choice(('-', '–', '|'))} {city}" if rng.random() < 0.6 else f"{name} ({city})"
    if roll < 0.6 and len(words) >= 3 and words[-1] == city.split(" ")[-1]:
        return " ".join(words[:-1])  # the DMO of that city drops the city from the name
    if roll < 0.7 and (" & " in name or " et " in name or " and " in name):
        for a, b in ((" & ", " et "), (" et ", " & "), (" & ", " and "), (" and ", " & ")):
            if a in name:
                return name.replace(a, b, 1)
    if category in ("restaurant", "cafe", "bar", "brewery", "market"):
        return name + rng.choice(_FOOD_ADDITIONS)
    if category in ("hotel", "motel", "bed_and_breakfast"):
        return name + rng.choice(_LODGING_ADDITIONS)
    return name + rng.choice(_LEGAL_SUFFIXES)


_TRANSLATIONS = {
    "Musée": "Museum",
    "Hôtel": "Hotel",
    "Galerie": "Gallery",
    "Parc": "Park",
    "Boutique": "Shop",
    "Théâtre": "Theatre",
    "Marché": "Market",
    "Auberge": "Inn",
    "Gîte": "B&B",
    "Camping": "Campground",
    "Microbrasserie": "Brewery",
    "Boulangerie": "Bakery",
    "Restaurant": "Restaurant",
    "Café": "Café",
    "Bistro": "Bistro",
}


def _translate(name: str) -> str | None:
    """An English DMO's rendering: "Hôtel Le Castor" -> "Le Castor Hotel"; None when there is no type word."""
    first, _, rest = name.partition(" ")
    english = _TRANSLATIONS.get(first)
    return f"{rest} {english}" if english and rest else None


def _noisy_name(rng: random.Random, name: str, category: str | None, city: str) -> str:
    if rng.random() < 0.04 and (translated := _translate(name)) is not None:
        name = translated
    elif rng.random() < 0.18:
        name = _rename(rng, name, category, city)
    if re.search(r"\bSainte?-", name) and rng.random() < 0.5:
        name = re.sub(r"\bSaint-", "St-", re.sub(r"\bSainte-", "Ste-", name))
    if rng.random() < 0.15:
        name = _strip_accents(name)
    if rng.random() < 0.13:
        name = _typo(rng, name, 1 if rng.random() < 0.7 else 2)
    if rng.random() < 0.07:
        name = _case(rng, name)
    if rng.random() < 0.15:
        name = name.replace("'", "’") if "'" in name else name.replace("’", "'")
    return name


# Each entry: (pattern, replacements). One DMO writes "boul.", another "Blvd", a third spells it out.
_ADDRESS_ABBREVIATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\bboulevard\b", ("boul.", "boul", "blvd", "bd")),
    (r"\bBoulevard\b", ("Blvd.", "Blvd", "Boul.")),
    (r"\bavenue\b", ("av.", "ave", "av")),
    (r"\bAvenue\b", ("Ave.", "Ave", "Av.")),
    (r"\bchemin\b", ("ch.", "ch")),
    (r"\bStreet\b", ("St.", "St")),
    (r"\bSaint-", ("St-", "St ")),
    (r"\bSainte-", ("Ste-", "Ste ")),
    (r" Ouest\b", (" O.", " O", " W.", " West")),
    (r" Est\b", (" E.", " E", " East")),
    (r" Nord\b", (" N.", " N")),
    (r" Sud\b", (" S.", " S")),
    (r" West\b", (" W.", " W")),
    (r" East\b", (" E.", " E")),
    (r"\brue\b", ("r.", "Rue")),
    (r"\bmontée\b", ("mtée", "Montée")),
)
_EN_TYPES = {"rue": "Street", "avenue": "Avenue", "boulevard": "Boulevard", "chemin": "Road"}


def _noisy_address(rng: random.Random, address: str) -> str:
    if not address:
        return address
    roll = rng.random()
    match = re.match(r"^(\S+?),?\s+(rue|avenue|boulevard|chemin)\s+(.+)$", address)
    if match and roll < 0.08:
        # An English-language DMO: "123, rue Saint-Denis" -> "123 Saint-Denis Street".
        number, kind, rest = match.groups()
        address = f"{number} {rest} {_EN_TYPES[kind]}"
    for pattern, replacements in _ADDRESS_ABBREVIATIONS:
        if re.search(pattern, address) and rng.random() < 0.35:
            address = re.sub(pattern, rng.choice(replacements), address, count=1)
    if rng.random() < 0.3:
        address = re.sub(r"^(\d+[A-C]?),\s", r"\1 ", address) if ", " in address[:8] else address
    elif rng.random() < 0.2:
        address = re.sub(r"^(\d+[A-C]?)\s", r"\1, ", address)
    if rng.random() < 0.12:
        address = _strip_accents(address)
    if rng.random() < 0.05:
        # A typo in the street name only: a wrong civic number is another place.
        number, _, street = address.partition(" ")
        address = f"{number} {_typo(rng, street, 1)}"
    if rng.random() < 0.04:
        address = _case(rng, address)
    return address


def _phone_digits(phone: str) -> str | None:
    main = re.split(r"(?i)\s*(?:poste|ext\.?|x|#)\s*\d+\s*$", phone)[0]
    digits = re.sub(r"\D", "", main)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits if len(digits) == 10 else None


def _format_phone(rng: random.Random, digits: str) -> str:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return rng.choice(
        (
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"+1 {a} {b} {c}",
            f"{a}.{b}.{c}",
            f"1-{a}-{b}-{c}",
            f"{a}{b}{c}",
            f"+1{a}{b}{c}",
            f"{a} {b}-{c}",
            f"+1 ({a}) {b}-{c}",
        )
    )


def _random_phone(rng: random.Random, city: str) -> str:
    codes = CITIES[city].area_codes if city in CITIES else ("514",)
    return f"{rng.choice(codes)}-555-01{rng.randint(0, 99):02d}"


def _noisy_phone(rng: random.Random, phone: str, city: str) -> str:
    roll = rng.random()
    if not phone:
        return _random_phone(rng, city) if roll < 0.15 else ""  # the other DMO knows a number
    if roll < 0.12:
        return ""
    if roll < 0.17:
        return _random_phone(rng, city)  # another line of the business, or a number that changed
    digits = _phone_digits(phone)
    if digits is None or roll > 0.75:
        return phone
    out = _format_phone(rng, digits)
    if rng.random() < 0.03:
        out += rng.choice((" poste ", " ext. ", " x")) + str(rng.randint(1, 250))
    return out


def _host(url: str) -> str | None:
    match = re.match(r"^(?:[a-z]+://)?(?:www\.)?([^/?#]+)", url.strip().lower())
    return match.group(1) if match else None


def _noisy_website(rng: random.Random, website: str, name: str) -> str:
    roll = rng.random()
    if not website:
        return f"https://www.{slugify(name)}.example/" if roll < 0.1 else ""
    if roll < 0.15:
        return ""
    host = _host(website)
    if host is None or roll > 0.7:
        return website
    if roll < 0.2:
        # A new domain (rebranding, a .com next to the .example), the host no longer matches.
        stem = host.split(".")[0]
        return f"https://{stem}{rng.choice(('-qc', 'mtl', '-inc', 'quebec'))}.example/"
    return rng.choice(
        (
            f"https://www.{host}/",
            f"http://{host}",
            f"{host}",
            f"www.{host}",
            f"https://{host}/{rng.choice(('fr', 'en', 'fr/accueil', 'contact'))}",
        )
    )


def _noisy_postal(rng: random.Random, postal: str) -> str:
    roll = rng.random()
    compact = postal.replace(" ", "").upper()
    if not postal or roll < 0.07:
        return ""
    if roll < 0.10 and len(compact) == 6:
        # A wrong last character: a typo, or the postal code of the building next door.
        return f"{compact[:3]} {compact[3:5]}{rng.randint(0, 9)}"
    if roll < 0.4 and len(compact) == 6:
        return rng.choice(
            (compact, f"{compact[:3]} {compact[3:]}", f"{compact[:3]}-{compact[3:]}", compact.lower())
        )
    return postal


_RELATED = {
    "restaurant": ("cafe", "bar"),
    "cafe": ("restaurant", "shop"),
    "bar": ("restaurant", "brewery"),
    "brewery": ("bar", "restaurant"),
    "hotel": ("motel", "bed_and_breakfast"),
    "motel": ("hotel",),
    "bed_and_breakfast": ("hotel",),
    "museum": ("gallery", "attraction"),
    "gallery": ("museum", "shop"),
    "park": ("attraction",),
    "attraction": ("park", "tour_operator"),
    "spa": ("hotel",),
    "shop": ("market",),
    "market": ("shop",),
    "theatre": ("festival_venue",),
    "festival_venue": ("theatre", "attraction"),
    "ski_resort": ("attraction",),
    "golf": ("attraction",),
    "tour_operator": ("attraction",),
    "campground": ("park",),
}
# Wordings of other DMOs that the demo vocabulary does not know: the category becomes unknown.
_FOREIGN_WORDINGS = (
    "Restos et cafés",
    "Où manger",
    "Where to stay",
    "Things to do",
    "Culture et patrimoine",
    "Plein air",
    "Hébergements",
    "Loisirs",
)


def _noisy_category(rng: random.Random, label: str) -> str:
    key = category_of(label) if label else None
    roll = rng.random()
    if key is None or roll < 0.05:
        return "" if roll < 0.025 or key is None else rng.choice(_FOREIGN_WORDINGS)
    if roll < 0.1:
        return rng.choice(_FOREIGN_WORDINGS)
    if roll < 0.17:
        return category_label(rng, rng.choice(_RELATED[key]), "fr" if rng.random() < 0.7 else "en")
    if roll < 0.75:
        return category_label(rng, key, "fr" if rng.random() < 0.6 else "en")
    return label


def _offset(rng: random.Random, lat: float, lng: float, metres: float) -> tuple[float, float]:
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = metres * math.cos(bearing) / 111_320.0
    dlng = metres * math.sin(bearing) / (111_320.0 * math.cos(math.radians(lat)))
    return lat + dlat, lng + dlng


def _pin_shift(rng: random.Random) -> float:
    roll = rng.random()
    if roll < 0.15:
        return rng.uniform(0, 5)  # the same geocoder
    if roll < 0.87:
        return rng.uniform(5, 150)  # another geocoder, the entrance versus the parking lot
    if roll < 0.97:
        return rng.uniform(150, 350)  # a large site, or a pin on the street's centroid
    return rng.uniform(350, 900)  # a campground's office versus its gate, a ski resort's two lodges


def _city_point(rng: random.Random, city: str) -> tuple[str, str]:
    c = CITIES.get(city)
    if c is None:
        return "", ""
    return f"{rng.uniform(*c.lat):.6f}", f"{rng.uniform(*c.lng):.6f}"


# --------------------------------------------------------------------------------------------------------
# Perceptual hashes: a photo is a random 64-bit hash; a re-encoded copy flips a few bits
# --------------------------------------------------------------------------------------------------------


def _new_hash(rng: random.Random) -> int:
    return rng.getrandbits(64)


def _reencode(rng: random.Random, value: int) -> int:
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4, 5))):
        value ^= 1 << rng.randrange(64)
    return value


def _hex(values: Iterable[int]) -> str:
    return "|".join(f"{v:016x}" for v in values)


def _unhex(text: str) -> list[int]:
    return [int(h, 16) for h in text.split("|") if h]


# --------------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------------


def _from_devdata(row: dict[str, str], source_id: str) -> dict[str, str]:
    return {
        "source_id": source_id,
        "name": row["Name"],
        "category": row["Category"],
        "address1": row["Address1"],
        "address2": row["Address2"],
        "city": row["City"],
        "state": row["Province"],
        "zip": row["Postal"],
        "country": row["Country"],
        "lat": row["Latitude"],
        "lng": row["Longitude"],
        "phone": row["Phone"],
        "email": row["Email"],
        "website": row["Website"],
        "images": row["Images"],
        "image_phashes": "",
    }


def _name_id(name: str) -> frozenset[str]:
    return frozenset(name_tokens(name))


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fresh_seed = seed * 7_919 + 17
        self.chain_photos: dict[str, int] = {}
        self.names_at: dict[tuple[str, str], set[frozenset[str]]] = {}

    def fresh(self, city: str | None = None) -> dict[str, str]:
        """One more generated place (in `city` when given), from its own deterministic seed."""
        self.fresh_seed += 1
        row = generate_listings(1, seed=self.fresh_seed, id_prefix="TMP", cities=[city] if city else None)[0]
        return _from_devdata(row, "")

    def photos(self, rec: dict[str, str]) -> None:
        rng = self.rng
        count = len([u for u in rec["images"].split("|") if u])
        hashes = [_new_hash(rng) for _ in range(count)]
        if rec["name"] in _CHAIN_NAMES and hashes and rng.random() < 0.5:
            # The chain's stock photo (logo, storefront) on many branches: an image match is no proof.
            brand = self.chain_photos.setdefault(rec["name"], _new_hash(random.Random(rec["name"])))
            hashes[0] = _reencode(rng, brand)
        rec["image_phashes"] = _hex(hashes)

    # --- neighbours ---------------------------------------------------------------------------------

    def similar_name(self, name: str) -> str | None:
        """Another business with a near-identical generic name: one content word swapped."""
        rng = self.rng
        words = name.split(" ")
        # (word index, prefix kept, the part to swap): "L'Alouette" swaps "Alouette", "Wilfrid-Hamel" one
        # of its halves.
        slots: list[tuple[int, str, str, str]] = []
        for i, word in enumerate(words):
            if i == 0:
                continue
            head, apostrophe, tail = word.rpartition("'") if "'" in word else ("", "", word)
            parts = tail.split("-")
            for j, part in enumerate(parts):
                if len(part) >= 3 and part.isalpha() and _strip_accents(part).lower() not in _STOP_WORDS:
                    before = head + apostrophe + "-".join(parts[:j]) + ("-" if j else "")
                    after = ("-" if j < len(parts) - 1 else "") + "-".join(parts[j + 1 :])
                    slots.append((i, before, part, after))
        if not slots:
            return None
        i, before, old, after = rng.choice(slots)
        used = {_strip_accents(w).lower() for w in re.findall(r"[^\W\d_]+", name)}
        fresh_words = [w for w in _SWAP_WORDS if _strip_accents(w).lower() not in used]
        same_initial = [w for w in fresh_words if w[0] == old[0]]
        pool = same_initial if same_initial and rng.random() < 0.7 else fresh_words
        new = rng.choice(pool)
        words[i] = before + (new.lower() if old.islower() else new) + after
        return " ".join(words)

    def neighbour(self, anchor: dict[str, str]) -> dict[str, str]:
        """A different business in the anchor's building or next door."""
        rng = self.rng
        rec = self.fresh(anchor["city"])
        rec["city"], rec["state"], rec["country"] = anchor["city"], anchor["state"], anchor["country"]
        same_building = rng.random() < 0.6
        match = re.match(r"^(\d+)([A-C]?)(,?\s+.*)$", anchor["address1"])
        if same_building or match is None:
            rec["address1"] = anchor["address1"]
            units = ("Suite 200", "local 3", "bureau 210", "2e étage", "local 110", "Porte B", "Unit 5", "RC")
            rec["address2"] = rng.choice([u for u in units if u != anchor["address2"]])
            shift, postal_same = rng.uniform(0, 15), 0.9
        else:
            number = max(1, int(match.group(1)) + rng.choice((-6, -4, -2, 2, 4, 6, 8)))
            rec["address1"] = f"{number}{match.group(3)}"
            rec["address2"] = ""
            shift, postal_same = rng.uniform(8, 60), 0.6
        if anchor["zip"] and rng.random() < postal_same:
            rec["zip"] = anchor["zip"]
        if anchor["lat"] and anchor["lng"]:
            lat, lng = _offset(rng, float(anchor["lat"]), float(anchor["lng"]), shift)
            rec["lat"], rec["lng"] = f"{lat:.6f}", f"{lng:.6f}"
        # Two businesses at one address never share a name (as the matcher sees names): that would be
        # one business listed twice, and the truth would be wrong.
        here = self.names_at.setdefault(
            (anchor["city"], address_key(anchor["address1"])), {_name_id(anchor["name"])}
        )
        unrelated = rec["name"]
        for _ in range(5):
            roll = rng.random()
            name = unrelated
            if roll < 0.5:
                name = self.similar_name(anchor["name"]) or unrelated
            elif roll < 0.65:
                # The same kind of business with another name: "Café du Parc" next to "Café Olimpico".
                name = (
                    f"{anchor['name'].split(' ')[0]} {self.fresh(anchor['city'])['name'].split(' ', 1)[-1]}"
                )
            if _name_id(name) not in here:
                break
        rec["name"] = name
        here.add(_name_id(name))
        if name != unrelated and rng.random() < 0.7:
            rec["category"] = anchor["category"]
        if anchor["phone"] and rng.random() < 0.05:
            rec["phone"] = anchor["phone"]  # the hotel's restaurant answers on the hotel's switchboard
        slug = slugify(rec["name"])
        if anchor["website"] and _host(anchor["website"]) == f"{slug}.example":
            # slugify truncates long names: two businesses never share a domain by accident here.
            slug = f"{slug[:30]}-{slugify(rng.choice(_SWAP_WORDS))}"
        rec["website"] = f"https://www.{slug}.example/" if rng.random() < 0.8 else ""
        rec["email"] = f"info@{slug}.example" if rec["website"] and rng.random() < 0.6 else ""
        self.photos(rec)
        if anchor["image_phashes"] and rng.random() < 0.1:
            # The same street-view photo of the building.
            shared = _reencode(rng, _unhex(anchor["image_phashes"])[0])
            rec["image_phashes"] = _hex([shared, *_unhex(rec["image_phashes"])])
        return rec

    # --- chains -------------------------------------------------------------------------------------

    def chain_branch(self, branch: dict[str, str], taken: set[tuple[str, str]]) -> dict[str, str]:
        """A new branch of `branch`'s chain in the same city: same name and website host, other address.

        `taken`: (city, address1) of the chain's existing branches; a new branch never reuses one.
        """
        rng = self.rng
        rec = self.fresh(branch["city"])
        while (rec["city"], address_key(rec["address1"])) in taken:
            rec = self.fresh(branch["city"])
        rec["name"] = branch["name"]
        if rng.random() < 0.25:
            c = CITIES.get(branch["city"])
            where = rng.choice(c.districts) if c is not None and c.big else branch["city"]
            rec["name"] = f"{branch['name']} {rng.choice(('-', '–'))} {where}"
        key = category_of(branch["category"]) or "restaurant"
        rec["category"] = category_label(rng, key, "fr" if rng.random() < 0.8 else "en")
        host = _host(branch["website"]) if branch["website"] else None
        if host:
            rec["website"] = (
                f"https://www.{host}/{rng.choice(('fr', 'en'))}/succursales/{slugify(rec['city'])}"
            )
        if branch["lat"] and branch["lng"] and rng.random() < 0.3:
            # Downtown branches a few blocks apart.
            lat, lng = _offset(rng, float(branch["lat"]), float(branch["lng"]), rng.uniform(250, 1500))
            rec["lat"], rec["lng"] = f"{lat:.6f}", f"{lng:.6f}"
        self.photos(rec)
        return rec

    # --- duplicates ---------------------------------------------------------------------------------

    def duplicate(self, canon: dict[str, str]) -> dict[str, str]:
        rng = self.rng
        rec = dict(canon)
        key = category_of(canon["category"]) if canon["category"] else None
        rec["name"] = _noisy_name(rng, canon["name"], key, canon["city"])
        rec["address1"] = _noisy_address(rng, canon["address1"])
        if rng.random() < 0.02:
            # The other door of a corner building, or the mailing address: another street entirely.
            rec["address1"] = self.fresh(canon["city"])["address1"]
        if canon["address2"] and rng.random() < 0.5:
            if rng.random() < 0.3:
                rec["address1"] = f"{rec['address1']}, {canon['address2']}"
            rec["address2"] = ""
        roll = rng.random()
        if roll < 0.15:
            rec["city"] = _strip_accents(canon["city"])
        elif roll < 0.19:
            rec["city"] = canon["city"].upper()
        elif roll < 0.22 and CITIES.get(canon["city"], None) is not None and CITIES[canon["city"]].big:
            rec["city"] = rng.choice(CITIES[canon["city"]].districts)  # a borough for a city
        rec["state"] = rng.choice(("QC", "QC", "Québec", "Quebec", ""))
        rec["zip"] = _noisy_postal(rng, canon["zip"])
        rec["phone"] = _noisy_phone(rng, canon["phone"], canon["city"])
        rec["website"] = _noisy_website(rng, canon["website"], canon["name"])
        rec["email"] = canon["email"] if rng.random() < 0.6 else ""
        rec["category"] = _noisy_category(rng, canon["category"])
        if canon["lat"] and canon["lng"]:
            if rng.random() < 0.1:
                rec["lat"] = rec["lng"] = ""
            else:
                lat, lng = _offset(rng, float(canon["lat"]), float(canon["lng"]), _pin_shift(rng))
                rec["lat"], rec["lng"] = f"{lat:.6f}", f"{lng:.6f}"
        elif rng.random() < 0.5:
            # The canonical listing has no pin; this DMO geocoded it, wherever that was.
            rec["lat"], rec["lng"] = _city_point(rng, canon["city"])
        photos = _unhex(canon["image_phashes"])
        if photos and rng.random() < 0.6:
            kept = rng.sample(photos, rng.randint(1, len(photos)))
            extra = [_new_hash(rng) for _ in range(rng.choice((0, 0, 1, 2)))]
            rec["image_phashes"] = _hex([*(_reencode(rng, h) for h in kept), *extra])
            rec["images"] = "|".join(
                f"https://cdn.other-dmo.example/{slugify(rec['name'])}/{k}.jpg"
                for k in range(1, len(kept) + len(extra) + 1)
            )
        else:
            rec["image_phashes"] = _hex(_new_hash(rng) for _ in range(rng.choice((0, 0, 1, 2))))
            rec["images"] = "|".join(
                f"https://cdn.other-dmo.example/{slugify(rec['name'])}/{k}.jpg"
                for k in range(1, len(_unhex(rec["image_phashes"])) + 1)
            )
        return rec


_STOP_WORDS = frozenset(
    _words("le la les du de des l d the and et chez inn suites hotel motel cafe restaurant bistro bar")
)
_SWAP_WORDS = _words(
    "Parc Port Pont Pin Phare Plateau Passage Portage Prairie Pommier Palais Pêcheur Rocher Ruisseau "
    "Relais Renard Rivage Refuge Roc Sentier Soleil Sapin Saule Sommet Val Verger Vallon Village Vent "
    "Bois Bourg Bastion Bateau Bouleau Cap Canal Carré Castor Cèdre Chêne Clocher Coin Comptoir Coteau "
    "Moulin Marché Marais Manoir Mont Meunier Lac Loup Lièvre Lys Fleuve Forge Fort Four Faubourg Grange "
    "Goéland Havre Huard Hibou Jardin Quai Quartier Étang Érable Orme Ours Fox Bear Owl Oak Otter Kettle "
    "Lantern Lynx Loon Maple Mill Harbour Heron Hearth Pine Paddle Pantry Birch Barrel Beaver Badger "
    "Crow Cabin Canoe Copper Cedar Willow Wolf Wren Golden Green Grey Silver Smoky Sunny Salty Rusty "
    "Rolling Red Blue Black Bold Brave Little Lucky Lazy"
)


def generate(n_canonical: int, n_incoming: int, *, seed: int, dup_rate: float = 0.5) -> LabelledSet:
    """`n_canonical` listings and `n_incoming` records, of which about `dup_rate` duplicate a listing.

    Of the new places, about 25% are neighbours of a listing and 15% new branches of a chain the
    catalogue has (when it has one in that city); the rest are unrelated places.
    """
    if n_canonical < 0 or n_incoming < 0:
        raise ValueError("counts must be >= 0")
    if not 0.0 <= dup_rate <= 1.0:
        raise ValueError("dup_rate must be in [0, 1]")
    gen = _Generator(seed)
    rng = gen.rng
    canonical = [
        _from_devdata(row, f"CAN-{i:06d}")
        for i, row in enumerate(generate_listings(n_canonical, seed=seed, id_prefix="CAN"), start=1)
    ]
    for rec in canonical:
        gen.photos(rec)
    # About 6% of the catalogue becomes neighbours of another listing (rewritten in place, so the row
    # keeps its id): the hard negatives that a duplicate of either one has to tell apart.
    has_neighbour: set[str] = set()
    indexes = list(range(len(canonical)))
    rng.shuffle(indexes)
    n_pairs = int(len(canonical) * 0.06)
    for k in range(n_pairs):
        anchor_i, other_i = indexes[2 * k], indexes[2 * k + 1]
        anchor = canonical[anchor_i]
        if anchor["name"] in _CHAIN_NAMES:
            continue
        neighbour = gen.neighbour(anchor)
        neighbour["source_id"] = canonical[other_i]["source_id"]
        canonical[other_i] = neighbour
        has_neighbour.update((anchor["source_id"], neighbour["source_id"]))

    n_dup = min(round(n_incoming * dup_rate), len(canonical))
    n_new = n_incoming - n_dup
    records: list[tuple[dict[str, str], str | None, str]] = []
    for i in rng.sample(range(len(canonical)), n_dup):
        canon = canonical[i]
        kind = (
            "duplicate_chain"
            if canon["name"] in _CHAIN_NAMES
            else "duplicate_neighbour"
            if canon["source_id"] in has_neighbour
            else "duplicate"
        )
        records.append((gen.duplicate(canon), canon["source_id"], kind))

    branches = [c for c in canonical if c["name"] in _CHAIN_NAMES]
    plain = [c for c in canonical if c["name"] not in _CHAIN_NAMES]
    n_neighbours = round(n_new * 0.25) if plain else 0
    n_branches = round(n_new * 0.15) if branches else 0
    for _ in range(n_neighbours):
        records.append((gen.neighbour(rng.choice(plain)), None, "new_neighbour"))
    taken = {(c["city"], address_key(c["address1"])) for c in branches}
    for _ in range(n_branches):
        records.append((gen.chain_branch(rng.choice(branches), taken), None, "new_chain_branch"))
    n_other = n_new - n_neighbours - n_branches
    for row in generate_listings(n_other, seed=seed * 31 + 7, id_prefix="NEW"):
        rec = _from_devdata(row, "")
        gen.photos(rec)
        records.append((rec, None, "new_chain_branch" if rec["name"] in _CHAIN_NAMES else "new"))

    rng.shuffle(records)
    incoming: list[dict[str, str]] = []
    truth: dict[str, str | None] = {}
    kinds: dict[str, str] = {}
    for k, (rec, target, kind) in enumerate(records, start=1):
        sid = f"INC-{k:06d}"
        rec["source_id"] = sid
        incoming.append(rec)
        truth[sid] = target
        kinds[sid] = kind
    return LabelledSet(canonical=canonical, incoming=incoming, truth=truth, kinds=kinds)


# --------------------------------------------------------------------------------------------------------
# Rows -> MatchRecord
# --------------------------------------------------------------------------------------------------------


def match_record(row: Mapping[str, str], *, vocabulary: Vocabulary | None = None) -> MatchRecord:
    """A labelled row as the matcher sees it; the category wording is mapped with `vocabulary`."""
    vocab = vocabulary or load_vocabulary()
    label = (row.get("category") or "").strip()
    return build_match_record(
        name=row.get("name"),
        address1=row.get("address1"),
        city=row.get("city"),
        postal=row.get("zip"),
        country=row.get("country"),
        lat=row.get("lat") or None,
        lng=row.get("lng") or None,
        phone=row.get("phone"),
        website=row.get("website"),
        category=vocab.map(label).category if label else None,
        image_hashes=(row.get("image_phashes") or "").split("|"),
    )


# --------------------------------------------------------------------------------------------------------
# In-memory blocking and labelled pairs (what the database's candidate search does, for benchmarks)
# --------------------------------------------------------------------------------------------------------


def trigrams(text: str) -> frozenset[str]:
    """pg_trgm's trigrams: lower-cased alphanumeric words, each padded with two spaces before, one after."""
    out: set[str] = set()
    for word in re.findall(r"[^\W_]+", text.lower()):
        padded = f"  {word} "
        out.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(out)


def trigram_similarity(a: str, b: str) -> float:
    """pg_trgm's `similarity(a, b)`: shared trigrams over all trigrams."""
    ta, tb = trigrams(a), trigrams(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


_CELL_DEG = 0.005  # ~550 m of latitude: a 3x3 block of cells covers any 500 m radius up to ~60°N


def candidates(
    canonical: Mapping[str, MatchRecord],
    incoming: Mapping[str, MatchRecord],
    *,
    radius_m: float = 500.0,
    k_near: int = 8,
    k_postal: int = 10,
    k_name: int = 8,
    name_threshold: float = 0.35,
    name_only_without_location: bool = False,
) -> dict[str, list[str]]:
    """Candidate canonical ids per incoming id: the union of the blocks the database uses.

    near: the `k_near` nearest within `radius_m`; postal: up to `k_postal` with the same postal key, most
    trigram-similar names first; name: up to `k_name` in the same city with trigram similarity >=
    `name_threshold` (for every record, or only for records with neither pin nor postal code when
    `name_only_without_location`, as the database query does).
    """
    import numpy as np
    from scipy import sparse  # type: ignore[import-untyped]  # no stubs pinned; used in one place

    grid: dict[tuple[int, int], list[str]] = {}
    by_postal: dict[str, list[str]] = {}
    by_city: dict[str, list[str]] = {}
    for cid, rec in canonical.items():
        if rec.lat is not None and rec.lng is not None:
            grid.setdefault((int(rec.lat // _CELL_DEG), int(rec.lng // _lng_cell(rec.lat))), []).append(cid)
        if rec.postal_key:
            by_postal.setdefault(rec.postal_key, []).append(cid)
        if rec.city_key:
            by_city.setdefault(rec.city_key, []).append(cid)

    out: dict[str, set[str]] = {iid: set() for iid in incoming}
    for iid, rec in incoming.items():
        if rec.lat is not None and rec.lng is not None:
            ci, cj = int(rec.lat // _CELL_DEG), int(rec.lng // _lng_cell(rec.lat))
            near: list[tuple[float, str]] = []
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    for cid in grid.get((ci + di, cj + dj), ()):
                        c = canonical[cid]
                        assert c.lat is not None and c.lng is not None
                        d = haversine_m(rec.lat, rec.lng, c.lat, c.lng)
                        if d <= radius_m:
                            near.append((d, cid))
            near.sort()
            out[iid].update(cid for _, cid in near[:k_near])
        if rec.postal_key and rec.postal_key in by_postal:
            same = by_postal[rec.postal_key]
            if len(same) > k_postal:
                same = sorted(same, key=lambda cid: (-trigram_similarity(rec.name, canonical[cid].name), cid))
            out[iid].update(same[:k_postal])

    # Name block: sparse trigram incidence matrices per city, so the comparison runs in C.
    vocab: dict[str, int] = {}

    def incidence(ids: Sequence[str], recs: Mapping[str, MatchRecord]) -> Any:
        rows, cols = [], []
        for r, key in enumerate(ids):
            for g in trigrams(recs[key].name):
                rows.append(r)
                cols.append(vocab.setdefault(g, len(vocab)))
        data = np.ones(len(rows), dtype=np.float32)
        return rows, cols, data

    by_city_in: dict[str, list[str]] = {}
    for iid, rec in incoming.items():
        located = (rec.lat is not None and rec.lng is not None) or bool(rec.postal_key)
        if rec.city_key and rec.city_key in by_city and not (name_only_without_location and located):
            by_city_in.setdefault(rec.city_key, []).append(iid)
    for city, in_ids in by_city_in.items():
        can_ids = by_city[city]
        cr, cc, cd = incidence(can_ids, canonical)
        ir, ic, idata = incidence(in_ids, incoming)
        width = len(vocab)
        cmat = sparse.csr_matrix((cd, (cr, cc)), shape=(len(can_ids), width))
        can_sizes = np.asarray(cmat.sum(axis=1)).ravel()
        imat_all = sparse.csr_matrix((idata, (ir, ic)), shape=(len(in_ids), width))
        in_sizes = np.asarray(imat_all.sum(axis=1)).ravel()
        for start in range(0, len(in_ids), 256):
            block = (imat_all[start : start + 256] @ cmat.T).tocoo()
            shared = block.data
            sims = shared / (in_sizes[start + block.row] + can_sizes[block.col] - shared)
            keep = sims >= name_threshold
            hits: dict[int, list[tuple[float, str]]] = {}
            for r, c, sim in zip(block.row[keep], block.col[keep], sims[keep], strict=True):
                hits.setdefault(int(r), []).append((-float(sim), can_ids[int(c)]))
            for r, found in hits.items():
                found.sort()
                out[in_ids[start + r]].update(cid for _, cid in found[:k_name])
    return {iid: sorted(found) for iid, found in out.items()}


def _lng_cell(lat: float) -> float:
    # Cells of a fixed width in metres would need per-row widths; a width fixed per 1° latitude band
    # keeps neighbouring rows aligned and is always at least 500 m wide.
    band = math.floor(abs(lat))
    return _CELL_DEG / max(0.2, math.cos(math.radians(min(band + 1, 80))))


@dataclass(frozen=True)
class LabelledPair:
    incoming_id: str
    canonical_id: str
    features: Features
    is_match: bool


def labelled_pairs(
    ls: LabelledSet,
    *,
    vocabulary: Vocabulary | None = None,
    compat: CategoryCompat | None = None,
    with_images: bool = True,
    **blocking: Any,
) -> tuple[list[LabelledPair], dict[str, list[str]]]:
    """Every candidate pair of `ls` with its features and truth, and the candidate lists themselves.

    Categories are mapped with `vocabulary` (default: the shipped one) and compared with `compat`
    (default: `vocabulary.compatible`, as the pipeline does).
    """
    vocab = vocabulary or load_vocabulary()
    compat = compat or vocab.compatible
    can = {row["source_id"]: match_record(row, vocabulary=vocab) for row in ls.canonical}
    inc = {row["source_id"]: match_record(row, vocabulary=vocab) for row in ls.incoming}
    if not with_images:
        can = {k: replace(v, image_hashes=()) for k, v in can.items()}
        inc = {k: replace(v, image_hashes=()) for k, v in inc.items()}
    found = candidates(can, inc, **blocking)
    pairs = [
        LabelledPair(iid, cid, pair_features(inc[iid], can[cid], compat=compat), ls.truth[iid] == cid)
        for iid, cids in found.items()
        for cid in cids
    ]
    return pairs, found
