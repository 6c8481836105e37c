// avro_common.mjs - shared helpers for kiln's Avro interop tests: an avsc
// long type backed by BigInt (Iceberg snapshot ids exceed 2^53), type
// parsing with it, and a structural comparison of avsc-decoded values with
// kiln's NDJSON (`kiln avro cat`) conventions.
import avro from 'avsc';
import zlib from 'node:zlib';

export const LongBig = avro.types.LongType.__with({
  fromBuffer: (buf) => buf.readBigInt64LE(),
  toBuffer: (n) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    return b;
  },
  fromJSON: (x) => BigInt(x),
  toJSON: (n) => Number(n),
  isValid: (n) => typeof n === 'bigint',
  compare: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
});

// avsc only consults the registry for the bare name "long", so rewrite
// {"type":"long", ...} (e.g. timestamp-micros) to "long" first.
function bareLongs(s) {
  if (Array.isArray(s)) return s.map(bareLongs);
  if (s && typeof s === 'object') {
    if (s.type === 'long') return 'long';
    const o = {};
    for (const [k, v] of Object.entries(s)) {
      if (k === 'fields' && Array.isArray(v)) o[k] = v.map((f) => ({ ...f, type: bareLongs(f.type) }));
      else o[k] = k === 'default' ? v : bareLongs(v);
    }
    return o;
  }
  return s;
}

export function parseType(schema) {
  return avro.Type.forSchema(bareLongs(schema), { registry: { long: LongBig }, wrapUnions: false });
}

export const codecs = {
  null: (buf, cb) => cb(null, buf),
  deflate: zlib.deflateRaw,
};
export const decoders = {
  null: (buf, cb) => cb(null, buf),
  deflate: zlib.inflateRaw,
};

// kiln prints longs as bare JSON numbers; JSON.parse would round those past
// 2^53, so quote every integer literal of 16+ digits outside strings first.
export function parseKilnJson(line) {
  let out = '';
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      out += line.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < line.length && /[0-9.eE+-]/.test(line[j])) j++;
      const tok = line.slice(i, j);
      out += /^-?\d{16,}$/.test(tok) ? `"${tok}"` : tok;
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return JSON.parse(out);
}

function num(x) {
  if (x === 'NaN') return NaN;
  if (x === 'Infinity') return Infinity;
  if (x === '-Infinity') return -Infinity;
  return Number(x);
}

function sameNum(a, b) {
  return (Number.isNaN(a) && Number.isNaN(b)) || a === b;
}

// Compare an avsc value `a` of type `t` with kiln's JSON value `e`.
// Returns null when equal, else a message naming the path.
export function compare(t, a, e, path = '$') {
  const name = t.typeName;
  const bad = (why) => `${path}: ${why} (avsc ${String(a)}, kiln ${JSON.stringify(e)})`;
  switch (name) {
    case 'null':
      return a === null && e === null ? null : bad('null');
    case 'boolean':
    case 'int':
    case 'string':
    case 'enum':
      return a === e ? null : bad(name);
    case 'long':
    case 'abstract:long':
      return String(a) === String(e) ? null : bad('long');
    case 'float':
      return sameNum(Math.fround(a), Math.fround(num(e))) ? null : bad('float');
    case 'double':
      return sameNum(a, num(e)) ? null : bad('double');
    case 'bytes':
    case 'fixed':
      return Buffer.isBuffer(a) && a.toString('latin1') === e ? null : bad(name);
    case 'array': {
      if (!Array.isArray(e) || a.length !== e.length) return bad('array length');
      for (let i = 0; i < a.length; i++) {
        const r = compare(t.itemsType, a[i], e[i], `${path}[${i}]`);
        if (r) return r;
      }
      return null;
    }
    case 'map': {
      const ka = Object.keys(a).sort();
      const ke = Object.keys(e || {}).sort();
      if (ka.join('\u0000') !== ke.join('\u0000')) return bad('map keys');
      for (const k of ka) {
        const r = compare(t.valuesType, a[k], e[k], `${path}{${k}}`);
        if (r) return r;
      }
      return null;
    }
    case 'record':
    case 'error': {
      if (e === null || typeof e !== 'object') return bad('record');
      if (Object.keys(e).length !== t.fields.length) return bad('field count');
      for (const f of t.fields) {
        const r = compare(f.type, a[f.name], e[f.name], `${path}.${f.name}`);
        if (r) return r;
      }
      return null;
    }
    case 'union:unwrapped': {
      if (a === null) return e === null ? null : bad('union null');
      const b = t.types.find((x) => x.typeName !== 'null' && x.isValid(a));
      if (!b) return bad('no union branch');
      return compare(b, a, e, path);
    }
    default:
      if (t.underlyingType) return compare(t.underlyingType, a, e, path);
      return bad(`unhandled type ${name}`);
  }
}
