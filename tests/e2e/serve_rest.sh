#!/usr/bin/env bash
# serve_rest.sh - `kiln serve`'s Iceberg REST catalog against iceberg-js (an
# independent client) and the spec's request/response shapes: namespaces,
# tables, commits with requirements (409 CommitFailedException), multi-table
# transactions, rename, drop; concurrent commits from `kiln sql` and the
# REST client with no lost update; kiln reads the REST-created table; the
# token is required for writes and never logged; SIGTERM exits 0.
# The server runs on 127.0.0.1 on a kernel-chosen port and is killed on exit.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$KILN_ROOT/tests/node/serve_rest.mjs" "$KILN_BIN" "$tmp"
