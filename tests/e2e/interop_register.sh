#!/usr/bin/env bash
# interop_register.sh - `kiln table register` adds tables other engines
# wrote to the warehouse so `kiln sql` and `kiln table` use them by name:
# the Spark/DuckDB fixtures (../shared/fixtures: lineitem with a path remap
# kept in the catalog, TPC-H Q6 = 1077536.9101 as PySpark reports; the
# identity-partitioned table whose data files lack the partition column;
# equality deletes), and a DuckDB-written table with nested columns that
# SQLite's json_extract reaches into. kiln commits to a registered table
# (no remap) with its own optimistic commit, never rewriting a file the
# other engine wrote: a new metadata version (vN+1 and version-hint.text in
# the Hadoop layout, NNNNN-<uuid>.metadata.json after Iceberg Java's names)
# that icebird, reading by the hint as Spark's Hadoop catalog does, sees.
# A remapped (copied) table is never written; --purge is refused, drop
# forgets the table only.
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

# kiln writes to the other engine's table (its optimistic commit), never
# rewriting a file that engine wrote
old_files=$(cd "$T/ext/events" && find . -type f ! -name version-hint.text | sort)
sums=$(cd "$T/ext/events" && md5sum $old_files)
K table append gh.events --input - <<< '{"id": 99, "payload": {"size": 1, "commits": [{"sha": "k99", "author": {"name": "kiln"}}]}, "amount": "99.00000001"}' > /dev/null
[ "$(cd "$T/ext/events" && md5sum $old_files)" = "$sums" ] || fail "a file the other engine wrote changed"
[ -f "$T/ext/events/metadata/v2.metadata.json" ] || fail "no v2.metadata.json: $(ls "$T/ext/events/metadata")"
[ "$(cat "$T/ext/events/metadata/version-hint.text")" = 2 ] || fail "version-hint.text not advanced"
[ "$(Q "select json_extract(payload, '\$.commits[0].sha'), amount from gh.events where id = 99")" = 'k99,99.00000001' ] ||
  fail "the row kiln appended: $(Q "select * from gh.events where id = 99")"
# an independent reader finding the table by its hint (as Spark's Hadoop catalog does) sees kiln's commit
K table scan gh.events --json > "$T/ev.ndjson"
node tests/node/lakedata_icebird.mjs "$T/ext/events" "$T/ev.ndjson" > /dev/null || fail "icebird does not see kiln's commit"
# operations that delete files stay refused on a registered table
for op in expire remove-orphans; do
  if K table $op gh.events 2>"$T/err" >/dev/null; then fail "$op on a registered table succeeded"; fi
  grep -q 'registered' "$T/err" || fail "$op error does not say why: $(cat "$T/err")"
done
# a remapped table (a copy read in place of another location) is never written
before=$( (ls -lR "$F/partition_integer"; md5sum "$F/partition_integer/metadata/"*) | md5sum)
set +e
K table append fx.pi --input - <<< '{}' 2>"$T/err"; rc=$?
set -e
[ "$rc" -ne 0 ] || fail "append to a remapped registered table succeeded"
grep -q 'remap' "$T/err" || fail "remapped append error does not say why: $(cat "$T/err")"
[ "$( (ls -lR "$F/partition_integer"; md5sum "$F/partition_integer/metadata/"*) | md5sum)" = "$before" ] ||
  fail "the fixture changed"
# metadata named as Iceberg Java's catalogs name it (Spark/Trino with Hive/REST):
# kiln's commit continues the numbering, writes no hint file
mkdir -p "$T/jv" && cp -r "$T/ext/events/data" "$T/jv/" && mkdir "$T/jv/metadata"
cp "$T/ext/events/metadata/"*.avro "$T/jv/metadata/"
cp "$T/ext/events/metadata/v2.metadata.json" "$T/jv/metadata/00007-0f1e2d3c-aaaa-4bbb-8ccc-123456789abc.metadata.json"
K table register gh.jv --metadata "$T/jv/metadata/00007-0f1e2d3c-aaaa-4bbb-8ccc-123456789abc.metadata.json" > /dev/null
K table append gh.jv --input - <<< '{"id": 100}' > /dev/null
nm=$(ls "$T/jv/metadata" | grep -c '^00008-.*\.metadata\.json$' || true)
[ "$nm" -eq 1 ] || fail "no 00008-<uuid>.metadata.json after the commit: $(ls "$T/jv/metadata")"
[ ! -e "$T/jv/metadata/version-hint.text" ] || fail "a hint file in a Java-named table"
[ "$(Q "select count(*) from gh.jv where id in (99, 100)")" = 2 ] || fail "gh.jv rows"
set +e
K table drop gh.events --purge 2>"$T/err"; rc=$?
set -e
[ "$rc" -ne 0 ] || fail "drop --purge of a registered table succeeded"
[ "$(cd "$T/ext/events" && md5sum $old_files)" = "$sums" ] || fail "the other engine's files changed"
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
