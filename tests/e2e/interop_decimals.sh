#!/usr/bin/env bash
# interop_decimals.sh - an Iceberg table written the way other engines write
# it (Parquet by DuckDB, metadata by tests/node/iceberg_foreign.mjs) with
# decimals of every width kiln must read exactly: decimal(6,3) .. decimal(26,11)
# (INT32, INT64 and FIXED_LEN_BYTE_ARRAY physical types, the shape of the
# Spark table that used to lose every column wider than 18 digits) plus
# decimal(38,0) and decimal(38,37). kiln's scan prints every column, and
# every value equals DuckDB's exact decimal text of the same files.
# A column type kiln cannot read is an error naming the column, never a
# shorter row.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
cd "$KILN_ROOT"
[ -d tests/node/node_modules/@duckdb/node-api ] || { echo "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "interop_decimals: $*" >&2; exit 1; }

cols='{"id":1,"name":"id","required":false,"type":"int"}'
sel='SELECT i::INT AS id'
ids='id:1'
n=2
for ps in 6,3 9,4 10,4 12,5 15,6 18,7 19,8 20,9 24,10 26,11 38,0 38,37; do
  p=${ps%,*} s=${ps#*,}
  cols="$cols,{\"id\":$n,\"name\":\"d${p}_$s\",\"required\":false,\"type\":\"decimal($p, $s)\"}"
  # values use every digit of the precision, negative every other row, a
  # null every fifth row, and the extremes +-(10^P - 1) / 10^S
  frac="CASE WHEN $s > 0 THEN '.' ELSE '' END"
  sel="$sel, (CASE WHEN i % 5 = 4 THEN NULL
        WHEN i < 2 THEN (CASE WHEN i = 1 THEN '-' ELSE '' END) || repeat('9', $p - $s) || $frac || repeat('9', $s)
        ELSE (CASE WHEN i % 2 = 1 THEN '-' ELSE '' END) || repeat(((i * 7) % 10)::VARCHAR, $p - $s) || $frac
             || repeat(((i * 3) % 10)::VARCHAR, $s) END)::DECIMAL($p,$s) AS d${p}_$s"
  ids="$ids,d${p}_$s:$n"
  n=$((n + 1))
done
sel="$sel FROM range(0, 40) t(i)"
cat > "$T/spec.json" <<JSON
{"dir": "$T/dec", "schema": [$cols],
 "files": [{"name": "a.parquet", "sql": $(printf '%s' "$sel" | node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(0,"utf8")))'), "field_ids": "{$ids}"}]}
JSON
node tests/node/iceberg_foreign.mjs "$T/spec.json"
meta="$T/dec/metadata/v1.metadata.json"

"$KILN_BIN" table scan --metadata "$meta" --json > "$T/rows.ndjson"
[ "$(wc -l < "$T/rows.ndjson")" -eq 40 ] || fail "expected 40 rows"
node tests/node/interop_compare.mjs "$T/rows.ndjson" "$T/dec/data/*.parquet" id

# CSV: the same exact text, all 13 columns
"$KILN_BIN" table scan --metadata "$meta" > "$T/rows.csv"
[ "$(head -1 "$T/rows.csv" | tr ',' '\n' | wc -l)" -eq 13 ] || fail "CSV header lacks columns: $(head -1 "$T/rows.csv")"
grep -q '^1,-999\.999,' "$T/rows.csv" || fail "row 1 of decimal(6,3) is not -999.999: $(grep '^1,' "$T/rows.csv")"
grep -q '^1,.*,-99999999999999999999999999999999999999,-9\.9999999999999999999999999999999999999$' "$T/rows.csv" ||
  fail "decimal(38,0)/(38,37) extremes not exact: $(grep '^1,' "$T/rows.csv")"

# the Parquet CLI reads the same file exactly too
"$KILN_BIN" parquet cat "$T/dec/data/a.parquet" > "$T/pq.csv"
cmp -s <(sort "$T/pq.csv") <(sort "$T/rows.csv") || fail "kiln parquet cat differs from kiln table scan"

# kiln sql over the registered table: 16+ digit decimals as exact text
"$KILN_BIN" -w "$T/wh" table register x.dec --metadata "$T/dec" > /dev/null
got=$("$KILN_BIN" -w "$T/wh" sql --csv "select d15_6, d18_7, d26_11, d38_37, typeof(d18_7) from x.dec where id = 1" | tail -1)
[ "$got" = "-999999999.999999,-99999999999.9999999,-999999999999999.99999999999,-9.9999999999999999999999999999999999999,text" ] ||
  fail "kiln sql decimals: $got"

# kiln writes them exactly too (BYTE_ARRAY two's complement for P > 18):
# DuckDB reads kiln's copy value for value, and kiln reads its copy back
mkdir "$T/copy"
"$KILN_BIN" parquet rewrite "$T/dec/data/a.parquet" "$T/copy/b.parquet" > /dev/null
"$KILN_BIN" parquet schema "$T/copy/b.parquet" | grep -q 'd26_11 .*BYTE_ARRAY .*DECIMAL(26,11)' ||
  fail "kiln's copy does not store decimal(26,11) as BYTE_ARRAY: $("$KILN_BIN" parquet schema "$T/copy/b.parquet")"
node tests/node/interop_compare.mjs "$T/rows.ndjson" "$T/copy/*.parquet" id
"$KILN_BIN" parquet cat "$T/copy/b.parquet" > "$T/copy.csv"
cmp -s "$T/copy.csv" "$T/pq.csv" || fail "kiln's copy reads back differently"

# a type kiln cannot read is an error that names the column; exit non-zero
sed 's/"decimal(26, 11)"/"variant"/' "$meta" > "$T/dec/metadata/v2.metadata.json"
set +e
"$KILN_BIN" table scan --metadata "$T/dec/metadata/v2.metadata.json" > "$T/out" 2> "$T/err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a variant column scanned with exit 0"
grep -q 'd26_11' "$T/err" || fail "error does not name the column: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "rows were printed before the error"
echo "interop_decimals: ok"
