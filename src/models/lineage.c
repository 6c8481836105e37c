/*
 * lineage.c - column-level lineage from the compiled SQL (`kiln lineage`).
 *
 * Each model's compiled SQL (rendered as a full refresh, so incremental
 * filters on {{ this }} do not count) is tokenized and read as a SELECT
 * statement: WITH lists, compound selects (UNION [ALL] / INTERSECT /
 * EXCEPT), FROM lists with joins, subqueries and aliases, select items with
 * or without AS, `*` and `t.*`, scalar subqueries. Each output column gets
 * the set of upstream (node, column) pairs its value is computed from,
 * through CTEs and subqueries (the `via` chain says which, and with what
 * expression when the value is transformed). `count(*)` and other
 * row-dependent values depend on the rows of their FROM items, written as
 * column `*`; the rows of a model come from the rows of its parents.
 * Columns of seeds come from their CSV header, of sources from the
 * warehouse's Iceberg schema (else their YAML columns), of models from
 * their own SQL. Join and WHERE conditions are not column lineage (they
 * pick rows, they do not make values) and are not followed.
 *
 * Everything lives in one arena freed at the end of the command.
 */
#include "lake/lake.h"
#include "models/project.h"

#include <ctype.h>
#include <strings.h>

/* ------------------------------------------------------------ types */

typedef struct ldep {
    long node;       /* project node index */
    const char *col; /* column name, "*" = the node's rows */
    const char *via; /* CTE/subquery chain, or NULL */
    int xf;          /* the value is transformed on the way (not a plain copy) */
} ldep;

typedef struct ldeps {
    ldep *v;
    size_t n, cap;
} ldeps;

typedef struct lcol {
    const char *name; /* lower case for matching */
    const char *shown;
    const char *expr; /* the select item's expression text */
    int xf;           /* expr is not a plain column reference */
    ldeps deps;
} lcol;

typedef struct lcols {
    lcol *v;
    size_t n, cap;
} lcols;

typedef struct lrel {
    const char *alias; /* lower case: the alias, else the table name */
    const char *label; /* CTE/subquery name for via chains, NULL for a node */
    long node;         /* node, or -1 (CTE, subquery, unknown table) */
    int open;          /* columns unknown: referenced ones are created on demand */
    lcols cols;
    ldeps rows; /* what the relation's rows come from */
} lrel;

typedef struct lscope {
    lrel **rels;
    size_t n, cap;
    const struct lscope *parent;
} lscope;

typedef struct lcte {
    const char *name;
    lrel *rel;
    const struct lcte *next;
} lcte;

enum { T_ID, T_QID, T_STR, T_NUM, T_OP, T_END };

typedef struct ltok {
    int t;
    const char *s; /* source text */
    size_t n;
    const char *v; /* identifiers: unquoted, lower case */
    const char *u; /* quoted identifiers: unquoted, as written */
} ltok;

typedef struct lctx {
    kiln_project *p;
    kiln_arena *a;
    kiln_err *err;
    int oom;
    /* per node */
    lcols **model_cols;
    int *state;       /* 0 new, 1 in progress, 2 done */
    kiln_map *by_rel; /* "schema.ident" (lower case) -> node index + 1 */
    /* the statement being read */
    ltok *tk;
    size_t ntk;
    long cur; /* node whose SQL this is */
} lctx;

static void *aalloc(lctx *c, size_t n)
{
    void *p = kiln_arena_alloc(c->a, n ? n : 1);
    if (!p)
        c->oom = 1;
    else
        memset(p, 0, n ? n : 1);
    return p;
}

static char *astr(lctx *c, const char *s, size_t n)
{
    char *r = kiln_arena_strndup(c->a, s, n);
    if (!r)
        c->oom = 1;
    return r;
}

static char *alower(lctx *c, const char *s, size_t n)
{
    char *r = astr(c, s, n);
    for (char *q = r; q && *q; q++)
        *q = (char)tolower((unsigned char)*q);
    return r;
}

