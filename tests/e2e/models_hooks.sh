#!/usr/bin/env bash
# Hooks (tests/models/hooks): on-run-start / on-run-end in dbt_project.yml
# (a string or a list; on-run-end sees `schemas`, here through a macro),
# pre-hook / post-hook from every level dbt reads them (dbt_project.yml
# folders with and without a list, a schema file's config: pre_hook, and
# config(post_hook=[...]) in the model), rendered late with `this`, run in
# dbt's order (project levels, then the schema file, then the model) around
# each seed and model. A post-hook that changes the model's own table is
# seen by its tests. A failing pre-hook fails its model (its table keeps
# its previous snapshot) and skips what is downstream; a failing
# on-run-start stops the command before any node, exit 1.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cp -r "$KILN_ROOT/tests/models/hooks" "$tmp/p"
P="$tmp/p"; W="$P/warehouse"
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { "$KILN_BIN" sql --warehouse "$W" --csv "$1" | tail -n +2 | tr '\n' ' '; }

"$KILN_BIN" build --project-dir "$P" > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "build"; }
grep -q '^Running 2 on-run-start hooks$' "$tmp/b1.txt" || fail "no on-run-start header: $(cat "$tmp/b1.txt")"
grep -q '^1 of 2 OK hook: hooked.on-run-start.0 \.\..* \[OK in ' "$tmp/b1.txt" || fail "hook line"
grep -q '^1 of 1 OK hook: hooked.on-run-end.0 ' "$tmp/b1.txt" || fail "on-run-end line"
grep -q 'Done. PASS=5 WARN=0 ERROR=0 SKIP=0 TOTAL=5' "$tmp/b1.txt" || fail "summary: $(cat "$tmp/b1.txt")"
got=$(q "select seq || ':' || event || ':' || relation from analytics_audit.run_log order by seq")
want="1:start:dev 2:seeded:analytics.raw_amounts 3:project pre:analytics.stg_amounts 4:project pre:analytics.big_amounts 5:yaml pre:big_amounts 6:marts post:big_amounts 7:model post:analytics.big_amounts 8:end:analytics "
[ "$got" = "$want" ] || fail "hook order: got [$got] want [$want]"
# the first post-hook of big_amounts added (103, 300) after the model's select
[ "$(q "select group_concat(id || '=' || amount, ';') from (select * from analytics.big_amounts order by id)")" = "1=10;2=20;3=30;103=300 " ] \
  || fail "post-hook did not change the table: $(q 'select * from analytics.big_amounts')"

# compile does not run hooks
"$KILN_BIN" compile --project-dir "$P" > /dev/null
[ "$(q 'select count(*) from analytics_audit.run_log')" = "8 " ] || fail "compile ran hooks"

# a failing pre-hook: the model is an ERROR, its table unchanged, its tests skipped
snap=$("$KILN_BIN" table --warehouse "$W" snapshots analytics.big_amounts 2>/dev/null | wc -l)
sed -i 's/pre_hook: "insert/pre_hook: "insert into no_such_schema.t select 1; insert/' "$P/models/marts/schema.yml"
r=0; "$KILN_BIN" build --project-dir "$P" > "$tmp/b2.txt" || r=$?
[ "$r" = 1 ] || fail "failing pre-hook: exit $r"
grep -q 'ERROR creating sql model analytics.big_amounts' "$tmp/b2.txt" || fail "no model error: $(cat "$tmp/b2.txt")"
grep -q 'pre-hook 2: .*no_such_schema' "$tmp/b2.txt" || fail "error does not name the hook: $(cat "$tmp/b2.txt")"
grep -q 'Done. PASS=2 WARN=0 ERROR=1 SKIP=2 TOTAL=5' "$tmp/b2.txt" || fail "summary 2: $(cat "$tmp/b2.txt")"
[ "$("$KILN_BIN" table --warehouse "$W" snapshots analytics.big_amounts 2>/dev/null | wc -l)" = "$snap" ] || fail "failed model changed its table"

# a failing on-run-start: nothing runs, exit 1
cp "$KILN_ROOT/tests/models/hooks/models/marts/schema.yml" "$P/models/marts/schema.yml"
before=$(q 'select count(*) from analytics_audit.run_log')
sed -i 's/^on-run-start:$/on-run-start:\n  - "select * from no_such_table_at_start"/' "$P/dbt_project.yml"
r=0; "$KILN_BIN" run --project-dir "$P" > "$tmp/b3.txt" 2> "$tmp/e3.txt" || r=$?
[ "$r" = 1 ] || fail "failing on-run-start: exit $r"
grep -q 'ERROR hook: hooked.on-run-start.0' "$tmp/b3.txt" || fail "no hook error line: $(cat "$tmp/b3.txt")"
grep -q 'no_such_table_at_start' "$tmp/b3.txt" || fail "hook error message"
grep -q '^2 of 3 SKIP hook: hooked.on-run-start.1 ' "$tmp/b3.txt" || fail "later hooks not skipped"
grep -q 'on-run-start: 1 hook failed; nothing was run' "$tmp/e3.txt" || fail "stderr: $(cat "$tmp/e3.txt")"
! grep -q 'created sql' "$tmp/b3.txt" || fail "models ran after a failed on-run-start"
[ "$(q 'select count(*) from analytics_audit.run_log')" = "$before" ] || fail "run_log changed"
echo "ok models_hooks"
