"""The interface every source connector implements: fetch the raw payload as it came, then parse it into
records with provenance. Connectors are registered in `listings.sources.registry`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from listings.config.models import DmoConfig


@dataclass(frozen=True)
class RawPayload:
    """The bytes exactly as the source gave them, with their provenance."""

    data: bytes
    fmt: str  # json | csv | xls: the raw object's extension
    source_uri: str
    metadata: dict[str, Any] = field(default_factory=dict)  # fetched_at, http status, etag, file name...


@dataclass(frozen=True)
class SourceRecord:
    row_no: int  # position in the payload, 1-based, stable: shown to users and kept as provenance
    values: dict[str, Any]  # the record as the source shaped it; field mappings are paths into it
    provenance: dict[str, Any] = field(
        default_factory=dict
    )  # source_url, original_id, fetched_at, http_status...


@dataclass(frozen=True)
class SourceRecordError:
    row_no: int  # 0 for errors that are not one record's (a page that failed, a malformed response)
    error_type: str
    message: str
    original: dict[str, Any]


@dataclass(frozen=True)
class ParseResult:
    records: list[SourceRecord]
    errors: list[SourceRecordError]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.records) + len(self.errors)


class SourceError(RuntimeError):
    """Nothing usable could be fetched or read (no file, 401/403/404, unreadable format): the job fails."""


@dataclass(frozen=True)
class FetchContext:
    """What a connector needs to fetch one payload."""

    config: DmoConfig
    params: BaseModel  # config_params validated by the connector's params_model
    project_dir: Path  # relative file paths in configs are relative to it
    file: Path | None = None  # an upload given for this run, instead of the configured source
    since: datetime | None = None  # incremental runs: fetch what changed since then (UTC)
    limit: int | None = None  # preview: stop once this many records are fetched


class Source(Protocol):
    source_type: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]
    # canonical field -> path in a source record (dotted, list indexes allowed); a config overrides any
    default_mappings: ClassVar[dict[str, str]]

    def fetch(self, ctx: FetchContext) -> RawPayload: ...

    def parse(self, data: bytes, config: DmoConfig) -> ParseResult: ...
