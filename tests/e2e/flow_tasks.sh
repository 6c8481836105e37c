#!/usr/bin/env bash
# Templates rendered per task instance by the models layer's Jinja, and the
# library task types: job.gh_events (GH Archive hours of the run's interval
# into Iceberg; counts checked against Python reading the hour files),
# sql, models.build (a dbt project; a changed model re-runs only that task;
# a failing data test fails the task and holds its downstream), a timeout
# that kills an in-process task, and an idempotent re-run that commits
# nothing (snapshot ids unchanged).
source "$(dirname "$0")/flow_lib.bash"
export PATH="$(dirname "$KILN_BIN"):$PATH"

# ---- templates: every Airflow variable kiln provides, in argv, env, cwd
mkdir -p "$P/work/2024-01-02"
cat > "$P/dags/tpl.yml" <<'YML'
schedule: "0 6 * * *"
start_date: 2024-01-01
params: {region: eu, n: 3}
tasks:
  show:
    type: command
    command: [sh, -c, 'printf "%s\n" "$@" > out.txt; echo "env=$DAY" >> out.txt', sh,
              "ds={{ ds }}", "nodash={{ ds_nodash }}", "ts={{ ts }}", "tsn={{ ts_nodash }}",
              "ld={{ logical_date }}", "dis={{ data_interval_start }}", "die={{ data_interval_end }}",
              "p={{ params.region }}/{{ params.n }}", "run={{ run_id }}", "dag={{ dag.dag_id }}",
              "task={{ task.task_id }}", "try={{ task.try_number }}",
              "{% for i in range(2) %}i{{ i }}{% endfor %}", "{{ ds | replace('-', '/') }}"]
    env: {DAY: "{{ ds_nodash }}"}
    cwd: "work/{{ ds }}"
YML
expect_rc 0 K dags run tpl --date 2024-01-02T07:00:00Z
want "$(cat "$P/work/2024-01-02/out.txt")" "ds=2024-01-02
nodash=20240102
ts=2024-01-02T06:00:00+00:00
tsn=20240102T060000
ld=2024-01-02T06:00:00Z
dis=2024-01-02T06:00:00Z
die=2024-01-03T06:00:00Z
p=eu/3
run=manual__2024-01-02T06:00:00Z
dag=tpl
task=show
try=1
i0i1
2024/01/02
env=20240102" "rendered argv, env and cwd"
# the key renders the definition with run_id empty: a backfill of the same
# date is not a new definition
expect_rc 0 K dags backfill tpl --start 2024-01-02 --end 2024-01-02 --rerun all
grep -q "skipped: idempotency key already succeeded" <<<"$OUT" || fail "backfill re-ran a done date: $OUT"

# ---- library task types on generated GH Archive data
cat > "$P/kiln.yml" <<'YML'
pools:
  models: 1          # one dbt build at a time: they write the same tables
YML
cp -r "$(dirname "$0")/../models/jaffle" "$P/shop"
cat > "$P/dags/gh.yml" <<'YML'
schedule: "@daily"
start_date: 2025-01-01
params: {scale: "0.002"}
default_task: {timeout: 5m}
tasks:
  land:
    type: command
    command: [kiln, gen, gharchive, --out, "raw/{{ ds }}", --start, "{{ ds }}", --days, "1", --hours, "3",
              --scale, "{{ params.scale }}", --seed, "7", --threads, "1"]
  load:
    type: job.gh_events
    needs: [land]
    in: "raw/{{ ds }}"
    warehouse: warehouse
    threads: 1
    allow_missing: true
  count:
    type: sql
    needs: [load]
    warehouse: warehouse
    sql: "select count(*) as n from github.pushes where substr(created_at, 1, 10) = '{{ ds }}'"
  models:
    type: models.build
    needs: [load]
    project_dir: shop
    pool: models
  after:
    type: command
    needs: [models]
    command: [sh, -c, 'echo "{{ ds }}" >> after.txt']
YML
expect_rc 0 K dags validate
expect_rc 0 K dags backfill gh --start 2025-01-01 --end 2025-01-02
for d in 2025-01-01 2025-01-02; do
  for t in land load count models after; do want "$(state gh $t $d)" success "$t $d"; done
