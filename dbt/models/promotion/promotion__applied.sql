{#
  The promotions applied: one row per job, written by the apply (the promotion_apply materialization,
  macros/promotion_apply.sql) in the transaction that writes the job's change logs to the catalogue.
#}
-- depends_on: {{ ref('promotion__records') }}
-- depends_on: {{ ref('promotion__locations') }}
-- depends_on: {{ ref('promotion__contact_info') }}
-- depends_on: {{ ref('promotion__listings') }}
-- depends_on: {{ ref('promotion__listing_info') }}
-- depends_on: {{ ref('promotion__images') }}
-- depends_on: {{ ref('promotion__opening_dates') }}
-- depends_on: {{ ref('promotion__opening_hours') }}
-- depends_on: {{ ref('promotion__bridge') }}
-- depends_on: {{ ref('promotion__review_items') }}
{{ config(materialized='promotion_apply') }}

select
    cast({{ promotion_job() }} as bigint) as job_id,
    now() as applied_at,
    count(*) filter (where outcome = 'new') as records_new,
    count(*) filter (where outcome = 'review') as records_review,
    count(*) filter (where outcome = 'matched') as records_matched,
    count(*) filter (where change_type = 'updated' and outcome <> 'rejected') as records_updated,
    count(*) filter (where change_type = 'unchanged' and outcome <> 'rejected') as records_unchanged,
    count(*) filter (where outcome = 'rejected') as records_rejected
from {{ ref('promotion__records') }}
