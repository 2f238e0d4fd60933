"""Great Expectations validation of transformed records: each rule catches its case and names the right
record_no, valid data passes, messages read well, empty and large batches work, no gx/ folder is written."""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listings.validation import ValidationReport, validate_transformed
from listings.validation import transformed as tv

# Real-looking transformed records: Québec in French and English, plus France, the US and Japan.
VALID: list[dict[str, Any]] = [
    {
        "record_no": 1, "name": "Auberge Saint-Antoine", "category": "hotel",
        "address1": "8, rue Saint-Antoine", "city": "Québec", "state": "QC", "zip": "G1K 4C9", "country": "CA",
        "lat": "46.81339", "lng": "-71.20314", "phone_e164": "+14186922211",
        "website": "https://www.saint-antoine.com/fr/", "email": "reservations@saint-antoine.com",
    },
    {
        "record_no": 2, "name": "Cabane à sucre Chez Dany", "category": "sugar_shack",
        "address1": "195, rue Toupin", "city": "Trois-Rivières", "country": "CA",
        "lat": None, "lng": None, "phone_e164": "+18193705000",
        "website": "http://www.cabaneasucre.com", "email": None,
    },
    {
        "record_no": 3, "name": "Montreal Museum of Fine Arts", "category": "museum",
        "address1": None, "city": None, "country": "CA", "lat": "45.49855", "lng": "-73.57942",
        "phone_e164": None, "website": "https://www.mbam.qc.ca/en/?utm_source=dmo&utm_medium=listing",
        "email": "info@mbam.qc.ca",
    },
    {
        "record_no": 4, "name": "Le Procope", "category": "restaurant", "address1": "13 Rue de l'Ancienne Comédie",
        "city": "Paris", "country": "FR", "lat": "48.85305", "lng": "2.33889", "phone_e164": "+33140467900",
        "website": "HTTPS://WWW.PROCOPE.COM", "email": "procope@blanc.net",
    },
    {
        "record_no": 5, "name": "Space Needle", "category": "attraction", "address1": "400 Broad St",
        "city": "Seattle", "country": "US", "lat": "47.6205", "lng": "-122.3493", "phone_e164": "+12069052100",
        "website": "https://www.spaceneedle.com/", "email": "info@spaceneedle.com",
    },
    {
        "record_no": 6, "name": "東京タワー", "category": "attraction", "address1": "芝公園4-2-8",
        "city": "港区", "country": "JP", "lat": "35.65858", "lng": "139.74543", "phone_e164": "+81334335111",
        "website": "https://www.tokyotower.co.jp/", "email": None,
    },
    {
        "record_no": 7, "name": "Café Olimpico", "category": "cafe", "address1": "124 rue Saint-Viateur O",
        "city": "Montréal", "country": "CA", "lat": "-90", "lng": "180", "phone_e164": "+15144950746",
        "website": "https://café-olimpico.ca/menu?lang=fr#boissons", "email": "Bonjour@cafeolimpico.com",
    },
]  # fmt: skip


def valid(**changes: Any) -> dict[str, Any]:
    """A valid Québec record with some fields changed."""
    return {**VALID[0], **changes}


def only_failures(report: ValidationReport) -> dict[int, list[tuple[str, str, str, str]]]:
    return {
        no: [(f.expectation, f.column, f.severity, f.message) for f in fails]
        for no, fails in report.failures.items()
    }


def test_valid_data_passes() -> None:
    report = validate_transformed(VALID)
    assert report.success is True
    assert report.evaluated == len(VALID)
    assert report.failures == {}
    assert [s.unexpected_count for s in report.summary] == [0] * len(report.summary)


def test_empty_batch() -> None:
    report = validate_transformed([])
    assert report == ValidationReport(success=True, evaluated=0, failures={}, summary=report.summary)
    assert {s.name for s in report.summary} == {name for name, _, _ in tv.rules()}
    assert all(s.unexpected_count == 0 and s.unexpected_percent == 0.0 for s in report.summary)


