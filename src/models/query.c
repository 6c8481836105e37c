/*
 * query.c - dbt's warehouse queries from Jinja (models4): run_query(sql)
 * returning an agate-like table (.rows, .columns[i].values(),
 * .column_names, rows[0][0]), the `statement` call block with
 * load_result(name) ({data, table, response}), on a connection to the
 * profile's warehouse opened on first use. While dbt parses (execute is
 * false) they run nothing and return None, as dbt's do. A node whose
 * render ran a query is marked (km_node.uses_query) so `run`/`build`
 * render it again just before it runs, when its parents exist: dbt
 * compiles each node right before running it.
 */
#include "models/project.h"

#include "sql/sql.h"

#include <string.h>

/* ------------------------------------------------------------ agate-like values */

typedef struct qcol {
    kj_val name, values; /* str, list */
} qcol;

static int col_getattr(kj_in *in, void *ud, const char *name, kj_val *out)
{
    qcol *c = ud;
    *out = !strcmp(name, "name") ? kj_retain(c->name) : kj_undef();
    return 0;
}

static void col_free(void *ud)
{
    qcol *c = ud;
    kj_release(c->name);
    kj_release(c->values);
    kiln_free(c);
}

static int col_method(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    const char *m = ud;
    qcol *c = self.u.o->ud;
    if (!strcmp(m, "values")) {
        *out = kj_retain(c->values);
        return 0;
    }
    kj_val l = kj_list_new();
    if (kj_oom(l))
        return KILN_OOM(kj_in_err(in));
    int rc = 0;
    for (size_t i = 0; i < c->values.u.l->len && !rc; i++) {
        kj_val v = c->values.u.l->items[i];
        if (v.t == KJ_NONE)
            continue;
        int seen = 0;
        for (size_t j = 0; !strcmp(m, "values_distinct") && j < l.u.l->len && !seen; j++)
            seen = kj_equal(l.u.l->items[j], v);
        if (!seen)
            rc = kj_list_push(l, kj_retain(v), kj_in_err(in));
    }
    if (rc) {
        kj_release(l);
        return rc;
    }
    *out = l;
    return 0;
}

static int col_str(kj_in *in, void *ud, kiln_buf *out)
{
    qcol *c = ud;
    return kiln_buf_printf(out, kj_in_err(in), "<agate.Column %s>", c->name.u.s->p);
}

static const char *const col_methods[] = {"values", "values_distinct", "values_without_nulls", NULL};
static const kj_class col_class = {"Column", col_getattr, col_str, col_free, col_methods, col_method};

typedef struct qtable {
    kj_val names, rows; /* list of str, list of lists */
} qtable;

static int table_getattr(kj_in *in, void *ud, const char *name, kj_val *out)
{
    qtable *t = ud;
    *out = kj_undef();
    if (!strcmp(name, "rows"))
        *out = kj_retain(t->rows);
    else if (!strcmp(name, "column_names"))
        *out = kj_retain(t->names);
    else if (!strcmp(name, "columns")) {
        kj_val l = kj_list_new();
        if (kj_oom(l))
            return KILN_OOM(kj_in_err(in));
        for (size_t k = 0; k < t->names.u.l->len; k++) {
            qcol *c = kiln_calloc(1, sizeof *c);
            kj_val vals = kj_list_new();
            int rc = !c || kj_oom(vals) ? KILN_OOM(kj_in_err(in)) : 0;
            for (size_t r = 0; r < t->rows.u.l->len && !rc; r++)
                rc = kj_list_push(vals, kj_retain(t->rows.u.l->items[r].u.l->items[k]), kj_in_err(in));
            kj_val o = kj_undef();
            if (!rc) {
                c->name = kj_retain(t->names.u.l->items[k]);
                c->values = vals;
                o = kj_obj_new(&col_class, c);
                rc = kj_oom(o) ? KILN_OOM(kj_in_err(in)) : kj_list_push(l, o, kj_in_err(in));
            } else {
                kj_release(vals);
                kiln_free(c);
            }
            if (rc) {
                kj_release(l);
                return rc;
            }
        }
        *out = l;
    }
    return 0;
}

static int table_str(kj_in *in, void *ud, kiln_buf *out)
{
    qtable *t = ud;
    return kiln_buf_printf(out, kj_in_err(in), "<agate.Table %zu rows>", t->rows.u.l->len);
}

static void table_free(void *ud)
{
    qtable *t = ud;
    kj_release(t->names);
    kj_release(t->rows);
    kiln_free(t);
}

