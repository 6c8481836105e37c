/*
 * sql_write.c - the SQL statements that write Iceberg tables. SQLite has
 * no writes into kiln's virtual tables and no MERGE, so kiln recognises
 * these forms itself before SQLite sees the text:
 *
 *   CREATE TABLE [IF NOT EXISTS] ns.t [PARTITIONED BY (day(ts), ...)] AS query
 *   INSERT INTO ns.t [(col, ...)] query              -- append
 *   INSERT OVERWRITE [TABLE] ns.t [(col, ...)] query -- dynamic partition overwrite
 *   MERGE INTO ns.t [[AS] t] USING (query) [AS] s | USING ns.s [[AS] s]
 *     ON t.k = s.k [AND t.k2 = s.k2 ...]
 *     [WHEN MATCHED [AND cond] THEN UPDATE SET c = expr, ... | UPDATE SET *]
 *     [WHEN NOT MATCHED [AND cond] THEN INSERT [(c, ...)] VALUES (expr, ...) | INSERT *]
 *
 * A small tokenizer (quotes, comments, parentheses) finds the parts; the
 * query runs through SQLite (kiln_sql_prepare) and its rows stream into a
 * kiln_lake_writer (lake.h), whose commit is the one atomic Iceberg
 * commit of the statement: on any error nothing is committed.
 *
 * MERGE is rewritten into one SELECT that yields, for every source row
 * that a WHEN clause applies to, the complete new target row:
 *   SELECT CASE WHEN <matched> THEN <SET expr or t.c> ELSE <INSERT expr> END, ...
 *   FROM (source) AS s LEFT JOIN (target, materialized) AS t ON <on>
 *   WHERE (<matched> AND <matched cond>) OR (NOT <matched> AND <insert cond>)
 * and those rows go to the lake's MERGE (upsert by the ON keys, copy-on-
 * write; rows whose values do not change are not rewritten).
 *
 * CREATE TABLE AS takes column types from the query's declared types
 * (columns read from Iceberg tables keep theirs); for computed columns
 * from the values: integers -> long, reals -> double, text that is all
 * ISO timestamps -> timestamptz, all dates -> date, other text -> string,
 * blobs -> binary. The table is created and then appended to; if the
 * append fails the new table is dropped again.
 */
#define KILN_SQL_LEX_SHORT_NAMES
#include "sql_int.h"
#include "exec/exec.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lake/lake.h"

/* ------------------------------------------------------------ tokenizer */

/* The shared scanner (sql_lex.c), under its short names (sql_int.h). */

/* ------------------------------------------------------------ statement model */

enum { W_CTAS = 1, W_INSERT, W_OVERWRITE, W_MERGE };

typedef struct wstmt {
    int kind;
    int if_not_exists, replace;
    char ns[129], tb[129], name[260];
    char branch[129], shown[400]; /* target branch ("" = main); "ns.t[@branch]" for messages */
    char *partition;              /* CTAS */
    KILN_VEC(char *) cols;        /* INSERT column list */
    size_t query_b, query_e;      /* INSERT/CTAS query */
    /* MERGE */
    char talias[129], salias[129];
    char *source_sql;
    size_t on_b, on_e;
    int has_update, update_star, has_insert, insert_star;
    size_t ucond_b, ucond_e, icond_b, icond_e;
    size_t set_b, set_e;     /* SET list */
    size_t ivals_b, ivals_e; /* VALUES list (inside parens) */
    KILN_VEC(char *) icols;
} wstmt;

static void wstmt_free(wstmt *w)
{
    kiln_free(w->partition);
    kiln_free(w->source_sql);
    for (size_t i = 0; i < w->cols.len; i++)
        kiln_free(w->cols.items[i]);
    for (size_t i = 0; i < w->icols.len; i++)
        kiln_free(w->icols.items[i]);
    kiln_vec_free(&w->cols);
    kiln_vec_free(&w->icols);
}

/* ns.t; 0, or 1 when the text there is not a two-part name. */
static int table_name(lexer *lx, wstmt *w)
{
    if (kiln_sql_lex_name2(lx, w->ns, w->tb))
        return 1;
    /* "table@branch": write to (and MERGE against) that branch */
    char *at = strchr(w->tb, '@');
    if (at) {
        *at = 0;
        snprintf(w->branch, sizeof w->branch, "%s", at + 1);
    } else if (getenv("KILN_BRANCH") && *getenv("KILN_BRANCH")) {
        /* a task of `kiln dags backfill --branch` writes every table on the backfill's branch */
        snprintf(w->branch, sizeof w->branch, "%s", getenv("KILN_BRANCH"));
    }
    snprintf(w->name, sizeof w->name, "%s.%s", w->ns, w->tb);
    snprintf(w->shown, sizeof w->shown, "%s%s%s", w->name, w->branch[0] ? "@" : "", w->branch);
    return 0;
}

/* "(a, b, c)" list of names into v; the '(' is next. */
static int name_list(lexer *lx, void *vv, long *eoff, kiln_err *err)
{
    KILN_VEC(char *) *v = vv;
    tok t = next(lx);
    if (!is_p(lx, t, '('))
        return perr(eoff, t.b, err, "expected '('");
    for (;;) {
        char nm[129];
        t = next(lx);
        if (ident(lx, t, nm, sizeof nm) != 0)
            return perr(eoff, t.b, err, "expected a column name");
        /* t.c -> c */
        if (is_p(lx, peek(lx), '.')) {
            next(lx);
            t = next(lx);
            if (ident(lx, t, nm, sizeof nm) != 0)
                return perr(eoff, t.b, err, "expected a column name");
        }
        char *d = kiln_strdup(nm);
        if (!d || kiln_vec_push(v, d, err)) {
            kiln_free(d);
            return KILN_OOM(err);
        }
        t = next(lx);
        if (is_p(lx, t, ')'))
            return 0;
        if (!is_p(lx, t, ','))
            return perr(eoff, t.b, err, "expected ',' or ')' in the column list");
    }
}

/* CREATE [OR REPLACE] TABLE [IF NOT EXISTS] ns.t [PARTITIONED BY (...)] AS
 * query, after CREATE. */
static int parse_ctas(sqlite3 *db, lexer *lx, const char *sql, wstmt *w, int *handled, long *eoff, kiln_err *err)
{
    tok t2 = next(lx);
    if (is_kw(lx, t2, "OR")) {
        if (!is_kw(lx, next(lx), "REPLACE"))
            return 0;
        w->replace = 1;
        t2 = next(lx);
    }
    if (!is_kw(lx, t2, "TABLE"))
        return 0;
    if (is_kw(lx, peek(lx), "IF")) {
        next(lx);
        if (!is_kw(lx, next(lx), "NOT") || !is_kw(lx, next(lx), "EXISTS"))
            return 0;
        w->if_not_exists = 1;
    }
    if (w->replace && w->if_not_exists) {
        *handled = 1;
        return perr(eoff, t2.b, err, "CREATE OR REPLACE TABLE cannot have IF NOT EXISTS");
    }
    if (table_name(lx, w) || !kiln_sql_is_lake_schema(db, w->ns))
        return 0;
    tok t3 = next(lx);
    if (is_kw(lx, t3, "PARTITIONED")) {
        *handled = 1; /* kiln syntax: errors from here on are ours */
        w->kind = W_CTAS;
        tok by = next(lx);
        if (!is_kw(lx, by, "BY"))
            return perr(eoff, by.b, err, "expected BY after PARTITIONED");
        tok o = next(lx);
        if (!is_p(lx, o, '('))
            return perr(eoff, o.b, err, "PARTITIONED BY: expected '(' (e.g. PARTITIONED BY (day(created_at)))");
        tok c = skip_parens(lx);
        if (!c.kind)
            return perr(eoff, o.b, err, "PARTITIONED BY: missing ')'");
        if (!(w->partition = kiln_strndup(sql + o.e, c.b - o.e)))
            return KILN_OOM(err);
        t3 = next(lx);
    }
    if (!is_kw(lx, t3, "AS")) {
        if (*handled || w->replace)
            return perr(eoff, t3.b, err, "expected AS query (CREATE %sTABLE ns.t [PARTITIONED BY (...)] AS query)",
                        w->replace ? "OR REPLACE " : "");
        return 0; /* a plain CREATE TABLE: sql_ddl.c or SQLite's */
    }
    *handled = 1;
    w->kind = W_CTAS;
    w->query_b = lx->pos;
    return 0;
}

