#!/usr/bin/env bash
# table_meta_data.sh - metadata operations on a table with real data (the
# data half's append/merge/scan): branches and fast-forward, tags, rollback,
# time travel, schema evolution, expiry (manifest lists of expired
# snapshots removed, the current snapshot still reads), and several
# processes writing different partitions at once; the independent
# validator (tests/node/lakemeta_validate.mjs: spec rules + icebird) checks
# the metadata afterwards.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
W="$T/wh"
k() { "$KILN_BIN" table --warehouse "$W" "$@"; }
fail() { echo "table_meta_data: $*" >&2; exit 1; }
VALIDATE="node $KILN_ROOT/tests/node/lakemeta_validate.mjs"
jget() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{s=s.replace(/([:\[,]\s*)(-?\d{16,})(?=\s*[,\]\}])/g,"$1\"$2\"");const v=eval("(j)=>"+process.argv[1])(JSON.parse(s));console.log(typeof v==="object"?JSON.stringify(v):v)})' "$1"; }
rows() { k scan "$@" --format ndjson | grep -c . || true; }
day() { # day N -> NDJSON rows for 2024-03-0N, ids N*100+1..N*100+3
  local d=$1
  for i in 1 2 3; do printf '{"id":%d,"day":"2024-03-%02d","v":"d%d-%d"}\n' $((d * 100 + i)) "$d" "$d" "$i"; done
}

k create gh.ev --schema 'id long not null, day date, v string' --partition 'day(day)' >/dev/null
day 1 >"$T/d1"; day 2 >"$T/d2"; day 3 >"$T/d3"; day 4 >"$T/d4"
k append gh.ev --input "$T/d1" >/dev/null
k append gh.ev --input "$T/d2" >/dev/null
[ "$(rows gh.ev)" = 6 ] || fail "6 rows after two appends"
S2=$(k snapshots gh.ev --json | jget 'j[1].snapshot_id')
TS1=$(k snapshots gh.ev --json | jget 'j[0].timestamp_ms')

# branch, write to it, main unchanged, fast-forward publishes it
k branch gh.ev backfill >/dev/null
k append gh.ev --input "$T/d3" --branch backfill >/dev/null
[ "$(rows gh.ev)" = 6 ] || fail "main moved when writing to the branch"
[ "$(rows gh.ev --ref backfill)" = 9 ] || fail "branch does not have its rows"
k fast-forward gh.ev backfill >/dev/null
[ "$(rows gh.ev)" = 9 ] || fail "fast-forward did not publish the branch"
k tag gh.ev before-d4 >/dev/null
k append gh.ev --input "$T/d4" >/dev/null
[ "$(rows gh.ev)" = 12 ] || fail "12 rows"
[ "$(rows gh.ev --as-of before-d4)" = 9 ] || fail "time travel to a tag"
[ "$(rows gh.ev --as-of "ms:$TS1")" = 3 ] || fail "time travel to a time"
# diverged: branch is behind main now but has its own commit
k append gh.ev --input "$T/d1" --branch backfill >/dev/null
set +e; k fast-forward gh.ev backfill >/dev/null 2>&1; rc=$?; set -e
[ "$rc" = 5 ] || fail "fast-forward of diverged branches must exit 5, got $rc"

# rollback (nothing deleted; the rolled-back snapshot stays readable by id)
k rollback gh.ev "$S2" >/dev/null
[ "$(rows gh.ev)" = 6 ] || fail "rollback"
k rollback gh.ev before-d4 >/dev/null 2>&1 && fail "rollback to a non-ancestor must fail" || true

# schema evolution on data: a new column reads as null in old files
k alter gh.ev --add-column 'note string' --rename-column v=val >/dev/null
k scan gh.ev --format ndjson | head -1 | grep -q '"val"' || fail "renamed column not in scan"
k scan gh.ev --format ndjson | head -1 | grep -q '"note":null' || fail "added column not null in old rows"

# concurrent writers on different partitions
# (v is now val: an unknown key would be an error)
for d in 5 6 7 8; do day "$d" | sed 's/"v":/"val":/' >"$T/d$d"; done
pids=()
for d in 5 6 7 8; do k append gh.ev --input "$T/d$d" >"$T/out$d" 2>&1 & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid" || { cat "$T"/out*; fail "a concurrent append failed"; }; done
[ "$(rows gh.ev)" = 18 ] || fail "concurrent appends lost rows: $(rows gh.ev) != 18"
$VALIDATE "$W/gh/ev" --kiln >/dev/null || fail "validator after data commits"

# expire: keep only main's head (and refs' heads); manifest lists go away
NSNAP=$(k snapshots gh.ev --json | jget 'j.length')
k branch gh.ev --drop backfill >/dev/null
k tag gh.ev --drop before-d4 >/dev/null
ML_BEFORE=$(ls "$W/gh/ev/metadata" | grep -c '^snap-' || true)
k expire gh.ev --older-than 0s --retain-last 1 --json >"$T/e.json"
N=$(jget 'j.expired_snapshot_ids.length' <"$T/e.json")
[ "$N" = $((NSNAP - 1)) ] || fail "expire removed $N of $NSNAP snapshots, expected $((NSNAP - 1))"
[ "$(jget 'j.files_deleted' <"$T/e.json")" -ge $((NSNAP - 1)) ] || fail "expire reported too few deleted files"
ML_AFTER=$(ls "$W/gh/ev/metadata" | grep -c '^snap-' || true)
[ "$ML_AFTER" -lt "$ML_BEFORE" ] || fail "expired manifest lists were not deleted ($ML_BEFORE -> $ML_AFTER)"
[ "$(rows gh.ev)" = 18 ] || fail "current snapshot unreadable after expire"
$VALIDATE "$W/gh/ev" --kiln --expect-snapshots 1 >/dev/null || fail "validator after expire"
echo "table_meta_data: ok"
