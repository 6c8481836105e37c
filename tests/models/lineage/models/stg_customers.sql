select id as customer_id, name as customer_name, upper(country) country from {{ ref('customers') }}
