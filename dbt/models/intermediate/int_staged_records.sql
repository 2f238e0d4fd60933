{#
  One row per staged record: its four staged parts (listing_info, listings, locations, contact_info)
  joined by (job_id, record_no), and whether its location places it. The change set
  (int_listing_changes) reads its keys and hashes, int_listing_details the fields promotion writes.
#}
select
    li.job_id,
    li.record_no,
    li.dmo_id,
    li.file_id,
    li.staged_listing_info_id,
    li.source_id,
    li.record_hash,
    li.content_hash,
    li.staged_match_method,
    li.info_name,
    li.description,
    li.category,
    li.source_category,
    li.opening_hours_text,
    li.seen_at,
    li.certainty,
    li.match_reason,
    li.pending_review,
    li.images_hash,
    l.staged_listing_id,
    l.reserved_listing_id,
    l.listing_name,
    l.name_key,
    loc.address1,
    loc.address2,
    loc.city,
    loc.state,
    loc.zip,
    loc.country,
    loc.lat,
    loc.lng,
    loc.location_hash,
    loc.address_key,
    loc.house_number,
    loc.city_key,
    loc.region_key,
    -- coordinates, or a street address and a city: what places a listing on a map
    coalesce(
        (loc.lat is not null and loc.lng is not null)
        or (nullif(trim(loc.address1), '') is not null and nullif(trim(loc.city), '') is not null),
        false
    ) as located,
    ci.contact_name,
    ci.email,
    ci.local_phone,
    ci.international_phone,
    ci.website_url,
    ci.facebook_url,
    ci.instagram_url,
    ci.youtube_url,
    ci.tiktok_url,
    ci.twitter_url,
    ci.pinterest_url,
    ci.tripadvisor_url,
    ci.yelp_url,
    ci.contact_hash,
    ci.website_host
from {{ ref('stg_staging__listing_info') }} as li
inner join {{ ref('stg_staging__listings') }} as l
    on li.job_id = l.job_id and li.record_no = l.record_no
inner join {{ ref('stg_staging__locations') }} as loc
    on li.job_id = loc.job_id and li.record_no = loc.record_no
inner join {{ ref('stg_staging__contact_info') }} as ci
    on li.job_id = ci.job_id and li.record_no = ci.record_no
