select
  id,
  {{ kiln_utils.generate_surrogate_key(['id', 'last_name']) }} as person_key,
  {{ kiln_utils.full_name('first_name', 'last_name') }} as display_name,
  {{ shop_macros.to_cents('amount') }} as amount_cents
from {{ ref('raw_people') }}
