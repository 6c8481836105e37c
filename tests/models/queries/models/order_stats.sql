{%- call statement('stats', fetch_result=True) -%}
  select count(*) as n, max(amount) as top from {{ ref('stg_orders') }}
{%- endcall -%}
{%- set stats = load_result('stats') -%}
{%- if execute -%}
  {%- set n = stats['data'][0][0] -%}
  {%- set top = stats['table'].rows[0][1] -%}
  {%- set names = stats['table'].column_names | join('+') -%}
{%- else -%}
  {%- set n = 0 -%}{%- set top = 0 -%}{%- set names = '' -%}
{%- endif -%}
{%- set shipped = run_query("select count(*) from " ~ ref('stg_orders') ~ " where status = 'shipped'") -%}
select {{ n }} as n_orders, {{ top }} as top_amount, '{{ names }}' as names,
       {{ shipped.rows[0][0] if execute else 0 }} as n_shipped,
       {{ shipped.columns | length if execute else 0 }} as n_cols
