"""Candidate duplicate pairs of one evaluation set, their verdicts, and the set's gold.csv.

    python bench/data/matching_real/candidates.py SET_DIR

writes SET_DIR/review.csv (every candidate pair, its evidence, verdict and who decided it) and
SET_DIR/gold.csv (the duplicates, closed under transitivity) from the source CSVs and the hand verdicts in
SET_DIR/hand_verdicts.txt.

Every pair of records (across sources and within one source) that shares a phone (last ten digits), a
website host, or a normalised street address (house number + first street words; renamed places keep
their address), a house number in the same city with a name that is not unlike (token set ratio >= 50:
`3201 WEST HIGHWAY 22` / `3201 TEXAS 22`), the same name in the same city, or a postal code with a very
similar name (token set ratio >= 90). The evidence is printed beside both
records. Verdicts:
- `rule-dup`: same house number, street words similar (token set >= 80) and names similar (>= 70);
- `rule-not`: only a shared website host and different house numbers (a hospital system's one site);
- every other pair was read by hand: a duplicate unless hand_verdicts.txt says R (not the same place: a
  sister campus, a hospital within a hospital, a switchboard number shared by a system) or A (ambiguous: a
  hospital that moved to a new building or was replaced; kept out of both gold and the precision count).
  hand_verdicts.txt also overrides rule verdicts that the hand check found wrong, and adds (D) duplicates
  that no candidate rule found (seen among another linker's predictions: the city of one record wrong).
"""

from __future__ import annotations

import csv
import re
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from urllib.parse import urlsplit

from rapidfuzz import fuzz

NOT_SOURCES = ("gold.csv", "review.csv")  # the other CSVs of a set folder are its sources

STREET_WORDS = {
    "street": "st", "avenue": "ave", "av": "ave", "boulevard": "blvd", "road": "rd", "drive": "dr",
    "place": "pl", "parkway": "pkwy", "highway": "hwy", "lane": "ln", "court": "ct", "circle": "cir",
    "north": "n", "south": "s", "east": "e", "west": "w", "first": "1st", "second": "2nd", "third": "3rd",
    "freeway": "fwy", "expressway": "expy", "loop": "lp", "suite": "ste", "square": "sq", "terrace": "ter",
}  # fmt: skip


def phone_key(value: str) -> str:
    digits = re.sub(r"\D", "", value or "")
    return digits[-10:] if len(digits) >= 10 else ""


def host_key(value: str) -> str:
    value = (value or "").strip().lower()
    if not value:
        return ""
    host = urlsplit(value if "//" in value else "http://" + value).hostname or ""
    return host.removeprefix("www.")


