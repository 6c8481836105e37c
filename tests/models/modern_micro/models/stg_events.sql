{{ config(event_time='ts') }}
select id, ts, amount from {{ ref('raw_events') }}
