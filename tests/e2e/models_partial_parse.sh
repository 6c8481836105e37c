#!/usr/bin/env bash
# The partial-parse cache (target/partial_parse.bin): after each kind of
# edit, `kiln compile` (cached where it can be) gives the manifest.json
# and target/compiled/ that a full parse (--no-partial-parse) gives: a
# model body (twice in a row: a cache written by a cached compile), a
# model whose config or refs change, a schema yml, a macro (its caller's
# SQL changes), a project var, --vars, an env var a model reads, a deleted
# and a renamed file, a truncated and a corrupted cache (a one-line note,
# then a full parse), and no cache for a model using run_started_at.
set -euo pipefail
: "${KILN_ROOT:?}" "${KILN_BIN:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
P="$tmp/p"
fail() { echo "FAIL: $*" >&2; exit 1; }
mkdir -p "$P/models/a" "$P/models/b" "$P/macros" "$P/seeds"
cat > "$P/dbt_project.yml" <<'EOF'
name: pp
profile: pp
vars:
  k: 1
models:
  pp:
    +materialized: view
    b:
      +materialized: table
EOF
cat > "$P/profiles.yml" <<'EOF'
pp:
  target: dev
  outputs:
    dev: {type: kiln, warehouse: wh, schema: analytics}
EOF
printf 'id,v\n1,a\n2,b\n' > "$P/seeds/raw.csv"
cat > "$P/macros/m.sql" <<'EOF'
{% macro double(x) %}({{ x }} * 2){% endmacro %}
EOF
cat > "$P/models/a/s1.sql" <<'EOF'
select id, v, {{ var('k') }} as k from {{ ref('raw') }}
EOF
cat > "$P/models/a/s2.sql" <<'EOF'
{{ config(tags=['x']) }}
select id, {{ double('id') }} as d from {{ ref('s1') }}
EOF
cat > "$P/models/a/s3.sql" <<'EOF'
select id, '{{ env_var("PP_COLOR", "red") }}' as color from {{ ref('s1') }}
EOF
for i in 1 2 3 4 5 6; do
  printf "select a.id from {{ ref('s%d') }} a join {{ ref('s1') }} b using (id) -- %d\n" $(( (i % 3) + 1 )) "$i" \
    > "$P/models/b/m$i.sql"
done
cat > "$P/models/a/schema.yml" <<'EOF'
version: 2
models:
  - name: s1
    description: first
    columns:
      - name: id
        tests: [unique, not_null]
  - name: s2
    columns:
      - name: id
        tests: [not_null]
EOF

norm() { # manifest.json (one line) without what differs per run: metadata, macros' created_at
  sed -e 's/^{"metadata":{[^{}]*"env":{}[^{}]*}//' -e 's/"created_at":[0-9.eE+-]*//g' "$1"
}
# cached compile, then a full parse: the same manifest and compiled files.
# $1: what the cached compile must have done (reused|full); $2: the step
step() {
  local want="$1" what="$2" log
  log=$(KILN_LOG=debug "$KILN_BIN" compile --project-dir "$P" ${VARS:+--vars "$VARS"} 2>&1) || fail "$what: compile: $log"
  if [ "$want" = reused ]; then
    grep -q "model file(s) parsed again" <<<"$log" || fail "$what: the cache was not used: $log"
  else
    ! grep -q "model file(s) parsed again" <<<"$log" || fail "$what: the cache was used: $log"
  fi
  norm "$P/target/manifest.json" > "$tmp/cached.json"
  rm -rf "$tmp/cached_compiled"; cp -r "$P/target/compiled" "$tmp/cached_compiled"
  "$KILN_BIN" compile --project-dir "$P" --no-partial-parse ${VARS:+--vars "$VARS"} > /dev/null 2>&1 \
    || fail "$what: full compile"
  norm "$P/target/manifest.json" > "$tmp/full.json"
  cmp -s "$tmp/cached.json" "$tmp/full.json" || {
    diff "$tmp/cached.json" "$tmp/full.json" | head -20 >&2; fail "$what: manifest.json differs from a full parse"; }
  diff -r "$tmp/cached_compiled" "$P/target/compiled" > /dev/null || fail "$what: target/compiled differs"
  LAST_LOG=$log
}
VARS=
"$KILN_BIN" compile --project-dir "$P" > /dev/null
[ -s "$P/target/partial_parse.bin" ] || fail "no target/partial_parse.bin after a compile"
step reused "nothing changed"

