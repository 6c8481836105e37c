/*
 * jinja_parse.c - lexer and parser of kiln's Jinja interpreter.
 *
 * The lexer works as Jinja2's does with dbt's settings: newlines are
 * normalized to "\n", one trailing newline is dropped (keep_trailing_newline
 * off), `{%-`/`{{-`/`{#-` strip the whitespace before the tag and
 * `-%}`/`-}}`/`-#}` the whitespace after it (trim_blocks/lstrip_blocks off,
 * so nothing else is stripped), a tag ends at `}}`/`%}` only outside
 * brackets (so dict literals nest), `{% raw %}` bodies are text.
 * The parser is recursive descent with Jinja2's precedence: ternary, or,
 * and, not, comparisons (chained, in, not in), + -, ~, * / // %, **,
 * unary - +, then postfix (.attr [item] [a:b] (call)) and filters/tests.
 * Nesting is capped (KJ_PARSE_DEPTH) so hostile input cannot exhaust the
 * stack. Nodes live in the template's arena.
 */
#include "models/jinja_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#define KJ_PARSE_DEPTH 200

enum { T_EOF, T_DATA, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_STR, T_INT, T_FLOAT, T_OP };

typedef struct tok {
    int t;
    uint32_t line, col;
    const char *p; /* T_NAME/T_OP: the text; T_DATA/T_STR: decoded (arena) */
    size_t n;
    int64_t i;
    double f;
} tok;

typedef struct parser {
    const char *name;
    const char *src, *end, *pos;
    uint32_t line, col;
    kiln_arena *arena;
    KILN_VEC(tok) toks;
    size_t ti;
    int depth;
    int macro_flags; /* varargs/kwargs/caller seen in the current macro body */
    kiln_err *err;
} parser;

