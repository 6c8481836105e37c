// lakemeta_validate.mjs - independent check of Iceberg table metadata that
// kiln wrote: reads a table directory (Hadoop layout) without kiln, checks
// the spec's required v2 fields, their types and the cross-field rules, the
// whole version chain v1..vN, and loads the table's metadata through the
// icebird library (version-hint + vN.metadata.json, via a file:// fetch
// shim) to confirm an outside reader picks the same current snapshot.
//
// usage: node lakemeta_validate.mjs TABLE_DIR [--kiln] [--expect-snapshots N]
//   --kiln   also apply kiln's own promises: file:// absolute locations,
//            snapshot ids below 2^53, metadata-log naming every older version
// prints one JSON line {"ok":true,...} or exits 1 with the problems.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { icebergMetadata, icebergLatestVersion } from 'icebird';

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith('--'));
const kiln = args.includes('--kiln');
const ei = args.indexOf('--expect-snapshots');
const expectSnapshots = ei >= 0 ? Number(args[ei + 1]) : null;
if (!dir) {
  console.error('usage: node lakemeta_validate.mjs TABLE_DIR [--kiln] [--expect-snapshots N]');
  process.exit(2);
}
const problems = [];
const bad = (m) => problems.push(m);

// Parse JSON keeping integers exact: numbers become BigInt when they are
// integers outside the safe range (snapshot ids written by other engines).
function parseExact(text) {
  const marked = text.replace(/([:\[,]\s*)(-?\d{16,})(?=\s*[,\]\}])/g, (all, pre, num) =>
    (Number.isSafeInteger(Number(num)) && BigInt(Number(num)) === BigInt(num) ? all : `${pre}"__big:${num}"`));
  return JSON.parse(marked, (k, v) => (typeof v === 'string' && v.startsWith('__big:') ? BigInt(v.slice(6)) : v));
}
const isInt = (v) => (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
const isStr = (v) => typeof v === 'string';
const same = (a, b) => BigInt(a) === BigInt(b);

function checkType(t, where, ids) {
  if (isStr(t)) {
    const ok = /^(boolean|int|long|float|double|date|time|timestamp|timestamptz|timestamp_ns|timestamptz_ns|string|uuid|binary|variant|unknown)$/.test(t) ||
      /^decimal\(\s*\d+\s*,\s*\d+\s*\)$/.test(t) || /^fixed\[\d+\]$/.test(t);
    if (!ok) bad(`${where}: unknown primitive type ${JSON.stringify(t)}`);
    return;
  }
  if (!t || typeof t !== 'object') return bad(`${where}: type must be a string or object`);
  if (t.type === 'struct') {
    if (!Array.isArray(t.fields)) return bad(`${where}: struct without fields`);
    for (const f of t.fields) {
      if (!isInt(f.id) || !isStr(f.name) || typeof f.required !== 'boolean') bad(`${where}: field needs id, name, required`);
      ids.push(Number(f.id));
      checkType(f.type, `${where}.${f.name}`, ids);
    }
  } else if (t.type === 'list') {
    if (!isInt(t['element-id']) || typeof t['element-required'] !== 'boolean') bad(`${where}: list needs element-id, element-required`);
    ids.push(Number(t['element-id']));
    checkType(t.element, `${where}[]`, ids);
  } else if (t.type === 'map') {
    if (!isInt(t['key-id']) || !isInt(t['value-id']) || typeof t['value-required'] !== 'boolean') bad(`${where}: map needs key-id, value-id, value-required`);
    ids.push(Number(t['key-id']), Number(t['value-id']));
    checkType(t.key, `${where}.key`, ids);
    checkType(t.value, `${where}.value`, ids);
  } else bad(`${where}: unknown nested type ${t.type}`);
}

function checkMeta(m, file) {
  const w = (s) => `${file}: ${s}`;
  const req = { 'format-version': isInt, 'table-uuid': isStr, location: isStr, 'last-sequence-number': isInt,
    'last-updated-ms': isInt, 'last-column-id': isInt, schemas: Array.isArray, 'current-schema-id': isInt,
    'partition-specs': Array.isArray, 'default-spec-id': isInt, 'last-partition-id': isInt,
    'sort-orders': Array.isArray, 'default-sort-order-id': isInt };
  for (const [k, f] of Object.entries(req)) if (!(k in m) || !f(m[k])) bad(w(`required v2 field ${k} missing or mistyped`));
  if (Number(m['format-version']) !== 2) bad(w(`format-version ${m['format-version']} != 2`));
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(m['table-uuid'] || '')) bad(w('table-uuid is not a v4 UUID'));
  if ('schema' in m || 'partition-spec' in m) bad(w('v1-only field schema/partition-spec present'));
  if (kiln && !String(m.location).startsWith('file:///')) bad(w(`location ${m.location} is not a file:/// URI`));
  // schemas
  const schemaIds = new Set();
  let maxId = 0;
  for (const s of m.schemas || []) {
    if (s.type !== 'struct' || !isInt(s['schema-id'])) bad(w('schema needs type struct and schema-id'));
    if (schemaIds.has(s['schema-id'])) bad(w(`duplicate schema-id ${s['schema-id']}`));
    schemaIds.add(s['schema-id']);
    const ids = [];
    checkType(s, `schema ${s['schema-id']}`, ids);
    if (new Set(ids).size !== ids.length) bad(w(`schema ${s['schema-id']} reuses a field id`));
    maxId = Math.max(maxId, ...ids, 0);
  }
  if (!schemaIds.has(m['current-schema-id'])) bad(w('current-schema-id names no schema'));
  if (maxId > Number(m['last-column-id'])) bad(w(`last-column-id ${m['last-column-id']} < field id ${maxId}`));
  // specs
  const specIds = new Set();
  let maxPart = 999;
  for (const s of m['partition-specs'] || []) {
    specIds.add(s['spec-id']);
    for (const f of s.fields || []) {
      for (const k of ['source-id', 'field-id']) if (!isInt(f[k])) bad(w(`partition field needs ${k}`));
      if (!isStr(f.name) || !isStr(f.transform)) bad(w('partition field needs name and transform'));
      if (!/^(identity|year|month|day|hour|void|bucket\[\d+\]|truncate\[\d+\])$/.test(f.transform)) bad(w(`unknown transform ${f.transform}`));
      if (Number(f['field-id']) < 1000) bad(w(`partition field id ${f['field-id']} < 1000`));
      maxPart = Math.max(maxPart, Number(f['field-id']));
    }
  }
  if (!specIds.has(m['default-spec-id'])) bad(w('default-spec-id names no spec'));
  if (maxPart > Number(m['last-partition-id'])) bad(w('last-partition-id below a partition field id'));
  if (!(m['sort-orders'] || []).some((o) => o['order-id'] === m['default-sort-order-id'])) bad(w('default-sort-order-id names no sort order'));
  for (const o of m['sort-orders'] || []) for (const f of o.fields || []) {
    if (!['asc', 'desc'].includes(f.direction) || !['nulls-first', 'nulls-last'].includes(f['null-order'])) bad(w('bad sort field'));
  }
  // snapshots
  const snaps = new Map();
  for (const s of m.snapshots || []) {
    for (const k of ['snapshot-id', 'sequence-number', 'timestamp-ms']) if (!isInt(s[k])) bad(w(`snapshot needs integer ${k}`));
    if (!isStr(s['manifest-list'])) bad(w('snapshot needs manifest-list'));
    if (!s.summary || !isStr(s.summary.operation)) bad(w('snapshot summary needs operation'));
    else if (!['append', 'replace', 'overwrite', 'delete'].includes(s.summary.operation)) bad(w(`unknown operation ${s.summary.operation}`));
    for (const v of Object.values(s.summary || {})) if (!isStr(v)) bad(w('summary values must be strings'));
    if (BigInt(s['snapshot-id']) <= 0n) bad(w('snapshot id must be positive'));
    if (kiln && !Number.isSafeInteger(s['snapshot-id'])) bad(w(`snapshot id ${s['snapshot-id']} is not below 2^53`));
    if (BigInt(s['sequence-number']) > BigInt(m['last-sequence-number'])) bad(w('snapshot sequence number above last-sequence-number'));
    if (snaps.has(String(s['snapshot-id']))) bad(w(`duplicate snapshot ${s['snapshot-id']}`));
    snaps.set(String(s['snapshot-id']), s);
  }
  for (const s of snaps.values()) {
    const p = s['parent-snapshot-id'];
    if (p !== undefined && p !== null && snaps.has(String(p)) &&
        BigInt(snaps.get(String(p))['sequence-number']) >= BigInt(s['sequence-number'])) bad(w(`snapshot ${s['snapshot-id']} does not have a higher sequence number than its parent`));
  }
  // refs
  const refs = m.refs || {};
  for (const [name, r] of Object.entries(refs)) {
    if (!['branch', 'tag'].includes(r.type)) bad(w(`ref ${name}: bad type`));
    if (!snaps.has(String(r['snapshot-id']))) bad(w(`ref ${name} points at missing snapshot ${r['snapshot-id']}`));
    if (r.type === 'tag' && ('min-snapshots-to-keep' in r || 'max-snapshot-age-ms' in r)) bad(w(`tag ${name} has branch retention fields`));
  }
  const cur = m['current-snapshot-id'];
  const hasCur = cur !== undefined && cur !== null && BigInt(cur) !== -1n;
  if (hasCur && (!refs.main || !same(refs.main['snapshot-id'], cur))) bad(w('current-snapshot-id differs from refs.main'));
  if (!hasCur && refs.main) bad(w('refs.main without current-snapshot-id'));
  if (hasCur && !snaps.has(String(cur))) bad(w('current snapshot missing'));
  // logs
  let last = -1n;
  for (const e of m['snapshot-log'] || []) {
    if (!isInt(e['timestamp-ms']) || !isInt(e['snapshot-id'])) bad(w('bad snapshot-log entry'));
    if (BigInt(e['timestamp-ms']) < last) bad(w('snapshot-log not in time order'));
    last = BigInt(e['timestamp-ms']);
    if (!snaps.has(String(e['snapshot-id']))) bad(w(`snapshot-log names missing snapshot ${e['snapshot-id']}`));
  }
  for (const e of m['metadata-log'] || []) if (!isInt(e['timestamp-ms']) || !isStr(e['metadata-file'])) bad(w('bad metadata-log entry'));
  return snaps;
}

