"""Matching on the shapes real sources have: no coordinates, one source without postal codes,
cities written differently, phones written "310/555-0101", duplicates inside one file, one building's
look-alike permits. Each test imports CSV DMOs as a user would (`run_job`) and reads the pairs the catalogue
ends up with: two records are "found" as one place when their listing_info rows share a listing, or when one
waits in review with the other's listing among its candidates."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.config.store import apply_config
from listings.pipeline.runner import run_job

HEADER = ["ID", "Name", "Address1", "City", "State", "Postal", "Phone", "Website"]

# fmt: off
# DMO 201, a city guide: postal codes, phones as "(310) 555-0101".
GUIDE = [
    ["g1", "Hotel Bel-Air", "701 Stone Canyon Rd", "Los Angeles", "CA", "90077", "(310) 555-0111", ""],
    ["g2", "Arts Delicatessen", "12224 Ventura Blvd", "Studio City", "CA", "91604", "(818) 555-0122", ""],
    ["g3", "Katz's Delicatessen", "205 E Houston St", "New York", "NY", "10002", "(212) 555-0133",
     "https://katzsdelicatessen.com/"],
    ["g4", "Shun Lee West", "43 W 65th St", "New York", "NY", "10023", "(212) 555-0144", ""],
    ["g5", "The Abbey Food & Bar", "692 N Robertson Blvd", "W. Hollywood", "CA", "90069", "(310) 555-0155", ""],
    ["g6", "Grand Central Oyster Bar", "89 E 42nd St", "New York", "NY", "10017", "",
     "https://www.oysterbarny.com/"],
    ["g7", "Canter's Deli", "419 N Fairfax Ave", "Los Angeles", "CA", "90036", "(323) 555-0177", ""],
]
# DMO 202, a listings site: no postal code at all, phones as "310/555-0101", "New York City", neighbourhoods
# written as their city, names reworded.
LISTING = [
    ["l1", "Bel-Air Hotel", "701 Stone Canyon Road", "Los Angeles", "CA", "", "310/555-0111", ""],
    ["l2", "Art's Deli", "12224 Ventura Boulevard", "Los Angeles", "CA", "", "818/555-0122", ""],
    ["l3", "Katz's Deli", "205 East Houston Street", "New York City", "NY", "", "", "katzsdelicatessen.com"],
    ["l4", "West", "1 W 67th St", "New York City", "NY", "", "212/555-0199", ""],  # another place
    ["l5", "The Abbey", "692 North Robertson Boulevard", "Los Angeles", "CA", "", "310/555-0155", ""],
    ["l6", "Oyster Bar at Grand Central", "", "New York City", "NY", "", "", "http://oysterbarny.com"],
    # one city spelled alike: found from this side only, when the source with postal codes came first
    ["l7", "Canters Deli", "419 North Fairfax Avenue", "Los Angeles", "CA", "", "(323) 555-0177", ""],
]
# fmt: on
SAME = {("g1", "l1"), ("g2", "l2"), ("g3", "l3"), ("g5", "l5"), ("g6", "l6"), ("g7", "l7")}


def write(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def configure(engine: Engine, *dmo_ids: int) -> None:
    with engine.begin() as conn:
        for dmo_id in dmo_ids:
            apply_config(conn, csv_config(dmo_id, HEADER, country="US", state="NY"))


def placed(engine: Engine) -> dict[str, tuple[int, str]]:
    """source id -> (listing id, info status)."""
    rows = q(engine, "select external_source_id, listing_id, info_status from public.listing_info")
    return {r.external_source_id: (r.listing_id, r.info_status) for r in rows}


def found_pairs(engine: Engine) -> set[frozenset[str]]:
    """Pairs of source ids that share a listing, or that an open review item puts side by side."""
    where = placed(engine)
    by_listing: dict[int, list[str]] = {}
    for sid, (listing, _) in where.items():
        by_listing.setdefault(listing, []).append(sid)
    pairs = {frozenset((a, b)) for ids in by_listing.values() for a in ids for b in ids if a < b}
    reviews = q(
        engine,
        """select li.external_source_id, r.candidates from pipeline.review_items r
           join pipeline.bridge_source_listing b on b.dmo_id = r.dmo_id and b.source_record_hash = r.source_record_hash
           join public.listing_info li on li.id = b.listing_info_id
           where r.status = 'open' and r.item_type in ('low_confidence_match', 'multiple_close_matches')""",
    )
    for sid, candidates in reviews:
        for cand in candidates:
            pairs |= {
                frozenset((sid, other)) for other in by_listing.get(cand["listing_id"], []) if other != sid
            }
    return pairs


def test_duplicates_are_found_without_a_field_spelled_the_same(engine: Engine, tmp_path: Path) -> None:
    """A source without postal codes, "New York City" for "New York", a neighbourhood for its city, a site
    or a phone as the only strong key: every true pair is found, and the look-alike "West" is not merged
    into "Shun Lee West"."""
    configure(engine, 201, 202)
    run_job(201, file=write(tmp_path / "guide.csv", GUIDE))
    run_job(202, file=write(tmp_path / "listing.csv", LISTING))

    pairs = found_pairs(engine)
    missed = {pair for pair in SAME if frozenset(pair) not in pairs}
    assert not missed, f"true duplicates not found: {sorted(missed)}"
    where = placed(engine)
    assert where["l4"][0] != where["g4"][0]
    assert frozenset(("g4", "l4")) not in pairs
    # the slash-written phones were read as numbers (evidence, not an invalid value)
    phones = q(
        engine,
        """select ci.international_phone from public.listing_info li join public.contact_info ci on ci.id = li.contact_info_id
           where li.external_source_id = 'l1'""",
    )
    assert phones == [("+13105550111",)]


@pytest.fixture
def other_database(another_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Engine]:
    """A function that points this test's settings at a second fresh database and returns its engine."""
    from listings.db.engine import get_engine
    from listings.settings import get_settings

    def switch() -> Engine:
        monkeypatch.setenv("LISTINGS_DATABASE_URL", another_db_url)
        get_settings.cache_clear()
        return get_engine()

    return switch


