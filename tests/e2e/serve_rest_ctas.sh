#!/usr/bin/env bash
# serve_rest_ctas.sh - a create transaction through kiln's Iceberg REST
# catalog, replaying what Spark's CTAS sends (Iceberg Java's
# RESTSessionCatalog createTransaction): stage-create (nothing in the
# catalog yet), then one commit with the requirement assert-create and the
# full create updates plus the first snapshot; kiln then reads the rows.
# assert-create on an existing table is 409, as is a second identical commit.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$KILN_ROOT/tests/node/serve_rest_ctas.mjs" "$KILN_BIN" "$tmp"
