/*
 * vtab_iceberg.c - kiln's Iceberg tables as SQLite virtual tables.
 *
 * kiln_sql_lake_attach opens a warehouse catalog on a connection: every
 * namespace becomes an attached in-memory schema (ATTACH ':memory:' AS ns)
 * and every table a virtual table ns.table of module "iceberg" created in
 * it. Names like "ns"."table@REF" (REF a branch, tag, snapshot id or time)
 * are created on demand by kiln_sql_lake_resolve_missing when SQLite reports
 * "no such table".
 *
 * Pushdown (xBestIndex / xFilter):
 *  - projection: colUsed decides the columns read from Parquet;
 *  - constraints =, <, <=, >, >=, IS NULL, IS NOT NULL on columns whose
 *    type allows an exact-or-wider translation become a kiln_lake_pred
 *    text handed to scan planning (partition and file-stats pruning, row
 *    filter). Every pushed term is a superset of what SQLite tests, so
 *    omit stays 0 and SQLite re-checks (see docs/sql.md for why timestamp
 *    text bounds are widened to whole seconds/days);
 *  - hidden columns _as_of (snapshot id or time) and _ref (branch/tag)
 *    select the snapshot; those constraints are consumed (omit = 1).
 * idxNum bits: 1 = a predicate is pushed, 2 = _as_of, 4 = _ref.
 * idxStr: "<colUsed hex>|" then one entry per pushed constraint in argv
 * order, "<column index><op>" joined by ',', op one of = > g(>=) < l(<=)
 * N(IS NULL) M(IS NOT NULL) A(_as_of) R(_ref); N and M take no argument.
 *
 * Every xBestIndex and xFilter call is recorded (when tracing is on) in the
 * connection's trace text, and every xFilter in the scan log `kiln sql
 * --explain` prints (pushed predicate, columns, snapshot, pruning stats).
 */
#include "sql_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lake/lake.h"

#define COL_AS_OF 0 /* offsets after the table's columns */
#define COL_REF 1
#define MAX_PUSH 24

/* ------------------------------------------------------------ connection context */

typedef struct lake_ctx {
    sqlite3 *db;
    kiln_lake_catalog *cat;
    char *warehouse;
    int missing; /* attached with KILN_SQL_LAKE_DEFER and not there: cat is NULL until a write creates it */
    int tracing;
    kiln_buf trace;
    KILN_VEC(kiln_sql_scan_rec) scans;
    KILN_VEC(char *) scan_keys; /* idxStr of each scan record (merge key) */
    int logging;
    struct lake_ctx *next;
} lake_ctx;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static lake_ctx *g_ctxs;

static lake_ctx *ctx_get(sqlite3 *db)
{
    pthread_mutex_lock(&g_lock);
    lake_ctx *c = g_ctxs;
    while (c && c->db != db)
        c = c->next;
    pthread_mutex_unlock(&g_lock);
    return c;
}

static void scans_clear(lake_ctx *c)
{
    for (size_t i = 0; i < c->scans.len; i++) {
        kiln_free(c->scans.items[i].table);
        kiln_free(c->scans.items[i].where);
        kiln_free(c->scans.items[i].columns);
        kiln_free(c->scan_keys.items[i]);
    }
    c->scans.len = 0;
    c->scan_keys.len = 0;
}

static void ctx_destroy(void *p)
{
    lake_ctx *c = p;
    if (!c)
        return;
    pthread_mutex_lock(&g_lock);
    lake_ctx **pp = &g_ctxs;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
    pthread_mutex_unlock(&g_lock);
    scans_clear(c);
    kiln_vec_free(&c->scans);
    kiln_vec_free(&c->scan_keys);
    kiln_buf_free(&c->trace);
    kiln_lake_catalog_free(c->cat);
    kiln_free(c->warehouse);
    kiln_free(c);
}

static void trace(lake_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(lake_ctx *c, const char *fmt, ...)
{
    if (!c->tracing)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0 && s) {
        kiln_buf_append(&c->trace, s, strlen(s), NULL);
        kiln_buf_putc(&c->trace, '\n', NULL);
    }
    free(s);
    va_end(ap);
}

/* ------------------------------------------------------------ vtab structs */

typedef struct ice_col {
    char *name;
    kiln_type type;
    int scale;
    int exact_text; /* a decimal with more than 15 digits: exact text, a double would round it */
    int lineage;    /* a v3 row lineage column (_row_id, ...): HIDDEN, computed by the scan, never pushed down */
    int leaf_json;  /* a leaf under a list or map (a JSON array of its values): HIDDEN, never pushed down */
} ice_col;

typedef struct ice_vtab {
    sqlite3_vtab base;
    lake_ctx *ctx;
    char *name;      /* "ns.table" */
    char *fixed_ref; /* from "table@REF", or NULL */
    int ncols;
    ice_col *cols;
    int64_t est_rows;
} ice_vtab;

/* A cell of the join cache. */
typedef struct jcell {
    int type; /* SQLITE_NULL/INTEGER/FLOAT/TEXT/BLOB */
    int64_t i;
    double d;
    const char *p;
    int n;
} jcell;

typedef struct join_cache {
    int ready, failed;
    size_t nrows, cap;
    jcell *cells;      /* nrows x ncols (unused columns stay NULL cells) */
    kiln_arena *arena; /* text/blob bytes */
    size_t bytes;
    int nkey;
    int keycol[MAX_PUSH];
    uint32_t *heads; /* nb buckets of row chains */
    uint32_t *next;
    size_t nb;
} join_cache;

typedef struct ice_cursor {
    sqlite3_vtab_cursor base;
    kiln_lake_table *table;
    kiln_lake_scan *scan;
    const kiln_batch *batch;
    size_t row;
    int64_t rowid;
    int eof;
    int *map; /* vtab column -> scan column, -1 when not read */
    char *as_of, *ref;
    long rec; /* index into ctx->scans, -1 */
    /* inner-loop cache (see "join cache" below) */
    char *last_idx; /* idxStr of the previous xFilter */
    int repeats;    /* consecutive xFilter calls with that idxStr */
    join_cache jc;
    int serving;   /* rows come from jc, not the scan */
    uint32_t crow; /* current cached row (UINT32_MAX = none) */
    int nkey;
    int keycol[MAX_PUSH];
    sqlite3_value *keyval[MAX_PUSH];
} ice_cursor;

static void keyvals_free(ice_cursor *cur);

static int vt_error(sqlite3_vtab *vt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vt_error(sqlite3_vtab *vt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    return SQLITE_ERROR;
}

static const char *sql_type(kiln_type t)
{
    switch (t) {
    case KILN_T_BOOL: return "BOOLEAN INTEGER";
    case KILN_T_INT32: return "INT32";
    case KILN_T_INT64: return "BIGINT";
    case KILN_T_FLOAT: return "FLOAT32";
    case KILN_T_DOUBLE: return "DOUBLE";
    case KILN_T_STRING: return "TEXT";
    case KILN_T_BINARY: return "BLOB";
    case KILN_T_DATE: return "DATE TEXT";
    case KILN_T_TIMESTAMPTZ: return "TIMESTAMPTZ TEXT";
    case KILN_T_TIMESTAMP: return "TIMESTAMP TEXT";
    case KILN_T_DECIMAL: return "REAL DECIMAL";      /* declared with (P,S) in x_connect */
    case KILN_T_DECIMAL_WIDE: return "TEXT DECIMAL"; /* exact text; (P,S) added in x_connect */
    case KILN_T_JSON: return "TEXT JSON";            /* struct/list/map as JSON text */
    case KILN_T_TIME: return "TIME TEXT";            /* HH:MM:SS[.ffffff] */
    case KILN_T_UUID: return "UUID TEXT";            /* 8-4-4-4-12 hex */
    }
    return "";
}

/* Strip SQL quotes from a module argument ('x', "x" or x). */
static char *unquote(const char *s)
{
    size_t n = strlen(s);
    while (n && (*s == ' '))
        s++, n--;
    while (n && s[n - 1] == ' ')
        n--;
    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) {
        char q = s[0];
        char *o = kiln_malloc(n);
        if (!o)
            return NULL;
        size_t k = 0;
        for (size_t i = 1; i + 1 < n; i++) {
            o[k++] = s[i];
            if (s[i] == q && i + 2 < n && s[i + 1] == q)
                i++;
        }
        o[k] = 0;
        return o;
    }
    char *o = kiln_malloc(n + 1);
    if (!o)
        return NULL;
    memcpy(o, s, n);
    o[n] = 0;
    return o;
}

static void vtab_free(ice_vtab *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->ncols; i++)
        kiln_free(v->cols[i].name);
    kiln_free(v->cols);
    kiln_free(v->name);
    kiln_free(v->fixed_ref);
    sqlite3_free(v->base.zErrMsg);
    kiln_free(v);
}

