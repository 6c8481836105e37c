#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# kill -9 of a task at every lake commit point of a small backfill
# (docs/faults.md). Day 1 is loaded; the task loading day 2 (the engine job:
# stage, MERGE and publish into github.pushes and github.commits, then the
# re-run fingerprints: 5 lake commits) is killed by KILN_FAILPOINT at its
# N-th commit, for every N and each of the four points: before the metadata
# is written, before its link, after the link (committed, the catalog row
# not moved) and after the catalog swap. Right after the kill each table
# reads as it was before the task or as the clean run leaves it (the last
# committed snapshot intact, never half a day); re-running the task
# converges to the clean run's contents with the clean run's number of
# commits on main (nothing committed twice, nothing lost).
source "$(dirname "$0")/fault_lib.bash"
# (a warehouse records absolute locations: each case loads its own day 1)
job "$T/base" 2025-03-01 >"$T/base.log" 2>&1 || { cat "$T/base.log" >&2; fail "day 1"; }
BASE="$(contents "$T/base")"
job "$T/clean" 2025-03-01 >"$T/clean.log" 2>&1 || { cat "$T/clean.log" >&2; fail "day 1"; }
job "$T/clean" 2025-03-02 >"$T/clean.log" 2>&1 || { cat "$T/clean.log" >&2; fail "day 2"; }
CLEAN="$(contents "$T/clean")"
CLEAN_SNAPS="$(snaps "$T/clean")"
[ "$BASE" != "$CLEAN" ] || fail "day 2 changed nothing"
# every lake.* point of `kiln failpoints` (the list, not a copy kept here)
points="$(K failpoints --names | grep '^lake\.' | tr '\n' ' ')"
[ "$(wc -w <<<"$points")" -ge 4 ] || fail "kiln failpoints lists too few lake points: $points"
# N: the job's 1st, 2nd and 6th of its 6 commits (pushes staged, published,
# commits staged, published, the fingerprints of each): the staging commit,
# the publish to main, the last one; the others repeat these for commits
counts="1 2 6"
[ "$ASAN" = 1 ] && counts="2"
for fp in $points; do
  for n in $counts; do
    w="$T/w-$fp-$n"
    rm -rf "$w" "$T/fp.log"
    job "$w" 2025-03-01 >"$T/0.log" 2>&1 || { cat "$T/0.log" >&2; fail "$fp:$n: day 1"; }
    set +e
    job "$w" 2025-03-02 KILN_FAILPOINT="$fp:$n" KILN_FAILPOINT_LOG="$T/fp.log" >"$T/1.log" 2>&1
    rc=$?
    set -e
    if ! grep -q "^$fp " "$T/fp.log" 2>/dev/null; then
      [ "$rc" = 0 ] || { cat "$T/1.log" >&2; fail "$fp:$n: not reached, yet exit $rc"; }
      [ "$n" -gt 5 ] || fail "$fp:$n was never reached (the job makes fewer commits than expected)"
      rm -rf "$w"
      continue # past the job's last commit
    fi
    [ "$rc" = 137 ] || fail "$fp:$n: exit $rc, want 137 (SIGKILL)"
    # the last committed snapshot is intact: each table is all before or all after
    got="$(contents "$w")"
    for tb in pushes commits; do
      g="$(tr ' ' '\n' <<<"$got" | grep "^$tb=")"
      tr ' ' '\n' <<<"$BASE $CLEAN" | grep -qx "$g" || fail "$fp:$n: after the kill $tb reads neither as before nor as after"
    done
    job "$w" 2025-03-02 >"$T/2.log" 2>&1 || { cat "$T/2.log" >&2; fail "$fp:$n: the re-run failed"; }
    got="$(contents "$w")"
    [ "$got" = "$CLEAN" ] || fail "$fp:$n: contents $got, want $CLEAN"
    got="$(snaps "$w")"
    [ "$got" = "$CLEAN_SNAPS" ] || fail "$fp:$n: commits on main $got, want $CLEAN_SNAPS (committed twice or lost)"
    CASES=$((CASES + 1))
    rm -rf "$w"
  done
done
# N = 1 and 2 exist for every point; N = 6 as long as the job makes 6 commits
want=8
[ "$ASAN" = 1 ] && want=4
[ "$CASES" -ge "$want" ] || fail "only $CASES cases"
echo "fault_kill9_lake: ok ($CASES kill cases converged)"
