'use strict';
const main = document.getElementById('main');
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
function grid(cols, rows, id) {
  const t = el('table', id ? { id } : {});
  t.append(el('thead', {}, el('tr', {}, ...cols.map(c => el('th', {}, c)))));
  const b = el('tbody');
  for (const r of rows) b.append(el('tr', {}, ...r.map(v => v instanceof Node ? el('td', {}, v) :
    el('td', typeof v === 'number' ? { class: 'num' } : {}, v === null || v === undefined ? '' : v))));
  t.append(b);
  return t;
}
const when = ms => ms > 0 ? new Date(ms).toISOString().replace('.000Z', 'Z') : '';
const typeText = t => typeof t === 'string' ? t : JSON.stringify(t);
async function getJson(url) {
  const r = await fetch(url);
  const j = await r.json();
  if (!r.ok) throw new Error(j.error ? j.error.message : r.status);
  return j;
}
async function listPage() {
  const j = await getJson('/api/v1/tables');
  main.replaceChildren(el('h1', {}, 'Tables'));
  if (!j.tables.length) { main.append(el('p', { class: 'muted' }, 'No tables in this warehouse.')); return; }
  main.append(grid(['table', 'snapshots', 'current snapshot', 'rows', 'last updated'], j.tables.map(t => [
    el('a', { href: '#/table/' + encodeURIComponent(t.name) }, t.name),
    t.error ? el('span', { class: 'err' }, t.error) : t.snapshots,
    t.current_snapshot_id >= 0 ? String(t.current_snapshot_id) : '',
    t.total_records === null || t.total_records === undefined ? '' : Number(t.total_records),
    when(t.last_updated_ms)]), 'tables'));
}
const SNAP_PAGE = 50;
const num = v => v === undefined || v === null ? '' : Number(v);
function bytes(v) {
  if (v === undefined || v === null) return '';
  const n = Number(v), u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0, x = n;
  while (x >= 1024 && i < u.length - 1) { x /= 1024; i++; }
  return i ? x.toFixed(1) + ' ' + u[i] : n + ' B';
}
async function tablePage(name) {
  const [ns, tb] = name.split('.');
  const tUrl = '/api/v1/tables/' + encodeURIComponent(ns) + '/' + encodeURIComponent(tb);
  const my = location.hash;
  const j = await getJson(tUrl);
  if (location.hash !== my) return; // navigated away meanwhile: the newer page renders, not this one
  const m = j.metadata;
  const schema = m.schemas.find(s => s['schema-id'] === m['current-schema-id']) || m.schemas[0];
  const byId = new Map(schema.fields.map(f => [f.id, f.name]));
  const spec = (m['partition-specs'] || []).find(s => s['spec-id'] === m['default-spec-id']);
  const snaps = (m.snapshots || []).slice().reverse(); // newest first
  const byIdSnap = new Map(snaps.map(s => [s['snapshot-id'], s]));
  const cur = byIdSnap.get(m['current-snapshot-id']);
  const sum = cur && cur.summary ? cur.summary : {};
  // main's ancestry, to tell rolled-back history from the current line
  const line = new Set();
  for (let s = cur; s && !line.has(s['snapshot-id']); s = byIdSnap.get(s['parent-snapshot-id'])) line.add(s['snapshot-id']);
  const refs = Object.entries(m.refs || {}).sort((a, b) => (a[0] === 'main' ? -1 : b[0] === 'main' ? 1 :
    a[1].type.localeCompare(b[1].type) || a[0].localeCompare(b[0])));
  const age = ms => ms === undefined ? '' : (ms / 86400000).toFixed(ms % 86400000 ? 2 : 0) + ' d';
  let snapPage = 0;
  const snapBox = el('div', { id: 'snapshots-box' });
  const drawSnaps = () => {
    const pages = Math.max(1, Math.ceil(snaps.length / SNAP_PAGE));
    const older = el('button', { id: 'snap-older' }, '← older'), newer = el('button', { id: 'snap-newer' }, 'newer →');
    older.disabled = snapPage + 1 >= pages; newer.disabled = snapPage === 0;
    older.addEventListener('click', () => { snapPage++; drawSnaps(); });
    newer.addEventListener('click', () => { snapPage--; drawSnaps(); });
    snapBox.replaceChildren(grid(['snapshot', 'parent', 'sequence', 'committed', 'operation', 'added rows', 'total rows',
      'data files', 'delete files', 'size'],
    snaps.slice(snapPage * SNAP_PAGE, (snapPage + 1) * SNAP_PAGE).map(s => {
      const u = s.summary || {};
      return [String(s['snapshot-id']), s['parent-snapshot-id'] === undefined ? '' : String(s['parent-snapshot-id']),
        s['sequence-number'], when(s['timestamp-ms']), u.operation || '', num(u['added-records']), num(u['total-records']),
        num(u['total-data-files']), num(u['total-delete-files']), bytes(u['total-files-size'])];
    }), 'snapshots'),
    snaps.length > SNAP_PAGE ? el('p', { class: 'pager' }, older, ' ', el('span', { id: 'snap-page-info' }, 'page ' +
      (snapPage + 1) + ' of ' + pages + ' (' + snaps.length + ' snapshots, newest first)'), ' ', newer) : '');
  };
  drawSnaps();
  const at = el('select', { id: 'preview-at' }, el('option', { value: '' }, 'main (head)'),
    ...refs.filter(([k]) => k !== 'main').map(([k, r]) => el('option', { value: 'ref:' + k }, r.type + ' ' + k)),
    ...snaps.map(s => el('option', { value: 'as_of:' + s['snapshot-id'] }, 'snapshot ' + s['snapshot-id'] + ' (' +
      when(s['timestamp-ms']) + ')')));
  main.replaceChildren(el('h1', {}, j.name),
    el('p', { class: 'muted' }, 'metadata ', el('code', {}, j.metadata_location)),
    el('p', { id: 'table-counts' }, cur ? num(sum['total-records']) + ' rows in ' + num(sum['total-data-files']) +
      ' data files (' + bytes(sum['total-files-size']) + '), ' + num(sum['total-delete-files']) + ' delete files · ' +
      snaps.length + ' snapshots · ' + refs.length + ' refs' : 'no snapshot yet'),
    el('h2', {}, 'Schema ' + schema['schema-id']),
    grid(['id', 'column', 'type', 'required'], schema.fields.map(f => [f.id, f.name, typeText(f.type),
      f.required ? 'yes' : 'no']), 'schema'),
    el('h2', {}, 'Partitioning'),
    spec && spec.fields.length ? grid(['field', 'transform', 'source'], spec.fields.map(f => [f.name,
      f.transform, byId.get(f['source-id']) || f['source-id']]), 'partitioning')
      : el('p', { class: 'muted' }, 'unpartitioned'),
    el('h2', {}, 'Branches and tags'),
    grid(['name', 'type', 'snapshot', 'committed', 'max ref age', 'max snapshot age', 'min snapshots kept'],
      refs.map(([k, r]) => {
        const s = byIdSnap.get(r['snapshot-id']);
        return [k, r.type, String(r['snapshot-id']), s ? when(s['timestamp-ms']) : '', age(r['max-ref-age-ms']),
          age(r['max-snapshot-age-ms']), num(r['min-snapshots-to-keep'])];
      }), 'refs'),
    el('h2', {}, 'History'),
    el('p', { class: 'muted' }, 'when each snapshot became main\'s current one; rolled back = no longer an ancestor of main'),
    grid(['became current', 'snapshot', 'operation', 'on main'], (m['snapshot-log'] || []).slice().reverse().map(h => {
      const s = byIdSnap.get(h['snapshot-id']);
      return [when(h['timestamp-ms']), String(h['snapshot-id']), s && s.summary ? s.summary.operation : '(expired)',
        line.has(h['snapshot-id']) ? 'yes' : 'rolled back'];
    }), 'history'),
    el('h2', {}, 'Snapshots'), snapBox,
    el('h2', {}, 'Properties'),
    grid(['key', 'value'], Object.entries(m.properties || {}), 'properties'),
    el('h2', {}, 'Preview'), el('p', {}, 'at ', at), el('div', { id: 'preview-box' }, el('p', { class: 'muted' }, 'Loading…')));
  const showPreview = async () => {
    const box = document.getElementById('preview-box');
    const v = at.value, q = v.startsWith('ref:') ? '&ref=' + enc(v.slice(4)) : v.startsWith('as_of:') ?
      '&as_of=' + enc(v.slice(6)) : '';
    try {
      const p = await getJson(tUrl + '/preview?limit=20' + q);
      if (!box.isConnected || at.value !== v) return; // another page or another choice since
      box.replaceChildren(el('p', { class: 'muted', id: 'preview-info' }, 'snapshot ' + p.snapshot_id + ': ' +
        p.data_files + ' data files, ' + p.delete_files + ' delete files; first ' + p.rows.length + ' rows'),
      p.rows.length ? grid(p.columns, p.rows.map(r => r.map(v => v === null ? el('span', { class: 'muted' }, 'NULL') : v)),
        'preview') : el('p', { class: 'muted' }, 'no rows'));
      box.setAttribute('data-at', v);
    } catch (e) { box.replaceChildren(el('p', { class: 'err' }, 'Error: ' + e.message)); }
  };
  at.addEventListener('change', showPreview);
  await showPreview();
}
const enc = encodeURIComponent;
const STATES = ['success', 'running', 'failed', 'upstream_failed', 'up_for_retry', 'up_for_reschedule', 'queued',
  'skipped', 'none'];
