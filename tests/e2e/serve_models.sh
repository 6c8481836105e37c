#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# serve_models.sh - the models pages of `kiln serve --models-dir`: the
# tutorial-shaped project (tests/models/jaffle) is built with `kiln build`;
# /api/v1/models must agree with its target/manifest.json and
# run_results.json (read here independently), and name the DAG task that
# produces a model's table; in headless Chromium the graph shows every node,
# a click goes from a model to its upstream model and on to that one's
# table page (schema and preview), and the page logs no console errors.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
CHROMIUM="${CHROMIUM:-$(command -v chromium || true)}"
[ -n "$CHROMIUM" ] || { echo "serve_models: chromium is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
cp -r "$KILN_ROOT/tests/models/jaffle" "$tmp/p"
"$KILN_BIN" build --project-dir "$tmp/p" > "$tmp/build.txt" || { cat "$tmp/build.txt"; exit 1; }
"$KILN_BIN" docs generate --project-dir "$tmp/p" > "$tmp/docs.txt" || { cat "$tmp/docs.txt"; exit 1; }
node "$KILN_ROOT/tests/node/serve_models.mjs" "$KILN_BIN" "$tmp" "$CHROMIUM"
