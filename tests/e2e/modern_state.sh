#!/usr/bin/env bash
# state: selection refinements (issue 19) on tests/models/modern_unit:
#  - a whitespace-only edit of a model is not state:modified (no false
#    positive; a comment still counts, as in dbt);
#  - state:modified.macros: the models that call a changed macro
#    (directly, or through another macro);
#  - state:modified.contract: a changed contract data_type;
#  - state:modified includes the contract change.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/modern_unit" "$tmp/p"; P="$tmp/p"
"$KILN_BIN" compile --project-dir "$P" > /dev/null || fail compile
cp -r "$P/target" "$tmp/prev"
ls_() { "$KILN_BIN" ls --project-dir "$P" --state "$tmp/prev" --resource-type model "$@" | tr '\n' ' '; }
[ -z "$(ls_ -s state:modified)" ] || fail "unchanged: $(ls_ -s state:modified)"
# whitespace: reflow customer_report over more lines and indent
sed -i 's/^select customer_id, /select\n    customer_id,   /' "$P/models/customer_report.sql"
sed -i 's/^from /from\t\t/' "$P/models/customer_report.sql"
grep -q "^    customer_id," "$P/models/customer_report.sql" || fail "fixture edit did not apply"
[ -z "$(ls_ -s state:modified)" ] || fail "whitespace edit is modified: $(ls_ -s state:modified)"
# a macro: cents() is called by customer_totals; region() by customer_report
sed -i 's/({{ col }} \* 100)/({{ col }} * 100.0)/' "$P/macros/cents.sql"
[ "$(ls_ -s state:modified.macros)" = "modern.customer_totals " ] || fail "modified.macros: $(ls_ -s state:modified.macros)"
[ "$(ls_ -s state:modified.body)" = "" ] || fail "a macro edit is not a body edit"
# through another macro: region() now calls cents()
cp "$KILN_ROOT/tests/models/modern_unit/macros/cents.sql" "$P/macros/cents.sql"
sed -i "s/{% macro region() %}'eu'{% endmacro %}/{% macro region() %}{{ cents('1') }}{% endmacro %}/" "$P/macros/cents.sql"
[ "$(ls_ -s state:modified.macros)" = "modern.customer_report " ] || fail "macro via macro: $(ls_ -s state:modified.macros)"
cp "$KILN_ROOT/tests/models/modern_unit/macros/cents.sql" "$P/macros/cents.sql"
# the contract
sed -i 's/        data_type: varchar(8)/        data_type: text/' "$P/models/contracts.yml"
[ "$(ls_ -s state:modified.contract)" = "modern.customer_dim " ] || fail "modified.contract: $(ls_ -s state:modified.contract)"
[ "$(ls_ -s state:modified)" = "modern.customer_dim " ] || fail "modified: $(ls_ -s state:modified)"
echo "modern_state: ok"
