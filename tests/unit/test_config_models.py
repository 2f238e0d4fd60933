"""DMO config validation: good configs normalise; bad ones name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from listings.config.models import DmoConfig
from listings.config.store import ConfigError, config_files, content_hash, load_config_file, parse_config

GOOD = {
    "dmo": {"id": 101, "name": "Visit Example", "dmo_type": "SCRAPED", "country": "ca", "state": "qc"},
    "source_type": "csv",
    "data_domain": "listings",
    "schedule": "manual",
    "base_url": None,
    "field_mappings": {
        "name": "Name",
        "address1": "Address1",
        "city": "City",
        "zip": "Postal",
        "phone": "Phone",
    },
    "config_params": {},
}


def test_good_config_is_normalised() -> None:
    cfg = parse_config(GOOD)
    assert cfg.dmo.country == "CA" and cfg.dmo.state == "QC"
    assert cfg.dag_id == "dmo_101_listings"
    assert cfg.dmo.dmo_type.type_id == 1
    # csv params get their defaults filled, so equal configs hash equally
    assert cfg.config_params == {"file": None, "encoding": None, "delimiter": None, "image_separator": "|"}
    assert content_hash(cfg) == content_hash(
        parse_config({**GOOD, "config_params": {"image_separator": "|"}})
    )


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"source_type": "ftp"}, "source_type", "Input should be"),
        ({"schedule": "every minute"}, "schedule", "Input should be"),
        ({"dmo": {**GOOD["dmo"], "country": "Canada"}}, "dmo.country", "two-letter"),
        ({"dmo": {**GOOD["dmo"], "id": 0}}, "dmo.id", "greater than 0"),
        ({"dmo": {**GOOD["dmo"], "dmo_type": "FRIEND"}}, "dmo.dmo_type", "Input should be"),
        ({"field_mappings": {"nom": "Name"}}, "field_mappings", "unknown canonical field(s) nom"),
        ({"field_mappings": {"address1": "Address"}}, "(document)", "must map `name`"),
        ({"config_params": {"delimeter": ";"}}, "delimeter", "Extra inputs are not permitted"),
        ({"base_url": "not a url"}, "base_url", "URL"),
        ({"colour": "blue"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_bad_config_names_the_field(change: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({**GOOD, **change}, "dmos/bad.yaml")
    message = str(err.value)
    assert message.startswith("dmos/bad.yaml: ")
    assert field in message and words in message


def test_yaml_file_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("dmo: {id: 1\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: \(yaml\)"):
        load_config_file(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(ConfigError, match=r"scalar\.yaml: \(document\): expected a mapping"):
        load_config_file(scalar)


def test_config_files_expands_folders_in_order(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert sorted(p.name for p in config_files([tmp_path])) == ["a.yml", "b.yaml"]


def test_bundled_demo_configs_are_valid() -> None:
    folder = Path(__file__).resolve().parents[2] / "include" / "config" / "dmos"
    files = config_files([folder])
    assert files, "the demo needs at least one DMO config"
    configs = [load_config_file(p) for p in files]
    assert any(c.source_type.value == "csv" for c in configs)
    assert len({c.dag_id for c in configs}) == len(configs)
    assert all(isinstance(c, DmoConfig) for c in configs)
