/*
 * run.c - `kiln seed`, `run`, `test` and `build`: running a project's
 * nodes in dbt's order on kiln's SQL layer, each result an Iceberg table
 * of the profile's warehouse.
 *
 *  - seed: the CSV (LF or CRLF, BOM stripped; integer/real/text inferred per
 *    column, empty = NULL) is loaded into a temporary SQLite table, then
 *    written as the Iceberg table <schema>.<seed> in one commit.
 *  - table (and, for now, view: see docs/models.md) models: CREATE TABLE AS
 *    when the table is new; INSERT OVERWRITE (one atomic commit) when it
 *    exists with the same columns; drop + CREATE TABLE AS when its columns
 *    changed or with --full-refresh. Ephemeral models are inlined as CTEs.
 *  - tests: dbt's wrapper, `select count(*) ... from (<test sql>)`: 0 rows
 *    pass; otherwise FAIL (severity error) or WARN (severity warn).
 *
 * Order: generation then unique_id, with dbt's test edges in build (a test
 * runs before every node that descends from all of its parents), so a
 * failing test, an error or a skip marks every descendant SKIP.
 */
#include "models/project.h"

#include "lake/lake.h"
#include "sql/sql.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>

enum { ST_NONE = 0, ST_OK, ST_WARN, ST_ERROR, ST_FAIL, ST_SKIP };

typedef struct runner {
    kiln_project *p;
    sqlite3 *db;
    FILE *out;
    unsigned char *status; /* per node */
    int pass, warn, error, skip;
    size_t total, pos;
    km_result *results; /* one per node run or skipped */
    size_t nresults;
    const km_node *cur; /* the model being run, to place SQL errors in its compiled SQL */
    /* --threads: each worker has its own runner (own SQLite connection, own
     * cur) whose sh points at the shared one: status, counters, results,
     * output and the scheduler's state, under sh->lock when threaded. */
    struct runner *sh;
    int threaded;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_rwlock_t wlock; /* writers (seeds, models, snapshots) alone; tests together */
    unsigned char *started; /* per node: picked by a worker */
    unsigned char *incr;    /* per node: builds incrementally (decided before the run) */
    const km_idxvec *sel;
    size_t running, done, todo;
    int stop, fatal;
    kiln_err fatal_err;
    int thread_no; /* 1.. (run_results' thread_id) */
} runner;

static void sh_lock(runner *r)
{
    if (r->sh->threaded)
        pthread_mutex_lock(&r->sh->lock);
}
static void sh_unlock(runner *r)
{
    if (r->sh->threaded)
        pthread_mutex_unlock(&r->sh->lock);
}

/* An SQL error at byte `at` of statement text `sql`: when that falls inside
 * the current model's compiled SQL, say where (line and column of the
 * compiled file), so the user can find it in target/compiled/. */
static void place_error(runner *r, const char *sql, long at, kiln_err *err)
{
    if (!r->cur || !r->cur->compiled || at < 0)
        return;
    const char *base = strstr(sql, r->cur->compiled);
    if (!base || sql + at < base || sql + at >= base + r->cur->compiled_len)
        return;
    unsigned line = 1, col = 1;
    for (const char *q = base; q < sql + at; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)*q & 0xC0) != 0x80) {
            col++;
        }
    }
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s (at line %u, column %u of %s/compiled/%s/%s)", err->msg, line, col, r->p->target_path,
             r->p->name, r->cur->path);
    snprintf(err->msg, sizeof err->msg, "%s", msg);
}

static void line(runner *r, size_t pos, const char *left, const char *right)
{
    char buf[600];
    int n = snprintf(buf, sizeof buf, "%zu of %zu %s ", pos, r->sh->total, left);
    fputs(buf, r->sh->out);
    for (int i = n; i < 76; i++)
        fputc('.', r->sh->out);
    fprintf(r->sh->out, " [%s]\n", right);
    fflush(r->sh->out);
}

/* Run every statement of sql on db (kiln's write statements included); on
 * an error, *err_at is its byte offset in sql when known, else -1. */
int kiln_models__exec_all(sqlite3 *db, const char *sql, long *err_at, kiln_err *err)
{
    size_t len = strlen(sql), off = 0;
    int rc = 0;
    if (err_at)
        *err_at = -1;
    while (off < len && !rc) {
        int handled = 0;
        size_t used = 0;
        long eo = -1;
        rc = kiln_sql_write_try(db, sql + off, len - off, KILN_SQL_WRITE_QUIET, &handled, &used, &eo, NULL, err);
        if (!rc && !handled) {
            sqlite3_stmt *st = NULL;
            if (!(rc = kiln_sql_prepare(db, sql + off, len - off, &st, &used, &eo, err)) && st) {
                int s;
                while ((s = sqlite3_step(st)) == SQLITE_ROW)
                    ;
                if (s != SQLITE_DONE)
                    rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
                sqlite3_finalize(st);
                eo = -1;
            }
        }
        if (rc) {
            if (err_at && eo >= 0)
                *err_at = (long)off + eo;
            return rc;
        }
        if (!used)
            break;
        off += used;
    }
    return rc;
}

/* Run every statement of sql, an error placed in the node's compiled SQL. */
static int exec_sql(runner *r, const char *sql, kiln_err *err)
{
    long at;
    int rc = kiln_models__exec_all(r->db, sql, &at, err);
    if (rc)
        place_error(r, sql, at, err);
    return rc;
}

/* Column names of a query, joined by ','; caller frees. */
static int query_columns(runner *r, const char *sql, char **out, kiln_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t used;
    long eo;
    *out = NULL;
    int rc = kiln_sql_prepare(r->db, sql, strlen(sql), &st, &used, &eo, err);
    if (rc) {
        place_error(r, sql, eo, err);
        return rc;
    }
    kiln_buf b;
    kiln_buf_init(&b, 0);
    for (int i = 0; st && i < sqlite3_column_count(st) && !rc; i++)
        rc = kiln_buf_printf(&b, err, "%s%s", i ? "," : "", sqlite3_column_name(st, i));
    sqlite3_finalize(st);
    if (rc) {
        kiln_buf_free(&b);
        return rc;
    }
    *out = kiln_buf_detach(&b, NULL);
    if (!*out)
        *out = kiln_strdup("");
    return *out ? 0 : KILN_OOM(err);
}

/* flow3: rel is a write at the build's branch: schema."ident@BRANCH" */
static int branch_rel(const runner *r, const char *rel)
{
    const char *b = r->p->opts.branch;
    size_t n = strlen(rel), bl = b ? strlen(b) : 0;
    return b && n > bl + 2 && rel[n - 1] == '"' && rel[n - bl - 2] == '@' && !memcmp(rel + n - bl - 1, b, bl);
}

static int table_exists(runner *r, const char *rel)
{
    kiln_lake_table *t = NULL;
    kiln_err e = {0};
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(r->db);
    char plain[600];
    if (branch_rel(r, rel)) { /* the table (main) of schema."ident@BRANCH" */
        const char *q = strstr(rel, ".\"");
        size_t sl = q ? (size_t)(q - rel) : 0, il = strlen(rel) - sl - 3 - strlen(r->p->opts.branch) - 1;
        if (!q || sl + il + 2 > sizeof plain)
            return 0;
        snprintf(plain, sizeof plain, "%.*s.%.*s", (int)sl, rel, (int)il, q + 2);
        rel = plain;
    }
    if (!cat || kiln_lake_table_load(&t, cat, rel, &e))
        return 0;
    kiln_lake_table_free(t);
    return 1;
}

/* A partition column must be a plain identifier (PARTITIONED BY takes no
 * quoted names); 0 when it is, else an error naming it. */
static int plain_ident(const char *c, kiln_err *err)
{
    int ok = *c == '_' || ((*c | 32) >= 'a' && (*c | 32) <= 'z');
    for (const char *q = c; ok && *q; q++)
        ok = *q == '_' || ((*q | 32) >= 'a' && (*q | 32) <= 'z') || (*q >= '0' && *q <= '9');
    return ok ? 0 : kiln_err_set(err, KILN_EINVAL, "partition_by: '%s' is not a plain column name", c);
}

/* partition_by as CTAS's PARTITIONED BY list (appended to out, empty when
 * unset): a column or a list of columns (dbt-spark's form: identity
 * partitions), or BigQuery's {field, data_type, granularity}: a date or
 * timestamp field partitioned by hour/day/month/year (default day), an
 * int64 field by its value. */
static int partition_clause(const km_node *n, kiln_buf *out, kiln_err *err)
{
    kj_val k = n ? kiln_models__cfg(n, "partition_by") : kj_undef();
    if (k.t == KJ_NONE || k.t == KJ_UNDEF)
        return 0;
    if (k.t == KJ_DICT) {
        kj_val *f = kj_dict_getc(k, "field"), *dt = kj_dict_getc(k, "data_type"), *g = kj_dict_getc(k, "granularity");
        if (!f || f->t != KJ_STR)
            return kiln_err_set(err, KILN_EINVAL, "partition_by: a mapping needs field: <column>");
        const char *type = dt && dt->t == KJ_STR ? dt->u.s->p : "date";
        const char *gran = g && g->t == KJ_STR ? g->u.s->p : "day";
        if (!strcasecmp(type, "int64"))
            return plain_ident(f->u.s->p, err) ? KILN_EINVAL : kiln_buf_printf(out, err, "%s", f->u.s->p);
        if (strcasecmp(type, "date") && strcasecmp(type, "timestamp") && strcasecmp(type, "datetime"))
            return kiln_err_set(err, KILN_EINVAL, "partition_by: data_type '%s' (date, timestamp, datetime, int64)",
                                type);
        if (strcasecmp(gran, "hour") && strcasecmp(gran, "day") && strcasecmp(gran, "month") &&
            strcasecmp(gran, "year"))
            return kiln_err_set(err, KILN_EINVAL, "partition_by: granularity '%s' (hour, day, month, year)", gran);
        if (plain_ident(f->u.s->p, err))
            return KILN_EINVAL;
        return kiln_buf_printf(out, err, "%s(%s)", gran, f->u.s->p);
    }
    size_t cnt = k.t == KJ_LIST ? k.u.l->len : k.t == KJ_STR ? 1 : 0;
    if (!cnt)
        return kiln_err_set(err, KILN_EINVAL, "partition_by must be a column, a list of columns or a mapping");
    for (size_t i = 0; i < cnt; i++) {
        kj_val x = k.t == KJ_LIST ? k.u.l->items[i] : k;
        if (x.t != KJ_STR)
            return kiln_err_set(err, KILN_EINVAL, "partition_by must be a column name or a list of them");
        int rc = plain_ident(x.u.s->p, err) ? KILN_EINVAL : kiln_buf_printf(out, err, "%s%s", i ? ", " : "", x.u.s->p);
        if (rc)
            return rc;
    }
    return 0;
}

/* Replace table rel with the rows of query: one commit when it can be. */
/* 1 when rel's current partition spec has fields */
static int table_partitioned(runner *r, const char *rel)
{
    kiln_lake_table *t = NULL;
    kiln_err e = {0};
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(r->db);
    if (!cat || kiln_lake_table_load(&t, cat, rel, &e))
        return 0;
    const kiln_lake_spec *s = kiln_lake_meta_default_spec(kiln_lake_table_meta(t));
    int yes = s && s->nfields > 0;
    kiln_lake_table_free(t);
    return yes;
}

/* One INSERT OVERWRITE statement; *noop = 1 when it committed nothing (the
 * query returned no rows). */
static int overwrite_sql(runner *r, const char *sql, int *noop, kiln_err *err)
{
    char *text = NULL;
    size_t tlen = 0, used = 0;
    int handled = 0;
    long eo = -1;
    FILE *mem = open_memstream(&text, &tlen);
    if (!mem)
        return KILN_OOM(err);
    int rc = kiln_sql_write_try(r->db, sql, strlen(sql), KILN_SQL_WRITE_SUMMARY, &handled, &used, &eo, mem, err);
    fclose(mem);
    if (rc)
        place_error(r, sql, eo, err);
    else if (!handled)
        rc = kiln_err_set(err, KILN_EINTERNAL, "INSERT OVERWRITE was not run");
    *noop = text && strstr(text, "nothing changed (no commit)") != NULL;
    free(text);
    return rc;
}

