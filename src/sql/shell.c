/*
 * shell.c - running SQL text and printing results for `kiln sql`: the
 * aligned table (UTF-8 width aware), CSV (RFC 4180 quoting), JSON (an
 * array of objects per statement, numbers as numbers) and the '|' form the
 * .sqltest runner compares, and the aligned table with box lines, fitted
 * to a terminal width; EXPLAIN QUERY PLAN trees; SQL errors printed with
 * the statement and a caret; DESCRIBE / SHOW TABLES; .timer figures. The
 * statement reader and the dot-commands are in shell_run.c.
 *
 * The aligned table has to see every row before it can size its columns,
 * so it buffers cell text up to KILN_SQL_TABLE_CAP; the other formats
 * stream row by row.
 */
#include "sql_int.h"
#include "exec/exec.h"
#include "format/text/text.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int kiln_sql_format_parse(const char *name, kiln_sql_format *out)
{
    static const char *const names[] = {"table", "csv", "json", "pipe", "box"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (kiln_sql_format)i;
            return 0;
        }
    }
    return KILN_EINVAL;
}

/* ------------------------------------------------------------ UTF-8 width */

/* Decode one UTF-8 character at s[0..n); returns its length (1 for an
 * invalid byte, with *cp = 0xFFFD). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 1) {
        *cp = c;
        return 1;
    }
    if (len == 0 || len > n)
        goto bad;
    uint32_t v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            goto bad;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < minv[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        goto bad;
    *cp = v;
    return len;
bad:
    *cp = 0xFFFD;
    return 1;
}

static int cp_width(uint32_t c)
{
    static const uint32_t zero[][2] = {{0x0300, 0x036F}, {0x0483, 0x0489},  {0x0591, 0x05BD}, {0x0610, 0x061A},
                                       {0x064B, 0x065F}, {0x0E31, 0x0E31},  {0x0E34, 0x0E3A}, {0x1AB0, 0x1AFF},
                                       {0x1DC0, 0x1DFF}, {0x200B, 0x200F},  {0x20D0, 0x20FF}, {0xFE00, 0xFE0F},
                                       {0xFE20, 0xFE2F}, {0xE0100, 0xE01EF}};
    static const uint32_t wide[][2] = {{0x1100, 0x115F},   {0x231A, 0x231B},   {0x2E80, 0x303E},  {0x3041, 0x33FF},
                                       {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},  {0xAC00, 0xD7A3},
                                       {0xF900, 0xFAFF},   {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},  {0xFFE0, 0xFFE6},
                                       {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF}, {0x20000, 0x3FFFD}};
    for (size_t i = 0; i < sizeof zero / sizeof *zero; i++)
        if (c >= zero[i][0] && c <= zero[i][1])
            return 0;
    for (size_t i = 0; i < sizeof wide / sizeof *wide; i++)
        if (c >= wide[i][0] && c <= wide[i][1])
            return 2;
    return 1;
}

size_t kiln_sql_utf8_width(const char *s, size_t n)
{
    size_t w = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        i += utf8_decode((const unsigned char *)s + i, n - i, &cp);
        w += (size_t)cp_width(cp);
    }
    return w;
}

/* ------------------------------------------------------------ cells */

static int put_hex(kiln_buf *b, const unsigned char *p, size_t n, kiln_err *err)
{
    static const char hx[] = "0123456789abcdef";
    int rc = kiln_buf_reserve(b, 2 * n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        b->data[b->len++] = hx[p[i] >> 4];
        b->data[b->len++] = hx[p[i] & 15];
    }
    if (rc == 0)
        b->data[b->len] = '\0';
    return rc;
}

/* Text of column i for the table and pipe forms: NULL, numbers as SQLite
 * prints them, blobs as x'hex', control characters escaped (\n \t \r \xNN)
 * so a row stays on one line. */