/* INSERT INTO | INSERT OVERWRITE [TABLE] ns.t [(col, ...)] query, after INSERT. */
static int parse_insert(sqlite3 *db, lexer *lx, wstmt *w, int *handled, long *eoff, kiln_err *err)
{
    tok t2 = next(lx);
    if (is_kw(lx, t2, "OVERWRITE")) {
        w->kind = W_OVERWRITE;
        if (is_kw(lx, peek(lx), "TABLE") || is_kw(lx, peek(lx), "INTO"))
            next(lx);
    } else if (is_kw(lx, t2, "INTO")) {
        w->kind = W_INSERT;
    } else {
        return 0;
    }
    if (table_name(lx, w) || !kiln_sql_is_lake_schema(db, w->ns)) {
        if (w->kind == W_OVERWRITE) {
            *handled = 1;
            return perr(eoff, t2.b, err, "INSERT OVERWRITE needs an Iceberg table named ns.table");
        }
        return 0;
    }
    *handled = 1;
    if (is_p(lx, peek(lx), '(')) {
        /* a column list, unless this is a parenthesized query */
        size_t p = lx->pos;
        next(lx);
        tok in = next(lx);
        lx->pos = p;
        if (!is_kw(lx, in, "SELECT") && !is_kw(lx, in, "WITH") && !is_kw(lx, in, "VALUES")) {
            int rc = name_list(lx, &w->cols, eoff, err);
            if (rc)
                return rc;
        }
    }
    w->query_b = lx->pos;
    return 0;
}

/* Tokens up to the first WHEN (or ';' / the end) at parenthesis depth 0;
 * returns that token. */
static tok until_when(lexer *lx)
{
    int depth = 0;
    for (;;) {
        tok x = next(lx);
        if (!x.kind || (is_p(lx, x, ';') && depth == 0))
            return x;
        if (is_p(lx, x, '('))
            depth++;
        else if (is_p(lx, x, ')'))
            depth--;
        else if (depth == 0 && is_kw(lx, x, "WHEN"))
            return x;
    }
}

/* MERGE's USING part: (query) [AS] s | ns.s [[AS] s], then ON. */
static int parse_merge_source(lexer *lx, const char *sql, wstmt *w, long *eoff, kiln_err *err)
{
    tok u = next(lx);
    if (is_p(lx, u, '(')) {
        tok c = skip_parens(lx);
        if (!c.kind)
            return perr(eoff, u.b, err, "USING (query): missing ')'");
        if (!(w->source_sql = kiln_strndup(sql + u.e, c.b - u.e)))
            return KILN_OOM(err);
        w->salias[0] = 0;
    } else {
        lx->pos = u.b;
        wstmt tmp = {0};
        if (table_name(lx, &tmp))
            return perr(eoff, u.b, err, "USING: expected (query) or ns.table");
        char *q = sqlite3_mprintf("SELECT * FROM \"%w\".\"%w\"", tmp.ns, tmp.tb);
        w->source_sql = q ? kiln_strdup(q) : NULL;
        sqlite3_free(q);
        if (!w->source_sql)
            return KILN_OOM(err);
        snprintf(w->salias, sizeof w->salias, "%s", tmp.tb);
    }
    tok s = next(lx);
    if (is_kw(lx, s, "AS"))
        s = next(lx);
    if (!is_kw(lx, s, "ON")) {
        if (ident(lx, s, w->salias, sizeof w->salias) != 0)
            return perr(eoff, s.b, err, "expected the source alias or ON");
        s = next(lx);
    }
    if (!w->salias[0])
        return perr(eoff, s.b, err, "USING (query) needs an alias: USING (...) AS s");
    if (!is_kw(lx, s, "ON"))
        return perr(eoff, s.b, err, "expected ON");
    return 0;
}

/* One WHEN [NOT] MATCHED [AND cond] THEN action clause, after WHEN; *x is
 * set to the token after it. */
static int parse_merge_when(lexer *lx, wstmt *w, tok *x, long *eoff, kiln_err *err)
{
    tok m = next(lx);
    int notm = 0;
    if (is_kw(lx, m, "NOT")) {
        notm = 1;
        m = next(lx);
    }
    if (!is_kw(lx, m, "MATCHED"))
        return perr(eoff, m.b, err, "expected MATCHED or NOT MATCHED");
    size_t cb = 0, ce = 0;
    tok a2 = next(lx);
    if (is_kw(lx, a2, "AND")) {
        cb = lx->pos;
        int d2 = 0;
        for (;;) {
            a2 = next(lx);
            if (!a2.kind)
                return perr(eoff, cb, err, "expected THEN");
            if (is_p(lx, a2, '('))
                d2++;
            else if (is_p(lx, a2, ')'))
                d2--;
            else if (d2 == 0 && is_kw(lx, a2, "THEN"))
                break;
        }
        ce = a2.b;
    }
    if (!is_kw(lx, a2, "THEN"))
        return perr(eoff, a2.b, err, "expected THEN");
    tok act = next(lx);
    if (!notm) {
        if (is_kw(lx, act, "DELETE"))
            return perr(eoff, act.b, err,
                        "WHEN MATCHED THEN DELETE is not supported (the lake's MERGE is an upsert); "
                        "delete with kiln table tools");
        if (!is_kw(lx, act, "UPDATE") || !is_kw(lx, next(lx), "SET"))
            return perr(eoff, act.b, err, "expected UPDATE SET after WHEN MATCHED THEN");
        if (w->has_update)
            return perr(eoff, act.b, err, "only one WHEN MATCHED clause is supported");
        w->has_update = 1;
        w->ucond_b = cb;
        w->ucond_e = ce;
        if (is_p(lx, peek(lx), '*')) {
            next(lx);
            w->update_star = 1;
            *x = next(lx);
        } else {
            w->set_b = lx->pos;
            *x = until_when(lx);
            w->set_e = x->b;
        }
        return 0;
    }
    if (!is_kw(lx, act, "INSERT"))
        return perr(eoff, act.b, err, "expected INSERT after WHEN NOT MATCHED THEN");
    if (w->has_insert)
        return perr(eoff, act.b, err, "only one WHEN NOT MATCHED clause is supported");
    w->has_insert = 1;
    w->icond_b = cb;
    w->icond_e = ce;
    if (is_p(lx, peek(lx), '*')) {
        next(lx);
        w->insert_star = 1;
    } else {
        if (is_p(lx, peek(lx), '(')) {
            int rc = name_list(lx, &w->icols, eoff, err);
            if (rc)
                return rc;
        }
        tok v = next(lx);
        if (!is_kw(lx, v, "VALUES"))
            return perr(eoff, v.b, err, "expected VALUES (...) or *");
        tok o = next(lx);
        if (!is_p(lx, o, '('))
            return perr(eoff, o.b, err, "expected '(' after VALUES");
        tok c = skip_parens(lx);
        if (!c.kind)
            return perr(eoff, o.b, err, "VALUES: missing ')'");
        w->ivals_b = o.e;
        w->ivals_e = c.b;
    }
    *x = next(lx);
    return 0;
}

