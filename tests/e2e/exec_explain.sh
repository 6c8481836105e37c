#!/usr/bin/env bash
# The columnar executor's path choice as users see it: `kiln sql --explain`
# names the path (columnar with its scan, or sqlite with the reason), a
# query over no Iceberg table prints no KILN EXEC line, the memory cap
# declines to SQLite with the same rows, KILN_EXEC=0 turns it off, every
# output format prints the same text on both paths, and SQLite's errors
# (sum overflow) are SQLite's on both paths.
set -euo pipefail
ROOT="${KILN_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
KB="${KILN_BIN:-$ROOT/build/kiln}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
K() { "$KB" sql --warehouse "$tmp/wh" "$@"; }

K "CREATE TABLE gh.c PARTITIONED BY (day(ts)) AS
WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 19999)
SELECT i % 50 AS repo, printf('%08x', i * 2654435761) AS sha,
       date_add('2024-06-01T00:00:00Z', (i * 7919) % (5 * 86400), 'second') AS ts,
       CASE WHEN i % 9 = 0 THEN NULL ELSE i % 31 END AS adds,
       CASE WHEN i IN (7, 57) THEN 9223372036854775000 ELSE 1 END AS big
FROM s" >/dev/null

# columnar: the scan of one day reads one file of five
q="SELECT repo, count(*) AS n, sum(adds) FROM gh.c WHERE ts >= '2024-06-02' AND ts < '2024-06-03' GROUP BY repo ORDER BY n DESC, repo LIMIT 3"
ex=$(K --explain "$q")
grep -q '^KILN EXEC: columnar' <<<"$ex" || fail "not columnar: $ex"
grep -q 'files: 1 read, 4 skipped by partition' <<<"$ex" || fail "no pruning: $ex"
grep -q 'QUERY PLAN' <<<"$ex" && fail "SQLite's plan printed for a columnar query: $ex"
[ "$(K --csv "$q")" = "$(KILN_EXEC=0 K --csv "$q")" ] || fail "results differ: $q"

# declined: the reason, then SQLite's plan
ex=$(K --explain "SELECT replace(sha, 'a', 'b'), count(*) FROM gh.c GROUP BY 1")
grep -q '^KILN EXEC: sqlite: function replace()' <<<"$ex" || fail "no decline reason: $ex"
grep -q 'QUERY PLAN' <<<"$ex" || fail "no SQLite plan after a decline: $ex"
ex=$(KILN_EXEC=0 K --explain "SELECT count(*) FROM gh.c")
grep -q '^KILN EXEC: sqlite: off (KILN_EXEC=0)' <<<"$ex" || fail "KILN_EXEC=0 not reported: $ex"

# expressions (CASE, LIKE prefix, arithmetic, ||, substr, CAST) and HAVING
# run columnar, with SQLite's results (integer division, x / 0 is NULL)
q="SELECT substr(ts, 1, 10) AS day, repo % 7 AS r7, count(*) AS n,
       sum(CASE WHEN sha LIKE 'A%' THEN 1 ELSE 0 END) AS a_shas,
       count(DISTINCT CASE WHEN adds > 10 THEN repo || ' ' || substr(sha, 1, 1) END) AS odd,
       sum(adds) / count(*) AS per_row, max(adds / 0), min(cast(adds AS REAL) / 4)
FROM gh.c WHERE sha NOT LIKE '0%' AND adds * 2 + 1 > 3
GROUP BY 1, 2 HAVING count(*) > 5 AND sum(adds) % 2 = 0 ORDER BY day, r7"
ex=$(K --explain "$q")
grep -q '^KILN EXEC: columnar' <<<"$ex" || fail "expressions not columnar: $ex"
a=$(K --csv "$q"); b=$(KILN_EXEC=0 K --csv "$q")
[ "$a" = "$b" ] || fail "expression results differ:"$'\n'"$a"$'\n'"vs"$'\n'"$b"
[ "$(echo "$a" | wc -l)" -gt 5 ] || fail "too few rows from the expression query: $a"