static int cell_text(kiln_buf *b, sqlite3_stmt *st, int i, kiln_err *err)
{
    int t = sqlite3_column_type(st, i);
    if (t == SQLITE_NULL)
        return kiln_buf_append(b, "NULL", 4, err);
    if (t == SQLITE_BLOB) {
        const unsigned char *p = sqlite3_column_blob(st, i);
        int rc = kiln_buf_append(b, "x'", 2, err);
        if (rc == 0)
            rc = put_hex(b, p, (size_t)sqlite3_column_bytes(st, i), err);
        return rc ? rc : kiln_buf_putc(b, '\'', err);
    }
    const char *s = (const char *)sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    if (!s)
        return KILN_OOM(err);
    size_t run = 0;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c >= 0x20 && c != 0x7F)
            continue;
        if ((rc = kiln_buf_append(b, s + run, k - run, err)))
            break;
        run = k + 1;
        if (c == '\n')
            rc = kiln_buf_append(b, "\\n", 2, err);
        else if (c == '\t')
            rc = kiln_buf_append(b, "\\t", 2, err);
        else if (c == '\r')
            rc = kiln_buf_append(b, "\\r", 2, err);
        else
            rc = kiln_buf_printf(b, err, "\\x%02x", c);
    }
    return rc ? rc : kiln_buf_append(b, s + run, n - run, err);
}

static int is_json_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return 0;
    if (*p == '0' && isdigit((unsigned char)p[1]))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

/* JSON text: base's writer (short escapes for \n \t \r, \u00XX for other
 * control characters, U+FFFD for each invalid UTF-8 byte: the output kiln
 * sql always had). */
#define json_string kiln_json_write_str

static int json_value(kiln_buf *b, sqlite3_stmt *st, int i, kiln_err *err)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: return kiln_buf_append(b, "null", 4, err);
    case SQLITE_INTEGER: return kiln_buf_printf(b, err, "%lld", (long long)sqlite3_column_int64(st, i));
    case SQLITE_FLOAT: {
        const char *s = (const char *)sqlite3_column_text(st, i);
        if (s && is_json_number(s))
            return kiln_buf_append(b, s, strlen(s), err);
        return kiln_buf_append(b, "null", 4, err); /* Inf/-Inf have no JSON form */
    }
    case SQLITE_BLOB: {
        int rc = kiln_buf_putc(b, '"', err);
        if (rc == 0)
            rc = put_hex(b, sqlite3_column_blob(st, i), (size_t)sqlite3_column_bytes(st, i), err);
        return rc ? rc : kiln_buf_putc(b, '"', err);
    }
    default: {
        const char *s = (const char *)sqlite3_column_text(st, i);
        if (!s)
            return KILN_OOM(err);
        return json_string(b, s, (size_t)sqlite3_column_bytes(st, i), err);
    }
    }
}

static int csv_value(kiln_buf *b, sqlite3_stmt *st, int i, kiln_err *err)
{
    int t = sqlite3_column_type(st, i);
    if (t == SQLITE_NULL)
        return 0;
    if (t == SQLITE_BLOB)
        return put_hex(b, sqlite3_column_blob(st, i), (size_t)sqlite3_column_bytes(st, i), err);
    const char *s = (const char *)sqlite3_column_text(st, i);
    if (!s)
        return KILN_OOM(err);
    return kiln_csv_write_field(b, s, (size_t)sqlite3_column_bytes(st, i), err);
}

static int flush_buf(kiln_buf *b, FILE *out, kiln_err *err)
{
    if (b->len && fwrite(b->data, 1, b->len, out) != b->len)
        return kiln_err_set(err, KILN_EIO, "writing results: short write");
    kiln_buf_reset(b);
    return 0;
}

/* ------------------------------------------------------------ running */

/* sqlite3_step failed: the message, and KILN_EFORMAT (SQL) or ENOMEM. */
static int step_error(sqlite3 *db, int src, kiln_err *err)
{
    return kiln_err_set(err, (src & 0xff) == SQLITE_NOMEM ? KILN_ENOMEM : KILN_EFORMAT, "%s", sqlite3_errmsg(db));
}

typedef struct cellref {
    size_t off, len, width;
    int right; /* numbers align right */
} cellref;

/* The aligned result of one statement, all cells buffered. */
typedef struct table_buf {
    int ncols;
    long long nrows;
    kiln_buf text;           /* every cell's text, the header first */
    KILN_VEC(cellref) cells; /* (nrows + 1) * ncols */
    size_t *widths;
} table_buf;

