#!/usr/bin/env bash
# Incremental models (tests/models/incr): the first run builds the tables;
# after new events arrive (a late event for the last day and a new day),
# a second run changes exactly those days — delete+insert by `day`, merge
# by [day, repo], append of new ids — and leaves older rows untouched;
# results equal a from-scratch computation; --full-refresh rebuilds.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/incr" "$tmp/p"; P="$tmp/p"
q() { "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "$1"; }

"$KILN_BIN" build --project-dir "$P" > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "first build"; }
grep -q '^Done. PASS=7 WARN=0 ERROR=0 SKIP=0 TOTAL=7$' "$tmp/b1.txt" || fail "b1: $(tail -1 "$tmp/b1.txt")"
# a source (a table the seed made, under another name) and its tests
grep -q 'PASS source_unique_raw_events_src_id' "$tmp/b1.txt" || fail "source test name"
[ "$(q 'select repo, total from mart.repo_totals order by repo' | tr '\n' ' ')" = "repo,total a,12 b,3 " ] || fail "repo_totals"
"$KILN_BIN" ls --project-dir "$P" -s source:raw+ --output name | sort | tr '\n' ' ' | grep -qx 'events_src repo_totals source_not_null_raw_events_src_id source_unique_raw_events_src_id ' \
  || fail "source: selection: $("$KILN_BIN" ls --project-dir "$P" -s source:raw+ --output name | tr '\n' ' ')"
[ "$(q 'select day, n, total from mart.daily order by day' | tr '\n' ' ')" = "day,n,total 2025-10-01,2,8 2025-10-02,1,7 " ] \
  || fail "daily after run 1: $(q 'select * from mart.daily')"
# the compiled SQL of a first run has no incremental filter; of a later run it has
"$KILN_BIN" compile --project-dir "$P" -s daily > /dev/null
grep -q 'where day >= (select max(day) from mart.daily)' "$P/target/compiled/incr/models/daily.sql" || fail "is_incremental() not true"

printf '4,2025-10-02,b,1\n5,2025-10-03,a,2\n6,2025-10-03,a,4\n' >> "$P/seeds/events.csv"
"$KILN_BIN" seed --project-dir "$P" > /dev/null || fail "seed"
"$KILN_BIN" run --project-dir "$P" > "$tmp/r2.txt" || { cat "$tmp/r2.txt"; fail "incremental run"; }
[ "$(q 'select day, n, total from mart.daily order by day' | tr '\n' ' ')" = "day,n,total 2025-10-01,2,8 2025-10-02,2,8 2025-10-03,2,6 " ] \
  || fail "daily after run 2: $(q 'select * from mart.daily order by day')"
[ "$(q 'select day, repo, n, total from mart.daily_repo order by day, repo' | tr '\n' ' ')" = \
  "day,repo,n,total 2025-10-01,a,1,5 2025-10-01,b,1,3 2025-10-02,a,1,7 2025-10-02,b,1,1 2025-10-03,a,2,6 " ] \
  || fail "daily_repo after run 2: $(q 'select * from mart.daily_repo order by day, repo')"
[ "$(q 'select count(*) as n, count(distinct id) as d, sum(amount) as s from mart.event_log' | tail -1)" = "6,6,22" ] \
  || fail "event_log after run 2: $(q 'select * from mart.event_log')"
# the same as a rebuild from scratch
q 'select day, n, total from mart.daily order by day' > "$tmp/incr.csv"
"$KILN_BIN" run --project-dir "$P" --full-refresh > /dev/null || fail "full refresh"
q 'select day, n, total from mart.daily order by day' | cmp - "$tmp/incr.csv" || fail "incremental differs from a rebuild"
[ "$(q 'select count(*) as n from mart.event_log' | tail -1)" = "6" ] || fail "event_log after full refresh"
# on_schema_change: fail stops a model whose columns changed
printf '{{ config(on_schema_change="fail") }}\nselect id, day, repo, amount, 1 as extra from {{ ref("events") }}\n' > "$P/models/event_log.sql"
rc=0; "$KILN_BIN" run --project-dir "$P" -s event_log > "$tmp/r3.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q 'out of sync' "$tmp/r3.txt" || fail "on_schema_change fail: rc $rc $(cat "$tmp/r3.txt")"
echo ok
