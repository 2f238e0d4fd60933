"""In-batch duplicates (listings.matching.batch): blocking, grouping and decisions, without a database."""

from __future__ import annotations

from listings.matching.batch import BatchPair, _hopeless, group_pairs, link_batch, score_pairs
from listings.matching.features import Features, MatchRecord, build_match_record, default_compat
from listings.matching.fellegi_sunter import DEFAULT_FS_MODEL
from listings.matching.scoring import Decision

NEW = Decision("new", None, 0.0, "no candidate")


def pair(a: int, b: int, confidence: float) -> BatchPair:
    return BatchPair(a, b, Features(), confidence)


def test_a_record_that_matches_two_records_that_match_each_other_forms_one_group() -> None:
    groups = group_pairs([pair(1, 2, 0.95), pair(2, 3, 0.9)], auto_threshold=0.8, review_threshold=0.5)
    assert groups == [[1, 2, 3]]


def test_a_chain_of_look_alikes_does_not_join_two_places_with_a_clear_non_match() -> None:
    pairs = [pair(1, 2, 0.95), pair(2, 3, 0.9), pair(1, 3, 0.1)]
    assert group_pairs(pairs, auto_threshold=0.8, review_threshold=0.5) == [[1, 2]]


def test_groups_do_not_depend_on_the_order_of_the_pairs() -> None:
    pairs = [pair(1, 2, 0.85), pair(3, 4, 0.99), pair(2, 3, 0.9), pair(1, 4, 0.2)]
    one = group_pairs(pairs, auto_threshold=0.8, review_threshold=0.5)
    assert one == group_pairs(list(reversed(pairs)), auto_threshold=0.8, review_threshold=0.5)
    assert one == [[2, 3, 4]]


def test_a_group_of_new_records_is_one_new_listing_created_by_its_first_record() -> None:
    links = link_batch({1: NEW, 2: NEW, 3: NEW}, [pair(1, 3, 0.9)], auto_threshold=0.8, review_threshold=0.5)
    assert set(links) == {3}
    assert (links[3].decision.action, links[3].same_as, links[3].decision.candidate_id) == (
        "auto_merge",
        1,
        None,
    )


def test_a_group_member_merged_into_a_listing_brings_the_others_to_it() -> None:
    merged = Decision("auto_merge", 77, 0.9, "matched 77")
    links = link_batch({1: NEW, 2: merged}, [pair(1, 2, 0.92)], auto_threshold=0.8, review_threshold=0.5)
    assert (links[1].decision.action, links[1].decision.candidate_id, links[1].same_as) == (
        "auto_merge",
        77,
        None,
    )
    # members merged into two different listings: nothing is decided for them here
    other = Decision("auto_merge", 88, 0.9, "matched 88")
    pairs = [pair(1, 2, 0.92), pair(1, 3, 0.91)]
    assert link_batch({1: NEW, 2: merged, 3: other}, pairs, auto_threshold=0.8, review_threshold=0.5) == {}


def test_a_record_linked_to_the_merged_member_only_through_another_joins_its_listing() -> None:
    # 3 pairs with 1 only, 1 with 2, and 2 matched listing 77: one group, and 3 goes to 77 as well
    merged = Decision("auto_merge", 77, 0.9, "matched 77")
    pairs = [pair(1, 2, 0.95), pair(1, 3, 0.9)]
    links = link_batch({1: NEW, 2: merged, 3: NEW}, pairs, auto_threshold=0.8, review_threshold=0.5)
    assert {no: link.decision.candidate_id for no, link in links.items()} == {1: 77, 3: 77}
    assert links[3].pair == pairs[1]


def test_a_pair_in_the_review_band_queues_one_record_against_the_others_listing() -> None:
    merged = Decision("auto_merge", 77, 0.9, "matched 77")
    links = link_batch({1: merged, 2: NEW}, [pair(1, 2, 0.7)], auto_threshold=0.8, review_threshold=0.5)
    assert list(links) == [2]
    assert (links[2].decision.action, links[2].decision.candidate_id, links[2].review_of) == ("review", 77, 1)
    # two new records: the other's listing does not exist before promotion, so it cannot be a candidate
    assert link_batch({1: NEW, 2: NEW}, [pair(1, 2, 0.7)], auto_threshold=0.8, review_threshold=0.5) == {}


