"""Manual edits to the catalogue, the service functions behind the admin UI and API.

An edit writes the value to `public`, stamps `manually_modified*` (who, when) and adds the field to the
row's `locked_fields`: promotion never overwrites a locked field, and when a later import brings a
different value for it, promotion queues a `manual_edit_conflict` review item showing both. Accepting
it (`resolve_conflict(..., accept_source=True)`) applies the source value and unlocks the field;
dismissing it keeps the admin's value. Every action is recorded in `pipeline.listing_edits`.

Hashes stay the source's: an edit never changes `content_hash`, `contact_hash` or `location_hash`, so
the next import of unchanged source data is still "unchanged" and writes nothing.
Raw and transformed files are never touched.

Lockable fields
- a listing (`listings.locked_fields`): `name`, `location` (address1, address2, city, state, zip,
  country, lat, lng as one value);
- a listing_info (`listing_info.locked_fields`): `listings.fields.LOCKABLE_INFO_FIELDS`, plus `visibility` (set when an
  admin hides or shows it: a hidden listing_info is not made visible again by an import).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from listings import fields
from listings.fields import LOCATION_FIELDS, LOCKABLE_INFO_FIELDS
from listings.matching.features import match_keys
from listings.transform.categories import load_vocabulary
from listings.transform.limits import over_limit, too_long_message
from listings.transform.normalize import (
    normalize_email,
    normalize_phone,
    normalize_postal,
    normalize_social,
    normalize_website,
    safe_description,
    website_host,
)

LISTING_FIELDS = ("name", "location")
# contact_info's columns (an edit writes a new row: the DMO's other values are copied)
CONTACT_COLUMNS = ("name", *(c for c, _ in fields.CONTACT_COLUMNS), "contact_hash", "website_host")


class EditError(ValueError):
    """A rejected edit: unknown row or field, or a value that does not validate. Nothing was written."""


@dataclass(frozen=True)
class Target:
    listing_id: int
    listing_info_id: int | None
    country: str


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------


def clean_info_value(field: str, value: Any, *, country: str) -> Any:
    """The value stored for a listing_info field, normalised as transform would; EditError if invalid."""
    if field not in LOCKABLE_INFO_FIELDS:
        raise EditError(f"unknown field {field!r}; editable: {', '.join(LOCKABLE_INFO_FIELDS)}")
    if value is None or (isinstance(value, str) and not value.strip()):
        if field == "name":
            raise EditError("name: must not be empty")
        return None
    text_value = str(value).strip()
    _check_length(field, field, text_value)
    if field == "category":
        vocab = load_vocabulary()
        if text_value not in vocab.ids:
            raise EditError(f"category: {text_value!r} is not in the vocabulary")
        return text_value
    if field == "description":
        return safe_description(text_value)
    if field == "email":
        email = normalize_email(text_value)
        if not email:
            raise EditError(f"email: {text_value!r} is not an e-mail address")
        return email
    if field == "phone":
        phone = normalize_phone(text_value, country=country)
        if phone is None or not phone.e164:
            raise EditError(f"phone: {text_value!r} is not a complete phone number for {country}")
        return phone.e164
    if field == "website":
        url = normalize_website(text_value)
        if not url:
            raise EditError(f"website: {text_value!r} is not a web address")
        return url
    if LOCKABLE_INFO_FIELDS[field][0] == "contact_info":  # a social profile
        url = normalize_social(text_value, LOCKABLE_INFO_FIELDS[field][1])
        if not url:
            raise EditError(f"{field}: {text_value!r} is not a {field} profile address")
        return url
    return text_value


def clean_name(value: Any) -> str:
    """A listing's canonical name as stored; EditError if empty or too long."""
    name = str(value or "").strip()
    if not name:
        raise EditError("name: must not be empty")
    _check_length("name", "name", name)
    return name


def _check_length(field: str, label: str, value: str | None) -> None:
    """EditError when `value` is longer than the field's limit (listings.transform.limits, as in imports)."""
    limit = over_limit(field, value)
    if limit is not None and value is not None:
        raise EditError(too_long_message(label, len(value), limit))


