#!/usr/bin/env bash
# The failpoint list agrees everywhere (docs/faults.md): every
# kiln_failpoint("NAME") call in src/ names a failpoint of `kiln failpoints`,
# every listed failpoint has a call, and docs/faults.md documents each one;
# every listed failpoint is killed at by a fault test (which iterates over the
# list, not a copy of it); an unknown KILN_FAILPOINT name or a bad count is refused (exit 2) before
# anything runs, and a known one really kills (exit 137).
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
cd "$KILN_ROOT"
fail() { echo "FAIL: $*" >&2; exit 1; }
listed="$("$KILN_BIN" failpoints --names | sort)"
[ -n "$listed" ] || fail "kiln failpoints lists nothing"
called="$(grep -rhoE 'kiln_failpoint\("[a-z0-9_.]+"\)' src --include='*.c' | sed -E 's/.*\("(.*)"\)/\1/' | sort -u)"
[ "$called" = "$listed" ] || fail "calls in src/ and kiln failpoints differ: $(diff <(echo "$called") <(echo "$listed") | tr '\n' ' ')"
documented="$(grep -oE '^\| `[a-z0-9_.]+` \|' docs/faults.md | sed -E 's/^\| `(.*)` \|/\1/' | sort -u)"
[ "$documented" = "$listed" ] || fail "docs/faults.md and kiln failpoints differ: $(diff <(echo "$documented") <(echo "$listed") | tr '\n' ' ')"
# the hooks with a value that `kiln failpoints` lists after the points are
# the ones docs/faults.md documents, and each is used by a test
hooks="$("$KILN_BIN" failpoints | grep -oE '^[a-z0-9_.-]+=' | tr -d = | sort)"
[ -n "$hooks" ] || fail "kiln failpoints lists no hooks"
dhooks="$(grep -oE '^\| `[a-z0-9_.-]+=' docs/faults.md | sed -E 's/^\| `(.*)=/\1/' | sort -u)"
[ "$hooks" = "$dhooks" ] || fail "hooks: kiln failpoints and docs/faults.md differ: $(diff <(echo "$hooks") <(echo "$dhooks") | tr '\n' ' ')"
for h in $hooks; do
  grep -rqF "$h=" tests scripts || fail "no test uses the hook $h"
done
# every listed failpoint is killed at by a fault test: its family iterated
# from `kiln failpoints --names` (grep '^lake\.' in a fault_*.sh,
# startsWith('serve.') in tests/node/fault_*.mjs), or its name in one
for fp in $listed; do
  fam="${fp%%.*}"
  grep -qF "failpoints --names | grep '^$fam\\.'" tests/e2e/fault_*.sh ||
    grep -qF "startsWith('$fam.')" tests/node/fault_*.mjs ||
    grep -qF "$fp" tests/e2e/fault_*.sh tests/e2e/ops_*.sh tests/node/fault_*.mjs ||
    fail "no fault test kills at $fp (docs/faults.md)"
done
set +e
KILN_FAILPOINT=lake.commit.no_such_point "$KILN_BIN" failpoints >/dev/null 2>"/tmp/fault_list.$$"
rc=$?
set -e
[ "$rc" = 2 ] || fail "an unknown failpoint: exit $rc, want 2"
grep -q "no failpoint named 'lake.commit.no_such_point'" "/tmp/fault_list.$$" || fail "message: $(cat "/tmp/fault_list.$$")"
set +e
KILN_FAILPOINT=lake.commit.after_link:0 "$KILN_BIN" failpoints >/dev/null 2>&1
rc=$?
set -e
rm -f "/tmp/fault_list.$$"
[ "$rc" = 2 ] || fail "count 0: exit $rc, want 2"
# a real kill: the first lake commit of `kiln table create`... dies there
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
"$KILN_BIN" table --warehouse "$T/w" create a.b --schema "id long" >/dev/null
printf '{"id": 1}\n' >"$T/r.ndjson"
set +e
KILN_FAILPOINT=lake.commit.after_link KILN_FAILPOINT_LOG="$T/log" "$KILN_BIN" table --warehouse "$T/w" append a.b \
  --input "$T/r.ndjson" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 137 ] || fail "lake.commit.after_link: exit $rc, want 137"
grep -q "^lake.commit.after_link [0-9]" "$T/log" || fail "KILN_FAILPOINT_LOG: $(cat "$T/log")"
# committed at the link: the next reader sees the row (rolled forward)
n="$("$KILN_BIN" sql --warehouse "$T/w" --csv -c "select count(*) from a.b" 2>/dev/null | tail -1)"
[ "$n" = 1 ] || fail "after a kill past the link the row is not there ($n)"
echo "fault_list: ok ($(echo "$listed" | wc -l) failpoints, calls, docs and command agree)"
