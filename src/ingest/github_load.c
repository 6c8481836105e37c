/*
 * github_load.c - `ingest github-repos` and `ingest github-compare`: GitHub
 * REST answers loaded into the lake (see ingest.h).
 *
 * DESIGN
 * - The lake is reached through the SQL layer (one in-memory SQLite
 *   connection with the warehouse attached): the inputs are read with a
 *   SELECT over github.pushes, the API's answers go into TEMP tables, and
 *   one MERGE statement (kiln_sql_write_try: one Iceberg commit, all or
 *   nothing) writes them. No second writer of Iceberg tables.
 * - github.repos is SCD type 2 keyed by (repo_id, valid_from): the MERGE's
 *   source holds the rows to close (their old valid_from, valid_to = now)
 *   and the rows to open (valid_from = now), so closing and opening are one
 *   commit. row_hash covers the tracked attributes (full_name, language,
 *   default_branch, fork, archived); pushed_at moves on every push, so it is
 *   updated in place on the current row instead of opening versions.
 * - Compare answers are immutable for a (before, head) pair: the merged
 *   pages are stored once in the cache store and read from there on later
 *   runs without a request.
 */
#include "ingest/ingest.h"
#include "sql/sql.h"
#include "store/store.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int sql_run(sqlite3 *db, const char *sql, kiln_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = kiln_err_set(err, KILN_EIO, "SQL: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

/* Run a kiln write statement (CREATE TABLE / MERGE); parse its summary. */
static int lake_write(sqlite3 *db, const char *sql, int64_t *inserted, int64_t *updated, kiln_err *err)
{
    char *buf = NULL;
    size_t bl = 0;
    FILE *f = open_memstream(&buf, &bl);
    if (!f)
        return KILN_OOM(err);
    int handled = 0;
    size_t used = 0;
    long eo = -1;
    int rc = kiln_sql_write_try(db, sql, strlen(sql), KILN_SQL_WRITE_SUMMARY, &handled, &used, &eo, f, err);
    fclose(f);
    if (!rc && !handled)
        rc = kiln_err_set(err, KILN_EINTERNAL, "not a write statement: %.60s", sql);
    if (!rc && buf) {
        const char *p = strstr(buf, " inserted");
        if (p && inserted) {
            const char *q = p;
            while (q > buf && q[-1] >= '0' && q[-1] <= '9')
                q--;
            *inserted += strtoll(q, NULL, 10);
        }
        const char *u = strstr(buf, " updated");
        if (u && updated) {
            const char *q = u;
            while (q > buf && q[-1] >= '0' && q[-1] <= '9')
                q--;
            *updated += strtoll(q, NULL, 10);
        }
    }
    free(buf);
    return rc;
}

static int db_open(sqlite3 **db, const char *warehouse, kiln_err *err)
{
    int rc = kiln_sql_db_open(db, NULL, 0, err);
    if (!rc)
        rc = kiln_sql_lake_attach(*db, warehouse, err);
    if (rc) {
        kiln_sql_db_close(*db);
        *db = NULL;
    }
    return rc;
}

static int table_exists(sqlite3 *db, const char *name)
{
    char *q = kiln_sprintf("SELECT 1 FROM %s LIMIT 0", name);
    sqlite3_stmt *st = NULL;
    kiln_err e = {0};
    size_t used;
    int ok = q && kiln_sql_prepare(db, q, strlen(q), &st, &used, NULL, &e) == 0 && st;
    sqlite3_finalize(st);
    kiln_free(q);
    return ok;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_bool(sqlite3_stmt *st, int i, json_t *v)
{
    if (json_is_boolean(v))
        sqlite3_bind_int(st, i, json_is_true(v));
    else
        sqlite3_bind_null(st, i);
}

static int name_ok(const char *full)
{
    /* owner/repo: letters, digits, '-', '_', '.'; one slash */
    int slashes = 0;
    if (!full || !*full || full[0] == '/' || full[0] == '.')
        return 0;
    for (const char *p = full; *p; p++) {
        if (*p == '/')
            slashes++;
        else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                   *p == '_' || *p == '.' || *p == '[' || *p == ']'))
            return 0;
    }
    return slashes == 1 && !strstr(full, "..") && full[strlen(full) - 1] != '/';
}

