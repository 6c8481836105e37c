#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# dbt's artifacts as kiln writes them, checked against dbt's published JSON
# schemas (tests/data/dbt-schemas, dbt-core v1.8.9) by an independent
# validator (ajv, tests/node/dbt_schema_validate.mjs):
#  - manifest.json (v12) and run_results.json (v6) of `kiln build` on the
#    tutorial project with a source (freshness config), a singular test and an
#    ephemeral model added; on the snapshot and incremental projects; and of a
#    failing build (error and skipped results);
#  - catalog.json (v1) of `kiln docs generate`: every built relation with its
#    columns in table order and their Iceberg types, equal to what the tables'
#    metadata files say (read with Python from catalog.db, not through kiln);
#    row counts; sources; nothing for ephemeral models; an unbuilt project
#    gives an empty catalog.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
S="$KILN_ROOT/tests/data/dbt-schemas"
validate() { node "$KILN_ROOT/tests/node/dbt_schema_validate.mjs" "$@" >/dev/null || fail "schema validation: $*"; }
cp -r "$KILN_ROOT/tests/models/jaffle" "$tmp/p"; P="$tmp/p"
cat > "$P/models/sources.yml" <<'YML'
version: 2
sources:
  - name: shop
    schema: analytics
    loaded_at_field: order_date
    freshness:
      warn_after: {count: 12, period: hour}
      error_after: {count: 2, period: day}
    tables:
      - name: raw_orders_src
        identifier: raw_orders
        description: Orders as loaded
        columns:
          - name: id
            tests: [unique, not_null]
      - name: raw_customers
        freshness: null
YML
mkdir -p "$P/tests"
echo "select * from {{ ref('orders') }} where amount < 0" > "$P/tests/assert_no_negative_amounts.sql"
cat > "$P/models/order_ids.sql" <<'SQL'
{{ config(materialized='ephemeral') }}
select id as order_id from {{ source('shop', 'raw_orders_src') }}
SQL
cat > "$P/models/order_count.sql" <<'SQL'
select count(*) as n from {{ ref('order_ids') }}
SQL

# docs generate before anything is built: a catalog with no relations
"$KILN_BIN" docs generate --project-dir "$P" > "$tmp/docs0.txt" || { cat "$tmp/docs0.txt"; fail "docs generate (unbuilt)"; }
validate "$S/catalog-v1.json" "$P/target/catalog.json" "$S/manifest-v12.json" "$P/target/manifest.json"
python3 -c "import json,sys; c=json.load(open(sys.argv[1])); assert c['nodes']=={} and c['sources']=={}, c" "$P/target/catalog.json" ||
  fail "catalog of an unbuilt project is not empty"

"$KILN_BIN" build --project-dir "$P" > "$tmp/build.txt" || { cat "$tmp/build.txt"; fail "build failed"; }
grep -q '^Done. PASS=32 WARN=0 ERROR=0 SKIP=0 TOTAL=32$' "$tmp/build.txt" || { cat "$tmp/build.txt"; fail "not PASS=32"; }
validate "$S/manifest-v12.json" "$P/target/manifest.json" "$S/run-results-v6.json" "$P/target/run_results.json"
"$KILN_BIN" docs generate --project-dir "$P" > "$tmp/docs.txt" || { cat "$tmp/docs.txt"; fail "docs generate"; }
grep -q 'Catalog: 11 relations found in the warehouse' "$tmp/docs.txt" || { cat "$tmp/docs.txt"; fail "catalog count"; }
validate "$S/catalog-v1.json" "$P/target/catalog.json" "$S/manifest-v12.json" "$P/target/manifest.json"

