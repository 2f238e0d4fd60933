"""Is a parsed payload the DMO's data at all? A file of another shape (random text, a renamed header, an
export of another table) must fail its job, not be imported as zero records and hide the catalogue.

- Sources with a header (csv, xls: their parse metadata lists `mapped_columns_missing`): every column the
  config maps must be in the header (an xls column without a name, mapped as `_col_H`, counts as present
  when it holds data).
- Every other source: when the payload has records, the path mapped to `name` must be found in at least one
  of them.

Too few records (fewer than the last good run's) is the removal sweep's concern: see
`listings.catalogue.lifecycle` (the hold).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from listings.transform.mapping import MISSING, resolve_path

if TYPE_CHECKING:
    from listings.config.models import DmoConfig
    from listings.sources.base import ParseResult

MAX_HEADER_SHOWN = 12


def unusable_payload(parsed: ParseResult, config: DmoConfig) -> str | None:
    """Why the payload cannot be the DMO's data (the message names what is missing), or None."""
    meta = parsed.metadata
    if "mapped_columns_missing" in meta:
        present_unnamed = set(meta.get("unnamed_columns") or ())
        missing = sorted(set(meta["mapped_columns_missing"]) - present_unnamed)
        if not missing:
            return None
        header = [_short(str(h)) for h in meta.get("header") or []]
        shown = ", ".join(header[:MAX_HEADER_SHOWN]) + (", ..." if len(header) > MAX_HEADER_SHOWN else "")
        return (
            f"DMO {config.dmo.id}: not the DMO's file: mapped columns missing from the header: "
            f"{', '.join(missing)}; the header has {len(header)} column(s): {shown or '(none)'}"
        )
    path = config.mappings().get("name")
    if path and parsed.records and all(resolve_path(r.values, path) is MISSING for r in parsed.records):
        return (
            f"DMO {config.dmo.id}: not the DMO's data: the path {path!r} mapped to `name` is in none of the"
            f" {len(parsed.records)} records"
        )
    return None


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
