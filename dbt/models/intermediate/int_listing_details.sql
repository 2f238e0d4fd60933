{#
  The fields promotion writes to public for each staged record, beside its change set
  (int_listing_changes): names, location, contact. The promote_job operation reads them only for the
  records that change something, by (job_id, record_no).
#}
select
    li.job_id,
    li.record_no,
    li.info_name,
    li.description,
    li.category,
    li.source_category,
    li.opening_hours_text,
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
    loc.address_key,
    loc.house_number,
    loc.city_key,
    loc.region_key,
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
    ci.website_host
from {{ ref('stg_staging__listing_info') }} as li
inner join {{ ref('stg_staging__listings') }} as l
    on li.job_id = l.job_id and li.record_no = l.record_no
inner join {{ ref('stg_staging__locations') }} as loc
    on li.job_id = loc.job_id and li.record_no = loc.record_no
inner join {{ ref('stg_staging__contact_info') }} as ci
    on li.job_id = ci.job_id and li.record_no = ci.record_no
