#!/usr/bin/env bash
# Disk full under a whole backfill (issue 18; docs/faults.md). The project's
# warehouse is a 1.2 MB tmpfs (mounted as root, or in a user namespace), and
# `kiln dags backfill` loads several days of GH Archive hours into
# github.pushes and github.commits until the space runs out:
#  1. the backfill fails (exit 6, not a crash), the failed tries' logs name
#     the cause (No space left on device; SQLite: disk is full) and the file, and
#     the task's retry ran (and failed the same way: the disk is still full);
#  2. every table is at its last committed snapshot: it reads, holds every
#     day whose run succeeded, each day it holds is whole (a clean run's rows
#     of that day), and its main has one commit per day it holds;
#  3. once space is freed (the tmpfs grown) and the failed attempts'
#     orphans removed, `--rerun failed` converges: exit 0,
#     every run success, the rows and the commit count of a clean run.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
# mounting a tmpfs needs root: as another user, run in a user and mount
# namespace of our own where we are root (unshare -rm); where neither works
# (no user namespaces), say so and skip. (A file size limit, fault_disk's
# fallback, is no full disk: it also hits the project's state store.)
if [ "$(id -u)" != 0 ]; then
  if [ -z "${OPS_DISK_NS:-}" ] && unshare -rm true 2>/dev/null; then
    OPS_DISK_NS=1 exec unshare -rm bash "$0" "$@"
  fi
  echo "ops_disk_backfill: SKIPPED (not root and no user namespace: cannot mount a small tmpfs)"
  exit 0
