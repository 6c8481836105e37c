#!/usr/bin/env bash
# Packages (tests/models/packages): a package installed in dbt_packages/
# (kiln_utils, a small fixture package of our own) and a packages.yml
# `local:` package (shop_macros); their macros called namespaced
# (kiln_utils.generate_surrogate_key, shop_macros.to_cents), a package
# macro calling its own helpers unqualified, adapter.dispatch with
# macro_namespace where the root project's kiln__ implementation wins
# over the package's default__ (dbt's search order), generic tests from a
# package in YAML (kiln_utils.expression_is_true, at_least_rows) named as
# dbt names them. A package test that fails gates like any other; an
# unknown package test is an error naming the file and position.
# A local package's models and seeds (shop_marts): its own
# config tree and vars, the root project's tree (+schema) and scoped vars
# over them, --vars over both, ref('pkg', 'x') both ways, manifest fields;
# `kiln deps` linking local packages and refusing a hub package with its
# file:line:column. Seeds' column_types (typed_codes), and their errors.
# A package's snapshots (its snapshots/, its `snapshots:` config tree),
# its sources (source.<package>..., read by its models and snapshots) and
# its hooks: on-run-start/on-run-end and +post-hook from its
# dbt_project.yml, run before the root project's, as dbt orders them.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cp -r "$KILN_ROOT/tests/models/packages" "$tmp/p"
P="$tmp/p"; W="$P/warehouse"
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { "$KILN_BIN" sql --warehouse "$W" --csv "$1" | tail -n +2; }

"$KILN_BIN" build --project-dir "$P" > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "build"; }
grep -q 'Done. PASS=15 WARN=0 ERROR=0 SKIP=0 TOTAL=15' "$tmp/b1.txt" || fail "summary: $(cat "$tmp/b1.txt")"
grep -q 'OK created sql table model analytics_marts.big_spenders ' "$tmp/b1.txt" || fail "package model (root +schema)"
grep -q 'OK loaded seed file analytics.shop_regions ' "$tmp/b1.txt" || fail "package seed"
grep -q 'OK snapshotted shop_history.people_history ' "$tmp/b1.txt" || fail "package snapshot (+target_schema of its tree)"
grep -q '1 of 3 OK hook: shop_marts.on-run-start.0 ' "$tmp/b1.txt" || fail "package on-run-start first"
grep -q '3 of 3 OK hook: pkgs.on-run-start.0 ' "$tmp/b1.txt" || fail "root on-run-start last"
grep -q '2 of 2 OK hook: pkgs.on-run-end.0 ' "$tmp/b1.txt" || fail "root on-run-end last"
[ "$(q 'select step from audit.hook_log order by n' | tr '\n' '|')" = \
  "shop_marts start|pkgs start|shop_marts post people_count|pkgs post people_count|shop_marts post big_spenders|pkgs post big_spenders|shop_marts end|pkgs end|" ] \
  || fail "hook order: $(q 'select step, n from audit.hook_log order by n')"
[ "$(q 'select people, amount from analytics_marts.people_count')" = "3,75" ] || fail "package model over its source"
[ "$(q 'select count(*) from shop_history.people_history where dbt_valid_to is null')" = 3 ] || fail "package snapshot rows"
# min_cents: the root project's vars {shop_marts: {min_cents: 2500}} over the package's 1000
[ "$(q 'select id, region, amount_cents from analytics_marts.big_spenders order by id' | tr '\n' ' ')" = "2,south,2500 3,east,4000 " ] \
  || fail "big_spenders: $(q 'select * from analytics_marts.big_spenders')"
[ "$(q 'select region, spenders from analytics.spender_regions order by region' | tr '\n' ' ')" = "east,1 south,1 " ] \
  || fail "root model over a package model"
"$KILN_BIN" run --project-dir "$P" -s big_spenders --vars '{min_cents: 4000}' > "$tmp/r1.txt" || fail "run --vars: $(cat "$tmp/r1.txt")"
[ "$(q 'select id from analytics_marts.big_spenders' | tr '\n' ' ')" = "3 " ] || fail "--vars over the package's vars"
# column_types: the declared types, not the inferred ones
"$KILN_BIN" sql --warehouse "$W" --csv "describe analytics.typed_codes" > "$tmp/ct.txt"
for want in 'code,string,' 'day,date,' 'amount,"decimal(10, 2)",' 'flag,boolean,'; do
  grep -q "^$want" "$tmp/ct.txt" || fail "column_types $want: $(cat "$tmp/ct.txt")"
