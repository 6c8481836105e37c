#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# Consumed assets in the idempotency key: a task re-runs when a table or
# folder it consumes changed (new snapshot, new file) and is skipped when
# not; `kiln runs --explain` shows the inputs and which one changed.
source "$(dirname "$0")/flow_lib.bash"
export PATH="$(dirname "$KILN_BIN"):$PATH"
mkdir -p "$P/raw/in"
echo a > "$P/raw/in/1.txt"
"$KILN_BIN" sql --warehouse "$P/warehouse" -c "create table s.t (x bigint); insert into s.t values (1)" >/dev/null
cat > "$P/dags/a.yml" <<'YML'
schedule: "@daily"
start_date: 2025-01-01
tasks:
  copy:
    type: command
    command: [sh, -c, 'cat raw/in/* > copied.txt; echo run >> copy-runs']
    consumes: [raw/in]
  count:
    type: command
    command: [sh, -c, 'kiln sql --warehouse warehouse --csv "select count(*) from s.t" | tail -1 > count.txt; echo run >> count-runs']
    consumes: ['iceberg://warehouse/s.t']
  plain:
    type: command
    command: [sh, -c, 'echo run >> plain-runs']
    needs: [copy]
YML
run() { expect_rc 0 K dags run a --date 2025-01-02; }
run
want "$(lines "$P/copy-runs") $(lines "$P/count-runs") $(lines "$P/plain-runs")" "1 1 1" "first run"
want "$(cat "$P/count.txt")" 1 "count"
expect_rc 0 K runs a --explain copy --date 2025-01-02
grep -q "consumes raw/in = 1 files sha256 " <<<"$OUT" || fail "explain inputs: $OUT"
grep -q "WILL NOT RUN" <<<"$OUT" || fail "explain skip: $OUT"
expect_rc 0 K runs a --explain count --date 2025-01-02
grep -q "consumes iceberg://warehouse/s.t = snapshot [0-9]" <<<"$OUT" || fail "explain table: $OUT"
# nothing changed: nothing runs
run
want "$(lines "$P/copy-runs") $(lines "$P/count-runs") $(lines "$P/plain-runs")" "1 1 1" "idempotent re-run"
# a new file in the folder: copy runs again (plain does not: its key did not change), count does not
echo b > "$P/raw/in/2.txt"
expect_rc 0 K runs a --explain copy --date 2025-01-02
grep -q "WILL RUN: .* a consumed asset changed" <<<"$OUT" || fail "explain change: $OUT"
grep -q "raw/in: now 2 files sha256 [0-9a-f]*, was 1 files sha256" <<<"$OUT" || fail "explain which: $OUT"
run
want "$(lines "$P/copy-runs") $(lines "$P/count-runs") $(lines "$P/plain-runs")" "2 1 1" "after a new file"
want "$(cat "$P/copied.txt" | tr -d '\n')" "ab" "copied"
# a new snapshot of the table: count runs again
"$KILN_BIN" sql --warehouse "$P/warehouse" -c "insert into s.t values (2)" >/dev/null
expect_rc 0 K runs a --explain count --date 2025-01-02
grep -q "a consumed asset changed" <<<"$OUT" || fail "explain table change: $OUT"
run
want "$(lines "$P/copy-runs") $(lines "$P/count-runs") $(lines "$P/plain-runs")" "2 2 1" "after a new snapshot"
want "$(cat "$P/count.txt")" 2 "count after"
# another date: everything runs for it
expect_rc 0 K dags run a --date 2025-01-03
want "$(lines "$P/copy-runs") $(lines "$P/count-runs") $(lines "$P/plain-runs")" "3 3 2" "another date"

# sensor.asset: waits for a new materialization of the table since its last success
cat > "$P/dags/w.yml" <<'YML'
schedule: "@daily"
start_date: 2025-01-01
tasks:
  wait: {type: sensor.asset, asset: 'iceberg://warehouse/s.t', poke_interval: 100ms, timeout: 4s, mode: reschedule}
  after: {type: command, command: [sh, -c, 'echo run >> after-runs'], needs: [wait]}
