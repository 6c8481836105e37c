#!/usr/bin/env bash
# Alerts against a real HTTP server on 127.0.0.1 started here: a generic
# webhook (the first attempt gets a 500 and is retried), a Slack webhook
# (URL from an environment variable), PagerDuty Events v2 (trigger with a
# dedup key, then resolve when a later run succeeds), and a command target;
# fired on failure after the last retry, on retry, on run success, on a
# run's dagrun_timeout, on a task's SLA miss; the
# runner never waits for them. Secrets never reach the log.
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/server.py" <<'PY'
import http.server, json, sys, threading
out, portfile = sys.argv[1], sys.argv[2]
seen = {"n": 0}
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with lock:
            seen["n"] += 1
            first_flaky = self.path == "/flaky" and not seen.get("flaky")
            if self.path == "/flaky":
                seen["flaky"] = True
            with open(out, "a") as f:
                f.write(json.dumps({"path": self.path, "ctype": self.headers.get("Content-Type"), "body": json.loads(body)}) + "\n")
        self.send_response(500 if first_flaky else 200)
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(portfile, "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$P/server.py" "$P/requests.ndjson" "$P/port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$P"' EXIT
for i in $(seq 50); do [ -s "$P/port" ] && break; sleep 0.1; done
port=$(cat "$P/port")
export KILN_TEST_SLACK_URL="http://127.0.0.1:$port/slack"
export KILN_TEST_PD_KEY="secret-routing-key-123"
cat > "$P/kiln.yml" <<YML
alerts:
  hook: {type: webhook, url: "http://127.0.0.1:$port/flaky", retries: 2, timeout: 5s}
  chat: {type: slack, url_env: KILN_TEST_SLACK_URL}
  pager: {type: pagerduty, url: "http://127.0.0.1:$port/pd", routing_key_env: KILN_TEST_PD_KEY}
  script: {type: command, command: [sh, -c, 'echo "\$KILN_ALERT_EVENT \$KILN_TASK \$KILN_LOGICAL_DATE" >> $P/cmd.txt']}
YML
cat > "$P/dags/al.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
on_failure: [hook, chat, pager, script]
on_retry: [script]
on_success: [chat]
tasks:
  breaks:
    type: command
    command: [sh, -c, 'test -f fixed']
    retries: 1
    retry_delay: 10ms
YML
expect_rc 1 K dags run al --date 2024-01-02
# deliveries are asynchronous: wait for them (bounded), never for timing
wait_for() { for i in $(seq 300); do [ "$(lines "$1" "$2")" -ge "$3" ] && return 0; sleep 0.1; done; fail "waited for $3 x '$2' in $1"; }
wait_for "$P/.kiln/alerts.ndjson" '"target":"hook"' 1
wait_for "$P/.kiln/alerts.ndjson" '"target":"pager"' 1
wait_for "$P/.kiln/alerts.ndjson" '"target":"chat"' 1
wait_for "$P/cmd.txt" 'failure' 1
want "$(grep -c '^retry breaks 2024-01-02T00:00:00Z$' "$P/cmd.txt")" 1 "retry alert to the command"
want "$(grep -c '^failure breaks 2024-01-02T00:00:00Z$' "$P/cmd.txt")" 1 "failure alert to the command"
r="$P/requests.ndjson"
want "$(jq -r 'select(.path == "/flaky") | .body.event' "$r" | sort | uniq -c | awk '{print $1}')" 2 "webhook retried after a 500"
jq -e -s 'map(select(.path == "/flaky")) | length == 2 and all(.ctype == "application/json" and .body.dag == "al" and .body.task == "breaks" and .body.try == 2 and .body.message == "exit 1")' "$r" >/dev/null || fail "webhook body"
jq -e -s '[.[] | select(.target == "hook")][0] | .ok == true and .attempts == 2 and .http_status == 200' "$P/.kiln/alerts.ndjson" >/dev/null || fail "webhook outcome"
jq -e -s 'map(select(.path == "/slack"))[0] | (.body.text | contains("FAILED")) and .body.blocks[0].text.type == "mrkdwn"' "$r" >/dev/null || fail "slack body"
jq -e -s 'map(select(.path == "/pd"))[0] | .body.event_action == "trigger" and .body.routing_key == "secret-routing-key-123" and .body.dedup_key == "kiln/al/breaks/2024-01-02T00:00:00Z" and .body.payload.severity == "error" and .body.payload.source == "kiln"' "$r" >/dev/null || fail "pagerduty trigger"
# fix the cause and run again: the task succeeds, PagerDuty gets resolve, Slack the run success
touch "$P/fixed"
expect_rc 0 K dags run al --date 2024-01-02
wait_for "$r" '"resolve"' 1
wait_for "$r" 'succeeded' 1
jq -e -s 'map(select(.path == "/pd" and .body.event_action == "resolve")) | length == 1 and .[0].body.dedup_key == "kiln/al/breaks/2024-01-02T00:00:00Z" and .[0].body.routing_key == "secret-routing-key-123"' "$r" >/dev/null || fail "pagerduty resolve"
# a third run (nothing to resolve) sends no second resolve
expect_rc 0 K dags run al --date 2024-01-02
sleep 0.5
want "$(grep -c '"resolve"' "$r")" 1 "one resolve only"
# secrets stay out of kiln's own outputs
! grep -rq "secret-routing-key-123" "$P/.kiln/alerts.ndjson" "$P/.kiln/logs" || fail "routing key leaked"
# dagrun_timeout: a run-level "timeout" alert (no task), then the killed
# task's failure alert
cat > "$P/dags/slow.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
dagrun_timeout: 300ms
on_failure: [script, hook]
tasks: {nap: {type: command, command: [sleep, '30']}}
YML
expect_rc 1 K dags run slow --date 2024-01-03
wait_for "$P/cmd.txt" '^timeout  2024-01-03' 1
wait_for "$P/cmd.txt" '^failure nap 2024-01-03' 1
wait_for "$P/requests.ndjson" '"event": "timeout"' 1
jq -e -s 'map(select(.body.event == "timeout"))[0].body | .dag == "slow" and .task == null and (.summary | test("TIMED OUT: dagrun_timeout \\(0.3s\\) passed"))' "$r" >/dev/null ||
  fail "timeout alert body: $(grep timeout "$r")"
rm "$P/dags/slow.yml"
# sla: a task not succeeded that long after the run started fires
# on_sla_miss (once, the task goes on); one that made it does not
cat > "$P/dags/late.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
on_sla_miss: [script]
default_task: {sla: 1s}
tasks:
  quick: {type: command, command: ['true']}
  lagging: {type: command, command: [sleep, '2']}
  after: {type: command, command: ['true'], needs: [lagging], sla: 1500ms}
YML
expect_rc 0 K dags run late --date 2024-01-04
wait_for "$P/cmd.txt" '^sla_miss lagging 2024-01-04' 1
wait_for "$P/cmd.txt" '^sla_miss after 2024-01-04' 1
want "$(grep -c '^sla_miss quick' "$P/cmd.txt")" 0 "no SLA miss for a task that made it"
want "$(grep -c '^sla_miss' "$P/cmd.txt")" 2 "one SLA miss per late task"
rm "$P/dags/late.yml"
# an unknown alert target is a validation error with its position
cat > "$P/dags/bad.yml" <<'YML'
on_failure: [nobody]
tasks: {t: {type: command, command: ['true']}}
YML
expect_rc 3 K dags validate
grep -q "bad.yml:1:13: on_failure: unknown alert target 'nobody'" <<<"$OUT" || fail "unknown target: $OUT"
echo ok
