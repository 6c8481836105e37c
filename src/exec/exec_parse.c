/*
 * exec_parse.c - the recognizer of the SELECT shapes the columnar executor
 * runs (exec_int.h): a small recursive-descent parser over src/sql's one
 * SQL token scanner. It accepts only what it can run with SQLite's exact
 * meaning (name resolution, operator precedence, affinity of literals);
 * anything else is declined with the reason, and SQLite runs the statement.
 */
#include "exec_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sql/sql_int.h"

typedef struct P {
    kiln_sql_lexer lx;
    xquery *q;
    char *why;
    size_t cap;
    int failed;
    char alias[129];    /* the table's alias, "" when none */
    const char *tbname; /* the name FROM uses: the table's, or the WITH term's */
    int extras;         /* names may be the WITH term's extra columns */
    int alias_ok;       /* unknown identifiers may name select-list aliases (GROUP BY, ORDER BY) */
    char *item_alias[X_MAX];
} P;

static void *fail(P *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void *fail(P *p, const char *fmt, ...)
{
    if (!p->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->why, p->cap, fmt, ap);
        va_end(ap);
        p->failed = 1;
    }
    return NULL;
}

static kiln_sql_tok nx(P *p) { return kiln_sql_lex_next(&p->lx); }
static kiln_sql_tok pk(P *p) { return kiln_sql_lex_peek(&p->lx); }
static int kw(P *p, kiln_sql_tok t, const char *k) { return kiln_sql_lex_kw(&p->lx, t, k); }
static int pc(P *p, kiln_sql_tok t, char c) { return kiln_sql_lex_p(&p->lx, t, c); }
static int p2(P *p, kiln_sql_tok t, const char *s)
{
    return t.kind == 'p' && t.e - t.b == strlen(s) && memcmp(p->lx.s + t.b, s, t.e - t.b) == 0;
}
static int tok_text(P *p, kiln_sql_tok t, char *out, size_t cap)
{
    size_t n = t.e - t.b;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p->lx.s + t.b, n);
    out[n] = 0;
    return 0;
}

static const char *const reserved[] = {
    "from",      "where",     "group",  "order", "limit",  "having",  "union",  "window",  "offset", "as",
    "and",       "or",        "not",    "is",    "in",     "between", "like",   "glob",    "escape", "collate",
    "asc",       "desc",      "join",   "on",    "using",  "natural", "left",   "inner",   "cross",  "outer",
    "except",    "intersect", "null",   "over",  "filter", "nulls",   "isnull", "notnull", "regexp", "match",
    "select",    "distinct",  "all",    "case",  "when",   "then",    "else",   "end",     "full",   "right",
    "returning", "indexed",   "exists", "cast",  "not",    NULL};

static int is_reserved(P *p, kiln_sql_tok t)
{
    if (t.kind != 'w')
        return 0;
    for (int i = 0; reserved[i]; i++)
        if (kw(p, t, reserved[i]))
            return 1;
    return 0;
}

static xnode *node(P *p, xnode_kind k)
{
    xnode *n = kiln_arena_alloc(p->q->a, sizeof *n);
    if (!n)
        return fail(p, "out of memory");
    memset(n, 0, sizeof *n);
    n->k = k;
    n->col = -1;
    return n;
}

int kiln_exec__col_vtype(const kiln_column_def *c, int *vt)
{
    switch (c->type) {
    case KILN_T_BOOL:
    case KILN_T_INT32:
    case KILN_T_INT64: *vt = V_INT; return 1;
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE: *vt = V_REAL; return 1;
    case KILN_T_DECIMAL:
        if (c->precision > 15)
            return 0; /* SQLite sees exact text */
        *vt = V_REAL;
        return 1;
    case KILN_T_STRING: *vt = V_TEXT; return 1;
    case KILN_T_DATE: *vt = V_DATE; return 1;
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: *vt = V_TS; return 1;
    default: return 0;
    }
}

static int numeric(int vt) { return vt == V_INT || vt == V_REAL; }

/* The SQLite class of an operand: its V_ type (V_NULL for a NULL literal). */
static int vclass(const xquery *q, const xnode *n)
{
    if (n->k == N_LIT)
        return n->lit.t;
    int vt = 0;
    if (n->k == N_COL)
        kiln_exec__col_vtype(&q->schema->cols[n->col], &vt);
    return vt;
}

static int lit_class(int vt) { return vt == V_NULL ? 0 : numeric(vt) ? C_NUM : C_TEXT; }

int kiln_exec__class(const xquery *q, const xnode *n)
{
    int c = 0;
    switch (n->k) {
    case N_COL:
    case N_LIT: return lit_class(vclass(q, n));
    case N_TRUNC:
    case N_CONCAT:
    case N_SUBSTR: return C_TEXT;
    case N_STRFN: return n->fn == 3 ? C_NUM : C_TEXT;
    case N_KEYREF: return kiln_exec__class(q, n->a);
    case N_CAST: return n->fn == V_TEXT ? C_TEXT : C_NUM;
    case N_AGG:
        if (n->fn == A_MIN || n->fn == A_MAX)
            return n->a ? kiln_exec__class(q, n->a) : lit_class(vclass(q, &(xnode){.k = N_COL, .col = n->col}));
        return C_NUM;
    case N_CASE:
        for (int i = 1; i < n->nlist; i += 2)
            c |= kiln_exec__class(q, n->list[i]);
        return n->c ? c | kiln_exec__class(q, n->c) : c;
    case N_COALESCE:
        for (int i = 0; i < n->nlist; i++)
            c |= kiln_exec__class(q, n->list[i]);
        return c;
    default: return C_NUM; /* booleans, iso_week, arithmetic */
    }
}

static xnode *column(P *p, const char *name)
{
    const kiln_schema *s = p->q->schema;
    for (int i = 0; i < s->ncols; i++) {
        if (strcasecmp(s->cols[i].name, name) == 0) {
            int vt;
            if (!kiln_exec__col_vtype(&s->cols[i], &vt))
                return fail(p, "column %s has type %s, which the columnar path does not read", s->cols[i].name,
                            kiln_type_name(s->cols[i].type));
            xnode *n = node(p, N_COL);
            if (n)
                n->col = i;
            return n;
        }
    }
    for (int i = 0; p->extras && i < p->q->nextra; i++)
        if (strcasecmp(p->q->extra_name[i], name) == 0)
            return p->q->extra[i];
    if (p->alias_ok)
        for (int i = 0; i < p->q->nitems; i++)
            if (p->item_alias[i] && strcasecmp(p->item_alias[i], name) == 0)
                return p->q->items[i].src;
    return fail(p, "%s is not a column of %s.%s", name, p->q->ns, p->q->tb);
}

