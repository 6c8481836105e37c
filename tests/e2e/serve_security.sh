#!/usr/bin/env bash
# serve_security.sh - the security rules of `kiln serve`, end to end with
# curl against real servers:
#  - off loopback (0.0.0.0) every request needs the bearer token, reads
#    included; on loopback reads are open and every write needs it; a wrong
#    token, a token sent as another scheme, and no token are 401 with
#    WWW-Authenticate: Bearer; no --token-file: writes are refused
#  - the webhook signature: GitHub's published test vector is accepted
#    (secret "It's a Secret to Everybody", body "Hello, World!"), a one-digit
#    change, another secret, a truncated, uppercase-prefixed or missing
#    signature are 401 and land nothing
#  - request size: a body over --max-body-mb is 413 and the server keeps
#    answering
#  - the access log (text and --log-json) has one line per request with
#    route and status, and never the token, the query string, a signature or
#    a request body
#  - client-chosen paths never reach the file system (traversal shapes in
#    the log route are 400/404)
set -euo pipefail
: "${KILN_BIN:?set KILN_BIN to the kiln binary}"
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "serve_security: FAIL: $*" >&2; exit 1; }
TOKEN="tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$TOKEN" > "$tmp/token"
mkdir -p "$tmp/wh" "$tmp/proj/dags"
printf 'tasks:\n  t: {type: command, command: ["true"]}\n' > "$tmp/proj/dags/d.yml"

# start LOG ARGS...: a server on a free port; sets URL
start() {
  local log="$1"; shift
  "$KILN_BIN" serve "$@" > "$tmp/out" 2> "$log" &
  pids+=($!)
  for _ in $(seq 100); do
    URL=$(grep -o 'http://[0-9.]*:[0-9]*' "$tmp/out" 2>/dev/null | head -1) && [ -n "$URL" ] && break
    sleep 0.05
  done
  [ -n "$URL" ] || fail "server did not start: $(cat "$log")"
  PORT=${URL##*:}
}
code() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }
want() { [ "$1" = "$2" ] || fail "$3: got $1, want $2 ($(head -c 300 "$tmp/body" 2>/dev/null))"; }

# --- off loopback: everything needs the token
start "$tmp/log1" --listen 0.0.0.0:0 --token-file "$tmp/token" --warehouse "$tmp/wh" --project-dir "$tmp/proj"
B="http://127.0.0.1:$PORT"
want "$(code "$B/healthz")" 401 "GET off loopback without a token"
want "$(code "$B/api/v1/dags")" 401 "API read off loopback without a token"
want "$(code "$B/")" 401 "the UI off loopback without a token"
want "$(code -H "Authorization: Bearer wrong-$TOKEN" "$B/healthz")" 401 "wrong token"
want "$(code -H "Authorization: Bearer ${TOKEN%?}" "$B/healthz")" 401 "token prefix"
want "$(code -H "Authorization: Basic $TOKEN" "$B/healthz")" 401 "another scheme"
curl -s -D "$tmp/hdr" -o /dev/null "$B/v1/config"
grep -qi '^WWW-Authenticate: Bearer' "$tmp/hdr" || fail "401 without WWW-Authenticate: Bearer"
want "$(code -H "Authorization: Bearer $TOKEN" "$B/healthz")" 200 "GET with the token"
want "$(code -H "Authorization: Bearer $TOKEN" "$B/api/v1/dags")" 200 "API with the token"
want "$(code -H "Authorization: Bearer $TOKEN" -X POST -d '{"namespace":["sec"]}' "$B/v1/namespaces")" 200 "write with the token"
# off loopback without a token file: refused at start (exit 3)
set +e; "$KILN_BIN" serve --listen 0.0.0.0:0 >/dev/null 2>&1; rc=$?; set -e
want "$rc" 3 "non-loopback listener without a token"
# an empty token file is a configuration error too
: > "$tmp/empty"
set +e; "$KILN_BIN" serve --listen 127.0.0.1:0 --token-file "$tmp/empty" >/dev/null 2>&1; rc=$?; set -e
want "$rc" 3 "empty token file"

# --- loopback: reads open, writes need the token
SECRET="It's a Secret to Everybody"
printf '%s\n' "$SECRET" > "$tmp/secret"
start "$tmp/log2" --listen 127.0.0.1:0 --token-file "$tmp/token" --warehouse "$tmp/wh" --project-dir "$tmp/proj" \
  --raw "$tmp/raw" --webhook-secret-file "$tmp/secret" --max-body-mb 1
want "$(code "$URL/healthz")" 200 "loopback read"
want "$(code -X POST -d '{"namespace":["x"]}' "$URL/v1/namespaces")" 401 "loopback write without a token"
want "$(code -X POST -H 'Content-Type: application/json' -d '{"logical_date":"2024-01-01"}' "$URL/api/v1/dags/d/runs")" 401 "trigger without a token"
want "$(code -X DELETE "$URL/v1/namespaces/sec")" 401 "delete without a token"
want "$(code -H "Authorization: Bearer $TOKEN" -X POST -d '{"namespace":["y"]}' "$URL/v1/namespaces?token=QUERYSECRET")" 200 "loopback write with the token"

