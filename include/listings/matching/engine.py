"""The match step: score the records that found no deterministic hit against candidate listings and decide.

For each such record: candidates from PostgreSQL (`candidates`), features per pair (`features`), a
calibrated confidence (`scoring`), then `decide`: auto-merge into the best listing when it is above the
auto-merge threshold with no close rival; queue a review item (low confidence, or several close
candidates) with the candidates, their features, confidences and explanations; or leave the record to
become a new listing. Decisions are written to staging (promotion applies them and records them in the
bridge table with their certainty and reason) and to `pipeline.review_items`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, text

from listings.matching.candidates import Candidate, Incoming, find_candidates
from listings.matching.features import Features, MatchRecord, build_match_record, pair_features
from listings.matching.scoring import Decision, confidence, decide, explain, reason_for
from listings.transform.categories import load_vocabulary
from listings.transform.normalize import (
    website_host,
)

MATCH_METHODS = ("auto_match", "review", "new")  # what the match step writes (transform writes the others)


@dataclass(frozen=True)
class Thresholds:
    auto_merge: float = 0.8
    review: float = 0.5
    margin: float = 0.1


@dataclass
class ScoredCandidate:
    candidate: Candidate
    features: Features
    confidence: float


@dataclass
class MatchOutcome:
    record_no: int
    decision: Decision
    scored: list[ScoredCandidate] = field(default_factory=list)


def incoming_record(r: Mapping[str, Any]) -> MatchRecord:
    """A transformed record as matching sees it (the keys the scoring model was fitted on)."""
    return build_match_record(
        name=r["name"],
        address1=r.get("address1"),
        city=r.get("city"),
        postal=r.get("zip"),
        country=r.get("country"),
        lat=r.get("lat"),
        lng=r.get("lng"),
        phone=r.get("phone_e164") or r.get("phone"),
        website=r.get("website"),
        category=r.get("category"),
        image_hashes=r.get("image_hashes") or (),
    )


@lru_cache(maxsize=200_000)
def _candidate_base(
    name: str | None,
    address1: str | None,
    city: str | None,
    zip_code: str | None,
    country: str | None,
    lat: float | None,
    lng: float | None,
) -> MatchRecord:
    # Many incoming records share candidates (a chain, a busy block): normalise each listing once.
    return build_match_record(
        name=name, address1=address1, city=city, postal=zip_code, country=country, lat=lat, lng=lng
    )


def candidate_record(c: Candidate, incoming: MatchRecord) -> MatchRecord:
    """A candidate listing as matching sees it. A listing carries every DMO's contacts and categories:
    the value most favourable to the incoming record stands for it ("any DMO's phone matches")."""
    base = _candidate_base(c.name, c.address1, c.city, c.zip, c.country, c.lat, c.lng)
    hosts = sorted({h for h in (website_host(w) for w in c.websites) if h})
    vocab = load_vocabulary()
    return replace(
        base,
        phone=incoming.phone if incoming.phone in c.phones else (c.phones[0] if c.phones else None),
        website_host=incoming.website_host
        if incoming.website_host in hosts
        else (hosts[0] if hosts else None),
        category=max(c.categories, key=lambda cat: vocab.compatible(incoming.category, cat))
        if c.categories
        else None,
    )


def match_records(
    conn: Connection, records: Sequence[Mapping[str, Any]], thresholds: Thresholds = Thresholds()
) -> list[MatchOutcome]:
    """Candidates, features, confidences and a decision for every record (none is written here)."""
    by_no = records_by_no(records)
    incoming = {no: incoming_record(r) for no, r in by_no.items()}
    found = find_candidates(
        conn,
        [
            Incoming(no, rec.name, rec.lat, rec.lng, rec.postal_key or "", by_no[no].get("city"))
            for no, rec in incoming.items()
        ],
    )
    compat = load_vocabulary().compatible
    outcomes = []
    for no, rec in incoming.items():
        scored = []
        for cand in found.get(no, []):
            f = pair_features(rec, candidate_record(cand, rec), compat=compat)
            scored.append(ScoredCandidate(cand, f, confidence(f)))
        scored.sort(key=lambda s: (-s.confidence, s.candidate.listing_id))
        decision = decide(
            [(s.candidate.listing_id, s.confidence) for s in scored],
            auto_threshold=thresholds.auto_merge,
            review_threshold=thresholds.review,
            margin=thresholds.margin,
            features={s.candidate.listing_id: s.features for s in scored},
        )
        outcomes.append(MatchOutcome(no, decision, scored))
    return outcomes


def records_by_no(records: Sequence[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    return {int(r["record_no"]): r for r in records}


def _candidate_doc(s: ScoredCandidate) -> dict[str, Any]:
    c = s.candidate
    return {
        "listing_id": c.listing_id,
        "name": c.name,
        "address1": c.address1,
        "city": c.city,
        "zip": c.zip,
        "lat": c.lat,
        "lng": c.lng,
        "phones": c.phones,
        "websites": c.websites,
        "categories": c.categories,
        "found_by": sorted(c.via),
        "confidence": round(s.confidence, 4),
        "features": asdict(s.features),
        "explanation": [[name, round(value, 3)] for name, value in explain(s.features)],
        "reason": reason_for(s.features),
    }


def reset_decisions(conn: Connection, job_id: int) -> None:
    """Undo an earlier run of the match step for this job (a retried task decides again from scratch)."""
    conn.execute(
        text(
            """
            update staging.listings l set listing_id = null
            from staging.listing_info li
            where li.job_id = l.job_id and li.record_no = l.record_no and l.job_id = :j
              and li.match_method = any(:methods)
            """
        ),
        {"j": job_id, "methods": list(MATCH_METHODS)},
    )
    conn.execute(
        text(
            """
            update staging.listing_info
            set match_method = null, certainty = null, match_reason = null, pending_review = false
            where job_id = :j and match_method = any(:methods)
            """
        ),
        {"j": job_id, "methods": list(MATCH_METHODS)},
    )
    conn.execute(
        text(
            "delete from pipeline.review_items where job_id = :j and status = 'open' and item_type in ('low_confidence_match', 'multiple_close_matches')"
        ),
        {"j": job_id},
    )


def write_decisions(
    conn: Connection,
    job_id: int,
    dmo_id: int,
    records: Mapping[int, Mapping[str, Any]],
    outcomes: Iterable[MatchOutcome],
) -> dict[str, int]:
    """Apply decisions to staging and queue review items; returns counts per action."""
    counts = {"auto_merge": 0, "review": 0, "new": 0}
    merges, infos, reviews = [], [], []
    for o in outcomes:
        d = o.decision
        counts[d.action] += 1
        method = {"auto_merge": "auto_match", "review": "review", "new": "new"}[d.action]
        infos.append(
            {
                "j": job_id,
                "n": o.record_no,
                "m": method,
                "c": round(d.confidence, 4),
                "r": d.reason[:2000],
                "p": d.action == "review",
            }
        )
        if d.action == "auto_merge":
            merges.append({"j": job_id, "n": o.record_no, "l": d.candidate_id})
        elif d.action == "review":
            record = records[o.record_no]
            reviews.append(
                {
                    "t": d.review_type,
                    "d": dmo_id,
                    "j": job_id,
                    "l": d.candidate_id,
                    "h": record["record_hash"],
                    "p": json.dumps(_review_payload(record, o), default=str),
                    "c": json.dumps([_candidate_doc(s) for s in o.scored[:10]], default=str),
                    "conf": round(d.confidence, 4),
                }
            )
    if infos:
        conn.execute(
            text(
                "update staging.listing_info set match_method = :m, certainty = :c, match_reason = :r, pending_review = :p"
                " where job_id = :j and record_no = :n"
            ),
            infos,
        )
    if merges:
        conn.execute(
            text("update staging.listings set listing_id = :l where job_id = :j and record_no = :n"), merges
        )
    if reviews:
        conn.execute(
            text(
                "insert into pipeline.review_items (item_type, dmo_id, job_id, listing_id, source_record_hash, payload, candidates, confidence)"
                " values (:t, :d, :j, :l, :h, cast(:p as jsonb), cast(:c as jsonb), :conf)"
            ),
            reviews,
        )
    return counts


def _review_payload(record: Mapping[str, Any], o: MatchOutcome) -> dict[str, Any]:
    fields = ("name", "address1", "address2", "city", "state", "zip", "country", "lat", "lng", "phone", "phone_e164",
              "email", "website", "category", "category_raw", "source_id", "images")  # fmt: skip
    return {
        "record_no": o.record_no,
        "record": {k: record.get(k) for k in fields},
        "decision": {
            "action": o.decision.action,
            "reason": o.decision.reason,
            "review_type": o.decision.review_type,
        },
    }
