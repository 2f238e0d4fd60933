{#
  Change log of public.listing_info, one DMO's description of a listing: the listing_info the job creates
  (op insert) and the ones it changes (op update: a hash differs, or a return after an automatic removal;
  an unchanged record's sighting, its last_seen_at, is the apply's bookkeeping, not a change). A field an admin locked keeps its value (the
  new source value is queued, promotion__review_items). One DMO listing one place twice: the DMO's first
  listing_info stays visible, a newer one waits hidden in the review queue as a source conflict.
  replaces_images / replaces_hours: the listing_info's images / opening hours are replaced
  (promotion__images, promotion__opening_dates and promotion__opening_hours hold the new ones).
  An update carries the row version it was computed from: the apply refuses to write over a row changed since.
#}
-- depends_on: {{ ref('stg_pipeline__jobs') }}
{%- set info_locks = var('info_locks') %}
{{ config(
    unique_key=['job_id', 'id'],
    pre_hook=["{{ clear_unapplied_job() }}"],
    meta={'apply': {
        'order': 40, 'target': 'public.listing_info', 'mode': 'upsert',
        'update_columns': [
            'name', 'description', 'category', 'opening_hours_text', 'source_category', 'info_visible',
            'info_status', 'status_reason', 'content_hash', 'images_hash', 'contact_info_id',
            'external_source_id', 'updated_at', 'last_seen_at', 'last_job_id',
        ],
    }},
) }}

with created as (
    select *
    from {{ ref('promotion__changes') }}
    where is_new_listing_info
),

first_visible as (
    -- Each listing's first visible listing_info per DMO, among the catalogue's and this job's new ones
    -- (set-based, for the listings of the new records: a lookup per record read the DMO's whole range).
    select x.listing_id, x.dmo_id, min(x.id) as id
    from (
        select o.listing_id, o.dmo_id, o.id
        from {{ ref('stg_public__listing_info') }} as o
        where o.info_visible
            and o.listing_id in (select n.final_listing_id from created as n where not n.pending_review)
        union all
        select n.final_listing_id, n.dmo_id, n.final_listing_info_id
        from created as n
        where not n.pending_review
    ) as x
    group by x.listing_id, x.dmo_id
),

inserts as (
    select
        c.job_id,
        c.final_listing_info_id as id,
        'insert' as op,
        cast(null as text) as row_version,
        cast(null as text) as before_content_hash,
        c.final_listing_id as listing_id,
        c.dmo_id,
        c.new_contact_info_id as contact_info_id,
        c.info_name as name,
        c.description,
        c.category,
        c.opening_hours_text,
        c.source_category,
        c.source_id as external_source_id,
        not c.pending_review and f.id is null as info_visible,
        case when c.pending_review or f.id is not null then 'pending' else 'active' end as info_status,
        case when f.id is not null then 'this DMO already lists the place as listing_info ' || f.id end
            as status_reason,
        case when f.id is not null then now() end as status_changed_at,
        f.id as kept_listing_info_id,
        c.content_hash,
        c.images_hash,
        c.seen_at as last_seen_at,
        now() as created_at,
        now() as updated_at,
        true as replaces_images,
        true as replaces_hours,
        c.record_no
    from created as c
    left join first_visible as f
        on c.final_listing_id = f.listing_id and c.dmo_id = f.dmo_id and not c.pending_review
        and f.id <> c.final_listing_info_id
),

updates as (
    select
        r.job_id,
        r.final_listing_info_id as id,
        'update' as op,
        li.row_version,
        li.content_hash as before_content_hash,
        li.listing_id,
        li.dmo_id,
        coalesce(r.new_contact_info_id, li.contact_info_id) as contact_info_id,
        {%- for field, column, source in info_locks %}
        case when '{{ field }}' = any(li.locked_fields) then {{ column }} else r.{{ source }} end
            as {{ column[3:] }},
        {%- endfor %}
        r.source_category,
        coalesce(r.source_id, li.external_source_id) as external_source_id,
        -- seen again after an automatic removal: visible again (an admin's hide is locked: it stays)
        case when li.info_status = 'removed' and not 'visibility' = any(li.locked_fields)
            then true else li.info_visible end as info_visible,
        case when li.info_status = 'removed' and not 'visibility' = any(li.locked_fields)
            then 'active' else li.info_status end as info_status,
        case when li.info_status = 'removed' and not 'visibility' = any(li.locked_fields)
            then null else li.status_reason end as status_reason,
        cast(null as timestamptz) as status_changed_at,
        cast(null as integer) as kept_listing_info_id,
        r.content_hash,
        r.images_hash,
        r.seen_at as last_seen_at,
        cast(null as timestamptz) as created_at,
        case when r.change_type = 'updated' then now() else li.updated_at end as updated_at,
        r.content_changed or r.images_changed as replaces_images,
        r.contact_changed and not 'opening_hours' = any(r.info_locked_fields) as replaces_hours,
        r.record_no
    from {{ ref('promotion__changes') }} as r
    inner join {{ ref('stg_public__listing_info') }} as li on r.final_listing_info_id = li.id
    where not r.is_new_listing_info
        -- changed, or back after an automatic removal (an unchanged record's sighting is no change: the
        -- apply refreshes its last_seen_at)
        and (r.change_type <> 'unchanged' or li.info_status = 'removed')
)

select *, job_id as last_job_id from inserts
union all
select *, job_id as last_job_id from updates
