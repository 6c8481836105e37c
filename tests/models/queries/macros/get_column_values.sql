{# a dbt_utils-style helper: the distinct values of a column, sorted #}
{% macro get_column_values(table, column) -%}
  {%- set q -%}
    select distinct {{ column }} as v from {{ table }} order by 1
  {%- endset -%}
  {%- set res = run_query(q) -%}
  {%- if execute -%}
    {{ return(res.columns[0].values()) }}
  {%- else -%}
    {{ return([]) }}
  {%- endif -%}
{%- endmacro %}
