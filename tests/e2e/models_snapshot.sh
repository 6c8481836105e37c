#!/usr/bin/env bash
# Snapshots (SCD type 2, tests/models/snap): the first build records every
# row as current, dbt_scd_id = md5(key|updated_at); after a row changes, one
# vanishes and one arrives, `kiln snapshot` closes the changed row at the
# new updated_at (timestamp strategy) and opens its new version, closes the
# vanished one (invalidate_hard_deletes), adds the new one; the check
# strategy versions on a changed check column and keeps vanished rows
# (hard deletes ignored); running again with unchanged data changes nothing.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/snap" "$tmp/p"; P="$tmp/p"
q() { "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "$1" | tail -n +2 | tr '\n' ' '; }

"$KILN_BIN" build --project-dir "$P" > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "build"; }
grep -q '^Done. PASS=4 WARN=0 ERROR=0 SKIP=0 TOTAL=4$' "$tmp/b1.txt" || fail "b1: $(tail -1 "$tmp/b1.txt")"
[ "$(q 'select count(*) from snapshots.repos_snapshot where dbt_valid_to is null')" = "3 " ] || fail "first snapshot"
want_scd="$(python3 -c "import hashlib;print(hashlib.md5(b'1|2025-10-01T00:00:00Z').hexdigest())")"
[ "$(q 'select dbt_scd_id from snapshots.repos_snapshot where id = 1')" = "$want_scd " ] || fail "dbt_scd_id"

printf 'id,name,language,updated_at\n1,kiln,Rust,2025-10-05T00:00:00Z\n2,duck,C++,2025-10-01T00:00:00Z\n4,new,Go,2025-10-06T00:00:00Z\n' > "$P/seeds/repos.csv"
"$KILN_BIN" seed --project-dir "$P" > /dev/null || fail "seed"
"$KILN_BIN" snapshot --project-dir "$P" > "$tmp/s2.txt" || { cat "$tmp/s2.txt"; fail "snapshot"; }
grep -q '^Done. PASS=2 WARN=0 ERROR=0 SKIP=0 TOTAL=2$' "$tmp/s2.txt" || fail "s2: $(tail -1 "$tmp/s2.txt")"
[ "$(q "select id, language, dbt_valid_from, coalesce(dbt_valid_to, '-') from snapshots.repos_snapshot where id != 3 order by id, dbt_valid_from")" = \
  "1,C,2025-10-01T00:00:00Z,2025-10-05T00:00:00Z 1,Rust,2025-10-05T00:00:00Z,- 2,C++,2025-10-01T00:00:00Z,- 4,Go,2025-10-06T00:00:00Z,- " ] \
  || fail "timestamp strategy: $(q 'select * from snapshots.repos_snapshot order by id, dbt_valid_from')"
[ "$(q 'select count(*) from snapshots.repos_snapshot where id = 3 and dbt_valid_to is not null')" = "1 " ] || fail "hard delete not invalidated"
[ "$(q "select id, language, dbt_valid_to is null from snapshots.repos_lang_history order by id, dbt_valid_from")" = \
  "1,C,0 1,Rust,1 2,C++,1 3,Perl,1 4,Go,1 " ] || fail "check strategy: $(q 'select * from snapshots.repos_lang_history')"
# the closed check row ends where its successor starts
[ "$(q "select count(*) from snapshots.repos_lang_history a join snapshots.repos_lang_history b on a.id = b.id and a.dbt_valid_to = b.dbt_valid_from")" = "1 " ] \
  || fail "check strategy: valid_to/valid_from do not chain"
"$KILN_BIN" snapshot --project-dir "$P" > /dev/null || fail "snapshot again"
[ "$(q 'select count(*) from snapshots.repos_snapshot')$(q 'select count(*) from snapshots.repos_lang_history')" = "5 5 " ] \
  || fail "an unchanged source added rows"
# the snapshot is a node like the others: a model reads its current rows
"$KILN_BIN" run --project-dir "$P" > /dev/null || fail "run"
[ "$(q 'select language, repos from raw.current_languages order by language')" = "C++,1 Go,1 Rust,1 " ] || fail "model over snapshot"
echo ok
