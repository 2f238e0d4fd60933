"""Duplicates inside one batch: records of one job that describe the same place in different words
("Arts Deli" / "Arts Delicatessen", one with a phone, the other with a website).

The catalogue search (`candidates`) only sees listings promoted before this job, so two new records of one
file never meet there. Here the batch's records are blocked on the same kinds of keys as the catalogue
search (phone, website host, street address, a name word within the postal code / city / region), in
memory and in linear time; each pair in a block is scored by the same features and model; pairs above the
auto-merge threshold link records into groups (strongest first, and never joining two groups that hold a
pair scored below the review threshold, so a chain of look-alikes does not snowball into one listing).

`link_batch` then turns the groups into decisions next to the catalogue's: a group with one member merged
into a listing brings its new members to that listing; a group of new records becomes one new listing,
created by its first record (the others share its reserved id, `MatchOutcome.same_as`). Pairs in the review
band whose records stay apart go to the review queue with the other record's listing as candidate.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from rapidfuzz import fuzz

from listings.matching.features import (
    CategoryCompat,
    Features,
    MatchRecord,
    generic_words,
    haversine_m,
    pair_features,
    word_counts,
)
from listings.matching.scoring import AnyModel, Decision, auto_mergeable, logit, reason_for, sigmoid

# A block this big is a common word or a chain: its pairs are left to the other blocks. A phone or website
# more than a few records of one batch share is a chain's call centre or booking site, not one place's.
MAX_BLOCK = 50
MAX_CONTACT_BLOCK = 10
# Names this different (token set ratio), with no phone, website or street address in common, never reach
# the review threshold: most candidates of a busy street are such neighbours, and leaving them out before
# their features are computed saves a third of the scoring (measured: 50,000 -> 32,000 pairs for 5,000
# records, the same decisions).
HOPELESS_NAME_SIMILARITY = 50


@dataclass(frozen=True)
class BatchPair:
    a: int  # record_no, a < b
    b: int
    features: Features
    confidence: float


def block_keys(rec: MatchRecord, frequency: Mapping[str, int] | None = None) -> Iterator[tuple[str, ...]]:
    """The blocks one record falls in, as the catalogue search's (`candidates`): a name word within the
    postal code and the city, the whole name key within the region. The record's two rarest words
    (`frequency`: how many of the batch's names hold a word) stand for its name, so that "restaurant" or
    "hotel" does not pair a city's every restaurant or hotel."""
    if rec.phone:
        yield ("phone", rec.phone)
    if rec.website_host:
        yield ("website", rec.website_host)
    if rec.address_key and rec.house_number:
        yield ("address", rec.address_key)
    words = [w for w in dict.fromkeys(rec.name_key.split()) if len(w) > 1] or rec.name_key.split()[:1]
    if frequency is not None:
        words = sorted(words, key=lambda w: (frequency.get(w, 0), w))
    for kind, value in (("postal", rec.postal_key), ("city", rec.city_key)):
        if value:
            for word in words[:2]:
                yield (kind, value, word)
    if rec.region_key and rec.name_key:  # a city the alias file does not know, a source without postal codes
        yield ("region", rec.region_key, rec.name_key)


# Two records this far apart by their coordinates are two places unless a phone or website says otherwise.
FAR_M = 2000.0


def _hopeless(a: MatchRecord, b: MatchRecord) -> bool:
    if (a.phone and a.phone == b.phone) or (a.website_host and a.website_host == b.website_host):
        return False
    if a.address_key and a.house_number and a.address_key == b.address_key:
        return False
    located = a.lat is not None and a.lng is not None and b.lat is not None and b.lng is not None
    if located and haversine_m(a.lat, a.lng, b.lat, b.lng) > FAR_M:  # type: ignore[arg-type]
        return True
    if not a.name_key or not b.name_key:
        return False
    return fuzz.token_set_ratio(a.name_key, b.name_key) < HOPELESS_NAME_SIMILARITY


# Two records of one source with different ids: the source itself lists them as two entries, so a pair of
# them is a duplicate far less often than a record and a listing from another source (measured on a real
# hospital registry: 11 of 18 wrong merges were sister campuses or a hospital inside another, one file's
# entries sharing a phone or a street). Their prior odds are 2^-SAME_SOURCE_BITS of the model's.
SAME_SOURCE_BITS = 3.0


def batch_confidence(f: Features, model: AnyModel | None) -> float:
    """The confidence of a pair of the batch's own records (`SAME_SOURCE_BITS` less than `confidence`)."""
    return sigmoid(logit(f, model) - SAME_SOURCE_BITS * math.log(2.0))


def score_pairs(
    records: Mapping[int, MatchRecord], compat: CategoryCompat, model: AnyModel | None = None
) -> list[BatchPair]:
    """Every blocked pair of the batch with its features and confidence (hopeless pairs left out)."""
    generic = generic_words(records.values())
    return [
        BatchPair(a, b, f, batch_confidence(f, model)) for a, b, f in pair_batch(records, compat, generic)
    ]


def pair_batch(
    records: Mapping[int, MatchRecord], compat: CategoryCompat, generic: Collection[str] = ()
) -> list[tuple[int, int, Features]]:
    """Every blocked pair of the batch (a < b) with its features, hopeless pairs left out."""
    words = word_counts(records.values())
    blocks: dict[tuple[str, ...], list[int]] = {}
    for no in sorted(records):
        for key in block_keys(records[no], words):
            blocks.setdefault(key, []).append(no)
    pairs: set[tuple[int, int]] = set()
    for key, members in blocks.items():
        if 1 < len(members) <= (MAX_CONTACT_BLOCK if key[0] in ("phone", "website") else MAX_BLOCK):
            pairs.update(combinations(members, 2))
    out = []
    for a, b in sorted(pairs):
        ra, rb = records[a], records[b]
        if _hopeless(ra, rb):
            continue
        out.append((a, b, pair_features(ra, rb, compat=compat, generic=generic)))
    return out


def group_pairs(
    pairs: Sequence[BatchPair], *, auto_threshold: float, review_threshold: float
) -> list[list[int]]:
    """Groups of records linked by pairs above `auto_threshold`, strongest pair first. Two groups are not
    joined when any pair between them scored below `review_threshold` (clear evidence of two places)."""
    parent: dict[int, int] = {}
    members: dict[int, list[int]] = {}

    def root(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    scored = {(p.a, p.b): p.confidence for p in pairs}
    for p in sorted(pairs, key=lambda p: (-p.confidence, p.a, p.b)):
        if p.confidence <= auto_threshold:
            break
        if not auto_mergeable(p.features):
            continue
        ra, rb = root(p.a), root(p.b)
        if ra == rb:
            continue
        ga, gb = members.get(ra, [ra]), members.get(rb, [rb])
        if any(scored.get((min(x, y), max(x, y)), 1.0) < review_threshold for x in ga for y in gb):
            continue
        keep, gone = min(ra, rb), max(ra, rb)
        parent[gone] = keep
        members[keep] = sorted(ga + gb)
        members.pop(gone, None)
    return [g for g in members.values() if len(g) > 1]


@dataclass(frozen=True)
class BatchLink:
    """A record's decision changed by a batch duplicate: merged into a listing, joining the new listing of
    record `same_as`, or in review against the listing of record `review_of`."""

    decision: Decision
    pair: BatchPair
    same_as: int | None = None
    review_of: int | None = None


def _why(other: int, pair: BatchPair, model: AnyModel | None, prefix: str = "same place as") -> str:
    return (
        f"{prefix} record {other} of this batch at {pair.confidence:.2f}: {reason_for(pair.features, model)}"
    )


def link_batch(
    decisions: Mapping[int, Decision],
    pairs: Sequence[BatchPair],
    *,
    auto_threshold: float,
    review_threshold: float,
    model: AnyModel | None = None,
) -> dict[int, BatchLink]:
    """The decisions the batch's own duplicates change. Records merged into the catalogue or in review keep
    theirs; a "new" one:
    - in a group with members merged into exactly one listing: is merged into that listing too;
    - in a group of new records: the group's first record creates the listing, the others join it;
    - not grouped, with a pair in the review band whose other record was merged into a listing: goes to
      review against that listing (a listing this batch creates cannot be a review item's candidate yet:
      it exists only once the batch is promoted)."""
    links: dict[int, BatchLink] = {}
    by_pair = {(p.a, p.b): p for p in pairs}

    def best(no: int, others: Sequence[int], group: Sequence[int]) -> tuple[int, BatchPair]:
        """The strongest pair of `no` with one of `others`, else with any member of its group (a group is
        linked by a chain of pairs: `no` may have none with the record that matched)."""
        for pool in (others, group):
            found = [
                (o, by_pair[min(no, o), max(no, o)]) for o in pool if (min(no, o), max(no, o)) in by_pair
            ]
            if found:
                return max(found, key=lambda op: (op[1].confidence, -op[0]))
        raise ValueError(f"record {no} has no pair in its group")

    grouped: set[int] = set()
    for group in group_pairs(pairs, auto_threshold=auto_threshold, review_threshold=review_threshold):
        grouped.update(group)
        merged = [n for n in group if decisions[n].action == "auto_merge"]
        listings = {decisions[n].candidate_id for n in merged}
        new = [n for n in group if decisions[n].action == "new"]
        if len(listings) > 1 or not new:
            continue
        if listings:
            listing = listings.pop()
            for no in new:
                other, pair = best(no, merged, group)
                reason = f"{_why(other, pair, model)}; that record matched {listing}"
                links[no] = BatchLink(Decision("auto_merge", listing, pair.confidence, reason), pair)
            continue
        for no in new[1:]:
            other, pair = best(no, new, group)
            links[no] = BatchLink(
                Decision("auto_merge", None, pair.confidence, _why(other, pair, model)), pair, same_as=new[0]
            )
    for p in sorted(pairs, key=lambda p: (-p.confidence, p.a, p.b)):
        if not review_threshold <= p.confidence <= auto_threshold:
            continue
        for no, other in ((p.b, p.a), (p.a, p.b)):
            if no in grouped or no in links or decisions[no].action != "new":
                continue
            if decisions[other].action != "auto_merge" or decisions[other].candidate_id is None:
                continue
            listing = decisions[other].candidate_id
            why = f"{_why(other, p, model, 'possibly the same place as')}; that record matched {listing}"
            decision = Decision("review", listing, p.confidence, why, "low_confidence_match")
            links[no] = BatchLink(decision, p, review_of=other)
            break
    return links
