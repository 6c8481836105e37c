/*
 * csv.c - the one CSV field writer (RFC 4180 quoting, see text.h). The CSV
 * sink decides quoting per batch with a SIMD pass (sink_text.c) and its
 * output is tested to equal this writer's, value by value.
 */
#include "format/text/text.h"

#include <string.h>

int kiln_csv_write_field(kiln_buf *out, const char *p, size_t n, kiln_err *err)
{
    int quote = n == 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = p[i] == ',' || p[i] == '"' || p[i] == '\r' || p[i] == '\n';
    if (!quote)
        return kiln_buf_append(out, p, n, err);
    int rc = kiln_buf_putc(out, '"', err);
    const char *e = p + n;
    while (rc == 0 && p < e) { /* copy up to and including each '"', then double it */
        const char *q = memchr(p, '"', (size_t)(e - p));
        size_t k = q ? (size_t)(q - p) + 1 : (size_t)(e - p);
        rc = kiln_buf_append(out, p, k, err);
        p += k;
        if (rc == 0 && q)
            rc = kiln_buf_putc(out, '"', err);
    }
    if (rc == 0)
        rc = kiln_buf_putc(out, '"', err);
    return rc;
}
