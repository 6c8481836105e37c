/*
 * batch.h - columnar row batches: the unit of data between kiln's
 * producers (the GitHub-events engine, scans) and sinks (CSV, NDJSON,
 * Parquet, Iceberg). A schema names typed columns with Iceberg field ids;
 * a batch holds up to `capacity` rows as one array per column plus a null
 * map, strings as offsets into one byte buffer per column.
 *
 * Building: append values column by column for each row, then call
 * kiln_batch_end_row(); kiln_batch_clear() empties it for reuse (memory is
 * kept). A batch belongs to one thread.
 */
#ifndef KILN_BATCH_H
#define KILN_BATCH_H

#include "base/base.h"

#include <string.h>

typedef enum kiln_type {
    KILN_T_BOOL = 1,
    KILN_T_INT32,
    KILN_T_INT64,
    KILN_T_FLOAT,
    KILN_T_DOUBLE,
    KILN_T_STRING, /* UTF-8 */
    KILN_T_BINARY,
    KILN_T_DATE,        /* int32 days since 1970-01-01 */
    KILN_T_TIMESTAMPTZ, /* int64 microseconds since epoch, UTC (Iceberg timestamptz) */
    KILN_T_TIMESTAMP,   /* int64 microseconds, no zone (Iceberg timestamp) */
    KILN_T_DECIMAL,     /* int64 unscaled value; precision <= 18 */
    /* Read-side types for what other engines write (interop, docs/interop.md),
     * both held as bytes like STRING: */
    KILN_T_DECIMAL_WIDE, /* decimal(P,S), 19 <= P <= 38, as exact text "-12.34500" */
    KILN_T_JSON,         /* a struct, list or map value as JSON text */
    KILN_T_TIME,         /* int64 microseconds since midnight (Iceberg time) */
    KILN_T_UUID          /* 16 bytes, held as bytes; text form 8-4-4-4-12 hex */
} kiln_type;

/* Types whose values are byte strings (offsets + data) in a batch. */
static inline int kiln_type_is_bytes(kiln_type t)
{
    return t == KILN_T_STRING || t == KILN_T_BINARY || t == KILN_T_DECIMAL_WIDE || t == KILN_T_JSON || t == KILN_T_UUID;
}

const char *kiln_type_name(kiln_type t); /* "long", "string", ... (Iceberg names) */

/* The shape of a nested (KILN_T_JSON) column, for writers (the Parquet
 * writer's options carry one per nested column): a tree of structs, lists
 * and maps over primitive leaves, with the Iceberg field id of every node.
 * Values travel as JSON text (objects for structs and maps, arrays for
 * lists; the forms the Parquet reader prints). */
typedef enum { KILN_NEST_PRIM = 0, KILN_NEST_STRUCT, KILN_NEST_LIST, KILN_NEST_MAP } kiln_nest_kind;
typedef struct kiln_nested kiln_nested;
struct kiln_nested {
    kiln_nest_kind kind;
    const char *name;     /* struct field name; "element", "key", "value" in lists and maps */
    int field_id;         /* Iceberg id (struct field, element-id, key-id, value-id) */
    int required;         /* 1: never null (map keys always) */
    kiln_type type;       /* KILN_NEST_PRIM: a primitive kiln type */
    int precision, scale; /* decimals */
    int nkids;            /* STRUCT: fields; LIST: 1 (element); MAP: 2 (key, value) */
    const kiln_nested *kids;
    const char *wdef; /* struct field: its write-default as nested JSON text (v3), written when a
                         value lacks the key; NULL: none (null) */
};

typedef struct kiln_column_def {
    const char *name; /* borrowed for the schema's lifetime */
    kiln_type type;
    int required;         /* 1: no nulls allowed */
    int field_id;         /* Iceberg field id (> 0) */
    int precision, scale; /* decimals only */
} kiln_column_def;

typedef struct kiln_schema {
    int ncols;
    const kiln_column_def *cols; /* borrowed */
} kiln_schema;

/* Index of a column by name, or -1. */
int kiln_schema_find(const kiln_schema *s, const char *name);

typedef struct kiln_col {
    kiln_type type;
    uint8_t *nulls; /* one byte per row: 1 = null; NULL when no row is null */
    union {
        uint8_t *b;   /* BOOL: 0/1 */
        int32_t *i32; /* INT32, DATE */
        int64_t *i64; /* INT64, TIMESTAMP*, DECIMAL */
        float *f32;
        double *f64;
    } v;               /* fixed-width values (unused for STRING/BINARY) */
    uint32_t *offsets; /* STRING/BINARY: capacity+1 offsets into data */
    kiln_buf data;     /* STRING/BINARY bytes (capped) */
    size_t len;        /* values appended for the current batch */
} kiln_col;

typedef struct kiln_batch {
    const kiln_schema *schema; /* borrowed */
    size_t nrows, capacity;
    kiln_col *cols; /* schema->ncols columns */
} kiln_batch;

/* Caller frees with kiln_batch_free. string_cap caps each string column's
 * byte buffer (0 = 256 MB); exceeding it is KILN_ELIMIT. */
