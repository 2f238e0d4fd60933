"""POI categories: the controlled vocabulary (`data/categories.yaml`) and the mapper onto it.

This module owns turning whatever a source calls a category ("Hôtel", "Gîte (B&B)", "500-5000-0053",
"tourism=hotel", "CafeOrCoffeeShop", "Restaurant gastronomique et bar à vins") into one vocabulary id,
reporting how each value was mapped, and counting the values it could not map (`CategoryStats`): an
unmapped value is kept with its raw text, never dropped. It also owns how compatible two categories are
(`Vocabulary.compatible`), which the matching engine uses. Pure functions: no database, no Airflow.

Lookup order in `Vocabulary.map`, first hit wins:

1. ``dmo_synonym``    the DMO configuration's own table (`extra_synonyms`), exact key;
2. ``source_synonym`` the tables of the record's source type (HERE ids, OSM tags, schema.org types,
                      affiliate API values): exact key, then the longest ``*`` prefix;
3. ``exact``          a category id or label;
4. ``synonym``        a synonym of the vocabulary;
5. ``source_synonym`` any other source's table, for keys that mean one category in every table
                      (a schema.org type in a CSV export);
6. ``partial``        synonyms found as whole words inside longer text (see `_partial_match`);
7. ``unmapped``       nothing matched: the raw text is kept; ``empty`` when there was no text at all.

Keys are compared after `category_key`: `normalize_key` (case, accents, punctuation) plus a light plural
fold, so the vocabulary lists each word once ("Hôtels", "HOTEL", "hôtel" are one key).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from listings.transform.hashing import normalize_key

__all__ = [
    "METHODS",
    "Category",
    "CategoryMatch",
    "CategoryStats",
    "MatchMethod",
    "Vocabulary",
    "VocabularyError",
    "category_key",
    "load_vocabulary",
]

log = logging.getLogger(__name__)

MatchMethod = Literal["dmo_synonym", "source_synonym", "exact", "synonym", "partial", "unmapped", "empty"]
METHODS: Final[tuple[MatchMethod, ...]] = (
    "dmo_synonym",
    "source_synonym",
    "exact",
    "synonym",
    "partial",
    "unmapped",
    "empty",
)

SAME: Final = 1.0
SAME_FAMILY: Final = 0.6
CO_LOCATED: Final = 0.3
UNKNOWN: Final = 0.5
UNRELATED: Final = 0.0

LANGS: Final = ("en", "fr")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_SPACE = re.compile(r"\s+")
# Partial matching reads this many words at most: a category field holding a whole description should
# neither cost much nor match on a word deep inside it.
_PARTIAL_MAX_WORDS: Final = 40
# Unmapped values longer than this are counted under a truncated key, so one bad column cannot bloat a
# job report; the CategoryMatch itself keeps the full text.
_STATS_RAW_MAX: Final = 200
_LIST_JOIN: Final = " | "


# ------------------------------------------------------------------------------------------------ keys
def _fold(token: str) -> str:
    # A plural fold applied to both the vocabulary and the raw text, so only consistency matters, not
    # linguistics: "hotels"→"hotel", "chateaux"→"chateau", "galeries"/"galerie"→"galery",
    # "galleries"→"gallery". Short words are left alone ("bus", "spa").
    plural_s = token.endswith("s") and not token.endswith("ss")
    if len(token) >= 4 and (plural_s or token.endswith(("eaux", "eux"))):
        token = token[:-1]
    if len(token) >= 4 and token.endswith("ie"):
        token = token[:-2] + "y"
    return token


def category_key(text: str | None) -> str:
    """The lookup key of a category text: `normalize_key` plus the plural fold ("Hôtels" → "hotel")."""
    return " ".join(_fold(t) for t in normalize_key(text).split())


def _code(text: str) -> str:
    # Codes keep their punctuation for prefix rules ("shop=", "100-1000-"): only spaces and case go.
    return _SPACE.sub("", text).casefold()


# ------------------------------------------------------------------------------------------- the model
class VocabularyError(ValueError):
    """The vocabulary file is invalid; `errors` lists every problem found, each naming its entry."""

    def __init__(self, source: str, errors: Sequence[str]) -> None:
        self.source = source
        self.errors = list(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"invalid category vocabulary {source}: {len(self.errors)} problem(s)\n{lines}")


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    parent: str | None
    labels: Mapping[str, str]
    synonyms: tuple[str, ...] = ()
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """The top-level category this one belongs to (itself for a family)."""
        return self.parent or self.id


@dataclass(frozen=True, slots=True)
class CategoryMatch:
    """How one raw category was mapped.

    `category` is a vocabulary id or None (unmapped / empty); `raw` is the text that decided (stripped),
    or every non-empty value joined with " | " when a list mapped to nothing; `candidates` lists every
    category seen, the chosen one first (other words of a partial match, other values of a list).
    """

    category: str | None
    raw: str | None
    method: MatchMethod
    candidates: list[str] = field(default_factory=list)

    @property
    def mapped(self) -> bool:
        return self.category is not None


@dataclass
class CategoryStats:
    """Per-job counts: matches per method, per category, and each unmapped raw value with its count."""

    total: int = 0
    methods: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    unmapped: Counter[str] = field(default_factory=Counter)

    def add(self, match: CategoryMatch) -> CategoryMatch:
        """Count one match; returns it, so `stats.add(vocab.map(raw))` reads well in a loop."""
        self.total += 1
        self.methods[match.method] += 1
        if match.category is not None:
            self.categories[match.category] += 1
        elif match.method == "unmapped" and match.raw is not None:
            raw = match.raw
            if len(raw) > _STATS_RAW_MAX:
                raw = raw[: _STATS_RAW_MAX - 1] + "…"
            self.unmapped[raw] += 1
        return match

    def update(self, matches: Iterable[CategoryMatch]) -> None:
        for match in matches:
            self.add(match)

    def merge(self, other: CategoryStats) -> None:
        """Add another job's (or chunk's) counts to these."""
        self.total += other.total
        self.methods.update(other.methods)
        self.categories.update(other.categories)
        self.unmapped.update(other.unmapped)

    @property
    def mapped(self) -> int:
        return sum(self.categories.values())

    @property
    def mapped_ratio(self) -> float:
        """Mapped share of the values that had any text (1.0 when none had)."""
        with_text = self.total - self.methods["empty"]
        return self.mapped / with_text if with_text else 1.0

    def top_unmapped(self, n: int | None = 20) -> list[tuple[str, int]]:
        """Unmapped raw values, most frequent first (ties by text, so reports are stable)."""
        ranked = sorted(self.unmapped.items(), key=lambda kv: (-kv[1], kv[0]))
        return ranked if n is None else ranked[:n]

    def as_dict(self, top: int | None = 50) -> dict[str, Any]:
        """A JSON-ready summary for the job report."""
        return {
            "total": self.total,
            "mapped": self.mapped,
            "mapped_ratio": round(self.mapped_ratio, 4),
            "by_method": {m: self.methods[m] for m in METHODS if self.methods[m]},
            "by_category": dict(sorted(self.categories.items(), key=lambda kv: (-kv[1], kv[0]))),
            "unmapped_distinct": len(self.unmapped),
            "unmapped": [{"raw": raw, "count": count} for raw, count in self.top_unmapped(top)],
        }


# ------------------------------------------------------------------------------------------ vocabulary
@dataclass(frozen=True, slots=True)
class _Hit:
    category: str
    method: MatchMethod
    candidates: tuple[str, ...]


class Vocabulary:
    """The categories of `categories.yaml`, with their lookup tables. Build with `load_vocabulary`."""

    def __init__(
        self,
        categories: Sequence[Category],
        *,
        source_types: Mapping[str, Sequence[str]],
        co_located: Mapping[frozenset[str], float],
        origin: str = "<memory>",
    ) -> None:
        errors = _check(categories, source_types, co_located)
        if errors:
            raise VocabularyError(origin, errors)
        self.origin = origin
        self._cats: dict[str, Category] = {c.id: c for c in categories}
        self._children: dict[str, list[str]] = {c.id: [] for c in categories}
        for c in categories:
            if c.parent:
                self._children[c.parent].append(c.id)
        self._co_located = dict(co_located)

        # Generic keys: ids and labels are "exact", synonyms "synonym" (validation made them unambiguous).
        self._generic: dict[str, tuple[str, MatchMethod]] = {}
        for c in categories:
            for text in (c.id, *c.labels.values()):
                self._generic[category_key(text)] = (c.id, "exact")
        for c in categories:
            for text in c.synonyms:
                self._generic.setdefault(category_key(text), (c.id, "synonym"))

        # Partial matching: by first word, longest phrase first, each phrase once.
        partial: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for key, (cat, _) in self._generic.items():
            words = tuple(key.split())
            if len(key) >= 3:
                partial.setdefault(words[0], []).append((words, cat))
        for entries in partial.values():
            entries.sort(key=lambda e: (-len(e[0]), e[0]))
        self._partial = partial

        # Source tables: exact keys and `*` prefixes, per table.
        self._tables: dict[str, dict[str, str]] = {}
        self._prefixes: dict[str, list[tuple[str, str]]] = {}
        for c in categories:
            for table, keys in c.sources.items():
                exact = self._tables.setdefault(table, {})
                prefixes = self._prefixes.setdefault(table, [])
                for text in keys:
                    if text.endswith("*"):
                        prefixes.append((_code(text[:-1]), c.id))
                    else:
                        exact[category_key(text)] = c.id
        for prefixes in self._prefixes.values():
            prefixes.sort(key=lambda p: (-len(p[0]), p[0]))
        self._source_types = {k: tuple(v) for k, v in source_types.items()}

        # Keys (and prefixes) meaning one category in every table that has them, for records whose
        # source type has no table of its own.
        seen: dict[str, set[str]] = {}
        seen_prefix: dict[str, set[str]] = {}
        for exact in self._tables.values():
            for key, cat in exact.items():
                seen.setdefault(key, set()).add(cat)
        for prefixes in self._prefixes.values():
            for prefix, cat in prefixes:
                seen_prefix.setdefault(prefix, set()).add(cat)
        self._any_exact = {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}
        self._any_prefixes = sorted(
            ((k, next(iter(v))) for k, v in seen_prefix.items() if len(v) == 1),
            key=lambda p: (-len(p[0]), p[0]),
        )
        self._dmo_cache: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    # -- the vocabulary ------------------------------------------------------------------------------
    def __contains__(self, category: object) -> bool:
        return category in self._cats

    def __len__(self) -> int:
        return len(self._cats)

    def __iter__(self) -> Iterator[Category]:
        return iter(self._cats.values())

    @property
    def ids(self) -> list[str]:
        return list(self._cats)

    @property
    def families(self) -> list[str]:
        return [c.id for c in self._cats.values() if c.parent is None]

    def get(self, category: str) -> Category:
        return self._cats[category]

    def parent(self, category: str) -> str | None:
        return self._cats[category].parent

    def family(self, category: str) -> str:
        return self._cats[category].family

    def children(self, category: str) -> list[str]:
        return list(self._children[category])

    def is_leaf(self, category: str) -> bool:
        """True for a category with no children (every second-level one, and a family left empty)."""
        return not self._children[category]

    def label(self, category: str, lang: str = "en") -> str:
        """The display label; `lang` "fr", "fr-CA", "fr_CA" all give French, unknown languages English."""
        labels = self._cats[category].labels
        base = lang.replace("_", "-").split("-", 1)[0].casefold()
        return labels.get(base) or labels["en"]

    def source_tables(self, source_type: str | None) -> tuple[str, ...]:
        """The `sources` tables consulted for a source type (a table name stands for itself)."""
        if not source_type:
            return ()
        if source_type in self._source_types:
            return self._source_types[source_type]
        return (source_type,) if source_type in self._tables else ()

    def check_synonyms(self, table: Mapping[str, str]) -> list[str]:
        """Problems in a DMO's own synonym table (raw text -> category id), for config validation."""
        errors: list[str] = []
        keys: dict[str, str] = {}
        for raw, target in table.items():
            key = category_key(raw) if isinstance(raw, str) else ""
            if not key:
                errors.append(f"synonym {raw!r} has no letters or digits to match on")
            elif not isinstance(target, str) or target not in self._cats:
                errors.append(f"synonym {raw!r} maps to unknown category {target!r}")
            elif keys.setdefault(key, target) != target:
                errors.append(
                    f"synonym {raw!r} maps to {target!r} but an equivalent key maps to {keys[key]!r}"
                )
        return errors

    # -- mapping -------------------------------------------------------------------------------------
    def map(
        self,
        raw: str | Sequence[str] | None,
        *,
        source_type: str | None = None,
        extra_synonyms: Mapping[str, str] | None = None,
    ) -> CategoryMatch:
        """Map a raw category (or a list of them) onto the vocabulary. Never raises on the raw value.

        A list maps each value and keeps the first that maps to a leaf (a category without children),
        else the first that maps at all; `candidates` lists what every value mapped to, the chosen one first.
        """
        dmo = self._dmo_table(extra_synonyms) if extra_synonyms else None
        tables = self.source_tables(source_type)
        values = _as_texts(raw)
        if not values:
            return CategoryMatch(None, None, "empty")
        if len(values) == 1:
            return self._map_one(values[0], tables, dmo)

        matches = [self._map_one(v, tables, dmo) for v in values]
        mapped = [m for m in matches if m.category is not None]
        if not mapped:
            return CategoryMatch(None, _LIST_JOIN.join(values), "unmapped")
        best = next((m for m in mapped if m.category and self.is_leaf(m.category)), mapped[0])
        candidates = list(dict.fromkeys(c for m in (best, *mapped) for c in m.candidates))
        return CategoryMatch(best.category, best.raw, best.method, candidates)

    def _map_one(self, text: str, tables: tuple[str, ...], dmo: Mapping[str, str] | None) -> CategoryMatch:
        hit = self._lookup(text, tables, dmo)
        if hit is None:
            return CategoryMatch(None, text, "unmapped")
        return CategoryMatch(hit.category, text, hit.method, list(hit.candidates))

    def _lookup(self, text: str, tables: tuple[str, ...], dmo: Mapping[str, str] | None) -> _Hit | None:
        key = category_key(text)
        if not key:
            return None
        if dmo is not None and key in dmo:
            return _Hit(dmo[key], "dmo_synonym", (dmo[key],))
        code = _code(text)
        for table in tables:
            cat = self._tables[table].get(key) if table in self._tables else None
            if cat is None:
                cat = _by_prefix(self._prefixes.get(table, ()), code)
            if cat is not None:
                return _Hit(cat, "source_synonym", (cat,))
        generic = self._generic.get(key)
        if generic is not None:
            return _Hit(generic[0], generic[1], (generic[0],))
        cat = self._any_exact.get(key) or _by_prefix(self._any_prefixes, code)
        if cat is not None:
            return _Hit(cat, "source_synonym", (cat,))
        return self._partial_match(key)

    def _partial_match(self, key: str) -> _Hit | None:
        # Synonyms found as whole words, left to right, the longest one at each position. The winner is the
        # leftmost leaf category (DMOs name the main thing first: "Restaurant gastronomique et
        # bar à vins", "Hébergement - Hôtel"), else the leftmost family. Deterministic: positions and
        # lengths only, never dict or set order.
        words = key.split()[:_PARTIAL_MAX_WORDS]
        found: list[str] = []
        i = 0
        while i < len(words):
            step = 1
            for phrase, cat in self._partial.get(words[i], ()):
                if tuple(words[i : i + len(phrase)]) == phrase:
                    found.append(cat)
                    step = len(phrase)  # words inside a phrase are not matched again ("parc d'attractions")
                    break
            i += step
        if not found:
            return None
        leaves = [c for c in found if not self._children[c]]
        best = (leaves or found)[0]
        return _Hit(best, "partial", tuple(dict.fromkeys((best, *found))))

    def _dmo_table(self, table: Mapping[str, str]) -> dict[str, str]:
        try:
            signature = tuple((str(k), str(v)) for k, v in table.items())
        except Exception:  # a broken mapping object: map as if there were no DMO table
            return {}
        compiled = self._dmo_cache.get(signature)
        if compiled is None:
            compiled = {}
            for raw, target in signature:
                key = category_key(raw)
                if key and target in self._cats:
                    compiled.setdefault(key, target)
                else:
                    # Config validation (`check_synonyms`) should have caught it; never write an id
                    # outside the vocabulary into the catalogue.
                    log.warning("ignoring DMO category synonym %r -> %r (unknown category)", raw, target)
            if len(self._dmo_cache) >= 64:
                self._dmo_cache.clear()
            self._dmo_cache[signature] = compiled
        return compiled

    # -- compatibility -------------------------------------------------------------------------------
    def compatible(self, a: str | None, b: str | None) -> float:
        """How plausible it is that two records with these categories are the same place.

        1.0 same category; a listed pair's score (categories first, then families); 0.6 same family
        (a parent and its child included); 0.3 for the listed co-located families; 0.0 otherwise;
        0.5 when either is None or not in the vocabulary (unknown says nothing).
        """
        if not a or not b or a not in self._cats or b not in self._cats:
            return UNKNOWN
        if a == b:
            return SAME
        pair = self._co_located.get(frozenset((a, b)))
        if pair is not None:
            return pair
        fa, fb = self._cats[a].family, self._cats[b].family
        if fa == fb:
            return SAME_FAMILY
        return self._co_located.get(frozenset((fa, fb)), UNRELATED)


