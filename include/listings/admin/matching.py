"""Matching in the admin UI, read side: the bridge viewer, listings that two records of one DMO claim, and
what a reviewer sees of a match item (the record beside each candidate, field by field, thumbnails, a map).
The decisions themselves (force-match, merge, unmerge, the review queue's accept / choose / new / dismiss)
are `listings.catalogue.merge` and `listings.catalogue.review`. Importable without Airflow; reads take a
connection.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from listings.admin import maps
from listings.admin.queries import MAX_ROWS, Paging, QueryError, clamp_page, page_args, preview_rendition
from listings.catalogue.edits import EditError
from listings.catalogue.merge import MATCH_ITEM_TYPES
from listings.catalogue.review import candidate_ids, record_info_id, review_item

# What wrote a bridge row: transform's deterministic hits, the match step, rematch, a person.
BRIDGE_METHODS = (
    "source_id",
    "bridge",
    "bridge_other_dmo",
    "auto_match",
    "review",
    "new",
    "rematch",
    "manual",
)
HASH_PREFIX = re.compile(r"[0-9a-f]{6,64}")
HASH_LENGTH = 64
CONFLICT_ITEMS_SHOWN = 50
THUMBS_PER_LISTING = 4
SAME_PLACE_M = 100.0  # coordinates closer than this are not marked as a difference


# ------------------------------------------------------------------------------------------------
# Bridge viewer
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BridgePage:
    rows: list[dict[str, Any]]
    paging: Paging  # total is capped at MAX_ROWS + 1: a count past what paging reaches is not needed
    filters: dict[str, Any]
    q_kind: str | None = None  # how `q` was read: "hash" (a record hash prefix) or "source_id"


BRIDGE_SQL = """
select b.id, b.dmo_id, d.name as dmo_name, b.source_record_hash, b.source_id, b.listing_id, b.listing_info_id,
       b.certainty_score, b.match_method, b.reason, b.mapped_at, b.job_id, b.error_type, b.error_message,
       l.name as listing_name, l.listing_status, l.merged_into_id, l.listing_visible,
       li.info_status, li.info_visible
