select
    id,
    name,
    location_id,
    locked_fields
from {{ source('public', 'listings') }}
