// parquet_interop.mjs - kiln's Parquet against two independent
// implementations: DuckDB (@duckdb/node-api) and hyparquet (pure JS).
//
//  1. We read theirs: DuckDB writes a table of every type and null pattern
//     with each codec, as Parquet v1 (PLAIN/dictionary, data page v1) and v2
//     (DELTA_* encodings, data page v2). kiln reads each file and writes it
//     back (`kiln parquet rewrite`); DuckDB then compares the two files' full
//     contents (EXCEPT ALL both ways + counts).
//  2. They read ours: every kiln file (each codec, dictionary on/off, small
//     pages and row groups) is read by DuckDB (above) and by hyparquet, whose
//     values are compared with DuckDB's, cell by cell. Statistics kiln wrote
//     are compared with min/max DuckDB computes; field ids must be present.
//  3. The Spark-written Parquet in ../shared/fixtures/iceberg: row counts and
//     sums from `kiln parquet scan` equal DuckDB's.
//
// Usage: KILN_BIN=build/kiln node tests/node/parquet_interop.mjs
// Exit 0 on success; prints each failure and exits 1 otherwise.
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects, parquetMetadataAsync } from 'hyparquet';
import { asyncBufferFromFile } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = process.env.KILN_ROOT || resolve(here, '..', '..');
const kiln = process.env.KILN_BIN || join(root, 'build', 'kiln');
const rows = Number(process.env.PQ_ROWS || 30000);
const dir = mkdtempSync(join(tmpdir(), 'kiln-pq-'));
let failures = 0;
const fail = (msg) => { failures++; console.error('FAIL ' + msg); };
const ok = (msg) => console.log('ok   ' + msg);

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
await con.run("SET TimeZone='UTC'");
const q = async (sql) => (await con.runAndReadAll(sql)).getRowsJS();
const run = (args) => execFileSync(kiln, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const source = `SELECT
  i::INT AS id,
  CASE WHEN i % 2 = 1 THEN NULL ELSE i % 3 = 0 END AS bo,
  CASE WHEN i % 2 = 1 THEN NULL ELSE (i * 7919 - 100000)::INT END AS i32,
  (i::BIGINT * 1000000007 - 5) AS i64,
  NULL::BIGINT AS allnull,
  (i * 0.5 - 3)::FLOAT AS f32,
  CASE WHEN i % 7 = 3 THEN NULL ELSE i * 1.25 - 7 END::DOUBLE AS f64,
  CASE WHEN i % 5 = 0 THEN NULL ELSE 'val-' || (i % 1000) || '-é' END AS s,
  CASE WHEN i % 1000 = 0 THEN repeat('long', 3000) || i::VARCHAR ELSE md5(i::VARCHAR) END AS s_hi,
  '\\xAA\\x00'::BLOB || encode(i::VARCHAR) AS bin,
  DATE '2000-01-01' + (i % 5000)::INT AS dt,
  make_timestamp(1700000000000000 + i::BIGINT * 1000001) AS ts,
  make_timestamp(1600000000000000 - i::BIGINT * 999)::TIMESTAMPTZ AS tstz,
  ((i * 12345 - 99999) / 100)::DECIMAL(18,2) AS dec18,
  ((i % 1000) / 7)::DECIMAL(9,2) AS dec9,
  (i % 100)::TINYINT AS ti,
  (i % 30000)::SMALLINT AS si,
  i::UINTEGER AS ui,
  make_timestamp(1700000000000000 + i::BIGINT * 1000)::TIMESTAMP_MS AS tms
  -- TIMESTAMP_NS is read as exact text and kiln's rewrite refuses it
  -- (tests/e2e/interop_timestamp_ns.sh)
FROM range(${rows}) t(i)`;

// ---------------------------------------------------------------- 1+2
const duckCodecs = ['uncompressed', 'snappy', 'gzip', 'zstd'];
const kilnVariants = [
  ['--codec', 'zstd'],
  ['--codec', 'snappy', '--no-dictionary'],
  ['--codec', 'none', '--page-bytes', '4096', '--row-group-rows', '7000'],
  ['--codec', 'gzip', '--dict-max-bytes', '20000'],
];
const kilnFiles = [];
let vi = 0;
for (const version of ['V1', 'V2']) {
  for (const codec of duckCodecs) {
    const src = join(dir, `duck_${codec}_${version}.parquet`);
    await con.run(`COPY (${source}) TO '${src}' (FORMAT parquet, COMPRESSION ${codec}, PARQUET_VERSION ${version}, ROW_GROUP_SIZE 10000)`);
    const encs = (await q(`SELECT DISTINCT unnest(string_split(encodings, ',')) FROM parquet_metadata('${src}')`)).map(r => r[0].trim()).sort();
    const variant = kilnVariants[vi++ % kilnVariants.length];
    const out = join(dir, `kiln_from_${codec}_${version}.parquet`);
    try {
      run(['parquet', 'rewrite', ...variant, src, out]);
    } catch (e) {
      fail(`kiln rewrite of DuckDB ${codec} ${version}: ${e.stderr || e.message}`);
      continue;
    }
    kilnFiles.push(out);
    const [[n1]] = await q(`SELECT count(*) FROM read_parquet('${src}')`);
    const [[n2]] = await q(`SELECT count(*) FROM read_parquet('${out}')`);
    const [[d1]] = await q(`SELECT count(*) FROM (SELECT * FROM read_parquet('${src}') EXCEPT ALL SELECT * FROM read_parquet('${out}'))`);
    const [[d2]] = await q(`SELECT count(*) FROM (SELECT * FROM read_parquet('${out}') EXCEPT ALL SELECT * FROM read_parquet('${src}'))`);
    if (n1 !== n2 || d1 !== 0n || d2 !== 0n)
      fail(`DuckDB ${codec} ${version} -> kiln (${variant.join(' ')}): rows ${n1}/${n2}, differing ${d1}/${d2}`);
    else
      ok(`DuckDB ${codec} ${version} [${encs.join(' ')}] read by kiln, rewritten (${variant.join(' ')}), identical in DuckDB`);
  }
}

// special shapes: empty, one row, all null, wide (120 columns)
const wide = 'SELECT ' + Array.from({ length: 120 }, (_, k) =>
  k % 3 === 0 ? `i * ${k} AS c${k}` : k % 3 === 1 ? `'w' || (i % ${k + 2}) AS c${k}` : `CASE WHEN i % 2 = 0 THEN NULL ELSE i / ${k} END::DOUBLE AS c${k}`).join(', ') +
  ' FROM range(500) t(i)';
const shapes = [
  ['empty', `SELECT * FROM (${source}) LIMIT 0`],
  ['one_row', `SELECT * FROM (${source}) LIMIT 1`],
  ['all_null', `SELECT NULL::INT a, NULL::VARCHAR b, NULL::TIMESTAMPTZ c, NULL::DECIMAL(10,3) d FROM range(3000)`],
  ['wide', wide],
];
for (const [name, sql] of shapes) {
  const src = join(dir, `shape_${name}.parquet`);
  const out = join(dir, `kiln_shape_${name}.parquet`);
  await con.run(`COPY (${sql}) TO '${src}' (FORMAT parquet)`);
  try { run(['parquet', 'rewrite', src, out]); } catch (e) { fail(`kiln rewrite of ${name}: ${e.stderr || e.message}`); continue; }
  kilnFiles.push(out);
  const [[n1]] = await q(`SELECT count(*) FROM read_parquet('${src}')`);
  const [[n2]] = await q(`SELECT count(*) FROM read_parquet('${out}')`);
  const [[d1]] = await q(`SELECT count(*) FROM (SELECT * FROM read_parquet('${src}') EXCEPT ALL SELECT * FROM read_parquet('${out}'))`);
  const [[d2]] = await q(`SELECT count(*) FROM (SELECT * FROM read_parquet('${out}') EXCEPT ALL SELECT * FROM read_parquet('${src}'))`);
  if (n1 !== n2 || d1 !== 0n || d2 !== 0n) fail(`${name}: rows ${n1}/${n2}, differing ${d1}/${d2}`);
  else ok(`${name} file (${n2} rows) written by kiln reads identically in DuckDB`);
}

// kiln files: statistics and field ids as DuckDB sees them
for (const f of kilnFiles) {
  const stats = await q(`SELECT path_in_schema, stats_min_value, stats_max_value, stats_null_count, encodings FROM parquet_metadata('${f}')`);
  const cols = (await q(`DESCRIBE SELECT * FROM read_parquet('${f}')`)).map(r => [r[0], r[1]]);
  const types = Object.fromEntries(cols);
  let bad = 0;
  const seen = {};
  for (const [col, , , snull] of stats) {
    if (!seen[col]) seen[col] = { nulls: 0n };
    seen[col].nulls += BigInt(snull ?? 0);
  }
  const fid = await q(`SELECT count(*) FROM parquet_schema('${f}') WHERE field_id IS NOT NULL`);
  if (fid[0][0] !== BigInt(cols.length)) { bad++; fail(`${f}: ${fid[0][0]} field ids for ${cols.length} columns`); }
  for (const [col, t] of cols) {
    const [[nulls]] = await q(`SELECT count(*) - count("${col}") FROM read_parquet('${f}')`);
    const sn = seen[col]?.nulls ?? 0n;
    if (BigInt(nulls) !== sn) { bad++; fail(`${f}: ${col} null_count ${sn} vs ${nulls} (${t})`); }
  }
  if (!types.i64) { if (!bad) ok(`DuckDB sees kiln's null counts and field ids in ${f.split('/').pop()}`); continue; }
  // DuckDB's statistics-based pruning must not drop rows: filters answered with and without stats agree
  const [[a]] = await q(`SELECT count(*) FROM read_parquet('${f}') WHERE i64 > 5000000000000 AND s_hi >= 'a'`);
  const [[b]] = await q(`SELECT count(*) FROM (SELECT * FROM read_parquet('${f}') LIMIT 1000000000) WHERE i64 > 5000000000000 AND s_hi >= 'a'`);
  if (a !== b) { bad++; fail(`${f}: filtered counts differ with statistics (${a} vs ${b})`); }
  if (!bad) ok(`DuckDB sees kiln's statistics/null counts and field ids in ${f.split('/').pop()}`);
}

// min/max statistics of kiln's files equal what DuckDB computes (single row group)
{
  const f = join(dir, 'kiln_stats.parquet');
  run(['parquet', 'rewrite', '--codec', 'zstd', join(dir, 'duck_zstd_V1.parquet'), f]);
  const meta = await q(`SELECT path_in_schema, stats_min_value, stats_max_value FROM parquet_metadata('${f}') WHERE row_group_id = 0`);
  let bad = 0;
  for (const [col, smin, smax] of meta) {
    if (!['id', 'i32', 'i64', 'dt', 'dec18', 's', 'ts', 'tstz'].includes(col)) continue;
    const [[mn, mx]] = await q(`SELECT min("${col}")::VARCHAR, max("${col}")::VARCHAR FROM read_parquet('${f}')`);
    const norm = (v) => v == null ? v : String(v).replace('T', ' ').replace(/\+00(:00)?$/, '').replace(/Z$/, '');
    if (norm(smin) !== norm(mn) || norm(smax) !== norm(mx)) { bad++; fail(`stats of ${col}: kiln ${smin}..${smax}, DuckDB ${mn}..${mx}`); }
  }
  if (!bad) ok('kiln min/max statistics equal DuckDB min()/max() for ints, dates, decimals, timestamps, strings');
}

// hyparquet reads every kiln file; compare cell by cell with DuckDB
const canonSql = (col, t) => {
  if (t === 'BLOB') return `hex("${col}")`;
  if (t === 'DATE') return `("${col}" - DATE '1970-01-01')::VARCHAR`;
  if (t.startsWith('TIMESTAMP')) return `epoch_us("${col}")::VARCHAR`;
  if (t === 'FLOAT' || t === 'DOUBLE') return `"${col}"`;
  return `"${col}"::VARCHAR`;
};
const parsers = {
  timestampFromMilliseconds: (v) => (BigInt(v) * 1000n).toString(),
  timestampFromMicroseconds: (v) => BigInt(v).toString(),
  timestampFromNanoseconds: (v) => (BigInt(v) / 1000n).toString(),
  dateFromDays: (d) => String(d),
  stringFromBytes: (b) => b && new TextDecoder().decode(b),
  jsonFromBytes: (b) => b && new TextDecoder().decode(b),
};
for (const f of kilnFiles) {
  const cols = (await q(`DESCRIBE SELECT * FROM read_parquet('${f}')`)).map(r => [r[0], r[1]]);
  const duck = await q(`SELECT ${cols.map(([c, t]) => canonSql(c, t)).join(', ')} FROM read_parquet('${f}')`);
  let hy;
  try {
    const file = await asyncBufferFromFile(f);
    hy = await parquetReadObjects({ file, compressors, parsers, utf8: false });
  } catch (e) {
    fail(`hyparquet cannot read ${f}: ${e.message}`);
    continue;
  }
  let bad = 0;
  if (hy.length !== duck.length) { fail(`${f}: hyparquet ${hy.length} rows, DuckDB ${duck.length}`); continue; }
  for (let r = 0; r < duck.length && bad < 5; r++) {
    cols.forEach(([c, t], i) => {
      let h = hy[r][c];
      let d = duck[r][i];
      if (h === undefined) h = null;
      if (h instanceof Uint8Array) h = Buffer.from(h).toString('hex').toUpperCase();
      if (typeof h === 'bigint') h = h.toString();
      if (t.startsWith('DECIMAL') && h != null) {
        const scale = Number(t.match(/,(\d+)\)/)[1]);
        h = Number(h).toFixed(scale);
      }
      if (t === 'BOOLEAN' && h != null) h = String(h);
      if ((t === 'FLOAT' || t === 'DOUBLE') && h != null && d != null) {
        if (Math.abs(Number(h) - Number(d)) > 1e-6 * Math.max(1, Math.abs(Number(d)))) { bad++; fail(`${f} row ${r} ${c}: hyparquet ${h} DuckDB ${d}`); }
        return;
      }
      if (h != null && typeof h !== 'string') h = String(h);
      if (h !== d && bad < 5) { bad++; fail(`${f} row ${r} ${c} (${t}): hyparquet ${h} DuckDB ${d}`); }
    });
  }
  if (!bad) ok(`hyparquet reads ${f.split('/').pop()} (${duck.length} rows x ${cols.length} columns) identically to DuckDB`);
}

