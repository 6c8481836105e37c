#!/usr/bin/env bash
# kiln docs generate on the tutorial project (with a source added): the files
# it writes (manifest.json, catalog.json, index.html with everything inline:
# no <script src>, <link>, or http(s) URL to load), the data in the page
# escaped so no value can close its script element; then the page in
# headless Chromium (Debian `chromium`, npm playwright-core:
# tests/node/models_docs_ui.mjs) from file://: overview, search a model,
# columns with types/descriptions/tests, compiled SQL, click through the
# lineage graph, a source page, markup in a description shown as text, no
# network request, no console error. Screenshots go to $KILN_ARTIFACTS when
# set. A project error (unknown ref) is reported with its position, exit 1,
# and writes no site.
set -euo pipefail
: "${KILN_BIN:?}" "${KILN_ROOT:?}"
CHROMIUM="${CHROMIUM:-$(command -v chromium || true)}"
[ -n "$CHROMIUM" ] || { echo "models_docs: chromium is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$KILN_ROOT/tests/models/jaffle" "$tmp/p"; P="$tmp/p"
cat > "$P/models/sources.yml" <<'YML'
version: 2
sources:
  - name: shop
    schema: analytics
    loaded_at_field: order_date
    freshness:
      warn_after: {count: 12, period: hour}
    tables:
      - name: raw_orders_src
        identifier: raw_orders
        description: "Orders as loaded. <b>bold?</b> </script><script>window.pwned=1</script>"
        columns:
          - name: id
            description: the order
            tests: [unique]
YML
"$KILN_BIN" build --project-dir "$P" > "$tmp/build.txt" || { cat "$tmp/build.txt"; fail "build"; }
"$KILN_BIN" docs generate --project-dir "$P" > "$tmp/docs.txt" || { cat "$tmp/docs.txt"; fail "docs generate"; }
grep -q '^Found 5 models, 3 seeds, 21 data tests, 1 sources$' "$tmp/docs.txt" || { cat "$tmp/docs.txt"; fail "found line"; }
grep -q "Docs site written to .*/target/index.html" "$tmp/docs.txt" || fail "site line"
for f in index.html manifest.json catalog.json compiled/jaffle_shop/models/customers.sql; do
  [ -s "$P/target/$f" ] || fail "target/$f not written"
done
H="$P/target/index.html"
grep -qiE '<script[^>]+src=|<link |@import|url\(http|src="http|href="http' "$H" && fail "index.html loads something from outside"
[ "$(grep -o '</script>' "$H" | wc -l)" = 2 ] || fail "a value closed a script element"
grep -q 'window.pwned' "$H" || fail "the description is not in the page"
node "$KILN_ROOT/tests/node/models_docs_ui.mjs" "$H" "${KILN_ARTIFACTS:-$tmp}" "$CHROMIUM"

# a broken project: error with position, exit 1, no site written
rm -rf "$P/target"
echo "select * from {{ ref('nope') }}" > "$P/models/broken.sql"
set +e
"$KILN_BIN" docs generate --project-dir "$P" > "$tmp/bad.txt" 2>&1; rc=$?
set -e
[ "$rc" = 1 ] || { cat "$tmp/bad.txt"; fail "broken project exit $rc"; }
grep -q "models/broken.sql:1:.*'nope'" "$tmp/bad.txt" || { cat "$tmp/bad.txt"; fail "error position"; }
[ ! -e "$P/target/index.html" ] || fail "a site was written for a broken project"
echo "models_docs: ok"
