{# the classic pivot: one column per status found in the upstream table #}
{%- set statuses = get_column_values(ref('stg_orders'), 'status') -%}
select
{%- for s in statuses %}
  sum(case when status = '{{ s }}' then amount else 0 end) as {{ s }}_amount{{ "," if not loop.last }}
{%- endfor %}
from {{ ref('stg_orders') }}
