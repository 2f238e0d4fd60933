"""`listings config apply/list/export` against PostgreSQL: upsert, versioning, all-or-nothing per file."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, text

from listings.cli import main

CONFIG = """\
dmo: {id: 101, name: Visit Example, dmo_type: SCRAPED, country: CA, state: QC}
source_type: csv
data_domain: listings
schedule: manual
base_url: null
field_mappings: {name: Name, address1: Address1, city: City, zip: Postal, phone: Phone}
config_params: {}
"""


def _apply(*paths: Path) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, ["config", "apply", *map(str, paths)])
    return res.exit_code, res.stdout, res.stderr


def test_apply_creates_then_only_bumps_version_on_change(engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "visit.yaml"
    f.write_text(CONFIG)
    code, out, _ = _apply(f)
    assert code == 0 and "created   dmo 101 listings v1" in out
    code, out, _ = _apply(f)
    assert code == 0 and "unchanged dmo 101 listings v1" in out

    f.write_text(CONFIG.replace("schedule: manual", "schedule: daily").replace("Visit Example", "Visit Ex."))
    code, out, _ = _apply(f)
    assert code == 0 and "updated   dmo 101 listings v2" in out

    with engine.connect() as conn:
        dmo = conn.execute(
            text("select name, dmo_type_id, source_type, country, state from public.dmos")
        ).one()
        assert tuple(dmo) == ("Visit Ex.", 1, "csv", "CA", "QC")
        cfg = conn.execute(text("select version, schedule, field_mappings from pipeline.configs")).one()
        assert cfg.version == 2 and cfg.schedule == "daily" and cfg.field_mappings["zip"] == "Postal"
        versions = conn.execute(
            text("select version, document->>'schedule' from pipeline.config_versions order by version")
        ).all()
        assert [tuple(v) for v in versions] == [(1, "manual"), (2, "daily")]


def test_invalid_file_saves_nothing_and_names_file_and_field(engine: Engine, tmp_path: Path) -> None:
    good = tmp_path / "a-good.yaml"
    good.write_text(CONFIG)
    bad = tmp_path / "b-bad.yaml"
    bad.write_text(
        CONFIG.replace("id: 101", "id: 102").replace(
            "field_mappings: {name: Name", "field_mappings: {nom: Name"
        )
    )
    code, out, err = _apply(tmp_path)  # a folder: both files
    assert code == 1
    assert "created   dmo 101" in out
    assert "b-bad.yaml" in err and "field_mappings" in err and "nom" in err
    with engine.connect() as conn:
        assert conn.execute(text("select id from public.dmos order by id")).scalars().all() == [101]
        assert conn.execute(text("select count(*) from pipeline.configs")).scalar() == 1


def test_two_files_naming_one_dmo_refuse_the_whole_apply(engine: Engine, tmp_path: Path) -> None:
    """Two files of one apply for the same (dmo.id, data_domain): the second would silently become v2.
    The whole apply is refused, naming both files, and nothing is saved (not even the other DMOs)."""
    folder = tmp_path / "dmos"
    folder.mkdir()
    (folder / "a-visit.yaml").write_text(CONFIG)
    (folder / "b-visit-copy.yaml").write_text(CONFIG.replace("schedule: manual", "schedule: daily"))
    (folder / "c-other.yaml").write_text(CONFIG.replace("id: 101", "id: 102"))
    code, out, err = _apply(folder)
    assert code == 1 and out == ""
    assert "a-visit.yaml" in err and "b-visit-copy.yaml" in err and "DMO 101" in err
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from public.dmos")).scalar() == 0
        assert conn.execute(text("select count(*) from pipeline.configs")).scalar() == 0

    # the same in another domain is another config; the same file named twice is one file
    (folder / "b-visit-copy.yaml").write_text(CONFIG.replace("data_domain: listings", "data_domain: events"))
    code, out, err = _apply(folder, folder / "a-visit.yaml")
    assert code == 0, err
    assert "created   dmo 101 listings v1" in out and "created   dmo 101 events v1" in out
    assert "created   dmo 102 listings v1" in out and out.count("dmo 101 listings") == 1

    # through the library call too: every file's result or nothing
    from listings.config.store import apply_paths

    (folder / "d-again.yaml").write_text(CONFIG.replace("Visit Example", "Visit Again"))
    results, errors = apply_paths(engine, [folder])
    assert results == [] and len(errors) == 1
    assert "a-visit.yaml" in str(errors[0]) and "d-again.yaml" in str(errors[0])
    with engine.connect() as conn:
        assert conn.execute(text("select name from public.dmos where id = 101")).scalar() == "Visit Example"
        assert conn.execute(text("select max(version) from pipeline.configs")).scalar() == 1


def test_list_and_export_round_trip(engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "visit.yaml"
    f.write_text(CONFIG)
    assert _apply(f)[0] == 0
    runner = CliRunner()
    listing = runner.invoke(main, ["config", "list"]).stdout
    assert "dmo_101_listings" in listing and "Visit Example" in listing
    exported = yaml.safe_load(runner.invoke(main, ["config", "export", "101"]).stdout)
    original = yaml.safe_load(CONFIG)
    assert exported["dmo"] == original["dmo"]
    assert exported["field_mappings"] == original["field_mappings"]
    # re-applying the export is not a change
    f2 = tmp_path / "exported.yaml"
    f2.write_text(yaml.safe_dump(exported))
    assert "unchanged dmo 101" in _apply(f2)[1]


def test_every_config_field_reaches_the_runs(engine: Engine, tmp_path: Path) -> None:
    """Fields without a column of their own (category synonyms, removal) survive apply -> store -> job."""
    from listings.config.store import get_config
    from listings.pipeline import jobs, steps

    f = tmp_path / "visit.yaml"
    f.write_text(CONFIG + "category_synonyms: {Cabane: lodging}\nremoval: {after_days: 30}\n")
    assert _apply(f)[0] == 0
    with engine.connect() as conn:
        stored = get_config(conn, 101).config
    assert stored.category_synonyms == {"Cabane": "lodging"} and stored.removal.after_days == 30
    job_id = steps.start(101)
    with engine.connect() as conn:
        job = jobs.load_job(conn, job_id)
    assert job.config.category_synonyms == {"Cabane": "lodging"} and job.config.removal.after_days == 30
    exported = yaml.safe_load(CliRunner().invoke(main, ["config", "export", "101"]).stdout)
    assert exported["removal"] == {"after_days": 30, "after_runs": None, "min_ratio": 0.5}
