"""Reader and batch-helper speed at sizes the tests do not use (the tests check behaviour on small inputs;
a quadratic path shows here, as a figure, not as a timed assertion):

    python bench/readers.py [--rows 10000] [--records 100000]

- `read_workbook` on a generated .xlsx of `--rows` rows and 15 columns;
- `dump_json_gz` from a generator of `--records` records, stored and read back through `file://` storage;
- the category vocabulary mapping 5,000 generated category labels;
- `validate_transformed` (Great Expectations) on 20,000 records with a few hundred failing ones.
It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any


def _timed(label: str, fn: Any) -> Any:
    started = time.perf_counter()
    out = fn()
    print(f"{label:60s} {time.perf_counter() - started:7.2f} s")
    return out


def workbook(rows: int) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Liste des fiches"])
    ws.append([f"Colonne {i}" for i in range(1, 16)])
    for i in range(rows):
        ws.append([i + 1, f"Lieu {i}", 45.5 + i / 1e5, -73.5, 5145550000 + i, date(2024, 1, 1), True]
                  + [f"texte {i}-{c}" for c in range(8)])  # fmt: skip
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000, help="Rows of the .xlsx sheet.")
    ap.add_argument("--records", type=int, default=100_000, help="Records of the json.gz round trip.")
    args = ap.parse_args()

    from listings.sources.xls_reader import read_workbook
    from listings.storage import CONTENT_TYPES, DataKey, dump_json_gz, load_json_gz, open_store
    from listings.transform.categories import load_vocabulary
    from listings.validation import validate_transformed
    from listings_dev.devdata import generate_listings

    data = _timed(f"build a {args.rows:,}-row .xlsx (openpyxl, not the product)", lambda: workbook(args.rows))
    result = _timed(
        f"read_workbook: {args.rows:,} rows, {len(data) / 2**20:.1f} MB", lambda: read_workbook(data)
    )
    print(f"  rows read: {len(result.rows):,}")

    def records() -> Iterator[dict[str, Any]]:
        for i in range(args.records):
            yield {"external_id": f"ext-{i}", "name": f"Lieu n°{i}", "price": Decimal(i) / 100,
                   "updated_at": datetime(2026, 11, 28, i % 24, i % 60, tzinfo=UTC)}  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp).as_uri())
        when = datetime(2026, 11, 28, tzinfo=UTC)
        key = DataKey(env="dev", stage="raw", domain="listings", country="CA", state="QC", dmo_id=1, when=when,
                      batch=1, fmt="json")  # fmt: skip

        def round_trip() -> int:
            path = key.path
            store.put(path, dump_json_gz(records()), content_type=CONTENT_TYPES["json"])
            return len(load_json_gz(store.get(path)))

        _timed(f"json.gz round trip through file:// storage: {args.records:,} records", round_trip)

    vocab = load_vocabulary()
    labels = [row["Category"] for row in generate_listings(5000, seed=3)]
    _timed("category vocabulary: 5,000 labels mapped", lambda: [vocab.map(label) for label in labels])

    valid = {"name": "Gîte", "category": "hotel", "address1": "8, rue Saint-Antoine", "city": "Québec",
             "country": "CA", "lat": "46.81339", "lng": "-71.20314", "phone_e164": "+14186922211",
             "website": "https://www.saint-antoine.com/fr/", "email": "reservations@saint-antoine.com"}  # fmt: skip
    batch = [{**valid, "record_no": i, "name": f"Gîte du Vieux-Port {i}"} for i in range(1, 20_001)]
    for i in range(7, 20_001, 97):
        batch[i - 1]["phone_e164"] = "+1514"
    report = _timed("validate_transformed: 20,000 records", lambda: validate_transformed(batch))
    print(f"  failing records: {len(report.failures):,}")


if __name__ == "__main__":
    main()
