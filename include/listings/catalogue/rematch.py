"""Rematch: run matching again over the stored transformed files when thresholds or rules change, say what
would change, and (unless it is a dry run) apply it.

For each DMO, the records of its latest promoted transformed file that matching decided (not the
deterministic source-id / record-hash hits) are scored again against the catalogue, their own listing
excluded:
- a record alone in a listing it created, now confidently the same place as another listing:
  `merge` — its listing_info moves to that listing; its old listing is marked merged into it;
- a record waiting in the review queue, now confident either way: `merge` (as above) or `accept_new`
  (its hidden listing becomes visible); its review item is resolved by "rematch";
- a record now ambiguous that no reviewer has seen: `review` — a review item is queued;
- a record merged automatically that would no longer be: `review` too (`unmerge_suggested`): splitting a
  listing is a human decision, never automatic.
Each pair of listings is proposed once (A -> B and B -> A are one pair: a waiting record moves, else the
lower listing_info), and not at all while an open review item already holds it; a review item carries its
scored candidates, as the match step's do.
Changes are applied through the move core of a person's force-match (`catalogue.merge`): after any running
promotion, one DMO shown at most once per listing, every move on both listings' timelines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from listings.catalogue.edits import EditError
from listings.catalogue.merge import (
    activate_record,
    forward,
    info_row,
    listing_row,
    lock_promotion,
    move_record,
    refresh_match_index,
    retire_listing,
    target_row,
)
from listings.matching.engine import (
    MatchOutcome,
    Thresholds,
    candidate_doc,
    match_records,
    write_review_items,
)

log = logging.getLogger(__name__)

SCORED_METHODS = ("new", "auto_match", "review")
REMATCH = "rematch"  # the user of its timeline entries and review resolutions, and its bridge rows' method
DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Change:
    dmo_id: int
    record_hash: str
    name: str
    listing_info_id: int
    from_listing_id: int
    action: str  # merge | accept_new | review | unmerge_suggested
    to_listing_id: int | None
    confidence: float
    reason: str
    pending: bool = False  # the record waits in the review queue
    candidates: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)


def _current(conn: Connection, dmo_id: int | None) -> list[dict[str, Any]]:
    """Each DMO's latest promoted transformed file, with every scored record hash's current placement."""
    rows = conn.execute(
        text(
            """
            with latest as (
                select distinct on (j.dmo_id, j.data_domain) j.dmo_id, f.id as file_id, f.s3_path
                from pipeline.jobs j
                join pipeline.job_files f on f.job_id = j.id and f.stage = 'transformed'
                where j.promoted_at is not null and (cast(:dmo as int) is null or j.dmo_id = :dmo)
                order by j.dmo_id, j.data_domain, j.id desc
            ),
            placed as (  -- each record hash's latest mapping (an unchanged re-run adds no bridge row)
                select distinct on (b.dmo_id, b.source_record_hash) b.*
                from pipeline.bridge_source_listing b
                where cast(:dmo as int) is null or b.dmo_id = :dmo
                order by b.dmo_id, b.source_record_hash, b.id desc
            ),
            first_decision as (
                select distinct on (b.dmo_id, b.source_record_hash) b.dmo_id, b.source_record_hash, b.match_method
                from pipeline.bridge_source_listing b
                order by b.dmo_id, b.source_record_hash, b.id
            )
            select l.dmo_id, l.s3_path, b.source_record_hash, b.listing_id, b.listing_info_id,
                   fd.match_method as decided_by, li.info_status,
                   (select count(*) from public.listing_info o where o.listing_id = b.listing_id) as infos
            from latest l
            join placed b on b.dmo_id = l.dmo_id  -- the latest file's records (by hash) are kept in plan()
            join first_decision fd on fd.dmo_id = b.dmo_id and fd.source_record_hash = b.source_record_hash
            join public.listing_info li on li.id = b.listing_info_id
            where fd.match_method = any(:methods)
            """
        ),
        {"dmo": dmo_id, "methods": list(SCORED_METHODS)},
    )
    return [dict(r._mapping) for r in rows]


def plan(
    engine: Engine, *, dmo_id: int | None = None, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> list[Change]:
    from listings.storage import get_store, load_json_gz, object_path

    with engine.connect() as conn:
        current = _current(conn, dmo_id)
    by_file: dict[str, list[dict[str, Any]]] = {}
    for row in current:
        by_file.setdefault(row["s3_path"], []).append(row)
    changes: list[Change] = []
    with engine.connect() as conn:
        under_review = _pairs_under_review(conn)
    for path, placed in by_file.items():
        where = {p["source_record_hash"]: p for p in placed}
        records = []
        for r in load_json_gz(get_store().get(object_path(path))):
            if r["record_hash"] in where:
                records.append({**r, "_listing_id": where[r["record_hash"]]["listing_id"]})
        by_no = {int(r["record_no"]): r for r in records}
        for outcome in match_records(engine, records, thresholds, within_batch=False):
            record = by_no[outcome.record_no]
            changes.extend(_change(where[record["record_hash"]], record, outcome))
    return _each_pair_once(changes, under_review)


def _each_pair_once(changes: list[Change], under_review: set[frozenset[int]]) -> list[Change]:
    """One change per pair of listings: a waiting record's first (it moves, the visible listing stays),
    then the lower listing_info's; none for a pair an open review item already holds."""
    kept: list[Change] = []
    seen: set[frozenset[int]] = set()
    for c in sorted(changes, key=lambda c: (not c.pending, c.dmo_id, c.listing_info_id)):
        if c.to_listing_id is not None:  # (an unmerge suggestion names no other listing)
            pair = frozenset({c.from_listing_id, c.to_listing_id})
            if pair in seen or (c.action == "review" and pair in under_review):
                continue
            seen.add(pair)
        kept.append(c)
    return sorted(kept, key=lambda c: (c.dmo_id, c.listing_info_id))


