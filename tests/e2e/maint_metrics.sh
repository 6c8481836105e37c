#!/usr/bin/env bash
# maint_metrics.sh - the table maintenance families on `kiln serve`'s
# /metrics (data files, small files, delete files, bytes, last compaction),
# parsed by parse-prometheus-text-format and checked against `kiln table
# files` before and after a compaction done while the server runs.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export KILN_TESTS_BIN=${KILN_TESTS_BIN:-$(dirname "$KILN_BIN")/kiln-tests}
node "$KILN_ROOT/tests/node/maint_metrics.mjs" "$KILN_BIN" "$tmp"
echo "maint_metrics: ok"