from pipeline.bridge_source_listing b
left join public.dmos d on d.id = b.dmo_id
left join public.listings l on l.id = b.listing_id
left join public.listing_info li on li.id = b.listing_info_id
where {where}
order by b.id desc
limit :limit offset :offset
"""


def bridge_rows(
    conn: Connection,
    *,
    dmo_id: int | None = None,
    listing_id: int | None = None,
    q: str | None = None,
    method: str | None = None,
    max_certainty: float | None = None,
    page: int = 1,
    per_page: int = 50,
) -> BridgePage:
    """One page of bridge rows (record hash -> listing), newest first. `q` is a record hash prefix (six
    or more hex digits) or, when no hash starts so, a source id; `max_certainty` keeps the rows at or
    below it (the doubtful ones).

    Indexes: the primary key's order serves the unfiltered page; ix_bridge_source_listing_dmo_hash a DMO
    and a hash prefix (a range on the full hash); ix_bridge_source_listing_listing_id a listing and a
    source id (found through ix_listing_info_dmo_id_external_source_id with a DMO). The count stops at
    MAX_ROWS + 1."""
    page, per_page = page_args(page, per_page)
    if method is not None and method not in BRIDGE_METHODS:
        raise QueryError(f"method must be one of {', '.join(BRIDGE_METHODS)}; got {method!r}")
    if max_certainty is not None and not 0 <= max_certainty <= 1:
        raise QueryError(f"max_certainty must be between 0 and 1; got {max_certainty}")
    where: list[str] = []
    params: dict[str, Any] = {}
    if dmo_id is not None:
        where.append("b.dmo_id = :dmo_id")
        params["dmo_id"] = dmo_id
    if listing_id is not None:
        where.append("b.listing_id = :listing_id")
        params["listing_id"] = listing_id
    if method is not None:
        where.append("b.match_method = :method")
        params["method"] = method
    if max_certainty is not None:
        where.append("b.certainty_score <= cast(:max_certainty as numeric)")  # numeric: the index applies
        params["max_certainty"] = max_certainty
    q = (q or "").strip()[:200] or None
    q_kind: str | None = None
    if q is not None:
        prefix = q.lower()
        by_hash = [
            "b.source_record_hash between :lo and :hi",
            "left(b.source_record_hash, :n) = :prefix",
        ]
        hash_params = {
            "lo": prefix.ljust(HASH_LENGTH, "0"),
            "hi": prefix.ljust(HASH_LENGTH, "f"),
            "n": len(prefix),
            "prefix": prefix,
        }
        if (
            HASH_PREFIX.fullmatch(prefix)
            and conn.execute(
                text(
                    f"select exists (select 1 from pipeline.bridge_source_listing b where {' and '.join(where + by_hash)})"
                ),
                params | hash_params,
            ).scalar_one()
        ):
            where += by_hash
            params |= hash_params
            q_kind = "hash"
        else:
            dmo_clause = " and li.dmo_id = :dmo_id" if dmo_id is not None else ""
            where.append(
                "b.source_id = :source_id and b.listing_id in (select li.listing_id from public.listing_info li"
                f" where li.external_source_id = :source_id{dmo_clause})"
            )
            params["source_id"] = q
            q_kind = "source_id"
    condition = " and ".join(where) or "true"
    total = int(
        conn.execute(
            text(
                f"select count(*) from (select 1 from pipeline.bridge_source_listing b where {condition}"
                " limit :cap) as capped"
            ),
            params | {"cap": MAX_ROWS + 1},
        ).scalar_one()
    )
    paging = clamp_page(page, per_page, total)
    rows = [
        dict(r)
        for r in conn.execute(
            text(BRIDGE_SQL.format(where=condition)), params | {"limit": per_page, "offset": paging.offset}
        ).mappings()
    ]
    filters = {
        "dmo_id": dmo_id,
        "listing_id": listing_id,
        "q": q,
        "method": method,
        "max_certainty": max_certainty,
    }
    return BridgePage(rows, paging, filters, q_kind)


# ------------------------------------------------------------------------------------------------
# Claim conflicts
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimConflicts:
    rows: list[dict[str, Any]]  # one per (listing, DMO) that two or more of the DMO's records claim
    paging: Paging
    items: list[dict[str, Any]]  # open source_conflict review items, newest first (the first 50)
    items_total: int
    filters: dict[str, Any]


# Promotion (and every action here) shows one listing_info per DMO and listing: a second record of the
# DMO on the listing is hidden. So the conflicts are among listings with a hidden listing_info: a far
# smaller set than the catalogue, each then checked by ix_listing_info_listing_id.
CLAIMS_SQL = """
with hidden as (
    select distinct h.listing_id from public.listing_info h where not h.info_visible {dmo_h}
)
select li.listing_id, li.dmo_id, count(*) as claims
from public.listing_info li
where li.listing_id in (select listing_id from hidden) {dmo_li}
group by li.listing_id, li.dmo_id
having count(*) > 1
"""

CLAIM_INFOS_SQL = """
select li.id, li.listing_id, li.dmo_id, li.name, li.external_source_id, li.info_visible, li.info_status,
       li.status_reason, li.last_seen_at, li.created_at
