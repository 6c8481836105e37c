// serve_rest_spec.mjs KILN_BIN TMPDIR - kiln's Iceberg REST catalog checked
// against the published specification itself (tests/data/iceberg-rest:
// apache/iceberg open-api/rest-catalog-open-api.yaml as JSON). For every
// call: the request body we send validates against the operation's request
// schema, the status kiln answers is one the operation declares, and the
// body validates (ajv, JSON Schema 2020-12, as OpenAPI 3.1 uses) against
// the response schema declared for that status. Also: every endpoint kiln
// advertises in /v1/config exists in the specification, and a table with
// snapshots written by kiln itself loads as a valid TableMetadata.
import Ajv2020 from 'ajv/dist/2020.js';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp, root] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(`${root}/tests/data/iceberg-rest/rest-catalog-open-api.json`, 'utf8'));
const ID = 'https://kiln.test/rest-catalog-open-api.json';
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema({ $id: ID, components: { schemas: spec.components.schemas } });
const compiled = new Map();
function validator(schema) {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) {
    // schemas point into the spec with '#/components/schemas/X': resolve them in the spec's document
    const fix = o => Array.isArray(o) ? o.map(fix) : o && typeof o === 'object' ? Object.fromEntries(Object.entries(o)
      .map(([k, v]) => [k, k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? ID + v : fix(v)])) : o;
    compiled.set(key, ajv.compile(fix(schema)));
  }
  return compiled.get(key);
}
const deref = o => (o && o.$ref ? o.$ref.split('/').slice(1).reduce((a, k) => a[k], spec) : o);

const wh = `${tmp}/wh`;
mkdirSync(wh);
const token = 'spec-' + Math.random().toString(36).slice(2);
writeFileSync(`${tmp}/token`, token);
const srv = await startServer(bin, ['--warehouse', wh, '--token-file', `${tmp}/token`]);
const H = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
const seen = new Set();

