"""`preview`: the first records of a source, mapped field by field, with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from listings.config.preview import preview
from listings.config.store import parse_config
from listings.settings import get_settings

CONFIG = {
    "dmo": {"id": 101, "name": "Visit Example", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
    "source_type": "csv",
    "field_mappings": {
        "source_id": "ID",
        "name": "Name",
        "lat": "Lat",
        "lng": "Lng",
        "phone": "Tel",
        "images": "Photos",
    },
}


@pytest.fixture(autouse=True)
def import_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The previewed files are written under tmp_path: make it an import folder."""
    monkeypatch.setenv("LISTINGS_IMPORT_ROOTS", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_preview_maps_each_field_and_reports_problems(tmp_path: Path) -> None:
    upload = tmp_path / "upload.csv"
    upload.write_text(
        "ID,Name,Lat,Lng,Photos\n"
        "1,  Café  Olimpico ,45.5235,-73.6004,https://img.example.org/a.jpg|javascript:alert(1)\n"
        "2,,45.1,-73.1,\n"
        "3,Bistro,95,-73.2,\n"
        "4,Four,1,1,\n",
        encoding="utf-8",
    )
    result = preview(parse_config(CONFIG), limit=3, file=upload)
    assert [r.row_no for r in result.records] == [1, 2, 3]
    first = {f.field: f for f in result.records[0].fields}
    assert (
        first["name"].raw == "  Café  Olimpico "
        and first["name"].value == "Café Olimpico"
        and first["name"].status == "ok"
    )
    assert first["images"].value == ["https://img.example.org/a.jpg"]  # only http(s) image URLs
    assert first["images"].status == "invalid"
    assert (
        first["phone"].status == "missing" and first["phone"].path == "Tel"
    )  # mapped column not in the file
    assert first["email"].status == "unmapped"
    assert result.records[0].record_hash and result.records[0].provenance["original_id"] == "1"
    assert result.records[1].error and "name" in result.records[1].error
    third = {f.field: f for f in result.records[2].fields}
    assert third["lat"].status == "invalid" and any("invalid_lat" in w for w in result.records[2].warnings)
    assert result.metadata["encoding"] == "utf-8" and result.metadata["mapped_columns_missing"] == ["Tel"]
    assert not list(tmp_path.glob("**/objects"))  # nothing stored
