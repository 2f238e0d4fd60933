select
    id,
    name,
    name_key,
    location_id,
    locked_fields,
    xmin::text as row_version
from {{ source('public', 'listings') }}
