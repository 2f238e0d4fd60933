{#
  Change log of public.opening_dates: the new opening periods of each listing_info whose contact hash (which
  covers the opening hours) changed, unless an admin locked its opening hours. The apply replaces the
  listing_info's periods with these (promotion__listing_info.replaces_hours); their hours are
  promotion__opening_hours.
#}
-- depends_on: {{ ref('stg_pipeline__jobs') }}
{{ config(
    unique_key=['job_id', 'id'],
    pre_hook=["{{ clear_unapplied_job() }}"],
    meta={'apply': {
        'order': 60, 'target': 'public.opening_dates', 'mode': 'replace',
        'replaces': {'column': 'listing_info_id', 'parents': 'promotion__listing_info', 'flag': 'replaces_hours'},
    }},
) }}

select
    r.job_id,
    {{ next_id('public.opening_dates') }} as id,
    r.final_listing_info_id as listing_info_id,
    sd.record_no,
    sd.seq,
    sd.start_date,
    sd.end_date,
    now() as created_at,
    now() as updated_at
from {{ ref('promotion__changes') }} as r
inner join {{ ref('stg_staging__opening_dates') }} as sd
    on r.job_id = sd.job_id and r.record_no = sd.record_no
where r.contact_changed and not 'opening_hours' = any(r.info_locked_fields)
-- (ids drawn in the order of the records: a volatile expression is evaluated after the sort)
order by r.record_no, sd.seq
