"""Regenerate the bundled demo workbook from `listings_dev.devdata` (deterministic: re-running rewrites identical
bytes).

    python include/samples/make_xlsx_sample.py

cantons-de-l-est-repertoire.xlsx: a DMO's CRM export as people actually hand it over, three sheets:

- "Lisez-moi" (first): notes, a merged title, and a column dictionary (a two-column table, so the reader
  has to tell it from the listings: it has no `Nom` column).
- "Répertoire": two merged title rows, a blank row, a row of merged group headings ("Adresse",
  "Coordonnées"...) with the first three headings merged down into the header row, then the header (row 5,
  "Code postal" written with an Alt+Enter line break) and 120 listings from row 6, grouped by city with a blank
  row between groups; the city cell of the Bromont group is one cell merged down the whole block.
  117 places in Sherbrooke, Magog and Bromont (seed 103) and 3 Vermont partners across the border.
  Excel's typing shows: "No de fiche" is a number; about a quarter of the phones are numbers (some shown
  through Excel's "Phone Number" format, "(819) 555-0123"); one phone was turned into a date (row error);
  the US ZIP codes are numbers, one shown through the "00000" ZIP format, one typed without it (its
  leading zero is gone, as in Excel), one typed as text; latitude/longitude are numbers; "Classification"
  holds star counts, "Accessible" booleans and "Mise à jour" dates (a few with a time).
- "Listes": a hidden lookup sheet of categories.

"Photos" holds `|`-separated URLs on the demo's image host (`make demo` serves it on 127.0.0.1:8765):
`http://127.0.0.1:8765/images/cantons-de-l-est/<name slug>-<k>.<jpg|png|webp>`.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from listings_dev.devdata import (
    CATEGORIES,
    DEMO_IMAGE_HOST,
    UniqueSlugs,
    category_of,
    demo_image_urls,
    generate_listings,
)

HERE = Path(__file__).resolve().parent
XLSX = HERE / "cantons-de-l-est-repertoire.xlsx"

SEED = 103
IMAGES = "cantons-de-l-est"  # /images/<this>/ on the demo image host
CITIES = ("Sherbrooke", "Magog", "Bromont")
GENERATED = 117
FIRST_FICHE = 30001
EXPORTED = datetime(2024, 5, 14, 8, 0)
PHONE_FORMAT = "[<=9999999]###-####;(###) ###-####"  # Excel's "Special > Phone Number"

GROUPS: list[tuple[str, int, int]] = [  # heading, first and last column (1-based)
    ("Adresse", 4, 8),
    ("Coordonnées", 9, 12),
    ("Géolocalisation", 13, 14),
    ("Contenu", 15, 17),
    ("Suivi", 18, 20),
]
HEADER = [
    "No de fiche",
    "Nom",
    "Catégorie",
    "Rue",
    "Ville",
    "Province",
    "Code\npostal",
    "Pays",
    "Téléphone",
    "Courriel",
    "Site web",
    "Facebook",
    "Latitude",
    "Longitude",
    "Description",
    "Horaires",
    "Photos",
    "Classification",
    "Accessible",
    "Mise à jour",
]
COLUMN_NOTES = [
    ("No de fiche", "Numéro de la fiche dans le CRM (unique)."),
    ("Nom", "Nom commercial de l'entreprise."),
    ("Catégorie", "Catégorie principale (voir l'onglet Listes)."),
    ("Rue / Ville / Province / Code postal / Pays", "Adresse civique de l'établissement."),
    ("Téléphone", "Numéro principal. Attention : Excel a converti certains numéros en nombres."),
    ("Latitude / Longitude", "Coordonnées WGS84 en degrés décimaux."),
    ("Photos", "Adresses des photos, séparées par « | »."),
    ("Classification", "Nombre d'étoiles (hébergement seulement)."),
    ("Accessible", "VRAI si l'établissement est accessible en fauteuil roulant."),
    ("Mise à jour", "Date de la dernière modification de la fiche."),
]
VERMONT: list[dict[str, Any]] = [
    {
        "Nom": "Haskell Free Library & Opera House (partenaire)",
        "Catégorie": "Attrait",
        "Rue": "93 Caswell Avenue",
        "Ville": "Derby Line",
        "Province": "VT",
        "zip": (5830, "00000"),
        "Téléphone": "802-555-0140",
        "Latitude": 45.0054,
        "Longitude": -72.0985,
        "Description": "Bibliothèque et salle d'opéra construites à cheval sur la frontière canado-américaine.",
    },
    {
        "Nom": "Newport Waterfront Inn (partenaire)",
        "Catégorie": "Hôtel",
        "Rue": "12 Lake Road",
        "Ville": "Newport",
        "Province": "VT",
        "zip": (5855, "General"),
        "Téléphone": 8025550151,
        "Latitude": 44.9367,
        "Longitude": -72.2090,
        "Description": "Auberge au bord du lac Memphrémagog, du côté américain.",
    },
    {
        "Nom": "Jay Peak Trail Outfitters (partenaire)",
        "Catégorie": "Excursion",
        "Rue": "4 Main Street",
        "Ville": "North Troy",
        "Province": "VT",
        "zip": ("05859", "@"),
        "Téléphone": "(802) 555-0162",
        "Latitude": 44.9956,
        "Longitude": -72.4037,
        "Description": "Location de vélos et sorties guidées dans les Green Mountains.",
    },
]
_TEN_DIGITS = re.compile(r"\(?(\d{3})\)?[ .-]?(\d{3})[ .-]?(\d{4})")
_LODGING = {"hotel", "motel", "bed_and_breakfast", "campground"}


def _phone_cell(rng: random.Random, phone: str) -> tuple[Any, str]:
    """A phone as Excel left it: mostly the text typed, sometimes a number (typed without separators or
    reformatted with the Phone Number format)."""
    m = _TEN_DIGITS.fullmatch(phone)
    if not phone or m is None:
        return phone, "General"
    roll = rng.random()
    if roll < 0.15:
        return int("".join(m.groups())), "General"
    if roll < 0.25:
        return int("".join(m.groups())), PHONE_FORMAT
    return phone, "General"


def _photos(listings: list[dict[str, str]]) -> dict[str, str]:
    """ID -> the listing's photos (as many as generated) on the demo image host, named after it."""
    slugs = UniqueSlugs()
    out = {}
    for r in listings:
        count = len([u for u in r["Images"].split("|") if u])
        out[r["ID"]] = "|".join(demo_image_urls(DEMO_IMAGE_HOST, IMAGES, slugs(r["Name"]), count))
    return out


