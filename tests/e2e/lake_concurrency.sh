#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# lake_concurrency.sh - several processes committing to the SQLite catalog at
# once, with readers joining the tables while they do: 4 writers x 25 MERGE
# commits into one table (optimistic commits retried on conflict), 3 writers
# appending to their own tables, and 2 readers. No commit may be lost, no
# reader may skip a table ("database is locked" while a writer held the
# catalog's write lock made readers drop tables from their session), and the
# final contents must equal a serial run's.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
W="$T/wh"
fail() { echo "lake_concurrency: $*" >&2; exit 1; }
q() { "$KILN_BIN" sql --warehouse "$W" --bail -c "$1"; }
val() { "$KILN_BIN" sql --warehouse "$W" --bail -c ".mode csv" -c ".headers off" -c "$1"; }

q "CREATE TABLE c.m (k BIGINT NOT NULL, v BIGINT, w TEXT);
   CREATE TABLE c.a1 AS SELECT 0 AS x; CREATE TABLE c.a2 AS SELECT 0 AS x; CREATE TABLE c.a3 AS SELECT 0 AS x" >/dev/null

N=20
pids=()
# writer p upserts keys p*1000+1..p*1000+N and, every commit, the shared key 0
for p in 1 2 3 4; do
  (
    for i in $(seq 1 $N); do
      q "MERGE INTO c.m t USING (SELECT $((p * 1000 + i)) AS k, $i AS v, 'p$p' AS w UNION ALL SELECT 0, $p, 'shared') s
         ON t.k = s.k WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *" >/dev/null 2>>"$T/werr$p" ||
        echo "merge $p/$i failed" >>"$T/werr$p"
    done
  ) &
  pids+=($!)
done
for p in 1 2 3; do
  (
    for i in $(seq 1 $N); do
      q "INSERT INTO c.a$p SELECT $i" >/dev/null 2>>"$T/aerr$p" || echo "insert $p/$i failed" >>"$T/aerr$p"
    done
  ) &
  pids+=($!)
done
for r in 1 2; do
  (
    for i in $(seq 1 20); do
      q "SELECT count(*) FROM c.a1 JOIN c.a2 USING (x) JOIN c.a3 USING (x); SELECT count(*) FROM c.m" >/dev/null \
        2>>"$T/rerr$r" || echo "read $r/$i failed" >>"$T/rerr$r"
    done
  ) &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

for f in "$T"/werr* "$T"/aerr* "$T"/rerr*; do
  [ -s "$f" ] || continue
  # a conflict that was retried is reported at debug level only; anything on
  # stderr is a failure here
  cat "$f" >&2
  fail "$(basename "$f"): a concurrent statement failed or warned"
done

got=$(val "SELECT count(*), sum(v), count(DISTINCT w) FROM c.m WHERE k > 0")
want="$((4 * N)),$((4 * N * (N + 1) / 2)),4"
[ "$got" = "$want" ] || fail "merged rows: got '$got', want $want (a lost commit)"
shared=$(val "SELECT count(*) FROM c.m WHERE k = 0")
[ "$shared" = 1 ] || fail "shared key has $shared rows (MERGE duplicated it)"
for p in 1 2 3; do
  c=$(val "SELECT count(*), sum(x) FROM c.a$p")
  [ "$c" = "$((N + 1)),$((N * (N + 1) / 2))" ] || fail "c.a$p: got $c (a lost append)"
done
# every commit is a snapshot: 4*N merges + the create
snaps=$("$KILN_BIN" table --warehouse "$W" snapshots c.m --json | grep -o '"snapshot_id"' | wc -l)
[ "$snaps" -eq $((4 * N)) ] || [ "$snaps" -eq $((4 * N + 1)) ] || fail "c.m has $snaps snapshots, want $((4 * N))"
echo "lake_concurrency: ok ($((4 * N)) merges, $((3 * N)) appends, 40 reads concurrently)"
