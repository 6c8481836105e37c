// lakedata_eqdel.mjs - an independent evaluation of an Iceberg v2 table's
// current rows with deletes applied: manifests read with avsc (BigInt longs),
// data and delete files read with DuckDB's Parquet reader, and the spec's
// scan-planning rules applied here in JavaScript:
//   equality delete -> data files with a strictly smaller data sequence
//     number, same spec+partition, or every partition if the delete's spec
//     is unpartitioned; null matches null
//   position delete -> data files with data sequence number <= the delete's,
//     same partition, matching file_path and row position
// Then compares with kiln's scan (NDJSON).
//
//   node tests/node/lakedata_eqdel.mjs TABLE_DIR FROM=TO KILN_ROWS.ndjson
import avro from 'avsc';
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const [dir, remap, rowsFile] = process.argv.slice(2);
if (!dir || !remap || !rowsFile) { console.error('usage: lakedata_eqdel.mjs TABLE_DIR FROM=TO ROWS.ndjson'); process.exit(2); }
const [from, to] = remap.split('=');
const local = (p) => { p = p.replace(/^file:\/\//, ''); return p.startsWith(from) ? to + p.slice(from.length) : p; };

const longType = avro.types.LongType.__with({
  fromBuffer: (buf) => buf.readBigInt64LE(),
  toBuffer: (n) => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b; },
  fromJSON: BigInt, toJSON: Number, isValid: (n) => typeof n === 'bigint',
  compare: (a, b) => (a === b ? 0 : a < b ? -1 : 1),
});
const readAvro = (file) => new Promise((resolve, reject) => {
  const recs = [];
  avro.createFileDecoder(file, { parseHook: (s) => avro.Type.forSchema(s, { registry: { long: longType } }) })
    .on('data', (r) => recs.push(r)).on('error', reject).on('end', () => resolve(recs));
});

const hint = fs.readFileSync(path.join(dir, 'metadata', 'version-hint.text'), 'utf8').trim();
const metaText = fs.readFileSync(path.join(dir, 'metadata', `v${hint}.metadata.json`), 'utf8');
// snapshot ids exceed 2^53: keep them as strings
const meta = JSON.parse(metaText.replace(/("(?:current-)?snapshot-id"\s*:\s*)(-?\d+)/g, '$1"$2"'));
const snap = meta.snapshots.find((s) => s['snapshot-id'] === meta['current-snapshot-id']);
const schema = meta.schemas.find((s) => s['schema-id'] === meta['current-schema-id']);
const colName = (id) => schema.fields.find((f) => f.id === id).name;
const specOf = (id) => meta['partition-specs'].find((s) => s['spec-id'] === id);

const data = [], deletes = [];
for (const m of await readAvro(local(snap['manifest-list']))) {
  for (const e of await readAvro(local(m.manifest_path))) {
    if (e.status === 2) continue;
    const seq = e.sequence_number ?? m.sequence_number;
    const f = { ...e.data_file, seq, spec: m.partition_spec_id, part: JSON.stringify(e.data_file.partition, (k, v) => (typeof v === 'bigint' ? v.toString() : v)) };
    (e.data_file.content === 0 ? data : deletes).push(f);
  }
}
const db = await (await DuckDBInstance.create(':memory:')).connect();
const rowsOf = async (p) => (await db.runAndReadAll(`select * from read_parquet('${local(p).replace(/'/g, "''")}')`)).getRowObjectsJson();
const norm = (v) => (v === null || v === undefined ? null : String(v));

const out = [];
for (const d of data) {
  let rows = (await rowsOf(d.file_path)).map((r, pos) => ({ r, pos }));
  // identity partition columns the file lacks come from the partition tuple
  for (const pf of specOf(d.spec).fields) {
    if (pf.transform !== 'identity') continue;
    const name = colName(pf['source-id']);
    for (const x of rows) if (!(name in x.r)) x.r[name] = d.partition[pf.name];
  }
  for (const del of deletes) {
    const sameSpecPart = del.spec === d.spec && del.part === d.part;
    if (del.content === 2) {
      if (!(del.seq > d.seq)) continue;
      if (!(specOf(del.spec).fields.length === 0 || sameSpecPart)) continue;
      const names = del.equality_ids.map(colName);
      const drows = await rowsOf(del.file_path);
      rows = rows.filter(({ r }) => !drows.some((dr) => names.every((n) => norm(dr[n]) === norm(r[n]))));
    } else if (del.content === 1) {
      if (!(del.seq >= d.seq) || !sameSpecPart) continue;
      const drows = await rowsOf(del.file_path);
      const gone = new Set(drows.filter((x) => x.file_path === d.file_path).map((x) => Number(x.pos)));
      rows = rows.filter(({ pos }) => !gone.has(pos));
    }
  }
  for (const { r } of rows) out.push(JSON.stringify(schema.fields.map((f) => norm(r[f.name]))));
}
out.sort();
const kiln = fs.readFileSync(rowsFile, 'utf8').split('\n').filter(Boolean)
  .map((l) => { const r = JSON.parse(l); return JSON.stringify(schema.fields.map((f) => norm(r[f.name]))); }).sort();
if (JSON.stringify(out) !== JSON.stringify(kiln)) {
  console.error(`lakedata_eqdel: independent evaluation\n  ${out.join('\n  ')}\nkiln\n  ${kiln.join('\n  ')}`);
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, rows: out.length, data_files: data.length, delete_files: deletes.length }));
