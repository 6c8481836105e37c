#!/usr/bin/env bash
# Restart safety: the runner killed with -9 mid-task, then started again
# at once, waits for the orphaned task (it holds the task instance's lock),
# marks that try failed, runs the task again, and converges; no two copies
# of the task ever run at once (an atomic mkdir lock inside the task would
# record an overlap). A task killed by SIGKILL is a failed try and retried.
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/dags/k.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
tasks:
  slow:
    type: command
    command: [sh, -c, 'if mkdir slow.lock; then echo start >> s.txt; sleep 3; echo end >> s.txt; rmdir slow.lock; else echo overlap >> overlap.txt; fi']
  after:
    type: command
    command: [sh, -c, 'echo after >> after.txt']
    needs: [slow]
  selfkill:
    type: command
    retries: 1
    retry_delay: 50ms
    command: [sh, -c, 'echo x >> sk.txt; if [ "$(wc -l < sk.txt)" -lt 2 ]; then kill -9 $$; fi']
YML
"$KILN_BIN" dags run k --date 2024-01-01 --project-dir "$P" >/dev/null 2>&1 &
runner=$!
for i in $(seq 300); do [ "$(lines "$P/s.txt" start)" -ge 1 ] && break; sleep 0.1; done
[ "$(lines "$P/s.txt" start)" -ge 1 ] || fail "the task never started"
kill -9 "$runner"
wait "$runner" 2>/dev/null || true
want "$(state k slow 2024-01-01)" running "the store still says running"
# restart at once, while the orphan still runs
expect_rc 0 K dags run k --date 2024-01-01
want "$(lines "$P/overlap.txt")" 0 "two copies ran at once"
want "$(lines "$P/s.txt" start)" 2 "orphan + the re-run started"
want "$(lines "$P/s.txt" end)" 2 "orphan finished, re-run finished"
want "$(state k slow 2024-01-01)" success "converged"
want "$(tries k slow 2024-01-01)" 2 "the dead runner's try counts"
sqlite3 "$P/.kiln/flow.db" "SELECT note FROM task_try WHERE task='slow' AND try_number=1" | grep -q "runner died" || fail "try 1 note"
want "$(state k after 2024-01-01)" success "downstream ran"
want "$(lines "$P/after.txt")" 1 "downstream ran once"
# SIGKILL of the task itself: a failed try (exit 137), then the retry succeeds
want "$(state k selfkill 2024-01-01)" success "selfkill converged"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT exit_code FROM task_try WHERE task='selfkill' AND try_number=1")" 137 "killed try's code"
# and one more run is a no-op
expect_rc 0 K dags run k --date 2024-01-01
want "$(lines "$P/s.txt" start)" 2 "no-op after convergence"
echo ok
