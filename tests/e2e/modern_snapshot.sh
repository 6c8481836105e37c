#!/usr/bin/env bash
# dbt 1.9 snapshot options (issue 19) on tests/models/modern_snap (YAML
# snapshots over a seed):
#  - snapshot_meta_column_names: the table's meta columns carry the custom
#    names (start_at, end_at, scd, upd, is_deleted), the default ones absent;
#  - dbt_valid_to_current: current rows end at '9999-12-31' (not NULL), the
#    column stays a string so closed rows keep their full timestamps;
#  - hard_deletes: new_record: a key that leaves the source gets its current
#    row closed and a deletion record (is_deleted 'True', current); running
#    again adds nothing; when the key comes back, the deletion record is
#    closed and a live row opens; the check strategy does the same with the
#    default names (dbt_is_deleted);
#  - hard_deletes with another value is an error naming the snapshot.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/modern_snap" "$tmp/p"; P="$tmp/p"
q() { "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "$1" | tail -n +2 | tr '\n' ' '; }
seed() { printf 'id,name,language,updated_at\n%s' "$1" > "$P/seeds/repos.csv"; "$KILN_BIN" seed --project-dir "$P" > /dev/null || fail "seed"; }

"$KILN_BIN" build --project-dir "$P" > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "build"; }
grep -q '^Done. PASS=3 WARN=0 ERROR=0 SKIP=0 TOTAL=3$' "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "b1"; }
"$KILN_BIN" table describe --warehouse "$P/warehouse" snapshots.repos_history > "$tmp/d.txt"
for c in start_at end_at scd upd is_deleted; do grep -q " $c  *string$" "$tmp/d.txt" || { cat "$tmp/d.txt"; fail "column $c"; }; done
grep -q 'dbt_' "$tmp/d.txt" && fail "a default meta column name is left"
[ "$(q "select id, end_at, is_deleted from snapshots.repos_history order by id")" = "1,9999-12-31,False 2,9999-12-31,False 3,9999-12-31,False " ] ||
  fail "first snapshot: $(q 'select * from snapshots.repos_history')"

# 1 changes, 3 is deleted, 4 arrives
seed $'1,kiln,Rust,2025-10-05T00:00:00Z\n2,duck,C++,2025-10-01T00:00:00Z\n4,new,Go,2025-10-06T00:00:00Z\n'
"$KILN_BIN" snapshot --project-dir "$P" > "$tmp/s2.txt" || { cat "$tmp/s2.txt"; fail "snapshot"; }
[ "$(q "select id, language, start_at, end_at, is_deleted from snapshots.repos_history where id != 3 order by id, start_at")" = \
  "1,C,2025-10-01T00:00:00Z,2025-10-05T00:00:00Z,False 1,Rust,2025-10-05T00:00:00Z,9999-12-31,False 2,C++,2025-10-01T00:00:00Z,9999-12-31,False 4,Go,2025-10-06T00:00:00Z,9999-12-31,False " ] ||
  fail "timestamp versions: $(q 'select * from snapshots.repos_history order by id, start_at')"
# the deleted key: its row closed when the deletion record opens, which is current and marked
[ "$(q "select a.is_deleted, b.is_deleted, b.end_at, a.end_at = b.start_at, b.language from snapshots.repos_history a join snapshots.repos_history b on a.id = b.id and a.start_at < b.start_at where a.id = 3")" = \
  "False,True,9999-12-31,1,Perl " ] || fail "deletion record: $(q 'select * from snapshots.repos_history where id = 3')"
[ "$(q "select id, dbt_valid_to is null, dbt_is_deleted from snapshots.repos_lang order by id, dbt_valid_from")" = \
  "1,0,False 1,1,False 2,1,False 3,0,False 3,1,True 4,1,False " ] || fail "check strategy: $(q 'select * from snapshots.repos_lang')"
"$KILN_BIN" snapshot --project-dir "$P" > /dev/null || fail "snapshot again"
[ "$(q 'select count(*) from snapshots.repos_history')$(q 'select count(*) from snapshots.repos_lang')" = "6 6 " ] ||
  fail "an unchanged source added rows (a second deletion record?)"

# 3 comes back: the deletion record closes, a live row opens
seed $'1,kiln,Rust,2025-10-05T00:00:00Z\n2,duck,C++,2025-10-01T00:00:00Z\n3,old,Perl,2025-10-07T00:00:00Z\n4,new,Go,2025-10-06T00:00:00Z\n'
"$KILN_BIN" snapshot --project-dir "$P" > /dev/null || fail "snapshot after the return"
[ "$(q "select is_deleted, end_at = '9999-12-31' from snapshots.repos_history where id = 3 order by is_deleted, start_at")" = "False,0 False,1 True,0 " ] ||
  fail "return: $(q 'select * from snapshots.repos_history where id = 3')"
[ "$(q "select count(*) from snapshots.repos_history where end_at = '9999-12-31'")" = "4 " ] || fail "current rows after the return"
[ "$(q "select count(*) from snapshots.repos_lang where dbt_valid_to is null and dbt_is_deleted = 'False'")" = "4 " ] || fail "check strategy return"

sed -i 's/hard_deletes: new_record/hard_deletes: remove/' "$P/snapshots/snapshots.yml"
set +e; "$KILN_BIN" snapshot --project-dir "$P" > "$tmp/e.txt" 2>&1; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "snapshot repos_history: hard_deletes must be ignore, invalidate or new_record (not remove)" "$tmp/e.txt" ||
  { cat "$tmp/e.txt"; fail "bad hard_deletes: $rc"; }
echo ok