/* USING iceberg('ns.table' [, 'REF']) */
static int x_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **errmsg)
{
    lake_ctx *c = aux;
    ice_vtab *v = NULL;
    kiln_lake_table *t = NULL;
    kiln_arena *a = NULL;
    kiln_buf ddl;
    kiln_buf_init(&ddl, 0);
    kiln_err err = {0};
    int src = SQLITE_OK;
    if (!c->cat) {
        *errmsg = sqlite3_mprintf("iceberg: no warehouse attached (kiln sql --warehouse DIR)");
        return SQLITE_ERROR;
    }
    if (argc < 4 || argc > 5) {
        *errmsg = sqlite3_mprintf("iceberg: usage: USING iceberg('ns.table' [, 'ref'])");
        return SQLITE_ERROR;
    }
    v = kiln_calloc(1, sizeof *v);
    if (!v)
        return SQLITE_NOMEM;
    v->ctx = c;
    v->name = unquote(argv[3]);
    if (argc == 5)
        v->fixed_ref = unquote(argv[4]);
    if (!v->name || (argc == 5 && !v->fixed_ref)) {
        src = SQLITE_NOMEM;
        goto done;
    }
    if (kiln_lake_table_load(&t, c->cat, v->name, &err) != 0) {
        *errmsg = sqlite3_mprintf("iceberg: %s", err.msg);
        src = SQLITE_ERROR;
        goto done;
    }
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    int64_t sid = m->current_snapshot_id;
    if (v->fixed_ref && kiln_lake_meta_resolve(m, v->fixed_ref, &sid, &err) != 0) {
        *errmsg = sqlite3_mprintf("iceberg: %s: %s", v->name, err.msg);
        src = SQLITE_ERROR;
        goto done;
    }
    a = kiln_arena_new(16 * 1024);
    kiln_lake_view view;
    if (!a || kiln_lake_view_from_meta(&view, a, m, sid, NULL, &err) != 0) {
        *errmsg = sqlite3_mprintf("iceberg: %s: %s", v->name, a ? err.msg : "out of memory");
        src = SQLITE_ERROR;
        goto done;
    }
    const kiln_lake_snapshot *snap = kiln_lake_meta_snapshot(m, sid);
    const char *tr = snap ? kiln_lake_snapshot_summary(snap, "total-records") : NULL;
    v->est_rows = tr ? atoll(tr) : 0;
    v->ncols = view.schema->ncols;
    /* v3 tables: the row lineage metadata columns, HIDDEN (select * leaves
     * them out), unless the schema has columns of those names */
    int nlin = m->format_version >= 3 && kiln_schema_find(view.schema, KILN_LAKE_COL_ROW_ID) < 0 &&
                       kiln_schema_find(view.schema, KILN_LAKE_COL_LAST_UPDATED_SEQ) < 0
                   ? 2
                   : 0;
    /* fields inside nested columns as HIDDEN columns named by their path:
     * a leaf reached through structs only ("s.a") has its own type, so a
     * filter on one is pushed into the scan (pruned by the leaf's bounds
     * and partitions); one reached through a list or map ("commits.sha",
     * "m.value") is a JSON array of the row's values. Either way only its
     * chunks are read. Columns from index 63 on share colUsed's last bit
     * (filter_columns reads all of them when it is set); the leaves are
     * left out only where SQLite's column limit would be passed. */
    kiln_schema xs;
    int nleaf = 0;
    if (kiln_lake_view_nested_schema(&view, a, &xs, &err) != 0) {
        *errmsg = sqlite3_mprintf("iceberg: %s: %s", v->name, err.msg);
        src = SQLITE_ERROR;
        goto done;
    }
    nleaf = xs.ncols - v->ncols;
    if (v->ncols + nleaf + nlin + 2 > sqlite3_limit(db, SQLITE_LIMIT_COLUMN, -1))
        nleaf = 0;
    for (int i = v->ncols; i < v->ncols + nleaf; i++)
        if (kiln_schema_find(view.schema, xs.cols[i].name) >= 0)
            nleaf = 0; /* a top-level column named like a path: no leaf columns */
    v->cols = kiln_calloc((size_t)v->ncols + (size_t)nleaf + 3, sizeof *v->cols);
    if (!v->cols) {
        v->ncols = 0;
        src = SQLITE_NOMEM;
        goto done;
    }
    kiln_buf_printf(&ddl, NULL, "CREATE TABLE x(");
    for (int i = 0; i < v->ncols; i++) {
        const kiln_column_def *cd = &view.schema->cols[i];
        if (!(v->cols[i].name = kiln_strdup(cd->name))) {
            src = SQLITE_NOMEM;
            goto done;
        }
        v->cols[i].type = cd->type;
        v->cols[i].scale = cd->scale;
        v->cols[i].exact_text = cd->type == KILN_T_DECIMAL && cd->precision > 15;
        char dec[48];
        snprintf(dec, sizeof dec, "%s(%d,%d)", v->cols[i].exact_text ? "TEXT DECIMAL" : sql_type(cd->type),
                 cd->precision, cd->scale);
        char *q =
            sqlite3_mprintf("%s\"%w\" %s", i ? ", " : "", cd->name,
                            cd->type == KILN_T_DECIMAL || cd->type == KILN_T_DECIMAL_WIDE ? dec : sql_type(cd->type));
        kiln_buf_append(&ddl, q, strlen(q), NULL);
        sqlite3_free(q);
    }
    for (int k = 0; k < nleaf; k++) {
        const kiln_column_def *cd = &xs.cols[view.schema->ncols + k];
        ice_col *ic = &v->cols[v->ncols];
        if (!(ic->name = kiln_strdup(cd->name))) {
            src = SQLITE_NOMEM;
            goto done;
        }
        ic->type = cd->type;
        ic->scale = cd->scale;
        ic->exact_text = cd->type == KILN_T_DECIMAL && cd->precision > 15;
        ic->leaf_json = cd->type == KILN_T_JSON;
        v->ncols++;
        char dec[48]; /* HIDDEN goes first: SQLite finds it only before a type's "(P,S)" */
        snprintf(dec, sizeof dec, "%s(%d,%d)", ic->exact_text ? "TEXT DECIMAL" : sql_type(cd->type), cd->precision,
                 cd->scale);
        char *q =
            sqlite3_mprintf("%s\"%w\" HIDDEN %s", v->ncols > 1 ? ", " : "", cd->name,
                            cd->type == KILN_T_DECIMAL || cd->type == KILN_T_DECIMAL_WIDE ? dec : sql_type(cd->type));
        kiln_buf_append(&ddl, q, strlen(q), NULL);
        sqlite3_free(q);
    }
    for (int k = 0; k < nlin; k++) {
        const kiln_column_def *lc = kiln_lake_lineage_col(k ? KILN_LAKE_COL_LAST_UPDATED_SEQ : KILN_LAKE_COL_ROW_ID, 0);
        ice_col *ic = &v->cols[v->ncols];
        if (!(ic->name = kiln_strdup(lc->name))) {
            src = SQLITE_NOMEM;
            goto done;
        }
        ic->type = lc->type;
        ic->lineage = 1;
        v->ncols++;
        kiln_buf_printf(&ddl, NULL, "%s\"%s\" INTEGER HIDDEN", v->ncols > 1 ? ", " : "", lc->name);
    }
    kiln_buf_printf(&ddl, NULL, "%s_as_of HIDDEN, _ref HIDDEN)", v->ncols ? ", " : "");
    if (kiln_buf_putc(&ddl, 0, NULL) != 0) {
        src = SQLITE_NOMEM;
        goto done;
    }
    if ((src = sqlite3_declare_vtab(db, ddl.data)) != SQLITE_OK) {
        *errmsg = sqlite3_mprintf("iceberg: %s: cannot declare columns: %s", v->name, sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
done:
    kiln_arena_free(a);
    kiln_lake_table_free(t);
    kiln_buf_free(&ddl);
    if (src != SQLITE_OK) {
        vtab_free(v);
        return src;
    }
    *out = &v->base;
    return SQLITE_OK;
}

static int x_disconnect(sqlite3_vtab *vt)
{
    vtab_free((ice_vtab *)vt);
    return SQLITE_OK;
}

/* ------------------------------------------------------------ planning */

static const char *op_name(unsigned char op)
{
    switch (op) {
    case SQLITE_INDEX_CONSTRAINT_EQ: return "=";
    case SQLITE_INDEX_CONSTRAINT_GT: return ">";
    case SQLITE_INDEX_CONSTRAINT_GE: return ">=";
    case SQLITE_INDEX_CONSTRAINT_LT: return "<";
    case SQLITE_INDEX_CONSTRAINT_LE: return "<=";
    case SQLITE_INDEX_CONSTRAINT_ISNULL: return "IS NULL";
    case SQLITE_INDEX_CONSTRAINT_ISNOTNULL: return "IS NOT NULL";
    case SQLITE_INDEX_CONSTRAINT_NE: return "!=";
    case SQLITE_INDEX_CONSTRAINT_LIKE: return "LIKE";
    case SQLITE_INDEX_CONSTRAINT_GLOB: return "GLOB";
    case SQLITE_INDEX_CONSTRAINT_MATCH: return "MATCH";
    case SQLITE_INDEX_CONSTRAINT_IS: return "IS";
    case SQLITE_INDEX_CONSTRAINT_ISNOT: return "IS NOT";
    case SQLITE_INDEX_CONSTRAINT_LIMIT: return "LIMIT";
    case SQLITE_INDEX_CONSTRAINT_OFFSET: return "OFFSET";
    }
    return "?";
}

static char op_code(unsigned char op)
{
    switch (op) {
    case SQLITE_INDEX_CONSTRAINT_EQ: return '=';
    case SQLITE_INDEX_CONSTRAINT_GT: return '>';
    case SQLITE_INDEX_CONSTRAINT_GE: return 'g';
    case SQLITE_INDEX_CONSTRAINT_LT: return '<';
    case SQLITE_INDEX_CONSTRAINT_LE: return 'l';
    case SQLITE_INDEX_CONSTRAINT_ISNULL: return 'N';
    case SQLITE_INDEX_CONSTRAINT_ISNOTNULL: return 'M';
    }
    return 0;
}

/* Can a constraint on a column of type t with operator code op be pushed at
 * all (the value's type is checked again in xFilter)? */
static int pushable(kiln_type t, char op)
{
    if (op == 'N' || op == 'M')
        return 1;
    switch (t) {
    case KILN_T_INT32:
    case KILN_T_INT64:
    case KILN_T_DOUBLE:
    case KILN_T_STRING:
    case KILN_T_DATE:
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: return 1;
    case KILN_T_BOOL: return op == '=';
    default: return 0;
    }
}

static int add_term(kiln_buf *w, const ice_col *col, char op, sqlite3_value *val);

/* Plan the scan of the current snapshot under where (constant constraints
 * known at xBestIndex time): *rows = records in the files that survive
 * pruning. 0, or <0 when planning is not possible (then heuristics apply). */
static int plan_rows(ice_vtab *v, const char *where, double *rows, size_t *kept, size_t *total)
{
    kiln_lake_table *t = NULL;
    kiln_arena *a = NULL;
    kiln_lake_plan *plan = NULL;
    kiln_err err = {0};
    int rc = kiln_lake_table_load(&t, v->ctx->cat, v->name, &err);
    if (rc)
        goto done;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    int64_t sid = m->current_snapshot_id;
    if (v->fixed_ref && (rc = kiln_lake_meta_resolve(m, v->fixed_ref, &sid, &err)))
        goto done;
    kiln_lake_view view;
    kiln_lake_pred pred;
    if (!(a = kiln_arena_new(16 * 1024))) {
        rc = KILN_ENOMEM;
        goto done;
    }
    kiln_schema xs;
    if ((rc = kiln_lake_view_from_meta(&view, a, m, sid, NULL, &err)) ||
        (rc = kiln_lake_view_leaf_schema(&view, a, &xs, &err)) ||
        (rc = kiln_lake_pred_parse(&pred, a, &xs, where, &err)))
        goto done;
    if (view.snapshot_id < 0) {
        *rows = 0;
        *kept = *total = 0;
        goto done;
    }
    if ((rc = kiln_lake_plan_new(&plan, &view, &pred, &err)))
        goto done;
    double n = 0;
    for (size_t i = 0; i < kiln_lake_plan_ntasks(plan); i++)
        n += (double)kiln_lake_plan_task(plan, i)->data->df.record_count;
    const kiln_lake_plan_stats *st = kiln_lake_plan_stats_get(plan);
    *rows = n;
    *kept = kiln_lake_plan_ntasks(plan);
    *total = st->files_total;
done:
    kiln_lake_plan_free(plan);
    kiln_arena_free(a);
    kiln_lake_table_free(t);
    return rc;
}

static int x_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    ice_vtab *v = (ice_vtab *)vt;
    lake_ctx *c = v->ctx;
    kiln_buf s, tr, cw;
    kiln_buf_init(&s, 0);
    kiln_buf_init(&tr, 0);
    kiln_buf_init(&cw, 0);
    int idx = 0, argn = 0, neq = 0, nrange = 0, bad = 0;
    bad |= kiln_buf_printf(&s, NULL, "%llx|", (unsigned long long)info->colUsed);
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *k = &info->aConstraint[i];
        const char *cname = k->iColumn < 0                       ? "rowid"
                            : k->iColumn < v->ncols              ? v->cols[k->iColumn].name
                            : k->iColumn == v->ncols + COL_AS_OF ? "_as_of"
                                                                 : "_ref";
        kiln_buf_printf(&tr, NULL, " %s %s%s", cname, op_name(k->op), k->usable ? "" : " (unusable)");
        if (!k->usable || k->iColumn < 0 || argn >= MAX_PUSH)
            continue;
        if (k->iColumn >= v->ncols) {
            if (k->op != SQLITE_INDEX_CONSTRAINT_EQ)
                continue;
            int hid = k->iColumn - v->ncols;
            int bit = hid == COL_AS_OF ? 2 : 4;
            if (idx & bit)
                continue;
            idx |= bit;
            info->aConstraintUsage[i].argvIndex = ++argn;
            info->aConstraintUsage[i].omit = 1;
            bad |= kiln_buf_printf(&s, NULL, "%s%d%c", s.data && s.data[s.len - 1] == '|' ? "" : ",", k->iColumn,
                                   hid == COL_AS_OF ? 'A' : 'R');
            continue;
        }
        char op = op_code(k->op);
        if (!op || v->cols[k->iColumn].lineage || v->cols[k->iColumn].leaf_json ||
            !pushable(v->cols[k->iColumn].type, op))
            continue;
        if (v->cols[k->iColumn].type == KILN_T_STRING && op != 'N' && op != 'M') {
            const char *coll = sqlite3_vtab_collation(info, i);
            if (coll && strcasecmp(coll, "BINARY") != 0)
                continue;
        }
        idx |= 1;
        if (op != 'N' && op != 'M')
            info->aConstraintUsage[i].argvIndex = ++argn;
        bad |= kiln_buf_printf(&s, NULL, "%s%d%c", s.data && s.data[s.len - 1] == '|' ? "" : ",", k->iColumn, op);
        /* a constant right-hand side goes into a trial plan below; a join
         * value (known only in xFilter) gets the heuristic */
        sqlite3_value *rv = NULL;
        if (op == 'N' || op == 'M')
            add_term(&cw, &v->cols[k->iColumn], op, NULL);
        else if (sqlite3_vtab_rhs_value(info, i, &rv) == SQLITE_OK && rv &&
                 add_term(&cw, &v->cols[k->iColumn], op, rv) == 0)
            ;
        else if (op == '=')
            neq++;
        else
            nrange++;
    }
    double rows = v->est_rows > 0 ? (double)v->est_rows : 1000.0;
    char planned[96] = "";
    if (cw.len && !(idx & 6)) {
        double pr = 0;
        size_t kept = 0, total = 0;
        kiln_buf_putc(&cw, 0, NULL);
        if (plan_rows(v, cw.data, &pr, &kept, &total) == 0) {
            rows = pr;
            snprintf(planned, sizeof planned, " planned=%.0f rows in %zu/%zu files", pr, kept, total);
        }
    }
    for (int i = 0; i < neq; i++)
        rows /= 10.0;
    for (int i = 0; i < nrange; i++)
        rows /= 3.0;
    if (rows < 1)
        rows = 1;
    int nused = 0;
    for (int i = 0; i < 64; i++)
        if (info->colUsed & ((sqlite3_uint64)1 << i))
            nused++;
    /* The cost never falls below half a full scan: each xFilter plans the
     * scan and opens files again, and it keeps SQLite from choosing a
     * MULTI-INDEX OR plan (two constrained scans would cost more than one
     * full scan), which would dedupe rows by rowid across separate scans
     * where rowids are only positions within one scan. */
    double full = v->est_rows > 0 ? (double)v->est_rows : 1000.0;
    double sel = rows / full;
    if (sel > 1)
        sel = 1;
    info->estimatedRows = (sqlite3_int64)rows;
    info->estimatedCost = (full * (1.0 + nused) + 100.0) * (0.5 + 0.5 * sel);
    info->idxNum = idx;
    bad |= kiln_buf_putc(&s, 0, NULL);
    info->idxStr = bad ? NULL : sqlite3_mprintf("%s", s.data);
    info->needToFreeIdxStr = 1;
    if (!info->idxStr) {
        kiln_buf_free(&s);
        kiln_buf_free(&tr);
        kiln_buf_free(&cw);
        return SQLITE_NOMEM;
    }
    kiln_buf_putc(&tr, 0, NULL);
    trace(c, "bestindex %s colUsed=%llx constraints:%s -> idxNum=%d idxStr=%s rows=%lld%s", v->name,
          (unsigned long long)info->colUsed, tr.data ? tr.data : "", idx, s.data, (long long)info->estimatedRows,
          planned);
    kiln_buf_free(&s);
    kiln_buf_free(&cw);
    kiln_buf_free(&tr);
    return SQLITE_OK;
}