static int write_table(runner *r, const char *rel, const char *query, kiln_err *err)
{
    int rc;
    char *sql = NULL, *have = NULL, *want = NULL, *probe = NULL;
    int on_branch = branch_rel(r, rel); /* flow3: replace the branch's rows (or create the table there) */
    if (table_exists(r, rel) && (!r->p->opts.full_refresh || on_branch)) {
        probe = kiln_sprintf("select * from %s", rel);
        char *wq = kiln_sprintf("select * from (\n%s\n) limit 0", query);
        if (!probe || !wq) {
            kiln_free(wq);
            rc = KILN_OOM(err);
            goto done;
        }
        rc = query_columns(r, probe, &have, err);
        if (!rc)
            rc = query_columns(r, wq, &want, err);
        kiln_free(wq);
        if (rc)
            goto done;
        if (!strcmp(have, want) && (on_branch || !table_partitioned(r, rel))) {
            /* INSERT OVERWRITE is a dynamic partition overwrite: a query
             * that returns no rows changes nothing (Iceberg's rule), so an
             * empty result replaces the table as a partitioned one does */
            int noop = 0;
            sql = kiln_sprintf("insert overwrite %s\n%s", rel, query);
            rc = sql ? overwrite_sql(r, sql, &noop, err) : KILN_OOM(err);
            if (rc || !noop || on_branch)
                goto done;
            kiln_free(sql);
            sql = NULL;
        }
        if (!strcmp(have, want)) {
            /* a partitioned table (or an empty result): replaced whole, in
             * one catalog commit, so partitions the query no longer has go */
            kiln_buf part;
            kiln_buf_init(&part, 0);
            if (!(rc = partition_clause(r->cur, &part, err))) {
                sql = kiln_sprintf("create or replace table %s%s%s%s as\n%s", rel, part.len ? " partitioned by (" : "",
                                   part.len ? part.data : "", part.len ? ")" : "", query);
                rc = sql ? exec_sql(r, sql, err) : KILN_OOM(err);
            }
            kiln_buf_free(&part);
            goto done;
        }
    }
    if (on_branch && r->p->opts.branch_new) { /* a plan's environment: new table or new columns */
        kiln_buf part;
        kiln_buf_init(&part, 0);
        if (!(rc = partition_clause(r->cur, &part, err)))
            rc = kiln_models__branch_stage(r->p, r->db, rel, query, part.data, want != NULL, want, 1, err);
        kiln_buf_free(&part);
        goto done;
    }
    if (on_branch && table_exists(r, rel)) { /* (a new table is created on the branch below) */
        rc = kiln_err_set(err, KILN_EUNSUPP,
                          "%s: the model's columns (%s) differ from the table's (%s); a build on branch '%s' "
                          "cannot change a table's schema (the schema is shared by every branch): build it on main",
                          rel, want ? want : "?", have ? have : "?", r->p->opts.branch);
        goto done;
    }
    if (table_exists(r, rel)) {
        /* the columns changed (or --full-refresh): drop, then create */
        kiln_lake_catalog *cat = kiln_sql_lake_catalog(r->db);
        if ((rc = kiln_lake_table_drop(cat, rel, 1, err)))
            goto done;
        char *drop = kiln_sprintf("drop table if exists %s", rel);
        rc = drop ? exec_sql(r, drop, err) : KILN_OOM(err);
        kiln_free(drop);
        if (rc)
            goto done;
    }
    kiln_buf part;
    kiln_buf_init(&part, 0);
    if (!(rc = partition_clause(r->cur, &part, err))) {
        sql = kiln_sprintf("create table %s%s%s%s as\n%s", rel, part.len ? " partitioned by (" : "",
                           part.len ? part.data : "", part.len ? ")" : "", query);
        rc = sql ? exec_sql(r, sql, err) : KILN_OOM(err);
    }
    kiln_buf_free(&part);
done:
    kiln_free(sql);
    kiln_free(have);
    kiln_free(want);
    kiln_free(probe);
    return rc;
}

/* ------------------------------------------------------------ view */

static int view_exists(runner *r, const char *rel)
{
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(r->db);
    char ns[129], v[129], name[260];
    kiln_lake_catalog *c2 = cat ? cat : r->p->catalog;
    if (!c2 || kiln_sql_relation_name(rel, ns, v))
        return 0;
    snprintf(name, sizeof name, "%s.%s", ns, v);
    return kiln_lake_view_exists(c2, name);
}

/* A view model: an Iceberg view (kiln SQL's CREATE OR REPLACE VIEW: the
 * definition is stored, the query runs when the view is read). A table of
 * that name (the model was a table) is dropped first, as dbt's view
 * materialization drops a relation of another type. */
static int write_view(runner *r, const char *rel, const char *query, kiln_err *err)
{
    int rc = 0;
    if (table_exists(r, rel)) {
        kiln_lake_catalog *cat = kiln_sql_lake_catalog(r->db);
        if ((rc = kiln_lake_table_drop(cat, rel, 1, err)))
            return rc;
        char *drop = kiln_sprintf("drop table if exists %s", rel);
        rc = drop ? exec_sql(r, drop, err) : KILN_OOM(err);
        kiln_free(drop);
        if (rc)
            return rc;
    }
    char *sql = kiln_sprintf("create or replace view %s as\n%s", rel, query);
    rc = sql ? exec_sql(r, sql, err) : KILN_OOM(err);
    kiln_free(sql);
    return rc;
}

/* A table or incremental model where a view of that name is (the model
 * was a view): drop the view. */
static int drop_view_of(runner *r, const char *rel, kiln_err *err)
{
    if (!view_exists(r, rel))
        return 0;
    char *drop = kiln_sprintf("drop view if exists %s", rel);
    int rc = drop ? exec_sql(r, drop, err) : KILN_OOM(err);
    kiln_free(drop);
    return rc;
}

/* ------------------------------------------------------------ incremental */

/* Split a query's column list "a,b,c" (query_columns) into a vector. */
static int split_cols(const char *csv, km_strvec *out, kiln_err *err)
{
    const char *p = csv;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        char *s = kiln_strndup(p, n);
        int rc = !s ? KILN_OOM(err) : kiln_vec_push(out, s, err);
        if (rc)
            return rc;
        p += n + (c ? 1 : 0);
    }
    return 0;
}

static int has_col(const km_strvec *v, const char *c)
{
    for (size_t i = 0; i < v->len; i++)
        if (!strcasecmp(v->items[i], c))
            return 1;
    return 0;
}

