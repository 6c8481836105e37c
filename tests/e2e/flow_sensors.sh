#!/usr/bin/env bash
# sensor.file: pokes on the timer heap until the file appears. With one
# slot (parallelism 1), a reschedule-mode sensor gives the slot back
# between pokes, so the task that creates the file can run and the sensor
# then succeeds; a poke-mode sensor keeps the slot, the creator cannot run,
# and the sensor fails at its timeout without a retry.
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/kiln.yml" <<'YML'
flow: {parallelism: 1}
YML
for mode in reschedule poke; do
# poke mode must time out (3 s); reschedule mode ends as soon as the file is there
limit=3s; [ "$mode" = reschedule ] && limit=60s
cat > "$P/dags/s_$mode.yml" <<YML
schedule: "@daily"
start_date: 2024-01-01
tasks:
  wait:
    type: sensor.file
    path: flag-$mode
    mode: $mode
    poke_interval: 100ms
    timeout: $limit
    retries: 2
    priority_weight: 10     # starts before make
  make:
    type: command
    command: [sh, -c, 'touch flag-$mode']
  after:
    type: command
    command: [sh, -c, 'echo after >> after-$mode.txt']
    needs: [wait]
YML
done
expect_rc 0 K dags run s_reschedule --date 2024-01-01
want "$(state s_reschedule wait 2024-01-01)" success "reschedule sensor"
want "$(state s_reschedule make 2024-01-01)" success "creator ran while the sensor waited"
want "$(lines "$P/after-reschedule.txt")" 1 "downstream of the sensor"
want "$(tries s_reschedule wait 2024-01-01)" 1 "one sensor try"
expect_rc 0 K logs s_reschedule wait --date 2024-01-01
grep -q "is not there yet" <<<"$OUT" || fail "sensor log: $OUT"
grep -q "is there" <<<"$OUT" || fail "sensor log end: $OUT"

expect_rc 1 K dags run s_poke --date 2024-01-01
want "$(state s_poke wait 2024-01-01)" failed "poke sensor holds the only slot and times out"
want "$(tries s_poke wait 2024-01-01)" 1 "a sensor timeout is not retried"
sqlite3 "$P/.kiln/flow.db" "SELECT note FROM task_try WHERE dag='s_poke' AND task='wait'" | grep -q "sensor timeout after 3s" || fail "timeout note"
want "$(state s_poke make 2024-01-01)" success "creator ran after the sensor gave up"
want "$(state s_poke after 2024-01-01)" upstream_failed "downstream of a timed-out sensor"
# a sensor needs a path
cat > "$P/dags/bad.yml" <<'YML'
tasks: {w: {type: sensor.file, mode: sometimes}}
YML
expect_rc 3 K dags validate
grep -q "bad.yml:1:9: task 'w': sensor.file needs path" <<<"$OUT" || fail "path: $OUT"
grep -q "mode: 'sometimes' is poke or reschedule" <<<"$OUT" || fail "mode: $OUT"
echo ok
