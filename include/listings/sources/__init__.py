"""Source connectors: one module per source type, each fetching a raw payload and parsing it into records."""

from listings.sources.base import (
    FetchContext,
    ParseResult,
    RawPayload,
    Source,
    SourceError,
    SourceRecord,
    SourceRecordError,
)
from listings.sources.registry import CONNECTORS, get_source

__all__ = [
    "CONNECTORS",
    "FetchContext",
    "ParseResult",
    "RawPayload",
    "Source",
    "SourceError",
    "SourceRecord",
    "SourceRecordError",
    "get_source",
]