/* Step the statement to its end, keeping every cell's text and width. */
static int table_collect(sqlite3 *db, sqlite3_stmt *st, table_buf *tb, kiln_err *err)
{
    int rc;
    for (int i = 0; i < tb->ncols; i++) {
        const char *name = sqlite3_column_name(st, i);
        if (!name)
            name = "?";
        cellref c = {tb->text.len, strlen(name), kiln_sql_utf8_width(name, strlen(name)), 0};
        if ((rc = kiln_buf_append(&tb->text, name, c.len, err)) || (rc = kiln_vec_push(&tb->cells, c, err)))
            return rc;
    }
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            return 0;
        if (src != SQLITE_ROW)
            return step_error(db, src, err);
        tb->nrows++;
        for (int i = 0; i < tb->ncols; i++) {
            size_t off = tb->text.len;
            if ((rc = cell_text(&tb->text, st, i, err))) {
                if (rc == KILN_ELIMIT)
                    kiln_err_set(err, KILN_ELIMIT,
                                 "result too large for an aligned table (over %zu MiB of text): "
                                 "use --csv or --json, which stream",
                                 (size_t)(KILN_SQL_TABLE_CAP >> 20));
                return rc;
            }
            int t = sqlite3_column_type(st, i);
            cellref c = {off, tb->text.len - off, kiln_sql_utf8_width(tb->text.data + off, tb->text.len - off),
                         t == SQLITE_INTEGER || t == SQLITE_FLOAT};
            if ((rc = kiln_vec_push(&tb->cells, c, err)))
                return rc;
        }
    }
}

/* Column widths; a column whose values are all numbers (or NULL) aligns
 * right, header included. */
static void table_align(table_buf *tb)
{
    size_t nc = (size_t)tb->ncols;
    for (size_t k = 0; k < tb->cells.len; k++)
        if (tb->cells.items[k].width > tb->widths[k % nc])
            tb->widths[k % nc] = tb->cells.items[k].width;
    for (size_t i = 0; i < nc; i++) {
        int numeric = 0, other = 0;
        for (size_t r = 1; r <= (size_t)tb->nrows; r++) {
            cellref *c = &tb->cells.items[r * nc + i];
            numeric |= c->right;
            other |= !c->right && !(c->len == 4 && memcmp(tb->text.data + c->off, "NULL", 4) == 0);
        }
        for (size_t r = 0; r <= (size_t)tb->nrows; r++)
            tb->cells.items[r * nc + i].right = numeric && !other;
    }
}

/* Narrow the widest columns, one terminal column at a time, until a row
 * fits max_width (cells then end in an ellipsis); no column goes below
 * 3 (or its own width). */
static void table_fit(table_buf *tb, size_t max_width, int box)
{
    size_t total = box ? 4 : 0;
    for (int i = 0; i < tb->ncols; i++)
        total += tb->widths[i] + (i ? 3 : 0);
    while (max_width && total > max_width) {
        int widest = 0;
        for (int i = 1; i < tb->ncols; i++)
            if (tb->widths[i] > tb->widths[widest])
                widest = i;
        if (tb->widths[widest] <= 3)
            break;
        tb->widths[widest]--;
        total--;
    }
}

/* Cell text cut to width columns with a trailing "…" when it is wider. */
static int put_cell(kiln_buf *line, const char *s, const cellref *c, size_t width, size_t *shown, kiln_err *err)
{
    if (c->width <= width) {
        *shown = c->width;
        return kiln_buf_append(line, s, c->len, err);
    }
    size_t i = 0, w = 0;
    while (i < c->len) {
        uint32_t cp;
        size_t l = utf8_decode((const unsigned char *)s + i, c->len - i, &cp);
        size_t cw = (size_t)cp_width(cp);
        if (w + cw + 1 > width)
            break;
        w += cw;
        i += l;
    }
    *shown = w + 1;
    int rc = kiln_buf_append(line, s, i, err);
    return rc ? rc : kiln_buf_append(line, "\xE2\x80\xA6", 3, err);
}