static char *afmt(lctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *afmt(lctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *r = aalloc(c, (size_t)n + 1);
    if (r) {
        va_start(ap, fmt);
        vsnprintf(r, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* grow an arena array of elements of size el to hold one more */
static void *agrow(lctx *c, void *v, size_t *cap, size_t n, size_t el)
{
    if (n < *cap)
        return v;
    size_t nc = *cap ? *cap * 2 : 8;
    void *nv = aalloc(c, nc * el);
    if (!nv)
        return NULL;
    if (n)
        memcpy(nv, v, n * el);
    *cap = nc;
    return nv;
}

static void dep_add(lctx *c, ldeps *d, ldep x)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].node == x.node && !strcmp(d->v[i].col, x.col) &&
            ((!d->v[i].via && !x.via) || (d->v[i].via && x.via && !strcmp(d->v[i].via, x.via)))) {
            d->v[i].xf |= x.xf;
            return;
        }
    ldep *nv = agrow(c, d->v, &d->cap, d->n, sizeof *nv);
    if (!nv)
        return;
    d->v = nv;
    d->v[d->n++] = x;
}

static lcol *col_add(lctx *c, lcols *cs, const char *shown)
{
    lcol *nv = agrow(c, cs->v, &cs->cap, cs->n, sizeof *nv);
    if (!nv)
        return NULL;
    cs->v = nv;
    lcol *k = &cs->v[cs->n++];
    memset(k, 0, sizeof *k);
    k->shown = shown;
    k->name = alower(c, shown, strlen(shown));
    return k;
}

static lcol *col_find(lcols *cs, const char *lname)
{
    for (size_t i = 0; i < cs->n; i++)
        if (!strcmp(cs->v[i].name, lname))
            return &cs->v[i];
    return NULL;
}

/* ------------------------------------------------------------ tokens */

static int tokenize(lctx *c, const char *s, size_t len)
{
    size_t cap = 0, n = 0;
    ltok *v = NULL;
    size_t i = 0;
    while (i < len) {
        unsigned char ch = (unsigned char)s[i];
        if (isspace(ch)) {
            i++;
            continue;
        }
        if (ch == '-' && i + 1 < len && s[i + 1] == '-') {
            while (i < len && s[i] != '\n')
                i++;
            continue;
        }
        if (ch == '/' && i + 1 < len && s[i + 1] == '*') {
            i += 2;
            while (i + 1 < len && !(s[i] == '*' && s[i + 1] == '/'))
                i++;
            i += 2;
            continue;
        }
        v = agrow(c, v, &cap, n, sizeof *v);
        if (!v)
            return KILN_OOM(c->err);
        ltok *t = &v[n++];
        memset(t, 0, sizeof *t);
        t->s = s + i;
        size_t st = i;
        if (isalpha(ch) || ch == '_' || ch >= 0x80) {
            while (i < len &&
                   (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '$' || (unsigned char)s[i] >= 0x80))
                i++;
            t->t = T_ID;
            t->v = alower(c, s + st, i - st);
        } else if (ch == '"' || ch == '`' || ch == '[') {
            char close = ch == '[' ? ']' : (char)ch;
            i++;
            kiln_buf b;
            kiln_buf_init(&b, 0);
            while (i < len) {
                if (s[i] == close) {
                    if (close != ']' && i + 1 < len && s[i + 1] == close) {
                        kiln_buf_append(&b, &close, 1, c->err);
                        i += 2;
                        continue;
                    }
                    break;
                }
                kiln_buf_append(&b, s + i, 1, c->err);
                i++;
            }
            i++;
            t->t = T_QID;
            t->v = alower(c, b.data ? b.data : "", b.len);
            t->u = astr(c, b.data ? b.data : "", b.len);
            kiln_buf_free(&b);
        } else if (ch == '\'') {
            i++;
            while (i < len) {
                if (s[i] == '\'') {
                    if (i + 1 < len && s[i + 1] == '\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i++;
            }
            i++;
            t->t = T_STR;
        } else if (isdigit(ch) || (ch == '.' && i + 1 < len && isdigit((unsigned char)s[i + 1]))) {
            while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '.'))
                i++;
            t->t = T_NUM;
        } else {
            static const char *const two[] = {"||", "<=", ">=", "<>", "!=", "==", "<<", ">>", "->"};
            t->t = T_OP;
            i++;
            for (size_t k = 0; k < sizeof two / sizeof *two; k++)
                if (i < len && s[st] == two[k][0] && s[i] == two[k][1]) {
                    i++;
                    break;
                }
        }
        if (i > len)
            i = len;
        t->n = i - st;
    }
    v = agrow(c, v, &cap, n, sizeof *v);
    if (!v || c->oom)
        return KILN_OOM(c->err);
    memset(&v[n], 0, sizeof *v);
    v[n].t = T_END;
    v[n].s = s + len;
    c->tk = v;
    c->ntk = n;
    return 0;
}

static int is_kw(const ltok *t, const char *kw) { return t->t == T_ID && !strcmp(t->v, kw); }
static int is_op(const ltok *t, char ch) { return t->t == T_OP && t->n == 1 && t->s[0] == ch; }

static const char *const KEYWORDS[] = {"select",
                                       "from",
                                       "where",
                                       "group",
                                       "by",
                                       "having",
                                       "order",
                                       "limit",
                                       "offset",
                                       "as",
                                       "and",
                                       "or",
                                       "not",
                                       "null",
                                       "is",
                                       "in",
                                       "like",
                                       "glob",
                                       "regexp",
                                       "match",
                                       "between",
                                       "case",
                                       "when",
                                       "then",
                                       "else",
                                       "end",
                                       "distinct",
                                       "all",
                                       "union",
                                       "intersect",
                                       "except",
                                       "join",
                                       "left",
                                       "right",
                                       "full",
                                       "inner",
                                       "outer",
                                       "cross",
                                       "natural",
                                       "on",
                                       "using",
                                       "with",
                                       "recursive",
                                       "over",
                                       "partition",
                                       "filter",
                                       "asc",
                                       "desc",
                                       "nulls",
                                       "first",
                                       "last",
                                       "exists",
                                       "cast",
                                       "collate",
                                       "escape",
                                       "window",
                                       "rows",
                                       "range",
                                       "groups",
                                       "preceding",
                                       "following",
                                       "unbounded",
                                       "current",
                                       "row",
                                       "true",
                                       "false",
                                       "values",
                                       "materialized",
                                       "current_date",
                                       "current_time",
                                       "current_timestamp",
                                       "isnull",
                                       "notnull",
                                       "exclude",
                                       "ties",
                                       "others",
                                       "no"};

static int keyword(const ltok *t)
{
    if (t->t != T_ID)
        return 0;
    for (size_t i = 0; i < sizeof KEYWORDS / sizeof *KEYWORDS; i++)
        if (!strcmp(t->v, KEYWORDS[i]))
            return 1;
    return 0;
}

static int is_ident(const ltok *t) { return t->t == T_QID || (t->t == T_ID && !keyword(t)); }

/* index of the token after the ')' matching the '(' at i (or b) */
static size_t skip_parens(lctx *c, size_t i, size_t b)
{
    int depth = 0;
    for (; i < b; i++) {
        if (is_op(&c->tk[i], '('))
            depth++;
        else if (is_op(&c->tk[i], ')') && --depth == 0)
            return i + 1;
    }
    return b;
}

/* first index in [i, b) at paren depth 0 where stop(tok) holds, or b */
static size_t find0(lctx *c, size_t i, size_t b, int (*stop)(const ltok *))
{
    int depth = 0;
    for (; i < b; i++) {
        const ltok *t = &c->tk[i];
        if (is_op(t, '('))
            depth++;
        else if (is_op(t, ')'))
            depth--;
        else if (depth == 0 && stop(t))
            return i;
    }
    return b;
}

static int stop_after_from(const ltok *t)
{
    return is_kw(t, "where") || is_kw(t, "group") || is_kw(t, "having") || is_kw(t, "window") || is_kw(t, "order") ||
           is_kw(t, "limit") || is_kw(t, "union") || is_kw(t, "intersect") || is_kw(t, "except") || is_op(t, ';');
}
static int stop_items(const ltok *t) { return is_kw(t, "from") || stop_after_from(t); }
static int stop_compound(const ltok *t)
{
    return is_kw(t, "union") || is_kw(t, "intersect") || is_kw(t, "except") || is_kw(t, "order") || is_kw(t, "limit") ||
           is_op(t, ';');
}
static int stop_comma(const ltok *t) { return is_op(t, ','); }
static int stop_join(const ltok *t)
{
    return is_op(t, ',') || is_kw(t, "join") || is_kw(t, "left") || is_kw(t, "right") || is_kw(t, "full") ||
           is_kw(t, "inner") || is_kw(t, "cross") || is_kw(t, "natural");
}

/* ------------------------------------------------------------ relations */

static int model_columns(lctx *c, long node, lcols **out);

static lrel *rel_node(lctx *c, long node, const char *alias)
{
    lrel *r = aalloc(c, sizeof *r);
    if (!r)
        return NULL;
    r->alias = alias;
    r->node = node;
    if (node < 0) {
        r->open = 1;
        return r;
    }
    dep_add(c, &r->rows, (ldep){node, "*", NULL, 0});
    lcols *mc = NULL;
    if (model_columns(c, node, &mc) || !mc || !mc->n) {
        r->open = 1;
        return r;
    }
    for (size_t i = 0; i < mc->n; i++) {
        lcol *k = col_add(c, &r->cols, mc->v[i].shown);
        if (k)
            dep_add(c, &k->deps, (ldep){node, mc->v[i].shown, NULL, 0});
    }
    return r;
}

/* a column of rel (created when rel's columns are unknown), or NULL */
static lcol *rel_col(lctx *c, lrel *r, const char *lname, const char *shown)
{
    lcol *k = col_find(&r->cols, lname);
    if (k || !r->open)
        return k;
    k = col_add(c, &r->cols, shown);
    if (k) {
        if (r->node >= 0)
            dep_add(c, &k->deps, (ldep){r->node, k->shown, NULL, 0});
        else
            for (size_t i = 0; i < r->rows.n; i++)
                dep_add(c, &k->deps, r->rows.v[i]);
    }
    return k;
}

/* add what column k of rel r comes from to d, extending the via chain */
static void take_col(lctx *c, ldeps *d, const lrel *r, const lcol *k)
{
    for (size_t i = 0; i < k->deps.n; i++) {
        ldep x = k->deps.v[i];
        if (r->label) {
            const char *hop =
                k->xf ? afmt(c, "%s.%s = %s", r->label, k->shown, k->expr) : afmt(c, "%s.%s", r->label, k->shown);
            x.via = x.via ? afmt(c, "%s <- %s", hop, x.via) : hop;
            x.xf |= k->xf;
        }
        dep_add(c, d, x);
    }
}

static void take_rows(lctx *c, ldeps *d, const lrel *r)
{
    for (size_t i = 0; i < r->rows.n; i++) {
        ldep x = r->rows.v[i];
        x.xf = 1;
        if (r->label && !x.via)
            x.via = r->label;
        dep_add(c, d, x);
    }
}

static void scope_add(lctx *c, lscope *s, lrel *r)
{
    lrel **nv = agrow(c, s->rels, &s->cap, s->n, sizeof *nv);
    if (!nv || !r)
        return;
    s->rels = nv;
    s->rels[s->n++] = r;
}

static lrel *scope_find(const lscope *s, const char *alias)
{
    for (; s; s = s->parent)
        for (size_t i = 0; i < s->n; i++)
            if (s->rels[i]->alias && !strcmp(s->rels[i]->alias, alias))
                return s->rels[i];
    return NULL;
}

/* ------------------------------------------------------------ statements */

static int parse_query(lctx *c, size_t a, size_t b, const lcte *ctes, const lscope *outer, lrel *out);

static const char *span(lctx *c, size_t a, size_t b)
{
    if (a >= b)
        return astr(c, "", 0);
    const char *s = c->tk[a].s, *e = c->tk[b - 1].s + c->tk[b - 1].n;
    /* collapse runs of white space */
    kiln_buf buf;
    kiln_buf_init(&buf, 0);
    int sp = 0;
    for (const char *q = s; q < e; q++) {
        if (isspace((unsigned char)*q)) {
            sp = 1;
            continue;
        }
        if (sp && buf.len)
            kiln_buf_append(&buf, " ", 1, c->err);
        sp = 0;
        kiln_buf_append(&buf, q, 1, c->err);
    }
    char *r = astr(c, buf.data ? buf.data : "", buf.len);
    kiln_buf_free(&buf);
    return r;
}

/* the FROM list [a, b) into scope s */
static int parse_from(lctx *c, size_t a, size_t b, const lcte *ctes, const lscope *outer, lscope *s)
{
    size_t i = a;
    while (i < b && !c->oom) {
        const ltok *t = &c->tk[i];
        if (is_op(t, ',') || is_kw(t, "natural") || is_kw(t, "left") || is_kw(t, "right") || is_kw(t, "full") ||
            is_kw(t, "inner") || is_kw(t, "outer") || is_kw(t, "cross") || is_kw(t, "join")) {
            i++;
            continue;
        }
        lrel *r = NULL;
        if (is_op(t, '(')) {
            size_t e = skip_parens(c, i, b);
            size_t ia = i + 1, ib = e - 1;
            if (ia < ib && (is_kw(&c->tk[ia], "select") || is_kw(&c->tk[ia], "with") || is_kw(&c->tk[ia], "values"))) {
                r = aalloc(c, sizeof *r);
                if (!r)
                    return KILN_OOM(c->err);
                r->node = -1;
                int rc = parse_query(c, ia, ib, ctes, outer, r);
                if (rc)
                    return rc;
            } else {
                int rc = parse_from(c, ia, ib, ctes, outer, s);
                if (rc)
                    return rc;
            }
            i = e;
        } else if (is_ident(t) || t->t == T_ID) {
            const char *name = t->v;
            size_t j = i + 1;
            const char *full = name;
            while (j + 1 < b && is_op(&c->tk[j], '.') && (c->tk[j + 1].t == T_ID || c->tk[j + 1].t == T_QID)) {
                full = afmt(c, "%s.%s", full, c->tk[j + 1].v);
                name = c->tk[j + 1].v;
                j += 2;
            }
            const lcte *ct = NULL;
            if (full == name)
                for (ct = ctes; ct && strcmp(ct->name, name); ct = ct->next)
                    ;
            if (ct) {
                r = aalloc(c, sizeof *r);
                if (!r)
                    return KILN_OOM(c->err);
                *r = *ct->rel;
            } else {
                void *v = kiln_map_get(c->by_rel, full, strlen(full));
                r = rel_node(c, v ? (long)(uintptr_t)v - 1 : -1, NULL);
                if (!r)
                    return KILN_OOM(c->err);
            }
            r->alias = name;
            if (j < b && is_op(&c->tk[j], '(')) /* table-valued function */
                j = skip_parens(c, j, b);
            i = j;
        } else {
            i++;
            continue;
        }
        /* alias */
        if (i < b && is_kw(&c->tk[i], "as"))
            i++;
        if (i < b && is_ident(&c->tk[i])) {
            r->alias = c->tk[i].v;
            if (r->label || r->node < 0)
                r->label = r->label ? r->label : r->alias;
            i++;
        }
        if (!r->label && r->node < 0)
            r->label = r->alias ? r->alias : "(subquery)";
        scope_add(c, s, r);
        /* ON condition / USING list: not lineage */
        if (i < b && (is_kw(&c->tk[i], "on") || is_kw(&c->tk[i], "using")))
            i = find0(c, i + 1, b, stop_join);
    }
    return c->oom ? KILN_OOM(c->err) : 0;
}

/* What the expression [a, b) reads, into deps. */
static int expr_deps(lctx *c, size_t a, size_t b, const lcte *ctes, const lscope *s, ldeps *d)
{
    for (size_t i = a; i < b && !c->oom; i++) {
        const ltok *t = &c->tk[i];
        if (is_op(t, '(') && i + 1 < b && (is_kw(&c->tk[i + 1], "select") || is_kw(&c->tk[i + 1], "with"))) {
            size_t e = skip_parens(c, i, b);
            lrel sub = {0};
            sub.node = -1;
            int rc = parse_query(c, i + 1, e - 1, ctes, s, &sub);
            if (rc)
                return rc;
            for (size_t k = 0; k < sub.cols.n; k++)
                for (size_t m = 0; m < sub.cols.v[k].deps.n; m++) {
                    ldep x = sub.cols.v[k].deps.v[m];
                    x.xf = 1;
                    dep_add(c, d, x);
                }
            i = e - 1;
            continue;
        }
        if (is_op(t, '*') && i > a && is_op(&c->tk[i - 1], '(')) { /* count(*): the rows */
            for (const lscope *q = s; q; q = NULL)
                for (size_t k = 0; k < q->n; k++)
                    take_rows(c, d, q->rels[k]);
            continue;
        }
        if (t->t != T_ID && t->t != T_QID)
            continue;
        if (i > a && (is_kw(&c->tk[i - 1], "as") || is_op(&c->tk[i - 1], '.')))
            continue; /* cast(x AS type), a qualified name's later part */
        if (i + 1 < b && is_op(&c->tk[i + 1], '(') && t->t == T_ID)
            continue; /* a function */
        if (i + 2 < b && is_op(&c->tk[i + 1], '.') &&
            (c->tk[i + 2].t == T_ID || c->tk[i + 2].t == T_QID || is_op(&c->tk[i + 2], '*'))) {
            size_t last = i + 2;
            const char *qual = t->v;
            if (last + 2 < b && is_op(&c->tk[last + 1], '.') && c->tk[last + 2].t != T_OP) {
                qual = c->tk[last].v; /* schema.table.column */
                last += 2;
            }
            lrel *r = scope_find(s, qual);
            if (r && is_op(&c->tk[last], '*'))
                take_rows(c, d, r);
            else if (r) {
                lcol *k = rel_col(c, r, c->tk[last].v, astr(c, c->tk[last].s, c->tk[last].n));
                if (k)
                    take_col(c, d, r, k);
            }
            i = last;
            continue;
        }
        if (t->t == T_ID && keyword(t))
            continue;
        /* a bare name: the first FROM item (innermost scope first) that has it */
        lrel *found = NULL;
        lcol *fk = NULL;
        for (const lscope *q = s; q && !found; q = q->parent) {
            for (size_t k = 0; k < q->n && !found; k++)
                if ((fk = col_find(&q->rels[k]->cols, t->v)))
                    found = q->rels[k];
            if (!found && q->n == 1 && q->rels[0]->open) {
                found = q->rels[0];
                fk = rel_col(c, found, t->v, t->t == T_QID ? t->u : astr(c, t->s, t->n));
            }
        }
        if (found && fk)
            take_col(c, d, found, fk);
    }
    return c->oom ? KILN_OOM(c->err) : 0;
}

/* one SELECT core [a, b) (starting at SELECT or VALUES) into out's columns */
static int parse_core(lctx *c, size_t a, size_t b, const lcte *ctes, const lscope *outer, lrel *out)
{
    if (is_kw(&c->tk[a], "values")) {
        size_t e = a + 1 < b && is_op(&c->tk[a + 1], '(') ? skip_parens(c, a + 1, b) : b;
        size_t n = 1;
        for (size_t i = a + 2; i + 1 < e; i++)
            n += is_op(&c->tk[i], ',') && find0(c, a + 2, i + 1, stop_comma) == i;
        for (size_t i = 0; i < n; i++)
            col_add(c, &out->cols, afmt(c, "column%zu", i + 1));
        return c->oom ? KILN_OOM(c->err) : 0;
    }
    size_t i = a + 1;
    if (i < b && (is_kw(&c->tk[i], "distinct") || is_kw(&c->tk[i], "all")))
        i++;
    size_t items_end = find0(c, i, b, stop_items);
    lscope s = {0};
    s.parent = outer;
    if (items_end < b && is_kw(&c->tk[items_end], "from")) {
        size_t fe = find0(c, items_end + 1, b, stop_after_from);
        int rc = parse_from(c, items_end + 1, fe, ctes, outer, &s);
        if (rc)
            return rc;
    }
    for (size_t k = 0; k < s.n; k++)
        for (size_t m = 0; m < s.rels[k]->rows.n; m++)
            dep_add(c, &out->rows, s.rels[k]->rows.v[m]);
    while (i < items_end && !c->oom) {
        size_t e = find0(c, i, items_end, stop_comma);
        size_t ia = i, ib = e;
        i = e + 1;
        if (ia >= ib)
            continue;
        /* * and t.* */
        if (ib - ia == 1 && is_op(&c->tk[ia], '*')) {
            for (size_t k = 0; k < s.n; k++) {
                lrel *r = s.rels[k];
                if (r->open && !r->cols.n) {
                    lcol *x = col_add(c, &out->cols, "*");
                    if (x)
                        take_rows(c, &x->deps, r);
                }
                for (size_t m = 0; m < r->cols.n; m++) {
                    lcol *x = col_add(c, &out->cols, r->cols.v[m].shown);
                    if (x) {
                        x->expr = r->cols.v[m].shown;
                        take_col(c, &x->deps, r, &r->cols.v[m]);
                    }
                }
            }
            continue;
        }
        if (ib - ia == 3 && is_op(&c->tk[ia + 1], '.') && is_op(&c->tk[ia + 2], '*')) {
            lrel *r = scope_find(&s, c->tk[ia].v);
            for (size_t m = 0; r && m < r->cols.n; m++) {
                lcol *x = col_add(c, &out->cols, r->cols.v[m].shown);
                if (x) {
                    x->expr = r->cols.v[m].shown;
                    take_col(c, &x->deps, r, &r->cols.v[m]);
                }
            }
            continue;
        }
        const char *name = NULL;
        size_t xe = ib;
        if (ib - ia >= 3 && is_kw(&c->tk[ib - 2], "as") &&
            (c->tk[ib - 1].t == T_ID || c->tk[ib - 1].t == T_QID || c->tk[ib - 1].t == T_STR)) {
            const ltok *t = &c->tk[ib - 1];
            name = t->t == T_ID ? astr(c, t->s, t->n) : t->t == T_QID ? t->u : astr(c, t->s + 1, t->n - 2);
            xe = ib - 2;
        } else if (ib - ia >= 2 && is_ident(&c->tk[ib - 1]) && !is_op(&c->tk[ib - 2], '.') &&
                   (c->tk[ib - 2].t != T_OP || is_op(&c->tk[ib - 2], ')')) && !is_kw(&c->tk[ib - 2], "distinct")) {
            name = c->tk[ib - 1].t == T_QID ? c->tk[ib - 1].u : astr(c, c->tk[ib - 1].s, c->tk[ib - 1].n);
            xe = ib - 1;
        }
        int plain = (xe - ia == 1 && (c->tk[ia].t == T_ID || c->tk[ia].t == T_QID)) ||
                    (xe - ia == 3 && is_op(&c->tk[ia + 1], '.') && c->tk[ia + 2].t != T_OP);
        if (!name)
            name = plain ? (c->tk[xe - 1].t == T_QID ? c->tk[xe - 1].u : astr(c, c->tk[xe - 1].s, c->tk[xe - 1].n))
                         : span(c, ia, xe);
        lcol *x = col_add(c, &out->cols, name);
        if (!x)
            break;
        x->expr = span(c, ia, xe);
        x->xf = !plain;
        int rc = expr_deps(c, ia, xe, ctes, &s, &x->deps);
        if (rc)
            return rc;
        if (x->xf)
            for (size_t m = 0; m < x->deps.n; m++)
                x->deps.v[m].xf = 1;
    }
    return c->oom ? KILN_OOM(c->err) : 0;
}

static int parse_query(lctx *c, size_t a, size_t b, const lcte *ctes, const lscope *outer, lrel *out)
{
    while (a < b && is_op(&c->tk[a], '(') && skip_parens(c, a, b) == b) { /* ( query ) */
        a++;
        b--;
    }
    if (a < b && is_kw(&c->tk[a], "with")) {
        size_t i = a + 1;
        if (i < b && is_kw(&c->tk[i], "recursive"))
            i++;
        while (i < b && (c->tk[i].t == T_ID || c->tk[i].t == T_QID)) {
            lcte *ct = aalloc(c, sizeof *ct);
            if (!ct)
                return KILN_OOM(c->err);
            ct->name = c->tk[i].v;
            i++;
            size_t names = 0, names_end = 0;
            if (i < b && is_op(&c->tk[i], '(')) { /* name(col, ...) */
                names = i + 1;
                names_end = skip_parens(c, i, b) - 1;
                i = names_end + 1;
            }
            if (i < b && is_kw(&c->tk[i], "as"))
                i++;
            while (i < b && (is_kw(&c->tk[i], "not") || is_kw(&c->tk[i], "materialized")))
                i++;
            if (i >= b || !is_op(&c->tk[i], '('))
                break;
            size_t e = skip_parens(c, i, b);
            ct->rel = aalloc(c, sizeof *ct->rel);
            if (!ct->rel)
                return KILN_OOM(c->err);
            ct->rel->node = -1;
            ct->rel->label = ct->name;
            ct->next = ctes;
            int rc = parse_query(c, i + 1, e - 1, ctes, outer, ct->rel);
            if (rc)
                return rc;
            if (names) /* rename the columns positionally */
                for (size_t k = names, m = 0; k < names_end && m < ct->rel->cols.n; k++)
                    if (c->tk[k].t == T_ID || c->tk[k].t == T_QID) {
                        ct->rel->cols.v[m].shown = c->tk[k].t == T_QID ? c->tk[k].u : astr(c, c->tk[k].s, c->tk[k].n);
                        ct->rel->cols.v[m].name = c->tk[k].v;
                        m++;
                    }
            ctes = ct;
            i = e;
            if (i < b && is_op(&c->tk[i], ','))
                i++;
            else
                break;
        }
        a = i;
    }
    /* compound members */
    int first = 1;
    while (a < b && !c->oom) {
        size_t e = find0(c, a + 1, b, stop_compound);
        if (!(is_kw(&c->tk[a], "select") || is_kw(&c->tk[a], "values")))
            break;
        lrel part = {0};
        part.node = -1;
        int rc = parse_core(c, a, e, ctes, outer, first ? out : &part);
        if (rc)
            return rc;
        if (!first) {
            for (size_t k = 0; k < part.cols.n && k < out->cols.n; k++) {
                lcol *o = &out->cols.v[k];
                o->xf |= part.cols.v[k].xf;
                for (size_t m = 0; m < part.cols.v[k].deps.n; m++)
                    dep_add(c, &o->deps, part.cols.v[k].deps.v[m]);
            }
            for (size_t m = 0; m < part.rows.n; m++)
                dep_add(c, &out->rows, part.rows.v[m]);
        }
        first = 0;
        if (e >= b || !(is_kw(&c->tk[e], "union") || is_kw(&c->tk[e], "intersect") || is_kw(&c->tk[e], "except")))
            break;
        a = e + 1;
        if (a < b && is_kw(&c->tk[a], "all"))
            a++;
    }
    return c->oom ? KILN_OOM(c->err) : 0;
}

/* ------------------------------------------------------------ nodes */

static void node_label(lctx *c, long node, const char **rel)
{
    km_node *n = c->p->nodes.items[node];
    char *r = kiln_models__relation(c->p, n);
    *rel = r ? astr(c, r, strlen(r)) : n->name;
    kiln_free(r);
}

/* columns of a source from the warehouse (its Iceberg schema), else YAML */
static void source_columns(lctx *c, long node, lcols *out)
{
    km_node *n = c->p->nodes.items[node];
    if (kiln_models__relation_exists(c->p, n)) {
        char *rel = kiln_models__relation(c->p, n);
        kiln_lake_table *t = NULL;
        kiln_err e = {0};
        if (rel && kiln_lake_table_load(&t, c->p->catalog, rel, &e) == 0) {
            const kiln_lake_schema *sc = kiln_lake_meta_current_schema(kiln_lake_table_meta(t));
            for (size_t i = 0; sc && i < sc->nfields; i++)
                col_add(c, out, astr(c, sc->fields[i].name, strlen(sc->fields[i].name)));
        }
        kiln_lake_table_free(t);
        kiln_free(rel);
        if (out->n)
            return;
    }
    if (n->columns.t == KJ_DICT)
        for (size_t i = 0; i < n->columns.u.d->len; i++) {
            kj_val k = n->columns.u.d->keys[i];
            if (k.t == KJ_STR)
                col_add(c, out, astr(c, k.u.s->p, k.u.s->len));
        }
}

/* a seed's columns: its CSV header */
static void seed_columns(lctx *c, long node, lcols *out)
{
    km_node *n = c->p->nodes.items[node];
    const char *s = n->raw ? n->raw : "";
    size_t len = n->raw ? n->raw_len : 0;
    if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) {
        s += 3;
        len -= 3;
    }
    kj_val delim = kiln_models__cfg(n, "delimiter");
    char d = delim.t == KJ_STR && delim.u.s->len == 1 ? delim.u.s->p[0] : ',';
    size_t i = 0;
    while (i <= len) {
        kiln_buf f;
        kiln_buf_init(&f, 0);
        if (i < len && s[i] == '"') {
            for (i++; i < len; i++) {
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') {
                        kiln_buf_append(&f, "\"", 1, c->err);
                        i++;
                        continue;
                    }
                    i++;
                    break;
                }
                kiln_buf_append(&f, s + i, 1, c->err);
            }
        } else {
            for (; i < len && s[i] != d && s[i] != '\n' && s[i] != '\r'; i++)
                kiln_buf_append(&f, s + i, 1, c->err);
        }
        if (f.len)
            col_add(c, out, astr(c, f.data, f.len));
        kiln_buf_free(&f);
        if (i >= len || s[i] != d)
            break;
        i++;
    }
}