done
[ "$(q 'select code, day, flag from analytics.typed_codes order by code' | tr '\n' ' ')" = "007,2025-10-06,1 010,2025-10-07,0 " ] \
  || fail "typed seed rows: $(q 'select * from analytics.typed_codes')"
cp "$P/dbt_project.yml" "$tmp/proj.yml"
sed -i 's/        day: date/        day: datum/' "$P/dbt_project.yml"
r=0; "$KILN_BIN" seed --project-dir "$P" -s typed_codes > "$tmp/s1.txt" || r=$?
[ "$r" = 1 ] && grep -q "seeds/typed_codes.csv: column_types: 'day': unknown type 'datum'" "$tmp/s1.txt" || fail "unknown type: $r $(cat "$tmp/s1.txt")"
cp "$tmp/proj.yml" "$P/dbt_project.yml"
sed -i 's/        flag: boolean/        flag: boolean\n        nope: text/' "$P/dbt_project.yml"
r=0; "$KILN_BIN" seed --project-dir "$P" -s typed_codes > "$tmp/s2.txt" || r=$?
[ "$r" = 1 ] && grep -q "column_types names 'nope', which is not a column of the seed" "$tmp/s2.txt" || fail "unknown column: $r $(cat "$tmp/s2.txt")"
cp "$tmp/proj.yml" "$P/dbt_project.yml"
sed -i 's/        code: varchar(10)/        code: integer/' "$P/dbt_project.yml"
printf 'x1,2025-10-08,1,true\n' >> "$P/seeds/typed_codes.csv"
r=0; "$KILN_BIN" seed --project-dir "$P" -s typed_codes > "$tmp/s3.txt" || r=$?
[ "$r" = 1 ] && grep -q "seeds/typed_codes.csv:4: column 'code' is integer (column_types), but holds 'x1'" "$tmp/s3.txt" || fail "bad value: $r $(cat "$tmp/s3.txt")"
[ "$(q 'select count(*) from analytics.typed_codes')" = 2 ] || fail "a failed seed changed its table"
cp "$tmp/proj.yml" "$P/dbt_project.yml"
sed -i '$d' "$P/seeds/typed_codes.csv"
python3 - "$P/target/manifest.json" <<'PY' || fail "manifest of package nodes"
import json, sys
m = json.load(open(sys.argv[1]))
n = m["nodes"]["model.shop_marts.big_spenders"]
assert n["package_name"] == "shop_marts" and n["fqn"] == ["shop_marts", "big_spenders"], n
assert n["config"]["materialized"] == "table" and n["config"]["tags"] == ["from_package"] and n["config"]["schema"] == "marts", n["config"]
assert sorted(n["depends_on"]["nodes"]) == ["model.pkgs.people", "seed.shop_marts.shop_regions"], n["depends_on"]
assert m["nodes"]["seed.shop_marts.shop_regions"]["package_name"] == "shop_marts"
r = m["nodes"]["model.pkgs.spender_regions"]["refs"]
assert r == [{"name": "big_spenders", "package": "shop_marts", "version": None}], r
assert m["nodes"]["model.pkgs.people"]["package_name"] == "pkgs"
assert list(m["sources"]) == ["source.shop_marts.shop_raw.people"], list(m["sources"])
assert m["sources"]["source.shop_marts.shop_raw.people"]["package_name"] == "shop_marts"
assert m["nodes"]["model.shop_marts.people_count"]["depends_on"]["nodes"] == ["source.shop_marts.shop_raw.people"]
s = m["nodes"]["snapshot.shop_marts.people_history"]
assert s["package_name"] == "shop_marts" and s["schema"] == "shop_history", s
t = [k for k in m["nodes"] if k.startswith("test.shop_marts.unique_big_spenders_id.")]
assert len(t) == 1 and m["nodes"][t[0]]["package_name"] == "shop_marts", sorted(m["nodes"])
PY
# kiln deps: local packages linked into dbt_packages/, the hub one refused
r=0; "$KILN_BIN" deps --project-dir "$P" > "$tmp/d1.txt" || r=$?
[ "$r" = 1 ] || fail "deps with a hub package: exit $r"
[ "$(readlink "$P/dbt_packages/shop_marts")" = "../local_pkgs/shop_marts" ] || fail "deps link: $(ls -l "$P/dbt_packages")"
[ "$(readlink "$P/dbt_packages/shop_macros")" = "../local_pkgs/shop_macros" ] || fail "deps link 2"
grep -q "ERROR packages.yml:4:14: hub package 'dbt-labs/dbt_utils' cannot be installed: kiln does not download packages" "$tmp/d1.txt" \
  || fail "deps hub message: $(cat "$tmp/d1.txt")"
