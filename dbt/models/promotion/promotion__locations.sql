{#
  Change log of public.locations: a new location row for each listing whose location hash differs from its
  current location's (a location is never edited in place: the listing is repointed, in promotion__listings).
  Kept per job: the listing, the location it replaces (before) and the new one (after).
#}
-- depends_on: {{ ref('stg_pipeline__jobs') }}
{{ config(
    unique_key=['job_id', 'id'],
    pre_hook=["{{ clear_unapplied_job() }}"],
    meta={'apply': {'order': 10, 'target': 'public.locations', 'mode': 'insert'}},
) }}

select
    r.job_id,
    r.new_location_id as id,
    r.final_listing_id as listing_id,
    r.current_location_id as before_location_id,
    r.current_location_hash as before_location_hash,
    r.location_hash,
    r.address1,
    r.address2,
    r.city,
    r.state,
    r.zip,
    r.country,
    r.lat,
    r.lng,
    case
        when r.lat is not null and r.lng is not null
            then st_setsrid(st_makepoint(r.lng, r.lat), 4326)::geography
    end as geog,
    r.address_key,
    r.house_number,
    r.city_key,
    r.region_key,
    now() as created_at,
    now() as updated_at
from {{ ref('promotion__changes') }} as r
where r.new_location_id is not null
