#!/usr/bin/env bash
# `make demo`: the main job end to end on embedded defaults, offline, as ONE
# DAG runs it (examples/personal-api/dags/github_backfill.yml, write-audit-
# publish per day): a month of synthetic GH Archive (both PushEvent payload
# eras, with real-world quirks) lands day by day in a raw zone, the parallel
# events engine MERGEs each day into Apache Iceberg tables, the project's
# dbt models build for that day with their data tests, and the day's
# publish gate passes only when they did. All of it on an Iceberg branch:
# main of every table (the models' included) is fast-forwarded in one
# multi-table commit only once every day passed. Along the way: a forced
# failure that is retried and succeeds, a missing hour that fails a data
# test (publish upstream_failed, main untouched, an alert to a local
# endpoint), a truncated hour that fails its load, the repair and the
# publish, and a re-run that writes nothing.
set -euo pipefail
BUILD="${1:-build}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KILN="$ROOT/$BUILD/kiln"
OUT="${KILN_DEMO_DIR:-$ROOT/demo-out}"
START="${KILN_DEMO_START:-2025-09-23}"
DAYS="${KILN_DEMO_DAYS:-30}"
SCALE="${KILN_DEMO_SCALE:-0.0001}"
PROJ="$OUT/personal-api"
WH="$PROJ/warehouse"
DAG=github_backfill
BRANCH=demo # the backfill writes here; main gets it only when every day passed
mainrows() { "$KILN" sql --warehouse "$WH" --csv "select count(*) from github.pushes" 2>/dev/null | tail -1; }
tables_state() { "$KILN" table --warehouse "$WH" list | md5sum | cut -c1-12; } # every table's metadata file
quirk() { python3 -c 'import json,sys; q = json.load(open(sys.argv[1]))[sys.argv[2]]; q = q[0] if isinstance(q, list) else q
print(q["file"] if isinstance(q, dict) else q)' "$PROJ/incoming/gharchive/_quirks.json" "$1"; }
export PATH="$ROOT/$BUILD:$PATH" # the DAG's tasks call kiln too
command -v python3 >/dev/null 2>&1 || { echo "make demo: needs python3 (the API seeds, the alert endpoint)" >&2; exit 2; }
END="$(date -u -d "$START + $((DAYS - 1)) days" +%F)"
FORCED="$(date -u -d "$START + 2 days" +%F)"

rm -rf "$OUT"
mkdir -p "$OUT"
echo "== 1. the project: examples/personal-api copied to $PROJ (the DAG, kiln.yml, the dbt project)"
mkdir -p "$PROJ"
(cd "$ROOT/examples/personal-api" && tar --exclude=./warehouse --exclude=./.kiln --exclude=./target \
   --exclude=./logs --exclude=./incoming --exclude=./raw -cf - .) | (cd "$PROJ" && tar -xf -)
echo "   one DAG, one run per day: land -> load (Iceberg MERGE) -> models (kiln build + data tests) -> publish"
"$KILN" dags validate --project-dir "$PROJ"

echo
echo "== 2. $DAYS days of GH Archive from $START at scale $SCALE, with quirks, arrive in incoming/"
"$KILN" gen gharchive --start "$START" --days "$DAYS" --scale "$SCALE" --seed 42 --quirks \
  --out "$PROJ/incoming/gharchive"

# the upstream's re-delivery of the faulty hours (the same generator without faults)
"$KILN" gen gharchive --start "$START" --days "$DAYS" --scale "$SCALE" --seed 42 --out "$OUT/redelivered" >/dev/null
"$KILN" gen github-api --start "$START" --days "$DAYS" --scale "$SCALE" --seed 42 --out "$OUT/github-api"
SEEDS=""
if [ -f "$PROJ/dbt_project.yml" ] && [ -f "$PROJ/scripts/api_seeds.py" ] && command -v python3 >/dev/null 2>&1; then
  # the models' GitHub API seeds must describe the same generated data
  python3 "$PROJ/scripts/api_seeds.py" "$OUT/github-api" "$PROJ/seeds" >/dev/null && SEEDS=1
  echo "   the matching GitHub API responses -> the dbt project's seeds (scripts/api_seeds.py)"
fi

# a local endpoint for the DAG's on_failure alert (kiln.yml: url_env KILN_ALERT_URL)
RECV=""
if command -v python3 >/dev/null 2>&1; then
  python3 - "$OUT/alerts-received.ndjson" "$OUT/alert-port" <<'PY' &
import http.server, sys
out, portfile = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open(out, 'ab') as f:
            f.write(body + b'\n')
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
open(portfile, 'w').write(str(s.server_port))
s.serve_forever()
PY
  RECV=$!
  trap 'kill $RECV 2>/dev/null || true' EXIT
  for _ in $(seq 50); do [ -s "$OUT/alert-port" ] && break; sleep 0.1; done
  export KILN_ALERT_URL="http://127.0.0.1:$(cat "$OUT/alert-port")/kiln-alerts"
  echo "   alert receiver on $KILN_ALERT_URL"
else
  echo "   (no python3: no local alert receiver; deliveries are still recorded in .kiln/alerts.ndjson)"
fi


MISSING="$(quirk missing_hours)"   # an hour file that never arrived
TRUNC="$(quirk truncated)"         # an hour file cut short
TESTDAY="${MISSING:0:10}"
LOADDAY="${TRUNC:0:10}"

echo
echo "== 3. backfill $START .. $END on Iceberg branch '$BRANCH', 8 days at once (the models builds one at a time):"
echo "   every table write (the engine's and the models') goes to the branch; main moves only if every day passes"
echo "   a failpoint makes the first try of $FORCED's load fail: it is retried and succeeds"
set +e
KILN_FAILPOINT="flow.task=$DAG.load@$FORCED:fail-tries=1" \
  "$KILN" dags backfill "$DAG" --start "$START" --end "$END" --branch "$BRANCH" --project-dir "$PROJ" 2>"$OUT/backfill.log"
rc=$?
set -e
grep -E "load: try 1 failed|$FORCED.* load: try 2|failed \(|upstream_failed|^kiln:|branch '" "$OUT/backfill.log" |
  grep -E "$FORCED|$TESTDAY|$LOADDAY|^kiln:|branch '" | sed 's/^/   /' | head -20
echo "   exit $rc (6 = some runs failed, others succeeded); main of github.pushes: $(mainrows) rows (untouched)"

echo
echo "== 4. what failed, and what it held back"
echo "   $TESTDAY: hour $MISSING never arrived (a --quirks fault). The load succeeded, but the day's"
echo "   data test assert_days_have_every_hour failed, so its publish did not run (upstream_failed):"
"$KILN" logs "$DAG" models --date "$TESTDAY" --try 1 --project-dir "$PROJ" 2>&1 | { grep -E " FAIL [0-9]|^Done\." || true; } |
  cut -c1-110 | sed 's/^/     /'
"$KILN" runs "$DAG" --project-dir "$PROJ" | { grep -A6 "$TESTDAY" || true; } | { grep -E "^    (models|publish) " || true; } |
  sed 's/^ */     /'
echo "   $LOADDAY: $TRUNC is truncated (a --quirks fault): its load failed after every retry"
"$KILN" logs "$DAG" load --date "$LOADDAY" --try 1 --project-dir "$PROJ" 2>&1 | { grep -E "truncated gzip" || true; } | head -1 |
  sed 's/^ *//' | cut -c1-150 | sed 's/^/     /'

# delivery is asynchronous (a detached sender): give it a moment
for _ in $(seq 50); do [ -z "$RECV" ] || [ -s "$OUT/alerts-received.ndjson" ] && break; sleep 0.1; done
if [ -s "$OUT/alerts-received.ndjson" ]; then
  echo "   the on_failure alerts, as the local endpoint received them:"
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l); print("     %s %s %s: %s" % (e.get("event"), e.get("task") or "-", (e.get("logical_date") or "")[:10], (e.get("message") or "")[:90]))' \
    "$OUT/alerts-received.ndjson" 2>/dev/null || head -3 "$OUT/alerts-received.ndjson" | cut -c1-160 | sed 's/^/     /'