/* MERGE INTO ns.t [[AS] t] USING ... ON ... WHEN ..., after MERGE. */
static int parse_merge(sqlite3 *db, lexer *lx, const char *sql, size_t len, wstmt *w, size_t *used, long *eoff,
                       kiln_err *err)
{
    int rc;
    w->kind = W_MERGE;
    tok t2 = next(lx);
    if (!is_kw(lx, t2, "INTO"))
        return perr(eoff, t2.b, err, "expected INTO after MERGE");
    size_t nb = lx->pos;
    if (table_name(lx, w) || !kiln_sql_is_lake_schema(db, w->ns))
        return perr(eoff, nb, err, "MERGE INTO needs an Iceberg table named ns.table");
    snprintf(w->talias, sizeof w->talias, "%s", w->tb);
    tok a = next(lx);
    if (is_kw(lx, a, "AS"))
        a = next(lx);
    if (!is_kw(lx, a, "USING")) {
        if (ident(lx, a, w->talias, sizeof w->talias) != 0)
            return perr(eoff, a.b, err, "expected an alias or USING");
        a = next(lx);
    }
    if (!is_kw(lx, a, "USING"))
        return perr(eoff, a.b, err, "expected USING");
    if ((rc = parse_merge_source(lx, sql, w, eoff, err)))
        return rc;
    /* ON runs to the first WHEN at depth 0 */
    w->on_b = lx->pos;
    tok x = until_when(lx);
    if (!is_kw(lx, x, "WHEN"))
        return perr(eoff, x.b, err, "MERGE: expected WHEN MATCHED / WHEN NOT MATCHED");
    w->on_e = x.b;
    while (x.kind && is_kw(lx, x, "WHEN"))
        if ((rc = parse_merge_when(lx, w, &x, eoff, err)))
            return rc;
    if (x.kind && !is_p(lx, x, ';'))
        return perr(eoff, x.b, err, "unexpected text after the WHEN clauses");
    *used = x.kind ? x.e : len;
    return 0;
}

/* Parse; *handled = 0 when not a kiln write statement. */
static int parse(sqlite3 *db, const char *sql, size_t len, wstmt *w, int *handled, size_t *used, long *eoff,
                 kiln_err *err)
{
    lexer lx = {sql, len, 0};
    int rc;
    *handled = 0;
    tok t = next(&lx);
    if (is_kw(&lx, t, "MERGE")) {
        *handled = 1;
        return parse_merge(db, &lx, sql, len, w, used, eoff, err);
    }
    if (is_kw(&lx, t, "CREATE"))
        rc = parse_ctas(db, &lx, sql, w, handled, eoff, err);
    else if (is_kw(&lx, t, "INSERT"))
        rc = parse_insert(db, &lx, w, handled, eoff, err);
    else
        return 0;
    if (rc || !*handled)
        return rc;
    size_t e = stmt_end(&lx);
    w->query_e = e;
    *used = e < len ? e + 1 : len;
    if (w->query_e <= w->query_b)
        return perr(eoff, w->query_b, err, "expected a query");
    return 0;
}

/* ------------------------------------------------------------ rows -> batches */

static int col_put(kiln_batch *b, int ci, const kiln_column_def *cd, sqlite3_stmt *st, int i, int64_t rowno,
                   kiln_err *err)
{
    int vt = sqlite3_column_type(st, i);
    if (vt == SQLITE_NULL) {
        if (cd->required)
            return kiln_err_set(err, KILN_EINVAL, "row %lld: column %s is required but the query gave NULL",
                                (long long)rowno, cd->name);
        return kiln_batch_put_null(b, ci, err);
    }
    switch (cd->type) {
    case KILN_T_BOOL:
        if (vt == SQLITE_INTEGER || vt == SQLITE_FLOAT)
            return kiln_batch_put_bool(b, ci, sqlite3_column_double(st, i) != 0, err);
        {
            const char *s = (const char *)sqlite3_column_text(st, i);
            if (!strcasecmp(s, "true"))
                return kiln_batch_put_bool(b, ci, 1, err);
            if (!strcasecmp(s, "false"))
                return kiln_batch_put_bool(b, ci, 0, err);
        }
        break;
    case KILN_T_INT32:
    case KILN_T_INT64: {
        sqlite3_int64 v;
        if (vt == SQLITE_INTEGER) {
            v = sqlite3_column_int64(st, i);
        } else if (vt == SQLITE_FLOAT) {
            double d = sqlite3_column_double(st, i);
            if (d != floor(d) || fabs(d) > 9.2e18)
                break;
            v = (sqlite3_int64)d;
        } else {
            const char *s = (const char *)sqlite3_column_text(st, i);
            char *e;
            v = strtoll(s, &e, 10);
            if (e == s || *e)
                break;
        }
        if (cd->type == KILN_T_INT32) {
            if (v < INT32_MIN || v > INT32_MAX)
                return kiln_err_set(err, KILN_EINVAL, "row %lld: %lld does not fit column %s (int)", (long long)rowno,
                                    (long long)v, cd->name);
            return kiln_batch_put_i32(b, ci, (int32_t)v, err);
        }
        return kiln_batch_put_i64(b, ci, v, err);
    }
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE:
        if (vt == SQLITE_INTEGER || vt == SQLITE_FLOAT) {
            double d = sqlite3_column_double(st, i);
            return cd->type == KILN_T_FLOAT ? kiln_batch_put_f32(b, ci, (float)d, err)
                                            : kiln_batch_put_f64(b, ci, d, err);
        }
        break;
    case KILN_T_DECIMAL: {
        if (vt == SQLITE_TEXT) { /* exact decimal text (kiln's 16-18 digit decimals read as text) */
            int64_t u;
            int exact;
            const char *s = (const char *)sqlite3_column_text(st, i);
            if (kiln_decimal_parse(&u, &exact, s, (size_t)sqlite3_column_bytes(st, i), cd->scale) || !exact)
                break;
            return kiln_batch_put_i64(b, ci, u, err);
        }
        double d = sqlite3_column_double(st, i);
        if (vt == SQLITE_BLOB)
            break;
        for (int k = 0; k < cd->scale; k++)
            d *= 10.0;
        if (fabs(d) > 9.2e18)
            break;
        return kiln_batch_put_i64(b, ci, (int64_t)llround(d), err);
    }
    case KILN_T_TIME: {
        if (vt == SQLITE_INTEGER)
            return kiln_batch_put_i64(b, ci, sqlite3_column_int64(st, i), err);
        const char *s = (const char *)sqlite3_column_text(st, i);
        unsigned hh, mm, ss;
        int used = 0;
        if (vt != SQLITE_TEXT || sscanf(s, "%2u:%2u:%2u%n", &hh, &mm, &ss, &used) != 3 || hh > 23 || mm > 59 || ss > 59)
            break;
        int64_t us = ((int64_t)hh * 3600 + mm * 60 + ss) * 1000000;
        if (s[used] == '.') {
            int64_t mul = 100000;
            for (const char *q = s + used + 1; *q >= '0' && *q <= '9' && mul; q++, mul /= 10)
                us += (*q - '0') * mul;
        }
        return kiln_batch_put_i64(b, ci, us, err);
    }
    case KILN_T_UUID: {
        uint8_t u[16];
        if (vt == SQLITE_BLOB && sqlite3_column_bytes(st, i) == 16)
            return kiln_batch_put_str(b, ci, sqlite3_column_blob(st, i), 16, err);
        if (vt != SQLITE_TEXT ||
            kiln_uuid_parse((const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i), u))
            break;
        return kiln_batch_put_str(b, ci, (const char *)u, 16, err);
    }
    case KILN_T_JSON: /* JSON text (an object or array), checked against the column's shape by the writer */
        if (vt != SQLITE_TEXT)
            break;
        return kiln_batch_put_str(b, ci, (const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i),
                                  err);
    case KILN_T_DECIMAL_WIDE: { /* exact text (or an integer); checked against decimal(P,S) by the writer */
        char tmp[32];
        if (vt == SQLITE_INTEGER) {
            int n = snprintf(tmp, sizeof tmp, "%lld", (long long)sqlite3_column_int64(st, i));
            return kiln_batch_put_str(b, ci, tmp, (size_t)n, err);
        }
        if (vt != SQLITE_TEXT)
            break; /* a REAL would not be exact */
        return kiln_batch_put_str(b, ci, (const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i),
                                  err);
    }
    case KILN_T_STRING:
    case KILN_T_BINARY: {
        const void *p = vt == SQLITE_BLOB ? sqlite3_column_blob(st, i) : (const void *)sqlite3_column_text(st, i);
        int n = sqlite3_column_bytes(st, i);
        return kiln_batch_put_str(b, ci, p ? p : "", (size_t)n, err);
    }
    case KILN_T_DATE:
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: {
        if (vt != SQLITE_TEXT && vt != SQLITE_INTEGER)
            break;
        int64_t us;
        int is_date = 0;
        if (kiln_sql_value_ts(sqlite3_column_value(st, i), &us, &is_date) != 0)
            break;
        if (cd->type == KILN_T_DATE) {
            int64_t days = us >= 0 ? us / 86400000000LL : -((-us + 86400000000LL - 1) / 86400000000LL);
            return kiln_batch_put_i32(b, ci, (int32_t)days, err);
        }
        return kiln_batch_put_i64(b, ci, us, err);
    }
    }
    const char *txt = (const char *)sqlite3_column_text(st, i);
    return kiln_err_set(err, KILN_EINVAL, "row %lld: value '%.60s' cannot be stored in column %s (%s)",
                        (long long)rowno, txt ? txt : "", cd->name, kiln_type_name(cd->type));
}

