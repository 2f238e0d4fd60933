"""Source connectors: one module per source type, each fetching a raw payload and parsing it into records."""

from __future__ import annotations

from listings.sources.base import ParseResult, RawPayload, Source, SourceRecord, SourceRecordError
from listings.sources.csv_source import CsvSource

SOURCES: dict[str, Source] = {"csv": CsvSource()}


def get_source(source_type: str) -> Source:
    try:
        return SOURCES[source_type]
    except KeyError:
        raise NotImplementedError(
            f"source type {source_type!r} has no connector yet (available: {', '.join(sorted(SOURCES))})"
        ) from None


__all__ = [
    "SOURCES",
    "ParseResult",
    "RawPayload",
    "Source",
    "SourceRecord",
    "SourceRecordError",
    "get_source",
]