fi

echo
echo "== 5. the repair: upstream re-delivers the two hours; the same backfill with --rerun failed runs"
echo "   only those days (the new files change land's key), every day has passed now, so main is"
echo "   published: fast-forwarded to '$BRANCH' on every table, the models' too, in one commit"
cp -p "$OUT/redelivered/$MISSING" "$OUT/redelivered/$TRUNC" "$PROJ/incoming/gharchive/"
"$KILN" dags backfill "$DAG" --start "$START" --end "$END" --branch "$BRANCH" --rerun failed --project-dir "$PROJ" 2>&1 |
  grep -E "success \(|failed|every run|^kiln:" | grep -vE "publish: try|land: try" | sed 's/^/   /'
echo "   main of github.pushes: $(mainrows) rows; $("$KILN" table --warehouse "$WH" list | tail -n +2 | wc -l) tables, main = '$BRANCH' on each"
echo "   the 4 staging models are views, whose definitions are not branched: a build on main"
echo "   creates them (kiln run --select config.materialized:view; no data is copied)"
"$KILN" run --select config.materialized:view --project-dir "$PROJ" 2>&1 | grep -E "^Done\." | sed 's/^/   /'
echo "   analytics.stg_pushes on main: $("$KILN" sql --warehouse "$WH" --csv -c "select count(*) from analytics.stg_pushes" | tail -n 1) rows"

