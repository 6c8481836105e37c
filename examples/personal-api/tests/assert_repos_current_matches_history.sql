-- The repos endpoint's current name and language (the snapshot's current
-- rows) equal the last version of the API's history (stg_repos).
select s.repo_id, s.full_name, s.language, r.full_name as history_name, r.language as history_language
from {{ ref('repos_snapshot') }} as s
left join {{ ref('stg_repos') }} as r on r.repo_id = s.repo_id and r.dbt_valid_to is null
where s.dbt_valid_to is null
  and (r.repo_id is null or r.full_name != s.full_name or r.language != s.language)
