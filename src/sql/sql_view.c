/*
 * sql_view.c - Iceberg views in kiln SQL.
 *
 *   CREATE [OR REPLACE] VIEW [IF NOT EXISTS] ns.v AS query
 *   DROP VIEW [IF EXISTS] ns.v
 *
 * A view is an Iceberg view of the warehouse (iceberg_view.c: a metadata
 * document with the query as its "kiln"-dialect SQL representation and the
 * columns' Iceberg types, listed by the REST catalog), so every session and
 * every engine sees it. On a connection each view is a virtual table
 * ns.v of module "iceberg_view" that runs the stored query when it is read:
 * nothing is copied, every read sees the upstream tables as they are then.
 *
 * Why a virtual table, not a SQLite view: SQLite refuses kiln's Iceberg
 * tables (declared SQLITE_VTAB_DIRECTONLY) inside a view of an attached
 * schema, and such a view cannot name another schema at all; a TEMP view
 * could, but is not reachable as ns.v. The virtual table's xFilter
 * prepares "SELECT <used columns> FROM (query) WHERE <pushed
 * constraints>" on the same connection, so SQLite flattens the query and
 * pushes the constraints into the Iceberg scans below as it would for the
 * query written inline (SQLite re-checks every constraint: omit stays 0).
 *
 * A view that reads itself (directly or through other views) is an error
 * when it is created and when it is read. The columns are declared from
 * the stored schema (Iceberg type -> the declaration an Iceberg table's
 * column of that type gets); a connection whose declaration went stale
 * (another session replaced the view) declares it again when a statement
 * fails to prepare (kiln_sql__view_sync).
 */
#define KILN_SQL_LEX_SHORT_NAMES
#include "sql_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define VIEW_DIALECT "kiln"
#define VIEW_INFER_ROWS 1000

/* ------------------------------------------------------------ per connection */

typedef struct vview vview;

typedef struct view_mod {
    sqlite3 *db;
    char defining[260]; /* CREATE VIEW of this name is checking its query */
    KILN_VEC(vview *) live;
    struct view_mod *next;
} view_mod;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static view_mod *g_mods; /* every connection's, to find db's */

static view_mod *mod_of(sqlite3 *db)
{
    pthread_mutex_lock(&g_lock);
    view_mod *m = g_mods;
    while (m && m->db != db)
        m = m->next;
    pthread_mutex_unlock(&g_lock);
    return m;
}

struct vview {
    sqlite3_vtab base;
    view_mod *mod;
    char *name; /* ns.v */
    kiln_lake_view_def def;
    int busy; /* its query is being stepped: a read of it now is a cycle */
};

typedef struct vcur {
    sqlite3_vtab_cursor base;
    sqlite3_stmt *st;
    char *key; /* idxStr st was prepared for */
    int eof;
    sqlite3_int64 rowid;
} vcur;

static void mod_destroy(void *p)
{
    view_mod *m = p;
    if (!m)
        return;
    pthread_mutex_lock(&g_lock);
    for (view_mod **pp = &g_mods; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    pthread_mutex_unlock(&g_lock);
    kiln_vec_free(&m->live);
    kiln_free(m);
}

/* The declaration an Iceberg table's column of Iceberg type t gets
 * (vtab_iceberg.c), so kiln_sql_decl_lake_type maps it back. */
static const char *decl_of(const char *t, char *scratch, size_t cap)
{
    int p, s;
    if (sscanf(t, "decimal(%d,%d)", &p, &s) == 2) {
        snprintf(scratch, cap, "%s(%d,%d)", p > 15 ? "TEXT DECIMAL" : "REAL DECIMAL", p, s);
        return scratch;
    }
    static const char *const map[][2] = {
        {"boolean", "BOOLEAN INTEGER"},
        {"int", "INT32"},
        {"long", "BIGINT"},
        {"float", "FLOAT32"},
        {"double", "DOUBLE"},
        {"string", "TEXT"},
        {"binary", "BLOB"},
        {"date", "DATE TEXT"},
        {"timestamptz", "TIMESTAMPTZ TEXT"},
        {"timestamp", "TIMESTAMP TEXT"},
        {"time", "TIME TEXT"},
        {"uuid", "UUID TEXT"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(t, map[i][0]))
            return map[i][1];
    return "TEXT JSON";
}

static char *unquote(const char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0])
        return kiln_strndup(s + 1, n - 2);
    return kiln_strdup(s);
}

