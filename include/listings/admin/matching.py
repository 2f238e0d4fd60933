"""Matching in the admin UI: the bridge viewer, listings that two records of one DMO claim, and
the manual decisions that move a DMO's record (its listing_info) to another listing: force-match, merge,
unmerge and the review queue's match items (accept / choose / new / dismiss). Importable without Airflow.

Reads take a connection. Actions take a connection too and run in the caller's transaction (one per
action: `with engine.begin() as conn`); an `EditError` leaves the database as it was. Every action:
- waits for a running promotion (promotion's advisory lock): the two never see half of each other;
- moves the listing_info with its bridge rows (`match_method 'manual'`), so that later imports of the
  record resolve to where a person put it (by source id, by this DMO's bridge, or another DMO's);
- retires a listing left without listing_info as `merged` into the target (it forwards to it);
- never leaves one DMO shown twice on a listing: a moved listing_info that would be is hidden
  (`pending`) and queued as a `source_conflict`, as promotion does;
- is recorded in `pipeline.listing_edits` (action `edit`, field `listing_id` / `listing_status`;
  `show` when a waiting record becomes visible) and, for review items, in their status / resolved_by /
  resolved_at / resolution; open match items of a moved record are resolved with it;
- refreshes `pipeline.listing_match` for the listings it touched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from listings.admin.queries import MAX_ROWS, Paging, QueryError, clamp_page, page_args, preview_rendition
from listings.catalogue import edits
from listings.catalogue.edits import EditError
from listings.matching import model_store

MATCH_ITEM_TYPES = ("low_confidence_match", "multiple_close_matches", "source_conflict")
MATCH_DECISIONS = ("accept", "choose", "new", "dismiss")
REVIEW_DECISIONS = (*MATCH_DECISIONS, "keep")  # keep: a manual-edit conflict's "keep the manual value"
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
MANUAL = "manual"
PROMOTION_LOCK = "listings.promotion"  # dbt/macros/promote_job.sql takes the same advisory lock
LOCK_WAIT = "10s"
HASH_PREFIX = re.compile(r"[0-9a-f]{6,64}")
HASH_LENGTH = 64
CONFLICT_ITEMS_SHOWN = 50
THUMBS_PER_LISTING = 4
SAME_PLACE_M = 100.0  # coordinates closer than this are not marked as a difference


@dataclass(frozen=True)
class MatchResult:
    listing_id: int  # where the record (or the merged listing's records) is now
    message: str
    hidden: list[int] = field(default_factory=list)  # listing_info hidden as a same-DMO duplicate


@dataclass(frozen=True)
class Decisions:
    done: list[int]
    failed: dict[int, str]  # item id -> why
    kinds: dict[int, str] = field(default_factory=dict)  # item id -> item type (of the items found)
    messages: dict[int, str] = field(default_factory=dict)  # decided item id -> what happened


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
# Moving records between listings (the shared part of every action)
# ------------------------------------------------------------------------------------------------


def _serialise(conn: Connection) -> None:
    """Wait (a while) for a running promotion: it reads and writes the same rows."""
    conn.execute(text(f"set local lock_timeout = '{LOCK_WAIT}'"))
    try:
        conn.execute(text("select pg_advisory_xact_lock(hashtext(:k))"), {"k": PROMOTION_LOCK})
    except OperationalError as exc:
        raise EditError("a promotion is running: nothing was changed, try again in a minute") from exc


def _info_row(conn: Connection, listing_info_id: int) -> Any:
    row = conn.execute(
        text(
            "select li.id, li.listing_id, li.dmo_id, d.name as dmo_name, li.name, li.info_visible, li.info_status,"
            " li.status_reason, li.last_job_id from public.listing_info li join public.dmos d on d.id = li.dmo_id"
            " where li.id = :i for update of li"
        ),
        {"i": listing_info_id},
    ).one_or_none()
    if row is None:
        raise EditError(f"no listing_info {listing_info_id}")
    return row


def _listing_row(conn: Connection, listing_id: int) -> Any:
    row = conn.execute(
        text(
            "select id, name, listing_status, listing_visible, merged_into_id from public.listings"
            " where id = :i for update"
        ),
        {"i": listing_id},
    ).one_or_none()
    if row is None:
        raise EditError(f"no listing {listing_id}")
    return row


def _target(conn: Connection, listing_id: int) -> Any:
    """A listing records may move to: it exists, is not merged (its target is named) nor archived."""
    row = _listing_row(conn, listing_id)
    if row.listing_status == "merged":
        raise EditError(f"listing {listing_id} was merged into listing {row.merged_into_id}: use that one")
    if row.listing_status == "archived":
        raise EditError(f"listing {listing_id} is archived: restore it first, or choose another listing")
    return row


def _forward(conn: Connection, listing_id: int) -> int:
    """The listing a merged listing forwards to (following a chain of merges), or the listing itself."""
    seen = {listing_id}
    current = listing_id
    while True:
        row = conn.execute(
            text("select listing_status, merged_into_id from public.listings where id = :i"), {"i": current}
        ).one_or_none()
        if row is None or row.listing_status != "merged" or row.merged_into_id is None:
            return current
        current = int(row.merged_into_id)
        if current in seen:
            raise EditError(f"listing {listing_id} is in a loop of merges: fix it by hand")
        seen.add(current)


def _log(
    conn: Connection,
    listing_id: int,
    listing_info_id: int | None,
    action: str,
    user: str,
    entries: list[tuple[str, Any, Any]],
    review_item_id: int | None = None,
) -> None:
    target = edits.Target(listing_id, listing_info_id, "")
    edits._log(conn, target, action, user, entries, review_item_id=review_item_id)


def _record_hashes(conn: Connection, listing_id: int, listing_info_id: int) -> list[str]:
    """The record hashes a listing_info was imported under (its bridge rows, by ix_..._listing_id: a
    listing_info's bridge rows always name its current listing)."""
    rows = conn.execute(
        text(
            "select distinct source_record_hash from pipeline.bridge_source_listing"
            " where listing_id = :l and listing_info_id = :i"
        ),
        {"l": listing_id, "i": listing_info_id},
    ).all()
    return [str(r.source_record_hash) for r in rows]


def _close_items(
    conn: Connection,
    info: Any,
    hashes: Sequence[str],
    *,
    user: str,
    resolution: str,
    skip: int | None = None,
) -> list[int]:
    """Resolve the open match items about a record a person just placed; returns their ids."""
    rows = conn.execute(
        text(
            """
            update pipeline.review_items
            set status = 'resolved', resolved_at = now(), resolved_by = :u, resolution = :r
            where status = 'open' and item_type = any(:types) and id is distinct from :skip
              and (listing_info_id = :i or (dmo_id = :d and source_record_hash = any(:h)))
            returning id
            """
        ),
        {
            "u": user,
            "r": resolution[:2000],
            "types": list(MATCH_ITEM_TYPES),
            "skip": skip,
            "i": info.id,
            "d": info.dmo_id,
            "h": list(hashes),
        },
    ).all()
    return [int(r.id) for r in rows]


def _move(
    conn: Connection,
    info: Any,
    to_listing_id: int,
    *,
    user: str,
    why: str,
    review_item_id: int | None = None,
) -> int | None:
    """Put a listing_info on another listing, with its bridge rows; a waiting (pending) one becomes
    visible. Returns the listing_info kept visible instead when the DMO is already shown on the target
    (this one is then hidden and queued as a source conflict), else None."""
    from_listing_id = int(info.listing_id)
    hashes = _record_hashes(conn, from_listing_id, info.id)
    _close_items(conn, info, hashes, user=user, resolution=why, skip=review_item_id)
    visible, status, reason = bool(info.info_visible), str(info.info_status), info.status_reason
    if status == "pending":  # waiting for a reviewer, or a same-DMO duplicate: a person placed it now
        visible, status, reason = True, "active", None
    kept = None
    if visible:
        kept = conn.execute(
            text(
                "select min(id) from public.listing_info"
                " where listing_id = :l and dmo_id = :d and info_visible and id <> :i"
            ),
            {"l": to_listing_id, "d": info.dmo_id, "i": info.id},
        ).scalar()
        if kept is not None:
            visible, status = False, "pending"
            reason = f"this DMO already lists the place as listing_info {kept}"
    conn.execute(
        text(
            """
            update public.listing_info set
                listing_id = :to, info_visible = :v, info_status = :s, status_reason = :r,
                status_changed_at = case when :changed then now() else status_changed_at end,
                updated_at = now()
            where id = :i
            """
        ),
        {
            "to": to_listing_id,
            "v": visible,
            "s": status,
            "r": reason,
            "i": info.id,
            "changed": (visible, status) != (bool(info.info_visible), str(info.info_status)),
        },
    )
    conn.execute(
        text(
            "update pipeline.bridge_source_listing set listing_id = :to, match_method = :m, certainty_score = 1.0,"
            " reason = :why, mapped_at = now() where listing_id = :from and listing_info_id = :i"
        ),
        {"to": to_listing_id, "m": MANUAL, "why": why[:2000], "from": from_listing_id, "i": info.id},
    )
    entry = [("listing_id", from_listing_id, to_listing_id)]
    for listing_id in (from_listing_id, to_listing_id):  # on both listings' timelines
        _log(conn, listing_id, info.id, "move", user, entry, review_item_id)
    if visible and not info.info_visible:
        _log(conn, to_listing_id, info.id, "show", user, [("visibility", False, True)], review_item_id)
    if kept is not None:
        from listings.matching.engine import write_review_items

        write_review_items(
            conn,
            [
                {
                    "item_type": "source_conflict",
                    "dmo_id": info.dmo_id,
                    "job_id": None,
                    "listing_id": to_listing_id,
                    "listing_info_id": info.id,
                    "source_record_hash": hashes[0] if hashes else None,
                    "payload": {
                        "kept_listing_info_id": int(kept),
                        "moved_by": user,
                        "reason": "two records of one DMO on one listing after a manual move",
                    },
                    "candidates": [],
                    "confidence": None,
                }
            ],
        )
    _show_listing(conn, to_listing_id, user, review_item_id)
    return None if kept is None else int(kept)


def _show_listing(conn: Connection, listing_id: int, user: str, review_item_id: int | None) -> None:
    """An active listing waiting hidden for a review is shown once it has a visible listing_info."""
    shown = conn.execute(
        text(
            "update public.listings l set listing_visible = true, updated_at = now()"
            " where l.id = :l and l.listing_status = 'active' and not l.listing_visible"
            " and exists (select 1 from public.listing_info li where li.listing_id = l.id and li.info_visible)"
            " returning id"
        ),
        {"l": listing_id},
    ).first()
    if shown is not None:
        _log(conn, listing_id, None, "show", user, [("listing_visible", False, True)], review_item_id)


def _retire(
    conn: Connection, listing_id: int, into_id: int, *, user: str, review_item_id: int | None = None
) -> bool:
    """A listing left without listing_info forwards to `into_id` (merged). Returns whether it did."""
    left: bool = conn.execute(
        text("select exists (select 1 from public.listing_info where listing_id = :l)"), {"l": listing_id}
    ).scalar_one()
    if left:
        return False
    old: str = conn.execute(
        text(
            """
            update public.listings l set
                listing_status = 'merged', merged_into_id = :into, listing_visible = false,
                status_reason = :why, status_changed_at = now(), updated_at = now()
            from public.listings prev
            where l.id = :l and prev.id = l.id
            returning prev.listing_status
            """
        ),
        {"l": listing_id, "into": into_id, "why": f"merged into listing {into_id} by {user}"},
    ).scalar_one()
    _log(
        conn,
        listing_id,
        None,
        "merge",
        user,
        [("listing_status", old, "merged"), ("merged_into_id", None, into_id)],
        review_item_id,
    )
    return True


def _refresh(conn: Connection, ids: Iterable[int]) -> None:
    conn.execute(text("select pipeline.refresh_listing_match(:ids)"), {"ids": sorted(set(ids))})


def _hidden_note(hidden: Sequence[tuple[int, int]]) -> str:
    if not hidden:
        return ""
    parts = [f"listing_info {info} (its DMO is shown there as listing_info {kept})" for info, kept in hidden]
    return " Hidden as a duplicate, queued as a source conflict: " + "; ".join(parts) + "."


# ------------------------------------------------------------------------------------------------
# Actions
# ------------------------------------------------------------------------------------------------


def force_match(conn: Connection, listing_info_id: int, to_listing_id: int, *, user: str) -> MatchResult:
    """Move one DMO's record (listing_info) to `to_listing_id`; a listing it leaves empty becomes merged
    into the target. Later imports of the record resolve to the target (bridge: `manual`)."""
    _serialise(conn)
    info = _info_row(conn, listing_info_id)
    if int(info.listing_id) == to_listing_id:
        raise EditError(f"listing_info {listing_info_id} is already on listing {to_listing_id}")
    _target(conn, to_listing_id)
    from_id = int(info.listing_id)
    _listing_row(conn, from_id)  # locked
    why = f"force-matched to listing {to_listing_id} by {user}"
    model_store.label_listings(conn, from_id, to_listing_id, label=True, source="force_match", user=user,
                               listing_info_id=listing_info_id)  # fmt: skip
    kept = _move(conn, info, to_listing_id, user=user, why=why)
    retired = _retire(conn, from_id, to_listing_id, user=user)
    _refresh(conn, (from_id, to_listing_id))
    message = f"listing_info {listing_info_id} ({info.dmo_name}) moved from listing {from_id} to listing {to_listing_id}."
    if retired:
        message += f" Listing {from_id} had nothing left: merged into {to_listing_id}."
    hidden = [(listing_info_id, kept)] if kept is not None else []
    return MatchResult(to_listing_id, message + _hidden_note(hidden), [h[0] for h in hidden])


def merge_listings(conn: Connection, from_listing_id: int, into_listing_id: int, *, user: str) -> MatchResult:
    """Move every listing_info of `from_listing_id` to `into_listing_id`; `from` becomes merged into it."""
    if from_listing_id == into_listing_id:
        raise EditError(f"listing {from_listing_id} cannot be merged into itself: choose another listing")
    _serialise(conn)
    source = _listing_row(conn, from_listing_id)
    if source.listing_status == "merged":
        raise EditError(f"listing {from_listing_id} is already merged into listing {source.merged_into_id}")
    _target(conn, into_listing_id)
    infos = conn.execute(
        text(
            "select li.id, li.listing_id, li.dmo_id, d.name as dmo_name, li.name, li.info_visible, li.info_status,"
            " li.status_reason, li.last_job_id from public.listing_info li join public.dmos d on d.id = li.dmo_id"
            " where li.listing_id = :l order by li.info_visible desc, li.id for update of li"
        ),
        {"l": from_listing_id},
    ).all()
    why = f"listing {from_listing_id} merged into listing {into_listing_id} by {user}"
    model_store.label_listings(conn, from_listing_id, into_listing_id, label=True, source="merge", user=user)
    hidden: list[tuple[int, int]] = []
    for info in infos:
        kept = _move(conn, info, into_listing_id, user=user, why=why)
        if kept is not None:
            hidden.append((int(info.id), kept))
    _retire(conn, from_listing_id, into_listing_id, user=user)
    _refresh(conn, (from_listing_id, into_listing_id))
    message = (
        f"Listing {from_listing_id} merged into listing {into_listing_id}: {len(infos)} listing_info moved."
    )
    return MatchResult(into_listing_id, message + _hidden_note(hidden), [h[0] for h in hidden])


def unmerge(conn: Connection, listing_info_id: int, *, user: str) -> MatchResult:
    """Take a listing_info out of its listing into a new listing of its own (named after it, at the place
    its record gave when it is still staged, else a copy of the listing's location), shown."""
    _serialise(conn)
    info = _info_row(conn, listing_info_id)
    from_id = int(info.listing_id)
    source = _listing_row(conn, from_id)
    others: int = conn.execute(
        text("select count(*) from public.listing_info where listing_id = :l and id <> :i"),
        {"l": from_id, "i": listing_info_id},
    ).scalar_one()
    if not others:
        raise EditError(
            f"listing_info {listing_info_id} is the only listing_info of listing {from_id}: nothing to unmerge it from"
        )
    new_id = _new_listing(conn, info, source, from_id)
    why = f"unmerged from listing {from_id} into new listing {new_id} by {user}"
    _move(conn, info, new_id, user=user, why=why)
    _refresh(conn, (from_id, new_id))
    model_store.label_listings(conn, new_id, from_id, label=False, source="unmerge", user=user,
                               listing_info_id=listing_info_id)  # fmt: skip
    return MatchResult(
        new_id,
        f"listing_info {listing_info_id} ({info.dmo_name}) taken out of listing {from_id}: new listing {new_id}.",
    )


def _new_listing(conn: Connection, info: Any, source: Any, from_id: int) -> int:
    from listings.transform.normalize import name_key

    hashes = _record_hashes(conn, from_id, info.id)
    location_id = conn.execute(
        text(
            """
            insert into public.locations (address1, address2, city, state, zip, country, lat, lng, geog,
                location_hash, address_key, house_number, city_key, region_key, created_at, updated_at)
            select s.address1, s.address2, s.city, s.state, s.zip, s.country, s.lat, s.lng,
                   case when s.lat is not null and s.lng is not null
                        then st_setsrid(st_makepoint(s.lng, s.lat), 4326)::geography end,
                   s.location_hash, s.address_key, s.house_number, s.city_key, s.region_key, now(), now()
            from staging.listing_info sli
            join staging.locations s on s.job_id = sli.job_id and s.record_no = sli.record_no
            where sli.job_id = :job and sli.dmo_id = :dmo and sli.record_hash = any(:h)
            order by sli.record_no
            limit 1
            returning id
            """
        ),
        {"job": info.last_job_id, "dmo": info.dmo_id, "h": hashes},
    ).scalar()
    if location_id is None:  # the record is no longer staged: the place it was matched to is close
        location_id = conn.execute(
            text(
                """
                insert into public.locations (address1, address2, city, state, zip, country, lat, lng, geog,
                    location_hash, address_key, house_number, city_key, region_key, created_at, updated_at)
                select loc.address1, loc.address2, loc.city, loc.state, loc.zip, loc.country, loc.lat, loc.lng,
                       loc.geog, loc.location_hash, loc.address_key, loc.house_number, loc.city_key, loc.region_key,
                       now(), now()
                from public.listings l join public.locations loc on loc.id = l.location_id
                where l.id = :l
                returning id
                """
            ),
            {"l": from_id},
        ).scalar()
    name = info.name or source.name
    return int(
        conn.execute(
            text(
                "insert into public.listings (name, name_key, location_id, listing_status, listing_visible,"
                " created_at, updated_at, last_job_id) values (:n, :k, :loc, 'active', true, now(), now(), :job)"
                " returning id"
            ),
            {"n": name, "k": name_key(name) or None, "loc": location_id, "job": info.last_job_id},
        ).scalar_one()
    )


# ------------------------------------------------------------------------------------------------
# Review queue: match items
# ------------------------------------------------------------------------------------------------

ITEM_SQL = """
select r.id, r.item_type, r.status, r.dmo_id, d.name as dmo_name, r.job_id, r.listing_id, r.listing_info_id,
       r.source_record_hash, r.payload, r.candidates, r.confidence, r.created_at, r.resolved_at,
       r.resolved_by, r.resolution
from pipeline.review_items r
left join public.dmos d on d.id = r.dmo_id
where r.id = :i
"""


def _item(conn: Connection, review_item_id: int, *, lock: bool = False) -> Any:
    row = conn.execute(
        text(ITEM_SQL + (" for update of r" if lock else "")), {"i": review_item_id}
    ).one_or_none()
    if row is None:
        raise EditError(f"no review item {review_item_id}")
    return row


def _record_info_id(conn: Connection, item: Any) -> int | None:
    """The listing_info of the item's record: named by the item, or its DMO's latest bridge row for the
    record hash (ix_bridge_source_listing_dmo_hash)."""
    if item.listing_info_id is not None:
        return int(item.listing_info_id)
    if item.source_record_hash is None or item.dmo_id is None:
        return None
    found = conn.execute(
        text(
            "select listing_info_id from pipeline.bridge_source_listing where dmo_id = :d"
            " and source_record_hash = :h and listing_info_id is not null order by id desc limit 1"
        ),
        {"d": item.dmo_id, "h": item.source_record_hash},
    ).scalar()
    return None if found is None else int(found)


def candidate_ids(item: Any, own_listing_id: int | None) -> list[int]:
    """The listings an item offers, best first: its candidates, or (an item of rematch, which stores none)
    the listing it names when that is not the record's own."""
    ids = [int(c["listing_id"]) for c in (item.candidates or []) if c.get("listing_id") is not None]
    named = item.listing_id
    if not ids and item.item_type != "source_conflict" and named is not None and int(named) != own_listing_id:
        ids = [int(named)]
    return [i for i in ids if i != own_listing_id]


def _close(conn: Connection, item_id: int, status: str, user: str, resolution: str) -> None:
    conn.execute(
        text(
            "update pipeline.review_items set status = :s, resolved_at = now(), resolved_by = :u, resolution = :r"
            " where id = :i"
        ),
        {"s": status, "u": user, "r": resolution[:2000], "i": item_id},
    )


def resolve_match_item(
    conn: Connection, review_item_id: int, decision: str, *, user: str, listing_id: int | None = None
) -> MatchResult:
    """Decide an open match item (low confidence, several close candidates, a source conflict):
    - `accept`: the record joins the top candidate (a merged candidate: the listing it forwards to);
    - `choose`: it joins `listing_id`, which must be one of the item's candidates;
    - `new`: it keeps the listing it created, shown (a source conflict's record, on another record's
      listing, gets a new listing of its own);
    - `dismiss`: the item is closed and the catalogue left as it is (a waiting record stays hidden).
    The item records who decided, when and what; other open match items of the record close with it."""
    if decision not in MATCH_DECISIONS:
        raise EditError(f"decision must be one of {', '.join(MATCH_DECISIONS)}; got {decision!r}")
    _serialise(conn)  # first: every action takes this lock before any row lock (no deadlock between them)
    item = _item(conn, review_item_id, lock=True)
    where = f"review item {review_item_id}"
    if item.item_type not in MATCH_ITEM_TYPES:
        raise EditError(f"{where} is a {item.item_type.replace('_', ' ')}, not a match item")
    if item.status != "open":
        raise EditError(f"{where} is already {item.status} (by {item.resolved_by or '?'})")
    if decision == "dismiss":
        own_id = _record_info_id(conn, item)
        own_listing = int(_info_row(conn, own_id).listing_id) if own_id is not None else None
        model_store.label_review_item(conn, item, "dismiss", chosen_listing_id=None, own_listing_id=own_listing,
                                      listing_info_id=own_id, user=user)  # fmt: skip
        _close(conn, review_item_id, "dismissed", user, "dismissed: the catalogue was left as it was")
        return MatchResult(int(item.listing_id or 0), f"Review item {review_item_id} dismissed.")
    info_id = _record_info_id(conn, item)
    if info_id is None:
        raise EditError(f"the record of {where} is not in the catalogue (its job was not promoted)")
    info = _info_row(conn, info_id)
    own = int(info.listing_id)
    choices = candidate_ids(item, own)
    hidden: list[tuple[int, int]] = []
    chosen: int | None = None
    if decision in ("accept", "choose"):
        if decision == "accept":
            if not choices:
                raise EditError(
                    f"{where} has no candidate to accept: keep the record as a new listing or dismiss"
                )
            wanted = choices[0]
        else:
            if listing_id is None:
                raise EditError("choose: give the id of one of the item's candidate listings")
            if listing_id not in choices:
                offered = ", ".join(map(str, choices)) or "none"
                raise EditError(f"listing {listing_id} is not a candidate of {where} (candidates: {offered})")
            wanted = listing_id
        chosen = wanted
        target = _forward(conn, wanted)
        _target(conn, target)
        _listing_row(conn, own)
        how = "accepted" if decision == "accept" else "chose"
        resolution = f"{how}: listing {target}" + (
            f" (listing {wanted} was merged into it)" if target != wanted else ""
        )
        if target == own:  # already there (someone merged meanwhile): shown
            _activate(conn, info, user=user, why=f"{resolution}, by {user}", review_item_id=review_item_id)
        else:
            kept = _move(
                conn,
                info,
                target,
                user=user,
                why=f"review item {review_item_id}: {resolution}, by {user}",
                review_item_id=review_item_id,
            )
            if kept is not None:
                hidden.append((info_id, kept))
            _retire(conn, own, target, user=user, review_item_id=review_item_id)
        touched = [own, target]
        message = f"Review item {review_item_id}: {info.dmo_name}'s record joined listing {target}."
    else:  # new
        # A source conflict's record sits on another record's listing: it leaves for a listing of its own.
        # A match item's record waits on the listing it created (others may have joined it): it stays.
        sharing: bool = (
            item.item_type == "source_conflict"
            and conn.execute(
                text("select exists (select 1 from public.listing_info where listing_id = :l and id <> :i)"),
                {"l": own, "i": info_id},
            ).scalar_one()
        )
        if sharing:
            target = _new_listing(conn, info, _listing_row(conn, own), own)
            resolution = f"new: taken out of listing {own} into new listing {target}"
            _move(
                conn,
                info,
                target,
                user=user,
                why=f"review item {review_item_id}: {resolution}, by {user}",
                review_item_id=review_item_id,
            )
        else:
            target = own
            resolution = f"new: kept as listing {own}"
            _activate(
                conn,
                info,
                user=user,
                why=f"review item {review_item_id}: {resolution}, by {user}",
                review_item_id=review_item_id,
            )
        touched = [own, target]
        message = f"Review item {review_item_id}: {info.dmo_name}'s record is listing {target} of its own."
    # The decision, as labelled pairs (record vs each candidate offered): they check and re-fit the model.
    model_store.label_review_item(conn, item, decision, chosen_listing_id=chosen, own_listing_id=own,
                                  listing_info_id=info_id, user=user)  # fmt: skip
    _close(conn, review_item_id, "resolved", user, resolution)
    _refresh(conn, touched)
    return MatchResult(target, message + _hidden_note(hidden), [h[0] for h in hidden])


def _activate(conn: Connection, info: Any, *, user: str, why: str, review_item_id: int | None) -> None:
    """A record stays on its listing, shown (a waiting one becomes active), its bridge rows `manual`."""
    listing_id = int(info.listing_id)
    hashes = _record_hashes(conn, listing_id, info.id)
    _close_items(conn, info, hashes, user=user, resolution=why, skip=review_item_id)
    if info.info_status == "pending":
        kept = conn.execute(
            text(
                "select min(id) from public.listing_info"
                " where listing_id = :l and dmo_id = :d and info_visible and id <> :i"
            ),
            {"l": listing_id, "d": info.dmo_id, "i": info.id},
        ).scalar()
        if kept is not None:
            raise EditError(
                f"listing {listing_id} already shows {info.dmo_name} as listing_info {kept}:"
                f" take listing_info {info.id} out of it (new) or dismiss"
            )
        conn.execute(
            text(
                "update public.listing_info set info_visible = true, info_status = 'active', status_reason = null,"
                " status_changed_at = now(), updated_at = now() where id = :i"
            ),
            {"i": info.id},
        )
        _log(conn, listing_id, info.id, "show", user, [("visibility", False, True)], review_item_id)
    conn.execute(
        text(
            "update pipeline.bridge_source_listing set match_method = :m, certainty_score = 1.0, reason = :why,"
            " mapped_at = now() where listing_id = :l and listing_info_id = :i"
        ),
        {"m": MANUAL, "why": why[:2000], "l": listing_id, "i": info.id},
    )
    _show_listing(conn, listing_id, user, review_item_id)


def decide_review_items(
    engine: Engine,
    item_ids: Iterable[int],
    decision: str,
    *,
    user: str,
    listing_id: int | None = None,
) -> Decisions:
    """One decision for many review items, each in its own transaction (one that cannot be decided does
    not stop the others). Match items: `resolve_match_item`. Manual-edit conflicts: `accept` takes the
    source's value; `keep` and `dismiss` keep the manual one."""
    if decision not in REVIEW_DECISIONS:
        raise EditError(f"decision must be one of {', '.join(REVIEW_DECISIONS)}; got {decision!r}")
    done: list[int] = []
    failed: dict[int, str] = {}
    kinds: dict[int, str] = {}
    messages: dict[int, str] = {}
    for item_id in dict.fromkeys(item_ids):
        try:
            with engine.begin() as conn:
                item_type = conn.execute(
                    text("select item_type from pipeline.review_items where id = :i"), {"i": item_id}
                ).scalar()
                if item_type is None:
                    raise EditError(f"no review item {item_id}")
                kinds[item_id] = str(item_type)
                if item_type == "manual_edit_conflict":
                    if decision not in ("accept", "keep", "dismiss"):
                        raise EditError(
                            f"review item {item_id} is a manual-edit conflict: accept the source's value or keep"
                            " the manual one"
                        )
                    edits.resolve_conflict(conn, item_id, accept_source=decision == "accept", user=user)
                    messages[item_id] = f"Review item {item_id} decided."
                elif decision == "keep":
                    raise EditError(
                        f"review item {item_id} is a match item: 'keep' is for manual-edit conflicts"
                    )
                else:
                    result = resolve_match_item(conn, item_id, decision, user=user, listing_id=listing_id)
                    messages[item_id] = result.message
        except EditError as exc:
            failed[item_id] = str(exc)
        else:
            done.append(item_id)
    return Decisions(done, failed, kinds, messages)


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
) -> dict[str, Any]:
    return {
        "name": name,
        "address": address,
        "city": city,
        "postal": postal,
        "phones": [p for p in phones if p],
        "websites": [w for w in websites if w],
        "categories": [c for c in categories if c],
        "lat": _float(lat),
        "lng": _float(lng),
    }


