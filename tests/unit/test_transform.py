"""Transform building blocks: cleaning, coordinates, hashes, mapping and in-file merge."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from listings.fields import SCALAR_FIELDS
from listings.transform.clean import InvalidValue, clean_multiline, clean_text, json_safe, parse_coordinate
from listings.transform.hashing import normalize_key, normalize_postal, record_hash
from listings.transform.limits import FIELD_LIMITS, MAX_IMAGES
from listings.transform.mapping import MISSING, as_list, as_text, resolve_path
from listings.transform.records import (
    CanonicalRecord,
    RecordError,
    build_record,
    enrich,
    merge_in_file,
)

MAPPING = {
    "source_id": "ID", "name": "Name", "address1": "Address1", "city": "City", "zip": "Postal",
    "phone": "Phone", "lat": "Lat", "lng": "Lng", "images": "Images", "country": "Country",
    "description": "Description",
}  # fmt: skip


IMG = "https://img.example.org/"


def row(**values: str) -> dict[str, str]:
    base = dict.fromkeys(MAPPING.values(), "")
    base.update(values)
    return base


def test_clean_text() -> None:
    assert clean_text("  Café \t Olé\n ") == "Café Olé"
    assert clean_text("Cafe\u0301") == "Café"  # NFC: one code point
    assert clean_text("a\x00b\x1f") == "ab"
    assert clean_text("   ") is None and clean_text(None) is None
    assert clean_multiline(" one \n two  2 \r\n\r\n\n three \n") == "one\ntwo 2\n\nthree"


def test_parse_coordinate() -> None:
    assert parse_coordinate(" 45.5017 ", kind="lat") == Decimal("45.5017")
    assert parse_coordinate("45,5017", kind="lat") == Decimal("45.5017")  # decimal comma
    assert parse_coordinate("-73.567256123456", kind="lng") == Decimal("-73.56725612")
    assert parse_coordinate("", kind="lat") is None
    with pytest.raises(InvalidValue, match="outside"):
        parse_coordinate("91", kind="lat")
    with pytest.raises(InvalidValue, match="not a number"):
        parse_coordinate("north", kind="lng")
    with pytest.raises(InvalidValue):
        parse_coordinate("NaN", kind="lng")


def test_as_list() -> None:
    assert as_list(" a.jpg | b.jpg||a.jpg ", "|") == ["a.jpg", "b.jpg"]
    assert as_list(None, "|") == [] and as_list(MISSING, "|") == []
    assert as_list([{"source_url": "x.jpg"}, "y.jpg", {"url": "x.jpg"}, ""], "|") == ["x.jpg", "y.jpg"]


def test_resolve_path_and_as_text() -> None:
    post = {
        "id": 7,
        "title": {"rendered": "Caf&eacute;"},
        "acf": {"location": {"lat": 45.5, "lng": -73.6}},
        "_embedded": {"wp:featuredmedia": [{"source_url": "a.jpg"}, {"other": 1}, {"source_url": "b.jpg"}]},
        "terms": [[{"name": "Food"}, {"name": "Bar"}]],
        "Addr.1": "literal key with a dot",
    }
    assert resolve_path(post, "acf.location.lat") == 45.5
    assert resolve_path(post, "Addr.1") == "literal key with a dot"
    assert resolve_path(post, "_embedded.wp:featuredmedia.*.source_url") == ["a.jpg", "b.jpg"]
    assert resolve_path(post, "_embedded.wp:featuredmedia.0.source_url") == "a.jpg"
    assert resolve_path(post, "_embedded.wp:featuredmedia.9.source_url") is MISSING
    assert resolve_path(post, "acf.nothing") is MISSING and resolve_path(post, "id.x") is MISSING
    assert as_text(resolve_path(post, "title")) == "Caf&eacute;"
    assert as_text(resolve_path(post, "terms.0.*.name")) == "Food, Bar"
    assert as_text(7) == "7" and as_text(True) == "true" and as_text(MISSING) is None


def test_record_hash_is_the_seed_formula_on_matching_keys() -> None:
    assert normalize_key("  Café  Olé, Inc. ") == "cafe ole inc"
    assert normalize_postal("h2x 1y4") == "H2X1Y4"
    # name|address|city|postal, each as its matching key (legal suffix, "St-", accents, spacing folded)
    expected = hashlib.sha256(b"cafe ole|12 rue saint denis|montreal|H2X1Y4").hexdigest()
    assert record_hash("Café Olé", "12, rue St-Denis", "Montréal", "h2x 1y4") == expected
    # formatting noise, a legal suffix, a unit and an abbreviation do not change identity; another place does
    assert record_hash("CAFÉ OLÉ INC.", "12 rue Saint Denis, bureau 3", "MONTREAL", "H2X1Y4") == expected
    assert record_hash("Café Olé", "14 rue St-Denis", "Montréal", "H2X 1Y4") != expected


def test_build_record_maps_and_cleans() -> None:
    rec = build_record(
        7, row(ID=" 42 ", Name=" Hôtel  Le Germain ", Lat="46.8", Lng="-71.2", Images="//i.example/a.jpg|http://i.example/b.jpg"),
        MAPPING, country="CA", state="QC",
    )  # fmt: skip
    assert rec.row_nos == [7]
    assert rec.values["source_id"] == "42" and rec.values["name"] == "Hôtel Le Germain"
    assert rec.values["lat"] == "46.8" and rec.values["country"] == "CA" and rec.values["state"] == "QC"
    assert rec.images == ["https://i.example/a.jpg", "http://i.example/b.jpg"] and rec.flags == []
    assert set(rec.hashes()) == {"record_hash", "location_hash", "contact_hash", "content_hash"}


def test_build_record_rejects_missing_name_and_flags_bad_values() -> None:
    with pytest.raises(RecordError) as err:
        build_record(3, row(Name="   "), MAPPING, country="CA", state="QC")
    assert err.value.error_type == "missing_field" and "'Name'" in str(err.value)
    rec = build_record(
        4, row(Name="X", Lat="95", Lng="-71", Country="Canada"), MAPPING, country="CA", state=None
    )
    assert rec.values["lat"] is None and rec.values["lng"] is None
    assert rec.values["country"] == "CA"
    assert any(f.startswith("invalid_lat") for f in rec.flags)
    assert any("partial_coordinates" in f for f in rec.flags)
    assert any("Canada" in f for f in rec.flags)


def test_hashes_separate_what_changed() -> None:
    a = build_record(
        1, row(Name="X", Address1="1 A", Phone="514-555-0101"), MAPPING, country="CA", state="QC"
    )
    b = build_record(
        1, row(Name="X", Address1="1 A", Phone="514-555-0199"), MAPPING, country="CA", state="QC"
    )
    ha, hb = a.hashes(), b.hashes()
    assert ha["record_hash"] == hb["record_hash"] and ha["location_hash"] == hb["location_hash"]
    assert ha["contact_hash"] != hb["contact_hash"] and ha["content_hash"] == hb["content_hash"]


def test_merge_in_file_most_complete_then_latest_wins_and_images_merge() -> None:
    first = build_record(
        1, row(ID="1", Name="Bistro", Address1="1 A", Images=f"{IMG}a.jpg"), MAPPING, country="CA", state="QC"
    )
    second = build_record(
        5, row(ID="1", Name="BISTRO", Address1="1 a", Phone="514-555-0101", Images=f"{IMG}b.jpg|{IMG}a.jpg"),
        MAPPING, country="CA", state="QC",
    )  # fmt: skip
    other = build_record(2, row(ID="2", Name="Café", Address1="2 B"), MAPPING, country="CA", state="QC")
    result = merge_in_file([first, other, second])
    assert result.duplicates == 1 and not result.conflicts
    merged = result.records[0]
    assert merged.row_nos == [1, 5]
    assert merged.values["phone"] == "514-555-0101" and merged.values["name"] == "BISTRO"
    assert merged.images == [f"{IMG}a.jpg", f"{IMG}b.jpg"]
    assert [r.row_nos for r in result.records] == [[1, 5], [2]]


def test_one_hash_with_conflicting_evidence_stays_two_records() -> None:
    """Two permits of one building: the hash leaves the unit out, but their source ids, units and phones
    differ, so they are two places (matching decides on them); a record of the same hash and consistent
    evidence still merges."""

    def permits() -> list[CanonicalRecord]:
        rows = [
            row(ID="p1", Name="ACME BREAD CO", Address1="1 Ferry Building #50", Phone="415 555 0150"),
            row(ID="p2", Name="Acme Bread Co.", Address1="1 Ferry Building #15", Phone="415 555 0115"),
            row(ID="p3", Name="Acme Bread Co", Address1="1 Ferry Bldg #50", Phone="(415) 555-0150"),
        ]
        return [build_record(n, r, MAPPING, country="US", state="CA") for n, r in enumerate(rows, start=1)]

    records = permits()
    assert len({r.record_hash for r in records}) == 1
    result = merge_in_file(records)
    assert [r.row_nos for r in result.records] == [[1, 3], [2]]
    assert result.duplicates == 1 and not result.conflicts
    hashes = [r.record_hash for r in result.records]
    assert hashes[0] == records[0].record_hash and hashes[1] != hashes[0]
    assert records[1].record_hash == hashes[0]  # the input records are left as they were
    # the split record's hash is stable: a re-run of the file gives the same one
    assert [r.record_hash for r in merge_in_file(permits()).records] == hashes


def test_source_id_reused_by_another_place_is_a_conflict() -> None:
    a = build_record(1, row(ID="9", Name="A", Address1="1 A"), MAPPING, country="CA", state="QC")
    b = build_record(2, row(ID="9", Name="B", Address1="2 B"), MAPPING, country="CA", state="QC")
    result = merge_in_file([a, b])
    assert [r.values["name"] for r in result.records] == ["A"]
    assert len(result.conflicts) == 1 and "row 1" in result.conflicts[0][1]


def test_normalize_key_fast_paths_match_the_reference_definition() -> None:
    import random
    import re
    import unicodedata

    def reference(value: str) -> str:
        decomposed = unicodedata.normalize("NFKD", value)
        folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
        return " ".join(re.sub(r"[^\w]+", " ", folded).replace("_", " ").split())

    rng = random.Random(7)
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0x1E00, 0x1EFF), (0x2000, 0x206F), (0xFB00, 0xFB4F), (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF)]  # fmt: skip
    for _ in range(3000):
        text = "".join(chr(rng.randint(*rng.choice(blocks))) for _ in range(rng.randint(1, 12)))
        assert normalize_key(text) == reference(text), repr(text)


# -- length limits, image URLs, error rows ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "canonical", "length"),
    [("Name", "name", 4000), ("ID", "source_id", 300), ("Address1", "address1", 301), ("City", "city", 121),
     ("Postal", "zip", 61)],
)  # fmt: skip
def test_an_over_long_identity_field_rejects_the_record(column: str, canonical: str, length: int) -> None:
    # A 4,000-character name used to reach public.listings and fail the promotion of the whole batch on
    # its btree index ("index row size 4024 exceeds btree maximum 2704"): it is rejected here instead.
    values = row(ID="1", Name="Café", Address1="1 rue A", City="Montréal", Postal="H2T 2L1")
    values[column] = "é" * length
    with pytest.raises(RecordError) as err:
        build_record(5, values, MAPPING, country="CA", state="QC")
    assert err.value.error_type == "field_too_long" and err.value.field_name == canonical
    limit = FIELD_LIMITS[canonical].max_chars
    message = str(err.value)
    assert (
        "row 5" in message
        and repr(column) in message
        and f"{length:,}" in message
        and f"{limit:,}" in message
    )


def test_an_over_long_description_is_cut_with_a_flag() -> None:
    limit = FIELD_LIMITS["description"].max_chars
    long_text = ("Une très longue description. " * 2000).strip()  # 57,999 characters
    rec = enrich(build_record(1, row(Name="Café", Description=long_text), MAPPING, country="CA", state="QC"))
    description = rec.values["description"]
    assert limit - 40 < len(description) <= limit and description.endswith(" longue…")  # at a word end
    assert long_text.startswith(description[:-1])
    assert f"field_truncated: description (57,999 characters) cut to {limit:,}" in rec.flags
    # HTML is reduced to text first: markup does not count
    html = "<p>" + "<b>mot</b> " * 2000 + "</p>"  # 22,003 characters, 7,999 of text
    rec = enrich(build_record(2, row(Name="Café", Description=html), MAPPING, country="CA", state="QC"))
    assert rec.values["description"] == ("mot " * 2000).strip() and rec.flags == []
    # a 2 MB cell is cut before it is cleaned; the flag gives its length
    rec = enrich(
        build_record(3, row(Name="Café", Description="x " * 1_000_000), MAPPING, country="CA", state="QC")
    )
    assert len(rec.values["description"]) <= limit and "_description_length" not in rec.values
    assert f"field_truncated: description (2,000,000 characters) cut to {limit:,}" in rec.flags


def test_over_long_optional_values_are_dropped_with_a_flag() -> None:
    mapping = {**MAPPING, "email": "Email", "website": "Website", "state": "State", "opening_hours": "Hours"}
    values = row(Name="Café", Phone="514-555-0101 " * 20, Email="a" * 250 + "@example.org",
                 Website="https://example.org/" + "p" * 2100, State="Q" * 101, Hours="Lundi 9h-17h " * 1000)  # fmt: skip
    rec = build_record(2, values, mapping, country="CA", state="QC")
    for name in ("phone", "email", "website", "opening_hours"):
        assert rec.values[name] is None, name
        assert any(f.startswith(f"field_too_long: {name}") for f in rec.flags), name
    assert rec.values["state"] == "QC"  # the DMO's, as when the source gives none
    assert "_hours_source" not in rec.values


def test_every_text_field_has_one_limit_that_fits_its_indexes() -> None:
    text_fields = set(SCALAR_FIELDS) - {"lat", "lng", "country"}
    assert text_fields <= set(FIELD_LIMITS)
    # btree index entries are at most 2,704 bytes; a character is at most 4 bytes in UTF-8
    for name in ("source_id", "name", "city", "state", "zip", "category"):
        assert FIELD_LIMITS[name].max_chars * 4 < 2704, name
    for name in ("source_id", "name", "address1", "city", "zip"):  # identity: never cut or dropped
        assert FIELD_LIMITS[name].on_excess == "reject", name


def test_only_absolute_http_image_urls_are_kept() -> None:
    images = " | ".join([
        "https://img.example.org/a.jpg", "javascript:alert(1)", "JavaScript:alert(2)", "data:image/png;base64,iVBO",
        "file:///etc/passwd", "HTTP://IMG.example.org/b.jpg", "ftp://img.example.org/c.jpg", "/uploads/d.jpg",
        "java\tscript:alert(3)", "//cdn.example.org/e.jpg", "https://", "https://img.example.org/" + "f" * 2100,
    ])  # fmt: skip
    rec = build_record(1, row(Name="Café", Images=images), MAPPING, country="CA", state="QC")
    assert rec.images == [
        "https://img.example.org/a.jpg", "HTTP://IMG.example.org/b.jpg", "https://cdn.example.org/e.jpg",
    ]  # fmt: skip
    dropped = [f for f in rec.flags if f.startswith("invalid_image_url")]
    assert len(dropped) == 9 and any("javascript:alert(1)" in f for f in dropped)
    assert all(len(f) < 200 for f in dropped)


def test_the_number_of_images_per_record_is_capped() -> None:
    images = "|".join(f"https://img.example.org/{i}.jpg" for i in range(MAX_IMAGES + 50))
    rec = build_record(1, row(Name="Café", Images=images), MAPPING, country="CA", state="QC")
    assert rec.images == [f"https://img.example.org/{i}.jpg" for i in range(MAX_IMAGES)]
    assert any(f.startswith("too_many_images") for f in rec.flags)


def test_clean_text_drops_lone_surrogates() -> None:
    assert clean_text("Caf\ud800é") == "Café" and clean_multiline("a\udfff\nb") == "a\nb"


def test_json_safe_cleans_an_error_row_like_a_record() -> None:
    original = {
        "Na\x00me": "Caf\x00é", "nested": {"list": ["a\x00", {"k\x00": "\ud800x"}], "n": 3, "ok": True},
        "big": "x" * 5_000_000, "nan": float("nan"), "none": None, "when": Decimal("1.5"),
    }  # fmt: skip
    safe = json_safe(original)
    assert safe["Name"] == "Café" and safe["nested"]["list"][0] == "a"
    assert (
        safe["nested"]["list"][1] == {"k": "x"} and safe["nested"]["n"] == 3 and safe["nested"]["ok"] is True
    )
    assert safe["big"].startswith("x" * 1000) and "[truncated: 5,000,000 characters]" in safe["big"]
    assert safe["nan"] == "nan" and safe["none"] is None and safe["when"] == "1.5"
    import json

    dumped = json.dumps(safe, allow_nan=False)
    assert "\\u0000" not in dumped and len(dumped) < 100_000
    # many wide columns: the whole row stays bounded too
    wide = json_safe({f"col{i}": "y" * 50_000 for i in range(1000)})
    assert len(json.dumps(wide)) < 300_000 and len(wide) <= 1001
