"""The bad-input corpus: hostile or careless files and config snippets, each run after a good
import of the same DMO (whose config removes what a full snapshot no longer sends). Every case asserts
the job's status, the error stored for it, and that nothing of the earlier catalogue was lost.

A new bad input found in the field becomes one more case here, with its expectation, before its fix."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.config.store import ConfigError, apply_config, parse_config
from listings.pipeline.runner import JobFailed, run_job

DMO = 501
HEADER = ["ID", "Name", "Address1", "City", "Postal", "Description", "Images", "Lat", "Lng"]
FIRST = ["Café", "Bistro", "Hôtel", "Musée", "Galerie"]
SECOND = ["Aurore", "Boréal", "Cartier", "Dufferin"]
BASELINE = [
    [f"B{n:02}", f"{a} {b}", f"{100 + n} rue {b}", "Montréal", f"H2T {n % 10}L{n % 7}", "", "",
     f"{45.30 + 0.05 * n:.4f}", f"{-73.90 + 0.04 * n:.4f}"]
    for n, (a, b) in enumerate(((a, b) for a in FIRST for b in SECOND), start=1)
]  # fmt: skip
RNG_SEED = 1313


def row(n: int, **changes: str) -> list[str]:
    out = list(BASELINE[n])
    for column, value in changes.items():
        out[HEADER.index(column)] = value
    return out


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([header, *rows])
    return buf.getvalue().encode("utf-8")


def xlsx_bytes(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for values in [HEADER, *rows]:
        sheet.append(values)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def xlsx_with(rows: list[list[str]], placeholder: str, value: str) -> bytes:
    """A workbook with `value` in place of `placeholder` in its XML (spreadsheet programs write cells
    longer than openpyxl's 32,767-character cap)."""
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes(rows)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        for info in source.infolist():
            book.writestr(info, source.read(info).replace(placeholder.encode(), value.encode()))
    return out.getvalue()


def random_text(size: int) -> bytes:
    rng = random.Random(RNG_SEED)
    alphabet = "abcdefghijklmnopqrstuvwxyz ,;\n\t\"'0123456789éà"
    return "".join(rng.choice(alphabet) for _ in range(size)).encode("utf-8")


def incompressible(length: int) -> str:
    rng = random.Random(RNG_SEED)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzéèàôç ") for _ in range(length))


def xlsx_bomb() -> bytes:
    """A workbook of about half a megabyte whose sheet XML inflates to hundreds of megabytes."""
    good = zipfile.ZipFile(io.BytesIO(xlsx_bytes(BASELINE)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in good.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                with bomb.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
                    part.write(
                        b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                        b'spreadsheetml/2006/main"><sheetData>'
                    )
                    cells = b'<row><c t="inlineStr"><is><t>' + b"A" * 1000 + b"</t></is></c></row>"
                    for _ in range(400_000):  # 400 MB of rows
                        part.write(cells)
                    part.write(b"</sheetData></worksheet>")
            else:
                bomb.writestr(info, good.read(info))
    return out.getvalue()


@dataclass(frozen=True)
class Case:
    id: str
    defect: str  # which known defect it reproduces (a number; the cases of one defect share it)
    status: str  # the bad run's job status
    error: str  # in the job's error summary or one of its job_errors (type or message)
    payload: Callable[[], bytes] | None = None
    source_type: str = "csv"
    config: dict[str, Any] = field(default_factory=dict)  # a config snippet instead of a file
    refused_on_save: bool = False  # the config is refused when saved: no job at all


CASES = [
    Case("random-text-50kb", "4", "failed", "Name", lambda: random_text(50_000)),
    Case("renamed-header", "4", "failed", "Name",
         lambda: csv_bytes(BASELINE, ["ID", "Nom", *HEADER[2:]])),
    Case("header-only", "4", "partial", "removal_held", lambda: csv_bytes([])),
    Case("forty-percent-of-the-records", "4", "partial", "removal_held", lambda: csv_bytes(BASELINE[:8])),
    Case("name-of-4000-characters", "5", "partial", "field_too_long",
         lambda: csv_bytes([*BASELINE, row(0, ID="X1", Name=incompressible(4000))])),
    Case("spreadsheet-cell-of-2mb", "5", "partial", "field_too_long",
         lambda: xlsx_with([*BASELINE, row(0, ID="X1", Name="HUGE")], "HUGE", incompressible(2_000_000)),
         source_type="xls"),
    Case("nul-after-64kb-in-a-rejected-row", "8", "partial", "field_too_long",
         lambda: csv_bytes([*BASELINE, row(0, ID="X1", Name=incompressible(400),
                                           Description="d" * 70_000 + "\x00 tail")])),
    Case("unquoted-field-of-200kb", "9", "succeeded", "",
         lambda: csv_bytes(BASELINE).replace(b",,,", b"," + b"x" * 200_000 + b",,", 1)),
    Case("quoted-multiline-field-of-300kb", "9", "succeeded", "",
         lambda: csv_bytes([row(0, Description="line\n" * 60_000), *BASELINE[1:]])),
    Case("javascript-image-url", "10", "succeeded", "",
         lambda: csv_bytes([row(0, Images="javascript:alert(1)|data:image/png;base64,AA|file:///etc/passwd"),
                            *BASELINE[1:]])),
    Case("xlsx-decompression-bomb", "7", "failed", "decompress", xlsx_bomb, source_type="xls"),
    Case("config-naming-etc-passwd", "1", "", "outside the import folders",
         config={"config_params": {"file": "/etc/passwd"}}, refused_on_save=True),
    Case("config-naming-proc-environ", "1", "", "outside the import folders",
         config={"config_params": {"file": "/proc/self/environ"}}, refused_on_save=True),
    Case("config-naming-a-device", "1", "", "outside the import folders",
         config={"config_params": {"file": "/dev/zero"}}, refused_on_save=True),
]  # fmt: skip


def config(source_type: str, **extra: Any) -> Any:
    base = csv_config(DMO, HEADER, removal={"after_runs": 1}, images={"enabled": False})
    document = base.document()
    document["source_type"] = source_type
    document["config_params"] = {}
    for key, value in extra.items():
        document[key] = {**document.get(key, {}), **value} if isinstance(value, dict) else value
    return parse_config(document)


def catalogue(engine: Engine) -> list[tuple[str, str, bool, str]]:
    return [
        tuple(r)
        for r in q(
            engine,
            "select external_source_id, name, info_visible, info_status from public.listing_info "
            "where external_source_id like 'B%' order by 1",
        )
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_input_is_stored_as_an_error_and_loses_nothing(
    case: Case, engine: Engine, tmp_path: Path
) -> None:
    suffix = {"csv": "csv", "xls": "xlsx"}[case.source_type]
    with engine.begin() as conn:
        apply_config(conn, config(case.source_type))
    good = tmp_path / f"good.{suffix}"
    good.write_bytes(csv_bytes(BASELINE) if case.source_type == "csv" else xlsx_bytes(BASELINE))
    first = run_job(DMO, file=good)
    assert first["status"] == "succeeded" and first["counts"]["records_new"] == len(BASELINE)
    before = catalogue(engine)
    assert len(before) == len(BASELINE) and all(visible for _, _, visible, _ in before)

    if case.refused_on_save:
        with pytest.raises(ConfigError) as refused, engine.begin() as conn:
            apply_config(conn, config(case.source_type, **case.config))
        assert case.error in str(refused.value) and "config_params.file" in str(refused.value)
        assert run_job(DMO, file=good)["status"] == "succeeded"  # the stored config still works
        assert catalogue(engine) == before
        return

    assert case.payload is not None
    bad = tmp_path / f"bad.{suffix}"
    bad.write_bytes(case.payload())
    try:
        status = run_job(DMO, file=bad)["status"]
    except JobFailed:
        status = "failed"
    assert status == case.status
    (job_id, summary) = q(engine, "select id, error_summary from pipeline.jobs order by id desc limit 1")[0]
    stored = [
        f"{e.error_type} {e.error_message}"
        for e in q(
            engine, "select error_type, error_message from pipeline.job_errors where job_id = :j", j=job_id
        )
    ]
    if case.error:
        assert any(case.error in text for text in [summary or "", *stored]), (summary, stored)
    # nothing of the earlier catalogue was lost: every listing_info of the good import is still shown
    after = catalogue(engine)
    assert [(i, visible, status) for i, _, visible, status in after] == [
        (i, visible, status) for i, _, visible, status in before
    ]
    images = [u for r in q(engine, "select image, source_url from public.listing_images") for u in r if u]
    assert not [u for u in images if not u.startswith(("http://", "https://"))]
