/*
 * parquet_write.c - kiln's Parquet writer (see parquet.h).
 *
 * DESIGN
 * Each column keeps the page being built (definition levels as uint32,
 * values either PLAIN-encoded bytes or dictionary indices) and the encoded
 * data pages of the current row group (the column chunk, in memory).
 * A page is cut when its encoded values reach page_bytes (or 128K rows);
 * it is then level-encoded, compressed and appended, header first, to the
 * chunk buffer. At the end of a row group each column writes its
 * dictionary page (if any entry was used) followed by its data pages, so
 * memory is bounded by one row group's compressed chunks.
 *
 * Dictionary: a per-chunk open-addressing hash table over the PLAIN bytes
 * of the distinct values. When the dictionary's PLAIN size passes
 * dict_max_bytes the column falls back to PLAIN for the rest of the chunk
 * (the pages already written keep RLE_DICTIONARY; this is what parquet-mr
 * does too). Booleans are always PLAIN.
 *
 * Statistics: min/max over non-null, non-NaN values in the type's order
 * (signed ints, IEEE floats with -0.0 < +0.0 resolved per the spec,
 * unsigned-byte lexicographic strings), tracked per chunk (for the footer)
 * and per file (for Iceberg's data_file bounds). In dictionary mode only
 * new dictionary entries are compared.
 */
#include "format/parquet/parquet_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#define PAGE_MAX_ROWS (128u * 1024)
/* values after which a column whose values were nearly all distinct leaves
 * the dictionary (col_append) */
#define DICT_PROBE_VALUES 4096u

enum { K_BOOL, K_I32, K_I64, K_F32, K_F64, K_BYTES };

typedef struct bound {
    int has;
    int64_t i;
    double d;
    kiln_buf s; /* K_BYTES: full value */
} bound;

/* Per-thread scratch: page assembly, compression output, a ZSTD context. */
typedef struct wworker {
    kiln_buf scratch, comp;
    ZSTD_CCtx *zc;
} wworker;

/* A page encoded but not yet compressed (threaded writers). Compression
 * runs as one pool task per page, submitted after each round of column
 * tasks without waiting (submit_pending), so it overlaps the next round's
 * encoding and a heavy column's pages spread over every thread instead of
 * one thread compressing a whole column chunk. The pages are appended to
 * their chunks in order at the end of the row group (finish_pending), so
 * the file is byte-identical to compressing inline. */
typedef struct pend_page {
    pq_page_header h;
    kiln_buf raw; /* encoded page; freed once compressed */
    size_t len;
    kiln_buf *dst; /* the column's chunk or dictpage */
    kiln_buf out;  /* compressed bytes */
    struct kiln_parquet_writer *w;
    int submitted;
    int rc;
    kiln_err err;
} pend_page;

typedef struct wcol {
    const kiln_column_def *def; /* the schema column, or a nested column's leaf (pq_sleaf.def) */
    int top;                    /* the schema (batch) column it belongs to */
    pq_sleaf *leaf;             /* nested leaf: its shredded entries; NULL for a flat column */
    int max_def, max_rep;       /* flat: 0/1 and 0 */
    const char **path;          /* column path in the footer */
    int npath;
    const uint32_t *task_defs, *task_reps; /* nested leaf: levels of the task's entries */
    uint32_t *reps;                        /* page being built: repetition levels (nested) */
    struct kiln_parquet_writer *w;
    wworker *wk; /* the thread working on this column right now */
    /* a task (one slice of a batch, or the end of a row group) */
    const kiln_col *task_bc;
    size_t task_start, task_end;
    uint64_t task_weight; /* for ordering a round's tasks, heaviest first */
    int task_rc;
    kiln_err task_err;
    kiln_buf dictpage;          /* encoded dictionary page at the end of a row group */
    KILN_VEC(pend_page *) pend; /* pages waiting for compression (threaded writers) */
    int kind;
    int phys;
    size_t width; /* fixed-width PLAIN size (0 for bytes / bool) */
    /* page being built */
    uint32_t *defs;
    size_t ndefs, defs_alloc;
    kiln_buf vals; /* PLAIN values (plain mode) */
    uint32_t *idx; /* dictionary indices (dict mode) */
    size_t nidx, idx_alloc;
    size_t page_nulls;
    /* chunk */
    kiln_buf chunk;
    uint32_t encodings;
    int64_t chunk_values, chunk_nulls, chunk_nan;
    uint64_t chunk_uncomp, chunk_comp;
    uint64_t chunk_raw;        /* page bodies before compression: what cuts row groups */
    int dict_mode, dict_pages; /* dict pages written in this chunk */
    /* dictionary */
    kiln_buf dict; /* PLAIN-encoded distinct values */
    uint32_t ndict;
    uint32_t *dict_off;  /* K_BYTES: offset of each entry's length prefix */
    uint64_t *dict_hash; /* K_BYTES: hash of each entry */
    size_t dict_alloc;
    uint32_t *ht;   /* slot -> entry + 1 */
    size_t ht_size; /* power of two */
    kiln_col wide;  /* DECIMAL_WIDE: the batch's text as two's complement bytes */
    /* stats */
    bound cmin, cmax; /* chunk */
    bound fmin, fmax; /* file */
    uint64_t f_values, f_nulls, f_nan, f_size;
} wcol;

struct kiln_parquet_writer {
    char *path;
    int fd;
    uint64_t pos;
    uint64_t synced; /* writeback started up to here */
    const kiln_schema *schema;
    kiln_parquet_write_opts o;
    wcol *cols;
    uint64_t rows, rg_rows;
    int nwk;
    wworker *wks;
    kiln_pool *pool;          /* NULL when single-threaded */
    pthread_mutex_t spare_mu; /* page buffers handed back by compression tasks */
    kiln_buf spare[16];
    int nspare;
    kiln_arena *meta; /* footer metadata */
    KILN_VEC(pq_rowgroup) rgs;
    KILN_VEC(int64_t) splits;
    int nkv;
    char **kv_keys, **kv_values;
    int closed, failed;
    int ncols;           /* leaf columns (= cols): a nested column has one per primitive leaf */
    pq_shredder **shred; /* per schema column: the nested column's shredder, or NULL */
};

void kiln_parquet_write_opts_init(kiln_parquet_write_opts *o)
{
    memset(o, 0, sizeof *o);
    o->codec = KILN_PQ_ZSTD;
}

void kiln_parquet_file_stats_free(kiln_parquet_file_stats *s)
{
    if (!s)
        return;
    kiln_free(s->cols);
    kiln_free(s->split_offsets);
    s->cols = NULL;
    s->split_offsets = NULL;
    s->ncols = 0;
    s->nsplits = 0;
}

size_t kiln_parquet_decimal_bound(uint8_t out[8], int64_t v)
{
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    int start = 0;
    /* drop leading bytes that are pure sign extension */
    while (start < 7 &&
           ((be[start] == 0x00 && !(be[start + 1] & 0x80)) || (be[start] == 0xff && (be[start + 1] & 0x80))))
        start++;
    memcpy(out, be + start, (size_t)(8 - start));
    return (size_t)(8 - start);
}

uint64_t kiln_parquet_writer_rows(const kiln_parquet_writer *w) { return w->rows; }
uint64_t kiln_parquet_writer_bytes(const kiln_parquet_writer *w) { return w->pos; }

/* ------------------------------------------------------------ file I/O */

static int put(kiln_parquet_writer *w, const void *p, size_t n, kiln_err *err)
{
    const char *s = p;
    while (n) {
        ssize_t k = write(w->fd, s, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return kiln_err_set(err, KILN_EIO, "%s: write failed: %s", w->path, strerror(errno));
        }
        s += k;
        n -= (size_t)k;
        w->pos += (uint64_t)k;
    }
    return 0;
}

/* ------------------------------------------------------------ schema */

static void col_kind(wcol *c)
{
    switch (c->def->type) {
    case KILN_T_BOOL:
        c->kind = K_BOOL;
        c->phys = KILN_PQT_BOOLEAN;
        c->width = 0;
        break;
    case KILN_T_INT32:
    case KILN_T_DATE:
        c->kind = K_I32;
        c->phys = KILN_PQT_INT32;
        c->width = 4;
        break;
    case KILN_T_INT64:
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ:
    case KILN_T_DECIMAL:
    case KILN_T_TIME:
        c->kind = K_I64;
        c->phys = KILN_PQT_INT64;
        c->width = 8;
        break;
    case KILN_T_FLOAT:
        c->kind = K_F32;
        c->phys = KILN_PQT_FLOAT;
        c->width = 4;
        break;
    case KILN_T_DOUBLE:
        c->kind = K_F64;
        c->phys = KILN_PQT_DOUBLE;
        c->width = 8;
        break;
    default:
        c->kind = K_BYTES;
        c->phys = KILN_PQT_BYTE_ARRAY;
        c->width = 0;
        break;
    }
}

