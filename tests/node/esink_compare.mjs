// esink_compare.mjs - checks kiln gh-events output written as Parquet (the
// --format parquet layout, or an Iceberg table's data files) against the CSV
// output of the same input, with DuckDB reading both independently:
//   node esink_compare.mjs CSV_OUT_DIR PUSHES_FILES.txt COMMITS_FILES.txt
// where each .txt lists Parquet files, one path per line (an empty list is an
// empty table). CSV is read all-varchar (an empty unquoted field is null, ""
// is an empty string); Parquet values are cast to the same text, timestamps
// compared as epoch microseconds. Per table: row count and an md5 over every
// column of every row, sorted. Prints both sides; exits 1 on any difference.
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [csvDir, pushList, commitList] = process.argv.slice(2);
if (!commitList) { console.error('usage: esink_compare.mjs CSV_OUT_DIR PUSHES_FILES.txt COMMITS_FILES.txt'); process.exit(2); }
const lit = (s) => "'" + String(s).replaceAll("'", "''") + "'";
const list = (xs) => '[' + xs.map(lit).join(',') + ']';
const tables = {
  pushes: { cols: ['event_id', 'push_id', 'repo_id', 'repo_name', 'actor_id', 'actor_login', 'org_login', 'ref',
    'head', 'before', 'size', 'distinct_size', 'created_at'], list: pushList },
  commits: { cols: ['repo_id', 'repo_name', 'sha', 'push_id', 'author_name', 'author_email', 'message', 'distinct',
    'created_at'], list: commitList },
};
const csvFiles = (t) => {
  const base = join(csvDir, t);
  if (!existsSync(base)) return [];
  const out = [];
  for (const d of readdirSync(base).filter((x) => x.startsWith('date=')).sort())
    for (const f of readdirSync(join(base, d)).filter((x) => x.endsWith('.csv')).sort()) out.push(join(base, d, f));
  return out;
};
const colText = (c, fromCsv) => {
  if (c === 'created_at')
    return fromCsv ? `CAST(epoch_us(CAST("${c}" AS TIMESTAMPTZ)) AS VARCHAR)` : `CAST(epoch_us("${c}") AS VARCHAR)`;
  return `coalesce(CAST("${c}" AS VARCHAR), '\\N')`;
};
const rowText = (cols, fromCsv) => "concat_ws('|', " + cols.map((c) => colText(c, fromCsv)).join(', ') + ')';

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
let bad = 0;
for (const [t, { cols, list: lf }] of Object.entries(tables)) {
  const pq = readFileSync(lf, 'utf8').split('\n').filter((x) => x.trim() !== '');
  const csv = csvFiles(t);
  const dig = async (from, fromCsv) => {
    const r = await con.runAndReadAll(`SELECT count(*)::VARCHAR, coalesce(md5(string_agg(t, chr(10) ORDER BY t)), '-')
      FROM (SELECT ${rowText(cols, fromCsv)} AS t FROM ${from})`);
    return r.getRows()[0].join(' ');
  };
  const a = csv.length ? await dig(`read_csv(${list(csv)}, header=true, all_varchar=true, allow_quoted_nulls=false)`, true) : '0 -';
  const b = pq.length ? await dig(`read_parquet(${list(pq)})`, false) : '0 -';
  console.log(`${t}: csv ${a} | parquet ${b}${a === b ? '' : '  MISMATCH'}`);
  if (a !== b) bad = 1;
}
process.exit(bad);
