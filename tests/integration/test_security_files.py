"""Files a config or a run may name: only regular files of the import folders (the uploads folder and
LISTINGS_IMPORT_ROOTS), never a file of the server, a secret of the data folder, a device or a FIFO;
checked when a config is saved (CLI, admin UI) and again when a step or a preview reads the file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PREFIX
from click.testing import CliRunner
from dmo_helpers import csv_config, q
from sqlalchemy import Engine, text

from listings.cli import main
from listings.config.store import apply_config, to_yaml
from listings.pipeline import steps
from listings.pipeline.runner import JobFailed, run_job
from listings.settings import get_settings
from listings.sources.files import FileRefused

HEADER = ["ID", "Name", "Address1", "City", "Postal"]
GOOD = "ID,Name,Address1,City,Postal\n1,Café Olimpico,124 Rue Saint-Viateur O,Montréal,H2T 2L1\n"
SECRET = "jwt-secret-value-7f3a9c"


@pytest.fixture
def secrets_of_the_data_folder(listings_env: Path) -> dict[str, Path]:
    """Files like the ones `make demo` keeps in the data folder: Airflow's JWT secret, its passwords file,
    the local PostgreSQL's state (superuser password)."""
    made = {
        "jwt": listings_env / "airflow" / "jwt_secret",
        "passwords": listings_env / "airflow" / "simple_auth_manager_passwords.json",
        "pg_state": listings_env / "pg" / "state.json",
    }
    for path in made.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"name,value\n{SECRET},1\n")
    return made


def hostile_names(home: Path, tmp_path: Path, secrets: dict[str, Path]) -> list[str]:
    uploads = home / "uploads" / "dmo_301_listings"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / "passwd.csv").symlink_to("/etc/passwd")  # a link inside the uploads folder leading out
    os.mkfifo(uploads / "pipe.csv")  # reading it would block a worker forever
    return [
        "/etc/passwd",
        "/proc/self/environ",
        "/dev/zero",
        "../../../../../../etc/passwd",
        str(secrets["jwt"]),
        str(secrets["passwords"]),
        str(secrets["pg_state"]),
        str(uploads / "passwd.csv"),
        str(uploads / "pipe.csv"),
    ]


def _config(file: str) -> Any:
    return csv_config(301, HEADER, config_params={"file": file})


def test_config_apply_refuses_every_file_outside_the_import_folders(
    engine: Engine, listings_env: Path, tmp_path: Path, secrets_of_the_data_folder: dict[str, Path]
) -> None:
    for name in hostile_names(listings_env, tmp_path, secrets_of_the_data_folder):
        path = tmp_path / "hostile.yaml"
        path.write_text(to_yaml(_config(name)))
        res = CliRunner().invoke(main, ["config", "apply", str(path)])
        assert res.exit_code == 1, name
        assert "config_params.file" in res.stderr and "root:" not in res.stderr, name
        assert q(engine, "select count(*) from pipeline.configs")[0][0] == 0, name
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    path = tmp_path / "good.yaml"
    path.write_text(to_yaml(_config(str(good))))
    assert CliRunner().invoke(main, ["config", "apply", str(path)]).exit_code == 0


def test_the_admin_ui_refuses_a_server_file_on_save_and_in_the_preview(
    engine: Engine,
    listings_env: Path,
    tmp_path: Path,
    secrets_of_the_data_folder: dict[str, Path],
    client_as: Callable[..., Any],
) -> None:
    user = client_as("user")
    for name in hostile_names(listings_env, tmp_path, secrets_of_the_data_folder):
        document = to_yaml(_config(name))
        saved = user.post(PREFIX + "/dmos/new", data={"yaml": document})
        assert saved.status_code == 400 and "config_params.file" in saved.text, name
        tested = user.post(PREFIX + "/dmos/preview", data={"yaml": document})
        assert "config_params.file" in tested.text, name
        for page in (saved.text, tested.text):
            assert SECRET not in page and "root:x:0" not in page, name
    assert q(engine, "select count(*) from pipeline.configs")[0][0] == 0


