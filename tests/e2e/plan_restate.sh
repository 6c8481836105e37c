#!/usr/bin/env bash
# Restatements and forward-only changes (SQLMesh's, issue 19) on
# tests/models/modern_micro (a microbatch model by month over a seed):
#  - late data lands in January on main (the seed is reloaded); a plain
#    build would not revisit January (lookback 1). `kiln plan --env fix
#    --restate-model stg_events --start 2025-01-01 --end 2025-02-01`
#    plans stg_events and daily_amounts `restated` (the batches between --start and --end), the
#    apply rebuilds on branch `fix` exactly January (other months keep
#    their rows), main is untouched until `kiln promote fix`, which moves
#    main in one atomic catalog commit; restating stg_events restates its
#    downstream daily_amounts (its intervals) too;
#  - a changed column expression applied with --forward-only keeps the
#    history on the branch (January keeps its old amounts; without
#    --forward-only the same change rebuilds every interval);
#  - a restatement declared in the model's config (restatement: {start,
#    end}) restates it and its downstream once, when the change reaches the
#    environment; the next plan is clean; a bad one is exit 2;
#  - a new microbatch model applied on a branch has its batches there
#    only, and the promote publishes them;
#  - --start without --restate-model, an unknown model: exit 2 / 4.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/modern_micro" "$tmp/p"; P="$tmp/p"
K() { "$KILN_BIN" "$@" --project-dir "$P"; }
q() { "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "$1" | tail -n +2 | tr '\n' ' '; }
K build > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail build; }
jan() { q "select sum(amount) from analytics.\"daily_amounts$1\" where day < '2025-02'"; }
feb() { q "select sum(amount) from analytics.\"daily_amounts$1\" where day >= '2025-02'"; }
jan0=$(jan ""); feb0=$(feb "")
# late data: every January amount + 1000 (one row)
sed -i 's/^1,2025-01-01T00:15:00,42$/1,2025-01-01T00:15:00,1042/' "$P/seeds/raw_events.csv"
K seed > /dev/null || fail seed
K plan --env fix > "$tmp/p0.txt" || fail "plan"
grep -q '0 to rebuild' "$tmp/p0.txt" || { cat "$tmp/p0.txt"; fail "a plan without restatement rebuilds nothing"; }
K plan --env fix --restate-model stg_events --start 2025-01-01 --end 2025-02-01 --explain --apply > "$tmp/p1.txt" ||
  { cat "$tmp/p1.txt"; fail "restatement apply"; }
grep -q '^restated  *model.micro.daily_amounts  rebuild: restated: the batches between --start and --end' "$tmp/p1.txt" &&
  grep -q '^restated  *model.micro.stg_events  rebuild: restated: whole table' "$tmp/p1.txt" ||
  { cat "$tmp/p1.txt"; fail "plan lines"; }
grep -q 'why: restated (--restate-model)' "$tmp/p1.txt" || fail "explain"
[ "$(jan @fix)" = "$(( ${jan0% } + 1000 )) " ] || fail "January on the branch: $(jan @fix) (was $jan0)"
[ "$(feb @fix)" = "$feb0" ] || fail "other months on the branch changed: $(feb @fix) vs $feb0"
[ "$(jan "")" = "$jan0" ] || fail "main changed before the promote"
K promote fix > "$tmp/pr.txt" || { cat "$tmp/pr.txt"; fail promote; }
grep -q 'in one atomic catalog commit' "$tmp/pr.txt" || { cat "$tmp/pr.txt"; fail "atomic promote"; }
[ "$(jan "")" = "$(( ${jan0% } + 1000 )) " ] || fail "January on main after the promote"

# a restatement declared in the model's config: restated once, when the
# change reaches the environment; after the promote the plan is clean
sed -i 's/^1,2025-01-01T00:15:00,1042$/1,2025-01-01T00:15:00,2042/' "$P/seeds/raw_events.csv"
K seed > /dev/null || fail seed2
sed -i "s/{{ config(event_time='ts') }}/{{ config(event_time='ts', restatement={'start': '2025-01-01', 'end': '2025-02-01'}) }}/" "$P/models/stg_events.sql"
K plan --env cfg --explain --apply > "$tmp/c1.txt" || { cat "$tmp/c1.txt"; fail "config restatement apply"; }
grep -q '^restated  *model.micro.stg_events' "$tmp/c1.txt" && grep -q '^restated  *model.micro.daily_amounts  rebuild: restated: the batches between --start and --end' "$tmp/c1.txt" &&
  grep -q "why: restated (its config's restatement)" "$tmp/c1.txt" || { cat "$tmp/c1.txt"; fail "config restatement plan"; }
