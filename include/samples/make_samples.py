"""Regenerate the bundled demo CSVs from `listings_dev.devdata` (deterministic: re-running rewrites identical bytes).

    python include/samples/make_samples.py

visit-quebec-listings.csv (UTF-8 with BOM, comma-delimited, the pipeline's own column names):
    300 listings (seed 101), plus 3 deliberately bad rows in the middle (an empty Name, a ragged row with an
    extra non-empty field, a row with too few fields) and 2 duplicate rows (an exact copy of an earlier row,
    and a later copy of a phone-less row that adds the phone), so the demo shows per-record errors and
    in-file merging. 305 data lines.

tourisme-laurentides-listings.csv (cp1252, semicolon-delimited, French headers):
    a second DMO's export of 150 listings: 40 are places also in the first file (same name, address, city
    and postal code, so their record hashes match) with this DMO's own descriptions, phones, hours and
    photos; the other 110 are Laurentides places of its own. Sorted by name, as such exports usually are.

Photo URLs point at the demo's image host (`make demo` serves it on 127.0.0.1:8765):
`http://127.0.0.1:8765/images/<dmo>/<name slug>-<k>.<jpg|png|webp>`, <dmo> being visit-quebec or
tourisme-laurentides.
"""

from __future__ import annotations

import csv
import math
import random
import unicodedata
from pathlib import Path

from listings_dev.devdata import (
    CSV_COLUMNS,
    DEMO_IMAGE_HOST,
    LAURENTIDES,
    UniqueSlugs,
    category_label,
    category_of,
    demo_image_urls,
    describe,
    generate_listings,
    opening_hours,
    phone_number,
)

HERE = Path(__file__).resolve().parent
VISIT_QUEBEC_CSV = HERE / "visit-quebec-listings.csv"
LAURENTIDES_CSV = HERE / "tourisme-laurentides-listings.csv"

VISIT_QUEBEC_SEED = 101
LAURENTIDES_SEED = 202
SHARED_PLACES = 40
DOUBTFUL_PLACES = 6  # in the Laurentides file written carelessly: the demo's review queue
VISIT_QUEBEC_IMAGES = "visit-quebec"  # /images/<this>/ on the demo image host
LAURENTIDES_IMAGES = "tourisme-laurentides"

LAURENTIDES_COLUMNS = [
    "Nom",
    "Catégorie",
    "Adresse",
    "Ville",
    "Code postal",
    "Téléphone",
    "Site web",
    "Latitude",
    "Longitude",
    "Description",
    "Horaires",
    "Photos",
    "Identifiant",
]

Row = dict[str, str]


def _values(row: Row) -> list[str]:
    return [row[c] for c in CSV_COLUMNS]


def _demo_images(rows: list[Row], dmo: str, slugs: UniqueSlugs) -> list[Row]:
    """`rows` with their `Images` (as many) on the demo image host, named after each listing."""
    out = []
    for row in rows:
        count = len([u for u in row["Images"].split("|") if u])
        urls = demo_image_urls(DEMO_IMAGE_HOST, dmo, slugs(row["Name"]), count)
        out.append({**row, "Images": "|".join(urls)})
    return out


def build_visit_quebec() -> tuple[list[Row], list[list[str]]]:
    """(the 300 good listings, every data line of the file in order, bad and duplicate lines included)."""
    generated = _demo_images(
        generate_listings(303, seed=VISIT_QUEBEC_SEED, id_prefix="VQC"), VISIT_QUEBEC_IMAGES, UniqueSlugs()
    )
    good, spare = generated[:300], generated[300:]

    empty_name = {**spare[0], "Name": ""}
    ragged = [*_values(spare[1]), "valeur inattendue: colonne en trop"]
    short = _values(spare[2])[:11]  # stops after Email

    exact_source = good[12]
    phoneless_source = next(r for r in good[20:] if not r["Phone"])
    phone_added = {
        **phoneless_source,
        "Phone": phone_number(random.Random(VISIT_QUEBEC_SEED), phoneless_source["City"]),
    }

    inserts: dict[int, list[str]] = {
        119: _values(empty_name),
        149: ragged,
        179: short,
        209: _values(exact_source),
        259: _values(phone_added),
    }
    lines: list[list[str]] = []
    for i, row in enumerate(good):
        lines.append(_values(row))
        if i in inserts:
            lines.append(inserts[i])
    return good, lines


