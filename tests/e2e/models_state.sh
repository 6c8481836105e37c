#!/usr/bin/env bash
# state: selection against a previous run's manifest (--state DIR):
#  - nothing changed: state:modified selects nothing, a build of it runs nothing;
#  - a model's SQL edited, another's config changed, a new model, a generic
#    test's arguments changed: state:modified (and .body / .configs),
#    state:new, state:old / unmodified pick exactly those;
#  - `kiln build -s state:modified+ --state prev` rebuilds the modified
#    nodes and what is downstream (with their tests), and leaves the other
#    tables at their snapshot (Iceberg snapshot ids unchanged);
#  - state: without --state, or with a directory without manifest.json, is
#    an error; an unknown state: value too.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/jaffle" "$tmp/p"; P="$tmp/p"
"$KILN_BIN" build --project-dir "$P" > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "build"; }
cp -r "$P/target" "$tmp/prev"
ls_() { "$KILN_BIN" ls --project-dir "$P" --state "$tmp/prev" "$@"; }
[ -z "$(ls_ -s state:modified)" ] || fail "unchanged project has modified nodes: $(ls_ -s state:modified)"
[ "$(ls_ -s state:unmodified --resource-type model | wc -l)" = 5 ] || fail "unmodified models"
"$KILN_BIN" build --project-dir "$P" -s state:modified+ --state "$tmp/prev" > "$tmp/b0.txt" || fail "empty build"
grep -q 'TOTAL=0$' "$tmp/b0.txt" || { cat "$tmp/b0.txt"; fail "an unchanged project rebuilt something"; }

snap() { "$KILN_BIN" table describe --warehouse "$P/warehouse" "analytics.$1" | awk '$1 == "current" {print $2}'; }
vsnap() { ls "$P/warehouse/analytics/.views/$1/metadata" | sort | tail -1; } # a view model: its latest version
before_cust=$(snap customers); before_stg_pay=$(vsnap stg_payments); before_orders=$(snap orders)

# edits: stg_orders' SQL (body), customers' config (tags, in schema.yml), a new model,
# accepted_values on stg_payments with another list (the test's arguments)
printf '\n-- reviewed\n' >> "$P/models/staging/stg_orders.sql"
sed -i 's/^  - name: customers$/  - name: customers\n    config:\n      tags: [finance]/' "$P/models/schema.yml"
grep -q 'tags: \[finance\]' "$P/models/schema.yml" || fail "fixture edit (config) did not apply"
echo "select count(*) as n from {{ ref('orders') }}" > "$P/models/order_count.sql"
sed -i "s/values: \['credit_card', 'coupon', 'bank_transfer', 'gift_card'\]/values: ['credit_card', 'coupon', 'bank_transfer', 'gift_card', 'cash']/" \
  "$P/models/staging/schema.yml"
grep -q "'cash'" "$P/models/staging/schema.yml" || fail "fixture edit did not apply"

[ "$(ls_ -s state:modified --resource-type model)" = "$(printf 'jaffle_shop.customers\njaffle_shop.order_count\njaffle_shop.staging.stg_orders')" ] ||
  fail "state:modified models: $(ls_ -s state:modified --resource-type model)"
[ "$(ls_ -s state:modified.body --resource-type model)" = "$(printf 'jaffle_shop.order_count\njaffle_shop.staging.stg_orders')" ] ||
  fail "state:modified.body: $(ls_ -s state:modified.body --resource-type model)"
[ "$(ls_ -s state:modified.configs --resource-type model)" = "$(printf 'jaffle_shop.customers\njaffle_shop.order_count')" ] ||
  fail "state:modified.configs (a new node counts as modified, as in dbt): $(ls_ -s state:modified.configs --resource-type model)"
# the accepted_values test's name holds its values, so with another list it is a new node (as in dbt)
[ "$(ls_ -s state:new)" = "$(printf 'jaffle_shop.order_count\njaffle_shop.accepted_values_stg_payments_payment_method__credit_card__coupon__bank_transfer__gift_card__cash')" ] ||
  fail "state:new: $(ls_ -s state:new)"
ls_ -s state:modified --resource-type test | grep -q 'accepted_values_stg_payments_payment_method' || fail "changed test arguments"
ls_ -s state:old | grep -q order_count && fail "state:old lists the new model"

"$KILN_BIN" build --project-dir "$P" -s state:modified+ --state "$tmp/prev" > "$tmp/b2.txt" || { cat "$tmp/b2.txt"; fail "state build"; }
for want in 'OK created sql view model analytics.stg_orders' 'OK created sql table model analytics.customers' \
            'OK created sql table model analytics.orders' 'OK created sql table model analytics.order_count' \
            'PASS accepted_values_stg_payments_payment_method'; do
  grep -q "$want" "$tmp/b2.txt" || { cat "$tmp/b2.txt"; fail "missing: $want"; }
done
grep -q 'stg_payments \|stg_customers \|loaded seed' "$tmp/b2.txt" && { cat "$tmp/b2.txt"; fail "rebuilt an unmodified node"; }
[ "$(vsnap stg_payments)" = "$before_stg_pay" ] || fail "stg_payments got a new view version"
[ "$(snap customers)" != "$before_cust" ] && [ "$(snap orders)" != "$before_orders" ] || fail "modified tables not rebuilt"

set +e
"$KILN_BIN" ls --project-dir "$P" -s state:modified > "$tmp/e1.txt" 2>&1; r1=$?
"$KILN_BIN" ls --project-dir "$P" -s state:modified --state "$tmp/nowhere" > "$tmp/e2.txt" 2>&1; r2=$?
"$KILN_BIN" ls --project-dir "$P" -s state:sideways --state "$tmp/prev" > "$tmp/e3.txt" 2>&1; r3=$?
set -e
[ "$r1" = 2 ] && grep -q 'needs --state DIR' "$tmp/e1.txt" || { cat "$tmp/e1.txt"; fail "state: without --state"; }
[ "$r2" = 1 ] && grep -q "cannot read $tmp/nowhere/manifest.json" "$tmp/e2.txt" || { cat "$tmp/e2.txt"; fail "missing manifest"; }
[ "$r3" = 2 ] && grep -q "state:sideways" "$tmp/e3.txt" || { cat "$tmp/e3.txt"; fail "unknown state value"; }
echo "models_state: ok"
