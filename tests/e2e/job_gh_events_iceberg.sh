#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# kiln job gh-events --format iceberg, end to end (generated data 2025-10-04..06,
# commits present every day):
#  1. first run (one snapshot per table); the tables' data files, read by
#     DuckDB (read_parquet of `kiln table files --json`), equal the CSV output
#     of the same input row for row; icebird reads the same row counts;
#  2. idempotent re-run: no new snapshot (kiln table snapshots --json), the
#     summary reports no-op commits; again with > 65536 rows per partition,
#     re-run in chunks (--stage-mb 8);
#  2b. a chunked first run (--stage-mb 8) moves main once (write-audit-
#     publish through a staging branch): one history entry, several
#     snapshots, no branch left; killed after its first chunk, main is
#     untouched and the next run drops the staging branch and converges;
#  3. crash: SIGKILL after the commits table's data files are written
#     (KILN_TEST_GH_ICEBERG_KILL, a test hook) leaves both tables' main at
#     the previous snapshot (pushes, loaded first, are not published alone),
#     commits' new files listed by remove-orphans --dry-run; a re-run
#     converges to the clean run's contents (sorted scan output); the same
#     for a kill after the pushes' manifests (orphan .avro and .parquet);
#  4. --commit partition with a truncated hour file: exit 1, the failed day
#     contributes nothing, the other days commit (one snapshot per day), and
#     equal the CSV output of the same input;
#  5. --branch: rows land on the branch, main stays empty.
set -euo pipefail
: "${KILN_BIN:?}" "${KILN_ROOT:?}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
NODE_DIR="$KILN_ROOT/tests/node"
fail() { echo "FAIL: $*"; exit 1; }
K="$KILN_BIN"
nsnap() { KILN_WAREHOUSE="$1" "$K" table snapshots "$2" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
files_of() { # WAREHOUSE TABLE -> local paths of its data files
  KILN_WAREHOUSE="$1" "$K" table files "$2" --json | python3 -c '
import json, sys, urllib.parse
for l in sys.stdin:
    l = l.strip()
    if not l: continue
    o = json.loads(l)
    rows = o if isinstance(o, list) else [o]
    for r in rows:
        if r.get("content") == "data":
            p = r["file_path"]
            print(urllib.parse.unquote(p[7:]) if p.startswith("file://") else p)'
}
cmp_tables() { # CSV_OUT WAREHOUSE
  files_of "$2" github.pushes >"$T/pl"; files_of "$2" github.commits >"$T/cl"
  (cd "$NODE_DIR" && node esink_compare.mjs "$1" "$T/pl" "$T/cl")
}
scan_sorted() { # WAREHOUSE -> both tables' rows, sorted
  for t in github.pushes github.commits; do echo "== $t"; KILN_WAREHOUSE="$1" "$K" table scan "$t" --format csv | sort; done
}

"$K" gen gharchive --out "$T/in" --start 2025-10-04 --days 3 --hours 3 --scale 0.002 --seed 11 >/dev/null
"$K" job gh-events --in "$T/in" --out "$T/csv" --threads 2 >/dev/null

# ---- 1. first run
"$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wh" --threads 2 --json >"$T/r1.json"
python3 - "$T/r1.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
ib = {t["table"]: t for t in s["iceberg"]}
assert s["failed_partitions"] == 0, s
for name, key in (("github.pushes", "pushes"), ("github.commits", "commits")):
    t = ib[name]
    assert t["snapshots"] == 1 and t["rows_inserted"] == s["total"][key] > 0, (t, s["total"])
PY
[ "$(nsnap "$T/wh" github.pushes)" = 1 ] && [ "$(nsnap "$T/wh" github.commits)" = 1 ] || fail "first run: want one snapshot per table"
# the default staging directory keeps no Parquet copy of the loaded days
left="$(find "$T/wh/_staging/gh-events" -name '*.parquet' | wc -l)"
[ "$left" = 0 ] || fail "$left staged Parquet files left after the load"
KILN_WAREHOUSE="$T/wh" "$K" table describe github.commits --json | python3 -c '
import json, sys
d = json.load(sys.stdin); s = json.dumps(d)
assert "day" in s and "created_at" in s, "partition spec day(created_at) missing"' || fail "describe"
cmp_tables "$T/csv" "$T/wh" || fail "Iceberg data files (DuckDB) differ from the CSV output"
# the comparer can fail: leave one data file out
head -n -1 "$T/cl" >"$T/cl2"
if (cd "$NODE_DIR" && node esink_compare.mjs "$T/csv" "$T/pl" "$T/cl2") >"$T/bad.log" 2>&1; then fail "comparer missed a dropped data file"; fi
grep -q MISMATCH "$T/bad.log" || fail "comparer failed for another reason: $(tail -3 "$T/bad.log")"
if [ -d "$NODE_DIR/node_modules/icebird" ]; then
  for t in pushes commits; do
    KILN_WAREHOUSE="$T/wh" "$K" table scan "github.$t" --format ndjson >"$T/$t.ndjson"
    (cd "$NODE_DIR" && node lakedata_icebird.mjs "$T/wh/github/$t" "$T/$t.ndjson") >"$T/icebird.log" 2>&1 ||
      fail "icebird disagrees on github.$t: $(tail -5 "$T/icebird.log")"
  done
  echo "icebird: row sets equal ($(wc -l <"$T/pushes.ndjson") pushes, $(wc -l <"$T/commits.ndjson") commits)"
fi

# ---- 2. idempotent re-run (the inputs touched: with the same size, mtime
# and checksum the days would be skipped from metadata, job_gh_events_rerun.sh;
# here the MERGE itself must change nothing)
touch "$T"/in/*.json.gz
"$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wh" --threads 1 --json >"$T/r2.json"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
for t in s["iceberg"]:
    assert t["snapshots"] == 0 and t["noop_commits"] == 1 and t["files_added"] == 0, t' "$T/r2.json" || fail "re-run was not a no-op"
[ "$(nsnap "$T/wh" github.pushes)" = 1 ] && [ "$(nsnap "$T/wh" github.commits)" = 1 ] || fail "re-run added a snapshot"
scan_sorted "$T/wh" >"$T/clean.txt"
# ... also with > 65536 rows per partition (several data files and reader
# batches per partition): first one commit per table (--stage-mb 1024), then a
# re-run in chunked commits (--stage-mb 8), which must change nothing
"$K" gen gharchive --out "$T/big" --start 2025-10-04 --days 1 --scale 0.02 --seed 5 >/dev/null
"$K" job gh-events --in "$T/big" --format iceberg --warehouse "$T/wbig" --stage-mb 1024 --json >"$T/b1.json"
nb="$(nsnap "$T/wbig" github.commits)"
touch "$T"/big/*.json.gz
"$K" job gh-events --in "$T/big" --format iceberg --warehouse "$T/wbig" --stage-mb 8 --json >"$T/b2.json"
python3 - "$T/b1.json" "$T/b2.json" <<'PY' || fail "big re-run was not a no-op"
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
c = {t["table"]: t for t in a["iceberg"]}["github.commits"]
assert a["total"]["commits"] > 65536 and c["snapshots"] == 1, (a["total"], c)
for t in b["iceberg"]:
    assert t["snapshots"] == 0 and t["rows_inserted"] == 0 and t["rows_updated"] == 0, t
assert {t["table"]: t for t in b["iceberg"]}["github.commits"]["noop_commits"] >= 2, b["iceberg"]  # chunked
PY
[ "$(nsnap "$T/wbig" github.commits)" = "$nb" ] || fail "big re-run added a snapshot"
n="$(KILN_WAREHOUSE="$T/wbig" "$K" table scan github.commits --format ndjson | wc -l)"
[ "$n" = "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["commits"])' "$T/b1.json")" ] ||
  fail "github.commits holds $n rows after the re-run"

# ---- 2b. chunks are published in one commit
refs_of() { KILN_WAREHOUSE="$1" "$K" table branch "$2" --json | python3 -c 'import json,sys; print(" ".join(sorted(r["name"] for r in json.load(sys.stdin))))'; }
nhist() { KILN_WAREHOUSE="$1" "$K" table history "$2" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
"$K" job gh-events --in "$T/big" --format iceberg --warehouse "$T/wch" --stage-mb 8 --json >"$T/b3.json"
python3 - "$T/b3.json" <<'PY' || fail "chunked first run: want several snapshots published once"
import json, sys
for t in json.load(open(sys.argv[1]))["iceberg"]:
    if t["table"] == "github.commits":
        assert t["snapshots"] >= 2 and t["published"] == 1, t
PY
[ "$(nhist "$T/wch" github.commits)" = 1 ] || fail "chunked run: main's history has $(nhist "$T/wch" github.commits) entries, want 1"
# the day was bigger than the budget: its chunks are key-range buckets, so the
# data files' sha ranges do not overlap (later MERGEs skip them by bounds)
python3 - "$T/b3.json" <<'PY' || fail "chunked run did not use key-range buckets"
import json, sys
t = {x["table"]: x for x in json.load(open(sys.argv[1]))["iceberg"]}["github.commits"]
assert t["buckets"] >= 2 and t["snapshots"] == t["buckets"], t
PY
files_of "$T/wch" github.commits | while read -r f; do "$K" parquet meta "$f" | awk '/^  sha:/ {for (i=1;i<=NF;i++) {if ($i=="min") mn=$(i+1); if ($i=="max") mx=$(i+1)} print mn, mx}'; done |
  sort | awk 'NR > 1 && $1 <= prev {bad=1; print "overlap: " prevline " / " $0} {prev=$2; prevline=$0} END {exit bad}' ||
  fail "bucketed data files overlap in sha"
[ "$(refs_of "$T/wch" github.commits)" = main ] || fail "chunked run left refs: $(refs_of "$T/wch" github.commits)"
KILN_WAREHOUSE="$T/wbig" "$K" table scan github.commits --format csv | sort >"$T/big1.txt"
KILN_WAREHOUSE="$T/wch" "$K" table scan github.commits --format csv | sort >"$T/big2.txt"
cmp -s "$T/big1.txt" "$T/big2.txt" || fail "chunked run differs from the one-commit run"
# killed after the first chunk's commit (at the second chunk's data files)
set +e
KILN_TEST_GH_ICEBERG_KILL=commits:data:2 "$K" job gh-events --in "$T/big" --format iceberg --warehouse "$T/wck" --stage-mb 8 >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 137 ] || fail "chunk kill: exit $rc, want 137"
[ "$(nhist "$T/wck" github.commits)" = 0 ] || fail "a killed chunked run made main move"
n="$(KILN_WAREHOUSE="$T/wck" "$K" table scan github.commits --format csv | tail -n +2 | wc -l)"
[ "$n" = 0 ] || fail "a killed chunked run left $n rows visible on main"
[[ "$(refs_of "$T/wck" github.commits)" == kiln-stage-gh-events-* ]] || fail "no staging branch after the kill: $(refs_of "$T/wck" github.commits)"
"$K" job gh-events --in "$T/big" --format iceberg --warehouse "$T/wck" --stage-mb 8 >"$T/ck.out" 2>"$T/ck.err"
[ "$(refs_of "$T/wck" github.commits)" = main ] || fail "the stale staging branch was not dropped: $(refs_of "$T/wck" github.commits)"
grep -q "iceberg github.commits: dropped 1 staging branch" "$T/ck.out" || fail "dropping the stale staging branch was not reported: $(cat "$T/ck.out" "$T/ck.err")"
KILN_WAREHOUSE="$T/wck" "$K" table scan github.commits --format csv | sort >"$T/big3.txt"
cmp -s "$T/big1.txt" "$T/big3.txt" || fail "the run after the chunk kill differs from the clean run"

# ---- 3. crash, orphans, converge
"$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wc" --start 2025-10-04 --end 2025-10-04 >/dev/null
before="$(KILN_WAREHOUSE="$T/wc" "$K" table snapshots github.commits --json)"
set +e
KILN_TEST_GH_ICEBERG_KILL=commits:data "$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wc" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 137 ] || fail "crash run: exit $rc, want 137 (SIGKILL)"
after="$(KILN_WAREHOUSE="$T/wc" "$K" table snapshots github.commits --json)"
[ "$before" = "$after" ] || fail "killed run changed github.commits' snapshots"
# pushes were loaded (into their staging branch) but not published: both
# tables are published together after both are loaded
[ "$(nhist "$T/wc" github.pushes)" = 1 ] || fail "pushes were published although commits never were"
[[ "$(refs_of "$T/wc" github.pushes)" == *kiln-stage-gh-events-* ]] || fail "pushes: no staging branch after the kill"
KILN_WAREHOUSE="$T/wc" "$K" table remove-orphans github.commits --dry-run --older-than 0s >"$T/orph.txt"
grep -q '\.parquet' "$T/orph.txt" || fail "no orphan data files listed after the kill: $(cat "$T/orph.txt")"
KILN_WAREHOUSE="$T/wc" "$K" table scan github.commits --format csv >/dev/null || fail "table unreadable after the kill"
"$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wc" >/dev/null
scan_sorted "$T/wc" >"$T/conv.txt"
cmp -s "$T/clean.txt" "$T/conv.txt" || fail "re-run after the crash differs from the clean run: $(diff "$T/clean.txt" "$T/conv.txt" | head -5)"
KILN_WAREHOUSE="$T/wc" "$K" table remove-orphans github.commits --older-than 0s >/dev/null
scan_sorted "$T/wc" >"$T/conv2.txt"
cmp -s "$T/clean.txt" "$T/conv2.txt" || fail "removing the orphans changed the contents"

# ... and killed after the pushes' manifests and manifest list are written
"$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wm" --start 2025-10-04 --end 2025-10-04 >/dev/null
set +e
KILN_TEST_GH_ICEBERG_KILL=pushes:manifests "$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wm" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 137 ] || fail "crash run (manifests): exit $rc, want 137"
[ "$(nsnap "$T/wm" github.pushes)" = 1 ] && [ "$(nsnap "$T/wm" github.commits)" = 1 ] || fail "kill after manifests changed a table"
KILN_WAREHOUSE="$T/wm" "$K" table remove-orphans github.pushes --dry-run --older-than 0s >"$T/orph2.txt"
grep -q '\.avro' "$T/orph2.txt" && grep -q '\.parquet' "$T/orph2.txt" || fail "orphan manifests/data not listed: $(cat "$T/orph2.txt")"
"$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wm" >/dev/null
scan_sorted "$T/wm" >"$T/conv3.txt"
cmp -s "$T/clean.txt" "$T/conv3.txt" || fail "re-run after the manifests crash differs from the clean run"

# ---- 4. per-partition commits, a failed day (--keep-going: the days after it still load)
cp -r "$T/in" "$T/q"
f="$T/q/2025-10-05-1.json.gz"
head -c $(( $(stat -c %s "$f") / 2 )) "$f" >"$f.cut" && mv "$f.cut" "$f"
"$K" job gh-events --in "$T/q" --out "$T/qcsv" --keep-going >/dev/null 2>&1 || true
set +e
"$K" job gh-events --in "$T/q" --format iceberg --warehouse "$T/wp" --commit partition --keep-going --json >"$T/r4.json" 2>"$T/r4.err"
rc=$?
set -e
[ "$rc" = 6 ] || fail "truncated input: exit $rc, want 6 (partial); $(cat "$T/r4.err")"
python3 - "$T/r4.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
st = {p["date"]: p["status"] for p in s["partitions"]}
assert st == {"2025-10-04": "ok", "2025-10-05": "failed", "2025-10-06": "ok"}, st
assert s["status"] == "partial", s["status"]
for t in s["iceberg"]:
    assert t["snapshots"] == 2, t   # one per day that committed
PY
[ "$(nsnap "$T/wp" github.commits)" = 2 ] || fail "--commit partition: want 2 snapshots"
n="$(KILN_WAREHOUSE="$T/wp" "$K" table scan github.pushes --where "created_at between '2025-10-05T00:00:00Z' and '2025-10-05T23:59:59Z'" --format csv | tail -n +2 | wc -l)"
[ "$n" = 0 ] || fail "failed day has $n rows in github.pushes"
cmp_tables "$T/qcsv" "$T/wp" || fail "per-partition tables differ from the CSV output of the same input"

# ---- 5. --branch
"$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wb" --branch dev --start 2025-10-04 --end 2025-10-04 >/dev/null
nm="$(KILN_WAREHOUSE="$T/wb" "$K" table scan github.pushes --format csv | tail -n +2 | wc -l)"
nd="$(KILN_WAREHOUSE="$T/wb" "$K" table scan github.pushes --ref dev --format csv | tail -n +2 | wc -l)"
[ "$nm" = 0 ] && [ "$nd" -gt 0 ] || fail "--branch dev: main has $nm rows, dev $nd"

echo "ok: gh-events --format iceberg: matches CSV via DuckDB, idempotent, crash-safe and convergent, failed day isolated, branch"
