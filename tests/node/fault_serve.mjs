// fault_serve.mjs KILN_BIN TMPDIR ASAN - kill -9 of `kiln serve` at its
// commit points (tests/e2e/fault_kill9_serve.sh, docs/faults.md):
//   - webhooks: the server dies (KILN_FAILPOINT, SIGKILL) on its N-th
//     delivery after the gzip member is fsynced but before the delivery log
//     line, or after the log line but before the 202. The sender re-sends
//     what was not acknowledged and redelivers acknowledged ones (as GitHub
//     does) to a restarted server: every acknowledged delivery is there, a
//     redelivery of an acknowledged one is a duplicate (200), and the engine
//     job over the raw zone gives exactly one pushes row per delivery.
//   - the micro-batch (--ingest-every): the server dies inside its lake
//     commit (before the metadata link, after it); restarted, the tables
//     converge to one row per delivery.
import { createHmac, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp, asan] = process.argv.slice(2);
const secret = 'fault-secret';
const sign = body => 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
const hex = n => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');
const N = 12;
const base = Date.UTC(2025, 9, 5, 23, 0, 0) / 1000;
const mk = i => {
  const commits = Array.from({ length: i % 3 }, (_, k) => ({ id: hex(40), message: `m ${i}.${k}`,
    author: { name: `Dev ${i}`, email: `d${i}@example.com` }, distinct: true, url: 'https://example.com/c' }));
  const body = JSON.stringify({ ref: 'refs/heads/main', before: hex(40), after: hex(40), created: false, deleted: false,
    repository: { id: 100 + i, full_name: `org/repo${i}`, private: false, pushed_at: base + i * 600 },
    sender: { id: 5, login: 'user5' }, commits, head_commit: commits[0] || null });
  return { id: randomUUID(), body, p: JSON.parse(body) };
};
async function deliver(url, d) {
  const r = await fetch(url + '/hooks/github', { method: 'POST', body: d.body, headers: {
    'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': d.id,
    'X-Hub-Signature-256': sign(d.body) } });
  return { status: r.status, body: await r.json() };
}
async function pushRows(raw, out) {
  const days = readdirSync(`${raw}/webhooks`).filter(f => f.startsWith('date=')).sort();
  for (const day of days)
    await run(bin, ['job', 'gh-events', '--in', `${raw}/webhooks/${day}`, '--out', out, '--format', 'ndjson']);
  check(!existsSync(`${out}/_quarantine`) || readdirSync(`${out}/_quarantine`).length === 0, 'a torn member was read');
  return readdirSync(`${out}/pushes`).flatMap(d => readdirSync(`${out}/pushes/${d}`).flatMap(f =>
    readFileSync(`${out}/pushes/${d}/${f}`, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l))));
}

let cases = 0;
// the points come from `kiln failpoints` (not a copy kept here): every
// serve.* point at the 1st and the 4th delivery
const listed = execFileSync(bin, ['failpoints', '--names'], { encoding: 'utf8' }).split('\n').filter(Boolean);
const servePoints = listed.filter(n => n.startsWith('serve.'));
const lakePoints = listed.filter(n => n.startsWith('lake.'));
check(servePoints.length >= 2 && lakePoints.length >= 4, `kiln failpoints: ${listed.join(' ')}`);
const hookCases = asan === '1' ? [[servePoints[servePoints.length - 1], 3]]
  : servePoints.flatMap(fp => [[fp, 1], [fp, 4]]);
