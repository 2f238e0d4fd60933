"""Conditional geotagging: the query and result types and the interfaces between the pieces.

This package owns turning a listing without coordinates into a point, at a bounded cost:

- `GeocodeQuery` / `GeocodeResult` (here): what is asked and what comes back. Pure, no I/O.
- `PlacesLookup` (here): what a provider client does: one query → one `LookupAnswer`, asking `permit()`
  before each billable HTTP request. `listings.geocode.places.GooglePlacesClient` is the Google one.
- `listings.geocode.service.Geotagger`: the cache (`pipeline.geocode_cache`), the per-run and per-day
  budgets and the usage counts (`pipeline.api_usage`) around a client. The pipeline calls only this.

Statuses: `ok` (a point), `zero_results` (the provider knows no such place), `error` (the call failed:
not cached, may be retried by a later run), `over_budget` (refused before a call, or before the next call
of a lookup, because a budget is spent), `skipped` (the query is too thin to be worth a paid call).

This module imports nothing heavy, so that a DAG file may import it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, Protocol

__all__ = [
    "STATUSES",
    "GeocodeQuery",
    "GeocodeResult",
    "GeocodeStatus",
    "LookupAnswer",
    "PlacesLookup",
    "country_name",
]

GeocodeStatus = Literal["ok", "zero_results", "error", "over_budget", "skipped"]
STATUSES: tuple[GeocodeStatus, ...] = ("ok", "zero_results", "error", "over_budget", "skipped")

# Bump when the normalisation changes: old cache rows then simply stop matching instead of matching wrongly.
_KEY_VERSION = "q1"
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def _fold(text: str | None) -> str:
    """Case, accent, punctuation and whitespace folded: "Côte-des-Neiges " == "cote des neiges"."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_ALNUM.sub(" ", bare).strip()


@cache
def country_name(code: str) -> str:
    """English name of an ISO 3166 alpha-2 code ("CA" → "Canada"), or the code itself when unknown.

    Why: in free text "CA" reads as California, and Find Place has no `region` parameter to say otherwise.
    """
    code = code.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", code) or code == "ZZ":  # CLDR calls ZZ "Unknown Region"
        return code
    try:
        from babel import Locale  # installed with Airflow's task SDK; optional here

        name = Locale("en").territories.get(code)
    except Exception:  # babel missing or its data unreadable: the code still works, less well
        name = None
    return str(name) if name else code


@dataclass(frozen=True)
class GeocodeQuery:
    """What to look for. `country` is an ISO 3166 alpha-2 code (the DMO's country when the record has none).

    `bias` optionally narrows the search to a box (south, west, north, east), e.g. the DMO's territory; it
    is a preference only, so it is not part of the cache key (the same text finds the same place).
    """

    name: str | None
    address: str | None
    city: str | None
    state: str | None
    zip: str | None
    country: str
    bias: tuple[float, float, float, float] | None = field(default=None, compare=False)

    def _parts(self) -> list[str]:
        locality = " ".join(p.strip() for p in (self.state, self.zip) if p and p.strip())
        parts = [self.name, self.address, self.city, locality]
        out = [p.strip() for p in parts if p and p.strip()]
        if self.country.strip():
            out.append(country_name(self.country))
        return out

    def text(self) -> str:
        """The query as a person would type it: "Name, 123 rue X, City, QC H2X 1Y4, Canada"."""
        return ", ".join(self._parts())

    def key(self) -> str:
        """A stable hash of the folded fields, so equal queries written differently share one cache row.

        Fields stay separate (a name "Laval" is not a city "Laval"); the postal code ignores spaces
        ("H2X1Y4" == "h2x 1y4").
        """
        fields = (
            _fold(self.name),
            _fold(self.address),
            _fold(self.city),
            _fold(self.state),
            _fold(self.zip).replace(" ", ""),
            _fold(self.country),
        )
        return hashlib.sha256("|".join((_KEY_VERSION, *fields)).encode()).hexdigest()

    def searchable(self) -> bool:
        """Worth a paid call: something to find (a name or a street address) and somewhere to find it (a
        street address, a city or a postal code). A bare name ("Tim Hortons", CA) is thousands of places."""
        has_what = bool(_fold(self.name) or _fold(self.address))
        has_where = bool(_fold(self.address) or _fold(self.city) or _fold(self.zip))
        return has_what and has_where


@dataclass(frozen=True)
class GeocodeResult:
    status: GeocodeStatus
    lat: float | None
    lng: float | None
    place_id: str | None
    formatted_address: str | None
    provider: str
    from_cache: bool
    message: str | None  # why not ok: the provider's error message, the budget spent, what was skipped

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def without_point(
        cls, status: GeocodeStatus, provider: str, message: str | None, *, from_cache: bool = False
    ) -> GeocodeResult:
        return cls(status, None, None, None, None, provider, from_cache, message)


@dataclass(frozen=True)
class LookupAnswer:
    """What a provider client made of one query.

    `status` is one of ok / zero_results / error / over_budget (the client asked `permit()` and was told
    no). `calls` counts the HTTP requests actually sent (each one is billable, retries included).
    `response` is what is worth keeping in the cache (bodies and URLs with the API key redacted).
    `fatal` says that no later query can succeed either (a refused key, a spent quota).
    """

    status: Literal["ok", "zero_results", "error", "over_budget"]
    calls: int
    lat: float | None = None
    lng: float | None = None
    place_id: str | None = None
    formatted_address: str | None = None
    message: str | None = None
    response: dict[str, Any] = field(default_factory=dict)
    fatal: bool = False


class PlacesLookup(Protocol):
    """A geocoding provider client, as the `Geotagger` uses it."""

    def lookup(self, query: GeocodeQuery, *, permit: Callable[[], bool]) -> LookupAnswer:
        """Geocode `query`; call `permit()` right before each HTTP request and send it only when True."""
        ...