const mdir = path.join(dir, 'metadata');
const hintFile = path.join(mdir, 'version-hint.text');
const hintText = fs.readFileSync(hintFile, 'utf8');
if (!/^\d+$/.test(hintText)) bad(`version-hint.text is ${JSON.stringify(hintText)}, expected a bare number without newline`);
const hint = Number(hintText);
let uuid = null, prev = null, lastMeta = null, snaps = null;
for (let v = 1; v <= hint; v++) {
  const f = path.join(mdir, `v${v}.metadata.json`);
  if (!fs.existsSync(f)) { bad(`missing ${f}`); continue; }
  const m = parseExact(fs.readFileSync(f, 'utf8'));
  snaps = checkMeta(m, `v${v}`);
  if (uuid && m['table-uuid'] !== uuid) bad(`v${v}: table-uuid changed`);
  uuid = m['table-uuid'];
  if (prev) {
    if (BigInt(m['last-sequence-number']) < BigInt(prev['last-sequence-number'])) bad(`v${v}: last-sequence-number went down`);
    if (BigInt(m['last-updated-ms']) < BigInt(prev['last-updated-ms'])) bad(`v${v}: last-updated-ms went back`);
    const log = m['metadata-log'] || [];
    const tail = log[log.length - 1];
    if (kiln && (!tail || !tail['metadata-file'].endsWith(`/metadata/v${v - 1}.metadata.json`))) bad(`v${v}: metadata-log does not end with v${v - 1}`);
    if (kiln && tail && !tail['metadata-file'].startsWith('file:///')) bad(`v${v}: metadata-log entry is not a file:/// URI`);
  }
  prev = m;
  lastMeta = m;
}
if (fs.existsSync(path.join(mdir, `v${hint + 1}.metadata.json`))) bad(`version-hint.text (${hint}) is behind v${hint + 1}`);
if (expectSnapshots !== null && lastMeta && (lastMeta.snapshots || []).length !== expectSnapshots) bad(`expected ${expectSnapshots} snapshots, found ${(lastMeta.snapshots || []).length}`);

