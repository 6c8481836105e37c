#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# `kiln sql` end to end: the three output formats, --db files, --explain,
# statements from stdin, SQL errors with a caret and exit 1, usage errors
# with exit 2.
set -euo pipefail
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
K="$KILN_BIN"
fail() { echo "FAIL: $*"; exit 1; }

# default: aligned table, UTF-8 aware, row count
out="$("$K" sql "SELECT '日本' AS s, 42 AS n UNION ALL SELECT 'abcdef', 7")"
want=$'s      |  n\n-------+---\n日本   | 42\nabcdef |  7\n(2 rows)'
[ "$out" = "$want" ] || fail "table output:"$'\n'"$out"$'\nwant:\n'"$want"

# --csv: RFC 4180 quoting
out="$("$K" sql --csv "SELECT 'a,b' AS x, 'say \"hi\"' AS y, NULL AS z")"
[ "$out" = $'x,y,z\n"a,b","say ""hi""",' ] || fail "csv output: $out"

# --json: valid JSON, numbers as numbers (checked by node's JSON.parse)
"$K" sql --json "SELECT 1 AS i, 2.5 AS r, 'q\"'||char(10) AS s, NULL AS z, date_trunc('week', '2024-12-31') AS w" >"$tmp/out.json"
node -e '
const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const r = v[0];
if (v.length !== 1 || r.i !== 1 || r.r !== 2.5 || r.s !== "q\"\n" || r.z !== null || r.w !== "2024-12-30")
  { console.error("bad json", JSON.stringify(v)); process.exit(1); }' "$tmp/out.json" || fail "json output: $(cat "$tmp/out.json")"

# --db: a file database persists between runs
"$K" sql --db "$tmp/t.db" "CREATE TABLE c(repo TEXT, ts TEXT); INSERT INTO c VALUES ('kiln', '2024-12-30T10:00:00Z'), ('kiln', '2025-01-06T09:00:00Z')"
out="$("$K" sql --db "$tmp/t.db" --csv "SELECT iso_year(ts) || '-W' || iso_week(ts) AS w, count(*) AS n FROM c GROUP BY 1 ORDER BY 1")"
[ "$out" = $'w,n\n2025-W1,1\n2025-W2,1' ] || fail "--db output: $out"

# --explain prints the plan instead of running the query
out="$("$K" sql --db "$tmp/t.db" --explain "SELECT * FROM c WHERE repo = 'kiln'")"
[[ "$out" == $'QUERY PLAN\n`--SCAN c'* ]] || fail "--explain output: $out"

# statements from stdin, split on ';' outside quotes
out="$(printf "CREATE TABLE t(a);\nINSERT INTO t VALUES ('x;y');\nSELECT a\n  FROM t;\n" | "$K" sql --csv)"
[ "$out" = $'a\nx;y' ] || fail "stdin output: $out"

# SQL error: statement, caret, exit 1
set +e
err="$("$K" sql "SELECT x FROM (SELECT 1 AS y)" 2>&1)"; rc=$?
set -e
[ $rc -eq 1 ] || fail "SQL error exit $rc, want 1"
want=$'kiln sql: error: no such column: x\n  SELECT x FROM (SELECT 1 AS y)\n         ^'
[ "$err" = "$want" ] || fail "error output:"$'\n'"$err"

# an error in a stdin script names the line; the script goes on (as sqlite3
# and duckdb do) and the exit code says a statement failed
set +e
err="$(printf "SELECT 1;\nSELECT bad(1);\nSELECT 3;\n" | "$K" sql 2>&1)"; rc=$?
set -e
[ $rc -eq 1 ] || fail "stdin SQL error exit $rc, want 1"
[[ "$err" == *"kiln sql: error: line 2: no such function: bad"* ]] || fail "stdin error: $err"
[[ "$err" == *"3"$'\n'"(1 row)"* ]] || fail "stdin script stopped at the error: $err"
# --bail stops at the first error
set +e
err="$(printf "SELECT 1;\nSELECT bad(1);\nSELECT 3;\n" | "$K" sql --bail 2>&1)"; rc=$?
set -e
[ $rc -eq 1 ] && [[ "$err" != *"3"$'\n'"(1 row)"* ]] || fail "--bail ($rc): $err"

