"""listings_dev.devdata: deterministic, realistic Québec listings and the CSV writer."""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from pathlib import Path

import pytest

from listings_dev.devdata import (
    CATEGORIES,
    CITIES,
    CSV_COLUMNS,
    LAURENTIDES,
    category_of,
    describe,
    generate_listings,
    phone_number,
    slugify,
    write_csv,
)

POSTAL = re.compile(r"[A-Z]\d[A-Z] ?\d[A-Z]\d", re.IGNORECASE)
# Québec's bounding box (the province), generous by a few hundredths of a degree.
QC_LAT = (44.95, 62.65)
QC_LNG = (-79.80, -57.05)


@pytest.fixture(scope="module")
def rows_10k() -> list[dict[str, str]]:
    return generate_listings(10_000, seed=7)


def test_same_seed_same_rows() -> None:
    assert generate_listings(500, seed=3) == generate_listings(500, seed=3)


def test_other_seed_other_rows() -> None:
    assert generate_listings(50, seed=3) != generate_listings(50, seed=4)


def test_prefix_is_stable() -> None:
    # The first k rows do not depend on n: samples can draw spare rows without disturbing the others.
    assert generate_listings(120, seed=5)[:100] == generate_listings(100, seed=5)


def test_shape_and_ids() -> None:
    rows = generate_listings(25, seed=1, id_prefix="QCT")
    assert [r["ID"] for r in rows[:3]] == ["QCT-000001", "QCT-000002", "QCT-000003"]
    for r in rows:
        assert list(r) == CSV_COLUMNS
        assert all(isinstance(v, str) for v in r.values())
        assert r["Name"] and r["City"] and r["Address1"] and r["Category"]
        assert r["Country"] == "CA"
        assert r["Province"] in {"QC", "Québec", "Quebec"}


def test_zero_rows() -> None:
    assert generate_listings(0) == []


def test_names_and_addresses_mostly_distinct(rows_10k: list[dict[str, str]]) -> None:
    pairs = {(r["Name"], r["Address1"], r["City"]) for r in rows_10k}
    assert len(pairs) >= 9_800
    # Names alone repeat only rarely too (chains aside, a few percent at most).
    assert len({r["Name"] for r in rows_10k}) >= 9_300


def test_chains_have_branches(rows_10k: list[dict[str, str]]) -> None:
    addresses: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)
    for r in rows_10k:
        addresses[r["Name"]].add((r["Address1"], r["City"]))
    chains = {name for name, where in addresses.items() if len(where) >= 10}
    assert len(chains) >= 3
    branch_rows = sum(1 for r in rows_10k if r["Name"] in chains)
    assert 0.01 * len(rows_10k) <= branch_rows <= 0.04 * len(rows_10k)


def test_postal_codes(rows_10k: list[dict[str, str]]) -> None:
    for r in rows_10k:
        assert POSTAL.fullmatch(r["Postal"]), r["Postal"]
        assert r["Postal"][:3].upper() in CITIES[r["City"]].fsas
    formats = {("space" if " " in r["Postal"] else "nospace", r["Postal"].isupper()) for r in rows_10k}
    assert len(formats) >= 3  # inconsistent, like real exports
    assert {r["Postal"][0].upper() for r in rows_10k if r["City"] == "Montréal"} == {"H"}
    assert {r["Postal"][0].upper() for r in rows_10k if r["City"] == "Québec"} == {"G"}


def test_coordinates_inside_quebec(rows_10k: list[dict[str, str]]) -> None:
    missing = 0
    for r in rows_10k:
        if not r["Latitude"]:
            assert not r["Longitude"]
            missing += 1
            continue
        lat, lng = float(r["Latitude"]), float(r["Longitude"])
        assert QC_LAT[0] <= lat <= QC_LAT[1] and QC_LNG[0] <= lng <= QC_LNG[1]
        city = CITIES[r["City"]]
        assert city.lat[0] <= lat <= city.lat[1] and city.lng[0] <= lng <= city.lng[1]
        assert re.fullmatch(r"-?\d+\.\d{6}", r["Latitude"]) and re.fullmatch(r"-?\d+\.\d{6}", r["Longitude"])
    assert 0.07 <= missing / len(rows_10k) <= 0.13


