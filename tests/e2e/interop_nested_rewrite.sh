#!/usr/bin/env bash
# interop_nested_rewrite.sh - `kiln table rewrite-data-files` on tables with
# nested columns (struct, list, map, list<struct<list>>, map<int,list>) and
# wide decimals:
#  1. rows appended in several files (and a merge leaving a positional
#     delete) are compacted; kiln scans the same rows, value for value,
#     before and after (byte for byte the same JSON);
#  2. DuckDB reads the rewritten files value for value against kiln's scan
#     (so the Dremel levels kiln wrote back are right for another reader),
#     and the rewritten files keep LIST/MAP/struct columns (not text);
#  3. a partitioned table with --sort-by on a flat column: several groups,
#     rows the same, each group sorted;
#  4. sorting by a nested column is refused (exit 2) and nothing changes.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
cd "$KILN_ROOT"
[ -d tests/node/node_modules/@duckdb/node-api ] || { echo "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "interop_nested_rewrite: $*" >&2; exit 1; }
W="$T/wh"
k() { "$KILN_BIN" table -w "$W" "$@"; }

# rows with nulls at every level (deterministic)
gen() { # FIRST COUNT
  node -e '
const [first, n] = process.argv.slice(1).map(Number);
for (let i = first; i < first + n; i++) {
  const r = {id: i, g: "g" + (i % 3)};
  r.s = i % 7 === 3 ? null : {sha: "c" + i, n: i * 10, author: i % 5 === 1 ? null : {name: "a" + i, email: i % 2 ? null : "e" + i}};
  r.l = i % 6 === 2 ? null : i % 6 === 3 ? [] : [i, null, i + 1].slice(0, (i % 3) + 1);
  r.commits = i % 4 === 1 ? null : [{sha: "x" + i, files: ["f" + i, "g"], who: {login: "u" + i, ids: [i, null]}},
                                    {sha: null, files: [], who: null}].slice(0, i % 3);
  r.m = i % 5 === 2 ? null : {["k" + i]: i, z: null};
  r.mi = i % 3 === 0 ? {[String(i)]: [1.5, null], "-1": []} : null;
  r.d = i % 8 === 0 ? null : "1234567890123456789012." + String(i).padStart(4, "0");
  r.tail = "t" + i;
  console.log(JSON.stringify(r));
}' "$1" "$2"
}
ddl='id int, g string, s struct<sha:string, n:long, author:struct<name:string, email:string>>, l list<int>,
 commits list<struct<sha:string, files:list<string>, who:struct<login:string, ids:list<long>>>>,
 m map<string,long>, mi map<int,list<float>>, d decimal(26,4), tail string'

# ---------------------------------------------------------------- 1. unpartitioned
k create db.n --schema "$ddl" > /dev/null
for p in 0 1 2 3; do
  gen $((p * 250)) 250 > "$T/in$p.ndjson"
  k append db.n --input "$T/in$p.ndjson" > /dev/null
done
# a merge: an update by key (positional delete + new file) and an insert
gen 10 1 | sed 's/"tail":"t10"/"tail":"updated"/' > "$T/up.ndjson"
gen 5000 1 >> "$T/up.ndjson"
k merge db.n --key id --input "$T/up.ndjson" > /dev/null
k scan db.n --json | sort > "$T/before"
[ "$(wc -l < "$T/before")" -eq 1001 ] || fail "rows before: $(wc -l < "$T/before")"
grep -q '"id":10,.*"tail":"updated"' "$T/before" || fail "the merge did not update row 10"
nfiles=$(k files db.n --json | grep -c '"content":"data"')
[ "$nfiles" -ge 5 ] || fail "expected at least 5 data files before the rewrite, got $nfiles"

k rewrite-data-files db.n --min-input-files 2 --json > "$T/res.json"
grep -q '"data_files_added":1,' "$T/res.json" || fail "rewrite result: $(cat "$T/res.json")"
grep -q '"rows_written":1001,' "$T/res.json" || fail "rewrite rows: $(cat "$T/res.json")"
k scan db.n --json | sort > "$T/after"
cmp -s "$T/before" "$T/after" || { diff "$T/before" "$T/after" | head -5 >&2; fail "rows differ after the rewrite"; }
k files db.n --json > "$T/files"
[ "$(grep -c '"content":"data"' "$T/files")" -eq 1 ] || fail "data files after: $(cat "$T/files")"
grep -q '"content":"position_deletes"\|"content":"deletes"' "$T/files" && fail "a delete file survived the rewrite"
f=$(sed -E 's/.*"file_path":"file:\/\/([^"]*)".*/\1/' "$T/files")
[ -f "$f" ] || fail "rewritten file not found: $f"
"$KILN_BIN" parquet schema "$f" > "$T/pschema"
grep -q 'commits .*LIST' "$T/pschema" && grep -q 'm .*MAP' "$T/pschema" || fail "rewritten file's nested columns: $(cat "$T/pschema")"
# DuckDB reads the rewritten file value for value
node tests/node/interop_compare.mjs "$T/after" "$f" id > /dev/null || fail "DuckDB disagrees with kiln on the rewritten file"
# and one deep value, DuckDB's own (row 10: updated by the merge; its s is null)
(cd tests/node && node -e '
const {DuckDBInstance}=require("@duckdb/node-api");
(async()=>{const db=await (await DuckDBInstance.create(":memory:")).connect();
const r=(await db.runAndReadAll(`select commits[1].who.ids[1]::BIGINT as a, len(commits) as n, d::VARCHAR as d, s.author.email as e, tail from read_parquet("'"$f"'") where id = 10`)).getRowObjects()[0];
const want={a:10n,n:1n,d:"1234567890123456789012.0010",e:null,tail:"updated"};
for (const k of Object.keys(want)) if (r[k]!==want[k]) {console.error("duckdb "+k+": "+r[k]); process.exit(1);} })()') ||
  fail "DuckDB's deep values of row 10"
echo "interop_nested_rewrite: ok (compaction)"

# ---------------------------------------------------------------- 3. partitioned, sorted
k create db.p --schema "$ddl" --partition g > /dev/null
for p in 0 1 2; do
  gen $((p * 100)) 100 > "$T/p$p.ndjson"
  k append db.p --input "$T/p$p.ndjson" > /dev/null
done
k scan db.p --json | sort > "$T/pbefore"
k rewrite-data-files db.p --min-input-files 2 --sort-by 'id desc' --json > "$T/pres.json"
grep -q '"groups_rewritten":3,' "$T/pres.json" || fail "partitioned rewrite: $(cat "$T/pres.json")"
k scan db.p --json | sort > "$T/pafter"
cmp -s "$T/pbefore" "$T/pafter" || fail "partitioned rows differ after the rewrite"
mkdir "$T/pfiles"
k files db.p --json | sed -E 's/.*"file_path":"file:\/\/([^"]*)".*/\1/' > "$T/plist"
[ "$(wc -l < "$T/plist")" -eq 3 ] || fail "partitioned data files after: $(cat "$T/plist")"
n=0
while read -r pf; do
  cp "$pf" "$T/pfiles/$n.parquet"
  # each file is sorted by id descending
  "$KILN_BIN" parquet cat --format ndjson --columns id "$pf" | sed 's/[^0-9]//g' > "$T/ids"
  sort -rn "$T/ids" | cmp -s - "$T/ids" || fail "file $pf is not sorted by id desc"
  n=$((n + 1))
done < "$T/plist"
node tests/node/interop_compare.mjs "$T/pafter" "$T/pfiles/*.parquet" id > /dev/null || fail "DuckDB disagrees on the partitioned rewrite"
echo "interop_nested_rewrite: ok (partitioned, sorted)"

# ---------------------------------------------------------------- 4. refused sort keys
snap=$(k snapshots db.n --json | wc -l)
for key in "--sort-by commits" "--zorder id,m" "--sort-by d"; do
  set +e
  # shellcheck disable=SC2086
  k rewrite-data-files db.n --rewrite-all $key 2> "$T/err" > /dev/null
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "$key: exit $rc (want 2): $(cat "$T/err")"
  grep -q 'is not a column kiln can sort by' "$T/err" || fail "$key message: $(cat "$T/err")"
done
[ "$(k snapshots db.n --json | wc -l)" -eq "$snap" ] || fail "a refused rewrite made a snapshot"
echo "interop_nested_rewrite: ok"
