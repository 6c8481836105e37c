#!/usr/bin/env bash
# Storage faults under a warehouse (docs/faults.md), each a clear error
# (non-zero exit, never a crash, the cause named), the last committed
# snapshot intact, and a retry that works once the cause is gone:
#  1. disk full: the warehouse on a 1 MB tmpfs (as root; otherwise a file
#     size limit, ulimit -f, with SIGXFSZ ignored: EFBIG); an append of
#     rows that do not fit fails naming ENOSPC/EFBIG, the table reads as
#     before; the tmpfs grown (remount), the same append succeeds;
#  2. read-only warehouse (a read-only bind mount as root, else chmod):
#     reads work, a commit fails naming the read-only file system;
#  3. a file truncated under a reader: a data file, a manifest, the current
#     metadata JSON each cut in half; reading is an error naming the file
#     (no crash, no partial rows printed as a success); the file put back,
#     the table reads as before (kiln wrote nothing while it was damaged).
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
T="$(mktemp -d)"
MNT=()
cleanup() {
  local m
  for m in "${MNT[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  chmod -R u+w "$T" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
K() { "$KILN_BIN" "$@"; }
CASES=0
# expect_err WHAT PATTERN cmd...: non-zero (below 128: no crash), PATTERN in stderr
expect_err() {
  local what="$1" pat="$2" rc
  shift 2
  set +e
  "$@" >"$T/out" 2>"$T/err"
  rc=$?
  set -e
  [ "$rc" -ne 0 ] || fail "$what: exit 0"
  [ "$rc" -lt 128 ] || { cat "$T/err" >&2; fail "$what: died with signal $((rc - 128))"; }
  grep -qiE "$pat" "$T/err" || fail "$what: stderr does not name the cause ($pat): $(cat "$T/err")"
  CASES=$((CASES + 1))
}
rows() { K table --warehouse "$1" scan f.t --format csv | sort | md5sum; }
# N rows of incompressible text: ~3.2 MB for N=8000
bigrows() { python3 -c "
import os, sys
for i in range(int(sys.argv[1])): print('{\"id\": %d, \"s\": \"%s\"}' % (i + 1000, os.urandom(200).hex()))" "$1"; }
printf '{"id": 1, "s": "a"}\n{"id": 2, "s": "b"}\n' >"$T/small.ndjson"
bigrows 8000 >"$T/big.ndjson"

# --- 1. disk full
W="$T/full"
mkdir -p "$W"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1m tmpfs "$W" 2>/dev/null; then
  MNT+=("$W")
  mode=tmpfs
else
  mode=ulimit
fi
K table --warehouse "$W" create f.t --schema "id long not null, s string" >/dev/null
K table --warehouse "$W" append f.t --input "$T/small.ndjson" >/dev/null
before="$(rows "$W")"
if [ "$mode" = tmpfs ]; then
  expect_err "disk full" "no space left|ENOSPC" K table --warehouse "$W" append f.t --input "$T/big.ndjson"
  [ "$(rows "$W")" = "$before" ] || fail "disk full: the table changed"
  mount -o remount,size=16m "$W"
  K table --warehouse "$W" append f.t --input "$T/big.ndjson" >/dev/null || fail "append after the disk was grown"
else
  # ignored SIGXFSZ is inherited: writes past the limit fail with EFBIG
  expect_err "file size limit" "file too large|EFBIG" bash -c 'trap "" XFSZ; ulimit -f 400; exec "$@"' _ \
    "$KILN_BIN" table --warehouse "$W" append f.t --input "$T/big.ndjson"
  [ "$(rows "$W")" = "$before" ] || fail "file size limit: the table changed"
  K table --warehouse "$W" append f.t --input "$T/big.ndjson" >/dev/null || fail "append without the limit"
fi
n="$(K sql --warehouse "$W" --csv -c "select count(*) from f.t" | tail -1)"
[ "$n" = 8002 ] || fail "after the retry: $n rows, want 8002"
# the failed attempt left at most orphans, which remove-orphans lists
K table --warehouse "$W" remove-orphans f.t --older-than 0s >/dev/null 2>&1 || true

# --- 2. read-only warehouse
W="$T/ro"
K table --warehouse "$W" create f.t --schema "id long not null, s string" >/dev/null
K table --warehouse "$W" append f.t --input "$T/small.ndjson" >/dev/null
before="$(rows "$W")"
if [ "$(id -u)" = 0 ] && mount --bind "$W" "$W" 2>/dev/null; then
  MNT+=("$W")
  mount -o remount,bind,ro "$W" || fail "remount read-only"
  rmode=mount
else
  chmod -R a-w "$W"
  rmode=chmod
fi
[ "$(rows "$W")" = "$before" ] || fail "read-only: reads differ"
expect_err "read-only append" "read-only|permission denied|EROFS|EACCES" \
  K table --warehouse "$W" append f.t --input "$T/small.ndjson"
expect_err "read-only sql insert" "read-only|permission denied|readonly" \
  K sql --warehouse "$W" --bail -c "insert into f.t values (3, 'c')"
if [ "$rmode" = mount ]; then umount "$W"; MNT=("${MNT[@]/$W/}"); else chmod -R u+w "$W"; fi
[ "$(rows "$W")" = "$before" ] || fail "read-only: the table changed"
K table --warehouse "$W" append f.t --input "$T/small.ndjson" >/dev/null || fail "append once writable"

# --- 3. files truncated under a reader
W="$T/tr"
K table --warehouse "$W" create f.t --schema "id long not null, s string" >/dev/null
K table --warehouse "$W" append f.t --input "$T/small.ndjson" >/dev/null
K table --warehouse "$W" append f.t --input <(bigrows 300) >/dev/null
before="$(rows "$W")"
data="$(find "$W/f/t/data" -name '*.parquet' | head -1)"
manifest="$(find "$W/f/t/metadata" -name '*-m*.avro' | head -1)"
meta="$(ls "$W"/f/t/metadata/v*.metadata.json | sort -V | tail -1)"
for f in "$data" "$manifest" "$meta"; do
  cp "$f" "$T/keep"
  truncate -s $(($(stat -c %s "$f") / 2)) "$f"
  name="$(basename "$f")"
  expect_err "truncated $name (scan)" "$name|truncat|ends early|unexpected end|malformed|corrupt" \
    K table --warehouse "$W" scan f.t --format csv
  expect_err "truncated $name (sql)" "$name|truncat|ends early|unexpected end|malformed|corrupt" \
    K sql --warehouse "$W" --bail -c "select count(*), sum(length(s)) from f.t"
  cp "$T/keep" "$f"
  [ "$(rows "$W")" = "$before" ] || fail "after $name was put back the table differs"
done
echo "fault_disk: ok ($CASES fault cases: disk full via $mode, read-only via $rmode, 3 truncated files x 2 readers)"
