#!/usr/bin/env bash
# interop_register.sh - `kiln table register` adds tables other engines
# wrote to the warehouse so `kiln sql` and `kiln table` use them by name:
# the Spark/DuckDB fixtures (../shared/fixtures: lineitem with a path remap
# kept in the catalog, TPC-H Q6 = 1077536.9101 as PySpark reports; the
# identity-partitioned table whose data files lack the partition column;
# equality deletes), and a DuckDB-written table with nested columns that
# SQLite's json_extract reaches into. The other engine's files are never
# written: commits and --purge are refused, drop forgets the table only.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
cd "$KILN_ROOT"
F="$KILN_ROOT/../shared/fixtures/iceberg"
[ -d "$F" ] || { echo "interop_register: fixtures not found at $F"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "interop_register: $*" >&2; exit 1; }
K() { "$KILN_BIN" -w "$T/wh" "$@"; }
Q() { K sql --csv "$1" | tail -n +2; }

# lineitem: relative paths in the metadata, remapped (the remap is kept)
K table register fx.lineitem --metadata "$F/iceberg/lineitem_iceberg" --remap "lineitem_iceberg=$F/iceberg/lineitem_iceberg" >/dev/null
[ "$(Q 'select count(*) from fx.lineitem')" = 51793 ] || fail "lineitem rows: $(Q 'select count(*) from fx.lineitem')"
q6=$(Q "select sum(l_extendedprice * l_discount) from fx.lineitem where l_shipdate >= '1994-01-01'
        and l_shipdate < '1995-01-01' and l_discount between 0.05 and 0.07 and l_quantity < 24")
[ "$q6" = 1077536.9101 ] || fail "Q6 = $q6, PySpark says 1077536.9101"
K table list --json | grep -q '"fx.lineitem"' || fail "table list lacks fx.lineitem"

# partition values from the manifest (data files lack the column)
K table register fx.pi --metadata "file://$F/partition_integer/metadata/v2.metadata.json" --remap "data/persistent/=$F/" >/dev/null
[ "$(Q 'select partition_col, user_id from fx.pi order by 1' | tr '\n' ' ')" = "42,12345 1337,67890 " ] ||
  fail "partition_integer: $(Q 'select * from fx.pi')"

# equality deletes (same answer as kiln table scan --metadata with the remap)
for t in mytable mytable_partitioned; do
  K table register "fx.$t" --metadata "$F/equality_deletes/warehouse/mydb/$t" --remap "data/persistent/=$F/" >/dev/null
  want=$("$KILN_BIN" table scan --metadata "$(ls "$F/equality_deletes/warehouse/mydb/$t/metadata/"v*.metadata.json | sort -V | tail -1)" \
    --remap "data/persistent/=$F/" | tail -n +2 | sort)
  got=$(Q "select * from fx.$t" | sort)
  [ "$got" = "$want" ] || fail "$t: sql gives
$got
scan gives
$want"
done

# nested and wide-decimal columns from DuckDB, reached with json_extract
cat > "$T/spec.json" <<JSON
{"dir": "$T/ext/events", "schema": [{"id":1,"name":"id","required":false,"type":"int"},
 {"id":2,"name":"payload","required":false,"type":{"type":"struct","fields":[{"id":3,"name":"size","required":false,"type":"int"},
  {"id":4,"name":"commits","required":false,"type":{"type":"list","element-id":5,"element-required":false,"element":{"type":"struct","fields":[
   {"id":6,"name":"sha","required":false,"type":"string"},{"id":7,"name":"author","required":false,"type":{"type":"struct","fields":[{"id":8,"name":"name","required":false,"type":"string"}]}}]}}}]}},
 {"id":9,"name":"amount","required":false,"type":"decimal(30, 8)"}],
 "files": [{"name": "a.parquet", "sql": "SELECT i::INT AS id, {'size': (i % 3)::INT, 'commits': [{'sha': 's' || i || '_' || j, 'author': {'name': 'dev' || j}} FOR j IN range(i % 3)]} AS payload, (i || '.12345678')::DECIMAL(30,8) AS amount FROM range(10) t(i)"}]}
JSON
node tests/node/iceberg_foreign.mjs "$T/spec.json"
K table register gh.events --metadata "$T/ext/events" >/dev/null
got=$(Q "select id, json_extract(payload, '\$.commits[1].author.name'), json_array_length(payload, '\$.commits'), amount from gh.events where id in (2, 5) order by id" | tr '\n' ' ')
[ "$got" = "2,dev1,2,2.12345678 5,dev1,2,5.12345678 " ] || fail "json_extract over a registered nested table: $got"
[ "$(Q "select typeof(payload) from gh.events limit 1")" = text ] || fail "nested values are not TEXT in SQL"

# kiln never writes the other engine's table
before=$( (ls -lR "$T/ext/events"; md5sum "$T/ext/events/metadata/"*) | md5sum)
set +e
K table append gh.events --input - <<< '{"id": 99}' 2>"$T/err"; rc=$?
set -e
[ "$rc" -ne 0 ] || fail "append to a registered table succeeded"
grep -q 'registered' "$T/err" || fail "append error does not say why: $(cat "$T/err")"
set +e
K table drop gh.events --purge 2>"$T/err"; rc=$?
set -e
[ "$rc" -ne 0 ] || fail "drop --purge of a registered table succeeded"
[ "$( (ls -lR "$T/ext/events"; md5sum "$T/ext/events/metadata/"*) | md5sum)" = "$before" ] ||
  fail "the other engine's files changed"
K table drop gh.events >/dev/null
[ -f "$T/ext/events/data/a.parquet" ] || fail "drop deleted the other engine's data"

# errors: a missing path is exit 4; a taken name says so
set +e
K table register gh.nothere --metadata "$T/none/v1.metadata.json" 2>"$T/err"; rc=$?
set -e
[ "$rc" -eq 4 ] || fail "missing metadata: exit $rc ($(cat "$T/err"))"
set +e
K table register fx.pi --metadata "$F/partition_integer/metadata/v2.metadata.json" 2>"$T/err"; rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q 'already exists' "$T/err" || fail "re-register: exit $rc ($(cat "$T/err"))"
echo "interop_register: ok"
