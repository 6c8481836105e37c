#!/usr/bin/env bash
# A dbt project in the classic tutorial shape (tests/models/jaffle): kiln ls
# lists its 5 models, 3 seeds and 20 tests with dbt's test names; selection
# methods and graph operators pick the right nodes; kiln compile writes the
# rendered SQL (refs resolved, macros and loops expanded, vars applied).
# Broken projects (YAML error, Jinja syntax error, unknown ref, cycle,
# missing profile) fail with file:line:column and the right exit code.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cp -r "$KILN_ROOT/tests/models/jaffle" "$tmp/p"
P="$tmp/p"
fail() { echo "FAIL: $*" >&2; exit 1; }

# ls: every node, dbt's selector form
"$KILN_BIN" ls --project-dir "$P" > "$tmp/ls.txt"
[ "$(wc -l < "$tmp/ls.txt")" -eq 28 ] || fail "ls lists $(wc -l < "$tmp/ls.txt") nodes, want 28"
grep -qx 'jaffle_shop.staging.stg_orders' "$tmp/ls.txt" || fail "no staging fqn"
grep -qx 'jaffle_shop.relationships_orders_customer_id__customer_id__ref_customers_' "$tmp/ls.txt" || fail "relationships test name"
grep -qx 'jaffle_shop.accepted_values_stg_payments_payment_method__credit_card__coupon__bank_transfer__gift_card' "$tmp/ls.txt" \
  || fail "accepted_values test name"
[ "$(grep -c '^jaffle_shop\.\(not_null\|unique\|accepted_values\|relationships\)_' "$tmp/ls.txt")" -eq 20 ] || fail "want 20 tests"

sel() { "$KILN_BIN" ls --project-dir "$P" --resource-type "model seed" --output name -s "$1" | sort | tr '\n' ' '; }
[ "$(sel '+orders')" = "orders raw_orders raw_payments stg_orders stg_payments " ] || fail "+orders: $(sel '+orders')"
[ "$(sel 'stg_orders+')" = "customers orders stg_orders " ] || fail "stg_orders+: $(sel 'stg_orders+')"
[ "$(sel '1+customers')" = "customers stg_customers stg_orders stg_payments " ] || fail "1+customers"
[ "$(sel 'tag:staging')" = "stg_customers stg_orders stg_payments " ] || fail "tag:"
[ "$(sel 'config.materialized:table')" = "customers orders " ] || fail "config.materialized:"
[ "$(sel 'path:models/staging')" = "stg_customers stg_orders stg_payments " ] || fail "path:"
[ "$(sel 'staging,config.materialized:view')" = "stg_customers stg_orders stg_payments " ] || fail "intersection"
[ "$(sel 'customers orders')" = "customers orders " ] || fail "union"
[ "$(sel '@stg_customers')" = "customers orders raw_customers raw_orders raw_payments stg_customers stg_orders stg_payments " ] || fail "@"
[ "$("$KILN_BIN" ls --project-dir "$P" --output name -s orders --exclude 'resource_type:test' | tr '\n' ' ')" = "orders " ] || fail "--exclude"
# eager indirect selection: selecting a model brings its tests
[ "$("$KILN_BIN" ls --project-dir "$P" -s stg_customers --resource-type test --output name | wc -l)" -eq 2 ] || fail "indirect tests"

# compile: rendered SQL on disk
(cd "$P" && "$KILN_BIN" compile) > "$tmp/compile.txt"
grep -q 'Found 5 models, 3 seeds, 20 data tests, 0 sources' "$tmp/compile.txt" || fail "compile summary: $(cat "$tmp/compile.txt")"
C="$P/target/compiled/jaffle_shop"
grep -q "sum(case when payment_method = 'gift_card' then amount else 0 end) as gift_card_amount," "$C/models/orders.sql" || fail "for loop"
grep -q 'from analytics.stg_orders' "$C/models/orders.sql" || fail "ref"
grep -q 'round(amount / 100.0, 2) as amount' "$C/models/staging/stg_payments.sql" || fail "macro"
grep -q 'where id > 0' "$C/models/staging/stg_orders.sql" || fail "var"
grep -q "from analytics.customers" "$C/models/schema.yml/relationships_orders_customer_id__customer_id__ref_customers_.sql" || fail "test kwargs ref"
grep -q "'return_pending','returned'" "$C/models/schema.yml/accepted_values_orders_status__placed__shipped__completed__return_pending__returned.sql" \
  || fail "accepted_values SQL"
