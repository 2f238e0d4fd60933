{#
  Apply one job's change set (int_listing_changes) to the public schema, in ONE transaction:
  new listings / listing_info, new locations and contact_info rows when their hash changed (the
  listing / listing_info is repointed), listing_info fields, images, opening hours, last_seen_at and
  last_job_id (at most daily for an unchanged record), new bridge mappings (one row per record hash and
  listing_info, never one per run), absences for the removal sweep, and the job's counts (by matching
  outcome: matched, review, new; and by change: updated, unchanged). Fields an
  admin locked are kept, and a new source value for one is queued as a manual_edit_conflict. Quality gates
  at the end raise, and the whole promotion rolls back.
  A job is promoted once: `pipeline.jobs.promoted_at` is set in the same transaction, and a re-run finds
  no unpromoted rows and changes nothing. A promotion whose client dies is rolled back by the server.
  Promotions are serialised by an advisory lock, so ids and bridge lookups never race.
  Its statements read rows written earlier in the same transaction, which the planner's statistics do not
  know (a new DMO's first import: the DMO unknown, the tables maybe empty): the temp tables are analysed
  once filled, the public tables it grew are analysed in the transaction (refresh_statistics), and the
  statements over a whole DMO are set-based (no per-row scans), so a first import stays linear in its
  batch (tests/integration/test_promotion_plans.py reads every statement's plan and rows).
  Usage: dbt run-operation promote_job --args '{job_id: 42}'
#}
{% macro promote_job(job_id) %}
{% do run_query(promote_job_sql(job_id)) %}
{{ log("promoted job " ~ job_id, info=True) }}
{% endmacro %}

{#
  The SQL of promote_job, one transaction (begin ... commit): also rendered by the tests
  (`dbt compile --inline "{{ promote_job_sql(42) }}"`), which run it statement by statement and read the
  planner's plans.
#}
{% macro promote_job_sql(job_id) %}
{%- set job_id = job_id | int -%}
{#- Lockable fields (listings.fields, written into dbt_project.yml's vars): (lock name, public column,
    change-set column) of listing_info, (lock name, column) of contact_info. -#}
{%- set info_locks = var('info_locks') -%}
{%- set contact_locks = var('contact_locks') -%}
{%- set contact_conflicts = [] -%}
{%- for field, column in contact_locks if column != 'local_phone' -%}
{%- do contact_conflicts.append((field, 'ci.' ~ column, column)) -%}
{%- endfor -%}
{% set sql %}
begin;
select pg_advisory_xact_lock(hashtext('listings.promotion'));
-- JIT compiles for longer than these set-based statements run.
set local jit = off;
-- A promotion whose process dies mid-way (killed worker, lost container) is rolled back within a
-- second, instead of running on to commit with nobody to report to.
set local client_connection_check_interval = '1s';
-- Sorts and hashes of a 100k-record batch stay in memory (one promotion runs at a time: the lock above).
set local work_mem = '256MB';

-- A batch is small next to the catalogue: index lookups per staged record beat hashing the whole of
-- public.listing_info / listings / locations (measured: 100k records against 1.1M listings, 3.4 s -> 1.5 s).
set local enable_hashjoin = off;
set local enable_mergejoin = off;

-- Every record of the job, with its change set (keys, hashes, flags: narrow).
create temporary table _seen on commit drop as
select * from {{ ref('int_listing_changes') }} as c
where c.job_id = {{ job_id }};
-- A temp table has no statistics until it is analysed (autovacuum never sees it): the absences read it by
-- its listing_info.
analyze _seen (listing_info_id);

-- A record without a location (validation's location_present: transform lets it through, so that it can
-- join a listing that has one) never starts a listing: one that would, and whose batch holds no located
-- record of the same new place, is rejected with a per-record error.
create temporary table _unplaced on commit drop as
select x.record_no, x.record_hash, x.file_id
from (
    select
        s.record_no, s.record_hash, s.file_id,
        bool_or(s.located) over (partition by coalesce(s.reserved_listing_id, -s.record_no)) as place_located
    from _seen as s
    where s.is_new_listing and not s.superseded
) as x
where not x.place_located;

insert into pipeline.job_errors (job_id, file_id, stage, record_id, record_no, error_type, error_message)
select {{ job_id }}, file_id, 'promote', record_hash, record_no, 'no_location',
    'not promoted: no location (coordinates, or a street address and a city) and no listing in the catalogue'
    || ' to join'
from _unplaced;

-- (One the matcher queued for review, against a listing it may be: the item goes with it.)
delete from pipeline.review_items as r
using _unplaced as u
where r.job_id = {{ job_id }} and r.source_record_hash = u.record_hash and r.status = 'open'
    and r.item_type in ('low_confidence_match', 'multiple_close_matches');

-- The records that write something, with the fields they write: changed or new ones, mappings the bridge
-- may not hold yet (see the bridge insert), and the once-a-day last_seen_at refresh of unchanged ones,
-- or a return after an automatic removal. An unchanged re-run has none: the statements below then
-- cost next to nothing. The ids of the rows they create are drawn here, in the same pass (an update per
-- id rewrote this wide table four times: a fifth of a first import's promotion).
create temporary table _chg on commit drop as
select
    ids.*,
    -- One new location per listing, from its first record in the job that changes it.
    case when ids.new_location
            and row_number() over (partition by ids.final_listing_id, ids.new_location order by ids.record_no) = 1
        then {{ next_id('public.locations') }}
    end as new_location_id
from (
    select
        *,
        -- A new listing takes the id the images step reserved for it (its images are stored under that id).
        coalesce(listing_id, reserved_listing_id,
                 {{ next_id('public.listings') }}) as final_listing_id,
        coalesce(listing_info_id,
                 {{ next_id('public.listing_info') }}) as final_listing_info_id,
        case when contact_changed
            then {{ next_id('public.contact_info') }}
        end as new_contact_info_id,
        location_changed and not 'location' = any(listing_locked_fields) as new_location
    from _seen
    inner join {{ ref('int_listing_details') }} using (job_id, record_no)
    where job_id = {{ job_id }}
        -- a newer job of the DMO promoted first: this older record writes nothing
        and not superseded
        and record_no not in (select u.record_no from _unplaced as u)
        and (change_type <> 'unchanged'
             or coalesce(match_method, '') not in ('source_id', 'bridge')
             or current_info_status = 'removed'
             or current_last_seen_at is null
             or current_last_seen_at < date_trunc('day', seen_at))
) as ids;

-- The job's counts by matching outcome (written at the end) come from what promotion does with each record,
-- not from the matcher's decisions: whether its final listing existed before this job (read here, before the
-- listings are inserted; by index, like the lookups above), and which of the job's records came first to a
-- listing the job creates. (A record outside _chg is unchanged on its listing_info: its listing exists.)
create temporary table _outcomes on commit drop as
select
    c.record_no,
    c.pending_review,
    l.id is not null as listing_existed,
    row_number() over (partition by c.final_listing_id order by c.record_no) as nth_on_listing
from _chg as c
left join public.listings as l on c.final_listing_id = l.id;
create unique index on _outcomes (record_no);
analyze _outcomes (record_no);

set local enable_hashjoin = on;
set local enable_mergejoin = on;

-- The temp table is joined to public and to the staged tables by these keys: index and analyse it, or
-- the planner, blind to its size, picks nested loops that are quadratic in the batch size.
-- (Only the key columns: analysing the whole, wide table costs more than the statements it helps.)
create unique index on _chg (record_no);
create index on _chg (final_listing_info_id);
create index on _chg (final_listing_id);
analyze _chg (record_no, final_listing_id, final_listing_info_id, change_type, new_location_id, new_contact_info_id);

-- A new source value for a field an admin locked: both values go to the review queue, once per value.
create temporary table _locked on commit drop as
select * from _chg
where change_type = 'updated' and (cardinality(info_locked_fields) > 0 or cardinality(listing_locked_fields) > 0);
analyze _locked (final_listing_id, final_listing_info_id);

-- (Chosen before they are queued: read while inserting, the review queue's scans would also read the
-- rows the insert added so far.)
create temporary table _conflicts on commit drop as
select x.*
from (
    {%- for field, column, source in info_locks + contact_conflicts %}
    select c.dmo_id, c.job_id, c.final_listing_id as listing_id, c.final_listing_info_id as listing_info_id,
        c.record_hash, c.record_no, '{{ field }}' as field, 'listing_info' as level,
        to_jsonb({{ column }}) as manual_value, to_jsonb(c.{{ source }}) as source_value
    from _locked as c
    inner join public.listing_info as li on c.final_listing_info_id = li.id
    left join public.contact_info as ci on li.contact_info_id = ci.id
    where '{{ field }}' = any(li.locked_fields)
        and {{ column }} is distinct from c.{{ source }}
    union all
    {%- endfor %}
    select c.dmo_id, c.job_id, c.final_listing_id, c.final_listing_info_id, c.record_hash, c.record_no,
        'name', 'listing', to_jsonb(l.name), to_jsonb(c.listing_name)
    from _locked as c
    inner join public.listings as l on c.final_listing_id = l.id
    where c.owns_listing and 'name' = any(l.locked_fields)
        and c.listing_name is distinct from l.name
    union all
    select c.dmo_id, c.job_id, c.final_listing_id, c.final_listing_info_id, c.record_hash, c.record_no,
        'location', 'listing',
        jsonb_build_object('address1', loc.address1, 'address2', loc.address2, 'city', loc.city,
            'state', loc.state, 'zip', loc.zip, 'country', loc.country, 'lat', loc.lat::float8, 'lng', loc.lng::float8),
        jsonb_build_object('address1', c.address1, 'address2', c.address2, 'city', c.city,
            'state', c.state, 'zip', c.zip, 'country', c.country, 'lat', c.lat::float8, 'lng', c.lng::float8)
    from _locked as c
    inner join public.listings as l on c.final_listing_id = l.id
    left join public.locations as loc on l.location_id = loc.id
    where c.owns_listing and c.location_changed and 'location' = any(l.locked_fields)
) as x
where not exists (  -- the value the source had when the admin edited the field: not news
    select 1 from pipeline.listing_edits as e
    where e.listing_id = x.listing_id and e.action = 'edit' and e.field = x.field
        and (x.level = 'listing' and e.listing_info_id is null or e.listing_info_id = x.listing_info_id)
        and e.old_value = x.source_value
)
and not exists (  -- already queued (or dismissed: the admin kept their value against this one)
    select 1 from pipeline.review_items as r
    where r.item_type = 'manual_edit_conflict' and r.listing_id = x.listing_id
        and (x.level = 'listing' or r.listing_info_id = x.listing_info_id)
        and r.payload ->> 'level' = x.level and r.payload ->> 'field' = x.field
        and r.payload -> 'source_value' = x.source_value
);

insert into pipeline.review_items (item_type, dmo_id, job_id, listing_id, listing_info_id, source_record_hash, payload)
select
    'manual_edit_conflict', x.dmo_id, x.job_id, x.listing_id, x.listing_info_id, x.record_hash,
    jsonb_build_object('field', x.field, 'level', x.level, 'manual_value', x.manual_value,
                       'source_value', x.source_value, 'record_no', x.record_no)
from _conflicts as x;

insert into public.locations (
    id, address1, address2, city, state, zip, country, lat, lng, geog, location_hash,
    address_key, house_number, city_key, region_key, created_at, updated_at
)
select
    new_location_id, address1, address2, city, state, zip, country, lat, lng,
    case when lat is not null and lng is not null
        then st_setsrid(st_makepoint(lng, lat), 4326)::geography
    end,
    location_hash, address_key, house_number, city_key, region_key, now(), now()
from _chg
where new_location_id is not null;

-- A record waiting in the review queue still becomes a listing, hidden until a reviewer decides.
insert into public.listings (
    id, name, name_key, location_id, listing_status, listing_visible, created_at, updated_at, last_job_id
)
select distinct on (final_listing_id)
    final_listing_id, listing_name, name_key, new_location_id, 'active', not pending_review, now(), now(), job_id
from _chg
where is_new_listing
-- Records of one batch that are one place share the reserved id of the first (listings.matching.batch).
order by final_listing_id, record_no;

-- Existing listings: repoint a changed location; the listing's primary record also renames it.
update public.listings as l
set
    location_id = coalesce(c.new_location_id, l.location_id),
    name = case when c.owns_listing and not 'name' = any(l.locked_fields) then c.listing_name else l.name end,
    name_key = case when c.owns_listing and not 'name' = any(l.locked_fields) then c.name_key else l.name_key end,
    updated_at = now(),
    last_job_id = c.job_id
from (
    select distinct on (final_listing_id) *
    from _chg
    where not is_new_listing
        and (new_location_id is not null
             or (owns_listing and listing_name is distinct from current_listing_name
                 and not 'name' = any(listing_locked_fields)))
    order by final_listing_id, new_location_id is null, record_no
) as c
where l.id = c.final_listing_id;

insert into public.contact_info (
    id, name, {% for field, column in contact_locks %}{{ column }}, {% endfor %}contact_hash,
    website_host, created_at, updated_at
)
select
    c.new_contact_info_id,
    c.contact_name,
    {%- for field, column in contact_locks %}
    case when '{{ field }}' = any(c.info_locked_fields) then cur.{{ column }} else c.{{ column }} end,
    {%- endfor %}
    c.contact_hash,
    case when 'website' = any(c.info_locked_fields) then cur.website_host else c.website_host end,
    now(), now()
from _chg as c
left join public.contact_info as cur on c.current_contact_info_id = cur.id
where c.new_contact_info_id is not null;

insert into public.listing_info (
    id, listing_id, dmo_id, contact_info_id, name, description, category, source_category, opening_hours_text,
    external_source_id, info_visible, info_status, last_seen_at, last_job_id, content_hash, images_hash,
    created_at, updated_at
)
select
    final_listing_info_id, final_listing_id, dmo_id, new_contact_info_id, info_name, description, category,
    source_category, opening_hours_text, source_id, not pending_review,
    case when pending_review then 'pending' else 'active' end, seen_at, job_id, content_hash, images_hash,
    now(), now()
from _chg
where is_new_listing_info;

{{ refresh_statistics([
    ('public.listings', ['id', 'location_id', 'listing_status']),
    ('public.locations', ['id']),
    ('public.contact_info', ['id']),
    ('public.listing_info', ['id', 'listing_id', 'dmo_id', 'contact_info_id', 'info_visible', 'info_status']),
]) }}

-- One DMO listing one place twice (two records matched to one listing): the DMO's first listing_info
-- stays visible; a newer one waits, hidden, in the review queue as a source conflict.
-- (Set-based: each listing's first visible listing_info per DMO, read once for the listings of the new
-- records. A lateral min() per record read the DMO's whole index range once per record: quadratic.)
create temporary table _same_dmo on commit drop as
select c.final_listing_info_id, c.final_listing_id, c.dmo_id, c.job_id, c.record_no, c.record_hash, first_info.id as kept_id
from _chg as c
inner join (
    select o.listing_id, o.dmo_id, min(o.id) as id
    from public.listing_info as o
    where o.info_visible and o.listing_id in (
        select n.final_listing_id from _chg as n where n.is_new_listing_info and not n.pending_review
    )
    group by o.listing_id, o.dmo_id
) as first_info on c.final_listing_id = first_info.listing_id and c.dmo_id = first_info.dmo_id
where c.is_new_listing_info and not c.pending_review and first_info.id <> c.final_listing_info_id;
analyze _same_dmo;

update public.listing_info as li
set info_visible = false, info_status = 'pending',
    status_reason = 'this DMO already lists the place as listing_info ' || d.kept_id, status_changed_at = now()
from _same_dmo as d
where li.id = d.final_listing_info_id;

insert into pipeline.review_items (item_type, dmo_id, job_id, listing_id, listing_info_id, source_record_hash, payload)
select 'source_conflict', dmo_id, job_id, final_listing_id, final_listing_info_id, record_hash,
    jsonb_build_object('record_no', record_no, 'kept_listing_info_id', kept_id,
                       'reason', 'two records of one DMO matched one listing')
from _same_dmo;

update public.listing_info as li
set
    {%- for field, column, source in info_locks %}
    {{ column[3:] }} = case when '{{ field }}' = any(li.locked_fields) then {{ column }} else c.{{ source }} end,
    {%- endfor %}
    source_category = c.source_category,
    -- seen again after an automatic removal: visible again (an admin's hide is locked: it stays)
    info_visible = case when li.info_status = 'removed' and not 'visibility' = any(li.locked_fields)
        then true else li.info_visible end,
    info_status = case when li.info_status = 'removed' and not 'visibility' = any(li.locked_fields)
        then 'active' else li.info_status end,
    status_reason = case when li.info_status = 'removed' and not 'visibility' = any(li.locked_fields)
        then null else li.status_reason end,
    content_hash = c.content_hash,
    images_hash = c.images_hash,
    contact_info_id = coalesce(c.new_contact_info_id, li.contact_info_id),
    external_source_id = coalesce(c.source_id, li.external_source_id),
    updated_at = case when c.change_type = 'updated' then now() else li.updated_at end,
    last_seen_at = c.seen_at,
    last_job_id = c.job_id
from _chg as c
where li.id = c.final_listing_info_id and not c.is_new_listing_info
    -- An unchanged record refreshes last_seen_at / last_job_id at most once a day, so that an unchanged
    -- re-run writes nothing to public. (The runs that missed it: pipeline.listing_info_absence.)
    and (c.change_type <> 'unchanged' or li.info_status = 'removed' or li.last_seen_at is null
         or li.last_seen_at < date_trunc('day', c.seen_at));

-- Images follow their listing_info: replaced when its image list (content hash) or what the images step
-- made of it (images hash) changed. An image that failed is not shown; a source image gone is gone.
delete from public.listing_images as img
using _chg as c
where img.listing_info_id = c.final_listing_info_id and (c.content_changed or c.images_changed)
    and not c.is_new_listing_info;

insert into public.listing_images (
    listing_info_id, image, rank, source_url, renditions, width, height, phash, created_at, updated_at
)
select
    c.final_listing_info_id, coalesce(si.canonical_image_url, si.image), si.rank, si.image, si.renditions,
    si.width, si.height, si.phash, now(), now()
from _chg as c
inner join {{ ref('stg_staging__listing_images') }} as si
    on c.job_id = si.job_id and c.record_no = si.record_no
where (c.content_changed or c.images_changed) and si.status is distinct from 'failed';

-- Opening hours follow their listing_info's contact details (the contact hash covers them).
delete from public.opening_hours as oh
using public.opening_dates as od, _chg as c
where oh.opening_date_id = od.id and od.listing_info_id = c.final_listing_info_id
    and c.contact_changed and not c.is_new_listing_info and not 'opening_hours' = any(c.info_locked_fields);

delete from public.opening_dates as od
using _chg as c
where od.listing_info_id = c.final_listing_info_id and c.contact_changed and not c.is_new_listing_info
    and not 'opening_hours' = any(c.info_locked_fields);

create temporary table _dates on commit drop as
select
    {{ next_id('public.opening_dates') }} as id,
    c.final_listing_info_id, sd.record_no, sd.seq, sd.start_date, sd.end_date
from _chg as c
inner join {{ ref('stg_staging__opening_dates') }} as sd
    on c.job_id = sd.job_id and c.record_no = sd.record_no
where c.contact_changed and not 'opening_hours' = any(c.info_locked_fields);
analyze _dates (record_no, seq);

insert into public.opening_dates (id, start_date, end_date, listing_info_id, created_at, updated_at)
select id, start_date, end_date, final_listing_info_id, now(), now()
from _dates;

insert into public.opening_hours (opening_date_id, day_id, open_time, close_time, created_at, updated_at)
select d.id, sh.day_id, sh.open_time, sh.close_time, now(), now()
from _dates as d
inner join {{ ref('stg_staging__opening_hours') }} as sh
    on sh.job_id = {{ job_id }} and d.record_no = sh.record_no and d.seq = sh.seq;

-- The bridge: one row per mapping (a DMO's record hash -> its listing_info), written when the hash is first
-- mapped there, with the decision that mapped it (method, certainty, reason) and the job and file it came
-- in. A record sent again, changed or not, adds no row: its sighting is its listing_info's (last_seen_at,
-- last_job_id); an admin's force-match or a rematch changes the row's decision in place. So the bridge
-- grows with the record hashes a DMO ever sent, not with its runs.
-- The mappings it lacks are read before the insert (read during it, a scan of the bridge would also read
-- every row the insert added so far: quadratic). A listing_info this job creates has none, and an unchanged
-- record resolved by its source id or by this DMO's bridge has an unchanged hash, mapped when it came:
-- neither is looked up.
create temporary table _unmapped on commit drop as
select c.record_no
from _chg as c
where c.is_new_listing_info
    or ((c.change_type <> 'unchanged' or coalesce(c.match_method, '') not in ('source_id', 'bridge'))
        and not exists (
            select 1 from pipeline.bridge_source_listing as b
            where b.dmo_id = c.dmo_id and b.source_record_hash = c.record_hash
                and b.listing_info_id = c.final_listing_info_id
        ));
analyze _unmapped;

insert into pipeline.bridge_source_listing (
    job_file_id, job_id, dmo_id, source_record_hash, source_id, listing_id, listing_info_id,
    certainty_score, match_method, reason
)
select
    file_id, job_id, dmo_id, record_hash, source_id, final_listing_id, final_listing_info_id,
    coalesce(certainty, 1.0),
    coalesce(match_method, 'new'),
    coalesce(match_reason, case coalesce(match_method, 'new')
        when 'source_id' then 'same source id as an existing listing_info of this DMO'
        when 'bridge' then 'same record hash as an earlier record of this DMO'
        when 'bridge_other_dmo' then 'same record hash as a record of another DMO'
        else 'no candidate: new listing'
    end)
from _chg as c
where c.record_no in (select u.record_no from _unmapped as u)
on conflict (job_file_id, source_record_hash) do update
set listing_id = excluded.listing_id,
    listing_info_id = excluded.listing_info_id,
    match_method = excluded.match_method,
    reason = excluded.reason,
    certainty_score = excluded.certainty_score,
    mapped_at = now();

-- The matching index follows every listing this job created or changed (it reads the listing's images).
{{ refresh_statistics([('public.listing_images', ['listing_info_id', 'phash'])]) }}
select pipeline.refresh_listing_match(array(
    select distinct final_listing_id from _chg
    where change_type <> 'unchanged' or location_changed
));

-- Every promoted record counts once by matching outcome (matched + review + new = the records promoted):
-- matched: its listing existed before this job (source id, bridge, another DMO's record hash, an automatic
-- match; a record the matcher queued for review that promotion resolved this way too), or this job created
-- it for an earlier record of the job; review: the first record of a listing this job created, waiting
-- hidden in the review queue; new: the first record of a listing this job created.
-- And once by what it did to this DMO's listing_info, by hash comparison: updated or unchanged (both also
-- matched), or a new listing_info (the rest).
update pipeline.job_results as r
set
    records_matched = counts.n_matched,
    records_review = counts.n_review,
    records_new = counts.n_new,
    records_updated = counts.n_updated,
    records_unchanged = counts.n_unchanged,
    records_deleted = coalesce(r.records_deleted, 0),
    records_error = coalesce(r.records_error, 0) + (select count(*) from _unplaced),
    updated_at = now()
from (
    select
        count(*) filter (where outcome = 'matched') as n_matched,
        count(*) filter (where outcome = 'review') as n_review,
        count(*) filter (where outcome = 'new') as n_new,
        count(*) filter (where change_type = 'updated') as n_updated,
        count(*) filter (where change_type = 'unchanged') as n_unchanged
    from (
        select
            s.change_type,
            case
                when o.record_no is null or o.listing_existed or o.nth_on_listing > 1 then 'matched'
                when o.pending_review then 'review'
                else 'new'
            end as outcome
        from _seen as s
        left join _outcomes as o on s.record_no = o.record_no
        where s.record_no not in (select u.record_no from _unplaced as u)
    ) as per_record
) as counts
where r.job_id = {{ job_id }}
    and exists (select 1 from pipeline.jobs as j where j.id = {{ job_id }} and j.promoted_at is null);

-- Absences, for the removal sweep (finalize): a record seen again clears its count; after a full
-- snapshot fetched without errors, the DMO's other active listing_info missed one more run.
delete from pipeline.listing_info_absence as a
using _seen as c
where a.listing_info_id = c.listing_info_id and not c.superseded;

-- The DMO's active listing_info minus those this job saw: a set difference (hashed or sorted), whatever
-- the estimates. (As anti-joins, the DMO's rows, written in this very transaction, were estimated at one
-- and the batch was scanned once per listing_info: quadratic, 35 s for 6,300 records. The job's flags are
-- one-time conditions, not joins, for the same reason.)
insert into pipeline.listing_info_absence as a (listing_info_id, dmo_id, missed_runs, first_missed_job_id, last_missed_job_id)
select absent.id, (select j.dmo_id from pipeline.jobs as j where j.id = {{ job_id }}), 1, {{ job_id }}, {{ job_id }}
from (
    select li.id
    from public.listing_info as li
    where li.dmo_id = (select j.dmo_id from pipeline.jobs as j where j.id = {{ job_id }})
        and li.info_status = 'active'
    except
    select c.listing_info_id from _seen as c
    except
    select c.final_listing_info_id from _chg as c
) as absent
where (select j.full_snapshot from pipeline.jobs as j where j.id = {{ job_id }})
    and not exists (  -- a newer job of the DMO was promoted first: this job's view is older than public's
        select 1 from pipeline.jobs as n
        where n.dmo_id = (select j.dmo_id from pipeline.jobs as j where j.id = {{ job_id }})
            and n.data_domain = (select j.data_domain from pipeline.jobs as j where j.id = {{ job_id }})
            and n.id > {{ job_id }} and n.promoted_at is not null
    )
    and not exists (
        select 1 from pipeline.job_errors as e where e.job_id = {{ job_id }} and e.error_type = 'fetch_error'
    )
on conflict (listing_info_id) do update
set missed_runs = a.missed_runs + 1, last_missed_job_id = excluded.last_missed_job_id;

-- Quality gates on what this job touched: a failure raises, and the whole promotion rolls back.
do $gate$
declare
    detail text;
begin
    select string_agg(l.id::text, ', ') into detail
    from public.listings as l
    left join public.locations as loc on l.location_id = loc.id
    where l.id in (select final_listing_id from _chg)
        and not coalesce((loc.lat is not null and loc.lng is not null)
                         or (nullif(trim(loc.address1), '') is not null and nullif(trim(loc.city), '') is not null),
                         false);
    if detail is not null then
        raise exception 'quality gate (job {{ job_id }}): listings without a location: %', detail;
    end if;
    select string_agg(format('listing %s / DMO %s', listing_id, dmo_id), ', ') into detail
    from (
        select li.listing_id, li.dmo_id
        from public.listing_info as li
        where li.listing_id in (select final_listing_id from _chg) and li.info_visible
        group by li.listing_id, li.dmo_id
        having count(*) > 1
    ) as twice;
    if detail is not null then
        raise exception 'quality gate (job {{ job_id }}): more than one visible listing_info: %', detail;
    end if;
end
$gate$;

update pipeline.jobs set promoted_at = now() where id = {{ job_id }} and promoted_at is null;
commit;
{% endset %}
{{ return(sql) }}
{% endmacro %}


{#
  Planner statistics for what this transaction itself wrote. A promotion's statements read rows its
  earlier statements inserted, and the statistics are from before them (a new DMO's first import: the
  DMO is unknown, the tables maybe empty), so the planner takes thousands of rows for one and picks per-row
  scans. A table that this transaction grew by autovacuum's own analyse rule (50 rows plus 10% of what the
  statistics count) is analysed here, inside the transaction (ANALYZE samples the transaction's own rows),
  on the key columns the later statements join and filter on: a few hundred ms for 100k rows, nothing for
  an unchanged re-run. (The page counts it updates are not transactional: a rolled-back promotion leaves
  them high until autovacuum's next pass.)
  tables: [(table, [columns])]
#}
{% macro refresh_statistics(tables) %}
do $stats$
begin
    {%- for table, columns in tables %}
    if pg_stat_get_xact_tuples_inserted('{{ table }}'::regclass)
        > 50 + 0.1 * greatest((select c.reltuples from pg_class as c where c.oid = '{{ table }}'::regclass), 0) then
        analyze {{ table }} ({{ columns | join(', ') }});
    end if;
    {%- endfor %}
end
$stats$;
{% endmacro %}


{#
  A new id from the table's serial sequence. The sequence is looked up once per statement (an InitPlan):
  `nextval(pg_get_serial_sequence(...))` resolved it again for every row, by name, through the catalogue,
  ten times the cost of the nextval itself (0.5 s per 100k ids).
#}
{% macro next_id(table) -%}
nextval((select pg_get_serial_sequence('{{ table }}', 'id')::regclass))::integer
{%- endmacro %}
