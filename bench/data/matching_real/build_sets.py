"""Rebuild the real-data evaluation sets' source CSVs from the public files they were cut from.

    python bench/data/matching_real/build_sets.py MIRROR_DIR

MIRROR_DIR holds bare git copies of the three public repositories named in README.md (one folder per
repository, `owner+name`); each file is read at the commit the README records. The CSVs are written as the
publishers wrote the values (case, abbreviations, `New York` vs `NY`, phones with or without punctuation),
except that a publisher's own "no value" sentinel (`NOT AVAILABLE`) is written as an empty cell. No
coordinates are written: the bench runs the product without a geocoder and without coordinates.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ["source_id", "name", "address", "address2", "city", "state", "zip", "phone", "website"]

NYDOH = ("mramire6+Regional-Healthcare-Costs-New-York-State", "508a44274de2ce0a05a3616029869c83a9d5e87e",
         "Health_Facility_General_Information.csv")  # fmt: skip
CMS = (
    "tomasonjo+hospitals-neo4j",
    "296990f186f83d0564806260376e2bb03e7e8599",
    "Hospital General Information.csv",
)
HIFLD = ("aiformankind+covid-19-hackathon", "c252f4f38a1b88adfdffb84b450e88c148fdc4d2", "Hospitals.csv")
NYDOH_HOSPITALS = {"Hospital", "Primary Care Hospital - Critical Access Hospital"}


def read_source(mirror: Path, spec: tuple[str, str, str]) -> list[dict[str, str]]:
    repo, commit, path = spec
    git_dir = mirror / repo / "repo"
    if (git_dir / ".git").is_dir():
        git_dir = git_dir / ".git"
    data = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], check=True, capture_output=True
    ).stdout
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # the CMS file is Windows-1252 (curly apostrophes)
        decoded = data.decode("cp1252")
    return list(csv.DictReader(io.StringIO(decoded)))


def _v(value: str | None) -> str:
    value = (value or "").strip()
    return "" if value.upper() == "NOT AVAILABLE" else value


def nydoh(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {
            "source_id": r["Facility ID"],
            "name": r["Facility Name"],
            "address": r["Facility Address 1"],
            "address2": r["Facility Address 2"],
            "city": r["Facility City"],
            "state": r["Facility State"],
            "zip": r["Facility Zip Code"],
            "phone": r["Facility Phone Number"],
            "website": r["Facility Website"],
            "county": r["Facility County"],
            "description": r["Description"],
            "operator": r["Operator Name"],
        }
        for r in rows
        if r["Description"] in NYDOH_HOSPITALS
    ]


def cms(rows: list[dict[str, str]], state: str) -> list[dict[str, str]]:
    return [
        {
            "source_id": r["Provider ID"],
            "name": r["Hospital Name"],
            "address": r["Address"],
            "address2": "",
            "city": r["City"],
            "state": r["State"],
            "zip": r["ZIP Code"],
            "phone": r["Phone Number"],
            "website": "",
            "county": r["County Name"],
            "hospital_type": r["Hospital Type"],
            "ownership": r["Hospital Ownership"],
        }
        for r in rows
        if r["State"] == state
    ]


def hifld(rows: list[dict[str, str]], state: str) -> list[dict[str, str]]:
    return [
        {
            "source_id": r["ID"],
            "name": r["NAME"],
            "address": _v(r["ADDRESS"]),
            "address2": "",
            "city": _v(r["CITY"]),
            "state": r["STATE"],
            "zip": _v(r["ZIP"]),
            "phone": _v(r["TELEPHONE"]),
            "website": _v(r["WEBSITE"]),
            "county": _v(r["COUNTY"]),
            "type": r["TYPE"],
            "status": r["STATUS"],
            "alt_name": _v(r["ALT_NAME"]),
            "owner": _v(r["OWNER"]),
        }
        for r in rows
        if r["STATE"] == state
    ]


def write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = COLUMNS + [c for c in rows[0] if c not in COLUMNS]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: r["source_id"]))
    print(f"{path.relative_to(HERE)}: {len(rows)} records")


def main(mirror: Path) -> None:
    doh, cms_rows, hifld_rows = (
        read_source(mirror, NYDOH),
        read_source(mirror, CMS),
        read_source(mirror, HIFLD),
    )
    write(HERE / "ny_hospitals" / "nydoh.csv", nydoh(doh))
    write(HERE / "ny_hospitals" / "cms.csv", cms(cms_rows, "NY"))
    write(HERE / "ny_hospitals" / "hifld.csv", hifld(hifld_rows, "NY"))
    write(HERE / "tx_hospitals" / "cms.csv", cms(cms_rows, "TX"))
    write(HERE / "tx_hospitals" / "hifld.csv", hifld(hifld_rows, "TX"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
