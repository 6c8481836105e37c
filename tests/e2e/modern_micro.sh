#!/usr/bin/env bash
# Microbatch incremental models (dbt 1.9) on tests/models/modern_micro
# (monthly batches of a daily aggregate over 60 events in 2025-01..04):
#  - --event-time-end: the batches from begin up to it, one Iceberg commit
#    per batch with rows, recorded in the table property
#    kiln.microbatch.done;
#  - --event-time-start/--event-time-end: exactly that window's batch;
#  - a plain build after a gap (March never ran) fills it ("filled 1
#    missing batch") and re-runs the lookback batch; the table equals
#    Python's computation over the seed; a build right after commits
#    nothing;
#  - late events in one month: re-running that window changes exactly its
#    rows; bad configs are errors;
#  - a dbt 1.9 YAML snapshot (snapshots/snapshots.yml) builds, records a
#    change, is in the manifest (valid), a bad relation is an error.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/modern_micro" "$tmp/p"; P="$tmp/p"; W="$P/warehouse"
K() { "$KILN_BIN" "$@" --project-dir "$P"; }
q() { "$KILN_BIN" sql --warehouse "$W" --csv "$1" | tail -n +2 | tr '\n' ' '; }
desc() { "$KILN_BIN" table describe --warehouse "$W" analytics.daily_amounts; }
nsnap() { desc | awk '$1 == "snapshots" {print $2}'; }
K build --event-time-end 2025-03-01 > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail build; }
grep -q "microbatch analytics.daily_amounts: 2 batches run (2 commits)$" "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "2 batches"; }
[ "$(q "select substr(day, 1, 7), count(*) from analytics.daily_amounts group by 1 order by 1")" = "2025-01,5 2025-02,5 " ] || fail "Jan+Feb"
[ "$(nsnap)" = 2 ] || fail "one commit per batch: $(nsnap) snapshots"
desc | grep -q "kiln.microbatch.done = 2025-01,2025-02$" || { desc; fail "batch record"; }
K run -s daily_amounts --event-time-start 2025-04-01 --event-time-end 2025-05-01 > "$tmp/b2.txt" || { cat "$tmp/b2.txt"; fail "window"; }
grep -q ": 1 batch run (1 commit)$" "$tmp/b2.txt" || { cat "$tmp/b2.txt"; fail "April only"; }
desc | grep -q "kiln.microbatch.done = 2025-01,2025-02,2025-04$" || { desc; fail "record after April"; }
K run -s daily_amounts > "$tmp/b3.txt" || { cat "$tmp/b3.txt"; fail "catch-up run"; }
grep -q "(2 commits), filled 1 missing batch$" "$tmp/b3.txt" || { cat "$tmp/b3.txt"; fail "gap filling"; }
python3 - "$P/seeds/raw_events.csv" > "$tmp/want.txt" <<'PY'
import csv, sys, collections
agg = collections.OrderedDict()
for r in sorted(csv.DictReader(open(sys.argv[1])), key=lambda r: r["ts"]):
    d = r["ts"][:10]; n, a = agg.get(d, (0, 0)); agg[d] = (n + 1, a + int(r["amount"]))
print(" ".join(f"{d},{n},{a}" for d, (n, a) in agg.items()), end=" ")
PY
[ "$(q "select day, events, amount from analytics.daily_amounts order by 1")" = "$(cat "$tmp/want.txt")" ] ||
  fail "table vs python: $(q "select * from analytics.daily_amounts order by 1")"
before=$(nsnap)
K run -s daily_amounts > "$tmp/b4.txt"
grep -q "(0 commits)$" "$tmp/b4.txt" || { cat "$tmp/b4.txt"; fail "an up-to-date run committed"; }
[ "$(nsnap)" = "$before" ] || fail "snapshots moved"
# late events in February: re-run that window; other months' rows keep their values
jan=$(q "select * from analytics.daily_amounts where day < '2025-02' order by 1")
echo "999,2025-02-05T23:00:00,1000" >> "$P/seeds/raw_events.csv"
K seed > /dev/null; K run -s stg_events > /dev/null
K run -s daily_amounts --event-time-start 2025-02-01 --event-time-end 2025-03-01 > "$tmp/b5.txt" || { cat "$tmp/b5.txt"; fail late; }
[ "$(q "select events from analytics.daily_amounts where day = '2025-02-05'")" = "4 " ] || fail "late event not in"
[ "$(q "select * from analytics.daily_amounts where day < '2025-02' order by 1")" = "$jan" ] || fail "January changed"
# a 1.9 YAML snapshot (snapshots/snapshots.yml, over the seed): built by build, a changed amount
# closes the old version
grep -q "OK snapshotted analytics.events_snapshot" "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "YAML snapshot not built"; }
sed -i 's/^1,\(.*\),\([0-9]*\)$/1,\1,777/' "$P/seeds/raw_events.csv"
K seed > /dev/null; K snapshot > "$tmp/s1.txt" || { cat "$tmp/s1.txt"; fail snapshot; }
[ "$(q "select amount, dbt_valid_to is null from analytics.events_snapshot where id = 1 order by dbt_valid_from")" = "$(awk -F, 'NR == 2 {print $3}' "$KILN_ROOT/tests/models/modern_micro/seeds/raw_events.csv"),0 777,1 " ] ||
  fail "snapshot versions: $(q "select * from analytics.events_snapshot where id = 1")"
python3 - "$P/target/manifest.json" <<'PY' || fail "manifest snapshot node"
import json, sys
n = json.load(open(sys.argv[1]))["nodes"]["snapshot.micro.events_snapshot"]
assert n["resource_type"] == "snapshot" and n["config"]["strategy"] == "check", n["config"]
assert n["original_file_path"] == "snapshots/snapshots.yml" and n["depends_on"]["nodes"] == ["seed.micro.raw_events"], n
PY
node "$KILN_ROOT/tests/node/dbt_schema_validate.mjs" "$KILN_ROOT/tests/data/dbt-schemas/manifest-v12.json" "$P/target/manifest.json" >/dev/null ||
  fail "manifest with a YAML snapshot does not validate"
printf 'snapshots:\n  - name: bad_snap\n    relation: "select 1"\n    config: {unique_key: id, strategy: check}\n' > "$P/snapshots/bad.yml"
set +e; K snapshot > "$tmp/s2.txt" 2>&1; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "snapshots/bad.yml:3:15: snapshot 'bad_snap': relation must be ref('model') or source('source', 'table')" "$tmp/s2.txt" ||
  { cat "$tmp/s2.txt"; fail "bad relation: $rc"; }
rm "$P/snapshots/bad.yml"
sed -i "s/batch_size='month'/batch_size='week'/" "$P/models/daily_amounts.sql"
set +e; K run -s daily_amounts > "$tmp/b6.txt" 2>&1; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "needs event_time, batch_size (hour, day, month, year) and begin" "$tmp/b6.txt" || { cat "$tmp/b6.txt"; fail "bad batch_size"; }
echo "modern_micro: ok"
