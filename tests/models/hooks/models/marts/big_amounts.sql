{{ config(
    post_hook=["insert into {{ this }} select id + 100, amount * 10 from {{ this }} where amount > 25",
               "insert into {{ target.schema }}_audit.run_log select count(*) + 1, 'model post', '{{ this }}' from {{ target.schema }}_audit.run_log"]
) }}
select id, amount from {{ ref('stg_amounts') }}
