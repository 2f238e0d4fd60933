"""Match confidence and the merge decision: pure scoring, no database.

This module owns:
- the feature transforms (`TERMS`): each `Features` field becomes a few terms with a physical meaning
  (distance as "< 25 m", "< 100 m", "< 500 m", "> 2 km" and a clipped log; similarities as a level plus
  hinges near 1; booleans as separate "equal" and "differs" indicators). An unknown field gives every one
  of its terms 0, so it counts neither for nor against a match;
- `Model` (weights of a logistic model over those terms), `DEFAULT_MODEL` (fitted on
  `listings_dev.labelled` data by `bench/matching_quality.py --fit`), and `fit()`, the fitting code:
  L2-regularised logistic regression by projected Newton in plain numpy. Sign constraints keep the model
  monotone (a closer pin or an equal phone never lowers the confidence), whatever the data;
- `confidence(f)` in [0, 1], `explain(f)` (each field's contribution to the logit, for the review UI),
  and `decide(scored)`, which turns the scored candidates of one record into auto-merge / review / new.

Every one of these also takes a Fellegi–Sunter model (`listings.matching.fellegi_sunter.FSModel`, estimated
from the data): then `explain` gives each field's match weight in bits and ("prior", log2 prior odds),
which add up to the model's match weight, and `logit` is that weight in nats.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from listings.matching.features import Features
from listings.matching.fellegi_sunter import FSModel

__all__ = [
    "DEFAULT_MODEL",
    "TERMS",
    "TERM_NAMES",
    "AnyModel",
    "Decision",
    "Model",
    "Term",
    "confidence",
    "decide",
    "design_row",
    "explain",
    "fit",
    "logit",
    "reason_for",
]

Action = Literal["auto_merge", "review", "new"]
ReviewType = Literal["low_confidence_match", "multiple_close_matches"]


# --------------------------------------------------------------------------------------------------------
# Terms
# --------------------------------------------------------------------------------------------------------


def _hinge(value: float | None, knee: float) -> float:
    """0 below `knee`, rising linearly to 1 at 1.0: lets the model weight "nearly identical" on its own."""
    if value is None:
        return 0.0
    return max(0.0, value - knee) / (1.0 - knee)


def _level(value: float | None) -> float:
    return 0.0 if value is None else value


def _known(value: object) -> float:
    return 0.0 if value is None else 1.0


def _is(value: bool | None, want: bool) -> float:
    return 1.0 if value is want else 0.0


def _within(d: float | None, metres: float) -> float:
    return 1.0 if d is not None and d < metres else 0.0


def _log_distance(d: float | None) -> float:
    # log10 of metres clipped to [1 m, 100 km]: beyond that it is all "elsewhere".
    return 0.0 if d is None else math.log10(min(max(d, 1.0), 100_000.0))


def _same_address(f: Features) -> float:
    return 1.0 if f.house_number_eq is True and (f.address_sim or 0.0) >= 0.8 else 0.0


def _cat_same(c: float | None) -> float:
    return 0.0 if c is None else max(0.0, c - 0.5) * 2.0


def _cat_diff(c: float | None) -> float:
    return 0.0 if c is None else max(0.0, 0.5 - c) * 2.0


@dataclass(frozen=True)
class Term:
    name: str
    field: str  # the Features field it comes from (explain() sums terms per field)
    sign: int  # +1: weight >= 0, -1: weight <= 0, 0: free (the "known" indicators)
    value: Callable[[Features], float]


TERMS: tuple[Term, ...] = (
    Term("name_known", "name", 0, lambda f: _known(f.name_jw)),
    Term("name_jw", "name", 1, lambda f: _level(f.name_jw)),
    Term("name_jw>0.9", "name", 1, lambda f: _hinge(f.name_jw, 0.9)),
    Term("name_token", "name", 1, lambda f: _level(f.name_token)),
    Term("name_token>0.8", "name", 1, lambda f: _hinge(f.name_token, 0.8)),
    Term(
        "name_token=1",
        "name",
        1,
        lambda f: 1.0 if f.name_token is not None and f.name_token >= 0.999 else 0.0,
    ),
    Term("name_partial", "name", 1, lambda f: _level(f.name_partial)),
    Term("name_partial>0.9", "name", 1, lambda f: _hinge(f.name_partial, 0.9)),
    Term("address_known", "address", 0, lambda f: _known(f.address_sim)),
    Term("address_sim", "address", 1, lambda f: _level(f.address_sim)),
    Term("address_sim>0.85", "address", 1, lambda f: _hinge(f.address_sim, 0.85)),
    Term("house_number_eq", "house_number", 1, lambda f: _is(f.house_number_eq, True)),
    Term("house_number_differs", "house_number", -1, lambda f: _is(f.house_number_eq, False)),
    Term("unit_differs", "unit", -1, lambda f: _is(f.unit_eq, False)),
    Term("distance_known", "distance", 0, lambda f: _known(f.distance_m)),
    Term("distance<25m", "distance", 1, lambda f: _within(f.distance_m, 25.0)),
    Term("distance<100m", "distance", 1, lambda f: _within(f.distance_m, 100.0)),
    Term("distance<500m", "distance", 1, lambda f: _within(f.distance_m, 500.0)),
    Term("log10_distance", "distance", -1, lambda f: _log_distance(f.distance_m)),
    Term(
        "distance>2km", "distance", -1, lambda f: 0.0 if f.distance_m is None or f.distance_m <= 2000 else 1.0
    ),
    Term("postal_eq", "postal", 1, lambda f: _is(f.same_postal, True)),
    Term("postal_differs", "postal", -1, lambda f: _is(f.same_postal, False)),
    Term("city_eq", "city", 1, lambda f: _is(f.same_city, True)),
    Term("city_differs", "city", -1, lambda f: _is(f.same_city, False)),
    Term("phone_eq", "phone", 1, lambda f: _is(f.phone_eq, True)),
    Term("phone_differs", "phone", -1, lambda f: _is(f.phone_eq, False)),
    Term("website_eq", "website", 1, lambda f: _is(f.website_eq, True)),
    Term("website_differs", "website", -1, lambda f: _is(f.website_eq, False)),
    # Two independent identifiers agreeing is stronger evidence than the sum of each alone (the name may
    # have changed completely, "The Red Lion" / "Red Lion Pub"). Products of increasing indicators with
    # weights >= 0 keep the model monotone.
    Term("phone_eq&same_address", "phone", 1, lambda f: _is(f.phone_eq, True) * _same_address(f)),
    Term("website_eq&same_address", "website", 1, lambda f: _is(f.website_eq, True) * _same_address(f)),
    Term("phone_eq&website_eq", "phone", 1, lambda f: _is(f.phone_eq, True) * _is(f.website_eq, True)),
    Term("category_same", "category", 1, lambda f: _cat_same(f.category_compat)),
    Term("category_differs", "category", -1, lambda f: _cat_diff(f.category_compat)),
    Term("image_known", "image", 0, lambda f: _known(f.image_sim)),
    Term("image_sim>0.8", "image", 1, lambda f: _hinge(f.image_sim, 0.8)),
    Term("image_sim>0.9", "image", 1, lambda f: _hinge(f.image_sim, 0.9)),
)
TERM_NAMES: tuple[str, ...] = tuple(t.name for t in TERMS)


def design_row(f: Features) -> list[float]:
    """The term values of one pair, in `TERMS` order."""
    return [t.value(f) for t in TERMS]


# --------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A logistic model: confidence = sigmoid(bias + sum(weight * term))."""

    weights: tuple[float, ...]
    bias: float
    terms: tuple[str, ...] = TERM_NAMES

    def __post_init__(self) -> None:
        if self.terms != TERM_NAMES:
            raise ValueError("model terms do not match TERMS: refit it with fit()")
        if len(self.weights) != len(self.terms):
            raise ValueError(f"{len(self.weights)} weights for {len(self.terms)} terms")

    def named(self) -> dict[str, float]:
        return dict(zip(self.terms, self.weights, strict=True))


