#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# table_data.sh - kiln's Iceberg data path end to end:
#   1. kiln table scan reads the Spark / Iceberg Java / DuckDB fixture tables
#      (paths remapped) with the row counts and values they must have;
#   2. tables kiln writes (append, overwrite, MERGE, delete, rename, branch)
#      are read by icebird with the same rows as kiln's scan, and their
#      manifests pass avsc with the spec's field ids; also after manifests
#      were merged by commits and by rewrite-manifests;
#   3. a writer killed at each step of a commit leaves the table at its last
#      snapshot (or, after the link, at the new one), its files show up in
#      remove-orphans --dry-run, and a re-run converges.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
TESTS_BIN=${KILN_TESTS_BIN:-$(dirname "$KILN_BIN")/kiln-tests}
FIX=$KILN_ROOT/../shared/fixtures/iceberg
NODE_DIR=$KILN_ROOT/tests/node
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "table_data.sh: FAIL: $*" >&2; exit 1; }
[ -x "$TESTS_BIN" ] || fail "kiln-tests not found at $TESTS_BIN (set KILN_TESTS_BIN)"

# ---------------------------------------------------------------- 1. fixtures
LI=(--metadata "$FIX/iceberg/lineitem_iceberg/metadata/v2.metadata.json" --remap "lineitem_iceberg/=$FIX/iceberg/lineitem_iceberg/")
n=$("$KILN_BIN" table scan "${LI[@]}" --format ndjson --columns l_orderkey | wc -l)
[ "$n" -eq 51793 ] || fail "lineitem current snapshot: $n rows, want 51793"
n=$("$KILN_BIN" table scan "${LI[@]}" --as-of 7817332053627255703 --format ndjson --columns l_orderkey | wc -l)
[ "$n" -eq 60175 ] || fail "lineitem first snapshot: $n rows, want 60175"
n=$("$KILN_BIN" table scan "${LI[@]}" --where "l_extendedprice < 10000" --columns l_orderkey | tail -n +2 | wc -l)
[ "$n" -eq 0 ] || fail "lineitem: $n rows with l_extendedprice < 10000 after Spark's DELETE"

PI=(--metadata "$FIX/partition_integer/metadata/v2.metadata.json" --remap "data/persistent/=$FIX/")
out=$("$KILN_BIN" table scan "${PI[@]}" --columns partition_col,user_id,event_type | tail -n +2 | sort)
[ "$out" = "$(printf '1337,67890,purchase\n42,12345,click')" ] || fail "partition_integer rows: $out"

EQ=(--metadata "$FIX/equality_deletes/warehouse/mydb/mytable/metadata/v7.metadata.json" --remap "data/persistent/=$FIX/")
out=$("$KILN_BIN" table scan "${EQ[@]}" --columns id,name | tail -n +2 | sort)
[ "$out" = "$(printf '4,d\n5,e')" ] || fail "mytable after equality deletes: $out"
EQP=(--metadata "$FIX/equality_deletes/warehouse/mydb/mytable_partitioned/metadata/v6.metadata.json" --remap "data/persistent/=$FIX/")
out=$("$KILN_BIN" table scan "${EQP[@]}" --columns id,name | tail -n +2 | sort)
[ "$out" = "$(printf '1,a\n4,d\n5,e')" ] || fail "mytable_partitioned after equality deletes: $out"
# the same rows from an independent evaluation (avsc + DuckDB, the spec's
# delete rules applied in JavaScript)
for t in mytable mytable_partitioned; do
  T=$FIX/equality_deletes/warehouse/mydb/$t
  "$KILN_BIN" table scan --metadata "$T/metadata/v$(cat "$T/metadata/version-hint.text").metadata.json" \
    --remap "data/persistent/=$FIX/" --format ndjson >"$tmp/$t.ndjson"
  (cd "$NODE_DIR" && node lakedata_eqdel.mjs "$T" "data/persistent/=$FIX/" "$tmp/$t.ndjson") \
    || fail "$t: kiln and the independent evaluation differ"
done
"$KILN_BIN" table scan "${PI[@]}" --format ndjson >"$tmp/pi.ndjson"
(cd "$NODE_DIR" && node lakedata_eqdel.mjs "$FIX/partition_integer" "data/persistent/=$FIX/" "$tmp/pi.ndjson") \
  || fail "partition_integer: kiln and the independent evaluation differ"
