#!/usr/bin/env bash
# kiln job gh-events, the command surface: exit codes for usage errors and a
# missing --in, the text summary and --json, the progress bar on a "TTY"
# (KILN_PROGRESS=1) and its absence otherwise, filters, and an idempotent
# re-run that leaves no staging or temp files.
set -euo pipefail
: "${KILN_BIN:?}" "${KILN_ROOT:?}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_rc() { # want cmd...
  local want="$1"; shift
  set +e; "$@" >"$T/o" 2>"$T/e"; local rc=$?; set -e
  [ "$rc" = "$want" ] || fail "exit $rc, want $want: $* ($(cat "$T/e"))"
}
expect_rc 2 "$KILN_BIN" job
expect_rc 2 "$KILN_BIN" job nosuchjob
expect_rc 2 "$KILN_BIN" job gh-events --in "$T"
expect_rc 2 "$KILN_BIN" job gh-events --in "$T" --out "$T/o" --format xml
expect_rc 2 "$KILN_BIN" job gh-events --in "$T" --out "$T/o" --start 2025-01-02
expect_rc 2 "$KILN_BIN" job gh-events --in "$T" --out "$T/o" --start 2025-01-02 --end 2025-01-01
expect_rc 2 "$KILN_BIN" job gh-events --in "$T" --out "$T/o" --threads 0
expect_rc 2 "$KILN_BIN" job gh-events --in "$T" --out "$T/o" --filter lang=C
expect_rc 4 "$KILN_BIN" job gh-events --in "$T/nope" --out "$T/o"
expect_rc 0 "$KILN_BIN" job gh-events --help
grep -q -- "--quarantine" "$T/o" || fail "help lacks --quarantine"

"$KILN_BIN" gen gharchive --out "$T/in" --start 2025-03-01 --days 2 --hours 3 --scale 0.001 --seed 3 >/dev/null
KILN_PROGRESS=0 "$KILN_BIN" job gh-events --in "$T/in" --out "$T/out" --start 2025-03-01 --end 2025-03-02 >"$T/sum.txt" 2>"$T/err.txt"
grep -qE '^2025-03-01 +ok +3 +21 ' "$T/sum.txt" || fail "summary row: $(cat "$T/sum.txt")"
grep -qE '^total +ok +6 +42 ' "$T/sum.txt" || fail "total row: $(cat "$T/sum.txt")"
grep -q "missing hours (42)" "$T/sum.txt" || fail "missing hours not listed"
[ ! -s "$T/err.txt" ] || fail "stderr not quiet without a TTY: $(cat "$T/err.txt")"
KILN_PROGRESS=1 "$KILN_BIN" job gh-events --in "$T/in" --out "$T/out" --json >"$T/sum.json" 2>"$T/err.txt"
grep -q "6/6 files" "$T/err.txt" || fail "no progress bar with KILN_PROGRESS=1: $(cat "$T/err.txt")"
python3 - "$T/sum.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["failed_partitions"] == 0 and len(s["partitions"]) == 2, s
t = s["total"]
assert t["files"] == 6 and t["pushes"] > 0 and t["events"] >= t["pushes"], t
assert sum(p["pushes"] for p in s["partitions"]) == t["pushes"]
PY
[ -z "$(find "$T/out" -name '*.tmp' -o -name '.staging-*')" ] || fail "temp/staging files left"
# filter: one actor's pushes only
actor="$(sed -n 2p "$T/out/pushes/date=2025-03-01/part-00.csv" | cut -d, -f6)"
"$KILN_BIN" job gh-events --in "$T/in" --out "$T/f" --filter "actor=$actor" --json >"$T/f.json"
rows="$(cat "$T/f"/pushes/date=*/part-*.csv | grep -v '^event_id' | wc -l)"
other="$(cat "$T/f"/pushes/date=*/part-*.csv | grep -v '^event_id' | cut -d, -f6 | { grep -vix "$actor" || true; } | wc -l)"
[ "$rows" -ge 1 ] && [ "$other" = 0 ] || fail "filter actor=$actor: $rows rows, $other from others"
echo "ok: gh-events CLI"