/* unique_key as a list of column names (a string or a list of strings). */
static int unique_keys(const km_node *n, km_strvec *out, kiln_err *err)
{
    kj_val k = kiln_models__cfg(n, "unique_key");
    size_t cnt = k.t == KJ_LIST ? k.u.l->len : k.t == KJ_STR ? 1 : 0;
    for (size_t i = 0; i < cnt; i++) {
        kj_val x = k.t == KJ_LIST ? k.u.l->items[i] : k;
        if (x.t != KJ_STR)
            return kiln_err_set(err, KILN_EINVAL, "unique_key must be a column name or a list of them");
        char *s = kiln_strdup(x.u.s->p);
        int rc = !s ? KILN_OOM(err) : kiln_vec_push(out, s, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* partition_by as column names: a column, a list of them, or BigQuery's
 * {field: x, ...}. */
static int partition_cols(const km_node *n, km_strvec *out, kiln_err *err)
{
    kj_val k = kiln_models__cfg(n, "partition_by");
    if (k.t == KJ_DICT) {
        kj_val *f = kj_dict_getc(k, "field"), *dt = kj_dict_getc(k, "data_type"), *g = kj_dict_getc(k, "granularity");
        if (!f || f->t != KJ_STR)
            return kiln_err_set(err, KILN_EINVAL, "partition_by: a mapping needs field: <column>");
        /* partitions are matched on the column's value: right for a date
         * by day and an int64, not for coarser or timestamp partitions */
        const char *type = dt && dt->t == KJ_STR ? dt->u.s->p : "date";
        const char *gran = g && g->t == KJ_STR ? g->u.s->p : "day";
        if (!(!strcasecmp(type, "int64") || (!strcasecmp(type, "date") && !strcasecmp(gran, "day"))))
            return kiln_err_set(err, KILN_EUNSUPP,
                                "insert_overwrite on a partition_by of data_type %s, granularity "
                                "%s is not supported (a date by day, an int64, or columns are)",
                                type, gran);
        k = *f;
    }
    size_t cnt = k.t == KJ_LIST ? k.u.l->len : k.t == KJ_STR ? 1 : 0;
    for (size_t i = 0; i < cnt; i++) {
        kj_val x = k.t == KJ_LIST ? k.u.l->items[i] : k;
        if (x.t != KJ_STR)
            return kiln_err_set(err, KILN_EINVAL, "partition_by must be a column name or a list of them");
        char *s = kiln_strdup(x.u.s->p);
        int rc = !s ? KILN_OOM(err) : kiln_vec_push(out, s, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* on_schema_change append_new_columns / sync_all_columns: ALTER TABLE the
 * target (its own Iceberg commit, before the data's; the data snapshot is
 * unchanged until then) to add the model's new columns and, with
 * sync_all_columns, drop the columns the model no longer returns. tcols
 * becomes the table's new column list. */
static int evolve_schema(runner *r, const km_node *n, const char *rel, km_strvec *tcols, const km_strvec *mcols,
                         int drop, kiln_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < mcols->len && !rc; i++) {
        if (has_col(tcols, mcols->items[i]))
            continue;
        const char *ty;
        char *sql = NULL, *c = NULL;
        if (!(rc = kiln_models__col_type(r->db, n->compiled ? n->compiled : "", mcols->items[i], &ty, err))) {
            sql = kiln_sprintf("alter table %s add column \"%s\" %s", rel, mcols->items[i], ty);
            c = kiln_strdup(mcols->items[i]);
            rc = !sql || !c ? KILN_OOM(err) : exec_sql(r, sql, err);
        }
        if (!rc)
            rc = kiln_vec_push(tcols, c, err);
        else
            kiln_free(c);
        kiln_free(sql);
    }
    for (size_t i = 0; drop && i < tcols->len && !rc;) {
        if (has_col(mcols, tcols->items[i])) {
            i++;
            continue;
        }
        char *sql = kiln_sprintf("alter table %s drop column \"%s\"", rel, tcols->items[i]);
        rc = sql ? exec_sql(r, sql, err) : KILN_OOM(err);
        kiln_free(sql);
        if (!rc) {
            kiln_free(tcols->items[i]);
            memmove(&tcols->items[i], &tcols->items[i + 1], (tcols->len - i - 1) * sizeof(char *));
            tcols->len--;
        }
    }
    return rc;
}

/* Apply the new rows of an incremental model to its existing table, in one
 * commit: append (INSERT INTO), merge (MERGE INTO on unique_key) or
 * delete+insert (INSERT OVERWRITE of the kept rows plus the new ones).
 * Columns are the target's, taken from the new rows by name; new columns
 * are ignored (on_schema_change: ignore), or an error with fail. */
static int write_incremental(runner *r, km_node *n, const char *rel, kiln_err *err)
{
    int rc;
    char *have = NULL, *want = NULL, *probe = kiln_sprintf("select * from %s", rel),
         *wq = kiln_sprintf("select * from (\n%s\n) limit 0", n->compiled ? n->compiled : "");
    km_strvec tcols = {0}, mcols = {0}, keys = {0};
    kiln_buf cols, sql, scols;
    kiln_buf_init(&cols, 0);
    kiln_buf_init(&scols, 0);
    kiln_buf_init(&sql, 0);
    if (!probe || !wq) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = query_columns(r, probe, &have, err)) || (rc = query_columns(r, wq, &want, err)) ||
        (rc = split_cols(have, &tcols, err)) || (rc = split_cols(want, &mcols, err)) ||
        (rc = unique_keys(n, &keys, err)))
        goto done;
    const char *osc = kiln_models__cfg_str(n, "on_schema_change", "ignore");
    int same = tcols.len == mcols.len;
    for (size_t i = 0; i < mcols.len && same; i++)
        same = has_col(&tcols, mcols.items[i]);
    if (!same && !strcmp(osc, "fail")) {
        rc = kiln_err_set(err, KILN_EFORMAT,
                          "The source and target schemas on this incremental model are out of sync "
                          "(on_schema_change: fail): table has (%s), model has (%s)",
                          have, want);
        goto done;
    }
    int append_new = !strcmp(osc, "append_new_columns"), sync_all = !strcmp(osc, "sync_all_columns");
    if (!same && strcmp(osc, "ignore") && !append_new && !sync_all) {
        rc = kiln_err_set(err, KILN_EINVAL,
                          "on_schema_change: '%s' is not one of ignore, fail, append_new_columns, "
                          "sync_all_columns",
                          osc);
        goto done;
    }
    if (!same && (append_new || sync_all) && branch_rel(r, rel) && r->p->opts.branch_new) {
        /* a plan's environment: the new columns staged on the branch only */
        kiln_buf nc;
        kiln_buf_init(&nc, 0);
        for (size_t i = 0; i < tcols.len && !rc && !sync_all; i++)
            rc = kiln_buf_printf(&nc, err, "%s%s", nc.len ? "," : "", tcols.items[i]);
        for (size_t i = 0; i < mcols.len && !rc; i++)
            if (sync_all || !has_col(&tcols, mcols.items[i]))
                rc = kiln_buf_printf(&nc, err, "%s%s", nc.len ? "," : "", mcols.items[i]);
        if (!rc)
            rc = kiln_models__branch_stage(r->p, r->db, rel, n->compiled ? n->compiled : "", NULL, 1, nc.data, 0, err);
        for (size_t i = 0; i < tcols.len; i++)
            kiln_free(tcols.items[i]);
        tcols.len = 0;
        if (!rc)
            rc = split_cols(nc.data, &tcols, err);
        kiln_buf_free(&nc);
        if (rc)
            goto done;
    } else if (!same && (append_new || sync_all) && (rc = evolve_schema(r, n, rel, &tcols, &mcols, sync_all, err)))
        goto done;
    for (size_t i = 0; i < tcols.len && !rc; i++) {
        if (!has_col(&mcols, tcols.items[i]) && !append_new) {
            rc = kiln_err_set(err, KILN_EFORMAT,
                              "the model no longer returns the table's column '%s' "
                              "(run with --full-refresh to rebuild)",
                              tcols.items[i]);
            break;
        }
        rc = kiln_buf_printf(&cols, err, "%s\"%s\"", cols.len ? ", " : "", tcols.items[i]);
        /* append_new_columns keeps the table's columns the model stopped
         * returning: NULL in the new rows */
        if (!rc)
            rc = has_col(&mcols, tcols.items[i])
                     ? kiln_buf_printf(&scols, err, "%s\"%s\"", scols.len ? ", " : "", tcols.items[i])
                     : kiln_buf_printf(&scols, err, "%sNULL as \"%s\"", scols.len ? ", " : "", tcols.items[i]);
    }
    if (!rc && !strcmp(kiln_models__cfg_str(n, "incremental_strategy", ""), "insert_overwrite")) {
        for (size_t i = 0; i < keys.len; i++) /* its "keys" are the partition columns, not unique_key */
            kiln_free(keys.items[i]);
        keys.len = 0;
        rc = partition_cols(n, &keys, err);
    }
    for (size_t i = 0; i < keys.len && !rc; i++)
        if (!has_col(&tcols, keys.items[i]) || !has_col(&mcols, keys.items[i]))
            rc = kiln_err_set(err, KILN_EFORMAT, "unique_key column '%s' is not in both the table and the model",
                              keys.items[i]);
    if (rc)
        goto done;
    const char *strategy = kiln_models__cfg_str(n, "incremental_strategy", keys.len ? "delete+insert" : "append");
    const char *q = n->compiled ? n->compiled : "";
    if (!strcmp(strategy, "append")) {
        rc = kiln_buf_printf(&sql, err, "insert into %s (%s)\nselect %s from (\n%s\n) dbt_incr", rel, cols.data,
                             scols.data, q);
    } else if (!strcmp(strategy, "insert_overwrite")) {
        /* replace the partitions the new rows fall in (NULL-safe match on
         * the partition_by columns); without partition_by, the whole table */
        if (!keys.len)
            rc =
                kiln_buf_printf(&sql, err, "insert overwrite %s\nselect %s from (\n%s\n) dbt_incr", rel, scols.data, q);
        else
            rc = kiln_buf_printf(&sql, err,
                                 "insert overwrite %s\nselect %s from %s as dbt_old where not exists (\n"
                                 "  select 1 from (\n%s\n) dbt_new where ",
                                 rel, cols.data, rel, q);
        for (size_t i = 0; i < keys.len && !rc; i++)
            rc = kiln_buf_printf(&sql, err, "%sdbt_new.\"%s\" is dbt_old.\"%s\"", i ? " and " : "", keys.items[i],
                                 keys.items[i]);
        if (!rc && keys.len)
            rc = kiln_buf_printf(&sql, err, ")\nunion all\nselect %s from (\n%s\n) dbt_incr", scols.data, q);
    } else if (!strcmp(strategy, "merge") || !strcmp(strategy, "delete+insert")) {
        if (!keys.len) {
            rc = kiln_err_set(err, KILN_EINVAL, "incremental_strategy %s needs a unique_key", strategy);
            goto done;
        }
        if (!strcmp(strategy, "merge")) {
            rc = kiln_buf_printf(
                &sql, err, "merge into %s as dbt_internal_dest using (\n%s\n) as dbt_internal_source on ", rel, q);
            for (size_t i = 0; i < keys.len && !rc; i++)
                rc = kiln_buf_printf(&sql, err, "%sdbt_internal_dest.\"%s\" = dbt_internal_source.\"%s\"",
                                     i ? " and " : "", keys.items[i], keys.items[i]);
            /* updated: merge_update_columns, else every column but
             * merge_exclude_columns; never the keys (they are equal) */
            kj_val upd = kiln_models__cfg(n, "merge_update_columns"),
                   exc = kiln_models__cfg(n, "merge_exclude_columns");
            int nset = 0;
            for (size_t i = 0; i < tcols.len && !rc; i++) {
                kj_val c = kj_str_c(tcols.items[i]);
                int in_upd = upd.t != KJ_LIST, in_exc = 0;
                for (size_t k = 0; upd.t == KJ_LIST && k < upd.u.l->len; k++)
                    in_upd |= kj_equal(upd.u.l->items[k], c);
                for (size_t k = 0; exc.t == KJ_LIST && k < exc.u.l->len; k++)
                    in_exc |= kj_equal(exc.u.l->items[k], c);
                kj_release(c);
                if (!in_upd || in_exc || has_col(&keys, tcols.items[i]) || !has_col(&mcols, tcols.items[i]))
                    continue;
                rc = kiln_buf_printf(&sql, err, "%s\"%s\" = dbt_internal_source.\"%s\"",
                                     nset++ ? ", " : "\nwhen matched then update set ", tcols.items[i], tcols.items[i]);
            }
            if (!rc)
                rc = kiln_buf_printf(&sql, err, "\nwhen not matched then insert (%s) values (", cols.data);
            for (size_t i = 0; i < tcols.len && !rc; i++)
                rc = has_col(&mcols, tcols.items[i])
                         ? kiln_buf_printf(&sql, err, "%sdbt_internal_source.\"%s\"", i ? ", " : "", tcols.items[i])
                         : kiln_buf_printf(&sql, err, "%sNULL", i ? ", " : "");
            if (!rc)
                rc = kiln_buf_putc(&sql, ')', err);
        } else {
            /* delete+insert as one overwrite: the rows whose key is not in
             * the new rows, then the new rows */
            rc = kiln_buf_printf(&sql, err,
                                 "insert overwrite %s\nselect %s from %s as dbt_old where not exists (\n"
                                 "  select 1 from (\n%s\n) dbt_new where ",
                                 rel, cols.data, rel, q);
            for (size_t i = 0; i < keys.len && !rc; i++)
                rc = kiln_buf_printf(&sql, err, "%sdbt_new.\"%s\" = dbt_old.\"%s\"", i ? " and " : "", keys.items[i],
                                     keys.items[i]);
            if (!rc)
                rc = kiln_buf_printf(&sql, err, ")\nunion all\nselect %s from (\n%s\n) dbt_incr", scols.data, q);
        }
    } else {
        rc = kiln_err_set(err, KILN_EUNSUPP,
                          "incremental_strategy '%s' is not supported (append, merge, delete+insert, insert_overwrite)",
                          strategy);
    }
    if (!rc)
        rc = exec_sql(r, sql.data, err);
done:
    for (int v = 0; v < 3; v++) {
        km_strvec *x = v == 0 ? &tcols : v == 1 ? &mcols : &keys;
        for (size_t i = 0; i < x->len; i++)
            kiln_free(x->items[i]);
        kiln_vec_free(x);
    }
    kiln_buf_free(&cols);
    kiln_buf_free(&scols);
    kiln_buf_free(&sql);
    kiln_free(have);
    kiln_free(want);
    kiln_free(probe);
    kiln_free(wq);
    return rc;
}

/* ------------------------------------------------------------ snapshots */

/* A snapshot (SCD type 2, dbt's columns dbt_scd_id, dbt_updated_at,
 * dbt_valid_from, dbt_valid_to). The first run creates the table from the
 * query; later runs rewrite it in one commit (INSERT OVERWRITE) as:
 *   A. every row kept as is (history, and current rows that did not change)
 *   B. current rows that changed (or vanished, with hard deletes
 *      invalidated), closed: dbt_valid_to = the new version's valid_from
 *   C. new versions: rows whose key is new or whose current row changed.
 * "Changed" is the strategy: timestamp (updated_at newer than the current
 * row's dbt_valid_from) or check (a check column differs, null-safe). */
static int run_snapshot(runner *r, km_node *n, const char *rel, kiln_err *err)
{
    int rc = 0;
    km_strvec keys = {0}, tcols = {0}, scols = {0}, checks = {0};
    kiln_buf km, chg, upd, src, sql, keyexpr;
    kiln_buf_init(&km, 0);
    kiln_buf_init(&chg, 0);
    kiln_buf_init(&upd, 0);
    kiln_buf_init(&src, 0);
    kiln_buf_init(&sql, 0);
    kiln_buf_init(&keyexpr, 0);
    char *have = NULL, *want = NULL, *probe = NULL, *wq = NULL, *curp = NULL, *vtnew = NULL;
    const char *q = n->compiled ? n->compiled : "";
    const char *strategy = kiln_models__cfg_str(n, "strategy", "");
    const char *updated_at = kiln_models__cfg_str(n, "updated_at", NULL);
    kj_val hd = kiln_models__cfg(n, "invalidate_hard_deletes");
    const char *hard = kiln_models__cfg_str(n, "hard_deletes", kj_truthy(hd) ? "invalidate" : "ignore");
    char now[40];
    kiln_ts_format(r->p->started_micros, now);
    /* dbt 1.9: snapshot_meta_column_names, dbt_valid_to_current, hard_deletes: new_record */
    const char *VF = "dbt_valid_from", *VT = "dbt_valid_to", *SCD = "dbt_scd_id", *UPD = "dbt_updated_at",
               *DEL = "dbt_is_deleted";
    kj_val mc = kiln_models__cfg(n, "snapshot_meta_column_names");
    if (mc.t == KJ_DICT) {
        const char **slot[] = {&VF, &VT, &SCD, &UPD, &DEL};
        static const char *const keys5[] = {"dbt_valid_from", "dbt_valid_to", "dbt_scd_id", "dbt_updated_at",
                                            "dbt_is_deleted"};
        for (int i = 0; i < 5; i++) {
            kj_val *v = kj_dict_getc(mc, keys5[i]);
            if (v && v->t == KJ_STR && v->u.s->p[0])
                *slot[i] = v->u.s->p;
            else if (v && v->t != KJ_NONE && v->t != KJ_UNDEF) {
                rc = kiln_err_set(err, KILN_EINVAL, "snapshot %s: snapshot_meta_column_names.%s must be a column name",
                                  n->name, keys5[i]);
                goto done;
            }
        }
    }
    const char *vtc = kiln_models__cfg_str(n, "dbt_valid_to_current", NULL);
    curp = vtc ? kiln_sprintf("(cur.\"%s\" is null or cur.\"%s\" = (%s))", VT, VT, vtc)
               : kiln_sprintf("cur.\"%s\" is null", VT);
    vtnew = vtc ? kiln_sprintf("(%s)", vtc) : kiln_strdup("null");
    if (!curp || !vtnew) {
        rc = KILN_OOM(err);
        goto done;
    }
    int newrec = !strcmp(hard, "new_record");
    if ((rc = unique_keys(n, &keys, err)))
        goto done;
    if (!keys.len) {
        rc = kiln_err_set(err, KILN_EINVAL, "snapshot %s needs a unique_key config", n->name);
        goto done;
    }
    if (strcmp(hard, "ignore") && strcmp(hard, "invalidate") && !newrec) {
        rc = kiln_err_set(err, KILN_EINVAL,
                          "snapshot %s: hard_deletes must be ignore, invalidate or new_record (not %s)", n->name, hard);
        goto done;
    }
    wq = kiln_sprintf("select * from (\n%s\n) limit 0", q);
    if (!wq || (rc = query_columns(r, wq, &want, err)) || (rc = split_cols(want, &scols, err)))
        goto done;
    for (size_t i = 0; i < keys.len && !rc; i++) {
        if (!has_col(&scols, keys.items[i]))
            rc = kiln_err_set(err, KILN_EFORMAT, "snapshot %s: unique_key column '%s' is not in its query", n->name,
                              keys.items[i]);
        rc =
            rc ? rc
               : kiln_buf_printf(&km, err, "%ssrc.\"%s\" = cur.\"%s\"", i ? " and " : "", keys.items[i], keys.items[i]);
        rc = rc ? rc
                : kiln_buf_printf(&keyexpr, err, "%scoalesce(cast(s.\"%s\" as text), '')", i ? " || '|' || " : "",
                                  keys.items[i]);
    }
    if (rc)
        goto done;
    if (!strcmp(strategy, "timestamp")) {
        if (!updated_at || !has_col(&scols, updated_at)) {
            rc = kiln_err_set(err, KILN_EINVAL,
                              "snapshot %s: strategy timestamp needs updated_at, a column of its query", n->name);
            goto done;
        }
        rc = kiln_buf_printf(&upd, err, "s.\"%s\"", updated_at);
        if (!rc)
            rc = kiln_buf_printf(&chg, err, "src.kiln_upd > cur.\"%s\"", VF);
    } else if (!strcmp(strategy, "check")) {
        kj_val cc = kiln_models__cfg(n, "check_cols");
        if (cc.t == KJ_STR && !strcmp(cc.u.s->p, "all")) {
            for (size_t i = 0; i < scols.len && !rc; i++)
                rc = kiln_vec_push(&checks, kiln_strdup(scols.items[i]), err);
        } else if (cc.t == KJ_LIST) {
            for (size_t i = 0; i < cc.u.l->len && !rc; i++) {
                if (cc.u.l->items[i].t != KJ_STR || !has_col(&scols, cc.u.l->items[i].u.s->p))
                    rc = kiln_err_set(err, KILN_EINVAL, "snapshot %s: check_cols must name columns of its query",
                                      n->name);
                else
                    rc = kiln_vec_push(&checks, kiln_strdup(cc.u.l->items[i].u.s->p), err);
            }
        } else {
            rc = kiln_err_set(err, KILN_EINVAL, "snapshot %s: strategy check needs check_cols ('all' or a list)",
                              n->name);
        }
        for (size_t i = 0; i < checks.len && !rc; i++)
            rc = !checks.items[i] ? KILN_OOM(err)
                                  : kiln_buf_printf(&chg, err, "%s(src.\"%s\" is not cur.\"%s\")", i ? " or " : "(",
                                                    checks.items[i], checks.items[i]);
        if (!rc)
            rc = kiln_buf_printf(&chg, err, ")");
        if (!rc)
            rc = kiln_buf_printf(&upd, err, "'%s'", now);
    } else {
        rc = kiln_err_set(err, KILN_EINVAL, "snapshot %s: strategy must be timestamp or check", n->name);
    }
    if (rc)
        goto done;
    /* the source rows with their version columns */
    if ((rc = kiln_buf_printf(
             &src, err,
             "(select s.*, %s as kiln_upd, md5(%s || '|' || coalesce(cast(%s as text), '')) as kiln_scd "
             "from (\n%s\n) s)",
             upd.data, keyexpr.data, upd.data, q)))
        goto done;
    if (!table_exists(r, rel)) {
        rc = kiln_buf_printf(
            &sql, err,
            "create table %s as\nselect s.*, md5(%s || '|' || coalesce(cast(%s as text), '')) as \"%s\", "
            "%s as \"%s\", %s as \"%s\", %s as \"%s\"%s%s%s from (\n%s\n) s",
            rel, keyexpr.data, upd.data, SCD, upd.data, UPD, upd.data, VF, "cast(null as text)", VT,
            newrec ? ", 'False' as \"" : "", newrec ? DEL : "", newrec ? "\"" : "", q);
        if (!rc)
            rc = exec_sql(r, sql.data, err);
        /* dbt_valid_to_current: a second commit sets it on the current rows,
         * so that the column's type is inferred from the NULLs (a string), not
         * from the expression's values alone (a date would truncate the
         * timestamps later versions close rows with); until then NULL also
         * reads as current */
        if (!rc && vtc) {
            kiln_buf_reset(&sql);
            probe = kiln_sprintf("select * from %s", rel);
            if (!probe || (rc = query_columns(r, probe, &have, err)) || (rc = split_cols(have, &tcols, err)))
                goto done;
            rc = kiln_buf_printf(&sql, err, "insert overwrite %s\nselect ", rel);
            for (size_t i = 0; i < tcols.len && !rc; i++)
                rc = !strcmp(tcols.items[i], VT)
                         ? kiln_buf_printf(&sql, err, "%scast(%s as text)", i ? ", " : "", vtnew)
                         : kiln_buf_printf(&sql, err, "%s\"%s\"", i ? ", " : "", tcols.items[i]);
            if (!rc)
                rc = kiln_buf_printf(&sql, err, " from %s", rel);
            if (!rc)
                rc = exec_sql(r, sql.data, err);
        }
        goto done;
    }
    probe = kiln_sprintf("select * from %s", rel);
    if (!probe || (rc = query_columns(r, probe, &have, err)) || (rc = split_cols(have, &tcols, err)))
        goto done;
    if (!has_col(&tcols, VF) || !has_col(&tcols, VT) || (newrec && !has_col(&tcols, DEL))) {
        rc = kiln_err_set(err, KILN_EFORMAT,
                          "snapshot %s: the table %s has no column %s (snapshot_meta_column_names or hard_deletes "
                          "changed since it was created: rename the column or drop the table)",
                          n->name, rel,
                          !has_col(&tcols, VF)   ? VF
                          : !has_col(&tcols, VT) ? VT
                                                 : DEL);
        goto done;
    }
    /* The statement below probes the source rows and the current rows once
     * per row (correlated subqueries): over the query and the Iceberg table
     * themselves that is quadratic (minutes for a few thousand rows). Copy
     * both into temporary SQLite tables indexed on the unique key first. */
    {
        kiln_buf prep, idx;
        kiln_buf_init(&prep, 0);
        kiln_buf_init(&idx, 0);
        for (size_t i = 0; i < keys.len && !rc; i++)
            rc = kiln_buf_printf(&idx, err, "%s\"%s\"", i ? ", " : "", keys.items[i]);
        if (!rc)
            rc = kiln_buf_printf(&prep, err,
                                 "drop table if exists temp.kiln_snap_src; drop table if exists temp.kiln_snap_cur;\n"
                                 "create temp table kiln_snap_src as select * from %s;\n"
                                 "create temp table kiln_snap_cur as select * from %s;\n"
                                 "create index temp.kiln_snap_src_k on kiln_snap_src(%s);\n"
                                 "create index temp.kiln_snap_cur_k on kiln_snap_cur(%s);\n",
                                 src.data, rel, idx.data, idx.data);
        if (!rc)
            rc = exec_sql(r, prep.data, err);
        kiln_buf_free(&prep);
        kiln_buf_free(&idx);
        if (rc)
            goto done;
        kiln_buf_reset(&src);
        if ((rc = kiln_buf_printf(&src, err, "temp.kiln_snap_src")))
            goto done;
    }
    const char *cur_rel = "temp.kiln_snap_cur";
    kiln_buf cols_a, cols_b, cols_c, cols_d, keyexpr_cur;
    kiln_buf_init(&cols_a, 0);
    kiln_buf_init(&cols_b, 0);
    kiln_buf_init(&cols_c, 0);
    kiln_buf_init(&cols_d, 0);
    kiln_buf_init(&keyexpr_cur, 0);
    for (size_t i = 0; i < keys.len && !rc; i++)
        rc = kiln_buf_printf(&keyexpr_cur, err, "%scoalesce(cast(cur.\"%s\" as text), '')", i ? " || '|' || " : "",
                             keys.items[i]);
    /* new_record: a current deletion record (DEL = 'True') is not a live row */
    char *live = newrec ? kiln_sprintf("coalesce(cur.\"%s\", 'False') != 'True'", DEL) : kiln_strdup("1");
    if (!live)
        rc = KILN_OOM(err);
    for (size_t i = 0; i < tcols.len && !rc; i++) {
        const char *c = tcols.items[i], *sep = i ? ", " : "";
        rc = kiln_buf_printf(&cols_a, err, "%scur.\"%s\"", sep, c);
        if (!rc && !strcmp(c, VT))
            rc = kiln_buf_printf(&cols_b, err,
                                 "%scase when %s then coalesce((select src.kiln_upd from %s src where %s limit 1), "
                                 "'%s') else '%s' end",
                                 sep, live, src.data, km.data, now, now);
        else if (!rc)
            rc = kiln_buf_printf(&cols_b, err, "%scur.\"%s\"", sep, c);
        if (rc)
            break;
        if (!strcmp(c, SCD))
            rc = kiln_buf_printf(&cols_c, err, "%ssrc.kiln_scd", sep);
        else if (!strcmp(c, UPD) || !strcmp(c, VF))
            rc = kiln_buf_printf(&cols_c, err, "%ssrc.kiln_upd", sep);
        else if (!strcmp(c, VT))
            rc = kiln_buf_printf(&cols_c, err, "%s%s", sep, vtnew);
        else if (newrec && !strcmp(c, DEL))
            rc = kiln_buf_printf(&cols_c, err, "%s'False'", sep);
        else if (has_col(&scols, c))
            rc = kiln_buf_printf(&cols_c, err, "%ssrc.\"%s\"", sep, c);
        else
            rc = kiln_buf_printf(&cols_c, err, "%snull", sep); /* a column the query dropped */
        if (rc || !newrec)
            continue;
        /* D (new_record): the deletion record of a current row whose key left the source */
        if (!strcmp(c, SCD))
            rc = kiln_buf_printf(&cols_d, err, "%smd5(%s || '|' || '%s')", sep, keyexpr_cur.data, now);
        else if (!strcmp(c, UPD) || !strcmp(c, VF))
            rc = kiln_buf_printf(&cols_d, err, "%s'%s'", sep, now);
        else if (!strcmp(c, VT))
            rc = kiln_buf_printf(&cols_d, err, "%s%s", sep, vtnew);
        else if (!strcmp(c, DEL))
            rc = kiln_buf_printf(&cols_d, err, "%s'True'", sep);
        else
            rc = kiln_buf_printf(&cols_d, err, "%scur.\"%s\"", sep, c);
    }
    /* "closes": the current row has a changed version, or (invalidate,
     * new_record) no source row; (new_record) a deletion record whose key
     * is back in the source */
    kiln_buf closes;
    kiln_buf_init(&closes, 0);
    if (!rc)
        rc = kiln_buf_printf(&closes, err, "%s and ((%s and exists (select 1 from %s src where %s and %s))", curp, live,
                             src.data, km.data, chg.data);
    if (!rc && strcmp(hard, "ignore"))
        rc = kiln_buf_printf(&closes, err, " or (%s and not exists (select 1 from %s src where %s))", live, src.data,
                             km.data);
    if (!rc && newrec)
        rc = kiln_buf_printf(&closes, err, " or (not (%s) and exists (select 1 from %s src where %s))", live, src.data,
                             km.data);
    if (!rc)
        rc = kiln_buf_printf(&closes, err, ")");
    if (!rc)
        rc = kiln_buf_printf(&sql, err,
                             "insert overwrite %s\n"
                             "select %s from %s cur where not (%s)\n"
                             "union all\n"
                             "select %s from %s cur where %s\n"
                             "union all\n"
                             "select %s from %s src where not exists (select 1 from %s cur where %s and "
                             "%s and %s and not (%s))",
                             rel, cols_a.data, cur_rel, closes.data, cols_b.data, cur_rel, closes.data, cols_c.data,
                             src.data, cur_rel, km.data, curp, live, chg.data);
    if (!rc && newrec)
        rc = kiln_buf_printf(&sql, err,
                             "\nunion all\n"
                             "select %s from %s cur where %s and %s and not exists (select 1 from %s src where %s)",
                             cols_d.data, cur_rel, curp, live, src.data, km.data);
    kiln_buf_free(&cols_a);
    kiln_buf_free(&cols_b);
    kiln_buf_free(&cols_c);
    kiln_buf_free(&cols_d);
    kiln_buf_free(&keyexpr_cur);
    kiln_free(live);
    kiln_buf_free(&closes);
    if (!rc)
        rc = exec_sql(r, sql.data, err);
    if (tcols.len) { /* the temporary copies (best effort) */
        kiln_err e2 = {0};
        exec_sql(r, "drop table if exists temp.kiln_snap_src; drop table if exists temp.kiln_snap_cur;", &e2);
    }
done:
    for (int v = 0; v < 4; v++) {
        km_strvec *x = v == 0 ? &keys : v == 1 ? &tcols : v == 2 ? &scols : &checks;
        for (size_t i = 0; i < x->len; i++)
            kiln_free(x->items[i]);
        kiln_vec_free(x);
    }
    kiln_buf_free(&km);
    kiln_buf_free(&chg);
    kiln_buf_free(&upd);
    kiln_buf_free(&src);
    kiln_buf_free(&sql);
    kiln_buf_free(&keyexpr);
    kiln_free(have);
    kiln_free(want);
    kiln_free(probe);
    kiln_free(wq);
    kiln_free(curp);
    kiln_free(vtnew);
    return rc;
}

/* ------------------------------------------------------------ seeds */

typedef KILN_VEC(char *) fields;

static void fields_free(fields *f)
{
    for (size_t i = 0; i < f->len; i++)
        kiln_free(f->items[i]);
    f->len = 0;
}

/* One CSV record (RFC 4180 quotes) from *pp; returns 0, 1 at the end. */
static int csv_record(const char **pp, const char *e, char delim, fields *out, kiln_err *err)
{
    const char *p = *pp;
    if (p >= e)
        return 1;
    int rc = 0;
    for (;;) {
        kiln_buf b;
        kiln_buf_init(&b, 0);
        if (p < e && *p == '"') {
            p++;
            while (p < e && !rc) {
                if (*p == '"') {
                    if (p + 1 < e && p[1] == '"') {
                        rc = kiln_buf_putc(&b, '"', err);
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                rc = kiln_buf_putc(&b, *p++, err);
            }
        }
        while (p < e && *p != delim && *p != '\n' && *p != '\r' && !rc)
            rc = kiln_buf_putc(&b, *p++, err);
        char *f = kiln_buf_detach(&b, NULL);
        if (!f)
            f = kiln_strdup("");
        if (rc || !f || (rc = kiln_vec_push(out, f, err))) {
            kiln_free(f);
            return rc ? rc : KILN_OOM(err);
        }
        if (p < e && *p == delim) {
            p++;
            continue;
        }
        if (p < e && *p == '\r')
            p++;
        if (p < e && *p == '\n')
            p++;
        break;
    }
    *pp = p;
    return 0;
}

int kiln_models__is_int_text(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int is_real_text(const char *s)
{
    char *end;
    if (!*s)
        return 0;
    strtod(s, &end);
    return !*end && strpbrk(s, "0123456789") && !strpbrk(s, "xXnN");
}

/* A column_types type: 'i' integer, 'r' real (float, double, decimal,
 * numeric), 'b' boolean, 't' text, 'd' date, 's' timestamp; 0 unknown. */
static char seed_type_kind(const char *t)
{
    char up[64];
    size_t k = 0;
    for (; t[k] && k + 1 < sizeof up; k++)
        up[k] = (char)toupper((unsigned char)t[k]);
    up[k] = 0;
    if (!strncmp(up, "DECIMAL(", 8) || !strncmp(up, "NUMERIC(", 8)) {
        int p, s;
        char close;
        return sscanf(up + 8, "%d,%d%c", &p, &s, &close) == 3 && close == ')' && p >= 1 && p <= 18 && s >= 0 && s <= p
                   ? 'r'
                   : 0;
    }
    static const struct {
        const char *name;
        char kind;
    } m[] = {{"INTEGER", 'i'}, {"INT", 'i'},     {"BIGINT", 'i'},  {"SMALLINT", 'i'},
             {"INT64", 'i'},   {"FLOAT", 'r'},   {"DOUBLE", 'r'},  {"REAL", 'r'},
             {"DECIMAL", 'r'}, {"NUMERIC", 'r'}, {"FLOAT64", 'r'}, {"DOUBLE PRECISION", 'r'},
             {"BOOLEAN", 'b'}, {"BOOL", 'b'},    {"TEXT", 't'},    {"STRING", 't'},
             {"VARCHAR", 't'}, {"CHAR", 't'},    {"DATE", 'd'},    {"TIMESTAMP", 's'},
             {"DATETIME", 's'}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        size_t l = strlen(m[i].name);
        if (!strncmp(up, m[i].name, l) && (!up[l] || (up[l] == '(' && strchr(up, ')') && m[i].kind == 't')))
            return m[i].kind;
    }
    return 0;
}

static int run_seed(runner *r, km_node *n, const char *wrel, kiln_err *err)
{
    int rc = 0;
    const char *p = n->raw, *e = n->raw + n->raw_len;
    if (e - p >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    const char *dl = kiln_models__cfg_str(n, "delimiter", ",");
    char delim = dl[0] ? dl[0] : ',';
    fields header = {0}, row = {0};
    KILN_VEC(char *) cells = {0}; /* all cells, row-major */
    char *types = NULL, *sql = NULL, *rel = NULL;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    if ((rc = csv_record(&p, e, delim, &header, err)) < 0)
        goto done;
    if (rc == 1 || !header.len) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s: the seed has no header row", n->path);
        goto done;
    }
    size_t ncol = header.len, nrow = 0;
    while ((rc = csv_record(&p, e, delim, &row, err)) == 0) {
        if (row.len == 1 && !row.items[0][0]) { /* blank line */
            fields_free(&row);
            continue;
        }
        nrow++;
        if (row.len != ncol) {
            rc = kiln_err_set(err, KILN_EFORMAT, "%s:%zu: %zu fields, the header has %zu", n->path, nrow + 1, row.len,
                              ncol);
            goto done;
        }
        for (size_t i = 0; i < ncol && !rc; i++) {
            rc = kiln_vec_push(&cells, row.items[i], err);
            if (!rc)
                row.items[i] = NULL;
        }
        row.len = 0;
        if (rc)
            goto done;
    }
    if (rc < 0)
        goto done;
    rc = 0;
    /* per column: 'i' integer, 'r' real, 't' text */
    types = kiln_malloc(ncol + 1);
    if (!types) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t c = 0; c < ncol; c++) {
        char t = 'i';
        for (size_t i = 0; i < nrow; i++) {
            const char *v = cells.items[i * ncol + c];
            if (!*v || !strcmp(v, "null"))
                continue;
            if (t == 'i' && !kiln_models__is_int_text(v))
                t = is_real_text(v) ? 'r' : 't';
            else if (t == 'r' && !is_real_text(v))
                t = 't';
        }
        types[c] = t;
    }
    /* column_types: {column: SQL type} overrides the inferred type; the
     * declared type gives the Iceberg type (integer/bigint -> long,
     * float/double -> double, decimal(p,s), varchar/text -> string, date,
     * timestamp, boolean) and says how the text is bound */
    kj_val ct = kiln_models__cfg(n, "column_types");
    const char **decl = kiln_calloc(2 * ncol + 1, sizeof *decl), **ddecl = decl + ncol;
    if (!decl) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t k = 0; ct.t == KJ_DICT && k < ct.u.d->len && !rc; k++) {
        kj_val key = ct.u.d->keys[k], v = ct.u.d->vals[k];
        size_t c = 0;
        while (c < ncol && !(key.t == KJ_STR && !strcmp(header.items[c], key.u.s->p)))
            c++;
        char kind = v.t == KJ_STR ? seed_type_kind(v.u.s->p) : 0;
        if (c == ncol)
            rc = kiln_err_set(err, KILN_EFORMAT, "%s: column_types names '%s', which is not a column of the seed",
                              n->path, key.t == KJ_STR ? key.u.s->p : "?");
        else if (!kind)
            rc = kiln_err_set(err, KILN_EFORMAT,
                              "%s: column_types: '%s': unknown type '%s' (use integer, bigint, float, double, "
                              "decimal(p,s), varchar, text, string, date, timestamp or boolean)",
                              n->path, header.items[c], v.t == KJ_STR ? v.u.s->p : "?");
        else {
            decl[c] = v.u.s->p;
            types[c] = kind == 'd' || kind == 's' ? 't' : kind;
            /* what SQLite declares, so the table gets the Iceberg type */
            ddecl[c] = kind == 'i'                             ? "BIGINT"
                       : kind == 'b'                           ? "BOOLEAN"
                       : kind == 't'                           ? "TEXT"
                       : kind == 'd'                           ? "DATE"
                       : kind == 's'                           ? "TIMESTAMP"
                       : !strncasecmp(v.u.s->p, "decimal(", 8) ? v.u.s->p
                                                               : "DOUBLE";
        }
    }
    if (rc) {
        kiln_free(decl);
        goto done;
    }
    /* a typed column's values must fit its type (an inferred one does) */
    for (size_t c = 0; c < ncol && !rc; c++)
        for (size_t i = 0; decl[c] && i < nrow && !rc; i++) {
            const char *v = cells.items[i * ncol + c];
            if (!*v || !strcmp(v, "null"))
                continue;
            int ok = types[c] == 'i'   ? kiln_models__is_int_text(v)
                     : types[c] == 'r' ? kiln_models__is_int_text(v) || is_real_text(v)
                     : types[c] == 'b'
                         ? !strcasecmp(v, "true") || !strcasecmp(v, "false") || !strcmp(v, "1") || !strcmp(v, "0")
                         : 1;
            if (!ok)
                rc = kiln_err_set(err, KILN_EFORMAT, "%s:%zu: column '%s' is %s (column_types), but holds '%s'",
                                  n->path, i + 2, header.items[c], decl[c], v);
        }
    rc = rc ? rc : kiln_buf_printf(&b, err, "drop table if exists temp.kiln_seed; create temp table kiln_seed (");
    for (size_t c = 0; c < ncol && !rc; c++)
        rc = kiln_buf_printf(&b, err, "%s\"%s\" %s", c ? ", " : "", header.items[c],
                             decl[c]           ? ddecl[c]
                             : types[c] == 'i' ? "INT"
                             : types[c] == 'r' ? "FLOAT"
                                               : "TEXT");
    kiln_free(decl);
    if (!rc)
        rc = kiln_buf_append(&b, ")", 1, err);
    if (rc || (rc = exec_sql(r, b.data, err)))
        goto done;
    kiln_buf_reset(&b);
    rc = kiln_buf_printf(&b, err, "insert into temp.kiln_seed values (");
    for (size_t c = 0; c < ncol && !rc; c++)
        rc = kiln_buf_printf(&b, err, "%s?", c ? ", " : "");
    if (!rc)
        rc = kiln_buf_append(&b, ")", 1, err);
    if (rc)
        goto done;
    sqlite3_stmt *ins = NULL;
    if (sqlite3_prepare_v2(r->db, b.data, -1, &ins, NULL) != SQLITE_OK) {
        rc = kiln_err_set(err, KILN_EINTERNAL, "seed insert: %s", sqlite3_errmsg(r->db));
        goto done;
    }
    for (size_t i = 0; i < nrow && !rc; i++) {
        for (size_t c = 0; c < ncol; c++) {
            const char *v = cells.items[i * ncol + c];
            if (!*v || !strcmp(v, "null"))
                sqlite3_bind_null(ins, (int)c + 1);
            else if (types[c] == 'i')
                sqlite3_bind_int64(ins, (int)c + 1, strtoll(v, NULL, 10));
            else if (types[c] == 'r')
                sqlite3_bind_double(ins, (int)c + 1, strtod(v, NULL));
            else if (types[c] == 'b')
                sqlite3_bind_int(ins, (int)c + 1, !strcasecmp(v, "true") || !strcmp(v, "1"));
            else
                sqlite3_bind_text(ins, (int)c + 1, v, -1, SQLITE_STATIC);
        }
        if (sqlite3_step(ins) != SQLITE_DONE)
            rc = kiln_err_set(err, KILN_EFORMAT, "%s: %s", n->path, sqlite3_errmsg(r->db));
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    if (rc)
        goto done;
    if (!(rel = wrel ? kiln_strdup(wrel) : kiln_models__relation(r->p, n))) { /* flow3: wrel, a branch write */
        rc = KILN_OOM(err);
        goto done;
    }
    rc = write_table(r, rel, "select * from temp.kiln_seed", err);
    if (!rc)
        rc = exec_sql(r, "drop table if exists temp.kiln_seed", err);
    if (!rc)
        n->compiled_len = nrow; /* rows, for the report */
done:
    fields_free(&header);
    kiln_vec_free(&header);
    fields_free(&row);
    kiln_vec_free(&row);
    for (size_t i = 0; i < cells.len; i++)
        kiln_free(cells.items[i]);
    kiln_vec_free(&cells);
    kiln_free(types);
    kiln_free(sql);
    kiln_free(rel);
    kiln_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------ tests */

/* store_failures: true (or store_failures_as: table) keeps the test's
 * failing rows in <target schema>_<schema config, default dbt_test__audit>.
 * <test name>, replaced on every run (dbt's audit table). */
static int stores_failures(const km_node *n)
{
    if (n->kind != KM_TEST)
        return 0;
    const char *as = kiln_models__cfg_str(n, "store_failures_as", NULL);
    if (as) /* view: stored as a table, as view models are (docs/models.md); ephemeral: not stored */
        return !strcasecmp(as, "table") || !strcasecmp(as, "view");
    kj_val v = kiln_models__cfg(n, "store_failures");
    return kj_truthy(v) && !(v.t == KJ_STR && !strcasecmp(v.u.s->p, "false"));
}

static char *audit_relation(const kiln_project *p, const km_node *n)
{
    const char *custom = kiln_models__cfg_str(n, "schema", NULL);
    return kiln_sprintf("%s_%s.%s", p->schema, custom && *custom ? custom : "dbt_test__audit",
                        kiln_models__cfg_str(n, "alias", n->name));
}

/* dbt's test wrapper: failures = fail_calc over the test's rows, and the
 * warn_if / error_if conditions on it (default "!= 0"). */
static int run_test(runner *r, km_node *n, int64_t *failures, int *should_warn, int *should_error, kiln_err *err)
{
    char *audit = NULL;
    if (stores_failures(n)) { /* the rows first, one commit; the counts then read the stored table */
        if (!(audit = audit_relation(r->p, n)))
            return KILN_OOM(err);
        r->cur = n;
        int wrc = write_table(r, audit, n->compiled ? n->compiled : "select 1 where 0", err);
        r->cur = NULL;
        if (wrc) {
            kiln_err_prefix(err, "store_failures into %s: ", audit);
            kiln_free(audit);
            return wrc;
        }
    }
    const char *fail_calc = kiln_models__cfg_str(n, "fail_calc", "count(*)");
    const char *warn_if = kiln_models__cfg_str(n, "warn_if", "!= 0");
    const char *error_if = kiln_models__cfg_str(n, "error_if", "!= 0");
    kj_val lim = kiln_models__cfg(n, "limit");
    char limit[48] = "";
    if (lim.t == KJ_INT)
        snprintf(limit, sizeof limit, "\nlimit %lld", (long long)lim.u.i);
    char *sql = kiln_sprintf("select %s as failures, %s %s as should_warn, %s %s as should_error from (\n%s%s%s\n) "
                             "dbt_internal_test",
                             fail_calc, fail_calc, warn_if, fail_calc, error_if, audit ? "select * from " : "",
                             audit         ? audit
                             : n->compiled ? n->compiled
                                           : "",
                             limit);
    kiln_free(audit);
    if (!sql)
        return KILN_OOM(err);
    sqlite3_stmt *st = NULL;
    size_t used;
    long eo;
    int rc = kiln_sql_prepare(r->db, sql, strlen(sql), &st, &used, &eo, err);
    for (int tries = 0; rc && tries < 8; tries++) { /* a table made earlier in this run */
        int added = kiln_sql_lake_resolve_missing(r->db, err->msg, err);
        if (added != 1)
            break;
        rc = kiln_sql_prepare(r->db, sql, strlen(sql), &st, &used, &eo, err);
    }
    kiln_free(sql);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *failures = sqlite3_column_int64(st, 0);
        *should_warn = sqlite3_column_int(st, 1) != 0;
        *should_error = sqlite3_column_int(st, 2) != 0;
    } else {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(r->db));
    }
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------ driver */

/* dbt's test edges: test T precedes every non-test node that descends from
 * all of T's parents, so its failure skips them. */
static int add_test_edges(kiln_project *p, kiln_err *err)
{
    size_t n = p->nodes.len;
    unsigned char *all = kiln_malloc(n ? n : 1), *one = kiln_malloc(n ? n : 1);
    size_t *queue = kiln_malloc((n ? n : 1) * sizeof(size_t));
    int rc = 0;
    if (!all || !one || !queue) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t t = 0; t < n && !rc; t++) {
        km_node *tn = p->nodes.items[t];
        if (tn->kind != KM_TEST || !tn->parents.len)
            continue;
        memset(all, 1, n);
        for (size_t k = 0; k < tn->parents.len; k++) {
            memset(one, 0, n);
            size_t head = 0, tail = 0;
            queue[tail++] = tn->parents.items[k];
            while (head < tail) {
                km_node *v = p->nodes.items[queue[head++]];
                for (size_t c = 0; c < v->children.len; c++) {
                    size_t w = v->children.items[c];
                    if (!one[w]) {
                        one[w] = 1;
                        queue[tail++] = w;
                    }
                }
            }
            for (size_t i = 0; i < n; i++)
                all[i] &= one[i];
        }
        for (size_t i = 0; i < n && !rc; i++)
            if (all[i] && p->nodes.items[i]->kind != KM_TEST)
                rc = kiln_vec_push(&p->nodes.items[i]->parents, t, err);
    }
done:
    kiln_free(all);
    kiln_free(one);
    kiln_free(queue);
    return rc;
}

/* ------------------------------------------------------------ hooks (models4) */

static const char *hook_sql(kj_val h)
{
    if (h.t == KJ_STR)
        return h.u.s->p;
    if (h.t == KJ_DICT) { /* {sql: ..., transaction: ...} */
        kj_val *q = kj_dict_getc(h, "sql");
        if (q && q->t == KJ_STR)
            return q->u.s->p;
    }
    return NULL;
}

static int blank(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == ';')
        s++;
    return !*s;
}

/* A node whose SQL ran run_query/statement is rendered again right before
 * it runs, as dbt compiles each node just before running it, so its
 * queries see the tables built before it in this run. Its graph edges
 * are kept (the scheduler's), only the SQL changes. */
static int rerender(kiln_project *p, size_t idx, kiln_err *err)
{
    km_node *n = p->nodes.items[idx];
    km_idxvec saved = {0};
    int rc = 0;
    /* a fresh connection: it sees the namespaces and tables created since */
    kiln_sql_db_close(p->qdb);
    p->qdb = NULL;
    for (size_t k = 0; k < n->parents.len && !rc; k++)
        rc = kiln_vec_push(&saved, n->parents.items[k], err);
    if (!rc)
        rc = kiln_models__render_node(p, idx, 1, err);
    n->parents.len = 0;
    for (size_t k = 0; k < saved.len; k++) /* capacity was at least saved.len */
        n->parents.items[n->parents.len++] = saved.items[k];
    kiln_vec_free(&saved);
    if (!rc)
        rc = kiln_models__inject_ctes(p, n, err);
    return rc;
}

/* Render (late, with `this`) and run node n's pre-hook or post-hook list. */
static int run_node_hooks(runner *r, km_node *n, const char *key, kiln_err *err)
{
    kj_val hooks = kiln_models__cfg(n, key);
    if (hooks.t != KJ_LIST)
        return 0;
    const km_node *cur = r->cur;
    r->cur = NULL; /* an error position is in the hook, not the model's SQL */
    int rc = 0;
    for (size_t i = 0; i < hooks.u.l->len && !rc; i++) {
        const char *text = hook_sql(hooks.u.l->items[i]);
        if (!text) {
            rc = kiln_err_set(err, KILN_EFORMAT, "%s %zu of %s: must be an SQL string or {sql: ...}", key, i + 1,
                              n->name);
            break;
        }
        kiln_buf b;
        kiln_buf_init(&b, 0);
        rc = kiln_models__render_hook(r->sh->p, n, text, kj_undef(), &b, err);
        if (!rc && b.data && !blank(b.data))
            rc = exec_sql(r, b.data, err);
        kiln_buf_free(&b);
        if (rc) {
            char m[sizeof err->msg];
            snprintf(m, sizeof m, "%s %zu: %s", key, i + 1, err->msg);
            snprintf(err->msg, sizeof err->msg, "%s", m);
        }
    }
    r->cur = cur;
    return rc;
}

static size_t hooks_len(kj_val hooks) { return hooks.t == KJ_LIST ? hooks.u.l->len : hooks.t == KJ_STR ? 1 : 0; }

/* Project g's on-run-start (end 0) / on-run-end hooks and its name: g <
 * the number of packages is that package, else the root project. */
static kj_val project_hooks(const kiln_project *p, size_t g, int end, const char **name)
{
    if (g < p->packages.len) {
        *name = p->packages.items[g]->name;
        return end ? p->packages.items[g]->on_run_end : p->packages.items[g]->on_run_start;
    }
    *name = p->name;
    return end ? p->on_run_end : p->on_run_start;
}

/* on-run-start / on-run-end: one line each as dbt prints them, the
 * packages' hooks first (in the order they were loaded), then the root
 * project's, as dbt orders them. Returns the number of hooks that failed
 * (their error printed); <0 out of memory. */
static int run_project_hooks(runner *r, int end, kj_val extra)
{
    kiln_project *p = r->p;
    const char *which = end ? "on-run-end" : "on-run-start", *pname;
    size_t n = 0, i = 0;
    for (size_t g = 0; g <= p->packages.len; g++)
        n += hooks_len(project_hooks(p, g, end, &pname));
    if (!n)
        return 0;
    int failed = 0;
    fprintf(r->out, "Running %zu %s hook%s\n", n, which, n == 1 ? "" : "s");
    for (size_t g = 0; g <= p->packages.len; g++) {
        kj_val hooks = project_hooks(p, g, end, &pname);
        for (size_t j = 0; j < hooks_len(hooks); j++, i++) {
            kj_val h = hooks.t == KJ_LIST ? hooks.u.l->items[j] : hooks;
            const char *text = hook_sql(h);
            char name[256], left[600], buf[700];
            snprintf(name, sizeof name, "%s.%s.%zu", pname, which, j);
            double t1 = kiln_mono_seconds();
            kiln_err e = {0};
            int rc = 0;
            if (failed) { /* after a failed hook the rest are skipped */
                int w = snprintf(buf, sizeof buf, "%zu of %zu SKIP hook: %s ", i + 1, n, name);
                fputs(buf, r->out);
                for (int k = w; k < 76; k++)
                    fputc('.', r->out);
                fputs(" [SKIP]\n", r->out);
                continue;
            }
            kiln_buf b;
            kiln_buf_init(&b, 0);
            if (!text)
                rc = kiln_err_set(&e, KILN_EFORMAT, "dbt_project.yml: %s %zu must be an SQL string", which, j + 1);
            else if (!(rc = kiln_models__render_hook(p, NULL, text, extra, &b, &e)) && b.data && !blank(b.data))
                rc = exec_sql(r, b.data, &e);
            kiln_buf_free(&b);
            if (rc == KILN_ENOMEM)
                return -1;
            snprintf(left, sizeof left, "%s hook: %s ", rc ? "ERROR" : "OK", name);
            int w = snprintf(buf, sizeof buf, "%zu of %zu %s", i + 1, n, left);
            fputs(buf, r->out);
            for (int k = w; k < 76; k++)
                fputc('.', r->out);
            fprintf(r->out, " [%s in %.2fs]\n", rc ? "ERROR" : "OK", kiln_mono_seconds() - t1);
            if (rc) {
                fprintf(r->out, "  Database Error in %s (dbt_project.yml)\n    %s\n", name, e.msg);
                failed++;
            }
        }
    }
    fflush(r->out);
    return failed;
}

static const char *mat_of(const km_node *n) { return kiln_models__cfg_str(n, "materialized", "view"); }

/* Run (or skip) selected node idx as the pos-th of the run, with worker
 * runner r (its own connection); its outcome goes to res, the shared
 * status and counters (under the lock when threaded) and one output line.
 * Returns nonzero only when the run cannot go on (out of memory). */
static int run_node(runner *r, size_t idx, size_t pos, km_result *res, kiln_err *err)
{
    runner *sh = r->sh;
    kiln_project *p = sh->p;
    km_node *n = p->nodes.items[idx];
    char left[512], right[128];
    char *rel = kiln_models__relation(p, n);
    if (!rel)
        return KILN_OOM(err);
    /* flow3: on a branch build, the node's writes go to schema."ident@BRANCH" */
    char *wrel = NULL;
    if (p->on_branch && p->on_branch[idx] && n->kind != KM_TEST) {
        const char *dot = strchr(rel, '.');
        wrel = dot ? kiln_sprintf("%.*s.\"%s@%s\"", (int)(dot - rel), rel, dot + 1, p->opts.branch) : NULL;
        if (!wrel) {
            kiln_free(rel);
            return KILN_OOM(err);
        }
    }
    const char *wr = wrel ? wrel : rel;
    sh_lock(r);
    int upstream_bad = 0;
    for (size_t k = 0; k < n->parents.len; k++) {
        unsigned char s = sh->status[n->parents.items[k]];
        upstream_bad |= s == ST_ERROR || s == ST_FAIL || s == ST_SKIP;
    }
    memset(res, 0, sizeof *res);
    res->node = idx;
    upstream_bad |= p->ut_block && p->ut_block[idx]; /* a unit test of it failed */
    if (upstream_bad || sh->stop) {
        res->status = "skipped";
        sh->status[idx] = ST_SKIP;
        sh->skip++;
        snprintf(left, sizeof left, "SKIP %s %s", n->kind == KM_TEST ? "test" : "relation",
                 n->kind == KM_TEST ? n->name : rel);
        line(r, pos, left, "SKIP");
        sh_unlock(r);
        kiln_free(rel);
        kiln_free(wrel);
        return 0;
    }
    sh_unlock(r);
    double t1 = kiln_mono_seconds();
    res->started = res->compiled = kiln_now_micros();
    kiln_err e2 = {0};
    int nrc = 0, should_warn = 0, should_error = 0;
    int64_t failures = 0;
    int hooked = n->kind != KM_TEST;
    if (n->uses_query && (n->kind == KM_MODEL || n->kind == KM_SNAPSHOT))
        nrc = rerender(p, idx, &e2);
    if (nrc)
        (void)0;
    else if (hooked && (nrc = run_node_hooks(r, n, "pre-hook", &e2)))
        (void)0;
    else if (n->kind == KM_SEED)
        nrc = run_seed(r, n, wrel, &e2);
    else if (n->kind == KM_MODEL) {
        const char *m = mat_of(n);
        char *cq = NULL; /* the contract's checked rows */
        r->cur = n;
        if ((nrc = kiln_models__write_compiled(p, n, &e2))) /* for the user to read */
            (void)0;
        else if (strcmp(m, "table") && strcmp(m, "view") && strcmp(m, "incremental"))
            nrc = kiln_err_set(&e2, KILN_EUNSUPP, "materialization '%s' is not supported yet", m);
        else if ((nrc = kiln_models__contract_prepare(p, r->db, n, &cq, &e2)))
            (void)0;
        else if (!strcmp(m, "view") && p->opts.branch)
            (void)0; /* a build on a branch: view definitions are not branched (docs/models.md) */
        else if (!strcmp(m, "view"))
            nrc = write_view(r, wr, cq ? cq : n->compiled ? n->compiled : "select 1", &e2);
        else if ((nrc = drop_view_of(r, wr, &e2)))
            (void)0;
        else if (kiln_models__microbatch_is(n))
            nrc = kiln_models__microbatch_run(p, r->db, idx, wr, table_exists(r, wr), sh->out, &e2);
        else if (sh->incr[idx])
            nrc = write_incremental(r, n, wr, &e2);
        else
            nrc = write_table(r, wr, cq ? cq : n->compiled ? n->compiled : "select 1", &e2);
        kiln_models__contract_done(r->db);
        kiln_free(cq);
        r->cur = NULL;
    } else if (n->kind == KM_SNAPSHOT) {
        r->cur = n;
        if (!(nrc = kiln_models__write_compiled(p, n, &e2)))
            nrc = run_snapshot(r, n, wr, &e2);
        r->cur = NULL;
    } else
        nrc = run_test(r, n, &failures, &should_warn, &should_error, &e2);
    if (hooked && !nrc)
        nrc = run_node_hooks(r, n, "post-hook", &e2);
    double dt = kiln_mono_seconds() - t1;
    res->finished = kiln_now_micros();
    res->seconds = dt;
    res->failures = failures;
    snprintf(res->thread, sizeof res->thread, "Thread-%d", r->thread_no);
    const char *sev = kiln_models__cfg_str(n, "severity", "ERROR");
    sh_lock(r);
    if (nrc) {
        res->status = "error";
        snprintf(res->message, sizeof res->message, "%s", e2.msg);
        sh->status[idx] = ST_ERROR;
        sh->error++;
        snprintf(left, sizeof left, "ERROR %s %s",
                 n->kind == KM_SEED   ? "loading seed file"
                 : n->kind == KM_TEST ? "test"
                                      : "creating sql model",
                 n->kind == KM_TEST ? n->name : rel);
        snprintf(right, sizeof right, "ERROR in %.2fs", dt);
        line(r, pos, left, right);
        fprintf(sh->out, "  %s in %s %s (%s)\n    %s\n", "Database Error",
                n->kind == KM_SEED   ? "seed"
                : n->kind == KM_TEST ? "test"
                                     : "model",
                n->name, n->path, e2.msg);
    } else if (n->kind == KM_TEST && ((should_error && strcasecmp(sev, "warn")) || should_warn)) {
        /* dbt: severity error and should_error -> fail; else should_warn -> warn */
        int is_warn = !(should_error && strcasecmp(sev, "warn"));
        res->status = is_warn ? "warn" : "fail";
        snprintf(res->message, sizeof res->message, "Got %lld result%s, configured to %s if %s", (long long)failures,
                 failures == 1 ? "" : "s", is_warn ? "warn" : "fail",
                 kiln_models__cfg_str(n, is_warn ? "warn_if" : "error_if", "!= 0"));
        sh->status[idx] = is_warn ? ST_WARN : ST_FAIL;
        if (is_warn)
            sh->warn++;
        else
            sh->error++;
        snprintf(left, sizeof left, "%s %lld %s", is_warn ? "WARN" : "FAIL", (long long)failures, n->name);
        snprintf(right, sizeof right, "%s %lld in %.2fs", is_warn ? "WARN" : "FAIL", (long long)failures, dt);
        line(r, pos, left, right);
    } else {
        res->status = n->kind == KM_TEST ? "pass" : "success";
        sh->status[idx] = ST_OK;
        sh->pass++;
        if (n->kind == KM_TEST) {
            snprintf(left, sizeof left, "PASS %s", n->name);
            snprintf(right, sizeof right, "PASS in %.2fs", dt);
        } else if (n->kind == KM_SEED) {
            snprintf(left, sizeof left, "OK loaded seed file %s", rel);
            snprintf(right, sizeof right, "INSERT %zu in %.2fs", n->compiled_len, dt);
        } else if (n->kind == KM_SNAPSHOT) {
            snprintf(left, sizeof left, "OK snapshotted %s", rel);
            snprintf(right, sizeof right, "OK in %.2fs", dt);
        } else {
            snprintf(left, sizeof left, "OK created sql %s model %s", mat_of(n), rel);
            snprintf(right, sizeof right, "OK in %.2fs", dt);
        }
        line(r, pos, left, right);
    }
    if (p->opts.fail_fast && (sh->status[idx] == ST_ERROR || sh->status[idx] == ST_FAIL))
        sh->stop = 1;
    sh_unlock(r);
    kiln_free(rel);
    kiln_free(wrel);
    return 0;
}

static int branch_declare(kiln_project *p, sqlite3 *db, kiln_err *err); /* flow3 */

/* ------------------------------------------------------------ --threads */

/* Is node idx ready: every parent that this run executes has finished? */
static int ready(runner *sh, size_t idx)
{
    km_node *n = sh->p->nodes.items[idx];
    for (size_t k = 0; k < n->parents.len; k++) {
        size_t q = n->parents.items[k];
        if (sh->started[q] == 1) /* picked, not finished */
            return 0;
        if (!sh->started[q] && sh->started[q + sh->p->nodes.len] /* selected, not yet picked */)
            return 0;
    }
    return 1;
}

typedef struct worker {
    runner r;
    pthread_t tid;
    int rc;
    kiln_err err;
} worker;

/* does running node n render Jinja with the shared project (its
 * hooks, a run_query re-render, microbatch batches)? */
static int renders_while_running(kiln_project *p, const km_node *n)
{
    if (n->kind == KM_TEST)
        return 0;
    kj_val pre = kiln_models__cfg(n, "pre-hook"), post = kiln_models__cfg(n, "post-hook");
    return n->uses_query || kiln_models__microbatch_is(n) || (pre.t == KJ_LIST && pre.u.l->len) ||
           (post.t == KJ_LIST && post.u.l->len) || pre.t == KJ_STR || post.t == KJ_STR;
}

/* A worker: pick the first ready node in build order, run it, repeat. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    runner *sh = w->r.sh;
    size_t nn = sh->p->nodes.len;
    pthread_mutex_lock(&sh->lock);
    for (;;) {
        if (sh->fatal || sh->done == sh->todo)
            break;
        long pick = -1;
        for (size_t i = 0; i < sh->sel->len && pick < 0; i++) {
            size_t idx = sh->sel->items[i];
            if (sh->started[idx + nn] && !sh->started[idx] && ready(sh, idx))
                pick = (long)idx;
        }
        if (pick < 0) {
            pthread_cond_wait(&sh->cond, &sh->lock);
            continue;
        }
        sh->started[pick] = 1;
        km_result *res = &sh->results[sh->nresults++];
        size_t pos = ++sh->pos;
        pthread_mutex_unlock(&sh->lock);
        /* a fresh connection per node: it sees the tables other workers
         * created or replaced (a connection's Iceberg virtual tables are
         * declared when it first uses them) */
        /* issue 11: writers run concurrently too: each node writes
         * its own table, and a commit holds the catalog row's SQLite write
         * transaction from its check to its swap, so a reader's roll-forward
         * on another connection cannot race it (src/lake/iceberg_catalog.c:
         * the row moves from where it is). A node that renders Jinja while it
         * runs (hooks, run_query, microbatch batches) runs alone: the
         * project's Jinja environment is shared. */
        if (renders_while_running(sh->p, sh->p->nodes.items[pick]))
            pthread_rwlock_wrlock(&sh->wlock);
        else
            pthread_rwlock_rdlock(&sh->wlock);
        int rc = kiln_sql_db_open(&w->r.db, NULL, 0, &w->err);
        if (!rc)
            rc = kiln_sql_lake_attach(w->r.db, sh->p->warehouse, &w->err);
        if (!rc)
            rc = branch_declare(sh->p, w->r.db, &w->err);
        if (!rc)
            rc = run_node(&w->r, (size_t)pick, pos, res, &w->err);
        kiln_sql_db_close(w->r.db);
        w->r.db = NULL;
        pthread_rwlock_unlock(&sh->wlock);
        pthread_mutex_lock(&sh->lock);
        sh->started[pick] = 2;
        sh->done++;
        if (rc && !sh->fatal) {
            sh->fatal = rc;
            sh->fatal_err = w->err;
        }
        pthread_cond_broadcast(&sh->cond);
    }
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->lock);
    return NULL;
}

