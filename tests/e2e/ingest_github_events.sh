#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# ingest_github_events.sh - `kiln ingest github-events` against a local
# GitHub REST look-alike (tests/node/github_api_server.cjs, started here on
# 127.0.0.1 on a free port, stopped on exit) serving the events of
# `kiln gen gharchive` hours per user, with real headers and faults:
# - Link pagination (per_page 3) reaches every event of the user; the landed
#   hour files hold exactly the source's events (checked by python, JSON
#   equality per id), as GH Archive lines; the token is sent on every
#   request and appears in no output;
# - a re-run sends If-None-Match on every page, gets 304s (free: the
#   server's X-RateLimit-Remaining does not move) and rewrites nothing;
# - a 502, a dropped connection, a body cut half way, a primary rate limit (403, Remaining 0,
#   Reset in 2 s: waited out, not failed) and a secondary limit (403 +
#   Retry-After) are all retried to success;
# - write-once: an hour landed without an event stays as it is (counted);
#   a state older than the API window is reported as a gap;
# - the request budget stops the run with an error; a bad token is exit 3;
#   an unknown user exit 4; a reset too far away fails fast with the reset
#   time; bad options exit 2;
# - --follow: two rounds paced by X-Poll-Interval, events added to the
#   feed between them land in the second; SIGTERM ends the wait at once
#   (exit 0); --rounds without --follow is exit 2;
# - `kiln job gh-events --in RAW/github-events/user=U` reads the landed
#   hours: its pushes are the user's PushEvents.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
srv=""
srv2=""
cleanup() {
  if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
  if [ -n "$srv2" ]; then kill "$srv2" 2>/dev/null || true; wait "$srv2" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
K="$KILN_BIN"
D=2025-10-08
cd "$tmp"

"$K" gen gharchive --out gha --start $D --hours 6 --scale 0.002 --threads 1 > /dev/null
TOKEN="ghp_testTOKEN0123456789secret"
node "$KILN_ROOT/tests/node/github_api_server.cjs" --port 0 --archive gha --token "$TOKEN" > server.out 2> server.err &
srv=$!
for _ in $(seq 100); do grep -q PORT server.out 2>/dev/null && break; kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
grep -q PORT server.out || { cat server.err; fail "the GitHub API server did not start"; }
URL="http://127.0.0.1:$(awk '/PORT/{print $2}' server.out)"
ctl() { curl -sS "$URL/_control/$1" > /dev/null; }
# the human with the most events
U="$(python3 - <<'EOF'
import gzip, glob, json, collections
c = collections.Counter()
for f in glob.glob('gha/*.json.gz'):
    for l in gzip.open(f, 'rt'):
        e = json.loads(l)
        if '[bot]' not in e['actor']['login']:
            c[e['actor']['login']] += 1
print(c.most_common(1)[0][0])
EOF
)"
export GITHUB_TOKEN="$TOKEN" KILN_GITHUB_RETRY_BASE_MS=20 KILN_GITHUB_SECONDARY_WAIT_MS=500
ev() { "$K" ingest github-events --user "$U" --api-url "$URL" --per-page 3 "$@"; }

# --- first run: paginated, landed, equal to the source
ev --out raw --json > run1.json 2> err1.txt || fail "first run: $(cat run1.json err1.txt)"
python3 - "$U" <<'EOF' || fail "first run: landed events differ from the source"
import gzip, glob, json, sys
u = sys.argv[1]
src = {}
for f in glob.glob('gha/*.json.gz'):
    for l in gzip.open(f, 'rt'):
        e = json.loads(l)
        if e['actor']['login'] == u:
            src[e['id']] = e
got = {}
for f in glob.glob(f'raw/github-events/user={u}/gharchive/date=*/hour=*/*.json.gz'):
    hour = f.split('hour=')[1].split('/')[0]
    prev = ''
    for l in gzip.open(f, 'rt'):
        e = json.loads(l)
        assert e['id'] not in got, 'duplicate ' + e['id']
        assert int(e['created_at'][11:13]) == int(hour), 'event in the wrong hour file'
        assert e['created_at'] >= prev, 'not oldest first'
        prev = e['created_at']
        got[e['id']] = e
