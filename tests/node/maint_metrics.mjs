// maint_metrics.mjs KILN_BIN TMPDIR - the maintenance gauges of /metrics
// (kiln_table_data_files, _small_data_files, _delete_files, _data_bytes,
// _delete_bytes, _last_compaction_timestamp_seconds) against what `kiln
// table files` lists, before and after `kiln table rewrite-data-files`
// (run while the server is up: each scrape reads the catalog). The table
// with delete files is built by kiln-tests as another engine writes them.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startServer, run, check } from './serve_common.mjs';

const [bin, tmp] = process.argv.slice(2);
const wh = `${tmp}/wh`;
await run(process.env.KILN_TESTS_BIN, ['-s', 'maint_export::table_with_deletes'], { env: { ...process.env, KILN_MAINT_EXPORT: wh } });
await run(bin, ['table', 'create', 'm.empty', '--schema', 'id long', '--warehouse', wh]);
const srv = await startServer(bin, ['--warehouse', wh]);

async function scrape() {
  const text = await (await fetch(srv.url + '/metrics')).text();
  const fams = parsePrometheusTextFormat(text);
  const val = (name, table) => {
    const f = fams.find(x => x.name === name);
    check(f && f.type === 'GAUGE', `${name}: missing or not a gauge`);
    const m = f.metrics.find(x => x.labels && x.labels.table === table);
    check(m, `${name}{table="${table}"} missing`);
    return Number(m.value);
  };
  return val;
}
async function files(table) { // from `kiln table files`: content, record_count, size, partition, path
  const { stdout } = await run(bin, ['table', 'files', table, '--warehouse', wh]);
  const rows = stdout.trim().split('\n').slice(1).map(l => l.split('\t'));
  const data = rows.filter(r => r[0] === 'data'), del = rows.filter(r => r[0] !== 'data');
  const sum = rs => rs.reduce((a, r) => a + Number(r[2]), 0);
  return { data: data.length, del: del.length, dbytes: sum(data), delbytes: sum(del) };
}

try {
  let v = await scrape();
  let f = await files('db.events');
  check(v('kiln_table_data_files', 'db.events') === f.data && f.data === 6, `data files ${v('kiln_table_data_files', 'db.events')} vs ${f.data}`);
  check(v('kiln_table_delete_files', 'db.events') === f.del && f.del === 2, `delete files ${v('kiln_table_delete_files', 'db.events')} vs ${f.del}`);
  check(v('kiln_table_data_bytes', 'db.events') === f.dbytes, 'data bytes');
  check(v('kiln_table_delete_bytes', 'db.events') === f.delbytes, 'delete bytes');
  check(v('kiln_table_small_data_files', 'db.events') === 6, 'small files (all below 75% of 512 MB)');
  check(v('kiln_table_last_compaction_timestamp_seconds', 'db.events') === 0, 'never compacted: 0');
  check(v('kiln_table_data_files', 'm.empty') === 0 && v('kiln_table_delete_files', 'm.empty') === 0, 'empty table');
  const t0 = Date.now() / 1000;
  await run(bin, ['table', 'rewrite-data-files', 'db.events', '--warehouse', wh]);
  v = await scrape();
  f = await files('db.events');
  check(v('kiln_table_data_files', 'db.events') === f.data && f.data === 2, `after: data files ${v('kiln_table_data_files', 'db.events')}`);
  check(v('kiln_table_delete_files', 'db.events') === 0 && f.del === 0, 'after: delete files');
  check(v('kiln_table_data_bytes', 'db.events') === f.dbytes, 'after: data bytes');
  const lc = v('kiln_table_last_compaction_timestamp_seconds', 'db.events');
  check(lc >= t0 - 1 && lc <= Date.now() / 1000 + 1, `last compaction ${lc} not just now (${t0})`);
} finally {
  await srv.stop();
}
