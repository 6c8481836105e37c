#!/usr/bin/env bash
# `kill -9` of the scheduler mid-run: its runners (own process groups) carry
# on; a scheduler started at once finds the runs `running` without a
# runner of its own, starts runners that wait on the task-instance locks,
# then skip what the orphans finished by its key. Every task runs once, no
# two copies overlap, every run ends in success.
source "$(dirname "$0")/flow_lib.bash"
d2=$(date -u -d '2 days ago' +%F)
cat > "$P/dags/k.yml" <<YML
schedule: "@daily"
start_date: $d2
catchup: true
tasks:
  slow:
    type: command
    command: [sh, -c, 'if mkdir "lock-\$KILN_LOGICAL_DATE"; then echo "start \$KILN_LOGICAL_DATE" >> s.txt; sleep 1.5; echo end >> s.txt; rmdir "lock-\$KILN_LOGICAL_DATE"; else echo overlap >> overlap.txt; fi']
  after: {type: command, command: [sh, -c, 'echo after >> after.txt'], needs: [slow]}
YML
"$KILN_BIN" scheduler --project-dir "$P" 2>"$P/sched.log" &
pid=$!
for i in $(seq 300); do [ "$(lines "$P/s.txt" start)" -ge 2 ] && break; sleep 0.1; done
[ "$(lines "$P/s.txt" start)" -ge 2 ] || { cat "$P/sched.log" >&2; fail "runs did not start"; }
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
expect_rc 0 K scheduler --once
# the orphaned runners may still be finishing their last steps
for i in $(seq 300); do [ "$(sqlite3 "$P/.kiln/flow.db" "SELECT count(*) FROM dag_run WHERE state='success'")" = 2 ] && break; sleep 0.1; done
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT count(*) FROM dag_run WHERE state='success'")" 2 "both runs converged"
want "$(lines "$P/overlap.txt")" 0 "no task ran twice at once"
want "$(lines "$P/s.txt" start)" 2 "each slow task started once"
want "$(lines "$P/after.txt")" 2 "each downstream ran once"
echo ok
