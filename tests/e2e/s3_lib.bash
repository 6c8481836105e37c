# s3_lib.bash - the one start-up of the loopback S3 test server, sourced by
# every script that needs one (tests/e2e/*_s3*.sh, bench/store.sh).
#
#   . "$KILN_ROOT/tests/e2e/s3_lib.bash"
#   s3_start DIR BUCKET [BUCKET...]   # server on 127.0.0.1, a free port
#   ...                               # S3_PID S3_PORT S3_ENDPOINT set,
#                                     # AWS_* exported for it
#   s3_fault N [KIND]                 # the next N requests fail (see below)
#   s3_stop                           # call it from the script's EXIT trap
#
# The server is tests/node/s3_server.cjs (@20minutes/s3rver, which checks
# SigV4 signatures; credentials S3RVER / S3RVER). S3_LOG=FILE in the
# environment when s3_start runs logs every request. Its output goes to
# DIR.log. Fault kinds: 503 (SlowDown, default), 500 (InternalError),
# reset (connection closed without an answer), slow (the answer waits
# S3_SLOW_MS, default 3000 ms), cut (an object GET's body stops half way and
# the connection is closed), stall (as cut, but the connection then stays
# open and silent for S3_SLOW_MS).
S3_PID=""
S3_PORT=""
S3_ENDPOINT=""

s3_start() {
  local dir="$1"
  shift
  local node_dir="$KILN_ROOT/tests/node"
  [ -d "$node_dir/node_modules/@20minutes/s3rver" ] ||
    { echo "tests/node lacks @20minutes/s3rver (run scripts/deps.sh)" >&2; exit 1; }
  mkdir -p "$dir"
  rm -f "$dir.port"
  node --openssl-legacy-provider "$node_dir/s3_server.cjs" "$dir" "$dir.port" "$@" > "$dir.log" 2>&1 &
  S3_PID=$!
  local _
  for _ in $(seq 150); do
    [ -s "$dir.port" ] && break
    kill -0 "$S3_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! [ -s "$dir.port" ]; then
    echo "FAIL: the S3 test server did not start:" >&2
    cat "$dir.log" >&2
    exit 1
  fi
  S3_PORT="$(cat "$dir.port")"
  S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
  export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$S3_ENDPOINT"
  export KILN_S3_RETRY_BASE_MS="${KILN_S3_RETRY_BASE_MS:-5}"
  # nothing may reach the instance metadata service (169.254.169.254) from a test
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION AWS_ENDPOINT_URL_S3 KILN_WAREHOUSE || true
  unset AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_WEB_IDENTITY_TOKEN_FILE || true
}

# s3_fault N [KIND]: the next N requests fail (N=0 clears)
s3_fault() {
  curl -sS -X POST "$S3_ENDPOINT/__faults?n=$1&kind=${2:-503}" > /dev/null
}

s3_stop() {
  if [ -n "$S3_PID" ]; then
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
    S3_PID=""
  fi
}
