{# Models land in the schema they name (or the target's), never in a "<target>_<custom>" schema. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
