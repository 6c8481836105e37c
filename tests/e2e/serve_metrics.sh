#!/usr/bin/env bash
# serve_metrics.sh - `kiln serve`'s /metrics (Prometheus text format 0.0.4)
# parsed by parse-prometheus-text-format after known traffic: request
# counters and the latency histogram by method/route/status, webhook and
# catalog-commit counters, per-table last-commit time and snapshot count.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$KILN_ROOT/tests/node/serve_metrics.mjs" "$KILN_BIN" "$tmp"
