// iceberg_v3_check.mjs - an independent reading of an Iceberg format-version 3
// table kiln wrote: metadata JSON parsed here, manifest lists and manifests
// read with avsc (BigInt longs), data files read with DuckDB's Parquet reader
// (with file_row_number), deletion vectors decoded by
// tests/e2e/interop_dv_check.py (Puffin + CRoaring), and the spec's rules
// applied in JavaScript:
//   row lineage  next-row-id present; every data manifest of the current
//                manifest list has a first_row_id, their ranges
//                [first_row_id, +added+existing rows) are disjoint and below
//                next-row-id; every live data file's first_row_id (stored,
//                or inherited: the manifest's plus the record counts of the
//                live entries before it that have none) gives disjoint
//                ranges below next-row-id; the last snapshot's first-row-id
//                + added-rows = next-row-id, no snapshot starts below an
//                earlier one's end
//   deletes      a deletion vector (PUFFIN) names its referenced_data_file,
//                content_offset and content_size_in_bytes; at most one per
//                data file; it applies to that file only; a Parquet position
//                delete applies by file_path and pos (seq >= the data file's)
//   lineage      each live row's _row_id is the file's _row_id column when
//                that is not null, else the file's first_row_id + the row's
//                position; _last_updated_sequence_number the file's column,
//                else the entry's data sequence number; _row_ids of live
//                rows are unique. Compared with kiln's scan when kiln's rows
//                carry the two columns (`--columns ...,_row_id,...`).
// Then compares the rows with kiln's scan (NDJSON), and prints a summary.
//
//   node tests/node/iceberg_v3_check.mjs METADATA_JSON KILN_ROWS.ndjson
import avro from 'avsc';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';

const [metaFile, rowsFile] = process.argv.slice(2);
if (!metaFile || !rowsFile) { console.error('usage: iceberg_v3_check.mjs METADATA_JSON ROWS.ndjson'); process.exit(2); }
const here = path.dirname(fileURLToPath(import.meta.url));
const dvCheck = path.join(here, '..', 'e2e', 'interop_dv_check.py');
const bad = (msg) => { console.error(`iceberg_v3_check: ${msg}`); process.exit(1); };
const local = (p) => p.replace(/^file:\/\//, '');

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
// integers exact: ids as BigInt
const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8').replace(/:\s*(-?\d{10,})/g, ':"__big:$1"'),
  (k, v) => (typeof v === 'string' && v.startsWith('__big:') ? BigInt(v.slice(6)) : v));
if (meta['format-version'] !== 3) bad(`format-version ${meta['format-version']}`);
if (meta['next-row-id'] === undefined) bad('no next-row-id');
const nextRowId = BigInt(meta['next-row-id']);
const cur = BigInt(meta['current-snapshot-id']);
const snap = meta.snapshots.find((s) => BigInt(s['snapshot-id']) === cur);
if (!snap) bad('no current snapshot');
let end = 0n;
for (const s of meta.snapshots) {
  if (s['first-row-id'] === undefined || s['added-rows'] === undefined) continue; // written before the upgrade
  if (BigInt(s['first-row-id']) < end) bad(`snapshot ${s['snapshot-id']} first-row-id ${s['first-row-id']} below ${end}`);
  end = BigInt(s['first-row-id']) + BigInt(s['added-rows']);
}
if (snap['first-row-id'] === undefined) bad('the current snapshot has no first-row-id');
if (end !== nextRowId) bad(`last snapshot ends at row id ${end}, next-row-id is ${nextRowId}`);
const schema = meta.schemas.find((s) => s['schema-id'] === meta['current-schema-id']);

const disjoint = (ranges, what) => {
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let i = 0; i < ranges.length; i++) {
    if (ranges[i][1] > nextRowId) bad(`${what} ${ranges[i][2]} ends at ${ranges[i][1]}, above next-row-id ${nextRowId}`);
    if (i && ranges[i][0] < ranges[i - 1][1]) bad(`${what} ${ranges[i][2]} overlaps ${ranges[i - 1][2]}`);
  }
};
const data = [], deletes = [], mranges = [], franges = [];
for (const m of await readAvro(local(snap['manifest-list']))) {
  const mfirst = m.first_row_id;
  if (m.content === 0) {
    if (mfirst === null || mfirst === undefined) bad(`data manifest ${m.manifest_path} has no first_row_id`);
    mranges.push([mfirst, mfirst + m.added_rows_count + m.existing_rows_count, m.manifest_path]);
  } else if (mfirst !== null && mfirst !== undefined) {
    bad(`delete manifest ${m.manifest_path} has a first_row_id`);
  }
  let next = mfirst ?? 0n;
  for (const e of await readAvro(local(m.manifest_path))) {
    const df = e.data_file;
    if (e.status === 2) continue;
    const seq = e.sequence_number ?? m.sequence_number;
    if (df.content === 0) {
      let first = df.first_row_id;
      if (first === null || first === undefined) { first = next; next += df.record_count; }
      franges.push([first, first + df.record_count, df.file_path]);
      data.push({ ...df, seq, first });
    } else {
      deletes.push({ ...df, seq });
    }
  }
}
disjoint(mranges, 'manifest');
disjoint(franges, 'data file');

