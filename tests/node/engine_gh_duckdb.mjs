// engine_gh_duckdb.mjs - the independent computation behind kiln's
// gh-events tests and benchmark: DuckDB reads GH Archive .json.gz files with
// read_ndjson, keeps PushEvents, dedupes by event id, unnests
// payload.commits and keeps one commit row per (repo_id, sha) and day, the
// later push's (the table's grain, docs/cli/job.md), and either
//   compare  KILN_FORMAT KILN_OUT_DIR FILE.json.gz...   checks kiln's output
//            (OUT/pushes/date=*/part-*.EXT, OUT/commits/...) row for row:
//            counts and an md5 over every column of every row, sorted; also
//            that each row sits in the date= partition of its created_at.
//            Prints both sides and exits 1 on any difference.
//   export   THREADS OUT_DIR FILE.json.gz...   writes pushes.csv and
//            commits.csv (the benchmark peer; prints row counts).
// Environment: KILN_PART_FILTER=regex keeps only kiln files whose path
// matches (used to leave out hours with injected faults).
import { DuckDBInstance } from '@duckdb/node-api';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [mode, ...rest] = process.argv.slice(2);
const NULL = "'\\N'";
const lit = (s) => "'" + String(s).replaceAll("'", "''") + "'";
const list = (xs) => '[' + xs.map(lit).join(',') + ']';

// Push and commit rows from the raw events, as DuckDB relations.
function sourceSql(files) {
  return `
  CREATE TEMP TABLE ev AS
    SELECT * FROM read_ndjson(${list(files)}, compression='gzip', format='newline_delimited',
      maximum_object_size=67108864, filename=true,
      columns={id:'VARCHAR', type:'VARCHAR', actor:'STRUCT(id BIGINT, login VARCHAR)',
               repo:'STRUCT(id BIGINT, name VARCHAR)', org:'STRUCT(login VARCHAR)',
               payload:'JSON', created_at:'VARCHAR'})
    WHERE type = 'PushEvent'
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY filename) = 1;
  CREATE TEMP VIEW src_pushes AS SELECT
    CAST(id AS BIGINT) AS event_id, CAST(payload->>'push_id' AS BIGINT) AS push_id,
    repo.id AS repo_id, repo.name AS repo_name, actor.id AS actor_id, actor.login AS actor_login,
    org.login AS org_login, payload->>'ref' AS ref, payload->>'head' AS head, payload->>'before' AS "before",
    CAST(payload->>'size' AS INTEGER) AS size, CAST(payload->>'distinct_size' AS INTEGER) AS distinct_size,
    created_at
    FROM ev;
  CREATE TEMP VIEW src_commits AS
    WITH l AS (
      SELECT repo.id AS repo_id, repo.name AS repo_name, CAST(payload->>'push_id' AS BIGINT) AS push_id, created_at,
             regexp_extract(filename, '(\\d{4}-\\d{2}-\\d{2})-\\d{1,2}\\.json\\.gz$', 1) AS file_day,
             CAST(regexp_extract(filename, '-(\\d{1,2})\\.json\\.gz$', 1) AS INTEGER) AS file_hour,
             from_json(payload->'commits',
               '[{"sha":"VARCHAR","author":{"name":"VARCHAR","email":"VARCHAR"},"message":"VARCHAR","distinct":"BOOLEAN"}]') AS cms
      FROM ev),
    c AS (
      SELECT repo_id, repo_name, push_id, created_at, file_day, file_hour, unnest(cms) AS cm,
             unnest(range(len(cms))) AS pos
      FROM l)
    SELECT repo_id, repo_name, cm.sha AS sha, push_id, cm.author.name AS author_name,
           cm.author.email AS author_email, cm.message AS message, cm."distinct" AS "distinct", created_at
    FROM c
    -- the grain: one row per (repo_id, sha) and day (the hour file's day),
    -- the later push's: greater push_id (null lowest), later hour, later
    -- entry of the commits list
    QUALIFY row_number() OVER (PARTITION BY repo_id, cm.sha, file_day
                               ORDER BY push_id DESC NULLS LAST, file_hour DESC, pos DESC) = 1;`;
}

const pushCols = ['event_id', 'push_id', 'repo_id', 'repo_name', 'actor_id', 'actor_login', 'org_login', 'ref',
  'head', 'before', 'size', 'distinct_size', 'created_at'];
const commitCols = ['repo_id', 'repo_name', 'sha', 'push_id', 'author_name', 'author_email', 'message', 'distinct',
  'created_at'];
const rowText = (cols) => "concat_ws('|', " + cols.map((c) => `coalesce(CAST("${c}" AS VARCHAR), ${NULL})`).join(', ') + ')';

async function digest(con, view, cols) {
  const r = await con.runAndReadAll(
    `SELECT count(*)::VARCHAR, coalesce(md5(string_agg(t, chr(10) ORDER BY t)), '-') FROM (SELECT ${rowText(cols)} AS t FROM ${view})`);
  const [n, h] = r.getRows()[0];
  return { rows: Number(n), md5: h };
}

function kilnFiles(outDir, table, ext) {
  const base = join(outDir, table);
  const re = process.env.KILN_PART_FILTER ? new RegExp(process.env.KILN_PART_FILTER) : null;
  const out = [];
  if (!existsSync(base)) return out;
  for (const d of readdirSync(base).sort()) {
    if (!d.startsWith('date=')) continue;
    for (const f of readdirSync(join(base, d)).sort()) {
      const p = join(base, d, f);
      if (f.endsWith(ext) && (!re || re.test(p))) out.push(p);
    }
  }
  return out;
}