def test_reserved_domains_and_fictional_phones(rows_10k: list[dict[str, str]]) -> None:
    for r in rows_10k:
        if r["Email"]:
            domain = r["Email"].rsplit("@", 1)[1]
            assert domain.endswith((".example", ".example.com", "example.net")), r["Email"]
        if r["Website"]:
            assert re.search(r"\.example(\.com)?(/|$|\?)", r["Website"]), r["Website"]
        for url in filter(None, r["Images"].split("|")):
            assert url.startswith("https://images.example.org/") and url.endswith(".jpg")
        assert len(r["Images"].split("|")) <= 4
        if r["Phone"]:
            digits = re.sub(
                r"\D", "", r["Phone"].split(" poste")[0].split(" ext")[0].split(" #")[0].split(" x")[0]
            )
            assert digits[-7:-2] == "55501", r["Phone"]


def test_realistic_variety(rows_10k: list[dict[str, str]]) -> None:
    names = " ".join(r["Name"] for r in rows_10k)
    assert any(ch in names for ch in "éèêôç") and "'" in names
    assert any(r["Address2"] for r in rows_10k)
    assert any(", rue " in r["Address1"] for r in rows_10k)
    assert any(r["Hours"] == "" for r in rows_10k) and any(r["Hours"] == "24/7" for r in rows_10k)
    assert any(r["Phone"].startswith("(") for r in rows_10k) and any(
        r["Phone"].startswith("+1") for r in rows_10k
    )
    assert {category_of(r["Category"]) for r in rows_10k} == set(CATEGORIES)
    assert any(r["City"] == "Montréal" for r in rows_10k) and any(
        r["City"] == "Mont-Tremblant" for r in rows_10k
    )


def test_cities_filter() -> None:
    rows = generate_listings(300, seed=2, cities=LAURENTIDES)
    assert {r["City"] for r in rows} <= set(LAURENTIDES)
    with pytest.raises(ValueError):
        generate_listings(1, cities=["Atlantis"])


def test_helpers() -> None:
    assert slugify("Bistro Chez Émile") == "bistro-chez-emile"
    assert slugify("L'Œuf d'Or & Fils") == "loeuf-dor-fils"
    assert (
        category_of("HÔTEL") == "hotel" and category_of("Coffee shop") == "cafe" and category_of("x") is None
    )
    rng = random.Random(0)
    assert "555" in phone_number(rng, "Gatineau")
    text = describe(rng, "Café Test", "cafe", "Montréal", "fr")
    assert text.startswith("Café Test est ")


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ","), ("cp1252", ";"), ("utf-8", ",")],
)
def test_csv_round_trip(tmp_path: Path, encoding: str, delimiter: str) -> None:
    rows = generate_listings(2_000, seed=11)
    path = tmp_path / "listings.csv"
    write_csv(path, rows, encoding=encoding, delimiter=delimiter)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        assert reader.fieldnames == CSV_COLUMNS
        assert list(reader) == rows


def test_csv_subset_of_columns(tmp_path: Path) -> None:
    rows = generate_listings(10, seed=1)
    path = tmp_path / "sub.csv"
    write_csv(path, rows, columns=["Name", "City"])
    with path.open(encoding="utf-8", newline="") as fh:
        back = list(csv.DictReader(fh))
    assert back == [{"Name": r["Name"], "City": r["City"]} for r in rows]


def test_csv_refuses_lossy_encoding(tmp_path: Path) -> None:
    with pytest.raises(UnicodeEncodeError):
        write_csv(tmp_path / "x.csv", [{"Name": "Café ☕"}], columns=["Name"], encoding="cp1252")
