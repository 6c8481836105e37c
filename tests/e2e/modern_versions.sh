#!/usr/bin/env bash
# Model versions, access and groups on tests/models/modern_versions:
#  - ref('dim_customers') is the latest version (v2, defined_in
#    dim_customers_current), ref('dim_customers', v=1) the file
#    dim_customers_v1; as in dbt, version v is the node
#    model.vers.dim_customers.vV named dim_customers with the relation
#    dim_customers_vV; the build passes; manifest.json has version,
#    latest_version, access, group and the group with its owner, valid
#    against dbt's v12 schema; run_results.json has the versioned ids;
#    `-s dim_customers` selects both versions, `dim_customers.v1` one,
#    `version:latest` / `version:old` / `version:none` as dbt;
#  - a private model referenced from outside its group, a private model
#    without a group, an unknown version, latest_version not among the
#    versions, a version without its file: errors (exit 1) naming them.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/modern_versions" "$tmp/p"; P="$tmp/p"
"$KILN_BIN" build --project-dir "$P" > "$tmp/b.txt" || { cat "$tmp/b.txt"; fail build; }
grep -q "Done. PASS=5 WARN=0 ERROR=0 SKIP=0 TOTAL=5" "$tmp/b.txt" || { cat "$tmp/b.txt"; fail summary; }
c="$P/target/compiled/vers/models/finance_report.sql"
grep -q "from analytics.dim_customers_v2 c" "$c" && grep -q "join analytics.dim_customers_v1 o" "$c" || { cat "$c"; fail "version refs"; }
grep -q "OK created sql table model analytics.dim_customers_v2 " "$tmp/b.txt" || { cat "$tmp/b.txt"; fail "the v2 relation"; }
python3 -c "import json,sys; ids=[r['unique_id'] for r in json.load(open(sys.argv[1]))['results']]; assert 'model.vers.dim_customers.v1' in ids and 'model.vers.dim_customers.v2' in ids, ids" \
  "$P/target/run_results.json" || fail "run_results versioned ids"
node "$KILN_ROOT/tests/node/dbt_schema_validate.mjs" "$KILN_ROOT/tests/data/dbt-schemas/run-results-v6.json" "$P/target/run_results.json" >/dev/null ||
  fail "run_results does not validate"
[ "$("$KILN_BIN" ls --project-dir "$P" -s dim_customers | tr '\n' ' ')" = "vers.dim_customers.v1 vers.dim_customers.v2 " ] || fail "ls dim_customers"
[ "$("$KILN_BIN" ls --project-dir "$P" -s dim_customers.v1)" = "vers.dim_customers.v1" ] || fail "ls dim_customers.v1"
[ "$("$KILN_BIN" ls --project-dir "$P" -s version:latest)" = "vers.dim_customers.v2" ] || fail "version:latest"
[ "$("$KILN_BIN" ls --project-dir "$P" -s version:old)" = "vers.dim_customers.v1" ] || fail "version:old"
[ "$("$KILN_BIN" ls --project-dir "$P" -s version:none --resource-type model | wc -l)" = 3 ] || fail "version:none"
[ "$("$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select full_name, credit from analytics.finance_report order by id" | tail -n +2 | tr '\n' ' ')" = "Ann Lee,10 Bo Kim,20 " ] ||
  fail "finance_report rows"
node "$KILN_ROOT/tests/node/dbt_schema_validate.mjs" "$KILN_ROOT/tests/data/dbt-schemas/manifest-v12.json" "$P/target/manifest.json" >/dev/null ||
  fail "manifest with versions does not validate"
