"""Opening hours: what sources publish, parsed into the seed's `opening_dates` / `opening_hours` rows.

This module owns the interpretation of opening-hours values (pure functions, no DB):

- free text in English and French (Québec style: "Lun-Ven 9h-17h", "Sam. et dim. : 10 h à 16 h",
  "Tous les jours 11 h 30 – 22 h", "Mon–Sat 10 a.m. – 6 p.m.", "Fri-Sat 6pm-2am", seasons such as
  "June 24 to Labour Day: daily 9-5; rest of the year: weekends 10-4"), plus a little German/Spanish;
- schema.org `openingHours` strings and `openingHoursSpecification` objects (and the website
  connector's text rendering of them), the common subset of OSM `opening_hours`, HERE `openingHours`
  objects (`structured` first, else `text`), Google-style `periods` / `weekday_text`, day-keyed dicts,
  and lists of any of these (merged).

Model (what `rows` stages):

- a period is one `opening_dates` row: `start_date`/`end_date` are "MM-DD" for a yearly season or
  "YYYY-MM-DD" for a dated one; both None = all year. A dated period overrides the undated one on the
  dates it covers, for the days it says something about ("Mo-Su 10:00-18:00; Jan-Mar off" is an
  all-year period plus a closed Jan–Mar one; in "Mo-Fr 09:00-17:00; Jun 24-Sep 01 Sa 10:00-16:00"
  weekdays keep their hours in summer), the shortest one where periods overlap; as in OSM, a night
  stops at midnight when another rule governs the next day.
  A period may carry no hours at all ("Du 1er mai au 31 octobre": the dates are known, the hours not).
- its hours are `opening_hours` rows: day_id 1 Monday … 7 Sunday, "HH:MM" 24-hour times, close
  "24:00" for midnight; close < open means the day's opening runs past midnight ("18:00"–"02:00").
  A day may have several intervals ("09:00-12:00", "13:00-17:00").
- a closed day is staged as a row with null times.

`parse_hours` never raises. `status` says how much was understood: `parsed` (everything that was said
is in `periods`), `partial` (something is in `periods`, some of the value is not: `flags` name it),
`unparsed` (nothing could be structured; `text` keeps the value) and `empty`. Flags are a small
vocabulary (`by_appointment`, `weather_dependent`, `variable_hours`, `seasonal`, `public_holidays`,
`check_in_out`, `no_times` (days said without times), `open_end` ("from 6pm"), `temporary`,
`unsupported_object`, `too_long`, `unrecognized`) plus `skipped:<fragment of the original text>` (at
most 10); `assumed_daily` (times given without days were taken as every day) and `approximate_dates`
(Labour Day, "mi-juin", "summer", … resolved to a fixed day) are informational and do not make a
result partial.

OSM `opening_hours` strings (what the `opening_hours` reference evaluator accepts, with 2-digit hours)
are read by OSM's rules (see "OSM opening_hours" below): a later `;` rule replaces earlier ones for the
days it selects, `,` adds, `||` and selectors the model cannot hold (week numbers, `We[4-5]`, easter,
SH, sun times, `unknown`) are kept as text (`skipped:<rule>`), and a `parsed` reading is checked
against the reference evaluator over a year (`osm_mismatch` when they differ). `overnight_cut` (a
night cut at midnight by the next day's rule, as OSM reads it) is informational. Times are kept as
written: 23:59 is not 24:00.

`to_text` renders a result canonically in OSM syntax ("Mo-Fr 09:00-17:00; Sa 10:00-16:00; Su off",
"Jun 24-Sep 01 Mo-Su 09:00-17:00", "24/7"), which `parse_hours` reads back to the same periods: use it
for display and for hashing (two spellings of the same hours hash the same).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias

import opening_hours as _osm

__all__ = [
    "ALL_DAYS",
    "INFO_FLAGS",
    "DayHours",
    "HoursRow",
    "OpeningPeriod",
    "ParsedHours",
    "parse_hours",
    "rows",
    "to_text",
]

ALL_DAYS: Final = (1, 2, 3, 4, 5, 6, 7)
# Flags that record an assumption rather than something left out: they do not make a result partial.
INFO_FLAGS: Final = frozenset({"assumed_daily", "approximate_dates", "overnight_cut"})
# (period seq, start_date, end_date, hours seq, day_id, open_time, close_time); the hours part is all
# None for a period without hours, the times None for a closed day.
HoursRow: TypeAlias = tuple[int, str | None, str | None, int | None, int | None, str | None, str | None]

_MAX_TEXT: Final = 4000  # longer strings are cut: opening hours are never that long, regexes stay fast
_MAX_DEPTH: Final = 8
_DAY = 1440


@dataclass(frozen=True)
class DayHours:
    day_id: int
    open_time: str
    close_time: str


@dataclass(frozen=True)
class OpeningPeriod:
    start_date: str | None
    end_date: str | None
    hours: tuple[DayHours, ...]
    closed_days: tuple[int, ...]


@dataclass(frozen=True)
class ParsedHours:
    periods: tuple[OpeningPeriod, ...]
    text: str | None
    status: str
    flags: tuple[str, ...]


# ================================================================================================
# Intervals (minutes; open 0..1439, close 1..1440, close < open = past midnight)
_Interval: TypeAlias = tuple[int, int]
_Key: TypeAlias = tuple[str | None, str | None]


def _unroll(iv: _Interval) -> tuple[int, int]:
    return (iv[0], iv[1] if iv[1] > iv[0] else iv[1] + _DAY)


def _overlaps(a: _Interval, b: _Interval) -> bool:
    a0, a1 = _unroll(a)
    b0, b1 = _unroll(b)
    return any(a0 < b1 + s and b0 + s < a1 for s in (-_DAY, 0, _DAY))


def _subtract(iv: _Interval, cut: _Interval) -> list[_Interval]:
    pieces = [_unroll(iv)]
    c0, c1 = _unroll(cut)
    for shift in (-_DAY, 0, _DAY):
        lo, hi = c0 + shift, c1 + shift
        nxt: list[tuple[int, int]] = []
        for p0, p1 in pieces:
            if hi <= p0 or lo >= p1:
                nxt.append((p0, p1))
                continue
            if lo > p0:
                nxt.append((p0, lo))
            if hi < p1:
                nxt.append((hi, p1))
        pieces = nxt
    out: list[_Interval] = []
    for p0, p1 in pieces:
        o, c = p0 % _DAY, p1 if p1 <= _DAY else p1 - _DAY
        if p1 > p0 and o != c:
            out.append((o, c))
    return out


def _merge(intervals: Iterable[_Interval]) -> list[_Interval]:
    """Overlapping or touching intervals of a day as one ("9-17, 12-20" is 09:00-20:00)."""
    out: list[tuple[int, int]] = []
    for o, c in sorted(_unroll(iv) for iv in set(intervals)):
        if out and o <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], c))
        else:
            out.append((o, c))
    return [(0, _DAY) if c - o >= _DAY else (o, c if c <= _DAY else c - _DAY) for o, c in out]


def _norm_interval(o: int, c: int) -> _Interval | None:
    """Open/close minutes as read → canonical, or None: 24:00 opens at 00:00, 00:00 closes at 24:00,
    an extended close (OSM "26:00") is the next day's time. 23:59 stays 23:59: it is what was written,
    and a minute before midnight is not midnight (OSM and its evaluators read it so)."""
    if o == _DAY:
        o = 0
    if c == 0:
        c = _DAY
    if c > _DAY:
        c -= _DAY
    if not (0 <= o < _DAY and 0 < c <= _DAY) or o == c:
        return None
    return (o, c)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ================================================================================================
# Accumulating rules into periods
@dataclass
class _Acc:
    hours: dict[int, list[_Interval]] = field(default_factory=dict)
    strong: set[int] = field(default_factory=set)  # closed days said explicitly ("closed Mondays")
    weak: set[int] = field(default_factory=set)  # closed by a bare "Closed": any opening said wins
    breaks: list[tuple[frozenset[int] | None, tuple[_Interval, ...]]] = field(default_factory=list)


class _Builder:
    def __init__(self) -> None:
        self.acc: dict[_Key, _Acc] = {}
        self.changes = 0
        self.said: set[tuple[_Key, int]] = set()  # days given hours by the text being read

    def touch(self, key: _Key) -> _Acc:
        if key not in self.acc:
            self.acc[key] = _Acc()
            if key != (None, None):
                self.changes += 1
        return self.acc[key]

    def add_hours(
        self, key: _Key, days: Iterable[int], intervals: list[_Interval], *, replace: bool = False
    ) -> None:
        acc = self.touch(key)
        for day in days:
            have = acc.hours.get(day, [])
            # A later rule of the same text that names the day replaces what it had ("Mon-Fri 8-12;
            # Wed 2-4": Wednesday is 14:00-16:00), as OSM's ";" does. Across the entries of a list
            # (schema.org openingHours values), one that overlaps what a day has replaces it, a
            # disjoint one adds to it (split shifts: ["Mo 09:00-12:00", "Mo 13:00-17:00"]).
            if (replace and (key, day) in self.said) or any(_overlaps(a, b) for a in have for b in intervals):
                have = []
            acc.hours[day] = have + [iv for iv in intervals if iv not in have]
            self.said.add((key, day))
            self.changes += 1

    def add_closed(self, key: _Key, days: Iterable[int], *, strong: bool) -> None:
        acc = self.touch(key)
        (acc.strong if strong else acc.weak).update(days)
        self.changes += 1

    def add_break(self, key: _Key, days: frozenset[int] | None, intervals: tuple[_Interval, ...]) -> None:
        self.touch(key).breaks.append((days, intervals))
        self.changes += 1

    def build(self) -> tuple[OpeningPeriod, ...]:
        periods: list[OpeningPeriod] = []
        for key in sorted(self.acc, key=lambda k: (k != (None, None), k[0] or "", k[1] or "")):
            acc = self.acc[key]
            hours = {d: list(ivs) for d, ivs in acc.hours.items() if d not in acc.strong}
            for days, cuts in acc.breaks:
                for day in list(hours) if days is None else days:
                    ivs = hours.get(day, [])
                    for cut in cuts:
                        ivs = [piece for iv in ivs for piece in _subtract(iv, cut)]
                    hours[day] = ivs
            hours = {d: ivs for d, ivs in hours.items() if ivs}
            closed = acc.strong | (acc.weak - set(hours))
            day_hours = tuple(
                DayHours(d, _hhmm(o), _hhmm(c)) for d in sorted(hours) for o, c in _merge(hours[d])
            )
            if key == (None, None) and not day_hours and not closed:
                continue
            periods.append(OpeningPeriod(key[0], key[1], day_hours, tuple(sorted(closed))))
        return tuple(periods)


@dataclass
class _Rule:
    dates: list[_Key] | None = None  # None: undated (all year)
    dated: bool = False  # dates were said, possibly "all year" (then a trailing date leaves it alone)
    days: set[int] | None = None  # None: not said
    ph: bool = False
    intervals: list[_Interval] = field(default_factory=list)
    closed: bool = False
    except_mode: bool = False
    except_closed: set[int] = field(default_factory=set)
    except_open: set[int] = field(default_factory=set)
    sealed: bool = False  # a trailing date closed it: more times start a new rule

    def has_content(self) -> bool:
        return self.days is not None or self.ph or bool(self.intervals) or self.closed


def _emit(rule: _Rule, builder: _Builder, flags: set[str], *, quiet_no_times: bool = False) -> None:
    keys: list[_Key] = rule.dates if rule.dated and rule.dates else [(None, None)]
    if rule.ph:
        flags.add("public_holidays")
    implied = rule.days is None
    days = set() if implied and rule.ph else set(ALL_DAYS) if implied else set(rule.days or ())
    days -= rule.except_closed | rule.except_open
    for key in keys:
        builder.touch(key)
        if rule.closed and rule.intervals:
            builder.add_break(key, None if implied else frozenset(days), tuple(rule.intervals))
        elif rule.closed:
            builder.add_closed(key, days, strong=not implied)
        elif rule.intervals:
            builder.add_hours(key, sorted(days), rule.intervals, replace=not implied)
            if implied and days:
                flags.add("assumed_daily")
        elif days and not implied and not quiet_no_times:
            flags.add("no_times")
        if rule.except_closed:
            builder.add_closed(key, rule.except_closed, strong=True)


# ================================================================================================
# Text: folding and tokens
_DASHES = "-‐‑‒–—―−﹘﹣－~"
_APOSTROPHES = "'’‘`´ʼ"
_QUOTES = '"“”«»„'


def _fold(text: str) -> tuple[str, list[int]]:
    """Casefolded, accent-free text and, for each of its characters, the index it came from (so a
    skipped fragment is reported as written)."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch in _DASHES:
            rep = "-"
        elif ch in _APOSTROPHES:
            rep = "'"
        elif ch in _QUOTES:
            rep = '"'
        elif ch.isspace():
            rep = " "
        elif ch == "…":
            rep = ch
        else:
            decomposed = unicodedata.normalize("NFKD", ch)
            rep = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
        out.append(rep)
        origin.extend([i] * len(rep))
    return "".join(out), origin