/* owner/repo for a URL path: '[' and ']' (bot accounts) percent-encoded */
static char *path_name(const char *full)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    for (const char *p = full; *p; p++) {
        if (*p == '[')
            (void)kiln_buf_append(&b, "%5B", 3, NULL);
        else if (*p == ']')
            (void)kiln_buf_append(&b, "%5D", 3, NULL);
        else
            (void)kiln_buf_putc(&b, *p, NULL);
    }
    char *out = kiln_buf_detach(&b, NULL);
    return out ? out : kiln_strdup("");
}

/* ------------------------------------------------------------ github-repos */

#define REPOS_DDL                                                                                                      \
    "CREATE TABLE IF NOT EXISTS github.repos (repo_id long not null, full_name string, language string, "              \
    "default_branch string, fork boolean, archived boolean, pushed_at timestamptz, row_hash string, "                  \
    "valid_from timestamptz not null, valid_to timestamptz, is_current boolean) PARTITIONED BY (bucket(8, repo_id))"

int kiln_ingest_github_repos(const kiln_ingest_gh_load_opts *o, kiln_ingest_gh_load_report *rep, kiln_err *err)
{
    memset(rep, 0, sizeof *rep);
    sqlite3 *db = NULL;
    kiln_github *g = NULL;
    sqlite3_stmt *sel = NULL, *ins = NULL;
    size_t used;
    char now[32];
    int rc = 0;
    if (o->observed_at) {
        int64_t us;
        if (kiln_ts_parse(o->observed_at, strlen(o->observed_at), &us) != 0)
            return kiln_err_set(err, KILN_EINVAL, "--observed-at %s: not a timestamp", o->observed_at);
        snprintf(now, sizeof now, "%s", o->observed_at);
    } else {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    if ((rc = db_open(&db, o->warehouse, err)))
        return rc;
    if (!table_exists(db, "github.pushes")) {
        rc = kiln_err_set(err, KILN_ENOTFOUND,
                          "%s: no table github.pushes (run `kiln job gh-events --format iceberg` first)", o->warehouse);
        goto out;
    }
    if ((rc = kiln_github_open(&g, &o->api, err)))
        goto out;
    if ((rc = sql_run(db,
                      "CREATE TEMP TABLE _obs (repo_id INTEGER PRIMARY KEY, full_name TEXT, language TEXT, "
                      "default_branch TEXT, fork INTEGER, archived INTEGER, pushed_at TEXT, row_hash TEXT)",
                      err)))
        goto out;
    const char *q = "SELECT repo_id, repo_name, max(created_at) FROM github.pushes GROUP BY repo_id ORDER BY repo_id";
    if ((rc = kiln_sql_prepare(db, q, strlen(q), &sel, &used, NULL, err)))
        goto out;
    const char *qi = "INSERT INTO temp._obs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    if ((rc = kiln_sql_prepare(db, qi, strlen(qi), &ins, &used, NULL, err)))
        goto out;
    int sr;
    while ((sr = sqlite3_step(sel)) == SQLITE_ROW) {
        int64_t repo_id = sqlite3_column_int64(sel, 0);
        const char *name = (const char *)sqlite3_column_text(sel, 1);
        rep->repos++;
        if (!name_ok(name)) {
            rep->repos_unavailable++;
            kiln_warn("github-repos: repo %lld: name \"%s\" is not owner/repo; skipped", (long long)repo_id,
                      name ? name : "");
            continue;
        }
        char *pn = path_name(name);
        char *path = pn ? kiln_sprintf("/repos/%s", pn) : NULL;
        kiln_free(pn);
        long status;
        char *body = NULL, *next = NULL;
        size_t n;
        int fc;
        rc = path ? kiln_github_get(g, path, &status, &body, &n, &next, &fc, err) : KILN_OOM(err);
        kiln_free(path);
        kiln_free(next);
        if (rc)
            goto out;
        if (status != 200) {
            /* 404 gone / private, 451 DMCA, 403 blocked: a fact, not a failure */
            rep->repos_unavailable++;
            kiln_info("github-repos: %s: HTTP %ld (recorded as unavailable)", name, status);
            kiln_free(body);
            continue;
        }
        json_t *j = json_loadb(body, n, 0, NULL);
        kiln_free(body);
        if (!json_is_object(j)) {
            json_decref(j);
            rc = kiln_err_set(err, KILN_EFORMAT, "GET /repos/%s: not a JSON object", name);
            goto out;
        }
        json_t *id = json_object_get(j, "id");
        if (json_is_integer(id) && json_integer_value(id) != repo_id)
            kiln_warn("github-repos: %s: the API says id %lld, github.pushes %lld (kept the pushes' id)", name,
                      (long long)json_integer_value(id), (long long)repo_id);
        const char *full = jstr(j, "full_name"), *lang = jstr(j, "language"), *br = jstr(j, "default_branch");
        json_t *fork = json_object_get(j, "fork"), *arch = json_object_get(j, "archived");
        char hin[1024], hash[65];
        snprintf(hin, sizeof hin, "%s\x1f%s\x1f%s\x1f%d\x1f%d", full ? full : "", lang ? lang : "\x01", br ? br : "",
                 json_is_true(fork), json_is_true(arch));
        kiln_sha256_hex(hin, strlen(hin), hash);
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, repo_id);
        bind_text(ins, 2, full);
        bind_text(ins, 3, lang);
        bind_text(ins, 4, br);
        bind_bool(ins, 5, fork);
        bind_bool(ins, 6, arch);
        bind_text(ins, 7, jstr(j, "pushed_at"));
        bind_text(ins, 8, hash);
        int ir = sqlite3_step(ins);
        json_decref(j);
        if (ir != SQLITE_DONE) {
            rc = kiln_err_set(err, KILN_EIO, "SQL: %s", sqlite3_errmsg(db));
            goto out;
        }
    }
    if (sr != SQLITE_DONE) {
        rc = kiln_err_set(err, KILN_EIO, "reading github.pushes: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_finalize(sel);
    sel = NULL;
    int64_t ins_n = 0, upd_n = 0;
    if ((rc = lake_write(db, REPOS_DDL, NULL, NULL, err)))
        goto out;
    /* counts for the report (before the MERGE changes what they read) */
    {
        const char *cq = "SELECT "
                         " (SELECT count(*) FROM temp._obs o JOIN github.repos r ON r.repo_id = o.repo_id "
                         "   AND r.valid_to IS NULL AND r.row_hash <> o.row_hash),"
                         " (SELECT count(*) FROM temp._obs o WHERE NOT EXISTS (SELECT 1 FROM github.repos r WHERE "
                         "   r.repo_id = o.repo_id AND r.valid_to IS NULL AND r.row_hash = o.row_hash))";
        sqlite3_stmt *cs = NULL;
        if ((rc = kiln_sql_prepare(db, cq, strlen(cq), &cs, &used, NULL, err)))
            goto out;
        if (sqlite3_step(cs) == SQLITE_ROW) {
            rep->versions_closed = sqlite3_column_int(cs, 0);
            rep->versions_opened = sqlite3_column_int(cs, 1);
        }
        sqlite3_finalize(cs);
    }
    char *merge = kiln_sprintf(
        "MERGE INTO github.repos t USING ("
        /* close: the current row whose tracked attributes changed */
        " SELECT r.repo_id AS repo_id, r.full_name AS full_name, r.language AS language,"
        "  r.default_branch AS default_branch, r.fork AS fork, r.archived AS archived, r.pushed_at AS pushed_at,"
        "  r.row_hash AS row_hash, r.valid_from AS valid_from, '%s' AS valid_to, 0 AS is_current"
        " FROM github.repos r JOIN temp._obs o ON o.repo_id = r.repo_id"
        " WHERE r.valid_to IS NULL AND r.row_hash <> o.row_hash"
        " UNION ALL"
        /* same attributes: pushed_at in place */
        " SELECT r.repo_id, r.full_name, r.language, r.default_branch, r.fork, r.archived, o.pushed_at, r.row_hash,"
        "  r.valid_from, NULL, 1"
        " FROM github.repos r JOIN temp._obs o ON o.repo_id = r.repo_id"
        " WHERE r.valid_to IS NULL AND r.row_hash = o.row_hash AND coalesce(r.pushed_at, '') <> coalesce(o.pushed_at, "
        "'')"
        " UNION ALL"
        /* open: a new or changed repo */
        " SELECT o.repo_id, o.full_name, o.language, o.default_branch, o.fork, o.archived, o.pushed_at, o.row_hash,"
        "  '%s', NULL, 1"
        " FROM temp._obs o WHERE NOT EXISTS (SELECT 1 FROM github.repos r WHERE r.repo_id = o.repo_id"
        "  AND r.valid_to IS NULL AND r.row_hash = o.row_hash)"
        ") s"
        " ON t.repo_id = s.repo_id AND t.valid_from = s.valid_from"
        " WHEN MATCHED THEN UPDATE SET valid_to = s.valid_to, is_current = s.is_current, pushed_at = s.pushed_at"
        " WHEN NOT MATCHED THEN INSERT *",
        now, now);
    if (!merge) {
        rc = KILN_OOM(err);
        goto out;
    }
    rc = lake_write(db, merge, &ins_n, &upd_n, err);
    kiln_free(merge);
    rep->rows_inserted = ins_n;
    rep->rows_updated = upd_n;
    rep->repos_unchanged = rep->repos - rep->repos_unavailable - rep->versions_opened;
out:
    if (g)
        kiln_github_stats_get(g, &rep->stats);
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    kiln_github_close(g);
    kiln_sql_db_close(db);
    return rc;
}

/* ------------------------------------------------------------ github-compare */

static int is_zero_sha(const char *s)
{
    if (!s || strlen(s) != 40)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p != '0')
            return 0;
    return 1;
}

static int sha_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static int ref_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 200 || strstr(s, "..") || s[0] == '/')
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == '?' || *p == '#' || *p == '%' || *p == '\\' || *p == 0x7f)
            return 0;
    return 1;
}

