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

/* kiln_batch_append equals appending the same rows one value at a time. */
TEST(batch, append_rows)
{
    static const kiln_column_def ocols[] = {
        {"id", KILN_T_INT64, 0, 1, 0, 0},
        {"name", KILN_T_STRING, 0, 2, 0, 0},
        {"ok", KILN_T_BOOL, 0, 3, 0, 0},
    };
    static const kiln_schema optional = {3, ocols};
    kiln_batch *src, *dst, *ref;
    kiln_err err = {0};
    CHECK_OK(kiln_batch_new(&src, &optional, 6, 0, &err), &err);
    CHECK_OK(kiln_batch_new(&dst, &schema, 8, 0, &err), &err);
    CHECK_OK(kiln_batch_new(&ref, &schema, 8, 0, &err), &err);
    const char *names[6] = {"a", NULL, "", "dddd", "héllo", NULL};
    for (int r = 0; r < 6; r++) {
        if (r == 5)
            CHECK_OK(kiln_batch_put_null(src, 0, &err), &err);
        else
            CHECK_OK(kiln_batch_put_i64(src, 0, 10 + r, &err), &err);
        if (names[r])
            CHECK_OK(kiln_batch_put_str(src, 1, names[r], strlen(names[r]), &err), &err);
        else
            CHECK_OK(kiln_batch_put_null(src, 1, &err), &err);
        CHECK_OK(kiln_batch_put_bool(src, 2, r & 1, &err), &err);
        CHECK_OK(kiln_batch_end_row(src, &err), &err);
    }
    /* a row already in dst, then rows 1..4 of src (the required id has no null there) */
    CHECK_OK(kiln_batch_put_i64(dst, 0, 7, &err), &err);
    CHECK_OK(kiln_batch_put_str(dst, 1, "zz", 2, &err), &err);
    CHECK_OK(kiln_batch_put_bool(dst, 2, 1, &err), &err);
    CHECK_OK(kiln_batch_end_row(dst, &err), &err);
    CHECK_OK(kiln_batch_append(dst, src, 1, 4, &err), &err);
    CHECK_EQ_INT(dst->nrows, 5);
    CHECK_OK(kiln_batch_put_i64(ref, 0, 7, &err), &err);
    CHECK_OK(kiln_batch_put_str(ref, 1, "zz", 2, &err), &err);
    CHECK_OK(kiln_batch_put_bool(ref, 2, 1, &err), &err);
    CHECK_OK(kiln_batch_end_row(ref, &err), &err);
    for (int r = 1; r <= 4; r++) {
        CHECK_OK(kiln_batch_put_i64(ref, 0, 10 + r, &err), &err);
        if (names[r])
            CHECK_OK(kiln_batch_put_str(ref, 1, names[r], strlen(names[r]), &err), &err);
        else
            CHECK_OK(kiln_batch_put_null(ref, 1, &err), &err);
        CHECK_OK(kiln_batch_put_bool(ref, 2, r & 1, &err), &err);
        CHECK_OK(kiln_batch_end_row(ref, &err), &err);
    }
    for (size_t r = 0; r < 5; r++) {
        CHECK_EQ_INT(dst->cols[0].v.i64[r], ref->cols[0].v.i64[r]);
        CHECK_EQ_INT(dst->cols[2].v.b[r], ref->cols[2].v.b[r]);
        CHECK_EQ_INT(kiln_batch_is_null(dst, 1, r), kiln_batch_is_null(ref, 1, r));
        size_t n1, n2;
        const char *s1 = kiln_batch_str(dst, 1, r, &n1), *s2 = kiln_batch_str(ref, 1, r, &n2);
        CHECK_EQ_INT(n1, n2);
        CHECK(memcmp(s1, s2, n1) == 0);
    }
    CHECK_EQ_INT(dst->cols[1].data.len, ref->cols[1].data.len);
    /* a null into a required column: refused, dst unchanged */
    CHECK_EQ_INT(kiln_batch_append(dst, src, 4, 2, &err), KILN_EFORMAT);
    CHECK_EQ_INT(dst->nrows, 5);
    /* more rows than dst has room for; another schema */
    CHECK_EQ_INT(kiln_batch_append(dst, src, 0, 4, &err), KILN_ELIMIT);
    static const kiln_column_def xcols[] = {
        {"id", KILN_T_INT32, 0, 1, 0, 0}, {"name", KILN_T_STRING, 0, 2, 0, 0}, {"ok", KILN_T_BOOL, 0, 3, 0, 0}};
    static const kiln_schema other = {3, xcols};
    kiln_batch *x;
    CHECK_OK(kiln_batch_new(&x, &other, 8, 0, &err), &err);
    CHECK_EQ_INT(kiln_batch_append(x, src, 0, 1, &err), KILN_EINVAL);
    /* rows go on after an append */
    CHECK_OK(kiln_batch_put_i64(dst, 0, 99, &err), &err);
    CHECK_OK(kiln_batch_put_str(dst, 1, "end", 3, &err), &err);
    CHECK_OK(kiln_batch_put_bool(dst, 2, 0, &err), &err);
    CHECK_OK(kiln_batch_end_row(dst, &err), &err);
    size_t n;
    CHECK(memcmp(kiln_batch_str(dst, 1, 5, &n), "end", 3) == 0 && n == 3);
    kiln_batch_free(x);
    kiln_batch_free(src);
    kiln_batch_free(dst);
    kiln_batch_free(ref);
}
