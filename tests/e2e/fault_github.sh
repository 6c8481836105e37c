#!/usr/bin/env bash
# The GitHub API's rate limit spent in the middle of an ingest (docs/faults.md)
# against the local look-alike (tests/node/github_api_server.cjs):
#  - a primary limit that resets within --max-wait is waited out and the run
#    completes (the retry that makes sense);
#  - a limit spent for longer than --max-wait (the server's --limit smaller
#    than the repos to ask for): the ingest stops with an error naming the
#    reset time, exit non-zero, and github.repos keeps its last committed
#    snapshot (one commit per run: nothing half-written);
#  - once the limit is reset (a fresh server), the same command completes,
#    asking again only what it had not cached, and github.repos equals the
#    clean run's.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
T="$(mktemp -d)"
srv=""
stop_srv() { if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; srv=""; fi; }
trap 'stop_srv; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$T"
K="$KILN_BIN"
D=2025-10-08
unset KILN_FAILPOINT || true
export KILN_GITHUB_RETRY_BASE_MS=20 KILN_GITHUB_SECONDARY_WAIT_MS=200
"$K" gen gharchive --out gha --start $D --hours 2 --scale 0.0005 --threads 1 >/dev/null
"$K" gen github-api --out api --start $D --hours 2 --scale 0.0005 --threads 1 >/dev/null
start_srv() { # start_srv ARGS...: the API server; URL
  stop_srv
  rm -f server.out
  node "$KILN_ROOT/tests/node/github_api_server.cjs" --port 0 --api api "$@" >server.out 2>server.err &
  srv=$!
  for _ in $(seq 100); do grep -q PORT server.out 2>/dev/null && break; sleep 0.1; done
  grep -q PORT server.out || { cat server.err; fail "the GitHub API server did not start"; }
  URL="http://127.0.0.1:$(awk '/PORT/{print $2}' server.out)"
}
repos() { "$K" sql -w "$1" --csv -c "select repo_id, full_name, language, default_branch, fork, archived, valid_from, valid_to from github.repos order by repo_id, valid_from" | md5sum; }
ingest() { # ingest WAREHOUSE ARGS...
  local w="$1"
  shift
  "$K" ingest github-repos -w "$w" --api-url "$URL" --observed-at 2025-10-09T00:00:00Z --json "$@"
}
for w in clean w w1; do "$K" job gh-events --in gha --format iceberg -w $w >/dev/null 2>&1 || fail "job"; done
NREPOS="$("$K" sql -w clean --csv -c "select count(distinct repo_id) from github.pushes" | tail -1)"
[ "$NREPOS" -ge 6 ] || fail "only $NREPOS repos"
start_srv
ingest clean >clean.json 2>clean.err || fail "clean ingest: $(cat clean.err)"
CLEAN="$(repos clean)"
CASES=0

# 1. a rate limit that resets in 1 s, in the middle: waited out
curl -sS "$URL/_control/fault?kind=ratelimit&count=1&seconds=1&match=/repos/" >/dev/null
ingest w1 >w1.json 2>w1.err || fail "a short rate limit was not waited out: $(cat w1.err)"
python3 -c "import json; r = json.load(open('w1.json')); assert r['rate_waits'] >= 1, r" || fail "no rate-limit wait: $(cat w1.json)"
[ "$(repos w1)" = "$CLEAN" ] || fail "after the wait github.repos differs from the clean run"
CASES=$((CASES + 1))

# 2. the limit spent mid-run for longer than --max-wait: a clear error, nothing committed
start_srv --limit 3
before_snaps="$("$K" table -w w snapshots github.repos 2>/dev/null | wc -l || true)"
set +e
ingest w --max-wait 1 >w.json 2>w.err
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "a spent rate limit: exit $rc ($(cat w.err))"
grep -qiE "rate limit" w.err || fail "the error does not name the rate limit: $(cat w.err)"
grep -qiE "until|reset" w.err || fail "the error does not say when it resets: $(cat w.err)"
after_snaps="$("$K" table -w w snapshots github.repos 2>/dev/null | wc -l || true)"
[ "$before_snaps" = "$after_snaps" ] || fail "the stopped run committed ($before_snaps -> $after_snaps snapshot lines)"
CASES=$((CASES + 1))

# 3. reset: the same command completes and equals the clean run
start_srv
ingest w >w2.json 2>w2.err || fail "after the reset: $(cat w2.err)"
[ "$(repos w)" = "$CLEAN" ] || fail "after the reset github.repos differs from the clean run"
CASES=$((CASES + 1))
echo "fault_github: ok ($CASES cases: waited out, stopped with nothing committed, converged after the reset)"
