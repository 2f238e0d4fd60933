"""Candidate canonical listings for incoming records, found in PostgreSQL in one set-based query over the
matching index `pipeline.listing_match` (one row per listing, kept by promotion).

Blocking, so that no record is compared with the whole catalogue. Every block a record has the keys for is
searched (a candidate never depends on one field being spelled the same on both sides):
- near: listings whose current location lies within `radius_m` of the record's coordinates (PostGIS
  KNN on the GiST index, nearest first);
- postal: listings with the same postal key, most similar names first (pg_trgm);
- phone / website: listings that any DMO lists with the same E.164 phone number / website host, whatever
  their name or address (GIN indexes on the arrays);
- address: listings at the same street address (address key with its civic number), in any city of the
  region (any region when the record or the listing has none);
- name: for a record without coordinates, listings of the same city (its matching key: "New York City",
  "NYC" and "Brooklyn" are all "new york", `places.city_match_key`) that share a word of the name, among
  the words that few listings of the city share (`pipeline.city_words`, one GIN posting list per city and
  word); and listings in the same region (state / province code, `places.region_key`) with the same name key, in any city (a source
  without postal codes, a neighbourhood the alias file does not know). The trigram search over a city this
  replaced cost 6-9 ms per record at 100,000 listings (its posting lists span the whole catalogue), and
  over a region 118 records/s at a million.
Merged listings are never candidates: they forward to the listing they were merged into.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from listings.transform.normalize import key_words


@dataclass(frozen=True)
class Incoming:
    record_no: int
    name: str
    lat: float | None
    lng: float | None
    postal_key: str  # "" when unknown
    city_key: str  # matching key of the city ("" when unknown)
    phone: str = ""  # E.164
    website_host: str = ""
    address_key: str = ""  # only with a house number: a street alone is no address
    region_key: str = ""  # state / province code (`places.region_key`)
    name_key: str = ""

    def city_words(self) -> list[str]:
        """The name's words (articles and linking words left out) in its city, as `pipeline.city_words`."""
        if not self.city_key:
            return []
        return sorted({f"{self.city_key}|{w}" for w in key_words(self.name_key) if len(w) > 1})


@dataclass(slots=True)
class Candidate:
    listing_id: int
    name: str | None
    address1: str | None
    city: str | None
    zip: str | None
    country: str | None
    lat: float | None
    lng: float | None
    # matching keys stored at promotion (null for rows promoted before they existed: computed then)
    name_key: str | None = None
    address_key: str | None = None
    house_number: str | None = None
    city_key: str | None = None
    postal_key: str | None = None
    phones: list[str] = field(default_factory=list)  # E.164 numbers of every listing_info's contact
    websites: list[str] = field(default_factory=list)
    website_hosts: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    image_hashes: list[str] = field(default_factory=list)  # pHashes of the images every DMO shows
    names: list[str] = field(default_factory=list)  # other DMOs' names for the listing


# What the scorer needs of a candidate, fetched once per listing however many records and blocks found it
# (measured at 1M listings: 27,000 block hits were 19,600 listings; one detail row per hit cost a third more).
DETAILS_SQL = """
select m.listing_id, m.name, m.address1, m.city, m.zip, m.country, m.lat::float8, m.lng::float8, m.name_key,
    m.address_key, m.house_number, m.city_key, m.postal_key, m.website_hosts, m.phones, m.websites,
    m.categories, m.image_phashes, m.names
from pipeline.listing_match m
where m.listing_id = any(%(ids)s)"""


def _block(via: str, where: str, order: str, limit: str) -> str:
    return f"""
select i.record_no, '{via}' as via, c.listing_id
from _match_incoming i
cross join lateral (
    select m.listing_id
    from pipeline.listing_match m
    where {where}
    order by {order}
    limit %({limit})s
) c"""


_BY_NAME = "similarity(m.name, i.name) desc, m.listing_id"

# A phone number or website host more listings share than this is a chain's call centre or booking site:
# it says nothing about which branch a record is (the other blocks find that), and ordering its hundreds of
# listings by name for every record of the chain was half the candidate search's time.
COMMON_CONTACT = 20
# Likewise a name word more listings of one city share than this ("restaurant", "hotel").
COMMON_WORD = 50

# Keeps the record's city words that at most COMMON_WORD listings share (each count reads at most one more).
RARE_WORDS_SQL = f"""
update _match_incoming i set words = array(
    select w from unnest(i.words) w
    where (select count(*) from (
        select 1 from pipeline.listing_match k where pipeline.city_words(k.city_key, k.name_key) && array[w]
        limit {COMMON_WORD + 1}) z) <= {COMMON_WORD}
)
where i.words <> '{{}}'"""


def _common_contacts_sql(field: str, column: str) -> str:
    """Blanks the record's `field` (phone / website_host) when more than COMMON_CONTACT listings hold it in
    `column`: counted once per distinct value of the batch, reading at most one listing more than that (a
    chain's call centre is shared by thousands of records of a national file)."""
    return f"""
update _match_incoming set {field} = ''
where {field} in (
    select v from (select distinct {field} as v from _match_incoming where {field} <> '') d
    where (select count(*) from (
        select 1 from pipeline.listing_match k where k.{column} @> array[d.v] limit {COMMON_CONTACT + 1}) z
    ) > {COMMON_CONTACT}
)"""


PREPARE_SQL = (RARE_WORDS_SQL, _common_contacts_sql("phone", "phones"),
               _common_contacts_sql("website_host", "website_hosts"))  # fmt: skip


