#!/usr/bin/env bash
# maint_flow.sh - the orchestrator runs table maintenance as a task (a
# command task calling `kiln table maintain`, the DAG docs/maintenance.md
# shows): a run compacts the small files a day of appends left, rows are
# identical, and a second run the same day finds nothing due. Then
# the table.maintain task type (a library call, no command line) and
# kiln.yml's maintenance.auto: after tasks whose commits crossed the
# table's threshold the scheduler compacts by itself, not before, not when
# auto is off, and never a table a backfill has a branch on.
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

# ---------------------------------------------------------------- table.maintain
P2=$tmp/proj2
mkdir -p "$P2/dags"
k create db.t2 --schema 'id long not null, p int' --partition p >/dev/null
for i in $(seq 1 10); do printf '{"id":%d,"p":%d}\n' "$i" $((i % 2)) | k append db.t2 --input - >/dev/null; done
k scan db.t2 --format ndjson | sort >"$tmp/t2.txt"
cat >"$P2/dags/m.yml" <<YML
schedule: "@daily"
start_date: 2025-01-01
tasks:
  dry:
    type: table.maintain
    table: db.t2
    warehouse: $W
    dry_run: true
  maintain:
    type: table.maintain
    table: db.t2
    warehouse: $W
    needs: [dry]
YML
"$KILN_BIN" dags validate --project-dir "$P2" >/dev/null || fail "table.maintain DAG does not validate"
"$KILN_BIN" dags run m --date 2025-01-02 --project-dir "$P2" >"$tmp/run2.log" 2>&1 || fail "table.maintain run failed: $(tail -5 "$tmp/run2.log")"
[ "$(k files db.t2 | grep -c '^data')" = 2 ] || fail "table.maintain did not compact: $(k files db.t2)"
k scan db.t2 --format ndjson | sort | cmp - "$tmp/t2.txt" || fail "rows changed by table.maintain"
dlog=$(find "$P2" -path '*dry*' -name '*.log' | head -1)
grep -q 'in-process; the same as: kiln table maintain db.t2 --warehouse .* --dry-run' "$dlog" && grep -q 'db.t2: compaction due' "$dlog" ||
  fail "dry-run task log: $(cat "$dlog")"
mlog=$(find "$P2" -path '*/maintain*' -name '*.log' | head -1)
grep -q 'db.t2: compaction done' "$mlog" || fail "table.maintain log: $(cat "$mlog")"
# a bad setting is a validation error
cat >"$P2/dags/bad.yml" <<YML
schedule: "@daily"
start_date: 2025-01-01
tasks:
  m: {type: table.maintain, table: db.t2, dry_run: maybe}
YML
set +e; "$KILN_BIN" dags validate --project-dir "$P2" >"$tmp/v.log" 2>&1; rc=$?; set -e
[ "$rc" != 0 ] && grep -q dry_run "$tmp/v.log" || fail "dry_run: maybe validated: $(cat "$tmp/v.log")"
rm "$P2/dags/bad.yml"

# ---------------------------------------------------------------- maintenance.auto
P3=$tmp/proj3
mkdir -p "$P3/dags"
W3=$P3/wh
k3() { "$KILN_BIN" table --warehouse "$W3" "$@"; }
k3 create db.ev --schema 'id long not null, d string' --property kiln.maintain.compact.min-input-files=3 >/dev/null
k3 create db.bf --schema 'id long not null, d string' --property kiln.maintain.compact.min-input-files=2 >/dev/null
cat >"$P3/dags/hourly.yml" <<'YML'
schedule: "@daily"
start_date: 2025-01-01
tasks:
  load:
    type: sql
    warehouse: wh
    sql: "INSERT INTO db.ev VALUES (1, '{{ ds }}'); INSERT INTO db.bf VALUES (1, '{{ ds }}')"
YML
printf 'maintenance:\n  auto: false\n' >"$P3/kiln.yml"
k3 branch db.bf backfill_x >/dev/null 2>&1 || true # set up below once bf has a snapshot
run3() { "$KILN_BIN" dags run hourly --date "$1" --project-dir "$P3" >"$tmp/run3.log" 2>&1 || fail "run $1 failed: $(tail -5 "$tmp/run3.log")"; }
nfiles() { k3 files "$1" | grep -c '^data' || true; }
run3 2025-01-01
k3 branch db.bf backfill_x >/dev/null || fail "could not create the branch"
run3 2025-01-02
run3 2025-01-03
[ "$(nfiles db.ev)" = 3 ] || fail "auto: false compacted: $(nfiles db.ev) files"
printf 'maintenance:\n  auto: true\n  warehouse: wh\n' >"$P3/kiln.yml"
run3 2025-01-04
[ "$(nfiles db.ev)" = 1 ] || fail "auto-maintenance did not compact db.ev: $(nfiles db.ev) files; $(cat "$tmp/run3.log")"
k3 snapshots db.ev | tail -1 | grep -q replace || fail "no replace snapshot on db.ev"
grep -q 'auto-maintenance after load: db.ev: compaction done' "$tmp/run3.log" || fail "no auto-maintenance line: $(cat "$tmp/run3.log")"
[ "$(k3 scan db.ev --format ndjson | wc -l)" = 4 ] || fail "rows lost by auto-maintenance"
# db.bf has a backfill's branch: left alone however many small files
[ "$(nfiles db.bf)" = 4 ] || fail "db.bf with a branch was compacted: $(nfiles db.bf)"
grep -q "db.bf skipped: it has branch 'backfill_x'" "$tmp/run3.log" || fail "no skip line for db.bf: $(cat "$tmp/run3.log")"
# the table.maintain task skips it too (and does not fail)
cat >"$P3/dags/m.yml" <<'YML'
schedule: "@daily"
start_date: 2025-01-01
tasks:
  m: {type: table.maintain, warehouse: wh}
YML
"$KILN_BIN" dags run m --date 2025-01-04 --project-dir "$P3" >/dev/null 2>&1 || fail "table.maintain over all tables failed"
mlog=$(find "$P3" -path '*/m/*' -name '*.log' | head -1)
grep -q "db.bf: skipped: it has branch 'backfill_x'" "$mlog" || fail "table.maintain did not skip db.bf: $(cat "$mlog")"
[ "$(nfiles db.bf)" = 4 ] || fail "table.maintain compacted db.bf with a branch"
rm "$P3/dags/m.yml"
# below the threshold again: nothing
run3 2025-01-05
[ "$(nfiles db.ev)" = 2 ] || fail "compacted below the threshold: $(nfiles db.ev)"
# a bad maintenance block is a configuration error when the project loads
# (file:line:column), for validate and for a run alike; nothing runs
printf 'maintenance:\n  auto: yes please\n' >"$P3/kiln.yml"
rc=0; "$KILN_BIN" dags validate --project-dir "$P3" >"$tmp/v.log" 2>&1 || rc=$?
[ "$rc" = 3 ] || [ "$rc" = 2 ] || fail "dags validate with a bad maintenance block: exit $rc, want a config error: $(cat "$tmp/v.log")"
grep -q 'kiln.yml:2:3: maintenance.auto' "$tmp/v.log" || fail "the bad block's position is not reported: $(cat "$tmp/v.log")"
rc=0; "$KILN_BIN" dags run hourly --date 2025-01-06 --project-dir "$P3" >"$tmp/run3.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a run with a bad maintenance block exited 0"
grep -q 'kiln.yml:2:3: maintenance.auto' "$tmp/run3.log" || fail "a run does not report the bad block: $(cat "$tmp/run3.log")"
echo "maint_flow: ok"
