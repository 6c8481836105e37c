#!/usr/bin/env bash
# kill -9 of `kiln serve` at its commit points: the webhook's data and
# delivery-log fsyncs and the micro-batch's lake commit (tests/node/
# fault_serve.mjs; docs/faults.md). No acknowledged delivery is lost, none
# lands twice, the tables converge after a restart.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
T="$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)"
trap 'rm -rf "$T"' EXIT
unset KILN_FAILPOINT KILN_FAILPOINT_ONCE KILN_FAILPOINT_LOG || true
case "$KILN_BIN" in */build-asan/*) ASAN=1 ;; *) ASAN=0 ;; esac
node "$KILN_ROOT/tests/node/fault_serve.mjs" "$KILN_BIN" "$T" "$ASAN"
