#!/usr/bin/env bash
# The example DAG (examples/personal-api/dags/github_daily.yml) validates,
# runs a day end to end (generated GH Archive hours -> kiln job gh-events),
# and a re-run of the finished day executes nothing and leaves the output
# files untouched.
source "$(dirname "$0")/flow_lib.bash"
cp "$KILN_ROOT"/examples/personal-api/dags/*.yml "$P/dags/"
expect_rc 0 K dags validate
expect_rc 0 K dags backfill github_daily --start 2025-01-01 --end 2025-01-01
ls "$P"/out/gh-events/pushes/date=2025-01-01/part-00.csv >/dev/null || fail "no gh-events output"
[ "$(wc -l < "$P/out/gh-events/pushes/date=2025-01-01/part-00.csv")" -gt 1 ] || fail "empty pushes"
before="$(stat -c '%Y %s' "$P"/out/gh-events/pushes/date=2025-01-01/*)"
expect_rc 0 K dags run github_daily --date 2025-01-01
echo "$OUT" | grep -q "0 tries started" || fail "re-run executed something: $OUT"
want "$(stat -c '%Y %s' "$P"/out/gh-events/pushes/date=2025-01-01/*)" "$before" "output untouched by the re-run"
echo ok
