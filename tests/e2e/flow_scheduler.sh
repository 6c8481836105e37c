#!/usr/bin/env bash
# `kiln scheduler`: catch-up after downtime (catchup true: every missed
# interval; false: the latest only), pause/unpause, the daemon picking up a
# new DAG file without a restart, sleeping with ~0 CPU while idle, and
# SIGTERM draining (the running task finishes, the next never starts, the
# run is left queued and the next scheduler resumes it).
source "$(dirname "$0")/flow_lib.bash"
d3=$(date -u -d '3 days ago' +%F)
yesterday=$(date -u -d 'yesterday' +%F)
cat > "$P/dags/catch.yml" <<YML
schedule: "@daily"
start_date: $d3
catchup: true
tasks: {t: {type: command, command: [sh, -c, 'echo "\$KILN_LOGICAL_DATE" >> catch.txt']}}
YML
cat > "$P/dags/latest.yml" <<YML
schedule: "@daily"
start_date: $d3
tasks: {t: {type: command, command: [sh, -c, 'echo "\$KILN_LOGICAL_DATE" >> latest.txt']}}
YML
cat > "$P/dags/paused.yml" <<YML
schedule: "@daily"
start_date: $d3
tasks: {t: {type: command, command: [sh, -c, 'echo x >> paused.txt']}}
YML
expect_rc 0 K dags pause paused
expect_rc 0 K dags list
grep -q '^paused .* paused ' <<<"$OUT" || fail "list shows paused: $OUT"
grep -q '^catch .* active ' <<<"$OUT" || fail "list shows active: $OUT"
expect_rc 0 K scheduler --once
want "$(lines "$P/catch.txt")" 3 "catchup: the three complete intervals"
want "$(lines "$P/latest.txt")" 1 "no catchup: the latest interval only"
want "$(cat "$P/latest.txt")" "${yesterday}T00:00:00Z" "the latest complete interval is yesterday's"
[ ! -e "$P/paused.txt" ] || fail "a paused DAG ran"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT count(*) FROM dag_run WHERE run_id LIKE 'scheduled__%' AND state='success'")" 4 "scheduled runs"
# nothing more is due: a second pass starts nothing
expect_rc 0 K scheduler --once
want "$(lines "$P/catch.txt")" 3 "nothing due twice"
expect_rc 0 K dags unpause paused
expect_rc 0 K scheduler --once
want "$(lines "$P/paused.txt")" 1 "unpaused DAG ran"

# the daemon: idle CPU, a new DAG file picked up, SIGTERM drains
log="$P/sched.log"
"$KILN_BIN" scheduler --project-dir "$P" 2>"$log" &
pid=$!
for i in $(seq 300); do grep -q "watching" "$log" && break; sleep 0.1; done
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks); sleep 2; t1=$(ticks)
[ $((t1 - t0)) -le 20 ] || fail "idle scheduler used $((t1 - t0)) CPU ticks in 2 s"
cat > "$P/dags/drain.yml" <<YML
schedule: "@daily"
start_date: $yesterday
tasks:
  first: {type: command, command: [sh, -c, 'echo start >> drain.txt; sleep 3; echo end >> drain.txt']}
  second: {type: command, command: [sh, -c, 'echo second >> drain.txt'], needs: [first]}
YML
for i in $(seq 300); do [ "$(lines "$P/drain.txt" start)" -ge 1 ] && break; sleep 0.1; done
[ "$(lines "$P/drain.txt" start)" -ge 1 ] || { cat "$log" >&2; fail "the new DAG file was not picked up"; }
kill -TERM "$pid"
set +e; wait "$pid"; rc=$?; set -e
[ "$rc" -eq 0 ] || { cat "$log" >&2; fail "scheduler exit $rc after SIGTERM"; }
want "$(lines "$P/drain.txt" end)" 1 "the running task finished"
want "$(lines "$P/drain.txt" second)" 0 "no new task after SIGTERM"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT state FROM dag_run WHERE dag='drain'")" queued "drained run left queued"
grep -q "drained" "$log" || fail "log says drained"
# the next scheduler resumes it: first is skipped by its key, second runs
expect_rc 0 K scheduler --once
want "$(lines "$P/drain.txt" start)" 1 "first not run again"
want "$(lines "$P/drain.txt" second)" 1 "second ran on resume"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT state FROM dag_run WHERE dag='drain'")" success "resumed run"
echo ok
