{#
  A model's primary key of several columns: no two rows share it, and no part of it is null.
  Usage (model level): data_tests: [{unique_key: {arguments: {columns: [job_id, record_no]}}}]
#}
{% test unique_key(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1 or {% for c in columns %}{{ c }} is null{{ ' or ' if not loop.last }}{% endfor %}
{% endtest %}
