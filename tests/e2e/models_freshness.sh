#!/usr/bin/env bash
# kiln source freshness: source tables loaded 5 minutes, 3 hours and 3 days
# ago (and a filtered one, an empty one, one whose loaded_at value is not a
# timestamp, one with freshness: null, one without a config), thresholds
# warn_after 1 hour / error_after 1 day inherited from the source and
# overridden per table:
#  - PASS / WARN / ERROR STALE / ERROR (runtime) per table, exit 1 when any
#    is an error, 0 when only warnings, selection with source:;
#  - sources.json conforms to dbt's sources v3 schema (ajv) and holds each
#    table's max_loaded_at (= the value loaded), its age and criteria;
#  - a bad freshness config is an error at its file:line:column.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
S="$KILN_ROOT/tests/data/dbt-schemas"
P="$tmp/p"; mkdir -p "$P/models"
printf 'name: fresh\nprofile: fresh\n' > "$P/dbt_project.yml"
printf 'fresh:\n  target: dev\n  outputs:\n    dev: {type: kiln, warehouse: warehouse, schema: analytics}\n' > "$P/profiles.yml"
cat > "$P/models/sources.yml" <<'YML'
version: 2
sources:
  - name: ingest
    loaded_at_field: loaded_at
    freshness:
      warn_after: {count: 1, period: hour}
      error_after: {count: 1, period: day}
    tables:
      - name: recent
      - name: hours_old
      - name: days_old
      - name: filtered
        freshness:
          warn_after: {count: 1, period: hour}
          filter: "kind = 'new'"
      - name: lenient
        identifier: days_old
        freshness:
          error_after: {count: 7, period: day}
      - name: empty
      - name: unchecked
        freshness: null
      - name: nots
        loaded_at_field: note
      - name: ghost
  - name: other
    tables:
      - name: no_freshness
YML
echo "select * from {{ source('ingest', 'recent') }}" > "$P/models/m.sql"
ts() { date -u -d "$1" +"$2"; }
RECENT=$(ts '-5 minutes' '%Y-%m-%dT%H:%M:%SZ'); HOURS=$(ts '-3 hours' '%Y-%m-%d %H:%M:%S')
DAYS=$(ts '-3 days' '%Y-%m-%dT%H:%M:%SZ'); DAYS4=$(ts '-4 days' '%Y-%m-%dT%H:%M:%SZ')
NEW=$(ts '-2 hours' '%Y-%m-%dT%H:%M:%SZ'); OLD=$(ts '-1 minutes' '%Y-%m-%dT%H:%M:%SZ')
q() { "$KILN_BIN" sql --warehouse "$P/warehouse" "$1" > /dev/null; }
q "create table ingest.recent as select 1 as id, '$RECENT' as loaded_at"
q "create table ingest.hours_old as select 1 as id, '$HOURS' as loaded_at"
q "create table ingest.days_old as select 1 as id, '$DAYS' as loaded_at union all select 2, '$DAYS4'"
q "create table ingest.filtered as select 'old' as kind, '$OLD' as loaded_at union all select 'new', '$NEW'"
q "create table ingest.empty as select 1 as id, '2024-01-01T00:00:00Z' as loaded_at where 0"
q "create table ingest.unchecked as select 1 as id, '2000-01-01T00:00:00Z' as loaded_at"
q "create table ingest.nots as select 1 as id, 'yesterday' as note, '2000-01-01' as loaded_at"

