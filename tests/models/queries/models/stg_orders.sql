select id, status, amount from {{ ref('raw_orders') }}
