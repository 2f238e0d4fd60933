"""Load DMO configs from YAML, validate them, and upsert them into `public.dmos` + `pipeline.configs`.

A config's `version` is bumped only when its content changes; every version is kept in
`pipeline.config_versions`. An invalid file is reported with its path and field, and nothing of it is saved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, Select, func, select
from sqlalchemy.dialects.postgresql import insert

from listings.config.models import DmoConfig, DmoTypeId
from listings.db import tables as t
from listings.sources.files import FileRefused, resolve_import_file


class ConfigError(ValueError):
    """An invalid config file; the message names the file and the offending field(s)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _format_validation(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(document)"
        problems.append(f"{loc}: {err['msg']}")
    return problems


def parse_config(document: Any, source: str = "<config>") -> DmoConfig:
    if not isinstance(document, dict):
        raise ConfigError(source, ["(document): expected a mapping of config fields"])
    try:
        return DmoConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(source, _format_validation(exc)) from None


def load_config_file(path: Path) -> DmoConfig:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"(yaml): {exc}"]) from None
    except OSError as exc:
        raise ConfigError(str(path), [f"(file): {exc.strerror}"]) from None
    return parse_config(document, str(path))


def config_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into their *.yaml / *.yml files, in a stable order."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        else:
            found.append(p)
    return found


