#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# An S3 warehouse behind a faulty network (docs/faults.md): kiln talks to the
# S3 test server (tests/node/s3_server.cjs, SigV4-checking) through
# tests/node/fault_s3_proxy.cjs, which answers 500 or 503, holds answers
# back past kiln's timeout, or resets connections half way through a body.
# A few faults are retried (the commit lands once, reads are exact); faults
# that outlast the attempts are a clear error (exit 1, the HTTP status or
# the timeout named) and leave the last committed snapshot as it was; once
# the network heals the same command succeeds. A kill -9 between two
# object uploads (failpoint store.put.before) commits nothing either.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
NODE_DIR="$KILN_ROOT/tests/node"
[ -d "$NODE_DIR/node_modules/@20minutes/s3rver" ] || { echo "tests/node lacks @20minutes/s3rver (run scripts/deps.sh)"; exit 1; }
T="$(mktemp -d)"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
mkdir -p "$T/s3" "$T/tmp"
node --openssl-legacy-provider "$NODE_DIR/s3_server.cjs" "$T/s3" "$T/s3port" kiln-wh >"$T/s3.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$T/s3port" ] && break; sleep 0.1; done
[ -s "$T/s3port" ] || { cat "$T/s3.log"; fail "the S3 server did not start"; }
node "$NODE_DIR/fault_s3_proxy.cjs" "$(cat "$T/s3port")" "$T/pport" >"$T/proxy.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$T/pport" ] && break; sleep 0.1; done
[ -s "$T/pport" ] || { cat "$T/proxy.log"; fail "the proxy did not start"; }
P="http://127.0.0.1:$(cat "$T/pport")"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$P"
export KILN_CATALOG_DIR="$T/catalogs" KILN_S3_RETRY_BASE_MS=5 KILN_S3_MAX_ATTEMPTS=4 KILN_S3_TIMEOUT_MS=600 TMPDIR="$T/tmp"
unset AWS_SESSION_TOKEN AWS_PROFILE KILN_WAREHOUSE KILN_FAILPOINT || true
W=s3://kiln-wh/lake
K() { "$KILN_BIN" "$@"; }
proxy() { curl -sS "$P/__proxy?$1" >/dev/null; }
faulted() { curl -sS "$P/__proxy/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["faulted"])'; }
rows() { K table --warehouse "$W" scan f.t --format csv | sort | md5sum; }
nsnap() { K table --warehouse "$W" snapshots f.t | tail -n +2 | wc -l; }
batch() { python3 -c "import sys; [print('{\"id\": %d, \"s\": \"row %d\"}' % (i, i)) for i in range(int(sys.argv[1]), int(sys.argv[2]))]" "$1" "$2"; }
CASES=0

K table --warehouse "$W" create f.t --schema "id long not null, s string" >/dev/null
batch 0 50 >"$T/b0.ndjson"
K table --warehouse "$W" append f.t --input "$T/b0.ndjson" >/dev/null

# --- transient faults: retried, each commit lands once, reads exact
# run SPEC cmd...: cmd under the fault SPEC must succeed, and a fault must
# have been injected
run() {
  local spec="$1" f0
  shift
  f0="$(faulted)"
  proxy "$spec"
  "$@" >"$T/out" 2>"$T/err" || { proxy "mode=none"; cat "$T/err" >&2; fail "$spec: not retried: $*"; }
  proxy "mode=none"
  [ "$(faulted)" -gt "$f0" ] || fail "$spec: no fault was injected"
  CASES=$((CASES + 1))
}
batch 100 150 >"$T/b1.ndjson"
batch 200 250 >"$T/b2.ndjson"
batch 300 350 >"$T/b3.ndjson"
run "mode=500&n=2" K table --warehouse "$W" append f.t --input "$T/b1.ndjson"
run "mode=503&n=3" K table --warehouse "$W" append f.t --input "$T/b2.ndjson"
run "mode=slow&n=1&ms=1000" K table --warehouse "$W" append f.t --input "$T/b3.ndjson"
run "mode=reset&n=2&match=GET" K sql --warehouse "$W" --csv -c "select count(*), count(distinct id), sum(id) from f.t"
[ "$(tail -1 "$T/out")" = "200,200,$(((49 * 50 / 2) + (100 + 149) * 25 + (200 + 249) * 25 + (300 + 349) * 25))" ] ||
  fail "read through resets: $(cat "$T/out")"
run "mode=500&n=2&match=GET" K table --warehouse "$W" scan f.t --format csv
[ "$(tail -n +2 "$T/out" | wc -l)" = 200 ] || fail "scan through 500s: $(wc -l <"$T/out") lines"
[ "$(nsnap)" = 4 ] || fail "$(nsnap) snapshots after 4 appends (a commit made twice or lost)"

# --- faults that outlast the attempts: a clear error, the table untouched
before="$(rows)" s0="$(nsnap)"
export KILN_S3_MAX_ATTEMPTS=2
batch 9000 9050 >"$T/bx.ndjson"
for spec in "mode=500&n=1000&match=PUT" "mode=503&n=1000&match=PUT" "mode=slow&n=1000&ms=1000&match=PUT" "mode=reset&n=1000&match=GET"; do
  proxy "$spec"
  set +e
  K table --warehouse "$W" append f.t --input "$T/bx.ndjson" >"$T/out" 2>"$T/err"
  rc=$?
  set -e
  proxy "mode=none"
  [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || { cat "$T/err" >&2; fail "$spec: exit $rc"; }
  grep -qiE "500|503|InternalError|SlowDown|timed? ?out|timeout|reset|closed|transfer|partial|recv" "$T/err" ||
    fail "$spec: the error does not name the cause: $(cat "$T/err")"
  [ "$(nsnap)" = "$s0" ] || fail "$spec: the failed append committed"
  CASES=$((CASES + 1))

done
[ "$(rows)" = "$before" ] || fail "the failed appends changed the rows"
# healed: the same append goes through, once
K table --warehouse "$W" append f.t --input "$T/bx.ndjson" >/dev/null || fail "append after healing"
[ "$(nsnap)" = $((s0 + 1)) ] || fail "after healing: $(nsnap) snapshots"
# kill -9 in the middle of the uploads (the failpoint before the 2nd object
# put): nothing committed, the re-run commits once
batch 9100 9150 >"$T/bk.ndjson"
s0="$(nsnap)" before="$(rows)"
set +e
KILN_FAILPOINT=store.put.before:2 KILN_FAILPOINT_LOG="$T/fp.log" K table --warehouse "$W" append f.t \
  --input "$T/bk.ndjson" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 137 ] && grep -q "^store.put.before " "$T/fp.log" || fail "store.put.before:2: exit $rc, failpoint not reached"
[ "$(nsnap)" = "$s0" ] && [ "$(rows)" = "$before" ] || fail "a kill before the uploads finished committed"
K table --warehouse "$W" append f.t --input "$T/bk.ndjson" >/dev/null || fail "append after the kill"
[ "$(nsnap)" = $((s0 + 1)) ] || fail "after the kill: $(nsnap) snapshots, want $((s0 + 1))"
CASES=$((CASES + 1))
n="$(K sql --warehouse "$W" --csv -c "select count(*) from f.t" | tail -1)"
[ "$n" = 300 ] || fail "final rows $n, want 300"
echo "fault_s3: ok ($CASES fault cases: 500, 503, slow, reset mid-body, retried and persistent; kill -9 mid-upload)"
