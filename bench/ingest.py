"""Ingest benchmark: import N generated listings through the `listings` CLI, then re-import them unchanged.

    python bench/ingest.py --rows 10000 [--seed 0] [--keep] [--fast-pg]

1. writes a realistic CSV of N listings (`listings_dev.devdata`) into a temp dir;
2. starts a throwaway project-local PostgreSQL there (unless LISTINGS_DATABASE_URL is set: then that
   database is used, and DMO 9001 is written into it) and runs `listings db migrate`;
3. applies a CSV config for DMO 9001 with `listings config apply`;
4. runs `listings run 9001 --file <csv>` twice, each in its own process, timing the wall clock and
   sampling the child's resident memory (with its children) every 50 ms, and reads the JSON report the
   command prints on stdout;
5. prints per-stage tables, totals, counts and a one-line summary, then removes the cluster and temp dir
   unless --keep.

It prints figures and never asserts on time. The exit status is 0 when both runs succeed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from listings.pipeline.jobs import RESULT_COUNTS as COUNTS
from listings.pipeline.steps import STEPS
from listings_dev.devdata import CSV_COLUMNS, generate_listings, write_csv

DMO_ID = 9001
DATABASE = "listings_bench"
CHUNK = 100_000  # rows generated at a time, so a million-row CSV does not need a million dicts in memory
STAGES = ("snapshot_config", *STEPS)

FIELD_MAPPINGS = {
    "source_id": "ID",
    "name": "Name",
    "category": "Category",
    "address1": "Address1",
    "address2": "Address2",
    "city": "City",
    "state": "Province",
    "zip": "Postal",
    "country": "Country",
    "phone": "Phone",
    "email": "Email",
    "website": "Website",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "lat": "Latitude",
    "lng": "Longitude",
    "description": "Description",
    "opening_hours": "Hours",
    "images": "Images",
}


class BenchError(RuntimeError):
    pass


# --- data --------------------------------------------------------------------------------------------


def iter_rows(n: int, seed: int) -> Iterator[dict[str, str]]:
    """N listings; up to CHUNK rows this is exactly `generate_listings(n, seed=seed)`."""
    done = 0
    chunk_index = 0
    while done < n:
        size = min(CHUNK, n - done)
        chunk_seed = seed if chunk_index == 0 else seed * 1_000_003 + chunk_index
        for row in generate_listings(size, seed=chunk_seed, id_prefix="BEN"):
            done += 1
            row["ID"] = f"BEN-{done:06d}"
            yield row
        chunk_index += 1


def write_dmo_config(path: Path) -> None:
    config: dict[str, Any] = {
        "dmo": {"id": DMO_ID, "name": "Bench DMO", "dmo_type": "SCRAPED", "country": "CA", "state": "QC"},
        "source_type": "csv",
        "data_domain": "listings",
        "schedule": "manual",
        "base_url": None,
        "field_mappings": FIELD_MAPPINGS,
        "config_params": {},
        # The generated rows' image URLs name hosts that do not exist; images have their own bench/images.py.
        "images": {"enabled": False},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


# --- the CLI -----------------------------------------------------------------------------------------


def listings_command() -> list[str]:
    """The `listings` console script of this interpreter's environment, else `python -m listings.cli`."""
    beside = Path(sys.executable).parent / "listings"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("listings")
    return [found] if found else [sys.executable, "-m", "listings.cli"]


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def cli(args: Sequence[str], env: dict[str, str]) -> str:
    cmd = [*listings_command(), *args]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise BenchError(
            f"`listings {' '.join(args)}` failed with exit code {res.returncode}\n"
            f"--- stderr (tail) ---\n{_tail(res.stderr)}\n--- stdout (tail) ---\n{_tail(res.stdout)}"
        )
    return res.stdout


@dataclass
class Measured:
    returncode: int
    wall_seconds: float
    peak_rss_bytes: int
    stdout: str
    stderr_path: Path


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += int(member.memory_info().rss)
    return total


