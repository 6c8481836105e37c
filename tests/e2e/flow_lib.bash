# Shared helpers for tests/e2e/flow_*.sh (sourced; not a test itself).
set -euo pipefail
P="$(mktemp -d)"
trap 'rm -rf "$P"' EXIT
mkdir -p "$P/dags"
K() { "$KILN_BIN" "$@" --project-dir "$P"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# state DAG TASK DATE -> the task instance's state in the store
state() { sqlite3 "$P/.kiln/flow.db" "SELECT state FROM task_instance WHERE dag='$1' AND task='$2' AND logical_date='$3T00:00:00Z'"; }
tries() { sqlite3 "$P/.kiln/flow.db" "SELECT try_number FROM task_instance WHERE dag='$1' AND task='$2' AND logical_date='$3T00:00:00Z'"; }
want() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }
# expect_rc N cmd...: run, check the exit code, keep stdout+stderr in $OUT
expect_rc() {
  local want_rc="$1"; shift
  set +e; OUT="$("$@" 2>&1)"; local rc=$?; set -e
  [ "$rc" -eq "$want_rc" ] || { echo "$OUT" >&2; fail "'$*' exit $rc, want $want_rc"; }
}
lines() { if [ -f "$1" ]; then grep -c "${2:-.}" "$1" || true; else echo 0; fi; }
