#!/usr/bin/env bash
# kiln dags backfill --branch: the job.gh_events writes go to an Iceberg
# branch; a failed run leaves main untouched (the branch is kept); once
# every run succeeds, main is fast-forwarded on every touched table; if main
# moved meanwhile, nothing is swapped in (exit 5). The swap is one
# multi-table commit: a kill at it leaves main old on both tables or new on both. Row counts are checked
# against Python reading the hour files.
source "$(dirname "$0")/flow_lib.bash"
export PATH="$(dirname "$KILN_BIN"):$PATH"
"$KILN_BIN" gen gharchive --start 2025-03-01 --days 5 --hours 3 --scale 0.001 --seed 5 --threads 1 \
  --out "$P/incoming" >/dev/null
cat > "$P/dags/b.yml" <<'YML'
schedule: "@daily"
start_date: 2025-03-01
default_task: {retry_delay: 10ms}
tasks:
  land:
    type: command
    command: [sh, -c, 'mkdir -p raw && find incoming -name "$1-*.json.gz" -exec cp -t raw {} +', land, "{{ ds }}"]
  load:
    type: job.gh_events
    needs: [land]
    in: raw
    warehouse: warehouse
    threads: 1
  check:
    type: sql
    needs: [load]
    warehouse: warehouse
    sql: "select '{{ branch }}' as ref, count(*) as n from github.\"pushes@{{ branch }}\""
  gate:
    type: command
    needs: [check]
    command: [test, -e, "ok-{{ ds }}"]
YML
pushes() { # pushes [REF]: rows of github.pushes (at REF)
  local t="github.pushes"; [ -n "${1:-}" ] && t="github.\"pushes@$1\""
  "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select count(*) from $t" | tail -1
}
py_pushes() { # py_pushes DAY...: distinct push ids in those days' hour files
  python3 - "$P/incoming" "$@" <<'PY'
import gzip, json, os, sys
ids = set()
for f in os.listdir(sys.argv[1]):
    if f.endswith('.json.gz') and f[:10] in sys.argv[2:]:
        for l in gzip.open(os.path.join(sys.argv[1], f), 'rt'):
            e = json.loads(l)
            if e['type'] == 'PushEvent':
                ids.add(e['payload']['push_id'])
print(len(ids))
PY
}
touch "$P/ok-2025-03-01" "$P/ok-2025-03-02"

# day 1 on main, the usual way
expect_rc 0 K dags backfill b --start 2025-03-01 --end 2025-03-01
want "$(pushes)" "$(py_pushes 2025-03-01)" "main after day 1"
mainref() { "$KILN_BIN" table --warehouse "$P/warehouse" branch "$1" | awk '$1 == "main" {print $2}'; }
main1="$(mainref github.pushes) $(mainref github.commits)"
[ -n "$(mainref github.pushes)" ] || fail "no main ref"

# a models.build task or no table writer: refused before anything runs
expect_rc 2 K dags backfill b --start 2025-03-02 --end 2025-03-02 --branch 'bad name'
cat > "$P/dags/nowriter.yml" <<'YML'
tasks: {a: {type: command, command: ['true']}}
YML
expect_rc 2 K dags backfill nowriter --start 2025-03-02 --end 2025-03-02 --branch bf
grep -q "no task of DAG 'nowriter' writes Iceberg tables" <<<"$OUT" || fail "no writer: $OUT"
rm "$P/dags/nowriter.yml"

# days 2-3 on branch bf: day 3's gate fails -> main untouched, branch kept
expect_rc 6 K dags backfill b --start 2025-03-02 --end 2025-03-03 --branch bf
grep -q "backfill on branch 'bf': 1 run(s) failed; main left untouched, the branch kept on 2 table(s)" <<<"$OUT" ||
  fail "failed branch backfill: $OUT"
want "$(mainref github.pushes) $(mainref github.commits)" "$main1" "main's heads untouched"
want "$(pushes)" "$(py_pushes 2025-03-01)" "main still day 1 only"
want "$(pushes bf)" "$(py_pushes 2025-03-01 2025-03-02 2025-03-03)" "branch bf holds days 1-3"
# day 2's check read the branch (day 3 may have loaded meanwhile: the runs overlap)
n="$(awk -F'|' '$1 ~ /^bf *$/ {gsub(/ /, "", $2); print $2}' "$P/.kiln/logs/b/2025-03-02T00:00:00Z/check.try-1.log")"
[ -n "$n" ] && [ "$n" -ge "$(py_pushes 2025-03-01 2025-03-02)" ] && [ "$n" -le "$(py_pushes 2025-03-01 2025-03-02 2025-03-03)" ] ||
  fail "check read the branch: $(cat "$P/.kiln/logs/b/2025-03-02T00:00:00Z/check.try-1.log")"

# the gate passes; the failed run again on bf: every run succeeded -> swap in
touch "$P/ok-2025-03-03"
# the swap is one multi-table commit: killed just before it commits, main
# is old on both tables; killed after it committed (one table's metadata
# file linked, the other's not yet), main is new on both (the next load
# finishes the link). Never one table new and the other old.
c_count() { "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select count(*) from github.$1" | tail -1; }
c1="$(c_count commits)"
KILN_FAILPOINT=lake.multi=crash-before-commit expect_rc 137 K dags backfill b --start 2025-03-02 --end 2025-03-03 --branch bf --rerun failed
want "$(mainref github.pushes) $(mainref github.commits)" "$main1" "killed before the swap's commit: main old on both"
KILN_FAILPOINT=lake.multi=crash-after-first expect_rc 137 K dags backfill b --start 2025-03-02 --end 2025-03-03 --branch bf --rerun failed
want "$(pushes)" "$(py_pushes 2025-03-01 2025-03-02 2025-03-03)" "killed after the swap's commit: pushes new"
[ "$(c_count commits)" != "$c1" ] || fail "killed after the swap's commit: commits still old ($c1)"
want "$(c_count commits)" "$(c_count '"commits@bf"')" "killed after the swap's commit: commits new"
expect_rc 0 K dags backfill b --start 2025-03-02 --end 2025-03-03 --branch bf --rerun failed
grep -q "branch 'bf': every run succeeded; swapped in on 2 table(s)" <<<"$OUT" || fail "swap: $OUT"
grep -q "load: try" <<<"$OUT" && fail "load re-ran: $OUT"
want "$(pushes)" "$(py_pushes 2025-03-01 2025-03-02 2025-03-03)" "main after the swap"
c_main="$("$KILN_BIN" sql --warehouse "$P/warehouse" --csv "select count(*) from github.commits" | tail -1)"
c_bf="$("$KILN_BIN" sql --warehouse "$P/warehouse" --csv 'select count(*) from github."commits@bf"' | tail -1)"
want "$c_main" "$c_bf" "commits swapped in too"

# main moves while a branch backfill waits: nothing is swapped in (exit 5)
touch "$P/ok-2025-03-05"
expect_rc 6 K dags backfill b --start 2025-03-04 --end 2025-03-05 --branch bf2
expect_rc 0 K dags run b --date 2025-03-05            # main gets day 5 meanwhile
before="$(pushes)"
touch "$P/ok-2025-03-04"
expect_rc 5 K dags backfill b --start 2025-03-04 --end 2025-03-05 --branch bf2 --rerun failed
grep -q "main of github.* moved since the branch was cut; nothing was swapped in" <<<"$OUT" || fail "conflict: $OUT"
want "$(pushes)" "$before" "main unchanged by a conflicting swap"
echo ok
