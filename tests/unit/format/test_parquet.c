/*
 * test_parquet.c - kiln's Parquet writer and reader against each other:
 * every type, null patterns, empty/one-row/wide/tall files, long strings,
 * dictionary fallback, every codec, statistics, projection, row-group
 * pruning, the Iceberg stats struct, and bad input.
 */
#include "harness/harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/parquet/parquet.h"
#include "format/parquet/parquet_int.h"

enum { NULLS_NONE, NULLS_ALL, NULLS_ALT, NULLS_SOME };

static const kiln_column_def all_cols[] = {
    {"b", KILN_T_BOOL, 0, 1, 0, 0},           {"i32", KILN_T_INT32, 0, 2, 0, 0},
    {"i64", KILN_T_INT64, 0, 3, 0, 0},        {"f32", KILN_T_FLOAT, 0, 4, 0, 0},
    {"f64", KILN_T_DOUBLE, 0, 5, 0, 0},       {"s", KILN_T_STRING, 0, 6, 0, 0},
    {"bin", KILN_T_BINARY, 0, 7, 0, 0},       {"d", KILN_T_DATE, 0, 8, 0, 0},
    {"tstz", KILN_T_TIMESTAMPTZ, 0, 9, 0, 0}, {"ts", KILN_T_TIMESTAMP, 0, 10, 0, 0},
    {"dec", KILN_T_DECIMAL, 0, 11, 15, 2},    {"req", KILN_T_INT64, 1, 12, 0, 0},
};
static const kiln_schema all_schema = {12, all_cols};

static int is_null_row(int pattern, size_t row)
{
    switch (pattern) {
    case NULLS_ALL: return 1;
    case NULLS_ALT: return row % 2 == 1;
    case NULLS_SOME: return row % 7 == 3;
    default: return 0;
    }
}

/* Deterministic value of column c at row (seeded so dictionaries repeat). */
static int fill_row(kiln_batch *b, const kiln_schema *s, size_t row, int pattern, int distinct, kiln_err *err)
{
    for (int c = 0; c < s->ncols; c++) {
        const kiln_column_def *d = &s->cols[c];
        int rc;
        if (!d->required && is_null_row(pattern, row)) {
            rc = kiln_batch_put_null(b, c, err);
        } else {
            size_t k = distinct ? row : row % 50;
            char buf[64];
            switch (d->type) {
            case KILN_T_BOOL: rc = kiln_batch_put_bool(b, c, (int)(k % 3 == 0), err); break;
            case KILN_T_INT32: rc = kiln_batch_put_i32(b, c, (int32_t)(k * 7919) - 100000, err); break;
            case KILN_T_INT64: rc = kiln_batch_put_i64(b, c, (int64_t)k * 1000000007LL - 5, err); break;
            case KILN_T_FLOAT: rc = kiln_batch_put_f32(b, c, (float)k * 0.5f - 3.0f, err); break;
            case KILN_T_DOUBLE: rc = kiln_batch_put_f64(b, c, (double)k * 1.25 - 7.0, err); break;
            case KILN_T_STRING: {
                int n = snprintf(buf, sizeof buf, "val-%zu-\xc3\xa9", k);
                rc = kiln_batch_put_str(b, c, buf, (size_t)n, err);
                break;
            }
            case KILN_T_BINARY: {
                uint8_t raw[5] = {0, (uint8_t)k, 0xff, (uint8_t)(k >> 8), 7};
                rc = kiln_batch_put_str(b, c, (const char *)raw, 1 + k % 5, err);
                break;
            }
            case KILN_T_DATE: rc = kiln_batch_put_i32(b, c, (int32_t)k - 30, err); break;
            case KILN_T_TIMESTAMPTZ:
            case KILN_T_TIMESTAMP: rc = kiln_batch_put_i64(b, c, 1700000000000000LL + (int64_t)k * 1000001, err); break;
            case KILN_T_DECIMAL: rc = kiln_batch_put_i64(b, c, (int64_t)k * 12345 - 99999, err); break;
            default: rc = KILN_EINTERNAL;
            }
        }
        if (rc)
            return rc;
    }
    return kiln_batch_end_row(b, err);
}

static int write_file(const char *path, const kiln_schema *s, size_t nrows, int pattern, int distinct,
                      const kiln_parquet_write_opts *o, kiln_parquet_file_stats *st, kiln_err *err)
{
    kiln_parquet_writer *w = NULL;
    kiln_batch *b = NULL;
    int rc = kiln_parquet_writer_open(&w, path, s, o, err);
    if (rc)
        return rc;
    rc = kiln_batch_new(&b, s, 4096, 0, err);
    for (size_t row = 0; !rc && row < nrows; row++) {
        rc = fill_row(b, s, row, pattern, distinct, err);
        if (!rc && kiln_batch_full(b)) {
            rc = kiln_parquet_writer_write(w, b, err);
            kiln_batch_clear(b);
        }
    }
    if (!rc && b->nrows)
        rc = kiln_parquet_writer_write(w, b, err);
    if (!rc)
        rc = kiln_parquet_writer_close(w, st, err);
    kiln_batch_free(b);
    kiln_parquet_writer_free(w);
    return rc;
}

/* Read back and compare every value with what fill_row produced. */
static int verify_file(const char *path, const kiln_schema *s, size_t nrows, int pattern, int distinct, char *why,
                       size_t whyn)
{
    kiln_err err = {0};
    kiln_parquet_reader *r = NULL;
    kiln_batch *exp = NULL;
    int rc = kiln_parquet_reader_open(&r, path, NULL, &err);
    if (rc) {
        snprintf(why, whyn, "open: %s", err.msg);
        return -1;
    }
    int bad = 0;
    size_t row = 0;
    const kiln_batch *b;
    kiln_batch_new(&exp, s, 1, 0, &err);
    if (kiln_parquet_reader_ncolumns(r) != s->ncols) {
        snprintf(why, whyn, "ncols %d", kiln_parquet_reader_ncolumns(r));
        bad = 1;
    }
    for (int c = 0; !bad && c < s->ncols; c++) {
        const kiln_parquet_column *pc = kiln_parquet_reader_column(r, c);
        if (strcmp(pc->name, s->cols[c].name) || pc->type != s->cols[c].type || pc->field_id != s->cols[c].field_id ||
            pc->optional == s->cols[c].required) {
            snprintf(why, whyn, "column %d schema differs (%s %d %d)", c, pc->name, pc->type, pc->field_id);
            bad = 1;
        }
    }
    while (!bad && (rc = kiln_parquet_reader_next(r, &b, &err)) == 1) {
        for (size_t i = 0; i < b->nrows && !bad; i++, row++) {
            kiln_batch_clear(exp);
            fill_row(exp, s, row, pattern, distinct, &err);
            for (int c = 0; c < s->ncols && !bad; c++) {
                int en = kiln_batch_is_null(exp, c, 0), gn = kiln_batch_is_null(b, c, i);
                if (en != gn) {
                    snprintf(why, whyn, "row %zu col %s: null %d vs %d", row, s->cols[c].name, gn, en);
                    bad = 1;
                    break;
                }
                if (en)
                    continue;
                const kiln_col *ec = &exp->cols[c], *gc = &b->cols[c];
                int same = 1;
                switch (s->cols[c].type) {
                case KILN_T_BOOL: same = ec->v.b[0] == gc->v.b[i]; break;
                case KILN_T_INT32:
                case KILN_T_DATE: same = ec->v.i32[0] == gc->v.i32[i]; break;
                case KILN_T_FLOAT: same = ec->v.f32[0] == gc->v.f32[i]; break;
                case KILN_T_DOUBLE: same = ec->v.f64[0] == gc->v.f64[i]; break;
                case KILN_T_STRING:
                case KILN_T_BINARY: {
                    size_t n1, n2;
                    const char *a = kiln_batch_str(exp, c, 0, &n1), *g = kiln_batch_str(b, c, i, &n2);
                    same = n1 == n2 && memcmp(a, g, n1) == 0;
                    break;
                }
                default: same = ec->v.i64[0] == gc->v.i64[i];
                }
                if (!same) {
                    snprintf(why, whyn, "row %zu col %s differs", row, s->cols[c].name);
                    bad = 1;
                }
            }
        }
    }
    if (!bad && rc < 0) {
        snprintf(why, whyn, "next: %s", err.msg);
        bad = 1;
    }
    if (!bad && row != nrows) {
        snprintf(why, whyn, "read %zu rows, wrote %zu", row, nrows);
        bad = 1;
    }
    if (!bad && kiln_parquet_reader_num_rows(r) != (int64_t)nrows) {
        snprintf(why, whyn, "footer num_rows %lld", (long long)kiln_parquet_reader_num_rows(r));
        bad = 1;
    }
    kiln_batch_free(exp);
    kiln_parquet_reader_free(r);
    return bad ? -1 : 0;
}

