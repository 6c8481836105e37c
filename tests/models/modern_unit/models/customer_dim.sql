select customer_id, total,
       case when total > 50 then 'big' else 'small' end as tier
from {{ ref('customer_totals') }}