python3 - "$P" <<'PY'
import json, sys, os, sqlite3
P = sys.argv[1]
t = os.path.join(P, "target")
m = json.load(open(os.path.join(t, "manifest.json")))
c = json.load(open(os.path.join(t, "catalog.json")))
# manifest: the source with its freshness, the singular test, the ephemeral model
s = m["sources"]["source.jaffle_shop.shop.raw_orders_src"]
assert s["loaded_at_field"] == "order_date", s
assert s["freshness"] == {"warn_after": {"count": 12, "period": "hour"}, "error_after": {"count": 2, "period": "day"},
                          "filter": None}, s["freshness"]
assert s["relation_name"] == "analytics.raw_orders" and s["identifier"] == "raw_orders"
assert m["sources"]["source.jaffle_shop.shop.raw_customers"]["freshness"] is None
# the project's macros, with their text (dbt's own built-ins are not listed)
mac = m["macros"]["macro.jaffle_shop.cents_to_dollars"]
assert mac["original_file_path"] == "macros/cents_to_dollars.sql" and mac["resource_type"] == "macro", mac
assert mac["macro_sql"].startswith("{% macro cents_to_dollars(") and mac["macro_sql"].endswith("{%- endmacro %}"), mac
sing = m["nodes"]["test.jaffle_shop.assert_no_negative_amounts"]
assert "test_metadata" not in sing and sing["depends_on"]["nodes"] == ["model.jaffle_shop.orders"], sing
assert m["nodes"]["model.jaffle_shop.order_ids"]["config"]["materialized"] == "ephemeral"
assert "seed.jaffle_shop.raw_orders" in m["parent_map"]["model.jaffle_shop.stg_orders"]
# catalog: every built relation, none for the ephemeral model or the tests
want_nodes = {"seed.jaffle_shop.raw_customers", "seed.jaffle_shop.raw_orders", "seed.jaffle_shop.raw_payments",
              "model.jaffle_shop.stg_customers", "model.jaffle_shop.stg_orders", "model.jaffle_shop.stg_payments",
              "model.jaffle_shop.customers", "model.jaffle_shop.orders", "model.jaffle_shop.order_count"}
assert set(c["nodes"]) == want_nodes, set(c["nodes"]) ^ want_nodes
assert set(c["sources"]) == {"source.jaffle_shop.shop.raw_orders_src", "source.jaffle_shop.shop.raw_customers"}, c["sources"].keys()
# ... with the columns and types the Iceberg metadata holds (read directly)
db = sqlite3.connect(os.path.join(P, "warehouse", "catalog.db"))
def iceberg_schema(ns, name):
    loc, = db.execute("select metadata_location from iceberg_tables where table_namespace=? and table_name=?",
                      (ns, name)).fetchone()
    meta = json.load(open(loc.replace("file://", "")))
    sc = [s for s in meta["schemas"] if s["schema-id"] == meta["current-schema-id"]][0]
    snap = [s for s in meta["snapshots"] if s["snapshot-id"] == meta["current-snapshot-id"]][0]
    return [(f["name"], f["type"]) for f in sc["fields"]], int(snap["summary"]["total-records"])
def view_schema(ns, name):
    loc, = db.execute("select metadata_location from kiln_views where view_namespace=? and view_name=?",
                      (ns, name)).fetchone()
    meta = json.load(open(loc.replace("file://", "")))
    ver = [v for v in meta["versions"] if v["version-id"] == meta["current-version-id"]][0]
    sc = [s for s in meta["schemas"] if s["schema-id"] == ver["schema-id"]][0]
    return [(f["name"], f["type"]) for f in sc["fields"]]