/* Run the selected nodes on nthreads workers, each node on its own SQLite
 * connection to the warehouse; a node starts when every selected parent
 * has finished (tests included, in build), so gating and SKIP work as with
 * one thread. Each node's write is still its own atomic Iceberg commit.
 * Independent nodes run at the same time, writers included (issue
 * 11); only nodes that render Jinja while they run go alone
 * (renders_while_running). */
static int run_threads(runner *sh, int nthreads, kiln_err *err)
{
    kiln_project *p = sh->p;
    size_t nn = p->nodes.len;
    int rc = 0, nstarted = 0;
    /* started[] holds two maps: [0, nn) 0 new / 1 running / 2 done, and
     * [nn, 2nn) 1 when the node is one this run executes */
    unsigned char *st = kiln_calloc(2 * (nn ? nn : 1), 1);
    worker *ws = kiln_calloc((size_t)nthreads, sizeof *ws);
    if (!st || !ws) {
        kiln_free(st);
        kiln_free(ws);
        return KILN_OOM(err);
    }
    kiln_free(sh->started);
    sh->started = st;
    for (size_t i = 0; i < sh->sel->len; i++) {
        km_node *n = p->nodes.items[sh->sel->items[i]];
        if (!(n->kind == KM_MODEL && !strcmp(mat_of(n), "ephemeral")))
            st[sh->sel->items[i] + nn] = 1;
    }
    /* the warehouse's catalog exists before the workers write
     * concurrently (its creation by the first writer is not concurrent-safe) */
    if (!p->catalog && (rc = kiln_lake_catalog_open(&p->catalog, p->warehouse, KILN_LAKE_CATALOG_SQLITE, err))) {
        kiln_free(ws);
        return rc;
    }
    pthread_mutex_init(&sh->lock, NULL);
    pthread_cond_init(&sh->cond, NULL);
    pthread_rwlock_init(&sh->wlock, NULL);
    sh->threaded = 1;
    for (int t = 0; t < nthreads && !rc; t++) {
        worker *w = &ws[t];
        w->r = *sh;
        w->r.sh = sh;
        w->r.db = NULL;
        w->r.cur = NULL;
        w->r.thread_no = t + 1;
    }
    for (int t = 0; t < nthreads && !rc; t++) {
        if (pthread_create(&ws[t].tid, NULL, worker_main, &ws[t])) {
            rc = kiln_err_set(err, KILN_EINTERNAL, "cannot start thread %d of %d", t + 1, nthreads);
            pthread_mutex_lock(&sh->lock);
            sh->fatal = rc;
            pthread_cond_broadcast(&sh->cond);
            pthread_mutex_unlock(&sh->lock);
            break;
        }
        nstarted++;
    }
    for (int t = 0; t < nstarted; t++)
        pthread_join(ws[t].tid, NULL);
    sh->threaded = 0;
    pthread_cond_destroy(&sh->cond);
    pthread_rwlock_destroy(&sh->wlock);
    pthread_mutex_destroy(&sh->lock);
    if (!rc && sh->fatal) {
        rc = sh->fatal;
        *err = sh->fatal_err;
    }
    kiln_free(ws);
    return rc;
}

