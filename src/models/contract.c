/*
 * contract.c - dbt model contracts (`contract: {enforced: true}`, dbt 1.5+)
 * and constraints.
 *
 * A model with an enforced contract lists every column with a `data_type`
 * in its schema YAML. Before anything is committed, kiln runs the model's
 * SQL into a temporary SQLite table and checks it: the same column names
 * (order free, as dbt), each column's values of the contract's type family
 * (integer, float, string, boolean, date/timestamp as text), and the
 * constraints — not_null, unique, primary_key (unique and not null), check
 * (`expression` true on every row), column-level or model-level
 * (`columns: [...]`). Iceberg cannot enforce them, so kiln checks them on
 * the rows about to be written; a violation fails the model and the table
 * keeps its snapshot. The rows are then written from the temporary table,
 * columns in the contract's order, cast to the contract's types.
 * foreign_key constraints are recorded (manifest) and not checked.
 */
#include "models/project.h"

#include "sql/sql.h"

#include <jansson.h>

static const char *const ctypes[] = {"not_null", "unique", "primary_key", "check", "foreign_key", "custom", NULL};

static int parse_constraints(const char *file, const km_yaml *y, int model_level, kj_val *out, kiln_err *err)
{
    if (y->type != KM_Y_SEQ)
        return kiln_models__yfail(err, file, y, "constraints must be a list of {type: ...}");
    for (size_t i = 0; i < y->n; i++) {
        const km_yaml *c = y->kids[i], *t = kiln_models__yaml_get(c, "type");
        if (c->type != KM_Y_MAP || !t || t->type != KM_Y_SCALAR)
            return kiln_models__yfail(err, file, c,
                                      "each constraint needs a type (not_null, unique, primary_key, check, "
                                      "foreign_key, custom)");
        int ok = 0;
        for (int k = 0; ctypes[k]; k++)
            ok |= !strcmp(t->s, ctypes[k]);
        if (!ok)
            return kiln_models__yfail(err, file, t,
                                      "unknown constraint type '%s' (not_null, unique, primary_key, check, "
                                      "foreign_key, custom)",
                                      t->s);
        const km_yaml *ex = kiln_models__yaml_get(c, "expression");
        if (!strcmp(t->s, "check") && (!ex || ex->type != KM_Y_SCALAR))
            return kiln_models__yfail(err, file, c, "a check constraint needs an expression");
        const km_yaml *cols = kiln_models__yaml_get(c, "columns");
        if (model_level && strcmp(t->s, "check") && strcmp(t->s, "custom") && (!cols || cols->type != KM_Y_SEQ))
            return kiln_models__yfail(err, file, c, "a model-level %s constraint needs columns: [...]", t->s);
    }
    return kiln_models__yaml_to_kj(y, out, err);
}

int kiln_models__contract_column(const char *file, const km_yaml *c, kj_val cv, kiln_err *err)
{
    const km_yaml *dt = kiln_models__yaml_get(c, "data_type"), *cs = kiln_models__yaml_get(c, "constraints");
    int rc = 0;
    if (dt && !kiln_models__yaml_is_null(dt)) {
        if (dt->type != KM_Y_SCALAR)
            return kiln_models__yfail(err, file, dt, "data_type must be a type name");
        rc = kj_dict_setc(cv, "data_type", kj_str_c(dt->s), err);
    }
    if (!rc && cs && !kiln_models__yaml_is_null(cs)) {
        kj_val v;
        if ((rc = parse_constraints(file, cs, 0, &v, err)))
            return rc;
        rc = kj_dict_setc(cv, "constraints", v, err);
    }
    return rc;
}

int kiln_models__contract_model(const char *file, const km_yaml *m, km_node *n, kiln_err *err)
{
    const km_yaml *cs = kiln_models__yaml_get(m, "constraints");
    if (!cs || kiln_models__yaml_is_null(cs))
        return 0;
    kj_val v;
    int rc = parse_constraints(file, cs, 1, &v, err);
    if (rc)
        return rc;
    kj_release(n->constraints);
    n->constraints = v;
    return 0;
}

