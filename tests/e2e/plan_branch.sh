#!/usr/bin/env bash
# kiln plan / plan --env ENV --apply / promote on tests/models/modern_unit:
#  - after a build, the plan is all unchanged; a comment or whitespace edit
#    changes nothing (no false positive);
#  - a new select item is changed-non-breaking; a changed column
#    expression is changed-breaking and exactly the models that read that
#    column (column lineage) are indirect-breaking, the others unchanged;
#  - a failing apply (a test fails on the branch) cannot be promoted;
#  - apply on branch dev writes only the affected tables, on branch dev
#    (main's snapshot ids unchanged, zero bytes written for unaffected
#    tables), tests run there; promote fast-forwards main on exactly those
#    tables, the others keep their snapshot ids; the plan is then clean;
#  - promote after main moved on is a conflict (exit 5), nothing changes;
#  - a new column and a new model applied on a branch leave main's columns,
#    rows and snapshots as they were; promote publishes both; so does a
#    forward-only change adding a column (history kept);
#  - builds on main finishing at once keep every record entry.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/modern_unit" "$tmp/p"; P="$tmp/p"; W="$P/warehouse"
K() { "$KILN_BIN" "$@" --project-dir "$P"; }
K build > "$tmp/b.txt" || { cat "$tmp/b.txt"; fail build; }
cls() { awk -v id="model.modern.$2" '$2 == id {print $1}' "$1"; }
K plan > "$tmp/p0.txt"
grep -q "0 to rebuild, 6 unchanged" "$tmp/p0.txt" || { cat "$tmp/p0.txt"; fail "plan after build"; }
printf '\n-- reviewed\n\n' >> "$P/models/stg_orders.sql"
sed -i 's/^from /from   /' "$P/models/customer_totals.sql"
K plan > "$tmp/p1.txt"
grep -q "0 to rebuild, 6 unchanged" "$tmp/p1.txt" || { cat "$tmp/p1.txt"; fail "whitespace/comment edits are not changes"; }
# non-breaking: a new column
cp "$P/models/customer_report.sql" "$tmp/report.sql"
sed -i 's/ as region$/ as region, 1 as version/' "$P/models/customer_report.sql"
K plan --explain > "$tmp/p2.txt"
[ "$(cls "$tmp/p2.txt" customer_report)" = changed-non-breaking ] || { cat "$tmp/p2.txt"; fail "new column: non-breaking"; }
grep -q "why: only adds column version" "$tmp/p2.txt" || { cat "$tmp/p2.txt"; fail "non-breaking reason"; }
grep -q "1 to rebuild, 5 unchanged" "$tmp/p2.txt" || { cat "$tmp/p2.txt"; fail "non-breaking rebuilds it only"; }
cp "$tmp/report.sql" "$P/models/customer_report.sql"

snaps() { for t in raw_orders stg_orders customer_totals orders_incr customer_dim customer_report; do
  printf '%s=%s ' "$t" "$("$KILN_BIN" table describe --warehouse "$W" "analytics.$t" | awk '$1 == "branch" && $2 == "'"${1:-main}"'" {print $3}')"; done; }
tree() { (cd "$W/analytics" && find "$@" -type f | sort | xargs -r sha256sum); }
main0=$(snaps)

# a fix that breaks a test on the branch: cannot be promoted
cp "$P/models/stg_orders.sql" "$tmp/stg.sql"
sed -i 's/select id as order_id,/select customer_id as order_id,/' "$P/models/stg_orders.sql"
set +e; K plan --env bad --apply > "$tmp/bad.txt"; rc=$?; set -e
[ "$rc" = 1 ] || { cat "$tmp/bad.txt"; fail "a failing apply must exit 1 ($rc)"; }
grep -q "FAIL 1 unique_stg_orders_order_id" "$tmp/bad.txt" || { cat "$tmp/bad.txt"; fail "the test did not run on the branch"; }
set +e; K promote bad > "$tmp/pb.txt" 2>&1; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "did not pass" "$tmp/pb.txt" || { cat "$tmp/pb.txt"; fail "promote of a failed env: $rc"; }
[ "$(snaps)" = "$main0" ] || fail "main moved: $(snaps) vs $main0"
cp "$tmp/stg.sql" "$P/models/stg_orders.sql"

# the real fix: updated_at's format; only orders_incr reads updated_at
sed -i "s/ updated_at$/ replace(updated_at, '-', '\/') as updated_at/" "$P/models/stg_orders.sql"
K plan --env dev --explain > "$tmp/p3.txt"
[ "$(cls "$tmp/p3.txt" stg_orders)" = changed-breaking ] || { cat "$tmp/p3.txt"; fail "stg_orders breaking"; }
grep -q "model.modern.stg_orders  \[columns: updated_at\]" "$tmp/p3.txt" || { cat "$tmp/p3.txt"; fail "changed column"; }
[ "$(cls "$tmp/p3.txt" orders_incr)" = indirect-breaking ] || { cat "$tmp/p3.txt"; fail "orders_incr reads updated_at"; }
grep -q "why: updated_at <- stg_orders.updated_at (changed)" "$tmp/p3.txt" || { cat "$tmp/p3.txt"; fail "lineage reason"; }
for m in customer_totals customer_dim customer_report; do
  [ "$(cls "$tmp/p3.txt" $m)" = unchanged ] || { cat "$tmp/p3.txt"; fail "$m does not read updated_at"; }
