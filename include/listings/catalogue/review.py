"""The review queue's match items decided: accept, choose, new or dismiss (and manual-edit conflicts in
bulk), through the move core of `catalogue.merge`; each decision is stored as labelled pairs for the model."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from listings.catalogue import edits
from listings.catalogue.edits import EditError
from listings.catalogue.merge import (
    MATCH_ITEM_TYPES,
    MatchResult,
    activate_record,
    forward,
    hidden_note,
    info_row,
    listing_row,
    lock_promotion,
    move_record,
    new_listing,
    refresh_match_index,
    retire_listing,
    target_row,
)
from listings.matching import model_store

MATCH_DECISIONS = ("accept", "choose", "new", "dismiss")
REVIEW_DECISIONS = (*MATCH_DECISIONS, "keep")  # keep: a manual-edit conflict's "keep the manual value"


@dataclass(frozen=True)
class Decisions:
    done: list[int]
    failed: dict[int, str]  # item id -> why
    kinds: dict[int, str] = field(default_factory=dict)  # item id -> item type (of the items found)
    messages: dict[int, str] = field(default_factory=dict)  # decided item id -> what happened


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


def review_item(conn: Connection, review_item_id: int, *, lock: bool = False) -> Any:
    row = conn.execute(
        text(ITEM_SQL + (" for update of r" if lock else "")), {"i": review_item_id}
    ).one_or_none()
    if row is None:
        raise EditError(f"no review item {review_item_id}")
    return row


def record_info_id(conn: Connection, item: Any) -> int | None:
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
    lock_promotion(conn)  # first: every action takes this lock before any row lock (no deadlock between them)
    item = review_item(conn, review_item_id, lock=True)
    where = f"review item {review_item_id}"
    if item.item_type not in MATCH_ITEM_TYPES:
        raise EditError(f"{where} is a {item.item_type.replace('_', ' ')}, not a match item")
    if item.status != "open":
        raise EditError(f"{where} is already {item.status} (by {item.resolved_by or '?'})")
    if decision == "dismiss":
        own_id = record_info_id(conn, item)
        own_listing = int(info_row(conn, own_id).listing_id) if own_id is not None else None
        model_store.label_review_item(conn, item, "dismiss", chosen_listing_id=None, own_listing_id=own_listing,
                                      listing_info_id=own_id, user=user)  # fmt: skip
        _close(conn, review_item_id, "dismissed", user, "dismissed: the catalogue was left as it was")
        return MatchResult(int(item.listing_id or 0), f"Review item {review_item_id} dismissed.")
    info_id = record_info_id(conn, item)
    if info_id is None:
        raise EditError(f"the record of {where} is not in the catalogue (its job was not promoted)")
    info = info_row(conn, info_id)
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
        target = forward(conn, wanted)
        target_row(conn, target)
        listing_row(conn, own)
        how = "accepted" if decision == "accept" else "chose"
        resolution = f"{how}: listing {target}" + (
            f" (listing {wanted} was merged into it)" if target != wanted else ""
        )
        if target == own:  # already there (someone merged meanwhile): shown
            activate_record(
                conn, info, user=user, why=f"{resolution}, by {user}", review_item_id=review_item_id
            )
        else:
            kept = move_record(
                conn,
                info,
                target,
                user=user,
                why=f"review item {review_item_id}: {resolution}, by {user}",
                review_item_id=review_item_id,
            )
            if kept is not None:
                hidden.append((info_id, kept))
            retire_listing(conn, own, target, user=user, review_item_id=review_item_id)
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
            target = new_listing(conn, info, listing_row(conn, own), own)
            resolution = f"new: taken out of listing {own} into new listing {target}"
            move_record(
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
            activate_record(
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
    refresh_match_index(conn, touched)
    return MatchResult(target, message + hidden_note(hidden), [h[0] for h in hidden])


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
