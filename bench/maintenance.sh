#!/usr/bin/env bash
# Compaction of a MERGE-heavy table, against the same rows written fresh.
#   1. a commits table gets HOURS hourly MERGEs (ROWS new rows each, plus
#      updates of UPD rows of earlier hours), the way an incremental model
#      run every hour writes it: files, and the time of a model query
#      (`kiln sql`, a 7-day aggregate) on it;
#   2. `kiln table rewrite-data-files`: its own time and peak memory (RSS);
#      files and query time after;
#   3. the same rows appended to a fresh table in one commit: files and
#      query time (the peer: what compaction should get back to);
#   4. snapshot expiry after the compaction, and the query time again.
# Prints figures; never fails on timing. Sizes: HOURS=720 ROWS=200 UPD=20
# (HOURS=48 for a quick check). LOADED=DIR: skip step 1's loading and
# measure the warehouse DIR an interrupted run loaded (db.commits and an
# empty db.fresh), in place: it is compacted (tables hold absolute paths,
# so a copy would not do).
set -euo pipefail
KILN_BIN="${KILN_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/kiln}"
HOURS=${HOURS:-720} ROWS=${ROWS:-200} UPD=${UPD:-20}
P="$(mktemp -d)"
trap 'rm -rf "$P"' EXIT
W="${LOADED:-$P/wh}"
k() { "$KILN_BIN" table --warehouse "$W" "$@"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
if [ -z "${LOADED:-}" ]; then
k create db.commits --schema 'repo_id int, sha string not null, created_at timestamptz, additions int, message string' \
  --partition 'day(created_at)' >/dev/null
k create db.fresh --schema 'repo_id int, sha string not null, created_at timestamptz, additions int, message string' \
  --partition 'day(created_at)' >/dev/null

gen() { # hour -> NDJSON: ROWS new commits of that hour + UPD updates of earlier hours
  python3 - "$1" "$ROWS" "$UPD" <<'PY'
import json, sys, datetime
h, rows, upd = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
base = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
def row(hh, i, rev):
    ts = base + datetime.timedelta(hours=hh, seconds=i)
    return {"repo_id": (hh * 7 + i) % 97, "sha": "%06d-%04d" % (hh, i), "created_at": ts.isoformat().replace("+00:00", "Z"),
            "additions": (i * 13 + rev) % 400, "message": "commit %d of hour %d rev %d" % (i, hh, rev)}
for i in range(rows):
    print(json.dumps(row(h, i, 0)))
for j in range(upd if h > 0 else 0):
    hh = (h * 31 + j) % h
    print(json.dumps(row(hh, (j * 17) % rows, h)))
PY
}

t=$(date +%s%N)
for h in $(seq 0 $((HOURS - 1))); do gen "$h" | k merge db.commits --key sha --input - >/dev/null; done
echo "load: $HOURS hourly MERGEs in $(ms "$t") ms"
else
  echo "loaded: $(k snapshots db.commits --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') MERGE snapshots from $LOADED"
fi

query() {
  "$KILN_BIN" sql --warehouse "$W" --csv "SELECT repo_id, count(*) AS n, sum(additions) AS a FROM $1
     WHERE created_at >= '2025-01-02' AND created_at < '2025-01-09' GROUP BY repo_id ORDER BY repo_id" >"$P/$2.csv"
}
qtime() { # best of 3, ms
  local best=999999999 i t e
  for i in 1 2 3; do t=$(date +%s%N); query "$1" "$2"; e=$(ms "$t"); [ "$e" -lt "$best" ] && best=$e; done
  echo "$best"
}
files() { k files "$1" | tail -n +2 | wc -l; }

f0=$(files db.commits); q0=$(qtime db.commits before)
echo "before: $f0 files, model query $q0 ms"

k scan db.commits --format ndjson >"$P/all.ndjson"
k append db.fresh --input "$P/all.ndjson" >/dev/null
ff=$(files db.fresh); qf=$(qtime db.fresh fresh)

t=$(date +%s%N)
/usr/bin/time -f '%M' -o "$P/rss" "$KILN_BIN" table --warehouse "$W" rewrite-data-files db.commits --json >"$P/rw.json"
ct=$(ms "$t")
f1=$(files db.commits); q1=$(qtime db.commits after)
cmp -s "$P/before.csv" "$P/after.csv" || { echo "the model query changed after compaction"; exit 1; }
cmp -s "$P/before.csv" "$P/fresh.csv" || { echo "the fresh table answers differently"; exit 1; }
echo "compaction: $ct ms, peak RSS $(cat "$P/rss") KB: $(cat "$P/rw.json")"
echo "after: $f1 files, model query $q1 ms"
echo "fresh table (peer): $ff files, model query $qf ms"
echo "ratio: query after/before $(python3 -c "print(round($q1 / max($q0, 1), 2))"), after/fresh $(python3 -c "print(round($q1 / max($qf, 1), 2))")"
# 4. expiry: the snapshots the MERGEs left (each in the metadata every reader
# parses) dropped, as `kiln table maintain` does after compaction
t=$(date +%s%N)
k expire db.commits --older-than 0s --retain-last 1 >/dev/null
et=$(ms "$t")
q2=$(qtime db.commits expired)
cmp -s "$P/before.csv" "$P/expired.csv" || { echo "the model query changed after expiry"; exit 1; }
echo "after expiry ($et ms): model query $q2 ms; after+expiry/fresh $(python3 -c "print(round($q2 / max($qf, 1), 2))")"
