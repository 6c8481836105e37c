#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# store_s3.sh - the object store's S3 backend against a real S3-compatible
# server that checks SigV4 signatures (@20minutes/s3rver, started here on
# 127.0.0.1 on a free port and stopped on exit):
# - the store's operations (build/kiln-tests -s store_s3: put/get/range/
#   head/create/multipart/list pages/delete, encoded keys), cross-checked
#   with curl's own SigV4 signer both ways, and with boto3 (listing, ranged
#   GETs of kiln's Parquet files; an hour file it uploads read by the job);
# - a warehouse at s3://bucket/prefix: kiln table create/append/scan/delete
#   (path-style; virtual-host requests are checked for their shape),
#   kiln sql (query and CREATE TABLE AS), partition keys with '=', the data
#   read back by an independent Parquet reader (hyparquet) from the server's
#   disk, nothing but the catalog on local disk;
# - a wrong secret: exit 3 naming SignatureDoesNotMatch, the secret never
#   printed; no credentials: exit 3; credentials from AWS_PROFILE in a
#   shared credentials file; temporary credentials from IMDSv2, a container
#   endpoint and STS web identity (tests/node/s3_creds_server.cjs), their
#   session token on every request, fetched again near expiry, a refused
#   fetch exit 3 naming the source; a traversal key rejected (exit 2)
#   before any request;
# - retries: 503 SlowDown answers and connections closed without an answer
#   are retried; when they outlast the attempts the append fails (exit 1)
#   and the table stays at its snapshot; 500s are retried; an answer slower
#   than the request timeout is abandoned and asked again;
# - multipart upload of a data file above the threshold; remove-orphans
#   deletes an object no snapshot names;
# - kiln job gh-events into an S3 warehouse gives what it gives locally;
# - kiln ingest gharchive into a raw zone on S3 (landed once, re-run
#   unchanged), and kiln job gh-events --in s3://... reading it streamed
#   (nothing staged), hour bodies cut half way resumed by ranged GETs.
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
: "${KILN_ROOT:?set KILN_ROOT to the repository root}"
NODE_DIR="$KILN_ROOT/tests/node"
. "$KILN_ROOT/tests/e2e/s3_lib.bash"
tmp="$(mktemp -d)"
csrv=""
cleanup() {
  if [ -n "$csrv" ]; then kill "$csrv" 2>/dev/null || true; wait "$csrv" 2>/dev/null || true; fi
  s3_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/requests.log" ] && tail -5 "$tmp/requests.log" >&2; exit 1; }

mkdir -p "$tmp/work"
S3_LOG="$tmp/requests.log" s3_start "$tmp/s3" kiln-wh
port="$S3_PORT"
ep="$S3_ENDPOINT"
export KILN_CATALOG_DIR="$tmp/catalogs" TMPDIR="$tmp/tmpdir"
mkdir -p "$TMPDIR"
cd "$tmp/work"
K="$KILN_BIN"

# --- the server really checks signatures (curl's signer, right and wrong key)
code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary 'written by curl' \
  --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
  "$ep/kiln-wh/xcheck/from-curl.txt")