/* ------------------------------------------------------------ cursor */

static int x_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    ice_vtab *v = (ice_vtab *)vt;
    kiln_err err = {0};
    ice_cursor *cur = kiln_calloc(1, sizeof *cur);
    if (!cur)
        return SQLITE_NOMEM;
    cur->rec = -1;
    if (kiln_lake_table_load(&cur->table, v->ctx->cat, v->name, &err) != 0) {
        kiln_free(cur);
        return vt_error(vt, "iceberg: %s", err.msg);
    }
    cur->map = kiln_calloc((size_t)v->ncols + 1, sizeof *cur->map);
    if (!cur->map) {
        kiln_lake_table_free(cur->table);
        kiln_free(cur);
        return SQLITE_NOMEM;
    }
    cur->eof = 1;
    *out = &cur->base;
    return SQLITE_OK;
}

static void cursor_reset(ice_cursor *cur)
{
    /* row groups are known only as the scan reads: add them to the
     * --explain record of this scan when it ends */
    ice_vtab *v = (ice_vtab *)cur->base.pVtab;
    if (cur->scan && v && v->ctx->logging && cur->rec >= 0 && (size_t)cur->rec < v->ctx->scans.len) {
        const kiln_lake_plan_stats *st = kiln_lake_scan_plan_stats(cur->scan);
        kiln_sql_scan_rec *o = &v->ctx->scans.items[cur->rec];
        o->row_groups_total += st->row_groups_total;
        o->row_groups_skipped += st->row_groups_skipped;
    }
    kiln_lake_scan_free(cur->scan);
    cur->scan = NULL;
    cur->batch = NULL;
    kiln_free(cur->as_of);
    kiln_free(cur->ref);
    cur->as_of = cur->ref = NULL;
}

