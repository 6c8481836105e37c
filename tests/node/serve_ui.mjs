// serve_ui.mjs KILN_BIN TMPDIR [CHROMIUM] - the tables UI of `kiln serve` in
// headless Chromium (Debian's chromium driven by playwright-core): the list
// page shows every table, clicking one shows its schema, partitioning, refs,
// snapshots and properties as the catalog has them, text from the catalog
// is never interpreted as markup, and the pages log no console errors.
// Also checks /api/v1/tables, /api/v1/openapi.json and the page's CSP.
// Screenshots go to $KILN_ARTIFACTS (when set) or TMPDIR.
import { chromium } from 'playwright-core';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp, exe = '/usr/bin/chromium'] = process.argv.slice(2);
const wh = `${tmp}/wh`;
const shots = process.env.KILN_ARTIFACTS || tmp;
const k = (...a) => run(bin, [...a, '--warehouse', wh]);
await k('table', 'create', 'ui.events', '--schema', 'id long, kind string', '--partition', 'identity(kind)');
await k('table', 'create', 'ui.other', '--schema', 'x int');
await run(bin, ['sql', '--warehouse', wh, '-c', "INSERT INTO ui.events VALUES (1, 'a'), (2, 'b')"]);
await run(bin, ['sql', '--warehouse', wh, '-c', "INSERT INTO ui.events VALUES (3, NULL)"]);
const evil = '<img src=x onerror="window.pwned=1"><b>bold</b>';
await k('table', 'alter', 'ui.events', '--set-property', `note=${evil}`);

const srv = await startServer(bin, ['--warehouse', wh]);
let browser;
try {
  // the JSON API behind the page
  const api = await (await fetch(srv.url + '/api/v1/tables')).json();
  const ev = api.tables.find(t => t.name === 'ui.events');
  check(api.tables.length === 2 && ev && ev.snapshots === 2 && ev.total_records === 3, `api: ${JSON.stringify(api)}`);
  const det = await (await fetch(srv.url + '/api/v1/tables/ui/events')).json();
  check(det.metadata.snapshots.length === 2 && det.metadata.properties.note === evil, 'api table detail');
  const nf = await fetch(srv.url + '/api/v1/tables/ui/nope');
  const nfb = await nf.json();
  check(nf.status === 404 && nfb.error.type === 'NoSuchTableException' && nfb.error.code === 404, 'api 404');
  const pv = await (await fetch(srv.url + '/api/v1/tables/ui/events/preview?limit=10')).json();
  check(pv.columns.join() === 'id,kind' && pv.snapshot_id === det.metadata['current-snapshot-id'], 'preview columns');
  const got = pv.rows.map(r => JSON.stringify(r)).sort().join(' ');
  check(got === '["1","a"] ["2","b"] ["3",null]', `preview rows: ${got}`);
  check((await (await fetch(srv.url + '/api/v1/tables/ui/events/preview?limit=2')).json()).rows.length === 2, 'limit');
  check((await fetch(srv.url + '/api/v1/tables/ui/events/preview?limit=0')).status === 400, 'bad limit');
  const pe = await (await fetch(srv.url + '/api/v1/tables/ui/other/preview')).json();
  check(pe.rows.length === 0 && pe.snapshot_id === -1, `empty table preview ${JSON.stringify(pe)}`);
  const oa = await (await fetch(srv.url + '/api/v1/openapi.json')).json();
  check(/^3\./.test(oa.openapi) && oa.paths['/api/v1/tables'] && oa.paths['/api/v1/tables/{namespace}/{table}'] &&
    oa.paths['/api/v1/openapi.json'] && oa.paths['/api/v1/tables/{namespace}/{table}/preview'],
  'openapi document lists the API');
  const page0 = await fetch(srv.url + '/');
  check(/default-src 'self'/.test(page0.headers.get('content-security-policy') || ''), 'CSP on the page');

  browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage();
  const errors = [];
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', e => errors.push(String(e)));
  await page.goto(srv.url + '/');
  await page.waitForSelector('table#tables tbody tr');
  const names = await page.$$eval('table#tables tbody tr td:first-child', tds => tds.map(td => td.textContent));
  check(names.join() === 'ui.events,ui.other', `list page: ${names}`);
  const evRow = await page.$$eval('table#tables tbody tr', trs => trs[0].textContent);
  check(evRow.includes('2') && evRow.includes('3'), `list row shows snapshots and rows: ${evRow}`);
  await page.screenshot({ path: `${shots}/serve_ui_tables.png`, fullPage: true });

  await page.click('text=ui.events');
  await page.waitForSelector('table#snapshots tbody tr');
  const snaps = await page.$$eval('table#snapshots tbody tr', trs => trs.map(tr =>
    Array.from(tr.children).map(td => td.textContent)));
  check(snaps.length === 2, `snapshots rows ${snaps.length}`);
  const ids = det.metadata.snapshots.map(s => String(s['snapshot-id'])).reverse();
  check(snaps.map(r => r[0]).join() === ids.join(), 'snapshot ids, newest first');
  check(snaps[0][4] === 'append' && snaps[0][5] === '1' && snaps[0][6] === '3', `latest snapshot row ${snaps[0]}`);
  const cols = await page.$$eval('table#schema tbody tr', trs => trs.map(tr => tr.children[1].textContent));
  check(cols.join() === 'id,kind', `schema ${cols}`);
  const part = await page.$$eval('table#partitioning tbody tr', trs => trs.map(tr => tr.textContent));
  check(part.length === 1 && part[0].includes('identity') && part[0].includes('kind'), `partitioning ${part}`);
  const refs = await page.$$eval('table#refs tbody tr', trs => trs.map(tr => tr.children[0].textContent));
  check(refs.includes('main'), 'main ref');
  const note = await page.$$eval('table#properties tbody tr', trs =>
    trs.filter(tr => tr.children[0].textContent === 'note').map(tr => ({
      text: tr.children[1].textContent, elements: tr.children[1].querySelectorAll('*').length })));
  check(note.length === 1 && note[0].text === evil && note[0].elements === 0, `property shown as text: ${JSON.stringify(note)}`);
  check(!(await page.evaluate(() => window.pwned)), 'catalog text must not run as markup');
  await page.waitForSelector('table#preview tbody tr');
  const prev = await page.$$eval('table#preview tbody tr', trs => trs.map(tr =>
    Array.from(tr.children).map(td => td.textContent).join('|')).sort().join(' '));
  check(prev === '1|a 2|b 3|NULL', `preview in the page: ${prev}`);
  await page.screenshot({ path: `${shots}/serve_ui_table.png`, fullPage: true });

  await page.goto(srv.url + '/#/table/ui.nope');
  await page.waitForSelector('p.err');
  check((await page.textContent('p.err')).includes('ui.nope'), 'missing table shows the error');
  errors.splice(0, errors.length, ...errors.filter(e => !/404/.test(e))); // the deliberate 404 fetch
  check(errors.length === 0, `console errors: ${errors.join(' | ')}`);
  console.log(`serve_ui: ok (screenshots in ${shots})`);
} catch (e) {
  console.error('serve_ui: FAIL:', e.message);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  await srv.stop('SIGTERM');
}
