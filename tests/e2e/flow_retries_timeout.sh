#!/usr/bin/env bash
# Retries (fixed and exponential backoff with jitter: only lower bounds on
# time are checked), a timeout that kills the task's whole process group
# and counts as a failed try, and a program that cannot start.
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/dags/r.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
tasks:
  flaky:
    type: command
    # fails on its first two tries, succeeds on the third
    command: [sh, -c, 'echo try >> flaky.txt; test "$(wc -l < flaky.txt)" -ge 3']
    retries: 3
    retry_delay: 300ms
    retry_exponential_backoff: true
  after:
    type: command
    command: [sh, -c, 'echo after >> after.txt']
    needs: [flaky]
YML
start=$(date +%s%N)
expect_rc 0 K dags run r --date 2024-01-01
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
want "$(lines "$P/flaky.txt")" 3 "flaky ran three times"
want "$(state r flaky 2024-01-01)" success "flaky state"
want "$(tries r flaky 2024-01-01)" 3 "flaky tries"
want "$(lines "$P/after.txt")" 1 "downstream ran once"
# delays: try 1 -> [300, 600) ms, try 2 -> [600, 1200) ms: at least 900 ms
[ "$elapsed_ms" -ge 900 ] || fail "exponential backoff waited only ${elapsed_ms} ms"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT group_concat(state || ':' || exit_code, ' ') FROM (SELECT * FROM task_try WHERE task='flaky' ORDER BY try_number)")" "failed:1 failed:1 success:0" "try rows"
expect_rc 0 K logs r flaky --date 2024-01-01 --try 1

# out of retries: failed, downstream upstream_failed, exit 1
cat > "$P/dags/f.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
default_task: {retries: 1, retry_delay: 50ms}
tasks:
  bad: {type: command, command: [sh, -c, 'echo x >> bad.txt; exit 3']}
  down: {type: command, command: ['true'], needs: [bad]}
  missing: {type: command, command: [/no/such/program]}
YML
expect_rc 1 K dags run f --date 2024-01-01
want "$(lines "$P/bad.txt")" 2 "bad: 1 + 1 retry"
want "$(state f bad 2024-01-01)" failed "bad state"
want "$(state f down 2024-01-01)" upstream_failed "down state"
want "$(state f missing 2024-01-01)" failed "a program that cannot start fails its try"
expect_rc 0 K logs f missing --date 2024-01-01
grep -q "cannot start '/no/such/program'" <<<"$OUT" || fail "missing program log: $OUT"

# timeout: the whole process group dies (a background child included)
cat > "$P/dags/t.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
tasks:
  slow:
    type: command
    command: [sh, -c, 'echo $$ > pgid.txt; sleep 60 & sleep 60']
    timeout: 500ms
YML
start=$(date +%s)
expect_rc 1 K dags run t --date 2024-01-01
[ $(( $(date +%s) - start )) -lt 30 ] || fail "timeout did not stop the task"
want "$(state t slow 2024-01-01)" failed "timed-out state"
sqlite3 "$P/.kiln/flow.db" "SELECT note FROM task_try WHERE task='slow'" | grep -q "^timeout after" || fail "no timeout note"
pg=$(cat "$P/pgid.txt")
for i in $(seq 50); do pgrep -g "$pg" >/dev/null || break; sleep 0.1; done
if pgrep -g "$pg" >/dev/null; then fail "process group $pg still has members"; fi
# dagrun_timeout: the running task is killed (no retry), waiting ones end,
# the run fails
cat > "$P/dags/rt.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
dagrun_timeout: 500ms
tasks:
  long: {type: command, command: [sleep, '60'], retries: 3, retry_delay: 1m}
  next: {type: command, command: ['true'], needs: [long], trigger_rule: all_done}
  wait: {type: command, command: ['false'], retries: 5, retry_delay: 10m}
YML
start=$(date +%s)
expect_rc 1 K dags run rt --date 2024-01-01
[ $(( $(date +%s) - start )) -lt 30 ] || fail "dagrun_timeout did not end the run"
want "$(state rt long 2024-01-01)" failed "long killed"
want "$(tries rt long 2024-01-01)" 1 "no retry after dagrun_timeout"
want "$(state rt next 2024-01-01)" skipped "downstream skipped after dagrun_timeout"
want "$(state rt wait 2024-01-01)" failed "a retry wait ends at dagrun_timeout"
sqlite3 "$P/.kiln/flow.db" "SELECT note FROM task_try WHERE task='long'" | grep -q "dagrun_timeout" || fail "kill note"
echo ok
