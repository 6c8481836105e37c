// serve_metrics.mjs KILN_BIN TMPDIR - /metrics of `kiln serve` parsed by an
// independent Prometheus text-format parser (parse-prometheus-text-format,
// prom2json-compatible output), after known traffic: the counters, the
// latency histogram, webhook and catalog-commit counters and the per-table
// gauges must say exactly what happened.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { createHmac } from 'node:crypto';
import { writeFileSync, readdirSync, statSync } from 'node:fs';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp] = process.argv.slice(2);
const wh = `${tmp}/wh`;
const token = 'metrics-token';
const secret = 'hook-secret';
writeFileSync(`${tmp}/token`, token);
await run(bin, ['table', 'create', 'm.t', '--schema', 'id long, s string', '--warehouse', wh]);
await run(bin, ['sql', '--warehouse', wh, '-c', "INSERT INTO m.t VALUES (1, 'a')"]);
const srv = await startServer(bin, ['--warehouse', wh, '--token-file', `${tmp}/token`, '--raw', `${tmp}/raw`],
  { KILN_WEBHOOK_SECRET: secret });
const url = srv.url;
const H = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
const get = (p, h = {}) => fetch(url + p, { headers: h }).then(async r => ({ status: r.status, text: await r.text() }));
const post = (p, body, h = H) => fetch(url + p, { method: 'POST', headers: h, body }).then(async r => ({ status: r.status, text: await r.text() }));
const sign = body => 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');