def _rows() -> list[list[tuple[Any, str]]]:
    """The data rows, (value, number format) per cell; [] is a blank separator row."""
    rng = random.Random(SEED)
    listings = generate_listings(GENERATED, seed=SEED, id_prefix="CDE", cities=CITIES)
    by_city = {city: [r for r in listings if r["City"] == city] for city in CITIES}
    fiche = {r["ID"]: FIRST_FICHE + i for i, r in enumerate(listings)}
    photos = _photos(listings)
    out: list[list[tuple[Any, str]]] = []
    date_phone_done = False
    for city in CITIES:
        if out:
            out.append([])
        for r in sorted(by_city[city], key=lambda r: r["Name"].casefold()):
            key = category_of(r["Category"]) or "attraction"
            phone = _phone_cell(rng, r["Phone"])
            if not date_phone_done and isinstance(phone[0], str) and phone[0] and city == "Magog":
                # Typed as "3-15" in a column left as General: Excel made it the 15th of March.
                phone, date_phone_done = (datetime(2024, 3, 15), "d-mmm"), True
            updated = EXPORTED.replace(hour=0) - timedelta(days=rng.randint(3, 700))
            if rng.random() < 0.1:
                updated += timedelta(hours=rng.randint(8, 17), minutes=rng.choice((0, 15, 30, 45)))
                updated_fmt = "yyyy-mm-dd hh:mm"
            else:
                updated_fmt = "yyyy-mm-dd"
            out.append(
                [
                    (fiche[r["ID"]], "0"),
                    (r["Name"], "General"),
                    (r["Category"], "General"),
                    (r["Address1"], "General"),
                    (r["City"], "General"),
                    (r["Province"], "General"),
                    (r["Postal"], "@"),
                    (r["Country"], "General"),
                    phone,
                    (r["Email"] or None, "General"),
                    (r["Website"] or None, "General"),
                    (r["Facebook"] or None, "General"),
                    (float(r["Latitude"]) if r["Latitude"] else None, "0.000000"),
                    (float(r["Longitude"]) if r["Longitude"] else None, "0.000000"),
                    (r["Description"], "General"),
                    (r["Hours"], "General"),
                    (photos[r["ID"]] or None, "General"),
                    (rng.randint(2, 5) if key in _LODGING else None, "General"),
                    (rng.random() < 0.6 if rng.random() < 0.7 else None, "General"),
                    (updated, updated_fmt),
                ]
            )
    out.append([])
    for i, v in enumerate(VERMONT, start=1):
        out.append(
            [
                (FIRST_FICHE + GENERATED + i, "0"),
                (v["Nom"], "General"),
                (v["Catégorie"], "General"),
                (v["Rue"], "General"),
                (v["Ville"], "General"),
                (v["Province"], "General"),
                v["zip"],
                ("US", "General"),
                (v["Téléphone"], "General"),
                (None, "General"),
                (None, "General"),
                (None, "General"),
                (v["Latitude"], "0.000000"),
                (v["Longitude"], "0.000000"),
                (v["Description"], "General"),
                (None, "General"),
                (None, "General"),
                (None, "General"),
                (None, "General"),
                (EXPORTED.replace(hour=0) - timedelta(days=30 * i), "yyyy-mm-dd"),
            ]
        )
    return out


