select c.id, c.first_name, f.credit, o.full_name
from {{ ref('dim_customers') }} c
join {{ ref('finance_internal') }} f on f.id = c.id
join {{ ref('dim_customers', v=1) }} o on o.id = c.id
