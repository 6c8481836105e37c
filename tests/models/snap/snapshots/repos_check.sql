{% snapshot repos_lang_history %}
{{ config(unique_key='id', strategy='check', check_cols=['language']) }}
select id, name, language from {{ ref('repos') }}
{% endsnapshot %}
