#!/usr/bin/env bash
# bench/lake.sh - kiln's Iceberg layer (issue 4 "Benchmark", PRODUCT.md):
#   commit  latency of commits on a table with LAKE_FILES data files
#           (default 10,000) in LAKE_SNAPSHOTS snapshots (default 1,000):
#           single-file appends, load+append, a metadata-only set-properties,
#           and table load. Peer: the target itself (100 ms).
#   merge   MERGE of one day (half updates, half inserts, keys repo_id,sha)
#           into a LAKE_DAYS-day (default 365) commits-shaped table
#           partitioned by day(created_at), LAKE_DAY_ROWS_MIN..MAX rows a day
#           (default 2000..5000). Peer: overwriting the whole table.
#   idem    the same MERGE re-run: must commit nothing. Peer: target 50 ms.
# Timings are medians of BENCH_RUNS runs (default 5); commit figures use
# LAKE_COMMITS runs (default 20) for a p90. The C driver bench/lake_bench.c
# checks every result (row counts, files touched, no-op) and exits non-zero
# if one is wrong. Measures only; never fails on timing.
#
#   bash bench/lake.sh            (after `make`; uses $KILN_BIN's build dir or build/)
set -euo pipefail
ROOT="${KILN_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
if [ -n "${KILN_BIN:-}" ]; then BUILD_DIR="$(dirname "$KILN_BIN")"; else BUILD_DIR="$ROOT/build"; fi
export BENCH_RUNS="${BENCH_RUNS:-5}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# libkiln.a: bring it up to date (a no-op after `make`); a stale one is
# used, with a warning, only if that fails
REL="$(realpath -m --relative-to="$ROOT" "$BUILD_DIR")"
if ! make -C "$ROOT" -j2 BUILD="$REL" "$REL/libkiln.a" >"$TMP/make.log" 2>&1; then
  [ -f "$BUILD_DIR/libkiln.a" ] || { cat "$TMP/make.log" >&2; echo "lake.sh: cannot build $BUILD_DIR/libkiln.a" >&2; exit 1; }
  echo "lake.sh: WARNING: make failed; using the existing $BUILD_DIR/libkiln.a" >&2
fi
PKGS="$(sed -n 's/^PKGS *:= *//p' "$ROOT/Makefile")" # the same libraries as the Makefile
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -pthread \
  -I"$ROOT/src" -o "$TMP/lake_bench" "$ROOT/bench/lake_bench.c" "$BUILD_DIR/libkiln.a" \
  $(pkg-config --cflags --libs $PKGS) -pthread -lm

echo "data: generated in $TMP; $(nproc) cores; BENCH_RUNS $BENCH_RUNS; lib $BUILD_DIR/libkiln.a"
"$TMP/lake_bench" commit "$TMP/wh-commit"
rm -rf "$TMP/wh-commit"
"$TMP/lake_bench" merge "$TMP/wh-merge"
