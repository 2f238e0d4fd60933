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
    indexes=[],
    pre_hook=promotion_settings(),
    post_hook=["create index on {{ this }} (record_no) where unplaced"],
) }}

with seen as (
    -- The change set's columns promotion reads (int_listing_changes has the rest: how the record was
    -- resolved, and the current values its hashes were compared with). Each record is read by the steps
    -- after this one, the records of an unchanged re-run too: a narrow row is cheaper for all of them.
    select
        job_id,
        record_no,
        dmo_id,
        file_id,
        source_id,
        record_hash,
        content_hash,
        location_hash,
        located,
        contact_hash,
        images_hash,
        seen_at,
        reserved_listing_id,
        certainty,
        match_reason,
        pending_review,
        match_method,
        listing_info_id,
        listing_id,
        current_location_id,
        current_location_hash,
        current_contact_info_id,
        current_contact_hash,
        current_info_status,
        current_last_seen_at,
        superseded,
        listing_locked_fields,
        info_locked_fields,
        owns_listing,
        location_changed,
        is_new_listing,
        is_new_listing_info,
        contact_changed,
        content_changed,
        images_changed,
        change_type
    from {{ ref('int_listing_changes') }}
    where job_id = {{ promotion_job() }}
),

placed as (
    -- A record without a location (validation's location_present: transform lets it through, so that it can
    -- join a listing that has one) never starts a listing: one that would, and whose batch holds no located
    -- record of the same new place, is rejected with a per-record error (the apply writes it). Only the
    -- records that start a listing are compared (sorted by place): none in an unchanged re-run.
    select
        *,
        false as unplaced
    from seen
    where not (is_new_listing and not superseded)
    union all
    select
        *,
        not bool_or(located) over (partition by coalesce(reserved_listing_id, -record_no)) as unplaced
    from seen
    where is_new_listing and not superseded
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