def _pairs_under_review(conn: Connection) -> set[frozenset[int]]:
    """(record's listing, candidate listing) of every open matching review item."""
    rows = conn.execute(
        text(
            """
            select r.listing_id as candidate, li.listing_id as own
            from pipeline.review_items r
            join pipeline.bridge_source_listing b
              on b.dmo_id = r.dmo_id and b.source_record_hash = r.source_record_hash
            join public.listing_info li on li.id = b.listing_info_id
            where r.status = 'open' and r.listing_id is not null
              and r.item_type in ('low_confidence_match', 'multiple_close_matches')
            """
        )
    )
    return {frozenset({int(r.candidate), int(r.own)}) for r in rows}


def _change(now: dict[str, Any], record: dict[str, Any], o: MatchOutcome) -> Iterable[Change]:
    d = o.decision
    base = {
        "dmo_id": now["dmo_id"], "record_hash": now["source_record_hash"], "name": record["name"],
        "listing_info_id": now["listing_info_id"], "from_listing_id": now["listing_id"],
        "confidence": round(d.confidence, 4), "reason": d.reason, "pending": now["info_status"] == "pending",
        "candidates": [candidate_doc(s, o.model) for s in o.scored[:10]],
    }  # fmt: skip
    pending = now["info_status"] == "pending"
    alone = now["infos"] == 1
    if d.action == "auto_merge" and (alone or pending) and d.candidate_id != now["listing_id"]:
        yield Change(**base, action="merge", to_listing_id=d.candidate_id)
    elif d.action == "new" and pending:
        yield Change(**base, action="accept_new", to_listing_id=now["listing_id"])
    elif d.action == "review" and not pending and alone:
        yield Change(**base, action="review", to_listing_id=d.candidate_id)
    elif d.action != "auto_merge" and now["decided_by"] == "auto_match" and not alone:
        yield Change(**base, action="unmerge_suggested", to_listing_id=None)


def apply(engine: Engine, changes: list[Change]) -> dict[str, int]:
    """Apply a plan in one transaction per DMO, after any running promotion (its advisory lock), through
    the move core a person's force-match uses (`catalogue.merge`): the same visibility rules, timeline
    entries and bridge rows (`rematch`, with the plan's confidence). Returns counts per action; a change
    the catalogue no longer allows (its target archived meanwhile) is counted as `skipped`."""
    counts: dict[str, int] = {}
    for dmo_id in sorted({c.dmo_id for c in changes}):
        with engine.begin() as conn:
            lock_promotion(conn)
            touched: set[int] = set()
            for c in (c for c in changes if c.dmo_id == dmo_id):
                action = c.action
                try:
                    with conn.begin_nested():
                        if c.action == "merge":
                            touched |= _merge(conn, c)
                        elif c.action == "accept_new":
                            _accept_new(conn, c)
                            touched.add(c.from_listing_id)
                        else:
                            _queue(conn, c)
                except EditError as exc:
                    action = "skipped"
                    log.warning(
                        "rematch: %s of listing_info %s skipped: %s", c.action, c.listing_info_id, exc
                    )
                counts[action] = counts.get(action, 0) + 1
            refresh_match_index(conn, touched)
    return counts


def _queue(conn: Connection, c: Change) -> None:
    write_review_items(
        conn,
        [
            {
                "item_type": "low_confidence_match" if c.action == "review" else "source_conflict",
                "dmo_id": c.dmo_id,
                "job_id": None,
                "listing_id": c.to_listing_id or c.from_listing_id,
                "listing_info_id": c.listing_info_id,
                "source_record_hash": c.record_hash,
                "payload": {"rematch": _plain(c)},
                "candidates": c.candidates,
                "confidence": c.confidence,
            }
        ],
    )


def _merge(conn: Connection, c: Change) -> set[int]:
    """The record joins the planned listing (or the listing it was merged into meanwhile); the listing it
    leaves empty forwards to it. Returns the listings touched."""
    assert c.to_listing_id is not None
    info = info_row(conn, c.listing_info_id)
    own = int(info.listing_id)
    target = forward(conn, c.to_listing_id)
    if target == own:
        return set()
    target_row(conn, target)
    listing_row(conn, own)  # locked
    why = f"rematch: {c.reason}"
    move_record(conn, info, target, user=REMATCH, why=why, method=REMATCH, certainty=c.confidence)
    retire_listing(conn, own, target, user=REMATCH)
    return {own, target}


def _accept_new(conn: Connection, c: Change) -> None:
    """A waiting record that matches nothing closely enough is a listing of its own: shown."""
    info = info_row(conn, c.listing_info_id)
    why = f"rematch: kept as a new listing ({c.reason})"
    activate_record(conn, info, user=REMATCH, why=why, method=REMATCH, certainty=c.confidence)


def _plain(c: Change) -> dict[str, Any]:
    out = asdict(c)
    del out["candidates"]
    return out


def report(changes: list[Change]) -> str:
    return "\n".join(json.dumps(_plain(c), ensure_ascii=False) for c in changes)
