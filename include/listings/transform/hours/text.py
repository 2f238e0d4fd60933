"""Free text folded (case, accents, dashes) and cut into tokens: days, months, times, dates, fillers."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from listings.transform.hours.model import ALL_DAYS

_DASHES = "-‐‑‒–—―−﹘﹣－~"
_APOSTROPHES = "'’‘`´ʼ"
_QUOTES = '"“”«»„'


def fold(text: str) -> tuple[str, list[int]]:
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
DAY_WORDS: Final = {w: d for d, names in _DAY_NAMES.items() for w in names} | {
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
OSM_DAYS: Final = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
MONTH_ABBR: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS: Final = frozenset({1, 2, 3, 4, 5})
_WEEKEND: Final = frozenset({6, 7})
EVERY_DAY: Final = frozenset(ALL_DAYS)
# Seasons resolve to their astronomical dates (flagged approximate_dates).
SEASONS: Final = {
    "summer": ("06-21", "09-22"),
    "fall": ("09-23", "12-20"),
    "winter": ("12-21", "03-19"),
    "spring": ("03-20", "06-20"),
}


def word_set(*lines: str) -> tuple[str, ...]:
    return tuple(w for line in lines for w in line.split())


# Words that carry nothing for opening hours ("open", "the", time zones, meal names of split shifts).
_FILLER_WORDS: Final = word_set(
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
    word_set(
        "le la les l d de du des the on at in en of every each chaque tous toutes tout sur par by for pour"
    )
)
_WORDS: dict[str, tuple[str, object]] = dict.fromkeys(_FILLER_WORDS, ("FILLER", None))
_WORDS |= {w: ("DAY", d) for w, d in DAY_WORDS.items()}
_WORDS |= {w: ("MONTH", m) for w, m in _MONTH_WORDS.items()}
_WORDS |= {w: ("WEAKDAY", d) for w, d in _WEAK_DAYS.items()}
_WORDS |= {"mar": ("DAYMON", 2), "may": ("WEAKMONTH", 5)}
for _kind, _value, _line in (
    ("DAYS", EVERY_DAY, "daily everyday quotidien quotidienne quotidiennement tlj taglich diario"),
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
    _WORDS |= dict.fromkeys(word_set(_line), (_kind, _value))

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
        EVERY_DAY,
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
class Tok:
    kind: str
    value: object
    a: int  # span in the original segment
    b: int
    gap: bool  # a filler word was dropped right before it


def tokens(segment: str) -> list[Tok]:
    folded, origin = fold(segment)
    toks: list[Tok] = []
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
                toks.append(Tok(_PUNCT[text], None, a, b, gap))
                gap = False
            elif text not in _SILENT_PUNCT and not text.isspace():
                toks.append(Tok("UNK", text, a, b, gap))
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
        toks.append(Tok(kind, value, a, b, gap))
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