def clean_location(value: Mapping[str, Any], *, country: str) -> dict[str, Any]:
    unknown = sorted(set(value) - set(LOCATION_FIELDS))
    if unknown:
        raise EditError(
            f"location: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(LOCATION_FIELDS)}"
        )
    out: dict[str, Any] = {k: (str(v).strip() or None) if v is not None else None for k, v in value.items()}
    for key, text_value in out.items():
        _check_length(key, f"location.{key}", text_value)
    for key, limit in (("lat", 90), ("lng", 180)):
        if out.get(key) is not None:
            try:
                number = float(out[key])
            except ValueError:
                raise EditError(f"location.{key}: {out[key]!r} is not a number") from None
            if not -limit <= number <= limit:
                raise EditError(f"location.{key}: {number} is outside [-{limit}, {limit}]")
            out[key] = number
    if out.get("country") is not None and not (len(out["country"]) == 2 and out["country"].isalpha()):
        raise EditError(f"location.country: {out['country'][:40]!r} is not a two-letter ISO country code")
    if out.get("country") is not None:
        out["country"] = out["country"].upper()
    if ("lat" in out) != ("lng" in out) or (out.get("lat") is None) != (out.get("lng") is None):
        raise EditError("location: give lat and lng together")
    if out.get("zip"):
        out["zip"] = normalize_postal(out["zip"], country=out.get("country") or country) or out["zip"]
    return out


# ------------------------------------------------------------------------------------------------
# Edits
# ------------------------------------------------------------------------------------------------


def edit_listing_info(
    conn: Connection, listing_info_id: int, changes: Mapping[str, Any], *, user: str
) -> list[str]:
    """Set and lock listing_info fields (see LOCKABLE_INFO_FIELDS); returns the fields whose value changed."""
    target = info_target(conn, listing_info_id)
    values = {f: clean_info_value(f, v, country=target.country) for f, v in changes.items()}
    if not values:
        raise EditError("nothing to change")
    current = info_values(conn, listing_info_id)
    changed = [f for f, v in values.items() if current.get(f) != v]
    _write_info_values(conn, listing_info_id, {f: values[f] for f in changed})
    _lock(conn, "listing_info", listing_info_id, list(values), user)
    log_edit(conn, target, "edit", user, [(f, current.get(f), values[f]) for f in changed])
    return changed


def edit_listing(conn: Connection, listing_id: int, changes: Mapping[str, Any], *, user: str) -> list[str]:
    """Set and lock the canonical `name` and/or `location` (a mapping of LOCATION_FIELDS) of a listing."""
    target = listing_target(conn, listing_id)
    unknown = sorted(set(changes) - set(LISTING_FIELDS))
    if unknown or not changes:
        raise EditError(f"unknown field(s) {', '.join(unknown) or '(none)'}; editable: name, location")
    entries: list[tuple[str, Any, Any]] = []
    if "name" in changes:
        name = clean_name(changes["name"])
        old = conn.execute(text("select name from public.listings where id = :i"), {"i": listing_id}).scalar()
        if old != name:
            conn.execute(
                text("update public.listings set name = :n, name_key = :k where id = :i"),
                {"n": name, "k": match_keys({"name": name})["name_key"], "i": listing_id},
            )
            entries.append(("name", old, name))
    if "location" in changes:
        if not isinstance(changes["location"], Mapping):
            raise EditError("location: give a mapping of " + ", ".join(LOCATION_FIELDS))
        location = clean_location(changes["location"], country=target.country)
        old_loc, new_loc = _write_location(conn, listing_id, location)
        if old_loc != new_loc:
            entries.append(("location", old_loc, new_loc))
    _lock(conn, "listings", listing_id, list(changes), user)
    log_edit(conn, target, "edit", user, entries)
    conn.execute(text("select pipeline.refresh_listing_match(array[:i])"), {"i": listing_id})
    return [e[0] for e in entries]


def unlock(conn: Connection, *, field: str, user: str, listing_id: int | None = None,
           listing_info_id: int | None = None) -> None:  # fmt: skip
    """Let imports set `field` again (the current value stays until the next change from the source)."""
    if (listing_id is None) == (listing_info_id is None):
        raise EditError("give a listing_id or a listing_info_id")
    if listing_info_id is not None:
        target, table, row = info_target(conn, listing_info_id), "listing_info", listing_info_id
    else:
        assert listing_id is not None
        target, table, row = listing_target(conn, listing_id), "listings", listing_id
    conn.execute(
        text(f"update public.{table} set locked_fields = array_remove(locked_fields, :f) where id = :i"),
        {"f": field, "i": row},
    )
    log_edit(conn, target, "unlock", user, [(field, None, None)])


