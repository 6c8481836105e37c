-- The repositories' history (SCD type 2, dbt's snapshot columns): each
-- version of a repo's name and language with the time it took effect and
-- the time the next one did (NULL: current).
select
    repo_id,
    full_name,
    coalesce(language, 'Unknown') as language,
    valid_from as dbt_valid_from,
    lead(valid_from) over (partition by repo_id order by valid_from) as dbt_valid_to
from {{ ref('repo_history') }}
