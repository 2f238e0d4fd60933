"""Curation pages of the admin UI: the soft-deleted page, manual edits from the listing page, and
the review queue of manual-edit conflicts. Reads take a connection; actions open their own transaction (an
`EditError` or `FormErrors` leaves the database as it was). Importable without Airflow.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from listings.admin.queries import Paging, QueryError, clamp_page, page_args
from listings.catalogue import edits
from listings.catalogue.edits import EditError
from listings.fields import BY_NAME, LOCATION_FIELDS, LOCKABLE_INFO_FIELDS

SOFT_DELETED_KINDS = ("info", "listings")
REVIEW_STATUSES = ("open", "resolved", "dismissed")
REVIEW_TYPES = ("manual_edit_conflict", "low_confidence_match", "multiple_close_matches", "source_conflict")
# The form's inputs for a listing_info: field -> (label, column of queries.listing_detail's info row).
INFO_FORM: dict[str, tuple[str, str]] = {
    name: (BY_NAME[name].label, column) for name, (_table, column) in LOCKABLE_INFO_FIELDS.items()
}
LOCATION_LABELS = {name: BY_NAME[name].label for name in LOCATION_FIELDS}


class FormErrors(EditError):
    """Edits rejected field by field (`errors`: form field -> message); nothing was written."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


# ------------------------------------------------------------------------------------------------
# Soft-deleted
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoftDeletedPage:
    kind: str  # "info": removed or hidden listing_info; "listings": archived listings
    rows: list[dict[str, Any]]
    paging: Paging
    counts: dict[str, int]  # by kind, with the DMO filter
    filters: dict[str, Any] = field(default_factory=dict)


INFO_WHERE = "(li.info_status = 'removed' or not li.info_visible)"
LISTING_WHERE = "l.listing_status = 'archived'"
DMO_OF_LISTING = (
    "exists (select 1 from public.listing_info x where x.listing_id = l.id and x.dmo_id = :dmo_id)"
)


def soft_deleted(
    conn: Connection, *, kind: str = "info", dmo_id: int | None = None, page: int = 1, per_page: int = 50
) -> SoftDeletedPage:
    """One page of removed/hidden listing_info rows (`kind="info"`) or archived listings
    (`kind="listings"`), the most recently changed first, optionally of one DMO."""
    page, per_page = page_args(page, per_page)
    if kind not in SOFT_DELETED_KINDS:
        raise QueryError(f"kind must be one of {', '.join(SOFT_DELETED_KINDS)}; got {kind!r}")
    params: dict[str, Any] = {"dmo_id": dmo_id}
    info_where = INFO_WHERE + (" and li.dmo_id = :dmo_id" if dmo_id is not None else "")
    listing_where = LISTING_WHERE + (f" and {DMO_OF_LISTING}" if dmo_id is not None else "")
    counts = {
        "info": int(conn.execute(text(f"select count(*) from public.listing_info li where {info_where}"), params)
                    .scalar_one()),
        "listings": int(conn.execute(text(f"select count(*) from public.listings l where {listing_where}"), params)
                        .scalar_one()),
    }  # fmt: skip
    paging = clamp_page(page, per_page, counts[kind])
    window = {**params, "limit": per_page, "offset": paging.offset}
    if kind == "info":
        sql = f"""
            select li.id, li.listing_id, li.dmo_id, d.name as dmo_name, li.name, l.name as listing_name,
                   l.listing_status, li.info_status, li.info_visible, li.status_reason, li.status_changed_at,
                   li.last_seen_at, li.last_job_id
            from public.listing_info li
            join public.dmos d on d.id = li.dmo_id
            join public.listings l on l.id = li.listing_id
            where {info_where}
            order by li.status_changed_at desc nulls last, li.id desc
            limit :limit offset :offset
        """
    else:
        sql = f"""
            select l.id, l.id as listing_id, l.name as listing_name, l.status_reason, l.status_changed_at,
                   l.manually_modified_by, loc.city,
                   (select string_agg(d.name, ', ' order by d.name) from public.listing_info x
                    join public.dmos d on d.id = x.dmo_id where x.listing_id = l.id) as dmo_names
            from public.listings l
            left join public.locations loc on loc.id = l.location_id
            where {listing_where}
            order by l.status_changed_at desc nulls last, l.id desc
            limit :limit offset :offset
        """
    rows = [dict(r) for r in conn.execute(text(sql), window).mappings()]
    return SoftDeletedPage(kind, rows, paging, counts, {"kind": kind, "dmo_id": dmo_id})