/* filter "actor=a,org=o,repo=o/r" -> SQL conditions with ? parameters */
static int filter_sql(const char *f, kiln_buf *where, char ***vals, int *nvals, kiln_err *err)
{
    *vals = NULL;
    *nvals = 0;
    if (!f || !*f)
        return 0;
    char *copy = kiln_strdup(f);
    if (!copy)
        return KILN_OOM(err);
    const char *keys[] = {"actor", "org", "repo"}, *cols[] = {"actor_login", "org_login", "repo_name"};
    kiln_buf parts[3];
    for (int k = 0; k < 3; k++)
        kiln_buf_init(&parts[k], 0);
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        int k = -1;
        if (eq) {
            *eq = 0;
            for (int i = 0; i < 3; i++)
                if (!strcmp(tok, keys[i]))
                    k = i;
        }
        if (k < 0 || !eq[1]) {
            rc = kiln_err_set(err, KILN_EINVAL,
                              "--filter %s: expected KEY=VALUE[,KEY=VALUE...] with keys actor, org, repo", f);
            break;
        }
        char **nv = kiln_realloc(*vals, (size_t)(*nvals + 1) * sizeof *nv);
        if (!nv) {
            rc = KILN_OOM(err);
            break;
        }
        *vals = nv;
        nv[(*nvals)++] = kiln_strdup(eq + 1);
        rc = kiln_buf_printf(&parts[k], err, "%slower(%s) = lower(?%d)", parts[k].len ? " OR " : "", cols[k],
                             *nvals + 1);
    }
    for (int k = 0; k < 3 && !rc; k++)
        if (parts[k].len)
            rc = kiln_buf_printf(where, err, " AND (%s)", parts[k].data);
    for (int k = 0; k < 3; k++)
        kiln_buf_free(&parts[k]);
    kiln_free(copy);
    return rc;
}

