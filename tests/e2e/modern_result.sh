#!/usr/bin/env bash
# dbt's `result:` selector and unit-test selection (issue 19) on
# tests/models/modern_unit:
#  - a build where stg_orders fails (SQL error): run_results.json has it
#    `error` and its downstream `skipped`; after the fix, `-s result:error+
#    --state OLD` selects exactly stg_orders and its downstream (with their
#    data and unit tests, not the seed), `result:skipped` the unit tests,
#    `result:success` the seed;
#  - unit tests are selectable: `test_type:unit` (only unit tests),
#    `test_type:data` (none), `unit_test:NAME`, `MODEL,test_type:unit`,
#    `--exclude test_type:unit`; `kiln ls` lists them as dbt does;
#  - run_results.json has an entry per unit test in dbt's shape
#    (unit_test.<project>.<model>.<name>, pass/fail, the diff as message),
#    valid against dbt's run-results v6 schema (ajv); `result:fail` picks the
#    failed unit test; `kiln retry` after `kiln test` re-runs it;
#  - bad input: result: without --state, an unknown status (exit 2).
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/modern_unit" "$tmp/p"; P="$tmp/p"
K() { "$KILN_BIN" "$@" --project-dir "$P"; }
ids() { python3 -c "import json,sys; [print(r['unique_id'], r['status']) for r in json.load(open(sys.argv[1]))['results']]" "$1" | sort; }
validate() { node "$KILN_ROOT/tests/node/dbt_schema_validate.mjs" "$KILN_ROOT/tests/data/dbt-schemas/run-results-v6.json" "$1" >/dev/null || fail "run_results.json does not validate: $1"; }

K build > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "build"; }
validate "$P/target/run_results.json"
ids "$P/target/run_results.json" > "$tmp/ids1"
grep -qx 'unit_test.modern.customer_totals.totals_csv pass' "$tmp/ids1" || { cat "$tmp/ids1"; fail "unit test result entry"; }
[ "$(grep -c '^unit_test\.' "$tmp/ids1")" = 6 ] || fail "6 unit test results"

# a model error: stg_orders fails, everything downstream is skipped
cp "$P/models/stg_orders.sql" "$tmp/stg.sql"
echo "select nosuchcol from {{ ref('raw_orders') }}" > "$P/models/stg_orders.sql"
set +e; K build > "$tmp/b2.txt"; rc=$?; set -e
[ "$rc" = 1 ] || { cat "$tmp/b2.txt"; fail "build with an error: rc $rc"; }
cp -r "$P/target" "$tmp/s2"
cp "$tmp/stg.sql" "$P/models/stg_orders.sql"
[ "$(K ls -s 'result:error' --resource-type model --state "$tmp/s2")" = "modern.stg_orders" ] || fail "ls result:error"
K ls -s 'result:error+' --resource-type model --state "$tmp/s2" > "$tmp/l1.txt"
[ "$(tr '\n' ' ' < "$tmp/l1.txt")" = "modern.customer_dim modern.customer_report modern.customer_totals modern.orders_incr modern.stg_orders " ] ||
  { cat "$tmp/l1.txt"; fail "ls result:error+"; }
[ "$(K ls -s 'result:skipped' --resource-type unit_test --state "$tmp/s2" | wc -l)" = 6 ] || fail "result:skipped unit tests"
[ "$(K ls -s 'result:success' --state "$tmp/s2")" = "modern.raw_orders" ] || fail "result:success"
K build -s 'result:error+' --state "$tmp/s2" > "$tmp/b3.txt" || { cat "$tmp/b3.txt"; fail "build result:error+"; }
ids "$P/target/run_results.json" > "$tmp/ids3"
[ "$(grep -c '^model\..* success$' "$tmp/ids3") $(grep -c '^unit_test\..* pass$' "$tmp/ids3") $(grep -c '^test\..* pass$' "$tmp/ids3") $(wc -l < "$tmp/ids3")" = "5 6 2 13" ] ||
  { cat "$tmp/ids3"; fail "what result:error+ rebuilt"; }
grep -q '^seed\.' "$tmp/ids3" && fail "result:error+ reloaded the seed"

