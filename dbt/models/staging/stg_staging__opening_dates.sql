select
    job_id,
    record_no,
    seq,
    start_date,
    end_date
from {{ source('staging', 'opening_dates') }}
