// serve_rest_txn.mjs KILN_BIN TMPDIR - POST /v1/transactions/commit is
// atomic: all tables or none, also when the server dies in the middle.
//   1. a plain two-table transaction, and one whose second table fails a
//      requirement (409, neither changed);
//   2. the server killed (KILN_FAILPOINT lake.multi=crash-before-commit: as
//      kill -9 after the new metadata is staged, before the catalog commit):
//      neither table changed, for kiln's CLI and for a restarted server;
//   3. killed after the catalog commit with only the first table's version
//      file linked (lake.multi=crash-after-first): both tables changed, for
//      a read-only CLI reader before any recovery and for a restarted
//      server, whose first load links the missing file;
//   4. concurrent transactions racing each other and `kiln sql` INSERTs:
//      every transaction's change is on both tables, no INSERT lost.
// iceberg-js (an independent client) reads the results.
import { IcebergRestCatalog } from 'iceberg-js';
import { writeFileSync, mkdirSync, readdirSync, existsSync } from 'node:fs';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp] = process.argv.slice(2);
const asan = bin.includes('/build-asan/');
const wh = `${tmp}/wh`;
const token = 'tok-' + Math.random().toString(36).slice(2);
writeFileSync(`${tmp}/token`, token + '\n');
mkdirSync(wh);
const H = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
const args = ['--warehouse', wh, '--token-file', `${tmp}/token`];