/* ------------------------------------------------------------ flow3: a build on a branch */

int kiln_models__render_node(kiln_project *p, size_t idx, int execute, kiln_err *err); /* compile.c */

/* opts.branch set: mark the relations read or written at the branch (every
 * table this build writes, and every table that already has the branch),
 * create the branch at main's head on each table the build writes (a table
 * that does not exist yet is created by its CREATE TABLE "ident@BRANCH"
 * AS, with rows on the branch only), and
 * render again so ref(), source() and this name schema."ident@BRANCH".
 * Every other relation reads main. */
static int branch_prepare(kiln_project *p, unsigned kinds, kiln_err *err)
{
    km_idxvec sel = {0};
    size_t nn = p->nodes.len;
    const char *b = p->opts.branch;
    unsigned char *w = kiln_calloc(nn ? nn : 1, 1);
    p->on_branch = kiln_calloc(nn ? nn : 1, 1);
    int rc =
        !w || !p->on_branch ? KILN_OOM(err) : kiln_models__select(p, p->opts.select, p->opts.exclude, kinds, &sel, err);
    for (size_t i = 0; i < sel.len && !rc; i++) {
        km_node *n = p->nodes.items[sel.items[i]];
        w[sel.items[i]] = n->kind == KM_SEED || n->kind == KM_SNAPSHOT ||
                          (n->kind == KM_MODEL && strcmp(mat_of(n), "ephemeral") && strcmp(mat_of(n), "view"));
    }
    if (!rc && !p->catalog) {
        struct stat st;
        char *db = kiln_sprintf("%s/catalog.db", p->warehouse);
        int have = db && stat(db, &st) == 0;
        kiln_free(db);
        if (!have)
            rc = kiln_err_set(err, KILN_ENOTFOUND,
                              "a build on branch '%s' needs a warehouse with the tables it reads, and %s has no "
                              "catalog yet: load or build on main first",
                              b, p->warehouse);
        else
            rc = kiln_lake_catalog_open(&p->catalog, p->warehouse, KILN_LAKE_CATALOG_SQLITE, err);
    }
    for (size_t i = 0; i < nn && !rc; i++) {
        km_node *n = p->nodes.items[i];
        if (!(n->kind == KM_SOURCE || n->kind == KM_SEED || n->kind == KM_SNAPSHOT ||
              (n->kind == KM_MODEL && strcmp(mat_of(n), "ephemeral") && strcmp(mat_of(n), "view"))))
            continue; /* views: definitions, not branched */
        char *rel = kiln_models__relation(p, n);
        kiln_lake_table *t = NULL;
        kiln_err e = {0};
        if (!rel)
            rc = KILN_OOM(err);
        else if (kiln_lake_table_load(&t, p->catalog, rel, &e)) {
            /* a new table: created with its rows on the branch only (main
             * has no snapshot of it until the branch is published) */
            if (w[i])
                p->on_branch[i] = 1;
        } else if (kiln_lake_meta_ref(kiln_lake_table_meta(t), b)) {
            p->on_branch[i] = 1;
        } else if (w[i]) {
            kiln_lake_ref ref = {b, KILN_LAKE_BRANCH, -1, -1, -1, -1};
            if (!(rc = kiln_lake_ref_create(t, &ref, err)))
                p->on_branch[i] = 1;
        }
        kiln_lake_table_free(t);
        kiln_free(rel);
    }
    for (size_t i = 0; i < nn && !rc; i++) {
        rc = kiln_models__render_node(p, i, 1, err);
        if (rc == KILN_EINVAL || rc == KILN_ENOTFOUND)
            rc = err->code = KILN_EFORMAT;
    }
    kiln_free(w);
    kiln_vec_free(&sel);
    return rc;
}