int kiln_batch_new(kiln_batch **out, const kiln_schema *schema, size_t capacity, size_t string_cap, kiln_err *err);
void kiln_batch_free(kiln_batch *b);
void kiln_batch_clear(kiln_batch *b);
static inline int kiln_batch_full(const kiln_batch *b) { return b->nrows >= b->capacity; }

/* Append to column c of the row being built. The caller appends exactly one
 * value (or null) to every column, then kiln_batch_end_row. */
int kiln_batch_put_null(kiln_batch *b, int c, kiln_err *err);
int kiln_batch_put_bool(kiln_batch *b, int c, int v, kiln_err *err);
int kiln_batch__put_i32(kiln_batch *b, int c, int32_t v, kiln_err *err);
int kiln_batch__put_i64(kiln_batch *b, int c, int64_t v, kiln_err *err);
int kiln_batch_put_f32(kiln_batch *b, int c, float v, kiln_err *err);
int kiln_batch_put_f64(kiln_batch *b, int c, double v, kiln_err *err);
int kiln_batch__put_str(kiln_batch *b, int c, const char *p, size_t n, kiln_err *err);
/* Checks every column got one value; KILN_EINTERNAL otherwise. */
int kiln_batch_end_row(kiln_batch *b, kiln_err *err);
/* Append rows [start, start + n) of src to dst (no row being built in
 * either), column by column: the same column count and types (decimals:
 * the same precision and scale) are required (KILN_EINVAL), n must fit in
 * dst's capacity (KILN_ELIMIT), and a null in a column dst requires is
 * KILN_EFORMAT (dst is then left as it was). */
int kiln_batch_append(kiln_batch *dst, const kiln_batch *src, size_t start, size_t n, kiln_err *err);

/* The hot puts, inline: the common case (value in order, room in the
 * batch and in the string buffer) without a call; anything else (errors,
 * growing the buffer) goes to the out-of-line kiln_batch__put_*. The
 * engine appends ~4 M values per second per core through these. */
static inline int kiln_batch_put_i64(kiln_batch *b, int c, int64_t v, kiln_err *err)
{
    kiln_col *col = &b->cols[c];
    if (__builtin_expect(col->len == b->nrows && b->nrows < b->capacity && !col->offsets, 1)) {
        col->v.i64[col->len++] = v;
        return 0;
    }
    return kiln_batch__put_i64(b, c, v, err);
}

static inline int kiln_batch_put_i32(kiln_batch *b, int c, int32_t v, kiln_err *err)
{
    kiln_col *col = &b->cols[c];
    if (__builtin_expect(col->len == b->nrows && b->nrows < b->capacity && !col->offsets, 1)) {
        col->v.i32[col->len++] = v;
        return 0;
    }
    return kiln_batch__put_i32(b, c, v, err);
}

static inline int kiln_batch_put_str(kiln_batch *b, int c, const char *p, size_t n, kiln_err *err)
{
    kiln_col *col = &b->cols[c];
    if (__builtin_expect(col->len == b->nrows && b->nrows < b->capacity && col->offsets &&
                             col->data.alloc - col->data.len > n && col->data.len + n <= col->data.cap &&
                             col->data.len + n <= 0xffffffffu,
                         1)) {
        memcpy(col->data.data + col->data.len, p, n);
        col->data.len += n;
        col->data.data[col->data.len] = 0;
        col->offsets[++col->len] = (uint32_t)col->data.len;
        return 0;
    }
    return kiln_batch__put_str(b, c, p, n, err);
}

static inline int kiln_batch_is_null(const kiln_batch *b, int c, size_t row)
{
    return b->cols[c].nulls && b->cols[c].nulls[row];
}
static inline const char *kiln_batch_str(const kiln_batch *b, int c, size_t row, size_t *n)
{
    const kiln_col *col = &b->cols[c];
    *n = col->offsets[row + 1] - col->offsets[row];
    return col->data.data + col->offsets[row];
}

/* ------------------------------------------------------------------ sinks */

/* A sink consumes batches for one output (a partition file, a table).
 * write may be called many times; then exactly one of commit or abort.
 * commit makes everything written visible atomically; abort leaves no
 * trace (temp files removed). free releases the sink (after commit/abort). */
typedef struct kiln_sink kiln_sink;
typedef struct kiln_sink_ops {
    int (*write)(kiln_sink *s, const kiln_batch *b, kiln_err *err);
    int (*commit)(kiln_sink *s, kiln_err *err);
    void (*abort)(kiln_sink *s);
    void (*free)(kiln_sink *s);
} kiln_sink_ops;
struct kiln_sink {
    const kiln_sink_ops *ops;
};

static inline int kiln_sink_write(kiln_sink *s, const kiln_batch *b, kiln_err *err) { return s->ops->write(s, b, err); }
static inline int kiln_sink_commit(kiln_sink *s, kiln_err *err) { return s->ops->commit(s, err); }
static inline void kiln_sink_abort(kiln_sink *s) { s->ops->abort(s); }
static inline void kiln_sink_free(kiln_sink *s)
{
    if (s)
        s->ops->free(s);
}

#endif