# --- webhook signatures (GitHub's test vector)
hook() { # SIG BODY [EVENT]
  code -X POST -H "X-GitHub-Event: ${3:-ping}" -H "X-GitHub-Delivery: 0f1e2d3c-0000-4000-8000-00000000000$((++n))" \
    ${1:+-H "X-Hub-Signature-256: $1"} --data-binary "$2" "$URL/hooks/github"
}
n=0
GOOD=sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
got=$(hook "$GOOD" 'Hello, World!')
[ "$got" != 401 ] || fail "GitHub's test vector was refused"
want "$(hook "${GOOD%7}6" 'Hello, World!')" 401 "one hex digit changed"
want "$(hook "$GOOD" 'Hello, World?')" 401 "body changed"
want "$(hook "${GOOD:0:40}" 'Hello, World!')" 401 "truncated signature"
want "$(hook "SHA256=${GOOD#sha256=}" 'Hello, World!')" 401 "other prefix"
want "$(hook "" 'Hello, World!')" 401 "no signature"
other=$(printf '%s' '{"zen":"x"}' | openssl dgst -sha256 -hmac "not the secret" | sed 's/.*= //')
want "$(hook "sha256=$other" '{"zen":"x"}')" 401 "signed with another secret"
right=$(printf '%s' '{"zen":"x"}' | openssl dgst -sha256 -hmac "$SECRET" | sed 's/.*= //')
want "$(hook "sha256=$right" '{"zen":"x"}')" 200 "a signed ping"
[ ! -e "$tmp/raw/webhooks/date=" ] && ! ls "$tmp/raw/webhooks" | grep -q '^date=' || fail "a refused delivery landed something"

# --- size limit
head -c $((2 << 20)) /dev/zero | tr '\0' 'a' > "$tmp/big"
want "$(code -H "Authorization: Bearer $TOKEN" -X POST --data-binary @"$tmp/big" "$URL/v1/namespaces")" 413 "body over --max-body-mb"
want "$(code -H "Authorization: Bearer $TOKEN" -H 'Expect:' -X POST --data-binary @"$tmp/big" "$URL/v1/namespaces")" 413 "same without Expect: 100-continue"
want "$(code "$URL/healthz")" 200 "answers after the oversized bodies"

# --- no file system by client path
want "$(code --path-as-is "$URL/api/v1/dags/d/runs/2024-01-01/tasks/../log")" 400 "dot-dot segment"
want "$(code "$URL/api/v1/dags/d/runs/2024-01-01/tasks/..%2F..%2F..%2Fetc%2Fpasswd/log")" 400 "encoded slashes"
want "$(code --path-as-is "$URL/ui/../../etc/passwd")" 400 "traversal to the UI"
want "$(code "$URL/ui/app.js%00.html")" 400 "NUL in a segment"

# --- the access log: a line per request, no secrets
kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
pids=()
for f in "$tmp/log1" "$tmp/log2"; do
  for secret in "$TOKEN" QUERYSECRET "${GOOD#sha256=}" "$right" "Hello, World" '"zen"' aaaaaaaaaaaa; do
    ! grep -qF -- "$secret" "$f" || fail "$f contains a secret or body: $secret"
  done
done
grep -q 'access method=POST route=/v1/namespaces path="/v1/namespaces" status=200' "$tmp/log2" || fail "no access line for the write"
grep -q 'access method=POST route=/hooks/github path="/hooks/github" status=401' "$tmp/log2" || fail "no access line for a refused hook"
grep -q 'access method=GET route=/healthz path="/healthz" status=401' "$tmp/log1" || fail "no access line for a refused read"
lines=$(grep -c ' access ' "$tmp/log2")
[ "$lines" -ge 20 ] || fail "expected an access line per request, got $lines"
# --log-json: every line is one JSON object, still without secrets
start "$tmp/log3" --listen 127.0.0.1:0 --token-file "$tmp/token" --log-json
curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" "$URL/healthz?password=QUERYSECRET"
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -d 'BODYSECRET' "$URL/v1/namespaces"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
pids=()
python3 - "$tmp/log3" "$TOKEN" <<'PY' || fail "--log-json access log"
import json, sys
path, token = sys.argv[1], sys.argv[2]
text = open(path).read()
for bad in (token, "QUERYSECRET", "BODYSECRET"):
    assert bad not in text, bad
recs = [json.loads(l) for l in text.splitlines() if l.strip()]
acc = [r for r in recs if "access " in r.get("msg", "")]
assert len(acc) == 2, acc
assert 'route=/healthz' in acc[0]["msg"] and 'status=200' in acc[0]["msg"], acc[0]
PY
echo "serve_security: ok"
