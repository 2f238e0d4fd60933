"""A text value: OSM syntax when the reference evaluator accepts it, else prose, segment by segment."""

from __future__ import annotations

import re
from typing import Final

from listings.transform.hours.model import MAX_TEXT, Builder
from listings.transform.hours.natural import parse_segment
from listings.transform.hours.osm import parse_osm
from listings.transform.hours.text import word_set

# Segments are read independently: dates said in one apply to it alone.
_SEGMENT_SPLIT = re.compile(r"[;\n\r]|\|+|<br\s*/?>|</?(?:p|li|div)\s*>", re.IGNORECASE)
_MAX_SKIPPED: Final = 10
# Values that mean "nothing to say".
PLACEHOLDERS: Final = frozenset(
    {"", *word_set("- -- n/a na n.a. none null nil aucun aucune s/o n/d nd tbd ? unknown inconnu nan")}
)


def parse_text(text: str, builder: Builder, flags: set[str]) -> None:
    if len(text) > MAX_TEXT:
        flags.add("too_long")
        text = text[:MAX_TEXT]
    builder.said = set()
    if parse_osm(text.strip(), builder, flags):
        return
    skipped: list[str] = []
    for segment in _SEGMENT_SPLIT.split(text):
        if segment.strip():
            parse_segment(segment, builder, flags, skipped)
    for fragment in skipped[:_MAX_SKIPPED]:  # noise would drown the flags; the text keeps it all
        flags.add(f"skipped:{fragment[:80]}")