static void roundtrip(int codec, size_t nrows, int pattern, int distinct, int no_dict) {}

TEST(parquet, roundtrip_every_type_and_null_pattern)
{
    char path[512], why[256] = "";
    kiln_err err = {0};
    int patterns[] = {NULLS_NONE, NULLS_ALL, NULLS_ALT, NULLS_SOME};
    for (int p = 0; p < 4; p++)
        for (int dict = 0; dict < 2; dict++) {
            snprintf(path, sizeof path, "%s/t%d%d.parquet", kt_tmpdir(), p, dict);
            kiln_parquet_write_opts o;
            kiln_parquet_write_opts_init(&o);
            o.no_dictionary = dict;
            CHECK_OK(write_file(path, &all_schema, 5000, patterns[p], dict, &o, NULL, &err), &err);
            CHECK_MSG(verify_file(path, &all_schema, 5000, patterns[p], dict, why, sizeof why) == 0,
                      "pattern %d dict %d: %s", p, dict, why);
        }
    (void)roundtrip;
}

TEST(parquet, every_codec)
{
    int codecs[] = {KILN_PQ_UNCOMPRESSED, KILN_PQ_SNAPPY, KILN_PQ_GZIP, KILN_PQ_ZSTD};
    char path[512], why[256] = "";
    kiln_err err = {0};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/c%d.parquet", kt_tmpdir(), i);
        kiln_parquet_write_opts o;
        kiln_parquet_write_opts_init(&o);
        o.codec = codecs[i];
        CHECK_OK(write_file(path, &all_schema, 3000, NULLS_SOME, 1, &o, NULL, &err), &err);
        CHECK_MSG(verify_file(path, &all_schema, 3000, NULLS_SOME, 1, why, sizeof why) == 0, "codec %d: %s", codecs[i],
                  why);
        kiln_parquet_reader *r = NULL;
        CHECK_OK(kiln_parquet_reader_open(&r, path, NULL, &err), &err);
        kiln_parquet_chunk_info ci;
        CHECK_OK(kiln_parquet_reader_chunk(r, 0, 2, &ci), &err);
        CHECK_EQ_INT(ci.codec, codecs[i]);
        kiln_parquet_reader_free(r);
    }
}

TEST(parquet, empty_and_one_row)
{
    char path[512], why[256] = "";
    kiln_err err = {0};
    kiln_parquet_file_stats st;
    snprintf(path, sizeof path, "%s/empty.parquet", kt_tmpdir());
    CHECK_OK(write_file(path, &all_schema, 0, NULLS_NONE, 0, NULL, &st, &err), &err);
    CHECK_EQ_INT(st.record_count, 0);
    CHECK_EQ_INT(st.nsplits, 0);
    CHECK(!st.cols[0].has_lower);
    kiln_parquet_file_stats_free(&st);
    CHECK_MSG(verify_file(path, &all_schema, 0, NULLS_NONE, 0, why, sizeof why) == 0, "%s", why);
    snprintf(path, sizeof path, "%s/one.parquet", kt_tmpdir());
    CHECK_OK(write_file(path, &all_schema, 1, NULLS_NONE, 0, NULL, &st, &err), &err);
    CHECK_EQ_INT(st.record_count, 1);
    CHECK_EQ_INT(st.nsplits, 1);
    CHECK_EQ_INT(st.split_offsets[0], 4);
    kiln_parquet_file_stats_free(&st);
    CHECK_MSG(verify_file(path, &all_schema, 1, NULLS_NONE, 0, why, sizeof why) == 0, "%s", why);
}

TEST(parquet, wide_file)
{
    enum { N = 150 };
    static kiln_column_def cols[N];
    static char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "c%03d", i);
        cols[i] = all_cols[i % 11];
        cols[i].name = names[i];
        cols[i].field_id = i + 1;
    }
    kiln_schema s = {N, cols};
    char path[512], why[256] = "";
    kiln_err err = {0};
    snprintf(path, sizeof path, "%s/wide.parquet", kt_tmpdir());
    CHECK_OK(write_file(path, &s, 300, NULLS_SOME, 0, NULL, NULL, &err), &err);
    CHECK_MSG(verify_file(path, &s, 300, NULLS_SOME, 0, why, sizeof why) == 0, "%s", why);
    /* project by field id: columns 150 and 7 */
    kiln_parquet_reader *r = NULL;
    CHECK_OK(kiln_parquet_reader_open(&r, path, NULL, &err), &err);
    int ids[2] = {150, 7};
    CHECK_OK(kiln_parquet_reader_project_ids(r, ids, 2, &err), &err);
    const kiln_batch *b;
    CHECK_EQ_INT(kiln_parquet_reader_next(r, &b, &err), 1);
    CHECK_EQ_INT(b->schema->ncols, 2);
    CHECK_STR(b->schema->cols[0].name, "c149");
    CHECK_EQ_INT(b->nrows, 300);
    kiln_parquet_reader_free(r);
}

