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
//             "properties": {...}?,
//             "partition": [{"name": "s.b", "transform": "identity", "source-id": 3,
//                            "field-id": 1000, "avro": "string"}]?}
// with "partition": {"s.b": "x"} on each file (Avro names sanitized as
// Iceberg Java does: "s.b" -> "s_x2Eb").
// The location written into the metadata is "file://" + dir.
import avro from 'avsc';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
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
  files.push({ path: loc + '/data/' + f.name, rows: BigInt(n), size: BigInt(fs.statSync(p).size), part: f.partition ?? {} });
}

const snapshotId = 1234567890123n;
const now = 1733500000000n;
const schema = { type: 'struct', 'schema-id': 0, fields: spec.schema };
const pfields = spec.partition ?? [];
const avroName = (n) => n.replace(/[^A-Za-z0-9_]/g, (c) => '_x' + c.charCodeAt(0).toString(16).toUpperCase());
const specFields = pfields.map((pf) => ({ name: pf.name, transform: pf.transform, 'source-id': pf['source-id'], 'field-id': pf['field-id'] }));

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
      { name: 'partition', type: { type: 'record', name: 'r102', fields: pfields.map((pf) => (
        { name: avroName(pf.name), type: ['null', pf.avro], default: null, 'field-id': pf['field-id'] })) }, 'field-id': 102 },
      { name: 'record_count', type: 'long', 'field-id': 103 },
      { name: 'file_size_in_bytes', type: 'long', 'field-id': 104 },
      opt('first_row_id', 'long', 142),
      opt('referenced_data_file', 'string', 143),
      opt('content_offset', 'long', 144),
      opt('content_size_in_bytes', 'long', 145),
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
  data_file: { content: 0, file_path: f.path, file_format: 'PARQUET',
    partition: Object.fromEntries(pfields.map((pf) => [avroName(pf.name), f.part[pf.name] ?? null])), record_count: f.rows, file_size_in_bytes: f.size,
    first_row_id: null, referenced_data_file: null, content_offset: null, content_size_in_bytes: null },
})), {
  schema: JSON.stringify(schema), 'schema-id': '0', 'partition-spec': JSON.stringify(specFields), 'partition-spec-id': '0',
  'format-version': String(fv), content: 'data',
});
const rows = files.reduce((a, f) => a + f.rows, 0n);
const mlist = path.join(dir, 'metadata', `snap-${snapshotId}-1-m0.avro`);
const lists = [{
  manifest_path: loc + '/metadata/m0.avro', manifest_length: BigInt(fs.statSync(manifest).size), partition_spec_id: 0,
  content: 0, sequence_number: 1n, min_sequence_number: 1n, added_snapshot_id: snapshotId,
  added_files_count: files.length, existing_files_count: 0, deleted_files_count: 0,
  added_rows_count: rows, existing_rows_count: 0n, deleted_rows_count: 0n,
}];

// v3 deletion vectors: one Puffin file, one deletion-vector-v1 blob per data
// file ({"file": NAME, "positions": [...]}), and a delete manifest
if (spec.deletes?.length) {
  const u16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const roaring32 = (vals) => { // portable format without run containers, array containers
    const byKey = new Map();
    for (const v of vals) { const k = v >>> 16; if (!byKey.has(k)) byKey.set(k, []); byKey.get(k).push(v & 0xffff); }
    const keys = [...byKey.keys()].sort((a, b) => a - b);
    const n = keys.length, parts = [u32(12346), u32(n)];
    for (const k of keys) { parts.push(u16(k), u16(byKey.get(k).length - 1)); }
    let off = 8 + 8 * n;
    for (const k of keys) { parts.push(u32(off)); off += 2 * byKey.get(k).length; }
    for (const k of keys) for (const v of byKey.get(k).sort((a, b) => a - b)) parts.push(u16(v));
    return Buffer.concat(parts);
  };
  const blobs = [];
  let pos = 4;
  const entries = [];
  for (const d of spec.deletes) {
    const high = new Map();
    for (const p of d.positions) { const h = Math.floor(p / 2 ** 32); if (!high.has(h)) high.set(h, []); high.get(h).push(p % 2 ** 32); }
    const hk = [...high.keys()].sort((a, b) => a - b);
    const cnt = Buffer.alloc(8); cnt.writeBigUInt64LE(BigInt(hk.length));
    const vec = Buffer.concat([cnt, ...hk.flatMap((h) => [u32(h), roaring32(high.get(h))])]);
    const body = Buffer.concat([Buffer.from([0xd1, 0xd3, 0x39, 0x64]), vec]);
    const len = Buffer.alloc(4); len.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(zlib.crc32(body));
    const blob = Buffer.concat([len, body, crc]);
    entries.push({ file: loc + '/data/' + d.file, offset: pos, size: blob.length, n: d.positions.length });
    blobs.push(blob);
    pos += blob.length;
  }
  const footer = Buffer.from(JSON.stringify({ blobs: entries.map((e) => ({ type: 'deletion-vector-v1', fields: [2147483645],
    'snapshot-id': -1, 'sequence-number': -1, offset: e.offset, length: e.size, properties: { 'referenced-data-file': e.file, cardinality: String(e.n) } })) }));
  const puffin = Buffer.concat([Buffer.from('PFA1'), ...blobs, Buffer.from('PFA1'), footer, u32(footer.length), u32(0), Buffer.from('PFA1')]);
  const pf = path.join(dir, 'data', 'dv.puffin');
  fs.writeFileSync(pf, puffin);
  const dman = path.join(dir, 'metadata', 'd0.avro');
  await writeAvro(dman, entrySchema, entries.map((e) => ({
    status: 1, snapshot_id: snapshotId, sequence_number: null, file_sequence_number: null,
    data_file: { content: 1, file_path: loc + '/data/dv.puffin', file_format: 'PUFFIN', partition: {}, record_count: BigInt(e.n),
      file_size_in_bytes: BigInt(puffin.length), first_row_id: null, referenced_data_file: e.file,
      content_offset: BigInt(e.offset), content_size_in_bytes: BigInt(e.size) },
  })), { schema: JSON.stringify(schema), 'schema-id': '0', 'partition-spec': '[]', 'partition-spec-id': '0',
    'format-version': String(fv), content: 'deletes' });
  lists.push({ manifest_path: loc + '/metadata/d0.avro', manifest_length: BigInt(fs.statSync(dman).size), partition_spec_id: 0,
    content: 1, sequence_number: 1n, min_sequence_number: 1n, added_snapshot_id: snapshotId,
    added_files_count: entries.length, existing_files_count: 0, deleted_files_count: 0,
    added_rows_count: BigInt(entries.reduce((a, e) => a + e.n, 0)), existing_rows_count: 0n, deleted_rows_count: 0n });
}
await writeAvro(mlist, listSchema, lists, { 'snapshot-id': String(snapshotId), 'sequence-number': '1', 'format-version': String(fv) });

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
  'partition-specs': [{ 'spec-id': 0, fields: specFields }],
  'last-partition-id': Math.max(999, ...pfields.map((pf) => pf['field-id'])),
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