const db = await (await DuckDBInstance.create(':memory:')).connect();
const q = (p) => local(p).replace(/'/g, "''");
const norm = (v) => (v === null || v === undefined ? null : String(v));
const dvOf = new Map();
let dvs = 0;
for (const d of deletes) {
  if (d.content === 2) bad('equality deletes: not evaluated by this checker');
  if (String(d.file_format).toUpperCase() !== 'PUFFIN') continue;
  if (!d.referenced_data_file || d.content_offset === null || d.content_size_in_bytes === null) {
    bad(`deletion vector in ${d.file_path} without referenced_data_file / content_offset / content_size_in_bytes`);
  }
  if (dvOf.has(d.referenced_data_file)) bad(`two deletion vectors for ${d.referenced_data_file}`);
  const out = execFileSync('python3', [dvCheck, local(d.file_path), String(d.content_offset),
    String(d.content_size_in_bytes), d.referenced_data_file, String(d.record_count)], { encoding: 'utf8' });
  dvOf.set(d.referenced_data_file, new Set(out.split('\n').filter(Boolean).map(Number)));
  dvs++;
}
const lineage = ['_row_id', '_last_updated_sequence_number'];
const firstKiln = fs.readFileSync(rowsFile, 'utf8').split('\n').find(Boolean);
const withLineage = firstKiln !== undefined && lineage.every((k) => k in JSON.parse(firstKiln));
const cols = schema.fields.map((f) => f.name).concat(withLineage ? lineage : []);
const ids = new Set();
const out = [];
for (const d of data) {
  const rows = (await db.runAndReadAll(`select *, file_row_number as __pos from read_parquet('${q(d.file_path)}', file_row_number=true)`)).getRowObjectsJson();
  const gone = new Set(dvOf.get(d.file_path) ?? []);
  for (const del of deletes) {
    if (String(del.file_format).toUpperCase() === 'PUFFIN' || !(del.seq >= d.seq)) continue;
    const drows = (await db.runAndReadAll(`select * from read_parquet('${q(del.file_path)}')`)).getRowObjectsJson();
    for (const x of drows) if (x.file_path === d.file_path) gone.add(Number(x.pos));
  }
  for (const r of rows) {
    if (gone.has(Number(r.__pos))) continue;
    const rid = r._row_id ?? null, lseq = r._last_updated_sequence_number ?? null;
    r._row_id = rid !== null ? BigInt(rid) : d.first + BigInt(r.__pos);
    r._last_updated_sequence_number = lseq !== null ? BigInt(lseq) : BigInt(d.seq);
    if (ids.has(r._row_id)) bad(`_row_id ${r._row_id} appears twice among live rows (${d.file_path})`);
    ids.add(r._row_id);
    out.push(JSON.stringify(cols.map((c) => norm(r[c]))));
  }
}
out.sort();
const kiln = fs.readFileSync(rowsFile, 'utf8').split('\n').filter(Boolean)
  .map((l) => { const r = JSON.parse(l); return JSON.stringify(cols.map((c) => norm(r[c]))); }).sort();
if (JSON.stringify(out) !== JSON.stringify(kiln)) {
  const a = new Set(out), b = new Set(kiln);
  bad(`rows differ: ${out.length} independent vs ${kiln.length} kiln; only independent: ${out.filter((x) => !b.has(x)).slice(0, 5)}; only kiln: ${kiln.filter((x) => !a.has(x)).slice(0, 5)}`);
}
console.log(JSON.stringify({ ok: true, rows: out.length, data_files: data.length, deletion_vectors: dvs, lineage_checked: withLineage, next_row_id: String(nextRowId) }));
