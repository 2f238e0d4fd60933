{#
  Helpers of the promotion models (models/promotion): the job being promoted, the session settings of the
  statements that read a batch against the catalogue, and the change logs' idempotent re-build.
#}

{# The job a `dbt build --select promotion --vars '{job_id: N}'` promotes (0: none, every model is empty). #}
{% macro promotion_job() -%}
{{ return(var('job_id', 0) | int) }}
{%- endmacro %}


{#
  Settings of a statement that reads one batch against the whole catalogue (pre_hook, inside the model's
  transaction). A batch is small next to the catalogue: index lookups per staged record beat hashing the
  whole of public.listing_info / listings / locations (100k records against 1.1M listings: 3.4 s -> 1.5 s).
  JIT compiles for longer than these set-based statements run.
#}
{% macro promotion_settings() -%}
{{ return([
    "set local jit = off",
    "set local work_mem = '256MB'",
    "set local enable_hashjoin = off",
    "set local enable_mergejoin = off",
]) }}
{%- endmacro %}


{#
  A change log holds what each job changed, appended job by job. A build of a job that was not applied
  (killed, or stopped by a failed test) left rows whose ids the re-build draws again: they go first, so that
  the log holds one build of the job. An applied job's rows are history and stay.
#}
{% macro clear_unapplied_job() -%}
{%- if execute and adapter.get_relation(this.database, this.schema, this.identifier) is not none -%}
delete from {{ this }}
where job_id = {{ promotion_job() }}
    and not exists (
        select 1 from {{ ref('stg_pipeline__jobs') }} as j
        where j.id = {{ promotion_job() }} and j.promoted_at is not null
    )
{%- else -%}
select 1
{%- endif -%}
{%- endmacro %}


{#
  Planner statistics of a table this transaction grew by autovacuum's own analyse rule (50 rows plus 10% of
  what the statistics count): analysed here, inside the transaction, on the key columns the later statements
  join and filter on (a few hundred ms for 100k rows, nothing for an unchanged re-run). A statement that
  reads rows an earlier one wrote is otherwise planned on statistics from before them (a new DMO's first
  import: the DMO unknown, the tables maybe empty) and picks per-row scans.
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