"$KILN_BIN" build --project-dir "$P" > "$tmp/b1b.txt" || fail "build after deps: $(cat "$tmp/b1b.txt")"
grep -q 'Done. PASS=15 WARN=0 ERROR=0 SKIP=0 TOTAL=15' "$tmp/b1b.txt" || fail "after deps (each package once): $(tail -1 "$tmp/b1b.txt")"
sed -i '/dbt_utils/,$d' "$P/packages.yml"
"$KILN_BIN" deps --project-dir "$P" > "$tmp/d2.txt" || fail "deps, locals only: $(cat "$tmp/d2.txt")"
mkdir -p "$P/dbt_packages/dbt_utils" && printf 'name: dbt_utils\n' > "$P/dbt_packages/dbt_utils/dbt_project.yml"
printf '  - package: dbt-labs/dbt_utils\n    version: 1.1.1\n' >> "$P/packages.yml"
"$KILN_BIN" deps --project-dir "$P" > "$tmp/d3.txt" || fail "deps with the hub package already there: $(cat "$tmp/d3.txt")"
grep -q 'Found dbt_utils installed in dbt_packages/dbt_utils' "$tmp/d3.txt" || fail "deps found: $(cat "$tmp/d3.txt")"
# ref() errors: an unknown package, an unknown model of a package
cp "$P/models/spender_regions.sql" "$tmp/sr.sql"
printf "select * from {{ ref('no_pkg', 'big_spenders') }}\n" > "$P/models/spender_regions.sql"
r=0; "$KILN_BIN" compile --project-dir "$P" > /dev/null 2> "$tmp/e1.txt" || r=$?
[ "$r" = 1 ] && grep -q "ref('no_pkg', 'big_spenders'): no package 'no_pkg'" "$tmp/e1.txt" || fail "unknown package: $r $(cat "$tmp/e1.txt")"
printf "select * from {{ ref('shop_marts', 'people') }}\n" > "$P/models/spender_regions.sql"
r=0; "$KILN_BIN" compile --project-dir "$P" > /dev/null 2> "$tmp/e2.txt" || r=$?
[ "$r" = 1 ] && grep -q "depends on a node named 'people' in package 'shop_marts' which was not found" "$tmp/e2.txt" \
  || fail "unknown package model: $r $(cat "$tmp/e2.txt")"
cp "$tmp/sr.sql" "$P/models/spender_regions.sql"
grep -q 'PASS kiln_utils_expression_is_true_people_amount_cents_1000 ' "$tmp/b1.txt" || fail "package test name"
grep -q 'PASS kiln_utils_at_least_rows_people_3 ' "$tmp/b1.txt" || fail "package test name 2"
q 'select id, person_key, display_name, amount_cents from analytics.people order by id' > "$tmp/got.csv"
python3 - "$tmp/got.csv" <<'PY' || fail "people: $(cat "$tmp/got.csv")"
import csv, hashlib, sys
rows = list(csv.reader(open(sys.argv[1])))
want = []
for i, first, last, amount in [(1, "Ada", "Lovelace", 10), (2, "Alan", "Turing", 25), (3, "Grace", None, 40)]:
    key = hashlib.md5(("%d-%s" % (i, last if last is not None else "_null_")).encode()).hexdigest()
    name = "%s, %s" % (last.upper(), first) if last else ""
    want.append([str(i), key, name, str(amount * 100)])
assert rows == want, (rows, want)
PY

# a failing package test gates: FAIL, exit 1
sed -i 's/^3,Grace,,40$/3,Grace,,4/' "$P/seeds/raw_people.csv"
r=0; "$KILN_BIN" build --project-dir "$P" > "$tmp/b2.txt" || r=$?
[ "$r" = 1 ] || fail "failing package test: exit $r"
grep -q 'FAIL 1 kiln_utils_expression_is_true_people_amount_cents_1000 ' "$tmp/b2.txt" || fail "no FAIL: $(cat "$tmp/b2.txt")"

# an unknown package test
sed -i 's/kiln_utils.at_least_rows/kiln_utils.no_such_test/' "$P/models/schema.yml"
r=0; "$KILN_BIN" compile --project-dir "$P" > /dev/null 2> "$tmp/e.txt" || r=$?
[ "$r" = 1 ] || fail "unknown package test: exit $r"
grep -q "models/schema.yml:[0-9]*:[0-9]*: unknown test 'kiln_utils.no_such_test'" "$tmp/e.txt" || fail "message: $(cat "$tmp/e.txt")"
echo "ok models_packages"
