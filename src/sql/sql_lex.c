/*
 * sql_lex.c - the one SQL token scanner of src/sql (sql_int.h): words,
 * numbers, punctuation, SQLite's four quotings with doubled-quote escapes,
 * and -- / slash-star comments skipped as blanks. Every place in src/sql
 * that has to find something in SQL text outside strings and comments
 * (left()/right() calls, the write and DDL statements kiln runs itself,
 * the end of a failed statement in a script) uses it, so they agree on
 * what is quoted.
 */
#include "sql_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_ident(unsigned char c) { return isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

static void skip_blank(kiln_sql_lexer *lx)
{
    const char *s = lx->s;
    size_t i = lx->pos, n = lx->n;
    for (;;) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
            while (i < n && s[i] != '\n')
                i++;
        } else if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
            i += 2;
            while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/'))
                i++;
            i = i + 2 < n ? i + 2 : n;
        } else {
            break;
        }
    }
    lx->pos = i;
}

kiln_sql_tok kiln_sql_lex_next(kiln_sql_lexer *lx)
{
    skip_blank(lx);
    kiln_sql_tok t = {lx->pos, lx->pos, 0};
    const char *s = lx->s;
    size_t i = lx->pos, n = lx->n;
    if (i >= n)
        return t;
    unsigned char c = (unsigned char)s[i];
    if (c == '\'' || c == '"' || c == '`' || c == '[') {
        char close = c == '[' ? ']' : (char)c;
        i++;
        while (i < n) {
            if (s[i] == close) {
                if (close != ']' && i + 1 < n && s[i + 1] == close) {
                    i += 2;
                    continue;
                }
                break;
            }
            i++;
        }
        i = i < n ? i + 1 : n;
        t.kind = c == '\'' ? 's' : 'q';
    } else if (is_ident(c) && !isdigit(c)) {
        while (i < n && is_ident((unsigned char)s[i]))
            i++;
        t.kind = 'w';
    } else if (isdigit(c)) {
        while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '.'))
            i++;
        t.kind = 'n';
    } else {
        i++;
        if (i < n && ((c == '<' && (s[i] == '=' || s[i] == '>')) || (c == '>' && s[i] == '=') ||
                      (c == '!' && s[i] == '=') || (c == '=' && s[i] == '=') || (c == '|' && s[i] == '|')))
            i++;
        t.kind = 'p';
    }
    t.e = i;
    lx->pos = i;
    return t;
}

kiln_sql_tok kiln_sql_lex_peek(kiln_sql_lexer *lx)
{
    size_t p = lx->pos;
    kiln_sql_tok t = kiln_sql_lex_next(lx);
    lx->pos = p;
    return t;
}

int kiln_sql_lex_kw(const kiln_sql_lexer *lx, kiln_sql_tok t, const char *kw)
{
    size_t n = strlen(kw);
    return t.kind == 'w' && t.e - t.b == n && strncasecmp(lx->s + t.b, kw, n) == 0;
}

int kiln_sql_lex_p(const kiln_sql_lexer *lx, kiln_sql_tok t, char c)
{
    return t.kind == 'p' && t.e - t.b == 1 && lx->s[t.b] == c;
}

int kiln_sql_lex_ident(const kiln_sql_lexer *lx, kiln_sql_tok t, char *out, size_t cap)
{
    const char *s = lx->s + t.b;
    size_t n = t.e - t.b, k = 0;
    if (t.kind == 'w') {
        if (n >= cap)
            return -1;
        memcpy(out, s, n);
        out[n] = 0;
        return 0;
    }
    if (t.kind != 'q' || n < 2)
        return -1;
    char q = s[n - 1];
    for (size_t i = 1; i + 1 < n; i++) {
        if (k + 1 >= cap)
            return -1;
        out[k++] = s[i];
        if (s[i] == q && i + 2 < n && s[i + 1] == q)
            i++;
    }
    out[k] = 0;
    return 0;
}

kiln_sql_tok kiln_sql_lex_skip_parens(kiln_sql_lexer *lx)
{
    int depth = 1;
    for (;;) {
        kiln_sql_tok t = kiln_sql_lex_next(lx);
        if (!t.kind)
            return t;
        if (kiln_sql_lex_p(lx, t, '('))
            depth++;
        else if (kiln_sql_lex_p(lx, t, ')') && --depth == 0)
            return t;
    }
}

size_t kiln_sql_lex_stmt_end(kiln_sql_lexer *lx)
{
    int depth = 0;
    for (;;) {
        kiln_sql_tok t = kiln_sql_lex_next(lx);
        if (!t.kind)
            return lx->n;
        if (kiln_sql_lex_p(lx, t, '('))
            depth++;
        else if (kiln_sql_lex_p(lx, t, ')'))
            depth--;
        else if (kiln_sql_lex_p(lx, t, ';') && depth <= 0)
            return t.b;
    }
}

int kiln_sql_lex_name2(kiln_sql_lexer *lx, char ns[129], char tb[129])
{
    kiln_sql_tok a = kiln_sql_lex_next(lx);
    if (kiln_sql_lex_ident(lx, a, ns, 129) != 0)
        return 1;
    if (!kiln_sql_lex_p(lx, kiln_sql_lex_peek(lx), '.'))
        return 1;
    kiln_sql_lex_next(lx);
    kiln_sql_tok b = kiln_sql_lex_next(lx);
    return kiln_sql_lex_ident(lx, b, tb, 129) != 0;
}

int kiln_sql_is_lake_schema(sqlite3 *db, const char *ns)
{
    if (!strcasecmp(ns, "main") || !strcasecmp(ns, "temp"))
        return 0;
    const char *f = sqlite3_db_filename(db, ns);
    return !f || !*f; /* not attached, or attached in memory (kiln's namespaces) */
}

int kiln_sql_perr(long *eoff, size_t at, kiln_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    va_end(ap);
    if (eoff)
        *eoff = (long)at;
    int rc = kiln_err_set(err, KILN_EFORMAT, "%s", m ? m : "syntax error");
    free(m);
    return rc;
}

int kiln_sql_text_creates_table(const char *sql, size_t len)
{
    kiln_sql_lexer lx = {sql, len, 0};
    while (lx.pos < len) {
        kiln_sql_tok t = kiln_sql_lex_next(&lx);
        if (!t.kind)
            return 0;
        if (kiln_sql_lex_kw(&lx, t, "CREATE")) {
            kiln_sql_tok k = kiln_sql_lex_next(&lx);
            if (kiln_sql_lex_kw(&lx, k, "OR") && kiln_sql_lex_kw(&lx, kiln_sql_lex_next(&lx), "REPLACE"))
                k = kiln_sql_lex_next(&lx);
            if (kiln_sql_lex_kw(&lx, k, "TABLE"))
                return 1;
        }
        if (!kiln_sql_lex_p(&lx, t, ';')) {
            size_t e = kiln_sql_lex_stmt_end(&lx);
            lx.pos = e < len ? e + 1 : len;
        }
    }
    return 0;
}
