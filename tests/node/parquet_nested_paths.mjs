// parquet_nested_paths.mjs - DuckDB (an independent Parquet reader) answers
// the questions interop_nested_paths.sh asks of kiln's nested data files:
// each SQL statement's rows are printed as one JSON object per line
// (DuckDB's JSON forms: numbers and strings), so the shell test compares
// them with kiln's output after sorting.
//
//   node tests/node/parquet_nested_paths.mjs 'SQL' ['SQL'...]
import { DuckDBInstance } from '@duckdb/node-api';

const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
for (const sql of process.argv.slice(2)) {
  const r = await c.runAndReadAll(sql);
  for (const o of r.getRowObjectsJson()) console.log(JSON.stringify(o));
}
