/*
 * shell.c - running SQL text and printing results for `kiln sql`: the
 * aligned table (UTF-8 width aware), CSV (RFC 4180 quoting), JSON (an
 * array of objects per statement, numbers as numbers) and the '|' form the
 * .sqltest runner compares; EXPLAIN QUERY PLAN trees; SQL errors printed
 * with the statement and a caret; and the statement reader behind the
 * shell (interactive on a TTY, a script on stdin otherwise).
 *
 * The aligned table has to see every row before it can size its columns,
 * so it buffers cell text up to KILN_SQL_TABLE_CAP; the other formats
 * stream row by row.
 */
#include <editline/readline.h>
#include "sql.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

int kiln_sql_format_parse(const char *name, kiln_sql_format *out)
{
    static const char *const names[] = {"table", "csv", "json", "pipe"};
    for (int i = 0; i < 4; i++) {
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
    static const uint32_t zero[][2] = {{0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},
                                       {0x064B, 0x065F}, {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x1AB0, 0x1AFF},
                                       {0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x20D0, 0x20FF}, {0xFE00, 0xFE0F},
                                       {0xFE20, 0xFE2F}, {0xE0100, 0xE01EF}};
    static const uint32_t wide[][2] = {{0x1100, 0x115F},   {0x231A, 0x231B},   {0x2E80, 0x303E},
                                       {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},
                                       {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
                                       {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},
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

static int json_string(kiln_buf *b, const char *s, size_t n, kiln_err *err)
{
    int rc = kiln_buf_putc(b, '"', err);
    size_t i = 0;
    while (rc == 0 && i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            rc = kiln_buf_putc(b, '\\', err);
            if (rc == 0)
                rc = kiln_buf_putc(b, (char)c, err);
            i++;
        } else if (c < 0x20) {
            const char *esc = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
            rc = esc ? kiln_buf_append(b, esc, 2, err) : kiln_buf_printf(b, err, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            rc = kiln_buf_putc(b, (char)c, err);
            i++;
        } else {
            uint32_t cp;
            size_t len = utf8_decode((const unsigned char *)s + i, n - i, &cp);
            if (cp == 0xFFFD && len == 1) /* invalid UTF-8: U+FFFD keeps the JSON valid */
                rc = kiln_buf_append(b, "\xEF\xBF\xBD", 3, err);
            else
                rc = kiln_buf_append(b, s + i, len, err);
            i += len;
        }
    }
    return rc ? rc : kiln_buf_putc(b, '"', err);
}

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

static int csv_field(kiln_buf *b, const char *s, size_t n, kiln_err *err)
{
    int quote = 0;
    for (size_t k = 0; k < n && !quote; k++)
        quote = s[k] == ',' || s[k] == '"' || s[k] == '\n' || s[k] == '\r';
    if (!quote)
        return kiln_buf_append(b, s, n, err);
    int rc = kiln_buf_putc(b, '"', err);
    for (size_t k = 0; k < n && rc == 0; k++)
        rc = s[k] == '"' ? kiln_buf_append(b, "\"\"", 2, err) : kiln_buf_putc(b, s[k], err);
    return rc ? rc : kiln_buf_putc(b, '"', err);
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
    return csv_field(b, s, (size_t)sqlite3_column_bytes(st, i), err);
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

static int print_table(sqlite3 *db, sqlite3_stmt *st, FILE *out, kiln_err *err)
{
    int rc = 0, ncols = sqlite3_column_count(st);
    kiln_buf text, line;
    kiln_buf_init(&text, KILN_SQL_TABLE_CAP);
    kiln_buf_init(&line, 0);
    KILN_VEC(cellref) cells = {0};
    size_t *widths = kiln_calloc((size_t)ncols, sizeof *widths);
    long long nrows = 0;
    if (!widths) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int i = 0; i < ncols; i++) {
        const char *name = sqlite3_column_name(st, i);
        if (!name)
            name = "?";
        cellref c = {text.len, strlen(name), kiln_sql_utf8_width(name, strlen(name)), 0};
        if ((rc = kiln_buf_append(&text, name, c.len, err)) || (rc = kiln_vec_push(&cells, c, err)))
            goto done;
    }
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = step_error(db, src, err);
            goto done;
        }
        nrows++;
        for (int i = 0; i < ncols; i++) {
            size_t off = text.len;
            if ((rc = cell_text(&text, st, i, err))) {
                if (rc == KILN_ELIMIT)
                    kiln_err_set(err, KILN_ELIMIT,
                                 "result too large for an aligned table (over %zu MiB of text): "
                                 "use --csv or --json, which stream",
                                 (size_t)(KILN_SQL_TABLE_CAP >> 20));
                goto done;
            }
            int t = sqlite3_column_type(st, i);
            cellref c = {off, text.len - off, kiln_sql_utf8_width(text.data + off, text.len - off),
                         t == SQLITE_INTEGER || t == SQLITE_FLOAT};
            if ((rc = kiln_vec_push(&cells, c, err)))
                goto done;
        }
    }
    for (size_t k = 0; k < cells.len; k++)
        if (cells.items[k].width > widths[k % (size_t)ncols])
            widths[k % (size_t)ncols] = cells.items[k].width;
    /* a column whose values are all numbers (or NULL) aligns right, header included */
    for (int i = 0; i < ncols; i++) {
        int numeric = 0, other = 0;
        for (size_t r = 1; r <= (size_t)nrows; r++) {
            cellref *c = &cells.items[r * (size_t)ncols + (size_t)i];
            numeric |= c->right;
            other |= !c->right && !(c->len == 4 && memcmp(text.data + c->off, "NULL", 4) == 0);
        }
        for (size_t r = 0; r <= (size_t)nrows; r++)
            cells.items[r * (size_t)ncols + (size_t)i].right = numeric && !other;
    }
    for (size_t r = 0; r <= (size_t)nrows; r++) {
        for (int i = 0; i < ncols; i++) {
            cellref *c = &cells.items[r * (size_t)ncols + (size_t)i];
            size_t pad = widths[i] - c->width;
            int last = i == ncols - 1;
            if (i > 0 && (rc = kiln_buf_append(&line, " | ", 3, err)))
                goto done;
            for (size_t p = 0; c->right && p < pad; p++)
                if ((rc = kiln_buf_putc(&line, ' ', err)))
                    goto done;
            if ((rc = kiln_buf_append(&line, text.data + c->off, c->len, err)))
                goto done;
            for (size_t p = 0; !c->right && !last && p < pad; p++)
                if ((rc = kiln_buf_putc(&line, ' ', err)))
                    goto done;
        }
        if ((rc = kiln_buf_putc(&line, '\n', err)))
            goto done;
        if (r == 0) {
            for (int i = 0; i < ncols; i++) {
                if (i > 0 && (rc = kiln_buf_append(&line, "-+-", 3, err)))
                    goto done;
                for (size_t p = 0; p < widths[i]; p++)
                    if ((rc = kiln_buf_putc(&line, '-', err)))
                        goto done;
            }
            if ((rc = kiln_buf_putc(&line, '\n', err)))
                goto done;
        }
        if (line.len > 65536 && (rc = flush_buf(&line, out, err)))
            goto done;
    }
    if ((rc = kiln_buf_printf(&line, err, "(%lld row%s)\n", nrows, nrows == 1 ? "" : "s")) ||
        (rc = flush_buf(&line, out, err)))
        goto done;
done:
    kiln_free(widths);
    kiln_vec_free(&cells);
    kiln_buf_free(&text);
    kiln_buf_free(&line);
    return rc;
}

static int print_stream(sqlite3 *db, sqlite3_stmt *st, kiln_sql_format fmt, FILE *out, kiln_err *err)
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
    } else {
        for (int i = 0; i < ncols && rc == 0; i++) {
            const char *name = sqlite3_column_name(st, i);
            name = name ? name : "?";
            if (i > 0)
                rc = kiln_buf_putc(&b, fmt == KILN_SQL_FMT_CSV ? ',' : '|', err);
            if (rc == 0)
                rc = fmt == KILN_SQL_FMT_CSV ? csv_field(&b, name, strlen(name), err)
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
        plan_row r = {sqlite3_column_int(eqp, 0), sqlite3_column_int(eqp, 1),
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

static int run_stmt(sqlite3 *db, sqlite3_stmt *st, kiln_sql_format fmt, int explain, FILE *out, kiln_err *err)
{
    if (sqlite3_column_count(st) == 0) {
        int src;
        while ((src = sqlite3_step(st)) == SQLITE_ROW)
            ;
        return src == SQLITE_DONE ? 0 : step_error(db, src, err);
    }
    if (explain && !sqlite3_stmt_isexplain(st)) /* an EXPLAIN statement prints as itself */
        return print_plan(db, st, out, err) || print_scans(db, st, out, err);
    if (fmt == KILN_SQL_FMT_TABLE)
        return print_table(db, st, out, err);
    return print_stream(db, st, fmt, out, err);
}

int kiln_sql_exec(sqlite3 *db, const char *sql, size_t len, kiln_sql_format fmt, int explain, FILE *out,
                  kiln_sql_errpos *pos, kiln_err *err)
{
    int rc = 0;
    size_t off = 0;
    while (off < len) {
        while (off < len && isspace((unsigned char)sql[off]))
            off++;
        if (off == len)
            break;
        sqlite3_stmt *st = NULL;
        size_t used = 0;
        long eoff = -1;
        int handled = 0;
        rc = kiln_sql_write_try(db, sql + off, len - off,
                               explain ? KILN_SQL_WRITE_EXPLAIN
                               : fmt == KILN_SQL_FMT_TABLE ? KILN_SQL_WRITE_SUMMARY : KILN_SQL_WRITE_QUIET,
                               &handled, &used, &eoff, out, err);
        if (!handled && rc == 0) {
            rc = kiln_sql_prepare(db, sql + off, len - off, &st, &used, &eoff, err);
            for (int tries = 0; rc == KILN_EFORMAT && tries < 4; tries++) {
                /* "ns"."table@REF" is created on first use */
                kiln_err e2 = {0};
                int r = kiln_sql_lake_resolve_missing(db, err->msg, &e2);
                if (r < 0) {
                    kiln_err_set(err, KILN_EFORMAT, "%s", e2.msg);
                    break;
                }
                if (r == 0)
                    break;
                rc = kiln_sql_prepare(db, sql + off, len - off, &st, &used, &eoff, err);
            }
            if (rc == KILN_EFORMAT && strncmp(err->msg, "no such table: ", 15) == 0) {
                kiln_buf names;
                kiln_buf_init(&names, 0);
                if (kiln_sql_lake_tables_text(db, &names) > 0 || names.len) {
                    kiln_buf_putc(&names, 0, NULL);
                    char *m = kiln_sprintf("%s (Iceberg tables: %s)", err->msg, names.data);
                    if (m)
                        kiln_err_set(err, KILN_EFORMAT, "%s", m);
                    kiln_free(m);
                }
                kiln_buf_free(&names);
            }
        }
        if (rc == 0 && st)
            rc = run_stmt(db, st, fmt, explain, out, err);
        sqlite3_finalize(st);
        if (rc) {
            if (pos) {
                size_t slen = rc && eoff >= 0 ? len - off : used;
                while (slen > 0 && isspace((unsigned char)sql[off + slen - 1]))
                    slen--;
                pos->stmt = sql + off;
                pos->stmt_len = slen;
                pos->offset = eoff;
            }
            break;
        }
        off += used ? used : len - off;
    }
    fflush(out);
    return rc;
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

/* ------------------------------------------------------------ shell */

#define STMT_CAP ((size_t)64 << 20)

static void shell_help(FILE *out)
{
    fputs("Statements end with ';'. Commands:\n"
          "  .help               this text\n"
          "  .mode table|csv|json|pipe   output format\n"
          "  .tables             list tables and views (Iceberg tables as ns.table)\n"
          "  .schema [NAME]      CREATE statements\n"
          "  .quit, .exit        leave (or end of input, Ctrl-D)\n"
          "Functions kiln adds: see docs/sql.md.\n",
          out);
}

/* Dot-command; returns 1 to quit. */
static int shell_dot(sqlite3 *db, char *line, FILE *out, FILE *errf, kiln_sql_format *fmt)
{
    char *save = NULL;
    char *cmd = strtok_r(line, " \t\r\n", &save);
    char *arg = strtok_r(NULL, " \t\r\n", &save);
    kiln_err err = {0};
    if (!cmd)
        return 0;
    if (strcmp(cmd, ".quit") == 0 || strcmp(cmd, ".exit") == 0)
        return 1;
    if (strcmp(cmd, ".help") == 0) {
        shell_help(out);
    } else if (strcmp(cmd, ".mode") == 0) {
        if (!arg || kiln_sql_format_parse(arg, fmt) != 0)
            fprintf(errf, ".mode: use table, csv, json or pipe\n");
    } else if (strcmp(cmd, ".tables") == 0 || strcmp(cmd, ".schema") == 0) {
        int tables = cmd[1] == 't';
        sqlite3_stmt *st = NULL;
        /* attached schemas too: Iceberg namespaces list as ns.table */
        const char *q = tables ? "SELECT CASE WHEN schema = 'main' THEN name ELSE schema || '.' || name END "
                                 "FROM pragma_table_list WHERE type IN ('table','view','virtual') "
                                 "AND name NOT LIKE 'sqlite_%' AND schema <> 'temp' ORDER BY schema <> 'main', 1"
                               : "SELECT sql || ';' FROM sqlite_schema WHERE sql IS NOT NULL "
                                 "AND (?1 IS NULL OR tbl_name = ?1) ORDER BY tbl_name, type DESC, name";
        if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
            if (!tables && arg)
                sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
            while (sqlite3_step(st) == SQLITE_ROW)
                fprintf(out, "%s\n", (const char *)sqlite3_column_text(st, 0));
        } else {
            kiln_err_set(&err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
            fprintf(errf, "%s: %s\n", cmd, err.msg);
        }
        sqlite3_finalize(st);
    } else {
        fprintf(errf, "unknown command %s (try .help)\n", cmd);
    }
    return 0;
}

static void history_add(const char *path, const char *stmt, size_t n)
{
    if (!path)
        return;
    while (n > 0 && isspace((unsigned char)stmt[n - 1]))
        n--;
    FILE *h = fopen(path, "a");
    if (!h)
        return;
    for (size_t i = 0; i < n; i++)
        fputc(stmt[i] == '\n' || stmt[i] == '\r' ? ' ' : stmt[i], h);
    fputc('\n', h);
    fclose(h);
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Run one complete statement text; report an error with its line. */
static int shell_exec(sqlite3 *db, kiln_buf *stmt, long first_line, FILE *out, FILE *errf, kiln_sql_format fmt,
                      int explain, int interactive)
{
    kiln_err err = {0};
    kiln_sql_errpos pos = {0};
    pos.offset = -1;
    int rc = kiln_sql_exec(db, stmt->data, stmt->len, fmt, explain, out, &pos, &err);
    if (rc) {
        char msg[600];
        if (interactive) {
            snprintf(msg, sizeof msg, "%s", err.msg);
        } else {
            /* line of the failing position in the whole input */
            long line = first_line;
            const char *upto = pos.stmt ? pos.stmt + (pos.offset > 0 ? pos.offset : 0) : stmt->data;
            for (const char *p = stmt->data; p < upto; p++)
                line += *p == '\n';
            snprintf(msg, sizeof msg, "line %ld: %s", line, err.msg);
        }
        kiln_sql_error_print(errf, "kiln sql", msg, &pos);
    }
    return rc;
}

/* Ctrl-C in the interactive shell interrupts the running statement (or
 * drops the statement being typed) instead of ending kiln. */
static sqlite3 *volatile sigint_db;
static volatile sig_atomic_t got_sigint;
static void on_sigint(int sig)
{
    got_sigint = 1;
    if (sigint_db)
        sqlite3_interrupt(sigint_db);
}

int kiln_sql_shell_run(sqlite3 *db, FILE *in, FILE *out, FILE *errf, kiln_sql_format fmt, int explain,
                       int interactive, const char *history_path)
{
    int rc = 0, first_rc = 0;
    kiln_buf stmt;
    kiln_buf_init(&stmt, STMT_CAP);
    char *line = NULL;
    size_t linecap = 0;
    long lineno = 0, first_line = 1;
    kiln_err err = {0};
    struct sigaction sa, old_sa;
    if (interactive) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C ends a pending read */
        sigemptyset(&sa.sa_mask);
        sigint_db = db;
        got_sigint = 0;
        sigaction(SIGINT, &sa, &old_sa);
    }
    if (interactive)
        fprintf(out, "kiln %s SQL shell (SQLite %s). Statements end with ';'. .help for help.\n", KILN_VERSION,
                sqlite3_libversion());
    /* Line editing and history recall (libedit) when typing at a terminal;
     * the history file keeps one statement a line, loaded at start. */
    int edit = interactive && in == stdin && isatty(fileno(stdin)) && out == stdout;
    if (edit) {
        rl_readline_name = "kiln";
        using_history();
        FILE *h = history_path ? fopen(history_path, "r") : NULL;
        if (h) {
            char *hl = NULL;
            size_t hcap = 0;
            ssize_t hn;
            while ((hn = getline(&hl, &hcap, h)) > 0) {
                if (hl[hn - 1] == '\n')
                    hl[hn - 1] = '\0';
                if (hl[0])
                    add_history(hl);
            }
            free(hl);
            fclose(h);
        }
    }
    for (;;) {
        const char *prompt = blank(stmt.data ? stmt.data : "", stmt.len) ? "kiln> " : "  ...> ";
        if (interactive && !edit) {
            fputs(prompt, out);
            fflush(out);
        }
        errno = 0;
        ssize_t got;
        if (edit) {
            char *el = readline(prompt);
            if (el) {
                size_t n = strlen(el);
                if (n + 2 > linecap) {
                    char *nl = realloc(line, n + 2);
                    if (!nl) {
                        free(el);
                        break;
                    }
                    line = nl;
                    linecap = n + 2;
                }
                memcpy(line, el, n);
                line[n] = '\n';
                line[n + 1] = '\0';
                got = (ssize_t)n + 1;
                free(el);
            } else {
                got = -1;
            }
        } else {
            got = getline(&line, &linecap, in);
        }
        if (got < 0 && interactive && (got_sigint || errno == EINTR)) {
            clearerr(in);
            got_sigint = 0;
            kiln_buf_reset(&stmt);
            fputc('\n', out);
            continue;
        }
        if (got < 0)
            break;
        lineno++;
        if (blank(stmt.data ? stmt.data : "", stmt.len)) {
            kiln_buf_reset(&stmt);
            first_line = lineno;
            const char *p = line;
            while (*p == ' ' || *p == '\t')
                p++;
            if (interactive && *p == '.') {
                if (shell_dot(db, line, out, errf, &fmt))
                    break;
                continue;
            }
        }
        if ((rc = kiln_buf_append(&stmt, line, (size_t)got, &err))) {
            fprintf(errf, "kiln sql: error: line %ld: statement longer than %zu MiB\n", lineno, STMT_CAP >> 20);
            first_rc = first_rc ? first_rc : rc;
            break;
        }
        if (!sqlite3_complete(stmt.data))
            continue;
        if (interactive)
            history_add(history_path, stmt.data, stmt.len);
        if (edit) {
            char *flat = kiln_strndup(stmt.data, stmt.len);
            if (flat) {
                size_t n = stmt.len;
                while (n > 0 && isspace((unsigned char)flat[n - 1]))
                    flat[--n] = '\0';
                for (size_t k = 0; k < n; k++)
                    if (flat[k] == '\n' || flat[k] == '\r')
                        flat[k] = ' ';
                add_history(flat);
                kiln_free(flat);
            }
        }
        rc = shell_exec(db, &stmt, first_line, out, errf, fmt, explain, interactive);
        got_sigint = 0;
        kiln_buf_reset(&stmt);
        if (rc && !first_rc)
            first_rc = rc;
        if (rc && !interactive)
            break;
    }
    /* input ended inside a statement: run what there is (SQLite reports
     * an incomplete statement as a syntax error) */
    if (!(first_rc && !interactive) && stmt.len && !blank(stmt.data, stmt.len)) {
        rc = shell_exec(db, &stmt, first_line, out, errf, fmt, explain, interactive);
        if (rc && !first_rc)
            first_rc = rc;
    }
    if (interactive) {
        fputc('\n', out);
        sigaction(SIGINT, &old_sa, NULL);
        sigint_db = NULL;
    }
    free(line);
    kiln_buf_free(&stmt);
    return interactive ? 0 : first_rc;
}
