#!/usr/bin/env bash
# A consumed Iceberg partition (consumes: iceberg://WH/ns.t?partition={{ ds }})
# keys a task on that partition's live files only: a new snapshot that
# touches another day's partition re-runs that day's task and no other
# (a whole-table consume re-runs every day); --explain shows the partition.
source "$(dirname "$0")/flow_lib.bash"
export PATH="$(dirname "$KILN_BIN"):$PATH"
S() { "$KILN_BIN" sql --warehouse "$P/warehouse" "$@" >/dev/null; }
S -c "create table s.e (day string, x bigint) partitioned by (day)"
S -c "insert into s.e values ('2025-01-01', 1), ('2025-01-02', 2), ('2025-01-03', 3)"
cat > "$P/dags/p.yml" <<'YML'
schedule: "@daily"
start_date: 2025-01-01
tasks:
  daily:
    type: command
    command: [sh, -c, 'echo "$1" >> daily-runs', daily, "{{ ds }}"]
    consumes: ['iceberg://warehouse/s.e?partition={{ ds }}']
  whole:
    type: command
    command: [sh, -c, 'echo "$1" >> whole-runs', whole, "{{ ds }}"]
    consumes: ['iceberg://warehouse/s.e']
YML
bf() { expect_rc 0 K dags backfill p --start 2025-01-01 --end 2025-01-03 --rerun all; }
bf
want "$(lines "$P/daily-runs") $(lines "$P/whole-runs")" "3 3" "first backfill"
bf
want "$(lines "$P/daily-runs") $(lines "$P/whole-runs")" "3 3" "nothing changed: nothing runs"
# a new snapshot that writes day 2 only: day 2's partition consumer re-runs, the whole-table one re-runs every day
S -c "insert into s.e values ('2025-01-02', 20)"
bf
want "$(tail -n +4 "$P/daily-runs" | tr '\n' ' ')" "2025-01-02 " "only day 2's partition changed"
want "$(lines "$P/whole-runs")" 6 "the whole-table consumer re-ran every day"
expect_rc 0 K runs p --explain daily --date 2025-01-02
grep -q "consumes iceberg://warehouse/s.e?partition=2025-01-02 = partition 2025-01-02: 2 files, 2 rows, sha256 " <<<"$OUT" ||
  fail "explain: $OUT"
expect_rc 0 K runs p --explain whole --date 2025-01-02
S -c "insert into s.e values ('2025-01-03', 30)"
expect_rc 0 K runs p --explain daily --date 2025-01-03
grep -q "WILL RUN: .*a consumed asset changed" <<<"$OUT" || fail "explain changed: $OUT"
grep -q "^    iceberg://warehouse/s.e?partition=2025-01-03: now partition 2025-01-03: 2 files, 2 rows, sha256 [0-9a-f]*, was partition 2025-01-03: 1 files, 1 rows" <<<"$OUT" ||
  fail "explain names the changed partition: $OUT"
expect_rc 0 K runs p --explain daily --date 2025-01-04
grep -q "partition 2025-01-04: empty" <<<"$OUT" || fail "explain empty: $OUT"
echo "flow_partition_assets: ok"