python3 - "$P/target/manifest.json" <<'PY' || fail "manifest fields"
import json, sys
m = json.load(open(sys.argv[1])); n = m["nodes"]
v1, v2 = n["model.vers.dim_customers.v1"], n["model.vers.dim_customers.v2"]
assert (v1["version"], v1["latest_version"], v1["access"]) == (1, 2, "public"), v1
assert (v1["name"], v1["alias"], v1["fqn"]) == ("dim_customers", "dim_customers_v1", ["vers", "dim_customers", "v1"]), v1
assert (v2["name"], v2["alias"], v2["original_file_path"]) == ("dim_customers", "dim_customers_v2", "models/dim_customers_current.sql"), v2
assert (v2["version"], v2["latest_version"]) == (2, 2), v2
f = n["model.vers.finance_internal"]
assert (f["access"], f["group"], f.get("version")) == ("private", "finance", None), f
assert n["model.vers.base_customers"]["access"] == "protected"
g = m["groups"]["group.vers.finance"]
assert g["owner"] == {"name": "Finance team", "email": "finance@example.com"} and g["resource_type"] == "group", g
PY
# --defer --state: a dev run of one model reads the production tables it does not build
cp -r "$P/target" "$tmp/prod"
set +e; "$KILN_BIN" run --project-dir "$P" --target dev -s finance_report > "$tmp/d0.txt" 2>&1; rc=$?; set -e
[ "$rc" = 1 ] || { cat "$tmp/d0.txt"; fail "without --defer the dev run must fail (no dev parents)"; }
"$KILN_BIN" run --project-dir "$P" --target dev -s finance_report --defer --state "$tmp/prod" > "$tmp/d1.txt" ||
  { cat "$tmp/d1.txt"; fail "deferred run"; }
grep -q "from analytics.dim_customers_v2 c" "$c" || { cat "$c"; fail "deferred ref"; }
[ "$("$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select count(*) from dev.finance_report" | tail -1)" = 2 ] || fail "dev.finance_report"
"$KILN_BIN" run --project-dir "$P" --target dev -s base_customers > /dev/null
"$KILN_BIN" run --project-dir "$P" --target dev -s finance_internal --defer --state "$tmp/prod" > /dev/null
grep -q "from dev.base_customers" "$P/target/compiled/vers/models/finance_internal.sql" ||
  { cat "$P/target/compiled/vers/models/finance_internal.sql"; fail "a parent built in dev is read from dev"; }
set +e; "$KILN_BIN" run --project-dir "$P" --defer > /dev/null 2>&1; rc=$?; set -e
[ "$rc" = 2 ] || fail "--defer without --state: exit $rc"

bad() { # name, expected message
  set +e; "$KILN_BIN" compile --project-dir "$P" > "$tmp/$1.txt" 2>&1; local rc=$?; set -e
  [ "$rc" = 1 ] && grep -qF -- "$2" "$tmp/$1.txt" || { cat "$tmp/$1.txt"; fail "$1: exit $rc"; }
  cp "$tmp/schema.yml" "$P/models/schema.yml"; cp "$tmp/report.sql" "$P/models/finance_report.sql"
}
cp "$P/models/schema.yml" "$tmp/schema.yml"; cp "$P/models/finance_report.sql" "$tmp/report.sql"
sed -i '/^  - name: finance_report$/,$d' "$P/models/schema.yml"
bad private "Node model.vers.finance_report attempted to reference node model.vers.finance_internal, which is not allowed because the referenced node is private to the 'finance' group"
sed -i '/^    group: finance$/d' "$P/models/schema.yml"
bad nogroup "model 'finance_internal' is private but belongs to no group"
sed -i "s/ref('dim_customers', v=1)/ref('dim_customers', v=3)/" "$P/models/finance_report.sql"
bad version "model 'dim_customers' has no version 3"
sed -i "s/latest_version: 2/latest_version: 7/" "$P/models/schema.yml"
bad latest "latest_version 7 of model 'dim_customers' is not one of its versions"
sed -i "s/      - v: 1/      - v: 4/" "$P/models/schema.yml"
bad file "version 4 of model 'dim_customers': no model file dim_customers_v4.sql"

# unit tests of a versioned model (dbt 1.8): one per version, named
# NAME_vV (unit_test.vers.dim_customers.NAME_vV), unless versions:
# include/exclude picks; an input may be ref('m', v=N)
cat > "$P/models/unit_tests.yml" <<'YML'
unit_tests:
  - name: ut_dim
    model: dim_customers
    given:
      - input: ref('base_customers')
        rows: [{id: 1, first_name: A, last_name: B}]
    expect:
      rows: [{id: 1}]
  - name: ut_report
    model: finance_report
    versions: {}
    given:
      - input: ref('dim_customers')
        rows: [{id: 1, first_name: A}]
      - input: ref('finance_internal')
        rows: [{id: 1, credit: 5}]
      - input: ref('dim_customers', v=1)
        rows: [{id: 1, full_name: A B}]
    expect:
      rows: [{id: 1, first_name: A, credit: 5, full_name: A B}]