TEST(parquet, tall_file_row_groups_and_pruning)
{
    static const kiln_column_def cols[] = {
        {"id", KILN_T_INT64, 1, 1, 0, 0},
        {"name", KILN_T_STRING, 0, 2, 0, 0},
    };
    kiln_schema s = {2, cols};
    char path[512];
    kiln_err err = {0};
    snprintf(path, sizeof path, "%s/tall.parquet", kt_tmpdir());
    kiln_parquet_write_opts o;
    kiln_parquet_write_opts_init(&o);
    o.row_group_rows = 300000;
    kiln_parquet_writer *w = NULL;
    kiln_batch *b = NULL;
    CHECK_OK(kiln_parquet_writer_open(&w, path, &s, &o, &err), &err);
    CHECK_OK(kiln_batch_new(&b, &s, 65536, 0, &err), &err);
    size_t total = 1200001;
    for (size_t row = 0; row < total; row++) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "n%zu", row % 1000);
        kiln_batch_put_i64(b, 0, (int64_t)row, &err);
        if (row % 10 == 0)
            kiln_batch_put_null(b, 1, &err);
        else
            kiln_batch_put_str(b, 1, buf, (size_t)n, &err);
        CHECK_OK(kiln_batch_end_row(b, &err), &err);
        if (kiln_batch_full(b)) {
            CHECK_OK(kiln_parquet_writer_write(w, b, &err), &err);
            kiln_batch_clear(b);
        }
    }
    CHECK_OK(kiln_parquet_writer_write(w, b, &err), &err);
    kiln_parquet_file_stats st;
    CHECK_OK(kiln_parquet_writer_close(w, &st, &err), &err);
    kiln_parquet_writer_free(w);
    kiln_batch_free(b);
    CHECK_EQ_INT(st.record_count, total);
    CHECK_EQ_INT(st.nsplits, 5);
    CHECK_EQ_INT(st.cols[0].value_count, total);
    CHECK_EQ_INT(st.cols[1].null_count, (total + 9) / 10);
    int64_t lo, hi;
    memcpy(&lo, st.cols[0].lower, 8);
    memcpy(&hi, st.cols[0].upper, 8);
    CHECK_EQ_INT(lo, 0);
    CHECK_EQ_INT(hi, (int64_t)total - 1);
    CHECK_MSG(st.cols[1].lower_len == 2 && memcmp(st.cols[1].lower, "n1", 2) == 0, "lower %u %.*s",
              st.cols[1].lower_len, (int)st.cols[1].lower_len, st.cols[1].lower);
    CHECK(st.cols[1].upper_len == 4 && memcmp(st.cols[1].upper, "n999", 4) == 0);

    kiln_parquet_reader *r = NULL;
    CHECK_OK(kiln_parquet_reader_open(&r, path, NULL, &err), &err);
    CHECK_EQ_INT(kiln_parquet_reader_num_row_groups(r), 5);
    for (int g = 0; g < 5; g++)
        CHECK_EQ_INT(kiln_parquet_reader_row_group_offset(r, g), st.split_offsets[g]);
    kiln_parquet_file_stats_free(&st);
    kiln_parquet_pred p;
    CHECK_OK(kiln_parquet_pred_parse(&p, r, "id between 650000 and 700000", &err), &err);
    CHECK_OK(kiln_parquet_reader_filter(r, &p, &err), &err);
    CHECK_OK(kiln_parquet_reader_project_names(r, "id", &err), &err);
    const kiln_batch *rb;
    int rc;
    size_t rows = 0, matched = 0;
    int64_t sum = 0;
    while ((rc = kiln_parquet_reader_next(r, &rb, &err)) == 1) {
        for (size_t i = 0; i < rb->nrows; i++) {
            if (kiln_parquet_pred_match(&p, rb, 0, i)) {
                matched++;
                sum += rb->cols[0].v.i64[i];
            }
        }
        rows += rb->nrows;
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(kiln_parquet_reader_pruned(r), 4);
    CHECK_EQ_INT(rows, 300000);
    CHECK_EQ_INT(matched, 50001);
    CHECK_EQ_INT(sum, (int64_t)(650000 + 700000) * 50001 / 2);
    kiln_parquet_reader_free(r);

    /* every predicate form on the string column */
    CHECK_OK(kiln_parquet_reader_open(&r, path, NULL, &err), &err);
    const char *preds[] = {"name = 'zzz'",     "name < 'n0'",  "name is null",
                           "name is not null", "id > 1200000", "id >= 1200000",
                           "id < 0",           "id <= 0",      "id = 5"};
    /* the last row group is one row, with a null name */
    int expect_pruned[] = {5, 5, 0, 1, 5, 4, 5, 4, 4};
    for (int i = 0; i < 9; i++) {
        CHECK_OK(kiln_parquet_pred_parse(&p, r, preds[i], &err), &err);
        int pr = 0;
        for (int g = 0; g < 5; g++)
            pr += kiln_parquet_reader_rg_pruned(r, g, &p);
        CHECK_MSG(pr == expect_pruned[i], "%s pruned %d, expected %d", preds[i], pr, expect_pruned[i]);
    }
    kiln_parquet_reader_free(r);
}

/* Row r of the fallback test: 500 short values repeating, then unique
 * ones (a few of them 200 KB long) that overflow the dictionary. */
static size_t fb_value(size_t row, char *out)
{
    if (row < 2000)
        return (size_t)sprintf(out, "v%05zu", row % 500);
    size_t len = row % 500 == 7 ? 200000 + row : 10 + row % 90;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)('a' + (row + i) % 26);
    return len;
}

TEST(parquet, long_strings_and_dictionary_fallback)
{
    static const kiln_column_def cols[] = {
        {"s", KILN_T_STRING, 0, 1, 0, 0},
        {"k", KILN_T_INT64, 0, 2, 0, 0},
    };
    kiln_schema s = {2, cols};
    char path[512];
    kiln_err err = {0};
    snprintf(path, sizeof path, "%s/long.parquet", kt_tmpdir());
    kiln_parquet_write_opts o;
    kiln_parquet_write_opts_init(&o);
    o.dict_max_bytes = 64 * 1024; /* forces a fallback mid-chunk */
    o.page_bytes = 1000;
    kiln_parquet_writer *w = NULL;
    kiln_batch *b = NULL;
    CHECK_OK(kiln_parquet_writer_open(&w, path, &s, &o, &err), &err);
    CHECK_OK(kiln_batch_new(&b, &s, 1000, 0, &err), &err);
    size_t n = 3000;
    char *big = malloc(300000), *exp = malloc(300000);
    for (size_t row = 0; row < n; row++) {
        size_t len = fb_value(row, big);
        kiln_batch_put_str(b, 0, big, len, &err);
        kiln_batch_put_i64(b, 1, (int64_t)(row * 31 % 4000), &err);
        CHECK_OK(kiln_batch_end_row(b, &err), &err);
        if (kiln_batch_full(b)) {
            CHECK_OK(kiln_parquet_writer_write(w, b, &err), &err);
            kiln_batch_clear(b);
        }
    }
    kiln_parquet_file_stats st;
    CHECK_OK(kiln_parquet_writer_close(w, &st, &err), &err);
    kiln_parquet_writer_free(w);
    kiln_batch_free(b);
    /* string bounds are truncated to 64 bytes; the upper one bumped */
    CHECK(st.cols[0].has_lower && st.cols[0].lower_len <= 64);
    CHECK(st.cols[0].has_upper && st.cols[0].upper_len <= 64);
    kiln_parquet_file_stats_free(&st);

    kiln_parquet_reader *r = NULL;
    CHECK_OK(kiln_parquet_reader_open(&r, path, NULL, &err), &err);
    kiln_parquet_chunk_info ci;
    CHECK_OK(kiln_parquet_reader_chunk(r, 0, 0, &ci), &err);
    CHECK((ci.encodings >> PQ_ENC_RLE_DICTIONARY) & 1);
    CHECK((ci.encodings >> PQ_ENC_PLAIN) & 1);
    CHECK(ci.dictionary_page_offset > 0);
    /* k: nearly every value distinct, so the dictionary was abandoned */
    CHECK_OK(kiln_parquet_reader_chunk(r, 0, 1, &ci), &err);
    CHECK(!((ci.encodings >> PQ_ENC_RLE_DICTIONARY) & 1));
    CHECK_EQ_INT(ci.dictionary_page_offset, -1);
    const kiln_batch *rb;
    size_t row = 0;
    int rc;
    while ((rc = kiln_parquet_reader_next(r, &rb, &err)) == 1) {
        for (size_t i = 0; i < rb->nrows; i++, row++) {
            size_t len = fb_value(row, exp), gl;
            const char *g = kiln_batch_str(rb, 0, i, &gl);
            CHECK_MSG(gl == len && memcmp(g, exp, len) == 0, "row %zu len %zu vs %zu", row, gl, len);
            CHECK_EQ_INT(rb->cols[1].v.i64[i], (int64_t)(row * 31 % 4000));
        }
    }
    free(big);
    free(exp);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(row, n);
    kiln_parquet_reader_free(r);
}

