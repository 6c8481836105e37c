# Shared set-up for tests/e2e/fault_*.sh (sourced; not a test itself): a
# small backfill (2 days x 2 GH Archive hours into github.pushes and
# github.commits), its clean run's contents, and a checker that a faulted
# warehouse converged to them. docs/faults.md describes the matrix.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
# on tmpfs when there is one: a process kill leaves the page cache as it was,
# so fsync buys these tests nothing but time
T="$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)"
FAULT_PIDS=()
fault_cleanup() {
  local p
  for p in "${FAULT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "${FAULT_KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap fault_cleanup EXIT
export KILN_PROGRESS=0 PATH="$(dirname "$KILN_BIN"):$PATH"
unset KILN_FAILPOINT KILN_FAILPOINT_ONCE KILN_FAILPOINT_LOG KILN_WAREHOUSE || true
case "$KILN_BIN" in */build-asan/*) ASAN=1 ;; *) ASAN=0 ;; esac
fail() { echo "FAIL: $*" >&2; exit 1; }
K() { "$KILN_BIN" "$@"; }

# the input: generated once per test
"$KILN_BIN" gen gharchive --start 2025-03-01 --days 2 --hours 2 --scale 0.0005 --seed 5 --threads 1 \
  --out "$T/incoming" >/dev/null

# new_project DIR: the backfill's DAG. `load` runs the engine job under an
# atomic mkdir lock (a second copy of the task running at the same time
# records an overlap); `audit` is a downstream task with the same guard.
new_project() {
  local d="$1"
  mkdir -p "$d/dags"
  ln -s "$T/incoming" "$d/incoming"
  cat >"$d/dags/bf.yml" <<'YML'
schedule: "@daily"
start_date: 2025-03-01
end_date: 2025-03-02
catchup: true
max_active_runs: 2
tasks:
  load:
    type: command
    command: [sh, -c, 'mkdir "lock-load-$KILN_LOGICAL_DATE" 2>/dev/null || { echo overlap >> overlap.txt; exit 1; }; kiln job gh-events --in incoming --start "$1" --end "$1" --format iceberg --warehouse warehouse --threads 1; rc=$?; rmdir "lock-load-$KILN_LOGICAL_DATE"; exit $rc', load, "{{ ds }}"]
  audit:
    type: command
    needs: [load]
    command: [sh, -c, 'mkdir "lock-audit-$KILN_LOGICAL_DATE" 2>/dev/null || { echo overlap >> overlap.txt; exit 1; }; echo "$KILN_LOGICAL_DATE" >> audit.txt; rmdir "lock-audit-$KILN_LOGICAL_DATE"']
YML
}

# contents W: the tables' rows in a canonical order (one hash per table),
# read by one kiln sql
contents() {
  local w="$1" out
  out=$("$KILN_BIN" sql --warehouse "$w" --csv -c "select 'P', * from github.pushes order by push_id" \
    -c "select 'C', * from github.commits order by repo_id, sha" 2>/dev/null || true)
  echo "pushes=$(grep '^P,' <<<"$out" | md5sum | cut -c1-12) commits=$(grep '^C,' <<<"$out" | md5sum | cut -c1-12)"
}
# snaps W: the number of commits on each table's main line (history rows
# that are ancestors of the current snapshot): a load committed twice adds
# one. (Snapshots a retried load abandoned are not counted: how many there
# are depends on timing.)
snaps() {
  local w="$1" t out=""
  for t in pushes commits; do
    out="$out$t=$("$KILN_BIN" table --warehouse "$w" history "github.$t" | awk '$4 == "true"' | wc -l) "
  done
  echo "${out% }"
}
backfill() { "$KILN_BIN" dags backfill bf --start 2025-03-01 --end 2025-03-02 --project-dir "$@"; }

CASES=0
# clean_backfill: the backfill without faults; CLEAN and CLEAN_SNAPS are
# what every faulted run must converge to
clean_backfill() {
  new_project "$T/clean"
  backfill "$T/clean" >"$T/clean.log" 2>&1 || { cat "$T/clean.log" >&2; fail "the clean backfill failed"; }
  CLEAN="$(contents "$T/clean/warehouse")"
  CLEAN_SNAPS="$(snaps "$T/clean/warehouse")"
  [ "$(sqlite3 "$T/clean/.kiln/flow.db" "SELECT count(*) FROM dag_run WHERE state='success'")" = 2 ] || fail "clean: runs"
}
# job W DAY [ENV...]: the engine job alone for one day (what `load` runs)
job() {
  local w="$1" day="$2"
  shift 2
  env "$@" "$KILN_BIN" job gh-events --in "$T/incoming" --start "$day" --end "$day" --format iceberg --warehouse "$w" \
    --threads 1
}

# converged DIR WHAT: DIR's warehouse equals the clean run's, every run
# succeeded, no task ran twice at once, no lock left behind
converged() {
  local d="$1" what="$2" got
  got="$(contents "$d/warehouse")"
  [ "$got" = "$CLEAN" ] || fail "$what: contents $got, want $CLEAN"
  got="$(snaps "$d/warehouse")"
  [ "$got" = "$CLEAN_SNAPS" ] || fail "$what: snapshots $got, want $CLEAN_SNAPS (a commit made twice or lost)"
  [ ! -e "$d/overlap.txt" ] || fail "$what: a task ran twice at once"
  got="$(sqlite3 "$d/.kiln/flow.db" "SELECT count(*) FROM dag_run WHERE state='success'")"
  [ "$got" = 2 ] || fail "$what: $got of 2 runs succeeded"
  got="$(sqlite3 "$d/.kiln/flow.db" "SELECT count(*) FROM task_instance WHERE state='success'")"
  [ "$got" = 4 ] || fail "$what: $got of 4 task instances succeeded"
  for day in 2025-03-01 2025-03-02; do
    grep -q "^${day}T" "$d/audit.txt" || fail "$what: audit of $day never ran"
  done
  [ -z "$(find "$d" -maxdepth 1 -name 'lock-*')" ] || fail "$what: a task lock was left: $(ls "$d")"
  CASES=$((CASES + 1))
}
