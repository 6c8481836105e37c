#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# interop_v3_write.sh - kiln writes Iceberg format-version 3 tables:
#  1. `create --property format-version=3`: appends assign row ids (row
#     lineage); DELETE and MERGE write deletion vectors (Puffin
#     deletion-vector-v1 blobs) instead of rewriting data files; a second
#     delete from the same file merges the old vector and replaces it.
#     Every step is checked by an independent reader
#     (tests/node/iceberg_v3_check.mjs: avsc manifests, DuckDB Parquet,
#     tests/e2e/interop_dv_check.py: Puffin + CRoaring bitmaps), which also
#     checks the row lineage rules, against kiln's scan.
#     rewrite-position-delete-files converts Parquet position deletes
#     into deletion vectors (merging a data file's existing vector).
#     timestamp_ns / timestamptz_ns columns, top-level and inside nested
#     columns, written as INT64 TIMESTAMP(NANOS) (DuckDB reads them).
#  2. v2 -> v3 upgrade with `alter --set-property format-version=3`; no
#     downgrade.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
cd "$KILN_ROOT"
[ -d tests/node/node_modules/@duckdb/node-api ] || { echo "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"; exit 1; }
python3 -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("roaring") else 1)' ||
  { echo "interop_v3_write: libroaring (CRoaring) missing (run scripts/deps.sh)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "interop_v3_write: $*" >&2; exit 1; }
K() { "$KILN_BIN" -w "$T/wh" "$@"; }
# 66,000 rows in one file of partition a: positions beyond 65,535 need a
# second 16-bit container of the bitmap (smaller under ASan: one container)
case "$KILN_BIN" in */build-asan/*) NA=9000 ;; *) NA=66000 ;; esac
meta() { ls "$T"/wh/db/"$1"/metadata/v*.metadata.json | sort -V | tail -1; }
check() { # table, expected rows[, columns: with _row_id,_last_updated_sequence_number the checker compares those too]
  K table scan "db.$1" ${3:+--columns "$3"} --json > "$T/rows.ndjson"
  [ "$(wc -l < "$T/rows.ndjson")" -eq "$2" ] || fail "db.$1: kiln scans $(wc -l < "$T/rows.ndjson") rows, want $2"
  node tests/node/iceberg_v3_check.mjs "$(meta "$1")" "$T/rows.ndjson" > "$T/check" || fail "db.$1: the independent reader disagrees"
}

# ---------------------------------------------------------------- 1. a v3 table
K table create db.t --schema 'id long, g string, n long' --partition g --property format-version=3 > /dev/null
m=$(meta t)
grep -q '"format-version" *: *3' "$m" && grep -q '"next-row-id" *: *0' "$m" || fail "create: not a v3 table: $(head -c 300 "$m")"
grep -q '"format-version" *: *"3"' "$m" && fail "format-version was stored as a property"
python3 -c "
import sys
for i in range($NA): print('{\"id\":%d,\"g\":\"a\",\"n\":%d}' % (i, i))
for i in range(2000): print('{\"id\":%d,\"g\":\"b\",\"n\":%d}' % ($NA + i, i))" > "$T/in.ndjson"
K table append db.t --input "$T/in.ndjson" > /dev/null
grep -q "\"next-row-id\" *: *$((NA + 2000))" "$(meta t)" || fail "next-row-id after the append: $(grep -o '"next-row-id"[^,]*' "$(meta t)")"
nfiles=$(ls "$T"/wh/db/t/data/*/*.parquet | wc -l)

