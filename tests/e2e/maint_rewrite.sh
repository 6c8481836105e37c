#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# maint_rewrite.sh - `kiln table rewrite-data-files` end to end:
#   1. a table with position and equality delete files (built by kiln-tests
#      the way another engine writes them): the rewrite applies the deletes,
#      drops the delete files, and the rows are identical before and after,
#      per kiln's scan, an independent evaluation (avsc + DuckDB's Parquet
#      reader, the spec's delete rules in JavaScript) and icebird;
#   2. many small appends: --dry-run changes nothing; the rewrite bin-packs
#      per partition (--target-size, --sort-by), rows identical, manifests
#      valid for avsc, icebird reads the same rows; options are checked;
#   3. appends committed by another process while rewrites run are never lost.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
TESTS_BIN=${KILN_TESTS_BIN:-$(dirname "$KILN_BIN")/kiln-tests}
NODE_DIR=$KILN_ROOT/tests/node
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "maint_rewrite.sh: FAIL: $*" >&2; exit 1; }
[ -x "$TESTS_BIN" ] || fail "kiln-tests not found at $TESTS_BIN"
[ -d "$NODE_DIR/node_modules/@duckdb/node-api" ] || fail "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"
# lakedata_eqdel.mjs prints timestamps as DuckDB does ("2025-01-01 00:00:00+00")
duck_ts() { sed -E 's/"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9:]{8})Z"/"\1 \2+00"/g' "$1" >"$1.duck"; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]])' "$1"; }

# ---------------------------------------------------------------- 1. deletes
W1=$tmp/w1
KILN_MAINT_EXPORT=$W1 "$TESTS_BIN" -s maint_export::table_with_deletes >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "could not build the table"; }
k1() { "$KILN_BIN" table --warehouse "$W1" "$@"; }
T1=$W1/db/events
k1 scan db.events --format ndjson >"$tmp/d_before.ndjson"
[ "$(wc -l <"$tmp/d_before.ndjson")" = 57 ] || fail "table with deletes: $(wc -l <"$tmp/d_before.ndjson") rows, want 57"
duck_ts "$tmp/d_before.ndjson"
(cd "$NODE_DIR" && node lakedata_eqdel.mjs "$T1" "$W1=$W1" "$tmp/d_before.ndjson.duck") >/dev/null || fail "before: kiln and the independent evaluation differ"
[ "$(k1 files db.events | grep -c '^data')" = 6 ] || fail "want 6 data files before"
[ "$(k1 files db.events | grep -Ec '^(position|equality|pos|eq)')" = 2 ] || fail "want 2 delete files before: $(k1 files db.events)"
k1 rewrite-data-files db.events --json >"$tmp/r1.json" || fail "rewrite-data-files failed"
python3 - "$tmp/r1.json" <<'PY' || fail "rewrite result: $(cat "$tmp/r1.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["snapshot_id"] > 0 and not r["dry_run"], r
assert r["groups_rewritten"] == 2 and r["groups_failed"] == 0, r
assert r["data_files_rewritten"] == 6 and r["data_files_added"] == 2, r
assert r["delete_files_removed"] == 2, r
assert r["rows_read"] == 60 and r["rows_written"] == 57, r
PY
k1 scan db.events --format ndjson >"$tmp/d_after.ndjson"
cmp <(sort "$tmp/d_before.ndjson") <(sort "$tmp/d_after.ndjson") || fail "rows changed by the rewrite"
[ "$(k1 files db.events | grep -c '^data')" = 2 ] || fail "want 2 data files after"
[ "$(k1 files db.events | tail -n +2 | grep -vc '^data' || true)" = 0 ] || fail "delete files left: $(k1 files db.events)"
duck_ts "$tmp/d_after.ndjson"
(cd "$NODE_DIR" && node lakedata_eqdel.mjs "$T1" "$W1=$W1" "$tmp/d_after.ndjson.duck") >/dev/null || fail "after: kiln and the independent evaluation differ"
(cd "$NODE_DIR" && node lakedata_icebird.mjs "$T1" "$tmp/d_after.ndjson") >/dev/null || fail "after: icebird disagrees"
(cd "$NODE_DIR" && node lakedata_avro.mjs "$T1") >/dev/null || fail "avsc rejects the manifests after the rewrite"
k1 snapshots db.events | tail -1 | grep -q 'replace' || fail "the last snapshot is not a replace: $(k1 snapshots db.events | tail -1)"
# the snapshot before the rewrite still reads the same rows
prev=$(k1 snapshots db.events --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s[-2]["snapshot_id"])')
k1 scan db.events --as-of "$prev" --format ndjson | sort | cmp - <(sort "$tmp/d_before.ndjson") || fail "time travel to $prev differs"