typedef struct cmp_ctx {
    kiln_github *g;
    kiln_store *cache;
    sqlite3 *db;
    sqlite3_stmt *ins, *ins_size;
    kiln_ingest_gh_load_report *rep;
    json_t *unavailable;
} cmp_ctx;

/* The repo's default branch (for a push whose before is 40 zeros). */
static int default_branch(cmp_ctx *c, const char *repo, char *out, size_t n, long *status, kiln_err *err)
{
    char *pn = path_name(repo);
    char *path = pn ? kiln_sprintf("/repos/%s", pn) : NULL, *body = NULL, *next = NULL;
    kiln_free(pn);
    size_t bl;
    int fc;
    out[0] = 0;
    int rc = path ? kiln_github_get(c->g, path, status, &body, &bl, &next, &fc, err) : KILN_OOM(err);
    kiln_free(path);
    kiln_free(next);
    if (!rc && *status == 200) {
        json_t *j = json_loadb(body, bl, 0, NULL);
        const char *b = j ? jstr(j, "default_branch") : NULL;
        snprintf(out, n, "%s", b ? b : "");
        json_decref(j);
    }
    kiln_free(body);
    return rc;
}

/* Every page of one compare, merged into one JSON object (commits of all
 * pages), or *status the failing status. */
static int compare_fetch(cmp_ctx *c, const char *repo, const char *base, const char *head, json_t **out, long *status,
                         kiln_err *err)
{
    *out = NULL;
    char *pn = path_name(repo);
    char *url = pn ? kiln_sprintf("/repos/%s/compare/%s...%s?per_page=250", pn, base, head) : NULL;
    kiln_free(pn);
    int rc = url ? 0 : KILN_OOM(err);
    json_t *merged = NULL;
    char *cur = url;
    while (!rc && cur) {
        char *body = NULL, *next = NULL;
        size_t n;
        int fc;
        rc = kiln_github_get(c->g, cur, status, &body, &n, &next, &fc, err);
        if (cur != url)
            kiln_free(cur);
        cur = NULL;
        if (rc)
            break;
        c->rep->pages++;
        if (*status != 200) {
            kiln_free(body);
            kiln_free(next);
            break;
        }
        json_t *j = json_loadb(body, n, 0, NULL);
        kiln_free(body);
        json_t *commits = j ? json_object_get(j, "commits") : NULL;
        if (!json_is_array(commits)) {
            json_decref(j);
            kiln_free(next);
            rc = kiln_err_set(err, KILN_EFORMAT, "compare %s %s...%s: no commits array", repo, base, head);
            break;
        }
        if (!merged) {
            merged = j;
        } else {
            json_array_extend(json_object_get(merged, "commits"), commits);
            json_decref(j);
        }
        cur = next;
    }
    if (cur && cur != url)
        kiln_free(cur);
    kiln_free(url);
    if (!rc && *status == 200)
        *out = merged;
    else
        json_decref(merged);
    return rc;
}

