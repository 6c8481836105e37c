// iceberg_foreign.mjs - make an Iceberg table the way another engine would,
// without kiln: Parquet data files written by DuckDB from SQL queries, and
// the table's metadata (metadata.json, manifest list and manifest, Avro
// with field ids, written with avsc) in the Hadoop layout
// (metadata/v1.metadata.json + version-hint.text). kiln's interop tests read
// such tables back and compare with DuckDB reading the same Parquet files.
//
//   node tests/node/iceberg_foreign.mjs SPEC.json
//
// SPEC.json: {"dir": "/abs/table/dir", "format_version": 2,
//             "schema": [<Iceberg schema fields, with ids>],
//             "files": [{"name": "f1.parquet", "sql": "select ...", "field_ids": "{...}"?}],
//             "properties": {...}?}
// The location written into the metadata is "file://" + dir.
import avro from 'avsc';
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseType, codecs } from './avro_common.mjs';

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const dir = spec.dir;
const loc = 'file://' + dir;
const fv = spec.format_version ?? 2;
fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
fs.mkdirSync(path.join(dir, 'metadata'), { recursive: true });

const db = await (await DuckDBInstance.create(':memory:')).connect();
const files = [];
for (const f of spec.files) {
  const p = path.join(dir, 'data', f.name);
  const ids = f.field_ids ? `, FIELD_IDS ${f.field_ids}` : '';
  await db.run(`COPY (${f.sql}) TO '${p}' (FORMAT parquet${ids})`);
  const n = (await db.runAndReadAll(`select count(*)::BIGINT as n from read_parquet('${p}')`)).getRowObjects()[0].n;
  files.push({ path: loc + '/data/' + f.name, rows: BigInt(n), size: BigInt(fs.statSync(p).size) });
}

const snapshotId = 1234567890123n;
const now = 1733500000000n;
const schema = { type: 'struct', 'schema-id': 0, fields: spec.schema };

const opt = (name, type, id) => ({ name, type: ['null', type], default: null, 'field-id': id });
const entrySchema = {
  type: 'record', name: 'manifest_entry', fields: [
    { name: 'status', type: 'int', 'field-id': 0 },
    opt('snapshot_id', 'long', 1),
    opt('sequence_number', 'long', 3),
    opt('file_sequence_number', 'long', 4),
    { name: 'data_file', 'field-id': 2, type: { type: 'record', name: 'r2', fields: [
      { name: 'content', type: 'int', 'field-id': 134 },
      { name: 'file_path', type: 'string', 'field-id': 100 },
      { name: 'file_format', type: 'string', 'field-id': 101 },
      { name: 'partition', type: { type: 'record', name: 'r102', fields: [] }, 'field-id': 102 },
      { name: 'record_count', type: 'long', 'field-id': 103 },
      { name: 'file_size_in_bytes', type: 'long', 'field-id': 104 },
    ] } },
  ],
};
const listSchema = {
  type: 'record', name: 'manifest_file', fields: [
    { name: 'manifest_path', type: 'string', 'field-id': 500 },
    { name: 'manifest_length', type: 'long', 'field-id': 501 },
    { name: 'partition_spec_id', type: 'int', 'field-id': 502 },
    { name: 'content', type: 'int', 'field-id': 517 },
    { name: 'sequence_number', type: 'long', 'field-id': 515 },
    { name: 'min_sequence_number', type: 'long', 'field-id': 516 },
    { name: 'added_snapshot_id', type: 'long', 'field-id': 503 },
    { name: 'added_files_count', type: 'int', 'field-id': 504 },
    { name: 'existing_files_count', type: 'int', 'field-id': 505 },
    { name: 'deleted_files_count', type: 'int', 'field-id': 506 },
    { name: 'added_rows_count', type: 'long', 'field-id': 512 },
    { name: 'existing_rows_count', type: 'long', 'field-id': 513 },
    { name: 'deleted_rows_count', type: 'long', 'field-id': 514 },
  ],
};
const writeAvro = (file, sch, recs, meta) => new Promise((resolve, reject) => {
  const enc = new avro.streams.BlockEncoder(parseType(sch), {
    codec: 'deflate', codecs, writeHeader: 'auto',
    metadata: Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, Buffer.from(v)])),
  });
  // the header must carry the schema as written (avsc drops the field ids
  // Iceberg readers match on); it is written lazily, with the first block
  enc._schema = sch;
  const os = fs.createWriteStream(file);
  enc.pipe(os);
  os.on('finish', resolve);
  os.on('error', reject);
  enc.on('error', reject);
  for (const r of recs) enc.write(r);
  enc.end();
});

