-- ref('pkgs', 'people'): the root project's model; ref('shop_regions'): this package's seed
select p.id, p.display_name, r.region, p.amount_cents
from {{ ref('pkgs', 'people') }} p
join {{ ref('shop_regions') }} r on r.id = p.id
where p.amount_cents >= {{ var('min_cents') }}
