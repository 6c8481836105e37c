#!/usr/bin/env bash
# serve_rest_s3.sh - `kiln serve` as the Iceberg REST catalog of a warehouse
# on S3 (@20minutes/s3rver on 127.0.0.1, SigV4-checked, as store_s3 uses):
# REST-created tables at s3:// locations, kiln and iceberg-js committing to
# the same tables and seeing each other's commits (docs/scale-out.md).
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
NODE_DIR="$KILN_ROOT/tests/node"
. "$KILN_ROOT/tests/e2e/s3_lib.bash"
tmp="$(mktemp -d)"
cleanup() {
  s3_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
s3_start "$tmp/s3" kiln-wh
export KILN_CATALOG_DIR="$tmp/catalog"
node "$NODE_DIR/serve_rest_s3.mjs" "$KILN_BIN" "$tmp"
