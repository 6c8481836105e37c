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
// refs and history: a tag on ui.hist's first snapshot, a branch with retention, and a rollback that
// leaves the second snapshot off main's line (the history page says "rolled back")
await k('table', 'create', 'ui.hist', '--schema', 'x int');
for (const v of [1, 2]) await run(bin, ['sql', '--warehouse', wh, '-c', `INSERT INTO ui.hist VALUES (${v})`]);
const hs = JSON.parse((await k('table', 'snapshots', 'ui.hist', '--json')).stdout);
await k('table', 'tag', 'ui.hist', 'first', '--snapshot', String(hs[0].snapshot_id), '--max-ref-age-ms', '172800000');
await k('table', 'branch', 'ui.hist', 'dev', '--min-snapshots', '3');
await k('table', 'rollback', 'ui.hist', 'first');
await run(bin, ['sql', '--warehouse', wh, '-c', 'INSERT INTO ui.hist VALUES (30), (40)']);
const histFiles = (await k('table', 'files', 'ui.hist', '--json')).stdout.trim().split('\n').map(l => JSON.parse(l));

const srv = await startServer(bin, ['--warehouse', wh]);
let browser;
try {
  // the JSON API behind the page
  const api = await (await fetch(srv.url + '/api/v1/tables')).json();
  const ev = api.tables.find(t => t.name === 'ui.events');
  check(api.tables.length === 3 && ev && ev.snapshots === 2 && ev.total_records === 3, `api: ${JSON.stringify(api)}`);
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
  const evFiles = (await k('table', 'files', 'ui.events', '--json')).stdout.trim().split('\n').map(l => JSON.parse(l));
  check(evFiles.length === 3 && pv.data_files === evFiles.length && pv.delete_files === 0 && pv.manifests === 2,
    `file counts from planning: ${JSON.stringify(pv)} vs kiln table files: ${evFiles.length}`);
  // time travel in the preview: by tag, by branch, by snapshot id; unknown ref 404, both given 400
  const hp = async q => (await (await fetch(srv.url + '/api/v1/tables/ui/hist/preview' + q)).json());
  const vals = p => p.rows.map(r => r[0]).sort((a, b) => a - b).join();
  const head = await hp('');
  check(vals(head) === '1,30,40' && head.data_files === histFiles.length, `hist head ${JSON.stringify(head)} vs files ${histFiles.length}`);
  check(vals(await hp('?ref=first')) === '1' && (await hp('?ref=first')).snapshot_id === hs[0].snapshot_id, 'preview at a tag');
  check(vals(await hp('?ref=dev')) === '1,2', 'preview at a branch');
  check(vals(await hp('?as_of=' + hs[1].snapshot_id)) === '1,2', 'preview at a snapshot id');
  const nr = await fetch(srv.url + '/api/v1/tables/ui/hist/preview?ref=nope');
  check(nr.status === 404 && (await nr.json()).error.type === 'NoSuchSnapshotException', 'unknown ref');
  check((await fetch(srv.url + '/api/v1/tables/ui/hist/preview?ref=dev&as_of=1')).status === 400, 'ref and as_of');
  const pe = await (await fetch(srv.url + '/api/v1/tables/ui/other/preview')).json();
  check(pe.rows.length === 0 && pe.snapshot_id === -1, `empty table preview ${JSON.stringify(pe)}`);
  const oa = await (await fetch(srv.url + '/api/v1/openapi.json')).json();
  check(/^3\./.test(oa.openapi) && oa.paths['/api/v1/tables'] && oa.paths['/api/v1/tables/{namespace}/{table}'] &&
    oa.paths['/api/v1/openapi.json'] && oa.paths['/api/v1/tables/{namespace}/{table}/preview'],
  'openapi document lists the API');
  check(oa.paths['/api/v1/tables/{namespace}/{table}/preview'].get.parameters.some(x => x.name === 'as_of'), 'openapi: as_of');
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
  check(names.join() === 'ui.events,ui.hist,ui.other', `list page: ${names}`);
  const evRow = await page.$$eval('table#tables tbody tr', trs => trs[0].textContent);
  check(evRow.includes('2') && evRow.includes('3'), `list row shows snapshots and rows: ${evRow}`);
  await page.screenshot({ path: `${shots}/serve_ui_tables.png`, fullPage: true });

  await page.click('text=ui.events');
  await page.waitForFunction(() => document.querySelector('#main h1')?.textContent === 'ui.events' &&
    document.querySelectorAll('table#snapshots tbody tr').length > 0);
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
  await page.waitForSelector('#preview-box[data-at=""] table#preview tbody tr');
  const prev = await page.$$eval('table#preview tbody tr', trs => trs.map(tr =>
    Array.from(tr.children).map(td => td.textContent).join('|')).sort().join(' '));
  check(prev === '1|a 2|b 3|NULL', `preview in the page: ${prev}`);
  await page.screenshot({ path: `${shots}/serve_ui_table.png`, fullPage: true });

  check((await page.textContent('#table-counts')).startsWith('3 rows in 3 data files'), 'file and row counts');
  check((await page.textContent('#preview-info')).includes('3 data files'), 'preview names its files');

  // branches, tags, history and a preview at a tag
  // a hash change re-renders in place: wait for ui.hist's own page, not the rows still shown from ui.events
  await page.goto(srv.url + '/#/table/ui.hist');
  await page.waitForFunction(() => document.querySelector('#main h1')?.textContent === 'ui.hist' &&
    document.querySelectorAll('table#history tbody tr').length > 0);
  const refRows = await page.$$eval('table#refs tbody tr', trs => trs.map(tr =>
    Array.from(tr.children).map(td => td.textContent).join('|')));
  check(refRows.length === 3 && refRows[0].startsWith('main|branch|') && refRows[1].startsWith('dev|branch|') &&
    refRows[1].endsWith('|3') && refRows[2].startsWith('first|tag|' + hs[0].snapshot_id) && refRows[2].includes('|2 d|'),
  `refs: ${refRows}`);
  const hist = await page.$$eval('table#history tbody tr', trs => trs.map(tr =>
    tr.children[1].textContent + ':' + tr.children[3].textContent));
  const hs2 = JSON.parse((await k('table', 'history', 'ui.hist', '--json')).stdout);
  check(hist.length === hs2.length && hist.length === 4, `history rows ${hist} vs ${JSON.stringify(hs2)}`);
  check(hist.includes(hs[1].snapshot_id + ':rolled back') && hist.includes(hs[0].snapshot_id + ':yes'), `history ${hist}`);
  await page.selectOption('#preview-at', 'ref:first');
  await page.waitForSelector('#preview-box[data-at="ref:first"]');
  const atTag = await page.$$eval('table#preview tbody tr', trs => trs.map(tr => tr.textContent));
  check(atTag.join() === '1', `preview at tag first: ${atTag}`);
  await page.screenshot({ path: `${shots}/serve_ui_refs.png`, fullPage: true });

  await page.goto(srv.url + '/#/table/ui.nope');
  await page.waitForFunction(() => (document.querySelector('p.err')?.textContent || '').includes('ui.nope'));
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