/* Run st and stage its rows into w. map[i] = writer column of result
 * column i, -1 = none; writer columns no result column maps to get NULL. */
static int stream_rows(sqlite3 *db, sqlite3_stmt *st, kiln_lake_writer *w, const int *map, int64_t *nrows,
                       kiln_err *err)
{
    const kiln_schema *ws = kiln_lake_writer_schema(w);
    kiln_batch *b = NULL;
    int rc = kiln_batch_new(&b, ws, 8192, 0, err);
    int nres = sqlite3_column_count(st);
    int *rev = kiln_calloc((size_t)ws->ncols + 1, sizeof *rev);
    if (rc)
        goto done;
    if (!rev) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int c = 0; c < ws->ncols; c++)
        rev[c] = -1;
    for (int i = 0; i < nres; i++)
        if (map[i] >= 0)
            rev[map[i]] = i;
    *nrows = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        (*nrows)++;
        for (int c = 0; c < ws->ncols; c++) {
            if (rev[c] < 0) {
                if (ws->cols[c].required) {
                    rc = kiln_err_set(err, KILN_EINVAL, "column %s is required and the query does not give it",
                                      ws->cols[c].name);
                    goto done;
                }
                rc = kiln_batch_put_null(b, c, err);
            } else {
                rc = col_put(b, c, &ws->cols[c], st, rev[c], *nrows, err);
            }
            if (rc)
                goto done;
        }
        if ((rc = kiln_batch_end_row(b, err)))
            goto done;
        if (kiln_batch_full(b)) {
            if ((rc = kiln_lake_writer_write(w, b, err)))
                goto done;
            kiln_batch_clear(b);
        }
    }
    if (src != SQLITE_DONE) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
        goto done;
    }
    if (b->nrows && (rc = kiln_lake_writer_write(w, b, err)))
        goto done;
done:
    kiln_free(rev);
    kiln_batch_free(b);
    return rc;
}

/* Map result columns to writer columns: by position when named is 0 and
 * there is no column list, else by name (case-insensitive). */
static int build_map(sqlite3_stmt *st, const kiln_schema *ws, char **names, size_t nnames, int by_name, int **out,
                     kiln_err *err)
{
    int n = sqlite3_column_count(st);
    int *map = kiln_calloc((size_t)n + 1, sizeof *map);
    if (!map)
        return KILN_OOM(err);
    if (nnames && (size_t)n != nnames) {
        kiln_free(map);
        return kiln_err_set(err, KILN_EINVAL, "the column list names %zu columns but the query returns %d", nnames, n);
    }
    if (!nnames && !by_name && n > ws->ncols) {
        kiln_free(map);
        return kiln_err_set(err, KILN_EINVAL, "the query returns %d columns but the table has %d", n, ws->ncols);
    }
    for (int i = 0; i < n; i++) {
        if (!nnames && !by_name) {
            map[i] = i;
            continue;
        }
        const char *nm = nnames ? names[i] : sqlite3_column_name(st, i);
        map[i] = -1;
        for (int c = 0; c < ws->ncols; c++)
            if (!strcasecmp(ws->cols[c].name, nm))
                map[i] = c;
        if (map[i] < 0) {
            kiln_free(map);
            return kiln_err_set(err, KILN_ENOTFOUND, "the table has no column '%s'", nm);
        }
    }
    *out = map;
    return 0;
}

/* ------------------------------------------------------------ CTAS types */

const char *kiln_sql_decl_lake_type(const char *decl, char *scratch, size_t cap)
{
    if (!decl)
        return NULL;
    char up[64];
    size_t k = 0;
    for (; decl[k] && k + 1 < sizeof up; k++)
        up[k] = (char)toupper((unsigned char)decl[k]);
    up[k] = 0;
    /* an Iceberg decimal column reads as "REAL DECIMAL(P,S)" */
    const char *dp = strstr(up, "DECIMAL(");
    int prec, scale;
    if (dp && sscanf(dp, "DECIMAL(%d,%d)", &prec, &scale) == 2 && prec >= 1 && prec <= 18 && scale >= 0 &&
        scale <= prec) {
        snprintf(scratch, cap, "decimal(%d,%d)", prec, scale);
        return scratch;
    }
    if (!strncmp(up, "TIMESTAMPTZ", 11))
        return "timestamptz";
    if (!strncmp(up, "TIMESTAMP", 9))
        return "timestamp";
    if (!strncmp(up, "DATE", 4))
        return "date";
    if (!strncmp(up, "BOOLEAN", 7))
        return "boolean";
    if (!strncmp(up, "DECIMAL", 7))
        return "double";
    /* the vtab declares Iceberg int/float as INT32/FLOAT32; SQLite's own
     * INT and FLOAT hold 64-bit values */
    if (!strcmp(up, "INT32"))
        return "int";
    if (!strcmp(up, "FLOAT32"))
        return "float";
    if (strstr(up, "INT"))
        return "long";
    if (strstr(up, "CHAR") || strstr(up, "CLOB") || strstr(up, "TEXT"))
        return "string";
    if (strstr(up, "BLOB"))
        return "binary";
    if (strstr(up, "REAL") || strstr(up, "FLOA") || strstr(up, "DOUB"))
        return "double";
    return NULL;
}

