select id, id * 10 as credit from {{ ref('base_customers') }}