static void schema_el(pq_schema_el *e, const kiln_column_def *d, int phys)
{
    memset(e, 0, sizeof *e);
    e->type = phys;
    e->repetition = d->required ? 0 : 1;
    e->name = d->name;
    e->converted = PQ_CT_NONE;
    e->has_field_id = d->field_id > 0;
    e->field_id = d->field_id;
    switch (d->type) {
    case KILN_T_STRING:
        e->logical = PQ_LT_STRING;
        e->converted = PQ_CT_UTF8;
        break;
    case KILN_T_DATE:
        e->logical = PQ_LT_DATE;
        e->converted = PQ_CT_DATE;
        break;
    case KILN_T_TIMESTAMPTZ:
        e->logical = PQ_LT_TIMESTAMP;
        e->lt_utc = 1;
        e->lt_unit = PQ_UNIT_MICROS;
        e->converted = PQ_CT_TIMESTAMP_MICROS;
        break;
    case KILN_T_TIMESTAMP:
        e->logical = PQ_LT_TIMESTAMP;
        e->lt_utc = 0;
        e->lt_unit = PQ_UNIT_MICROS;
        break;
    case KILN_T_INT64: /* nanosecond timestamps (no converted type: none has NANOS) */
        if (d->scale == KILN_PARQUET_TS_NANOS || d->scale == KILN_PARQUET_TSTZ_NANOS) {
            e->logical = PQ_LT_TIMESTAMP;
            e->lt_utc = d->scale == KILN_PARQUET_TSTZ_NANOS;
            e->lt_unit = PQ_UNIT_NANOS;
        }
        break;
    case KILN_T_TIME:
        e->logical = PQ_LT_TIME;
        e->lt_utc = 0;
        e->lt_unit = PQ_UNIT_MICROS;
        e->converted = PQ_CT_TIME_MICROS;
        break;
    case KILN_T_DECIMAL:
    case KILN_T_DECIMAL_WIDE: /* BYTE_ARRAY: minimal big-endian two's complement */
        e->logical = PQ_LT_DECIMAL;
        e->converted = PQ_CT_DECIMAL;
        e->lt_scale = e->scale = d->scale;
        e->lt_precision = e->precision = d->precision;
        break;
    default: break;
    }
}

/* ------------------------------------------------------------ open */

static void col_reset_dict(kiln_parquet_writer *w, wcol *c)
{
    kiln_buf_reset(&c->dict);
    c->ndict = 0;
    if (c->ht)
        memset(c->ht, 0, c->ht_size * sizeof(uint32_t));
    c->dict_mode = !w->o.no_dictionary && c->kind != K_BOOL && !c->leaf; /* nested leaves: PLAIN (pages end at rows) */
    c->dict_pages = 0;
}

int kiln_parquet_writer_open(kiln_parquet_writer **out, const char *path, const kiln_schema *schema,
                             const kiln_parquet_write_opts *opts, kiln_err *err)
{
    *out = NULL;
    int rc = 0;
    kiln_parquet_writer *w = kiln_calloc(1, sizeof *w);
    if (!w)
        return KILN_OOM(err);
    w->fd = -1;
    if (opts)
        w->o = *opts;
    else
        kiln_parquet_write_opts_init(&w->o);
    if (!w->o.row_group_bytes)
        w->o.row_group_bytes = (uint64_t)128 << 20;
    if (!w->o.page_bytes)
        w->o.page_bytes = (size_t)1 << 20;
    if (!w->o.dict_max_bytes)
        w->o.dict_max_bytes = (size_t)1 << 20;
    if (!w->o.stats_max_bytes)
        w->o.stats_max_bytes = 64;
    if (w->o.stats_max_bytes > KILN_PARQUET_BOUND_MAX)
        w->o.stats_max_bytes = KILN_PARQUET_BOUND_MAX;
    if (w->o.stats_max_bytes < 8)
        w->o.stats_max_bytes = 8;
    w->schema = schema;
    if (!kiln_pq_codec_supported(w->o.codec)) {
        rc = kiln_err_set(err, KILN_EUNSUPP,
                          "parquet writer: codec %s is not supported (use none, snappy, gzip or zstd)",
                          kiln_pq_codec_name(w->o.codec));
        goto done;
    }
    if (schema->ncols < 1) {
        rc = kiln_err_set(err, KILN_EINVAL, "parquet writer: the schema has no columns");
        goto done;
    }
    w->meta = kiln_arena_new(64 * 1024);
    w->path = kiln_strdup(path);
    w->shred = kiln_calloc((size_t)schema->ncols, sizeof(pq_shredder *));
    if (!w->meta || !w->path || !w->shred) {
        rc = KILN_OOM(err);
        goto done;
    }
    w->ncols = 0;
    for (int i = 0; i < schema->ncols; i++) {
        const kiln_column_def *d = &schema->cols[i];
        if (d->type == KILN_T_JSON) {
            const kiln_nested *shape = i < w->o.nnested && w->o.nested ? w->o.nested[i] : NULL;
            if ((rc = kiln_pq__shred_new(&w->shred[i], d, shape, w->meta, err)))
                goto done;
            w->ncols += w->shred[i]->nleaves;
        } else {
            w->ncols++;
        }
    }
    w->cols = kiln_calloc((size_t)w->ncols, sizeof(wcol));
    if (!w->cols) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int i = 0, ci = 0; i < schema->ncols; i++) {
        int nl = w->shred[i] ? w->shred[i]->nleaves : 1;
        for (int k = 0; k < nl; k++) {
            wcol *c = &w->cols[ci++];
            c->top = i;
            c->w = w;
            kiln_buf_init(&c->dictpage, 0);
            kiln_buf_init(&c->vals, 0);
            kiln_buf_init(&c->chunk, 0);
            kiln_buf_init(&c->dict, 0);
            kiln_buf_init(&c->cmin.s, 0);
            kiln_buf_init(&c->cmax.s, 0);
            kiln_buf_init(&c->fmin.s, 0);
            kiln_buf_init(&c->fmax.s, 0);
            if (w->shred[i]) {
                c->leaf = &w->shred[i]->leaves[k];
                c->def = &c->leaf->def;
                c->max_def = c->leaf->max_def;
                c->max_rep = c->leaf->max_rep;
                c->path = c->leaf->path;
                c->npath = c->leaf->npath;
            } else {
                c->def = &schema->cols[i];
                c->max_def = c->def->required ? 0 : 1;
                c->path = kiln_arena_alloc(w->meta, sizeof(char *));
                if (!c->path) {
                    rc = KILN_OOM(err);
                    goto done;
                }
                c->path[0] = c->def->name;
                c->npath = 1;
            }
        }
    }
    for (int i = 0; i < w->ncols; i++) {
        wcol *c = &w->cols[i];
        const kiln_column_def *d = c->def;
        col_kind(c);
        if (d->type == KILN_T_DECIMAL_WIDE &&
            (d->precision < 19 || d->precision > 38 || d->scale < 0 || d->scale > d->precision)) {
            rc = kiln_err_set(err, KILN_EINVAL, "parquet writer: column %s: decimal(%d,%d) needs 19 <= precision <= 38",
                              d->name, d->precision, d->scale);
            goto done;
        }
        if (d->type == KILN_T_DECIMAL &&
            (d->precision < 1 || d->precision > 18 || d->scale < 0 || d->scale > d->precision)) {
            rc = kiln_err_set(
                err, KILN_EINVAL,
                "parquet writer: column %s: decimal(%d,%d) needs 1 <= precision <= 18 and 0 <= scale <= precision",
                d->name, d->precision, d->scale);
            goto done;
        }
        col_reset_dict(w, c);
    }
    if (w->o.nkv > 0) {
        w->kv_keys = kiln_arena_alloc(w->meta, sizeof(char *) * (size_t)w->o.nkv);
        w->kv_values = kiln_arena_alloc(w->meta, sizeof(char *) * (size_t)w->o.nkv);
        if (!w->kv_keys || !w->kv_values) {
            rc = KILN_OOM(err);
            goto done;
        }
        for (int i = 0; i < w->o.nkv; i++) {
            const char *k = w->o.kv[i].key ? w->o.kv[i].key : "";
            const char *v = w->o.kv[i].value;
            w->kv_keys[i] = kiln_arena_strndup(w->meta, k, strlen(k));
            w->kv_values[i] = v ? kiln_arena_strndup(w->meta, v, strlen(v)) : NULL;
            if (!w->kv_keys[i] || (v && !w->kv_values[i])) {
                rc = KILN_OOM(err);
                goto done;
            }
        }
        w->nkv = w->o.nkv;
    }
    w->o.kv = NULL;
    w->nwk = w->o.threads > 1 ? (w->o.threads > 64 ? 64 : w->o.threads) : 1;
    if (w->nwk > w->ncols)
        w->nwk = w->ncols;
    pthread_mutex_init(&w->spare_mu, NULL);
    w->wks = kiln_calloc((size_t)w->nwk, sizeof(wworker));
    if (!w->wks) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int i = 0; i < w->nwk; i++) {
        kiln_buf_init(&w->wks[i].scratch, 0);
        kiln_buf_init(&w->wks[i].comp, 0);
        if (w->o.codec == KILN_PQ_ZSTD && !(w->wks[i].zc = ZSTD_createCCtx())) {
            rc = KILN_OOM(err);
            goto done;
        }
    }
    if (w->nwk > 1 && (rc = kiln_pool_new(&w->pool, w->nwk, err)))
        goto done;
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = kiln_err_set(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EIO, "%s: cannot create: %s", path,
                          strerror(errno));
        goto done;
    }
    rc = put(w, "PAR1", 4, err);
