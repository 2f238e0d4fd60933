select
    job_id,
    record_no,
    dmo_id,
    file_id,
    listing_info_id as staged_listing_info_id,
    source_id,
    record_hash,
    content_hash,
    match_method as staged_match_method,
    name as info_name,
    description,
    category,
    seen_at
from {{ source('staging', 'listing_info') }}