# (changes to a valid record, expected failures: (expectation, column, severity, message))
CASES: list[tuple[dict[str, Any], list[tuple[str, str, str, str]]]] = [
    ({"name": None}, [("name_not_null", "name", "error", "name is missing")]),
    ({"name": " \t "}, [("name_not_blank", "name", "error", "name ' \\t ' is blank")]),
    ({"name": ""}, [("name_not_blank", "name", "error", "name '' is blank")]),
    ({"category": None}, [("category_not_null", "category", "warning", "category is missing")]),
    (
        {"category": None, "category_raw": "Érablière / cabane à sucre"},
        [
            (
                "category_not_null", "category", "warning",
                "category 'Érablière / cabane à sucre' is not in the category vocabulary",
            )
        ],
    ),
    (
        {"lat": None, "lng": None, "address1": None},
        [
            (
                "location_present", "has_location", "error",
                "neither coordinates (lat + lng) nor an address (address1 + city) is present",
            )
        ],
    ),
    ({"lat": "90.00001"}, [("lat_in_range", "lat", "error", "lat '90.00001' is outside [-90, 90]")]),
    ({"lat": "-91"}, [("lat_in_range", "lat", "error", "lat '-91' is outside [-90, 90]")]),
    ({"lng": "-180.5"}, [("lng_in_range", "lng", "error", "lng '-180.5' is outside [-180, 180]")]),
    ({"lng": "73,5O W"}, [("lng_in_range", "lng", "error", "lng '73,5O W' is not a number")]),
    ({"lat": "NaN"}, [("lat_in_range", "lat", "error", "lat 'NaN' is not a number")]),
    ({"phone_e164": "+1514"}, [("phone_e164_format", "phone_e164", "error", "phone_e164 '+1514' is not E.164")]),
    (
        {"phone_e164": "(418) 692-2211"},
        [("phone_e164_format", "phone_e164", "error", "phone_e164 '(418) 692-2211' is not E.164")],
    ),
    (
        {"website": "www.saint-antoine.com"},
        [("website_format", "website", "warning", "website 'www.saint-antoine.com' is not an http(s) URL")],
    ),
    (
        {"email": "reservations@saint-antoine"},
        [("email_format", "email", "warning", "email 'reservations@saint-antoine' is not an e-mail address")],
    ),
    (
        {"country": "Canada"},
        [("country_code", "country", "error", "country 'Canada' is not a 2-letter upper-case ISO code")],
    ),
    ({"country": "ca"}, [("country_code", "country", "error", "country 'ca' is not a 2-letter upper-case ISO code")]),
    (
        {"country": None},
        [("country_code", "country", "error", "country is missing (expected a 2-letter upper-case ISO code)")],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_each_expectation_catches_its_case_and_names_the_record(
    changes: dict[str, Any], expected: list[tuple[str, str, str, str]]
) -> None:
    # The bad record sits between valid ones, with a record_no that is not its position.
    records = [valid(record_no=10), valid(record_no=42, **changes), valid(record_no=11)]
    report = validate_transformed(records)
    assert only_failures(report) == {42: expected}
    assert report.success is (expected[0][2] != "error")
    summary = {s.name: s for s in report.summary}
    assert summary[expected[0][0]].unexpected_count == 1
    assert summary[expected[0][0]].unexpected_percent == pytest.approx(100 / 3)


def test_several_failures_on_one_record_in_suite_order() -> None:
    bad = valid(
        record_no=7, name=None, category=None, lat="91", lng="-200", phone_e164="514-555-1234",
        website="ftp://x.ca", email="info", country="CAN",
    )  # fmt: skip
    report = validate_transformed([bad])
    assert [f.expectation for f in report.failures[7]] == [
        "name_not_null", "category_not_null", "lat_in_range", "lng_in_range", "phone_e164_format",
        "website_format", "email_format", "country_code",
    ]  # fmt: skip
    assert report.records_with("error") == [7] and report.records_with("warning") == [7]


@pytest.mark.parametrize(
    ("lat", "lng", "address1", "city", "ok"),
    [
        ("46.8", "-71.2", None, None, True),  # coordinates only
        (None, None, "8, rue Saint-Antoine", "Québec", True),  # address only
        ("46.8", None, "8, rue Saint-Antoine", None, False),  # half of each is neither
        (None, None, "8, rue Saint-Antoine", "  ", False),  # a blank city is no city
        (None, None, None, "Québec", False),
        (0, 0, None, None, True),  # numbers, not only strings
    ],
)
def test_location_needs_coordinates_or_address(
    lat: Any, lng: Any, address1: Any, city: Any, ok: bool
) -> None:
    report = validate_transformed([valid(lat=lat, lng=lng, address1=address1, city=city)])
    names = [f.expectation for f in report.failures.get(1, [])]
    assert ("location_present" not in names) is ok


def test_warnings_do_not_fail_the_batch() -> None:
    records = [
        valid(record_no=1, category=None, website="saint-antoine.com", email="x@y"),
        valid(record_no=2),
    ]
    report = validate_transformed(records)
    assert report.success is True
    assert report.records_with("warning") == [1] and report.records_with("error") == []


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("+14186922211", True),
        ("+33140467900", True),
        ("+442071838750", True),
        ("+1234567", True),  # 7 digits: shortest E.164 we accept
        ("+123456789012345", True),  # 15 digits: the E.164 maximum
        ("+1234567890123456", False),
        ("+123456", False),
        ("+04186922211", False),  # no country code starts with 0
        ("14186922211", False),
        ("+1 418 692 2211", False),
        ("+14186922211\n", False),  # `$` would accept a trailing newline; `\Z` does not
        ("+1４１８６９２２２１１", False),  # full-width digits are `\d` in Python
        ("+1٤١٨٦٩٢٢٢١١", False),  # Arabic-Indic digits, same
        (14186922211, False),  # not a string, no '+'
        (None, True),
        ("", True),  # blank counts as absent
    ],
)
def test_phone_e164(value: Any, ok: bool) -> None:
    report = validate_transformed([valid(phone_e164=value)])
    assert (report.failures == {}) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://www.tourisme-montreal.org/fr/", True),
        ("http://quebec-cite.com", True),
        ("HTTPS://EXAMPLE.ORG/EN", True),
        ("https://www.hotel.ca:8443/r?x=1&y=2#top", True),
        ("https://café-olimpico.ca/", True),
        ("www.example.com", False),
        ("example.com", False),
        ("ftp://example.com/file", False),
        ("https://localhost/", False),
        ("https://", False),
        ("https://exa mple.com", False),
        ("https://example.com/a b", False),
        ("mailto:info@example.com", False),
        ("javascript:alert(1)", False),
        (None, True),
    ],
)
def test_website_shape(value: Any, ok: bool) -> None:
    report = validate_transformed([valid(website=value)])
    assert (report.failures == {}) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("info@example.com", True),
        ("Réservations@auberge-du-lac.qc.ca", True),
        ("first.last+tag@sub.example.co.uk", True),
        ("info@", False),
        ("@example.com", False),
        ("info@example", False),
        ("info at example.com", False),
        ("a@b@example.com", False),
        ("info@example.com\n", False),
        (None, True),
    ],
)
def test_email_shape(value: Any, ok: bool) -> None:
    report = validate_transformed([valid(email=value)])
    assert (report.failures == {}) is ok


