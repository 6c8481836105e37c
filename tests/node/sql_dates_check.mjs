// sql_dates_check.mjs KILN_BIN [START END] - compare kiln's SQL date functions
// with DuckDB's (an independent implementation) for every day from START to
// END (default 2019-12-20 .. 2027-01-10, which spans ISO years with 52 and 53
// weeks and two leap days): date_trunc week/month/quarter/year/hour,
// iso_week, iso_year, date_add by months/years (month-end clamping) and
// datediff by day/week/month/quarter/year. Prints "ok N days, M values" and
// exits 0 when every value agrees; exits 1 listing the first differences.
import { DuckDBInstance } from '@duckdb/node-api';
import { execFileSync } from 'node:child_process';

const [kiln, start = '2019-12-20', end = '2027-01-10'] = process.argv.slice(2);
if (!kiln) {
  console.error('usage: node sql_dates_check.mjs KILN_BIN [START END]');
  process.exit(2);
}

// One row per day: the same columns computed by both engines, as text.
// The timestamp column puts a different time of day on each date so the
// hour truncation sees varied input.
const cols = [
  ['week', "date_trunc('week', d)", "strftime(date_trunc('week', d), '%Y-%m-%d')"],
  ['month', "date_trunc('month', d)", "strftime(date_trunc('month', d), '%Y-%m-%d')"],
  ['quarter', "date_trunc('quarter', d)", "strftime(date_trunc('quarter', d), '%Y-%m-%d')"],
  ['year', "date_trunc('year', d)", "strftime(date_trunc('year', d), '%Y-%m-%d')"],
  ['iso_week', 'iso_week(d)', 'weekofyear(d)::VARCHAR'],
  ['iso_year', 'iso_year(d)', 'isoyear(d)::VARCHAR'],
  ['ts_week', "date_trunc('week', ts)", "strftime(date_trunc('week', ts), '%Y-%m-%dT%H:%M:%SZ')"],
  ['ts_hour', "date_trunc('hour', ts)", "strftime(date_trunc('hour', ts), '%Y-%m-%dT%H:%M:%SZ')"],
  ['ts_iso_week', 'iso_week(ts)', 'weekofyear(ts)::VARCHAR'],
  ['plus_month', "date_add(d, 1, 'month')", "strftime(d + INTERVAL 1 MONTH, '%Y-%m-%d')"],
  ['minus_month', "date_add(d, -1, 'month')", "strftime(d - INTERVAL 1 MONTH, '%Y-%m-%d')"],
  ['plus_quarter', "date_add(d, 1, 'quarter')", "strftime(d + INTERVAL 3 MONTH, '%Y-%m-%d')"],
  ['plus_year', "date_add(d, 1, 'year')", "strftime(d + INTERVAL 1 YEAR, '%Y-%m-%d')"],
  ['diff_day', "datediff('day', '2024-02-29', d)", "date_diff('day', DATE '2024-02-29', d)::VARCHAR"],
  ['diff_month', "datediff('month', '2024-01-31', d)", "date_diff('month', DATE '2024-01-31', d)::VARCHAR"],
  ['diff_quarter', "datediff('quarter', '2024-03-31', d)", "date_diff('quarter', DATE '2024-03-31', d)::VARCHAR"],
  ['diff_year', "datediff('year', '2024-12-31', d)", "date_diff('year', DATE '2024-12-31', d)::VARCHAR"],
  // ISO weeks between: DuckDB counts week boundaries with date_diff on the weeks' Mondays
  ['diff_week', "datediff('week', '2024-12-29', d)",
    "(date_diff('day', date_trunc('week', DATE '2024-12-29'), date_trunc('week', d)) // 7)::VARCHAR"],
];

const kilnSql = `WITH RECURSIVE days(d) AS (SELECT '${start}' UNION ALL
  SELECT date_add(d, 1, 'day') FROM days WHERE d < '${end}'),
  v AS (SELECT d, d || 'T' || printf('%02d:%02d:%02d', (ts_micros(d) / 86400000000) % 24,
                                     (ts_micros(d) / 86400000000 * 7) % 60, 17) || 'Z' AS ts FROM days)
SELECT d, ${cols.map(([n, k]) => `${k} AS ${n}`).join(', ')} FROM v ORDER BY d`;

const duckSql = `WITH days AS (SELECT r::DATE AS d FROM range(DATE '${start}', DATE '${end}' + 1, INTERVAL 1 DAY) t(r)),
  v AS (SELECT d, d + make_time((epoch(d)::BIGINT // 86400) % 24, (epoch(d)::BIGINT // 86400 * 7) % 60, 17) AS ts FROM days)
SELECT strftime(d, '%Y-%m-%d') AS d, ${cols.map(([n, , q]) => `${q} AS ${n}`).join(', ')} FROM v ORDER BY d`;

let kilnOut;
try {
  kilnOut = execFileSync(kiln, ['sql', '--csv', kilnSql], { encoding: 'utf8', maxBuffer: 64 << 20 });
} catch (e) {
  console.error(`kiln sql failed: ${e.stderr || e.message}`);
  process.exit(1);
}
const kilnRows = kilnOut.trimEnd().split('\n').map((l) => l.split(','));
const header = kilnRows.shift();

const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
const reader = await conn.runAndReadAll(duckSql);
const duckRows = reader.getRows().map((r) => r.map((x) => String(x)));

const want = ['d', ...cols.map(([n]) => n)];
if (header.join(',') !== want.join(',')) {
  console.error(`kiln header ${header.join(',')} != ${want.join(',')}`);
  process.exit(1);
}
if (kilnRows.length !== duckRows.length) {
  console.error(`kiln gave ${kilnRows.length} days, DuckDB ${duckRows.length}`);
  process.exit(1);
}
let diffs = 0;
let values = 0;
for (let i = 0; i < duckRows.length; i++) {
  for (let c = 0; c < want.length; c++) {
    values++;
    if (kilnRows[i][c] !== duckRows[i][c]) {
      if (++diffs <= 20) console.error(`${duckRows[i][0]} ${want[c]}: kiln ${kilnRows[i][c]}, DuckDB ${duckRows[i][c]}`);
    }
  }
}
if (diffs) {
  console.error(`${diffs} of ${values} values differ`);
  process.exit(1);
}
console.log(`ok ${duckRows.length} days, ${values} values agree with DuckDB`);