echo
echo "== 6. the same backfill again (--rerun all): every task's idempotency key already succeeded,"
echo "   so nothing executes and no table is written (every table's metadata file unchanged)"
before="$(tables_state)"
"$KILN" dags backfill "$DAG" --start "$START" --end "$END" --branch "$BRANCH" --rerun all --project-dir "$PROJ" 2>&1 |
  grep -E "^kiln:" | sed 's/^/   /'
echo "   tables' metadata: $before before, $(tables_state) after"
mid="$(date -u -d "$START + 10 days" +%F)"
"$KILN" runs "$DAG" --explain models --date "$mid" --branch "$BRANCH" --project-dir "$PROJ" | grep -E "WILL" |
  sed 's/^ */   /'

echo
echo "== 7. SQL over the published tables: the daily mart's top repos, and pushes per day (commits"
echo "      come from distinct_size before 2025-10-07, when PushEvents stopped carrying it)"
"$KILN" sql --warehouse "$WH" "
SELECT repo_name, sum(pushes) AS pushes, sum(commits) AS commits
FROM analytics.commits_per_repo_per_day GROUP BY repo_id ORDER BY 3 DESC, 1 LIMIT 5"
echo
"$KILN" sql --warehouse "$WH" "
SELECT substr(created_at, 1, 10)    AS day,
       count(*)                     AS pushes,
       count(DISTINCT repo_id)      AS repos,
       sum(distinct_size)           AS commits_by_distinct_size
FROM github.pushes GROUP BY 1 ORDER BY 1 LIMIT 6"

echo
echo "where to look:"
echo "  $PROJ/dags/github_backfill.yml   the DAG (templated with {{ ds }}, params)"
echo "  $KILN runs $DAG --project-dir $PROJ          every run and task state, and the tables each wrote"
echo "  $KILN table --warehouse $WH branch github.pushes   main and the backfill's branch '$BRANCH' (same head: published)"
echo "  $KILN logs $DAG models --date $TESTDAY --try 1 --project-dir $PROJ   the failed data test"
echo "  $KILN logs $DAG load --date $FORCED --try 1 --project-dir $PROJ   the forced failure"
echo "  $PROJ/.kiln/logs/                each try's log;  .kiln/flow.db the state store"
echo "  $PROJ/.kiln/alerts.ndjson         alert deliveries; $OUT/alerts-received.ndjson what the endpoint got"
echo "  $PROJ/.kiln/lineage.ndjson        OpenLineage events;  .kiln/metrics.prom Prometheus metrics"
echo "  $WH/                              the Iceberg tables (metadata, Avro manifests, Parquet data)"
echo "  $PROJ/incoming/gharchive/_quirks.json   the injected faults"
echo "try:  $KILN sql --warehouse $WH      (a SQL shell)"
