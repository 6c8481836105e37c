#!/usr/bin/env bash
# bench/models.sh - the flagship models (examples/personal-api: staging,
# int_push_commits, commits_per_repo_per_day, commits_per_language_per_week,
# weekly_activity) on kiln against DuckDB running the same models' SQL
# (tests/node/models_bench_duckdb.mjs, DuckDB's dialect) on the same
# Parquet files (the current data files of github.pushes/commits, from
# `kiln table files --json`) and the same seed CSVs.
#
# Data: `kiln gen gharchive` + `kiln gen github-api` from BENCH_MODELS_START
# (default 2025-09-29, a Monday: the days before the 2025-10-07 switch, where
# commits come from distinct_size), BENCH_MODELS_DAYS (3) days of
# BENCH_MODELS_HOURS (16) hours at BENCH_MODELS_SCALE (1: ~250k events and
# ~210k commits an hour), i.e. ~12M events, ~7.9M pushes, ~10M commits,
# loaded by `kiln job gh-events --format iceberg`. The hour files are
# generated, loaded and deleted one day at a time (one day at scale 1 is
# ~16 x 650 MB of JSON, gzipped), so the disk holds one day's raw files and
# the warehouse, never the whole range (an event is a function of the seed
# and its hour, so day-by-day generation gives the same events as one run;
# repo renames/language changes are placed within each day's range, so the
# API seeds may name a few repos differently: the same data for kiln and
# DuckDB either way). That takes a while; set smaller
# values for a quick look. Measures:
#   full refresh: `kiln run --full-refresh` (models only; seeds loaded
#                 before) vs DuckDB creating the same tables;
#   incremental day: `kiln run --vars '{start_day: LAST_DAY}'` vs DuckDB
#                 rebuilding staging and replacing that day's/week's rows.
# kiln runs a statement on one core (SQLite); DuckDB is timed with every
# core and with one thread. Prints both times and the ratios (> 1: kiln is
# faster). One run each (the machine may be shared); never fails on timing.
# BENCH_KEEP=1 keeps the temporary directory (printed) for a look.
set -euo pipefail
ROOT="${KILN_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
KILN="${KILN_BIN:-$ROOT/build/kiln}"
START="${BENCH_MODELS_START:-2025-09-29}"
DAYS="${BENCH_MODELS_DAYS:-3}"
HOURS="${BENCH_MODELS_HOURS:-16}"
SCALE="${BENCH_MODELS_SCALE:-1}"
TMP="$(mktemp -d)"; [ -n "${BENCH_KEEP:-}" ] && echo "keeping $TMP"
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$TMP"' EXIT
W="$TMP/wh"; P="$TMP/p"
now() { date +%s.%N; }
sec() { echo "$2 - $1" | bc -l | awk '{printf "%.3f", $1}'; }

G=(--start "$START" --days "$DAYS" --hours "$HOURS" --scale "$SCALE")
"$KILN" gen github-api --out "$TMP/api" "${G[@]}" >/dev/null
# one day at a time: generate, load (MERGE: each day its own partitions), delete
JOB=0
for ((d = 0; d < DAYS; d++)); do
  day=$(date -u -d "$START + $d day" +%F)
  "$KILN" gen gharchive --out "$TMP/raw" --start "$day" --days 1 --hours "$HOURS" --scale "$SCALE" >/dev/null
  t0=$(now)
  "$KILN" --warehouse "$W" job gh-events --in "$TMP/raw" --format iceberg --allow-missing >/dev/null 2>&1
  t1=$(now)
  JOB=$(echo "$JOB + $t1 - $t0" | bc -l)
  rm -rf "$TMP/raw"