for (const [fp, n] of hookCases) {
  const dir = `${tmp}/${fp}-${n}`, raw = `${dir}/raw`;
  mkdirSync(dir, { recursive: true });
  const ds = Array.from({ length: N }, (_, i) => mk(i));
  let srv = await startServer(bin, ['--raw', raw], { KILN_WEBHOOK_SECRET: secret, KILN_FAILPOINT: `${fp}:${n}`,
    KILN_FAILPOINT_LOG: `${dir}/fp.log` });
  const acked = new Set();
  let died = false;
  for (const d of ds) {
    try {
      const r = await deliver(srv.url, d);
      check(r.status === 202 && r.body.landed, `${fp}:${n}: delivery answered ${r.status}`);
      acked.add(d.id);
    } catch (e) {
      if (e.message.startsWith(fp)) throw e;
      died = true; // no answer: not acknowledged
      break;
    }
  }
  const ex = await srv.exited;
  check(died && ex.signal === 'SIGKILL', `${fp}:${n}: the server did not die there (${JSON.stringify(ex)})`);
  check(readFileSync(`${dir}/fp.log`, 'utf8').startsWith(fp + ' '), `${fp}:${n}: failpoint log`);
  check(acked.size === n - 1, `${fp}:${n}: ${acked.size} acknowledged before the kill`);
  srv = await startServer(bin, ['--raw', raw], { KILN_WEBHOOK_SECRET: secret });
  for (const d of ds) {
    const r = await deliver(srv.url, d);
    if (acked.has(d.id))
      check(r.status === 200 && r.body.duplicate === true, `${fp}:${n}: acknowledged ${d.id} redelivered: ${r.status}`);
    else
      check(r.status === 202 || (r.status === 200 && r.body.duplicate), `${fp}:${n}: resend: ${r.status}`);
  }
  check((await srv.stop('SIGTERM')).code === 0, 'clean stop');
  const rows = await pushRows(raw, `${dir}/out`);
  check(rows.length === N, `${fp}:${n}: ${rows.length} pushes rows for ${N} deliveries`);
  const heads = new Set(rows.map(r => r.head));
  for (const d of ds) check(heads.has(d.p.after), `${fp}:${n}: delivery ${d.id} lost`);
  cases++;
}

// the micro-batch's lake commit inside kiln serve
// every lake.* point at the micro-batch's 1st commit, the last also at its 2nd
const lakeCases = asan === '1' ? [['lake.commit.after_link', 1]]
  : [...lakePoints.map(fp => [fp, 1]), [lakePoints[lakePoints.length - 1], 2]];
for (const [fp, n] of lakeCases) {
  const dir = `${tmp}/mb-${fp}-${n}`, raw = `${dir}/raw`, wh = `${dir}/wh`;
  mkdirSync(wh, { recursive: true });
  const ds = Array.from({ length: N }, (_, i) => mk(i));
  let srv = await startServer(bin, ['--raw', raw], { KILN_WEBHOOK_SECRET: secret });
  for (const d of ds) check((await deliver(srv.url, d)).status === 202, 'landed');
  await srv.stop('SIGTERM');
  srv = await startServer(bin, ['--raw', raw, '--warehouse', wh, '--ingest-every', '1'],
    { KILN_WEBHOOK_SECRET: secret, KILN_FAILPOINT: `${fp}:${n}`, KILN_FAILPOINT_LOG: `${dir}/fp.log` });
  const timer = setTimeout(() => srv.proc.kill('SIGKILL'), 30000);
  const ex = await srv.exited;
  clearTimeout(timer);
  check(ex.signal === 'SIGKILL' && existsSync(`${dir}/fp.log`), `${fp}:${n}: the micro-batch did not die there`);
  srv = await startServer(bin, ['--raw', raw, '--warehouse', wh, '--ingest-every', '1'], { KILN_WEBHOOK_SECRET: secret });
  let got = '';
  for (let i = 0; i < 60; i++) {
    try {
      got = (await run(bin, ['sql', '--warehouse', wh, '--csv', '-c',
        'SELECT count(*), count(DISTINCT push_id) FROM github.pushes'])).stdout.trim().split('\n').pop();
    } catch { got = 'no table'; }
    if (got === `${N},${N}`) break;
    await new Promise(r => setTimeout(r, 250));
  }
  check(got === `${N},${N}`, `${fp}:${n}: micro-batch after the kill: ${got}, want ${N},${N}`);
  check((await srv.stop('SIGTERM')).code === 0, 'clean stop');
  cases++;
}
console.log(`fault_kill9_serve: ok (${cases} kill cases: no acknowledged delivery lost, none twice)`);
