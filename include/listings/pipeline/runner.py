"""Run every step of one DMO job in-process (`listings run`), timing each stage."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from listings.db.engine import get_engine
from listings.pipeline import jobs, steps
from listings.pipeline.liveness import heartbeat
from listings.sources.files import import_local_file


class JobFailed(RuntimeError):
    def __init__(self, job_id: int, step: str, cause: BaseException) -> None:
        super().__init__(f"job {job_id} failed in {step}: {cause}")
        self.job_id = job_id
        self.step = step


def run_job(dmo_id: int, *, file: Path | None = None, data_domain: str = "listings") -> dict[str, Any]:
    """Run a job in this process. `file`: a file of this machine to import (the caller is trusted: one
    outside the import folders is copied into the uploads folder, which the steps may read)."""
    params = {"file": str(import_local_file(file))} if file else {}
    started = time.perf_counter()
    job_id = steps.start(dmo_id, data_domain=data_domain, trigger="cli", params=params)
    stages: dict[str, dict[str, float | int]] = {
        "snapshot_config": {"seconds": round(time.perf_counter() - started, 3), "records": 0}
    }
    with heartbeat(job_id):  # the job is alive while this process runs its steps
        for name in steps.STEPS:
            t0 = time.perf_counter()
            try:
                result = getattr(steps, name)(job_id)
            except Exception as exc:
                steps.fail(job_id, name, exc)
                raise JobFailed(job_id, name, exc) from exc
            stages[name] = {"seconds": round(time.perf_counter() - t0, 3), "records": result.records}
    with get_engine().connect() as conn:
        job = jobs.load_job(conn, job_id)
        counts = jobs.results(conn, job_id)
    return {
        "job_id": job_id,
        "dmo_id": dmo_id,
        "status": job.status,
        "counts": counts,
        "stages": stages,
        "seconds": round(time.perf_counter() - started, 3),
    }