# ---------------------------------------------------------------- 2. small files
W2=$tmp/w2
k2() { "$KILN_BIN" table --warehouse "$W2" "$@"; }
k2 create db.ev --schema 'id long not null, day date, name string, v double' --partition 'day' >/dev/null
for i in $(seq 1 8); do
  python3 - "$i" >"$tmp/in$i.ndjson" <<'PY'
import json, sys
i = int(sys.argv[1])
for j in range(60):
    print(json.dumps({"id": i * 1000 + j, "day": "2025-01-0%d" % (1 + j % 3), "name": None if j % 7 == 0 else "n%d" % (i * j), "v": j * 0.5}))
PY
  k2 append db.ev --input "$tmp/in$i.ndjson" >/dev/null
done
k2 delete db.ev --where "id = 1005" >/dev/null
k2 scan db.ev --format ndjson | sort >"$tmp/before.txt"
nsnap() { k2 snapshots db.ev --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
s0=$(nsnap)
nfiles0=$(k2 files db.ev | grep -c '^data')
k2 rewrite-data-files db.ev --dry-run --json >"$tmp/dry.json"
[ "$(json data_files_rewritten <"$tmp/dry.json")" = "$nfiles0" ] || fail "dry run: $(cat "$tmp/dry.json"), want $nfiles0 files"
[ "$(json snapshot_id <"$tmp/dry.json")" = -1 ] && [ "$(nsnap)" = "$s0" ] || fail "dry run committed a snapshot"
k2 rewrite-data-files db.ev --target-size 3k --sort-by 'v desc, id' --json >"$tmp/r2.json" || fail "sorted rewrite failed"
[ "$(json data_files_rewritten <"$tmp/r2.json")" = "$nfiles0" ] || fail "want $nfiles0 files rewritten: $(cat "$tmp/r2.json")"
added=$(json data_files_added <"$tmp/r2.json")
[ "$added" -ge 3 ] && [ "$added" -lt "$nfiles0" ] || fail "want between 3 and $nfiles0 files added, got $added"
k2 scan db.ev --format ndjson | sort | cmp - "$tmp/before.txt" || fail "rows changed by the sorted rewrite"
k2 scan db.ev --format ndjson >"$tmp/rows.ndjson"
(cd "$NODE_DIR" && node lakedata_icebird.mjs "$W2/db/ev" "$tmp/rows.ndjson") >/dev/null || fail "icebird disagrees after the rewrite"
(cd "$NODE_DIR" && node lakedata_eqdel.mjs "$W2/db/ev" "$W2=$W2" "$tmp/rows.ndjson") >/dev/null || fail "the independent evaluation disagrees"
(cd "$NODE_DIR" && node lakedata_avro.mjs "$W2/db/ev") >/dev/null || fail "avsc rejects the manifests"
# each file of one partition is sorted by v descending (DuckDB reads it)
f=$(k2 files db.ev | awk -F'\t' '$4 == "day=2025-01-01" {print $5; exit}')
(cd "$NODE_DIR" && node -e '
const { DuckDBInstance } = require("@duckdb/node-api");
(async () => {
  const c = await (await DuckDBInstance.create(":memory:")).connect();
  const r = (await c.runAndReadAll(`select v from read_parquet(${JSON.stringify(process.argv[1]).replace(/"/g, "\x27")})`)).getRows();
  for (let i = 1; i < r.length; i++) if (r[i][0] > r[i - 1][0]) { console.error("not sorted at", i); process.exit(1); }
})();' "${f#file://}") || fail "data file $f is not sorted by v desc"
# nothing left to do: no snapshot
s1=$(nsnap)
k2 rewrite-data-files db.ev >"$tmp/again.txt"
grep -q 'nothing to rewrite' "$tmp/again.txt" && [ "$(nsnap)" = "$s1" ] || fail "second run: $(cat "$tmp/again.txt")"
# bad options: usage errors (exit 2), a missing table (exit 4)
set +e
k2 rewrite-data-files db.ev --target-size 12q >/dev/null 2>&1; [ $? = 2 ] || fail "--target-size 12q: want exit 2"
k2 rewrite-data-files db.ev --sort --sort-by id >/dev/null 2>&1; [ $? = 2 ] || fail "--sort with --sort-by: want exit 2"
k2 rewrite-data-files db.ev --sort-by nope >"$tmp/e" 2>&1; rc=$?; [ $rc = 2 ] && grep -q nope "$tmp/e" || fail "--sort-by nope: exit $rc $(cat "$tmp/e")"
k2 rewrite-data-files db.ev --sort >"$tmp/e" 2>&1; rc=$?; [ $rc = 2 ] && grep -q 'no sort order' "$tmp/e" || fail "--sort on an unsorted table: exit $rc"
k2 rewrite-data-files db.missing >/dev/null 2>&1; [ $? = 4 ] || fail "missing table: want exit 4"
set -e

# ---------------------------------------------------------------- 3. concurrent appends
W3=$tmp/w3
k3() { "$KILN_BIN" table --warehouse "$W3" "$@"; }
k3 create db.c --schema 'id long not null, p int' --partition 'p' >/dev/null
for i in $(seq 1 6); do printf '{"id":%d,"p":%d}\n' "$i" $((i % 2)) | k3 append db.c --input - >/dev/null; done
( for i in $(seq 100 139); do printf '{"id":%d,"p":%d}\n' "$i" $((i % 3)) | k3 append db.c --input - >/dev/null || exit 1; done ) &
writer=$!
for r in 1 2 3 4 5 6; do
  k3 rewrite-data-files db.c --min-input-files 2 --json >"$tmp/c$r.json" || fail "rewrite $r during appends failed: $(cat "$tmp/c$r.json")"
done
wait "$writer" || fail "the concurrent writer failed"
k3 rewrite-data-files db.c --min-input-files 2 >/dev/null
n=$(k3 scan db.c --format ndjson | sort -u | wc -l)
[ "$n" = 46 ] || fail "after rewrites during appends: $n distinct rows, want 46"
[ "$(k3 scan db.c --format ndjson | wc -l)" = 46 ] || fail "duplicated rows after concurrent rewrites"
# 4. the table's sort order with transforms (Spark's WRITE ORDERED BY days(ts) DESC, id):
# rows come out ordered by the transform's value, then id; a transform that does not
# apply to its column is refused at create
W4=$tmp/w4
k4() { "$KILN_BIN" table --warehouse "$W4" "$@"; }
k4 create db.t --schema 'id long, ts timestamptz' --sort 'day(ts) desc, id' >/dev/null || fail "create with a day() sort order"
for f in 0 1 2 3; do
  python3 -c '
import json, random, sys
random.seed(int(sys.argv[1]))
for i in range(40):
    print(json.dumps({"id": random.randint(1, 999), "ts": "2025-01-%02dT%02d:%02d:00Z" % (random.randint(1, 28), random.randint(0, 23), random.randint(0, 59))}))
' "$f" | k4 append db.t --input - >/dev/null
done
k4 scan db.t --format ndjson | sort >"$tmp/t_before"
k4 rewrite-data-files db.t --sort --min-input-files 1 >/dev/null || fail "rewrite by a day(ts) sort order failed"
k4 scan db.t --format ndjson | sort | cmp - "$tmp/t_before" || fail "rows changed by the transform-sorted rewrite"
[ "$(k4 files db.t --json | grep -c .)" = 1 ] || fail "one sorted file expected"
k4 scan db.t --format ndjson | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
keys = [(r["ts"][:10], r["id"]) for r in rows]
want = sorted(keys, key=lambda k: (-int(k[0].replace("-", "")), k[1]))
sys.exit(0 if keys == want else 1)' || fail "rows are not in day(ts) desc, id order"
k4 create db.bad --schema 'id long' --sort 'day(id)' >/dev/null 2>&1 && fail "day(id) on a long column was accepted"
echo "maint_rewrite: ok"
