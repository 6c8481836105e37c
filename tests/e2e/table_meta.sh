#!/usr/bin/env bash
# table_meta.sh - `kiln table` metadata commands end to end: create, list,
# describe, alter (schema evolution), branch/tag/fast-forward/rollback/
# expire on a Spark-written table copied into a hadoop-layout warehouse,
# concurrent committers from several processes, exit codes; every table
# kiln touched is then checked by an independent reader
# (tests/node/lakemeta_validate.mjs: spec rules + icebird).
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
W="$T/wh"
k() { "$KILN_BIN" table --warehouse "$W" "$@"; }
fail() { echo "table_meta: $*" >&2; exit 1; }
VALIDATE="node $KILN_ROOT/tests/node/lakemeta_validate.mjs"
# jget EXPR: evaluate EXPR on stdin's JSON (long integers kept exact as strings)
jget() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{s=s.replace(/([:\[,]\s*)(-?\d{16,})(?=\s*[,\]\}])/g,"$1\"$2\"");const v=eval("(j)=>"+process.argv[1])(JSON.parse(s));console.log(typeof v==="object"?JSON.stringify(v):v)})' "$1"; }
expect_exit() { # code cmd...
  local want=$1; shift
  set +e; "$@" >"$T/out" 2>"$T/err"; local got=$?; set -e
  [ "$got" = "$want" ] || { cat "$T/err" >&2; fail "'$*' exited $got, expected $want"; }
}

# --- create, list, describe
k create github.pushes --schema 'push_id long not null, repo string, created_at timestamptz, tags list<string>' \
  --partition 'day(created_at)' --sort 'created_at desc' --property write.parquet.compression-codec=zstd --json >"$T/c.json"
[ "$(jget 'j.name' <"$T/c.json")" = github.pushes ] || fail "create --json name"
[ -f "$W/github/pushes/metadata/v1.metadata.json" ] || fail "no v1.metadata.json"
[ "$(cat "$W/github/pushes/metadata/version-hint.text")" = 1 ] || fail "version-hint"
[ -f "$W/catalog.db" ] || fail "no catalog.db"
k create github.commits --schema 'sha string not null, repo_id long' >/dev/null
k list | grep -q '^github.commits' || fail "list"
[ "$(k list --json | jget 'j.length')" = 2 ] || fail "list --json"
[ "$(k namespaces --json | jget 'j[0]')" = github ] || fail "namespaces"
k describe github.pushes --json >"$T/d.json"
[ "$(jget 'j.metadata["partition-specs"][0].fields[0].transform' <"$T/d.json")" = day ] || fail "describe partition"
[ "$(jget 'j.metadata["partition-specs"][0].fields[0]["field-id"]' <"$T/d.json")" = 1000 ] || fail "partition field id"
[ "$(jget 'j.metadata["format-version"]' <"$T/d.json")" = 2 ] || fail "format-version"
k describe github.pushes | grep -q 'created_at_day' || fail "describe text"

# --- schema evolution: one commit, ids kept
k alter github.pushes --add-column 'actor string' --rename-column repo=repo_name --set-property owner=kiln >/dev/null
k alter github.commits --widen-column repo_id=long --add-column 'n int' >/dev/null
k alter github.commits --widen-column n=long >/dev/null
k describe github.pushes --json >"$T/d2.json"
[ "$(jget 'j.version' <"$T/d2.json")" = 2 ] || fail "alter is one commit"
[ "$(jget 'j.metadata.schemas.find(s=>s["schema-id"]===j.metadata["current-schema-id"]).fields.find(f=>f.id===2).name' <"$T/d2.json")" = repo_name ] || fail "rename by id"
[ "$(jget 'j.metadata["last-column-id"]' <"$T/d2.json")" = 6 ] || fail "last-column-id"
expect_exit 2 k alter github.commits --widen-column n=int
expect_exit 2 k alter github.commits --add-column 'x nosuchtype'
expect_exit 2 k create '../evil.t' --schema 'a int'
expect_exit 2 k create 'a/b.t' --schema 'a int'
expect_exit 4 k describe github.nope
expect_exit 2 k create github.x
$VALIDATE "$W/github/pushes" --kiln >/dev/null || fail "validator on github.pushes"
$VALIDATE "$W/github/commits" --kiln >/dev/null || fail "validator on github.commits"

# --- concurrent committers (separate processes)
pids=()
for p in 1 2 3 4; do
  ( for i in 1 2 3 4 5; do k alter github.commits --set-property "p$p.$i=v" >/dev/null || exit 1; done ) &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || fail "a concurrent committer failed"; done
