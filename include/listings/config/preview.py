""" "Test this config": fetch and map the first N records of a source without writing anything.

Returns, per record, every canonical field with the source path it came from, the raw value, the cleaned
value and a status, plus the record's warnings and errors. The admin UI and `listings preview` show it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from listings.config.models import DmoConfig
from listings.fields import SCALAR_FIELDS
from listings.settings import get_settings
from listings.sources.base import FetchContext
from listings.sources.registry import get_source
from listings.transform.mapping import MISSING, resolve_path
from listings.transform.records import CanonicalRecord, RecordError, build_record


@dataclass
class FieldPreview:
    field: str
    path: str | None
    raw: Any
    value: Any
    status: str  # ok | empty | missing (path not in the record) | unmapped | invalid


@dataclass
class RecordPreview:
    row_no: int
    provenance: dict[str, Any]
    fields: list[FieldPreview]
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    record_hash: str | None = None


@dataclass
class Preview:
    source_type: str
    records: list[RecordPreview]
    errors: list[dict[str, Any]]  # payload-level errors: pages that failed, malformed responses, bad rows
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _short(value: Any, limit: int = 300) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    return value


def preview(config: DmoConfig, *, limit: int = 10, file: Path | None = None) -> Preview:
    source = get_source(config.source_type.value)
    ctx = FetchContext(
        config=config, params=config.params(), project_dir=get_settings().project_dir, file=file, limit=limit
    )
    payload = source.fetch(ctx)
    parsed = source.parse(payload.data, config)
    mappings = config.mappings()
    separator = str(config.config_params.get("image_separator", "|"))
    out: list[RecordPreview] = []
    for rec in parsed.records[:limit]:
        fields: list[FieldPreview] = []
        built: CanonicalRecord | None
        error: str | None = None
        try:
            built = build_record(
                rec.row_no, rec.values, mappings, country=config.dmo.country, state=config.dmo.state,
                image_separator=separator, provenance=rec.provenance,
            )  # fmt: skip
        except RecordError as exc:
            built, error = None, str(exc)
        for name in (*SCALAR_FIELDS, "images"):
            path = mappings.get(name)
            raw = resolve_path(rec.values, path) if path else MISSING
            value = (built.images if name == "images" else built.values.get(name)) if built else None
            if path is None:
                status = "unmapped"
            elif raw is MISSING:
                status = "missing"
            elif built is not None and any(f.startswith(_invalid_flags(name)) for f in built.flags):
                status = "invalid"
            elif value in (None, []):
                status = "empty"
            else:
                status = "ok"
            fields.append(FieldPreview(name, path, _short(raw), value, status))
        out.append(
            RecordPreview(
                row_no=rec.row_no,
                provenance=rec.provenance,
                fields=fields,
                warnings=built.flags if built else [],
                error=error,
                record_hash=built.record_hash if built else None,
            )
        )
    errors = [asdict(e) for e in parsed.errors]
    return Preview(config.source_type.value, out, errors, {**payload.metadata, **parsed.metadata})


def _invalid_flags(name: str) -> tuple[str, ...]:
    """The flags that say a field's value was unusable: `invalid_phone: ...`, `field_too_long: phone ...`,
    `invalid_image_url: ...` for images."""
    return (
        f"invalid_{name}",
        f"field_too_long: {name} ",
        *(("invalid_image_url",) if name == "images" else ()),
    )
