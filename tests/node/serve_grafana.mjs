// serve_grafana.mjs KILN_BIN TMPDIR EXAMPLES_DIR - the shipped Grafana
// dashboard, Prometheus scrape config and alert rules against what `kiln
// serve` really exports:
//   - every kiln_* metric a panel query or an alert names is a family in
//     /metrics (histograms with their _bucket/_sum/_count), and every panel
//     queries at least one; the dashboard has the fields Grafana needs;
//   - promtool (Prometheus's own tool) accepts the config and the rules,
//     passes the rules' unit tests (rules_test.yml), and lints /metrics.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp, dir] = process.argv.slice(2);
const wh = `${tmp}/wh`;
await run(bin, ['table', 'create', 'github.pushes', '--schema', 'id long', '--warehouse', wh]);
// a project that ran once (a task that fails after a retry), so /metrics carries the orchestrator's families
mkdirSync(`${tmp}/proj/dags`, { recursive: true });
writeFileSync(`${tmp}/proj/kiln.yml`, 'flow:\n  lineage: {file: .kiln/lineage.ndjson}\n');
writeFileSync(`${tmp}/proj/dags/github.yml`, 'schedule: "@daily"\nstart_date: 2024-01-01\ntasks:\n' +
  '  fetch: {type: command, command: ["true"], produces: [github.pushes]}\n' +
  '  load: {type: command, command: [sh, -c, "exit 1"], needs: [fetch], retries: 1, retry_delay: 10ms}\n');
await run(bin, ['dags', 'run', 'github', '--date', '2024-01-01', '--project-dir', `${tmp}/proj`]).catch(() => {});
const srv = await startServer(bin, ['--warehouse', wh, '--raw', `${tmp}/raw`, '--ingest-every', '60',
  '--project-dir', `${tmp}/proj`],
  { KILN_WEBHOOK_SECRET: 's' });
try {
  await fetch(srv.url + '/v1/config');
  const ping = '{}';
  await fetch(srv.url + '/hooks/github', { method: 'POST', body: ping, headers: { 'X-GitHub-Event': 'ping',
    'X-GitHub-Delivery': 'p1', 'X-Hub-Signature-256': 'sha256=' + createHmac('sha256', 's').update(ping).digest('hex') } });
  const text = await (await fetch(srv.url + '/metrics')).text();
  const families = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(m => [m[1], m[2]]));
  const known = new Set();
  for (const [name, type] of families) {
    known.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) known.add(name + s);
  }
  check(known.size > 8, 'metric families read');

  // dashboard
  const dash = JSON.parse(readFileSync(`${dir}/dashboard.json`, 'utf8'));
  check(typeof dash.uid === 'string' && dash.title && Number.isInteger(dash.schemaVersion) && dash.schemaVersion >= 36,
    'dashboard uid/title/schemaVersion');
  const panels = dash.panels.flatMap(p => [p, ...(p.panels || [])]);
  const ids = new Set();
  let queries = 0;
  for (const p of panels) {
    check(Number.isInteger(p.id) && !ids.has(p.id), `panel id ${p.id} unique`);
    ids.add(p.id);
    check(p.gridPos && [p.gridPos.x, p.gridPos.y, p.gridPos.w, p.gridPos.h].every(Number.isInteger) &&
      p.gridPos.x + p.gridPos.w <= 24, `panel ${p.title}: gridPos`);
    if (p.type === 'row') continue;
    check(['timeseries', 'stat', 'bargauge', 'table', 'gauge'].includes(p.type), `panel ${p.title}: type ${p.type}`);
    check(p.targets && p.targets.length, `panel ${p.title} has queries`);
    for (const t of p.targets) {
      const names = t.expr.match(/\bkiln_[a-z0-9_]+/g) || [];
      check(names.length > 0, `panel ${p.title}: query names no kiln metric: ${t.expr}`);
      for (const n of names) check(known.has(n), `panel ${p.title}: ${n} is not exported by kiln serve`);
      queries++;
    }
  }
  // alert rules (YAML): every expr line's kiln_* names exist; `up` is Prometheus's own
  const rules = readFileSync(`${dir}/rules.yml`, 'utf8');
  const exprs = [...rules.matchAll(/^\s*expr: (.+)$/gm)].map(m => m[1]);
  check(exprs.length >= 5, 'alert rules found');
  for (const e of exprs)
    for (const n of e.match(/\bkiln_[a-z0-9_]+/g) || []) check(known.has(n), `rule: ${n} is not exported`);

  // promtool (scripts/deps.sh installs Debian's prometheus package for it)
  check(spawnSync('promtool', ['--version']).status === 0, 'promtool is not installed (scripts/deps.sh installs it)');
  {
    const sh = (args, input) => spawnSync('promtool', args, { cwd: dir, input, encoding: 'utf8' });
    for (const args of [['check', 'config', 'prometheus.yml'], ['check', 'rules', 'rules.yml'],
      ['test', 'rules', 'rules_test.yml']]) {
      const r = sh(args);
      check(r.status === 0, `promtool ${args.join(' ')}: ${r.stdout} ${r.stderr}`);
    }
    const lint = sh(['check', 'metrics'], text);
    check(lint.status === 0, `promtool check metrics: ${lint.stdout} ${lint.stderr}`);
  }
  writeFileSync(`${tmp}/metrics.txt`, text);
  console.log(`serve_grafana: ok (${panels.length} panels, ${queries} queries, ${exprs.length} alert rules, promtool checks passed)`);
} catch (e) {
  console.error('serve_grafana: FAIL:', e.message);
  process.exitCode = 1;
} finally {
  await srv.stop('SIGTERM');
}
