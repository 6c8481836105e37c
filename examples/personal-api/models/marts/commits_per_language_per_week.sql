{{ config(unique_key=['week_start', 'language']) }}
-- Commits per language and ISO week (weeks start on Monday). A repo's
-- language is the one in effect at the end of the week (stg_repos, the
-- history of the REST metadata); repos without one count as 'Unknown'.
with days as (
    select *
    from {{ ref('commits_per_repo_per_day') }}
    where {{ day_window('day', week=true) }}
),

repo_weeks as (
    select
        repo_id,
        date_trunc('week', day) as week_start,
        sum(pushes) as pushes,
        sum(commits) as commits
    from days
    group by repo_id, date_trunc('week', day)
),

with_language as (
    select
        w.*,
        coalesce(r.language, 'Unknown') as language
    from repo_weeks as w
    left join {{ ref('stg_repos') }} as r
        on r.repo_id = w.repo_id
        and r.dbt_valid_from < date(w.week_start, '+7 days')
        and (r.dbt_valid_to is null or r.dbt_valid_to >= date(w.week_start, '+7 days'))
)

select
    week_start,
    iso_year(week_start) as iso_year,
    iso_week(week_start) as iso_week,
    language,
    count(*) as repos,
    sum(pushes) as pushes,
    sum(commits) as commits
from with_language
group by week_start, language
