#!/usr/bin/env bash
# kiln job gh-events: the same rows in every format. Hand-made hours where
# pushes of one day carry the same commit (same repo and sha): across hours,
# twice in one push, with a lower push_id in a later hour, in another repo,
# and again the next day. The commits table's grain is (repo_id, sha) per
# day, the later push wins (greater push_id, then later hour, then later
# entry of the list), as the Iceberg MERGE keeps it:
#  1. the CSV rows are exactly the expected winners, the summary counts the
#     superseded rows;
#  2. Parquet files, NDJSON and the Iceberg table's data files hold the same
#     row sets as CSV (DuckDB reads each independently);
#  3. DuckDB computing the grain from the raw hour files agrees.
set -euo pipefail
: "${KILN_BIN:?}" "${KILN_ROOT:?}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
K="$KILN_BIN"
NODE_DIR="$KILN_ROOT/tests/node"
fail() { echo "FAIL: $*"; exit 1; }

python3 - "$T/in" <<'PY'
import gzip, json, os, sys
d = sys.argv[1]; os.makedirs(d)
def push(eid, push_id, repo, ts, commits):
    rid, name = repo
    return {"id": str(eid), "type": "PushEvent", "actor": {"id": 5, "login": "al"},
            "repo": {"id": rid, "name": name},
            "payload": {"push_id": push_id, "size": len(commits), "distinct_size": len(commits),
                        "ref": "refs/heads/main", "head": "h", "before": "b",
                        "commits": [{"sha": s, "author": {"name": "A", "email": "a@x"}, "message": m,
                                     "distinct": dist} for s, m, dist in commits]},
            "public": True, "created_at": ts}
RA, RB = (7, "o/a"), (8, "o/b")
A, B, C, D = "a" * 40, "b" * 40, "c" * 40, "d" * 40
hours = {
    "2025-01-01-3.json.gz": [push(1001, 500, RA, "2025-01-01T03:10:00Z", [(A, "a1", True), (B, "b1", True)]),
                             push(1002, 501, RB, "2025-01-01T03:20:00Z", [(A, "a-other-repo", True)])],
    "2025-01-01-4.json.gz": [push(1005, 450, RA, "2025-01-01T04:00:00Z", [(A, "a-lower-push-id", True)])],
    # zero-padded name: read like GH Archive's own
    "2025-01-01-05.json.gz": [push(1003, 600, RA, "2025-01-01T05:00:00Z", [(B, "b2", False), (C, "c1", True)]),
                              push(1004, 700, RA, "2025-01-01T05:30:00Z", [(D, "d-first", True), (D, "d-second", False)])],
    "2025-01-02-0.json.gz": [push(2001, 800, RA, "2025-01-02T00:05:00Z", [(A, "a-next-day", True)])],
}
for name, evs in hours.items():
    with gzip.open(os.path.join(d, name), "wt") as f:
        for e in evs:
            f.write(json.dumps(e) + "\n")
PY

"$K" job gh-events --in "$T/in" --out "$T/csv" --json >"$T/csv.json"
"$K" job gh-events --in "$T/in" --out "$T/pq" --format parquet >/dev/null
"$K" job gh-events --in "$T/in" --out "$T/nd" --format ndjson >/dev/null
"$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wh" --json >"$T/ice.json"

# ---- 1. the CSV rows are the expected winners
python3 - "$T/csv" "$T/csv.json" "$T/ice.json" <<'PY'
import csv, glob, json, sys
out, s, ice = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
rows = set()
for f in sorted(glob.glob(f"{out}/commits/date=*/part-*.csv")):
    day = f.split("date=")[1][:10]
    for r in csv.DictReader(open(f, encoding="utf-8")):
        rows.add((day, r["repo_id"], r["sha"][0], r["push_id"], r["message"], r["distinct"]))
want = {("2025-01-01", "7", "a", "500", "a1", "true"),            # beats push_id 450 of a later hour
        ("2025-01-01", "8", "a", "501", "a-other-repo", "true"),  # another repo: its own row
        ("2025-01-01", "7", "b", "600", "b2", "false"),           # the later push
        ("2025-01-01", "7", "c", "600", "c1", "true"),
        ("2025-01-01", "7", "d", "700", "d-second", "false"),     # twice in one push: the later entry
        ("2025-01-02", "7", "a", "800", "a-next-day", "true")}    # another day: its own row
assert rows == want, (sorted(rows - want), sorted(want - rows))
t = s["total"]
assert t["commits"] == 6 and t["commits_superseded"] == 3 and t["files"] == 4, t
assert s["status"] == "ok", s
c = {x["table"]: x for x in ice["iceberg"]}["github.commits"]
assert c["rows_inserted"] == 6, c
PY

# ---- 2. every format holds the same rows
files_of() { # WAREHOUSE TABLE -> local paths of its data files
  KILN_WAREHOUSE="$1" "$K" table files "$2" --json | python3 -c '
import json, sys, urllib.parse
for l in sys.stdin:
    l = l.strip()
    if not l: continue
    o = json.loads(l)
    for r in (o if isinstance(o, list) else [o]):
        if r.get("content") == "data":
            p = r["file_path"]
            print(urllib.parse.unquote(p[7:]) if p.startswith("file://") else p)'
}
find "$T/pq/pushes" -name '*.parquet' | sort >"$T/pq_p"
find "$T/pq/commits" -name '*.parquet' | sort >"$T/pq_c"
(cd "$NODE_DIR" && node esink_compare.mjs "$T/csv" "$T/pq_p" "$T/pq_c") || fail "parquet rows differ from csv"
files_of "$T/wh" github.pushes >"$T/ice_p"
files_of "$T/wh" github.commits >"$T/ice_c"
(cd "$NODE_DIR" && node esink_compare.mjs "$T/csv" "$T/ice_p" "$T/ice_c") || fail "iceberg rows differ from csv"
n="$(cat "$T"/nd/commits/date=*/part-*.ndjson | wc -l)"
[ "$n" = 6 ] || fail "ndjson has $n commit rows, want 6"

# ---- 3. DuckDB's own grain over the raw hours
(cd "$NODE_DIR" && node engine_gh_duckdb.mjs compare csv "$T/csv" "$T"/in/*.json.gz) || fail "DuckDB's grain differs"
(cd "$NODE_DIR" && node engine_gh_duckdb.mjs compare ndjson "$T/nd" "$T"/in/*.json.gz) || fail "DuckDB's grain differs (ndjson)"
echo "ok: gh-events: one commit per (repo_id, sha) and day, the later push's, in csv, ndjson, parquet and iceberg"