# WITH: each term over an Iceberg table runs here, SQLite joins the results
q="WITH d AS (SELECT repo, substr(ts, 1, 10) AS day, count(*) AS n, sum(adds) AS a FROM gh.c GROUP BY 1, 2),
w AS (SELECT repo, max(sha) AS m FROM gh.c GROUP BY repo), x AS (SELECT count(*) AS k FROM d)
SELECT d.repo, day, n, a, m, k FROM d JOIN w ON w.repo = d.repo, x ORDER BY n DESC, d.repo, day LIMIT 5"
ex=$(K --explain "$q")
grep -q '(WITH term 1; SQLite runs the rest)' <<<"$ex" || fail "WITH term 1 not columnar: $ex"
grep -q '(WITH term 2, also columnar:)' <<<"$ex" || fail "WITH term 2 not columnar: $ex"
a=$(K --csv "$q"); b=$(KILN_EXEC=0 K --csv "$q")
[ "$a" = "$b" ] || fail "WITH results differ:"$'\n'"$a"$'\n'"vs"$'\n'"$b"
[ "$(echo "$a" | wc -l)" -eq 6 ] || fail "WITH query rows: $a"

# a filter term (SELECT * [, expr AS name] FROM t WHERE ...) is inlined into
# what reads it: the statement's own SELECT runs here whole, and so does an
# aggregate term over it (the flagship models' "pushes" -> "daily" shape)
q="WITH p AS (SELECT *, date_trunc('week', ts) AS wk FROM gh.c WHERE adds IS NOT NULL)
SELECT wk, repo, count(*) AS n, sum(adds) FROM p WHERE repo < 5 GROUP BY wk, repo ORDER BY wk, repo"
ex=$(K --explain "$q")
grep -q 'read through WITH term p (its filter inlined)' <<<"$ex" || fail "filter term not inlined: $ex"
grep -q 'pushed: adds is not null and repo < 5' <<<"$ex" || fail "the term's filter not pushed: $ex"
a=$(K --csv "$q"); b=$(KILN_EXEC=0 K --csv "$q")
[ "$a" = "$b" ] || fail "inlined term results differ:"$'\n'"$a"$'\n'"vs"$'\n'"$b"
q="WITH p AS (SELECT * FROM gh.c WHERE adds > 3), daily AS (SELECT repo, substr(ts, 1, 10) AS day, count(*) AS n
FROM p GROUP BY 1, 2), latest AS (SELECT repo, sha, row_number() OVER (PARTITION BY repo ORDER BY ts DESC, sha) AS rn FROM p)
SELECT d.repo, d.day, d.n, l.sha FROM daily d JOIN latest l ON l.repo = d.repo AND l.rn = 1 ORDER BY 1, 2"
ex=$(K --explain "$q")
grep -q '(WITH term 2; SQLite runs the rest)' <<<"$ex" || fail "aggregate over a filter term not columnar: $ex"
a=$(K --csv "$q"); b=$(KILN_EXEC=0 K --csv "$q")
[ "$a" = "$b" ] || fail "term over a filter term differs"
[ "$(echo "$a" | wc -l)" -gt 200 ] || fail "term over a filter term: too few rows"

# an incremental run's filter: an uncorrelated scalar subquery runs once
# (SQLite) and is a literal here, pushed into pruning like one
q="WITH p AS (SELECT * FROM gh.c WHERE ts >= (SELECT coalesce(date(max(ts), '-1 days'), '0001-01-01') FROM gh.c WHERE repo = 3))
SELECT repo, count(*) AS n FROM p GROUP BY 1"
ex=$(K --explain "$q")
grep -q "pushed: ts >= '20" <<<"$ex" || fail "scalar subquery not a pushed literal: $ex"
[ "$(K --csv "$q")" = "$(KILN_EXEC=0 K --csv "$q")" ] || fail "scalar subquery results differ"

