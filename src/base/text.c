/* text.c - UTF-8 validation with repair and the one JSON string-literal
 * writer (quotes, short escapes for \n \t \r, \u00XX for other controls,
 * invalid UTF-8 replaced by U+FFFD so the output is always valid JSON). */
#include "base/base.h"

int kiln_utf8_append_valid(kiln_buf *out, const char *p, size_t n, uint64_t *nrepl, kiln_err *err)
{
    const char *end = p + n;
    int rc = kiln_buf_reserve(out, n, err);
    if (rc)
        return rc;
    while (p < end) {
        const char *s = p;
        while (s < end && (unsigned char)*s < 0x80)
            s++;
        if (s > p && (rc = kiln_buf_append(out, p, (size_t)(s - p), err)))
            return rc;
        p = s;
        if (p >= end)
            break;
        size_t l = kiln_utf8_valid_len((const unsigned char *)p, (const unsigned char *)end);
        if (l) {
            rc = kiln_buf_append(out, p, l, err);
            p += l;
        } else {
            rc = kiln_buf_append(out, "\xEF\xBF\xBD", 3, err);
            if (nrepl)
                (*nrepl)++;
            p++;
        }
        if (rc)
            return rc;
    }
    return 0;
}

int kiln_json_write_str(kiln_buf *out, const char *p, size_t n, kiln_err *err)
{
    static const char hexd[] = "0123456789abcdef";
    const char *end = p + n;
    int rc = kiln_buf_putc(out, '"', err);
    while (rc == 0 && p < end) {
        const char *s = kiln_json_find_special(p, end);
        if (s > p && (rc = kiln_buf_append(out, p, (size_t)(s - p), err)))
            return rc;
        p = s;
        if (p >= end)
            break;
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            rc = kiln_buf_append(out, "\\\"", 2, err);
            p++;
        } else if (c == '\\') {
            rc = kiln_buf_append(out, "\\\\", 2, err);
            p++;
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
            if (c == '\n')
                rc = kiln_buf_append(out, "\\n", 2, err);
            else if (c == '\t')
                rc = kiln_buf_append(out, "\\t", 2, err);
            else if (c == '\r')
                rc = kiln_buf_append(out, "\\r", 2, err);
            else
                rc = kiln_buf_append(out, e, 6, err);
            p++;
        } else {
            size_t l = kiln_utf8_valid_len((const unsigned char *)p, (const unsigned char *)end);
            if (l) {
                rc = kiln_buf_append(out, p, l, err);
                p += l;
            } else {
                rc = kiln_buf_append(out, "\xEF\xBF\xBD", 3, err);
                p++;
            }
        }
    }
    if (rc == 0)
        rc = kiln_buf_putc(out, '"', err);
    return rc;
}
