#!/usr/bin/env bash
# kiln's Jinja against Jinja2 (configured as dbt configures it): every case in
# tests/models/jinja/cases.txt renders byte-identically, every case in
# errors.txt fails in both with kiln naming file:line:column.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
if ! python3 -c 'import jinja2' 2>/dev/null; then
  echo "python3 jinja2 is not installed: cannot compare" >&2; exit 1
fi
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
python3 "$KILN_ROOT/tests/models/jinja/compare.py" "$KILN_BIN" \
  "$KILN_ROOT/tests/models/jinja/cases.txt" "$KILN_ROOT/tests/models/jinja/errors.txt" "$tmp"