let srv = await startServer(bin, args);
const catalog = () => new IcebergRestCatalog({ baseUrl: srv.url, auth: { type: 'bearer', token } });
async function post(path, body) {
  const r = await fetch(srv.url + path, { method: 'POST', headers: H, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}
const change = (name, updates, requirements = []) =>
  ({ identifier: { namespace: ['tx'], name }, requirements, updates });
const setp = (kv) => [{ action: 'set-properties', updates: kv }];
const props = async (name) => (await catalog().loadTable({ namespace: ['tx'], name })).properties;
const describe = async (name) => (await run(bin, ['table', 'describe', `tx.${name}`, '--warehouse', wh])).stdout;
const versions = (name) => readdirSync(`${wh}/tx/${name}/metadata`).filter(f => /^v\d+\.metadata\.json$/.test(f)).length;

// a transaction sent to a server that dies on it: the request fails, the process exits 137
async function crashWith(point, body) {
  await srv.stop();
  srv = await startServer(bin, args, { KILN_FAILPOINT: `lake.multi=${point}` });
  let answered = null;
  try { answered = (await post('/v1/transactions/commit', body)).status; } catch { /* connection dropped */ }
  const ex = await srv.exited;
  check(answered === null && ex.code === 137, `${point}: server answered ${answered}, exited ${JSON.stringify(ex)}`);
}

try {
  const schema = { type: 'struct', 'schema-id': 0, fields: [
    { id: 1, name: 'id', type: 'long', required: false }, { id: 2, name: 'who', type: 'string', required: false }] };
  const cat = catalog();
  await cat.createNamespace({ namespace: ['tx'] });
  for (const t of ['a', 'b']) await cat.createTable({ namespace: ['tx'] }, { name: t, schema });
  await run(bin, ['sql', '--warehouse', wh, '-c', "INSERT INTO tx.a VALUES (0, 'seed')"]);

  // 1. plain, and a failed requirement on the second table
  let r = await post('/v1/transactions/commit', { 'table-changes': [change('a', setp({ p: '1' })), change('b', setp({ p: '1' }))] });
  check(r.status === 204, `transaction: ${r.status} ${JSON.stringify(r.body)}`);
  r = await post('/v1/transactions/commit', { 'table-changes': [change('a', setp({ p: 'x' })),
    change('b', setp({ p: 'x' }), [{ type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': 42 }])] });
  check(r.status === 409 && r.body.error.type === 'CommitFailedException', `failed requirement: ${JSON.stringify(r.body)}`);
  // the second table's sort-order update refers to a missing column: 400, the first is not committed either
  r = await post('/v1/transactions/commit', { 'table-changes': [change('a', setp({ p: 'y' })),
    change('b', [{ action: 'add-sort-order', 'sort-order': { 'order-id': 1, fields: [{ 'source-id': 9, transform: 'identity',
      direction: 'asc', 'null-order': 'nulls-first' }] } }])] });
  check(r.status === 400, `bad sort order in a transaction: ${r.status} ${JSON.stringify(r.body)}`);
  for (const t of ['a', 'b']) check((await props(t)).p === '1', `after 409 and 400 ${t}.p = 1`);
  const va = versions('a'), vb = versions('b');

  // 2. killed before the catalog commit: none
  await crashWith('crash-before-commit', { 'table-changes': [change('a', setp({ p: '2' })), change('b', setp({ p: '2' }))] });
  for (const t of ['a', 'b']) check(/^\s*p = 1$/m.test(await describe(t)),
    `crash before commit: kiln sees ${t}.p = 1:\n${await describe(t)}`);
  check(versions('a') === va && versions('b') === vb, 'crash before commit: no version file was linked');
  srv = await startServer(bin, args);
  for (const t of ['a', 'b']) check((await props(t)).p === '1', `crash before commit: the server sees ${t}.p = 1`);

  // 3. killed after the catalog commit, one version file linked: all
  await crashWith('crash-after-first', { 'table-changes': [change('a', setp({ p: '3' })), change('b', setp({ p: '3' }))] });
  check(versions('a') === va + 1 && versions('b') === vb, `crash after first: a linked, b not (${versions('a')}, ${versions('b')})`);
  for (const t of ['a', 'b']) {
    const d = await describe(t); // a CLI reader, before any server is back
    check(/^\s*p = 3$/m.test(d), `crash after first: kiln sees ${t}.p = 3:\n${d}`);
  }
  srv = await startServer(bin, args);
  for (const t of ['a', 'b']) check((await props(t)).p === '3', `crash after first: the server sees ${t}.p = 3`);
  check(versions('b') === vb + 1, 'the first load linked b\'s committed version file');
  r = await post('/v1/transactions/commit', { 'table-changes': [change('b', setp({ p: '4' })), change('a', setp({ p: '4' }))] });
  check(r.status === 204, `after recovery: ${r.status} ${JSON.stringify(r.body)}`);
  await run(bin, ['sql', '--warehouse', wh, '-c', "INSERT INTO tx.b VALUES (1, 'after')"]);
  for (const t of ['a', 'b']) check((await props(t)).p === '4', `after recovery ${t}.p = 4`);

  // 4. concurrency: transactions race each other and kiln's own writers
  const N = asan ? 4 : 10, M = asan ? 2 : 4;
  const txs = Array.from({ length: N }, (_, j) => post('/v1/transactions/commit',
    { 'table-changes': [change('a', setp({ [`k${j}`]: 'y' })), change('b', setp({ [`k${j}`]: 'y' }))] }));
  const ins = Array.from({ length: M }, (_, i) =>
    run(bin, ['sql', '--warehouse', wh, '-c', `INSERT INTO tx.${i % 2 ? 'b' : 'a'} VALUES (${100 + i}, 'race')`]));
  const res = await Promise.all(txs);
  await Promise.all(ins);
  for (const x of res) check(x.status === 204, `concurrent transaction: ${x.status} ${JSON.stringify(x.body)}`);
  for (const t of ['a', 'b']) {
    const p = await props(t);
    const missing = Array.from({ length: N }, (_, j) => `k${j}`).filter(k => p[k] !== 'y');
    check(missing.length === 0, `lost transaction updates on ${t}: ${missing}`);
  }
  const count = async (t) => +(await run(bin, ['sql', '--warehouse', wh, '--csv', '-c',
    `SELECT count(*) AS n FROM tx.${t} WHERE who = 'race'`])).stdout.trim().split('\n')[1];
  const ca = await count('a'), cb = await count('b');
  check(ca === Math.ceil(M / 2) && cb === Math.floor(M / 2), `race rows a=${ca} b=${cb}`);
  console.log(`serve_rest_txn: ok (${N} concurrent transactions, ${M} INSERTs)`);
} finally {
  await srv.stop().catch(() => {});
}