# pruning: name = 'e' skips the manifest of partitions a-d by its partition
# summary and file f by its partition value
"$KILN_BIN" table scan "${EQP[@]}" --where "name = 'e'" --stats >/dev/null 2>"$tmp/stats"
grep -q '"manifests_pruned":1,.*"files_pruned_partition":1,.*"rows":1' "$tmp/stats" \
  || fail "expected 1 manifest and 1 file pruned, 1 row: $(cat "$tmp/stats")"

# ---------------------------------------------------------------- 2. independent readers
WH=$tmp/wh
KILN_LAKEDATA_EXPORT=$WH "$TESTS_BIN" -s lake_export::tables_for_readers >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "could not build the tables"; }
for t in events types; do
  "$KILN_BIN" table --warehouse "$WH" scan "db.$t" --format ndjson >"$tmp/$t.ndjson"
  (cd "$NODE_DIR" && node lakedata_icebird.mjs "$WH/db/$t" "$tmp/$t.ndjson") || fail "icebird disagrees on db.$t"
  (cd "$NODE_DIR" && node lakedata_avro.mjs "$WH/db/$t") || fail "avsc rejects the manifests of db.$t"
done
"$KILN_BIN" table --warehouse "$WH" scan db.events --ref dev --format ndjson >"$tmp/dev.ndjson"
(cd "$NODE_DIR" && node lakedata_icebird.mjs "$WH/db/events" "$tmp/dev.ndjson" --ref dev) || fail "icebird disagrees on branch dev"
# CSV quoting, a where on a non-projected column, files listing
out=$("$KILN_BIN" table --warehouse "$WH" scan db.types --columns i,s --where "i = 1 and dt >= '2024-01-01'")
[ "$out" = "$(printf 'i,s\n1,"v1-1, ""q"""')" ] || fail "CSV quoting: $out"
nfiles=$("$KILN_BIN" table --warehouse "$WH" files db.events --json | grep -c '"content":"data"')
want=$(node -e 'const fs=require("fs");const d=process.argv[1];const v=fs.readFileSync(d+"/metadata/version-hint.text","utf8").trim();const m=JSON.parse(fs.readFileSync(d+"/metadata/v"+v+".metadata.json","utf8"));const s=m.snapshots.find(x=>x["snapshot-id"]===m["current-snapshot-id"]);console.log(s.summary["total-data-files"])' "$WH/db/events")
[ "$nfiles" -eq "$want" ] || fail "files lists $nfiles data files, summary says $want"
first=$(node -e 'const fs=require("fs");const d=process.argv[1];const v=fs.readFileSync(d+"/metadata/version-hint.text","utf8").trim();const m=JSON.parse(fs.readFileSync(d+"/metadata/v"+v+".metadata.json","utf8"));console.log(m.snapshots[0]["snapshot-id"])' "$WH/db/events")
"$KILN_BIN" table --warehouse "$WH" scan db.events --as-of "$first" --format ndjson >"$tmp/first.ndjson"
[ "$(wc -l <"$tmp/first.ndjson")" -eq 5 ] || fail "time travel to $first: $(wc -l <"$tmp/first.ndjson") rows, want 5"
(cd "$NODE_DIR" && node lakedata_icebird.mjs "$WH/db/events" "$tmp/first.ndjson" --snapshot "$first") || fail "icebird disagrees on snapshot $first"

# manifests merged by commits (min-count 3) and compacted by rewrite-manifests
"$KILN_BIN" table --warehouse "$WH" create db.compact --schema 'id long not null, ts timestamptz, v string' \
  --partition 'day(ts)' --property commit.manifest.min-count-to-merge=3 >/dev/null
for d in 1 2 3 4 5 6 7; do
  printf '{"id":%d,"ts":"2025-01-0%dT10:00:00Z","v":"r%d"}\n' "$d" "$d" "$d" |
    "$KILN_BIN" table --warehouse "$WH" append db.compact --input - >/dev/null
done
printf '{"id":2,"ts":"2025-01-02T10:00:00Z","v":"changed"}\n' |
  "$KILN_BIN" table --warehouse "$WH" merge db.compact --key id --input - >/dev/null
"$KILN_BIN" table --warehouse "$WH" alter db.compact --set-property commit.manifest-merge.enabled=false >/dev/null
for d in 8 9; do
  printf '{"id":%d,"ts":"2025-01-0%dT10:00:00Z","v":"r%d"}\n' "$d" "$d" "$d" |
    "$KILN_BIN" table --warehouse "$WH" append db.compact --input - >/dev/null
done
"$KILN_BIN" table --warehouse "$WH" scan db.compact --format ndjson >"$tmp/compact0.ndjson"
(cd "$NODE_DIR" && node lakedata_icebird.mjs "$WH/db/compact" "$tmp/compact0.ndjson") || fail "icebird disagrees on db.compact (merged on commit)"
out=$("$KILN_BIN" table --warehouse "$WH" rewrite-manifests db.compact --json)
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["snapshot_id"] > 0 and r["manifests_after"] == 1 and r["manifests_before"] >= 3, r' "$out" \
  || fail "rewrite-manifests: $out"
"$KILN_BIN" table --warehouse "$WH" scan db.compact --format ndjson >"$tmp/compact1.ndjson"
cmp -s <(sort "$tmp/compact0.ndjson") <(sort "$tmp/compact1.ndjson") || fail "rewrite-manifests changed the rows"
[ "$(wc -l <"$tmp/compact1.ndjson")" -eq 9 ] && grep -q '"changed"' "$tmp/compact1.ndjson" || fail "db.compact rows: $(cat "$tmp/compact1.ndjson")"
(cd "$NODE_DIR" && node lakedata_icebird.mjs "$WH/db/compact" "$tmp/compact1.ndjson") || fail "icebird disagrees on db.compact (rewritten)"
(cd "$NODE_DIR" && node lakedata_avro.mjs "$WH/db/compact") || fail "avsc rejects the merged manifests of db.compact"
out=$("$KILN_BIN" table --warehouse "$WH" rewrite-manifests db.compact)
[[ "$out" == *"nothing to merge"* ]] || fail "second rewrite-manifests: $out"

# ---------------------------------------------------------------- 3. killed writers
for point in after-data after-manifests before-swap after-swap; do
  W=$tmp/k-$point
  KILN_LAKEDATA_EXPORT=$W "$TESTS_BIN" -s lake_export::tables_for_readers >"$tmp/log" 2>&1 || fail "setup for $point"
  "$KILN_BIN" table --warehouse "$W" scan db.events | sort >"$tmp/before"
  set +e
  KILN_LAKEDATA_EXPORT=$W KILN_LAKEDATA_CRASH_AT=$point "$TESTS_BIN" -s lake_export::killed_writer >"$tmp/log" 2>&1
  rc=$?
  set -e
  [ "$rc" -eq 137 ] || { cat "$tmp/log"; fail "$point: writer exited $rc, expected to die with 137"; }
  "$KILN_BIN" table --warehouse "$W" scan db.events | sort >"$tmp/after"
  "$KILN_BIN" table --warehouse "$W" remove-orphans db.events --dry-run --older-than 0s >"$tmp/orphans"
  if [ "$point" = after-swap ]; then
    grep -q killed-merge "$tmp/after" || fail "after-swap: the linked commit must be visible"
  else
    cmp -s "$tmp/before" "$tmp/after" || fail "$point: table changed by a killed writer"
    grep -q '^orphan ' "$tmp/orphans" || fail "$point: no orphans listed: $(cat "$tmp/orphans")"
  fi
  # icebird follows version-hint.text; after a writer killed right after
  # the link, kiln's next load rolls the catalog row and the hint forward,
  # so an independent reader sees the same version at every point
  "$KILN_BIN" table --warehouse "$W" scan db.events --format ndjson >"$tmp/k.ndjson"
  (cd "$NODE_DIR" && node lakedata_icebird.mjs "$W/db/events" "$tmp/k.ndjson" >/dev/null) || fail "$point: icebird disagrees after the crash"
  # re-run to completion, then clean up: same contents as a clean run
  KILN_LAKEDATA_EXPORT=$W KILN_LAKEDATA_CRASH_AT=none "$TESTS_BIN" -s lake_export::killed_writer >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "$point: re-run failed"; }
  "$KILN_BIN" table --warehouse "$W" remove-orphans db.events --older-than 0s >/dev/null
  "$KILN_BIN" table --warehouse "$W" remove-orphans db.events --dry-run --older-than 0s --json | tail -1 | grep -q '"orphans":0' || fail "$point: orphans left after removal"
  "$KILN_BIN" table --warehouse "$W" scan db.events --columns id,label | tail -n +2 | sort >"$tmp/final"
  expected=$(printf '1,killed-merge\n10,x\n11,y\n2,b\n20,new\n21,five\n30,after-rename\n50,inserted')
  [ "$(cat "$tmp/final")" = "$expected" ] || fail "$point: re-run did not converge: $(cat "$tmp/final")"
done
echo "table_data.sh: ok"