# a plain scan (no aggregate) runs here, rows in the scan's order
q="SELECT repo, sha, ts, adds * 2 AS a2 FROM gh.c WHERE repo = 3 AND adds > 20"
ex=$(K --explain "$q")
grep -q 'rows out (a plain scan)' <<<"$ex" || fail "plain scan not columnar: $ex"
a=$(K --csv "$q"); b=$(KILN_EXEC=0 K --csv "$q")
[ "$a" = "$b" ] || fail "plain scan differs"
[ "$(echo "$a" | wc -l)" -gt 50 ] || fail "plain scan: too few rows"
ex=$(KILN_EXEC_SCAN_ROWS=10 K --explain "$q")
grep -q 'sqlite: a plain scan of more than 10 rows' <<<"$ex" || fail "plain scan row cap not reported: $ex"
[ "$(KILN_EXEC_SCAN_ROWS=10 K --csv "$q")" = "$b" ] || fail "plain scan over the row cap differs"

# no Iceberg table: no line
ex=$(K --explain "SELECT 1 AS x")
grep -q 'KILN EXEC' <<<"$ex" && fail "KILN EXEC line for a query over no Iceberg table: $ex"
ex=$(K --explain "WITH a AS (SELECT 1 AS x) SELECT * FROM a")
grep -q 'KILN EXEC' <<<"$ex" && fail "KILN EXEC line for a WITH over no Iceberg table: $ex"

# the memory cap: declined with the reason, SQLite's rows
q="SELECT sha, count(*) AS n FROM gh.c GROUP BY sha ORDER BY sha LIMIT 5"
ex=$(KILN_EXEC_MEM_MB=1 K --explain "$q")
grep -q 'KILN EXEC: sqlite: the aggregation needs more than 1 MB' <<<"$ex" || fail "memory cap not reported: $ex"
[ "$(KILN_EXEC_MEM_MB=1 K --csv "$q")" = "$(KILN_EXEC=0 K --csv "$q")" ] || fail "memory-capped results differ"
K --explain "$q" | grep -q '^KILN EXEC: columnar' || fail "not columnar without the cap"

# every output format, both paths, same bytes
q="SELECT date_trunc('day', ts) AS day, count(*) AS n, avg(adds), min(sha), max(ts), count(DISTINCT adds) FROM gh.c GROUP BY 1"
for f in --table --box --csv --json; do
  a=$(K "$f" "$q"); b=$(KILN_EXEC=0 K "$f" "$q")
  [ "$a" = "$b" ] || fail "$f output differs:"$'\n'"$a"$'\n'"vs"$'\n'"$b"
done
K --explain "$q" | grep -q '^KILN EXEC: columnar' || fail "format query not columnar"
# an empty input still gives one aggregate row
[ "$(K --csv "SELECT count(*), sum(adds), max(sha) FROM gh.c WHERE repo > 1000")" = $'count(*),sum(adds),max(sha)\n0,,' ] ||
  fail "aggregate over no rows"

# CTAS and INSERT take their rows from the executor: the same table as
# from SQLite (types inferred alike, rows alike)
q="SELECT repo, date_trunc('day', ts) AS day, count(*) AS n, max(sha) AS top, avg(adds) AS a FROM gh.c GROUP BY 1, 2"
K "CREATE TABLE gh.agg_exec PARTITIONED BY (day(day)) AS $q" >/dev/null
KILN_EXEC=0 K "CREATE TABLE gh.agg_sqlite PARTITIONED BY (day(day)) AS $q" >/dev/null
K "INSERT INTO gh.agg_exec $q WHERE 1" >/dev/null 2>&1 && fail "a WHERE after GROUP BY was accepted"
K "INSERT INTO gh.agg_exec SELECT repo, date_trunc('day', ts) AS day, count(*) AS n, max(sha) AS top, avg(adds) AS a FROM gh.c WHERE repo < 3 GROUP BY 1, 2" >/dev/null
KILN_EXEC=0 K "INSERT INTO gh.agg_sqlite SELECT repo, date_trunc('day', ts) AS day, count(*) AS n, max(sha) AS top, avg(adds) AS a FROM gh.c WHERE repo < 3 GROUP BY 1, 2" >/dev/null
[ "$(K -c 'DESCRIBE gh.agg_exec')" = "$(K -c 'DESCRIBE gh.agg_sqlite')" ] || fail "CTAS column types differ"
a=$(KILN_EXEC=0 K --csv "SELECT * FROM gh.agg_exec ORDER BY repo, day, n")
b=$(KILN_EXEC=0 K --csv "SELECT * FROM gh.agg_sqlite ORDER BY repo, day, n")
[ "$a" = "$b" ] || fail "CTAS/INSERT rows differ"
[ "$(echo "$a" | wc -l)" -gt 250 ] || fail "CTAS wrote too few rows: $(echo "$a" | wc -l)"