def _by_prefix(prefixes: Iterable[tuple[str, str]], code: str) -> str | None:
    for prefix, cat in prefixes:  # longest first
        if code.startswith(prefix):
            return cat
    return None


def _as_texts(raw: object) -> list[str]:
    # Whatever a mapping produced: None, a string, a list of strings (or numbers, or None) — non-empty
    # stripped texts, in order, duplicates dropped.
    if raw is None:
        return []
    items: Iterable[object]
    if isinstance(raw, str | bytes | Mapping):  # one value, even though iterable
        items = [raw]
    elif isinstance(raw, Iterable):
        items = raw
    else:
        items = [raw]
    out: list[str] = []
    for item in items:
        if item is None:
            continue
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        text = text.strip()
        if text:
            out.append(text)
    return list(dict.fromkeys(out))


# ------------------------------------------------------------------------------------------ validation
def _check(
    categories: Sequence[Category],
    source_types: Mapping[str, Sequence[str]],
    co_located: Mapping[frozenset[str], float],
) -> list[str]:
    errors: list[str] = []
    ids: dict[str, Category] = {}
    for c in categories:
        if not _ID.match(c.id):
            errors.append(f"category {c.id!r}: id must be lowercase letters, digits and _")
        if c.id in ids:
            errors.append(f"category {c.id!r}: duplicate id")
        ids[c.id] = c
    for c in categories:
        if c.parent is None:
            continue
        parent = ids.get(c.parent)
        if parent is None:
            errors.append(f"category {c.id!r}: unknown parent {c.parent!r}")
        elif parent.id == c.id:
            errors.append(f"category {c.id!r}: is its own parent")
        elif parent.parent is not None:
            errors.append(f"category {c.id!r}: parent {c.parent!r} is itself a child (two levels only)")
    for c in categories:
        missing = [lang for lang in LANGS if not c.labels.get(lang)]
        if missing:
            errors.append(f"category {c.id!r}: label missing for {', '.join(missing)}")

    # One key, one category: ids, labels and synonyms share a namespace.
    owner: dict[str, tuple[str, str]] = {}
    for c in categories:
        for kind, texts in (
            ("id", [c.id]),
            ("label", list(c.labels.values())),
            ("synonym", list(c.synonyms)),
        ):
            for text in texts:
                if "*" in text:
                    errors.append(f"category {c.id!r}: {kind} {text!r}: '*' is only for `sources` tables")
                key = category_key(text)
                if not key:
                    errors.append(f"category {c.id!r}: {kind} {text!r} has no letters or digits")
                    continue
                prev = owner.setdefault(key, (c.id, text))
                if prev[0] != c.id:
                    errors.append(
                        f"category {c.id!r}: {kind} {text!r} is also {prev[1]!r} of category {prev[0]!r}"
                    )

    tables = {t for ts in source_types.values() for t in ts}
    table_keys: dict[tuple[str, str], tuple[str, str]] = {}
    for c in categories:
        for table, keys in c.sources.items():
            if table not in tables:
                errors.append(
                    f"category {c.id!r}: sources table {table!r} is not used by any source type "
                    f"(known: {', '.join(sorted(tables))})"
                )
            for text in keys:
                if "*" in text[:-1] or (text.endswith("*") and not _code(text[:-1])):
                    errors.append(
                        f"category {c.id!r}: sources.{table} {text!r}: '*' only at the end of a prefix"
                    )
                    continue
                key = ("*" + _code(text[:-1])) if text.endswith("*") else category_key(text)
                if key in ("", "*"):
                    errors.append(f"category {c.id!r}: sources.{table} {text!r} has no letters or digits")
                    continue
                prev = table_keys.setdefault((table, key), (c.id, text))
                if prev[0] != c.id:
                    errors.append(
                        f"category {c.id!r}: sources.{table} {text!r} is also {prev[1]!r} of category {prev[0]!r}"
                    )

    for pair, score in co_located.items():
        unknown = sorted(x for x in pair if x not in ids)
        if unknown:
            errors.append(f"co_located {sorted(pair)}: unknown category {', '.join(map(repr, unknown))}")
        if len(pair) != 2:
            errors.append(f"co_located {sorted(pair)}: a pair needs two different categories")
        if not 0.0 <= score <= 1.0:
            errors.append(f"co_located {sorted(pair)}: score {score} is not between 0 and 1")
    return errors


