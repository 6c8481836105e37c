#!/usr/bin/env bash
# bench/parquet.sh - kiln's Parquet writer and projected scan against DuckDB
# on the same data, codec (zstd) and machine.
#
# Data: a commits-shaped table (repo_id, repo_name, sha, push_id,
# author_name, author_email, message, distinct, created_at), BENCH_ROWS rows
# (default 3,000,000), generated once by DuckDB as uncompressed Parquet.
#   write: read that file and write it as zstd Parquet
#          kiln: `kiln parquet rewrite --codec zstd` (columns on every core)
#          DuckDB: COPY (SELECT * FROM read_parquet(src)) TO out (COMPRESSION zstd)
#                  (DuckDB's default threads: every core)
#          kiln's time is the whole process (start, fsync, rename included);
#          DuckDB's is the statement inside an open connection, without an
#          fsync. Dirty pages are flushed (sync) before each timed write.
#   scan:  read 2 columns (repo_id, sha) of the zstd file DuckDB wrote
#          kiln: `kiln parquet scan --columns repo_id,sha` (sums them; a thread per column)
#          DuckDB: SELECT count(*), sum(repo_id), sum(strlen(sha))
#   nested: the commits list<struct<sha, author struct<name, email>, distinct, n>>
#          column of a push-shaped table (BENCH_NESTED_ROWS rows, default
#          1,000,000, 0-5 commits each, some null), written by DuckDB (zstd);
#          every value assembled from its 5 leaves into JSON text
#          kiln: `kiln parquet scan --columns commits --threads 1` (sums the JSON lengths)
#          DuckDB: SELECT count(*), sum(strlen(to_json(commits))) (its default threads)
#          and the sub-path commits.sha alone (kiln reads that one leaf;
#          DuckDB: to_json(list_transform(commits, c -> c.sha)))
#          The JSON lengths must agree (same text, byte for byte in length).
# Prints the median of BENCH_RUNS runs (default 5), rows/s, MB/s (of the
# uncompressed source / of the scanned file) and kiln/DuckDB speed ratios
# (> 1 means kiln is faster), and beside them the CPU seconds (user+sys,
# /usr/bin/time) of each whole process: kiln's, and the node process running
# DuckDB (which includes node's start, ~0.1 s) -- on a shared machine the CPU
# figures are the steadier ones. Measures only; never fails on timing.
# BENCH_ONLY=nested runs the nested part alone.
set -euo pipefail
ROOT="${KILN_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
KILN="${KILN_BIN:-$ROOT/build/kiln}"
RUNS="${BENCH_RUNS:-5}"
ROWS="${BENCH_ROWS:-3000000}"
HELPER="$ROOT/tests/node/parquet_bench.mjs"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

if [ "${BENCH_ONLY:-}" != nested ]; then
node "$HELPER" gen "$ROWS" "$TMP/src.parquet" >/dev/null
SRC_MB=$(awk -v b="$(stat -c %s "$TMP/src.parquet")" 'BEGIN {printf "%.1f", b/1048576}')
echo "data: $ROWS commits-shaped rows, ${SRC_MB} MB uncompressed Parquet; codec zstd; $(nproc) cores; runs $RUNS"

kw=(); dw=(); ks=(); ds=(); kwc=(); dwc=(); ksc=(); dsc=()
# `sync` before every timed write: DuckDB does not fsync what it writes, so
# without it the kernel flushes DuckDB's 150 MB during kiln's next run (kiln
# fsyncs its own file before the rename, as a data file of a table must be)
for i in $(seq "$RUNS"); do
  rm -f "$TMP/kiln.parquet"; sync
  t0=$(now); /usr/bin/time -f "%U %S" -o "$TMP/t" "$KILN" parquet rewrite --codec zstd "$TMP/src.parquet" "$TMP/kiln.parquet" 2>/dev/null; t1=$(now)
  kw+=("$(echo "$t1 - $t0" | bc -l)"); kwc+=("$(awk '{print $1 + $2}' "$TMP/t")")
  rm -f "$TMP/duck.parquet"; sync
  dw+=("$(/usr/bin/time -f "%U %S" -o "$TMP/t" node "$HELPER" write "$TMP/src.parquet" "$TMP/duck.parquet" zstd | awk '/^seconds/ {print $2}')")
  dwc+=("$(awk '{print $1 + $2}' "$TMP/t")")
done
for i in $(seq "$RUNS"); do
  t0=$(now); out=$(/usr/bin/time -f "%U %S" -o "$TMP/t" "$KILN" parquet scan --columns repo_id,sha "$TMP/duck.parquet" 2>/dev/null); t1=$(now)
  ks+=("$(echo "$t1 - $t0" | bc -l)"); ksc+=("$(awk '{print $1 + $2}' "$TMP/t")")
  ds+=("$(/usr/bin/time -f "%U %S" -o "$TMP/t" node "$HELPER" scan "$TMP/duck.parquet" | awk '/^seconds/ {print $2}')")
  dsc+=("$(awk '{print $1 + $2}' "$TMP/t")")
