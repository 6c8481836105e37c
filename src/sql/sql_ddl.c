/*
 * sql_ddl.c - DDL on Iceberg tables in kiln SQL. SQLite sees an Iceberg
 * table as a virtual table in an in-memory schema, so left to itself it
 * would refuse some statements with messages about virtual tables and,
 * worse, carry out others on the in-memory schema where they vanish at
 * exit (CREATE VIEW ns.v, CREATE TABLE ns.t (...)). kiln recognises these
 * statements first and does the lake operation, or fails naming the
 * statement:
 *
 *   CREATE TABLE [IF NOT EXISTS] ns.t (col type [NOT NULL], ...) [PARTITIONED BY (...)]
 *   DROP TABLE [IF EXISTS] ns.t [PURGE]      -- PURGE also deletes the files
 *   ALTER TABLE ns.t RENAME TO [ns2.]t2
 *   ALTER TABLE ns.t ADD [COLUMN] c type
 *   ALTER TABLE ns.t RENAME [COLUMN] a TO b
 *   ALTER TABLE ns.t DROP [COLUMN] c
 *   ALTER TABLE ns.t ALTER [COLUMN] c [SET DATA] TYPE type   -- widening only
 *   ALTER TABLE ns.t SET TBLPROPERTIES ('k' = 'v', ...) | UNSET TBLPROPERTIES [IF EXISTS] ('k', ...)
 *   ALTER TABLE ns.t ADD PARTITION FIELD bucket(16, id) | DROP PARTITION FIELD day(ts)
 *   CREATE INDEX / VIEW / TRIGGER in an Iceberg namespace: an error
 *
 * Each change is one catalog or metadata commit; afterwards the virtual
 * table is declared again so the session sees the new columns or name.
 * Also here: the column listing of an Iceberg table with its Iceberg types
 * (DESCRIBE, .schema).
 */
#define KILN_SQL_LEX_SHORT_NAMES
#include "sql_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

enum {
    D_CREATE = 1,
    D_DROP,
    D_RENAME,
    D_ADD_COL,
    D_RENAME_COL,
    D_DROP_COL,
    D_WIDEN_COL,
    D_SET_PROPS,
    D_UNSET_PROPS,
    D_ADD_PART,
    D_DROP_PART
};

typedef struct ddl {
    int kind;
    int if_exists, purge;
    char ns[129], tb[129], name[260];
    char to[260]; /* RENAME TO: "ns.t" */
    char col[129], col2[129];
    kiln_buf type;               /* ADD/ALTER COLUMN: Iceberg type; CREATE: schema DDL; ADD/DROP PARTITION FIELD: it */
    char *partition;             /* CREATE: PARTITIONED BY text */
    KILN_VEC(char *) keys, vals; /* SET / UNSET TBLPROPERTIES */
} ddl;

