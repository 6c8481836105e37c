// models_bench_duckdb.mjs - the DuckDB side of bench/models.sh: the
// flagship project's models (examples/personal-api) as DuckDB SQL, step for
// step (staging tables, then the three marts), over the same Parquet data
// files as kiln's Iceberg tables github.pushes/github.commits and the same
// seed CSVs; then an incremental day (the daily mart's day and the weekly
// marts' week recomputed: DELETE + INSERT).
//
//   node models_bench_duckdb.mjs PUSHES.jsonl COMMITS.jsonl SEEDS_DIR THREADS DAY [SWITCH_DAY]
//
// *.jsonl: `kiln table files TABLE --json` output (data files only used).
// Prints "full SECONDS", "incremental SECONDS" and per mart "rows N commits
// SUM" lines to check against kiln's results.
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [pushesF, commitsF, seeds, threads, day, switchDay = '2025-10-07'] = process.argv.slice(2);
const lit = (s) => "'" + String(s).replaceAll("'", "''") + "'";
const files = (f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
  .filter((x) => x.content === 'data').map((x) => x.file_path.replace(/^file:\/\//, ''));
const list = (xs) => '[' + xs.map(lit).join(',') + ']';

const ymd = (e) => `strftime(${e}, '%Y-%m-%d')`;
const staging = `
CREATE OR REPLACE TABLE stg_pushes AS SELECT push_id, event_id, repo_id, repo_name, actor_id, actor_login, org_login, ref,
  CASE WHEN ref LIKE 'refs/heads/%' THEN 'branch' WHEN ref LIKE 'refs/tags/%' THEN 'tag' ELSE 'other' END AS ref_type,
  head, "before" AS before_sha, distinct_size, created_at, ${ymd('created_at')} AS day
  FROM src_pushes;
CREATE OR REPLACE TABLE stg_commits AS
  WITH both_origins AS (
    SELECT repo_id, sha, push_id, ${ymd('created_at')} AS day, 'archive' AS origin FROM src_commits
    UNION ALL
    SELECT p.repo_id, c.sha, p.push_id, p.day, 'compare' FROM compare_commits c JOIN stg_pushes p ON p.head = c.head)
  SELECT repo_id, sha, push_id, day, origin FROM both_origins
  QUALIFY row_number() OVER (PARTITION BY repo_id, sha, day ORDER BY push_id DESC, origin) = 1;
CREATE OR REPLACE TABLE stg_repos AS SELECT repo_id, full_name, coalesce(language, 'Unknown') AS language,
  valid_from AS dbt_valid_from, lead(valid_from) OVER (PARTITION BY repo_id ORDER BY valid_from) AS dbt_valid_to
  FROM repo_history;
CREATE OR REPLACE TABLE int_push_commits AS
  WITH per_push AS (SELECT push_id, count(*) AS n FROM stg_commits GROUP BY push_id)
  SELECT p.push_id, p.repo_id, p.repo_name, p.actor_id, p.actor_login, p.ref, p.ref_type, p.created_at, p.day,
    CASE WHEN p.day < ${lit(switchDay)} THEN coalesce(p.distinct_size, 0) ELSE coalesce(c.n, 0) END AS commits
  FROM stg_pushes p LEFT JOIN per_push c ON c.push_id = p.push_id;`;

const daily = (where) => `
  SELECT repo_id, arg_max(repo_name, (created_at, push_id)) AS repo_name, day, count(*) AS pushes, sum(commits) AS commits
  FROM int_push_commits WHERE ${where} GROUP BY repo_id, day`;
const weekly = (where) => `
  WITH rw AS (SELECT repo_id, CAST(date_trunc('week', CAST(day AS DATE)) AS DATE) AS week_start, sum(pushes) AS pushes, sum(commits) AS commits
              FROM commits_per_repo_per_day WHERE ${where} GROUP BY ALL),
  wl AS (SELECT rw.*, coalesce(r.language, 'Unknown') AS language FROM rw LEFT JOIN stg_repos r
         ON r.repo_id = rw.repo_id AND r.dbt_valid_from < strftime(rw.week_start + 7, '%Y-%m-%d')
         AND (r.dbt_valid_to IS NULL OR r.dbt_valid_to >= strftime(rw.week_start + 7, '%Y-%m-%d')))
  SELECT week_start, isoyear(week_start) AS iso_year, week(week_start) AS iso_week, language, count(*) AS repos,
         sum(pushes) AS pushes, sum(commits) AS commits FROM wl GROUP BY week_start, language`;
const activity = (where) => `
  WITH p AS (SELECT *, CAST(date_trunc('week', CAST(day AS DATE)) AS DATE) AS week_start FROM int_push_commits WHERE ${where})
  SELECT actor_id, arg_max(actor_login, (created_at, push_id)) AS actor_login, week_start,
         isoyear(week_start) AS iso_year, week(week_start) AS iso_week, count(*) AS pushes, sum(commits) AS commits,
         count(DISTINCT repo_id) AS repos_touched,
         count(DISTINCT CASE WHEN ref_type = 'branch' THEN repo_id || ' ' || ref END) AS branches_pushed,
         sum(CASE WHEN ref_type = 'tag' THEN 1 ELSE 0 END) AS tag_pushes, count(DISTINCT day) AS active_days,
         min(created_at) AS first_push_at, max(created_at) AS last_push_at
  FROM p GROUP BY actor_id, week_start`;

async function main() {
  const inst = await DuckDBInstance.create(':memory:');
  const con = await inst.connect();
  await con.run(`SET threads=${Number(threads)}; SET TimeZone='UTC'`);
  await con.run(`CREATE VIEW src_pushes AS SELECT * FROM read_parquet(${list(files(pushesF))});
    CREATE VIEW src_commits AS SELECT * FROM read_parquet(${list(files(commitsF))});
    CREATE TABLE repo_history AS SELECT * FROM read_csv(${lit(join(seeds, 'repo_history.csv'))}, header=true, all_varchar=true);
    CREATE TABLE compare_commits AS SELECT * FROM read_csv(${lit(join(seeds, 'compare_commits.csv'))}, header=true, all_varchar=true);
    ALTER TABLE repo_history ALTER repo_id TYPE BIGINT;`);
  let t0 = performance.now();
  await con.run(staging);
  await con.run(`CREATE TABLE commits_per_repo_per_day AS ${daily('true')};
    CREATE TABLE commits_per_language_per_week AS ${weekly('true')};
    CREATE TABLE weekly_activity AS ${activity('true')};`);
  const full = (performance.now() - t0) / 1000;
  // an incremental day: the day's rows, the week's rows, recomputed from the
  // staging tables rebuilt (as kiln rebuilds its view models on every run)
  const wk = `CAST(date_trunc('week', DATE ${lit(day)}) AS DATE)`;
  const inWeek = `CAST(day AS DATE) >= ${wk} AND CAST(day AS DATE) < ${wk} + 7`;
  t0 = performance.now();
  await con.run(staging);
  await con.run(`DELETE FROM commits_per_repo_per_day WHERE day = ${lit(day)};
    INSERT INTO commits_per_repo_per_day ${daily(`day = ${lit(day)}`)};
    DELETE FROM commits_per_language_per_week WHERE week_start = ${wk};
    INSERT INTO commits_per_language_per_week ${weekly(inWeek)};
    DELETE FROM weekly_activity WHERE week_start = ${wk};
    INSERT INTO weekly_activity ${activity(inWeek)};`);
  const incr = (performance.now() - t0) / 1000;
  console.log(`full ${full.toFixed(3)}`);
  console.log(`incremental ${incr.toFixed(3)}`);
  for (const m of ['commits_per_repo_per_day', 'commits_per_language_per_week', 'weekly_activity']) {
    const r = (await con.runAndReadAll(`SELECT count(*)::VARCHAR, coalesce(sum(commits), 0)::VARCHAR FROM ${m}`)).getRows()[0];
    console.log(`${m} rows ${r[0]} commits ${r[1]}`);
  }
}
main().catch((e) => { console.error(e.message || e); process.exit(2); });
