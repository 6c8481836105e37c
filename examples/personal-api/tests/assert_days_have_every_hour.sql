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
select day, hours, (select max(hours) from hours) as expected
from hours
where {{ run_days('day') }}
  and hours < (select max(hours) from hours)
