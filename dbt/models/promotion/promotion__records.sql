{#
  Every record of the job being promoted, with what promotion does with it: its change set
  (int_listing_changes), whether it writes anything (`writes`) and whether it is rejected for want of a
  location (`unplaced`). The records that write, with their fields and the ids of the rows they create, are
  promotion__changes: an unchanged re-run writes none, and costs this table alone. Rebuilt for each job: the
  change logs downstream keep the history. (Read as a whole but for the rejected records, none or a few,
  whose errors the apply writes: a partial index finds them.)
#}
-- depends_on: {{ ref('stg_pipeline__jobs') }}
{{ config(
    materialized='table',
    unlogged=true,
    pre_hook=promotion_settings(),
    post_hook=[
        "create index on {{ this }} (record_no) where unplaced",
        "analyze {{ this }} (record_no, writes, unplaced)",
    ],
) }}

with seen as (
    select *
    from {{ ref('int_listing_changes') }}
    where job_id = {{ promotion_job() }}
),

placed as (
    -- A record without a location (validation's location_present: transform lets it through, so that it can
    -- join a listing that has one) never starts a listing: one that would, and whose batch holds no located
    -- record of the same new place, is rejected with a per-record error (the apply writes it).
    select
        *,
        is_new_listing and not superseded and not bool_or(located) over (
            partition by is_new_listing and not superseded, coalesce(reserved_listing_id, -record_no)
        ) as unplaced
    from seen
)

-- The records that write something: changed or new ones, mappings the bridge may not hold yet, and the
-- once-a-day last_seen_at refresh of unchanged ones, or a return after an automatic removal. An unchanged
-- re-run has none. A record of a job older than what public shows (superseded) writes nothing.
select
    *,
    not superseded and not unplaced
    and (
        change_type <> 'unchanged'
        or coalesce(match_method, '') not in ('source_id', 'bridge')
        or current_info_status = 'removed'
        or current_last_seen_at is null
        or current_last_seen_at < date_trunc('day', seen_at)
    ) as writes
from placed
