#!/usr/bin/env bash
# dbt unit tests (`unit_tests:` YAML, dbt 1.8+) on tests/models/modern_unit:
#  - `kiln build` runs each model's unit tests right before the model:
#    dict rows, CSV rows, a CSV fixture file, overrides (vars, macros,
#    is_incremental), an incremental model's new rows and (beyond dbt,
#    config expect_state: final) its final merged table; PASS=14;
#  - manifest.json's unit_tests validate against dbt's schema (ajv);
#  - a bug in a model: its unit test FAILs with a row diff (---/+++), the
#    model and its downstream are SKIPped, the table keeps its snapshot,
#    exit 1; `kiln test -s` runs only that model's unit tests;
#  - `kiln retry` re-runs what the failed build skipped (failing again
#    while the bug is there, passing after the fix, then nothing to do);
#  - `kiln run` runs no unit test; an input not given is an ERROR naming
#    the ref; format sql; a unit test of an unknown model is a YAML error
#    at file:line:col (exit 1).
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/modern_unit" "$tmp/p"; P="$tmp/p"
"$KILN_BIN" build --project-dir "$P" > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "build"; }
grep -q 'Done. PASS=14 WARN=0 ERROR=0 SKIP=0 TOTAL=14$' "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "summary"; }
for t in customer_totals::totals_skip_returned customer_totals::totals_csv customer_totals::totals_fixture_file \
         customer_report::report_overrides orders_incr::incr_new_rows orders_incr::incr_final_state; do
  grep -q "PASS $t \.\.\." "$tmp/b1.txt" || fail "no PASS line for $t"
done
# order: a model's unit tests come right before it
ut=$(grep -n 'PASS customer_totals::totals_skip_returned' "$tmp/b1.txt" | cut -d: -f1)
mo=$(grep -n 'OK created sql table model analytics.customer_totals' "$tmp/b1.txt" | cut -d: -f1)
[ "$ut" -lt "$mo" ] || fail "unit test after its model"
# the real tables (the unit tests' fixtures never reach the warehouse)
[ "$("$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select customer_id, total from analytics.customer_totals order by 1" | tr '\n' ' ')" = "customer_id,total 10,100 20,70 30,20 " ] ||
  fail "customer_totals: $("$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select * from analytics.customer_totals")"
node "$KILN_ROOT/tests/node/dbt_schema_validate.mjs" "$KILN_ROOT/tests/data/dbt-schemas/manifest-v12.json" "$P/target/manifest.json" >/dev/null ||
  fail "manifest.json with unit_tests does not validate"
python3 - "$P/target/manifest.json" <<'PY' || fail "manifest unit_tests"
import json, sys
m = json.load(open(sys.argv[1]))
u = m["unit_tests"]
assert len(u) == 6, sorted(u)
t = u["unit_test.modern.customer_totals.totals_skip_returned"]
assert t["model"] == "customer_totals" and t["resource_type"] == "unit_test", t
assert t["given"][0]["input"] == "ref('stg_orders')" and t["given"][0]["format"] == "dict", t["given"]
assert t["given"][0]["rows"][1] == {"order_id": 2, "customer_id": 1, "amount": 99, "status": "returned"}, t["given"]
assert t["depends_on"]["nodes"] == ["model.modern.customer_totals"], t["depends_on"]
assert t["fqn"] == ["modern", "customer_totals", "totals_skip_returned"], t["fqn"]
assert u["unit_test.modern.customer_totals.totals_csv"]["config"]["tags"] == ["csv"]
assert u["unit_test.modern.customer_report.report_overrides"]["overrides"]["vars"] == {"rate": 10}
assert u["unit_test.modern.orders_incr.incr_final_state"]["config"]["expect_state"] == "final"
PY

