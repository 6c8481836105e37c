#!/usr/bin/env bash
# serve_webhooks_load.sh - bench/webhooks.sh at a small size: 240 signed
# push deliveries from autocannon over 8 connections; all must be accepted;
# then kill -9 of `kiln serve` under that load: after a restart the engine
# job finds every acknowledged delivery exactly once (zero lost, zero
# duplicated rows, nothing never sent). Server on 127.0.0.1, kernel-chosen port.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
COUNT=240 DURATION=60 CONNECTIONS=8 node "$KILN_ROOT/tests/node/serve_webhooks_load.mjs" "$KILN_BIN" "$tmp"
