#!/usr/bin/env bash
# kiln job gh-events against an independent computation by DuckDB
# (tests/node/engine_gh_duckdb.mjs: read_ndjson over the .json.gz files,
# PushEvents deduped by id, payload.commits unnested, one commit per
# (repo_id, sha) and day from the later push: the grain), on generated data
# spanning 2025-10-06..08 so both PushEvent eras appear:
#  1. clean data, CSV: pushes and commits equal row for row (md5 over all
#     columns of all rows); a re-run gives byte-identical files; a tampered
#     output is caught by the comparer (the check can fail).
#  2. --quirks, NDJSON, --keep-going: the truncated file fails only its day
#     (exit 6, partial; offset
#     in the message, no output for that day); NUL run and malformed line are
#     quarantined at the lines _quirks.json names; duplicates counted; every
#     other hour equals DuckDB.
set -euo pipefail
: "${KILN_BIN:?}" "${KILN_ROOT:?}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
NODE_DIR="$KILN_ROOT/tests/node"
cmp_duckdb() { (cd "$NODE_DIR" && node engine_gh_duckdb.mjs compare "$@"); }
fail() { echo "FAIL: $*"; exit 1; }

# ---- 1. clean data, CSV
"$KILN_BIN" gen gharchive --out "$T/in" --start 2025-10-06 --days 3 --hours 4 --scale 0.002 --seed 7 >/dev/null
"$KILN_BIN" job gh-events --in "$T/in" --out "$T/out" --start 2025-10-06 --end 2025-10-08 --threads 2 --json >"$T/sum.json"
cmp_duckdb csv "$T/out" "$T/in"/*.json.gz || fail "clean CSV run differs from DuckDB"
python3 - "$T/sum.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["total"]
assert s["failed_partitions"] == 0, s
assert t["files"] == 12 and t["missing_hours"] == 60, t
assert [p["status"] for p in s["partitions"]] == ["ok"] * 3, s["partitions"]
# era switch: 2025-10-07 and later pushes carry no commits
assert s["partitions"][0]["commits"] > 0 and s["partitions"][1]["commits"] == 0 and s["partitions"][2]["commits"] == 0
PY
(cd "$T/out" && find pushes commits -type f | sort | xargs sha256sum) >"$T/h1"
"$KILN_BIN" job gh-events --in "$T/in" --out "$T/out" --start 2025-10-06 --end 2025-10-08 --threads 1 >/dev/null
(cd "$T/out" && find pushes commits -type f | sort | xargs sha256sum) >"$T/h2"
cmp -s "$T/h1" "$T/h2" || fail "re-run (1 thread vs 2) is not byte-identical: $(diff "$T/h1" "$T/h2" | head -4)"
ls -a "$T/out/pushes" | grep -q staging && fail "staging directory left behind"
# the comparer must be able to fail: change one commit message
cp -r "$T/out" "$T/bad"
f="$(ls "$T/bad/commits/date=2025-10-06/"*.csv | head -1)"
python3 - "$f" <<'PY'
import sys
p = sys.argv[1]; lines = open(p, encoding="utf-8").read().split("\n")
cols = lines[1].split(",")
cols[2] = cols[2][:-1] + ("0" if cols[2][-1] != "0" else "1")  # one sha character
lines[1] = ",".join(cols); open(p, "w", encoding="utf-8").write("\n".join(lines))
PY
if cmp_duckdb csv "$T/bad" "$T/in"/*.json.gz >"$T/bad.log" 2>&1; then fail "comparer did not notice a changed sha"; fi
grep -q MISMATCH "$T/bad.log" || fail "comparer failed for another reason: $(tail -3 "$T/bad.log")"

# ---- 2. quirks, NDJSON
"$KILN_BIN" gen gharchive --out "$T/q" --start 2025-10-06 --days 3 --scale 0.0006 --seed 1 --quirks >/dev/null
set +e
"$KILN_BIN" job gh-events --in "$T/q" --out "$T/qo" --format ndjson --threads 2 --keep-going --json >"$T/qsum.json" 2>"$T/qerr"
rc=$?
set -e
[ "$rc" = 6 ] || fail "quirks run exit $rc, want 6 (a truncated file fails its day, the others load); $(cat "$T/qerr")"
grep -q "compressed byte offset" "$T/qerr" || fail "failure message lacks the byte offset: $(cat "$T/qerr")"
python3 - "$T/q/_quirks.json" "$T/qsum.json" "$T/qo" >"$T/plan" <<'PY'
import json, sys, os, re
q = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2])); out = sys.argv[3]
trunc = q["truncated"][0]["file"]; tday = trunc[:10]
parts = {p["date"]: p for p in s["partitions"]}
assert parts[tday]["status"] == "failed" and "offset" in parts[tday]["error"], parts[tday]
assert not os.path.exists(f"{out}/pushes/date={tday}"), "failed day has output"
assert [p for p in s["partitions"] if p["status"] == "failed"] == [parts[tday]]
miss = q["missing_hours"][0]
assert miss in s["missing"], (miss, s["missing"])
ndup = sum(len(d["ids"]) for d in q["duplicates"])
dups_outside = sum(p["duplicates"] for p in s["partitions"])
assert dups_outside >= ndup, (dups_outside, ndup)
qrec = []
for f in os.listdir(f"{out}/_quarantine"):
    qrec += [json.loads(l) for l in open(f"{out}/_quarantine/{f}")]
def has(file, line, reason_part):
    return any(r["file"] == file and r["line"] == line and reason_part in r["reason"] for r in qrec)
for n in q["nul_runs"]:
    assert has(n["file"], n["after_line"] + 1, "NUL"), (n, qrec)
for m in q["malformed"]:
    assert any(r["file"] == m["file"] and r["line"] == m["line"] for r in qrec), (m, qrec)
# hours to leave out of the row comparison: the failed day, NUL and malformed hours
bad = {n["file"] for n in q["nul_runs"]} | {m["file"] for m in q["malformed"]} | {u["file"] for u in q.get("bad_unicode", [])}  # DuckDB rejects lone surrogates
hre = re.compile(r'.*-(\d+)\.json\.gz')
hours = ["part-%02d" % int(hre.match(b).group(1)) for b in bad]
days = [b[:10] for b in bad]
keep = [f for f in sorted(os.listdir(sys.argv[1].rsplit('/', 1)[0])) if f.endswith(".json.gz")
        and not f.startswith(tday) and f not in bad]
excl = "|".join(f"date={d}/{h}\\." for d, h in zip(days, hours))
print(excl)
print(" ".join(keep))
PY
excl="$(sed -n 1p "$T/plan")"
keep="$(sed -n 2p "$T/plan")"
files=(); for f in $keep; do files+=("$T/q/$f"); done
export KILN_PART_FILTER="^(?!.*(${excl})).*\$"
cmp_duckdb ndjson "$T/qo" "${files[@]}" || fail "quirks run differs from DuckDB on the clean hours"
echo "ok: gh-events matches DuckDB (clean CSV, quirks NDJSON), deterministic, failures isolated"
