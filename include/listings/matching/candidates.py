"""Candidate canonical listings for incoming records, found in PostgreSQL in one set-based query.

Blocking, so that no record is compared with the whole catalogue:
- near: listings whose current location lies within `radius_m` of the record's coordinates (PostGIS
  KNN on the GiST index of `locations.geog`, nearest first);
- postal: listings with the same postal key (expression index), most similar names first (pg_trgm);
- name: for records with neither coordinates nor a postal code, listings in the same city whose name is
  trigram-similar (GIN index on `listings.name`).
Merged listings are never candidates: they forward to the listing they were merged into.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class Incoming:
    record_no: int
    name: str
    lat: float | None
    lng: float | None
    postal_key: str  # "" when unknown
    city: str | None


@dataclass
class Candidate:
    listing_id: int
    name: str | None
    address1: str | None
    city: str | None
    zip: str | None
    country: str | None
    lat: float | None
    lng: float | None
    phones: list[str] = field(default_factory=list)  # E.164 numbers of every listing_info's contact
    websites: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)  # near | postal | name: which block found it


CANDIDATE_SQL = """
with near as (
    select i.record_no, c.listing_id, 'near' as via
    from _match_incoming i
    cross join lateral (
        select l.id as listing_id
        from public.locations pl
        join public.listings l on l.location_id = pl.id
        where i.geog is not null
          and st_dwithin(pl.geog, i.geog, :radius)
          and l.listing_status <> 'merged'
        order by pl.geog <-> i.geog
        limit :k_near
    ) c
),
postal as (
    select i.record_no, c.listing_id, 'postal' as via
    from _match_incoming i
    cross join lateral (
        select l.id as listing_id
        from public.locations pl
        join public.listings l on l.location_id = pl.id
        where i.postal_key <> ''
          and upper(regexp_replace(pl.zip, '[^A-Za-z0-9]', '', 'g')) = i.postal_key
          and l.listing_status <> 'merged'
        order by similarity(l.name, i.name) desc, l.id
        limit :k_postal
    ) c
),
named as (
    select i.record_no, c.listing_id, 'name' as via
    from _match_incoming i
    cross join lateral (
        select l.id as listing_id
        from public.listings l
        join public.locations pl on pl.id = l.location_id
        where i.geog is null and i.postal_key = '' and i.city_key <> ''
          and l.name % i.name
          and lower(pl.city) = i.city_key
          and l.listing_status <> 'merged'
        order by similarity(l.name, i.name) desc, l.id
        limit :k_name
    ) c
)
select record_no, listing_id, via from near
union all select record_no, listing_id, via from postal
union all select record_no, listing_id, via from named
"""

DETAILS_SQL = """
select l.id, l.name, pl.address1, pl.city, pl.zip, pl.country, pl.lat, pl.lng,
       coalesce(array_agg(distinct ci.international_phone) filter (where ci.international_phone is not null), '{}') as phones,
       coalesce(array_agg(distinct ci.website_url) filter (where ci.website_url is not null), '{}') as websites,
       coalesce(array_agg(distinct li.category) filter (where li.category is not null), '{}') as categories
from public.listings l
left join public.locations pl on pl.id = l.location_id
left join public.listing_info li on li.listing_id = l.id
left join public.contact_info ci on ci.id = li.contact_info_id
where l.id = any(:ids)
group by l.id, pl.id
"""


def find_candidates(
    conn: Connection,
    incoming: Sequence[Incoming],
    *,
    radius_m: float = 500,
    k_near: int = 8,
    k_postal: int = 10,
    k_name: int = 8,
) -> dict[int, list[Candidate]]:
    """Candidates per record_no, each with the details the scorer needs."""
    if not incoming:
        return {}
    conn.execute(
        text(
            "create temporary table if not exists _match_incoming"
            " (record_no int primary key, name text, geog geography, postal_key text, city_key text)"
            " on commit drop"
        )
    )
    conn.execute(text("truncate _match_incoming"))
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        with cur.copy(
            "copy _match_incoming (record_no, name, geog, postal_key, city_key) from stdin"
        ) as copy:
            for r in incoming:
                point = (
                    f"SRID=4326;POINT({r.lng} {r.lat})" if r.lat is not None and r.lng is not None else None
                )
                copy.write_row((r.record_no, r.name, point, r.postal_key, (r.city or "").lower()))
        cur.execute("analyze _match_incoming")
    conn.execute(text("set local pg_trgm.similarity_threshold = 0.35"))
    rows = conn.execute(
        text(CANDIDATE_SQL), {"radius": radius_m, "k_near": k_near, "k_postal": k_postal, "k_name": k_name}
    ).all()
    found: dict[int, dict[int, set[str]]] = {}
    for row in rows:
        found.setdefault(int(row.record_no), {}).setdefault(int(row.listing_id), set()).add(str(row.via))
    ids = sorted({lid for per in found.values() for lid in per})
    details: dict[int, Candidate] = {}
    for start in range(0, len(ids), 20_000):
        for row in conn.execute(text(DETAILS_SQL), {"ids": ids[start : start + 20_000]}):
            details[row.id] = Candidate(
                listing_id=row.id,
                name=row.name,
                address1=row.address1,
                city=row.city,
                zip=row.zip,
                country=row.country,
                lat=float(row.lat) if row.lat is not None else None,
                lng=float(row.lng) if row.lng is not None else None,
                phones=list(row.phones),
                websites=list(row.websites),
                categories=list(row.categories),
            )
    out: dict[int, list[Candidate]] = {}
    for record_no, per in found.items():
        cands = []
        for listing_id, via in sorted(per.items()):
            base = details.get(listing_id)
            if base is not None:
                cands.append(Candidate(**{**base.__dict__, "via": set(via)}))
        out[record_no] = cands
    return out
