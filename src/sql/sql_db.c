/*
 * sql_db.c - opening a kiln SQLite connection (kiln's functions and the
 * "iceberg" virtual-table module registered; kiln_sql_lake_attach adds a
 * warehouse's tables) and preparing statements.
 *
 * kiln_sql_prepare exists because SQLite 3.40's grammar reads LEFT and
 * RIGHT as join keywords, so `left(s, 2)` is a syntax error there. Before
 * preparing, a token-aware scan quotes the name of every `left (` / `right (`
 * call ("left"(s, 2) is a plain function call); nothing else in the text
 * changes, and error offsets and statement tails are mapped back to the
 * caller's text. LEFT/RIGHT directly followed by '(' is never valid SQL
 * otherwise (a join is always LEFT JOIN / LEFT OUTER JOIN).
 */
#include "sql_int.h"

#include <ctype.h>
#include <string.h>
#include <sys/stat.h>

int kiln_sql_db_open(sqlite3 **out, const char *path, int flags, kiln_err *err)
{
    int rc = 0;
    sqlite3 *db = NULL;
    *out = NULL;
    int memory = !path || strcmp(path, ":memory:") == 0;
    struct stat st;
    if (!memory && (flags & (KILN_SQL_OPEN_NOCREATE | KILN_SQL_OPEN_READONLY)) && stat(path, &st) != 0) {
        rc = kiln_err_set(err, KILN_ENOTFOUND, "%s: no such database file", path);
        goto done;
    }
    int oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
                 ((flags & KILN_SQL_OPEN_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int src = sqlite3_open_v2(memory ? ":memory:" : path, &db, oflags, NULL);
    if (src != SQLITE_OK) {
        rc = kiln_err_set(err, src == SQLITE_NOMEM ? KILN_ENOMEM : KILN_EIO, "%s: cannot open database: %s",
                          memory ? ":memory:" : path, db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
        goto done;
    }
    sqlite3_extended_result_codes(db, 1);
    /* a file that is not a SQLite database only fails at first use: check now */
    if (!memory) {
        char *emsg = NULL;
        if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, &emsg) != SQLITE_OK) {
            rc = kiln_err_set(err, KILN_EFORMAT, "%s: %s", path, emsg ? emsg : sqlite3_errmsg(db));
            sqlite3_free(emsg);
            goto done;
        }
    }
    if ((rc = kiln_sql_functions_register(db, err)))
        goto done;
    if ((rc = kiln_sql_lake_register(db, err)))
        goto done;
    rc = kiln_sql__view_register(db, err);
done:
    if (rc) {
        sqlite3_close_v2(db);
        return rc;
    }
    *out = db;
    return 0;
}

void kiln_sql_db_close(sqlite3 *db)
{
    if (db)
        sqlite3_close_v2(db);
}

/* ------------------------------------------------------------ prepare */

/* Find the next `left(`/`right(` call name at or after *pos (tokens of
 * the shared scanner, so strings, quoted names and comments are skipped).
 * Returns 1 and sets [*start, *end) to the name, or 0 when there is none. */
static int next_call(const char *s, size_t n, size_t *pos, size_t *start, size_t *end)
{
    kiln_sql_lexer lx = {s, n, *pos};
    for (;;) {
        kiln_sql_tok t = kiln_sql_lex_next(&lx);
        if (!t.kind) {
            *pos = n;
            return 0;
        }
        if (t.kind != 'w')
            continue;
        /* :left, @left, $left are parameters; t.left a column */
        int param = t.b > 0 && (s[t.b - 1] == ':' || s[t.b - 1] == '@' || s[t.b - 1] == '.');
        if (param || !(kiln_sql_lex_kw(&lx, t, "left") || kiln_sql_lex_kw(&lx, t, "right")))
            continue;
        size_t j = t.e;
        while (j < n && isspace((unsigned char)s[j]))
            j++;
        if (j < n && s[j] == '(') {
            *start = t.b;
            *end = t.e;
            *pos = t.e;
            return 1;
        }
    }
}

/* Map an offset in the rewritten text back to the caller's text: every
 * rewrite inserted one quote before and one after a name. */
static size_t map_back(const size_t *ins, size_t nins, size_t r)
{
    size_t k = 0;
    while (k < nins && ins[k] < r)
        k++;
    return r - k;
}

int kiln_sql_prepare(sqlite3 *db, const char *sql, size_t len, sqlite3_stmt **out, size_t *used, long *err_offset,
                     kiln_err *err)
{
    int rc = 0;
    kiln_buf b, vx;
    kiln_buf_init(&b, 0);
    kiln_buf_init(&vx, 0);
    KILN_VEC(size_t) ins = {0};
    kiln_sql_vmap_vec vmap = {0};
    const char *text = sql;
    size_t textlen = len;
    *out = NULL;
    *used = len;
    if (err_offset)
        *err_offset = -1;
    if (len > (size_t)INT32_MAX) {
        rc = kiln_err_set(err, KILN_ELIMIT, "SQL text of %zu bytes is too long (limit 2 GiB)", len);
        goto done;
    }
    /* views named after FROM/JOIN: their queries in their place (sql_view.c) */
    if ((rc = kiln_sql__view_expand(db, sql, len, &vx, &vmap, err)))
        goto done;
    const char *orig = sql;
    size_t origlen = len;
    if (vx.len) {
        sql = vx.data;
        len = vx.len;
        text = sql;
        textlen = len;
    }
    size_t pos = 0, start, end, copied = 0;
    while (next_call(sql, len, &pos, &start, &end)) {
        if ((rc = kiln_buf_append(&b, sql + copied, start - copied, err)) || (rc = kiln_vec_push(&ins, b.len, err)) ||
            (rc = kiln_buf_putc(&b, '"', err)) || (rc = kiln_buf_append(&b, sql + start, end - start, err)) ||
            (rc = kiln_vec_push(&ins, b.len, err)) || (rc = kiln_buf_putc(&b, '"', err)))
            goto done;
        copied = end;
    }
    if (ins.len) {
        if ((rc = kiln_buf_append(&b, sql + copied, len - copied, err)))
            goto done;
        text = b.data;
        textlen = b.len;
    }
    const char *tail = NULL;
    int src;
    for (int tries = 0;; tries++) {
        src = sqlite3_prepare_v2(db, text, (int)textlen, out, &tail);
        if (src == SQLITE_OK || tries == 4)
            break;
        /* "ns"."table@REF", and a table another process created after the
         * warehouse was attached, are added on first use: then again */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(db));
        kiln_err e2 = {0};
        int r = kiln_sql_lake_resolve_missing(db, msg, &e2);
        if (r == 0 && kiln_sql__view_sync(db, msg) > 0) {
            /* a view another session created or replaced, declared now:
             * expand the text again (the next sync finds nothing new) */
            sqlite3_finalize(*out);
            *out = NULL;
            kiln_buf_free(&b);
            kiln_buf_free(&vx);
            kiln_vec_free(&ins);
            kiln_vec_free(&vmap);
            return kiln_sql_prepare(db, orig, origlen, out, used, err_offset, err);
        }
        if (r < 0) {
            rc = kiln_err_set(err, KILN_EFORMAT, "%s", e2.msg);
            goto done;
        }
        if (r == 0) /* nothing ran on db: its message and offset are the prepare's */
            break;
    }
    if (src != SQLITE_OK) {
        int off = sqlite3_error_offset(db);
        if (err_offset && off >= 0)
            *err_offset = (long)kiln_sql__view_map_back(&vmap, map_back(ins.items, ins.len, (size_t)off));
        rc = kiln_err_set(err, (src & 0xff) == SQLITE_NOMEM ? KILN_ENOMEM : KILN_EFORMAT, "%s", sqlite3_errmsg(db));
        *out = NULL;
        goto done;
    }
    *used = tail ? kiln_sql__view_map_back(&vmap, map_back(ins.items, ins.len, (size_t)(tail - text))) : origlen;
done:
    kiln_buf_free(&b);
    kiln_buf_free(&vx);
    kiln_vec_free(&ins);
    kiln_vec_free(&vmap);
    return rc;
}
