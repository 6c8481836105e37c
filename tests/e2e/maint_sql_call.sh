#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# maint_sql_call.sh - Iceberg's Spark maintenance procedures in kiln SQL:
# CALL system.rewrite_data_files / expire_snapshots / remove_orphan_files /
# rewrite_manifests with Spark's argument names, positional arguments and
# output columns; the rows stay the same (kiln's scan, the same session's
# SELECT, and icebird); bad calls fail naming the problem.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
NODE_DIR=$KILN_ROOT/tests/node
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "maint_sql_call.sh: FAIL: $*" >&2; exit 1; }
W=$tmp/wh
k() { "$KILN_BIN" table --warehouse "$W" "$@"; }
q() { "$KILN_BIN" sql --warehouse "$W" --json "$@"; }
k create db.t --schema 'id long not null, p int, v string' --partition p >/dev/null
for i in $(seq 1 6); do
  printf '{"id":%d,"p":0,"v":"a%d"}\n{"id":%d,"p":1,"v":"b%d"}\n' "$i" "$i" $((i + 100)) "$i" | k append db.t --input - >/dev/null
done
k delete db.t --where 'id = 3' >/dev/null
k scan db.t --format ndjson | sort >"$tmp/before.txt"
nsnap() { k snapshots db.t --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# sorted rewrite of one partition (where), options map; the same session then reads the table
q "CALL kiln.system.rewrite_data_files(table => 'db.t', strategy => 'sort', sort_order => 'id DESC NULLS LAST',
     where => 'p = 1', options => map('min-input-files', '2'));
   SELECT count(*) AS n FROM db.t;" >"$tmp/r1.json" || fail "rewrite_data_files failed: $(cat "$tmp/r1.json")"
python3 - "$tmp/r1.json" <<'PY' || fail "rewrite_data_files output: $(cat "$tmp/r1.json")"
import json, sys
text = open(sys.argv[1]).read()
# two result sets, one JSON array each
dec, pos, sets = json.JSONDecoder(), 0, []
while pos < len(text):
    while pos < len(text) and text[pos].isspace(): pos += 1
    if pos == len(text): break
    v, pos = dec.raw_decode(text, pos); sets.append(v)
r = sets[0][0]
assert list(r) == ["rewritten_data_files_count", "added_data_files_count", "rewritten_bytes_count",
                   "failed_data_files_count", "removed_delete_files_count"], r
assert r["rewritten_data_files_count"] == 6 and r["added_data_files_count"] == 1 and r["failed_data_files_count"] == 0, r
assert r["rewritten_bytes_count"] > 0, r
assert sets[1] == [{"n": 11}], sets[1]
PY
k scan db.t --format ndjson | sort | cmp - "$tmp/before.txt" || fail "rows changed by CALL rewrite_data_files"
[ "$(k files db.t | awk -F'\t' '$1 == "data" && $4 == "p=1"' | wc -l)" = 1 ] || fail "p=1 not compacted"
[ "$(k files db.t | awk -F'\t' '$1 == "data" && $4 == "p=0"' | wc -l)" -ge 5 ] || fail "where => 'p = 1' also rewrote p=0"
k scan db.t --format ndjson >"$tmp/rows.ndjson"
(cd "$NODE_DIR" && node lakedata_icebird.mjs "$W/db/t" "$tmp/rows.ndjson") >/dev/null || fail "icebird disagrees after CALL"

# binpack with positional arguments: the rest
q "CALL system.rewrite_data_files('db.t', 'binpack')" >"$tmp/r2.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; assert r["rewritten_data_files_count"] >= 5 and r["added_data_files_count"] == 1, r' "$tmp/r2.json" ||
  fail "positional rewrite_data_files: $(cat "$tmp/r2.json")"
k scan db.t --format ndjson | sort | cmp - "$tmp/before.txt" || fail "rows changed by the binpack CALL"

# rewrite_manifests: Spark's two columns
q "CALL system.rewrite_manifests(table => 'db.t', use_caching => false)" >"$tmp/m.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; assert list(r) == ["rewritten_manifests_count", "added_manifests_count"], r' "$tmp/m.json" ||
  fail "rewrite_manifests output: $(cat "$tmp/m.json")"

# expire_snapshots: every snapshot but the current one is older than the
# cutoff; the files the rewrites replaced go, counted by kind
s0=$(nsnap)
q "CALL system.expire_snapshots(table => 'db.t', older_than => TIMESTAMP '2999-01-01 00:00:00.000', retain_last => 1)" >"$tmp/e.json"
python3 - "$tmp/e.json" <<'PY' || fail "expire_snapshots output: $(cat "$tmp/e.json")"
import json, sys
r = json.load(open(sys.argv[1]))[0]
assert list(r) == ["deleted_data_files_count", "deleted_position_delete_files_count", "deleted_equality_delete_files_count",
                   "deleted_manifest_files_count", "deleted_manifest_lists_count", "deleted_statistics_files_count"], r