done
before_unaffected=$(tree customer_totals customer_dim customer_report raw_orders)
K plan --env dev --apply > "$tmp/a.txt" || { cat "$tmp/a.txt"; fail "apply"; }
grep -q "kiln build -s 'stg_orders orders_incr'" "$tmp/a.txt" || { cat "$tmp/a.txt"; fail "rebuild set"; }
grep -q "PASS unique_stg_orders_order_id" "$tmp/a.txt" || { cat "$tmp/a.txt"; fail "tests on the branch"; }
[ "$(snaps)" = "$main0" ] || fail "apply on dev moved main"
[ "$(tree customer_totals customer_dim customer_report raw_orders)" = "$before_unaffected" ] ||
  fail "bytes were written for unaffected tables"
dev=$(snaps dev)
case "$dev" in *"raw_orders= "*"customer_totals= "*"customer_dim= customer_report= "*) ;; *) fail "dev branch on unaffected tables: $dev";; esac
q() { "$KILN_BIN" sql --warehouse "$W" --csv "$1" | tail -n +2 | tr '\n' ' '; }
[ "$(q 'select distinct updated_at from analytics."orders_incr@dev" order by 1')" = "2025/01/01 2025/01/02 2025/01/03 " ] ||
  fail "dev rows: $(q 'select * from analytics."orders_incr@dev"')"
[ "$(q 'select distinct updated_at from analytics.orders_incr order by 1')" = "2025-01-01 2025-01-02 2025-01-03 " ] || fail "main rows changed"
K plan --env dev > "$tmp/p4.txt"; grep -q "0 to rebuild" "$tmp/p4.txt" || { cat "$tmp/p4.txt"; fail "dev not clean after apply"; }
K promote dev > "$tmp/pr.txt" || { cat "$tmp/pr.txt"; fail promote; }
grep -q "Promoted environment 'dev': 2 tables fast-forwarded" "$tmp/pr.txt" || { cat "$tmp/pr.txt"; fail "promote output"; }
main1=$(snaps)
for t in raw_orders customer_totals customer_dim customer_report; do
  [ "$(echo "$main1" | tr ' ' '\n' | grep "^$t=")" = "$(echo "$main0" | tr ' ' '\n' | grep "^$t=")" ] || fail "$t's snapshot changed"
done
for t in stg_orders orders_incr; do
  [ "$(echo "$main1" | tr ' ' '\n' | grep "^$t=" | cut -d= -f2)" = "$(echo "$dev" | tr ' ' '\n' | grep "^$t=" | cut -d= -f2)" ] || fail "$t not promoted"
done
[ "$(q 'select distinct updated_at from analytics.orders_incr order by 1')" = "2025/01/01 2025/01/02 2025/01/03 " ] || fail "main after promote"
K plan > "$tmp/p5.txt"; grep -q "0 to rebuild, 6 unchanged" "$tmp/p5.txt" || { cat "$tmp/p5.txt"; fail "main not clean after promote"; }

# promote after main moved on: a conflict, nothing changes
sed -i "s/replace(updated_at, '-', '\/')/replace(updated_at, '-', '.')/" "$P/models/stg_orders.sql"
K plan --env dev2 --apply > "$tmp/a2.txt" || { cat "$tmp/a2.txt"; fail "apply dev2"; }
K run -s stg_orders > /dev/null
main2=$(snaps)
set +e; K promote dev2 > "$tmp/pc.txt" 2>&1; rc=$?; set -e
[ "$rc" = 5 ] && grep -q "main moved on" "$tmp/pc.txt" || { cat "$tmp/pc.txt"; fail "conflict: exit $rc"; }
[ "$(snaps)" = "$main2" ] || fail "a refused promote changed main"
set +e; K promote nosuch > /dev/null 2>&1; rc=$?; set -e; [ "$rc" = 4 ] || fail "unknown env: exit $rc"

