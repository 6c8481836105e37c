#!/usr/bin/env bash
# bench/gh_events.sh - kiln job gh-events against its two named peers, on the
# same generated GH Archive hours and the same cores:
#   (a) DuckDB (@duckdb/node-api, same thread count): read_ndjson over the
#       .json.gz files, PushEvents deduped by id, commits unnested, both
#       written to CSV (tests/node/engine_gh_duckdb.mjs export);
#   (b) decompression alone with the same library (ISA-L isal_inflate,
#       streaming, bench/gunzip_isal.c), files spread over the same threads.
# Also kiln's Iceberg load of the same files (--format iceberg, a fresh
# warehouse each run: the first load) and a re-run of it (inputs unchanged:
# decided from metadata, docs/engine.md "Re-runs").
# Prints wall time, CPU (user+sys) and peak RSS (median of $BENCH_RUNS runs
# each) and the ratios. Targets (issue 16): kiln >= 5x faster than DuckDB,
# <= 2x decompression, Iceberg first load <= 1.3x the CSV path, re-run < 5 %
# of the first load, <= 256 MB peak. Measures only; never fails on timing.
# Data: `kiln gen gharchive` with the default mix (real2025, calibrated to a
# real 2025 hour; BENCH_MIX=legacy for the old one); 4 hours at scale 0.25 are
# ~570 MB of JSON, ~220k events, like the issue's 4 real hours.
#   BENCH_RUNS (default 5)  BENCH_HOURS (4)  BENCH_SCALE (0.25)  BENCH_MIX (real2025)
#   BENCH_THREADS (nproc)   BENCH_DATA (cache dir for the generated files)
set -euo pipefail
ROOT="${KILN_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
KILN="${KILN_BIN:-$ROOT/build/kiln}"
RUNS="${BENCH_RUNS:-5}"
HOURS="${BENCH_HOURS:-4}"
SCALE="${BENCH_SCALE:-0.25}"
MIX="${BENCH_MIX:-real2025}"
THREADS="${BENCH_THREADS:-$(nproc)}"
DATA="${BENCH_DATA:-${TMPDIR:-/tmp}/kiln-bench-gh-$MIX-$HOURS-$SCALE}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

[ -x "$KILN" ] || { echo "no kiln binary at $KILN (make first)"; exit 1; }
if [ ! -d "$ROOT/tests/node/node_modules/@duckdb/node-api" ]; then
  echo "installing @duckdb/node-api (npm, tests/node)"
  (cd "$ROOT/tests/node" && npm install --no-audit --no-fund >/dev/null)
fi
cc -O2 -o "$WORK/gunzip_isal" "$ROOT/bench/gunzip_isal.c" -lisal -pthread

if [ ! -f "$DATA/_manifest.json" ]; then
  echo "generating $HOURS hours at scale $SCALE (mix $MIX) into $DATA"
  "$KILN" gen gharchive --out "$DATA" --start 2025-01-01 --hours "$HOURS" --scale "$SCALE" --seed 42 --mix "$MIX" >/dev/null