static int x_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **errmsg)
{
    view_mod *m = aux;
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(db);
    kiln_err err = {0};
    kiln_buf ddl;
    kiln_buf_init(&ddl, 0);
    if (argc < 4) {
        *errmsg = sqlite3_mprintf("iceberg_view: the view's name is missing");
        return SQLITE_ERROR;
    }
    vview *v = kiln_calloc(1, sizeof *v);
    if (!v || !(v->name = unquote(argv[3]))) {
        kiln_free(v);
        return SQLITE_NOMEM;
    }
    v->mod = m;
    int src = SQLITE_OK;
    if (!cat || kiln_lake_view_def_load(cat, v->name, VIEW_DIALECT, &v->def, &err)) {
        *errmsg = sqlite3_mprintf("iceberg_view: %s", cat ? err.msg : "no warehouse attached");
        src = SQLITE_ERROR;
        goto done;
    }
    kiln_buf_printf(&ddl, NULL, "CREATE TABLE x(");
    for (int i = 0; i < v->def.ncols; i++) {
        char dec[48];
        char *q = sqlite3_mprintf("%s\"%w\" %s", i ? ", " : "", v->def.cols[i], decl_of(v->def.types[i], dec, 48));
        if (!q || kiln_buf_append(&ddl, q, strlen(q), NULL)) {
            sqlite3_free(q);
            src = SQLITE_NOMEM;
            goto done;
        }
        sqlite3_free(q);
    }
    if (kiln_buf_append(&ddl, ")", 2, NULL)) {
        src = SQLITE_NOMEM;
        goto done;
    }
    if ((src = sqlite3_declare_vtab(db, ddl.data)) != SQLITE_OK) {
        *errmsg = sqlite3_mprintf("iceberg_view: %s: cannot declare columns: %s", v->name, sqlite3_errmsg(db));
        goto done;
    }
    if (kiln_vec_push(&m->live, v, NULL))
        src = SQLITE_NOMEM;
done:
    kiln_buf_free(&ddl);
    if (src != SQLITE_OK) {
        kiln_lake_view_def_free(&v->def);
        kiln_free(v->name);
        kiln_free(v);
        return src;
    }
    *out = &v->base;
    return SQLITE_OK;
}

static int x_disconnect(sqlite3_vtab *vt)
{
    vview *v = (vview *)vt;
    for (size_t i = 0; i < v->mod->live.len; i++)
        if (v->mod->live.items[i] == v) {
            v->mod->live.items[i] = v->mod->live.items[--v->mod->live.len];
            break;
        }
    kiln_lake_view_def_free(&v->def);
    kiln_free(v->name);
    kiln_free(v);
    return SQLITE_OK;
}

static int vt_error(sqlite3_vtab *vt, const char *fmt, const char *a, const char *b)
{
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = sqlite3_mprintf(fmt, a, b);
    return SQLITE_ERROR;
}

static int x_best_index(sqlite3_vtab *vt, sqlite3_index_info *ix)
{
    vview *v = (vview *)vt;
    if (!strcasecmp(v->mod->defining, v->name))
        return vt_error(vt, "view %s would read itself%s", v->name, "");
    kiln_buf s;
    kiln_buf_init(&s, 0);
    kiln_buf_printf(&s, NULL, "%llx|", (unsigned long long)ix->colUsed);
    int n = 0, neq = 0;
    for (int i = 0; i < ix->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &ix->aConstraint[i];
        char op = 0;
        switch (c->op) {
        case SQLITE_INDEX_CONSTRAINT_EQ: op = '='; break;
        case SQLITE_INDEX_CONSTRAINT_GT: op = '>'; break;
        case SQLITE_INDEX_CONSTRAINT_GE: op = 'g'; break;
        case SQLITE_INDEX_CONSTRAINT_LT: op = '<'; break;
        case SQLITE_INDEX_CONSTRAINT_LE: op = 'l'; break;
        case SQLITE_INDEX_CONSTRAINT_ISNULL: op = 'N'; break;
        case SQLITE_INDEX_CONSTRAINT_ISNOTNULL: op = 'M'; break;
        }
        if (!op || !c->usable || c->iColumn < 0 || c->iColumn >= v->def.ncols)
            continue;
        kiln_buf_printf(&s, NULL, "%s%d%c", n ? "," : "", c->iColumn, op);
        n++;
        neq += op == '=';
        if (op != 'N' && op != 'M')
            ix->aConstraintUsage[i].argvIndex = ++ix->idxNum; /* idxNum: the bound values */
        ix->aConstraintUsage[i].omit = 0;                     /* SQLite checks again */
    }
    if (kiln_buf_putc(&s, 0, NULL)) {
        kiln_buf_free(&s);
        return SQLITE_NOMEM;
    }
    ix->idxStr = sqlite3_mprintf("%s", s.data);
    ix->needToFreeIdxStr = 1;
    kiln_buf_free(&s);
    if (!ix->idxStr)
        return SQLITE_NOMEM;
    double cost = 1e6;
    for (int i = 0; i < neq; i++)
        cost /= 10;
    ix->estimatedCost = cost + 10;
    ix->estimatedRows = (sqlite3_int64)cost + 1;
    return SQLITE_OK;
}

