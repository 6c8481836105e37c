{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='day',
          batch_size='month', begin='2025-01-01', lookback=1) }}
select substr(ts, 1, 10) as day, count(*) as events, sum(amount) as amount
from {{ ref('stg_events') }}
group by 1