static int table_method(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    *out = kj_none(); /* print_table: dbt prints to the log; kiln has none */
    return 0;
}

static const char *const table_methods[] = {"print_table", NULL};
static const kj_class table_class = {"Table", table_getattr, table_str, table_free, table_methods, table_method};

/* ------------------------------------------------------------ running */

static int open_db(kiln_project *p, kiln_err *err)
{
    if (p->qdb)
        return 0;
    sqlite3 *db;
    int rc = kiln_sql_db_open(&db, NULL, 0, err);
    if (rc)
        return rc;
    if ((rc = kiln_sql_lake_attach_ex(db, p->warehouse, KILN_SQL_LAKE_DEFER, err))) {
        kiln_sql_db_close(db);
        return rc;
    }
    p->qdb = db;
    return 0;
}

static kj_val cell(sqlite3_stmt *st, int k)
{
    switch (sqlite3_column_type(st, k)) {
    case SQLITE_NULL: return kj_none();
    case SQLITE_INTEGER: return kj_int(sqlite3_column_int64(st, k));
    case SQLITE_FLOAT: return kj_float(sqlite3_column_double(st, k));
    default: return kj_str_new((const char *)sqlite3_column_text(st, k), (size_t)sqlite3_column_bytes(st, k));
    }
}

/* Run every statement of sql; the rows of the last one that returns
 * columns go to *names / *rows (owned), *affected counts changed rows. */
static int run_sql(kiln_project *p, const char *sql, kj_val *names, kj_val *rows, int64_t *affected, kiln_err *err)
{
    int rc = open_db(p, err);
    *names = kj_list_new();
    *rows = kj_list_new();
    *affected = 0;
    if (!rc && (kj_oom(*names) || kj_oom(*rows)))
        rc = KILN_OOM(err);
    size_t len = strlen(sql), off = 0;
    int retried = 0;
    while (!rc && off < len) {
        int handled = 0;
        size_t used = 0;
        long eo = -1;
        if ((rc = kiln_sql_write_try(p->qdb, sql + off, len - off, KILN_SQL_WRITE_QUIET, &handled, &used, &eo, NULL,
                                     err)))
            break;
        if (!handled) {
            sqlite3_stmt *st = NULL;
            if ((rc = kiln_sql_prepare(p->qdb, sql + off, len - off, &st, &used, &eo, err))) {
                /* a namespace created since the connection opened */
                if (!retried && kiln_sql_lake_resolve_missing(p->qdb, err->msg, err) == 1) {
                    retried = 1;
                    rc = 0;
                    continue;
                }
                break;
            }
            if (st && sqlite3_column_count(st) > 0) {
                kj_release(*names);
                kj_release(*rows);
                *names = kj_list_new();
                *rows = kj_list_new();
                int nc = sqlite3_column_count(st);
                for (int k = 0; k < nc && !rc; k++)
                    rc = kj_list_push(*names, kj_str_c(sqlite3_column_name(st, k)), err);
                int s;
                while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
                    kj_val row = kj_list_new();
                    for (int k = 0; k < nc && !rc; k++)
                        rc = kj_list_push(row, cell(st, k), err);
                    rc = rc ? (kj_release(row), rc) : kj_list_push(*rows, row, err);
                }
                if (!rc && s != SQLITE_DONE)
                    rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(p->qdb));
            } else if (st) {
                int s;
                while ((s = sqlite3_step(st)) == SQLITE_ROW)
                    ;
                if (s != SQLITE_DONE)
                    rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(p->qdb));
                else
                    *affected += sqlite3_changes(p->qdb);
            }
            sqlite3_finalize(st);
        }
        retried = 0;
        if (!used)
            break;
        off += used;
    }
    if (rc) {
        kj_release(*names);
        kj_release(*rows);
        *names = *rows = kj_undef();
    }
    return rc;
}

static kj_val table_new(kj_val names, kj_val rows)
{
    qtable *t = kiln_calloc(1, sizeof *t);
    if (!t) {
        kj_release(names);
        kj_release(rows);
        return kj_undef();
    }
    t->names = names;
    t->rows = rows;
    return kj_obj_new(&table_class, t);
}

/* The query of the node being rendered: mark it; a failure is an error,
 * or (while `run`/`build` render everything up front) an empty table, as
 * the node is rendered again right before it runs. */