def test_a_stored_config_or_a_run_conf_naming_a_server_file_reads_nothing_and_stores_nothing(
    engine: Engine, listings_env: Path, tmp_path: Path, secrets_of_the_data_folder: dict[str, Path]
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    with engine.begin() as conn:
        apply_config(conn, _config(str(good)))
        # a config saved before the check existed (or written to the database by hand)
        conn.execute(
            text(
                "update pipeline.configs set config_params = jsonb_set(config_params, '{file}', "
                "to_jsonb(cast(:f as text)))"
            ),
            {"f": str(secrets_of_the_data_folder["jwt"])},
        )
    with pytest.raises(JobFailed) as failed:
        run_job(301)
    assert failed.value.step == "extract" and isinstance(failed.value.__cause__, FileRefused)
    assert SECRET not in str(failed.value)
    # a REST trigger's conf names the file: refused in the step too
    job_id = steps.start(301, trigger="api", params={"file": "/proc/self/environ"})
    with pytest.raises(FileRefused, match="outside the import folders"):
        steps.extract(job_id)
    job_id = steps.start(301, trigger="api", params={"file": "/dev/zero"})
    with pytest.raises(FileRefused):
        steps.extract(job_id)
    assert q(engine, "select count(*) from pipeline.job_files")[0][0] == 0  # no raw object of any of them
    objects = listings_env / "objects"
    assert not objects.exists() or not [p for p in objects.rglob("*") if p.is_file()]


def test_size_limit_and_the_operators_own_file(
    engine: Engine, listings_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    with engine.begin() as conn:
        apply_config(conn, _config(str(good)))
    monkeypatch.setenv("LISTINGS_MAX_IMPORT_BYTES", "20")
    get_settings.cache_clear()
    with pytest.raises(JobFailed) as failed:
        run_job(301)
    assert "larger than 20 bytes" in str(failed.value.__cause__)
    monkeypatch.delenv("LISTINGS_MAX_IMPORT_BYTES")
    # `listings run --file` names a file of the machine (the operator is trusted): outside the import
    # folders, it is copied into the uploads folder first, and the job reads the copy
    monkeypatch.setenv("LISTINGS_IMPORT_ROOTS", str(tmp_path / "imports"))
    get_settings.cache_clear()
    res = CliRunner().invoke(main, ["run", "301", "--file", str(good)])
    assert res.exit_code == 0, res.output
    (stored,) = q(engine, "select params->>'file' from pipeline.jobs where status = 'succeeded'")
    copy = Path(stored[0])
    assert copy.parent.parent == listings_env / "uploads" / "cli" and copy.read_text() == GOOD
    assert copy.name == "good.csv"
    assert copy.stat().st_mode & 0o077 == 0


def test_secrets_and_objects_are_not_readable_by_other_accounts(listings_env: Path, tmp_path: Path) -> None:
    from listings.storage import open_store
    from listings_dev.local_airflow import LocalAirflow

    af = LocalAirflow(get_settings(), port=1, demo_logins=False)
    env = af.env()
    assert env["LISTINGS_AIRFLOW_API_PASSWORD"] not in ("", "admin")
    logins = af.logins
    assert logins["admin"] != "admin" and logins == af.logins  # random, made once and kept
    for path in (af.passwords_file, af.home / "jwt_secret", af.home / "fernet_key"):
        assert path.stat().st_mode & 0o077 == 0, path
    assert af.home.stat().st_mode & 0o077 == 0
    assert LocalAirflow(get_settings(), port=1, demo_logins=True).logins == {
        "admin": "admin",
        "viewer": "viewer",
    }
    settings = get_settings()
    assert settings.airflow_api_user is None and settings.airflow_api_password is None
    store = open_store((tmp_path / "objects").as_uri(), "unused")
    store.put("dev-trippl-data/raw/x.csv.gz", b"data")
    assert (tmp_path / "objects" / "dev-trippl-data" / "raw" / "x.csv.gz").stat().st_mode & 0o007 == 0
