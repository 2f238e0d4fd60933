"""The DMO form editor, data-file uploads and the queued-runs dialog of the admin UI, against real
PostgreSQL, through FastAPI's TestClient with Airflow's own read check and one fake SimpleAuthManager user
per role, and the fake Airflow REST server of fake_airflow.py (token, trigger, queued runs, cancel).

The form is read back from the HTML as a browser submits it (`_Form`): every input, checked boxes only,
the selected option of each select; tests change some values and post the rest as rendered.

Covered: a CSV DMO created through the form (every config field has an input); the form of a stored config
posted back unchanged is "unchanged"; YAML export of a form-saved config imports back unchanged and parses
to the same document; a field-mapping row edited, one removed, one added; bad values -> 400 with each
message next to its input and nothing saved; uploads stored under the data folder with a safe name (too
large, wrong extension, wrong content refused, nothing kept); "run now with this file" triggers the DAG
with conf.file; the queued-runs dialog (keep: no cancel; cancel: the runs are cancelled; no API: saved with
a notice); a viewer's POSTs refused with nothing changed."""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
import zipfile
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from admin_helpers import PREFIX
from dmo_helpers import csv_config, q
from fake_airflow import FakeAirflow, use_airflow
from sqlalchemy import Engine

from listings.admin import dmo_form, dmo_uploads
from listings.config.store import apply_config, parse_config

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Lat", "Lng"]
# fmt: off
OLIMPICO = ["a", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101", "45.5235", "-73.6004"]
GERMAIN = ["b", "Hôtel Le Germain", "Hôtel", "2050 rue Mansfield", "Montréal", "H3A 1Y9", "514-555-0102", "45.5020", "-73.5750"]
# fmt: on


def _csv(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    return buf.getvalue().encode()


# ------------------------------------------------------------------------------------------------
# Reading a form as a browser submits it
# ------------------------------------------------------------------------------------------------


class _Form(HTMLParser):
    """The successful controls of one <form> (by id, or the first whose action contains `action`):
    (name, value) pairs in document order, as a browser would post them."""

    def __init__(self, page: str, *, form_id: str | None = None, action: str | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id, self.action = form_id, action
        self.inside = False
        self.done = False
        self.template = 0
        self.disabled = 0  # depth inside a disabled fieldset
        self.pairs: list[tuple[str, str]] = []
        self.found_action: str | None = None
        self._textarea: tuple[str, list[str]] | None = None
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._option: tuple[str | None, bool, list[str]] | None = None
        self.feed(page)
        assert self.found_action is not None, f"no form {form_id or action}"

    def _is_target(self, attrs: dict[str, str | None]) -> bool:
        if self.form_id is not None:
            return attrs.get("id") == self.form_id
        return self.action is not None and self.action in (attrs.get("action") or "")

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        if tag == "form" and not self.inside and not self.done and self._is_target(attrs):
            self.inside, self.found_action = True, html_lib.unescape(attrs.get("action") or "")
            return
        if not self.inside:
            return
        if tag == "template":
            self.template += 1
        if self.template:
            return
        if tag == "fieldset" and "disabled" in attrs:
            self.disabled += 1
        name = attrs.get("name")
        if tag == "input" and name and not self.disabled and "disabled" not in attrs:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.pairs.append((name, attrs.get("value") or "on"))
            elif kind not in ("file", "submit", "button", "image", "reset"):
                self.pairs.append((name, attrs.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea = (name, [])
        elif tag == "select" and name:
            self._select = (name, [])
        elif tag == "option" and self._select is not None:
            self._option = (attrs.get("value"), "selected" in attrs, [])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)
        if self._option is not None:
            self._option[2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if not self.inside:
            return
        if tag == "template":
            self.template -= 1
        elif tag == "fieldset" and self.disabled:
            self.disabled -= 1
        elif tag == "textarea" and self._textarea is not None:
            name, parts = self._textarea
            text = "".join(parts)
            if not self.disabled:
                self.pairs.append((name, text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "option" and self._option is not None and self._select is not None:
            value, selected, text = self._option
            self._select[1].append((value if value is not None else "".join(text).strip(), selected))
            self._option = None
        elif tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [v for v, s in options if s] or [v for v, _ in options[:1]]
            if not self.disabled:
                self.pairs.extend((name, v) for v in chosen[-1:])
            self._select = None
        elif tag == "form":
            self.inside, self.done = False, True

    # -- editing -------------------------------------------------------------------------------------

    def get(self, name: str) -> list[str]:
        return [v for n, v in self.pairs if n == name]

    def set(self, name: str, value: str) -> None:
        assert self.get(name), f"no input {name}"
        self.pairs = [(n, v) for n, v in self.pairs if n != name]
        self.pairs.append((name, value))

    def rows(self, table: str, left: str = "source", right: str = "target") -> list[tuple[str, str]]:
        return list(zip(self.get(f"{table}.{left}"), self.get(f"{table}.{right}"), strict=True))

    def set_rows(
        self, table: str, rows: list[tuple[str, str]], left: str = "source", right: str = "target"
    ) -> None:
        self.pairs = [(n, v) for n, v in self.pairs if n not in (f"{table}.{left}", f"{table}.{right}")]
        for a, b in rows:
            self.pairs += [(f"{table}.{left}", a), (f"{table}.{right}", b)]

    def data(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for n, v in self.pairs:
            out.setdefault(n, []).append(v)
        return out

    def url(self) -> str:
        assert self.found_action is not None
        return self.found_action


def _shown(form: _Form) -> dict[str, Any]:
    """What a posted form says, input by input (a table's rows as a set: the database keeps no key order)."""
    return {
        name: sorted(value) if isinstance(value, list) else value
        for name, value in dmo_form.posted_values(form.data()).items()
    }


def _errors_for(page: str, name: str) -> list[str]:
    return [
        html_lib.unescape(m)
        for m in re.findall(rf'data-error-for="{re.escape(name)}"[^>]*>(.*?)</p>', page, re.S)
    ]


def _problems(page: str) -> list[str]:
    return [html_lib.unescape(m) for m in re.findall(r"<li data-problem>(.*?)</li>", page, re.S)]


def _flash(page: str) -> str:
    found = re.findall(r'<p class="flash flash-(\w+)"[^>]*>(.*?)</p>', page, re.S)
    return " ".join(f"{kind}: {html_lib.unescape(text)}" for kind, text in found)


def _versions(engine: Engine, dmo_id: int) -> list[tuple[int, str | None]]:
    return [
        (r[0], r[1])
        for r in q(
            engine,
            "select v.version, v.changed_by from pipeline.config_versions v join pipeline.configs c"
            " on c.id = v.config_id where c.dmo_id = :d order by v.version",
            d=dmo_id,
        )
    ]


def _stored_document(engine: Engine, dmo_id: int) -> dict[str, Any]:
    ((document,),) = q(engine, "select document from pipeline.configs where dmo_id = :d", d=dmo_id)
    return dict(document)


def _queue(fake: FakeAirflow, run_id: str, when: str) -> None:
    fake.add_run("dmo_301_listings", run_id, "queued", when, conf={"file": "/x.csv"}, user="otto")


@pytest.fixture
def dmo_301(engine: Engine) -> None:
    with engine.begin() as conn:
        apply_config(conn, csv_config(301, HEADER, images={"enabled": False}), "seed.yaml")


# ------------------------------------------------------------------------------------------------
# The form editor
# ------------------------------------------------------------------------------------------------


def test_a_csv_dmo_created_through_the_form_round_trips_through_the_form_and_yaml(
    client_as: Callable[..., Any], engine: Engine
) -> None:
    admin = client_as("admin", "ada")
    page = admin.get(PREFIX + "/dmos/new", params={"mode": "form"})
    assert page.status_code == 200, page.text
    # every config field has an input: DmoConfig's, its sections', every source type's config_params
    for section in dmo_form.form_sections():
        assert f'data-section="{section.key}"' in page.text
        for f in section.fields:
            assert f'name="{(f.row_names or (f.name,))[0]}"' in page.text, f.name
    assert (
        'data-source-type="wordpress" hidden' in page.text
        and 'data-source-type="csv" hidden' not in page.text
    )
    assert "Force an encoding instead of detecting it." in page.text  # a field's description as help
    assert 'data-section="config_params.website"' in page.text and "Selector (CSS, or xpath:...)" in page.text

    form = _Form(page.text, form_id="dmo-form")
    assert form.url() == PREFIX + "/dmos/new?mode=form"
    assert form.get("dmo.id") == ["1"] and form.get("source_type") == ["csv"]
    form.set("dmo.id", "310")
    form.set("dmo.name", "Tourisme Form")
    form.set("dmo.dmo_type", "PARTNER")
    form.set("schedule", "daily")
    form.set("config_params.csv.delimiter", ";")
    form.set("removal.after_days", "30")
    form.set("images.pool_slots", "6")
    form.set("images.formats", "webp")  # one checkbox left ticked
    form.set_rows("category_synonyms", [("Hébergement", "lodging")], "key", "value")
    rows = [(c, t) for c, t in form.rows("field_mappings") if t not in ("website",)]  # remove a row
    form.set_rows("field_mappings", [*rows, ("Description", "description"), ("", "")])
    created = admin.post(form.url(), data=form.data(), follow_redirects=False)
    assert created.status_code == 303, _problems(created.text) or created.text
    assert created.headers["location"] == PREFIX + "/dmos/310"
    shown = admin.get(created.headers["location"])
    assert "DMO 310 (listings) created version 1." in _flash(shown.text)
    assert _versions(engine, 310) == [(1, "ada")]
    stored = _stored_document(engine, 310)
    assert stored["dmo"] == {"id": 310, "name": "Tourisme Form", "dmo_type": "PARTNER", "country": "CA",
                             "state": "QC"}  # fmt: skip
    assert stored["schedule"] == "daily" and stored["removal"] == {
        "after_days": 30,
        "after_runs": None,
        "min_ratio": 0.5,
    }
    assert stored["config_params"]["delimiter"] == ";" and stored["images"]["pool_slots"] == 6
    assert stored["images"]["formats"] == ["webp"] and stored["category_synonyms"] == {
        "Hébergement": "lodging"
    }
    assert (
        stored["field_mappings"]["description"] == "Description" and "website" not in stored["field_mappings"]
    )
    assert stored["field_mappings"]["name"] == "Name"

    # form -> stored -> form shows the same values; posting it back changes nothing
    edit = admin.get(PREFIX + "/dmos/310/edit")
    assert edit.status_code == 200 and "Edit DMO 310 (listings)" in edit.text
    again = _Form(edit.text, form_id="dmo-form")
    assert _shown(again) == _shown(form)
    assert 'name="dmo.id" value="310" readonly' in edit.text
    unchanged = admin.post(again.url(), data=again.data())
    assert "DMO 310 (listings) unchanged: version 1." in _flash(unchanged.text)

    # YAML export of the form-saved config loads back identical
    exported = admin.get(PREFIX + "/dmos/310/config.yaml").text
    assert parse_config(yaml.safe_load(exported)).document() == stored
    imported = admin.post(PREFIX + "/dmos/import", files={"config_file": ("310.yaml", exported.encode())})
    assert "DMO 310 (listings) unchanged: version 1." in _flash(imported.text)
    # and the YAML editor's save of the same document is the same config
    same = admin.post(PREFIX + "/dmos/310/config", data={"yaml": exported})
    assert "unchanged: version 1." in _flash(same.text) and _versions(engine, 310) == [(1, "ada")]

    # a config saved as YAML shows its values in the form
    changed = exported.replace("schedule: daily", "schedule: weekly").replace(
        "pool_slots: 6", "pool_slots: 9"
    )
    admin.post(PREFIX + "/dmos/310/config", data={"yaml": changed})
    yaml_saved = _Form(admin.get(PREFIX + "/dmos/310/edit").text, form_id="dmo-form")
    assert yaml_saved.get("schedule") == ["weekly"] and yaml_saved.get("images.pool_slots") == ["9"]
    assert _versions(engine, 310) == [(1, "ada"), (2, "ada")]


def test_a_mapping_row_is_edited_and_bad_values_are_named_next_to_their_field(
    client_as: Callable[..., Any], engine: Engine, dmo_301: None
) -> None:
    user = client_as("user", "uma")
    form = _Form(user.get(PREFIX + "/dmos/301/edit").text, form_id="dmo-form")
    rows = form.rows("field_mappings")
    assert ("Postal", "zip") in rows and ("Phone", "phone") in rows
    edited = [("Code postal" if t == "zip" else s, t) for s, t in rows if t != "phone"] + [
        ("Site", "website")
    ]
    form.set_rows("field_mappings", edited)
    saved = user.post(form.url(), data=form.data())
    assert "DMO 301 (listings) saved as version 2." in _flash(saved.text)
    mappings = _stored_document(engine, 301)["field_mappings"]
    assert mappings["zip"] == "Code postal" and mappings["website"] == "Site" and "phone" not in mappings
    assert _versions(engine, 301) == [(1, None), (2, "uma")]
    before = _stored_document(engine, 301)

    # several bad values: 400, each message next to its input, the posted values shown again, nothing saved
    form = _Form(user.get(PREFIX + "/dmos/301/edit").text, form_id="dmo-form")
    form.set("dmo.country", "Canada")
    form.set("images.pool_slots", "many")
    form.set("config_params.csv.delimiter", ";;")
    form.set_rows("images.renditions", [("large", "1600"), ("Huge", "99999")], "key", "value")
    form.set_rows("field_mappings", [*form.rows("field_mappings"), ("Région", "region")])
    bad = user.post(form.url(), data=form.data())
    assert bad.status_code == 400
    assert any("two-letter" in m for m in _errors_for(bad.text, "dmo.country"))
    assert any("valid integer" in m for m in _errors_for(bad.text, "images.pool_slots"))
    assert any("at most 1 character" in m for m in _errors_for(bad.text, "config_params.csv.delimiter"))
    assert any("Huge" in m for m in _errors_for(bad.text, "images.renditions"))
    assert any("region" in m for m in _errors_for(bad.text, "field_mappings"))
    problems = _problems(bad.text)
    assert any(p.startswith("dmo.country:") for p in problems)
    assert any(p.startswith("config_params.delimiter:") for p in problems)
    shown = _Form(bad.text, form_id="dmo-form")
    assert shown.get("dmo.country") == ["Canada"] and shown.get("images.pool_slots") == ["many"]
    assert ("Région", "region") in shown.rows("field_mappings")
    assert 'aria-invalid="true"' in bad.text
    assert _stored_document(engine, 301) == before and len(_versions(engine, 301)) == 2

    # `name` unmapped: the model's own check, shown at the mappings table
    form = _Form(user.get(PREFIX + "/dmos/301/edit").text, form_id="dmo-form")
    form.set_rows("field_mappings", [(s, t) for s, t in form.rows("field_mappings") if t != "name"])
    no_name = user.post(form.url(), data=form.data())
    assert no_name.status_code == 400
    assert any("must map `name`" in m for m in _errors_for(no_name.text, "field_mappings"))
    # a row with a source but no target, and the DMO id of another page
    form = _Form(user.get(PREFIX + "/dmos/301/edit").text, form_id="dmo-form")
    form.set_rows("field_mappings", [*form.rows("field_mappings"), ("Orphan", "")])
    form.set("dmo.id", "999")
    orphan = user.post(form.url(), data=form.data())
    assert orphan.status_code == 400
    assert any("Orphan" in m for m in _errors_for(orphan.text, "field_mappings"))
    # the new-DMO form refuses an existing DMO at its id field
    new = _Form(user.get(PREFIX + "/dmos/new", params={"mode": "form"}).text, form_id="dmo-form")
    new.set("dmo.id", "301")
    taken = user.post(new.url(), data=new.data())
    assert taken.status_code == 400
    assert any("already has a listings config" in m for m in _errors_for(taken.text, "dmo.id"))
    assert _stored_document(engine, 301) == before and len(_versions(engine, 301)) == 2

    # "Test this config" from the form: the htmx partial, nothing written
    form = _Form(user.get(PREFIX + "/dmos/301/edit").text, form_id="dmo-form")
    tested = user.post(
        PREFIX + "/dmos/301/preview?mode=form",
        data=form.data(),
        files={
            "file": (
                "t.csv",
                _csv([OLIMPICO], [*HEADER[:5], "Code postal", "Phone", "Lat", "Lng"]),
                "text/csv",
            )
        },
        headers={"HX-Request": "true", "HX-Target": "preview"},
    )
    assert tested.status_code == 200 and tested.text.startswith('<section id="preview"')
    assert re.search(r'data-field="zip" data-status="ok">.*?H2T 2L1', tested.text, re.S)
    form.set("dmo.country", "Canada")
    untested = user.post(PREFIX + "/dmos/301/preview?mode=form", data=form.data())
    assert any(p.startswith("dmo.country:") for p in _problems(untested.text))
    assert q(engine, "select count(*) from pipeline.jobs")[0][0] == 0


# ------------------------------------------------------------------------------------------------
# Uploads
# ------------------------------------------------------------------------------------------------


def _upload_files(home: Path, dmo_id: int) -> list[str]:
    folder = home / "uploads" / f"dmo_{dmo_id}_listings"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_uploads_are_checked_stored_listed_and_run_with_conf_file(
    client_as: Callable[..., Any],
    engine: Engine,
    listings_env: Path,
    dmo_301: None,
    fake_airflow: FakeAirflow,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = client_as("user", "uma")
    page = user.get(PREFIX + "/dmos/301")
    assert 'id="uploads"' in page.text and "No file uploaded yet." in page.text

    stored = user.post(
        PREFIX + "/dmos/301/upload",
        data={"then": "store"},
        files={"file": ("../../Liste été 2024.CSV", _csv([OLIMPICO, GERMAIN]), "text/csv")},
        follow_redirects=False,
    )
    assert stored.status_code == 303 and stored.headers["location"] == PREFIX + "/dmos/301#uploads"
    (name,) = [n for n in _upload_files(listings_env, 301) if not n.startswith(".")]
    assert re.fullmatch(r"\d{8}T\d{12}Z_Liste-ete-2024\.csv", name), name
    path = listings_env / "uploads" / "dmo_301_listings" / name
    assert path.read_bytes() == _csv([OLIMPICO, GERMAIN])
    meta = json.loads((path.parent / f".{name}.json").read_text())
    assert meta["uploaded_by"] == "uma" and meta["original_name"] == "../../Liste été 2024.CSV"
    listed = user.get(PREFIX + "/dmos/301")
    assert f"Stored {name}" in _flash(listed.text)
    row = re.search(rf'<tr data-upload="{re.escape(name)}">.*?</tr>', listed.text, re.S)
    assert row and f'data-size="{path.stat().st_size}"' in row.group(0) and "uma" in row.group(0)

    # refused: too large, wrong extension, wrong content, no file; nothing is kept
    monkeypatch.setattr(dmo_uploads, "MAX_UPLOAD_BYTES", 64)
    big = user.post(
        PREFIX + "/dmos/301/upload", files={"file": ("big.csv", _csv([OLIMPICO] * 5), "text/csv")}
    )
    assert big.status_code == 400 and "larger than 64 bytes" in big.text
    monkeypatch.setattr(dmo_uploads, "MAX_UPLOAD_BYTES", 50_000_000)
    exe = user.post(
        PREFIX + "/dmos/301/upload", files={"file": ("tool.exe", b"MZ\x90\x00", "application/x-msdownload")}
    )
    assert exe.status_code == 400 and "reads .csv, .tsv, .txt files, not .exe" in html_lib.unescape(exe.text)
    png = user.post(
        PREFIX + "/dmos/301/upload", files={"file": ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00", "text/csv")}
    )
    assert png.status_code == 400 and "not a text file" in png.text
    nul = user.post(PREFIX + "/dmos/301/upload", files={"file": ("x.csv", b"a,b\n\x00\x01,2\n", "text/csv")})
    assert nul.status_code == 400 and "NUL bytes" in nul.text
    empty = user.post(PREFIX + "/dmos/301/upload", files={"file": ("e.csv", b"", "text/csv")})
    assert empty.status_code == 400 and "the file is empty" in empty.text
    assert "data-upload-problem" in empty.text
    assert [n for n in _upload_files(listings_env, 301) if not n.startswith(".")] == [name]
    assert not [n for n in _upload_files(listings_env, 301) if n.startswith(".partial")]

    # run now: without an Airflow API, the file is kept and the message says why nothing ran
    unrun = user.post(PREFIX + f"/dmos/301/uploads/{name}/run")
    assert "No Airflow API is configured" in _flash(unrun.text) and fake_airflow.requests == []

    fake_airflow.add_dag("dmo_301_listings")
    use_airflow(monkeypatch, fake_airflow.url)
    ran = user.post(
        PREFIX + "/dmos/301/upload",
        data={"then": "run"},
        files={"file": ("mai.csv", _csv([GERMAIN]), "text/csv")},
    )
    assert ran.status_code == 200
    (second,) = [n for n in _upload_files(listings_env, 301) if n.endswith("_mai.csv")]
    second_path = listings_env / "uploads" / "dmo_301_listings" / second
    assert fake_airflow.triggered == [
        ("dmo_301_listings", {"logical_date": None, "conf": {"file": str(second_path)},
                              "note": f"upload {second} run by uma (listings admin)"}),
    ]  # fmt: skip
    assert f"Stored {second}" in _flash(ran.text) and "Triggered dmo_301_listings (run manual__1)" in _flash(
        ran.text
    )
    again = user.post(PREFIX + f"/dmos/301/uploads/{name}/run")
    assert "Triggered dmo_301_listings (run manual__2) with " + name in _flash(again.text)
    assert fake_airflow.triggered[1][1]["conf"] == {"file": str(path)}
    assert user.post(PREFIX + "/dmos/301/uploads/..%2F..%2Fetc%2Fpasswd/run").status_code == 404
    assert user.post(PREFIX + "/dmos/301/uploads/20240101T000000000000Z_nope.csv/run").status_code == 404
    assert len(fake_airflow.triggered) == 2

    # an xls source takes workbooks only (by content, not by name); a source that is not an upload takes none
    import openpyxl

    with engine.begin() as conn:
        apply_config(conn, parse_config({**csv_config(302, HEADER).document(), "source_type": "xls",
                                         "config_params": {}}))  # fmt: skip
    fake_book = user.post(
        PREFIX + "/dmos/302/upload", files={"file": ("b.xlsx", _csv([OLIMPICO]), "text/csv")}
    )
    assert fake_book.status_code == 400 and "not an Excel workbook" in fake_book.text
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.active.append(OLIMPICO)
    data = io.BytesIO()
    book.save(data)
    real = user.post(
        PREFIX + "/dmos/302/upload", files={"file": ("b.xlsx", data.getvalue(), "application/octet-stream")}
    )
    assert "Stored " in _flash(real.text) and [
        n for n in _upload_files(listings_env, 302) if n.endswith("_b.xlsx")
    ]
    with engine.begin() as conn:
        apply_config(conn, parse_config({**csv_config(303, HEADER).document(), "source_type": "website",
                                         "base_url": "https://example.org/", "config_params": {}}))  # fmt: skip
    assert 'id="uploads"' not in user.get(PREFIX + "/dmos/303").text
    web = user.post(PREFIX + "/dmos/303/upload", files={"file": ("w.csv", _csv([OLIMPICO]), "text/csv")})
    assert web.status_code == 400 and "reads no uploaded file" in web.text


# ------------------------------------------------------------------------------------------------
# The queued-runs dialog
# ------------------------------------------------------------------------------------------------


def test_saving_while_runs_are_queued_asks_to_keep_or_cancel_them(
    client_as: Callable[..., Any],
    engine: Engine,
    dmo_301: None,
    fake_airflow: FakeAirflow,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    op = client_as("op", "otto")
    config = op.get(PREFIX + "/dmos/301/config.yaml").text

    # no Airflow API configured: the save goes on, and says the queued runs could not be checked
    daily = op.post(
        PREFIX + "/dmos/301/config", data={"yaml": config.replace("schedule: manual", "schedule: daily")}
    )
    assert "saved as version 2." in _flash(daily.text) and "could not be checked" in _flash(daily.text)
    assert "LISTINGS_AIRFLOW_API_URL" in _flash(daily.text)

    fake_airflow.add_dag("dmo_301_listings")
    use_airflow(monkeypatch, fake_airflow.url)
    _queue(fake_airflow, "manual__a", "2024-05-01T10:00:00Z")
    _queue(fake_airflow, "scheduled__b", "2024-05-01T11:00:00Z")

    # the form editor: a change -> the dialog, nothing saved yet
    form = _Form(op.get(PREFIX + "/dmos/301/edit").text, form_id="dmo-form")
    form.set("schedule", "weekly")
    asked = op.post(form.url(), data=form.data())
    assert asked.status_code == 409
    assert "<dialog" in asked.text and "data-queued-dialog" in asked.text and "not saved yet" in asked.text
    assert re.findall(r'data-queued-run="([^"]+)"', asked.text) == ["manual__a", "scheduled__b"]
    assert _versions(engine, 301)[-1][0] == 2
    assert _Form(asked.text, form_id="dmo-form").get("schedule") == [
        "weekly"
    ]  # the edit is still on the page
    assert fake_airflow.calls("PATCH") == []

    # "Save and keep them": saved, no cancel request
    dialog = _Form(asked.text, action="/dmos/301/config")
    assert dialog.get("run_id") == ["manual__a", "scheduled__b"]
    kept = op.post(dialog.url(), data={**dialog.data(), "queued_action": "keep"})
    assert "saved as version 3." in _flash(kept.text) and "Kept 2 queued runs of dmo_301_listings." in _flash(
        kept.text
    )
    assert _stored_document(engine, 301)["schedule"] == "weekly" and _versions(engine, 301)[-1] == (3, "otto")
    assert fake_airflow.calls("PATCH") == [] and fake_airflow.cancelled == []

    # the YAML editor: a change -> the dialog; "Save and cancel them": saved, both runs cancelled
    current = op.get(PREFIX + "/dmos/301/config.yaml").text
    asked = op.post(
        PREFIX + "/dmos/301/config", data={"yaml": current.replace("schedule: weekly", "schedule: monthly")}
    )
    assert asked.status_code == 409 and "Save and cancel them" in asked.text
    assert "schedule: monthly" in asked.text and _versions(engine, 301)[-1][0] == 3
    dialog = _Form(asked.text, action="/dmos/301/config")
    cancelled = op.post(dialog.url(), data={**dialog.data(), "queued_action": "cancel"})
    assert "saved as version 4." in _flash(cancelled.text)
    assert "Cancelled 2 queued runs of dmo_301_listings." in _flash(cancelled.text)
    assert [(d, r, b["state"]) for d, r, b in fake_airflow.cancelled] == [
        ("dmo_301_listings", "manual__a", "failed"), ("dmo_301_listings", "scheduled__b", "failed"),
    ]  # fmt: skip
    assert all("otto" in b["note"] for _, _, b in fake_airflow.cancelled)
    assert _stored_document(engine, 301)["schedule"] == "monthly"

    # nothing queued any more, or nothing changed: saved at once, no dialog
    same = op.post(PREFIX + "/dmos/301/config", data={"yaml": op.get(PREFIX + "/dmos/301/config.yaml").text})
    assert "unchanged: version 4." in _flash(same.text)
    _queue(fake_airflow, "manual__c", "2024-05-02T10:00:00Z")
    form = _Form(op.get(PREFIX + "/dmos/301/edit").text, form_id="dmo-form")
    form.set("images.enabled", "true")
    asked = op.post(form.url(), data=form.data())
    assert asked.status_code == 409 and re.findall(r'data-queued-run="([^"]+)"', asked.text) == ["manual__c"]
    # a YAML file imported over the config asks the same
    imported = op.post(
        PREFIX + "/dmos/import",
        files={"config_file": ("301.yaml", current.replace("schedule: weekly", "schedule: daily").encode())},
    )
    assert imported.status_code == 409 and 'action="/listings-admin/dmos/301/config"' in imported.text
    assert _versions(engine, 301)[-1][0] == 4
    fake_airflow.runs.clear()  # nothing queued any more
    free = op.post(
        PREFIX + "/dmos/301/config", data={"yaml": current.replace("schedule: weekly", "schedule: hourly")}
    )
    assert "saved as version 5." in _flash(free.text) and "queued" not in _flash(free.text)


# ------------------------------------------------------------------------------------------------
# Read-only users
# ------------------------------------------------------------------------------------------------


def test_a_viewer_sees_the_form_but_every_post_is_refused(
    client_as: Callable[..., Any],
    engine: Engine,
    listings_env: Path,
    dmo_301: None,
    fake_airflow: FakeAirflow,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_airflow.add_dag("dmo_301_listings")
    use_airflow(monkeypatch, fake_airflow.url)
    _queue(fake_airflow, "manual__a", "2024-05-01T10:00:00Z")
    viewer = client_as("viewer")
    page = viewer.get(PREFIX + "/dmos/301/edit")
    assert page.status_code == 200 and "Read-only" in page.text
    assert '<fieldset class="sections" disabled>' in page.text
    assert "Upload only" in viewer.get(PREFIX + "/dmos/301").text
    form = _Form(page.text, form_id="dmo-form")
    config = viewer.get(PREFIX + "/dmos/301/config.yaml").text
    before = _stored_document(engine, 301)
    for path, kwargs in [
        ("/dmos/301/edit", {"data": {"schedule": "daily", **form.data()}}),
        ("/dmos/new?mode=form", {"data": {"dmo.id": "320", "dmo.name": "X", "source_type": "csv"}}),
        ("/dmos/301/config", {"data": {"yaml": config, "queued_action": "cancel", "run_id": "manual__a"}}),
        ("/dmos/301/upload", {"files": {"file": ("v.csv", _csv([OLIMPICO]), "text/csv")}}),
        ("/dmos/301/uploads/20240101T000000000000Z_v.csv/run", {}),
        ("/dmos/preview?mode=form", {"data": form.data()}),
    ]:
        response = viewer.post(PREFIX + path, **kwargs)
        assert response.status_code == 403, path
        assert "viewer has the viewer role, which may only read" in response.text
    assert _stored_document(engine, 301) == before and _versions(engine, 301) == [(1, None)]
    assert q(engine, "select count(*) from public.dmos")[0][0] == 1
    assert _upload_files(listings_env, 301) == []
    assert fake_airflow.requests == []


def _xlsx_bomb(sheet_bytes: int) -> bytes:
    """A valid workbook whose sheet holds `sheet_bytes` of repetitive rows, streamed into a deflated ZIP
    (about 1 MB on disk per 300 MB; never held in memory decompressed)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(HEADER)
    plain = io.BytesIO()
    book.save(plain)
    src = zipfile.ZipFile(plain)
    row = b'<row><c t="inlineStr"><is><t>1</t></is></c><c t="inlineStr"><is><t>boom</t></is></c></row>'
    block = row * (1_000_000 // len(row))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name in src.namelist():
            if name != "xl/worksheets/sheet1.xml":
                z.writestr(name, src.read(name))
                continue
            with z.open(name, "w", force_zip64=True) as fh:
                fh.write(
                    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                )
                for _ in range(sheet_bytes // len(block) + 1):
                    fh.write(block)
                fh.write(b"</sheetData></worksheet>")
    return out.getvalue()


def test_a_spreadsheet_bomb_is_refused_at_upload_and_in_the_preview(
    client_as: Callable[..., Any], engine: Engine, listings_env: Path
) -> None:
    """An .xlsx of ~1 MB holding 210 MB of sheet XML is neither stored nor read."""
    with engine.begin() as conn:
        apply_config(conn, parse_config({**csv_config(302, HEADER).document(), "source_type": "xls",
                                         "config_params": {}}))  # fmt: skip
    bomb = _xlsx_bomb(210_000_000)
    assert len(bomb) < 2_000_000
    user = client_as("user", "uma")
    refused = user.post(
        PREFIX + "/dmos/302/upload", files={"file": ("fiches.xlsx", bomb, "application/octet-stream")}
    )
    assert refused.status_code == 400
    assert re.search(r"Not stored: the workbook decompresses to 21\d MB; a workbook may hold at most 200 MB",
                     html_lib.unescape(refused.text))  # fmt: skip
    assert _upload_files(listings_env, 302) == []

    config = user.get(PREFIX + "/dmos/302/config.yaml").text
    preview = user.post(
        PREFIX + "/dmos/302/preview",
        data={"yaml": config},
        files={"file": ("fiches.xlsx", bomb, "application/octet-stream")},
        headers={"HX-Request": "true", "HX-Target": "preview"},
    )
    assert preview.status_code == 200
    (problem,) = _problems(preview.text)
    assert re.match(
        r"\(source\): DMO 302: unreadable spreadsheet: the workbook decompresses to 21\d MB", problem
    )
    assert "spreadsheet bomb" in problem
    assert q(engine, "select count(*) from pipeline.jobs") == [(0,)]