function kilnSql(format, view, files, cols, types) {
  const spec = '{' + cols.map((c) => `'${c}':'${types[c] || 'VARCHAR'}'`).join(',') + '}';
  if (!files.length) return `CREATE TEMP VIEW ${view} AS SELECT ${cols.map((c) => `NULL::${types[c] || 'VARCHAR'} AS "${c}"`).join(',')}, '' AS filename WHERE false;`;
  const reader = format === 'csv'
    ? `read_csv(${list(files)}, header=true, columns=${spec}, quote='"', escape='"', allow_quoted_nulls=false, filename=true, max_line_size=67108864)`
    : `read_ndjson(${list(files)}, columns=${spec}, filename=true, maximum_object_size=67108864)`;
  return `CREATE TEMP VIEW ${view} AS SELECT * REPLACE (strftime(created_at, '%Y-%m-%dT%H:%M:%SZ') AS created_at) FROM ${reader};`;
}

const types = { event_id: 'BIGINT', push_id: 'BIGINT', repo_id: 'BIGINT', actor_id: 'BIGINT', size: 'INTEGER',
  distinct_size: 'INTEGER', distinct: 'BOOLEAN', created_at: 'TIMESTAMPTZ' };

async function main() {
  const inst = await DuckDBInstance.create(':memory:');
  const con = await inst.connect();
  await con.run("SET TimeZone='UTC'");
  if (mode === 'compare') {
    const [format, outDir, ...files] = rest;
    const ext = format === 'csv' ? '.csv' : '.ndjson';
    await con.run(sourceSql(files));
    await con.run(kilnSql(format, 'k_pushes', kilnFiles(outDir, 'pushes', ext), pushCols, types));
    await con.run(kilnSql(format, 'k_commits', kilnFiles(outDir, 'commits', ext), commitCols, types));
    const sp = await digest(con, 'src_pushes', pushCols), kp = await digest(con, 'k_pushes', pushCols);
    const sc = await digest(con, 'src_commits', commitCols), kc = await digest(con, 'k_commits', commitCols);
    const bad = await con.runAndReadAll(`SELECT count(*)::VARCHAR FROM (
        SELECT filename, created_at FROM k_pushes UNION ALL SELECT filename, created_at FROM k_commits)
        WHERE position('date=' || substr(created_at, 1, 10) IN filename) = 0`);
    const misplaced = Number(bad.getRows()[0][0]);
    const nulls = await con.runAndReadAll(`SELECT count(*) FILTER (WHERE size IS NULL)::VARCHAR, count(*)::VARCHAR FROM k_pushes`);
    console.log(`duckdb pushes  ${sp.rows} ${sp.md5}`);
    console.log(`kiln   pushes  ${kp.rows} ${kp.md5}`);
    console.log(`duckdb commits ${sc.rows} ${sc.md5}`);
    console.log(`kiln   commits ${kc.rows} ${kc.md5}`);
    console.log(`kiln pushes with null size: ${nulls.getRows()[0][0]} of ${nulls.getRows()[0][1]}; rows outside their date partition: ${misplaced}`);
    const ok = sp.rows === kp.rows && sp.md5 === kp.md5 && sc.rows === kc.rows && sc.md5 === kc.md5 && misplaced === 0;
    if (!ok) {
      for (const [a, b, cols, key] of [['src_pushes', 'k_pushes', pushCols, 'event_id'], ['src_commits', 'k_commits', commitCols, 'sha']]) {
        const d = await con.runAndReadAll(`(SELECT 'duckdb only' AS side, ${rowText(cols)} AS t FROM ${a} EXCEPT ALL SELECT 'duckdb only', ${rowText(cols)} FROM ${b})
          UNION ALL (SELECT 'kiln only', ${rowText(cols)} FROM ${b} EXCEPT ALL SELECT 'kiln only', ${rowText(cols)} FROM ${a}) ORDER BY 2 LIMIT 6`);
        for (const row of d.getRows()) console.log(`  ${key.padEnd(8)} ${row[0]}: ${String(row[1]).slice(0, 300)}`);
      }
      console.log('MISMATCH between kiln and DuckDB');
      process.exit(1);
    }
    console.log('ok: kiln and DuckDB agree');
  } else if (mode === 'export') {
    const [threads, outDir, ...files] = rest;
    await con.run(`SET threads=${Number(threads)}`);
    await con.run(sourceSql(files));
    await con.run(`COPY (SELECT * FROM src_pushes) TO ${lit(join(outDir, 'pushes.csv'))} (HEADER)`);
    await con.run(`COPY (SELECT * FROM src_commits) TO ${lit(join(outDir, 'commits.csv'))} (HEADER)`);
    const n = await con.runAndReadAll('SELECT count(*)::VARCHAR FROM ev');
    console.log(`duckdb pushes ${n.getRows()[0][0]}`);
  } else {
    console.error('usage: node engine_gh_duckdb.mjs compare FORMAT OUT FILE... | export THREADS OUT FILE...');
    process.exit(2);
  }
}

main().catch((e) => { console.error(e.message || e); process.exit(2); });