static int x_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    vcur *c = kiln_calloc(1, sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    *out = &c->base;
    return SQLITE_OK;
}

static int x_close(sqlite3_vtab_cursor *cur)
{
    vcur *c = (vcur *)cur;
    sqlite3_finalize(c->st);
    kiln_free(c->key);
    kiln_free(c);
    return SQLITE_OK;
}

/* SELECT <used columns> FROM (query) WHERE <constraints of idxStr>. */
static char *read_sql(const vview *v, const char *idx)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    unsigned long long used = strtoull(idx, NULL, 16);
    int bad = kiln_buf_printf(&b, NULL, "SELECT ");
    for (int i = 0; i < v->def.ncols; i++) {
        int u = (i < 63 ? (used >> i) & 1 : (used >> 63) & 1);
        char *q =
            u ? sqlite3_mprintf("%s\"%w\"", i ? ", " : "", v->def.cols[i]) : sqlite3_mprintf("%sNULL", i ? ", " : "");
        bad |= !q || kiln_buf_append(&b, q, strlen(q), NULL);
        sqlite3_free(q);
    }
    if (!v->def.ncols)
        bad |= kiln_buf_printf(&b, NULL, "NULL");
    bad |= kiln_buf_printf(&b, NULL, " FROM (\n%s\n) AS \"kiln_view\"", v->def.sql);
    const char *p = strchr(idx, '|');
    int k = 0, arg = 0;
    while (p && p[1]) {
        p++;
        char *e;
        long col = strtol(p, &e, 10);
        char op = *e;
        const char *ops = op == '='   ? "= ?"
                          : op == '>' ? "> ?"
                          : op == 'g' ? ">= ?"
                          : op == '<' ? "< ?"
                          : op == 'l' ? "<= ?"
                          : op == 'N' ? "IS NULL"
                                      : "IS NOT NULL";
        if (col < 0 || col >= v->def.ncols)
            break;
        char *q = op == 'N' || op == 'M'
                      ? sqlite3_mprintf("%s\"%w\" %s", k ? " AND " : " WHERE ", v->def.cols[col], ops)
                      : sqlite3_mprintf("%s\"%w\" %s%d", k ? " AND " : " WHERE ", v->def.cols[col], ops, ++arg);
        bad |= !q || kiln_buf_append(&b, q, strlen(q), NULL);
        sqlite3_free(q);
        k++;
        p = strchr(e, ',');
    }
    bad |= kiln_buf_putc(&b, 0, NULL);
    if (bad) {
        kiln_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int step(vview *v, vcur *c)
{
    v->busy++;
    int src = sqlite3_step(c->st);
    v->busy--;
    if (src == SQLITE_ROW) {
        c->rowid++;
        return SQLITE_OK;
    }
    c->eof = 1;
    if (src == SQLITE_DONE)
        return SQLITE_OK;
    vt_error(&v->base, "view %s: %s", v->name, sqlite3_errmsg(sqlite3_db_handle(c->st)));
    return SQLITE_ERROR;
}

static int x_filter(sqlite3_vtab_cursor *cur, int idxnum, const char *idx, int argc, sqlite3_value **argv)
{
    vcur *c = (vcur *)cur;
    vview *v = (vview *)cur->pVtab;
    sqlite3 *db = v->mod->db;
    if (v->busy)
        return vt_error(&v->base, "view %s reads itself (through the views it reads)%s", v->name, "");
    c->eof = 0;
    c->rowid = 0;
    if (c->st && c->key && idx && !strcmp(c->key, idx)) {
        sqlite3_reset(c->st);
        sqlite3_clear_bindings(c->st);
    } else {
        sqlite3_finalize(c->st);
        c->st = NULL;
        kiln_free(c->key);
        c->key = NULL;
        char *q = read_sql(v, idx ? idx : "0|");
        if (!q || !(c->key = kiln_strdup(idx ? idx : "0|"))) {
            kiln_free(q);
            return SQLITE_NOMEM;
        }
        kiln_err err = {0};
        size_t used = 0;
        int rc = kiln_sql_prepare(db, q, strlen(q), &c->st, &used, NULL, &err);
        kiln_free(q);
        if (rc || !c->st)
            return vt_error(&v->base, "view %s: %s (the view may need to be created again)", v->name,
                            rc ? err.msg : "empty query");
    }
    for (int i = 0; i < argc; i++)
        sqlite3_bind_value(c->st, i + 1, argv[i]);
    (void)idxnum;
    return step(v, c);
}

static int x_next(sqlite3_vtab_cursor *cur) { return step((vview *)cur->pVtab, (vcur *)cur); }

static int x_eof(sqlite3_vtab_cursor *cur) { return ((vcur *)cur)->eof; }

static int x_column(sqlite3_vtab_cursor *cur, sqlite3_context *cx, int i)
{
    vcur *c = (vcur *)cur;
    sqlite3_result_value(cx, sqlite3_column_value(c->st, i));
    return SQLITE_OK;
}

static int x_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *r)
{
    *r = ((vcur *)cur)->rowid;
    return SQLITE_OK;
}

