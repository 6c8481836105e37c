#!/usr/bin/env bash
# bench/store.sh - the object store (issue 13 "Benchmark"): the gh-events job
# (--format iceberg) and a full table scan with the warehouse on the
# loopback S3 server (tests/node/s3_server.cjs, signature-checking) vs on
# local disk. Peer: the same command on local disk; prints the ratio, the
# S3 requests each phase made and the bytes it moved (stored objects for the
# job, the table's data files for the scan). Third: the job reading its
# input from a raw zone on the S3 server (`kiln ingest gharchive` put it
# there; each hour file streamed while it is read) vs from local disk,
# writing Parquet files to local disk, and the bytes it read from S3.
#   STORE_HOURS  hours of generated data (default 6)
#   STORE_SCALE  kiln gen --scale (default 0.01, ~2500 events an hour)
# Timings are medians of BENCH_RUNS runs (default 5). Measures only; never
# fails on timing.
#
#   bash bench/store.sh            (after `make`)
set -euo pipefail
ROOT="${KILN_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
K="${KILN_BIN:-$ROOT/build/kiln}"
RUNS="${BENCH_RUNS:-5}"
HOURS="${STORE_HOURS:-6}"
SCALE="${STORE_SCALE:-0.01}"
TMP="$(mktemp -d)"
. "$ROOT/tests/e2e/s3_lib.bash"
cleanup() {
  s3_stop
  rm -rf "$TMP"
}
trap cleanup EXIT

KILN_ROOT="$ROOT" S3_LOG="$TMP/requests.log" s3_start "$TMP/s3" bench
export KILN_CATALOG_DIR="$TMP/catalogs"
"$K" gen gharchive --out "$TMP/gha" --start 2025-10-06 --hours "$HOURS" --scale "$SCALE" > "$TMP/gen.txt"
echo "data: $(cat "$TMP/gen.txt"); $(nproc) cores; BENCH_RUNS $RUNS"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
reqs() { if [ -f "$TMP/requests.log" ]; then wc -l < "$TMP/requests.log"; else echo 0; fi; }

declare -A T
for where in local s3; do
  : > "$TMP/job.$where" ; : > "$TMP/scan.$where"
  for r in $(seq "$RUNS"); do
    if [ "$where" = local ]; then W="$TMP/wh-$r"; else W="s3://bench/wh-$r"; fi
    r0=$(reqs); t0=$(now)
    "$K" job gh-events --in "$TMP/gha" --format iceberg --warehouse "$W" > /dev/null 2>&1
    t1=$(now); r1=$(reqs)
    "$K" table --warehouse "$W" scan github.commits --format csv > "$TMP/scan.out"
    t2=$(now); r2=$(reqs)
    echo "$t1 - $t0" | bc -l >> "$TMP/job.$where"
    echo "$t2 - $t1" | bc -l >> "$TMP/scan.$where"
    [ "$where" = s3 ] && { JOBREQ=$((r1 - r0)); SCANREQ=$((r2 - r1)); ROWS=$(($(wc -l < "$TMP/scan.out") - 1)); }
  done
  T[job.$where]=$(median < "$TMP/job.$where")
  T[scan.$where]=$(median < "$TMP/scan.$where")
done
# the job's input on S3 (a raw zone, streamed) vs on local disk
"$K" ingest gharchive --from "file://$TMP/gha" --start 2025-10-06 --end 2025-10-07 --out s3://bench/raw \
  --partial-dir "$TMP/pd" > /dev/null
for where in local s3; do
  : > "$TMP/in.$where"
  for r in $(seq "$RUNS"); do
    if [ "$where" = local ]; then IN="$TMP/gha"; else IN="s3://bench/raw"; fi
    rm -rf "$TMP/out-in"
    r0=$(reqs); t0=$(now)
    "$K" job gh-events --in "$IN" --format parquet --out "$TMP/out-in" > /dev/null 2>&1
    t1=$(now); r1=$(reqs)
    echo "$t1 - $t0" | bc -l >> "$TMP/in.$where"
    [ "$where" = s3 ] && INREQ=$((r1 - r0))
  done
  T[in.$where]=$(median < "$TMP/in.$where")
done
inbytes=$(find "$TMP/gha" -name '*.json.gz' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
stored=$(find "$TMP/s3/bench/wh-1" -name '*._S3rver_object' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
scanned=$(find "$TMP/s3/bench/wh-1/github/commits/data" -name '*._S3rver_object' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
printf 'job  gh-events -> iceberg: local %.3f s, S3 %.3f s (x%.2f); S3: %d requests, %.2f MB stored\n' \
  "${T[job.local]}" "${T[job.s3]}" "$(echo "${T[job.s3]} / ${T[job.local]}" | bc -l)" "$JOBREQ" \
  "$(echo "$stored / 1000000" | bc -l)"
printf 'scan github.commits (%d rows): local %.3f s, S3 %.3f s (x%.2f); S3: %d requests, %.2f MB of data files read\n' \
  "$ROWS" "${T[scan.local]}" "${T[scan.s3]}" "$(echo "${T[scan.s3]} / ${T[scan.local]}" | bc -l)" "$SCANREQ" \
  "$(echo "$scanned / 1000000" | bc -l)"
printf 'job  gh-events --in raw zone -> parquet: local %.3f s, S3 (streamed) %.3f s (x%.2f); S3: %d requests, %.2f MB read\n' \
  "${T[in.local]}" "${T[in.s3]}" "$(echo "${T[in.s3]} / ${T[in.local]}" | bc -l)" "$INREQ" \
  "$(echo "$inbytes / 1000000" | bc -l)"
