"""Object naming: exact data/image paths, parsing them back, and rejection of bad parts."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from listings.settings import Environment
from listings.storage.keys import DataKey, ImageKey, safe_filename

WHEN = datetime(2026, 11, 28, 10, 25, 3, tzinfo=UTC)
SEED_PATH = "dev-trippl-data/raw/listings/ca/qc/101/20261128/001-20261128T102503.csv.gz"


def data_key(**overrides: Any) -> DataKey:
    fields: dict[str, Any] = dict(
        env="dev",
        stage="raw",
        domain="listings",
        country="CA",
        state="QC",
        dmo_id=101,
        when=WHEN,
        batch=1,
        fmt="csv",
    )
    fields.update(overrides)
    return DataKey(**fields)


def image_key(**overrides: Any) -> ImageKey:
    fields: dict[str, Any] = dict(
        env="dev", country="CA", state="QC", dmo_id=101, listing_id=5521, filename="front-view", ext="jpg"
    )
    fields.update(overrides)
    return ImageKey(**fields)


# --- DataKey formatting ---------------------------------------------------------------------------


def test_data_key_seed_example() -> None:
    key = data_key()
    assert key.bucket == "dev-trippl-data"
    assert key.key == "raw/listings/ca/qc/101/20261128/001-20261128T102503.csv.gz"
    assert key.path == SEED_PATH
    assert key.prefix == "dev-trippl-data/raw/listings/ca/qc/101/20261128/"
    assert key.file_date == date(2026, 11, 28)


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        (
            dict(env="app", stage="transformed", domain="events", fmt="json", batch=42),
            "app-trippl-data/transformed/events/ca/qc/101/20261128/042-20261128T102503.json.gz",
        ),
        (
            dict(env="staging", domain="reviews", fmt="xls", batch=999, dmo_id=7),
            "staging-trippl-data/raw/reviews/ca/qc/7/20261128/999-20261128T102503.xls.gz",
        ),
        (dict(state=None), "dev-trippl-data/raw/listings/ca/_/101/20261128/001-20261128T102503.csv.gz"),
        (dict(state=""), "dev-trippl-data/raw/listings/ca/_/101/20261128/001-20261128T102503.csv.gz"),
        (
            dict(country="us", state="NY"),
            "dev-trippl-data/raw/listings/us/ny/101/20261128/001-20261128T102503.csv.gz",
        ),
        (
            dict(env=Environment.staging),
            "staging-trippl-data/raw/listings/ca/qc/101/20261128/001-20261128T102503.csv.gz",
        ),
    ],
)
def test_data_key_paths(overrides: dict[str, Any], path: str) -> None:
    key = data_key(**overrides)
    assert key.path == path
    assert key.path == f"{key.bucket}/{key.key}"


def test_data_key_uses_utc_for_date_and_timestamp() -> None:
    # 23:30 in Montréal on the 27th is already the 28th in UTC: both the folder and the stamp follow UTC.
    montreal = timezone(timedelta(hours=-5))
    key = data_key(when=datetime(2026, 11, 27, 23, 30, 0, 123456, tzinfo=montreal))
    assert key.path.endswith("/20261128/001-20261128T043000.csv.gz")
    assert key.when == datetime(2026, 11, 28, 4, 30, tzinfo=UTC)
    assert key.state == "qc" and key.country == "ca" and key.env == "dev"


def test_data_key_is_frozen_and_hashable() -> None:
    key = data_key()
    with pytest.raises(AttributeError):
        key.batch = 2  # type: ignore[misc]
    assert key == data_key(country="ca", state="qc")
    assert len({key, data_key(country="ca"), data_key(batch=2)}) == 2


# --- DataKey.parse --------------------------------------------------------------------------------


def test_parse_seed_example() -> None:
    key = DataKey.parse(SEED_PATH)
    assert key == data_key()
    assert (key.country, key.state, key.dmo_id, key.batch, key.fmt) == ("ca", "qc", 101, 1, "csv")
    assert key.when == WHEN and key.when.tzinfo is UTC


@pytest.mark.parametrize(
    "key",
    [
        data_key(),
        data_key(state=None),
        data_key(env="app", stage="transformed", domain="events", fmt="json", batch=999, dmo_id=0),
        data_key(when=datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC), batch=10),
    ],
    ids=lambda k: k.path,
)
def test_parse_round_trip(key: DataKey) -> None:
    assert DataKey.parse(key.path) == key
    assert DataKey.parse(key.path).path == key.path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "raw/listings/ca/qc/101/20261128/001-20261128T102503.csv.gz",  # no bucket
        "s3://dev-trippl-data/raw/listings/ca/qc/101/20261128/001-20261128T102503.csv.gz",
        "dev-trippl-images/raw/listings/ca/qc/101/20261128/001-20261128T102503.csv.gz",
        "dev-trippl-data/raw/listings/ca/qc/101/20261128/001-20261128T102503.csv",  # not gzipped
        "dev-trippl-data/raw/listings/ca/qc/101/20261128/1-20261128T102503.csv.gz",  # batch not 3 digits
        "dev-trippl-data/raw/listings/ca/qc/101/20261128/001-20261128-102503.csv.gz",
        "dev-trippl-data/raw/listings/ca/101/20261128/001-20261128T102503.csv.gz",  # state folder missing
        "dev-trippl-data/raw/listings/ca/qc/abc/20261128/001-20261128T102503.csv.gz",
        "dev-trippl-data/raw/listings/ca/qc/101/20261128/001-20261128T102503.csv.gz/extra",
    ],
)
def test_parse_rejects_malformed_paths(path: str) -> None:
    with pytest.raises(ValueError, match="not a data object path"):
        DataKey.parse(path)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("prod-trippl-data/raw/listings/ca/qc/101/20261128/001-20261128T102503.csv.gz", "env"),
        ("dev-trippl-data/cooked/listings/ca/qc/101/20261128/001-20261128T102503.csv.gz", "stage"),
        ("dev-trippl-data/raw/hotels/ca/qc/101/20261128/001-20261128T102503.csv.gz", "domain"),
        ("dev-trippl-data/raw/listings/ca/qc/101/20261128/001-20261128T102503.xml.gz", "fmt"),
        ("dev-trippl-data/raw/listings/can/qc/101/20261128/001-20261128T102503.csv.gz", "country"),
        ("dev-trippl-data/raw/listings/ca/qc/101/20261128/000-20261128T102503.csv.gz", "batch"),
        (
            "dev-trippl-data/raw/listings/ca/qc/101/20261128/001-20261128T256503.csv.gz",
            "invalid data object path",
        ),
        ("dev-trippl-data/raw/listings/ca/qc/101/20261127/001-20261128T102503.csv.gz", "does not match"),
    ],
)
def test_parse_rejects_bad_parts_with_clear_message(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        DataKey.parse(path)
    assert path in str(info.value)


# --- DataKey validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (dict(env="prod"), "env"),
        (dict(env="DEV"), "env"),
        (dict(stage="staged"), "stage"),
        (dict(domain="hotels"), "domain"),
        (dict(fmt="xlsx"), "fmt"),
        (dict(fmt="csv.gz"), "fmt"),
        (dict(batch=0), "batch"),
        (dict(batch=1000), "batch"),
        (dict(batch=-1), "batch"),
        (dict(batch="1"), "batch"),
        (dict(batch=True), "batch"),
        (dict(country="CAN"), "country"),
        (dict(country="C"), "country"),
        (dict(country="c1"), "country"),
        (dict(country="é1"), "country"),
        (dict(country=None), "country"),
        (dict(state="qc/x"), "state"),
        (dict(state="../x"), "state"),
        (dict(dmo_id=-1), "dmo_id"),
        (dict(dmo_id="101"), "dmo_id"),
        (dict(when=datetime(2026, 11, 28, 10, 25, 3)), "timezone-aware"),
        (dict(when=date(2026, 11, 28)), "when"),
    ],
)
def test_data_key_validation_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=re.escape(field)):
        data_key(**overrides)


def test_dataclass_replace_revalidates() -> None:
    assert replace(data_key(), batch=2).path.endswith("/002-20261128T102503.csv.gz")
    with pytest.raises(ValueError, match="batch"):
        replace(data_key(), batch=1000)


# --- ImageKey -------------------------------------------------------------------------------------


def test_image_key_path() -> None:
    key = image_key()
    assert key.bucket == "dev-trippl-images"
    assert key.key == "ca/qc/101/5521/front-view.jpg"
    assert key.path == "dev-trippl-images/ca/qc/101/5521/front-view.jpg"


def test_image_key_normalises_and_round_trips() -> None:
    key = image_key(env="app", country="FR", state=None, ext=".JPEG", filename="img_01.large")
    assert key.path == "app-trippl-images/fr/_/101/5521/img_01.large.jpeg"
    assert ImageKey.parse(key.path) == key


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (dict(filename=".hidden"), "filename"),
        (dict(filename="a/b"), "filename"),
        (dict(filename="Front View"), "filename"),
        (dict(filename=""), "filename"),
        (dict(filename=".."), "filename"),
        (dict(filename="x" * 151), "filename"),
        (dict(ext=""), "ext"),
        (dict(ext="jp g"), "ext"),
        (dict(env="prod"), "env"),
        (dict(country="CAN"), "country"),
        (dict(listing_id=-5), "listing_id"),
        (dict(listing_id="5521"), "listing_id"),
    ],
)
def test_image_key_validation(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=re.escape(field)):
        image_key(**overrides)


@pytest.mark.parametrize(
    "path",
    [
        "dev-trippl-data/ca/qc/101/5521/front-view.jpg",
        "dev-trippl-images/ca/qc/101/5521/front-view",
        "dev-trippl-images/ca/qc/101/5521/sub/front-view.jpg",
    ],
)
def test_image_key_parse_rejects(path: str) -> None:
    with pytest.raises(ValueError, match="image object path"):
        ImageKey.parse(path)


# --- safe_filename --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("front-view", "front-view"),
        ("Front View.JPG", "front-view.jpg"),
        ("Château Frontenac (été) #2.png", "chateau-frontenac-ete-2.png"),
        ("photo_01.large.jpeg", "photo_01.large.jpeg"),
        (".htaccess", "htaccess"),
        ("../../etc/passwd", "etc-passwd"),
        ("a\\b\\c.gif", "a-b-c.gif"),
        ("  --weird--name--  ", "weird-name"),
        ("image%20name.jpg", "image-20name.jpg"),
    ],
)
def test_safe_filename_cases(text: str, expected: str) -> None:
    assert safe_filename(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "...", "///", "東京タワー", "😀", "x" * 400, "Ünïcödé " * 60, "a/" * 200, "-.-._"],
)
def test_safe_filename_is_always_a_valid_image_name(text: str) -> None:
    name = safe_filename(text)
    assert re.fullmatch(r"[a-z0-9_-][a-z0-9._-]*", name), name
    assert "/" not in name and not name.startswith(".")
    assert image_key(filename=name).filename == name
    assert safe_filename(text) == name  # deterministic


def test_safe_filename_keeps_distinct_names_apart() -> None:
    assert safe_filename("東京タワー") != safe_filename("大阪城")
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    assert safe_filename(long_a) != safe_filename(long_b)
    assert len(safe_filename(long_a)) <= 150