static int model_columns(lctx *c, long node, lcols **out)
{
    *out = c->model_cols[node];
    if (c->state[node] == 2 || c->state[node] == 1)
        return 0;
    c->state[node] = 1;
    lcols *cs = aalloc(c, sizeof *cs);
    if (!cs)
        return KILN_OOM(c->err);
    km_node *n = c->p->nodes.items[node];
    int rc = 0;
    if (n->kind == KM_SEED)
        seed_columns(c, node, cs);
    else if (n->kind == KM_SOURCE)
        source_columns(c, node, cs);
    else if ((n->kind == KM_MODEL || n->kind == KM_SNAPSHOT) && n->compiled) {
        ltok *tk = c->tk;
        size_t ntk = c->ntk;
        long cur = c->cur;
        c->cur = node;
        rc = tokenize(c, n->compiled, n->compiled_len);
        if (!rc) {
            lrel r = {0};
            r.node = -1;
            size_t a = 0;
            rc = parse_query(c, a, c->ntk, NULL, NULL, &r);
            *cs = r.cols;
            if (n->kind == KM_SNAPSHOT) /* dbt's snapshot columns come from the run */
                for (size_t i = 0; i < 4; i++) {
                    static const char *const sn[] = {"dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to"};
                    lcol *k = col_add(c, cs, sn[i]);
                    if (k)
                        k->xf = 1;
                }
        }
        c->tk = tk;
        c->ntk = ntk;
        c->cur = cur;
    }
    c->model_cols[node] = cs;
    c->state[node] = 2;
    *out = cs;
    return rc ? rc : c->oom ? KILN_OOM(c->err) : 0;
}

