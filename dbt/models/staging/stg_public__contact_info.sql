select
    id,
    contact_hash,
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
from {{ source('public', 'contact_info') }}