_MONTH_WORDS: Final = {
    **dict.fromkeys(("january", "janvier", "janv", "jan", "januar"), 1),
    **dict.fromkeys(("february", "fevrier", "fevr", "fev", "feb", "februar"), 2),
    **dict.fromkeys(("march", "mars", "marz"), 3),
    **dict.fromkeys(("april", "avril", "avr", "apr"), 4),
    **dict.fromkeys(("mai",), 5),
    **dict.fromkeys(("june", "juin", "jun", "juni"), 6),
    **dict.fromkeys(("july", "juillet", "juil", "jul", "juli"), 7),
    **dict.fromkeys(("august", "aout", "aug"), 8),
    **dict.fromkeys(("september", "septembre", "sept", "sep"), 9),
    **dict.fromkeys(("october", "octobre", "oct", "oktober"), 10),
    **dict.fromkeys(("november", "novembre", "nov"), 11),
    **dict.fromkeys(("december", "decembre", "dec", "dezember"), 12),
}
_DAY_NAMES: Final = {
    1: ("monday", "mon", "lundi", "lun", "montag", "lunes"),
    2: ("tuesday", "tue", "tues", "mardi", "dienstag", "martes"),
    3: ("wednesday", "wed", "weds", "mercredi", "mer", "mittwoch", "miercoles"),
    4: ("thursday", "thu", "thur", "thurs", "jeudi", "jeu", "donnerstag", "jueves"),
    5: ("friday", "fri", "vendredi", "ven", "freitag", "viernes"),
    6: ("saturday", "sat", "samedi", "sam", "samstag", "sabado"),
    7: ("sunday", "sun", "dimanche", "dim", "sonntag", "domingo"),
}
_DAY_WORDS: Final = {w: d for d, names in _DAY_NAMES.items() for w in names} | {
    f"{w}s": d for d, names in _DAY_NAMES.items() for w in names if len(w) > 4
}
# Two-letter codes (OSM, German) are also words ("we", "so", "do", "sa"): read as days only in a day
# context (a range, a list, followed by a time or "off").
_WEAK_DAYS: Final = {
    "mo": 1,
    "tu": 2,
    "we": 3,
    "th": 4,
    "fr": 5,
    "sa": 6,
    "su": 7,
    "di": 2,
    "mi": 3,
    "do": 4,
    "so": 7,
}
_OSM_DAYS: Final = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_MONTH_ABBR: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS: Final = frozenset({1, 2, 3, 4, 5})
_WEEKEND: Final = frozenset({6, 7})
_EVERY_DAY: Final = frozenset(ALL_DAYS)
# Seasons resolve to their astronomical dates (flagged approximate_dates).
_SEASONS: Final = {
    "summer": ("06-21", "09-22"),
    "fall": ("09-23", "12-20"),
    "winter": ("12-21", "03-19"),
    "spring": ("03-20", "06-20"),
}


def _words(*lines: str) -> tuple[str, ...]:
    return tuple(w for line in lines for w in line.split())


# Words that carry nothing for opening hours ("open", "the", time zones, meal names of split shifts).
_FILLER_WORDS: Final = _words(
    "open opens opened opening ouvert ouverte ouverts ouvertes ouverture ouvre ouvrons hours hour heures heure",
    "horaire horaires hrs hr h uhr schedule only seulement uniquement also aussi every each chaque tous toutes",
    "tout les le la l d de du des on at in the en for pour of is are our nos notre nous sommes est sont",
    "reception desk front accueil lobby office bureau regular regulier reguliers reguliere regulieres normal",
    "normales normaux usual usually generally generalement habituellement approximately approx environ around",
    "vers about local time public unknown un une am pm jours jour days day week year years annee please svp",
    "with avec then puis ensuite inclusivement inclusive inclusively incl sur par by service",
    "edt pst pdt cst cdt mst mdt ast adt nst ndt hne hae utc gmt",
    "breakfast brunch lunch dinner supper dejeuner diner souper",
)
# Articles and prepositions keep a list together ("le lundi et le mardi"); other fillers ("open",
# "are") separate what is on either side.
_SOFT_FILLERS: Final = frozenset(
    _words(
        "le la les l d de du des the on at in en of every each chaque tous toutes tout sur par by for pour"
    )
)
_WORDS: dict[str, tuple[str, object]] = dict.fromkeys(_FILLER_WORDS, ("FILLER", None))
_WORDS |= {w: ("DAY", d) for w, d in _DAY_WORDS.items()}
_WORDS |= {w: ("MONTH", m) for w, m in _MONTH_WORDS.items()}
_WORDS |= {w: ("WEAKDAY", d) for w, d in _WEAK_DAYS.items()}
_WORDS |= {"mar": ("DAYMON", 2), "may": ("WEAKMONTH", 5)}
for _kind, _value, _line in (
    ("DAYS", _EVERY_DAY, "daily everyday quotidien quotidienne quotidiennement tlj taglich diario"),
    ("DAYS", _WEEKDAYS, "weekdays weekday semaine werktags"),
    ("DAYS", _WEEKEND, "weekend weekends wochenende"),
    ("CLOSED", None, "closed ferme fermee fermes fermees off geschlossen cerrado cerrada chiuso relache"),
    ("CLOSEWORD", None, "close closing fermeture"),
    ("EXCEPT", None, "except excepted excepting excluding sauf excepte exceptes hormis ausser excepto"),
    ("RANGE", None, "to thru through till til until a au aux bis hasta jusqu"),
    ("LIST", None, "and et or ou und y"),
    ("FROM", None, "from since depuis desde ab starting beginning"),
    ("SEASON", "summer", "summer ete estival estivale"),
    ("SEASON", "winter", "winter hiver hivernal hivernale"),
    ("SEASON", "spring", "spring printemps"),
    ("SEASON", "fall", "fall autumn automne"),
    ("FLAG", "seasonal", "seasonal seasonally saisonnier saisonniere saisonniers saisonnieres season saison"),
    ("FLAG", "by_appointment", "appointment appointments rdv"),
    ("FLAG", "variable_hours", "variable variables varies vary varying"),
    ("PH", None, "ph holiday holidays feries ferie feriees feiertag feiertage festivos"),
):
    _WORDS |= dict.fromkeys(_words(_line), (_kind, _value))

_MONTH_RE = (
    r"(?:january|janvier|janv|jan|february|fevrier|fevr|fev|feb|march|mars|mar|april|avril|avr|apr|may|mai|"
    r"june|juin|jun|july|juillet|juil|jul|august|aout|aug|september|septembre|sept|sep|october|octobre|oct|"
    r"november|novembre|nov|december|decembre|dec)\b"
)
_HOLIDAYS: Final = (
    (r"labou?r day|fete du travail", "09-01", True),
    (r"fete nationale(?: du quebec)?|(?:st|saint)[- ]?jean(?:[- ]baptiste)?", "06-24", False),
    (r"canada day|fete du canada|confederation day", "07-01", False),
    (
        r"victoria day|journee nationale des patriotes|fete des patriotes|fete de la reine|fete de dollard",
        "05-20",
        True,
    ),
    (r"(?:canadian )?thanksgiving(?: day)?|(?:l'\s?)?action de graces?", "10-10", True),
    (r"christmas eve|veille de noel|reveillon de noel", "12-24", False),
    (r"boxing day|lendemain de noel", "12-26", False),
    (r"christmas(?: day)?|(?:jour de )?noel|xmas", "12-25", False),
    (r"new year'?s eve|veille du jour de l'\s?an|saint[- ]sylvestre", "12-31", False),
    (r"new year'?s(?: day)?|jour de l'\s?an|nouvel an", "01-01", False),
    (r"remembrance day|jour du souvenir|veterans day", "11-11", False),
    (r"memorial day", "05-25", True),
    (r"independence day|fourth of july", "07-04", False),
)


def _alt(*patterns: str) -> str:
    return "|".join(patterns)