static void jc_free(join_cache *jc)
{
    kiln_free(jc->cells);
    kiln_free(jc->heads);
    kiln_free(jc->next);
    kiln_arena_free(jc->arena);
    memset(jc, 0, sizeof *jc);
}

static int x_close(sqlite3_vtab_cursor *vc)
{
    ice_cursor *cur = (ice_cursor *)vc;
    cursor_reset(cur);
    keyvals_free(cur);
    jc_free(&cur->jc);
    kiln_free(cur->last_idx);
    kiln_lake_table_free(cur->table);
    kiln_free(cur->map);
    kiln_free(cur);
    return SQLITE_OK;
}

/* Append a literal for pred text: 'x' or "x"; 0 or -1 when it cannot be
 * quoted. */
static int put_quoted(kiln_buf *b, const char *s, size_t n)
{
    char q = memchr(s, '\'', n) == NULL ? '\'' : memchr(s, '"', n) == NULL ? '"' : 0;
    if (!q || memchr(s, 0, n))
        return -1;
    kiln_buf_putc(b, q, NULL);
    kiln_buf_append(b, s, n, NULL);
    kiln_buf_putc(b, q, NULL);
    return 0;
}

static int two_digits(const char *p, int *v)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
        return -1;
    *v = (p[0] - '0') * 10 + (p[1] - '0');
    return 0;
}

/* Bounds [lo, hi] of the canonical timestamps X (micros; days for a date
 * column) whose text can compare equal to the text literal cs: the scan
 * pushdown's widening (also used by src/exec). 0, or -1 when nothing safe
 * exists. */
int kiln_sql__ts_text_bounds(const char *cs, size_t n, int is_date_col, int64_t *lo, int64_t *hi)
{
    int64_t days;
    if (n < 10 || kiln_date_parse(cs, 10, &days) != 0)
        return -1;
    int64_t unit = is_date_col ? 1 : 86400000000LL;
    int64_t base = days * unit, width = unit;
    int h, m, s;
    if (!is_date_col && n >= 19 && cs[10] == 'T' && cs[13] == ':' && cs[16] == ':' && two_digits(cs + 11, &h) == 0 &&
        two_digits(cs + 14, &m) == 0 && two_digits(cs + 17, &s) == 0 && h <= 23 && m <= 59 && s <= 59) {
        base += ((int64_t)h * 3600 + m * 60 + s) * 1000000LL;
        width = 1000000LL;
    }
    *lo = base;
    *hi = base + width - 1;
    return 0;
}

/* Append one pred term for column col op value; 0 = appended, 1 = skipped. */
static int add_term(kiln_buf *w, const ice_col *col, char op, sqlite3_value *val)
{
    size_t mark = w->len;
    if (w->len)
        kiln_buf_printf(w, NULL, " and ");
    kiln_buf_printf(w, NULL, "%s ", col->name);
    if (op == 'N' || op == 'M') {
        kiln_buf_printf(w, NULL, op == 'N' ? "is null" : "is not null");
        return 0;
    }
    const char *ops = op == '=' ? "=" : op == '>' ? ">" : op == 'g' ? ">=" : op == '<' ? "<" : "<=";
    int vt = sqlite3_value_type(val);
    switch (col->type) {
    case KILN_T_INT32:
    case KILN_T_INT64:
        if (vt != SQLITE_INTEGER)
            goto skip;
        kiln_buf_printf(w, NULL, "%s %lld", ops, (long long)sqlite3_value_int64(val));
        return 0;
    case KILN_T_DOUBLE:
        if (vt == SQLITE_INTEGER)
            kiln_buf_printf(w, NULL, "%s %lld", ops, (long long)sqlite3_value_int64(val));
        else if (vt == SQLITE_FLOAT && isfinite(sqlite3_value_double(val)))
            kiln_buf_printf(w, NULL, "%s %.17g", ops, sqlite3_value_double(val));
        else
            goto skip;
        return 0;
    case KILN_T_BOOL:
        if (vt != SQLITE_INTEGER || op != '=')
            goto skip;
        {
            long long b = sqlite3_value_int64(val);
            if (b != 0 && b != 1)
                goto skip;
            kiln_buf_printf(w, NULL, "= %s", b ? "true" : "false");
        }
        return 0;
    case KILN_T_STRING:
        if (vt != SQLITE_TEXT)
            goto skip;
        kiln_buf_printf(w, NULL, "%s ", ops);
        if (put_quoted(w, (const char *)sqlite3_value_text(val), (size_t)sqlite3_value_bytes(val)) != 0)
            goto skip;
        return 0;
    case KILN_T_DATE:
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: {
        if (vt != SQLITE_TEXT)
            goto skip;
        int is_date = col->type == KILN_T_DATE;
        int64_t lo, hi;
        if (kiln_sql__ts_text_bounds((const char *)sqlite3_value_text(val), (size_t)sqlite3_value_bytes(val), is_date,
                                     &lo, &hi) != 0)
            goto skip;
        char a[40], b[40];
        if (is_date) {
            kiln_date_format(lo, a);
            kiln_date_format(hi, b);
        } else {
            kiln_ts_format(lo, a);
            kiln_ts_format(hi, b);
        }
        size_t cn = (size_t)sqlite3_value_bytes(val);
        if (!is_date && cn == 10 && (op == '<' || op == 'l')) {
            /* a canonical timestamp is never equal to a bare date and sorts
             * after it when it starts with it: X < 'D' means X < D 00:00 */
            kiln_ts_format(lo - 1, b);
        }
        if (op == '=')
            kiln_buf_printf(w, NULL, "between '%s' and '%s'", a, b);
        else if (op == '>' || op == 'g')
            kiln_buf_printf(w, NULL, ">= '%s'", a);
        else
            kiln_buf_printf(w, NULL, "<= '%s'", b);
        return 0;
    }
    default: goto skip;
    }
skip:
    w->len = mark;
    return 1;
}

static char *text_dup(sqlite3_value *v)
{
    if (sqlite3_value_type(v) == SQLITE_NULL)
        return NULL;
    const unsigned char *t = sqlite3_value_text(v);
    return t ? kiln_strdup((const char *)t) : NULL;
}

/* ------------------------------------------------------------ join cache
 *
 * The inner loop of a join calls xFilter once per outer row with the same
 * idxStr and new '=' values; each call would plan the scan and read the
 * files again (SQLite builds no automatic index on a virtual table). From
 * the second such call on, the cursor reads the table once (the used
 * columns, no predicate) into memory, hashes the rows by the '=' columns and
 * answers later calls from the hash. A lookup returns every row whose key
 * values are equal as numbers or as text (SQLite re-checks them). Tables
 * over JC_MAX_CELLS cells or JC_MAX_BYTES of text are not cached (the
 * rescans go on).
 */
#define JC_MAX_CELLS ((size_t)32 << 20)
#define JC_MAX_BYTES ((size_t)512 << 20)
#define JC_NONE UINT32_MAX

static int numeric_type(kiln_type t)
{
    return t == KILN_T_BOOL || t == KILN_T_INT32 || t == KILN_T_INT64 || t == KILN_T_FLOAT || t == KILN_T_DOUBLE ||
           t == KILN_T_DECIMAL;
}

static uint64_t hash1(int type, int64_t i, double d, const char *p, int n)
{
    if (type == SQLITE_FLOAT && d == floor(d) && fabs(d) < 9.2e18) {
        type = SQLITE_INTEGER;
        i = (int64_t)d;
    }
    if (type == SQLITE_INTEGER)
        return kiln_hash64(&i, sizeof i);
    if (type == SQLITE_FLOAT)
        return kiln_hash64(&d, sizeof d);
    if (type == SQLITE_TEXT)
        return kiln_hash64(p, (size_t)n) ^ 0x5bd1e995u;
    return 0;
}

static uint64_t cell_hash(const jcell *c) { return hash1(c->type, c->i, c->d, c->p, c->n); }

static uint64_t value_hash(sqlite3_value *v)
{
    int t = sqlite3_value_type(v);
    return hash1(t, t == SQLITE_INTEGER ? sqlite3_value_int64(v) : 0, t == SQLITE_FLOAT ? sqlite3_value_double(v) : 0,
                 t == SQLITE_TEXT ? (const char *)sqlite3_value_text(v) : NULL,
                 t == SQLITE_TEXT ? sqlite3_value_bytes(v) : 0);
}

static int cell_eq(const jcell *c, sqlite3_value *v)
{
    int t = sqlite3_value_type(v);
    if (t == SQLITE_INTEGER || t == SQLITE_FLOAT) {
        double x = sqlite3_value_double(v);
        if (c->type == SQLITE_INTEGER)
            return t == SQLITE_INTEGER ? c->i == sqlite3_value_int64(v) : (double)c->i == x;
        if (c->type == SQLITE_FLOAT)
            return c->d == x;
        return 0;
    }
    if (t == SQLITE_TEXT)
        return c->type == SQLITE_TEXT && c->n == sqlite3_value_bytes(v) &&
               memcmp(c->p, sqlite3_value_text(v), (size_t)c->n) == 0;
    return 0;
}

