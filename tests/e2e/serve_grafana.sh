#!/usr/bin/env bash
# serve_grafana.sh - examples/personal-api/grafana/ (dashboard.json,
# prometheus.yml, rules.yml, rules_test.yml) against what `kiln serve`
# exports: every metric a panel or alert names exists, the dashboard is
# well formed, and promtool accepts the config and rules, passes the rule
# unit tests and lints /metrics.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$KILN_ROOT/tests/node/serve_grafana.mjs" "$KILN_BIN" "$tmp" "$KILN_ROOT/examples/personal-api/grafana"