YML
"$KILN_BIN" test --project-dir "$P" -s test_type:unit > "$tmp/u1.txt" || { cat "$tmp/u1.txt"; fail "unit tests of versions"; }
for t in dim_customers::ut_dim_v1 dim_customers::ut_dim_v2 finance_report::ut_report; do
  grep -q "PASS $t " "$tmp/u1.txt" || { cat "$tmp/u1.txt"; fail "unit test $t"; }
done
python3 -c "import json,sys; ids=sorted(r['unique_id'] for r in json.load(open(sys.argv[1]))['results']); assert ids == ['unit_test.vers.dim_customers.ut_dim_v1', 'unit_test.vers.dim_customers.ut_dim_v2', 'unit_test.vers.finance_report.ut_report'], ids" \
  "$P/target/run_results.json" || fail "unit test ids of versions"
"$KILN_BIN" compile --project-dir "$P" > /dev/null
node "$KILN_ROOT/tests/node/dbt_schema_validate.mjs" "$KILN_ROOT/tests/data/dbt-schemas/manifest-v12.json" "$P/target/manifest.json" >/dev/null ||
  fail "manifest with unit tests of versions does not validate"
python3 -c "import json,sys; u=json.load(open(sys.argv[1]))['unit_tests']; v=u['unit_test.vers.dim_customers.ut_dim_v1']; assert (v['depends_on']['nodes'], v['name']) == (['model.vers.dim_customers.v1'], 'ut_dim_v1'), v" \
  "$P/target/manifest.json" || fail "manifest unit test of a version"
[ "$("$KILN_BIN" ls --project-dir "$P" -s dim_customers.v2 --resource-type unit_test)" = "unit_test:vers.dim_customers.ut_dim_v2" ] || fail "ls the unit test of one version"
sed -i 's/    model: dim_customers$/    model: dim_customers\n    versions: {exclude: [1]}/' "$P/models/unit_tests.yml"
[ "$("$KILN_BIN" ls --project-dir "$P" --resource-type unit_test -s dim_customers | tr '\n' ' ')" = "unit_test:vers.dim_customers.ut_dim_v2 " ] || fail "versions: exclude"
sed -i 's/versions: {exclude: \[1\]}/versions: {include: [1]}/' "$P/models/unit_tests.yml"
[ "$("$KILN_BIN" ls --project-dir "$P" --resource-type unit_test -s dim_customers | tr '\n' ' ')" = "unit_test:vers.dim_customers.ut_dim_v1 " ] || fail "versions: include"
cp "$P/models/unit_tests.yml" "$tmp/ut.yml"
sed -i 's/versions: {include: \[1\]}/versions: {include: [3]}/' "$P/models/unit_tests.yml"
bad utver "unit test 'ut_dim': model 'dim_customers' has no version 3"
cp "$tmp/ut.yml" "$P/models/unit_tests.yml"
sed -i 's/versions: {include: \[1\]}/versions: {include: [1], exclude: [2]}/' "$P/models/unit_tests.yml"
bad utboth "unit test 'ut_dim': versions takes include or exclude, not both"
cp "$tmp/ut.yml" "$P/models/unit_tests.yml"
sed -i 's/    versions: {}/    versions: {include: [1]}/' "$P/models/unit_tests.yml"
bad utunver "unit test 'ut_report': model 'finance_report' has no versions"
cp "$tmp/ut.yml" "$P/models/unit_tests.yml"
sed -i "s/ref('dim_customers', v=1)/ref('dim_customers', v=5)/" "$P/models/unit_tests.yml"
bad utref "input ref('dim_customers', v=5): model 'dim_customers' has no version 5"
echo "modern_versions: ok"
