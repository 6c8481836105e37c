#!/usr/bin/env bash
# Incremental models whose columns change between runs, and insert_overwrite:
#  - on_schema_change: append_new_columns adds the model's new column to the
#    Iceberg table (typed from its values) and keeps a column the model no
#    longer returns (NULL in the new rows); old rows get NULL in the new one;
#  - sync_all_columns adds new columns and drops the vanished ones;
#  - an unknown on_schema_change value is an error naming it;
#  - incremental_strategy insert_overwrite replaces exactly the partitions
#    (partition_by columns) present in the new rows, other days untouched,
#    NULL partitions matched; without partition_by it replaces the table;
#  - partition_by gives the table its Iceberg partition spec (identity, or
#    month(ts) from BigQuery's mapping); insert_overwrite on a month grain
#    is refused and leaves the table as it was.
# Every table is compared with a Python computation over the seed rows.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="${KEEP_TMP:-$(mktemp -d)}"; [ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
P="$tmp/p"; mkdir -p "$P/models" "$P/seeds"
printf 'name: osc\nprofile: osc\nmodels:\n  osc:\n    +materialized: incremental\n' > "$P/dbt_project.yml"
printf 'osc:\n  target: dev\n  outputs:\n    dev: {type: kiln, warehouse: warehouse, schema: analytics}\n' > "$P/profiles.yml"
cat > "$P/seeds/events.csv" <<'CSV'
id,day,repo,amount
1,2025-10-01,a,5
2,2025-10-01,b,3
3,2025-10-02,a,7
4,,a,1
CSV
build() { "$KILN_BIN" build --project-dir "$P" "$@" > "$tmp/out.txt" 2>&1 || { cat "$tmp/out.txt"; fail "build $*"; }; }
q() { "$KILN_BIN" sql --warehouse "$P/warehouse" --csv "$1"; }

# run 1: two columns
cat > "$P/models/app.sql" <<'SQL'
{{ config(unique_key='id', on_schema_change='append_new_columns') }}
select id, amount from {{ ref('events') }}
{% if is_incremental() %} where id > (select max(id) from {{ this }}) {% endif %}
SQL
cat > "$P/models/syn.sql" <<'SQL'
{{ config(unique_key='id', incremental_strategy='merge', on_schema_change='sync_all_columns') }}
select id, amount, repo from {{ ref('events') }}
SQL
cat > "$P/models/ovw.sql" <<'SQL'
{{ config(incremental_strategy='insert_overwrite', partition_by=['day']) }}
select day, repo, sum(amount) as total from {{ ref('events') }}
{% if is_incremental() %} where day = '2025-10-02' or day is null {% endif %}
group by day, repo
SQL
cat > "$P/models/whole.sql" <<'SQL'
{{ config(incremental_strategy='insert_overwrite') }}
select count(*) as n from {{ ref('events') }}
SQL
build
# new rows: id 5 (a new day, a late event of 2025-10-02 and of the NULL day)
cat >> "$P/seeds/events.csv" <<'CSV'
5,2025-10-02,b,10
6,2025-10-03,a,2
7,,b,4
CSV
# run 2: app gains `repo` (text) and `doubled` (integer), and drops amount;
# syn gains `day` and drops `repo`
cat > "$P/models/app.sql" <<'SQL'
{{ config(unique_key='id', on_schema_change='append_new_columns') }}
select id, repo, amount * 2 as doubled from {{ ref('events') }}
{% if is_incremental() %} where id > (select max(id) from {{ this }}) {% endif %}
SQL
cat > "$P/models/syn.sql" <<'SQL'
{{ config(unique_key='id', incremental_strategy='merge', on_schema_change='sync_all_columns') }}
select id, amount, day from {{ ref('events') }} where id >= 3
SQL
build
grep -q 'ERROR=0' "$tmp/out.txt" || { cat "$tmp/out.txt"; fail "second build"; }
q "select * from analytics.app order by id" > "$tmp/app.csv"
q "select * from analytics.syn order by id" > "$tmp/syn.csv"
q "select * from analytics.ovw order by day, repo" > "$tmp/ovw.csv"
q "select * from analytics.whole" > "$tmp/whole.csv"
"$KILN_BIN" table describe --warehouse "$P/warehouse" analytics.app > "$tmp/app.desc"
python3 - "$P/seeds/events.csv" "$tmp" <<'PY'
import csv, sys, os
ev = list(csv.DictReader(open(sys.argv[1])))
t = sys.argv[2]
rd = lambda f: list(csv.reader(open(os.path.join(t, f))))
first = [e for e in ev if int(e["id"]) <= 4]
# app: run 1 wrote (id, amount); run 2 added repo and doubled (NULL for old
# rows), kept amount (NULL for the new rows)
want = [["id", "amount", "repo", "doubled"]]
want += [[e["id"], e["amount"], "", ""] for e in first]
want += [[e["id"], "", e["repo"], str(2 * int(e["amount"]))] for e in ev if int(e["id"]) > 4]
assert rd("app.csv") == want, (rd("app.csv"), want)
# syn: run 2 merged ids >= 3; repo dropped, day added (NULL for ids 1, 2)
want = [["id", "amount", "day"]]
for e in ev:
    i = int(e["id"])
    want.append([e["id"], e["amount"], e["day"] if i >= 3 else ""])
