/*
 * test_parquet_nested.c - the nested Parquet writer (Dremel levels) against
 * kiln's reader: exact JSON back for every shape and null position, with
 * pages and row groups cut inside long lists (they must end at a row),
 * the footer's leaf columns (paths, levels), and refused values.
 */
#include "harness/harness.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "format/parquet/parquet.h"

static const kiln_nested t_b_el = {KILN_NEST_PRIM, "element", 6, 1, KILN_T_STRING, 0, 0, 0, NULL, NULL};
static const kiln_nested t_m_kv[2] = {{KILN_NEST_PRIM, "key", 8, 1, KILN_T_INT64, 0, 0, 0, NULL, NULL},
                                      {KILN_NEST_PRIM, "value", 9, 0, KILN_T_DOUBLE, 0, 0, 0, NULL, NULL}};
static const kiln_nested t_s_f[3] = {{KILN_NEST_PRIM, "x", 11, 0, KILN_T_BOOL, 0, 0, 0, NULL, NULL},
                                     {KILN_NEST_PRIM, "y", 12, 0, KILN_T_DECIMAL_WIDE, 30, 4, 0, NULL, NULL},
                                     {KILN_NEST_PRIM, "d", 13, 1, KILN_T_DECIMAL, 9, 2, 0, NULL, NULL}};
static const kiln_nested t_el_f[4] = {{KILN_NEST_PRIM, "a", 4, 0, KILN_T_INT32, 0, 0, 0, NULL, NULL},
                                      {KILN_NEST_LIST, "b", 5, 0, KILN_T_JSON, 0, 0, 1, &t_b_el, NULL},
                                      {KILN_NEST_MAP, "m", 7, 0, KILN_T_JSON, 0, 0, 2, t_m_kv, NULL},
                                      {KILN_NEST_STRUCT, "s", 10, 0, KILN_T_JSON, 0, 0, 3, t_s_f, NULL}};
static const kiln_nested t_el = {KILN_NEST_STRUCT, "element", 3, 0, KILN_T_JSON, 0, 0, 4, t_el_f, NULL};
static const kiln_nested t_v = {KILN_NEST_LIST, "v", 2, 0, KILN_T_JSON, 0, 0, 1, &t_el, NULL};
static const kiln_column_def t_cols[3] = {
    {"id", KILN_T_INT64, 1, 1, 0, 0}, {"v", KILN_T_JSON, 0, 2, 0, 0}, {"tail", KILN_T_STRING, 0, 20, 0, 0}};
static const kiln_schema t_schema = {3, t_cols};

/* Write rows of v (NULL = null) with tiny pages and row groups; read back
 * every row's v as JSON lines ("null" for null). rc of the write. */
static int nested_roundtrip(const char *const *rows, size_t n, kiln_buf *out, kiln_err *err, int *nleaf_cols)
{
    char path[96];
    snprintf(path, sizeof path, "/tmp/kiln-test-nested-%d.parquet", (int)getpid());
    const kiln_nested *shapes[3] = {NULL, &t_v, NULL};
    kiln_parquet_write_opts o;
    kiln_parquet_write_opts_init(&o);
    o.page_bytes = 40;
    o.row_group_rows = 7;
    o.nested = shapes;
    o.nnested = 3;
    kiln_batch *b = NULL;
    kiln_parquet_writer *w = NULL;
    int rc = kiln_batch_new(&b, &t_schema, n, 0, err);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = kiln_batch_put_i64(b, 0, (int64_t)i, err);
        if (!rc)
            rc = rows[i] ? kiln_batch_put_str(b, 1, rows[i], strlen(rows[i]), err) : kiln_batch_put_null(b, 1, err);
        if (!rc)
            rc = kiln_batch_put_str(b, 2, "t", 1, err);
        if (!rc)
            rc = kiln_batch_end_row(b, err);
    }
    if (!rc)
        rc = kiln_parquet_writer_open(&w, path, &t_schema, &o, err);
    if (!rc)
        rc = kiln_parquet_writer_write(w, b, err);
    kiln_parquet_file_stats st = {0};
    if (!rc)
        rc = kiln_parquet_writer_close(w, &st, err);
    kiln_parquet_writer_free(w);
    kiln_batch_free(b);
    if (rc) {
        unlink(path);
        return rc;
    }
    *nleaf_cols = st.ncols;
    kiln_parquet_file_stats_free(&st);
    kiln_parquet_reader *r = NULL;
    rc = kiln_parquet_reader_open(&r, path, NULL, err);
    const kiln_batch *rb;
    size_t got = 0;
    while (!rc && (rc = kiln_parquet_reader_next(r, &rb, err)) == 1) {
        rc = 0;
        for (size_t i = 0; i < rb->nrows; i++, got++) {
            if (kiln_batch_is_null(rb, 1, i)) {
                kiln_buf_append(out, "null\n", 5, err);
            } else {
                size_t len;
                const char *s = kiln_batch_str(rb, 1, i, &len);
                kiln_buf_append(out, s, len, err);
                kiln_buf_putc(out, '\n', err);
            }
        }
    }
    kiln_parquet_reader_free(r);
    unlink(path);
    return rc < 0 ? rc : got == n ? 0 : -99;
}

