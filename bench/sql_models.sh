#!/usr/bin/env bash
# bench/sql_models.sh - kiln sql (SQLite's row engine over the Iceberg
# virtual table) against DuckDB on the same Parquet files: the model-layer
# aggregation "commits per repo per day".
#
# Data: BENCH_SQL_ROWS rows (default 2,000,000) of gh.commits (repo_id over
# 1,000 repos, sha, created_at over 30 days, additions), written by kiln
# itself with CREATE TABLE ... PARTITIONED BY (day(created_at)) AS SELECT.
# Query (both engines, same SQL shape, same files - the table's current data
# files from `kiln table files --json`):
#   SELECT count(*), sum(n) FROM (SELECT repo_id, date_trunc('day', created_at) AS day,
#                                 count(*) AS n FROM commits GROUP BY 1, 2)
# kiln: wall time of `kiln sql --csv` (end-to-end process time: start,
# catalog, plan, scan, result), three ways: the columnar executor
# (src/exec, docs/exec.md) with every core, the same with one thread
# (KILN_EXEC_THREADS=1), and SQLite's row engine (KILN_EXEC=0, one core).
# DuckDB: query time inside one process, with every core (its default) and
# with threads=1. Prints medians of BENCH_RUNS (default 5) and the ratios
# (> 1 means kiln is faster), and the CPU seconds (user + system) each
# spent - on a shared machine the steadier figure (kiln's covers the whole
# process, DuckDB's only the query). Measures only; never fails on timing.
set -euo pipefail
ROOT="${KILN_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
KILN="${KILN_BIN:-$ROOT/build/kiln}"
RUNS="${BENCH_RUNS:-5}"
ROWS="${BENCH_SQL_ROWS:-2000000}"
HELPER="$ROOT/tests/node/vtab_bench.mjs"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
WH="$TMP/wh"

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

t0=$(now)
"$KILN" sql --warehouse "$WH" --csv "CREATE TABLE gh.commits PARTITIONED BY (day(created_at)) AS
WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $ROWS - 1)
SELECT (i * 7) % 1000 AS repo_id, printf('%040x', i * 2654435761) AS sha,
       date_add('2024-06-01T00:00:00Z', (i * 1299721) % (30 * 86400), 'second') AS created_at,
       i % 97 AS additions
FROM s" >/dev/null
t1=$(now)
"$KILN" table --warehouse "$WH" files gh.commits --json > "$TMP/files.jsonl"
NF=$(grep -c '"content":"data"' "$TMP/files.jsonl")
MB=$(du -sm "$WH/gh/commits/data" | cut -f1)
echo "data: $ROWS rows, $NF Parquet files, ${MB} MB (written by kiln CTAS in $(echo "$t1 - $t0" | bc -l | cut -c1-5) s); $(nproc) cores; runs $RUNS"

Q="SELECT count(*) AS groups, sum(n) AS rows FROM (SELECT repo_id, date_trunc('day', created_at) AS day, count(*) AS n FROM gh.commits GROUP BY 1, 2)"
kt() { # env... : one timed run, prints "wall cpu" seconds; the result goes to $TMP/kout
  local t0 t1
  t0=$(now); /usr/bin/time -f "%U %S" -o "$TMP/cpu" env "$@" "$KILN" sql --warehouse "$WH" --csv "$Q" >"$TMP/kout"; t1=$(now)
  echo "$(echo "$t1 - $t0" | bc -l) $(awk '{print $1 + $2}' "$TMP/cpu")"
}
ks=(); k1=(); kq=(); cs=(); c1=(); cq=()
for i in $(seq "$RUNS"); do
  read -r w c <<<"$(kt KILN_EXEC=1)"; ks+=("$w"); cs+=("$c")
  read -r w c <<<"$(kt KILN_EXEC=1 KILN_EXEC_THREADS=1)"; k1+=("$w"); c1+=("$c")
  read -r w c <<<"$(kt KILN_EXEC=0)"; kq+=("$w"); cq+=("$c")
done
kout=$(cat "$TMP/kout")
dall=$(node "$HELPER" "$TMP/files.jsonl" "$(nproc)" "$RUNS")
d1=$(node "$HELPER" "$TMP/files.jsonl" 1 "$RUNS")
kres=$(echo "$kout" | tail -1 | tr ',' ' ')
dres=$(echo "$dall" | awk '/^result/ {print $2, $3}')
[ "$kres" = "$dres" ] || echo "WARNING: results differ: kiln [$kres] DuckDB [$dres]"
KS=$(printf '%s\n' "${ks[@]}" | median)
K1=$(printf '%s\n' "${k1[@]}" | median)
KQ=$(printf '%s\n' "${kq[@]}" | median)
DA=$(echo "$dall" | awk '/^seconds/ {print $2}' | median)
D1=$(echo "$d1" | awk '/^seconds/ {print $2}' | median)
CS=$(printf '%s\n' "${cs[@]}" | median)
C1=$(printf '%s\n' "${c1[@]}" | median)
CQ=$(printf '%s\n' "${cq[@]}" | median)
DCA=$(echo "$dall" | awk '/^cpu/ {print $2}' | median)
DC1=$(echo "$d1" | awk '/^cpu/ {print $2}' | median)
KILN_EXEC=1 "$KILN" sql --warehouse "$WH" --explain "$Q" | sed 's/^/  /'
awk -v r="$ROWS" -v k="$KS" -v k1="$K1" -v kq="$KQ" -v da="$DA" -v d1="$D1" -v n="$(nproc)" -v g="$kres" \
    -v cs="$CS" -v c1="$C1" -v cq="$CQ" -v dca="$DCA" -v dc1="$DC1" 'BEGIN {
  printf "result: %s (groups, rows)\n", g
  printf "                        wall            cpu (user+sys)\n"
  printf "kiln exec (%d threads)   %.3f s %5.2f M rows/s  %.3f s\n", n, k, r/k/1e6, cs
  printf "kiln exec (1 thread)    %.3f s %5.2f M rows/s  %.3f s\n", k1, r/k1/1e6, c1
  printf "kiln sqlite (1 thread)  %.3f s %5.2f M rows/s  %.3f s\n", kq, r/kq/1e6, cq
  printf "duckdb (%d threads)      %.3f s %5.2f M rows/s  %.3f s\n", n, da, r/da/1e6, dca
  printf "duckdb (1 thread)       %.3f s %5.2f M rows/s  %.3f s\n", d1, r/d1/1e6, dc1
  printf "ratio kiln/duckdb speed (wall): %.3f (all cores), %.3f (one core each); exec vs sqlite path: %.2fx\n", da/k, d1/k1, kq/k
  printf "ratio kiln/duckdb cpu: %.3f (all cores), %.3f (one core each) (> 1: kiln uses less)\n", dca/cs, dc1/c1 }'