def test_record_without_record_no_is_named_by_position() -> None:
    records = [{k: v for k, v in valid().items() if k != "record_no"} for _ in range(3)]
    records[1]["name"] = None
    assert list(validate_transformed(records).failures) == [2]


def test_records_missing_optional_keys_pass() -> None:
    # Before the phone/category normalisation is wired in, records have no phone_e164 / category_raw keys.
    record = {k: v for k, v in valid().items() if k != "phone_e164"}
    assert validate_transformed([record]).failures == {}


def test_context_is_built_once_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = tv._get_validator()
    validate_transformed(VALID)
    validate_transformed([valid(name=None)])
    assert tv._get_validator() is first
    assert os.listdir(tmp_path) == []  # no gx/ folder, no uncommitted_/ data docs


def test_large_batch_names_every_failing_record() -> None:
    n = 20_000
    records = [valid(record_no=i, name=f"Gîte du Vieux-Port {i}") for i in range(1, n + 1)]
    bad_phone = set(range(7, n + 1, 97))
    no_category = set(range(3, n + 1, 250))
    for no in bad_phone:
        records[no - 1]["phone_e164"] = "+1514"
    for no in no_category:
        records[no - 1]["category"] = None
    start = time.perf_counter()
    report = validate_transformed(records)
    elapsed = time.perf_counter() - start
    print(f"\nvalidate_transformed: {n} records in {elapsed:.2f} s")
    assert report.evaluated == n
    assert set(report.failures) == bad_phone | no_category
    assert list(report.failures) == sorted(report.failures)
    assert {
        no for no, fs in report.failures.items() if any(f.expectation == "phone_e164_format" for f in fs)
    } == (bad_phone)
    summary = {s.name: s.unexpected_count for s in report.summary}
    assert summary["phone_e164_format"] == len(bad_phone) > 200  # past GX's 200-value cap on unexpected_list
    assert summary["category_not_null"] == len(no_category)
    assert report.success is False


# ------------------------------------------------------------------------------------------------
# Free text: no input may raise, and GX agrees with the plain regexes.

_any_value = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.text(alphabet="+0123456789 ().-", max_size=18),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.decimals(allow_nan=False).map(str),
)
_fields = ("name", "category", "address1", "city", "lat", "lng", "phone_e164", "website", "email", "country")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({f: _any_value for f in _fields}), max_size=15))
def test_any_values_never_raise_and_are_attributed(rows: list[dict[str, Any]]) -> None:
    records = [{"record_no": i * 3, **row} for i, row in enumerate(rows, start=1)]
    report = validate_transformed(records)
    assert report.evaluated == len(records)
    assert set(report.failures) <= {r["record_no"] for r in records}
    counts = {s.name: s.unexpected_count for s in report.summary}
    for name, count in counts.items():
        assert count == sum(1 for fs in report.failures.values() for f in fs if f.expectation == name)
    for rec in records:
        names = {f.expectation for f in report.failures.get(rec["record_no"], [])}
        phone = rec["phone_e164"]
        present = tv._present(phone)
        assert ("phone_e164_format" in names) == (present and not re.search(tv.E164_PATTERN, str(phone)))
        assert ("name_not_null" in names) == (rec["name"] is None or _is_nan(rec["name"]))
        assert all(
            isinstance(f.message, str) and f.message for f in report.failures.get(rec["record_no"], [])
        )


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