def import_in_order(engine: Engine, tmp_path: Path, order: Sequence[int]) -> set[frozenset[str]]:
    """Each DMO's first run in `order`, then the first DMO's next run: a record without a location (l6)
    starts no listing, so it joins its place on the first run after a source that has the place."""
    files = {201: write(tmp_path / "guide.csv", GUIDE), 202: write(tmp_path / "listing.csv", LISTING)}
    configure(engine, *order)
    for dmo_id in [*order, order[0]]:
        run_job(dmo_id, file=files[dmo_id])
    return found_pairs(engine)


def test_the_pairs_found_do_not_depend_on_the_import_order(
    engine: Engine, other_database: Callable[[], Engine], tmp_path: Path
) -> None:
    """The source without postal codes first, then the one with them, finds the same pairs as the other way
    round (a record with a postal code used to reach only listings at that postal code), once each has run
    after the other."""
    forward = import_in_order(engine, tmp_path, [201, 202])
    backward = import_in_order(other_database(), tmp_path, [202, 201])
    assert forward == backward
    assert {frozenset(p) for p in SAME} <= forward


# fmt: off
# One file, one DMO: the same places written twice in other words, and look-alikes that are not the same.
ONE_FILE = [
    ["d1", "Arts Delicatessen", "12224 Ventura Blvd", "Studio City", "CA", "91604", "(818) 555-0122", ""],
    ["d2", "Art's Deli", "12224 Ventura Boulevard", "Studio City", "CA", "91604", "818/555-0122", ""],
    ["d3", "Katz's Delicatessen", "205 E Houston St", "New York", "NY", "10002", "",
     "https://katzsdelicatessen.com/"],
    ["d4", "Katzs Deli", "205 East Houston Street", "New York", "NY", "10002", "(212) 555-0133",
     "katzsdelicatessen.com"],
    ["d5", "Starbucks", "1 Penn Plz", "New York", "NY", "10119", "", ""],
    ["d6", "Starbucks", "2 Penn Plz", "New York", "NY", "10121", "", ""],  # the chain's next branch
    ["d7", "Nobu", "105 Hudson St", "New York", "NY", "10013", "(212) 555-0177", ""],
]
# fmt: on


def test_fuzzy_duplicates_inside_one_file_become_one_listing(engine: Engine, tmp_path: Path) -> None:
    configure(engine, 203)
    result = run_job(203, file=write(tmp_path / "one.csv", ONE_FILE))

    where = placed(engine)
    assert where["d1"][0] == where["d2"][0]
    assert where["d3"][0] == where["d4"][0]
    assert where["d5"][0] != where["d6"][0]
    others = {where[s][0] for s in ("d1", "d3", "d5", "d6", "d7")}
    assert len(others) == 5
    # the DMO lists each of those places twice: the first record shows, the second waits for a reviewer
    assert {where["d1"][1], where["d2"][1]} == {"active", "pending"}
    assert q(engine, "select count(*) from public.listings where listing_status = 'active'") == [(5,)]
    reasons = q(
        engine,
        "select match_reason from staging.listing_info where job_id = :j and record_no = 2",
        j=result["job_id"],
    )
    assert "record 1 of this batch" in reasons[0][0]
    # a re-run of the same file changes nothing
    again = run_job(203, file=tmp_path / "one.csv")
    assert placed(engine) == where and again["counts"]["records_unchanged"] == 7


# fmt: off
# One building's permits (a market hall's stands): one name, one street address, different stands and phones.
PERMITS = [
    ["p1", "ACME BREAD CO", "1 Ferry Building #50", "San Francisco", "CA", "94111", "(415) 555-0150", ""],
    ["p2", "Acme Bread Co.", "1 Ferry Building #15", "San Francisco", "CA", "94111", "(415) 555-0115", ""],
    # the first permit again under a new id: same stand, same phone: one place
    ["p3", "Acme Bread Co", "1 Ferry Bldg #50", "San Francisco", "CA", "94111", "415-555-0150", ""],
]
# fmt: on


def test_one_buildings_permits_are_not_merged_by_their_hash(engine: Engine, tmp_path: Path) -> None:
    configure(engine, 204)
    run_job(204, file=write(tmp_path / "permits.csv", PERMITS))

    where = placed(engine)
    # p1 and p3 are one record (merged in the file: consistent evidence; the later row's id is kept)
    assert sorted(where) == ["p2", "p3"]
    assert where["p2"][0] != where["p3"][0]  # another stand: its own listing, not even in review
    assert {status for _, status in where.values()} == {"active"}
    units = q(
        engine,
        """select li.external_source_id, loc.address2 from public.listing_info li
           join public.listings l on l.id = li.listing_id join public.locations loc on loc.id = l.location_id
           order by 1""",
    )
    assert [(sid, unit.split()[-1]) for sid, unit in units] == [("p2", "#15"), ("p3", "#50")]