static int enforced(const km_node *n)
{
    kj_val c = kiln_models__cfg(n, "contract");
    kj_val *e = c.t == KJ_DICT ? kj_dict_getc(c, "enforced") : NULL;
    return e && kj_truthy(*e);
}

/* data_type -> family: 'i' integer, 'f' float, 's' string, 'b' boolean, 'd' date/time, 0 unknown */
static char family(const char *t)
{
    char low[64];
    size_t i = 0;
    for (; t[i] && i < sizeof low - 1 && t[i] != '(' && t[i] != ' '; i++)
        low[i] = (char)(t[i] >= 'A' && t[i] <= 'Z' ? t[i] + 32 : t[i]);
    low[i] = 0;
    static const char *const ints[] = {"int",   "integer", "bigint", "smallint", "tinyint", "long",
                                       "int64", "int32",   "int4",   "int8",     "int2",    NULL};
    static const char *const floats[] = {"float",  "double",  "real",    "float64", "float32", "float4",
                                         "float8", "numeric", "decimal", "number",  NULL};
    static const char *const strs[] = {"text", "string", "varchar", "char", "character", "nvarchar", "clob", NULL};
    static const char *const bools[] = {"bool", "boolean", NULL};
    static const char *const dates[] = {"date", "timestamp", "datetime", "timestamptz", "timestamp_ntz", "time", NULL};
    const char *const *lists[] = {ints, floats, strs, bools, dates};
    const char fam[] = "ifsbd";
    for (int l = 0; l < 5; l++)
        for (int k = 0; lists[l][k]; k++)
            if (!strcmp(low, lists[l][k]))
                return fam[l];
    return 0;
}

