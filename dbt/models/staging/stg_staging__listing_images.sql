select
    job_id,
    record_no,
    rank,
    image,
    canonical_image_url,
    status,
    renditions,
    phash,
    width,
    height
from {{ source('staging', 'listing_images') }}