TEST(parquet_nested, shapes_and_nulls_round_trip)
{
    static const char *rows[] = {
        "[{\"a\":1,\"b\":[\"x\",\"y\"],\"m\":{\"5\":1.5,\"-7\":null},\"s\":{\"x\":true,\"y\":123456789012345678901234."
        "5678,"
        "\"d\":-1.25}}]",
        NULL,
        "[]",
        "[null]",
        "[{\"a\":null,\"b\":null,\"m\":null,\"s\":null}]",
        "[{\"b\":[],\"m\":{},\"s\":{\"x\":null,\"y\":null,\"d\":0}}]",
        "[{\"a\":2},null,{\"a\":3,\"b\":[\"p\",\"q\",\"r\",\"s\",\"t\",\"u\",\"v\",\"w\","
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
        "\"bbbbbbbbbbbbbbbbbbbbbb\"]}]",
        "[{\"a\":4,\"b\":[\"long list\",\"across\",\"pages\",\"and\",\"more\",\"pages\",\"still\",\"going\",\"on\"]},"
        "{\"a\":5,\"b\":[\"x\"]}]",
        NULL,
        "[{\"a\":6}]",
    };
    static const char *want =
        "[{\"a\":1,\"b\":[\"x\",\"y\"],\"m\":{\"5\":1.5,\"-7\":null},\"s\":{\"x\":true,\"y\":123456789012345678901234."
        "5678,"
        "\"d\":-1.25}}]\n"
        "null\n"
        "[]\n"
        "[null]\n"
        "[{\"a\":null,\"b\":null,\"m\":null,\"s\":null}]\n"
        "[{\"a\":null,\"b\":[],\"m\":{},\"s\":{\"x\":null,\"y\":null,\"d\":0.00}}]\n"
        "[{\"a\":2,\"b\":null,\"m\":null,\"s\":null},null,{\"a\":3,\"b\":[\"p\",\"q\",\"r\",\"s\",\"t\",\"u\",\"v\","
        "\"w\","
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"bbbbbbbbbbbbbbbbbbbbbb\"],\"m\":null,\"s\":null}]\n"
        "[{\"a\":4,\"b\":[\"long "
        "list\",\"across\",\"pages\",\"and\",\"more\",\"pages\",\"still\",\"going\",\"on\"],\"m\":null,"
        "\"s\":null},{\"a\":5,\"b\":[\"x\"],\"m\":null,\"s\":null}]\n"
        "null\n"
        "[{\"a\":6,\"b\":null,\"m\":null,\"s\":null}]\n";
    kiln_buf out;
    kiln_buf_init(&out, 0);
    kiln_err err = {0};
    int nleaf = 0;
    int rc = nested_roundtrip(rows, sizeof rows / sizeof rows[0], &out, &err, &nleaf);
    CHECK_MSG(rc == 0, "roundtrip: %d %s", rc, err.msg);
    CHECK_STR(out.data ? out.data : "", want);
    CHECK_EQ_INT(nleaf, 1 + 7 + 1); /* id; a, b.element, m.key, m.value, s.x, s.y, s.d; tail */
    /* many rows, so long lists cross pages and row groups */
    static char big[200][1024];
    const char *rows2[200];
    kiln_buf want2;
    kiln_buf_init(&want2, 0);
    for (int i = 0; i < 200; i++) {
        int k = 0, len = snprintf(big[i], sizeof big[i], "[");
        for (int j = 0; j < i % 11; j++)
            len += snprintf(big[i] + len, sizeof big[i] - (size_t)len,
                            "%s{\"a\":%d,\"b\":[\"e%d\",\"f\"],\"m\":null,\"s\":null}", k++ ? "," : "", j, i);
        snprintf(big[i] + len, sizeof big[i] - (size_t)len, "]");
        rows2[i] = i % 13 == 5 ? NULL : big[i];
        kiln_buf_printf(&want2, &err, "%s\n", rows2[i] ? rows2[i] : "null");
    }
    kiln_buf_reset(&out);
    rc = nested_roundtrip(rows2, 200, &out, &err, &nleaf);
    CHECK_MSG(rc == 0, "roundtrip 200: %d %s", rc, err.msg);
    CHECK_STR(out.data ? out.data : "", want2.data);
    kiln_buf_free(&want2);
    kiln_buf_free(&out);
}

