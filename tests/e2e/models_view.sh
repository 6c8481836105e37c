#!/usr/bin/env bash
# models_view.sh - `materialized: view` is a real view: an Iceberg view of
# the warehouse (metadata JSON under ns/.views/, SQL in kiln's dialect,
# listed by the REST catalog), no data copied; reads re-run its query, so
# rows added upstream show without a rebuild, in a later `kiln sql` session
# and in a downstream model; a view over a view; a test on a view; a
# table -> view -> table change of materialization drops the other kind;
# kiln SQL's CREATE [OR REPLACE] VIEW / DROP VIEW and their errors.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
K="$KILN_BIN"
T="$(mktemp -d)"
SPID=""
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
want() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }
W="$T/wh"; P="$T/p"
Q() { "$K" --warehouse "$W" sql --csv -c "$1" | tail -n +2; }

mkdir -p "$P/models"
cat >"$P/dbt_project.yml" <<'EOF'
name: viewy
profile: viewy
models:
  viewy:
    +materialized: table
    staging:
      +materialized: view
EOF
cat >"$P/profiles.yml" <<EOF
viewy:
  target: dev
  outputs:
    dev: {type: kiln, warehouse: "$W", schema: analytics}
EOF
mkdir -p "$P/models/staging"
cat >"$P/models/sources.yml" <<'EOF'
version: 2
sources:
  - name: raw
    schema: raw
    tables: [{name: events}]
EOF
cat >"$P/models/staging/stg_events.sql" <<'EOF'
select id, upper(kind) as kind, amount * 2 as amount2, created_at
from {{ source('raw', 'events') }}
EOF
cat >"$P/models/staging/stg_big.sql" <<'EOF'
select * from {{ ref('stg_events') }} where amount2 > 2
EOF
cat >"$P/models/staging/schema.yml" <<'EOF'
version: 2
models:
  - name: stg_events
    columns:
      - name: id
        tests: [not_null, unique]
EOF
cat >"$P/models/agg.sql" <<'EOF'
select kind, count(*) as n, sum(amount2) as total from {{ ref('stg_big') }} group by kind
EOF
cat >"$P/models/flip.sql" <<'EOF'
{{ config(materialized=var('flip_mat', 'table')) }}
select id, kind from {{ source('raw', 'events') }}
EOF

"$K" --warehouse "$W" sql -c "create table raw.events as select 1 as id, 'a' as kind, 1 as amount, '2025-01-01T00:00:00Z' as created_at union all select 2, 'b', 2, '2025-01-02T00:00:00Z' union all select 3, 'a', 3, '2025-01-03T00:00:00Z'" >/dev/null

out="$("$K" build --project-dir "$P" --profiles-dir "$P" 2>&1)" || { echo "$out"; fail "build"; }
grep -q "OK created sql view model analytics.stg_events" <<<"$out" || { echo "$out"; fail "view line"; }
grep -q "PASS=6 WARN=0 ERROR=0 SKIP=0 TOTAL=6" <<<"$out" || { echo "$out"; fail "build counts"; }

