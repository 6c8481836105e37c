// models_flagship_duckdb.mjs - the independent computation behind
// tests/e2e/models_flagship.sh: DuckDB reads the raw inputs itself (GH
// Archive .json.gz files with read_ndjson, the REST responses of
// `kiln gen github-api` with read_json: repos/*/*.history.json and
// compare/**/*.json) and computes the three flagship models by the rule of
// docs/models.md ("The flagship models"); then it compares them with kiln's
// tables, exported by `kiln sql --csv` into KILN_DIR/<model>.csv.
//
//   node models_flagship_duckdb.mjs RAW_DIR API_DIR KILN_DIR [SWITCH_DAY]
//
// Prints per model the row counts and an md5 over all rows of both sides,
// and up to 6 differing rows; exits 1 on any difference.
import { DuckDBInstance } from '@duckdb/node-api';
import { join } from 'node:path';

const [raw, api, kdir, switchDay = '2025-10-07'] = process.argv.slice(2);
const lit = (s) => "'" + String(s).replaceAll("'", "''") + "'";

const models = {
  commits_per_repo_per_day: {
    cols: ['repo_id', 'repo_name', 'day', 'pushes', 'commits'],
    types: { repo_id: 'BIGINT', pushes: 'BIGINT', commits: 'BIGINT', day: 'VARCHAR' },
  },
  commits_per_language_per_week: {
    cols: ['week_start', 'iso_year', 'iso_week', 'language', 'repos', 'pushes', 'commits'],
    types: { iso_year: 'BIGINT', iso_week: 'BIGINT', repos: 'BIGINT', pushes: 'BIGINT', commits: 'BIGINT', week_start: 'VARCHAR' },
  },
  weekly_activity: {
    cols: ['actor_id', 'actor_login', 'week_start', 'iso_year', 'iso_week', 'pushes', 'commits', 'repos_touched',
      'branches_pushed', 'tag_pushes', 'active_days', 'first_push_at', 'last_push_at'],
    types: { actor_id: 'BIGINT', iso_year: 'BIGINT', iso_week: 'BIGINT', pushes: 'BIGINT', commits: 'BIGINT',
      repos_touched: 'BIGINT', branches_pushed: 'BIGINT', tag_pushes: 'BIGINT', active_days: 'BIGINT',
      week_start: 'VARCHAR', first_push_at: 'VARCHAR', last_push_at: 'VARCHAR' },
  },
};