static sqlite3_module g_view_module = {
    .iVersion = 0,
    .xCreate = x_connect,
    .xConnect = x_connect,
    .xBestIndex = x_best_index,
    .xDisconnect = x_disconnect,
    .xDestroy = x_disconnect,
    .xOpen = x_open,
    .xClose = x_close,
    .xFilter = x_filter,
    .xNext = x_next,
    .xEof = x_eof,
    .xColumn = x_column,
    .xRowid = x_rowid,
};

int kiln_sql__view_register(sqlite3 *db, kiln_err *err)
{
    view_mod *m = kiln_calloc(1, sizeof *m);
    if (!m)
        return KILN_OOM(err);
    m->db = db;
    pthread_mutex_lock(&g_lock);
    m->next = g_mods;
    g_mods = m;
    pthread_mutex_unlock(&g_lock);
    if (sqlite3_create_module_v2(db, "iceberg_view", &g_view_module, m, mod_destroy) != SQLITE_OK)
        return kiln_err_set(err, KILN_EINTERNAL, "cannot register the iceberg_view module: %s", sqlite3_errmsg(db));
    return 0;
}

/* ------------------------------------------------------------ declaring */

static int exec_q(sqlite3 *db, char *q, kiln_err *err)
{
    if (!q)
        return KILN_OOM(err);
    char *emsg = NULL;
    int rc = 0;
    if (sqlite3_exec(db, q, NULL, NULL, &emsg) != SQLITE_OK)
        rc = kiln_err_set(err, KILN_EFORMAT, "%s", emsg ? emsg : sqlite3_errmsg(db));
    sqlite3_free(emsg);
    sqlite3_free(q);
    return rc;
}

static int schema_attached(sqlite3 *db, const char *ns)
{
    for (int i = 0; sqlite3_db_name(db, i); i++)
        if (!strcasecmp(sqlite3_db_name(db, i), ns))
            return 1;
    return 0;
}

/* Declare view name (ns.v) on db, replacing a stale declaration. */
static int declare(sqlite3 *db, const char *name, kiln_err *err)
{
    char ns[129], v[129];
    int rc = kiln_lake_name_split(name, ns, v, err);
    if (rc)
        return rc;
    if (!strcasecmp(ns, "main") || !strcasecmp(ns, "temp"))
        return kiln_err_set(err, KILN_EINVAL, "namespace '%s' clashes with SQLite's schema of that name", ns);
    if (!schema_attached(db, ns) && (rc = exec_q(db, sqlite3_mprintf("ATTACH ':memory:' AS \"%w\"", ns), err)))
        return rc;
    if ((rc = exec_q(db, sqlite3_mprintf("DROP TABLE IF EXISTS \"%w\".\"%w\"", ns, v), err)))
        return rc;
    return exec_q(db, sqlite3_mprintf("CREATE VIRTUAL TABLE \"%w\".\"%w\" USING iceberg_view(%Q)", ns, v, name), err);
}

static int undeclare(sqlite3 *db, const char *name, kiln_err *err)
{
    char ns[129], v[129];
    int rc = kiln_lake_name_split(name, ns, v, err);
    if (rc || !schema_attached(db, ns))
        return rc;
    return exec_q(db, sqlite3_mprintf("DROP TABLE IF EXISTS \"%w\".\"%w\"", ns, v), err);
}

static int declare_one(void *p, const char *name)
{
    kiln_err e = {0};
    if (declare(p, name, &e))
        kiln_warn("view %s skipped: %s", name, e.msg);
    return 0;
}

