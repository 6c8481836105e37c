#!/usr/bin/env bash
# interop_v3.sh - Iceberg format-version 3 tables (made without kiln by
# tests/node/iceberg_foreign.mjs: DuckDB Parquet, avsc manifests with the v3
# fields, row lineage in the metadata, a Puffin file of deletion-vector-v1
# blobs with Roaring bitmaps spanning several 16-bit containers): kiln reads
# them, applying each deletion vector to its own data file only; the rows
# equal DuckDB's read of the data files minus the deleted positions. kiln
# writes to it (append, delete: its vector merges the foreign one); new types
# it cannot represent are errors naming the column.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN}" "${KILN_ROOT:?set KILN_ROOT}"
cd "$KILN_ROOT"
[ -d tests/node/node_modules/@duckdb/node-api ] || { echo "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "interop_v3: $*" >&2; exit 1; }
K() { "$KILN_BIN" -w "$T/wh" "$@"; }

cat > "$T/spec.json" <<JSON
{"dir": "$T/v3", "format_version": 3,
 "schema": [{"id":1,"name":"f","required":false,"type":"string"},{"id":2,"name":"pos","required":false,"type":"long"}],
 "files": [{"name": "a.parquet", "sql": "SELECT 'a' AS f, i AS pos FROM range(100000) t(i)", "field_ids": "{f:1,pos:2}"},
           {"name": "b.parquet", "sql": "SELECT 'b' AS f, i AS pos FROM range(10) t(i)", "field_ids": "{f:1,pos:2}"}],
 "deletes": [{"file": "a.parquet", "positions": [0, 1, 2, 999, 65535, 65536, 70000, 99999]},
             {"file": "b.parquet", "positions": [3]}]}
JSON
node tests/node/iceberg_foreign.mjs "$T/spec.json"
grep -q '"format-version": 3' "$T/v3/metadata/v1.metadata.json" || fail "not a v3 table"
grep -q '"next-row-id"' "$T/v3/metadata/v1.metadata.json" || fail "no row lineage fields"

"$KILN_BIN" table scan --metadata "$T/v3/metadata/v1.metadata.json" > "$T/rows.csv"
[ "$(tail -n +2 "$T/rows.csv" | wc -l)" -eq $((100000 - 8 + 10 - 1)) ] || fail "row count $(tail -n +2 "$T/rows.csv" | wc -l)"
for gone in a,0 a,2 a,999 a,65535 a,65536 a,70000 a,99999 b,3; do
  grep -qx "$gone" "$T/rows.csv" && fail "deleted row $gone is still there"
done
for kept in a,3 a,65534 a,65537 b,0 b,9 a,3; do
  grep -qx "$kept" "$T/rows.csv" || fail "row $kept is missing"
done

# the same through the catalog and SQL
K table register t.v3 --metadata "$T/v3" >/dev/null
[ "$(K sql --csv "select count(*), sum(pos) from t.v3 where f = 'a'" | tail -1)" = "99992,4999647928" ] ||
  fail "sql over the v3 table (want sum 0..99999 - 302072): $(K sql --csv "select count(*), sum(pos) from t.v3 where f = 'a'")"

# kiln writes to the other engine's v3 table: an append (row ids from the
# table's next-row-id on) and a delete from b.parquet, whose vector (the
# foreign one, position 3) is merged into kiln's and replaced; an
# independent reader (avsc + DuckDB + CRoaring) agrees with kiln's rows and
# checks the row lineage
K table append t.v3 --input - <<< '{"f": "z", "pos": 1}' > /dev/null
K table delete t.v3 --where "f = 'b' and pos >= 8" > /dev/null
K table scan t.v3 --json > "$T/rows.ndjson"
[ "$(wc -l < "$T/rows.ndjson")" -eq $((100000 - 8 + 10 - 1 + 1 - 2)) ] || fail "rows after kiln's writes: $(wc -l < "$T/rows.ndjson")"
meta=$(ls "$T"/v3/metadata/v*.metadata.json | sort -V | tail -1)
node tests/node/iceberg_v3_check.mjs "$meta" "$T/rows.ndjson" > "$T/check" || fail "independent reader disagrees (foreign v3 table)"
grep -q '"deletion_vectors":2' "$T/check" || fail "want the foreign vector of a.parquet and kiln's of b.parquet: $(cat "$T/check")"
grep -q '"removed-dvs" *: *"1"' "$meta" || fail "kiln's delete did not replace the foreign vector of b.parquet"

# a corrupt vector is an error, never rows
cp -r "$T/v3" "$T/bad"
python3 - "$T/bad/data/dv.puffin" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[20] ^= 0xff; open(p, 'wb').write(bytes(b))
PY
set +e
"$KILN_BIN" table scan --metadata "$T/bad/metadata/v1.metadata.json" --remap "file://$T/v3=$T/bad" > "$T/out" 2> "$T/err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a corrupt deletion vector scanned with exit 0"
grep -q 'CRC-32\|deletion vector' "$T/err" || fail "corrupt vector error: $(cat "$T/err")"

# timestamp_ns over a plain long column (not TIMESTAMP(NANOS)), variant,
# unknown: errors naming the column
for ty in timestamp_ns variant unknown; do
  sed "s/\"type\" *: *\"long\"/\"type\": \"$ty\"/" "$T/v3/metadata/v1.metadata.json" > "$T/v3/metadata/v9.metadata.json"
  set +e
  "$KILN_BIN" table scan --metadata "$T/v3/metadata/v9.metadata.json" > "$T/out" 2> "$T/err"
  rc=$?
  set -e
  [ "$rc" -ne 0 ] || fail "$ty column scanned with exit 0"
  grep -q 'pos' "$T/err" || fail "$ty: the error does not name the column: $(cat "$T/err")"
done
# columns the data files predate, with initial-defaults: every row of the
# old files reads them (Iceberg's JSON single-value forms); a default that
# is not a value of its type is an error naming the column, never a null
python3 - "$T/v3/metadata/v1.metadata.json" "$T/v3/metadata" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
def write(name, extra):
    m = json.loads(re.sub(r'(": )(\d{16,})', r'\1"\2"', text))
    m["schemas"][0]["fields"].extend(extra)
    m["last-column-id"] = max(f["id"] for f in m["schemas"][0]["fields"])
    out = re.sub(r'"(\d{16,})"', r'\1', json.dumps(m, indent=1))
    open(sys.argv[2] + "/" + name, "w").write(out)
write("v8.metadata.json", [
  {"id": 3, "name": "extra", "required": False, "type": "int", "initial-default": 7},
  {"id": 4, "name": "s", "required": False, "type": "string", "initial-default": "dflt"},
  {"id": 5, "name": "dt", "required": False, "type": "date", "initial-default": "1960-02-29"},
  {"id": 6, "name": "dec", "required": False, "type": "decimal(9, 2)", "initial-default": "12.34"},
  {"id": 7, "name": "ts", "required": False, "type": "timestamptz", "initial-default": "2024-01-01T00:00:00.000001+00:00"},
  {"id": 8, "name": "b", "required": False, "type": "binary", "initial-default": "00ff"},
  {"id": 9, "name": "nothing", "required": False, "type": "long", "initial-default": None}])
write("v9.metadata.json", [{"id": 3, "name": "extra", "required": False, "type": "int", "initial-default": "x"}])
PY
"$KILN_BIN" table scan --metadata "$T/v3/metadata/v8.metadata.json" --json > "$T/out"
n=$(wc -l < "$T/out")
[ "$n" -gt 0 ] || fail "initial-default: no rows"
[ "$(grep -c '"extra":7,"s":"dflt","dt":"1960-02-29","dec":"12.34","ts":"2024-01-01T00:00:00.000001Z","b":"00ff","nothing":null}$' "$T/out")" -eq "$n" ] ||
  fail "initial-default values: $(head -2 "$T/out")"
set +e
"$KILN_BIN" table scan --metadata "$T/v3/metadata/v9.metadata.json" > "$T/out" 2> "$T/err"
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q 'extra.*initial-default "x" is not a int' "$T/err" || fail "bad initial-default: exit $rc, $(cat "$T/err")"
# a v3 table DuckDB wrote (tests/fixtures/iceberg_v3_duckdb_dv: a deletion
# vector as a bare blob): the rows its writer's own test expects
fx="$KILN_ROOT/tests/fixtures/iceberg_v3_duckdb_dv"
pre=data/persistent/legacy_bare_deletion_vector/warehouse/default/legacy_bare_deletion_vector
K table register fx.dv --metadata "$fx/metadata/00002-legacy-bare-dv.metadata.json" --remap "$pre=$fx" > /dev/null
[ "$(K sql --csv "select id, source from fx.dv order by id" | tr '\n' ' ')" = "id,source 1,legacy 3,legacy " ] ||
  fail "DuckDB's v3 table: $(K sql --csv "select id, source from fx.dv order by id")"
echo "interop_v3: ok"