static int rule(kiln_buf *line, const table_buf *tb, int box, const char *l, const char *m, const char *r,
                kiln_err *err)
{
    int rc = kiln_buf_append(line, l, strlen(l), err);
    for (int i = 0; rc == 0 && i < tb->ncols; i++) {
        if (i > 0)
            rc = kiln_buf_append(line, m, strlen(m), err);
        for (size_t p = 0; rc == 0 && p < tb->widths[i] + (box ? 2 : 0); p++)
            rc = box ? kiln_buf_append(line, "\xE2\x94\x80", 3, err) : kiln_buf_putc(line, '-', err);
    }
    if (rc == 0)
        rc = kiln_buf_append(line, r, strlen(r), err);
    return rc ? rc : kiln_buf_putc(line, '\n', err);
}

static int table_row(kiln_buf *line, const table_buf *tb, size_t r, int box, kiln_err *err)
{
    int rc = box ? kiln_buf_append(line, "\xE2\x94\x82 ", 4, err) : 0;
    for (int i = 0; rc == 0 && i < tb->ncols; i++) {
        const cellref *c = &tb->cells.items[r * (size_t)tb->ncols + (size_t)i];
        size_t shown = 0, w = tb->widths[i];
        size_t pad = c->width < w ? w - c->width : 0;
        int last = i == tb->ncols - 1 && !box;
        if (i > 0)
            rc = box ? kiln_buf_append(line, " \xE2\x94\x82 ", 5, err) : kiln_buf_append(line, " | ", 3, err);
        for (size_t p = 0; rc == 0 && c->right && p < pad; p++)
            rc = kiln_buf_putc(line, ' ', err);
        if (rc == 0)
            rc = put_cell(line, tb->text.data + c->off, c, w, &shown, err);
        for (size_t p = shown; rc == 0 && !c->right && !last && p < w; p++)
            rc = kiln_buf_putc(line, ' ', err);
    }
    if (rc == 0 && box)
        rc = kiln_buf_append(line, " \xE2\x94\x82", 4, err);
    return rc ? rc : kiln_buf_putc(line, '\n', err);
}

static int print_table(sqlite3 *db, sqlite3_stmt *st, const kiln_sql_print *po, FILE *out, kiln_err *err)
{
    int rc = 0, box = po->fmt == KILN_SQL_FMT_BOX;
    table_buf tb = {.ncols = sqlite3_column_count(st)};
    kiln_buf line;
    kiln_buf_init(&tb.text, KILN_SQL_TABLE_CAP);
    kiln_buf_init(&line, 0);
    if (!(tb.widths = kiln_calloc((size_t)tb.ncols, sizeof *tb.widths))) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = table_collect(db, st, &tb, err)))
        goto done;
    table_align(&tb);
    table_fit(&tb, po->max_width, box);
    if (box && (rc = rule(&line, &tb, 1, "\xE2\x94\x8C", "\xE2\x94\xAC", "\xE2\x94\x90", err)))
        goto done;
    for (size_t r = po->headers ? 0 : 1; r <= (size_t)tb.nrows; r++) {
        if ((rc = table_row(&line, &tb, r, box, err)))
            goto done;
        if (r == 0 && (rc = box ? rule(&line, &tb, 1, "\xE2\x94\x9C", "\xE2\x94\xBC", "\xE2\x94\xA4", err)
                                : rule(&line, &tb, 0, "", "-+-", "", err)))
            goto done;
        if (line.len > 65536 && (rc = flush_buf(&line, out, err)))
            goto done;
    }
    if (box && (rc = rule(&line, &tb, 1, "\xE2\x94\x94", "\xE2\x94\xB4", "\xE2\x94\x98", err)))
        goto done;
    if ((rc = kiln_buf_printf(&line, err, "(%lld row%s)\n", tb.nrows, tb.nrows == 1 ? "" : "s")) ||
        (rc = flush_buf(&line, out, err)))
        goto done;
done:
    kiln_free(tb.widths);
    kiln_vec_free(&tb.cells);
    kiln_buf_free(&tb.text);
    kiln_buf_free(&line);
    return rc;
}

