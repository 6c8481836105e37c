/*
 * pred.c - kiln's one filter-expression parser (see pred.h): a small lexer
 * (bare words, quoted strings, operators), terms joined by AND, literals
 * typed by their column, and the folding of decimal literals a column
 * cannot hold exactly into an equivalent comparison on its unscaled int64.
 */
#include "format/pred.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct lexer {
    const char *p;
} lexer;

/* Next token: identifier/number/bare word, quoted string, or operator.
 * 1 = token, 0 = end, -1 = unterminated quote. */
static int lex(lexer *lx, const char **tok, size_t *n, int *quoted)
{
    const char *p = lx->p;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    *quoted = 0;
    if (!*p) {
        lx->p = p;
        return 0;
    }
    if (*p == '\'' || *p == '"') {
        char q = *p++;
        const char *s = p;
        while (*p && *p != q)
            p++;
        if (!*p)
            return -1;
        *tok = s;
        *n = (size_t)(p - s);
        *quoted = 1;
        lx->p = p + 1;
        return 1;
    }
    if (strchr("=<>!", *p)) {
        const char *s = p++;
        if (*p == '=' || (*s == '<' && *p == '>'))
            p++;
        *tok = s;
        *n = (size_t)(p - s);
        lx->p = p;
        return 1;
    }
    const char *s = p;
    while (*p && !strchr(" \t\n\r=<>!'\"", *p))
        p++;
    *tok = s;
    *n = (size_t)(p - s);
    lx->p = p;
    return 1;
}

static int tok_is(const char *t, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(t, word, n) == 0;
}

/* A decimal literal L against an int64 column: floor(L) and ceil(L) in
 * unscaled units, each "valid" unless L lies beyond int64 on that side. */
typedef struct declit {
    int64_t floor, ceil;
    int floor_ok, ceil_ok, exact;
} declit;

static int parse_decimal(declit *d, const char *s, size_t n, int scale)
{
    int64_t f;
    int exact;
    int rc = kiln_decimal_parse(&f, &exact, s, n, scale);
    if (rc == KILN_EINVAL)
        return rc;
    memset(d, 0, sizeof *d);
    if (rc == KILN_ELIMIT) { /* beyond int64: +/- infinity for every column value */
        d->floor_ok = f == INT64_MAX;
        d->ceil_ok = f == INT64_MIN;
        d->floor = d->ceil = f;
        return 0;
    }
    d->exact = exact;
    d->floor = f;
    d->floor_ok = 1;
    d->ceil = exact ? f : f + (f < INT64_MAX);
    d->ceil_ok = exact || f < INT64_MAX;
    return 0;
}

static int parse_literal(kiln_pred_value *out, declit *dec, kiln_arena *a, const kiln_column_def *c, const char *tok,
                         size_t n, kiln_err *err)
{
    memset(out, 0, sizeof *out);
    char *s = kiln_arena_strndup(a, tok, n);
    if (!s)
        return KILN_OOM(err);
    char *end = NULL;
    errno = 0;
    switch (c->type) {
    case KILN_T_STRING:
    case KILN_T_BINARY:
        out->s = s;
        out->n = n;
        return 0;
    case KILN_T_BOOL:
        if (!strcasecmp(s, "true") || !strcmp(s, "1"))
            out->i = 1;
        else if (!strcasecmp(s, "false") || !strcmp(s, "0"))
            out->i = 0;
        else
            break;
        return 0;
    case KILN_T_INT32:
    case KILN_T_INT64:
        out->i = strtoll(s, &end, 10);
        if (errno || end == s || *end)
            break;
        out->d = (double)out->i;
        return 0;
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE:
        out->d = strtod(s, &end);
        if (end == s || *end)
            break;
        return 0;
    case KILN_T_DATE:
        if (kiln_date_parse(s, n, &out->i))
            break;
        return 0;
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: {
        int64_t days;
        if (kiln_ts_parse(s, n, &out->i) == 0)
            return 0;
        /* a zone-less timestamp reads as UTC */
        char *z = kiln_arena_alloc(a, n + 2);
        if (!z)
            return KILN_OOM(err);
        memcpy(z, s, n);
        z[n] = 'Z';
        z[n + 1] = 0;
        if (kiln_ts_parse(z, n + 1, &out->i) == 0)
            return 0;
        if (kiln_date_parse(s, n, &days) == 0) {
            out->i = days * 86400000000LL;
            return 0;
        }
        break;
    }
    case KILN_T_DECIMAL:
        if (parse_decimal(dec, s, n, c->scale))
            break;
        out->i = dec->floor;
        return 0;
    case KILN_T_DECIMAL_WIDE:
    case KILN_T_JSON:
    case KILN_T_TIME:
    case KILN_T_UUID:
        return kiln_err_set(err, KILN_EUNSUPP, "--where: column %s (%s) can only be tested with IS NULL / IS NOT NULL",
                            c->name,
                            c->type == KILN_T_JSON           ? "a nested value"
                            : c->type == KILN_T_DECIMAL_WIDE ? "a decimal wider than 18 digits"
                                                             : kiln_type_name(c->type));
    }
    return kiln_err_set(err, KILN_EINVAL, "--where: '%s' is not a valid %s value for column %s", s,
                        kiln_type_name(c->type), c->name);
}

/* Rewrite a decimal comparison with an inexact or out-of-range literal
 * into an exact one on the unscaled value (see pred.h). */
