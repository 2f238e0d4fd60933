"""Match models and labelled pairs against real PostgreSQL and real pipeline runs: every review decision and
manual merge stores a labelled pair; `listings matching fit` fits a Fellegi–Sunter model on the catalogue,
deterministically, falls back to the start parameters on a tiny catalogue, and stores it; the match step
then scores with it (its explanations say so); `listings matching report` measures the stored model and
the defaults on the labels."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from dmo_helpers import csv_config, q
from sqlalchemy import Engine, text

from listings.catalogue.merge import merge_listings, unmerge
from listings.catalogue.review import resolve_match_item
from listings.cli import main
from listings.config.store import apply_config
from listings.matching import fellegi_sunter as fs
from listings.matching import model_store
from listings.matching.features import build_match_record
from listings.matching.scoring import DEFAULT_MODEL, confidence
from listings.pipeline.runner import run_job
from listings_dev.labelled import generate

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Website", "Latitude", "Longitude"]
# fmt: off
OLIMPICO = ["A", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "", "45.5235", "-73.6004"]
TIM_1 = ["T1", "Tim Hortons", "Café", "1 rue Sainte-Catherine O", "Montréal", "H3B 1A1", "514-555-0120", "", "45.5000", "-73.5700"]
TIM_2 = ["T2", "Tim Hortons", "Café", "900 boulevard René-Lévesque O", "Montréal", "H3B 4A5", "514-555-0121", "", "45.5001", "-73.5670"]
GERMAIN = ["G", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "", "45.5020", "-73.5750"]
VAGUE = ["x4", "Olimpico", "Café", "rue Saint-Viateur", "MONTREAL", "", "", "", "", ""]
TIM_VAGUE = ["x7", "Tim Hortons", "Café", "", "Montréal", "", "", "", "45.50005", "-73.5685"]
GERMAIN_V = ["x8", "Le Germain", "Hôtel", "", "Montréal", "", "", "", "45.5032", "-73.5768"]
# fmt: on


def _upload(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _reviewed(engine: Engine, folder: Path) -> dict[str, Any]:
    with engine.begin() as conn:
        for dmo_id in (301, 302):
            apply_config(conn, csv_config(dmo_id, HEADER, images={"enabled": False}))
    run_job(301, file=_upload(folder / "301.csv", [OLIMPICO, TIM_1, TIM_2, GERMAIN]))
    run_job(302, file=_upload(folder / "302.csv", [VAGUE, TIM_VAGUE, GERMAIN_V]))
    out: dict[str, Any] = {}
    for sid, dmo_id, listing_id, info_id in q(
        engine, "select external_source_id, dmo_id, listing_id, id from public.listing_info"
    ):
        out[sid if dmo_id == 301 else f"own_{sid}"] = listing_id
        out[f"info_{sid}"] = info_id
    for item in q(engine, "select id, payload from pipeline.review_items"):
        out[f"item_{item.payload['record']['source_id']}"] = item.id
    assert {"item_x4", "item_x7", "item_x8"} <= set(out)
    return out


@pytest.fixture
def reviewed(scenario: Callable[..., Any]) -> dict[str, Any]:
    """DMO 301's four listings, then DMO 302's three vague records, each waiting in the review queue."""
    return scenario(_reviewed)


def _labels(engine: Engine) -> list[Any]:
    return q(
        engine,
        "select left_record, right_record, left_listing_id, right_listing_id, listing_info_id, review_item_id,"
        " label, source, decided_by from pipeline.match_labels order by id",
    )


def test_every_review_decision_and_merge_stores_labelled_pairs(
    engine: Engine, reviewed: dict[str, Any]
) -> None:
    with engine.begin() as conn:
        resolve_match_item(conn, reviewed["item_x4"], "accept", user="ana")
        resolve_match_item(conn, reviewed["item_x8"], "new", user="ana")
        resolve_match_item(conn, reviewed["item_x7"], "dismiss", user="bo")
    rows = _labels(engine)
    by_item: dict[int, list[Any]] = {}
    for r in rows:
        by_item.setdefault(r.review_item_id, []).append(r)
    # accept: the record against the candidate it joined, the same place
    accepted = [r for r in by_item[reviewed["item_x4"]] if r.label]
    assert [(r.source, r.right_listing_id, r.decided_by) for r in accepted] == [
        ("accept", reviewed["A"], "ana")
    ]
    assert accepted[0].left_record["name"] == "Olimpico"
    assert accepted[0].right_record["name"] == "Café Olimpico"
    assert accepted[0].right_record["phones"] == ["+15145550101"]
    assert accepted[0].listing_info_id == reviewed["info_x4"]
    assert all(r.right_listing_id != reviewed["A"] for r in by_item[reviewed["item_x4"]] if not r.label)
    # new: none of the offered candidates is the same place
    assert {(r.source, r.label) for r in by_item[reviewed["item_x8"]]} == {("new", False)}
    assert reviewed["G"] in {r.right_listing_id for r in by_item[reviewed["item_x8"]]}
    # dismiss: the two branches offered are not the record's place either
    dismissed = by_item[reviewed["item_x7"]]
    assert {r.right_listing_id for r in dismissed} >= {reviewed["T1"], reviewed["T2"]}
    assert {(r.source, r.label, r.decided_by) for r in dismissed} == {("dismiss", False, "bo")}

    # A manual merge (same place) and an unmerge (not) store the two listings as the index had them.
    with engine.begin() as conn:
        merge_listings(conn, reviewed["T2"], reviewed["T1"], user="ana")
    with engine.begin() as conn:
        unmerge(conn, reviewed["info_T2"], user="ana")
    manual = [r for r in _labels(engine) if r.review_item_id is None]
    assert (manual[0].source, manual[0].label, manual[0].left_listing_id, manual[0].right_listing_id) == (
        "merge", True, reviewed["T2"], reviewed["T1"],
    )  # fmt: skip
    assert manual[0].left_record["address1"] == "900 boulevard René-Lévesque O"
    assert manual[1].source == "unmerge" and manual[1].label is False
    assert manual[1].right_listing_id == reviewed["T1"] and manual[1].listing_info_id == reviewed["info_T2"]

    # The labels give features; the same two listings labelled again keep the latest label only.
    with engine.connect() as conn:
        labels = model_store.load_labels(conn)
    assert len(labels) == len(_labels(engine))
    olimpico = next(lb for lb in labels if lb.label and lb.source == "accept")
    assert olimpico.features.name_token == 1.0 and olimpico.features.phone_eq is None
    with engine.begin() as conn:
        assert model_store.label_listings(
            conn, manual[1].right_listing_id, manual[1].left_listing_id, label=True, source="merge", user="cy"
        )
        relabelled = model_store.load_labels(conn)
    assert len(relabelled) == len(labels)
    assert [lb.label for lb in relabelled if lb.source in ("unmerge", "merge")] == [True, True]


def test_a_failed_decision_stores_no_label(engine: Engine, reviewed: dict[str, Any]) -> None:
    from listings.catalogue.edits import EditError

    with pytest.raises(EditError), engine.begin() as conn:
        resolve_match_item(conn, reviewed["item_x7"], "choose", user="ana", listing_id=reviewed["G"])
    assert _labels(engine) == []


def test_fit_on_a_tiny_catalogue_keeps_the_start_parameters(engine: Engine, reviewed: dict[str, Any]) -> None:
    res = CliRunner().invoke(main, ["matching", "fit", "--dry-run"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["model_id"] is None and out["candidate_pairs"] < fs.MIN_PAIRS
    assert "kept_start" in out["meta"]
    assert q(engine, "select count(*) from pipeline.match_models where source <> 'run'")[0][0] == 0
    with engine.connect() as conn:
        result = model_store.fit_catalogue(conn)
        assert model_store.current_model(conn) is DEFAULT_MODEL  # nothing stored: the logistic default
    for name in fs.FIELDS:
        assert result.model.params[name] == fs.DEFAULT_FS_MODEL.params[name]


def _generated(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    fields = ("source_id", "name", "category", "address1", "city", "zip", "phone", "website", "lat", "lng")
    return _upload(path, [[r.get(f, "") for f in fields] for r in rows])


def test_fit_stores_a_deterministic_model_the_match_step_uses(engine: Engine, tmp_path: Path) -> None:
    ls = generate(900, 300, seed=7)
    with engine.begin() as conn:
        for dmo_id in (401, 402, 403):
            apply_config(conn, csv_config(dmo_id, HEADER, images={"enabled": False}))
    run_job(401, file=_generated(tmp_path / "401.csv", ls.canonical))
    run_job(402, file=_generated(tmp_path / "402.csv", ls.incoming[:200]))

    runner = CliRunner()
    first = runner.invoke(main, ["matching", "fit"])
    assert first.exit_code == 0, first.output
    a = json.loads(first.stdout.strip().splitlines()[-1])
    assert a["candidate_pairs"] >= fs.MIN_PAIRS and a["meta"]["converged"] and "kept_start" not in a["meta"]
    again = runner.invoke(main, ["matching", "fit"])
    b = json.loads(again.stdout.strip().splitlines()[-1])
    rows = q(
        engine,
        "select id, source, params, candidate_pairs, random_pairs from pipeline.match_models"
        " where source <> 'run' order by id",
    )
    assert [r.id for r in rows] == [a["model_id"], b["model_id"]]
    assert rows[0].params["comparisons"] == rows[1].params["comparisons"]  # the same seed, the same model
    assert rows[0].params["prior"] == rows[1].params["prior"] and rows[0].source == "em"
    assert rows[0].candidate_pairs == a["candidate_pairs"] and rows[0].random_pairs > 1000
    with engine.connect() as conn:
        current = model_store.current_model(conn)
    assert isinstance(current, fs.FSModel)
    assert current.params["name"].weights()[0] > 0 > current.params["name"].weights()[-1]

    # A run's own EM (the hook the match step can call): its batch counts in the term frequencies and in
    # the random pairs, the stored model is its start, and the same inputs give the same model.
    subway = [
        build_match_record(name="Subway", address1=f"{100 + i} rue Principale", city="Québec", country="CA")
        for i in range(40)
    ]
    batch = [*subway, *(build_match_record(name=r["name"], city=r["city"]) for r in ls.incoming[200:])]
    with engine.begin() as conn:
        pairs = model_store.catalogue_pairs(conn, sample=5000)
        sides = model_store.listing_sides(conn, {i for p in pairs for i in p})
        feats = [model_store.side_features(sides[x], sides[y]) for x, y in pairs]
        run_a = model_store.fit_batch(conn, feats, batch)
        run_b = model_store.fit_batch(conn, list(reversed(feats)), list(reversed(batch)))
    assert run_a.model.to_params()["comparisons"] == run_b.model.to_params()["comparisons"]
    assert run_a.candidate_pairs == len(feats) and run_a.random_pairs == 20_000
    assert run_a.model.tf["name"]["subway"] > run_a.model.u_random_exact["name"]
    assert (
        run_a.model.tf_adjustment("name", "subway") < 0 == run_a.model.tf_adjustment("name", "no such name")
    )

    # The match step re-estimates the stored model on the next run's own pairs, scores with it and keeps
    # it with the job; its review items and bridge rows explain in its terms.
    job = run_job(403, file=_generated(tmp_path / "403.csv", ls.incoming[200:]))["job_id"]
    (run,) = q(engine, "select params, candidate_pairs from pipeline.match_models where job_id = :j", j=job)
    assert run.candidate_pairs > 0 and fs.FSModel.from_params(run.params).prior > 0
    items = q(engine, "select candidates from pipeline.review_items where dmo_id = 403")
    docs = [c for item in items for c in item.candidates]
    assert all(c["explanation"][-1][0] == "prior" for c in docs)
    reasons = q(
        engine,
        "select reason from pipeline.bridge_source_listing where job_id = :j and match_method = 'auto_match'",
        j=job,
    )
    assert reasons and all("(+" in r.reason for r in reasons)  # the evidence, in bits
    # The explanation adds up to the candidate's match weight: log2 of its confidence's odds.
    for c in docs:
        if 0.01 < c["confidence"] < 0.99:
            odds = math.log2(c["confidence"] / (1 - c["confidence"]))
            assert sum(v for _, v in c["explanation"]) == pytest.approx(odds, abs=0.05)


def test_report_measures_stored_and_default_models_on_labels(
    engine: Engine, reviewed: dict[str, Any]
) -> None:
    with engine.begin() as conn:
        resolve_match_item(conn, reviewed["item_x4"], "accept", user="ana")
        resolve_match_item(conn, reviewed["item_x8"], "accept", user="ana")
        resolve_match_item(conn, reviewed["item_x7"], "choose", user="ana", listing_id=reviewed["T1"])
        model_store.save_model(conn, fs.DEFAULT_FS_MODEL, source="em", candidate_pairs=0)
    res = CliRunner().invoke(main, ["matching", "report", "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert [r["model"].split(" #")[0] for r in rows] == ["stored", "fs default", "logistic default"]
    n_true = len(q(engine, "select 1 from pipeline.match_labels where label"))
    n_all = len(q(engine, "select 1 from pipeline.match_labels"))
    for r in rows:
        assert r["pairs"] == n_all and r["true"] == n_true == 3
        for at in ("auto_merge", "review"):
            s = r[at]
            assert s["tp"] + s["fn"] == 3
            if s["precision"] is not None and s["recall"]:
                assert s["f1"] == pytest.approx(
                    2 * s["precision"] * s["recall"] / (s["precision"] + s["recall"])
                )
    # A label's stored sides give the features the match step saw: the same confidence as in the item.
    with engine.connect() as conn:
        labels = {lb.id: lb for lb in model_store.load_labels(conn)}
    shown = {
        (item.id, c["listing_id"]): c["confidence"]
        for item in q(engine, "select id, candidates from pipeline.review_items")
        for c in item.candidates
    }
    stored = q(engine, "select id, review_item_id, right_listing_id from pipeline.match_labels order by id")
    assert len(stored) == len(labels) >= 4
    # (each job's match step stored the model it scored with)
    with engine.connect() as conn:
        models = {
            r.job_id: fs.FSModel.from_params(r.params)
            for r in conn.execute(
                text("select job_id, params from pipeline.match_models where source = 'run'")
            )
        }
        job_of = dict(conn.execute(text("select id, job_id from pipeline.review_items")).all())
    for row in stored:
        got = confidence(labels[row.id].features, models[job_of[row.review_item_id]])
        assert got == pytest.approx(shown[(row.review_item_id, row.right_listing_id)], abs=1e-3)
    text_out = CliRunner().invoke(main, ["matching", "report"])
    assert text_out.exit_code == 0 and "labelled pairs (3 same place)" in text_out.stdout
    assert "fs default" in text_out.stdout and "logistic default" in text_out.stdout
