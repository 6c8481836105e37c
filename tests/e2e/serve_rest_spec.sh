#!/usr/bin/env bash
# serve_rest_spec.sh - kiln's Iceberg REST catalog against the published
# OpenAPI specification (tests/data/iceberg-rest, apache/iceberg
# open-api/rest-catalog-open-api.yaml): requests, statuses and response
# bodies of every implemented operation validated with ajv (JSON Schema
# 2020-12), advertised endpoints checked against the spec's paths.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$KILN_ROOT/tests/node/serve_rest_spec.mjs" "$KILN_BIN" "$tmp" "$KILN_ROOT"