# ------------------------------------------------------------------------------------------------
# Visibility and lifecycle
# ------------------------------------------------------------------------------------------------


def hide_listing_info(conn: Connection, listing_info_id: int, *, user: str, reason: str = "") -> None:
    """Hide one DMO's listing_info by hand: removed for that DMO, and imports do not bring it back."""
    target = info_target(conn, listing_info_id)
    conn.execute(
        text(
            "update public.listing_info set info_visible = false, info_status = 'removed', status_reason = :r,"
            " status_changed_at = now(), updated_at = now() where id = :i"
        ),
        {"i": listing_info_id, "r": reason or f"hidden by {user}"},
    )
    _lock(conn, "listing_info", listing_info_id, ["visibility"], user)
    log_edit(conn, target, "hide", user, [("visibility", True, False)])


def show_listing_info(conn: Connection, listing_info_id: int, *, user: str) -> None:
    """Make a hidden or removed listing_info visible again (and keep it so: the sweep may remove it
    again only once the lock is released)."""
    target = info_target(conn, listing_info_id)
    other = conn.execute(
        text(
            "select o.id from public.listing_info o join public.listing_info li on li.id = :i"
            " where o.listing_id = li.listing_id and o.dmo_id = li.dmo_id and o.id <> li.id and o.info_visible"
        ),
        {"i": listing_info_id},
    ).scalar()
    if other is not None:
        raise EditError(
            f"listing_info {other} of the same DMO is already shown for this listing: hide it first"
        )
    conn.execute(
        text(
            "update public.listing_info set info_visible = true, info_status = 'active', status_reason = null,"
            " status_changed_at = now(), updated_at = now() where id = :i"
        ),
        {"i": listing_info_id},
    )
    _lock(conn, "listing_info", listing_info_id, ["visibility"], user)
    log_edit(conn, target, "show", user, [("visibility", False, True)])


def archive_listing(conn: Connection, listing_id: int, *, user: str, reason: str = "") -> None:
    """Archive a listing: hidden for every DMO (their listing_info rows are left as they are)."""
    target = listing_target(conn, listing_id)
    if _listing_status(conn, listing_id) == "archived":
        raise EditError(f"listing {listing_id} is already archived")
    conn.execute(
        text(
            "update public.listings set listing_status = 'archived', listing_visible = false, status_reason = :r,"
            " status_changed_at = now(), updated_at = now(), manually_modified = true,"
            " manually_modified_at = now(), manually_modified_by = :u where id = :i"
        ),
        {"i": listing_id, "r": reason or f"archived by {user}", "u": user},
    )
    log_edit(conn, target, "archive", user, [("listing_status", "active", "archived")])


def restore_listing(conn: Connection, listing_id: int, *, user: str) -> None:
    """Bring an archived listing back, for every DMO."""
    target = listing_target(conn, listing_id)
    status = _listing_status(conn, listing_id)
    if status != "archived":
        raise EditError(f"listing {listing_id} is {status}, not archived: nothing to restore")
    conn.execute(
        text(
            "update public.listings set listing_status = 'active', listing_visible = true, status_reason = null,"
            " status_changed_at = now(), updated_at = now(), manually_modified = true,"
            " manually_modified_at = now(), manually_modified_by = :u where id = :i"
        ),
        {"i": listing_id, "u": user},
    )
    log_edit(conn, target, "restore", user, [("listing_status", "archived", "active")])


# ------------------------------------------------------------------------------------------------
# Conflicts between a manual edit and a later import
# ------------------------------------------------------------------------------------------------


