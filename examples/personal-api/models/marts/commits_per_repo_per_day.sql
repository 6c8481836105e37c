{{ config(unique_key=['repo_id', 'day']) }}
-- Pushes and commits per repository and UTC day; repo_name is the name of
-- the day's latest push (repositories get renamed; repo_id is the key).
with pushes as (
    select *
    from {{ ref('int_push_commits') }}
    where {{ day_window('day') }}
),

daily as (
    select repo_id, day, count(*) as pushes, sum(commits) as commits
    from pushes
    group by repo_id, day
),

latest_name as (
    select
        repo_id,
        day,
        repo_name,
        row_number() over (partition by repo_id, day order by created_at desc, push_id desc) as rn
    from pushes
)

select
    d.repo_id,
    n.repo_name,
    d.day,
    d.pushes,
    d.commits
from daily as d
join latest_name as n on n.repo_id = d.repo_id and n.day = d.day and n.rn = 1
