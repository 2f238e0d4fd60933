select
    id,
    dmo_id,
    source_record_hash,
    listing_id,
    listing_info_id
from {{ source('pipeline', 'bridge_source_listing') }}