_H24 = r"h(?:eures?|rs?|ours?)?"
# (kind, value, pattern); tried in this order at each position, the first that matches wins.
_SPECS: list[tuple[str, object, str]] = [
    # OSM nth weekday of the month ("We[4-5]", "Su[-1]"): a selector the model cannot hold, never times.
    (
        "NTH",
        None,
        r"(?:mo|tu|we|th|fr|sa|su|lu|ma|me|je|ve|di)\s*\[\s*-?\d+(?:\s*-\s*\d+)?(?:\s*,\s*-?\d+(?:\s*-\s*\d+)?)*\s*\]",
    ),
    # Week numbers ("week 04-16", "semaines 4 à 16", "KW 12"): dates the model cannot hold, never times.
    (
        "WEEKNUM",
        None,
        r"(?:weeks?|semaines|semaine\s*(?:n[o°]\.?|#)|wochen?|kw|wk)\s*(?:n[o°]\.?|#)?\s*\d{1,2}"
        r"(?:\s*(?:-|to|through|a|au|bis|et|and|,)\s*\d{1,2})*",
    ),
    (
        "ALL247",
        None,
        rf"24\s*{_H24}?\s*(?:/|sur)\s*24\s*{_H24}?\s*[,-]?\s*7\s*j?(?:ours?)?\s*(?:/|sur)\s*7(?:\s*j(?:ours?)?)?",
    ),
    ("ALL247", None, r"24\s*(?:/|x|sur)\s*7(?:\s*j(?:ours?)?)?"),
    ("ALLDAY", None, rf"24\s*{_H24}\s*(?:/|sur|on|out of)\s*24(?:\s*{_H24})?"),
    (
        "ALLDAY",
        None,
        _alt(r"24\s*/\s*24", r"(?:a?round|all) the clock", "day and night", "jour et nuit", "nuit et jour"),
    ),
    (
        "DAYS",
        _EVERY_DAY,
        _alt(
            r"7\s*j(?:ours?)?\s*(?:/|sur)\s*7",
            r"7\s*/\s*7",
            r"(?:7|seven)\s*days?(?:\s*(?:a|per|/|each|of the)\s*week)?",
            r"7\s*jours(?:\s*(?:par|/|sur)\s*(?:semaine|7))?",
            "tous les jours",
            "toute la semaine",
            "chaque jour",
            r"every\s*day",
            "all week(?: long)?",
            "todos los dias",
            "jeden tag",
            r"t\.l\.j\.?",
        ),
    ),
    (
        "DAYS",
        _WEEKDAYS,
        _alt(
            "en semaine",
            "jours? de (?:la )?semaine",
            "jours? ouvrables?",
            "business days",
            r"week\s*days?",
            r"m\s*-\s*f",
        ),
    ),
    ("DAYS", _WEEKEND, _alt("fins? de semaine", r"week\s*-?\s*ends?")),
    (
        "YEAR",
        None,
        _alt(
            "(?:the )?rest of (?:the )?(?:year|season|time)",
            r"(?:le )?reste de l'\s?(?:annee|saison)",
            "(?:le )?reste du temps",
            "remainder of (?:the )?year",
            "off[- ]?season",
            "hors[- ]saison",
            "basse saison",
            "year[- ]round",
            "all year(?: round| long)?",
            r"toute l'\s?annee",
            r"a l'\s?annee",
            "(?:12|douze) mois par annee",
            "12 months a year",
            "otherwise",
            "sinon",
            "autrement",
        ),
    ),
    (
        "FLAG",
        "by_appointment",
        _alt(
            r"(?:by|on|upon) (?:prior )?(?:appointment|appt\.?|reservation|request)",
            "appointment only",
            "sur (?:rendez[- ]?vous|rdv|reservation|demande|appel)",
            "par (?:rendez[- ]?vous|reservation)",
            "rendez[- ]?vous",
            "reservations? (?:required|only|necessary|obligatoires?|requises?)",
            "reservations?",
            "nach vereinbarung",
            "(?:con|bajo) cita(?: previa)?",
        ),
    ),
    (
        "FLAG",
        "weather_dependent",
        _alt(
            "(?:if )?(?:the )?weather permit(?:ting|s)",
            "(?:snow |weather )?conditions permitting",
            r"selon (?:les )?conditions(?: meteo(?:rologiques)?| climatiques| d'\s?enneigement)?",
            r"selon (?:la |l')?\s?(?:meteo|temperature|enneigement)",
            "si (?:la )?meteo le permet",
            "(?:depending on|subject to) (?:the )?weather",
            "weather dependent",
            "en fonction de (?:la )?meteo",
            "meteo permettant",
        ),
    ),
    (
        "FLAG",
        "variable_hours",
        _alt(
            "horaires? variables?",
            "heures variables",
            "hours (?:may )?vary",
            "variable hours",
            "subject to change",
            "sujet a changements?",
            "sous reserve de modifications?",
            "consult(?:ez|er)? (?:notre|le|nos) (?:site(?: web| internet)?|page facebook|facebook)",
            "(?:see|check|visit) (?:our )?(?:website|web site|site|facebook(?: page)?)",
            "call (?:ahead|for (?:hours|details|info(?:rmation)?))",
            "appelez(?:-nous)?",
            "contact(?:ez)?[- ]nous",
            "contact us",
            "selon (?:la )?saison",
            r"selon l'\s?achalandage",
        ),
    ),
    (
        "FLAG",
        "temporary",
        _alt("temporair(?:e|ement)", "temporarily", "until further notice", r"jusqu'\s?a nouvel ordre"),
    ),
    (
        "CHECK",
        None,
        _alt(
            r"check\s*-?\s*(?:in|out)",
            r"heures? d'\s?(?:arrivee|depart)",
            "arrivee",
            "arrival",
            "depart(?:ure)?",
        ),
    ),
    (
        "PH",
        None,
        _alt(
            "(?:les )?jours? feries?",
            "(?:public|statutory|stat|bank|legal|civic|national) holidays?",
            r"public\s?holidays?",
            "conges? feries?",
        ),
    ),
    *(("HOLIDAY", (mmdd, approx), pattern) for pattern, mmdd, approx in _HOLIDAYS),
    ("SEASON", "summer", _alt("saison estivale", "summer season", "summertime")),
    ("SEASON", "winter", _alt("saison hivernale", "winter season", "wintertime")),
    ("MOD", "mid", rf"(?:mi|mid|milieu (?:de |du )?|middle of)\s*-?\s*(?={_MONTH_RE})"),
    ("MOD", "early", rf"(?:early|debut|au debut (?:de |du )?|beginning of|start of)\s*-?\s*(?={_MONTH_RE})"),
    ("MOD", "late", rf"(?:late|fin (?:de |d')?|a la fin (?:de |du )?|end of)\s*-?\s*(?={_MONTH_RE})"),
    (
        "FROM",
        None,
        _alt(
            "a partir d(?:u|e|es|')?",
            "a compter d(?:u|e|')",
            "des le",
            "starting (?:on|from)",
            "as of",
            "effective",
        ),
    ),
    ("RANGE", None, _alt(r"jusqu'\s?(?:au|aux|a|en)?", "up to")),
    (
        "FILLER",
        None,
        _alt(
            "front desk",
            r"heures? d'\s?(?:ouverture|affaires)",
            "opening hours",
            "hours of operation",
            "business hours",
            "heure locale",
            "local time",
            "we'?re",
            "we are",
            "nous sommes",
            "au public",
            "to the public",
        ),
    ),
    ("NOON", None, r"(?:12\s*)?(?:noon|midday|midi)"),
    ("MIDNIGHT", None, r"(?:12\s*)?(?:midnight|minuit|mitternacht)"),
    ("ISO", None, r"(\d{4})-(\d{2})-(\d{2})(?!\d)"),
    ("AMPM", None, r"(\d{1,2})(?:\s*[:h.]\s*([0-5]\d))?(?::[0-5]\d)?\s*([ap])\.?\s?m\b\.?"),  # 9am, 10 a.m.
    ("AMPM", None, r"(\d{1,2})(?::([0-5]\d))?([ap])(?!\d)"),  # 8a-5p
    ("HTIME", None, r"(\d{1,2})\s*h\s*([0-5]\d)?(?!\d)"),  # 9h, 11 h 30
    ("HTIME", None, r"(\d{1,2})\s*(?:heures?|hours?|hrs?|uhr)"),
    ("CTIME", None, r"(\d{1,2})[:.]([0-5]\d)(?::[0-5]\d)?(?!\d)"),  # 9:00, 17.30, 09:00:00
    ("ORD", None, r"(\d{1,2})(?:er|re|st|nd|rd|th|eme|ieme|e)"),  # 1er, 24th
    ("NUM", None, r"\d+"),
    ("WORD", None, r"[^\W\d_]+"),
    ("PUNCT", None, r"."),
]
# Everything but punctuation and the "mi-" of "mi-juin" ends at a word boundary ("mon" is not the start
# of "montreal").
_END = r"(?![^\W\d_])"
_COMPILED = [
    (kind, value, re.compile(p if kind in ("PUNCT", "MOD") else f"(?:{p}){_END}", re.DOTALL))
    for kind, value, p in _SPECS
]
_MASTER = re.compile(
    "|".join(f"(?P<k{i}>{rx.pattern})" for i, (_, _, rx) in enumerate(_COMPILED)),
    re.DOTALL,
)
_PUNCT: Final = {
    "-": "RANGE", ",": "LIST", "&": "LIST", "/": "LIST", "+": "PLUS", ":": "COLON",
    "(": "LP", "[": "LP", "{": "LP", ")": "RP", "]": "RP", "}": "RP", "…": "ELLIPSIS",
}  # fmt: skip
_SILENT_PUNCT: Final = frozenset(".'\"!?*#;|=")


@dataclass(frozen=True)
class _Tok:
    kind: str
    value: object
    a: int  # span in the original segment
    b: int
    gap: bool  # a filler word was dropped right before it


def _tokens(segment: str) -> list[_Tok]:
    folded, origin = _fold(segment)
    toks: list[_Tok] = []
    pos, gap = 0, False
    while pos < len(folded):
        if folded[pos].isspace():
            pos += 1
            continue
        m = _MASTER.match(folded, pos)
        if m is None or m.lastgroup is None:  # unreachable: PUNCT matches any character
            pos += 1
            continue
        kind, value, rx = _COMPILED[int(m.lastgroup[1:])]
        sub = rx.match(folded, pos) or m
        end = max(sub.end(), pos + 1)
        a, b = origin[pos], origin[end - 1] + 1
        text = folded[pos:end]
        pos = end
        if kind == "PUNCT":
            if text in _PUNCT:
                toks.append(_Tok(_PUNCT[text], None, a, b, gap))
                gap = False
            elif text not in _SILENT_PUNCT and not text.isspace():
                toks.append(_Tok("UNK", text, a, b, gap))
                gap = False
            continue
        if kind == "WORD":
            kind, value = _WORDS.get(text, ("UNK", text))
        elif kind in ("AMPM", "HTIME", "CTIME", "NOON", "MIDNIGHT"):
            kind, value = _time_token(kind, sub)
        elif kind == "ISO":
            value = (int(sub.group(1)), int(sub.group(2)), int(sub.group(3)))
        elif kind in ("ORD", "NUM"):
            value = int("".join(ch for ch in text if ch.isdigit())[:6] or 0)
        if kind == "FILLER":
            gap = gap or text not in _SOFT_FILLERS
            continue
        toks.append(_Tok(kind, value, a, b, gap))
        gap = False
    return toks


def _time_token(kind: str, m: re.Match[str]) -> tuple[str, object]:
    """("TIME", (minutes, style)) or ("UNK", …); style: ampm, h24 (unambiguous), loose (9:00), noon,
    midnight."""
    if kind == "NOON":
        return "TIME", (720, "noon")
    if kind == "MIDNIGHT":
        return "TIME", (0, "midnight")
    hour = int(m.group(1))
    minute = int(m.group(2)) if m.lastindex and m.lastindex >= 2 and m.group(2) else 0
    if kind == "AMPM":
        if not 1 <= hour <= 12:
            return "UNK", m.group()
        return "TIME", ((hour % 12 + (12 if m.group(3) == "p" else 0)) * 60 + minute, "ampm")
    # OSM writes a close past midnight as "26:00"; an opening at such an hour is refused later.
    if hour > (47 if kind == "CTIME" and len(m.group(1)) == 2 else 24) or (
        hour == 24 and minute and kind != "CTIME"
    ):
        return "UNK", m.group()
    digits = m.group(1)
    unambiguous = kind == "HTIME" or hour == 0 or hour > 12 or len(digits) == 2
    return "TIME", (hour * 60 + minute, "h24" if unambiguous else "loose")


# ================================================================================================
# Tokens → items
@dataclass(frozen=True)
class _Point:
    month: int | None
    day: int | None
    year: int | None = None
    approx: bool = False


@dataclass(frozen=True)
class _Item:
    kind: str  # dates, year, days, interval, closed, except, flag, check, lonetime, colon, unknown, …
    a: int = 0  # span in the original segment
    b: int = 0
    ranges: tuple[_Key, ...] = ()  # dates
    approx: bool = False  # dates
    days: frozenset[int] = frozenset()  # days
    ph: bool = False  # days
    joined: bool = False  # days
    interval: _Interval = (0, _DAY)  # interval
    flag: str = ""  # flag


_DATE_STARTS: Final = frozenset(
    {
        "ISO",
        "MONTH",
        "WEAKMONTH",
        "DAYMON",
        "NUM",
        "ORD",
        "HOLIDAY",
        "SEASON",
        "MOD",
        "FROM",
        "RANGE",
        "ELLIPSIS",
    }
)
_DAY_KINDS: Final = frozenset({"DAY", "WEAKDAY", "DAYMON", "DAYS", "PH"})


