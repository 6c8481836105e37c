-- Every loaded day has pushes in as many hours as the most complete day:
-- GH Archive publishes one file per hour, so a day short of hours is a day
-- whose hour file never arrived (or arrived empty). The run's days only
-- (run_days): the day with the gap fails, not every build after it. A
-- warning for an ad-hoc build; the flagship DAG makes it an error
-- (vars: missing_hour_severity), so a day with a gap is never published.
{{ config(severity=var('missing_hour_severity')) }}
with hours as (
    select day, count(distinct substr(created_at, 12, 2)) as hours
    from {{ ref('stg_pushes') }}
    group by day
)
{#- hours_per_day (the DAG passes 24, GH Archive's): a fixed count, so a day
    built before the other days are loaded is judged the same; unset (0): the
    most complete loaded day's count -#}
{%- set want = var('hours_per_day', 0) | int -%}
select day, hours, {{ want if want > 0 else '(select max(hours) from hours)' }} as expected
from hours
where {{ run_days('day') }}
  and hours < {{ want if want > 0 else '(select max(hours) from hours)' }}
