#!/usr/bin/env bash
# maint_expire.sh - `kiln table expire` deletes the data files a compaction
# replaced once no retained snapshot reads them (their DELETED entries in
# newer manifests do not keep them), and keeps every file a retained
# snapshot still reads: the rows stay identical.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "maint_expire.sh: FAIL: $*" >&2; exit 1; }
W=$tmp/wh
k() { "$KILN_BIN" table --warehouse "$W" "$@"; }
parquet_count() { find "$W" -name '*.parquet' -path '*/data/*' | wc -l; }

k create db.t --schema 'id long not null, s string' >/dev/null
for i in 1 2 3 4 5 6; do
  printf '{"id":%d,"s":"a"}\n{"id":%d,"s":"b"}\n' "$i" "$((i + 100))" | k append db.t --input - >/dev/null
done
k scan db.t --format ndjson | sort >"$tmp/before.txt"
[ "$(parquet_count)" -eq 6 ] || fail "6 appends: $(parquet_count) data files"
k rewrite-data-files db.t --rewrite-all >/dev/null
[ "$(parquet_count)" -eq 7 ] || fail "after compaction: $(parquet_count) data files, want 7 (6 old + 1 new)"
# the retained snapshots before the compaction still read the old files: kept
k expire db.t --older-than 2999-01-01 --retain-last 3 >/dev/null
[ "$(parquet_count)" -eq 7 ] || fail "expire keeping readers of the old files deleted some: $(parquet_count)"
# only the compacted snapshot left: the six replaced files go
k expire db.t --older-than 2999-01-01 --retain-last 1 >/dev/null
[ "$(parquet_count)" -eq 1 ] || fail "expire after compaction left $(parquet_count) data files, want 1"
k scan db.t --format ndjson | sort >"$tmp/after.txt"
cmp -s "$tmp/before.txt" "$tmp/after.txt" || fail "rows changed"
echo "maint_expire: ok"