assert r["deleted_data_files_count"] >= 12 and r["deleted_manifest_lists_count"] >= 8, r
PY
[ "$(nsnap)" = 1 ] || fail "expire_snapshots left $(nsnap) of $s0 snapshots, want 1"
k scan db.t --format ndjson | sort | cmp - "$tmp/before.txt" || fail "rows changed by expire_snapshots"

# remove_orphan_files: a stray old file is listed (dry run keeps it), then removed
mkdir -p "$W/db/t/data/p=0"
echo junk >"$W/db/t/data/p=0/stray.parquet"
touch -d '2020-01-01' "$W/db/t/data/p=0/stray.parquet"
q "CALL system.remove_orphan_files(table => 'db.t', dry_run => true)" >"$tmp/o1.json"
grep -q 'stray.parquet' "$tmp/o1.json" && [ -e "$W/db/t/data/p=0/stray.parquet" ] || fail "dry run: $(cat "$tmp/o1.json")"
q "CALL system.remove_orphan_files(table => 'db.t', older_than => TIMESTAMP '2021-01-01 00:00:00')" >"$tmp/o2.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert [x["orphan_file_location"].endswith("stray.parquet") for x in r] == [True], r' "$tmp/o2.json" ||
  fail "remove_orphan_files output: $(cat "$tmp/o2.json")"
[ ! -e "$W/db/t/data/p=0/stray.parquet" ] || fail "the orphan is still there"
k scan db.t --format ndjson | sort | cmp - "$tmp/before.txt" || fail "rows changed by remove_orphan_files"

# partial progress through options: one replace snapshot per partition group
k create db.pp --schema 'id long not null, p int' --partition p >/dev/null
for i in 1 2; do printf '{"id":%d,"p":0}\n{"id":%d,"p":1}\n{"id":%d,"p":2}\n' "$i" $((i + 10)) $((i + 20)) | k append db.pp --input - >/dev/null; done
k scan db.pp --format ndjson | sort >"$tmp/pp.txt"
q "CALL system.rewrite_data_files(table => 'db.pp', options => map('min-input-files', '2', 'partial-progress.enabled', 'true', 'partial-progress.max-commits', '3'))" >"$tmp/pp.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; assert r["rewritten_data_files_count"] == 6 and r["added_data_files_count"] == 3, r' "$tmp/pp.json" ||
  fail "partial progress CALL: $(cat "$tmp/pp.json")"
[ "$(k snapshots db.pp --json | python3 -c 'import json,sys; print(sum(s["operation"] == "replace" for s in json.load(sys.stdin)))')" = 3 ] ||
  fail "partial-progress.enabled: want 3 replace snapshots"
k scan db.pp --format ndjson | sort | cmp - "$tmp/pp.txt" || fail "rows changed by the partial-progress CALL"

# bad calls: an error naming the problem, exit non-zero, nothing done
s1=$(nsnap)
bad() {
  local want=$1; shift
  set +e; "$KILN_BIN" sql --warehouse "$W" "$1" >"$tmp/bad.out" 2>&1; local rc=$?; set -e
  [ "$rc" != 0 ] && grep -q "$want" "$tmp/bad.out" || fail "$1: exit $rc, want an error with '$want': $(cat "$tmp/bad.out")"
}
bad 'no procedure system.compact' "CALL system.compact('db.t')"
bad 'unknown argument tabel' "CALL system.rewrite_data_files(tabel => 'db.t')"
bad "option 'max-file-group-size-bytes'" "CALL system.rewrite_data_files(table => 'db.t', options => map('max-file-group-size-bytes', '1'))"
bad "strategy nope" "CALL system.rewrite_data_files(table => 'db.t', strategy => 'nope')"
bad "sort_order needs strategy" "CALL system.rewrite_data_files(table => 'db.t', sort_order => 'id')"
bad "retain_last must be" "CALL system.expire_snapshots(table => 'db.t', retain_last => 'x')"
bad "no table db.nope" "CALL system.rewrite_manifests(table => 'db.nope')"
bad "table argument is required" "CALL system.expire_snapshots(retain_last => 2)"
[ "$(nsnap)" = "$s1" ] || fail "a failed CALL committed"
# --explain runs nothing
"$KILN_BIN" sql --warehouse "$W" --explain "CALL system.expire_snapshots(table => 'db.t')" | grep -q 'KILN CALL system.expire_snapshots' || fail "--explain"
echo "maint_sql_call: ok"