# -c and -f run in order, dot-commands included; settings carry over
printf ".mode csv\nCREATE TABLE f(a);\nINSERT INTO f VALUES (1), (2);\n" >"$tmp/setup.sql"
out="$("$K" sql --db "$tmp/c.db" -f "$tmp/setup.sql" -c "SELECT count(*) AS n FROM f" -c ".headers off" -c "SELECT sum(a) FROM f")"
[ "$out" = $'n\n2\n3' ] || fail "-f/-c output: $out"
out="$("$K" sql --db "$tmp/c.db" -c ".tables")"
[ "$out" = "f" ] || fail "-c .tables: $out"
out="$(printf '.mode json\nSELECT 7 AS x;\n' | "$K" sql)"
[ "$out" = $'[\n{"x":7}\n]' ] || fail "dot-command from a pipe: $out"
# an error in a -f file names the file and line; a failed -c does not stop the next
printf "SELECT 1;\nSELECT nope;\n" >"$tmp/bad.sql"
set +e
err="$("$K" sql -f "$tmp/bad.sql" -c "SELECT 5 AS five" 2>&1)"; rc=$?
set -e
[ $rc -eq 1 ] && [[ "$err" == *"kiln sql: error: $tmp/bad.sql:2: no such column: nope"* && "$err" == *$'five\n----\n   5'* ]] ||
  fail "-f error ($rc): $err"
set +e
"$K" sql -f "$tmp/no-such-file.sql" >/dev/null 2>&1; rc=$?
"$K" sql -c ".nonsense" >/dev/null 2>&1; rc2=$?
"$K" sql -c >/dev/null 2>&1; rc3=$?
set -e
[ $rc -eq 4 ] && [ $rc2 -eq 1 ] && [ $rc3 -eq 2 ] || fail "-f missing file exit $rc (want 4), bad dot-command $rc2 (want 1), -c without TEXT $rc3 (want 2)"

# .timer prints sqlite3's Run Time line after each statement
out="$("$K" sql -c ".timer on" -c "SELECT 1 AS a")"
[[ "$out" =~ Run\ Time:\ real\ [0-9]+\.[0-9]{3}\ user\ [0-9.]+\ sys\ [0-9.]+ ]] || fail ".timer: $out"

# --box draws the table with box lines; CREATE OR REPLACE TABLE on SQLite tables
out="$("$K" sql --box "CREATE TABLE r AS SELECT 1 AS a; CREATE OR REPLACE TABLE r AS SELECT a, 'x' AS b FROM r; SELECT * FROM r")"
[ "$out" = $'┌───┬───┐\n│ a │ b │\n├───┼───┤\n│ 1 │ x │\n└───┴───┘\n(1 row)' ] || fail "--box / CREATE OR REPLACE: $out"

# Iceberg tables: .tables, .schema, DESCRIBE, SHOW TABLES show Iceberg types
wh="$tmp/wh"
"$K" sql --warehouse "$wh" -c "CREATE TABLE gh.ev (id long NOT NULL, repo string, price decimal(9,2), at timestamptz, tags list<string>) PARTITIONED BY (day(at))" >/dev/null
out="$("$K" sql --warehouse "$wh" -c ".tables" -c ".schema gh.ev" -c ".schema ev")"
ddl='CREATE TABLE gh.ev (id long NOT NULL, repo string, price decimal(9, 2), at timestamptz, tags list<string>) PARTITIONED BY (day(at));'
[ "$out" = "gh.ev"$'\n'"$ddl"$'\n'"$ddl" ] || fail ".tables/.schema: $out"
# .schema's CREATE TABLE makes the same table again (nested types, every transform)
"$K" sql --warehouse "$tmp/rt1" -c "CREATE TABLE n.t (id long NOT NULL, k string, m map<string,double>, s struct<a:int,b:string>, ts timestamp) PARTITIONED BY (k, bucket(8, id), truncate(4, s.b), hour(ts))" >/dev/null
ddl1="$("$K" sql --warehouse "$tmp/rt1" -c .schema)"
"$K" sql --warehouse "$tmp/rt2" -c "$ddl1" >/dev/null
ddl2="$("$K" sql --warehouse "$tmp/rt2" -c .schema)"
[ "$ddl1" = "$ddl2" ] && [[ "$ddl1" == *"truncate(4, s.b)"* ]] || fail ".schema round trip:"$'\n'"$ddl1"$'\n'"$ddl2"
out="$("$K" sql --warehouse "$wh" --csv -c "DESCRIBE gh.ev" -c "SHOW TABLES")"
[ "$out" = $'column_name,column_type,null\nid,long,NO\nrepo,string,YES\nprice,"decimal(9, 2)",YES\nat,timestamptz,YES\ntags,list<string>,YES\nname,type\ngh.ev,iceberg' ] ||
  fail "DESCRIBE/SHOW TABLES: $out"
set +e
err="$("$K" sql --warehouse "$wh" "DESCRIBE gh.nope" 2>&1)"; rc=$?
set -e
[ $rc -eq 1 ] && [[ "$err" == *"DESCRIBE: no such table: gh.nope"* ]] || fail "DESCRIBE missing ($rc): $err"

