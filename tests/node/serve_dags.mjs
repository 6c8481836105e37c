// serve_dags.mjs KILN_BIN TMPDIR [CHROMIUM] - see tests/e2e/serve_dags.sh.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp, exe = '/usr/bin/chromium'] = process.argv.slice(2);
const shots = process.env.KILN_ARTIFACTS || tmp;
const P = `${tmp}/proj`, wh = `${tmp}/wh`;
mkdirSync(`${P}/dags`, { recursive: true });
writeFileSync(`${P}/kiln.yml`, 'flow:\n  lineage: {file: .kiln/lineage.ndjson}\n');
writeFileSync(`${P}/dags/grid.yml`, `schedule: "@daily"
start_date: 2024-01-01
tasks:
  extract:
    type: command
    command: [sh, -c, 'echo extracting; printf "caf\\\\303\\\\251 <b>bold</b>\\\\n"']
    produces: ['iceberg://warehouse/ui.events']
  flaky:
    type: command
    command: [sh, -c, 'echo loading >&2; exit 3']
    needs: [extract]
    consumes: ['iceberg://warehouse/ui.events']
    produces: [analytics.daily]
  big:
    type: command
    command: [awk, 'BEGIN { for (i = 0; i < 30000; i++) print "☕☕☕☕☕☕☕☕☕" }']
  slow:
    type: command
    command: [sh, -c, 'echo tick 1; while [ ! -e "$KILN_LOGICAL_DATE.go" ]; do sleep 0.1; done; echo tick 2']
    needs: [extract]
`);
// runs 2024-01-01 and 2024-01-02 exist before the server starts: slow may go on
for (const d of ['2024-01-01', '2024-01-02']) writeFileSync(`${P}/${d}T00:00:00Z.go`, '');
const K = (...a) => run(bin, a).catch(e => e); // exit 1 expected: flaky fails
await K('dags', 'backfill', 'grid', '--start', '2024-01-01', '--end', '2024-01-02', '--project-dir', P);
mkdirSync(wh);
await run(bin, ['table', 'create', 'ui.events', '--schema', 'id long', '--warehouse', wh]);
writeFileSync(`${tmp}/token`, 's3cret-token\n');
const AUTH = { Authorization: 'Bearer s3cret-token', 'Content-Type': 'application/json' };