static int canon_ts(const char *s, int n)
{
    int64_t us;
    return n >= 20 && s[10] == 'T' && s[n - 1] == 'Z' && kiln_ts_parse(s, (size_t)n, &us) == 0;
}

static int canon_date(const char *s, int n)
{
    int64_t d;
    return n == 10 && kiln_date_parse(s, 10, &d) == 0;
}

enum { SEEN_INT = 1, SEEN_REAL = 2, SEEN_TS = 4, SEEN_DATE = 8, SEEN_TEXT = 16, SEEN_BLOB = 32 };

static int valid_col_name(const char *s)
{
    if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

/* Schema DDL for CTAS from the query (runs it once more when a column's
 * type must be read from its values). */
static int ctas_ddl(sqlite3 *db, sqlite3_stmt *st, kiln_buf *ddl, kiln_err *err)
{
    int n = sqlite3_column_count(st), rc = 0;
    const char **types = kiln_calloc((size_t)n + 1, sizeof *types);
    int *seen = kiln_calloc((size_t)n + 1, sizeof *seen);
    char *decs = kiln_calloc((size_t)n + 1, 24);
    if (!types || !seen || !decs) {
        rc = KILN_OOM(err);
        goto done;
    }
    int need = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = sqlite3_column_name(st, i);
        if (!valid_col_name(nm)) {
            rc = kiln_err_set(err, KILN_EINVAL,
                              "result column %d '%s' is not a valid column name: give it an alias (expr AS name)",
                              i + 1, nm);
            goto done;
        }
        for (int j = 0; j < i; j++)
            if (!strcasecmp(nm, sqlite3_column_name(st, j))) {
                rc = kiln_err_set(err, KILN_EINVAL, "result column name '%s' appears twice", nm);
                goto done;
            }
        types[i] = kiln_sql_decl_lake_type(sqlite3_column_decltype(st, i), decs + (size_t)i * 24, 24);
        need |= !types[i];
    }
    if (need) {
        int src;
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            for (int i = 0; i < n; i++) {
                if (types[i])
                    continue;
                switch (sqlite3_column_type(st, i)) {
                case SQLITE_INTEGER: seen[i] |= SEEN_INT; break;
                case SQLITE_FLOAT: seen[i] |= SEEN_REAL; break;
                case SQLITE_BLOB: seen[i] |= SEEN_BLOB; break;
                case SQLITE_TEXT: {
                    const char *s = (const char *)sqlite3_column_text(st, i);
                    int len = sqlite3_column_bytes(st, i);
                    seen[i] |= canon_ts(s, len) ? SEEN_TS : canon_date(s, len) ? SEEN_DATE : SEEN_TEXT;
                    break;
                }
                }
            }
        }
        if (src != SQLITE_DONE) {
            rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
            goto done;
        }
        sqlite3_reset(st);
        for (int i = 0; i < n; i++) {
            if (types[i])
                continue;
            int s = seen[i];
            types[i] = s & (SEEN_TEXT | SEEN_BLOB) ? (s & SEEN_BLOB && !(s & ~SEEN_BLOB) ? "binary" : "string")
                       : (s & (SEEN_TS | SEEN_DATE)) && (s & (SEEN_INT | SEEN_REAL)) ? "string"
                       : s == SEEN_TS                                                ? "timestamptz"
                       : s == SEEN_DATE                                              ? "date"
                       : (s & SEEN_TS)                                               ? "string"
                       : s & SEEN_REAL                                               ? "double"
                       : s & SEEN_INT                                                ? "long"
                                                                                     : "string";
        }
    }
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad |= kiln_buf_printf(ddl, NULL, "%s%s %s", i ? ", " : "", sqlite3_column_name(st, i), types[i]);
    bad |= kiln_buf_putc(ddl, 0, NULL);
    if (bad)
        rc = KILN_OOM(err);
done:
    kiln_free(types);
    kiln_free(seen);
    kiln_free(decs);
    return rc;
}

int kiln_sql__query_columns(sqlite3 *db, sqlite3_stmt *st, kiln_buf *ddl, kiln_err *err)
{
    return ctas_ddl(db, st, ddl, err);
}

/* ------------------------------------------------------------ MERGE rewrite */

/* Tokens from lx up to a ',' (or AND when and_stops) at parenthesis depth
 * 0, or the end; lx is left before that token. Returns where it stopped. */
static size_t until_sep(lexer *lx, int and_stops, size_t end)
{
    int depth = 0;
    for (;;) {
        size_t p = lx->pos;
        tok x = next(lx);
        if (!x.kind)
            return end;
        if (is_p(lx, x, '('))
            depth++;
        else if (is_p(lx, x, ')'))
            depth--;
        else if (depth == 0 && (and_stops ? is_kw(lx, x, "AND") : is_p(lx, x, ','))) {
            lx->pos = p;
            return p;
        }
    }
}

static int is_eq(const lexer *lx, tok t) { return t.kind == 'p' && lx->s[t.b] == '=' && t.e - t.b <= 2; }

/* MERGE keys from ON: AND-ed equalities with a target column on one side
 * ("t.k = expr" or "expr = t.k"); the column names go to keys, comma-separated. */
static int merge_keys(const char *sql, wstmt *w, const kiln_schema *ws, kiln_buf *keys, long *eoff, kiln_err *err)
{
    int bad = 0;
    lexer lx = {sql, w->on_e, w->on_b};
    for (;;) {
        tok a = next(&lx);
        if (!a.kind)
            break;
        char al[129], cn[129];
        tok d = next(&lx), c = next(&lx), eq = next(&lx);
        int ok = ident(&lx, a, al, sizeof al) == 0 && is_p(&lx, d, '.') && ident(&lx, c, cn, sizeof cn) == 0 &&
                 is_eq(&lx, eq);
        if (!ok || strcasecmp(al, w->talias) != 0) {
            /* maybe "s.k = t.k": find the target side after the '=' */
            lx.pos = a.b;
            int depth = 0;
            size_t eqpos = 0;
            for (;;) {
                tok x = next(&lx);
                if (!x.kind || (depth == 0 && is_kw(&lx, x, "AND")))
                    break;
                if (is_p(&lx, x, '('))
                    depth++;
                else if (is_p(&lx, x, ')'))
                    depth--;
                else if (depth == 0 && !eqpos && (is_p(&lx, x, '=') || (x.kind == 'p' && sql[x.b] == '=')))
                    eqpos = x.e;
            }
            lexer l2 = {sql, w->on_e, eqpos};
            tok a2 = next(&l2), d2 = next(&l2), c2 = next(&l2), after = peek(&l2);
            if (!eqpos || ident(&l2, a2, al, sizeof al) != 0 || strcasecmp(al, w->talias) != 0 || !is_p(&l2, d2, '.') ||
                ident(&l2, c2, cn, sizeof cn) != 0 || !(after.kind == 0 || is_kw(&l2, after, "AND")))
                return perr(eoff, a.b, err,
                            "MERGE: ON must be equalities joined by AND, each naming a target column "
                            "(%s.col = expr)",
                            w->talias);
            lx.pos = l2.pos;
        } else {
            until_sep(&lx, 1, w->on_e);
        }
        if (kiln_schema_find(ws, cn) < 0)
            return perr(eoff, a.b, err, "MERGE: the target has no column '%s'", cn);
        bad |= kiln_buf_printf(keys, NULL, "%s%s", keys->len ? "," : "", cn);
        tok an = next(&lx);
        if (!an.kind)
            break;
        if (!is_kw(&lx, an, "AND"))
            return perr(eoff, an.b, err, "MERGE: only AND may join the ON equalities");
    }
    if (bad)
        return KILN_OOM(err);
    if (!keys->len)
        return perr(eoff, w->on_b, err, "MERGE: ON names no key");
    if (kiln_buf_putc(keys, 0, NULL))
        return KILN_OOM(err);
    keys->len--;
    return 0;
}

