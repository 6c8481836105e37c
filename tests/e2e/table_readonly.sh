#!/usr/bin/env bash
# table_readonly.sh - read-only commands on a missing warehouse exit 4
# ("warehouse not found: PATH") and create nothing; a URI scheme kiln cannot
# serve (gs://, http://) is an error naming the scheme, never a local folder
# named "gs:"; s3:// without credentials is exit 3; file:// URIs and plain paths name the same warehouse;
# `kiln sql` on a missing warehouse creates nothing either.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
fail() { echo "table_readonly: $*" >&2; exit 1; }
run() { # want cmd... ; stderr into $T/err
  local want=$1; shift
  set +e; "$@" >/dev/null 2>"$T/err"; local got=$?; set -e
  [ "$got" -eq "$want" ] || fail "exit $got, want $want: $* ($(cat "$T/err"))"
}
nothing_created() { # what
  local left
  left=$(find "$T" -mindepth 1 -not -name err)
  [ -z "$left" ] || fail "$1 created files: $left"
}

for sub in "list" "namespaces" "describe a.b" "snapshots a.b" "history a.b" "scan a.b" "files a.b"; do
  # shellcheck disable=SC2086
  run 4 "$KILN_BIN" table --warehouse "$T/missing" $sub
  grep -q "warehouse not found: $T/missing" "$T/err" || fail "table $sub: message: $(cat "$T/err")"
  nothing_created "table $sub"
  # shellcheck disable=SC2086
  run 4 "$KILN_BIN" table --warehouse "$T/missing" --catalog hadoop $sub
  nothing_created "table --catalog hadoop $sub"
done

# kiln sql reading a missing warehouse: an error, and nothing created
set +e; "$KILN_BIN" sql --warehouse "$T/missing" "SELECT * FROM a.b" >/dev/null 2>"$T/err"; rc=$?; set -e
[ "$rc" -ne 0 ] || fail "kiln sql on a missing warehouse exited 0"
nothing_created "kiln sql"

# s3:// is served by the object store (tests/e2e/store_s3.sh): without
# credentials it is a configuration error (exit 3) naming them, nothing on disk
for sub in list create; do
  args=("$sub"); [ "$sub" = create ] && args=(create a.b --schema "id long")
  set +e
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
    "$KILN_BIN" table --warehouse s3://bucket/prefix "${args[@]}" >/dev/null 2>"$T/err"
  rc=$?
  set -e
  [ "$rc" = 3 ] || fail "table --warehouse s3://bucket/prefix $sub without credentials: exit $rc"
  grep -q "AWS_ACCESS_KEY_ID" "$T/err" || fail "s3 without credentials: message: $(cat "$T/err")"
  nothing_created "table --warehouse s3://bucket/prefix $sub"
done

# schemes kiln cannot serve: an error naming the scheme, nothing on disk
for uri in gs://bucket/x http://example.com/w; do
  scheme=${uri%%://*}
  for sub in list create; do
    args=("$sub"); [ "$sub" = create ] && args=(create a.b --schema "id long")
    set +e; "$KILN_BIN" table --warehouse "$uri" "${args[@]}" >/dev/null 2>"$T/err"; rc=$?; set -e
    [ "$rc" -ne 0 ] || fail "table --warehouse $uri $sub exited 0"
    grep -q "the $scheme:// scheme is not supported" "$T/err" || fail "$uri: message: $(cat "$T/err")"
    nothing_created "table --warehouse $uri $sub"
  done
done

# file:// and a plain path are the same warehouse; reading an existing one
# through the read-only open works
"$KILN_BIN" table --warehouse "file://$T/wh" create ns.t --schema "id long" >/dev/null
[ -f "$T/wh/catalog.db" ] || fail "file:// warehouse not created at $T/wh"
out=$("$KILN_BIN" table --warehouse "$T/wh" list)
grep -q "^ns\.t\b" <<<"$out" || fail "plain path does not list the table: $out"
"$KILN_BIN" table --warehouse "file://$T/wh" describe ns.t >/dev/null

# an existing directory without catalog.db reads as empty and stays so
mkdir "$T/empty"
out=$("$KILN_BIN" table --warehouse "$T/empty" list)
[ "$out" = "$(printf "name\tmetadata_location")" ] || fail "empty warehouse lists: $out"
run 4 "$KILN_BIN" table --warehouse "$T/empty" describe ns.t
[ -z "$(ls -A "$T/empty")" ] || fail "read-only list wrote into the warehouse: $(ls -A "$T/empty")"
echo "table_readonly: ok"
