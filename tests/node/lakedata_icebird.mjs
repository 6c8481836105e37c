// lakedata_icebird.mjs - read a kiln-written Iceberg table with icebird (an
// independent JavaScript Iceberg reader) and compare its rows with kiln's
// scan output (NDJSON from `kiln table scan --format ndjson`).
//
//   node tests/node/lakedata_icebird.mjs TABLE_DIR KILN_ROWS.ndjson [--ref NAME] [--snapshot ID]
// icebird fetches URLs; a small fetch shim serves file:// URLs (with Range
// requests) from the local disk. Exits 1 and prints a diff on mismatch.
import fs from 'node:fs';
import path from 'node:path';
import { icebergMetadata, icebergRead } from 'icebird';

const [dir, rowsFile, ...rest] = process.argv.slice(2);
if (!dir || !rowsFile) { console.error('usage: lakedata_icebird.mjs TABLE_DIR ROWS.ndjson [--ref NAME] [--snapshot ID]'); process.exit(2); }
const opt = (name) => { const i = rest.indexOf(name); return i >= 0 ? rest[i + 1] : undefined; };

const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init = {}) => {
  const u = String(url);
  if (!u.startsWith('file://')) return realFetch(url, init);
  const p = decodeURI(u.slice(7));
  if (!fs.existsSync(p)) return new Response('not found', { status: 404, statusText: 'Not Found' });
  const buf = fs.readFileSync(p);
  const range = init.headers && new Headers(init.headers).get('Range');
  if (range) {
    const m = /bytes=(\d+)-(\d*)/.exec(range);
    const start = Number(m[1]);
    const end = m[2] === '' ? buf.length : Number(m[2]) + 1;
    return new Response(buf.subarray(start, end), { status: 206, headers: { 'content-length': String(end - start) } });
  }
  return new Response(buf, { status: 200, headers: { 'content-length': String(buf.length) } });
};

const tableUrl = 'file://' + path.resolve(dir);
const metadata = await icebergMetadata({ tableUrl });
const ref = opt('--ref');
if (ref) {
  if (!metadata.refs?.[ref]) { console.error(`no ref ${ref}`); process.exit(1); }
  metadata['current-snapshot-id'] = metadata.refs[ref]['snapshot-id'];
}
if (opt('--snapshot')) metadata['current-snapshot-id'] = Number(opt('--snapshot'));
const schema = metadata.schemas.find((s) => s['schema-id'] === metadata['current-schema-id']);

let ice = [];
const snap = metadata.snapshots?.find((s) => s['snapshot-id'] === metadata['current-snapshot-id']);
if (snap && Number(snap.summary?.['total-data-files'] ?? 1) > 0) ice = await icebergRead({ tableUrl, metadata });

function norm(field, v) {
  if (v === undefined || v === null) return null;
  const t = String(field.type);
  if (t.startsWith('decimal')) { const scale = Number(/,\s*(\d+)/.exec(t)[1]); return Number(v).toFixed(scale); }
  if (t === 'date') return v instanceof Date ? v.toISOString().slice(0, 10) : String(v).slice(0, 10);
  if (t.startsWith('timestamp')) return v instanceof Date ? v.getTime() : (typeof v === 'bigint' ? Number(v / 1000n) : Date.parse(v));
  if (t === 'float') return Math.fround(Number(v));
  if (t === 'double' || t === 'int' || t === 'long') return typeof v === 'bigint' ? v.toString() : String(Number(v));
  if (t === 'boolean') return Boolean(v);
  return String(v);
}
const canon = (r) => JSON.stringify(schema.fields.map((f) => norm(f, r[f.name])));
const a = ice.map(canon).sort();
const b = fs.readFileSync(rowsFile, 'utf8').split('\n').filter(Boolean).map((l) => canon(JSON.parse(l))).sort();
const diff = [];
for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) diff.push(`  icebird ${a[i]}\n  kiln    ${b[i]}`);
if (diff.length) {
  console.error(`lakedata_icebird: ${a.length} rows from icebird, ${b.length} from kiln; first differences:\n${diff.slice(0, 5).join('\n')}`);
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, rows: a.length, ref: ref ?? 'main' }));