assert rd("syn.csv") == want, (rd("syn.csv"), want)
# ovw: run 1 all days; run 2 replaced the 2025-10-02 and NULL-day partitions
def agg(rows):
    d = {}
    for e in rows:
        k = (e["day"], e["repo"]); d[k] = d.get(k, 0) + int(e["amount"])
    return d
old = {k: v for k, v in agg(first).items() if k[0] not in ("2025-10-02", "")}
new = agg([e for e in ev if e["day"] in ("2025-10-02", "")])
allr = {**old, **new}
want = [["day", "repo", "total"]] + [[k[0], k[1], str(v)] for k, v in sorted(allr.items(), key=lambda kv: (kv[0][0] != "", kv[0]))]
got = rd("ovw.csv")
assert got[0] == want[0] and sorted(got[1:]) == sorted(want[1:]), (got, want)
assert ("2025-10-03", "a") not in allr  # the new day was not in the incremental filter
assert rd("whole.csv") == [["n"], [str(len(ev))]], rd("whole.csv")
PY
grep -qE 'repo +string' "$tmp/app.desc" && grep -qE 'doubled +long' "$tmp/app.desc" || { cat "$tmp/app.desc"; fail "new column types"; }

# partition_by makes the Iceberg partition spec: identity for columns,
# BigQuery's mapping a transform; insert_overwrite refuses a month grain
"$KILN_BIN" table describe --warehouse "$P/warehouse" analytics.ovw | grep -qE 'identity\(day\)' || fail "ovw spec"
cat > "$P/models/monthly.sql" <<'SQL'
{{ config(materialized='table', partition_by={'field': 'ts', 'data_type': 'timestamp', 'granularity': 'month'}) }}
select id, '2025-10-0' || id || 'T10:00:00Z' as ts from {{ ref('events') }} where id < 8
SQL
"$KILN_BIN" run --project-dir "$P" -s monthly > "$tmp/m.txt" || { cat "$tmp/m.txt"; fail "monthly"; }
"$KILN_BIN" table describe --warehouse "$P/warehouse" analytics.monthly | grep -qE 'month\(ts\)' || fail "monthly spec"
sed -i "s/config(materialized='table', partition_by/config(materialized='incremental', incremental_strategy='insert_overwrite', partition_by/" "$P/models/monthly.sql"
set +e
"$KILN_BIN" run --project-dir "$P" -s monthly > "$tmp/m2.txt" 2>&1; rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'insert_overwrite on a partition_by of data_type timestamp, granularity month is not supported' "$tmp/m2.txt" ||
  { cat "$tmp/m2.txt"; fail "insert_overwrite on months"; }
[ "$(q 'select count(*) as n from analytics.monthly' | tail -1)" = 7 ] || fail "monthly changed after a failed run"

# an unknown on_schema_change
sed -i "s/on_schema_change='append_new_columns'/on_schema_change='sometimes'/" "$P/models/app.sql"
sed -i "s/select id, repo, amount \* 2 as doubled/select id, repo/" "$P/models/app.sql"
set +e
"$KILN_BIN" run --project-dir "$P" -s app > "$tmp/bad.txt" 2>&1; rc=$?
set -e
[ "$rc" = 1 ] || { cat "$tmp/bad.txt"; fail "unknown on_schema_change exit $rc"; }
grep -q "on_schema_change: 'sometimes' is not one of ignore, fail, append_new_columns, sync_all_columns" "$tmp/bad.txt" ||
  { cat "$tmp/bad.txt"; fail "unknown on_schema_change message"; }
echo "models_schema_change: ok"
