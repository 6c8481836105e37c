// serve_webhooks.mjs KILN_BIN TMPDIR - POST /hooks/github end to end:
//   1. signatures: a wrong or missing X-Hub-Signature-256 is 401 and lands
//      nothing; ping is 200; other events are accepted but not landed.
//   2. signed push deliveries are posted concurrently; the server is killed
//      with SIGKILL mid-load; it is restarted on the same raw zone, every
//      delivery not acknowledged is re-sent, and some acknowledged ones are
//      redelivered (as GitHub does): those must answer "duplicate".
//   3. `kiln job gh-events` over raw/webhooks/date=D/ must then produce one
//      pushes row per delivery (none lost, none twice) whose fields are the
//      payload's, and the commits rows of every payload.
//   4. `--ingest-every 1` MERGEs the days into github.pushes/commits; a
//      push delivered again under a new GUID and new pushes end up as
//      exactly one row each.
import { createHmac, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp] = process.argv.slice(2);
const raw = `${tmp}/raw`;
const secret = 'wh-secret-' + Math.random().toString(36).slice(2);
const env = { KILN_WEBHOOK_SECRET: secret };
const sign = (body, key = secret) => 'sha256=' + createHmac('sha256', key).update(body).digest('hex');
const hex = n => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');

// GitHub push payloads over two days and a few hours of each
const N = 240;
const base = Date.UTC(2025, 9, 5, 22, 0, 0) / 1000;
const deliveries = Array.from({ length: N }, (_, i) => {
  const ncommits = i % 4;
  const commits = Array.from({ length: ncommits }, (_, k) => ({ id: hex(40), message: `fix #${i}.${k}\nbody "quoted" é`,
    author: { name: `Dev ${i % 7}`, email: `dev${i % 7}@example.com` }, distinct: k % 3 !== 2, url: 'https://example.com/c' }));
  const body = JSON.stringify({
    ref: `refs/heads/${i % 5 ? 'main' : 'dev'}`, before: hex(40), after: hex(40), created: false, deleted: false,
    repository: { id: 1000 + (i % 9), full_name: `org${i % 3}/repo${i % 9}`, private: false,
      pushed_at: base + i * 60 /* spreads over 4 hours, two UTC days */ },
    sender: { id: 50 + (i % 11), login: `user${i % 11}` },
    organization: i % 3 ? { id: 7000 + (i % 3), login: `org${i % 3}` } : undefined,
    commits, head_commit: commits[0] || null,
  });
  return { id: randomUUID(), body, p: JSON.parse(body) };
});

async function deliver(url, d, extra = {}) {
  const r = await fetch(url + '/hooks/github', { method: 'POST', body: d.body, headers: {
    'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': d.id,
    'X-Hub-Signature-256': sign(d.body), ...extra } });
  return { status: r.status, body: await r.json() };
}

