select region, count(*) as spenders from {{ ref('shop_marts', 'big_spenders') }} group by region