YML
expect_rc 0 K dags run w --date 2025-01-02   # never seen: the table exists -> at once
want "$(lines "$P/after-runs")" 1 "sensor first run"
( sleep 1; "$KILN_BIN" sql --warehouse "$P/warehouse" -c "insert into s.t values (3)" >/dev/null ) &
expect_rc 0 K dags run w --date 2025-01-03   # waits until the insert
wait
want "$(lines "$P/after-runs")" 2 "sensor after a new snapshot"
L="$P/.kiln/logs/w/2025-01-03T00:00:00Z/wait.try-1.log"
grep -q "unchanged since the last success" "$L" || fail "sensor waited: $(cat "$L")"
grep -q "snapshot [0-9]*: a new materialization" "$L" || fail "sensor saw it: $(cat "$L")"
expect_rc 1 K dags run w --date 2025-01-04   # nothing new: the sensor times out
grep -q "did not get a new materialization" <<<"$OUT" || fail "sensor timeout: $OUT"
want "$(lines "$P/after-runs")" 2 "no run without a new snapshot"
expect_rc 0 K dags run w --date 2025-01-02   # a finished date: skipped by its key, no wait
# validation: sensor.asset needs asset:
cat > "$P/dags/bad.yml" <<'YML'
tasks:
  s: {type: sensor.asset, path: x}
YML
expect_rc 3 K dags validate
grep -q "bad.yml:2:.*sensor.asset needs asset:" <<<"$OUT" || fail "validate: $OUT"
printf 'schedule: []\ntasks: {x: {type: command, command: ["true"]}}\n' > "$P/dags/bad2.yml"
expect_rc 3 K dags validate
grep -q "bad2.yml:1:11: schedule: an empty list of assets" <<<"$OUT" || fail "validate empty schedule: $OUT"
[ "$(echo "$OUT" | grep -c bad2.yml)" = 1 ] || fail "one problem for bad2: $OUT"
rm "$P/dags/bad2.yml"

# schedule: [assets] (Airflow's dataset-triggered DAGs): `kiln scheduler`
# starts a run when every asset has a new materialization since the last run
rm "$P/dags/bad.yml"
K dags pause a >/dev/null; K dags pause w >/dev/null
printf 'flow: {asset_poll_interval: 200ms}\n' > "$P/kiln.yml"
cat > "$P/dags/consumer.yml" <<'YML'
schedule: ['iceberg://warehouse/s.t', raw/in]
tasks:
  use: {type: command, command: [sh, -c, 'echo "$KILN_RUN_ID" >> consumer-runs']}
YML
expect_rc 0 K dags validate
"$KILN_BIN" scheduler --project-dir "$P" > "$P/sched.log" 2>&1 &
sched=$!
trap 'kill $sched 2>/dev/null || true; rm -rf "$P"' EXIT
sleep 1.5   # first look: the baseline, no run
want "$(lines "$P/consumer-runs")" 0 "no run before any new materialization"
"$KILN_BIN" sql --warehouse "$P/warehouse" -c "insert into s.t values (5)" >/dev/null
sleep 1.5   # one of two assets is new: still no run
want "$(lines "$P/consumer-runs")" 0 "no run while raw/in is unchanged"
echo c > "$P/raw/in/3.txt"
for i in $(seq 100); do [ "$(lines "$P/consumer-runs")" -ge 1 ] && break; sleep 0.1; done
want "$(lines "$P/consumer-runs")" 1 "a run once both are new"
grep -q '^asset_triggered__' "$P/consumer-runs" || fail "run id: $(cat "$P/consumer-runs")"
sleep 1.5   # nothing new since: no second run
want "$(lines "$P/consumer-runs")" 1 "no second run"
grep -q "consumer: every asset it is scheduled on has a new materialization" "$P/sched.log" || fail "log: $(cat "$P/sched.log")"
kill -TERM $sched; wait $sched || true
echo "flow_assets: ok"
