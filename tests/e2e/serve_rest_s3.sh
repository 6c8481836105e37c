#!/usr/bin/env bash
# serve_rest_s3.sh - `kiln serve` as the Iceberg REST catalog of a warehouse
# on S3 (@20minutes/s3rver on 127.0.0.1, SigV4-checked, as store_s3 uses):
# REST-created tables at s3:// locations, kiln and iceberg-js committing to
# the same tables and seeing each other's commits (docs/scale-out.md).
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
NODE_DIR="$KILN_ROOT/tests/node"
[ -d "$NODE_DIR/node_modules/@20minutes/s3rver" ] || { echo "tests/node lacks @20minutes/s3rver (run scripts/deps.sh)"; exit 1; }
tmp="$(mktemp -d)"
srv=""
cleanup() {
  if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/s3"
node --openssl-legacy-provider "$NODE_DIR/s3_server.cjs" "$tmp/s3" "$tmp/port" kiln-wh >"$tmp/s3.log" 2>&1 &
srv=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "FAIL: the S3 server did not start: $(cat "$tmp/s3.log")" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_ENDPOINT_URL="http://127.0.0.1:$(cat "$tmp/port")"
export KILN_CATALOG_DIR="$tmp/catalog"
node "$NODE_DIR/serve_rest_s3.mjs" "$KILN_BIN" "$tmp"