static int print_stream(sqlite3 *db, sqlite3_stmt *st, kiln_sql_format fmt, int headers, FILE *out, kiln_err *err)
{
    int rc = 0, ncols = sqlite3_column_count(st);
    long long nrows = 0;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    /* JSON keys: column names, a repeated name gets a _2, _3 ... suffix */
    char **keys = NULL;
    if (fmt == KILN_SQL_FMT_JSON) {
        keys = kiln_calloc((size_t)ncols, sizeof *keys);
        if (!keys) {
            rc = KILN_OOM(err);
            goto done;
        }
        for (int i = 0; i < ncols; i++) {
            const char *name = sqlite3_column_name(st, i);
            name = name ? name : "?";
            int dup = 1;
            for (int j = 0; j < i; j++)
                dup += strcmp(sqlite3_column_name(st, j) ? sqlite3_column_name(st, j) : "?", name) == 0;
            keys[i] = dup > 1 ? kiln_sprintf("%s_%d", name, dup) : kiln_strdup(name);
            if (!keys[i]) {
                rc = KILN_OOM(err);
                goto done;
            }
        }
        rc = kiln_buf_putc(&b, '[', err);
    } else if (headers) {
        for (int i = 0; i < ncols && rc == 0; i++) {
            const char *name = sqlite3_column_name(st, i);
            name = name ? name : "?";
            if (i > 0)
                rc = kiln_buf_putc(&b, fmt == KILN_SQL_FMT_CSV ? ',' : '|', err);
            if (rc == 0)
                rc = fmt == KILN_SQL_FMT_CSV ? kiln_csv_write_field(&b, name, strlen(name), err)
                                             : kiln_buf_append(&b, name, strlen(name), err);
        }
        if (rc == 0)
            rc = kiln_buf_putc(&b, '\n', err);
    }
    if (rc)
        goto done;
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = step_error(db, src, err);
            goto done;
        }
        if (fmt == KILN_SQL_FMT_JSON) {
            rc = kiln_buf_append(&b, nrows ? ",\n{" : "\n{", nrows ? 3 : 2, err);
            for (int i = 0; i < ncols && rc == 0; i++) {
                if (i > 0)
                    rc = kiln_buf_putc(&b, ',', err);
                if (rc == 0)
                    rc = json_string(&b, keys[i], strlen(keys[i]), err);
                if (rc == 0)
                    rc = kiln_buf_putc(&b, ':', err);
                if (rc == 0)
                    rc = json_value(&b, st, i, err);
            }
            if (rc == 0)
                rc = kiln_buf_putc(&b, '}', err);
        } else {
            for (int i = 0; i < ncols && rc == 0; i++) {
                if (i > 0)
                    rc = kiln_buf_putc(&b, fmt == KILN_SQL_FMT_CSV ? ',' : '|', err);
                if (rc == 0)
                    rc = fmt == KILN_SQL_FMT_CSV ? csv_value(&b, st, i, err) : cell_text(&b, st, i, err);
            }
            if (rc == 0)
                rc = kiln_buf_putc(&b, '\n', err);
        }
        if (rc)
            goto done;
        nrows++;
        if (b.len > 65536 && (rc = flush_buf(&b, out, err)))
            goto done;
    }
    if (fmt == KILN_SQL_FMT_JSON)
        rc = kiln_buf_append(&b, nrows ? "\n]\n" : "]\n", nrows ? 3 : 2, err);
    if (rc == 0)
        rc = flush_buf(&b, out, err);
done:
    for (int i = 0; keys && i < ncols; i++)
        kiln_free(keys[i]);
    kiln_free(keys);
    kiln_buf_free(&b);
    return rc;
}

/* EXPLAIN QUERY PLAN as a tree, like the sqlite3 shell prints it. */
typedef struct plan_row {
    int id, parent;
    char *detail;
} plan_row;

static void plan_print(FILE *out, plan_row *rows, size_t n, int parent, kiln_buf *prefix)
{
    for (size_t i = 0; i < n; i++) {
        if (rows[i].parent != parent)
            continue;
        int last = 1;
        for (size_t j = i + 1; j < n; j++)
            if (rows[j].parent == parent)
                last = 0;
        fprintf(out, "%s%s%s\n", prefix->data ? prefix->data : "", last ? "`--" : "|--", rows[i].detail);
        size_t keep = prefix->len;
        if (kiln_buf_append(prefix, last ? "   " : "|  ", 3, NULL) == 0)
            plan_print(out, rows, n, rows[i].id, prefix);
        prefix->len = keep;
        if (prefix->data)
            prefix->data[keep] = '\0';
    }
}

