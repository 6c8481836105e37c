-- a package model over the package's own source
select count(*) as people, sum(amount) as amount from {{ source('shop_raw', 'people') }}
