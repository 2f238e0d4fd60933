select
    job_id,
    record_no,
    address1,
    address2,
    city,
    state,
    zip,
    country,
    lat,
    lng,
    location_hash,
    address_key,
    house_number,
    city_key,
    region_key
from {{ source('staging', 'locations') }}