/* Consume "IF [NOT] EXISTS" when it is next; 1 if it was there. */
static int if_exists(lexer *lx, int not )
{
    if (!is_kw(lx, peek(lx), "IF"))
        return 0;
    size_t p = lx->pos;
    next(lx);
    if (not &&!is_kw(lx, next(lx), "NOT")) {
        lx->pos = p;
        return 0;
    }
    if (!is_kw(lx, next(lx), "EXISTS")) {
        lx->pos = p;
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ types */

/* A column type written in a DDL statement, as Iceberg DDL: Iceberg's own
 * spelling first (int is 32-bit, as in Iceberg), nested types as given,
 * else SQL's names (INTEGER/BIGINT -> long, TEXT/VARCHAR -> string, REAL ->
 * double, BLOB -> binary, NUMERIC(p,s) -> decimal(p,s), ...). */
static int type_text(const char *raw, size_t n, kiln_buf *out, kiln_err *err)
{
    char low[256];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof low; i++)
        if (!isspace((unsigned char)raw[i]))
            low[k++] = (char)tolower((unsigned char)raw[i]);
    low[k] = 0;
    kiln_lake_type t;
    kiln_err e2 = {0};
    const char *use = low;
    char scratch[32];
    if (!strchr(low, '<') && (kiln_lake_type_parse_primitive(&t, low, &e2) != 0 || t.kind == KILN_LAKE_UNKNOWN)) {
        if (!strncmp(low, "numeric(", 8)) {
            snprintf(scratch, sizeof scratch, "decimal(%s", low + 8);
            use = scratch;
        } else {
            char decl[256];
            snprintf(decl, sizeof decl, "%.*s", (int)n, raw);
            use = kiln_sql_decl_lake_type(decl, scratch, sizeof scratch);
        }
        if (!use)
            return kiln_err_set(err, KILN_EINVAL,
                                "unknown column type '%.*s' (Iceberg types: boolean, int, long, float, double, "
                                "decimal(P,S), date, timestamp, timestamptz, string, binary, uuid, "
                                "list<T>, map<K,V>, struct<a:T,...>; or SQL's INTEGER, TEXT, REAL, BLOB)",
                                (int)n, raw);
    }
    return kiln_buf_append(out, use, strlen(use), err);
}

/* The type of a column definition: tokens up to ',' or ')' at depth 0 (or
 * the end), with NOT NULL taken off into *required. Other constraints are
 * not Iceberg's. */
static int column_type(lexer *lx, const char *sql, int *required, kiln_buf *out, long *eoff, kiln_err *err)
{
    size_t b = peek(lx).b, e = b;
    int depth = 0;
    *required = 0;
    for (;;) {
        size_t p = lx->pos;
        tok x = next(lx);
        if (!x.kind || is_p(lx, x, ';') || (depth == 0 && (is_p(lx, x, ',') || is_p(lx, x, ')')))) {
            lx->pos = p;
            break;
        }
        if (is_p(lx, x, '(') || is_p(lx, x, '<'))
            depth++;
        else if (is_p(lx, x, ')') || is_p(lx, x, '>'))
            depth--;
        if (depth == 0 && is_kw(lx, x, "NOT") && is_kw(lx, peek(lx), "NULL")) {
            next(lx);
            *required = 1;
            continue;
        }
        if (depth == 0 && (is_kw(lx, x, "NULL") || is_kw(lx, x, "PRIMARY") || is_kw(lx, x, "UNIQUE") ||
                           is_kw(lx, x, "DEFAULT") || is_kw(lx, x, "CHECK") || is_kw(lx, x, "REFERENCES") ||
                           is_kw(lx, x, "COLLATE") || is_kw(lx, x, "GENERATED") || is_kw(lx, x, "CONSTRAINT"))) {
            if (is_kw(lx, x, "NULL"))
                continue;
            return perr(eoff, x.b, err, "column constraint %.*s is not supported on Iceberg tables (only NOT NULL)",
                        (int)(x.e - x.b), sql + x.b);
        }
        if (*required)
            return perr(eoff, x.b, err, "expected ',' or ')' after NOT NULL");
        e = x.e;
    }
    if (e == b)
        return perr(eoff, b, err, "expected a column type");
    return type_text(sql + b, e - b, out, err);
}

/* ------------------------------------------------------------ parsing */

static int parse_create(lexer *lx, const char *sql, ddl *d, long *eoff, kiln_err *err)
{
    int rc = 0;
    tok o = next(lx); /* '(' */
    for (int i = 0;; i++) {
        tok c = next(lx);
        char nm[129];
        if (kiln_sql_lex_ident(lx, c, nm, sizeof nm) != 0)
            return perr(eoff, c.b, err, "expected a column name");
        if (i && (rc = kiln_buf_append(&d->type, ", ", 2, err)))
            return rc;
        if ((rc = kiln_buf_append(&d->type, nm, strlen(nm), err)) || (rc = kiln_buf_putc(&d->type, ' ', err)))
            return rc;
        int req = 0;
        if ((rc = column_type(lx, sql, &req, &d->type, eoff, err)))
            return rc;
        if (req && (rc = kiln_buf_append(&d->type, " not null", 9, err)))
            return rc;
        tok x = next(lx);
        if (is_p(lx, x, ')'))
            break;
        if (!is_p(lx, x, ','))
            return perr(eoff, x.b, err, "expected ',' or ')' in the column list%s",
                        is_kw(lx, x, "PRIMARY") || is_kw(lx, x, "UNIQUE") || is_kw(lx, x, "FOREIGN")
                            ? " (table constraints are not supported on Iceberg tables)"
                            : "");
    }
    (void)o;
    if ((rc = kiln_buf_putc(&d->type, 0, err)))
        return rc;
    d->type.len--;
    tok t = peek(lx);
    if (is_kw(lx, t, "PARTITIONED")) {
        next(lx);
        if (!is_kw(lx, next(lx), "BY") || !is_p(lx, (o = next(lx)), '('))
            return perr(eoff, t.b, err, "expected PARTITIONED BY (...)");
        tok c = kiln_sql_lex_skip_parens(lx);
        if (!c.kind)
            return perr(eoff, o.b, err, "PARTITIONED BY: missing ')'");
        if (!(d->partition = kiln_strndup(sql + o.e, c.b - o.e)))
            return KILN_OOM(err);
    }
    return 0;
}

/* The text of a 'string' token, quotes removed and '' undoubled. */
static char *unquote(const lexer *lx, tok t)
{
    const char *s = lx->s + t.b;
    size_t n = t.e - t.b;
    if (t.kind != 's' || n < 2)
        return kiln_strndup(s, n); /* a number or word stands for itself */
    char *out = kiln_malloc(n);
    size_t k = 0;
    for (size_t i = 1; out && i + 1 < n; i++) {
        out[k++] = s[i];
        if (s[i] == '\'' && s[i + 1] == '\'')
            i++;
    }
    if (out)
        out[k] = 0;
    return out;
}

/* ('k' = 'v', ...) for SET TBLPROPERTIES, ('k', ...) for UNSET. */
static int parse_props(lexer *lx, ddl *d, long *eoff, kiln_err *err)
{
    tok o = next(lx);
    if (!is_p(lx, o, '('))
        return perr(eoff, o.b, err, "expected ( after TBLPROPERTIES");
    for (;;) {
        tok k = next(lx);
        if (k.kind != 's')
            return perr(eoff, k.b, err, "expected a property name in quotes ('name')");
        char *key = unquote(lx, k), *val = NULL;
        int rc = !key || kiln_vec_push(&d->keys, key, err) ? KILN_OOM(err) : 0;
        if (rc) {
            kiln_free(key);
            return rc;
        }
        if (d->kind == D_SET_PROPS) {
            tok eq = next(lx), v = next(lx);
            if (!is_p(lx, eq, '='))
                return perr(eoff, eq.b, err, "expected = after the property name");
            if (v.kind != 's' && v.kind != 'n' && v.kind != 'w')
                return perr(eoff, v.b, err, "expected a property value ('value')");
            val = unquote(lx, v);
            if (!val || kiln_vec_push(&d->vals, val, err)) {
                kiln_free(val);
                return KILN_OOM(err);
            }
        }
        tok x = next(lx);
        if (is_p(lx, x, ')'))
            return 0;
        if (!is_p(lx, x, ','))
            return perr(eoff, x.b, err, "expected , or ) in the property list");
    }
}

static int parse_alter(lexer *lx, const char *sql, ddl *d, long *eoff, kiln_err *err)
{
    tok a = next(lx);
    char nm[129];
    if (is_kw(lx, a, "RENAME")) {
        tok t = next(lx);
        if (is_kw(lx, t, "TO")) {
            d->kind = D_RENAME;
            size_t p = lx->pos;
            char ns2[129], tb2[129];
            if (kiln_sql_lex_name2(lx, ns2, tb2) == 0) {
                snprintf(d->to, sizeof d->to, "%s.%s", ns2, tb2);
            } else {
                lx->pos = p;
                tok n = next(lx);
                if (kiln_sql_lex_ident(lx, n, nm, sizeof nm) != 0)
                    return perr(eoff, n.b, err, "RENAME TO: expected the new name");
                snprintf(d->to, sizeof d->to, "%s.%s", d->ns, nm);
            }
            return 0;
        }
        if (is_kw(lx, t, "COLUMN"))
            t = next(lx);
        d->kind = D_RENAME_COL;
        if (kiln_sql_lex_ident(lx, t, d->col, sizeof d->col) != 0)
            return perr(eoff, t.b, err, "RENAME COLUMN: expected a column name");
        tok to = next(lx);
        if (!is_kw(lx, to, "TO"))
            return perr(eoff, to.b, err, "RENAME COLUMN: expected TO");
        tok n = next(lx);
        if (kiln_sql_lex_ident(lx, n, d->col2, sizeof d->col2) != 0)
            return perr(eoff, n.b, err, "RENAME COLUMN: expected the new name");
        return 0;
    }
    if ((is_kw(lx, a, "SET") || is_kw(lx, a, "UNSET")) && is_kw(lx, peek(lx), "TBLPROPERTIES")) {
        next(lx);
        d->kind = is_kw(lx, a, "SET") ? D_SET_PROPS : D_UNSET_PROPS;
        if (d->kind == D_UNSET_PROPS)
            d->if_exists = if_exists(lx, 0);
        return parse_props(lx, d, eoff, err);
    }
    if ((is_kw(lx, a, "ADD") || is_kw(lx, a, "DROP")) && is_kw(lx, peek(lx), "PARTITION")) {
        next(lx);
        tok f = next(lx);
        if (!is_kw(lx, f, "FIELD"))
            return perr(eoff, f.b, err, "expected PARTITION FIELD");
        d->kind = is_kw(lx, a, "ADD") ? D_ADD_PART : D_DROP_PART;
        /* the transform (day(ts), bucket(16, id), col), or for DROP a partition field's name */
        size_t b = peek(lx).b, e = b;
        for (;;) {
            size_t p = lx->pos;
            tok x = next(lx);
            if (!x.kind || is_p(lx, x, ';')) {
                lx->pos = p;
                break;
            }
            if (is_kw(lx, x, "AS"))
                return perr(eoff, x.b, err, "ADD PARTITION FIELD ... AS name: naming the field is not supported");
            if (is_p(lx, x, '('))
                x = kiln_sql_lex_skip_parens(lx);
            e = x.e;
        }
        if (e == b)
            return perr(eoff, b, err, "expected a partition transform, e.g. bucket(16, id) or day(ts)");
        int rc = kiln_buf_append(&d->type, sql + b, e - b, err);
        return rc ? rc : kiln_buf_putc(&d->type, 0, err);
    }
    if (is_kw(lx, a, "ADD") || is_kw(lx, a, "DROP") || is_kw(lx, a, "ALTER")) {
        d->kind = is_kw(lx, a, "ADD") ? D_ADD_COL : is_kw(lx, a, "DROP") ? D_DROP_COL : D_WIDEN_COL;
        tok t = next(lx);
        if (is_kw(lx, t, "COLUMN"))
            t = next(lx);
        if (kiln_sql_lex_ident(lx, t, d->col, sizeof d->col) != 0)
            return perr(eoff, t.b, err, "expected a column name");
        if (d->kind == D_DROP_COL)
            return 0;
        if (d->kind == D_WIDEN_COL) {
            tok x = next(lx);
            if (is_kw(lx, x, "SET") && is_kw(lx, next(lx), "DATA"))
                x = next(lx);
            if (!is_kw(lx, x, "TYPE"))
                return perr(eoff, x.b, err, "ALTER COLUMN: expected [SET DATA] TYPE type");
        }
        int req = 0;
        int rc = column_type(lx, sql, &req, &d->type, eoff, err);
        if (rc == 0 && req)
            rc = perr(eoff, a.b, err,
                      "a column added to an Iceberg table must allow NULL (existing rows have no value)");
        if (rc == 0)
            rc = kiln_buf_putc(&d->type, 0, err);
        return rc;
    }
    return perr(eoff, a.b, err,
                "ALTER TABLE %s: expected RENAME TO, ADD COLUMN, RENAME COLUMN, DROP COLUMN, ALTER COLUMN, "
                "SET/UNSET TBLPROPERTIES or ADD/DROP PARTITION FIELD",
                d->name);
}

static const char *verb(const ddl *d)
{
    static const char *const v[] = {"",
                                    "CREATE TABLE",
                                    "DROP TABLE",
                                    "ALTER TABLE RENAME",
                                    "ALTER TABLE ADD COLUMN",
                                    "ALTER TABLE RENAME COLUMN",
                                    "ALTER TABLE DROP COLUMN",
                                    "ALTER TABLE ALTER COLUMN",
                                    "ALTER TABLE SET TBLPROPERTIES",
                                    "ALTER TABLE UNSET TBLPROPERTIES",
                                    "ALTER TABLE ADD PARTITION FIELD",
                                    "ALTER TABLE DROP PARTITION FIELD"};
    return v[d->kind];
}

/* What the statement is; *handled 0 when not ours. */
static int parse(sqlite3 *db, const char *sql, size_t len, ddl *d, int *handled, size_t *used, long *eoff,
                 kiln_err *err)
{
    lexer lx = {sql, len, 0};
    tok t = next(&lx);
    size_t start = t.b;
    *handled = 0;
    if (is_kw(&lx, t, "CREATE")) {
        tok k = next(&lx);
        if (is_kw(&lx, k, "UNIQUE"))
            k = next(&lx);
        const char *what = is_kw(&lx, k, "INDEX")     ? "INDEX"
                           : is_kw(&lx, k, "VIEW")    ? "VIEW"
                           : is_kw(&lx, k, "TRIGGER") ? "TRIGGER"
                           : is_kw(&lx, k, "TABLE")   ? "TABLE"
                                                      : NULL;
        if (!what)
            return 0; /* TEMP objects, VIRTUAL TABLE, OR REPLACE: not here */
        int ine = if_exists(&lx, 1);
        if (kiln_sql_lex_name2(&lx, d->ns, d->tb) || !kiln_sql_is_lake_schema(db, d->ns))
            return 0;
        snprintf(d->name, sizeof d->name, "%s.%s", d->ns, d->tb);
        if (what[1] != 'A') { /* INDEX, VIEW, TRIGGER */
            *handled = 1;
            if (what[0] == 'I')
                return perr(NULL, start, err,
                            "CREATE INDEX %s: %s is an Iceberg namespace and Iceberg tables have no indexes "
                            "(scans prune files by partition and column statistics instead)",
                            d->name, d->ns);
            return perr(NULL, start, err,
                        "CREATE %s %s: %s is an Iceberg namespace, which holds only Iceberg tables (Iceberg "
                        "%ss are not supported); create a TEMP %s for this session, or one in a --db file",
                        what, d->name, d->ns, what[0] == 'V' ? "view" : "trigger", what);
        }
        if (!is_p(&lx, peek(&lx), '('))
            return 0; /* CREATE TABLE ... AS: sql_write.c */
        *handled = 1;
        d->kind = D_CREATE;
        d->if_exists = ine;
        int rc = parse_create(&lx, sql, d, eoff, err);
        if (rc)
            return rc;
    } else if (is_kw(&lx, t, "DROP")) {
        if (!is_kw(&lx, next(&lx), "TABLE"))
            return 0;
        int ie = if_exists(&lx, 0);
        if (kiln_sql_lex_name2(&lx, d->ns, d->tb) || !kiln_sql_is_lake_schema(db, d->ns))
            return 0;
        snprintf(d->name, sizeof d->name, "%s.%s", d->ns, d->tb);
        *handled = 1;
        d->kind = D_DROP;
        d->if_exists = ie;
        if (is_kw(&lx, peek(&lx), "PURGE")) {
            d->purge = 1;
            next(&lx);
        }
    } else if (is_kw(&lx, t, "ALTER")) {
        if (!is_kw(&lx, next(&lx), "TABLE"))
            return 0;
        if (kiln_sql_lex_name2(&lx, d->ns, d->tb) || !kiln_sql_is_lake_schema(db, d->ns))
            return 0;
        snprintf(d->name, sizeof d->name, "%s.%s", d->ns, d->tb);
        *handled = 1;
        int rc = parse_alter(&lx, sql, d, eoff, err);
        if (rc)
            return rc;
    } else {
        return 0;
    }
    tok x = next(&lx);
    if (x.kind && !is_p(&lx, x, ';'))
        return perr(eoff, x.b, err, "%s %s: unexpected text here", verb(d), d->name);
    *used = x.kind ? x.e : len;
    return 0;
}

/* ------------------------------------------------------------ partition specs, properties */

/* The dotted path ("s.b") of field id among fs (structs searched), into
 * out (cap 400); 1 if found. */
static int field_path(const kiln_lake_field *fs, size_t n, int32_t id, char *out, size_t cap)
{
    for (size_t i = 0; i < n; i++) {
        if (fs[i].id == id) {
            snprintf(out, cap, "%s", fs[i].name);
            return 1;
        }
        const kiln_lake_type *t = fs[i].type;
        char sub[400];
        if (t->kind == KILN_LAKE_STRUCT && field_path(t->fields, t->nfields, id, sub, sizeof sub)) {
            snprintf(out, cap, "%s.%s", fs[i].name, sub);
            return 1;
        }
    }
    return 0;
}

/* One partition field as PARTITIONED BY text: day(ts), bucket(16, id), col. */
static int spec_field_text(const kiln_lake_schema *s, const kiln_lake_part_field *pf, kiln_buf *out, kiln_err *err)
{
    char col[400];
    if (!field_path(s->fields, s->nfields, pf->source_id, col, sizeof col))
        snprintf(col, sizeof col, "?");
    const kiln_lake_transform *x = &pf->transform;
    switch (x->kind) {
    case KILN_LAKE_XF_IDENTITY: return kiln_buf_printf(out, err, "%s", col);
    case KILN_LAKE_XF_BUCKET: return kiln_buf_printf(out, err, "bucket(%d, %s)", (int)x->param, col);
    case KILN_LAKE_XF_TRUNCATE: return kiln_buf_printf(out, err, "truncate(%d, %s)", (int)x->param, col);
    case KILN_LAKE_XF_YEAR: return kiln_buf_printf(out, err, "year(%s)", col);
    case KILN_LAKE_XF_MONTH: return kiln_buf_printf(out, err, "month(%s)", col);
    case KILN_LAKE_XF_DAY: return kiln_buf_printf(out, err, "day(%s)", col);
    case KILN_LAKE_XF_HOUR: return kiln_buf_printf(out, err, "hour(%s)", col);
    default: return kiln_buf_printf(out, err, "%s(%s)", x->text ? x->text : "void", col);
    }
}

/* Compare partition texts ignoring blanks and case. */
static int same_text(const char *a, const char *b)
{
    for (;;) {
        while (isspace((unsigned char)*a))
            a++;
        while (isspace((unsigned char)*b))
            b++;
        if (!*a || !*b)
            return *a == *b;
        if (tolower((unsigned char)*a++) != tolower((unsigned char)*b++))
            return 0;
    }
}

/* The new default spec for ADD / DROP PARTITION FIELD: the current fields
 * with d->type added, or without the field whose text or name it is. */
static int new_spec(const kiln_lake_meta *m, const ddl *d, kiln_buf *out, kiln_err *err)
{
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(m);
    const kiln_lake_spec *sp = kiln_lake_meta_default_spec(m);
    kiln_buf one;
    kiln_buf_init(&one, 0);
    int rc = 0, dropped = 0;
    for (size_t i = 0; s && sp && i < sp->nfields; i++) {
        kiln_buf_reset(&one);
        if ((rc = spec_field_text(s, &sp->fields[i], &one, err)) || (rc = kiln_buf_putc(&one, 0, err)))
            break;
        if (d->kind == D_DROP_PART &&
            (same_text(one.data, d->type.data) || !strcmp(sp->fields[i].name, d->type.data))) {
            dropped++;
            continue;
        }
        if (d->kind == D_ADD_PART && same_text(one.data, d->type.data)) {
            rc = kiln_err_set(err, KILN_EEXIST, "the table is already partitioned by %s", one.data);
            break;
        }
        if ((out->len && (rc = kiln_buf_append(out, ", ", 2, err))) ||
            (rc = kiln_buf_append(out, one.data, one.len - 1, err)))
            break;
    }
    if (rc == 0 && d->kind == D_ADD_PART)
        rc = kiln_buf_printf(out, err, "%s%s", out->len ? ", " : "", d->type.data);
    if (rc == 0 && d->kind == D_DROP_PART && !dropped)
        rc = kiln_err_set(err, KILN_ENOTFOUND, "the table has no partition field %s", d->type.data);
    if (rc == 0)
        rc = kiln_buf_putc(out, 0, err);
    kiln_buf_free(&one);
    return rc;
}

/* SET / UNSET TBLPROPERTIES on the transaction; *noop = 1 when UNSET ...
 * IF EXISTS finds none of its properties (nothing to commit). */
static int alter_props(kiln_lake_txn *txn, const ddl *d, int *noop, kiln_err *err)
{
    if (d->kind == D_SET_PROPS) {
        kiln_lake_kv *kv = kiln_calloc(d->keys.len + 1, sizeof *kv);
        if (!kv)
            return KILN_OOM(err);
        for (size_t i = 0; i < d->keys.len; i++)
            kv[i] = (kiln_lake_kv){d->keys.items[i], d->vals.items[i]};
        int rc = kiln_lake_txn_set_properties(txn, kv, d->keys.len, err);
        kiln_free(kv);
        return rc;
    }
    const kiln_lake_meta *m = kiln_lake_txn_base(txn);
    const char **keys = kiln_calloc(d->keys.len + 1, sizeof *keys);
    size_t n = 0;
    if (!keys)
        return KILN_OOM(err);
    for (size_t i = 0; i < d->keys.len; i++) {
        if (kiln_lake_meta_property(m, d->keys.items[i]))
            keys[n++] = d->keys.items[i];
        else if (!d->if_exists) {
            kiln_free(keys);
            return kiln_err_set(err, KILN_ENOTFOUND, "no property '%s' (UNSET TBLPROPERTIES IF EXISTS ignores it)",
                                d->keys.items[i]);
        }
    }
    *noop = n == 0;
    int rc = n ? kiln_lake_txn_remove_properties(txn, keys, n, err) : 0;
    kiln_free(keys);
    return rc;
}

/* ------------------------------------------------------------ running */

/* One metadata commit for an ALTER TABLE that changes the schema, spec or
 * properties; *noop = 1 when there was nothing to change (no commit). */
static int alter_table(kiln_lake_catalog *cat, const ddl *d, int *noop, kiln_err *err)
{
    kiln_lake_table *t = NULL;
    kiln_lake_txn *txn = NULL;
    int rc;
    *noop = 0;
    if ((rc = kiln_lake_table_load(&t, cat, d->name, err)) || (rc = kiln_lake_txn_begin(&txn, t, err)))
        goto done;
    switch (d->kind) {
    case D_ADD_COL: rc = kiln_lake_txn_add_column(txn, NULL, d->col, d->type.data, NULL, err); break;
    case D_RENAME_COL: rc = kiln_lake_txn_rename_column(txn, d->col, d->col2, err); break;
    case D_DROP_COL: rc = kiln_lake_txn_drop_column(txn, d->col, err); break;
    case D_WIDEN_COL: rc = kiln_lake_txn_widen_column(txn, d->col, d->type.data, err); break;
    case D_SET_PROPS:
    case D_UNSET_PROPS: rc = alter_props(txn, d, noop, err); break;
    default: {
        kiln_buf spec;
        kiln_buf_init(&spec, 0);
        if ((rc = new_spec(kiln_lake_txn_base(txn), d, &spec, err)) == 0 &&
            (rc = kiln_lake_txn_add_spec(txn, spec.data, err)) == 0)
            rc = kiln_lake_txn_set_default_spec(txn, -1, err);
        kiln_buf_free(&spec);
        break;
    }
    }
    if (rc == 0 && !*noop)
        rc = kiln_lake_txn_commit(txn, NULL, NULL, err);
done:
    kiln_lake_txn_free(txn);
    kiln_lake_table_free(t);
    return rc;
}

/* IF [NOT] EXISTS: rc is the expected "exists" / "not found" code, which
 * then means nothing to do (summary to out when not NULL). 1 if so. */
static int nothing_done(int rc, int code, const ddl *d, FILE *out, const char *why, kiln_err *err)
{
    if (rc != code || !d->if_exists)
        return 0;
    kiln_err_clear(err);
    if (out)
        fprintf(out, "%s %s: %s, nothing done\n", verb(d), d->name, why);
    return 1;
}

static int run(sqlite3 *db, ddl *d, int mode, FILE *out, kiln_err *err)
{
    int rc = 0, noop = 0;
    int summary = mode == KILN_SQL_WRITE_SUMMARY && out;
    kiln_lake_catalog *cat = kiln_sql_lake_catalog_for_write(db, d->kind == D_CREATE, &rc, err);
    if (!cat) {
        if (d->kind == D_DROP && nothing_done(rc, KILN_ENOTFOUND, d, summary ? out : NULL, "no such table", err))
            return 0;
        return rc ? rc : kiln_err_set(err, KILN_EINVAL, "no warehouse attached (kiln sql --warehouse DIR)");
    }
    switch (d->kind) {
    case D_CREATE: {
        kiln_lake_table *t = NULL;
        kiln_lake_create_opts co = {0};
        co.schema_ddl = d->type.data;
        co.partition = d->partition;
        rc = kiln_lake_table_create(&t, cat, d->name, &co, err);
        kiln_lake_table_free(t);
        if (nothing_done(rc, KILN_EEXIST, d, summary ? out : NULL, "exists", err))
            return 0;
        if (rc == 0)
            rc = kiln_sql_lake_refresh_table(db, d->name, d->name, err);
        if (rc == 0 && summary)
            fprintf(out, "CREATE TABLE %s: created (%s)\n", d->name, d->type.data);
        return rc;
    }
    case D_DROP:
        rc = kiln_lake_table_drop(cat, d->name, d->purge, err);
        if (nothing_done(rc, KILN_ENOTFOUND, d, summary ? out : NULL, "no such table", err))
            return 0;
        if (rc == 0)
            rc = kiln_sql_lake_refresh_table(db, d->name, NULL, err);
        if (rc == 0 && summary)
            fprintf(out, "DROP TABLE %s: %s\n", d->name,
                    d->purge ? "dropped from the catalog and its files deleted"
                             : "dropped from the catalog; its files are kept (DROP TABLE ... PURGE deletes them)");
        return rc;
    case D_RENAME:
        rc = kiln_lake_table_rename(cat, d->name, d->to, err);
        if (rc == 0)
            rc = kiln_sql_lake_refresh_table(db, d->name, d->to, err);
        if (rc == 0 && summary)
            fprintf(out, "ALTER TABLE %s: renamed to %s\n", d->name, d->to);
        return rc;
    default:
        rc = alter_table(cat, d, &noop, err);
        if (rc == 0)
            rc = kiln_sql_lake_refresh_table(db, d->name, d->name, err);
        if (rc == 0 && summary && noop)
            fprintf(out, "ALTER TABLE %s: %s: nothing to change, nothing done\n", d->name, verb(d) + 12);
        else if (rc == 0 && summary && d->kind >= D_SET_PROPS)
            fprintf(out, "ALTER TABLE %s: %s%s%s (one metadata commit)\n", d->name, verb(d) + 12,
                    d->type.len ? " " : "", d->type.len ? d->type.data : "");
        else if (rc == 0 && summary)
            fprintf(out, "ALTER TABLE %s: %s %s%s%s (one metadata commit)\n", d->name, verb(d) + 12, d->col,
                    d->kind == D_RENAME_COL ? " TO "
                    : d->type.len           ? " "
                                            : "",
                    d->kind == D_RENAME_COL ? d->col2
                    : d->type.len           ? d->type.data
                                            : "");
        return rc;
    }
}

/* CREATE OR REPLACE TABLE t AS query on a SQLite table (SQLite has no OR
 * REPLACE for tables), in one savepoint so that a failing query leaves the
 * old table: the query fills temp._kiln_replace first (it may read t), then
 * t is dropped and created from it. With a column list instead of AS, the
 * statement runs with "OR REPLACE" blanked out after DROP TABLE IF EXISTS.
 * Error offsets stay the caller's. 1 when it is such a statement (run, rc
 * in *rc), else 0. */
static int sqlite_replace(sqlite3 *db, const char *sql, size_t len, int mode, size_t *used, long *eoff, FILE *out,
                          int *rc, kiln_err *err)
{
    lexer lx = {sql, len, 0};
    tok c = next(&lx), o = next(&lx), r = next(&lx), t = next(&lx);
    if (!is_kw(&lx, c, "CREATE") || !is_kw(&lx, o, "OR") || !is_kw(&lx, r, "REPLACE") || !is_kw(&lx, t, "TABLE"))
        return 0;
    size_t nb = lx.pos, ne = nb, qb = 0;
    char ns[129], tb[129];
    size_t p = lx.pos;
    if (kiln_sql_lex_name2(&lx, ns, tb) == 0 && kiln_sql_is_lake_schema(db, ns) &&
        (kiln_sql_lake_catalog(db) || kiln_sql_lake_missing(db)))
        return 0; /* an Iceberg table: sql_write.c */
    lx.pos = p;
    for (;;) {
        tok x = next(&lx);
        if (!x.kind || is_p(&lx, x, ';') || is_p(&lx, x, '('))
            break;
        if (is_kw(&lx, x, "AS")) {
            qb = x.e;
            break;
        }
        ne = x.e;
    }
    size_t end = kiln_sql_lex_stmt_end(&lx);
    *used = end < len ? end + 1 : len;
    *rc = 0;
    if (mode == KILN_SQL_WRITE_EXPLAIN) {
        if (out)
            fprintf(out, "KILN DDL CREATE OR REPLACE TABLE %.*s (not run under --explain)\n", (int)(ne - nb), sql + nb);
        return 1;
    }
    const char *pre = "CREATE TABLE temp._kiln_replace AS ";
    char *text = qb ? kiln_sprintf("%s%.*s", pre, (int)(end - qb), sql + qb) : kiln_strndup(sql, end);
    char *prep = sqlite3_mprintf("SAVEPOINT kiln_replace; DROP TABLE IF EXISTS temp._kiln_replace;%s%.*s",
                                 qb ? "" : " DROP TABLE IF EXISTS ", qb ? 0 : (int)(ne - nb), sql + nb);
    char *fin = sqlite3_mprintf("DROP TABLE IF EXISTS %.*s; CREATE TABLE %.*s AS SELECT * FROM temp._kiln_replace; "
                                "DROP TABLE temp._kiln_replace",
                                (int)(ne - nb), sql + nb, (int)(ne - nb), sql + nb);
    sqlite3_stmt *st = NULL;
    if (!text || !prep || !fin) {
        *rc = KILN_OOM(err);
        goto done;
    }
    if (!qb)
        memset(text + o.b, ' ', r.e - o.b);
    if (sqlite3_exec(db, prep, NULL, NULL, NULL) != SQLITE_OK) {
        *rc = kiln_err_set(err, KILN_EFORMAT, "CREATE OR REPLACE TABLE: %s", sqlite3_errmsg(db));
        goto undo;
    }
    size_t u;
    long off = -1;
    if ((*rc = kiln_sql_prepare(db, text, strlen(text), &st, &u, &off, err)) == 0 && st) {
        int src;
        while ((src = sqlite3_step(st)) == SQLITE_ROW)
            ;
        if (src != SQLITE_DONE)
            *rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
    }
    if (eoff && off >= 0)
        *eoff = qb ? (off >= (long)strlen(pre) ? off - (long)strlen(pre) + (long)qb : -1) : off;
    sqlite3_finalize(st);
    if (*rc == 0 && qb && sqlite3_exec(db, fin, NULL, NULL, NULL) != SQLITE_OK)
        *rc = kiln_err_set(err, KILN_EFORMAT, "CREATE OR REPLACE TABLE: %s", sqlite3_errmsg(db));
undo:
    sqlite3_exec(db, *rc ? "ROLLBACK TO kiln_replace; RELEASE kiln_replace" : "RELEASE kiln_replace", NULL, NULL, NULL);
done:
    kiln_free(text);
    sqlite3_free(prep);
    sqlite3_free(fin);
    return 1;
}

int kiln_sql_ddl_try(sqlite3 *db, const char *sql, size_t len, int mode, int *handled, size_t *used, long *err_offset,
                     FILE *out, kiln_err *err)
{
    int rc = 0;
    if ((*handled = sqlite_replace(db, sql, len, mode, used, err_offset, out, &rc, err)))
        return rc;
    if (!kiln_sql_lake_catalog(db) && !kiln_sql_lake_missing(db))
        return 0; /* no warehouse: no Iceberg tables */
    if ((rc = kiln_sql__view_ddl(db, sql, len, mode, handled, used, err_offset, out, err)) || *handled)
        return rc;
    ddl d = {0};
    kiln_buf_init(&d.type, 1 << 16);
    rc = parse(db, sql, len, &d, handled, used, err_offset, err);
    if (rc == 0 && *handled) {
        if (mode == KILN_SQL_WRITE_EXPLAIN) {
            if (out)
                fprintf(out, "KILN DDL %s %s (not run under --explain)\n", verb(&d), d.name);
        } else {
            rc = run(db, &d, mode, out, err);
        }
    }
    if (rc && *handled && d.kind)
        kiln_err_prefix(err, "%s %s: ", verb(&d), d.name);
    kiln_buf_free(&d.type);
    kiln_free(d.partition);
    for (size_t i = 0; i < d.keys.len; i++)
        kiln_free(d.keys.items[i]);
    for (size_t i = 0; i < d.vals.len; i++)
        kiln_free(d.vals.items[i]);
    kiln_vec_free(&d.keys);
    kiln_vec_free(&d.vals);
    return rc;
}

/* ------------------------------------------------------------ describing */

int kiln_sql_lake_type_text(kiln_buf *out, const kiln_lake_type *t, kiln_err *err)
{
    int rc = 0;
    switch (t->kind) {
    case KILN_LAKE_LIST:
        if ((rc = kiln_buf_append(out, "list<", 5, err)) || (rc = kiln_sql_lake_type_text(out, t->element, err)))
            return rc;
        return kiln_buf_putc(out, '>', err);
    case KILN_LAKE_MAP:
        if ((rc = kiln_buf_append(out, "map<", 4, err)) || (rc = kiln_sql_lake_type_text(out, t->key, err)) ||
            (rc = kiln_buf_putc(out, ',', err)) || (rc = kiln_sql_lake_type_text(out, t->value, err)))
            return rc;
        return kiln_buf_putc(out, '>', err);
    case KILN_LAKE_STRUCT:
        if ((rc = kiln_buf_append(out, "struct<", 7, err)))
            return rc;
        for (size_t i = 0; i < t->nfields; i++) {
            const kiln_lake_field *f = &t->fields[i];
            if ((i && (rc = kiln_buf_putc(out, ',', err))) || (rc = kiln_buf_printf(out, err, "%s:", f->name)) ||
                (rc = kiln_sql_lake_type_text(out, f->type, err)))
                return rc;
        }
        return kiln_buf_putc(out, '>', err);
    default: return kiln_buf_append(out, t->name, strlen(t->name), err);
    }
}

int kiln_sql_lake_columns(sqlite3 *db, const char *name,
                          int (*fn)(void *ctx, const char *col, const char *type, int required), void *ctx,
                          char **partition, kiln_err *err)
{
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(db);
    kiln_lake_table *t = NULL;
    kiln_buf ty;
    kiln_buf_init(&ty, 0);
    *partition = NULL;
    int rc;
    if (!cat)
        return kiln_err_set(err, KILN_ENOTFOUND, "no warehouse attached");
    if ((rc = kiln_lake_table_load(&t, cat, name, err))) {
        kiln_lake_view_def d; /* an Iceberg view: its schema's columns */
        if (rc == KILN_ENOTFOUND && kiln_lake_view_def_load(cat, name, "kiln", &d, &(kiln_err){0}) == 0) {
            rc = 0;
            for (int i = 0; i < d.ncols && !rc; i++)
                rc = fn(ctx, d.cols[i], d.types[i], 0);
            kiln_lake_view_def_free(&d);
            if (!rc && !(*partition = kiln_strdup("")))
                rc = KILN_OOM(err);
        }
        goto done;
    }
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(m);
    for (size_t i = 0; s && i < s->nfields; i++) {
        kiln_buf_reset(&ty);
        if ((rc = kiln_sql_lake_type_text(&ty, s->fields[i].type, err)) || (rc = kiln_buf_putc(&ty, 0, err)) ||
            (rc = fn(ctx, s->fields[i].name, ty.data, s->fields[i].required)))
            goto done;
    }
    /* the default spec as PARTITIONED BY text: day(ts), bucket(16, id) */
    const kiln_lake_spec *sp = kiln_lake_meta_default_spec(m);
    kiln_buf_reset(&ty);
    for (size_t i = 0; sp && s && i < sp->nfields; i++)
        if ((i && (rc = kiln_buf_append(&ty, ", ", 2, err))) || (rc = spec_field_text(s, &sp->fields[i], &ty, err)))
            goto done;
    if (!(*partition = kiln_strndup(ty.data ? ty.data : "", ty.len)))
        rc = KILN_OOM(err);
done:
    kiln_buf_free(&ty);
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ DESCRIBE, SHOW TABLES */

typedef struct vals_ctx {
    kiln_buf *q;
    int n;
} vals_ctx;

static int add_val(void *p, const char *col, const char *type, int required)
{
    vals_ctx *v = p;
    char *row = sqlite3_mprintf("%s(%Q, %Q, %Q)", v->n++ ? ", " : "", col, type, required ? "NO" : "YES");
    int rc = row ? kiln_buf_append(v->q, row, strlen(row), NULL) : KILN_ENOMEM;
    sqlite3_free(row);
    return rc;
}

/* "col type [NOT NULL]" for .schema's CREATE TABLE */
static int schema_col(void *p, const char *col, const char *type, int required)
{
    vals_ctx *v = p;
    return kiln_buf_printf(v->q, NULL, "%s%s %s%s", v->n++ ? ", " : "", col, type, required ? " NOT NULL" : "");
}

static const char show_tables_sql[] =
    "SELECT CASE WHEN schema = 'main' THEN name ELSE schema || '.' || name END AS name, "
    "CASE WHEN type = 'virtual' THEN 'iceberg' ELSE type END AS type FROM pragma_table_list "
    "WHERE type IN ('table', 'view', 'virtual') AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%@%' "
    "ORDER BY schema <> 'main', schema = 'temp', 1";

/* The query behind DESCRIBE name: Iceberg tables from their current schema
 * (Iceberg types), others from SQLite's pragma_table_info. */
static int describe_query(sqlite3 *db, const char *ns, const char *tb, sqlite3_stmt **st, kiln_err *err)
{
    int rc = 0;
    char *part = NULL;
    kiln_buf q;
    kiln_buf_init(&q, 0);
    char name[260], found_ns[129] = "";
    if (!ns[0] && kiln_sql_lake_catalog(db)) {
        /* an unqualified name that is an Iceberg table (in one namespace) */
        sqlite3_stmt *f = NULL;
        if (sqlite3_prepare_v2(db, "SELECT schema FROM pragma_table_list WHERE name = ?1 AND type = 'virtual'", -1, &f,
                               NULL) == SQLITE_OK) {
            sqlite3_bind_text(f, 1, tb, -1, SQLITE_STATIC);
            if (sqlite3_step(f) == SQLITE_ROW)
                snprintf(found_ns, sizeof found_ns, "%s", (const char *)sqlite3_column_text(f, 0));
            if (sqlite3_step(f) == SQLITE_ROW)
                found_ns[0] = 0; /* in several: SQLite's rules below */
        }
        sqlite3_finalize(f);
        if (found_ns[0])
            ns = found_ns;
    }
    snprintf(name, sizeof name, "%s.%s", ns, tb);
    if (ns[0] && kiln_sql_is_lake_schema(db, ns) && kiln_sql_lake_catalog(db)) {
        vals_ctx v = {&q, 0};
        kiln_buf_printf(&q, NULL,
                        "SELECT column1 AS column_name, column2 AS column_type, column3 AS \"null\" "
                        "FROM (VALUES ");
        if ((rc = kiln_sql_lake_columns(db, name, add_val, &v, &part, err))) {
            if (rc == KILN_ENOTFOUND)
                rc = kiln_err_set(err, KILN_EFORMAT, "DESCRIBE: no such table: %s", name);
            goto done;
        }
        if (!v.n)
            kiln_buf_printf(&q, NULL, "(NULL, NULL, NULL)) WHERE 0");
        else
            kiln_buf_putc(&q, ')', NULL);
    } else {
        /* pragma_table_info(table, schema): schema NULL searches them all */
        char *s = sqlite3_mprintf("SELECT name AS column_name, type AS column_type, CASE WHEN \"notnull\" THEN 'NO' "
                                  "ELSE 'YES' END AS \"null\" FROM pragma_table_info(%Q, %Q) ORDER BY cid",
                                  tb, ns[0] ? ns : NULL);
        char *chk = sqlite3_mprintf("SELECT 1 FROM pragma_table_info(%Q, %Q)", tb, ns[0] ? ns : NULL);
        sqlite3_stmt *c = NULL;
        int found = chk && sqlite3_prepare_v2(db, chk, -1, &c, NULL) == SQLITE_OK && sqlite3_step(c) == SQLITE_ROW;
        sqlite3_finalize(c);
        sqlite3_free(chk);
        if (s)
            kiln_buf_append(&q, s, strlen(s), NULL);
        sqlite3_free(s);
        if (!found) {
            rc = kiln_err_set(err, KILN_EFORMAT, "DESCRIBE: no such table: %s%s%s", ns, ns[0] ? "." : "", tb);
            goto done;
        }
    }
    if (kiln_buf_putc(&q, 0, NULL)) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (sqlite3_prepare_v2(db, q.data, -1, st, NULL) != SQLITE_OK)
        rc = kiln_err_set(err, KILN_EFORMAT, "DESCRIBE: %s", sqlite3_errmsg(db));
done:
    kiln_free(part);
    kiln_buf_free(&q);
    return rc;
}

int kiln_sql_meta_prepare(sqlite3 *db, const char *sql, size_t len, int *handled, sqlite3_stmt **st, size_t *used,
                          long *eoff, kiln_err *err)
{
    lexer lx = {sql, len, 0};
    tok t = next(&lx);
    *handled = 0;
    *st = NULL;
    char ns[129] = "", tb[129] = "";
    int describe = is_kw(&lx, t, "DESCRIBE") || is_kw(&lx, t, "DESC");
    if (is_kw(&lx, t, "SHOW")) {
        tok x = next(&lx);
        if (!is_kw(&lx, x, "TABLES"))
            return 0;
    } else if (describe) {
        if (is_kw(&lx, peek(&lx), "TABLE"))
            next(&lx);
        tok x = peek(&lx);
        if (x.kind && !is_p(&lx, x, ';')) {
            size_t p = lx.pos;
            if (kiln_sql_lex_name2(&lx, ns, tb) != 0) {
                lx.pos = p;
                ns[0] = 0;
                tok n = next(&lx);
                if (kiln_sql_lex_ident(&lx, n, tb, sizeof tb) != 0)
                    return 0; /* DESCRIBE SELECT ...: not ours */
            }
        }
    } else {
        return 0;
    }
    *handled = 1;
    tok x = next(&lx);
    if (x.kind && !is_p(&lx, x, ';'))
        return perr(eoff, x.b, err, "%s: unexpected text here", describe ? "DESCRIBE" : "SHOW TABLES");
    *used = x.kind ? x.e : len;
    if (describe && tb[0])
        return describe_query(db, ns, tb, st, err);
    if (sqlite3_prepare_v2(db, show_tables_sql, -1, st, NULL) != SQLITE_OK)
        return kiln_err_set(err, KILN_EFORMAT, "SHOW TABLES: %s", sqlite3_errmsg(db));
    return 0;
}

int kiln_sql_schema_print(sqlite3 *db, const char *name, FILE *out, kiln_err *err)
{
    /* SQLite's own objects, as .schema in sqlite3 prints them */
    sqlite3_stmt *st = NULL;
    const char *dot = name ? strchr(name, '.') : NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT sql || ';' FROM sqlite_schema WHERE sql IS NOT NULL AND (?1 IS NULL OR "
                           "tbl_name = ?1) ORDER BY tbl_name, type DESC, name",
                           -1, &st, NULL) != SQLITE_OK)
        return kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
    if (name && !dot)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    while (!(name && dot) && sqlite3_step(st) == SQLITE_ROW)
        fprintf(out, "%s\n", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    /* Iceberg tables as the CREATE TABLE that would make them again */
    if (!kiln_sql_lake_catalog(db))
        return 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT schema || '.' || name FROM pragma_table_list WHERE type = 'virtual' AND "
                           "name NOT LIKE '%@%' AND (?1 IS NULL OR schema || '.' || name = ?1 OR name = ?1) "
                           "ORDER BY 1",
                           -1, &st, NULL) != SQLITE_OK)
        return kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    kiln_buf q;
    kiln_buf_init(&q, 0);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *tn = (const char *)sqlite3_column_text(st, 0);
        vals_ctx v = {&q, 0};
        char *part = NULL;
        kiln_buf_reset(&q);
        if ((rc = kiln_sql_lake_columns(db, tn, schema_col, &v, &part, err)))
            break;
        fprintf(out, "CREATE TABLE %s (%.*s)%s%s%s;\n", tn, (int)q.len, q.data ? q.data : "",
                part[0] ? " PARTITIONED BY (" : "", part, part[0] ? ")" : "");
        kiln_free(part);
    }
    kiln_buf_free(&q);
    sqlite3_finalize(st);
    return rc;
}