const sql = `
CREATE TEMP TABLE ev AS
  SELECT * FROM read_ndjson(${lit(join(raw, '*.json.gz'))}, compression='gzip', format='newline_delimited',
    maximum_object_size=67108864,
    columns={id:'VARCHAR', type:'VARCHAR', actor:'STRUCT(id BIGINT, login VARCHAR)',
             repo:'STRUCT(id BIGINT, name VARCHAR)', payload:'JSON', created_at:'VARCHAR'})
  WHERE type = 'PushEvent'
  QUALIFY row_number() OVER (PARTITION BY id) = 1;
CREATE TEMP TABLE pushes AS SELECT
  CAST(payload->>'push_id' AS BIGINT) AS push_id, repo.id AS repo_id, repo.name AS repo_name,
  actor.id AS actor_id, actor.login AS actor_login, payload->>'ref' AS ref, payload->>'head' AS head,
  CAST(payload->>'distinct_size' AS BIGINT) AS distinct_size, created_at, substr(created_at, 1, 10) AS day
  FROM ev;
-- commits of later pushes: the compare responses, tied to their push by the head in the file name
CREATE TEMP TABLE cmp AS
  SELECT regexp_extract(filename, '\\.\\.\\.([0-9a-f]{40})\\.json$', 1) AS head, unnest(commits).sha AS sha
  FROM read_json(${lit(join(api, 'compare', '**', '*.json'))}, filename=true, maximum_object_size=67108864,
                 columns={commits:'STRUCT(sha VARCHAR)[]'});
CREATE TEMP TABLE cmp_commits AS
  SELECT p.repo_id, c.sha, p.push_id, p.day FROM cmp c JOIN pushes p USING (head)
  QUALIFY row_number() OVER (PARTITION BY p.repo_id, c.sha, p.day ORDER BY p.push_id DESC) = 1;
CREATE TEMP TABLE push_commits AS
  SELECT p.*, CASE WHEN p.day < ${lit(switchDay)} THEN coalesce(p.distinct_size, 0)
                   ELSE (SELECT count(*) FROM cmp_commits c WHERE c.push_id = p.push_id) END AS commits
  FROM pushes p;
-- languages over time, straight from the history responses
CREATE TEMP TABLE langs AS
  SELECT repo_id, l.from AS valid_from, coalesce(l.language, 'Unknown') AS language
  FROM (SELECT repo_id, unnest(languages) AS l
        FROM read_json(${lit(join(api, 'repos', '*', '*.history.json'))},
                       columns={repo_id:'BIGINT', languages:'STRUCT("from" VARCHAR, language VARCHAR)[]'}));

CREATE TEMP TABLE d_commits_per_repo_per_day AS
  SELECT repo_id, arg_max(repo_name, (created_at, push_id)) AS repo_name, day, count(*) AS pushes, sum(commits) AS commits
  FROM push_commits GROUP BY repo_id, day;
CREATE TEMP TABLE d_commits_per_language_per_week AS
  WITH rw AS (
    SELECT repo_id, strftime(date_trunc('week', CAST(day AS DATE)), '%Y-%m-%d') AS week_start,
           sum(pushes) AS pushes, sum(commits) AS commits
    FROM d_commits_per_repo_per_day GROUP BY ALL),
  wl AS (
    SELECT rw.*, coalesce((SELECT arg_max(language, valid_from) FROM langs l
                            WHERE l.repo_id = rw.repo_id
                              AND l.valid_from < strftime(CAST(rw.week_start AS DATE) + 7, '%Y-%m-%d')), 'Unknown') AS language
    FROM rw)
  SELECT week_start, isoyear(CAST(week_start AS DATE)) AS iso_year, week(CAST(week_start AS DATE)) AS iso_week,
         language, count(*) AS repos, sum(pushes) AS pushes, sum(commits) AS commits
  FROM wl GROUP BY week_start, language;
CREATE TEMP TABLE d_weekly_activity AS
  WITH p AS (SELECT *, strftime(date_trunc('week', CAST(day AS DATE)), '%Y-%m-%d') AS week_start FROM push_commits)
  SELECT actor_id, arg_max(actor_login, (created_at, push_id)) AS actor_login, week_start,
         isoyear(CAST(week_start AS DATE)) AS iso_year, week(CAST(week_start AS DATE)) AS iso_week,
         count(*) AS pushes, sum(commits) AS commits, count(DISTINCT repo_id) AS repos_touched,
         count(DISTINCT CASE WHEN ref LIKE 'refs/heads/%' THEN repo_id || ' ' || ref END) AS branches_pushed,
         count(*) FILTER (WHERE ref LIKE 'refs/tags/%') AS tag_pushes, count(DISTINCT day) AS active_days,
         min(created_at) AS first_push_at, max(created_at) AS last_push_at
  FROM p GROUP BY actor_id, week_start;
`;

const rowText = (cols) => "concat_ws('|', " + cols.map((c) => `coalesce(CAST("${c}" AS VARCHAR), '<null>')`).join(', ') + ')';

async function main() {
  const inst = await DuckDBInstance.create(':memory:');
  const con = await inst.connect();
  await con.run("SET TimeZone='UTC'");
  await con.run(sql);
  let ok = true;
  for (const [m, { cols, types }] of Object.entries(models)) {
    const spec = '{' + cols.map((c) => `'${c}':'${types[c] || 'VARCHAR'}'`).join(',') + '}';
    await con.run(`CREATE TEMP TABLE k_${m} AS SELECT * FROM read_csv(${lit(join(kdir, m + '.csv'))}, header=true, columns=${spec}, nullstr='')`);
    const dig = async (t) => (await con.runAndReadAll(
      `SELECT count(*)::VARCHAR, coalesce(md5(string_agg(t, chr(10) ORDER BY t)), '-') FROM (SELECT ${rowText(cols)} AS t FROM ${t})`)).getRows()[0];
    const [dn, dh] = await dig(`d_${m}`), [kn, kh] = await dig(`k_${m}`);
    console.log(`${m.padEnd(30)} duckdb ${dn} ${dh}  kiln ${kn} ${kh}`);
    if (dn !== kn || dh !== kh || dn === '0') {
      ok = false;
      const d = await con.runAndReadAll(`(SELECT 'duckdb only' AS side, ${rowText(cols)} AS t FROM d_${m} EXCEPT ALL SELECT 'duckdb only', ${rowText(cols)} FROM k_${m})
        UNION ALL (SELECT 'kiln only', ${rowText(cols)} FROM k_${m} EXCEPT ALL SELECT 'kiln only', ${rowText(cols)} FROM d_${m}) ORDER BY 2 LIMIT 6`);
      for (const r of d.getRows()) console.log(`  ${r[0]}: ${r[1]}`);
    }
  }
  if (!ok) { console.log('MISMATCH between kiln and DuckDB'); process.exit(1); }
  console.log('ok: kiln and DuckDB agree on the three models');
}
main().catch((e) => { console.error(e.message || e); process.exit(2); });
