/*
 * test_sink_text.c - the CSV sink's quoting, which is decided per batch by
 * one pass over each string column (sink_text.c csv_mark_quotes): values
 * with ',', '"', CR or LF at any position (first byte, last byte, across a
 * 16-byte boundary, in the last row), empty strings (quoted), nulls (empty
 * field) and empty values sharing an offset with a quoted neighbour, over
 * several batches; checked against a per-value reference formatter.
 */
#include "harness/harness.h"
#include "engine/engine.h"

#include <stdlib.h>

static const kiln_column_def cols[3] = {
    {"id", KILN_T_INT64, 1, 1, 0, 0},
    {"a", KILN_T_STRING, 0, 2, 0, 0},
    {"b", KILN_T_STRING, 0, 3, 0, 0},
};
static const kiln_schema schema = {3, cols};

/* Reference: one CSV field (RFC 4180 quoting when needed, "" for empty). */
static void ref_field(kiln_buf *o, const char *s, kiln_err *err)
{
    size_t n = strlen(s);
    int q = n == 0 || strpbrk(s, ",\"\r\n") != NULL;
    if (!q) {
        kiln_buf_append(o, s, n, err);
        return;
    }
    kiln_buf_putc(o, '"', err);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            kiln_buf_putc(o, '"', err);
        kiln_buf_putc(o, s[i], err);
    }
    kiln_buf_putc(o, '"', err);
}

TEST(sink_text, csv_quoting_per_batch_matches_per_value)
{
    kiln_err err = {0};
    /* NULL = null value */
    const char *vals[] = {
        "plain", ",first", "last,", "", "x", NULL, "0123456789abcde,", "0123456789abcdef,", "0123456789abcdef",
        "quote\"inside", "", "", "cr\rlf", "lf\nx", NULL, "", "long value without specials ................",
        "long value with a comma at byte 40 .....,", "a\"", "\"", ",", "", NULL, "tail,",
    };
    size_t nv = sizeof vals / sizeof vals[0];
    char path[4096];
    snprintf(path, sizeof path, "%s/t.csv", kt_tmpdir());
    kiln_sink *s = NULL;
    kiln_batch *b = NULL;
    CHECK_OK(kiln_sink_csv_open(&s, path, &schema, &err), &err);
    CHECK_OK(kiln_batch_new(&b, &schema, 7, 0, &err), &err); /* 7 rows: several batches, a partial last one */
    kiln_buf ref;
    kiln_buf_init(&ref, 1 << 20);
    kiln_buf_append(&ref, "id,a,b\n", 7, &err);
    for (size_t r = 0; r < nv * 2; r++) {
        const char *a = vals[r % nv], *bv = vals[(r * 7 + 3) % nv];
        CHECK_OK(kiln_batch_put_i64(b, 0, (int64_t)r, &err), &err);
        CHECK_OK(a ? kiln_batch_put_str(b, 1, a, strlen(a), &err) : kiln_batch_put_null(b, 1, &err), &err);
        CHECK_OK(bv ? kiln_batch_put_str(b, 2, bv, strlen(bv), &err) : kiln_batch_put_null(b, 2, &err), &err);
        CHECK_OK(kiln_batch_end_row(b, &err), &err);
        kiln_buf_printf(&ref, &err, "%zu,", r);
        if (a)
            ref_field(&ref, a, &err);
        kiln_buf_putc(&ref, ',', &err);
        if (bv)
            ref_field(&ref, bv, &err);
        kiln_buf_putc(&ref, '\n', &err);
        if (kiln_batch_full(b)) {
            CHECK_OK(kiln_sink_write(s, b, &err), &err);
            kiln_batch_clear(b);
        }
    }
    if (b->nrows)
        CHECK_OK(kiln_sink_write(s, b, &err), &err);
    CHECK_OK(kiln_sink_commit(s, &err), &err);
    char *got = NULL;
    size_t len = 0;
    CHECK_OK(kiln_file_read(path, 1 << 20, &got, &len, &err), &err);
    CHECK_EQ_INT(len, ref.len);
    CHECK_STR(got, ref.data);
    kiln_free(got);
    kiln_buf_free(&ref);
    kiln_batch_free(b);
    kiln_sink_free(s);
}