// ---------------------------------------------------------------- 3
const fixtures = join(root, '..', 'shared', 'fixtures', 'iceberg');
const spark = [
  ['iceberg/lineitem_iceberg/data/00000-1-66fee7c2-c97c-4af9-963d-930afd99ace4-00001.parquet', 60175],
  ['iceberg/lineitem_iceberg/data/00000-5-dad9988f-2a3b-464c-adb6-6034de93da19-00001.parquet', 51793],
];
for (const [rel, expect] of spark) {
  const f = join(fixtures, rel);
  if (!existsSync(f)) { fail(`fixture missing: ${f}`); continue; }
  const out = run(['parquet', 'scan', f]);
  const got = Object.fromEntries(out.trim().split('\n').map(l => l.split(': ')).map(([k, v]) => [k, v]));
  const [[n, ok1, qty, price, ship, cmt]] = await q(`SELECT count(*), sum(l_orderkey)::VARCHAR, (sum(l_quantity) * 100)::BIGINT::VARCHAR,
      (sum(l_extendedprice) * 100)::BIGINT::VARCHAR, sum(l_shipdate - DATE '1970-01-01')::VARCHAR, sum(strlen(l_comment))::VARCHAR FROM read_parquet('${f}')`);
  const checks = [
    [got.rows, String(expect)], [got.rows, String(n)],
    [got.l_orderkey, `sum ${ok1}, nulls 0`], [got.l_quantity, `sum ${qty}, nulls 0`],
    [got.l_extendedprice, `sum ${price}, nulls 0`], [got.l_shipdate, `sum ${ship}, nulls 0`],
    [got.l_comment, `bytes ${cmt}, nulls 0`],
  ];
  const badc = checks.filter(([a, b]) => a !== b);
  if (badc.length) fail(`Spark fixture ${rel}: ${JSON.stringify(badc)}`);
  else ok(`Spark fixture ${rel.split('/').pop()}: ${expect} rows, sums equal DuckDB's`);
  // and a predicate pruned by Spark's statistics
  const pr = run(['parquet', 'scan', '--columns', 'l_orderkey', '--where', 'l_orderkey > 100000', f]);
  if (!/rows: 0/.test(pr) || !/pruned: 1/.test(pr)) fail(`Spark fixture ${rel}: predicate not pruned: ${pr}`);
}
// DuckDB-written data files inside the Iceberg fixtures, and other Spark files
for (const rel of ['partition_integer/data/partition_col=42/00000-2-1d10e455-d07e-4124-8f4b-52bd010a806d-00001.parquet',
                   'equality_deletes/warehouse/mydb/mytable/data/00000-9-8b7ad7ff-1bf1-4522-9b6b-da181d84a8d6-0-00001.parquet']) {
  const f = join(fixtures, rel);
  const out = join(dir, 'fx.parquet');
  try { run(['parquet', 'rewrite', f, out]); } catch (e) { fail(`fixture ${rel}: ${e.stderr || e.message}`); continue; }
  const [[d1]] = await q(`SELECT count(*) FROM (SELECT * FROM read_parquet('${f}', hive_partitioning=false) EXCEPT ALL SELECT * FROM read_parquet('${out}', hive_partitioning=false))`);
  const [[d2]] = await q(`SELECT count(*) FROM (SELECT * FROM read_parquet('${out}', hive_partitioning=false) EXCEPT ALL SELECT * FROM read_parquet('${f}', hive_partitioning=false))`);
  if (d1 !== 0n || d2 !== 0n) fail(`fixture ${rel}: contents differ after kiln read+write`);
  else ok(`fixture ${rel.split('/').pop()} read by kiln identically`);
}

rmSync(dir, { recursive: true, force: true });
if (failures) { console.error(`${failures} failure(s)`); process.exit(1); }
console.log('parquet interop: all passed');
