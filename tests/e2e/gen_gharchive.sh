#!/usr/bin/env bash
# kiln gen gharchive / github-api end to end: naming, determinism (two runs,
# different thread counts, byte-identical), gzip integrity, DuckDB (through
# node) parses every file and agrees with _manifest.json, quirks where
# _quirks.json says, API files for post-2025-10-07 pushes, usage errors.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
die() { echo "gen_gharchive.sh: FAIL: $*" >&2; exit 1; }

# usage errors exit 2
set +e
"$KILN_BIN" gen gharchive --out "$T/x" --scale 0 >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || die "--scale 0 exit $rc, want 2"
"$KILN_BIN" gen bogus --out "$T/x" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || die "unknown subcommand exit $rc, want 2"
"$KILN_BIN" gen gharchive >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || die "missing --out exit $rc, want 2"
"$KILN_BIN" gen github-api --out "$T/x" --quirks >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || die "github-api --quirks exit $rc, want 2"
set -e

# across the 2025-10-07 switch, two runs with different thread counts
args=(--start 2025-10-06 --days 2 --hours 12 --scale 0.002 --seed 11)
"$KILN_BIN" gen gharchive "${args[@]}" --out "$T/a" --threads 1 >/dev/null
"$KILN_BIN" gen gharchive "${args[@]}" --out "$T/b" --threads 2 >/dev/null
diff -r "$T/a" "$T/b" >/dev/null || die "two runs differ"
[ -f "$T/a/2025-10-06-0.json.gz" ] && [ -f "$T/a/2025-10-07-11.json.gz" ] || die "hour files missing"
[ ! -e "$T/a/2025-10-06-00.json.gz" ] || die "hour zero-padded"
[ "$(ls "$T/a"/*.json.gz | wc -l)" -eq 24 ] || die "want 24 hour files"
for f in "$T"/a/*.json.gz; do gzip -t "$f" || die "$f: bad gzip"; done
# the era switch, seen by plain tools
# (decompress to files first: grep -q closing a pipe early trips pipefail)
zcat "$T/a/2025-10-06-5.json.gz" >"$T/old.json"
zcat "$T/a/2025-10-07-5.json.gz" >"$T/new.json"
grep -q '"type":"PushEvent".*"distinct_size":' "$T/old.json" || die "old push shape missing"
grep -q '"type":"PushEvent"' "$T/new.json" || die "no pushes after the switch"
grep '"type":"PushEvent"' "$T/new.json" >"$T/newpush.json"
if grep -q '"commits":' "$T/newpush.json"; then die "push after 2025-10-07 still has commits"; fi
(cd "$KILN_ROOT" && node tests/node/gen_check.mjs "$T/a") || die "DuckDB check failed"

# quirks: a span too short to hold them is a usage error naming the minimum
set +e
"$KILN_BIN" gen gharchive --hours 5 --scale 0.001 --quirks --out "$T/short" >/dev/null 2>"$T/short.err"
rc=$?
set -e
[ "$rc" = 2 ] || die "--quirks on 5 hours: exit $rc, want 2"
grep -q "at least 6 hours" "$T/short.err" || die "--quirks on 5 hours: $(cat "$T/short.err")"
[ ! -e "$T/short" ] || die "--quirks on 5 hours wrote $T/short"
"$KILN_BIN" gen gharchive --days 2 --hours 3 --scale 0.001 --quirks --out "$T/six" >/dev/null || die "--quirks on 2 x 3 hours failed"
"$KILN_BIN" gen gharchive --hours 10 --scale 0.001 --seed 3 --quirks --out "$T/q" >/dev/null
[ -f "$T/q/_quirks.json" ] || die "no _quirks.json"
miss=$(node -e 'const q=require(process.argv[1]);console.log(q.missing_hours[0])' "$T/q/_quirks.json")
trunc=$(node -e 'const q=require(process.argv[1]);console.log(q.truncated[0].file)' "$T/q/_quirks.json")
[ ! -e "$T/q/$miss" ] || die "missing hour $miss exists"
[ "$(ls "$T/q"/*.json.gz | wc -l)" -eq 9 ] || die "want 9 hour files with one missing"
if gzip -t "$T/q/$trunc" 2>/dev/null; then die "$trunc is not truncated"; fi
(cd "$KILN_ROOT" && node tests/node/gen_check.mjs "$T/q") || die "DuckDB check (quirks) failed"

# API responses for the same range
"$KILN_BIN" gen github-api "${args[@]}" --out "$T/api" >/dev/null
[ -f "$T/api/_api_manifest.json" ] || die "no _api_manifest.json"
n=$(find "$T/api/compare" -name '*.json' | wc -l)
want=$(node -e 'const m=require(process.argv[1]);console.log(m.compare_files)' "$T/api/_api_manifest.json")
[ "$n" -eq "$want" ] && [ "$n" -gt 0 ] || die "compare files $n, manifest says $want"
pushes=$(zcat "$T"/a/2025-10-07-*.json.gz | grep -c '"type":"PushEvent"')
[ "$pushes" -eq "$n" ] || die "$pushes pushes after the switch but $n compare files"
[ "$(find "$T/api/repos" -name '*.history.json' | wc -l)" -gt 0 ] || die "no history files"
echo "gen_gharchive.sh: ok"
