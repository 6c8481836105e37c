#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# maint_posdel.sh - exact removal of dangling position deletes by
# rewrite-data-files. Table (built by kiln-tests, the way another engine
# writes deletes): one partition with data files A, B, C; position delete
# file P1 names rows of A and B (found by reading its file_path column), P2
# a row of A only (found from its equal file_path bounds).
#   1. rewriting A alone (--where): P2 goes (it names only A), P1 stays
#      (B, not rewritten, is still live and P1 deletes a row of it);
#   2. then rewriting B: P1 goes too (A and B both rewritten) although C,
#      older than P1, is still in the partition.
# rewrite-position-delete-files on fresh copies of the table:
#   3. CLI: P1 and P2 merged into one file of 3 entries (sorted), rows the
#      same; a rewrite of A alone then keeps it (it names B);
#   4. CALL system.rewrite_position_delete_files after A was rewritten: P1's
#      entry for A is dangling and dropped, one file with B's entry remains;
#      Spark's output columns; unsupported arguments are an error;
#   5. concurrency (the rewrite held at its commit by KILN_FAILPOINT): an
#      append committed meanwhile is carried over; a rewrite-data-files
#      that removed one of the delete files being replaced makes it fail
#      with a conflict (exit 5), nothing committed, its new file deleted.
# Rows identical before and after each step per kiln, the avsc + DuckDB
# evaluation of the spec's delete rules, and icebird.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
TESTS_BIN=${KILN_TESTS_BIN:-$(dirname "$KILN_BIN")/kiln-tests}
NODE_DIR=$KILN_ROOT/tests/node
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "maint_posdel.sh: FAIL: $*" >&2; exit 1; }
[ -x "$TESTS_BIN" ] || fail "kiln-tests not found at $TESTS_BIN"
duck_ts() { sed -E 's/"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9:]{8})Z"/"\1 \2+00"/g' "$1" >"$1.duck"; }
W=$tmp/w
T=$W/db/events
KILN_MAINT_EXPORT=$W "$TESTS_BIN" -s maint_export::table_with_pos_deletes >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "could not build the table"; }
k() { "$KILN_BIN" table --warehouse "$W" "$@"; }
check_rows() { # $1: label
  k scan db.events --format ndjson >"$tmp/$1.ndjson"
  cmp <(sort "$tmp/before.ndjson") <(sort "$tmp/$1.ndjson") || fail "$1: rows changed"
  duck_ts "$tmp/$1.ndjson"
  (cd "$NODE_DIR" && node lakedata_eqdel.mjs "$T" "$W=$W" "$tmp/$1.ndjson.duck") >/dev/null || fail "$1: kiln and the independent evaluation differ"
  (cd "$NODE_DIR" && node lakedata_icebird.mjs "$T" "$tmp/$1.ndjson") >/dev/null || fail "$1: icebird disagrees"
  (cd "$NODE_DIR" && node lakedata_avro.mjs "$T") >/dev/null || fail "$1: avsc rejects the manifests"
}
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
k scan db.events --format ndjson >"$tmp/before.ndjson"
[ "$(wc -l <"$tmp/before.ndjson")" = 27 ] || fail "want 27 rows before, got $(wc -l <"$tmp/before.ndjson")"
grep -q '"id":100,' "$tmp/before.ndjson" && fail "row 100 (deleted by P1) is visible"
grep -q '"id":112,' "$tmp/before.ndjson" && fail "row 112 (deleted by P1) is visible"
check_rows start
[ "$(k files db.events | grep -c '^position')" = 2 ] || fail "want 2 position delete files: $(k files db.events)"
p1=$(k files db.events | awk -F'\t' '$1 ~ /^position/ && $2 == 2 {print $5}')
p2=$(k files db.events | awk -F'\t' '$1 ~ /^position/ && $2 == 1 {print $5}')
[ -n "$p1" ] && [ -n "$p2" ] || fail "cannot tell P1 from P2: $(k files db.events)"

