#!/usr/bin/env bash
# Every command has docs/cli/NAME.md, and every option of every command
# (from the option tables themselves: `kiln help --dump-options`, so the
# check cannot drift from the parser) is documented on its command's page;
# the global options on kiln.md. The other way round, every --flag a page
# names in its options tables must exist for that command (no stale docs).
set -euo pipefail
cd "$KILN_ROOT"
fail=0
dump="$("$KILN_BIN" help --dump-options)"
[ -n "$dump" ] || { echo "empty --dump-options"; exit 1; }
for c in $("$KILN_BIN" --list-commands); do
  [ -f "docs/cli/$c.md" ] || { echo "missing docs/cli/$c.md"; fail=1; }
done
while IFS=$'\t' read -r path flag; do
  cmd=${path%% *}
  doc="docs/cli/$cmd.md"
  [ "$cmd" = kiln ] && doc=docs/cli/kiln.md
  [ -f "$doc" ] || continue
  grep -qF -- "\`$flag" "$doc" || { echo "$doc: does not document $flag ($path)"; fail=1; }
done <<<"$dump"
# reverse: flags in the option tables of a page (table rows starting with
# | `--flag) are real options of that command, or global ones
globals=$(awk -F'\t' '$1 == "kiln" {print $2}' <<<"$dump")
for doc in docs/cli/*.md; do
  cmd=$(basename "$doc" .md)
  [ "$cmd" = kiln ] || [ "$cmd" = exit-codes ] && continue
  known=$(awk -F'\t' -v c="$cmd" '$1 == c || index($1, c " ") == 1 {print $2}' <<<"$dump")
  for flag in $(grep -oE '^\| `--[a-z][a-z0-9-]*' "$doc" | sed 's/^| `//' | sort -u); do
    grep -qxF -- "$flag" <<<"$known"$'\n'"$globals"$'\n--help' ||
      { echo "$doc: documents $flag, which kiln $cmd does not have"; fail=1; }
  done
done
grep -q "70" docs/cli/exit-codes.md || { echo "docs/cli/exit-codes.md lacks code 70"; fail=1; }
exit $fail