int kiln_sql__views_declare(sqlite3 *db, kiln_err *err)
{
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(db);
    return cat ? kiln_lake_view_list(cat, NULL, declare_one, db, err) : 0;
}

typedef KILN_VEC(char *) namevec;

static int sync_one(void *p, const char *name)
{
    namevec *l = p;
    char *s = kiln_strdup(name);
    if (s && kiln_vec_push(l, s, NULL))
        kiln_free(s);
    return 0;
}

/* Is name declared on db as a view, and from which document? */
static const vview *declared(sqlite3 *db, view_mod *m, const char *name)
{
    for (size_t i = 0; m && i < m->live.len; i++)
        if (!strcasecmp(m->live.items[i]->name, name))
            return m->live.items[i];
    return NULL;
}

int kiln_sql__view_sync(sqlite3 *db, const char *errmsg)
{
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(db);
    if (!cat || !errmsg ||
        (strncmp(errmsg, "no such table: ", 15) && strncmp(errmsg, "no such column: ", 16) &&
         !strstr(errmsg, "(the view may need to be created again)")))
        return 0;
    namevec l = {0};
    kiln_lake_view_list(cat, NULL, sync_one, &l, &(kiln_err){0});
    int changed = 0;
    view_mod *m = mod_of(db);
    for (size_t i = 0; i < l.len; i++) {
        char *json = NULL, *loc = NULL;
        kiln_err e = {0};
        if (kiln_lake_view_load(cat, l.items[i], &json, &loc, &e) == 0) {
            const vview *v = declared(db, m, l.items[i]);
            if (!v || !v->def.loc || strcmp(v->def.loc, loc))
                changed += declare(db, l.items[i], &e) == 0;
        }
        kiln_free(json);
        kiln_free(loc);
        kiln_free(l.items[i]);
    }
    kiln_vec_free(&l);
    return changed > 0;
}

/* ------------------------------------------------------------ CREATE VIEW / DROP VIEW */

/* The columns of the view's query as Iceberg types: the declared type of
 * a column that reads a table's column, else the types of the values in
 * the first VIEW_INFER_ROWS rows (CREATE TABLE AS's rules; "string" when
 * none). cols/types point into *text (caller frees). */
typedef KILN_VEC(char *) strvec;

static int view_columns(sqlite3 *db, const char *query, char **text, strvec *cols, kiln_err *err)
{
    char *q = kiln_sprintf("SELECT * FROM (\n%s\n) LIMIT %d", query, VIEW_INFER_ROWS);
    sqlite3_stmt *st = NULL;
    size_t used = 0;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = !q ? KILN_OOM(err) : kiln_sql_prepare(db, q, strlen(q), &st, &used, NULL, err);
    if (rc == 0 && !st)
        rc = kiln_err_set(err, KILN_EINVAL, "the view has no query");
    if (rc == 0)
        rc = kiln_sql__query_columns(db, st, &b, err);
    sqlite3_finalize(st);
    kiln_free(q);
    if (rc) {
        kiln_buf_free(&b);
        return rc;
    }
    /* "a long, b decimal(9,2), c string": names are plain identifiers */
    *text = b.data;
    for (char *p = b.data; p && *p;) {
        char *sp = strchr(p, ' ');
        char *end = sp ? strstr(sp, ", ") : NULL;
        if (!sp)
            break;
        *sp = 0;
        if (end)
            *end = 0;
        if (kiln_vec_push(cols, p, err) || kiln_vec_push(cols, sp + 1, err))
            return KILN_OOM(err);
        p = end ? end + 2 : NULL;
    }
    return 0;
}

static int view_exists_table(kiln_lake_catalog *cat, const char *name)
{
    kiln_lake_table *t = NULL;
    if (kiln_lake_table_load(&t, cat, name, &(kiln_err){0}) != 0)
        return 0;
    kiln_lake_table_free(t);
    return 1;
}

