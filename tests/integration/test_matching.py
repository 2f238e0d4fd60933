"""Scored matching against a real catalogue: auto-merge, chains kept apart, neighbours not merged, the review
queue, explanations in the bridge, idempotent re-runs."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.config.store import apply_config
from listings.matching import engine as engine_module
from listings.pipeline import steps
from listings.pipeline.runner import run_job
from listings.settings import get_settings

# fmt: off
HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Latitude", "Longitude"]
OLIMPICO = ["A", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"]
TIM_1 = ["T1", "Tim Hortons", "Café", "1 rue Sainte-Catherine O", "Montréal", "H3B 1A1", "514-555-0120", "45.5000", "-73.5700"]
TIM_2 = ["T2", "Tim Hortons", "Café", "900 boulevard René-Lévesque O", "Montréal", "H3B 4A5", "514-555-0121", "45.5001", "-73.5670"]
GERMAIN = ["G", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"]

TYPO = ["x1", "Caffe Olimpico", "Café", "124 Saint-Viateur Ouest", "Montreal", "H2T2L1", "(514) 555-0101", "45.52365", "-73.60050"]
BRANCH = ["x2", "Café Tim Hortons", "Café", "900, boul. René-Lévesque Ouest", "Montréal", "H3B4A5", "", "45.50015", "-73.56705"]
NEIGHBOUR = ["x3", "Café Olympia", "Café", "126 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0177", "45.52352", "-73.60045"]
# found by name in its city (matching key); a street without a number is an address, a city alone is not
VAGUE = ["x4", "Olimpico", "Café", "rue Saint-Viateur", "MONTREAL", "", "", "", ""]
NEW_PLACE = ["x5", "Musée des beaux-arts", "Musée", "1380 rue Sherbrooke O", "Montréal", "H3G 1J5", "514-555-0103", "45.4985", "-73.5794"]
# The same branch written differently: equal matching keys, so an exact hash hit (certainty 1, no scoring).
SAME_KEYS = ["x6", "TIM HORTONS", "Café", "1, rue Ste-Catherine Ouest", "MONTREAL", "h3b1a1", "", "", ""]
# fmt: on


def config(dmo_id: int) -> Any:
    return csv_config(dmo_id, HEADER)


def write_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def catalogue(engine: Engine, tmp_path: Path) -> dict[str, int]:
    """DMO 101's listings, then DMO 102 configured; returns listing ids by source id."""
    with engine.begin() as conn:
        apply_config(conn, config(101))
        apply_config(conn, config(102))
    run_job(101, file=write_csv(tmp_path / "dmo101.csv", [OLIMPICO, TIM_1, TIM_2, GERMAIN]))
    rows = q(engine, "select external_source_id, listing_id from public.listing_info where dmo_id = 101")
    return {r.external_source_id: r.listing_id for r in rows}


