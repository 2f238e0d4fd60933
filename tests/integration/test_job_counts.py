"""A job's counts by matching outcome: each promoted record is counted once as matched (it joined a
listing that existed), review (a hidden listing in the review queue) or new (a new listing), and they add up to
the records promoted, in `pipeline.job_results`, in the JSON `listings run` prints and on the admin Jobs pages.

One DMO imports a file twice (the re-run: every record matched, by source id); a second DMO's file overlaps it
(one record by record hash, one by an automatic match, one for review, one new), run step by step with every
step re-run; a third DMO's record the matcher queued for review is promoted after the second DMO's promotion
created that record's listing: promotion joins it to that listing through the bridge, so it is matched."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from admin_helpers import PREFIX
from click.testing import CliRunner
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.cli import main
from listings.config.store import apply_config
from listings.pipeline import steps
from listings.pipeline.runner import run_job

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Latitude", "Longitude"]
# fmt: off
OLIMPICO = ["A", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"]
TIM_1 = ["T1", "Tim Hortons", "Café", "1 rue Sainte-Catherine O", "Montréal", "H3B 1A1", "514-555-0120", "45.5000", "-73.5700"]
TIM_2 = ["T2", "Tim Hortons", "Café", "900 boulevard René-Lévesque O", "Montréal", "H3B 4A5", "514-555-0121", "45.5001", "-73.5670"]
GERMAIN = ["G", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"]
# the same record as OLIMPICO written differently (same record hash): merged in the file, not promoted twice
OLIMPICO_AGAIN = ["A", "CAFÉ OLIMPICO", "Café", "124, rue Saint-Viateur O.", "Montreal", "h2t2l1", "", "", ""]
NO_NAME = ["X9", "   ", "Bar", "1 rue Nulle", "Laval", "H7N 1A1", "", "", ""]  # rejected

# DMO 102: Le Germain as DMO 101 writes it (same record hash: the bridge), a branch the matcher merges into
# TIM_2, a bare name it sends to review, and a place nobody lists yet.
GERMAIN_102 = ["g2", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "", "", ""]
BRANCH = ["x2", "Café Tim Hortons", "Café", "900, boul. René-Lévesque Ouest", "Montréal", "H3B4A5", "", "45.50015", "-73.56705"]
VAGUE = ["x4", "Olimpico", "Café", "rue Saint-Viateur", "MONTREAL", "", "", "", ""]
MUSEUM = ["x5", "Musée des beaux-arts", "Musée", "1380 rue Sherbrooke O", "Montréal", "H3G 1J5", "514-555-0103", "45.4985", "-73.5794"]
# DMO 103: the bare name again, with its own source id (same record hash as DMO 102's)
VAGUE_103 = ["v3", "Olimpico", "Café", "rue Saint-Viateur", "MONTREAL", "", "", "", ""]
# fmt: on

OUTCOMES = ("records_matched", "records_review", "records_new")
RESULTS_SQL = """
select records_total, records_matched, records_review, records_new, records_updated, records_unchanged,
       records_duplicates, records_error
