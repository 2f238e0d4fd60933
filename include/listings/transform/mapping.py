"""Field mapping: find a canonical field's value in a source record by its configured path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

MISSING: Final = object()


def resolve_path(record: Any, path: str) -> Any:
    """The value at `path` in a record, or MISSING.

    A path is a key (tried first, so CSV headers with dots work), or dot-separated steps: mapping keys,
    list indexes (`0`, `-1`) and `*` (every element of a list; the rest of the path is applied to each and
    the results are flattened, missing ones dropped): `_embedded.wp:featuredmedia.*.source_url`.
    """
    if isinstance(record, Mapping) and path in record:
        return record[path]
    return _walk(record, path.split("."))


def _walk(current: Any, steps: list[str]) -> Any:
    for i, step in enumerate(steps):
        if current is None:
            return None  # the path exists but is empty here (e.g. `field_website: null`): empty, not missing
        if isinstance(current, Mapping):
            if step not in current:
                return MISSING
            current = current[step]
        elif isinstance(current, list):
            if step == "*":
                out: list[Any] = []
                for item in current:
                    value = _walk(item, steps[i + 1 :])
                    if value is MISSING or value is None:
                        continue
                    out.extend(value if isinstance(value, list) else [value])
                return out
            try:
                current = current[int(step)]
            except (ValueError, IndexError):
                return MISSING
        else:
            return MISSING
    return current


def as_text(value: Any) -> str | None:
    """A mapped value as text: lists are joined with ', ', numbers and booleans written out."""
    if value is MISSING or value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        parts = [t for t in (as_text(v) for v in value) if t]
        return ", ".join(dict.fromkeys(parts)) or None
    if isinstance(value, Mapping):
        for key in ("rendered", "value", "name", "label", "text", "url"):
            if key in value:
                return as_text(value[key])
        return None
    return str(value)


def as_list(value: Any, separator: str) -> list[str]:
    """A mapped multi-value field (image URLs): a list, or one string split on the separator."""
    if value is MISSING or value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(separator)
    out: dict[str, None] = {}
    for item in items:
        text = (
            as_text(item.get("url") or item.get("source_url") or item.get("src"))
            if isinstance(item, Mapping)
            else as_text(item)
        )
        if text and text.strip():
            out.setdefault(text.strip(), None)
    return list(out)
