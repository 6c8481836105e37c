{#
  Which days an incremental run recomputes (docs/models.md, "The flagship
  models"). A full build (first run, --full-refresh) takes every day. An
  incremental run takes start_day..end_day when --vars gives start_day
  (the orchestrator's logical dates, or a late day to redo), else the days
  from the table's last day minus lookback_days on. Weekly models widen
  the window to whole ISO weeks so a week is always recomputed entirely.
#}
{% macro day_window(day_col, week=false) -%}
  {%- set start = var('start_day') | string -%}
  {%- set end = (var('end_day') | string) or start -%}
  {%- if not is_incremental() -%}
    1 = 1
  {%- elif start and not week -%}
    {{ day_col }} between '{{ start }}' and '{{ end }}'
  {%- elif start -%}
    {{ day_col }} >= date_trunc('week', '{{ start }}') and {{ day_col }} < date(date_trunc('week', '{{ end }}'), '+7 days')
  {%- elif not week -%}
    {{ day_col }} >= (select coalesce(date(max(day), '-{{ var('lookback_days') }} days'), '0001-01-01') from {{ this }})
  {%- else -%}
    {{ day_col }} >= (select coalesce(date_trunc('week', date(max(week_start), '-{{ var('lookback_days') }} days')), '0001-01-01') from {{ this }})
  {%- endif -%}
{%- endmacro %}

{#
  The days a data test checks: start_day..end_day when the orchestrator
  passes them (the flagship DAG's models task: the run's {{ ds }}), else
  every day. A per-day build on a backfill's branch then fails only the
  day whose data is wrong, as dbt's `where` test config does for a
  partition (docs/flow.md "The flagship DAG").
#}
{% macro run_days(day_col) -%}
  {%- set start = var('start_day') | string -%}
  {%- set end = (var('end_day') | string) or start -%}
  {%- if start -%}
    {{ day_col }} between '{{ start }}' and '{{ end }}'
  {%- else -%}
    1 = 1
  {%- endif -%}
{%- endmacro %}

{# Rows of a generic test's model whose combination of columns repeats
   (the grain test of every model keyed on more than one column). #}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
