#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# maint_concurrent.sh - a rewrite never loses a concurrent write. The
# rewrite process is held between writing its files and committing
# (KILN_FAILPOINT=lake.rewrite.before-commit=wait:PATH); meanwhile other
# kiln processes append to one partition, delete a row of a second and
# MERGE (update + insert) into a third. Then the rewrite commits:
#   1. one commit for all (default): the appended partition is carried over
#      in the first round; the deleted-from and merged-into partitions fail
#      validation and are rewritten in a second round on the new head, and
#      the partition finished in round 1 is not redone;
#   2. --partial-progress on: one commit per partition group, a conflicting
#      group retried on its own;
#   3. --where limits the rewrite to matching partitions.
# Every time the rows equal what the writes alone produce (kiln's scan,
# icebird, and the avsc + DuckDB-Parquet evaluation of the spec's rules).
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
NODE_DIR=$KILN_ROOT/tests/node
tmp=$(mktemp -d)
bg=""
trap '[ -n "$bg" ] && kill "$bg" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "maint_concurrent.sh: FAIL: $*" >&2; exit 1; }
[ -d "$NODE_DIR/node_modules/@duckdb/node-api" ] || fail "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]])' "$1"; }

# a table partitioned by p (0, 1, 2), three small files per partition
setup() {
  W=$1
  "$KILN_BIN" table --warehouse "$W" create db.t --schema 'id long not null, p int, v string' --partition p >/dev/null
  for i in 1 2 3; do
    python3 - "$i" <<'PY' | "$KILN_BIN" table --warehouse "$W" append db.t --input - >/dev/null
import json, sys
i = int(sys.argv[1])
for j in range(30):
    print(json.dumps({"id": i * 100 + j, "p": j % 3, "v": "v%d" % (i * 100 + j)}))
PY
  done
}

# the concurrent writers, each its own process
writers() {
  local k="$KILN_BIN table --warehouse $1"
  printf '{"id":900,"p":0,"v":"new"}\n{"id":901,"p":0,"v":"new"}\n' | $k append db.t --input - >/dev/null || fail "concurrent append"
  $k delete db.t --where "id = 101" >/dev/null || fail "concurrent delete" # p = 1
  printf '{"id":102,"p":2,"v":"merged"}\n{"id":902,"p":2,"v":"ins"}\n' | $k merge db.t --key id --input - >/dev/null || fail "concurrent merge"
}

expected() { # the rows the writes alone produce, sorted NDJSON as kiln prints them
  python3 - <<'PY'
import json
rows = {}
for i in (1, 2, 3):
    for j in range(30):
        rows[i * 100 + j] = {"id": i * 100 + j, "p": j % 3, "v": "v%d" % (i * 100 + j)}
rows[900] = {"id": 900, "p": 0, "v": "new"}; rows[901] = {"id": 901, "p": 0, "v": "new"}
del rows[101]
rows[102] = {"id": 102, "p": 2, "v": "merged"}; rows[902] = {"id": 902, "p": 2, "v": "ins"}
for r in rows.values():
    print(json.dumps(r, separators=(",", ":")))
PY
}

# run the rewrite held at its commit; the writers commit meanwhile
held_rewrite() {
  local W=$1 out=$2
  shift 2
  rm -f "$tmp/go" "$tmp/go.ready"
  KILN_FAILPOINT="lake.rewrite.before-commit=wait:$tmp/go" \
    "$KILN_BIN" table --warehouse "$W" rewrite-data-files db.t --min-input-files 2 --json "$@" >"$out" 2>"$out.err" &
  bg=$!
  for _ in $(seq 1 600); do [ -e "$tmp/go.ready" ] && break; sleep 0.1; done
  [ -e "$tmp/go.ready" ] || fail "the rewrite never reached its commit: $(cat "$out.err")"
  writers "$W"
  touch "$tmp/go"
  wait "$bg" || { bg=""; fail "rewrite failed: $(cat "$out" "$out.err")"; }
  bg=""
}

check_rows() {
  local W=$1 what=$2
  "$KILN_BIN" table --warehouse "$W" scan db.t --format ndjson >"$tmp/rows.ndjson"
  sort "$tmp/rows.ndjson" | cmp - <(expected | sort) || fail "$what: rows differ from what the writes produce: $(diff <(sort "$tmp/rows.ndjson") <(expected | sort) | head)"
  (cd "$NODE_DIR" && node lakedata_icebird.mjs "$W/db/t" "$tmp/rows.ndjson") >/dev/null || fail "$what: icebird disagrees"
  (cd "$NODE_DIR" && node lakedata_eqdel.mjs "$W/db/t" "$W=$W" "$tmp/rows.ndjson") >/dev/null || fail "$what: the independent evaluation disagrees"
  (cd "$NODE_DIR" && node lakedata_avro.mjs "$W/db/t") >/dev/null || fail "$what: avsc rejects the manifests"
}

# replace snapshots' summaries, oldest first: "deleted-data-files added-data-files"
replaces() {
  "$KILN_BIN" table --warehouse "$1" snapshots db.t --json | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    sm = s.get("summary", {})
    if sm.get("operation", s.get("operation")) == "replace":
        print(sm.get("deleted-data-files", "0"), sm.get("added-data-files", "0"))'
}