static int print_plan(sqlite3 *db, sqlite3_stmt *st, FILE *out, kiln_err *err)
{
    int rc = 0;
    sqlite3_stmt *eqp = NULL;
    KILN_VEC(plan_row) rows = {0};
    kiln_buf prefix;
    kiln_buf_init(&prefix, 1 << 16);
    char *q = kiln_sprintf("EXPLAIN QUERY PLAN %s", sqlite3_sql(st));
    if (!q) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (sqlite3_prepare_v2(db, q, -1, &eqp, NULL) != SQLITE_OK) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
        goto done;
    }
    int src;
    while ((src = sqlite3_step(eqp)) == SQLITE_ROW) {
        plan_row r = {
            sqlite3_column_int(eqp, 0), sqlite3_column_int(eqp, 1),
            kiln_strdup((const char *)sqlite3_column_text(eqp, 3) ? (const char *)sqlite3_column_text(eqp, 3) : "")};
        if (!r.detail || (rc = kiln_vec_push(&rows, r, err))) {
            kiln_free(r.detail);
            rc = rc ? rc : KILN_OOM(err);
            goto done;
        }
    }
    if (src != SQLITE_DONE) {
        rc = step_error(db, src, err);
        goto done;
    }
    fprintf(out, "QUERY PLAN\n");
    plan_print(out, rows.items, rows.len, 0, &prefix);
done:
    for (size_t i = 0; i < rows.len; i++)
        kiln_free(rows.items[i].detail);
    kiln_vec_free(&rows);
    kiln_buf_free(&prefix);
    sqlite3_finalize(eqp);
    kiln_free(q);
    return rc;
}

/* --explain, after the plan: run the query (rows discarded) with the
 * Iceberg scan log on and print what each virtual-table scan was given
 * and what planning pruned. Nothing is printed without Iceberg scans. */
static int print_scans(sqlite3 *db, sqlite3_stmt *st, FILE *out, kiln_err *err)
{
    if (!kiln_sql_lake_catalog(db))
        return 0;
    kiln_sql_lake_scanlog(db, 1);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        ;
    int rc = 0;
    if (src != SQLITE_DONE) {
        rc = step_error(db, src, err);
        goto done;
    }
    size_t n;
    const kiln_sql_scan_rec *r = kiln_sql_lake_scans(db, &n);
    if (n)
        fprintf(out, "ICEBERG SCANS\n");
    for (size_t i = 0; i < n; i++) {
        size_t read = r[i].files_total - r[i].files_pruned_partition - r[i].files_pruned_stats;
        fprintf(out, "%s %s (snapshot %lld)\n", i + 1 < n ? "|--" : "`--", r[i].table, (long long)r[i].snapshot_id);
        const char *ind = i + 1 < n ? "|   " : "    ";
        fprintf(out, "%scolumns: %s\n", ind, r[i].columns);
        fprintf(out, "%spushed: %s\n", ind, r[i].where[0] ? r[i].where : "(nothing)");
        fprintf(out, "%sfiles: %zu read, %zu skipped by partition, %zu by column stats, of %zu\n", ind, read,
                r[i].files_pruned_partition, r[i].files_pruned_stats, r[i].files_total);
        fprintf(out, "%srow groups: %zu read, %zu skipped by column stats, of %zu (in the files read)\n", ind,
                r[i].row_groups_total - r[i].row_groups_skipped, r[i].row_groups_skipped, r[i].row_groups_total);
        fprintf(out, "%smanifests: %zu skipped of %zu; scans: %zu; rows out: %lld\n", ind, r[i].manifests_pruned,
                r[i].manifests_total, r[i].filters, (long long)r[i].rows);
    }
done:
    kiln_sql_lake_scanlog(db, 0);
    return rc;
}

static int run_stmt(sqlite3 *db, sqlite3_stmt *st, const kiln_sql_print *po, FILE *out, kiln_err *err)
{
    if (sqlite3_column_count(st) == 0) {
        int src;
        while ((src = sqlite3_step(st)) == SQLITE_ROW)
            ;
        return src == SQLITE_DONE ? 0 : step_error(db, src, err);
    }
    if (po->explain && !sqlite3_stmt_isexplain(st)) /* an EXPLAIN statement prints as itself */
        return print_plan(db, st, out, err) || print_scans(db, st, out, err);
    if (po->fmt == KILN_SQL_FMT_TABLE || po->fmt == KILN_SQL_FMT_BOX)
        return print_table(db, st, po, out, err);
    return print_stream(db, st, po->fmt, po->headers, out, err);
}

