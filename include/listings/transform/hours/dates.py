"""Dates and spans of the year: a day or month point, a range of dates, the days a period covers."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from listings.transform.hours.model import ALL_DAYS, Key, OpeningPeriod


@dataclass(frozen=True)
class Point:
    month: int | None
    day: int | None
    year: int | None = None
    approx: bool = False


def resolve(p1: Point | None, p2: Point | None, *, single: bool = False) -> Key | None:
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

    def one(p: Point | None, year: int | None, *, last: bool) -> str | bool | None:
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


def within(inner: Key, outer: Key) -> bool:
    """Whether every day of a yearly key lies in another (dated keys, one-off, are within none)."""
    inner_days = _span_days(inner)
    return bool(inner_days) and inner_days <= _span_days(outer)


def _span_days(key: Key) -> frozenset[int]:
    """Days of a yearly key as day-of-year in a leap year (dated keys: empty, never nested)."""
    start, end = key
    if (start and len(start) > 5) or (end and len(end) > 5):
        return frozenset()
    lo = day_of_year(start or "01-01")
    hi = day_of_year(end or "12-31")
    return frozenset(range(lo, hi + 1)) if lo <= hi else frozenset([*range(lo, 367), *range(1, hi + 1)])


def day_of_year(mmdd: str) -> int:
    return (dt.date(2000, int(mmdd[:2]), int(mmdd[3:])) - dt.date(2000, 1, 1)).days + 1


def key_days(key: Key) -> tuple[dt.date | None, dt.date | None] | frozenset[int]:
    """A dated key as its first/last day (YYYY) or its days of a leap year (MM-DD, yearly)."""
    start, end = key
    if (start and len(start) > 5) or (end and len(end) > 5):
        return (
            dt.date.fromisoformat(start) if start and len(start) > 5 else None,
            dt.date.fromisoformat(end) if end and len(end) > 5 else None,
        )
    return _span_days(key)


def cover_size(cover: tuple[dt.date | None, dt.date | None] | frozenset[int]) -> int:
    """How many days a period's dates cover (`key_days`); an open end counts as longer than any year."""
    if isinstance(cover, frozenset):
        return len(cover)
    lo, hi = cover
    return (hi - lo).days + 1 if lo and hi else 1 << 20


def year_days(p: OpeningPeriod) -> frozenset[int]:
    """The days of a year (leap) a period's dates cover; a dated period longer than a year, or open-ended,
    covers them all."""
    cover = key_days((p.start_date, p.end_date))
    if isinstance(cover, frozenset):
        return cover
    lo, hi = cover
    if lo is None or hi is None or (hi - lo).days >= 365:
        return frozenset(range(1, 367))
    return frozenset(
        day_of_year(f"{d.month:02d}-{d.day:02d}")
        for d in (lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1))
    )


def days_said(p: OpeningPeriod) -> frozenset[int]:
    """The weekdays a period says something about (all of them for one with neither hours nor closed days)."""
    days = frozenset([h.day_id for h in p.hours] + list(p.closed_days))
    return days or frozenset(ALL_DAYS)
