#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# The columnar executor (src/exec) against SQLite: generated Iceberg tables
# (NULL-heavy, several data files, partitioned and not, one row, empty, all
# NULL) and a few thousand generated SELECTs of the shapes the executor runs
# (random WHERE trees, group keys incl. date_trunc/iso_week, the aggregates,
# ORDER BY / LIMIT / OFFSET) run through both paths in one process each;
# the outputs (CSV) must be byte-identical. --explain must show that the
# executor ran (not declined) nearly every query, so the comparison is not
# SQLite against itself.
set -euo pipefail
ROOT="${KILN_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
K="${KILN_BIN:-$ROOT/build/kiln}"
# 2,000 queries; 150 under the ASan build (each query is run four times, and
# the sanitizers make that the suite's longest test; the full count runs in
# the plain build of the same suite)
case "$K" in */build-asan/*) N_DEFAULT=150 ;; *) N_DEFAULT=2000 ;; esac
N="${EXEC_DIFF_QUERIES:-$N_DEFAULT}"
SEED="${EXEC_DIFF_SEED:-17}"
tmp=$(mktemp -d)
[ -n "${EXEC_DIFF_KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
gen() { python3 "$ROOT/tests/e2e/exec_diff.py" "$@"; }

gen setup "$SEED" >"$tmp/setup.sql"
"$K" sql --warehouse "$tmp/wh" --bail <"$tmp/setup.sql" >/dev/null || fail "setup"
gen queries "$SEED" "$N" >"$tmp/q.sql"

KILN_EXEC=0 "$K" sql --warehouse "$tmp/wh" --csv <"$tmp/q.sql" >"$tmp/sqlite.out" 2>&1 || true
"$K" sql --warehouse "$tmp/wh" --csv <"$tmp/q.sql" >"$tmp/exec.out" 2>&1 || true
KILN_EXEC_THREADS=3 "$K" sql --warehouse "$tmp/wh" --csv <"$tmp/q.sql" >"$tmp/exec3.out" 2>&1 || true

for f in exec exec3; do
  if ! cmp -s "$tmp/sqlite.out" "$tmp/$f.out"; then
    set +e +o pipefail
    line=$(cmp "$tmp/sqlite.out" "$tmp/$f.out" | sed -n 's/.* line \([0-9]*\).*/\1/p')
    qid=$(head -n "$line" "$tmp/sqlite.out" | grep -o '^Q[0-9]*$' | tail -1)
    echo "first difference ($f) at output line $line, after marker $qid:"
    grep -A1 -x "SELECT '$qid' AS q;" "$tmp/q.sql" | tail -1
    diff <(sed -n "$((line - 3)),$((line + 8))p" "$tmp/sqlite.out") <(sed -n "$((line - 3)),$((line + 8))p" "$tmp/$f.out") || true
    fail "results differ between SQLite and the columnar path ($f)"
  fi
done

# the executor ran them: count the paths --explain reports
"$K" sql --warehouse "$tmp/wh" --explain <"$tmp/q.sql" >"$tmp/explain.out" 2>&1 || true
col=$(grep -c '^KILN EXEC: columnar' "$tmp/explain.out" || true)
dec=$(grep -c '^KILN EXEC: sqlite' "$tmp/explain.out" || true)
errs=$(grep -c 'error' "$tmp/sqlite.out" || true)
echo "queries: $N; columnar: $col; declined: $dec; SQL errors (both paths): $errs"
{ grep '^KILN EXEC: sqlite' "$tmp/explain.out" || true; } | sort | uniq -c | sort -rn | head -5
[ "$col" -ge $((N * 85 / 100)) ] || fail "the columnar path ran only $col of $N queries"
rows=$(grep -c . "$tmp/sqlite.out")
[ "$rows" -gt $((N * 3)) ] || fail "suspiciously little output ($rows lines)"
echo "exec_diff: ok"