static void fold_decimal(kiln_pred_term *t, const declit *lo, const declit *hi)
{
    int empty = 0;
    switch (t->op) {
    case KILN_PRED_EQ: empty = !lo->exact; break;
    case KILN_PRED_NE:
        if (!lo->exact)
            t->op = KILN_PRED_NOTNULL;
        break;
    case KILN_PRED_LT:
    case KILN_PRED_LE: /* x < L and x <= L are x <= floor(L) when L is inexact */
        if (lo->exact)
            break;
        t->op = KILN_PRED_LE;
        empty = !lo->floor_ok;
        t->v.i = lo->floor;
        break;
    case KILN_PRED_GT:
    case KILN_PRED_GE: /* x >= ceil(L) */
        if (lo->exact)
            break;
        t->op = KILN_PRED_GE;
        empty = !lo->ceil_ok;
        t->v.i = lo->ceil;
        break;
    case KILN_PRED_BETWEEN:
        empty = !lo->ceil_ok || !hi->floor_ok;
        t->v.i = lo->ceil;
        t->hi.i = hi->floor;
        break;
    default: break;
    }
    if (empty) {
        t->op = KILN_PRED_BETWEEN;
        t->v.i = 1;
        t->hi.i = 0;
    }
    t->v.d = (double)t->v.i;
    t->hi.d = (double)t->hi.i;
}

int kiln_pred_parse(kiln_pred_term **terms, int *nterms, kiln_arena *a, const kiln_schema *schema, const char *text,
                    kiln_err *err)
{
    *terms = NULL;
    *nterms = 0;
    lexer lx = {text ? text : ""};
    size_t cap = 8;
    int count = 0;
    kiln_pred_term *out = kiln_arena_alloc(a, cap * sizeof *out);
    if (!out)
        return KILN_OOM(err);
    for (;;) {
        const char *t = lx.p;
        size_t n = 0;
        int q, rc, r = lex(&lx, &t, &n, &q);
        if (r == 0 && count == 0)
            break; /* empty text: no terms */
        if (r <= 0 || q)
            return kiln_err_set(err, KILN_EINVAL, "--where: expected a column name near '%.20s'", lx.p);
        char name[256];
        if (n >= sizeof name)
            return kiln_err_set(err, KILN_EINVAL, "--where: column name too long");
        memcpy(name, t, n);
        name[n] = 0;
        int ci = kiln_schema_find(schema, name);
        if (ci < 0)
            return kiln_err_set(err, KILN_ENOTFOUND, "--where: no column '%s'", name);
        const kiln_column_def *c = &schema->cols[ci];
        if ((size_t)count == cap) {
            kiln_pred_term *nt = kiln_arena_alloc(a, cap * 2 * sizeof *nt);
            if (!nt)
                return KILN_OOM(err);
            memcpy(nt, out, cap * sizeof *nt);
            out = nt;
            cap *= 2;
        }
        kiln_pred_term *term = &out[count];
        memset(term, 0, sizeof *term);
        term->col = ci;
        if (lex(&lx, &t, &n, &q) <= 0)
            return kiln_err_set(err, KILN_EINVAL, "--where: expected an operator after %s", name);
        if (tok_is(t, n, "is")) {
            if (lex(&lx, &t, &n, &q) <= 0)
                return kiln_err_set(err, KILN_EINVAL, "--where: expected NULL after IS");
            if (tok_is(t, n, "not")) {
                term->op = KILN_PRED_NOTNULL;
                if (lex(&lx, &t, &n, &q) <= 0)
                    return kiln_err_set(err, KILN_EINVAL, "--where: expected NULL after IS NOT");
            } else {
                term->op = KILN_PRED_ISNULL;
            }
            if (!tok_is(t, n, "null"))
                return kiln_err_set(err, KILN_EINVAL, "--where: expected NULL after IS");
        } else {
            if (tok_is(t, n, "=") || tok_is(t, n, "=="))
                term->op = KILN_PRED_EQ;
            else if (tok_is(t, n, "!=") || tok_is(t, n, "<>"))
                term->op = KILN_PRED_NE;
            else if (tok_is(t, n, "<"))
                term->op = KILN_PRED_LT;
            else if (tok_is(t, n, "<="))
                term->op = KILN_PRED_LE;
            else if (tok_is(t, n, ">"))
                term->op = KILN_PRED_GT;
            else if (tok_is(t, n, ">="))
                term->op = KILN_PRED_GE;
            else if (tok_is(t, n, "between"))
                term->op = KILN_PRED_BETWEEN;
            else
                return kiln_err_set(
                    err, KILN_EINVAL,
                    "--where: unknown operator '%.*s' (use = != < <= > >= between, is null, is not null)", (int)n, t);
            declit dlo = {0}, dhi = {0};
            if (lex(&lx, &t, &n, &q) <= 0)
                return kiln_err_set(err, KILN_EINVAL, "--where: expected a value after the operator on %s", name);
            if ((rc = parse_literal(&term->v, &dlo, a, c, t, n, err)))
                return rc;
            if (term->op == KILN_PRED_BETWEEN) {
                if (lex(&lx, &t, &n, &q) <= 0 || q || !tok_is(t, n, "and"))
                    return kiln_err_set(err, KILN_EINVAL, "--where: expected AND in BETWEEN on %s", name);
                if (lex(&lx, &t, &n, &q) <= 0)
                    return kiln_err_set(err, KILN_EINVAL, "--where: expected the upper bound of BETWEEN on %s", name);
                if ((rc = parse_literal(&term->hi, &dhi, a, c, t, n, err)))
                    return rc;
            }
            if (c->type == KILN_T_DECIMAL)
                fold_decimal(term, &dlo, &dhi);
        }
        count++;
        int r2 = lex(&lx, &t, &n, &q);
        if (r2 == 0)
            break;
        if (r2 < 0 || q || !tok_is(t, n, "and"))
            return kiln_err_set(err, KILN_EINVAL,
                                "--where: expected AND between terms near '%.*s' (only AND is supported)", (int)n, t);
    }
    *terms = out;
    *nterms = count;
    return 0;
}