[ "$code" = 200 ] || fail "curl PUT answered $code"
code=$(curl -sS -o "$tmp/bad.xml" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:WRONG \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$ep/kiln-wh/xcheck/from-curl.txt")
[ "$code" = 403 ] && grep -q SignatureDoesNotMatch "$tmp/bad.xml" || fail "the server accepted a bad signature ($code)"

# --- the store's operations, and the cross-check with curl both ways
KILN_TEST_S3_ENDPOINT="$ep" KILN_TEST_S3_BUCKET=kiln-wh KILN_TEST_S3_XCHECK='written by curl' \
  "$(dirname "$K")/kiln-tests" -s store_s3 > "$tmp/unit.log" 2>&1 || { cat "$tmp/unit.log"; fail "store_s3 unit suite"; }
grep -q "^ok   store_s3::live_server_operations" "$tmp/unit.log" || { cat "$tmp/unit.log"; fail "store_s3 did not run"; }
got=$(curl -sS --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
  "$ep/kiln-wh/xcheck/from-kiln.txt")
[ "$got" = "written by curl" ] || fail "curl read back '$got'"
grep -q 'PUT 127.0.0.1:[0-9]* /kiln-wh/unit/m/big.bin?partNumber=5&uploadId=' "$tmp/requests.log" || fail "no 5-part multipart upload"
grep -q 'POST 127.0.0.1:[0-9]* /kiln-wh/unit/m/big.bin?uploads' "$tmp/requests.log" || fail "no CreateMultipartUpload"

# --- a warehouse on S3
W=s3://kiln-wh/lake
cat > rows.ndjson <<'EOF'
{"id":1,"name":"ada","d":"2024-01-01"}
{"id":2,"name":"bob","d":"2024-01-02"}
{"id":3,"name":"cy","d":"2024-01-02"}
EOF
"$K" table --warehouse "$W" create demo.people --schema 'id long not null, name string, d date' --partition 'day(d)'
"$K" table --warehouse "$W" append demo.people --input rows.ndjson
out=$("$K" table --warehouse "$W" scan demo.people --format csv | sort)
want=$'1,ada,2024-01-01\n2,bob,2024-01-02\n3,cy,2024-01-02\nid,name,d'
[ "$out" = "$want" ] || fail "scan: $out"
"$K" table --warehouse "$W" list | grep -q $'^demo.people\ts3://kiln-wh/lake/demo/people/metadata/v2.metadata.json$' \
  || fail "list: $("$K" table --warehouse "$W" list)"
# the objects are on the server, partition folders with '=' in the key
ls "$tmp/s3/kiln-wh/lake/demo/people/data/d_day=2024-01-02/"*.parquet._S3rver_object > /dev/null
ls "$tmp/s3/kiln-wh/lake/demo/people/metadata/v2.metadata.json._S3rver_object" > /dev/null
grep -q '"location" *: *"s3://kiln-wh/lake/demo/people"' "$tmp/s3/kiln-wh/lake/demo/people/metadata/v2.metadata.json._S3rver_object" \
  || fail "metadata does not record the s3:// location"
# an independent reader (hyparquet) reads the data files as stored
( cd "$NODE_DIR" && node --input-type=module -e '
import { parquetReadObjects, asyncBufferFromFile } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { readdirSync } from "fs";
const root = process.argv[1];
const names = [];
for (const dir of readdirSync(root)) for (const f of readdirSync(root + "/" + dir))
  if (f.endsWith(".parquet._S3rver_object")) {
    const rows = await parquetReadObjects({ file: await asyncBufferFromFile(root + "/" + dir + "/" + f), compressors });
    for (const r of rows) names.push(`${r.id}:${r.name}`);
  }
console.log(names.sort().join(","));
' "$tmp/s3/kiln-wh/lake/demo/people/data" ) > "$tmp/hy.txt"
[ "$(cat "$tmp/hy.txt")" = "1:ada,2:bob,3:cy" ] || fail "hyparquet read: $(cat "$tmp/hy.txt")"
# a second independent S3 client (boto3: its own SigV4 signer and XML
# parser) lists and reads what kiln wrote (ranged too), and writes an hour
# file that kiln's job reads from S3
python3 -c 'import boto3' 2>/dev/null || fail "python3 boto3 missing (scripts/deps.sh installs python3-boto3)"
"$K" gen gharchive --out "$tmp/bgen" --start 2025-01-01 --hours 1 --scale 0.0005 --threads 1 > /dev/null
python3 - "$ep" "$tmp/bgen/2025-01-01-0.json.gz" > "$tmp/boto.txt" 2> "$tmp/boto.err" <<'EOF' || fail "boto3 cross-check: $(cat "$tmp/boto.err")"
import sys, json, boto3
from botocore.config import Config
s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='S3RVER', aws_secret_access_key='S3RVER',
                  region_name='us-east-1', config=Config(s3={'addressing_style': 'path'}, signature_version='s3v4'))
keys = []
for page in s3.get_paginator('list_objects_v2').paginate(Bucket='kiln-wh', Prefix='lake/demo/people/'):
    keys += [o['Key'] for o in page.get('Contents', [])]
assert any(k.startswith('lake/demo/people/data/d_day=2024-01-02/') and k.endswith('.parquet') for k in keys), keys
meta = json.loads(s3.get_object(Bucket='kiln-wh', Key='lake/demo/people/metadata/v2.metadata.json')['Body'].read())
assert meta['location'] == 's3://kiln-wh/lake/demo/people', meta['location']
pq = [k for k in keys if k.endswith('.parquet')][0]
size = s3.head_object(Bucket='kiln-wh', Key=pq)['ContentLength']
head = s3.get_object(Bucket='kiln-wh', Key=pq, Range='bytes=0-3')['Body'].read()
tail = s3.get_object(Bucket='kiln-wh', Key=pq, Range='bytes=%d-%d' % (size - 4, size - 1))['Body'].read()
assert head == b'PAR1' and tail == b'PAR1', (head, tail)
s3.upload_file(sys.argv[2], 'kiln-wh', 'xcheck-boto/date=2025-01-01/2025-01-01-0.json.gz')
print(len(keys))
EOF
"$K" job gh-events --in s3://kiln-wh/xcheck-boto --out "$tmp/bjob" --format ndjson > "$tmp/bjob.log" 2>&1 ||
  fail "job over boto3's upload: $(cat "$tmp/bjob.log")"
want_p=$(python3 -c "
import gzip, json, sys
print(len({json.loads(l)['payload']['push_id'] for l in gzip.open(sys.argv[1], 'rt') if json.loads(l)['type'] == 'PushEvent'}))"   "$tmp/bgen/2025-01-01-0.json.gz")
got_p=$(cat "$tmp"/bjob/pushes/date=*/* | wc -l)
[ "$got_p" = "$want_p" ] && [ "$want_p" -gt 0 ] || fail "job over boto3's upload: $got_p pushes, want $want_p"
rm -rf "$tmp/bgen" "$tmp/bjob"
# nothing of the table on local disk: only the SQLite catalog, under KILN_CATALOG_DIR
[ -f "$tmp/catalogs/kiln-wh/lake/catalog.db" ] || fail "no local catalog"
[ -z "$(ls -A "$tmp/work" | grep -v '^rows.ndjson$' || true)" ] || fail "files appeared in the work dir: $(ls -A)"
[ -z "$(find "$tmp/catalogs" -name '*.parquet' -o -name '*.avro' -o -name '*.metadata.json')" ] || fail "table files on local disk"

# --- virtual-host addressing: the bucket in the Host name, the key alone in
# the path (an AWS-style endpoint, the connection sent to the loopback
# server). Only the request's shape is checked here: s3rver verifies a V4
# signature of a virtual-host request over "/bucket/key" where AWS signs the
# path as sent ("/key"); the signing of such requests is checked against
# AWS's own virtual-host example (kiln-tests -s sigv4::s3_get_object_range).
AWS_ENDPOINT_URL=http://s3.us-east-1.amazonaws.com KILN_S3_ADDRESSING=virtual KILN_S3_CONNECT_TO="127.0.0.1:$port" \
  KILN_S3_MAX_ATTEMPTS=1 "$K" table --warehouse "$W" scan demo.people > /dev/null 2>&1 || true
grep -qx 'HEAD kiln-wh.s3.us-east-1.amazonaws.com /lake' "$tmp/requests.log" \
  || fail "no virtual-host style request"

# --- kiln sql on the S3 warehouse
out=$("$K" sql --warehouse "$W" -c ".mode csv" -c ".headers off" -c "select count(*), max(name) from demo.people where d >= '2024-01-02'")
[ "$out" = "2,cy" ] || fail "sql: $out"
"$K" sql --warehouse "$W" -c "create table demo.ids as select id * 10 as x from demo.people" > /dev/null
out=$("$K" sql --warehouse "$W" -c ".mode csv" -c ".headers off" -c "select x from demo.ids order by x" | tr '\n' ' ')
[ "$out" = "10 20 30 " ] || fail "sql CTAS: $out"
"$K" table --warehouse "$W" delete demo.people --where 'id = 2' > /dev/null
out=$("$K" table --warehouse "$W" scan demo.people --format csv | sort | tr '\n' ' ')
[ "$out" = "1,ada,2024-01-01 3,cy,2024-01-02 id,name,d " ] || fail "after delete: $out"

# --- a wrong secret: exit 3, the server's verdict named, the secret not printed
set +e
AWS_SECRET_ACCESS_KEY='wrong-secret-4711' "$K" table --warehouse "$W" scan demo.people > "$tmp/o" 2> "$tmp/e"
rc=$?
set -e
[ "$rc" = 3 ] || fail "wrong secret: exit $rc: $(cat "$tmp/e")"
grep -q "SignatureDoesNotMatch" "$tmp/e" || fail "wrong secret message: $(cat "$tmp/e")"
grep -q "AWS_SECRET_ACCESS_KEY" "$tmp/e" || fail "wrong secret message names no setting: $(cat "$tmp/e")"
! grep -q "wrong-secret-4711" "$tmp/e" "$tmp/o" || fail "the secret was printed"
# no credentials at all: exit 3 before any request
set +e
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$tmp" "$K" table --warehouse "$W" list > /dev/null 2> "$tmp/e"
rc=$?
set -e
[ "$rc" = 3 ] && grep -q "AWS_ACCESS_KEY_ID" "$tmp/e" || fail "no credentials: exit $rc: $(cat "$tmp/e")"

# credentials from a profile of a shared credentials file (AWS_PROFILE)
printf '[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n[kiln-test]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' \
  > "$tmp/credentials"
out=$(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE="$tmp/credentials" AWS_PROFILE=kiln-test \
  "$K" table --warehouse "$W" scan demo.people --format csv 2>&1 | grep -c .)
[ "$out" = 3 ] || fail "scan with AWS_PROFILE credentials: $out lines"

# temporary credentials from where a process runs (tests/node/s3_creds_server.cjs
# stands in for IMDSv2, a container endpoint and STS): the session token of
# each source signs the requests; keys near their expiry are fetched again
CREDS_CONTAINER_TOKEN=ct-4711 CREDS_WEB_TOKEN=a-web-identity-jwt node "$NODE_DIR/s3_creds_server.cjs" "$tmp/cport" "$tmp/creds.log" > "$tmp/creds.out" 2>&1 &
csrv=$!
for _ in $(seq 100); do [ -s "$tmp/cport" ] && break; sleep 0.1; done
[ -s "$tmp/cport" ] || fail "the credentials server did not start: $(cat "$tmp/creds.out")"
cep="http://127.0.0.1:$(cat "$tmp/cport")"
nocreds() { env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$tmp" "$@"; }
scan_with() { # SOURCE-NAME ENV... : scan, then check the token the requests carried
  local src="$1"
  shift
  local n0
  n0=$(wc -l < "$tmp/requests.log")
  out=$(nocreds "$@" "$K" table --warehouse "$W" scan demo.people --format csv 2> "$tmp/e" | grep -c .) \
    || fail "scan with $src credentials: $(cat "$tmp/e")"
  [ "$out" = 3 ] || fail "scan with $src credentials: $out rows"
  tail -n +"$((n0 + 1))" "$tmp/requests.log" | grep -v __faults > "$tmp/sreq"
  [ -s "$tmp/sreq" ] && ! grep -qv "token=session-token-from-$src\$" "$tmp/sreq" \
    || fail "requests not signed with the $src session token: $(head -3 "$tmp/sreq")"
}
: > "$tmp/creds.log"
scan_with imds AWS_EC2_METADATA_DISABLED= AWS_EC2_METADATA_SERVICE_ENDPOINT="$cep"
[ "$(cat "$tmp/creds.log" | tr '\n' ' ')" = "PUT /latest/api/token GET /latest/meta-data/iam/security-credentials/ GET /latest/meta-data/iam/security-credentials/kiln-test-role " ] \
  || fail "IMDSv2 exchange: $(cat "$tmp/creds.log")"
printf 'a-web-identity-jwt\n' > "$tmp/webid"
scan_with sts AWS_WEB_IDENTITY_TOKEN_FILE="$tmp/webid" AWS_ROLE_ARN=arn:aws:iam::123456789012:role/kiln \
  AWS_ENDPOINT_URL_STS="$cep"
: > "$tmp/creds.log"
scan_with container AWS_CONTAINER_CREDENTIALS_FULL_URI="$cep/container-creds" AWS_CONTAINER_AUTHORIZATION_TOKEN=ct-4711
[ "$(grep -c container-creds "$tmp/creds.log")" = 1 ] || fail "container keys valid 1 h fetched more than once"
# keys with four minutes left (under the five-minute margin): fetched again
: > "$tmp/creds.log"
scan_with container AWS_CONTAINER_CREDENTIALS_FULL_URI="$cep/container-creds?ttl=240" AWS_CONTAINER_AUTHORIZATION_TOKEN=ct-4711
[ "$(grep -c container-creds "$tmp/creds.log")" -gt 1 ] || fail "keys near expiry were not fetched again"
# a refused credential request: exit 3 naming the source, the token not printed
set +e
nocreds AWS_CONTAINER_CREDENTIALS_FULL_URI="$cep/container-creds" AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong-4712 \
  "$K" table --warehouse "$W" scan demo.people > /dev/null 2> "$tmp/e"
rc=$?
set -e
[ "$rc" = 3 ] && grep -q "container credentials endpoint" "$tmp/e" && grep -q 401 "$tmp/e" \
  || fail "refused container credentials: exit $rc: $(cat "$tmp/e")"
! grep -q "wrong-4712" "$tmp/e" || fail "the container token was printed"
kill "$csrv"; wait "$csrv" 2>/dev/null || true
csrv=""

# --- a traversal key is refused before any request
n_before=$(wc -l < "$tmp/requests.log")
set +e
"$K" table --warehouse "s3://kiln-wh/lake/../other" list > /dev/null 2> "$tmp/e"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "traversal" "$tmp/e" || fail "traversal: exit $rc: $(cat "$tmp/e")"
[ "$(wc -l < "$tmp/requests.log")" = "$n_before" ] || fail "a request was sent for a traversal key"

# --- retries: three 503s are absorbed
curl -sS -X POST "$ep/__faults?n=3" > /dev/null
printf '{"id":4,"name":"dee","d":"2024-01-03"}\n' | "$K" table --warehouse "$W" append demo.people --input - > /dev/null \
  2> "$tmp/e" || fail "append with 3 faults: $(cat "$tmp/e")"
[ "$("$K" table --warehouse "$W" scan demo.people --format csv | grep -c .)" = 4 ] || fail "row 4 missing"
snap=$("$K" table --warehouse "$W" describe demo.people | awk '$1 == "current" {print $2}')
# faults that outlast the attempts: a clear failure, the table unchanged
curl -sS -X POST "$ep/__faults?n=1000" > /dev/null
set +e
printf '{"id":5,"name":"eve","d":"2024-01-04"}\n' | KILN_S3_MAX_ATTEMPTS=3 "$K" table --warehouse "$W" append demo.people \
  --input - > /dev/null 2> "$tmp/e"
rc=$?
set -e
curl -sS -X POST "$ep/__faults?n=0" > /dev/null
[ "$rc" = 1 ] || fail "append under faults: exit $rc: $(cat "$tmp/e")"
grep -q "after 3 attempts" "$tmp/e" && grep -q "503" "$tmp/e" || fail "fault message: $(cat "$tmp/e")"
[ "$("$K" table --warehouse "$W" describe demo.people | awk '$1 == "current" {print $2}')" = "$snap" ] \
  || fail "the failed append moved the table"
[ "$("$K" table --warehouse "$W" scan demo.people --format csv | grep -c .)" = 4 ] || fail "rows changed by a failed append"

# connections closed without an answer are retried too; when they outlast
# the attempts the table is unchanged
curl -sS -X POST "$ep/__faults?n=3&kind=reset" > /dev/null
printf '{"id":6,"name":"fay","d":"2024-01-05"}\n' | "$K" table --warehouse "$W" append demo.people --input - > /dev/null \
  2> "$tmp/e" || fail "append with 3 resets: $(cat "$tmp/e")"
snap=$("$K" table --warehouse "$W" describe demo.people | awk '$1 == "current" {print $2}')
curl -sS -X POST "$ep/__faults?n=1000&kind=reset" > /dev/null
set +e
printf '{"id":7,"name":"gus","d":"2024-01-06"}\n' | KILN_S3_MAX_ATTEMPTS=2 "$K" table --warehouse "$W" append demo.people \
  --input - > /dev/null 2> "$tmp/e"
rc=$?
set -e
curl -sS -X POST "$ep/__faults?n=0" > /dev/null
[ "$rc" = 1 ] && grep -q "after 2 attempts" "$tmp/e" || fail "append under resets: exit $rc: $(cat "$tmp/e")"
[ "$("$K" table --warehouse "$W" describe demo.people | awk '$1 == "current" {print $2}')" = "$snap" ] \
  || fail "a failed append moved the table (resets)"
[ "$("$K" table --warehouse "$W" scan demo.people --format csv | grep -c .)" = 5 ] || fail "rows after resets"

# 500s are retried; a slow answer past the request timeout is abandoned and
# asked again
s3_fault 2 500
printf '{"id":8,"name":"hal","d":"2024-01-07"}\n' | "$K" table --warehouse "$W" append demo.people --input - > /dev/null \
  2> "$tmp/e" || fail "append with two 500s: $(cat "$tmp/e")"
s3_fault 1 slow
t0=$(date +%s%N)
KILN_S3_TIMEOUT_MS=700 "$K" table --warehouse "$W" scan demo.people --format csv > "$tmp/o" 2> "$tmp/e" \
  || fail "scan with a slow answer: $(cat "$tmp/e")"
t1=$(date +%s%N)
s3_fault 0
[ "$(grep -c . "$tmp/o")" = 6 ] || fail "rows after 500s and a slow answer: $(cat "$tmp/o")"
[ $(((t1 - t0) / 1000000)) -lt 2500 ] || fail "the slow answer was waited for ($(((t1 - t0) / 1000000)) ms), not retried"

# --- a data file above the multipart threshold
seq 1 3000 | awk '{printf "{\"id\":%d,\"name\":\"name-%d-%s\",\"d\":\"2024-02-01\"}\n", $1, $1, "xxxxxxxxxxxxxxxxxxxx"}' > big.ndjson
KILN_S3_MULTIPART_THRESHOLD=4000 KILN_S3_PART_SIZE=4096 "$K" table --warehouse "$W" append demo.people --input big.ndjson > /dev/null
grep -q 'PUT 127.0.0.1:[0-9]* /kiln-wh/lake/demo/people/data/d_day%3D2024-02-01/[^?]*?partNumber=2&uploadId=' "$tmp/requests.log" \
  || fail "the big data file was not uploaded in parts"
[ "$("$K" table --warehouse "$W" scan demo.people --where "d = '2024-02-01'" --format csv | grep -c .)" = 3001 ] \
  || fail "multipart file rows"

# --- the gh-events job loads into an S3 warehouse what it loads locally
"$K" gen gharchive --out "$tmp/gha" --start 2025-10-06 --hours 2 --scale 0.001 > /dev/null
"$K" job gh-events --in "$tmp/gha" --format iceberg --warehouse s3://kiln-wh/jobwh > /dev/null 2>&1 \
  || fail "job to S3: $("$K" job gh-events --in "$tmp/gha" --format iceberg --warehouse s3://kiln-wh/jobwh 2>&1 | tail -3)"
"$K" job gh-events --in "$tmp/gha" --format iceberg --warehouse "$tmp/jobwh-local" > /dev/null 2>&1
q="select (select count(*) from github.pushes) || ',' || (select count(*) from github.commits) || ',' || (select sum(distinct_size) from github.pushes)"
on_s3=$("$K" sql --warehouse s3://kiln-wh/jobwh -c ".mode csv" -c ".headers off" -c "$q")
local_=$("$K" sql --warehouse "$tmp/jobwh-local" -c ".mode csv" -c ".headers off" -c "$q")
[ -n "$on_s3" ] && [ "$on_s3" = "$local_" ] || fail "job on S3 '$on_s3' vs local '$local_'"

# --- kiln ingest into a raw zone on S3: the bytes land as they are, once
"$K" ingest gharchive --from "file://$tmp/gha" --start 2025-10-06 --hours 0-1 --out s3://kiln-wh/raw \
  --partial-dir "$tmp/pd" > "$tmp/ing1" || fail "ingest to S3: $(cat "$tmp/ing1")"
for h in 0 1; do
  cmp -s "$tmp/gha/2025-10-06-$h.json.gz" \
    "$tmp/s3/kiln-wh/raw/gharchive/date=2025-10-06/hour=$h/2025-10-06-$h.json.gz._S3rver_object" \
    || fail "raw hour $h on S3 differs"
done
[ -f "$tmp/s3/kiln-wh/raw/gharchive/date=2025-10-06/_manifest.json._S3rver_object" ] || fail "no manifest on S3"
"$K" ingest gharchive --from "file://$tmp/gha" --start 2025-10-06 --hours 0-1 --out s3://kiln-wh/raw \
  --partial-dir "$tmp/pd" --json > "$tmp/ing2"
grep -q '"landed":0,"unchanged":2' "$tmp/ing2" || fail "ingest re-run on S3: $(cat "$tmp/ing2")"
# ... and the job reads that raw zone straight from S3, streamed (nothing
# staged: TMPDIR does not exist for this run), what it reads locally; the
# first two hour GETs are cut half way and resume with a ranged GET pinned
# to the object's ETag
s3_fault 2 cut
n0=$(wc -l < "$tmp/requests.log")
TMPDIR="$tmp/no-such-dir" "$K" job gh-events --in s3://kiln-wh/raw --out "$tmp/job-s3in" --format csv > /dev/null \
  2> "$tmp/e" || fail "job --in s3://: $(cat "$tmp/e")"
s3_fault 0
tail -n +"$((n0 + 1))" "$tmp/requests.log" > "$tmp/jobreq"
[ "$(grep -c 'GET .*/raw/gharchive/date%3D2025-10-06/hour%3D[01]/.*range=bytes=[1-9][0-9]*- if-match="' "$tmp/jobreq")" = 2 ] \
  || fail "cut hour bodies were not resumed by ranged GETs: $(grep hour= "$tmp/jobreq")"
"$K" job gh-events --in "$tmp/gha" --out "$tmp/job-local" --format csv > /dev/null 2>&1
for f in $(cd "$tmp/job-local" && find . -name '*.csv' | sort); do
  cmp -s "$tmp/job-local/$f" "$tmp/job-s3in/$f" || fail "job --in s3:// differs: $f"
done
[ -n "$(cd "$tmp/job-s3in" && find . -name '*.csv')" ] || fail "job --in s3:// wrote nothing"
# a body that stalls half way (the connection open, silent for 3 s) is
# abandoned after KILN_S3_STALL_S and resumed
s3_fault 1 stall
n0=$(wc -l < "$tmp/requests.log")
KILN_S3_STALL_S=1 "$K" job gh-events --in s3://kiln-wh/raw --out "$tmp/job-s3in2" --format csv > /dev/null \
  2> "$tmp/e" || fail "job --in s3:// with a stalled body: $(cat "$tmp/e")"
s3_fault 0
[ "$(tail -n +"$((n0 + 1))" "$tmp/requests.log" | grep -c 'GET .*/raw/gharchive/.*range=bytes=[1-9][0-9]*- if-match="')" = 1 ] \
  || fail "the stalled body was not resumed by a ranged GET"
for f in $(cd "$tmp/job-local" && find . -name '*.csv' | sort); do
  cmp -s "$tmp/job-local/$f" "$tmp/job-s3in2/$f" || fail "job --in s3:// after a stall differs: $f"
done

# --- remove-orphans lists and deletes on S3: an object no snapshot names
curl -sS -o /dev/null -X PUT --data-binary 'junk' --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$ep/kiln-wh/lake/demo/people/data/orphan-1.parquet"
"$K" table --warehouse "$W" remove-orphans demo.people --older-than 0s > "$tmp/orph"
grep -qx 'deleted s3://kiln-wh/lake/demo/people/data/orphan-1.parquet' "$tmp/orph" || fail "orphans: $(cat "$tmp/orph")"
grep -q '^1 orphan file' "$tmp/orph" || fail "orphans: more than the one: $(cat "$tmp/orph")"
[ ! -e "$tmp/s3/kiln-wh/lake/demo/people/data/orphan-1.parquet._S3rver_object" ] || fail "the orphan is still there"

# --- drop --purge removes the objects
"$K" table --warehouse "$W" drop demo.ids --purge > /dev/null
[ ! -e "$tmp/s3/kiln-wh/lake/demo/ids" ] || [ -z "$(find "$tmp/s3/kiln-wh/lake/demo/ids" -type f)" ] || fail "purge left objects"
# every staged upload and temporary download was removed
[ -z "$(ls -A "$tmp/tmpdir")" ] || fail "temporary files left: $(ls "$tmp/tmpdir")"
echo "store_s3: ok"
