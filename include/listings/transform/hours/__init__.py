"""Opening hours: what sources publish, parsed into the seed's `opening_dates` / `opening_hours` rows.

This package owns the interpretation of opening-hours values (pure functions, no DB): free text is
folded and tokenised (`text`) and read as prose (`natural`) or as OSM syntax (`osm`, chosen by `reading`),
structured values by `objects`, into the periods of `model`; this module is the public API and renders
results back to text:

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
are read by OSM's rules (`hours.osm`): a later `;` rule replaces earlier ones for the
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

from collections.abc import Sequence

from listings.transform.hours.dates import cover_size, days_said, key_days, year_days
from listings.transform.hours.model import (
    ALL_DAYS,
    INFO_FLAGS,
    NOTES,
    DayHours,
    HoursRow,
    OpeningPeriod,
    ParsedHours,
)
from listings.transform.hours.objects import Parser, text_of
from listings.transform.hours.reading import PLACEHOLDERS
from listings.transform.hours.text import MONTH_ABBR, OSM_DAYS

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


def parse_hours(value: object) -> ParsedHours:
    """Opening hours of a source value (text, schema.org, OSM, HERE, lists of them); never raises."""
    try:
        text = text_of(value)
    except Exception:  # a hostile object (e.g. a __str__ that raises)
        text = None
    try:
        parser = Parser()
        parser.value(value)
        periods = parser.builder.build()
        flags = parser.flags
    except Exception as exc:  # defensive: a value must never stop a run
        periods, flags = (), {f"internal_error:{type(exc).__name__}"}
    if any(p.start_date or p.end_date for p in periods):
        flags.discard("seasonal")  # the dates say it
    if not periods and not flags and (text is None or text.casefold() in PLACEHOLDERS):
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
        OSM_DAYS[r[0] - 1] if len(r) == 1 else f"{OSM_DAYS[r[0] - 1]}-{OSM_DAYS[r[-1] - 1]}" for r in runs
    )


def _render_date(value: str) -> str:
    if len(value) == 10:
        return f"{value[:4]} {MONTH_ABBR[int(value[5:7]) - 1]} {value[8:]}"
    return f"{MONTH_ABBR[int(value[:2]) - 1]} {value[3:]}"


def _render_dates(start: str | None, end: str | None) -> str:
    if start and end:
        return _render_date(start) if start == end else f"{_render_date(start)}-{_render_date(end)}"
    if start:
        return f"{_render_date(start)}+"
    return f"until {_render_date(end)}" if end else ""


def _osm_order(periods: Sequence[OpeningPeriod]) -> list[OpeningPeriod]:
    """`periods` in the order OSM reads as the period model does: in the model the shortest dated period
    governs a day it says something about; in OSM the rule written last does. So a wider period that shares
    days and weekdays with a narrower one is written before it ("Mar Mo-Su off; Mar 01 unknown"); the
    others keep their order (the canonical text of most hours never changes)."""
    out: list[OpeningPeriod] = []
    for p in periods:
        at = len(out)
        if p.start_date or p.end_date:
            size, days, says = cover_size(key_days((p.start_date, p.end_date))), year_days(p), days_said(p)
            for i, q in enumerate(out):
                if (
                    (q.start_date or q.end_date)
                    and cover_size(key_days((q.start_date, q.end_date))) < size
                    and year_days(q) & days
                    and days_said(q) & says
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
            f[len("skipped:") :].replace('"', "'") if f.startswith("skipped:") else NOTES.get(f, f)
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
