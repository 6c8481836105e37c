select e.payload as body, t.n from {{ source('raw', 'events') }} as e cross join (select count(*) as n from {{ source('raw', 'events') }}) t
