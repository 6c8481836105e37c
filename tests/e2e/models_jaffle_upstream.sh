#!/usr/bin/env bash
# dbt-labs/jaffle_shop (tests/models/jaffle_shop_upstream, unchanged but for
# a kiln profile): `kiln build` gives dbt's published result, PASS=28, in the
# order dbt runs it with one thread (../shared/reference/dbt.md §14), and
# the customers table equals a computation over the seed files in Python
# (with SQLite's integer division of amount / 100, as on dbt-sqlite).
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/jaffle_shop_upstream" "$tmp/p"; P="$tmp/p"
"$KILN_BIN" build --project-dir "$P" > "$tmp/out.txt" || { cat "$tmp/out.txt"; fail "build"; }
grep -q '^Found 5 models, 3 seeds, 20 data tests, 0 sources$' "$tmp/out.txt" || fail "Found line"
grep -q '^Finished running 3 seeds, 3 view models, 20 data tests, 2 table models' "$tmp/out.txt" || fail "Finished line"
grep -q '^Done. PASS=28 WARN=0 ERROR=0 SKIP=0 TOTAL=28$' "$tmp/out.txt" || fail "$(tail -1 "$tmp/out.txt")"
# dbt's order (seeds, staging models, their tests, marts, their tests)
sed -nE 's/^[0-9]+ of 28 (OK loaded seed file|OK created sql (view|table) model|PASS) ([a-z_.]+) .*/\3/p' "$tmp/out.txt" \
  | sed 's/^analytics\.//' > "$tmp/order.txt"
cat > "$tmp/want.txt" <<'ORDER'
raw_customers
raw_orders
raw_payments
stg_customers
stg_orders
stg_payments
accepted_values_stg_orders_status__placed__shipped__completed__return_pending__returned
accepted_values_stg_payments_payment_method__credit_card__coupon__bank_transfer__gift_card
not_null_stg_customers_customer_id
not_null_stg_orders_order_id
not_null_stg_payments_payment_id
unique_stg_customers_customer_id
unique_stg_orders_order_id
unique_stg_payments_payment_id
customers
orders
accepted_values_orders_status__placed__shipped__completed__return_pending__returned
not_null_customers_customer_id
not_null_orders_amount
not_null_orders_bank_transfer_amount
not_null_orders_coupon_amount
not_null_orders_credit_card_amount
not_null_orders_customer_id
not_null_orders_gift_card_amount
not_null_orders_order_id
relationships_orders_customer_id__customer_id__ref_customers_
unique_customers_customer_id
unique_orders_order_id
ORDER
diff "$tmp/want.txt" "$tmp/order.txt" || fail "order differs from dbt's"
"$KILN_BIN" sql --warehouse "$P/warehouse" --csv \
  "select customer_id, first_order, most_recent_order, number_of_orders, customer_lifetime_value from analytics.customers order by customer_id" > "$tmp/customers.csv"
python3 - "$P/seeds" "$tmp/customers.csv" <<'PY'
import csv, sys, os
seeds, got_path = sys.argv[1], sys.argv[2]
rd = lambda f: list(csv.DictReader(open(os.path.join(seeds, f), newline='')))
cust, orders, pays = rd("raw_customers.csv"), rd("raw_orders.csv"), rd("raw_payments.csv")
fmt = lambda v: "" if v is None else str(v)
want = [["customer_id", "first_order", "most_recent_order", "number_of_orders", "customer_lifetime_value"]]
for c in sorted(cust, key=lambda c: int(c["id"])):
    os_ = [o for o in orders if o["user_id"] == c["id"]]
    ids = {o["id"] for o in os_}
    ps = [int(p["amount"]) // 100 for p in pays if p["order_id"] in ids]
    want.append([c["id"], fmt(min((o["order_date"] for o in os_), default=None)),
                 fmt(max((o["order_date"] for o in os_), default=None)), fmt(len(os_) if os_ else None),
                 fmt(sum(ps) if ps else None)])
got = list(csv.reader(open(got_path)))
assert got == want, "\n".join(f"{a} != {b}" for a, b in zip(got, want) if a != b)
print(f"{len(got) - 1} customers equal")
PY
echo ok