# a new column and a new model on a branch: main's readers see what they saw
# (same columns, same rows, same snapshots; the new table has no main
# snapshot) until promote publishes both in one commit
sed -i 's/ as region$/ as region, 1 as version/' "$P/models/customer_report.sql"
printf "select customer_id, weighted, version from {{ ref('customer_report') }} where weighted > 50\n" > "$P/models/big_customers.sql"
main3=$(snaps); cols0=$(q 'select * from analytics.customer_report order by 1')
hdr() { "$KILN_BIN" sql --warehouse "$W" --csv "select * from $1 limit 1" | head -1; }
before_unaffected=$(tree customer_totals customer_dim raw_orders stg_orders orders_incr)
K plan --env feat --apply > "$tmp/a3.txt" || { cat "$tmp/a3.txt"; fail "apply a new model and a new column on a branch"; }
grep -q "changed-non-breaking   model.modern.customer_report" "$tmp/a3.txt" && grep -q "^new  *model.modern.big_customers" "$tmp/a3.txt" ||
  { cat "$tmp/a3.txt"; fail "plan of a new column and a new model"; }
[ "$(snaps)" = "$main3" ] || fail "apply on feat moved main"
[ "$(hdr analytics.customer_report)" = "customer_id,weighted,region" ] || fail "main's columns changed: $(hdr analytics.customer_report)"
[ "$(q 'select * from analytics.customer_report order by 1')" = "$cols0" ] || fail "main's rows changed"
[ "$(q 'select count(*) from analytics.big_customers')" = "0 " ] || fail "the new table has rows on main"
[ "$(hdr 'analytics."customer_report@feat"')" = "customer_id,weighted,region,version" ] || fail "feat's columns"
[ "$(q 'select customer_id, version from analytics."big_customers@feat" order by 1')" = "10,1 20,1 " ] ||
  fail "feat's new table: $(q 'select * from analytics."big_customers@feat"')"
[ "$(tree customer_totals customer_dim raw_orders stg_orders orders_incr)" = "$before_unaffected" ] ||
  fail "bytes were written for unaffected tables"
! ls "$W/analytics" | grep -q _kiln_env || fail "a staging table was left behind"
K promote feat > "$tmp/pf.txt" || { cat "$tmp/pf.txt"; fail "promote feat"; }
grep -q "(2 tables in one atomic catalog commit)" "$tmp/pf.txt" || { cat "$tmp/pf.txt"; fail "promote feat output"; }
[ "$(hdr analytics.customer_report)" = "customer_id,weighted,region,version" ] || fail "main's columns after promote"
[ "$(q 'select customer_id, version from analytics.big_customers order by 1')" = "10,1 20,1 " ] || fail "main's new table after promote"
K plan > "$tmp/p6.txt"; grep -q "0 to rebuild, 7 unchanged" "$tmp/p6.txt" || { cat "$tmp/p6.txt"; fail "main not clean after promote feat"; }
# builds on main finishing at once each keep their entries in main's record
for i in 1 2 3; do echo "select $i as x" > "$P/models/cc_$i.sql"; done
for i in 1 2 3; do K run -s "cc_$i" > /dev/null & done; wait
K plan > "$tmp/p7.txt"; grep -q "0 to rebuild, 10 unchanged" "$tmp/p7.txt" || { cat "$tmp/p7.txt"; fail "concurrent builds lost record entries"; }
# forward-only with a new column (on_schema_change): the column is staged on
# the branch, history kept (NULL there), main's columns unchanged until promote
sed -i "s/incremental_strategy='merge')/incremental_strategy='merge', on_schema_change='append_new_columns')/; s/updated_at$/updated_at, 1 as version/" "$P/models/orders_incr.sql"
n0=$(q 'select count(*) from analytics.orders_incr')
K plan --env fo --forward-only --apply > "$tmp/a4.txt" || { cat "$tmp/a4.txt"; fail "forward-only apply with a new column"; }
[ "$(hdr analytics.orders_incr)" = "order_id,customer_id,amount,status,updated_at" ] || fail "forward-only: main's columns changed"
[ "$(hdr 'analytics."orders_incr@fo"')" = "order_id,customer_id,amount,status,updated_at,version" ] || fail "forward-only: the branch's columns"
[ "$(q 'select count(*) from analytics."orders_incr@fo" where version is null')" = "$n0" ] || fail "forward-only: history rewritten"
K promote fo > /dev/null || fail "promote fo"
[ "$(hdr analytics.orders_incr)" = "order_id,customer_id,amount,status,updated_at,version" ] || fail "forward-only: main after promote"
# a new model with no rows (nothing to commit) and one reading it
printf "select customer_id from {{ ref('customer_report') }} where 1 = 0\n" > "$P/models/empty_one.sql"
printf "select count(*) as n from {{ ref('empty_one') }}\n" > "$P/models/empty_count.sql"
K plan --env em --apply > "$tmp/a5.txt" || { cat "$tmp/a5.txt"; fail "apply of a new model with no rows"; }
[ "$(q 'select n from analytics."empty_count@em"')" = "0 " ] || fail "a new model reading an empty new model"
K promote em > /dev/null || fail "promote em"
[ "$(q 'select count(*) from analytics.empty_one')" = "0 " ] && [ "$(q 'select n from analytics.empty_count')" = "0 " ] || fail "em after promote"
echo "plan_branch: ok"
