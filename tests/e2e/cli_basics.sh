#!/usr/bin/env bash
# The CLI's own contract: --version, --help, unknown commands and options
# give usage errors (exit 2) that name the problem.
set -euo pipefail
out="$("$KILN_BIN" --version)"
[[ "$out" =~ ^kiln\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "bad --version: $out"; exit 1; }
"$KILN_BIN" --help | grep -q "usage: kiln" || { echo "--help lacks usage"; exit 1; }
set +e
err="$("$KILN_BIN" no-such-command 2>&1)"; rc=$?
set -e
[ $rc -eq 2 ] || { echo "unknown command exit $rc, want 2"; exit 1; }
grep -q "unknown command 'no-such-command'" <<<"$err" || { echo "bad message: $err"; exit 1; }
set +e
err="$("$KILN_BIN" --bogus 2>&1)"; rc=$?
set -e
[ $rc -eq 2 ] || { echo "unknown option exit $rc, want 2"; exit 1; }
for c in $("$KILN_BIN" --list-commands); do
  "$KILN_BIN" "$c" --help >/dev/null || { echo "kiln $c --help failed"; exit 1; }
done
echo ok
