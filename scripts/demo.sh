#!/usr/bin/env bash
# `make demo`: the main job end to end on embedded defaults, offline, as the
# flagship DAG runs it (examples/personal-api/dags/github_backfill.yml):
# a month of synthetic GH Archive (both PushEvent payload eras, with
# real-world quirks) lands day by day in a raw zone, the parallel events
# engine MERGEs each day into Apache Iceberg tables, the project's dbt models
# build on top, and SQL reads the result. Along the way: a forced failure
# that is retried and succeeds, a bad hour file that fails its day and fires
# an alert to a local endpoint, the repair, and a re-run that does nothing.
# The load backfill runs on an Iceberg branch and is published (main of
# every table fast-forwarded in one commit) only once every day succeeded.
set -euo pipefail
BUILD="${1:-build}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KILN="$ROOT/$BUILD/kiln"
OUT="${KILN_DEMO_DIR:-$ROOT/demo-out}"
START="${KILN_DEMO_START:-2025-09-23}"
DAYS="${KILN_DEMO_DAYS:-30}"
SCALE="${KILN_DEMO_SCALE:-0.0005}"
PROJ="$OUT/personal-api"
WH="$PROJ/warehouse"
DAG=github_backfill
BRANCH=demo # the backfill writes here; main gets it only when every day passed
mainrows() { "$KILN" sql --warehouse "$WH" --csv "select count(*) from github.pushes" 2>/dev/null | tail -1; }
export PATH="$ROOT/$BUILD:$PATH" # the DAG's tasks call kiln too
END="$(date -u -d "$START + $((DAYS - 1)) days" +%F)"
FORCED="$(date -u -d "$START + 2 days" +%F)"

rm -rf "$OUT"
mkdir -p "$OUT"
echo "== 1. the project: examples/personal-api copied to $PROJ (DAGs, kiln.yml, dbt project if any)"
mkdir -p "$PROJ"
(cd "$ROOT/examples/personal-api" && tar --exclude=./warehouse --exclude=./.kiln --exclude=./target \
   --exclude=./logs --exclude=./incoming --exclude=./raw -cf - .) | (cd "$PROJ" && tar -xf -)
if [ -f "$PROJ/dbt_project.yml" ]; then
  echo "   dbt project found: the models step builds it (models + tests) after every day's load"
else
  echo "   NOTE: examples/personal-api has no dbt_project.yml, so github_models' models step is"
  echo "   skipped (its models_ready sensor soft-fails); everything else runs as described"
fi
"$KILN" dags validate --project-dir "$PROJ"

echo
echo "== 2. $DAYS days of GH Archive from $START at scale $SCALE, with quirks, arrive in incoming/"
"$KILN" gen gharchive --start "$START" --days "$DAYS" --scale "$SCALE" --seed 42 --quirks \
  --out "$PROJ/incoming/gharchive"

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

echo
echo "== 3. backfill $START .. $END on Iceberg branch '$BRANCH': land -> load (Iceberg MERGE) -> summary,"
echo "   8 days at once; main is swapped to the branch (on every table in one commit) only if every day succeeds"
echo "   a failpoint makes the first try of $FORCED's load fail: it is retried and succeeds"
set +e
KILN_FAILPOINT="flow.task=$DAG.load@$FORCED:fail-tries=1" \
  "$KILN" dags backfill "$DAG" --start "$START" --end "$END" --branch "$BRANCH" --project-dir "$PROJ" 2>"$OUT/backfill.log"
rc=$?
set -e
grep -E "retry|failed \(|upstream_failed|^kiln:|branch '" "$OUT/backfill.log" | sed 's/^/   /' | head -20
echo "   exit $rc (6 = some runs failed, others succeeded); main of github.pushes: $(mainrows) rows"

BAD=""
if [ -f "$PROJ/incoming/gharchive/_quirks.json" ] && command -v python3 >/dev/null 2>&1; then
  BAD="$(python3 -c 'import json,sys; q = json.load(open(sys.argv[1]))["truncated"]; print((q[0] if isinstance(q, list) else q)["file"])' \
         "$PROJ/incoming/gharchive/_quirks.json")"
fi
if [ -n "$BAD" ]; then
  BADDAY="${BAD:0:10}"
  echo
  echo "== 4. what failed: $BAD is truncated (a --quirks fault), so $BADDAY's load failed after its"
  echo "   retries, its downstream did not run, and the alert went out:"
  "$KILN" logs "$DAG" load --date "$BADDAY" --project-dir "$PROJ" 2>&1 | grep -E "truncated gzip|kiln: error" |
    cut -c1-160 | sed 's/^/   /'
  # delivery is asynchronous (a detached sender): give it a moment
  for _ in $(seq 50); do [ -z "$RECV" ] || [ -s "$OUT/alerts-received.ndjson" ] && break; sleep 0.1; done
  if [ -s "$OUT/alerts-received.ndjson" ]; then
    echo "   received by the local endpoint:"
    head -1 "$OUT/alerts-received.ndjson" | cut -c1-220 | sed 's/^/     /'
  fi
  echo
  echo "== 5. the repair: set the bad file aside, re-run the failed day on the branch (--rerun failed);"
  echo "   every day has succeeded now, so main is published: fast-forwarded to '$BRANCH' on every table at once"
  mkdir -p "$PROJ/quarantine"
  mv "$PROJ/raw/gharchive/$BAD" "$PROJ/incoming/gharchive/$BAD" "$PROJ/quarantine/" 2>/dev/null || true
  "$KILN" dags backfill "$DAG" --start "$START" --end "$END" --branch "$BRANCH" --rerun failed --project-dir "$PROJ" 2>&1 |
    grep -E "success \(|failed|branch '|^kiln:" | sed 's/^/   /'
