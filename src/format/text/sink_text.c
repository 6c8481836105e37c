/*
 * sink_text.c - CSV and NDJSON sinks for row batches (see text.h).
 * Rows are formatted into a 1 MB buffer that is written with write(2);
 * commit fsyncs the temp file and renames it into place.
 */
#include "format/text/text.h"
#include "format/json/json_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define TEXT_FLUSH (1u << 20)

typedef struct text_sink {
    kiln_sink base;
    int json; /* 0 CSV, 1 NDJSON */
    int fd;
    char *path, *tmp;
    const kiln_schema *schema;
    kiln_buf out;
    uint64_t written, synced;
    int64_t last_ts;
    char last_ts_str[32];
    size_t last_ts_len;
    uint8_t *quote; /* CSV: per string column, per row of the batch: 1 = needs quotes */
    size_t quote_alloc;
} text_sink;

static int flush_out(text_sink *s, kiln_err *err)
{
    size_t off = 0;
    while (off < s->out.len) {
        ssize_t n = write(s->fd, s->out.data + off, s->out.len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return kiln_err_set(err, KILN_EIO, "%s: write failed: %s", s->tmp, strerror(errno));
        }
        off += (size_t)n;
    }
    s->written += s->out.len;
    kiln_buf_reset(&s->out);
    /* start writeback now (no wait) so the fsync at commit has little left
     * (every 2 MB: the 4 fsyncs of the bench job wait 5 ms in all, 15 ms
     * with 8 MB; same CPU) */
    if (s->written - s->synced >= ((uint64_t)2 << 20)) {
        sync_file_range(s->fd, (off64_t)s->synced, (off64_t)(s->written - s->synced), SYNC_FILE_RANGE_WRITE);
        s->synced = s->written;
    }
    return 0;
}

static inline char *put_i64(char *o, int64_t v)
{
    static const char d2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char tmp[24];
    int n = 24;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) { /* two digits per division */
        unsigned k = (unsigned)(u % 100);
        u /= 100;
        n -= 2;
        memcpy(tmp + n, d2 + 2 * k, 2);
    }
    if (u >= 10) {
        n -= 2;
        memcpy(tmp + n, d2 + 2 * u, 2);
    } else {
        tmp[--n] = (char)('0' + u);
    }
    if (v < 0)
        *o++ = '-';
    memcpy(o, tmp + n, (size_t)(24 - n));
    return o + (24 - n);
}

static const char *ts_str(text_sink *s, int64_t micros)
{
    if (micros != s->last_ts || !s->last_ts_str[0]) {
        kiln_ts_format(micros, s->last_ts_str);
        s->last_ts = micros;
        s->last_ts_len = strlen(s->last_ts_str);
    }
    return s->last_ts_str;
}

/* Copy n bytes (kiln_copy_short: no libc call for short values); o has room. */
static inline char *put_bytes(char *o, const char *p, size_t n)
{
    kiln_copy_short(o, p, n);
    return o + n;
}

/* Fixed-width value of column c, row r, as text (no quoting needed). */
static int put_scalar(text_sink *s, const kiln_col *col, size_t r, kiln_err *err)
{
    int rc = kiln_buf_reserve(&s->out, 40, err);
    if (rc)
        return rc;
    char *o = s->out.data + s->out.len;
    switch (col->type) {
    case KILN_T_BOOL: {
        const char *t = col->v.b[r] ? "true" : "false";
        size_t n = strlen(t);
        memcpy(o, t, n);
        o += n;
        break;
    }
    case KILN_T_INT32:
    case KILN_T_DATE: o = put_i64(o, col->v.i32[r]); break;
    case KILN_T_INT64:
    case KILN_T_DECIMAL: o = put_i64(o, col->v.i64[r]); break;
    case KILN_T_TIMESTAMPTZ:
    case KILN_T_TIMESTAMP: {
        const char *t = ts_str(s, col->v.i64[r]);
        size_t n = strlen(t);
        if (s->json)
            *o++ = '"';
        memcpy(o, t, n);
        o += n;
        if (s->json)
            *o++ = '"';
        break;
    }
    case KILN_T_FLOAT: o += snprintf(o, 32, "%.9g", (double)col->v.f32[r]); break;
    case KILN_T_DOUBLE: o += snprintf(o, 32, "%.17g", col->v.f64[r]); break;
    default: return kiln_err_set(err, KILN_EINTERNAL, "text sink: unexpected column type");
    }
    s->out.len = (size_t)(o - s->out.data);
    return 0;
}

/* Mark the rows of string column col whose value holds ',', '"', CR or LF
 * (q[r] = 1): one SIMD pass over the column's bytes instead of a check per
 * value (such bytes are rare: a hit jumps to the next value). */
