#!/usr/bin/env bash
# The one option parser (src/cli/opt.h) as a user meets it: --opt=value,
# global options anywhere, --, help three ways, suggestions, missing values,
# log lines (text, JSON, levels), generated completion, and --json outputs
# that parse as JSON.
set -uo pipefail
K="$KILN_BIN"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "cli_options: $*" >&2; exit 1; }
W="$T/wh"
isjson() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const l of (process.argv[1]==="lines"?s.trim().split("\n"):[s]))JSON.parse(l)})' "${1:-}"; }

"$K" table -w "$W" create ns.t --schema 'id long not null, name string, day date' --partition 'day(day)' >/dev/null ||
  fail "create"
printf '{"id":1,"name":"a","day":"2024-03-01"}\n{"id":2,"name":"b\\nc","day":"2024-03-02"}\n' >"$T/rows.ndjson"
"$K" table -w "$W" append ns.t --input "$T/rows.ndjson" >/dev/null || fail "append"

# --opt value == --opt=value; short forms; options before or after positionals
a=$("$K" table -w "$W" scan ns.t --limit 1 --format ndjson) || fail "scan"
b=$("$K" table --warehouse="$W" scan --limit=1 --format=ndjson ns.t) || fail "scan with ="
c=$("$K" table scan -n 1 -f ndjson ns.t -w "$W") || fail "scan with short forms"
[ "$a" = "$b" ] && [ "$a" = "$c" ] || fail "spellings differ: $a / $b / $c"
[ -n "$a" ] || fail "no row"

# global options anywhere: before the command, between, after
x=$("$K" -w "$W" table list) && y=$("$K" table -w "$W" list) && z=$("$K" table list --warehouse "$W") ||
  fail "list with -w"
[ "$x" = "$y" ] && [ "$x" = "$z" ] || fail "--warehouse position changes the result"
[ "$(head -1 <<<"$x")" = $'name\tmetadata_location' ] || fail "TSV without header: $x"
grep -q '^ns.t' <<<"$x" || fail "table not listed: $x"

# ... also for a command that parses its own line (sql): main passes --warehouse on
for line in "-w $W sql" "sql -w $W" "sql --warehouse=$W"; do
  # shellcheck disable=SC2086
  [ "$("$K" $line --csv "select count(*) AS n from ns.t")" = $'n\n2' ] || fail "kiln $line: warehouse not passed on"
done

# -- ends the options
"$K" parquet schema -- "-not-an-option.parquet" 2>"$T/err"
[ $? = 4 ] && grep -q -- "-not-an-option.parquet" "$T/err" || fail "-- did not end the options: $(cat "$T/err")"

# help: --help, kiln help CMD SUB, kiln CMD help SUB are one text
h1=$("$K" table scan --help) && h2=$("$K" help table scan) && h3=$("$K" table help scan) || fail "help exit"
[ "$h1" = "$h2" ] && [ "$h1" = "$h3" ] || fail "three help texts differ"
grep -q -- "--where PRED" <<<"$h1" || fail "scan help lacks --where"
grep -q -- "--warehouse DIR" <<<"$h1" || fail "scan help lacks the global options"
"$K" help table >/dev/null && "$K" help >/dev/null && "$K" help gen gharchive | grep -q -- --quirks ||
  fail "kiln help"
"$K" help nosuch 2>/dev/null; [ $? = 2 ] || fail "kiln help nosuch: want 2"

# suggestions for subcommands and commands, values named when missing
"$K" table lst 2>"$T/err"; [ $? = 2 ] && grep -q "did you mean list?" "$T/err" || fail "sub suggestion: $(cat "$T/err")"
"$K" tabel list 2>"$T/err"; [ $? = 2 ] && grep -q "did you mean table?" "$T/err" || fail "cmd suggestion: $(cat "$T/err")"
"$K" table -w "$W" scan ns.t --where 2>"$T/err"; [ $? = 2 ] && grep -q -- "--where needs a value" "$T/err" ||
  fail "missing value: $(cat "$T/err")"
"$K" table -w "$W" list --json=yes 2>"$T/err"; [ $? = 2 ] && grep -q -- "--json takes no value" "$T/err" ||
  fail "switch with a value: $(cat "$T/err")"

# log lines: one text format, JSON with --log-json (errors included), levels
"$K" table -w "$W" describe ns.nope 2>"$T/err"
[ "$(cat "$T/err")" = "kiln: error table describe: no table ns.nope in catalog $W/catalog.db (see 'kiln table list')" ] ||
  grep -q "^kiln: error table describe: .*ns.nope" "$T/err" || fail "error line format: $(cat "$T/err")"
"$K" --log-json table -w "$W" describe ns.nope 2>"$T/err"
[ $? = 4 ] || fail "--log-json changed the exit code"
isjson lines <"$T/err" || fail "--log-json error line is not JSON: $(cat "$T/err")"
grep -q '"level":"error","component":"table describe","msg":"no table ns.nope' "$T/err" || fail "JSON fields: $(cat "$T/err")"
"$K" table list --bogus --log-json 2>"$T/err"
[ $? = 2 ] && isjson lines <"$T/err" && grep -q '"level":"error","component":"table list"' "$T/err" ||
  fail "usage error before --log-json not JSON: $(cat "$T/err")"