# unit-test selection
K test -s test_type:unit > "$tmp/t1.txt" || fail "test_type:unit"
grep -q 'Done. PASS=6 WARN=0 ERROR=0 SKIP=0 TOTAL=6$' "$tmp/t1.txt" || { cat "$tmp/t1.txt"; fail "test_type:unit summary"; }
grep -q 'PASS not_null' "$tmp/t1.txt" && fail "test_type:unit ran a data test"
K test -s test_type:data > "$tmp/t2.txt" || fail "test_type:data"
grep -q '::' "$tmp/t2.txt" && fail "test_type:data ran a unit test"
grep -q 'Done. PASS=2 WARN=0 ERROR=0 SKIP=0 TOTAL=2$' "$tmp/t2.txt" || { cat "$tmp/t2.txt"; fail "test_type:data summary"; }
K build -s 'customer_totals,test_type:unit' > "$tmp/t3.txt" || fail "model,test_type:unit"
grep -q 'Done. PASS=3 WARN=0 ERROR=0 SKIP=0 TOTAL=3$' "$tmp/t3.txt" && ! grep -q 'OK created' "$tmp/t3.txt" ||
  { cat "$tmp/t3.txt"; fail "customer_totals,test_type:unit"; }
K test -s unit_test:totals_csv > "$tmp/t4.txt" || fail "unit_test:NAME"
grep -q 'PASS customer_totals::totals_csv' "$tmp/t4.txt" && grep -q 'TOTAL=1$' "$tmp/t4.txt" || { cat "$tmp/t4.txt"; fail "unit_test:NAME"; }
K build -s customer_totals --exclude test_type:unit > "$tmp/t5.txt" || fail "--exclude test_type:unit"
grep -q '::' "$tmp/t5.txt" && fail "--exclude test_type:unit ran a unit test"
[ "$(K ls -s tag:csv)" = "unit_test:modern.customer_totals.totals_csv" ] || fail "ls tag: of a unit test"

# a failing unit test: its result entry (fail, the diff), result:fail, retry
sed -i "s/where status != 'returned'/where status != 'cancelled'/" "$P/models/customer_totals.sql"
set +e; K test -s test_type:unit > "$tmp/t6.txt"; rc=$?; set -e
[ "$rc" = 1 ] || { cat "$tmp/t6.txt"; fail "a failing unit test: rc $rc"; }
validate "$P/target/run_results.json"
python3 - "$P/target/run_results.json" <<'PY' || fail "the failed unit test's entry"
import json, sys
r = {x["unique_id"]: x for x in json.load(open(sys.argv[1]))["results"]}
f = r["unit_test.modern.customer_totals.totals_skip_returned"]
assert f["status"] == "fail" and f["failures"] == 1, f
assert f["message"].startswith("actual differs from expected:") and "---,1,1,10,1000" in f["message"] and "+++,1,2,109,10900" in f["message"], f["message"]
assert "__ut_in_" in f["compiled_code"] or "from" in f["compiled_code"], f["compiled_code"]
assert r["unit_test.modern.customer_totals.totals_csv"]["status"] in ("pass", "fail")
assert r["unit_test.modern.orders_incr.incr_new_rows"]["status"] == "pass" and r["unit_test.modern.orders_incr.incr_new_rows"]["message"] is None
PY
cp -r "$P/target" "$tmp/s3"
[ "$(K ls -s result:fail --state "$tmp/s3")" = "unit_test:modern.customer_totals.totals_skip_returned" ] || fail "ls result:fail"
sed -i "s/where status != 'cancelled'/where status != 'returned'/" "$P/models/customer_totals.sql"
K retry > "$tmp/r1.txt" || { cat "$tmp/r1.txt"; fail "retry of failed unit tests"; }
grep -q 'Retrying [0-9]* unit tests\? of the last test: unit_test:customer_totals.totals_skip_returned' "$tmp/r1.txt" &&
  grep -q 'PASS customer_totals::totals_skip_returned' "$tmp/r1.txt" || { cat "$tmp/r1.txt"; fail "retry output"; }

# bad input
set +e; K ls -s result:error > "$tmp/e1.txt" 2>&1; rc=$?; set -e
[ "$rc" = 2 ] && grep -q 'result: selector needs --state' "$tmp/e1.txt" || { cat "$tmp/e1.txt"; fail "result: without --state: $rc"; }
set +e; K ls -s result:broken --state "$tmp/s3" > "$tmp/e2.txt" 2>&1; rc=$?; set -e
[ "$rc" = 2 ] && grep -q "unknown value 'broken' of selector method 'result'" "$tmp/e2.txt" || { cat "$tmp/e2.txt"; fail "result:broken: $rc"; }
echo "ok: result: and unit-test selection"
