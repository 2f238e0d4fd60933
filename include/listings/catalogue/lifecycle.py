"""The listing lifecycle: soft removal of what a DMO's source no longer sends.

After a full-snapshot run (not incremental, nothing lost while fetching) the DMO's active listing_info
rows that this run did not see either, and that the source has not sent for `removal.after_days` days or
in its last `removal.after_runs` full-snapshot runs, are hidden for that DMO (`info_visible=false`,
`info_status='removed'`, with the reason). Promotion keeps the count of runs in a row that missed each
listing_info in `pipeline.listing_info_absence`.
A removed listing_info that comes back in a later run is made visible again by promotion, unless an
admin hid it by hand (`visibility` lock). Nothing is ever deleted; listings are never touched here.

The hold: a full snapshot with no valid record, or with fewer than `removal.min_ratio` x the valid records
of the DMO's last good full snapshot (a truncated export, a file of the wrong table), removes nothing.
`finish_removal` (the finalize step) records a `pipeline.removal_holds` row with the reason, takes back the
absences the run counted (so the held run is no miss), stores a `removal_held` job error, and the job ends
`partial` with the reason as its summary; the health page shows an alert. An admin then either
`release_hold` (`listings removal release JOB_ID`): the absences are counted and the sweep runs as the run
would have; or `dismiss_hold`: nothing removed. A hold can be released only while no later run of the DMO
has been promoted (that run decided again with fresher data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from listings.config.models import Removal


def _sweeps(conn: Connection, job_id: int, removal: Removal) -> bool:
    """Whether the job's run may remove anything: removal configured, and a complete picture of the source
    (a promoted full snapshot whose fetch did not stop half-way)."""
    if removal.after_days is None and removal.after_runs is None:
        return False
    job = conn.execute(
        text(
            """
            select j.full_snapshot, j.promoted_at is not null as promoted,
                   exists (select 1 from pipeline.job_errors e
                           where e.job_id = j.id and e.error_type = 'fetch_error') as fetch_failed
            from pipeline.jobs j where j.id = :j
            """
        ),
        {"j": job_id},
    ).one()
    return bool(job.full_snapshot and job.promoted and not job.fetch_failed)


def sweep(conn: Connection, job_id: int, dmo_id: int, removal: Removal) -> int:
    """Soft-remove the DMO's listing_info not seen for too long; returns how many were removed."""
    if not _sweeps(conn, job_id, removal):
        return 0  # only a complete picture of the source says what it no longer has
    result = conn.execute(
        text(
            """
            update public.listing_info as li
            set info_visible = false, info_status = 'removed', status_changed_at = now(), updated_at = now(),
                status_reason = case
                    when a.missed_runs >= cast(:runs as integer)
                    then 'not seen in the last ' || a.missed_runs || ' runs (jobs ' || a.first_missed_job_id
                         || ' to ' || a.last_missed_job_id || ')'
                    else 'not seen for ' || :days || ' days (job ' || :job || ')'
                end
            from pipeline.listing_info_absence as a
            where a.listing_info_id = li.id and a.dmo_id = :d and a.last_missed_job_id = :job
              and li.info_status = 'active' and not 'visibility' = any(li.locked_fields)
              and (a.missed_runs >= cast(:runs as integer)
                   or coalesce(li.last_seen_at, li.created_at) < now() - make_interval(days => cast(:days as integer)))
            """
        ),
        {"d": dmo_id, "job": job_id, "days": removal.after_days, "runs": removal.after_runs},
    )
    removed = result.rowcount or 0
    conn.execute(
        # added, so that a re-run (which finds nothing more to remove) keeps the count
        text(
            "update pipeline.job_results set records_deleted = coalesce(records_deleted, 0) + :n,"
            " updated_at = now() where job_id = :j"
        ),
        {"n": removed, "j": job_id},
    )
    return removed


# ------------------------------------------------------------------------------------------------
# The hold: too few records, nothing removed until an admin decides
# ------------------------------------------------------------------------------------------------


class HoldError(ValueError):
    """A hold that cannot be released or dismissed; the message says why. Nothing was changed."""


@dataclass(frozen=True)
class Hold:
    job_id: int
    dmo_id: int
    data_domain: str
    status: str  # held | released | dismissed
    reason: str
    records: int
    baseline_job_id: int | None
    baseline_records: int | None
    min_ratio: float | None
    listing_info_count: int  # the listing_info the held run did not see
    created_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    records_deleted: int | None

    @property
    def summary(self) -> str:
        """The job's summary: why nothing was removed, and what to do (or what was done)."""
        text_ = f"removal held: {self.reason}; nothing removed"
        if self.status == "held":
            return (
                f"{text_}. Check the file, then release the hold (`listings removal release {self.job_id}`)"
                f" or dismiss it (`listings removal dismiss {self.job_id}`)."
            )
        if self.status == "released":
            return (
                f"{text_} until released by {self.resolved_by} at {_when(self.resolved_at)}:"
                f" {self.records_deleted or 0} listing_info removed."
            )
        return f"{text_}; dismissed by {self.resolved_by} at {_when(self.resolved_at)}."


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "?"


