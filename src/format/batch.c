/*
 * batch.c - columnar row batches (see batch.h).
 */
#include "format/batch.h"

#include <string.h>

const char *kiln_type_name(kiln_type t)
{
    switch (t) {
    case KILN_T_BOOL: return "boolean";
    case KILN_T_INT32: return "int";
    case KILN_T_INT64: return "long";
    case KILN_T_FLOAT: return "float";
    case KILN_T_DOUBLE: return "double";
    case KILN_T_STRING: return "string";
    case KILN_T_BINARY: return "binary";
    case KILN_T_DATE: return "date";
    case KILN_T_TIMESTAMPTZ: return "timestamptz";
    case KILN_T_TIMESTAMP: return "timestamp";
    case KILN_T_DECIMAL: return "decimal";
    case KILN_T_DECIMAL_WIDE: return "decimal";
    case KILN_T_JSON: return "json";
    case KILN_T_TIME: return "time";
    case KILN_T_UUID: return "uuid";
    }
    return "unknown";
}

int kiln_schema_find(const kiln_schema *s, const char *name)
{
    for (int i = 0; i < s->ncols; i++)
        if (strcmp(s->cols[i].name, name) == 0)
            return i;
    return -1;
}

static size_t width(kiln_type t)
{
    switch (t) {
    case KILN_T_BOOL: return 1;
    case KILN_T_INT32:
    case KILN_T_DATE:
    case KILN_T_FLOAT: return 4;
    case KILN_T_INT64:
    case KILN_T_TIMESTAMPTZ:
    case KILN_T_TIMESTAMP:
    case KILN_T_DECIMAL:
    case KILN_T_DOUBLE:
    case KILN_T_TIME: return 8;
    default: return 0;
    }
}

int kiln_batch_new(kiln_batch **out, const kiln_schema *schema, size_t capacity, size_t string_cap, kiln_err *err)
{
    *out = NULL;
    if (capacity == 0 || capacity > (1u << 24))
        return kiln_err_set(err, KILN_EINVAL, "batch capacity %zu out of range (1..16M)", capacity);
    kiln_batch *b = kiln_calloc(1, sizeof *b);
    if (!b)
        return KILN_OOM(err);
    b->schema = schema;
    b->capacity = capacity;
    b->cols = kiln_calloc((size_t)(schema->ncols ? schema->ncols : 1), sizeof(kiln_col));
    if (!b->cols)
        goto oom;
    for (int i = 0; i < schema->ncols; i++) {
        kiln_col *c = &b->cols[i];
        c->type = schema->cols[i].type;
        size_t w = width(c->type);
        if (w) {
            c->v.b = kiln_malloc(w * capacity);
            if (!c->v.b)
                goto oom;
        } else {
            c->offsets = kiln_malloc(sizeof(uint32_t) * (capacity + 1));
            if (!c->offsets)
                goto oom;
            c->offsets[0] = 0;
            kiln_buf_init(&c->data, string_cap ? string_cap : (size_t)256 << 20);
        }
    }
    *out = b;
    return 0;
oom:
    kiln_batch_free(b);
    return kiln_err_set(err, KILN_ENOMEM, "out of memory allocating a batch of %zu rows", capacity);
}

void kiln_batch_free(kiln_batch *b)
{
    if (!b)
        return;
    if (b->cols) {
        for (int i = 0; i < b->schema->ncols; i++) {
            kiln_col *c = &b->cols[i];
            kiln_free(c->nulls);
            kiln_free(c->v.b);
            kiln_free(c->offsets);
            kiln_buf_free(&c->data);
        }
        kiln_free(b->cols);
    }
    kiln_free(b);
}

void kiln_batch_clear(kiln_batch *b)
{
    for (int i = 0; i < b->schema->ncols; i++) {
        kiln_col *c = &b->cols[i];
        c->len = 0;
        if (c->nulls)
            memset(c->nulls, 0, b->capacity);
        kiln_buf_reset(&c->data);
    }
    b->nrows = 0;
}

static int slot(kiln_batch *b, int c, kiln_err *err)
{
    kiln_col *col = &b->cols[c];
    if (col->len != b->nrows || b->nrows >= b->capacity)
        return kiln_err_set(err, KILN_EINTERNAL, "batch column %s: value appended out of order (row %zu, len %zu)",
                            b->schema->cols[c].name, b->nrows, col->len);
    return 0;
}

static void mark_string(kiln_col *col)
{
    if (col->offsets)
        col->offsets[col->len + 1] = (uint32_t)col->data.len;
}

int kiln_batch_put_null(kiln_batch *b, int c, kiln_err *err)
{
    int rc = slot(b, c, err);
    if (rc)
        return rc;
    kiln_col *col = &b->cols[c];
    if (b->schema->cols[c].required)
        return kiln_err_set(err, KILN_EFORMAT, "column %s is required but got a null", b->schema->cols[c].name);
    if (!col->nulls) {
        col->nulls = kiln_calloc(b->capacity, 1);
        if (!col->nulls)
            return KILN_OOM(err);
    }
    col->nulls[col->len] = 1;
    size_t w = width(col->type);
    if (w)
        memset(col->v.b + w * col->len, 0, w);
    mark_string(col);
    col->len++;
    return 0;
}