def _shared_sources(rng: random.Random, good: list[Row]) -> list[Row]:
    """The places of the first file this DMO also lists: in the Laurentides, on one address line, and not
    the rows used for the in-file duplicates. Other regions only fill in if the region has too few."""
    phoneless = next(i for i, r in enumerate(good) if i >= 20 and not r["Phone"])
    eligible = [i for i, r in enumerate(good) if not r["Address2"] and i not in (12, phoneless)]
    in_region = [i for i in eligible if good[i]["City"] in LAURENTIDES]
    elsewhere = [i for i in eligible if good[i]["City"] not in LAURENTIDES]
    if len(in_region) >= SHARED_PLACES:
        chosen = rng.sample(in_region, SHARED_PLACES)
    else:
        chosen = in_region + rng.sample(elsewhere, SHARED_PLACES - len(in_region))
    return [good[i] for i in sorted(chosen)]


def _typo(rng: random.Random, name: str) -> str:
    """Two letters of the name's longest word swapped, or one dropped."""
    words = name.split()
    i = max(range(len(words)), key=lambda j: len(words[j]))
    w, m = words[i], len(words[i]) // 2
    words[i] = w[: m - 1] + w[m] + w[m - 1] + w[m + 1 :] if rng.random() < 0.5 else w[:m] + w[m + 1 :]
    return " ".join(words)


def _doubtful(rng: random.Random, src: Row) -> tuple[str, float, float] | None:
    """The place as a careless source writes it: a typo in its name, its pin 150-300 m off, nothing else.
    Kept only when matching scores it between 0.55 and 0.78 against the place (below the auto-merge
    threshold, above "new"), so that it waits in the admin's review queue."""
    from listings.matching.features import build_match_record, pair_features
    from listings.matching.scoring import confidence

    category = category_of(src["Category"])
    place = build_match_record(
        name=src["Name"], address1=src["Address1"], city=src["City"], postal=src["Postal"], phone=src["Phone"],
        lat=src["Latitude"], lng=src["Longitude"], website=src["Website"], category=category,
    )  # fmt: skip
    for _ in range(12):
        name, metres, angle = _typo(rng, src["Name"]), rng.uniform(150, 300), rng.uniform(0, 2 * math.pi)
        lat = float(src["Latitude"]) + metres * math.cos(angle) / 111_320
        lng = float(src["Longitude"]) + metres * math.sin(angle) / (111_320 * math.cos(math.radians(lat)))
        mine = build_match_record(name=name, city=src["City"], lat=lat, lng=lng, category=category)
        if 0.55 <= confidence(pair_features(mine, place)) <= 0.78:
            return name, lat, lng
    return None


def _doubtful_rows(
    rng: random.Random, good: list[Row], shared: list[Row]
) -> list[tuple[Row, str, float, float]]:
    taken = {id(r) for r in shared}
    eligible = [r for r in good if id(r) not in taken and r["City"] in LAURENTIDES and r["Latitude"]]
    out = []
    for src in rng.sample(eligible, len(eligible)):
        found = _doubtful(rng, src)
        if found is not None:
            out.append((src, *found))
        if len(out) == DOUBTFUL_PLACES:
            break
    return out


def _photos(rng: random.Random, slug: str) -> str:
    count = rng.choice((0, 1, 1, 2, 2, 3))
    return "|".join(demo_image_urls(DEMO_IMAGE_HOST, LAURENTIDES_IMAGES, slug, count))


def _sort_key(row: Row) -> str:
    folded = unicodedata.normalize("NFKD", row["Nom"]).encode("ascii", "ignore").decode("ascii")
    return folded.casefold() + "\x00" + row["Identifiant"]


