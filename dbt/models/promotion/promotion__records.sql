{#
  Every record of the job being promoted, with what promotion does with it: its change set
  (int_listing_changes), whether it writes anything, the ids of the rows it creates (drawn once, here, so
  that every change log of the job agrees on them), its outcome for the job's counts and, for a record that
  writes, the fields it writes (int_listing_details). Rebuilt for each job: the change logs downstream keep
  the history. The change logs read the records that write (none in an unchanged re-run) through a partial
  index of those alone.
#}
-- depends_on: {{ ref('stg_pipeline__jobs') }}
{{ config(
    materialized='table',
    unlogged=true,
    indexes=[
        {'columns': ['record_no'], 'unique': true},
        {'columns': ['final_listing_id']},
        {'columns': ['final_listing_info_id']},
    ],
    pre_hook=promotion_settings(),
    post_hook=[
        "create index on {{ this }} (record_no) where writes",
        "analyze {{ this }} (record_no, final_listing_id, final_listing_info_id, change_type, writes)",
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
),

writing as (
    -- The records that write something: changed or new ones, mappings the bridge may not hold yet, and the
    -- once-a-day last_seen_at refresh of unchanged ones, or a return after an automatic removal. An
    -- unchanged re-run has none. A record of a job older than what public shows (superseded) writes nothing.
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
),

ids as (
    select
        w.*,
        d.info_name,
        d.description,
        d.category,
        d.source_category,
        d.opening_hours_text,
        d.listing_name,
        d.name_key,
        d.address1,
        d.address2,
        d.city,
        d.state,
        d.zip,
        d.country,
        d.lat,
        d.lng,
        d.address_key,
        d.house_number,
        d.city_key,
        d.region_key,
        d.contact_name,
        d.email,
        d.local_phone,
        d.international_phone,
        d.website_url,
        d.facebook_url,
        d.instagram_url,
        d.youtube_url,
        d.tiktok_url,
        d.twitter_url,
        d.pinterest_url,
        d.tripadvisor_url,
        d.yelp_url,
        d.website_host,
        -- A new listing takes the id the images step reserved for it (its images are stored under that id).
        case
            when w.writes
                then coalesce(w.listing_id, w.reserved_listing_id, {{ next_id('public.listings') }})
            else w.listing_id
        end as final_listing_id,
        case
            when w.writes
                then coalesce(w.listing_info_id, {{ next_id('public.listing_info') }})
            else w.listing_info_id
        end as final_listing_info_id,
        case when w.writes and w.contact_changed then {{ next_id('public.contact_info') }} end as new_contact_info_id,
        w.writes and w.location_changed and not 'location' = any(w.listing_locked_fields) as new_location
    from writing as w
    -- (read for the records that write alone: a one-time filter per record, no lookup for the others)
    left join lateral (
        select *
        from {{ ref('int_listing_details') }} as x
        where w.writes and x.job_id = w.job_id and x.record_no = w.record_no  -- noqa: RF03
    ) as d on true
    -- (ids drawn in the order of the records: a volatile expression is evaluated after the sort)
    order by w.record_no
),

located as (
    select
        *,
        -- One new location per listing, from its first record in the job that changes it.
        case
            when
                new_location
                and row_number() over (partition by final_listing_id, new_location order by record_no) = 1
                then {{ next_id('public.locations') }}
        end as new_location_id,
        row_number() over (partition by writes, final_listing_id order by record_no) as nth_on_listing
    from ids
    order by record_no
)

-- The job's counts by matching outcome come from what promotion does with each record, not from the
-- matcher's decisions: whether its final listing existed before this job, and which of the job's records
-- came first to a listing the job creates. A record that writes nothing is unchanged on its listing_info:
-- its listing exists.
select
    r.*,
    case
        when r.unplaced then 'rejected'
        when not r.writes or l.id is not null or r.nth_on_listing > 1 then 'matched'
        when r.pending_review then 'review'
        else 'new'
    end as outcome
from located as r
left join lateral (
    select x.id
    from {{ ref('stg_public__listings') }} as x
    where r.writes and x.id = r.final_listing_id
) as l on true
