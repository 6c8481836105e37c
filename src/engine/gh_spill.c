/*
 * gh_spill.c - kiln's own row spill format (see gh_int.h): rows written
 * record by record to a temp file and read back in order, for the commit
 * grain of the gh-events scan and the key-range buckets of its Iceberg load.
 */
#include "engine/gh_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define SPILL_FLUSH ((size_t)1 << 20)

int kiln_gh__spill_put(kiln_buf *o, const kiln_batch *b, size_t row, kiln_err *err)
{
    int rc = 0;
    for (int c = 0; c < b->schema->ncols && !rc; c++) {
        const kiln_col *col = &b->cols[c];
        if (kiln_batch_is_null(b, c, row)) {
            rc = kiln_buf_putc(o, 0, err);
            continue;
        }
        if ((rc = kiln_buf_putc(o, 1, err)))
            break;
        switch (col->type) {
        case KILN_T_BOOL: rc = kiln_buf_putc(o, (char)col->v.b[row], err); break;
        case KILN_T_INT32:
        case KILN_T_DATE:
        case KILN_T_FLOAT: rc = kiln_buf_append(o, (const char *)col->v.i32 + 4 * row, 4, err); break;
        case KILN_T_STRING:
        case KILN_T_BINARY: {
            size_t n;
            const char *p = kiln_batch_str(b, c, row, &n);
            uint32_t n32 = (uint32_t)n;
            if (!(rc = kiln_buf_append(o, (const char *)&n32, 4, err)))
                rc = kiln_buf_append(o, p, n, err);
            break;
        }
        default: rc = kiln_buf_append(o, (const char *)col->v.i64 + 8 * row, 8, err); /* 8-byte types */
        }
    }
    return rc;
}

int kiln_gh__spill_get(const uint8_t **pp, const uint8_t *end, const kiln_schema *schema, kiln_batch *dst,
                       const char *path, kiln_err *err)
{
    const uint8_t *p = *pp;
    int rc = 0;
#define NEED(k)                                                                                                        \
    if ((size_t)(end - p) < (size_t)(k))                                                                               \
        return kiln_err_set(err, KILN_EFORMAT, "%s: spill file cut in a record", path);
    for (int c = 0; c < schema->ncols && !rc; c++) {
        NEED(1);
        if (*p++ == 0) {
            if (dst)
                rc = kiln_batch_put_null(dst, c, err);
            continue;
        }
        switch (schema->cols[c].type) {
        case KILN_T_BOOL:
            NEED(1);
            if (dst)
                rc = kiln_batch_put_bool(dst, c, *p, err);
            p += 1;
            break;
        case KILN_T_INT32:
        case KILN_T_DATE: {
            NEED(4);
            int32_t v;
            memcpy(&v, p, 4);
            p += 4;
            if (dst)
                rc = kiln_batch_put_i32(dst, c, v, err);
            break;
        }
        case KILN_T_FLOAT: {
            NEED(4);
            float v;
            memcpy(&v, p, 4);
            p += 4;
            if (dst)
                rc = kiln_batch_put_f32(dst, c, v, err);
            break;
        }
        case KILN_T_DOUBLE: {
            NEED(8);
            double v;
            memcpy(&v, p, 8);
            p += 8;
            if (dst)
                rc = kiln_batch_put_f64(dst, c, v, err);
            break;
        }
        case KILN_T_STRING:
        case KILN_T_BINARY: {
            NEED(4);
            uint32_t n;
            memcpy(&n, p, 4);
            p += 4;
            NEED(n);
            if (dst)
                rc = kiln_batch_put_str(dst, c, (const char *)p, n, err);
            p += n;
            break;
        }
        default: {
            NEED(8);
            int64_t v;
            memcpy(&v, p, 8);
            p += 8;
            if (dst)
                rc = kiln_batch_put_i64(dst, c, v, err);
        }
        }
    }
#undef NEED
    if (!rc && dst)
        rc = kiln_batch_end_row(dst, err);
    *pp = p;
    return rc;
}