def resolve_conflict(conn: Connection, review_item_id: int, *, accept_source: bool, user: str) -> None:
    """Accept the source's value (applied, field unlocked) or keep the admin's (item dismissed)."""
    item = conn.execute(
        text(
            "select id, item_type, status, listing_id, listing_info_id, payload from pipeline.review_items"
            " where id = :i for update"
        ),
        {"i": review_item_id},
    ).one_or_none()
    if item is None or item.item_type != "manual_edit_conflict":
        raise EditError(f"review item {review_item_id} is not a manual-edit conflict")
    if item.status != "open":
        raise EditError(f"review item {review_item_id} is already {item.status}")
    field, level, source_value = item.payload["field"], item.payload["level"], item.payload["source_value"]
    if accept_source:
        if level == "listing":
            target = listing_target(conn, item.listing_id)
            if field == "name":
                conn.execute(
                    text("update public.listings set name = :n, name_key = :k where id = :i"),
                    {
                        "n": source_value,
                        "k": match_keys({"name": source_value})["name_key"],
                        "i": item.listing_id,
                    },
                )
            else:
                _write_location(conn, item.listing_id, dict(source_value))
            conn.execute(text("select pipeline.refresh_listing_match(array[:i])"), {"i": item.listing_id})
            table, row = "listings", item.listing_id
        else:
            target = info_target(conn, item.listing_info_id)
            _write_info_values(conn, item.listing_info_id, {field: source_value})
            table, row = "listing_info", item.listing_info_id
        conn.execute(
            text(f"update public.{table} set locked_fields = array_remove(locked_fields, :f) where id = :i"),
            {"f": field, "i": row},
        )
    else:
        target = (
            info_target(conn, item.listing_info_id)
            if level == "listing_info"
            else listing_target(conn, item.listing_id)
        )
    conn.execute(
        text(
            "update pipeline.review_items set status = :s, resolved_at = now(), resolved_by = :u, resolution = :r"
            " where id = :i"
        ),
        {
            "s": "resolved" if accept_source else "dismissed",
            "u": user,
            "r": "accept_source" if accept_source else "keep_manual",
            "i": review_item_id,
        },
    )
    log_edit(
        conn,
        target,
        "accept_source" if accept_source else "keep_manual",
        user,
        [(field, item.payload.get("manual_value"), source_value if accept_source else None)],
        review_item_id=review_item_id,
    )


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def info_target(conn: Connection, listing_info_id: int) -> Target:
    row = conn.execute(
        text(
            "select li.listing_id, d.country from public.listing_info li join public.dmos d on d.id = li.dmo_id"
            " where li.id = :i"
        ),
        {"i": listing_info_id},
    ).one_or_none()
    if row is None:
        raise EditError(f"no listing_info {listing_info_id}")
    return Target(row.listing_id, listing_info_id, (row.country or "CA").strip())


def _listing_status(conn: Connection, listing_id: int) -> str:
    """The listing's status, its row locked for the caller's transaction; a merged listing is refused."""
    row = conn.execute(
        text("select listing_status, merged_into_id from public.listings where id = :i for update"),
        {"i": listing_id},
    ).one()
    if row.listing_status == "merged":
        raise EditError(f"listing {listing_id} was merged into listing {row.merged_into_id}: act on that one")
    return str(row.listing_status)


def listing_target(conn: Connection, listing_id: int) -> Target:
    row = conn.execute(
        text(
            "select l.id, coalesce(loc.country, 'CA') as country from public.listings l"
            " left join public.locations loc on loc.id = l.location_id where l.id = :i"
        ),
        {"i": listing_id},
    ).one_or_none()
    if row is None:
        raise EditError(f"no listing {listing_id}")
    return Target(listing_id, None, row.country.strip())


def info_values(conn: Connection, listing_info_id: int) -> dict[str, Any]:
    row = conn.execute(
        text(
            "select li.name, li.description, li.category, li.opening_hours_text, ci.* from public.listing_info li"
            " left join public.contact_info ci on ci.id = li.contact_info_id where li.id = :i"
        ),
        {"i": listing_info_id},
    ).one()
    m = row._mapping
    out = {"name": m["name"], "description": m["description"], "category": m["category"],
           "opening_hours": m["opening_hours_text"]}  # fmt: skip
    for field, (table, column) in LOCKABLE_INFO_FIELDS.items():
        if table == "contact_info":
            out[field] = m[column]
    return out