def run_measured(cmd: Sequence[str], env: dict[str, str], log_dir: Path, label: str) -> Measured:
    """Run `cmd`, sampling its process tree's RSS every 50 ms; the exact wall time comes from waiting on it.

    The peak is the larger of the sampled tree total and the kernel's own max RSS of the child (wait4).
    """
    out_path, err_path = log_dir / f"{label}.stdout.json", log_dir / f"{label}.stderr.log"
    peak = 0
    stop = threading.Event()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, stdout=out, stderr=err)
        try:
            ps = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            ps = None

        def sample() -> None:
            nonlocal peak
            while ps is not None and not stop.is_set():
                peak = max(peak, _tree_rss(ps))
                stop.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            stop.set()
        wall = time.perf_counter() - start
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    kernel_peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return Measured(
        returncode=proc.returncode,
        wall_seconds=wall,
        peak_rss_bytes=max(peak, kernel_peak),
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr_path=err_path,
    )


def parse_report(stdout: str) -> dict[str, Any]:
    """The one JSON object `listings run` prints; tolerate stray lines before it."""
    text = stdout.strip()
    candidates = [text, *reversed(text.splitlines())]
    for candidate in candidates:
        candidate = candidate.strip()
        if not candidate.startswith("{"):
            continue
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise BenchError(f"`listings run` printed no JSON report on stdout:\n{_tail(stdout)}")


# --- report ------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    label: str
    measured: Measured
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def status(self) -> str:
        if self.error:
            return "failed"
        return str(self.report.get("status", "unknown"))

    @property
    def ok(self) -> bool:
        return self.error is None and self.measured.returncode == 0 and self.status == "succeeded"


def _rate(records: float, seconds: float) -> str:
    if records <= 0 or seconds <= 0:
        return "-"
    return f"{records / seconds:,.0f}"


def print_run(result: RunResult) -> None:
    m = result.measured
    report = result.report
    print()
    print(
        f"== {result.label}: job {report.get('job_id', '?')}, status {result.status}, exit code {m.returncode}"
    )
    if result.error:
        print(result.error)
        print(f"stderr log: {m.stderr_path}")
        return
    stages: dict[str, Any] = report.get("stages") or {}
    names = [s for s in STAGES if s in stages] + [s for s in stages if s not in STAGES]
    print(f"  {'stage':<17}{'records':>12}{'seconds':>11}{'records/s':>13}")
    stage_total = 0.0
    for name in names:
        info = stages[name] or {}
        seconds = float(info.get("seconds") or 0.0)
        records = int(info.get("records") or 0)
        stage_total += seconds
        print(f"  {name:<17}{records:>12,}{seconds:>11.2f}{_rate(records, seconds):>13}")
    print(f"  {'(stages)':<17}{'':>12}{stage_total:>11.2f}")
    overhead = m.wall_seconds - stage_total
    print(
        f"  total wall {m.wall_seconds:.2f} s (process start-up and other overhead {overhead:.2f} s), "
        f"peak RSS {m.peak_rss_bytes / 2**20:,.1f} MB"
    )
    counts: dict[str, Any] = report.get("counts") or {}
    shown = [f"{k.removeprefix('records_')}={counts[k]:,}" for k in COUNTS if k in counts]
    shown += [f"{k}={v}" for k, v in counts.items() if k not in COUNTS]
    print(f"  counts: {' '.join(shown) if shown else '(none reported)'}")


def summary_line(rows: int, results: list[RunResult]) -> str:
    parts = [f"rows={rows:,}"]
    for r in results:
        counts: dict[str, Any] = r.report.get("counts") or {}
        parts.append(
            f"{r.label}: {r.status} {r.measured.wall_seconds:.2f}s "
            f"{_rate(rows, r.measured.wall_seconds)} rows/s peak {r.measured.peak_rss_bytes / 2**20:,.0f}MB "
            f"new={counts.get('records_new', '?')} updated={counts.get('records_updated', '?')} "
            f"unchanged={counts.get('records_unchanged', '?')} errors={counts.get('records_error', '?')}"
        )
    return "SUMMARY " + " | ".join(parts)


