select
    id,
    address1,
    address2,
    city,
    state,
    zip,
    country,
    lat,
    lng,
    location_hash
from {{ source('public', 'locations') }}
