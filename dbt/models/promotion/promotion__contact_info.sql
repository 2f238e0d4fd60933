{#
  Change log of public.contact_info: a new contact row for each listing_info whose contact hash (contact
  fields and opening hours) differs from its current row's; the listing_info is repointed to it
  (promotion__listing_info). A field an admin locked keeps its current value.
#}
-- depends_on: {{ ref('stg_pipeline__jobs') }}
{%- set contact_locks = var('contact_locks') %}
{{ config(
    unique_key=['job_id', 'id'],
    pre_hook=["{{ clear_unapplied_job() }}"],
    meta={'apply': {'order': 20, 'target': 'public.contact_info', 'mode': 'insert'}},
) }}

select
    r.job_id,
    r.new_contact_info_id as id,
    r.final_listing_info_id as listing_info_id,
    r.current_contact_info_id as before_contact_info_id,
    r.current_contact_hash as before_contact_hash,
    r.contact_hash,
    r.contact_name as name,
    {%- for field, column in contact_locks %}
    case when '{{ field }}' = any(r.info_locked_fields) then cur.{{ column }} else r.{{ column }} end as {{ column }},
    {%- endfor %}
    case when 'website' = any(r.info_locked_fields) then cur.website_host else r.website_host end as website_host,
    now() as created_at,
    now() as updated_at
from {{ ref('promotion__changes') }} as r
left join {{ ref('stg_public__contact_info') }} as cur on r.current_contact_info_id = cur.id
where r.new_contact_info_id is not null
