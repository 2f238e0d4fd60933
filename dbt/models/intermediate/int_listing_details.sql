{#
  The fields promotion writes to public for each staged record (from int_staged_records), beside its
  change set (int_listing_changes): names, location, contact. promotion__changes reads them only for the
  records that write something, by (job_id, record_no).
#}
select
    job_id,
    record_no,
    info_name,
    description,
    category,
    source_category,
    opening_hours_text,
    listing_name,
    name_key,
    address1,
    address2,
    city,
    state,
    zip,
    country,
    lat,
    lng,
    address_key,
    house_number,
    city_key,
    region_key,
    contact_name,
    email,
    local_phone,
    international_phone,
    website_url,
    facebook_url,
    instagram_url,
    youtube_url,
    tiktok_url,
    twitter_url,
    pinterest_url,
    tripadvisor_url,
    yelp_url,
    website_host
from {{ ref('int_staged_records') }}
