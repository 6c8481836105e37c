// serve_webhooks_load.mjs KILN_BIN TMPDIR - GitHub push deliveries under
// load (autocannon, on 127.0.0.1) against `kiln serve`, bounded in count and
// time (env COUNT=2000 deliveries, DURATION=30 s at most per phase,
// CONNECTIONS=16):
//   1. throughput: COUNT signed pushes, each a new delivery; prints
//      deliveries/s accepted and latency p50/p99; every one must be 202;
//   2. crash: the same load on a fresh raw zone, the server killed with
//      SIGKILL once a third has been acknowledged; after a restart (which
//      repairs the files) the engine job must find every acknowledged
//      delivery exactly once (zero lost, zero duplicated rows) and nothing
//      that was never sent.
// Prints one JSON line with the figures; exits 1 when a check fails.
// Used by bench/webhooks.sh (large) and tests/e2e/serve_webhooks_load.sh (small).
import autocannon from 'autocannon';
import { createHmac, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp] = process.argv.slice(2);
const COUNT = Number(process.env.COUNT || 2000);
const SECONDS = Number(process.env.DURATION || 30);
const CONNECTIONS = Number(process.env.CONNECTIONS || 16);
const secret = 'load-' + randomUUID();
const env = { KILN_WEBHOOK_SECRET: secret, KILN_LOG: 'warn' };
const sign = body => 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
const base = Date.UTC(2025, 9, 6, 0, 0, 0) / 1000;

// delivery n: a push with its own head sha (so each is one row), over one UTC day
function delivery(phase, n) {
  const head = createHmac('sha1', 'h').update(`${phase}:${n}`).digest('hex');
  const body = JSON.stringify({
    ref: 'refs/heads/main', before: '0'.repeat(40), after: head, created: false, deleted: false,
    repository: { id: 100 + (n % 7), full_name: `load/repo${n % 7}`, private: false, pushed_at: base + (n % 86400) },
    sender: { id: 9, login: 'loader' },
    commits: [{ id: head, message: `load ${n}`, author: { name: 'L', email: 'l@example.com' }, distinct: true }],
  });
  return { id: randomUUID(), head, body };
}

// autocannon with one dynamic request: a new signed delivery per request;
// the delivery in flight is kept per connection (pipelining 1)
function load(url, phase, { onAck, stopAt } = {}) {
  let n = 0;
  const sent = new Map(); // head -> delivery id
  let inst;
  const p = new Promise((resolve, reject) => {
    inst = autocannon({
      url, connections: CONNECTIONS, pipelining: 1, amount: COUNT, timeout: 10,
      requests: [{
        method: 'POST', path: '/hooks/github',
        setupRequest: (req, ctx) => {
          const d = delivery(phase, n++);
          ctx.d = d;
          sent.set(d.head, d.id);
          return { ...req, body: d.body, headers: { 'content-type': 'application/json', 'x-github-event': 'push',
            'x-github-delivery': d.id, 'x-hub-signature-256': sign(d.body) } };
        },
        onResponse: (status, body, ctx) => { if (status === 202 && onAck) onAck(ctx.d); },
      }],
    }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  const timer = setTimeout(() => inst.stop(), SECONDS * 1000);
  if (stopAt) stopAt(() => inst.stop());
  return p.finally(() => clearTimeout(timer)).then(res => ({ res, sent }));
}

// push rows of the engine job over every landed day, by head sha
async function landedHeads(raw, out) {
  const days = readdirSync(`${raw}/webhooks`).filter(f => f.startsWith('date=')).sort();
  for (const day of days)
    await run(bin, ['job', 'gh-events', '--in', `${raw}/webhooks/${day}`, '--out', out, '--format', 'ndjson']);
  check(!existsSync(`${out}/_quarantine`) || readdirSync(`${out}/_quarantine`).length === 0, 'nothing quarantined');
  const heads = new Map();
  if (!existsSync(`${out}/pushes`)) return heads;
  for (const d of readdirSync(`${out}/pushes`).filter(d => d.startsWith('date=')))
    for (const f of readdirSync(`${out}/pushes/${d}`))
      for (const l of readFileSync(`${out}/pushes/${d}/${f}`, 'utf8').split('\n').filter(Boolean)) {
        const h = JSON.parse(l).head;
        heads.set(h, (heads.get(h) || 0) + 1);
      }
  return heads;
}

let srv;
try {
  // 1. throughput
  const raw1 = `${tmp}/raw1`;
  mkdirSync(raw1, { recursive: true });
  srv = await startServer(bin, ['--raw', raw1], env);
  let acked1 = 0;
  const t0 = Date.now();
  const { res } = await load(srv.url, 'a', { onAck: () => acked1++ });
  const secs = (Date.now() - t0) / 1000;
  check((await srv.stop('SIGTERM')).code === 0, 'clean stop');
  check(res.errors === 0 && res.timeouts === 0 && res.non2xx === 0, `errors ${res.errors}, timeouts ${res.timeouts}, non-2xx ${res.non2xx}`);
  check(acked1 === res['2xx'] && acked1 > 0, `acknowledged ${acked1} of ${res['2xx']} 2xx`);
  const heads1 = await landedHeads(raw1, `${tmp}/out1`);
  check(heads1.size === acked1 && [...heads1.values()].every(c => c === 1), `phase 1: ${heads1.size} rows for ${acked1} deliveries`);

  // 2. kill -9 under load
  const raw2 = `${tmp}/raw2`;
  mkdirSync(raw2, { recursive: true });
  srv = await startServer(bin, ['--raw', raw2], env);
  const acked = new Set();
  let killed = false, stop;
  const killAt = Math.max(1, Math.floor(COUNT / 3));
  const victim = srv;
  const { sent } = await load(srv.url, 'b', {
    stopAt: f => { stop = f; },
    onAck: d => {
      if (killed) return; // an answer racing the kill: not counted, it may or may not have landed
      acked.add(d.head);
      if (acked.size >= killAt) { killed = true; victim.proc.kill('SIGKILL'); setTimeout(() => stop(), 200); }
    },
  });
  await victim.exited;
  check(killed, `the server was killed after ${acked.size} acknowledgements`);
  // restart on the same raw zone: it cuts what was written but never acknowledged
  srv = await startServer(bin, ['--raw', raw2], env);
  check((await srv.stop('SIGTERM')).code === 0, 'clean stop after recovery');
  const heads2 = await landedHeads(raw2, `${tmp}/out2`);
  const lost = [...acked].filter(h => !heads2.has(h));
  const dup = [...heads2].filter(([, c]) => c > 1);
  const unknown = [...heads2.keys()].filter(h => !sent.has(h));
  check(lost.length === 0, `${lost.length} acknowledged deliveries lost (e.g. ${lost[0]})`);
  check(dup.length === 0, `${dup.length} duplicated rows`);
  check(unknown.length === 0, `${unknown.length} rows that were never sent`);
  const out = {
    bench: 'webhooks', deliveries: res['2xx'], connections: CONNECTIONS, seconds: +secs.toFixed(2),
    deliveries_per_s: +(res['2xx'] / secs).toFixed(1), latency_ms: { p50: res.latency.p50, p99: res.latency.p99,
      max: res.latency.max },
    crash: { acknowledged: acked.size, landed: heads2.size, lost: lost.length, duplicated: dup.length },
  };
  console.log(JSON.stringify(out));
} catch (e) {
  console.error('serve_webhooks_load: FAIL:', e.message);
  if (srv) console.error(srv.stderr().split('\n').slice(-8).join('\n'));
  process.exitCode = 1;
}
