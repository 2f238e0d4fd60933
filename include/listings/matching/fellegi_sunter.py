"""A Fellegi–Sunter match model learned from the data itself: pure code, no database.

The logistic model of `scoring` was fitted on pairs our own generator made, and on real sources it is
confident and wrong in ways the generator never produced. This model is estimated, unsupervised, on the
pairs a run actually compares, in the manner of Splink:

- **Comparisons** (`COMPARISONS`): each field of `Features` falls into one of a few ordered *levels*, best
  first (name: exact key / Jaro-Winkler >= 0.92 / token set >= 0.9 / partial >= 0.9 / JW >= 0.8 / other).
  A field one side lacks (None) is in no level: it adds exactly 0, for or against.
- **Parameters**: per level, m = P(level | same place) and u = P(level | different places); the level's
  weight is log2(m / u) bits. The match weight of a pair is log2(λ / (1 - λ)) + the sum of its levels'
  weights (+ term-frequency adjustments), and its probability is 1 / (1 + 2^-weight).
- **u** is first measured on random record pairs (`level_counts` of `pair_features` over random pairs of
  the catalogue and batch): `u_random`. It is what "agreeing by chance" looks like in this catalogue, and
  it scales the term-frequency adjustments.
- **m, λ** (and, by default, the u used for scoring) are estimated by EM (`estimate`) over the candidate
  pairs (the blocked pairs the engine scores). The E-step reads the identity fields only (name, phone,
  website, photo: `IDENTITY_FIELDS`, with the TF adjustments): read with the location fields, EM's two
  classes become "same building" / "elsewhere" and neighbours become confident matches (measured on the
  labelled bench: 110 of 188 new neighbours auto-merged). The location fields' m and u are then
  estimated from that posterior, which shrinks their weights towards 0, never away from it. The engine only ever scores candidate pairs, and among
  them agreement on the blocking fields is common for different places too (a neighbour shares the
  postal code, the street and the pin): u measured on random pairs would count the blocking evidence
  twice and make a neighbour in the same building a confident match. So by default EM also estimates the
  u of candidate non-matches, starting from the stored or default parameters; `fix_u=True` keeps
  `u_random` instead (Splink's training setting), for comparison.
- **Term frequencies** (Splink's TF adjustment): an exact name agreeing on a value v that many listings
  carry ("Starbucks", "Subway") is weaker evidence than a rare one. With tf(v) = the share of records
  with v, the exact level's weight is lowered by log2(tf(v) / u_random_exact) bits when v is more common
  than an average chance agreement; likewise for a phone many listings share (a chain's call centre).
  The adjusted weight never falls below the next level's (a better level never scores lower).
- **Corroboration**: address, postal code, city and distance all say where the place is, and two
  neighbours in one building agree on all of them: counted as independent fields (plain Fellegi–Sunter)
  one fact would weigh three or four times. With `corroboration="max"` (the default) only the strongest
  agreeing location field counts (the others show 0 in `explain`); every disagreeing one still counts.
- **Safety**: EM runs a fixed number of iterations or until the parameters move less than a tolerance,
  on sorted distinct comparison vectors (deterministic); the start parameters act as a prior worth
  `prior_pairs` pairs, so a thin run cannot produce a wild model; with fewer than `MIN_PAIRS` candidate
  pairs (or `MIN_KNOWN` known values of a field) the start parameters are kept; m and u are clamped to
  [1e-4, 1 - 1e-4] and made monotone (adjacent violators pooled), so a better level never weighs less
  than a worse one of the same field.

`DEFAULT_FS_MODEL` holds documented hand-set parameters for candidate pairs (the start of a first fit,
and the fallback when nothing is stored). `FSModel.to_params` / `from_params` give the JSON stored in
`pipeline.match_models`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from listings.matching.features import Features

__all__ = [
    "COMPARISONS",
    "DEFAULT_FS_MODEL",
    "EPS",
    "MIN_KNOWN",
    "MIN_PAIRS",
    "Comparison",
    "FSModel",
    "FieldParams",
    "comparison_vector",
    "estimate",
    "level_counts",
    "monotone",
    "tf_table",
]

EPS = 1e-4  # m and u are clamped to [EPS, 1 - EPS]: no level is ever certain either way
MIN_PAIRS = 200  # fewer candidate pairs than this: keep the start parameters (no EM)
MIN_KNOWN = 30  # a field known on fewer candidate pairs than this keeps its start m and u
TF_MAX_VALUES = 5000  # the most frequent values kept per TF table (the others are rarer than chance)


# --------------------------------------------------------------------------------------------------------
# Comparisons: Features -> level index (0 = best) or None (unknown)
# --------------------------------------------------------------------------------------------------------


def _name_level(f: Features) -> int | None:
    jw = f.name_jw
    if jw is None:
        return None
    if jw >= 1.0 - 1e-9:  # Jaro-Winkler is 1 only for identical keys
        return 0
    if (f.name_extra or 0) >= 2:  # one name inside a longer one ("West" / "Shun Lee West"): at most partial
        return 3 if (f.name_partial or 0.0) >= 0.9 else 5
    if jw >= 0.92:
        return 1
    if (f.name_token or 0.0) >= 0.9:
        return 2
    if (f.name_partial or 0.0) >= 0.9:
        return 3
    if jw >= 0.8:
        return 4
    return 5


def _address_level(f: Features) -> int | None:
    # One comparison for the address and its house number: the two are read from the same text, and
    # counting them as independent fields would count one agreement twice.
    sim, number = f.address_sim, f.house_number_eq
    if sim is None and number is None:
        return None
    if number is False:
        return 5
    close = sim is not None and sim >= 0.85
    if sim is not None and sim >= 0.999:
        return 0
    if close:
        return 1 if number is True else 2
    return 3 if number is True else 4


def _flag_level(value: bool | None) -> int | None:
    return None if value is None else (0 if value else 1)


def _distance_level(f: Features) -> int | None:
    d = f.distance_m
    if d is None:
        return None
    for level, limit in enumerate((25.0, 100.0, 500.0, 2000.0)):
        if d < limit:
            return level
    return 4


def _category_level(f: Features) -> int | None:
    c = f.category_compat
    if c is None:
        return None
    return 0 if c >= 0.5 else 1  # same category or family: compatible; co-located or unrelated: differs


def _image_level(f: Features) -> int | None:
    s = f.image_sim
    if s is None:
        return None
    return 0 if s >= 0.95 else (1 if s >= 0.85 else 2)


@dataclass(frozen=True)
class Comparison:
    field: str  # the name explain() reports
    levels: tuple[str, ...]  # best first
    level_of: Callable[[Features], int | None]


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("name", ("exact", "jw>=0.92", "token_set>=0.9", "partial>=0.9", "jw>=0.8", "other"), _name_level),
    Comparison(
        "address",
        ("exact", "close+same_number", "close", "same_number", "other", "number_differs"),
        _address_level,
    ),
    Comparison("unit", ("equal", "differs"), lambda f: _flag_level(f.unit_eq)),
    Comparison("postal", ("equal", "differs"), lambda f: _flag_level(f.same_postal)),
    Comparison("city", ("equal", "differs"), lambda f: _flag_level(f.same_city)),
    Comparison("phone", ("equal", "differs"), lambda f: _flag_level(f.phone_eq)),
    Comparison("website", ("equal", "differs"), lambda f: _flag_level(f.website_eq)),
    Comparison("distance", ("<25m", "<100m", "<500m", "<2km", ">=2km"), _distance_level),
    Comparison("category", ("compatible", "differs"), _category_level),
    Comparison("image", (">=0.95", ">=0.85", "other"), _image_level),
)  # fmt: skip
FIELDS: tuple[str, ...] = tuple(c.field for c in COMPARISONS)
_BY_FIELD = {c.field: c for c in COMPARISONS}
TF_FIELDS = ("name", "phone", "website")  # exact agreement adjusted by the shared value's frequency
# What says "this is the same business" rather than "this is the same spot": the E-step of `estimate` reads
# only these, so that the classes EM finds are "same place" / "other place", not "same building" / "far".
IDENTITY_FIELDS = ("name", "phone", "website", "image")
# Where the place is: several of these agreeing is one fact (see `FSModel.corroboration`).
LOCATION_FIELDS = ("address", "unit", "postal", "city", "distance")


def _levels(f: Features) -> tuple[int | None, ...]:
    return tuple([c.level_of(f) for c in COMPARISONS])


_TF_INDEX = tuple((FIELDS.index(name), name) for name in TF_FIELDS)


def comparison_vector(f: Features) -> tuple[int, ...]:
    """The level of every comparison, in `COMPARISONS` order; -1 where the field is unknown."""
    return tuple(-1 if level is None else level for level in _levels(f))


# --------------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------------


def _shared_value(f: Features, name: str) -> str | None:
    return {"name": f.name_value, "phone": f.phone_value, "website": f.website_value}.get(name)


def _shared_by(f: Features, name: str) -> int | None:
    return {"name": f.name_shared_by, "phone": f.phone_shared_by, "website": f.website_shared_by}.get(name)


def tf_bits(share: float | None, chance: float | None) -> float:
    """The raw term-frequency adjustment in bits (<= 0): how much more common than chance agreement the
    shared value is. 0 when the value is not in the table (rarer than chance) or chance is unknown."""
    if share is None or not chance or share <= chance:
        return 0.0
    return -math.log2(share / chance)


@dataclass(frozen=True)
class FieldParams:
    m: tuple[float, ...]
    u: tuple[float, ...]

    def weights(self) -> tuple[float, ...]:
        """log2(m / u) per level, never rising from a better level to a worse one."""
        out: list[float] = []
        for m, u in zip(self.m, self.u, strict=True):
            w = math.log2(m / u)
            out.append(min(w, out[-1]) if out else w)  # a guard: `monotone` already pools violators
        return tuple(out)


def _clamp(values: Iterable[float]) -> list[float]:
    return [min(1.0 - EPS, max(EPS, float(v))) for v in values]


def monotone(m: Sequence[float], u: Sequence[float]) -> FieldParams:
    """Clamp m and u to [EPS, 1 - EPS], then pool adjacent levels whose ratio m/u rises from a better level
    to a worse one (pool-adjacent-violators on the ratio: a pooled block shares sum(m) / sum(u), each level
    keeping its u), so weights never increase down the levels."""
    mc, uc = _clamp(m), _clamp(u)
    blocks: list[list[int]] = []  # runs of level indexes sharing one ratio
    for i in range(len(mc)):
        blocks.append([i])
        while len(blocks) > 1:
            prev, last = blocks[-2], blocks[-1]
            r_prev = sum(mc[j] for j in prev) / sum(uc[j] for j in prev)
            r_last = sum(mc[j] for j in last) / sum(uc[j] for j in last)
            if r_last <= r_prev:
                break
            blocks[-2:] = [prev + last]
    m_out, u_out = list(mc), list(uc)
    for block in blocks:
        if len(block) == 1:
            continue
        ratio = sum(mc[j] for j in block) / sum(uc[j] for j in block)
        for j in block:
            m_out[j] = uc[j] * ratio
            if not EPS <= m_out[j] <= 1.0 - EPS:  # keep within bounds by moving u instead
                m_out[j] = min(1.0 - EPS, max(EPS, m_out[j]))
                u_out[j] = min(1.0 - EPS, max(EPS, m_out[j] / ratio))
    return FieldParams(tuple(m_out), tuple(u_out))


@dataclass(frozen=True)
class FSModel:
    """Fellegi–Sunter parameters: prior λ, m and u per comparison level, chance agreement `u_random` of the
    TF fields' exact level, and term-frequency tables {field: {value: share of records}}."""

    prior: float
    params: Mapping[str, FieldParams]
    u_random_exact: Mapping[str, float] = field(default_factory=dict)
    tf: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)
    corroboration: str = "max"  # "max": agreeing location fields count once (their strongest); "sum"

    def __post_init__(self) -> None:
        if set(self.params) != set(FIELDS):
            raise ValueError(f"model fields {sorted(self.params)} are not the comparisons {sorted(FIELDS)}")
        for name, p in self.params.items():
            n = len(_BY_FIELD[name].levels)
            if len(p.m) != n or len(p.u) != n:
                raise ValueError(f"{name}: {n} levels, got {len(p.m)} m and {len(p.u)} u")
        if not 0.0 < self.prior < 1.0:
            raise ValueError("prior must be in (0, 1)")
        if self.corroboration not in ("max", "sum"):
            raise ValueError("corroboration must be 'max' or 'sum'")

    def __hash__(self) -> int:
        return id(self)

    @cached_property
    def weights(self) -> dict[str, tuple[float, ...]]:
        return {name: self.params[name].weights() for name in FIELDS}

    @cached_property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1.0 - self.prior))

    def tf_adjustment(self, name: str, value: str | None, shared_by: int | None = None) -> float:
        """Bits to add to the exact level of `name` when both sides carry `value` (<= 0). `shared_by`: the
        number of candidate listings that carry it, when more than one: log2 of it is the least taken off
        (agreeing on a value n listings share points at one of n), whether or not the table knows it."""
        if value is None:
            return 0.0
        bits = tf_bits(self.tf.get(name, {}).get(value), self.u_random_exact.get(name))
        if shared_by is not None and shared_by > 1:
            bits = min(bits, -math.log2(shared_by))
        w = self.weights[name]
        # Never below the next level: an exact common name is not weaker evidence than a near-identical one.
        return max(bits, w[1] - w[0]) if bits else 0.0

    def contributions(self, f: Features) -> dict[str, float]:
        """Bits per known field (TF adjustments included); unknown fields are absent."""
        levels = _levels(f)
        out = self._level_contributions(levels)
        for i, name in _TF_INDEX:
            if levels[i] == 0:
                out[name] += self._tf(f, name)
        return out

    def match_weight(self, f: Features) -> float:
        """`prior_weight` + the sum of `contributions`, the levels' part computed once per combination of
        levels (a batch's pairs fall in a few hundred: scoring was a third of the match step's Python
        time)."""
        levels = _levels(f)
        w = self._level_sums.get(levels)
        if w is None:
            w = self._level_sums[levels] = sum(self._level_contributions(levels).values())
        for i, name in _TF_INDEX:
            if levels[i] == 0:
                w += self._tf(f, name)
        return self.prior_weight + w

    @cached_property
    def _level_sums(self) -> dict[tuple[int | None, ...], float]:
        return {}

    def _tf(self, f: Features, name: str) -> float:
        return self.tf_adjustment(name, _shared_value(f, name), _shared_by(f, name))

    def _level_contributions(self, levels: tuple[int | None, ...]) -> dict[str, float]:
        """Bits per known field for these levels, TF adjustments left out (they apply to identity fields,
        which the location corroboration never reads)."""
        out = {
            c.field: self.weights[c.field][level]
            for c, level in zip(COMPARISONS, levels, strict=True)
            if level is not None
        }
        if self.corroboration == "max":
            # The location fields read one fact (where the place is): agreeing on several of them is one
            # piece of evidence, not several. The strongest agreement counts; disagreements all count.
            agreeing = [(w, name) for name, w in out.items() if name in LOCATION_FIELDS and w > 0]
            if len(agreeing) > 1:
                keep = max(agreeing)[1]
                for _, name in agreeing:
                    if name != keep:
                        out[name] = 0.0
        return out

    def probability(self, f: Features) -> float:
        w = self.match_weight(f)
        if w >= 0:
            return 1.0 / (1.0 + math.pow(2.0, -w))
        e = math.pow(2.0, w)
        return e / (1.0 + e)

    # ---- storage -------------------------------------------------------------------------------------

    def to_params(self) -> dict[str, Any]:
        return {
            "kind": "fellegi_sunter",
            "prior": self.prior,
            "comparisons": {
                name: {
                    "levels": list(_BY_FIELD[name].levels),
                    "m": list(self.params[name].m),
                    "u": list(self.params[name].u),
                }
                for name in FIELDS
            },
            "corroboration": self.corroboration,
            "u_random_exact": dict(self.u_random_exact),
            "tf": {k: dict(v) for k, v in self.tf.items()},
            "meta": dict(self.meta),
        }

    @classmethod
    def from_params(cls, doc: Mapping[str, Any]) -> FSModel:
        """The model stored by `to_params`; raises ValueError when its levels are not today's."""
        if doc.get("kind") != "fellegi_sunter":
            raise ValueError("not a Fellegi-Sunter model")
        comparisons = doc["comparisons"]
        params = {}
        for name in FIELDS:
            if name not in comparisons and name in DEFAULT_FS_MODEL.params:  # a field added since: defaults
                params[name] = DEFAULT_FS_MODEL.params[name]
                continue
            if name not in comparisons or list(comparisons[name]["levels"]) != list(_BY_FIELD[name].levels):
                raise ValueError(f"stored model's {name} levels are not today's: refit it")
            c = comparisons[name]
            params[name] = FieldParams(tuple(map(float, c["m"])), tuple(map(float, c["u"])))
        return cls(
            prior=float(doc["prior"]),
            params=params,
            u_random_exact={k: float(v) for k, v in (doc.get("u_random_exact") or {}).items()},
            tf={k: {str(v): float(s) for v, s in t.items()} for k, t in (doc.get("tf") or {}).items()},
            meta=dict(doc.get("meta") or {}),
            corroboration=str(doc.get("corroboration") or "max"),
        )

    def describe(self) -> list[tuple[str, str, float, float, float]]:
        """(field, level, m, u, weight) of every level, for reports."""
        return [
            (c.field, level, m, u, w)
            for c in COMPARISONS
            for level, m, u, w in zip(
                c.levels, self.params[c.field].m, self.params[c.field].u, self.weights[c.field], strict=True
            )
        ]