/* 1 if name is one of the comma-separated keys (ASCII case-insensitive). */
static int is_key(const char *keys, const char *name)
{
    size_t nl = strlen(name);
    for (const char *k = keys; k;) {
        const char *c = strchr(k, ',');
        size_t n = c ? (size_t)(c - k) : strlen(k);
        if (n == nl && !strncasecmp(k, name, n))
            return 1;
        k = c ? c + 1 : NULL;
    }
    return 0;
}

/* Table column index of a name (case-insensitive), or -1. */
static int col_index(const kiln_schema *ws, const char *name)
{
    int ci = kiln_schema_find(ws, name);
    for (int k = 0; ci < 0 && k < ws->ncols; k++)
        if (!strcasecmp(ws->cols[k].name, name))
            ci = k;
    return ci;
}

/* UPDATE SET col = expr, ...: setx[column] = expr text. */
static int merge_set_list(const char *sql, wstmt *w, const kiln_schema *ws, const char *keys, char **setx, long *eoff,
                          kiln_err *err)
{
    lexer sl = {sql, w->set_e, w->set_b};
    for (;;) {
        tok a = next(&sl);
        if (!a.kind)
            return 0;
        char cn[129];
        if (ident(&sl, a, cn, sizeof cn) != 0)
            return perr(eoff, a.b, err, "UPDATE SET: expected a column name");
        if (is_p(&sl, peek(&sl), '.')) {
            next(&sl);
            tok c2 = next(&sl);
            if (ident(&sl, c2, cn, sizeof cn) != 0)
                return perr(eoff, c2.b, err, "UPDATE SET: expected a column name");
        }
        int ci = col_index(ws, cn);
        if (ci < 0)
            return perr(eoff, a.b, err, "UPDATE SET: the target has no column '%s'", cn);
        tok eq = next(&sl);
        if (!is_p(&sl, eq, '='))
            return perr(eoff, eq.b, err, "UPDATE SET: expected '='");
        size_t eb = sl.pos, ee = until_sep(&sl, 0, w->set_e);
        if (sl.pos < w->set_e)
            next(&sl); /* the ',' */
        if (is_key(keys, ws->cols[ci].name))
            return perr(eoff, a.b, err, "UPDATE SET: '%s' is a MERGE key (named in ON) and cannot be set", cn);
        kiln_free(setx[ci]);
        if (!(setx[ci] = kiln_strndup(sql + eb, ee - eb)))
            return KILN_OOM(err);
    }
}

/* INSERT [(cols)] VALUES (expr, ...): insx[column] = expr text. */
static int merge_values(const char *sql, wstmt *w, const kiln_schema *ws, char **insx, long *eoff, kiln_err *err)
{
    lexer vl = {sql, w->ivals_e, w->ivals_b};
    size_t k = 0;
    for (;;) {
        if (!peek(&vl).kind)
            break;
        size_t eb = vl.pos, ee = until_sep(&vl, 0, w->ivals_e);
        int ci;
        if (w->icols.len) {
            if (k >= w->icols.len)
                return perr(eoff, eb, err, "INSERT: more VALUES than columns");
            ci = -1;
            for (int j = 0; j < ws->ncols; j++)
                if (!strcasecmp(ws->cols[j].name, w->icols.items[k]))
                    ci = j;
            if (ci < 0)
                return perr(eoff, eb, err, "INSERT: the target has no column '%s'", w->icols.items[k]);
        } else {
            if ((int)k >= ws->ncols)
                return perr(eoff, eb, err, "INSERT: more VALUES than the target has columns");
            ci = (int)k;
        }
        kiln_free(insx[ci]);
        if (!(insx[ci] = kiln_strndup(sql + eb, ee - eb)))
            return KILN_OOM(err);
        k++;
        if (ee == w->ivals_e)
            break;
        next(&vl); /* the ',' */
    }
    if (w->icols.len && k != w->icols.len)
        return perr(eoff, w->ivals_b, err, "INSERT: %zu columns but %zu VALUES", w->icols.len, k);
    return 0;
}

/* The one SELECT that yields the complete new row for each source row a
 * WHEN clause applies to (see the top of this file). */
static int merge_select(const char *sql, wstmt *w, const char *tgt, const kiln_schema *ws, const char *first_key,
                        char **setx, char **insx, kiln_buf *q, kiln_err *err)
{
    int bad = 0;
    char *m = sqlite3_mprintf("\"%w\".\"%w\" IS NOT NULL", w->talias, first_key);
    if (!m)
        return KILN_OOM(err);
    bad |= kiln_buf_printf(q, NULL,
                           "WITH \"__kiln_src\" AS MATERIALIZED (%s), \"__kiln_tgt\" AS MATERIALIZED (SELECT * FROM "
                           "\"%s\".\"%s\") SELECT ",
                           w->source_sql, w->ns, tgt);
    for (int c = 0; c < ws->ncols; c++) {
        const char *cn = ws->cols[c].name;
        char *upd = w->update_star ? sqlite3_mprintf("\"%w\".\"%w\"", w->salias, cn)
                    : setx[c]      ? sqlite3_mprintf("(%s)", setx[c])
                                   : sqlite3_mprintf("\"%w\".\"%w\"", w->talias, cn);
        char *ins = w->insert_star ? sqlite3_mprintf("\"%w\".\"%w\"", w->salias, cn)
                    : insx[c]      ? sqlite3_mprintf("(%s)", insx[c])
                                   : sqlite3_mprintf("NULL");
        bad |= !upd || !ins ||
               kiln_buf_printf(q, NULL, "%sCASE WHEN %s THEN %s ELSE %s END AS \"%s\"", c ? ", " : "", m, upd, ins, cn);
        sqlite3_free(upd);
        sqlite3_free(ins);
    }
    bad |=
        kiln_buf_printf(q, NULL, " FROM \"__kiln_src\" AS \"%s\" LEFT JOIN \"__kiln_tgt\" AS \"%s\" ON (%.*s) WHERE ",
                        w->salias, w->talias, (int)(w->on_e - w->on_b), sql + w->on_b);
    if (w->has_update)
        bad |=
            kiln_buf_printf(q, NULL, "(%s AND (%.*s))", m, w->ucond_e > w->ucond_b ? (int)(w->ucond_e - w->ucond_b) : 1,
                            w->ucond_e > w->ucond_b ? sql + w->ucond_b : "1");
    else
        bad |= kiln_buf_printf(q, NULL, "0");
    if (w->has_insert)
        bad |= kiln_buf_printf(q, NULL, " OR (NOT %s AND (%.*s))", m,
                               w->icond_e > w->icond_b ? (int)(w->icond_e - w->icond_b) : 1,
                               w->icond_e > w->icond_b ? sql + w->icond_b : "1");
    bad |= kiln_buf_putc(q, 0, NULL);
    sqlite3_free(m);
    return bad ? KILN_OOM(err) : 0;
}

