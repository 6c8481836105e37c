#!/usr/bin/env bash
# maint_flow.sh - the orchestrator runs table maintenance as a task (a
# command task calling `kiln table maintain`, the DAG docs/maintenance.md
# shows): a run compacts the small files a day of appends left, rows are
# identical, and a second run the same day finds nothing due.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "maint_flow.sh: FAIL: $*" >&2; exit 1; }
P=$tmp/proj
W=$tmp/wh
mkdir -p "$P/dags"
k() { "$KILN_BIN" table --warehouse "$W" "$@"; }
k create db.events --schema 'id long not null, p int' --partition p >/dev/null
for i in $(seq 1 12); do printf '{"id":%d,"p":%d}\n' "$i" $((i % 2)) | k append db.events --input - >/dev/null; done
k scan db.events --format ndjson | sort >"$tmp/before.txt"
cat >"$P/dags/maintenance.yml" <<YML
schedule: "@daily"
start_date: 2025-01-01
tasks:
  maintain:
    type: command
    command: [$KILN_BIN, table, maintain, --all, --warehouse, $W]
YML
"$KILN_BIN" dags validate --project-dir "$P" >/dev/null || fail "the maintenance DAG does not validate"
"$KILN_BIN" dags run maintenance --date 2025-01-02 --project-dir "$P" >"$tmp/run.log" 2>&1 || fail "run failed: $(tail -5 "$tmp/run.log")"
[ "$(k files db.events | grep -c '^data')" = 2 ] || fail "want 2 data files after the maintenance run: $(k files db.events)"
k snapshots db.events | tail -1 | grep -q replace || fail "no replace snapshot"
k scan db.events --format ndjson | sort | cmp - "$tmp/before.txt" || fail "rows changed"
log=$(find "$P" -path '*maintain*' -name '*.log' | head -1)
[ -n "$log" ] && grep -q 'db.events compact: done' "$log" || fail "task log lacks the compaction line: ${log:-no log}"
"$KILN_BIN" dags run maintenance --date 2025-01-03 --project-dir "$P" >/dev/null 2>&1 || fail "second run failed"
log=$(find "$P" -path '*2025-01-03*' -name '*.log' | head -1)
[ -z "$log" ] || grep -q 'db.events compact: not due' "$log" || fail "second run compacted again: $(cat "$log")"
echo "maint_flow: ok"
