#!/usr/bin/env bash
# The orchestrator's overhead, against Airflow's published numbers
# (docs/../shared/reference/orchestration.md section 3: ~2.6 s per chained task
# on Airflow 2.7 with Celery; 1.33-1.48 s queued->running on LocalExecutor).
#   1. a chain of CHAIN no-op tasks (`true`), end to end        target < 2 s for 200
#   2. a wide-and-deep DAG of WIDE tasks (8 layers)              target < 20 s for 10000
#      with the runner's CPU time per task                        target < 0.5 ms
#   3. an idempotent re-run of a finished DAYS-day backfill      target < 1 s, 0 tries
#   4. CPU seconds of an idle `kiln scheduler` over IDLE seconds  target ~ 0
# Prints figures; never fails on timing. Sizes: CHAIN=200 WIDE=10000 DAYS=30
# IDLE=60 (smaller values for a quick check, e.g. CHAIN=10 WIDE=40 IDLE=2).
set -euo pipefail
KILN_BIN="${KILN_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/kiln}"
CHAIN=${CHAIN:-200} WIDE=${WIDE:-10000} DAYS=${DAYS:-30} IDLE=${IDLE:-60}
# BENCH_DIR: where the project (and its .kiln state and logs) lives; the
# runner creates one log file per task try (in one folder per DAG run), so
# the file system matters (e.g. BENCH_DIR=/dev/shm for tmpfs)
P="$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/kiln-flow-bench.XXXXXX")"
trap 'rm -rf "$P"' EXIT
mkdir -p "$P/dags"
printf 'flow: {parallelism: 64}\npools: {default_pool: 100000}\n' > "$P/kiln.yml"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(stat -f -c %T "$P") at $P"
# the floor: the same number of no-op processes started by xargs, one at a
# time and two at a time (what any executor pays for a process per task)
t=$(date +%s%N); seq "$CHAIN" | xargs -n1 true; e=$(ms "$t")
echo "floor: $CHAIN x true one after another (xargs): $e ms"
# the file system's floor: one log file per task try is created; on ext4
# without a journal an inode allocation skips every inode deleted in the
# last minutes (recently_deleted), so its cost depends on what else ran
mkdir "$P/floor"
TIMEFORMAT='%U %S'
c=$( { time (cd "$P/floor" && seq -f 'f%g' "$WIDE" | xargs touch); } 2>&1 )
echo "floor: creating $WIDE empty files in one process: $(awk -v c="$c" -v n="$WIDE" 'BEGIN { split(c, a, " "); printf "%.3f ms CPU per file", (a[1] + a[2]) * 1000 / n }')"
rm -rf "$P/floor"
F=$(( WIDE < 1000 ? WIDE : 1000 ))
t=$(date +%s%N); seq "$F" | xargs -n1 -P2 true; e=$(ms "$t")
echo "floor: $F x true two at a time (xargs -P2): $e ms (x $(( WIDE / F )) for $WIDE: $(( e * WIDE / F )) ms)"

# 1. chain
{ echo 'tasks:'; echo '  t0: {type: command, command: ["true"]}'
  for i in $(seq 1 $((CHAIN - 1))); do echo "  t$i: {type: command, command: [\"true\"], needs: [t$((i - 1))]}"; done
} > "$P/dags/chain.yml"
t=$(date +%s%N)
"$KILN_BIN" dags run chain --date 2024-01-01 --project-dir "$P" 2>/dev/null &
pid=$!
ticks=0
while kill -0 $pid 2>/dev/null; do
  x=$(awk '{print $14 + $15}' /proc/$pid/stat 2>/dev/null || true); [ -n "$x" ] && ticks=$x; sleep 0.05
done
wait $pid
e=$(ms "$t")
echo "chain: $CHAIN no-op tasks in $e ms ($(( e * 1000 / CHAIN )) us/task; Airflow ~2600000 us/task); runner CPU $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$CHAIN" 'BEGIN { printf "%.3f", t * 1000 / hz / n }') ms/task"

# 2. wide and deep: 8 layers, each task needs two of the layer above
per=$(( WIDE / 8 ))
{ echo 'max_active_tasks: 64'; echo 'tasks:'
  for l in $(seq 0 7); do for i in $(seq 0 $((per - 1))); do
    if [ "$l" -eq 0 ]; then echo "  l${l}_$i: {type: command, command: [\"true\"]}"
    else echo "  l${l}_$i: {type: command, command: [\"true\"], needs: [l$((l - 1))_$i, l$((l - 1))_$(( (i + 1) % per ))]}"; fi
  done; done
} > "$P/dags/wide.yml"
t=$(date +%s%N)
# the runner's own CPU (utime + stime of the kiln process, read from /proc
# while it runs; its tasks' CPU is not in these fields)
"$KILN_BIN" dags run wide --date 2024-01-01 --project-dir "$P" 2>/dev/null &
pid=$!
ticks=0
while kill -0 $pid 2>/dev/null; do
  x=$(awk '{print $14 + $15}' /proc/$pid/stat 2>/dev/null || true); [ -n "$x" ] && ticks=$x; sleep 0.05
done
wait $pid
e=$(ms "$t")
n=$(( per * 8 ))
echo "wide: $n tasks in $e ms; runner CPU $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "%.3f", t * 1000 / hz / n }') ms/task (target < 0.5; the tasks' own CPU not included)"

# 3. idempotent re-run of a backfill
printf 'schedule: "@daily"\nstart_date: 2024-01-01\ntasks:\n  a: {type: command, command: ["true"]}\n  b: {type: command, command: ["true"], needs: [a]}\n  c: {type: command, command: ["true"], needs: [b]}\n' > "$P/dags/bf.yml"
end=$(date -u -d "2024-01-01 + $((DAYS - 1)) days" +%F)
"$KILN_BIN" dags backfill bf --start 2024-01-01 --end "$end" --project-dir "$P" 2>/dev/null
t=$(date +%s%N)
# its CPU: user + sys of the command (it starts no task when nothing re-runs)
c=$( { time "$KILN_BIN" dags backfill bf --start 2024-01-01 --end "$end" --rerun all --project-dir "$P" >"$P/rerun.out" 2>&1; } 2>&1 )
e=$(ms "$t")
out=$(tail -n1 "$P/rerun.out")
echo "re-run of a finished $DAYS-day backfill: $e ms, $(awk -v c="$c" 'BEGIN { split(c, a, " "); printf "%.3f", a[1] + a[2] }') s CPU; ${out##*; }"

# 4. idle scheduler CPU
rm -f "$P"/dags/*.yml
printf 'schedule: "0 0 1 1 *"\nstart_date: 2099-01-01\ntasks: {a: {type: command, command: ["true"]}}\n' > "$P/dags/idle.yml"
"$KILN_BIN" scheduler --project-dir "$P" 2>/dev/null &
pid=$!
sleep 1
a=$(awk '{print $14 + $15}' /proc/$pid/stat)
sleep "$IDLE"
b=$(awk '{print $14 + $15}' /proc/$pid/stat)
kill -TERM $pid; wait $pid || true
echo "idle scheduler: $(( (b - a) * 1000 / $(getconf CLK_TCK) )) ms CPU in $IDLE s"
