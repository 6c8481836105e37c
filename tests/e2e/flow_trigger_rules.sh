#!/usr/bin/env bash
# Every trigger rule against a succeeding, a failing and a skipped upstream,
# with the states Airflow gives; the run fails because a leaf failed.
source "$(dirname "$0")/flow_lib.bash"
cat > "$P/dags/tr.yml" <<'YML'
schedule: "@daily"
start_date: 2024-01-01
default_task: {type: command, command: [sh, -c, 'echo "$KILN_TASK" >> ran.txt']}
tasks:
  ok: {}
  bad: {command: ['false']}
  skipped: {needs: [ok], trigger_rule: all_failed}            # ok succeeded -> skipped
  all_success: {needs: [ok, bad]}                             # upstream_failed
  all_success_skip: {needs: [ok, skipped]}                    # skipped (skips cascade)
  all_failed: {needs: [bad], trigger_rule: all_failed}        # runs
  all_done: {needs: [ok, bad], trigger_rule: all_done}        # runs
  one_success: {needs: [ok, bad], trigger_rule: one_success}  # runs
  one_success_none: {needs: [bad], trigger_rule: one_success} # upstream_failed
  one_failed: {needs: [ok, bad], trigger_rule: one_failed}    # runs
  one_failed_none: {needs: [ok], trigger_rule: one_failed}    # skipped
  none_failed: {needs: [ok, skipped], trigger_rule: none_failed}   # runs
  none_failed_bad: {needs: [ok, bad], trigger_rule: none_failed}   # upstream_failed
  nfmos: {needs: [ok, skipped], trigger_rule: none_failed_min_one_success}       # runs
  nfmos_skipped: {needs: [skipped], trigger_rule: none_failed_min_one_success}   # skipped
  nfmos_bad: {needs: [ok, bad], trigger_rule: none_failed_min_one_success}       # upstream_failed
  always: {needs: [bad], trigger_rule: always}                # runs
YML
expect_rc 0 K dags validate
expect_rc 1 K dags run tr --date 2024-01-01
check() { want "$(state tr "$1" 2024-01-01)" "$2" "trigger rule task $1"; }
check ok success; check bad failed; check skipped skipped
check all_success upstream_failed; check all_success_skip skipped
check all_failed success; check all_done success
check one_success success; check one_success_none upstream_failed
check one_failed success; check one_failed_none skipped
check none_failed success; check none_failed_bad upstream_failed
check nfmos success; check nfmos_skipped skipped; check nfmos_bad upstream_failed
check always success
# what ran is exactly the tasks in state success
want "$(sort "$P/ran.txt" | tr '\n' ' ')" "all_done all_failed always nfmos none_failed ok one_failed one_success " "tasks that ran"
want "$(sqlite3 "$P/.kiln/flow.db" "SELECT state FROM dag_run")" failed "run state (a leaf failed)"
echo ok
