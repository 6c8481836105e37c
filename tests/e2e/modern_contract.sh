#!/usr/bin/env bash
# Model contracts (contract: {enforced: true}) on tests/models/modern_unit's
# customer_dim: columns in the contract's order and types (Iceberg long,
# string, double); then each broken build fails before anything is
# committed (the table keeps its snapshot), with dbt's mismatch table:
# a data type mismatch, a column missing in the contract, one missing in
# the definition; constraint violations (not_null, primary_key, check,
# model-level unique); a column without data_type; the manifest's
# contract/constraints validate against dbt's schema.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/modern_unit" "$tmp/p"; P="$tmp/p"; M="$P/models/customer_dim.sql"
"$KILN_BIN" build --project-dir "$P" > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "build"; }
grep -q 'OK created sql table model analytics.customer_dim' "$tmp/b1.txt" || fail "customer_dim not built"
"$KILN_BIN" table describe --warehouse "$P/warehouse" analytics.customer_dim > "$tmp/d.txt"
[ "$(awk '$1 ~ /^[0-9]+$/ && NF == 3 {print $2 ":" $3}' "$tmp/d.txt" | tr '\n' ' ')" = "customer_id:long tier:string total:double " ] ||
  { cat "$tmp/d.txt"; fail "contract order/types"; }
node "$KILN_ROOT/tests/node/dbt_schema_validate.mjs" "$KILN_ROOT/tests/data/dbt-schemas/manifest-v12.json" "$P/target/manifest.json" >/dev/null ||
  fail "manifest.json with a contract does not validate"
python3 - "$P/target/manifest.json" <<'PY' || fail "manifest contract"
import json, sys
n = json.load(open(sys.argv[1]))["nodes"]["model.modern.customer_dim"]
assert n["contract"]["enforced"] is True and len(n["contract"]["checksum"]) == 64, n["contract"]
assert n["columns"]["customer_id"]["data_type"] == "int", n["columns"]
assert [c["type"] for c in n["columns"]["customer_id"]["constraints"]] == ["not_null", "primary_key"]
assert n["constraints"][0]["type"] == "unique" and n["constraints"][0]["columns"] == ["customer_id", "tier"]
PY
snap() { "$KILN_BIN" table describe --warehouse "$P/warehouse" "analytics.$1" | awk '$1 == "current" {print $2}'; }
before=$(snap customer_dim)
cp "$M" "$tmp/orig.sql"
broken() { # name, expected text...
  local name="$1"; shift
  set +e; "$KILN_BIN" run --project-dir "$P" -s customer_dim > "$tmp/$name.txt" 2>&1; local rc=$?; set -e
  [ "$rc" = 1 ] || { cat "$tmp/$name.txt"; fail "$name: exit $rc"; }
  for want in "$@"; do grep -qF -- "$want" "$tmp/$name.txt" || { cat "$tmp/$name.txt"; fail "$name: no '$want'"; }; done
  [ "$(snap customer_dim)" = "$before" ] || fail "$name: the table changed"
  cp "$tmp/orig.sql" "$M"
}
sed -i "s/select customer_id, total,/select customer_id, 'x' || total as total,/" "$M"
broken type "enforced contract that failed" "| total | TEXT | double | data type mismatch |"
sed -i "s/select customer_id, total,/select customer_id, total, 1 as extra,/" "$M"
broken extra "| extra | INTEGER |  | missing in contract |"
sed -i "s/select customer_id, total,/select customer_id, total as amount,/" "$M"
broken missing "| total |  | double | missing in definition |" "| amount | INTEGER |  | missing in contract |"
sed -i "s/select customer_id, total,/select case when customer_id = 10 then null else customer_id end as customer_id, total,/" "$M"
broken notnull "violates its contract's constraints" "not_null on customer_id: 1 NULL row" "primary_key on customer_id: 1 NULL row"
printf 'select customer_id, total, tier from (select customer_id, total, '"'"'a'"'"' as tier from {{ ref('"'"'customer_totals'"'"') }} union all select 10, 1, '"'"'a'"'"')\n' > "$M"
broken dup "primary_key on (\"customer_id\"): 1 duplicated value" "unique on (\"customer_id\", \"tier\"): 1 duplicated value"
sed -i "s/select customer_id, total,/select customer_id, -total as total,/" "$M"
broken check "check (total >= 0): 3 rows violate it"
sed -i 's/        data_type: varchar(8)/        description: no type/' "$P/models/contracts.yml"
broken notype "column 'tier' needs a data_type"
echo "modern_contract: ok"
