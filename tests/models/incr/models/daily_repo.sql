{{ config(unique_key=['day', 'repo'], incremental_strategy='merge') }}
select day, repo, count(*) as n, sum(amount) as total
from {{ ref('events') }}
{% if is_incremental() %}
where day >= (select max(day) from {{ this }})
{% endif %}
group by day, repo
