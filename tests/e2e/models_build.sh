#!/usr/bin/env bash
# kiln seed/run/test/build on the tutorial-shaped project (tests/models/jaffle):
#  - build runs 3 seeds, 5 models and 20 tests in dbt's order: Done. PASS=28;
#  - the tables hold what an independent computation over the seed CSVs
#    (Python) gives;
#  - a second run replaces the tables (same result);
#  - a failing test on a staging model skips everything downstream of it
#    (SKIP), the rest still runs, exit 1;
#  - a model with an SQL error reports the model and file, exit 1, and the
#    table it would replace keeps its previous content.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/jaffle" "$tmp/p"; P="$tmp/p"

"$KILN_BIN" build --project-dir "$P" > "$tmp/build.txt" || { cat "$tmp/build.txt"; fail "build failed"; }
grep -q '^Done. PASS=28 WARN=0 ERROR=0 SKIP=0 TOTAL=28$' "$tmp/build.txt" || { cat "$tmp/build.txt"; fail "not PASS=28"; }
grep -q 'Finished running 3 seeds, 3 view models, 20 data tests, 2 table models' "$tmp/build.txt" || fail "summary line"
# dbt's order: seeds, staging models, their tests, then the marts
[ "$(grep -n 'OK created sql table model analytics.customers' "$tmp/build.txt" | cut -d: -f1)" -gt \
  "$(grep -n 'PASS unique_stg_payments_payment_id' "$tmp/build.txt" | cut -d: -f1)" ] || fail "order"

