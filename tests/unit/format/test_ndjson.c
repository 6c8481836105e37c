/* Unit tests for the NDJSON -> batch reader (src/format/text/ndjson.c). */
#include "harness/harness.h"
#include "format/text/ndjson.h"

#include <stdio.h>
#include <string.h>

static const kiln_column_def cols[] = {
    {"id", KILN_T_INT64, 1, 1, 0, 0},
    {"name", KILN_T_STRING, 0, 2, 0, 0},
    {"day", KILN_T_DATE, 0, 3, 0, 0},
    {"ok", KILN_T_BOOL, 0, 4, 0, 0},
};
static const kiln_schema schema = {4, cols};

typedef struct seen {
    int batches;
    int64_t rows, id_sum, nulls_name;
    int32_t last_day;
} seen;

static int collect(void *ctx, kiln_batch *b, kiln_err *err)
{
    (void)err;
    seen *s = ctx;
    s->batches++;
    for (size_t r = 0; r < b->nrows; r++) {
        s->rows++;
        s->id_sum += b->cols[0].v.i64[r];
        s->nulls_name += kiln_batch_is_null(b, 1, r);
        if (!kiln_batch_is_null(b, 2, r))
            s->last_day = b->cols[2].v.i32[r];
    }
    return 0;
}

static int read_text(const char *text, int ignore_unknown, size_t batch_rows, seen *s, kiln_err *err)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f)
        return kiln_err_set(err, KILN_EIO, "fmemopen");
    kiln_ndjson_read_opts o = {ignore_unknown, batch_rows, NULL};
    memset(s, 0, sizeof *s);
    int rc = kiln_ndjson_read(f, "rows.ndjson", &schema, &o, collect, s, err);
    fclose(f);
    return rc;
}

TEST(ndjson, rows_into_batches)
{
    seen s;
    kiln_err err = {0};
    const char *text = "{\"id\":1,\"name\":\"a\",\"day\":\"2024-03-01\",\"ok\":true}\n"
                       "\n"
                       "{\"id\":2,\"name\":null}\r\n"
                       "{\"id\":3,\"day\":\"1970-01-02\"}\n";
    CHECK_OK(read_text(text, 0, 2, &s, &err), &err);
    CHECK_EQ_INT(s.rows, 3);
    CHECK_EQ_INT(s.batches, 2); /* a full batch of 2, then the last one */
    CHECK_EQ_INT(s.id_sum, 6);
    CHECK_EQ_INT(s.nulls_name, 2); /* null and missing are both null */
    CHECK_EQ_INT(s.last_day, 1);
}

TEST(ndjson, unknown_key_names_line_and_key)
{
    seen s;
    kiln_err err = {0};
    const char *text = "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"nmae\":\"b\"}\n";
    int rc = read_text(text, 0, 0, &s, &err);
    CHECK_EQ_INT(rc, KILN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "rows.ndjson:2:") && strstr(err.msg, "\"nmae\""), "message: %s", err.msg);
    CHECK_EQ_INT(err.offset, 2);
    CHECK_EQ_INT(s.rows, 0); /* nothing was handed on */
    memset(&err, 0, sizeof err);
    CHECK_OK(read_text(text, 1, 0, &s, &err), &err);
    CHECK_EQ_INT(s.rows, 2);
    CHECK_EQ_INT(s.nulls_name, 1);
}

TEST(ndjson, bad_lines)
{
    seen s;
    kiln_err err = {0};
    CHECK_EQ_INT(read_text("{\"id\":1}\n[1,2]\n", 0, 0, &s, &err), KILN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "rows.ndjson:2: not a JSON object") != NULL, "message: %s", err.msg);
    memset(&err, 0, sizeof err);
    CHECK_EQ_INT(read_text("{\"id\":\"one\"}\n", 0, 0, &s, &err), KILN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "rows.ndjson:1: column id") != NULL, "message: %s", err.msg);
    memset(&err, 0, sizeof err);
    CHECK_EQ_INT(read_text("{\"id\":1,\"day\":\"2024-13-45\"}\n", 0, 0, &s, &err), KILN_EFORMAT);
}
