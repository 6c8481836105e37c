// serve_rest_s3.mjs KILN_BIN TMPDIR - kiln's REST catalog in front of a
// warehouse on S3 (an S3-compatible server on 127.0.0.1, see
// tests/e2e/serve_rest_s3.sh; AWS_* variables set by the caller): tables
// created over REST (iceberg-js) land at s3:// locations, kiln writes rows
// into them, and REST clients load the new snapshots; a table kiln created
// is served too (metadata, preview, /metrics).
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
  const m = await (await fetch(srv.url + '/metrics')).text();
  check(/^kiln_table_rows\{table="rest.r"\} 3$/m.test(m), 'metrics over an S3 warehouse');
  check((await srv.stop('SIGTERM')).code === 0, 'clean stop');
  console.log('serve_rest_s3: ok');
} catch (e) {
  console.error('serve_rest_s3: FAIL:', e.message);
  console.error(srv.stderr().split('\n').filter(l => !l.includes(' access ')).slice(-6).join('\n'));
  process.exit(1);
}
