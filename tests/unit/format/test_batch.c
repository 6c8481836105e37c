/* Unit tests for columnar batches. */
#include "harness/harness.h"
#include "format/batch.h"

static const kiln_column_def cols[] = {
    {"id", KILN_T_INT64, 1, 1, 0, 0},
    {"name", KILN_T_STRING, 0, 2, 0, 0},
    {"ok", KILN_T_BOOL, 0, 3, 0, 0},
};
static const kiln_schema schema = {3, cols};

TEST(batch, build_and_read)
{
    kiln_batch *b;
    kiln_err err = {0};
    CHECK_OK(kiln_batch_new(&b, &schema, 4, 0, &err), &err);
    CHECK_EQ_INT(kiln_schema_find(&schema, "name"), 1);
    CHECK_EQ_INT(kiln_schema_find(&schema, "zzz"), -1);
    for (int r = 0; r < 4; r++) {
        CHECK_OK(kiln_batch_put_i64(b, 0, 100 + r, &err), &err);
        if (r == 2)
            CHECK_OK(kiln_batch_put_null(b, 1, &err), &err);
        else
            CHECK_OK(kiln_batch_put_str(b, 1, "héllo", r == 3 ? 0 : 6, &err), &err);
        CHECK_OK(kiln_batch_put_bool(b, 2, r & 1, &err), &err);
        CHECK_OK(kiln_batch_end_row(b, &err), &err);
    }
    CHECK(kiln_batch_full(b));
    CHECK_EQ_INT(b->cols[0].v.i64[3], 103);
    size_t n;
    const char *s = kiln_batch_str(b, 1, 1, &n);
    CHECK_EQ_INT(n, 6);
    CHECK(memcmp(s, "héllo", 6) == 0);
    CHECK(kiln_batch_is_null(b, 1, 2));
    CHECK(!kiln_batch_is_null(b, 1, 1));
    kiln_batch_str(b, 1, 2, &n);
    CHECK_EQ_INT(n, 0);
    kiln_batch_str(b, 1, 3, &n);
    CHECK_EQ_INT(n, 0);
    /* a full batch refuses more rows */
    CHECK_EQ_INT(kiln_batch_put_i64(b, 0, 1, &err), KILN_EINTERNAL);
    kiln_batch_clear(b);
    CHECK_EQ_INT(b->nrows, 0);
    CHECK(!kiln_batch_is_null(b, 1, 2));
    kiln_batch_free(b);
}

TEST(batch, required_and_incomplete_rows)
{
    kiln_batch *b;
    kiln_err err = {0};
    CHECK_OK(kiln_batch_new(&b, &schema, 2, 0, &err), &err);
    CHECK_EQ_INT(kiln_batch_put_null(b, 0, &err), KILN_EFORMAT);
    CHECK_OK(kiln_batch_put_i64(b, 0, 1, &err), &err);
    CHECK_EQ_INT(kiln_batch_end_row(b, &err), KILN_EINTERNAL);
    kiln_batch_free(b);
}

TEST(batch, string_cap)
{
    kiln_batch *b;
    kiln_err err = {0};
    CHECK_OK(kiln_batch_new(&b, &schema, 8, 10, &err), &err);
    CHECK_OK(kiln_batch_put_i64(b, 0, 1, &err), &err);
    CHECK_EQ_INT(kiln_batch_put_str(b, 1, "0123456789abc", 13, &err), KILN_ELIMIT);
    kiln_batch_free(b);
}
