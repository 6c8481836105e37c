select customer_id, total * {{ var('rate') }} as weighted, {{ region() }} as region
from {{ ref('customer_totals') }}
