#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# kiln job gh-events --format iceberg, the re-run fast path (docs/engine.md
# "Re-runs"): a day whose input hour files have the size, mtime and CRC-64
# recorded when it was loaded is not read again ("unchanged"), and nothing is
# committed; everything else is read and MERGEd:
#  1. first load of 3 days; a re-run reads nothing (0 hours, every day
#     "unchanged"), adds no snapshot, and the tables hold the same rows;
#  2. one hour file replaced by other content (another seed): its day is read
#     and loaded (new rows inserted), the others stay unchanged;
#  3. same size and mtime, other bytes (the gzip header's mtime field
#     changed, mtime restored with touch -r): the CRC tells, the day is read;
#  4. another writer deletes rows of a day: the table head no longer matches
#     what the job recorded, so every day is read again and the rows come back;
#  5. an hour file removed: its day's fingerprint changes, the day is read;
#  6. --branch keeps its own record (main's does not make a branch run skip);
#  7. whole days (24 hours): a changed day 2 also re-reads day 1, whose hour
#     23 day 2's hour 0 dedupes against; a changed day 1 (not its hour 23)
#     leaves day 2 unchanged;
#  8. an explicit --out stages Parquet (kept for the user) instead of kiln's
#     row format: the tables get the same rows as through the default staging.
set -euo pipefail
: "${KILN_BIN:?}" "${KILN_ROOT:?}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
K="$KILN_BIN"
W="$T/wh"
nsnap() { KILN_WAREHOUSE="$W" "$K" table snapshots "$1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
rows() { KILN_WAREHOUSE="$W" "$K" table scan "$1" --format csv "${@:2}" | tail -n +2 | sort; }
job() { "$K" job gh-events --in "$T/in" --format iceberg --warehouse "$W" --threads 2 --json "$@"; }
# status of each day, e.g. "2025-01-01=unchanged 2025-01-02=ok ..."; hours read
statuses() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(" ".join(p["date"]+"="+p["status"] for p in s["partitions"]), s["hours"])' "$1"; }

"$K" gen gharchive --out "$T/in" --start 2025-01-01 --days 3 --hours 4 --scale 0.002 --seed 11 >/dev/null

# ---- 1. load, then a re-run that reads nothing
job >"$T/r1.json"
[ "$(statuses "$T/r1.json")" = "2025-01-01=ok 2025-01-02=ok 2025-01-03=ok 12" ] || fail "first load: $(statuses "$T/r1.json")"
rows github.pushes >"$T/p1.txt"; rows github.commits >"$T/c1.txt"
[ -s "$T/p1.txt" ] && [ -s "$T/c1.txt" ] || fail "first load wrote no rows"
np="$(nsnap github.pushes)"; nc="$(nsnap github.commits)"
job >"$T/r2.json"
[ "$(statuses "$T/r2.json")" = "2025-01-01=unchanged 2025-01-02=unchanged 2025-01-03=unchanged 0" ] ||
  fail "re-run of unchanged inputs read something: $(statuses "$T/r2.json")"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["status"] == "ok", s["status"]
assert s["total"]["events"] == 0 and s["total"]["json_bytes"] == 0, s["total"]
for t in s["iceberg"]:
    assert t["snapshots"] == 0 and t["published"] == 0 and t["noop_commits"] == 0, t' "$T/r2.json" || fail "re-run did work"
[ "$(nsnap github.pushes)" = "$np" ] && [ "$(nsnap github.commits)" = "$nc" ] || fail "re-run added a snapshot"
"$K" job gh-events --in "$T/in" --format iceberg --warehouse "$W" >"$T/r2.txt"
grep -q "2025-01-02 *unchanged" "$T/r2.txt" || fail "text summary does not say unchanged: $(cat "$T/r2.txt")"
grep -q "3 day(s) not read: their input files are the ones loaded" "$T/r2.txt" || fail "no unchanged line: $(cat "$T/r2.txt")"

# ---- 2. one hour file with other content: its day (and only it) is read
"$K" gen gharchive --out "$T/other" --start 2025-01-02 --days 1 --hours 4 --scale 0.002 --seed 99 >/dev/null
cp "$T/other/2025-01-02-2.json.gz" "$T/in/2025-01-02-2.json.gz"
job >"$T/r3.json"
[ "$(statuses "$T/r3.json")" = "2025-01-01=unchanged 2025-01-02=ok 2025-01-03=unchanged 4" ] ||
  fail "changed hour file: $(statuses "$T/r3.json")"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
p = {t["table"]: t for t in s["iceberg"]}["github.pushes"]
assert p["rows_inserted"] > 0 and p["published"] == 1, p' "$T/r3.json" || fail "the changed day's new rows were not loaded"
# every push of the replaced file is in the table now
"$K" job gh-events --in "$T/other" --format csv --out "$T/ocsv" --start 2025-01-02 --end 2025-01-02 >/dev/null
python3 - "$T/ocsv/pushes/date=2025-01-02/part-02.csv" <<PY || fail "pushes of the replaced hour file missing from the table"
import csv, subprocess, sys, os
want = {r["push_id"] for r in csv.DictReader(open(sys.argv[1]))}
out = subprocess.run(["$K", "table", "scan", "github.pushes", "--format", "csv"], env=dict(os.environ, KILN_WAREHOUSE="$W"),
                     capture_output=True, text=True, check=True).stdout.splitlines()
have = {r["push_id"] for r in csv.DictReader(out)}
assert want and want <= have, len(want - have)
PY
job >"$T/r4.json"
[ "$(statuses "$T/r4.json")" = "2025-01-01=unchanged 2025-01-02=unchanged 2025-01-03=unchanged 0" ] ||
  fail "after reloading the changed day: $(statuses "$T/r4.json")"

# ---- 3. same size and mtime, other bytes: the checksum decides
f="$T/in/2025-01-03-1.json.gz"
cp -p "$f" "$T/orig.gz"
printf '\001' | dd of="$f" bs=1 seek=4 conv=notrunc status=none   # gzip header MTIME field
touch -r "$T/orig.gz" "$f"
[ "$(stat -c '%s %Y' "$f")" = "$(stat -c '%s %Y' "$T/orig.gz")" ] || fail "test setup: size/mtime differ"
cmp -s "$f" "$T/orig.gz" && fail "test setup: file unchanged"
job >"$T/r5.json"
[ "$(statuses "$T/r5.json")" = "2025-01-01=unchanged 2025-01-02=unchanged 2025-01-03=ok 4" ] ||
  fail "same size+mtime, other bytes: $(statuses "$T/r5.json")"

# ---- 4. another writer changes a day: no skip, the rows come back
KILN_WAREHOUSE="$W" "$K" table delete github.pushes --where "created_at < '2025-01-02T00:00:00Z'" >/dev/null
[ "$(rows github.pushes | wc -l)" -lt "$(wc -l <"$T/p1.txt")" ] || fail "test setup: delete removed nothing"
job >"$T/r6.json"
[ "$(statuses "$T/r6.json")" = "2025-01-01=ok 2025-01-02=ok 2025-01-03=ok 12" ] ||
  fail "after another writer's delete: $(statuses "$T/r6.json")"
rows github.pushes --where "created_at < '2025-01-02T00:00:00Z'" >"$T/p6.txt"
grep '2025-01-01T' "$T/p1.txt" >"$T/p1d1.txt" || true
cmp -s "$T/p6.txt" "$T/p1d1.txt" || fail "day 1 not restored: $(wc -l <"$T/p6.txt") rows, want $(wc -l <"$T/p1d1.txt")"
job >"$T/r7.json"
[ "$(statuses "$T/r7.json")" = "2025-01-01=unchanged 2025-01-02=unchanged 2025-01-03=unchanged 0" ] ||
  fail "after the reload: $(statuses "$T/r7.json")"

# ---- 5. an hour file removed: its day is read
rm "$T/in/2025-01-01-3.json.gz"
job >"$T/r8.json"
[ "$(statuses "$T/r8.json")" = "2025-01-01=ok 2025-01-02=unchanged 2025-01-03=unchanged 3" ] ||
  fail "removed hour file: $(statuses "$T/r8.json")"

# ---- 6. a branch has its own record (fresh warehouse: rows go to dev only)
W="$T/wb"
job --branch dev >"$T/r9.json"
[ "$(statuses "$T/r9.json")" = "2025-01-01=ok 2025-01-02=ok 2025-01-03=ok 11" ] || fail "first run on a branch: $(statuses "$T/r9.json")"
job --branch dev >"$T/r10.json"
[ "$(statuses "$T/r10.json")" = "2025-01-01=unchanged 2025-01-02=unchanged 2025-01-03=unchanged 0" ] ||
  fail "re-run on the branch: $(statuses "$T/r10.json")"
job >"$T/r11.json"
[ "$(statuses "$T/r11.json")" = "2025-01-01=ok 2025-01-02=ok 2025-01-03=ok 11" ] || fail "main after a dev run: $(statuses "$T/r11.json")"
[ "$(rows github.pushes | wc -l)" -gt 0 ] || fail "main empty after its run"
# ---- 7. neighbours through the dedupe window
"$K" gen gharchive --out "$T/full" --start 2025-01-01 --days 2 --scale 0.0004 --seed 5 >/dev/null
"$K" gen gharchive --out "$T/full2" --start 2025-01-01 --days 2 --scale 0.0004 --seed 6 >/dev/null
W="$T/wf"
fjob() { "$K" job gh-events --in "$T/full" --format iceberg --warehouse "$W" --threads 2 --json; }
fjob >"$T/f1.json"
[ "$(statuses "$T/f1.json")" = "2025-01-01=ok 2025-01-02=ok 48" ] || fail "full days, first load: $(statuses "$T/f1.json")"
fjob >"$T/f2.json"
[ "$(statuses "$T/f2.json")" = "2025-01-01=unchanged 2025-01-02=unchanged 0" ] || fail "full days, re-run: $(statuses "$T/f2.json")"
cp "$T/full2/2025-01-02-5.json.gz" "$T/full/2025-01-02-5.json.gz"
fjob >"$T/f3.json"
[ "$(statuses "$T/f3.json")" = "2025-01-01=ok 2025-01-02=ok 48" ] ||
  fail "changed day 2 must re-read day 1 (its hour 23 dedupes day 2's hour 0): $(statuses "$T/f3.json")"
cp "$T/full2/2025-01-01-3.json.gz" "$T/full/2025-01-01-3.json.gz"
fjob >"$T/f4.json"
[ "$(statuses "$T/f4.json")" = "2025-01-01=ok 2025-01-02=unchanged 24" ] ||
  fail "changed day 1 (not hour 23): $(statuses "$T/f4.json")"
cp "$T/full2/2025-01-01-23.json.gz" "$T/full/2025-01-01-23.json.gz"
fjob >"$T/f5.json"
[ "$(statuses "$T/f5.json")" = "2025-01-01=ok 2025-01-02=ok 48" ] ||
  fail "changed hour 23 of day 1 is day 2's dedupe window: $(statuses "$T/f5.json")"
# ---- 8. --out: staged Parquet, same rows as the default (row-format) staging
"$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wo" --out "$T/stage" --threads 2 >/dev/null
ls "$T"/stage/pushes/date=2025-01-02/part-*.parquet >/dev/null || fail "--out: no staged Parquet kept"
"$K" job gh-events --in "$T/in" --format iceberg --warehouse "$T/wd" --threads 2 >/dev/null
ls "$T"/wd/_staging/gh-events/pushes/date=2025-01-02/part-* >/dev/null 2>&1 && fail "default staging copy not dropped"
for t in github.pushes github.commits; do
  a="$(KILN_WAREHOUSE="$T/wo" "$K" table scan "$t" --format csv | sort | md5sum)"
  b="$(KILN_WAREHOUSE="$T/wd" "$K" table scan "$t" --format csv | sort | md5sum)"
  [ "$a" = "$b" ] || fail "$t differs between Parquet and row-format staging"
done
echo "ok: unchanged days skipped; changed content, same-size-and-mtime edits, other writers and removed files reload"