# DROP TABLE keeps the files (Spark/Iceberg semantics), PURGE deletes them; IF EXISTS
"$K" sql --warehouse "$wh" -c "CREATE TABLE gh.keep AS SELECT 1 AS a" -c "CREATE TABLE gh.gone AS SELECT 1 AS a" >/dev/null
out="$("$K" sql --warehouse "$wh" -c "DROP TABLE gh.keep" -c "DROP TABLE gh.gone PURGE" -c "DROP TABLE IF EXISTS gh.gone")"
[[ "$out" == *"DROP TABLE gh.keep: dropped from the catalog; its files are kept"* && "$out" == *"no such table, nothing done"* ]] ||
  fail "DROP TABLE output: $out"
[ -d "$wh/gh/keep/metadata" ] && [ ! -e "$wh/gh/gone" ] || fail "DROP TABLE files: $(ls "$wh/gh")"
out="$("$K" sql --warehouse "$wh" --csv "SHOW TABLES")"
[ "$out" = $'name,type\ngh.ev,iceberg' ] || fail "dropped tables still listed: $out"
set +e
err="$("$K" sql --warehouse "$wh" "DROP TABLE gh.keep" 2>&1)"; rc=$?
err2="$("$K" sql --warehouse "$wh" "ALTER TABLE gh.ev ADD COLUMN x long NOT NULL" 2>&1)"; rc2=$?
set -e
[ $rc -eq 4 ] && [[ "$err" == *"no table gh.keep to drop"* ]] || fail "DROP missing ($rc): $err"
[ $rc2 -eq 1 ] && [[ "$err2" == *"ALTER TABLE ADD COLUMN gh.ev"* ]] || fail "ALTER refused ($rc2): $err2"

# a missing warehouse: read-only use is "not found" (exit 4) and creates nothing
set +e
err="$("$K" sql --warehouse "$tmp/nowh" "SELECT * FROM gh.ev" 2>&1)"; rc=$?
err2="$(echo "SELECT * FROM gh.ev;" | KILN_WAREHOUSE="$tmp/nowh2" "$K" sql 2>&1)"; rc2=$?
set -e
[ $rc -eq 4 ] && [[ "$err" == *"warehouse not found: $tmp/nowh"* ]] || fail "missing warehouse ($rc): $err"
[ $rc2 -eq 4 ] && [[ "$err2" == *"warehouse not found: $tmp/nowh2"* ]] || fail "missing warehouse, stdin ($rc2): $err2"
[ ! -e "$tmp/nowh" ] && [ ! -e "$tmp/nowh2" ] || fail "a read created the warehouse"
# ... and a CREATE TABLE creates it
"$K" sql --warehouse "$tmp/nowh" "CREATE TABLE a.b AS SELECT 1 AS one" >/dev/null
[ -f "$tmp/nowh/catalog.db" ] || fail "CREATE TABLE did not create the warehouse"

# function errors name the function and the fix
set +e
err="$("$K" sql "SELECT date_trunc('fortnight', '2024-01-01')" 2>&1)"; rc=$?
set -e
[ $rc -eq 1 ] && [[ "$err" == *"date_trunc: unknown unit 'fortnight' (valid units: second, minute, hour, day, week, month, quarter, year)"* ]] \
  || fail "unit error ($rc): $err"

# usage errors exit 2
set +e
"$K" sql --csv --json "SELECT 1" >/dev/null 2>&1; rc1=$?
"$K" sql --no-such-flag "SELECT 1" >/dev/null 2>&1; rc2=$?
"$K" sql "SELECT 1" "SELECT 2" >/dev/null 2>&1; rc3=$?
set -e
[ $rc1 -eq 2 ] && [ $rc2 -eq 2 ] && [ $rc3 -eq 2 ] || fail "usage errors exit $rc1 $rc2 $rc3, want 2"

