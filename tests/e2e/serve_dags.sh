#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# serve_dags.sh - the orchestrator's pages and /api/v1 of `kiln serve
# --project-dir`: DAG list, the runs x tasks grid, task instance with its
# tries, a try's log (offset reads, live tail), lineage, and the
# token-protected actions (trigger, clear, pause), checked against `kiln
# runs --json` and the log files; in headless Chromium: click from a failed
# task to its log, from a lineage dataset to its table, trigger a run and
# see it appear, watch a running task's log grow; no console errors. Then
# a separate `kiln scheduler` runs a DAG while the server reads its state.
# `kiln serve --scheduler` runs a due interval, drains on SIGTERM (the
# running task finishes, exit 0), and its scheduler process ends with the
# server on kill -9. Also checks that the embedded UI (serve_ui.c)
# is generated from src/serve/ui/.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
CHROMIUM="${CHROMIUM:-$(command -v chromium || true)}"
[ -n "$CHROMIUM" ] || { echo "serve_dags: chromium is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
python3 "$KILN_ROOT/src/serve/ui/embed.py" --check
tmp="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
node "$KILN_ROOT/tests/node/serve_dags.mjs" "$KILN_BIN" "$tmp" "$CHROMIUM"