#define PUT(fn, T, member)                                                                                             \
    int fn(kiln_batch *b, int c, T v, kiln_err *err)                                                                   \
    {                                                                                                                  \
        int rc = slot(b, c, err);                                                                                      \
        if (rc)                                                                                                        \
            return rc;                                                                                                 \
        kiln_col *col = &b->cols[c];                                                                                   \
        col->v.member[col->len++] = v;                                                                                 \
        return 0;                                                                                                      \
    }
PUT(kiln_batch__put_i32, int32_t, i32)
PUT(kiln_batch__put_i64, int64_t, i64)
PUT(kiln_batch_put_f32, float, f32)
PUT(kiln_batch_put_f64, double, f64)

int kiln_batch_put_bool(kiln_batch *b, int c, int v, kiln_err *err)
{
    int rc = slot(b, c, err);
    if (rc)
        return rc;
    kiln_col *col = &b->cols[c];
    col->v.b[col->len++] = v ? 1 : 0;
    return 0;
}

int kiln_batch__put_str(kiln_batch *b, int c, const char *p, size_t n, kiln_err *err)
{
    int rc = slot(b, c, err);
    if (rc)
        return rc;
    kiln_col *col = &b->cols[c];
    if (!col->offsets)
        return kiln_err_set(err, KILN_EINTERNAL, "column %s is not a string column", b->schema->cols[c].name);
    if (col->data.len + n > UINT32_MAX)
        return kiln_err_set(err, KILN_ELIMIT, "column %s: batch string data over 4 GB", b->schema->cols[c].name);
    rc = kiln_buf_append(&col->data, p, n, err);
    if (rc)
        return kiln_err_prefix(err, "column %s: ", b->schema->cols[c].name);
    mark_string(col);
    col->len++;
    return 0;
}

int kiln_batch_append(kiln_batch *dst, const kiln_batch *src, size_t start, size_t n, kiln_err *err)
{
    const kiln_schema *ds = dst->schema, *ss = src->schema;
    if (ds->ncols != ss->ncols)
        return kiln_err_set(err, KILN_EINVAL, "batch append: %d columns into %d", ss->ncols, ds->ncols);
    if (start > src->nrows || n > src->nrows - start || n > dst->capacity - dst->nrows)
        return kiln_err_set(err, KILN_ELIMIT, "batch append: rows %zu+%zu of %zu into %zu free", start, n, src->nrows,
                            dst->capacity - dst->nrows);
    for (int c = 0; c < ds->ncols; c++) {
        const kiln_col *sc = &src->cols[c];
        if (sc->type != dst->cols[c].type || dst->cols[c].len != dst->nrows ||
            (sc->type == KILN_T_DECIMAL &&
             (ss->cols[c].precision != ds->cols[c].precision || ss->cols[c].scale != ds->cols[c].scale)))
            return kiln_err_set(err, KILN_EINVAL, "batch append: column %s does not match", ds->cols[c].name);
        if (ds->cols[c].required && sc->nulls && memchr(sc->nulls + start, 1, n))
            return kiln_err_set(err, KILN_EFORMAT, "column %s is required but got a null", ds->cols[c].name);
    }
    size_t at = dst->nrows;
    int rc = 0, c;
    for (c = 0; c < ds->ncols && !rc; c++) {
        const kiln_col *sc = &src->cols[c];
        kiln_col *dc = &dst->cols[c];
        if (sc->nulls && memchr(sc->nulls + start, 1, n)) {
            if (!dc->nulls && !(dc->nulls = kiln_calloc(dst->capacity, 1))) {
                rc = KILN_OOM(err);
                break;
            }
            memcpy(dc->nulls + at, sc->nulls + start, n);
        } else if (dc->nulls) {
            memset(dc->nulls + at, 0, n);
        }
        size_t w = width(sc->type);
        if (w) {
            memcpy(dc->v.b + w * at, sc->v.b + w * start, w * n);
        } else if (dc->offsets && sc->offsets) {
            uint32_t s0 = sc->offsets[start], s1 = sc->offsets[start + n];
            size_t base = dc->data.len;
            if (base + (s1 - s0) > UINT32_MAX) {
                rc = kiln_err_set(err, KILN_ELIMIT, "column %s: batch string data over 4 GB", ds->cols[c].name);
                break;
            }
            if ((rc = kiln_buf_append(&dc->data, sc->data.data + s0, s1 - s0, err))) {
                kiln_err_prefix(err, "column %s: ", ds->cols[c].name);
                break;
            }
            for (size_t i = 1; i <= n; i++)
                dc->offsets[at + i] = (uint32_t)(base + (sc->offsets[start + i] - s0));
        } else {
            rc = kiln_err_set(err, KILN_EINTERNAL, "batch append: column %s has no values", ds->cols[c].name);
            break;
        }
        dc->len = at + n;
    }
    if (rc) { /* the columns done so far go back */
        for (int k = 0; k <= c && k < ds->ncols; k++) {
            kiln_col *uc = &dst->cols[k];
            uc->len = at;
            if (uc->offsets)
                uc->data.len = uc->offsets[at];
            if (uc->nulls)
                memset(uc->nulls + at, 0, n);
        }
        return rc;
    }
    dst->nrows = at + n;
    return 0;
}

int kiln_batch_end_row(kiln_batch *b, kiln_err *err)
{
    for (int i = 0; i < b->schema->ncols; i++)
        if (b->cols[i].len != b->nrows + 1)
            return kiln_err_set(err, KILN_EINTERNAL, "batch row %zu: column %s has no value", b->nrows,
                                b->schema->cols[i].name);
    b->nrows++;
    return 0;
}