done
# the two scans must agree
kres=$(echo "$out" | awk '/^rows:/ {r=$2} /^repo_id:/ {s=$3} /^sha:/ {b=$3} END {gsub(",","",s); gsub(",","",b); print r, s, b}')
dres=$(node "$HELPER" scan "$TMP/duck.parquet" | awk '/^result/ {print $2, $3, $4}')
[ "$kres" = "$dres" ] || echo "WARNING: scan results differ: kiln [$kres] DuckDB [$dres]"

KW=$(printf '%s\n' "${kw[@]}" | median); DW=$(printf '%s\n' "${dw[@]}" | median)
KS=$(printf '%s\n' "${ks[@]}" | median); DS=$(printf '%s\n' "${ds[@]}" | median)
KSZ=$(stat -c %s "$TMP/kiln.parquet"); DSZ=$(stat -c %s "$TMP/duck.parquet")
SCAN_MB=$(awk -v b="$DSZ" 'BEGIN {printf "%.1f", b/1048576}')
awk -v r="$ROWS" -v mb="$SRC_MB" -v kw="$KW" -v dw="$DW" -v ksz="$KSZ" -v dsz="$DSZ" 'BEGIN {
  printf "write  kiln   %.3f s  %.2f M rows/s  %.1f MB/s  file %.1f MB\n", kw, r/kw/1e6, mb/kw, ksz/1048576
  printf "write  duckdb %.3f s  %.2f M rows/s  %.1f MB/s  file %.1f MB\n", dw, r/dw/1e6, mb/dw, dsz/1048576
  printf "write  ratio kiln/duckdb speed: %.2f\n", dw/kw }'
awk -v r="$ROWS" -v mb="$SCAN_MB" -v ks="$KS" -v ds="$DS" 'BEGIN {
  printf "scan   kiln   %.3f s  %.2f M rows/s  %.1f MB/s (2 of 9 columns)\n", ks, r/ks/1e6, mb/ks
  printf "scan   duckdb %.3f s  %.2f M rows/s  %.1f MB/s\n", ds, r/ds/1e6, mb/ds
  printf "scan   ratio kiln/duckdb speed: %.2f\n", ds/ks }'
KWC=$(printf '%s\n' "${kwc[@]}" | median); DWC=$(printf '%s\n' "${dwc[@]}" | median)
KSC=$(printf '%s\n' "${ksc[@]}" | median); DSC=$(printf '%s\n' "${dsc[@]}" | median)
awk -v kw="$KWC" -v dw="$DWC" -v ks="$KSC" -v ds="$DSC" 'BEGIN {
  printf "cpu    write: kiln %.2f s, duckdb (node process) %.2f s, ratio %.2f\n", kw, dw, dw/kw
  printf "cpu    scan:  kiln %.2f s, duckdb (node process) %.2f s, ratio %.2f\n", ks, ds, ds/ks }'
echo "load: $(uptime | sed 's/.*load average/load average/')"

fi

# ---- nested: list<struct> reader throughput
NROWS="${BENCH_NESTED_ROWS:-1000000}"
node "$HELPER" gen-nested "$NROWS" "$TMP/nested.parquet" >/dev/null
NMB=$(awk -v b="$(stat -c %s "$TMP/nested.parquet")" 'BEGIN {printf "%.1f", b/1048576}')
kn=(); dn=(); kh=(); dh=()
for i in $(seq "$RUNS"); do
  t0=$(now); nout=$("$KILN" parquet scan --threads 1 --columns commits "$TMP/nested.parquet" 2>/dev/null); t1=$(now)
  kn+=("$(echo "$t1 - $t0" | bc -l)")
  dn+=("$(node "$HELPER" scan-nested "$TMP/nested.parquet" | awk '/^seconds/ {print $2}')")
  t0=$(now); hout=$("$KILN" parquet scan --threads 1 --columns commits.sha "$TMP/nested.parquet" 2>/dev/null); t1=$(now)
  kh+=("$(echo "$t1 - $t0" | bc -l)")
  dh+=("$(node "$HELPER" scan-sha "$TMP/nested.parquet" | awk '/^seconds/ {print $2}')")
done
kres=$(echo "$nout" | awk '/^rows:/ {r=$2} /^commits:/ {s=$3} END {gsub(",","",s); print r, s}')
dres=$(node "$HELPER" scan-nested "$TMP/nested.parquet" | awk '/^result/ {print $2, $3}')
[ "$kres" = "$dres" ] || echo "WARNING: nested scan results differ: kiln [$kres] DuckDB [$dres]"
KN=$(printf '%s\n' "${kn[@]}" | median); DN=$(printf '%s\n' "${dn[@]}" | median)
KH=$(printf '%s\n' "${kh[@]}" | median); DH=$(printf '%s\n' "${dh[@]}" | median)
awk -v r="$NROWS" -v mb="$NMB" -v k="$KN" -v d="$DN" -v kh="$KH" -v dh="$DH" 'BEGIN {
  printf "nested kiln   %.3f s  %.2f M rows/s  (list<struct> to JSON, %.1f MB zstd file, 1 thread)\n", k, r/k/1e6, mb
  printf "nested duckdb %.3f s  %.2f M rows/s\n", d, r/d/1e6
  printf "nested ratio kiln/duckdb speed: %.2f\n", d/k
  printf "sha    kiln   %.3f s  duckdb %.3f s  ratio kiln/duckdb speed: %.2f (the commits.sha leaf alone)\n", kh, dh, dh/kh }'