def _display(side: Mapping[str, Any], key: str) -> str:
    if key == "phone":
        return ", ".join(side["phones"])
    if key == "website":
        return ", ".join(side["websites"])
    if key == "category":
        return ", ".join(side["categories"])
    if key == "coordinates":
        return "" if side["lat"] is None else f"{side['lat']:.5f}, {side['lng']:.5f}"
    value = side.get(key)
    return "" if value is None else str(value)


def _compare(incoming: Mapping[str, Any], other: Mapping[str, Any], key: str, distance: float | None) -> str:
    """same | differs | unknown (one side lacks the value): compared by the matching keys."""
    from listings.transform.normalize import address_key, city_key, name_key, postal_key, website_host

    if key == "distance":
        return "unknown" if distance is None else ("same" if distance <= SAME_PLACE_M else "differs")
    if key == "coordinates":
        return "unknown" if distance is None else ("same" if distance <= SAME_PLACE_M else "differs")
    if key in ("phone", "website", "category"):
        mine, theirs = (
            incoming[f"{key}s" if key != "category" else "categories"],
            other[f"{key}s" if key != "category" else "categories"],
        )
        if not mine or not theirs:
            return "unknown"
        if key == "website":
            return (
                "same" if {website_host(w) for w in mine} & {website_host(w) for w in theirs} else "differs"
            )
        return "same" if set(mine) & set(theirs) else "differs"
    a, b = incoming.get(key), other.get(key)
    if not a or not b:
        return "unknown"
    keys: dict[str, Callable[[str], str]] = {
        "name": name_key,
        "address": address_key,
        "city": city_key,
        "postal": postal_key,
    }
    return "same" if keys[key](str(a)) == keys[key](str(b)) else "differs"