/* Declare the branch's tables ("schema.ident@BRANCH") on a connection.
 * The tables are looked up in the connection's own catalog, never in the
 * project's (p->catalog): with --threads every worker declares on its own
 * connection at the same time, and a catalog's SQLite handle is opened
 * NOMUTEX (one thread at a time), so sharing p->catalog here crashed
 * threaded builds on a branch (SIGSEGV, SIGABRT, or a node that failed with
 * no message). */
static int branch_declare(kiln_project *p, sqlite3 *db, kiln_err *err)
{
    int rc = 0;
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(db);
    if (p->on_branch && !cat)
        return kiln_err_set(err, KILN_EINTERNAL, "a build on branch '%s': the connection has no warehouse attached",
                            p->opts.branch);
    for (size_t i = 0; p->on_branch && i < p->nodes.len && !rc; i++) {
        if (!p->on_branch[i])
            continue;
        char *rel = kiln_models__relation(p, p->nodes.items[i]);
        kiln_lake_table *t = NULL;
        kiln_err e = {0};
        if (!rel)
            rc = KILN_OOM(err);
        else if (kiln_lake_table_load(&t, cat, rel, &e) == 0 &&
                 kiln_lake_meta_ref(kiln_lake_table_meta(t), p->opts.branch))
            rc = kiln_sql_lake_add_table(db, rel, p->opts.branch, err);
        /* else a table the build creates on the branch: declared when made */
        kiln_lake_table_free(t);
        kiln_free(rel);
    }
    return rc;
}