k describe github.commits --json >"$T/d3.json"
[ "$(jget 'j.version' <"$T/d3.json")" = 23 ] || fail "expected 23 versions after 20 concurrent commits, got $(jget 'j.version' <"$T/d3.json")"
[ "$(jget 'Object.keys(j.metadata.properties).filter(k=>/^p\d\.\d$/.test(k)).length' <"$T/d3.json")" = 20 ] || fail "lost a concurrent commit"
[ "$(jget 'j.metadata["metadata-log"].length' <"$T/d3.json")" = 22 ] || fail "metadata-log"
$VALIDATE "$W/github/commits" --kiln >/dev/null || fail "validator after concurrent commits"

# --- refs, rollback, expire on a Spark-written table (hadoop catalog)
H="$T/hw"
mkdir -p "$H/mydb/mytable"
cp -r "$KILN_ROOT/../shared/fixtures/iceberg/equality_deletes/warehouse/mydb/mytable/metadata" "$H/mydb/mytable/"
h() { "$KILN_BIN" table --warehouse "$H" --catalog hadoop "$@"; }
h list | grep -q '^mydb.mytable' || fail "hadoop list"
[ "$(h snapshots mydb.mytable --json | jget 'j.length')" = 6 ] || fail "snapshots"
[ "$(h snapshots mydb.mytable --json | jget 'j.map(s=>s.sequence_number).join(",")')" = 1,2,3,4,5,6 ] || fail "sequence numbers"
[ "$(h history mydb.mytable --json | jget 'j.length')" = 8 ] || fail "history (the Spark log has 8 entries: two re-commits)"
S1=853766660775201079; S4=842401149381792626; S6=1916084761853986166
h tag mydb.mytable first --snapshot "$S1" >/dev/null
h branch mydb.mytable audit --snapshot "$S4" >/dev/null
[ "$(h tag mydb.mytable --json | jget 'j[0].name')" = first ] || fail "tag list"
expect_exit 1 h tag mydb.mytable first
# fast-forward audit (at S4) to main (S6): audit's head is an ancestor
h fast-forward mydb.mytable main --to audit >/dev/null
[ "$(h branch mydb.mytable --json | jget 'j.find(r=>r.name==="audit").snapshot_id')" = "$S6" ] || fail "fast-forward"
# rollback main to S4, then fast-forward main back to audit (S6)
h rollback mydb.mytable "$S4" >/dev/null
[ "$(h describe mydb.mytable --json | jget 'j.metadata["current-snapshot-id"]')" != "$S6" ] || fail "rollback"
h fast-forward mydb.mytable audit >/dev/null
expect_exit 4 h rollback mydb.mytable 12345
# time travel: rollback by timestamp to the state right after the 2nd commit
TS2=$(h snapshots mydb.mytable --json | jget 'j[1].timestamp_ms')
h rollback mydb.mytable "ms:$TS2" >/dev/null
h describe mydb.mytable --json | jget 'j.metadata["current-snapshot-id"]' >"$T/cur"
h snapshots mydb.mytable --json | jget 'j[1].snapshot_id' >"$T/want"
cmp -s "$T/cur" "$T/want" || fail "rollback to a time"
h fast-forward mydb.mytable audit >/dev/null
# expire: dry run changes nothing; real run keeps ref heads (first, audit, main)
h expire mydb.mytable --older-than 0s --retain-last 1 --dry-run --json >"$T/e.json"
[ "$(jget 'j.dry_run' <"$T/e.json")" = true ] || fail "dry run flag"
N=$(jget 'j.expired_snapshot_ids.length' <"$T/e.json")
[ "$N" = 4 ] || fail "dry run expects 4 expired snapshots, got $N"
[ "$(h snapshots mydb.mytable --json | jget 'j.length')" = 6 ] || fail "dry run changed the table"
h expire mydb.mytable --older-than 0s --retain-last 1 >/dev/null
[ "$(h snapshots mydb.mytable --json | jget 'j.map(s=>s.snapshot_id).sort().join(",")')" = "$(printf '%s\n' $S6 $S1 | sort | paste -sd,)" ] || fail "expire kept the wrong snapshots"
$VALIDATE "$H/mydb/mytable" >/dev/null || fail "validator on the Spark table after kiln commits"
# branch drop; main cannot be dropped
h branch mydb.mytable --drop audit >/dev/null
expect_exit 2 h branch mydb.mytable --drop main
h drop mydb.mytable --purge >/dev/null
[ ! -d "$H/mydb/mytable" ] || fail "drop --purge"

# --- drop from the SQLite catalog
k drop github.pushes >/dev/null
expect_exit 4 k describe github.pushes
[ -d "$W/github/pushes/metadata" ] || fail "drop without --purge keeps files"
echo "table_meta: ok"
