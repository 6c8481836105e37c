#!/usr/bin/env bash
# interop_timestamp_ns.sh - Iceberg v3 `timestamp_ns` / `timestamptz_ns`
# columns (Parquet INT64 TIMESTAMP(NANOS), written by DuckDB) read exactly:
#  1. `kiln parquet cat` prints nanosecond text (nine fraction digits, "Z"
#     for UTC), before 1970 too, inside structs too; DuckDB's own text of
#     the same file agrees digit for digit;
#  2. a v3 table (metadata made without kiln) with timestamp_ns and
#     timestamptz_ns columns: `kiln table scan` prints the same text, a
#     --where on the column filters by it (never pruned by integer bounds);
#  3. `kiln sql` sees the columns as text, registered by name;
#  4. variant/unknown stay errors naming the column and type.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
cd "$KILN_ROOT"
[ -d tests/node/node_modules/@duckdb/node-api ] || { echo "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "interop_timestamp_ns: $*" >&2; exit 1; }

sql="SELECT i::INT AS id,
  ('2024-01-01 00:00:00'::TIMESTAMP_NS + to_microseconds(i * 1000))::TIMESTAMP_NS AS base,
  make_timestamp_ns(1704067200000000000 + i * 1000000007) AS ts,
  CASE WHEN i % 5 = 2 THEN NULL ELSE make_timestamp_ns(-1 - i * 123456789) END AS old,
  CASE WHEN i % 4 = 1 THEN NULL ELSE make_timestamp_ns(1704067200000000000 + i * 1000)::TIMESTAMPTZ END AS tz_us,
  {'a': make_timestamp_ns(981173106000000007 + i), 'n': i} AS s
FROM range(0, 50) t(i)"
# DuckDB's TIMESTAMPTZ is microseconds: tz_us checks that micro columns stay timestamps
schema='[{"id":1,"name":"id","required":false,"type":"int"},
 {"id":2,"name":"base","required":false,"type":"timestamp_ns"},
 {"id":3,"name":"ts","required":false,"type":"timestamp_ns"},
 {"id":4,"name":"old","required":false,"type":"timestamp_ns"},
 {"id":5,"name":"tz_us","required":false,"type":"timestamptz"},
 {"id":6,"name":"s","required":false,"type":{"type":"struct","fields":[{"id":7,"name":"a","required":false,"type":"timestamp_ns"},{"id":8,"name":"n","required":false,"type":"long"}]}}]'