static void csv_mark_quotes(const kiln_col *col, size_t nrows, uint8_t *q)
{
    memset(q, 0, nrows);
    const char *d = col->data.data;
    const uint32_t *off = col->offsets;
    size_t n = off[nrows], i = 0, r = 0;
    while (i < n) {
        size_t hit = n;
#ifdef __SSE2__
        const __m128i comma = _mm_set1_epi8(','), quote = _mm_set1_epi8('"'), lf = _mm_set1_epi8('\n'),
                      cr = _mm_set1_epi8('\r');
        for (; i + 16 <= n; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(d + i));
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, quote)),
                                     _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)));
            unsigned mm = (unsigned)_mm_movemask_epi8(m);
            if (mm) {
                hit = i + (size_t)__builtin_ctz(mm);
                break;
            }
        }
#endif
        if (hit == n) {
            for (; i < n; i++) {
                char c = d[i];
                if (c == ',' || c == '"' || c == '\n' || c == '\r') {
                    hit = i;
                    break;
                }
            }
        }
        if (hit >= n)
            break;
        /* the row holding byte hit: the last r with off[r] <= hit (values
         * are contiguous, so off[r] <= hit < off[r + 1]); hits only grow */
        size_t lo = r, hi = nrows - 1;
        while (lo < hi) {
            size_t mid = lo + (hi - lo + 1) / 2;
            if (off[mid] <= hit)
                lo = mid;
            else
                hi = mid - 1;
        }
        while (off[lo + 1] <= hit) /* skip empty values sharing the offset */
            lo++;
        r = lo;
        q[r] = 1;
        i = off[r + 1];
    }
}

/* One CSV row: reserve a bound once, then write through a raw pointer
 * (the hot path of the CSV sink; no per-value calls into kiln_buf). */
static int csv_row(text_sink *s, const kiln_batch *b, size_t r, kiln_err *err)
{
    size_t nrows = b->nrows;
    int ncols = s->schema->ncols;
    size_t bound = 1;
    for (int c = 0; c < ncols; c++) {
        const kiln_col *col = &b->cols[c];
        bound += 1 + (col->offsets ? 2 * (size_t)(col->offsets[r + 1] - col->offsets[r]) + 2 : 40);
    }
    int rc = kiln_buf_reserve(&s->out, bound, err);
    if (rc)
        return rc;
    char *o = s->out.data + s->out.len;
    for (int c = 0; c < ncols; c++) {
        const kiln_col *col = &b->cols[c];
        if (c)
            *o++ = ',';
        if (col->nulls && col->nulls[r])
            continue;
        if (col->offsets) {
            size_t n = col->offsets[r + 1] - col->offsets[r];
            const char *p = col->data.data + col->offsets[r];
            if (n && !s->quote[(size_t)c * nrows + r]) {
                o = put_bytes(o, p, n);
            } else {
                *o++ = '"';
                const char *e = p + n;
                while (p < e) { /* copy up to and including each '"', then double it */
                    const char *q = memchr(p, '"', (size_t)(e - p));
                    size_t k = q ? (size_t)(q - p) + 1 : (size_t)(e - p);
                    memcpy(o, p, k);
                    o += k;
                    p += k;
                    if (q)
                        *o++ = '"';
                }
                *o++ = '"';
            }
            continue;
        }
        switch (col->type) {
        case KILN_T_INT64:
        case KILN_T_DECIMAL: o = put_i64(o, col->v.i64[r]); break;
        case KILN_T_INT32:
        case KILN_T_DATE: o = put_i64(o, col->v.i32[r]); break;
        case KILN_T_BOOL:
            memcpy(o, col->v.b[r] ? "true" : "false", col->v.b[r] ? 4 : 5);
            o += col->v.b[r] ? 4 : 5;
            break;
        case KILN_T_TIMESTAMPTZ:
        case KILN_T_TIMESTAMP:
            ts_str(s, col->v.i64[r]);
            o = put_bytes(o, s->last_ts_str, s->last_ts_len);
            break;
        default:
            s->out.len = (size_t)(o - s->out.data);
            if ((rc = put_scalar(s, col, r, err)))
                return rc;
            o = s->out.data + s->out.len; /* put_scalar reserved within our bound */
        }
    }
    *o++ = '\n';
    s->out.len = (size_t)(o - s->out.data);
    s->out.data[s->out.len] = '\0';
    return 0;
}

