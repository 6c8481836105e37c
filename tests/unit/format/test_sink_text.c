/*
 * test_sink_text.c - the CSV sink's quoting, which is decided per batch by
 * one pass over each string column (sink_text.c csv_mark_quotes): values
 * with ',', '"', CR or LF at any position (first byte, last byte, across a
 * 16-byte boundary, in the last row), empty strings (quoted), nulls (empty
 * field) and empty values sharing an offset with a quoted neighbour, over
 * several batches; checked against the one per-value writer,
 * kiln_csv_write_field (text.h).
 */
#include "harness/harness.h"
#include "format/text/text.h"

#include <stdlib.h>
#include <string.h>

static const kiln_column_def cols[3] = {
    {"id", KILN_T_INT64, 1, 1, 0, 0},
    {"a", KILN_T_STRING, 0, 2, 0, 0},
    {"b", KILN_T_STRING, 0, 3, 0, 0},
};
static const kiln_schema schema = {3, cols};

TEST(sink_text, csv_quoting_per_batch_matches_per_value)
{
    kiln_err err = {0};
    /* NULL = null value */
    const char *vals[] = {
        "plain",
        ",first",
        "last,",
        "",
        "x",
        NULL,
        "0123456789abcde,",
        "0123456789abcdef,",
        "0123456789abcdef",
        "quote\"inside",
        "",
        "",
        "cr\rlf",
        "lf\nx",
        NULL,
        "",
        "long value without specials ................",
        "long value with a comma at byte 40 .....,",
        "a\"",
        "\"",
        ",",
        "",
        NULL,
        "tail,",
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
            kiln_csv_write_field(&ref, a, strlen(a), &err);
        kiln_buf_putc(&ref, ',', &err);
        if (bv)
            kiln_csv_write_field(&ref, bv, strlen(bv), &err);
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

/* The writer itself, against RFC 4180 by hand. */
TEST(csv, write_field_rfc4180)
{
    kiln_err err = {0};
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},   {"", "\"\""},
        {"a,b", "\"a,b\""},   {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"\"", "\"\"\"\""},   {"line\nbreak", "\"line\nbreak\""},
        {"cr\r", "\"cr\r\""}, {"tab\tok", "tab\tok"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kiln_buf b;
        kiln_buf_init(&b, 0);
        CHECK_OK(kiln_csv_write_field(&b, cases[i].in, strlen(cases[i].in), &err), &err);
        CHECK_STR(b.data, cases[i].out);
        kiln_buf_free(&b);
    }
}
