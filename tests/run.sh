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
# Hermetic: no test may reach a cloud's instance-metadata endpoint (kiln's
# S3 credential chain falls back to it; store_s3 turns it on for its own
# loopback endpoint).
export AWS_EC2_METADATA_DISABLED=true

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

# KILN_TEST_JOBS=N runs N end-to-end scripts at a time (each uses its own
# temporary directories and free ports); results print in start order.
JOBS="${KILN_TEST_JOBS:-1}"
names=()
for t in tests/e2e/*.sh; do
  [ -e "$t" ] || continue
  [ -n "$PICK" ] && [ "$(basename "$t" .sh)" != "$PICK" ] && continue
  # KILN_TEST_SET=quick: only the scripts not marked slow (CI's sanitizer
  # step; docs/testing.md)
  [ "${KILN_TEST_SET:-all}" = quick ] && [ -z "$PICK" ] && grep -q '^# kiln-test: slow' "$t" && continue
  names+=("$(basename "$t" .sh)")
done
# Scripts marked "# kiln-test: slow" start first, so that a long one does
# not run alone at the end while the other slot idles.
if [ "$JOBS" -gt 1 ] && [ ${#names[@]} -gt 1 ]; then
  slow=(); rest=()
  for n in "${names[@]}"; do
    if grep -q '^# kiln-test: slow' "tests/e2e/$n.sh"; then slow+=("$n"); else rest+=("$n"); fi
  done
  names=("${slow[@]}" "${rest[@]}")
fi
res="$(mktemp -d)"
run_one() {
  local name="$1" start; start=$(date +%s)
  if bash "tests/e2e/$name.sh" >"$res/$name.log" 2>&1; then echo 0 >"$res/$name.rc"; else echo 1 >"$res/$name.rc"; fi
  echo $(( $(date +%s) - start )) >"$res/$name.secs"
}
report() {
  local name="$1"
  if [ "$(cat "$res/$name.rc")" = 0 ]; then
    echo "ok   e2e::$name ($(cat "$res/$name.secs")s)"; passed=$((passed + 1))
  else
    echo "FAIL e2e::$name"; sed 's/^/    /' "$res/$name.log" | tail -n 40
    failed=$((failed + 1)); failures+=("e2e::$name")
  fi
}
if [ "$JOBS" -le 1 ]; then
  for name in "${names[@]}"; do run_one "$name"; report "$name"; done
else
  next=0
  for i in "${!names[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    run_one "${names[$i]}" &
    # print, in order, every finished test at the head of the list
    while [ $next -lt ${#names[@]} ] && [ -f "$res/${names[$next]}.secs" ]; do report "${names[$next]}"; next=$((next + 1)); done
  done
  wait
  while [ $next -lt ${#names[@]} ]; do report "${names[$next]}"; next=$((next + 1)); done
fi
rm -rf "$res"

if [ ${#failures[@]} -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