class _Combiner:
    def __init__(self, toks: list[_Tok]) -> None:
        self.t = toks

    def kind(self, i: int) -> str:
        return self.t[i].kind if 0 <= i < len(self.t) else "END"

    def adjacent(self, i: int) -> str:
        """Kind of the token after i when nothing was dropped in between."""
        return self.kind(i + 1) if i + 1 < len(self.t) and not self.t[i + 1].gap else "END_OR_GAP"

    def num(self, i: int) -> int:
        v = self.t[i].value
        return v if isinstance(v, int) else -1

    # --- dates --------------------------------------------------------------------------------
    def is_month(self, i: int, *, context: bool = False) -> bool:
        k = self.kind(i)
        if k == "MONTH":
            return True
        if k == "WEAKMONTH":  # "may" is also a verb
            at_end = i + 1 >= len(self.t)
            prev = self.kind(i - 1) if not self.t[i].gap else "GAP"
            return (
                context
                or at_end
                or self.adjacent(i) in {"NUM", "ORD", "RANGE", "COLON", "RP", "LIST", "PLUS"}
                or prev in {"NUM", "ORD", "RANGE", "LP", "FROM"}
            )
        if k == "DAYMON":  # "mar": mardi or March
            if context:
                return self.kind(i + 1) in {"NUM", "ORD"} or self.kind(i - 1) in {"RANGE"}
            if self.kind(i + 1) == "RANGE":
                return self.kind(i + 2) in {"MONTH", "WEAKMONTH", "ISO"}
            if self.kind(i + 1) in {"NUM", "ORD"}:
                if self.kind(i + 1) == "NUM" and self.num(i + 1) > 31:
                    return False
                if self.kind(i + 2) != "RANGE":
                    return self.kind(i + 2) not in {"TIME"}
                return self.kind(i + 3) in {"MONTH", "WEAKMONTH", "DAYMON", "ISO"} or (
                    self.kind(i + 3) == "NUM" and self.num(i + 3) > 24
                )
        return False

    def day_after_month(self, j: int, *, end: bool) -> bool:
        k = self.kind(j)
        if k not in {"NUM", "ORD"} or not 1 <= self.num(j) <= 31:
            return False
        if k == "ORD" or self.kind(j + 1) != "RANGE":
            return True
        after = self.kind(j + 2)
        if after in {"MONTH", "WEAKMONTH", "DAYMON", "ISO", "ELLIPSIS"}:
            return True
        if after == "NUM":  # "Dec 24-26", "Jul 1-15:" are date ranges, "May-Oct 9-17" hours
            n2 = self.num(j + 2)
            return not end and (n2 > 24 or self.num(j) > 24 or self.kind(j + 3) == "COLON")
        return after != "TIME"

    def point(self, i: int, *, context: bool = False, end: bool = False) -> tuple[_Point, int] | None:
        k = self.kind(i)
        if k == "ISO":
            v = self.t[i].value
            y, m, d = v if isinstance(v, tuple) else (0, 0, 0)
            return _Point(m, d, y), i + 1
        if k == "HOLIDAY":
            v = self.t[i].value
            mmdd, approx = v if isinstance(v, tuple) else ("01-01", True)
            return _Point(int(mmdd[:2]), int(mmdd[3:]), None, approx), i + 1
        if k == "MOD" and self.is_month(i + 1, context=True):
            month = self.month_of(i + 1)
            mod = self.t[i].value
            last = calendar.monthrange(2001, month)[1]
            return _Point(month, 15 if mod == "mid" else 1 if mod == "early" else last, None, True), i + 2
        year: int | None = None
        if k == "NUM" and 1900 <= self.num(i) <= 2100 and self.is_month(i + 1, context=True):
            year, i, k = self.num(i), i + 1, self.kind(i + 1)
        if k in {"MONTH", "WEAKMONTH", "DAYMON"} and self.is_month(i, context=context or year is not None):
            month, j = self.month_of(i), i + 1
            day: int | None = None
            if self.day_after_month(j, end=end):
                day, j = self.num(j), j + 1
                j2 = j + 1 if self.kind(j) == "LIST" else j
                if year is None and self.kind(j2) == "NUM" and 1900 <= self.num(j2) <= 2100:
                    year, j = self.num(j2), j2 + 1
            elif year is None and self.kind(j) == "NUM" and 1900 <= self.num(j) <= 2100:
                year, j = self.num(j), j + 1
            return _Point(month, day, year), j
        if k in {"NUM", "ORD"} and 1 <= self.num(i) <= 31:
            nk = self.kind(i + 1)
            month_next = nk in {"MONTH", "WEAKMONTH"} or (nk == "DAYMON" and k == "ORD")
            if month_next and self.is_month(i + 1, context=True):
                j = i + 2
                if self.kind(j) == "NUM" and 1900 <= self.num(j) <= 2100:
                    year, j = self.num(j), j + 1
                return _Point(self.month_of(i + 1), self.num(i), year), j
        return None

    def month_of(self, i: int) -> int:
        v = self.t[i].value
        return 3 if self.kind(i) == "DAYMON" else v if isinstance(v, int) else 1

    def dates(self, i: int) -> tuple[_Item, int] | None:
        got = self.one_range(i)
        if got is None:
            return None
        (rng, approx), j = got
        ranges = [rng]
        while self.kind(j) == "LIST":
            more = self.one_range(j + 1)
            if more is None:
                break
            (rng, more_approx), j = more
            ranges.append(rng)
            approx = approx or more_approx
        return _Item("dates", self.t[i].a, self.t[j - 1].b, ranges=tuple(ranges), approx=approx), j

    def one_range(self, i: int) -> tuple[tuple[_Key, bool], int] | None:
        k = self.kind(i)
        if k == "SEASON":
            j = i + 1
            if self.kind(j) == "LP":
                inner = self.one_range(j + 1)
                if inner is not None and self.kind(inner[1]) == "RP":
                    return inner[0], inner[1] + 1
            start, end = _SEASONS[str(self.t[i].value)]
            return ((start, end), True), j
        if k in {"RANGE", "ELLIPSIS"}:  # "until Oct 31", "… to 2025-09-01"
            j = i + 1 if k == "RANGE" else i + 2 if self.kind(i + 1) == "RANGE" else -1
            p = self.point(j, context=True, end=True) if j > 0 else None
            if p is None:
                return None
            resolved = _resolve(None, p[0])
            return ((resolved, p[0].approx), p[1]) if resolved else None
        if k == "FROM":
            p = self.point(i + 1, context=True)
            if p is None:
                return None
            if self.kind(p[1]) == "RANGE":
                full = self.range_from(p[0], p[1])
                if full is not None:
                    return full
            resolved = _resolve(p[0], None)
            return ((resolved, p[0].approx), p[1]) if resolved else None
        day_span = k in {"NUM", "ORD"} and self.kind(i + 1) == "RANGE" and self.kind(i + 2) in {"NUM", "ORD"}
        if day_span and (  # "1-15 juillet", "du 1er au 15 juillet"
            self.kind(i + 3) in {"MONTH", "WEAKMONTH"} or (self.kind(i + 3) == "DAYMON" and k == "ORD")
        ):
            p2 = self.point(i + 2, context=True)
            if p2 is not None and 1 <= self.num(i) <= 31:
                p1 = _Point(p2[0].month, self.num(i), p2[0].year)
                resolved = _resolve(p1, p2[0])
                return ((resolved, False), p2[1]) if resolved else None
        p = self.point(i)
        if p is None:
            return None
        if self.kind(p[1]) == "RANGE":
            full = self.range_from(p[0], p[1])
            if full is not None:
                return full
        if self.kind(p[1]) == "PLUS":
            resolved = _resolve(p[0], None)
            return ((resolved, p[0].approx), p[1] + 1) if resolved else None
        single = _resolve(p[0], p[0], single=True)
        return ((single, p[0].approx), p[1]) if single else None

    def range_from(self, p1: _Point, r: int) -> tuple[tuple[_Key, bool], int] | None:
        nk = self.kind(r + 1)
        if nk == "ELLIPSIS":
            resolved = _resolve(p1, None)
            return ((resolved, p1.approx), r + 2) if resolved else None
        p2 = self.point(r + 1, context=True, end=True)
        if p2 is None and nk in {"NUM", "ORD"} and p1.day is not None and self.kind(r + 2) not in {"RANGE"}:
            n = self.num(r + 1)
            if p1.day < n <= 31:  # "Dec 24-26"
                p2 = (_Point(p1.month, n, None), r + 2)
        if p2 is None:
            return None
        resolved = _resolve(p1, p2[0])
        return ((resolved, p1.approx or p2[0].approx), p2[1]) if resolved else None

    # --- times --------------------------------------------------------------------------------
    def time_atom(self, i: int) -> tuple[int, str] | None:
        k = self.kind(i)
        v = self.t[i].value if k == "TIME" else None
        if isinstance(v, tuple):
            return (int(v[0]), str(v[1]))
        if k == "NUM" and 0 <= self.num(i) <= 24:
            return (self.num(i) * 60, "bare")
        return None

    def interval(self, i: int) -> tuple[_Item, int] | None:
        first = self.time_atom(i)
        if first is None:
            return None
        a = self.t[i].a
        if self.kind(i + 1) == "RANGE":
            if self.kind(i + 2) == "CLOSEWORD":  # "9am to close"
                return _Item("flag", a, self.t[i + 2].b, flag="open_end"), i + 3
            second = self.time_atom(i + 2)
            if second is not None:
                iv = _interval(first, second)
                if iv is not None:
                    return _Item("interval", a, self.t[i + 2].b, interval=iv), i + 3
                return _Item("unknown", a, self.t[i + 2].b), i + 3
        if self.kind(i) != "TIME":
            return None
        if self.kind(i + 1) == "PLUS":  # OSM "18:00+"
            return _Item("flag", a, self.t[i + 1].b, flag="open_end"), i + 2
        if first[0] == _DAY and first[1] == "h24":  # "Réception 24 h", "open 24 hours"
            return _Item("interval", a, self.t[i].b), i + 1
        return _Item("lonetime", a, self.t[i].b), i + 1

    # --- days ---------------------------------------------------------------------------------
    def weak_ok(self, i: int) -> bool:
        nxt = self.adjacent(i)
        if nxt in {"TIME", "NUM", "CLOSED", "COLON", "ALLDAY", "ALL247"}:
            return True
        if nxt in {"RANGE", "LIST"} and self.kind(i + 2) in _DAY_KINDS:
            return True
        prev_ok = not self.t[i].gap and self.kind(i - 1) in {"RANGE", "LIST"}
        return prev_ok and self.kind(i - 2) in _DAY_KINDS

    def day_atom(self, i: int) -> tuple[set[int], bool, bool] | None:
        """(days, is PH, is a single day)."""
        k = self.kind(i)
        v = self.t[i].value if 0 <= i < len(self.t) else None
        if k == "DAY" and isinstance(v, int):
            return {v}, False, True
        if k == "WEAKDAY" and isinstance(v, int) and self.weak_ok(i):
            return {v}, False, True
        if k == "DAYMON" and not self.is_month(i):
            return {2}, False, True
        if k == "DAYS" and isinstance(v, frozenset):
            return set(v), False, False
        if k == "PH":
            return set(), True, False
        return None

    def days(self, i: int) -> tuple[_Item, int] | None:
        """One day, day range or day group; `joined` when it continues a list ("Sat, Sun", "lundi et
        mardi"), which the rule builder needs to tell "Closed Mondays, Tuesday 9-5" apart."""
        atom = self.day_atom(i)
        if atom is None:
            return None
        days, ph, single = atom
        j = i + 1
        if single and self.kind(j) == "RANGE":
            end = self.day_atom(j + 1)
            if end is not None and end[2]:
                d0, d1 = min(days), min(end[0])
                days = {(d0 - 1 + k) % 7 + 1 for k in range((d1 - d0) % 7 + 1)}
                j += 2
        tok = self.t[i]
        joined = not tok.gap and (
            (self.kind(i - 1) == "LIST" and not self.t[i - 1].gap and self.kind(i - 2) in _DAY_KINDS)
            or self.kind(i - 1) in _DAY_KINDS
        )
        return _Item("days", tok.a, self.t[j - 1].b, days=frozenset(days), ph=ph, joined=joined), j

    # --- all ----------------------------------------------------------------------------------
    def items(self) -> list[_Item]:
        out: list[_Item] = []
        i = 0
        simple = {"CLOSED": "closed", "EXCEPT": "except", "COLON": "colon", "CHECK": "check", "YEAR": "year"}
        while i < len(self.t):
            tok = self.t[i]
            k = tok.kind
            if k in simple:
                out.append(_Item(simple[k], tok.a, tok.b))
                i += 1
                continue
            if k == "FLAG":
                out.append(_Item("flag", tok.a, tok.b, flag=str(tok.value)))
                i += 1
                continue
            if k == "ALL247":
                out.append(_Item("days", tok.a, tok.b, days=_EVERY_DAY))
                out.append(_Item("interval", tok.a, tok.b))
                i += 1
                continue
            if k == "ALLDAY":
                out.append(_Item("interval", tok.a, tok.b))
                i += 1
                continue
            if k == "FROM" and self.kind(i + 1) in {"TIME", "NUM"}:
                if self.kind(i + 1) == "TIME" and self.kind(i + 2) != "RANGE":  # "from 6pm"
                    out.append(_Item("flag", tok.a, self.t[i + 1].b, flag="open_end"))
                    i += 2
                else:  # "from 9 to 5"
                    i += 1
                continue
            got: tuple[_Item, int] | None = None
            if k in _DATE_STARTS:
                got = self.dates(i)
            if got is None and k in {"TIME", "NUM"}:
                got = self.interval(i)
            if got is None and k in _DAY_KINDS:
                got = self.days(i)
            if got is not None:
                out.append(got[0])
                i = got[1]
                continue
            if k == "NTH":  # the day is only some weeks of the month: its rule applies to no day
                out.append(_Item("unknown", tok.a, tok.b))
                out.append(_Item("days", tok.a, tok.b, days=frozenset()))
            elif k in {"LIST", "RANGE", "LP", "RP", "PLUS", "FROM", "ELLIPSIS"}:
                out.append(_Item(k.lower(), tok.a, tok.b))
            elif k in {"WEAKDAY", "WEAKMONTH"}:
                pass  # "we", "so", "do", "may" used as words
            else:
                out.append(_Item("unknown", tok.a, tok.b))
            i += 1
        return out


