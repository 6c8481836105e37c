// hyparquet_nested.mjs - hyparquet (an independent JavaScript Parquet
// reader) reads Parquet files kiln wrote with nested columns, and every
// value must equal kiln's own JSON of the same row (NDJSON from
// `kiln table scan --json`), matched by ORDER_COL:
//   structs -> objects, lists -> arrays, maps -> objects (hyparquet's
//   form), nulls at every level; numbers compared as numbers (decimals as
//   exact text when hyparquet gives a string), dates/timestamps as ISO
//   text, NaN as "NaN".
//
//   node tests/node/hyparquet_nested.mjs KILN.ndjson ORDER_COL FILE.parquet...
import fs from 'node:fs';
import { parquetReadObjects, asyncBufferFromFile } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

const [kilnFile, order, ...files] = process.argv.slice(2);
const kiln = new Map();
for (const l of fs.readFileSync(kilnFile, 'utf8').split('\n').filter((x) => x)) {
  const o = JSON.parse(l);
  kiln.set(String(o[order]), o);
}
let bad = 0, rows = 0;
const fail = (m) => { if (bad++ < 20) console.error(m); };
const iso = (v) => v.toISOString().replace(/\.000Z$/, 'Z').replace(/Z$/, '');
function norm(v) {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return iso(v);
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN';
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v === 'object') {
    // hyparquet gives a map as an object of key -> value
    const o = {};
    for (const k of Object.keys(v)) o[k] = norm(v[k]);
    return o;
  }
  return v;
}
// kiln's time text "HH:MM:SS[.ffffff]" as microseconds (hyparquet gives TIME(MICROS) as a number)
const timeMicros = (t) => {
  const m = /^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/.exec(t);
  return m ? ((+m[1] * 60 + +m[2]) * 60 + +m[3]) * 1e6 + +(m[4] || '').padEnd(6, '0') : null;
};
function same(a, b) {
  if (a === null || b === null) return a === b;
  if (typeof a === 'number' && typeof b === 'string' && timeMicros(b) !== null) return a === timeMicros(b);
  // floats: kiln prints 9 significant digits, hyparquet widens the float to a double
  if (typeof a === 'number' || typeof b === 'number') return Number(a) === Number(b) || Math.fround(Number(a)) === Math.fround(Number(b));
  // binary: hyparquet decodes unannotated BYTE_ARRAY as text, kiln prints hex
  if (typeof a === 'string' && typeof b === 'string' && /^([0-9a-f]{2})+$/.test(b) && Buffer.from(b, 'hex').toString('latin1') === a) return true;
  if (typeof a === 'string' && typeof b === 'string') {
    const t = (x) => x.replace(/Z$/, '').replace(/T00:00:00$/, ''); // dates come back as midnight Dates
    return a === b || t(a) === t(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
    return same(ka, kb) && ka.every((k) => same(a[k], b[k]));
  }
  return a === b;
}
for (const f of files) {
  const file = await asyncBufferFromFile(f);
  const objs = await parquetReadObjects({ file, compressors });
  for (const o of objs) {
    rows++;
    const k = kiln.get(String(norm(o[order])));
    if (!k) { fail(`${f}: row ${order}=${o[order]} not in kiln's output`); continue; }
    for (const c of Object.keys(k)) {
      if (!(c in o)) { fail(`${f}: column ${c} missing in hyparquet's row`); continue; }
      const hv = norm(o[c]);
      if (!same(hv, k[c])) fail(`${f}: ${order}=${o[order]} ${c}: hyparquet ${JSON.stringify(hv)} kiln ${JSON.stringify(k[c])}`);
    }
  }
}
if (rows !== kiln.size) fail(`rows: hyparquet ${rows}, kiln ${kiln.size}`);
if (bad) { console.error(`${bad} differences`); process.exit(1); }
console.log(`hyparquet: ${rows} rows agree with kiln`);
