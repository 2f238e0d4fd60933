select
    id,
    contact_hash
from {{ source('public', 'contact_info') }}
