{#
  dbt-postgres's get_columns_in_relation, read from pg_catalog instead of information_schema.columns:
  the same columns, for the same relation (a temporary relation has no schema: the search path finds it),
  in 0.5 ms instead of 6.5 ms. An incremental model asks for them three times, the apply twice per change
  log: a fifth of a promotion's time in dbt was waiting for these rows. Types are named as format_type()
  names them (an array is `text[]`, not `ARRAY`), the same for a model's table and its new rows, which is
  what on_schema_change compares.
#}
{% macro postgres__get_columns_in_relation(relation) -%}
  {%- set name = adapter.quote(relation.identifier) if relation.schema is none
      else adapter.quote(relation.schema) ~ '.' ~ adapter.quote(relation.identifier) -%}
  {% call statement('get_columns_in_relation', fetch_result=True) %}
      select
          a.attname as column_name,
          format_type(a.atttypid, null) as data_type,
          case when a.atttypid in ('varchar'::regtype, 'bpchar'::regtype) and a.atttypmod > 0
              then a.atttypmod - 4 end as character_maximum_length,
          case when a.atttypid = 'numeric'::regtype and a.atttypmod > 0
              then ((a.atttypmod - 4) >> 16) & 65535 end as numeric_precision,
          case when a.atttypid = 'numeric'::regtype and a.atttypmod > 0
              then (a.atttypmod - 4) & 65535 end as numeric_scale
      from pg_attribute as a
      where a.attrelid = to_regclass('{{ name | replace("'", "''") }}')
          and a.attnum > 0 and not a.attisdropped
      order by a.attnum
  {% endcall %}
  {% set table = load_result('get_columns_in_relation').table %}
  {{ return(sql_convert_columns_in_relation(table)) }}
{% endmacro %}
