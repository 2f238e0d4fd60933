{#
  Change log of public.listing_images: the new image list of each listing_info whose image list (content
  hash) or what the images step made of it (images hash) changed. The apply replaces the listing_info's
  images with these (promotion__listing_info.replaces_images). An image that failed is not shown; a source
  image gone is gone.
#}
-- depends_on: {{ ref('stg_pipeline__jobs') }}
{{ config(
    unique_key=['job_id', 'listing_info_id', 'rank'],
    pre_hook=["{{ clear_unapplied_job() }}"],
    meta={'apply': {
        'order': 50, 'target': 'public.listing_images', 'mode': 'replace',
        'replaces': {'column': 'listing_info_id', 'parents': 'promotion__listing_info', 'flag': 'replaces_images'},
    }},
) }}

select
    r.job_id,
    r.final_listing_info_id as listing_info_id,
    si.rank,
    coalesce(si.canonical_image_url, si.image) as image,
    si.image as source_url,
    si.renditions,
    si.width,
    si.height,
    si.phash,
    now() as created_at,
    now() as updated_at
from {{ ref('promotion__changes') }} as r
inner join {{ ref('stg_staging__listing_images') }} as si
    on r.job_id = si.job_id and r.record_no = si.record_no
where (r.content_changed or r.images_changed) and si.status is distinct from 'failed'