TEST(parquet_nested, refused_values_name_the_field)
{
    static const struct {
        const char *row, *msg;
    } bad[] = {
        {"[{\"b\":[null]}]", "v.element.b.element is required"},
        {"[{\"a\":\"x\"}]", "v.element.a: expected an int"},
        {"[{\"a\":4294967296}]", "expected an int (32-bit)"},
        {"{\"a\":1}", "expected an array for a list"},
        {"[{\"zz\":1}]", "has no field \"zz\""},
        {"[{\"m\":{\"k\":1}}]", "v.element.m.key: expected a long"},
        {"[{\"s\":{\"d\":1.234}}]", "not an exact decimal"},
        {"[{\"s\":{\"d\":null}}]", "v.element.s.d is required"},
        {"[{\"s\":{\"y\":1e5}}]", "not a decimal value"},
        {"[1]", "expected an object for a struct"},
        {"[{\"a\":1}", "v"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kiln_buf out;
        kiln_buf_init(&out, 0);
        kiln_err err = {0};
        int nleaf = 0;
        const char *rows[2] = {"[]", bad[i].row};
        int rc = nested_roundtrip(rows, 2, &out, &err, &nleaf);
        CHECK_MSG(rc == KILN_EFORMAT, "%s: rc %d (%s)", bad[i].row, rc, err.msg);
        CHECK_MSG(strstr(err.msg, bad[i].msg) && strstr(err.msg, "row 1"), "%s: message '%s' lacks '%s'", bad[i].row,
                  err.msg, bad[i].msg);
        kiln_buf_free(&out);
    }
}

TEST(parquet_nested, no_shape_is_an_error)
{
    char path[96];
    snprintf(path, sizeof path, "/tmp/kiln-test-noshape-%d.parquet", (int)getpid());
    kiln_parquet_writer *w = NULL;
    kiln_err err = {0};
    int rc = kiln_parquet_writer_open(&w, path, &t_schema, NULL, &err);
    CHECK(rc == KILN_EINVAL);
    CHECK(strstr(err.msg, "column v") != NULL);
    CHECK(access(path, F_OK) != 0);
}

/* A leaf inside a struct as a row-group predicate column: its chunk
 * statistics skip row groups (kiln_parquet_reader_find_leaf_id), a leaf
 * under a list has none; a nanosecond timestamp leaf is written from its
 * text (kiln_parquet_ts_parse_ns) and read back digit for digit. */
static const kiln_nested l_s_f[2] = {
    {KILN_NEST_PRIM, "a", 31, 0, KILN_T_INT64, 0, 0, 0, NULL, NULL},
    {KILN_NEST_PRIM, "t", 32, 0, KILN_T_INT64, 0, KILN_PARQUET_TS_NANOS, 0, NULL, NULL}};
static const kiln_nested l_s = {KILN_NEST_STRUCT, "s", 30, 0, KILN_T_JSON, 0, 0, 2, l_s_f, NULL};
static const kiln_nested l_el = {KILN_NEST_PRIM, "element", 34, 0, KILN_T_INT64, 0, 0, 0, NULL, NULL};
static const kiln_nested l_l = {KILN_NEST_LIST, "l", 33, 0, KILN_T_JSON, 0, 0, 1, &l_el, NULL};
static const kiln_column_def l_cols[2] = {{"s", KILN_T_JSON, 0, 30, 0, 0}, {"l", KILN_T_JSON, 0, 33, 0, 0}};
static const kiln_schema l_schema = {2, l_cols};

TEST(parquet_nested, struct_leaf_statistics_skip_row_groups)
{
    int64_t ns = 0;
    CHECK(kiln_parquet_ts_parse_ns("2024-01-02T03:04:05.123456789", 29, &ns) == 0 && ns == 1704164645123456789LL);
    CHECK(kiln_parquet_ts_parse_ns("1969-12-31T23:59:59.999999999Z", 30, &ns) == 0 && ns == -1);
    CHECK(kiln_parquet_ts_parse_ns("2024-01-02T05:04:05.5+02:00", 27, &ns) == 0 && ns == 1704164645500000000LL);
    CHECK(kiln_parquet_ts_parse_ns("2024-01-02T03:04:05.1234567891", 30, &ns) != 0); /* ten digits */
    CHECK(kiln_parquet_ts_parse_ns("2263-01-01T00:00:00", 19, &ns) != 0);            /* past INT64 nanoseconds */
    char path[96];
    snprintf(path, sizeof path, "/tmp/kiln-test-nested-leaf-%d.parquet", (int)getpid());
    const kiln_nested *shapes[2] = {&l_s, &l_l};
    kiln_parquet_write_opts o;
    kiln_parquet_write_opts_init(&o);
    o.row_group_rows = 4;
    o.nested = shapes;
    o.nnested = 2;
    kiln_err err = {0};
    kiln_batch *b = NULL;
    kiln_parquet_writer *w = NULL;
    CHECK(kiln_batch_new(&b, &l_schema, 12, 0, &err) == 0);
    for (int i = 0; i < 12; i++) { /* s.a = i, three row groups of 4; row 5's struct is null */
        char s[128], l[32];
        snprintf(s, sizeof s, "{\"a\":%d,\"t\":\"2024-01-02T03:04:05.%09d\"}", i, i);
        snprintf(l, sizeof l, "[%d]", 100 - i);
        CHECK((i == 5 ? kiln_batch_put_null(b, 0, &err) : kiln_batch_put_str(b, 0, s, strlen(s), &err)) == 0);
        CHECK(kiln_batch_put_str(b, 1, l, strlen(l), &err) == 0 && kiln_batch_end_row(b, &err) == 0);
    }
    CHECK(kiln_parquet_writer_open(&w, path, &l_schema, &o, &err) == 0);
    CHECK(kiln_parquet_writer_write(w, b, &err) == 0);
    kiln_parquet_file_stats st = {0};
    CHECK(kiln_parquet_writer_close(w, &st, &err) == 0);
    kiln_parquet_file_stats_free(&st);
    kiln_parquet_writer_free(w);
    kiln_batch_free(b);
    kiln_parquet_reader *r = NULL;
    CHECK(kiln_parquet_reader_open(&r, path, NULL, &err) == 0);
    CHECK(kiln_parquet_reader_num_row_groups(r) == 3);
    int pc = kiln_parquet_reader_find_leaf_id(r, 31);
    CHECK(pc >= kiln_parquet_reader_ncolumns(r));
    CHECK(kiln_parquet_reader_column(r, pc)->type == KILN_T_INT64);
    CHECK(kiln_parquet_reader_find_leaf_id(r, 34) == -1); /* under a list: no row-level bounds */
    CHECK(kiln_parquet_reader_find_leaf_id(r, 99) == -1);
    kiln_parquet_pred p;
    memset(&p, 0, sizeof p);
    p.col = pc;
    p.op = KILN_PRED_GT;
    p.v.i = 7; /* s.a > 7: only the third row group */
    CHECK(kiln_parquet_reader_rg_pruned(r, 0, &p) == 1);
    CHECK(kiln_parquet_reader_rg_pruned(r, 1, &p) == 1);
    CHECK(kiln_parquet_reader_rg_pruned(r, 2, &p) == 0);
    p.op = KILN_PRED_ISNULL; /* only the second holds a null s (so a null s.a) */
    CHECK(kiln_parquet_reader_rg_pruned(r, 0, &p) == 1);
    CHECK(kiln_parquet_reader_rg_pruned(r, 1, &p) == 0);
    p.op = KILN_PRED_GT;
    CHECK(kiln_parquet_reader_filter(r, &p, &err) == 0);
    const kiln_batch *rb;
    size_t rows = 0;
    int rc;
    char first[128] = "";
    while ((rc = kiln_parquet_reader_next(r, &rb, &err)) == 1) {
        if (!rows && rb->nrows) {
            size_t n;
            const char *s = kiln_batch_str(rb, 0, 0, &n);
            snprintf(first, sizeof first, "%.*s", (int)n, s);
        }
        rows += rb->nrows;
    }
    CHECK(rc == 0);
    CHECK(rows == 4 && kiln_parquet_reader_pruned(r) == 2);
    CHECK_STR(first, "{\"a\":8,\"t\":\"2024-01-02T03:04:05.000000008\"}");
    kiln_parquet_reader_free(r);
    unlink(path);
}
