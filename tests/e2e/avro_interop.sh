#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# avro_interop.sh - kiln's Avro reader/writer against avsc (an independent
# implementation) and Java-written Iceberg manifests:
#   1. avsc writes files (every type, null/deflate, small blocks, empty);
#      `kiln avro cat` must print exactly the values avsc decodes.
#   2. `kiln avro rewrite` copies them with kiln's writer (null, deflate);
#      avsc must decode kiln's files to the same values.
#   3. snappy/zstandard rewrites (avsc has no codec for them here) must
#      read back identically through kiln.
#   4. Java manifests/manifest lists: rewritten by kiln, read by avsc, and
#      the Iceberg attributes (field-id, element-id) survive.
#   5. The comparison can fail: a tampered value is caught; a truncated
#      file exits 1 with an offset in the message.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
NODE_DIR="$KILN_ROOT/tests/node"
FIX="$KILN_ROOT/../shared/fixtures/iceberg"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "avro_interop: FAIL: $*" >&2; exit 1; }

node "$NODE_DIR/avro_write.mjs" "$tmp" >/dev/null || fail "avsc could not write the test files"
n=0
for f in "$tmp"/avsc-*.avro; do
  "$KILN_BIN" avro cat "$f" >"$f.ndjson" || fail "kiln cannot read avsc file $f"
  want="$("$KILN_BIN" avro meta "$f" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)["test.count"]))')"
  got="$(wc -l <"$f.ndjson" | tr -d ' ')"
  [ "$want" = "$got" ] || fail "$f: kiln read $got records, avsc wrote $want"
  node "$NODE_DIR/avro_read.mjs" "$f" "$f.ndjson" >/dev/null || fail "kiln and avsc disagree on $f"
  for codec in null deflate; do
    "$KILN_BIN" avro rewrite --codec "$codec" --block-bytes 700 "$f" "$tmp/k.avro" 2>/dev/null ||
      fail "kiln rewrite $codec of $f"
    node "$NODE_DIR/avro_read.mjs" "$tmp/k.avro" "$f.ndjson" >/dev/null || fail "avsc misreads kiln's $codec copy of $f"
  done
  for codec in snappy zstandard; do
    "$KILN_BIN" avro rewrite --codec "$codec" --block-bytes 500 "$f" "$tmp/k.avro" 2>/dev/null
    "$KILN_BIN" avro cat "$tmp/k.avro" | cmp -s - "$f.ndjson" || fail "$codec copy of $f reads back differently"
    [ "$("$KILN_BIN" avro meta "$tmp/k.avro" | grep -c "\"avro.codec\":\"$codec\"")" = 1 ] || fail "codec not recorded"
  done
  n=$((n + 1))
done
[ "$n" -ge 5 ] || fail "expected at least 5 avsc files, got $n"

m=0
for f in "$FIX"/iceberg/lineitem_iceberg/metadata/*.avro "$FIX"/equality_deletes/warehouse/mydb/mytable/metadata/*.avro; do
  "$KILN_BIN" avro cat "$f" >"$tmp/java.ndjson" || fail "kiln cannot read Java file $f"
  [ -s "$tmp/java.ndjson" ] || fail "no records in $f"
  "$KILN_BIN" avro rewrite --codec deflate "$f" "$tmp/j.avro" 2>/dev/null || fail "rewrite $f"
  node "$NODE_DIR/avro_read.mjs" "$tmp/j.avro" "$tmp/java.ndjson" >/dev/null || fail "avsc misreads kiln's copy of $f"
  "$KILN_BIN" avro schema "$tmp/j.avro" | cmp -s - <("$KILN_BIN" avro schema "$f") || fail "schema text changed for $f"
  m=$((m + 1))
done
[ "$m" -ge 15 ] || fail "expected 15+ Java files, got $m"
list="$FIX/iceberg/lineitem_iceberg/metadata/snap-2354745328521181395-1-179b4fb1-0366-4f7d-ad35-99ee8da0abf5.avro"
"$KILN_BIN" avro schema "$list" | grep -q '"element-id":508' || fail "element-id lost"
"$KILN_BIN" avro cat --limit 1 "$list" | grep -q '"added_rows_count":51793' || fail "wrong first manifest-list row"

# projection by field id: today's names over the Iceberg 1.0 file
cat >"$tmp/reader.json" <<'JSON'
{"type":"record","name":"manifest_file","fields":[
 {"name":"added_files_count","type":"int","field-id":504},
 {"name":"deleted_files_count","type":"int","field-id":506},
 {"name":"key_metadata","type":["null","bytes"],"default":null,"field-id":519}]}
JSON
got="$("$KILN_BIN" avro cat --reader-schema "$tmp/reader.json" "$list")"
[ "$got" = '{"added_files_count":1,"deleted_files_count":0,"key_metadata":null}
{"added_files_count":0,"deleted_files_count":1,"key_metadata":null}' ] || fail "projection gave: $got"

# the checks can fail
f="$tmp/avsc-all-null.avro"
sed 's/"date":19790/"date":19791/' "$f.ndjson" >"$tmp/tampered.ndjson"
cmp -s "$f.ndjson" "$tmp/tampered.ndjson" && fail "tampering did not change anything"
if node "$NODE_DIR/avro_read.mjs" "$f" "$tmp/tampered.ndjson" >/dev/null 2>&1; then fail "avro_read.mjs missed a wrong value"; fi
head -c 30000 "$f" >"$tmp/cut.avro"
set +e
"$KILN_BIN" avro cat "$tmp/cut.avro" >/dev/null 2>"$tmp/err.txt"
rc=$?
set -e
[ "$rc" = 1 ] || fail "truncated file: exit $rc, want 1"
grep -q "offset" "$tmp/err.txt" || fail "truncated file message lacks an offset: $(cat "$tmp/err.txt")"
# usage and not-found exit codes
set +e
"$KILN_BIN" avro cat --bogus "$f" >/dev/null 2>&1; [ $? = 2 ] || fail "unknown flag should exit 2"
"$KILN_BIN" avro rewrite "$f" >/dev/null 2>&1; [ $? = 2 ] || fail "rewrite without OUT should exit 2"
"$KILN_BIN" avro rewrite --codec lzma "$f" "$tmp/x.avro" >/dev/null 2>&1; [ $? = 1 ] || fail "unknown codec should exit 1"
"$KILN_BIN" avro cat "$tmp/does-not-exist.avro" >/dev/null 2>&1; [ $? = 4 ] || fail "missing file should exit 4"
set -e
[ ! -e "$tmp/x.avro" ] || fail "a failed rewrite left an output file"
echo "avro_interop: ok ($n avsc files, $m Java files)"