def _fp(m: Sequence[float], u: Sequence[float]) -> FieldParams:
    return monotone(m, u)


# Hand-set parameters for CANDIDATE pairs (not random pairs): u is how often different places that the
# blocks put side by side fall in the level (they share postal codes, streets and pins far more often than
# random pairs), m how often two records of one place do. Reasoning per field:
# - name: duplicates mostly share the key or differ by a typo/added word; neighbours and chain-less
#   candidates mostly have other names (u of "other" 0.8);
# - address: a house number that differs is strong evidence against (3% of duplicates, 40% of candidates);
# - postal/city: weak (the blocks select on them); phone/website: strong (a shared number is rare by chance);
# - distance: within 25 m is good evidence; the near block makes < 500 m common for candidates;
# - category: an incompatible category is strong evidence against; photos: a near-identical one for.
# λ = 0.2: about one candidate pair in five is a duplicate in a typical run (EM replaces all of these).
DEFAULT_FS_MODEL = FSModel(
    prior=0.2,
    params={
        "name": _fp((0.55, 0.15, 0.12, 0.06, 0.05, 0.07), (0.01, 0.02, 0.03, 0.04, 0.10, 0.80)),
        "address": _fp((0.55, 0.15, 0.08, 0.08, 0.11, 0.03), (0.02, 0.02, 0.04, 0.06, 0.46, 0.40)),
        # unit (suite, stand, apartment) when both have one: another unit of one building is another place
        "unit": _fp((0.98, 0.02), (0.3, 0.7)),
        "postal": _fp((0.9, 0.1), (0.5, 0.5)),
        "city": _fp((0.92, 0.08), (0.7, 0.3)),
        "phone": _fp((0.75, 0.25), (0.01, 0.99)),
        "website": _fp((0.7, 0.3), (0.02, 0.98)),
        "distance": _fp((0.45, 0.33, 0.16, 0.04, 0.02), (0.05, 0.2, 0.5, 0.15, 0.1)),
        "category": _fp((0.95, 0.05), (0.6, 0.4)),
        "image": _fp((0.4, 0.2, 0.4), (0.01, 0.04, 0.95)),
    },
    meta={"source": "default"},
)


