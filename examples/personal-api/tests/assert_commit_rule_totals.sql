-- The daily mart holds, per day, exactly the commits the rule gives per push
-- (the run's days: a day loaded but not built yet is not the mart's fault).
with mart as (
    select day, sum(commits) as commits from {{ ref('commits_per_repo_per_day') }} group by day
),
pushes as (
    select day, sum(commits) as commits from {{ ref('int_push_commits') }} group by day
)
select p.day, p.commits as expected, m.commits as actual
from pushes as p
left join mart as m on m.day = p.day
where {{ run_days('p.day') }}
  and (m.commits is null or m.commits != p.commits)
