#!/usr/bin/env bash
# Every command has docs/cli/NAME.md, and every --flag its --help prints
# (and the global flags of `kiln --help`) is documented there.
set -euo pipefail
cd "$KILN_ROOT"
fail=0
check() { # doc-file help-text
  local doc="$1" help="$2"
  if [ ! -f "$doc" ]; then echo "missing $doc"; fail=1; return; fi
  for flag in $(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
    grep -qF -- "$flag" "$doc" || { echo "$doc: does not document $flag"; fail=1; }
  done
}
check docs/cli/kiln.md "$("$KILN_BIN" --help)"
for c in $("$KILN_BIN" --list-commands); do
  check "docs/cli/$c.md" "$("$KILN_BIN" "$c" --help)"
done
# subcommands that print their own options
for s in scan files remove-orphans rewrite-manifests append overwrite merge delete; do
  check docs/cli/table.md "$("$KILN_BIN" table "$s" --help)"
done
# and the opposite direction for the exit codes page
grep -q "70" docs/cli/exit-codes.md || { echo "docs/cli/exit-codes.md lacks code 70"; fail=1; }
exit $fail
