{% snapshot people_history %}
{{ config(unique_key='id', strategy='check', check_cols=['amount']) }}
select id, amount from {{ source('shop_raw', 'people') }}
{% endsnapshot %}