function stateBox(state, href, title) {
  const cls = 'st st-' + (state || 'none');
  const attrs = { class: cls, 'data-state': state || 'none', title: title || state || 'no state' };
  if (href) { attrs.href = href; return el('a', attrs); }
  return el('span', attrs);
}
function legend() {
  return el('p', { class: 'legend' }, ...STATES.map(s => el('span', {}, stateBox(s), ' ' + s)));
}
// The token for write requests: typed once, kept for this tab only.
function tokenInput() {
  const t = el('input', { type: 'password', id: 'token', placeholder: 'bearer token', size: '18',
    autocomplete: 'off' });
  t.value = sessionStorage.getItem('kiln-token') || '';
  t.addEventListener('change', () => sessionStorage.setItem('kiln-token', t.value));
  return t;
}
async function post(url, body) {
  const tok = (document.getElementById('token') || {}).value || sessionStorage.getItem('kiln-token') || '';
  if (tok) sessionStorage.setItem('kiln-token', tok);
  const r = await fetch(url, { method: 'POST', headers: Object.assign({ 'Content-Type': 'application/json' },
    tok ? { Authorization: 'Bearer ' + tok } : {}), body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(j.error ? j.error.message : r.status);
  return j;
}
function say(text, cls) {
  const m = document.getElementById('action-msg');
  if (m) { m.className = cls || ''; m.textContent = text; }
}
const dagUrl = id => '/api/v1/dags/' + enc(id);
const tiHash = (dag, date, task) => '#/ti/' + enc(dag) + '/' + enc(date) + '/' + enc(task);
async function dagsPage() {
  const j = await getJson('/api/v1/dags');
  main.replaceChildren(el('h1', {}, 'DAGs'), el('p', { class: 'muted' }, 'project ', el('code', {}, j.project)));
  if (!j.dags.length) main.append(el('p', { class: 'muted' }, 'No DAGs in this project.'));
  else main.append(grid(['DAG', 'schedule', 'state', 'tasks', 'runs', 'recent runs', 'next run'], j.dags.map(d => [
    el('a', { href: '#/dag/' + enc(d.dag_id) }, d.dag_id), d.schedule || 'manual', d.paused ? 'paused' : 'active',
    d.tasks, d.runs, el('span', {}, ...d.recent_runs.map(r => stateBox(r.state, '#/dag/' + enc(d.dag_id),
      r.logical_date + ': ' + r.state))), d.next_run_at || '']), 'dags'));
  if (j.problems.length) {
    main.append(el('h2', {}, 'Problems'), el('ul', { id: 'problems' }, ...j.problems.map(p => el('li', { class: 'err' }, p))));
  }
}
// Backfill progress: runs by state, and the share finished.
// by = runs by state over all the DAG's runs (run_states of a paged answer).
function runSummary(by) {
  const total = Object.values(by).reduce((a, b) => a + b, 0);
  const done = (by.success || 0) + (by.failed || 0);
  const p = el('p', { id: 'run-summary' }, total + ' runs: ' + Object.entries(by).map(([k, v]) => v + ' ' + k).join(', '));
  if (total) {
    const pct = Math.round(100 * done / total);
    p.append(' · ', el('progress', { max: String(total), value: String(done), title: pct + '% finished' }),
      ' ' + pct + '% finished');
  }
  return p;
}
const PAGE = 30;
let gridPage = { dag: null, page: 0 };
async function dagPage(id) {
  if (gridPage.dag !== id) gridPage = { dag: id, page: 0 };
  const j = await getJson(dagUrl(id) + '?limit=' + PAGE + '&offset=' + gridPage.page * PAGE);
  const runs = j.runs;
  const pages = Math.max(1, Math.ceil(j.total_runs / PAGE));
  const older = el('button', { id: 'older' }, '← older'), newer = el('button', { id: 'newer' }, 'newer →');
  if (gridPage.page + 1 >= pages) older.disabled = true;
  if (gridPage.page === 0) newer.disabled = true;
  older.addEventListener('click', () => { gridPage.page++; dagPage(id); });
  newer.addEventListener('click', () => { gridPage.page--; dagPage(id); });
  const date = el('input', { type: 'date', id: 'trigger-date' });
  date.value = new Date().toISOString().slice(0, 10);
  const trig = el('button', { id: 'trigger' }, 'Trigger run');
  const pause = el('button', { id: 'pause' }, j.paused ? 'Unpause' : 'Pause');
  main.replaceChildren(el('h1', {}, j.dag_id),
    el('p', { class: 'muted' }, (j.schedule || 'manual runs only') + (j.paused ? ' · paused' : '') +
      (j.next_run_at ? ' · next run ' + j.next_run_at : '') + ' · ', el('code', {}, j.file)),
    el('div', { class: 'actions' }, 'logical date', date, trig, pause, tokenInput(), el('span', { id: 'action-msg' })),
    runSummary(j.run_states), el('h2', {}, 'Runs × tasks'),
    el('p', { class: 'pager' }, older, ' ', el('span', { id: 'page-info' }, 'page ' + (gridPage.page + 1) + ' of ' +
      pages + ' (' + j.total_runs + ' runs, newest last)'), ' ', newer));
  trig.addEventListener('click', async () => {
    if (!date.value) { say('pick a date', 'err'); return; }
    if (!confirm('Trigger a run of ' + j.dag_id + ' for ' + date.value + '?')) return;
    try {
      const r = await post(dagUrl(id) + '/runs', { logical_date: date.value });
      say('run for ' + r.logical_date + ' started', 'ok');
      waitForRun(id, r.logical_date);
    } catch (e) { say('Error: ' + e.message, 'err'); }
  });
  pause.addEventListener('click', async () => {
    if (!confirm((j.paused ? 'Unpause ' : 'Pause ') + j.dag_id + '?')) return;
    try { await post(dagUrl(id) + '/paused', { paused: !j.paused }); await route(); } catch (e) { say('Error: ' + e.message, 'err'); }
  });
  if (!runs.length) { main.append(el('p', { class: 'muted', id: 'no-runs' }, 'No runs yet.')); return; }
  const head = el('tr', {}, el('th', {}, 'task'), ...runs.map(r => el('th', { class: 'run', title: r.run_id },
    r.logical_date.replace('T00:00:00Z', ''))));
  const runRow = el('tr', { class: 'run-states' }, el('td', {}, el('b', {}, 'run')),
    ...runs.map(r => el('td', {}, stateBox(r.state, null, r.run_id + ': ' + r.state))));
  const body = el('tbody', {}, runRow, ...j.tasks.map(t => el('tr', { 'data-task': t.task_id }, el('td', {}, t.task_id),
    ...runs.map(r => {
      const ti = r.tasks.find(x => x.task === t.task_id);
      const st = ti ? ti.state : null;
      return el('td', {}, stateBox(st, tiHash(id, r.logical_date, t.task_id),
        t.task_id + ' ' + r.logical_date + ': ' + (st || 'no state') + (ti && ti.note ? ' (' + ti.note + ')' : '')));
    }))));
  main.append(el('table', { id: 'grid', class: 'grid' }, el('thead', {}, head), body), legend(),
    el('h2', {}, 'Tasks'), grid(['task', 'type', 'needs', 'trigger rule', 'retries', 'produces', 'consumes'],
      j.tasks.map(t => [t.task_id, t.type, t.needs.join(', '), t.trigger_rule, t.retries, t.produces.join(', '),
        t.consumes.join(', ')]), 'tasks'));
}
// After a trigger: reload the grid until the run shows up and ends.
async function waitForRun(id, ld) {
  for (let i = 0; i < 600; i++) {
    await new Promise(r => setTimeout(r, 500));
    if (location.hash !== '#/dag/' + enc(id)) return;
    const j = await getJson(dagUrl(id) + '/runs');
    const r = j.runs.find(x => x.logical_date === ld);
    if (r && r.state !== 'running' && r.state !== 'queued') {
      gridPage = { dag: id, page: 0 }; await dagPage(id); say('run ' + ld + ': ' + r.state); return;
    }
  }
}
const LIVE = new Set(['running', 'queued', 'up_for_retry', 'up_for_reschedule', null]);
let tailTimer = null;
async function tiPage(dag, date, task, tryNo) {
  const base = dagUrl(dag) + '/runs/' + enc(date) + '/tasks/' + enc(task);
  const j = await getJson(base);
  const clear = el('button', { id: 'clear' }, 'Clear');
  const markOk = el('button', { id: 'mark-success' }, 'Mark success');
  const markFail = el('button', { id: 'mark-failed' }, 'Mark failed');
  main.replaceChildren(el('h1', {}, dag + ' · ' + task),
    el('p', {}, el('a', { href: '#/dag/' + enc(dag) }, '← ' + dag), ' · logical date ', el('code', {}, j.logical_date),
      ' · run ', el('code', {}, j.run_id), ' (', j.run_state, ')'),
    el('p', {}, 'state ', stateBox(j.state), ' ', el('b', { id: 'ti-state' }, j.state || 'no state'),
      j.note ? el('span', { class: 'muted' }, ' — ' + j.note) : ''),
    el('div', { class: 'actions' }, clear, markOk, markFail, tokenInput(), el('span', { id: 'action-msg' })),
    el('h2', {}, 'Tries'),
    j.tries.length ? grid(['try', 'state', 'started', 'ended', 'exit', 'ms', 'note'], j.tries.map(t => [
      el('a', { href: tiHash(dag, date, task) + '/' + t.try_number }, String(t.try_number)), t.state, t.started || '',
      t.ended || '', t.exit_code === null ? '' : t.exit_code, t.duration_ms === null ? '' : t.duration_ms,
      t.note || '']), 'tries') : el('p', { class: 'muted' }, 'not run yet'),
    el('h2', { id: 'log-title' }, 'Log'), el('pre', { class: 'log', id: 'log' }, ''));
  clear.addEventListener('click', async () => {
    if (!confirm('Clear ' + task + ' for ' + j.logical_date + '? The next run executes it again.')) return;
    try { const r = await post(dagUrl(dag) + '/clear', { task_id: task, start_date: j.logical_date });
      say('cleared ' + r.cleared, 'ok'); } catch (e) { say('Error: ' + e.message, 'err'); }
  });
  for (const [b, st, why] of [[markOk, 'success', 'The next run skips it and its downstream tasks can run.'],
    [markFail, 'failed', 'The next run executes it again.']]) {
    b.addEventListener('click', async () => {
      if (!confirm('Mark ' + task + ' for ' + j.logical_date + ' ' + st + '? ' + why)) return;
      try {
        await post(base + '/state', { state: st });
        await tiPage(dag, date, task, tryNo); say('marked ' + st, 'ok');
      } catch (e) { say('Error: ' + e.message, 'err'); }
    });
  }
  if (!j.tries.length) return;
  const want = tryNo || j.tries[j.tries.length - 1].try_number;
  const pre = document.getElementById('log');
  let next = null, state = j.state;
  const my = location.hash;
  async function pull() {
    const q = '?try=' + want + (next === null ? '' : '&offset=' + next);
    const lg = await getJson(base + '/log' + q);
    if (next === null && lg.offset > 0) pre.append('… (' + lg.offset + ' earlier bytes not shown)\n');
    pre.append(lg.text);
    next = lg.next_offset;
    document.getElementById('log-title').textContent = 'Log of try ' + lg.try_number + ' (' + lg.size + ' bytes)';
    return lg;
  }
  await pull();
  // live tail: while the try can still write, poll from where we stopped
  const latest = want === j.tries[j.tries.length - 1].try_number;
  clearTimeout(tailTimer);
  const tick = async () => {
    if (location.hash !== my) return;
    const lg = await pull();
    const t = await getJson(base);
    state = t.state;
    document.getElementById('ti-state').textContent = state || 'no state';
    if (LIVE.has(state) || lg.next_offset < lg.size) tailTimer = setTimeout(tick, 1000);
    else pre.setAttribute('data-complete', '1');
  };
  if (latest && LIVE.has(state)) tailTimer = setTimeout(tick, 1000);
  else pre.setAttribute('data-complete', '1');
}
const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
// A left-to-right DAG picture: columns by longest path from a source.
// nodes: {id, kind, label, href, title, dot}; edges: {from, to, kind}.
function drawGraph(nodes, edges, id) {
  const layer = new Map(nodes.map(n => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const e of edges) if (layer.has(e.from) && layer.has(e.to) && layer.get(e.to) <= layer.get(e.from)) {
      layer.set(e.to, layer.get(e.from) + 1); moved = true;
    }
    if (!moved) break;
  }
  const cols = [];
  for (const n of nodes) (cols[layer.get(n.id)] = cols[layer.get(n.id)] || []).push(n);
  const W = 200, H = 34, GX = 70, GY = 22, pos = new Map();
  cols.forEach((c, x) => c.forEach((n, y) => pos.set(n.id, { x: 10 + x * (W + GX), y: 10 + y * (H + GY) })));
  const width = 20 + cols.length * (W + GX), height = 20 + Math.max(1, ...cols.map(c => c.length)) * (H + GY);
  const s = svg('svg', { class: 'lineage', id, width, height, viewBox: `0 0 ${width} ${height}` });
  for (const e of edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    s.append(svg('path', { class: 'edge edge-' + e.kind, d: `M${x1},${y1} C${x1 + 35},${y1} ${x2 - 35},${y2} ${x2},${y2}` }));
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const label = n.label.length > 30 ? '…' + n.label.slice(-29) : n.label;
    const g = svg('g', { class: 'node node-' + n.kind, 'data-id': n.id },
      svg('rect', { x: p.x, y: p.y, width: W, height: H, rx: 5 }),
      svg('text', { x: p.x + 8, y: p.y + 21 }, label), svg('title', {}, n.title || n.label));
    if (n.dot) g.append(svg('circle', { cx: p.x + W - 10, cy: p.y + 10, r: 4, fill: n.dot }));
    s.append(n.href ? svg('a', { href: n.href }, g) : g);
  }
  return s;
}
async function lineagePage() {
  const j = await getJson('/api/v1/lineage');
  main.replaceChildren(el('h1', {}, 'Lineage'), el('p', { class: 'muted' },
    'jobs (DAG tasks) and the datasets they consume and produce; dashed: task order. ',
    j.lineage_file ? 'OpenLineage events: ' + j.lineage_file : 'OpenLineage events are off (kiln.yml flow.lineage.file).'));
  if (!j.nodes.length) { main.append(el('p', { class: 'muted' }, 'Nothing declares produces/consumes yet.')); return; }
  main.append(drawGraph(j.nodes.map(n => ({ id: n.id, kind: n.kind, label: n.name,
    href: n.kind === 'job' ? '#/dag/' + enc(n.dag_id) : n.table ? '#/table/' + enc(n.table) : null,
    title: n.name + (n.last_event ? ' — last ' + n.last_event.type + ' ' + n.last_event.time : ''),
    dot: n.last_event ? (n.last_event.type === 'FAIL' ? '#d9352b' : n.last_event.type === 'COMPLETE' ? '#2e9e44' : '#35a1e0')
      : null })), j.edges, 'lineage'));
  main.append(el('h2', {}, 'Nodes'), grid(['node', 'kind', 'links to', 'last OpenLineage event', 'last materialized'],
    j.nodes.map(n => [n.name, n.kind, n.kind === 'job' ? el('a', { href: '#/dag/' + enc(n.dag_id) }, 'DAG ' + n.dag_id) :
      n.table ? el('a', { href: '#/table/' + enc(n.table) }, 'table ' + n.table) : '',
    n.last_event ? n.last_event.type + ' ' + n.last_event.time : '', n.last_materialized || '']), 'lineage-nodes'));
}
const STATUS_DOT = { success: '#2e9e44', pass: '#2e9e44', error: '#d9352b', fail: '#d9352b', warn: '#f5d442',
  skipped: '#9e9e9e' };
const modelHash = id => '#/model/' + enc(id);
async function modelsPage() {
  const j = await getJson('/api/v1/models');
  main.replaceChildren(el('h1', {}, 'Models · ' + (j.project || '')), el('p', { class: 'muted' },
    'from the project\'s artifacts: manifest ' + (j.generated_at || '?') + ', last run ' + (j.run_generated_at || 'none')));
  const ids = new Set(j.nodes.map(n => n.unique_id));
  main.append(drawGraph(j.nodes.map(n => ({ id: n.unique_id, kind: n.resource_type === 'model' ? 'job' : 'dataset',
    label: n.name, href: modelHash(n.unique_id), title: n.unique_id + (n.status ? ' — ' + n.status : ''),
    dot: STATUS_DOT[n.status] || null })),
  j.nodes.flatMap(n => n.depends_on.filter(u => ids.has(u)).map(u => ({ from: u, to: n.unique_id, kind: 'input' }))),
  'models-graph'));
  main.append(el('h2', {}, 'Nodes'), grid(['node', 'type', 'materialized', 'relation', 'status', 'tests'],
    j.nodes.map(n => [el('a', { href: modelHash(n.unique_id) }, n.name), n.resource_type, n.materialized || '',
      n.relation_name || '', n.status || '', n.tests.length ? n.tests.filter(t => t.status === 'pass').length + '/' +
      n.tests.length + ' pass' : '']), 'models'));
}
async function modelPage(id) {
  const j = await getJson('/api/v1/models');
  const n = j.nodes.find(x => x.unique_id === id);
  if (!n) throw new Error('no node ' + id + ' in the manifest');
  const byId = new Map(j.nodes.map(x => [x.unique_id, x]));
  const link = u => byId.has(u) ? el('a', { href: modelHash(u) }, byId.get(u).name) : el('span', {}, u);
  const down = j.nodes.filter(x => x.depends_on.includes(id));
  main.replaceChildren(el('h1', {}, n.name), el('p', { class: 'muted' }, n.resource_type + ' · ' + (n.path || '') +
    (n.materialized ? ' · materialized ' + n.materialized : '')),
  el('p', {}, 'relation ', n.relation_name ? el('a', { href: '#/table/' + enc(n.relation_name), id: 'relation' },
    n.relation_name) : '—', ' · status ', el('b', { id: 'model-status' }, n.status || 'not run'),
    n.execution_time !== undefined ? ' (' + n.execution_time.toFixed(3) + ' s)' : ''),
  n.description ? el('p', {}, n.description) : '',
  el('h2', {}, 'Upstream'), n.depends_on.length ? el('ul', { id: 'upstream' }, ...n.depends_on.map(u => el('li', {},
    link(u), byId.has(u) && byId.get(u).relation_name ? el('span', {}, ' · table ',
      el('a', { href: '#/table/' + enc(byId.get(u).relation_name), class: 'upstream-table' }, byId.get(u).relation_name)) : '')))
    : el('p', { class: 'muted' }, 'none'),
  el('h2', {}, 'Downstream'), down.length ? el('ul', { id: 'downstream' }, ...down.map(x => el('li', {}, link(x.unique_id))))
    : el('p', { class: 'muted' }, 'none'),
  el('h2', {}, 'Built by'), n.built_by.length ? el('ul', { id: 'built-by' }, ...n.built_by.map(b => el('li', {},
    el('a', { href: '#/dag/' + enc(b.dag_id) }, b.dag_id + '.' + b.task_id)))) :
    el('p', { class: 'muted' }, 'no DAG task declares it in produces'),
  el('h2', {}, 'Columns'), n.columns.length ? grid(['column', 'description', 'lineage'], n.columns.map(c => [c.name,
    c.description || '', el('span', {}, ...['upstream', 'downstream'].map(dir => el('button', { class: 'lineage-btn',
      'data-column': c.name, 'data-dir': dir }, dir)))]), 'columns') : el('p', { class: 'muted' }, 'none documented'),
  el('div', { id: 'col-lineage' }),
  el('h2', {}, 'Tests'), n.tests.length ? grid(['test', 'column', 'status'], n.tests.map(t => [t.name, t.column_name || '',
    t.status || 'not run']), 'tests') : el('p', { class: 'muted' }, 'none'),
  n.raw_code ? el('h2', {}, 'Code') : '', n.raw_code ? el('pre', { class: 'log', id: 'code' }, n.raw_code) : '');
  // column-level lineage (kiln lineage): each column links to its model and its table
  const byRel = new Map(j.nodes.filter(x => x.relation_name).map(x => [x.relation_name, x]));
  for (const b of document.querySelectorAll('button.lineage-btn')) {
    b.addEventListener('click', async () => {
      const box = document.getElementById('col-lineage');
      const target = n.name + '.' + b.dataset.column, dir = b.dataset.dir;
      box.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
      try {
        const l = await getJson('/api/v1/models/lineage?column=' + enc(target) + (dir === 'downstream' ? '&downstream=true' : ''));
        box.replaceChildren(el('h2', {}, 'Lineage of ' + target + ' (' + dir + ')'),
          el('ul', { id: 'lineage-list', 'data-target': target, 'data-dir': dir }, ...l.columns.map(c => {
            const m = byRel.get(c.relation) || (c.unique_id && byId.get(c.unique_id));
            return el('li', { 'data-depth': String(c.depth), class: 'depth-' + Math.min(c.depth, 8) },
              m ? el('a', { href: modelHash(m.unique_id), class: 'lineage-model' }, m.name) : el('span', {}, c.unique_id || ''),
              '.' + c.column, ' · table ', el('a', { href: '#/table/' + enc(c.relation), class: 'lineage-table' }, c.relation),
              c.transformed ? el('span', { class: 'muted' }, ' · transformed') : '',
              c.via ? el('code', { class: 'via' }, ' ' + c.via) : '', c.repeat ? el('span', { class: 'muted' }, ' (again)') : '');
          })));
      } catch (e) { box.replaceChildren(el('p', { class: 'err' }, 'Error: ' + e.message)); }
    });
  }
}
async function route() {
  clearTimeout(tailTimer);
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  try {
    if (parts[0] === 'table') await tablePage(parts.slice(1).join('/'));
    else if (parts[0] === 'dags') await dagsPage();
    else if (parts[0] === 'dag') await dagPage(parts[1]);
    else if (parts[0] === 'ti') await tiPage(parts[1], parts[2], parts[3], parts[4] ? Number(parts[4]) : 0);
    else if (parts[0] === 'lineage') await lineagePage();
    else if (parts[0] === 'models') await modelsPage();
    else if (parts[0] === 'model') await modelPage(parts[1]);
    else await listPage();
  } catch (e) {
    main.replaceChildren(el('p', { class: 'err' }, 'Error: ' + e.message));
  }
}
window.addEventListener('hashchange', route);
route();