# One pass over the matching index (pipeline.listing_match): each block returns the listings it found.
CANDIDATE_SQL = "\nunion all".join(
    [
        _block(
            "near",
            "i.geog is not null and st_dwithin(m.geog, i.geog, %(radius)s)",
            "m.geog <-> i.geog",
            "k_near",
        ),
        _block("postal", "i.postal_key <> '' and m.postal_key = i.postal_key", _BY_NAME, "k_postal"),
        # (a phone or website host COMMON_CONTACT listings share is blanked first: PREPARE_SQL)
        _block("phone", "i.phone <> '' and m.phones @> array[i.phone]", _BY_NAME, "k_key"),
        _block(
            "website", "i.website_host <> '' and m.website_hosts @> array[i.website_host]", _BY_NAME, "k_key"
        ),
        # The same street address in another city of the region, or of any region for a record or a
        # listing without one: "100 Main St" of another state is another place (and a country-wide
        # catalogue holds hundreds of them: measured at 1M listings, 1.9 s of 5 s for 5,000 records).
        _block(
            "address",
            "i.address_key <> '' and i.region_key <> '' and m.address_key = i.address_key"
            " and coalesce(m.region_key, '') = any(array[i.region_key, ''])",
            _BY_NAME,
            "k_key",
        ),
        _block(
            "address",
            "i.address_key <> '' and i.region_key = '' and m.address_key = i.address_key",
            _BY_NAME,
            "k_key",
        ),
        # A name word within the city (`pipeline.city_words`, "montreal|deli") for a record without
        # coordinates: only its words at most COMMON_WORD listings of the city share (`words`, computed
        # first), so that "restaurant" does not make a city's every restaurant a candidate.
        _block(
            "name",
            "i.words <> '{}' and pipeline.city_words(m.city_key, m.name_key) && i.words",
            _BY_NAME,
            "k_name",
        ),
        _block(
            "name",
            "i.region_key <> '' and i.name_key <> '' and m.region_key = i.region_key and m.name_key = i.name_key",
            "m.city_key = i.city_key desc, m.listing_id",
            "k_name",
        ),
    ]
)


Found = dict[int, list[tuple[Candidate, frozenset[str]]]]  # record_no -> (candidate, blocks that found it)


def find_candidates(
    conn: Connection,
    incoming: Sequence[Incoming],
    *,
    radius_m: float = 500,
    k_near: int = 6,
    k_postal: int = 5,
    k_name: int = 8,
    k_key: int = 5,
) -> Found:
    """Candidates per record_no, each with the details the scorer needs and the blocks that found it
    (near | postal | phone | website | address | name). A listing is fetched once however many records it
    is a candidate for."""
    if not incoming:
        return {}
    conn.execute(
        text(
            "create temporary table if not exists _match_incoming"
            " (record_no int primary key, name text, geog geography, postal_key text, city_key text,"
            " phone text, website_host text, address_key text, region_key text, name_key text, words text[])"
            " on commit drop"
        )
    )
    conn.execute(text("truncate _match_incoming"))
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        with cur.copy(
            "copy _match_incoming (record_no, name, geog, postal_key, city_key, phone, website_host,"
            " address_key, region_key, name_key, words) from stdin"
        ) as copy:
            for r in incoming:
                point = (
                    f"SRID=4326;POINT({r.lng} {r.lat})" if r.lat is not None and r.lng is not None else None
                )
                words = [] if point else r.city_words()  # the name block is for records without coordinates
                copy.write_row((r.record_no, r.name, point, r.postal_key, r.city_key, r.phone,
                                r.website_host, r.address_key, r.region_key, r.name_key, words))  # fmt: skip
        cur.execute("analyze _match_incoming")
        for sql in PREPARE_SQL:
            cur.execute(sql)
    # Rows straight from the driver: this runs for every record of a batch, ORM rows would cost more.
    with raw.cursor() as cur:
        # The laterals' cost estimates make PostgreSQL JIT-compile this query: compiling costs more than
        # the index lookups themselves (measured: 1.3 s -> 0.7 s for 4,000 records).
        cur.execute("set local jit = off")
        cur.execute(
            CANDIDATE_SQL,
            {"radius": radius_m, "k_near": k_near, "k_postal": k_postal, "k_name": k_name, "k_key": k_key},
        )
        found: dict[int, dict[int, set[str]]] = {}
        for record_no, via, lid in cur.fetchall():
            found.setdefault(record_no, {}).setdefault(lid, set()).add(via)
        if not found:
            return {}
        cur.execute(DETAILS_SQL, {"ids": list({lid for per in found.values() for lid in per})})
        details = {
            lid: Candidate(
                listing_id=lid, name=name, address1=address1, city=city, zip=zip_code, country=country, lat=lat,
                lng=lng, name_key=nkey, address_key=akey, house_number=number, city_key=ckey, postal_key=pkey,
                website_hosts=hosts, phones=phones, websites=websites, categories=categories,
                image_hashes=phashes, names=names,
            )
            for (lid, name, address1, city, zip_code, country, lat, lng, nkey, akey, number, ckey, pkey, hosts,
                 phones, websites, categories, phashes, names) in cur.fetchall()
        }  # fmt: skip
    return {
        record_no: [(details[lid], frozenset(via)) for lid, via in sorted(per.items()) if lid in details]
        for record_no, per in found.items()
    }
