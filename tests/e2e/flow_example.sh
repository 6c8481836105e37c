#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# The flagship DAGs (examples/personal-api: github_backfill.yml, land ->
# job.gh_events into Iceberg -> summary per day; github_models.yml, the
# project's dbt build + a query) on three generated days, with the example's
# kiln.yml. A failpoint's failed try is retried; a day without files fails
# and its on_failure alert reaches a local HTTP server; without a
# dbt_project.yml the models step is skipped, with it the flagship models
# build and all their tests pass (API seeds made from the same generator
# arguments); a re-run executes nothing and adds no snapshot.
source "$(dirname "$0")/flow_lib.bash"
export PATH="$(dirname "$KILN_BIN"):$PATH"
(cd "$KILN_ROOT/examples/personal-api" && tar --exclude=./warehouse --exclude=./.kiln --exclude=./target \
   --exclude=./logs -cf - .) | (cd "$P" && tar -xf -)
mv "$P/dbt_project.yml" "$P/dbt_project.yml.off"
expect_rc 0 K dags validate
"$KILN_BIN" gen gharchive --start 2025-10-05 --days 3 --hours 4 --scale 0.001 --seed 3 --threads 1 \
  --out "$P/incoming/gharchive" >/dev/null
"$KILN_BIN" gen github-api --start 2025-10-05 --days 3 --hours 4 --scale 0.001 --seed 3 --threads 1 \
  --out "$P/api" >/dev/null
python3 "$P/scripts/api_seeds.py" "$P/api" "$P/seeds" >/dev/null

# a local endpoint for the alert (kiln.yml: webhook, url_env KILN_ALERT_URL)
python3 - "$P/received.ndjson" "$P/port" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        b = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        open(sys.argv[1], 'ab').write(b + b'\n')
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
open(sys.argv[2], 'w').write(str(s.server_port)); s.serve_forever()
PY
srv=$!
trap 'kill $srv 2>/dev/null; rm -rf "$P"' EXIT
for _ in $(seq 50); do [ -s "$P/port" ] && break; sleep 0.1; done
export KILN_ALERT_URL="http://127.0.0.1:$(cat "$P/port")/hook"

# day 2's load fails its first try on purpose; day 3's land copies nothing
# (its files are taken away), so its load fails after every retry
mkdir -p "$P/held"
mv "$P"/incoming/gharchive/2025-10-07-* "$P/held/"
export KILN_FAILPOINT="flow.task=github_backfill.load@2025-10-06:fail-tries=1"
expect_rc 6 K dags backfill github_backfill --start 2025-10-05 --end 2025-10-07
for d in 2025-10-05 2025-10-06; do
  want "$(state github_backfill load $d)" success "load $d"
  want "$(state github_backfill summary $d)" success "summary $d"
done
want "$(tries github_backfill load 2025-10-06)" 2 "the failpoint's try was retried"
grep -q "failpoint flow.task=github_backfill.load@2025-10-06:fail-tries=1: try 1 fails on purpose" \
  "$P/.kiln/logs/github_backfill/2025-10-06T00:00:00Z/load.try-1.log" || fail "failpoint log"
want "$(state github_backfill load 2025-10-07)" failed "load of a day without files"
want "$(state github_backfill summary 2025-10-07)" upstream_failed "summary after a failed load"
for _ in $(seq 100); do [ -s "$P/received.ndjson" ] && break; sleep 0.1; done
python3 - "$P/received.ndjson" <<'PY' || fail "alert payload: $(cat "$P/received.ndjson")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(ev) == 1, ev
e = ev[0]
assert (e['event'], e['dag'], e['task'], e['logical_date'], e['try']) == \
       ('failure', 'github_backfill', 'load', '2025-10-07T00:00:00Z', 3), e
PY
# the tables hold exactly the pushes of the two loaded days (Python reads the hour files)
py="$(python3 - "$P/incoming/gharchive" <<'PY'
import gzip, json, os, sys
ids = set()
for f in os.listdir(sys.argv[1]):
    if f.endswith('.json.gz'):
        for l in gzip.open(os.path.join(sys.argv[1], f), 'rt'):
            e = json.loads(l)
            if e['type'] == 'PushEvent':
                ids.add(e['payload']['push_id'])
print(len(ids))
PY
)"
expect_rc 0 "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select count(*) from github.pushes"
want "$(echo "$OUT" | tail -1)" "$py" "pushes in Iceberg vs the hour files"
grep -q "day *| pushes" "$P/.kiln/logs/github_backfill/2025-10-05T00:00:00Z/summary.try-1.log" || fail "summary output"

# the files arrive; land's key already succeeded (a key does not cover the
# files a command reads), so the day is cleared from land down and run again
unset KILN_FAILPOINT
mv "$P"/held/* "$P/incoming/gharchive/"
expect_rc 0 K tasks clear github_backfill land --date 2025-10-07 --downstream
expect_rc 0 K dags backfill github_backfill --start 2025-10-05 --end 2025-10-07 --rerun failed
want "$(state github_backfill load 2025-10-07)" success "load after the files arrived"

# the models: skipped without a dbt project, built and tested with one
expect_rc 0 K dags run github_models --date 2025-10-07
want "$(state github_models models_ready 2025-10-07)" skipped "models_ready without a project"
want "$(state github_models models 2025-10-07)" skipped "models without a project"
mv "$P/dbt_project.yml.off" "$P/dbt_project.yml"
expect_rc 0 K dags run github_models --date 2025-10-07
want "$(state github_models models 2025-10-07)" success "models with the project"
want "$(state github_models top 2025-10-07)" success "top"
# every node of the project built and passed (the count follows the project)
done_line="$(grep -h "^Done. PASS=" "$P/.kiln/logs/github_models/2025-10-07T00:00:00Z/models".try-*.log | tail -n1)"
[[ "$done_line" =~ ^Done\.\ PASS=([0-9]+)\ WARN=0\ ERROR=0\ SKIP=0\ TOTAL=([0-9]+)$ ]] &&
  [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && [ "${BASH_REMATCH[1]}" -ge 50 ] ||
  fail "models build log: '$done_line'"
grep -q "repo_name" "$P/.kiln/logs/github_models/2025-10-07T00:00:00Z/top.try-1.log" || fail "top output"

# a re-run: nothing starts, no snapshot is added
snaps() { "$KILN_BIN" table --warehouse "$P/warehouse" snapshots "$1" | md5sum; }
b1="$(snaps github.pushes)"; b2="$(snaps github.commits)"
expect_rc 0 K dags backfill github_backfill --start 2025-10-05 --end 2025-10-07 --rerun all
grep -q "; 0 tries started" <<<"$OUT" || fail "re-run started tries: $OUT"
expect_rc 0 K dags run github_models --date 2025-10-07
grep -q "; 0 tries started" <<<"$OUT" || fail "models re-run started tries: $OUT"
want "$(snaps github.pushes)" "$b1" "pushes snapshots after the re-run"
want "$(snaps github.commits)" "$b2" "commits snapshots after the re-run"
echo ok
