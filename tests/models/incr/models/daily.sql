{{ config(unique_key='day') }}
select day, count(*) as n, sum(amount) as total
from {{ ref('events') }}
{% if is_incremental() %}
where day >= (select max(day) from {{ this }})
{% endif %}
group by day