# --------------------------------------------------------------------------------------------------------
# Estimation
# --------------------------------------------------------------------------------------------------------


def level_counts(features: Iterable[Features]) -> dict[str, list[int]]:
    """How many pairs fall in each level of each comparison (unknowns are not counted)."""
    counts = {c.field: [0] * len(c.levels) for c in COMPARISONS}
    for f in features:
        for c in COMPARISONS:
            level = c.level_of(f)
            if level is not None:
                counts[c.field][level] += 1
    return counts


def u_from_counts(
    counts: Mapping[str, Sequence[int]], *, smoothing: float = 0.5
) -> dict[str, tuple[float, ...]]:
    """u per level from random-pair counts, additively smoothed (a level never seen is rare, not impossible)."""
    out = {}
    for name, row in counts.items():
        total = sum(row) + smoothing * len(row)
        out[name] = tuple((n + smoothing) / total for n in row)
    return out


def tf_table(
    values: Iterable[str | None], *, above: float, limit: int = TF_MAX_VALUES
) -> tuple[dict[str, float], int]:
    """{value: share of the known values} for the values more common than `above` (at most `limit`, the most
    common first), and the number of known values counted."""
    counts: dict[str, int] = {}
    total = 0
    for v in values:
        if v:
            counts[v] = counts.get(v, 0) + 1
            total += 1
    if not total:
        return {}, 0
    common = sorted(
        ((n, v) for v, n in counts.items() if n >= 2 and n / total > above), key=lambda nv: (-nv[0], nv[1])
    )
    return {v: n / total for n, v in common[:limit]}, total


