#!/usr/bin/env bash
# Pools from kiln.yml limit concurrency (checked with an atomic mkdir
# lock each task holds while it runs, not with timing), max_active_tasks
# likewise, and `tasks clear --downstream` re-runs exactly the cleared tasks.
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/kiln.yml" <<'YML'
pools:
  single: 1
  pair: {slots: 2}
flow:
  parallelism: 8
YML
# each task: take the directory lock or record an overlap, hold it briefly
hold='if mkdir "$LOCKDIR" 2>/dev/null; then sleep 0.2; rmdir "$LOCKDIR"; else echo overlap >> overlap.txt; fi; echo "$KILN_TASK" >> ran.txt'
cat > "$P/dags/pool.yml" <<YML
schedule: "@daily"
start_date: 2024-01-01
default_task: {type: command, pool: single, env: {LOCKDIR: single.lock}, command: [sh, -c, '$hold']}
tasks:
  p1: {}
  p2: {}
  p3: {}
  p4: {}
  big: {pool: pair, pool_slots: 2, env: {LOCKDIR: pair.lock}}
  big2: {pool: pair, pool_slots: 2, env: {LOCKDIR: pair.lock}}
YML
cat > "$P/dags/mat.yml" <<YML
schedule: "@daily"
start_date: 2024-01-01
max_active_tasks: 1
default_task: {type: command, env: {LOCKDIR: mat.lock}, command: [sh, -c, '$hold']}
tasks: {m1: {}, m2: {}, m3: {}}
YML
expect_rc 0 K dags run pool --date 2024-01-01
expect_rc 0 K dags run mat --date 2024-01-01
want "$(lines "$P/ran.txt")" 9 "every task ran"
want "$(lines "$P/overlap.txt")" 0 "no two tasks of a 1-slot pool (or max_active_tasks 1) overlapped"

# pools are validated
cat > "$P/dags/badpool.yml" <<'YML'
tasks:
  x: {type: command, command: ['true'], pool: nosuch}
  y: {type: command, command: ['true'], pool: single, pool_slots: 2}
YML
expect_rc 3 K dags validate
grep -q "badpool.yml:2:47: task 'x': unknown pool 'nosuch'" <<<"$OUT" || fail "unknown pool: $OUT"
grep -q "badpool.yml:3:47: task 'y': pool_slots 2 exceeds pool 'single' size 1" <<<"$OUT" || fail "pool size: $OUT"
rm "$P/dags/badpool.yml"

# clear --downstream
cat > "$P/dags/chain.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
default_task: {type: command, command: [sh, -c, 'echo "$KILN_TASK" >> chain.txt']}
tasks:
  a: {}
  b: {needs: [a]}
  c: {needs: [b]}
  d: {needs: [a]}
YML
expect_rc 0 K dags run chain --date 2024-01-01
want "$(lines "$P/chain.txt")" 4 "first run"
expect_rc 0 K tasks clear chain b --date 2024-01-01 --downstream
grep -q "cleared 2 task instances" <<<"$OUT" || fail "clear: $OUT"
want "$(state chain b 2024-01-01)" none "cleared state"
expect_rc 0 K runs chain --explain c --date 2024-01-01
grep -q "WILL RUN" <<<"$OUT" || fail "explain after clear: $OUT"
expect_rc 0 K dags run chain --date 2024-01-01
want "$(tail -n +5 "$P/chain.txt" | sort | tr '\n' ' ')" "b c " "only b and c re-ran"
# --upstream, and --failed-only leaves successes alone
expect_rc 0 K tasks clear chain c --date 2024-01-01 --upstream --failed-only
grep -q "cleared 0 task instances" <<<"$OUT" || fail "failed-only: $OUT"
expect_rc 0 K tasks clear chain c --start 2024-01-01 --end 2024-01-01 --upstream
grep -q "cleared 3 task instances" <<<"$OUT" || fail "upstream: $OUT"
expect_rc 2 K tasks clear chain --date 2024-01-01 --downstream
echo ok