done:
    if (rc) {
        if (w->fd >= 0)
            unlink(path);
        kiln_parquet_writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void kiln_parquet_writer_free(kiln_parquet_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->shred) {
        for (int i = 0; i < w->schema->ncols; i++)
            kiln_pq__shred_free(w->shred[i]);
        kiln_free(w->shred);
    }
    if (w->cols) {
        for (int i = 0; i < w->ncols; i++) {
            wcol *c = &w->cols[i];
            kiln_free(c->defs);
            kiln_free(c->reps);
            kiln_free(c->idx);
            kiln_buf_free(&c->vals);
            kiln_free(c->wide.offsets);
            kiln_buf_free(&c->wide.data);
            kiln_buf_free(&c->chunk);
            kiln_buf_free(&c->dictpage);
            for (size_t k = 0; k < c->pend.len; k++) {
                kiln_buf_free(&c->pend.items[k]->raw);
                kiln_buf_free(&c->pend.items[k]->out);
                kiln_free(c->pend.items[k]);
            }
            kiln_vec_free(&c->pend);
            kiln_buf_free(&c->dict);
            kiln_free(c->dict_off);
            kiln_free(c->dict_hash);
            kiln_free(c->ht);
            kiln_buf_free(&c->cmin.s);
            kiln_buf_free(&c->cmax.s);
            kiln_buf_free(&c->fmin.s);
            kiln_buf_free(&c->fmax.s);
        }
        kiln_free(w->cols);
    }
    kiln_pool_free(w->pool);
    for (int i = 0; i < w->nspare; i++)
        kiln_buf_free(&w->spare[i]);
    if (w->wks)
        pthread_mutex_destroy(&w->spare_mu);
    if (w->wks) {
        for (int i = 0; i < w->nwk; i++) {
            kiln_buf_free(&w->wks[i].scratch);
            kiln_buf_free(&w->wks[i].comp);
            if (w->wks[i].zc)
                ZSTD_freeCCtx(w->wks[i].zc);
        }
        kiln_free(w->wks);
    }
    kiln_vec_free(&w->rgs);
    kiln_vec_free(&w->splits);
    kiln_arena_free(w->meta);
    kiln_free(w->path);
    kiln_free(w);
}

/* ------------------------------------------------------------ stats */

static int bytes_less(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = memcmp(a, b, m);
    return c < 0 || (c == 0 && an < bn);
}

static inline void stat_i(bound *mn, bound *mx, int64_t v)
{
    if (!mn->has) {
        mn->has = mx->has = 1;
        mn->i = mx->i = v;
        return;
    }
    if (v < mn->i)
        mn->i = v;
    if (v > mx->i)
        mx->i = v;
}

/* NaNs are counted by the caller and never reach here. */
static inline void stat_d(bound *mn, bound *mx, double v)
{
    if (!mn->has) {
        mn->has = mx->has = 1;
        mn->d = mx->d = v;
        return;
    }
    if (v < mn->d || (v == 0 && mn->d == 0 && signbit(v)))
        mn->d = v;
    if (v > mx->d || (v == 0 && mx->d == 0 && !signbit(v)))
        mx->d = v;
}

static inline int stat_s(bound *mn, bound *mx, const uint8_t *p, size_t n, kiln_err *err)
{
    int rc = 0;
    if (!mn->has || bytes_less(p, n, (const uint8_t *)mn->s.data, mn->s.len)) {
        kiln_buf_reset(&mn->s);
        rc = kiln_buf_append(&mn->s, p, n, err);
        mn->has = 1;
    }
    if (!rc && (!mx->has || bytes_less((const uint8_t *)mx->s.data, mx->s.len, p, n))) {
        kiln_buf_reset(&mx->s);
        rc = kiln_buf_append(&mx->s, p, n, err);
        mx->has = 1;
    }
    return rc;
}

/* Length of the longest prefix of p[0..n) that is at most max bytes and
 * ends at a UTF-8 code point boundary (raw bytes for binary). */
static size_t utf8_cut(const uint8_t *p, size_t n, size_t max, int utf8)
{
    if (n <= max)
        return n;
    size_t k = max;
    if (utf8)
        while (k > 0 && (p[k] & 0xc0) == 0x80)
            k--;
    return k;
}

/* Encode a bound as PLAIN bytes into out (KILN_PARQUET_BOUND_MAX).
 * upper: for truncated strings, increment. Returns 0 if no bound exists. */
