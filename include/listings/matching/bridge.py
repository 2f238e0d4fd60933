"""Deterministic resolution of source records through the bridge table and source ids.

Order: the DMO's own source id (`listing_info.external_source_id`), then the DMO's own earlier record with
the same `record_hash`, then any DMO's record with that hash (a new listing_info on an existing listing).
Fuzzy candidates and confidence scores (the match step) come after these exact hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class BridgeMatch:
    listing_id: int
    listing_info_id: int | None
    method: str  # source_id | bridge | bridge_other_dmo


def resolve(conn: Connection, dmo_id: int, keys: Sequence[tuple[str, str | None]]) -> dict[str, BridgeMatch]:
    """keys: (record_hash, source_id) pairs; returns matches by record_hash."""
    if not keys:
        return {}
    hashes = [h for h, _ in keys]
    source_ids = [s for _, s in keys if s is not None]
    by_source: dict[str, tuple[int, int]] = {}
    if source_ids:
        rows = conn.execute(
            text(
                """
                select distinct on (external_source_id) external_source_id, listing_id, id
                from public.listing_info
                where dmo_id = :dmo and external_source_id = any(:ids)
                order by external_source_id, id desc
                """
            ),
            {"dmo": dmo_id, "ids": source_ids},
        )
        by_source = {r.external_source_id: (r.listing_id, r.id) for r in rows}
    rows = conn.execute(
        text(
            """
            select distinct on (b.source_record_hash)
                   b.source_record_hash, b.listing_id, b.dmo_id = :dmo as own,
                   case when b.dmo_id = :dmo then b.listing_info_id end as listing_info_id
            from pipeline.bridge_source_listing b
            where b.source_record_hash = any(:hashes) and b.listing_id is not null
            order by b.source_record_hash, (b.dmo_id = :dmo) desc, b.id desc
            """
        ),
        {"dmo": dmo_id, "hashes": hashes},
    )
    by_hash = {r.source_record_hash: r for r in rows}
    out: dict[str, BridgeMatch] = {}
    for record_hash, source_id in keys:
        if source_id is not None and source_id in by_source:
            listing_id, info_id = by_source[source_id]
            out[record_hash] = BridgeMatch(listing_id, info_id, "source_id")
        elif (hit := by_hash.get(record_hash)) is not None:
            out[record_hash] = BridgeMatch(
                hit.listing_id, hit.listing_info_id, "bridge" if hit.own else "bridge_other_dmo"
            )
    return out
