// serve_rest_s3.mjs KILN_BIN TMPDIR - kiln's REST catalog in front of a
// warehouse on S3 (an S3-compatible server on 127.0.0.1, see
// tests/e2e/serve_rest_s3.sh; AWS_* variables set by the caller): tables
// created over REST (iceberg-js) land at s3:// locations, kiln writes rows
// into them, and REST clients load the new snapshots; a table kiln created
// is served too (metadata, preview, /metrics); a create transaction
// (stage-create + assert-create, Spark's CTAS) lands at an s3:// location;
// an atomic multi-table transaction with a sort-order change commits there.
import { IcebergRestCatalog } from 'iceberg-js';
import { writeFileSync } from 'node:fs';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp] = process.argv.slice(2);
const wh = 's3://kiln-wh/lake';
const token = 'tok-' + Math.random().toString(36).slice(2);
writeFileSync(`${tmp}/token`, token);
const k = (...a) => run(bin, [...a, '--warehouse', wh]);
await k('table', 'create', 'lake.byk', '--schema', 'id long, s string');
await run(bin, ['sql', '--warehouse', wh, '-c', "INSERT INTO lake.byk VALUES (1, 'a'), (2, 'b')"]);
const srv = await startServer(bin, ['--warehouse', wh, '--token-file', `${tmp}/token`]);
try {
  const cat = new IcebergRestCatalog({ baseUrl: srv.url, auth: { type: 'bearer', token } });
  const byk = await cat.loadTable({ namespace: ['lake'], name: 'byk' });
  check(byk.location === `${wh}/lake/byk` && byk.snapshots.length === 1, `kiln's table over REST: ${byk.location}`);
  const pv = await (await fetch(srv.url + '/api/v1/tables/lake/byk/preview')).json();
  check(pv.rows.map(r => r.join(':')).sort().join() === '1:a,2:b' && pv.data_files === 1, `preview from S3: ${JSON.stringify(pv)}`);
  await cat.createNamespace({ namespace: ['rest'] });
  const schema = { type: 'struct', 'schema-id': 0, fields: [{ id: 1, name: 'n', type: 'long', required: false }] };
  const meta = await cat.createTable({ namespace: ['rest'] }, { name: 'r', schema });
  check(meta.location === `${wh}/rest/r`, `REST-created table on S3: ${meta.location}`);
  await run(bin, ['sql', '--warehouse', wh, '-c', 'INSERT INTO rest.r VALUES (10), (20), (30)']);
  const after = await cat.loadTable({ namespace: ['rest'], name: 'r' });
  const snap = after.snapshots.find(s => s['snapshot-id'] === after['current-snapshot-id']);
  check(snap && snap.summary['total-records'] === '3' && snap['manifest-list'].startsWith(`${wh}/rest/r/metadata/`),
    `kiln's commit seen over REST: ${JSON.stringify(snap)}`);
  await cat.updateTable({ namespace: ['rest'], name: 'r' }, { requirements: [{ type: 'assert-ref-snapshot-id', ref: 'main',
    'snapshot-id': snap['snapshot-id'] }], updates: [{ action: 'set-properties', updates: { owner: 'rest' } }] });
  const desc = (await k('table', 'describe', 'rest.r')).stdout;
  check(/owner/.test(desc) && /rest/.test(desc), `REST commit seen by kiln: ${desc}`);
  const sum = (await run(bin, ['sql', '--warehouse', wh, '--csv', '-c', 'SELECT sum(n) FROM rest.r'])).stdout.trim().split('\n').pop();
  check(sum === '60', `kiln reads the table: ${sum}`);
  // a create transaction (Spark's CTAS) on S3: stage-create, then assert-create with the first snapshot
  const H = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const post = async (path, body) => { const r = await fetch(srv.url + path, { method: 'POST', headers: H, body: JSON.stringify(body) });
    const t = await r.text(); return { status: r.status, body: t ? JSON.parse(t) : null }; };
  const st = await post('/v1/namespaces/rest/tables', { name: 'c', schema, 'stage-create': true });
  const sm = st.body.metadata;
  check(st.status === 200 && sm.location === `${wh}/rest/c`, `stage-create on S3: ${JSON.stringify(st.body).slice(0, 200)}`);
  const cc = await post('/v1/namespaces/rest/tables/c', { requirements: [{ type: 'assert-create' }], updates: [
    { action: 'assign-uuid', uuid: sm['table-uuid'] }, { action: 'upgrade-format-version', 'format-version': 2 },
    { action: 'add-schema', schema: sm.schemas[0], 'last-column-id': sm['last-column-id'] },
    { action: 'set-current-schema', 'schema-id': -1 }, { action: 'add-spec', spec: sm['partition-specs'][0] },
    { action: 'set-default-spec', 'spec-id': -1 }, { action: 'add-sort-order', 'sort-order': sm['sort-orders'][0] },
    { action: 'set-default-sort-order', 'sort-order-id': -1 }, { action: 'set-location', location: sm.location },
    { action: 'add-snapshot', snapshot: snap },
    { action: 'set-snapshot-ref', 'ref-name': 'main', type: 'branch', 'snapshot-id': snap['snapshot-id'] }] });
  check(cc.status === 200 && cc.body['metadata-location'].startsWith(`${wh}/rest/c/metadata/`), `CTAS on S3: ${JSON.stringify(cc.body).slice(0, 300)}`);
  const csum = (await run(bin, ['sql', '--warehouse', wh, '--csv', '-c', 'SELECT sum(n) FROM rest.c'])).stdout.trim().split('\n').pop();
  check(csum === '60', `kiln reads the CTAS table on S3: ${csum}`);
  // an atomic multi-table transaction on S3 (staged metadata, one catalog commit, then the version files)
  const tx = await post('/v1/transactions/commit', { 'table-changes': [
    { identifier: { namespace: ['rest'], name: 'r' }, requirements: [], updates: [{ action: 'set-properties', updates: { tx: 's3' } }] },
    { identifier: { namespace: ['rest'], name: 'c' }, requirements: [], updates: [{ action: 'set-properties', updates: { tx: 's3' } },
      { action: 'add-sort-order', 'sort-order': { 'order-id': 1, fields: [{ 'source-id': 1, transform: 'identity', direction: 'desc', 'null-order': 'nulls-last' }] } },
      { action: 'set-default-sort-order', 'sort-order-id': -1 }] }] });
  check(tx.status === 204, `transaction on S3: ${JSON.stringify(tx)}`);
  for (const t of ['r', 'c']) {
    const d = (await k('table', 'describe', `rest.${t}`)).stdout;
    check(/^\s*tx = s3$/m.test(d) && d.includes(`${wh}/rest/${t}/metadata/v`), `transaction seen by kiln on S3 (${t}):\n${d}`);
  }
  check(/sort order 1\n\s+identity\(n\) desc nulls last/.test((await k('table', 'describe', 'rest.c')).stdout), 'sort order on S3');
  const m = await (await fetch(srv.url + '/metrics')).text();
  check(/^kiln_table_rows\{table="rest.r"\} 3$/m.test(m), 'metrics over an S3 warehouse');
  check((await srv.stop('SIGTERM')).code === 0, 'clean stop');
  console.log('serve_rest_s3: ok');
} catch (e) {
  console.error('serve_rest_s3: FAIL:', e.message);
  console.error(srv.stderr().split('\n').filter(l => !l.includes(' access ')).slice(-6).join('\n'));
  process.exit(1);
}
