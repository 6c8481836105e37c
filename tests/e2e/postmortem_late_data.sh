#!/usr/bin/env bash
# postmortem_late_data.sh - reproduces the incident of
# docs/postmortems/2026-12-07-late-data-double-count.md and checks its fix.
# A daily DAG loads GH Archive hours into github.pushes (MERGE, idempotent)
# and appends the day's push count to analytics.pushes_per_day; the count
# task consumes github.pushes, so it re-runs whenever the table changes. One
# hour of the first day arrives late; the operator re-runs the window
# (`--rerun all`). Before the fix every day's count is appended again:
# the late day and both untouched days are double-counted (checked against
# Python counting the hour files). The fix (MERGE on the day) plus the
# repair (delete the window's rows, re-run) gives the true counts, and a
# second late-data re-run leaves them unchanged.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
T="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
want() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }
export PATH="$(dirname "$KILN_BIN"):$PATH"
case "$KILN_BIN" in */build-asan/*) SCALE=0.0001 ;; *) SCALE=0.0002 ;; esac  # small data; smaller under ASan
P="$T/p"; mkdir -p "$P/dags" "$P/incoming"
Q() { "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "$1" | tail -n +2 | tr '\n' ' ' | sed 's/ $//'; }
"$KILN_BIN" gen gharchive --out "$T/gen" --start 2025-10-06 --days 3 --hours 2 --scale "$SCALE" --threads 1 >/dev/null
truth() { # the pushes per day of the hour files in incoming/: "day,n ..."
  python3 - "$P/incoming" <<'PY'
import collections, gzip, glob, json, sys
ids = {}
for f in glob.glob(sys.argv[1] + '/*.json.gz'):
    for l in gzip.open(f, 'rt'):
        e = json.loads(l)
        if e['type'] == 'PushEvent': ids[e['id']] = e['created_at'][:10]
c = collections.Counter(ids.values())
print(' '.join('%s,%d' % (d, c[d]) for d in sorted(c)))
PY
}
dag() { # WRITE: the count task's statement
  cat >"$P/dags/daily_counts.yml" <<YML
schedule: "@daily"
start_date: 2025-10-06
max_active_runs: 1
tasks:
  load:
    type: job.gh_events
    in: incoming
    warehouse: warehouse
    threads: 1
    allow_missing: "true"
    consumes: ["incoming/{{ ds }}-*.json.gz"]
  count:
    type: sql
    needs: [load]
    consumes: ["iceberg://warehouse/github.pushes"]
    sql: >-
      $1
YML
}
"$KILN_BIN" sql --warehouse "$P/warehouse" -c "create table analytics.pushes_per_day (day string, pushes bigint)" >/dev/null
# --- the DAG as it was: the count is appended
dag "insert into analytics.pushes_per_day select '{{ ds }}', count(*) from github.pushes where substr(created_at, 1, 10) = '{{ ds }}'"
cp "$T"/gen/*.json.gz "$P/incoming/"
mv "$P/incoming/2025-10-06-1.json.gz" "$T/late.json.gz"            # hour 1 of day 1 is late
"$KILN_BIN" dags backfill daily_counts --start 2025-10-06 --end 2025-10-08 --project-dir "$P" >/dev/null 2>&1 || fail "backfill"
COUNTS="select day, sum(pushes) from analytics.pushes_per_day group by day order by day"
want "$(Q "$COUNTS")" "$(truth)" "counts before the late hour"
mv "$T/late.json.gz" "$P/incoming/2025-10-06-1.json.gz"            # the late hour arrives
"$KILN_BIN" dags backfill daily_counts --start 2025-10-06 --end 2025-10-08 --rerun all --project-dir "$P" >"$T/rerun.txt" 2>&1 ||
  fail "re-run: $(tail -3 "$T/rerun.txt")"
# the incident: every day counted again on top of its old count
read -r t1 t2 t3 <<<"$(truth)"
python3 - "$(Q "$COUNTS")" "$t1 $t2 $t3" "$T/gen" <<'PY' || fail "the incident did not reproduce: $(Q "$COUNTS") vs $t1 $t2 $t3"
import sys
got = dict(x.split(',') for x in sys.argv[1].split())
true = dict(x.split(',') for x in sys.argv[2].split())
d1, d2, d3 = sorted(true)
assert int(got[d2]) == 2 * int(true[d2]) and int(got[d3]) == 2 * int(true[d3]), (got, true)  # untouched days doubled
assert int(true[d1]) < int(got[d1]) < 2 * int(true[d1]), (got, true)                          # old partial + new full
PY
want "$(Q "select count(*) from analytics.pushes_per_day")" 6 "two rows per day"
want "$(Q "select count(*) = count(distinct push_id) from github.pushes")" 1 "github.pushes itself has no duplicate (MERGE)"

# --- the fix: MERGE on the day; the repair: delete the window's rows, re-run it
dag "merge into analytics.pushes_per_day t using (select '{{ ds }}' as day, count(*) as pushes from github.pushes where substr(created_at, 1, 10) = '{{ ds }}') s on t.day = s.day when matched then update set pushes = s.pushes when not matched then insert (day, pushes) values (s.day, s.pushes)"
"$KILN_BIN" table --warehouse "$P/warehouse" delete analytics.pushes_per_day --where "day >= '2025-10-06' and day <= '2025-10-08'" >/dev/null
"$KILN_BIN" dags backfill daily_counts --start 2025-10-06 --end 2025-10-08 --rerun all --project-dir "$P" >/dev/null 2>&1 || fail "repair"
want "$(Q "$COUNTS")" "$(truth)" "counts after the fix and the repair"
want "$(Q "select count(*) from analytics.pushes_per_day")" 3 "one row per day"
# more late data for day 2 (an hour of day 3's file re-published with day-2 events is not needed:
# re-sending the same hour is enough to change the consumed state) -> re-run -> still true
touch -d '2020-01-01' "$P/incoming/2025-10-07-0.json.gz"
"$KILN_BIN" dags backfill daily_counts --start 2025-10-06 --end 2025-10-08 --rerun all --project-dir "$P" >"$T/rerun2.txt" 2>&1 || fail "second re-run"
want "$(Q "$COUNTS")" "$(truth)" "counts after a second late-data re-run"
echo "postmortem_late_data: ok"
