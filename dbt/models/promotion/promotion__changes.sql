{#
  The records of the job that write something (promotion__records.writes), with what the change logs read
  of their change set, the fields they write (int_listing_details) and the ids of the rows they create:
  drawn once, here, in record order, so that every change log of the job agrees on them. Also each
  record's outcome for the job's counts. Empty in an unchanged re-run. Rebuilt for each job: the change
  logs downstream keep the history.
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
    post_hook=["analyze {{ this }} (record_no, final_listing_id, final_listing_info_id, change_type)"],
) }}

with ids as (
    select
        w.job_id,
        w.record_no,
        w.dmo_id,
        w.file_id,
        w.source_id,
        w.record_hash,
        w.seen_at,
        w.match_method,
        w.certainty,
        w.match_reason,
        w.pending_review,
        w.listing_id,
        w.listing_info_id,
        w.owns_listing,
        w.change_type,
        w.is_new_listing,
        w.is_new_listing_info,
        w.content_hash,
        w.content_changed,
        w.images_hash,
        w.images_changed,
        w.contact_hash,
        w.current_contact_info_id,
        w.current_contact_hash,
        w.contact_changed,
        w.location_hash,
        w.current_location_id,
        w.current_location_hash,
        w.location_changed,
        w.listing_locked_fields,
        w.info_locked_fields,
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
        coalesce(w.listing_id, w.reserved_listing_id, {{ next_id('public.listings') }}) as final_listing_id,
        coalesce(w.listing_info_id, {{ next_id('public.listing_info') }}) as final_listing_info_id,
        case when w.contact_changed then {{ next_id('public.contact_info') }} end as new_contact_info_id,
        w.location_changed and not 'location' = any(w.listing_locked_fields) as new_location
    from {{ ref('promotion__records') }} as w
    left join {{ ref('int_listing_details') }} as d on w.job_id = d.job_id and w.record_no = d.record_no
    where w.writes
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
        row_number() over (partition by final_listing_id order by record_no) as nth_on_listing
    from ids
    order by record_no
)

-- The job's counts by matching outcome come from what promotion does with each record, not from the
-- matcher's decisions: whether its final listing existed before this job, and which of the job's records
-- came first to a listing the job creates. (A record that writes nothing is matched: its listing exists.)
select
    r.*,
    case
        when l.id is not null or r.nth_on_listing > 1 then 'matched'
        when r.pending_review then 'review'
        else 'new'
    end as outcome
from located as r
left join {{ ref('stg_public__listings') }} as l on r.final_listing_id = l.id
