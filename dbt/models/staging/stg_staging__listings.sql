select
    job_id,
    record_no,
    listing_id as staged_listing_id,
    reserved_listing_id,
    name as listing_name,
    name_key
from {{ source('staging', 'listings') }}
