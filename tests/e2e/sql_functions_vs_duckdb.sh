#!/usr/bin/env bash
# kiln's SQL date functions agree with DuckDB for every day 2019-12-20 ..
# 2027-01-10 (date_trunc, iso_week, iso_year, date_add, datediff), via
# tests/node/sql_dates_check.mjs driving the real `kiln sql --csv`.
set -euo pipefail
cd "$KILN_ROOT"
command -v node >/dev/null || { echo "node is not installed (scripts/deps.sh installs it)"; exit 1; }
[ -d tests/node/node_modules/@duckdb/node-api ] || { echo "tests/node/node_modules lacks @duckdb/node-api (run scripts/deps.sh)"; exit 1; }
node tests/node/sql_dates_check.mjs "$KILN_BIN"