int kiln_models_run(const char *verb, const kiln_models_opts *o, FILE *out, int *failed, kiln_err *err)
{
    kiln_project *p = NULL;
    km_idxvec all = {0}, sel = {0}, utsel = {0};
    runner r;
    memset(&r, 0, sizeof r);
    *failed = 0;
    unsigned kinds = !strcmp(verb, "seed")   ? 1u << KM_SEED
                     : !strcmp(verb, "run")  ? 1u << KM_MODEL
                     : !strcmp(verb, "test") ? 1u << KM_TEST
                     : !strcmp(verb, "snapshot")
                         ? 1u << KM_SNAPSHOT
                         : (1u << KM_SEED) | (1u << KM_MODEL) | (1u << KM_TEST) | (1u << KM_SNAPSHOT);
    double t0 = kiln_mono_seconds();
    int rc = kiln_project_load(&p, o, err);
    if (rc)
        return rc;
    p->query_lenient = 1; /* a run_query on a table this run builds: rendered again before the node runs */
    rc = kiln_models__render_all(p, err);
    p->query_lenient = 0;
    if (rc || (rc = kiln_models__graph_build(p, err)))
        goto done;
    if (o->branch && (rc = branch_prepare(p, kinds, err)))
        goto done;
    if ((rc = kiln_models__select(p, NULL, NULL, ~0u, &all, err)))
        goto done;
    for (size_t i = 0; i < all.len && !rc; i++)
        rc = kiln_models__inject_ctes(p, p->nodes.items[all.items[i]], err);
    if (rc)
        goto done;
    if (!strcmp(verb, "build") && (rc = add_test_edges(p, err)))
        goto done;
    if ((rc = kiln_models__select(p, o->select, o->exclude, kinds, &sel, err)))
        goto done;
    if (o->defer && (rc = kiln_models__defer_apply(p, &sel, err)))
        goto done;
    if (!strcmp(p->schema, "main") || !strcmp(p->schema, "temp")) {
        rc = kiln_err_set(err, KILN_ECONFIG,
                          "profiles.yml: schema '%s' is SQLite's own schema and cannot be a kiln "
                          "namespace: choose another schema name",
                          p->schema);
        goto done;
    }
    r.thread_no = 1;
    if ((rc = kiln_sql_db_open(&r.db, NULL, 0, err)) || (rc = kiln_sql_lake_attach(r.db, p->warehouse, err)) ||
        (rc = branch_declare(p, r.db, err)))
        goto done;
    r.p = p;
    r.out = out;
    r.status = kiln_calloc(p->nodes.len ? p->nodes.len : 1, 1);
    r.results = kiln_calloc(sel.len + kiln_models__ut_n(p) + 1, sizeof(km_result)); /* + unit tests */
    if (!r.status || !r.results) {
        rc = KILN_OOM(err);
        goto done;
    }
    size_t nseed = 0, nview = 0, ntable = 0, ntest = 0, nsnap = 0;
    for (size_t i = 0; i < sel.len; i++) {
        km_node *n = p->nodes.items[sel.items[i]];
        if (n->kind == KM_MODEL && !strcmp(mat_of(n), "ephemeral"))
            continue;
        r.total++;
        nseed += n->kind == KM_SEED;
        ntest += n->kind == KM_TEST;
        nview += n->kind == KM_MODEL && !strcmp(mat_of(n), "view");
        ntable += n->kind == KM_MODEL && strcmp(mat_of(n), "view");
        nsnap += n->kind == KM_SNAPSHOT;
    }
    /* the unit tests the selection picks (test, build): directly
     * (test_type:unit, unit_test:NAME, their name) or through their model;
     * utsel = their models in build order */
    if ((!strcmp(verb, "test") || !strcmp(verb, "build")) && kiln_models__ut_n(p)) {
        unsigned char *us = kiln_calloc(kiln_models__ut_n(p), 1), *um = kiln_calloc(p->nodes.len + 1, 1);
        if (!us || !um)
            rc = KILN_OOM(err);
        else if (!(rc = kiln_models__select_ut(p, o->select, o->exclude, us, err))) {
            kiln_models__ut_mark(p, us);
            for (size_t i = 0; i < kiln_models__ut_n(p); i++)
                um[kiln_models__ut_model(p, i)] |= us[i];
            for (size_t i = 0; i < all.len && !rc; i++)
                if (um[all.items[i]])
                    rc = kiln_vec_push(&utsel, all.items[i], err);
        }
        kiln_free(us);
        kiln_free(um);
        if (rc)
            goto done;
    }
    r.total += kiln_models__ut_count(p, verb, &utsel);
    kiln_models__print_found(p, out);
    fputc('\n', out);
    r.sh = &r;
    r.sel = &sel;
    r.started = kiln_calloc(p->nodes.len ? p->nodes.len : 1, 1);
    r.incr = kiln_calloc(p->nodes.len ? p->nodes.len : 1, 1);
    if (!r.started || !r.incr) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; i < sel.len; i++) { /* as rendering saw it, before any node runs */
        km_node *n = p->nodes.items[sel.items[i]];
        r.incr[sel.items[i]] = (unsigned char)kiln_models__is_incremental(p, n);
        r.todo += !(n->kind == KM_MODEL && !strcmp(mat_of(n), "ephemeral"));
    }
    int hook_errors = run_project_hooks(&r, 0, kj_undef());
    size_t nstart = 0;
    for (size_t g = 0; g <= p->packages.len; g++) {
        const char *pname;
        nstart += hooks_len(project_hooks(p, g, 0, &pname));
    }
    if (hook_errors > 0 || (hook_errors == 0 && nstart))
        fputc('\n', out);
    if (hook_errors < 0) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (hook_errors) { /* dbt stops before any node when on-run-start fails */
        rc = kiln_err_set(err, KILN_EFORMAT, "on-run-start: %d hook%s failed; nothing was run", hook_errors,
                          hook_errors == 1 ? "" : "s");
        goto done;
    }
    int nthreads = p->threads > 1 ? p->threads : 1;
    if ((size_t)nthreads > r.todo)
        nthreads = r.todo > 1 ? (int)r.todo : 1;
    /* unit tests first (kiln test, threads, or a model this build
     * does not run), else right before their model */
    for (size_t i = 0; i < utsel.len && !rc; i++) {
        int in_sel = 0;
        for (size_t k = 0; k < sel.len && !in_sel; k++)
            in_sel = sel.items[k] == utsel.items[i];
        if (strcmp(verb, "build") || nthreads > 1 || !in_sel)
            rc = kiln_models__ut_run_model(p, r.db, verb, utsel.items[i], 0, out, &r.pos, r.total, &r.pass, &r.error,
                                           &r.skip, r.results, &r.nresults, err);
    }
    if (nthreads <= 1) {
        for (size_t i = 0; i < sel.len && !rc; i++) {
            size_t idx = sel.items[i];
            km_node *n = p->nodes.items[idx];
            if (n->kind == KM_MODEL && !strcmp(mat_of(n), "ephemeral"))
                continue;
            if (!strcmp(verb, "build") && n->kind == KM_MODEL && p->unit_tests) {
                int ub = 0;
                for (size_t k = 0; k < n->parents.len; k++)
                    ub |= r.status[n->parents.items[k]] >= ST_ERROR;
                if ((rc = kiln_models__ut_run_model(p, r.db, verb, idx, ub, out, &r.pos, r.total, &r.pass, &r.error,
                                                    &r.skip, r.results, &r.nresults, err)))
                    break;
            }
            km_result *res = &r.results[r.nresults++];
            rc = run_node(&r, idx, ++r.pos, res, err);
        }
    } else {
        rc = run_threads(&r, nthreads, err);
    }
    size_t nend = 0;
    for (size_t g = 0; g <= p->packages.len; g++) {
        const char *pname;
        nend += hooks_len(project_hooks(p, g, 1, &pname));
    }
    if (!rc && nend) {
        /* `schemas`: the schemas of the nodes this run built, as dbt gives on-run-end */
        kj_val extra = kj_dict_new(), schemas = kj_list_new();
        kiln_err e3 = {0};
        for (size_t i = 0; i < sel.len && !kj_oom(schemas); i++) {
            km_node *n = p->nodes.items[sel.items[i]];
            if (n->kind == KM_TEST || n->kind == KM_SOURCE || r.status[sel.items[i]] == ST_NONE ||
                r.status[sel.items[i]] == ST_SKIP)
                continue;
            char *sc = kiln_models__node_schema(p, n);
            kj_val v = sc ? kj_str_c(sc) : kj_none();
            kiln_free(sc);
            int seen = 0;
            for (size_t j = 0; j < schemas.u.l->len; j++)
                seen |= kj_equal(schemas.u.l->items[j], v);
            if (!seen)
                kj_list_push(schemas, v, &e3);
            else
                kj_release(v);
        }
        int bad = kj_oom(extra) || kj_oom(schemas) ? -1 : kj_dict_setc(extra, "schemas", kj_retain(schemas), &e3);
        fputc('\n', out);
        if (!bad)
            bad = run_project_hooks(&r, 1, extra);
        kj_release(extra);
        kj_release(schemas);
        if (bad < 0)
            rc = KILN_OOM(err);
        else
            r.error += bad;
    }
    if (!rc) {
        fprintf(out, "\nFinished running");
        const char *sep = " ";
        if (nseed)
            fprintf(out, "%s%zu seed%s", sep, nseed, nseed == 1 ? "" : "s"), sep = ", ";
        if (nview)
            fprintf(out, "%s%zu view model%s", sep, nview, nview == 1 ? "" : "s"), sep = ", ";
        if (ntest)
            fprintf(out, "%s%zu data test%s", sep, ntest, ntest == 1 ? "" : "s"), sep = ", ";
        if (ntable)
            fprintf(out, "%s%zu table model%s", sep, ntable, ntable == 1 ? "" : "s"), sep = ", ";
        if (nsnap)
            fprintf(out, "%s%zu snapshot%s", sep, nsnap, nsnap == 1 ? "" : "s"), sep = ", ";
        if (!r.total)
            fprintf(out, " nothing");
        fprintf(out, " in %.2f seconds.\n\n", kiln_mono_seconds() - t0);
        if (r.error)
            fprintf(out, "Completed with %d error%s\n\n", r.error, r.error == 1 ? "" : "s");
        else
            fprintf(out, "Completed successfully\n\n");
        fprintf(out, "Done. PASS=%d WARN=%d ERROR=%d SKIP=%d TOTAL=%zu\n", r.pass, r.warn, r.error, r.skip, r.total);
        *failed = r.error;
        if (!(rc = kiln_models__write_manifest(p, err)))
            rc = kiln_models__write_run_results(p, verb, r.results, r.nresults, kiln_mono_seconds() - t0, err);
        kiln_err e4 = {0}; /* what main holds now, for kiln plan (a failure to record is a warning) */
        if (!rc && !o->branch && (!strcmp(verb, "build") || !strcmp(verb, "run") || !strcmp(verb, "seed")) &&
            kiln_models__plan_record(p, "main", r.status, ST_OK, &e4))
            fprintf(stderr, "warning: could not record main's state for kiln plan: %s\n", e4.msg);
    }
done:
    kiln_free(r.status);
    kiln_free(r.results);
    kiln_free(r.started);
    kiln_free(r.incr);
    kiln_sql_db_close(r.db);
    kiln_vec_free(&all);
    kiln_vec_free(&sel);
    kiln_vec_free(&utsel);
    kiln_project_free(p);
    return rc;
}
