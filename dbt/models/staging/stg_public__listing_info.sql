select
    id,
    listing_id,
    dmo_id,
    contact_info_id,
    content_hash,
    images_hash,
    locked_fields,
    info_status,
    last_seen_at,
    last_job_id
from {{ source('public', 'listing_info') }}