done
t0=0; t1=$JOB
cp -r "$ROOT/examples/personal-api" "$P"; rm -rf "$P/dags" "$P/grafana" "$P/target" "$P/warehouse"
python3 "$P/scripts/api_seeds.py" "$TMP/api" "$P/seeds" >/dev/null
rm -rf "$TMP/api"
"$KILN" --warehouse "$W" seed --project-dir "$P" >/dev/null
"$KILN" table --warehouse "$W" files github.pushes --json >"$TMP/pushes.jsonl"
"$KILN" table --warehouse "$W" files github.commits --json >"$TMP/commits.jsonl"
NP=$("$KILN" sql --warehouse "$W" --csv "select count(*) from github.pushes" | tail -1)
NC=$("$KILN" sql --warehouse "$W" --csv "select count(*) from github.commits" | tail -1)
LAST=$("$KILN" sql --warehouse "$W" --csv "select max(substr(created_at, 1, 10)) from github.pushes" | tail -1)
echo "data: $DAYS days x $HOURS h at scale $SCALE from $START: $NP pushes, $NC commits (gh-events job $(sec "$t0" "$t1") s); $(nproc) cores"

cpu() { awk '{printf "%.3f", $1 + $2}' "$1"; }
t0=$(now); /usr/bin/time -f "%U %S" -o "$TMP/full.cpu" "$KILN" --warehouse "$W" run --project-dir "$P" --full-refresh >"$TMP/full.txt"; t1=$(now)
KF=$(sec "$t0" "$t1")
t0=$(now); /usr/bin/time -f "%U %S" -o "$TMP/incr.cpu" "$KILN" --warehouse "$W" run --project-dir "$P" --vars "{start_day: \"$LAST\"}" >"$TMP/incr.txt"; t1=$(now)
KI=$(sec "$t0" "$t1")
echo "kiln CPU seconds (user+sys): full refresh $(cpu "$TMP/full.cpu"), incremental day $(cpu "$TMP/incr.cpu"); load average $(cut -d' ' -f1-3 /proc/loadavg)"
kres() {
  for m in commits_per_repo_per_day commits_per_language_per_week weekly_activity; do
    echo "$m rows $("$KILN" sql --warehouse "$W" --csv "select count(*) || ' commits ' || coalesce(sum(commits), 0) from analytics.$m" | tail -1)"
  done
}
KR="$(kres)"
HELPER="$ROOT/tests/node/models_bench_duckdb.mjs"
DA="$(cd "$ROOT/tests/node" && node "$HELPER" "$TMP/pushes.jsonl" "$TMP/commits.jsonl" "$P/seeds" "$(nproc)" "$LAST")"
D1="$(cd "$ROOT/tests/node" && node "$HELPER" "$TMP/pushes.jsonl" "$TMP/commits.jsonl" "$P/seeds" 1 "$LAST")"
[ "$KR" = "$(echo "$DA" | grep ' rows ')" ] || { echo "WARNING: results differ"; echo "kiln:"; echo "$KR"; echo "duckdb:"; echo "$DA" | grep ' rows '; }
echo "$KR"
awk -v kf="$KF" -v ki="$KI" -v n="$(nproc)" \
    -v daf="$(echo "$DA" | awk '/^full/ {print $2}')" -v dai="$(echo "$DA" | awk '/^incremental/ {print $2}')" \
    -v d1f="$(echo "$D1" | awk '/^full/ {print $2}')" -v d1i="$(echo "$D1" | awk '/^incremental/ {print $2}')" 'BEGIN {
  printf "%-22s %10s %14s %14s\n", "", "kiln", "duckdb " n " thr", "duckdb 1 thr"
  printf "%-22s %9.3fs %13.3fs %13.3fs\n", "full refresh", kf, daf, d1f
  printf "%-22s %9.3fs %13.3fs %13.3fs\n", "incremental day", ki, dai, d1i
  printf "ratio duckdb/kiln time: full %.3f (all cores), %.3f (one core each); incremental %.3f, %.3f\n", daf/kf, d1f/kf, dai/ki, d1i/ki
  printf "(issue 11 target: full refresh within 1.5x of DuckDB, i.e. ratio >= 0.67)\n" }'