TEST(parquet, iceberg_stats)
{
    char path[512];
    kiln_err err = {0};
    kiln_parquet_file_stats st;
    snprintf(path, sizeof path, "%s/st.parquet", kt_tmpdir());
    CHECK_OK(write_file(path, &all_schema, 100, NULLS_ALT, 1, NULL, &st, &err), &err);
    CHECK_EQ_INT(st.ncols, 12);
    CHECK_EQ_INT(st.record_count, 100);
    /* file size matches the disk */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    CHECK_EQ_INT(st.file_size_in_bytes, ftell(f));
    fclose(f);
    for (int c = 0; c < 12; c++) {
        CHECK_EQ_INT(st.cols[c].field_id, c + 1);
        CHECK_EQ_INT(st.cols[c].value_count, 100);
        CHECK_EQ_INT(st.cols[c].null_count, c == 11 ? 0 : 50);
        CHECK(st.cols[c].column_size > 0);
        CHECK(st.cols[c].has_lower && st.cols[c].has_upper);
    }
    int32_t i32;
    memcpy(&i32, st.cols[1].lower, 4); /* rows 0,2,..98 non-null: k*7919-100000 */
    CHECK_EQ_INT(i32, -100000);
    memcpy(&i32, st.cols[1].upper, 4);
    CHECK_EQ_INT(i32, 98 * 7919 - 100000);
    double d;
    memcpy(&d, st.cols[4].lower, 8);
    CHECK(d == -7.0);
    CHECK_EQ_INT(st.cols[0].lower[0], 0);
    CHECK_EQ_INT(st.cols[0].upper[0], 1);
    kiln_parquet_file_stats_free(&st);
    uint8_t be[8];
    CHECK_EQ_INT(kiln_parquet_decimal_bound(be, 1), 1);
    CHECK_EQ_INT(be[0], 1);
    CHECK_EQ_INT(kiln_parquet_decimal_bound(be, -1), 1);
    CHECK_EQ_INT(be[0], 0xff);
    CHECK_EQ_INT(kiln_parquet_decimal_bound(be, 128), 2);
    CHECK(be[0] == 0x00 && be[1] == 0x80);
    CHECK_EQ_INT(kiln_parquet_decimal_bound(be, -129), 2);
    CHECK(be[0] == 0xff && be[1] == 0x7f);
}

TEST(parquet, float_stats_nan_and_zero)
{
    static const kiln_column_def cols[] = {{"x", KILN_T_DOUBLE, 0, 1, 0, 0}};
    kiln_schema s = {1, cols};
    char path[512];
    kiln_err err = {0};
    snprintf(path, sizeof path, "%s/f.parquet", kt_tmpdir());
    kiln_parquet_writer *w = NULL;
    kiln_batch *b = NULL;
    CHECK_OK(kiln_parquet_writer_open(&w, path, &s, NULL, &err), &err);
    CHECK_OK(kiln_batch_new(&b, &s, 16, 0, &err), &err);
    double vals[] = {NAN, 0.0, -0.0, NAN};
    for (int i = 0; i < 4; i++) {
        kiln_batch_put_f64(b, 0, vals[i], &err);
        kiln_batch_end_row(b, &err);
    }
    CHECK_OK(kiln_parquet_writer_write(w, b, &err), &err);
    kiln_parquet_file_stats st;
    CHECK_OK(kiln_parquet_writer_close(w, &st, &err), &err);
    kiln_parquet_writer_free(w);
    kiln_batch_free(b);
    CHECK_EQ_INT(st.cols[0].nan_count, 2);
    double lo, hi;
    memcpy(&lo, st.cols[0].lower, 8);
    memcpy(&hi, st.cols[0].upper, 8);
    CHECK(lo == 0 && signbit(lo));
    CHECK(hi == 0 && !signbit(hi));
    kiln_parquet_file_stats_free(&st);
}

TEST(parquet, kv_metadata_and_created_by)
{
    char path[512];
    kiln_err err = {0};
    snprintf(path, sizeof path, "%s/kv.parquet", kt_tmpdir());
    kiln_parquet_kv kv[] = {{"iceberg.schema", "{\"type\":\"struct\"}"}, {"novalue", NULL}};
    kiln_parquet_write_opts o;
    kiln_parquet_write_opts_init(&o);
    o.kv = kv;
    o.nkv = 2;
    CHECK_OK(write_file(path, &all_schema, 10, NULLS_NONE, 0, &o, NULL, &err), &err);
    kiln_parquet_reader *r = NULL;
    CHECK_OK(kiln_parquet_reader_open(&r, path, NULL, &err), &err);
    CHECK_EQ_INT(kiln_parquet_reader_nkv(r), 2);
    const char *v;
    CHECK_STR(kiln_parquet_reader_kv(r, 0, &v), "iceberg.schema");
    CHECK_STR(v, "{\"type\":\"struct\"}");
    CHECK_STR(kiln_parquet_reader_kv(r, 1, &v), "novalue");
    CHECK(v == NULL);
    CHECK_STR(kiln_parquet_reader_created_by(r), "kiln version " KILN_VERSION);
    CHECK_STR(kiln_parquet_reader_column(r, 8)->logical, "TIMESTAMP(UTC,MICROS)");
    CHECK_STR(kiln_parquet_reader_column(r, 9)->logical, "TIMESTAMP(LOCAL,MICROS)");
    CHECK_STR(kiln_parquet_reader_column(r, 10)->logical, "DECIMAL(15,2)");
    kiln_parquet_reader_free(r);
}

TEST(parquet, thrift_roundtrip_page_header)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err err = {0};
    pq_page_header h = {0}, g;
    h.type = PQ_PAGE_DATA_V2;
    h.uncompressed_size = 1234567;
    h.compressed_size = 999;
    h.num_values = 77;
    h.num_nulls = 3;
    h.num_rows = 77;
    h.encoding = PQ_ENC_DELTA_BYTE_ARRAY;
    h.def_len = 10;
    h.is_compressed = 0;
    CHECK_OK(kiln_parquet__encode_page_header(&b, &h, &err), &err);
    size_t used = 0;
    CHECK_OK(kiln_parquet__decode_page_header(&g, (const uint8_t *)b.data, b.len, &used, 0, &err), &err);
    CHECK_EQ_INT(used, b.len);
    CHECK_EQ_INT(g.uncompressed_size, 1234567);
    CHECK_EQ_INT(g.num_nulls, 3);
    CHECK_EQ_INT(g.encoding, PQ_ENC_DELTA_BYTE_ARRAY);
    CHECK_EQ_INT(g.def_len, 10);
    CHECK_EQ_INT(g.is_compressed, 0);
    CHECK(g.has_v2);
    /* every truncation is an error, never a crash */
    for (size_t n = 0; n < b.len; n++)
        CHECK(kiln_parquet__decode_page_header(&g, (const uint8_t *)b.data, n, &used, 0, &err) == KILN_ETRUNC);
    kiln_buf_free(&b);
}

/* ------------------------------------------------------------ bad input */

static int open_err(const char *path, const void *data, size_t n, kiln_err *err)
{
    if (data)
        kt_write_file(path, data, n);
    kiln_parquet_reader *r = NULL;
    int rc = kiln_parquet_reader_open(&r, path, NULL, err);
    if (rc == 0) {
        const kiln_batch *b;
        while ((rc = kiln_parquet_reader_next(r, &b, err)) == 1)
            ;
        kiln_parquet_reader_free(r);
    }
    return rc;
}

