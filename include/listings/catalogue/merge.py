"""Moving a DMO's record (its listing_info) between listings: force-match, merge and unmerge, and the
shared core the review queue and rematch use.

Actions take a connection and run in the caller's transaction (one per action: `with engine.begin() as
conn`); an `EditError` leaves the database as it was. Every move:
- waits for a running promotion (promotion's advisory lock): the two never see half of each other;
- moves the listing_info with its bridge rows (`match_method 'manual'`, or `rematch`), so that later
  imports of the record resolve to where it was put (by source id, by this DMO's bridge, or another DMO's);
- retires a listing left without listing_info as `merged` into the target (it forwards to it);
- never leaves one DMO shown twice on a listing: a moved listing_info that would be is hidden
  (`pending`) and queued as a `source_conflict`, as promotion does;
- is recorded in `pipeline.listing_edits` (action `move`; `show` when a waiting record becomes visible;
  `merge` for a retired listing); open match items of a moved record are resolved with it;
- refreshes `pipeline.listing_match` for the listings it touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from listings.catalogue import edits
from listings.catalogue.edits import EditError
from listings.matching import model_store

MATCH_ITEM_TYPES = ("low_confidence_match", "multiple_close_matches", "source_conflict")
MANUAL = "manual"
PROMOTION_LOCK = "listings.promotion"  # a promotion holds the same advisory lock (listings.pipeline.promote)
LOCK_WAIT = "10s"


@dataclass(frozen=True)
class MatchResult:
    listing_id: int  # where the record (or the merged listing's records) is now
    message: str
    hidden: list[int] = field(default_factory=list)  # listing_info hidden as a same-DMO duplicate


# ------------------------------------------------------------------------------------------------
# Moving records between listings (the shared part of every action)
# ------------------------------------------------------------------------------------------------


def lock_promotion(conn: Connection) -> None:
    """Wait (a while) for a running promotion: it reads and writes the same rows."""
    conn.execute(text(f"set local lock_timeout = '{LOCK_WAIT}'"))
    try:
        conn.execute(text("select pg_advisory_xact_lock(hashtext(:k))"), {"k": PROMOTION_LOCK})
    except OperationalError as exc:
        raise EditError("a promotion is running: nothing was changed, try again in a minute") from exc


def info_row(conn: Connection, listing_info_id: int) -> Any:
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


def listing_row(conn: Connection, listing_id: int) -> Any:
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


def target_row(conn: Connection, listing_id: int) -> Any:
    """A listing records may move to: it exists, is not merged (its target is named) nor archived."""
    row = listing_row(conn, listing_id)
    if row.listing_status == "merged":
        raise EditError(f"listing {listing_id} was merged into listing {row.merged_into_id}: use that one")
    if row.listing_status == "archived":
        raise EditError(f"listing {listing_id} is archived: restore it first, or choose another listing")
    return row


def forward(conn: Connection, listing_id: int) -> int:
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
    edits.log_edit(conn, target, action, user, entries, review_item_id=review_item_id)


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


def move_record(
    conn: Connection,
    info: Any,
    to_listing_id: int,
    *,
    user: str,
    why: str,
    review_item_id: int | None = None,
    method: str = MANUAL,
    certainty: float = 1.0,
) -> int | None:
    """Put a listing_info on another listing, with its bridge rows (`method`, `certainty`: a person's
    decision is `manual` and certain, rematch's its own); a waiting (pending) one becomes visible. Returns the listing_info kept visible instead when the DMO is already shown on the target
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
            "update pipeline.bridge_source_listing set listing_id = :to, match_method = :m, certainty_score = :c,"
            " reason = :why, mapped_at = now() where listing_id = :from and listing_info_id = :i"
        ),
        {
            "to": to_listing_id,
            "m": method,
            "c": certainty,
            "why": why[:2000],
            "from": from_listing_id,
            "i": info.id,
        },
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