def _parse(doc: object, origin: str) -> Vocabulary:
    # Structural errors are collected like semantic ones, so one run of the validator lists them all.
    errors: list[str] = []
    if not isinstance(doc, Mapping):
        raise VocabularyError(origin, ["the file must be a mapping with a `categories` list"])
    entries = doc.get("categories")
    if not isinstance(entries, list) or not entries:
        raise VocabularyError(origin, ["`categories` must be a non-empty list"])

    categories: list[Category] = []
    for n, entry in enumerate(entries, 1):
        name = f"#{n}"
        if not isinstance(entry, Mapping):
            errors.append(f"category {name}: must be a mapping (id, parent, label, synonyms, sources)")
            continue
        cid = entry.get("id")
        if not isinstance(cid, str) or not cid:
            errors.append(f"category {name}: `id` missing or not a string")
            continue
        where = f"category {cid!r}"
        unknown = sorted(set(map(str, entry)) - {"id", "parent", "label", "synonyms", "sources"})
        if unknown:
            errors.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        parent = entry.get("parent")
        if parent is not None and not isinstance(parent, str):
            errors.append(f"{where}: `parent` must be a category id")
            parent = None
        label = entry.get("label")
        labels: dict[str, str] = {}
        if isinstance(label, Mapping):
            for lang, text in label.items():
                if isinstance(text, str) and text.strip():
                    labels[str(lang)] = text.strip()
                else:
                    errors.append(f"{where}: label.{lang} must be text")
        else:
            errors.append(f"{where}: `label` must be a mapping {{en: ..., fr: ...}}")
        synonyms = _texts(entry.get("synonyms"), f"{where}: synonyms", errors)
        sources: dict[str, tuple[str, ...]] = {}
        raw_sources = entry.get("sources")
        if raw_sources is not None:
            if isinstance(raw_sources, Mapping):
                for table, keys in raw_sources.items():
                    sources[str(table)] = _texts(keys, f"{where}: sources.{table}", errors)
            else:
                errors.append(f"{where}: `sources` must be a mapping of table -> list")
        categories.append(Category(cid, parent or None, labels, synonyms, sources))

    source_types: dict[str, list[str]] = {}
    raw_types = doc.get("source_types") or {}
    if isinstance(raw_types, Mapping):
        for st, tables in raw_types.items():
            source_types[str(st)] = list(_texts(tables, f"source_types.{st}", errors))
    else:
        errors.append("`source_types` must be a mapping of source type -> list of tables")

    co_located: dict[frozenset[str], float] = {}
    raw_pairs = doc.get("co_located") or []
    if isinstance(raw_pairs, list):
        for pair in raw_pairs:
            if (
                isinstance(pair, list)
                and len(pair) in (2, 3)
                and all(isinstance(x, str) for x in pair[:2])
                and (len(pair) == 2 or (isinstance(pair[2], int | float) and not isinstance(pair[2], bool)))
            ):
                key = frozenset(pair[:2])
                if key in co_located:
                    errors.append(f"co_located {pair[:2]}: listed twice")
                co_located[key] = float(pair[2]) if len(pair) == 3 else CO_LOCATED
            else:
                errors.append(
                    f"co_located {pair!r}: must be [category, category] or [category, category, score]"
                )
    else:
        errors.append("`co_located` must be a list of pairs")

    if errors:
        # Report the semantic problems too, so one run of the validator lists everything.
        raise VocabularyError(origin, errors + _check(categories, source_types, co_located))
    return Vocabulary(categories, source_types=source_types, co_located=co_located, origin=origin)


