select id, 'order' as kind, amount from {{ ref('stg_orders') }}
union all
select customer_id, 'customer', 0 from {{ ref('stg_customers') }}