def _interval(first: tuple[int, str], second: tuple[int, str]) -> _Interval | None:
    o, o_style = first
    c, c_style = second
    if c_style == "midnight":
        c = _DAY
    loose = {"loose", "bare"}
    # "5-11pm" is 17:00-23:00, "10-2am" 22:00-02:00, "9-5pm" 09:00-17:00
    if (
        c_style == "ampm"
        and o_style in loose
        and o < 720
        and ((c >= 720 and o + 720 < c) or (c < 720 and o > c))
    ):
        o += 720
    if c_style in loose and c <= o and c < 720 and c + 720 > o:  # "9-5", "10:00-4:00"
        c += 720
    elif o_style == c_style == "bare" and o <= 300 and o < c < 720:  # "1-5"
        o, c = o + 720, c + 720
    return _norm_interval(o, c)


def _resolve(p1: _Point | None, p2: _Point | None, *, single: bool = False) -> _Key | None:
    """Date strings of a range; a month alone starts on the 1st / ends on its last day (whole month
    when single); a year on one side carries to the other. None when a date is impossible."""
    if single and p1 is not None and p1.day is None:
        p2 = p1
    y1 = p1.year if p1 else None
    y2 = p2.year if p2 else None
    if p1 and p2 and (y1 is None) != (y2 is None):
        m1, d1 = p1.month or 1, p1.day or 1
        m2, d2 = p2.month or 1, p2.day or 31
        if y1 is None and y2 is not None:
            y1 = y2 if (m1, d1) <= (m2, d2) else y2 - 1
        elif y1 is not None:
            y2 = y1 if (m2, d2) >= (m1, d1) else y1 + 1

    def one(p: _Point | None, year: int | None, *, last: bool) -> str | bool | None:
        if p is None:
            return None
        month = p.month or 0
        if not 1 <= month <= 12:
            return False
        max_day = calendar.monthrange(year or 2001, month)[1] if (year or month != 2) else 29
        day = p.day if p.day is not None else (calendar.monthrange(year or 2001, month)[1] if last else 1)
        if not 1 <= day <= max_day:
            return False
        return f"{year:04d}-{month:02d}-{day:02d}" if year else f"{month:02d}-{day:02d}"

    start = one(p1, y1, last=False)
    end = one(p2, y2, last=True)
    if start is False or end is False or (start is None and end is None):
        return None
    assert not isinstance(start, bool) and not isinstance(end, bool)
    return (start, end)


# ================================================================================================
# Items → rules
_LEAD_AFTER: Final = frozenset({"days", "interval", "closed", "colon"})


def _parse_segment(segment: str, builder: _Builder, flags: set[str], skipped: list[str]) -> None:
    items = _Combiner(_tokens(segment)).items()
    seg_flags: set[str] = set()
    rules: list[_Rule] = []
    pending: list[_Key] | None = None
    pending_set = False
    check = said_year = False
    unknown: list[tuple[int, int]] = []

    def new_rule() -> _Rule:
        return _Rule(dates=pending, dated=True) if pending_set else _Rule()

    cur = new_rule()

    def finalize() -> None:
        nonlocal cur
        if cur.has_content():
            rules.append(cur)
        cur = new_rule()

    significant = [
        it for it in items if it.kind not in {"list", "lp", "rp", "range", "plus", "from", "ellipsis"}
    ]
    for n, item in enumerate(significant):
        nxt = significant[n + 1].kind if n + 1 < len(significant) else "end"
        prev = significant[n - 1].kind if n else "start"
        k = item.kind
        if k == "dates":
            ranges = list(item.ranges)
            if item.approx:
                flags.add("approximate_dates")
            for key in ranges:
                builder.touch(key)
            if cur.closed and not cur.intervals and not (cur.dated and cur.dates != pending):
                cur.dates, cur.dated = list(ranges), True  # "fermé le 25 décembre", "closed Dec 25"
            elif not cur.has_content():
                pending, pending_set = list(ranges), True
                cur.dates, cur.dated = pending, True
            elif nxt == "colon":  # a new season: "…; summer: …"
                finalize()
                pending, pending_set = list(ranges), True
                cur = new_rule()
            else:  # a trailing qualifier: "Daily 10-6 (May-Oct)"
                for rule in [*rules, cur]:
                    if not rule.dated:
                        rule.dates, rule.dated = list(ranges), True
                cur.sealed = True
        elif k == "year":
            said_year = True
            if not cur.has_content():
                pending, pending_set = None, True
                cur.dates, cur.dated = None, True
            elif nxt in _LEAD_AFTER:
                finalize()
                pending, pending_set = None, True
                cur = new_rule()
            else:
                for rule in [*rules, cur]:
                    rule.dated = True
        elif k == "days":
            days, ph, joined = set(item.days), item.ph, item.joined
            if cur.except_mode:
                if nxt == "interval" and cur.intervals:  # "Daily 9-5 except Sat 10-2": Sat's own hours
                    cur.except_open |= days
                    finalize()
                    cur.days, cur.ph = days, ph
                else:
                    cur.except_closed |= days
                    cur.ph = cur.ph or ph
            elif joined and prev == "days" and not (cur.closed and not cur.intervals and nxt == "interval"):
                cur.days = (cur.days or set()) | days  # "Sat, Sun", "fermé les lundis et mardis"
                cur.ph = cur.ph or ph
            elif cur.closed and cur.days is None and not cur.ph and not cur.intervals:
                cur.days, cur.ph = days, ph  # "closed Mondays"
            elif cur.intervals and cur.days is None and not cur.ph and not cur.closed and nxt != "interval":
                cur.days, cur.ph = days, ph  # "9:00-17:00 daily"
            elif (cur.days is not None or cur.ph) and not cur.intervals and not cur.closed:
                cur.days = (cur.days or set()) | days
                cur.ph = cur.ph or ph
            elif not cur.has_content():
                cur.days, cur.ph = days, ph
            else:
                finalize()
                cur.days, cur.ph = days, ph
        elif k == "interval":
            cur.except_mode = False
            iv = item.interval
            if cur.sealed:  # "Daily: 9-21 (summer) / 9-17 (winter)": same days, other dates
                days_before, ph_before = cur.days, cur.ph
                finalize()
                cur.days, cur.ph = set(days_before) if days_before is not None else None, ph_before
            if iv not in cur.intervals:
                cur.intervals.append(iv)
        elif k == "closed":
            if cur.except_mode or cur.closed:
                pass
            elif not cur.has_content() or (not cur.intervals and (cur.days is not None or cur.ph)):
                cur.closed = True
            else:
                finalize()
                cur.closed = True
        elif k == "except":
            cur.except_mode = True
        elif k == "flag":
            seg_flags.add(item.flag)
        elif k == "check":
            check = True
            seg_flags.add("check_in_out")
        elif k == "lonetime":
            if not check:
                unknown.append((item.a, item.b))
        elif k == "unknown":
            unknown.append((item.a, item.b))
    finalize()
    if said_year and not rules:  # "Ouvert à l'année": open, but when?
        seg_flags.add("no_times")
    # Days said with a reason for having no times ("weekends by appointment") need no `no_times`.
    quiet = bool(
        seg_flags & {"by_appointment", "variable_hours", "weather_dependent", "seasonal", "open_end"}
    )
    for rule in rules:
        _emit(rule, builder, flags, quiet_no_times=quiet)
    flags |= seg_flags
    # Adjacent unknown tokens are reported as one fragment, as written.
    merged: list[tuple[int, int]] = []
    for a, b in unknown:
        if merged and not segment[merged[-1][1] : a].strip(" ,.;:-–()"):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    skipped.extend(segment[a:b].strip() for a, b in merged if segment[a:b].strip())


# Segments are read independently: dates said in one apply to it alone.
_SEGMENT_SPLIT = re.compile(r"[;\n\r]|\|+|<br\s*/?>|</?(?:p|li|div)\s*>", re.IGNORECASE)
_MAX_SKIPPED: Final = 10
# Values that mean "nothing to say".
_PLACEHOLDERS: Final = frozenset(
    {"", *_words("- -- n/a na n.a. none null nil aucun aucune s/o n/d nd tbd ? unknown inconnu nan")}
)


def _parse_text(text: str, builder: _Builder, flags: set[str]) -> None:
    if len(text) > _MAX_TEXT:
        flags.add("too_long")
        text = text[:_MAX_TEXT]
    builder.said = set()
    if _parse_osm(text.strip(), builder, flags):
        return
    skipped: list[str] = []
    for segment in _SEGMENT_SPLIT.split(text):
        if segment.strip():
            _parse_segment(segment, builder, flags, skipped)
    for fragment in skipped[:_MAX_SKIPPED]:  # noise would drown the flags; the text keeps it all
        flags.add(f"skipped:{fragment[:80]}")