def _texts(value: object, where: str, errors: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.append(f"{where}: must be a list")
        return ()
    out: list[str] = []
    for item in value:
        # YAML turns unquoted yes/no/on/off into booleans and 2024 into a number: quote them.
        if not isinstance(item, str):
            errors.append(f"{where}: {item!r} is not text (quote it in the YAML)")
        elif item.strip():
            out.append(item.strip())
        else:
            errors.append(f"{where}: empty entry")
    return tuple(dict.fromkeys(out))


# -------------------------------------------------------------------------------------------- loading
def load_vocabulary(path: Path | str | None = None) -> Vocabulary:
    """The vocabulary in `path`, or the one shipped with the package (cached) when None.

    Raises `VocabularyError` listing every problem, each naming its entry, when the file is invalid.
    """
    if path is None:
        return _default_vocabulary()
    path = Path(path)
    return _load_text(path.read_text(encoding="utf-8"), str(path))


@cache
def _default_vocabulary() -> Vocabulary:
    resource = resources.files("listings") / "data" / "categories.yaml"
    return _load_text(resource.read_text(encoding="utf-8"), "listings/data/categories.yaml")


def _load_text(text: str, origin: str) -> Vocabulary:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise VocabularyError(origin, [f"not valid YAML: {exc}"]) from exc
    return _parse(doc, origin)
