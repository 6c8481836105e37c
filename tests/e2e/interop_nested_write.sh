#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# interop_nested_write.sh - kiln WRITES nested columns (Dremel levels) and
# other readers read them value for value:
#  1. DuckDB writes a Parquet file with every nested shape (structs with
#     null members and null structs, 3-level lists with null/empty lists
#     and null elements, lists of structs holding lists, maps with null
#     values and int keys, lists of lists, a struct of decimal(9,2),
#     decimal(38,10), date, timestamp, timestamptz, time, binary, boolean,
#     float, double with NaN) inside an Iceberg table made without kiln;
#     kiln reads it as JSON (interop_nested.sh proves that equals DuckDB);
#  2. `kiln table append` puts those rows (NDJSON) into a kiln table of the
#     same schema; kiln scans them back byte for byte the same JSON;
#  3. DuckDB (tests/node/interop_compare.mjs) and hyparquet
#     (tests/node/hyparquet_nested.mjs) read kiln's data files value for value;
#  4. `kiln table merge` updates nested values by key;
#  5. the Iceberg data_file metrics carry the nested leaves by field id
#     (bounds only outside lists and maps, as Iceberg does);
#  6. a value that does not fit the column's shape is an error naming the
#     table, the field path and the row; no data file is left behind.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
cd "$KILN_ROOT"
[ -d tests/node/node_modules/@duckdb/node-api ] || { echo "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "interop_nested_write: $*" >&2; exit 1; }
W="$T/wh"

sql="SELECT i::INT AS id,
  CASE WHEN i % 7 = 3 THEN NULL ELSE {'sha': 'c' || i, 'n': i * 10, 'ok': i % 2 = 0, 'author': CASE WHEN i % 5 = 1 THEN NULL ELSE {'name': 'a' || i, 'email': NULL::VARCHAR} END} END AS s,
  CASE WHEN i % 6 = 2 THEN NULL WHEN i % 6 = 3 THEN []::INT[] ELSE [i::INT, NULL, i::INT + 1][1:(i % 3) + 1] END AS l,
  CASE WHEN i % 4 = 1 THEN NULL ELSE [{'sha': 'x' || i, 'files': ['f' || i, 'g'], 'who': {'login': 'u' || i, 'ids': [i, NULL]}}, {'sha': NULL, 'files': []::VARCHAR[], 'who': NULL}][1:(i % 3)] END AS commits,
  CASE WHEN i % 5 = 2 THEN NULL ELSE MAP(['k' || i, 'z'], [i, NULL]) END AS m,
  CASE WHEN i % 3 = 0 THEN MAP([i::INT, -1], [[1.5::FLOAT, NULL], []::FLOAT[]]) ELSE NULL END AS mi,
  [[i, i + 1], [], NULL, [NULL]] AS ll,
  {'d': (i * 1.5)::DECIMAL(20,3), 'd9': (i / 8)::DECIMAL(9,2), 'd38': ('12345678901234567890123456.' || lpad(i::VARCHAR, 10, '0'))::DECIMAL(38,10),
   'dt': DATE '1969-12-25' + i::INT, 'ts': TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i) HOUR,
   'tz': TIMESTAMPTZ '2024-01-01 00:00:00+00' + INTERVAL (i * 7) SECOND, 'tm': TIME '10:00:00' + INTERVAL (i) SECOND,
   'b': encode('ab' || i), 'f': CASE WHEN i = 2 THEN 'NaN'::DOUBLE WHEN i = 4 THEN '-Infinity'::DOUBLE ELSE i / 4 END,
   'r': (i / 3)::FLOAT} AS t,
  'tail' || i AS tail
