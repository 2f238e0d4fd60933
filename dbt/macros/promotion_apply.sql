{#
  The apply of one job's change logs to the catalogue: the `promotion_apply` materialization of
  promotion__applied. It runs after every change log it depends on was built and tested (a failed test
  skips it: nothing of the job reaches `public`), in ONE transaction:
  - each change log (a promotion model with meta.apply, among this model's parents) is written to its
    target by its mode, the same few statements for every table:
      insert:  its rows are inserted (their ids were drawn by the model);
      upsert:  rows with op = 'insert' are inserted, rows with op = 'update' update the row of that id, if
               it is still the version the log was built from (row_version, the row's xmin): a row changed
               since (an admin's edit) stops the apply (SQLSTATE 40001) and the promotion is built again;
               without an op column, rows are upserted on meta.apply.conflict;
      replace: the target's rows of every parent the job replaces (meta.apply.replaces) are deleted, then
               the log's rows inserted (deletes run before every write, children first);
    columns are those the log and its target share;
  - then the job's bookkeeping: rejected records' errors, sightings (an unchanged record's last_seen_at),
    the matching index, the job's counts, absences for the removal sweep, the quality gates (a failure raises: the whole promotion rolls back) and
    pipeline.jobs.promoted_at, set in the same transaction (a job is promoted once: a re-run does nothing).
  A promotion whose client dies is rolled back by the server (client_connection_check_interval).
  Promotions are serialised by the advisory lock `listings.promotion`: the promote task holds it for the
  whole build (listings.pipeline.promote), and the apply takes it unless that task holds it for this job.
#}
{% materialization promotion_apply, adapter='postgres' %}
  {%- set job = promotion_job() -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {%- if existing is none %}
    {% call statement('create') -%}
      create table {{ target_relation }} as {{ sql }} with no data;
      alter table {{ target_relation }} add primary key (job_id);
    {%- endcall %}
  {%- endif %}

  {% call statement('lock') -%}
    {{ promotion_session(job) }}
  {%- endcall %}
  {%- set pending = run_query(
      "select dmo_id from pipeline.jobs where id = " ~ job ~ " and promoted_at is null"
  ).columns[0].values() -%}
  {%- set promoted = pending | length == 0 -%}

  {% call statement('main') -%}
    {%- if promoted %}
    select 'job {{ job }}: nothing to apply (promoted, or no such job)'
    {%- else %}
    insert into {{ target_relation }}
    {{ sql }};

    {{ promotion_apply_sql(job, pending[0], model.depends_on.nodes, target_relation) }}
    {%- endif %}
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#
  The apply's session: settings, and the promotion lock (unless the promote task holds it for this job:
  it names its connection `listings promotion of job N`).
#}
{% macro promotion_session(job) %}
-- JIT compiles for longer than these set-based statements run.
set local jit = off;
-- A promotion whose process dies mid-way (killed worker, lost container) is rolled back within a second,
-- instead of running on to commit with nobody to report to.
set local client_connection_check_interval = '1s';
set local work_mem = '256MB';
do $lock$
declare
    k bigint := hashtext('listings.promotion');
begin
    if not pg_try_advisory_xact_lock(k) and not exists (
        select 1
        from pg_locks as l
        inner join pg_stat_activity as a on l.pid = a.pid
        where l.locktype = 'advisory' and l.granted and l.objsubid = 1
            and l.classid = ((k >> 32) & 4294967295)::oid and l.objid = (k & 4294967295)::oid
            and a.application_name = 'listings promotion of job {{ job }}'
    ) then
        perform pg_advisory_xact_lock(k);
    end if;
end
$lock$;
{% endmacro %}


{# The change logs (models with meta.apply) among this model's parents, in apply order. #}
{% macro promotion_change_logs(parents) %}
  {%- set logs = [] -%}
  {%- for unique_id in parents -%}
    {%- set node = graph.nodes[unique_id] -%}
    {%- if node.resource_type == 'model' and node.config.meta.get('apply') -%}
      {%- do logs.append(node) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(logs | sort(attribute='config.meta.apply.order')) }}
{% endmacro %}


{% macro _log_relation(node) %}
  {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) }}
{% endmacro %}


{# The columns a change log (its column names) and its target share, in the log's order. #}
{% macro _shared_columns(log_columns, target) %}
  {%- set schema, table = target.split('.') -%}
  {%- set target_columns = adapter.get_columns_in_relation(api.Relation.create(schema=schema, identifier=table))
      | map(attribute='name') | list -%}
  {{ return(log_columns | select('in', target_columns) | list) }}
{% endmacro %}


{% macro promotion_apply_sql(job, dmo, parents, summary) %}
{%- set logs = promotion_change_logs(parents) -%}
{%- set relations = {} -%}
{%- for unique_id in parents %}{% do relations.update({graph.nodes[unique_id].name: _log_relation(graph.nodes[unique_id])}) %}{% endfor -%}
{%- set records = relations['promotion__records'] -%}
{%- set changes = relations['promotion__changes'] -%}

-- Records rejected for want of a location (promotion__records.unplaced): one error row each; an open review
-- item of one goes with it.
insert into pipeline.job_errors (job_id, file_id, stage, record_id, record_no, error_type, error_message)
select {{ job }}, file_id, 'promote', record_hash, record_no, 'no_location',
    'not promoted: no location (coordinates, or a street address and a city) and no listing in the catalogue'
    || ' to join'
from {{ records }}
where unplaced;

delete from pipeline.review_items as r
using {{ records }} as u
where u.unplaced and r.job_id = {{ job }} and r.source_record_hash = u.record_hash and r.status = 'open'
    and r.item_type in ('low_confidence_match', 'multiple_close_matches');

{#- Deletes of the replaced sets, children first. #}
{%- for node in logs | reverse if node.config.meta.apply.mode == 'replace' %}
{%- set spec = node.config.meta.apply.replaces %}
{%- set parents_sql -%}
select p.id from {{ relations[spec.parents] }} as p
where p.job_id = {{ job }} and p.op = 'update' and p.{{ spec.flag }}
{%- endset %}

-- {{ node.name }}: the replaced rows of {{ node.config.meta.apply.target }}
delete from {{ node.config.meta.apply.target }}
where {{ spec.column }} in (
    {%- if spec.get('via') %}
    select v.id from {{ spec.via[0] }} as v where v.{{ spec.via[1] }} in ({{ parents_sql }})
    {%- else %}
    {{ parents_sql }}
    {%- endif %}
);
{%- endfor %}

{#- Writes, parents first. #}
{%- for node in logs %}
{%- set apply = node.config.meta.apply %}
{%- set log = relations[node.name] %}
{%- set log_columns = adapter.get_columns_in_relation(log) | map(attribute='name') | list %}
{%- set columns = _shared_columns(log_columns, apply.target) %}

-- {{ node.name }} -> {{ apply.target }} ({{ apply.mode }})
{%- if apply.mode == 'upsert' and 'op' in log_columns %}
insert into {{ apply.target }} ({{ columns | join(', ') }})
select {{ columns | join(', ') }} from {{ log }} where job_id = {{ job }} and op = 'insert';

do $apply$
declare
    missed bigint;
begin
    with changed as (
        update {{ apply.target }} as t
        set {% for c in apply.update_columns %}{{ c }} = l.{{ c }}{{ ', ' if not loop.last }}{% endfor %}
        from {{ log }} as l
        where l.job_id = {{ job }} and l.op = 'update' and t.id = l.id and t.xmin::text = l.row_version
        returning 1
    )
    select (select count(*) from {{ log }} as l where l.job_id = {{ job }} and l.op = 'update')
        - (select count(*) from changed)
    into missed;
    if missed > 0 then
        raise exception using errcode = '40001', message = format(
            'promotion of job {{ job }}: %s row(s) of {{ apply.target }} changed since the change log was built:'
            ' build it again', missed);
    end if;
end
$apply$;
{%- elif apply.mode == 'upsert' %}
insert into {{ apply.target }} ({{ columns | join(', ') }})
select {{ columns | join(', ') }} from {{ log }} where job_id = {{ job }}
on conflict ({{ apply.conflict | join(', ') }}) do update
set {% for c in apply.update_columns %}{{ c }} = excluded.{{ c }}{{ ', ' if not loop.last }}{% endfor %};
{%- else %}
insert into {{ apply.target }} ({{ columns | join(', ') }})
select {{ columns | join(', ') }} from {{ log }} where job_id = {{ job }};
{%- endif %}
{%- endfor %}

-- Sightings: an unchanged record refreshes its listing_info's last_seen_at / last_job_id, at most once a day,
-- so that an unchanged re-run writes nothing to public (the runs that missed it: listing_info_absence). A
-- sighting is no change: it is not in the change logs.
update public.listing_info as li
set last_seen_at = r.seen_at, last_job_id = r.job_id
from {{ changes }} as r
where r.change_type = 'unchanged' and not r.is_new_listing_info
    and li.id = r.final_listing_info_id and li.info_status <> 'removed'
    and (li.last_seen_at is null or li.last_seen_at < date_trunc('day', r.seen_at));

{{ refresh_statistics([
    ('public.listings', ['id', 'location_id', 'listing_status']),
    ('public.locations', ['id']),
    ('public.contact_info', ['id']),
    ('public.listing_info', ['id', 'listing_id', 'dmo_id', 'contact_info_id', 'info_visible', 'info_status']),
    ('public.listing_images', ['listing_info_id', 'phash']),
]) }}

-- The matching index follows every listing this job created or changed (it reads the listing's images).
select pipeline.refresh_listing_match(t.ids)
from (
    select array(
        select distinct final_listing_id from {{ changes }}
        where change_type <> 'unchanged' or location_changed
    ) as ids
) as t
where cardinality(t.ids) > 0;

-- The job's counts: the promotion's own (promotion__applied, written first in this transaction).
update pipeline.job_results as r
set
    records_matched = a.records_matched,
    records_review = a.records_review,
    records_new = a.records_new,
    records_updated = a.records_updated,
    records_unchanged = a.records_unchanged,
    records_deleted = coalesce(r.records_deleted, 0),
    records_error = coalesce(r.records_error, 0) + a.records_rejected,
    updated_at = now()
from {{ summary }} as a
where r.job_id = {{ job }} and a.job_id = {{ job }};

-- Absences, for the removal sweep (finalize): a record seen again clears its count; after a full
-- snapshot fetched without errors, the DMO's other active listing_info missed one more run.
delete from pipeline.listing_info_absence as a
using {{ records }} as c
where a.listing_info_id = c.listing_info_id and not c.superseded;

-- The DMO's active listing_info minus those this job saw: a set difference (hashed or sorted), whatever
-- the estimates. (As anti-joins, the DMO's rows, written in this very transaction, were estimated at one
-- and the batch was scanned once per listing_info: quadratic, 35 s for 6,300 records. The job's flags are
-- one-time conditions, not joins, for the same reason. The DMO is a literal: the planner reads the DMO's
-- rows by index, not the whole catalogue.)
insert into pipeline.listing_info_absence as a (listing_info_id, dmo_id, missed_runs, first_missed_job_id, last_missed_job_id)
select absent.id, {{ dmo }}, 1, {{ job }}, {{ job }}
from (
    select li.id
    from public.listing_info as li
    where li.dmo_id = {{ dmo }} and li.info_status = 'active'
    except
    select c.listing_info_id from {{ records }} as c where c.listing_info_id is not null
    except
    select c.final_listing_info_id from {{ changes }} as c
) as absent
where (select j.full_snapshot from pipeline.jobs as j where j.id = {{ job }})
    and not exists (  -- a newer job of the DMO was promoted first: this job's view is older than public's
        select 1 from pipeline.jobs as n
        where n.dmo_id = {{ dmo }}
            and n.data_domain = (select j.data_domain from pipeline.jobs as j where j.id = {{ job }})
            and n.id > {{ job }} and n.promoted_at is not null
    )
    and not exists (
        select 1 from pipeline.job_errors as e where e.job_id = {{ job }} and e.error_type = 'fetch_error'
    )
on conflict (listing_info_id) do update
set missed_runs = a.missed_runs + 1, last_missed_job_id = excluded.last_missed_job_id;

-- Quality gates on what this job touched, once written (the dbt tests of the change logs ran before the
-- apply): a failure raises, and the whole promotion rolls back.
do $gate$
declare
    detail text;
begin
    select string_agg(l.id::text, ', ') into detail
    from public.listings as l
    left join public.locations as loc on l.location_id = loc.id
    where l.id in (select final_listing_id from {{ changes }})
        and not coalesce((loc.lat is not null and loc.lng is not null)
                         or (nullif(trim(loc.address1), '') is not null and nullif(trim(loc.city), '') is not null),
                         false);
    if detail is not null then
        raise exception 'quality gate (job {{ job }}): listings without a location: %', detail;
    end if;
    select string_agg(format('listing %s / DMO %s', listing_id, dmo_id), ', ') into detail
    from (
        select li.listing_id, li.dmo_id
        from public.listing_info as li
        where li.listing_id in (select final_listing_id from {{ changes }}) and li.info_visible
        group by li.listing_id, li.dmo_id
        having count(*) > 1
    ) as twice;
    if detail is not null then
        raise exception 'quality gate (job {{ job }}): more than one visible listing_info: %', detail;
    end if;
end
$gate$;

update pipeline.jobs set promoted_at = now() where id = {{ job }} and promoted_at is null;
{% endmacro %}