fi
T="$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)"
MNT=""
cleanup() {
  [ -z "$MNT" ] || umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
K() { "$KILN_BIN" "$@"; }
export KILN_PROGRESS=0 PATH="$(dirname "$KILN_BIN"):$PATH"
unset KILN_FAILPOINT KILN_FAILPOINT_ONCE KILN_FAILPOINT_LOG KILN_WAREHOUSE || true
# sanitizer builds: fewer days (the space runs out after the second either way)
case "$KILN_BIN" in */build-asan/* | */build-tsan/*) DAYS=4 ;; *) DAYS=5 ;; esac
END="2025-03-0$DAYS"
K gen gharchive --start 2025-03-01 --days "$DAYS" --hours 2 --scale 0.003 --seed 5 --threads 1 --out "$T/incoming" >/dev/null

# contents W [DAY...]: one hash per table of main's rows (only those days)
contents() {
  local w="$1" where="" d out
  shift
  if [ $# -gt 0 ]; then
    where="where substr(created_at, 1, 10) in ("
    for d in "$@"; do where="$where'$d',"; done
    where="${where%,})"
  fi
  out=$(K sql --warehouse "$w" --csv -c "select 'P', * from github.pushes $where order by push_id" \
    -c "select 'C', * from github.commits $where order by repo_id, sha") || fail "reading $w"
  echo "pushes=$(grep -c '^P,' <<<"$out" || true):$(grep '^P,' <<<"$out" | md5sum | cut -c1-12)" \
    "commits=$(grep -c '^C,' <<<"$out" || true):$(grep '^C,' <<<"$out" | md5sum | cut -c1-12)"
}
# table_rows W TABLE DAY...: one hash of TABLE's rows of those days
table_rows() {
  local w="$1" t="$2" where="" d out
  shift 2
  where="where substr(created_at, 1, 10) in (''"
  for d in "$@"; do where="$where,'$d'"; done
  out=$(K sql --warehouse "$w" --csv -c "select * from github.$t $where) order by 1, 2, 3") || fail "reading $w"
  echo "$(($(wc -l <<<"$out") - 1)):$(md5sum <<<"$out" | cut -c1-12)"
}
# commits W: snapshots on main's line of each table (a day committed twice adds one)
commits() {
  local t out=""
  for t in pushes commits; do
    out="$out$t=$(K table --warehouse "$1" history "github.$t" | awk '$4 == "true"' | wc -l) "
  done
  echo "${out% }"
}
new_project() {
  mkdir -p "$1/dags" "$1/warehouse"
  ln -s "$T/incoming" "$1/incoming"
  cat >"$1/dags/bf.yml" <<YML
schedule: "@daily"
start_date: 2025-03-01
end_date: $END
catchup: true
max_active_runs: 1
default_task: {retries: 1, retry_delay: 10ms}
tasks:
  load: {type: job.gh_events, in: incoming, warehouse: warehouse, threads: 1}
YML
}
backfill() { K dags backfill bf --start 2025-03-01 --end "$END" --project-dir "$@"; }

# --- the clean run
new_project "$T/clean"
backfill "$T/clean" >"$T/clean.log" 2>&1 || { cat "$T/clean.log" >&2; fail "the clean backfill"; }
CLEAN="$(contents "$T/clean/warehouse")"
CLEAN_COMMITS="$(commits "$T/clean/warehouse")"
[ "$CLEAN_COMMITS" = "pushes=$DAYS commits=$DAYS" ] || fail "clean: $CLEAN_COMMITS"

# --- the backfill on a small disk: about two days fit
P="$T/p"
new_project "$P"
mount -t tmpfs -o size=1200k tmpfs "$P/warehouse" || fail "mount a tmpfs on the warehouse"
MNT="$P/warehouse"
cause="(No space left on device|database or disk is full)" # the file system, or SQLite (catalog.db) saying it
set +e
backfill "$P" >"$P/1.log" 2>&1
rc=$?
set -e
CASES=0
# 1. a clear failure: exit 6, the cause and the file in the failed tries' logs, retried
[ "$rc" = 6 ] || { cat "$P/1.log" >&2; fail "backfill on a full disk: exit $rc, want 6"; }
db() { sqlite3 "$P/.kiln/flow.db" "$1"; }
ok_days="$(db "SELECT substr(logical_date, 1, 10) FROM dag_run WHERE dag='bf' AND state='success' ORDER BY 1" | tr '\n' ' ')"
failed="$(db "SELECT substr(logical_date, 1, 10) FROM dag_run WHERE dag='bf' AND state='failed' ORDER BY 1" | tr '\n' ' ')"
[ -n "$failed" ] || fail "no run failed on a full disk"
[ -n "$ok_days" ] || fail "no day fitted: the disk is too small for the test to mean anything"
for day in $failed; do
  for try in 1 2; do
    log="$P/.kiln/logs/bf/${day}T00:00:00Z/load.try-$try.log"
    [ -f "$log" ] || fail "$day: no try $try (the retry did not run)"
    # "WAREHOUSE/…/FILE: write…: CAUSE" on one line: the file and the cause
    grep -qE "warehouse/[^ ]+: .*$cause" "$log" || fail "$day try $try: the log does not name the file and '$cause': $(tail -5 "$log")"
  done
done
CASES=$((CASES + 1))
# 2. every table at its last committed snapshot. A day is committed table by
# table (two tables, two commits), and the space can run out after a day's
# commits (a property update of the load's bookkeeping): so per table, every
# day of a successful run is there, each day there is whole (the clean run's
# rows of that day), and main has one commit per day there
for t in pushes commits; do
  days="$(K sql --warehouse "$P/warehouse" --csv "select distinct substr(created_at, 1, 10) from github.$t order by 1" |
    tail -n +2 | tr '\n' ' ')" || fail "reading github.$t after the disk filled"
  for d in $ok_days; do grep -qw "$d" <<<"$days" || fail "github.$t lost day $d, whose run succeeded"; done
  got="$(table_rows "$P/warehouse" $t $days)"
  want="$(table_rows "$T/clean/warehouse" $t $days)"
  [ "$got" = "$want" ] || fail "github.$t after the disk filled: $got, want the clean rows of $days: $want"
  n="$(K table --warehouse "$P/warehouse" history "github.$t" | awk '$4 == "true"' | wc -l)"
  [ "$n" = "$(wc -w <<<"$days")" ] || fail "github.$t: $n commits on main for the days $days"
  K table --warehouse "$P/warehouse" scan "github.$t" --format csv >/dev/null || fail "scan github.$t after the disk filled"
done
CASES=$((CASES + 1))

# 3. space freed: the disk grown, the orphans of the failed
# attempts removed, the failed runs again
mount -t tmpfs -o remount,size=64m tmpfs "$MNT"
for t in github.pushes github.commits; do
  K table --warehouse "$P/warehouse" remove-orphans "$t" --older-than 0s >/dev/null || fail "remove-orphans $t"
done
set +e
backfill "$P" --rerun failed >"$P/2.log" 2>&1
rc=$?
set -e
[ "$rc" = 0 ] || { cat "$P/2.log" >&2; fail "the re-run after freeing space: exit $rc"; }
[ "$(db "SELECT count(*) FROM dag_run WHERE dag='bf' AND state='success'")" = "$DAYS" ] || fail "not every run succeeded"
[ "$(contents "$P/warehouse")" = "$CLEAN" ] || fail "after the re-run: $(contents "$P/warehouse"), want $CLEAN"
[ "$(commits "$P/warehouse")" = "$CLEAN_COMMITS" ] || fail "commits after the re-run: $(commits "$P/warehouse"), want $CLEAN_COMMITS"
CASES=$((CASES + 1))
echo "ops_disk_backfill: ok ($CASES cases, days ${ok_days% } committed, ${failed% } failed and converged)"