def match_item_detail(conn: Connection, review_item_id: int) -> dict[str, Any] | None:
    """A review item as a reviewer compares it: the incoming record and each candidate listing (its live
    data, or what the item stored if it is gone from the matching index), field by field with each
    difference marked; distances; thumbnails (listing_images of the candidates and of the record's
    listing_info, or the record's fetched images); each candidate's features, confidence and reason; the
    item's decision reason. None if there is no such item."""
    from listings.admin.curation import value_diff
    from listings.matching.features import haversine_m

    try:
        item = _item(conn, review_item_id)
    except EditError:
        return None
    payload = item.payload or {}
    record = payload.get("record") or {}
    info_id = _record_info_id(conn, item)
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
        incoming = _side(
            name=own["name"],
            address=own["address1"],
            city=own["city"],
            postal=own["zip"],
            phones=[own["international_phone"] or ""],
            websites=[own["website_url"] or ""],
            categories=[own["category"] or ""],
            lat=own["lat"],
            lng=own["lng"],
        )
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
    columns: list[dict[str, Any]] = []
    for listing_id in ids:
        snap = stored.get(listing_id, {})
        row = live.get(listing_id)
        if row is not None and row["phones"] is not None:  # in the matching index: its live values
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
                name=snap.get("name") or (row or {}).get("listing_name"),
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
            {
                "listing_id": listing_id,
                "label": f"listing {listing_id}",
                "side": side,
                "status": (row or {}).get("listing_status"),
                "visible": (row or {}).get("listing_visible"),
                "merged_into_id": (row or {}).get("merged_into_id"),
                "confidence": snap.get("confidence"),
                "reason": snap.get("reason"),
                "features": snap.get("features") or {},
                "explanation": snap.get("explanation") or [],
                "found_by": snap.get("found_by") or [],
                "thumbs": [],
            }
        )
    if kept is not None:
        columns.append(
            {
                "listing_id": int(kept["listing_id"]),
                "listing_info_id": int(kept["listing_info_id"]),
                "label": f"listing_info {kept['listing_info_id']} (shown)",
                "side": _side(
                    name=kept["name"],
                    address=kept["address1"],
                    city=kept["city"],
                    postal=kept["zip"],
                    phones=[kept["international_phone"] or ""],
                    websites=[kept["website_url"] or ""],
                    categories=[kept["category"] or ""],
                    lat=kept["lat"],
                    lng=kept["lng"],
                ),
                "status": kept["listing_status"],
                "visible": kept["info_visible"],
                "merged_into_id": None,
                "confidence": None,
                "reason": payload.get("reason"),
                "features": {},
                "explanation": [],
                "found_by": [],
                "thumbs": [],
            }
        )
    # thumbnails: each candidate listing's shown images; the record's own listing_info's (or fetched) images
    thumb_ids = [c["listing_id"] for c in columns if "listing_info_id" not in c]
    if thumb_ids:
        by_listing: dict[int, list[dict[str, Any]]] = {}
        for t in conn.execute(text(THUMBS_SQL), {"ids": thumb_ids, "per": THUMBS_PER_LISTING}).mappings():
            shown = by_listing.setdefault(int(t["listing_id"]), [])
            if len(shown) < THUMBS_PER_LISTING:
                shown.append({"listing_image_id": t["id"], "rendition": preview_rendition(t["renditions"])})
        for c in columns:
            c["thumbs"] = by_listing.get(c["listing_id"], []) if "listing_info_id" not in c else []
    incoming_thumbs = _record_thumbs(conn, item, info_id, record)
    if kept is not None:
        for c in columns:
            if "listing_info_id" in c:
                c["thumbs"] = _info_thumbs(conn, c["listing_info_id"])
    # distances and the aligned rows
    for c in columns:
        s = c["side"]
        c["distance_m"] = (
            round(haversine_m(incoming["lat"], incoming["lng"], s["lat"], s["lng"]))
            if None not in (incoming["lat"], incoming["lng"], s["lat"], s["lng"])
            else None
        )
    rows = []
    for key, label in FIELDS:
        cells = []
        for c in columns:
            state = _compare(incoming, c["side"], key, c["distance_m"])
            value = (
                ("" if c["distance_m"] is None else f"{c['distance_m']:,} m")
                if key == "distance"
                else _display(c["side"], key)
            )
            segments = None
            if state == "differs" and key in ("name", "address"):
                segments = value_diff(_display(incoming, key), value)["source"]
            cells.append({"value": value, "state": state, "segments": segments})
        rows.append(
            {
                "key": key,
                "label": label,
                "incoming": "" if key == "distance" else _display(incoming, key),
                "cells": cells,
            }
        )
    pins = [("R", "record", incoming["lat"], incoming["lng"], incoming["name"])] + [
        (str(n), "candidate", c["side"]["lat"], c["side"]["lng"], c["side"]["name"])
        for n, c in enumerate(columns, start=1)
    ]
    rematch = payload.get("rematch") or {}
    return {
        "item": dict(item._mapping),
        "record": record,
        "incoming": incoming,
        "incoming_thumbs": incoming_thumbs,
        "own": own,
        "columns": columns,
        "rows": rows,
        "map": svg_map(pins),
        "reason": (payload.get("decision") or {}).get("reason")
        or rematch.get("reason")
        or payload.get("reason"),
        "choices": ids,
        "decidable": item.status == "open",
    }


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


