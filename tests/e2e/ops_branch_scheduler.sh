#!/usr/bin/env bash
# A backfill on a branch while the scheduler writes main (issue 18,
# "concurrent writers"; docs/faults.md). Two DAGs write the same tables,
# github.pushes and github.commits, at the same time:
#  - `live` (@daily, catchup over 2025-03-04..06) run by the `kiln scheduler`
#    daemon, loading each day on main;
#  - `hist` backfilled with `kiln dags backfill hist --branch bf` over
#    2025-03-02..03, loading on branch bf.
# Day 1 is on main before either starts. The order is pinned where it
# decides the outcome: live's first load waits until bf has been cut, and
# hist's last run waits until live has committed on main; everything else
# runs concurrently. What must hold (docs/flow.md, "Backfill on a branch"):
#  1. the swap is refused, exit 5 (main moved since the cut), main keeps
#     every scheduled commit (contents = a serial run of days 1,4,5,6, one
#     commit per load on its main line), bf holds days 1-3 (one commit per
#     load), no task ran twice at once;
#  2. the runbook's recovery (docs/runbooks/merge-conflict.md): the window
#     again on a fresh branch cut from today's main, with the scheduler still
#     running: exit 0, main fast-forwarded to bf2's head on both tables, and
#     main equals a serial run of all six days, row for row and commit for
#     commit (zero lost, nothing twice);
#  3. the daemon drains on SIGTERM (exit 0).
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
T="$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)"
SCHED=""
cleanup() {
  if [ -n "$SCHED" ]; then # a failure: drain, then stop the runners' tasks
    kill -TERM "$SCHED" 2>/dev/null || true
    sleep 0.2
    kill -TERM "$SCHED" 2>/dev/null || true
    wait "$SCHED" 2>/dev/null || true
  fi
  rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T"; }
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ ! -f "$T/p/sched.log" ] || tail -20 "$T/p/sched.log" >&2; exit 1; }
K() { "$KILN_BIN" "$@"; }
export KILN_PROGRESS=0 PATH="$(dirname "$KILN_BIN"):$PATH"
unset KILN_FAILPOINT KILN_FAILPOINT_ONCE KILN_FAILPOINT_LOG KILN_WAREHOUSE || true
# sanitizer builds: fewer hours per day (the scenario is the same)
case "$KILN_BIN" in */build-asan/* | */build-tsan/*) HOURS=1 ;; *) HOURS=2 ;; esac
K gen gharchive --start 2025-03-01 --days 6 --hours "$HOURS" --scale 0.0005 --seed 7 --threads 1 --out "$T/incoming" >/dev/null
job() { K job gh-events --in "$T/incoming" --start "$2" --end "$2" --format iceberg --warehouse "$1" --threads 1 >/dev/null 2>&1; }

# contents W REF [DAY...]: one hash per table of the rows at REF (main when
# empty), only those days when DAYS are given
contents() {
  local w="$1" ref="$2" p="github.pushes" c="github.commits" where="" d out
  shift 2
  [ -z "$ref" ] || { p="github.\"pushes@$ref\""; c="github.\"commits@$ref\""; }
  if [ $# -gt 0 ]; then
    where="where substr(created_at, 1, 10) in ("
    for d in "$@"; do where="$where'$d',"; done
    where="${where%,})"
  fi
  out=$(K sql --warehouse "$w" --csv -c "select 'P', * from $p $where order by push_id" \
    -c "select 'C', * from $c $where order by repo_id, sha") || fail "reading $w at '${ref:-main}'"
  echo "pushes=$(grep -c '^P,' <<<"$out"):$(grep '^P,' <<<"$out" | md5sum | cut -c1-12)" \
    "commits=$(grep -c '^C,' <<<"$out"):$(grep '^C,' <<<"$out" | md5sum | cut -c1-12)"
}
# line W TABLE REF: the number of snapshots on REF's line (REF's head and its
# ancestors), from the current metadata's parent links (snapshot ids are
# below 2^53: exact in jq)
line() {
  local m
  m="$(ls "$1/${2%%.*}/${2#*.}/metadata/"v*.metadata.json | sort -V | tail -1)"
  jq -r --arg r "$3" '(.snapshots | map({key: (."snapshot-id" | tostring), value: ."parent-snapshot-id"}) | from_entries) as $p
    | [.refs[$r]."snapshot-id" | recurse(if . == null then empty else $p[tostring] end)] | map(select(. != null)) | length' "$m"
}
ref_head() { K table --warehouse "$1" branch "$2" | awk -v r="$3" '$1 == r {print $2}'; }

# --- the serial run: days 1..6 one after another on main
S="$T/serial"
for d in 01 02 03 04 05 06; do job "$S" "2025-03-$d" || fail "serial load of day $d"; done
SERIAL_ALL="$(contents "$S" "")"
SERIAL_MAIN="$(contents "$S" "" 2025-03-01 2025-03-04 2025-03-05 2025-03-06)"
SERIAL_BF="$(contents "$S" "" 2025-03-01 2025-03-02 2025-03-03)"
[ "$(line "$S" github.pushes main) $(line "$S" github.commits main)" = "6 6" ] || fail "serial: not one commit per load"

# --- the project: day 1 on main, then the two DAGs
P="$T/p"
mkdir -p "$P/dags"
ln -s "$T/incoming" "$P/incoming"
job "$P/warehouse" 2025-03-01 || fail "day 1"
# the tasks' scripts; each holds a guard: a second copy of a task running
# at the same time records an overlap
cat >"$P/guard.sh" <<'SH'
mkdir "lock-$1-$2" 2>/dev/null || { echo "$1 $2" >>overlap.txt; exit 1; }
trap 'rmdir "lock-$1-$2"' EXIT
SH
cat >"$P/live_cut.sh" <<'SH'
# live's loads wait until the backfill has cut bf on both tables
for i in $(seq 1200); do
  kiln table --warehouse warehouse branch github.pushes | grep -q '^bf ' &&
    kiln table --warehouse warehouse branch github.commits | grep -q '^bf ' && exit 0
  sleep 0.1
done
echo "branch bf never cut"; exit 1
SH
cat >"$P/live_load.sh" <<'SH'
. ./guard.sh live-load "$1"
kiln job gh-events --in incoming --start "$1" --end "$1" --format iceberg --warehouse warehouse --threads 1 &&
  touch "main-moved-$1"
SH
cat >"$P/hist_check.sh" <<'SH'
# the day is on the backfill's branch; the last day waits until main moved
. ./guard.sh hist-check "$1"
n="$(kiln sql --warehouse warehouse --csv "select count(*) from github.\"pushes@$2\" where substr(created_at, 1, 10) = '$1'" | tail -1)"
[ "$n" -gt 0 ] || { echo "day $1 is not on branch $2"; exit 1; }
[ "$1" = 2025-03-03 ] || exit 0
for i in $(seq 2400); do [ -e main-moved-2025-03-04 ] && exit 0; sleep 0.05; done
echo "main never moved"; exit 1
SH
cat >"$P/dags/live.yml" <<'YML'
schedule: "@daily"
start_date: 2025-03-04
end_date: 2025-03-06
catchup: true
max_active_runs: 2
tasks:
  cut: {type: command, command: [sh, live_cut.sh]}
  load: {type: command, needs: [cut], command: [sh, live_load.sh, "{{ ds }}"]}
YML
cat >"$P/dags/hist.yml" <<'YML'
schedule: "@daily"
start_date: 2025-03-01
tasks:
  load: {type: job.gh_events, in: incoming, warehouse: warehouse, threads: 1}
  check: {type: command, needs: [load], command: [sh, hist_check.sh, "{{ ds }}", "{{ branch }}"]}
YML
# hist runs only by its backfill: paused, the scheduler leaves it alone
K dags pause hist --project-dir "$P" >/dev/null
MAIN0="$(ref_head "$P/warehouse" github.pushes main)"

"$KILN_BIN" scheduler --project-dir "$P" >"$P/sched.log" 2>&1 &
SCHED=$!
set +e
K dags backfill hist --start 2025-03-02 --end 2025-03-03 --branch bf --project-dir "$P" >"$P/bf.log" 2>&1
rc=$?
set -e
[ "$rc" = 5 ] || { cat "$P/bf.log" >&2; fail "branch backfill while main moved: exit $rc, want 5"; }
grep -q "main of github.* moved since the branch was cut; nothing was swapped in" "$P/bf.log" ||
  fail "the conflict is not named: $(cat "$P/bf.log")"
# the scheduler's three runs end (it keeps running; up to 2 minutes on a
# loaded machine, each wait ends as soon as its condition holds)
for i in $(seq 2400); do
  n="$(sqlite3 "$P/.kiln/flow.db" "SELECT count(*) FROM dag_run WHERE dag='live' AND state IN ('success','failed')")"
  [ "$n" = 3 ] && break
  sleep 0.05
done
[ "$(sqlite3 "$P/.kiln/flow.db" "SELECT group_concat(state) FROM dag_run WHERE dag='live'")" = success,success,success ] ||
  fail "scheduled runs: $(sqlite3 "$P/.kiln/flow.db" "SELECT logical_date, state FROM dag_run WHERE dag='live'")"
kill -0 "$SCHED" 2>/dev/null || fail "the scheduler died"
CASES=0
# 1. main: every scheduled commit, nothing of the branch; bf: days 1-3
[ "$(contents "$P/warehouse" "")" = "$SERIAL_MAIN" ] || fail "main after the refused swap: $(contents "$P/warehouse" ""), want $SERIAL_MAIN"
[ "$(contents "$P/warehouse" bf)" = "$SERIAL_BF" ] || fail "branch bf: $(contents "$P/warehouse" bf), want $SERIAL_BF"
for t in github.pushes github.commits; do
  [ "$(line "$P/warehouse" $t main)" = 4 ] || fail "$t: main's line has $(line "$P/warehouse" $t main) commits, want 4 (day 1 + 3 scheduled)"
  [ "$(line "$P/warehouse" $t bf)" = 3 ] || fail "$t: bf's line has $(line "$P/warehouse" $t bf) commits, want 3 (day 1 + 2 on the branch)"
done
[ "$(ref_head "$P/warehouse" github.pushes bf)" != "$MAIN0" ] || fail "bf never moved"
CASES=$((CASES + 1))

# 2. the runbook's recovery, the scheduler still up: a fresh branch from today's main
set +e
K dags backfill hist --start 2025-03-02 --end 2025-03-03 --branch bf2 --rerun all --project-dir "$P" >"$P/bf2.log" 2>&1
rc=$?
set -e
[ "$rc" = 0 ] || { cat "$P/bf2.log" >&2; fail "the rerun on bf2: exit $rc"; }
grep -q "branch 'bf2': every run succeeded; swapped in on 2 table(s)" "$P/bf2.log" || fail "swap: $(cat "$P/bf2.log")"
for t in github.pushes github.commits; do
  [ "$(ref_head "$P/warehouse" $t main)" = "$(ref_head "$P/warehouse" $t bf2)" ] || fail "$t: main is not bf2's head"
  [ "$(line "$P/warehouse" $t main)" = 6 ] || fail "$t: main's line has $(line "$P/warehouse" $t main) commits, want 6 as the serial run"
done
[ "$(contents "$P/warehouse" "")" = "$SERIAL_ALL" ] || fail "main after the swap: $(contents "$P/warehouse" ""), want $SERIAL_ALL"
K table --warehouse "$P/warehouse" branch github.pushes --drop bf >/dev/null
K table --warehouse "$P/warehouse" branch github.commits --drop bf >/dev/null
[ "$(contents "$P/warehouse" "")" = "$SERIAL_ALL" ] || fail "main after dropping bf"
[ ! -e "$P/overlap.txt" ] || fail "a task ran twice at once: $(cat "$P/overlap.txt")"
CASES=$((CASES + 1))

# 3. the daemon drains and exits 0
kill -TERM "$SCHED"
set +e
wait "$SCHED"
rc=$?
set -e
SCHED=""
[ "$rc" = 0 ] || fail "the scheduler's drain: exit $rc"
CASES=$((CASES + 1))
echo "ops_branch_scheduler: ok ($CASES cases: refused swap with main's scheduled commits kept, recovery on a fresh branch = serial run, drain)"
