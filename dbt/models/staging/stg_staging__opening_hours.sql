select
    job_id,
    record_no,
    seq,
    hours_seq,
    day_id,
    open_time,
    close_time
from {{ source('staging', 'opening_hours') }}