def content_hash(config: DmoConfig) -> str:
    return hashlib.sha256(json.dumps(config.document(), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ApplyResult:
    dmo_id: int
    data_domain: str
    action: str  # created | updated | unchanged
    version: int
    source: str


def check_files(config: DmoConfig, source: str = "<config>") -> None:
    """ConfigError when the config names a file its source may not read (`listings.sources.files`): a
    config can never point the pipeline at a file of the server outside the import folders."""
    named = config.config_params.get("file")
    if named:
        try:
            resolve_import_file(str(named), must_exist=False)
        except FileRefused as exc:
            raise ConfigError(source, [f"config_params.file: {exc}"]) from None


def apply_config(
    conn: Connection, config: DmoConfig, source: str = "<config>", changed_by: str | None = None
) -> ApplyResult:
    """Upsert one validated config; its DMO row first. Runs in the caller's transaction. ConfigError, and
    nothing saved, when it names a file it may not read."""
    check_files(config, source)
    dmo = config.dmo
    conn.execute(
        insert(t.dmos)
        .values(
            id=dmo.id,
            name=dmo.name,
            dmo_type_id=dmo.dmo_type.type_id,
            source_type=config.source_type.value,
            country=dmo.country,
            state=dmo.state,
        )
        .on_conflict_do_update(
            index_elements=[t.dmos.c.id],
            set_={
                "name": dmo.name,
                "dmo_type_id": dmo.dmo_type.type_id,
                "source_type": config.source_type.value,
                "country": dmo.country,
                "state": dmo.state,
                "updated_at": func.now(),
            },
        )
    )
    digest = content_hash(config)
    values: dict[str, Any] = {
        "source_type": config.source_type.value,
        "base_url": str(config.base_url) if config.base_url else None,
        "field_mappings": config.field_mappings,
        "config_params": config.config_params,
        "schedule": config.schedule.value,
        "active": config.active,
        "content_hash": digest,
        "source_file": source,
        "document": config.document(),
    }
    existing = conn.execute(
        select(t.configs.c.id, t.configs.c.version, t.configs.c.content_hash)
        .where(t.configs.c.dmo_id == dmo.id, t.configs.c.data_domain == config.data_domain.value)
        .with_for_update()
    ).first()
    if existing is None:
        config_id: int = conn.execute(
            t.configs.insert()
            .values(dmo_id=dmo.id, data_domain=config.data_domain.value, version=1, **values)
            .returning(t.configs.c.id)
        ).scalar_one()
        action, version = "created", 1
    elif existing.content_hash == digest:
        return ApplyResult(dmo.id, config.data_domain.value, "unchanged", existing.version, source)
    else:
        config_id, version, action = existing.id, existing.version + 1, "updated"
        conn.execute(
            t.configs.update()
            .where(t.configs.c.id == config_id)
            .values(version=version, updated_at=func.now(), **values)
        )
    conn.execute(
        t.config_versions.insert().values(
            config_id=config_id, version=version, document=config.document(), changed_by=changed_by
        )
    )
    return ApplyResult(dmo.id, config.data_domain.value, action, version, source)


def apply_paths(
    engine: Engine, paths: Sequence[Path], changed_by: str | None = None
) -> tuple[list[ApplyResult], list[ConfigError]]:
    """Validate and apply every file; each file in its own transaction. Returns results and errors.

    Two files of one apply naming the same DMO and data domain refuse the whole apply (nothing is saved):
    applied one after the other, the second would silently replace the first as its next version."""
    results: list[ApplyResult] = []
    errors: list[ConfigError] = []
    files = _unique_files(config_files(paths))
    if not files:
        errors.append(ConfigError(", ".join(map(str, paths)), ["no .yaml/.yml config files found"]))
    loaded: list[tuple[Path, DmoConfig]] = []
    for path in files:
        try:
            loaded.append((path, load_config_file(path)))
        except ConfigError as exc:
            errors.append(exc)
    clashes = duplicate_configs(loaded)
    if clashes:
        return [], [*clashes, *errors]
    for path, config in loaded:
        try:
            with engine.begin() as conn:
                results.append(apply_config(conn, config, str(path), changed_by))
        except ConfigError as exc:  # a file it may not read (check_files)
            errors.append(exc)
    return results, errors


def _unique_files(files: Sequence[Path]) -> list[Path]:
    """The files once each (a folder and a file in it, or one file named twice, are one file)."""
    seen: set[Path] = set()
    out: list[Path] = []
    for path in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def duplicate_configs(loaded: Sequence[tuple[Path, DmoConfig]]) -> list[ConfigError]:
    """One error per (DMO, data domain) that more than one of the files configures, naming every file."""
    by_key: dict[tuple[int, str], list[Path]] = {}
    for path, config in loaded:
        by_key.setdefault((config.dmo.id, config.data_domain.value), []).append(path)
    return [
        ConfigError(
            ", ".join(map(str, found)),
            [
                f"{len(found)} files configure DMO {dmo_id} ({domain}): {' and '.join(map(str, found))};"
                " keep one of them (nothing was applied)"
            ],
        )
        for (dmo_id, domain), found in by_key.items()
        if len(found) > 1
    ]


@dataclass(frozen=True)
class StoredConfig:
    config_id: int
    version: int
    updated_at: datetime
    config: DmoConfig


def _select_configs() -> Select[Any]:
    c, d = t.configs.c, t.dmos.c
    return (
        select(
            c.id,
            c.version,
            c.updated_at,
            c.dmo_id,
            c.source_type,
            c.data_domain,
            c.schedule,
            c.active,
            c.base_url,
            c.field_mappings,
            c.config_params,
            c.document,
            d.name,
            d.dmo_type_id,
            d.country,
            d.state,
        )
        .select_from(t.configs.join(t.dmos, d.id == c.dmo_id))
        .order_by(c.dmo_id, c.data_domain)
    )


def _stored(row: Any) -> StoredConfig:
    """Rebuild the YAML-shaped config from its database row: the columns, over the stored document (which
    holds the fields without a column of their own, e.g. category_synonyms and removal)."""
    config = DmoConfig.model_validate(
        {
            **(row.document or {}),
            "dmo": {
                "id": row.dmo_id,
                "name": row.name,
                "dmo_type": DmoTypeId(row.dmo_type_id).name,
                "country": row.country,
                "state": row.state,
            },
            "source_type": row.source_type,
            "data_domain": row.data_domain,
            "schedule": row.schedule,
            "active": row.active,
            "base_url": row.base_url,
            "field_mappings": row.field_mappings,
            "config_params": row.config_params,
        }
    )
    return StoredConfig(row.id, row.version, row.updated_at, config)


def list_configs(conn: Connection, *, active_only: bool = False) -> list[StoredConfig]:
    query = _select_configs()
    if active_only:
        query = query.where(t.configs.c.active.is_(True), t.dmos.c.active.is_(True))
    return [_stored(row) for row in conn.execute(query)]


def get_config(conn: Connection, dmo_id: int, data_domain: str = "listings") -> StoredConfig:
    query = _select_configs().where(t.configs.c.dmo_id == dmo_id, t.configs.c.data_domain == data_domain)
    row = conn.execute(query).first()
    if row is None:
        raise LookupError(
            f"no config for DMO {dmo_id} ({data_domain}): apply one with `listings config apply`"
        )
    return _stored(row)


def to_yaml(config: DmoConfig) -> str:
    return yaml.safe_dump(config.document(), sort_keys=False, allow_unicode=True)
