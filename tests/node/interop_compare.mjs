// interop_compare.mjs - kiln's rows (NDJSON from `kiln table scan --json`
// or `kiln parquet cat --json`) against DuckDB reading the same Parquet
// files, value for value, in the order of ORDER_COL:
//   decimals   exact text (DuckDB's DECIMAL -> VARCHAR keeps the scale)
//   nested     DuckDB's to_json(col), parsed, deep-equal to kiln's JSON
//              value (numbers compared as numbers, timestamps with 'T')
//   the rest   DuckDB's VARCHAR text vs kiln's text
// Also checks kiln printed every column DuckDB sees (none dropped).
//
//   node tests/node/interop_compare.mjs KILN.ndjson 'GLOB.parquet' ORDER_COL
import fs from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

const [kilnFile, glob, order] = process.argv.slice(2);
const kiln = fs.readFileSync(kilnFile, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));
const db = await (await DuckDBInstance.create(':memory:')).connect();
const src = `read_parquet('${glob}')`;
const desc = (await db.runAndReadAll(`describe select * from ${src}`)).getRowObjects();
const nested = (t) => /^(STRUCT|MAP)\(|\[\]$/.test(t);
const sel = desc.map((d) => (nested(d.column_type) ? `to_json("${d.column_name}")::VARCHAR`
  : d.column_type === 'BLOB' ? `lower(hex("${d.column_name}"))` : `"${d.column_name}"::VARCHAR`) + ` as "${d.column_name}"`);
const duck = (await db.runAndReadAll(`select ${sel.join(', ')}, "${order}" as __order_key from ${src} order by __order_key`)).getRowObjects();
kiln.sort((a, b) => Number(a[order]) - Number(b[order]));

let bad = 0;
const fail = (msg) => { if (bad++ < 20) console.error(msg); };
if (kiln.length !== duck.length) fail(`row count: kiln ${kiln.length}, DuckDB ${duck.length}`);
for (const d of desc)
  if (kiln.length && !(d.column_name in kiln[0])) fail(`column ${d.column_name} (${d.column_type}) missing from kiln's output`);

const ts = (s) => s.replace(' ', 'T').replace(/(\+00(:00)?|Z)$/, '');
function same(a, b) {
  if (a === null || b === null || a === undefined || b === undefined) return (a ?? null) === (b ?? null);
  // a float inside a nested value: kiln prints 9 significant digits, DuckDB the float widened to double
  if (typeof a === 'number' || typeof b === 'number') return Number(a) === Number(b) || Math.fround(Number(a)) === Math.fround(Number(b));
  // binary inside a nested value: kiln prints hex, DuckDB's to_json the bytes as text
  const hexbytes = (h) => (/^([0-9a-f]{2})*$/.test(h) ? Buffer.from(h, 'hex').toString('latin1') : null);
  if (typeof a === 'string' && typeof b === 'string') return a === b || ts(a) === ts(b) || hexbytes(a) === b;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
    return same(ka, kb) && ka.every((k) => same(a[k], b[k]));
  }
  return a === b;
}
for (let i = 0; i < Math.min(kiln.length, duck.length); i++) {
  for (const d of desc) {
    const k = kiln[i][d.column_name], v = duck[i][d.column_name];
    if (nested(d.column_type)) {
      // DuckDB's to_json writes bare NaN/Infinity (not JSON); kiln writes them as strings
      const dv = v === null ? null : JSON.parse(v.replace(/([:\[,])(-?)(NaN|Infinity)(?=[,\]}])/g, '$1"$2$3"'));
      if (!same(k, dv)) fail(`row ${i} ${d.column_name} (${d.column_type}): kiln ${JSON.stringify(k)} DuckDB ${v}`);
    } else {
      const kt = k === null || k === undefined ? null : String(k);
      const num = (x) => (/^-?inf/i.test(x) ? (x[0] === '-' ? -Infinity : Infinity) : Number(x));
      const ok = kt === v || (kt !== null && v !== null && (d.column_type === 'FLOAT' ? Math.fround(num(kt)) === Math.fround(num(v))
        : d.column_type === 'DOUBLE' ? num(kt) === num(v) : ts(kt) === ts(v)));
      if (!ok) fail(`row ${i} ${d.column_name} (${d.column_type}): kiln ${JSON.stringify(k)} DuckDB ${JSON.stringify(v)}`);
    }
  }
}
if (bad) { console.error(`${bad} differences`); process.exit(1); }
console.log(`${kiln.length} rows x ${desc.length} columns agree with DuckDB`);