# 1. A alone: P2 dangling (removed), P1 still names live B (kept)
k rewrite-data-files db.events --where 'id < 110' --min-input-files 1 --dry-run --json >"$tmp/dry.json"
[ "$(field delete_files_removed <"$tmp/dry.json")" = 1 ] || fail "dry run: $(cat "$tmp/dry.json")"
k rewrite-data-files db.events --where 'id < 110' --min-input-files 1 --json >"$tmp/r1.json" || fail "rewrite of A failed"
[ "$(field data_files_rewritten <"$tmp/r1.json")" = 1 ] || fail "step 1 rewrote: $(cat "$tmp/r1.json")"
[ "$(field delete_files_removed <"$tmp/r1.json")" = 1 ] || fail "step 1 removed: $(cat "$tmp/r1.json")"
k files db.events | grep -qF "$p1" || fail "P1 removed while B (which it deletes from) is live"
k files db.events | grep -qF "$p2" && fail "P2 kept though A, the only file it names, was rewritten"
[ "$(k files db.events | grep -c '^data')" = 3 ] || fail "want 3 data files after step 1"
check_rows step1

# 2. B too: P1 names only rewritten files now, C (older, live) does not keep it
k rewrite-data-files db.events --where 'id >= 110 and id < 120' --min-input-files 1 --json >"$tmp/r2.json" || fail "rewrite of B failed"
[ "$(field data_files_rewritten <"$tmp/r2.json")" = 1 ] || fail "step 2 rewrote: $(cat "$tmp/r2.json")"
[ "$(field delete_files_removed <"$tmp/r2.json")" = 1 ] || fail "step 2 removed: $(cat "$tmp/r2.json")"
[ "$(k files db.events | tail -n +2 | grep -vc '^data' || true)" = 0 ] || fail "delete files left: $(k files db.events)"
[ "$(k files db.events | grep -c '^data')" = 3 ] || fail "want 3 data files after step 2"
check_rows step2
k snapshots db.events | tail -1 | grep -q replace || fail "last snapshot is not a replace: $(k snapshots db.events | tail -1)"

# 3. merge P1 and P2 (CLI)
fresh() { rm -rf "$W"; KILN_MAINT_EXPORT=$W "$TESTS_BIN" -s maint_export::table_with_pos_deletes >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "could not build the table"; }; }
fresh
k scan db.events --format ndjson >"$tmp/before.ndjson"
nsnap() { k snapshots db.events --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
s0=$(nsnap)
k rewrite-position-delete-files db.events --dry-run --json >"$tmp/pd0.json"
[ "$(field rewritten_delete_files_count <"$tmp/pd0.json")" = 2 ] && [ "$(field added_delete_files_count <"$tmp/pd0.json")" = 1 ] || fail "dry run: $(cat "$tmp/pd0.json")"
[ "$(nsnap)" = "$s0" ] || fail "the dry run committed"
k rewrite-position-delete-files db.events --json >"$tmp/pd1.json" || fail "rewrite-position-delete-files failed"
python3 - "$tmp/pd1.json" <<'PY' || fail "result: $(cat "$tmp/pd1.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["snapshot_id"] > 0 and r["partitions"] == 1, r
assert r["rewritten_delete_files_count"] == 2 and r["added_delete_files_count"] == 1, r
assert r["deletes_read"] == 3 and r["deletes_written"] == 3, r
assert r["rewritten_bytes_count"] > 0 and r["added_bytes_count"] > 0, r
PY
[ "$(k files db.events | grep -c '^position')" = 1 ] || fail "want 1 position delete file: $(k files db.events)"
[ "$(k files db.events | awk -F'\t' '$1 ~ /^position/ {print $2}')" = 3 ] || fail "the merged file should hold 3 entries"
k snapshots db.events | tail -1 | grep -q replace || fail "not a replace snapshot"
check_rows merged
k rewrite-position-delete-files db.events --json >"$tmp/pd2.json"
[ "$(field snapshot_id <"$tmp/pd2.json")" = -1 ] || fail "a second run found work: $(cat "$tmp/pd2.json")"
k rewrite-data-files db.events --where 'id < 110' --min-input-files 1 --json >"$tmp/r3.json" || fail "rewrite of A after the merge failed"
[ "$(field delete_files_removed <"$tmp/r3.json")" = 0 ] || fail "the merged file (it names B) was removed: $(cat "$tmp/r3.json")"
check_rows merged_then_a

# 4. dangling entries dropped (SQL procedure)
fresh
k scan db.events --format ndjson >"$tmp/before.ndjson"
k rewrite-data-files db.events --where 'id < 110' --min-input-files 1 >/dev/null || fail "rewrite of A failed"
"$KILN_BIN" sql --warehouse "$W" --json "CALL system.rewrite_position_delete_files(table => 'db.events')" >"$tmp/call.json" || fail "CALL failed: $(cat "$tmp/call.json")"
python3 - "$tmp/call.json" <<'PY' || fail "CALL output: $(cat "$tmp/call.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r) == 1, r
r = r[0]
assert list(r) == ["rewritten_delete_files_count", "added_delete_files_count", "rewritten_bytes_count", "added_bytes_count"], r
assert r["rewritten_delete_files_count"] == 1 and r["added_delete_files_count"] == 1, r
PY
[ "$(k files db.events | awk -F'\t' '$1 ~ /^position/ {print $2}')" = 1 ] || fail "want one delete file with B's entry only: $(k files db.events)"
check_rows dropped
s1=$(nsnap)
set +e; "$KILN_BIN" sql --warehouse "$W" "CALL system.rewrite_position_delete_files(table => 'db.events', options => map('rewrite-all', 'true'))" >"$tmp/bad.out" 2>&1; rc=$?; set -e
[ "$rc" != 0 ] && grep -q 'argument options is not supported' "$tmp/bad.out" || fail "options: exit $rc: $(cat "$tmp/bad.out")"
[ "$(nsnap)" = "$s1" ] || fail "a refused CALL committed"