def _write_info_values(conn: Connection, listing_info_id: int, values: Mapping[str, Any]) -> None:
    own = {
        LOCKABLE_INFO_FIELDS[f][1]: v
        for f, v in values.items()
        if LOCKABLE_INFO_FIELDS[f][0] == "listing_info"
    }
    contact = {
        LOCKABLE_INFO_FIELDS[f][1]: v
        for f, v in values.items()
        if LOCKABLE_INFO_FIELDS[f][0] == "contact_info"
    }
    if own:
        sets = ", ".join(f"{column} = :{column}" for column in own)
        conn.execute(
            text(f"update public.listing_info set {sets}, updated_at = now() where id = :i"),
            {**own, "i": listing_info_id},
        )
    if contact:
        # A new contact_info row (contact rows are shared history, never edited in place), same hash.
        if "website_url" in contact:
            contact["website_host"] = website_host(contact["website_url"])
        if "international_phone" in contact:
            contact["local_phone"] = None  # the source's national form no longer matches
        columns = ", ".join(CONTACT_COLUMNS)
        picks = ", ".join(f":{c}" if c in contact else f"ci.{c}" for c in CONTACT_COLUMNS)
        conn.execute(
            text(
                f"""
                with old as (
                    select ci.* from public.listing_info li
                    left join public.contact_info ci on ci.id = li.contact_info_id where li.id = :i
                ), new as (
                    insert into public.contact_info ({columns}, created_at, updated_at)
                    select {picks}, now(), now() from old as ci
                    returning id
                )
                update public.listing_info set contact_info_id = (select id from new), updated_at = now()
                where id = :i
                """
            ),
            {**contact, "i": listing_info_id},
        )


def _write_location(
    conn: Connection, listing_id: int, location: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new locations row: the current one with `location` applied (same location hash); the listing is
    repointed. Returns the old and new values."""
    current = (
        conn.execute(
            text(
                "select loc.* from public.listings l left join public.locations loc on loc.id = l.location_id"
                " where l.id = :i"
            ),
            {"i": listing_id},
        )
        .one()
        ._mapping
    )
    old = {k: plain_value(current[k]) for k in LOCATION_FIELDS}
    new = {**old, **location}
    if new == old:
        return old, new
    country = (new.get("country") or "CA").strip()
    keys = match_keys({**new, "country": country})
    conn.execute(
        text(
            """
            with new as (
                insert into public.locations (address1, address2, city, state, zip, country, lat, lng, geog,
                    location_hash, address_key, house_number, city_key, region_key, created_at, updated_at)
                values (:address1, :address2, :city, :state, :zip, :country, :lat, :lng,
                    case when cast(:lat as float8) is not null and cast(:lng as float8) is not null then
                        st_setsrid(st_makepoint(cast(:lng as float8), cast(:lat as float8)), 4326)::geography end,
                    :hash, :akey, :number, :ckey, :rkey, now(), now())
                returning id
            )
            update public.listings set location_id = (select id from new), updated_at = now() where id = :i
            """
        ),
        {
            **new,
            "i": listing_id,
            "hash": current["location_hash"],
            # the keys transform stores (listings.matching.features.match_keys), so that matching finds
            # an edited location by the same blocks as an imported one
            "akey": keys["address_key"],
            "number": keys["house_number"],
            "ckey": keys["city_key"],
            "rkey": keys["region_key"],
        },
    )
    return old, new


def plain_value(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    return value.strip() if isinstance(value, str) else value


def _lock(conn: Connection, table: str, row: int, fields: list[str], user: str) -> None:
    conn.execute(
        text(
            f"""
            update public.{table} set
                locked_fields = array(select distinct unnest(locked_fields || cast(:f as text[])) order by 1),
                manually_modified = true, manually_modified_at = now(), manually_modified_by = :u
            where id = :i
            """
        ),
        {"f": fields, "u": user, "i": row},
    )


def log_edit(
    conn: Connection,
    target: Target,
    action: str,
    user: str,
    entries: list[tuple[str, Any, Any]],
    *,
    review_item_id: int | None = None,
) -> None:
    rows = [
        {
            "l": target.listing_id,
            "li": target.listing_info_id,
            "a": action,
            "f": field,
            "o": json.dumps(old, default=str),
            "n": json.dumps(new, default=str),
            "u": user,
            "r": review_item_id,
        }
        for field, old, new in entries
    ]
    if not rows:
        return
    conn.execute(
        text(
            "insert into pipeline.listing_edits (listing_id, listing_info_id, action, field, old_value, new_value,"
            " edited_by, review_item_id) values (:l, :li, :a, :f, cast(:o as jsonb), cast(:n as jsonb), :u, :r)"
        ),
        rows,
    )
