{{ config(unique_key=['actor_id', 'week_start']) }}
-- Per actor and ISO week: pushes, commits (the rule of int_push_commits),
-- repositories touched, and the rest of what push events carry: branches
-- and tags pushed, active days, first and last push.
with pushes as (
    select *, date_trunc('week', day) as week_start
    from {{ ref('int_push_commits') }}
    where {{ day_window('day', week=true) }}
),

latest_login as (
    select
        actor_id,
        week_start,
        actor_login,
        row_number() over (partition by actor_id, week_start order by created_at desc, push_id desc) as rn
    from pushes
),

weekly as (
    select
        actor_id,
        week_start,
        count(*) as pushes,
        sum(commits) as commits,
        count(distinct repo_id) as repos_touched,
        count(distinct case when ref_type = 'branch' then repo_id || ' ' || ref end) as branches_pushed,
        sum(case when ref_type = 'tag' then 1 else 0 end) as tag_pushes,
        count(distinct day) as active_days,
        min(created_at) as first_push_at,
        max(created_at) as last_push_at
    from pushes
    group by actor_id, week_start
)

select
    w.actor_id,
    l.actor_login,
    w.week_start,
    iso_year(w.week_start) as iso_year,
    iso_week(w.week_start) as iso_week,
    w.pushes,
    w.commits,
    w.repos_touched,
    w.branches_pushed,
    w.tag_pushes,
    w.active_days,
    w.first_push_at,
    w.last_push_at
from weekly as w
join latest_login as l on l.actor_id = w.actor_id and l.week_start = w.week_start and l.rn = 1