TEST(parquet, bad_input)
{
    char good[512], bad[512];
    kiln_err err = {0};
    snprintf(good, sizeof good, "%s/good.parquet", kt_tmpdir());
    snprintf(bad, sizeof bad, "%s/bad.parquet", kt_tmpdir());
    CHECK_OK(write_file(good, &all_schema, 500, NULLS_SOME, 0, NULL, NULL, &err), &err);
    size_t n;
    char *d = kt_read_file(good, &n);
    /* truncated */
    CHECK(open_err(bad, d, 8, &err) == KILN_ETRUNC);
    CHECK(strstr(err.msg, "too small"));
    /* bad magic */
    char *c = malloc(n);
    memcpy(c, d, n);
    memcpy(c + n - 4, "PAR2", 4);
    CHECK_EQ_INT(open_err(bad, c, n, &err), KILN_EFORMAT);
    CHECK(strstr(err.msg, "not a Parquet file"));
    CHECK_EQ_INT(err.offset, n - 4);
    /* footer length past the file */
    memcpy(c, d, n);
    uint32_t big = 0x7fffffff;
    memcpy(c + n - 8, &big, 4);
    CHECK_EQ_INT(open_err(bad, c, n, &err), KILN_EFORMAT);
    CHECK(strstr(err.msg, "footer length"));
    /* cut in the middle: footer length points before the data */
    CHECK(open_err(bad, d, n / 2, &err) < 0);
    /* unsupported codec: patch the codec field in every column chunk is
     * hard; instead flip every byte of the footer one at a time and check
     * nothing crashes (errors or, rarely, success) */
    uint32_t flen;
    memcpy(&flen, d + n - 8, 4);
    for (size_t i = n - 8 - flen; i < n - 8; i += 3) {
        memcpy(c, d, n);
        c[i] ^= 0x5a;
        open_err(bad, c, n, &err);
    }
    /* lying page sizes: corrupt bytes in the data pages */
    for (size_t i = 4; i < n - 8 - flen; i += 97) {
        memcpy(c, d, n);
        c[i] = (char)0xff;
        c[i + 1] = (char)0xff;
        open_err(bad, c, n, &err);
    }
    free(c);
    free(d);
    /* not a file */
    kiln_parquet_reader *r = NULL;
    CHECK_EQ_INT(kiln_parquet_reader_open(&r, "/nonexistent/x.parquet", NULL, &err), KILN_ENOTFOUND);
}

