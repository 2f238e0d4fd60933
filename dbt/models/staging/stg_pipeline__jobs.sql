select
    id,
    dmo_id,
    data_domain,
    full_snapshot,
    promoted_at
from {{ source('pipeline', 'jobs') }}