def _info_thumbs(conn: Connection, listing_info_id: int) -> list[dict[str, Any]]:
    return [
        {"listing_image_id": r.id, "rendition": preview_rendition(r.renditions)}
        for r in conn.execute(
            text(
                "select id, renditions from public.listing_images where listing_info_id = :i"
                " order by rank, id limit :per"
            ),
            {"i": listing_info_id, "per": THUMBS_PER_LISTING},
        )
    ]


def _record_thumbs(
    conn: Connection, item: Any, info_id: int | None, record: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The record's images: its listing_info's shown ones, else those the images step fetched for its
    source URLs (pipeline.images by uq_images_dmo_url)."""
    if info_id is not None:
        shown = _info_thumbs(conn, info_id)
        if shown:
            return shown
    urls = [u if isinstance(u, str) else (u or {}).get("url") for u in (record.get("images") or [])]
    urls = [u for u in urls if u][:THUMBS_PER_LISTING]
    if not urls or item.dmo_id is None:
        return []
    import hashlib

    keys = [hashlib.sha256(u.encode()).hexdigest() for u in urls]
    return [
        {"image_id": r.id, "rendition": preview_rendition(r.renditions)}
        for r in conn.execute(
            text(
                "select id, renditions from pipeline.images where dmo_id = :d and url_key = any(:k)"
                " and status in ('downloaded', 'unchanged') order by id"
            ),
            {"d": item.dmo_id, "k": keys},
        )
    ]


def svg_map(
    pins: Sequence[tuple[str, str, float | None, float | None, Any]],
    *,
    width: int = 360,
    height: int = 240,
    pad: int = 28,
) -> dict[str, Any] | None:
    """Pins (label, kind, lat, lng, title) placed relative to each other on a width x height plane (an
    equirectangular projection around their centre: true to scale at these distances) with a scale bar
    of a round distance. None when no pin has coordinates."""
    from listings.matching.features import EARTH_RADIUS_M

    placed = [
        (label, kind, lat, lng, title)
        for label, kind, lat, lng, title in pins
        if lat is not None and lng is not None
    ]
    if not placed:
        return None
    lat0 = sum(p[2] for p in placed) / len(placed)
    lng0 = sum(p[3] for p in placed) / len(placed)
    k = math.pi / 180 * EARTH_RADIUS_M
    metres = [((p[3] - lng0) * k * math.cos(math.radians(lat0)), (p[2] - lat0) * k) for p in placed]
    span_x = max(abs(x) for x, _ in metres)
    span_y = max(abs(y) for _, y in metres)
    half_w, half_h = width / 2 - pad, height / 2 - pad
    scale = min(half_w / span_x if span_x else math.inf, half_h / span_y if span_y else math.inf)
    if not math.isfinite(scale):
        scale = half_w / 100  # every pin at one spot: 100 m across half the plane
    out = []
    for (label, kind, lat, lng, title), (x, y) in zip(placed, metres, strict=True):
        out.append(
            {
                "label": label,
                "kind": kind,
                "x": round(width / 2 + x * scale, 1),
                "y": round(height / 2 - y * scale, 1),
                "title": f"{title or ''} ({lat:.5f}, {lng:.5f})",
            }
        )
    target = (width / 4) / scale  # metres for about a quarter of the width
    magnitude = 10 ** math.floor(math.log10(target)) if target > 0 else 1
    nice = max((m * magnitude for m in (1, 2, 5, 10) if m * magnitude <= target), default=magnitude)
    label = f"{nice / 1000:g} km" if nice >= 1000 else f"{nice:g} m"
    missing = [label for label, _, lat, lng, _ in pins if lat is None or lng is None]
    return {
        "width": width,
        "height": height,
        "pins": out,
        "scale_px": round(nice * scale, 1),
        "scale_label": label,
        "missing": missing,
    }
