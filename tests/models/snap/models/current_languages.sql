{{ config(materialized='table') }}
select language, count(*) as repos
from {{ ref('repos_snapshot') }}
where dbt_valid_to is null
group by language
