#!/usr/bin/env bash
# Run the whole test suite: unit tests (incl. fuzz-corpus replay) in one
# process, then every end-to-end script in tests/e2e/. Prints one closing
# line "N passed, N failed" over both and exits non-zero on any failure.
# `tests/run.sh BUILD e2e` runs only the end-to-end scripts (make e2e);
# `tests/run.sh BUILD e2e NAME` only tests/e2e/NAME.sh.
set -u
BUILD="${1:-build}"
ONLY="${2:-all}"
PICK="${3:-}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export KILN_ROOT="$ROOT" KILN_BIN="$ROOT/$BUILD/kiln" KILN_PROGRESS=0
export PATH="$ROOT/$BUILD:$PATH"

passed=0; failed=0; failures=()

if [ "$ONLY" = e2e ]; then out=""; rc=0; else
out="$("$ROOT/$BUILD/kiln-tests" 2>&1)"; rc=$?
echo "$out"
fi
line="$(echo "$out" | grep -E '^unit: [0-9]+ passed, [0-9]+ failed$' | tail -n1)"
if [ -n "$line" ]; then
  p=$(echo "$line" | sed -E 's/unit: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" -gt 0 ] && failures+=("unit tests")
fi
if [ $rc -ne 0 ] && [ -z "$line" ]; then failed=$((failed + 1)); failures+=("unit runner crashed (rc=$rc)"); fi

for t in tests/e2e/*.sh; do
  [ -e "$t" ] || continue
  [ -n "$PICK" ] && [ "$(basename "$t" .sh)" != "$PICK" ] && continue
  name="$(basename "$t" .sh)"
  log="$(mktemp)"
  start=$(date +%s)
  if bash "$t" >"$log" 2>&1; then
    echo "ok   e2e::$name ($(( $(date +%s) - start ))s)"; passed=$((passed + 1))
  else
    echo "FAIL e2e::$name"; sed 's/^/    /' "$log" | tail -n 40
    failed=$((failed + 1)); failures+=("e2e::$name")
  fi
  rm -f "$log"
done

if [ ${#failures[@]} -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
