#!/usr/bin/env bash
# kiln-test: slow (started first by tests/run.sh)
# Docs that run: every fenced code block whose info string is `sh example`
# in README.md and docs/**/*.md is executed, command by command, against a
# small demo warehouse, and each command's exit code is checked.
#
# The convention (docs/README.md says it too):
#   ```sh example
#   kiln table describe github.commits        # expects exit 0
#   # exit: 4
#   kiln table describe github.nope           # the line after `# exit: N` expects N
#   ```
# Lines ending in `\` continue the command. Each block runs in its own fresh
# copy of the scratch directory, whose contents are:
#   warehouse/   Iceberg tables github.pushes and github.commits (demo data)
#   gharchive/   the GH Archive hour files they were loaded from
#   build/kiln   the binary under test (also on PATH as `kiln`)
# so an example may change tables without disturbing the next block.
set -euo pipefail
cd "$KILN_ROOT"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT

base="$T/base"
mkdir -p "$base/build"
ln -s "$KILN_BIN" "$base/build/kiln"
ln -s . "$base/demo-out" # the README says demo-out/personal-api/warehouse
ln -s . "$base/personal-api"
"$KILN_BIN" gen gharchive --start 2025-10-05 --days 3 --scale 0.002 --seed 42 --out "$base/gharchive" >/dev/null
"$KILN_BIN" job gh-events --in "$base/gharchive" --format iceberg --warehouse "$base/warehouse" >/dev/null 2>&1

export PATH="$(dirname "$KILN_BIN"):$PATH"
unset KILN_WAREHOUSE

docs=(README.md $(find docs -name '*.md' | sort))
nblocks=0 ncmds=0 fail=0
run_block() { # file, first line number, commands file
  local file="$1" line="$2" cmds="$3" dir
  dir="$T/run$nblocks"
  cp -a "$base" "$dir"
  local want=0 cmd="" n=0 l
  while IFS= read -r l || [ -n "$l" ]; do
    n=$((n + 1))
    if [[ "$l" =~ ^[[:space:]]*#[[:space:]]*exit:[[:space:]]*([0-9]+) ]]; then want="${BASH_REMATCH[1]}"; continue; fi
    [[ -z "$cmd" && ( "$l" =~ ^[[:space:]]*# || "$l" =~ ^[[:space:]]*$ ) ]] && continue
    if [[ "$l" == *\\ ]]; then cmd+="${l%\\} "; continue; fi
    cmd+="$l"
    local rc=0
    (cd "$dir" && bash -c "$cmd" >"$T/out" 2>&1 </dev/null) || rc=$?
    ncmds=$((ncmds + 1))
    if [ "$rc" -ne "$want" ]; then
      echo "$file:$((line + n)): exit $rc, documented $want: $cmd"
      sed 's/^/    /' "$T/out" | tail -n 8
      fail=1
    fi
    cmd="" want=0
  done <"$cmds"
  rm -rf "$dir"
}

for f in "${docs[@]}"; do
  inblock=0 start=0 ln=0
  : >"$T/cmds"
  while IFS= read -r l || [ -n "$l" ]; do
    ln=$((ln + 1))
    if [ $inblock -eq 0 ] && [[ "$l" =~ ^\`\`\`sh[[:space:]]+example[[:space:]]*$ ]]; then
      inblock=1 start=$ln; : >"$T/cmds"; continue
    fi
    if [ $inblock -eq 1 ] && [[ "$l" =~ ^\`\`\` ]]; then
      inblock=0 nblocks=$((nblocks + 1))
      run_block "$f" "$start" "$T/cmds"
      continue
    fi
    [ $inblock -eq 1 ] && printf '%s\n' "$l" >>"$T/cmds"
  done <"$f"
done

echo "docs examples: $nblocks blocks, $ncmds commands"
[ "$nblocks" -gt 0 ] || { echo "no \`\`\`sh example blocks found in the docs"; exit 1; }
exit $fail
