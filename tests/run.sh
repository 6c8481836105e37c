#!/usr/bin/env bash
# Run the whole test suite: the unit tests (incl. fuzz-corpus replay) and
# every end-to-end script in tests/e2e/. Prints one closing line
# "N passed, N failed" over both and exits non-zero on any failure.
# `tests/run.sh BUILD e2e` runs only the end-to-end scripts (make e2e);
# `tests/run.sh BUILD e2e NAME` only tests/e2e/NAME.sh.
#
# Environment (docs/testing.md):
#   KILN_TEST_JOBS=N     N jobs at a time (default 1). With N > 1 the unit
#                        suite runs as N shards (kiln-tests -k I/N) in the
#                        same slots as the e2e scripts, so no core idles.
#   KILN_TEST_SET=quick  leave out the e2e scripts marked "# kiln-test: slow"
#   KILN_TEST_E2E="a b"  only these e2e scripts (make tsan)
#   KILN_UNIT_ARGS="-s base -s net"  arguments for every kiln-tests shard
#   KILN_TEST_SLOWEST=N  how many of the slowest tests the closing table
#                        lists (default 20; every duration is also in
#                        BUILD/test-times.txt)
#   KILN_SAN_LOG_DIR=D   a directory the build's sanitizer writes its
#                        reports into (log_path): any file there fails the
#                        run, even when a script expected kiln to fail
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
JOBS="${KILN_TEST_JOBS:-1}"
run_start=$(date +%s)

# The queue: unit shards ("unit:I/N"), then the e2e scripts.
names=()
if [ "$ONLY" != e2e ]; then
  if [ "$JOBS" -gt 1 ]; then
    for ((i = 0; i < JOBS; i++)); do names+=("unit:$i/$JOBS"); done
  else
    names+=("unit:0/1")
  fi
