-- Commits per push, by the rule of docs/models.md: the payload's
-- distinct_size before var('payload_counts_end'); from that day on the
-- payload has no counts and a push's commits are its rows in stg_commits.
with per_push as (
    select push_id, count(*) as n
    from {{ ref('stg_commits') }}
    group by push_id
)

select
    p.push_id,
    p.repo_id,
    p.repo_name,
    p.actor_id,
    p.actor_login,
    p.ref,
    p.ref_type,
    p.created_at,
    p.day,
    case
        when p.day < '{{ var("payload_counts_end") }}' then coalesce(p.distinct_size, 0)
        else coalesce(c.n, 0)
    end as commits,
    case
        when p.day < '{{ var("payload_counts_end") }}' then 'payload'
        else 'commits_table'
    end as commits_source
from {{ ref('stg_pushes') }} as p
left join per_push as c on c.push_id = p.push_id