# ================================================================================================
# OSM opening_hours: strings the reference evaluator accepts are read by OSM's rules, not as prose
#
# `opening_hours` (the opening-hours-rs bindings) decides what is OSM syntax and is the reference for
# what it means, but it only evaluates (open/closed at a time): it exposes no rules to turn into
# rows. So a small reader below maps the rules it can represent (month / month-day ranges, weekdays,
# times, open/off/closed, comments) to periods with OSM's semantics (a normal rule `;` replaces what
# earlier rules said for the days and dates it selects, an additional rule `,` adds to them, a time
# range with `off` closes only that range, a rule for the next day cuts the part of a time range past
# midnight), and skips whole rules it cannot represent (week numbers, nth weekdays, easter, school
# holidays, sun times, `unknown`, fallback rules, open ends). A reading that would be `parsed` is then
# evaluated against the reference over a year: any difference makes it `partial` (`osm_mismatch`).
_OSM_DAY: Final = {code.casefold(): i for i, code in enumerate(_OSM_DAYS, start=1)}
_OSM_MONTH: Final = {m.casefold(): i for i, m in enumerate(_MONTH_ABBR, start=1)}
_OSM_TIME = r"(\d{1,2}):(\d{2})"
_OSM_TIMES = re.compile(rf"^{_OSM_TIME}-{_OSM_TIME}$")
_OSM_WDAY = re.compile(r"^(mo|tu|we|th|fr|sa|su)(?:-(mo|tu|we|th|fr|sa|su))?$", re.IGNORECASE)
_OSM_MONTHDAY = re.compile(
    r"^(?:(\d{4})\s*)?([a-z]{3})(?:\s*(\d{1,2}))?"
    r"(?:(\+)|\s*-\s*(?:(\d{4})\s*)?(?:([a-z]{3})\s*)?(\d{1,2})?)?$",
    re.IGNORECASE,
)
# Selectors and times the reader does not represent: the whole rule is kept as text.
_OSM_UNSUPPORTED = re.compile(
    r"\bweek\b|\[|\beaster\b|\bSH\b|sunrise|sunset|dusk|dawn|\bunknown\b|:\d\d\+|/|\bday\b|\bdays\b",
    re.IGNORECASE,
)
_OSM_MODIFIERS: Final = {"open": "open", "closed": "closed", "off": "closed"}


@dataclass(frozen=True)
class _OsmRule:
    source: str  # as written
    additional: bool  # joined to the previous rule by "," (adds to it) rather than ";" (replaces)
    dates: tuple[_Key, ...] | None  # None: all year
    days: frozenset[int] | None  # None: every day (or only PH)
    ph: bool
    intervals: tuple[_Interval, ...]  # empty: the whole day
    closed: bool
    comment: str | None
    skip: str | None  # why the rule cannot be represented: "skipped" or a flag ("open_end")


def _osm_split(text: str) -> list[tuple[str, str]] | None:
    """(separator before it, rule text) in order; separators inside quotes are text. A "," separates
    rules only after a time or a modifier and before something that is not a time ("Mo 10:00-12:00,
    14:00-16:00" is one rule, "Mo-Fr 08:00-12:00, We 14:00-18:00" two)."""
    parts: list[tuple[str, str]] = []
    sep, buf, quoted, i = ";", "", False, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            quoted = not quoted
        elif not quoted and (ch == ";" or text.startswith("||", i)):
            parts.append((sep, buf))
            sep, buf = (";", "") if ch == ";" else ("||", "")
            i += 1 if ch == ";" else 2
            continue
        elif not quoted and ch == ",":
            before, after = buf.rstrip(), text[i + 1 :].lstrip()
            ends_rule = bool(re.search(r"(\d{2}:\d{2}|\b(?:open|closed|off)|\")$", before, re.IGNORECASE))
            if ends_rule and after and not after[0].isdigit():
                parts.append((sep, buf))
                sep, buf, i = ",", "", i + 1
                continue
        buf += ch
        i += 1
    if quoted:
        return None
    parts.append((sep, buf))
    return [(s, r.strip()) for s, r in parts if r.strip()]


def _osm_wide(selector: str) -> tuple[_Key, ...] | None:
    """Month / month-day ranges ("Jan-Mar", "Dec 24-26", "Jun 24-Sep 01", "2025 Jun 01+", "Dec
    24,31") as period keys; None when not understood."""
    keys: list[_Key] = []
    month = ""
    for part in selector.split(","):
        part = part.strip()
        if part[:1].isdigit() and len(part) <= 2 and month:  # "Dec 24,31"
            part = f"{month} {part}"
        m = _OSM_MONTHDAY.match(part)
        if m is None:
            return None
        y1, mon1, d1, plus, y2, mon2, d2 = m.groups()
        if mon1.casefold() not in _OSM_MONTH or (mon2 and mon2.casefold() not in _OSM_MONTH):
            return None
        month1, month = _OSM_MONTH[mon1.casefold()], mon2 or mon1
        p1 = _Point(month1, int(d1) if d1 else None, int(y1) if y1 else None)
        if plus:
            key = _resolve(p1, None) if d1 else None  # "Mar 05+": from March 5 to the end of the year
        elif mon2 or d2 or y2:
            if d2 and not mon2 and not d1:
                return None
            month2 = _OSM_MONTH[mon2.casefold()] if mon2 else month1
            p2 = _Point(
                month2, int(d2) if d2 else None, int(y2) if y2 else (int(y1) if y1 and not mon2 else None)
            )
            if (y1 is None) != (p2.year is None):
                return None
            key = _resolve(p1, p2)
        else:
            key = _resolve(p1, p1, single=True)
        if key is None:
            return None
        keys.append(key)
    return tuple(keys)


def _osm_rule(sep: str, source: str) -> _OsmRule:
    def skipped(why: str = "skipped") -> _OsmRule:
        return _OsmRule(source, sep == ",", None, None, False, (), False, None, why)

    body, comment = source, None
    m = re.search(r'"([^"]*)"\s*$', body)
    if m:
        body, comment = body[: m.start()].strip(), m.group(1).strip()
    if sep == "||" and body:
        return skipped()
    if re.search(r":\d\d\+", body):
        return skipped("open_end")
    if not body:  # a comment alone says nothing about the weekly schedule
        return _OsmRule(source, sep == ",", None, frozenset(), False, (), False, comment, None)
    words = body.replace(": ", " ").rstrip(":").split()
    if len(words) > 1 and words[-1] == "unknown":  # "May 01-Oct 31 unknown": dates known, hours not
        dates = _osm_wide(" ".join(words[:-1]))
        if dates is not None:
            return _OsmRule(source, sep == ",", dates, frozenset(), False, (), False, comment, None)
    if _OSM_UNSUPPORTED.search(body.replace("24/7", "")):
        return skipped()
    closed = False
    if words and words[-1].casefold() in _OSM_MODIFIERS:
        closed = _OSM_MODIFIERS[words.pop().casefold()] == "closed"
    intervals: list[_Interval] = []
    while words and words[-1][:1].isdigit() and ":" in words[-1]:
        for span in reversed(words.pop().strip(",").split(",")):
            tm = _OSM_TIMES.match(span)
            if tm is None:
                return skipped()
            o, c = int(tm[1]) * 60 + int(tm[2]), int(tm[3]) * 60 + int(tm[4])
            iv = _norm_interval(o, c)
            if iv is None or o >= _DAY:
                return skipped()
            intervals.insert(0, iv)
    if words == ["24/7"]:
        words, intervals = [], [(0, _DAY)]
    days: set[int] | None = None
    ph = False
    if words and re.match(r"^(?:mo|tu|we|th|fr|sa|su|ph)\b", words[-1], re.IGNORECASE):
        days = set()
        for item in words.pop().split(","):
            if item.casefold() == "ph":
                ph = True
                continue
            wm = _OSM_WDAY.match(item)
            if wm is None:
                return skipped()
            d0 = _OSM_DAY[wm[1].casefold()]
            d1 = _OSM_DAY[wm[2].casefold()] if wm[2] else d0
            days |= {(d0 - 1 + k) % 7 + 1 for k in range((d1 - d0) % 7 + 1)}
    dates = _osm_wide(" ".join(words)) if words else None
    if words and dates is None:
        return skipped()
    if ph and not days:  # "PH off", "PH 10:00-14:00": nothing for the weekly schedule
        return _OsmRule(source, sep == ",", dates, frozenset(), True, (), closed, comment, None)
    return _OsmRule(
        source,
        sep == ",",
        dates,
        frozenset(days) if days else None,
        ph,
        tuple(intervals),
        closed,
        comment,
        None,
    )


def _osm_rules(text: str) -> list[_OsmRule] | None:
    """The rules of an OSM opening_hours string, or None when the reference evaluator does not accept
    it as OSM syntax (then it is read as prose)."""
    if not re.search(r"\d|\b(?:off|closed)\b|24/7", text, re.IGNORECASE) or not _osm.validate(text):
        return None
    if re.search(r"(?<!\d)\d:\d\d", text):  # "9:00-5:00" is 12-hour prose, not OSM's 09:00-05:00
        return None
    parts = _osm_split(text)
    return None if parts is None else [_osm_rule(sep, source) for sep, source in parts]


_OsmDay: TypeAlias = list[_Interval] | None  # None: closed


def _osm_apply(rules: list[_OsmRule], flags: set[str]) -> dict[_Key, dict[int, _OsmDay]]:
    """OSM's evaluation order on the period model: {period key: {day: intervals or closed}}; a dated
    period says only what its rules changed, other days keep the undated hours."""
    state: dict[_Key, dict[int, _OsmDay]] = {(None, None): {}}
    owner: dict[tuple[_Key, int], int] = {}  # the normal rule that last set a day
    emptied: set[_Key] = set()  # dated periods whose every day an undated rule took back
    for n, rule in enumerate(rules):
        if rule.skip is not None:
            flags.add("skipped:" + rule.source[:80] if rule.skip == "skipped" else rule.skip)
            continue
        if rule.ph:
            flags.add("public_holidays")
        if rule.comment:
            flags |= _comment_flags(rule.comment)
        days = set(ALL_DAYS) if rule.days is None else set(rule.days)
        if rule.dates is None:
            targets = list(state)
        else:
            targets = []
            for key in rule.dates:
                state.setdefault(key, {})
                targets.append(key)
                targets.extend(k for k in state if k not in targets and k != (None, None) and _within(k, key))
        for key in targets:
            have = state[key]
            for day in days:
                current = have.get(day, state[(None, None)].get(day) if key != (None, None) else None)
                ivs = [] if current is None else list(current)
                if rule.closed and rule.intervals:  # "12:00-13:00 off": only that range
                    if not ivs and rule.days is None:
                        continue
                    for cut in rule.intervals:
                        ivs = [piece for iv in ivs for piece in _subtract(iv, cut)]
                    have[day] = ivs or None
                    continue
                new = None if rule.closed else list(rule.intervals or [(0, _DAY)])
                if rule.additional:
                    have[day] = ivs + (new or []) if ivs or new else None
                    if new is None:  # an additional "off" also cuts the night before (as OSM reads it)
                        owner[(key, day)] = n
                elif rule.dates is None and key != (None, None):
                    have.pop(day, None)  # the dated period now keeps the undated hours for that day
                    if not have:
                        emptied.add(key)
                else:
                    have[day] = new
                    owner[(key, day)] = n
    # A rule for the next day cuts what a time range of another rule says past midnight.
    for key, have in state.items():
        for day, said in have.items():
            nxt = day % 7 + 1
            o_day, o_next = owner.get((key, day)), owner.get((key, nxt))
            if said and o_next is not None and o_next != o_day and any(c <= o for o, c in said if c != _DAY):
                have[day] = [(o, _DAY) if c <= o and c != _DAY else (o, c) for o, c in said]
                flags.add("overnight_cut")
    return {key: have for key, have in state.items() if have or key not in emptied}


def _within(inner: _Key, outer: _Key) -> bool:
    """Whether every day of a yearly key lies in another (dated keys, one-off, are within none)."""
    inner_days = _span_days(inner)
    return bool(inner_days) and inner_days <= _span_days(outer)


def _span_days(key: _Key) -> frozenset[int]:
    """Days of a yearly key as day-of-year in a leap year (dated keys: empty, never nested)."""
    start, end = key
    if (start and len(start) > 5) or (end and len(end) > 5):
        return frozenset()
    lo = _doy(start or "01-01")
    hi = _doy(end or "12-31")
    return frozenset(range(lo, hi + 1)) if lo <= hi else frozenset([*range(lo, 367), *range(1, hi + 1)])