// icebird reads the same table through fetch: shim file:// URLs.
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init) => {
  const u = String(url);
  if (!u.startsWith('file://')) return realFetch(url, init);
  try {
    const body = fs.readFileSync(fileURLToPath(u));
    return new Response(body, { status: 200 });
  } catch {
    return new Response('not found', { status: 404, statusText: 'Not Found' });
  }
};
const tableUrl = 'file://' + path.resolve(dir);
const ver = await icebergLatestVersion({ tableUrl });
if (ver !== `v${hint}`) bad(`icebird chose ${ver}, expected v${hint}`);
const im = await icebergMetadata({ tableUrl });
if (lastMeta && im['table-uuid'] !== lastMeta['table-uuid']) bad('icebird saw another table-uuid');
// icebird parses with JSON.parse: ids above 2^53 (other engines') come back
// rounded, so compare as doubles there; kiln's ids must match exactly.
if (lastMeta) {
  const want = lastMeta['current-snapshot-id'];
  const got = im['current-snapshot-id'];
  const okCur = kiln ? String(got) === String(want) : Number(got) === Number(want);
  if (!okCur) bad(`icebird current snapshot ${got} != ${want}`);
}

if (problems.length) {
  for (const p of problems) console.error('lakemeta_validate: ' + p);
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, versions: hint, snapshots: (lastMeta.snapshots || []).length,
  current: String(lastMeta['current-snapshot-id']), icebird_version: ver }));
