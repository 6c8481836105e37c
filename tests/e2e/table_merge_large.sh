#!/usr/bin/env bash
# MERGE and delete see every row of a data file larger than one reader
# batch (65,536 rows): merging the same 100,000 rows twice commits nothing,
# and deleting rows that sit in the second batch removes them.
set -euo pipefail
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "table_merge_large.sh: FAIL: $*" >&2; exit 1; }
K="$KILN_BIN"; W="$tmp/wh"
python3 -c 'for i in range(100000): print("{\"id\": %d, \"v\": \"x%d\"}" % (i, i))' >"$tmp/rows.ndjson"
"$K" table --warehouse "$W" create t.a --schema "id long not null, v string" >/dev/null
"$K" table --warehouse "$W" merge t.a --key id --input "$tmp/rows.ndjson" --json >"$tmp/m1"
grep -q '"rows_inserted":100000' "$tmp/m1" || fail "first merge: $(cat "$tmp/m1")"
"$K" table --warehouse "$W" merge t.a --key id --input "$tmp/rows.ndjson" --json >"$tmp/m2"
grep -q '"noop":true' "$tmp/m2" || fail "second merge of the same rows must be a no-op: $(cat "$tmp/m2")"
# an update of a row past the first 65,536 is an update, not an insert
echo '{"id": 99999, "v": "changed"}' >"$tmp/one.ndjson"
"$K" table --warehouse "$W" merge t.a --key id --input "$tmp/one.ndjson" --json >"$tmp/m3"
grep -q '"rows_updated":1' "$tmp/m3" && grep -q '"rows_inserted":0' "$tmp/m3" || fail "late-row update: $(cat "$tmp/m3")"
"$K" table --warehouse "$W" delete t.a --where "id >= 90000" --json >"$tmp/d"
grep -q '"rows_deleted":10000' "$tmp/d" || fail "delete of rows in the second batch: $(cat "$tmp/d")"
n=$("$K" table --warehouse "$W" scan t.a | tail -n +2 | wc -l)
[ "$n" -eq 90000 ] || fail "expected 90000 rows, got $n"
echo ok
