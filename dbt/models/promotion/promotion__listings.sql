{#
  Change log of public.listings: the listings the job creates (op insert: a record waiting for review still
  creates its listing, hidden until a reviewer decides) and the existing ones it changes (op update): a new
  location (promotion__locations), or a new name from the listing's primary record (its first
  listing_info, so that two DMOs describing one place never flip it back and forth). A name or location an
  admin locked is kept. An update carries the row version it was computed from (row_version): the apply
  refuses to write over a row changed since.
#}
-- depends_on: {{ ref('stg_pipeline__jobs') }}
{{ config(
    unique_key=['job_id', 'id'],
    pre_hook=["{{ clear_unapplied_job() }}"],
    meta={'apply': {
        'order': 30, 'target': 'public.listings', 'mode': 'upsert',
        'update_columns': ['name', 'name_key', 'location_id', 'updated_at', 'last_job_id'],
    }},
) }}

with created as (
    -- Records of one batch that are one place share the reserved id of the first (listings.matching.batch).
    select distinct on (r.final_listing_id)
        r.job_id,
        r.final_listing_id as id,
        'insert' as op,
        cast(null as text) as row_version,
        cast(null as text) as before_name,
        cast(null as integer) as before_location_id,
        r.listing_name as name,  -- noqa: RF04
        r.name_key,
        r.new_location_id as location_id,
        'active' as listing_status,
        not r.pending_review as listing_visible,
        r.record_no
    from {{ ref('promotion__changes') }} as r
    where r.is_new_listing
    order by r.final_listing_id, r.record_no
),

changed as (
    -- The first record that brings a new location, else the primary record's new name.
    select distinct on (r.final_listing_id)
        r.job_id,
        r.final_listing_id as id,
        'update' as op,
        l.row_version,
        l.name as before_name,
        l.location_id as before_location_id,
        case
            when r.owns_listing and not 'name' = any(l.locked_fields) then r.listing_name else l.name
        end as name,  -- noqa: RF04
        case when r.owns_listing and not 'name' = any(l.locked_fields) then r.name_key else l.name_key end as name_key,
        coalesce(r.new_location_id, l.location_id) as location_id,
        cast(null as text) as listing_status,
        cast(null as boolean) as listing_visible,
        r.record_no
    from {{ ref('promotion__changes') }} as r
    inner join {{ ref('stg_public__listings') }} as l on r.final_listing_id = l.id
    where
        not r.is_new_listing
        and (
            r.new_location_id is not null
            or (r.owns_listing and r.listing_name is distinct from l.name and not 'name' = any(l.locked_fields))
        )
    order by r.final_listing_id, r.new_location_id is null, r.record_no
)

select
    *,
    now() as created_at,
    now() as updated_at,
    job_id as last_job_id
from (
    select * from created
    union all
    select * from changed
) as x
