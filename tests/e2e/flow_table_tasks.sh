#!/usr/bin/env bash
# table.fast_forward and table.expire task types: the lake's calls in the
# task's process (no program started): main moves to the branch's head, old
# snapshots expire, the materialization is recorded, a re-run is skipped by
# its key, bad settings fail validation.
source "$(dirname "$0")/flow_lib.bash"
W="$P/warehouse"
"$KILN_BIN" sql --warehouse "$W" -c "create table s.t (x bigint); insert into s.t values (1)" >/dev/null
"$KILN_BIN" sql --warehouse "$W" -c "insert into s.\"t@audit\" values (2)" >/dev/null
head() { "$KILN_BIN" table --warehouse "$W" branch s.t | awk -v r="$1" '$1 == r {print $2}'; }
nsnap() { "$KILN_BIN" table --warehouse "$W" snapshots s.t --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(len(d if isinstance(d, list) else d[\"snapshots\"]))"; }
B="$(head audit)"
[ -n "$B" ] && [ "$B" != "$(head main)" ] || fail "setup: branch audit"
want "$(nsnap)" 2 "snapshots before"
cat > "$P/dags/pub.yml" <<'YML'
tasks:
  publish: {type: table.fast_forward, table: s.t, from: audit}
  tidy: {type: table.expire, table: s.t, older_than: 0s, retain_last: 1, needs: [publish]}
YML
expect_rc 0 K dags run pub --date 2025-01-01
want "$(head main)" "$B" "main fast-forwarded to audit"
want "$("$KILN_BIN" sql --warehouse "$W" --csv "select group_concat(x, '-') from (select x from s.t order by x)" | tail -1)" "1-2" "main's rows"
want "$(nsnap)" 1 "snapshots after expire"
L="$P/.kiln/logs/pub/2025-01-01T00:00:00Z/tidy.try-1.log"
grep -q "kiln: table.expire (in-process; the same as: kiln table --warehouse warehouse expire s.t --older-than 0s --retain-last 1)" "$L" || fail "log: $(cat "$L")"
grep -q "table.expire: s.t: 1 snapshot(s) expired" "$L" || fail "expire log: $(cat "$L")"
want "$(sqlite3 "$P/.kiln/flow.db" "select asset || ' ' || snapshot_id from asset_materialization where task='publish'")" "s.t $B" "materialization"
# a re-run: both skipped by their keys
expect_rc 0 K dags run pub --date 2025-01-01
want "$(sqlite3 "$P/.kiln/flow.db" "select count(*) from task_try where dag='pub'")" 2 "no new tries"
# a fast-forward that cannot be made (main is not an ancestor): the task fails with the lake's error
"$KILN_BIN" sql --warehouse "$W" -c "insert into s.\"t@other\" values (3)" >/dev/null
"$KILN_BIN" sql --warehouse "$W" -c "insert into s.t values (4)" >/dev/null
cat > "$P/dags/bad_ff.yml" <<'YML'
tasks:
  publish: {type: table.fast_forward, table: s.t, from: other}
YML
expect_rc 1 K dags run bad_ff --date 2025-01-01
grep -q "kiln: error table.fast_forward" "$P/.kiln/logs/bad_ff/2025-01-01T00:00:00Z/publish.try-1.log" ||
  fail "conflict log: $(cat "$P/.kiln/logs/bad_ff/2025-01-01T00:00:00Z/publish.try-1.log")"
# validation
cat > "$P/dags/bad.yml" <<'YML'
tasks:
  a: {type: table.fast_forward, table: s.t}
  b: {type: table.expire, older_than: soon}
YML
expect_rc 3 K dags validate
grep -q "bad.yml:2:.*table.fast_forward needs from:" <<<"$OUT" || fail "validate from: $OUT"
grep -q "bad.yml:3:.*table.expire needs table:" <<<"$OUT" || fail "validate table: $OUT"
grep -q "bad.yml:3:.*older_than: 'soon' is not a duration" <<<"$OUT" || fail "validate older_than: $OUT"
echo "flow_table_tasks: ok"