/* MERGE rewritten into a SELECT (q) and its keys ("k1,k2"). */
static int merge_sql(const char *sql, wstmt *w, const char *tgt, const kiln_schema *ws, kiln_buf *q, kiln_buf *keys,
                     long *eoff, kiln_err *err)
{
    int rc, nc = ws->ncols;
    if ((rc = merge_keys(sql, w, ws, keys, eoff, err)))
        return rc;
    char first_key[129];
    const char *comma = strchr(keys->data, ',');
    snprintf(first_key, sizeof first_key, "%.*s", (int)(comma ? (size_t)(comma - keys->data) : keys->len), keys->data);
    char **setx = kiln_calloc((size_t)nc + 1, sizeof *setx);
    char **insx = kiln_calloc((size_t)nc + 1, sizeof *insx);
    if (!setx || !insx)
        rc = KILN_OOM(err);
    if (rc == 0 && w->has_update && !w->update_star)
        rc = merge_set_list(sql, w, ws, keys->data, setx, eoff, err);
    if (rc == 0 && w->has_insert && !w->insert_star)
        rc = merge_values(sql, w, ws, insx, eoff, err);
    if (rc == 0)
        rc = merge_select(sql, w, tgt, ws, first_key, setx, insx, q, err);
    for (int c = 0; setx && c < nc; c++)
        kiln_free(setx[c]);
    for (int c = 0; insx && c < nc; c++)
        kiln_free(insx[c]);
    kiln_free(setx);
    kiln_free(insx);
    return rc;
}

/* ------------------------------------------------------------ entry */

/* The source query of a write on the columnar executor (src/exec) when it
 * runs it: *qst is then its result, else st. */
static int exec_source(sqlite3 *db, const char *q, size_t n, sqlite3_stmt *st, kiln_exec_result **xr,
                       sqlite3_stmt **qst, kiln_err *err)
{
    char why[320];
    int rc = kiln_exec_try(db, q, n, st, xr, why, sizeof why, err);
    *qst = *xr ? kiln_exec_result_stmt(*xr) : st;
    return rc;
}

