"""Candidate blocks against the matching index (`listings.matching.candidates`), on listings written
straight into `public.listings` and `pipeline.listing_match`: what each block finds, and what a chain's
shared phone or a city's common name word does not drag in."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, text

from listings.matching.candidates import COMMON_CONTACT, COMMON_WORD, Incoming, find_candidates


def add_listings(engine: Engine, rows: Sequence[dict[str, object]]) -> None:
    """Listings with their matching keys, as promotion leaves them (ids from 1)."""
    with engine.begin() as conn:
        for i, row in enumerate(rows, start=1):
            conn.execute(
                text("insert into public.listings (id, name) values (:i, :n)"), {"i": i, "n": row["name"]}
            )
            conn.execute(
                text(
                    "insert into pipeline.listing_match (listing_id, name, name_key, city_key, postal_key, phones,"
                    " address_key, region_key, geog) values (:i, :n, :k, :c, :p, :phones, :a, :r,"
                    " case when cast(:lng as float) is null then null"
                    " else st_setsrid(st_makepoint(cast(:lng as float), cast(:lat as float)), 4326)::geography end)"
                ),
                {
                    "i": i,
                    "n": row["name"],
                    "k": str(row["name"]).lower(),
                    "c": row.get("city", "springfield"),
                    "p": row.get("postal"),
                    "phones": row.get("phones", []),
                    "a": row.get("address"),
                    "r": row.get("region"),
                    "lat": row.get("lat"),
                    "lng": row.get("lng"),
                },
            )


def found(engine: Engine, rec: Incoming) -> dict[int, frozenset[str]]:
    with engine.begin() as conn:
        return {c.listing_id: via for c, via in find_candidates(conn, [rec]).get(rec.record_no, [])}


def test_a_chains_shared_phone_finds_no_candidate_a_places_own_phone_does(engine: Engine) -> None:
    chain = [
        {"name": f"quickburger {n}", "city": f"town {n}", "phones": ["+15550100000"]}
        for n in range(COMMON_CONTACT + 1)
    ]
    own = [{"name": "joe s diner", "city": "elsewhere", "phones": ["+15550199999"]}]
    add_listings(engine, chain + own)
    burger = Incoming(
        1, "Quickburger", None, None, "", "ontario", phone="+15550100000", name_key="quickburger"
    )
    assert not any("phone" in via for via in found(engine, burger).values())
    diner = Incoming(2, "Diner", None, None, "", "ontario", phone="+15550199999", name_key="diner")
    assert found(engine, diner) == {len(chain) + 1: frozenset({"phone"})}


def test_a_name_word_finds_listings_of_the_city_unless_the_city_is_full_of_it(engine: Engine) -> None:
    cafes = [{"name": f"cafe number {n}"} for n in range(COMMON_WORD + 1)]
    add_listings(
        engine, [*cafes, {"name": "arts delicatessen"}, {"name": "arts delicatessen", "city": "shelbyville"}]
    )
    deli = Incoming(1, "Arts Deli", None, None, "", "springfield", name_key="arts deli")
    assert found(engine, deli) == {len(cafes) + 1: frozenset({"name"})}  # its city's only; not Shelbyville's
    assert found(engine, Incoming(2, "Cafe Joe", None, None, "", "springfield", name_key="cafe joe")) == {}
    # a record with coordinates has the near block instead (a listing within the radius)
    located = Incoming(3, "Arts Deli", 45.0, -73.0, "", "springfield", name_key="arts deli")
    assert found(engine, located) == {}


def test_a_street_address_finds_listings_of_the_region_and_those_without_one(engine: Engine) -> None:
    add_listings(
        engine,
        [
            {"name": "joe s diner", "city": "west hollywood", "address": "100 main", "region": "CA"},
            {"name": "joe s diner", "city": "springfield", "address": "100 main", "region": "IL"},
            {"name": "joe s diner", "city": "nowhere", "address": "100 main"},  # promoted without a state
        ],
    )
    in_la = Incoming(
        1, "Joe's", None, None, "", "los angeles", address_key="100 main", region_key="CA", name_key="joe s"
    )
    assert found(engine, in_la) == {1: frozenset({"address"}), 3: frozenset({"address"})}
    stateless = Incoming(2, "Joe's", None, None, "", "los angeles", address_key="100 main", name_key="joe s")
    assert set(found(engine, stateless)) == {1, 2, 3}