def test_scored_matching_decisions(
    engine: Engine, catalogue: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = write_csv(tmp_path / "dmo102.csv", [TYPO, BRANCH, NEIGHBOUR, VAGUE, NEW_PLACE, SAME_KEYS])
    job_id = steps.start(102, params={"file": str(upload)})
    for step in ("extract", "transform", "stage", "match"):
        getattr(steps, step)(job_id)
    first = q(
        engine,
        "select record_no, match_method, certainty, match_reason from staging.listing_info where job_id = :j order by 1",
        j=job_id,
    )
    # A retried match task decides again, from scratch, the same way; here in two worker processes (a
    # batch this small is matched in one process otherwise): the same decisions.
    monkeypatch.setattr(engine_module, "PARALLEL_MIN_RECORDS", 0)
    monkeypatch.setenv("LISTINGS_MATCH_WORKERS", "2")
    get_settings.cache_clear()
    steps.match(job_id)
    again = q(
        engine,
        "select record_no, match_method, certainty, match_reason from staging.listing_info where job_id = :j order by 1",
        j=job_id,
    )
    assert first == again
    steps.promote(job_id)
    steps.finalize(job_id)

    info = {
        r.external_source_id: r
        for r in q(
            engine,
            """select li.external_source_id, li.listing_id, li.info_status, li.info_visible, l.listing_visible,
                      b.match_method, b.certainty_score, b.reason
               from public.listing_info li join public.listings l on l.id = li.listing_id
               join pipeline.bridge_source_listing b on b.listing_info_id = li.id and b.job_id = :j
               where li.dmo_id = 102""",
            j=job_id,
        )
    }
    # a typo'd name, the same phone and address: merged into DMO 101's listing, with its certainty and why
    assert info["x1"].listing_id == catalogue["A"] and info["x1"].match_method == "auto_match"
    assert 0.8 < float(info["x1"].certainty_score) < 1 and "phone" in info["x1"].reason
    # a chain: the branch at its own address joins that branch, never the other one
    assert info["x2"].listing_id == catalogue["T2"] and info["x2"].match_method == "auto_match"
    assert info["x6"].listing_id == catalogue["T1"] and info["x6"].match_method == "bridge_other_dmo"
    assert float(info["x6"].certainty_score) == 1.0
    # the neighbour in the same building is a different business: a new listing
    assert info["x3"].match_method == "new" and info["x3"].listing_id not in catalogue.values()
    assert info["x5"].match_method == "new" and info["x5"].info_visible
    # a bare name in the right city: neither merged nor lost; waiting for a reviewer, hidden meanwhile
    vague = info["x4"]
    assert vague.match_method == "review" and 0.5 <= float(vague.certainty_score) <= 0.8
    assert (vague.info_status, vague.info_visible, vague.listing_visible) == ("pending", False, False)
    (item,) = q(engine, "select * from pipeline.review_items where job_id = :j", j=job_id)
    assert (item.item_type, item.status, item.dmo_id, item.listing_id) == (
        "low_confidence_match", "open", 102, catalogue["A"],
    )  # fmt: skip
    best = item.candidates[0]
    assert best["listing_id"] == catalogue["A"] and best["features"]["name_token"] == 1.0
    assert best["explanation"] and best["reason"] and item.payload["record"]["name"] == "Olimpico"

    counts = q(
        engine,
        "select records_matched, records_review, records_new, records_updated, records_unchanged"
        " from pipeline.job_results where job_id = :j",
        j=job_id,
    )[0]
    # six new listing_info for DMO 102: three joined DMO 101's listings (x1, x2, x6), one waits in review (x4),
    # two are new listings (x3, x5)
    assert tuple(counts) == (3, 1, 2, 0, 0)
    assert q(engine, "select count(*) from public.listings")[0][0] == 7  # 4 + neighbour + museum + pending

    # the same file again: deterministic hits now, nothing re-scored, no second review item
    rerun = run_job(102, file=upload)
    assert rerun["counts"]["records_unchanged"] == 6 and rerun["counts"]["records_matched"] == 6
    assert q(engine, "select count(*) from pipeline.review_items")[0][0] == 1
    methods = q(
        engine, "select distinct match_method from staging.listing_info where job_id = :j", j=rerun["job_id"]
    )
    assert [r[0] for r in methods] == ["source_id"]
    # already mapped: the bridge gets no new row
    bridged = "select count(*) from pipeline.bridge_source_listing where job_id = :j"
    assert q(engine, bridged, j=rerun["job_id"]) == [(0,)]


def test_rematch_reports_then_applies_a_threshold_change(
    engine: Engine, catalogue: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from listings.cli import main
    from listings.settings import get_settings

    upload = write_csv(tmp_path / "dmo102.csv", [NEIGHBOUR, VAGUE, NEW_PLACE])
    run_job(102, file=upload)
    run_job(
        102, file=upload
    )  # an unchanged re-run: its file adds no bridge row, rematch still sees its records
    (pending,) = q(engine, "select id, listing_id from public.listing_info where info_status = 'pending'")
    listings_before = q(engine, "select id, listing_status, listing_visible from public.listings order by id")

    # Same rules: nothing to change.
    res = CliRunner().invoke(main, ["rematch", "--dry-run"])
    assert res.exit_code == 0 and res.stdout.strip() == "" and "0 change(s)" in res.stderr

    # Lower the auto-merge threshold: the bare "Olimpico" (0.5 < confidence < 0.8) now merges.
    monkeypatch.setenv("LISTINGS_MATCH_AUTO_THRESHOLD", "0.6")
    get_settings.cache_clear()
    res = CliRunner().invoke(main, ["rematch", "--dry-run", "--dmo", "102"])
    assert res.exit_code == 0, res.output
    (line,) = res.stdout.strip().splitlines()
    change = json.loads(line)
    assert (change["action"], change["to_listing_id"], change["listing_info_id"]) == (
        "merge",
        catalogue["A"],
        pending.id,
    )
    assert (
        q(engine, "select id, listing_status, listing_visible from public.listings order by id")
        == listings_before
    )

    res = CliRunner().invoke(main, ["rematch", "--dmo", "102"])
    assert res.exit_code == 0 and "'merge': 1" in res.stderr
    (info,) = q(
        engine,
        "select listing_id, info_status, info_visible from public.listing_info where id = :i",
        i=pending.id,
    )
    assert tuple(info) == (catalogue["A"], "active", True)
    (old,) = q(
        engine,
        "select listing_status, merged_into_id, listing_visible from public.listings where id = :l",
        l=pending.listing_id,
    )
    assert tuple(old) == ("merged", catalogue["A"], False)
    (item,) = q(engine, "select status, resolved_by from pipeline.review_items")
    assert tuple(item) == ("resolved", "rematch")
    # the same move core as a person's force-match: the move is on both listings' timelines, the old
    # listing's retirement on its own, and the bridge says who placed the record and how sure it was
    edits = q(
        engine,
        "select listing_id, action, field, edited_by from pipeline.listing_edits where listing_info_id = :i"
        " or (listing_id = :old and action = 'merge') order by id",
        i=pending.id,
        old=pending.listing_id,
    )
    assert {(e.listing_id, e.action, e.field, e.edited_by) for e in edits} >= {
        (pending.listing_id, "move", "listing_id", "rematch"),
        (catalogue["A"], "move", "listing_id", "rematch"),
        (pending.listing_id, "merge", "listing_status", "rematch"),
    }
    bridge = q(
        engine,
        "select distinct match_method, certainty_score from pipeline.bridge_source_listing where listing_info_id = :i",
        i=pending.id,
    )
    assert [(b.match_method, float(b.certainty_score)) for b in bridge] == [("rematch", change["confidence"])]
    # the merged listing left the matching index; a re-run finds nothing more to do
    assert (
        q(engine, "select count(*) from pipeline.listing_match where listing_id = :l", l=pending.listing_id)[
            0
        ][0]
        == 0
    )
    assert CliRunner().invoke(main, ["rematch", "--dry-run"]).stdout.strip() == ""
    # the next import of the record resolves straight to the listing it was merged into
    again = run_job(102, file=tmp_path / "dmo102.csv")
    assert again["counts"]["records_unchanged"] == 3


def test_rematch_proposes_each_pair_once_with_its_candidates(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two DMOs' records of one place (confidence about 0.74), kept apart at import by strict thresholds,
    both at one postal code: each finds the other's listing. Rematch proposes the pair once (not A -> B and
    B -> A), its review item lists the candidate, and the later merge leaves no listing_info on the listing
    merged away."""
    from click.testing import CliRunner

    from listings.cli import main
    from listings.settings import get_settings

    def thresholds(auto: str | None, review: str | None = None) -> None:
        for name, value in (("AUTO", auto), ("REVIEW", review)):
            if value is None:
                monkeypatch.delenv(f"LISTINGS_MATCH_{name}_THRESHOLD", raising=False)
            else:
                monkeypatch.setenv(f"LISTINGS_MATCH_{name}_THRESHOLD", value)
        get_settings.cache_clear()

    with engine.begin() as conn:
        apply_config(conn, config(101))
        apply_config(conn, config(102))
    thresholds("0.95", "0.94")
    run_job(101, file=write_csv(tmp_path / "dmo101.csv", [OLIMPICO]))
    bare = ["x4", "Olimpico", "Café", "rue Saint-Viateur", "Montréal", "H2T 2L1", "", "", ""]
    run_job(102, file=write_csv(tmp_path / "dmo102.csv", [bare]))
    assert q(engine, "select count(distinct listing_id) from public.listing_info") == [(2,)]

    thresholds(None)  # now in the review band: one review item, with its candidate
    res = CliRunner().invoke(main, ["rematch"])
    assert res.exit_code == 0 and "'review': 1" in res.stderr, res.output
    (item,) = q(engine, "select listing_id, candidates from pipeline.review_items where status = 'open'")
    assert [c["listing_id"] for c in item.candidates] == [item.listing_id]
    assert CliRunner().invoke(main, ["rematch", "--dry-run"]).stdout.strip() == ""  # already under review

    thresholds("0.7")  # now above the auto-merge threshold: one merge, not two
    res = CliRunner().invoke(main, ["rematch"])
    assert res.exit_code == 0 and "'merge': 1" in res.stderr, res.output
    infos = q(
        engine,
        "select li.listing_id, l.listing_status from public.listing_info li join public.listings l on l.id = li.listing_id",
    )
    assert len({listing for listing, _ in infos}) == 1 and {status for _, status in infos} == {"active"}
    assert q(engine, "select count(*) from pipeline.review_items where status = 'open'") == [(0,)]


# fmt: off
CHAIN_HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Website", "Latitude", "Longitude"]
SITE = "https://escaleboreale.example/"
CHAIN = [
    ["B1", "Hôtel Escale Boréale", "Hôtel", "2901 chemin Sainte-Foy", "Québec", "G1X 1P1", SITE, "46.7800", "-71.2900"],
    ["B2", "Hôtel Escale Boréale", "Hôtel", "146 rue Dalhousie", "Québec", "G1K 4C4", SITE, "46.8160", "-71.2020"],
    ["B3", "Hôtel Escale Boréale", "Hôtel", "89 rue Sous-le-Fort", "Québec", "G1K 4G9", SITE, "46.8130", "-71.2030"],
]
# fmt: on


def test_a_new_branch_of_a_chain_the_region_holds_is_a_new_listing(engine: Engine, tmp_path: Path) -> None:
    """The chain's name and booking site agree with each of its branches: agreeing on what three listings
    share points at one of the three, not at this one (a new address kilometres away is a new branch)."""
    with engine.begin() as conn:
        apply_config(conn, csv_config(101, CHAIN_HEADER))
        apply_config(conn, csv_config(102, CHAIN_HEADER))

    def upload(name: str, rows: Sequence[Sequence[str]]) -> Path:
        buf = io.StringIO()
        csv.writer(buf).writerows([CHAIN_HEADER, *rows])
        (tmp_path / name).write_text(buf.getvalue(), encoding="utf-8")
        return tmp_path / name

    run_job(101, file=upload("chain.csv", CHAIN))
    assert q(engine, "select count(*) from public.listings")[0][0] == 3
    new_branch = ["N1", "Hôtel Escale Boréale", "Hôtel", "680 boulevard Laurier", "Québec", "G1R 2L3", SITE,
                  "46.7950", "-71.2450"]  # fmt: skip
    branch = ["N2", "Hotel Escale Boreale", "Hôtel", "146, rue Dalhousie", "Quebec", "", SITE,
              "46.8161", "-71.2021"]  # fmt: skip
    result = run_job(102, file=upload("dmo102.csv", [new_branch, branch]))
    rows = q(
        engine,
        "select source_id, match_method, match_reason from staging.listing_info where job_id = :j",
        j=result["job_id"],
    )
    # the branch at its own address is merged still; the new address is a new branch, not a review item
    assert {r.source_id: r.match_method for r in rows} == {"N1": "new", "N2": "auto_match"}, rows
