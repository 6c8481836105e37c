with o as (
    select customer_id, sum(amount) as total, count(*) as n
    from {{ ref('stg_orders') }}
    where status != 'returned'   -- picks rows: not lineage
    group by customer_id
),
c as (select * from {{ ref('stg_customers') }})
select
    c.customer_id,
    c.customer_name as name,
    coalesce(o.total, 0) as lifetime_value,
    o.n as orders,
    (select max(s.amount) from {{ ref('stg_orders') }} as s where s.customer_id = c.customer_id) as biggest,
    cast(c.customer_id as text) as "Customer Key"
from c
left join o on o.customer_id = c.customer_id
