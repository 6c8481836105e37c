#!/usr/bin/env bash
# kiln lineage on tests/models/lineage (no warehouse needed: lineage reads
# the compiled SQL): renames, transforms, CTEs, SELECT *, aggregates,
# count(*) following rows, scalar subqueries, quoted names, UNION ALL,
# ephemeral models (inlined CTEs), sources (columns from YAML), seeds
# (columns from the CSV header); --downstream; --json; bad targets.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/lineage" "$T/p"; P="$T/p"
lin() { "$KILN_BIN" lineage --project-dir "$P" "$@"; }
# sources (depth >= 1) of a column as "relation.column" lines, sorted, from --json
srcs() { lin "$@" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("\n".join(sorted({c["relation"] + "." + c["column"] for c in d["columns"] if c["depth"] >= 1})))'; }
expect() { # TARGET [--downstream] -- WANT...
  local args=() want
  while [ "$1" != -- ]; do args+=("$1"); shift; done; shift
  want="$(printf '%s\n' "$@" | sort)"
  got="$(srcs "${args[@]}")"
  [ "$got" = "$want" ] || fail "lineage ${args[*]}: got [$(echo $got)], want [$(echo $want)]"
}

expect customer_orders.lifetime_value -- analytics.stg_orders.amount analytics.orders.amount
expect customer_orders.name -- analytics.stg_customers.customer_name analytics.customers.name
expect customer_orders.orders -- 'analytics.stg_orders.*' 'analytics.orders.*'
expect customer_orders.biggest -- analytics.stg_orders.amount analytics.orders.amount
expect 'customer_orders.Customer Key' -- analytics.stg_customers.customer_id analytics.customers.id
expect analytics.all_events.id -- analytics.stg_orders.id analytics.orders.id analytics.stg_customers.customer_id analytics.customers.id
expect all_events.kind --
expect by_country.country -- analytics.stg_customers.country analytics.customers.country
expect by_country.customers -- 'analytics.stg_customers.*' 'analytics.customers.*'
expect from_source.body -- raw.events.payload
expect from_source.n -- 'raw.events.*'
expect stg_orders.status -- analytics.orders.status
expect customers.name --downstream -- analytics.stg_customers.customer_name analytics.customer_orders.name
expect raw.events.payload --downstream -- analytics.from_source.body

# the text form: the path, the via chain (CTE and its expression), the expression
lin customer_orders.lifetime_value >"$T/t.txt"
diff -u - "$T/t.txt" <<'TXT' || fail "text output"
analytics.customer_orders.lifetime_value (model)
  = coalesce(o.total, 0)
  <- analytics.stg_orders.amount (model)
       via o.total = sum(amount)
    <- analytics.orders.amount (seed)
TXT
lin by_country.country | grep -q 'via __dbt__cte__eph.country' || fail "ephemeral CTE not in the via chain"
# JSON: fields tools read
lin customer_orders.name --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["direction"] == "upstream"
c = d["columns"]
assert c[0]["unique_id"] == "model.lin.customer_orders" and c[0]["depth"] == 0 and c[0]["from"] == -1, c[0]
assert c[1]["resource_type"] == "model" and c[1]["via"] == "c.customer_name" and c[1]["transformed"] is False, c[1]
assert c[2]["resource_type"] == "seed" and c[2]["unique_id"] == "seed.lin.customers" and c[2]["from"] == 1, c[2]
' || fail "json fields"

# bad targets
set +e
lin customer_orders.nope >"$T/o" 2>"$T/e"; rc=$?
set -e
[ "$rc" = 1 ] || fail "unknown column: exit $rc"
grep -q "customer_orders has no column 'nope' (columns: customer_id, name, lifetime_value" "$T/e" || fail "unknown column message: $(cat "$T/e")"
set +e; lin nosuch.col 2>"$T/e"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "no model, seed, snapshot or source named 'nosuch'" "$T/e" || fail "unknown model: $rc $(cat "$T/e")"
set +e; lin nodot 2>"$T/e"; rc=$?; set -e
[ "$rc" = 2 ] || fail "a target without a column: exit $rc"
set +e; lin 2>"$T/e"; rc=$?; set -e
[ "$rc" = 2 ] || fail "no target: exit $rc"
# nothing was built or written into a warehouse
[ ! -e "$P/warehouse" ] || fail "lineage created a warehouse"
echo "ok: lineage"
