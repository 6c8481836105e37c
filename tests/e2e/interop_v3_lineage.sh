#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# interop_v3_lineage.sh - Iceberg v3 row lineage columns:
#  1. `kiln table scan --columns ...,_row_id,_last_updated_sequence_number`
#     and SQL (hidden columns) return them as the spec computes them; the
#     independent reader (tests/node/iceberg_v3_check.mjs: avsc manifests,
#     DuckDB Parquet with file_row_number) computes them from the files
#     (the file's value, else first_row_id + position / the data sequence
#     number) and must agree, ids unique.
#  2. MERGE keeps an updated row's _row_id (written into the new file) and
#     gives it the commit's sequence number; inserted rows get fresh ids.
#  3. rewrite-data-files keeps both columns of every row.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
cd "$KILN_ROOT"
[ -d tests/node/node_modules/@duckdb/node-api ] || { echo "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "interop_v3_lineage: $*" >&2; exit 1; }
K() { "$KILN_BIN" -w "$T/wh" "$@"; }
case "$KILN_BIN" in */build-asan/*) N=300 ;; *) N=3000 ;; esac
meta() { ls "$T"/wh/db/"$1"/metadata/v*.metadata.json | sort -V | tail -1; }
L=id,g,n,_row_id,_last_updated_sequence_number
check() { # table: kiln's lineage vs the independent reader's
  K table scan "db.$1" --columns "$L" --json > "$T/rows.ndjson"
  node tests/node/iceberg_v3_check.mjs "$(meta "$1")" "$T/rows.ndjson" > "$T/check" || fail "db.$1: the independent reader disagrees"
  grep -q '"lineage_checked":true' "$T/check" || fail "lineage not compared: $(cat "$T/check")"
}
lin() { # id -> "row_id seq" from kiln's scan
  K sql --csv "select _row_id, _last_updated_sequence_number from db.$1 where id = $2" | tail -n +2 | tr , ' '
}

K table create db.t --schema 'id long, g string, n long' --partition g --property format-version=3 > /dev/null
python3 -c "
for i in range($N): print('{\"id\":%d,\"g\":\"%s\",\"n\":%d}' % (i, 'ab'[i % 2], i))" > "$T/in.ndjson"
K table append db.t --input "$T/in.ndjson" > /dev/null                    # seq 1
printf '{"id":%d,"g":"a","n":0}\n' $N | K table append db.t --input - > /dev/null # seq 2
check t
# a row's id from the first append: the file's first_row_id + position
r10=$(lin t 10); r11=$(lin t 11); r12=$(lin t 12); rN=$(lin t $N)
[ "${r10#* }" = 1 ] && [ "${rN#* }" = 2 ] || fail "sequence numbers: $r10 / $rN"
[ "${rN% *}" -ge "$N" ] || fail "the second append's row id ${rN% *} is below $N"
# select * leaves the hidden columns out
K sql --csv "select * from db.t limit 1" | head -1 | grep -qx 'id,g,n' || fail "select * shows hidden columns"
# v2 tables have no lineage: null
K table create db.v2 --schema 'id long' > /dev/null
printf '{"id":1}\n' | K table append db.v2 --input - > /dev/null
[ "$(K table scan db.v2 --columns id,_row_id --json)" = '{"id":1,"_row_id":null}' ] || fail "v2 _row_id: $(K table scan db.v2 --columns id,_row_id --json)"

# MERGE: rows 10 (partition a) and 11 (b) updated, row 12 unchanged, one insert
printf '%s\n' '{"id":10,"g":"a","n":-10}' '{"id":11,"g":"b","n":-11}' '{"id":12,"g":"a","n":12}' \
  "{\"id\":$((N + 1)),\"g\":\"b\",\"n\":1}" | K table merge db.t --key id --input - > "$T/merge.out" # seq 3
grep -q '1 inserted, 2 updated' "$T/merge.out" || fail "merge: $(cat "$T/merge.out")"
check t
[ "$(lin t 10)" = "${r10% *} 3" ] || fail "updated row 10: $(lin t 10), was $r10"
[ "$(lin t 11)" = "${r11% *} 3" ] || fail "updated row 11: $(lin t 11), was $r11"
[ "$(lin t 12)" = "$r12" ] || fail "unchanged row 12: $(lin t 12), was $r12"
ins=$(lin t $((N + 1)))
[ "${ins% *}" -gt "${rN% *}" ] && [ "${ins#* }" = 3 ] || fail "inserted row: $ins"
# a second update of the same row keeps the id again
printf '{"id":10,"g":"a","n":100}\n' | K table merge db.t --key id --input - > /dev/null # seq 4
[ "$(lin t 10)" = "${r10% *} 4" ] || fail "row 10 updated twice: $(lin t 10), was $r10"
K table delete db.t --where "id = 11" > /dev/null
check t
# 3. rewrite-data-files keeps every row's _row_id and
#    _last_updated_sequence_number (written into the new files); the
#    independent reader reads them from the files
K table scan db.t --columns "$L" --json | sort > "$T/before"
K table rewrite-data-files db.t --min-input-files 1 --sort-by n > "$T/rw.out" # sorted: new positions
grep -q 'rewrote' "$T/rw.out" || fail "rewrite: $(cat "$T/rw.out")"
K table scan db.t --columns "$L" --json | sort > "$T/after"
cmp -s "$T/before" "$T/after" || fail "rewrite changed rows or lineage: $(diff "$T/before" "$T/after" | head -5)"
check t
grep -q '"deletion_vectors":0' "$T/check" || fail "the rewrite left vectors: $(cat "$T/check")"
for f in $(ls "$T"/wh/db/t/data/*/*-rewrite.parquet); do
  "$KILN_BIN" parquet schema "$f" | grep -q '_row_id' || fail "$f lacks _row_id"
done
# and a merge after the rewrite still keeps the id
printf '{"id":12,"g":"a","n":-12}\n' | K table merge db.t --key id --input - > /dev/null
[ "$(lin t 12)" = "${r12% *} $(grep -o '"last-sequence-number" *: *[0-9]*' "$(meta t)" | grep -o '[0-9]*$')" ] || fail "row 12 after rewrite + merge: $(lin t 12), was $r12"
# SQL MERGE INTO takes the same path: the id is kept
r13=$(lin t 13)
K sql "MERGE INTO db.t t USING (SELECT 13 AS id, -13 AS n) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET n = s.n" > /dev/null
[ "$(lin t 13)" = "${r13% *} $(grep -o '"last-sequence-number" *: *[0-9]*' "$(meta t)" | grep -o '[0-9]*$')" ] || fail "row 13 after SQL MERGE INTO: $(lin t 13), was $r13"
check t
echo "interop_v3_lineage: ok"
