{#
  The promotions applied: one row per job, written by the apply (the promotion_apply materialization,
  macros/promotion_apply.sql) in the transaction that writes the job's change logs to the catalogue, with
  the job's counts (its pipeline.job_results take them). Every record counts once by matching outcome
  (matched + review + new + rejected = the job's records; a record that writes nothing is matched: its
  listing exists) and once by what it did to this DMO's listing_info, by hash comparison: updated or
  unchanged (both also matched), or a new listing_info (the rest).
#}
-- depends_on: {{ ref('promotion__records') }}
-- depends_on: {{ ref('promotion__changes') }}
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
from (
    select
        c.outcome,
        c.change_type
    from {{ ref('promotion__changes') }} as c
    union all
    select
        case when r.unplaced then 'rejected' else 'matched' end as outcome,
        r.change_type
    from {{ ref('promotion__records') }} as r
    where not r.writes
) as x
