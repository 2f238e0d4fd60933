select
    id,
    listing_id,
    listing_info_id,
    action,
    field,
    old_value
from {{ source('pipeline', 'listing_edits') }}
