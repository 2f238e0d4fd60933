{#
  Change log of the review queue (pipeline.review_items): what the job's changes leave for an admin.
  - manual_edit_conflict: a new source value for a field an admin locked (both values, once per value; the
    value the source had when the admin edited the field is not news, nor one the admin already dismissed).
  - source_conflict: one DMO listing one place twice; its newer listing_info waits hidden
    (promotion__listing_info).
#}
-- depends_on: {{ ref('stg_pipeline__jobs') }}
{%- set info_locks = var('info_locks') %}
{%- set contact_conflicts = [] %}
{%- for field, column in var('contact_locks') if column != 'local_phone' %}
{%- do contact_conflicts.append((field, 'ci.' ~ column, column)) %}
{%- endfor %}
{{ config(
    unique_key=['job_id', 'item_type', 'listing_info_id', 'level', 'field'],
    pre_hook=["{{ clear_unapplied_job() }}"],
    meta={'apply': {'order': 80, 'target': 'pipeline.review_items', 'mode': 'insert'}},
) }}

with locked as (
    select *
    from {{ ref('promotion__changes') }}
    where change_type = 'updated'
        and (cardinality(info_locked_fields) > 0 or cardinality(listing_locked_fields) > 0)
),

conflicts as (
    {%- for field, column, source in info_locks + contact_conflicts %}
    select
        c.dmo_id, c.job_id, c.final_listing_id as listing_id, c.final_listing_info_id as listing_info_id,
        c.record_hash, c.record_no, '{{ field }}' as field, 'listing_info' as level,
        to_jsonb({{ column }}) as manual_value, to_jsonb(c.{{ source }}) as source_value
    from locked as c
    inner join {{ ref('stg_public__listing_info') }} as li on c.final_listing_info_id = li.id
    left join {{ ref('stg_public__contact_info') }} as ci on li.contact_info_id = ci.id
    where '{{ field }}' = any(li.locked_fields)
        and {{ column }} is distinct from c.{{ source }}
    union all
    {%- endfor %}
    select
        c.dmo_id, c.job_id, c.final_listing_id, c.final_listing_info_id, c.record_hash, c.record_no,
        'name', 'listing', to_jsonb(l.name), to_jsonb(c.listing_name)
    from locked as c
    inner join {{ ref('stg_public__listings') }} as l on c.final_listing_id = l.id
    where c.owns_listing and 'name' = any(l.locked_fields)
        and c.listing_name is distinct from l.name
    union all
    select
        c.dmo_id, c.job_id, c.final_listing_id, c.final_listing_info_id, c.record_hash, c.record_no,
        'location', 'listing',
        jsonb_build_object('address1', loc.address1, 'address2', loc.address2, 'city', loc.city,
            'state', loc.state, 'zip', loc.zip, 'country', loc.country, 'lat', loc.lat::float8, 'lng', loc.lng::float8),
        jsonb_build_object('address1', c.address1, 'address2', c.address2, 'city', c.city,
            'state', c.state, 'zip', c.zip, 'country', c.country, 'lat', c.lat::float8, 'lng', c.lng::float8)
    from locked as c
    inner join {{ ref('stg_public__listings') }} as l on c.final_listing_id = l.id
    left join {{ ref('stg_public__locations') }} as loc on l.location_id = loc.id
    where c.owns_listing and c.location_changed and 'location' = any(l.locked_fields)
),

queued as (
    select x.*
    from conflicts as x
    where not exists (  -- the value the source had when the admin edited the field: not news
        select 1 from {{ ref('stg_pipeline__listing_edits') }} as e
        where e.listing_id = x.listing_id and e.action = 'edit' and e.field = x.field
            and (x.level = 'listing' and e.listing_info_id is null or e.listing_info_id = x.listing_info_id)
            and e.old_value = x.source_value
    )
    and not exists (  -- already queued (or dismissed: the admin kept their value against this one)
        select 1 from {{ ref('stg_pipeline__review_items') }} as r
        where r.item_type = 'manual_edit_conflict' and r.listing_id = x.listing_id
            and (x.level = 'listing' or r.listing_info_id = x.listing_info_id)
            and r.payload ->> 'level' = x.level and r.payload ->> 'field' = x.field
            and r.payload -> 'source_value' = x.source_value
    )
)

select
    job_id,
    'manual_edit_conflict' as item_type,
    dmo_id,
    listing_id,
    listing_info_id,
    level,
    field,
    record_hash as source_record_hash,
    jsonb_build_object('field', field, 'level', level, 'manual_value', manual_value,
                       'source_value', source_value, 'record_no', record_no) as payload
from queued
union all
select
    i.job_id,
    'source_conflict',
    i.dmo_id,
    i.listing_id,
    i.id,
    'listing_info',
    'visibility',
    r.record_hash,
    jsonb_build_object('record_no', i.record_no, 'kept_listing_info_id', i.kept_listing_info_id,
                       'reason', 'two records of one DMO matched one listing')
from {{ ref('promotion__listing_info') }} as i
inner join {{ ref('promotion__changes') }} as r on i.record_no = r.record_no
where i.job_id = {{ promotion_job() }} and i.kept_listing_info_id is not null