const srv = await startServer(bin, ['--project-dir', P, '--warehouse', wh, '--token-file', `${tmp}/token`]);
const get = async (path, status = 200) => {
  const r = await fetch(srv.url + path);
  const j = await r.json();
  check(r.status === status, `${path}: status ${r.status}, want ${status}: ${JSON.stringify(j)}`);
  return j;
};
const post = (path, body, headers = AUTH) => fetch(srv.url + path, { method: 'POST', headers, body: JSON.stringify(body) });
let browser;
try {
  // ---- JSON API against the CLI's own report (kiln runs --json) and the log files
  const cli = JSON.parse((await run(bin, ['runs', 'grid', '--json', '--project-dir', P])).stdout);
  const dags = await get('/api/v1/dags');
  check(dags.dags.length === 1 && dags.dags[0].dag_id === 'grid' && dags.dags[0].runs === 2 && !dags.dags[0].paused,
    `dags: ${JSON.stringify(dags)}`);
  check(dags.dags[0].recent_runs.map(r => r.state).join() === cli.map(r => r.state).join(), 'recent run states');
  check(/^\d{4}-\d\d-\d\dT00:00:00Z$/.test(dags.dags[0].next_run_at), 'next run of a daily DAG');
  const dag = await get('/api/v1/dags/grid');
  check(dag.tasks.map(t => t.task_id).join() === 'extract,flaky,big,slow', 'tasks in file order');
  check(dag.tasks[1].needs.join() === 'extract' && dag.tasks[1].produces.join() === 'analytics.daily', 'task definition');
  check(JSON.stringify(dag.runs) === JSON.stringify(cli), 'grid runs equal kiln runs --json');
  const states = Object.fromEntries(dag.runs[1].tasks.map(t => [t.task, t.state]));
  check(states.extract === 'success' && states.flaky === 'failed' && states.slow === 'success', JSON.stringify(states));
  const run1 = await get('/api/v1/dags/grid/runs/2024-01-02');
  check(run1.logical_date === '2024-01-02T00:00:00Z' && run1.state === 'failed', 'one run');
  const ti = await get('/api/v1/dags/grid/runs/2024-01-02T00%3A00%3A00Z/tasks/flaky');
  check(ti.state === 'failed' && ti.tries.length === 1 && ti.tries[0].exit_code === 3 && ti.tries[0].state === 'failed' &&
    ti.run_id === run1.run_id, `task instance: ${JSON.stringify(ti)}`);
  const logFile = readFileSync(`${P}/.kiln/logs/grid/2024-01-02T00:00:00Z/extract.try-1.log`, 'utf8');
  const lg = await get('/api/v1/dags/grid/runs/2024-01-02/tasks/extract/log');
  check(lg.text === logFile && lg.size === Buffer.byteLength(logFile) && lg.next_offset === lg.size && lg.try_number === 1,
    `log: ${JSON.stringify(lg)} vs ${JSON.stringify(logFile)}`);
  const lg2 = await get('/api/v1/dags/grid/runs/2024-01-02/tasks/extract/log?try=1&offset=5');
  check(lg2.text === Buffer.from(logFile).subarray(5).toString() && lg2.offset === 5, 'log from an offset');
  check((await get('/api/v1/dags/grid/runs/2024-01-02/tasks/flaky/log')).text.includes('loading'), 'stderr in the log');
  // a log over the 256 KiB answer cap: read in pieces from offset 0 it is the file byte for byte (no
  // character split at a piece's edge); without an offset it is the file's tail from a character start
  const bigFile = readFileSync(`${P}/.kiln/logs/grid/2024-01-02T00:00:00Z/big.try-1.log`);
  check(bigFile.length > 3 * 131072, `big log ${bigFile.length}`);
  let pieces = [], off = 0, n = 0;
  for (; n < 10; n++) {
    const part = await get(`/api/v1/dags/grid/runs/2024-01-02/tasks/big/log?offset=${off}`);
    check(part.offset === off && part.next_offset - off <= 262144 && part.size === bigFile.length, `piece ${JSON.stringify({ ...part, text: part.text.length })}`);
    pieces.push(part.text);
    // 28-byte lines: byte 262143 is inside a 3-byte character, so the first piece ends 2 bytes early
    if (n === 0) check(part.next_offset === 262142, `first piece cut at a character start: ${part.next_offset}`);
    if (part.next_offset === part.size) break;
    off = part.next_offset;
  }
  check(n >= 2 && Buffer.from(pieces.join('')).equals(bigFile), `log in ${n + 1} pieces equals the file`);
  const tailPart = await get('/api/v1/dags/grid/runs/2024-01-02/tasks/big/log');
  check(tailPart.offset > 0 && Buffer.from(tailPart.text).equals(bigFile.subarray(tailPart.offset)) &&
    !tailPart.text.includes('\ufffd'), 'tail from a character boundary');
  // errors: JSON with a stable type
  check((await get('/api/v1/dags/nope', 404)).error.type === 'NoSuchDagException', 'unknown DAG');
  check((await get('/api/v1/dags/grid/runs/2024-01-02/tasks/nope', 404)).error.type === 'NoSuchTaskException', 'unknown task');
  check((await get('/api/v1/dags/grid/runs/2030-01-01', 404)).error.type === 'NoSuchRunException', 'unknown run');
  check((await get('/api/v1/dags/grid/runs/yesterday', 400)).error.type === 'BadRequestException', 'bad date');
  check((await get('/api/v1/dags/grid/runs/2024-01-02/tasks/extract/log?try=7', 404)).error.code === 404, 'no such try');
  check((await get('/api/v1/dags/grid/runs/2024-01-02/tasks/extract/log?offset=-1', 400)).error.code === 400, 'bad offset');
  // actions need the token
  for (const h of [{}, { Authorization: 'Bearer wrong' }]) {
    const r = await post('/api/v1/dags/grid/runs', { logical_date: '2024-01-09' }, h);
    check(r.status === 401 && (await r.json()).error.type === 'NotAuthorizedException', 'trigger without the token');
  }
  check(!existsSync(`${P}/.kiln/logs/grid/runs`) || (await get('/api/v1/dags/grid/runs')).runs.length === 2, 'nothing ran');
  check((await post('/api/v1/dags/grid/runs', {})).status === 400, 'trigger without a date');
  check((await post('/api/v1/dags/grid/runs', { logical_date: 'soon' })).status === 400, 'trigger with a bad date');
  const pz = await post('/api/v1/dags/grid/paused', { paused: true });
  check(pz.status === 200 && (await get('/api/v1/dags')).dags[0].paused === true, 'pause');
  const dl = (await run(bin, ['dags', 'list', '--project-dir', P])).stdout;
  check(/paused/.test(dl), `kiln dags list sees the pause: ${dl}`);
  check((await post('/api/v1/dags/grid/paused', { paused: false })).status === 200, 'unpause');
  // paging: a page counted from the newest run, oldest first inside it; runs by state over all runs
  const pg0 = await get('/api/v1/dags/grid?limit=1&offset=0');
  check(pg0.runs.length === 1 && pg0.runs[0].logical_date === '2024-01-02T00:00:00Z' && pg0.total_runs === 2 &&
    pg0.offset === 0 && pg0.limit === 1 && pg0.run_states.failed === 2, `page 0: ${JSON.stringify(pg0.runs)} ${pg0.total_runs}`);
  const pg1 = await get('/api/v1/dags/grid/runs?limit=1&offset=1');
  check(pg1.runs.length === 1 && JSON.stringify(pg1.runs[0]) === JSON.stringify(cli[0]), 'page 1 is the oldest run');
  check((await get('/api/v1/dags/grid/runs?limit=5&offset=2')).runs.length === 0, 'past the end: empty page');
  check(JSON.stringify((await get('/api/v1/dags/grid/runs?limit=5')).runs) === JSON.stringify(cli), 'a page holding all');
  for (const q of ['limit=0', 'limit=1001', 'offset=-1', 'limit=x', 'offset='])
    check((await get('/api/v1/dags/grid/runs?' + q, 400)).error.type === 'BadRequestException', `bad paging ${q}`);
  // mark success / failed (token-protected); the next run of that date skips a task marked success
  const markUrl = '/api/v1/dags/grid/runs/2024-01-02/tasks/flaky/state';
  check((await post(markUrl, { state: 'success' }, { 'Content-Type': 'application/json' })).status === 401, 'mark without the token');
  for (const b of [{}, { state: 'done' }, { state: 'success', note: 7 }])
    check((await post(markUrl, b)).status === 400, `bad mark body ${JSON.stringify(b)}`);
  check((await (await post('/api/v1/dags/grid/runs/2030-01-01/tasks/flaky/state', { state: 'success' })).json())
    .error.type === 'NoSuchRunException', 'mark in a run that does not exist');
  check((await post('/api/v1/dags/grid/runs/2024-01-02/tasks/nope/state', { state: 'success' })).status === 404, 'mark an unknown task');
  const mk = await post(markUrl, { state: 'success', note: 'fixed by hand' });
  const mkj = await mk.json();
  check(mk.status === 200 && mkj.state === 'success' && mkj.logical_date === '2024-01-02T00:00:00Z', `mark: ${JSON.stringify(mkj)}`);
  let cliM = JSON.parse((await run(bin, ['runs', 'grid', '--json', '--project-dir', P])).stdout);
  const flakyM = cliM[1].tasks.find(t => t.task === 'flaky');
  check(flakyM.state === 'success' && flakyM.note === 'marked success: fixed by hand' && cliM[1].state === 'success',
    `marked in the store: ${JSON.stringify(cliM[1])}`);
  check((await get('/api/v1/dags/grid/runs/2024-01-02/tasks/flaky')).note === 'marked success: fixed by hand', 'note via the API');
  const rerun = await run(bin, ['dags', 'run', 'grid', '--date', '2024-01-02', '--project-dir', P]).catch(e => e);
  check(rerun.code === undefined || rerun.code === 0, `the run after mark success passes (flaky skipped): ${rerun.stderr}`);
  check(/flaky.*skipped: idempotency key already succeeded/.test(rerun.stdout + rerun.stderr), `flaky skipped: ${rerun.stdout}${rerun.stderr}`);
  check((await post('/api/v1/dags/grid/runs/2024-01-02/tasks/extract/state', { state: 'failed' })).status === 200, 'mark failed');
  cliM = JSON.parse((await run(bin, ['runs', 'grid', '--json', '--project-dir', P])).stdout);
  check(cliM[1].state === 'failed' && cliM[1].tasks.find(t => t.task === 'extract').state === 'failed', 'run failed after mark failed');
  // back to what the rest of this test expects: flaky failed, extract succeeded
  check((await post('/api/v1/dags/grid/runs/2024-01-02/tasks/extract/state', { state: 'success' })).status === 200 &&
    (await post(markUrl, { state: 'failed' })).status === 200, 'mark back');
  // lineage: jobs, datasets, edges, last OpenLineage event per job
  const lin = await get('/api/v1/lineage');
  const node = id => lin.nodes.find(n => n.id === id);
  check(node('dataset:iceberg://warehouse/ui.events').table === 'ui.events', 'dataset links to its table');
  // last materialization: when a producing task last completed (extract did; flaky, analytics.daily's producer, never)
  const mat = node('dataset:iceberg://warehouse/ui.events').last_materialized;
  check(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(mat) && Math.abs(Date.parse(mat) - Date.now()) < 600e3, `last_materialized ${mat}`);
  check(node('dataset:analytics.daily').last_materialized === null, 'never materialized');
  check(node('job:grid.flaky').last_event.type === 'FAIL' && node('job:grid.extract').last_event.type === 'COMPLETE',
    `last events: ${JSON.stringify(lin.nodes)}`);
  const edge = (f, t, k) => lin.edges.some(e => e.from === f && e.to === t && e.kind === k);
  check(edge('job:grid.extract', 'dataset:iceberg://warehouse/ui.events', 'output') &&
    edge('dataset:iceberg://warehouse/ui.events', 'job:grid.flaky', 'input') &&
    edge('job:grid.extract', 'job:grid.slow', 'needs'), `edges: ${JSON.stringify(lin.edges)}`);
  // /metrics carries the orchestrator's families next to the server's, and parses as one exposition
  const mtext = await (await fetch(srv.url + '/metrics')).text();
  const fams = new Map(parsePrometheusTextFormat(mtext).map(f => [f.name, f]));
  const runsF = fams.get('kiln_task_runs_total');
  check(fams.has('kiln_http_requests_total') && runsF && runsF.metrics.some(m => m.labels.dag === 'grid' &&
    m.labels.task === 'flaky'), `orchestrator metrics in /metrics: ${[...fams.keys()]}`);
  const matF = fams.get('kiln_asset_last_materialized_timestamp_seconds');
  check(matF && matF.type === 'GAUGE' && matF.metrics.length === 1 &&
    matF.metrics[0].labels.asset === 'iceberg://warehouse/ui.events' &&
    Math.abs(Number(matF.metrics[0].value) * 1000 - Date.parse(mat)) < 1000, `asset freshness metric: ${JSON.stringify(matF)}`);
  // scheduler lag: the daily DAG's last run is 2024-01-02, so the interval [01-03, 01-04) has been due since 01-04
  const lagF = fams.get('kiln_scheduler_lag_seconds');
  const lag = lagF && lagF.metrics.find(m => m.labels.dag === 'grid');
  check(lagF && lagF.type === 'GAUGE' && lag && Math.abs(Number(lag.value) - (Date.now() - Date.UTC(2024, 0, 4)) / 1000) < 120,
    `scheduler lag ${JSON.stringify(lagF)}`);
  const oa = await get('/api/v1/openapi.json');
  for (const p of ['/api/v1/dags', '/api/v1/dags/{dag}', '/api/v1/dags/{dag}/runs',
    '/api/v1/dags/{dag}/runs/{logical_date}/tasks/{task}/log', '/api/v1/lineage', '/api/v1/dags/{dag}/clear',
    '/api/v1/dags/{dag}/runs/{logical_date}/tasks/{task}/state'])
    check(oa.paths[p], `openapi lists ${p}`);
  check(oa.paths['/api/v1/dags/{dag}/runs'].get.parameters.some(x => x.name === 'limit'), 'openapi: paging');

  // ---- the browser
  browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage();
  const errors = [];
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', e => errors.push(String(e)));
  page.on('dialog', d => d.accept());
  await page.goto(srv.url + '/#/dags');
  await page.waitForSelector('table#dags tbody tr');
  const row = await page.textContent('table#dags tbody tr');
  check(row.includes('grid') && row.includes('@daily') && row.includes('active'), `DAG row: ${row}`);
  check((await page.$$('table#dags tbody tr .st-failed')).length === 2, 'two failed runs shown');
  await page.click('table#dags a:text("grid")');
  await page.waitForSelector('table#grid tbody tr[data-task="flaky"]');
  const cells = await page.$$eval('table#grid tbody tr[data-task]', trs => trs.map(tr =>
    tr.dataset.task + ':' + Array.from(tr.querySelectorAll('.st')).map(s => s.dataset.state).join(',')));
  check(cells.join(' ') === 'extract:success,success flaky:failed,failed big:success,success slow:success,success', `grid: ${cells}`);
  await page.screenshot({ path: `${shots}/serve_dags_grid.png`, fullPage: true });
  check((await page.textContent('#run-summary')).startsWith('2 runs: 2 failed') &&
    (await page.textContent('#run-summary')).includes('100% finished'), 'run summary (backfill progress)');
  // from the failed task to its log
  await page.click('table#grid tr[data-task="flaky"] a.st-failed >> nth=1');
  await page.waitForSelector('pre#log[data-complete]');
  check((await page.textContent('#ti-state')) === 'failed', 'task state');
  check((await page.textContent('pre#log')).includes('loading'), 'the failed try\'s log');
  check((await page.$$eval('table#tries tbody tr', trs => trs.map(t => t.children[4].textContent))).join() === '3', 'exit code');
  await page.screenshot({ path: `${shots}/serve_dags_log.png`, fullPage: true });
  // log text is text, never markup
  await page.goto(srv.url + '/#/ti/grid/2024-01-02T00%3A00%3A00Z/extract');
  await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'grid · extract' &&
    document.querySelector('pre#log[data-complete]'));
  check((await page.textContent('pre#log')).includes('café <b>bold</b>') &&
    (await page.$$('pre#log b')).length === 0, 'log shown as text');
  // lineage: from a dataset to its table
  await page.goto(srv.url + '/#/lineage');
  await page.waitForSelector('svg#lineage g.node');
  check((await page.$$('svg#lineage path.edge')).length === lin.edges.length, 'one path per edge');
  await page.screenshot({ path: `${shots}/serve_dags_lineage.png`, fullPage: true });
  await page.click('svg#lineage g[data-id="dataset:iceberg://warehouse/ui.events"]');
  await page.waitForSelector('table#schema');
  check((await page.textContent('h1')) === 'ui.events', 'lineage dataset opens the table page');
  // trigger a run from the page (token typed in, confirmation accepted) and see it appear
  await page.goto(srv.url + '/#/dag/grid');
  await page.waitForSelector('button#trigger');
  await page.fill('#token', 's3cret-token');
  await page.fill('#trigger-date', '2024-01-03');
  await page.click('button#trigger');
  await page.waitForSelector('#action-msg.ok');
  const tiUrl = '/api/v1/dags/grid/runs/2024-01-03/tasks/slow';
  for (let i = 0; i < 100; i++) {
    const r = await fetch(srv.url + tiUrl);
    if (r.ok && (await r.json()).state === 'running') break;
    await new Promise(r => setTimeout(r, 100));
  }
  check((await get(tiUrl)).state === 'running', 'the triggered run is going (slow waits for its file)');
  const busy = await post(tiUrl + '/state', { state: 'success' });
  check(busy.status === 409 && (await busy.json()).error.type === 'TaskRunningException', 'a running task cannot be marked');
  // live tail: the page shows tick 1, then tick 2 once the task goes on
  const tail = await browser.newPage();
  tail.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  await tail.goto(srv.url + '/#/ti/grid/2024-01-03T00%3A00%3A00Z/slow');
  await tail.waitForFunction(() => document.querySelector('pre#log')?.textContent.includes('tick 1'));
  check(!(await tail.$('pre#log[data-complete]')), 'tail still open while running');
  writeFileSync(`${P}/2024-01-03T00:00:00Z.go`, '');
  await tail.waitForSelector('pre#log[data-complete]', { timeout: 20000 });
  const tailed = await tail.textContent('pre#log');
  check(tailed === 'tick 1\ntick 2\n', `tailed log: ${JSON.stringify(tailed)}`);
  check((await tail.textContent('#ti-state')) === 'success', 'state updated by the tail');
  // the grid on the first page reloaded by itself and shows the third run
  await page.waitForFunction(() => document.querySelectorAll('table#grid tr.run-states .st').length === 3, null, { timeout: 20000 });
  await page.screenshot({ path: `${shots}/serve_dags_triggered.png`, fullPage: true });
  const cli3 = JSON.parse((await run(bin, ['runs', 'grid', '--json', '--project-dir', P])).stdout);
  check(cli3.length === 3 && cli3[2].run_id.startsWith('manual__2024-01-03'), `kiln runs sees the triggered run`);
  // clear from the task page: the state store forgets the failed instance
  await page.goto(srv.url + '/#/ti/grid/2024-01-01T00%3A00%3A00Z/flaky');
  await page.waitForSelector('button#clear');
  await page.click('button#clear');
  await page.waitForSelector('#action-msg.ok');
  check((await page.textContent('#action-msg')) === 'cleared 1', 'clear');
  const after = JSON.parse((await run(bin, ['runs', 'grid', '--json', '--project-dir', P])).stdout);
  check(after[0].tasks.find(t => t.task === 'flaky').state === 'none' && after[0].state === 'queued', 'cleared in the store');
  // mark success from the task page (confirmation accepted)
  await page.click('button#mark-success');
  await page.waitForFunction(() => document.querySelector('#action-msg.ok')?.textContent === 'marked success');
  check((await page.textContent('#ti-state')) === 'success', 'the page shows the marked state');
  const afterMark = JSON.parse((await run(bin, ['runs', 'grid', '--json', '--project-dir', P])).stdout);
  check(afterMark[0].tasks.find(t => t.task === 'flaky').state === 'success', 'marked from the page, in the store');
  // paging in the grid: 30 runs a page; with 3 runs there is one page
  await page.goto(srv.url + '/#/dag/grid');
  await page.waitForSelector('#page-info');
  check((await page.textContent('#page-info')).startsWith('page 1 of 1 (3 runs') &&
    await page.$eval('button#older', b => b.disabled) && await page.$eval('button#newer', b => b.disabled), 'pager');
  check(errors.length === 0, `console errors: ${errors.join(' | ')}`);
  await browser.close();
  browser = null;
  const st = await srv.stop('SIGTERM');
  check(st.code === 0, `serve exit ${JSON.stringify(st)}`);

  // ---- kiln serve --scheduler: the scheduler alongside the server
  const S = `${tmp}/sched`;
  mkdirSync(`${S}/dags`, { recursive: true });
  writeFileSync(`${S}/dags/tick.yml`, 'schedule: "@hourly"\nstart_date: 2024-01-01\ncatchup: false\ntasks:\n' +
    '  hello: {type: command, command: [sh, -c, "echo hello from the scheduler"]}\n');
  const s2 = await startServer(bin, ['--project-dir', S, '--scheduler']);
  let runs = [];
  for (let i = 0; i < 100 && !(runs.length && runs[0].state === 'success'); i++) {
    await new Promise(r => setTimeout(r, 100));
    runs = (await (await fetch(s2.url + '/api/v1/dags/tick/runs')).json()).runs;
  }
  check(runs.length === 1 && runs[0].state === 'success' && runs[0].run_id.startsWith('scheduled__'),
    `scheduler in serve ran the due interval: ${JSON.stringify(runs)}`);
  const lag2 = parsePrometheusTextFormat(await (await fetch(s2.url + '/metrics')).text())
    .find(f => f.name === 'kiln_scheduler_lag_seconds');
  check(lag2 && lag2.metrics.length === 1 && lag2.metrics[0].labels.dag === 'tick' && Number(lag2.metrics[0].value) < 5 /* 0 unless an hour just began */,
    `no lag once the scheduler ran the due interval: ${JSON.stringify(lag2)}`);
  const st2 = await s2.stop('SIGTERM');
  check(st2.code === 0 && /scheduler stopped/.test(s2.stderr()), `serve --scheduler stops on SIGTERM: ${JSON.stringify(st2)}`);
  // SIGTERM while a run is going: the scheduler drains (the running task finishes), then the server exits 0
  writeFileSync(`${S}/dags/tick.yml`, 'schedule: "@daily"\nstart_date: 2024-01-01\ncatchup: false\ntasks:\n' +
    '  slowly: {type: command, command: [sh, -c, "sleep 1.5; echo done"]}\n');
  const s3 = await startServer(bin, ['--project-dir', S, '--scheduler']);
  let going = null;
  for (let i = 0; i < 100 && !going; i++) {
    await new Promise(r => setTimeout(r, 100));
    going = (await (await fetch(s3.url + '/api/v1/dags/tick/runs')).json()).runs.find(r => r.state === 'running');
  }
  check(going, 'a scheduled run is going');
  const st3 = await s3.stop('SIGTERM');
  const drained = JSON.parse((await run(bin, ['runs', 'tick', '--json', '--project-dir', S])).stdout)
    .find(r => r.logical_date === going.logical_date);
  check(st3.code === 0 && drained.tasks[0].state === 'success', `drained on SIGTERM: ${JSON.stringify(drained)} ${s3.stderr()}`);
  // kill -9 of the server: the scheduler process goes with it
  const s4 = await startServer(bin, ['--project-dir', S, '--scheduler']);
  const kids = (await run('ps', ['-o', 'pid=', '--ppid', String(s4.proc.pid)])).stdout.trim().split(/\s+/).map(Number);
  check(kids.length === 1 && kids[0] > 0, `one scheduler process: ${kids}`);
  await s4.stop('SIGKILL');
  let alive = true;
  for (let i = 0; i < 100 && alive; i++) {
    await new Promise(r => setTimeout(r, 100));
    try { process.kill(kids[0], 0); } catch { alive = false; }
  }
  check(!alive, 'the scheduler process ended with the server');
  // a separate `kiln scheduler` writing the state store while the server reads it (SQLite WAL)
  const S2 = `${tmp}/sched2`;
  mkdirSync(`${S2}/dags`, { recursive: true });
  writeFileSync(`${S2}/dags/ext.yml`, 'schedule: "@hourly"\nstart_date: 2024-01-01\ncatchup: false\ntasks:\n' +
    '  a: {type: command, command: [sh, -c, "sleep 0.3"]}\n  b: {type: command, command: ["true"], needs: [a]}\n');
  const s5 = await startServer(bin, ['--project-dir', S2]);
  const sch = spawn(bin, ['scheduler', '--project-dir', S2], { stdio: 'ignore' });
  const seen = new Set();
  let extRuns = [];
  for (let i = 0; i < 150 && !(extRuns.length && extRuns[0].state === 'success'); i++) {
    await new Promise(r => setTimeout(r, 50));
    const rr = await fetch(s5.url + '/api/v1/dags/ext/runs');
    check(rr.status === 200, `read while the scheduler writes: ${rr.status}`);
    extRuns = (await rr.json()).runs;
    for (const r of extRuns) seen.add(r.state);
  }
  sch.kill('SIGTERM');
  await new Promise(r => sch.on('exit', r));
  await s5.stop('SIGTERM');
  check(extRuns.length === 1 && extRuns[0].state === 'success' && extRuns[0].tasks.every(t => t.state === 'success'),
    `a separate scheduler's run, read through the server: ${JSON.stringify(extRuns)} (states seen ${[...seen]})`);
  const bad = await run(bin, ['serve', '--listen', '127.0.0.1:0', '--scheduler', '--project-dir', `${tmp}/none`]).catch(e => e);
  check(bad.code === 3, `a missing project is an error: ${bad.code} ${bad.stderr}`);
  console.log(`serve_dags: ok (screenshots in ${shots})`);
} catch (e) {
  console.error('serve_dags: FAIL:', e.message);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  srv.proc.kill('SIGKILL');
}
