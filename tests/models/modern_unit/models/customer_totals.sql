select customer_id, count(*) as orders, sum(amount) as total, {{ cents('sum(amount)') }} as total_cents
from {{ ref('stg_orders') }}
where status != 'returned'
group by customer_id