set +e
"$KILN_BIN" source freshness --project-dir "$P" > "$tmp/out.txt"; rc=$?
set -e
[ "$rc" = 1 ] || { cat "$tmp/out.txt"; fail "exit $rc with stale sources"; }
chk() { grep -qE "$1" "$tmp/out.txt" || { cat "$tmp/out.txt"; fail "missing: $1"; }; }
chk '^[0-9] of 8 PASS freshness of ingest\.recent \.+ \[PASS in '
chk '^[0-9] of 8 WARN freshness of ingest\.hours_old \.+ \[WARN in '
chk '^[0-9] of 8 ERROR STALE freshness of ingest\.days_old \.+ \[ERROR STALE in '
chk '^[0-9] of 8 WARN freshness of ingest\.filtered '
chk '^[0-9] of 8 WARN freshness of ingest\.lenient '
chk '^[0-9] of 8 ERROR freshness of ingest\.empty '
chk 'max\(loaded_at\) of ingest\.empty is NULL'
chk "max\(note\) of ingest\.nots is 'yesterday', not a timestamp"
chk '^[0-9] of 8 ERROR freshness of ingest\.ghost '
chk 'no such table: ingest\.ghost'
chk '^Done\. PASS=1 WARN=3 ERROR=4 SKIP=0 TOTAL=8$'
grep -q 'unchecked\|no_freshness' "$tmp/out.txt" && fail "a source without freshness was checked"
node "$KILN_ROOT/tests/node/dbt_schema_validate.mjs" "$S/sources-v3.json" "$P/target/sources.json" \
  "$S/manifest-v12.json" "$P/target/manifest.json" > /dev/null || fail "sources.json/manifest.json schema"
python3 - "$P/target/sources.json" "$RECENT" "$DAYS" "$NEW" <<'PY'
import json, sys
from datetime import datetime, timezone
doc = json.load(open(sys.argv[1]))
assert doc["metadata"]["dbt_schema_version"] == "https://schemas.getdbt.com/dbt/sources/v3.json"
r = {x["unique_id"].split(".")[-1]: x for x in doc["results"]}
assert set(r) == {"recent", "hours_old", "days_old", "filtered", "lenient", "empty", "nots", "ghost"}, set(r)
st = {k: v["status"] for k, v in r.items()}
assert st == {"recent": "pass", "hours_old": "warn", "days_old": "error", "filtered": "warn", "lenient": "warn",
              "empty": "runtime error", "nots": "runtime error", "ghost": "runtime error"}, st
p = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
assert p(r["recent"]["max_loaded_at"]) == p(sys.argv[2]), r["recent"]["max_loaded_at"]
assert p(r["days_old"]["max_loaded_at"]) == p(sys.argv[3])      # the newer of the two rows
assert p(r["filtered"]["max_loaded_at"]) == p(sys.argv[4])      # only rows passing the filter
age = r["days_old"]["max_loaded_at_time_ago_in_s"]
assert 3 * 86400 - 120 < age < 3 * 86400 + 600, age
assert 240 < r["recent"]["max_loaded_at_time_ago_in_s"] < 900
c = r["filtered"]["criteria"]
assert c == {"warn_after": {"count": 1, "period": "hour"}, "error_after": {"count": 1, "period": "day"},
             "filter": "kind = 'new'"}, c
assert r["lenient"]["criteria"]["error_after"] == {"count": 7, "period": "day"}
assert "not a timestamp" in r["nots"]["error"]
PY

# only warnings: exit 0; a selection of sources
"$KILN_BIN" source freshness --project-dir "$P" -s source:ingest.hours_old -s source:ingest.recent > "$tmp/w.txt" ||
  { cat "$tmp/w.txt"; fail "warnings only must exit 0"; }
grep -q '^Done\. PASS=1 WARN=1 ERROR=0 SKIP=0 TOTAL=2$' "$tmp/w.txt" || { cat "$tmp/w.txt"; fail "selection"; }
"$KILN_BIN" source freshness --project-dir "$P" -s source:other > "$tmp/n.txt" || fail "nothing to do must exit 0"
grep -q 'Nothing to do' "$tmp/n.txt" || fail "nothing to do message"

# a bad config: file:line:column, exit 1
sed -i 's/period: hour}$/period: fortnight}/' "$P/models/sources.yml"
set +e
"$KILN_BIN" source freshness --project-dir "$P" > "$tmp/bad.txt" 2>&1; rc=$?
set -e
[ "$rc" = 1 ] || { cat "$tmp/bad.txt"; fail "bad config exit $rc"; }
grep -q 'models/sources.yml:6:19: warn_after needs count (a positive integer) and period (minute, hour or day)' "$tmp/bad.txt" ||
  { cat "$tmp/bad.txt"; fail "bad config message"; }
echo "models_freshness: ok"