fi
e2e=()
for t in tests/e2e/*.sh; do
  [ -e "$t" ] || continue
  n="$(basename "$t" .sh)"
  [ -n "$PICK" ] && [ "$n" != "$PICK" ] && continue
  if [ -n "${KILN_TEST_E2E:-}" ] && [ -z "$PICK" ]; then
    case " $KILN_TEST_E2E " in *" $n "*) ;; *) continue ;; esac
  fi
  # KILN_TEST_SET=quick: only the scripts not marked slow (CI's sanitizer
  # step; docs/testing.md)
  [ "${KILN_TEST_SET:-all}" = quick ] && [ -z "$PICK" ] && grep -q '^# kiln-test: slow' "$t" && continue
  e2e+=("$n")
done
# Scripts marked "# kiln-test: slow" start first (after the unit shards),
# so that a long one does not run alone at the end while the other slot idles.
if [ "$JOBS" -gt 1 ] && [ ${#e2e[@]} -gt 1 ]; then
  slow=(); rest=()
  for n in "${e2e[@]}"; do
    if grep -q '^# kiln-test: slow' "tests/e2e/$n.sh"; then slow+=("$n"); else rest+=("$n"); fi
  done
  e2e=("${slow[@]}" "${rest[@]}")
fi
names+=("${e2e[@]}")

res="$(mktemp -d)"
key() { echo "${1//[:\/]/_}"; }
run_one() {
  local name="$1" k start; k="$(key "$1")"; start=$(date +%s)
  if [ "${name%%:*}" = unit ]; then
    # shellcheck disable=SC2086
    "$ROOT/$BUILD/kiln-tests" ${KILN_UNIT_ARGS:-} -k "${name#unit:}" >"$res/$k.log" 2>&1
  else
    bash "tests/e2e/$name.sh" >"$res/$k.log" 2>&1
  fi
  echo $? >"$res/$k.rc"
  # CPU seconds (user + sys) of the test and its children, which load on a
  # shared machine does not inflate the way it does the wall time
  times >"$res/$k.times"
  cpu_of "$res/$k.times" >"$res/$k.cpu"
  echo $(( $(date +%s) - start )) >"$res/$k.secs"
}
# bash's `times`: the second line is the children's "XmY.YYYs XmY.YYYs"
cpu_of() { tail -n1 "$1" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%d\n", t + 0.5 }'; }
report() {
  local name="$1" k rc secs; k="$(key "$1")"; rc="$(cat "$res/$k.rc")"; secs="$(cat "$res/$k.secs")"
  if [ "${name%%:*}" = unit ]; then
    cat "$res/$k.log"
    grep -E '^ok   ' "$res/$k.log" | sed -E 's/^ok   (.*) \(([0-9]+) ms\)$/\2 unit::\1/' >>"$res/unit.ms"
    local line; line="$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed$' "$res/$k.log" | tail -n1)"
    if [ -n "$line" ]; then
      local p f
      p=$(echo "$line" | sed -E 's/unit: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')
      passed=$((passed + p)); failed=$((failed + f))
      [ "$f" -gt 0 ] && failures+=("unit tests ($name)")
    fi
    if [ "$rc" -ne 0 ] && { [ -z "$line" ] || [ "$f" -eq 0 ]; }; then
      failed=$((failed + 1)); failures+=("unit runner $name crashed or reported (rc=$rc)")
    fi
    echo "$((secs * 1000)) $name $(cat "$res/$k.cpu")" >>"$res/times"
  elif [ "$rc" = 0 ]; then
    echo "ok   e2e::$name (${secs}s)"; passed=$((passed + 1))
    echo "$((secs * 1000)) e2e::$name $(cat "$res/$k.cpu")" >>"$res/times"
  else
    echo "FAIL e2e::$name (${secs}s)"; sed 's/^/    /' "$res/$k.log" | tail -n 40
    failed=$((failed + 1)); failures+=("e2e::$name")
    echo "$((secs * 1000)) e2e::$name $(cat "$res/$k.cpu")" >>"$res/times"
  fi
}
done_one() { [ -f "$res/$(key "$1").secs" ]; }
if [ "$JOBS" -le 1 ]; then
  for name in "${names[@]}"; do ( run_one "$name" ); report "$name"; done
else
  next=0
  for i in "${!names[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    run_one "${names[$i]}" &
    # print, in order, every finished test at the head of the list
    while [ $next -lt ${#names[@]} ] && done_one "${names[$next]}"; do report "${names[$next]}"; next=$((next + 1)); done
  done
  wait
  while [ $next -lt ${#names[@]} ]; do report "${names[$next]}"; next=$((next + 1)); done
fi

# Sanitizer reports written to files (KILN_SAN_LOG_DIR): a script may have
# expected kiln to fail, so its exit status alone does not show them.
# What fails the run: a memory error (ASan), undefined behaviour (UBSan's
# "runtime error:"), any ThreadSanitizer warning (a race, a lock-order
# inversion, ...). Listed but not failed: leaks and deadly signals (SEGV,
# BUS, ...): the process's exit status already shows them to the test, and
# some tests raise them on purpose (a process refusing its input exits
# non-zero with memory still held; truncated::a_fault_outside_a_guard_still_kills
# faults on purpose). docs/testing.md.
if [ -n "${KILN_SAN_LOG_DIR:-}" ] && [ -n "$(ls -A "$KILN_SAN_LOG_DIR" 2>/dev/null)" ]; then
  bad=0; listed=()
  for f in "$KILN_SAN_LOG_DIR"/*; do
    if grep -q 'runtime error:' "$f" ||
       grep -E '(ERROR|WARNING): (Address|Thread|UndefinedBehavior)Sanitizer' "$f" |
         grep -q -v -E 'Sanitizer: (SEGV|BUS|FPE|ILL|ABRT|DEADLYSIGNAL)'; then
      echo "sanitizer report $f:"; head -n 60 "$f"; bad=$((bad + 1))
    else
      listed+=("$f")
    fi
  done
  [ ${#listed[@]} -gt 0 ] && echo "note: ${#listed[@]} leak or deadly-signal report(s), not failed: ${listed[*]}"
  if [ $bad -gt 0 ]; then failed=$((failed + 1)); failures+=("$bad sanitizer report(s) in $KILN_SAN_LOG_DIR"); fi
fi

# Durations, slowest first: the e2e scripts and unit shards (seconds), then
# the unit tests (milliseconds). BUILD/test-times.txt keeps all of them.
{
  [ -f "$res/times" ] && sort -rn "$res/times" | awk '{ printf "%6ds  %s (cpu %ds)\n", $1 / 1000, $2, $3 }'
  [ -f "$res/unit.ms" ] && sort -rn "$res/unit.ms" | awk '{ printf "%6dms %s\n", $1, $2 }'
} >"$res/all-times" 2>/dev/null
if [ -d "$ROOT/$BUILD" ]; then cp "$res/all-times" "$ROOT/$BUILD/test-times.txt"; fi
if [ ${#names[@]} -gt 1 ]; then
  slowest="${KILN_TEST_SLOWEST:-20}"
  times >"$res/all.times"
  echo "slowest ($(( $(date +%s) - run_start ))s in all, cpu $(cpu_of "$res/all.times")s, $JOBS at a time, load $(cut -d' ' -f1-3 /proc/loadavg); every duration: $BUILD/test-times.txt):"
  [ -f "$res/times" ] && sort -rn "$res/times" | head -n "$slowest" | awk '{ printf "  %5ds  %s (cpu %ds)\n", $1 / 1000, $2, $3 }'
  [ -f "$res/unit.ms" ] && sort -rn "$res/unit.ms" | head -n 10 | awk '{ printf "  %5dms %s\n", $1, $2 }'
fi
rm -rf "$res"

if [ ${#failures[@]} -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