static const char *kind_name(km_kind k)
{
    static const char *const names[] = {"model", "seed", "test", "source", "snapshot", "analysis"};
    return names[k];
}

/* ------------------------------------------------------------ output */

typedef struct lline {
    long node;
    const char *col, *via, *expr;
    int xf, depth;
    long parent; /* index in the lines, -1 for the start */
    int repeat;  /* shown above already */
} lline;

typedef struct llines {
    lline *v;
    size_t n, cap;
} llines;

/* what (node, col) comes from: its deps; a model's rows come from its parents' */
static int deps_of(lctx *c, long node, const char *col, const ldeps **d, const char **expr, ldeps *tmp)
{
    *d = NULL;
    *expr = NULL;
    km_node *n = c->p->nodes.items[node];
    if (n->kind != KM_MODEL && n->kind != KM_SNAPSHOT)
        return 0;
    if (!strcmp(col, "*")) {
        memset(tmp, 0, sizeof *tmp);
        for (size_t i = 0; i < n->parents.len; i++)
            dep_add(c, tmp, (ldep){(long)n->parents.items[i], "*", NULL, 1});
        *d = tmp;
        return 0;
    }
    lcols *cs;
    int rc = model_columns(c, node, &cs);
    if (rc || !cs)
        return rc;
    char *l = alower(c, col, strlen(col));
    lcol *k = l ? col_find(cs, l) : NULL;
    if (k) {
        *d = &k->deps;
        *expr = k->xf ? k->expr : NULL;
    }
    return 0;
}

