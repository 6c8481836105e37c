#!/usr/bin/env bash
# The orchestrator end to end: list/show/validate, a run, an idempotent
# re-run that executes nothing, a changed task definition re-running only
# that task, --explain, logs, runs --json, tasks run (its log live).
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/dags/demo.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
tags: [test]
tasks:
  a:
    type: command
    command: [sh, -c, 'echo "a $KILN_LOGICAL_DATE" >> count.txt']
  b:
    type: command
    command: [sh, -c, 'echo b >> count.txt; echo out-of-b; echo err-of-b >&2']
    needs: [a]
  c:
    type: command
    command: [sh, -c, 'echo c >> count.txt']
    needs: [a, b]
YML
expect_rc 0 K dags list
grep -q '^demo .*@daily .*3 tasks' <<<"$OUT" || fail "list: $OUT"
expect_rc 0 K dags validate
grep -q "1 DAGs ok" <<<"$OUT" || fail "validate: $OUT"
expect_rc 0 K dags show demo
grep -q "c \[command\] <- a, b" <<<"$OUT" || fail "show: $OUT"

expect_rc 0 K dags run demo --date 2024-01-02
want "$(lines "$P/count.txt")" 3 "first run executes every task"
grep -qx "a 2024-01-02T00:00:00Z" "$P/count.txt" || fail "task env lacks KILN_LOGICAL_DATE"
for t in a b c; do want "$(state demo $t 2024-01-02)" success "state of $t"; done
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT state FROM dag_run WHERE dag='demo'")" success "run state"

# idempotent re-run: nothing executes, every task recorded as skipped by its key
expect_rc 0 K dags run demo --date 2024-01-02
want "$(lines "$P/count.txt")" 3 "re-run executes nothing"
grep -q "0 tries started" <<<"$OUT" || fail "re-run summary: $OUT"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT count(*) FROM task_instance WHERE note LIKE 'skipped: idempotency key already succeeded%'")" 3 "skips recorded"
expect_rc 0 K runs demo --explain b --date 2024-01-02
grep -q "WILL NOT RUN: this key succeeded" <<<"$OUT" || fail "explain: $OUT"

# a date inside the interval names the same run
expect_rc 0 K dags run demo --date 2024-01-02T13:00:00Z
want "$(lines "$P/count.txt")" 3 "same interval, nothing executes"

# change c's definition: only c runs again, and --explain says why first
sed -i "s/echo c >> count.txt/echo c2 >> count.txt/" "$P/dags/demo.yml"
expect_rc 0 K runs demo --explain c --date 2024-01-02
grep -q "WILL RUN: .*definition changed" <<<"$OUT" || fail "explain after change: $OUT"
expect_rc 0 K dags run demo --date 2024-01-02
want "$(lines "$P/count.txt")" 4 "changed definition re-runs one task"
want "$(tail -n1 "$P/count.txt")" c2 "the changed task ran"
want "$(tries demo c 2024-01-02)" 2 "c's try number"

# logs of a try: stdout and stderr captured
expect_rc 0 K logs demo b --date 2024-01-02
grep -q out-of-b <<<"$OUT" || fail "logs lack stdout: $OUT"
grep -q err-of-b <<<"$OUT" || fail "logs lack stderr: $OUT"
expect_rc 4 K logs demo b --date 2024-01-02 --try 7

# runs --json parses and carries the states
expect_rc 0 K runs --json
echo "$OUT" | jq -e '.[0].dag == "demo" and .[0].state == "success" and (.[0].tasks | length) == 3' >/dev/null || fail "json: $OUT"

# tasks run: one task, always runs, prints its log
expect_rc 0 K tasks run demo b --date 2024-01-03
grep -q out-of-b <<<"$OUT" || fail "tasks run prints the log: $OUT"
want "$(lines "$P/count.txt" '^a')" 1 "tasks run ignores upstream"
want "$(state demo b 2024-01-03)" success "tasks run records the try"
# ... live: the first line is on stdout while the task still runs (it waits
# for a file the test creates only after seeing that line)
cat > "$P/dags/live.yml" <<'YML'
tasks:
  talk: {type: command, command: [sh, -c, 'echo live-1; while [ ! -f go ]; do sleep 0.05; done; echo live-2']}
YML
K tasks run live talk --date 2024-01-03 > "$P/live.out" 2> "$P/live.err" &
lp=$!
for i in $(seq 200); do grep -q live-1 "$P/live.out" && break; sleep 0.05; done
seen=$(grep -c live-1 "$P/live.out" || true)
touch "$P/go"
wait $lp || fail "tasks run live: $(cat "$P/live.err")"
want "$seen" 1 "the log's first line while the task ran"
want "$(tr '\n' ' ' < "$P/live.out")" "live-1 live-2 " "the whole log on stdout, once"
rm "$P/dags/live.yml"

# exit codes for unknown DAG/task and usage
expect_rc 4 K dags run nosuch --date 2024-01-02
expect_rc 4 K tasks run demo nosuch --date 2024-01-02
expect_rc 2 K dags run demo
expect_rc 2 K dags run demo --date yesterday
# a DAG in a time zone: --date is midnight there, stored as UTC
cat > "$P/dags/berlin.yml" <<'YML'
schedule: "@daily"
timezone: Europe/Berlin
start_date: 2024-01-01
tasks: {t: {type: command, command: [sh, -c, 'echo "$KILN_DATA_INTERVAL_START $KILN_DATA_INTERVAL_END" >> berlin.txt']}}
YML
expect_rc 0 K dags run berlin --date 2024-03-31
want "$(cat "$P/berlin.txt")" "2024-03-30T23:00:00Z 2024-03-31T22:00:00Z" "Berlin's 23-hour DST day"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT run_id FROM dag_run WHERE dag='berlin'")" "manual__2024-03-30T23:00:00Z" "run id in UTC"
echo ok