q() { "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "$1"; }
q "select order_id, customer_id, order_date, status, credit_card_amount, coupon_amount, bank_transfer_amount, gift_card_amount, amount from analytics.orders order by order_id" > "$tmp/orders.csv"
q "select customer_id, first_name, first_order, most_recent_order, number_of_orders, customer_lifetime_value from analytics.customers order by customer_id" > "$tmp/customers.csv"
python3 - "$P/seeds" "$tmp" <<'PY'
import csv, sys, os
seeds, tmp = sys.argv[1], sys.argv[2]
rd = lambda f: list(csv.DictReader(open(os.path.join(seeds, f), newline='')))
cust, orders, pays = rd("raw_customers.csv"), rd("raw_orders.csv"), rd("raw_payments.csv")
methods = ["credit_card", "coupon", "bank_transfer", "gift_card"]
def num(x):
    return repr(float(x))
want = [["order_id","customer_id","order_date","status"] + [m + "_amount" for m in methods] + ["amount"]]
for o in sorted(orders, key=lambda o: int(o["id"])):
    ps = [p for p in pays if p["order_id"] == o["id"]]
    amt = {m: sum(round(int(p["amount"]) / 100.0, 2) for p in ps if p["payment_method"] == m) for m in methods}
    want.append([o["id"], o["user_id"], o["order_date"], o["status"]] + [num(amt[m]) for m in methods] + [num(sum(amt.values()))])
got = list(csv.reader(open(os.path.join(tmp, "orders.csv"))))
assert got == want, f"orders differ:\n{got}\n{want}"
wantc = [["customer_id","first_name","first_order","most_recent_order","number_of_orders","customer_lifetime_value"]]
for c in sorted(cust, key=lambda c: int(c["id"])):
    os_ = [o for o in orders if o["user_id"] == c["id"]]
    ps = [p for p in pays if any(o["id"] == p["order_id"] for o in os_)]
    clv = sum(round(int(p["amount"]) / 100.0, 2) for p in ps)
    wantc.append([c["id"], c["first_name"], min(o["order_date"] for o in os_), max(o["order_date"] for o in os_),
                  str(len(os_)), num(clv)])
gotc = list(csv.reader(open(os.path.join(tmp, "customers.csv"))))
assert gotc == wantc, f"customers differ:\n{gotc}\n{wantc}"
PY

# artifacts: manifest.json (v12 top level, nodes, maps) and run_results.json (v6)
python3 - "$P/target" <<'PY'
import json, sys, os
t = sys.argv[1]
m = json.load(open(os.path.join(t, "manifest.json")))
want_top = {"metadata", "nodes", "sources", "macros", "docs", "exposures", "metrics", "groups", "selectors", "disabled",
            "parent_map", "child_map", "group_map", "saved_queries", "semantic_models", "unit_tests"}
assert set(m) == want_top, set(m) ^ want_top
assert m["metadata"]["dbt_schema_version"] == "https://schemas.getdbt.com/dbt/manifest/v12.json"
assert m["metadata"]["project_name"] == "jaffle_shop"
nodes = m["nodes"]
kinds = sorted(n["resource_type"] for n in nodes.values())
assert kinds.count("model") == 5 and kinds.count("seed") == 3 and kinds.count("test") == 20, kinds
req = {"database", "schema", "name", "resource_type", "package_name", "path", "original_file_path", "unique_id", "fqn",
       "alias", "checksum"}
for uid, n in nodes.items():
    assert req <= set(n), (uid, req - set(n))
    assert n["unique_id"] == uid
o = nodes["model.jaffle_shop.orders"]
assert o["fqn"] == ["jaffle_shop", "orders"] and o["config"]["materialized"] == "table"
assert o["relation_name"] == "analytics.orders"
assert sorted(o["depends_on"]["nodes"]) == ["model.jaffle_shop.stg_orders", "model.jaffle_shop.stg_payments"]
assert {r["name"] for r in o["refs"]} == {"stg_orders", "stg_payments"}
assert "gift_card_amount" in o["compiled_code"] and "{%" in o["raw_code"]
assert o["columns"]["status"]["description"] == '{{ doc("orders_status") }}'
assert len(o["checksum"]["checksum"]) == 64
rel = [n for n in nodes.values() if n["name"].startswith("relationships_orders")][0]
assert rel["test_metadata"]["name"] == "relationships" and rel["test_metadata"]["kwargs"]["field"] == "customer_id"
assert rel["column_name"] == "customer_id" and rel["attached_node"] == "model.jaffle_shop.orders"
assert sorted(m["parent_map"][rel["unique_id"]]) == ["model.jaffle_shop.customers", "model.jaffle_shop.orders"]
assert "model.jaffle_shop.stg_customers" in m["child_map"]["seed.jaffle_shop.raw_customers"]
assert "doc.jaffle_shop.orders_status" in m["docs"] and "return_pending" in m["docs"]["doc.jaffle_shop.orders_status"]["block_contents"]
r = json.load(open(os.path.join(t, "run_results.json")))
assert r["metadata"]["dbt_schema_version"] == "https://schemas.getdbt.com/dbt/run-results/v6.json"
assert len(r["results"]) == 28 and r["args"]["which"] == "build"
st = sorted(x["status"] for x in r["results"])
assert st.count("success") == 8 and st.count("pass") == 20, st
for x in r["results"]:
    assert {"status", "timing", "thread_id", "execution_time", "adapter_response", "message", "failures", "unique_id",
            "compiled", "compiled_code", "relation_name"} <= set(x)
    assert [tm["name"] for tm in x["timing"]] == ["compile", "execute"]
PY

# a second run replaces the tables with the same rows
"$KILN_BIN" run --project-dir "$P" > "$tmp/run2.txt" || fail "second run"
grep -q '^Done. PASS=5 WARN=0 ERROR=0 SKIP=0 TOTAL=5$' "$tmp/run2.txt" || fail "run2: $(tail -1 "$tmp/run2.txt")"
q "select order_id, customer_id, order_date, status, credit_card_amount, coupon_amount, bank_transfer_amount, gift_card_amount, amount from analytics.orders order by order_id" | cmp - "$tmp/orders.csv" || fail "rerun changed orders"

# a failing test gates what is downstream of its model
printf '1,Again,X.\n' >> "$P/seeds/raw_customers.csv"
rc=0; "$KILN_BIN" build --project-dir "$P" > "$tmp/b2.txt" || rc=$?
[ "$rc" -eq 1 ] || fail "failing test: exit $rc"
grep -q 'FAIL 1 unique_stg_customers_customer_id' "$tmp/b2.txt" || fail "no FAIL line"
grep -q 'SKIP relation analytics.customers' "$tmp/b2.txt" || fail "customers not skipped"
grep -q 'SKIP test relationships_orders_customer_id__customer_id__ref_customers_' "$tmp/b2.txt" || fail "relationships not skipped"
grep -q 'OK created sql table model analytics.orders' "$tmp/b2.txt" || fail "orders should still build"
grep -q '^Done. PASS=23 WARN=0 ERROR=1 SKIP=4 TOTAL=28$' "$tmp/b2.txt" || fail "counts: $(tail -1 "$tmp/b2.txt")"
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
by = {x["unique_id"]: x for x in r["results"]}
f = [x for x in r["results"] if x["status"] == "fail"]
assert len(f) == 1 and f[0]["failures"] == 1 and f[0]["message"] == "Got 1 result, configured to fail if != 0", f
assert by["model.jaffle_shop.customers"]["status"] == "skipped"
' "$P/target/run_results.json" || fail "run_results after a failing test"
# severity: warn turns the failure into a warning and gates nothing
# (store_failures keeps the failing rows in analytics_dbt_test__audit.<test>)
sed -i 's/          - unique$/          - unique:\n              config:\n                severity: warn\n                store_failures: true/' "$P/models/staging/schema.yml"
# (customers then builds, and its own unique test, still severity error, fails)
rc=0; "$KILN_BIN" build --project-dir "$P" > "$tmp/b3.txt" || rc=$?
[ "$rc" -eq 1 ] || fail "warn build exit $rc"
grep -q 'WARN 1 unique_stg_customers_customer_id' "$tmp/b3.txt" || fail "no WARN line"
grep -q 'OK created sql table model analytics.customers' "$tmp/b3.txt" || fail "a warning gated customers"
grep -q 'FAIL 1 unique_customers_customer_id' "$tmp/b3.txt" || fail "customers' unique test"
grep -q '^Done. PASS=26 WARN=1 ERROR=1 SKIP=0 TOTAL=28$' "$tmp/b3.txt" || fail "warn counts: $(tail -1 "$tmp/b3.txt")"
[ "$(q 'select unique_field, n_records from analytics_dbt_test__audit.unique_stg_customers_customer_id')" = "unique_field,n_records
1,2" ] || fail "store_failures rows: $(q 'select * from analytics_dbt_test__audit.unique_stg_customers_customer_id')"
# the audit table is replaced on each run: with the duplicate gone it is empty
sed -i '$d' "$P/seeds/raw_customers.csv"
"$KILN_BIN" build --project-dir "$P" -s 'raw_customers stg_customers' > "$tmp/b3b.txt" || fail "store_failures rerun: $(cat "$tmp/b3b.txt")"
[ "$(q 'select count(*) as n from analytics_dbt_test__audit.unique_stg_customers_customer_id')" = "n
0" ] || fail "audit table not replaced: $(q "select * from analytics_dbt_test__audit.unique_stg_customers_customer_id"; cat "$tmp/b3b.txt")"
printf '1,Again,X.\n' >> "$P/seeds/raw_customers.csv"
"$KILN_BIN" build --project-dir "$P" -s 'raw_customers stg_customers' > "$tmp/b3c.txt" || fail "duplicate back: $(cat "$tmp/b3c.txt")"
# store_failures at the root of data_tests: applies to every test of the project
printf 'data_tests:\n  +store_failures: true\n' >> "$P/dbt_project.yml"
"$KILN_BIN" test --project-dir "$P" -s stg_customers > "$tmp/b3d.txt" || fail "root store_failures: $(cat "$tmp/b3d.txt")"
[ "$(q 'select count(*) as n from analytics_dbt_test__audit.not_null_stg_customers_customer_id')" = "n
0" ] || fail "root-level data_tests +store_failures ignored: $(cat "$tmp/b3d.txt")"
sed -i '/^data_tests:$/,$d' "$P/dbt_project.yml"

# warn_if / error_if thresholds: 1 duplicate warns (>= 1) but does not fail (>= 2)
cp "$KILN_ROOT/tests/models/jaffle/models/staging/schema.yml" "$P/models/staging/schema.yml"
sed -i "s/          - unique$/          - unique:\n              config:\n                warn_if: '>= 1'\n                error_if: '>= 2'/" "$P/models/staging/schema.yml"
rc=0; "$KILN_BIN" test --project-dir "$P" -s stg_customers > "$tmp/b5.txt" || rc=$?
[ "$rc" -eq 0 ] || fail "thresholds: exit $rc $(cat "$tmp/b5.txt")"
grep -q 'WARN 1 unique_stg_customers_customer_id' "$tmp/b5.txt" || fail "threshold WARN line: $(cat "$tmp/b5.txt")"
grep -q '^Done. PASS=1 WARN=1 ERROR=0 SKIP=0 TOTAL=2$' "$tmp/b5.txt" || fail "threshold counts: $(tail -1 "$tmp/b5.txt")"
grep -q '"message": "Got 1 result, configured to warn if >= 1"' "$P/target/run_results.json" || fail "threshold message"

# an SQL error: named, exit 1, the previous table kept
before="$(q 'select count(*) as n from analytics.orders')"
printf 'select order_id, nonexistent_column from {{ ref("stg_orders") }}\n' > "$P/models/orders.sql"
rc=0; "$KILN_BIN" run --project-dir "$P" -s orders > "$tmp/b4.txt" || rc=$?
[ "$rc" -eq 1 ] || fail "sql error: exit $rc"
grep -q 'Database Error in model orders (models/orders.sql)' "$tmp/b4.txt" || fail "error report: $(cat "$tmp/b4.txt")"
grep -q 'no such column: nonexistent_column (at line 1, column 18 of target/compiled/jaffle_shop/models/orders.sql)' "$tmp/b4.txt" \
  || fail "sqlite message and position: $(cat "$tmp/b4.txt")"
grep -q 'nonexistent_column' "$P/target/compiled/jaffle_shop/models/orders.sql" || fail "compiled SQL of a failed model not written"
# a dialect gap SQLite does not have (a :: cast): reported with its place, nothing written
printf 'select order_id,\n  status::text as s\nfrom {{ ref("stg_orders") }}\n' > "$P/models/orders.sql"
rc=0; "$KILN_BIN" run --project-dir "$P" -s orders > "$tmp/b6.txt" || rc=$?
[ "$rc" -eq 1 ] || fail ":: cast: exit $rc"
grep -q 'unrecognized token: ":" (at line 2, column 9 of target/compiled/jaffle_shop/models/orders.sql)' "$tmp/b6.txt" \
  || fail ":: message: $(cat "$tmp/b6.txt")"
[ "$(q 'select count(*) as n from analytics.orders')" = "$before" ] || fail "orders changed after a failed run"
echo ok
