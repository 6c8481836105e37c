#!/usr/bin/env bash
# interop_nested.sh - nested Parquet columns as other engines write them
# (DuckDB: structs with null members and null structs, three-level lists
# with null and empty lists and null elements, lists of structs holding
# lists, maps with null values, lists of lists, a struct of decimal, date,
# timestamp and NaN): `kiln parquet cat` and `kiln table scan` (an Iceberg
# table around the same file, made by tests/node/iceberg_foreign.mjs) print
# each value as JSON, equal value for value to DuckDB's to_json of the same
# file; the flat columns around them are unchanged.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
cd "$KILN_ROOT"
[ -d tests/node/node_modules/@duckdb/node-api ] || { echo "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "interop_nested: $*" >&2; exit 1; }

sql="SELECT i::INT AS id,
  CASE WHEN i % 7 = 3 THEN NULL ELSE {'sha': 'c' || i, 'n': i * 10, 'author': CASE WHEN i % 5 = 1 THEN NULL ELSE {'name': 'a' || i, 'email': NULL::VARCHAR} END} END AS s,
  CASE WHEN i % 6 = 2 THEN NULL WHEN i % 6 = 3 THEN []::INT[] ELSE [i::INT, NULL, i::INT + 1][1:(i % 3) + 1] END AS l,
  CASE WHEN i % 4 = 1 THEN NULL ELSE [{'sha': 'x' || i, 'files': ['f' || i, 'g']}, {'sha': NULL, 'files': []::VARCHAR[]}][1:(i % 3)] END AS commits,
  CASE WHEN i % 5 = 2 THEN NULL ELSE MAP(['k' || i, 'z'], [i, NULL]) END AS m,
  [[i, i + 1], [], NULL, [NULL]] AS ll,
  {'d': (i * 1.5)::DECIMAL(20,3), 'dt': DATE '2024-01-01' + i::INT, 'ts': TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i) HOUR,
   'f': CASE WHEN i = 2 THEN 'NaN'::DOUBLE ELSE i / 4 END} AS t,
  'tail' || i AS tail
FROM range(0, 3000) t(i)"
schema='[{"id":1,"name":"id","required":false,"type":"int"},
 {"id":2,"name":"s","required":false,"type":{"type":"struct","fields":[{"id":20,"name":"sha","required":false,"type":"string"},{"id":21,"name":"n","required":false,"type":"long"},
   {"id":22,"name":"author","required":false,"type":{"type":"struct","fields":[{"id":23,"name":"name","required":false,"type":"string"},{"id":24,"name":"email","required":false,"type":"string"}]}}]}},
 {"id":3,"name":"l","required":false,"type":{"type":"list","element-id":30,"element-required":false,"element":"int"}},
 {"id":4,"name":"commits","required":false,"type":{"type":"list","element-id":40,"element-required":false,"element":{"type":"struct","fields":[{"id":41,"name":"sha","required":false,"type":"string"},
   {"id":42,"name":"files","required":false,"type":{"type":"list","element-id":43,"element-required":false,"element":"string"}}]}}},
 {"id":5,"name":"m","required":false,"type":{"type":"map","key-id":50,"key":"string","value-id":51,"value-required":false,"value":"long"}},
 {"id":6,"name":"ll","required":false,"type":{"type":"list","element-id":60,"element-required":false,"element":{"type":"list","element-id":61,"element-required":false,"element":"long"}}},
 {"id":7,"name":"t","required":false,"type":{"type":"struct","fields":[{"id":70,"name":"d","required":false,"type":"decimal(20, 3)"},{"id":71,"name":"dt","required":false,"type":"date"},
   {"id":72,"name":"ts","required":false,"type":"timestamp"},{"id":73,"name":"f","required":false,"type":"double"}]}},
 {"id":8,"name":"tail","required":false,"type":"string"}]'
cat > "$T/spec.json" <<JSON
{"dir": "$T/nest", "schema": $schema,
 "files": [{"name": "a.parquet", "sql": $(printf '%s' "$sql" | node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(0,"utf8")))')}]}
JSON
node tests/node/iceberg_foreign.mjs "$T/spec.json"
pq="$T/nest/data/a.parquet"

"$KILN_BIN" parquet schema "$pq" | grep -q 'commits .*LIST .*json' || fail "commits is not a LIST column: $("$KILN_BIN" parquet schema "$pq")"
"$KILN_BIN" parquet cat --format ndjson "$pq" > "$T/pq.ndjson"
node tests/node/interop_compare.mjs "$T/pq.ndjson" "$pq" id
# a nested column projected alone, and after a flat one
"$KILN_BIN" parquet cat --format ndjson --columns tail,commits --limit 3 "$pq" > "$T/proj.ndjson"
grep -q '^{"tail":"tail0","commits":\[\]}$' "$T/proj.ndjson" || fail "projection: $(cat "$T/proj.ndjson")"

"$KILN_BIN" table scan --metadata "$T/nest/metadata/v1.metadata.json" --json > "$T/scan.ndjson"
node tests/node/interop_compare.mjs "$T/scan.ndjson" "$pq" id
grep -q '"commits":\[{"sha":"x2","files":\["f2","g"\]},{"sha":null,"files":\[\]}\]' "$T/scan.ndjson" ||
  fail "row 2's commits: $(grep '"id":2,' "$T/scan.ndjson")"
# struct fields renamed in the Iceberg schema (matched by the file's nested
# field ids) show the table's current names
cat > "$T/ren.json" <<JSON
{"dir": "$T/ren", "schema": [{"id":1,"name":"id","required":false,"type":"int"},
 {"id":2,"name":"s","required":false,"type":{"type":"struct","fields":[{"id":20,"name":"hash","required":false,"type":"string"},
   {"id":22,"name":"author","required":false,"type":{"type":"struct","fields":[{"id":23,"name":"login","required":false,"type":"string"}]}}]}}],
 "files": [{"name": "a.parquet", "sql": "SELECT i::INT AS id, {'sha': 'c' || i, 'author': {'name': 'a' || i}} AS s FROM range(3) t(i)",
   "field_ids": "{id: 1, s: {__duckdb_field_id: 2, sha: 20, author: {__duckdb_field_id: 22, name: 23}}}"}]}
JSON
node tests/node/iceberg_foreign.mjs "$T/ren.json"
got=$("$KILN_BIN" table scan --json --metadata "$T/ren/metadata/v1.metadata.json" | sed -n 2p)
[ "$got" = '{"id":1,"s":{"hash":"c1","author":{"login":"a1"}}}' ] || fail "renamed struct fields: $got"
echo "interop_nested: ok"