/* The cell of column i (vtab column ci) of batch row; 0 or KILN_ELIMIT/ENOMEM. */
static int make_cell(jcell *out, join_cache *jc, const ice_col *col, const kiln_batch *b, int sc, size_t row)
{
    memset(out, 0, sizeof *out);
    out->type = SQLITE_NULL;
    if (kiln_batch_is_null(b, sc, row))
        return 0;
    const kiln_col *c = &b->cols[sc];
    char buf[40];
    const char *p = NULL;
    size_t n = 0;
    switch (c->type) {
    case KILN_T_BOOL:
        out->type = SQLITE_INTEGER;
        out->i = c->v.b[row] != 0;
        return 0;
    case KILN_T_INT32:
        out->type = SQLITE_INTEGER;
        out->i = c->v.i32[row];
        return 0;
    case KILN_T_INT64:
        out->type = SQLITE_INTEGER;
        out->i = c->v.i64[row];
        return 0;
    case KILN_T_FLOAT:
        out->type = SQLITE_FLOAT;
        out->d = c->v.f32[row];
        return 0;
    case KILN_T_DOUBLE:
        out->type = SQLITE_FLOAT;
        out->d = c->v.f64[row];
        return 0;
    case KILN_T_DECIMAL:
        if (col->exact_text) {
            n = (size_t)kiln_decimal_format(c->v.i64[row], col->scale, buf);
            p = buf;
            out->type = SQLITE_TEXT;
            break;
        }
        out->type = SQLITE_FLOAT;
        out->d = (double)c->v.i64[row];
        for (int k = 0; k < col->scale; k++)
            out->d /= 10.0;
        return 0;
    case KILN_T_DATE:
        n = kiln_sql_date_text(c->v.i32[row], buf);
        p = buf;
        out->type = SQLITE_TEXT;
        break;
    case KILN_T_TIME:
        kiln_time_format(c->v.i64[row], buf);
        n = strlen(buf);
        p = buf;
        out->type = SQLITE_TEXT;
        break;
    case KILN_T_UUID: {
        size_t bn;
        const char *bp = kiln_batch_str(b, sc, row, &bn);
        if (bn != 16)
            return KILN_EFORMAT;
        kiln_uuid_format((const uint8_t *)bp, buf);
        n = 36;
        p = buf;
        out->type = SQLITE_TEXT;
        break;
    }
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ:
        n = kiln_sql_ts_text(c->v.i64[row], buf);
        p = buf;
        out->type = SQLITE_TEXT;
        break;
    case KILN_T_STRING:
    case KILN_T_BINARY:
    case KILN_T_DECIMAL_WIDE:
    case KILN_T_JSON:
        p = kiln_batch_str(b, sc, row, &n);
        out->type = c->type == KILN_T_BINARY ? SQLITE_BLOB : SQLITE_TEXT;
        break;
    }
    if (jc->bytes + n > JC_MAX_BYTES)
        return KILN_ELIMIT;
    char *d = kiln_arena_alloc(jc->arena, n + 1);
    if (!d)
        return KILN_ENOMEM;
    memcpy(d, p ? p : "", n);
    d[n] = 0;
    jc->bytes += n;
    out->p = d;
    out->n = (int)n;
    return 0;
}

/* Read the whole table (columns in cur->map) into jc and hash it by keycol. */
static int jc_build(ice_cursor *cur, ice_vtab *v, const kiln_lake_scan_opts *so0, int nkey, const int *keycol,
                    kiln_err *err)
{
    join_cache *jc = &cur->jc;
    kiln_lake_scan *scan = NULL;
    int rc = 0;
    if ((size_t)(v->est_rows > 0 ? v->est_rows : 0) * (size_t)(v->ncols ? v->ncols : 1) > JC_MAX_CELLS)
        return KILN_ELIMIT;
    jc_free(jc);
    if (!(jc->arena = kiln_arena_new(1 << 20)))
        return KILN_OOM(err);
    kiln_lake_scan_opts so = *so0;
    so.where = NULL;
    if ((rc = kiln_lake_scan_open(&scan, cur->table, &so, err)))
        goto done;
    const kiln_schema *ss = kiln_lake_scan_schema(scan);
    int *smap = cur->map;
    for (int i = 0; i < v->ncols; i++)
        if (smap[i] >= 0)
            smap[i] = kiln_schema_find(ss, v->cols[i].name);
    const kiln_batch *b;
    int r;
    while ((r = kiln_lake_scan_next(scan, &b, err)) == 1) {
        for (size_t row = 0; row < b->nrows; row++) {
            if (jc->nrows == jc->cap) {
                size_t nc = jc->cap ? jc->cap * 2 : 1024;
                if (nc * (size_t)v->ncols > JC_MAX_CELLS || nc >= JC_NONE) {
                    rc = KILN_ELIMIT;
                    goto done;
                }
                jcell *n2 = kiln_realloc(jc->cells, nc * (size_t)v->ncols * sizeof *n2);
                if (!n2) {
                    rc = KILN_OOM(err);
                    goto done;
                }
                jc->cells = n2;
                jc->cap = nc;
            }
            jcell *rowc = &jc->cells[jc->nrows * (size_t)v->ncols];
            for (int i = 0; i < v->ncols; i++) {
                if (smap[i] < 0) {
                    memset(&rowc[i], 0, sizeof rowc[i]);
                    rowc[i].type = SQLITE_NULL;
                } else if ((rc = make_cell(&rowc[i], jc, &v->cols[i], b, smap[i], row))) {
                    goto done;
                }
            }
            jc->nrows++;
        }
    }
    if (r < 0) {
        rc = r;
        goto done;
    }
    jc->nb = 1;
    while (jc->nb < jc->nrows * 2 + 2)
        jc->nb <<= 1;
    jc->heads = kiln_malloc(jc->nb * sizeof *jc->heads);
    jc->next = kiln_malloc((jc->nrows + 1) * sizeof *jc->next);
    if (!jc->heads || !jc->next) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; i < jc->nb; i++)
        jc->heads[i] = JC_NONE;
    jc->nkey = nkey;
    memcpy(jc->keycol, keycol, (size_t)nkey * sizeof *keycol);
    for (size_t rr = jc->nrows; rr-- > 0;) {
        uint64_t h = 0;
        for (int k = 0; k < nkey; k++)
            h = h * 0x100000001b3ULL ^ cell_hash(&jc->cells[rr * (size_t)v->ncols + keycol[k]]);
        size_t bkt = h & (jc->nb - 1);
        jc->next[rr] = jc->heads[bkt];
        jc->heads[bkt] = (uint32_t)rr;
    }
    jc->ready = 1;
done:
    kiln_lake_scan_free(scan);
    if (rc) {
        jc_free(jc);
        jc->failed = 1;
    }
    return rc;
}

static uint32_t jc_seek(ice_cursor *cur, int ncols, uint32_t r)
{
    join_cache *jc = &cur->jc;
    for (; r != JC_NONE; r = jc->next[r]) {
        int ok = 1;
        for (int k = 0; ok && k < cur->nkey; k++)
            ok = cell_eq(&jc->cells[(size_t)r * (size_t)ncols + cur->keycol[k]], cur->keyval[k]);
        if (ok)
            return r;
    }
    return JC_NONE;
}

static void keyvals_free(ice_cursor *cur)
{
    for (int k = 0; k < cur->nkey; k++)
        sqlite3_value_free(cur->keyval[k]);
    cur->nkey = 0;
}

/* Record a scan for --explain; returns its index or -1. Repeated xFilter
 * calls of one plan (same table, idxStr and columns) add up. */
static long log_scan(lake_ctx *c, ice_vtab *v, const char *idx_str, const char *where, const char *cols, int64_t snap,
                     const kiln_lake_plan_stats *st)
{
    if (!c->logging)
        return -1;
    for (size_t i = 0; i < c->scans.len; i++) {
        kiln_sql_scan_rec *o = &c->scans.items[i];
        if (!strcmp(o->table, v->name) && !strcmp(o->columns, cols) && !strcmp(c->scan_keys.items[i], idx_str)) {
            o->filters++;
            if (st) {
                o->files_total += st->files_total;
                o->files_pruned_partition += st->files_pruned_partition;
                o->files_pruned_stats += st->files_pruned_stats;
                o->manifests_total += st->manifests_total;
                o->manifests_pruned += st->manifests_pruned;
            }
            if (strcmp(o->where, where) != 0 && !strstr(o->where, " (first of ")) {
                char *w2 = kiln_sprintf("%s (first of several values)", o->where);
                if (w2) {
                    kiln_free(o->where);
                    o->where = w2;
                }
            }
            return (long)i;
        }
    }
    kiln_sql_scan_rec r = {0};
    r.table = kiln_strdup(v->name);
    r.where = kiln_strdup(where);
    r.columns = kiln_strdup(cols);
    char *key = kiln_strdup(idx_str);
    r.snapshot_id = snap;
    r.filters = 1;
    if (st) {
        r.manifests_total = st->manifests_total;
        r.manifests_pruned = st->manifests_pruned;
        r.files_total = st->files_total;
        r.files_pruned_partition = st->files_pruned_partition;
        r.files_pruned_stats = st->files_pruned_stats;
    }
    if (!r.table || !r.where || !r.columns || !key || kiln_vec_push(&c->scans, r, NULL) != 0) {
        kiln_free(r.table);
        kiln_free(r.where);
        kiln_free(r.columns);
        kiln_free(key);
        return -1;
    }
    if (kiln_vec_push(&c->scan_keys, key, NULL) != 0) {
        c->scans.len--;
        kiln_free(r.table);
        kiln_free(r.where);
        kiln_free(r.columns);
        kiln_free(key);
        return -1;
    }
    return (long)c->scans.len - 1;
}

/* What one xFilter call was given, decoded from idxStr and argv. */
typedef struct filter_args {
    unsigned long long used;  /* colUsed */
    int eqcol[MAX_PUSH], neq; /* '=' constraints (join cache keys) */
    sqlite3_value *eqval[MAX_PUSH];
    int hidden; /* _as_of / _ref given */
    int none;   /* a comparison with NULL: no rows */
} filter_args;

/* Decode idxStr ("<colUsed hex>|<col><op>,...") with argv into the pushed
 * predicate text (where) and fa; _as_of / _ref go to the cursor. */