static int create_view(sqlite3 *db, const char *name, const char *query, int replace, int if_not_exists, int mode,
                       long qoff, long *eoff, FILE *out, kiln_err *err)
{
    int rc = 0;
    view_mod *m = mod_of(db);
    kiln_lake_catalog *cat = kiln_sql_lake_catalog_for_write(db, 1, &rc, err);
    if (!cat)
        return rc ? rc : kiln_err_set(err, KILN_EINVAL, "no warehouse is attached");
    if (view_exists_table(cat, name))
        return kiln_err_set(err, KILN_EEXIST, "a table named %s exists (DROP TABLE it first)", name);
    if (kiln_lake_view_exists(cat, name) && !replace) {
        if (if_not_exists) {
            if (mode == KILN_SQL_WRITE_SUMMARY && out)
                fprintf(out, "CREATE VIEW %s: exists, nothing done\n", name);
            return 0;
        }
        return kiln_err_set(err, KILN_EEXIST, "view %s already exists (CREATE OR REPLACE VIEW replaces it)", name);
    }
    /* the query must prepare (and must not read the view itself) */
    sqlite3_stmt *st = NULL;
    size_t used = 0;
    long off = -1;
    if (m)
        snprintf(m->defining, sizeof m->defining, "%s", name);
    rc = kiln_sql_prepare(db, query, strlen(query), &st, &used, &off, err);
    if (rc == 0 && !st)
        rc = kiln_err_set(err, KILN_EINVAL, "the view has no query");
    sqlite3_finalize(st);
    if (rc) {
        if (m)
            m->defining[0] = 0;
        if (eoff && off >= 0)
            *eoff = qoff + off;
        return rc;
    }
    char *text = NULL;
    strvec cols = {0};
    rc = view_columns(db, query, &text, &cols, err);
    if (m)
        m->defining[0] = 0;
    size_t n = cols.len / 2;
    const char **names = kiln_calloc(n + 1, sizeof *names), **types = kiln_calloc(n + 1, sizeof *types);
    if (rc == 0 && (!names || !types))
        rc = KILN_OOM(err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        names[i] = cols.items[2 * i];
        types[i] = cols.items[2 * i + 1];
    }
    if (rc == 0)
        rc = kiln_lake_view_define(cat, name, query, VIEW_DIALECT, names, types, (int)n, replace, err);
    if (rc == 0)
        rc = declare(db, name, err);
    if (rc == 0 && mode == KILN_SQL_WRITE_SUMMARY && out)
        fprintf(out, "CREATE VIEW %s: %s\n", name, replace ? "created or replaced" : "created");
    kiln_free(names);
    kiln_free(types);
    kiln_vec_free(&cols);
    kiln_free(text);
    return rc;
}

static int drop_view(sqlite3 *db, const char *name, int if_exists, int mode, FILE *out, kiln_err *err)
{
    int rc = 0;
    kiln_lake_catalog *cat = kiln_sql_lake_catalog_for_write(db, 0, &rc, err);
    if (!cat && rc == KILN_ENOTFOUND && if_exists) {
        *err = (kiln_err){0};
        return 0;
    }
    if (!cat)
        return rc ? rc : kiln_err_set(err, KILN_EINVAL, "no warehouse is attached");
    if (!kiln_lake_view_exists(cat, name)) {
        if (view_exists_table(cat, name))
            return kiln_err_set(err, KILN_EINVAL, "%s is a table, not a view (DROP TABLE drops it)", name);
        if (if_exists) {
            if (mode == KILN_SQL_WRITE_SUMMARY && out)
                fprintf(out, "DROP VIEW %s: no such view, nothing done\n", name);
            return 0;
        }
        return kiln_err_set(err, KILN_ENOTFOUND, "no such view: %s", name);
    }
    if ((rc = kiln_lake_view_drop(cat, name, err)) || (rc = undeclare(db, name, err)))
        return rc;
    if (mode == KILN_SQL_WRITE_SUMMARY && out)
        fprintf(out, "DROP VIEW %s: dropped\n", name);
    return 0;
}

