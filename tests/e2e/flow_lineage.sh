#!/usr/bin/env bash
# OpenLineage RunEvents (spec 2-0-2) to an NDJSON file: per try one START
# and one COMPLETE or FAIL with the same UUID runId, the fields consumers
# read (eventTime, producer, schemaURL, job, run.facets.nominalTime/parent,
# errorMessage on FAIL, inputs/outputs from consumes/produces).
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/kiln.yml" <<'YML'
flow:
  lineage: {file: .kiln/lineage.ndjson}
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
echo ok
