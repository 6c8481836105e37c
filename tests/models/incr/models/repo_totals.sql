{{ config(materialized='table') }}
select repo, sum(amount) as total
from {{ source('raw', 'events_src') }}
group by repo
