select
    job_id,
    record_no,
    name as contact_name,
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
    contact_hash,
    website_host
from {{ source('staging', 'contact_info') }}
