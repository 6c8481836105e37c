#!/usr/bin/env bash
# ingest_gharchive.sh - `kiln ingest gharchive` against a GH Archive
# look-alike HTTP server (tests/node/gharchive_server.cjs, started here on
# 127.0.0.1 on a free port, stopped on exit) serving `kiln gen gharchive`
# hours with ETags, Range and injected faults:
# - 503s and a slow answer are retried; a body cut in half is resumed with
#   Range (206); a 404 is a missing hour; a truncated gzip file never lands
#   (exit 6 with the others landed); landed objects equal the source bytes,
#   the day's manifest records their sha256;
# - a re-run asks with If-None-Match (304: unchanged) and rewrites nothing;
#   a file changed upstream is reported and the landed object is kept;
# - a partial download left by an interrupted run is resumed from its
#   bytes; every hour missing is exit 4; bad options exit 2;
# - kiln job gh-events --in RAW reads the raw zone like a folder of hours.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
tmp="$(mktemp -d)"
srv=""
cleanup() {
  if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/http.log" ] && tail -8 "$tmp/http.log" >&2; exit 1; }
K="$KILN_BIN"
D=2025-10-06
cd "$tmp"

"$K" gen gharchive --out gen --start $D --hours 6 --scale 0.001 > /dev/null
mkdir src
cp gen/$D-0.json.gz gen/$D-1.json.gz gen/$D-2.json.gz src/
# hour 3: not there (404); hour 4: a gzip file cut short at the source
head -c 5000 gen/$D-4.json.gz > src/$D-4.json.gz

node "$KILN_ROOT/tests/node/gharchive_server.cjs" "$tmp/src" "$tmp/port" "$tmp/http.log" > server.log 2>&1 &
srv=$!
for _ in $(seq 100); do [ -s port ] && break; kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
[ -s port ] || { cat server.log; fail "the HTTP server did not start"; }
URL="http://127.0.0.1:$(cat port)"
fault() { curl -sS -X POST "$URL/__fault?name=$1&kind=$2&n=$3" > /dev/null; }
export KILN_INGEST_RETRY_BASE_MS=20
ingest() { "$K" ingest gharchive --from "$URL" --start $D --out raw --partial-dir pd "$@"; }
obj() { echo "raw/gharchive/date=$D/hour=$1/$D-$1.json.gz"; }

# --- first run: faults on every good hour
fault $D-0.json.gz 503 2
fault $D-1.json.gz truncate 1
fault $D-2.json.gz slow 1
set +e
ingest --hours 0-4 --retries 3 > out1.txt 2> err1.txt
rc=$?
set -e
[ "$rc" = 6 ] || fail "first run: exit $rc (want 6): $(cat out1.txt err1.txt)"
for h in 0 1 2; do
  grep -q "^$D-$h	landed	" out1.txt || fail "hour $h not landed: $(cat out1.txt)"
  cmp -s "$(obj $h)" src/$D-$h.json.gz || fail "hour $h: landed bytes differ from the source"
done
grep -q "^$D-3	missing" out1.txt || fail "hour 3 not missing"
grep -q "^$D-4	failed" out1.txt || fail "hour 4 not failed"
grep -q "truncated gzip" err1.txt || fail "hour 4 message: $(cat err1.txt)"
[ ! -e "$(obj 4)" ] || fail "a truncated gzip file landed"
[ ! -e "$(obj 3)" ] || fail "a missing hour landed"
[ "$(grep -c "GET /$D-0.json.gz .* 503$" http.log)" = 2 ] || fail "hour 0: not two 503s"
# the cut body was resumed: a Range request answered 206
grep -qE "GET /$D-1.json.gz range=bytes=[1-9][0-9]*- inm=- 206$" http.log || fail "hour 1 was not resumed with Range"
# the manifest: sizes and sha256 of what landed, the missing hour
m="raw/gharchive/date=$D/_manifest.json"
for h in 0 1 2; do
  sha=$(sha256sum src/$D-$h.json.gz | cut -d' ' -f1)
  grep -q "\"hour\":$h,\"status\":\"landed\".*\"size\":$(stat -c %s src/$D-$h.json.gz),\"sha256\":\"$sha\"" "$m" \
    || fail "manifest entry of hour $h: $(cat "$m")"
done
grep -q '"hour":3,"status":"missing"' "$m" || fail "manifest: hour 3"
node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$m" || fail "manifest is not JSON"
[ -z "$(ls pd | grep -v '\.part$\|\.etag$' || true)" ] || fail "stray files in the partial dir: $(ls pd)"
[ ! -e pd/$D-0.json.gz.part ] || fail "the part of a landed hour was left behind"

# --- re-run after the source fixed hour 4: 304s for what is there, hour 4 lands
cp gen/$D-4.json.gz src/$D-4.json.gz
stat -c %Y "$(obj 0)" "$(obj 1)" "$(obj 2)" > mt1
sleep 1.1
ingest --hours 0-4 --json > out2.json
grep -q '"landed":1,"unchanged":3,"kept":0,"changed":0,"missing":1,"failed":0' out2.json || fail "re-run: $(cat out2.json)"
stat -c %Y "$(obj 0)" "$(obj 1)" "$(obj 2)" > mt2
cmp -s mt1 mt2 || fail "a re-run rewrote landed objects"
[ "$(grep -c 'inm="[0-9a-f]*" 304$' http.log)" = 3 ] || fail "re-run did not ask with If-None-Match"
cmp -s "$(obj 4)" src/$D-4.json.gz || fail "hour 4 after the fix"
cp "$m" manifest2.json

# a run that changes nothing leaves the manifest as it was
ingest --hours 0-4 > /dev/null
cmp -s "$m" manifest2.json || fail "an idle re-run changed the manifest"

# --- a file changed upstream: reported, ours kept
cp src/$D-1.json.gz orig1.gz
cp gen/$D-5.json.gz src/$D-1.json.gz
ingest --hours 1 > out3.txt
grep -q "^$D-1	changed	.*the source now serves other bytes" out3.txt || fail "changed upstream: $(cat out3.txt)"
cmp -s "$(obj 1)" orig1.gz || fail "the landed object was overwritten"
grep -q '"hour":1,"status":"landed".*"upstream_changed"' "$m" || fail "manifest does not note the change"

# --- an interrupted download is resumed from its partial file
cp gen/$D-5.json.gz src/$D-5.json.gz
etag="\"$(sha1sum src/$D-5.json.gz | cut -d' ' -f1)\""
head -c 3000 src/$D-5.json.gz > pd/$D-5.json.gz.part
printf '%s' "$etag" > pd/$D-5.json.gz.etag
ingest --hours 5 > out4.txt
grep -q "GET /$D-5.json.gz range=bytes=3000- inm=- 206$" http.log || fail "no resume from byte 3000"
cmp -s "$(obj 5)" src/$D-5.json.gz || fail "the resumed file differs from the source"

# --- the job reads the raw zone as its input: the same rows as from the
# source folder of the same hours
mkdir flat
cp "$(obj 0)" "$(obj 2)" "$(obj 4)" "$(obj 5)" flat/
cp orig1.gz flat/$D-1.json.gz
"$K" job gh-events --in raw --out out-raw --format csv > /dev/null 2>&1 || fail "job --in raw"
"$K" job gh-events --in flat --out out-flat --format csv > /dev/null 2>&1
for f in $(cd out-flat && find . -name '*.csv' | sort); do
  cmp -s "out-flat/$f" "out-raw/$f" || fail "job from the raw zone differs: $f"
done
[ -n "$(cd out-raw && find . -name '*.csv')" ] || fail "job from the raw zone wrote nothing"

# --- every hour missing: exit 4; bad options: exit 2
set +e
"$K" ingest gharchive --from "$URL" --start 2025-10-07 --hours 0-1 --out raw --partial-dir pd > /dev/null 2> err5.txt
rc=$?
"$K" ingest gharchive --from "$URL" --start $D --hours 0-24 --out raw > /dev/null 2>&1
rc2=$?
"$K" ingest gharchive --from "$URL" --start $D > /dev/null 2>&1
rc3=$?
set -e
[ "$rc" = 4 ] && grep -q "no hour file found" err5.txt || fail "all missing: exit $rc: $(cat err5.txt)"
[ "$rc2" = 2 ] || fail "--hours 0-24: exit $rc2"
[ "$rc3" = 2 ] || fail "no --out: exit $rc3"
echo "ingest_gharchive: ok"