# MERGE: its source query runs columnar (KILN_LOG=debug names the path of
# a write's source), SQLite joins it with the target; same table as SQLite's
m="MERGE INTO gh.m_%s t USING (SELECT repo, count(*) AS n, max(sha) AS top FROM gh.c WHERE adds > 25 GROUP BY 1) s
ON t.repo = s.repo WHEN MATCHED THEN UPDATE SET n = t.n + s.n WHEN NOT MATCHED THEN INSERT *"
for e in 1 0; do
  KILN_EXEC=$e K "CREATE TABLE gh.m_$e AS SELECT repo, count(*) AS n, max(sha) AS top FROM gh.c WHERE repo < 20 GROUP BY 1" >/dev/null
  # shellcheck disable=SC2059
  KILN_LOG=debug KILN_EXEC=$e K "$(printf "$m" "$e")" >"$tmp/merge$e.out" 2>&1 || fail "MERGE failed: $(cat "$tmp/merge$e.out")"
done
grep -q 'debug exec: columnar.*gh.c.*WITH term 1' "$tmp/merge1.out" || fail "MERGE source not columnar: $(cat "$tmp/merge1.out")"
[ "$(KILN_EXEC=0 K --csv 'SELECT * FROM gh.m_1 ORDER BY repo')" = "$(KILN_EXEC=0 K --csv 'SELECT * FROM gh.m_0 ORDER BY repo')" ] ||
  fail "MERGE with a columnar source differs"

# deletes: tables another engine wrote with equality deletes (the shared
# fixtures, as interop_register.sh registers them) give SQLite's answers
F="$ROOT/../shared/fixtures/iceberg/equality_deletes/warehouse/mydb"
[ -d "$F" ] || fail "fixtures not found at $F"
{
  for t in mytable mytable_partitioned; do
    "$KB" -w "$tmp/wh" table register "fx.$t" --metadata "$F/$t" --remap "data/persistent/=$ROOT/../shared/fixtures/iceberg/" >/dev/null
    for q in "SELECT count(*), count(DISTINCT name), min(bir), max(id), sum(id) FROM fx.$t" \
             "SELECT name, count(*) AS n FROM fx.$t WHERE id > 1 GROUP BY name ORDER BY name" \
             "SELECT date_trunc('month', bir) AS m, count(*) FROM fx.$t GROUP BY 1"; do
      K --explain "$q" | grep -q '^KILN EXEC: columnar' || fail "not columnar: $q"
      [ "$(K --csv "$q")" = "$(KILN_EXEC=0 K --csv "$q")" ] || fail "equality deletes: results differ: $q"
    done
  done
}

# SQLite's overflow error (two huge values in repo 7), on both paths (the
# executor declines: the sum may overflow in some row order)
set +e
b=$(K --csv "SELECT repo, sum(big) FROM gh.c GROUP BY repo" 2>&1); rb=$?
c=$(KILN_EXEC=0 K --csv "SELECT repo, sum(big) FROM gh.c GROUP BY repo" 2>&1); rc=$?
set -e
[ "$rb" = 1 ] && grep -q 'integer overflow' <<<"$b" || fail "no overflow error: [$rb] $b"
[ "$rb" = "$rc" ] && [ "$b" = "$c" ] || fail "overflow differs: [$rb] $b vs [$rc] $c"
echo "exec_explain: ok"
