#!/usr/bin/env bash
# kiln job gh-events with bad hours among good ones (generated 3 days x 3
# hours; day 2 gets two truncated hours, day 3 a garbage line):
#  --keep-going: exit 6 (partial), days 1 and 3 loaded, day 2 failed with
#    BOTH errors listed (file, byte offset), its previous output kept; the
#    summary names the quarantine folder, which holds the garbage line;
#  without it (1 thread): exit 6 too, the day after the failure skipped and
#    named;
#  a run where every planned day fails: exit 1.
set -euo pipefail
: "${KILN_BIN:?}" "${KILN_ROOT:?}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
K="$KILN_BIN"
fail() { echo "FAIL: $*"; exit 1; }
run() { # want cmd...
  local want="$1"; shift
  set +e; "$@" >"$T/o" 2>"$T/e"; local rc=$?; set -e
  [ "$rc" = "$want" ] || fail "exit $rc, want $want: $* ($(cat "$T/e"))"
}

"$K" gen gharchive --out "$T/in" --start 2025-05-01 --days 3 --hours 3 --scale 0.0005 --seed 9 >/dev/null
"$K" job gh-events --in "$T/in" --out "$T/out" --threads 2 >/dev/null   # a good run first
(cd "$T/out" && find pushes commits -path '*date=2025-05-02*' -type f | sort | xargs sha256sum) >"$T/day2.before"
for h in 0 2; do
  f="$T/in/2025-05-02-$h.json.gz"
  head -c $(( $(stat -c %s "$f") / 2 )) "$f" >"$f.cut" && mv "$f.cut" "$f"
done
python3 - "$T/in/2025-05-03-1.json.gz" <<'PY'
import gzip, sys
p = sys.argv[1]
lines = gzip.open(p, "rt", encoding="utf-8").read().split("\n")
lines.insert(3, '{"id":"9999", this is not json')
with gzip.open(p, "wt", encoding="utf-8") as f:
    f.write("\n".join(lines))
PY

# ---- --keep-going
run 6 "$K" job gh-events --in "$T/in" --out "$T/out" --threads 2 --keep-going --json
cp "$T/o" "$T/kg.json"; cp "$T/e" "$T/kg.err"
python3 - "$T/kg.json" "$T/out" <<'PY'
import json, os, sys
s, out = json.load(open(sys.argv[1])), sys.argv[2]
st = {p["date"]: p["status"] for p in s["partitions"]}
assert st == {"2025-05-01": "ok", "2025-05-02": "failed", "2025-05-03": "ok"}, st
assert s["status"] == "partial" and s["failed_partitions"] == 1 and s["loaded_partitions"] == 2, s
p2 = [p for p in s["partitions"] if p["date"] == "2025-05-02"][0]
errs = p2["errors"]
assert len(errs) == 2, errs  # every failed hour, not only the first
assert errs[0].startswith("2025-05-02-0.json.gz: ") and errs[1].startswith("2025-05-02-2.json.gz: "), errs
assert all("offset" in e for e in errs), errs
q = s["quarantine"]
assert q == f"{out}/_quarantine", q
recs = [json.loads(l) for l in open(f"{q}/2025-05-03-1.json.gz.ndjson")]
assert any(r["line"] == 4 and "this is not json" in r["raw"] for r in recs), recs
assert s["total"]["quarantined"] == len(recs) >= 1, (s["total"], recs)
PY
grep -q "2025-05-02-0.json.gz" "$T/kg.err" && grep -q "2025-05-02-2.json.gz" "$T/kg.err" || fail "stderr lacks an error: $(cat "$T/kg.err")"
(cd "$T/out" && find pushes commits -path '*date=2025-05-02*' -type f | sort | xargs sha256sum) >"$T/day2.after"
cmp -s "$T/day2.before" "$T/day2.after" || fail "the failed day's previous output changed"
# the text summary names the failed partition, each error and the quarantine folder
run 6 "$K" job gh-events --in "$T/in" --out "$T/out" --threads 2 --keep-going
grep -q "partition 2025-05-02 failed" "$T/o" || fail "text summary lacks the failed partition: $(cat "$T/o")"
grep -q "^  2025-05-02-2.json.gz: " "$T/o" || fail "text summary lacks the second error: $(cat "$T/o")"
grep -qF "to $T/out/_quarantine" "$T/o" || fail "text summary lacks the quarantine folder: $(cat "$T/o")"
grep -qE "^total +partial " "$T/o" || fail "total row: $(cat "$T/o")"

# ---- without --keep-going (1 thread: the order is fixed): day 3 is not run
run 6 "$K" job gh-events --in "$T/in" --out "$T/out2" --threads 1 --json
python3 - "$T/o" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
st = {p["date"]: p["status"] for p in s["partitions"]}
assert st == {"2025-05-01": "ok", "2025-05-02": "failed", "2025-05-03": "skipped"}, st
p2 = [p for p in s["partitions"] if p["date"] == "2025-05-02"][0]
assert len(p2["errors"]) == 1, p2  # stopped at the first
assert s["status"] == "partial", s
PY
[ ! -e "$T/out2/pushes/date=2025-05-03" ] || fail "a skipped day has output"

# ---- every planned day fails: total failure
run 1 "$K" job gh-events --in "$T/in" --out "$T/out3" --start 2025-05-02 --end 2025-05-02 --keep-going
grep -qE "^total +failed " "$T/o" || fail "total row: $(cat "$T/o")"
echo "ok: gh-events --keep-going: partial exit 6, every error listed, quarantine named and filled; total failure exit 1"
