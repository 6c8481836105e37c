#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# kill -9 of the orchestrator at every state-store transition of a small
# backfill (docs/faults.md): the runner of `kiln dags backfill`, and the
# `kiln scheduler` daemon, die by KILN_FAILPOINT (SIGKILL) right after the
# run is marked running, with a task instance claimed but not started, with
# the task started, after the try's outcome, after its idempotency key,
# after the run's end (each point for both). The orchestrator started again
# at once (orphaned tasks may still run: it waits on their locks) converges: tables equal to
# the clean run's with its number of commits on main, every run and task
# instance success, no task copy overlapping another (atomic mkdir guards in
# the tasks), no lock left behind.
source "$(dirname "$0")/fault_lib.bash"
clean_backfill
# the runner of a backfill and the scheduler daemon: every flow.* point of
# `kiln failpoints` (the list, not a copy kept here)
points="$(K failpoints --names | grep '^flow\.' | tr '\n' ' ')"
[ "$(wc -w <<<"$points")" -ge 6 ] || fail "kiln failpoints lists too few flow points: $points"
sched_points="$points"
if [ "$ASAN" = 1 ]; then points="flow.try.spawned flow.idem.recorded"; sched_points="flow.try.spawned"; fi

wait_runs() { # DIR: until both runs succeeded (orphans finishing), 20 s at most
  local i
  for i in $(seq 200); do
    [ "$(sqlite3 "$1/.kiln/flow.db" "SELECT count(*) FROM dag_run WHERE state='success'" 2>/dev/null)" = 2 ] && return 0
    sleep 0.1
  done
}

# --- the backfill's runner
for fp in $points; do
  d="$T/b-$fp"
  new_project "$d"
  set +e
  KILN_FAILPOINT="$fp" KILN_FAILPOINT_ONCE="$d/fired" KILN_FAILPOINT_LOG="$d/fp.log" backfill "$d" >"$d/1.log" 2>&1
  rc=$?
  set -e
  grep -q "^$fp " "$d/fp.log" 2>/dev/null || { cat "$d/1.log" >&2; fail "backfill: $fp was never reached"; }
  [ "$rc" = 137 ] || { cat "$d/1.log" >&2; fail "backfill: $fp: exit $rc, want 137 (the runner killed)"; }
  backfill "$d" --rerun all >"$d/2.log" 2>&1 || { cat "$d/2.log" >&2; fail "backfill: $fp: the re-run failed"; }
  wait_runs "$d"
  converged "$d" "backfill: $fp"
done

# --- the scheduler daemon (its runners inherit the failpoint: exactly one
# process dies there); then the scheduler itself is killed -9 as well
for fp in $sched_points; do
  d="$T/s-$fp"
  new_project "$d"
  KILN_FAILPOINT="$fp" KILN_FAILPOINT_ONCE="$d/fired" KILN_FAILPOINT_LOG="$d/fp.log" \
    "$KILN_BIN" scheduler --project-dir "$d" >"$d/1.log" 2>&1 &
  pid=$!
  FAULT_PIDS+=("$pid")
  for i in $(seq 300); do [ -s "$d/fp.log" ] && break; sleep 0.05; done
  grep -q "^$fp " "$d/fp.log" 2>/dev/null || { cat "$d/1.log" >&2; fail "scheduler: $fp was never reached"; }
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  "$KILN_BIN" scheduler --once --project-dir "$d" >"$d/2.log" 2>&1 || { cat "$d/2.log" >&2; fail "scheduler: $fp: restart"; }
  wait_runs "$d"
  # a run the dead runner left may need one more pass once its orphans end
  [ "$(sqlite3 "$d/.kiln/flow.db" "SELECT count(*) FROM dag_run WHERE state='success'")" = 2 ] ||
    "$KILN_BIN" scheduler --once --project-dir "$d" >"$d/3.log" 2>&1 || true
  converged "$d" "scheduler: $fp"
done
echo "fault_kill9_flow: ok ($CASES kill cases converged)"
