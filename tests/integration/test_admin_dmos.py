"""The DMO pages of the admin UI against real PostgreSQL, through FastAPI's TestClient with
Airflow's own read check and one fake SimpleAuthManager user per role (as test_admin_app.py does).

Covered: the list with configs, last jobs and error rates; a bad YAML edit shows each field's message and
saves nothing; a good edit makes a new version and the history shows both (an old version viewable and
downloadable); deactivate / activate; export -> import round trip; a new DMO from the form; "test this
config" on a CSV upload (records mapped field by field, warnings, nothing written); a viewer refused."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from admin_helpers import PREFIX
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.config.store import apply_config
from listings.pipeline.runner import JobFailed, run_job

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Lat", "Lng"]
# fmt: off
OLIMPICO = ["a", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"]
GERMAIN = ["b", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"]
NO_NAME = ["c", "", "Musée", "1380 rue Sherbrooke O", "Montréal", "H3G 1J5", "514-555-0103", "45.4985", "-73.5794"]
BAD_LAT = ["d", "Château Frontenac", "Hôtel", "1 rue des Carrières", "Québec", "G1R 4P5", "418-555-0104", "north", "-71.2055"]
# fmt: on


def _csv(rows: Sequence[Sequence[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    return buf.getvalue().encode()


@pytest.fixture
def two_dmos(engine: Engine) -> None:
    with engine.begin() as conn:
        apply_config(conn, csv_config(301, HEADER, images={"enabled": False}), "seed.yaml")
        apply_config(conn, csv_config(302, HEADER, images={"enabled": False}, schedule="daily"), "seed.yaml")


def _versions(engine: Engine, dmo_id: int) -> list[Any]:
    return q(
        engine,
        "select v.version, v.changed_by, v.document->>'schedule' from pipeline.config_versions v"
        " join pipeline.configs c on c.id = v.config_id where c.dmo_id = :d order by v.version",
        d=dmo_id,
    )


def _row(html: str, dmo_id: int) -> str:
    found = re.search(rf'<tr data-dmo-id="{dmo_id}".*?</tr>', html, re.S)
    assert found, f"no row for DMO {dmo_id}"
    return found.group(0)


def _problems(html: str) -> list[str]:
    return re.findall(r"<li data-problem>(.*?)</li>", html, re.S)


def test_the_list_shows_every_config_with_its_last_job_and_error_rate(
    client_as: Callable[..., Any], engine: Engine, two_dmos: None, tmp_path: Path
) -> None:
    upload = tmp_path / "301.csv"
    upload.write_bytes(_csv([OLIMPICO, GERMAIN, NO_NAME]))
    done = run_job(301, file=upload)
    empty = tmp_path / "302.csv"
    empty.write_bytes(b"")
    with pytest.raises(JobFailed):
        run_job(302, file=empty)
    ((failed_id,),) = q(engine, "select id from pipeline.jobs where dmo_id = 302")

    page = client_as("viewer").get(PREFIX + "/dmos")
    assert page.status_code == 200
    html = page.text
    assert 'href="/listings-admin/dmos" aria-current="page">DMOs</a>' in html
    first = _row(html, 301)
    assert "DMO 301" in first and "CLIENT" in first and ">csv<" in first and ">manual<" in first
    assert "active" in first and ">v1<" in first
    assert f'data-last-job="{done["job_id"]}">{done["status"]}<' in first
    records_error = done["counts"]["records_error"]
    assert records_error >= 1  # the row without a name
    assert f"({records_error} of 3 records)" in first
    second = _row(html, 302)
    assert ">daily<" in second and f'data-last-job="{failed_id}">failed<' in second
    assert "1 of 1 jobs failed" in second
    assert "read-only" in html and 'href="/listings-admin/dmos/new"' not in html


def test_a_bad_edit_names_each_field_and_saves_nothing_a_good_one_is_a_new_version(
    client_as: Callable[..., Any], engine: Engine, two_dmos: None
) -> None:
    admin = client_as("admin", "ada")
    page = admin.get(PREFIX + "/dmos/301")
    assert page.status_code == 200 and "Edit as YAML" in page.text
    current = yaml.safe_load(admin.get(PREFIX + "/dmos/301/config.yaml").text)
    assert current["dmo"]["id"] == 301 and current["schedule"] == "manual"

    bad = {**current, "schedule": "sometimes", "field_mappings": {**current["field_mappings"], "nom": "Name"}}
    bad["dmo"] = {**current["dmo"], "country": "Canada"}
    response = admin.post(PREFIX + "/dmos/301/config", data={"yaml": yaml.safe_dump(bad)})
    assert response.status_code == 400
    problems = _problems(response.text)
    assert any(p.startswith("schedule:") for p in problems), problems
    assert any(p.startswith("dmo.country:") and "two-letter" in p for p in problems), problems
    assert any(p.startswith("field_mappings:") and "nom" in p for p in problems), problems
    assert "sometimes" in response.text  # the edited YAML is kept in the form
    broken = admin.post(PREFIX + "/dmos/301/config", data={"yaml": "dmo: [unclosed"})
    assert broken.status_code == 400 and _problems(broken.text)[0].startswith("(yaml):")
    other = admin.post(PREFIX + "/dmos/301/config", data={"yaml": yaml.safe_dump({**current, "dmo": {
        **current["dmo"], "id": 999}})})  # fmt: skip
    assert other.status_code == 400 and _problems(other.text)[0].startswith("dmo.id:")
    assert _versions(engine, 301) == [(1, None, "manual")]
    assert q(engine, "select count(*) from public.dmos")[0][0] == 2

    good = {**current, "schedule": "weekly"}
    saved = admin.post(PREFIX + "/dmos/301/config", data={"yaml": yaml.safe_dump(good, sort_keys=False)})
    assert saved.status_code == 200 and "DMO 301 (listings) saved as version 2." in saved.text
    assert _versions(engine, 301) == [(1, None, "manual"), (2, "ada", "weekly")]
    assert q(engine, "select version, schedule from pipeline.configs where dmo_id = 301")[0] == (2, "weekly")
    assert "data-version>v2" in saved.text
    assert 'data-config-version="2"' in saved.text and 'data-config-version="1"' in saved.text
    old = admin.get(PREFIX + "/dmos/301", params={"version": 1}).text
    assert 'data-shown-version="1"' in old and "schedule: manual" in old
    old_file = admin.get(PREFIX + "/dmos/301/config.yaml", params={"version": 1})
    assert 'filename="dmo_301_listings_v1.yaml"' in old_file.headers["content-disposition"]
    assert yaml.safe_load(old_file.text)["schedule"] == "manual"
    assert admin.get(PREFIX + "/dmos/301", params={"version": 7}).status_code == 404
    assert admin.get(PREFIX + "/dmos/999").status_code == 404


def test_deactivate_and_activate(client_as: Callable[..., Any], engine: Engine, two_dmos: None) -> None:
    admin = client_as("op")
    page = admin.post(PREFIX + "/dmos/302/deactivate")
    assert page.status_code == 200 and "DMO 302 (listings) is now inactive (version 2)." in page.text
    assert q(engine, "select active, version from pipeline.configs where dmo_id = 302")[0] == (False, 2)
    assert "inactive" in _row(admin.get(PREFIX + "/dmos").text, 302)
    again = admin.post(PREFIX + "/dmos/302/deactivate")
    assert "was already inactive" in again.text
    admin.post(PREFIX + "/dmos/302/activate")
    assert q(engine, "select active, version from pipeline.configs where dmo_id = 302")[0] == (True, 3)
    assert admin.post(PREFIX + "/dmos/302/explode").status_code == 404


def test_export_round_trips_through_import_and_a_new_dmo_comes_from_the_form(
    client_as: Callable[..., Any], engine: Engine, two_dmos: None
) -> None:
    admin = client_as("user")
    exported = admin.get(PREFIX + "/dmos/301/config.yaml")
    assert exported.headers["content-type"].startswith("application/yaml")
    assert 'filename="dmo_301_listings.yaml"' in exported.headers["content-disposition"]
    same = admin.post(PREFIX + "/dmos/import", files={"config_file": ("dmo_301.yaml", exported.content)})
    assert "DMO 301 (listings) unchanged: version 1." in same.text
    assert _versions(engine, 301) == [(1, None, "manual")]

    copy = exported.text.replace("id: 301", "id: 303").replace("name: DMO 301", "name: DMO 303")
    created = admin.post(PREFIX + "/dmos/import", files={"config_file": ("303.yaml", copy.encode())})
    assert "DMO 303 (listings) created version 1." in created.text
    assert admin.get(PREFIX + "/dmos/303/config.yaml").text == copy
    assert q(engine, "select source_file from pipeline.configs where dmo_id = 303")[0][0] == "upload 303.yaml"
    refused = admin.post(PREFIX + "/dmos/import", files={"config_file": ("x.yaml", b"dmo: 1\n")})
    assert refused.status_code == 400 and "dmo:" in _problems(refused.text)[0]

    form = admin.get(PREFIX + "/dmos/new")
    assert form.status_code == 200 and "id: 304" in form.text and "source_type: csv" in form.text
    template = re.search(r"<textarea[^>]*>(.*?)</textarea>", form.text, re.S)
    assert template
    import html as html_lib

    new_yaml = html_lib.unescape(template.group(1))
    made = admin.post(PREFIX + "/dmos/new", data={"yaml": new_yaml})
    assert "DMO 304 (listings) created version 1." in made.text
    twice = admin.post(PREFIX + "/dmos/new", data={"yaml": new_yaml})
    assert twice.status_code == 400 and "already has a listings config" in twice.text
    assert q(engine, "select id, name from public.dmos where id = 304") == [(304, "New DMO")]


def test_test_this_config_maps_the_first_records_of_an_upload_and_writes_nothing(
    client_as: Callable[..., Any], engine: Engine, two_dmos: None
) -> None:
    admin = client_as("admin")
    page = admin.get(PREFIX + "/dmos/301/preview")
    assert page.status_code == 200 and "Test this config" in page.text
    config = admin.get(PREFIX + "/dmos/301/config.yaml").text
    upload = ("listings.csv", _csv([OLIMPICO, NO_NAME, BAD_LAT]), "text/csv")
    response = admin.post(
        PREFIX + "/dmos/301/preview",
        data={"yaml": config},
        files={"file": upload},
        headers={"HX-Request": "true", "HX-Target": "preview"},
    )
    assert response.status_code == 200
    html = response.text
    assert html.startswith('<section id="preview"') and "<html" not in html  # the htmx partial
    assert "the first 3 records (csv)" in html
    rows = re.findall(r'<article class="preview-record" data-row="(\d+)">(.*?)</article>', html, re.S)
    assert len(rows) == 3
    first = rows[0][1]
    assert re.search(r'data-field="name" data-status="ok">.*?Café Olimpico', first, re.S)
    assert re.search(r'data-field="zip" data-status="ok">\s*<td>zip</td>\s*<td><code>Postal</code>', first)
    assert "data-record-error" in rows[1][1]  # no name: the record is rejected, with the reason
    assert 'data-field="lat" data-status="invalid"' in rows[2][1] and "data-warning" in rows[2][1]
    assert "Nothing was written." in html

    # the new-DMO form's Test button, without htmx: a whole page; a bad config shows its field message
    unsaved = admin.post(PREFIX + "/dmos/preview", data={"yaml": config.replace("id: 301", "id: 399")},
                         files={"file": upload})  # fmt: skip
    assert unsaved.status_code == 200 and "<html" in unsaved.text and 'data-row="1"' in unsaved.text
    bad = admin.post(
        PREFIX + "/dmos/preview", data={"yaml": config.replace("source_type: csv", "source_type: fax")}
    )
    assert _problems(bad.text)[0].startswith("source_type:")
    no_file = admin.post(PREFIX + "/dmos/preview", data={"yaml": config})
    assert _problems(no_file.text)[0].startswith("(source): DMO 301: no CSV file given")
    # a page reads no file of the server outside the import folders
    outside = yaml.safe_load(config)
    outside["config_params"]["file"] = "/etc/passwd"
    refused = admin.post(PREFIX + "/dmos/preview", data={"yaml": yaml.safe_dump(outside)})
    assert "root:x:0" not in refused.text
    assert _problems(refused.text)[0].startswith("config_params.file: file &#39;/etc/passwd&#39; is outside")
    counts = q(engine, "select (select count(*) from pipeline.jobs), (select count(*) from public.listing_info),"
               " (select count(*) from pipeline.configs), (select count(*) from pipeline.config_versions)")  # fmt: skip
    assert counts == [(0, 0, 2, 2)]


def test_a_viewer_reads_but_every_change_is_refused(
    client_as: Callable[..., Any], engine: Engine, two_dmos: None
) -> None:
    viewer = client_as("viewer")
    page = viewer.get(PREFIX + "/dmos/301")
    assert page.status_code == 200 and "Read-only" in page.text and "disabled" in page.text
    config = viewer.get(PREFIX + "/dmos/301/config.yaml").text
    changed = config.replace("schedule: manual", "schedule: daily")
    before = q(engine, "select dmo_id, version, active, schedule from pipeline.configs order by dmo_id")
    for path, kwargs in [
        ("/dmos/301/config", {"data": {"yaml": changed}}),
        ("/dmos/301/deactivate", {}),
        ("/dmos/new", {"data": {"yaml": changed.replace("id: 301", "id: 305")}}),
        ("/dmos/import", {"files": {"config_file": ("c.yaml", changed.encode())}}),
        ("/dmos/301/preview", {"data": {"yaml": config}}),
    ]:
        response = viewer.post(PREFIX + path, **kwargs)
        assert response.status_code == 403, path
        assert "viewer has the viewer role, which may only read" in response.text
    assert (
        q(engine, "select dmo_id, version, active, schedule from pipeline.configs order by dmo_id") == before
    )
    assert q(engine, "select count(*) from pipeline.config_versions")[0][0] == 2