static int write_once(sqlite3 *db, const char *sql, size_t len, int mode, int *handled, size_t *used, long *err_offset,
                      FILE *out, int *retryable, kiln_err *err)
{
    int rc = 0;
    wstmt w = {0};
    kiln_lake_table *t = NULL;
    kiln_lake_writer *wr = NULL;
    sqlite3_stmt *st = NULL;
    sqlite3_stmt *qst = NULL; /* the rows to write: st, or the columnar executor's result */
    kiln_exec_result *xr = NULL;
    int *map = NULL;
    int created = 0;
    char staged[300] = "";
    const char *vb = "write";
    kiln_buf ddl, mq, keys;
    kiln_buf_init(&ddl, 0);
    kiln_buf_init(&mq, 0);
    kiln_buf_init(&keys, 0);
    *handled = 0;
    *used = 0;
    if (err_offset)
        *err_offset = -1;
    if ((rc = kiln_sql_ddl_try(db, sql, len, mode, handled, used, err_offset, out, err)) || *handled)
        return rc;
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(db);
    if (!cat && !kiln_sql_lake_missing(db))
        return 0; /* no warehouse: everything is SQLite's */
    if ((rc = parse(db, sql, len, &w, handled, used, err_offset, err)) || !*handled)
        goto done;
    static const char *const verbs[] = {"", "CREATE TABLE AS", "INSERT INTO", "INSERT OVERWRITE", "MERGE INTO"};
    vb = w.replace ? "CREATE OR REPLACE TABLE AS" : verbs[w.kind];
    if (mode == KILN_SQL_WRITE_EXPLAIN) {
        if (out)
            fprintf(out, "KILN WRITE %s %s (one Iceberg commit; not run under --explain)\n", vb, w.shown);
        goto done;
    }
    if (!(cat = kiln_sql_lake_catalog_for_write(db, w.kind == W_CTAS, &rc, err)))
        goto done;
    kiln_lake_write_opts wo = {0};
    wo.mode = w.kind == W_OVERWRITE ? KILN_LAKE_WRITE_OVERWRITE
              : w.kind == W_MERGE   ? KILN_LAKE_WRITE_MERGE
                                    : KILN_LAKE_WRITE_APPEND;
    size_t qoff = w.query_b;
    wo.branch = w.branch[0] ? w.branch : NULL;
    /* CREATE TABLE ns."t@B" AS: a new table whose rows are on branch B only
     * (main has no snapshot until B is published: a build or backfill on a
     * branch creates its new tables this way); never a replace */
    if (w.kind == W_CTAS && w.branch[0] && w.replace) {
        rc = perr(err_offset, 0, err, "CREATE OR REPLACE TABLE AS cannot name a branch (%s)%s", w.shown,
                  getenv("KILN_BRANCH") && *getenv("KILN_BRANCH")
                      ? "; KILN_BRANCH is set (a task of a backfill on a branch replaces no table)"
                      : "");
        goto done;
    }
    if (w.kind == W_CTAS) {
        size_t u;
        long eo = -1;
        if ((rc = kiln_sql_prepare(db, sql + w.query_b, w.query_e - w.query_b, &st, &u, &eo, err))) {
            if (err_offset && eo >= 0)
                *err_offset = (long)(qoff + (size_t)eo);
            goto done;
        }
        if (!st || sqlite3_column_count(st) == 0) {
            rc = perr(err_offset, w.query_b, err, "CREATE TABLE ... AS needs a query that returns rows");
            goto done;
        }
        if ((rc = exec_source(db, sql + w.query_b, w.query_e - w.query_b, st, &xr, &qst, err)))
            goto done;
        kiln_lake_table *ex = NULL;
        kiln_err e2 = {0};
        if (kiln_lake_table_load(&ex, cat, w.name, &e2) == 0 && w.replace) {
            /* written under a staging name, then swapped in (one catalog commit) */
            kiln_lake_table_free(ex);
            snprintf(staged, sizeof staged, "%s._kiln_replace_%llx", w.ns,
                     (unsigned long long)kiln_lake_snapshot_id_new());
        } else if (ex) {
            kiln_lake_table_free(ex);
            if (w.if_not_exists) {
                if (mode == KILN_SQL_WRITE_SUMMARY && out)
                    fprintf(out, "%s exists: nothing done\n", w.name);
                goto done;
            }
            rc =
                kiln_err_set(err, KILN_EEXIST, "table %s already exists (use INSERT INTO or INSERT OVERWRITE)", w.name);
            goto done;
        }
        if ((rc = ctas_ddl(db, qst, &ddl, err)))
            goto done;
        kiln_lake_create_opts co = {0};
        co.schema_ddl = ddl.data;
        co.partition = w.partition;
        if ((rc = kiln_lake_table_create(&t, cat, staged[0] ? staged : w.name, &co, err)))
            goto done;
        created = 1;
    } else {
        if ((rc = kiln_lake_table_load(&t, cat, w.name, err))) {
            if (rc == KILN_ENOTFOUND && w.kind == W_INSERT) {
                /* not an Iceberg table: leave it to SQLite */
                kiln_err_clear(err);
                rc = 0;
                *handled = 0;
                *used = 0;
            }
            goto done;
        }
    }
    if (w.kind == W_MERGE) {
        /* need the writer's schema to build the SELECT */
        kiln_lake_write_opts so = {0};
        so.mode = KILN_LAKE_WRITE_APPEND;
        so.branch = wo.branch; /* the branch's schema (one staged there may have more columns) */
        if ((rc = kiln_lake_writer_open(&wr, t, &so, err)))
            goto done;
        /* MERGE into a branch matches against the branch's rows (main's
         * when the branch does not exist yet: the lake creates it there) */
        int on_branch = w.branch[0] && kiln_lake_meta_ref(kiln_lake_table_meta(t), w.branch) != NULL;
        if (on_branch && (rc = kiln_sql_lake_add_table(db, w.name, w.branch, err)))
            goto done;
        char tgt[400];
        snprintf(tgt, sizeof tgt, "%s%s%s", w.tb, on_branch ? "@" : "", on_branch ? w.branch : "");
        if ((rc = merge_sql(sql, &w, tgt, kiln_lake_writer_schema(wr), &mq, &keys, err_offset, err)))
            goto done;
        kiln_lake_writer_free(wr);
        wr = NULL;
        wo.merge_keys = keys.data;
        size_t u;
        if ((rc = kiln_sql_prepare(db, mq.data, mq.len - 1, &st, &u, NULL, err))) {
            kiln_err_prefix(err, "MERGE (rewritten query): ");
            goto done;
        }
        /* its source is the first WITH term: the columnar executor runs
         * it when it can, SQLite joins it with the target */
        if ((rc = exec_source(db, mq.data, mq.len - 1, st, &xr, &qst, err)))
            goto done;
    } else if (!st) {
        size_t u;
        long eo = -1;
        if ((rc = kiln_sql_prepare(db, sql + w.query_b, w.query_e - w.query_b, &st, &u, &eo, err))) {
            if (err_offset && eo >= 0)
                *err_offset = (long)(qoff + (size_t)eo);
            goto done;
        }
        if (!st || sqlite3_column_count(st) == 0) {
            rc = perr(err_offset, w.query_b, err, "expected a query that returns rows");
            goto done;
        }
        if ((rc = exec_source(db, sql + w.query_b, w.query_e - w.query_b, st, &xr, &qst, err)))
            goto done;
    }
    if ((rc = kiln_lake_writer_open(&wr, t, &wo, err)))
        goto done;
    const kiln_schema *ws = kiln_lake_writer_schema(wr);
    if ((rc = build_map(qst, ws, w.cols.items, w.cols.len, w.kind == W_CTAS || w.kind == W_MERGE, &map, err)))
        goto done;
    int64_t nrows = 0;
    if ((rc = stream_rows(db, qst, wr, map, &nrows, err)))
        goto done;
    kiln_exec_result_free(xr);
    xr = NULL;
    qst = NULL;
    sqlite3_finalize(st);
    st = NULL;
    kiln_lake_write_result res = {0};
    if ((rc = kiln_lake_writer_commit(wr, &res, err)))
        goto done;
    if (staged[0]) {
        kiln_lake_table_free(t);
        t = NULL;
        if ((rc = kiln_lake_table_replace(cat, w.name, staged, err)))
            goto done;
        created = 0;
        if ((rc = kiln_sql_lake_refresh_table(db, w.name, w.name, err)))
            goto done;
    }
    created = 0;
    if (w.kind == W_CTAS && !staged[0]) {
        kiln_err e3 = {0};
        if (kiln_sql_lake_add_table(db, w.name, NULL, &e3) != 0 && out)
            kiln_warn("%s created but not visible in this session: %s", w.name, e3.msg);
    }
    if (mode == KILN_SQL_WRITE_SUMMARY && out) {
        if (res.noop)
            fprintf(out, "%s %s: nothing changed (no commit)\n", vb, w.shown);
        else if (w.kind == W_MERGE)
            fprintf(out, "%s %s: %lld inserted, %lld updated (snapshot %lld)\n", vb, w.shown,
                    (long long)res.rows_inserted, (long long)res.rows_updated, (long long)res.snapshot_id);
        else
            fprintf(out, "%s %s: %lld rows written, %lld replaced, %lld files added (snapshot %lld)\n", vb, w.shown,
                    (long long)res.rows_inserted, (long long)res.rows_deleted, (long long)res.files_added,
                    (long long)res.snapshot_id);
    }
done:
    /* a lost optimistic race of a statement that reads the table again when
     * re-run (not CREATE TABLE AS, which conflicts only with itself) */
    *retryable = rc == KILN_ECONFLICT && *handled && w.kind != W_CTAS;
    if (rc && *handled)
        kiln_err_prefix(err, "%s %s: ", vb, w.shown[0] ? w.shown : "");
    if (created) {
        /* CREATE TABLE AS failed after creating the table: remove it again */
        kiln_err e4 = {0};
        kiln_lake_table_free(t);
        t = NULL;
        kiln_lake_table_drop(cat, staged[0] ? staged : w.name, 1, &e4);
    }
    kiln_free(map);
    kiln_exec_result_free(xr);
    sqlite3_finalize(st);
    kiln_lake_writer_free(wr);
    kiln_lake_table_free(t);
    kiln_buf_free(&ddl);
    kiln_buf_free(&mq);
    kiln_buf_free(&keys);
    wstmt_free(&w);
    return rc;
}

/* A write statement that lost the optimistic race (another process committed
 * to the table, or to a partition it rewrites, after it read the table) is
 * run again from the start, reading the table as it is now: what a user
 * re-running the statement would do, so concurrent MERGEs into one table
 * serialize instead of failing, with jittered exponential backoff. Bounded by
 * time, not by a count: a long statement among fast writers can lose many
 * races in a row on a loaded machine (40 tries starved one of 5 writers at
 * load 30), so it keeps trying for KILN_WRITE_RETRY_S seconds (120) and at
 * least WRITE_TRIES times, as a lock wait would. */
enum { WRITE_TRIES = 40 };

static double write_retry_budget_s(void)
{
    const char *v = getenv("KILN_WRITE_RETRY_S");
    char *end;
    double s = v && *v ? strtod(v, &end) : 120;
    return v && *v && (*end || s < 0) ? 120 : s;
}

int kiln_sql_write_try(sqlite3 *db, const char *sql, size_t len, int mode, int *handled, size_t *used, long *err_offset,
                       FILE *out, kiln_err *err)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double budget = write_retry_budget_s();
    for (int attempt = 1;; attempt++) {
        int retryable = 0;
        int rc = write_once(db, sql, len, mode, handled, used, err_offset, out, &retryable, err);
        if (rc == 0 || !retryable)
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double spent = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (attempt >= WRITE_TRIES && spent >= budget) {
            kiln_err_prefix(err, "gave up after %d attempts in %.0f s (KILN_WRITE_RETRY_S): ", attempt, spent);
            return rc;
        }
        long cap_ms = 20L << (attempt < 6 ? attempt : 6); /* 40 ms .. 1.28 s */
        long ms = cap_ms / 2 + (long)((uint64_t)kiln_lake_snapshot_id_new() % (uint64_t)(cap_ms / 2 + 1));
        kiln_debug("%s (attempt %d, %.1f s of %.0f s; running it again in %ld ms)", err->msg, attempt, spent, budget,
                   ms);
        kiln_err_clear(err);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}
