"""OSM `opening_hours` strings, read by OSM's rules and checked against the reference evaluator."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Final, TypeAlias

import opening_hours as _osm

from listings.transform.hours.dates import (
    Point,
    cover_size,
    day_of_year,
    days_said,
    key_days,
    resolve,
    within,
)
from listings.transform.hours.model import (
    ALL_DAYS,
    DAY,
    INFO_FLAGS,
    NOTES,
    Builder,
    Interval,
    Key,
    OpeningPeriod,
    norm_interval,
    subtract,
)
from listings.transform.hours.natural import parse_segment
from listings.transform.hours.text import MONTH_ABBR, OSM_DAYS

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
_OSM_DAY: Final = {code.casefold(): i for i, code in enumerate(OSM_DAYS, start=1)}
_OSM_MONTH: Final = {m.casefold(): i for i, m in enumerate(MONTH_ABBR, start=1)}
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
    dates: tuple[Key, ...] | None  # None: all year
    days: frozenset[int] | None  # None: every day (or only PH)
    ph: bool
    intervals: tuple[Interval, ...]  # empty: the whole day
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


def _osm_wide(selector: str) -> tuple[Key, ...] | None:
    """Month / month-day ranges ("Jan-Mar", "Dec 24-26", "Jun 24-Sep 01", "2025 Jun 01+", "Dec
    24,31") as period keys; None when not understood."""
    keys: list[Key] = []
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
        p1 = Point(month1, int(d1) if d1 else None, int(y1) if y1 else None)
        if plus:
            key = resolve(p1, None) if d1 else None  # "Mar 05+": from March 5 to the end of the year
        elif mon2 or d2 or y2:
            if d2 and not mon2 and not d1:
                return None
            month2 = _OSM_MONTH[mon2.casefold()] if mon2 else month1
            p2 = Point(
                month2, int(d2) if d2 else None, int(y2) if y2 else (int(y1) if y1 and not mon2 else None)
            )
            if (y1 is None) != (p2.year is None):
                return None
            key = resolve(p1, p2)
        else:
            key = resolve(p1, p1, single=True)
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
    intervals: list[Interval] = []
    while words and words[-1][:1].isdigit() and ":" in words[-1]:
        for span in reversed(words.pop().strip(",").split(",")):
            tm = _OSM_TIMES.match(span)
            if tm is None:
                return skipped()
            o, c = int(tm[1]) * 60 + int(tm[2]), int(tm[3]) * 60 + int(tm[4])
            iv = norm_interval(o, c)
            if iv is None or o >= DAY:
                return skipped()
            intervals.insert(0, iv)
    if words == ["24/7"]:
        words, intervals = [], [(0, DAY)]
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


_OsmDay: TypeAlias = list[Interval] | None  # None: closed


def _osm_apply(rules: list[_OsmRule], flags: set[str]) -> dict[Key, dict[int, _OsmDay]]:
    """OSM's evaluation order on the period model: {period key: {day: intervals or closed}}; a dated
    period says only what its rules changed, other days keep the undated hours."""
    state: dict[Key, dict[int, _OsmDay]] = {(None, None): {}}
    owner: dict[tuple[Key, int], int] = {}  # the normal rule that last set a day
    emptied: set[Key] = set()  # dated periods whose every day an undated rule took back
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
                targets.extend(k for k in state if k not in targets and k != (None, None) and within(k, key))
        for key in targets:
            have = state[key]
            for day in days:
                current = have.get(day, state[(None, None)].get(day) if key != (None, None) else None)
                ivs = [] if current is None else list(current)
                if rule.closed and rule.intervals:  # "12:00-13:00 off": only that range
                    if not ivs and rule.days is None:
                        continue
                    for cut in rule.intervals:
                        ivs = [piece for iv in ivs for piece in subtract(iv, cut)]
                    have[day] = ivs or None
                    continue
                new = None if rule.closed else list(rule.intervals or [(0, DAY)])
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
            if said and o_next is not None and o_next != o_day and any(c <= o for o, c in said if c != DAY):
                have[day] = [(o, DAY) if c <= o and c != DAY else (o, c) for o, c in said]
                flags.add("overnight_cut")
    return {key: have for key, have in state.items() if have or key not in emptied}


def _comment_flags(comment: str) -> set[str]:
    """Flags a comment says ("by appointment", "call ahead"), else the comment as skipped text."""
    scratch, said, skipped = Builder(), set[str](), list[str]()
    parse_segment(comment, scratch, said, skipped)
    found = {f for f in said if f in NOTES and f not in ("no_times",)}
    return found or {"skipped:" + comment[:80]}


def parse_osm(text: str, builder: Builder, flags: set[str]) -> bool:
    """Read an OSM string into the builder; False when it is not OSM syntax."""
    rules = _osm_rules(text)
    if rules is None:
        return False
    own: set[str] = set()
    state = _osm_apply(rules, own)
    scratch = Builder()
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


def _model_spans(
    periods: tuple[OpeningPeriod, ...], first: dt.date, last: dt.date
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Open spans of the period model between two dates: on a date, the shortest dated period that
    says something about its weekday wins (one without hours says "unknown" for every day), else the
    undated period; a day nobody mentions is closed."""
    undated = [p for p in periods if not (p.start_date or p.end_date)]
    dated = [
        (p, key_days((p.start_date, p.end_date)), days_said(p)) for p in periods if p.start_date or p.end_date
    ]

    def covers(cover: tuple[dt.date | None, dt.date | None] | frozenset[int], day: dt.date) -> bool:
        if isinstance(cover, frozenset):
            doy = day_of_year(f"{day.month:02d}-{day.day:02d}")
            return doy in cover
        lo, hi = cover
        return (lo is None or day >= lo) and (hi is None or day <= hi)

    def governing(day: dt.date) -> OpeningPeriod | None:
        wd = day.isoweekday()
        says = [
            (cover_size(cover), p) for p, cover, weekdays in dated if wd in weekdays and covers(cover, day)
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
                    c = DAY
                spans.append(
                    (base + dt.timedelta(minutes=o), base + dt.timedelta(minutes=c if c > o else c + DAY))
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