def _doy(mmdd: str) -> int:
    return (dt.date(2000, int(mmdd[:2]), int(mmdd[3:])) - dt.date(2000, 1, 1)).days + 1


def _comment_flags(comment: str) -> set[str]:
    """Flags a comment says ("by appointment", "call ahead"), else the comment as skipped text."""
    scratch, said, skipped = _Builder(), set[str](), list[str]()
    _parse_segment(comment, scratch, said, skipped)
    found = {f for f in said if f in _NOTES and f not in ("no_times",)}
    return found or {"skipped:" + comment[:80]}


def _parse_osm(text: str, builder: _Builder, flags: set[str]) -> bool:
    """Read an OSM string into the builder; False when it is not OSM syntax."""
    rules = _osm_rules(text)
    if rules is None:
        return False
    own: set[str] = set()
    state = _osm_apply(rules, own)
    scratch = _Builder()
    for key, have in state.items():
        scratch.touch(key)
        for day, ivs in sorted(have.items()):
            if ivs is None:
                scratch.add_closed(key, [day], strong=True)
            elif ivs:
                scratch.add_hours(key, [day], ivs, replace=True)
    if not own - INFO_FLAGS and not _osm_agrees(text, scratch.build()):
        own.add("osm_mismatch")
    for key, have in state.items():
        builder.touch(key)
        for day, ivs in sorted(have.items()):
            if ivs is None:
                builder.add_closed(key, [day], strong=True)
            elif ivs:
                builder.add_hours(key, [day], ivs)
    flags |= own
    return True


def _key_days(key: _Key) -> tuple[dt.date | None, dt.date | None] | frozenset[int]:
    """A dated key as its first/last day (YYYY) or its days of a leap year (MM-DD, yearly)."""
    start, end = key
    if (start and len(start) > 5) or (end and len(end) > 5):
        return (
            dt.date.fromisoformat(start) if start and len(start) > 5 else None,
            dt.date.fromisoformat(end) if end and len(end) > 5 else None,
        )
    return _span_days(key)


def _cover_size(cover: tuple[dt.date | None, dt.date | None] | frozenset[int]) -> int:
    """How many days a period's dates cover (`_key_days`); an open end counts as longer than any year."""
    if isinstance(cover, frozenset):
        return len(cover)
    lo, hi = cover
    return (hi - lo).days + 1 if lo and hi else 1 << 20