static int perr(parser *ps, uint32_t line, uint32_t col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int perr(parser *ps, uint32_t line, uint32_t col, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_err_set(ps->err, KILN_EFORMAT, "%s:%u:%u: %s", ps->name, line, col, msg);
}

/* ------------------------------------------------------------ lexer */

static void adv(parser *ps, const char *to)
{
    for (const char *q = ps->pos; q < to; q++) {
        if (*q == '\n') {
            ps->line++;
            ps->col = 1;
        } else if (((unsigned char)*q & 0xC0) != 0x80) {
            ps->col++;
        }
    }
    ps->pos = to;
}

static int push_tok(parser *ps, int t, const char *p, size_t n, uint32_t line, uint32_t col)
{
    tok k = {t, line, col, p, n, 0, 0};
    return kiln_vec_push(&ps->toks, k, ps->err);
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_id0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_id(char c) { return is_id0(c) || is_digit(c); }

/* Emit the text [p, e), after the strip flags. */
static int emit_data(parser *ps, const char *p, const char *e, int lstrip, int rstrip, uint32_t line, uint32_t col)
{
    if (lstrip)
        while (p < e && is_ws(*p))
            p++;
    if (rstrip)
        while (e > p && is_ws(e[-1]))
            e--;
    if (e == p)
        return 0;
    return push_tok(ps, T_DATA, p, (size_t)(e - p), line, col);
}

/* Decode a Python string literal body (escapes as Python's). */
static int lex_string(parser *ps, const char *p, const char **endp)
{
    char q = *p++;
    uint32_t line = ps->line, col = ps->col;
    const char *s = p;
    while (p < ps->end && *p != q) {
        if (*p == '\\' && p + 1 < ps->end)
            p++;
        p++;
    }
    if (p >= ps->end)
        return perr(ps, line, col, "unterminated string");
    char *o = kiln_arena_alloc(ps->arena, (size_t)(p - s) + 1);
    if (!o)
        return KILN_OOM(ps->err);
    size_t n = 0;
    for (const char *r = s; r < p; r++) {
        if (*r != '\\') {
            o[n++] = *r;
            continue;
        }
        r++;
        switch (*r) {
        case 'n': o[n++] = '\n'; break;
        case 't': o[n++] = '\t'; break;
        case 'r': o[n++] = '\r'; break;
        case '0': o[n++] = '\0'; break;
        case '\\': o[n++] = '\\'; break;
        case '\'': o[n++] = '\''; break;
        case '"': o[n++] = '"'; break;
        case '\n': break;
        case 'x':
            if (r + 2 < p && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
                char h[3] = {r[1], r[2], 0};
                unsigned v = (unsigned)strtoul(h, NULL, 16);
                if (v < 0x80) {
                    o[n++] = (char)v;
                } else { /* U+0080..U+00FF as UTF-8 */
                    o[n++] = (char)(0xC0 | (v >> 6));
                    o[n++] = (char)(0x80 | (v & 0x3F));
                }
                r += 2;
                break;
            }
            /* fall through */
        default: o[n++] = '\\'; o[n++] = *r;
        }
    }
    o[n] = 0;
    *endp = p + 1;
    return push_tok(ps, T_STR, o, n, line, col);
}

static const char *const ops2[] = {"**", "//", "==", "!=", "<=", ">=", NULL};

/* Tokens of one {{ }} or {% %} tag; *strip_after = the tag ended with '-'. */
static int lex_tag(parser *ps, int is_block, int *strip_after)
{
    int bal = 0, rc;
    char close = is_block ? '%' : '}';
    for (;;) {
        const char *p = ps->pos;
        while (p < ps->end && is_ws(*p))
            p++;
        adv(ps, p);
        if (p >= ps->end)
            return perr(ps, ps->line, ps->col, "unexpected end of template, expected '%s'", is_block ? "%}" : "}}");
        if (!bal) {
            const char *q = p;
            int strip = 0;
            if ((*q == '-' || *q == '+') && q + 1 < ps->end && q[1] == close && q + 2 < ps->end && q[2] == '}') {
                strip = *q == '-';
                q++;
            }
            if (*q == close && q + 1 < ps->end && q[1] == '}') {
                if ((rc = push_tok(ps, is_block ? T_BEND : T_VEND, q, 2, ps->line, ps->col)))
                    return rc;
                adv(ps, q + 2);
                *strip_after = strip;
                return 0;
            }
        }
        uint32_t line = ps->line, col = ps->col;
        if (*p == '\'' || *p == '"') {
            const char *e = NULL;
            if ((rc = lex_string(ps, p, &e)))
                return rc;
            adv(ps, e);
            continue;
        }
        if (is_id0(*p)) {
            const char *e = p;
            while (e < ps->end && is_id(*e))
                e++;
            if ((rc = push_tok(ps, T_NAME, p, (size_t)(e - p), line, col)))
                return rc;
            adv(ps, e);
            continue;
        }
        if (is_digit(*p)) {
            const char *e = p;
            while (e < ps->end && (is_digit(*e) || (*e == '_' && e + 1 < ps->end && is_digit(e[1]))))
                e++;
            int isf = 0;
            if (e + 1 < ps->end && *e == '.' && is_digit(e[1])) {
                isf = 1;
                e++;
                while (e < ps->end && (is_digit(*e) || *e == '_'))
                    e++;
            }
            if (e < ps->end && (*e == 'e' || *e == 'E')) {
                const char *x = e + 1;
                if (x < ps->end && (*x == '+' || *x == '-'))
                    x++;
                if (x < ps->end && is_digit(*x)) {
                    isf = 1;
                    e = x;
                    while (e < ps->end && is_digit(*e))
                        e++;
                }
            }
            char buf[64];
            size_t k = 0;
            for (const char *r = p; r < e && k < sizeof buf - 1; r++)
                if (*r != '_')
                    buf[k++] = *r;
            buf[k] = 0;
            tok t = {isf ? T_FLOAT : T_INT, line, col, p, (size_t)(e - p), 0, 0};
            errno = 0;
            if (isf)
                t.f = strtod(buf, NULL);
            else
                t.i = strtoll(buf, NULL, 10);
            if (errno == ERANGE && !isf)
                return perr(ps, line, col, "integer literal too large");
            if ((rc = kiln_vec_push(&ps->toks, t, ps->err)))
                return rc;
            adv(ps, e);
            continue;
        }
        size_t n = 1;
        for (int i = 0; ops2[i]; i++)
            if (p + 1 < ps->end && p[0] == ops2[i][0] && p[1] == ops2[i][1])
                n = 2;
        if (n == 1 && !strchr("+-*/%~<>=.,:|()[]{}", *p))
            return perr(ps, line, col, "unexpected character '%c'", *p);
        if (*p == '(' || *p == '[' || *p == '{')
            bal++;
        else if ((*p == ')' || *p == ']' || *p == '}') && bal > 0)
            bal--;
        if ((rc = push_tok(ps, T_OP, p, n, line, col)))
            return rc;
        adv(ps, p + n);
    }
}

/* Is "{% [-+]? raw [-+]? %}" at p? Returns the end of the tag or NULL. */
static const char *match_word_tag(const char *p, const char *end, const char *word, int *strip_before, int *strip_after)
{
    if (end - p < 2 || p[0] != '{' || p[1] != '%')
        return NULL;
    p += 2;
    *strip_before = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+'))
        p++;
    while (p < end && is_ws(*p))
        p++;
    size_t wl = strlen(word);
    if ((size_t)(end - p) < wl || memcmp(p, word, wl) != 0 || (p + wl < end && is_id(p[wl])))
        return NULL;
    p += wl;
    while (p < end && is_ws(*p))
        p++;
    *strip_after = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+'))
        p++;
    if (end - p < 2 || p[0] != '%' || p[1] != '}')
        return NULL;
    return p + 2;
}

static int lex(parser *ps)
{
    int rc, lstrip = 0;
    while (ps->pos < ps->end) {
        const char *p = ps->pos, *tag = NULL;
        uint32_t line = ps->line, col = ps->col;
        for (const char *q = p; q + 1 < ps->end; q++) {
            q = memchr(q, '{', (size_t)(ps->end - q));
            if (!q || q + 1 >= ps->end)
                break;
            if (q[1] == '{' || q[1] == '%' || q[1] == '#') {
                tag = q;
                break;
            }
        }
        if (!tag) {
            if ((rc = emit_data(ps, p, ps->end, lstrip, 0, line, col)))
                return rc;
            adv(ps, ps->end);
            break;
        }
        int rstrip = tag + 2 < ps->end && tag[2] == '-';
        if ((rc = emit_data(ps, p, tag, lstrip, rstrip, line, col)))
            return rc;
        adv(ps, tag);
        line = ps->line;
        col = ps->col;
        lstrip = 0;
        int sb = 0, sa = 0;
        const char *e = NULL;
        if (tag[1] == '#') {
            const char *q = tag + 2;
            for (;;) {
                q = memchr(q, '#', (size_t)(ps->end - q));
                if (!q || q + 1 >= ps->end)
                    return perr(ps, line, col, "missing end of comment tag");
                if (q[1] == '}')
                    break;
                q++;
            }
            lstrip = q[-1] == '-' && q - 1 > tag + 2;
            adv(ps, q + 2);
        } else if ((e = match_word_tag(tag, ps->end, "raw", &sb, &sa))) {
            const char *q = e, *ee = NULL;
            int sb2 = 0, sa2 = 0;
            for (; q + 1 < ps->end; q++)
                if (q[0] == '{' && q[1] == '%' && (ee = match_word_tag(q, ps->end, "endraw", &sb2, &sa2)))
                    break;
            if (!ee)
                return perr(ps, line, col, "missing end of raw directive");
            adv(ps, e);
            if ((rc = emit_data(ps, e, q, sa, sb2, ps->line, ps->col)))
                return rc;
            adv(ps, ee);
            lstrip = sa2;
        } else {
            int is_block = tag[1] == '%';
            const char *q = tag + 2;
            if (q < ps->end && (*q == '-' || *q == '+'))
                q++;
            if ((rc = push_tok(ps, is_block ? T_BBEGIN : T_VBEGIN, tag, 2, line, col)))
                return rc;
            adv(ps, q);
            if ((rc = lex_tag(ps, is_block, &lstrip)))
                return rc;
        }
    }
    return push_tok(ps, T_EOF, ps->end, 0, ps->line, ps->col);
}

/* ------------------------------------------------------------ parser helpers */

static tok *cur(parser *ps) { return &ps->toks.items[ps->ti]; }
static tok *next(parser *ps)
{
    tok *t = cur(ps);
    if (t->t != T_EOF)
        ps->ti++;
    return t;
}
static int is_op(const tok *t, const char *op)
{
    return t->t == T_OP && t->n == strlen(op) && memcmp(t->p, op, t->n) == 0;
}
static int is_name(const tok *t, const char *nm)
{
    return t->t == T_NAME && t->n == strlen(nm) && memcmp(t->p, nm, t->n) == 0;
}

static const char *tok_desc(const tok *t)
{
    switch (t->t) {
    case T_EOF: return "end of template";
    case T_DATA: return "template data";
    case T_VEND: return "end of print statement";
    case T_BEND: return "end of statement block";
    case T_STR: return "string";
    case T_INT:
    case T_FLOAT: return "number";
    default: return NULL;
    }
}

static int unexpected(parser *ps, tok *t, const char *want)
{
    const char *d = tok_desc(t);
    if (d)
        return perr(ps, t->line, t->col, "unexpected %s, expected %s", d, want);
    return perr(ps, t->line, t->col, "unexpected '%.*s', expected %s", (int)(t->n > 40 ? 40 : t->n), t->p, want);
}

static int expect_op(parser *ps, const char *op)
{
    if (!is_op(cur(ps), op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", op);
        return unexpected(ps, cur(ps), w);
    }
    next(ps);
    return 0;
}

static kj_node *node(parser *ps, int kind, const tok *at)
{
    kj_node *n = kiln_arena_alloc(ps->arena, sizeof(kj_node));
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

static const char *astr(parser *ps, const char *p, size_t n) { return kiln_arena_strndup(ps->arena, p, n); }

/* An immortal string value in the arena: its count never reaches 0. */
static kj_val lit_str(parser *ps, const char *p, size_t n)
{
    kj_val v = kj_undef();
    kj_str *s = kiln_arena_alloc(ps->arena, sizeof(kj_str) + n + 1);
    if (!s)
        return v;
    s->rc = 1 << 30;
    s->len = n;
    memcpy(s->p, p, n);
    s->p[n] = 0;
    v.t = KJ_STR;
    v.u.s = s;
    return v;
}

typedef KILN_VEC(kj_node *) nodevec;

static int finish_list(parser *ps, nodevec *v, kj_node ***out, size_t *n)
{
    *n = v->len;
    *out = NULL;
    if (v->len) {
        *out = kiln_arena_alloc(ps->arena, v->len * sizeof(kj_node *));
        if (!*out) {
            kiln_vec_free(v);
            return KILN_OOM(ps->err);
        }
        memcpy(*out, v->items, v->len * sizeof(kj_node *));
    }
    kiln_vec_free(v);
    return 0;
}

#define NEW(var, kind, at)                                                                                             \
    do {                                                                                                               \
        if (!((var) = node(ps, (kind), (at))))                                                                         \
            return KILN_OOM(ps->err);                                                                                  \
    } while (0)

static int p_expr(parser *ps, kj_node **out);
static int p_or(parser *ps, kj_node **out);
static int p_unary(parser *ps, kj_node **out, int with_filter);
static int p_args(parser *ps, kj_node *call);

/* ------------------------------------------------------------ expressions */

static int p_primary(parser *ps, kj_node **out)
{
    tok *t = cur(ps);
    kj_node *n;
    int rc;
    if (t->t == T_NAME) {
        next(ps);
        if (is_name(t, "true") || is_name(t, "True") || is_name(t, "false") || is_name(t, "False")) {
            NEW(n, N_LIT, t);
            n->lit = kj_bool(t->p[0] == 't' || t->p[0] == 'T');
        } else if (is_name(t, "none") || is_name(t, "None")) {
            NEW(n, N_LIT, t);
            n->lit = kj_none();
        } else {
            NEW(n, N_NAME, t);
            if (!(n->name = astr(ps, t->p, t->n)))
                return KILN_OOM(ps->err);
            n->namelen = t->n;
            if (is_name(t, "varargs"))
                ps->macro_flags |= 1;
            else if (is_name(t, "kwargs"))
                ps->macro_flags |= 2;
            else if (is_name(t, "caller"))
                ps->macro_flags |= 4;
        }
        *out = n;
        return 0;
    }
    if (t->t == T_STR) {
        /* adjacent literals concatenate, as in Python */
        kiln_buf b;
        kiln_buf_init(&b, 0);
        while (cur(ps)->t == T_STR) {
            tok *s = next(ps);
            if ((rc = kiln_buf_append(&b, s->p, s->n, ps->err))) {
                kiln_buf_free(&b);
                return rc;
            }
        }
        NEW(n, N_LIT, t);
        n->lit = lit_str(ps, b.data ? b.data : "", b.len);
        kiln_buf_free(&b);
        if (kj_oom(n->lit))
            return KILN_OOM(ps->err);
        *out = n;
        return 0;
    }
    if (t->t == T_INT || t->t == T_FLOAT) {
        next(ps);
        NEW(n, N_LIT, t);
        n->lit = t->t == T_INT ? kj_int(t->i) : kj_float(t->f);
        *out = n;
        return 0;
    }
    if (is_op(t, "(") || is_op(t, "[")) {
        int paren = is_op(t, "(");
        const char *close = paren ? ")" : "]";
        next(ps);
        nodevec v = {0};
        int trailing_comma = 0;
        while (!is_op(cur(ps), close)) {
            if (v.len && (rc = expect_op(ps, ",")))
                goto fail;
            if (is_op(cur(ps), close)) {
                trailing_comma = 1;
                break;
            }
            kj_node *e;
            if ((rc = p_expr(ps, &e)) || (rc = kiln_vec_push(&v, e, ps->err)))
                goto fail;
        }
        next(ps);
        if (paren && v.len == 1 && !trailing_comma) {
            *out = v.items[0];
            kiln_vec_free(&v);
            return 0;
        }
        if (!(n = node(ps, paren ? N_TUPLE : N_LIST, t))) {
            rc = KILN_OOM(ps->err);
            goto fail;
        }
        if ((rc = finish_list(ps, &v, &n->kids, &n->nkids)))
            return rc;
        *out = n;
        return 0;
    fail:
        kiln_vec_free(&v);
        return rc;
    }
    if (is_op(t, "{")) {
        next(ps);
        nodevec k = {0}, v = {0};
        while (!is_op(cur(ps), "}")) {
            if (k.len && (rc = expect_op(ps, ",")))
                goto dfail;
            if (is_op(cur(ps), "}"))
                break;
            kj_node *ke, *ve;
            if ((rc = p_expr(ps, &ke)) || (rc = expect_op(ps, ":")) || (rc = p_expr(ps, &ve)) ||
                (rc = kiln_vec_push(&k, ke, ps->err)) || (rc = kiln_vec_push(&v, ve, ps->err)))
                goto dfail;
        }
        next(ps);
        if (!(n = node(ps, N_DICT, t))) {
            rc = KILN_OOM(ps->err);
            goto dfail;
        }
        if ((rc = finish_list(ps, &k, &n->kids, &n->nkids)) || (rc = finish_list(ps, &v, &n->kids2, &n->nkids2)))
            return rc;
        *out = n;
        return 0;
    dfail:
        kiln_vec_free(&k);
        kiln_vec_free(&v);
        return rc;
    }
    return unexpected(ps, t, "an expression");
}

/* Subscript: [expr] or a slice [a:b:c]. */
static int p_subscript(parser *ps, kj_node *obj, tok *at, kj_node **out)
{
    int rc;
    kj_node *parts[3] = {0};
    int colons = 0;
    for (;;) {
        if (is_op(cur(ps), "]"))
            break;
        if (is_op(cur(ps), ":")) {
            if (++colons > 2)
                return unexpected(ps, cur(ps), "']'");
            next(ps);
            continue;
        }
        if (parts[colons])
            return unexpected(ps, cur(ps), "']'");
        if ((rc = p_expr(ps, &parts[colons])))
            return rc;
    }
    next(ps);
    kj_node *n;
    if (!colons) {
        if (!parts[0])
            return unexpected(ps, at, "a subscript");
        NEW(n, N_ITEM, at);
        n->a = obj;
        n->b = parts[0];
    } else {
        NEW(n, N_SLICE, at);
        n->a = obj;
        n->b = parts[0];
        n->c = parts[1];
        n->d = parts[2];
    }
    *out = n;
    return 0;
}

static int p_postfix(parser *ps, kj_node **io)
{
    int rc;
    for (;;) {
        tok *t = cur(ps);
        kj_node *n = NULL;
        if (is_op(t, ".")) {
            next(ps);
            tok *a = next(ps);
            if (a->t != T_NAME && a->t != T_INT)
                return unexpected(ps, a, "an attribute name");
            NEW(n, a->t == T_NAME ? N_ATTR : N_ITEM, t);
            n->a = *io;
            if (a->t == T_NAME) {
                if (!(n->name = astr(ps, a->p, a->n)))
                    return KILN_OOM(ps->err);
                n->namelen = a->n;
            } else {
                NEW(n->b, N_LIT, a);
                n->b->lit = kj_int(a->i);
            }
        } else if (is_op(t, "[")) {
            next(ps);
            if ((rc = p_subscript(ps, *io, t, &n)))
                return rc;
        } else if (is_op(t, "(")) {
            NEW(n, N_CALL, t);
            n->a = *io;
            if ((rc = p_args(ps, n)))
                return rc;
        } else {
            return 0;
        }
        n->line = (*io)->line; /* a postfix expression starts where its object does */
        n->col = (*io)->col;
        *io = n;
    }
}

/* ( args ) into call->kids as N_ARG nodes; the '(' is current. */
static int p_args(parser *ps, kj_node *call)
{
    int rc;
    next(ps);
    nodevec v = {0};
    while (!is_op(cur(ps), ")")) {
        if (v.len && (rc = expect_op(ps, ",")))
            goto fail;
        if (is_op(cur(ps), ")"))
            break;
        tok *t = cur(ps);
        kj_node *arg = node(ps, N_ARG, t);
        if (!arg) {
            rc = KILN_OOM(ps->err);
            goto fail;
        }
        if (is_op(t, "*") || is_op(t, "**")) {
            arg->op = t->n == 1 ? 1 : 2;
            next(ps);
        } else if (t->t == T_NAME && is_op(&ps->toks.items[ps->ti + 1], "=")) {
            if (!(arg->name = astr(ps, t->p, t->n))) {
                rc = KILN_OOM(ps->err);
                goto fail;
            }
            next(ps);
            next(ps);
        }
        if ((rc = p_expr(ps, &arg->a)) || (rc = kiln_vec_push(&v, arg, ps->err)))
            goto fail;
    }
    next(ps);
    return finish_list(ps, &v, &call->kids, &call->nkids);
fail:
    kiln_vec_free(&v);
    return rc;
}

/* Test arguments without parentheses: `x is divisibleby 3`, `x is sameas none`. */
static int starts_expr(const tok *t)
{
    if (t->t == T_STR || t->t == T_INT || t->t == T_FLOAT)
        return 1;
    if (t->t == T_NAME)
        return !(is_name(t, "else") || is_name(t, "or") || is_name(t, "and") || is_name(t, "is") || is_name(t, "in") ||
                 is_name(t, "not") || is_name(t, "if"));
    return is_op(t, "[") || is_op(t, "{") || is_op(t, "-") || is_op(t, "+");
}

/* The filter/test chain after an expression (a NULL subject for filter blocks). */
static int p_filters(parser *ps, kj_node **io)
{
    int rc;
    for (;;) {
        tok *t = cur(ps);
        if (is_op(t, "|")) {
            next(ps);
            kj_node *n;
            NEW(n, N_FILTER, t);
            tok *nm = next(ps);
            if (nm->t != T_NAME)
                return unexpected(ps, nm, "a filter name");
            kiln_buf b;
            kiln_buf_init(&b, 0);
            if ((rc = kiln_buf_append(&b, nm->p, nm->n, ps->err)))
                return rc;
            while (is_op(cur(ps), ".") && ps->toks.items[ps->ti + 1].t == T_NAME) { /* dotted names */
                next(ps);
                tok *x = next(ps);
                if ((rc = kiln_buf_putc(&b, '.', ps->err)) || (rc = kiln_buf_append(&b, x->p, x->n, ps->err))) {
                    kiln_buf_free(&b);
                    return rc;
                }
            }
            n->name = astr(ps, b.data, b.len);
            kiln_buf_free(&b);
            if (!n->name)
                return KILN_OOM(ps->err);
            n->a = *io;
            if (is_op(cur(ps), "(") && (rc = p_args(ps, n)))
                return rc;
            *io = n;
        } else if (is_name(t, "is")) {
            next(ps);
            kj_node *n;
            NEW(n, N_TEST, t);
            if (is_name(cur(ps), "not")) {
                n->op = 1;
                next(ps);
            }
            tok *nm = next(ps);
            if (nm->t != T_NAME && !(nm->t == T_OP && (is_op(nm, "==") || is_op(nm, "!=") || is_op(nm, "<") ||
                                                       is_op(nm, ">") || is_op(nm, "<=") || is_op(nm, ">="))))
                return unexpected(ps, nm, "a test name");
            if (is_name(nm, "none") || is_name(nm, "true") || is_name(nm, "false"))
                n->name = nm->p[0] == 'n' ? "none" : nm->p[0] == 't' ? "true" : "false";
            else if (!(n->name = astr(ps, nm->p, nm->n)))
                return KILN_OOM(ps->err);
            n->a = *io;
            if (is_op(cur(ps), "(")) {
                if ((rc = p_args(ps, n)))
                    return rc;
            } else if (starts_expr(cur(ps))) {
                kj_node *arg;
                NEW(arg, N_ARG, cur(ps));
                if ((rc = p_unary(ps, &arg->a, 0)))
                    return rc;
                if (!(n->kids = kiln_arena_alloc(ps->arena, sizeof(kj_node *))))
                    return KILN_OOM(ps->err);
                n->kids[0] = arg;
                n->nkids = 1;
            }
            *io = n;
        } else if (is_op(t, "(") && (*io) && (*io)->kind == N_FILTER) {
            kj_node *n;
            NEW(n, N_CALL, t);
            n->a = *io;
            if ((rc = p_args(ps, n)))
                return rc;
            *io = n;
        } else {
            return 0;
        }
    }
}

static int p_unary(parser *ps, kj_node **out, int with_filter)
{
    int rc;
    tok *t = cur(ps);
    if (++ps->depth > KJ_PARSE_DEPTH)
        return perr(ps, t->line, t->col, "expression nested too deeply");
    kj_node *n;
    if (is_op(t, "-") || is_op(t, "+")) {
        next(ps);
        NEW(n, is_op(t, "-") ? N_NEG : N_POS, t);
        if ((rc = p_unary(ps, &n->a, 0)))
            return rc;
    } else {
        if ((rc = p_primary(ps, &n)))
            return rc;
    }
    if ((rc = p_postfix(ps, &n)))
        return rc;
    if (with_filter && (rc = p_filters(ps, &n)))
        return rc;
    ps->depth--;
    *out = n;
    return 0;
}

static int binop(parser *ps, kj_node **io, int op, tok *t, int (*rhs)(parser *, kj_node **))
{
    kj_node *n;
    NEW(n, N_BIN, t);
    n->op = op;
    n->a = *io;
    int rc = rhs(ps, &n->b);
    *io = n;
    return rc;
}

static int p_pow(parser *ps, kj_node **out)
{
    int rc = p_unary(ps, out, 1);
    while (!rc && is_op(cur(ps), "**")) {
        tok *t = next(ps);
        kj_node *n;
        NEW(n, N_BIN, t);
        n->op = OP_POW;
        n->a = *out;
        rc = p_unary(ps, &n->b, 1);
        *out = n;
    }
    return rc;
}

static int p_mul(parser *ps, kj_node **out)
{
    int rc = p_pow(ps, out);
    for (;;) {
        tok *t = cur(ps);
        int op = is_op(t, "*")    ? OP_MUL
                 : is_op(t, "/")  ? OP_DIV
                 : is_op(t, "//") ? OP_FLOORDIV
                 : is_op(t, "%")  ? OP_MOD
                                  : 0;
        if (rc || !op)
            return rc;
        next(ps);
        rc = binop(ps, out, op, t, p_pow);
    }
}

static int p_concat(parser *ps, kj_node **out)
{
    int rc = p_mul(ps, out);
    while (!rc && is_op(cur(ps), "~")) {
        tok *t = next(ps);
        rc = binop(ps, out, OP_CONCAT, t, p_mul);
    }
    return rc;
}

static int p_add(parser *ps, kj_node **out)
{
    int rc = p_concat(ps, out);
    for (;;) {
        tok *t = cur(ps);
        int op = is_op(t, "+") ? OP_ADD : is_op(t, "-") ? OP_SUB : 0;
        if (rc || !op)
            return rc;
        next(ps);
        rc = binop(ps, out, op, t, p_concat);
    }
}

static int p_compare(parser *ps, kj_node **out)
{
    int rc;
    kj_node *first;
    if ((rc = p_add(ps, &first)))
        return rc;
    nodevec v = {0};
    unsigned char ops[64];
    tok *at = cur(ps);
    for (;;) {
        tok *t = cur(ps);
        int op = is_op(t, "==")     ? CMP_EQ
                 : is_op(t, "!=")   ? CMP_NE
                 : is_op(t, "<")    ? CMP_LT
                 : is_op(t, "<=")   ? CMP_LE
                 : is_op(t, ">")    ? CMP_GT
                 : is_op(t, ">=")   ? CMP_GE
                 : is_name(t, "in") ? CMP_IN
                                    : 0;
        if (!op && is_name(t, "not") && is_name(&ps->toks.items[ps->ti + 1], "in")) {
            op = CMP_NOTIN;
            next(ps);
        }
        if (!op)
            break;
        if (v.len >= sizeof ops) {
            kiln_vec_free(&v);
            return perr(ps, t->line, t->col, "too many chained comparisons");
        }
        next(ps);
        kj_node *e;
        if ((rc = p_add(ps, &e)) || (rc = kiln_vec_push(&v, e, ps->err))) {
            kiln_vec_free(&v);
            return rc;
        }
        ops[v.len - 1] = (unsigned char)op;
    }
    if (!v.len) {
        *out = first;
        return 0;
    }
    kj_node *n = node(ps, N_CMP, at);
    if (!n || !(n->ops = kiln_arena_alloc(ps->arena, v.len))) {
        kiln_vec_free(&v);
        return KILN_OOM(ps->err);
    }
    memcpy(n->ops, ops, v.len);
    n->a = first;
    if ((rc = finish_list(ps, &v, &n->kids, &n->nkids)))
        return rc;
    *out = n;
    return 0;
}

static int p_not(parser *ps, kj_node **out)
{
    tok *t = cur(ps);
    if (is_name(t, "not")) {
        if (++ps->depth > KJ_PARSE_DEPTH)
            return perr(ps, t->line, t->col, "expression nested too deeply");
        next(ps);
        kj_node *n;
        NEW(n, N_NOT, t);
        int rc = p_not(ps, &n->a);
        ps->depth--;
        *out = n;
        return rc;
    }
    return p_compare(ps, out);
}

static int p_and(parser *ps, kj_node **out)
{
    int rc = p_not(ps, out);
    while (!rc && is_name(cur(ps), "and")) {
        tok *t = next(ps);
        kj_node *n;
        NEW(n, N_AND, t);
        n->a = *out;
        rc = p_not(ps, &n->b);
        *out = n;
    }
    return rc;
}

static int p_or(parser *ps, kj_node **out)
{
    int rc = p_and(ps, out);
    while (!rc && is_name(cur(ps), "or")) {
        tok *t = next(ps);
        kj_node *n;
        NEW(n, N_OR, t);
        n->a = *out;
        rc = p_and(ps, &n->b);
        *out = n;
    }
    return rc;
}

static int p_expr(parser *ps, kj_node **out)
{
    int rc;
    if (++ps->depth > KJ_PARSE_DEPTH)
        return perr(ps, cur(ps)->line, cur(ps)->col, "expression nested too deeply");
    if ((rc = p_or(ps, out)))
        return rc;
    while (is_name(cur(ps), "if")) {
        tok *t = next(ps);
        kj_node *n;
        NEW(n, N_COND, t);
        n->b = *out;
        if ((rc = p_or(ps, &n->a)))
            return rc;
        if (is_name(cur(ps), "else")) {
            next(ps);
            if ((rc = p_or(ps, &n->c)))
                return rc;
        }
        *out = n;
    }
    ps->depth--;
    return 0;
}

/* An expression list "a, b" makes a tuple (for `for k, v in` and `set a, b =`). */
static int p_tuple(parser *ps, kj_node **out)
{
    int rc;
    tok *t = cur(ps);
    kj_node *e;
    if ((rc = p_expr(ps, &e)))
        return rc;
    if (!is_op(cur(ps), ",")) {
        *out = e;
        return 0;
    }
    nodevec v = {0};
    if ((rc = kiln_vec_push(&v, e, ps->err)))
        return rc;
    while (is_op(cur(ps), ",")) {
        next(ps);
        if (cur(ps)->t == T_BEND || cur(ps)->t == T_VEND)
            break;
        if ((rc = p_expr(ps, &e)) || (rc = kiln_vec_push(&v, e, ps->err))) {
            kiln_vec_free(&v);
            return rc;
        }
    }
    kj_node *n = node(ps, N_TUPLE, t);
    if (!n) {
        kiln_vec_free(&v);
        return KILN_OOM(ps->err);
    }
    if ((rc = finish_list(ps, &v, &n->kids, &n->nkids)))
        return rc;
    *out = n;
    return 0;
}

/* ------------------------------------------------------------ statements */

static int p_body(parser *ps, const char *const *ends, kj_node **out, const char **which);

static int expect_end(parser *ps)
{
    if (cur(ps)->t != T_BEND)
        return unexpected(ps, cur(ps), "end of statement block");
    next(ps);
    return 0;
}

/* Assignment targets: name, ns.attr, or a list of names. */
static int p_targets(parser *ps, kj_node *into, int allow_attr)
{
    nodevec v = {0};
    int rc;
    for (;;) {
        tok *t = next(ps);
        if (t->t != T_NAME) {
            kiln_vec_free(&v);
            return unexpected(ps, t, "a name");
        }
        kj_node *n = node(ps, N_NAME, t);
        if (!n || !(n->name = astr(ps, t->p, t->n))) {
            kiln_vec_free(&v);
            return KILN_OOM(ps->err);
        }
        n->namelen = t->n;
        if (allow_attr && is_op(cur(ps), ".")) {
            next(ps);
            tok *a = next(ps);
            if (a->t != T_NAME) {
                kiln_vec_free(&v);
                return unexpected(ps, a, "an attribute name");
            }
            kj_node *at = node(ps, N_ATTR, a);
            if (!at || !(at->name = astr(ps, a->p, a->n))) {
                kiln_vec_free(&v);
                return KILN_OOM(ps->err);
            }
            at->a = n;
            n = at;
        }
        if ((rc = kiln_vec_push(&v, n, ps->err)))
            return rc;
        if (!is_op(cur(ps), ","))
            break;
        next(ps);
    }
    return finish_list(ps, &v, &into->kids, &into->nkids);
}

/* Macro/caller parameters "(a, b=1)" into kids/kids2. */
static int p_params(parser *ps, kj_node *n)
{
    int rc;
    nodevec names = {0}, defs = {0};
    if ((rc = expect_op(ps, "(")))
        return rc;
    while (!is_op(cur(ps), ")")) {
        if (names.len && (rc = expect_op(ps, ",")))
            goto fail;
        tok *t = next(ps);
        if (t->t != T_NAME) {
            rc = unexpected(ps, t, "a parameter name");
            goto fail;
        }
        kj_node *nm = node(ps, N_NAME, t), *d = NULL;
        if (!nm || !(nm->name = astr(ps, t->p, t->n))) {
            rc = KILN_OOM(ps->err);
            goto fail;
        }
        nm->namelen = t->n;
        if (is_op(cur(ps), "=")) {
            next(ps);
            if ((rc = p_expr(ps, &d)))
                goto fail;
        } else if (defs.len && defs.items[defs.len - 1]) {
            rc = perr(ps, t->line, t->col, "non-default argument follows default argument");
            goto fail;
        }
        if ((rc = kiln_vec_push(&names, nm, ps->err)) || (rc = kiln_vec_push(&defs, d, ps->err)))
            goto fail;
    }
    next(ps);
    if ((rc = finish_list(ps, &names, &n->kids, &n->nkids)))
        goto fail;
    return finish_list(ps, &defs, &n->kids2, &n->nkids2);
fail:
    kiln_vec_free(&names);
    kiln_vec_free(&defs);
    return rc;
}

static int p_macro_body(parser *ps, kj_node *n, const char *endname)
{
    int saved = ps->macro_flags, rc;
    ps->macro_flags = 0;
    const char *ends[] = {endname, NULL}, *which;
    rc = p_body(ps, ends, &n->b, &which);
    n->op = ps->macro_flags;
    ps->macro_flags = saved;
    return rc;
}

static int p_stmt(parser *ps, tok *begin, kj_node **out)
{
    int rc;
    tok *t = next(ps);
    kj_node *n;
    if (t->t != T_NAME)
        return unexpected(ps, t, "a statement name");
    if (is_name(t, "if")) {
        nodevec conds = {0}, bodies = {0};
        NEW(n, N_IF, begin);
        const char *ends[] = {"elif", "else", "endif", NULL}, *which = "elif";
        while (!strcmp(which, "elif")) {
            kj_node *c, *b;
            if ((rc = p_expr(ps, &c)) || (rc = expect_end(ps)) || (rc = p_body(ps, ends, &b, &which)) ||
                (rc = kiln_vec_push(&conds, c, ps->err)) || (rc = kiln_vec_push(&bodies, b, ps->err)))
                goto iffail;
        }
        if (!strcmp(which, "else")) {
            const char *e2[] = {"endif", NULL};
            if ((rc = expect_end(ps)) || (rc = p_body(ps, e2, &n->c, &which)))
                goto iffail;
        }
        if ((rc = finish_list(ps, &conds, &n->kids, &n->nkids)) ||
            (rc = finish_list(ps, &bodies, &n->kids2, &n->nkids2)))
            return rc;
        rc = expect_end(ps);
        *out = n;
        return rc;
    iffail:
        kiln_vec_free(&conds);
        kiln_vec_free(&bodies);
        return rc;
    }
    if (is_name(t, "for")) {
        NEW(n, N_FOR, begin);
        if ((rc = p_targets(ps, n, 0)))
            return rc;
        if (!is_name(cur(ps), "in"))
            return unexpected(ps, cur(ps), "'in'");
        next(ps);
        if ((rc = p_or(ps, &n->a)))
            return rc;
        if (is_name(cur(ps), "if")) {
            next(ps);
            if ((rc = p_expr(ps, &n->d)))
                return rc;
        }
        if (is_name(cur(ps), "recursive"))
            return perr(ps, cur(ps)->line, cur(ps)->col, "recursive for loops are not supported");
        const char *ends[] = {"else", "endfor", NULL}, *which;
        if ((rc = expect_end(ps)) || (rc = p_body(ps, ends, &n->b, &which)))
            return rc;
        if (!strcmp(which, "else")) {
            const char *e2[] = {"endfor", NULL};
            if ((rc = expect_end(ps)) || (rc = p_body(ps, e2, &n->c, &which)))
                return rc;
        }
        *out = n;
        return expect_end(ps);
    }
    if (is_name(t, "set")) {
        NEW(n, N_SET, begin);
        if ((rc = p_targets(ps, n, 1)))
            return rc;
        if (is_op(cur(ps), "=")) {
            next(ps);
            if ((rc = p_tuple(ps, &n->a)))
                return rc;
            *out = n;
            return expect_end(ps);
        }
        if (n->nkids != 1)
            return unexpected(ps, cur(ps), "'='");
        n->kind = N_SETBLOCK;
        if (is_op(cur(ps), "|") && (rc = p_filters(ps, &n->d)))
            return rc;
        const char *ends[] = {"endset", NULL}, *which;
        if ((rc = expect_end(ps)) || (rc = p_body(ps, ends, &n->b, &which)))
            return rc;
        *out = n;
        return expect_end(ps);
    }
    if (is_name(t, "macro") || is_name(t, "test")) {
        int is_test = is_name(t, "test");
        NEW(n, N_MACRO, begin);
        tok *nm = next(ps);
        if (nm->t != T_NAME)
            return unexpected(ps, nm, "a macro name");
        n->name = is_test ? kiln_arena_strndup(ps->arena, "test_", 5) : NULL;
        if (is_test) {
            char *s = kiln_arena_alloc(ps->arena, nm->n + 6);
            if (!s)
                return KILN_OOM(ps->err);
            memcpy(s, "test_", 5);
            memcpy(s + 5, nm->p, nm->n);
            s[nm->n + 5] = 0;
            n->name = s;
        } else if (!(n->name = astr(ps, nm->p, nm->n))) {
            return KILN_OOM(ps->err);
        }
        if ((rc = p_params(ps, n)) || (rc = expect_end(ps)) ||
            (rc = p_macro_body(ps, n, is_test ? "endtest" : "endmacro")))
            return rc;
        *out = n;
        return expect_end(ps);
    }
    if (is_name(t, "call")) {
        NEW(n, N_CALLBLOCK, begin);
        if (is_op(cur(ps), "(")) {
            if ((rc = p_params(ps, n)))
                return rc;
        }
        if ((rc = p_expr(ps, &n->a)))
            return rc;
        if (n->a->kind != N_CALL)
            return perr(ps, n->a->line, n->a->col, "expected a call after 'call'");
        if ((rc = expect_end(ps)) || (rc = p_macro_body(ps, n, "endcall")))
            return rc;
        *out = n;
        return expect_end(ps);
    }
    if (is_name(t, "filter")) {
        NEW(n, N_FILTERBLOCK, begin);
        ps->ti--; /* reuse the chain parser: treat "filter" as the '|' */
        ps->toks.items[ps->ti].t = T_OP;
        ps->toks.items[ps->ti].p = "|";
        ps->toks.items[ps->ti].n = 1;
        if ((rc = p_filters(ps, &n->d)))
            return rc;
        const char *ends[] = {"endfilter", NULL}, *which;
        if ((rc = expect_end(ps)) || (rc = p_body(ps, ends, &n->b, &which)))
            return rc;
        *out = n;
        return expect_end(ps);
    }
    if (is_name(t, "with")) { /* {% with a = 1, b = a + 1 %} ... {% endwith %} */
        NEW(n, N_WITH, begin);
        nodevec names = {0}, vals = {0};
        while (cur(ps)->t != T_BEND) {
            if (names.len && (rc = expect_op(ps, ",")))
                goto wfail;
            tok *nm = next(ps);
            kj_node *target = nm->t == T_NAME ? node(ps, N_NAME, nm) : NULL, *v;
            if (nm->t != T_NAME) {
                rc = unexpected(ps, nm, "a name");
                goto wfail;
            }
            if (!target || !(target->name = astr(ps, nm->p, nm->n))) {
                rc = KILN_OOM(ps->err);
                goto wfail;
            }
            target->namelen = nm->n;
            if ((rc = expect_op(ps, "=")) || (rc = p_expr(ps, &v)) || (rc = kiln_vec_push(&names, target, ps->err)) ||
                (rc = kiln_vec_push(&vals, v, ps->err)))
                goto wfail;
        }
        if ((rc = finish_list(ps, &names, &n->kids, &n->nkids)) || (rc = finish_list(ps, &vals, &n->kids2, &n->nkids2)))
            return rc;
        const char *ends[] = {"endwith", NULL}, *which;
        if ((rc = expect_end(ps)) || (rc = p_body(ps, ends, &n->b, &which)))
            return rc;
        *out = n;
        return expect_end(ps);
    wfail:
        kiln_vec_free(&names);
        kiln_vec_free(&vals);
        return rc;
    }
    if (is_name(t, "do")) {
        NEW(n, N_DO, begin);
        if ((rc = p_tuple(ps, &n->a)))
            return rc;
        *out = n;
        return expect_end(ps);
    }
    if (is_name(t, "break") || is_name(t, "continue")) {
        NEW(n, is_name(t, "break") ? N_BREAK : N_CONTINUE, begin);
        *out = n;
        return expect_end(ps);
    }
    if (is_name(t, "docs") || is_name(t, "snapshot") || is_name(t, "materialization")) {
        int kind = is_name(t, "docs") ? N_DOCS : is_name(t, "snapshot") ? N_SNAPSHOT : N_MATERIALIZATION;
        NEW(n, kind, begin);
        tok *nm = next(ps);
        if (nm->t != T_NAME)
            return unexpected(ps, nm, "a name");
        if (!(n->name = astr(ps, nm->p, nm->n)))
            return KILN_OOM(ps->err);
        while (cur(ps)->t != T_BEND && cur(ps)->t != T_EOF) /* materialization's adapter= */
            next(ps);
        const char *ends[] = {kind == N_DOCS       ? "enddocs"
                              : kind == N_SNAPSHOT ? "endsnapshot"
                                                   : "endmaterialization",
                              NULL};
        const char *which;
        if ((rc = expect_end(ps)) || (rc = p_body(ps, ends, &n->b, &which)))
            return rc;
        *out = n;
        return expect_end(ps);
    }
    return perr(ps, t->line, t->col, "unknown tag '%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p);
}

/* Statements until one of ends (a block tag name), which is consumed up to
 * its arguments; *which names it. ends NULL: until the end of input. */
static int p_body(parser *ps, const char *const *ends, kj_node **out, const char **which)
{
    int rc;
    nodevec v = {0};
    kj_node *body = node(ps, N_BODY, cur(ps));
    if (!body)
        return KILN_OOM(ps->err);
    if (++ps->depth > KJ_PARSE_DEPTH)
        return perr(ps, cur(ps)->line, cur(ps)->col, "blocks nested too deeply");
    for (;;) {
        tok *t = cur(ps);
        kj_node *n = NULL;
        if (t->t == T_EOF) {
            if (ends) {
                rc = perr(ps, t->line, t->col, "unexpected end of template, expected '%s'", ends[0]);
                goto fail;
            }
            break;
        }
        if (t->t == T_DATA) {
            next(ps);
            if (!(n = node(ps, N_DATA, t)) || !(n->name = astr(ps, t->p, t->n))) {
                rc = KILN_OOM(ps->err);
                goto fail;
            }
            n->namelen = t->n;
        } else if (t->t == T_VBEGIN) {
            next(ps);
            if (!(n = node(ps, N_OUT, t))) {
                rc = KILN_OOM(ps->err);
                goto fail;
            }
            if ((rc = p_expr(ps, &n->a)))
                goto fail;
            if (cur(ps)->t != T_VEND) {
                rc = unexpected(ps, cur(ps), "end of print statement");
                goto fail;
            }
            next(ps);
        } else if (t->t == T_BBEGIN) {
            tok *nm = &ps->toks.items[ps->ti + 1];
            if (nm->t == T_NAME) {
                for (int i = 0; ends && ends[i]; i++) {
                    if (is_name(nm, ends[i])) {
                        next(ps);
                        next(ps);
                        *which = ends[i];
                        goto done;
                    }
                }
                static const char *const closers[] = {
                    "endif",   "endfor",  "endset",      "endmacro",           "endcall", "endfilter", "else", "elif",
                    "endtest", "enddocs", "endsnapshot", "endmaterialization", "endraw",  "endwith",   NULL};
                for (int i = 0; closers[i]; i++) {
                    if (is_name(nm, closers[i])) {
                        if (ends)
                            rc = perr(ps, nm->line, nm->col, "unexpected '%s', expected '%s'", closers[i], ends[0]);
                        else
                            rc = perr(ps, nm->line, nm->col, "unexpected '%s' (no open block)", closers[i]);
                        goto fail;
                    }
                }
            }
            next(ps);
            if ((rc = p_stmt(ps, t, &n)))
                goto fail;
        } else {
            rc = unexpected(ps, t, "template data or a tag");
            goto fail;
        }
        if ((rc = kiln_vec_push(&v, n, ps->err)))
            goto fail;
    }
done:
    ps->depth--;
    *out = body;
    return finish_list(ps, &v, &body->kids, &body->nkids);
fail:
    kiln_vec_free(&v);
    return rc;
}

/* ------------------------------------------------------------ entry */

/* Parse without touching env (any thread: the parser has no shared state);
 * kj_env_adopt hands the template to an env, which frees it. */
int kj_parse_detached(const char *name, const char *src, size_t len, kj_tpl **out, kiln_err *err)
{
    int rc = 0;
    *out = NULL;
    parser ps = {0};
    kj_tpl *t = kiln_calloc(1, sizeof(*t));
    char *norm = NULL;
    /* arena blocks sized to the template: a 16 KiB block for each of 10,000
     * small models was most of the parse's page faults */
    size_t block = len * 8 < 1024 ? 1024 : len * 8 > 16384 ? 16384 : len * 8;
    if (!t || !(t->arena = kiln_arena_new(block)) || !(t->name = kiln_strdup(name)) || !(norm = kiln_malloc(len + 1))) {
        rc = KILN_OOM(err);
        goto done;
    }
    /* newlines normalized to \n; one trailing newline dropped */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n')
                i++;
        } else {
            norm[n++] = src[i];
        }
    }
    if (n && norm[n - 1] == '\n')
        n--;
    norm[n] = 0;
    ps.name = t->name;
    ps.src = ps.pos = norm;
    ps.end = norm + n;
    ps.line = ps.col = 1;
    ps.arena = t->arena;
    ps.err = err;
    /* about one token per 8 bytes of a model: no regrowth for most */
    if ((rc = kiln_vec_reserve(&ps.toks, n / 8 + 16, err)) || (rc = lex(&ps)))
        goto done;
    const char *which;
    if ((rc = p_body(&ps, NULL, &t->root, &which)))
        goto done;
    /* data tokens point into norm: copy them into the arena was done by astr */
    *out = t;
    t = NULL;
done:
    kiln_vec_free(&ps.toks);
    kiln_free(norm);
    if (t) {
        kiln_arena_free(t->arena);
        kiln_free(t->name);
        kiln_free(t);
    }
    return rc;
}

void kj_env_adopt(kj_env *env, kj_tpl *t)
{
    t->next = env->tpls;
    env->tpls = t;
}

int kj_parse(kj_env *env, const char *name, const char *src, size_t len, kj_tpl **out, kiln_err *err)
{
    int rc = kj_parse_detached(name, src, len, out, err);
    if (!rc)
        kj_env_adopt(env, *out);
    return rc;
}