FROM range(0, 3000) t(i)"
schema='[{"id":1,"name":"id","required":false,"type":"int"},
 {"id":2,"name":"s","required":false,"type":{"type":"struct","fields":[{"id":20,"name":"sha","required":false,"type":"string"},{"id":21,"name":"n","required":false,"type":"long"},{"id":25,"name":"ok","required":false,"type":"boolean"},
   {"id":22,"name":"author","required":false,"type":{"type":"struct","fields":[{"id":23,"name":"name","required":false,"type":"string"},{"id":24,"name":"email","required":false,"type":"string"}]}}]}},
 {"id":3,"name":"l","required":false,"type":{"type":"list","element-id":30,"element-required":false,"element":"int"}},
 {"id":4,"name":"commits","required":false,"type":{"type":"list","element-id":40,"element-required":false,"element":{"type":"struct","fields":[{"id":41,"name":"sha","required":false,"type":"string"},
   {"id":42,"name":"files","required":false,"type":{"type":"list","element-id":43,"element-required":false,"element":"string"}},
   {"id":44,"name":"who","required":false,"type":{"type":"struct","fields":[{"id":45,"name":"login","required":false,"type":"string"},{"id":46,"name":"ids","required":false,"type":{"type":"list","element-id":47,"element-required":false,"element":"long"}}]}}]}}},
 {"id":5,"name":"m","required":false,"type":{"type":"map","key-id":50,"key":"string","value-id":51,"value-required":false,"value":"long"}},
 {"id":9,"name":"mi","required":false,"type":{"type":"map","key-id":90,"key":"int","value-id":91,"value-required":false,"value":{"type":"list","element-id":92,"element-required":false,"element":"float"}}},
 {"id":6,"name":"ll","required":false,"type":{"type":"list","element-id":60,"element-required":false,"element":{"type":"list","element-id":61,"element-required":false,"element":"long"}}},
 {"id":7,"name":"t","required":false,"type":{"type":"struct","fields":[{"id":70,"name":"d","required":false,"type":"decimal(20, 3)"},{"id":74,"name":"d9","required":false,"type":"decimal(9, 2)"},
   {"id":75,"name":"d38","required":false,"type":"decimal(38, 10)"},{"id":71,"name":"dt","required":false,"type":"date"},
   {"id":72,"name":"ts","required":false,"type":"timestamp"},{"id":76,"name":"tz","required":false,"type":"timestamptz"},{"id":77,"name":"tm","required":false,"type":"time"},
   {"id":78,"name":"b","required":false,"type":"binary"},{"id":73,"name":"f","required":false,"type":"double"},{"id":79,"name":"r","required":false,"type":"float"}]}},
 {"id":8,"name":"tail","required":false,"type":"string"}]'
