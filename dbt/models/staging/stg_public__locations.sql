select
    id,
    location_hash
from {{ source('public', 'locations') }}