/* ------------------------------------------------------------ spill sink */

typedef struct spill_sink {
    kiln_sink base;
    int fd;
    char *path;
    kiln_buf out;
} spill_sink;

static int spill_flush(spill_sink *s, kiln_err *err)
{
    size_t off = 0;
    while (off < s->out.len) {
        ssize_t w = write(s->fd, s->out.data + off, s->out.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return kiln_err_set(err, KILN_EIO, "%s: write: %s", s->path, strerror(errno));
        off += (size_t)w;
    }
    kiln_buf_reset(&s->out);
    return 0;
}

static int spill_write(kiln_sink *base, const kiln_batch *b, kiln_err *err)
{
    spill_sink *s = (spill_sink *)base;
    int rc = 0;
    for (size_t r = 0; r < b->nrows && !rc; r++) {
        rc = kiln_gh__spill_put(&s->out, b, r, err);
        if (!rc && s->out.len >= SPILL_FLUSH)
            rc = spill_flush(s, err);
    }
    return rc;
}

static int spill_commit(kiln_sink *base, kiln_err *err)
{
    spill_sink *s = (spill_sink *)base;
    int rc = spill_flush(s, err);
    if (close(s->fd) != 0 && !rc)
        rc = kiln_err_set(err, KILN_EIO, "%s: close: %s", s->path, strerror(errno));
    s->fd = -1;
    return rc;
}

static void spill_abort(kiln_sink *base)
{
    spill_sink *s = (spill_sink *)base;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    unlink(s->path);
}

static void spill_free(kiln_sink *base)
{
    spill_sink *s = (spill_sink *)base;
    if (s->fd >= 0) {
        close(s->fd);
        unlink(s->path);
    }
    kiln_buf_free(&s->out);
    kiln_free(s->path);
    kiln_free(s);
}

static const kiln_sink_ops spill_ops = {spill_write, spill_commit, spill_abort, spill_free};

int kiln_gh__spill_sink_open(kiln_sink **out, const char *path, const kiln_schema *schema, kiln_err *err)
{
    (void)schema;
    *out = NULL;
    spill_sink *s = kiln_calloc(1, sizeof *s);
    if (!s || !(s->path = kiln_strdup(path))) {
        kiln_free(s);
        return KILN_OOM(err);
    }
    s->base.ops = &spill_ops;
    kiln_buf_init(&s->out, 0);
    s->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        int rc = kiln_err_set(err, KILN_EIO, "%s: cannot create: %s", path, strerror(errno));
        spill_free(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

int kiln_gh__spill_field(const uint8_t **pp, const uint8_t *end, const kiln_schema *schema, int col,
                         const uint8_t **val, size_t *vlen, const char *path, kiln_err *err)
{
    const uint8_t *p = *pp;
    *val = NULL;
    *vlen = 0;
    for (int c = 0; c < schema->ncols; c++) {
        if (p >= end)
            return kiln_err_set(err, KILN_EFORMAT, "%s: spill file cut in a record", path);
        if (*p++ == 0)
            continue;
        size_t n, hdr = 0;
        switch (schema->cols[c].type) {
        case KILN_T_BOOL: n = 1; break;
        case KILN_T_INT32:
        case KILN_T_DATE:
        case KILN_T_FLOAT: n = 4; break;
        case KILN_T_STRING:
        case KILN_T_BINARY: {
            uint32_t k;
            if ((size_t)(end - p) < 4)
                return kiln_err_set(err, KILN_EFORMAT, "%s: spill file cut in a record", path);
            memcpy(&k, p, 4);
            hdr = 4;
            n = k;
            break;
        }
        default: n = 8;
        }
        if ((size_t)(end - p) < hdr + n)
            return kiln_err_set(err, KILN_EFORMAT, "%s: spill file cut in a record", path);
        if (c == col) {
            *val = p + hdr;
            *vlen = n;
        }
        p += hdr + n;
    }
    *pp = p;
    return 0;
}