int kiln_sql__view_ddl(sqlite3 *db, const char *sql, size_t len, int mode, int *handled, size_t *used, long *eoff,
                       FILE *out, kiln_err *err)
{
    lexer lx = {sql, len, 0};
    tok t = next(&lx);
    size_t start = t.b;
    int create = is_kw(&lx, t, "CREATE"), replace = 0, cond = 0;
    char ns[129], v[129], name[260];
    *handled = 0;
    if (!create && !is_kw(&lx, t, "DROP"))
        return 0;
    tok k = next(&lx);
    if (create && is_kw(&lx, k, "OR")) {
        if (!is_kw(&lx, next(&lx), "REPLACE"))
            return 0;
        replace = 1;
        k = next(&lx);
    }
    if (!is_kw(&lx, k, "VIEW"))
        return 0;
    if (is_kw(&lx, peek(&lx), "IF")) {
        size_t at = lx.pos;
        next(&lx);
        if (create && !is_kw(&lx, next(&lx), "NOT"))
            lx.pos = at;
        else if (!is_kw(&lx, next(&lx), "EXISTS"))
            lx.pos = at;
        else
            cond = 1;
    }
    if (kiln_sql_lex_name2(&lx, ns, v) || !kiln_sql_is_lake_schema(db, ns) ||
        (!kiln_sql_lake_catalog(db) && !kiln_sql_lake_missing(db)))
        return 0; /* a view of SQLite's own (TEMP, main, an attached file) */
    snprintf(name, sizeof name, "%s.%s", ns, v);
    *handled = 1;
    if (replace && cond)
        return perr(eoff, start, err, "CREATE OR REPLACE VIEW cannot have IF NOT EXISTS");
    size_t end;
    if (create) {
        tok as = next(&lx);
        if (is_p(&lx, as, '('))
            return perr(eoff, as.b, err,
                        "CREATE VIEW %s: a column list is not supported; name the columns in the query (expr AS name)",
                        name);
        if (!is_kw(&lx, as, "AS"))
            return perr(eoff, as.b ? as.b : len, err, "CREATE VIEW %s: expected AS query", name);
        size_t qb = lx.pos;
        end = kiln_sql_lex_stmt_end(&lx);
        *used = end < len ? end + 1 : len;
        while (qb < end && (sql[qb] == ' ' || sql[qb] == '\n' || sql[qb] == '\t' || sql[qb] == '\r'))
            qb++;
        size_t qe = end;
        while (qe > qb && (sql[qe - 1] == ' ' || sql[qe - 1] == '\n' || sql[qe - 1] == '\t' || sql[qe - 1] == '\r'))
            qe--;
        if (mode == KILN_SQL_WRITE_EXPLAIN) {
            if (out)
                fprintf(out, "KILN DDL CREATE VIEW %s (not run under --explain)\n", name);
            return 0;
        }
        char *query = kiln_strndup(sql + qb, qe - qb);
        if (!query)
            return KILN_OOM(err);
        int rc = create_view(db, name, query, replace, cond, mode, (long)qb, eoff, out, err);
        kiln_free(query);
        if (rc)
            kiln_err_prefix(err, "CREATE VIEW %s: ", name);
        return rc;
    }
    tok x = next(&lx);
    if (x.kind && !is_p(&lx, x, ';'))
        return perr(eoff, x.b, err, "DROP VIEW %s: unexpected text here", name);
    *used = x.kind ? x.e : len;
    if (mode == KILN_SQL_WRITE_EXPLAIN) {
        if (out)
            fprintf(out, "KILN DDL DROP VIEW %s (not run under --explain)\n", name);
        return 0;
    }
    int rc = drop_view(db, name, cond, mode, out, err);
    if (rc)
        kiln_err_prefix(err, "DROP VIEW %s: ", name);
    return rc;
}

int kiln_sql_relation_name(const char *rel, char ns[129], char name[129])
{
    lexer lx = {rel, strlen(rel), 0};
    if (kiln_sql_lex_name2(&lx, ns, name))
        return -1;
    return next(&lx).kind ? -1 : 0;
}

/* ------------------------------------------------------------ expansion
 *
 * A view named right after FROM or JOIN is replaced by its query, as
 * "(query) AS v" (no alias added when the text has one), before SQLite
 * prepares the statement: SQLite then plans it as it plans a view of its
 * own (flattened into the outer query, or materialized once with an
 * automatic index when it is the inner side of a join), where the virtual
 * table would run the query again for every outer row. Views the query
 * names are expanded in turn; a view reached again inside its own
 * expansion is an error. Anywhere else (after a comma in FROM, in a
 * subquery's FROM is still FROM) the virtual table answers. */

#define VIEW_MAX_DEPTH 32

static int is_clause_kw(const lexer *lx, tok t)
{
    static const char *const kws[] = {"where",   "join",      "left",   "right",  "inner", "cross", "full",
                                      "natural", "on",        "using",  "group",  "order", "limit", "union",
                                      "except",  "intersect", "having", "window", "outer", "as",    "returning",
                                      "offset",  "set",       "values", "select", "from",  "when",  "then"};
    for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++)
        if (is_kw(lx, t, kws[i]))
            return 1;
    return 0;
}

/* The declared view of that name, its definition brought up to date when
 * another session replaced it (the catalog names another document): so an
 * expansion never runs a query the view no longer has. */
static const vview *live_view(const view_mod *m, const char *name)
{
    vview *v = NULL;
    for (size_t i = 0; i < m->live.len && !v; i++)
        if (!strcasecmp(m->live.items[i]->name, name))
            v = m->live.items[i];
    kiln_lake_catalog *cat = v ? kiln_sql_lake_catalog(m->db) : NULL;
    char *json = NULL, *loc = NULL;
    kiln_lake_view_def d;
    if (cat && kiln_lake_view_load(cat, v->name, &json, &loc, &(kiln_err){0}) == 0 && v->def.loc &&
        strcmp(loc, v->def.loc) && kiln_lake_view_def_load(cat, v->name, VIEW_DIALECT, &d, &(kiln_err){0}) == 0) {
        kiln_lake_view_def_free(&v->def);
        v->def = d;
    }
    kiln_free(json);
    kiln_free(loc);
    return v;
}

