"""The listing lifecycle: soft removal of what a DMO's source no longer sends.

After a full-snapshot run (not incremental, nothing lost while fetching) the DMO's active listing_info
rows that this run did not see either, and that the source has not sent for `removal.after_days` days or
in its last `removal.after_runs` full-snapshot runs, are hidden for that DMO (`info_visible=false`,
`info_status='removed'`, with the reason). Promotion keeps the count of runs in a row that missed each
listing_info in `pipeline.listing_info_absence`.
A removed listing_info that comes back in a later run is made visible again by promotion, unless an
admin hid it by hand (`visibility` lock). Nothing is ever deleted; listings are never touched here.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from listings.config.models import Removal


def sweep(conn: Connection, job_id: int, dmo_id: int, removal: Removal) -> int:
    """Soft-remove the DMO's listing_info not seen for too long; returns how many were removed."""
    if removal.after_days is None and removal.after_runs is None:
        return 0
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
    if not job.full_snapshot or not job.promoted or job.fetch_failed:
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