# DELETE: a bitmap container (>4096 positions of one 16-bit chunk), across
# the 65,536 boundary, array containers; no data file is rewritten
lo=$((NA - 10000)); [ "$lo" -gt 0 ] || lo=100
K table delete db.t --where "g = 'a' and n >= $lo" > /dev/null
K table delete db.t --where "g = 'b' and n < 3" > /dev/null
[ "$(ls "$T"/wh/db/t/data/*/*.parquet | wc -l)" -eq "$nfiles" ] || fail "a delete rewrote data files"
ls "$T"/wh/db/t/data/*.puffin > /dev/null || fail "no Puffin file"
[ "$(K table scan db.t | tail -n +2 | wc -l)" -eq $((NA + 2000 - (NA - lo) - 3)) ] || fail "rows after the deletes"

# a second delete from partition a: one vector per data file, the old one
# merged in and removed
K table delete db.t --where "g = 'a' and n < 5" > /dev/null
grep -q '"removed-dvs" *: *"1"' "$(meta t)" || fail "the second delete did not replace the vector"
[ "$(K table scan db.t | tail -n +2 | wc -l)" -eq $((NA + 2000 - (NA - lo) - 3 - 5)) ] || fail "rows after the third delete"

# MERGE: updates (a changed row's position into the vector, its new version
# into a new file), an unchanged row, an insert
printf '%s\n' '{"id":10,"g":"a","n":-10}' '{"id":11,"g":"a","n":11}' \
  "{\"id\":$((NA + 1500)),\"g\":\"b\",\"n\":-1}" '{"id":-1,"g":"b","n":0}' > "$T/up.ndjson"
K table merge db.t --key id --input "$T/up.ndjson" > "$T/merge.out"
grep -q '1 inserted, 2 updated' "$T/merge.out" || fail "merge: $(cat "$T/merge.out")"
# one independent check of everything above (vectors merged twice, one per data file)
check t $((NA + 2000 - (NA - lo) - 3 - 5 + 1)) id,g,n,_row_id,_last_updated_sequence_number
grep -q '"deletion_vectors":2' "$T/check" || fail "want one vector per data file: $(cat "$T/check")"
grep -q '"lineage_checked":true' "$T/check" || fail "row lineage columns not compared: $(cat "$T/check")"
grep -q '"id":"10","g":"a","n":"-10"\|"id":10,"g":"a","n":-10' "$T/rows.ndjson" || fail "merge: row 10 not updated"
[ "$(grep -c '"id":10,' "$T/rows.ndjson")" -eq 1 ] || fail "merge: row 10 appears $(grep -c '"id":10,' "$T/rows.ndjson") times"
m=$(meta t)
grep -q '"operation" *: *"overwrite"' "$m" || fail "merge snapshot operation"
# SQL reads the same rows
[ "$(K sql --csv "select count(*) from db.t" | tail -1)" -eq "$(wc -l < "$T/rows.ndjson")" ] || fail "kiln sql count"
# rewrite-position-delete-files on a v3 table converts Parquet position
# deletes into deletion vectors; db.t has vectors only: nothing to do,
# nothing committed (rewrite-data-files keeps row lineage:
# interop_v3_lineage.sh)
before=$(meta t)
K table rewrite-position-delete-files db.t --json > "$T/rw.json"
grep -q '"snapshot_id":-1' "$T/rw.json" || fail "rewrite-position-delete-files on vectors only: $(cat "$T/rw.json")"
[ "$(meta t)" = "$before" ] || fail "a rewrite with nothing to convert committed"

# a table with Parquet position deletes (built by kiln-tests the way another
# engine writes them: P1 names rows of files A and B, P2 a row of A),
# upgraded to v3, then vectors by kiln's deletes for C (its own Puffin file)
# and A (merging P1/P2's positions of A); the rewrite writes one Puffin
# file of vectors for A (the old one merged in) and B, removes P1, P2 and
# A's old Puffin file, leaves C's
P="$T/pw"
KILN_MAINT_EXPORT=$P "$(dirname "$KILN_BIN")/kiln-tests" -s maint_export::table_with_pos_deletes > "$T/log" 2>&1 || fail "could not build the table: $(cat "$T/log")"
KP() { "$KILN_BIN" -w "$P" "$@"; }
KP table alter db.events --set-property format-version=3 > /dev/null
KP table delete db.events --where 'id = 121' > /dev/null
KP table delete db.events --where 'id = 101' > /dev/null
KP table scan db.events --columns id | tail -n +2 | sort > "$T/pd.before"
[ "$(wc -l < "$T/pd.before")" -eq 25 ] || fail "v3 posdel table: $(wc -l < "$T/pd.before") rows before the rewrite"
KP table rewrite-position-delete-files db.events --dry-run --json > "$T/rw.json"
grep -q '"snapshot_id":-1.*"rewritten_delete_files_count":3,"added_delete_files_count":1' "$T/rw.json" || fail "dry run: $(cat "$T/rw.json")"
KP table rewrite-position-delete-files db.events --json > "$T/rw.json"
grep -q '"partitions":2,"rewritten_delete_files_count":3,"added_delete_files_count":1' "$T/rw.json" || fail "conversion: $(cat "$T/rw.json")"
KP table files db.events | tail -n +2 | cut -f1,5 > "$T/pd.files"
! grep -q '\.parquet$' <(grep position-deletes "$T/pd.files") || fail "Parquet position deletes left: $(cat "$T/pd.files")"
[ "$(grep -c 'puffin$' "$T/pd.files")" -eq 3 ] || fail "want three vectors: $(cat "$T/pd.files")"
KP table scan db.events --columns id | tail -n +2 | sort | cmp -s - "$T/pd.before" || fail "rows changed by the conversion"
KP table scan db.events --json | sed -E 's/"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9:]{8})Z"/"\1 \2+00"/g' > "$T/rows.ndjson"
node tests/node/iceberg_v3_check.mjs "$(ls "$P"/db/events/metadata/v*.metadata.json | sort -V | tail -1)" "$T/rows.ndjson" > "$T/check" ||
  fail "converted vectors: the independent reader disagrees: $(cat "$T/check")"
grep -q '"rows":25,"data_files":3,"deletion_vectors":3' "$T/check" || fail "converted vectors: $(cat "$T/check")"
KP table rewrite-position-delete-files db.events --json | grep -q '"snapshot_id":-1' || fail "a second conversion committed"

# icebird (npm) reads kiln's v3 table while it has no deletion vector (it
# does not support Puffin: with one it fails, it never returns the
# deleted rows)
K table create db.ic --schema 'id long, s string' --property format-version=3 > /dev/null
printf '{"id":1,"s":"a"}\n{"id":2,"s":"b"}\n' | K table append db.ic --input - > /dev/null
printf '{"id":3,"s":"c"}\n' | K table append db.ic --input - > /dev/null
K table scan db.ic --json > "$T/ic.ndjson"
node tests/node/lakedata_icebird.mjs "$T/wh/db/ic" "$T/ic.ndjson" > /dev/null || fail "icebird disagrees on a v3 table"
K table delete db.ic --where "id = 2" > /dev/null
K table scan db.ic --json > "$T/ic.ndjson"
if node tests/node/lakedata_icebird.mjs "$T/wh/db/ic" "$T/ic.ndjson" > /dev/null 2>&1; then
  echo "interop_v3_write: note: icebird now reads deletion vectors" >&2
fi

# ---------------------------------------------------------------- 2. upgrade
K table create db.u --schema 'id long, s string' > /dev/null
printf '{"id":%d,"s":"x%d"}\n' 1 1 2 2 3 3 | K table append db.u --input - > /dev/null
printf '{"id":2,"s":"two"}\n' | K table merge db.u --key id --input - > /dev/null # v2: copy-on-write
grep -q '"format-version" *: *2' "$(meta u)" || fail "db.u should start as v2"
K table alter db.u --set-property format-version=3 > /dev/null
m=$(meta u)
grep -q '"format-version" *: *3' "$m" || fail "upgrade: $(head -c 200 "$m")"
grep -q '"format-version" *: *"3"' "$m" && fail "upgrade stored format-version as a property"
printf '{"id":4,"s":"x4"}\n' | K table append db.u --input - > /dev/null
# the rows written before the upgrade get ids with this first v3 commit
grep -q '"next-row-id" *: *4' "$(meta u)" || fail "next-row-id after the upgrade: $(grep -o '"next-row-id"[^,]*' "$(meta u)")"
K table delete db.u --where "id = 3" > /dev/null
ls "$T"/wh/db/u/data/*.puffin > /dev/null || fail "delete after the upgrade wrote no vector"
check u 3 id,s,_row_id,_last_updated_sequence_number
for v in 2 4 x; do
  before=$(meta u)
  set +e
  K table alter db.u --set-property format-version=$v > /dev/null 2> "$T/err"
  rc=$?
  set -e
  [ "$rc" -ne 0 ] && grep -q 'format-version' "$T/err" || fail "format-version=$v: exit $rc, $(cat "$T/err")"
  [ "$(meta u)" = "$before" ] || fail "format-version=$v committed"
done

# ---------------------------------------------------------------- 3. default values
# `--add-column 'NAME TYPE default V'` (v3 only) sets initial-default and
# write-default: rows of older files read it, a new row that lacks the key
# gets it, an explicit null stays null
printf '{"id":9}\n' | K table append db.u --input - > /dev/null
K table alter db.u --add-column 'x int default 7' --add-column 'd date default "1960-02-29"' > /dev/null
printf '%s\n' '{"id":10,"s":"new"}' '{"id":11,"s":"n","x":null}' | K table append db.u --input - > /dev/null
K table scan db.u --json > "$T/u.ndjson"
grep -qx '{"id":9,"s":null,"x":7,"d":"1960-02-29"}' "$T/u.ndjson" || fail "initial-default: $(cat "$T/u.ndjson")"
grep -qx '{"id":10,"s":"new","x":7,"d":"1960-02-29"}' "$T/u.ndjson" || fail "write-default: $(cat "$T/u.ndjson")"
grep -qx '{"id":11,"s":"n","x":null,"d":"1960-02-29"}' "$T/u.ndjson" || fail "explicit null: $(cat "$T/u.ndjson")"
grep -q '"write-default" *: *7' "$(meta u)" || fail "no write-default in the schema"
set +e
K table alter db.u --add-column 'y int default "seven"' > /dev/null 2> "$T/err"; rc1=$?
K table create db.v2 --schema 'id long' > /dev/null
K table alter db.v2 --add-column 'y int default 1' > /dev/null 2> "$T/err2"; rc2=$?
set -e
[ "$rc1" -ne 0 ] && grep -q 'not a value of type int' "$T/err" || fail "bad default: exit $rc1, $(cat "$T/err")"
[ "$rc2" -ne 0 ] && grep -q 'format-version 3' "$T/err2" || fail "default on v2: exit $rc2, $(cat "$T/err2")"
# ---------------------------------------------------------------- 4. nanosecond timestamps
# timestamp_ns / timestamptz_ns columns (top level, v3) are written as INT64
# TIMESTAMP(NANOS) from their exact text; kiln reads the same text back;
# DuckDB reads the file as TIMESTAMP_NS, epoch nanoseconds as computed here
K table create db.ns --schema 'id long, ts timestamp_ns, tz timestamptz_ns' --property format-version=3 > /dev/null
printf '%s\n' '{"id":1,"ts":"2024-01-01T00:00:00.000000001","tz":"1969-12-31T23:59:59.999999999Z"}' \
  '{"id":2,"ts":"1700-06-01T12:34:56.5","tz":null}' '{"id":3,"ts":"1969-12-31T23:59:59.123456789","tz":"2024-05-05T01:02:03.000000007+02:00"}' |
  K table append db.ns --input - > /dev/null
K table scan db.ns --json > "$T/ns.ndjson"
for want in '{"id":1,"ts":"2024-01-01T00:00:00.000000001","tz":"1969-12-31T23:59:59.999999999Z"}' \
  '{"id":2,"ts":"1700-06-01T12:34:56.500000000","tz":null}' \
  '{"id":3,"ts":"1969-12-31T23:59:59.123456789","tz":"2024-05-04T23:02:03.000000007Z"}'; do
  grep -qxF "$want" "$T/ns.ndjson" || fail "timestamp_ns read back: $(cat "$T/ns.ndjson")"
done
f=$(ls "$T"/wh/db/ns/data/*.parquet)
"$KILN_BIN" parquet schema "$f" | grep -q 'ts .*INT64 *TIMESTAMP(LOCAL,NANOS)' || fail "ts is not INT64 TIMESTAMP(NANOS): $("$KILN_BIN" parquet schema "$f")"
"$KILN_BIN" parquet schema "$f" | grep -q 'tz .*INT64 *TIMESTAMP(UTC,NANOS)' || fail "tz is not UTC NANOS"
node --input-type=module -e "
import { DuckDBInstance } from '$KILN_ROOT/tests/node/node_modules/@duckdb/node-api/lib/index.js';
const c = await (await DuckDBInstance.create(':memory:')).connect();
const r = (await c.runAndReadAll(\"select id, typeof(ts) t, epoch_ns(ts)::varchar ns from read_parquet('$f') order by id\")).getRowObjectsJson();
console.log(r.map((x) => x.id + ' ' + x.t + ' ' + x.ns).join('\\n'));" > "$T/duck"
python3 - "$T/duck" <<'PY' || fail "DuckDB's nanoseconds differ: $(cat "$T/duck")"
import calendar, sys
def ns(s, frac):
    return calendar.timegm(tuple(int(x) for x in s.replace('-', ' ').replace('T', ' ').replace(':', ' ').split()) + (0, 0, 0)) * 10**9 + frac
want = ["1 TIMESTAMP_NS %d" % ns("2024-01-01T00:00:00", 1), "2 TIMESTAMP_NS %d" % ns("1700-06-01T12:34:56", 500000000),
        "3 TIMESTAMP_NS %d" % ns("1969-12-31T23:59:59", 123456789)]
got = open(sys.argv[1]).read().split("\n")[:3]
sys.exit(0 if got == want else 1)
PY
# inside nested columns (struct field, list element, map value): INT64
# TIMESTAMP(NANOS) leaves from the exact text, read back digit for digit,
# DuckDB's epoch_ns equal; the Iceberg bounds of s.t are nanoseconds (a
# --where on it keeps the row)
K table create db.nsn --schema 'id long, s struct<t: timestamp_ns, a: int>, l list<timestamptz_ns>, m map<string, timestamp_ns>' --property format-version=3 > /dev/null
printf '%s\n' '{"id":1,"s":{"t":"2024-01-02T03:04:05.123456789","a":1},"l":["2024-01-02T03:04:05.000000001Z","1677-09-22T00:00:00Z"],"m":{"k":"1969-12-31T23:59:59.999999999"}}' \
  '{"id":2,"s":{"t":null,"a":2},"l":[null],"m":null}' '{"id":3,"s":null,"l":null,"m":{}}' | K table append db.nsn --input - > /dev/null
got=$(K table scan db.nsn --format ndjson | sort | tr '\n' ' ')
want='{"id":1,"s":{"t":"2024-01-02T03:04:05.123456789","a":1},"l":["2024-01-02T03:04:05.000000001Z","1677-09-22T00:00:00.000000000Z"],"m":{"k":"1969-12-31T23:59:59.999999999"}} {"id":2,"s":{"t":null,"a":2},"l":[null],"m":null} {"id":3,"s":null,"l":null,"m":{}} '
[ "$got" = "$want" ] || fail "nested timestamp_ns read back: $got"
[ "$(K table scan db.nsn --where 's.t >= 2024-01-02T03:04:05.123456789' --columns id)" = $'id\n1' ] || fail "where on s.t"
f=$(ls "$T"/wh/db/nsn/data/*.parquet)
node --input-type=module -e "
import { DuckDBInstance } from '$KILN_ROOT/tests/node/node_modules/@duckdb/node-api/lib/index.js';
const c = await (await DuckDBInstance.create(':memory:')).connect();
const r = (await c.runAndReadAll(\"select typeof(s.t) t, epoch_ns(s.t)::varchar a, epoch_ns(m['k'])::varchar b from read_parquet('$f') where id = 1\")).getRowObjectsJson();
console.log(JSON.stringify(r));" > "$T/duck"
[ "$(cat "$T/duck")" = '[{"t":"TIMESTAMP_NS","a":"1704164645123456789","b":"-1"}]' ] || fail "DuckDB on nested nanoseconds: $(cat "$T/duck")"
node tests/node/parquet_nested_paths.mjs "SELECT name, logical_type::VARCHAR LIKE '%isAdjustedToUTC=' || (name = 'element')::INT || '%NANOS=NanoSeconds%' AS ok
  FROM parquet_schema('$f') WHERE name IN ('t', 'element', 'value') ORDER BY name" | jq -c . | tr '\n' ' ' > "$T/duck"
[ "$(cat "$T/duck")" = '{"name":"element","ok":true} {"name":"t","ok":true} {"name":"value","ok":true} ' ] || fail "nested ns leaves' Parquet types: $(cat "$T/duck")"
# refused, naming the column, before any file: a bad value (also nested), a v2 table
set +e
printf '{"id":4,"ts":"2024-01-01T00:00:00.0000000001"}\n' | K table append db.ns --input - > /dev/null 2> "$T/err"; rc1=$?
printf '{"id":4,"s":{"t":"2024-01-02 junk"}}\n' | K table append db.nsn --input - > /dev/null 2> "$T/err3"; rc3=$?
K table create db.nsv2 --schema 'id long, s struct<t: timestamp_ns>' > /dev/null
printf '{"id":1}\n' | K table append db.nsv2 --input - > /dev/null 2> "$T/err2"; rc2=$?
set -e
[ "$rc1" -ne 0 ] && grep -q "column ts: '2024-01-01T00:00:00.0000000001' is not a timestamp" "$T/err" || fail "bad ns value: exit $rc1, $(cat "$T/err")"
[ "$rc3" -ne 0 ] && grep -q 'expected a timestamp' "$T/err3" || fail "bad nested ns value: exit $rc3, $(cat "$T/err3")"
[ "$(ls "$T"/wh/db/nsn/data/*.parquet | wc -l)" -eq 1 ] || fail "the refused nested append left a file"
[ "$rc2" -ne 0 ] && grep -q 'column s holds a nanosecond timestamp.*format-version 3' "$T/err2" || fail "nested ns on v2: exit $rc2, $(cat "$T/err2")"
K table rewrite-data-files db.nsn --rewrite-all > /dev/null # read as text, written again as INT64 nanoseconds
[ "$(K table scan db.nsn --format ndjson | sort | tr '\n' ' ')" = "$want" ] || fail "nested timestamp_ns after rewrite-data-files"
[ "$(ls "$T"/wh/db/ns/data/*.parquet | wc -l)" -eq 1 ] || fail "the refused append left a file"
# ---------------------------------------------------------------- 5. evolution inside structs
# (any format version) a field added to a struct reads null in older files,
# a renamed one by its new name, a dropped one disappears, and a new field
# that takes a dropped field's name never shows the old values (field ids)
K table create db.ev --schema 'id long, s struct<a: int, b: string, f: float>, l list<struct<x: int>>' > /dev/null
printf '%s\n' '{"id":1,"s":{"a":1,"b":"one","f":1.5},"l":[{"x":1},null]}' '{"id":2,"s":null,"l":null}' |
  K table append db.ev --input - > /dev/null
K table alter db.ev --add-column 's.c long' --rename-column s.b=bb --widen-column s.a=long > /dev/null
K sql 'alter table db.ev drop column "s.f"' > /dev/null
K table alter db.ev --add-column 's.f string' > /dev/null
printf '%s\n' '{"id":3,"s":{"a":3,"bb":"three","c":33,"f":"new"},"l":[]}' | K table append db.ev --input - > /dev/null
K table scan db.ev --json | sort > "$T/ev.ndjson"
printf '%s\n' '{"id":1,"s":{"a":1,"bb":"one","c":null,"f":null},"l":[{"x":1},null]}' '{"id":2,"s":null,"l":null}' \
  '{"id":3,"s":{"a":3,"bb":"three","c":33,"f":"new"},"l":[]}' > "$T/ev.want"
cmp -s "$T/ev.ndjson" "$T/ev.want" || fail "struct evolution: $(diff "$T/ev.want" "$T/ev.ndjson")"
[ "$(K sql --csv "select json_extract(s, '\$.bb') from db.ev where id = 1" | tail -1)" = one ] || fail "renamed field in SQL"
echo "interop_v3_write: ok"
