{#
  Change log of public.opening_hours: the hours of each new opening period (promotion__opening_dates). The
  apply replaces the hours of the periods it replaces.
#}
-- depends_on: {{ ref('stg_pipeline__jobs') }}
{{ config(
    unique_key=['job_id', 'opening_date_id', 'hours_seq'],
    pre_hook=["{{ clear_unapplied_job() }}"],
    meta={'apply': {
        'order': 65, 'target': 'public.opening_hours', 'mode': 'replace',
        'replaces': {
            'column': 'opening_date_id', 'via': ['public.opening_dates', 'listing_info_id'],
            'parents': 'promotion__listing_info', 'flag': 'replaces_hours',
        },
    }},
) }}

select
    d.job_id,
    d.id as opening_date_id,
    sh.hours_seq,
    sh.day_id,
    sh.open_time,
    sh.close_time,
    now() as created_at,
    now() as updated_at
from {{ ref('promotion__opening_dates') }} as d
inner join {{ ref('stg_staging__opening_hours') }} as sh
    on d.job_id = sh.job_id and d.record_no = sh.record_no and d.seq = sh.seq
where d.job_id = {{ promotion_job() }}
