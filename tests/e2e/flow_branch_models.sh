#!/usr/bin/env bash
# kiln dags backfill --branch with a models.build task: the command task
# writes the source table on the branch, the models build reads it there and
# writes its seed and model tables on the branch, the models' data tests are
# the gate. A planted failing test: main untouched on every table, the branch
# kept, the on_failure alert fires. Then a passing run: main fast-forwarded
# to the branch on every touched table (the source, the seed, the model).
source "$(dirname "$0")/flow_lib.bash"
export PATH="$(dirname "$KILN_BIN"):$PATH"
S() { "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "$@" | tail -n +2; }
mkdir -p "$P/models" "$P/seeds" "$P/tests"
cat > "$P/dbt_project.yml" <<'YML'
name: shop
version: "1.0"
profile: shop
YML
cat > "$P/profiles.yml" <<'YML'
shop:
  target: dev
  outputs:
    dev: {type: kiln, warehouse: warehouse, schema: analytics, threads: 1}
YML
cat > "$P/models/sources.yml" <<'YML'
version: 2
sources:
  - name: raw
    tables: [{name: orders}]
YML
printf 'region,name\neu,Europe\nus,America\n' > "$P/seeds/regions.csv"
cat > "$P/models/daily.sql" <<'SQL'
{{ config(materialized='table') }}
select o.day, r.name as region, sum(o.amount) as amount, count(*) as orders
from {{ source('raw', 'orders') }} o join {{ ref('regions') }} r on r.region = o.region
group by o.day, r.name
SQL
# the planted failing test: no day may sell more than 100
cat > "$P/tests/no_big_days.sql" <<'SQL'
select * from {{ ref('daily') }} where amount > 100
SQL
cat > "$P/kiln.yml" <<YML
flow:
  lineage: {file: .kiln/lineage.ndjson}
alerts:
  note: {type: command, command: [sh, -c, 'echo "\$KILN_ALERT_EVENT \$KILN_ALERT_MESSAGE" >> "\$0"', "$P/alerts.txt"]}
YML
cat > "$P/dags/shop.yml" <<'YML'
schedule: "@daily"
start_date: 2025-03-01
max_active_runs: 1
on_failure: [note]
tasks:
  load:
    type: command
    command: [kiln, sql, --warehouse, warehouse, -c,
      "insert into raw.\"orders@{{ branch }}\" values ('{{ ds }}', 'eu', {{ 40 if ds != '2025-03-03' else 400 }})"]
  build:
    type: models.build
    needs: [load]
YML
# day 0 on main: the tables exist (a build on a branch writes existing tables)
S -c "create table raw.orders (day string, region string, amount bigint)" >/dev/null
S -c "insert into raw.orders values ('2025-02-28', 'us', 10)" >/dev/null
(cd "$P" && "$KILN_BIN" build >/dev/null) || fail "build on main"
want "$(S "select day, region, amount from analytics.daily")" "2025-02-28,America,10" "main after day 0"
heads() { for t in raw.orders analytics.regions analytics.daily; do
  "$KILN_BIN" table --warehouse "$P/warehouse" branch "$t" | awk -v r="$1" '$1 == r {printf "%s ", $2}'; done; }
main0="$(heads main)"

# days 1-3 on branch bf: day 3 sells 400, the planted test fails on the branch
expect_rc 6 K dags backfill shop --start 2025-03-01 --end 2025-03-03 --branch bf
grep -q "backfill on branch 'bf': 1 run(s) failed; main left untouched, the branch kept on 3 table(s)" <<<"$OUT" ||
  fail "failed branch backfill: $OUT"
want "$(state shop build 2025-03-03)" failed "day 3's build"
grep -q "FAIL 1 no_big_days" "$P/.kiln/logs/shop/2025-03-03T00:00:00Z/build.try-1.log" || fail "the test is the gate"
want "$(heads main)" "$main0" "main's heads untouched"
want "$(S "select count(*) from analytics.daily")" 1 "main's daily still day 0"
want "$(S "select count(*) from raw.orders")" 1 "main's orders still day 0"
want "$(S "select group_concat(day || ':' || amount, ' ') from (select * from analytics.\"daily@bf\" order by day)")" \
  "2025-02-28:10 2025-03-01:40 2025-03-02:40 2025-03-03:400" "the branch's daily (built from the branch's orders)"
for i in $(seq 100); do grep -qs "backfill on branch 'bf'" "$P/alerts.txt" && break; sleep 0.1; done
grep -qs "^failure backfill on branch 'bf': 1 run(s) failed; main left untouched" "$P/alerts.txt" ||
  fail "alert: $(cat "$P/alerts.txt" "$P/.kiln/alerts.ndjson" 2>&1)"

# fix the test's threshold and re-run the failed day: swap-in on all 3 tables
sed -i 's/> 100/> 1000/' "$P/tests/no_big_days.sql"
expect_rc 0 K dags backfill shop --start 2025-03-01 --end 2025-03-03 --branch bf --rerun failed
grep -q "branch 'bf': every run succeeded; swapped in on 3 table(s)" <<<"$OUT" || fail "swap: $OUT"
want "$(heads main)" "$(heads bf)" "main fast-forwarded to bf on every table"
[ "$(heads main)" != "$main0" ] || fail "main moved"
want "$(S "select group_concat(day || ':' || amount, ' ') from (select * from analytics.daily order by day)")" \
  "2025-02-28:10 2025-03-01:40 2025-03-02:40 2025-03-03:400" "main's daily after the swap"
want "$(S "select count(*) from raw.orders")" 4 "main's orders after the swap"

# OpenLineage: each successful models.build COMPLETE names the model tables
# with their schema and column lineage (from the models layer), valid
# against the published schemas
f="$P/.kiln/lineage.ndjson"
node "$KILN_ROOT/tests/node/openlineage_validate.mjs" "$f" >/dev/null || fail "lineage schema"
ev="$(jq -c 'select(.job.name == "shop.build" and .eventType == "COMPLETE")' "$f" | tail -1)"
[ -n "$ev" ] || fail "no COMPLETE of build"
d="$(echo "$ev" | jq -c '.outputs[] | select(.name == "analytics.daily")')"
want "$(echo "$d" | jq -r .namespace)" "iceberg://warehouse" "dataset namespace"
want "$(echo "$d" | jq -r '[.facets.schema.fields[].name] | join(",")')" "day,region,amount,orders" "schema facet"
want "$(echo "$d" | jq -r '.facets.columnLineage.fields.day.inputFields | map(.name + "." + .field + " " + .transformations[0].subtype) | join(";")')" \
  "raw.orders.day IDENTITY" "day's lineage"
want "$(echo "$d" | jq -r '.facets.columnLineage.fields.region.inputFields | map(.name + "." + .field) | join(";")')" \
  "analytics.regions.name" "region's lineage"
want "$(echo "$d" | jq -r '.facets.columnLineage.fields.amount.inputFields | map(.name + "." + .field + " " + .transformations[0].subtype) | join(";")')" \
  "raw.orders.amount TRANSFORMATION" "amount's lineage"
[ "$(jq -c 'select(.job.name == "shop.build" and .eventType == "FAIL") | .outputs' "$f" | sort -u)" = "[]" ] ||
  fail "a failed build reports no outputs"
echo "flow_branch_models: ok"
