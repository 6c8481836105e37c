#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# runbook_incidents.sh - every ```sh runbook block of docs/runbooks/*.md is
# run, command by command (a `# exit: N` line sets the expected exit code),
# against a project put in that runbook's incident state:
# - job-stuck: an ingest task hangs on a GH Archive server that accepts and
#   never answers; the runbook sees it, kills the try's process group, and
#   the run completes once the server answers again;
# - scheduler-lag: tasks waited ~1 s each for the one slot of a pool, a DAG
#   is paused; the metrics show it, unpause + `kiln scheduler --once` runs it;
# - model-test-failing: a duplicated seed row fails `unique` and doubles a
#   mart; triage, the failing rows (store_failures' audit table), lineage,
#   fix, rebuild (the audit table empty);
# - merge-conflict: 4 concurrent MERGEs lose no row; a branch backfill whose
#   main moved exits 5, is inspected, rerun on a fresh branch and swapped in.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
T="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
[ -z "${KEEP:-}" ] || echo "runbook_incidents: kept in $T"
fail() { echo "FAIL: $*" >&2; exit 1; }
t0=$SECONDS
step() { echo "runbook_incidents: [$((SECONDS - t0))s] $*"; }
want() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }
export PATH="$(dirname "$KILN_BIN"):$PATH"
case "$KILN_BIN" in */build-asan/*) SCALE=0.0001 ;; *) SCALE=0.0002 ;; esac  # small data; smaller under ASan

# rb PAGE N DIR: run the N-th ```sh runbook block of docs/runbooks/PAGE in DIR;
# the output of all its commands is in $T/out.txt
rb() {
  python3 - "$KILN_ROOT/docs/runbooks/$1" "$2" >"$T/block.sh" <<'PY'
import re, sys
blocks = re.findall(r'^```sh runbook\n(.*?)^```', open(sys.argv[1]).read(), re.S | re.M)
n = int(sys.argv[2])
if n > len(blocks): sys.exit('no block %d in %s (%d blocks)' % (n, sys.argv[1], len(blocks)))
sys.stdout.write(blocks[n - 1])
PY
  local want_rc=0 cmd="" line rc
  echo "$1 $2" >>"$T/ran.txt"
  : >"$T/out.txt"
  while IFS= read -r line || [ -n "$line" ]; do
    if [ -z "$cmd" ]; then
      if [[ "$line" =~ ^#\ exit:\ ([0-9]+)$ ]]; then want_rc="${BASH_REMATCH[1]}"; continue; fi
      [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
    fi
    if [[ "$line" == *\\ ]]; then cmd+="${line%\\} "; continue; fi
    cmd+="$line"
    echo "\$ $cmd" >>"$T/out.txt"
    set +e; (cd "$3" && bash -c "set -o pipefail; $cmd") >>"$T/out.txt" 2>&1; rc=$?; set -e
    [ "$rc" = "$want_rc" ] || { tail -15 "$T/out.txt" >&2; fail "runbook $1 block $2: '$cmd' exit $rc, want $want_rc"; }
    want_rc=0; cmd=""
  done <"$T/block.sh"
  [ -z "$cmd" ] || fail "runbook $1 block $2 ends inside a command"
}
has() { grep -q -- "$1" "$T/out.txt" || fail "$2: no '$1' in: $(cat "$T/out.txt")"; }
st() { sqlite3 "$1/.kiln/flow.db" "select state from task_instance where dag='$2' and task='$3' and logical_date='$4T00:00:00Z'"; }

# ------------------------------------------------------------ job stuck
step "job stuck"
P="$T/stuck"; mkdir -p "$P/dags" "$T/gha"
"$KILN_BIN" gen gharchive --out "$T/gha" --start 2025-10-06 --hours 2 --scale "$SCALE" --threads 1 >/dev/null
# a GH Archive server that accepts and never answers while $T/hang exists
touch "$T/hang"
python3 - "$T/gha" "$T/hang" "$T/gha.port" <<'PY' >/dev/null 2>&1 &
import http.server, os, sys, time
root, hang, portfile = sys.argv[1:4]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        while os.path.exists(hang): time.sleep(0.1)
        p = os.path.join(root, os.path.basename(self.path))
        if not os.path.exists(p):
            self.send_response(404); self.end_headers(); return
        b = open(p, 'rb').read()
        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
open(portfile, 'w').write(str(s.server_address[1]))
s.serve_forever()
PY
PIDS+=($!)
for _ in $(seq 100); do [ -s "$T/gha.port" ] && break; sleep 0.1; done
cat >"$P/dags/gharchive_daily.yml" <<YML
schedule: "@daily"
start_date: 2025-10-06
tasks:
  land:
    type: ingest.gharchive
    from: "http://127.0.0.1:$(cat "$T/gha.port")"
    hours: "0-1"
    out: raw
  load:
    type: job.gh_events
    needs: [land]
    in: raw
    warehouse: warehouse
    threads: 1
YML
"$KILN_BIN" dags run gharchive_daily --date 2025-10-06 --project-dir "$P" >"$T/stuck_run.txt" 2>&1 &
runner=$!
for _ in $(seq 200); do [ "$(st "$P" gharchive_daily land 2025-10-06 2>/dev/null)" = running ] && break; sleep 0.1; done
want "$(st "$P" gharchive_daily land 2025-10-06)" running "the land task runs (and hangs)"
sleep 0.5
rb job-stuck.md 1 "$P"
has "running" "kiln runs shows the running task"
has "land|2025-10-06T00:00:00Z|1|" "the running try and its pid"
has "kiln ingest gharchive" "the try's log"
rb job-stuck.md 2 "$P"
set +e; wait "$runner"; rc=$?; set -e
[ "$rc" != 0 ] || fail "the run succeeded although its task was killed"
want "$(st "$P" gharchive_daily land 2025-10-06)" failed "the killed try"
want "$(st "$P" gharchive_daily load 2025-10-06)" upstream_failed "its downstream"
rm "$T/hang"   # the source answers again
rb job-stuck.md 3 "$P"
has "WILL RUN" "explain says the task will run"
want "$(st "$P" gharchive_daily land 2025-10-06)" success "land after the resume"
want "$(st "$P" gharchive_daily load 2025-10-06)" success "load after the resume"
[ "$("$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select count(*) > 0 from github.pushes" | tail -1)" = 1 ] ||
  fail "no pushes loaded after the resume"

# ------------------------------------------------------------ scheduler lag
step "scheduler lag"
P="$T/lag"; mkdir -p "$P/dags"
printf 'pools:\n  slow: 1\n' >"$P/kiln.yml"
cat >"$P/dags/lag.yml" <<'YML'
schedule: "@daily"
start_date: 2025-01-01
tasks:
  a: {type: command, command: [sleep, "0.6"], pool: slow}
  b: {type: command, command: [sleep, "0.6"], pool: slow}
  c: {type: command, command: [sleep, "0.6"], pool: slow}
YML
cat >"$P/dags/reports.yml" <<'YML'
schedule: "@daily"
start_date: 2025-01-01
tasks:
  report: {type: command, command: ["true"]}
YML
"$KILN_BIN" dags pause reports --project-dir "$P" >/dev/null
"$KILN_BIN" dags run lag --date 2025-01-01 --project-dir "$P" >/dev/null 2>&1 || fail "the lag DAG's run"
"$KILN_BIN" serve --project-dir "$P" --listen 127.0.0.1:0 >"$T/serve.out" 2>"$T/serve.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q "listening on" "$T/serve.out" 2>/dev/null && break; sleep 0.1; done
export KILN_URL="$(grep -o 'http://127.0.0.1:[0-9]*' "$T/serve.out" | head -1)"
[ -n "$KILN_URL" ] || fail "kiln serve did not start: $(cat "$T/serve.err")"
lag_of() { python3 -c 'import re,sys; print(int(float(re.search(r"kiln_scheduler_lag_seconds\{dag=\"lag\"\} (\S+)", open(sys.argv[1]).read()).group(1))))' "$T/out.txt"; }
rb scheduler-lag.md 1 "$P"
[ "$(lag_of)" -gt 86400 ] || fail "the lag of DAG lag before: $(grep lag_seconds "$T/out.txt")"
has 'kiln_task_queue_wait_seconds_sum{dag="lag"}' "queue wait of the DAG"
python3 - "$T/out.txt" <<'PY' || fail "the queue wait of lag: $(grep queue_wait "$T/out.txt")"
import re, sys
t = open(sys.argv[1]).read()
s = float(re.search(r'kiln_task_queue_wait_seconds_sum\{dag="lag"\} (\S+)', t).group(1))
assert s >= 1.0, s   # two tasks waited for the one slot: ~0.6 s + ~1.2 s
PY
grep -E '^reports +.*paused' "$T/out.txt" >/dev/null || has "paused" "kiln dags list shows the paused DAG"
printf 'pools:\n  slow: 4\n' >"$P/kiln.yml"
rb scheduler-lag.md 2 "$P"
[ -n "$(sqlite3 "$P/.kiln/flow.db" "select state from dag_run where dag='reports' and state='success'")" ] ||
  fail "reports did not run after unpause: $(cat "$T/out.txt")"
rb scheduler-lag.md 3 "$P"
[ "$(lag_of)" -lt 86400 ] || fail "the lag of DAG lag after: $(grep lag_seconds "$T/out.txt")"

# ------------------------------------------------------------ model test failing
step "model test failing"
P="$T/shop"; mkdir -p "$P/models" "$P/seeds"
cat >"$P/dbt_project.yml" <<'YML'
name: shop
version: "1.0"
profile: shop
data_tests:
  shop:
    +store_failures: true
YML
cat >"$P/profiles.yml" <<'YML'
shop:
  target: dev
  outputs:
    dev: {type: kiln, warehouse: warehouse, schema: analytics, threads: 1}
YML
cat >"$P/models/sources.yml" <<'YML'
version: 2
sources:
  - name: raw
    tables: [{name: orders}]
YML
cat >"$P/models/schema.yml" <<'YML'
version: 2
seeds:
  - name: regions
    columns:
      - name: region
        tests: [unique, not_null]
models:
  - name: daily
    columns:
      - name: day
        tests: [not_null]
YML
cat >"$P/models/daily.sql" <<'SQL'
select o.day, r.name as region, sum(o.amount) as amount, count(*) as orders
from {{ source('raw', 'orders') }} o join {{ ref('regions') }} r on r.region = o.region
group by o.day, r.name
SQL
printf 'region,name\neu,Europe\nus,America\neu,Europe\n' >"$P/seeds/regions.csv"
"$KILN_BIN" sql --warehouse "$P/warehouse" -c "create table raw.orders (day string, region string, amount bigint)" \
  -c "insert into raw.orders values ('2025-03-01', 'eu', 40), ('2025-03-01', 'us', 10)" >/dev/null
(cd "$P" && "$KILN_BIN" build >"$T/shop_build.txt" 2>&1) && fail "the build passed with a duplicated seed row"
rb model-test-failing.md 1 "$P"
has "FAIL 1 unique_regions_region" "the failing unique test"
has "fail 1 test.shop.unique_regions_region" "run_results names it"
rb model-test-failing.md 2 "$P"
has "eu           |         2" "the stored failing row (store_failures)"
[ "$(grep -c '^eu *| Europe' "$T/out.txt")" = 2 ] || fail "the offending seed rows joined back: $(cat "$T/out.txt")"
rb model-test-failing.md 3 "$P"
has "analytics.regions" "lineage reaches the seed"
printf 'region,name\neu,Europe\nus,America\n' >"$P/seeds/regions.csv"   # the fix
rb model-test-failing.md 4 "$P"
has "ERROR=0" "the rebuild passes"
grep -A3 '^failing' "$T/out.txt" | grep -q '^ *0$' || fail "the audit table after the fix: $(cat "$T/out.txt")"
want "$("$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select amount from analytics.daily where region = 'Europe'" | tail -1)" 40 \
  "Europe's amount after the fix"

# ------------------------------------------------------------ merge conflict
step "merge conflict"
P="$T/orders"; mkdir -p "$P/dags"
"$KILN_BIN" sql --warehouse "$P/warehouse" -c "create table raw.orders (day string, amount bigint)" >/dev/null
for i in 1 2 3 4; do printf '{"day":"2025-02-2%d","amount":%d}\n' "$i" "$i" >"$P/late-$i.ndjson"; done
rb merge-conflict.md 1 "$P"
[ "$(grep -c -E 'late-[1-4] exit (0|5)$' "$P/exits.txt")" = 4 ] || fail "merge exits: $(cat "$P/exits.txt")"
rb merge-conflict.md 2 "$P"
want "$("$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select count(*) from raw.orders" | tail -1)" 4 "rows after 4 concurrent merges"
want "$("$KILN_BIN" table --warehouse "$P/warehouse" snapshots raw.orders | grep -c '^[0-9]')" 4 "one snapshot per merge"
"$KILN_BIN" gen gharchive --out "$P/gen" --start 2025-02-28 --days 4 --hours 2 --scale "$SCALE" --threads 1 >/dev/null
mkdir -p "$P/incoming"
cat >"$P/dags/github_daily.yml" <<'YML'
schedule: "@daily"
start_date: 2025-02-28
tasks:
  load:
    type: job.gh_events
    in: incoming
    warehouse: warehouse
    threads: 1
YML
cp "$P"/gen/2025-02-28-*.json.gz "$P"/gen/2025-03-02-*.json.gz "$P"/gen/2025-03-03-*.json.gz "$P/incoming/"
"$KILN_BIN" dags run github_daily --date 2025-02-28 --project-dir "$P" >/dev/null 2>&1 || fail "day 0 on main"
# 2025-03-01's hours have not arrived: the branch backfill fails that day, bf is kept
set +e; "$KILN_BIN" dags backfill github_daily --start 2025-03-01 --end 2025-03-03 --branch bf --project-dir "$P" >"$T/bf.txt" 2>&1; rc=$?; set -e
want "$rc" 6 "backfill with 2025-03-01 missing"
# meanwhile the daily schedule loads 2025-03-03 on main
"$KILN_BIN" dags run github_daily --date 2025-03-03 --project-dir "$P" >/dev/null 2>&1 || fail "the daily run on main"
cp "$P"/gen/2025-03-01-*.json.gz "$P/incoming/"   # the hours arrive
rb merge-conflict.md 3 "$P"
has "moved since the branch was cut; nothing was swapped in" "the conflict"
has "2025-03-01" "the branch's day main lacks"
rb merge-conflict.md 4 "$P"
pushes="$(python3 - "$P/gen" <<'PY'
import gzip, glob, json, sys
ids = set()
for f in glob.glob(sys.argv[1] + '/*.json.gz'):
    for l in gzip.open(f, 'rt'):
        e = json.loads(l)
        if e['type'] == 'PushEvent': ids.add(e['id'])
print(len(ids))
PY
)"
want "$("$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select count(*), count(distinct push_id) from github.pushes" | tail -1)" \
  "$pushes,$pushes" "main after the rerun on bf2: every push once"
"$KILN_BIN" table --warehouse "$P/warehouse" branch github.pushes | grep -q '^bf ' && fail "bf not dropped"
# every block of every runbook page ran (a new page or block needs its
# incident here)
for page in "$KILN_ROOT"/docs/runbooks/*.md; do
  n="$(grep -c '^```sh runbook$' "$page" || true)"
  for i in $(seq 1 "$n"); do
    grep -qx "$(basename "$page") $i" "$T/ran.txt" || fail "runbook $(basename "$page") block $i is not run by this test"
  done
done
step "ok"