def _model_spans(
    periods: tuple[OpeningPeriod, ...], first: dt.date, last: dt.date
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Open spans of the period model between two dates: on a date, the shortest dated period that
    says something about its weekday wins (one without hours says "unknown" for every day), else the
    undated period; a day nobody mentions is closed."""
    undated = [p for p in periods if not (p.start_date or p.end_date)]
    dated = [
        (p, _key_days((p.start_date, p.end_date)), _says(p)) for p in periods if p.start_date or p.end_date
    ]

    def covers(cover: tuple[dt.date | None, dt.date | None] | frozenset[int], day: dt.date) -> bool:
        if isinstance(cover, frozenset):
            doy = _doy(f"{day.month:02d}-{day.day:02d}")
            return doy in cover
        lo, hi = cover
        return (lo is None or day >= lo) and (hi is None or day <= hi)

    def governing(day: dt.date) -> OpeningPeriod | None:
        wd = day.isoweekday()
        says = [
            (_cover_size(cover), p) for p, cover, weekdays in dated if wd in weekdays and covers(cover, day)
        ]
        return min(says, key=lambda s: s[0])[1] if says else undated[0] if undated else None

    # As OSM reads it, a night stops at midnight when another period with hours governs the next day.
    days = [first + dt.timedelta(days=i) for i in range(-1, (last - first).days + 2)]
    chosen = [governing(day) for day in days]
    spans: list[tuple[dt.datetime, dt.datetime]] = []
    for i, day in enumerate(days[:-1]):
        period = chosen[i]
        if period is None:
            continue
        base = dt.datetime.combine(day, dt.time())
        for h in period.hours:
            if h.day_id == day.isoweekday():
                o, c = _minutes(h.open_time), _minutes(h.close_time)
                after = chosen[i + 1]
                if (
                    c <= o
                    and after is not None
                    and after is not period
                    and (after.hours or after.closed_days)
                ):
                    c = _DAY
                spans.append(
                    (base + dt.timedelta(minutes=o), base + dt.timedelta(minutes=c if c > o else c + _DAY))
                )
    return _clip(spans, first, last)


def _reference_spans(
    oh: _osm.OpeningHours, first: dt.date, last: dt.date
) -> list[tuple[dt.datetime, dt.datetime]]:
    lo = dt.datetime.combine(first - dt.timedelta(days=1), dt.time())
    hi = dt.datetime.combine(last + dt.timedelta(days=2), dt.time())
    return _clip(
        [(a, b or hi) for a, b, state, _ in oh.intervals(lo, hi) if str(state) == "open"], first, last
    )


def _clip(
    spans: list[tuple[dt.datetime, dt.datetime]], first: dt.date, last: dt.date
) -> list[tuple[dt.datetime, dt.datetime]]:
    lo, hi = (
        dt.datetime.combine(first, dt.time()),
        dt.datetime.combine(last + dt.timedelta(days=1), dt.time()),
    )
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for a, b in sorted((max(a, lo), min(b, hi)) for a, b in spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


_CHECK_YEAR: Final = 2025
_MAX_CHECK_YEARS: Final = 3
# Selectors that make a schedule differ from one week to another (months, dates, weeks, holidays, years).
_DATED_OSM: Final = re.compile(
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|week|\bph\b|\bsh\b|easter|\d{4}|\[", re.IGNORECASE
)


@functools.lru_cache(maxsize=4096)  # a source repeats its hours strings
def _osm_agrees(text: str, periods: tuple[OpeningPeriod, ...]) -> bool:
    """The reading gives the same open times as the reference evaluator over a whole year (and over
    the years its dated periods name); a weekly schedule with no dated selector is the same every week,
    so two weeks are compared (0.3 ms instead of ~10 ms for a year)."""
    try:
        oh = _osm.OpeningHours(text)
        if not _DATED_OSM.search(text) and all(p.start_date is None and p.end_date is None for p in periods):
            first, last = dt.date(_CHECK_YEAR, 1, 6), dt.date(_CHECK_YEAR, 1, 19)  # Monday to Sunday, twice
            return _model_spans(periods, first, last) == _reference_spans(oh, first, last)
        years = {_CHECK_YEAR} | {
            int(d[:4]) for p in periods for d in (p.start_date, p.end_date) if d and len(d) == 10
        }
        if len(years) > _MAX_CHECK_YEARS:
            return False
        return all(
            _model_spans(periods, dt.date(y, 1, 1), dt.date(y, 12, 31))
            == _reference_spans(oh, dt.date(y, 1, 1), dt.date(y, 12, 31))
            for y in sorted(years)
        )
    except Exception:  # the reference refused what it validated: not sure, so not parsed
        return False


# ================================================================================================
# Objects
_DOW_CODES: Final = {"MO": 1, "TU": 2, "WE": 3, "TH": 4, "FR": 5, "SA": 6, "SU": 7}
_CLOCK = re.compile(r"^\s*T?(\d{1,2}):?(\d{2})(?::?\d{2}(?:\.\d+)?)?\s*(?:([ap])\.?\s?m\.?)?", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})|^\s*--(\d{2})-(\d{2})")


def _clock(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2400:
        value = f"{value:04d}"
    m = _CLOCK.match(value) if isinstance(value, str) else None
    if m is None:
        return None
    hour, minute = int(m.group(1)), int(m.group(2))
    if m.group(3):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if m.group(3).lower() == "p" else 0)
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        return None
    return hour * 60 + minute


def _spec_date(value: object) -> str | bool | None:
    """schema.org validFrom/validThrough as a period date; None when absent, False when unreadable."""
    if value in (None, ""):
        return None
    m = _ISO_DATE.match(value) if isinstance(value, str) else None
    if m is None:
        return False
    if m.group(1):
        key = _resolve(_Point(int(m.group(2)), int(m.group(3)), int(m.group(1))), None)
    else:
        key = _resolve(_Point(int(m.group(4)), int(m.group(5))), None)
    return key[0] if key else False


def _day_of(value: object) -> int | None:
    if isinstance(value, Mapping):
        value = value.get("@id") or value.get("name") or value.get("id")
    if not isinstance(value, str):
        return None
    word = _fold(re.split(r"[/:#]", value.strip())[-1])[0].strip()
    if word.upper()[:2] in _DOW_CODES and len(word) == 2:
        return _DOW_CODES[word.upper()]
    return _DAY_WORDS.get(word)


class _Parser:
    def __init__(self) -> None:
        self.builder = _Builder()
        self.flags: set[str] = set()

    def value(self, value: object, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            self.flags.add("unsupported_object")
            return
        if value is None or isinstance(value, bool):
            if isinstance(value, bool):
                self.flags.add("unsupported_object")
            return
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            if value.strip().casefold() not in _PLACEHOLDERS:
                _parse_text(value, self.builder, self.flags)
            return
        if isinstance(value, (int, float)):
            _parse_text(str(value), self.builder, self.flags)
            return
        if isinstance(value, (list, tuple)):
            for item in value:
                before = (self.builder.changes, len(self.flags))
                self.value(item, depth + 1)
                if before == (self.builder.changes, len(self.flags)) and _text_of(item):
                    self.flags.add(f"skipped:{(_text_of(item) or '')[:80]}")
            return
        if isinstance(value, Mapping):
            if value:
                self.mapping(value, depth)
            return
        self.flags.add("unsupported_object")

    def mapping(self, obj: Mapping[object, object], depth: int) -> None:
        keys = {str(k) for k in obj}
        if "structured" in keys or ("text" in keys and keys & {"isOpen", "label", "categories"}):
            self.here(obj)
        elif keys & {"dayOfWeek", "opens", "closes"} or obj.get("@type") == "OpeningHoursSpecification":
            self.spec(obj)
        elif isinstance(periods := obj.get("periods"), list):
            self.google_periods(periods)
        elif known := [
            k
            for k in (
                "openingHours",
                "openingHoursSpecification",
                "opening_hours",
                "hours",
                "weekday_text",
                "weekdayDescriptions",
                "regularOpeningHours",
                "text",
                "value",
            )
            if k in keys
        ]:
            for k in known:
                self.value(obj[k], depth + 1)
        elif obj and all(_day_of(k) for k in obj):
            self.day_keyed(obj)
        else:
            self.flags.add("unsupported_object")

    def here(self, obj: Mapping[object, object]) -> None:
        structured = obj.get("structured")
        before, flags = self.builder.changes, set(self.flags)
        for entry in structured if isinstance(structured, list) else [structured] if structured else []:
            if isinstance(entry, Mapping):
                self.here_entry(entry)
        if self.builder.changes == before:  # no usable `structured`: read the text lines
            self.flags = flags
            text = obj.get("text")
            lines = text if isinstance(text, list) else [text]
            for line in lines:
                if isinstance(line, str):
                    _parse_text(line, self.builder, self.flags)

    def here_entry(self, entry: Mapping[object, object]) -> None:
        start = entry.get("start")
        m_start = re.match(r"^T?(\d{2})(\d{2})(\d{2})?$", start.strip()) if isinstance(start, str) else None
        duration = entry.get("duration")
        m_dur = (
            re.match(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:\d+S)?$", duration.strip().upper())
            if isinstance(duration, str)
            else None
        )
        recurrence = entry.get("recurrence")
        days: set[int] = set(ALL_DAYS)
        if isinstance(recurrence, str):
            m_days = re.search(r"BYDAY[:=]([A-Z,]+)", recurrence.upper())
            if m_days:
                days = {_DOW_CODES[c] for c in m_days.group(1).split(",") if c in _DOW_CODES}
        if m_start is None or m_dur is None or not (m_dur.group(1) or m_dur.group(2)) or not days:
            self.flags.add("skipped:" + json.dumps(dict(entry), default=str, ensure_ascii=False)[:80])
            return
        o = int(m_start.group(1)) * 60 + int(m_start.group(2))
        length = int(m_dur.group(1) or 0) * 60 + int(m_dur.group(2) or 0)
        iv = (
            (0, _DAY)
            if length >= _DAY
            else _norm_interval(o, (o + length) % _DAY or _DAY)
            if length
            else None
        )
        if o >= _DAY or iv is None:
            self.flags.add("skipped:" + json.dumps(dict(entry), default=str, ensure_ascii=False)[:80])
            return
        _emit(_Rule(days=days, intervals=[iv]), self.builder, self.flags)

    def spec(self, obj: Mapping[object, object]) -> None:
        raw_days = obj.get("dayOfWeek")
        listed = raw_days if isinstance(raw_days, list) else [raw_days] if raw_days else []
        days = {d for d in (_day_of(x) for x in listed) if d}
        ph = any(isinstance(x, str) and "holiday" in x.casefold() for x in listed)
        start, end = _spec_date(obj.get("validFrom")), _spec_date(obj.get("validThrough"))
        opens, closes = obj.get("opens"), obj.get("closes")
        o, c = _clock(opens), _clock(closes)
        unreadable = start is False or end is False or (opens not in (None, "") and o is None)
        unreadable = (
            unreadable or (closes not in (None, "") and c is None) or (bool(listed) and not days and not ph)
        )
        if unreadable:
            self.flags.add("skipped:" + json.dumps(dict(obj), default=str, ensure_ascii=False)[:80])
            return
        assert not isinstance(start, bool) and not isinstance(end, bool)
        rule = _Rule(days=days or None, ph=ph)
        if start or end:
            rule.dates, rule.dated = [(start, end)], True
        # Google's convention, which the website connector follows: 00:00–00:00 (or no times) is closed.
        if (o is None and c is None) or (o == c == 0):
            rule.closed = True
            if rule.days is None and not ph:
                rule.days = set(ALL_DAYS)
        else:
            iv = _norm_interval(o if o is not None else 0, c if c is not None else _DAY)
            if iv is None:
                self.flags.add("skipped:" + json.dumps(dict(obj), default=str, ensure_ascii=False)[:80])
                return
            rule.intervals = [iv]
        if not listed:
            rule.days = None if not rule.closed else rule.days
        _emit(rule, self.builder, self.flags)

    def google_periods(self, periods: list[object]) -> None:
        for period in periods:
            if not isinstance(period, Mapping):
                self.flags.add("unsupported_object")
                continue
            opening, closing = period.get("open"), period.get("close")
            if not isinstance(opening, Mapping):
                self.flags.add("unsupported_object")
                continue
            day = opening.get("day")
            o = _google_time(opening)
            if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6 or o is None:
                self.flags.add("unsupported_object")
                continue
            if closing is None:  # Google: one period without a close is open around the clock
                _emit(_Rule(days=set(ALL_DAYS), intervals=[(0, _DAY)]), self.builder, self.flags)
                continue
            c = _google_time(closing) if isinstance(closing, Mapping) else None
            iv = _norm_interval(o, c) if c is not None else None
            if iv is None:
                self.flags.add("unsupported_object")
                continue
            _emit(_Rule(days={day or 7}, intervals=[iv]), self.builder, self.flags)

    def day_keyed(self, obj: Mapping[object, object]) -> None:
        for key, val in obj.items():
            day = _day_of(key) or 1
            code = _OSM_DAYS[day - 1]
            for v in val if isinstance(val, list) else [val]:
                if isinstance(v, str):
                    _parse_text(f"{code} {v}", self.builder, self.flags)
                elif isinstance(v, Mapping):
                    o = _clock(v.get("open", v.get("opens", v.get("from", v.get("start")))))
                    c = _clock(v.get("close", v.get("closes", v.get("to", v.get("end")))))
                    iv = _norm_interval(o, c) if o is not None and c is not None else None
                    if iv is None:
                        self.flags.add("unsupported_object")
                    else:
                        _emit(_Rule(days={day}, intervals=[iv]), self.builder, self.flags)
                elif v is False or v is None or v == []:
                    _emit(_Rule(days={day}, closed=True), self.builder, self.flags)
                else:
                    self.flags.add("unsupported_object")


def _google_time(point: Mapping[object, object]) -> int | None:
    if "time" in point:
        return _clock(point.get("time"))
    hour, minute = point.get("hour", 0), point.get("minute", 0)
    if isinstance(hour, int) and isinstance(minute, int) and 0 <= hour <= 24 and 0 <= minute < 60:
        return hour * 60 + minute
    return None


def _text_of(value: object, depth: int = 0) -> str | None:
    """The value as text, kept verbatim: strings stripped, HERE objects as their text lines (as the
    connector joins them), lists joined with "; ", other objects as JSON."""
    if value is None:
        return None
    if depth > _MAX_DEPTH:
        return "…"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (Mapping, list, tuple)) and not value:
        return None
    if isinstance(value, (list, tuple)):
        parts = [t for t in (_text_of(v, depth + 1) for v in value) if t]
        return "; ".join(parts) or None
    if isinstance(value, Mapping) and "text" in value and ("structured" in value or "isOpen" in value):
        text = value.get("text")
        lines = text if isinstance(text, list) else [text]
        found = [
            part.strip()
            for line in lines
            if isinstance(line, str)
            for part in re.split(r"<br\s*/?>", line)
            if part.strip()
        ]
        if found:
            return "; ".join(dict.fromkeys(found))
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        try:
            return repr(value)[:2000]
        except Exception:
            return type(value).__name__


# ================================================================================================
# Public API
def parse_hours(value: object) -> ParsedHours:
    """Opening hours of a source value (text, schema.org, OSM, HERE, lists of them); never raises."""
    try:
        text = _text_of(value)
    except Exception:  # a hostile object (e.g. a __str__ that raises)
        text = None
    try:
        parser = _Parser()
        parser.value(value)
        periods = parser.builder.build()
        flags = parser.flags
    except Exception as exc:  # defensive: a value must never stop a run
        periods, flags = (), {f"internal_error:{type(exc).__name__}"}
    if any(p.start_date or p.end_date for p in periods):
        flags.discard("seasonal")  # the dates say it
    if not periods and not flags and (text is None or text.casefold() in _PLACEHOLDERS):
        return ParsedHours((), text, "empty", ())
    if not periods:
        status = "unparsed"
        flags = flags or {"unrecognized"}
    else:
        status = "partial" if flags - INFO_FLAGS else "parsed"
    return ParsedHours(periods, text, status, tuple(sorted(flags)))


def _render_days(days: list[int]) -> str:
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ",".join(
        _OSM_DAYS[r[0] - 1] if len(r) == 1 else f"{_OSM_DAYS[r[0] - 1]}-{_OSM_DAYS[r[-1] - 1]}" for r in runs
    )


def _render_date(value: str) -> str:
    if len(value) == 10:
        return f"{value[:4]} {_MONTH_ABBR[int(value[5:7]) - 1]} {value[8:]}"
    return f"{_MONTH_ABBR[int(value[:2]) - 1]} {value[3:]}"


def _render_dates(start: str | None, end: str | None) -> str:
    if start and end:
        return _render_date(start) if start == end else f"{_render_date(start)}-{_render_date(end)}"
    if start:
        return f"{_render_date(start)}+"
    return f"until {_render_date(end)}" if end else ""


_NOTES: Final = {
    "by_appointment": "by appointment",
    "weather_dependent": "weather permitting",
    "variable_hours": "hours vary",
    "public_holidays": "public holidays not included",
    "seasonal": "seasonal",
    "no_times": "some days without times",
    "check_in_out": "check-in/check-out times",
    "open_end": "open end",
    "temporary": "temporary",
    "too_long": "text cut",
    "unsupported_object": "unsupported data",
}


def _year_days(p: OpeningPeriod) -> frozenset[int]:
    """The days of a year (leap) a period's dates cover; a dated period longer than a year, or open-ended,
    covers them all."""
    cover = _key_days((p.start_date, p.end_date))
    if isinstance(cover, frozenset):
        return cover
    lo, hi = cover
    if lo is None or hi is None or (hi - lo).days >= 365:
        return frozenset(range(1, 367))
    return frozenset(
        _doy(f"{d.month:02d}-{d.day:02d}")
        for d in (lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1))
    )


def _says(p: OpeningPeriod) -> frozenset[int]:
    """The weekdays a period says something about (all of them for one with neither hours nor closed days)."""
    days = frozenset([h.day_id for h in p.hours] + list(p.closed_days))
    return days or frozenset(ALL_DAYS)


def _osm_order(periods: Sequence[OpeningPeriod]) -> list[OpeningPeriod]:
    """`periods` in the order OSM reads as the period model does: in the model the shortest dated period
    governs a day it says something about; in OSM the rule written last does. So a wider period that shares
    days and weekdays with a narrower one is written before it ("Mar Mo-Su off; Mar 01 unknown"); the
    others keep their order (the canonical text of most hours never changes)."""
    out: list[OpeningPeriod] = []
    for p in periods:
        at = len(out)
        if p.start_date or p.end_date:
            size, days, says = _cover_size(_key_days((p.start_date, p.end_date))), _year_days(p), _says(p)
            for i, q in enumerate(out):
                if (
                    (q.start_date or q.end_date)
                    and _cover_size(_key_days((q.start_date, q.end_date))) < size
                    and _year_days(q) & days
                    and _says(q) & says
                ):
                    at = i
                    break
        out.insert(at, p)
    return out


def to_text(parsed: ParsedHours) -> str:
    """Canonical OSM-style rendering of the periods (the original text when nothing was parsed)."""
    if parsed.status in ("empty", "unparsed") or not parsed.periods:
        return " ".join((parsed.text or "").split())
    rules: list[str] = []
    for period in _osm_order(parsed.periods):
        prefix = _render_dates(period.start_date, period.end_date)
        state: dict[int, list[str]] = {}
        for h in period.hours:
            state.setdefault(h.day_id, []).append(f"{h.open_time}-{h.close_time}")
        groups: dict[str, list[int]] = {}
        for day in sorted({*state, *period.closed_days}):
            groups.setdefault("off" if day in period.closed_days else ",".join(state[day]), []).append(day)
        if not prefix and groups == {"00:00-24:00": list(ALL_DAYS)}:
            rules.append("24/7")
            continue
        body = [f"{_render_days(days)} {when}" for when, days in groups.items()] or ["unknown"]
        rules.extend(f"{prefix} {b}".strip() for b in body)
    text = "; ".join(rules)
    if parsed.status == "partial":
        notes = [
            f[len("skipped:") :].replace('"', "'") if f.startswith("skipped:") else _NOTES.get(f, f)
            for f in parsed.flags
            if f not in INFO_FLAGS
        ]
        text += ' "' + "; ".join(notes) + '"'
    return text


def rows(parsed: ParsedHours) -> list[HoursRow]:
    """Rows to stage: one per day interval or closed day (null times), one with null hours for a
    period that has none. Periods and hours are numbered from 1 in order."""
    out: list[HoursRow] = []
    for seq, period in enumerate(parsed.periods, start=1):
        entries: list[tuple[int, str | None, str | None]] = [
            (h.day_id, h.open_time, h.close_time) for h in period.hours
        ] + [(d, None, None) for d in period.closed_days]
        entries.sort(key=lambda e: (e[0], e[1] or ""))
        if not entries:
            out.append((seq, period.start_date, period.end_date, None, None, None, None))
        for hseq, (day, open_time, close_time) in enumerate(entries, start=1):
            out.append((seq, period.start_date, period.end_date, hseq, day, open_time, close_time))
    return out
