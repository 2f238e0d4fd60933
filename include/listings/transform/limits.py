"""The length limits of canonical text fields: one table, used by transform (`records.build_record`) and by
the manual edits' validation (`listings.catalogue.edits`).

Limits are in characters, after cleaning (NFC, whitespace collapsed). What happens to a longer value in an
import depends on the field:

- `reject`: the record becomes a `field_too_long` error in `pipeline.job_errors`, naming the field, its
  source column and its length. For the fields that identify a place (source id, name, address, city,
  postal code: the record hash and matching use them), where a cut or dropped value would make a
  different place. Most of them are also btree-indexed in `public`, and PostgreSQL refuses an index
  entry over 2,704 bytes ("index row size ... exceeds btree maximum"), failing the whole promotion:
  every indexed field's limit × 4 (the longest UTF-8 character) stays under that.
- `drop`: the value is left out and the record flagged `field_too_long: ...`. For optional values that a
  value of that length cannot be (a phone number, an e-mail address, a URL, hours of opening) or that
  have a fallback (the state: the DMO's).
- `truncate`: the value is cut to the limit at a word boundary, ending with "…", and the record flagged
  `field_truncated: ...`. For free text where the beginning is still right: the description (cut once
  its HTML is reduced to text, in `records.enrich`; a value over `PRECUT_FACTOR` times the limit is cut to
  that first, so that a 20 MB cell costs no more than a long description).

A manual edit refuses any over-long value (the admin sees the limit and shortens it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OnExcess = Literal["reject", "drop", "truncate"]


@dataclass(frozen=True)
class FieldLimit:
    max_chars: int
    on_excess: OnExcess


URL_MAX_CHARS = (
    2048  # what browsers, CDNs and sitemaps reliably take (also each image URL: normalize.http_url)
)

FIELD_LIMITS: dict[str, FieldLimit] = {
    "source_id": FieldLimit(255, "reject"),  # listing_info.external_source_id, btree-indexed
    "name": FieldLimit(300, "reject"),  # listings.name / listing_info.name, btree-indexed
    "description": FieldLimit(10_000, "truncate"),  # long descriptions are legitimate: kept, cut
    "category": FieldLimit(300, "drop"),  # the source's category text (source_category)
    "address1": FieldLimit(300, "reject"),
    "address2": FieldLimit(300, "drop"),
    "city": FieldLimit(120, "reject"),  # the matching index's city key
    "state": FieldLimit(100, "drop"),  # btree-indexed; the DMO's state is used instead
    "zip": FieldLimit(60, "reject"),  # its postal key is btree-indexed
    "phone": FieldLimit(100, "drop"),
    "email": FieldLimit(254, "drop"),  # RFC 5321's longest address
    "website": FieldLimit(URL_MAX_CHARS, "drop"),
    **{
        social: FieldLimit(URL_MAX_CHARS, "drop")
        for social in (
            "facebook",
            "instagram",
            "youtube",
            "tiktok",
            "twitter",
            "pinterest",
            "tripadvisor",
            "yelp",
        )
    },
    "opening_hours": FieldLimit(4_000, "drop"),  # hours text that long is not hours
}

PRECUT_FACTOR = 10
MAX_IMAGES = 100  # image URLs kept per record (the first ones); the rest are dropped with a flag


def over_limit(field: str, value: str | None) -> FieldLimit | None:
    """The field's limit when `value` is longer than it, else None."""
    limit = FIELD_LIMITS.get(field)
    if limit is None or value is None or len(value) <= limit.max_chars:
        return None
    return limit


def truncate(value: str, max_chars: int) -> str:
    """`value` cut to at most `max_chars` characters, ending with "…" when cut (for messages and flags)."""
    if len(value) <= max_chars:
        return value
    return value[: max_chars - 1] + "…"


def too_long_message(field: str, length: int, limit: FieldLimit) -> str:
    """The validation message of an over-long value: `name: 4,000 characters; at most 300`."""
    return f"{field}: {length:,} characters; at most {limit.max_chars:,}"
