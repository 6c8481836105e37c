#!/usr/bin/env bash
# Packages (tests/models/packages): a package installed in dbt_packages/
# (kiln_utils, a small fixture package of our own) and a packages.yml
# `local:` package (shop_macros); their macros called namespaced
# (kiln_utils.generate_surrogate_key, shop_macros.to_cents), a package
# macro calling its own helpers unqualified, adapter.dispatch with
# macro_namespace where the root project's kiln__ implementation wins
# over the package's default__ (dbt's search order), generic tests from a
# package in YAML (kiln_utils.expression_is_true, at_least_rows) named as
# dbt names them. A package test that fails gates like any other; an
# unknown package test is an error naming the file and position.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cp -r "$KILN_ROOT/tests/models/packages" "$tmp/p"
P="$tmp/p"; W="$P/warehouse"
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { "$KILN_BIN" sql --warehouse "$W" --csv "$1" | tail -n +2; }

"$KILN_BIN" build --project-dir "$P" > "$tmp/b1.txt" || { cat "$tmp/b1.txt"; fail "build"; }
grep -q 'Done. PASS=7 WARN=0 ERROR=0 SKIP=0 TOTAL=7' "$tmp/b1.txt" || fail "summary: $(cat "$tmp/b1.txt")"
grep -q 'PASS kiln_utils_expression_is_true_people_amount_cents_1000 ' "$tmp/b1.txt" || fail "package test name"
grep -q 'PASS kiln_utils_at_least_rows_people_3 ' "$tmp/b1.txt" || fail "package test name 2"
q 'select id, person_key, display_name, amount_cents from analytics.people order by id' > "$tmp/got.csv"
python3 - "$tmp/got.csv" <<'PY' || fail "people: $(cat "$tmp/got.csv")"
import csv, hashlib, sys
rows = list(csv.reader(open(sys.argv[1])))
want = []
for i, first, last, amount in [(1, "Ada", "Lovelace", 10), (2, "Alan", "Turing", 25), (3, "Grace", None, 40)]:
    key = hashlib.md5(("%d-%s" % (i, last if last is not None else "_null_")).encode()).hexdigest()
    name = "%s, %s" % (last.upper(), first) if last else ""
    want.append([str(i), key, name, str(amount * 100)])
assert rows == want, (rows, want)
PY

# a failing package test gates: FAIL, exit 1
sed -i 's/^3,Grace,,40$/3,Grace,,4/' "$P/seeds/raw_people.csv"
r=0; "$KILN_BIN" build --project-dir "$P" > "$tmp/b2.txt" || r=$?
[ "$r" = 1 ] || fail "failing package test: exit $r"
grep -q 'FAIL 1 kiln_utils_expression_is_true_people_amount_cents_1000 ' "$tmp/b2.txt" || fail "no FAIL: $(cat "$tmp/b2.txt")"

# an unknown package test
sed -i 's/kiln_utils.at_least_rows/kiln_utils.no_such_test/' "$P/models/schema.yml"
r=0; "$KILN_BIN" compile --project-dir "$P" > /dev/null 2> "$tmp/e.txt" || r=$?
[ "$r" = 1 ] || fail "unknown package test: exit $r"
grep -q "models/schema.yml:[0-9]*:[0-9]*: unknown test 'kiln_utils.no_such_test'" "$tmp/e.txt" || fail "message: $(cat "$tmp/e.txt")"
echo "ok models_packages"
