-- One row per push, with its UTC day and the kind of ref it moved.
select
    push_id,
    event_id,
    repo_id,
    repo_name,
    actor_id,
    actor_login,
    org_login,
    ref,
    case
        when ref like 'refs/heads/%' then 'branch'
        when ref like 'refs/tags/%' then 'tag'
        else 'other'
    end as ref_type,
    head,
    "before" as before_sha,
    distinct_size,
    created_at,
    substr(created_at, 1, 10) as day
from {{ source('github', 'pushes') }}