static int one_push(cmp_ctx *c, int64_t push_id, int64_t repo_id, const char *repo, const char *before,
                    const char *head, const char *created_at, kiln_err *err)
{
    kiln_ingest_gh_load_report *rep = c->rep;
    char base[256];
    long status = 200;
    int rc = 0;
    if (!name_ok(repo) || !sha_ok(head) || (!is_zero_sha(before) && !sha_ok(before))) {
        kiln_warn("github-compare: push %lld: repo %s, before %s, head %s: not comparable; skipped", (long long)push_id,
                  repo ? repo : "", before ? before : "", head ? head : "");
        rep->compares_unavailable++;
        return 0;
    }
    if (is_zero_sha(before)) {
        /* a new branch or tag: compare against the default branch */
        if ((rc = default_branch(c, repo, base, sizeof base, &status, err)))
            return rc;
        if (status == 200 && !ref_ok(base))
            status = 409;
    } else {
        snprintf(base, sizeof base, "%s", before);
    }
    json_t *res = NULL;
    char *key = NULL;
    if (status == 200) {
        key = kiln_sprintf("github-compare/%s/%s...%s.json", repo, base, head);
        if (!key)
            return KILN_OOM(err);
        char *data = NULL;
        size_t n = 0;
        if (c->cache && kiln_store_get(c->cache, key, 0, -1, 0, &data, &n, NULL) == 0) {
            res = json_loadb(data, n, 0, NULL);
            if (res)
                rep->compares_cached++;
        }
        kiln_free(data);
        if (!res) {
            if ((rc = compare_fetch(c, repo, base, head, &res, &status, err))) {
                kiln_free(key);
                return rc;
            }
            if (res) {
                rep->compares_fetched++;
                char *txt = json_dumps(res, JSON_COMPACT);
                kiln_err e = {0};
                if (txt && c->cache && kiln_store_put(c->cache, key, txt, strlen(txt), &e) != 0)
                    kiln_warn("github-compare: caching %s: %s", key, e.msg);
                free(txt);
            }
        }
    }
    kiln_free(key);
    if (!res) {
        /* 404 (gone, private), 451 (DMCA), 409 (empty repo), 422 (no common ancestor) */
        rep->compares_unavailable++;
        json_t *u = json_pack("{sIsIsssssssi}", "push_id", (json_int_t)push_id, "repo_id", (json_int_t)repo_id, "repo",
                              repo, "base", base, "head", head, "status", (int)status);
        if (u)
            json_array_append_new(c->unavailable, u);
        return 0;
    }
    json_t *tc = json_object_get(res, "total_commits");
    if (json_is_integer(tc)) {
        sqlite3_reset(c->ins_size);
        sqlite3_bind_int64(c->ins_size, 1, push_id);
        sqlite3_bind_int64(c->ins_size, 2, (sqlite3_int64)json_integer_value(tc));
        if (sqlite3_step(c->ins_size) != SQLITE_DONE) {
            json_decref(res);
            return kiln_err_set(err, KILN_EIO, "SQL: %s", sqlite3_errmsg(c->db));
        }
    }
    size_t i;
    json_t *cm;
    json_array_foreach(json_object_get(res, "commits"), i, cm)
    {
        const char *sha = jstr(cm, "sha");
        json_t *commit = json_object_get(cm, "commit");
        json_t *author = json_object_get(commit, "author");
        if (!sha)
            continue;
        sqlite3_reset(c->ins);
        sqlite3_bind_int64(c->ins, 1, repo_id);
        bind_text(c->ins, 2, repo);
        bind_text(c->ins, 3, sha);
        sqlite3_bind_int64(c->ins, 4, push_id);
        bind_text(c->ins, 5, jstr(author, "name"));
        bind_text(c->ins, 6, jstr(author, "email"));
        bind_text(c->ins, 7, jstr(commit, "message"));
        bind_text(c->ins, 8, created_at);
        if (sqlite3_step(c->ins) != SQLITE_DONE) {
            json_decref(res);
            return kiln_err_set(err, KILN_EIO, "SQL: %s", sqlite3_errmsg(c->db));
        }
        rep->commits++;
    }
    json_decref(res);
    return 0;
}

