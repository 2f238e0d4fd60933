{#
  Change log of pipeline.bridge_source_listing: one row per mapping (a DMO's record hash -> its
  listing_info), written when the hash is first mapped there, with the decision that mapped it (method,
  certainty, reason) and the job and file it came in. A record sent again, changed or not, adds no row: its
  sighting is its listing_info's (last_seen_at, last_job_id). So the bridge grows with the record hashes a
  DMO ever sent, not with its runs. A listing_info this job creates has no mapping yet; an unchanged record
  resolved by its source id or by this DMO's bridge has an unchanged hash, mapped when it came: neither is
  looked up.
#}
-- depends_on: {{ ref('stg_pipeline__jobs') }}
{{ config(
    unique_key=['job_id', 'job_file_id', 'source_record_hash'],
    pre_hook=["{{ clear_unapplied_job() }}"],
    meta={'apply': {
        'order': 70, 'target': 'pipeline.bridge_source_listing', 'mode': 'upsert',
        'conflict': ['job_file_id', 'source_record_hash'],
        'update_columns': ['listing_id', 'listing_info_id', 'match_method', 'reason', 'certainty_score', 'mapped_at'],
    }},
) }}

select
    r.file_id as job_file_id,
    r.job_id,
    r.dmo_id,
    r.record_hash as source_record_hash,
    r.source_id,
    r.final_listing_id as listing_id,
    r.final_listing_info_id as listing_info_id,
    coalesce(r.certainty, 1.0) as certainty_score,
    coalesce(r.match_method, 'new') as match_method,
    coalesce(r.match_reason, case coalesce(r.match_method, 'new')
        when 'source_id' then 'same source id as an existing listing_info of this DMO'
        when 'bridge' then 'same record hash as an earlier record of this DMO'
        when 'bridge_other_dmo' then 'same record hash as a record of another DMO'
        else 'no candidate: new listing'
    end) as reason,
    now() as mapped_at
from {{ ref('promotion__changes') }} as r
where
    r.is_new_listing_info
    or (
        (r.change_type <> 'unchanged' or coalesce(r.match_method, '') not in ('source_id', 'bridge'))
        and not exists (
            select 1 from {{ ref('stg_pipeline__bridge_source_listing') }} as b
            where
                b.dmo_id = r.dmo_id and b.source_record_hash = r.record_hash
                and b.listing_info_id = r.final_listing_info_id
        )
    )
