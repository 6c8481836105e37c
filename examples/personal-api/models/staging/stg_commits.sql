-- One row per commit, repo and day: the commits of the gh-events table
-- (pushes before 2025-10-07 listed theirs) and the commits of the REST
-- compare responses of later pushes, joined to their push by its head. A
-- commit seen in several pushes of a day counts once, for the latest push.
with archive as (
    select repo_id, sha, push_id, substr(created_at, 1, 10) as day, 'archive' as origin
    from {{ source('github', 'commits') }}
),

compare as (
    -- casts: a seed without rows (no pushes after the switch yet) types its
    -- columns as integers
    select p.repo_id, cast(c.sha as text) as sha, p.push_id, p.day, 'compare' as origin
    from {{ ref('compare_commits') }} as c
    join {{ ref('stg_pushes') }} as p on p.head = cast(c.head as text)
),

both_origins as (
    select * from archive
    union all
    select * from compare
),

ranked as (
    select
        *,
        row_number() over (partition by repo_id, sha, day order by push_id desc, origin) as rn
    from both_origins
)

select repo_id, sha, push_id, day, origin
from ranked
where rn = 1