int kiln_ingest_github_compare(const kiln_ingest_gh_load_opts *o, kiln_ingest_gh_load_report *rep, kiln_err *err)
{
    memset(rep, 0, sizeof *rep);
    cmp_ctx c;
    memset(&c, 0, sizeof c);
    c.rep = rep;
    sqlite3_stmt *sel = NULL;
    size_t used;
    kiln_buf where;
    kiln_buf_init(&where, 0);
    char **vals = NULL;
    int nvals = 0, rc = 0;
    const char *since = o->since ? o->since : "2025-10-07";
    int64_t sd;
    if (kiln_date_parse(since, strlen(since), &sd) != 0)
        return kiln_err_set(err, KILN_EINVAL, "--since %s: expected YYYY-MM-DD", since);
    if ((rc = filter_sql(o->filter, &where, &vals, &nvals, err)))
        goto out;
    if (!(c.unavailable = json_array())) {
        rc = KILN_OOM(err);
        goto out;
    }
    if ((rc = db_open(&c.db, o->warehouse, err)))
        goto out;
    if (!table_exists(c.db, "github.pushes") || !table_exists(c.db, "github.commits")) {
        rc = kiln_err_set(err, KILN_ENOTFOUND,
                          "%s: no tables github.pushes / github.commits (run `kiln job gh-events --format iceberg` "
                          "first)",
                          o->warehouse);
        goto out;
    }
    if ((rc = kiln_github_open(&c.g, &o->api, err)))
        goto out;
    const char *cache_root = o->api.cache;
    if (cache_root && (rc = kiln_store_open(&c.cache, cache_root, NULL, err)))
        goto out;
    if ((rc = sql_run(c.db,
                      "CREATE TEMP TABLE _c (repo_id INTEGER, repo_name TEXT, sha TEXT, push_id INTEGER, author_name "
                      "TEXT, author_email TEXT, message TEXT, created_at TEXT)",
                      err)))
        goto out;
    const char *qi = "INSERT INTO temp._c VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    if ((rc = kiln_sql_prepare(c.db, qi, strlen(qi), &c.ins, &used, NULL, err)))
        goto out;
    if ((rc = sql_run(c.db, "CREATE TEMP TABLE _p (push_id INTEGER PRIMARY KEY, size INTEGER)", err)))
        goto out;
    const char *qp = "INSERT OR REPLACE INTO temp._p VALUES (?1, ?2)";
    if ((rc = kiln_sql_prepare(c.db, qp, strlen(qp), &c.ins_size, &used, NULL, err)))
        goto out;
    char *q = kiln_sprintf("SELECT push_id, repo_id, repo_name, \"before\", head, created_at FROM github.pushes "
                           "WHERE created_at >= ?1%s ORDER BY created_at, push_id",
                           where.data ? where.data : "");
    if (!q) {
        rc = KILN_OOM(err);
        goto out;
    }
    rc = kiln_sql_prepare(c.db, q, strlen(q), &sel, &used, NULL, err);
    kiln_free(q);
    if (rc)
        goto out;
    char sday[11];
    kiln_date_format(sd, sday);
    sqlite3_bind_text(sel, 1, sday, -1, SQLITE_TRANSIENT);
    for (int i = 0; i < nvals; i++)
        sqlite3_bind_text(sel, i + 2, vals[i], -1, SQLITE_TRANSIENT);
    int sr;
    while ((sr = sqlite3_step(sel)) == SQLITE_ROW) {
        rep->pushes++;
        if ((rc = one_push(&c, sqlite3_column_int64(sel, 0), sqlite3_column_int64(sel, 1),
                           (const char *)sqlite3_column_text(sel, 2), (const char *)sqlite3_column_text(sel, 3),
                           (const char *)sqlite3_column_text(sel, 4), (const char *)sqlite3_column_text(sel, 5), err)))
            goto out;
    }
    if (sr != SQLITE_DONE) {
        rc = kiln_err_set(err, KILN_EIO, "reading github.pushes: %s", sqlite3_errmsg(c.db));
        goto out;
    }
    sqlite3_finalize(sel);
    sel = NULL;
    if (rep->commits > 0) {
        /* one row per (repo_id, sha): the latest push carrying it */
        const char *merge =
            "MERGE INTO github.commits t USING ("
            " SELECT repo_id, repo_name, sha, push_id, author_name, author_email, message, NULL AS \"distinct\","
            "  created_at FROM (SELECT *, row_number() OVER (PARTITION BY repo_id, sha ORDER BY created_at DESC,"
            "  push_id DESC) AS rn FROM temp._c) WHERE rn = 1"
            ") s ON t.repo_id = s.repo_id AND t.sha = s.sha"
            " WHEN MATCHED AND s.created_at > t.created_at THEN UPDATE SET *"
            " WHEN NOT MATCHED THEN INSERT *";
        if ((rc = lake_write(c.db, merge, &rep->rows_inserted, &rep->rows_updated, err)))
            goto out;
    }
    /* the pushes' size (commits in the push) where the event lacks it;
     * distinct_size stays unknown */
    {
        const char *pm = "MERGE INTO github.pushes t USING (SELECT p.push_id AS push_id, p.size AS size FROM temp._p p"
                         " JOIN github.pushes g ON g.push_id = p.push_id WHERE g.size IS NULL OR g.size <> p.size) s"
                         " ON t.push_id = s.push_id WHEN MATCHED THEN UPDATE SET size = s.size";
        sqlite3_stmt *cs = NULL;
        const char *cq = "SELECT count(*) FROM temp._p";
        int any = 0;
        if (kiln_sql_prepare(c.db, cq, strlen(cq), &cs, &used, NULL, err) == 0 && sqlite3_step(cs) == SQLITE_ROW)
            any = sqlite3_column_int(cs, 0) > 0;
        sqlite3_finalize(cs);
        if (any && (rc = lake_write(c.db, pm, &rep->sizes_set, &rep->sizes_set, err)))
            goto out;
    }
    if (c.cache && json_array_size(c.unavailable)) {
        char *txt = json_dumps(c.unavailable, JSON_INDENT(1));
        kiln_err e = {0};
        if (txt && kiln_store_put(c.cache, "github-compare/_unavailable.json", txt, strlen(txt), &e) != 0)
            kiln_warn("github-compare: recording unavailable compares: %s", e.msg);
        free(txt);
    }
out:
    if (c.g)
        kiln_github_stats_get(c.g, &rep->stats);
    sqlite3_finalize(sel);
    sqlite3_finalize(c.ins);
    sqlite3_finalize(c.ins_size);
    kiln_github_close(c.g);
    kiln_store_free(c.cache);
    kiln_sql_db_close(c.db);
    json_decref(c.unavailable);
    for (int i = 0; i < nvals; i++)
        kiln_free(vals[i]);
    kiln_free(vals);
    kiln_buf_free(&where);
    return rc;
}
