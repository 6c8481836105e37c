#!/usr/bin/env bash
# verify_convergence.sh - `kiln verify convergence` end to end: synthetic GH
# Archive hours on both sides of the 2025-10-07 payload change plus the
# matching compare responses (kiln gen); the pushes of a few repos are
# re-sent as signed GitHub push webhooks (the shape GitHub delivers: `after`,
# commit `id`, epoch `pushed_at`) to a real `kiln serve`, which lands them in
# the raw zone. Then: the stream and batch paths agree (exit 0, counts
# checked against the source events), without the compare responses the
# post-change commits are reported as stream-only (exit 1), and a divergent
# stream (one delivery dropped, one commit message altered) is reported
# difference by difference (exit 1). Bad inputs exit 2 and 4.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
node "$KILN_ROOT/tests/node/verify_convergence.mjs" "$KILN_BIN" "$tmp"
