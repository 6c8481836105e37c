/*
 * buf.c - byte buffers with a hard cap, and the growth helper behind
 * KILN_VEC. Every buffer grown from input has a cap so a hostile input
 * gets a clear KILN_ELIMIT instead of eating the machine.
 */
#include "base.h"

#include <string.h>

void kiln_buf_init(kiln_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap ? cap : KILN_BUF_DEFAULT_CAP;
}

int kiln_buf_reserve(kiln_buf *b, size_t extra, kiln_err *err)
{
    if (b->cap == 0)
        b->cap = KILN_BUF_DEFAULT_CAP;
    size_t need = b->len + extra + 1; /* +1 keeps room for the NUL */
    if (need < b->len || need - 1 > b->cap)
        return kiln_err_set(err, KILN_ELIMIT, "buffer would exceed its cap of %zu bytes", b->cap);
    if (need <= b->alloc)
        return 0;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need)
        n = n * 2 < n ? need : n * 2;
    if (n > b->cap + 1)
        n = b->cap + 1;
    char *p = kiln_realloc(b->data, n);
    if (!p)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory growing a buffer to %zu bytes", n);
    b->data = p;
    b->alloc = n;
    return 0;
}

int kiln_buf_append(kiln_buf *b, const void *p, size_t n, kiln_err *err)
{
    int rc = kiln_buf_reserve(b, n, err);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int kiln_buf_putc(kiln_buf *b, char c, kiln_err *err)
{
    if (b->len + 1 < b->alloc) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return 0;
    }
    return kiln_buf_append(b, &c, 1, err);
}

int kiln_buf_printf(kiln_buf *b, kiln_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return kiln_err_set(err, KILN_EINVAL, "bad format string");
    int rc = kiln_buf_reserve(b, (size_t)n, err);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void kiln_buf_reset(kiln_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void kiln_buf_free(kiln_buf *b)
{
    kiln_free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}

char *kiln_buf_detach(kiln_buf *b, size_t *len_out)
{
    char *p = b->data;
    if (len_out)
        *len_out = b->len;
    if (!p)
        p = kiln_strndup("", 0);
    b->data = NULL;
    b->len = b->alloc = 0;
    return p;
}

int kiln__vec_grow(void **items, size_t *alloc, size_t elem, size_t need, kiln_err *err)
{
    if (need <= *alloc)
        return 0;
    size_t n = *alloc ? *alloc : 8;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / elem)
        return kiln_err_set(err, KILN_ELIMIT, "vector of %zu elements is too large", n);
    void *p = kiln_realloc(*items, n * elem);
    if (!p)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory growing a vector to %zu elements", n);
    *items = p;
    *alloc = n;
    return 0;
}
