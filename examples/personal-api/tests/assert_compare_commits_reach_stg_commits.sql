-- Every commit the compare API returned for a loaded push reaches
-- stg_commits (for that repo and the push's day); the run's days only
-- (run_days), as the other day-level tests.
select c.sha, p.push_id, p.repo_id, p.day
from {{ ref('compare_commits') }} as c
join {{ ref('stg_pushes') }} as p on p.head = cast(c.head as text)
left join {{ ref('stg_commits') }} as s
    on s.repo_id = p.repo_id and s.sha = cast(c.sha as text) and s.day = p.day
where {{ run_days('p.day') }}
  and s.sha is null