try {
  for (let i = 0; i < 3; i++) check((await get('/v1/config')).status === 200, 'config');
  check((await get('/no/such/thing')).status === 404, '404');
  check((await post('/v1/namespaces', '{"namespace":["x"]}', {})).status === 401, '401 without token');
  const ping = '{"zen":"Keep it logically awesome.","hook_id":1}';
  check((await post('/hooks/github', ping, { 'X-GitHub-Event': 'ping', 'X-GitHub-Delivery': 'd-ping-1',
    'X-Hub-Signature-256': sign(ping) })).status === 200, 'signed ping');
  check((await post('/hooks/github', ping, { 'X-GitHub-Event': 'ping', 'X-GitHub-Delivery': 'd-ping-2',
    'X-Hub-Signature-256': sign(ping + ' ') })).status === 401, 'bad signature');
  const load = JSON.parse((await get('/v1/namespaces/m/tables/t')).text);
  const uuid = load.metadata['table-uuid'];
  check((await post('/v1/namespaces/m/tables/t', JSON.stringify({ requirements: [{ type: 'assert-table-uuid', uuid }],
    updates: [{ action: 'set-properties', updates: { k: 'v' } }] }))).status === 200, 'commit ok');
  check((await post('/v1/namespaces/m/tables/t', JSON.stringify({ requirements: [{ type: 'assert-table-uuid',
    uuid: '00000000-0000-4000-8000-000000000000' }], updates: [] }))).status === 409, 'commit conflict');
  let after = JSON.parse((await get('/v1/namespaces/m/tables/t')).text).metadata;
  // three pushes (one delivered twice): ingest bytes = the bytes now in the raw zone's hour files
  for (const [i, id] of [[1, 'd-push-1'], [2, 'd-push-2'], [3, 'd-push-3'], [1, 'd-push-1']]) {
    const body = JSON.stringify({ ref: 'refs/heads/main', before: 'a'.repeat(40), after: String(i).repeat(40),
      repository: { id: 9, full_name: 'o/r', pushed_at: 1759700000 + i * 3600 }, sender: { id: 1, login: 'u' },
      commits: [{ id: String(i).repeat(40), message: 'm' + i, author: { name: 'n', email: 'e@x' }, distinct: true }] });
    const st = (await post('/hooks/github', body, { 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': id,
      'X-Hub-Signature-256': sign(body) })).status;
    check(st === 202 || (st === 200 && id === 'd-push-1'), `push ${id}: ${st}`);
  }
  let rawBytes = 0;
  for (const d of readdirSync(`${tmp}/raw/webhooks`).filter(d => d.startsWith('date=')))
    for (const f of readdirSync(`${tmp}/raw/webhooks/${d}`)) rawBytes += statSync(`${tmp}/raw/webhooks/${d}/${f}`).size;
  await run(bin, ['sql', '--warehouse', wh, '-c', "INSERT INTO m.t VALUES (2, 'b'), (3, 'c')"]);
  const files = (await run(bin, ['table', 'files', 'm.t', '--json', '--warehouse', wh])).stdout.trim().split('\n').length;
  after = JSON.parse((await get('/v1/namespaces/m/tables/t')).text).metadata;

  const r = await fetch(url + '/metrics');
  check(r.headers.get('content-type').startsWith('text/plain; version=0.0.4'), `content type ${r.headers.get('content-type')}`);
  const text = await r.text();
  // exposition-format rules the parser does not enforce: one HELP and TYPE per family, before its samples
  const seen = new Map();
  for (const line of text.split('\n')) {
    if (!line) continue;
    let m;
    if ((m = line.match(/^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/))) {
      const k = m[1] + ' ' + m[2];
      check(!seen.has(k), `duplicate ${k}`);
      seen.set(k, m[3]);
      continue;
    }
    m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (\S+)$/);
    check(m, `malformed sample line: ${line}`);
    const fam = m[1].replace(/_(bucket|sum|count)$/, '');
    check(seen.has('TYPE ' + m[1]) || seen.has('TYPE ' + fam), `sample before its TYPE: ${line}`);
    check(!Number.isNaN(Number(m[3])), `value not a number: ${line}`);
  }
  const fams = Object.fromEntries(parsePrometheusTextFormat(text).map(f => [f.name, f]));
  const want = { kiln_http_requests_total: 'COUNTER', kiln_http_request_duration_seconds: 'HISTOGRAM',
    kiln_catalog_commits_total: 'COUNTER', kiln_webhook_deliveries_total: 'COUNTER',
    kiln_table_last_commit_timestamp_seconds: 'GAUGE', kiln_table_snapshots: 'GAUGE',
    kiln_process_start_time_seconds: 'GAUGE' };
  for (const [n, t] of Object.entries(want)) check(fams[n] && fams[n].type === t, `family ${n} of type ${t}`);
  const find = (n, labels) => fams[n].metrics.filter(m => Object.entries(labels).every(([k, v]) => m.labels[k] === v));
  const one = (n, labels) => { const a = find(n, labels); check(a.length === 1, `${n}${JSON.stringify(labels)}: ${a.length} series`); return a[0]; };
  check(one('kiln_http_requests_total', { method: 'GET', route: '/v1/config', status: '200' }).value === '3', 'config count');
  check(one('kiln_http_requests_total', { route: 'other', status: '404' }).value === '1', '404 counted under route "other"');
  check(one('kiln_http_requests_total', { method: 'POST', route: '/v1/namespaces', status: '401' }).value === '1', '401');
  check(one('kiln_http_requests_total', { method: 'POST', route: '/hooks/github', status: '200' }).value === '2', 'hook 200 (ping, duplicate)');
  check(one('kiln_http_requests_total', { method: 'POST', route: '/hooks/github', status: '202' }).value === '3', 'hook 202');
  // parse-prometheus-text-format flattens a labelled histogram into one
  // series (labels, _sum and _count dropped), so its buckets are checked on
  // the text of the one series, and _sum/_count from the raw sample lines
  const sel = 'method="GET",route="/v1/config",status="200"';
  const series = text.split('\n').filter(l => l.startsWith('# ') ? l.includes(' kiln_http_request_duration_seconds ')
    : l.startsWith('kiln_http_request_duration_seconds_bucket{' + sel + ','));
  const hist = parsePrometheusTextFormat(series.join('\n') + '\n');
  check(hist.length === 1 && hist[0].type === 'HISTOGRAM', 'histogram family');
  const buckets = hist[0].metrics[0].buckets;
  check(buckets && buckets['+Inf'] === '3', `+Inf bucket ${JSON.stringify(buckets)}`);
  const finite = Object.keys(buckets).filter(l => l !== '+Inf').sort((a, b) => a - b);
  check(finite.length >= 5, 'several finite buckets');
  for (let i = 1; i < finite.length; i++)
    check(Number(buckets[finite[i]]) >= Number(buckets[finite[i - 1]]), 'buckets are cumulative');
  const cnt = text.match(new RegExp('^kiln_http_request_duration_seconds_count\\{' + sel + '\\} (\\S+)$', 'm'));
  const sum = text.match(new RegExp('^kiln_http_request_duration_seconds_sum\\{' + sel + '\\} (\\S+)$', 'm'));
  check(cnt && cnt[1] === '3' && sum && Number(sum[1]) >= 0, 'histogram _count and _sum');
  check(one('kiln_webhook_deliveries_total', { event: 'ping', result: 'accepted' }).value === '1', 'ping accepted');
  check(one('kiln_webhook_deliveries_total', { event: 'ping', result: 'bad_signature' }).value === '1', 'bad signature');
  check(one('kiln_catalog_commits_total', { result: 'ok' }).value === '1', 'commit ok');
  check(one('kiln_catalog_commits_total', { result: 'conflict' }).value === '1', 'commit conflict');
  const ts = Number(one('kiln_table_last_commit_timestamp_seconds', { table: 'm.t' }).value);
  check(Math.abs(ts * 1000 - after['last-updated-ms']) < 1, `last commit ${ts} vs ${after['last-updated-ms']}`);
  check(one('kiln_table_snapshots', { table: 'm.t' }).value === String(after.snapshots.length), 'snapshot gauge');
  check(rawBytes > 0 && one('kiln_ingest_bytes_total', { source: 'webhooks' }).value === String(rawBytes),
    `ingest bytes ${JSON.stringify(find('kiln_ingest_bytes_total', {}))} vs ${rawBytes} bytes in raw/webhooks`);
  check(one('kiln_table_rows', { table: 'm.t' }).value === '3', 'rows gauge (current snapshot)');
  check(one('kiln_table_data_files', { table: 'm.t' }).value === String(files), `data files gauge vs kiln table files (${files})`);
  check(fams.kiln_ingest_bytes_total.type === 'COUNTER' && fams.kiln_table_rows.type === 'GAUGE', 'types');
  check(!text.includes(token) && !text.includes(secret), 'no secrets in metrics');
  // GH Archive bytes: what `kiln ingest gharchive` (another process) landed in the same raw zone, from its manifests
  check(one('kiln_ingest_bytes_total', { source: 'gharchive' }).value === '0', 'no GH Archive hours yet');
  await run(bin, ['gen', 'gharchive', '--out', `${tmp}/gen`, '--start', '2025-10-08', '--hours', '2', '--scale', '0.0002', '--threads', '1']);
  await run(bin, ['ingest', 'gharchive', '--from', `file://${tmp}/gen`, '--start', '2025-10-08', '--end', '2025-10-08',
    '--hours', '0-2', '--out', `${tmp}/raw`]); // hour 2 is not in gen: a missing hour, no bytes
  let ghBytes = 0;
  for (const h of readdirSync(`${tmp}/raw/gharchive/date=2025-10-08`).filter(x => x.startsWith('hour=')))
    for (const f of readdirSync(`${tmp}/raw/gharchive/date=2025-10-08/${h}`)) ghBytes += statSync(`${tmp}/raw/gharchive/date=2025-10-08/${h}/${f}`).size;
  const gh = parsePrometheusTextFormat(await (await fetch(url + '/metrics')).text())
    .find(f => f.name === 'kiln_ingest_bytes_total').metrics.find(x => x.labels.source === 'gharchive');
  check(ghBytes > 0 && gh.value === String(ghBytes), `gharchive ingest bytes ${gh.value} vs ${ghBytes} landed`);
  const st = await srv.stop('SIGTERM');
  check(st.code === 0, `clean SIGTERM exit: ${JSON.stringify(st)}`);
  console.log(`serve_metrics: ok (${Object.keys(fams).length} families parsed)`);
} catch (e) {
  console.error('serve_metrics: FAIL:', e.message);
  console.error(srv.stderr().split('\n').slice(-10).join('\n'));
  process.exit(1);
}