from public.listing_info li
where li.listing_id = any(:ids)
order by li.listing_id, li.dmo_id, li.info_visible desc, li.id
"""


def claim_conflicts(
    conn: Connection, *, dmo_id: int | None = None, page: int = 1, per_page: int = 50
) -> ClaimConflicts:
    """Listings that two or more records of the same DMO claim (two source records -> one listing, one of
    them shown), newest listing first, with each claiming listing_info; and the open source_conflict
    review items (promotion's, rematch's and this module's)."""
    page, per_page = page_args(page, per_page)
    dmo = (
        {"dmo_h": "and h.dmo_id = :dmo_id", "dmo_li": "and li.dmo_id = :dmo_id"}
        if dmo_id is not None
        else {"dmo_h": "", "dmo_li": ""}
    )
    claims = CLAIMS_SQL.format(**dmo)
    params = {"dmo_id": dmo_id}
    page_sql = text(
        f"""
        select c.listing_id, c.dmo_id, c.claims, d.name as dmo_name, l.name as listing_name,
               l.listing_status, l.listing_visible, count(*) over () as total
        from ({claims}) as c
        join public.dmos d on d.id = c.dmo_id
        join public.listings l on l.id = c.listing_id
        order by c.listing_id desc, c.dmo_id
        limit :limit offset :offset
        """
    )
    # One pass finds the page and the total (the claims scan is the costly part); past the last page,
    # a count finds where the last page is.
    found = list(
        conn.execute(page_sql, params | {"limit": per_page, "offset": (page - 1) * per_page}).mappings()
    )
    if found or page == 1:
        paging = Paging(page, per_page, int(found[0]["total"]) if found else 0)
    else:
        total = int(conn.execute(text(f"select count(*) from ({claims}) as c"), params).scalar_one())
        paging = clamp_page(page, per_page, total)
        found = list(conn.execute(page_sql, params | {"limit": per_page, "offset": paging.offset}).mappings())
    rows = [{k: v for k, v in r.items() if k != "total"} | {"infos": [], "open_items": []} for r in found]
    ids = sorted({r["listing_id"] for r in rows})
    if ids:
        by_key = {(r["listing_id"], r["dmo_id"]): r for r in rows}
        for info in conn.execute(text(CLAIM_INFOS_SQL), {"ids": ids}).mappings():
            row = by_key.get((info["listing_id"], info["dmo_id"]))
            if row is not None:
                row["infos"].append(dict(info))
        for item in conn.execute(
            text(
                "select id, listing_id, dmo_id, listing_info_id from pipeline.review_items"
                " where status = 'open' and item_type = 'source_conflict' and listing_id = any(:ids)"
            ),
            {"ids": ids},
        ).mappings():
            row = by_key.get((item["listing_id"], item["dmo_id"]))
            if row is not None:
                row["open_items"].append(dict(item))
    item_where = "r.status = 'open' and r.item_type = 'source_conflict'" + (
        " and r.dmo_id = :dmo_id" if dmo_id is not None else ""
    )
    items_total = int(
        conn.execute(
            text(f"select count(*) from pipeline.review_items r where {item_where}"), params
        ).scalar_one()
    )
    items = [
        dict(r)
        for r in conn.execute(
            text(
                f"""
                select r.id, r.dmo_id, d.name as dmo_name, r.listing_id, l.name as listing_name,
                       r.listing_info_id, li.name as info_name, r.payload, r.created_at, r.job_id
                from pipeline.review_items r
                left join public.dmos d on d.id = r.dmo_id
                left join public.listings l on l.id = r.listing_id
                left join public.listing_info li on li.id = r.listing_info_id
                where {item_where}
                order by r.id desc
                limit :limit
                """
            ),
            params | {"limit": CONFLICT_ITEMS_SHOWN},
        ).mappings()
    ]
    return ClaimConflicts(rows, paging, items, items_total, {"dmo_id": dmo_id})


# ------------------------------------------------------------------------------------------------
# Review queue: what a reviewer sees
# ------------------------------------------------------------------------------------------------

FIELDS = (
    ("name", "Name"),
    ("address", "Address"),
    ("city", "City"),
    ("postal", "Postal code"),
    ("phone", "Phone"),
    ("website", "Website"),
    ("category", "Category"),
    ("coordinates", "Lat / lng"),
    ("distance", "Distance"),
)


def review_summaries(rows: Sequence[dict[str, Any]]) -> None:
    """Add `match` to each match item row of the review list: the incoming record (name, address, city)
    and the best candidate as the item stored them (no query)."""
    for row in rows:
        if row.get("item_type") not in MATCH_ITEM_TYPES:
            continue
        payload = row.get("payload") or {}
        record = payload.get("record") or {}
        rematch = payload.get("rematch") or {}
        candidates = row.get("candidates") or []
        top = dict(candidates[0]) if candidates else None
        if top is None and row["item_type"] != "source_conflict" and row.get("listing_id"):
            top = {
                "listing_id": row["listing_id"],
                "name": row.get("listing_name"),
                "reason": rematch.get("reason"),
            }
        row["match"] = {
            "name": record.get("name") or row.get("info_name") or rematch.get("name"),
            "place": ", ".join(str(v) for v in (record.get("address1"), record.get("city")) if v),
            "source_id": record.get("source_id"),
            "top": top,
            "others": max(0, len(candidates) - 1),
            "kept_listing_info_id": payload.get("kept_listing_info_id"),
            "reason": (payload.get("decision") or {}).get("reason")
            or rematch.get("reason")
            or payload.get("reason"),
        }


CANDIDATE_SQL = """
select l.id as listing_id, l.name as listing_name, l.listing_status, l.listing_visible, l.merged_into_id,
       loc.address1, loc.city, loc.zip, loc.lat, loc.lng,
       m.phones, m.websites, m.categories
from public.listings l
left join public.locations loc on loc.id = l.location_id
left join pipeline.listing_match m on m.listing_id = l.id
where l.id = any(:ids)
"""

OWN_SQL = """
select li.id as listing_info_id, li.listing_id, li.name, li.category, li.info_status, li.info_visible,
       li.external_source_id, li.status_reason, l.listing_status, l.listing_visible, l.name as listing_name,
       loc.address1, loc.city, loc.zip, loc.lat, loc.lng, ci.international_phone, ci.website_url,
       (select count(*) from public.listing_info o where o.listing_id = li.listing_id) as infos
from public.listing_info li
join public.listings l on l.id = li.listing_id
left join public.locations loc on loc.id = l.location_id
left join public.contact_info ci on ci.id = li.contact_info_id
where li.id = :i
"""

THUMBS_SQL = """
select li.listing_id, x.id, x.renditions, x.image
from public.listing_info li
cross join lateral (
    select img.id, img.renditions, img.image, img.rank from public.listing_images img
    where img.listing_info_id = li.id order by img.rank, img.id limit :per
) as x
where li.listing_id = any(:ids)
order by li.listing_id, li.info_visible desc, li.id, x.rank, x.id
"""


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Side:
    """One side of the comparison (the incoming record, or a candidate), in the fields the reviewer
    compares. The scalar values are as stored (a record's JSON may hold anything)."""

    name: Any
    address: Any
    city: Any
    postal: Any
    phones: tuple[str, ...]
    websites: tuple[str, ...]
    categories: tuple[str, ...]
    lat: float | None
    lng: float | None


@dataclass(frozen=True, kw_only=True)
class Thumb:
    """A thumbnail: a listing_image (`listing_image_id`) or an image the images step fetched (`image_id`)."""

    rendition: str | None
    listing_image_id: int | None = None
    image_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class CandidateColumn:
    """A column of the comparison: a candidate listing, or (a source_conflict item) the listing_info
    shown on the listing, then `listing_info_id` is set."""

    listing_id: int
    label: str
    side: Side
    status: str | None
    visible: bool | None
    merged_into_id: int | None
    confidence: float | None
    reason: str | None
    features: Mapping[str, Any]
    explanation: tuple[Any, ...]  # (feature name, contribution) pairs, as the item stored them
    found_by: tuple[str, ...]
    thumbs: tuple[Thumb, ...]
    distance_m: int | None  # from the incoming record, rounded
    listing_info_id: int | None = None


@dataclass(frozen=True)
class CompareCell:
    value: str
    state: str  # same | differs | unknown
    segments: Sequence[tuple[bool, str]] | None  # (changed, text) word diff against the incoming value


@dataclass(frozen=True)
class CompareRow:
    key: str
    label: str
    incoming: str
    cells: tuple[CompareCell, ...]  # one per column


@dataclass(frozen=True)
class MatchItemDetail:
    item: dict[str, Any]  # the review item row
    record: Mapping[str, Any]  # the record the item stored
    incoming: Side
    incoming_thumbs: tuple[Thumb, ...]
    own: dict[str, Any] | None  # the record's listing_info now (OWN_SQL)
    columns: tuple[CandidateColumn, ...]
    rows: tuple[CompareRow, ...]  # one per FIELDS
    map: dict[str, Any] | None  # maps.pins_plane
    reason: str | None
    choices: tuple[int, ...]  # the listings the item offers, best first
    decidable: bool


def _side(
    *,
    name: Any,
    address: Any,
    city: Any,
    postal: Any,
    phones: Sequence[str],
    websites: Sequence[str],
    categories: Sequence[str],
    lat: Any,
    lng: Any,
) -> Side:
    return Side(
        name=name,
        address=address,
        city=city,
        postal=postal,
        phones=tuple(p for p in phones if p),
        websites=tuple(w for w in websites if w),
        categories=tuple(c for c in categories if c),
        lat=_float(lat),
        lng=_float(lng),
    )


def _info_side(info: Mapping[str, Any]) -> Side:
    """A listing_info's side (a row of OWN_SQL)."""
    return _side(
        name=info["name"],
        address=info["address1"],
        city=info["city"],
        postal=info["zip"],
        phones=[info["international_phone"] or ""],
        websites=[info["website_url"] or ""],
        categories=[info["category"] or ""],
        lat=info["lat"],
        lng=info["lng"],
    )


def _values(side: Side, key: str) -> tuple[str, ...]:
    """The list fields, by FIELDS key: phone, website, category."""
    return {"phone": side.phones, "website": side.websites, "category": side.categories}[key]


def _scalar(side: Side, key: str) -> Any:
    """The scalar fields, by FIELDS key: name, address, city, postal."""
    return {"name": side.name, "address": side.address, "city": side.city, "postal": side.postal}[key]


def _display(side: Side, key: str) -> str:
    if key in ("phone", "website", "category"):
        return ", ".join(_values(side, key))
    if key == "coordinates":
        return "" if side.lat is None or side.lng is None else f"{side.lat:.5f}, {side.lng:.5f}"
    value = _scalar(side, key)
    return "" if value is None else str(value)


def _compare(incoming: Side, other: Side, key: str, distance: float | None) -> str:
    """same | differs | unknown (one side lacks the value): compared by the matching keys."""
    from listings.transform.normalize import address_key, city_key, name_key, postal_key, website_host

    if key in ("distance", "coordinates"):
        return "unknown" if distance is None else ("same" if distance <= SAME_PLACE_M else "differs")
    if key in ("phone", "website", "category"):
        mine, theirs = _values(incoming, key), _values(other, key)
        if not mine or not theirs:
            return "unknown"
        if key == "website":
            return (
                "same" if {website_host(w) for w in mine} & {website_host(w) for w in theirs} else "differs"
            )
        return "same" if set(mine) & set(theirs) else "differs"
    a, b = _scalar(incoming, key), _scalar(other, key)
    if not a or not b:
        return "unknown"
    keys: dict[str, Callable[[str], str]] = {
        "name": name_key,
        "address": address_key,
        "city": city_key,
        "postal": postal_key,
    }
    return "same" if keys[key](str(a)) == keys[key](str(b)) else "differs"


def _distance(a: Side, b: Side) -> int | None:
    """Metres between two sides, rounded; None if either lacks coordinates."""
    from listings.matching.features import haversine_m

    if a.lat is None or a.lng is None or b.lat is None or b.lng is None:
        return None
    return round(haversine_m(a.lat, a.lng, b.lat, b.lng))


def _compare_row(incoming: Side, columns: Sequence[CandidateColumn], key: str, label: str) -> CompareRow:
    from listings.admin.curation import value_diff

    cells = []
    for c in columns:
        state = _compare(incoming, c.side, key, c.distance_m)
        if key == "distance":
            value = "" if c.distance_m is None else f"{c.distance_m:,} m"
        else:
            value = _display(c.side, key)
        segments = None
        if state == "differs" and key in ("name", "address"):
            segments = value_diff(_display(incoming, key), value)["source"]
        cells.append(CompareCell(value=value, state=state, segments=segments))
    return CompareRow(
        key=key,
        label=label,
        incoming="" if key == "distance" else _display(incoming, key),
        cells=tuple(cells),
    )


def _listing_thumbs(conn: Connection, listing_ids: Sequence[int]) -> dict[int, tuple[Thumb, ...]]:
    """Each listing's shown images (the first THUMBS_PER_LISTING, its visible listing_info's first)."""
    if not listing_ids:
        return {}
    by_listing: dict[int, list[Thumb]] = {}
    for t in conn.execute(text(THUMBS_SQL), {"ids": list(listing_ids), "per": THUMBS_PER_LISTING}).mappings():
        shown = by_listing.setdefault(int(t["listing_id"]), [])
        if len(shown) < THUMBS_PER_LISTING:
            shown.append(Thumb(listing_image_id=t["id"], rendition=preview_rendition(t["renditions"])))
    return {listing_id: tuple(thumbs) for listing_id, thumbs in by_listing.items()}


def match_item_detail(conn: Connection, review_item_id: int) -> MatchItemDetail | None:
    """A review item as a reviewer compares it: the incoming record and each candidate listing (its live
    data, or what the item stored if it is gone from the matching index), field by field with each
    difference marked; distances; thumbnails (listing_images of the candidates and of the record's
    listing_info, or the record's fetched images); each candidate's features, confidence and reason; the
    item's decision reason. None if there is no such item."""
    try:
        item = review_item(conn, review_item_id)
    except EditError:
        return None
    payload = item.payload or {}
    record = payload.get("record") or {}
    info_id = record_info_id(conn, item)
    found_own = conn.execute(text(OWN_SQL), {"i": info_id}).mappings().one_or_none() if info_id else None
    own = dict(found_own) if found_own is not None else None
    if record:
        incoming = _side(
            name=record.get("name"),
            address=record.get("address1"),
            city=record.get("city"),
            postal=record.get("zip"),
            phones=[record.get("phone_e164") or record.get("phone") or ""],
            websites=[record.get("website") or ""],
            categories=[record.get("category") or ""],
            lat=record.get("lat"),
            lng=record.get("lng"),
        )
    elif own is not None:
        incoming = _info_side(own)
    else:
        incoming = _side(
            name=None,
            address=None,
            city=None,
            postal=None,
            phones=[],
            websites=[],
            categories=[],
            lat=None,
            lng=None,
        )
    own_listing = int(own["listing_id"]) if own else None
    stored = {int(c["listing_id"]): c for c in (item.candidates or []) if c.get("listing_id") is not None}
    ids = candidate_ids(item, own_listing)
    kept_id = payload.get("kept_listing_info_id")
    kept = None
    if item.item_type == "source_conflict" and kept_id:
        found = conn.execute(text(OWN_SQL), {"i": int(kept_id)}).mappings().one_or_none()
        kept = dict(found) if found is not None else None
    live = {int(r["listing_id"]): dict(r) for r in conn.execute(text(CANDIDATE_SQL), {"ids": ids}).mappings()}
    # thumbnails: each candidate listing's shown images; the record's own listing_info's (or fetched) images
    thumbs = _listing_thumbs(conn, ids)
    incoming_thumbs = _record_thumbs(conn, item, info_id, record)
    columns: list[CandidateColumn] = []
    for listing_id in ids:
        snap = stored.get(listing_id, {})
        row = live.get(listing_id) or {}
        if row.get("phones") is not None:  # in the matching index: its live values
            side = _side(
                name=row["listing_name"],
                address=row["address1"],
                city=row["city"],
                postal=row["zip"],
                phones=row["phones"],
                websites=row["websites"],
                categories=row["categories"],
                lat=row["lat"],
                lng=row["lng"],
            )
        else:
            side = _side(
                name=snap.get("name") or row.get("listing_name"),
                address=snap.get("address1"),
                city=snap.get("city"),
                postal=snap.get("zip"),
                phones=snap.get("phones") or [],
                websites=snap.get("websites") or [],
                categories=snap.get("categories") or [],
                lat=snap.get("lat"),
                lng=snap.get("lng"),
            )
        columns.append(
            CandidateColumn(
                listing_id=listing_id,
                label=f"listing {listing_id}",
                side=side,
                status=row.get("listing_status"),
                visible=row.get("listing_visible"),
                merged_into_id=row.get("merged_into_id"),
                confidence=snap.get("confidence"),
                reason=snap.get("reason"),
                features=snap.get("features") or {},
                explanation=tuple(snap.get("explanation") or ()),
                found_by=tuple(snap.get("found_by") or ()),
                thumbs=thumbs.get(listing_id, ()),
                distance_m=_distance(incoming, side),
            )
        )
    if kept is not None:
        side = _info_side(kept)
        columns.append(
            CandidateColumn(
                listing_id=int(kept["listing_id"]),
                listing_info_id=int(kept["listing_info_id"]),
                label=f"listing_info {kept['listing_info_id']} (shown)",
                side=side,
                status=kept["listing_status"],
                visible=kept["info_visible"],
                merged_into_id=None,
                confidence=None,
                reason=payload.get("reason"),
                features={},
                explanation=(),
                found_by=(),
                thumbs=_info_thumbs(conn, int(kept["listing_info_id"])),
                distance_m=_distance(incoming, side),
            )
        )
    rows = tuple(_compare_row(incoming, columns, key, label) for key, label in FIELDS)
    pins = [("R", "record", incoming.lat, incoming.lng, incoming.name)] + [
        (str(n), "candidate", c.side.lat, c.side.lng, c.side.name) for n, c in enumerate(columns, start=1)
    ]
    rematch = payload.get("rematch") or {}
    return MatchItemDetail(
        item=dict(item._mapping),
        record=record,
        incoming=incoming,
        incoming_thumbs=incoming_thumbs,
        own=own,
        columns=tuple(columns),
        rows=rows,
        map=maps.pins_plane(pins),
        reason=(payload.get("decision") or {}).get("reason")
        or rematch.get("reason")
        or payload.get("reason"),
        choices=tuple(ids),
        decidable=item.status == "open",
    )


def next_open_item(conn: Connection, review_item_id: int) -> int | None:
    """The open match item a reviewer meets after this one in the queue (newest first: the next older
    one, else the newest), by the primary key; None if this is the last."""
    found = conn.execute(
        text(
            "select coalesce("
            " (select id from pipeline.review_items where status = 'open' and item_type = any(:t) and id < :i"
            "  order by id desc limit 1),"
            " (select id from pipeline.review_items where status = 'open' and item_type = any(:t) and id > :i"
            "  order by id desc limit 1))"
        ),
        {"t": list(MATCH_ITEM_TYPES), "i": review_item_id},
    ).scalar()
    return None if found is None else int(found)


def _info_thumbs(conn: Connection, listing_info_id: int) -> tuple[Thumb, ...]:
    return tuple(
        Thumb(listing_image_id=r.id, rendition=preview_rendition(r.renditions))
        for r in conn.execute(
            text(
                "select id, renditions from public.listing_images where listing_info_id = :i"
                " order by rank, id limit :per"
            ),
            {"i": listing_info_id, "per": THUMBS_PER_LISTING},
        )
    )


def _record_thumbs(
    conn: Connection, item: Any, info_id: int | None, record: Mapping[str, Any]
) -> tuple[Thumb, ...]:
    """The record's images: its listing_info's shown ones, else those the images step fetched for its
    source URLs (pipeline.images by uq_images_dmo_url)."""
    if info_id is not None:
        shown = _info_thumbs(conn, info_id)
        if shown:
            return shown
    urls = [u if isinstance(u, str) else (u or {}).get("url") for u in (record.get("images") or [])]
    urls = [u for u in urls if u][:THUMBS_PER_LISTING]
    if not urls or item.dmo_id is None:
        return ()
    import hashlib

    keys = [hashlib.sha256(u.encode()).hexdigest() for u in urls]
    return tuple(
        Thumb(image_id=r.id, rendition=preview_rendition(r.renditions))
        for r in conn.execute(
            text(
                "select id, renditions from pipeline.images where dmo_id = :d and url_key = any(:k)"
                " and status in ('downloaded', 'unchanged') order by id"
            ),
            {"d": item.dmo_id, "k": keys},
        )
    )
