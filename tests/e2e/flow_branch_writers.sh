#!/usr/bin/env bash
# kiln dags backfill --branch routes every kiln table write of the backfill
# to the branch: a command task running `kiln sql` over plain table names and
# a sql task both write on the branch (KILN_BRANCH in each task's
# environment), not on main; a failed gate leaves main untouched on both
# tables; once every run succeeds both tables' main move in one commit.
source "$(dirname "$0")/flow_lib.bash"
export PATH="$(dirname "$KILN_BIN"):$PATH"
S() { "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "$@" | tail -n +2; }
S -c "create table raw.events (day string, n bigint)" >/dev/null
S -c "create table raw.totals (day string, events bigint)" >/dev/null
S -c "insert into raw.events values ('2025-02-28', 1)" >/dev/null
cat > "$P/dags/w.yml" <<'YML'
schedule: "@daily"
start_date: 2025-03-01
max_active_runs: 1
tasks:
  load:
    type: command
    command: [kiln, sql, --warehouse, warehouse, -c, "insert into raw.events values ('{{ ds }}', 2)"]
    produces: [iceberg://warehouse/raw.events]
  total:
    type: sql
    needs: [load]
    # (an INSERT ... SELECT reading a ref name on its own: kiln_sql_prepare adds "t@REF" on first use)
    sql: "insert into raw.totals select '{{ ds }}', count(*) from raw.\"events@{{ branch }}\""
  gate:
    type: command
    needs: [total]
    command: [test, -e, "ok-{{ ds }}"]
YML
heads() { for t in raw.events raw.totals; do
  "$KILN_BIN" table --warehouse "$P/warehouse" branch "$t" | awk -v r="$1" '$1 == r {printf "%s ", $2}'; done; }
main0="$(heads main)"
touch "$P/ok-2025-03-01"
expect_rc 6 K dags backfill w --start 2025-03-01 --end 2025-03-02 --branch bf
grep -q "main left untouched, the branch kept on 2 table(s)" <<<"$OUT" || fail "failed branch backfill: $OUT"
want "$(heads main)" "$main0" "main's heads untouched"
want "$(S "select count(*) from raw.events")" 1 "main's events: day 0 only"
want "$(S "select count(*) from raw.totals")" 0 "main's totals: none"
want "$(S "select group_concat(day, ' ') from (select day from raw.\"events@bf\" order by day)")" \
  "2025-02-28 2025-03-01 2025-03-02" "the command's kiln sql wrote on the branch"
want "$(S "select group_concat(day || ':' || events, ' ') from (select * from raw.\"totals@bf\" order by day)")" \
  "2025-03-01:2 2025-03-02:3" "the sql task wrote on the branch (and read it)"
grep -q "KILN_BRANCH" "$KILN_ROOT/docs/flow.md" || fail "docs/flow.md names KILN_BRANCH"

# a new table made under KILN_BRANCH: created with its rows on the branch
# only (main has no snapshot of it until the branch is published)
(cd "$P" && KILN_BRANCH=bf "$KILN_BIN" sql --warehouse warehouse -c "create table raw.x as select 1 as a" >/dev/null) ||
  fail "CTAS under KILN_BRANCH"
want "$(S "select count(*) from raw.x")" 0 "main of the new table"
want "$(S 'select count(*) from "raw"."x@bf"')" 1 "the new table on bf"

touch "$P/ok-2025-03-02"
expect_rc 0 K dags backfill w --start 2025-03-01 --end 2025-03-02 --branch bf --rerun failed
grep -q "branch 'bf': every run succeeded; swapped in on 3 table(s)" <<<"$OUT" || fail "swap: $OUT"
want "$(heads main)" "$(heads bf)" "main fast-forwarded on both tables"
want "$(S "select count(*) from raw.events")" 3 "main's events after the swap"
want "$(S "select count(*) from raw.x")" 1 "main of the table made on bf, after the swap"
want "$(S "select group_concat(day || ':' || events, ' ') from (select * from raw.totals order by day)")" \
  "2025-03-01:2 2025-03-02:3" "main's totals after the swap"
# the same backfill again: nothing runs, nothing is written
h="$(heads main)"
expect_rc 0 K dags backfill w --start 2025-03-01 --end 2025-03-02 --branch bf
want "$(heads main)" "$h" "re-run wrote nothing"
# --explain as the branch backfill keys it: done there, never run on main
expect_rc 0 K runs w --explain load --date 2025-03-01 --branch bf
grep -q "in a backfill on branch 'bf'" <<<"$OUT" && grep -q "WILL NOT RUN" <<<"$OUT" || fail "explain on bf: $OUT"
expect_rc 0 K runs w --explain load --date 2025-03-01
grep -q "WILL RUN: it succeeded at .* under another key" <<<"$OUT" || fail "explain on main: $OUT"
expect_rc 2 K runs w --branch bf
echo "flow_branch_writers: ok"