/* A number token (with an optional sign) as SQLite reads the literal. */
static xnode *number(P *p, kiln_sql_tok t, int neg)
{
    char buf[64];
    if (t.e - t.b >= sizeof buf)
        return fail(p, "number literal too long");
    tok_text(p, t, buf, sizeof buf);
    xnode *n = node(p, N_LIT);
    if (!n)
        return NULL;
    int digits = 1;
    for (const char *c = buf; *c; c++)
        if (*c < '0' || *c > '9')
            digits = 0;
    if (digits) {
        errno = 0;
        unsigned long long u = strtoull(buf, NULL, 10);
        if (errno == 0 && (u <= (unsigned long long)INT64_MAX || (neg && u == (unsigned long long)INT64_MAX + 1))) {
            n->lit.t = V_INT;
            n->lit.i = neg ? (int64_t)(0 - u) : (int64_t)u;
            return n;
        }
        /* too big for an integer: SQLite reads it as a real */
    }
    if ((buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')))
        return fail(p, "hexadecimal literal");
    char *end = NULL;
    double d = strtod(buf, &end);
    if (!end || *end)
        return fail(p, "number literal %s", buf);
    n->lit.t = V_REAL;
    n->lit.d = neg ? -d : d;
    return n;
}

static xnode *parse_expr(P *p);
static int is_bool(const xnode *n);
static int same_class(P *p, xnode *a, xnode *b);
static xnode *additive(P *p);

static xnode *col_arg(P *p)
{
    kiln_sql_tok t = nx(p);
    if (t.kind != 'w' && t.kind != 'q')
        return fail(p, "a function argument that is not a column");
    char a[129], b[129];
    if (kiln_sql_lex_ident(&p->lx, t, a, sizeof a))
        return fail(p, "identifier too long");
    if (pc(p, pk(p), '.')) {
        nx(p);
        kiln_sql_tok t2 = nx(p);
        if (kiln_sql_lex_ident(&p->lx, t2, b, sizeof b))
            return fail(p, "qualified name");
        if (strcasecmp(a, p->tbname ? p->tbname : p->q->tb) && strcasecmp(a, p->alias))
            return fail(p, "%s.%s does not name the table", a, b);
        return column(p, b);
    }
    return column(p, a);
}

static int contains(const xnode *n, xnode_kind k)
{
    if (!n)
        return 0;
    if (n->k == k)
        return 1;
    if (contains(n->a, k) || contains(n->b, k) || contains(n->c, k))
        return 1;
    for (int i = 0; i < n->nlist; i++)
        if (contains(n->list[i], k))
            return 1;
    return 0;
}

static xnode **new_list(P *p, int n)
{
    xnode **l = kiln_arena_alloc(p->q->a, (size_t)n * sizeof *l);
    if (!l)
        fail(p, "out of memory");
    return l;
}

/* An integer literal (with an optional sign) as a function argument. */
static int int_arg(P *p, int64_t *v)
{
    xnode *e = parse_expr(p);
    /* negative starts and lengths take branches that differ between
     * SQLite versions: declined */
    if (!e || e->k != N_LIT || e->lit.t != V_INT || e->lit.i < 0 || e->lit.i > (INT64_C(1) << 30))
        return fail(p, "substr() with positions other than non-negative integer literals"), -1;
    *v = e->lit.i;
    return 0;
}

static xnode *function(P *p, kiln_sql_tok name)
{
    static const char *const aggs[] = {"count", "sum", "avg", "min", "max"};
    nx(p); /* '(' */
    for (int i = 0; i < 5; i++) {
        if (!kw(p, name, aggs[i]))
            continue;
        xnode *n = node(p, N_AGG);
        if (!n)
            return NULL;
        if (i == 0 && pc(p, pk(p), '*')) {
            nx(p);
            n->fn = A_COUNT_STAR;
        } else {
            n->fn = i == 0 ? A_COUNT : i == 1 ? A_SUM : i == 2 ? A_AVG : i == 3 ? A_MIN : A_MAX;
            if (kw(p, pk(p), "distinct")) {
                nx(p);
                if (n->fn != A_COUNT)
                    return fail(p, "DISTINCT in %s()", aggs[i]);
                n->distinct = 1;
            } else if (kw(p, pk(p), "all")) {
                nx(p);
            }
            if (pc(p, pk(p), ')'))
                return fail(p, "%s() without arguments", aggs[i]);
            xnode *c = parse_expr(p);
            if (!c)
                return NULL;
            if (contains(c, N_AGG))
                return fail(p, "an aggregate inside an aggregate");
            if (c->k == N_COL) {
                n->col = c->col;
            } else {
                n->a = c;
                if (c->k == N_LIT)
                    return fail(p, "an aggregate of a literal");
            }
            int cl = kiln_exec__class(p->q, c);
            if ((n->fn == A_SUM || n->fn == A_AVG) && (c->k == N_COL ? vclass(p->q, c) != V_INT : (cl & C_TEXT) != 0))
                return fail(p, "%s() of other than integers (a floating-point sum depends on row order)", aggs[i]);
        }
        if (!pc(p, nx(p), ')'))
            return fail(p, "%s() with more than one argument", aggs[i]);
        return n;
    }
    if (kw(p, name, "lower") || kw(p, name, "upper") || kw(p, name, "length")) {
        xnode *n = node(p, N_STRFN);
        if (!n || !(n->a = parse_expr(p)))
            return NULL;
        n->fn = kw(p, name, "lower") ? 1 : kw(p, name, "upper") ? 2 : 3;
        if (!pc(p, nx(p), ')'))
            return fail(p, "lower/upper/length() with more than one argument");
        return n;
    }
    if (kw(p, name, "date_trunc") || kw(p, name, "iso_week") || kw(p, name, "iso_year")) {
        xnode *n = node(p, kw(p, name, "date_trunc") ? N_TRUNC : N_ISOWEEK);
        if (!n)
            return NULL;
        n->unit = kw(p, name, "iso_year"); /* N_ISOWEEK: 1 for the ISO year */
        if (n->k == N_TRUNC) {
            static const char *const units[] = {"second", "minute", "hour", "day", "week", "month", "quarter", "year"};
            kiln_sql_tok u = nx(p);
            char ub[32];
            n->unit = -1;
            if (u.kind == 's' && u.e - u.b < sizeof ub) {
                memcpy(ub, p->lx.s + u.b + 1, u.e - u.b - 2);
                ub[u.e - u.b - 2] = 0;
                for (int k = 0; k < 8; k++)
                    if (strcasecmp(ub, units[k]) == 0)
                        n->unit = k;
            }
            if (n->unit < 0)
                return fail(p, "date_trunc unit is not a known unit literal");
            if (!pc(p, nx(p), ','))
                return fail(p, "date_trunc arguments");
        }
        xnode *c = col_arg(p);
        if (!c)
            return NULL;
        if (c->k != N_COL)
            return fail(p, "a date function of a select-list alias");
        int vt = vclass(p->q, c);
        if (vt != V_TS && vt != V_DATE)
            return fail(p, "a date function of column %s, which is not a date or timestamp",
                        p->q->schema->cols[c->col].name);
        n->col = c->col;
        if (!pc(p, nx(p), ')'))
            return fail(p, "date function arguments");
        return n;
    }
    if (kw(p, name, "coalesce") || kw(p, name, "ifnull")) {
        xnode *n = node(p, N_COALESCE);
        if (!n || !(n->list = new_list(p, 64)))
            return NULL;
        for (;;) {
            xnode *e = parse_expr(p);
            if (!e)
                return NULL;
            if (n->nlist >= 64)
                return fail(p, "coalesce() with more than 64 arguments");
            n->list[n->nlist++] = e;
            kiln_sql_tok t = nx(p);
            if (pc(p, t, ')'))
                break;
            if (!pc(p, t, ','))
                return fail(p, "coalesce() arguments");
        }
        if (n->nlist < 2 || (kw(p, name, "ifnull") && n->nlist != 2))
            return fail(p, "coalesce()/ifnull() argument count");
        return n;
    }
    if (kw(p, name, "substr") || kw(p, name, "substring")) {
        xnode *n = node(p, N_SUBSTR);
        if (!n || !(n->a = parse_expr(p)))
            return NULL;
        if (kiln_exec__class(p->q, n->a) != C_TEXT)
            return fail(p, "substr() of other than text");
        if (!pc(p, nx(p), ',') || int_arg(p, &n->lit.i))
            return fail(p, "substr() arguments");
        kiln_sql_tok t = nx(p);
        if (pc(p, t, ',')) {
            int64_t len;
            if (int_arg(p, &len) || !(n->c = node(p, N_LIT)))
                return NULL;
            n->c->lit.t = V_INT;
            n->c->lit.i = len;
            t = nx(p);
        }
        if (!pc(p, t, ')'))
            return fail(p, "substr() arguments");
        return n;
    }
    char fn[64];
    tok_text(p, name, fn, sizeof fn);
    return fail(p, "function %s()", fn);
}

/* SQLite's affinity of a CAST type name (sqlite3AffinityType): V_INT,
 * V_REAL, V_TEXT, or -1 (NUMERIC / BLOB: not supported). */
static int cast_type(const char *t)
{
    char u[129];
    size_t n = strlen(t);
    for (size_t i = 0; i <= n && i < sizeof u; i++)
        u[i] = (char)(t[i] >= 'a' && t[i] <= 'z' ? t[i] - 32 : t[i]);
    u[sizeof u - 1] = 0;
    if (strstr(u, "INT"))
        return V_INT;
    if (strstr(u, "CHAR") || strstr(u, "CLOB") || strstr(u, "TEXT"))
        return V_TEXT;
    if (strstr(u, "BLOB") || !u[0])
        return -1;
    if (strstr(u, "REAL") || strstr(u, "FLOA") || strstr(u, "DOUB"))
        return V_REAL;
    return -1;
}

static xnode *parse_case(P *p)
{
    xnode *n = node(p, N_CASE);
    if (!n || !(n->list = new_list(p, 128)))
        return NULL;
    if (!kw(p, pk(p), "when")) {
        if (!(n->a = parse_expr(p)))
            return NULL;
    }
    while (kw(p, pk(p), "when")) {
        nx(p);
        xnode *w = parse_expr(p);
        if (!w)
            return NULL;
        if (n->a ? !same_class(p, n->a, w) : !is_bool(w))
            return fail(p, n->a ? "CASE x WHEN of values of different types" : "CASE WHEN of a non-boolean value");
        if (!kw(p, nx(p), "then"))
            return fail(p, "CASE without THEN");
        xnode *v = parse_expr(p);
        if (!v)
            return NULL;
        if (n->nlist >= 126)
            return fail(p, "CASE with more than 63 WHENs");
        n->list[n->nlist++] = w;
        n->list[n->nlist++] = v;
    }
    if (!n->nlist)
        return fail(p, "CASE without WHEN");
    kiln_sql_tok t = nx(p);
    if (kw(p, t, "else")) {
        if (!(n->c = parse_expr(p)))
            return NULL;
        t = nx(p);
    }
    if (!kw(p, t, "end"))
        return fail(p, "CASE without END");
    return n;
}

static xnode *parse_cast(P *p)
{
    if (!pc(p, nx(p), '('))
        return fail(p, "CAST syntax");
    xnode *n = node(p, N_CAST);
    if (!n || !(n->a = parse_expr(p)))
        return NULL;
    if (!kw(p, nx(p), "as"))
        return fail(p, "CAST without AS");
    char tn[129] = "";
    size_t off = 0;
    for (kiln_sql_tok t = nx(p); !pc(p, t, ')'); t = nx(p)) {
        if (!t.kind)
            return fail(p, "CAST syntax");
        if (pc(p, t, '('))
            kiln_sql_lex_skip_parens(&p->lx);
        else if (t.kind == 'w' && off + (t.e - t.b) + 2 < sizeof tn)
            off +=
                (size_t)snprintf(tn + off, sizeof tn - off, "%s%.*s", off ? " " : "", (int)(t.e - t.b), p->lx.s + t.b);
    }
    n->fn = cast_type(tn);
    if (n->fn < 0)
        return fail(p, "CAST to a NUMERIC or BLOB type");
    int cl = kiln_exec__class(p->q, n->a);
    if (n->fn != V_TEXT && (cl & C_TEXT))
        return fail(p, "CAST of text to a number");
    return n;
}

static xnode *operand(P *p)
{
    kiln_sql_tok t = nx(p);
    if (pc(p, t, '(')) {
        if (kw(p, pk(p), "select")) {
            /* an uncorrelated scalar subquery: its value, computed once
             * (by SQLite), is a literal here */
            size_t b = t.e;
            kiln_sql_tok c = kiln_sql_lex_skip_parens(&p->lx);
            char w2[256] = "a subquery";
            xnode *n = node(p, N_LIT);
            if (!n)
                return NULL;
            if (!c.kind || !p->q->subquery ||
                p->q->subquery(p->q->subquery_ctx, p->q, p->lx.s + b, c.b - b, &n->lit, w2, sizeof w2))
                return fail(p, "%s", w2);
            return n;
        }
        xnode *e = parse_expr(p);
        if (!e)
            return NULL;
        if (!pc(p, nx(p), ')'))
            return fail(p, "unbalanced parentheses or a row value");
        return e;
    }
    if (t.kind == 'n')
        return number(p, t, 0);
    if ((pc(p, t, '-') || pc(p, t, '+')) && pk(p).kind == 'n')
        return number(p, nx(p), pc(p, t, '-'));
    if (t.kind == 's') {
        xnode *n = node(p, N_LIT);
        if (!n)
            return NULL;
        size_t len = t.e - t.b - 2;
        char *s = kiln_arena_alloc(p->q->a, len + 1);
        if (!s)
            return fail(p, "out of memory");
        size_t k = 0;
        for (size_t i = t.b + 1; i < t.e - 1; i++) {
            s[k++] = p->lx.s[i];
            if (p->lx.s[i] == '\'')
                i++; /* '' */
        }
        s[k] = 0;
        n->lit.t = V_TEXT;
        n->lit.p = s;
        n->lit.n = (uint32_t)k;
        return n;
    }
    if (kw(p, t, "null")) {
        xnode *n = node(p, N_LIT);
        if (n)
            n->lit.t = V_NULL;
        return n;
    }
    if (kw(p, t, "case"))
        return parse_case(p);
    if (kw(p, t, "cast"))
        return parse_cast(p);
    if (t.kind == 'w' && pc(p, pk(p), '('))
        return function(p, t);
    if ((t.kind == 'w' && !is_reserved(p, t)) || (t.kind == 'q' && p->lx.s[t.b] != '\'')) {
        if (t.kind == 'w' && (kw(p, t, "true") || kw(p, t, "false") || kw(p, t, "current_date") ||
                              kw(p, t, "current_time") || kw(p, t, "current_timestamp")))
            return fail(p, "keyword literal");
        p->lx.pos = t.b;
        return col_arg(p);
    }
    return fail(p, "unexpected token at offset %zu", t.b);
}

static xnode *binary(P *p, xnode_kind k, int op, xnode *l, xnode *r)
{
    if (!l || !r)
        return NULL;
    if (k == N_ARITH && ((kiln_exec__class(p->q, l) | kiln_exec__class(p->q, r)) & C_TEXT))
        return fail(p, "arithmetic on text (SQLite converts it to a number)");
    xnode *n = node(p, k);
    if (n) {
        n->op = op;
        n->a = l;
        n->b = r;
    }
    return n;
}

static xnode *unary(P *p)
{
    kiln_sql_tok t = pk(p);
    if (pc(p, t, '-') || pc(p, t, '+')) {
        nx(p);
        if (pk(p).kind == 'n')
            return number(p, nx(p), pc(p, t, '-'));
        if (pc(p, t, '+'))
            return fail(p, "unary + (it drops a column's affinity)");
        xnode *e = unary(p);
        xnode *zero = node(p, N_LIT);
        if (!e || !zero)
            return NULL;
        zero->lit.t = V_INT; /* SQLite codes -x as 0 - x */
        return binary(p, N_ARITH, AR_SUB, zero, e);
    }
    if (p2(p, t, "~"))
        return fail(p, "operator ~");
    return operand(p);
}

static xnode *concat(P *p)
{
    xnode *l = unary(p);
    while (l && p2(p, pk(p), "||")) {
        nx(p);
        l = binary(p, N_CONCAT, 0, l, unary(p));
    }
    if (l && (kw(p, pk(p), "collate") || p2(p, pk(p), "->")))
        return fail(p, "COLLATE / ->");
    return l;
}

static xnode *mult(P *p)
{
    xnode *l = concat(p);
    for (;;) {
        kiln_sql_tok t = pk(p);
        int op = pc(p, t, '*') ? AR_MUL : pc(p, t, '/') ? AR_DIV : pc(p, t, '%') ? AR_REM : 0;
        if (!l || !op)
            return l;
        nx(p);
        l = binary(p, N_ARITH, op, l, concat(p));
    }
}

static xnode *additive(P *p)
{
    xnode *l = mult(p);
    for (;;) {
        kiln_sql_tok t = pk(p);
        int op = pc(p, t, '+') ? AR_ADD : pc(p, t, '-') ? AR_SUB : 0;
        if (!l || !op)
            return l;
        nx(p);
        l = binary(p, N_ARITH, op, l, mult(p));
    }
}

static int cmp_op(P *p, kiln_sql_tok t)
{
    if (p2(p, t, "=") || p2(p, t, "=="))
        return OP_EQ;
    if (p2(p, t, "!=") || p2(p, t, "<>"))
        return OP_NE;
    if (p2(p, t, "<"))
        return OP_LT;
    if (p2(p, t, "<="))
        return OP_LE;
    if (p2(p, t, ">"))
        return OP_GT;
    if (p2(p, t, ">="))
        return OP_GE;
    return 0;
}

/* Both operands must be of one SQLite class (numbers with numbers, text
 * with text), so no affinity conversion can apply; NULL goes with both. */
static int same_class(P *p, xnode *a, xnode *b)
{
    int ca = kiln_exec__class(p->q, a), cb = kiln_exec__class(p->q, b);
    if (ca == C_NUM + C_TEXT || cb == C_NUM + C_TEXT)
        return 0;
    return ca == 0 || cb == 0 || ca == cb;
}

static xnode *predicate(P *p)
{
    xnode *l = additive(p);
    if (!l)
        return NULL;
    kiln_sql_tok t = pk(p);
    int op = cmp_op(p, t);
    xnode *n = NULL;
    if (op) {
        nx(p);
        xnode *r = additive(p);
        if (!r)
            return NULL;
        /* two literals (dbt's "where 1 = 1") compare row by row like any
         * other operands: same class, no affinity */
        if (!same_class(p, l, r))
            return fail(p, "a comparison of values of different types (SQLite's affinity rules apply)");
        if (!(n = node(p, N_CMP)))
            return NULL;
        n->op = op;
        n->a = l;
        n->b = r;
        return n;
    }
    int neg = 0;
    if (kw(p, t, "isnull") || kw(p, t, "notnull")) {
        nx(p);
        if (!(n = node(p, N_ISNULL)))
            return NULL;
        n->neg = kw(p, t, "notnull");
        n->a = l;
        goto operand_check;
    }
    if (kw(p, t, "is")) {
        nx(p);
        if (kw(p, pk(p), "not")) {
            nx(p);
            neg = 1;
        }
        if (!kw(p, nx(p), "null"))
            return fail(p, "IS other than IS [NOT] NULL");
        if (!(n = node(p, N_ISNULL)))
            return NULL;
        n->neg = neg;
        n->a = l;
        goto operand_check;
    }
    if (kw(p, t, "not")) {
        nx(p);
        neg = 1;
        t = pk(p);
    }
    if (kw(p, t, "in")) {
        nx(p);
        if (!pc(p, nx(p), '('))
            return fail(p, "IN without a parenthesized list");
        if (kw(p, pk(p), "select"))
            return fail(p, "IN (subquery)");
        if (!(n = node(p, N_IN)))
            return NULL;
        n->neg = neg;
        n->a = l;
        n->list = kiln_arena_alloc(p->q->a, 256 * sizeof *n->list);
        if (!n->list)
            return fail(p, "out of memory");
        if (pc(p, pk(p), ')')) {
            nx(p);
        } else {
            for (;;) {
                xnode *v = operand(p);
                if (!v)
                    return NULL;
                if (v->k != N_LIT || n->nlist >= 256)
                    return fail(p, "IN list of other than up to 256 literals");
                if (!same_class(p, l, v))
                    return fail(p, "IN list with values of another type than the column");
                n->list[n->nlist++] = v;
                kiln_sql_tok s = nx(p);
                if (pc(p, s, ')'))
                    break;
                if (!pc(p, s, ','))
                    return fail(p, "IN list syntax");
            }
        }
        goto operand_check;
    }
    if (kw(p, t, "between")) {
        nx(p);
        xnode *lo = additive(p);
        if (!lo)
            return NULL;
        if (!kw(p, nx(p), "and"))
            return fail(p, "BETWEEN without AND");
        xnode *hi = additive(p);
        if (!hi)
            return NULL;
        if (!same_class(p, l, lo) || !same_class(p, l, hi))
            return fail(p, "BETWEEN of values of different types");
        if (!(n = node(p, N_BETWEEN)))
            return NULL;
        n->neg = neg;
        n->a = l;
        n->b = lo;
        n->c = hi;
        goto operand_check;
    }
    if (kw(p, t, "like")) {
        nx(p);
        xnode *pat = operand(p);
        if (!pat)
            return NULL;
        if (pat->k != N_LIT || pat->lit.t != V_TEXT)
            return fail(p, "LIKE with a pattern that is not a string literal");
        if (kw(p, pk(p), "escape"))
            return fail(p, "LIKE ... ESCAPE");
        if (kiln_exec__class(p->q, l) != C_TEXT)
            return fail(p, "LIKE of other than text");
        uint32_t len = pat->lit.n;
        int trailing = 0;
        while (len && pat->lit.p[len - 1] == '%') {
            len--;
            trailing = 1;
        }
        for (uint32_t i = 0; i < len; i++)
            if (pat->lit.p[i] == '%' || pat->lit.p[i] == '_')
                return fail(p, "LIKE pattern other than a prefix ('abc%%')");
        if (!(n = node(p, N_LIKE)))
            return NULL;
        n->neg = neg;
        n->a = l;
        n->lit = pat->lit;
        n->lit.n = len;
        n->unit = trailing;
        goto operand_check;
    }
    if (neg)
        return fail(p, "NOT followed by an unsupported operator");
    return l; /* a bare operand: the caller decides */
operand_check:
    if (l->k == N_LIT)
        return fail(p, "a test of a literal");
    return n;
}

static int is_bool(const xnode *n)
{
    return n && (n->k == N_CMP || n->k == N_AND || n->k == N_OR || n->k == N_NOT || n->k == N_ISNULL || n->k == N_IN ||
                 n->k == N_BETWEEN || n->k == N_LIKE);
}

static xnode *parse_not(P *p)
{
    if (kw(p, pk(p), "not")) {
        nx(p);
        xnode *a = parse_not(p);
        if (!a)
            return NULL;
        if (!is_bool(a))
            return fail(p, "NOT of a non-boolean value");
        xnode *n = node(p, N_NOT);
        if (n)
            n->a = a;
        return n;
    }
    return predicate(p);
}

static xnode *parse_and(P *p)
{
    xnode *l = parse_not(p);
    while (l && kw(p, pk(p), "and")) {
        nx(p);
        xnode *r = parse_not(p);
        if (!r)
            return NULL;
        if (!is_bool(l) || !is_bool(r))
            return fail(p, "AND of a non-boolean value");
        xnode *n = node(p, N_AND);
        if (!n)
            return NULL;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

static xnode *parse_expr(P *p)
{
    xnode *l = parse_and(p);
    while (l && kw(p, pk(p), "or")) {
        nx(p);
        xnode *r = parse_and(p);
        if (!r)
            return NULL;
        if (!is_bool(l) || !is_bool(r))
            return fail(p, "OR of a non-boolean value");
        xnode *n = node(p, N_OR);
        if (!n)
            return NULL;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

static int lit_eq(const xcell *a, const xcell *b)
{
    if (a->t != b->t || a->i != b->i || memcmp(&a->d, &b->d, sizeof a->d) || a->n != b->n)
        return 0;
    return a->n == 0 || memcmp(a->p, b->p, a->n) == 0;
}

/* Structural equality (SQLite's sqlite3ExprCompare, for matching GROUP BY
 * terms and ORDER BY terms with select items). */
static int node_eq(const xnode *a, const xnode *b)
{
    if (a == b)
        return 1;
    if (!a || !b || a->k != b->k)
        return 0;
    if (a->op != b->op || a->neg != b->neg || a->fn != b->fn || a->distinct != b->distinct || a->unit != b->unit ||
        a->col != b->col || a->nlist != b->nlist || !lit_eq(&a->lit, &b->lit))
        return 0;
    if (a->k == N_KEYREF && a->idx != b->idx)
        return 0;
    if (!node_eq(a->a, b->a) || !node_eq(a->b, b->b) || !node_eq(a->c, b->c))
        return 0;
    for (int i = 0; i < a->nlist; i++)
        if (!node_eq(a->list[i], b->list[i]))
            return 0;
    return 1;
}

/* The select item / HAVING expression n over the groups: subtrees equal to
 * a GROUP BY term become N_KEYREF, aggregates are registered in q->aggs
 * (once each); a column left outside both is declined (SQLite takes it
 * from an arbitrary row of the group). */
static xnode *over_groups(P *p, xnode *n)
{
    xquery *q = p->q;
    if (!n)
        return NULL;
    for (int k = 0; k < q->nkeys; k++)
        if (node_eq(q->keys[k], n)) {
            xnode *r = node(p, N_KEYREF);
            if (r) {
                r->idx = k;
                r->a = q->keys[k];
            }
            return r;
        }
    switch (n->k) {
    case N_AGG:
        for (int k = 0; k < q->naggs; k++)
            if (node_eq(q->aggs[k], n))
                return q->aggs[k];
        if (q->naggs >= X_MAX)
            return fail(p, "more than %d aggregates", X_MAX);
        n->idx = q->naggs;
        q->aggs[q->naggs++] = n;
        return n;
    case N_LIT: return n;
    case N_COL:
    case N_TRUNC:
    case N_ISOWEEK: return fail(p, "a column that is neither grouped nor inside an aggregate");
    default: break;
    }
    xnode *c = node(p, n->k);
    if (!c)
        return NULL;
    *c = *n;
    if ((n->a && !(c->a = over_groups(p, n->a))) || (n->b && !(c->b = over_groups(p, n->b))) ||
        (n->c && !(c->c = over_groups(p, n->c))))
        return NULL;
    if (n->nlist) {
        if (!(c->list = new_list(p, n->nlist)))
            return NULL;
        for (int i = 0; i < n->nlist; i++)
            if (!(c->list[i] = over_groups(p, n->list[i])))
                return NULL;
    }
    return c;
}

/* An integer literal standing alone as a GROUP BY / ORDER BY term. */
static int position(P *p, int64_t *k)
{
    size_t save = p->lx.pos;
    kiln_sql_tok t = nx(p);
    if (t.kind == 'n') {
        kiln_sql_tok f = pk(p);
        if (pc(p, f, ',') || f.kind == 0 || pc(p, f, ';') || kw(p, f, "asc") || kw(p, f, "desc") || kw(p, f, "limit") ||
            kw(p, f, "order") || kw(p, f, "having") || kw(p, f, "collate") || kw(p, f, "nulls")) {
            char buf[32];
            tok_text(p, t, buf, sizeof buf);
            char *end;
            errno = 0;
            long long v = strtoll(buf, &end, 10);
            if (!*end && !errno) {
                *k = v;
                return 1;
            }
        }
    }
    p->lx.pos = save;
    return 0;
}

static int alias_of(P *p, char *out)
{
    kiln_sql_tok t = pk(p);
    if (kw(p, t, "as")) {
        nx(p);
        t = pk(p);
        if (t.kind != 'w' && t.kind != 'q' && t.kind != 's')
            return -1;
    } else if (!((t.kind == 'w' && !is_reserved(p, t)) || t.kind == 'q')) {
        return 0;
    }
    nx(p);
    if (t.kind == 's') {
        size_t n = t.e - t.b - 2;
        if (n > 128 || memchr(p->lx.s + t.b + 1, '\'', n))
            return -1;
        memcpy(out, p->lx.s + t.b + 1, n);
        out[n] = 0;
        return 1;
    }
    return kiln_sql_lex_ident(&p->lx, t, out, 129) ? -1 : 1;
}

int kiln_exec__parse_table(const char *sql, size_t len, char ns[129], char tb[129])
{
    /* the first FROM at parenthesis depth 0 */
    kiln_sql_lexer lx = {sql, len, 0};
    for (kiln_sql_tok t = kiln_sql_lex_next(&lx); t.kind; t = kiln_sql_lex_next(&lx)) {
        if (kiln_sql_lex_p(&lx, t, '('))
            kiln_sql_lex_skip_parens(&lx);
        else if (kiln_sql_lex_kw(&lx, t, "from"))
            return kiln_sql_lex_name2(&lx, ns, tb);
    }
    return 1;
}

/* A plain scan's item or ORDER BY expression e as a key of its own. */
static int plain_key(P *p, xnode *e)
{
    xquery *q = p->q;
    if (e->k == N_LIT)
        return 0;
    for (int k = 0; k < q->nkeys; k++)
        if (node_eq(q->keys[k], e))
            return 0;
    if (q->nkeys >= X_MAX)
        return fail(p, "more than %d select items and ORDER BY terms", X_MAX - 1), 1;
    q->keys[q->nkeys++] = e;
    return 0;
}

/* The term of terms[0..n) named by the identifier token t: 1-based, or 0. */
static int term_named(kiln_sql_lexer *lx, kiln_sql_tok t, const xterm *terms, int n)
{
    char nm[129];
    if ((t.kind != 'w' && t.kind != 'q') || kiln_sql_lex_ident(lx, t, nm, sizeof nm))
        return 0;
    for (int i = n - 1; i >= 0; i--)
        if (strcasecmp(terms[i].name, nm) == 0)
            return i + 1;
    return 0;
}

int kiln_exec__parse_from(const char *sql, size_t len, const xterm *terms, int nterms, char ns[129], char tb[129],
                          int *term)
{
    *term = 0;
    kiln_sql_lexer lx = {sql, len, 0};
    for (kiln_sql_tok t = kiln_sql_lex_next(&lx); t.kind; t = kiln_sql_lex_next(&lx)) {
        if (kiln_sql_lex_p(&lx, t, '(')) {
            kiln_sql_lex_skip_parens(&lx);
        } else if (kiln_sql_lex_kw(&lx, t, "from")) {
            size_t at = lx.pos;
            if (kiln_sql_lex_name2(&lx, ns, tb) == 0)
                return 0;
            lx.pos = at;
            kiln_sql_tok n = kiln_sql_lex_next(&lx);
            int k = term_named(&lx, n, terms, nterms);
            if (!k || kiln_sql_lex_p(&lx, kiln_sql_lex_peek(&lx), '.'))
                return 1;
            /* a term over a term is not inlined: its body must read the table */
            if (kiln_exec__parse_table(terms[k - 1].body, terms[k - 1].len, ns, tb))
                return 1;
            *term = k;
            return 0;
        }
    }
    return 1;
}

/* The body of the WITH term q->term: SELECT * [, expr [AS] name ...] FROM
 * ns.t [[AS] alias] [WHERE cond], nothing else. Its WHERE goes to
 * q->where, its extra columns to q->extra. */
static int parse_term(P *o)
{
    xquery *q = o->q;
    const xterm *tm = &q->terms[q->term - 1];
    char w2[256] = "";
    P p = {.lx = {tm->body, tm->len, 0}, .q = q, .why = w2, .cap = sizeof w2};
    for (kiln_sql_tok t = nx(&p); t.kind; t = nx(&p)) {
        if (pc(&p, t, '(')) {
            kiln_sql_lex_skip_parens(&p.lx);
        } else if (kw(&p, t, "from")) {
            char ns0[129], tb0[129];
            if (kiln_sql_lex_name2(&p.lx, ns0, tb0) == 0 && alias_of(&p, p.alias) != 1)
                p.alias[0] = 0;
            break;
        }
    }
    p.lx.pos = 0;
    if (!kw(&p, nx(&p), "select"))
        return fail(o, "WITH term %s: not a SELECT", tm->name), 1;
    if (kw(&p, pk(&p), "all"))
        nx(&p);
    if (!pc(&p, nx(&p), '*'))
        return fail(o, "WITH term %s is not SELECT * [, expr AS name] FROM a table [WHERE ...]", tm->name), 1;
    while (pc(&p, pk(&p), ',')) {
        nx(&p);
        if (q->nextra >= X_MAX)
            return fail(o, "WITH term %s: more than %d columns after *", tm->name, X_MAX), 1;
        xnode *e = parse_expr(&p);
        if (!e)
            return fail(o, "WITH term %s: %s", tm->name, p.why), 1;
        char *nm = q->extra_name[q->nextra];
        if (alias_of(&p, nm) != 1)
            return fail(o, "WITH term %s: a column after * without an alias", tm->name), 1;
        if (contains(e, N_AGG))
            return fail(o, "WITH term %s: an aggregate", tm->name), 1;
        /* SQLite would rename a second column of one name ("x:1"); declined */
        for (int i = 0; i < q->schema->ncols; i++)
            if (strcasecmp(q->schema->cols[i].name, nm) == 0)
                return fail(o, "WITH term %s: column %s twice", tm->name, nm), 1;
        for (int i = 0; i < q->nextra; i++)
            if (strcasecmp(q->extra_name[i], nm) == 0)
                return fail(o, "WITH term %s: column %s twice", tm->name, nm), 1;
        q->extra[q->nextra++] = e;
    }
    if (!kw(&p, nx(&p), "from"))
        return fail(o, "WITH term %s: no FROM", tm->name), 1;
    char ns[129], tb[129], al[129];
    if (kiln_sql_lex_name2(&p.lx, ns, tb) || strcasecmp(ns, q->ns) || strcasecmp(tb, q->tb) || alias_of(&p, al) < 0)
        return fail(o, "WITH term %s: FROM is not one ns.table", tm->name), 1;
    if (kw(&p, pk(&p), "where")) {
        nx(&p);
        if (!(q->where = parse_expr(&p)))
            return fail(o, "WITH term %s: %s", tm->name, p.why), 1;
        if (!is_bool(q->where))
            return fail(o, "WITH term %s: a WHERE that is not a condition", tm->name), 1;
    }
    kiln_sql_tok t = nx(&p);
    if (t.kind != 0)
        return fail(o, "WITH term %s is more than a filter of a table (offset %zu)", tm->name, t.b), 1;
    return 0;
}

int kiln_exec__parse(xquery *q, const char *sql, size_t len, char *why, size_t cap)
{
    P p = {.lx = {sql, len, 0}, .q = q, .why = why, .cap = cap};
    char names[X_MAX][129];
    q->limit = -1;
    /* the table's alias first: select items may be qualified with it */
    for (kiln_sql_tok t = nx(&p); t.kind; t = nx(&p)) {
        if (pc(&p, t, '(')) {
            kiln_sql_lex_skip_parens(&p.lx);
        } else if (kw(&p, t, "from")) {
            char ns0[129], tb0[129];
            if (q->term) {
                nx(&p);
                if (alias_of(&p, p.alias) != 1)
                    p.alias[0] = 0;
            } else if (kiln_sql_lex_name2(&p.lx, ns0, tb0) == 0 && alias_of(&p, p.alias) != 1) {
                p.alias[0] = 0;
            }
            break;
        }
    }
    p.lx.pos = 0;
    if (q->term) {
        if (q->term > q->nterms || parse_term(&p))
            return 1;
        p.tbname = q->terms[q->term - 1].name;
        p.extras = 1;
    }
    xnode *term_where = q->where;
    q->where = NULL;
    if (!kw(&p, nx(&p), "select"))
        return fail(&p, "not a SELECT"), 1;
    if (kw(&p, pk(&p), "distinct"))
        return fail(&p, "SELECT DISTINCT"), 1;
    if (kw(&p, pk(&p), "all"))
        nx(&p);
    /* select list */
    for (;;) {
        if (pc(&p, pk(&p), '*'))
            return fail(&p, "SELECT *"), 1;
        if (q->nitems >= X_MAX)
            return fail(&p, "more than %d select items", X_MAX), 1;
        xnode *e = parse_expr(&p);
        if (!e)
            return 1;
        int r = alias_of(&p, names[q->nitems]);
        if (r < 0)
            return fail(&p, "select alias"), 1;
        p.item_alias[q->nitems] = r ? names[q->nitems] : NULL;
        q->items[q->nitems].e = q->items[q->nitems].src = e;
        q->items[q->nitems].key = q->items[q->nitems].agg = -1;
        q->nitems++;
        if (!pc(&p, pk(&p), ','))
            break;
        nx(&p);
    }
    q->nout = q->nitems;
    if (!kw(&p, nx(&p), "from"))
        return fail(&p, "no FROM clause"), 1;
    char ns[129], tb[129];
    if (q->term) {
        if (term_named(&p.lx, nx(&p), q->terms, q->nterms) != q->term)
            return fail(&p, "FROM is not the WITH term"), 1;
    } else if (kiln_sql_lex_name2(&p.lx, ns, tb) || strcasecmp(ns, q->ns) || strcasecmp(tb, q->tb)) {
        return fail(&p, "FROM is not one ns.table"), 1;
    }
    char alias2[129];
    if (alias_of(&p, alias2) < 0)
        return fail(&p, "table alias"), 1;
    kiln_sql_tok t = pk(&p);
    if (pc(&p, t, ',') || kw(&p, t, "join") || kw(&p, t, "inner") || kw(&p, t, "left") || kw(&p, t, "cross") ||
        kw(&p, t, "natural"))
        return fail(&p, "a join"), 1;
    if (kw(&p, t, "indexed") || kw(&p, t, "not"))
        return fail(&p, "INDEXED BY"), 1;
    if (kw(&p, pk(&p), "where")) {
        nx(&p);
        if (!(q->where = parse_expr(&p)))
            return 1;
        if (!is_bool(q->where))
            return fail(&p, "WHERE that is not a comparison / AND / OR / NOT / IN / IS NULL / BETWEEN"), 1;
    }
    if (term_where && q->where) { /* the term's filter first, as SQLite's flattener ANDs it */
        xnode *n = node(&p, N_AND);
        if (!n)
            return 1;
        n->a = term_where;
        n->b = q->where;
        q->where = n;
    } else if (term_where) {
        q->where = term_where;
    }
    if (kw(&p, pk(&p), "group")) {
        nx(&p);
        if (!kw(&p, nx(&p), "by"))
            return fail(&p, "GROUP without BY"), 1;
        q->has_group = 1;
        p.alias_ok = 1;
        for (;;) {
            int64_t k;
            xnode *e;
            if (position(&p, &k)) {
                if (k < 1 || k > q->nitems)
                    return fail(&p, "GROUP BY position out of range"), 1;
                e = q->items[k - 1].e;
            } else if (!(e = parse_expr(&p))) {
                return 1;
            }
            if (contains(e, N_AGG))
                return fail(&p, "GROUP BY an aggregate"), 1;
            if (e->k == N_LIT)
                return fail(&p, "GROUP BY a literal"), 1;
            int dup = 0;
            for (int i = 0; i < q->nkeys; i++)
                dup |= node_eq(q->keys[i], e);
            if (!dup) {
                if (q->nkeys >= X_MAX)
                    return fail(&p, "too many GROUP BY terms"), 1;
                q->keys[q->nkeys++] = e;
            }
            if (kw(&p, pk(&p), "collate"))
                return fail(&p, "COLLATE"), 1;
            if (!pc(&p, pk(&p), ','))
                break;
            nx(&p);
        }
        p.alias_ok = 0;
    }
    if (kw(&p, pk(&p), "having")) {
        nx(&p);
        p.alias_ok = 1;
        q->having = parse_expr(&p);
        p.alias_ok = 0;
        if (!q->having)
            return 1;
        if (!is_bool(q->having))
            return fail(&p, "HAVING that is not a comparison / AND / OR / NOT / IN / IS NULL / BETWEEN / LIKE"), 1;
    }
    /* items: expressions over the group keys and the aggregates */
    int any_agg = q->having != NULL;
    for (int i = 0; i < q->nitems; i++)
        any_agg |= contains(q->items[i].e, N_AGG);
    if (!q->has_group && !any_agg) {
        /* a plain scan: each row its own group, keyed first by its place
         * in the scan (SQLite's output order without ORDER BY), then by
         * every select item (so the items are over the keys) */
        xnode *rid = node(&p, N_ROWID);
        if (!rid)
            return 1;
        q->plain = q->has_group = 1;
        q->keys[q->nkeys++] = rid;
        for (int i = 0; i < q->nitems; i++)
            if (plain_key(&p, q->items[i].e))
                return 1;
    }
    for (int i = 0; i < q->nitems; i++) {
        xitem *it = &q->items[i];
        if (!(it->e = over_groups(&p, it->e)))
            return 1;
        if (it->e->k == N_KEYREF)
            it->key = it->e->idx;
        else if (it->e->k == N_AGG)
            it->agg = it->e->idx;
    }
    if (q->having && !(q->having = over_groups(&p, q->having)))
        return 1;
    if (kw(&p, pk(&p), "order")) {
        nx(&p);
        if (!kw(&p, nx(&p), "by"))
            return fail(&p, "ORDER without BY"), 1;
        for (;;) {
            if (q->norder >= X_MAX)
                return fail(&p, "too many ORDER BY terms"), 1;
            int item = -1;
            int64_t k;
            kiln_sql_tok a = pk(&p);
            if (a.kind == 'w' || a.kind == 'q') {
                /* an alias, when the term is just that name */
                size_t save = p.lx.pos;
                nx(&p);
                kiln_sql_tok f = pk(&p);
                char nm[129];
                if ((pc(&p, f, ',') || f.kind == 0 || pc(&p, f, ';') || kw(&p, f, "asc") || kw(&p, f, "desc") ||
                     kw(&p, f, "limit")) &&
                    kiln_sql_lex_ident(&p.lx, a, nm, sizeof nm) == 0) {
                    for (int i = 0; i < q->nitems && item < 0; i++)
                        if (p.item_alias[i] && strcasecmp(p.item_alias[i], nm) == 0)
                            item = i;
                }
                if (item < 0)
                    p.lx.pos = save;
            }
            if (item < 0 && position(&p, &k)) {
                if (k < 1 || k > q->nout)
                    return fail(&p, "ORDER BY position out of range"), 1;
                item = (int)k - 1;
            }
            if (item < 0) {
                p.alias_ok = 1;
                xnode *e = parse_expr(&p);
                p.alias_ok = 0;
                if (!e)
                    return 1;
                for (int i = 0; i < q->nitems && item < 0; i++)
                    if (node_eq(q->items[i].src, e))
                        item = i;
                if (item < 0) { /* a hidden sort column over the groups, as SQLite adds one */
                    if (q->nitems >= X_MAX)
                        return fail(&p, "more than %d select items and ORDER BY terms", X_MAX), 1;
                    xitem *it = &q->items[q->nitems];
                    it->src = e;
                    it->key = it->agg = -1;
                    if (q->plain && plain_key(&p, e))
                        return 1;
                    if (!(it->e = over_groups(&p, e)))
                        return 1;
                    if (it->e->k == N_KEYREF)
                        it->key = it->e->idx;
                    else if (it->e->k == N_AGG)
                        it->agg = it->e->idx;
                    p.item_alias[q->nitems] = NULL;
                    item = q->nitems++;
                }
            }
            q->order[q->norder].item = item;
            q->order[q->norder].desc = 0;
            t = pk(&p);
            if (kw(&p, t, "asc")) {
                nx(&p);
            } else if (kw(&p, t, "desc")) {
                nx(&p);
                q->order[q->norder].desc = 1;
            }
            q->order[q->norder].nulls = 0;
            if (kw(&p, pk(&p), "nulls")) {
                nx(&p);
                t = nx(&p);
                if (kw(&p, t, "first"))
                    q->order[q->norder].nulls = 1;
                else if (kw(&p, t, "last"))
                    q->order[q->norder].nulls = 2;
                else
                    return fail(&p, "NULLS other than FIRST / LAST"), 1;
            }
            q->norder++;
            t = pk(&p);
            if (kw(&p, t, "collate"))
                return fail(&p, "COLLATE in ORDER BY"), 1;
            if (!pc(&p, t, ','))
                break;
            nx(&p);
        }
    }
    if (kw(&p, pk(&p), "limit")) {
        nx(&p);
        xnode *l = operand(&p);
        if (!l)
            return 1;
        if (l->k != N_LIT || l->lit.t != V_INT)
            return fail(&p, "LIMIT other than an integer literal"), 1;
        q->limit = l->lit.i < 0 ? -1 : l->lit.i;
        if (kw(&p, pk(&p), "offset")) {
            nx(&p);
            xnode *o = operand(&p);
            if (!o)
                return 1;
            if (o->k != N_LIT || o->lit.t != V_INT)
                return fail(&p, "OFFSET other than an integer literal"), 1;
            q->offset = o->lit.i < 0 ? 0 : o->lit.i;
        } else if (pc(&p, pk(&p), ',')) {
            return fail(&p, "LIMIT a, b"), 1;
        }
    }
    t = nx(&p);
    if (pc(&p, t, ';'))
        t = nx(&p);
    if (t.kind != 0)
        return fail(&p, "unsupported syntax at offset %zu", t.b), 1;
    return p.failed;
}
