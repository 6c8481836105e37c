#!/usr/bin/env bash
# store_ranged.sh - scans of an s3:// warehouse read Parquet data files in
# place by ranged GETs (docs/store.md "Ranged Parquet reads"), against the
# loopback S3 test server (@20minutes/s3rver, its request log counted):
# - a table of several row groups and columns (write.parquet.row-group-size-bytes);
#   a scan projecting one column with a filter that prunes row groups
#   fetches far fewer bytes than the file holds: one GET of the tail (footer),
#   one of the head magic, one per column chunk read; never a whole-file GET;
# - its rows equal the same scan of the same rows in a local warehouse, and
#   a full scan equals it too;
# - every GET after the first is pinned to the file's ETag (If-Match); a
#   file replaced while a scan reads it fails the scan (exit 5, "changed
#   while it was read"), no rows of the other version mixed in silently.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
. "$KILN_ROOT/tests/e2e/s3_lib.bash"
tmp="$(mktemp -d)"
scan_pid=""
cleanup() {
  if [ -n "$scan_pid" ]; then kill "$scan_pid" 2>/dev/null || true; wait "$scan_pid" 2>/dev/null || true; fi
  s3_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# 3 row groups need more than 2 x 81920 rows (the writer checks the size every 81920 rows)
N=170000

log="$tmp/requests.log"
S3_LOG="$log" s3_start "$tmp/s3" kiln-wh
export KILN_CATALOG_DIR="$tmp/catalogs" TMPDIR="$tmp/tmpdir"
mkdir -p "$TMPDIR"
K="$KILN_BIN"
W=s3://kiln-wh/rg
L="$tmp/local"

# --- the same rows in an S3 and a local warehouse, small row groups
awk -v n="$N" 'BEGIN { srand(7); for (i = 0; i < n; i++)
  printf "{\"id\":%d,\"k\":%d,\"name\":\"n%d\",\"pad\":\"x%09d\"}\n", i, int(i / 1000), i % 97, int(rand() * 1e9) }' \
  > "$tmp/rows.ndjson"
for wh in "$W" "$L"; do
  "$K" table create -w "$wh" t.ev --schema 'id long not null, k long, name string, pad string' \
    --property write.parquet.row-group-size-bytes=300000 > /dev/null
  "$K" table append -w "$wh" t.ev --input "$tmp/rows.ndjson" > /dev/null
done
"$K" table files -w "$W" t.ev | awk -F'\t' '$1 == "data"' > "$tmp/files"
[ "$(wc -l < "$tmp/files")" = 1 ] || fail "one data file expected: $(cat "$tmp/files")"
size=$(cut -f3 "$tmp/files")
path=$(cut -f5 "$tmp/files")
key=${path#s3://}
obj="$tmp/s3/$key._S3rver_object"
[ -f "$obj" ] && [ "$(stat -c %s "$obj")" = "$size" ] || fail "data file $path ($size bytes) not on the server"
nrg=$("$K" parquet meta "$obj" | sed -n 's/^num_row_groups: //p')
[ "$nrg" -ge 3 ] || fail "only $nrg row groups"

# GETs of the data file in the log since line $1: "count bytes whole", whole =
# GETs without a range
data_gets() {
  tail -n +"$1" "$log" | awk -v k="/$key" '$1 == "GET" && $3 == k {
      n++; if (match($0, /range=bytes=[0-9]+-[0-9]+/)) { split(substr($0, RSTART + 12, RLENGTH - 12), a, "-"); b += a[2] - a[1] + 1 } else w++ }
    END { printf "%d %d %d\n", n, b, w }'
}

# --- one column, a filter that prunes all row groups but the last
q=(--columns name --where "id >= $((N - 1000))" --format csv)
from=$(($(wc -l < "$log") + 1))
"$K" table scan -w "$W" t.ev "${q[@]}" > "$tmp/s3.csv"
"$K" table scan -w "$L" t.ev "${q[@]}" > "$tmp/local.csv"
[ "$(wc -l < "$tmp/s3.csv")" = 1001 ] || fail "rows: $(wc -l < "$tmp/s3.csv")"
cmp -s "$tmp/s3.csv" "$tmp/local.csv" || fail "S3 scan differs from the local scan"
read -r nget bytes whole <<< "$(data_gets "$from")"
echo "projected+filtered scan: $nget GETs, $bytes of $size bytes ($nrg row groups)"
[ "$whole" = 0 ] || fail "$whole whole-object GETs of the data file"
# the tail (footer), the head magic, the last row group's id and name chunks
[ "$nget" -le 4 ] || fail "$nget GETs for one column of one row group"
[ $((bytes * 5)) -lt "$size" ] || fail "$bytes bytes fetched of a $size-byte file"
grep -q " /$key range=bytes=[0-9]*-[0-9]* if-match=" "$log" || fail "ranged GETs not pinned with If-Match"

# --- a full scan: every chunk once, the rows of the local scan
from=$(($(wc -l < "$log") + 1))
"$K" table scan -w "$W" t.ev --format csv > "$tmp/s3all.csv"
"$K" table scan -w "$L" t.ev --format csv > "$tmp/localall.csv"
cmp -s "$tmp/s3all.csv" "$tmp/localall.csv" || fail "full S3 scan differs from the local scan"
[ "$(wc -l < "$tmp/s3all.csv")" = $((N + 1)) ] || fail "full scan rows"
read -r nget bytes whole <<< "$(data_gets "$from")"
echo "full scan: $nget GETs, $bytes of $size bytes"
[ "$whole" = 0 ] && [ "$nget" -le $((2 + 4 * nrg)) ] || fail "full scan: $nget GETs ($whole whole)"
[ "$bytes" -le $((size + 65536 + 4)) ] || fail "full scan fetched $bytes bytes of $size"

# --- the file replaced while a scan reads it: the scan stops, naming it.
# The scan writes into a pipe nobody reads yet, so it blocks after the
# first row group; the object is replaced then, and the next chunk GET
# finds another ETag.
mkfifo "$tmp/pipe"
from=$(($(wc -l < "$log") + 1))
"$K" table scan -w "$W" t.ev --format csv > "$tmp/pipe" 2> "$tmp/err" &
scan_pid=$!
exec 3< "$tmp/pipe"
for _ in $(seq 100); do
  [ "$(data_gets "$from" | cut -d' ' -f1)" -ge 3 ] && break
  sleep 0.05
done
cp "$obj" "$tmp/other.parquet"
printf 'another version' >> "$tmp/other.parquet"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$tmp/other.parquet" \
  --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
  "$S3_ENDPOINT/$key")
[ "$code" = 200 ] || fail "replacing the object answered $code"
rows=$(cat <&3 | wc -l)
exec 3<&-
rc=0
wait "$scan_pid" || rc=$?
scan_pid=""
[ "$rc" = 5 ] || fail "scan of a replaced file exited $rc: $(cat "$tmp/err")"
grep -q "s3://$key: the object changed while it was read" "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$rows" -lt "$N" ] || fail "all $rows rows came from a replaced file"
echo "store_ranged: ok"
