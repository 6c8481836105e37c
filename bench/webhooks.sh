#!/usr/bin/env bash
# Webhook receiver under load (issue 14): autocannon (npm, tests/node) sends
# COUNT signed GitHub push deliveries over CONNECTIONS keep-alive
# connections to `kiln serve` on 127.0.0.1, bounded by DURATION seconds per phase.
#   1. deliveries per second accepted (202, landed and fsynced), latency
#      p50 / p99 / max;
#   2. the same load on a fresh raw zone with the server killed (SIGKILL)
#      after a third is acknowledged, restarted, and the engine job run over
#      what landed: zero acknowledged deliveries lost, zero duplicated rows
#      (this part fails the script when it does not hold).
# Prints one JSON line. Sizes: COUNT=2000 DURATION=30 CONNECTIONS=16
# (smaller for a quick check, e.g. COUNT=200 CONNECTIONS=4).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KILN_BIN="${KILN_BIN:-$ROOT/build/kiln}"
[ -d "$ROOT/tests/node/node_modules/autocannon" ] || { echo "bench/webhooks.sh: run scripts/deps.sh (npm autocannon)" >&2; exit 1; }
export COUNT="${COUNT:-2000}" DURATION="${DURATION:-30}" CONNECTIONS="${CONNECTIONS:-16}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$ROOT/tests/node/serve_webhooks_load.mjs" "$KILN_BIN" "$tmp"
