#!/usr/bin/env bash
# Bad DAG files: each problem reported as file:line:col by `kiln dags
# validate` (exit 3), and a bad file does not stop the good DAG from
# listing and running; running a bad DAG exits 3, an unknown one 4.
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/dags/good.yml" <<'YML'
schedule: "@hourly"
start_date: 2024-01-01
tasks:
  t: {type: command, command: [sh, -c, 'echo ran >> good.txt']}
YML
cat > "$P/dags/cycle.yml" <<'YML'
tasks:
  a: {type: command, command: ['true'], needs: [c]}
  b: {type: command, command: ['true'], needs: [a]}
  c: {type: command, command: ['true'], needs: [b]}
YML
cat > "$P/dags/needs.yml" <<'YML'
tasks:
  a:
    type: command
    command: ['true']
    needs: [a_typo]
YML
cat > "$P/dags/types.yml" <<'YML'
tasks:
  a: {type: shell, command: ['true']}
  b: {type: table.compact}
  c: {type: models.build, select: x, in: raw}
  d: {type: job.gh-events}
YML
cat > "$P/dags/lib.yml" <<'YML'
tasks:
  g: {type: job.gh_events, in: raw, warehouse: wh, out: o}
  h: {type: job.gh_events, warehouse: wh, format: csv}
  s: {type: sql, command: ['true'], soft_fail: true}
  m: {type: models.build, vars: [a], threads: many}
YML
cat > "$P/dags/cron.yml" <<'YML'
schedule: "0 25 * * *"
start_date: 2024-01-01
tasks: {a: {type: command, command: ['true']}}
YML
cat > "$P/dags/syntax.yml" <<'YML'
tasks:
  a: {type: command
  b: [
YML
cat > "$P/dags/keys.yml" <<'YML'
schedul: "@daily"
tasks:
  a: {type: command, command: ['true'], retrys: 2, trigger_rule: sometimes}
YML
cat > "$P/dags/tmpl.yml" <<'YML'
tasks:
  a:
    type: command
    command: [echo, '{{ ds }}', '{{ ds | nope }}', '{% if %}']
YML
expect_rc 3 K dags validate
v="$OUT"
has() { grep -qF -- "$1" <<<"$v" || { echo "$v" >&2; fail "validate lacks: $1"; }; }
has "dags/cycle.yml:2:3: cycle in needs: "
echo "$v" | grep "cycle.yml" | grep -qE "a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c" || fail "cycle path: $v"
has "dags/needs.yml:5:13: task 'a' needs unknown task 'a_typo'"
has "dags/types.yml:2:13: task 'a': unknown task type 'shell' (command, sensor.file, sensor.asset, job.gh_events, models.build, sql, table.fast_forward, table.expire)"
has "dags/types.yml:3:13: task 'b': unknown task type 'table.compact' (kiln has sensor.file"
has "dags/types.yml:4:38: task 'c': 'in' is not a setting of type models.build"
has "dags/types.yml:5:13: task 'd': unknown task type 'job.gh-events' (did you mean job.gh_events?)"
has "dags/lib.yml:2:3: task 'g': job.gh_events writes either Iceberg tables (warehouse:) or files (out:, format:)"
has "dags/lib.yml:3:3: task 'h': job.gh_events needs in:"
has "dags/lib.yml:3:51: task 'h': format: is for out: files; warehouse: writes Iceberg tables"
has "dags/lib.yml:4:27: task 's': a sql task has no command (it runs kiln's library call)"
has "dags/lib.yml:4:3: task 's': sql needs sql:"
has "dags/lib.yml:4:48: task 's': soft_fail is for sensors"
has "dags/lib.yml:5:33: vars: want a map of NAME: value"
has "dags/lib.yml:5:47: threads: 'many' is not a whole number in 0..1024"
has "dags/cron.yml:1:14: schedule: cron '0 25 * * *': bad hour field '25'"
has "dags/syntax.yml:3:4: YAML:"
has "dags/keys.yml:1:1: DAG: unknown key 'schedul'"
has "dags/keys.yml:3:41: task: unknown key 'retrys'"
has "dags/keys.yml:3:66: trigger_rule: unknown rule 'sometimes'"
has "dags/tmpl.yml:4:33: command: template:1:7: no filter named 'nope'"
has "dags/tmpl.yml:4:52: command: template:1:7: unexpected end of statement block"
[ "$(echo "$v" | grep -c 'tmpl.yml')" -eq 2 ] || fail "a good template is no problem: $v"
# the good DAG still lists and runs
expect_rc 0 K dags list
want "$(echo "$OUT" | grep -c '^good ')" 1 "good DAG listed"
grep -q "problems in DAG files" <<<"$OUT" || fail "list mentions problems"
expect_rc 0 K dags run good --date 2024-01-01T05:00:00Z
want "$(lines "$P/good.txt")" 1 "good DAG ran"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT logical_date FROM dag_run")" "2024-01-01T05:00:00Z" "hourly logical date"
expect_rc 3 K dags run cycle --date 2024-01-01
grep -q "cycle.yml:2:3" <<<"$OUT" || fail "run of a bad DAG names the problem: $OUT"
expect_rc 4 K dags show nosuch
# no dags/ directory at all is a configuration error
expect_rc 3 "$KILN_BIN" dags list --project-dir "$P/dags/nothing-here"
echo ok
