#!/usr/bin/env bash
# .kiln/metrics.prom: Prometheus text format 0.0.4 computed from the store
# after every run: HELP/TYPE once per family before its samples, counters
# per dag/task/state, a histogram whose buckets are cumulative and whose
# +Inf bucket equals _count, and the last-success timestamp; written while
# a run is still going (within a second of a state change); queue wait,
# queue depth and the scheduler loop's lag; parsed by an independent parser
# (parse-prometheus-text-format).
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/dags/m.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
tasks:
  ok: {type: command, command: ['true']}
  flaky: {type: command, command: [sh, -c, 'test "$KILN_LOGICAL_DATE $KILN_TRY_NUMBER" != "2024-01-01T00:00:00Z 1"'], retries: 1, retry_delay: 10ms}
YML
expect_rc 0 K dags backfill m --start 2024-01-01 --end 2024-01-02
m="$P/.kiln/metrics.prom"
[ -f "$m" ] || fail "no metrics.prom"
grep -qx 'kiln_task_runs_total{dag="m",task="ok",state="success"} 2' "$m" || fail "ok successes: $(cat "$m")"
grep -qx 'kiln_task_runs_total{dag="m",task="flaky",state="failed"} 1' "$m" || fail "flaky failures"
grep -qx 'kiln_task_runs_total{dag="m",task="flaky",state="success"} 2' "$m" || fail "flaky successes"
grep -qx 'kiln_task_retries_total{dag="m",task="flaky"} 1' "$m" || fail "retries"
grep -qx 'kiln_dag_runs{dag="m",state="success"} 2' "$m" || fail "runs"
ts=$(sed -n 's/^kiln_dag_last_success_timestamp_seconds{dag="m"} //p' "$m")
[ -n "$ts" ] && [ $(( $(date +%s) - ts )) -lt 3600 ] || fail "last success timestamp '$ts'"
# format: every sample's family has HELP and TYPE before it, names and labels valid
awk '
  /^# HELP / { help[$3] = NR; next }
  /^# TYPE / { type[$3] = $4; if (!($3 in help)) { print "TYPE before HELP: " $3; bad = 1 } next }
  /^#/ { next }
  {
    name = $1; sub(/\{.*/, "", name); fam = name; sub(/_(bucket|sum|count)$/, "", fam)
    if (!(name in type) && !(fam in type)) { print "no TYPE for " name; bad = 1 }
    if (name !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/) { print "bad name " name; bad = 1 }
    if ($NF !~ /^-?[0-9.e+]+$|^[+-]Inf$|^NaN$/) { print "bad value " $0; bad = 1 }
  }
  END { exit bad }' "$m" || fail "exposition format"
# histogram: cumulative buckets, +Inf == count
for t in ok flaky; do
  vals=$(grep "^kiln_task_duration_seconds_bucket{dag=\"m\",task=\"$t\"" "$m" | awk '{print $2}')
  [ "$(echo "$vals" | sort -n | tr '\n' ' ')" = "$(echo "$vals" | tr '\n' ' ')" ] || fail "buckets not cumulative for $t"
  inf=$(grep "^kiln_task_duration_seconds_bucket{dag=\"m\",task=\"$t\",le=\"+Inf\"}" "$m" | awk '{print $2}')
  cnt=$(grep "^kiln_task_duration_seconds_count{dag=\"m\",task=\"$t\"}" "$m" | awk '{print $2}')
  want "$inf" "$cnt" "+Inf bucket equals count ($t)"
done
want "$(grep "^kiln_task_duration_seconds_count{dag=\"m\",task=\"flaky\"}" "$m" | awk '{print $2}')" 3 "flaky tries measured"
[ "$(tail -c1 "$m" | od -An -c | tr -d ' ')" = '\n' ] || fail "last line must end with a newline"
# loop lag: the retry timer was handled (one observation at least)
lagc=$(sed -n 's/^kiln_scheduler_loop_lag_seconds_count //p' "$m")
[ -n "$lagc" ] && [ "$lagc" -ge 1 ] || fail "loop lag count '$lagc'"
grep -q '^kiln_scheduler_loop_lag_seconds_bucket{le="+Inf"} '"$lagc"'$' "$m" || fail "lag +Inf"

# written while the run goes on: a finished task shows up before the run ends;
# with parallelism 1 the second of two ready tasks waits for the slot
cat > "$P/kiln.yml" <<'YML'
flow: {parallelism: 1}
YML
cat > "$P/dags/slow.yml" <<'YML'
tasks:
  first: {type: command, command: [sleep, '1'], priority_weight: 10}
  second: {type: command, command: [sleep, '3']}
YML
rm -f "$m"
K dags run slow --date 2024-01-01 >/dev/null 2>&1 &
runner=$!
for i in $(seq 40); do grep -qs 'task="first",state="success"' "$m" && break; sleep 0.1; done
grep -qs 'kiln_task_runs_total{dag="slow",task="first",state="success"} 1' "$m" || fail "not written mid-run: $(cat "$m" 2>&1)"
kill -0 $runner 2>/dev/null || fail "the run ended before the check"
grep -qx 'kiln_dag_runs{dag="slow",state="running"} 1' "$m" || fail "mid-run run state"
wait $runner
qs=$(sed -n 's/^kiln_task_queue_wait_seconds_sum{dag="slow"} //p' "$m")
python3 -c "import sys; sys.exit(0 if float('$qs') >= 0.9 else 1)" || fail "queue wait sum '$qs' (second waited ~1 s)"
grep -qx 'kiln_task_queue_wait_seconds_count{dag="slow"} 2' "$m" || fail "queue wait count"
grep -qx 'kiln_queue_depth{dag="slow"} 0' "$m" || fail "queue depth at the end"
node -e '
const parse = require(process.argv[1] + "/node_modules/parse-prometheus-text-format");
const fams = parse(require("fs").readFileSync(process.argv[2], "utf8"));
const want = ["kiln_task_queue_wait_seconds", "kiln_scheduler_loop_lag_seconds", "kiln_queue_depth", "kiln_task_runs_total"];
for (const w of want) if (!fams.find((f) => f.name === w)) { console.error("missing " + w); process.exit(1); }
' "$KILN_ROOT/tests/node" "$m" || fail "independent parser"
echo ok