snap() { "$KILN_BIN" table describe --warehouse "$P/warehouse" "analytics.$1" | awk '$1 == "current" {print $2}'; }
before=$(snap customer_totals)
# a planted bug: returned orders count again
sed -i "s/where status != 'returned'/where status != 'cancelled'/" "$P/models/customer_totals.sql"
set +e; "$KILN_BIN" build --project-dir "$P" > "$tmp/b2.txt"; rc=$?; set -e
[ "$rc" = 1 ] || { cat "$tmp/b2.txt"; fail "a failing unit test must exit 1, got $rc"; }
grep -q 'FAIL 1 customer_totals::totals_skip_returned' "$tmp/b2.txt" || { cat "$tmp/b2.txt"; fail "no FAIL line"; }
grep -q '^  @@,customer_id,orders,total,total_cents$' "$tmp/b2.txt" || { cat "$tmp/b2.txt"; fail "no diff header"; }
grep -q '^  ---,1,1,10,1000$' "$tmp/b2.txt" || { cat "$tmp/b2.txt"; fail "diff: expected row"; }
grep -q '^  +++,1,2,109,10900$' "$tmp/b2.txt" || { cat "$tmp/b2.txt"; fail "diff: actual row"; }
grep -q '^     ,2,1,5,500$' "$tmp/b2.txt" || { cat "$tmp/b2.txt"; fail "diff: matching row"; }
grep -q 'SKIP relation analytics.customer_totals' "$tmp/b2.txt" || fail "model not skipped"
grep -q 'SKIP customer_report::report_overrides' "$tmp/b2.txt" || fail "downstream unit test not skipped"
grep -q 'SKIP relation analytics.customer_report' "$tmp/b2.txt" || fail "downstream model not skipped"
[ "$(snap customer_totals)" = "$before" ] || fail "the table changed although its unit test failed"
# kiln retry: the nodes the failed build skipped, with the same verb
set +e; "$KILN_BIN" retry --project-dir "$P" > "$tmp/r0.txt"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "Retrying 3 nodes of the last build: customer_totals customer_dim customer_report" "$tmp/r0.txt" ||
  { cat "$tmp/r0.txt"; fail "retry with the bug still there: $rc"; }
sed -i "s/where status != 'cancelled'/where status != 'returned'/" "$P/models/customer_totals.sql"
"$KILN_BIN" retry --project-dir "$P" > "$tmp/r1.txt" || { cat "$tmp/r1.txt"; fail "retry after the fix"; }
grep -q 'PASS customer_totals::totals_skip_returned' "$tmp/r1.txt" && grep -q 'Done. PASS=7 WARN=0 ERROR=0 SKIP=0 TOTAL=7$' "$tmp/r1.txt" ||
  { cat "$tmp/r1.txt"; fail "retry output"; }
"$KILN_BIN" retry --project-dir "$P" | grep -q "^Nothing to retry" || fail "a second retry"
sed -i "s/where status != 'returned'/where status != 'cancelled'/" "$P/models/customer_totals.sql"
set +e; "$KILN_BIN" test --project-dir "$P" -s customer_totals > "$tmp/t1.txt"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q 'Done. PASS=2 WARN=0 ERROR=1 SKIP=0 TOTAL=3$' "$tmp/t1.txt" || { cat "$tmp/t1.txt"; fail "kiln test -s"; }
"$KILN_BIN" run --project-dir "$P" -s orders_incr > "$tmp/r1.txt" || fail "run"
grep -q '::' "$tmp/r1.txt" && fail "kiln run ran unit tests"
sed -i "s/where status != 'cancelled'/where status != 'returned'/" "$P/models/customer_totals.sql"

# an input not given; format sql given
cat >> "$P/models/unit_tests.yml" <<'YML'
  - name: missing_input
    model: customer_report
    given: []
    expect:
      rows: [{customer_id: 1}]
  - name: sql_given
    model: customer_totals
    given:
      - input: ref('stg_orders')
        format: sql
        rows: select 4 as order_id, 8 as customer_id, 2.5 as amount, 'placed' as status
    expect:
      rows: [{customer_id: 8, total: 2.5}]
YML
set +e; "$KILN_BIN" test --project-dir "$P" > "$tmp/t2.txt"; rc=$?; set -e
[ "$rc" = 1 ] || { cat "$tmp/t2.txt"; fail "missing input must fail"; }
grep -q "ERROR customer_report::missing_input" "$tmp/t2.txt" || { cat "$tmp/t2.txt"; fail "no ERROR line"; }
grep -q "gives no input for ref('customer_totals')" "$tmp/t2.txt" || { cat "$tmp/t2.txt"; fail "error message"; }
grep -q "PASS customer_totals::sql_given" "$tmp/t2.txt" || { cat "$tmp/t2.txt"; fail "format sql"; }
printf '  - name: nope\n    model: no_such_model\n    given: []\n    expect: {rows: []}\n' >> "$P/models/unit_tests.yml"
set +e; "$KILN_BIN" test --project-dir "$P" > "$tmp/t3.txt" 2>&1; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "models/unit_tests.yml:[0-9]*:[0-9]*: unit test 'nope': no model named 'no_such_model'" "$tmp/t3.txt" ||
  { cat "$tmp/t3.txt"; fail "unknown model: rc $rc"; }
echo "modern_unit: ok"