done
# the job's rows against Python reading the hour files itself
py_counts="$(python3 - "$P/raw" <<'PY'
import gzip, json, os, sys, collections
ids = collections.defaultdict(set)
for day in sorted(os.listdir(sys.argv[1])):
    for f in os.listdir(os.path.join(sys.argv[1], day)):
        if not f.endswith('.json.gz'):
            continue
        for line in gzip.open(os.path.join(sys.argv[1], day, f), 'rt'):
            e = json.loads(line)
            if e['type'] == 'PushEvent':
                ids[e['created_at'][:10]].add(e['payload']['push_id'])
print(' '.join('%s:%d' % (d, len(ids[d])) for d in sorted(ids)))
PY
)"
sql_counts="$("$KILN_BIN" sql --warehouse "$P/warehouse" --csv \
  "select substr(created_at, 1, 10) as d, count(*) from github.pushes group by 1 order by 1" | tail -n +2 | tr ',' ':' | tr '\n' ' ' | sed 's/ $//')"
[ -n "$py_counts" ] || fail "no pushes generated"
want "$sql_counts" "$py_counts" "pushes per day: kiln vs Python"
# the sql task printed its day's count, the same number
n2="$(echo "$py_counts" | tr ' ' '\n' | grep 2025-01-02 | cut -d: -f2)"
grep -Eq "^ *$n2 *\$" "$P/.kiln/logs/gh/2025-01-02T00:00:00Z/count.try-1.log" ||
  fail "sql task's count is not $n2: $(cat "$P/.kiln/logs/gh/2025-01-02T00:00:00Z/count.try-1.log")"
# the log names what ran as the equivalent command line
grep -q "kiln job gh-events --in raw/2025-01-01 --format iceberg --warehouse warehouse --start 2025-01-01 --end 2025-01-01" \
  "$P/.kiln/logs/gh/2025-01-01T00:00:00Z/load.try-1.log" || fail "gh_events log: $(cat "$P/.kiln/logs/gh/2025-01-01T00:00:00Z/load.try-1.log")"
grep -q "Done. PASS=28 WARN=0 ERROR=0 SKIP=0 TOTAL=28" "$P/.kiln/logs/gh/2025-01-02T00:00:00Z/models.try-1.log" || fail "models log"
expect_rc 0 "$KILN_BIN" sql --warehouse "$P/shop/warehouse" --csv "select count(*) from analytics.customers"
want "$(echo "$OUT" | tail -1)" 5 "models built customers"

