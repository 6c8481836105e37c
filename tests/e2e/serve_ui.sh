#!/usr/bin/env bash
# serve_ui.sh - the tables UI of `kiln serve` in headless Chromium (Debian
# `chromium`, installed by scripts/deps.sh, driven by npm playwright-core):
# list page, click through to a table's schema/partitioning/refs/snapshots/
# properties, catalog text shown as text (never markup), no console errors;
# plus /api/v1/tables, /api/v1/openapi.json and the page's CSP header.
# Screenshots are kept in $KILN_ARTIFACTS when set.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
CHROMIUM="${CHROMIUM:-$(command -v chromium || true)}"
[ -n "$CHROMIUM" ] || { echo "serve_ui: chromium is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$KILN_ROOT/tests/node/serve_ui.mjs" "$KILN_BIN" "$tmp" "$CHROMIUM"
