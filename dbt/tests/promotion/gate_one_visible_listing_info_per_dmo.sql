{#
  Quality gate of a promotion, run on its change logs before the apply (a failure skips the apply): once
  applied, no listing the job touches shows two visible listing_info of one DMO (the catalogue's, with the
  job's updates, and the job's new ones).
#}
{{ config(severity='error', store_failures=true) }}

with touched as (
    select distinct listing_id
    from {{ ref('promotion__listing_info') }}
    where job_id = {{ promotion_job() }}
),

after_apply as (
    select
        li.id,
        li.listing_id,
        li.dmo_id,
        coalesce(u.info_visible, li.info_visible) as info_visible
    from {{ ref('stg_public__listing_info') }} as li
    left join {{ ref('promotion__listing_info') }} as u
        on u.job_id = {{ promotion_job() }} and u.op = 'update' and li.id = u.id
    where li.listing_id in (select t.listing_id from touched as t)
    union all
    select
        n.id,
        n.listing_id,
        n.dmo_id,
        n.info_visible
    from {{ ref('promotion__listing_info') }} as n
    where n.job_id = {{ promotion_job() }} and n.op = 'insert'
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
