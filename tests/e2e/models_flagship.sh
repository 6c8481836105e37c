#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# The flagship models (examples/personal-api) end to end, against DuckDB:
#  1. generated GH Archive hours 2025-10-05..07 (two ISO weeks, both
#     PushEvent eras) and the matching REST responses; `kiln job gh-events
#     --format iceberg` writes github.pushes/commits into a warehouse;
#     scripts/api_seeds.py turns the REST responses into the seeds;
#     `kiln --warehouse W build --project-dir` builds the copied project:
#     every test passes and the three marts equal DuckDB's computation from
#     the raw files (tests/node/models_flagship_duckdb.mjs). The post-switch
#     commit total equals the generator's ground truth (compare totals).
#  2. a late hour of 2025-10-06 arrives: the job merges it, an incremental
#     build for that day (--vars start_day) changes exactly that day's rows
#     (and its week's), leaves the rest as they were, and equals DuckDB
#     again; a lookback run (no vars) changes nothing more.
#  3. the comparer can fail: a tampered kiln export is reported.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
K() { "$KILN_BIN" "$@"; }
W="$T/wh"; P="$T/p"
MODELS="commits_per_repo_per_day commits_per_language_per_week weekly_activity"
export_marts() { mkdir -p "$1"; for m in $MODELS; do K sql --warehouse "$W" --csv "select * from analytics.$m" >"$1/$m.csv"; done; }
duck() { (cd "$KILN_ROOT/tests/node" && node models_flagship_duckdb.mjs "$T/raw" "$T/api" "$1"); }

# ---- 1. build against DuckDB
K gen gharchive --out "$T/all" --start 2025-10-05 --days 3 --hours 3 --scale 0.001 --seed 3 --threads 1 >/dev/null
K gen github-api --out "$T/api" --start 2025-10-05 --days 3 --hours 3 --scale 0.001 --seed 3 --threads 1 >/dev/null
mkdir "$T/raw"
for f in "$T/all"/*.json.gz; do [ "$(basename "$f")" = 2025-10-06-2.json.gz ] || cp "$f" "$T/raw/"; done
K --warehouse "$W" job gh-events --in "$T/raw" --format iceberg --threads 1 --allow-missing >/dev/null 2>&1 || fail "gh-events job"
cp -r "$KILN_ROOT/examples/personal-api" "$P"; rm -rf "$P/dags" "$P/grafana" "$P/target" "$P/warehouse"
python3 "$P/scripts/api_seeds.py" "$T/api" "$P/seeds" >/dev/null || fail "api_seeds.py"
K --warehouse "$W" build --project-dir "$P" >"$T/b1.txt" 2>&1 || { cat "$T/b1.txt"; fail "first build"; }
# one warning: the held-back hour 2025-10-06-2 leaves that day short of hours (assert_days_have_every_hour)
grep -Eq '^Done\. PASS=([0-9]+) WARN=1 ERROR=0 SKIP=0 TOTAL=' "$T/b1.txt" &&
  grep -q "WARN 1 assert_days_have_every_hour" "$T/b1.txt" || fail "b1: $(grep -E ' WARN |^Done' "$T/b1.txt")"
n=$(grep -c ' PASS ' "$T/b1.txt"); [ "$n" -ge 50 ] || fail "only $n tests ran"
export_marts "$T/k1"
duck "$T/k1" >"$T/d1.txt" || { cat "$T/d1.txt"; fail "first build differs from DuckDB"; }
# both ISO weeks and both eras are present, and the rule's post-switch
# commits equal the generator's ground truth (sum of compare totals)
python3 - "$T/k1" "$T/api/_api_manifest.json" <<'PY'
import csv, json, sys
d = list(csv.DictReader(open(sys.argv[1] + "/commits_per_repo_per_day.csv")))
days = sorted({r["day"] for r in d}); assert days == ["2025-10-05", "2025-10-06", "2025-10-07"], days
after = sum(int(r["commits"]) for r in d if r["day"] >= "2025-10-07")
truth = json.load(open(sys.argv[2]))["total_commits_sum"]
# the grain counts a commit once per repo and day: at most the compare total
assert 0 < after <= truth and after >= truth * 0.9, (after, truth)
w = list(csv.DictReader(open(sys.argv[1] + "/commits_per_language_per_week.csv")))
assert sorted({r["week_start"] for r in w}) == ["2025-09-29", "2025-10-06"], w[:3]
assert {r["iso_week"] for r in w} == {"40", "41"}
PY

# ---- 2. a late hour for 2025-10-06
cp "$T/all/2025-10-06-2.json.gz" "$T/raw/"
K --warehouse "$W" job gh-events --in "$T/raw" --format iceberg --threads 1 --allow-missing >/dev/null 2>&1 || fail "job rerun"
K --warehouse "$W" build --project-dir "$P" --vars '{start_day: "2025-10-06"}' >"$T/b2.txt" 2>&1 || { cat "$T/b2.txt"; fail "late-day build"; }
grep -q '^Done\. .* ERROR=0 SKIP=0' "$T/b2.txt" || fail "b2: $(tail -1 "$T/b2.txt")"
grep -q "where day between '2025-10-06' and '2025-10-06'" "$P/target/compiled/personal_api/models/marts/commits_per_repo_per_day.sql" \
  || fail "the daily mart did not filter on the late day"
export_marts "$T/k2"
duck "$T/k2" >"$T/d2.txt" || { cat "$T/d2.txt"; fail "after the late day, kiln differs from DuckDB"; }
python3 - "$T/k1" "$T/k2" <<'PY'
import csv, sys
def rows(d, m): return {tuple(r.items()) for r in csv.DictReader(open(f"{d}/{m}.csv"))}
for m, col, late in [("commits_per_repo_per_day", "day", "2025-10-06"),
                     ("commits_per_language_per_week", "week_start", "2025-10-06"),
                     ("weekly_activity", "week_start", "2025-10-06")]:
    a, b = rows(sys.argv[1], m), rows(sys.argv[2], m)
    changed = a ^ b
    assert changed, f"{m}: the late hour changed nothing"
    other = [r for r in changed if dict(r)[col] != late]
    assert not other, f"{m}: rows outside {late} changed: {other[:2]}"
    kept = {r for r in a if dict(r)[col] != late}
    assert kept <= b, f"{m}: rows of other days vanished"
PY
# a plain incremental run (lookback from the last day) now changes nothing
K --warehouse "$W" run --project-dir "$P" >"$T/b3.txt" 2>&1 || { cat "$T/b3.txt"; fail "lookback run"; }
export_marts "$T/k3"
for m in $MODELS; do
  cmp -s <(sort "$T/k2/$m.csv") <(sort "$T/k3/$m.csv") || fail "$m: a lookback run without new data changed rows"
done

# ---- 3. the comparer notices a wrong number
cp -r "$T/k3" "$T/bad"
python3 - "$T/bad/commits_per_repo_per_day.csv" <<'PY'
import sys
p = sys.argv[1]; lines = open(p).read().split("\n")
c = lines[1].split(","); c[-1] = str(int(c[-1]) + 1); lines[1] = ",".join(c)
open(p, "w").write("\n".join(lines))
PY
if duck "$T/bad" >"$T/bad.txt" 2>&1; then fail "comparer missed a changed commit count"; fi
grep -q MISMATCH "$T/bad.txt" || fail "comparer failed for another reason: $(tail -3 "$T/bad.txt")"
echo "ok: flagship models equal DuckDB; a late day changes exactly its rows"
