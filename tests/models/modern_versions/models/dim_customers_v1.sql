select id, first_name || ' ' || last_name as full_name from {{ ref('base_customers') }}
