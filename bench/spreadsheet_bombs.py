"""Spreadsheet bombs: the peak memory and time of reading hostile workbooks, each in a fresh
process, as the preview, a run and the upload check read them.

    python bench/spreadsheet_bombs.py [--sheet-mb 500] [--case NAME ...]

Cases (each built in a temporary folder, deflated: a few hundred KB on disk):
- `sheet-xml`: a valid workbook whose sheet holds `--sheet-mb` MB of repetitive rows (a header, then the
  same row again and again), the case of the issue (0.5 MB on disk, 500 MB of sheet XML);
- `wide-row`: one row of 2,000,000 cells (40 MB of XML), under the decompressed-size cap;
- `shared-strings`: 5,000,000 distinct shared strings (about 100 MB of XML), under the decompressed-size
  cap;
- `far-column`: 100,000 rows with one cell in column XFD each, a small XML that a reader widens to 16,384
  columns per row.
For each: the file size, the reader's outcome (rows read, or the error), the process's peak RSS (ru_maxrss)
and its RSS before reading, the time; and the same for the upload check (`dmo_uploads.check_content`).
It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NS = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
SHARED_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml"'
    b' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)


def _base_workbook() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["ID", "Name", "City"])
    ws.append(["1", "Café Olimpico", "Montréal"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_bomb(
    path: Path, sheet: Callable[[], Iterator[bytes]], shared: Iterator[bytes] | None = None
) -> int:
    """A valid workbook at `path` whose first sheet's XML is the chunks of `sheet()` (streamed into the ZIP,
    deflated: never held in memory), and, when given, whose shared strings are `shared`. Returns its size."""
    src = zipfile.ZipFile(io.BytesIO(_base_workbook()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                with out.open(info.filename, "w", force_zip64=True) as fh:
                    for chunk in sheet():
                        fh.write(chunk)
            elif info.filename == "[Content_Types].xml" and shared is not None:
                out.writestr(
                    info.filename, src.read(info.filename).replace(b"</Types>", SHARED_TYPE + b"</Types>")
                )
            else:
                out.writestr(info.filename, src.read(info.filename))
        if shared is not None:
            with out.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
                for chunk in shared:
                    fh.write(chunk)
    return path.stat().st_size


def sheet_xml_bomb(megabytes: int) -> Callable[[], Iterator[bytes]]:
    header = b'<row><c t="inlineStr"><is><t>ID</t></is></c><c t="inlineStr"><is><t>Name</t></is></c></row>'
    row = b'<row><c t="inlineStr"><is><t>1</t></is></c><c t="inlineStr"><is><t>boom</t></is></c></row>'
    block = row * 10_000

    def chunks() -> Iterator[bytes]:
        yield NS + b"<sheetData>" + header
        for _ in range(megabytes * 1_000_000 // len(block) + 1):
            yield block
        yield b"</sheetData></worksheet>"

    return chunks


def wide_row_bomb(cells: int = 2_000_000) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        yield NS + b'<sheetData><row r="1">'
        for _ in range(cells // 10_000):
            yield b"<c><v>1</v></c>" * 10_000
        yield b"</row></sheetData></worksheet>"

    return chunks


def far_column_bomb(rows: int = 100_000) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        yield NS + b'<dimension ref="A1"/><sheetData>'
        yield b'<row r="1"><c r="A1" t="inlineStr"><is><t>ID</t></is></c>'
        yield b'<c r="B1" t="inlineStr"><is><t>Name</t></is></c></row>'
        for r in range(2, rows + 2):
            yield b'<row r="%d"><c r="XFD%d"><v>1</v></c></row>' % (r, r)
        yield b"</sheetData></worksheet>"

    return chunks


def shared_strings_bomb(count: int = 5_000_000) -> Iterator[bytes]:
    yield b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    for start in range(0, count, 10_000):
        yield b"".join(b"<si><t>%d</t></si>" % i for i in range(start, start + 10_000))
    yield b"</sst>"


MEASURE = r"""
import json, resource, sys, time
from pathlib import Path
data = Path(sys.argv[1]).read_bytes()
mode = sys.argv[2]
from listings.sources import xls_reader
from listings.admin import dmo_uploads
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    if mode == "reader":
        result = xls_reader.read_workbook(data)
        outcome = f"read {len(result.rows):,} rows"
    else:
        dmo_uploads.check_content(data[:65536], ".xlsx", Path(sys.argv[1]))
        outcome = "accepted"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "before_mb": before / 1024, "peak_mb": peak / 1024, "seconds": elapsed}))
"""


def _peak_rss_mb(pid: int) -> float | None:
    """The process's peak RSS so far (VmHWM), for a process stopped before it could print its own."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measure(path: Path, mode: str, timeout: float) -> dict[str, object]:
    env = {"PYTHONPATH": str(ROOT / "include")}
    started = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, "-c", MEASURE, str(path), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            peak = _peak_rss_mb(proc.pid)
            proc.kill()
            proc.communicate()
            return {
                "outcome": f"stopped after {time.perf_counter() - started:.0f} s, still reading",
                "peak_mb": peak or 0.0,
                "before_mb": float("nan"),
                "seconds": time.perf_counter() - started,
            }
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        return {"outcome": f"process failed ({proc.returncode}): {err[-300:]}"}
    figures: dict[str, object] = json.loads(lines[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheet-mb", type=int, default=500, help="MB of sheet XML in the sheet-xml case")
    parser.add_argument("--case", action="append", help="run only these cases")
    parser.add_argument(
        "--mode", action="append", choices=["reader", "upload"], help="reader, upload or both"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds before a reading process is stopped"
    )
    args = parser.parse_args()
    cases: dict[str, Callable[[Path], int]] = {
        "sheet-xml": lambda p: write_bomb(p, sheet_xml_bomb(args.sheet_mb)),
        "wide-row": lambda p: write_bomb(p, wide_row_bomb()),
        "shared-strings": lambda p: write_bomb(p, sheet_xml_bomb(1), shared_strings_bomb()),
        "far-column": lambda p: write_bomb(p, far_column_bomb()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in cases.items():
            if args.case and name not in args.case:
                continue
            path = Path(tmp) / f"{name}.xlsx"
            size = build(path)
            with zipfile.ZipFile(path) as z:
                unpacked = sum(i.file_size for i in z.infolist())
            print(f"{name}: {size / 1e6:.2f} MB on disk, {unpacked / 1e6:.0f} MB decompressed")
            for mode in args.mode or ["reader", "upload"]:
                f = measure(path, mode, args.timeout)
                figures = (
                    f"peak RSS {f['peak_mb']:.0f} MB (before reading {f['before_mb']:.0f} MB), "
                    f"{f['seconds']:.2f} s"
                    if "peak_mb" in f
                    else ""
                )
                print(f"  {mode:7s} {figures}\n          {str(f['outcome'])[:300]}")


if __name__ == "__main__":
    main()