[ "$(jan @cfg)" = "$(( ${jan0% } + 2000 )) " ] && [ "$(feb @cfg)" = "$feb0" ] || fail "config restatement on the branch: $(jan @cfg) $(feb @cfg)"
K promote cfg > /dev/null || fail "promote cfg"
[ "$(jan "")" = "$(( ${jan0% } + 2000 )) " ] || fail "January on main after the config restatement"
K plan --env cfg2 > "$tmp/c2.txt"; grep -q '0 to rebuild' "$tmp/c2.txt" || { cat "$tmp/c2.txt"; fail "a restatement runs once"; }
sed -i "s/'start': '2025-01-01'/'start': '2025-01-01', 'when': 1/" "$P/models/stg_events.sql"
set +e; K plan > "$tmp/c3.txt" 2>&1; rc=$?; set -e
[ "$rc" = 2 ] && grep -q 'restatement takes start and end' "$tmp/c3.txt" || { cat "$tmp/c3.txt"; fail "a bad restatement: $rc"; }
sed -i "s/, 'when': 1//" "$P/models/stg_events.sql"
jan0=$(( ${jan0% } + 1000 ))

# forward-only: a changed expression keeps history on the branch
sed -i 's/sum(amount) as amount/sum(amount) * 2 as amount/' "$P/models/daily_amounts.sql"
K plan --env fo --forward-only --apply > "$tmp/f1.txt" || { cat "$tmp/f1.txt"; fail "forward-only apply"; }
grep -q 'changed-breaking  *model.micro.daily_amounts.*rebuild: forward-only: new intervals only, history kept' "$tmp/f1.txt" ||
  { cat "$tmp/f1.txt"; fail "forward-only plan line"; }
[ "$(jan @fo)" = "$(jan "")" ] || fail "forward-only rewrote January: $(jan @fo)"
K plan --env full --apply > "$tmp/f2.txt" || { cat "$tmp/f2.txt"; fail "full apply"; }
[ "$(jan @full)" = "$(( 2 * (${jan0% } + 1000) )) " ] || fail "a breaking change without --forward-only rebuilds January: $(jan @full)"

# a new microbatch model on a branch: its batches on the branch only (no
# main snapshot), recorded as done; the promote publishes them
sed 's/ as amount$/ as amount, 7 as k/; s/ as amount / as amount, 7 as k /' "$P/models/daily_amounts.sql" > "$P/models/daily2.sql"
K plan --env nm --apply > "$tmp/n1.txt" || { cat "$tmp/n1.txt"; fail "a new microbatch model on a branch"; }
[ "$(q 'select count(*) from analytics.daily2')" = "0 " ] || fail "the new microbatch model has rows on main"
nm=$(q 'select count(*), min(k) from analytics."daily2@nm"')
[ "$nm" = "$(q 'select count(*) from analytics.daily_amounts' | tr -d " "),7 " ] || fail "the new microbatch model on the branch: $nm"
K promote nm > /dev/null || fail "promote nm"
[ "$(q 'select count(*), min(k) from analytics.daily2')" = "$nm" ] || fail "the new microbatch model after the promote"
rm "$P/models/daily2.sql"

set +e; K plan --start 2025-01-01 > "$tmp/e1.txt" 2>&1; rc=$?; set -e
[ "$rc" = 2 ] && grep -q -- '--start/--end go with --restate-model' "$tmp/e1.txt" || { cat "$tmp/e1.txt"; fail "--start alone: $rc"; }
set +e; K plan --restate-model nosuch > "$tmp/e2.txt" 2>&1; rc=$?; set -e
[ "$rc" = 4 ] && grep -q -- '--restate-model nosuch: no such model' "$tmp/e2.txt" || { cat "$tmp/e2.txt"; fail "unknown model: $rc"; }
echo ok