_HOLD_COLUMNS = """
    h.job_id, h.dmo_id, h.data_domain, h.status, h.reason, h.records, h.baseline_job_id, h.baseline_records,
    h.min_ratio, cardinality(h.listing_info_ids) as listing_info_count, h.created_at, h.resolved_at,
    h.resolved_by, h.records_deleted
"""


def _hold(row: Any) -> Hold:
    return Hold(
        job_id=int(row.job_id),
        dmo_id=int(row.dmo_id),
        data_domain=row.data_domain,
        status=row.status,
        reason=row.reason,
        records=int(row.records),
        baseline_job_id=row.baseline_job_id,
        baseline_records=row.baseline_records,
        min_ratio=float(row.min_ratio) if row.min_ratio is not None else None,
        listing_info_count=int(row.listing_info_count or 0),
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        records_deleted=row.records_deleted,
    )


def get_hold(conn: Connection, job_id: int, *, for_update: bool = False) -> Hold | None:
    row = conn.execute(
        text(
            f"select {_HOLD_COLUMNS} from pipeline.removal_holds h where h.job_id = :j"
            + (" for update" if for_update else "")
        ),
        {"j": job_id},
    ).first()
    return _hold(row) if row is not None else None


def holds(conn: Connection, *, dmo_id: int | None = None, status: str | None = None) -> list[Hold]:
    """The removal holds, newest first; of one DMO and/or one status when given."""
    rows = conn.execute(
        text(
            f"select {_HOLD_COLUMNS} from pipeline.removal_holds h"
            " where (cast(:d as integer) is null or h.dmo_id = :d)"
            " and (cast(:s as text) is null or h.status = :s) order by h.job_id desc"
        ),
        {"d": dmo_id, "s": status},
    )
    return [_hold(r) for r in rows]


_GOOD_SNAPSHOTS = """
    select j.id, coalesce((select sum(f.record_count) from pipeline.job_files f
                           where f.job_id = j.id and f.stage = 'transformed'), 0) as records
    from pipeline.jobs j
    where j.dmo_id = :d and j.data_domain = :domain and j.id < :j
      and j.status in ('succeeded', 'partial') and j.full_snapshot and j.promoted_at is not null
      and not exists (select 1 from pipeline.job_errors e where e.job_id = j.id and e.error_type = 'fetch_error')
      and not exists (select 1 from pipeline.removal_holds h where h.job_id = j.id and h.status <> 'released')
    order by j.id desc
    limit 1
"""


def hold_reason(conn: Connection, job_id: int, removal: Removal) -> dict[str, Any] | None:
    """Why the job's sweep must be held (with the counts compared), or None: it may remove."""
    job = conn.execute(
        text(
            "select j.dmo_id, j.data_domain, coalesce((select sum(f.record_count) from pipeline.job_files f"
            " where f.job_id = j.id and f.stage = 'transformed'), 0) as records"
            " from pipeline.jobs j where j.id = :j"
        ),
        {"j": job_id},
    ).one()
    records = int(job.records)
    base = conn.execute(
        text(_GOOD_SNAPSHOTS), {"d": job.dmo_id, "domain": job.data_domain, "j": job_id}
    ).first()
    found = {
        "dmo_id": int(job.dmo_id),
        "data_domain": job.data_domain,
        "records": records,
        "baseline_job_id": int(base.id) if base is not None else None,
        "baseline_records": int(base.records) if base is not None else None,
        "min_ratio": removal.min_ratio,
    }
    if records == 0:
        against = (
            f"the last good full snapshot, job {base.id}, had {int(base.records)}"
            if base is not None
            else "no earlier good full snapshot"
        )
        return {**found, "reason": f"no valid record ({against})"}
    if base is not None and records < removal.min_ratio * int(base.records):
        return {
            **found,
            "reason": f"{records} valid records, fewer than {removal.min_ratio:g} x the {int(base.records)}"
            f" of job {base.id} (the last good full snapshot; removal.min_ratio)",
        }
    return None