def _notes(wb: Workbook) -> None:
    ws = wb.active
    ws.title = "Lisez-moi"
    ws["A1"] = "Répertoire des entreprises touristiques — Cantons-de-l'Est"
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells("A1:D1")
    ws["A3"] = f"Extraction du CRM du {EXPORTED:%Y-%m-%d}. Données fictives, pour démonstration seulement."
    ws["A4"] = "Les fiches sont dans l'onglet « Répertoire », une ligne par entreprise, regroupées par ville."
    ws["A6"] = "Colonne"
    ws["B6"] = "Contenu"
    ws["A6"].font = ws["B6"].font = Font(bold=True)
    for i, (column, text) in enumerate(COLUMN_NOTES, start=7):
        ws.cell(i, 1, column)
        ws.cell(i, 2, text)
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 80


def _directory(wb: Workbook) -> None:
    ws = wb.create_sheet("Répertoire")
    last = len(HEADER)
    ws["A1"] = "Tourisme Cantons-de-l'Est — Répertoire des entreprises touristiques"
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, end_row=1, start_column=1, end_column=last)
    ws["A2"] = f"Extraction du {EXPORTED:%d/%m/%Y} — données fictives de démonstration"
    ws.merge_cells(start_row=2, end_row=2, start_column=1, end_column=last)
    for col in (1, 2, 3):  # these headings have no group: one cell over the two heading rows
        ws.cell(4, col, HEADER[col - 1])
        ws.merge_cells(start_row=4, end_row=5, start_column=col, end_column=col)
    for heading, first, end in GROUPS:
        ws.cell(4, first, heading)
        ws.merge_cells(start_row=4, end_row=4, start_column=first, end_column=end)
    for col in range(4, last + 1):
        ws.cell(5, col, HEADER[col - 1])
    for row in (4, 5):
        for col in range(1, last + 1):
            cell = ws.cell(row, col)
            cell.font = Font(bold=True)
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)

    rows = _rows()
    first_row = 6
    for offset, cells in enumerate(rows):
        for col, (value, fmt) in enumerate(cells, start=1):
            if value is None:
                continue
            cell = ws.cell(first_row + offset, col, value)
            cell.number_format = fmt
    # The Bromont group's city: one cell merged down the block, as people lay out printed directories.
    bromont = [first_row + i for i, cells in enumerate(rows) if cells and cells[4][0] == "Bromont"]
    ws.merge_cells(start_row=bromont[0], end_row=bromont[-1], start_column=5, end_column=5)
    ws.freeze_panes = "C6"


def _lists(wb: Workbook) -> None:
    ws = wb.create_sheet("Listes")
    ws.append(["Clé", "Catégorie (fr)", "Category (en)"])
    for key, (fr, en) in CATEGORIES.items():
        ws.append([key, fr[0], en[0]])
    ws.sheet_state = "hidden"


def _deterministic(data: bytes) -> bytes:
    """The same workbook without the time it was saved: openpyxl stamps every ZIP entry and the document's
    `modified` property with the current time."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    stamp = EXPORTED.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, body)
            fixed = zipfile.ZipInfo(info.filename, date_time=EXPORTED.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, body)
    return out.getvalue()


def build() -> bytes:
    wb = Workbook()
    wb.properties.creator = "Tourisme Cantons-de-l'Est (démo)"
    wb.properties.created = wb.properties.modified = EXPORTED
    _notes(wb)
    _directory(wb)
    _lists(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return _deterministic(buf.getvalue())


def main() -> None:
    XLSX.write_bytes(build())
    rows = [r for r in _rows() if r]
    print(f"{XLSX.name}: {len(rows)} listings on sheet 'Répertoire' (header row 5)")


if __name__ == "__main__":
    main()
