// parquet_bench.mjs - DuckDB side of bench/parquet.sh (kept here because
// tests/node holds the node_modules).
//   gen ROWS OUT            commits-shaped table -> OUT (uncompressed Parquet)
//   write SRC OUT CODEC     time COPY (SELECT * FROM SRC) TO OUT with CODEC
//   scan FILE               time SELECT sum(repo_id), sum(strlen(sha)) FROM FILE
//   gen-nested ROWS OUT     push-shaped table with commits list<struct<sha, author struct<name, email>,
//                           distinct, n>> (0-5 per row, some null) -> OUT (zstd Parquet)
//   scan-nested FILE        time SELECT count(*), sum(strlen(to_json(commits))) FROM FILE: every
//                           nested value materialised as JSON text, as kiln delivers it
//   scan-sha FILE           time the sub-path commits[*].sha as JSON text (to_json(list_transform))
// Prints "seconds <s>" (and the scan result) on stdout.
import { DuckDBInstance } from '@duckdb/node-api';

const [mode, a, b, codec] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
await con.run("SET TimeZone='UTC'");
if (mode === 'gen') {
  await con.run(`COPY (SELECT
      (i % 50000)::BIGINT AS repo_id,
      'org' || (i % 3000) || '/repo-' || (i % 50000) AS repo_name,
      substr(sha256(i::VARCHAR), 1, 40) AS sha,
      (20000000000 + i // 3)::BIGINT AS push_id,
      'Author ' || (hash(i // 7) % 20000) AS author_name,
      'user' || (hash(i // 7) % 20000) || '@example.com' AS author_email,
      CASE WHEN i % 10 = 0 THEN 'Merge pull request #' || (i % 9000) || ' from feature/branch-' || (i % 777)
           ELSE 'Fix ' || (i % 1234) || ': ' || repeat('update things ', (i % 9)::INT) || md5(i::VARCHAR) END AS message,
      i % 5 <> 0 AS "distinct",
      make_timestamp(1700000000000000 + i::BIGINT * 1000003)::TIMESTAMPTZ AS created_at
    FROM range(${Number(a)}) t(i)) TO '${b}' (FORMAT parquet, COMPRESSION uncompressed)`);
  console.log('ok');
} else if (mode === 'write') {
  const t0 = performance.now();
  await con.run(`COPY (SELECT * FROM read_parquet('${a}')) TO '${b}' (FORMAT parquet, COMPRESSION ${codec})`);
  console.log(`seconds ${((performance.now() - t0) / 1000).toFixed(4)}`);
} else if (mode === 'scan') {
  const t0 = performance.now();
  const r = (await con.runAndReadAll(`SELECT count(*), sum(repo_id), sum(strlen(sha)) FROM read_parquet('${a}')`)).getRowsJS();
  console.log(`seconds ${((performance.now() - t0) / 1000).toFixed(4)}`);
  console.log(`result ${r[0].join(' ')}`);
} else if (mode === 'gen-nested') {
  await con.run(`COPY (SELECT (20000000000 + i)::BIGINT AS push_id,
      CASE WHEN i % 17 = 0 THEN NULL ELSE list_transform(range((i % 6)::BIGINT), j -> {
        'sha': substr(sha256((i * 8 + j)::VARCHAR), 1, 40),
        'author': {'name': 'Author ' || (hash(i // 7 + j) % 20000), 'email': 'user' || (hash(i // 7 + j) % 20000) || '@example.com'},
        'distinct': (i + j) % 5 <> 0,
        'n': (i * 10 + j)::BIGINT}) END AS commits
    FROM range(${Number(a)}) t(i)) TO '${b}' (FORMAT parquet, COMPRESSION zstd)`);
  console.log('ok');
} else if (mode === 'scan-nested' || mode === 'scan-sha') {
  const expr = mode === 'scan-nested' ? 'to_json(commits)' : 'to_json(list_transform(commits, c -> c.sha))';
  const t0 = performance.now();
  const r = (await con.runAndReadAll(`SELECT count(*), sum(strlen(${expr}::VARCHAR)) FROM read_parquet('${a}')`)).getRowsJS();
  console.log(`seconds ${((performance.now() - t0) / 1000).toFixed(4)}`);
  console.log(`result ${r[0].join(' ')}`);
} else {
  console.error('usage: parquet_bench.mjs gen|write|scan ...');
  process.exit(2);
}