static int bound_bytes(const wcol *c, const bound *b, int upper, size_t max, uint8_t *out, uint32_t *len)
{
    if (!b->has || c->def->type == KILN_T_DECIMAL_WIDE)
        return 0; /* byte order is not the signed order of the values: no bounds */
    switch (c->kind) {
    case K_BOOL:
        out[0] = (uint8_t)(b->i != 0);
        *len = 1;
        return 1;
    case K_I32: {
        int32_t v = (int32_t)b->i;
        memcpy(out, &v, 4);
        *len = 4;
        return 1;
    }
    case K_I64:
        memcpy(out, &b->i, 8);
        *len = 8;
        return 1;
    case K_F32: {
        float f = (float)b->d;
        if (f == 0)
            f = upper ? 0.0f : -0.0f;
        memcpy(out, &f, 4);
        *len = 4;
        return 1;
    }
    case K_F64: {
        double d = b->d;
        if (d == 0)
            d = upper ? 0.0 : -0.0;
        memcpy(out, &d, 8);
        *len = 8;
        return 1;
    }
    default: break;
    }
    const uint8_t *p = (const uint8_t *)b->s.data;
    size_t n = b->s.len;
    int utf8 = c->def->type == KILN_T_STRING;
    size_t k = utf8_cut(p, n, max, utf8);
    memcpy(out, p, k);
    *len = (uint32_t)k;
    if (k == n || !upper)
        return 1;
    /* upper bound of a truncated value: bump the last code point (byte for
     * binary); drop trailing ones that cannot be bumped */
    while (k > 0) {
        if (!utf8) {
            if (out[k - 1] != 0xff) {
                out[k - 1]++;
                *len = (uint32_t)k;
                return 1;
            }
            k--;
            continue;
        }
        size_t s = k - 1;
        while (s > 0 && (out[s] & 0xc0) == 0x80)
            s--;
        /* decode code point out[s..k) */
        uint32_t cp;
        size_t cl = k - s;
        if (cl == 1)
            cp = out[s];
        else if (cl == 2)
            cp = (uint32_t)(out[s] & 0x1f) << 6 | (out[s + 1] & 0x3f);
        else if (cl == 3)
            cp = (uint32_t)(out[s] & 0x0f) << 12 | (uint32_t)(out[s + 1] & 0x3f) << 6 | (out[s + 2] & 0x3f);
        else
            cp = (uint32_t)(out[s] & 0x07) << 18 | (uint32_t)(out[s + 1] & 0x3f) << 12 |
                 (uint32_t)(out[s + 2] & 0x3f) << 6 | (out[s + 3] & 0x3f);
        cp++;
        if (cp >= 0xd800 && cp < 0xe000)
            cp = 0xe000;
        size_t nl = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (cp <= 0x10ffff && s + nl <= max) {
            uint8_t *q = out + s;
            if (nl == 1)
                q[0] = (uint8_t)cp;
            else if (nl == 2) {
                q[0] = (uint8_t)(0xc0 | cp >> 6);
                q[1] = (uint8_t)(0x80 | (cp & 0x3f));
            } else if (nl == 3) {
                q[0] = (uint8_t)(0xe0 | cp >> 12);
                q[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                q[2] = (uint8_t)(0x80 | (cp & 0x3f));
            } else {
                q[0] = (uint8_t)(0xf0 | cp >> 18);
                q[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
                q[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                q[3] = (uint8_t)(0x80 | (cp & 0x3f));
            }
            *len = (uint32_t)(s + nl);
            return 1;
        }
        k = s;
    }
    return 0;
}

static int merge_bound(wcol *c, bound *dst, const bound *src, int is_max, kiln_err *err)
{
    if (!src->has)
        return 0;
    if (c->kind == K_BYTES) {
        int take =
            !dst->has ||
            (is_max ? bytes_less((const uint8_t *)dst->s.data, dst->s.len, (const uint8_t *)src->s.data, src->s.len)
                    : bytes_less((const uint8_t *)src->s.data, src->s.len, (const uint8_t *)dst->s.data, dst->s.len));
        if (take) {
            kiln_buf_reset(&dst->s);
            int rc = kiln_buf_append(&dst->s, src->s.data, src->s.len, err);
            if (rc)
                return rc;
            dst->has = 1;
        }
        return 0;
    }
    if (c->kind == K_F32 || c->kind == K_F64) {
        int take = !dst->has || (is_max ? (src->d > dst->d || (src->d == 0 && dst->d == 0 && !signbit(src->d)))
                                        : (src->d < dst->d || (src->d == 0 && dst->d == 0 && signbit(src->d))));
        if (take)
            dst->d = src->d;
        dst->has = 1;
        return 0;
    }
    if (!dst->has || (is_max ? src->i > dst->i : src->i < dst->i))
        dst->i = src->i;
    dst->has = 1;
    return 0;
}

/* ------------------------------------------------------------ dictionary */

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static int ht_grow(wcol *c, kiln_err *err)
{
    size_t nsize = c->ht_size ? c->ht_size * 2 : 1024;
    uint32_t *nt = kiln_calloc(nsize, sizeof(uint32_t));
    if (!nt)
        return KILN_OOM(err);
    for (uint32_t e = 0; e < c->ndict; e++) {
        uint64_t h;
        if (c->kind == K_BYTES) {
            h = c->dict_hash[e];
        } else {
            uint64_t key = 0;
            memcpy(&key, c->dict.data + (size_t)e * c->width, c->width);
            h = mix64(key);
        }
        size_t s = h & (nsize - 1);
        while (nt[s])
            s = (s + 1) & (nsize - 1);
        nt[s] = e + 1;
    }
    kiln_free(c->ht);
    c->ht = nt;
    c->ht_size = nsize;
    return 0;
}

static int idx_push(wcol *c, uint32_t v, kiln_err *err)
{
    if (c->nidx == c->idx_alloc) {
        size_t na = c->idx_alloc ? c->idx_alloc * 2 : 4096;
        uint32_t *p = kiln_realloc(c->idx, na * sizeof(uint32_t));
        if (!p)
            return KILN_OOM(err);
        c->idx = p;
        c->idx_alloc = na;
    }
    c->idx[c->nidx++] = v;
    return 0;
}

/* Look up / insert a fixed-width value. *idx = entry; *added = 1 if new.
 * Returns 1 when the dictionary is full (caller falls back). */
static int dict_fixed(kiln_parquet_writer *w, wcol *c, uint64_t key, uint32_t *idx, int *added, kiln_err *err)
{
    if ((c->ndict + 1) * 2 > c->ht_size) {
        int rc = ht_grow(c, err);
        if (rc)
            return rc;
    }
    size_t mask = c->ht_size - 1, s = mix64(key) & mask;
    for (;;) {
        uint32_t e = c->ht[s];
        if (!e)
            break;
        uint64_t k2 = 0;
        memcpy(&k2, c->dict.data + (size_t)(e - 1) * c->width, c->width);
        if (k2 == key) {
            *idx = e - 1;
            *added = 0;
            return 0;
        }
        s = (s + 1) & mask;
    }
    if (c->dict.len + c->width > w->o.dict_max_bytes)
        return 1;
    int rc = kiln_buf_append(&c->dict, &key, c->width, err);
    if (rc)
        return rc;
    c->ht[s] = ++c->ndict;
    *idx = c->ndict - 1;
    *added = 1;
    return 0;
}

static int dict_bytes(kiln_parquet_writer *w, wcol *c, const uint8_t *p, uint32_t n, uint32_t *idx, int *added,
                      kiln_err *err)
{
    if ((c->ndict + 1) * 2 > c->ht_size) {
        int rc = ht_grow(c, err);
        if (rc)
            return rc;
    }
    uint64_t h = kiln_hash64(p, n);
    size_t mask = c->ht_size - 1, s = h & mask;
    for (;;) {
        uint32_t e = c->ht[s];
        if (!e)
            break;
        if (c->dict_hash[e - 1] == h) {
            const uint8_t *q = (const uint8_t *)c->dict.data + c->dict_off[e - 1];
            uint32_t qn;
            memcpy(&qn, q, 4);
            if (qn == n && memcmp(q + 4, p, n) == 0) {
                *idx = e - 1;
                *added = 0;
                return 0;
            }
        }
        s = (s + 1) & mask;
    }
    if (c->dict.len + 4 + n > w->o.dict_max_bytes)
        return 1;
    if (c->ndict == c->dict_alloc) {
        size_t na = c->dict_alloc ? c->dict_alloc * 2 : 1024;
        uint32_t *o = kiln_realloc(c->dict_off, na * sizeof(uint32_t));
        if (!o)
            return KILN_OOM(err);
        c->dict_off = o;
        uint64_t *hh = kiln_realloc(c->dict_hash, na * sizeof(uint64_t));
        if (!hh)
            return KILN_OOM(err);
        c->dict_hash = hh;
        c->dict_alloc = na;
    }
    c->dict_off[c->ndict] = (uint32_t)c->dict.len;
    c->dict_hash[c->ndict] = h;
    int rc = kiln_buf_append(&c->dict, &n, 4, err);
    if (!rc)
        rc = kiln_buf_append(&c->dict, p, n, err);
    if (rc)
        return rc;
    c->ht[s] = ++c->ndict;
    *idx = c->ndict - 1;
    *added = 1;
    return 0;
}

/* ------------------------------------------------------------ pages */

static int compress_into(kiln_parquet_writer *w, wworker *wk, const void *in, size_t n, const void **outp, size_t *outn,
                         kiln_err *err)
{
    if (w->o.codec == KILN_PQ_UNCOMPRESSED) {
        *outp = in;
        *outn = n;
        return 0;
    }
    kiln_buf_reset(&wk->comp);
    int rc;
    if (w->o.codec == KILN_PQ_ZSTD) {
        /* a reused context: ZSTD_compress would allocate one per page */
        size_t bound = ZSTD_compressBound(n);
        if ((rc = kiln_buf_reserve(&wk->comp, bound, err)))
            return rc;
        size_t got = ZSTD_compressCCtx(wk->zc, wk->comp.data, bound, in, n, w->o.level ? w->o.level : 3);
        if (ZSTD_isError(got))
            return kiln_err_set(err, KILN_EINTERNAL, "ZSTD: compressing %zu bytes failed: %s", n,
                                ZSTD_getErrorName(got));
        wk->comp.len = got;
    } else if ((rc = kiln_pq_compress(&wk->comp, w->o.codec, w->o.level, in, n, err))) {
        return rc;
    }
    *outp = wk->comp.data;
    *outn = wk->comp.len;
    return 0;
}

/* Append header + body of a page whose compressed bytes are cp/cn. */
static int put_page(wcol *c, pq_page_header *h, size_t rawn, const void *cp, size_t cn, kiln_buf *dst, kiln_err *err)
{
    if (rawn > INT32_MAX || cn > INT32_MAX)
        return kiln_err_set(err, KILN_ELIMIT, "parquet writer: column %s: a page of %zu bytes is over 2 GB",
                            c->def->name, rawn);
    h->uncompressed_size = (int32_t)rawn;
    h->compressed_size = (int32_t)cn;
    size_t before = dst->len;
    int rc;
    if ((rc = kiln_parquet__encode_page_header(dst, h, err)))
        return rc;
    size_t hlen = dst->len - before;
    if ((rc = kiln_buf_append(dst, cp, cn, err)))
        return rc;
    c->chunk_uncomp += hlen + rawn;
    c->chunk_comp += hlen + cn;
    return 0;
}

static int emit_page(kiln_parquet_writer *w, wcol *c, pq_page_header *h, const void *raw, size_t rawn, kiln_buf *dst,
                     kiln_err *err)
{
    int rc;
    if (dst == &c->chunk)
        c->chunk_raw += rawn;
    if (w->pool && w->o.codec != KILN_PQ_UNCOMPRESSED) {
        /* threaded: keep the page; a pool task compresses it later */
        pend_page *pp = kiln_calloc(1, sizeof *pp);
        if (!pp)
            return KILN_OOM(err);
        pp->h = *h;
        pp->len = rawn;
        pp->dst = dst;
        pp->w = w;
        kiln_buf_init(&pp->raw, 0);
        kiln_buf_init(&pp->out, 0);
        kiln_buf *scr = &c->wk->scratch;
        if (raw == scr->data && rawn == scr->len) {
            /* the page was built in the worker's scratch: take that buffer
             * and give the worker a recycled one (no copy) */
            pp->raw = *scr;
            kiln_buf_init(scr, 0);
            pthread_mutex_lock(&w->spare_mu);
            if (w->nspare)
                *scr = w->spare[--w->nspare];
            pthread_mutex_unlock(&w->spare_mu);
            kiln_buf_reset(scr);
            rc = 0;
        } else {
            rc = kiln_buf_append(&pp->raw, raw, rawn, err);
        }
        if (rc || (rc = kiln_vec_push(&c->pend, pp, err))) {
            kiln_buf_free(&pp->raw);
            kiln_free(pp);
        }
        return rc;
    }
    const void *cp = NULL;
    size_t cn = 0;
    if ((rc = compress_into(w, c->wk, raw, rawn, &cp, &cn, err)))
        return rc;
    return put_page(c, h, rawn, cp, cn, dst, err);
}

static void compress_task(void *arg, int worker)
{
    pend_page *pp = arg;
    kiln_parquet_writer *w = pp->w;
    kiln_err_clear(&pp->err);
    const void *cp = NULL;
    size_t cn = 0;
    pp->rc = compress_into(w, &w->wks[worker], pp->raw.data, pp->len, &cp, &cn, &pp->err);
    if (!pp->rc)
        pp->rc = kiln_buf_append(&pp->out, cp, cn, &pp->err);
    /* hand the page buffer back for the next page (a few are enough) */
    int kept = 0;
    pthread_mutex_lock(&w->spare_mu);
    if (w->nspare < (int)(sizeof w->spare / sizeof w->spare[0])) {
        w->spare[w->nspare++] = pp->raw;
        kept = 1;
    }
    pthread_mutex_unlock(&w->spare_mu);
    if (!kept)
        kiln_buf_free(&pp->raw);
    kiln_buf_init(&pp->raw, 0);
}

/* Submit a compression task for every page not submitted yet; no wait.
 * Called between rounds of column tasks (no column task is running). */
static int submit_pending(kiln_parquet_writer *w, kiln_err *err)
{
    for (int i = 0; i < w->ncols; i++) {
        wcol *c = &w->cols[i];
        for (size_t j = 0; j < c->pend.len; j++) {
            pend_page *pp = c->pend.items[j];
            if (pp->submitted)
                continue;
            pp->submitted = 1;
            int rc = kiln_pool_submit(w->pool, compress_task, pp, err);
            if (rc) {
                pp->submitted = 0;
                return rc;
            }
        }
    }
    return 0;
}

/* The pages not yet given to the pool (marked as given), biggest first. */
static int take_unsubmitted(kiln_parquet_writer *w, pend_page ***out, size_t *n, kiln_err *err)
{
    size_t k = 0;
    *out = NULL;
    *n = 0;
    for (int i = 0; i < w->ncols; i++)
        for (size_t j = 0; j < w->cols[i].pend.len; j++)
            k += !w->cols[i].pend.items[j]->submitted;
    if (!k)
        return 0;
    pend_page **v = kiln_malloc(k * sizeof *v);
    if (!v)
        return KILN_OOM(err);
    k = 0;
    for (int i = 0; i < w->ncols; i++)
        for (size_t j = 0; j < w->cols[i].pend.len; j++) {
            pend_page *pp = w->cols[i].pend.items[j];
            if (pp->submitted)
                continue;
            pp->submitted = 1;
            size_t q = k++;
            for (; q > 0 && v[q - 1]->len < pp->len; q--)
                v[q] = v[q - 1];
            v[q] = pp;
        }
    *out = v;
    *n = k;
    return 0;
}

/* Compress what is left, wait, and append every page to its chunk in order. */
static int finish_pending(kiln_parquet_writer *w, kiln_err *err)
{
    if (!w->pool)
        return 0;
    int rc = submit_pending(w, err);
    kiln_pool_wait(w->pool);
    for (int i = 0; i < w->ncols; i++) {
        wcol *c = &w->cols[i];
        for (size_t j = 0; j < c->pend.len; j++) {
            pend_page *pp = c->pend.items[j];
            if (!rc && !pp->submitted)
                rc = kiln_err_set(err, KILN_EINTERNAL, "parquet writer: a page was never compressed");
            if (!rc && pp->rc) {
                *err = pp->err;
                rc = pp->rc;
            }
            if (!rc)
                rc = put_page(c, &pp->h, pp->len, pp->out.data, pp->out.len, pp->dst, err);
            kiln_buf_free(&pp->raw);
            kiln_buf_free(&pp->out);
            kiln_free(pp);
        }
        c->pend.len = 0;
    }
    return rc;
}

static int abandon_dict(wcol *c, kiln_err *err);

static int flush_page(kiln_parquet_writer *w, wcol *c, kiln_err *err)
{
    if (c->ndefs == 0)
        return 0;
    int rc;
    if (c->dict_mode && c->dict_pages == 0 && c->nidx >= 64 && (size_t)c->ndict * 2 > c->nidx &&
        (rc = abandon_dict(c, err)))
        return rc;
    kiln_buf *s = &c->wk->scratch;
    kiln_buf_reset(s);
    if (c->max_rep > 0 &&
        (rc = kiln_pq_rle_encode_prefixed(s, c->reps, c->ndefs, kiln_pq_bit_width((uint64_t)c->max_rep), err)))
        return rc;
    if (c->max_def > 0 &&
        (rc = kiln_pq_rle_encode_prefixed(s, c->defs, c->ndefs, kiln_pq_bit_width((uint64_t)c->max_def), err)))
        return rc;
    pq_page_header h = {0};
    h.type = PQ_PAGE_DATA;
    h.num_values = (int32_t)c->ndefs;
    h.def_encoding = PQ_ENC_RLE;
    h.rep_encoding = PQ_ENC_RLE;
    if (c->dict_mode && c->nidx > 0) {
        h.encoding = PQ_ENC_RLE_DICTIONARY;
        int width = kiln_pq_bit_width(c->ndict > 1 ? c->ndict - 1 : 1);
        if ((rc = kiln_pq_dict_indices_encode(s, c->idx, c->nidx, width, err)))
            return rc;
        c->dict_pages++;
        c->encodings |= 1u << PQ_ENC_RLE_DICTIONARY;
    } else {
        h.encoding = PQ_ENC_PLAIN;
        if (c->dict_mode && c->nidx == 0) {
            /* all-null page while the dictionary is on: nothing to write */
        } else if ((rc = kiln_buf_append(s, c->vals.data, c->vals.len, err))) {
            return rc;
        }
        c->encodings |= 1u << PQ_ENC_PLAIN;
    }
    c->encodings |= 1u << PQ_ENC_RLE;
    if ((rc = emit_page(w, c, &h, s->data, s->len, &c->chunk, err)))
        return rc;
    c->ndefs = 0;
    c->nidx = 0;
    c->page_nulls = 0;
    kiln_buf_reset(&c->vals);
    return 0;
}

/* Turn the page being built from dictionary indices into PLAIN values and
 * drop the dictionary: only while no page of this chunk refers to it. */
static int abandon_dict(wcol *c, kiln_err *err)
{
    kiln_buf_reset(&c->vals);
    for (size_t i = 0; i < c->nidx; i++) {
        uint32_t e = c->idx[i];
        int rc;
        if (c->kind == K_BYTES) {
            uint32_t n;
            memcpy(&n, c->dict.data + c->dict_off[e], 4);
            rc = kiln_buf_append(&c->vals, c->dict.data + c->dict_off[e], 4 + (size_t)n, err);
        } else {
            rc = kiln_buf_append(&c->vals, c->dict.data + (size_t)e * c->width, c->width, err);
        }
        if (rc)
            return rc;
    }
    c->nidx = 0;
    c->dict_mode = 0;
    return 0;
}

/* Switch column c from dictionary to PLAIN for the rest of the chunk. */
static int fallback(kiln_parquet_writer *w, wcol *c, kiln_err *err)
{
    if (c->dict_pages == 0)
        return abandon_dict(c, err); /* the page continues as PLAIN */
    int rc = flush_page(w, c, err);
    if (rc)
        return rc;
    c->dict_mode = 0;
    return 0;
}

static size_t page_estimate(const wcol *c)
{
    if (c->dict_mode)
        return (c->nidx * (size_t)kiln_pq_bit_width(c->ndict)) / 8;
    return c->vals.len;
}

static int flush_col_page(kiln_parquet_writer *w, wcol *c, kiln_err *err);

/* ------------------------------------------------------------ values */

static int defs_reserve(wcol *c, size_t n, kiln_err *err)
{
    if (c->ndefs + n <= c->defs_alloc)
        return 0;
    size_t na = c->defs_alloc ? c->defs_alloc : 4096;
    while (na < c->ndefs + n)
        na *= 2;
    uint32_t *p = kiln_realloc(c->defs, na * sizeof(uint32_t));
    if (!p)
        return KILN_OOM(err);
    c->defs = p;
    if (c->max_rep > 0) {
        uint32_t *q = kiln_realloc(c->reps, na * sizeof(uint32_t));
        if (!q)
            return KILN_OOM(err);
        c->reps = q;
    }
    c->defs_alloc = na;
    return 0;
}

/* Append rows [start, end) of batch column bc to column c. */
static int col_append(kiln_parquet_writer *w, wcol *c, const kiln_col *bc, size_t start, size_t end, kiln_err *err)
{
    int rc = 0;
    const uint8_t *nulls = bc->nulls;
    size_t row = start;
    while (row < end) {
        /* rows that fit in this page by count */
        size_t room = c->ndefs < PAGE_MAX_ROWS ? PAGE_MAX_ROWS - c->ndefs : 1; /* nested: a page ends at a row */
        size_t stop = end - row < room ? end : row + room;
        if ((rc = defs_reserve(c, stop - row, err)))
            return rc;
        if (!c->dict_mode && c->width && c->kind != K_BOOL)
            if ((rc = kiln_buf_reserve(&c->vals, (stop - row) * c->width, err)))
                return rc;
        for (; row < stop; row++) {
            if (c->task_reps)
                c->reps[c->ndefs] = c->task_reps[row];
            if (nulls && nulls[row]) {
                c->defs[c->ndefs++] = c->task_defs ? c->task_defs[row] : 0;
                c->page_nulls++;
                c->chunk_nulls++;
                continue;
            }
            c->defs[c->ndefs++] = c->task_defs ? (uint32_t)c->max_def : 1;
            switch (c->kind) {
            case K_BOOL: {
                uint8_t v = bc->v.b[row] ? 1 : 0;
                stat_i(&c->cmin, &c->cmax, v);
                if ((rc = kiln_buf_putc(&c->vals, (char)v, err)))
                    return rc;
                break;
            }
            case K_I32:
            case K_I64:
            case K_F32:
            case K_F64: {
                uint64_t key = 0;
                if (c->kind == K_I32) {
                    memcpy(&key, &bc->v.i32[row], 4);
                } else if (c->kind == K_I64) {
                    memcpy(&key, &bc->v.i64[row], 8);
                } else if (c->kind == K_F32) {
                    memcpy(&key, &bc->v.f32[row], 4);
                } else {
                    memcpy(&key, &bc->v.f64[row], 8);
                }
                int is_nan = (c->kind == K_F32 && isnan(bc->v.f32[row])) || (c->kind == K_F64 && isnan(bc->v.f64[row]));
                int added = 1;
                if (c->dict_mode) {
                    uint32_t ix = 0;
                    rc = dict_fixed(w, c, key, &ix, &added, err);
                    if (rc < 0)
                        return rc;
                    if (rc == 1) {
                        c->ndefs--; /* this row goes to the first PLAIN page */
                        if ((rc = fallback(w, c, err)))
                            return rc;
                        /* the page may have restarted: this row's level must survive */
                        c->defs[c->ndefs++] = 1;
                        if ((rc = kiln_buf_reserve(&c->vals, (stop - row) * c->width, err)))
                            return rc;
                        goto plain_fixed;
                    }
                    if ((rc = idx_push(c, ix, err)))
                        return rc;
                } else {
                plain_fixed:
                    memcpy(c->vals.data + c->vals.len, &key, c->width);
                    c->vals.len += c->width;
                }
                if (is_nan) {
                    c->chunk_nan++;
                } else if (added || !c->dict_mode) {
                    if (c->kind == K_I32)
                        stat_i(&c->cmin, &c->cmax, bc->v.i32[row]);
                    else if (c->kind == K_I64)
                        stat_i(&c->cmin, &c->cmax, bc->v.i64[row]);
                    else if (c->kind == K_F32)
                        stat_d(&c->cmin, &c->cmax, bc->v.f32[row]);
                    else
                        stat_d(&c->cmin, &c->cmax, bc->v.f64[row]);
                }
                break;
            }
            default: {
                uint32_t n = bc->offsets[row + 1] - bc->offsets[row];
                const uint8_t *p = (const uint8_t *)bc->data.data + bc->offsets[row];
                int added = 1;
                if (c->dict_mode) {
                    uint32_t ix = 0;
                    rc = dict_bytes(w, c, p, n, &ix, &added, err);
                    if (rc < 0)
                        return rc;
                    if (rc == 1) {
                        c->ndefs--;
                        if ((rc = fallback(w, c, err)))
                            return rc;
                        c->defs[c->ndefs++] = 1;
                        goto plain_bytes;
                    }
                    if ((rc = idx_push(c, ix, err)))
                        return rc;
                } else {
                plain_bytes:
                    if ((rc = kiln_buf_reserve(&c->vals, 4 + (size_t)n, err)))
                        return rc;
                    memcpy(c->vals.data + c->vals.len, &n, 4);
                    memcpy(c->vals.data + c->vals.len + 4, p, n);
                    c->vals.len += 4 + (size_t)n;
                }
                if ((added || !c->dict_mode) && (rc = stat_s(&c->cmin, &c->cmax, p, n, err)))
                    return rc;
                break;
            }
            }
            if (c->dict_mode && c->nidx == DICT_PROBE_VALUES && c->dict_pages == 0 &&
                (size_t)c->ndict * 16 > (size_t)c->nidx * 15) {
                /* nearly every value new so far (ids, hashes, messages): a
                 * dictionary would be dropped at the page's end anyway, after
                 * hashing and copying up to 1 MB or a whole page of values */
                if ((rc = abandon_dict(c, err)))
                    return rc;
                if (c->width && c->kind != K_BOOL && (rc = kiln_buf_reserve(&c->vals, (stop - row) * c->width, err)))
                    return rc;
            }
            if (c->kind == K_BYTES && c->vals.len >= w->o.page_bytes) {
                row++;
                break;
            }
        }
        if ((c->ndefs >= PAGE_MAX_ROWS || page_estimate(c) >= w->o.page_bytes) &&
            (!c->task_reps || row >= end || c->task_reps[row] == 0)) /* a nested page ends where a row does */
            if ((rc = flush_col_page(w, c, err)))
                return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ row groups */

static int bool_pack_page(kiln_parquet_writer *w, wcol *c, kiln_err *err)
{
    /* booleans are buffered as bytes; convert to PLAIN bits in place */
    kiln_buf tmp;
    kiln_buf_init(&tmp, 0);
    int rc = kiln_pq_plain_encode_bool(&tmp, (const uint8_t *)c->vals.data, c->vals.len, err);
    if (!rc) {
        kiln_buf_reset(&c->vals);
        rc = kiln_buf_append(&c->vals, tmp.data, tmp.len, err);
    }
    kiln_buf_free(&tmp);
    (void)w;
    return rc;
}

static int flush_col_page(kiln_parquet_writer *w, wcol *c, kiln_err *err)
{
    int rc;
    if (c->kind == K_BOOL && (rc = bool_pack_page(w, c, err)))
        return rc;
    return flush_page(w, c, err);
}

/* Run fn on every column, on the pool when there is one. The first
 * column's error (in column order) is returned. */
static void append_task(void *arg, int worker);
static void compress_task(void *arg, int worker);

/* Run fn on every column (heaviest first), then the extra page
 * compressions behind them, and wait for all. */
static int run_tasks_with(kiln_parquet_writer *w, kiln_task_fn fn, pend_page **extra, size_t nextra, kiln_err *err);

static int run_tasks(kiln_parquet_writer *w, kiln_task_fn fn, kiln_err *err)
{
    return run_tasks_with(w, fn, NULL, 0, err);
}

static int run_tasks_with(kiln_parquet_writer *w, kiln_task_fn fn, pend_page **extra, size_t nextra, kiln_err *err)
{
    int ncols = w->ncols;
    if (!w->pool) {
        for (int i = 0; i < ncols; i++) {
            wcol *c = &w->cols[i];
            c->task_rc = 0;
            fn(c, 0);
            if (c->task_rc) {
                *err = c->task_err;
                return c->task_rc;
            }
        }
        return 0;
    }
    /* heaviest column first (bytes it will encode), so the long task does
     * not start last and leave the other threads idle at the barrier */
    int order[256], *ord = ncols <= 256 ? order : kiln_malloc(sizeof(int) * (size_t)ncols);
    if (!ord)
        return KILN_OOM(err);
    for (int i = 0; i < ncols; i++) {
        wcol *c = &w->cols[i];
        c->task_weight = c->vals.len + c->dict.len + 64;
        if (fn == append_task && c->task_bc) {
            size_t n = c->task_end - c->task_start;
            c->task_weight =
                c->kind == K_BYTES
                    ? (uint64_t)(c->task_bc->offsets[c->task_end] - c->task_bc->offsets[c->task_start]) + 4 * n
                    : (uint64_t)n * 8;
        }
        int j = i;
        for (; j > 0 && w->cols[ord[j - 1]].task_weight < c->task_weight; j--)
            ord[j] = ord[j - 1];
        ord[j] = i;
    }
    int rc = 0;
    for (int i = 0; i < ncols; i++) {
        w->cols[ord[i]].task_rc = 0;
        if ((rc = kiln_pool_submit(w->pool, fn, &w->cols[ord[i]], err))) {
            kiln_pool_wait(w->pool);
            break;
        }
    }
    if (ord != order)
        kiln_free(ord);
    for (size_t i = 0; !rc && i < nextra; i++)
        if ((rc = kiln_pool_submit(w->pool, compress_task, extra[i], err)))
            for (size_t j = i; j < nextra; j++)
                extra[j]->submitted = 0;
    if (rc) {
        kiln_pool_wait(w->pool);
        return rc;
    }
    kiln_pool_wait(w->pool);
    for (int i = 0; i < ncols; i++)
        if (w->cols[i].task_rc) {
            *err = w->cols[i].task_err;
            return w->cols[i].task_rc;
        }
    return 0;
}

/* End of a row group, per column: last data page and the dictionary page. */
static void prep_task(void *arg, int worker)
{
    wcol *c = arg;
    kiln_parquet_writer *w = c->w;
    c->wk = &w->wks[worker];
    kiln_err_clear(&c->task_err);
    int rc = flush_col_page(w, c, &c->task_err);
    kiln_buf_reset(&c->dictpage);
    if (!rc && c->dict_pages > 0) {
        pq_page_header h = {0};
        h.type = PQ_PAGE_DICT;
        h.num_values = (int32_t)c->ndict;
        h.encoding = PQ_ENC_PLAIN;
        rc = emit_page(w, c, &h, c->dict.data, c->dict.len, &c->dictpage, &c->task_err);
    }
    c->task_rc = rc;
}

/* One slice of a batch, per column. */
static void append_task(void *arg, int worker)
{
    wcol *c = arg;
    c->wk = &c->w->wks[worker];
    kiln_err_clear(&c->task_err);
    c->task_rc = col_append(c->w, c, c->task_bc, c->task_start, c->task_end, &c->task_err);
}

static int finish_rowgroup(kiln_parquet_writer *w, kiln_err *err)
{
    int rc = 0;
    int ncols = w->ncols;
    if (w->rg_rows == 0)
        return 0;
    pq_rowgroup rg = {0};
    rg.ncols = ncols;
    rg.cols = kiln_arena_alloc(w->meta, sizeof(pq_chunk) * (size_t)ncols);
    if (!rg.cols)
        return KILN_OOM(err);
    memset(rg.cols, 0, sizeof(pq_chunk) * (size_t)ncols);
    rg.num_rows = (int64_t)w->rg_rows;
    rg.has_file_offset = 1;
    rg.file_offset = (int64_t)w->pos;
    if ((rc = kiln_vec_push(&w->splits, (int64_t)w->pos, err)))
        return rc;
    if ((rc = run_tasks(w, prep_task, err)) || (rc = finish_pending(w, err)))
        return rc;
    for (int i = 0; i < ncols; i++) {
        wcol *c = &w->cols[i];
        pq_chunk *ch = &rg.cols[i];
        pq_colmeta *m = &ch->meta;
        ch->has_meta = 1;
        ch->file_offset = (int64_t)w->pos;
        m->type = c->phys;
        m->codec = w->o.codec;
        m->num_values = c->chunk_values;
        m->path = c->path;
        m->npath = c->npath;
        if (c->dict_pages > 0) {
            m->has_dict_offset = 1;
            m->dictionary_page_offset = (int64_t)w->pos;
            if ((rc = put(w, c->dictpage.data, c->dictpage.len, err)))
                return rc;
            c->encodings |= 1u << PQ_ENC_PLAIN;
        }
        m->data_page_offset = (int64_t)w->pos;
        if ((rc = put(w, c->chunk.data, c->chunk.len, err)))
            return rc;
        m->encodings = c->encodings;
        m->total_uncompressed = (int64_t)c->chunk_uncomp;
        m->total_compressed = (int64_t)c->chunk_comp;
        rg.total_byte_size += m->total_uncompressed;
        rg.total_compressed_size += m->total_compressed;
        /* statistics */
        m->has_stats = 1;
        m->stats.has_null_count = 1;
        m->stats.null_count = c->chunk_nulls;
        uint8_t tmp[KILN_PARQUET_BOUND_MAX];
        uint32_t len;
        if (bound_bytes(c, &c->cmin, 0, w->o.stats_max_bytes, tmp, &len)) {
            uint8_t *p = kiln_arena_alloc(w->meta, len ? len : 1);
            if (!p)
                return KILN_OOM(err);
            memcpy(p, tmp, len);
            m->stats.min_value = (pq_bin){p, len, 1};
        }
        if (bound_bytes(c, &c->cmax, 1, w->o.stats_max_bytes, tmp, &len)) {
            uint8_t *p = kiln_arena_alloc(w->meta, len ? len : 1);
            if (!p)
                return KILN_OOM(err);
            memcpy(p, tmp, len);
            m->stats.max_value = (pq_bin){p, len, 1};
        }
        /* file-level figures */
        c->f_values += (uint64_t)c->chunk_values;
        c->f_nulls += (uint64_t)c->chunk_nulls;
        c->f_nan += (uint64_t)c->chunk_nan;
        c->f_size += c->chunk_comp;
        if ((rc = merge_bound(c, &c->fmin, &c->cmin, 0, err)) || (rc = merge_bound(c, &c->fmax, &c->cmax, 1, err)))
            return rc;
        /* reset the chunk */
        kiln_buf_reset(&c->chunk);
        c->encodings = 0;
        c->chunk_values = c->chunk_nulls = c->chunk_nan = 0;
        c->chunk_uncomp = c->chunk_comp = c->chunk_raw = 0;
        c->cmin.has = c->cmax.has = 0;
        col_reset_dict(w, c);
        /* keep memory bounded after a big row group */
        if (c->chunk.alloc > ((size_t)64 << 20)) {
            kiln_buf_free(&c->chunk);
            kiln_buf_init(&c->chunk, 0);
        }
    }
    if ((rc = kiln_vec_push(&w->rgs, rg, err)))
        return rc;
    w->rg_rows = 0;
    /* start writing the row group to disk now (asynchronously), so the
     * fsync at close has little left to wait for */
    if (w->pos > w->synced) {
        (void)sync_file_range(w->fd, (off64_t)w->synced, (off64_t)(w->pos - w->synced), SYNC_FILE_RANGE_WRITE);
        w->synced = w->pos;
    }
    return 0;
}

static uint64_t rg_estimate(const kiln_parquet_writer *w)
{
    uint64_t n = 0;
    for (int i = 0; i < w->ncols; i++) {
        const wcol *c = &w->cols[i];
        /* raw page sizes, not header + body: the same whether the pages are
         * compressed inline or later by the pool, so the row groups (and
         * the file) do not depend on the thread count */
        n += c->chunk_raw + c->vals.len + c->nidx + c->ndefs / 8;
    }
    return n;
}

/* Column i of b (decimal(P>18) as exact text) -> c->wide, the same rows as
 * minimal big-endian two's complement bytes of the unscaled value. The
 * text must have at most S digits after the point and at most P digits. */
static int wide_to_binary(wcol *c, const kiln_batch *b, int i, kiln_err *err)
{
    const kiln_col *src = &b->cols[i];
    kiln_col *d = &c->wide;
    uint32_t *off = kiln_realloc(d->offsets, sizeof(uint32_t) * (b->nrows + 1));
    if (!off)
        return KILN_OOM(err);
    d->offsets = off;
    if (!d->data.cap)
        kiln_buf_init(&d->data, 0);
    kiln_buf_reset(&d->data);
    d->type = KILN_T_BINARY;
    d->nulls = src->nulls;
    d->len = b->nrows;
    off[0] = 0;
    int scale = c->def->scale, prec = c->def->precision;
    for (size_t r = 0; r < b->nrows; r++) {
        if (!(src->nulls && src->nulls[r])) {
            size_t n;
            const char *s = kiln_batch_str(b, i, r, &n);
            uint8_t be[16];
            int blen = 0;
            if (kiln_pq__decimal_text_be(s, n, prec, scale, be, &blen) != 0)
                return kiln_err_set(err, KILN_EINVAL, "parquet writer: column %s: '%.*s' is not a decimal(%d,%d) value",
                                    c->def->name, (int)(n > 60 ? 60 : n), s, prec, scale);
            int rc = kiln_buf_append(&d->data, be, (size_t)blen, err);
            if (rc)
                return rc;
        }
        off[r + 1] = (uint32_t)d->data.len;
    }
    return 0;
}

int kiln_parquet_writer_write(kiln_parquet_writer *w, const kiln_batch *b, kiln_err *err)
{
    if (w->closed || w->failed)
        return kiln_err_set(err, KILN_EINVAL, "parquet writer: %s is %s", w->path,
                            w->closed ? "closed" : "in a failed state");
    if (b->schema->ncols != w->schema->ncols)
        return kiln_err_set(err, KILN_EINVAL, "parquet writer: batch has %d columns, file has %d", b->schema->ncols,
                            w->schema->ncols);
    for (int i = 0; i < w->schema->ncols; i++)
        if (b->cols[i].type != w->schema->cols[i].type)
            return kiln_err_set(err, KILN_EINVAL, "parquet writer: batch column %d is %s, file column %s is %s", i,
                                kiln_type_name(b->cols[i].type), w->schema->cols[i].name,
                                kiln_type_name(w->schema->cols[i].type));
    size_t row = 0;
    int rc = 0;
    while (row < b->nrows) {
        size_t n = b->nrows - row;
        size_t slice =
            65536; /* the same with or without threads: pages and row groups, hence the file, do not depend on the thread count */
        if (n > slice)
            n = slice;
        if (w->o.row_group_rows && w->rg_rows + n > w->o.row_group_rows)
            n = (size_t)(w->o.row_group_rows - w->rg_rows);
        if (row == 0) /* nested columns: the whole batch shredded into their leaves */
            for (int i = 0; i < w->schema->ncols; i++)
                if (w->shred[i] && (rc = kiln_pq__shred_batch(w->shred[i], b, i, err)))
                    goto done;
        for (int ci = 0; ci < w->ncols; ci++) {
            wcol *c = &w->cols[ci];
            int i = c->top;
            if (c->leaf) {
                c->task_bc = &c->leaf->col;
                c->task_defs = c->leaf->defs;
                c->task_reps = c->max_rep > 0 ? c->leaf->reps : NULL;
                c->task_start = c->leaf->row_start[row];
                c->task_end = c->leaf->row_start[row + n];
                c->chunk_values += (int64_t)(c->task_end - c->task_start);
                continue;
            }
            if (c->def->required && b->cols[i].nulls) {
                for (size_t r = row; r < row + n; r++)
                    if (b->cols[i].nulls[r]) {
                        rc = kiln_err_set(err, KILN_EINVAL, "parquet writer: column %s is required but row %zu is null",
                                          c->def->name, r);
                        goto done;
                    }
            }
            c->task_bc = &b->cols[i];
            if (c->def->type == KILN_T_DECIMAL_WIDE) {
                if (row == 0 && (rc = wide_to_binary(c, b, i, err)))
                    goto done;
                c->task_bc = &c->wide;
            }
            c->task_start = row;
            c->task_end = row + n;
            c->chunk_values += (int64_t)n;
        }
        /* pages the last round finished are compressed behind this round's
         * column tasks: the heaviest column starts first, the compressions
         * fill the other threads */
        pend_page **extra = NULL;
        size_t nextra = 0;
        if (w->pool && (rc = take_unsubmitted(w, &extra, &nextra, err)))
            goto done;
        rc = run_tasks_with(w, append_task, extra, nextra, err);
        kiln_free(extra);
        if (rc)
            goto done;
        row += n;
        w->rows += n;
        w->rg_rows += n;
        if ((w->o.row_group_rows && w->rg_rows >= w->o.row_group_rows) || rg_estimate(w) >= w->o.row_group_bytes)
            if ((rc = finish_rowgroup(w, err)))
                goto done;
    }
done:
    if (rc)
        w->failed = 1;
    return rc;
}

int kiln_parquet_writer_close(kiln_parquet_writer *w, kiln_parquet_file_stats *stats, kiln_err *err)
{
    int rc = 0;
    kiln_buf foot;
    kiln_buf_init(&foot, 0);
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (w->closed || w->failed) {
        rc = kiln_err_set(err, KILN_EINVAL, "parquet writer: %s is %s", w->path,
                          w->closed ? "already closed" : "in a failed state");
        goto done;
    }
    if ((rc = finish_rowgroup(w, err)))
        goto done;
    int ncols = w->ncols, ntop = w->schema->ncols, nel = 1;
    for (int i = 0; i < ntop; i++)
        nel += w->shred[i] ? w->shred[i]->nels : 1;
    pq_filemeta m = {0};
    m.version = 2;
    m.nschema = nel;
    m.schema = kiln_arena_alloc(w->meta, sizeof(pq_schema_el) * (size_t)nel);
    if (!m.schema) {
        rc = KILN_OOM(err);
        goto done;
    }
    memset(&m.schema[0], 0, sizeof m.schema[0]);
    m.schema[0].type = -1;
    m.schema[0].repetition = -1;
    m.schema[0].converted = PQ_CT_NONE;
    m.schema[0].name = "schema";
    m.schema[0].num_children = ntop;
    for (int i = 0, ei = 1, ci = 0; i < ntop; i++) {
        if (!w->shred[i]) {
            schema_el(&m.schema[ei++], &w->schema->cols[i], w->cols[ci++].phys);
            continue;
        }
        const pq_shredder *sh = w->shred[i];
        for (int k = 0; k < sh->nels; k++) {
            const pq_schema_el *e = &sh->els[k];
            if (e->leaf >= 0) { /* a primitive leaf: the flat column's element, with its repetition */
                schema_el(&m.schema[ei], &sh->leaves[e->leaf].def, w->cols[ci + e->leaf].phys);
                m.schema[ei].repetition = e->repetition;
            } else {
                m.schema[ei] = *e;
            }
            ei++;
        }
        ci += sh->nleaves;
    }
    m.num_rows = (int64_t)w->rows;
    m.nrg = (int)w->rgs.len;
    m.rgs = w->rgs.items;
    m.nkv = w->nkv;
    m.kv_keys = (const char **)w->kv_keys;
    m.kv_values = (const char **)w->kv_values;
    m.created_by = "kiln version " KILN_VERSION;
    m.ncolumn_orders = ncols;
    if ((rc = kiln_parquet__encode_filemeta(&foot, &m, err)))
        goto done;
    uint32_t flen = (uint32_t)foot.len;
    if ((rc = put(w, foot.data, foot.len, err)) || (rc = put(w, &flen, 4, err)) || (rc = put(w, "PAR1", 4, err)))
        goto done;
    if (fsync(w->fd) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: fsync failed: %s", w->path, strerror(errno));
        goto done;
    }
    if (close(w->fd) != 0) {
        w->fd = -1;
        rc = kiln_err_set(err, KILN_EIO, "%s: close failed: %s", w->path, strerror(errno));
        goto done;
    }
    w->fd = -1;
    w->closed = 1;
    if (stats) {
        stats->record_count = w->rows;
        stats->file_size_in_bytes = w->pos;
        stats->ncols = ncols;
        stats->cols = kiln_calloc((size_t)ncols, sizeof(kiln_parquet_col_stats));
        stats->split_offsets = kiln_malloc(sizeof(int64_t) * (w->splits.len ? w->splits.len : 1));
        if (!stats->cols || !stats->split_offsets) {
            kiln_parquet_file_stats_free(stats);
            rc = KILN_OOM(err);
            goto done;
        }
        stats->nsplits = w->splits.len;
        if (w->splits.len)
            memcpy(stats->split_offsets, w->splits.items, sizeof(int64_t) * w->splits.len);
        for (int i = 0; i < ncols; i++) {
            wcol *c = &w->cols[i];
            kiln_parquet_col_stats *s = &stats->cols[i];
            s->field_id = c->def->field_id;
            s->type = c->def->type;
            s->scale = c->def->scale;
            s->nested = c->leaf != NULL;
            s->in_repeated = c->max_rep > 0;
            s->column_size = c->f_size;
            s->value_count = c->f_values;
            s->null_count = c->f_nulls;
            s->nan_count = c->f_nan;
            s->has_lower = bound_bytes(c, &c->fmin, 0, w->o.stats_max_bytes, s->lower, &s->lower_len);
            s->has_upper = bound_bytes(c, &c->fmax, 1, w->o.stats_max_bytes, s->upper, &s->upper_len);
        }
    }
done:
    kiln_buf_free(&foot);
    if (rc)
        w->failed = 1;
    return rc;
}