# an Iceberg view, not a table: metadata document with the SQL, no data directory
ls "$W"/analytics/.views/stg_events/metadata/00001-*.metadata.json >/dev/null || fail "no view metadata"
[ ! -e "$W/analytics/stg_events" ] || fail "a view must not be a table directory"
grep -q '"dialect":"kiln"' "$W"/analytics/.views/stg_events/metadata/*.json || fail "dialect"
grep -q 'upper(kind) as kind' "$W"/analytics/.views/stg_events/metadata/*.json || fail "view sql"
grep -q '"name":"amount2","required":false,"type":"long"' "$W"/analytics/.views/stg_events/metadata/*.json ||
  fail "view schema types"
"$K" --warehouse "$W" table list analytics | grep -q stg_events && fail "a view listed as a table"

want "$(Q "select count(*) || ':' || sum(amount2) from analytics.stg_events")" "3:12" "view rows"
want "$(Q "describe analytics.stg_events" | tr '\n' ' ')" "id,long,YES kind,string,YES amount2,long,YES created_at,timestamptz,YES " "DESCRIBE a view"
want "$(Q "select group_concat(kind || n || '/' || total, ' ') from (select * from analytics.agg order by kind)")" \
  "A1/6 B1/4" "table model over the views"

# rows added upstream show in the views at once, in a new session, without a rebuild
"$K" --warehouse "$W" sql -c "insert into raw.events select 4, 'b', 10, '2025-01-04T00:00:00Z'" >/dev/null
want "$(Q "select count(*) || ':' || sum(amount2) from analytics.stg_events")" "4:32" "view sees new upstream rows"
want "$(Q "select count(*) from analytics.stg_big")" "3" "view over view sees new rows"
want "$(Q "select group_concat(id, '-') from (select id from analytics.stg_big where kind = 'B' order by id)")" "2-4" "pushed filter through views"
# the downstream table changes only when it is rebuilt
want "$(Q "select sum(n) from analytics.agg")" "2" "table before rebuild"
"$K" run --project-dir "$P" --profiles-dir "$P" --select agg >/dev/null
want "$(Q "select group_concat(kind || n || '/' || total, ' ') from (select * from analytics.agg order by kind)")" \
  "A1/6 B2/24" "downstream model reads the view"

# table -> view: the table is dropped, the view created
[ -d "$W/analytics/flip" ] || fail "flip starts as a table"
out="$("$K" run --project-dir "$P" --profiles-dir "$P" --select flip --vars '{flip_mat: view}' 2>&1)" || { echo "$out"; fail "flip to view"; }
grep -q "OK created sql view model analytics.flip" <<<"$out" || { echo "$out"; fail "flip view line"; }
"$K" --warehouse "$W" table list analytics | grep -q "analytics.flip" && fail "table flip still listed"
ls "$W"/analytics/.views/flip/metadata/*.json >/dev/null || fail "flip view metadata"
want "$(Q "select count(*) from analytics.flip")" "4" "flip as a view"
# view -> table: the view is dropped
"$K" run --project-dir "$P" --profiles-dir "$P" --select flip >/dev/null
"$K" --warehouse "$W" table list analytics | grep -q "analytics.flip" || fail "flip is a table again"
out="$("$K" --warehouse "$W" sql -c "drop view analytics.flip" 2>&1)" && fail "flip view should be gone"
grep -q "is a table, not a view" <<<"$out" || { echo "$out"; fail "drop view of a table message"; }
want "$(Q "select count(*) from analytics.flip")" "4" "flip as a table"
# a second run replaces the view (a new version, same view-uuid)
"$K" run --project-dir "$P" --profiles-dir "$P" --select stg_events >/dev/null
ls "$W"/analytics/.views/stg_events/metadata/00002-*.metadata.json >/dev/null || fail "replace writes version 2"
python3 - "$W"/analytics/.views/stg_events/metadata/00002-*.metadata.json <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["current-version-id"] == 2 and len(m["versions"]) == 2 and len(m["version-log"]) == 2, m
assert m["versions"][1]["summary"]["operation"] == "replace", m["versions"][1]
EOF

# a session open before a view was created sees it (declared when a statement names it)
waitfor() { for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.1; done; }
waitline() { for _ in $(seq 300); do grep -qx "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; }
{ echo "select 1;"; waitfor "$T/c1"; echo "select count(*) from late.v;"; } | "$K" --warehouse "$W" sql --csv >"$T/s1.out" 2>&1 &
SP=$!; waitline "$T/s1.out" 1
"$K" --warehouse "$W" sql -c "create view late.v as select id from raw.events" >/dev/null; touch "$T/c1"; wait "$SP"
want "$(cat "$T/s1.out")" "$(printf '1\n1\ncount(*)\n4')" "a view created by another session"
# ... and a view another session replaced: the new definition, not the one it declared
{ echo "select max(id) from late.v;"; waitfor "$T/c2"; echo "select max(id) from late.v;"; } | "$K" --warehouse "$W" sql --csv >"$T/s2.out" 2>&1 &
SP=$!; waitline "$T/s2.out" 4
"$K" --warehouse "$W" sql -c "create or replace view late.v as select id * 100 as id from raw.events" >/dev/null; touch "$T/c2"; wait "$SP"
want "$(cat "$T/s2.out")" "$(printf 'max(id)\n4\nmax(id)\n400')" "a view replaced by another session"
# kiln SQL: errors name the statement
out="$("$K" --warehouse "$W" sql -c "create view analytics.stg_events as select 1 as x" 2>&1)" && fail "exists"
grep -q "already exists (CREATE OR REPLACE VIEW replaces it)" <<<"$out" || { echo "$out"; fail "exists msg"; }
out="$("$K" --warehouse "$W" sql -c "create or replace view analytics.stg_big as select * from analytics.stg_big" 2>&1)" &&
  fail "self reference"
grep -q "would read itself" <<<"$out" || { echo "$out"; fail "self reference msg"; }
out="$("$K" --warehouse "$W" sql -c "create view analytics.agg as select 1 as x" 2>&1)" && fail "over a table"
grep -q "a table named analytics.agg exists" <<<"$out" || { echo "$out"; fail "over a table msg"; }
out="$("$K" --warehouse "$W" sql -c "create view analytics.bad as select nope from raw.events" 2>&1)" && fail "bad column"
grep -q "no such column: nope" <<<"$out" || { echo "$out"; fail "bad column msg"; }
[ ! -e "$W/analytics/.views/bad" ] || fail "a failed CREATE VIEW leaves nothing"
want "$(Q "create view scratch.v2 as select count(*) as c from raw.events; select c from scratch.v2")" "4" "CREATE VIEW in kiln sql"
Q "drop view scratch.v2" >/dev/null
out="$("$K" --warehouse "$W" sql -c "select * from scratch.v2" 2>&1)" && fail "dropped view still there"

# the REST catalog lists and loads the views
"$K" --warehouse "$W" serve --listen 127.0.0.1:0 >"$T/serve.log" 2>&1 &
SPID=$!
for _ in $(seq 100); do grep -q "listening on" "$T/serve.log" && break; sleep 0.1; done
URL="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$T/serve.log" | head -1)"
[ -n "$URL" ] || { cat "$T/serve.log"; fail "serve did not start"; }
curl -sf "$URL/v1/namespaces/analytics/views" | python3 -c '
import json, sys
ids = sorted(i["name"] for i in json.load(sys.stdin)["identifiers"])
assert ids == ["stg_big", "stg_events"], ids'
curl -sf "$URL/v1/namespaces/analytics/views/stg_events" | python3 -c '
import json, sys
m = json.load(sys.stdin)["metadata"]
v = [x for x in m["versions"] if x["version-id"] == m["current-version-id"]][0]
r = v["representations"][0]
assert r["type"] == "sql" and r["dialect"] == "kiln" and "upper(kind)" in r["sql"], r
assert v["default-namespace"] == ["analytics"], v
s = [x for x in m["schemas"] if x["schema-id"] == v["schema-id"]][0]
assert [f["name"] for f in s["fields"]] == ["id", "kind", "amount2", "created_at"], s'
kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=""
echo "models_view: ok"
