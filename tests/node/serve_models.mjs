// serve_models.mjs KILN_BIN TMPDIR [CHROMIUM] - see tests/e2e/serve_models.sh.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, writeFileSync, statSync, unlinkSync } from 'node:fs';
import { startServer, check } from './serve_common.mjs';

const [bin, tmp, exe = '/usr/bin/chromium'] = process.argv.slice(2);
const shots = process.env.KILN_ARTIFACTS || tmp;
const P = `${tmp}/p`;
const man = JSON.parse(readFileSync(`${P}/target/manifest.json`, 'utf8'));
const res = JSON.parse(readFileSync(`${P}/target/run_results.json`, 'utf8'));
mkdirSync(`${P}/dags`);
writeFileSync(`${P}/dags/shop.yml`, 'tasks:\n  build_orders:\n    type: command\n    command: ["true"]\n' +
  '    produces: ["iceberg://warehouse/analytics.orders"]\n');
const srv = await startServer(bin, ['--models-dir', P, '--project-dir', P, '--warehouse', `${P}/warehouse`]);
const bare = await startServer(bin, []);
let browser;
try {
  const r = await fetch(srv.url + '/api/v1/models');
  check(r.status === 200, `models: ${r.status}`);
  const j = await r.json();
  const want = Object.entries({ ...man.nodes, ...man.sources })
    .filter(([, n]) => ['model', 'seed', 'snapshot', 'source'].includes(n.resource_type)).map(([id]) => id).sort();
  check(j.project === man.metadata.project_name, 'project name');
  check(j.nodes.map(n => n.unique_id).sort().join() === want.join(), `nodes: ${j.nodes.map(n => n.unique_id)}`);
  const status = new Map(res.results.map(x => [x.unique_id, x.status]));
  for (const n of j.nodes) {
    const m = man.nodes[n.unique_id] || man.sources[n.unique_id];
    check(n.depends_on.join() === (m.depends_on?.nodes ?? []).join(), `depends_on of ${n.unique_id}`); // sources have no depends_on in manifest v12
    check(n.relation_name === m.relation_name && n.status === (status.get(n.unique_id) ?? null), `${n.unique_id} relation/status`);
    const tests = Object.entries(man.nodes).filter(([, t]) => t.resource_type === 'test' && t.attached_node === n.unique_id);
    check(n.tests.length === tests.length && n.tests.every(t => t.status === status.get(t.unique_id)), `tests of ${n.unique_id}`);
  }
  const orders = j.nodes.find(n => n.name === 'orders');
  check(orders.built_by.length === 1 && orders.built_by[0].dag_id === 'shop' && orders.built_by[0].task_id === 'build_orders',
    `built_by: ${JSON.stringify(orders.built_by)}`);
  check(orders.columns.map(c => c.name).join() === Object.keys(man.nodes['model.jaffle_shop.orders'].columns).join(), 'columns');
  const none = await fetch(bare.url + '/api/v1/models');
  check(none.status === 503 && (await none.json()).error.type === 'ServiceUnavailableException', 'no --models-dir: 503');

  browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage();
  const errors = [];
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', e => errors.push(String(e)));
  await page.goto(srv.url + '/#/models');
  await page.waitForSelector('svg#models-graph g.node');
  check((await page.$$('svg#models-graph g.node')).length === want.length, 'one graph node per node');
  check((await page.$$('svg#models-graph path.edge')).length === j.nodes.reduce((a, n) => a + n.depends_on.length, 0), 'edges');
  await page.screenshot({ path: `${shots}/serve_models_graph.png`, fullPage: true });
  await page.click('svg#models-graph g[data-id="model.jaffle_shop.orders"]');
  await page.waitForSelector('ul#upstream');
  check((await page.textContent('#model-status')) === 'success', 'status on the model page');
  check((await page.$$eval('table#tests tbody tr', trs => trs.length)) === orders.tests.length, 'tests on the model page');
  check((await page.textContent('ul#built-by')).includes('shop.build_orders'), 'built by the DAG task');
  await page.screenshot({ path: `${shots}/serve_models_orders.png`, fullPage: true });
  // from the model to its upstream model, and on to that one's upstream table
  // column-level lineage: orders.amount comes from stg_payments.amount, from the seed raw_payments
  const api = await (await fetch(srv.url + '/api/v1/models/lineage?column=orders.amount')).json();
  check(api.direction === 'upstream' && api.columns.map(c => c.relation + '.' + c.column).join() ===
    'analytics.orders.amount,analytics.stg_payments.amount,analytics.raw_payments.amount', `lineage API: ${JSON.stringify(api)}`);
  const dn = await (await fetch(srv.url + '/api/v1/models/lineage?column=raw_payments.amount&downstream=true')).json();
  check(dn.direction === 'downstream' && dn.columns.some(c => c.relation === 'analytics.orders' && c.column === 'amount'),
    `downstream lineage: ${JSON.stringify(dn)}`);
  const nc = await fetch(srv.url + '/api/v1/models/lineage?column=orders.nope');
  check(nc.status === 404 && (await nc.json()).error.type === 'NoSuchColumnException', 'unknown column 404');
  check((await fetch(srv.url + '/api/v1/models/lineage')).status === 400, 'no column 400');
  check((await fetch(bare.url + '/api/v1/models/lineage?column=orders.amount')).status === 503, 'no models dir 503');
  await page.click('table#columns button.lineage-btn[data-column="amount"][data-dir="upstream"]');
  await page.waitForSelector('ul#lineage-list[data-target="orders.amount"] li');
  const items = await page.$$eval('ul#lineage-list li', lis => lis.map(li => li.dataset.depth + ':' + li.textContent));
  check(items.length === 3 && items[1].startsWith('1:stg_payments.amount') && items[2].startsWith('2:raw_payments.amount'),
    `lineage on the page: ${items}`);
  await page.screenshot({ path: `${shots}/serve_models_lineage.png`, fullPage: true });
  // from a lineage column to its table, and back
  await page.click('ul#lineage-list li[data-depth="2"] a.lineage-table');
  await page.waitForSelector('table#schema');
  check((await page.textContent('h1')) === 'analytics.raw_payments', 'lineage column opens its table');
  await page.goBack();
  await page.waitForSelector('ul#upstream');
  // the dbt docs site of `kiln docs generate`, served at /docs under a CSP naming its inline blocks by hash
  const dr = await fetch(srv.url + '/docs');
  const csp = dr.headers.get('content-security-policy') || '';
  check(dr.status === 200 && dr.headers.get('content-type').startsWith('text/html') &&
    (await dr.text()) === readFileSync(`${P}/target/index.html`, 'utf8'), `/docs serves target/index.html: ${dr.status}`);
  check(/script-src 'sha256-[A-Za-z0-9+/=]{44}'/.test(csp) && !csp.includes('unsafe') && csp.startsWith("default-src 'none'"),
    `docs CSP: ${csp}`);
  check((await fetch(bare.url + '/docs')).status === 503, '/docs without a models project');
  // served live: a model added to the project is in the site at the next request (regenerated once, then reused)
  const before = statSync(`${P}/target/index.html`).mtimeMs;
  writeFileSync(`${P}/models/live_probe.sql`, 'select 1 as probe_column\n');
  const live = await (await fetch(srv.url + '/docs')).text();
  const after = statSync(`${P}/target/index.html`).mtimeMs;
  check(after > before && live.includes('live_probe') && live.includes('probe_column') &&
    live === readFileSync(`${P}/target/index.html`, 'utf8'), `/docs regenerated after a project change (${before} -> ${after})`);
  await fetch(srv.url + '/docs');
  check(statSync(`${P}/target/index.html`).mtimeMs === after, 'an unchanged project is not regenerated');
  // a project that no longer compiles: the last site is still served
  writeFileSync(`${P}/models/live_probe.sql`, "select {{ ref('no_such_model') }}\n");
  const broken = await fetch(srv.url + '/docs');
  check(broken.status === 200 && (await broken.text()).includes('live_probe'), `/docs with a broken project: ${broken.status}`);
  unlinkSync(`${P}/models/live_probe.sql`); // a removed model leaves the site too
  check(!(await (await fetch(srv.url + '/docs')).text()).includes('live_probe'), '/docs after a model was removed');
  const docs = await browser.newPage();
  docs.on('console', m => { if (m.type() === 'error') errors.push('docs: ' + m.text()); });
  docs.on('pageerror', e => errors.push('docs: ' + String(e)));
  await docs.goto(srv.url + '/docs#model.jaffle_shop.customers');
  await docs.waitForFunction(() => document.querySelector('#node-title')?.textContent.startsWith('customers'));
  check((await docs.$$('#columns tr.col')).length > 0, 'docs site rendered by its own script under the CSP');
  await docs.screenshot({ path: `${shots}/serve_models_docs.png`, fullPage: true });
  await docs.close();
  await page.click('ul#upstream a:text("stg_orders")');
  await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'stg_orders');
  await page.click('ul#upstream a.upstream-table');
  await page.waitForSelector('table#schema');
  check((await page.textContent('h1')) === 'analytics.raw_orders', 'upstream table page');
  await page.waitForSelector('table#preview tbody tr');
  await page.screenshot({ path: `${shots}/serve_models_table.png`, fullPage: true });
  check(errors.length === 0, `console errors: ${errors.join(' | ')}`);
  console.log(`serve_models: ok (screenshots in ${shots})`);
} catch (e) {
  console.error('serve_models: FAIL:', e.message);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  await srv.stop('SIGTERM');
  await bare.stop('SIGTERM');
}