static int filter_terms(ice_cursor *cur, ice_vtab *v, const char *idx_str, int argc, sqlite3_value **argv,
                        filter_args *fa, kiln_buf *where)
{
    const char *p = idx_str ? idx_str : "";
    fa->used = idx_str ? strtoull(p, NULL, 16) : ~0ULL;
    p = strchr(p, '|');
    p = p ? p + 1 : "";
    int argi = 0;
    while (*p) {
        char *e;
        long ci = strtol(p, &e, 10);
        char op = *e;
        if (!op)
            break;
        p = e + 1;
        if (*p == ',')
            p++;
        sqlite3_value *val = NULL;
        if (op != 'N' && op != 'M') {
            if (argi >= argc)
                break;
            val = argv[argi++];
        }
        if (op == 'A' || op == 'R') {
            fa->hidden = 1;
            if (sqlite3_value_type(val) == SQLITE_NULL)
                return vt_error(&v->base, "iceberg: %s: %s is NULL", v->name, op == 'A' ? "_as_of" : "_ref");
            if (op == 'A')
                cur->as_of = text_dup(val);
            else
                cur->ref = text_dup(val);
            continue;
        }
        if (ci < 0 || ci >= v->ncols)
            continue;
        if (val && sqlite3_value_type(val) == SQLITE_NULL) {
            /* a comparison with NULL is never true */
            trace(v->ctx, "filter %s: comparison with NULL on %s: no rows", v->name, v->cols[ci].name);
            fa->none = 1;
            return SQLITE_OK;
        }
        if (op == '=' && fa->neq < MAX_PUSH) {
            fa->eqcol[fa->neq] = (int)ci;
            fa->eqval[fa->neq++] = val;
        }
        add_term(where, &v->cols[ci], op, val);
    }
    if (cur->as_of && cur->ref)
        return vt_error(&v->base, "iceberg: %s: give _as_of or _ref, not both", v->name);
    if (v->fixed_ref && (cur->as_of || cur->ref))
        return vt_error(&v->base, "iceberg: %s@%s already names a snapshot; drop the _as_of/_ref condition", v->name,
                        v->fixed_ref);
    return SQLITE_OK;
}

/* The columns to read (cols, comma-separated) and cur->map; a query that
 * uses none (count(*)) reads the narrowest column there is. */
static int filter_columns(ice_cursor *cur, ice_vtab *v, unsigned long long used, kiln_buf *cols)
{
    int first = -1, bad = 0;
    for (int i = 0; i < v->ncols; i++) {
        cur->map[i] = -1;
        if (used & (1ULL << (i < 63 ? i : 63))) {
            bad |= kiln_buf_printf(cols, NULL, "%s%s", cols->len ? "," : "", v->cols[i].name);
            cur->map[i] = i; /* set to the scan column once the scan is open */
            if (first < 0)
                first = i;
        }
    }
    if (first < 0 && v->ncols > 0) {
        int pick = 0;
        for (int i = 0; i < v->ncols; i++)
            if (!kiln_type_is_bytes(v->cols[i].type)) {
                pick = i;
                break;
            }
        bad |= kiln_buf_printf(cols, NULL, "%s", v->cols[pick].name);
    }
    return bad || kiln_buf_putc(cols, 0, NULL) ? SQLITE_NOMEM : SQLITE_OK;
}

/* Repeated '=' lookups with the same plan (the inner side of a join):
 * from the second one, read the table once into a hash and answer from
 * it. *served = 1 when this call was answered from the cache. */
static int filter_join_cache(ice_cursor *cur, ice_vtab *v, int idx_num, const char *ikey, const kiln_lake_scan_opts *so,
                             const filter_args *fa, const char *cols, int *served)
{
    lake_ctx *c = v->ctx;
    kiln_err err = {0};
    *served = 0;
    if (fa->neq == 0 || fa->hidden) {
        cur->repeats = 0;
        return SQLITE_OK;
    }
    if (cur->last_idx && strcmp(cur->last_idx, ikey) == 0) {
        cur->repeats++;
    } else {
        kiln_free(cur->last_idx);
        cur->last_idx = kiln_strdup(ikey);
        cur->repeats = 1;
        jc_free(&cur->jc);
    }
    int fits = 1;
    for (int k = 0; k < fa->neq; k++) {
        int t = sqlite3_value_type(fa->eqval[k]);
        int num = numeric_type(v->cols[fa->eqcol[k]].type);
        fits &= num ? (t == SQLITE_INTEGER || t == SQLITE_FLOAT) : t == SQLITE_TEXT;
    }
    static const char what[] = "(join cache: whole table read once, hashed on the = columns)";
    if (fits && cur->repeats >= 2 && !cur->jc.ready && !cur->jc.failed) {
        int brc = jc_build(cur, v, so, fa->neq, fa->eqcol, &err);
        if (brc && brc != KILN_ELIMIT)
            return vt_error(&v->base, "iceberg: %s: %s", v->name, err.msg);
        trace(c, "filter %s: join cache %s (%zu rows, keyed on %d column(s))", v->name,
              brc ? "not built: table too big" : "built", cur->jc.nrows, fa->neq);
        if (!brc)
            cur->rec = log_scan(c, v, ikey, what, cols, -1, NULL);
    }
    if (!fits || !cur->jc.ready)
        return SQLITE_OK;
    cur->serving = 1;
    cur->nkey = 0;
    uint64_t h = 0;
    for (int k = 0; k < fa->neq; k++) {
        cur->keycol[k] = cur->jc.keycol[k];
        cur->keyval[k] = sqlite3_value_dup(fa->eqval[k]);
        if (!cur->keyval[k]) {
            keyvals_free(cur);
            return SQLITE_NOMEM;
        }
        cur->nkey++;
        h = h * 0x100000001b3ULL ^ value_hash(fa->eqval[k]);
    }
    cur->crow = jc_seek(cur, v->ncols, cur->jc.heads[h & (cur->jc.nb - 1)]);
    cur->eof = cur->crow == JC_NONE;
    if (c->logging)
        cur->rec = log_scan(c, v, ikey, what, cols, -1, NULL);
    if (cur->rec >= 0 && !cur->eof)
        c->scans.items[cur->rec].rows++;
    trace(c, "filter %s idxNum=%d idxStr=%s from join cache", v->name, idx_num, ikey);
    *served = 1;
    return SQLITE_OK;
}

/* Open the Iceberg scan and read its first batch. */
static int filter_scan(ice_cursor *cur, ice_vtab *v, int idx_num, const char *ikey, const kiln_lake_scan_opts *so)
{
    lake_ctx *c = v->ctx;
    kiln_err err = {0};
    if (kiln_lake_scan_open(&cur->scan, cur->table, so, &err) != 0)
        return vt_error(&v->base, "iceberg: %s: %s", v->name, err.msg);
    const kiln_schema *ss = kiln_lake_scan_schema(cur->scan);
    for (int i = 0; i < v->ncols; i++)
        if (cur->map[i] >= 0)
            cur->map[i] = kiln_schema_find(ss, v->cols[i].name);
    const kiln_lake_plan_stats *st = kiln_lake_scan_plan_stats(cur->scan);
    size_t files_read = st->files_total - st->files_pruned_partition - st->files_pruned_stats;
    trace(c, "filter %s idxNum=%d idxStr=%s columns=%s where=%s as_of=%s ref=%s files=%zu/%zu", v->name, idx_num, ikey,
          so->columns, so->where ? so->where : "", so->as_of ? so->as_of : "", so->ref ? so->ref : "", files_read,
          st->files_total);
    cur->rec = log_scan(c, v, ikey, so->where ? so->where : "", so->columns, kiln_lake_scan_snapshot_id(cur->scan), st);
    int r = kiln_lake_scan_next(cur->scan, &cur->batch, &err);
    if (r < 0)
        return vt_error(&v->base, "iceberg: %s: %s", v->name, err.msg);
    cur->eof = r == 0;
    cur->row = 0;
    if (!cur->eof && cur->rec >= 0)
        c->scans.items[cur->rec].rows++;
    return SQLITE_OK;
}

static int x_filter(sqlite3_vtab_cursor *vc, int idx_num, const char *idx_str, int argc, sqlite3_value **argv)
{
    ice_cursor *cur = (ice_cursor *)vc;
    ice_vtab *v = (ice_vtab *)vc->pVtab;
    filter_args fa = {0};
    kiln_buf where, cols;
    kiln_buf_init(&where, 0);
    kiln_buf_init(&cols, 0);
    cursor_reset(cur);
    cur->eof = 1;
    cur->serving = 0;
    cur->rec = -1;
    cur->rowid = 0;
    keyvals_free(cur);
    int served = 0;
    int src = filter_terms(cur, v, idx_str, argc, argv, &fa, &where);
    if (src != SQLITE_OK || fa.none)
        goto done;
    if ((src = filter_columns(cur, v, fa.used, &cols)) != SQLITE_OK)
        goto done;
    if (kiln_buf_putc(&where, 0, NULL)) {
        src = SQLITE_NOMEM;
        goto done;
    }
    kiln_lake_scan_opts so = {0};
    so.columns = cols.data;
    so.where = where.len > 1 ? where.data : NULL;
    so.as_of = cur->as_of;
    so.ref = cur->ref;
    if (v->fixed_ref) {
        /* a ref name goes to ref, anything else (id/time) to as_of */
        if (kiln_lake_meta_ref(kiln_lake_table_meta(cur->table), v->fixed_ref))
            so.ref = v->fixed_ref;
        else
            so.as_of = v->fixed_ref;
    }
    const char *ikey = idx_str ? idx_str : "";
    if ((src = filter_join_cache(cur, v, idx_num, ikey, &so, &fa, cols.data, &served)) != SQLITE_OK || served)
        goto done;
    src = filter_scan(cur, v, idx_num, ikey, &so);
done:
    kiln_buf_free(&where);
    kiln_buf_free(&cols);
    return src;
}