static int walk(lctx *c, llines *L, long node, const char *col, int depth, long parent, const char *via, int xf,
                int down, const char *expr)
{
    for (size_t i = 0; i < L->n; i++)
        if (L->v[i].node == node && !strcasecmp(L->v[i].col, col) && !L->v[i].repeat) {
            lline *nv = agrow(c, L->v, &L->cap, L->n, sizeof *nv);
            if (!nv)
                return KILN_OOM(c->err);
            L->v = nv;
            L->v[L->n++] = (lline){node, col, via, expr, xf, depth, parent, 1};
            return 0;
        }
    lline *nv = agrow(c, L->v, &L->cap, L->n, sizeof *nv);
    if (!nv)
        return KILN_OOM(c->err);
    L->v = nv;
    long me = (long)L->n;
    L->v[L->n++] = (lline){node, col, via, expr, xf, depth, parent, 0};
    if (depth > 64)
        return 0;
    if (!down) {
        const ldeps *d;
        const char *myexpr;
        ldeps tmp;
        int rc = deps_of(c, node, col, &d, &myexpr, &tmp);
        if (rc)
            return rc;
        L->v[me].expr = myexpr;
        for (size_t i = 0; d && i < d->n; i++)
            if ((rc = walk(c, L, d->v[i].node, d->v[i].col, depth + 1, me, d->v[i].via, d->v[i].xf, 0, NULL)))
                return rc;
        return 0;
    }
    /* downstream: every model column with a dep on (node, col) */
    for (size_t m = 0; m < c->p->nodes.len; m++) {
        km_node *n = c->p->nodes.items[m];
        if (n->kind != KM_MODEL && n->kind != KM_SNAPSHOT)
            continue;
        if (!strcmp(col, "*")) {
            for (size_t k = 0; k < n->parents.len; k++)
                if ((long)n->parents.items[k] == node) {
                    int rc = walk(c, L, (long)m, "*", depth + 1, me, NULL, 1, 1, NULL);
                    if (rc)
                        return rc;
                }
            continue;
        }
        lcols *cs;
        int rc = model_columns(c, (long)m, &cs);
        if (rc)
            return rc;
        for (size_t k = 0; cs && k < cs->n; k++)
            for (size_t j = 0; j < cs->v[k].deps.n; j++) {
                const ldep *x = &cs->v[k].deps.v[j];
                if (x->node == node && !strcasecmp(x->col, col)) {
                    if ((rc = walk(c, L, (long)m, cs->v[k].shown, depth + 1, me, x->via, x->xf, 1,
                                   cs->v[k].xf ? cs->v[k].expr : NULL)))
                        return rc;
                    break;
                }
            }
    }
    return 0;
}