def sigmoid(z: float) -> float:
    """The logistic function, without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@functools.lru_cache(maxsize=8)
def _active_terms(model: Model) -> tuple[tuple[float, Term], ...]:
    # Terms the fit zeroed cannot change a logit: skip them (scoring is the match step's hot loop).
    return tuple((w, t) for w, t in zip(model.weights, TERMS, strict=True) if w != 0.0)


AnyModel = Model | FSModel
"""What scores a pair: the logistic model or a Fellegi–Sunter one."""


def logit(f: Features, model: AnyModel | None = None) -> float:
    if isinstance(model, FSModel):
        return model.match_weight(f) * math.log(2.0)
    m = model or DEFAULT_MODEL
    z = m.bias
    for w, term in _active_terms(m):
        z += w * term.value(f)
    return z


def confidence(f: Features, model: AnyModel | None = None) -> float:
    """The probability that the pair is the same place, in [0, 1]."""
    if isinstance(model, FSModel):
        return model.probability(f)
    return sigmoid(logit(f, model))


def explain(f: Features, model: AnyModel | None = None) -> list[tuple[str, float]]:
    """Each known Features field's contribution to the logit, largest first, then ("bias", b).

    The values add up to the logit. Unknown fields contribute exactly 0 and are left out. With a
    Fellegi–Sunter model: each comparison's weight in bits (term-frequency adjustment included), then
    ("prior", log2 of the prior odds); they add up to the match weight.
    """
    if isinstance(model, FSModel):
        parts = sorted(model.contributions(f).items(), key=lambda kv: (-abs(kv[1]), kv[0]))
        return [*parts, ("prior", model.prior_weight)]
    m = model or DEFAULT_MODEL
    per_field: dict[str, float] = {}
    for w, term in _active_terms(m):
        x = term.value(f)
        if x != 0.0:
            per_field[term.field] = per_field.get(term.field, 0.0) + w * x
    items = sorted(per_field.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    return [*items, ("bias", m.bias)]


def _describe_field(name: str, f: Features) -> str:
    if name == "name":
        return f"name {f.name_token:.2f}" if f.name_token is not None else "name"
    if name == "address":
        if f.house_number_eq is False:
            return "house number differs"
        return f"address {f.address_sim:.2f}" if f.address_sim is not None else "same house number"
    if name == "distance":
        d = f.distance_m
        if d is None:
            return "distance"
        return f"{d:.0f} m apart" if d < 1000 else f"{d / 1000:.1f} km apart"
    if name == "category":
        return "same category" if (f.category_compat or 0.0) > 0.5 else "other category"
    if name == "image":
        return f"photo match {f.image_sim:.2f}" if f.image_sim is not None else "photos"
    flags = {
        "house_number": f.house_number_eq,
        "unit": f.unit_eq,
        "postal": f.same_postal,
        "city": f.same_city,
        "phone": f.phone_eq,
        "website": f.website_eq,
    }
    label = name.replace("_", " ")
    return f"same {label}" if flags.get(name) else f"{label} differs"


def reason_for(f: Features, model: AnyModel | None = None, *, top: int = 4) -> str:
    """A one-line human explanation: the strongest evidence for and against a match."""
    parts = [(k, v) for k, v in explain(f, model) if k not in ("bias", "prior") and abs(v) >= 0.05]
    pro = [f"{_describe_field(k, f)} ({v:+.1f})" for k, v in parts if v > 0][:top]
    con = [f"{_describe_field(k, f)} ({v:+.1f})" for k, v in parts if v < 0][:top]
    text = ", ".join(pro) if pro else "no evidence for a match"
    return f"{text}; against: {', '.join(con)}" if con else text


# --------------------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------------------


def fit(
    pairs: Sequence[tuple[Features, bool]], *, l2: float = 1.0, max_iter: int = 100, tol: float = 1e-7
) -> Model:
    """Fit the logistic model by projected Newton with an L2 penalty on the weights (not the bias).

    Weights with a sign constraint (`Term.sign`) are kept on their side of 0, so the fitted model is
    monotone in the evidence even where the training data is thin.
    """
    if not pairs:
        raise ValueError("no training pairs")
    x = np.array([design_row(f) for f, _ in pairs], dtype=float)
    y = np.array([1.0 if label else 0.0 for _, label in pairs])
    n, k = x.shape
    x1 = np.hstack([x, np.ones((n, 1))])
    signs = np.array([t.sign for t in TERMS] + [0])
    penalty = np.array([l2] * k + [0.0])
    theta = np.zeros(k + 1)

    def objective(t: np.ndarray) -> float:
        z = x1 @ t
        # log(1 + e^z) - y z, computed without overflow
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(penalty * t * t))

    def project(t: np.ndarray) -> np.ndarray:
        t = t.copy()
        t[(signs > 0) & (t < 0)] = 0.0
        t[(signs < 0) & (t > 0)] = 0.0
        return t

    current = objective(theta)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(x1 @ theta)))
        grad = x1.T @ (p - y) + penalty * theta
        hess = (x1 * (p * (1 - p))[:, None]).T @ x1 + np.diag(penalty) + 1e-9 * np.eye(k + 1)
        # A weight held at its bound whose gradient pushes it further out stays there this step.
        at_bound = ((signs > 0) & (theta <= 0) & (grad > 0)) | ((signs < 0) & (theta >= 0) & (grad < 0))
        free = ~at_bound
        step = np.zeros(k + 1)
        step[free] = np.linalg.solve(hess[np.ix_(free, free)], grad[free])
        t = 1.0
        while True:
            candidate = project(theta - t * step)
            value = objective(candidate)
            if value <= current - 1e-4 * float(grad @ (theta - candidate)) or t < 1e-10:
                break
            t /= 2
        moved = float(np.max(np.abs(candidate - theta)))
        theta, current = candidate, min(value, current)
        if moved < tol:
            break
    return Model(weights=tuple(float(v) for v in theta[:k]), bias=float(theta[k]))


# --------------------------------------------------------------------------------------------------------
# Decision
# --------------------------------------------------------------------------------------------------------


def auto_mergeable(f: Features) -> bool:
    """Whether evidence alone may merge the pair. Not when each name has a distinctive word the other lacks
    (`Features.name_conflict`), nor when both give a different house number or unit (suite, building,
    stand): a shared switchboard, a street and a system's name can make "Hôtel Silver" and "Hôtel Seoul",
    two campuses of one hospital system or two suites of one address score as high as one place written
    twice; a renamed or moved place looks the same, and only a person tells them apart."""
    return not f.name_conflict and f.unit_eq is not False and f.house_number_eq is not False


@dataclass(frozen=True)
class Decision:
    action: Action
    candidate_id: int | None
    confidence: float
    reason: str
    review_type: ReviewType | None = None
    alternatives: tuple[tuple[int, float], ...] = ()  # the other close candidates, for the reviewer


def decide(
    scored: Sequence[tuple[int, float]],
    *,
    auto_threshold: float = 0.8,
    review_threshold: float = 0.5,
    margin: float = 0.1,
    features: Mapping[int, Features] | None = None,
    model: AnyModel | None = None,
) -> Decision:
    """What to do with one incoming record given its scored candidates (candidate_id, confidence).

    - auto_merge: the best is above `auto_threshold` and no other candidate is within `margin` of it;
    - review "multiple_close_matches": another candidate at or above `review_threshold` is within
      `margin` of the best (two listings fit about equally: a human picks);
    - review "low_confidence_match": the best is in [review_threshold, auto_threshold] (or above it
      with only a weak rival within the margin);
    - new: no candidate reaches `review_threshold`.
    `features` (per candidate id) makes the reason name the evidence behind the best candidate.
    """
    if not 0.0 <= review_threshold <= auto_threshold <= 1.0:
        raise ValueError("need 0 <= review_threshold <= auto_threshold <= 1")
    if margin < 0:
        raise ValueError("margin must be >= 0")
    # NaN or out-of-range scores from a broken scorer must not win: clamp, NaN counts as 0.
    ranked = sorted(
        ((cid, 0.0 if math.isnan(s) else min(1.0, max(0.0, s))) for cid, s in scored),
        key=lambda cs: (-cs[1], cs[0]),
    )
    if not ranked:
        return Decision("new", None, 0.0, "no candidate listing nearby, at this postal code or by name")
    best_id, best = ranked[0]
    evidence = ""
    if features is not None and best_id in features:
        evidence = f": {reason_for(features[best_id], model)}"
    others = ranked[1:]
    if best < review_threshold:
        runner = f" (best candidate {best_id} at {best:.2f}{evidence})"
        return Decision("new", None, best, f"no candidate reaches {review_threshold:.2f}{runner}")
    close = tuple((cid, s) for cid, s in others if best - s <= margin)
    rivals = tuple((cid, s) for cid, s in close if s >= review_threshold)
    if rivals:
        listed = ", ".join(f"{cid} at {s:.2f}" for cid, s in rivals)
        return Decision(
            "review",
            best_id,
            best,
            f"{len(rivals) + 1} candidates within {margin:.2f}: {best_id} at {best:.2f}{evidence}; {listed}",
            "multiple_close_matches",
            rivals,
        )
    conflict = features is not None and best_id in features and not auto_mergeable(features[best_id])
    if best > auto_threshold and not close and not conflict:
        nxt = f"; next best {others[0][0]} at {others[0][1]:.2f}" if others else ""
        return Decision("auto_merge", best_id, best, f"{best_id} at {best:.2f}{evidence}{nxt}")
    why = "below" if best <= auto_threshold else "a weak rival within the margin of"
    if conflict and best > auto_threshold and not close:
        why = "above, but the names, house numbers or units differ (a person decides), the"
    return Decision(
        "review",
        best_id,
        best,
        f"best candidate {best_id} at {best:.2f} is {why} the auto-merge threshold {auto_threshold:.2f}{evidence}",
        "low_confidence_match",
        close,
    )


# Fitted by `python bench/matching_quality.py --fit` on labelled.generate(20_000, 5_000, seed=s) for s in
# 1, 1001, 2001, 3001 (147,692 candidate pairs), l2=1.0; judged on seeds 2-5, which it never saw.
DEFAULT_MODEL = Model(
    weights=(
        0.0000,  # name_known
        0.0000,  # name_jw
        1.5651,  # name_jw>0.9
        1.2424,  # name_token
        3.7636,  # name_token>0.8
        0.2631,  # name_token=1
        1.6773,  # name_partial
        3.6547,  # name_partial>0.9
        0.0000,  # address_known
        0.6706,  # address_sim
        0.0000,  # address_sim>0.85
        1.8956,  # house_number_eq
        -1.8956,  # house_number_differs
        -4.0000,  # unit_differs: set by hand, the generator writes no units (two stands of one market hall)
        -0.9943,  # distance_known
        0.0000,  # distance<25m
        0.0000,  # distance<100m
        2.2285,  # distance<500m
        0.0000,  # log10_distance
        -2.5075,  # distance>2km
        0.6847,  # postal_eq
        -4.7292,  # postal_differs
        0.0000,  # city_eq
        0.0000,  # city_differs
        2.9606,  # phone_eq
        -2.2238,  # phone_differs
        0.3301,  # website_eq
        -2.3378,  # website_differs
        0.0000,  # phone_eq&same_address
        4.2914,  # website_eq&same_address
        0.9973,  # phone_eq&website_eq
        0.5924,  # category_same
        -0.4084,  # category_differs
        -1.4012,  # image_known
        1.9233,  # image_sim>0.8
        2.0028,  # image_sim>0.9
    ),
    bias=-10.0357,
)
