select
    id,
    item_type,
    status,
    listing_id,
    listing_info_id,
    payload
from {{ source('pipeline', 'review_items') }}
