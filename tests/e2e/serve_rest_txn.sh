#!/usr/bin/env bash
# serve_rest_txn.sh - the REST catalog's multi-table transactions are
# atomic (all tables or none), also when the server is killed between the
# catalog commit and linking the tables' files, and under concurrent
# transactions and kiln writers (tests/node/serve_rest_txn.mjs).
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$KILN_ROOT/tests/node/serve_rest_txn.mjs" "$KILN_BIN" "$tmp"
