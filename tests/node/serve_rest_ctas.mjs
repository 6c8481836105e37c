// serve_rest_ctas.mjs KILN_BIN TMPDIR - Spark's CTAS through kiln's Iceberg
// REST catalog, replayed request by request as Iceberg Java's
// RESTSessionCatalog sends it (createTransaction): 1. POST .../tables with
// "stage-create": true -> LoadTableResult of a table that is not in the
// catalog; 2. the engine writes data files, a manifest and a manifest list
// under the staged location (here: kiln writes them into a scratch table,
// whose first snapshot is replayed); 3. POST .../tables/{t} with
// requirements [assert-create] and the updates assign-uuid,
// upgrade-format-version, add-schema, set-current-schema, add-spec,
// set-default-spec, add-sort-order, set-default-sort-order, set-location,
// set-properties, add-snapshot, set-snapshot-ref -> the table exists in one
// step with its first snapshot, and kiln reads the rows.
import { writeFileSync, mkdirSync } from 'node:fs';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp] = process.argv.slice(2);
const wh = `${tmp}/wh`;
mkdirSync(wh);
const token = 'ctas-' + Math.random().toString(36).slice(2);
writeFileSync(`${tmp}/token`, token);
const srv = await startServer(bin, ['--warehouse', wh, '--token-file', `${tmp}/token`]);
const H = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
async function raw(method, path, body) {
  const r = await fetch(srv.url + path, { method, headers: H, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}
const sql = async (q) => (await run(bin, ['sql', '--warehouse', wh, '--csv', '-c', q])).stdout;

// Iceberg Java's createChanges(meta) for a staged table, then the transaction's own updates
function ctasCommit(meta, snapshot) {
  return { requirements: [{ type: 'assert-create' }], updates: [
    { action: 'assign-uuid', uuid: meta['table-uuid'] },
    { action: 'upgrade-format-version', 'format-version': meta['format-version'] },
    { action: 'add-schema', schema: meta.schemas[0], 'last-column-id': meta['last-column-id'] },
    { action: 'set-current-schema', 'schema-id': -1 },
    { action: 'add-spec', spec: meta['partition-specs'][0] },
    { action: 'set-default-spec', 'spec-id': -1 },
    { action: 'add-sort-order', 'sort-order': meta['sort-orders'][0] },
    { action: 'set-default-sort-order', 'sort-order-id': -1 },
    { action: 'set-location', location: meta.location },
    { action: 'set-properties', updates: meta.properties },
    ...(snapshot ? [{ action: 'add-snapshot', snapshot },
      { action: 'set-snapshot-ref', 'ref-name': 'main', type: 'branch', 'snapshot-id': snapshot['snapshot-id'] }] : [])] };
}

try {
  check((await raw('POST', '/v1/namespaces', { namespace: ['ctas'] })).status === 200, 'namespace');
  const schema = { type: 'struct', 'schema-id': 0, fields: [
    { id: 1, name: 'id', type: 'long', required: false },
    { id: 2, name: 'at', type: 'date', required: false },
    { id: 3, name: 'name', type: 'string', required: false }] };
  const spec = { 'spec-id': 0, fields: [{ 'source-id': 2, 'field-id': 1000, name: 'at_month', transform: 'month' }] };
  const order = { 'order-id': 1, fields: [{ 'source-id': 1, transform: 'identity', direction: 'asc', 'null-order': 'nulls-first' }] };

  // 1. stage-create: metadata of a table that is not in the catalog
  const staged = await raw('POST', '/v1/namespaces/ctas/tables', { name: 't', schema, 'partition-spec': spec,
    'write-order': order, properties: { 'created-by': 'spark-ctas', 'write.format.default': 'parquet' }, 'stage-create': true });
  check(staged.status === 200, `stage-create: ${staged.status} ${JSON.stringify(staged.body)}`);
  const meta = staged.body.metadata;
  check(!('metadata-location' in staged.body) || staged.body['metadata-location'] === null,
    'a staged table has no metadata-location');
  check(meta['format-version'] === 2 && /^[0-9a-f-]{36}$/.test(meta['table-uuid']) &&
    meta.location === `file://${wh}/ctas/t` && meta['current-snapshot-id'] === -1 && meta.snapshots.length === 0,
    `staged metadata: ${JSON.stringify(meta).slice(0, 300)}`);
  check(meta['partition-specs'][0].fields[0].transform === 'month' && meta['sort-orders'].some(o => o['order-id'] === 1) &&
    meta['default-sort-order-id'] === 1 && meta.properties['created-by'] === 'spark-ctas', 'staged spec, order, properties');
  check((await raw('GET', '/v1/namespaces/ctas/tables/t')).status === 404, 'a staged table is not loadable');
  check((await raw('GET', '/v1/namespaces/ctas/tables')).body.identifiers.length === 0, 'nor listed');
  check((await run(bin, ['table', 'list', '--warehouse', wh])).stdout.indexOf('ctas.t') < 0, 'nor seen by kiln');

  // 2. the engine's write: a scratch table written by kiln gives a real data file, manifest and manifest list
  check((await raw('POST', '/v1/namespaces/ctas/tables', { name: 'scratch', schema, 'partition-spec': spec })).status === 200,
    'scratch table');
  await sql("INSERT INTO ctas.scratch VALUES (1, '2024-01-05', 'a'), (2, '2024-02-01', 'b'), (3, NULL, 'c')");
  const snap = (await raw('GET', '/v1/namespaces/ctas/tables/scratch')).body.metadata.snapshots[0];
  check(snap && snap['sequence-number'] === 1 && snap.summary['total-records'] === '3', 'scratch snapshot');

  // a bad commit leaves nothing behind: set-location elsewhere is 400
  const bad = ctasCommit(meta, snap);
  bad.updates.find(u => u.action === 'set-location').location = '/somewhere/else';
  const b = await raw('POST', '/v1/namespaces/ctas/tables/t', bad);
  check(b.status === 400 && b.body.error.type === 'BadRequestException', `bad location: ${JSON.stringify(b.body)}`);
  check((await raw('GET', '/v1/namespaces/ctas/tables/t')).status === 404, 'nothing created by the bad commit');
  // a partition field on a column the schema lacks, or a transform that does not apply: 400, nothing created
  for (const f of [{ 'source-id': 9, 'field-id': 1000, name: 'x', transform: 'identity' },
    { 'source-id': 3, 'field-id': 1000, name: 'x', transform: 'month' }]) {
    const bs = ctasCommit(meta, snap);
    bs.updates.find(u => u.action === 'add-spec').spec = { 'spec-id': 0, fields: [f] };
    const r = await raw('POST', '/v1/namespaces/ctas/tables/t', bs);
    check(r.status === 400 && r.body.error.type === 'BadRequestException', `bad spec ${JSON.stringify(f)}: ${JSON.stringify(r.body)}`);
  }
  check((await raw('GET', '/v1/namespaces/ctas/tables/t')).status === 404, 'nothing created by the bad specs');
  // assert-create with other requirements is refused
  const mixed = ctasCommit(meta, snap);
  mixed.requirements.push({ type: 'assert-table-uuid', uuid: meta['table-uuid'] });
  check((await raw('POST', '/v1/namespaces/ctas/tables/t', mixed)).status === 400, 'assert-create + other requirements');

  // 3. the commit that creates the table with its first snapshot
  const c = await raw('POST', '/v1/namespaces/ctas/tables/t', ctasCommit(meta, snap));
  check(c.status === 200, `create commit: ${c.status} ${JSON.stringify(c.body)}`);
  const m = c.body.metadata;
  check(c.body['metadata-location'].startsWith(`file://${wh}/ctas/t/metadata/`) && m['table-uuid'] === meta['table-uuid'] &&
    m['current-snapshot-id'] === snap['snapshot-id'] && m.refs.main['snapshot-id'] === snap['snapshot-id'] &&
    m['last-sequence-number'] === 1 && m['snapshot-log'].length === 1 && m['metadata-log'].length === 0,
    `committed metadata: ${JSON.stringify(m).slice(0, 400)}`);
  check(m['partition-specs'][0].fields[0]['field-id'] === 1000 && m['default-sort-order-id'] === 1 &&
    m.properties['created-by'] === 'spark-ctas' && m['last-column-id'] === 3, 'spec, sort order, properties, ids kept');
  const loaded = await raw('GET', '/v1/namespaces/ctas/tables/t');
  check(loaded.status === 200 && loaded.body['metadata-location'] === c.body['metadata-location'], 'loadable after commit');
  // kiln reads the CTAS table's rows, also once the scratch table is dropped from the catalog (files stay)
  check((await raw('DELETE', '/v1/namespaces/ctas/tables/scratch')).status === 204, 'drop scratch');
  const rows = (await sql('SELECT id, at, name FROM ctas.t ORDER BY id')).trim().split('\n');
  check(rows.length === 4 && rows[1] === '1,2024-01-05,a' && rows[3] === '3,,c', `kiln reads the CTAS rows: ${rows}`);

  // the same create again: the table exists -> 409 CommitFailedException, nothing changed
  const again = await raw('POST', '/v1/namespaces/ctas/tables/t', ctasCommit(meta, snap));
  check(again.status === 409 && again.body.error.type === 'CommitFailedException', `second create: ${JSON.stringify(again.body)}`);
  check((await raw('GET', '/v1/namespaces/ctas/tables/t')).body['metadata-location'] === loaded.body['metadata-location'],
    'unchanged after the failed create');
  // stage-create of an existing table: 409 AlreadyExistsException
  const st2 = await raw('POST', '/v1/namespaces/ctas/tables', { name: 't', schema, 'stage-create': true });
  check(st2.status === 409 && st2.body.error.type === 'AlreadyExistsException', 'stage-create of an existing table');
  // REPLACE TABLE ... AS SELECT on the existing table, as Iceberg Java's replaceTransaction sends it when the
  // sort order and location stay: an ordinary commit dropping main, adding the new schema and the new snapshot
  const schema2 = { type: 'struct', 'schema-id': 0, fields: [...schema.fields, { id: 4, name: 'score', type: 'double', required: false }] };
  check((await raw('POST', '/v1/namespaces/ctas/tables', { name: 'scratch2', schema: schema2, 'partition-spec': spec })).status === 200,
    'scratch2');
  await sql("INSERT INTO ctas.scratch2 VALUES (10, '2024-03-01', 'x', 1.5)");
  await sql("INSERT INTO ctas.scratch2 VALUES (11, '2024-03-02', 'y', NULL)");
  const s2 = (await raw('GET', '/v1/namespaces/ctas/tables/scratch2')).body.metadata;
  const rsnap = { ...s2.snapshots.find(x => x['snapshot-id'] === s2['current-snapshot-id']) };
  delete rsnap['parent-snapshot-id']; // a replacement's first snapshot has no parent
  check(rsnap['sequence-number'] === 2, 'scratch2 head is the second commit');
  const cur = (await raw('GET', '/v1/namespaces/ctas/tables/t')).body.metadata;
  const rtas = { requirements: [{ type: 'assert-table-uuid', uuid: cur['table-uuid'] },
    { type: 'assert-current-schema-id', 'current-schema-id': cur['current-schema-id'] }], updates: [
    { action: 'remove-snapshot-ref', 'ref-name': 'main' },
    { action: 'add-schema', schema: { ...schema2, 'schema-id': 1 }, 'last-column-id': 4 },
    { action: 'set-current-schema', 'schema-id': -1 },
    { action: 'set-properties', updates: { replaced: 'yes' } },
    { action: 'add-snapshot', snapshot: { ...rsnap, 'schema-id': 1 } },
    { action: 'set-snapshot-ref', 'ref-name': 'main', type: 'branch', 'snapshot-id': rsnap['snapshot-id'] }] };
  const r = await raw('POST', '/v1/namespaces/ctas/tables/t', rtas);
  check(r.status === 200 && r.body.metadata['current-snapshot-id'] === rsnap['snapshot-id'] &&
    r.body.metadata['current-schema-id'] === 1 && r.body.metadata.snapshots.length === 2, `RTAS: ${JSON.stringify(r.body).slice(0, 300)}`);
  check((await raw('DELETE', '/v1/namespaces/ctas/tables/scratch2')).status === 204, 'drop scratch2');
  const rrows = (await sql('SELECT id, name, score FROM ctas.t ORDER BY id')).trim().split('\n');
  check(rrows.length === 3 && rrows[1] === '10,x,1.5' && rrows[2] === '11,y,', `kiln reads the replaced table: ${rrows}`);
  // a replacement with a new sort order (as replaceTransaction sends it when the order changes: add-sort-order,
  // set-default-sort-order -1, set-location to the table's own place): the server assigns the order's id
  const before = (await raw('GET', '/v1/namespaces/ctas/tables/t')).body.metadata;
  const order2 = { 'order-id': 2, fields: [{ 'source-id': 3, transform: 'identity', direction: 'desc', 'null-order': 'nulls-last' }] };
  const rtas2 = { requirements: [{ type: 'assert-table-uuid', uuid: cur['table-uuid'] },
    { type: 'assert-default-sort-order-id', 'default-sort-order-id': before['default-sort-order-id'] }], updates: [
    { action: 'assign-uuid', uuid: cur['table-uuid'] },
    { action: 'add-sort-order', 'sort-order': order2 }, { action: 'set-default-sort-order', 'sort-order-id': -1 },
    { action: 'set-location', location: before.location }, { action: 'set-properties', updates: { sorted: 'yes' } }] };
  const canon = (fs) => JSON.stringify(fs.map(f => Object.keys(f).sort().map(k => [k, f[k]])));
  const newId = Math.max(...before['sort-orders'].map(o => o['order-id'])) + 1;
  const so = await raw('POST', '/v1/namespaces/ctas/tables/t', rtas2);
  const som = so.body.metadata;
  check(so.status === 200 && som['default-sort-order-id'] === newId && som.properties.sorted === 'yes' &&
    canon(som['sort-orders'].find(o => o['order-id'] === newId).fields) === canon(order2.fields),
    `sort-order change on an existing table: ${so.status} ${JSON.stringify(so.body['metadata'] ? { d: som['default-sort-order-id'], o: som['sort-orders'], p: som.properties, newId } : so.body)}`);
  const sdesc = (await run(bin, ['table', 'describe', 'ctas.t', '--warehouse', wh])).stdout;
  check(new RegExp(`sort order ${newId}\\n\\s+identity\\(name\\) desc nulls last`).test(sdesc), `kiln describes the new sort order:\n${sdesc}`);
  // the same order again is the same order (no new id); the old default is 409 now
  const same = await raw('POST', '/v1/namespaces/ctas/tables/t', { requirements: [], updates: [
    { action: 'add-sort-order', 'sort-order': order2 }, { action: 'set-default-sort-order', 'sort-order-id': -1 }] });
  check(same.status === 200 && same.body.metadata['sort-orders'].length === before['sort-orders'].length + 1, `re-adding an order: ${JSON.stringify(same.body).slice(0, 300)}`);
  check((await raw('POST', '/v1/namespaces/ctas/tables/t', rtas2)).status === 409, 'the old assert-default-sort-order-id fails now');
  // refused, nothing changes: another location (406), another uuid (409), a sort on a missing column (400),
  // a missing sort order (400), removing the current schema (400)
  const loc0 = (await raw('GET', '/v1/namespaces/ctas/tables/t')).body['metadata-location'];
  const refused = [[406, { action: 'set-location', location: 'file:///elsewhere' }],
    [409, { action: 'assign-uuid', uuid: '00000000-0000-4000-8000-000000000000' }],
    [400, { action: 'add-sort-order', 'sort-order': { 'order-id': 5, fields: [{ 'source-id': 99, transform: 'identity', direction: 'asc', 'null-order': 'nulls-first' }] } }],
    [400, { action: 'set-default-sort-order', 'sort-order-id': 7 }],
    [400, { action: 'remove-schemas', 'schema-ids': [1] }]];
  for (const [want, u] of refused) {
    const b = await raw('POST', '/v1/namespaces/ctas/tables/t', { requirements: [], updates: [u] });
    check(b.status === want, `${u.action}: ${b.status} (want ${want}) ${JSON.stringify(b.body)}`);
  }
  check((await raw('GET', '/v1/namespaces/ctas/tables/t')).body['metadata-location'] === loc0, 'refused updates changed nothing');
  // statistics: set (kept in the metadata, also through kiln's own later commits), then removed
  const sid = som['current-snapshot-id'];
  const stats = { 'snapshot-id': sid, 'statistics-path': `${before.location}/metadata/stats-1.puffin`,
    'file-size-in-bytes': 100, 'file-footer-size-in-bytes': 20, 'blob-metadata': [] };
  const st = await raw('POST', '/v1/namespaces/ctas/tables/t', { requirements: [], updates: [
    { action: 'set-statistics', 'snapshot-id': sid, statistics: stats }, { action: 'remove-schemas', 'schema-ids': [0] }] });
  check(st.status === 200 && st.body.metadata.statistics.length === 1 && st.body.metadata.statistics[0]['statistics-path'] === stats['statistics-path'] &&
    st.body.metadata.schemas.length === 1, `set-statistics + remove-schemas: ${JSON.stringify(st.body).slice(0, 400)}`);
  await sql("INSERT INTO ctas.t (id, name) VALUES (12, 'z')");
  const after = (await raw('GET', '/v1/namespaces/ctas/tables/t')).body.metadata;
  check(after.statistics && after.statistics.length === 1 && after['default-sort-order-id'] === newId, 'kiln\'s commit kept statistics and sort order');
  const rs2 = await raw('POST', '/v1/namespaces/ctas/tables/t', { requirements: [], updates: [{ action: 'remove-statistics', 'snapshot-id': sid }] });
  check(rs2.status === 200 && (rs2.body.metadata.statistics || []).length === 0, 'remove-statistics');

  // a create transaction without a snapshot (CREATE TABLE through a transaction) gives an empty table
  const st3 = await raw('POST', '/v1/namespaces/ctas/tables', { name: 'empty', schema, 'stage-create': true });
  check(st3.status === 200, 'stage-create empty');
  const c3 = await raw('POST', '/v1/namespaces/ctas/tables/empty', ctasCommit(st3.body.metadata, null));
  check(c3.status === 200 && c3.body.metadata['current-snapshot-id'] === -1 && c3.body.metadata['default-sort-order-id'] === 0,
    `empty create: ${JSON.stringify(c3.body).slice(0, 300)}`);
  check((await sql('SELECT count(*) FROM ctas.empty')).trim().split('\n')[1] === '0', 'kiln reads the empty table');
  // racing creates of one name (two engines' CTAS): exactly one wins, the others are 409 CommitFailedException
  const st4 = await raw('POST', '/v1/namespaces/ctas/tables', { name: 'race', schema, 'stage-create': true });
  const outs = await Promise.all(Array.from({ length: 6 }, (_, k) => {
    const body = ctasCommit(st4.body.metadata, null);
    body.updates.find(u => u.action === 'set-properties').updates = { writer: String(k) };
    return raw('POST', '/v1/namespaces/ctas/tables/race', body);
  }));
  const won = outs.filter(o => o.status === 200);
  check(won.length === 1 && outs.filter(o => o.status === 409 && o.body.error.type === 'CommitFailedException').length === 5,
    `racing creates: ${outs.map(o => o.status)}`);
  check((await raw('GET', '/v1/namespaces/ctas/tables/race')).body.metadata.properties.writer ===
    won[0].body.metadata.properties.writer, 'the table is the winner\'s');
  // a missing namespace is 404
  const c4 = await raw('POST', '/v1/namespaces/nons/tables/x', ctasCommit(meta, null));
  check(c4.status === 404 && c4.body.error.type === 'NoSuchNamespaceException', 'create in a missing namespace');
  check((await srv.stop('SIGTERM')).code === 0, 'clean stop');
  console.log('serve_rest_ctas: ok');
} catch (e) {
  console.error('serve_rest_ctas: FAIL:', e.message);
  console.error(srv.stderr().split('\n').filter(l => !l.includes(' access ')).slice(-6).join('\n'));
  process.exit(1);
}