# ------------------------------------------------------------------------------------------------
# Manual edits from the listing page
# ------------------------------------------------------------------------------------------------


def _field_of(message: str, default: str) -> str:
    """The form field an EditError message names ("phone: ...", "location.lat: ...")."""
    head = message.split(":", 1)[0].strip()
    head = head.removeprefix("location.")
    return head if head in LOCKABLE_INFO_FIELDS or head in LOCATION_FIELDS else default


def edit_info_from_form(
    listing_info_id: int, form: Mapping[str, str], *, user: str, engine: Engine
) -> list[str]:
    """Apply a listing_info edit form: the fields whose (cleaned) value differs from the stored one are
    set and locked as `user`; returns them. FormErrors (per field) if any value is invalid: nothing saved."""
    with engine.begin() as conn:
        target = edits.info_target(conn, listing_info_id)
        current = edits.info_values(conn, listing_info_id)
        changes: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in LOCKABLE_INFO_FIELDS:
            if name not in form:
                continue
            raw = form[name].replace("\r\n", "\n")  # browsers send a textarea's lines with CRLF
            try:
                value = edits.clean_info_value(name, raw, country=target.country)
            except EditError as exc:
                errors[name] = str(exc)
                continue
            if value != current.get(name):
                changes[name] = raw
        if errors:
            raise FormErrors(errors)
        if not changes:
            return []
        return edits.edit_listing_info(conn, listing_info_id, changes, user=user)


def edit_listing_from_form(
    listing_id: int, form: Mapping[str, str], *, user: str, engine: Engine
) -> list[str]:
    """Apply the canonical listing's edit form (name; address and coordinates as one `location`): what
    differs from the stored value is set and locked as `user`. FormErrors if a value is invalid."""
    with engine.begin() as conn:
        target = edits.listing_target(conn, listing_id)
        row = conn.execute(
            text(
                "select l.name, loc.* from public.listings l left join public.locations loc on loc.id = l.location_id"
                " where l.id = :i"
            ),
            {"i": listing_id},
        ).one()._mapping  # fmt: skip
        changes: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if "name" in form:
            try:
                name = edits.clean_name(form["name"])
            except EditError as exc:
                errors["name"] = str(exc)
            else:
                if name != row["name"]:
                    changes["name"] = name
        submitted = {k: form[k] for k in LOCATION_FIELDS if k in form}
        if submitted:
            try:
                location = edits.clean_location(submitted, country=target.country)
            except EditError as exc:
                errors[_field_of(str(exc), "lat")] = str(exc)
            else:
                old = {k: edits.plain_value(row[k]) for k in LOCATION_FIELDS}
                if any(location.get(k) != old.get(k) for k in location):
                    changes["location"] = location
        if errors:
            raise FormErrors(errors)
        if not changes:
            return []
        return edits.edit_listing(conn, listing_id, changes, user=user)


def unlock_field(
    *,
    field: str,
    user: str,
    engine: Engine,
    listing_id: int | None = None,
    listing_info_id: int | None = None,
) -> int:
    """Release a lock (imports may set the field again); returns the listing id. EditError if the field
    is not locked."""
    with engine.begin() as conn:
        if listing_info_id is not None:
            row = conn.execute(
                text("select listing_id, locked_fields from public.listing_info where id = :i for update"),
                {"i": listing_info_id},
            ).one_or_none()
            where = f"listing_info {listing_info_id}"
        else:
            row = conn.execute(
                text("select id as listing_id, locked_fields from public.listings where id = :i for update"),
                {"i": listing_id},
            ).one_or_none()
            where = f"listing {listing_id}"
        if row is None:
            raise EditError(f"no {where}")
        if field not in (row.locked_fields or []):
            raise EditError(f"{field} is not locked on {where}")
        edits.unlock(conn, field=field, user=user, listing_id=listing_id, listing_info_id=listing_info_id)
        return int(row.listing_id)


# ------------------------------------------------------------------------------------------------
# Review queue
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewPage:
    rows: list[dict[str, Any]]
    paging: Paging
    counts_by_type: dict[str, int]  # with the status filter
    filters: dict[str, Any] = field(default_factory=dict)


REVIEW_SQL = """
select r.id, r.item_type, r.status, r.dmo_id, d.name as dmo_name, r.job_id, r.listing_id, r.listing_info_id,
       r.payload, r.candidates, r.confidence, r.created_at, r.resolved_at, r.resolved_by, r.resolution,
       l.name as listing_name, li.name as info_name
from pipeline.review_items r
left join public.dmos d on d.id = r.dmo_id
left join public.listings l on l.id = r.listing_id
left join public.listing_info li on li.id = r.listing_info_id
where {where}
order by r.id desc
limit :limit offset :offset
"""


