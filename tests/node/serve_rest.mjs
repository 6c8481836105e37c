// serve_rest.mjs KILN_BIN TMPDIR - kiln's Iceberg REST catalog against an
// independent client (iceberg-js) and the request/response shapes of the
// published spec (apache/iceberg open-api/rest-catalog-open-api.yaml),
// replayed with plain fetch where iceberg-js has no call for them
// (namespace properties, rename, transactions/commit, error bodies).
// Then: concurrent commits from kiln (`kiln sql` INSERTs) and the REST
// client lose no update, and a table created over REST is readable by
// `kiln table describe` and `kiln sql`.
import { IcebergRestCatalog, IcebergError } from 'iceberg-js';
import { writeFileSync, mkdirSync } from 'node:fs';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp] = process.argv.slice(2);
const wh = `${tmp}/wh`;
const token = 'tok-' + Math.random().toString(36).slice(2);
writeFileSync(`${tmp}/token`, token + '\n');
mkdirSync(wh); // kiln serve never creates a missing warehouse: an empty one is made by hand
const srv = await startServer(bin, ['--warehouse', wh, '--token-file', `${tmp}/token`]);
const url = srv.url;
const cat = new IcebergRestCatalog({ baseUrl: url, auth: { type: 'bearer', token } });
const anon = new IcebergRestCatalog({ baseUrl: url });
const H = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };

async function raw(method, path, body, headers = H) {
  const r = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null, type: r.headers.get('content-type') };
}
// IcebergErrorResponse: {"error": ErrorModel{message, type, code}} with code = HTTP status
function isErrorModel(res, status, type) {
  const e = res.body && res.body.error;
  return res.status === status && e && typeof e.message === 'string' && e.message.length > 0 &&
    e.type === type && e.code === status;
}
async function rejects(p, status, type) {
  try { await p; } catch (e) {
    check(e instanceof IcebergError, `expected IcebergError, got ${e}`);
    check(e.status === status, `expected HTTP ${status}, got ${e.status} (${e.message})`);
    if (type) check(e.icebergType === type, `expected ${type}, got ${e.icebergType}`);
    return e;
  }
  throw new Error(`expected a ${status} error`);
}
const sql = async (q) => (await run(bin, ['sql', '--warehouse', wh, '--csv', '-c', q])).stdout;