TEST(parquet, threads_give_identical_files)
{
    char p1[512], p2[512], why[256] = "";
    kiln_err err = {0};
    snprintf(p1, sizeof p1, "%s/t1.parquet", kt_tmpdir());
    snprintf(p2, sizeof p2, "%s/t3.parquet", kt_tmpdir());
    kiln_parquet_write_opts o;
    kiln_parquet_write_opts_init(&o);
    o.row_group_rows = 3000;
    o.page_bytes = 2000;
    CHECK_OK(write_file(p1, &all_schema, 10000, NULLS_SOME, 1, &o, NULL, &err), &err);
    o.threads = 3;
    CHECK_OK(write_file(p2, &all_schema, 10000, NULLS_SOME, 1, &o, NULL, &err), &err);
    size_t n1, n2;
    char *a = kt_read_file(p1, &n1), *b = kt_read_file(p2, &n2);
    int same = n1 == n2 && memcmp(a, b, n1) == 0;
    free(a);
    free(b);
    CHECK_MSG(same, "threaded writer output differs (%zu vs %zu bytes)", n1, n2);
    CHECK_MSG(verify_file(p2, &all_schema, 10000, NULLS_SOME, 1, why, sizeof why) == 0, "%s", why);
    /* threaded reader: same values, errors still reported */
    kiln_parquet_reader *r = NULL;
    kiln_parquet_read_opts ro = {.batch_rows = 1000, .threads = 4};
    CHECK_OK(kiln_parquet_reader_open(&r, p2, &ro, &err), &err);
    const kiln_batch *bt;
    int rc;
    size_t rows = 0;
    int64_t sum = 0;
    while ((rc = kiln_parquet_reader_next(r, &bt, &err)) == 1) {
        for (size_t i = 0; i < bt->nrows; i++)
            sum += bt->cols[11].v.i64[i];
        rows += bt->nrows;
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(rows, 10000);
    int64_t expect = 0;
    for (size_t i = 0; i < 10000; i++)
        expect += (int64_t)i * 1000000007LL - 5;
    CHECK_EQ_INT(sum, expect);
    kiln_parquet_reader_free(r);
}

/* ------------------------------------------------ hand-built legacy file */

typedef struct hb_col {
    pq_schema_el el;
    pq_colmeta meta;
} hb_col;

static void hb_page(kiln_buf *f, pq_colmeta *m, pq_page_header *h, const kiln_buf *body, int64_t *first)
{
    kiln_err err = {0};
    h->uncompressed_size = h->compressed_size = (int32_t)body->len;
    if (*first < 0)
        *first = (int64_t)f->len;
    size_t before = f->len;
    kiln_parquet__encode_page_header(f, h, &err);
    kiln_buf_append(f, body->data, body->len, &err);
    m->total_compressed += (int64_t)(f->len - before);
    m->total_uncompressed += (int64_t)(f->len - before);
}

/* What Spark/Impala/old parquet-mr write: INT96 timestamps, converted types
 * without logical types, fixed/binary decimals, RLE booleans,
 * PLAIN_DICTIONARY, NANOS timestamps, an uncompressed v2 page. */
TEST(parquet, reads_legacy_types_and_encodings)
{
    enum { NC = 10, NV = 3 };
    kiln_err err = {0};
    kiln_buf f, body;
    kiln_buf_init(&f, 0);
    kiln_buf_init(&body, 0);
    kiln_buf_append(&f, "PAR1", 4, &err);
    static hb_col cols[NC];
    memset(cols, 0, sizeof cols);
    static const char *names[NC] = {"t96", "tms", "i8", "u32", "fdec", "bdec", "brle", "dict", "tns", "v2s"};
    static const char *paths[NC][1];
    for (int c = 0; c < NC; c++) {
        pq_schema_el *e = &cols[c].el;
        e->name = names[c];
        e->repetition = 0;
        e->converted = PQ_CT_NONE;
        e->has_field_id = 1;
        e->field_id = c + 1;
        paths[c][0] = names[c];
        cols[c].meta.path = paths[c];
        cols[c].meta.npath = 1;
        cols[c].meta.num_values = NV;
        cols[c].meta.codec = KILN_PQ_UNCOMPRESSED;
    }
    cols[0].el.type = KILN_PQT_INT96;
    cols[1].el.type = KILN_PQT_INT64;
    cols[1].el.converted = PQ_CT_TIMESTAMP_MILLIS;
    cols[2].el.type = KILN_PQT_INT32;
    cols[2].el.converted = PQ_CT_INT_8;
    cols[3].el.type = KILN_PQT_INT32;
    cols[3].el.converted = PQ_CT_UINT_32;
    cols[4].el.type = KILN_PQT_FLBA;
    cols[4].el.type_length = 4;
    cols[4].el.converted = PQ_CT_DECIMAL;
    cols[4].el.precision = 9;
    cols[4].el.scale = 2;
    cols[5].el.type = KILN_PQT_BYTE_ARRAY;
    cols[5].el.converted = PQ_CT_DECIMAL;
    cols[5].el.precision = 18;
    cols[5].el.scale = 4;
    cols[6].el.type = KILN_PQT_BOOLEAN;
    cols[7].el.type = KILN_PQT_INT64;
    cols[7].el.repetition = 1;
    cols[8].el.type = KILN_PQT_INT64;
    cols[8].el.logical = PQ_LT_TIMESTAMP;
    cols[8].el.lt_utc = 0;
    cols[8].el.lt_unit = PQ_UNIT_NANOS;
    cols[9].el.type = KILN_PQT_BYTE_ARRAY;
    cols[9].el.converted = PQ_CT_UTF8;
    cols[9].el.repetition = 1;
    for (int c = 0; c < NC; c++) {
        pq_colmeta *m = &cols[c].meta;
        m->type = cols[c].el.type;
        int64_t first = -1;
        pq_page_header h = {0};
        h.type = PQ_PAGE_DATA;
        h.num_values = NV;
        h.encoding = PQ_ENC_PLAIN;
        h.def_encoding = h.rep_encoding = PQ_ENC_RLE;
        kiln_buf_reset(&body);
        switch (c) {
        case 0: {
            int64_t us[NV] = {0, 1700000000123456LL, -86400000001LL};
            for (int i = 0; i < NV; i++) {
                uint8_t b[12];
                kiln_pq_int96_from_micros(b, us[i]);
                kiln_buf_append(&body, b, 12, &err);
            }
            break;
        }
        case 1: {
            int64_t v[NV] = {1, -1, 1700000000123LL};
            kiln_pq_plain_encode_fixed(&body, v, NV, 8, &err);
            break;
        }
        case 2: {
            int32_t v[NV] = {-128, 0, 127};
            kiln_pq_plain_encode_fixed(&body, v, NV, 4, &err);
            break;
        }
        case 3: {
            uint32_t v[NV] = {0, 0xffffffffu, 7};
            kiln_pq_plain_encode_fixed(&body, v, NV, 4, &err);
            break;
        }
        case 4: {
            uint8_t v[NV * 4] = {0, 0, 0x30, 0x39, 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0};
            kiln_buf_append(&body, v, sizeof v, &err);
            break;
        }
        case 5: {
            kiln_pq_bytes v[NV] = {{(const uint8_t *)"\x01", 1},
                                   {(const uint8_t *)"\xff\x00", 2},
                                   {(const uint8_t *)"\x0d\xe0\xb6\xb3\xa7\x63\xff\xff", 8}};
            kiln_pq_plain_encode_bytes(&body, v, NV, &err);
            break;
        }
        case 6: {
            uint32_t v[NV] = {1, 0, 1};
            h.encoding = PQ_ENC_RLE;
            kiln_pq_rle_encode_prefixed(&body, v, NV, 1, &err);
            break;
        }
        case 7: {
            /* dictionary page then a PLAIN_DICTIONARY data page, rows 42, null, 7 */
            int64_t dv[2] = {7, 42};
            kiln_pq_plain_encode_fixed(&body, dv, 2, 8, &err);
            pq_page_header dh = {0};
            dh.type = PQ_PAGE_DICT;
            dh.num_values = 2;
            dh.encoding = PQ_ENC_PLAIN_DICTIONARY;
            m->has_dict_offset = 1;
            m->dictionary_page_offset = (int64_t)f.len;
            hb_page(&f, m, &dh, &body, &first);
            first = -1;
            kiln_buf_reset(&body);
            uint32_t defs[NV] = {1, 0, 1}, idx[2] = {1, 0};
            kiln_pq_rle_encode_prefixed(&body, defs, NV, 1, &err);
            kiln_pq_dict_indices_encode(&body, idx, 2, 1, &err);
            h.encoding = PQ_ENC_PLAIN_DICTIONARY;
            break;
        }
        case 8: {
            int64_t v[NV] = {1500, -1500, 1700000000123456789LL};
            kiln_pq_plain_encode_fixed(&body, v, NV, 8, &err);
            break;
        }
        case 9: {
            /* v2 page, not compressed: def levels (bare hybrid) then values */
            uint32_t defs[NV] = {0, 1, 1};
            kiln_pq_rle_encode(&body, defs, NV, 1, &err);
            h.def_len = (int32_t)body.len;
            kiln_pq_bytes v[2] = {{(const uint8_t *)"h\xc3\xa9", 3}, {(const uint8_t *)"", 0}};
            kiln_pq_dlba_encode(&body, v, 2, &err);
            h.type = PQ_PAGE_DATA_V2;
            h.num_nulls = 1;
            h.num_rows = NV;
            h.encoding = PQ_ENC_DELTA_LENGTH_BYTE_ARRAY;
            h.is_compressed = 0;
            break;
        }
        }
        hb_page(&f, m, &h, &body, &first);
        m->data_page_offset = first;
        m->encodings = 1u << h.encoding | 1u << PQ_ENC_RLE;
    }
    pq_schema_el schema[NC + 1];
    memset(&schema[0], 0, sizeof schema[0]);
    schema[0].type = -1;
    schema[0].repetition = -1;
    schema[0].converted = PQ_CT_NONE;
    schema[0].name = "spark_schema";
    schema[0].num_children = NC;
    pq_chunk chunks[NC];
    memset(chunks, 0, sizeof chunks);
    for (int c = 0; c < NC; c++) {
        schema[c + 1] = cols[c].el;
        chunks[c].has_meta = 1;
        chunks[c].meta = cols[c].meta;
        chunks[c].file_offset = cols[c].meta.data_page_offset;
    }
    pq_rowgroup rg = {NC, chunks, 100, NV, 0, 0, 100};
    pq_filemeta fm = {0};
    fm.version = 1;
    fm.nschema = NC + 1;
    fm.schema = schema;
    fm.num_rows = NV;
    fm.nrg = 1;
    fm.rgs = &rg;
    fm.created_by = "parquet-mr version 1.10.1 (hand-built)";
    kiln_buf foot;
    kiln_buf_init(&foot, 0);
    CHECK_OK(kiln_parquet__encode_filemeta(&foot, &fm, &err), &err);
    uint32_t flen = (uint32_t)foot.len;
    kiln_buf_append(&f, foot.data, foot.len, &err);
    kiln_buf_append(&f, &flen, 4, &err);
    kiln_buf_append(&f, "PAR1", 4, &err);
    char path[512];
    snprintf(path, sizeof path, "%s/legacy.parquet", kt_tmpdir());
    kt_write_file(path, f.data, f.len);
    kiln_buf_free(&foot);
    kiln_buf_free(&f);
    kiln_buf_free(&body);

    kiln_parquet_reader *r = NULL;
    CHECK_OK(kiln_parquet_reader_open(&r, path, NULL, &err), &err);
    kiln_type expect_types[NC] = {KILN_T_TIMESTAMPTZ, KILN_T_TIMESTAMPTZ, KILN_T_INT32, KILN_T_INT64,
                                  KILN_T_DECIMAL,     KILN_T_DECIMAL,     KILN_T_BOOL,  KILN_T_INT64,
                                  KILN_T_STRING,      KILN_T_STRING}; /* NANOS: exact text */
    for (int c = 0; c < NC; c++)
        CHECK_MSG(kiln_parquet_reader_column(r, c)->type == expect_types[c], "column %s type %d", names[c],
                  kiln_parquet_reader_column(r, c)->type);
    const kiln_batch *b;
    CHECK_EQ_INT(kiln_parquet_reader_next(r, &b, &err), 1);
    CHECK_EQ_INT(b->nrows, NV);
    CHECK_EQ_INT(b->cols[0].v.i64[0], 0);
    CHECK_EQ_INT(b->cols[0].v.i64[1], 1700000000123456LL);
    CHECK_EQ_INT(b->cols[0].v.i64[2], -86400000001LL);
    CHECK_EQ_INT(b->cols[1].v.i64[0], 1000);
    CHECK_EQ_INT(b->cols[1].v.i64[1], -1000);
    CHECK_EQ_INT(b->cols[1].v.i64[2], 1700000000123000LL);
    CHECK_EQ_INT(b->cols[2].v.i32[0], -128);
    CHECK_EQ_INT(b->cols[3].v.i64[1], 4294967295LL);
    CHECK_EQ_INT(b->cols[4].v.i64[0], 12345);
    CHECK_EQ_INT(b->cols[4].v.i64[1], -1);
    CHECK_EQ_INT(b->cols[4].v.i64[2], INT32_MIN);
    CHECK_EQ_INT(b->cols[5].v.i64[0], 1);
    CHECK_EQ_INT(b->cols[5].v.i64[1], -256);
    CHECK_EQ_INT(b->cols[5].v.i64[2], 999999999999999999LL);
    CHECK(b->cols[6].v.b[0] == 1 && b->cols[6].v.b[1] == 0 && b->cols[6].v.b[2] == 1);
    CHECK_EQ_INT(b->cols[7].v.i64[0], 42);
    CHECK(kiln_batch_is_null(b, 7, 1));
    CHECK_EQ_INT(b->cols[7].v.i64[2], 7);
    size_t n;
    /* TIMESTAMP(NANOS) as nanosecond text, before 1970 too (floor, not truncation) */
    const char *ns = kiln_batch_str(b, 8, 0, &n);
    CHECK(n == 29 && memcmp(ns, "1970-01-01T00:00:00.000001500", n) == 0);
    ns = kiln_batch_str(b, 8, 1, &n);
    CHECK(n == 29 && memcmp(ns, "1969-12-31T23:59:59.999998500", n) == 0);
    ns = kiln_batch_str(b, 8, 2, &n);
    CHECK(n == 29 && memcmp(ns, "2023-11-14T22:13:20.123456789", n) == 0);
    CHECK(kiln_batch_is_null(b, 9, 0));
    const char *s = kiln_batch_str(b, 9, 1, &n);
    CHECK(n == 3 && memcmp(s, "h\xc3\xa9", 3) == 0);
    kiln_batch_str(b, 9, 2, &n);
    CHECK_EQ_INT(n, 0);
    kiln_buf txt;
    kiln_buf_init(&txt, 0);
    CHECK_OK(kiln_parquet_format_value(&txt, b, 5, 2, &err), &err);
    CHECK_STR(txt.data, "99999999999999.9999");
    kiln_buf_free(&txt);
    CHECK_EQ_INT(kiln_parquet_reader_next(r, &b, &err), 0);
    kiln_parquet_reader_free(r);
}

/* Rewrite a file's footer through fn, keeping the data. */
static char *patch_footer(const char *src, size_t *outn, void (*fn)(pq_filemeta *))
{
    size_t n;
    char *d = kt_read_file(src, &n);
    uint32_t flen;
    memcpy(&flen, d + n - 8, 4);
    size_t start = n - 8 - flen;
    kiln_arena *a = kiln_arena_new(0);
    pq_filemeta m;
    kiln_err err = {0};
    kiln_buf out;
    kiln_buf_init(&out, 0);
    if (kiln_parquet__decode_filemeta(&m, (const uint8_t *)d + start, flen, a, start, &err) == 0) {
        fn(&m);
        kiln_buf_append(&out, d, start, &err);
        size_t before = out.len;
        kiln_parquet__encode_filemeta(&out, &m, &err);
        uint32_t nl = (uint32_t)(out.len - before);
        kiln_buf_append(&out, &nl, 4, &err);
        kiln_buf_append(&out, "PAR1", 4, &err);
    }
    kiln_arena_free(a);
    free(d);
    return kiln_buf_detach(&out, outn);
}

static void set_lzo(pq_filemeta *m) { m->rgs[0].cols[0].meta.codec = KILN_PQ_LZO; }
static void chunk_past_end(pq_filemeta *m) { m->rgs[0].cols[1].meta.total_compressed = 1LL << 40; }
static void more_rows(pq_filemeta *m)
{
    m->rgs[0].num_rows = 1LL << 40;
    m->num_rows = 1LL << 40;
    for (int c = 0; c < m->rgs[0].ncols; c++)
        m->rgs[0].cols[c].meta.num_values = 1LL << 40;
}

TEST(parquet, lying_sizes_and_unsupported_codec)
{
    static const kiln_column_def cols[] = {{"a", KILN_T_INT64, 0, 1, 0, 0}, {"s", KILN_T_STRING, 0, 2, 0, 0}};
    kiln_schema s = {2, cols};
    char good[512], bad[512];
    kiln_err err = {0};
    snprintf(good, sizeof good, "%s/g.parquet", kt_tmpdir());
    snprintf(bad, sizeof bad, "%s/b.parquet", kt_tmpdir());
    kiln_parquet_write_opts o;
    kiln_parquet_write_opts_init(&o);
    o.codec = KILN_PQ_UNCOMPRESSED;
    CHECK_OK(write_file(good, &s, 1000, NULLS_SOME, 1, &o, NULL, &err), &err);

    /* the first page header (at byte 4) claims a huge body */
    size_t n;
    char *d = kt_read_file(good, &n);
    pq_page_header h;
    size_t used;
    CHECK_OK(kiln_parquet__decode_page_header(&h, (const uint8_t *)d + 4, n - 4, &used, 4, &err), &err);
    kiln_buf p;
    kiln_buf_init(&p, 0);
    kiln_buf_append(&p, d, 4, &err);
    pq_page_header h2 = h;
    h2.compressed_size = 1 << 30;
    kiln_parquet__encode_page_header(&p, &h2, &err);
    kiln_buf_append(&p, d + 4 + used, n - 4 - used, &err);
    kt_write_file(bad, p.data, p.len);
    CHECK_EQ_INT(open_err(bad, NULL, 0, &err), KILN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "past the end of its column chunk") && err.offset == 4, "%s (offset %llu)", err.msg,
              (unsigned long long)err.offset);
    /* ... or a wrong uncompressed size for an UNCOMPRESSED page */
    kiln_buf_reset(&p);
    kiln_buf_append(&p, d, 4, &err);
    h2 = h;
    h2.uncompressed_size = h.uncompressed_size + 1; /* same varint length: the layout stays */
    kiln_parquet__encode_page_header(&p, &h2, &err);
    kiln_buf_append(&p, d + 4 + used, n - 4 - used, &err);
    kt_write_file(bad, p.data, p.len);
    CHECK_EQ_INT(open_err(bad, NULL, 0, &err), KILN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "cannot hold"), "%s", err.msg);
    kiln_buf_free(&p);
    free(d);

    /* footer patches */
    char *f = patch_footer(good, &n, set_lzo);
    CHECK_EQ_INT(open_err(bad, f, n, &err), KILN_EUNSUPP);
    CHECK_MSG(strstr(err.msg, "LZO"), "%s", err.msg);
    free(f);
    f = patch_footer(good, &n, chunk_past_end);
    CHECK_EQ_INT(open_err(bad, f, n, &err), KILN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "outside the data"), "%s", err.msg);
    free(f);
    f = patch_footer(good, &n, more_rows); /* pages hold fewer values than claimed */
    CHECK_EQ_INT(open_err(bad, f, n, &err), KILN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "before all its values were read"), "%s", err.msg);
    free(f);
}

