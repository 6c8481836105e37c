// verify_convergence.mjs KILN_BIN TMPDIR - see tests/e2e/verify_convergence.sh.
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp] = process.argv.slice(2);
const secret = 'convergence-secret';
const gha = `${tmp}/gha`, api = `${tmp}/api`;
// sizes (env, for the measured run in docs/adr/0001): CONV_SCALE of gen, CONV_REPOS repos per day
const gen = ['--start', '2025-10-06', '--days', '2', '--hours', '2', '--scale', process.env.CONV_SCALE || '0.0005'];
const perDay = Number(process.env.CONV_REPOS || 4);
await run(bin, ['gen', 'gharchive', ...gen, '--out', gha]);
await run(bin, ['gen', 'github-api', ...gen, '--out', api]);

// the source: every PushEvent of the window
const pushes = [];
for (const f of readdirSync(gha).filter(f => f.endsWith('.json.gz')).sort())
  for (const line of gunzipSync(readFileSync(`${gha}/${f}`)).toString().split('\n'))
    if (line.includes('"PushEvent"')) { const e = JSON.parse(line); if (e.type === 'PushEvent') pushes.push(e); }
const day = e => e.created_at.slice(0, 10);
// repos: those of the first pushes of each day (some before, some after the payload change)
const repos = new Set();
for (const d of ['2025-10-06', '2025-10-07'])
  for (const e of pushes.filter(e => day(e) === d).slice(0, perDay)) repos.add(e.repo.name);
const mine = pushes.filter(e => repos.has(e.repo.name));

// the compare response of a push (new branches: BASE is the default branch)
function compare(e) {
  const dir = `${api}/compare/${e.repo.name}`, head = e.payload.head;
  const exact = `${dir}/${e.payload.before}...${head}.json`;
  if (existsSync(exact)) return JSON.parse(readFileSync(exact, 'utf8'));
  const f = existsSync(dir) && readdirSync(dir).find(n => n.endsWith(`...${head}.json`));
  return f ? JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) : null;
}
// the webhook GitHub would have delivered for the push
function webhook(e) {
  let commits;
  if (Array.isArray(e.payload.commits)) {
    commits = e.payload.commits.map(c => ({ id: c.sha, message: c.message, author: c.author, distinct: c.distinct,
      url: c.url }));
  } else {
    const cmp = compare(e);
    check(cmp, `no compare response for ${e.repo.name} ${e.payload.head}`);
    commits = cmp.commits.map(c => ({ id: c.sha, message: c.commit.message, distinct: true,
      author: { name: c.commit.author.name, email: c.commit.author.email } }));
  }
  const body = { ref: e.payload.ref, before: e.payload.before, after: e.payload.head, created: false,
    deleted: false, forced: false, commits,
    repository: { id: e.repo.id, full_name: e.repo.name, pushed_at: Math.floor(Date.parse(e.created_at) / 1000) },
    sender: { id: e.actor.id, login: e.actor.login } };
  if (e.org) body.organization = { id: e.org.id, login: e.org.login };
  return body;
}
const sign = body => 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
async function land(raw, bodies) {
  const srv = await startServer(bin, ['--raw', raw], { KILN_WEBHOOK_SECRET: secret });
  try {
    for (const b of bodies) {
      const body = JSON.stringify(b);
      const r = await fetch(srv.url + '/hooks/github', { method: 'POST', body, headers: {
        'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': randomUUID(),
        'X-Hub-Signature-256': sign(body) } });
      check(r.status === 202, `delivery: ${r.status} ${await r.text()}`);
    }
  } finally {
    await srv.stop('SIGTERM');
  }
}
const verify = (...a) => run(bin, ['verify', 'convergence', '--start', '2025-10-06', '--end', '2025-10-07', ...a])
  .then(r => ({ code: 0, stdout: r.stdout, stderr: r.stderr }), e => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }));

