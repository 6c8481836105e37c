// vtab_bench.mjs FILES_JSONL THREADS RUNS - time DuckDB on the benchmark
// query (commits per repo per day) over the Parquet files listed by
// `kiln table files --json` (in FILES_JSONL). Prints "seconds S" per run
// (query only, after connecting), "cpu S" per run (user + system CPU
// seconds of the process over the query: every DuckDB thread) and
// "result GROUPS ROWS" once.
import { readFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

const [listPath, threads, runs] = process.argv.slice(2);
const files = readFileSync(listPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  .filter((f) => f.content === 'data').map((f) => `'${f.file_path.replace(/^file:\/\//, '')}'`);
const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const conn = await db.connect();
await conn.run("SET TimeZone = 'UTC'");
const sql = `SELECT count(*) AS groups, sum(n) AS rows FROM (
  SELECT repo_id, date_trunc('day', created_at) AS day, count(*) AS n
  FROM read_parquet([${files.join(',')}]) GROUP BY 1, 2)`;
let res;
for (let i = 0; i < Number(runs); i++) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  res = (await conn.runAndReadAll(sql)).getRows()[0];
  const t1 = process.hrtime.bigint();
  const c1 = process.cpuUsage(c0);
  console.log(`seconds ${Number(t1 - t0) / 1e9}`);
  console.log(`cpu ${(c1.user + c1.system) / 1e6}`);
}
console.log(`result ${res[0]} ${res[1]}`);