static int text_write(kiln_sink *base, const kiln_batch *b, kiln_err *err)
{
    text_sink *s = (text_sink *)base;
    const kiln_schema *sc = s->schema;
    int rc = 0;
    if (!s->json) {
        size_t need = (size_t)sc->ncols * b->nrows;
        if (need > s->quote_alloc) {
            uint8_t *nq = kiln_realloc(s->quote, need);
            if (!nq)
                return KILN_OOM(err);
            s->quote = nq;
            s->quote_alloc = need;
        }
        for (int c = 0; c < sc->ncols; c++)
            if (b->cols[c].offsets && b->nrows)
                csv_mark_quotes(&b->cols[c], b->nrows, s->quote + (size_t)c * b->nrows);
        for (size_t r = 0; r < b->nrows; r++) {
            if ((rc = csv_row(s, b, r, err)))
                return rc;
            if (s->out.len >= TEXT_FLUSH && (rc = flush_out(s, err)))
                return rc;
        }
        return 0;
    }
    for (size_t r = 0; r < b->nrows; r++) {
        if (s->json && (rc = kiln_buf_putc(&s->out, '{', err)))
            return rc;
        for (int c = 0; c < sc->ncols; c++) {
            const kiln_col *col = &b->cols[c];
            if (s->json) {
                if (c && (rc = kiln_buf_putc(&s->out, ',', err)))
                    return rc;
                if ((rc = kiln_buf_putc(&s->out, '"', err)) ||
                    (rc = kiln_buf_append(&s->out, sc->cols[c].name, strlen(sc->cols[c].name), err)) ||
                    (rc = kiln_buf_append(&s->out, "\":", 2, err)))
                    return rc;
            } else if (c && (rc = kiln_buf_putc(&s->out, ',', err))) {
                return rc;
            }
            if (kiln_batch_is_null(b, c, r)) {
                if (s->json)
                    rc = kiln_buf_append(&s->out, "null", 4, err);
            } else if (col->offsets) {
                size_t n;
                const char *p = kiln_batch_str(b, c, r, &n);
                rc = kiln_json_write_str(&s->out, p, n, err);
            } else {
                rc = put_scalar(s, col, r, err);
            }
            if (rc)
                return rc;
        }
        if (s->json && (rc = kiln_buf_putc(&s->out, '}', err)))
            return rc;
        if ((rc = kiln_buf_putc(&s->out, '\n', err)))
            return rc;
        if (s->out.len >= TEXT_FLUSH && (rc = flush_out(s, err)))
            return rc;
    }
    return 0;
}

static int text_commit(kiln_sink *base, kiln_err *err)
{
    text_sink *s = (text_sink *)base;
    int rc = flush_out(s, err);
    if (rc)
        return rc;
    if (fsync(s->fd) != 0)
        return kiln_err_set(err, KILN_EIO, "%s: fsync failed: %s", s->tmp, strerror(errno));
    if (close(s->fd) != 0) {
        s->fd = -1;
        return kiln_err_set(err, KILN_EIO, "%s: close failed: %s", s->tmp, strerror(errno));
    }
    s->fd = -1;
    if (rename(s->tmp, s->path) != 0)
        return kiln_err_set(err, KILN_EIO, "rename %s -> %s failed: %s", s->tmp, s->path, strerror(errno));
    return 0;
}

static void text_abort(kiln_sink *base)
{
    text_sink *s = (text_sink *)base;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    unlink(s->tmp);
}

static void text_free(kiln_sink *base)
{
    text_sink *s = (text_sink *)base;
    if (s->fd >= 0) {
        close(s->fd);
        unlink(s->tmp);
    }
    kiln_buf_free(&s->out);
    kiln_free(s->quote);
    kiln_free(s->path);
    kiln_free(s->tmp);
    kiln_free(s);
}

static const kiln_sink_ops text_ops = {text_write, text_commit, text_abort, text_free};

static int text_open(kiln_sink **out, const char *path, const kiln_schema *schema, int json, kiln_err *err)
{
    *out = NULL;
    text_sink *s = kiln_calloc(1, sizeof *s);
    if (!s)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory opening %s", path);
    s->base.ops = &text_ops;
    s->json = json;
    s->fd = -1;
    s->schema = schema;
    kiln_buf_init(&s->out, (size_t)1 << 30);
    s->path = kiln_strdup(path);
    s->tmp = kiln_sprintf("%s.tmp", path);
    int rc = 0;
    if (!s->path || !s->tmp) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory opening %s", path);
        goto done;
    }
    s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: cannot create: %s", s->tmp, strerror(errno));
        goto done;
    }
    if (!json) {
        for (int c = 0; c < schema->ncols && rc == 0; c++) {
            if (c)
                rc = kiln_buf_putc(&s->out, ',', err);
            if (rc == 0)
                rc = kiln_buf_append(&s->out, schema->cols[c].name, strlen(schema->cols[c].name), err);
        }
        if (rc == 0)
            rc = kiln_buf_putc(&s->out, '\n', err);
    }
done:
    if (rc) {
        text_free(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

int kiln_sink_csv_open(kiln_sink **out, const char *path, const kiln_schema *schema, kiln_err *err)
{
    return text_open(out, path, schema, 0, err);
}

int kiln_sink_ndjson_open(kiln_sink **out, const char *path, const kiln_schema *schema, kiln_err *err)
{
    return text_open(out, path, schema, 1, err);
}

uint64_t kiln_sink_text_bytes(const kiln_sink *s)
{
    if (!s || s->ops != &text_ops)
        return 0;
    const text_sink *t = (const text_sink *)s;
    return t->written + t->out.len;
}