run = json.load(open('run1.json'))
assert run['events'] == len(src), (run['events'], len(src))
assert run["pages"] == (len(src) + 2) // 3, run
assert set(got) == set(src), (len(got), len(src))
for k in src:
    assert got[k] == src[k], k
EOF
grep -q "\"requests\":$(python3 -c "import json;print(json.load(open('run1.json'))['pages'])")," run1.json || fail "one request per page expected: $(cat run1.json)"
curl -sS "$URL/_control/log" > log1.json
python3 -c "
import json; l = json.load(open('log1.json'))
assert l and all(e['auth'] for e in l), 'a request without the token'
assert not any(e['inm'] for e in l), 'If-None-Match on a first run'
" || fail "first run requests: $(cat log1.json)"
grep -q "$TOKEN" run1.json err1.txt && fail "the token was printed"
state="raw/github-events/user=$U/_state.json"
[ -f "$state" ] || fail "no state object"
find raw/github-events -name '*.json.gz' -exec sha256sum {} + | sort > sums1.txt

# --- re-run: every page answered 304 from the cache, nothing rewritten
ctl reset
ev --out raw --json > run2.json 2> err2.txt || fail "re-run: $(cat run2.json err2.txt)"
python3 -c "
import json; r = json.load(open('run2.json')); r1 = json.load(open('run1.json'))
assert r['not_modified'] == r['pages'] == r1['pages'], r
assert r['hours_landed'] == 0 and r['hours_unchanged'] == r1['hours_landed'], r
assert r['events'] == r1['events'], r
assert r['rate_remaining'] == 5000, ('a 304 spent the rate limit', r)
" || fail "re-run: $(cat run2.json)"
curl -sS "$URL/_control/log" | python3 -c "
import json, sys; l = json.load(sys.stdin)
assert all(e['inm'] and e['status'] == 304 for e in l), l
" || fail "re-run did not send If-None-Match everywhere"
find raw/github-events -name '*.json.gz' -exec sha256sum {} + | sort > sums2.txt
cmp -s sums1.txt sums2.txt || fail "re-run changed landed objects"

# --- faults: 502, reset, primary limit (Reset in 2 s), secondary limit
ctl reset
ctl "fault?kind=s5xx&count=1&match=page=2"
ctl "fault?kind=reset&count=1&match=page=3"
ctl "fault?kind=truncate&count=1&match=page=3"
ctl "fault?kind=ratelimit&count=1&seconds=2&match=page=4"
ctl "fault?kind=secondary&count=1&seconds=1&match=per_page=3%26page=5"
t0=$(date +%s)
ev --out raw2 --json > run3.json 2> err3.txt || fail "fault run: $(cat run3.json err3.txt)"
t1=$(date +%s)
python3 -c "
import json; r = json.load(open('run3.json')); r1 = json.load(open('run1.json'))
assert r['events'] == r1['events'] and r['hours_landed'] == r1['hours_landed'], r
assert r['retries'] >= 5 and r['rate_waits'] == 1 and r['secondary_waits'] == 1, r
" || fail "fault run: $(cat run3.json)"
[ $((t1 - t0)) -ge 2 ] || fail "the primary rate limit was not waited out ($((t1 - t0)) s)"
(cd raw2 && find github-events -name '*.json.gz' -exec sha256sum {} + | sort) > sums3.txt
(cd raw && find github-events -name '*.json.gz' -exec sha256sum {} + | sort) > sums1b.txt
cmp -s sums1b.txt sums3.txt || fail "the fault run landed other bytes"

# --- write-once: an hour landed earlier without one event is kept as it
# is (the event is counted as not landed); a state older than the API's
# window is reported as a gap
h="$(ls raw2/github-events/user="$U"/gharchive/date=*/hour=*/*.json.gz | head -1)"
python3 - "$h" <<'EOF'
import gzip, sys
lines = gzip.open(sys.argv[1], 'rt').read().splitlines(True)
assert len(lines) >= 1
with gzip.open(sys.argv[1], 'wt') as f:
    f.writelines(lines[1:])
