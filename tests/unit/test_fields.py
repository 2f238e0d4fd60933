"""The field registry (`listings.fields`) against what is derived from it by hand: the tables of both schemas,
the dbt staging models and the promotion's lock lists."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from listings import fields
from listings.db import tables as t

REPO = Path(__file__).resolve().parents[2]
STORED = [(f, f.table, column) for f in fields.FIELDS if f.table for column, _key in f.columns]


@pytest.mark.parametrize("schema", ["public", "staging"])
def test_every_stored_field_has_its_column_in_both_schemas(schema: str) -> None:
    missing = []
    for f, table, column in STORED:
        if schema == "public":
            column = f.public_column or column
        if column not in t.metadata.tables[table if schema == "public" else f"staging.{table}"].c:
            missing.append(f"{schema}.{table}.{column} ({f.name})")
    assert missing == []


def test_the_dbt_staging_models_carry_every_stored_field() -> None:
    models = {
        m["name"]: {c["name"] for c in m.get("columns", [])}
        for m in yaml.safe_load((REPO / "dbt/models/staging/_models.yml").read_text())["models"]
    }
    missing = [
        f"stg_staging__{table}.{fields.staging_model_column(table, column)} ({f.name})"
        for f, table, column in STORED
        if fields.staging_model_column(table, column) not in models[f"stg_staging__{table}"]
    ]
    assert missing == []


def test_the_dbt_lock_lists_are_the_registrys() -> None:
    project = yaml.safe_load((REPO / "dbt/dbt_project.yml").read_text())
    wanted = fields.dbt_lock_vars()
    assert {k: project["vars"][k] for k in wanted} == wanted, (
        f"dbt/dbt_project.yml vars must be: {yaml.safe_dump(wanted, default_flow_style=None)}"
    )


def test_sections_and_derived_lists() -> None:
    assert tuple(n for n in fields.CANONICAL_FIELDS if n != "images") == fields.SCALAR_FIELDS
    # the record's content hashes read these in this order: reordering them would change every hash
    assert fields.LOCATION_FIELDS == ("address1", "address2", "city", "state", "zip", "country", "lat", "lng")
    assert fields.CONTACT_FIELDS[0] == "phone" and fields.CONTACT_FIELDS[-1] == "opening_hours"
    assert set(fields.SOCIAL_FIELDS) <= set(fields.LOCKABLE_INFO_FIELDS)
    assert fields.LOCKABLE_INFO_FIELDS["phone"] == ("contact_info", "international_phone")