"$K" job gh-events --bogus --log-json 2>"$T/err"
[ $? = 2 ] && isjson lines <"$T/err" && grep -q '"level":"error"' "$T/err" || fail "job usage error not JSON: $(cat "$T/err")"
"$K" table -w "$W" list >/dev/null 2>"$T/err"
[ ! -s "$T/err" ] || fail "info level printed: $(cat "$T/err")"
"$K" table -w "$W" list --log-level debug >/dev/null 2>"$T/err"
grep -q "^kiln: debug cli: table list" "$T/err" || fail "--log-level debug printed no debug line: $(cat "$T/err")"
"$K" -v table -w "$W" list >/dev/null 2>"$T/err"
grep -q "^kiln: debug " "$T/err" || fail "-v printed no debug line"
"$K" -v --log-json table -w "$W" list >/dev/null 2>"$T/err"
isjson lines <"$T/err" && grep -q '"level":"debug"' "$T/err" || fail "debug JSON lines: $(cat "$T/err")"
"$K" table -w "$W" list --log-level loud 2>"$T/err"; [ $? = 2 ] || fail "--log-level loud: want 2"
"$K" -q table -w "$W" describe ns.nope 2>"$T/err"; grep -q "^kiln: error" "$T/err" || fail "-q hid the error"

# NDJSON keys: an unknown key fails naming line and key; --ignore-unknown-keys skips it
printf '{"id":3,"name":"c","day":"2024-03-03"}\n{"id":4,"nmae":"d","day":"2024-03-03"}\n' >"$T/typo.ndjson"
"$K" table -w "$W" append ns.t --input "$T/typo.ndjson" 2>"$T/err"
[ $? = 1 ] && grep -q 'typo.ndjson:2: key "nmae" is not a column' "$T/err" || fail "unknown key: $(cat "$T/err")"
[ "$("$K" table -w "$W" scan ns.t --json | wc -l)" = 2 ] || fail "a failed append committed rows"
"$K" table -w "$W" append ns.t --input "$T/typo.ndjson" --ignore-unknown-keys >/dev/null || fail "--ignore-unknown-keys"
"$K" table -w "$W" scan ns.t --where 'id = 4' --json | grep -q '"name":null' || fail "skipped key not null"

# CSV always has a header, also with no rows
[ "$("$K" table -w "$W" scan ns.t --where 'id = 99')" = "id,name,day" ] || fail "empty CSV lacks its header"

# every --json output parses
for args in "list" "namespaces" "describe ns.t" "snapshots ns.t" "history ns.t" "branch ns.t" "tag ns.t" \
            "expire ns.t --dry-run" "rewrite-manifests ns.t" "remove-orphans ns.t --dry-run"; do
  # shellcheck disable=SC2086
  "$K" table -w "$W" $args --json >"$T/j" || fail "table $args --json failed"
  isjson lines <"$T/j" || fail "table $args --json is not JSON: $(cat "$T/j")"
done
"$K" table -w "$W" files ns.t --json | isjson lines || fail "files --json"
"$K" table -w "$W" scan ns.t --json | isjson lines || fail "scan --json"
"$K" table -w "$W" branch ns.t b2 --json | isjson || fail "branch create --json"
"$K" table -w "$W" tag ns.t t1 --json | isjson || fail "tag create --json"
"$K" table -w "$W" fast-forward ns.t b2 --json | isjson || fail "fast-forward --json"
"$K" table -w "$W" branch ns.t --drop b2 --json | isjson || fail "branch --drop --json"
"$K" table -w "$W" create ns.u --schema 'a int' --json | isjson || fail "create --json"
"$K" table -w "$W" drop ns.u --json | isjson || fail "drop --json"
pq=$(ls "$W"/ns/t/data/*/*.parquet | head -1)
for sub in schema meta scan; do "$K" parquet $sub "$pq" --json | isjson || fail "parquet $sub --json"; done
"$K" parquet rewrite "$pq" "$T/re.parquet" --json | isjson || fail "parquet rewrite --json"
# a string with a newline survives the NDJSON round trip
"$K" parquet cat "$pq" -f ndjson | isjson lines || fail "parquet cat ndjson"

# completion from the same tables
"$K" completion bash >"$T/c.bash" || fail "completion bash"
"$K" completion zsh >"$T/c.zsh" || fail "completion zsh"
grep -q "compdef _kiln kiln" "$T/c.zsh" || fail "zsh script"
if command -v zsh >/dev/null; then zsh -n "$T/c.zsh" || fail "zsh syntax"; fi
comp() { # comp WORD... -> the candidates bash offers for the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kiln; printf "%s\n" "${COMPREPLY[@]}"' _ "$T/c.bash" "$@"
}
grep -qx table <<<"$(comp kiln ta)" || fail "completion of a command: $(comp kiln ta)"
grep -qx scan <<<"$(comp kiln table sc)" || fail "completion of a subcommand"
grep -qx -- --where <<<"$(comp kiln table scan ns.t --wh)" || fail "completion of a subcommand option"
grep -qx list <<<"$(comp kiln table --catalog hadoop li)" || fail "completion after an option's value"
grep -qx -- --json <<<"$(comp kiln -w "$W" table describe ns.t --j)" || fail "completion after a global option"
! grep -qx -- --where <<<"$(comp kiln table list --wh)" || fail "list offers scan's --where"
grep -qx -- --format <<<"$(comp kiln job gh-events --for)" || fail "completion of an old-style command"
"$K" completion fish 2>/dev/null; [ $? = 2 ] || fail "completion fish: want 2"
echo "cli_options: ok"