try {
  // --- config
  const cfg = await raw('GET', '/v1/config');
  check(cfg.status === 200 && typeof cfg.body.defaults === 'object' && typeof cfg.body.overrides === 'object',
    'config: defaults and overrides objects');
  check(cfg.body.endpoints.includes('POST /v1/{prefix}/transactions/commit'), 'config: endpoints list');

  // --- auth: reads are open on loopback, writes need the token
  await rejects(anon.createNamespace({ namespace: ['nope'] }), 401, 'NotAuthorizedException');
  const wrong = new IcebergRestCatalog({ baseUrl: url, auth: { type: 'bearer', token: token + 'x' } });
  await rejects(wrong.createNamespace({ namespace: ['nope'] }), 401, 'NotAuthorizedException');
  check((await anon.listNamespaces()).length === 0, 'no namespaces yet, and none created without a token');

  // --- namespaces
  const created = await cat.createNamespace({ namespace: ['rest'] }, { properties: { owner: 'alice', tier: 'gold' } });
  check(JSON.stringify(created.namespace) === '["rest"]' && created.properties.owner === 'alice', 'createNamespace');
  await rejects(cat.createNamespace({ namespace: ['rest'] }), 409, 'AlreadyExistsException');
  check((await cat.loadNamespaceMetadata({ namespace: ['rest'] })).properties.tier === 'gold', 'loadNamespaceMetadata');
  check(await cat.namespaceExists({ namespace: ['rest'] }), 'namespaceExists');
  check(!(await cat.namespaceExists({ namespace: ['missing'] })), 'namespaceExists(missing)');
  const ns = await cat.listNamespaces();
  check(ns.length === 1 && ns[0].namespace[0] === 'rest', `listNamespaces: ${JSON.stringify(ns)}`);
  check(isErrorModel(await raw('GET', '/v1/namespaces/missing'), 404, 'NoSuchNamespaceException'), 'missing ns 404');
  check(isErrorModel(await raw('GET', '/v1/namespaces/a%1Fb'), 400, 'BadRequestException'), 'multi-level ns 400');
  const props = await raw('POST', '/v1/namespaces/rest/properties',
    { removals: ['tier', 'absent'], updates: { owner: 'bob', team: 'data' } });
  check(props.status === 200, `properties: ${JSON.stringify(props.body)}`);
  check(JSON.stringify(props.body.removed) === '["tier"]' && JSON.stringify(props.body.missing) === '["absent"]' &&
    props.body.updated.sort().join() === 'owner,team', `UpdateNamespacePropertiesResponse: ${JSON.stringify(props.body)}`);
  const nsp = (await cat.loadNamespaceMetadata({ namespace: ['rest'] })).properties;
  check(nsp.owner === 'bob' && nsp.team === 'data' && !('tier' in nsp) && !('exists' in nsp), `ns props ${JSON.stringify(nsp)}`);

  // --- tables
  const schema = { type: 'struct', 'schema-id': 0, fields: [
    { id: 1, name: 'id', type: 'long', required: true },
    { id: 2, name: 'who', type: 'string', required: false },
    { id: 3, name: 'ts', type: 'timestamptz', required: false }] };
  const meta = await cat.createTable({ namespace: ['rest'] }, {
    name: 'events', schema, properties: { 'created-by': 'iceberg-js' },
    'partition-spec': { 'spec-id': 0, fields: [{ 'source-id': 3, 'field-id': 1000, name: 'ts_day', transform: 'day' }] },
  });
  check(meta['format-version'] === 2 && meta.properties['created-by'] === 'iceberg-js', 'createTable metadata');
  const cur = meta.schemas.find(s => s['schema-id'] === meta['current-schema-id']);
  check(cur.fields.map(f => f.name).join() === 'id,who,ts', 'createTable schema');
  const spec = meta['partition-specs'].find(s => s['spec-id'] === meta['default-spec-id']);
  check(spec.fields.length === 1 && spec.fields[0].transform === 'day' && spec.fields[0]['source-id'] === 3,
    `createTable partition spec: ${JSON.stringify(spec)}`);
  await rejects(cat.createTable({ namespace: ['rest'] }, { name: 'events', schema }), 409, 'AlreadyExistsException');
  await rejects(cat.createTable({ namespace: ['missing'] }, { name: 't', schema }), 404, 'NoSuchNamespaceException');
  await cat.createTable({ namespace: ['rest'] }, { name: 'other', schema });
  const tl = (await cat.listTables({ namespace: ['rest'] })).map(t => t.name).sort();
  check(tl.join() === 'events,other', `listTables: ${tl}`);
  check(await cat.tableExists({ namespace: ['rest'], name: 'events' }), 'tableExists');
  check(!(await cat.tableExists({ namespace: ['rest'], name: 'nope' })), 'tableExists(missing)');
  const loaded = await raw('GET', '/v1/namespaces/rest/tables/events');
  check(loaded.status === 200 && loaded.body['metadata-location'].endsWith('.metadata.json') &&
    typeof loaded.body.config === 'object' && loaded.body.metadata['table-uuid'] === meta['table-uuid'],
    'LoadTableResult shape');
  check(isErrorModel(await raw('GET', '/v1/namespaces/rest/tables/nope'), 404, 'NoSuchTableException'), 'missing table');

  // kiln reads what REST created
  const desc = (await run(bin, ['table', 'describe', 'rest.events', '--warehouse', wh])).stdout;
  check(desc.includes(meta['table-uuid']) && /day\(ts\)|ts_day/.test(desc), `kiln table describe:\n${desc}`);

  // --- commits: requirements and updates
  const uuid = meta['table-uuid'];
  const c1 = await cat.updateTable({ namespace: ['rest'], name: 'events' }, {
    requirements: [{ type: 'assert-table-uuid', uuid }, { type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': null }],
    updates: [{ action: 'set-properties', updates: { 'rest.k': 'v1' } }] });
  check(c1.metadata.properties['rest.k'] === 'v1' && c1['metadata-location'] !== loaded.body['metadata-location'],
    'CommitTableResponse');
  await rejects(cat.updateTable({ namespace: ['rest'], name: 'events' }, {
    requirements: [{ type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': 12345 }],
    updates: [{ action: 'set-properties', updates: { 'rest.k': 'lost' } }] }), 409, 'CommitFailedException');
  await rejects(cat.updateTable({ namespace: ['rest'], name: 'events' }, {
    requirements: [{ type: 'assert-current-schema-id', 'current-schema-id': 7 }], updates: [] }), 409, 'CommitFailedException');
  const bad = await raw('POST', '/v1/namespaces/rest/tables/events',
    { requirements: [], updates: [{ action: 'no-such-action' }] });
  check(bad.status === 400 || bad.status === 406, `unknown update action: ${bad.status}`);
  check((await cat.loadTable({ namespace: ['rest'], name: 'events' })).properties['rest.k'] === 'v1',
    'failed commits changed nothing');
  // schema evolution over REST: add a column (add-schema + set-current-schema -1)
  const evolved = await cat.updateTable({ namespace: ['rest'], name: 'events' }, {
    requirements: [{ type: 'assert-current-schema-id', 'current-schema-id': 0 }],
    updates: [{ action: 'add-schema', schema: { ...schema, 'schema-id': 1,
      fields: [...schema.fields, { id: 4, name: 'extra', type: 'int', required: false }] }, 'last-column-id': 4 },
    { action: 'set-current-schema', 'schema-id': -1 }] });
  const es = evolved.metadata.schemas.find(s => s['schema-id'] === evolved.metadata['current-schema-id']);
  check(es.fields.map(f => f.name).join() === 'id,who,ts,extra', 'add-schema via REST');

  // --- multi-table transaction
  const tx = await raw('POST', '/v1/transactions/commit', { 'table-changes': [
    { identifier: { namespace: ['rest'], name: 'events' }, requirements: [{ type: 'assert-table-uuid', uuid }],
      updates: [{ action: 'set-properties', updates: { txn: '1' } }] },
    { identifier: { namespace: ['rest'], name: 'other' }, requirements: [],
      updates: [{ action: 'set-properties', updates: { txn: '1' } }] }] });
  check(tx.status === 204, `transactions/commit: ${tx.status} ${JSON.stringify(tx.body)}`);
  const txf = await raw('POST', '/v1/transactions/commit', { 'table-changes': [
    { identifier: { namespace: ['rest'], name: 'events' },
      requirements: [{ type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': 999 }],
      updates: [{ action: 'set-properties', updates: { txn: '2' } }] },
    { identifier: { namespace: ['rest'], name: 'other' }, requirements: [],
      updates: [{ action: 'set-properties', updates: { txn: '2' } }] }] });
  check(isErrorModel(txf, 409, 'CommitFailedException'), `failed transaction: ${JSON.stringify(txf.body)}`);
  for (const t of ['events', 'other'])
    check((await cat.loadTable({ namespace: ['rest'], name: t })).properties.txn === '1', `txn left ${t} at 1`);
  const txm = await raw('POST', '/v1/transactions/commit', { 'table-changes': [
    { identifier: { namespace: ['rest'], name: 'nope' }, requirements: [], updates: [] }] });
  check(isErrorModel(txm, 404, 'NoSuchTableException'), 'transaction on a missing table');

  // --- rename and drop
  const rn = await raw('POST', '/v1/tables/rename',
    { source: { namespace: ['rest'], name: 'other' }, destination: { namespace: ['rest'], name: 'renamed' } });
  check(rn.status === 204, `rename: ${rn.status} ${JSON.stringify(rn.body)}`);
  check(isErrorModel(await raw('POST', '/v1/tables/rename',
    { source: { namespace: ['rest'], name: 'other' }, destination: { namespace: ['rest'], name: 'x' } }), 404,
  'NoSuchTableException'), 'rename of a missing table');
  check(isErrorModel(await raw('POST', '/v1/tables/rename',
    { source: { namespace: ['rest'], name: 'renamed' }, destination: { namespace: ['rest'], name: 'events' } }), 409,
  'AlreadyExistsException'), 'rename onto an existing table');
  check((await cat.loadTable({ namespace: ['rest'], name: 'renamed' })).properties.txn === '1', 'renamed keeps metadata');
  check(isErrorModel(await raw('DELETE', '/v1/namespaces/rest'), 409, 'NamespaceNotEmptyException'), 'drop non-empty ns');
  await cat.dropTable({ namespace: ['rest'], name: 'renamed' }, { purge: true });
  check(!(await cat.tableExists({ namespace: ['rest'], name: 'renamed' })), 'dropTable');

  // --- concurrent commits: kiln INSERTs race REST property commits; nothing is lost
  const N = 6, M = 12;
  const kilnWriters = Array.from({ length: N }, (_, i) =>
    sql(`INSERT INTO rest.events (id, who) VALUES (${i + 1}, 'kiln-${i}')`));
  const restWriter = async (j) => {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        await cat.updateTable({ namespace: ['rest'], name: 'events' }, {
          requirements: [{ type: 'assert-table-uuid', uuid }],
          updates: [{ action: 'set-properties', updates: { [`rest.c${j}`]: String(j) } }] });
        return attempt;
      } catch (e) {
        if (!(e instanceof IcebergError && e.status === 409)) throw e; // a REST client retries 409
      }
    }
    throw new Error(`REST commit ${j} never succeeded`);
  };
  await Promise.all([...kilnWriters, ...Array.from({ length: M }, (_, j) => restWriter(j))]);
  const fin = await cat.loadTable({ namespace: ['rest'], name: 'events' });
  for (let j = 0; j < M; j++) check(fin.properties[`rest.c${j}`] === String(j), `lost REST update rest.c${j}`);
  check(fin.properties['rest.k'] === 'v1' && fin.properties.txn === '1', 'earlier properties survived');
  check((fin.snapshots || []).length === N, `expected ${N} snapshots from kiln, got ${(fin.snapshots || []).length}`);
  const rows = (await sql('SELECT count(*) AS n, count(DISTINCT who) AS w FROM rest.events')).trim().split('\n').pop();
  check(rows === `${N},${N}`, `kiln sql sees ${rows}, expected ${N},${N}`);

  // metrics counted the commits, conflicts included
  const metrics = await (await fetch(url + '/metrics')).text();
  const ok = +(metrics.match(/^kiln_catalog_commits_total\{result="ok"\} (\d+)$/m) || [])[1];
  const conflict = +(metrics.match(/^kiln_catalog_commits_total\{result="conflict"\} (\d+)$/m) || [])[1];
  check(ok >= 4 + M && conflict >= 3, `commit counters ok=${ok} conflict=${conflict}`);

  const st = await srv.stop('SIGTERM');
  check(st.code === 0, `SIGTERM: clean exit expected, got ${JSON.stringify(st)}`);
  check(!srv.stderr().includes(token), 'the access log must not contain the token');
  check(/access method=POST route=\/v1\/namespaces\/\{namespace\}\/tables\/\{table\} .*status=409/.test(srv.stderr()),
    'access log line for a 409 commit');
  console.log(`serve_rest: ok (${M} REST + ${N} kiln concurrent commits, none lost)`);
} catch (e) {
  console.error('serve_rest: FAIL:', e.message);
  console.error(srv.stderr().split('\n').slice(-15).join('\n'));
  process.exit(1);
}
