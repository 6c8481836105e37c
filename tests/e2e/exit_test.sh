#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# exit_test.sh - issue 18's exit test, the scenario of docs/walkthrough.md:
#
# 1. Build. Local HTTP fixtures stand in for GH Archive
#    (tests/node/gharchive_server.cjs) and the GitHub REST API
#    (tests/node/github_api_server.cjs), serving 31 generated days with
#    every quirk of `kiln gen gharchive --quirks` (duplicates across hours,
#    a missing hour, NUL bytes, a malformed line, a lone surrogate) plus
#    transient faults (503s, a body cut mid-transfer, 502s and a dropped
#    connection on the API). Day 0 runs on main (the tables exist); then the
#    DAG `exit_backfill` backfills 30 days onto Iceberg branch `bf`: land
#    the hours over HTTP, MERGE pushes and commits (job.gh_events), pull the
#    user's events from the API, and once the window is complete build the
#    three marts with their data tests (models.build). The last day's hour
#    is truncated at the source: that day fails, the alert reaches a local
#    webhook endpoint, main stays untouched. The hour is republished,
#    `--rerun failed` finishes the window and fast-forwards main. Checked:
#    pushes and commits against Python counts of the served files, the
#    marts against DuckDB's computation from the same files.
# 2. Diagnose. A planted bug in stg_commits; `kiln run` publishes wrong
#    commits for the days it recomputed; `kiln test` fails the check on
#    stg_commits, `kiln lineage` leads from the wrong column to it; the fix
#    and a run of stg_commits+ over the affected days only restore the marts
#    (equal to the clean build); every other table keeps its snapshot id.
# 3. Converge. The pushes of some repos of two days (both sides of the
#    2025-10-07 payload change) arrive as signed webhooks at `kiln serve`;
#    `kiln verify convergence` against the served GH Archive hours exits 0;
#    a stream with a dropped delivery and an edited commit is reported with
#    its keys (exit 1).
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
case "$KILN_BIN" in */build-asan/*) SCALE=0.00005 ;; *) SCALE=0.0001 ;; esac
T="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
[ -z "${KEEP:-}" ] || echo "exit_test: kept in $T"
fail() { echo "FAIL: $*" >&2; exit 1; }
want() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }
t0=$SECONDS
step() { echo "exit_test: [$((SECONDS - t0))s] $*"; }
export PATH="$(dirname "$KILN_BIN"):$PATH"
K() { "$KILN_BIN" "$@"; }
P="$T/p"; W="$P/warehouse"
KP() { "$KILN_BIN" "$@" --project-dir "$P"; }
Q() { "$KILN_BIN" sql --warehouse "$W" --csv "$1" | tail -n +2; }
DAY0=2025-09-22; START=2025-09-23; END=2025-10-22
GEN=(--start "$DAY0" --days 31 --hours 2 --scale "$SCALE" --seed 18 --threads 2)

# ---------------------------------------------------------------- fixtures
step "fixtures: 31 days x 2 hours of GH Archive with quirks, the GitHub API"
K gen gharchive --out "$T/gen" "${GEN[@]}" --quirks >/dev/null
K gen gharchive --out "$T/clean" "${GEN[@]}" >/dev/null
K gen github-api --out "$T/api" "${GEN[@]}" >/dev/null
# what GH Archive serves: the quirked hours, except that the quirks'
# truncated hour was republished (served clean); the window's last hour is
# cut at the source until the test "republishes" it
mkdir -p "$T/gha"
cp "$T"/gen/*.json.gz "$T/gha/"
trunc="$(python3 -c 'import json,sys; q=json.load(open(sys.argv[1]))["truncated"]; print((q[0] if isinstance(q, list) else q)["file"])' "$T/gen/_quirks.json")"
cp "$T/clean/$trunc" "$T/gha/$trunc"
BAD="$END-1.json.gz"
cp "$T/gha/$BAD" "$T/$BAD.good"
head -c "$(($(stat -c %s "$T/gha/$BAD") / 2))" "$T/$BAD.good" >"$T/gha/$BAD"
missing="$(python3 -c 'import json,sys; q=json.load(open(sys.argv[1]))["missing"]; print((q[0] if isinstance(q, list) else q)["file"])' "$T/gen/_quirks.json" 2>/dev/null || true)"

start_node() { # LOGFILE PORTFILE-or-"" SCRIPT ARGS...: background node server, pid into PIDS
  local log="$1"; shift
  node "$@" >"$log.out" 2>"$log.err" &
  PIDS+=($!)
}
step servers; start_node "$T/gha_srv" "$KILN_ROOT/tests/node/gharchive_server.cjs" "$T/gha" "$T/gha.port" "$T/gha_http.log"
start_node "$T/api_srv" "$KILN_ROOT/tests/node/github_api_server.cjs" --port 0 --api "$T/api" --archive "$T/clean"
# the on-call endpoint: records every POST
python3 - "$T/alerts.ndjson" "$T/alert.port" <<'PY' >/dev/null 2>&1 &
import http.server, sys
out, portfile = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open(out, 'ab') as f:
            f.write(body + b'\n')
        self.send_response(200); self.end_headers(); self.wfile.write(b'{}')
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
open(portfile, 'w').write(str(s.server_port))
s.serve_forever()
PY
PIDS+=($!)
for _ in $(seq 100); do
  [ -s "$T/gha.port" ] && grep -q PORT "$T/api_srv.out" 2>/dev/null && [ -s "$T/alert.port" ] && break
  sleep 0.1
done
[ -s "$T/gha.port" ] || fail "GH Archive fixture did not start: $(cat "$T/gha_srv.err")"
grep -q PORT "$T/api_srv.out" || fail "GitHub API fixture did not start: $(cat "$T/api_srv.err")"
[ -s "$T/alert.port" ] || fail "alert endpoint did not start"
GHA="http://127.0.0.1:$(cat "$T/gha.port")"
API="http://127.0.0.1:$(awk '/PORT/{print $2}' "$T/api_srv.out")"
export KILN_ALERT_URL="http://127.0.0.1:$(cat "$T/alert.port")/oncall"
export KILN_INGEST_RETRY_BASE_MS=20 KILN_GITHUB_RETRY_BASE_MS=20
# transient faults, retried by the client: 503s, a body cut mid-transfer, a slow answer
curl -sS -X POST "$GHA/__fault?name=$START-0.json.gz&kind=503&n=2" >/dev/null
curl -sS -X POST "$GHA/__fault?name=2025-10-01-1.json.gz&kind=truncate&n=1" >/dev/null
curl -sS -X POST "$GHA/__fault?name=2025-10-09-0.json.gz&kind=slow&n=1" >/dev/null
curl -sS "$API/_control/fault?kind=s5xx&count=2" >/dev/null
curl -sS "$API/_control/fault?kind=reset&count=1" >/dev/null
# the user whose events the DAG pulls: the most active non-bot actor
step user; USR="$(python3 - "$T/gha" <<'PY'
import gzip, glob, json, collections, sys
c = collections.Counter()
for f in glob.glob(sys.argv[1] + '/*.json.gz'):
    try:
        for l in gzip.open(f, 'rt', errors='replace'):
            try: e = json.loads(l)
            except ValueError: continue
            if '[bot]' not in e['actor']['login']: c[e['actor']['login']] += 1
    except (EOFError, OSError): pass
print(c.most_common(1)[0][0])
PY
)"

# ---------------------------------------------------------------- project
step project; mkdir -p "$P"
(cd "$KILN_ROOT/examples/personal-api" && tar --exclude=./warehouse --exclude=./.kiln --exclude=./target \
  --exclude=./dags --exclude=./grafana -cf - .) | (cd "$P" && tar -xf -)
python3 "$P/scripts/api_seeds.py" "$T/api" "$P/seeds" >/dev/null
mkdir -p "$P/dags"
cat >"$P/dags/exit_backfill.yml" <<YML
# the exit test's backfill (docs/walkthrough.md)
schedule: "@daily"
start_date: $DAY0
catchup: false
max_active_runs: 1            # days in order: the window is complete when its last day has landed
on_failure: [local]           # kiln.yml: a webhook to \$KILN_ALERT_URL
params:
  window_end: "$END"
default_task:
  retries: 1
  retry_delay: 10ms
  timeout: 2m
tasks:
  land:                       # the day's hours from GH Archive (here: the local fixture)
    type: ingest.gharchive
    from: "$GHA"
    hours: "0-1"
    out: raw
    attempts: "4"
  events:                     # the user's recent events from the GitHub API (ETag-cached)
    type: ingest.github_api
    what: events
    user: "$USR"
    api_url: "$API"
    out: raw
    budget: "1000"
  load:                       # MERGE the day into github.pushes / github.commits
    type: job.gh_events
    needs: [land]
    in: raw
    warehouse: warehouse
    threads: 1
    allow_missing: "true"
  window_complete:            # the last day of the window has landed: build the models
    type: sensor.file
    needs: [load]
    path: "raw/gharchive/date={{ params.window_end }}/_manifest.json"
    poke_interval: 10ms
    timeout: 10ms
    soft_fail: true
  models:                     # seeds, 7 models, their data tests: the gate
    type: models.build
    needs: [window_complete, events]
    project_dir: .
    pool: models
YML
KP dags validate >/dev/null || fail "dags validate: $(KP dags validate 2>&1)"

step "day 0 on main (the tables exist), then the models on main"
KP dags run exit_backfill --date "$DAY0" >"$T/day0.txt" 2>&1 || { cat "$T/day0.txt"; fail "day 0"; }
K --warehouse "$W" build --project-dir "$P" >"$T/build0.txt" 2>&1 || { tail -20 "$T/build0.txt"; fail "build on main (day 0)"; }
heads() { # REF: "table=snapshot ..." of every table that has REF
  local t
  for t in $(K table --warehouse "$W" list | awk 'NR > 1 {print $1}'); do
    K table --warehouse "$W" branch "$t" | awk -v r="$1" -v t="$t" '$1 == r {printf "%s=%s ", t, $2}'
  done
}
main0="$(heads main)"
[ "$(echo "$main0" | wc -w)" -ge 9 ] || fail "main after day 0: $main0"

step "backfill $START..$END onto branch bf: the last day's hour is cut at the source"
set +e
KP dags backfill exit_backfill --start "$START" --end "$END" --branch bf >"$T/bf1.txt" 2>&1; rc=$?
set -e
[ "$rc" = 6 ] || { tail -20 "$T/bf1.txt"; fail "first backfill exit $rc, want 6"; }
grep -q "backfill on branch 'bf': 1 run(s) failed; main left untouched, the branch kept on 2 table(s)" "$T/bf1.txt" || fail "bf1: $(tail -5 "$T/bf1.txt")"
st() { sqlite3 "$P/.kiln/flow.db" "select state from task_instance where dag='exit_backfill' and task='$1' and logical_date='$2T00:00:00Z'"; }
want "$(st land "$END")" failed "the last day's land"
want "$(st models "$END")" upstream_failed "the last day's models"
want "$(st load 2025-10-21)" success "the day before"
want "$(st window_complete 2025-10-21)" skipped "the window was not complete on 2025-10-21"
want "$(sqlite3 "$P/.kiln/flow.db" "select count(*) from task_instance where dag='exit_backfill' and task='load' and state='success'")" 30 "loads done (day 0 and 29 days)"
KP logs exit_backfill land --date "$END" 2>&1 | grep -q "$BAD" || fail "the land log does not name $BAD"
want "$(heads main)" "$main0" "main untouched on every table"
# the alert reached the on-call endpoint (a detached sender: wait, bounded)
for _ in $(seq 100); do grep -qs '"task":"land"' "$T/alerts.ndjson" && grep -qs "branch 'bf'" "$T/alerts.ndjson" && break; sleep 0.1; done
python3 - "$T/alerts.ndjson" "$END" <<'PY' || fail "alerts: $(cat "$T/alerts.ndjson" 2>&1)"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
land = [x for x in a if x.get("task") == "land"]
assert land and land[0]["event"] == "failure" and land[0]["dag"] == "exit_backfill" and land[0]["logical_date"].startswith(sys.argv[2]), land
assert any("main left untouched" in (x.get("message") or "") for x in a), a
PY

step "the hour is republished; --rerun failed finishes the window and fast-forwards main"
cp "$T/$BAD.good" "$T/gha/$BAD"
KP dags backfill exit_backfill --start "$START" --end "$END" --branch bf --rerun failed >"$T/bf2.txt" 2>&1 ||
  { tail -30 "$T/bf2.txt"; fail "second backfill"; }
grep -q "branch 'bf': every run succeeded; swapped in on 9 table(s)" "$T/bf2.txt" || fail "no swap: $(tail -5 "$T/bf2.txt")"
want "$(heads main)" "$(heads bf)" "main fast-forwarded to bf on every table"
KP logs exit_backfill models --date "$END" >"$T/models.log" 2>&1
grep -Eq '^Done\. PASS=([0-9]+) WARN=[0-9]+ ERROR=0 SKIP=0 TOTAL=' "$T/models.log" || fail "models: $(grep Done "$T/models.log")"
KP logs exit_backfill land --date 2025-10-13 2>&1 | grep -q "missing" || fail "the quirks' missing hour is not reported"
# pushes on main: every distinct PushEvent the fixture served, counted by Python
pushes="$(python3 - "$T/gha" <<'PY'
import gzip, glob, json, sys
ids = set()
for f in glob.glob(sys.argv[1] + '/*.json.gz'):
    for l in gzip.open(f, 'rb').read().split(b'\n'):
        l = l.strip(b'\0 \r')
        if not l: continue
        try: e = json.loads(l)
        except ValueError: continue
        if e.get('type') == 'PushEvent': ids.add(e['id'])
print(len(ids))
PY
)"
want "$(Q "select count(*) from github.pushes")" "$pushes" "github.pushes on main vs the served PushEvents"
# commits on main: one row per (repo, sha, day) listed by a push payload (before 2025-10-07)
commits="$(python3 - "$T/gha" <<'PY'
import gzip, glob, json, sys
seen, keys = set(), set()
for f in glob.glob(sys.argv[1] + '/*.json.gz'):
    for l in gzip.open(f, 'rb').read().split(b'\n'):
        l = l.strip(b'\0 \r')
        try: e = json.loads(l)
        except ValueError: continue
        if e.get('type') != 'PushEvent' or e['id'] in seen: continue
        seen.add(e['id'])
        for c in e['payload'].get('commits') or []:
            keys.add((e['repo']['id'], c['sha'], e['created_at'][:10]))
print(len(keys))
PY
)"
want "$(Q "select count(*) from github.commits")" "$commits" "github.commits on main vs the served commit lists"
want "$(Q "select count(*) from github.\"pushes@bf\"")" "$pushes" "github.pushes on bf"
# the user's events landed from the API fixture (after a 502 x2 and a dropped connection)
ls "$P"/raw/github-events/user="$USR"/gharchive/date=*/hour=*/*.json.gz >/dev/null 2>&1 || fail "events not landed"
# the three marts against DuckDB's computation from the same hour files
mkdir -p "$T/marts" "$T/duck_raw"
for m in commits_per_repo_per_day commits_per_language_per_week weekly_activity; do
  K sql --warehouse "$W" --csv "select * from analytics.$m" >"$T/marts/$m.csv"
done
step "DuckDB recomputes the marts from the served hours"
python3 - "$T/gha" "$T/duck_raw" <<'PY'
import gzip, glob, json, os, re, sys
# DuckDB reads clean NDJSON: the lines kiln accepts (kiln quarantines the rest)
for f in glob.glob(sys.argv[1] + '/*.json.gz'):
    out = []
    for l in gzip.open(f, 'rb').read().split(b'\n'):
        l = l.strip(b'\0 \r')
        if not l: continue
        try: json.loads(l)
        except ValueError: continue
        # a lone surrogate: kiln writes U+FFFD for it, DuckDB rejects the line
        out.append(re.sub(rb'\\ud[89ab][0-9a-fA-F]{2}(?!\\ud[c-fC-F])', rb'\\ufffd', l))
    with gzip.open(os.path.join(sys.argv[2], os.path.basename(f)), 'wb') as g:
        g.write(b'\n'.join(out) + b'\n')
PY
(cd "$KILN_ROOT/tests/node" && node models_flagship_duckdb.mjs "$T/duck_raw" "$T/api" "$T/marts") >"$T/duck.txt" 2>&1 ||
  { cat "$T/duck.txt"; fail "the marts differ from DuckDB's"; }
step "build: ok"

# ---------------------------------------------------------------- 2. diagnose
step "diagnose: a planted bug in stg_commits, published by a plain kiln run"
cp "$P/models/staging/stg_commits.sql" "$T/stg_commits.good"
python3 - "$P/models/staging/stg_commits.sql" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
old = "join {{ ref('stg_pushes') }} as p on p.head = cast(c.head as text)"
assert old in s
# "only pushes with a commit count": no push has one since 2025-10-07
open(p, "w").write(s.replace(old, old + " and p.distinct_size is not null"))
PY
K --warehouse "$W" run --project-dir "$P" >"$T/run_bad.txt" 2>&1 || { tail "$T/run_bad.txt"; fail "kiln run with the bug"; }
# the symptom: days with pushes and no commits; exactly the days the incremental run recomputed
bad_days="$(Q "select day from analytics.commits_per_repo_per_day where day >= '2025-10-07'
               group by day having sum(pushes) > 0 and sum(commits) = 0 order by day" | tr '\n' ' ')"
want "$bad_days" "2025-10-20 2025-10-21 2025-10-22 " "days with pushes and no commits (the run's lookback window)"
set +e
K --warehouse "$W" test --project-dir "$P" --select +commits_per_repo_per_day >"$T/test_bad.txt" 2>&1; rc=$?
set -e
want "$rc" 1 "kiln test with the bug"
grep -E '^[0-9]+ of [0-9]+ FAIL' "$T/test_bad.txt" >"$T/fails.txt" || true
# the check on stg_commits itself, and the daily mart against its upstream
# (int_push_commits, rebuilt whole with the bug, no longer matches the days
# the incremental run did not recompute)
want "$(awk '{print $6}' "$T/fails.txt" | sort | tr '\n' ' ')" "assert_commit_rule_totals assert_compare_commits_reach_stg_commits " "failing tests"
K --warehouse "$W" lineage --project-dir "$P" analytics.commits_per_repo_per_day.commits >"$T/lineage.txt"
grep -q "<- analytics.stg_commits.\* (rows) (model)" "$T/lineage.txt" || fail "lineage does not reach stg_commits: $(cat "$T/lineage.txt")"
grep -q "via per_push.n = count(\*)" "$T/lineage.txt" || fail "lineage lacks the count(*) hop"

step "the fix, and a run over the affected days only"
# which partitions (days, ISO weeks) did the bad run change? The backfill's
# branch bf still holds the audited build: diff each mart against it
affected() { # MART KEY -> "FIRST LAST" of the KEY values whose rows differ between main and bf
  Q "select coalesce(min(k), ''), coalesce(max(k), '') from (
       select $2 as k from (select * from analytics.$1 except select * from analytics.\"$1@bf\")
       union select $2 from (select * from analytics.\"$1@bf\" except select * from analytics.$1))" | tr ',' ' '
}
read -r d1 d2 <<<"$(affected commits_per_repo_per_day day)"
want "$d1..$d2" "2025-10-20..2025-10-22" "affected days of the daily mart"
cp "$T/stg_commits.good" "$P/models/staging/stg_commits.sql"
mid="$(heads main)"
K --warehouse "$W" run --project-dir "$P" --select "stg_commits int_push_commits commits_per_repo_per_day" \
  --vars "{start_day: '$d1', end_day: '$d2'}" >"$T/run_fix.txt" 2>&1 || { tail "$T/run_fix.txt"; fail "the fix run"; }
for m in commits_per_language_per_week weekly_activity; do
  read -r w1 w2 <<<"$(affected $m week_start)"
  case "$w1 $w2" in "2025-10-13 2025-10-20" | "2025-10-20 2025-10-20" | "2025-10-13 2025-10-13") ;; *) fail "affected weeks of $m: '$w1 $w2'" ;; esac
  K --warehouse "$W" run --project-dir "$P" --select "$m" --vars "{start_day: '$w1', end_day: '$w2'}" >>"$T/run_fix.txt" 2>&1 ||
    { tail "$T/run_fix.txt"; fail "the fix run of $m"; }
done
after="$(heads main)"
rewritten=""
for kv in $mid; do
  t="${kv%%=*}"
  now="$(echo "$after" | tr ' ' '\n' | awk -F= -v t="$t" '$1 == t {print $0}')"
  [ "$now" = "$kv" ] || rewritten="$rewritten$t "
done
want "$rewritten" "analytics.commits_per_language_per_week analytics.commits_per_repo_per_day analytics.weekly_activity " \
  "the tables the fix rewrote (every other snapshot id unchanged)"
for m in commits_per_repo_per_day commits_per_language_per_week weekly_activity; do
  K sql --warehouse "$W" --csv "select * from analytics.$m" >"$T/fixed_$m.csv"
  cmp -s <(sort "$T/marts/$m.csv") <(sort "$T/fixed_$m.csv") || fail "$m after the fix differs from the clean build"
done
K --warehouse "$W" test --project-dir "$P" >"$T/test_ok.txt" 2>&1 || fail "kiln test after the fix: $(grep FAIL "$T/test_ok.txt")"
step "diagnose: ok"

# ---------------------------------------------------------------- 3. converge
step "converge: the pushes of 2025-10-06..07 as signed webhooks to kiln serve"
export KILN_WEBHOOK_SECRET=exit-test-secret
python3 - "$T/gha" "$T/api" "$T/hooks.json" <<'PY'
# the deliveries GitHub would send for the pushes of 10 repos (before and
# after the payload change): commits from the event, else its compare answer
import gzip, glob, json, os, sys, calendar, time
gha, api, out = sys.argv[1:4]
pushes = []
for f in sorted(glob.glob(gha + '/2025-10-0[67]-*.json.gz')):
    for l in gzip.open(f, 'rb').read().split(b'\n'):
        l = l.strip(b'\0 \r')
        try: e = json.loads(l)
        except ValueError: continue
        if e.get('type') == 'PushEvent': pushes.append(e)
seen, uniq = set(), []
for e in pushes:
    if e['id'] not in seen: seen.add(e['id']); uniq.append(e)
repos = []
for d in ('2025-10-06', '2025-10-07'):
    for e in [e for e in uniq if e['created_at'].startswith(d)][:5]:
        if e['repo']['name'] not in repos: repos.append(e['repo']['name'])
def compare(e):
    d = os.path.join(api, 'compare', e['repo']['name'])
    exact = os.path.join(d, e['payload']['before'] + '...' + e['payload']['head'] + '.json')
    if os.path.exists(exact): return json.load(open(exact))
    for n in (os.listdir(d) if os.path.isdir(d) else []):
        if n.endswith('...' + e['payload']['head'] + '.json'): return json.load(open(os.path.join(d, n)))
    raise SystemExit('no compare answer for ' + e['repo']['name'])
bodies = []
for e in [e for e in uniq if e['repo']['name'] in repos]:
    p = e['payload']
    if isinstance(p.get('commits'), list):
        commits = [{'id': c['sha'], 'message': c['message'], 'author': c['author'], 'distinct': c.get('distinct', True)} for c in p['commits']]
    else:
        commits = [{'id': c['sha'], 'message': c['commit']['message'], 'distinct': True,
                    'author': {'name': c['commit']['author']['name'], 'email': c['commit']['author']['email']}} for c in compare(e)['commits']]
    b = {'ref': p['ref'], 'before': p['before'], 'after': p['head'], 'created': False, 'deleted': False, 'forced': False,
         'commits': commits, 'sender': {'id': e['actor']['id'], 'login': e['actor']['login']},
         'repository': {'id': e['repo']['id'], 'full_name': e['repo']['name'],
                        'pushed_at': calendar.timegm(time.strptime(e['created_at'], '%Y-%m-%dT%H:%M:%SZ'))}}
    if e.get('org'): b['organization'] = {'id': e['org']['id'], 'login': e['org']['login']}
    bodies.append(b)
json.dump(bodies, open(out, 'w'))
PY
deliver() { # RAW HOOKS.json: start kiln serve on RAW, POST every body signed, stop it
  local raw="$1" hooks="$2"
  K serve --listen 127.0.0.1:0 --raw "$raw" >"$raw.out" 2>"$raw.err" &
  local srv=$!
  for _ in $(seq 100); do grep -q "listening on" "$raw.out" 2>/dev/null && break; sleep 0.1; done
  local url; url="$(grep -o 'http://127.0.0.1:[0-9]*' "$raw.out" | head -1)"
  [ -n "$url" ] || { kill "$srv"; fail "kiln serve did not start: $(cat "$raw.err")"; }
  python3 - "$url" "$hooks" <<'PY' || { kill "$srv"; fail "deliveries"; }
import hashlib, hmac, json, os, sys, urllib.request, uuid
url, hooks = sys.argv[1:3]
key = os.environ['KILN_WEBHOOK_SECRET'].encode()
for b in json.load(open(hooks)):
    body = json.dumps(b).encode()
    r = urllib.request.urlopen(urllib.request.Request(url + '/hooks/github', data=body, method='POST', headers={
        'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': str(uuid.uuid4()),
        'X-Hub-Signature-256': 'sha256=' + hmac.new(key, body, hashlib.sha256).hexdigest()}))
    assert r.status == 202, r.status
PY
  kill -TERM "$srv"; wait "$srv" || true
}
deliver "$T/raw_stream" "$T/hooks.json"
VC=(verify convergence --start 2025-10-06 --end 2025-10-07 --gharchive "$T/gha" --api "$T/api")
K "${VC[@]}" --raw "$T/raw_stream" --json >"$T/conv.json" || fail "verify convergence: exit $? $(cat "$T/conv.json")"
python3 - "$T/conv.json" "$T/hooks.json" <<'PY' || fail "convergence report: $(cat "$T/conv.json")"
import json, sys
r = json.load(open(sys.argv[1])); h = json.load(open(sys.argv[2]))
commits = {(b['repository']['id'], c['id']) for b in h for c in b['commits']}
assert r['equal'] and r['differences_total'] == 0, r
assert r['stream']['pushes'] == r['batch']['pushes'] == len(h), (r, len(h))
assert r['stream']['commits'] == r['batch']['commits'] == len(commits), (r, len(commits))
assert r['batch']['enriched_pushes'] > 0 and r['batch']['unenriched_pushes'] == 0, r
PY
step "converge: a stream with a dropped delivery and an edited commit message"
python3 - "$T/hooks.json" "$T/hooks_bad.json" "$T/planted.txt" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
i = next(i for i, b in enumerate(h) if b['commits'])
h[i]['commits'][0]['message'] += ' (edited)'
j = next(j for j in range(len(h)) if j != i and h[j]['repository']['id'] != h[i]['repository']['id'])
dropped = h.pop(j)
json.dump(h, open(sys.argv[2], 'w'))
open(sys.argv[3], 'w').write('%s %s %s %s\n' % (h[i if i < j else i - 1]['commits'][0]['id'], dropped['after'],
                             h[i if i < j else i - 1]['repository']['full_name'], dropped['repository']['full_name']))
PY
read -r sha head r1 r2 <"$T/planted.txt"
deliver "$T/raw_bad" "$T/hooks_bad.json"
set +e
K "${VC[@]}" --raw "$T/raw_bad" --repo "$r1" --repo "$r2" >"$T/conv_bad.txt" 2>&1; rc=$?
set -e
want "$rc" 1 "verify convergence on the divergent stream"
grep -q "^DIFFERENT: " "$T/conv_bad.txt" || fail "report: $(cat "$T/conv_bad.txt")"
grep -q "commit $r1 $sha: both, message differ" "$T/conv_bad.txt" || fail "the edited commit: $(cat "$T/conv_bad.txt")"
grep -Eq "push $r2 .*\.\.${head:0:12}: batch_only" "$T/conv_bad.txt" || fail "the dropped push: $(cat "$T/conv_bad.txt")"
step "converge: ok"
echo "exit_test: ok"