# --vars overrides the project's vars
"$KILN_BIN" compile --project-dir "$P" --vars '{min_order_id: 3}' -s stg_orders > /dev/null
grep -q 'where id > 3' "$C/models/staging/stg_orders.sql" || fail "--vars"

# broken projects: each fails with a position and leaves no compiled output
expect_fail() { # want-rc want-message-regex
  local want_rc="$1" want="$2" rc=0
  "$KILN_BIN" compile --project-dir "$B" > "$tmp/out" 2> "$tmp/err" || rc=$?
  [ "$rc" -eq "$want_rc" ] || fail "rc $rc (want $want_rc): $(cat "$tmp/err")"
  grep -qE "$want" "$tmp/err" || fail "message: $(cat "$tmp/err") (want /$want/)"
}
fresh() { rm -rf "$tmp/b"; cp -r "$KILN_ROOT/tests/models/jaffle" "$tmp/b"; B="$tmp/b"; }
fresh; printf 'models:\n  - name: x\n   bad: [\n' > "$B/models/bad.yml"
expect_fail 1 'models/bad.yml:[0-9]+:[0-9]+: '
fresh; printf 'select {{ ref("stg_orders") \n' > "$B/models/broken.sql"
expect_fail 1 'models/broken.sql:1:[0-9]+: '
fresh; printf 'select 1\n\n  from {{ ref("nope") }}\n' > "$B/models/unknown_ref.sql"
expect_fail 1 "models/unknown_ref.sql:3:11: model 'unknown_ref' depends on a node named 'nope' which was not found"
fresh; printf 'select * from {{ ref("cyc_b") }}\n' > "$B/models/cyc_a.sql"; printf 'select * from {{ ref("cyc_a") }}\n' > "$B/models/cyc_b.sql"
expect_fail 1 'found a cycle: model.jaffle_shop.cyc_[ab] --> model.jaffle_shop.cyc_[ab] --> model.jaffle_shop.cyc_[ab]'
fresh; sed -i 's/type: kiln/type: postgres/' "$B/profiles.yml"
expect_fail 3 'profiles.yml:[0-9]+:[0-9]+: target .dev. has type .postgres.'
fresh; sed -i 's/- unique$/- uniq/' "$B/models/schema.yml"
expect_fail 1 "models/schema.yml:[0-9]+:[0-9]+: unknown test 'uniq'"
fresh; printf '{{ var("missing_var") }}\n' > "$B/models/v.sql"
expect_fail 1 "models/v.sql:1:4: Required var 'missing_var' not found"
# require-dbt-version: the jaffle project's [">=1.0.0", "<2.0.0"] holds for dbt 1.8; these do not
fresh; sed -i 's/^require-dbt-version: .*/require-dbt-version: [">=1.0.0", ">=1.9.0"]/' "$B/dbt_project.yml"
expect_fail 1 'dbt_project.yml:5:34: this project requires dbt version >=1.9.0; kiln runs projects as dbt 1.8.0 does'
fresh; sed -i 's/^require-dbt-version: .*/require-dbt-version: "about 1.8"/' "$B/dbt_project.yml"
expect_fail 1 "dbt_project.yml:5:22: require-dbt-version: 'about 1.8' is not a version constraint"
# profiles.yml values rendered with env_var(), as dbt renders them
fresh; sed -i "s/schema: analytics/schema: \"{{ env_var('KILN_T_SCHEMA', 'analytics') }}\"/; s/threads: 1/threads: \"{{ env_var('KILN_T_THREADS') }}\"/" "$B/profiles.yml"
KILN_T_SCHEMA=from_env KILN_T_THREADS=2 "$KILN_BIN" compile --project-dir "$B" > /dev/null 2> "$tmp/err" || fail "env_var profile: $(cat "$tmp/err")"
grep -q 'from_env.stg_orders' "$B/target/compiled/jaffle_shop/models/orders.sql" || fail "env_var schema not used"
KILN_T_THREADS=2 "$KILN_BIN" compile --project-dir "$B" > /dev/null 2> "$tmp/err" || fail "env_var default: $(cat "$tmp/err")"
grep -q 'analytics.stg_orders' "$B/target/compiled/jaffle_shop/models/orders.sql" || fail "env_var default not used"
expect_fail 3 "profiles.yml:8:20: Env var required but not provided: 'KILN_T_THREADS'"
rc=0; "$KILN_BIN" compile --project-dir "$tmp/nowhere" 2> "$tmp/err" || rc=$?
[ "$rc" -eq 4 ] || fail "no project: rc $rc"
echo "ok"