static int x_next(sqlite3_vtab_cursor *vc)
{
    ice_cursor *cur = (ice_cursor *)vc;
    ice_vtab *v = (ice_vtab *)vc->pVtab;
    kiln_err err = {0};
    cur->rowid++;
    if (cur->serving) {
        cur->crow = jc_seek(cur, v->ncols, cur->jc.next[cur->crow]);
        cur->eof = cur->crow == JC_NONE;
        if (cur->eof)
            return SQLITE_OK;
        goto counted;
    }
    if (++cur->row < cur->batch->nrows)
        goto counted;
    int r = kiln_lake_scan_next(cur->scan, &cur->batch, &err);
    if (r < 0)
        return vt_error(vc->pVtab, "iceberg: %s: %s", v->name, err.msg);
    cur->row = 0;
    if (r == 0) {
        cur->eof = 1;
        return SQLITE_OK;
    }
counted:
    if (cur->rec >= 0 && (size_t)cur->rec < v->ctx->scans.len)
        v->ctx->scans.items[cur->rec].rows++;
    return SQLITE_OK;
}

static int x_eof(sqlite3_vtab_cursor *vc) { return ((ice_cursor *)vc)->eof; }

static int x_column(sqlite3_vtab_cursor *vc, sqlite3_context *ctx, int i)
{
    ice_cursor *cur = (ice_cursor *)vc;
    ice_vtab *v = (ice_vtab *)vc->pVtab;
    if (i >= v->ncols) {
        const char *s = i - v->ncols == COL_AS_OF ? cur->as_of : cur->ref;
        if (s)
            sqlite3_result_text(ctx, s, -1, SQLITE_TRANSIENT);
        return SQLITE_OK;
    }
    if (cur->serving) {
        const jcell *cl = &cur->jc.cells[(size_t)cur->crow * (size_t)v->ncols + i];
        switch (cl->type) {
        case SQLITE_INTEGER: sqlite3_result_int64(ctx, cl->i); break;
        case SQLITE_FLOAT: sqlite3_result_double(ctx, cl->d); break;
        case SQLITE_TEXT: sqlite3_result_text(ctx, cl->p, cl->n, SQLITE_STATIC); break;
        case SQLITE_BLOB: sqlite3_result_blob(ctx, cl->p, cl->n, SQLITE_STATIC); break;
        default: break;
        }
        return SQLITE_OK;
    }
    int sc = cur->map[i];
    const kiln_batch *b = cur->batch;
    size_t row = cur->row;
    if (sc < 0 || !b || kiln_batch_is_null(b, sc, row))
        return SQLITE_OK;
    const kiln_col *col = &b->cols[sc];
    char buf[40];
    switch (col->type) {
    case KILN_T_BOOL: sqlite3_result_int(ctx, col->v.b[row] != 0); break;
    case KILN_T_INT32: sqlite3_result_int(ctx, col->v.i32[row]); break;
    case KILN_T_INT64: sqlite3_result_int64(ctx, col->v.i64[row]); break;
    case KILN_T_FLOAT: sqlite3_result_double(ctx, col->v.f32[row]); break;
    case KILN_T_DOUBLE: sqlite3_result_double(ctx, col->v.f64[row]); break;
    case KILN_T_DATE: {
        size_t n = kiln_sql_date_text(col->v.i32[row], buf);
        sqlite3_result_text(ctx, buf, (int)n, SQLITE_TRANSIENT);
        break;
    }
    case KILN_T_TIME:
        kiln_time_format(col->v.i64[row], buf);
        sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
        break;
    case KILN_T_UUID: {
        size_t n;
        const char *s = kiln_batch_str(b, sc, row, &n);
        if (n != 16) {
            sqlite3_result_error(ctx, "uuid value is not 16 bytes", -1);
            break;
        }
        kiln_uuid_format((const uint8_t *)s, buf);
        sqlite3_result_text(ctx, buf, 36, SQLITE_TRANSIENT);
        break;
    }
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: {
        size_t n = kiln_sql_ts_text(col->v.i64[row], buf);
        sqlite3_result_text(ctx, buf, (int)n, SQLITE_TRANSIENT);
        break;
    }
    case KILN_T_DECIMAL: {
        if (v->cols[i].exact_text) { /* 16-18 digits: a double would round it */
            char t[KILN_DECIMAL_TEXT_MAX];
            int n = kiln_decimal_format(col->v.i64[row], v->cols[i].scale, t);
            sqlite3_result_text(ctx, t, n, SQLITE_TRANSIENT);
            break;
        }
        double d = (double)col->v.i64[row];
        for (int k = 0; k < v->cols[i].scale; k++)
            d /= 10.0;
        sqlite3_result_double(ctx, d);
        break;
    }
    case KILN_T_STRING:
    case KILN_T_DECIMAL_WIDE: /* exact decimal text */
    case KILN_T_JSON: {       /* JSON text: json_extract() reaches into it */
        size_t n;
        const char *s = kiln_batch_str(b, sc, row, &n);
        sqlite3_result_text(ctx, s, (int)n, SQLITE_TRANSIENT);
        break;
    }
    case KILN_T_BINARY: {
        size_t n;
        const char *s = kiln_batch_str(b, sc, row, &n);
        sqlite3_result_blob(ctx, s, (int)n, SQLITE_TRANSIENT);
        break;
    }
    }
    return SQLITE_OK;
}

static int x_rowid(sqlite3_vtab_cursor *vc, sqlite3_int64 *out)
{
    *out = ((ice_cursor *)vc)->rowid;
    return SQLITE_OK;
}

static int x_update(sqlite3_vtab *vt, int argc, sqlite3_value **argv, sqlite3_int64 *rowid)
{
    ice_vtab *v = (ice_vtab *)vt;
    return vt_error(vt,
                    "%s is an Iceberg table: change it with INSERT INTO %s SELECT ..., INSERT OVERWRITE, "
                    "MERGE INTO or CREATE TABLE ... AS SELECT (row-by-row INSERT/UPDATE/DELETE is not supported)",
                    v->name, v->name);
}

static sqlite3_module g_module = {
    .iVersion = 1,
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
    .xUpdate = x_update,
};

/* ------------------------------------------------------------ iceberg_snapshot() */

/* iceberg_snapshot('ns.t', n): the id of the n-th snapshot of main's
 * history, oldest first from 1; -1 is the current one, -2 its parent...
 * NULL when there is no such snapshot. For time travel in SQL tests and
 * scripts: WHERE _as_of = iceberg_snapshot('ns.t', 1). */
static void fn_snapshot(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    lake_ctx *c = sqlite3_user_data(cx);
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    int64_t *chain = NULL;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
        return;
    if (!c->cat) {
        sqlite3_result_error(cx, "iceberg_snapshot: no warehouse attached", -1);
        return;
    }
    if (kiln_lake_table_load(&t, c->cat, (const char *)sqlite3_value_text(argv[0]), &err) != 0) {
        char *m = sqlite3_mprintf("iceberg_snapshot: %s", err.msg);
        sqlite3_result_error(cx, m, -1);
        sqlite3_free(m);
        return;
    }
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    size_t n = 0;
    chain = kiln_calloc(m->nsnapshots + 1, sizeof *chain);
    for (int64_t id = m->current_snapshot_id; chain && id >= 0 && n < m->nsnapshots;) {
        const kiln_lake_snapshot *s = kiln_lake_meta_snapshot(m, id);
        if (!s)
            break;
        chain[n++] = id;
        id = s->parent_id;
    }
    sqlite3_int64 k = sqlite3_value_int64(argv[1]);
    if (k > 0 && (size_t)k <= n)
        sqlite3_result_int64(cx, chain[n - (size_t)k]);
    else if (k < 0 && (size_t)(-k) <= n)
        sqlite3_result_int64(cx, chain[(size_t)(-k) - 1]);
    kiln_free(chain);
    kiln_lake_table_free(t);
}

/* ------------------------------------------------------------ public */

int kiln_sql_lake_register(sqlite3 *db, kiln_err *err)
{
    lake_ctx *c = kiln_calloc(1, sizeof *c);
    if (!c)
        return KILN_OOM(err);
    c->db = db;
    kiln_buf_init(&c->trace, 0);
    pthread_mutex_lock(&g_lock);
    c->next = g_ctxs;
    g_ctxs = c;
    pthread_mutex_unlock(&g_lock);
    /* the destructor runs on close (or at once when registration fails) */
    if (sqlite3_create_module_v2(db, "iceberg", &g_module, c, ctx_destroy) != SQLITE_OK)
        return kiln_err_set(err, KILN_EINTERNAL, "cannot register the iceberg module: %s", sqlite3_errmsg(db));
    if (sqlite3_create_function(db, "iceberg_snapshot", 2, SQLITE_UTF8, c, fn_snapshot, NULL, NULL) != SQLITE_OK)
        return kiln_err_set(err, KILN_EINTERNAL, "cannot register iceberg_snapshot: %s", sqlite3_errmsg(db));
    return 0;
}

kiln_lake_catalog *kiln_sql_lake_catalog(sqlite3 *db)
{
    lake_ctx *c = ctx_get(db);
    return c ? c->cat : NULL;
}