# a model's body, twice (the second from a cache a cached compile wrote)
printf -- '-- edited\n' >> "$P/models/b/m2.sql"
log=$(KILN_LOG=debug "$KILN_BIN" compile --project-dir "$P" 2>&1)
grep -q "1 model file(s) parsed again" <<<"$log" || fail "first model edit: $log"
printf -- '-- edited again\n' >> "$P/models/b/m4.sql"
step reused "model body"
grep -q "1 model file(s) parsed again" <<<"$LAST_LOG" || fail "second model edit: $LAST_LOG"
grep -q "edited again" "$P/target/compiled/pp/models/b/m4.sql" || fail "m4's compiled SQL not updated"

# a model's config (tags) and its refs change: a full parse
sed -i "s/tags=\['x'\]/tags=['y']/" "$P/models/a/s2.sql"
step full "model config"
sed -i "s/ref('s1') }} b/ref('s2') }} b/" "$P/models/b/m1.sql"
step full "model refs"

# a schema yml
sed -i 's/description: first/description: the first/' "$P/models/a/schema.yml"
step full "schema yml"
grep -q '"description":"the first"' "$tmp/full.json" || fail "yml edit not in the manifest"

# a macro: its caller changes
sed -i 's/\* 2/* 3/' "$P/macros/m.sql"
step full "macro"
grep -q '(id \* 3)' "$P/target/compiled/pp/models/a/s2.sql" || fail "macro caller not recompiled"

# project vars, --vars
sed -i 's/  k: 1/  k: 5/' "$P/dbt_project.yml"
step full "project var"
grep -q '5 as k' "$P/target/compiled/pp/models/a/s1.sql" || fail "project var not applied"
VARS='{k: 7}' step full "--vars"
grep -q '7 as k' "$P/target/compiled/pp/models/a/s1.sql" || fail "--vars not applied"
VARS=

# an env var a model reads
PP_COLOR=blue step full "env var set"
grep -q "'blue' as color" "$P/target/compiled/pp/models/a/s3.sql" || fail "env var not applied"
PP_COLOR=blue step reused "env var unchanged"
step full "env var unset"

# a deleted and a renamed model file
rm "$P/models/b/m6.sql"
step full "deleted file"
! grep -q 'model.pp.m6' "$tmp/full.json" || fail "deleted model still in the manifest"
mv "$P/models/b/m5.sql" "$P/models/b/m5b.sql"
step full "renamed file"
grep -q 'model.pp.m5b' "$tmp/full.json" || fail "renamed model missing"

# a truncated cache, a corrupted one: a one-line note, then a full parse
bin="$P/target/partial_parse.bin"
head -c 100 "$bin" > "$tmp/t" && cp "$tmp/t" "$bin"
err=$("$KILN_BIN" compile --project-dir "$P" 2>&1 >/dev/null)
grep -q "note: partial parse: .*truncated" <<<"$err" || fail "truncated cache: '$err'"
[ "$(grep -c . <<<"$err")" = 1 ] || fail "more than one line for a truncated cache: $err"
step reused "after the truncated cache"
size=$(stat -c %s "$bin")
printf 'X' | dd of="$bin" bs=1 seek=$(( size / 2 )) conv=notrunc status=none
err=$("$KILN_BIN" compile --project-dir "$P" 2>&1 >/dev/null)
grep -q "note: partial parse: .*corrupt" <<<"$err" || fail "corrupted cache: '$err'"
step reused "after the corrupted cache"

# a model using a per-run value (run_started_at): no cache is kept
printf "select '{{ run_started_at }}' as t\n" > "$P/models/a/t.sql"
"$KILN_BIN" compile --project-dir "$P" > /dev/null
[ ! -e "$P/target/partial_parse.bin" ] || fail "a compile using run_started_at left a cache"
echo "ok models_partial_parse"