EOF
sha_before="$(sha256sum "$h" | cut -d' ' -f1)"
printf '{"user":"%s","newest_id":1,"newest_created_at":"2015-01-01T00:00:00Z"}\n' "$U" > "raw2/github-events/user=$U/_state.json"
ctl reset
ev --out raw2 --json > run5.json 2> err5b.txt || fail "partial run: $(cat run5.json err5b.txt)"
python3 -c "
import json; r = json.load(open('run5.json'))
assert r['hours_partial'] == 1 and r['events_not_landed'] == 1 and r['hours_landed'] == 0, r
assert r['gap'] is True, r" || fail "partial run: $(cat run5.json)"
[ "$(sha256sum "$h" | cut -d' ' -f1)" = "$sha_before" ] || fail "a landed hour was rewritten"
grep -q "write-once" err5b.txt || fail "no write-once warning: $(cat err5b.txt)"
grep -q "events in between are lost" err5b.txt || fail "no gap warning: $(cat err5b.txt)"

# --- a secondary limit that never lifts: retries end in an error
ctl reset
ctl "fault?kind=s429&count=50&seconds=0"
set +e
ev --out raw4 --retries 3 > out4.txt 2> err4.txt; rc=$?
set -e
[ "$rc" != 0 ] || fail "a permanent secondary limit exited 0"
grep -q "secondary rate limit" err4.txt || grep -q "HTTP 429" err4.txt || fail "no rate-limit message: $(cat err4.txt)"

# --- a reset too far away: an error naming it, at once
ctl reset
ctl "fault?kind=ratelimit&count=1&seconds=7200"
set +e
ev --out raw5 --max-wait 60 > out5.txt 2> err5.txt; rc=$?
set -e
[ "$rc" != 0 ] || fail "a rate limit beyond --max-wait exited 0"
grep -q "rate limit is spent until" err5.txt || fail "no reset time: $(cat err5.txt)"