# a file that is not a database
echo "not a database, just some text that is long enough to look like a header" >"$tmp/junk.db"
set +e
err="$("$K" sql --db "$tmp/junk.db" "SELECT 1" 2>&1)"; rc=$?
set -e
[ $rc -eq 1 ] && [[ "$err" == *"junk.db"* ]] || fail "junk db ($rc): $err"
# interactive shell on a pseudo-terminal (util-linux script; "exec" so that
# no /bin/sh sits between the pty and kiln and dies of the Ctrl-C): prompts,
# continuation lines, history file
if command -v script >/dev/null; then
  export KILN_HISTORY="$tmp/history"
  out="$(printf "SELECT 1+1 AS two;\nSELECT\n 'multi' AS m;\nSELECT nope;\n.quit\n" |
         script -qfec "exec $K sql" /dev/null | tr -d '\r')"
  [[ "$out" == *"kiln> "* && "$out" == *"  ...> "* && "$out" == *$'two\n---\n  2\n(1 row)'* &&
     "$out" == *$'m\n-----\nmulti\n(1 row)'* && "$out" == *"no such column: nope"* ]] || fail "shell output: $out"
  [ "$(cat "$KILN_HISTORY")" = $'SELECT 1+1 AS two;\nSELECT  \'multi\' AS m;\nSELECT nope;\n.quit' ] ||
    fail "history: $(cat "$KILN_HISTORY")"
  # Ctrl-C interrupts a runaway query, and drops a half-typed statement, without leaving the shell
  out="$( (printf "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT count(*) FROM n;\n"
           sleep 2; printf '\003'; sleep 0.5; printf "SELECT 1,\n"; sleep 0.5; printf '\003'; sleep 0.5
           printf "SELECT 7 AS seven;\n.quit\n") | timeout 20 script -qfec "exec $K sql" /dev/null | tr -d '\r')"
  [[ "$out" == *"kiln sql: error: interrupted"* && "$out" == *$'seven\n-----\n    7\n(1 row)'* ]] ||
    fail "Ctrl-C in the shell: $out"
fi
# on a terminal: rows fitted to its width (ellipsis), long results paged
# through $PAGER (spawned, no shell); the same query into a pipe is unchanged
if command -v script >/dev/null; then
  wide="SELECT 'a very long text value that is too wide' AS t, 12345 AS n"
  out="$(COLUMNS=30 LINES=50 script -qfec "exec $K sql --no-pager -c \"$wide\"" /dev/null </dev/null | tr -d '\r')"
  [ "$out" = $'t                      |     n\n-----------------------+------\na very long text valu… | 12345\n(1 row)' ] ||
    fail "fitted to 30 columns:"$'\n'"$out"
  out="$(COLUMNS=30 "$K" sql -c "$wide")"
  [[ "$out" == *"a very long text value that is too wide | 12345"* ]] || fail "pipe output cut: $out"
  printf '#!/bin/sh\ncat > "$1"\n' >"$tmp/pager"; chmod +x "$tmp/pager"
  long="WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 30) SELECT i FROM s"
  COLUMNS=80 LINES=10 PAGER="$tmp/pager $tmp/paged.txt" script -qfec "exec $K sql -c \"$long\"" /dev/null </dev/null >/dev/null
  [ "$(tail -1 "$tmp/paged.txt")" = "(30 rows)" ] || fail "pager did not get the result: $(cat "$tmp/paged.txt" 2>&1)"
  rm -f "$tmp/paged.txt"
  COLUMNS=80 LINES=10 PAGER="$tmp/pager $tmp/paged.txt" script -qfec "exec $K sql -c 'SELECT 1'" /dev/null </dev/null >/dev/null
  [ ! -e "$tmp/paged.txt" ] || fail "a short result was paged"
  COLUMNS=80 LINES=10 PAGER="$tmp/pager $tmp/paged.txt" "$K" sql -c "$long" >/dev/null
  [ ! -e "$tmp/paged.txt" ] || fail "output into a pipe was paged"
fi
# line editing: Up recalls the previous statement (libedit), in a real
# terminal under tmux; history is loaded from the file at start
if command -v tmux >/dev/null; then
  sock="$tmp/tmux.sock"
  export KILN_HISTORY="$tmp/history2"
  printf 'SELECT 6*7 AS from_file;\n' >"$KILN_HISTORY"
  tmux -S "$sock" new-session -d -x 100 -y 40 "$K sql --no-warehouse; sleep 3"
  sleep 1
  tmux -S "$sock" send-keys 'SELECT 40+2 AS answer'; tmux -S "$sock" send-keys -H 3b; tmux -S "$sock" send-keys Enter
  sleep 0.5; tmux -S "$sock" send-keys Up; sleep 0.3; tmux -S "$sock" send-keys Enter
  sleep 0.5; tmux -S "$sock" send-keys Up Up Up; sleep 0.3; tmux -S "$sock" send-keys Enter
  sleep 0.5
  screen="$(tmux -S "$sock" capture-pane -p)"
  tmux -S "$sock" kill-server 2>/dev/null || true
  n=$(printf '%s\n' "$screen" | grep -c '^    42$' || true)
  [ "$n" -eq 2 ] || fail "Up did not recall the statement (42 shown $n times): $screen"
  grep -q 'from_file' <<<"$screen" || fail "history file not loaded: $screen"
fi
echo ok