static int exec1(sqlite3 *db, const char *sql, kiln_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = kiln_err_set(err, KILN_EFORMAT, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static int64_t count_of(sqlite3 *db, const char *sql, kiln_err *err, int *rc)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        *rc = kiln_err_set(err, KILN_EFORMAT, "contract check: %s", sqlite3_errmsg(db));
    } else if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    } else {
        *rc = kiln_err_set(err, KILN_EFORMAT, "contract check: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return n;
}

/* the type the values of column c have ("INTEGER", "TEXT"...; "NULL" when all are) */
static void value_type(sqlite3 *db, const char *c, char *out, size_t cap)
{
    char *sql = kiln_sprintf("select upper(typeof(\"%s\")) from temp.\"__kiln_contract\" where \"%s\" is not null "
                             "group by 1 order by count(*) desc limit 1",
                             c, c);
    sqlite3_stmt *st = NULL;
    snprintf(out, cap, "NULL");
    if (sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    kiln_free(sql);
}

/* one constraint over columns cols (a list of names) */
static int check_one(sqlite3 *db, const km_node *n, kj_val con, kj_val cols, kiln_buf *bad, kiln_err *err)
{
    kj_val *t = kj_dict_getc(con, "type");
    const char *type = t && t->t == KJ_STR ? t->u.s->p : "";
    int rc = 0;
    kiln_buf c;
    kiln_buf_init(&c, 0);
    for (size_t i = 0; cols.t == KJ_LIST && i < cols.u.l->len && !rc; i++)
        if (cols.u.l->items[i].t == KJ_STR)
            rc = kiln_buf_printf(&c, err, "%s\"%s\"", i ? ", " : "", cols.u.l->items[i].u.s->p);
    if (rc) {
        kiln_buf_free(&c);
        return rc;
    }
    const char *cl = c.data ? c.data : "";
    char *q = NULL;
    int64_t v;
    if (!strcmp(type, "not_null") || !strcmp(type, "primary_key")) {
        for (size_t i = 0; cols.t == KJ_LIST && i < cols.u.l->len && !rc; i++) {
            const char *col = cols.u.l->items[i].t == KJ_STR ? cols.u.l->items[i].u.s->p : "";
            q = kiln_sprintf("select count(*) from temp.\"__kiln_contract\" where \"%s\" is null", col);
            if (!q)
                rc = KILN_OOM(err);
            else if ((v = count_of(db, q, err, &rc)) > 0)
                rc = kiln_buf_printf(bad, err, "\n  %s on %s: %lld NULL row%s", type, col, (long long)v,
                                     v == 1 ? "" : "s");
            kiln_free(q);
            q = NULL;
        }
    }
    if (!rc && (!strcmp(type, "unique") || !strcmp(type, "primary_key"))) {
        q = kiln_sprintf(
            "select count(*) from (select %s from temp.\"__kiln_contract\" group by %s having count(*) > 1)", cl, cl);
        if (!q)
            rc = KILN_OOM(err);
        else if ((v = count_of(db, q, err, &rc)) > 0)
            rc = kiln_buf_printf(bad, err, "\n  %s on (%s): %lld duplicated value%s", type, cl, (long long)v,
                                 v == 1 ? "" : "s");
    }
    if (!rc && !strcmp(type, "check")) {
        kj_val *ex = kj_dict_getc(con, "expression");
        q = kiln_sprintf("select count(*) from temp.\"__kiln_contract\" where not (%s)", ex->u.s->p);
        if (!q)
            rc = KILN_OOM(err);
        else if ((v = count_of(db, q, err, &rc)) > 0)
            rc = kiln_buf_printf(bad, err, "\n  check (%s): %lld row%s violate it", ex->u.s->p, (long long)v,
                                 v == 1 ? "" : "s");
    }
    (void)n;
    kiln_free(q);
    kiln_buf_free(&c);
    return rc;
}

void kiln_models__contract_done(sqlite3 *db)
{
    if (db)
        sqlite3_exec(db, "drop table if exists temp.\"__kiln_contract\"", NULL, NULL, NULL);
}

int kiln_models__contract_prepare(kiln_project *p, sqlite3 *db, km_node *n, char **query, kiln_err *err)
{
    *query = NULL;
    if (!enforced(n))
        return 0;
    int rc = 0;
    kiln_buf b, tab, bad;
    kiln_buf_init(&b, 0);
    kiln_buf_init(&tab, 0);
    kiln_buf_init(&bad, 0);
    sqlite3_stmt *st = NULL;
    kj_val cols = n->columns;
    size_t ncon = cols.t == KJ_DICT ? cols.u.d->len : 0;
    if (!ncon) {
        rc = kiln_err_set(err, KILN_EFORMAT,
                          "model '%s' has an enforced contract but its schema YAML lists no columns (each needs a "
                          "data_type)",
                          n->name);
        goto done;
    }
    for (size_t i = 0; i < ncon; i++) {
        kj_val *dt = kj_dict_getc(cols.u.d->vals[i], "data_type");
        kj_val *nm = kj_dict_getc(cols.u.d->vals[i], "name");
        if (!dt || dt->t != KJ_STR) {
            rc = kiln_err_set(err, KILN_EFORMAT, "model '%s' has an enforced contract: column '%s' needs a data_type",
                              n->name, nm && nm->t == KJ_STR ? nm->u.s->p : "?");
            goto done;
        }
        if (!family(dt->u.s->p)) {
            rc = kiln_err_set(err, KILN_EFORMAT,
                              "model '%s', column '%s': data_type '%s' is not one kiln knows (int, bigint, float, "
                              "double, numeric, decimal, varchar, text, string, boolean, date, timestamp)",
                              n->name, nm && nm->t == KJ_STR ? nm->u.s->p : "?", dt->u.s->p);
            goto done;
        }
    }
    kiln_models__contract_done(db);
    if ((rc = kiln_buf_printf(&b, err, "create temp table \"__kiln_contract\" as select * from (\n%s\n)",
                              n->compiled ? n->compiled : "")))
        goto done;
    {
        /* the model's SQL may name tables this run made: resolve them as tests do */
        kiln_err e = {0};
        rc = exec1(db, b.data, &e);
        for (int tries = 0; rc && tries < 8 && kiln_sql_lake_resolve_missing(db, e.msg, err) == 1; tries++)
            rc = exec1(db, b.data, &e);
        if (rc) {
            *err = e;
            goto done;
        }
    }
    /* names and types */
    if (sqlite3_prepare_v2(db, "select * from temp.\"__kiln_contract\" limit 0", -1, &st, NULL) != SQLITE_OK) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
        goto done;
    }
    int nd = sqlite3_column_count(st);
    if ((rc = kiln_buf_printf(&tab, err,
                              "\n| column_name | definition_type | contract_type | mismatch_reason |"
                              "\n| ----------- | --------------- | ------------- | --------------- |")))
        goto done;
    int mismatches = 0;
    for (int i = 0; i < nd && !rc; i++) {
        const char *dn = sqlite3_column_name(st, i);
        int found = 0;
        for (size_t k = 0; k < ncon; k++)
            found |= !strcasecmp(dn, cols.u.d->keys[k].u.s->p);
        if (!found) {
            char vt[32];
            value_type(db, dn, vt, sizeof vt);
            rc = kiln_buf_printf(&tab, err, "\n| %s | %s |  | missing in contract |", dn, vt);
            mismatches++;
        }
    }
    for (size_t k = 0; k < ncon && !rc; k++) {
        const char *cn = cols.u.d->keys[k].u.s->p;
        const char *ct = kj_dict_getc(cols.u.d->vals[k], "data_type")->u.s->p;
        int found = 0;
        for (int i = 0; i < nd; i++)
            found |= !strcasecmp(sqlite3_column_name(st, i), cn);
        if (!found) {
            rc = kiln_buf_printf(&tab, err, "\n| %s |  | %s | missing in definition |", cn, ct);
            mismatches++;
            continue;
        }
        char f = family(ct);
        const char *allowed = f == 'i' || f == 'b' ? "'integer'" : f == 'f' ? "'integer','real'" : "'text'";
        char *q = kiln_sprintf("select count(*) from temp.\"__kiln_contract\" where \"%s\" is not null and "
                               "typeof(\"%s\") not in (%s)%s%s%s",
                               cn, cn, allowed, f == 'b' ? " or \"" : "", f == 'b' ? cn : "",
                               f == 'b' ? "\" not in (0, 1)" : "");
        int64_t v = q ? count_of(db, q, err, &rc) : (rc = KILN_OOM(err), 0);
        kiln_free(q);
        if (!rc && v > 0) {
            char vt[32];
            value_type(db, cn, vt, sizeof vt);
            rc = kiln_buf_printf(&tab, err, "\n| %s | %s | %s | data type mismatch |", cn, vt, ct);
            mismatches++;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc)
        goto done;
    if (mismatches) {
        rc = kiln_err_set(err, KILN_EFORMAT,
                          "This model has an enforced contract that failed.\n    Please ensure the name, data_type, "
                          "and number of columns in your contract match the columns in your model's definition.\n%s",
                          tab.data);
        goto done;
    }
    /* constraints: column-level, then model-level */
    for (size_t k = 0; k < ncon && !rc; k++) {
        kj_val *cs = kj_dict_getc(cols.u.d->vals[k], "constraints");
        for (size_t i = 0; cs && cs->t == KJ_LIST && i < cs->u.l->len && !rc; i++) {
            kj_val one = kj_list_new();
            if (kj_oom(one) || (rc = kj_list_push(one, kj_retain(cols.u.d->keys[k]), err))) {
                rc = rc ? rc : KILN_OOM(err);
                kj_release(one);
                break;
            }
            rc = check_one(db, n, cs->u.l->items[i], one, &bad, err);
            kj_release(one);
        }
    }
    for (size_t i = 0; n->constraints.t == KJ_LIST && i < n->constraints.u.l->len && !rc; i++) {
        kj_val con = n->constraints.u.l->items[i], *cl = kj_dict_getc(con, "columns");
        rc = check_one(db, n, con, cl ? *cl : kj_none(), &bad, err);
    }
    if (rc)
        goto done;
    if (bad.len) {
        rc = kiln_err_set(err, KILN_EFORMAT, "model '%s' violates its contract's constraints (nothing was written):%s",
                          n->name, bad.data);
        goto done;
    }
    /* the rows to write: the contract's order and types */
    b.len = 0;
    rc = kiln_buf_printf(&b, err, "select ");
    for (size_t k = 0; k < ncon && !rc; k++) {
        const char *cn = cols.u.d->keys[k].u.s->p;
        char f = family(kj_dict_getc(cols.u.d->vals[k], "data_type")->u.s->p);
        rc = kiln_buf_printf(&b, err, "%scast(\"%s\" as %s) as \"%s\"", k ? ", " : "", cn,
                             f == 'i' || f == 'b' ? "integer"
                             : f == 'f'           ? "real"
                                                  : "text",
                             cn);
    }
    if (!rc && !(rc = kiln_buf_printf(&b, err, " from temp.\"__kiln_contract\"")))
        *query = kiln_buf_detach(&b, NULL);
done:
    sqlite3_finalize(st);
    kiln_buf_free(&b);
    kiln_buf_free(&tab);
    kiln_buf_free(&bad);
    if (rc)
        kiln_models__contract_done(db);
    (void)p;
    return rc;
}

/* ------------------------------------------------------------ manifest */

/* dbt's ColumnLevelConstraint / ModelLevelConstraint: type, name, expression,
 * warn_unenforced, warn_unsupported (+ columns; 1.9 adds to, to_columns) */
static json_t *constraint_json(kj_val c, int model_level)
{
    kj_val *t = kj_dict_getc(c, "type"), *nm = kj_dict_getc(c, "name"), *ex = kj_dict_getc(c, "expression"),
           *cols = kj_dict_getc(c, "columns");
    json_t *o = json_object();
    json_object_set_new(o, "type", t ? kiln_models__kj_json(*t) : json_string("custom"));
    json_object_set_new(o, "name", nm ? kiln_models__kj_json(*nm) : json_null());
    json_object_set_new(o, "expression", ex ? kiln_models__kj_json(*ex) : json_null());
    json_object_set_new(o, "warn_unenforced", json_true());
    json_object_set_new(o, "warn_unsupported", json_true());
    if (model_level)
        json_object_set_new(o, "columns", cols ? kiln_models__kj_json(*cols) : json_array());
    return o;
}

void kiln_models__contract_column_json(kj_val col, json_t *out)
{
    kj_val *dt = kj_dict_getc(col, "data_type"), *cs = kj_dict_getc(col, "constraints");
    if (dt && dt->t == KJ_STR)
        json_object_set_new(out, "data_type", json_string(dt->u.s->p));
    if (cs && cs->t == KJ_LIST) {
        json_t *a = json_array();
        for (size_t i = 0; i < cs->u.l->len; i++)
            json_array_append_new(a, constraint_json(cs->u.l->items[i], 0));
        json_object_set_new(out, "constraints", a);
    }
}

void kiln_models__contract_json(const km_node *n, json_t *node)
{
    int on = enforced(n);
    /* checksum: of the contract's columns and types, as dbt keeps one to
     * tell a contract change (state:modified.contract) */
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err e = {0};
    for (size_t k = 0; on && n->columns.t == KJ_DICT && k < n->columns.u.d->len; k++) {
        kj_val *dt = kj_dict_getc(n->columns.u.d->vals[k], "data_type");
        kiln_buf_printf(&b, &e, "%s:%s;", n->columns.u.d->keys[k].u.s->p, dt && dt->t == KJ_STR ? dt->u.s->p : "");
    }
    char hex[65] = "";
    if (on)
        kiln_sha256_hex(b.data ? b.data : "", b.len, hex);
    kiln_buf_free(&b);
    json_object_set_new(
        node, "contract",
        json_pack("{s:b,s:b,s:o}", "enforced", on, "alias_types", 1, "checksum", on ? json_string(hex) : json_null()));
    json_t *a = json_array();
    for (size_t i = 0; n->constraints.t == KJ_LIST && i < n->constraints.u.l->len; i++)
        json_array_append_new(a, constraint_json(n->constraints.u.l->items[i], 1));
    json_object_set_new(node, "constraints", a);
}
