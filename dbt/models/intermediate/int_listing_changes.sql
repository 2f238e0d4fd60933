{#
  The change set of every staged, not yet promoted record: the public listing / listing_info it resolves
  to (deterministic matches only), and what changed by hash comparison.
  Resolution order: transform's hit (source id or bridge), then this DMO's latest bridge row for the
  record_hash, then any DMO's latest bridge row (a new listing_info on that listing).
  A record is superseded when a newer job of its DMO was promoted first (a job promoted out of order, or
  retried after a later run): it writes nothing, so that an older job never overwrites newer data.
#}
with unpromoted as (
    -- The jobs not promoted yet, and whether a newer full snapshot of the same DMO and domain was promoted:
    -- then the whole job is older than what public shows.
    select
        j.id as job_id,
        exists(
            select 1
            from {{ ref('stg_pipeline__jobs') }} as n
            where
                n.dmo_id = j.dmo_id and n.data_domain = j.data_domain and n.id > j.id
                and n.promoted_at is not null and n.full_snapshot
        ) as newer_snapshot_promoted
    from {{ ref('stg_pipeline__jobs') }} as j
    where j.promoted_at is null
),

staged as (
    -- Keys and hashes only: the written fields are in int_listing_details, read for changed records alone.
    select
        r.job_id,
        r.record_no,
        r.dmo_id,
        r.file_id,
        r.source_id,
        r.record_hash,
        r.content_hash,
        r.staged_match_method,
        r.staged_listing_info_id,
        r.seen_at,
        r.certainty,
        r.match_reason,
        r.pending_review,
        r.images_hash,
        j.newer_snapshot_promoted,
        r.staged_listing_id,
        r.reserved_listing_id,
        r.location_hash,
        r.located,
        r.contact_hash
    from {{ ref('int_staged_records') }} as r
    inner join unpromoted as j on r.job_id = j.job_id
),

resolved as (
    select
        s.*,
        coalesce(s.staged_listing_info_id, own.listing_info_id) as candidate_listing_info_id,
        coalesce(s.staged_listing_id, own.listing_id, other.listing_id) as candidate_listing_id,
        case
            when s.staged_match_method is not null then s.staged_match_method
            when own.listing_id is not null then 'bridge'
            when other.listing_id is not null then 'bridge_other_dmo'
        end as match_method
    from staged as s
    -- The bridge is read only for what transform did not resolve (a re-run of a known file resolves
    -- every record by source id: no lookup at all).
    left join lateral (
        select
            b.listing_id,
            b.listing_info_id
        from {{ ref('stg_pipeline__bridge_source_listing') }} as b
        where
            s.staged_listing_info_id is null
            and b.dmo_id = s.dmo_id and b.source_record_hash = s.record_hash and b.listing_id is not null
        order by b.id desc
        limit 1
    ) as own on true
    left join lateral (
        select b.listing_id
        from {{ ref('stg_pipeline__bridge_source_listing') }} as b
        where
            s.staged_listing_id is null and own.listing_id is null
            and b.source_record_hash = s.record_hash and b.listing_id is not null
        order by b.id desc
        limit 1
    ) as other on true
),

checked as (
    -- A listing_info is claimed by one record of a job at most (the first); any other claimant becomes new.
    -- (The public listing_info is read once, here, for the claim and for its current state.)
    select
        r.*,
        pli.id as public_listing_info_id,
        pli.listing_id as public_listing_id,
        pli.contact_info_id as public_contact_info_id,
        pli.content_hash as public_content_hash,
        pli.locked_fields as public_locked_fields,
        pli.info_status as public_info_status,
        pli.last_seen_at as public_last_seen_at,
        pli.images_hash as public_images_hash,
        pli.last_job_id as public_last_job_id,
        case
            when
                pli.id is not null
                and row_number() over (partition by r.job_id, pli.id order by r.record_no) = 1
                then pli.id
        end as listing_info_id
    from resolved as r
    left join {{ ref('stg_public__listing_info') }} as pli
        on r.candidate_listing_info_id = pli.id and r.dmo_id = pli.dmo_id
),

claimed as (
    -- The public listing_info's state, for the record that claims it (null for a new listing_info).
    select
        c.*,
        case when c.listing_info_id is not null then c.public_listing_id end as info_listing_id,
        case when c.listing_info_id is not null then c.public_contact_info_id end as current_contact_info_id,
        case when c.listing_info_id is not null then c.public_content_hash end as current_content_hash,
        case when c.listing_info_id is not null then c.public_info_status end as current_info_status,
        case when c.listing_info_id is not null then c.public_last_seen_at end as current_last_seen_at,
        case when c.listing_info_id is not null then c.public_images_hash end as current_images_hash,
        case when c.listing_info_id is not null then c.public_last_job_id end as current_last_job_id,
        case when c.listing_info_id is not null then c.public_locked_fields end as claimed_locked_fields
    from checked as c
),

current_state as (
    select
        c.job_id,
        c.record_no,
        c.dmo_id,
        c.file_id,
        c.source_id,
        c.record_hash,
        c.content_hash,
        c.location_hash,
        c.located,
        c.contact_hash,
        c.images_hash,
        c.seen_at,
        c.staged_match_method,
        c.staged_listing_id,
        c.staged_listing_info_id,
        c.reserved_listing_id,
        c.certainty,
        c.match_reason,
        c.pending_review,
        c.candidate_listing_info_id,
        c.candidate_listing_id,
        c.match_method,
        c.public_listing_info_id,
        c.listing_info_id,
        coalesce(c.info_listing_id, pl.id) as listing_id,
        pl.name as current_listing_name,
        primary_info.id as primary_listing_info_id,
        pl.location_id as current_location_id,
        cur_loc.location_hash as current_location_hash,
        c.current_contact_info_id,
        cur_ci.contact_hash as current_contact_hash,
        c.current_content_hash,
        c.current_info_status,
        c.current_last_seen_at,
        c.current_images_hash,
        c.newer_snapshot_promoted or coalesce(c.current_last_job_id > c.job_id, false) as superseded,
        -- fields an admin set by hand: promotion keeps them (listings.catalogue.edits)
        coalesce(pl.locked_fields, '{}') as listing_locked_fields,
        coalesce(c.claimed_locked_fields, '{}') as info_locked_fields
    from claimed as c
    left join {{ ref('stg_public__listings') }} as pl on coalesce(c.info_listing_id, c.candidate_listing_id) = pl.id
    left join {{ ref('stg_public__locations') }} as cur_loc on pl.location_id = cur_loc.id
    left join {{ ref('stg_public__contact_info') }} as cur_ci on c.current_contact_info_id = cur_ci.id
    left join lateral (
        -- The listing's first listing_info owns its canonical name and location, so that two DMOs
        -- describing one place never flip it back and forth.
        select min(o.id) as id
        from {{ ref('stg_public__listing_info') }} as o
        where o.listing_id = pl.id
    ) as primary_info on true
),

flagged as (
    select
        *,
        listing_info_id is not null and listing_info_id = primary_listing_info_id as owns_listing,
        -- (a record without a location never replaces its listing's location)
        listing_id is null or current_location_id is null
        or (
            located and listing_info_id is not null and listing_info_id = primary_listing_info_id
            and current_location_hash is distinct from location_hash
        ) as location_changed
    from current_state
)

select
    *,
    listing_id is null as is_new_listing,
    listing_info_id is null as is_new_listing_info,
    (current_contact_hash is distinct from contact_hash) as contact_changed,
    (current_content_hash is distinct from content_hash) as content_changed,
    (current_images_hash is distinct from images_hash) as images_changed,
    case
        when superseded then 'unchanged'
        when listing_info_id is null then 'new'
        when
            location_changed
            or (current_contact_hash is distinct from contact_hash)
            or (current_content_hash is distinct from content_hash)
            or (current_images_hash is distinct from images_hash)
            then 'updated'
        else 'unchanged'
    end as change_type
from flagged
