#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# ingest_github_lake.sh - `kiln ingest github-repos` and `kiln ingest
# github-compare` against the local GitHub REST look-alike
# (tests/node/github_api_server.cjs on 127.0.0.1, stopped on exit) serving
# the `kiln gen github-api` tree that matches `kiln gen gharchive` hours
# loaded with `kiln job gh-events --format iceberg`:
# - github.repos gets one current row per repo of github.pushes whose
#   values equal the fixture's files (python reads them independently);
# - a language change upstream (server patch) closes that repo's row and
#   opens a new one (SCD2: valid_to = the new valid_from); other repos are
#   untouched; a run with no change writes nothing; a point-in-time join
#   attributes each time to the language of that time;
# - github-compare fills github.commits for pushes since 2025-10-07 with
#   exactly the fixture's commits (compare pages of 2 commits: pagination),
#   keys (repo_id, sha) unique; 404 / 451 / 409 answers are recorded as
#   unavailable, not fatal; a re-run asks no compare again (cached per
#   before...head) and changes nothing; --filter limits the pushes;
# - github.pushes gets its size from the compare's total_commits;
# - 5xx and rate-limit faults in the middle are retried.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
srv=""
cleanup() {
  if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
K="$KILN_BIN"
D=2025-10-08
cd "$tmp"

"$K" gen gharchive --out gha --start $D --hours 3 --scale 0.0005 --threads 1 > /dev/null
"$K" gen github-api --out api --start $D --hours 3 --scale 0.0005 --threads 1 > /dev/null
"$K" job gh-events --in gha --format iceberg -w wh > /dev/null 2>&1 || fail "job"
node "$KILN_ROOT/tests/node/github_api_server.cjs" --port 0 --api api --compare-per-page 2 > server.out 2> server.err &
srv=$!
for _ in $(seq 100); do grep -q PORT server.out 2>/dev/null && break; kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
grep -q PORT server.out || { cat server.err; fail "the GitHub API server did not start"; }
URL="http://127.0.0.1:$(awk '/PORT/{print $2}' server.out)"
ctl() { curl -sS "$URL/_control/$1" > /dev/null; }
export KILN_GITHUB_RETRY_BASE_MS=20 KILN_GITHUB_SECONDARY_WAIT_MS=200
gh() { "$K" ingest "$@" -w wh --api-url "$URL" --budget 100000 --json; }
sqlj() { "$K" sql -w wh --json -c "$1"; }

# --- github-repos, first observation
ctl "fault?kind=s5xx&count=2&match=/repos/"
ctl "fault?kind=ratelimit&count=1&seconds=1&match=/repos/"
gh github-repos --observed-at 2025-10-09T00:00:00Z > r1.json 2> r1.err || fail "repos: $(cat r1.json r1.err)"
sqlj "select repo_id, repo_name, max(created_at) as t from github.pushes group by repo_id" > pushes.json
sqlj "select * from github.repos" > repos1.json
python3 - <<'EOF' || fail "github.repos differs from the fixture"
import json
r = json.load(open('r1.json'))
pushes = json.load(open('pushes.json'))
rows = json.load(open('repos1.json'))
assert r['repos'] == len(pushes) and r['opened'] == len(pushes) and r['unavailable'] == 0, r
assert r['retries'] >= 3 and r['rate_waits'] == 1, r
assert len(rows) == len(pushes), (len(rows), len(pushes))
by = {x['repo_id']: x for x in rows}
for p in pushes:
    row = by[p['repo_id']]
    f = json.load(open(f"api/repos/{p['repo_name']}.json"))
    assert row['full_name'] == f['full_name'], (row, f['full_name'])
    assert row['language'] == f['language'], (row, f['language'])
    assert row['default_branch'] == f['default_branch']
    assert bool(row['fork']) == f['fork'] and bool(row['archived']) == f['archived']
    assert row['valid_from'].startswith('2025-10-09T00:00:00') and row['valid_to'] is None and row['is_current']
EOF

# --- a language change upstream: one version closed, one opened
REPO="$(python3 -c "import json; print(json.load(open('pushes.json'))[0]['repo_name'])")"
RID="$(python3 -c "import json; print(json.load(open('pushes.json'))[0]['repo_id'])")"
ctl "patch?repo=$REPO&field=language&value=Zig"
gh github-repos --observed-at 2025-10-10T00:00:00Z > r2.json 2> r2.err || fail "repos 2: $(cat r2.json r2.err)"
python3 -c "
import json; r = json.load(open('r2.json')); n = json.load(open('r1.json'))['repos']
assert r['opened'] == 1 and r['closed'] == 1 and r['unchanged'] == n - 1 and r['not_modified'] >= n - 1, r
" || fail "repos 2: $(cat r2.json)"
sqlj "select language, valid_from, valid_to, is_current from github.repos where repo_id = $RID order by valid_from" > hist.json
python3 - <<'EOF' || fail "SCD2 history wrong: $(cat hist.json)"
import json
h = json.load(open('hist.json'))
assert len(h) == 2, h
assert h[0]['valid_to'].startswith('2025-10-10T00:00:00') and not h[0]['is_current'] and h[0]['language'] != 'Zig', h
assert h[1]['valid_from'].startswith('2025-10-10T00:00:00') and h[1]['valid_to'] is None and h[1]['is_current'], h
assert h[1]['language'] == 'Zig', h
EOF
[ "$(sqlj "select count(*) as n from github.repos" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["n"])')" = \
  "$(python3 -c "import json; print(len(json.load(open('pushes.json'))) + 1)")" ] || fail "other repos changed"
# point in time: the language a repo had at a given moment
sqlj "select language from github.repos where repo_id = $RID and valid_from <= '2025-10-09T12:00:00Z' and (valid_to is null or valid_to > '2025-10-09T12:00:00Z')" > pit.json
python3 -c "
import json; p = json.load(open('pit.json')); assert len(p) == 1 and p[0]['language'] != 'Zig', p" || fail "point in time: $(cat pit.json)"
gh github-repos --observed-at 2025-10-11T00:00:00Z > r3.json 2> r3.err || fail "repos 3: $(cat r3.json r3.err)"
python3 -c "
import json; r = json.load(open('r3.json'))
assert r['opened'] == 0 and r['closed'] == 0 and r['inserted'] == 0, r" || fail "repos 3 wrote: $(cat r3.json)"

# --- github-compare with unavailable repos
sqlj "select push_id, repo_id, repo_name, \"before\", head from github.pushes where created_at >= '2025-10-07' order by push_id" > cp.json
read -r R404 R451 R409 <<< "$(python3 -c "
import json; p = json.load(open('cp.json'))
names = sorted({x['repo_name'] for x in p if '[bot]' not in x['repo_name']})
print(names[0], names[1], names[2])")"
ctl "status?match=/repos/$R404/compare/&code=404"
ctl "status?match=/repos/$R451/compare/&code=451"
ctl "status?match=/repos/$R409/compare/&code=409"
ctl "fault?kind=s5xx&count=1&match=/compare/"
gh github-compare > c1.json 2> c1.err || fail "compare: $(cat c1.json c1.err)"
sqlj "select repo_id, sha, push_id, author_name, message from github.commits" > commits1.json
python3 - "$R404" "$R451" "$R409" <<'EOF' || fail "github.commits differs from the fixture: $(cat c1.json)"
import json, sys
bad = set(sys.argv[1:])
c = json.load(open('c1.json'))
pushes = json.load(open('cp.json'))
want = {}
unavail = 0
for p in pushes:
    if p['repo_name'] in bad:
        unavail += 1
        continue
    base = p['before']
    if set(base) == {'0'}:
        base = json.load(open(f"api/repos/{p['repo_name']}.json"))['default_branch']
    f = json.load(open(f"api/compare/{p['repo_name']}/{base}...{p['head']}.json"))
    for cm in f['commits']:
        k = (p['repo_id'], cm['sha'])
        if k not in want or want[k][0] < p['push_id']:
            want[k] = (p['push_id'], cm['commit']['author']['name'], cm['commit']['message'])
rows = json.load(open('commits1.json'))
got = {(r['repo_id'], r['sha']): (r['push_id'], r['author_name'], r['message']) for r in rows}
assert len(got) == len(rows), 'duplicate (repo_id, sha)'
assert c['pushes'] == len(pushes) and c['unavailable'] == unavail and unavail >= 3, (c, unavail)
assert c['pages'] > c['fetched'], ('no pagination', c)
assert set(got) == set(want), (len(got), len(want))
for k in want:
    assert got[k][1:] == want[k][1:], (k, got[k], want[k])
EOF
sqlj "select push_id, size from github.pushes where created_at >= '2025-10-07'" > sizes.json
python3 - "$R404" "$R451" "$R409" <<'EOF' || fail "github.pushes sizes differ from the fixture's total_commits"
import json, sys
bad = set(sys.argv[1:])
sizes = {r['push_id']: r['size'] for r in json.load(open('sizes.json'))}
c = json.load(open('c1.json'))
n = 0
for p in json.load(open('cp.json')):
    if p['repo_name'] in bad:
        assert sizes[p['push_id']] is None, p
        continue
    base = p['before']
    if set(base) == {'0'}:
        base = json.load(open(f"api/repos/{p['repo_name']}.json"))['default_branch']
    f = json.load(open(f"api/compare/{p['repo_name']}/{base}...{p['head']}.json"))
    assert sizes[p['push_id']] == f['total_commits'], (p, sizes[p['push_id']], f['total_commits'])
    n += 1
assert c['sizes_set'] == n, (c, n)
EOF
[ -f wh/_cache/github-compare/_unavailable.json ] || fail "unavailable compares not recorded"
python3 -c "
import json; u = json.load(open('wh/_cache/github-compare/_unavailable.json'))
assert sorted({x['status'] for x in u}) == [404, 409, 451], u" || fail "unavailable record"

# --- re-run: every compare from the cache, nothing written
gh github-compare > c2.json 2> c2.err || fail "compare 2: $(cat c2.json c2.err)"
python3 -c "
import json; c = json.load(open('c2.json')); c1 = json.load(open('c1.json'))
assert c['fetched'] == 0 and c['cached'] == c1['fetched'] and c['inserted'] == 0 and c['updated'] == 0, c
assert c['sizes_set'] == 0, c" ||
  fail "compare re-run: $(cat c2.json)"
curl -sS "$URL/_control/log" | python3 -c "
import json, sys; l = json.load(sys.stdin)
n = sum(1 for e in l if '/compare/' in e['path'])
print(n)" > ncompare.txt

# --- --filter limits the pushes
ACTOR="$(sqlj "select actor_login from github.pushes group by actor_login order by count(*) desc limit 1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["actor_login"])')"
gh github-compare --filter "actor=$ACTOR" > c3.json 2> c3.err || fail "filter: $(cat c3.json c3.err)"
N="$(sqlj "select count(*) as n from github.pushes where actor_login = '$ACTOR' and created_at >= '2025-10-07'" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["n"])')"
python3 -c "
import json; c = json.load(open('c3.json')); assert c['pushes'] == $N, (c, $N)" || fail "filter: $(cat c3.json)"
set +e
"$K" ingest github-compare -w wh --api-url "$URL" --filter "colour=red" > /dev/null 2>&1; rc=$?
set -e
[ "$rc" = 2 ] || fail "bad --filter: exit $rc (want 2)"
set +e
"$K" ingest github-repos -w nowhere --api-url "$URL" > /dev/null 2> nw.err; rc=$?
set -e
[ "$rc" != 0 ] || fail "a warehouse without github.pushes exited 0"
echo "ok ingest_github_lake"