static int query(kj_in *in, kiln_project *p, kj_val sqlv, kj_val *table, int64_t *affected)
{
    if (p->rendering)
        p->rendering->uses_query = 1;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = kj_str_append(in, sqlv, &b, kj_in_err(in));
    kj_val names, rows;
    kiln_err e = {0};
    if (!rc)
        rc = run_sql(p, b.data ? b.data : "", &names, &rows, affected, &e);
    kiln_buf_free(&b);
    if (rc == KILN_ENOMEM)
        return KILN_OOM(kj_in_err(in));
    if (rc && p->query_lenient && p->rendering) {
        names = kj_list_new();
        rows = kj_list_new();
        rc = 0;
    } else if (rc) {
        return kj_fail(in, KILN_EFORMAT, "run_query: %s", e.msg);
    }
    *table = table_new(names, rows);
    return kj_oom(*table) ? KILN_OOM(kj_in_err(in)) : 0;
}

int kiln_models__f_run_query(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    kiln_project *p = ud;
    kj_val sql = kj_arg(a, 0, "sql");
    if (sql.t == KJ_UNDEF)
        return kj_fail(in, KILN_EINVAL, "run_query() needs the SQL text");
    if (p->rendering)
        p->rendering->uses_query = 1;
    if (!p->executing) {
        *out = kj_none();
        return 0;
    }
    int64_t n;
    return query(in, p, sql, out, &n);
}

/* __kiln_statement(name, sql, fetch_result): the body of the `statement`
 * call block (a built-in macro, below); stores load_result(name). */
static int f_statement(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    kiln_project *p = ud;
    *out = kj_str_c("");
    if (kj_oom(*out))
        return KILN_OOM(kj_in_err(in));
    if (p->rendering)
        p->rendering->uses_query = 1;
    if (!p->executing)
        return 0;
    kj_val name = kj_arg(a, 0, "name"), sql = kj_arg(a, 1, "sql"), fetch = kj_arg(a, 2, "fetch_result");
    kj_val table;
    int64_t affected = 0;
    int rc = query(in, p, sql, &table, &affected);
    if (rc)
        return rc;
    if (name.t != KJ_STR) { /* statement() without a name: nothing to load */
        kj_release(table);
        return 0;
    }
    kj_val res = kj_dict_new(), resp = kj_dict_new();
    kiln_err *err = kj_in_err(in);
    if (p->statements.t != KJ_DICT)
        p->statements = kj_dict_new();
    if (kj_oom(res) || kj_oom(resp) || kj_oom(p->statements)) {
        kj_release(res);
        kj_release(resp);
        kj_release(table);
        return KILN_OOM(err);
    }
    int want = fetch.t == KJ_BOOL ? fetch.u.b : fetch.t == KJ_INT ? fetch.u.i != 0 : 0;
    qtable *t = table.u.o->ud;
    if ((rc = kj_dict_setc(resp, "_message", kj_str_c("OK"), err)) ||
        (rc = kj_dict_setc(resp, "code", kj_str_c("OK"), err)) ||
        (rc = kj_dict_setc(resp, "rows_affected", kj_int(affected), err)) ||
        (rc = kj_dict_setc(res, "response", resp, err)) ||
        (rc = kj_dict_setc(res, "data", want ? kj_retain(t->rows) : kj_list_new(), err)) ||
        (rc = kj_dict_setc(res, "table", want ? table : kj_none(), err))) {
        kj_release(res);
        return rc;
    }
    if (!want)
        kj_release(table);
    return kj_dict_setc(p->statements, name.u.s->p, res, err);
}

static int f_load_result(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    kiln_project *p = ud;
    kj_val name = kj_arg(a, 0, "name");
    kj_val *r = name.t == KJ_STR && p->statements.t == KJ_DICT ? kj_dict_getc(p->statements, name.u.s->p) : NULL;
    *out = r ? kj_retain(*r) : kj_none();
    return 0;
}

/* dbt's statement call block, as dbt-core's global project has it: the
 * block's body is the SQL. */
const char kiln_models__query_macros[] =
    "{% macro statement(name=None, fetch_result=False, auto_begin=True, language='sql') -%}\n"
    "{{ __kiln_statement(name, caller(), fetch_result) }}\n"
    "{%- endmacro %}\n";

int kiln_models__query_natives(kiln_project *p, kj_val ctx, kiln_err *err)
{
    static const struct {
        const char *name;
        kj_native fn;
    } fns[] = {
        {"run_query", kiln_models__f_run_query}, {"__kiln_statement", f_statement}, {"load_result", f_load_result}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        kj_val f = kj_func_new(fns[i].name, fns[i].fn, p, kj_undef());
        if (kj_oom(f))
            return KILN_OOM(err);
        int rc = kj_dict_setc(ctx, fns[i].name, f, err);
        if (rc)
            return rc;
    }
    return 0;
}
