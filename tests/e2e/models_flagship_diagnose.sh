#!/usr/bin/env bash
# The diagnose scenario (docs/models.md, "Diagnosing a wrong number"): a
# planted upstream bug in a staging model (stg_commits keeps only compare
# commits of pushes whose payload had distinct_size, which no push has since
# 2025-10-07) makes commits_per_repo_per_day wrong after `kiln run`;
# `kiln lineage` on the wrong column leads to stg_commits' rows, `kiln test`
# on its ancestors fails exactly the test that checks stg_commits, `kiln
# build` gates the marts (SKIP); the fix makes the marts equal DuckDB again.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
K() { "$KILN_BIN" "$@"; }
W="$T/wh"; P="$T/p"
q() { K sql --warehouse "$W" --csv "$1"; }
duck() {
  mkdir -p "$1"
  for m in commits_per_repo_per_day commits_per_language_per_week weekly_activity; do q "select * from analytics.$m" >"$1/$m.csv"; done
  (cd "$KILN_ROOT/tests/node" && node models_flagship_duckdb.mjs "$T/raw" "$T/api" "$1")
}

K gen gharchive --out "$T/raw" --start 2025-10-06 --days 2 --hours 2 --scale 0.001 --seed 5 --threads 1 >/dev/null
K gen github-api --out "$T/api" --start 2025-10-06 --days 2 --hours 2 --scale 0.001 --seed 5 --threads 1 >/dev/null
K --warehouse "$W" job gh-events --in "$T/raw" --format iceberg --threads 1 --allow-missing >/dev/null 2>&1 || fail "job"
cp -r "$KILN_ROOT/examples/personal-api" "$P"; rm -rf "$P/dags" "$P/grafana" "$P/target" "$P/warehouse"
python3 "$P/scripts/api_seeds.py" "$T/api" "$P/seeds" >/dev/null

# the bug: "only pushes with a commit count" -- true for no push since 2025-10-07
cp "$P/models/staging/stg_commits.sql" "$T/stg_commits.good"
python3 - "$P/models/staging/stg_commits.sql" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
old = "join {{ ref('stg_pushes') }} as p on p.head = cast(c.head as text)"
assert old in s
open(p, "w").write(s.replace(old, old + " and p.distinct_size is not null"))
PY
K --warehouse "$W" seed --project-dir "$P" >/dev/null
K --warehouse "$W" run --project-dir "$P" >"$T/run.txt" 2>&1 || { cat "$T/run.txt"; fail "run with the bug should succeed (no tests run)"; }
# the symptom: no commits on 2025-10-07 although there were pushes
[ "$(q "select sum(commits) from analytics.commits_per_repo_per_day where day = '2025-10-07'" | tail -1)" = 0 ] || fail "the bug did not show"
[ "$(q "select sum(pushes) > 0 from analytics.commits_per_repo_per_day where day = '2025-10-07'" | tail -1)" = 1 ] || fail "no pushes on the day"
if duck "$T/k_bad" >"$T/d_bad.txt" 2>&1; then fail "DuckDB agreed with the buggy marts"; fi

# 1. lineage of the wrong column: after the switch the value is stg_commits' row count
K --warehouse "$W" lineage --project-dir "$P" analytics.commits_per_repo_per_day.commits >"$T/lin.txt"
grep -q "<- analytics.stg_commits.\* (rows) (model)" "$T/lin.txt" || fail "lineage does not reach stg_commits: $(cat "$T/lin.txt")"
grep -q "via per_push.n = count(\*)" "$T/lin.txt" || fail "lineage lacks the count(*) hop"
grep -q "<- analytics.compare_commits.\* (rows) (seed)" "$T/lin.txt" || fail "lineage does not reach the compare seed"
grep -q "else coalesce(c.n, 0) end" "$T/lin.txt" || fail "lineage lacks the rule's expression"
# 2. the tests of its ancestors: exactly the check on stg_commits fails
set +e
K --warehouse "$W" test --project-dir "$P" --select +commits_per_repo_per_day >"$T/test.txt" 2>&1; rc=$?
set -e
[ "$rc" = 1 ] || fail "kiln test exit $rc, want 1"
grep -E '^[0-9]+ of [0-9]+ FAIL' "$T/test.txt" >"$T/fails.txt" || true
[ "$(wc -l <"$T/fails.txt")" = 1 ] || fail "want exactly one failing test: $(cat "$T/fails.txt")"
grep -q "assert_compare_commits_reach_stg_commits" "$T/fails.txt" || fail "wrong failing test: $(cat "$T/fails.txt")"
python3 - "$P/target/run_results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f = [x for x in r["results"] if x["status"] == "fail"]
assert len(f) == 1 and f[0]["unique_id"] == "test.personal_api.assert_compare_commits_reach_stg_commits" and f[0]["failures"] > 0, f
PY
# 3. build gates everything downstream of the failing test
set +e
K --warehouse "$W" build --project-dir "$P" >"$T/build_bad.txt" 2>&1; rc=$?
set -e
[ "$rc" = 1 ] || fail "build with the bug: exit $rc"
grep -q "SKIP .*commits_per_repo_per_day" "$T/build_bad.txt" || fail "the mart was not skipped: $(grep -E 'commits_per_repo_per_day' "$T/build_bad.txt" | head -3)"

# the fix
cp "$T/stg_commits.good" "$P/models/staging/stg_commits.sql"
K --warehouse "$W" build --project-dir "$P" >"$T/build.txt" 2>&1 || { tail -20 "$T/build.txt"; fail "build after the fix"; }
grep -Eq '^Done\. PASS=([0-9]+) WARN=0 ERROR=0 SKIP=0 TOTAL=\1$' "$T/build.txt" || fail "after the fix: $(tail -1 "$T/build.txt")"
duck "$T/k_good" >"$T/d_good.txt" || { cat "$T/d_good.txt"; fail "after the fix, kiln differs from DuckDB"; }
echo "ok: diagnose scenario"
