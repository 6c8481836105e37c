#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# The flagship DAG (examples/personal-api/dags/github_backfill.yml: land ->
# job.gh_events into Iceberg -> models.build of the day with its data tests
# -> publish) as one DAG, on three generated days, backfilled on Iceberg
# branch bf with the example's kiln.yml. A failpoint's failed load try is
# retried; day 2 misses an hour file, so its load passes and its data test
# assert_days_have_every_hour fails: publish upstream_failed, main untouched
# on every table, the alert reaches a local HTTP server. The hour arrives:
# --rerun failed runs that day only and publishes main on every table (the
# models' included) to the branch heads. The models build records its
# tables as materializations; a re-run executes nothing and writes no table.
source "$(dirname "$0")/flow_lib.bash"
export PATH="$(dirname "$KILN_BIN"):$PATH"
(cd "$KILN_ROOT/examples/personal-api" && tar --exclude=./warehouse --exclude=./.kiln --exclude=./target \
   --exclude=./logs -cf - .) | (cd "$P" && tar -xf -)
# the generated days have 3 hours (the DAG's hours_per_day is GH Archive's 24)
sed -i 's/^  hours_per_day: 24 /  hours_per_day: 3  /' "$P/dags/github_backfill.yml"
grep -q '^  hours_per_day: 3 ' "$P/dags/github_backfill.yml" || fail "hours_per_day param not set"
expect_rc 0 K dags validate
"$KILN_BIN" gen gharchive --start 2025-10-05 --days 3 --hours 3 --scale 0.001 --seed 3 --threads 1 \
  --out "$P/incoming/gharchive" >/dev/null
"$KILN_BIN" gen github-api --start 2025-10-05 --days 3 --hours 3 --scale 0.001 --seed 3 --threads 1 \
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

heads() { # REF: "table=snapshot ..." of every table (main: -1 when it has no snapshot yet)
  local t
  for t in $("$KILN_BIN" table --warehouse "$P/warehouse" list | awk 'NR > 1 {print $1}'); do
    printf '%s=%s ' "$t" "$("$KILN_BIN" table --warehouse "$P/warehouse" branch "$t" | awk -v r="$1" '$1 == r {print $2}')"
  done
}
S() { "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "$@" | tail -n +2; }

# day 2's hour 1 never arrived; day 1's load fails its first try on purpose
mkdir -p "$P/held"
mv "$P/incoming/gharchive/2025-10-06-1.json.gz" "$P/held/"
export KILN_FAILPOINT="flow.task=github_backfill.load@2025-10-05:fail-tries=1"
expect_rc 6 K dags backfill github_backfill --start 2025-10-05 --end 2025-10-07 --branch bf
grep -q "backfill on branch 'bf': 1 run(s) failed; main left untouched, the branch kept on 9 table(s)" <<<"$OUT" ||
  fail "gate: $OUT"
for d in 2025-10-05 2025-10-07; do
  for t in land load models publish; do want "$(state github_backfill $t $d)" success "$t $d"; done
done
want "$(tries github_backfill load 2025-10-05)" 2 "the failpoint's try was retried"
want "$(state github_backfill load 2025-10-06)" success "load of the day with a missing hour"
want "$(state github_backfill models 2025-10-06)" failed "models of the day with a missing hour"
want "$(state github_backfill publish 2025-10-06)" upstream_failed "publish after a failed test"
log="$P/.kiln/logs/github_backfill/2025-10-06T00:00:00Z/models.try-1.log"
grep -q "FAIL 1 assert_days_have_every_hour" "$log" || fail "the test is the gate: $(grep -E 'FAIL|ERROR' "$log")"
# main untouched: no table has a main snapshot (every table was created on the branch)
main0="$(heads main)"
[ "$(tr ' ' '\n' <<<"$main0" | grep -c '=-\?[0-9]')" = 0 ] || fail "main moved: $main0"
want "$(tr ' ' '\n' <<<"$(heads bf)" | grep -c '=[0-9]')" 9 "tables on the branch"
want "$(S "select count(*) from github.pushes")" 0 "main's pushes"
# the model tables are materializations of the models task, at the branch's heads
day1="$(K runs github_backfill | sed -n '/2025-10-05/,/publish/p')"
grep -Eq -- "-> analytics.commits_per_repo_per_day \[2025-10-05..2025-10-05\] snapshot [0-9]+, [0-9]+ rows" <<<"$day1" ||
  fail "model materialization: $day1"
grep -Eq -- "-> github.pushes \[2025-10-05..2025-10-05\] snapshot" <<<"$day1" || fail "load materialization: $day1"
for _ in $(seq 100); do grep -qs '"task":"models"' "$P/received.ndjson" && grep -qs "branch 'bf'" "$P/received.ndjson" && break; sleep 0.1; done
python3 - "$P/received.ndjson" <<'PY' || fail "alert payload: $(cat "$P/received.ndjson")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
m = [e for e in ev if e.get('task') == 'models']
assert len(m) == 1 and (m[0]['event'], m[0]['dag'], m[0]['logical_date']) == \
       ('failure', 'github_backfill', '2025-10-06T00:00:00Z'), ev
assert any("main left untouched" in (e.get('message') or '') for e in ev), ev
PY

# the hour arrives: land's consumed files changed, so --rerun failed runs
# day 2 from land on; every day passed: main of every table = the branch
unset KILN_FAILPOINT
mv "$P/held/2025-10-06-1.json.gz" "$P/incoming/gharchive/"
expect_rc 0 K dags backfill github_backfill --start 2025-10-05 --end 2025-10-07 --branch bf --rerun failed
grep -q "branch 'bf': every run succeeded; swapped in on 9 table(s)" <<<"$OUT" || fail "publish: $OUT"
grep -q "tasks: 4 ran ok" <<<"$OUT" || fail "only day 2 runs again: $OUT"
want "$(heads main)" "$(heads bf)" "main = bf on every table"
want "$(state github_backfill publish 2025-10-06)" success "publish after the repair"
done_line="$(grep -h "^Done. PASS=" "$P/.kiln/logs/github_backfill/2025-10-06T00:00:00Z/models.try-2.log")"
[[ "$done_line" =~ ^Done\.\ PASS=([0-9]+)\ WARN=([0-9]+)\ ERROR=0\ SKIP=0\ TOTAL=([0-9]+)$ ]] &&
  [ "$((BASH_REMATCH[1] + BASH_REMATCH[2]))" = "${BASH_REMATCH[3]}" ] && [ "${BASH_REMATCH[1]}" -ge 50 ] ||
  fail "models build log: '$done_line'"
# the marts on main hold every day, and match the pushes (Python reads the hour files)
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
want "$(S "select count(*) from github.pushes")" "$py" "pushes on main vs the hour files"
want "$(S "select sum(pushes) from analytics.commits_per_repo_per_day")" "$py" "the daily mart on main"
want "$(S "select count(distinct day) from analytics.commits_per_repo_per_day")" 3 "the mart's days"

# a re-run: nothing starts, no table is written (every metadata file unchanged)
before="$("$KILN_BIN" table --warehouse "$P/warehouse" list | md5sum)"
expect_rc 0 K dags backfill github_backfill --start 2025-10-05 --end 2025-10-07 --branch bf --rerun all
grep -q "; 0 tries started" <<<"$OUT" || fail "re-run started tries: $OUT"
want "$("$KILN_BIN" table --warehouse "$P/warehouse" list | md5sum)" "$before" "tables after the re-run"
echo "flow_flagship: ok"