def build_laurentides(good: list[Row]) -> list[Row]:
    rng = random.Random(LAURENTIDES_SEED)
    shared_sources = _shared_sources(rng, good)

    slugs = UniqueSlugs()  # one photo folder for the whole file
    own = _demo_images(
        generate_listings(150 - SHARED_PLACES, seed=LAURENTIDES_SEED, id_prefix="LAU", cities=LAURENTIDES),
        LAURENTIDES_IMAGES,
        slugs,
    )
    out: list[Row] = []
    for r in own:
        key = category_of(r["Category"]) or "attraction"
        address = f"{r['Address1']}, {r['Address2']}" if r["Address2"] else r["Address1"]
        out.append(
            {
                "Nom": r["Name"],
                "Catégorie": category_label(rng, key, "fr"),
                "Adresse": address,
                "Ville": r["City"],
                "Code postal": r["Postal"],
                "Téléphone": r["Phone"],
                "Site web": r["Website"],
                "Latitude": r["Latitude"],
                "Longitude": r["Longitude"],
                "Description": r["Description"],
                "Horaires": r["Hours"],
                "Photos": r["Images"],
                "Identifiant": r["ID"],
            }
        )
    for offset, src in enumerate(shared_sources, start=len(own) + 1):
        key = category_of(src["Category"]) or "attraction"
        out.append(
            {
                # Identity fields exactly as in the first file: the record hashes must match.
                "Nom": src["Name"],
                "Adresse": src["Address1"],
                "Ville": src["City"],
                "Code postal": src["Postal"],
                # The same place, described by this DMO.
                "Catégorie": category_label(rng, key, "fr"),
                "Téléphone": phone_number(rng, src["City"]),
                "Site web": src["Website"],
                "Latitude": src["Latitude"],
                "Longitude": src["Longitude"],
                "Description": describe(rng, src["Name"], key, src["City"], "fr"),
                "Horaires": opening_hours(rng, key, "fr"),
                "Photos": _photos(rng, slugs(src["Name"])),
                "Identifiant": f"LAU-{offset:06d}",
            }
        )
    for offset, (src, name, lat, lng) in enumerate(
        _doubtful_rows(rng, good, shared_sources), start=len(out) + 1
    ):
        key = category_of(src["Category"]) or "attraction"
        out.append(
            {
                "Nom": name,
                "Catégorie": category_label(rng, key, "fr"),
                "Adresse": "",
                "Ville": src["City"],
                "Code postal": "",
                "Téléphone": "",
                "Site web": "",
                "Latitude": f"{lat:.6f}",
                "Longitude": f"{lng:.6f}",
                "Description": describe(rng, name, key, src["City"], "fr"),
                "Horaires": opening_hours(rng, key, "fr"),
                "Photos": "",
                "Identifiant": f"LAU-{offset:06d}",
            }
        )
    out.sort(key=_sort_key)
    return out


def write_rows(
    path: Path, header: list[str], lines: list[list[str]], *, encoding: str, delimiter: str
) -> None:
    """Like `devdata.write_csv`, but for raw lines (the bad rows are deliberately ragged)."""
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(lines)


def main() -> None:
    good, lines = build_visit_quebec()
    write_rows(VISIT_QUEBEC_CSV, CSV_COLUMNS, lines, encoding="utf-8-sig", delimiter=",")
    laurentides = build_laurentides(good)
    write_rows(
        LAURENTIDES_CSV,
        LAURENTIDES_COLUMNS,
        [[r[c] for c in LAURENTIDES_COLUMNS] for r in laurentides],
        encoding="cp1252",
        delimiter=";",
    )
    print(f"{VISIT_QUEBEC_CSV.name}: {len(lines)} data rows ({len(good)} listings + 3 bad + 2 duplicates)")
    print(
        f"{LAURENTIDES_CSV.name}: {len(laurentides)} data rows ({SHARED_PLACES} shared with the first file,"
        f" {DOUBTFUL_PLACES} written carelessly for the review queue)"
    )


if __name__ == "__main__":
    main()
