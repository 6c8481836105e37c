#!/usr/bin/env bash
# var() precedence as dbt's (tests/models/vars): --vars, then the
# project-scoped vars of dbt_project.yml (vars: {project: {k: v}}), then
# its global vars, then var()'s default; target.name / target.schema
# follow --target.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cp -r "$KILN_ROOT/tests/models/vars" "$tmp/p"; P="$tmp/p"
fail() { echo "FAIL: $*" >&2; exit 1; }
out() { tr -s ' \n' ' ' < "$P/target/compiled/vp/models/m.sql"; }
"$KILN_BIN" compile --project-dir "$P" > /dev/null
[ "$(out)" = "select 'scoped' as k, 'g' as g, 'dflt' as d, 'dev' as target_name, 'analytics' as target_schema" ] \
  || fail "project vars: $(out)"
"$KILN_BIN" compile --project-dir "$P" --vars '{k: cli, missing: given}' --target ci > /dev/null
[ "$(out)" = "select 'cli' as k, 'g' as g, 'given' as d, 'ci' as target_name, 'ci_schema' as target_schema" ] \
  || fail "--vars / --target: $(out)"
echo "ok models_vars"
