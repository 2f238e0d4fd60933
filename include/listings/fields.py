"""The canonical record's fields, in one place: what a source field can be mapped to, which section of the
record each belongs to, where it is stored (staging and public use the same table and, but for the source
id, the same column names), and whether an admin can lock it.

Everything else derives from `FIELDS`: the config's mappable fields, the record's sections and hashes, the
staging COPY columns, the admin's lockable fields and their form labels, and the lock lists of the dbt
promotion (`dbt_lock_vars`, written into dbt/dbt_project.yml's `vars`). tests/unit/test_fields.py checks the
tables, the dbt staging models and those vars against it. Adding a social network is one line below (and a
migration for its column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Section = Literal["id", "info", "location", "contact", "images"]


@dataclass(frozen=True)
class Field:
    name: str  # the canonical name: a DMO config maps a source field to it; the transformed record's key
    section: Section
    label: str
    table: str | None = None  # where it is stored: listing_info, locations or contact_info
    # The columns of `table` holding it, each with the record key it is copied from (phone: the source's
    # national form and the E.164 form).
    columns: tuple[tuple[str, str], ...] = ()
    lockable: bool = False  # an admin's value for it survives later imports (listing_info.locked_fields)
    social: bool = False
    public_column: str | None = None  # the public table's column when its name differs from staging's

    @property
    def column(self) -> str:
        """The column an admin edits and a lock protects (phone: the E.164 one)."""
        return self.columns[-1][0]


def _social(name: str, label: str) -> Field:
    return Field(name, "contact", label, "contact_info", ((f"{name}_url", name),), lockable=True, social=True)


def _location(name: str, label: str) -> Field:
    return Field(name, "location", label, "locations", ((name, name),))


FIELDS: tuple[Field, ...] = (
    Field(
        "source_id",
        "id",
        "Source id",
        "listing_info",
        (("source_id", "source_id"),),
        public_column="external_source_id",
    ),
    Field("name", "info", "Name", "listing_info", (("name", "name"),), lockable=True),
    Field(
        "description", "info", "Description", "listing_info", (("description", "description"),), lockable=True
    ),
    Field("category", "info", "Category", "listing_info", (("category", "category"),), lockable=True),
    _location("address1", "Address"),
    _location("address2", "Address (2)"),
    _location("city", "City"),
    _location("state", "State"),
    _location("zip", "Postal code"),
    _location("country", "Country"),
    _location("lat", "Latitude"),
    _location("lng", "Longitude"),
    Field(
        "phone",
        "contact",
        "Phone",
        "contact_info",
        (("local_phone", "phone"), ("international_phone", "phone_e164")),
        lockable=True,
    ),
    Field("email", "contact", "E-mail", "contact_info", (("email", "email"),), lockable=True),
    Field("website", "contact", "Website", "contact_info", (("website_url", "website"),), lockable=True),
    _social("facebook", "Facebook"),
    _social("instagram", "Instagram"),
    _social("youtube", "YouTube"),
    _social("tiktok", "TikTok"),
    _social("twitter", "X / Twitter"),
    _social("pinterest", "Pinterest"),
    _social("tripadvisor", "Tripadvisor"),
    _social("yelp", "Yelp"),
    Field(
        "opening_hours",
        "contact",
        "Opening hours",
        "listing_info",
        (("opening_hours_text", "opening_hours"),),
        lockable=True,
    ),
    Field("images", "images", "Images"),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

# What a DMO config can map a source field to, in the record's order.
CANONICAL_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS)
# The record's sections (each is hashed on its own: a change to one updates only its rows).
INFO_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.section == "info")
LOCATION_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.section == "location")
CONTACT_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.section == "contact")
SOCIAL_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.social)
# Every scalar field (all but the image list), in the record's order.
SCALAR_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.section != "images")
# The contact_info columns a record fills, in order, with the record key each is copied from.
CONTACT_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    c for f in FIELDS if f.table == "contact_info" for c in f.columns
)
# The fields an admin can set and lock on a DMO's listing_info: name -> (table, column).
LOCKABLE_INFO_FIELDS: dict[str, tuple[str, str]] = {
    f.name: (f.table, f.column) for f in FIELDS if f.lockable and f.table is not None
}


def staging_model_column(table: str, column: str) -> str:
    """The column of the dbt staging model `stg_staging__<table>` that carries `column` (the DMO's name is
    `info_name` there: `name` is the canonical listing's)."""
    return "info_name" if (table, column) == ("listing_info", "name") else column


def dbt_lock_vars() -> dict[str, Any]:
    """The lock lists of the dbt promotion (dbt_project.yml `vars`): `info_locks` as (field, public column,
    change-set column) for the listing_info columns, `contact_locks` as (field, column) for contact_info."""
    info, contact = [], []
    for f in FIELDS:
        if not f.lockable:
            continue
        for column, _key in f.columns:
            if f.table == "listing_info":
                info.append([f.name, f"li.{column}", staging_model_column(f.table, column)])
            else:
                contact.append([f.name, column])
    return {"info_locks": info, "contact_locks": contact}
