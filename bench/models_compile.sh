#!/usr/bin/env bash
# bench/models_compile.sh - `kiln compile` of a generated dbt project:
# BENCH_COMPILE_MODELS (default 10000) models in folders of 100, each model
# after the first 100 with a config() call, a {% set %} list looped with
# {% for %}, a var() and two ref()s to earlier models; a schema.yml per
# folder with unique + not_null on every model (2 tests a model). Times
# `kiln compile` (load YAML + parse Jinja + render every node twice, as dbt's
# parse then compile + graph + target/compiled/ + manifest.json): one cold
# run (target/ empty), then BENCH_COMPILE_RUNS (3) warm full runs
# (--no-partial-parse) and as many cached ones (one model file edited before
# each: the partial-parse cache); prints min and median CPU (user+sys) and
# wall of each, beside the published figures of dbt Fusion and dbt Core, and
# (BENCH_PLAN=1, the default) the time of `kiln plan` after one model file
# changed. One machine, no warm-up beyond that; never
# fails on timing. BENCH_KEEP=1 keeps the project (printed).
set -euo pipefail
ROOT="${KILN_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
KILN="${KILN_BIN:-$ROOT/build/kiln}"
N="${BENCH_COMPILE_MODELS:-10000}"
RUNS="${BENCH_COMPILE_RUNS:-3}"
TMP="$(mktemp -d)"; [ -n "${BENCH_KEEP:-}" ] && echo "keeping $TMP"
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$TMP"' EXIT
P="$TMP/big"

python3 - "$P" "$N" <<'PY'
import os, sys, random
out, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
os.makedirs(out + "/seeds", exist_ok=True)
open(out + "/dbt_project.yml", "w").write(
    "name: big\nprofile: big\nvars:\n  k: 1\nmodels:\n  big:\n    +materialized: view\n    marts:\n      +materialized: table\n")
open(out + "/profiles.yml", "w").write(
    "big:\n  target: dev\n  outputs:\n    dev: {type: kiln, warehouse: wh, schema: analytics}\n")
open(out + "/seeds/raw.csv", "w").write("id,v\n1,a\n2,b\n")
per = 100
for d in range((n + per - 1) // per):
    sub = "staging" if d == 0 else "marts/m%03d" % d
    os.makedirs(out + "/models/" + sub, exist_ok=True)
    yml = ["version: 2", "models:"]
    for i in range(d * per, min(n, (d + 1) * per)):
        name = "m%05d" % i
        if i < per:
            body = "select id, v, {{ var('k', 1) }} as k from {{ ref('raw') }}"
        else:
            a, b = random.sample(range(max(0, i - 300), i), 2)
            body = ("{{ config(tags=['t%d']) }}\n{%% set cols = ['id', 'v'] %%}\n"
                    "select {%% for c in cols -%%}a.{{ c }}{%% if not loop.last %%}, {%% endif %%}{%% endfor %%}, b.k\n"
                    "from {{ ref('m%05d') }} a join {{ ref('m%05d') }} b using (id)" % (i % 10, a, b))
        open("%s/models/%s/%s.sql" % (out, sub, name), "w").write(body + "\n")
        yml += ["  - name: " + name, "    description: model " + name, "    columns:",
                "      - name: id", "        tests: [unique, not_null]"]
    open("%s/models/%s/schema.yml" % (out, sub), "w").write("\n".join(yml) + "\n")
PY

run() { # prints "wall user+sys"; $@: more compile flags
  local TIMEFORMAT='%R %U %S' t
  t=$( { time "$KILN" compile --project-dir "$P" "$@" >"$TMP/out.txt" 2>"$TMP/err.txt"; } 2>&1 | tail -1) || true
  grep -q "^Compiled" "$TMP/out.txt" || { cat "$TMP/err.txt" >&2; echo "kiln compile failed" >&2; exit 1; }
  echo "$t" | awk '{printf "%.3f %.3f\n", $1, $2 + $3}'
}
# "min median" of column 2 (CPU) and of column 1 (wall) of the lines in $1
stats() {
  local c w
  c=$(sort -n -k2 "$1" | awk '{v[NR]=$2} END {printf "%.3f %.3f", v[1], v[int((NR+1)/2)]}')
  w=$(sort -n -k1 "$1" | awk '{v[NR]=$1} END {printf "%.3f %.3f", v[1], v[int((NR+1)/2)]}')
  echo "$c $w"
}
cold=$(run --no-partial-parse)
: > "$TMP/full.txt"
for _ in $(seq "$RUNS"); do run --no-partial-parse >> "$TMP/full.txt"; done
head -1 "$TMP/out.txt"
# the partial-parse cache: one model file edited, then `kiln compile`
# (the full compile above wrote target/partial_parse.bin)
: > "$TMP/pp.txt"
edit=$(ls "$P"/models/marts/*/*.sql | tail -1)
for i in $(seq "$RUNS"); do
  printf -- '-- edit %d\n' "$i" >>"$edit"
  run >> "$TMP/pp.txt"
done
log=$(KILN_LOG=debug "$KILN" compile --project-dir "$P" 2>&1) || true
grep -q "partial parse: 0 model file" <<<"$log" || echo "warning: the cached compile did not use the cache" >&2
# issue 19's figure: `kiln plan` after a one-file change (nothing deployed:
# every model is `new`, so this is the whole project's plan)
plan=""
if [ "${BENCH_PLAN:-1}" = 1 ]; then
  set -- "$P"/models/marts/m001/*.sql; printf -- '-- edited\n' >>"$1"
  plan=$( { TIMEFORMAT='%R %U %S'; time "$KILN" plan --project-dir "$P" >"$TMP/plan.txt" 2>&1; } 2>&1 | tail -1) || plan=""
  grep -q "^planned in" "$TMP/plan.txt" || { tail -3 "$TMP/plan.txt" >&2; plan=""; }
fi
echo "manifest.json: $(du -k "$P/target/manifest.json" | cut -f1) KiB; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-48s %s\n' "kiln compile, $N models (cold target/):" "$(echo "$cold" | awk '{printf "%s s wall, %s s CPU", $1, $2}')"
printf '%-48s %s\n' "kiln compile --no-partial-parse ($RUNS runs):" "$(stats "$TMP/full.txt" | awk '{printf "CPU min %s s, median %s s; wall min %s s, median %s s", $1, $2, $3, $4}')"
printf '%-48s %s\n' "kiln compile after a one-model edit ($RUNS runs):" "$(stats "$TMP/pp.txt" | awk '{printf "CPU min %s s, median %s s; wall min %s s, median %s s (target < 0.05 s)", $1, $2, $3, $4}')"
[ -z "$plan" ] || printf '%-48s %s\n' "kiln plan after a one-file change:" "$(echo "$plan" | awk '{printf "%.3f s wall, %.3f s CPU (target < 0.1 s)", $1, $2 + $3}')"
printf '%-48s %s\n' "dbt Fusion (published by dbt Labs):" "10,000 models < 0.6 s"
printf '%-48s %s\n' "dbt Core (published by dbt Labs):" "minutes for 10,000 models (Fusion: parse up to 30x faster)"
echo "target: < 0.5 s on 2 cores (full), < 0.05 s after a one-file edit"
