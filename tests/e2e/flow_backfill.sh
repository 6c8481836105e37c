#!/usr/bin/env bash
# Backfills: a run per scheduled date, exit 6 when some runs failed and
# others succeeded, --rerun none|failed|all, --dry-run, and depends_on_past
# holding back the dates after a failure (they never execute).
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/dags/bf.yml" <<'YML'
schedule: "0 6 * * *"
start_date: 2024-01-01
max_active_runs: 4
tasks:
  load:
    type: command
    command: [sh, -c, 'echo "$KILN_LOGICAL_DATE" >> load.txt; test ! -f "fail-$KILN_LOGICAL_DATE"']
  report:
    type: command
    depends_on_past: true
    command: [sh, -c, 'echo "$KILN_LOGICAL_DATE" >> report.txt']
    needs: [load]
YML
expect_rc 0 K dags backfill bf --start 2024-01-01 --end 2024-01-03 --dry-run
want "$(echo "$OUT" | grep -c 'would be examined')" 3 "dry run lists 3 runs"
[ ! -e "$P/load.txt" ] || fail "dry run executed something"
expect_rc 0 K dags backfill bf --start 2024-01-01 --end 2024-01-03
want "$(lines "$P/load.txt")" 3 "3 runs (06:00 each day)"
grep -qx "2024-01-02T06:00:00Z" "$P/load.txt" || fail "logical dates follow the cron"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT count(*) FROM dag_run WHERE state='success' AND run_id LIKE 'backfill__%'")" 3 "3 successful backfill runs"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT interval_end FROM dag_run WHERE logical_date='2024-01-01T06:00:00Z'")" "2024-01-02T06:00:00Z" "data interval end"

# --rerun none (default): existing runs are left alone
expect_rc 0 K dags backfill bf --start 2024-01-01 --end 2024-01-03
want "$(lines "$P/load.txt")" 3 "rerun none leaves runs alone"

# a failure in the middle: later dates of the depends_on_past task are held back
touch "$P/fail-2024-01-05T06:00:00Z"
expect_rc 6 K dags backfill bf --start 2024-01-04 --end 2024-01-07
sel() { sqlite3 "$P/.kiln/flow.db" "SELECT state FROM task_instance WHERE task='$1' AND logical_date='$2T06:00:00Z'"; }
want "$(sel report 2024-01-04)" success "report 04"
want "$(sel load 2024-01-05)" failed "load 05"
want "$(sel report 2024-01-05)" upstream_failed "report 05"
want "$(sel load 2024-01-06)" success "load 06"
want "$(sel report 2024-01-06)" upstream_failed "report 06 held back by depends_on_past"
want "$(sel report 2024-01-07)" upstream_failed "report 07 held back by depends_on_past"
sqlite3 "$P/.kiln/flow.db" "SELECT note FROM task_instance WHERE task='report' AND logical_date='2024-01-06T06:00:00Z'" | grep -q depends_on_past || fail "note names depends_on_past"
grep -q "2024-01-06" "$P/report.txt" && fail "report for 06 executed"

# fix the cause; --rerun failed re-examines the failed runs, in date order
rm "$P/fail-2024-01-05T06:00:00Z"
expect_rc 0 K dags backfill bf --start 2024-01-04 --end 2024-01-07 --rerun failed
for d in 05 06 07; do want "$(sel report 2024-01-$d)" success "report $d after the fix"; done
want "$(grep -c 2024-01-04 "$P/load.txt")" 1 "the successful run 04 was not re-run"

# --rerun all examines every run; keys that succeeded skip their tasks
n=$(lines "$P/load.txt")
expect_rc 0 K dags backfill bf --start 2024-01-01 --end 2024-01-07 --rerun all
want "$(lines "$P/load.txt")" "$n" "rerun all with unchanged tasks executes nothing"
grep -q "0 tries started" <<<"$OUT" || fail "summary: $OUT"

# all runs failed: exit 1
cat > "$P/dags/allbad.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
tasks: {x: {type: command, command: ['false']}}
YML
expect_rc 1 K dags backfill allbad --start 2024-01-01 --end 2024-01-02
expect_rc 2 K dags backfill bf --start 2024-01-03 --end 2024-01-01
expect_rc 2 K dags backfill bf --start 2024-01-01 --end 2024-01-02 --rerun sometimes
# one_success decides before all upstreams are done; with depends_on_past
# the instance waits for the previous date's and must be queued once only
cat > "$P/dags/os.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
max_active_runs: 3
tasks:
  slow: {type: command, command: [sleep, '0.3']}
  fast: {type: command, command: ['true']}
  c:
    type: command
    command: [sh, -c, 'echo "$KILN_LOGICAL_DATE" >> os.txt; sleep 0.2']
    needs: [slow, fast]
    trigger_rule: one_success
    depends_on_past: true
YML
expect_rc 0 K dags backfill os --start 2024-01-01 --end 2024-01-03
want "$(sort "$P/os.txt" | uniq -c | awk '{print $1}' | sort -u)" 1 "each date's c ran once"
want "$(lines "$P/os.txt")" 3 "three dates"
want "$(cat "$P/os.txt" | tr '\n' ' ')" "2024-01-01T00:00:00Z 2024-01-02T00:00:00Z 2024-01-03T00:00:00Z " "depends_on_past keeps date order"
# on a terminal (KILN_PROGRESS=1): one redrawn bar with runs done/failed/left
# and an ETA, a line for each failed run, no per-task lines
cat > "$P/dags/bar.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
max_active_runs: 1
tasks: {t: {type: command, command: [sh, -c, 'test "$KILN_LOGICAL_DATE" != 2024-01-02T00:00:00Z']}}
YML
set +e; OUT="$(KILN_PROGRESS=1 "$KILN_BIN" dags backfill bar --start 2024-01-01 --end 2024-01-03 --project-dir "$P" 2>&1)"; rc=$?; set -e
want "$rc" 6 "bar backfill exit"
echo "$OUT" | tr '\r' '\n' | grep -q '^.*\[#*\.*\] 1/3 runs, 0 failed, 2 left, ETA ' || fail "bar: $OUT"
echo "$OUT" | tr '\r' '\n' | grep -q '3/3 runs, 1 failed, 0 left, ETA done in' || fail "final bar: $OUT"
grep -q 'run backfill__2024-01-02T00:00:00Z failed' <<<"$OUT" || fail "failed run line: $OUT"
grep -q 'try 1 started' <<<"$OUT" && fail "per-task lines on a terminal"
echo ok
