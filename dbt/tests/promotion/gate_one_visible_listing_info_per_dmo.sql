{#
  Quality gate of a promotion, run on its change logs before the apply (a failure skips the apply): once
  applied, no listing the job touches shows two visible listing_info of one DMO (the catalogue's, with the
  job's updates, and the job's new ones). A job already applied has nothing to apply: its log rows are
  history, already in the catalogue.
#}
{{ config(severity='error', store_failures=true) }}

with job_log as (
    select l.*
    from {{ ref('promotion__listing_info') }} as l
    where
        l.job_id = {{ promotion_job() }}
        and not exists (
            select 1 from {{ ref('stg_pipeline__jobs') }} as j
            where j.id = l.job_id and j.promoted_at is not null
        )
),

after_apply as (
    select
        li.id,
        li.listing_id,
        li.dmo_id,
        coalesce(u.info_visible, li.info_visible) as info_visible
    from {{ ref('stg_public__listing_info') }} as li
    left join job_log as u on u.op = 'update' and li.id = u.id
    where li.listing_id in (select t.listing_id from job_log as t)
    union all
    select
        n.id,
        n.listing_id,
        n.dmo_id,
        n.info_visible
    from job_log as n
    where n.op = 'insert'
)

select
    {{ promotion_job() }} as job_id,
    listing_id,
    dmo_id,
    count(*) as visible_listing_info
from after_apply
where info_visible
group by listing_id, dmo_id
having count(*) > 1
