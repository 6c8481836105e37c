// penc_gen.mjs - writes the small DuckDB-made Parquet files that
// tests/unit/format/test_pq_enc.c (pq_enc::duckdb_*) decodes page by page with kiln's
// encodings and codecs (src/format/pq_enc.h). Each file has one column whose
// values follow a formula the C test recomputes. Regenerate with
//   node tests/node/penc_gen.mjs tests/data/pq_enc
// and print what DuckDB chose with --show.
import { DuckDBInstance } from '@duckdb/node-api';

const dir = process.argv[2] || 'tests/data/pq_enc';
const show = process.argv.includes('--show');
const inst = await DuckDBInstance.create(':memory:');
const c = await inst.connect();
const N = 5000;
// name, select expression over i in range(N), options
const files = [
  ['i32_delta_zstd', `CASE WHEN i % 13 = 0 THEN NULL WHEN i % 100 = 1 THEN -2147483648 ELSE ((i * i) % 100003 - 50000) END::INTEGER`, 'COMPRESSION zstd, PARQUET_VERSION V2'],
  ['i64_delta_snappy', `(i * 1000000007 - (i % 5) * 3000000000000)::BIGINT`, 'COMPRESSION snappy, PARQUET_VERSION V2'],
  ['str_delta_gzip', `CASE WHEN i % 17 = 0 THEN NULL WHEN i % 17 = 1 THEN '' ELSE 'key/' || lpad((i // 3)::VARCHAR, 6, '0') || '/x' END`, 'COMPRESSION gzip, PARQUET_VERSION V2'],
  ['str_dict_snappy', `CASE WHEN i % 11 = 0 THEN NULL ELSE 'color_' || (i % 7)::VARCHAR END`, 'COMPRESSION snappy'],
  ['f64_plain_zstd', `CASE WHEN i % 9 = 0 THEN NULL ELSE (i * 0.25 - 100)::DOUBLE END`, 'COMPRESSION zstd'],
  ['f32_v2_uncompressed', `(i * 0.5)::FLOAT`, 'COMPRESSION uncompressed, PARQUET_VERSION V2'],
  ['bool_v1_gzip', `CASE WHEN i % 7 = 0 THEN NULL ELSE i % 3 = 0 END`, 'COMPRESSION gzip'],
];
for (const [name, expr, opts] of files) {
  const path = `${dir}/${name}.parquet`;
  await c.run(`COPY (SELECT ${expr} AS v FROM range(${N}) t(i) ORDER BY i) TO '${path}' (FORMAT parquet, ${opts}, ROW_GROUP_SIZE 100000)`);
  if (show) {
    const r = await c.runAndReadAll(`SELECT encodings, compression, type, total_compressed_size FROM parquet_metadata('${path}')`);
    console.log(name, JSON.stringify(r.getRowObjects(), (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  }
}
