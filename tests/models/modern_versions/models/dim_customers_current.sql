select id, first_name, last_name from {{ ref('base_customers') }}
