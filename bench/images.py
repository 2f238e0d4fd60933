"""Images benchmark: fetch, validate, re-encode, hash and store N images served from 127.0.0.1, then run the
same job again (every image unchanged: conditional GETs, nothing downloaded or stored again).

    python bench/images.py [--images 1000] [--workers 2] [--seed 0] [--keep]

1. starts a throwaway project-local PostgreSQL and migrates it;
2. generates N images (JPEG, PNG, WebP; mixed sizes up to 4000x3000) into a folder and serves it with a
   threaded static HTTP server on 127.0.0.1 (Last-Modified, 304 on If-Modified-Since);
3. writes a CSV of N/2 listings with two images each for a CSV DMO, and runs extract .. stage;
4. times the images step as Airflow runs it: `plan`, the batches on `--workers` processes (mapped task
   instances on as many workers), `finish`;
5. runs the same file as a new job and times its images step again;
6. prints images/s, the peak RSS of the batch processes, the bytes stored, and the server's 200/304 counts.
It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

DMO_ID = 9101
SIZES = [(4000, 3000), (3000, 2000), (1600, 1200), (1200, 800), (800, 600), (640, 480)]
FORMATS = [("jpg", "JPEG"), ("jpg", "JPEG"), ("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")]


def make_images(folder: Path, n: int, seed: int) -> int:
    """N pictures with shapes and gradients (distinct perceptual hashes); returns the bytes written."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    total = 0
    for i in range(n):
        width, height = rng.choice(SIZES)
        ext, fmt = rng.choice(FORMATS)
        small = Image.linear_gradient("L").resize((width // 8, height // 8)).convert("RGB")
        draw = ImageDraw.Draw(small)
        for _ in range(6):
            x0, y0 = rng.randrange(small.width), rng.randrange(small.height)
            box = (
                x0,
                y0,
                x0 + rng.randrange(10, small.width // 2 + 11),
                y0 + rng.randrange(10, small.height // 2 + 11),
            )
            draw.ellipse(box, fill=tuple(rng.randrange(256) for _ in range(3)))
        picture = small.resize((width, height), Image.Resampling.BILINEAR)
        path = folder / f"photo-{i:05d}.{ext}"
        picture.save(path, fmt, **({"quality": 85} if fmt != "PNG" else {"compress_level": 1}))
        total += path.stat().st_size
    return total


class _Handler(SimpleHTTPRequestHandler):
    counts: ClassVar[dict[int, int]] = {}
    lock = threading.Lock()

    def send_response(self, code: int, message: str | None = None) -> None:
        with self.lock:
            self.counts[code] = self.counts.get(code, 0) + 1
        super().send_response(code, message)

    def log_message(self, *args: Any) -> None:
        pass


def serve(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _batch(env: dict[str, str], batch: tuple[int, int, int]) -> tuple[dict[str, int], int]:
    """One mapped task instance: a fresh process, like an Airflow worker's task. Returns counts and peak RSS (kB)."""
    os.environ.update(env)
    from listings.pipeline import images

    counts = images.run_batch(*batch)
    return counts, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def images_step(job_id: int, workers: int, env: dict[str, str]) -> tuple[float, dict[str, int], int]:
    from listings.pipeline import images

    t0 = time.perf_counter()
    batches = [(b.job_id, b.first_id, b.last_id) for b in images.plan(job_id)]
    counts: dict[str, int] = {}
    peak = 0
    # spawned, not forked: a fresh interpreter per worker, as an Airflow task gets (a fork would share the
    # parent's database connections)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done, rss in pool.map(partial(_batch, env), batches):
            peak = max(peak, rss)
            for k, v in done.items():
                counts[k] = counts.get(k, 0) + v
    images.finish(job_id)
    return time.perf_counter() - t0, counts, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="listings-bench-images-"))
    root.chmod(0o755)
    from listings_dev.local_postgres import LocalPostgres

    pg = LocalPostgres(root / "pg", fast=True)
    pg.start()
    pg.ensure_database("bench")
    env = {"LISTINGS_DATABASE_URL": pg.url("bench"), "LISTINGS_HOME": str(root / "home")}
    os.environ.update(env)
    server = None
    try:
        from listings.config.store import apply_config, parse_config
        from listings.db.engine import get_engine, migrate
        from listings.pipeline import steps
        from listings.settings import get_settings

        get_settings.cache_clear()
        migrate(pg.url("bench"))
        engine = get_engine()

        folder = root / "site"
        folder.mkdir()
        t0 = time.perf_counter()
        source_bytes = make_images(folder, args.images, args.seed)
        print(
            f"{args.images:,} images generated ({source_bytes / 1e6:,.0f} MB) in {time.perf_counter() - t0:.1f} s"
        )
        server, base = serve(folder)

        files = sorted(p.name for p in folder.iterdir())
        upload = root / "upload.csv"
        with upload.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["ID", "Name", "City", "Lat", "Lng", "Images"])
            for k in range(0, len(files), 2):
                urls = "|".join(f"{base}/{name}" for name in files[k : k + 2])
                writer.writerow([f"P{k}", f"Place {k}", "Montréal", 45.4 + k * 1e-4, -73.6, urls])
        config = parse_config(
            {
                "dmo": {"id": DMO_ID, "name": "Images bench", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
                "source_type": "csv",
                "field_mappings": {"source_id": "ID", "name": "Name", "city": "City", "lat": "Lat",
                                   "lng": "Lng", "images": "Images"},
                "images": {"allow_private_hosts": True, "batch_size": 50, "max_bytes": 50_000_000},
            }
        )  # fmt: skip
        with engine.begin() as conn:
            apply_config(conn, config)

        for label in ("first run", "unchanged re-run"):
            job_id = steps.start(DMO_ID, params={"file": str(upload)})
            for step in ("extract", "transform", "stage"):
                getattr(steps, step)(job_id)
            _Handler.counts = {}
            seconds, counts, peak = images_step(job_id, args.workers, env)
            stored = sum(p.stat().st_size for p in (root / "home" / "objects").rglob("*") if p.is_file())
            print(
                f"{label}: {args.images:,} images in {seconds:.1f} s = {args.images / seconds:,.1f} images/s "
                f"({args.workers} worker processes); outcomes {counts}; server answers {dict(sorted(_Handler.counts.items()))}; "
                f"peak RSS per batch process {peak / 1024:,.0f} MB; objects stored {stored / 1e6:,.0f} MB"
            )
            for step in ("match", "promote", "finalize"):
                getattr(steps, step)(job_id)
        print(f"main process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    finally:
        if server is not None:
            server.shutdown()
        if args.keep:
            print(f"kept: {root}")
        else:
            pg.destroy()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