def finish_removal(conn: Connection, job_id: int, dmo_id: int, removal: Removal) -> tuple[int, Hold | None]:
    """The finalize step's removal: hold it (too few records) or sweep. Returns (removed, hold). A re-run
    finds the hold it recorded, or sweeps again (which finds nothing more to remove)."""
    existing = get_hold(conn, job_id)
    if existing is not None:
        return 0, existing
    if not _sweeps(conn, job_id, removal):
        return 0, None
    found = hold_reason(conn, job_id, removal)
    if found is None:
        return sweep(conn, job_id, dmo_id, removal), None
    # Take back the absences promotion counted for this run: a held run is no miss.
    missed = [
        int(r[0])
        for r in conn.execute(
            text(
                "select listing_info_id from pipeline.listing_info_absence"
                " where dmo_id = :d and last_missed_job_id = :j order by listing_info_id"
            ),
            {"d": dmo_id, "j": job_id},
        )
    ]
    conn.execute(
        text(
            "delete from pipeline.listing_info_absence"
            " where dmo_id = :d and last_missed_job_id = :j and missed_runs <= 1"
        ),
        {"d": dmo_id, "j": job_id},
    )
    conn.execute(
        text(
            "update pipeline.listing_info_absence set missed_runs = missed_runs - 1"
            " where dmo_id = :d and last_missed_job_id = :j and missed_runs > 1"
        ),
        {"d": dmo_id, "j": job_id},
    )
    conn.execute(
        text(
            """
            insert into pipeline.removal_holds (job_id, dmo_id, data_domain, reason, records, baseline_job_id,
                                                baseline_records, min_ratio, listing_info_ids)
            values (:job_id, :dmo_id, :data_domain, :reason, :records, :baseline_job_id, :baseline_records,
                    :min_ratio, :ids)
            """
        ),
        {"job_id": job_id, **found, "ids": missed},
    )
    hold = get_hold(conn, job_id)
    assert hold is not None
    conn.execute(
        text("delete from pipeline.job_errors where job_id = :j and stage = 'finalize'"), {"j": job_id}
    )
    conn.execute(
        text(
            "insert into pipeline.job_errors (job_id, stage, record_no, error_type, error_message, original_record)"
            " values (:j, 'finalize', 0, 'removal_held', :m, cast(:o as jsonb))"
        ),
        {
            "j": job_id,
            "m": hold.summary,
            "o": json.dumps({k: v for k, v in found.items() if k != "reason"}),
        },
    )
    return 0, hold


def _resolvable(conn: Connection, job_id: int) -> Hold:
    hold = get_hold(conn, job_id, for_update=True)
    if hold is None:
        raise HoldError(f"job {job_id} has no removal hold")
    if hold.status != "held":
        raise HoldError(f"the removal hold of job {job_id} is already {hold.status}: {hold.summary}")
    return hold


def _resolve(conn: Connection, hold: Hold, status: str, user: str, removed: int | None) -> Hold:
    conn.execute(
        text(
            "update pipeline.removal_holds set status = :s, resolved_at = now(), resolved_by = :u,"
            " records_deleted = :n where job_id = :j"
        ),
        {"s": status, "u": user, "n": removed, "j": hold.job_id},
    )
    done = get_hold(conn, hold.job_id)
    assert done is not None
    conn.execute(
        text("update pipeline.jobs set error_summary = :m where id = :j"),
        {"m": done.summary, "j": hold.job_id},
    )
    conn.execute(
        text(
            "update pipeline.job_errors set ignored_at = now(), ignored_by = :u, ignore_reason = :r"
            " where job_id = :j and error_type = 'removal_held' and ignored_at is null"
        ),
        {"u": user, "r": f"removal hold {status}", "j": hold.job_id},
    )
    return done


def release_hold(conn: Connection, job_id: int, *, user: str) -> Hold:
    """Run the held sweep now, as the run would have: its absences are counted, then what reaches
    `removal.after_runs` / `after_days` is removed (the job's config snapshot). HoldError when the job has
    no open hold, or when a later run of the DMO has been promoted since (dismiss it then)."""
    hold = _resolvable(conn, job_id)
    later = conn.execute(
        text(
            "select min(j.id) from pipeline.jobs j where j.dmo_id = :d and j.data_domain = :domain"
            " and j.id > :j and j.promoted_at is not null"
        ),
        {"d": hold.dmo_id, "domain": hold.data_domain, "j": job_id},
    ).scalar()
    if later is not None:
        raise HoldError(
            f"the removal hold of job {job_id} is superseded by job {later}, a later run of DMO {hold.dmo_id}"
            " promoted since: its absences are counted from that run; dismiss this hold"
        )
    document = conn.execute(
        text("select document -> 'removal' from pipeline.job_configs where job_id = :j"), {"j": job_id}
    ).scalar()
    removal = Removal.model_validate(document or {})
    conn.execute(
        text(
            """
            insert into pipeline.listing_info_absence as a
                (listing_info_id, dmo_id, missed_runs, first_missed_job_id, last_missed_job_id)
            select li.id, li.dmo_id, 1, :j, :j
            from pipeline.removal_holds h
            join public.listing_info li on li.id = any(h.listing_info_ids) and li.dmo_id = h.dmo_id
            where h.job_id = :j and li.info_status = 'active'
            on conflict (listing_info_id) do update
            set missed_runs = a.missed_runs + 1, last_missed_job_id = excluded.last_missed_job_id
            """
        ),
        {"j": job_id},
    )
    removed = sweep(conn, job_id, hold.dmo_id, removal)
    return _resolve(conn, hold, "released", user, removed)


def dismiss_hold(conn: Connection, job_id: int, *, user: str) -> Hold:
    """Close a hold without removing anything (the file was wrong; a later run decides again)."""
    return _resolve(conn, _resolvable(conn, job_id), "dismissed", user, 0)
