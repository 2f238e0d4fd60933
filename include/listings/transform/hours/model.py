"""What a reading is made of: flags, periods and their hours, minute intervals, and the builder that accumulates rules into periods."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, TypeAlias

ALL_DAYS: Final = (1, 2, 3, 4, 5, 6, 7)
# Flags that record an assumption rather than something left out: they do not make a result partial.
INFO_FLAGS: Final = frozenset({"assumed_daily", "approximate_dates", "overnight_cut"})
# (period seq, start_date, end_date, hours seq, day_id, open_time, close_time); the hours part is all
# None for a period without hours, the times None for a closed day.
HoursRow: TypeAlias = tuple[int, str | None, str | None, int | None, int | None, str | None, str | None]

MAX_TEXT: Final = 4000  # longer strings are cut: opening hours are never that long, regexes stay fast
MAX_DEPTH: Final = 8
DAY = 1440


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
Interval: TypeAlias = tuple[int, int]
Key: TypeAlias = tuple[str | None, str | None]


def _unroll(iv: Interval) -> tuple[int, int]:
    return (iv[0], iv[1] if iv[1] > iv[0] else iv[1] + DAY)


def _overlaps(a: Interval, b: Interval) -> bool:
    a0, a1 = _unroll(a)
    b0, b1 = _unroll(b)
    return any(a0 < b1 + s and b0 + s < a1 for s in (-DAY, 0, DAY))


def subtract(iv: Interval, cut: Interval) -> list[Interval]:
    pieces = [_unroll(iv)]
    c0, c1 = _unroll(cut)
    for shift in (-DAY, 0, DAY):
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
    out: list[Interval] = []
    for p0, p1 in pieces:
        o, c = p0 % DAY, p1 if p1 <= DAY else p1 - DAY
        if p1 > p0 and o != c:
            out.append((o, c))
    return out


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals of a day as one ("9-17, 12-20" is 09:00-20:00)."""
    out: list[tuple[int, int]] = []
    for o, c in sorted(_unroll(iv) for iv in set(intervals)):
        if out and o <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], c))
        else:
            out.append((o, c))
    return [(0, DAY) if c - o >= DAY else (o, c if c <= DAY else c - DAY) for o, c in out]


def norm_interval(o: int, c: int) -> Interval | None:
    """Open/close minutes as read → canonical, or None: 24:00 opens at 00:00, 00:00 closes at 24:00,
    an extended close (OSM "26:00") is the next day's time. 23:59 stays 23:59: it is what was written,
    and a minute before midnight is not midnight (OSM and its evaluators read it so)."""
    if o == DAY:
        o = 0
    if c == 0:
        c = DAY
    if c > DAY:
        c -= DAY
    if not (0 <= o < DAY and 0 < c <= DAY) or o == c:
        return None
    return (o, c)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ================================================================================================
# Accumulating rules into periods
@dataclass
class _Acc:
    hours: dict[int, list[Interval]] = field(default_factory=dict)
    strong: set[int] = field(default_factory=set)  # closed days said explicitly ("closed Mondays")
    weak: set[int] = field(default_factory=set)  # closed by a bare "Closed": any opening said wins
    breaks: list[tuple[frozenset[int] | None, tuple[Interval, ...]]] = field(default_factory=list)


class Builder:
    def __init__(self) -> None:
        self.acc: dict[Key, _Acc] = {}
        self.changes = 0
        self.said: set[tuple[Key, int]] = set()  # days given hours by the text being read

    def touch(self, key: Key) -> _Acc:
        if key not in self.acc:
            self.acc[key] = _Acc()
            if key != (None, None):
                self.changes += 1
        return self.acc[key]

    def add_hours(
        self, key: Key, days: Iterable[int], intervals: list[Interval], *, replace: bool = False
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

    def add_closed(self, key: Key, days: Iterable[int], *, strong: bool) -> None:
        acc = self.touch(key)
        (acc.strong if strong else acc.weak).update(days)
        self.changes += 1

    def add_break(self, key: Key, days: frozenset[int] | None, intervals: tuple[Interval, ...]) -> None:
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
                        ivs = [piece for iv in ivs for piece in subtract(iv, cut)]
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
class Rule:
    dates: list[Key] | None = None  # None: undated (all year)
    dated: bool = False  # dates were said, possibly "all year" (then a trailing date leaves it alone)
    days: set[int] | None = None  # None: not said
    ph: bool = False
    intervals: list[Interval] = field(default_factory=list)
    closed: bool = False
    except_mode: bool = False
    except_closed: set[int] = field(default_factory=set)
    except_open: set[int] = field(default_factory=set)
    sealed: bool = False  # a trailing date closed it: more times start a new rule

    def has_content(self) -> bool:
        return self.days is not None or self.ph or bool(self.intervals) or self.closed


def emit(rule: Rule, builder: Builder, flags: set[str], *, quiet_no_times: bool = False) -> None:
    keys: list[Key] = rule.dates if rule.dated and rule.dates else [(None, None)]
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


NOTES: Final = {
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
