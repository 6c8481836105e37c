#!/usr/bin/env bash
# The GitHub API's rate limit spent in the middle of a backfill (issue 18;
# docs/faults.md), against the local look-alike (tests/node/
# github_api_server.cjs). A DAG loads each day's GH Archive hours (`load`,
# job.gh_events) and then asks the API for the repos of github.pushes
# (`repos`, `kiln ingest github-repos`, SCD2 into github.repos; cached
# answers are asked again with If-None-Match, a 304 spends no limit). The
# server's limit covers day 1's repos and runs out in day 2's:
#  1. the backfill exits 6: day 1 success, day 2's `repos` failed on both
#     tries (the task's retry ran; the limit was still spent), each try's
#     log naming the rate limit and when it resets;
#  2. every table keeps its last committed snapshot: github.repos holds
#     exactly day 1's commit and equals a clean run after day 1; the pushes
#     of both days are in (day 2's load committed before the limit ran out);
#  3. after the reset, `--rerun failed` runs day 2's `repos` only (the load
#     is skipped by its key) and github.repos equals the clean backfill's,
#     asking the API only for repos it had no answer for.
# (fault_github covers the ingest alone: a short reset waited out in-run.)
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
T="$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)"
srv=""
stop_srv() { if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; srv=""; fi; }
trap 'stop_srv; [ -n "${KEEP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
K() { "$KILN_BIN" "$@"; }
export KILN_PROGRESS=0 PATH="$(dirname "$KILN_BIN"):$PATH" KILN_GITHUB_RETRY_BASE_MS=20
unset KILN_FAILPOINT KILN_FAILPOINT_ONCE KILN_FAILPOINT_LOG KILN_WAREHOUSE || true
# small: the ingest asks the API once per repo (fewer repos under sanitizers)
case "$KILN_BIN" in */build-asan/* | */build-tsan/*) SCALE=0.0001 ;; *) SCALE=0.0002 ;; esac
cd "$T"
K gen gharchive --out gha --start 2025-10-08 --days 2 --hours 1 --scale "$SCALE" --threads 1 >/dev/null
K gen github-api --out api --start 2025-10-08 --days 2 --hours 1 --scale "$SCALE" --threads 1 >/dev/null
start_srv() { # the API server on a free port; its URL in FILE api_url
  stop_srv
  node "$KILN_ROOT/tests/node/github_api_server.cjs" --port 0 --api api >server.out 2>server.err &
  srv=$!
  for _ in $(seq 100); do grep -q PORT server.out 2>/dev/null && break; sleep 0.1; done
  grep -q PORT server.out || { cat server.err; fail "the GitHub API server did not start"; }
  URL="http://127.0.0.1:$(awk '/PORT/{print $2}' server.out)"
}
ctl() { curl -sSf "$URL/_control/$1" >/dev/null || fail "control $1"; }
new_project() {
  mkdir -p "$1/dags"
  ln -s "$T/gha" "$1/gha"
  echo "$URL" >"$1/api_url"
  cat >"$1/dags/gh.yml" <<'YML'
schedule: "@daily"
start_date: 2025-10-08
end_date: 2025-10-09
catchup: true
max_active_runs: 1
default_task: {retries: 1, retry_delay: 10ms}
tasks:
  load: {type: job.gh_events, in: gha, warehouse: warehouse, threads: 1}
  repos:
    type: command
    needs: [load]
    command: [sh, -c, 'kiln ingest github-repos -w warehouse --api-url "$(cat api_url)" --observed-at "$1T23:00:00Z" --max-wait 1', repos, "{{ ds }}"]
YML
}
backfill() { # DIR END [ARGS...]
  local d="$1" e="$2"
  shift 2
  K dags backfill gh --start 2025-10-08 --end "$e" --project-dir "$d" "$@"
}
repos() { K sql -w "$1" --csv -c "select repo_id, full_name, language, default_branch, fork, archived, valid_from, valid_to from github.repos order by repo_id, valid_from" | md5sum | cut -c1-12; }
nsnap() { K table -w "$1" snapshots "$2" | grep -c '^[0-9]' || true; }
start_srv

# the clean run, and the state of github.repos after its day 1
new_project clean
backfill clean 2025-10-08 >clean1.log 2>&1 || { cat clean1.log >&2; fail "clean day 1"; }
CLEAN1="$(repos clean/warehouse)"
backfill clean 2025-10-09 >clean.log 2>&1 || { cat clean.log >&2; fail "clean backfill"; }
CLEAN="$(repos clean/warehouse)"
[ "$CLEAN1" != "$CLEAN" ] || fail "day 2 added no repo"
n1="$(K sql -w clean/warehouse --csv -c "select count(*) from github.repos where valid_from < '2025-10-09'" | tail -1)"
nall="$(K sql -w clean/warehouse --csv -c "select count(*) from github.repos" | tail -1)"
[ "$n1" -ge 5 ] && [ "$nall" -gt $((n1 + 5)) ] || fail "too few repos for the test: $n1 on day 1, $nall in all"

# the limit: day 1's repos and 5 more requests
start_srv
ctl "limit?n=$((n1 + 5))&seconds=3600"
new_project p
set +e
backfill p 2025-10-09 >p1.log 2>&1
rc=$?
set -e
CASES=0
# 1. a clear failure of day 2's repos task, retried
[ "$rc" = 6 ] || { cat p1.log >&2; fail "a backfill that spends the rate limit: exit $rc, want 6"; }
db() { sqlite3 p/.kiln/flow.db "$1"; }
[ "$(db "SELECT state FROM task_instance WHERE task='repos' ORDER BY logical_date" | tr '\n' ' ')" = "success failed " ] ||
  fail "repos states: $(db "SELECT logical_date, state FROM task_instance WHERE task='repos'")"
for try in 1 2; do
  log="p/.kiln/logs/gh/2025-10-09T00:00:00Z/repos.try-$try.log"
  [ -f "$log" ] || fail "day 2 repos: no try $try (the retry did not run)"
  grep -qi "rate limit" "$log" || fail "try $try: the log does not name the rate limit: $(tail -3 "$log")"
  grep -qiE "until|reset" "$log" || fail "try $try: the log does not say when it resets: $(tail -3 "$log")"
done
CASES=$((CASES + 1))
# 2. the last committed snapshots: github.repos as after day 1, both days of pushes
[ "$(nsnap p/warehouse github.repos)" = 1 ] || fail "github.repos has $(nsnap p/warehouse github.repos) snapshots, want day 1's only"
[ "$(repos p/warehouse)" = "$CLEAN1" ] || fail "github.repos differs from the clean run after day 1"
for t in pushes commits; do
  [ "$(K sql -w p/warehouse --csv -c "select count(*) from github.$t" | tail -1)" = \
    "$(K sql -w clean/warehouse --csv -c "select count(*) from github.$t" | tail -1)" ] || fail "github.$t lost day 2's load"
done
CASES=$((CASES + 1))

# 3. the limit reset: the failed task again, only it
ctl reset
ctl "limit?n=5000&seconds=3600"
backfill p 2025-10-09 --rerun failed >p2.log 2>&1 || { cat p2.log >&2; fail "the re-run after the reset"; }
grep -q "load: try" p2.log && fail "the re-run loaded again: $(cat p2.log)"
[ "$(repos p/warehouse)" = "$CLEAN" ] || fail "github.repos after the re-run differs from the clean run"
[ "$(nsnap p/warehouse github.repos)" = 2 ] || fail "github.repos: $(nsnap p/warehouse github.repos) snapshots, want 2"
# the re-run fetched only what it had no answer for: the 5 answers day 2's
# failed try got (cached with their ETags) and day 1's are asked again
# conditionally (304, free), the rest fetched once
curl -sSf "$URL/_control/log" >log.json
got="$(python3 -c "
import json
log = [e for e in json.load(open('log.json')) if e['path'].startswith('/repos/')]
print(sum(e['status'] == 200 for e in log), sum(e['status'] == 304 for e in log), len(log))")"
[ "$got" = "$((nall - n1 - 5)) $((n1 + 5)) $nall" ] || fail "the re-run's requests (200s 304s all): $got, want $((nall - n1 - 5)) $((n1 + 5)) $nall"
[ "$(db "SELECT count(*) FROM dag_run WHERE state='success'")" = 2 ] || fail "not every run succeeded"
CASES=$((CASES + 1))
echo "ops_github_backfill: ok ($CASES cases: rate limit spent mid-backfill, last snapshots kept, converged after the reset)"
