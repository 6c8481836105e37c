#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# OpenLineage RunEvents (spec 2-0-2) to an NDJSON file: per try one START
# and one COMPLETE, FAIL or ABORT with the same UUID runId (RUNNING per
# sensor poke), the fields consumers
# read (eventTime, producer, schemaURL, job, run.facets.nominalTime/parent,
# errorMessage on FAIL, inputs/outputs from consumes/produces), every event
# valid against the published 2-0-2 JSON schema and its facets' schemas
# (ajv, tests/node/openlineage_validate.mjs); the HTTP transport
# (flow.lineage.url) POSTs the same events, in order, to a server on
# 127.0.0.1; an endpoint that is down never fails or blocks the run and its
# events land in .kiln/lineage.undelivered.ndjson.
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/server.py" <<'PY'
import http.server, sys
out, portfile = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(out, "a") as f:
            f.write(self.path + " " + self.headers.get("Content-Type", "") + " " + body + "\n")
        self.send_response(201)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portfile, "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$P/server.py" "$P/posted.txt" "$P/port" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$P"' EXIT
for i in $(seq 50); do [ -s "$P/port" ] && break; sleep 0.1; done
port=$(cat "$P/port")
cat > "$P/kiln.yml" <<YML
flow:
  lineage: {file: .kiln/lineage.ndjson, url: "http://127.0.0.1:$port/api/v1/lineage", timeout: 2s}
YML
cat > "$P/dags/ol.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
tasks:
  extract:
    type: command
    command: ['true']
    produces: [raw/github, 'iceberg://warehouse/github.pushes']
  fails:
    type: command
    command: [sh, -c, 'exit 4']
    retries: 1
    retry_delay: 10ms
    consumes: [raw/github]
    needs: [extract]
YML
expect_rc 1 K dags run ol --date 2024-01-02
f="$P/.kiln/lineage.ndjson"
want "$(wc -l < "$f")" 6 "3 tries x 2 events"
jq -e . "$f" >/dev/null || fail "not NDJSON"
want "$(jq -r .eventType "$f" | sort | uniq -c | tr -s ' ' | tr '\n' ';')" " 1 COMPLETE; 2 FAIL; 3 START;" "event types"
uuid='^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
jq -r .run.runId "$f" | grep -Evq "$uuid" && fail "runId not a UUIDv7"
# each runId: exactly one START and one terminal event
want "$(jq -r '.run.runId' "$f" | sort | uniq -c | awk '{print $1}' | sort -u)" 2 "two events per runId"
jq -e -s 'all(.[]; .schemaURL == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
  and (.producer | startswith("https://")) and (.eventTime | test("^2[0-9-]+T[0-9:]+Z$"))
  and .job.namespace == "kiln"
  and .run.facets.nominalTime.nominalStartTime == "2024-01-02T00:00:00Z"
  and .run.facets.nominalTime.nominalEndTime == "2024-01-03T00:00:00Z"
  and .run.facets.parent.job.name == "ol"
  and (.run.facets.parent._schemaURL | test("ParentRunFacet")))' "$f" >/dev/null || fail "common fields"
want "$(jq -r .run.facets.parent.run.runId "$f" | sort -u | wc -l)" 1 "one parent run for every task"
jq -e -s '[.[] | select(.eventType == "FAIL")] | all(.job.name == "ol.fails" and .run.facets.errorMessage.message == "exit 4")' "$f" >/dev/null || fail "FAIL events"
jq -e -s --arg dir "$P" '[.[] | select(.job.name == "ol.extract")][0].outputs ==
  [{"namespace":"file","name":($dir + "/raw/github")},{"namespace":"iceberg://warehouse","name":"github.pushes"}]' "$f" >/dev/null || fail "outputs"
jq -e -s '[.[] | select(.job.name == "ol.fails")][0].inputs[0].namespace == "file"' "$f" >/dev/null || fail "inputs"
# the published schema (independent validator): every event of this test,
# once, at the end
# a broken event is caught by the validator (the check can fail)
head -1 "$f" | jq -c '.run.runId = "not-a-uuid" | del(.producer)' > "$P/broken.ndjson"
node "$KILN_ROOT/tests/node/openlineage_validate.mjs" "$P/broken.ndjson" 2>/dev/null && fail "validator accepted a broken event"
# HTTP: the same 6 events, in the file's order, POSTed as JSON
for i in $(seq 100); do [ "$(lines "$P/posted.txt")" -ge 6 ] && break; sleep 0.1; done
want "$(lines "$P/posted.txt")" 6 "events POSTed"
want "$(cut -d' ' -f1,2 "$P/posted.txt" | sort -u)" "/api/v1/lineage application/json" "path and content type"
want "$(cut -d' ' -f3- "$P/posted.txt" | jq -c .)" "$(jq -c . "$f")" "the POSTed events are the file's, in order"
# the endpoint down: the run is not held up or failed; the events are kept
kill $server; wait $server 2>/dev/null || true
t0=$(date +%s%N)
expect_rc 0 K tasks run ol extract --date 2024-01-05
[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000 ] || fail "the run waited for the lineage endpoint"
for i in $(seq 100); do [ "$(lines "$P/.kiln/lineage.undelivered.ndjson")" -ge 2 ] && break; sleep 0.1; done
want "$(jq -r .eventType "$P/.kiln/lineage.undelivered.ndjson" | tr '\n' ' ')" "START COMPLETE " "undelivered events kept"
# RUNNING: a sensor's poke that does not end its try (same runId as its
# START); ABORT: a try kiln stopped (the run's dagrun_timeout), not FAIL
cat > "$P/dags/ol2.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
dagrun_timeout: 1500ms
tasks:
  wait: {type: sensor.file, path: never-there, poke_interval: 200ms, timeout: 30s}
  slow: {type: command, command: [sleep, '30']}
  bad: {type: command, command: ['false']}
YML
expect_rc 1 K dags run ol2 --date 2024-01-02
ev() { jq -r --arg j "ol2.$1" 'select(.job.name == $j) | .eventType' "$f" | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }
want "$(ev slow)" " 1 ABORT; 1 START;" "the dagrun_timeout kill is an ABORT"
want "$(ev bad)" " 1 FAIL; 1 START;" "a failing task is a FAIL"
r="$(ev wait)"
case "$r" in *" 1 ABORT;"*" RUNNING;"*" 1 START;") ;; *) fail "sensor events: $r" ;; esac
n=$(jq -r 'select(.job.name == "ol2.wait" and .eventType == "RUNNING") | .eventType' "$f" | wc -l)
[ "$n" -ge 3 ] || fail "$n RUNNING events for ~7 pokes"
want "$(jq -r 'select(.job.name == "ol2.wait") | .run.runId' "$f" | sort -u | wc -l)" 1 "one runId for the sensor's try"
jq -e -s '[.[] | select(.eventType == "ABORT")] | all(.run.facets.errorMessage.message | test("dagrun_timeout"))' "$f" >/dev/null ||
  fail "ABORT says why"
want "$(jq -r .eventType "$f" | sort -u | tr '\n' ' ')" "ABORT COMPLETE FAIL RUNNING START " "every event type"
node "$KILN_ROOT/tests/node/openlineage_validate.mjs" "$f" || fail "schema validation"
echo ok