static int print_lines(lctx *c, const llines *L, int down, int json, FILE *out)
{
    if (!json) {
        for (size_t i = 0; i < L->n; i++) {
            const lline *l = &L->v[i];
            const char *rel;
            node_label(c, l->node, &rel);
            km_node *n = c->p->nodes.items[l->node];
            fprintf(out, "%*s%s%s.%s (%s)", l->depth * 2, "", l->depth ? (down ? "-> " : "<- ") : "", rel,
                    !strcmp(l->col, "*") ? "* (rows)" : l->col, kind_name(n->kind));
            if (l->repeat)
                fprintf(out, "  (see above)");
            fputc('\n', out);
            int ind = l->depth * 2 + (l->depth ? 3 : 0) + 2;
            if (l->via)
                fprintf(out, "%*svia %s\n", ind, "", l->via);
            if (l->expr)
                fprintf(out, "%*s= %s\n", ind, "", l->expr);
        }
        return 0;
    }
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = kiln_buf_printf(&b, c->err, "{\"direction\": \"%s\", \"columns\": [", down ? "downstream" : "upstream");
    for (size_t i = 0; i < L->n && !rc; i++) {
        const lline *l = &L->v[i];
        const char *rel;
        node_label(c, l->node, &rel);
        km_node *n = c->p->nodes.items[l->node];
        rc = kiln_buf_printf(&b, c->err, "%s\n  {\"relation\": ", i ? "," : "");
        kiln_json_write_str(&b, rel, strlen(rel), c->err);
        kiln_buf_printf(&b, c->err, ", \"column\": ");
        kiln_json_write_str(&b, l->col, strlen(l->col), c->err);
        kiln_buf_printf(&b, c->err, ", \"unique_id\": ");
        kiln_json_write_str(&b, n->unique_id, strlen(n->unique_id), c->err);
        kiln_buf_printf(&b, c->err, ", \"resource_type\": \"%s\", \"depth\": %d, \"from\": %ld, \"transformed\": %s",
                        kind_name(n->kind), l->depth, l->parent, l->xf ? "true" : "false");
        kiln_buf_printf(&b, c->err, ", \"expression\": ");
        if (l->expr)
            kiln_json_write_str(&b, l->expr, strlen(l->expr), c->err);
        else
            kiln_buf_printf(&b, c->err, "null");
        kiln_buf_printf(&b, c->err, ", \"via\": ");
        if (l->via)
            kiln_json_write_str(&b, l->via, strlen(l->via), c->err);
        else
            kiln_buf_printf(&b, c->err, "null");
        rc = kiln_buf_printf(&b, c->err, ", \"repeat\": %s}", l->repeat ? "true" : "false");
    }
    if (!rc)
        rc = kiln_buf_printf(&b, c->err, "\n]}\n");
    if (!rc)
        fwrite(b.data, 1, b.len, out);
    kiln_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------ entry */

/* "[schema.]model.column", "source_name.table.column" or
 * "schema.identifier.column" -> node and column */
static int resolve_target(lctx *c, const char *target, long *node, const char **col)
{
    const char *dot = strrchr(target, '.');
    if (!dot || dot == target || !dot[1])
        return kiln_err_set(c->err, KILN_EINVAL,
                            "'%s': give MODEL.COLUMN (or SCHEMA.MODEL.COLUMN, SOURCE.TABLE.COLUMN)", target);
    char *rel = alower(c, target, (size_t)(dot - target));
    *col = astr(c, dot + 1, strlen(dot + 1));
    if (!rel || !*col)
        return KILN_OOM(c->err);
    *node = -1;
    void *v = kiln_map_get(c->by_rel, rel, strlen(rel));
    if (v)
        *node = (long)(uintptr_t)v - 1;
    if (*node < 0)
        *node = kiln_models__find_name(c->p, rel);
    for (size_t i = 0; *node < 0 && i < c->p->nodes.len; i++) {
        km_node *n = c->p->nodes.items[i];
        if (n->kind == KM_SOURCE && n->source_name) {
            char *sn = afmt(c, "%s.%s", n->source_name, n->name);
            if (sn && !strcasecmp(sn, rel))
                *node = (long)i;
        }
    }
    if (*node < 0)
        return kiln_err_set(c->err, KILN_ENOTFOUND, "'%s': no model, seed, snapshot or source named '%.*s'", target,
                            (int)(dot - target), target);
    if (!strcmp(*col, "*"))
        return 0;
    lcols *cs;
    int rc = model_columns(c, *node, &cs);
    if (rc)
        return rc;
    char *lc = alower(c, *col, strlen(*col));
    if (cs && cs->n && lc && !col_find(cs, lc)) {
        kiln_buf b;
        kiln_buf_init(&b, 0);
        for (size_t i = 0; i < cs->n && i < 40; i++)
            kiln_buf_printf(&b, c->err, "%s%s", i ? ", " : "", cs->v[i].shown);
        rc = kiln_err_set(c->err, KILN_ENOTFOUND, "'%s': %s has no column '%s' (columns: %s)", target,
                          c->p->nodes.items[*node]->name, *col, b.data ? b.data : "");
        kiln_buf_free(&b);
        return rc;
    }
    if (lc && cs && (!cs->n || !col_find(cs, lc)) && c->p->nodes.items[*node]->kind != KM_SOURCE)
        return kiln_err_set(c->err, KILN_ENOTFOUND, "'%s': the columns of %s are unknown", target,
                            c->p->nodes.items[*node]->name);
    if (lc && cs && col_find(cs, lc))
        *col = col_find(cs, lc)->shown;
    return 0;
}

/* The lineage context of c->p: an arena, each model's relation (lowercase)
 * to its node index + 1, per-node column and state slots. */
static int lctx_init(lctx *c)
{
    kiln_project *p = c->p;
    int rc = 0;
    c->a = kiln_arena_new(1 << 16);
    c->by_rel = kiln_map_new();
    c->model_cols = kiln_calloc(p->nodes.len + 1, sizeof *c->model_cols);
    c->state = kiln_calloc(p->nodes.len + 1, sizeof *c->state);
    if (!c->a || !c->by_rel || !c->model_cols || !c->state)
        return KILN_OOM(c->err);
    for (size_t i = 0; i < p->nodes.len && !rc; i++) {
        km_node *n = p->nodes.items[i];
        if (n->kind == KM_TEST || n->kind == KM_ANALYSIS)
            continue;
        char *r = kiln_models__relation(p, n);
        char *l = r ? alower(c, r, strlen(r)) : NULL;
        kiln_free(r);
        if (!l || c->oom)
            return KILN_OOM(c->err);
        if (!kiln_map_get(c->by_rel, l, strlen(l)))
            rc = kiln_map_put(c->by_rel, l, strlen(l), (void *)(uintptr_t)(i + 1), c->err);
    }
    return rc;
}

int kiln_models_lineage(const kiln_models_opts *o, const char *target, int downstream, int json, FILE *out,
                        kiln_err *err)
{
    kiln_models_opts lo = *o;
    lo.full_refresh = 1; /* read the model as a full build: no {{ this }} filters */
    kiln_project *p;
    int rc = kiln_project_load(&p, &lo, err);
    if (rc)
        return rc;
    lctx c = {0};
    c.p = p;
    c.err = err;
    km_idxvec all = {0};
    llines L = {0};
    if ((rc = kiln_models__render_all(p, err)) || (rc = kiln_models__graph_build(p, err)) ||
        (rc = kiln_models__select(p, NULL, NULL, ~0u, &all, err)))
        goto done;
    for (size_t i = 0; i < all.len && !rc; i++)
        rc = kiln_models__inject_ctes(p, p->nodes.items[all.items[i]], err);
    if (rc)
        goto done;
    if ((rc = lctx_init(&c)))
        goto done;
    long node = -1;
    const char *col = NULL;
    if (rc || (rc = resolve_target(&c, target, &node, &col)))
        goto done;
    if ((rc = walk(&c, &L, node, col, 0, -1, NULL, 0, downstream, NULL)))
        goto done;
    rc = print_lines(&c, &L, downstream, json, out);
done:
    kiln_vec_free(&all);
    kiln_map_free(c.by_rel);
    kiln_free(c.model_cols);
    kiln_free(c.state);
    kiln_arena_free(c.a);
    kiln_project_free(p);
    return rc;
}

/* ---- plan.c: every model's direct column edges ---- */

int kiln_models__lineage_edges(kiln_project *p, void (*fn)(void *, long, const char *, long, const char *), void *ud,
                               kiln_err *err)
{
    lctx c = {0};
    c.p = p;
    c.err = err;
    int rc = 0;
    rc = lctx_init(&c);
    for (size_t i = 0; i < p->nodes.len && !rc; i++) {
        if (p->nodes.items[i]->kind != KM_MODEL)
            continue;
        lcols *cs = NULL;
        kiln_err e = {0};
        c.err = &e;
        if (model_columns(&c, (long)i, &cs) || !cs) { /* SQL lineage cannot read: no edges */
            c.err = err;
            continue;
        }
        c.err = err;
        for (size_t k = 0; k < cs->n; k++)
            for (size_t d = 0; d < cs->v[k].deps.n; d++)
                fn(ud, (long)i, cs->v[k].name, cs->v[k].deps.v[d].node, cs->v[k].deps.v[d].col);
    }
    kiln_map_free(c.by_rel);
    kiln_free(c.model_cols);
    kiln_free(c.state);
    kiln_arena_free(c.a);
    return rc;
}