/* Prepare the statement at sql[0..len): DESCRIBE / SHOW TABLES, then
 * SQLite's (creating "ns"."table@REF" tables on first use); an unknown
 * table's message lists the Iceberg tables, or says the warehouse is
 * missing. */
static int prepare_one(sqlite3 *db, const char *sql, size_t len, sqlite3_stmt **st, size_t *used, long *eoff,
                       kiln_err *err)
{
    int handled = 0;
    int rc = kiln_sql_meta_prepare(db, sql, len, &handled, st, used, eoff, err);
    if (handled || rc)
        return rc;
    rc = kiln_sql_prepare(db, sql, len, st, used, eoff, err); /* adds "ns"."table@REF" on first use */
    if (rc == KILN_EFORMAT && strncmp(err->msg, "no such table: ", 15) == 0) {
        const char *missing = kiln_sql_lake_missing(db);
        kiln_buf names;
        kiln_buf_init(&names, 0);
        if (missing) {
            char *m = kiln_sprintf("%s (warehouse not found: %s)", err->msg, missing);
            rc = kiln_err_set(err, m ? KILN_ENOTFOUND : KILN_ENOMEM, "%s", m ? m : "out of memory");
            kiln_free(m);
        } else if (kiln_sql_lake_tables_text(db, &names) > 0 || names.len) {
            kiln_buf_putc(&names, 0, NULL);
            char *m = kiln_sprintf("%s (Iceberg tables: %s)", err->msg, names.data);
            if (m)
                kiln_err_set(err, KILN_EFORMAT, "%s", m);
            kiln_free(m);
        }
        kiln_buf_free(&names);
    }
    return rc;
}