def review_queue(
    conn: Connection,
    *,
    status: str | None = "open",
    item_type: str | None = "manual_edit_conflict",
    dmo_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> ReviewPage:
    """One page of review items (newest first) of a status and type, with the count of each type. A
    manual-edit conflict row carries `diff`: both values as segments, the differing ones marked."""
    page, per_page = page_args(page, per_page)
    if status is not None and status not in REVIEW_STATUSES:
        raise QueryError(f"status must be one of {', '.join(REVIEW_STATUSES)}; got {status!r}")
    if item_type is not None and item_type not in REVIEW_TYPES:
        raise QueryError(f"type must be one of {', '.join(REVIEW_TYPES)}; got {item_type!r}")
    where = ["true"]
    params: dict[str, Any] = {"status": status, "item_type": item_type, "dmo_id": dmo_id}
    if status is not None:
        where.append("r.status = :status")  # ix_review_items_status_item_type
    if dmo_id is not None:
        where.append("r.dmo_id = :dmo_id")
    grouped: dict[str, int] = dict(
        conn.execute(
            text(
                f"select r.item_type, count(*) from pipeline.review_items r where {' and '.join(where)} group by 1"
            ),
            params,
        ).all()
    )
    counts = {t: int(grouped.get(t, 0)) for t in REVIEW_TYPES}
    total = counts[item_type] if item_type else sum(counts.values())
    paging = clamp_page(page, per_page, total)
    if item_type is not None:
        where.append("r.item_type = :item_type")
    rows = []
    for r in conn.execute(
        text(REVIEW_SQL.format(where=" and ".join(where))),
        {**params, "limit": per_page, "offset": paging.offset},
    ).mappings():
        row = dict(r)
        if row["item_type"] == "manual_edit_conflict":
            payload = row["payload"] or {}
            row["diff"] = value_diff(payload.get("manual_value"), payload.get("source_value"))
        rows.append(row)
    filters = {"status": status, "item_type": item_type, "dmo_id": dmo_id}
    return ReviewPage(rows, paging, counts, filters)


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(value)
    return str(value)


TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


def _add(segments: list[tuple[bool, str]], changed: bool, part: str) -> None:
    if not part:
        return
    if segments and segments[-1][0] == changed:
        segments[-1] = (changed, segments[-1][1] + part)
    else:
        segments.append((changed, part))


def value_diff(manual: Any, source: Any) -> dict[str, Any]:
    """Both sides of a conflict for display. Strings: `manual` and `source` as lists of (changed, text)
    segments (a word diff). Mappings (a location): `rows` of (key, manual, source, changed)."""
    if isinstance(manual, Mapping) or isinstance(source, Mapping):
        m, s = dict(manual or {}), dict(source or {})
        keys = [k for k in LOCATION_FIELDS if k in m or k in s] + sorted(
            (set(m) | set(s)) - set(LOCATION_FIELDS)
        )
        return {
            "kind": "mapping",
            "rows": [(k, _show(m.get(k)), _show(s.get(k)), m.get(k) != s.get(k)) for k in keys],
        }
    a, b = _show(manual), _show(source)
    ta, tb = TOKENS.findall(a), TOKENS.findall(b)
    left: list[tuple[bool, str]] = []
    right: list[tuple[bool, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        _add(left, op != "equal", "".join(ta[i1:i2]))
        _add(right, op != "equal", "".join(tb[j1:j2]))
    return {"kind": "text", "manual": left, "source": right, "manual_empty": manual is None,
            "source_empty": source is None}  # fmt: skip


@dataclass(frozen=True)
class Decisions:
    done: list[int]
    failed: dict[int, str]  # item id -> why


def resolve_conflicts(
    item_ids: Iterable[int], *, accept_source: bool, user: str, engine: Engine
) -> Decisions:
    """Accept the source's value (`accept_source`) or keep the manual one, for each item, each in its own
    transaction: one that cannot be decided (already decided, not a conflict) does not stop the others."""
    done: list[int] = []
    failed: dict[int, str] = {}
    for item_id in dict.fromkeys(item_ids):
        try:
            with engine.begin() as conn:
                edits.resolve_conflict(conn, item_id, accept_source=accept_source, user=user)
        except EditError as exc:
            failed[item_id] = str(exc)
        else:
            done.append(item_id)
    return Decisions(done, failed)
