select 1 as id, 'Ann' as first_name, 'Lee' as last_name
union all select 2, 'Bo', 'Kim'