# 5. concurrency
bg=""
trap '[ -n "$bg" ] && kill "$bg" 2>/dev/null; rm -rf "$tmp"' EXIT
held() { # $1: output; then the command run while the rewrite waits
  local out=$1; shift
  rm -f "$tmp/go" "$tmp/go.ready"
  KILN_FAILPOINT="lake.rewrite.before-commit=wait:$tmp/go" \
    "$KILN_BIN" table --warehouse "$W" rewrite-position-delete-files db.events --json >"$out" 2>"$out.err" &
  bg=$!
  for _ in $(seq 1 600); do [ -e "$tmp/go.ready" ] && break; sleep 0.1; done
  [ -e "$tmp/go.ready" ] || fail "the rewrite never reached its commit: $(cat "$out.err")"
  "$@" >/dev/null || fail "concurrent writer failed: $*"
  touch "$tmp/go"
  set +e; wait "$bg"; held_rc=$?; set -e
  bg=""
}
# 5a. an append meanwhile: carried over
fresh
printf '{"id":500,"ts":"2025-01-01T00:10:00Z","name":"n500"}\n{"id":501,"ts":"2025-01-02T00:10:00Z","name":"n501"}\n' >"$tmp/app.ndjson"
{ k scan db.events --format ndjson; } >"$tmp/old.ndjson"
held "$tmp/c1.json" k append db.events --input "$tmp/app.ndjson"
[ "$held_rc" = 0 ] || fail "held rewrite with an append meanwhile: exit $held_rc: $(cat "$tmp/c1.json" "$tmp/c1.json.err")"
[ "$(field added_delete_files_count <"$tmp/c1.json")" = 1 ] || fail "5a: $(cat "$tmp/c1.json")"
k scan db.events --format ndjson >"$tmp/before.ndjson"
[ "$(wc -l <"$tmp/before.ndjson")" = 29 ] || fail "5a: want 27 + 2 appended rows, got $(wc -l <"$tmp/before.ndjson")"
grep -q '"id":500,' "$tmp/before.ndjson" && grep -q '"id":501,' "$tmp/before.ndjson" || fail "5a: the concurrent append was lost"
cmp <(sort "$tmp/old.ndjson") <(grep -v '"id":50[01],' "$tmp/before.ndjson" | sort) || fail "5a: the old rows changed"
[ "$(k files db.events | grep -c '^position')" = 1 ] || fail "5a: want 1 position delete file: $(k files db.events)"
check_rows concurrent_append
# 5b. a data rewrite removed P2 meanwhile: conflict, nothing committed
fresh
k scan db.events --format ndjson >"$tmp/before.ndjson"
held "$tmp/c2.json" k rewrite-data-files db.events --where 'id < 110' --min-input-files 1
[ "$held_rc" = 5 ] || fail "5b: want exit 5 (conflict), got $held_rc: $(cat "$tmp/c2.json" "$tmp/c2.json.err")"
grep -q 'removed by a concurrent commit' "$tmp/c2.json.err" || fail "5b: message: $(cat "$tmp/c2.json.err")"
k snapshots db.events | tail -1 | grep -q replace || fail "5b: the data rewrite should be the last snapshot"
[ "$(k files db.events | grep -c '^position')" = 1 ] || fail "5b: want P1 alone: $(k files db.events)"
ls "$W/db/events/data" | grep -q -- '-deletes.parquet' && fail "5b: the failed rewrite left its file behind"
check_rows concurrent_conflict
echo "maint_posdel.sh: ok"
