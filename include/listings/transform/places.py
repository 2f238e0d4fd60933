"""Region and city keys for matching: one key per region and per city however a source writes it.

- `region_key(state, country)`: the ISO 3166-2 subdivision code without the country ("Québec", "Quebec",
  "QC", "Province de Québec" -> "QC"; "California", "Calif." -> "CA"), from pycountry's codes and English
  names plus the other names in `data/place_aliases.csv`; a value it does not know is kept, folded and
  upper-cased (so two sources that write it alike still meet);
- `city_match_key(city, state, country)`: the city's matching key (`normalize.city_key`), with the
  city's other names, boroughs and neighbourhoods of the alias file brought to the city they are matched
  with ("NYC", "Brooklyn", "New York City" -> "new york").
Both are for matching only (blocks and features), never shown and never part of a record hash.
"""

from __future__ import annotations

import csv
import functools
import re
from importlib import resources

import pycountry

from listings.transform.normalize import city_key, fold

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _fold(value: str | None) -> str:
    """Case, accents and punctuation folded: "Colombie-Britannique" -> "colombie britannique", "D.C." -> "dc"."""
    return " ".join(_NON_ALNUM.sub(" ", fold(value).replace(".", "")).split())


@functools.cache
def _aliases() -> tuple[dict[tuple[str, str], str], dict[tuple[str, str, str], str]]:
    """(country, folded alias) -> region code; (country, region, city key) -> city key, and with region ""
    for an alias that means one city only in its whole country (a record without a region still finds it)."""
    regions: dict[tuple[str, str], str] = {}
    cities: dict[tuple[str, str, str], str] = {}
    anywhere: dict[tuple[str, str], set[str]] = {}
    text = resources.files("listings.data").joinpath("place_aliases.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    for row in rows:
        country = row["country"].strip().upper()
        if row["kind"] == "region":
            regions[country, _fold(row["alias"])] = row["canonical"].strip().upper()
        else:
            alias, canonical = city_key(row["alias"]), city_key(row["canonical"])
            cities[country, row["region"].strip().upper(), alias] = canonical
            anywhere.setdefault((country, alias), set()).add(canonical)
    for (country, alias), targets in anywhere.items():
        if len(targets) == 1:
            cities.setdefault((country, "", alias), next(iter(targets)))
    return regions, cities


@functools.cache
def _regions(country: str) -> dict[str, str]:
    """Folded code and name -> code, for one country (pycountry's subdivisions, then the alias file)."""
    out: dict[str, str] = {}
    for sub in pycountry.subdivisions.get(country_code=country) or ():  # type: ignore[no-untyped-call]
        code = sub.code.split("-", 1)[1]
        out[_fold(code)] = code
        out.setdefault(_fold(sub.name), code)
    aliases, _ = _aliases()
    out.update({alias: code for (cc, alias), code in aliases.items() if cc == country})
    return out


def _country(country: str | None) -> str:
    return (country or "").strip().upper() or "CA"


@functools.lru_cache(maxsize=4096)
def region_key(state: str | None, country: str | None = None) -> str | None:
    """The region's code ("QC", "CA"), or the folded value when it is not a known name; None when empty."""
    folded = _fold(state)
    if not folded:
        return None
    return _regions(_country(country)).get(folded) or folded.upper()


@functools.lru_cache(maxsize=16384)
def city_match_key(city: str | None, state: str | None = None, country: str | None = None) -> str:
    """The city's matching key, with the alias file's other names brought to their city ("" when empty)."""
    key = city_key(city)
    if not key:
        return ""
    _, cities = _aliases()
    cc = _country(country)
    return cities.get((cc, region_key(state, cc) or "", key)) or cities.get((cc, "", key)) or key