views = {"model.jaffle_shop.stg_customers", "model.jaffle_shop.stg_orders", "model.jaffle_shop.stg_payments"}
for uid, e in list(c["nodes"].items()) + list(c["sources"].items()):
    md = e["metadata"]
    assert e["unique_id"] == uid and md["type"] == ("view" if uid in views else "table") and md["schema"] == "analytics", e
    if uid in views:  # view models are Iceberg views: columns from the view's schema, no stats
        fields = view_schema(md["schema"], md["name"])
        got = sorted(((v["index"], v["name"], v["type"]) for v in e["columns"].values()))
        assert got == [(i + 1, n, ty) for i, (n, ty) in enumerate(fields)], (uid, got, fields)
        assert e["stats"]["has_stats"]["value"] is False, e["stats"]
        continue
    fields, rows = iceberg_schema(md["schema"], md["name"])
    got = sorted(((v["index"], v["name"], v["type"]) for v in e["columns"].values()))
    assert got == [(i + 1, n, ty) for i, (n, ty) in enumerate(fields)], (uid, got, fields)
    assert e["stats"]["num_rows"]["value"] == rows and e["stats"]["has_stats"]["value"] is True, e["stats"]
cust = c["nodes"]["model.jaffle_shop.customers"]
assert [k for k in cust["columns"]] == ["customer_id", "first_name", "last_name", "first_order", "most_recent_order",
                                       "number_of_orders", "customer_lifetime_value"], list(cust["columns"])
assert cust["columns"]["customer_lifetime_value"]["type"] == "double"
assert cust["stats"]["num_rows"]["value"] == 100 or cust["stats"]["num_rows"]["value"] > 0
assert c["sources"]["source.jaffle_shop.shop.raw_orders_src"]["metadata"]["name"] == "raw_orders"
assert c["nodes"]["model.jaffle_shop.order_count"]["columns"]["n"]["type"] == "long"
PY

# a failing build: run_results with error and skipped results still conforms
printf 'select nonexistent_column from {{ ref("stg_orders") }}\n' > "$P/models/stg_broken.sql"
printf 'select * from {{ ref("stg_broken") }}\n' > "$P/models/after_broken.sql"
set +e
"$KILN_BIN" build --project-dir "$P" > "$tmp/broken.txt"; rc=$?
set -e
[ "$rc" = 1 ] || { cat "$tmp/broken.txt"; fail "broken build exit $rc"; }
validate "$S/manifest-v12.json" "$P/target/manifest.json" "$S/run-results-v6.json" "$P/target/run_results.json"
python3 - "$P/target/run_results.json" <<'PY'
import json, sys
r = {x["unique_id"]: x for x in json.load(open(sys.argv[1]))["results"]}
assert r["model.jaffle_shop.stg_broken"]["status"] == "error" and "nonexistent_column" in r["model.jaffle_shop.stg_broken"]["message"]
assert r["model.jaffle_shop.after_broken"]["status"] == "skipped"
assert r["model.jaffle_shop.customers"]["status"] == "success"
PY

# the snapshot and incremental projects
for proj in snap incr; do
  cp -r "$KILN_ROOT/tests/models/$proj" "$tmp/$proj"
  "$KILN_BIN" build --project-dir "$tmp/$proj" > "$tmp/$proj.txt" || { cat "$tmp/$proj.txt"; fail "$proj build"; }
  "$KILN_BIN" build --project-dir "$tmp/$proj" > "$tmp/$proj.txt" || { cat "$tmp/$proj.txt"; fail "$proj rebuild"; }
  validate "$S/manifest-v12.json" "$tmp/$proj/target/manifest.json" "$S/run-results-v6.json" "$tmp/$proj/target/run_results.json"
  "$KILN_BIN" docs generate --project-dir "$tmp/$proj" > /dev/null || fail "$proj docs generate"
  validate "$S/catalog-v1.json" "$tmp/$proj/target/catalog.json"
done
python3 - "$tmp/snap/target" <<'PY'
import json, sys, os
m = json.load(open(os.path.join(sys.argv[1], "manifest.json")))
c = json.load(open(os.path.join(sys.argv[1], "catalog.json")))
snaps = [k for k, n in m["nodes"].items() if n["resource_type"] == "snapshot"]
assert snaps, "no snapshot in the manifest"
for s in snaps:
    cols = c["nodes"][s]["columns"]
    for k in ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to"):
        assert k in cols, (s, k, list(cols))
PY
echo "models_artifacts: ok"
