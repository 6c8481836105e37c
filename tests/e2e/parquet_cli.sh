#!/usr/bin/env bash
# e2e: `kiln parquet` against files written by DuckDB (the fuzz seed corpus)
# and Spark (../shared/fixtures): schema/meta/cat/scan output, rewrite with
# every codec reads back identically, predicates prune, bad input fails
# cleanly with the right exit code.
set -euo pipefail
K="$KILN_BIN"
R="$KILN_ROOT"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
die() { echo "parquet_cli: $*" >&2; exit 1; }
DUCK="$R/tests/fuzz/corpus/parquet/duck_V2_gzip.parquet"
SPARK="$R/../shared/fixtures/iceberg/iceberg/lineitem_iceberg/data/00000-1-66fee7c2-c97c-4af9-963d-930afd99ace4-00001.parquet"

# cat: exact CSV of DuckDB's v2 file (DELTA encodings, data page v2, gzip)
got="$("$K" parquet cat --limit 3 "$DUCK")"
exp='a,b,s,h,bo,f,d,dt,ts,d9,d18,d30,bl
0,,v0,cfcd208495d565ef66e7dff9f98764da,true,0,0,2020-01-01,2023-11-14T22:13:20,0.00,0.000,0.0000,30
1,7,v1,c4ca4238a0b923820dcc509a6f75849b,false,0.5,1.5,2020-01-02,2023-11-14T22:13:20.001000,0.33,0.333,0.3333,31
2,14,v2,c81e728d9d4c2f636f067f89cc14862c,true,1,3,2020-01-03,2023-11-14T22:13:20.002000,0.67,0.667,0.6667,32'
[ "$got" = "$exp" ] || die "cat CSV differs:
$got"

# ndjson with projection, predicate and limit
got="$("$K" parquet cat --format ndjson --columns a,s --where 'b > 200' --limit 2 "$DUCK")"
[ "$got" = '{"a":29,"s":"v4"}
{"a":31,"s":"v1"}' ] || die "ndjson/where differs: $got"

# rewrite with every codec and option: identical rows
"$K" parquet cat "$DUCK" > "$T/orig.csv"
for opts in "--codec none" "--codec snappy" "--codec gzip --level 9" "--codec zstd --no-dictionary" \
            "--row-group-rows 7 --page-bytes 64 --dict-max-bytes 16" "--row-group-bytes 100"; do
  # shellcheck disable=SC2086
  "$K" parquet rewrite $opts "$DUCK" "$T/k.parquet" 2>/dev/null || die "rewrite $opts failed"
  "$K" parquet cat "$T/k.parquet" > "$T/k.csv"
  cmp -s "$T/orig.csv" "$T/k.csv" || die "rewrite $opts changed the rows"
done
ls "$T"/*.tmp-* >/dev/null 2>&1 && die "rewrite left a temp file"

# schema and meta of kiln's file: field ids, created_by, statistics
"$K" parquet rewrite --row-group-rows 10 "$DUCK" "$T/k.parquet" 2>/dev/null
out="$("$K" parquet schema "$T/k.parquet")"
grep -qE '^0 +a +1 +INT32' <<< "$out" || die "schema lacks field id 1 for a"
meta="$("$K" parquet meta "$T/k.parquet")"
grep -q '^created_by: kiln version ' <<< "$meta" || die "meta: created_by"
grep -q '^num_row_groups: 4$' <<< "$meta" || die "meta: 4 row groups expected"
grep -qE '^  a: ZSTD .*nulls 0, min 0, max 9$' <<< "$meta" || die "meta: stats of a in row group 0"
# pruning: a between 12 and 15 lies in one row group
out="$("$K" parquet scan --where 'a between 12 and 15' "$T/k.parquet" 2>/dev/null)"
grep -q '^rows: 4$' <<< "$out" || die "scan between: $out"
grep -q 'pruned: 3$' <<< "$out" || die "scan between did not prune 3 row groups: $out"
out="$("$K" parquet scan --where 'b is null' "$T/k.parquet" 2>/dev/null)"
grep -q '^rows: 14$' <<< "$out" || die "is null count: $out"
# rewrite: the file does not depend on the thread count (pages are
# compressed by pool tasks, in any order, and put back in order)
"$K" parquet rewrite --threads 1 --row-group-rows 10 --page-bytes 64 "$DUCK" "$T/t1.parquet" 2>/dev/null
"$K" parquet rewrite --threads 3 --row-group-rows 10 --page-bytes 64 "$DUCK" "$T/t3.parquet" 2>/dev/null
cmp -s "$T/t1.parquet" "$T/t3.parquet" || die "rewrite on 1 and 3 threads wrote different files"
# scan threads share the row groups: same sums, rows and pruning on 1, 2, 3 threads
for w in "" "a >= 10" "b is null"; do
  one="$("$K" parquet scan --threads 1 ${w:+--where "$w"} "$T/k.parquet" 2>/dev/null)"
  for n in 2 3; do
    many="$("$K" parquet scan --threads $n ${w:+--where "$w"} "$T/k.parquet" 2>/dev/null)"
    [ "$one" = "$many" ] || die "scan on $n threads (where '$w') differs:"$'\n'"$many"$'\nvs one thread:\n'"$one"
  done
done

# Spark (parquet-mr, zstd, PLAIN_DICTIONARY) file
if [ -f "$SPARK" ]; then
  out="$("$K" parquet schema "$SPARK")"
  grep -qE '^5 +l_extendedprice +6 +INT64 +DECIMAL\(15,2\)' <<< "$out" || die "spark schema"
  out="$("$K" parquet scan --columns l_orderkey,l_comment "$SPARK" 2>/dev/null)"
  grep -q '^rows: 60175$' <<< "$out" || die "spark rows: $out"
  out="$("$K" parquet cat --columns l_orderkey,l_extendedprice --limit 1 "$SPARK")"
  [ "$(tail -1 <<< "$out")" = "1,24710.35" ] || die "spark first row: $out"
fi

# bad input
set +e
printf 'PAR1xxxxxxxxxxxxPAR2' > "$T/bad.parquet"
msg="$("$K" parquet schema "$T/bad.parquet" 2>&1)"; rc=$?
[ $rc -eq 1 ] && grep -q 'not a Parquet file' <<< "$msg" || die "bad magic: rc $rc $msg"
head -c 300 "$DUCK" > "$T/trunc.parquet"
msg="$("$K" parquet cat "$T/trunc.parquet" 2>&1)"; rc=$?
[ $rc -eq 1 ] && grep -q 'byte' <<< "$msg" || die "truncated: rc $rc $msg"
"$K" parquet schema "$T/missing.parquet" >/dev/null 2>&1; [ $? -eq 4 ] || die "missing file exit code"
"$K" parquet cat --columns nope "$DUCK" >/dev/null 2>&1; [ $? -eq 4 ] || die "unknown column exit code"
"$K" parquet frob "$DUCK" >/dev/null 2>&1; [ $? -eq 2 ] || die "unknown subcommand exit code"
"$K" parquet cat --where 'a ~ 3' "$DUCK" >/dev/null 2>&1; [ $? -ne 0 ] || die "bad predicate accepted"
set -e
echo "parquet_cli: ok"
