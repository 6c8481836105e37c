#!/usr/bin/env bash
# ingest_flow.sh - the orchestrator's ingest task types, run in-process by
# `kiln dags backfill`: ingest.gharchive (the interval's hours from a
# file:// source into the raw zone), job.gh_events reading that raw zone,
# ingest.github_api what: repos / compare / events against the local GitHub
# REST look-alike (tests/node/github_api_server.cjs on 127.0.0.1). Checked:
# every task succeeds, the raw zone holds the source bytes, github.repos
# has one current row per repo of github.pushes, github.commits has the
# compare commits (python counts them from the fixture), the events landed,
# the task logs name the equivalent command lines; a bad `what:` fails the
# task; a re-run of the DAG starts no try.
source "$(dirname "$0")/flow_lib.bash"
export PATH="$(dirname "$KILN_BIN"):$PATH"
srv=""
trap 'if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi; rm -rf "$P"' EXIT
D=2025-10-08
cd "$P"
"$KILN_BIN" gen gharchive --out gen --start $D --hours 3 --scale 0.0005 --threads 1 > /dev/null
"$KILN_BIN" gen github-api --out api --start $D --hours 3 --scale 0.0005 --threads 1 > /dev/null
node "$KILN_ROOT/tests/node/github_api_server.cjs" --port 0 --api api --archive gen > server.out 2> server.err &
srv=$!
for _ in $(seq 100); do grep -q PORT server.out 2>/dev/null && break; kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
grep -q PORT server.out || { cat server.err; fail "the GitHub API server did not start"; }
URL="http://127.0.0.1:$(awk '/PORT/{print $2}' server.out)"
USER_="$(python3 - <<'EOF'
import gzip, glob, json, collections
c = collections.Counter()
for f in glob.glob('gen/*.json.gz'):
    for l in gzip.open(f, 'rt'):
        e = json.loads(l)
        if '[bot]' not in e['actor']['login']:
            c[e['actor']['login']] += 1
print(c.most_common(1)[0][0])
EOF
)"
cat > dags/src.yml <<YML
schedule: "@daily"
start_date: $D
default_task: {timeout: 5m}
tasks:
  land:
    type: ingest.gharchive
    from: "file://$P/gen"
    hours: "0-2"
    out: raw
  load:
    type: job.gh_events
    needs: [land]
    in: raw
    warehouse: warehouse
    threads: 1
  repos:
    type: ingest.github_api
    needs: [load]
    what: repos
    api_url: "$URL"
    warehouse: warehouse
    budget: "100000"
  compare:
    type: ingest.github_api
    needs: [repos]
    what: compare
    api_url: "$URL"
    warehouse: warehouse
    budget: "100000"
  events:
    type: ingest.github_api
    what: events
    user: "$USER_"
    api_url: "$URL"
    out: raw
YML
expect_rc 0 K dags validate
expect_rc 0 K dags backfill src --start $D --end $D
for t in land load repos compare events; do want "$(state src $t $D)" success "$t"; done
for h in 0 1 2; do
  cmp -s "raw/gharchive/date=$D/hour=$h/$D-$h.json.gz" "gen/$D-$h.json.gz" || fail "hour $h not landed as the source"
done
n_repos="$("$KILN_BIN" sql --warehouse warehouse --csv "select count(distinct repo_id) from github.pushes" | tail -1)"
n_cur="$("$KILN_BIN" sql --warehouse warehouse --csv "select count(*) from github.repos where is_current" | tail -1)"
want "$n_cur" "$n_repos" "github.repos current rows"
want_commits="$(python3 - <<'EOF'
import json, glob
keys = set()
for f in glob.glob('api/compare/*/*/*.json'):
    repo = f.split('/')[2] + '/' + f.split('/')[3]
    for c in json.load(open(f))['commits']:
        keys.add((repo, c['sha']))
print(len(keys))
EOF
)"
n_commits="$("$KILN_BIN" sql --warehouse warehouse --csv "select count(*) from github.commits" | tail -1)"
[ "$n_commits" -gt 0 ] || fail "no commits merged"
want "$n_commits" "$want_commits" "github.commits rows vs the fixture's compare commits"
ls raw/github-events/user="$USER_"/gharchive/date=$D/hour=*/*.json.gz > /dev/null 2>&1 || fail "events not landed"
grep -q "kiln ingest gharchive --from file://$P/gen --start $D --end $D --hours 0-2 --out raw" \
  "$P/.kiln/logs/src/${D}T00:00:00Z/land.try-1.log" || fail "land log: $(cat "$P/.kiln/logs/src/${D}T00:00:00Z/land.try-1.log")"
grep -q "kiln ingest github-compare --warehouse warehouse --api-url $URL" \
  "$P/.kiln/logs/src/${D}T00:00:00Z/compare.try-1.log" || fail "compare log: $(cat "$P/.kiln/logs/src/${D}T00:00:00Z/compare.try-1.log")"

# ---- a re-run starts no try
expect_rc 0 K dags backfill src --start $D --end $D
grep -q "0 tries started" <<<"$OUT" || fail "re-run started tries: $OUT"

# ---- a bad what: fails the task, not the DAG file
cat > dags/bad.yml <<YML
schedule: "@daily"
start_date: $D
tasks:
  x:
    type: ingest.github_api
    what: stars
    api_url: "$URL"
    retries: 0
YML
expect_rc 0 K dags validate
set +e; K dags backfill bad --start $D --end $D > bad.out 2>&1; set -e
want "$(state bad x $D)" failed "bad what:"
grep -q "not one of events, repos, compare" "$P/.kiln/logs/bad/${D}T00:00:00Z/x.try-1.log" || fail "bad what message"
echo "ok ingest_flow"