# --- main --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark `listings run` on N generated listings: a first import, then the unchanged re-import. "
            "Uses a throwaway PostgreSQL unless LISTINGS_DATABASE_URL is set."
        )
    )
    parser.add_argument(
        "--rows", type=int, default=10_000, help="number of listings to generate (default 10000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="devdata seed (default 0)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and leave the cluster running")
    parser.add_argument(
        "--fast-pg",
        action="store_true",
        help="run the throwaway cluster without fsync (faster, less representative of production)",
    )
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="listings-bench-"))
    tmp.chmod(0o755)  # PostgreSQL runs as the postgres user and must traverse it
    pg = None
    results: list[RunResult] = []
    exit_code = 1
    try:
        print(f"listings ingest benchmark: {args.rows:,} rows, seed {args.seed}")
        print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"work dir: {tmp}")

        csv_path = tmp / "listings.csv"
        t0 = time.perf_counter()
        write_csv(csv_path, iter_rows(args.rows, args.seed), columns=CSV_COLUMNS)
        gen_seconds = time.perf_counter() - t0
        print(
            f"generated {csv_path.name}: {args.rows:,} rows, {csv_path.stat().st_size / 2**20:,.1f} MB "
            f"in {gen_seconds:.2f} s"
        )

        external_url = os.environ.get("LISTINGS_DATABASE_URL")
        if external_url:
            url = external_url
            print("database: LISTINGS_DATABASE_URL (DMO 9001 will be written into it)")
        else:
            from listings_dev.local_postgres import LocalPostgres

            t0 = time.perf_counter()
            pg = LocalPostgres(tmp / "pg", fast=args.fast_pg)
            pg.start()
            pg.ensure_database(DATABASE)
            url = pg.url(DATABASE)
            print(
                f"database: throwaway PostgreSQL in {pg.root} (port {pg.state().port}"
                f"{', fsync off' if args.fast_pg else ''}), started in {time.perf_counter() - t0:.2f} s"
            )

        env = {**os.environ, "LISTINGS_HOME": str(tmp / "home"), "LISTINGS_DATABASE_URL": url}
        t0 = time.perf_counter()
        cli(["db", "migrate"], env)
        print(f"migrated in {time.perf_counter() - t0:.2f} s")
        config_path = tmp / f"dmo-{DMO_ID}.yaml"
        write_dmo_config(config_path)
        cli(["config", "apply", str(config_path)], env)
        print(f"applied {config_path.name}")

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for label in ("first import", "re-import"):
            slug = label.replace(" ", "-")
            measured = run_measured(
                [*listings_command(), "run", str(DMO_ID), "--file", str(csv_path)], env, tmp, slug
            )
            result = RunResult(label, measured)
            try:
                result.report = parse_report(measured.stdout)
            except BenchError as exc:
                stderr = measured.stderr_path.read_text(encoding="utf-8", errors="replace")
                result.error = f"{exc}\n--- stderr (tail) ---\n{_tail(stderr)}"
            if measured.returncode != 0 and result.error is None:
                stderr = measured.stderr_path.read_text(encoding="utf-8", errors="replace")
                result.error = f"exit code {measured.returncode}\n--- stderr (tail) ---\n{_tail(stderr)}"
            results.append(result)
            print_run(result)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"\nCPU time of the two `listings run` processes (user+sys): {cpu:.2f} s")
        print()
        print(summary_line(args.rows, results))
        exit_code = 0 if all(r.ok for r in results) else 1
    except BenchError as exc:
        print(f"\nbenchmark aborted: {exc}", file=sys.stderr)
        exit_code = 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        exit_code = 130
    finally:
        if args.keep:
            print(f"\nkept {tmp}")
            if pg is not None:
                print(f"  database URL: {pg.url(DATABASE)}")
                print(
                    '  remove with: python -c "from pathlib import Path; from listings_dev.local_postgres import '
                    f"LocalPostgres; LocalPostgres(Path('{pg.root}')).destroy()\" && rm -rf {tmp}"
                )
        else:
            if pg is not None:
                try:
                    pg.destroy()
                except Exception as exc:  # never hide the benchmark's own result behind a cleanup error
                    print(
                        f"warning: could not stop the throwaway cluster in {pg.root}: {exc}", file=sys.stderr
                    )
            shutil.rmtree(tmp, ignore_errors=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