# ---------------------------------------------------------------- 1. one commit
W1=$tmp/w1
setup "$W1"
held_rewrite "$W1" "$tmp/r1.json"
python3 - "$tmp/r1.json" <<'PY' || fail "result: $(cat "$tmp/r1.json")"
import json, sys
r = json.load(open(sys.argv[1]))
# round 1 commits p=0 (3 files; the concurrent append is kept, not
# rewritten); round 2 plans p=1 and p=2 again on the new head
assert r["groups_failed"] == 0 and r["commits"] == 2, r
assert r["groups_rewritten"] == 3, r
PY
[ "$(replaces "$W1" | wc -l)" = 2 ] || fail "want 2 replace snapshots: $(replaces "$W1")"
# round 1 replaced p=0's three files; round 2 only p=1 and p=2 (p=0 not redone)
[ "$(replaces "$W1" | head -1)" = "3 1" ] || fail "round 1 should replace p=0's 3 files by 1: $(replaces "$W1")"
r2=$(replaces "$W1" | tail -1)
[ "${r2#* }" = 2 ] || fail "round 2 should add one file for each of p=1 and p=2: $r2"
check_rows "$W1" "one commit"
# the appended file of p=0 is still there (kept, not lost): 2 files in p=0
[ "$("$KILN_BIN" table --warehouse "$W1" files db.t | awk -F'\t' '$1 == "data" && $4 == "p=0"' | wc -l)" = 2 ] ||
  fail "p=0 should hold the compacted file and the concurrent append: $("$KILN_BIN" table --warehouse "$W1" files db.t)"

# a single round: the conflicting partitions are reported, exit 6
W1b=$tmp/w1b
setup "$W1b"
set +e
held_rewrite_rc() {
  rm -f "$tmp/go" "$tmp/go.ready"
  KILN_FAILPOINT="lake.rewrite.before-commit=wait:$tmp/go" \
    "$KILN_BIN" table --warehouse "$W1b" rewrite-data-files db.t --min-input-files 2 --max-rounds 1 --json >"$tmp/r1b.json" 2>"$tmp/r1b.err" &
  bg=$!
  for _ in $(seq 1 600); do [ -e "$tmp/go.ready" ] && break; sleep 0.1; done
  writers "$W1b"
  touch "$tmp/go"
  wait "$bg"
  echo $?
}
rc=$(held_rewrite_rc)
bg=""
set -e
[ "$rc" = 6 ] || fail "--max-rounds 1 with conflicts: exit $rc, want 6 ($(cat "$tmp/r1b.err"))"
[ "$(json groups_failed <"$tmp/r1b.json")" = 2 ] || fail "want 2 failed groups: $(cat "$tmp/r1b.json")"
grep -q 'not rewritten' "$tmp/r1b.err" || fail "no warning naming the failed partitions: $(cat "$tmp/r1b.err")"
check_rows "$W1b" "single round"

# ---------------------------------------------------------------- 2. partial progress
W2=$tmp/w2
setup "$W2"
held_rewrite "$W2" "$tmp/r2.json" --partial-progress on --max-commits 3
python3 - "$tmp/r2.json" <<'PY' || fail "partial progress result: $(cat "$tmp/r2.json")"
import json, sys
r = json.load(open(sys.argv[1]))
# one commit per partition group; the group held at the failpoint may have
# conflicted (delete/merge) and been redone in its own second round
assert r["groups_failed"] == 0 and r["groups_rewritten"] == 3 and r["commits"] == 3, r
PY
[ "$(replaces "$W2" | wc -l)" = 3 ] || fail "want 3 replace snapshots (one per partition): $(replaces "$W2")"
check_rows "$W2" "partial progress"
set +e
"$KILN_BIN" table --warehouse "$W2" rewrite-data-files db.t --partial-progress maybe >/dev/null 2>&1; [ $? = 2 ] || fail "--partial-progress maybe: want exit 2"
"$KILN_BIN" table --warehouse "$W2" rewrite-data-files db.t --max-commits 2 >/dev/null 2>&1; [ $? = 2 ] || fail "--max-commits without partial progress: want exit 2"
set -e

# ---------------------------------------------------------------- 3. --where
W3=$tmp/w3
setup "$W3"
"$KILN_BIN" table --warehouse "$W3" rewrite-data-files db.t --min-input-files 2 --where 'p = 1' --json >"$tmp/r3.json"
[ "$(json groups_rewritten <"$tmp/r3.json")" = 1 ] && [ "$(json data_files_rewritten <"$tmp/r3.json")" = 3 ] ||
  fail "--where p = 1: $(cat "$tmp/r3.json")"
"$KILN_BIN" table --warehouse "$W3" files db.t | awk -F'\t' '$1 == "data" {print $4}' | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ' >"$tmp/f3"
[ "$(cat "$tmp/f3")" = "p=0=3 p=1=1 p=2=3 " ] || fail "--where p = 1 should compact only p=1: $(cat "$tmp/f3")"
echo "maint_concurrent: ok"