static int expand_into(const view_mod *m, const char *s, size_t n, kiln_buf *out, const char **stack, int depth,
                       kiln_sql_vmap_vec *map, size_t *nexp, kiln_err *err)
{
    lexer lx = {s, n, 0};
    size_t copied = 0;
    int after_from = 0, rc = 0;
    for (;;) {
        size_t save = lx.pos;
        tok t = next(&lx);
        if (!t.kind)
            break;
        if (after_from && (t.kind == 'w' || t.kind == 'q')) {
            lexer l2 = {s, n, save};
            char ns[129], v[129], name[260];
            if (kiln_sql_lex_name2(&l2, ns, v) == 0) {
                snprintf(name, sizeof name, "%s.%s", ns, v);
                const vview *vv = live_view(m, name);
                tok a = peek(&l2);
                if (vv && !is_p(&l2, a, '(') && !is_p(&l2, a, '.')) {
                    for (int k = 0; k < depth; k++)
                        if (!strcasecmp(stack[k], vv->name))
                            return kiln_err_set(err, KILN_EINVAL, "view %s reads itself (through the views it reads)",
                                                vv->name);
                    if (!strcasecmp(m->defining, vv->name))
                        return kiln_err_set(err, KILN_EINVAL, "view %s would read itself", vv->name);
                    if (depth >= VIEW_MAX_DEPTH)
                        return kiln_err_set(err, KILN_ELIMIT, "views nested more than %d deep", VIEW_MAX_DEPTH);
                    int alias = a.kind == 'q' || (a.kind == 'w' && (!is_clause_kw(&l2, a) || is_kw(&l2, a, "as")));
                    size_t end = t.e;
                    { /* the end of the name's last token */
                        lexer l3 = {s, n, save};
                        tok x;
                        while ((x = next(&l3)).kind && l3.pos <= l2.pos)
                            end = x.e;
                    }
                    size_t nb = out->len + (t.b - copied);
                    if ((rc = kiln_buf_append(out, s + copied, t.b - copied, err)) ||
                        (rc = kiln_buf_append(out, "(\n", 2, err)))
                        return rc;
                    stack[depth] = vv->name;
                    if ((rc = expand_into(m, vv->def.sql, strlen(vv->def.sql), out, stack, depth + 1, NULL, NULL, err)))
                        return rc;
                    char *tail = alias ? sqlite3_mprintf("\n)") : sqlite3_mprintf("\n) AS \"%w\"", v);
                    if (!tail)
                        return KILN_OOM(err);
                    rc = kiln_buf_append(out, tail, strlen(tail), err);
                    sqlite3_free(tail);
                    if (rc)
                        return rc;
                    if (map && (rc = kiln_vec_push(map, ((kiln_sql_vmap){t.b, end, nb, out->len}), err)))
                        return rc;
                    if (nexp)
                        (*nexp)++;
                    copied = end;
                    lx.pos = end;
                    after_from = 0;
                    continue;
                }
            }
        }
        after_from = t.kind == 'w' && (is_kw(&lx, t, "from") || is_kw(&lx, t, "join"));
    }
    return kiln_buf_append(out, s + copied, n - copied, err);
}

int kiln_sql__view_expand(sqlite3 *db, const char *sql, size_t len, kiln_buf *out, kiln_sql_vmap_vec *map,
                          kiln_err *err)
{
    view_mod *m = mod_of(db);
    kiln_buf_reset(out);
    if (!m || !m->live.len)
        return 0;
    const char *stack[VIEW_MAX_DEPTH + 1];
    size_t nexp = 0;
    int rc = expand_into(m, sql, len, out, stack, 0, map, &nexp, err);
    if (rc || !nexp)
        kiln_buf_reset(out);
    return rc;
}

size_t kiln_sql__view_map_back(const kiln_sql_vmap_vec *map, size_t r)
{
    long delta = 0;
    for (size_t i = 0; map && i < map->len; i++) {
        const kiln_sql_vmap *x = &map->items[i];
        if (r < x->nb)
            break;
        if (r < x->ne)
            return x->ob; /* inside an expanded view: the view's name */
        delta = (long)x->oe - (long)x->ne;
    }
    return (size_t)((long)r + delta);
}
