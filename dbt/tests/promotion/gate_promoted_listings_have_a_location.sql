{#
  Quality gate of a promotion, run on its change logs before the apply (a failure skips the apply: nothing
  of the job reaches public; the rows are kept in the dbt_test__audit schema): every listing the job creates
  or repoints has a location that places it, coordinates or a street address and a city, whether the job
  writes that location or the catalogue holds it.
#}
{{ config(severity='error', store_failures=true) }}

select
    l.job_id,
    l.id as listing_id,
    l.op,
    l.location_id,
    l.name
from {{ ref('promotion__listings') }} as l
left join {{ ref('promotion__locations') }} as n on l.job_id = n.job_id and l.location_id = n.id
left join {{ ref('stg_public__locations') }} as cur on n.id is null and l.location_id = cur.id
where
    l.job_id = {{ promotion_job() }}
    and not coalesce(
        (coalesce(n.lat, cur.lat) is not null and coalesce(n.lng, cur.lng) is not null)
        or (
            nullif(trim(coalesce(n.address1, cur.address1)), '') is not null
            and nullif(trim(coalesce(n.city, cur.city)), '') is not null
        ),
        false
    )
