// vtab_duckdb.mjs KILN WAREHOUSE TABLE
// The same queries through `kiln sql` (Iceberg virtual table TABLE) and
// through DuckDB reading the table's current Parquet data files directly
// (listed by `kiln table files --json`) must give identical rows.
import { execFileSync } from 'node:child_process';
import { DuckDBInstance } from '@duckdb/node-api';

const [kiln, wh, table] = process.argv.slice(2);
if (!kiln || !wh || !table) {
  console.error('usage: node vtab_duckdb.mjs KILN WAREHOUSE NS.TABLE');
  process.exit(2);
}
const run = (args) => execFileSync(kiln, args, { encoding: 'utf8', maxBuffer: 256 << 20 });
const files = run(['table', '--warehouse', wh, 'files', table, '--json'])
  .trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
  .filter((f) => f.content === 'data').map((f) => f.file_path.replace(/^file:\/\//, ''));
if (!files.length) { console.error('no data files'); process.exit(1); }

const D = 86400000000;
// [name, kiln SQL over TABLE, DuckDB SQL over view t]
const queries = [
  ['totals',
    `SELECT count(*), sum(additions), count(DISTINCT sha), min(sha), max(sha), count(message), sum(score) FROM ${table}`,
    `SELECT count(*), sum(additions), count(DISTINCT sha), min(sha), max(sha), count(message), sum(score) FROM t`],
  ['commits per repo per day',
    `SELECT repo_id, ts_micros(created_at) / ${D} AS day, count(*) AS n, sum(additions) AS a FROM ${table} GROUP BY 1, 2 ORDER BY 1, 2`,
    `SELECT repo_id, epoch_us(created_at) // ${D} AS day, count(*) AS n, sum(additions) AS a FROM t GROUP BY 1, 2 ORDER BY 1, 2`],
  ['pushed-down range and equality',
    `SELECT sha, additions, message FROM ${table} WHERE created_at >= '2024-08-03' AND created_at < '2024-08-05' AND repo_id = 2 ORDER BY sha`,
    `SELECT sha, additions, message FROM t WHERE epoch_us(created_at) >= ${Date.UTC(2024, 7, 3) * 1000} AND epoch_us(created_at) < ${Date.UTC(2024, 7, 5) * 1000} AND repo_id = 2 ORDER BY sha`],
  ['window: busiest repo per day',
    `SELECT day, repo_id, n FROM (SELECT ts_micros(created_at) / ${D} AS day, repo_id, count(*) AS n, row_number() OVER (PARTITION BY ts_micros(created_at) / ${D} ORDER BY count(*) DESC, repo_id) AS rn FROM ${table} GROUP BY 1, 2) WHERE rn = 1 ORDER BY day`,
    `SELECT day, repo_id, n FROM (SELECT epoch_us(created_at) // ${D} AS day, repo_id, count(*) AS n, row_number() OVER (PARTITION BY epoch_us(created_at) // ${D} ORDER BY count(*) DESC, repo_id) AS rn FROM t GROUP BY 1, 2) WHERE rn = 1 ORDER BY day`],
  ['self join of aggregates',
    `SELECT a.repo_id, a.n, b.n FROM (SELECT repo_id, count(*) AS n FROM ${table} GROUP BY 1) a JOIN (SELECT repo_id, count(*) AS n FROM ${table} WHERE message IS NULL GROUP BY 1) b ON a.repo_id = b.repo_id ORDER BY 1`,
    `SELECT a.repo_id, a.n, b.n FROM (SELECT repo_id, count(*) AS n FROM t GROUP BY 1) a JOIN (SELECT repo_id, count(*) AS n FROM t WHERE message IS NULL GROUP BY 1) b ON a.repo_id = b.repo_id ORDER BY 1`],
  ['join of the table with itself on sha (inner loop served by the join cache)',
    `SELECT a.repo_id, count(*), sum(a.additions + b.additions) FROM ${table} a JOIN ${table} b ON b.sha = a.sha AND b.repo_id = a.repo_id GROUP BY 1 ORDER BY 1`,
    `SELECT a.repo_id, count(*), sum(a.additions + b.additions) FROM t a JOIN t b ON b.sha = a.sha AND b.repo_id = a.repo_id GROUP BY 1 ORDER BY 1`],
  ['strings and nulls',
    `SELECT message, count(*) FROM ${table} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20`,
    `SELECT message, count(*) FROM t GROUP BY 1 ORDER BY 2 DESC, 1 NULLS FIRST LIMIT 20`],
];

const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
await conn.run(`CREATE VIEW t AS SELECT * FROM read_parquet([${files.map((f) => `'${f}'`).join(',')}])`);

const norm = (v) => {
  if (v === null || v === undefined || v === '') return 'NULL';
  const s = String(v);
  if (/^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(s)) {
    const n = Number(s);
    return Number.isInteger(n) ? String(n) : n.toPrecision(12);
  }
  return s;
};
let failed = 0;
for (const [name, ksql, dsql] of queries) {
  const out = JSON.parse(run(['sql', '--warehouse', wh, '--json', ksql]));
  const krows = out.map((o) => Object.values(o).map(norm));
  const drows = (await conn.runAndReadAll(dsql)).getRows().map((r) => r.map((x) => norm(typeof x === 'bigint' ? x.toString() : x)));
  const a = JSON.stringify(krows), b = JSON.stringify(drows);
  if (a !== b) {
    failed++;
    console.error(`${name}: kiln and DuckDB differ\n kiln:   ${a.slice(0, 800)}\n duckdb: ${b.slice(0, 800)}`);
  } else {
    console.log(`ok ${name} (${krows.length} rows)`);
  }
}
process.exit(failed ? 1 : 0);
