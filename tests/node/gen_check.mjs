// gen_check.mjs DIR - independent check of `kiln gen gharchive` output with
// DuckDB: every hour file listed as "ok" in DIR/_manifest.json parses as
// NDJSON and DuckDB's counts (events, pushes, sum of distinct_size and size,
// listed commits, distinct ids, created_at inside the hour) equal the
// manifest. Files named in DIR/_quirks.json are checked for their fault
// instead (duplicates: events + duplicate lines). Exit 0 on pass.
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node gen_check.mjs DIR');
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(join(dir, '_manifest.json'), 'utf8'));
const quirks = existsSync(join(dir, '_quirks.json')) ? JSON.parse(readFileSync(join(dir, '_quirks.json'), 'utf8')) : null;
const faulty = new Set();
const dupFiles = new Map();
if (quirks) {
  for (const f of quirks.missing_hours) faulty.add(f);
  for (const k of ['truncated', 'nul_runs', 'malformed', 'bad_unicode']) for (const q of quirks[k]) faulty.add(q.file);
  for (const d of quirks.duplicates) dupFiles.set(d.file, d.ids.length);
}
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const q = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJS();
const sq = (s) => "'" + s.replaceAll("'", "''") + "'";

let failures = 0, checked = 0;
const fail = (m) => { console.error('FAIL ' + m); failures++; };
for (const h of manifest.hours) {
  const path = join(dir, h.file);
  if (h.status === 'missing') {
    if (existsSync(path)) fail(`${h.file}: listed missing but exists`);
    continue;
  }
  if (faulty.has(h.file)) continue;
  const [r] = await q(`
    SELECT count(*) AS n,
           count(DISTINCT id) AS nid,
           count(*) FILTER (WHERE type = 'PushEvent') AS pushes,
           coalesce(sum(CAST(json_extract(payload, '$.distinct_size') AS BIGINT)), 0) AS dsum,
           coalesce(sum(CAST(json_extract(payload, '$.size') AS BIGINT)), 0) AS ssum,
           coalesce(sum(json_array_length(json_extract(payload, '$.commits'))), 0) AS listed,
           max(json_array_length(json_extract(payload, '$.commits'))) AS maxlisted,
           count(*) FILTER (WHERE CAST(json_extract(payload, '$.distinct_size') AS BIGINT) >
                                  CAST(json_extract(payload, '$.size') AS BIGINT)) AS bad_distinct,
           min(CAST(id AS BIGINT)) AS minid,
           min(created_at) AS mints, max(created_at) AS maxts,
           count(*) FILTER (WHERE org IS NOT NULL) AS orgs
    FROM read_ndjson(${sq(path)}, compression = 'gzip',
                     columns = {id: 'VARCHAR', type: 'VARCHAR', payload: 'JSON', org: 'JSON', created_at: 'VARCHAR'})`);
  const dups = dupFiles.get(h.file) ?? 0;
  const eq = (a, b, what) => { if (Number(a) !== Number(b)) fail(`${h.file}: ${what}: duckdb ${a} != manifest ${b}`); };
  eq(r.n, h.events + dups, 'events');
  eq(r.nid, h.events + dups, 'distinct ids');
  if (!dups) {
    eq(r.pushes, h.push_events, 'push events');
    eq(r.dsum, h.distinct_size_sum, 'sum distinct_size');
    eq(r.ssum, h.size_sum, 'sum size');
    eq(r.listed, h.commits_listed, 'commits listed');
  }
  if (Number(r.maxlisted ?? 0) > 20) fail(`${h.file}: a push lists ${r.maxlisted} commits (> 20)`);
  if (Number(r.bad_distinct) > 0) fail(`${h.file}: distinct_size > size in ${r.bad_distinct} pushes`);
  if (Number(r.minid) <= 2 ** 32) fail(`${h.file}: id ${r.minid} not above 2^32`);
  const hs = h.hour_start.slice(0, 13);
  if (!dups && (r.mints.slice(0, 13) !== hs || r.maxts.slice(0, 13) !== hs))
    fail(`${h.file}: created_at ${r.mints}..${r.maxts} outside hour ${h.hour_start}`);
  checked++;
}
// the malformed and bad-unicode lines must really break a strict reader
if (quirks) {
  for (const k of ['malformed', 'bad_unicode']) {
    for (const f of quirks[k] ?? []) {
      let threw = false;
      try {
        await q(`SELECT count(*) FROM read_ndjson(${sq(join(dir, f.file))}, compression = 'gzip', columns = {id: 'VARCHAR'})`);
      } catch (e) {
        threw = true;
      }
      if (!threw) fail(`${f.file}: DuckDB read the ${k} file without error`);
      else checked++;
    }
  }
}
console.log(`gen_check: ${checked} hour files checked, ${failures} failures`);
process.exit(failures ? 1 : 0);
