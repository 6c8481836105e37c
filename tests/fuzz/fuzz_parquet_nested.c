/*
 * fuzz_parquet_nested.c - fuzz target for kiln's nested Parquet WRITER and
 * the reader's record assembly together: each input line is the JSON value
 * of one row of a column shaped
 *   list<struct<a: int, b: list<string not null>, m: map<string, double>,
 *               s: struct<x: boolean, y: decimal(20,2)>>>
 * written with tiny pages and row groups (so pages and row groups are cut
 * inside long lists, where they must end at a row) and read back. A value
 * the writer refuses is fine; a file it writes must read back, and writing
 * what was read back must read back byte for byte the same (the JSON the
 * reader prints is a fixed point). Anything else aborts.
 */
#include "harness/harness.h"
#include "format/parquet/parquet.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int kiln_fuzz_parquet_nested(const uint8_t *d, size_t n);

static const kiln_nested fz_b_el = {KILN_NEST_PRIM, "element", 6, 1, KILN_T_STRING, 0, 0, 0, NULL, NULL};
static const kiln_nested fz_m_kv[2] = {{KILN_NEST_PRIM, "key", 8, 1, KILN_T_STRING, 0, 0, 0, NULL, NULL},
                                       {KILN_NEST_PRIM, "value", 9, 0, KILN_T_DOUBLE, 0, 0, 0, NULL, NULL}};
static const kiln_nested fz_s_f[2] = {{KILN_NEST_PRIM, "x", 11, 0, KILN_T_BOOL, 0, 0, 0, NULL, NULL},
                                      {KILN_NEST_PRIM, "y", 12, 0, KILN_T_DECIMAL_WIDE, 20, 2, 0, NULL, NULL}};
static const kiln_nested fz_el_f[4] = {{KILN_NEST_PRIM, "a", 4, 0, KILN_T_INT32, 0, 0, 0, NULL, NULL},
                                       {KILN_NEST_LIST, "b", 5, 0, KILN_T_JSON, 0, 0, 1, &fz_b_el, NULL},
                                       {KILN_NEST_MAP, "m", 7, 0, KILN_T_JSON, 0, 0, 2, fz_m_kv, NULL},
                                       {KILN_NEST_STRUCT, "s", 10, 0, KILN_T_JSON, 0, 0, 2, fz_s_f, NULL}};
static const kiln_nested fz_el = {KILN_NEST_STRUCT, "element", 3, 0, KILN_T_JSON, 0, 0, 4, fz_el_f, NULL};
static const kiln_nested fz_v = {KILN_NEST_LIST, "v", 2, 0, KILN_T_JSON, 0, 0, 1, &fz_el, NULL};
static const kiln_column_def fz_cols[2] = {{"id", KILN_T_INT64, 1, 1, 0, 0}, {"v", KILN_T_JSON, 0, 2, 0, 0}};
static const kiln_schema fz_schema = {2, fz_cols};

/* Write rows (JSON texts; NULL = null) and read column v back as JSON text
 * lines into out. 0, or -1 when the writer refused the input. */
static int fz_roundtrip(char **rows, size_t nrows, kiln_buf *out)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/kiln-fz-nested-%d.parquet", (int)getpid());
    const kiln_nested *shapes[2] = {NULL, &fz_v};
    kiln_parquet_write_opts o;
    kiln_parquet_write_opts_init(&o);
    o.codec = KILN_PQ_UNCOMPRESSED;
    o.page_bytes = 48;
    o.row_group_rows = 5;
    o.nested = shapes;
    o.nnested = 2;
    kiln_err err = {0};
    kiln_batch *b = NULL;
    kiln_parquet_writer *w = NULL;
    int rc = kiln_batch_new(&b, &fz_schema, nrows ? nrows : 1, 0, &err);
    for (size_t i = 0; !rc && i < nrows; i++) {
        rc = kiln_batch_put_i64(b, 0, (int64_t)i, &err);
        if (!rc)
            rc = rows[i] ? kiln_batch_put_str(b, 1, rows[i], strlen(rows[i]), &err) : kiln_batch_put_null(b, 1, &err);
        if (!rc)
            rc = kiln_batch_end_row(b, &err);
    }
    if (rc)
        abort();
    rc = kiln_parquet_writer_open(&w, path, &fz_schema, &o, &err);
    if (rc)
        abort();
    rc = kiln_parquet_writer_write(w, b, &err);
    if (!rc)
        rc = kiln_parquet_writer_close(w, NULL, &err);
    kiln_parquet_writer_free(w);
    kiln_batch_free(b);
    if (rc) {
        unlink(path);
        return -1;
    }
    kiln_parquet_reader *r = NULL;
    if (kiln_parquet_reader_open(&r, path, NULL, &err))
        abort();
    const kiln_batch *rb;
    size_t got = 0;
    while ((rc = kiln_parquet_reader_next(r, &rb, &err)) == 1) {
        for (size_t i = 0; i < rb->nrows; i++, got++) {
            if (rb->cols[0].v.i64[i] != (int64_t)got)
                abort();
            if (kiln_batch_is_null(rb, 1, i)) {
                kiln_buf_append(out, "null\n", 5, &err);
            } else {
                size_t len;
                const char *s = kiln_batch_str(rb, 1, i, &len);
                kiln_buf_append(out, s, len, &err);
                kiln_buf_putc(out, '\n', &err);
            }
        }
    }
    if (rc < 0 || got != nrows) {
        fprintf(stderr, "fuzz_parquet_nested: read back %zu of %zu rows: %s\n", got, nrows, err.msg);
        abort();
    }
    kiln_parquet_reader_free(r);
    unlink(path);
    return 0;
}

/* Split text into lines ("null" and "" lines are null values). */
static size_t fz_lines(char *text, char **rows, size_t max)
{
    size_t n = 0;
    char *p = text;
    while (*p && n < max) {
        char *e = strchr(p, '\n');
        if (e)
            *e = 0;
        rows[n++] = (!strcmp(p, "null") || !*p) ? NULL : p;
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

int kiln_fuzz_parquet_nested(const uint8_t *d, size_t n)
{
    if (n > 16384)
        return 0;
    char *text = malloc(n + 1);
    char *rows[256], *rows2[256];
    if (!text)
        return 0;
    memcpy(text, d, n);
    text[n] = 0;
    if (strlen(text) != n) { /* NUL bytes: not JSON text */
        free(text);
        return 0;
    }
    size_t nrows = fz_lines(text, rows, 256);
    kiln_buf a, b;
    kiln_buf_init(&a, 0);
    kiln_buf_init(&b, 0);
    if (nrows && fz_roundtrip(rows, nrows, &a) == 0) {
        char *copy = malloc(a.len + 1);
        if (!copy)
            abort();
        memcpy(copy, a.data ? a.data : "", a.len);
        copy[a.len] = 0;
        size_t n2 = fz_lines(copy, rows2, 256);
        if (n2 != nrows || fz_roundtrip(rows2, n2, &b) != 0 || a.len != b.len || memcmp(a.data, b.data, a.len)) {
            fprintf(stderr, "fuzz_parquet_nested: not a fixed point:\n%.*s\n---\n%.*s\n", (int)a.len, a.data,
                    (int)b.len, b.data ? b.data : "");
            abort();
        }
        free(copy);
    }
    kiln_buf_free(&a);
    kiln_buf_free(&b);
    free(text);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_parquet_nested(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(parquet_nested, kiln_fuzz_parquet_nested)