# --- the budget
ctl reset
set +e
ev --out raw6 --budget 2 > out6.txt 2> err6.txt; rc=$?
set -e
[ "$rc" != 0 ] || fail "an exhausted budget exited 0"
grep -q "request budget of 2" err6.txt || fail "no budget message: $(cat err6.txt)"
[ "$(curl -sS "$URL/_control/log" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] ||
  fail "more requests than the budget"

# --- bad token, unknown user, bad options
set +e
GITHUB_TOKEN=wrong ev --out raw7 > out7.txt 2> err7.txt; rc=$?
set -e
[ "$rc" = 3 ] || fail "bad token: exit $rc (want 3): $(cat err7.txt)"
grep -q "GITHUB_TOKEN" err7.txt || fail "bad token message: $(cat err7.txt)"
grep -q "wrong" err7.txt && fail "the token was printed"
set +e
"$K" ingest github-events --user no-such-user-xyz --api-url "$URL" --out raw8 2> err8.txt; rc=$?
set -e
[ "$rc" = 4 ] || fail "unknown user: exit $rc (want 4): $(cat err8.txt)"
for bad in "--out raw9" "--user $U" "--user a/b --out raw9" "--user $U --out raw9 --per-page 0" \
  "--user $U --out raw9 --budget 0"; do
  set +e
  # shellcheck disable=SC2086
  "$K" ingest github-events --api-url "$URL" $bad > /dev/null 2>&1; rc=$?
  set -e
  [ "$rc" = 2 ] || fail "bad options '$bad': exit $rc (want 2)"
done

# --- --follow: rounds paced by X-Poll-Interval (2 s here); events that
# appear between rounds land in the next one; SIGTERM ends the wait at once
mkdir gha-part
cp gha/$D-0.json.gz gha/$D-1.json.gz gha/$D-2.json.gz gha-part/
node "$KILN_ROOT/tests/node/github_api_server.cjs" --port 0 --archive gha-part --token "$TOKEN" --poll-interval 2 \
  > server2.out 2> server2.err &
srv2=$!
for _ in $(seq 100); do grep -q PORT server2.out 2>/dev/null && break; sleep 0.1; done
URL2="http://127.0.0.1:$(awk '/PORT/{print $2}' server2.out)"
"$K" ingest github-events --user "$U" --api-url "$URL2" --out rawf --follow --rounds 2 --interval 0 --json \
  > follow.json 2> follow.err &
fpid=$!
for _ in $(seq 150); do [ "$(grep -c . follow.json 2>/dev/null)" -ge 1 ] && break; sleep 0.1; done
t_round1=$(date +%s%N)
cp gha/$D-3.json.gz gha/$D-4.json.gz gha/$D-5.json.gz gha-part/
curl -sS "$URL2/_control/reload" > /dev/null
wait "$fpid" || fail "follow: $(cat follow.json follow.err)"
t_end=$(date +%s%N)
[ "$(grep -c '"ok":true' follow.json)" = 2 ] && grep -q '"round":2' follow.json || fail "follow rounds: $(cat follow.json)"
[ $(((t_end - t_round1) / 1000000)) -ge 1500 ] || fail "the second round did not wait for X-Poll-Interval"
python3 - "$U" <<'EOF' || fail "follow: the events of both rounds did not all land"
import gzip, glob, json, sys
u = sys.argv[1]
src = {json.loads(l)['id'] for f in glob.glob('gha/*.json.gz') for l in gzip.open(f, 'rt') if json.loads(l)['actor']['login'] == u}
got = [json.loads(l)['id'] for f in glob.glob(f'rawf/github-events/user={u}/gharchive/date=*/hour=*/*.json.gz') for l in gzip.open(f, 'rt')]
r = [json.loads(l) for l in open('follow.json')]
assert len(got) == len(set(got)) and set(got) == src, (len(got), len(src))
assert r[0]['hours_landed'] > 0 and r[1]['hours_landed'] > 0, r
EOF
"$K" ingest github-events --user "$U" --api-url "$URL2" --out rawf --follow --interval 30 > follow2.out 2>&1 &
fpid=$!
for _ in $(seq 150); do grep -q "ingest github-events" follow2.out && break; sleep 0.1; done
sleep 0.3
t0=$(date +%s%N)
kill -TERM "$fpid"
wait "$fpid" || fail "follow stopped by SIGTERM: exit $?: $(cat follow2.out)"
[ $((($(date +%s%N) - t0) / 1000000)) -lt 2000 ] || fail "SIGTERM did not end the wait at once"
[ "$(grep -c "ingest github-events $U" follow2.out)" = 1 ] || fail "follow2: $(cat follow2.out)"
kill "$srv2"; wait "$srv2" 2>/dev/null || true
srv2=""
set +e
"$K" ingest github-events --user "$U" --api-url "$URL2" --out rawf --rounds 2 > /dev/null 2>&1; rc=$?
set -e
[ "$rc" = 2 ] || fail "--rounds without --follow: exit $rc (want 2)"

# --- the job reads the landed hours
"$K" job gh-events --in "raw/github-events/user=$U" --out job --format ndjson > job.txt 2>&1 || fail "job: $(cat job.txt)"
python3 - "$U" <<'EOF' || fail "job pushes differ from the user's PushEvents"
import gzip, glob, json, sys
u = sys.argv[1]
want = set()
for f in glob.glob('gha/*.json.gz'):
    for l in gzip.open(f, 'rt'):
        e = json.loads(l)
        if e['actor']['login'] == u and e['type'] == 'PushEvent':
            want.add(int(e['payload']['push_id']))
got = set()
for f in glob.glob('job/pushes/date=*/*'):
    for l in open(f):
        got.add(int(json.loads(l)['push_id']))
assert want and got == want, (len(got), len(want))
EOF
echo "ok ingest_github_events"
