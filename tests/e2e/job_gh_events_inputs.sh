#!/usr/bin/env bash
# kiln job gh-events never succeeds silently on input it did not read:
#   an empty --in folder, a mistyped one, a range without hour files, or only
#   names it does not recognise -> exit 4 with what was looked for (folder,
#   name pattern, range) and what is there; --allow-missing makes an empty run
#   ok with "0 hours"; zero-padded names (2025-01-01-05.json.gz) are read like
#   GH Archive's own; one hour spelled both ways is refused naming both files
#   (exit 1); names that look like hour files but are not are listed as not
#   read.
set -euo pipefail
: "${KILN_BIN:?}" "${KILN_ROOT:?}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
K="$KILN_BIN"
fail() { echo "FAIL: $*"; exit 1; }
run() { # want cmd... (stdout -> $T/o, stderr -> $T/e)
  local want="$1"; shift
  set +e; "$@" >"$T/o" 2>"$T/e"; local rc=$?; set -e
  [ "$rc" = "$want" ] || fail "exit $rc, want $want: $* ($(cat "$T/e") $(head -3 "$T/o"))"
}
has() { grep -qF -- "$2" "$T/$1" || fail "$1 lacks '$2': $(cat "$T/$1")"; }

"$K" gen gharchive --out "$T/gen" --start 2025-01-01 --days 1 --hours 3 --scale 0.0005 --seed 5 >/dev/null

# empty folder
mkdir "$T/empty"
run 4 "$K" job gh-events --in "$T/empty" --out "$T/o1"
has e "$T/empty"; has e "YYYY-MM-DD-H.json.gz"; has e "the folder is empty"; has e "--allow-missing"
[ ! -e "$T/o1/pushes" ] || fail "an empty run wrote output"
# --allow-missing: an empty run is ok and says so
run 0 "$K" job gh-events --in "$T/empty" --out "$T/o1" --allow-missing
has o "0 hours"
run 0 "$K" job gh-events --in "$T/empty" --out "$T/o1" --allow-missing --json
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["hours"] == 0 and s["status"] == "ok", s' "$T/o"

# mistyped folder: not found, with the close name
run 4 "$K" job gh-events --in "$T/gne" --out "$T/o2"
has e "no such directory"; has e "did you mean $T/gen?"

# a range with no hour files: the range and what the folder covers
run 4 "$K" job gh-events --in "$T/gen" --out "$T/o3" --start 2025-02-01 --end 2025-02-03
has e "2025-02-01..2025-02-03"; has e "cover 2025-01-01..2025-01-01"
run 0 "$K" job gh-events --in "$T/gen" --out "$T/o3" --start 2025-02-01 --end 2025-02-03 --allow-missing
has o "0 hours"

# only names it does not recognise
mkdir "$T/odd"
cp "$T/gen/2025-01-01-0.json.gz" "$T/odd/2025-1-1-0.json.gz"
cp "$T/gen/2025-01-01-1.json.gz" "$T/odd/2025-01-01-1.json"
run 4 "$K" job gh-events --in "$T/odd" --out "$T/o4"
has e "not hour names: 2025-01-01-1.json, 2025-1-1-0.json.gz"

# zero-padded names are read (same rows as GH Archive's spelling)
mkdir "$T/pad"
for h in 0 1 2; do cp "$T/gen/2025-01-01-$h.json.gz" "$T/pad/2025-01-01-0$h.json.gz"; done
run 0 "$K" job gh-events --in "$T/gen" --out "$T/ref" --json
cp "$T/o" "$T/ref.json"
run 0 "$K" job gh-events --in "$T/pad" --out "$T/padout" --json
python3 - "$T/ref.json" "$T/o" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1]))["total"], json.load(open(sys.argv[2]))["total"]
assert b["files"] == 3 and b["pushes"] == a["pushes"] > 0 and b["commits"] == a["commits"], (a, b)
PY
diff -r "$T/ref/pushes" "$T/padout/pushes" >/dev/null || fail "zero-padded names gave other pushes"
diff -r "$T/ref/commits" "$T/padout/commits" >/dev/null || fail "zero-padded names gave other commits"

# one hour spelled both ways: refused, both files named
cp "$T/gen/2025-01-01-1.json.gz" "$T/pad/2025-01-01-1.json.gz"
run 1 "$K" job gh-events --in "$T/pad" --out "$T/o5"
has e "2025-01-01-01.json.gz"; has e "2025-01-01-1.json.gz"; has e "twice"
# ... but only inside the range that runs
cp "$T/gen/2025-01-01-1.json.gz" "$T/pad/2025-01-03-1.json.gz"
cp "$T/gen/2025-01-01-1.json.gz" "$T/pad/2025-01-03-01.json.gz"
rm "$T/pad/2025-01-01-1.json.gz"
run 0 "$K" job gh-events --in "$T/pad" --out "$T/o5" --start 2025-01-01 --end 2025-01-01

# a name that looks like an hour file beside good ones: listed as not read
cp "$T/gen/2025-01-01-2.json.gz" "$T/gen/2025-01-01-2.json.gz.bak.gz"
run 0 "$K" job gh-events --in "$T/gen" --out "$T/o6"
has o "not read (not an hour file name) (1): 2025-01-01-2.json.gz.bak.gz"
echo "ok: gh-events input checks (empty, mistyped, empty range, unrecognised, zero-padded, both spellings)"
