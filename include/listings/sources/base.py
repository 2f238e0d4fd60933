"""The interface every source connector implements: fetch the raw payload as it came, then parse it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

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
    values: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceRecordError:
    row_no: int
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
    """The whole payload is unusable (no file, unreadable format): the job fails with this message."""


class Source(Protocol):
    source_type: str

    def fetch(self, config: DmoConfig, *, file: Path | None, project_dir: Path) -> RawPayload: ...

    def parse(self, data: bytes, config: DmoConfig) -> ParseResult: ...