try {
  const bodies = mine.map(webhook);
  const post = mine.filter(e => !Array.isArray(e.payload.commits));
  check(post.length > 0 && post.length < mine.length, `pushes on both sides of the change: ${post.length}/${mine.length}`);
  const want = new Set(bodies.flatMap(b => b.commits.map(c => `${b.repository.id}/${c.id}`)));
  check(want.size > 0, 'some commits');
  let t0 = Date.now();
  await land(`${tmp}/raw`, bodies);
  const landMs = Date.now() - t0;

  // 1. the same input on both paths: equal
  t0 = Date.now();
  const ok = await verify('--raw', `${tmp}/raw`, '--gharchive', gha, '--api', api, '--json');
  const verifyMs = Date.now() - t0;
  check(ok.code === 0, `equal: exit ${ok.code}: ${ok.stderr} ${ok.stdout}`);
  const r = JSON.parse(ok.stdout);
  check(r.equal === true && r.differences_total === 0 && r.differences.length === 0, 'no differences');
  check(r.repos.slice().sort().join() === [...repos].sort().join(), `repos: ${r.repos}`);
  check(r.stream.deliveries === bodies.length && r.stream.pushes === mine.length && r.batch.pushes === mine.length,
    `push counts: ${JSON.stringify(r)}`);
  check(r.stream.commits === want.size && r.batch.commits === want.size, `commit counts ${want.size}: ${JSON.stringify(r)}`);
  check(r.batch.enriched_pushes === post.length && r.batch.unenriched_pushes === 0, `enrichment: ${JSON.stringify(r.batch)}`);
  const txt = await verify('--raw', `${tmp}/raw`, '--gharchive', gha, '--api', api);
  check(txt.code === 0 && /^converged: the same \d+ pushes and \d+ commits/m.test(txt.stdout), `text: ${txt.stdout}`);
  const one = [...repos][0];
  const single = JSON.parse((await verify('--raw', `${tmp}/raw`, '--gharchive', gha, '--api', api, '--repo', one,
    '--json')).stdout);
  check(single.equal && single.repos.join() === one && single.stream.pushes === mine.filter(e => e.repo.name === one).length,
    `--repo: ${JSON.stringify(single)}`);

  // 2. without the compare responses the batch side lacks the post-change commits
  const noapi = await verify('--raw', `${tmp}/raw`, '--gharchive', gha, '--json', '--max-diffs', '100000');
  check(noapi.code === 1, `without --api: exit ${noapi.code} ${noapi.stderr}`);
  const na = JSON.parse(noapi.stdout);
  const postCommits = new Set(post.flatMap(e => webhook(e).commits.map(c => c.id)));
  check(na.batch.unenriched_pushes === post.length && na.differences.every(d => d.kind === 'commit' &&
    d.side === 'stream_only' && postCommits.has(d.sha)) && na.differences_total === postCommits.size,
  `stream-only post-change commits: ${JSON.stringify(na).slice(0, 600)}`);

  // 3. a divergent stream: one delivery never arrived, one commit message differs
  const pre = bodies.findIndex(b => b.commits.length > 0);
  const drop = bodies.findIndex((b, i) => i !== pre);
  const bad = bodies.map(b => JSON.parse(JSON.stringify(b)));
  bad[pre].commits[0].message += ' (edited)';
  const dropped = bad.splice(drop, 1)[0];
  await land(`${tmp}/raw2`, bad);
  const dv = await verify('--raw', `${tmp}/raw2`, '--gharchive', gha, '--api', api, '--json', '--repo',
    bodies[pre].repository.full_name, '--repo', dropped.repository.full_name);
  check(dv.code === 1, `divergent: exit ${dv.code} ${dv.stderr}`);
  const d = JSON.parse(dv.stdout);
  check(d.equal === false, 'not equal');
  const edited = d.differences.filter(x => x.kind === 'commit' && x.side === 'both');
  check(edited.length === 1 && edited[0].sha === bodies[pre].commits[0].id && edited[0].fields.join() === 'message' &&
    edited[0].stream.message === bad[pre === 0 ? 0 : pre - (drop < pre ? 1 : 0)].commits[0].message &&
    edited[0].batch.message === bodies[pre].commits[0].message, `edited commit: ${JSON.stringify(edited)}`);
  const gone = d.differences.filter(x => x.kind === 'push');
  check(gone.length === 1 && gone[0].side === 'batch_only' && gone[0].head === dropped.after &&
    gone[0].before === dropped.before && gone[0].repo_name === dropped.repository.full_name, `dropped push: ${JSON.stringify(gone)}`);
  // the dropped push's commits (unless another landed push also carries them) are batch-only
  const landed = new Set(bad.flatMap(b => b.commits.map(c => c.id)));
  const lost = new Set(dropped.commits.map(c => c.id).filter(s => !landed.has(s)));
  const bo = d.differences.filter(x => x.kind === 'commit' && x.side === 'batch_only');
  check(bo.length === lost.size && bo.every(x => lost.has(x.sha)), `batch-only commits: ${JSON.stringify(bo)}`);
  check(d.differences_total === 1 + 1 + lost.size, `total ${d.differences_total}`);
  const dt = await verify('--raw', `${tmp}/raw2`, '--gharchive', gha, '--api', api, '--repo', dropped.repository.full_name);
  check(dt.code === 1 && /^DIFFERENT: /m.test(dt.stdout) && dt.stdout.includes('batch_only'), `text report: ${dt.stdout}`);

  // 4. bad input
  const u = await verify('--gharchive', gha);
  check((await verify('--raw', `${tmp}/raw`, '--gharchive', `${tmp}/nope`)).code === 4, 'missing GH Archive folder');
  check((await verify('--raw', `${tmp}/nothing`, '--gharchive', gha)).code === 4, 'no delivery log');
  check(u.code === 4, `default ./raw missing: ${u.code}`);
  const nostart = await run(bin, ['verify', 'convergence', '--gharchive', gha]).catch(e => e);
  check(nostart.code === 2, 'no --start');
  const win = await run(bin, ['verify', 'convergence', '--start', '2025-11-01', '--raw', `${tmp}/raw`, '--gharchive', gha]).catch(e => e);
  check(win.code === 4 && /no webhook push landed/.test(win.stderr), `empty window: ${win.code} ${win.stderr}`);
  check(!existsSync(`${tmp}/raw/webhooks/_ingest`), 'verify wrote nothing under raw');
  console.log(`verify_convergence: ok (${repos.size} repos, ${mine.length} pushes, ${want.size} commits, ${post.length} enriched; ` +
    `${bodies.length} deliveries landed one by one in ${landMs} ms, verify over ${pushes.length} GH Archive pushes in ${verifyMs} ms)`);
} catch (e) {
  console.error('verify_convergence: FAIL:', e.message);
  process.exitCode = 1;
}
