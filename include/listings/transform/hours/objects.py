"""Structured values: schema.org specifications, HERE and Google objects, day-keyed dicts, lists."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

from listings.transform.hours.dates import Point, resolve
from listings.transform.hours.model import ALL_DAYS, DAY, MAX_DEPTH, Builder, Rule, emit, norm_interval
from listings.transform.hours.reading import PLACEHOLDERS, parse_text
from listings.transform.hours.text import DAY_WORDS, OSM_DAYS, fold

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
        key = resolve(Point(int(m.group(2)), int(m.group(3)), int(m.group(1))), None)
    else:
        key = resolve(Point(int(m.group(4)), int(m.group(5))), None)
    return key[0] if key else False


def _day_of(value: object) -> int | None:
    if isinstance(value, Mapping):
        value = value.get("@id") or value.get("name") or value.get("id")
    if not isinstance(value, str):
        return None
    word = fold(re.split(r"[/:#]", value.strip())[-1])[0].strip()
    if word.upper()[:2] in _DOW_CODES and len(word) == 2:
        return _DOW_CODES[word.upper()]
    return DAY_WORDS.get(word)


class Parser:
    def __init__(self) -> None:
        self.builder = Builder()
        self.flags: set[str] = set()

    def value(self, value: object, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            self.flags.add("unsupported_object")
            return
        if value is None or isinstance(value, bool):
            if isinstance(value, bool):
                self.flags.add("unsupported_object")
            return
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            if value.strip().casefold() not in PLACEHOLDERS:
                parse_text(value, self.builder, self.flags)
            return
        if isinstance(value, (int, float)):
            parse_text(str(value), self.builder, self.flags)
            return
        if isinstance(value, (list, tuple)):
            for item in value:
                before = (self.builder.changes, len(self.flags))
                self.value(item, depth + 1)
                if before == (self.builder.changes, len(self.flags)) and text_of(item):
                    self.flags.add(f"skipped:{(text_of(item) or '')[:80]}")
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
                    parse_text(line, self.builder, self.flags)

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
        iv = (0, DAY) if length >= DAY else norm_interval(o, (o + length) % DAY or DAY) if length else None
        if o >= DAY or iv is None:
            self.flags.add("skipped:" + json.dumps(dict(entry), default=str, ensure_ascii=False)[:80])
            return
        emit(Rule(days=days, intervals=[iv]), self.builder, self.flags)

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
        rule = Rule(days=days or None, ph=ph)
        if start or end:
            rule.dates, rule.dated = [(start, end)], True
        # Google's convention, which the website connector follows: 00:00–00:00 (or no times) is closed.
        if (o is None and c is None) or (o == c == 0):
            rule.closed = True
            if rule.days is None and not ph:
                rule.days = set(ALL_DAYS)
        else:
            iv = norm_interval(o if o is not None else 0, c if c is not None else DAY)
            if iv is None:
                self.flags.add("skipped:" + json.dumps(dict(obj), default=str, ensure_ascii=False)[:80])
                return
            rule.intervals = [iv]
        if not listed:
            rule.days = None if not rule.closed else rule.days
        emit(rule, self.builder, self.flags)

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
                emit(Rule(days=set(ALL_DAYS), intervals=[(0, DAY)]), self.builder, self.flags)
                continue
            c = _google_time(closing) if isinstance(closing, Mapping) else None
            iv = norm_interval(o, c) if c is not None else None
            if iv is None:
                self.flags.add("unsupported_object")
                continue
            emit(Rule(days={day or 7}, intervals=[iv]), self.builder, self.flags)

    def day_keyed(self, obj: Mapping[object, object]) -> None:
        for key, val in obj.items():
            day = _day_of(key) or 1
            code = OSM_DAYS[day - 1]
            for v in val if isinstance(val, list) else [val]:
                if isinstance(v, str):
                    parse_text(f"{code} {v}", self.builder, self.flags)
                elif isinstance(v, Mapping):
                    o = _clock(v.get("open", v.get("opens", v.get("from", v.get("start")))))
                    c = _clock(v.get("close", v.get("closes", v.get("to", v.get("end")))))
                    iv = norm_interval(o, c) if o is not None and c is not None else None
                    if iv is None:
                        self.flags.add("unsupported_object")
                    else:
                        emit(Rule(days={day}, intervals=[iv]), self.builder, self.flags)
                elif v is False or v is None or v == []:
                    emit(Rule(days={day}, closed=True), self.builder, self.flags)
                else:
                    self.flags.add("unsupported_object")


def _google_time(point: Mapping[object, object]) -> int | None:
    if "time" in point:
        return _clock(point.get("time"))
    hour, minute = point.get("hour", 0), point.get("minute", 0)
    if isinstance(hour, int) and isinstance(minute, int) and 0 <= hour <= 24 and 0 <= minute < 60:
        return hour * 60 + minute
    return None


def text_of(value: object, depth: int = 0) -> str | None:
    """The value as text, kept verbatim: strings stripped, HERE objects as their text lines (as the
    connector joins them), lists joined with "; ", other objects as JSON."""
    if value is None:
        return None
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (Mapping, list, tuple)) and not value:
        return None
    if isinstance(value, (list, tuple)):
        parts = [t for t in (text_of(v, depth + 1) for v in value) if t]
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
