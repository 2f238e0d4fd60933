"""Free text read as prose: tokens combined into items (dates, days, intervals, flags), items into rules."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from typing import Final

from listings.transform.hours.dates import Point, resolve
from listings.transform.hours.model import DAY, Builder, Interval, Key, Rule, emit, norm_interval
from listings.transform.hours.text import EVERY_DAY, SEASONS, Tok, tokens


@dataclass(frozen=True)
class _Item:
    kind: str  # dates, year, days, interval, closed, except, flag, check, lonetime, colon, unknown, …
    a: int = 0  # span in the original segment
    b: int = 0
    ranges: tuple[Key, ...] = ()  # dates
    approx: bool = False  # dates
    days: frozenset[int] = frozenset()  # days
    ph: bool = False  # days
    joined: bool = False  # days
    interval: Interval = (0, DAY)  # interval
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
    def __init__(self, toks: list[Tok]) -> None:
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

    def point(self, i: int, *, context: bool = False, end: bool = False) -> tuple[Point, int] | None:
        k = self.kind(i)
        if k == "ISO":
            v = self.t[i].value
            y, m, d = v if isinstance(v, tuple) else (0, 0, 0)
            return Point(m, d, y), i + 1
        if k == "HOLIDAY":
            v = self.t[i].value
            mmdd, approx = v if isinstance(v, tuple) else ("01-01", True)
            return Point(int(mmdd[:2]), int(mmdd[3:]), None, approx), i + 1
        if k == "MOD" and self.is_month(i + 1, context=True):
            month = self.month_of(i + 1)
            mod = self.t[i].value
            last = calendar.monthrange(2001, month)[1]
            return Point(month, 15 if mod == "mid" else 1 if mod == "early" else last, None, True), i + 2
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
            return Point(month, day, year), j
        if k in {"NUM", "ORD"} and 1 <= self.num(i) <= 31:
            nk = self.kind(i + 1)
            month_next = nk in {"MONTH", "WEAKMONTH"} or (nk == "DAYMON" and k == "ORD")
            if month_next and self.is_month(i + 1, context=True):
                j = i + 2
                if self.kind(j) == "NUM" and 1900 <= self.num(j) <= 2100:
                    year, j = self.num(j), j + 1
                return Point(self.month_of(i + 1), self.num(i), year), j
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

    def one_range(self, i: int) -> tuple[tuple[Key, bool], int] | None:
        k = self.kind(i)
        if k == "SEASON":
            j = i + 1
            if self.kind(j) == "LP":
                inner = self.one_range(j + 1)
                if inner is not None and self.kind(inner[1]) == "RP":
                    return inner[0], inner[1] + 1
            start, end = SEASONS[str(self.t[i].value)]
            return ((start, end), True), j
        if k in {"RANGE", "ELLIPSIS"}:  # "until Oct 31", "… to 2025-09-01"
            j = i + 1 if k == "RANGE" else i + 2 if self.kind(i + 1) == "RANGE" else -1
            p = self.point(j, context=True, end=True) if j > 0 else None
            if p is None:
                return None
            resolved = resolve(None, p[0])
            return ((resolved, p[0].approx), p[1]) if resolved else None
        if k == "FROM":
            p = self.point(i + 1, context=True)
            if p is None:
                return None
            if self.kind(p[1]) == "RANGE":
                full = self.range_from(p[0], p[1])
                if full is not None:
                    return full
            resolved = resolve(p[0], None)
            return ((resolved, p[0].approx), p[1]) if resolved else None
        day_span = k in {"NUM", "ORD"} and self.kind(i + 1) == "RANGE" and self.kind(i + 2) in {"NUM", "ORD"}
        if day_span and (  # "1-15 juillet", "du 1er au 15 juillet"
            self.kind(i + 3) in {"MONTH", "WEAKMONTH"} or (self.kind(i + 3) == "DAYMON" and k == "ORD")
        ):
            p2 = self.point(i + 2, context=True)
            if p2 is not None and 1 <= self.num(i) <= 31:
                p1 = Point(p2[0].month, self.num(i), p2[0].year)
                resolved = resolve(p1, p2[0])
                return ((resolved, False), p2[1]) if resolved else None
        p = self.point(i)
        if p is None:
            return None
        if self.kind(p[1]) == "RANGE":
            full = self.range_from(p[0], p[1])
            if full is not None:
                return full
        if self.kind(p[1]) == "PLUS":
            resolved = resolve(p[0], None)
            return ((resolved, p[0].approx), p[1] + 1) if resolved else None
        single = resolve(p[0], p[0], single=True)
        return ((single, p[0].approx), p[1]) if single else None

    def range_from(self, p1: Point, r: int) -> tuple[tuple[Key, bool], int] | None:
        nk = self.kind(r + 1)
        if nk == "ELLIPSIS":
            resolved = resolve(p1, None)
            return ((resolved, p1.approx), r + 2) if resolved else None
        p2 = self.point(r + 1, context=True, end=True)
        if p2 is None and nk in {"NUM", "ORD"} and p1.day is not None and self.kind(r + 2) not in {"RANGE"}:
            n = self.num(r + 1)
            if p1.day < n <= 31:  # "Dec 24-26"
                p2 = (Point(p1.month, n, None), r + 2)
        if p2 is None:
            return None
        resolved = resolve(p1, p2[0])
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
        if first[0] == DAY and first[1] == "h24":  # "Réception 24 h", "open 24 hours"
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
                out.append(_Item("days", tok.a, tok.b, days=EVERY_DAY))
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


def _interval(first: tuple[int, str], second: tuple[int, str]) -> Interval | None:
    o, o_style = first
    c, c_style = second
    if c_style == "midnight":
        c = DAY
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
    return norm_interval(o, c)


# ================================================================================================
# Items → rules
_LEAD_AFTER: Final = frozenset({"days", "interval", "closed", "colon"})


def parse_segment(segment: str, builder: Builder, flags: set[str], skipped: list[str]) -> None:
    items = _Combiner(tokens(segment)).items()
    seg_flags: set[str] = set()
    rules: list[Rule] = []
    pending: list[Key] | None = None
    pending_set = False
    check = said_year = False
    unknown: list[tuple[int, int]] = []

    def new_rule() -> Rule:
        return Rule(dates=pending, dated=True) if pending_set else Rule()

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
        emit(rule, builder, flags, quiet_no_times=quiet)
    flags |= seg_flags
    # Adjacent unknown tokens are reported as one fragment, as written.
    merged: list[tuple[int, int]] = []
    for a, b in unknown:
        if merged and not segment[merged[-1][1] : a].strip(" ,.;:-–()"):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    skipped.extend(segment[a:b].strip() for a, b in merged if segment[a:b].strip())