// one call: TEMPLATE is the spec's path ({prefix} dropped, as kiln advertises no prefix)
async function call(method, template, path, body, { headers = H, want } = {}) {
  const op = spec.paths[template] && spec.paths[template][method.toLowerCase()];
  check(op, `${method} ${template} is not in the specification`);
  if (body !== undefined) {
    const rb = deref(op.requestBody);
    const rs = rb && rb.content && rb.content['application/json'] && rb.content['application/json'].schema;
    check(rs, `${method} ${template}: the spec has no JSON request body`);
    const v = validator(rs);
    check(v(body), `our request to ${method} ${template} does not match the spec: ${ajv.errorsText(v.errors)}`);
  }
  const r = await fetch(srv.url + path.replace('/v1/{prefix}', '/v1'), { method, headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  const st = String(r.status);
  if (want !== undefined) check(r.status === want, `${method} ${path}: status ${r.status}, want ${want}: ${text}`);
  const resp = deref(op.responses[st] || op.responses[st[0] + 'XX']);
  check(resp, `${method} ${template}: kiln answered ${st}, which the spec does not declare (${Object.keys(op.responses)})`);
  const rs = resp.content && resp.content['application/json'] && resp.content['application/json'].schema;
  if (!rs) {
    check(text === '' || method === 'HEAD', `${method} ${template} ${st}: the spec declares no body, kiln sent ${text}`);
  } else {
    const j = JSON.parse(text);
    const v = validator(rs);
    // the view operations' error responses name ErrorModel as their schema while the spec's own examples
    // for them (ViewAlreadyExistsError, ...) are IcebergErrorResponse {"error": ErrorModel}, the one shape
    // every other operation and Iceberg's clients use: kiln answers that shape and its "error" is checked
    const body = rs.$ref === '#/components/schemas/ErrorModel' && j.error ? j.error : j;
    check(v(body), `${method} ${template} ${st}: answer does not match the spec: ${ajv.errorsText(v.errors)}\n${text.slice(0, 400)}`);
  }
  seen.add(`${method} ${template} ${st}`);
  return text ? JSON.parse(text) : null;
}

try {
  const P = '/v1/{prefix}';
  // the validator itself rejects wrong shapes (so a pass below means something)
  const lt = validator({ $ref: '#/components/schemas/LoadTableResult' });
  check(!lt({}) && !lt({ metadata: { 'format-version': 2, 'table-uuid': 7 } }) &&
    !validator({ $ref: '#/components/schemas/CatalogConfig' })({ defaults: 1, overrides: {} }), 'validator self-check');
  const cfg = await call('GET', '/v1/config', '/v1/config', undefined, { want: 200 });
  // every advertised endpoint is a path and method of the spec
  for (const e of cfg.endpoints) {
    const [m, p] = e.split(' ');
    check(spec.paths[p] && spec.paths[p][m.toLowerCase()], `advertised endpoint ${e} is not in the specification`);
  }
  const nsBody = { namespace: ['spec'], properties: { owner: 'kiln' } };
  await call('POST', `${P}/namespaces`, `${P}/namespaces`, nsBody, { want: 200 });
  await call('POST', `${P}/namespaces`, `${P}/namespaces`, nsBody, { want: 409 });
  await call('POST', `${P}/namespaces`, `${P}/namespaces`, { namespace: ['nope'] }, { headers: {}, want: 401 });
  await call('GET', `${P}/namespaces`, `${P}/namespaces`, undefined, { want: 200 });
  await call('GET', `${P}/namespaces/{namespace}`, `${P}/namespaces/spec`, undefined, { want: 200 });
  await call('GET', `${P}/namespaces/{namespace}`, `${P}/namespaces/missing`, undefined, { want: 404 });
  await call('HEAD', `${P}/namespaces/{namespace}`, `${P}/namespaces/spec`, undefined, { want: 204 });
  await call('POST', `${P}/namespaces/{namespace}/properties`, `${P}/namespaces/spec/properties`,
    { removals: ['absent'], updates: { team: 'data' } }, { want: 200 });
  await call('POST', `${P}/namespaces/{namespace}/properties`, `${P}/namespaces/spec/properties`,
    { removals: ['team'], updates: { team: 'x' } }, { want: 422 });
  const schema = { type: 'struct', 'schema-id': 0, fields: [
    { id: 1, name: 'id', type: 'long', required: true }, { id: 2, name: 'at', type: 'date', required: false }] };
  const create = { name: 't', schema, 'partition-spec': { 'spec-id': 0, fields: [
    { 'source-id': 2, 'field-id': 1000, name: 'at_month', transform: 'month' }] }, properties: { a: 'b' } };
  const created = await call('POST', `${P}/namespaces/{namespace}/tables`, `${P}/namespaces/spec/tables`, create, { want: 200 });
  await call('POST', `${P}/namespaces/{namespace}/tables`, `${P}/namespaces/spec/tables`, create, { want: 409 });
  await call('POST', `${P}/namespaces/{namespace}/tables`, `${P}/namespaces/missing/tables`, create, { want: 404 });
  await call('GET', `${P}/namespaces/{namespace}/tables`, `${P}/namespaces/spec/tables`, undefined, { want: 200 });
  await call('HEAD', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/t`, undefined, { want: 204 });
  await call('GET', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/nope`, undefined, { want: 404 });
  // snapshots written by kiln: the loaded metadata (snapshots, refs, logs, summaries) is a valid TableMetadata
  await run(bin, ['sql', '--warehouse', wh, '-c', "INSERT INTO spec.t VALUES (1, '2024-01-05'), (2, '2024-02-01')"]);
  await run(bin, ['table', 'tag', 'spec.t', 'v1', '--warehouse', wh]);
  await run(bin, ['table', 'delete', 'spec.t', '--where', 'id = 1', '--warehouse', wh]);
  const loaded = await call('GET', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/t`,
    undefined, { want: 200 });
  check(loaded.metadata.snapshots.length >= 2 && loaded.metadata.refs.v1.type === 'tag', 'kiln snapshots and refs loaded');
  const uuid = created.metadata['table-uuid'];
  const sid = loaded.metadata['current-snapshot-id'];
  const commit = { requirements: [{ type: 'assert-table-uuid', uuid }, { type: 'assert-ref-snapshot-id', ref: 'main',
    'snapshot-id': sid }], updates: [{ action: 'set-properties', updates: { k: 'v' } },
    { action: 'remove-properties', removals: ['a'] },
    { action: 'set-snapshot-ref', 'ref-name': 'audit', type: 'branch', 'snapshot-id': sid }] };
  const c = await call('POST', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/t`, commit, { want: 200 });
  check(c.metadata.properties.k === 'v' && !('a' in c.metadata.properties) && c.metadata.refs.audit['snapshot-id'] === sid,
    'commit applied');
  // the same requirements again: main has not moved, but the stale snapshot check on a moved ref fails
  await call('POST', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/t`,
    { requirements: [{ type: 'assert-ref-snapshot-id', ref: 'audit', 'snapshot-id': null }], updates: [] }, { want: 409 });
  await call('POST', `${P}/namespaces/{namespace}/tables/{table}/metrics`, `${P}/namespaces/spec/tables/t/metrics`,
    { 'report-type': 'commit-report', 'table-name': 'spec.t', 'snapshot-id': sid, 'sequence-number': 1, operation: 'append',
      metrics: {} }, { want: 204 });
  await call('POST', `${P}/namespaces/{namespace}/tables`, `${P}/namespaces/spec/tables`, { name: 'u', schema }, { want: 200 });
  const tx = { 'table-changes': [
    { identifier: { namespace: ['spec'], name: 't' }, requirements: [{ type: 'assert-table-uuid', uuid }],
      updates: [{ action: 'set-properties', updates: { txn: '1' } }] },
    { identifier: { namespace: ['spec'], name: 'u' }, requirements: [], updates: [{ action: 'set-properties', updates: { txn: '1' } }] }] };
  await call('POST', `${P}/transactions/commit`, `${P}/transactions/commit`, tx, { want: 204 });
  tx['table-changes'][0].requirements = [{ type: 'assert-table-uuid', uuid: '00000000-0000-4000-8000-000000000000' }];
  await call('POST', `${P}/transactions/commit`, `${P}/transactions/commit`, tx, { want: 409 });
  // a failed requirement on a later table: 409 and the earlier table is untouched (all are checked before any commit)
  const tx2 = { 'table-changes': [
    { identifier: { namespace: ['spec'], name: 't' }, requirements: [{ type: 'assert-table-uuid', uuid }],
      updates: [{ action: 'set-properties', updates: { txn2: '1' } }] },
    { identifier: { namespace: ['spec'], name: 'u' }, requirements: [{ type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': 42 }],
      updates: [{ action: 'set-properties', updates: { txn2: '1' } }] }] };
  const before = await call('GET', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/t`, undefined, { want: 200 });
  await call('POST', `${P}/transactions/commit`, `${P}/transactions/commit`, tx2, { want: 409 });
  const after = await call('GET', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/t`, undefined, { want: 200 });
  check(after['metadata-location'] === before['metadata-location'] && !('txn2' in after.metadata.properties),
    'a later table\'s failed requirement leaves the earlier table unchanged');
  // an update that cannot apply to a later table (unknown schema id): 400 before anything is written
  tx2['table-changes'][1].requirements = [];
  tx2['table-changes'][1].updates = [{ action: 'set-current-schema', 'schema-id': 77 }];
  await call('POST', `${P}/transactions/commit`, `${P}/transactions/commit`, tx2, { want: 400 });
  check((await call('GET', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/t`, undefined,
    { want: 200 }))['metadata-location'] === before['metadata-location'], 'nothing committed by the 400');
  await call('POST', `${P}/tables/rename`, `${P}/tables/rename`,
    { source: { namespace: ['spec'], name: 'u' }, destination: { namespace: ['spec'], name: 'w' } }, { want: 204 });
  await call('POST', `${P}/tables/rename`, `${P}/tables/rename`,
    { source: { namespace: ['spec'], name: 'u' }, destination: { namespace: ['spec'], name: 'x' } }, { want: 404 });
  // a create transaction (Spark's CTAS): stage-create, then a commit with assert-create
  const sc = await call('POST', `${P}/namespaces/{namespace}/tables`, `${P}/namespaces/spec/tables`,
    { ...create, name: 'staged', 'write-order': { 'order-id': 1, fields: [{ 'source-id': 1, transform: 'identity',
      direction: 'desc', 'null-order': 'nulls-last' }] }, 'stage-create': true }, { want: 200 });
  check(!sc['metadata-location'] && sc.metadata.snapshots.length === 0, 'staged: no metadata-location');
  await call('GET', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/staged`, undefined, { want: 404 });
  await call('POST', `${P}/namespaces/{namespace}/tables`, `${P}/namespaces/spec/tables`,
    { ...create, 'stage-create': true }, { want: 409 });
  const sm = sc.metadata;
  const createTx = { requirements: [{ type: 'assert-create' }], updates: [
    { action: 'assign-uuid', uuid: sm['table-uuid'] }, { action: 'upgrade-format-version', 'format-version': 2 },
    { action: 'add-schema', schema: sm.schemas[0], 'last-column-id': sm['last-column-id'] },
    { action: 'set-current-schema', 'schema-id': -1 }, { action: 'add-spec', spec: sm['partition-specs'][0] },
    { action: 'set-default-spec', 'spec-id': -1 }, { action: 'add-sort-order', 'sort-order': sm['sort-orders'][0] },
    { action: 'set-default-sort-order', 'sort-order-id': -1 }, { action: 'set-location', location: sm.location },
    { action: 'set-properties', updates: sm.properties }] };
  const cc = await call('POST', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/staged`,
    createTx, { want: 200 });
  check(cc.metadata['table-uuid'] === sm['table-uuid'] && cc.metadata['default-sort-order-id'] === 1, 'created from the staged metadata');
  await call('POST', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/staged`, createTx, { want: 409 });
  // views: create, load, list, commit (a new version with a new schema, properties), races, rename, drop
  const V = `${P}/namespaces/{namespace}/views`, VV = `${V}/{view}`;
  const vschema = { type: 'struct', 'schema-id': 0, fields: [{ id: 1, name: 'id', type: 'long', required: false }] };
  const vver = (sql) => ({ 'version-id': 1, 'timestamp-ms': Date.now(), 'schema-id': 0, summary: { engine: 'test' },
    representations: [{ type: 'sql', sql, dialect: 'spark' }], 'default-namespace': ['spec'] });
  const cv = await call('POST', V, `${P}/namespaces/spec/views`, { name: 'v', schema: vschema,
    'view-version': vver('SELECT id FROM spec.t'), properties: { owner: 'spec' } }, { want: 200 });
  check(cv.metadata['current-version-id'] === 1 && cv.metadata.versions.length === 1 && cv.metadata.properties.owner === 'spec' &&
    cv['metadata-location'].includes('/spec/.views/v/metadata/'), `created view: ${JSON.stringify(cv).slice(0, 300)}`);
  await call('POST', V, `${P}/namespaces/spec/views`, { name: 'v', schema: vschema, 'view-version': vver('SELECT 1'), properties: {} }, { want: 409 });
  await call('POST', V, `${P}/namespaces/spec/views`, { name: 't', schema: vschema, 'view-version': vver('SELECT 1'), properties: {} }, { want: 409 });
  await call('POST', `${P}/namespaces/{namespace}/tables`, `${P}/namespaces/spec/tables`, { ...create, name: 'v' }, { want: 409 });
  await call('POST', V, `${P}/namespaces/missing/views`, { name: 'v', schema: vschema, 'view-version': vver('SELECT 1'), properties: {} }, { want: 404 });
  const lv = await call('GET', VV, `${P}/namespaces/spec/views/v`, undefined, { want: 200 });
  check(lv['metadata-location'] === cv['metadata-location'], 'load view');
  await call('GET', VV, `${P}/namespaces/spec/views/nope`, undefined, { want: 404 });
  await call('HEAD', VV, `${P}/namespaces/spec/views/v`, undefined, { want: 204 });
  const vl = await call('GET', V, `${P}/namespaces/spec/views`, undefined, { want: 200 });
  check(vl.identifiers.map(i => i.name).join() === 'v', `list views: ${JSON.stringify(vl)}`);
  const vuuid = cv.metadata['view-uuid'];
  const replace = (sql, prop) => ({ requirements: [{ type: 'assert-view-uuid', uuid: vuuid }], updates: [
    { action: 'add-schema', schema: { ...vschema, fields: [...vschema.fields, { id: 2, name: 'n', type: 'string', required: false }] }, 'last-column-id': 2 },
    { action: 'add-view-version', 'view-version': { ...vver(sql), 'version-id': 2, 'schema-id': -1 } },
    { action: 'set-current-view-version', 'view-version-id': -1 }, { action: 'set-properties', updates: { [prop]: 'y' } }] });
  const c2 = await call('POST', VV, `${P}/namespaces/spec/views/v`, replace('SELECT id, name AS n FROM spec.t', 'p0'), { want: 200 });
  const cur2 = c2.metadata.versions.find(x => x['version-id'] === c2.metadata['current-version-id']);
  check(c2.metadata.versions.length === 2 && cur2['schema-id'] === 1 && cur2.representations[0].sql.includes('AS n') &&
    c2.metadata.schemas.length === 2 && c2.metadata['version-log'].length === 2 && c2['metadata-location'] !== cv['metadata-location'],
  `replaced view: ${JSON.stringify(c2.metadata).slice(0, 400)}`);
  // concurrent commits: none lost
  const rs = await Promise.all([1, 2, 3, 4].map(k => fetch(srv.url + `/v1/namespaces/spec/views/v`, { method: 'POST', headers: H,
    body: JSON.stringify({ requirements: [], updates: [{ action: 'set-properties', updates: { [`k${k}`]: 'y' } }] }) })));
  check(rs.every(r => r.status === 200), `concurrent view commits: ${rs.map(r => r.status)}`);
  const lv2 = await call('GET', VV, `${P}/namespaces/spec/views/v`, undefined, { want: 200 });
  check(['p0', 'k1', 'k2', 'k3', 'k4'].every(k => lv2.metadata.properties[k] === 'y'), `lost view updates: ${JSON.stringify(lv2.metadata.properties)}`);
  await call('POST', VV, `${P}/namespaces/spec/views/v`, { requirements: [{ type: 'assert-view-uuid',
    uuid: '00000000-0000-4000-8000-000000000000' }], updates: [] }, { want: 409 });
  await call('POST', VV, `${P}/namespaces/spec/views/v`, { updates: [{ action: 'set-current-view-version', 'view-version-id': 9 }] }, { want: 400 });
  await call('POST', `${P}/views/rename`, `${P}/views/rename`,
    { source: { namespace: ['spec'], name: 'v' }, destination: { namespace: ['spec'], name: 'v2' } }, { want: 204 });
  await call('POST', `${P}/views/rename`, `${P}/views/rename`,
    { source: { namespace: ['spec'], name: 'v' }, destination: { namespace: ['spec'], name: 'v3' } }, { want: 404 });
  check((await call('GET', VV, `${P}/namespaces/spec/views/v2`, undefined, { want: 200 })).metadata.properties.k1 === 'y', 'renamed view');
  await call('DELETE', `${P}/namespaces/{namespace}`, `${P}/namespaces/spec`, undefined, { want: 409 });
  await call('DELETE', VV, `${P}/namespaces/spec/views/v2`, undefined, { want: 204 });
  await call('DELETE', VV, `${P}/namespaces/spec/views/v2`, undefined, { want: 404 });
  await call('DELETE', `${P}/namespaces/{namespace}`, `${P}/namespaces/spec`, undefined, { want: 409 });
  for (const t of ['t', 'w', 'staged'])
    await call('DELETE', `${P}/namespaces/{namespace}/tables/{table}`, `${P}/namespaces/spec/tables/${t}`, undefined, { want: 204 });
  await call('DELETE', `${P}/namespaces/{namespace}`, `${P}/namespaces/spec`, undefined, { want: 204 });
  check((await srv.stop('SIGTERM')).code === 0, 'clean stop');
  console.log(`serve_rest_spec: ok (${seen.size} operation/status pairs validated against the spec)`);
} catch (e) {
  console.error('serve_rest_spec: FAIL:', e.message);
  console.error(srv.stderr().split('\n').filter(l => !l.includes(' access ')).slice(-6).join('\n'));
  process.exit(1); // the server's pipes would keep node alive; serve_common kills it on exit
}