fi
FILES=("$DATA"/*.json.gz)
GZ_MB=$(du -cm "${FILES[@]}" | tail -1 | cut -f1)

# run NAME CMD... : wall seconds and peak RSS (KB) of one run, appended to $WORK/NAME
run() {
  local name="$1"; shift
  /usr/bin/time -f "%e %M %U %S" -o "$WORK/t" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
    echo "$name failed:"; tail -5 "$WORK/$name.err"; exit 1; }
  cat "$WORK/t" >>"$WORK/$name"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

for i in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/kout" "$WORK/dout"; mkdir -p "$WORK/dout"
  run kiln "$KILN" job gh-events --in "$DATA" --out "$WORK/kout" --format csv --threads "$THREADS"
  run gunzip "$WORK/gunzip_isal" "$THREADS" "${FILES[@]}"
  run duckdb node "$ROOT/tests/node/engine_gh_duckdb.mjs" export "$THREADS" "$WORK/dout" "${FILES[@]}"
  rm -rf "$WORK/wh"
  run ice "$KILN" job gh-events --in "$DATA" --format iceberg --warehouse "$WORK/wh" --threads "$THREADS"
  run rerun "$KILN" job gh-events --in "$DATA" --format iceberg --warehouse "$WORK/wh" --threads "$THREADS"
done

JSON_MB=$(awk '{printf "%.0f", $1/1e6}' "$WORK/gunzip.out")
cpu() { awk '{printf "%.2f\n", $3 + $4}' "$1" | median; }
kt=$(cut -d' ' -f1 "$WORK/kiln" | median); km=$(cut -d' ' -f2 "$WORK/kiln" | median); kc=$(cpu "$WORK/kiln")
gt=$(cut -d' ' -f1 "$WORK/gunzip" | median); gm=$(cut -d' ' -f2 "$WORK/gunzip" | median); gc=$(cpu "$WORK/gunzip")
dt=$(cut -d' ' -f1 "$WORK/duckdb" | median); dm=$(cut -d' ' -f2 "$WORK/duckdb" | median); dc=$(cpu "$WORK/duckdb")
it=$(cut -d' ' -f1 "$WORK/ice" | median); im=$(cut -d' ' -f2 "$WORK/ice" | median); ic=$(cpu "$WORK/ice")
rt=$(cut -d' ' -f1 "$WORK/rerun" | median); rm_=$(cut -d' ' -f2 "$WORK/rerun" | median); rc_=$(cpu "$WORK/rerun")
kpush=$(awk '$1=="total"{print $6" pushes, "$7" commits"}' "$WORK/kiln.out")
echo "input: ${#FILES[@]} hour files, $GZ_MB MB gz, $JSON_MB MB JSON ($kpush); $THREADS threads; median of $RUNS runs"
echo "  (wall = elapsed seconds; cpu = user+sys seconds over all threads, steadier on a busy machine)"
printf '  %-34s %7s s wall %7s s cpu %6s MB peak\n' "kiln job gh-events (csv)" "$kt" "$kc" "$((km / 1024))"
printf '  %-34s %7s s wall %7s s cpu %6s MB peak\n' "DuckDB read_ndjson -> csv" "$dt" "$dc" "$((dm / 1024))"
printf '  %-34s %7s s wall %7s s cpu %6s MB peak\n' "ISA-L decompression alone" "$gt" "$gc" "$((gm / 1024))"
printf '  %-34s %7s s wall %7s s cpu %6s MB peak\n' "kiln --format iceberg, first load" "$it" "$ic" "$((im / 1024))"
printf '  %-34s %7s s wall %7s s cpu %6s MB peak\n' "kiln --format iceberg, re-run" "$rt" "$rc_" "$((rm_ / 1024))"
awk -v k="$kt" -v d="$dt" -v g="$gt" -v m="$km" -v j="$JSON_MB" -v kc="$kc" -v dc="$dc" -v gc="$gc" -v it="$it" -v ic="$ic" -v rt="$rt" -v rc="$rc_" 'BEGIN {
  printf "  iceberg first load / csv: %.2fx wall, %.2fx cpu (target <= 1.3x)\n", it / k, ic / kc;
  printf "  iceberg re-run / first load: %.1f %% wall, %.1f %% cpu (target < 5 %%)\n", 100 * rt / it, 100 * rc / ic;
  printf "  kiln vs DuckDB: %.1fx faster wall, %.1fx less cpu (target >= 5x)\n", d / k, dc / kc;
  printf "  kiln / decompression: %.2fx wall, %.2fx cpu (target <= 2x)\n", k / g, kc / gc;
  printf "  kiln peak RSS: %.0f MB (target <= 256 MB); kiln %.0f MB/s of JSON\n", m / 1024, j / k }'
echo "  load: $(uptime | sed "s/.*load average/load average/")"
