#!/usr/bin/env bash
# interop_types.sh - the primitive types other engines write, read exactly
# (DuckDB's Parquet, compared with DuckDB value for value): time (as
# HH:MM:SS[.ffffff], not a number), uuid (8-4-4-4-12, from
# FIXED_LEN_BYTE_ARRAY(16) UUID), binary, timestamp vs timestamptz, dates
# and timestamps from year 1 to 9999 (before 1970 and after 2262), NaN and
# +-Infinity in float and double, the extremes of both. Through
# `kiln parquet cat`, `kiln table scan` of an Iceberg table around the file
# and `kiln sql` over it once registered.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
cd "$KILN_ROOT"
[ -d tests/node/node_modules/@duckdb/node-api ] || { echo "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "interop_types: $*" >&2; exit 1; }

sql="SELECT i::INT AS id,
  (TIME '00:00:00' + INTERVAL (i * 3671001) MILLISECOND)::TIME AS t,
  CASE WHEN i = 0 THEN '00000000-0000-0000-0000-000000000000'::UUID WHEN i = 1 THEN 'ffffffff-ffff-ffff-ffff-ffffffffffff'::UUID
       WHEN i = 2 THEN NULL ELSE md5(i::VARCHAR)::UUID END AS u,
  unhex('00FF' || hex(i::VARCHAR)) AS bl,
  (TIMESTAMP '2024-03-03 10:00:00.123456' + INTERVAL (i) DAY) AS ts,
  (TIMESTAMPTZ '2024-03-03 10:00:00.123456+00' + INTERVAL (i) DAY) AS tstz,
  [DATE '0001-01-01', DATE '1900-02-28', DATE '1969-12-31', DATE '2262-04-12', DATE '9999-12-31', DATE '1970-01-01'][i % 6 + 1] AS d,
  [TIMESTAMP '0001-01-01 00:00:00', TIMESTAMP '1677-09-21 00:12:43.145224', TIMESTAMP '2262-04-12 00:00:00',
   TIMESTAMP '9999-12-31 23:59:59.999999', TIMESTAMP '1969-12-31 23:59:59.999999', TIMESTAMP '2000-01-01'][i % 6 + 1] AS tsx,
  ['NaN'::DOUBLE, 'Infinity'::DOUBLE, '-Infinity'::DOUBLE, -0.0::DOUBLE, 1e308, 5e-324][i % 6 + 1] AS dbl,
  ['NaN'::FLOAT, 'Infinity'::FLOAT, '-Infinity'::FLOAT, 1.5::FLOAT, 3.4e38::FLOAT, 1e-45::FLOAT][i % 6 + 1] AS flt
FROM range(0, 24) t(i)"
schema='[{"id":1,"name":"id","required":false,"type":"int"},{"id":2,"name":"t","required":false,"type":"time"},
 {"id":3,"name":"u","required":false,"type":"uuid"},{"id":4,"name":"bl","required":false,"type":"binary"},
 {"id":5,"name":"ts","required":false,"type":"timestamp"},{"id":6,"name":"tstz","required":false,"type":"timestamptz"},
 {"id":7,"name":"d","required":false,"type":"date"},{"id":8,"name":"tsx","required":false,"type":"timestamp"},
 {"id":9,"name":"dbl","required":false,"type":"double"},{"id":10,"name":"flt","required":false,"type":"float"}]'
cat > "$T/spec.json" <<JSON
{"dir": "$T/types", "schema": $schema,
 "files": [{"name": "a.parquet", "sql": $(printf '%s' "$sql" | node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(0,"utf8")))')}]}
JSON
node tests/node/iceberg_foreign.mjs "$T/spec.json"
pq="$T/types/data/a.parquet"

"$KILN_BIN" parquet cat --format ndjson "$pq" > "$T/pq.ndjson"
node tests/node/interop_compare.mjs "$T/pq.ndjson" "$pq" id
"$KILN_BIN" table scan --metadata "$T/types/metadata/v1.metadata.json" --json > "$T/scan.ndjson"
node tests/node/interop_compare.mjs "$T/scan.ndjson" "$pq" id
grep -q '"t":"01:01:11.001","u":"ffffffff-ffff-ffff-ffff-ffffffffffff"' "$T/scan.ndjson" || fail "time/uuid text: $(sed -n 2p "$T/scan.ndjson")"
grep -q '"ts":"2024-03-03T10:00:00.123456","tstz":"2024-03-03T10:00:00.123456Z"' "$T/scan.ndjson" ||
  fail "timestamp vs timestamptz: $(head -1 "$T/scan.ndjson")"

"$KILN_BIN" -w "$T/wh" table register x.types --metadata "$T/types" >/dev/null
got=$("$KILN_BIN" -w "$T/wh" sql --csv "select t, u, d, tsx from x.types where id = 4" | tail -1)
# (kiln sql writes every timestamp as UTC text, zone-less ones too: docs/sql.md)
[ "$got" = "04:04:44.004,a87ff679-a2f3-e71d-9181-a67b7542122c,9999-12-31,1969-12-31T23:59:59.999999Z" ] ||
  fail "sql: $got"
echo "interop_types: ok"