def retire_listing(
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


def refresh_match_index(conn: Connection, ids: Iterable[int]) -> None:
    conn.execute(text("select pipeline.refresh_listing_match(:ids)"), {"ids": sorted(set(ids))})


def hidden_note(hidden: Sequence[tuple[int, int]]) -> str:
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
    lock_promotion(conn)
    info = info_row(conn, listing_info_id)
    if int(info.listing_id) == to_listing_id:
        raise EditError(f"listing_info {listing_info_id} is already on listing {to_listing_id}")
    target_row(conn, to_listing_id)
    from_id = int(info.listing_id)
    listing_row(conn, from_id)  # locked
    why = f"force-matched to listing {to_listing_id} by {user}"
    model_store.label_listings(conn, from_id, to_listing_id, label=True, source="force_match", user=user,
                               listing_info_id=listing_info_id)  # fmt: skip
    kept = move_record(conn, info, to_listing_id, user=user, why=why)
    retired = retire_listing(conn, from_id, to_listing_id, user=user)
    refresh_match_index(conn, (from_id, to_listing_id))
    message = f"listing_info {listing_info_id} ({info.dmo_name}) moved from listing {from_id} to listing {to_listing_id}."
    if retired:
        message += f" Listing {from_id} had nothing left: merged into {to_listing_id}."
    hidden = [(listing_info_id, kept)] if kept is not None else []
    return MatchResult(to_listing_id, message + hidden_note(hidden), [h[0] for h in hidden])


def merge_listings(conn: Connection, from_listing_id: int, into_listing_id: int, *, user: str) -> MatchResult:
    """Move every listing_info of `from_listing_id` to `into_listing_id`; `from` becomes merged into it."""
    if from_listing_id == into_listing_id:
        raise EditError(f"listing {from_listing_id} cannot be merged into itself: choose another listing")
    lock_promotion(conn)
    source = listing_row(conn, from_listing_id)
    if source.listing_status == "merged":
        raise EditError(f"listing {from_listing_id} is already merged into listing {source.merged_into_id}")
    target_row(conn, into_listing_id)
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
        kept = move_record(conn, info, into_listing_id, user=user, why=why)
        if kept is not None:
            hidden.append((int(info.id), kept))
    retire_listing(conn, from_listing_id, into_listing_id, user=user)
    refresh_match_index(conn, (from_listing_id, into_listing_id))
    message = (
        f"Listing {from_listing_id} merged into listing {into_listing_id}: {len(infos)} listing_info moved."
    )
    return MatchResult(into_listing_id, message + hidden_note(hidden), [h[0] for h in hidden])


def unmerge(conn: Connection, listing_info_id: int, *, user: str) -> MatchResult:
    """Take a listing_info out of its listing into a new listing of its own (named after it, at the place
    its record gave when it is still staged, else a copy of the listing's location), shown."""
    lock_promotion(conn)
    info = info_row(conn, listing_info_id)
    from_id = int(info.listing_id)
    source = listing_row(conn, from_id)
    others: int = conn.execute(
        text("select count(*) from public.listing_info where listing_id = :l and id <> :i"),
        {"l": from_id, "i": listing_info_id},
    ).scalar_one()
    if not others:
        raise EditError(
            f"listing_info {listing_info_id} is the only listing_info of listing {from_id}: nothing to unmerge it from"
        )
    new_id = new_listing(conn, info, source, from_id)
    why = f"unmerged from listing {from_id} into new listing {new_id} by {user}"
    move_record(conn, info, new_id, user=user, why=why)
    refresh_match_index(conn, (from_id, new_id))
    model_store.label_listings(conn, new_id, from_id, label=False, source="unmerge", user=user,
                               listing_info_id=listing_info_id)  # fmt: skip
    return MatchResult(
        new_id,
        f"listing_info {listing_info_id} ({info.dmo_name}) taken out of listing {from_id}: new listing {new_id}.",
    )


def new_listing(conn: Connection, info: Any, source: Any, from_id: int) -> int:
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


def activate_record(
    conn: Connection,
    info: Any,
    *,
    user: str,
    why: str,
    review_item_id: int | None = None,
    method: str = MANUAL,
    certainty: float = 1.0,
) -> None:
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
            "update pipeline.bridge_source_listing set match_method = :m, certainty_score = :c, reason = :why,"
            " mapped_at = now() where listing_id = :l and listing_info_id = :i"
        ),
        {"m": method, "c": certainty, "why": why[:2000], "l": listing_id, "i": info.id},
    )
    _show_listing(conn, listing_id, user, review_item_id)