def name_key(value: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", (value or "").lower()))


def address_key(value: str) -> str:
    words = re.findall(r"[a-z0-9]+", (value or "").lower())
    words = [STREET_WORDS.get(w, w) for w in words]
    if not words or not words[0][0].isdigit():
        return ""
    return " ".join(words[:4])


def load(set_dir: Path) -> list[dict[str, str]]:
    records = []
    for path in sorted(set_dir.glob("*.csv")):
        if path.name in NOT_SOURCES:
            continue
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                records.append({**row, "_source": path.stem})
    return records


def candidate_pairs(recs: list[dict[str, str]]) -> dict[tuple[int, int], set[str]]:
    blocks: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(recs):
        city = " ".join(re.findall(r"[a-z0-9]+", (r["city"] or "").lower()))
        number = _street(r["address"])[0]
        for kind, key in (("phone", phone_key(r["phone"])), ("web", host_key(r["website"])),
                          ("addr", address_key(r["address"])), ("zip", (r["zip"] or "")[:5]),
                          ("number", f"{number} {city}" if number and city else ""),
                          ("name", f"{name_key(r['name'])} {city}" if city else "")):  # fmt: skip
            if key:
                blocks[(kind, key)].append(i)
    evidence: dict[tuple[int, int], set[str]] = defaultdict(set)
    for (kind, _key), members in blocks.items():
        if len(members) > 60:
            continue
        for a, b in combinations(members, 2):
            name = fuzz.token_set_ratio(recs[a]["name"].lower(), recs[b]["name"].lower())
            if (kind == "zip" and name < 90) or (kind == "number" and name < 50):
                continue
            evidence[(a, b)].add(kind)
    return evidence


def _street(addr: str) -> tuple[str, str]:
    words = [STREET_WORDS.get(w, w) for w in re.findall(r"[a-z0-9]+", (addr or "").lower())]
    number = words[0] if words and words[0][0].isdigit() else ""
    return number, " ".join(words[1:] if number else words)


def rule_verdict(ra: dict[str, str], rb: dict[str, str], kinds: set[str]) -> str:
    """`rule-dup`, `rule-not` or `hand` (see the module docstring)."""
    (na, sa), (nb, sb) = _street(ra["address"]), _street(rb["address"])
    same_number = bool(na) and na == nb
    if kinds == {"web"} and not same_number:
        return "rule-not"
    name = fuzz.token_set_ratio(ra["name"].lower(), rb["name"].lower())
    if same_number and fuzz.token_set_ratio(sa, sb) >= 80 and name >= 70:
        return "rule-dup"
    return "hand"


def load_hand_verdicts(path: Path) -> dict[frozenset[str], str]:
    verdicts = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            verdict, a, b = line.split()
            verdicts[frozenset((a, b))] = verdict
    return verdicts


def _closure(pairs: set[frozenset[str]]) -> list[list[str]]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        a, b = sorted(pair)
        parent[find(a)] = find(b)
    groups: dict[str, list[str]] = defaultdict(list)
    for x in list(parent):
        groups[find(x)].append(x)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def main(set_dir: Path) -> None:
    recs = load(set_dir)
    hand = load_hand_verdicts(set_dir / "hand_verdicts.txt")
    dups: set[frozenset[str]] = set()
    excluded: set[frozenset[str]] = set()
    with (set_dir / "review.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "source_a",
                "id_a",
                "source_b",
                "id_b",
                "evidence",
                "name_sim",
                "verdict",
                "decided_by",
                "a",
                "b",
            ]
        )
        for (a, b), kinds in sorted(candidate_pairs(recs).items()):
            ra, rb = recs[a], recs[b]
            key = frozenset((f"{ra['_source']}:{ra['source_id']}", f"{rb['_source']}:{rb['source_id']}"))
            rule = rule_verdict(ra, rb, kinds)
            if key in hand:
                verdict, by = {"R": "not", "A": "ambiguous", "D": "dup"}[hand[key]], "hand"
            elif rule == "hand":
                verdict, by = "dup", "hand"
            else:
                verdict, by = rule.removeprefix("rule-"), "rule"
            if verdict == "dup":
                dups.add(key)
            else:
                excluded.add(key)
            name = fuzz.token_set_ratio(ra["name"].lower(), rb["name"].lower())
            w.writerow([ra["_source"], ra["source_id"], rb["_source"], rb["source_id"], "+".join(sorted(kinds)), int(name),
                        verdict, by, f"{ra['name']} | {ra['address']} | {ra['city']} {ra['zip']} | {ra['phone']}",
                        f"{rb['name']} | {rb['address']} | {rb['city']} {rb['zip']} | {rb['phone']}"])  # fmt: skip
        records = {f"{r['_source']}:{r['source_id']}": r for r in recs}
        for key, verdict in sorted(hand.items(), key=lambda kv: sorted(kv[0])):
            if verdict == "D" and key not in dups:  # a duplicate no candidate rule found
                dups.add(key)
                ra, rb = (records[k] for k in sorted(key))
                w.writerow([ra["_source"], ra["source_id"], rb["_source"], rb["source_id"], "hand-added", "",
                            "dup", "hand", f"{ra['name']} | {ra['address']} | {ra['city']} {ra['zip']} | {ra['phone']}",
                            f"{rb['name']} | {rb['address']} | {rb['city']} {rb['zip']} | {rb['phone']}"])  # fmt: skip
    gold: set[tuple[str, str, str, str]] = set()
    for group in _closure(dups):
        for x, y in combinations(group, 2):
            if frozenset((x, y)) in excluded:
                print(f"conflict: {x} ~ {y} judged not/ambiguous but joined through a chain: {group}")
            sa, ia = x.split(":", 1)
            sb, ib = y.split(":", 1)
            gold.add((sa, ia, sb, ib))
    with (set_dir / "gold.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["source_a", "id_a", "source_b", "id_b"])
        w.writerows(sorted(gold))
    print(f"{set_dir.name}: {len(dups)} duplicate pairs judged, {len(gold)} gold pairs after closure")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