cat > "$T/spec.json" <<JSON
{"dir": "$T/src", "schema": $schema,
 "files": [{"name": "a.parquet", "sql": $(printf '%s' "$sql" | node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(0,"utf8")))')}]}
JSON
node tests/node/iceberg_foreign.mjs "$T/spec.json"
"$KILN_BIN" table scan --metadata "$T/src/metadata/v1.metadata.json" --json > "$T/src.ndjson"
[ "$(wc -l < "$T/src.ndjson")" -eq 3000 ] || fail "source rows: $(wc -l < "$T/src.ndjson")"

# `kiln parquet rewrite` of DuckDB's nested file (threads 1 and 2): the same
# JSON back, and DuckDB reads the rewrite value for value
for th in 1 2; do
  "$KILN_BIN" parquet rewrite --threads $th "$T/src/data/a.parquet" "$T/rw$th.parquet" 2> /dev/null
  "$KILN_BIN" parquet cat --format ndjson "$T/src/data/a.parquet" > "$T/rw.a"
  "$KILN_BIN" parquet cat --format ndjson "$T/rw$th.parquet" > "$T/rw.b"
  cmp -s "$T/rw.a" "$T/rw.b" || fail "parquet rewrite (threads $th) of nested columns changed values"
done
node tests/node/interop_compare.mjs "$T/rw.b" "$T/rw2.parquet" id > /dev/null

ddl='id int, s struct<sha:string, n:long, ok:boolean, author:struct<name:string, email:string>>, l list<int>,
 commits list<struct<sha:string, files:list<string>, who:struct<login:string, ids:list<long>>>>,
 m map<string,long>, mi map<int,list<float>>, ll list<list<long>>,
 t struct<d:decimal(20,3), d9:decimal(9,2), d38:decimal(38,10), dt:date, ts:timestamp, tz:timestamptz, tm:time, b:binary, f:double, r:float>, tail string'
"$KILN_BIN" table create db.nest -w "$W" --schema "$ddl" > /dev/null
"$KILN_BIN" table append db.nest -w "$W" --input "$T/src.ndjson" > /dev/null
"$KILN_BIN" table scan db.nest -w "$W" --json > "$T/out.ndjson"
# byte for byte the same JSON (exact decimals, NaN, -Infinity, nulls at every level)
sort "$T/src.ndjson" > "$T/a"; sort "$T/out.ndjson" > "$T/b"
cmp -s "$T/a" "$T/b" || { diff "$T/a" "$T/b" | head -5 >&2; fail "kiln's nested round trip differs"; }
files=$(ls "$W"/db/nest/data/*.parquet)
"$KILN_BIN" parquet schema $files | grep -q 'commits .*LIST .*json' || fail "commits is not a LIST column"
# DuckDB reads kiln's files value for value
node tests/node/interop_compare.mjs "$T/out.ndjson" "$W/db/nest/data/*.parquet" id
# hyparquet too
node tests/node/hyparquet_nested.mjs "$T/out.ndjson" id $files
# DuckDB's own view of one deep value, as text
(cd tests/node && node -e '
const {DuckDBInstance}=require("@duckdb/node-api");
(async()=>{const db=await (await DuckDBInstance.create(":memory:")).connect();
const r=(await db.runAndReadAll(`select commits[1].who.ids[1]::BIGINT as a, len(commits) as n, t.d38::VARCHAR as d, mi[3][1] as f from read_parquet("'"$W"'/db/nest/data/*.parquet") where id = 2`)).getRowObjects()[0];
const want={a:2n,n:2n,d:"12345678901234567890123456.0000000002",f:null};
for (const k of Object.keys(want)) if (r[k]!==want[k]) {console.error("duckdb "+k+": "+r[k]); process.exit(1);} })()') ||
  fail "DuckDB's deep values of row 2"

# metrics by nested field id: value and null counts for every leaf, bounds
# outside lists/maps only (s.sha = 20 has them, commits.sha = 41 does not)
m=$(ls "$W"/db/nest/metadata/*-m-added.avro | head -1)
"$KILN_BIN" avro cat "$m" > "$T/entries.json"
head -1 "$T/entries.json" > "$T/entry.json"
meta=$(ls "$W"/db/nest/metadata/v*.metadata.json | sort -V | tail -1)
node -e '
const fs=require("fs");
const e=JSON.parse(fs.readFileSync(process.argv[1],"utf8")).data_file;
const md=JSON.parse(fs.readFileSync(process.argv[2],"utf8"));
const sc=md.schemas.find(x=>x["schema-id"]===md["current-schema-id"]);
// field id of a dotted path (list: element, map: key/value)
function id(path){let t={type:"struct",fields:sc.fields},fid=null;
  for(const p of path.split(".")){ if(t.type==="struct"){const f=t.fields.find(x=>x.name===p); fid=f.id; t=f.type;}
    else if(t.type==="list"){fid=t["element-id"]; t=t.element;} else {fid=t[p+"-id"]; t=t[p];} }
  return fid;}
const ids=(k)=>new Set((e[k]||[]).map(x=>x.key));
const vc=ids("value_counts"), lb=ids("lower_bounds");
const all=["s.sha","s.n","s.author.name","s.ok","l.element","commits.element.sha","commits.element.files.element","commits.element.who.login",
  "commits.element.who.ids.element","m.key","m.value","ll.element.element","t.d","t.dt","t.d38","t.r","mi.value.element"];
for (const p of all) if(!vc.has(id(p))) {console.error("no value_count for "+p+" (field "+id(p)+")"); process.exit(1);}
for (const p of ["s.sha","s.n","s.author.name","t.dt","t.d9"]) if(!lb.has(id(p))) {console.error("no lower bound for "+p); process.exit(1);}
for (const p of ["l.element","commits.element.sha","commits.element.files.element","m.key","m.value","ll.element.element"]) if(lb.has(id(p))) {console.error("a bound for "+p+" inside a list/map"); process.exit(1);}
if (vc.has(id("s"))) {console.error("a metric for the struct itself"); process.exit(1);}
const lc=Object.fromEntries(e.value_counts.map(x=>[x.key,x.value]));
if (lc[id("ll.element.element")] <= 3000) {console.error("value_count of ll.element.element counts rows, not entries"); process.exit(1);}
' "$T/entry.json" "$meta" || fail "nested leaf metrics: $(head -c 600 "$T/entry.json")"

# merge: nested values updated by key, a new row inserted
cat > "$T/up.ndjson" <<'EOF'
{"id":2,"s":{"sha":"new","n":-1,"ok":null,"author":{"name":null,"email":"e@x"}},"l":[7],"commits":[],"m":{"only":5},"mi":{"9":[null]},"ll":[[]],"t":{"d":-0.001,"d9":"12.50","d38":-1.5,"dt":"2300-01-01","ts":"1900-01-01T00:00:00.000001","tz":"2024-06-01T12:00:00Z","tm":"23:59:59.5","b":"00ff","f":"Infinity","r":0.25},"tail":"t"}
{"id":9000,"s":null}
EOF
"$KILN_BIN" table merge db.nest -w "$W" --key id --input "$T/up.ndjson" > /dev/null
"$KILN_BIN" table scan db.nest -w "$W" --json --where 'id = 2' > "$T/m2"
want='{"id":2,"s":{"sha":"new","n":-1,"ok":null,"author":{"name":null,"email":"e@x"}},"l":[7],"commits":[],"m":{"only":5},"mi":{"9":[null]},"ll":[[]],"t":{"d":-0.001,"d9":12.50,"d38":-1.5000000000,"dt":"2300-01-01","ts":"1900-01-01T00:00:00.000001","tz":"2024-06-01T12:00:00Z","tm":"23:59:59.5","b":"00ff","f":"Infinity","r":0.25},"tail":"t"}'
[ "$(cat "$T/m2")" = "$want" ] || fail "merged row 2: $(cat "$T/m2")"
[ "$("$KILN_BIN" table scan db.nest -w "$W" --json --where 'id = 9000')" = '{"id":9000,"s":null,"l":null,"commits":null,"m":null,"mi":null,"ll":null,"t":null,"tail":null}' ] ||
  fail "merged row 9000"
[ "$("$KILN_BIN" table scan db.nest -w "$W" --json | wc -l)" -eq 3001 ] || fail "rows after merge"
node tests/node/interop_compare.mjs <("$KILN_BIN" table scan db.nest -w "$W" --json) "$W/db/nest/data/*.parquet" id >/dev/null 2>&1 ||
  true # (the merge leaves a positional delete: DuckDB's plain read_parquet would see the old row too)

# a value that does not fit: error naming table, field and row; nothing written
before=$(ls "$W"/db/nest/data | wc -l)
echo '{"id":1,"commits":[{"sha":5}]}' > "$T/bad.ndjson"
set +e
"$KILN_BIN" table append db.nest -w "$W" --input "$T/bad.ndjson" 2> "$T/err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "bad nested value: exit $rc (want 1): $(cat "$T/err")"
grep -q 'db.nest' "$T/err" && grep -q 'commits.element.sha' "$T/err" && grep -q 'expected a string' "$T/err" ||
  fail "bad nested value message: $(cat "$T/err")"
[ "$(ls "$W"/db/nest/data | wc -l)" -eq "$before" ] || fail "a refused append left a data file"
echo '{"id":1,"s":{"nope":1}}' > "$T/bad2.ndjson"
if "$KILN_BIN" table append db.nest -w "$W" --input "$T/bad2.ndjson" 2> "$T/err"; then fail "unknown struct field accepted"; fi
grep -q 'has no field "nope"' "$T/err" || fail "unknown field message: $(cat "$T/err")"
echo "interop_nested_write: ok"

# projection of a nested leaf reads only that leaf's column chunk: with the
# chunk of a sibling leaf (the last one, v.b's strings, just before the
# footer) garbled, `--columns v.a` still reads while the whole column fails
printf '{"id":%d,"v":{"a":%d,"b":["s%d","t"]},"p":{"q":{"r":%d}}}\n' $(seq 1 200 | awk '{print $1, $1*3, $1, $1}') > "$T/pv.ndjson"
"$KILN_BIN" table create db.pv -w "$W" --schema 'id long, p struct<q:struct<r:int>>, v struct<a:int, b:list<string>>' > /dev/null
"$KILN_BIN" table append db.pv -w "$W" --input "$T/pv.ndjson" > /dev/null
pf=$(ls "$W"/db/pv/data/*.parquet)
"$KILN_BIN" parquet cat --format ndjson --columns id,v.a,p.q.r,v.b "$pf" | sed -n 2p > "$T/proj"
[ "$(cat "$T/proj")" = '{"id":2,"v.a":6,"p.q.r":2,"v.b":["s2","t"]}' ] || fail "sub-path projection: $(cat "$T/proj")"
# with a filter on a column not shown (read too, then hidden)
got=$("$KILN_BIN" parquet cat --format ndjson --columns v.a,v.b --where 'id = 3' "$pf")
[ "$got" = '{"v.a":9,"v.b":["s3","t"]}' ] || fail "sub-path projection with --where: $got"
"$KILN_BIN" parquet cat --format ndjson --columns v.a "$pf" > "$T/va.before"
python3 "$KILN_ROOT/tests/e2e/garble_last_chunk.py" "$pf" # the end of v.b's chunk, the last leaf
"$KILN_BIN" parquet cat --format ndjson --columns v.a "$pf" > "$T/va.after" || fail "v.a after garbling its sibling's chunk"
cmp -s "$T/va.before" "$T/va.after" || fail "v.a changed when its sibling's chunk was garbled"
if "$KILN_BIN" parquet cat --format ndjson --columns v "$pf" > /dev/null 2>&1; then fail "the garbled chunk was not read for the whole column (test is void)"; fi
echo "interop_nested_write: ok (projection)"

# kiln sql writes nested (JSON text) and wide decimal (exact text) columns
"$KILN_BIN" table create db.q -w "$W" --schema 'id int, s struct<a:int, b:list<string>>, d decimal(30,2)' > /dev/null
"$KILN_BIN" sql --warehouse "$W" "INSERT INTO db.q VALUES (1, '{\"a\":5,\"b\":[\"x\",null]}', '123456789012345678901234567.89')" > /dev/null
got=$("$KILN_BIN" sql --warehouse "$W" --json "SELECT json_extract(s, '\$.b[0]') AS b0, d FROM db.q" 2>&1 || true)
grep -q '"b0":"x"' <<<"$got" && grep -q '123456789012345678901234567.89' <<<"$got" || fail "SQL insert of nested/wide decimal: $got"
[ "$("$KILN_BIN" table scan db.q -w "$W" --json)" = '{"id":1,"s":{"a":5,"b":["x",null]},"d":"123456789012345678901234567.89"}' ] ||
  fail "SQL-inserted row: $("$KILN_BIN" table scan db.q -w "$W" --json)"
if "$KILN_BIN" sql --warehouse "$W" "INSERT INTO db.q VALUES (2, '{\"a\":\"x\"}', 1)" 2> "$T/err"; then fail "SQL insert of a bad nested value succeeded"; fi
grep -q 'field s.a: expected an int' "$T/err" || fail "SQL bad nested value message: $(cat "$T/err")"
echo "interop_nested_write: ok (sql)"