def estimate(
    candidates: Sequence[Features],
    *,
    start: FSModel = DEFAULT_FS_MODEL,
    random_counts: Mapping[str, Sequence[int]] | None = None,
    tf: Mapping[str, Mapping[str, float]] | None = None,
    fix_u: bool = False,
    anchor: Sequence[str] | None = IDENTITY_FIELDS,
    refine: bool = False,
    max_iter: int = 100,
    tol: float = 1e-6,
    prior_pairs: float = 20.0,
    min_pairs: int = MIN_PAIRS,
    min_known: int = MIN_KNOWN,
) -> FSModel:
    """Fit λ, m (and u unless `fix_u`) by EM over the candidate pairs' comparison vectors.

    `start` gives the initial values and a prior worth `prior_pairs` pairs (a Dirichlet pseudo-count), so
    that a level seldom seen stays near its start value. `random_counts` (level counts of random pairs)
    gives `u_random`: with `fix_u` it is the u used for scoring; always, its exact name and phone levels
    scale the TF adjustments. With fewer than `min_pairs` candidate pairs, λ and m stay as in `start`.
    The result is clamped and monotone (`monotone`); the same inputs give the same model."""
    u_random = u_from_counts(random_counts) if random_counts else None
    chance = (
        {name: max(EPS, float(u_random[name][0])) for name in TF_FIELDS}
        if u_random
        else dict(start.u_random_exact)
    )
    tables = dict(tf) if tf is not None else dict(start.tf)
    # Pairs are grouped by comparison vector and TF offset (the E-step is the same for all of a group):
    # sorted, so that the same pairs in any order give the same model.
    groups: dict[tuple[tuple[int, ...], float], int] = {}
    for f in candidates:
        v = comparison_vector(f)
        offset = 0.0
        for name in TF_FIELDS:
            if v[FIELDS.index(name)] == 0:
                offset += tf_bits(tables.get(name, {}).get(_shared_value(f, name) or ""), chance.get(name))
        key = (v, round(offset, 6))
        groups[key] = groups.get(key, 0) + 1
    patterns = sorted(groups)
    n_pairs = sum(groups.values())
    meta: dict[str, Any] = {"candidate_pairs": n_pairs, "fix_u": fix_u, "iterations": 0, "converged": False}
    if random_counts:
        meta["random_pairs"] = max(sum(r) for r in random_counts.values())

    m0 = {name: np.array(start.params[name].m) for name in FIELDS}
    u0 = {name: np.array(start.params[name].u) for name in FIELDS}
    if u_random is not None and fix_u:
        u0 = {name: np.array(u_random[name]) for name in FIELDS}
    m = {k: v.copy() for k, v in m0.items()}
    u = {k: v.copy() for k, v in u0.items()}
    lam = start.prior

    if n_pairs >= min_pairs:
        g = np.array([p[0] for p in patterns], dtype=int)  # (patterns, fields)
        tf_offset = np.array([p[1] for p in patterns]) * math.log(2.0)  # bits -> nats
        c = np.array([groups[p] for p in patterns], dtype=float)
        known = g >= 0
        enough = {name: float(c[known[:, k]].sum()) >= min_known for k, name in enumerate(FIELDS)}
        onehot = {
            name: [(g[:, k] == level) for level in range(len(_BY_FIELD[name].levels))]
            for k, name in enumerate(FIELDS)
        }
        # Stage 1 reads only the anchor fields in the E-step (the classes are "same business" / "other"); with
        # `refine`, stage 2 then reads every field, starting from stage 1's classes.
        stages: list[Sequence[str] | None] = [anchor] if anchor is None or not refine else [anchor, None]
        converged: list[bool] = []
        for reads in stages:
            for _ in range(max_iter):
                log_odds = math.log(lam / (1.0 - lam)) + tf_offset
                for k, name in enumerate(FIELDS):
                    if reads is not None and name not in reads:
                        continue
                    ratio = np.log(np.clip(m[name], EPS, 1 - EPS)) - np.log(np.clip(u[name], EPS, 1 - EPS))
                    log_odds = log_odds + np.where(known[:, k], ratio[np.maximum(g[:, k], 0)], 0.0)
                p = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
                wp, wq = c * p, c * (1.0 - p)
                new_lam = (wp.sum() + prior_pairs * start.prior) / (c.sum() + prior_pairs)
                moved = abs(new_lam - lam)
                lam = float(min(1 - EPS, max(EPS, new_lam)))
                for k, name in enumerate(FIELDS):
                    if not enough[name]:
                        continue
                    col = known[:, k]
                    new_m = np.array(
                        [(wp[hot].sum() + prior_pairs * m0[name][i]) / (wp[col].sum() + prior_pairs)
                         for i, hot in enumerate(onehot[name])]
                    )  # fmt: skip
                    moved = max(moved, float(np.max(np.abs(new_m - m[name]))))
                    m[name] = new_m
                    if not fix_u:
                        new_u = np.array(
                            [(wq[hot].sum() + prior_pairs * u0[name][i]) / (wq[col].sum() + prior_pairs)
                             for i, hot in enumerate(onehot[name])]
                        )  # fmt: skip
                        moved = max(moved, float(np.max(np.abs(new_u - u[name]))))
                        u[name] = new_u
                meta["iterations"] += 1
                if moved < tol:
                    converged.append(True)
                    break
        meta["converged"] = len(converged) == len(stages)
    else:
        meta["kept_start"] = f"{n_pairs} candidate pairs < {min_pairs}"

    return FSModel(
        prior=float(min(1 - EPS, max(EPS, lam))),
        params={name: monotone(m[name].tolist(), u[name].tolist()) for name in FIELDS},
        u_random_exact=chance,
        tf=tables,
        meta=meta,
    )