const manifest = path.join(dir, 'metadata', 'm0.avro');
await writeAvro(manifest, entrySchema, files.map((f) => ({
  status: 1, snapshot_id: snapshotId, sequence_number: null, file_sequence_number: null,
  data_file: { content: 0, file_path: f.path, file_format: 'PARQUET', partition: {}, record_count: f.rows, file_size_in_bytes: f.size },
})), {
  schema: JSON.stringify(schema), 'schema-id': '0', 'partition-spec': '[]', 'partition-spec-id': '0',
  'format-version': String(fv), content: 'data',
});
const rows = files.reduce((a, f) => a + f.rows, 0n);
const mlist = path.join(dir, 'metadata', `snap-${snapshotId}-1-m0.avro`);
await writeAvro(mlist, listSchema, [{
  manifest_path: loc + '/metadata/m0.avro', manifest_length: BigInt(fs.statSync(manifest).size), partition_spec_id: 0,
  content: 0, sequence_number: 1n, min_sequence_number: 1n, added_snapshot_id: snapshotId,
  added_files_count: files.length, existing_files_count: 0, deleted_files_count: 0,
  added_rows_count: rows, existing_rows_count: 0n, deleted_rows_count: 0n,
}], { 'snapshot-id': String(snapshotId), 'sequence-number': '1', 'format-version': String(fv) });

let lastId = 0;
const walk = (fields) => { for (const f of fields) { lastId = Math.max(lastId, f.id); sub(f.type); } };
const sub = (t) => {
  if (typeof t !== 'object') return;
  if (t.type === 'struct') walk(t.fields);
  if (t.type === 'list') { lastId = Math.max(lastId, t['element-id']); sub(t.element); }
  if (t.type === 'map') { lastId = Math.max(lastId, t['key-id'], t['value-id']); sub(t.key); sub(t.value); }
};
walk(spec.schema);
const meta = {
  'format-version': fv, 'table-uuid': '2f1c3c0e-6a4b-4d0c-9c1e-6f0a1b2c3d4e', location: loc,
  'last-sequence-number': 1, 'last-updated-ms': Number(now), 'last-column-id': lastId,
  'current-schema-id': 0, schemas: [schema], 'default-spec-id': 0,
  'partition-specs': [{ 'spec-id': 0, fields: [] }], 'last-partition-id': 999,
  'default-sort-order-id': 0, 'sort-orders': [{ 'order-id': 0, fields: [] }],
  properties: spec.properties ?? {}, 'current-snapshot-id': 'SNAP',
  snapshots: [{ 'snapshot-id': 'SNAP', 'sequence-number': 1, 'timestamp-ms': Number(now),
    summary: { operation: 'append', 'added-data-files': String(files.length), 'added-records': String(rows),
      'total-records': String(rows) },
    'manifest-list': loc + `/metadata/snap-${snapshotId}-1-m0.avro`, 'schema-id': 0 }],
  'snapshot-log': [{ 'snapshot-id': 'SNAP', 'timestamp-ms': Number(now) }], 'metadata-log': [], refs: { main: { 'snapshot-id': 'SNAP', type: 'branch' } },
};
if (fv >= 3) { meta['next-row-id'] = Number(rows); meta.snapshots[0]['first-row-id'] = 0; meta.snapshots[0]['added-rows'] = Number(rows); }
// snapshot ids beyond 2^53 stay exact: written as bare digits
const text = JSON.stringify(meta, null, 2).replace(/"SNAP"/g, String(snapshotId));
fs.writeFileSync(path.join(dir, 'metadata', 'v1.metadata.json'), text);
fs.writeFileSync(path.join(dir, 'metadata', 'version-hint.text'), '1');
