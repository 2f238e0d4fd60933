"""A CSV DMO end to end: upload → raw → transformed → staging → dbt promotion → public, with exact counts."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from dmo_helpers import q
from sqlalchemy import Engine, text

from listings.cli import main
from listings.config.store import apply_config, parse_config
from listings.pipeline import steps
from listings.pipeline.runner import JobFailed, run_job
from listings.sources.base import SourceError
from listings.storage import DataKey

HEADER = [
    "ID",
    "Name",
    "Category",
    "Address1",
    "City",
    "Postal",
    "Phone",
    "Website",
    "Latitude",
    "Longitude",
    "Description",
    "Images",
]
CONFIG = {
    "dmo": {"id": 101, "name": "Visit Example", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
    "source_type": "csv",
    "field_mappings": {
        "source_id": "ID", "name": "Name", "category": "Category", "address1": "Address1", "city": "City",
        "zip": "Postal", "phone": "Phone", "website": "Website", "lat": "Latitude", "lng": "Longitude",
        "description": "Description", "images": "Images",
    },
    # These rows' image hosts do not exist: this file is about the records (tests/integration/test_images_flow.py
    # covers the images step); with images off, public shows the source URLs.
    "images": {"enabled": False},
}  # fmt: skip

A = [
    "A1",
    "Café Olimpico",
    "Café",
    "124 rue Saint-Viateur O",
    "Montréal",
    "H2T 2L1",
    "",
    "",
    "45.5235",
    "-73.6004",
    "Espresso since 1970.",
    "https://img.example.org/a.jpg",
]
A_DUP = [
    "A1",
    "CAFÉ OLIMPICO",
    "Café",
    "124, rue Saint-Viateur O.",
    "Montreal",
    "h2t2l1",
    "514-555-0101",
    "",
    "",
    "",
    "",
    "https://img.example.org/a2.jpg",
]
B = [
    "B2",
    "Hôtel Le Germain",
    "Hôtel",
    "2050 rue Mansfield",
    "Montréal",
    "H3A 1Y9",
    "514-555-0102",
    "https://germain.example/",
    "45.5020",
    "-73.5750",
    "Boutique hotel.",
    "",
]
C = [
    "C3",
    "Musée des beaux-arts",
    "Musée",
    "1380 rue Sherbrooke O",
    "Montréal",
    "H3G 1J5",
    "514-555-0103",
    "",
    "45.4985",
    "-73.5794",
    "",
    "",
]
D = [
    "D4",
    "Bistro Chez Émile",
    "Restaurant",
    "45 av. du Parc",
    "Québec",
    "G1R 4P5",
    "418-555-0104",
    "",
    "",
    "",
    "Cuisine du marché.",
    "",
]
NO_NAME = ["X9", "   ", "Bar", "1 rue Nulle", "Laval", "H7N 1A1", "", "", "", "", "", ""]
RAGGED = ["Y9", "Too Many", "Bar", "2 rue Trop", "Laval", "H7N 1A1", "", "", "", "", "", "", "surplus"]


def write_csv(
    path: Path, rows: Sequence[Sequence[str]], *, encoding: str = "utf-8", delimiter: str = ","
) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


@pytest.fixture
def dmo(engine: Engine) -> int:
    with engine.begin() as conn:
        apply_config(conn, parse_config(CONFIG))
    return 101


def table_counts(engine: Engine) -> dict[str, int]:
    names = ["listings", "listing_info", "locations", "contact_info", "listing_images"]
    return {n: q(engine, f"select count(*) from public.{n}")[0][0] for n in names}


def test_first_import_then_unchanged_then_one_phone_change(engine: Engine, dmo: int, tmp_path: Path) -> None:
    first = run_job(dmo, file=write_csv(tmp_path / "v1.csv", [A, B, C, D, A_DUP, NO_NAME, RAGGED]))
    assert first["status"] == "partial"
    assert first["counts"] == {
        "records_total": 7, "records_matched": 0, "records_review": 0, "records_new": 4,
        "records_updated": 0, "records_unchanged": 0,
        "records_duplicates": 1, "records_error": 2, "records_deleted": 0,
    }  # fmt: skip
    assert table_counts(engine) == {
        "listings": 4,
        "listing_info": 4,
        "locations": 4,
        "contact_info": 4,
        "listing_images": 2,
    }

    # The merged duplicate: the more complete, later row wins per field; images merged.
    (olimpico,) = q(
        engine,
        """select l.name, c.local_phone, c.international_phone, li.external_source_id, loc.zip, loc.lat, st_y(loc.geog::geometry) as gy,
                  array(select image from public.listing_images i where i.listing_info_id = li.id order by rank) as images
           from public.listings l join public.listing_info li on li.listing_id = l.id
           join public.contact_info c on c.id = li.contact_info_id join public.locations loc on loc.id = l.location_id
           where li.external_source_id = 'A1'""",
    )
    assert olimpico.local_phone == "(514) 555-0101" and olimpico.international_phone == "+15145550101"
    assert olimpico.images == ["https://img.example.org/a.jpg", "https://img.example.org/a2.jpg"]
    assert float(olimpico.lat) == pytest.approx(45.5235) and olimpico.gy == pytest.approx(45.5235)

    errors = q(
        engine,
        "select record_no, error_type, error_message, original_record from pipeline.job_errors order by record_no",
    )
    assert [(e.record_no, e.error_type) for e in errors] == [(6, "missing_field"), (7, "ragged_row")]
    assert errors[0].original_record["ID"] == "X9"
    assert errors[1].original_record["_extra"] == ["surplus"]
    assert "13 fields" in errors[1].error_message and "12" in errors[1].error_message

    before = table_counts(engine)
    snapshot = q(
        engine, "select id, listing_id, contact_info_id, updated_at from public.listing_info order by id"
    )
    again = run_job(dmo, file=tmp_path / "v1.csv")
    assert again["counts"]["records_unchanged"] == 4
    assert again["counts"]["records_new"] == again["counts"]["records_updated"] == 0
    assert table_counts(engine) == before
    assert (
        q(engine, "select id, listing_id, contact_info_id, updated_at from public.listing_info order by id")
        == snapshot
    )
    # The same day, an unchanged re-run writes nothing to public, and no bridge row (the hashes are mapped).
    seen = q(engine, "select distinct last_job_id from public.listing_info")
    assert [r[0] for r in seen] == [again["job_id"] - 1]
    bridged = "select count(*) from pipeline.bridge_source_listing where job_id = :j"
    assert q(engine, bridged, j=again["job_id"]) == [(0,)]
    assert q(engine, "select count(*) from pipeline.listing_info_absence") == [(0,)]  # every record was seen
    # A day later, last_seen_at and last_job_id move (and nothing else does).
    with engine.begin() as conn:
        conn.execute(text("update public.listing_info set last_seen_at = last_seen_at - interval '1 day'"))
    later = run_job(dmo, file=tmp_path / "v1.csv")
    seen = q(
        engine, "select distinct last_job_id, last_seen_at::date = current_date from public.listing_info"
    )
    assert [tuple(r) for r in seen] == [(later["job_id"], True)]
    assert table_counts(engine) == before

    b_changed = [*B[:6], "514-555-0199", *B[7:]]
    third = run_job(dmo, file=write_csv(tmp_path / "v2.csv", [A, b_changed, C, D, A_DUP]))
    assert third["status"] == "succeeded"
    assert (third["counts"]["records_updated"], third["counts"]["records_unchanged"]) == (1, 3)
    after = q(engine, "select id, listing_id, contact_info_id from public.listing_info order by id")
    changed = [
        (old, new)
        for old, new in zip(snapshot, after, strict=True)
        if old.contact_info_id != new.contact_info_id
    ]
    assert len(changed) == 1
    (new_phone,) = q(
        engine,
        "select international_phone from public.contact_info where id = :i",
        i=changed[0][1].contact_info_id,
    )
    assert new_phone[0] == "+15145550199"
    assert table_counts(engine)["contact_info"] == 5  # a new row; the old one is kept
    # staging keeps the DMO's latest batch only
    assert [r[0] for r in q(engine, "select distinct job_id from staging.listing_info")] == [third["job_id"]]
    assert table_counts(engine)["locations"] == 4


def test_the_bridge_grows_with_mappings_not_with_runs(engine: Engine, dmo: int, tmp_path: Path) -> None:
    """One bridge row per mapping (a DMO's record hash -> its listing_info), written when the hash is first
    mapped there, with the decision that mapped it: content-changing runs add none."""
    bridge = """
        select b.source_record_hash, b.source_id, b.listing_id, b.listing_info_id, b.match_method,
               b.certainty_score, b.reason, b.job_id, b.job_file_id, b.mapped_at
        from pipeline.bridge_source_listing b order by b.id
    """
    rows = [A, B, C, D]
    first = run_job(dmo, file=write_csv(tmp_path / "run1.csv", rows))
    decided = q(engine, bridge)
    assert len(decided) == 4 and {r.match_method for r in decided} == {"new"}
    assert {r.job_id for r in decided} == {first["job_id"]} and all(r.reason for r in decided)

    # Three runs that change every record's content (not its record hash: name and address stay).
    for run in (2, 3, 4):
        changed = [[*r[:10], f"Description, version {run}.", r[11]] for r in rows]
        res = run_job(dmo, file=write_csv(tmp_path / f"run{run}.csv", changed))
        assert (res["counts"]["records_updated"], res["counts"]["records_new"]) == (4, 0)
    descriptions = q(engine, "select distinct description from public.listing_info")
    assert [r[0] for r in descriptions] == ["Description, version 4."]
    # the same four rows: each mapping's decision, reason and the job that made it
    assert q(engine, bridge) == decided

    # A renamed record has a new record hash: one new mapping, to the same listing_info (by source id).
    renamed = [*B[:1], "Hôtel Le Germain Montréal", *B[2:10], "Description, version 5.", B[11]]
    res = run_job(dmo, file=write_csv(tmp_path / "run5.csv", [renamed]))
    assert res["counts"]["records_updated"] == 1
    (mapped,) = q(engine, bridge)[4:]
    b_info = next(r.listing_info_id for r in decided if r.source_id == "B2")
    assert (mapped.source_id, mapped.listing_info_id, mapped.match_method) == ("B2", b_info, "source_id")
    assert mapped.source_record_hash not in {r.source_record_hash for r in decided}
    changed_again = [*renamed[:10], "Description, version 6.", renamed[11]]
    run_job(dmo, file=write_csv(tmp_path / "run6.csv", [changed_again]))
    assert q(engine, "select count(*) from pipeline.bridge_source_listing") == [(5,)]


def test_crafted_batch_counts(engine: Engine, dmo: int, tmp_path: Path) -> None:
    run_job(dmo, file=write_csv(tmp_path / "v1.csv", [A, B, C]))
    moved = [*C[:3], "1379 rue Sherbrooke O", *C[4:]]  # new address: new record_hash, C3 kept by source id
    renamed_b = [*B[:1], "Le Germain Hôtel Montréal", *B[2:]]
    new_e = [
        "E5",
        "Parc du Mont-Royal",
        "Parc",
        "1260 chemin Remembrance",
        "Montréal",
        "H3H 1A2",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    res = run_job(dmo, file=write_csv(tmp_path / "v2.csv", [A, renamed_b, moved, new_e, new_e, NO_NAME]))
    assert res["counts"] == {
        "records_total": 6, "records_matched": 3, "records_review": 0, "records_new": 1,
        "records_updated": 2, "records_unchanged": 1,
        "records_duplicates": 1, "records_error": 1, "records_deleted": 0,
    }  # fmt: skip
    # the moved place kept its listing and got a new location row; its listing points at it
    (c,) = q(
        engine,
        """select l.id, loc.address1, (select count(*) from public.locations) as n_loc
           from public.listing_info li join public.listings l on l.id = li.listing_id
           join public.locations loc on loc.id = l.location_id where li.external_source_id = 'C3'""",
    )
    assert c.address1 == "1379 rue Sherbrooke O" and c.n_loc == 5
    (b,) = q(
        engine,
        "select l.name from public.listings l join public.listing_info li on li.listing_id = l.id where li.external_source_id = 'B2'",
    )
    assert b.name == "Le Germain Hôtel Montréal"
    assert q(engine, "select count(*) from public.listings")[0][0] == 4


def test_messy_file_cp1252_semicolons_quoted_newlines(engine: Engine, dmo: int, tmp_path: Path) -> None:
    quoted = [
        "Q1",
        "Auberge Saint-Antoine",
        "Hôtel",
        "8 rue Saint-Antoine",
        "Québec",
        "G1K 4C9",
        "418-555-0110",
        "",
        "46.8138",
        "-71.2026",
        "Hôtel-musée.\nVue sur le fleuve – « superbe ».",
        "",
    ]
    path = tmp_path / "windows.csv"
    write_csv(path, [A, quoted, NO_NAME, RAGGED[:5]], encoding="cp1252", delimiter=";")
    path.write_bytes(
        path.read_bytes().replace(
            b"\r\n" + ";".join(A).encode("cp1252"), b"\r\n\r\n" + ";".join(A).encode("cp1252")
        )
    )
    res = run_job(dmo, file=path)
    assert res["status"] == "partial"
    assert (res["counts"]["records_total"], res["counts"]["records_new"], res["counts"]["records_error"]) == (
        4,
        2,
        2,
    )
    names = sorted(r[0] for r in q(engine, "select name from public.listings"))
    assert names == ["Auberge Saint-Antoine", "Café Olimpico"]
    (desc,) = q(engine, "select description from public.listing_info where external_source_id = 'Q1'")
    assert desc[0] == "Hôtel-musée.\nVue sur le fleuve – « superbe »."
    (raw,) = q(engine, "select metadata from pipeline.job_files where stage = 'raw'")
    assert raw[0]["encoding"] == "cp1252" and raw[0]["delimiter"] == ";"
    assert [e[0] for e in q(engine, "select error_type from pipeline.job_errors order by record_no")] == [
        "missing_field",
        "ragged_row",
    ]


def test_files_follow_the_seed_naming_and_are_immutable(
    engine: Engine, dmo: int, tmp_path: Path, listings_env: Path
) -> None:
    src = write_csv(tmp_path / "v1.csv", [A, B])
    res = run_job(dmo, file=src)
    files = q(
        engine,
        "select stage, s3_path, format, record_count, batch, file_size, sha256 from pipeline.job_files order by id",
    )
    assert [(f.stage, f.format, f.record_count, f.batch) for f in files] == [
        ("raw", "csv", 2, 1),
        ("transformed", "json", 2, 1),
    ]
    for f in files:
        key = DataKey.parse(f.s3_path.removeprefix("s3://"))
        assert (key.env, key.domain, key.country, key.state, key.dmo_id) == (
            "dev",
            "listings",
            "ca",
            "qc",
            101,
        )
        assert key.bucket == "dev-trippl-data" and key.stage == f.stage
    raw_obj = listings_env / "objects" / files[0].s3_path.removeprefix("s3://")
    assert gzip.decompress(raw_obj.read_bytes()) == src.read_bytes()  # stored exactly as it came
    transformed = json.loads(
        gzip.decompress((listings_env / "objects" / files[1].s3_path.removeprefix("s3://")).read_bytes())
    )
    assert [r["source_id"] for r in transformed] == ["A1", "B2"]
    assert all(len(r["record_hash"]) == 64 and r["listing_id"] is None for r in transformed)

    # every step re-run is a no-op with the same result; objects are never rewritten
    for name in ("extract", "transform", "stage", "match", "promote"):
        assert getattr(steps, name)(res["job_id"]).skipped is True
    assert q(engine, "select count(*) from pipeline.job_files")[0][0] == 2
    second = run_job(dmo, file=src)
    batches = q(engine, "select batch from pipeline.job_files where job_id = :j", j=second["job_id"])
    assert {b[0] for b in batches} == {2}
    transformed2 = json.loads(gzip.decompress(
        (listings_env / "objects" / q(engine, "select s3_path from pipeline.job_files where job_id = :j and stage = 'transformed'", j=second["job_id"])[0][0].removeprefix("s3://")).read_bytes()
    ))  # fmt: skip
    assert [r["match_method"] for r in transformed2] == ["source_id", "source_id"]


def test_restaging_and_repromoting_an_unfinished_job_is_idempotent(
    engine: Engine, dmo: int, tmp_path: Path
) -> None:
    job_id = steps.start(dmo, params={"file": str(write_csv(tmp_path / "v1.csv", [A, B, C]))})
    steps.extract(job_id)
    steps.transform(job_id)
    steps.stage(job_id)
    steps.stage(job_id)  # a retried stage task replaces its rows
    assert q(engine, "select count(*) from staging.listing_info where job_id = :j", j=job_id)[0][0] == 3
    steps.promote(job_id)
    steps.promote(job_id)
    steps.finalize(job_id)
    assert table_counts(engine)["listings"] == 3
    assert q(engine, "select records_new from pipeline.job_results where job_id = :j", j=job_id)[0][0] == 3
    assert q(engine, "select count(*) from pipeline.bridge_source_listing")[0][0] == 3


def test_second_dmo_joins_existing_listings_by_record_hash(engine: Engine, dmo: int, tmp_path: Path) -> None:
    run_job(dmo, file=write_csv(tmp_path / "v1.csv", [A, B]))
    other = {**CONFIG, "dmo": {**CONFIG["dmo"], "id": 102, "name": "Other DMO"}}  # type: ignore[dict-item]
    with engine.begin() as conn:
        apply_config(conn, parse_config(other))
    a_other = [
        "other-1",
        "Café Olimpico",
        "Café",
        "124, rue Saint-Viateur O.",
        "MONTRÉAL",
        "H2T2L1",
        "514 555 0999",
        "",
        "",
        "",
        "Autre description.",
        "",
    ]
    res = run_job(102, file=write_csv(tmp_path / "other.csv", [a_other]))
    # it joined DMO 101's listing (a new listing_info for DMO 102): matched, not new
    assert (res["counts"]["records_matched"], res["counts"]["records_new"]) == (1, 0)
    rows = q(engine, "select listing_id, dmo_id, description from public.listing_info order by dmo_id, id")
    assert q(engine, "select count(*) from public.listings")[0][0] == 2
    olimpico = [r for r in rows if r.description in ("Espresso since 1970.", "Autre description.")]
    assert len({r.listing_id for r in olimpico}) == 1 and {r.dmo_id for r in olimpico} == {101, 102}
    (method,) = q(engine, "select match_method from pipeline.bridge_source_listing where dmo_id = 102")
    assert method[0] == "bridge_other_dmo"

    # The listing's first source owns its canonical name and location: re-running both DMOs, whose
    # addresses are formatted differently, must not flip the location back and forth.
    location = q(
        engine,
        "select l.location_id, loc.address1 from public.listings l join public.locations loc on loc.id = l.location_id where l.name = 'Café Olimpico'",
    )
    assert location[0].address1 == "124 rue Saint-Viateur O"
    for _ in range(2):
        again_101 = run_job(dmo, file=tmp_path / "v1.csv")
        again_102 = run_job(102, file=tmp_path / "other.csv")
        assert again_101["counts"]["records_unchanged"] == 2 and again_102["counts"]["records_unchanged"] == 1
    assert (
        q(
            engine,
            "select l.location_id, loc.address1 from public.listings l join public.locations loc on loc.id = l.location_id where l.name = 'Café Olimpico'",
        )
        == location
    )


def test_unreadable_file_fails_the_job_with_a_clear_error(engine: Engine, dmo: int, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(JobFailed) as err:
        run_job(dmo, file=empty)
    assert err.value.step == "extract"
    (job,) = q(engine, "select status, error_summary from pipeline.jobs")
    assert job.status == "failed" and "DMO 101" in job.error_summary and "empty" in job.error_summary.lower()
    # the payload is kept even though it could not be parsed, and a retry fails the same way
    (raw,) = q(engine, "select status, record_count, metadata from pipeline.job_files where stage = 'raw'")
    assert raw.status == "failed" and raw.record_count is None and "empty" in raw.metadata["error"].lower()
    with pytest.raises(SourceError, match="empty"):
        steps.extract(err.value.job_id)
    assert table_counts(engine)["listings"] == 0


def test_cli_run_prints_job_and_counts_as_json(engine: Engine, dmo: int, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main, ["run", "101", "--file", str(write_csv(tmp_path / "v1.csv", [A, B, NO_NAME]))]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["status"] == "partial" and out["dmo_id"] == 101 and isinstance(out["job_id"], int)
    assert out["counts"]["records_new"] == 2 and out["counts"]["records_error"] == 1
    assert list(out["stages"]) == [
        "snapshot_config",
        "extract",
        "transform",
        "stage",
        "images",
        "match",
        "promote",
        "finalize",
    ]
    assert out["stages"]["transform"]["records"] == 2


def test_flow_on_s3_storage(engine: Engine, dmo: int, tmp_path: Path, s3_storage: str) -> None:
    import boto3

    res = run_job(dmo, file=write_csv(tmp_path / "v1.csv", [A, B, C]))
    assert res["counts"]["records_new"] == 3
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_storage,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="dev-trippl-data")["Contents"])
    assert len(keys) == 2
    assert keys[0].startswith("raw/listings/ca/qc/101/") and keys[0].endswith("-" + keys[0].split("-")[-1])
    assert keys[1].startswith("transformed/listings/ca/qc/101/") and keys[1].endswith(".json.gz")
    body = s3.get_object(Bucket="dev-trippl-data", Key=keys[0])["Body"].read()
    assert gzip.decompress(body) == (tmp_path / "v1.csv").read_bytes()
    again = run_job(dmo, file=tmp_path / "v1.csv")
    assert again["counts"]["records_unchanged"] == 3
