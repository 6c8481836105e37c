select '{{ var("k") }}' as k, '{{ var("only_global") }}' as g, '{{ var("missing", "dflt") }}' as d,
       '{{ target.name }}' as target_name, '{{ target.schema }}' as target_schema
