#!/usr/bin/env bash
# Run every benchmark bench/*.sh (each prints its own ratio against a named
# peer). Benchmarks measure; they never fail on timing. BENCH_RUNS sets how
# many runs each takes the median of (default 5).
set -u
BUILD="${1:-build}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export KILN_ROOT="$ROOT" KILN_BIN="$ROOT/$BUILD/kiln" KILN_PROGRESS=0
export BENCH_RUNS="${BENCH_RUNS:-5}"
rc=0
for b in "$ROOT"/bench/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  echo "== $(basename "$b" .sh)"
  bash "$b" || { echo "bench $(basename "$b") failed to run"; rc=1; }
done
exit $rc
