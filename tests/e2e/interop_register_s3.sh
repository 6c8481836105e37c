#!/usr/bin/env bash
# interop_register_s3.sh - `kiln table register` from an s3:// (and s3a://)
# metadata location, against a real S3-compatible server checking SigV4
# (@20minutes/s3rver on 127.0.0.1): a table another warehouse wrote on the
# object store is registered in a local warehouse by its table directory
# (version-hint.text) or its metadata file, read by name (scan and SQL),
# and written (an append commits v+1 on the object store, beside the
# other writer's files, which are left as they were).
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
. "$KILN_ROOT/tests/e2e/s3_lib.bash"
tmp="$(mktemp -d)"
cleanup() {
  s3_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "interop_register_s3: $*" >&2; exit 1; }
s3_start "$tmp/s3" lake
export KILN_CATALOG_DIR="$tmp/catalogs"
K="$KILN_BIN"

# "the other engine": a warehouse on the object store, a nested column too
"$K" table create -w s3://lake/other db.ev --schema 'id long, p struct<sha:string, n:int>' > /dev/null
printf '{"id":%d,"p":{"sha":"s%d","n":%d}}\n' 1 1 10 2 2 20 3 3 30 > "$tmp/rows.ndjson"
"$K" table append -w s3://lake/other db.ev --input "$tmp/rows.ndjson" > /dev/null
"$K" table scan -w s3://lake/other db.ev --json > "$tmp/want"

# register by the table directory (s3a://, as Spark names it) in a local warehouse
W="$tmp/wh"
"$K" table register -w "$W" ext.ev --metadata s3a://lake/other/db/ev > "$tmp/out" || fail "register s3a: $(cat "$tmp/out")"
"$K" table scan -w "$W" ext.ev --json > "$tmp/got"
cmp -s "$tmp/want" "$tmp/got" || fail "registered scan differs: $(cat "$tmp/got")"
[ "$("$K" sql --warehouse "$W" --csv "select sum(json_extract(p, '\$.n')) from ext.ev" | tail -1)" = 60 ] || fail "sql over the registered s3 table"
# register by the metadata file (s3://)
mf=s3://lake/other/db/ev/metadata/v2.metadata.json
"$K" table register -w "$W" ext.ev2 --metadata "$mf" > /dev/null || fail "register $mf"
[ "$("$K" table scan -w "$W" ext.ev2 --json | wc -l)" -eq 3 ] || fail "ext.ev2 rows"
# a missing object: exit 4
set +e
"$K" table register -w "$W" ext.none --metadata s3://lake/other/db/ev/metadata/v9.metadata.json 2> "$tmp/err"; rc=$?
set -e
[ "$rc" -eq 4 ] || fail "missing s3 metadata: exit $rc ($(cat "$tmp/err"))"

# kiln writes to the registered table: v3 on the object store, the hint advanced
echo '{"id":4,"p":{"sha":"s4","n":40}}' | "$K" table append -w "$W" ext.ev --input - > /dev/null
[ "$("$K" table scan -w "$W" ext.ev --json | wc -l)" -eq 4 ] || fail "rows after the append"
"$K" table scan --metadata s3://lake/other/db/ev/metadata/v3.metadata.json --json > "$tmp/v3" || fail "no v3 on the object store"
grep -q '"id":4,"p":{"sha":"s4","n":40}' "$tmp/v3" || fail "v3 lacks the row: $(cat "$tmp/v3")"
"$K" table register -w "$tmp/wh2" again.ev --metadata s3://lake/other/db/ev > /dev/null
[ "$("$K" table scan -w "$tmp/wh2" again.ev --json | wc -l)" -eq 4 ] || fail "version-hint.text on S3 does not name kiln's commit"
echo "interop_register_s3: ok"