from pipeline.job_results where job_id = :j
"""


def write_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def results(engine: Engine, job_id: int) -> dict[str, int]:
    (row,) = q(engine, RESULTS_SQL, j=job_id)
    return dict(row._mapping)


def outcome(counts: dict[str, Any]) -> tuple[int, int, int]:
    return tuple(counts[k] for k in OUTCOMES)  # type: ignore[return-value]


def promoted(counts: dict[str, Any]) -> int:
    return sum(counts[k] for k in OUTCOMES)


def run_cli(dmo_id: int, file: Path) -> dict[str, Any]:
    res = CliRunner().invoke(main, ["run", str(dmo_id), "--file", str(file)])
    assert res.exit_code == 0, res.output
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def test_counts_by_outcome_add_up_through_reruns_overlaps_and_late_bridge_hits(
    engine: Engine, tmp_path: Path, client_as: Callable[..., Any]
) -> None:
    with engine.begin() as conn:
        for dmo_id in (101, 102, 103):
            apply_config(conn, csv_config(dmo_id, HEADER, images={"enabled": False}))

    # DMO 103's record is decided by the matcher now, against DMO 101's catalogue: review (promoted last).
    file_101 = write_csv(tmp_path / "101.csv", [OLIMPICO, TIM_1, TIM_2, GERMAIN, OLIMPICO_AGAIN, NO_NAME])
    first = run_cli(101, file_101)
    assert first["status"] == "partial"
    assert outcome(first["counts"]) == (0, 0, 4)  # an empty catalogue: four new listings
    assert (first["counts"]["records_duplicates"], first["counts"]["records_error"]) == (1, 1)
    # read = promoted + merged in the file + rejected
    assert first["counts"]["records_total"] == 6 == promoted(first["counts"]) + 1 + 1
    assert results(engine, first["job_id"]) == {
        "records_total": 6, "records_matched": 0, "records_review": 0, "records_new": 4,
        "records_updated": 0, "records_unchanged": 0, "records_duplicates": 1, "records_error": 1,
    }  # fmt: skip

    # The same file again: every record joins its listing by source id, unchanged.
    again = run_cli(101, file_101)
    assert outcome(again["counts"]) == (4, 0, 0)
    assert (again["counts"]["records_unchanged"], again["counts"]["records_updated"]) == (4, 0)
    assert outcome(results(engine, again["job_id"])) == (4, 0, 0)

    late = steps.start(103, params={"file": str(write_csv(tmp_path / "103.csv", [VAGUE_103]))})
    for step in ("extract", "transform", "stage", "images", "match"):
        getattr(steps, step)(late)
    (decided,) = q(
        engine, "select match_method, pending_review from staging.listing_info where job_id = :j", j=late
    )
    assert tuple(decided) == ("review", True)

    # DMO 102 overlaps DMO 101: run step by step, every step run twice; the counts are written once, by promotion.
    overlap = steps.start(
        102, params={"file": str(write_csv(tmp_path / "102.csv", [GERMAIN_102, BRANCH, VAGUE, MUSEUM]))}
    )
    for step in ("extract", "transform", "stage", "images", "match"):
        getattr(steps, step)(overlap)
        getattr(steps, step)(overlap)
    methods = dict(
        q(engine, "select source_id, match_method from staging.listing_info where job_id = :j", j=overlap)
    )
    assert methods == {"g2": "bridge_other_dmo", "x2": "auto_match", "x4": "review", "x5": "new"}
    steps.promote(overlap)
    counts = results(engine, overlap)
    assert outcome(counts) == (2, 1, 1)  # Le Germain and the branch joined DMO 101's listings
    assert (counts["records_updated"], counts["records_unchanged"]) == (0, 0)  # all new to DMO 102
    for step in ("promote", "finalize", "finalize", "match", "stage", "transform", "promote"):
        getattr(steps, step)(overlap)
        assert results(engine, overlap) == counts
    listings = q(engine, "select count(*) from public.listings")[0][0]
    assert listings == 4 + 2  # DMO 101's four, the museum, the pending bare name

    # DMO 103's bare name: queued for review by the matcher, but promoted after DMO 102 gave that record hash a
    # listing: promotion joins it there (bridge, another DMO), so it is matched, not review.
    steps.promote(late)
    steps.finalize(late)
    assert outcome(results(engine, late)) == (1, 0, 0)
    (joined,) = q(
        engine,
        """select li.listing_id = (select listing_id from public.listing_info where external_source_id = 'x4')
           from public.listing_info li where li.dmo_id = 103""",
    )
    assert joined[0] is True
    assert q(engine, "select count(*) from public.listings")[0][0] == 6

    # DMO 102 again, unchanged: every record matched by source id, the one in review included.
    rerun = run_cli(102, tmp_path / "102.csv")
    assert outcome(rerun["counts"]) == (4, 0, 0) and rerun["counts"]["records_unchanged"] == 4

    # The Jobs page: each job's three counts in its row, and what they mean.
    client = client_as("viewer")
    page = client.get(PREFIX + "/jobs")
    assert page.status_code == 200, page.text
    expected = {
        first["job_id"]: (0, 0, 4), again["job_id"]: (4, 0, 0), overlap: (2, 1, 1), late: (1, 0, 0),
        rerun["job_id"]: (4, 0, 0),
    }  # fmt: skip
    for job_id, (matched, review, new) in expected.items():
        row = page.text.split(f'data-job-id="{job_id}"')[1].split("</tr>")[0]
        shown = tuple(int(re.search(rf'data-count="{k}">(\d+)<', row).group(1)) for k in OUTCOMES)  # type: ignore[union-attr]
        assert shown == (matched, review, new), (job_id, row)
    legend = re.sub(r"\s+", " ", page.text.split('data-legend="counts">')[1].split("</p>")[0])
    assert "Matched + review + new = records promoted." in legend
    assert "an unchanged record is matched" in legend and "rejected records, which are not promoted" in legend

    detail = client.get(f"{PREFIX}/jobs/{overlap}")
    assert detail.status_code == 200, detail.text
    cells = dict(re.findall(r'data-count="(records_\w+)">([\d,]+)<', detail.text))
    assert {k: cells[k] for k in (*OUTCOMES, "records_promoted", "records_total")} == {
        "records_matched": "2", "records_review": "1", "records_new": "1", "records_promoted": "4",
        "records_total": "4",
    }  # fmt: skip
    steps_row = detail.text.split('data-step="promote"')[1].split("</tr>")[0]
    assert "matched 2, review 1, new 1" in steps_row


def test_a_job_promoted_before_the_outcome_counts_shows_them_as_not_counted(
    engine: Engine, tmp_path: Path, client_as: Callable[..., Any]
) -> None:
    """A job promoted before migration 0013 has no matched / review count (null): the pages say "not counted",
    never 0, and its promoted records are its old counts (new listing_info + updated + unchanged)."""
    with engine.begin() as conn:
        apply_config(conn, csv_config(101, HEADER, images={"enabled": False}))
    job = run_job(101, file=write_csv(tmp_path / "101.csv", [OLIMPICO, GERMAIN]))["job_id"]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "update pipeline.job_results set records_matched = null, records_review = null where job_id = %s",
            (job,),
        )
    client = client_as("viewer")
    row = client.get(PREFIX + "/jobs").text.split(f'data-job-id="{job}"')[1].split("</tr>")[0]
    assert re.search(r'data-count="records_matched" title="not counted[^"]*">—<', row)
    assert re.search(r'data-count="records_new">2<', row)
    detail = client.get(f"{PREFIX}/jobs/{job}").text
    assert re.search(r'data-count="records_review" title="not counted[^"]*">—<', detail)
    assert re.search(r'data-count="records_promoted">2<', detail)
    assert "matched not counted, review not counted, new 2" in detail


# fmt: off
US_HEADER = ["ID", "Name", "Address1", "City", "State", "Postal", "Phone", "Website"]
# One file that lists a deli twice, written differently (one place: the batch's records share one new listing),
# and a restaurant once.
ONE_FILE = [
    ["d1", "Arts Delicatessen", "12224 Ventura Blvd", "Studio City", "CA", "91604", "(818) 555-0122", ""],
    ["d2", "Art's Deli", "12224 Ventura Boulevard", "Studio City", "CA", "91604", "818/555-0122", ""],
    ["d7", "Nobu", "105 Hudson St", "New York", "NY", "10013", "(212) 555-0177", ""],
]
# fmt: on


def test_records_of_one_batch_that_share_a_new_listing_count_it_once(engine: Engine, tmp_path: Path) -> None:
    """The first record of a listing the job creates is new (or review); every later record of the same job on
    that listing joined it: matched. Then the unchanged re-run: all matched."""
    with engine.begin() as conn:
        apply_config(conn, csv_config(203, US_HEADER, country="US", state="NY", images={"enabled": False}))
    buf = io.StringIO()
    csv.writer(buf).writerows([US_HEADER, *ONE_FILE])
    upload = tmp_path / "one.csv"
    upload.write_text(buf.getvalue(), encoding="utf-8")
    # `listings run` as a user runs it, in its own process: records without coordinates and no geocoder key
    # log a warning (through Airflow's logging), which must not land in the JSON on stdout.
    cli = subprocess.run(
        [sys.executable, "-c", "from listings.cli import main; main()", "run", "203", "--file", str(upload)],
        capture_output=True, text=True, env=os.environ.copy(), timeout=600,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "geotagging off" in cli.stderr
    first = json.loads(cli.stdout)
    shared = q(
        engine,
        "select count(distinct listing_id), count(*) from public.listing_info where external_source_id in ('d1', 'd2')",
    )
    assert tuple(shared[0]) == (1, 2)  # the deli's two records: one listing
    assert outcome(first["counts"]) == (1, 0, 2) and q(engine, "select count(*) from public.listings") == [
        (2,)
    ]
    assert promoted(first["counts"]) == first["counts"]["records_total"] == 3
    again = run_cli(203, upload)
    assert outcome(again["counts"]) == (3, 0, 0) and again["counts"]["records_unchanged"] == 3