def test_blocks_find_reworded_duplicates_and_leave_chain_branches_apart() -> None:
    def rec(name: str, address: str, postal: str, phone: str = "") -> object:
        return build_match_record(
            name=name, address1=address, city="New York", state="NY", postal=postal, country="US", phone=phone
        )

    records = {
        1: rec("Arts Delicatessen", "12224 Ventura Blvd", "91604", "(818) 555-0122"),
        2: rec("Art's Deli", "12224 Ventura Boulevard", "91604", "818/555-0122"),
        3: rec("Starbucks", "1 Penn Plz", "10119"),
        4: rec("Starbucks", "2 Penn Plz", "10119"),
    }
    scored = {
        (p.a, p.b): p.confidence
        for p in score_pairs(records, default_compat, DEFAULT_FS_MODEL)  # type: ignore[arg-type]
    }
    assert scored[1, 2] > 0.8
    assert scored[3, 4] < 0.8  # one name, two addresses: two branches, never merged automatically
    assert (1, 3) not in scored  # nothing in common: never blocked together


def test_one_files_sister_campuses_sharing_a_phone_stay_apart() -> None:
    # a real registry's shape: a hospital system's campuses share its switchboard and the system's name
    def rec(name: str, address: str, postal: str, phone: str) -> object:
        return build_match_record(
            name=name, address1=address, city="Houston", state="TX", postal=postal, country="US", phone=phone
        )

    records = {
        1: rec("Harris Health System Ben Taub General Hospital", "1504 Taub Loop", "77030", "(713) 566-6874"),
        2: rec("Harris Health System Quentin Mease Hospital", "3601 North MacGregor Way", "77004", "(713) 566-6874"),
        3: rec("Texas Neurorehab Center", "1106 West Dittmar Road, Building 9", "78745", "(512) 444-4835"),
        4: rec("Texas Neurorehab Center Behavioral", "1106 West Dittmar Road, Building 1", "78745", "(512) 444-4835"),
        5: rec("Arts Delicatessen", "12224 Ventura Blvd", "91604", "(818) 555-0122"),
        6: rec("Art's Deli", "12224 Ventura Boulevard", "91604", "818/555-0122"),
    }  # fmt: skip
    scored = {
        (p.a, p.b): p.confidence
        for p in score_pairs(records, default_compat, DEFAULT_FS_MODEL)  # type: ignore[arg-type]
    }
    assert scored[5, 6] > 0.8
    # two campuses, another building of one campus: at most a review, however high they score; one place
    # written twice in one file still merges
    pairs = score_pairs(records, default_compat, DEFAULT_FS_MODEL)  # type: ignore[arg-type]
    assert group_pairs(pairs, auto_threshold=0.8, review_threshold=0.5) == [[5, 6]]


def test_unrelated_names_are_scored_only_with_a_phone_site_or_street_address_in_common() -> None:
    def rec(name: str, address: str, phone: str = "") -> MatchRecord:
        return build_match_record(
            name=name,
            address1=address,
            city="New York",
            state="NY",
            postal="10019",
            country="US",
            phone=phone,
        )

    # renamed, at one street address; one phone: scored (they can reach review)
    assert not _hopeless(
        rec("St Luke's Roosevelt Hospital", "1000 Tenth Avenue"), rec("Mount Sinai West", "1000 10th Ave")
    )
    assert not _hopeless(
        rec("Joe's Pizza", "7 Carmine St", "(212) 555-0100"), rec("Slices", "9 Carmine St", "212/555-0100")
    )
    # one word in common and nothing else: never scored
    assert _hopeless(
        rec("Mount Sinai West", "1000 10th Ave"), rec("Corner Bagel West Village", "22 W 55th St")
    )