TEST(parquet, row_groups_cut_by_bytes)
{
    static const kiln_column_def cols[] = {{"a", KILN_T_INT64, 1, 1, 0, 0}, {"s", KILN_T_STRING, 1, 2, 0, 0}};
    kiln_schema s = {2, cols};
    char path[512];
    kiln_err err = {0};
    snprintf(path, sizeof path, "%s/rg.parquet", kt_tmpdir());
    kiln_parquet_write_opts o;
    kiln_parquet_write_opts_init(&o);
    o.row_group_bytes = 1 << 20;
    o.no_dictionary = 1;
    kiln_parquet_file_stats st;
    CHECK_OK(write_file(path, &s, 200000, NULLS_NONE, 1, &o, &st, &err), &err);
    /* ~24 bytes per row: about 4.6 MB, so 4-6 row groups of ~1 MB */
    CHECK_MSG(st.nsplits >= 4 && st.nsplits <= 6, "%zu row groups", st.nsplits);
    kiln_parquet_reader *r = NULL;
    CHECK_OK(kiln_parquet_reader_open(&r, path, NULL, &err), &err);
    int64_t total = 0;
    for (int g = 0; g < kiln_parquet_reader_num_row_groups(r); g++) {
        kiln_parquet_chunk_info a, b;
        kiln_parquet_reader_chunk(r, g, 0, &a);
        kiln_parquet_reader_chunk(r, g, 1, &b);
        CHECK_MSG(a.uncompressed_size + b.uncompressed_size < (1 << 20) + 600000, "row group %d too big", g);
        total += kiln_parquet_reader_row_group_rows(r, g);
    }
    CHECK_EQ_INT(total, 200000);
    kiln_parquet_reader_free(r);
    kiln_parquet_file_stats_free(&st);
}

