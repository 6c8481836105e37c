#!/usr/bin/env bash
# run_query / statement / load_result (tests/models/queries): a
# dbt_utils-style macro pivots on the distinct values that run_query finds
# in an upstream model (.columns[0].values()); a `statement` call block
# with fetch_result and load_result(...)['data'][0][0] / ['table'].rows /
# .column_names; run_query(...).rows[0][0]. On a fresh warehouse `build`
# compiles these models right before they run (as dbt does), so their
# queries see the tables built earlier in the same run; a new seed value
# becomes a new pivot column on the next build. A query error in `compile`
# fails with the macro's file:line:column.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cp -r "$KILN_ROOT/tests/models/queries" "$tmp/p"
P="$tmp/p"; W="$P/warehouse"
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { "$KILN_BIN" sql --warehouse "$W" --csv "$1" | tail -n +2 | tr '\n' ' '; }

"$KILN_BIN" build --project-dir "$P" > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "build"; }
grep -q 'Done. PASS=4 WARN=0 ERROR=0 SKIP=0 TOTAL=4' "$tmp/b1.txt" || fail "summary: $(cat "$tmp/b1.txt")"
[ "$(q 'select placed_amount, returned_amount, shipped_amount from analytics.orders_pivot')" = "10,5,27 " ] \
  || fail "pivot: $(q 'select * from analytics.orders_pivot')"
[ "$(q 'select n_orders, top_amount, names, n_shipped, n_cols from analytics.order_stats')" = "4,20,n+top,2,1 " ] \
  || fail "stats: $(q 'select * from analytics.order_stats')"
grep -q "sum(case when status = 'shipped' then amount else 0 end) as shipped_amount" \
  "$P/target/compiled/queries/models/orders_pivot.sql" || fail "compiled pivot"

# a new status in the seed: the next build's pivot has a column for it
printf '5,lost,3\n' >> "$P/seeds/raw_orders.csv"
"$KILN_BIN" build --project-dir "$P" > "$tmp/b2.txt" || { cat "$tmp/b2.txt"; fail "build 2"; }
[ "$(q 'select lost_amount, placed_amount, shipped_amount from analytics.orders_pivot')" = "3,10,27 " ] \
  || fail "pivot after new status: $(q 'select * from analytics.orders_pivot')"
[ "$(q 'select n_orders from analytics.order_stats')" = "5 " ] || fail "stats after new row"

# compile against the warehouse: rendered with the current data
"$KILN_BIN" compile --project-dir "$P" > /dev/null
grep -q "select 5 as n_orders, 20 as top_amount" "$P/target/compiled/queries/models/order_stats.sql" || fail "compile"

# a query error names the macro file and position
sed -i 's/select distinct {{ column }}/select distinct {{ column }} + no_such_col/' "$P/macros/get_column_values.sql"
r=0; "$KILN_BIN" compile --project-dir "$P" > /dev/null 2> "$tmp/e.txt" || r=$?
[ "$r" = 1 ] || fail "bad query: exit $r"
grep -q 'macros/get_column_values.sql:6:[0-9]*: run_query: no such column: no_such_col' "$tmp/e.txt" || fail "message: $(cat "$tmp/e.txt")"
echo "ok models_queries"
