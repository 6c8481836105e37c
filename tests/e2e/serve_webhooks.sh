#!/usr/bin/env bash
# serve_webhooks.sh - POST /hooks/github end to end: HMAC signatures (401 on
# a wrong or missing one), ping, signed push deliveries posted concurrently,
# SIGKILL of the server mid-load, restart, resend of everything not
# acknowledged plus redeliveries of acknowledged ones; then `kiln job
# gh-events` over raw/webhooks/date=D/ must give exactly one pushes row per
# delivery (none lost, none twice) with the payload's fields, and every
# commit. Then `kiln serve --ingest-every 1` loads the days into
# github.pushes/github.commits; the same push under a new delivery GUID and
# new pushes end up as exactly one row each. The server binds 127.0.0.1 on a
# kernel-chosen port.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$KILN_ROOT/tests/node/serve_webhooks.mjs" "$KILN_BIN" "$tmp"