else
  echo
  echo "== 5. (no faulty file among the quirks: the backfill above published main already)"
fi
echo "   main of github.pushes: $(mainrows) rows"

echo
echo "== 6. the models (github_models): kiln build of the dbt project over the loaded days,"
echo "   seeds, 7 models and their data tests; a failed test fails the task, holds 'top' and alerts"
set +e
"$KILN" dags run github_models --date "$END" --project-dir "$PROJ" 2>"$OUT/models.log"
mrc=$?
set -e
grep -E "success|failed|skipped|^kiln:" "$OUT/models.log" | sed 's/^/   /'
"$KILN" logs github_models models --date "$END" --project-dir "$PROJ" 2>/dev/null |
  grep -E "^Done\.| FAIL [0-9]| ERROR " | cut -c1-150 | sed 's/^/   /'
if [ $mrc -eq 0 ]; then
  "$KILN" logs github_models top --date "$END" --project-dir "$PROJ" 2>/dev/null | tail -n +2 | sed 's/^/   /'
else
  echo "   exit $mrc: the tests above failed on this data (the quirks: a missing and a set-aside hour"
  echo "   leave pushes the API responses refer to out of the tables)"
fi

echo
echo "== 7. the same backfill again (--rerun all): every task's idempotency key already succeeded,"
echo "   so nothing executes and no table gets a new snapshot"
snaps_before="$("$KILN" table --warehouse "$WH" snapshots github.pushes | wc -l)"
"$KILN" dags backfill "$DAG" --start "$START" --end "$END" --branch "$BRANCH" --rerun all --project-dir "$PROJ" 2>&1 |
  grep -E "^kiln:" | sed 's/^/   /'
snaps_after="$("$KILN" table --warehouse "$WH" snapshots github.pushes | wc -l)"
set +e
"$KILN" dags run github_models --date "$END" --project-dir "$PROJ" 2>&1 | tail -1 | sed 's/^/   /'
set -e
echo "   github.pushes snapshot lines: $snaps_before before, $snaps_after after"
mid="$(date -u -d "$START + 10 days" +%F)"
"$KILN" runs "$DAG" --explain load --date "$mid" --branch "$BRANCH" --project-dir "$PROJ" | grep -E "WILL" | sed 's/^ */   /'

echo
echo "== 8. SQL over the Iceberg tables (pushes per day; commits are counted from distinct_size,"
echo "      which PushEvents stopped carrying on 2025-10-07: NULL from then on)"
"$KILN" sql --warehouse "$WH" "
SELECT substr(created_at, 1, 10)    AS day,
       count(*)                     AS pushes,
       count(DISTINCT repo_id)      AS repos,
       sum(distinct_size)           AS commits_by_distinct_size
FROM github.pushes GROUP BY 1 ORDER BY 1 LIMIT 8"
echo
"$KILN" sql --warehouse "$WH" "
SELECT repo_name, count(*) AS commits_listed
FROM github.commits GROUP BY repo_id ORDER BY 2 DESC, 1 LIMIT 5"

echo
echo "where to look:"
echo "  $PROJ/dags/github_backfill.yml   the DAG (templated with {{ ds }}, params)"
echo "  $KILN runs $DAG --project-dir $PROJ          every run and task state (and what each load wrote)"
echo "  $KILN table --warehouse $WH branch github.pushes   main and the backfill's branch '$BRANCH' (same head: published)"
echo "  $KILN logs $DAG load --date $FORCED --try 1 --project-dir $PROJ   the forced failure"
echo "  $PROJ/.kiln/logs/                each try's log;  .kiln/flow.db the state store"
echo "  $PROJ/.kiln/alerts.ndjson         alert deliveries; $OUT/alerts-received.ndjson what the endpoint got"
echo "  $PROJ/.kiln/lineage.ndjson        OpenLineage events;  .kiln/metrics.prom Prometheus metrics"
echo "  $WH/github/                       the Iceberg tables (metadata, Avro manifests, Parquet data)"
echo "  $PROJ/incoming/gharchive/_quirks.json   the injected faults"
echo "try:  $KILN sql --warehouse $WH      (a SQL shell)"