let srv = await startServer(bin, ['--raw', raw], env);
try {
  // 1. signatures and event kinds
  const d0 = deliveries[0];
  check((await deliver(srv.url, d0, { 'X-Hub-Signature-256': sign(d0.body, 'not-the-secret') })).status === 401, 'wrong key');
  check((await deliver(srv.url, d0, { 'X-Hub-Signature-256': sign(d0.body + ' ') })).status === 401, 'tampered body');
  const noSig = await fetch(srv.url + '/hooks/github', { method: 'POST', body: d0.body,
    headers: { 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': d0.id } });
  check(noSig.status === 401, 'missing signature');
  check((await deliver(srv.url, d0, { 'X-GitHub-Delivery': '../../etc' })).status === 400, 'bad delivery id');
  const ping = '{"zen":"Design for failure.","hook_id":42}';
  const pr = await fetch(srv.url + '/hooks/github', { method: 'POST', body: ping, headers: {
    'X-GitHub-Event': 'ping', 'X-GitHub-Delivery': randomUUID(), 'X-Hub-Signature-256': sign(ping) } });
  check(pr.status === 200, 'ping');
  const other = await deliver(srv.url, { id: randomUUID(), body: d0.body }, { 'X-GitHub-Event': 'issues' });
  check(other.status === 202 && other.body.landed === false, 'non-push events are not landed');
  check(!existsSync(`${raw}/webhooks`) || readdirSync(`${raw}/webhooks`).every(f => !f.startsWith('date=')),
    'nothing landed by rejected or non-push deliveries');

  // 2. concurrent load, SIGKILL after a third is acknowledged
  const acked = new Set();
  let next = 0, killed = false;
  const killAt = Math.floor(N / 3);
  const worker = async () => {
    while (next < N && !killed) {
      const d = deliveries[next++];
      try {
        const r = await deliver(srv.url, d);
        if (r.status === 202 && r.body.landed) acked.add(d.id);
        else if (!killed) throw new Error(`delivery ${d.id}: ${r.status} ${JSON.stringify(r.body)}`);
      } catch (e) {
        if (!killed) throw e; // after the kill, failures are expected: those were not acknowledged
      }
      if (acked.size >= killAt && !killed) { killed = true; srv.proc.kill('SIGKILL'); }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  await srv.exited;
  check(acked.size >= killAt, `acknowledged ${acked.size} before the kill`);

  // restart on the same raw zone: redeliver some acknowledged ones, send all others
  srv = await startServer(bin, ['--raw', raw], env);
  let dups = 0;
  for (const d of deliveries.filter(d => acked.has(d.id)).slice(0, 20)) {
    const r = await deliver(srv.url, d);
    check(r.status === 200 && r.body.duplicate === true, `redelivery of acknowledged ${d.id} must be a duplicate`);
    dups++;
  }
  const rest = deliveries.filter(d => !acked.has(d.id));
  for (let i = 0; i < rest.length; i += 8)
    await Promise.all(rest.slice(i, i + 8).map(async d => {
      const r = await deliver(srv.url, d);
      check(r.status === 202 || (r.status === 200 && r.body.duplicate), `resend ${d.id}: ${r.status}`);
      acked.add(d.id);
    }));
  check(acked.size === N, `all ${N} acknowledged in the end (${acked.size})`);
  const repaired = srv.stderr().split('\n').filter(l => /webhooks: (cut|removed)/.test(l)).length;
  const metrics = await (await fetch(srv.url + '/metrics')).text();
  const dupm = metrics.match(/^kiln_webhook_deliveries_total\{event="push",result="duplicate"\} (\d+)$/m);
  check(dupm && +dupm[1] >= dups, 'duplicate counter');
  check((await srv.stop('SIGTERM')).code === 0, 'clean stop');

  // 3. the engine job over the landed days
  const days = readdirSync(`${raw}/webhooks`).filter(f => f.startsWith('date=')).sort();
  check(days.length === 2, `two UTC days landed: ${days}`);
  for (const day of days)
    await run(bin, ['job', 'gh-events', '--in', `${raw}/webhooks/${day}`, '--out', `${tmp}/out`, '--format', 'ndjson']);
  const rows = t => readdirSync(`${tmp}/out/${t}`).filter(d => d.startsWith('date=')).flatMap(d =>
    readdirSync(`${tmp}/out/${t}/${d}`).flatMap(f => readFileSync(`${tmp}/out/${t}/${d}/${f}`, 'utf8').split('\n')
      .filter(Boolean).map(l => JSON.parse(l))));
  const pushes = rows('pushes'), commits = rows('commits');
  check(!existsSync(`${tmp}/out/_quarantine`) || readdirSync(`${tmp}/out/_quarantine`).length === 0,
    'nothing quarantined: no torn gzip member survived the kill');
  check(pushes.length === N, `pushes rows: ${pushes.length}, deliveries: ${N}`);
  check(new Set(pushes.map(r => r.event_id)).size === N, 'no duplicated event ids');
  // webhooks carry no push id: kiln's is the negated event id (never a GitHub one)
  check(pushes.every(r => r.push_id < 0 && r.push_id === -r.event_id), 'synthetic push_id = -event_id');
  const byHead = new Map(pushes.map(r => [r.head, r]));
  check(byHead.size === N, 'one row per delivery head');
  let ncommits = 0;
  for (const d of deliveries) {
    const r = byHead.get(d.p.after), p = d.p;
    check(r, `delivery ${d.id} (head ${p.after}) lost`);
    check(r.repo_name === p.repository.full_name && r.repo_id === p.repository.id && r.actor_login === p.sender.login &&
      r.actor_id === p.sender.id && r.ref === p.ref && r.before === p.before &&
      (r.org_login ?? null) === (p.organization ? p.organization.login : null) &&
      r.created_at === new Date(p.repository.pushed_at * 1000).toISOString().replace('.000Z', 'Z'),
    `row for ${d.id} differs from its payload: ${JSON.stringify(r)}`);
    ncommits += p.commits.length;
  }
  check(commits.length === ncommits, `commits rows ${commits.length}, payload commits ${ncommits}`);
  const shas = new Map(deliveries.flatMap(d => d.p.commits.map(c => [c.id, c])));
  for (const c of commits) {
    const want = shas.get(c.sha);
    check(want && c.message === want.message && c.author_email === want.author.email && c.distinct === want.distinct,
      `commit row ${JSON.stringify(c)}`);
  }
  // 4. the micro-batch (--ingest-every): the same days land in github.* by
  // MERGE; a second delivery of the same push (new GUID, as a repo and an
  // org hook would send) and new pushes arrive; nothing is counted twice
  const wh = `${tmp}/wh`;
  mkdirSync(wh);
  srv = await startServer(bin, ['--raw', raw, '--warehouse', wh, '--ingest-every', '1'], env);
  const count = async () => {
    try {
      return (await run(bin, ['sql', '--warehouse', wh, '--csv', '-c',
        'SELECT count(*), count(DISTINCT push_id), (SELECT count(*) FROM github.commits) FROM github.pushes']))
        .stdout.trim().split('\n').pop();
    } catch { return 'no tables yet'; }
  };
  // a tick may run while deliveries are still arriving and load part of
  // them; the next one loads the rest: wait (bounded) for the exact figures
  const waitFor = async (want) => {
    let got;
    for (let i = 0; i < 240; i++) {
      if ((got = await count()) === want) return;
      await new Promise(r => setTimeout(r, 500));
    }
    throw new Error(`micro-batch: expected ${want}, have ${got} after 120 s: ` +
      srv.stderr().split('\n').filter(l => /warn|error/.test(l)).slice(-3).join(' | '));
  };
  await waitFor(`${N},${N},${ncommits}`);
  const extra = deliveries.slice(0, 5).map(d => ({ ...d, id: randomUUID() })); // same pushes, new GUIDs
  const M = 10;
  const fresh = Array.from({ length: M }, (_, i) => {
    const p = { ...deliveries[i].p, before: hex(40), after: hex(40), commits: [] };
    return { id: randomUUID(), body: JSON.stringify(p), p };
  });
  for (const d of [...extra, ...fresh]) check((await deliver(srv.url, d)).status === 202, 'landed');
  await waitFor(`${N + M},${N + M},${ncommits}`);
  // and it stays exact: two more ticks with nothing new change nothing
  await new Promise(r => setTimeout(r, 2500));
  check(await count() === `${N + M},${N + M},${ncommits}`, `after idle ticks: ${await count()}`);
  const okRuns = (await (await fetch(srv.url + '/metrics')).text()).match(/^kiln_webhook_ingest_runs_total\{result="ok"\} (\d+)$/m);
  check(okRuns && +okRuns[1] >= 2, 'micro-batch runs counted');
  check((await srv.stop('SIGTERM')).code === 0, 'clean stop with the micro-batch thread');
  console.log(`serve_webhooks: ok (${N} deliveries, ${killAt}+ acknowledged before SIGKILL, ${dups} redelivered, ${repaired} torn file(s) repaired at restart, ` +
    `${pushes.length} pushes and ${commits.length} commits rows; micro-batch loaded ${N + M} pushes once each)`);
} catch (e) {
  console.error('serve_webhooks: FAIL:', e.message);
  console.error(srv.stderr().split('\n').filter(l => !l.includes(' access ')).slice(-10).join('\n'));
  process.exit(1);
}
