#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# maint_maintain.sh - `kiln table maintain`: the policy in table properties
# decides what runs. --dry-run says what is due and changes nothing; a real
# run compacts (rows identical, icebird agrees), expires snapshots past
# retention (deleting their files) and removes old orphan files; steps
# turned off by a property are reported as disabled; --all covers every
# table; a bad property is a configuration error (exit 3).
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
NODE_DIR=$KILN_ROOT/tests/node
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "maint_maintain.sh: FAIL: $*" >&2; exit 1; }
W=$tmp/wh
k() { "$KILN_BIN" table --warehouse "$W" "$@"; }
nsnap() { k snapshots "$1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
field() { python3 -c 'import json,sys
d = json.loads(sys.stdin.readline())
for p in sys.argv[1].split("."): d = d[p]
print(d)' "$1"; }

k create db.a --schema 'id long not null, p int, s string' --partition 'p' >/dev/null
k create db.b --schema 'id long not null' >/dev/null
for i in $(seq 1 6); do
  python3 -c 'import json,sys
i = int(sys.argv[1])
for j in range(20): print(json.dumps({"id": i * 100 + j, "p": j % 2, "s": "x%d" % j}))' "$i" | k append db.a --input - >/dev/null
done
printf '{"id":1}\n' | k append db.b --input - >/dev/null
k scan db.a --format ndjson | sort >"$tmp/before.txt"
s0=$(nsnap db.a)

# ---- dry run: compaction is due (2 partitions x 6 small files), nothing changes
k maintain db.a --dry-run >"$tmp/dry.txt"
grep -q '^db.a compact: due: 2 partition(s)' "$tmp/dry.txt" || fail "dry run: $(cat "$tmp/dry.txt")"
grep -q '^db.a files: 12 data (12 small), 0 delete, .*last compaction never' "$tmp/dry.txt" || fail "dry run files: $(cat "$tmp/dry.txt")"
grep -q '^db.a expire: not due' "$tmp/dry.txt" || fail "dry run expire: $(cat "$tmp/dry.txt")"
grep -q '^db.a remove-orphans: not due' "$tmp/dry.txt" || fail "dry run orphans: $(cat "$tmp/dry.txt")"
[ "$(nsnap db.a)" = "$s0" ] || fail "dry run committed"

# ---- real run with retention and orphan age from properties
k alter db.a --set-property history.expire.max-snapshot-age-ms=1 \
  --set-property kiln.maintain.remove-orphans.older-than-ms=1 >/dev/null
echo junk >"$W/db/a/data/p=0/stray.parquet"
touch -d '1 minute ago' "$W/db/a/data/p=0/stray.parquet"
sleep 1
k maintain db.a --json >"$tmp/run.json" || fail "maintain failed: $(cat "$tmp/run.json")"
[ "$(field compact.status <"$tmp/run.json")" = done ] || fail "compact: $(cat "$tmp/run.json")"
[ "$(field compact.data_files_rewritten <"$tmp/run.json")" = 12 ] || fail "want 12 files compacted: $(cat "$tmp/run.json")"
[ "$(field compact.data_files_added <"$tmp/run.json")" = 2 ] || fail "want 2 files written: $(cat "$tmp/run.json")"
[ "$(field expire.status <"$tmp/run.json")" = done ] || fail "expire: $(cat "$tmp/run.json")"
[ "$(field expire.snapshots_expired <"$tmp/run.json")" -ge 6 ] || fail "expire count: $(cat "$tmp/run.json")"
[ "$(field remove_orphans.status <"$tmp/run.json")" = done ] || fail "orphans: $(cat "$tmp/run.json")"
[ "$(field remove_orphans.files <"$tmp/run.json")" = 1 ] || fail "want the stray file removed: $(cat "$tmp/run.json")"
[ ! -e "$W/db/a/data/p=0/stray.parquet" ] || fail "stray file still there"
[ "$(nsnap db.a)" = 1 ] || fail "want only the compacted snapshot left, have $(nsnap db.a)"
# file statistics before and after (what metrics export)
[ "$(field files_before.data_files <"$tmp/run.json")" = 12 ] && [ "$(field files_before.small_files <"$tmp/run.json")" = 12 ] ||
  fail "files_before: $(cat "$tmp/run.json")"
[ "$(field files_after.data_files <"$tmp/run.json")" = 2 ] && [ "$(field files_after.records <"$tmp/run.json")" = 120 ] ||
  fail "files_after: $(cat "$tmp/run.json")"
[ "$(field files_before.last_compaction_ms <"$tmp/run.json")" = -1 ] && [ "$(field files_after.last_compaction_ms <"$tmp/run.json")" -gt 0 ] ||
  fail "last_compaction_ms: $(cat "$tmp/run.json")"
k scan db.a --format ndjson | sort | cmp - "$tmp/before.txt" || fail "rows changed by maintain"
[ "$(k files db.a | grep -c '^data')" = 2 ] || fail "want 2 data files"
# no data file left on disk that no snapshot uses (expire deleted them)
[ "$(find "$W/db/a/data" -name '*.parquet' | wc -l)" = 2 ] || fail "old data files left: $(find "$W/db/a/data" -name '*.parquet')"
if [ -d "$NODE_DIR/node_modules/icebird" ]; then
  k scan db.a --format ndjson >"$tmp/rows.ndjson"
  (cd "$NODE_DIR" && node lakedata_icebird.mjs "$W/db/a" "$tmp/rows.ndjson") >/dev/null || fail "icebird disagrees after maintain"
fi

# ---- nothing due now; compaction can be turned off
k maintain db.a >"$tmp/again.txt"
grep -q '^db.a compact: not due' "$tmp/again.txt" || fail "second run: $(cat "$tmp/again.txt")"
k alter db.b --set-property kiln.maintain.compact.enabled=false --set-property kiln.maintain.remove-orphans.enabled=false >/dev/null
k maintain --all --json >"$tmp/all.json" || fail "--all failed"
[ "$(wc -l <"$tmp/all.json")" = 2 ] || fail "--all: want 2 tables: $(cat "$tmp/all.json")"
grep '"table":"db.b"' "$tmp/all.json" | grep -q '"compact":{"status":"disabled"' || fail "db.b compaction not disabled: $(cat "$tmp/all.json")"
grep '"table":"db.b"' "$tmp/all.json" | grep -q '"remove_orphans":{"status":"disabled"' || fail "db.b orphans not disabled"

# ---- errors
set +e
k alter db.b --set-property history.expire.max-snapshot-age-ms=soon >/dev/null
k maintain db.b >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 3 ] && grep -q 'maintenance property' "$tmp/e" || fail "bad property: exit $rc $(cat "$tmp/e")"
k maintain --all >/dev/null 2>&1; rc=$?
[ $rc = 6 ] || fail "--all with one bad table: exit $rc, want 6 (partial)"
k maintain >/dev/null 2>&1; [ $? = 2 ] || fail "no TABLE and no --all: want exit 2"
k maintain db.a --all >/dev/null 2>&1; [ $? = 2 ] || fail "TABLE and --all: want exit 2"
k maintain db.nope >/dev/null 2>&1; [ $? = 4 ] || fail "missing table: want exit 4"
set -e
# kiln.maintain.compact.small-file-ratio: 2 small files are below
# min-input-files 5, but they are 100 % of their partition's files
k create db.r --schema 'id long not null' >/dev/null
for i in 1 2; do printf '{"id":%d}\n' "$i" | k append db.r --input - >/dev/null; done
k maintain db.r --dry-run >"$tmp/r1"
grep -q 'compact: not due' "$tmp/r1" || fail "2 small files with min-input-files 5: $(cat "$tmp/r1")"
k alter db.r --set-property kiln.maintain.compact.small-file-ratio=90 >/dev/null
k maintain db.r >"$tmp/r2"
grep -q 'compact: done' "$tmp/r2" && [ "$(k files db.r | grep -c '^data')" = 1 ] || fail "small-file-ratio 90: $(cat "$tmp/r2")"
k alter db.r --set-property kiln.maintain.compact.small-file-ratio=101 >/dev/null
set +e; k maintain db.r >/dev/null 2>&1; rc=$?; set -e
[ $rc = 3 ] || fail "small-file-ratio 101: exit $rc, want 3"
echo "maint_maintain: ok"