static int exec_fmt(sqlite3 *db, kiln_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *q = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
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

static int schema_exists(sqlite3 *db, const char *name)
{
    for (int i = 0;; i++) {
        const char *n = sqlite3_db_name(db, i);
        if (!n)
            return 0;
        if (strcasecmp(n, name) == 0)
            return 1;
    }
}

int kiln_sql_lake_add_table(sqlite3 *db, const char *name, const char *ref, kiln_err *err)
{
    char ns[129], tb[129];
    int rc = kiln_lake_name_split(name, ns, tb, err);
    if (rc)
        return rc;
    if (!strcasecmp(ns, "main") || !strcasecmp(ns, "temp"))
        return kiln_err_set(err, KILN_EINVAL, "namespace '%s' clashes with SQLite's schema of that name", ns);
    if (!schema_exists(db, ns) && (rc = exec_fmt(db, err, "ATTACH ':memory:' AS \"%w\"", ns)))
        return rc;
    if (ref)
        return exec_fmt(db, err, "CREATE VIRTUAL TABLE IF NOT EXISTS \"%w\".\"%w@%w\" USING iceberg(%Q, %Q)", ns, tb,
                        ref, name, ref);
    return exec_fmt(db, err, "CREATE VIRTUAL TABLE IF NOT EXISTS \"%w\".\"%w\" USING iceberg(%Q)", ns, tb, name);
}

typedef struct add_ctx {
    sqlite3 *db;
    kiln_err *err;
    int rc;
} add_ctx;

static int add_one(void *p, const char *name, const char *loc)
{
    add_ctx *a = p;
    (void)loc;
    kiln_err e = {0};
    /* a table that cannot be opened is skipped with a note on the err line, not fatal */
    if (kiln_sql_lake_add_table(a->db, name, NULL, &e) != 0)
        kiln_warn("table %s skipped: %s", name, e.msg);
    return 0;
}

int kiln_sql_lake_attach(sqlite3 *db, const char *warehouse, kiln_err *err)
{
    lake_ctx *c = ctx_get(db);
    if (!c)
        return kiln_err_set(err, KILN_EINTERNAL, "connection was not opened with kiln_sql_db_open");
    if (c->cat)
        return kiln_err_set(err, KILN_EEXIST, "a warehouse is already attached (%s)", c->warehouse);
    /* lazy: reading a missing warehouse creates nothing; the first write creates it */
    int rc = kiln_lake_catalog_open_mode(&c->cat, warehouse, KILN_LAKE_CATALOG_SQLITE, KILN_LAKE_OPEN_LAZY, err);
    if (rc)
        return rc;
    if (!(c->warehouse = kiln_strdup(warehouse))) {
        kiln_lake_catalog_free(c->cat);
        c->cat = NULL;
        return KILN_OOM(err);
    }
    add_ctx a = {db, err, 0};
    rc = kiln_lake_table_list(c->cat, NULL, add_one, &a, err);
    return rc ? rc : kiln_sql__views_declare(db, err); /* sql_view.c */
}

int kiln_sql_lake_attach_ex(sqlite3 *db, const char *warehouse, int flags, kiln_err *err)
{
    lake_ctx *c = ctx_get(db);
    if (!c || !(flags & KILN_SQL_LAKE_DEFER))
        return kiln_sql_lake_attach(db, warehouse, err);
    if (c->cat || c->missing)
        return kiln_err_set(err, KILN_EEXIST, "a warehouse is already attached (%s)", c->warehouse);
    /* a warehouse without catalog.db is not opened (that would create it)
     * until a statement creates a table in it */
    char *cdb = kiln_sprintf("%s/catalog.db", warehouse);
    if (!cdb)
        return KILN_OOM(err);
    /* an object-store warehouse (s3://) keeps its catalog.db elsewhere
     * (docs/store.md): attach it (LAZY: nothing is created by reading) */
    int there = strstr(warehouse, "://") != NULL || access(cdb, F_OK) == 0;
    kiln_free(cdb);
    if (there)
        return kiln_sql_lake_attach(db, warehouse, err);
    if (!(c->warehouse = kiln_strdup(warehouse)))
        return KILN_OOM(err);
    c->missing = 1;
    return 0;
}

const char *kiln_sql_lake_missing(sqlite3 *db)
{
    lake_ctx *c = ctx_get(db);
    return c && c->missing ? c->warehouse : NULL;
}

kiln_lake_catalog *kiln_sql_lake_catalog_for_write(sqlite3 *db, int create, int *rc, kiln_err *err)
{
    lake_ctx *c = ctx_get(db);
    *rc = 0;
    if (!c || (!c->cat && !c->missing))
        return NULL;
    if (c->cat)
        return c->cat;
    if (!create) {
        *rc = kiln_err_set(err, KILN_ENOTFOUND, "warehouse not found: %s (no catalog.db)", c->warehouse);
        return NULL;
    }
    if ((*rc = kiln_lake_catalog_open(&c->cat, c->warehouse, KILN_LAKE_CATALOG_SQLITE, err)))
        return NULL;
    c->missing = 0;
    return c->cat;
}

int kiln_sql_lake_refresh_table(sqlite3 *db, const char *name_was, const char *name_now, kiln_err *err)
{
    char ns[129], tb[129];
    int rc = kiln_lake_name_split(name_was, ns, tb, err);
    if (rc)
        return rc;
    if (schema_exists(db, ns)) {
        /* the table and every "t@ref" snapshot table declared from it */
        KILN_VEC(char *) names = {0};
        char *q = sqlite3_mprintf("SELECT name FROM \"%w\".sqlite_schema WHERE type = 'table' AND "
                                  "(name = %Q OR substr(name, 1, %d) = %Q || '@')",
                                  ns, tb, (int)strlen(tb) + 1, tb);
        sqlite3_stmt *st = NULL;
        if (!q)
            return KILN_OOM(err);
        if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
            rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            char *nm = kiln_strdup((const char *)sqlite3_column_text(st, 0));
            if (!nm || kiln_vec_push(&names, nm, err)) {
                kiln_free(nm);
                rc = KILN_OOM(err);
            }
        }
        sqlite3_finalize(st);
        sqlite3_free(q);
        for (size_t i = 0; i < names.len; i++) {
            if (rc == 0)
                rc = exec_fmt(db, err, "DROP TABLE \"%w\".\"%w\"", ns, names.items[i]);
            kiln_free(names.items[i]);
        }
        kiln_vec_free(&names);
        if (rc)
            return rc;
    }
    return name_now ? kiln_sql_lake_add_table(db, name_now, NULL, err) : 0;
}

int kiln_sql_lake_resolve_missing(sqlite3 *db, const char *errmsg, kiln_err *err)
{
    lake_ctx *c = ctx_get(db);
    const char *pfx = "no such table: ";
    if (!c || !c->cat || strncmp(errmsg, pfx, strlen(pfx)) != 0)
        return 0;
    const char *name = errmsg + strlen(pfx);
    const char *at = strchr(name, '@');
    const char *dot = strchr(name, '.');
    if (!dot || strlen(name) > 400)
        return 0;
    if (!at) {
        /* a table another process created after the warehouse was attached */
        kiln_lake_table *t = NULL;
        kiln_err e = {0};
        if (kiln_lake_table_load(&t, c->cat, name, &e) != 0)
            return 0;
        kiln_lake_table_free(t);
        int rc = kiln_sql_lake_add_table(db, name, NULL, err);
        return rc ? rc : 1;
    }
    if (dot > at)
        return 0;
    char base[260];
    size_t bn = (size_t)(at - name);
    if (bn >= sizeof base)
        return 0;
    memcpy(base, name, bn);
    base[bn] = 0;
    int rc = kiln_sql_lake_add_table(db, base, at + 1, err);
    return rc ? rc : 1;
}

typedef struct list_ctx {
    kiln_buf *out;
    int n;
} list_ctx;

static int list_one(void *p, const char *name, const char *loc)
{
    list_ctx *l = p;
    (void)loc;
    if (l->n++ < 50)
        kiln_buf_printf(l->out, NULL, "%s%s", l->n > 1 ? ", " : "", name);
    return 0;
}

int kiln_sql_lake_tables_text(sqlite3 *db, kiln_buf *out)
{
    lake_ctx *c = ctx_get(db);
    kiln_err e = {0};
    if (!c || !c->cat)
        return 0;
    list_ctx l = {out, 0};
    kiln_lake_table_list(c->cat, NULL, list_one, &l, &e);
    if (l.n > 50)
        kiln_buf_printf(out, NULL, ", ... (%d tables)", l.n);
    if (l.n == 0)
        kiln_buf_printf(out, NULL, "(none: the warehouse %s has no tables)", c->warehouse);
    return l.n;
}

void kiln_sql_lake_trace(sqlite3 *db, int on)
{
    lake_ctx *c = ctx_get(db);
    if (!c)
        return;
    c->tracing = on;
    kiln_buf_reset(&c->trace);
}

const char *kiln_sql_lake_trace_text(sqlite3 *db)
{
    lake_ctx *c = ctx_get(db);
    if (!c)
        return "";
    kiln_buf_putc(&c->trace, 0, NULL);
    c->trace.len--;
    return c->trace.data ? c->trace.data : "";
}

void kiln_sql_lake_scanlog(sqlite3 *db, int on)
{
    lake_ctx *c = ctx_get(db);
    if (!c)
        return;
    c->logging = on;
    scans_clear(c);
}

const kiln_sql_scan_rec *kiln_sql_lake_scans(sqlite3 *db, size_t *n)
{
    lake_ctx *c = ctx_get(db);
    *n = c ? c->scans.len : 0;
    return c ? c->scans.items : NULL;
}