cat > "$T/spec.json" <<JSON
{"dir": "$T/src", "format_version": 3, "schema": $schema,
 "files": [{"name": "a.parquet", "sql": $(printf '%s' "$sql" | node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(0,"utf8")))')}]}
JSON
node tests/node/iceberg_foreign.mjs "$T/spec.json"
f="$T/src/data/a.parquet"
"$KILN_BIN" parquet schema "$f" > "$T/schema"
grep -q 'ts .*TIMESTAMP(LOCAL,NANOS) *string' "$T/schema" || fail "ts is not read as nanosecond text: $(cat "$T/schema")"

# 1. parquet level, against DuckDB's text of every value
"$KILN_BIN" parquet cat --format ndjson "$f" > "$T/pq.ndjson"
(cd tests/node && node -e '
const fs=require("fs");
const {DuckDBInstance}=require("@duckdb/node-api");
const kiln=fs.readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse);
(async()=>{const db=await (await DuckDBInstance.create(":memory:")).connect();
const rows=(await db.runAndReadAll(`select id, base::VARCHAR b, ts::VARCHAR t, old::VARCHAR o, s.a::VARCHAR a from read_parquet("${process.argv[2]}") order by id`)).getRowObjects();
// DuckDB prints "2024-01-01 00:00:01.000000001" and trims trailing zeros; kiln always nine digits with a T
const norm=(x)=>{ if (x===null) return null; let [d,f]=x.replace("T"," ").split("."); return d+"."+(f||"").padEnd(9,"0"); };
let bad=0;
if (rows.length!==kiln.length||rows.length!==50) {console.error("rows "+rows.length+" vs "+kiln.length); process.exit(1);}
for (let i=0;i<rows.length;i++){const r=rows[i],k=kiln[i];
  for (const [dk,kk] of [["b","base"],["t","ts"],["o","old"]]) if (norm(r[dk])!==(k[kk]===null?null:norm(k[kk]))||(k[kk]!==null&&!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}$/.test(k[kk]))) {if(bad++<5)console.error(`row ${r.id} ${kk}: duckdb ${r[dk]} kiln ${k[kk]}`);}
  if (norm(r.a)!==norm(k.s.a)) {if(bad++<5)console.error(`row ${r.id} s.a: duckdb ${r.a} kiln ${k.s.a}`);}
}
process.exit(bad?1:0);})()' "$T/pq.ndjson" "$f") || fail "kiln's nanosecond text differs from DuckDB's"
grep -q '"id":1,"base":"2024-01-01T00:00:00.001000000","ts":"2024-01-01T00:00:01.000000007","old":"1969-12-31T23:59:59.876543210"' "$T/pq.ndjson" ||
  fail "row 1: $(sed -n 2p "$T/pq.ndjson")"
# `kiln parquet rewrite` would turn them into strings: refused, nothing written
if "$KILN_BIN" parquet rewrite "$f" "$T/rw.parquet" 2> "$T/err"; then fail "parquet rewrite of TIMESTAMP(NANOS) succeeded"; fi
grep -q 'TIMESTAMP(NANOS)' "$T/err" || fail "parquet rewrite message: $(cat "$T/err")"
[ ! -e "$T/rw.parquet" ] || fail "a refused parquet rewrite left a file"
echo "interop_timestamp_ns: ok (parquet)"

# 2. the v3 table
M="$T/src/metadata/v1.metadata.json"
"$KILN_BIN" table scan --metadata "$M" --json > "$T/scan.ndjson"
[ "$(wc -l < "$T/scan.ndjson")" -eq 50 ] || fail "table rows: $(wc -l < "$T/scan.ndjson")"
# the same values as the Parquet level (tz_us stays a microsecond timestamptz)
"$KILN_BIN" parquet cat --format ndjson "$f" | sort > "$T/a"
sort "$T/scan.ndjson" > "$T/b"
cmp -s "$T/a" "$T/b" || { diff "$T/a" "$T/b" | head -4 >&2; fail "table scan differs from the Parquet level"; }
grep -q '"id":3,.*"tz_us":"2024-01-01T00:00:00.000003Z"' "$T/scan.ndjson" || fail "tz_us row 3: $(grep '"id":3,' "$T/scan.ndjson")"
# a filter on the text column
got=$("$KILN_BIN" table scan --metadata "$M" --json --columns id,ts --where "ts >= '2024-01-01T00:00:47.000000329'")
[ "$(echo "$got" | wc -l)" -eq 3 ] && grep -q '"id":47,"ts":"2024-01-01T00:00:47.000000329"' <<<"$got" || fail "--where on ts: $got"
got=$("$KILN_BIN" table scan --metadata "$M" --json --columns id --where 'old is null' | wc -l)
[ "$got" -eq 10 ] || fail "old is null: $got rows"
"$KILN_BIN" table scan --metadata "$M" > "$T/text.out"
grep -q '2024-01-01T00:00:01.000000007' "$T/text.out" || fail "text output lacks the nanoseconds: $(head -3 "$T/text.out")"
echo "interop_timestamp_ns: ok (table)"

# 3. kiln sql, the table registered by name
W="$T/wh"
"$KILN_BIN" table register db.ns -w "$W" --metadata "$M" > /dev/null
got=$("$KILN_BIN" sql --warehouse "$W" --json "SELECT id, ts, typeof(ts) AS t, s FROM db.ns WHERE ts > '2024-01-01T00:00:48' ORDER BY id")
grep -q '"id":49' <<<"$got" && grep -q '2024-01-01T00:00:49.000000343' <<<"$got" && grep -q '"t":"text"' <<<"$got" ||
  fail "kiln sql: $got"
[ "$(echo "$got" | grep -c '"id"')" -eq 2 ] && grep -q '"id":48,"ts":"2024-01-01T00:00:48.000000336"' <<<"$got" || fail "kiln sql rows: $got"
grep -q '2001-02-03T04:05:06.000000056' <<<"$got" || fail "kiln sql nested value: $got"

# 4. still refused, naming table, column and type
for ty in variant unknown geometry; do
  sed "s/\"type\" *: *\"timestamp_ns\"/\"type\": \"$ty\"/" "$M" > "$T/src/metadata/v9.metadata.json"
  set +e
  "$KILN_BIN" table scan --metadata "$T/src/metadata/v9.metadata.json" > "$T/out" 2> "$T/err"
  rc=$?
  set -e
  [ "$rc" -ne 0 ] || fail "$ty column scanned with exit 0"
  grep -q 'column base' "$T/err" && grep -q "$ty" "$T/err" || fail "$ty: the error does not name column and type: $(cat "$T/err")"
done
# a file column of another type under timestamp_ns, and nanosecond data
# under a string column: errors naming the column and both types
retype() { # FIELD TYPE OUT (long ids kept exact)
  python3 - "$M" "$1" "$2" "$3" <<'PY'
import json, re, sys
m = json.loads(re.sub(r'(": )(\d{16,})', r'\1"\2"', open(sys.argv[1]).read()))
for f in m["schemas"][0]["fields"]:
    if f["name"] == sys.argv[2]:
        f["type"] = sys.argv[3]
open(sys.argv[4], "w").write(re.sub(r'"(\d{16,})"', r'\1', json.dumps(m, indent=1)))
PY
}
retype id timestamp_ns "$T/src/metadata/v8.metadata.json"
retype base string "$T/src/metadata/v7.metadata.json"
for v in 8 7; do
  cmp -s "$M" "$T/src/metadata/v$v.metadata.json" && fail "v$v: the type edit did not apply (test is void)"
  if "$KILN_BIN" table scan --metadata "$T/src/metadata/v$v.metadata.json" > /dev/null 2> "$T/err"; then fail "v$v: mismatched type scanned"; fi
done
grep -q 'column base (field id 2) is timestamp_ns in the file but string in the table' "$T/err" || fail "ns under string: $(cat "$T/err")"
"$KILN_BIN" table scan --metadata "$T/src/metadata/v8.metadata.json" > /dev/null 2> "$T/err" || true
grep -q 'column id (field id 1) is int in the file but timestamp_ns in the table' "$T/err" || fail "int under timestamp_ns: $(cat "$T/err")"
echo "interop_timestamp_ns: ok"