# what each load wrote is recorded (asset_materialization) and exported
py_total=0; for c in $py_counts; do py_total=$((py_total + ${c#*:})); done
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT sum(rows) FROM asset_materialization WHERE asset='github.pushes'")" "$py_total" "rows recorded"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT group_concat(partition, ' ') FROM (SELECT partition FROM asset_materialization WHERE asset='github.commits' ORDER BY partition)")" \
  "2025-01-01..2025-01-01 2025-01-02..2025-01-02" "partitions recorded"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT count(*) FROM asset_materialization WHERE snapshot_id IS NULL OR snapshot_id < 0")" 0 "snapshot ids recorded"
grep -q "^kiln_asset_rows_written_total{asset=\"github.pushes\"} $py_total\$" "$P/.kiln/metrics.prom" || fail "asset metric: $(grep asset "$P/.kiln/metrics.prom")"
materialized="$(sqlite3 "$P/.kiln/flow.db" "SELECT count(*) FROM asset_materialization")"
# per-partition asset state in `kiln runs` (text and JSON): the day each load touched, its snapshot
expect_rc 0 K runs gh --json
want "$(echo "$OUT" | jq -r '[.[] | .tasks[] | select(.task == "load") | .materializations[] | select(.asset == "github.pushes") | .partition + ":" + (.rows | tostring)] | join(" ")')" \
  "$(echo "$py_counts" | sed -E 's/([0-9-]+):/\1..\1:/g')" "runs --json: pushes per partition"
last="$(sqlite3 "$P/.kiln/flow.db" "SELECT snapshot_id FROM asset_materialization WHERE asset='github.commits' AND partition='2025-01-02..2025-01-02'")"
expect_rc 0 K runs gh
echo "$OUT" | grep -Eq "^ +-> github.commits \[2025-01-02..2025-01-02\] snapshot $last, [0-9]+ rows\$" || fail "runs: $OUT"

# ---- a re-run is a no-op: nothing executes, no table gets a snapshot
snaps() { "$KILN_BIN" table --warehouse "$P/warehouse" snapshots github.pushes | md5sum; }
before="$(snaps)"
expect_rc 0 K dags backfill gh --start 2025-01-01 --end 2025-01-02 --rerun all
grep -q "0 tries started" <<<"$OUT" || fail "re-run started tries: $OUT"
want "$(snaps)" "$before" "snapshots unchanged by the re-run"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT count(*) FROM asset_materialization")" "$materialized" "nothing materialized by the re-run"

# ---- a changed model re-runs models.build (and its downstream) only
echo "-- touched" >> "$P/shop/models/orders.sql"
expect_rc 0 K dags backfill gh --start 2025-01-01 --end 2025-01-02 --rerun all
grep -q "; 2 tries started" <<<"$OUT" || fail "changed model: $OUT"
want "$(grep -c 'models: try 2 started' <<< "$OUT")" 2 "models re-ran on both dates"
grep -q "load: try 2" <<<"$OUT" && fail "load re-ran for a model change"
want "$(snaps)" "$before" "snapshots unchanged by a model change"

# ---- a failing data test fails models.build and holds its downstream
mkdir -p "$P/shop/tests"
echo "select * from {{ ref('orders') }}" > "$P/shop/tests/assert_no_orders.sql"
expect_rc 1 K dags run gh --date 2025-01-02
want "$(state gh models 2025-01-02)" failed "models with a failing test"
want "$(state gh after 2025-01-02)" upstream_failed "downstream of a failed build"
grep -q "FAIL" "$P/.kiln/logs/gh/2025-01-02T00:00:00Z/models.try-3.log" || fail "test failure in the log"
grep -q "kiln: error models.build: 1 node ended in ERROR or FAIL" "$P/.kiln/logs/gh/2025-01-02T00:00:00Z/models.try-3.log" || fail "models error line"
rm "$P/shop/tests/assert_no_orders.sql"

# ---- a failing statement fails a sql task (exit 1); a timeout kills an
# in-process task like a program
cat > "$P/dags/s.yml" <<'YML'
tasks:
  bad: {type: sql, warehouse: warehouse, sql: "select * from github.no_such_table"}
  slow:
    type: sql
    warehouse: warehouse
    sql: "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"
    timeout: 500ms
YML
start=$(date +%s%N)
expect_rc 1 K dags run s --date 2025-01-01
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT exit_code FROM task_try WHERE dag='s' AND task='bad'")" 1 "bad sql exit"
sqlite3 "$P/.kiln/flow.db" "SELECT note FROM task_try WHERE dag='s' AND task='slow'" | grep -q "timeout after 0.5s" || fail "slow sql not timed out"
[ "$elapsed_ms" -lt 10000 ] || fail "the timeout did not stop the in-process task (${elapsed_ms} ms)"
# a template that renders for the first run (validation) but not for one
# date is a failed try of that instance, not a failed backfill
cat > "$P/dags/t2.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
tasks:
  a: {type: command, command: [echo, "{{ 10 // (ds[8:] | int - 2) }}"]}
  b: {type: command, command: ['true'], needs: [a]}
YML
expect_rc 0 K dags validate
expect_rc 6 K dags backfill t2 --start 2024-01-01 --end 2024-01-03
want "$(state t2 a 2024-01-01)" success "a renders on day 1"
want "$(state t2 a 2024-01-02)" failed "a cannot render on day 2"
want "$(state t2 b 2024-01-02)" upstream_failed "b after a failed render"
want "$(state t2 a 2024-01-03)" success "a renders on day 3"
grep -q "template:1:7: integer division or modulo by zero" "$P/.kiln/logs/t2/2024-01-02T00:00:00Z/a.try-1.log" ||
  fail "render error in the try's log"
echo "flow_tasks: ok"