/* Wall clock, user and system CPU seconds, for .timer. */
static void times_now(double t[3])
{
    struct timespec ts;
    struct rusage ru;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    getrusage(RUSAGE_SELF, &ru);
    t[0] = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    t[1] = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    t[2] = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* One statement at sql[0..len): kiln's writes and DDL, else prepared and
 * printed. *used = its length (with the ';'), or 0 when unknown. */
static int exec_one(sqlite3 *db, const char *sql, size_t len, const kiln_sql_print *po, FILE *out, size_t *used,
                    long *eoff, kiln_err *err)
{
    sqlite3_stmt *st = NULL;
    int handled = 0;
    double t0[3] = {0}, t1[3];
    if (po->timer)
        times_now(t0);
    int rc = kiln_sql_call_try(db, sql, len, po->explain ? KILN_SQL_WRITE_EXPLAIN : KILN_SQL_WRITE_QUIET, &handled,
                               used, eoff, &st, out, err); /* CALL system.PROC(...): sql_call.c */
    if (!handled)
        rc = kiln_sql_write_try(db, sql, len,
                                po->explain                                                    ? KILN_SQL_WRITE_EXPLAIN
                                : po->fmt == KILN_SQL_FMT_TABLE || po->fmt == KILN_SQL_FMT_BOX ? KILN_SQL_WRITE_SUMMARY
                                                                                               : KILN_SQL_WRITE_QUIET,
                                &handled, used, eoff, out, err);
    if (!handled && rc == 0 && (rc = prepare_one(db, sql, len, &st, used, eoff, err)))
        *used = 0; /* where the statement ends is not known */
    /* a query the columnar executor (src/exec) runs with SQLite's result */
    kiln_exec_result *xr = NULL;
    if (rc == 0 && st && sqlite3_column_count(st) > 0 && !sqlite3_stmt_isexplain(st)) {
        char why[320];
        rc = kiln_exec_try(db, sql, *used ? *used : len, st, &xr, why, sizeof why, err);
        if (rc == 0 && po->explain && (xr || why[0]))
            fprintf(out, "KILN EXEC: %s%s\n", xr ? kiln_exec_result_summary(xr) : "sqlite: ", xr ? "" : why);
    }
    if (rc == 0 && xr && !po->explain)
        rc = run_stmt(db, kiln_exec_result_stmt(xr), po, out, err);
    else if (rc == 0 && st && !xr)
        rc = run_stmt(db, st, po, out, err);
    kiln_exec_result_free(xr);
    sqlite3_finalize(st);
    if (po->timer && (handled || st)) {
        times_now(t1); /* as sqlite3's .timer prints it */
        fprintf(out, "Run Time: real %.3f user %.6f sys %.6f\n", t1[0] - t0[0], t1[1] - t0[1], t1[2] - t0[2]);
    }
    return rc;
}

int kiln_sql_exec_ex(sqlite3 *db, const char *sql, size_t len, const kiln_sql_print *po, FILE *out,
                     kiln_sql_errpos *pos, kiln_err *err)
{
    int rc = 0, first = 0;
    size_t off = 0;
    while (off < len) {
        while (off < len && isspace((unsigned char)sql[off]))
            off++;
        if (off == len)
            break;
        size_t used = 0;
        long eoff = -1;
        rc = exec_one(db, sql + off, len - off, po, out, &used, &eoff, err);
        if (rc == 0) {
            off += used ? used : len - off;
            continue;
        }
        /* where the failed statement ends: what prepare consumed, else the
         * next ';' outside quotes */
        if (!used) {
            kiln_sql_lexer lx = {sql + off, len - off, 0};
            size_t e = kiln_sql_lex_stmt_end(&lx);
            used = e < len - off ? e + 1 : len - off;
        }
        kiln_sql_errpos ep = {sql + off, eoff >= 0 && !po->on_error ? len - off : used, eoff};
        while (ep.stmt_len > 0 && isspace((unsigned char)sql[off + ep.stmt_len - 1]))
            ep.stmt_len--;
        if (pos)
            *pos = ep;
        if (!po->on_error)
            break;
        po->on_error(po->ctx, err, &ep);
        first = first ? first : rc;
        off += used;
    }
    fflush(out);
    return po->on_error ? first : rc;
}

int kiln_sql_exec(sqlite3 *db, const char *sql, size_t len, kiln_sql_format fmt, int explain, FILE *out,
                  kiln_sql_errpos *pos, kiln_err *err)
{
    kiln_sql_print po = {.fmt = fmt, .explain = explain, .headers = 1};
    return kiln_sql_exec_ex(db, sql, len, &po, out, pos, err);
}

/* ------------------------------------------------------------ errors */

static void print_line(FILE *f, const char *s, size_t n)
{
    fputs("  ", f);
    for (size_t i = 0; i < n; i++)
        fputc(s[i] == '\t' ? ' ' : s[i], f);
    fputc('\n', f);
}

void kiln_sql_error_print(FILE *f, const char *prefix, const char *msg, const kiln_sql_errpos *pos)
{
    fprintf(f, "%s: error: %s\n", prefix, msg);
    if (!pos || !pos->stmt)
        return;
    const char *s = pos->stmt;
    size_t n = pos->stmt_len;
    if (pos->offset < 0 || (size_t)pos->offset > n) {
        /* no position: show the statement, at most 5 lines */
        size_t start = 0;
        for (int lines = 0; start < n && lines < 5; lines++) {
            const char *nl = memchr(s + start, '\n', n - start);
            size_t end = nl ? (size_t)(nl - s) : n;
            print_line(f, s + start, end - start);
            start = end + 1;
        }
        if (start < n)
            fputs("  ...\n", f);
        return;
    }
    size_t off = (size_t)pos->offset;
    size_t ls = off;
    while (ls > 0 && s[ls - 1] != '\n')
        ls--;
    size_t le = off;
    while (le < n && s[le] != '\n')
        le++;
    /* up to two lines of context before the error line */
    size_t cs = ls;
    for (int k = 0; k < 2 && cs > 0; k++) {
        cs--;
        while (cs > 0 && s[cs - 1] != '\n')
            cs--;
    }
    while (cs < ls) {
        const char *nl = memchr(s + cs, '\n', ls - cs);
        size_t end = nl ? (size_t)(nl - s) : ls;
        print_line(f, s + cs, end - cs);
        cs = end + 1;
    }
    print_line(f, s + ls, le - ls);
    size_t col = kiln_sql_utf8_width(s + ls, off - ls);
    fputs("  ", f);
    for (size_t i = 0; i < col; i++)
        fputc(' ', f);
    fputs("^\n", f);
}
