select country, count(*) as customers from {{ ref('eph') }} group by country