/* Every allocation in a write and a read may fail: each failure must come
 * back as an error (no crash, no leak under ASan). */
TEST(parquet, allocation_failures)
{
    char path[512];
    kiln_err err = {0};
    snprintf(path, sizeof path, "%s/af.parquet", kt_tmpdir());
    int failures = 0, successes = 0;
    for (long k = 0; k < 400; k += 3) {
        kiln_alloc_fail_after(k);
        kiln_parquet_write_opts o;
        kiln_parquet_write_opts_init(&o);
        o.page_bytes = 512;
        int rc = write_file(path, &all_schema, 300, NULLS_SOME, 0, &o, NULL, &err);
        kiln_alloc_fail_after(-1);
        if (rc) {
            failures++;
            continue;
        }
        successes++;
    }
    CHECK(failures > 50);
    /* a good file, then reads under failing allocations */
    CHECK_OK(write_file(path, &all_schema, 300, NULLS_SOME, 0, NULL, NULL, &err), &err);
    for (long k = 0; k < 300; k += 2) {
        kiln_alloc_fail_after(k);
        kiln_parquet_reader *r = NULL;
        int rc = kiln_parquet_reader_open(&r, path, NULL, &err);
        if (rc == 0) {
            const kiln_batch *b;
            while ((rc = kiln_parquet_reader_next(r, &b, &err)) == 1)
                ;
            kiln_parquet_reader_free(r);
        }
        kiln_alloc_fail_after(-1);
        CHECK(rc <= 0);
    }
    (void)successes;
}

/* Long strings: the reader shrinks its batches so one batch stays near
 * 64 MB of string data instead of hitting the 1 GB batch cap. */
TEST(parquet, batches_shrink_for_long_strings)
{
    static const kiln_column_def cols[] = {{"s", KILN_T_STRING, 1, 1, 0, 0}};
    kiln_schema s = {1, cols};
    char path[512];
    kiln_err err = {0};
    snprintf(path, sizeof path, "%s/ls.parquet", kt_tmpdir());
    kiln_parquet_writer *w = NULL;
    kiln_batch *b = NULL;
    CHECK_OK(kiln_parquet_writer_open(&w, path, &s, NULL, &err), &err);
    CHECK_OK(kiln_batch_new(&b, &s, 16, 0, &err), &err);
    enum { ROWS = 400, LEN = 200000 };
    char *v = malloc(LEN);
    for (int row = 0; row < ROWS; row++) {
        memset(v, 'a' + row % 26, LEN);
        CHECK_OK(kiln_batch_put_str(b, 0, v, LEN, &err), &err);
        CHECK_OK(kiln_batch_end_row(b, &err), &err);
        if (kiln_batch_full(b)) {
            CHECK_OK(kiln_parquet_writer_write(w, b, &err), &err);
            kiln_batch_clear(b);
        }
    }
    free(v);
    CHECK_OK(kiln_parquet_writer_close(w, NULL, &err), &err);
    kiln_parquet_writer_free(w);
    kiln_batch_free(b);
    kiln_parquet_reader *r = NULL;
    CHECK_OK(kiln_parquet_reader_open(&r, path, NULL, &err), &err);
    const kiln_batch *rb;
    int rc, batches = 0;
    size_t rows = 0;
    while ((rc = kiln_parquet_reader_next(r, &rb, &err)) == 1) {
        CHECK_MSG(rb->nrows * (size_t)LEN <= ((size_t)64 << 20) + LEN, "batch of %zu rows", rb->nrows);
        size_t n;
        const char *p = kiln_batch_str(rb, 0, rb->nrows - 1, &n);
        CHECK(n == LEN && p[0] == 'a' + (int)((rows + rb->nrows - 1) % 26));
        rows += rb->nrows;
        batches++;
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(rows, ROWS);
    CHECK(batches >= 2);
    kiln_parquet_reader_free(r);
}

static int count_files(const char *dir)
{
    char *argv[] = {"/bin/ls", "-A", (char *)dir, NULL};
    char *out = NULL;
    kt_run(argv, &out);
    int n = 0;
    for (char *p = out; p && *p; p++)
        n += *p == '\n';
    free(out);
    return n;
}

TEST(parquet, sink_commit_and_abort)
{
    static const kiln_column_def cols[] = {{"a", KILN_T_INT64, 1, 1, 0, 0}};
    kiln_schema s = {1, cols};
    kiln_err err = {0};
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/sink", kt_tmpdir());
    CHECK_OK(kiln_mkdirs(dir, &err), &err);
    snprintf(path, sizeof path, "%s/out.parquet", dir);
    kiln_batch *b = NULL;
    CHECK_OK(kiln_batch_new(&b, &s, 8, 0, &err), &err);
    kiln_batch_put_i64(b, 0, 5, &err);
    kiln_batch_end_row(b, &err);
    /* abort: nothing left */
    kiln_sink *k = NULL;
    CHECK_OK(kiln_parquet_sink_new(&k, path, &s, NULL, NULL, &err), &err);
    CHECK_OK(kiln_sink_write(k, b, &err), &err);
    CHECK_EQ_INT(count_files(dir), 1); /* the temp file */
    kiln_sink_abort(k);
    kiln_sink_free(k);
    CHECK_EQ_INT(count_files(dir), 0);
    /* freed without commit: nothing left */
    CHECK_OK(kiln_parquet_sink_new(&k, path, &s, NULL, NULL, &err), &err);
    CHECK_OK(kiln_sink_write(k, b, &err), &err);
    kiln_sink_free(k);
    CHECK_EQ_INT(count_files(dir), 0);
    /* commit: exactly the file, with stats */
    kiln_parquet_file_stats st;
    CHECK_OK(kiln_parquet_sink_new(&k, path, &s, NULL, &st, &err), &err);
    CHECK_OK(kiln_sink_write(k, b, &err), &err);
    CHECK_OK(kiln_sink_write(k, b, &err), &err);
    CHECK_OK(kiln_sink_commit(k, &err), &err);
    kiln_sink_free(k);
    CHECK_EQ_INT(count_files(dir), 1);
    CHECK_EQ_INT(st.record_count, 2);
    kiln_parquet_file_stats_free(&st);
    kiln_parquet_reader *r = NULL;
    CHECK_OK(kiln_parquet_reader_open(&r, path, NULL, &err), &err);
    CHECK_EQ_INT(kiln_parquet_reader_num_rows(r), 2);
    kiln_parquet_reader_free(r);
    kiln_batch_free(b);
}
