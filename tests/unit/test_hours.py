"""Opening hours (listings.transform.hours): free text in English and French, schema.org, OSM, HERE and
Google shapes, seasons, past-midnight and split intervals, the canonical rendering and the staged rows,
every hours string the dev-data generator writes, and hypothesis fuzzing (nothing raises, results are
always internally valid, the canonical text reads back to the same periods)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from listings.sources.here import record_values
from listings.sources.website_extract import opening_hours_text
from listings.transform.hours import (
    ALL_DAYS,
    INFO_FLAGS,
    DayHours,
    OpeningPeriod,
    ParsedHours,
    parse_hours,
    rows,
    to_text,
)
from listings_dev.devdata import generate_listings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "here"
P, PA, U = "parsed", "partial", "unparsed"

# (input, canonical text, status, flags). The canonical text is a faithful rendering of the periods
# (test_canonical_text_reads_back_to_the_same_periods), so it pins the whole structure.
TABLE: list[tuple[str, str, str, tuple[str, ...]]] = [
    # --- English ----------------------------------------------------------------------------------
    ("Mon-Fri 9am-5pm", "Mo-Fr 09:00-17:00", P, ()),
    ("Mon–Fri 9:00–17:00, Sat 10-16", "Mo-Fr 09:00-17:00; Sa 10:00-16:00", P, ()),
    ("9:00–17:00 daily", "Mo-Su 09:00-17:00", P, ()),
    ("Daily 11:00-23:00", "Mo-Su 11:00-23:00", P, ()),
    ("Open 7 days 8am–10pm", "Mo-Su 08:00-22:00", P, ()),
    ("closed Mondays", "Mo off", P, ()),
    ("24/7", "24/7", P, ()),
    ("Open 24 hours", "24/7", P, ("assumed_daily",)),
    ("noon–midnight", "Mo-Su 12:00-24:00", P, ("assumed_daily",)),
    ("9am-12pm, 1pm-5pm", "Mo-Su 09:00-12:00,13:00-17:00", P, ("assumed_daily",)),
    ("Fri-Sat 6pm-2am", "Fr-Sa 18:00-02:00", P, ()),
    ("Thu-Sat 4pm-1am", "Th-Sa 16:00-01:00", P, ()),
    ("11am - 2am Fri & Sat", "Fr-Sa 11:00-02:00", P, ()),
    ("Mon–Sat 10 a.m. – 6 p.m.; Sun noon – 5 p.m.", "Mo-Sa 10:00-18:00; Su 12:00-17:00", P, ()),
    ("Tue-Sun 11:30am-10pm", "Tu-Su 11:30-22:00", P, ()),
    ("Wed-Sun 5pm-11pm", "We-Su 17:00-23:00", P, ()),
    ("Mon, Wed, Fri 10am-4pm", "Mo,We,Fr 10:00-16:00", P, ()),
    ("Weekdays 7:30am-6pm, weekends 9am-5pm", "Mo-Fr 07:30-18:00; Sa-Su 09:00-17:00", P, ()),
    (
        "Mon-Thu 11am-10pm, Fri-Sat 11am-midnight, Sun closed",
        "Mo-Th 11:00-22:00; Fr-Sa 11:00-24:00; Su off",
        P,
        (),
    ),
    ("Tues-Sat 12-9", "Tu-Sa 12:00-21:00", P, ()),
    ("Monday to Friday, 9 a.m. to 5 p.m.", "Mo-Fr 09:00-17:00", P, ()),
    ("Open Tuesday through Saturday 10 to 5", "Tu-Sa 10:00-17:00", P, ()),
    ("Tuesday–Saturday: 11:00–15:00 & 17:00–22:00", "Tu-Sa 11:00-15:00,17:00-22:00", P, ()),
    ("Lunch: 11:30-14:00; Dinner: 17:30-22:00", "Mo-Su 11:30-14:00,17:30-22:00", P, ("assumed_daily",)),
    ("Daily 9-5 except Sat 10-2", "Mo-Fr,Su 09:00-17:00; Sa 10:00-14:00", P, ()),
    ("Mon-Fri 9-5 (closed 12-1)", "Mo-Fr 09:00-12:00,13:00-17:00", P, ()),
    ("We are open daily 9-5", "Mo-Su 09:00-17:00", P, ()),  # "We" is not Wednesday here
    ("Closed", "Mo-Su off", P, ()),
    ("Temporarily closed", 'Mo-Su off "temporary"', PA, ("temporary",)),
    ("Open 7 days a week", "Open 7 days a week", U, ("no_times",)),
    ("By appointment", "By appointment", U, ("by_appointment",)),
    ("Check-in 3pm, check-out 11am", "Check-in 3pm, check-out 11am", U, ("check_in_out",)),
    ("Front desk open 24 hours", "24/7", P, ("assumed_daily",)),
    ("Open until 10pm", "Open until 10pm", U, ("skipped:10pm",)),
    ("Open daily from 6am", "Open daily from 6am", U, ("open_end",)),
    ("Mon-Fri 9-5, weekends by appointment", 'Mo-Fr 09:00-17:00 "by appointment"', PA, ("by_appointment",)),
    ("Seasonal", "Seasonal", U, ("seasonal",)),
    # --- English seasons --------------------------------------------------------------------------
    (
        "June 24 to Labour Day: daily 9-5; rest of the year: weekends 10-4",
        "Sa-Su 10:00-16:00; Jun 24-Sep 01 Mo-Su 09:00-17:00",
        P,
        ("approximate_dates",),
    ),
    ("Summer (Jun-Aug): daily 10-6", "Jun 01-Aug 31 Mo-Su 10:00-18:00", P, ()),
    ("Daily 10am–6pm (May–October)", "May 01-Oct 31 Mo-Su 10:00-18:00", P, ()),
    ("Mid-June to Labour Day, daily 10am-6pm", "Jun 15-Sep 01 Mo-Su 10:00-18:00", P, ("approximate_dates",)),
    ("Winter: 8:30am-4pm", "Dec 21-Mar 19 Mo-Su 08:30-16:00", P, ("approximate_dates", "assumed_daily")),
    ("Seasonal (May to October)", "May 01-Oct 31 unknown", P, ()),
    (
        "Open December to April, weather permitting",
        'Dec 01-Apr 30 unknown "weather permitting"',
        PA,
        ("weather_dependent",),
    ),
    ("Closed Christmas Day", "Dec 25 Mo-Su off", P, ()),
    ("Mar 15 - Oct 15: daily 9-5", "Mar 15-Oct 15 Mo-Su 09:00-17:00", P, ()),  # "Mar" is March here
    ("Jul 1-15: daily 9-5", "Jul 01-Jul 15 Mo-Su 09:00-17:00", P, ()),
    ("May 1, 2025 - Oct 31, 2025: Mo-Su 10:00-18:00", "2025 May 01-2025 Oct 31 Mo-Su 10:00-18:00", P, ()),
    (
        "Mon-Fri 9-5 (summer), Sat 10-2 (winter)",
        "Jun 21-Sep 22 Mo-Fr 09:00-17:00; Dec 21-Mar 19 Sa 10:00-14:00",
        P,
        ("approximate_dates",),
    ),
    ("Closed Mondays and Tuesdays in winter", "Dec 21-Mar 19 Mo-Tu off", P, ("approximate_dates",)),
    # --- French (Québec) --------------------------------------------------------------------------
    ("Tue-Sun 10h-18h (fermé le lundi)", "Mo off; Tu-Su 10:00-18:00", P, ()),
    ("Lun-Ven 9h-17h", "Mo-Fr 09:00-17:00", P, ()),
    ("Lundi au vendredi de 9 h à 17 h", "Mo-Fr 09:00-17:00", P, ()),
    ("Sam. et dim. : 10 h à 16 h", "Sa-Su 10:00-16:00", P, ()),
    ("Tous les jours 11 h 30 – 22 h", "Mo-Su 11:30-22:00", P, ()),
    ("24 h sur 24", "24/7", P, ("assumed_daily",)),
    ("Ouvert 24h/24, 7j/7", "24/7", P, ()),
    ("7j/7 de 6h à 23h", "Mo-Su 06:00-23:00", P, ()),
    ("De midi à minuit", "Mo-Su 12:00-24:00", P, ("assumed_daily",)),
    ("Mar-Dim 11h30-22h", "Tu-Su 11:30-22:00", P, ()),  # "Mar" is mardi here
    ("Mer-Dim 17h-23h", "We-Su 17:00-23:00", P, ()),
    ("Jeu-Sam 16h-1h", "Th-Sa 16:00-01:00", P, ()),
    (
        "Lun: Fermé | Mar-Ven: 10h-18h | Sam-Dim: 9h-17h",
        "Mo off; Tu-Fr 10:00-18:00; Sa-Su 09:00-17:00",
        P,
        (),
    ),
    ("Lundi au vendredi : 8 h 30 à 12 h et 13 h à 16 h 30", "Mo-Fr 08:30-12:00,13:00-16:30", P, ()),
    (
        "Du lundi au vendredi de 9h à 17h, samedi de 10h à 14h, fermé le dimanche",
        "Mo-Fr 09:00-17:00; Sa 10:00-14:00; Su off",
        P,
        (),
    ),
    ("Lun.-Ven. : 9 h - 17 h / Sam. : 10 h - 15 h", "Mo-Fr 09:00-17:00; Sa 10:00-15:00", P, ()),
    ("Ouvert du mardi au dimanche de 11 h à 21 h", "Tu-Su 11:00-21:00", P, ()),
    ("Mercredi au dimanche, 17 h à 22 h", "We-Su 17:00-22:00", P, ()),
    ("Heures d'ouverture : lun-ven 9h-17h", "Mo-Fr 09:00-17:00", P, ()),
    ("Fermé les lundis et mardis", "Mo-Tu off", P, ()),
    ("Tous les jours sauf le lundi, 10 h à 17 h", "Mo off; Tu-Su 10:00-17:00", P, ()),
    ("Ouvert tous les jours sauf le mardi", 'Tu off "some days without times"', PA, ("no_times",)),
    ("Fermé", "Mo-Su off", P, ()),
    ("Fermé temporairement", 'Mo-Su off "temporary"', PA, ("temporary",)),
    ("Sur réservation", "Sur réservation", U, ("by_appointment",)),
    ("Sur rendez-vous", "Sur rendez-vous", U, ("by_appointment",)),
    (
        "Horaire variable, consultez notre site web",
        "Horaire variable, consultez notre site web",
        U,
        ("variable_hours",),
    ),
    ("Fermé les jours fériés", "Fermé les jours fériés", U, ("public_holidays",)),
    ("Arrivée 15h / Départ 11h", "Arrivée 15h / Départ 11h", U, ("check_in_out",)),
    ("Réception 24 h", "24/7", P, ("assumed_daily",)),
    (
        "Mon-Fri 9-5, sauf congés scolaires",
        'Mo-Fr 09:00-17:00 "congés scolaires"',
        PA,
        ("skipped:congés scolaires",),
    ),
    # --- French seasons ---------------------------------------------------------------------------
    ("Du 1er mai au 31 octobre", "May 01-Oct 31 unknown", P, ()),
    ("du 1er au 15 juillet : 10 h à 16 h", "Jul 01-Jul 15 Mo-Su 10:00-16:00", P, ("assumed_daily",)),
    ("Du 24 juin à la fête du Travail", "Jun 24-Sep 01 unknown", P, ("approximate_dates",)),
    ("Fermé du 24 décembre au 2 janvier", "Dec 24-Jan 02 Mo-Su off", P, ()),
    ("Saisonnier (mai à octobre)", "May 01-Oct 31 unknown", P, ()),
    (
        "De la mi-juin à la fête du Travail, tous les jours 10h-18h",
        "Jun 15-Sep 01 Mo-Su 10:00-18:00",
        P,
        ("approximate_dates",),
    ),
    (
        "Hiver: 8h30-16h | Été: fermé",
        "Jun 21-Sep 22 Mo-Su off; Dec 21-Mar 19 Mo-Su 08:30-16:00",
        P,
        ("approximate_dates", "assumed_daily"),
    ),
    (
        "Été : tous les jours 10 h-18 h; Hiver : fin de semaine seulement 10 h-16 h",
        "Jun 21-Sep 22 Mo-Su 10:00-18:00; Dec 21-Mar 19 Sa-Su 10:00-16:00",
        P,
        ("approximate_dates",),
    ),
    (
        "Tous les jours : 9 h à 21 h (été) / 9 h à 17 h (hiver)",
        "Jun 21-Sep 22 Mo-Su 09:00-21:00; Dec 21-Mar 19 Mo-Su 09:00-17:00",
        P,
        ("approximate_dates",),
    ),
    (
        "Ouvert tous les jours de 10h à 18h (fermé le 25 décembre)",
        "Mo-Su 10:00-18:00; Dec 25 Mo-Su off",
        P,
        (),
    ),
    (
        "Ouvert de décembre à avril selon les conditions",
        'Dec 01-Apr 30 unknown "weather permitting"',
        PA,
        ("weather_dependent",),
    ),
    # --- other countries --------------------------------------------------------------------------
    ("Mon–Sat 9.00–17.30, Sun 10.00–16.00", "Mo-Sa 09:00-17:30; Su 10:00-16:00", P, ()),  # UK
    ("M-F 8a-5p", "Mo-Fr 08:00-17:00", P, ()),  # US
    ("Mo-Fr 9-18 Uhr, Sa 9-14 Uhr", "Mo-Fr 09:00-18:00; Sa 09:00-14:00", P, ()),  # Germany
    ("Lunes a viernes de 9 a 18 h", "Mo-Fr 09:00-18:00", P, ()),  # Spain
    ("Monday: 9:00\u202fAM\u2009–\u20095:00\u202fPM", "Mo 09:00-17:00", P, ()),  # Google weekday_text
    # --- OSM opening_hours ------------------------------------------------------------------------
    (
        "Mo-Fr 08:00-12:00,13:00-17:30; Sa 09:00-12:00; PH off",
        'Mo-Fr 08:00-12:00,13:00-17:30; Sa 09:00-12:00 "public holidays not included"',
        PA,
        ("public_holidays",),
    ),
    ("Mo-Su 10:00-18:00; Jan-Mar off", "Mo-Su 10:00-18:00; Jan 01-Mar 31 Mo-Su off", P, ()),
    ("May-Oct: Mo-Su 09:00-17:00", "May 01-Oct 31 Mo-Su 09:00-17:00", P, ()),
    ("Apr-Oct Mo-Su 10:00-18:00", "Apr 01-Oct 31 Mo-Su 10:00-18:00", P, ()),
    ("Mo,Tu,We 10:00-18:00", "Mo-We 10:00-18:00", P, ()),
    ("Sa 09:00-12:00 Su off", "Sa 09:00-12:00; Su off", P, ()),
    ("Mo-Fr 18:00-26:00", "Mo-Fr 18:00-02:00", P, ()),
    (
        "Mo-Sa 08:00-20:00; Su 09:00-13:00; Dec 25 off",
        "Mo-Sa 08:00-20:00; Su 09:00-13:00; Dec 25 Mo-Su off",
        P,
        (),
    ),
    ("Dec 24-26 off", "Dec 24-Dec 26 Mo-Su off", P, ()),
    # OSM's "," is an additional rule: it adds to Wednesday's hours (08:00-12:00 is inside them).
    ("Mo-Fr 08:00-18:00, We 08:00-12:00", "Mo-Fr 08:00-18:00", P, ()),
    (
        'Tu-Su 10:00-17:00; Mo off || "call ahead"',
        'Mo off; Tu-Su 10:00-17:00 "hours vary"',
        PA,
        ("variable_hours",),
    ),
    ("sunrise-sunset", "sunrise-sunset", U, ("skipped:sunrise-sunset",)),
    # --- the website connector's rendering of openingHoursSpecification, HERE text lines ------------
    (
        "Monday, Tuesday, Wednesday, Thursday, Friday 08:00-22:00; Saturday, Sunday 09:00-23:00",
        "Mo-Fr 08:00-22:00; Sa-Su 09:00-23:00",
        P,
        (),
    ),
    (
        "Monday closed; Saturday 10:00-16:00 (2025-06-01 to 2025-09-01)",
        "Mo off; 2025 Jun 01-2025 Sep 01 Sa 10:00-16:00",
        P,
        (),
    ),
    ("Saturday 10:00-16:00 (2025-06-01 to …)", "2025 Jun 01+ Sa 10:00-16:00", P, ()),
    ("Mon-Fri: 11:00 - 22:00; Sat, Sun: 09:00 - 22:00", "Mo-Fr 11:00-22:00; Sa-Su 09:00-22:00", P, ()),
    ("lun-ven: 07:00 - 23:00; sam, dim: 08:00 - 23:00", "Mo-Fr 07:00-23:00; Sa-Su 08:00-23:00", P, ()),
    ("Mon-Sun: 00:00 - 24:00", "24/7", P, ()),
]


@pytest.mark.parametrize(("value", "canonical", "status", "flags"), TABLE, ids=[t[0][:40] for t in TABLE])
def test_real_world_hours(value: str, canonical: str, status: str, flags: tuple[str, ...]) -> None:
    parsed = parse_hours(value)
    assert (to_text(parsed), parsed.status, parsed.flags) == (canonical, status, flags)
    assert parsed.text == value.strip()  # the original is always kept


def test_table_is_big_enough() -> None:
    assert len(TABLE) >= 60
    assert sum(1 for _, _, s, _ in TABLE if s == P) >= 60


@pytest.mark.parametrize(
    "value", [t[0] for t in TABLE if t[2] == P], ids=[t[0][:40] for t in TABLE if t[2] == P]
)
def test_canonical_text_reads_back_to_the_same_periods(value: str) -> None:
    parsed = parse_hours(value)
    again = parse_hours(to_text(parsed))
    assert again.status == P and again.periods == parsed.periods


# ------------------------------------------------------------------------------------------------
# Structures
def dh(days: str, open_time: str, close_time: str) -> list[DayHours]:
    first, _, last = days.partition("-")
    return [DayHours(d, open_time, close_time) for d in range(int(first), int(last or first) + 1)]


def test_past_midnight_structure() -> None:
    assert parse_hours("Fri-Sat 6pm-2am").periods == (
        OpeningPeriod(None, None, (DayHours(5, "18:00", "02:00"), DayHours(6, "18:00", "02:00")), ()),
    )


def test_split_intervals_and_closed_days_structure() -> None:
    parsed = parse_hours("Lun-Ven 8h30-12h et 13h-16h30; Sam 10h-14h; fermé le dimanche")
    hours = [h for d in range(1, 6) for h in (DayHours(d, "08:30", "12:00"), DayHours(d, "13:00", "16:30"))]
    assert parsed.periods == (OpeningPeriod(None, None, (*hours, DayHours(6, "10:00", "14:00")), (7,)),)


def test_seasons_structure() -> None:
    parsed = parse_hours("June 24 to Labour Day: daily 9-5; rest of the year: weekends 10-4")
    assert parsed.periods == (
        OpeningPeriod(None, None, (*dh("6-7", "10:00", "16:00"),), ()),
        OpeningPeriod("06-24", "09-01", (*dh("1-7", "09:00", "17:00"),), ()),
    )
    # A season over New Year, a dated season, and one known only by its dates.
    assert [(p.start_date, p.end_date) for p in parse_hours("Hiver: 8h30-16h").periods] == [
        ("12-21", "03-19")
    ]
    (dated,) = parse_hours("Saturday 10:00-16:00 (2025-06-01 to 2025-09-01)").periods
    assert (dated.start_date, dated.end_date, dated.hours) == (
        "2025-06-01",
        "2025-09-01",
        (DayHours(6, "10:00", "16:00"),),
    )
    assert parse_hours("Du 1er mai au 31 octobre").periods == (OpeningPeriod("05-01", "10-31", (), ()),)


def test_24_7_and_closed_all_days() -> None:
    for value in ("24/7", "Ouvert 24h/24, 7j/7", "Mo-Su 00:00-24:00", "Mon-Sun: 00:00 - 24:00"):
        assert parse_hours(value).periods == (
            OpeningPeriod(None, None, tuple(dh("1-7", "00:00", "24:00")), ()),
        )
    assert (
        parse_hours("Closed").periods
        == parse_hours("Fermé").periods
        == (OpeningPeriod(None, None, (), ALL_DAYS),)
    )
    # A bare "Closed" gives way to any opening said with it; an explicit closed day does not.
    assert to_text(parse_hours("Closed; Sat 10-4")) == "Mo-Fr,Su off; Sa 10:00-16:00"
    assert to_text(parse_hours("closed Mondays, open daily 9-5")) == "Mo off; Tu-Su 09:00-17:00"


def test_times_normalised() -> None:
    cases = {
        "Mo 12am-6am": "Mo 00:00-06:00",
        "Mo 12pm-12:30pm": "Mo 12:00-12:30",
        "Mo 10:00-00:00": "Mo 10:00-24:00",
        "Mo 10:00-23:59": "Mo 10:00-23:59",  # as written: a minute before midnight is not midnight
        "Mo 5-11pm": "Mo 17:00-23:00",
        "Mo 10-2am": "Mo 22:00-02:00",
        "Mo 9-5pm": "Mo 09:00-17:00",
        "Mo 1-5": "Mo 13:00-17:00",
        "Mo 9:00-5:00": "Mo 09:00-17:00",
        "Mo 10:00-02:00": "Mo 10:00-02:00",  # a two-digit hour is 24-hour time
        "Mo 10h-2h": "Mo 10:00-02:00",
        "Mo 12 noon - 12 midnight": "Mo 12:00-24:00",
        "Mo 9-17, 12-20": "Mo 09:00-20:00",  # overlapping intervals are one
    }
    assert {value: to_text(parse_hours(value)) for value in cases} == cases


def test_skipped_fragments_are_named_as_written() -> None:
    parsed = parse_hours("Lun-Ven 9h-17h; Sam 10h-14h (sauf pendant la relâche scolaire)")
    assert parsed.status == PA
    assert "skipped:pendant la relâche scolaire" in parsed.flags or any(
        f.startswith("skipped:") and "scolaire" in f for f in parsed.flags
    )
    assert parsed.text == "Lun-Ven 9h-17h; Sam 10h-14h (sauf pendant la relâche scolaire)"


# ------------------------------------------------------------------------------------------------
# schema.org
SPECS: list[dict[str, Any]] = [
    {
        "@type": "OpeningHoursSpecification",
        "dayOfWeek": [
            f"https://schema.org/{d}" for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
        ],
        "opens": "08:00:00",
        "closes": "22:00:00",
    },
    {"@type": "OpeningHoursSpecification", "dayOfWeek": "Saturday", "opens": "09:00", "closes": "23:00"},
    {"@type": "OpeningHoursSpecification", "dayOfWeek": "Sunday", "opens": "09:00", "closes": "23:00"},
]


def test_schema_org_specification_objects() -> None:
    expected = "Mo-Fr 08:00-22:00; Sa-Su 09:00-23:00"
    assert to_text(parse_hours(SPECS)) == expected
    assert to_text(parse_hours({"openingHoursSpecification": SPECS})) == expected
    seasonal = [
        {"dayOfWeek": "http://schema.org/Monday", "opens": "00:00", "closes": "00:00"},  # Google: closed
        {"dayOfWeek": ["Saturday"], "opens": "10:00:00", "closes": "16:00:00", "validFrom": "2025-06-01", "validThrough": "2025-09-01"},
        {"dayOfWeek": "Friday", "opens": "18:00", "closes": "02:00"},
        {"dayOfWeek": {"@id": "https://schema.org/Sunday"}, "opens": "00:00", "closes": "23:59"},
        {"dayOfWeek": "Wednesday", "opens": "10:00", "closes": "16:00", "validFrom": "--07-01", "validThrough": "--08-31"},
    ]  # fmt: skip
    parsed = parse_hours(seasonal)
    assert parsed.status == P
    assert to_text(parsed) == (
        "Mo off; Fr 18:00-02:00; Su 00:00-23:59; Jul 01-Aug 31 We 10:00-16:00; 2025 Jun 01-2025 Sep 01 Sa 10:00-16:00"
    )
    holidays = parse_hours(
        {"dayOfWeek": "https://schema.org/PublicHolidays", "opens": "10:00", "closes": "14:00"}
    )
    assert (holidays.status, holidays.flags) == (U, ("public_holidays",))
    broken = parse_hours([*SPECS, {"dayOfWeek": "Monday", "opens": "soon"}])
    assert broken.status == PA and any(f.startswith("skipped:") for f in broken.flags)


def test_schema_org_strings_and_the_website_rendering_agree() -> None:
    assert (
        to_text(parse_hours(["Mo-Fr 09:00-17:00", "Sa 10:00-14:00"])) == "Mo-Fr 09:00-17:00; Sa 10:00-14:00"
    )
    assert to_text(parse_hours({"openingHours": "Tu-Su 10:00-17:00"})) == "Tu-Su 10:00-17:00"
    items: list[dict[str, Any]] = [
        {"openingHoursSpecification": SPECS},
        {
            "openingHoursSpecification": [
                {"dayOfWeek": "http://schema.org/Monday", "opens": "00:00", "closes": "00:00"},
                {"dayOfWeek": ["Saturday"], "opens": "10:00:00", "closes": "16:00:00", "validFrom": "2025-06-01", "validThrough": "2025-09-01"},
                {"dayOfWeek": ["Monday", "Tuesday"], "opens": "09:00", "closes": "12:00"},
                {"dayOfWeek": ["Tuesday"], "opens": "13:00", "closes": "17:00"},
            ]
        },
    ]  # fmt: skip
    for item in items:
        rendered = opening_hours_text(item)
        assert rendered is not None
        from_text, from_objects = parse_hours(rendered), parse_hours(item)
        assert from_text.status == P and from_text.periods == from_objects.periods


# ------------------------------------------------------------------------------------------------
# HERE
def test_here_structured_is_used_first() -> None:
    value = {
        "text": ["Mon-Fri: 08:00 - 12:00"],  # deliberately different: `structured` wins
        "isOpen": True,
        "structured": [
            {"start": "T110000", "duration": "PT11H00M", "recurrence": "FREQ:DAILY;BYDAY:MO,TU,WE,TH,FR"},
            {
                "start": "T180000",
                "duration": "PT08H00M",
                "recurrence": "FREQ:DAILY;BYDAY:SA",
            },  # past midnight
            {"start": "T000000", "duration": "PT24H00M", "recurrence": "FREQ:DAILY;BYDAY:SU"},
        ],
    }
    parsed = parse_hours(value)
    assert to_text(parsed) == "Mo-Fr 11:00-22:00; Sa 18:00-02:00; Su 00:00-24:00"
    assert parsed.text == "Mon-Fri: 08:00 - 12:00"
    assert to_text(parse_hours({"text": ["Mon-Fri: 08:00 - 12:00"], "isOpen": False})) == "Mo-Fr 08:00-12:00"
    bad = {"text": ["lun-ven: 09:00 - 17:00"], "isOpen": True, "structured": [{"start": "nope"}]}
    assert to_text(parse_hours(bad)) == "Mo-Fr 09:00-17:00"  # unusable structured: the text is read


def test_here_fixtures_v1_and_v7() -> None:
    v1 = json.loads((FIXTURES / "explore_v1.json").read_text())
    v7 = json.loads((FIXTURES / "discover_v7.json").read_text())
    items = [*v1["results"]["items"], *v7["items"]]
    with_hours = [item for item in items if isinstance(item, dict) and item.get("openingHours")]
    assert len(with_hours) >= 2
    for item in with_hours:
        record = record_values(item)
        from_objects, from_text = parse_hours(record["openingHours"]), parse_hours(record["_hours"])
        assert from_objects.status == from_text.status == P
        assert from_objects.periods == from_text.periods
        assert from_objects.text == record["_hours"]  # the text lines, joined as the connector joins them


def test_here_demo_payloads_structured_and_text_agree() -> None:
    # The demo HERE site's generator (private, but it is the payload shape the demo serves).
    from listings_dev.demo_sites.here import _hours as demo_hours

    seen = set()
    for seed in range(60):
        for category in ("restaurant", "hotel", "museum"):
            hours = demo_hours(random.Random(seed), category)
            for lang in ("en", "fr"):
                value = {
                    "text": hours[f"text_{lang}"],
                    "isOpen": hours["isOpen"],
                    "structured": hours["structured"],
                }
                from_objects, from_text = parse_hours(value), parse_hours(hours[f"text_{lang}"])
                assert from_objects.status == from_text.status == P, hours
                assert from_objects.periods == from_text.periods
                seen.add(to_text(from_objects))
    assert "24/7" in seen and len(seen) >= 5


# ------------------------------------------------------------------------------------------------
# Other shapes, lists, empties
def test_google_and_day_keyed_shapes() -> None:
    periods = {
        "periods": [
            {"open": {"day": 1, "time": "0900"}, "close": {"day": 1, "time": "1700"}},
            {"open": {"day": 0, "hour": 10, "minute": 0}, "close": {"day": 0, "hour": 14, "minute": 0}},
        ]
    }
    assert to_text(parse_hours(periods)) == "Mo 09:00-17:00; Su 10:00-14:00"
    assert to_text(parse_hours({"periods": [{"open": {"day": 0, "time": "0000"}}]})) == "24/7"
    weekday_text = {
        "weekday_text": ["Monday: 9:00 AM – 5:00 PM", "Tuesday: Closed", "Wednesday: Open 24 hours"]
    }
    assert to_text(parse_hours(weekday_text)) == "Mo 09:00-17:00; Tu off; We 00:00-24:00"
    keyed = {
        "monday": "9:00-17:00",
        "mardi": "fermé",
        "sat": [{"open": "10:00", "close": "14:00"}],
        "Su": None,
    }
    assert to_text(parse_hours(keyed)) == "Mo 09:00-17:00; Tu,Su off; Sa 10:00-14:00"


def test_lists_merge_and_keep_what_was_not_understood() -> None:
    merged = parse_hours(["Mon-Fri 9-5", "Sat 10-2", "Dimanche : fermé"])
    assert (to_text(merged), merged.status) == ("Mo-Fr 09:00-17:00; Sa 10:00-14:00; Su off", P)
    mixed = parse_hours(["Mon-Fri 9-5", "By appointment", "gibberish here"])
    assert mixed.status == PA and mixed.flags == ("by_appointment", "skipped:gibberish here")
    assert mixed.text == "Mon-Fri 9-5; By appointment; gibberish here"
    # Split shifts from two entries add up; an overlapping later entry replaces the earlier one.
    assert to_text(parse_hours(["Mo 09:00-12:00", "Mo 13:00-17:00"])) == "Mo 09:00-12:00,13:00-17:00"
    assert (
        to_text(parse_hours(["Mo-Su 09:00-17:00", "Su 12:00-16:00"])) == "Mo-Sa 09:00-17:00; Su 12:00-16:00"
    )


@pytest.mark.parametrize("value", [None, "", "   ", [], {}, "N/A", "-", ["", None]])
def test_empty(value: object) -> None:
    parsed = parse_hours(value)
    assert (parsed.status, parsed.periods, rows(parsed)) == ("empty", (), [])


@pytest.mark.parametrize("value", [42, 3.5, True, {"foo": "bar"}, object(), "???", "Open"])
def test_unusable_values_are_kept_and_flagged(value: object) -> None:
    parsed = parse_hours(value)
    assert parsed.status == U and parsed.periods == () and parsed.flags and parsed.text


# ------------------------------------------------------------------------------------------------
# Rows and rendering
def test_rows() -> None:
    parsed = parse_hours("Mo-Fr 09:00-12:00,13:00-17:00; Su off; Jan-Mar off")
    got = rows(parsed)
    assert got[:3] == [
        (1, None, None, 1, 1, "09:00", "12:00"),
        (1, None, None, 2, 1, "13:00", "17:00"),
        (1, None, None, 3, 2, "09:00", "12:00"),
    ]
    assert got[10] == (1, None, None, 11, 7, None, None)  # a closed day: null times
    assert got[11:] == [(2, "01-01", "03-31", i, i, None, None) for i in ALL_DAYS]
    assert rows(parse_hours("Du 1er mai au 31 octobre")) == [(1, "05-01", "10-31", None, None, None, None)]
    assert rows(parse_hours("By appointment")) == []


def test_to_text_of_unparsed_and_partial() -> None:
    assert to_text(parse_hours("  Horaire   variable ")) == "Horaire variable"
    assert (
        to_text(parse_hours("Mo-Fr 09:00-17:00; PH off"))
        == 'Mo-Fr 09:00-17:00 "public holidays not included"'
    )
    # Same hours, other spellings: one canonical text (and hash).
    spellings = [
        "Lun-Ven 9h-17h",
        "Mon-Fri 9am-5pm",
        "Mo-Fr 09:00-17:00",
        "Monday to Friday, 9 a.m. to 5 p.m.",
    ]
    assert {to_text(parse_hours(s)) for s in spellings} == {"Mo-Fr 09:00-17:00"}


# ------------------------------------------------------------------------------------------------
# Dev data: every hours string the generator writes is parsed or explicitly flagged
KNOWN_FLAGS = {"by_appointment", "variable_hours", "check_in_out", "no_times", "weather_dependent"}


def test_every_generated_hours_string_is_parsed_or_flagged() -> None:
    values = [row["Hours"] for row in generate_listings(3000, seed=5)]
    statuses: dict[str, int] = {}
    for value in values:
        parsed = parse_hours(value)
        statuses[parsed.status] = statuses.get(parsed.status, 0) + 1
        check_valid(parsed)
        if not value.strip():
            assert parsed.status == "empty"
        elif parsed.status != P:
            # Understood, but not (all) representable: a named reason, never an unknown fragment.
            assert parsed.flags and set(parsed.flags) - INFO_FLAGS <= KNOWN_FLAGS, (value, parsed)
    assert statuses[P] > 0.75 * sum(1 for v in values if v.strip())


# ------------------------------------------------------------------------------------------------
# Properties
_HHMM = re.compile(r"^(\d\d):([0-5]\d)$")


def check_valid(parsed: ParsedHours) -> None:
    assert parsed.status in ("parsed", "partial", "unparsed", "empty")
    assert not any(f.startswith("internal_error") for f in parsed.flags), parsed
    assert (parsed.status in ("unparsed", "empty")) == (not parsed.periods)
    assert parsed.status != "partial" or set(parsed.flags) - INFO_FLAGS
    assert parsed.status != "parsed" or not set(parsed.flags) - INFO_FLAGS
    assert list(parsed.flags) == sorted(set(parsed.flags))
    keys = [(p.start_date, p.end_date) for p in parsed.periods]
    assert len(keys) == len(set(keys))
    for period in parsed.periods:
        for date in (period.start_date, period.end_date):
            assert date is None or re.fullmatch(r"(\d{4}-)?(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", date)
        assert period.hours or period.closed_days or period.start_date or period.end_date
        for h in period.hours:
            assert h.day_id in ALL_DAYS
            times = []
            for t in (h.open_time, h.close_time):
                m = _HHMM.match(t)
                assert m, t
                times.append(int(m[1]) * 60 + int(m[2]))
                assert times[-1] <= 1440
            assert times[0] < 1440 and times[0] != times[1]
        assert list(period.hours) == sorted(period.hours, key=lambda h: (h.day_id, h.open_time))
        for day in ALL_DAYS:  # a day's intervals are disjoint (one running past midnight ends the next day)
            spans = [
                (
                    int(h.open_time[:2]) * 60 + int(h.open_time[3:]),
                    int(h.close_time[:2]) * 60 + int(h.close_time[3:]),
                )
                for h in period.hours
                if h.day_id == day
            ]
            spans = [(o, c if c > o else c + 1440) for o, c in spans]
            assert all(a[1] < b[0] for a, b in itertools.pairwise(spans)), period
        assert list(period.closed_days) == sorted(set(period.closed_days))
        assert set(period.closed_days) <= set(ALL_DAYS)
        assert not set(period.closed_days) & {h.day_id for h in period.hours}
    assert isinstance(to_text(parsed), str)
    for row in rows(parsed):
        assert len(row) == 7 and (row[4] is None or row[4] in ALL_DAYS)
    if parsed.status == P:
        assert parse_hours(to_text(parsed)).periods == parsed.periods


VOCAB = [
    "Mon", "Tue", "-", "–", "to", "à", "au", "9", "17", "9am", "5pm", "10h", "18h30", "12:00", "24:00", "00:00",
    ",", ";", "|", ":", "(", ")", "closed", "fermé", "daily", "tous les jours", "sauf", "except", "lundi", "mar",
    "mars", "May", "mai", "Jun", "24", "1er", "juin", "Labour Day", "summer", "été", "rest of the year", "PH",
    "off", "24/7", "noon", "midnight", "+", "…", "2025-06-01", "2025", "Mo", "We", "Su", "by appointment",
    "weather permitting", "check-in", "de", "du", "et", "and", "12", "31", "26", "0", "mi-", "fin", "early", "Jul",
    "Dec", "jusqu'au", "from", "until", "Jan-Mar", "unknown", "24 h", "7j/7", "h", "30", "1", "/", "&", "26:00",
]  # fmt: skip
hours_like_text = st.lists(st.sampled_from(VOCAB), max_size=14).map(" ".join)
JSON_KEYS = [
    "text", "structured", "isOpen", "start", "duration", "recurrence", "dayOfWeek", "opens", "closes", "validFrom",
    "validThrough", "@type", "openingHours", "openingHoursSpecification", "periods", "open", "close", "day", "time",
    "hour", "minute", "monday", "Sa", "weekday_text", "x",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 3000),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    hours_like_text,
    st.sampled_from(
        [
            "T090000",
            "PT08H00M",
            "PT25H",
            "FREQ:DAILY;BYDAY:MO,SU",
            "https://schema.org/Monday",
            "09:00:00",
            "00:00",
            "2025-06-01",
            "--06-01",
            "0900",
            "OpeningHoursSpecification",
            "25:00",
            "T250000",
        ]
    ),
)
objects = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(JSON_KEYS), inner, max_size=5),
    max_leaves=16,
)  # fmt: skip
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=80))
def test_arbitrary_text_never_raises(value: str) -> None:
    check_valid(parse_hours(value))


@FUZZ
@given(hours_like_text)
@example("mar 1 mars off")  # a day's own period inside its month's: rendered first, the month overrode it
def test_hours_like_text_gives_valid_results(value: str) -> None:
    check_valid(parse_hours(value))


@FUZZ
@given(objects)
def test_arbitrary_objects_never_raise(value: object) -> None:
    check_valid(parse_hours(value))


@st.composite
def day_intervals(draw: st.DrawFn) -> list[tuple[str, str]]:
    """1–3 disjoint intervals of a day on a 5-minute grid, maybe plus one running past midnight."""
    k = draw(st.integers(1, 3))
    points = sorted(draw(st.sets(st.integers(0, 288), min_size=2 * k, max_size=2 * k)))
    spans = [(points[2 * i] * 5, points[2 * i + 1] * 5) for i in range(k)]
    spans = [(o, c) for o, c in spans if o < 1440]
    if spans and spans[-1][1] < 1430 and spans[0][0] > 5 and draw(st.booleans()):
        o = draw(st.integers(spans[-1][1] // 5 + 1, 287)) * 5
        c = draw(st.integers(1, spans[0][0] // 5)) * 5
        if c < spans[0][0]:
            spans.append((o, c))
    return sorted({(f"{o // 60:02d}:{o % 60:02d}", f"{c // 60:02d}:{c % 60:02d}") for o, c in spans})


def _disjoint(a: tuple[str | None, str | None], b: tuple[str | None, str | None]) -> bool:
    """Whether two dated keys share no day (a yearly key and a one-off one are taken to overlap)."""

    def dated(k: tuple[str | None, str | None]) -> bool:
        return any(v and len(v) == 10 for v in k)

    if dated(a) != dated(b):
        return False
    if dated(a):
        return bool((a[1] and b[0] and a[1] < b[0]) or (b[1] and a[0] and b[1] < a[0]))

    def days(k: tuple[str | None, str | None]) -> set[str]:
        first = dt.date(2000, 1, 1)
        mds = {(first + dt.timedelta(days=i)).isoformat()[5:] for i in range(366)}
        lo, hi = k[0] or "01-01", k[1] or "12-31"
        return {md for md in mds if (lo <= md <= hi) if lo <= hi} | (
            {md for md in mds if md >= lo or md <= hi} if lo > hi else set()
        )

    return days(a).isdisjoint(days(b))


@st.composite
def periods(draw: st.DrawFn) -> tuple[OpeningPeriod, ...]:
    mmdd = st.tuples(st.integers(1, 12), st.integers(1, 28)).map(lambda t: f"{t[0]:02d}-{t[1]:02d}")
    # Dated periods in at most three years (more than that is read `partial`, not checked year by year),
    # each at least a week long (a weekday selector in a shorter one may name no day of it at all).
    day = st.tuples(st.integers(2024, 2025), st.integers(1, 12), st.integers(1, 28)).map(
        lambda t: dt.date(*t)
    )
    ymd_span = st.tuples(day, st.integers(7, 200)).map(
        lambda t: (t[0].isoformat(), (t[0] + dt.timedelta(days=t[1])).isoformat())
    )
    ymd = day.map(dt.date.isoformat)
    key = st.one_of(
        st.tuples(mmdd, mmdd),
        ymd_span,
        st.tuples(mmdd, st.none()),
        st.tuples(st.none(), ymd),
    )
    # Dated periods that overlap have no OSM rendering that keeps them apart (OSM orders rules, the
    # periods do not), so the seasons drawn are disjoint.
    seasons: list[tuple[str | None, str | None]] = []
    for k in draw(st.lists(key, max_size=3, unique=True)):
        if all(_disjoint(k, other) for other in seasons):
            seasons.append(k)
    out = []
    for start, end in [(None, None), *seasons]:
        days = draw(st.sets(st.sampled_from(ALL_DAYS)))
        drawn = {d: draw(day_intervals()) for d in sorted(days)}
        if seasons:  # a night next to a season's first or last day has no agreed OSM reading
            drawn = {
                d: [(o, c) for o, c in ivs if c > o or c == "24:00"] or [("08:00", "09:00")]
                for d, ivs in drawn.items()
            }
        # The canonical text is OSM, where a rule for the next day cuts a night at midnight ("Mo
        # 20:00-02:00; Tu off" is closed from Tuesday 00:00): a night runs into a day with the same
        # hours or into a day nothing is said about.
        # (until nothing changes: cutting a day's night can make it differ from the day before)
        changed = True
        while changed:
            changed = False
            for d in sorted(drawn):
                nxt = d % 7 + 1
                if (
                    nxt in drawn
                    and drawn[nxt] != drawn[d]
                    and any(c <= o and c != "24:00" for o, c in drawn[d])
                ):
                    drawn[d] = [(o, c) for o, c in drawn[d] if not (c <= o and c != "24:00")] or [
                        ("08:00", "09:00")
                    ]
                    changed = True
        hours = tuple(DayHours(d, o, c) for d in sorted(drawn) for o, c in drawn[d])
        nights = {h.day_id % 7 + 1 for h in hours if h.close_time <= h.open_time and h.close_time != "24:00"}
        free = [d for d in ALL_DAYS if d not in days and d not in nights]
        closed = draw(st.sets(st.sampled_from(free))) if free else set()
        if hours or closed:  # (a period that says nothing has no text of its own)
            out.append(OpeningPeriod(start, end, hours, tuple(sorted(closed))))
    out.sort(
        key=lambda p: (
            p.start_date is not None or p.end_date is not None,
            p.start_date or "",
            p.end_date or "",
        )
    )
    return tuple(out)


@settings(max_examples=200, deadline=None)
@given(periods())
def test_any_structure_survives_its_canonical_text(structure: tuple[OpeningPeriod, ...]) -> None:
    parsed = ParsedHours(structure, None, P, ())
    if structure:
        again = parse_hours(to_text(parsed))
        assert (again.status, again.periods) == (P, structure), to_text(parsed)
