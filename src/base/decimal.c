/*
 * decimal.c - the one parser of decimal literals ("-12.345") into a scaled
 * int64 (the unscaled value of a decimal(P,S) column), used by the
 * predicate parser of Parquet and Iceberg scans.
 *
 * It never overflows: the value is accumulated with a check before every
 * multiply-add, and a literal whose scaled value does not fit in int64 is
 * reported as such (with its sign) instead of wrapping, so that callers can
 * fold a comparison with it (x < 1e30 holds for every decimal(18,S) x).
 * Digits beyond the scale are not dropped silently either: the result is
 * the floor of the exact scaled value and *exact says whether it was exact,
 * which is what a comparison needs to stay right ("x < 1.005" on scale 2 is
 * "x <= 1.00").
 */
#include "base.h"

#include <stdint.h>
#include <stdio.h>

int kiln_decimal_parse(int64_t *out, int *exact, const char *s, size_t n, int scale)
{
    *out = 0;
    *exact = 1;
    size_t i = 0;
    int neg = 0;
    if (scale < 0 || scale > 38)
        return KILN_EINVAL;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    /* magnitude as uint64 (room for -INT64_MIN) */
    uint64_t mag = 0;
    int over = 0, digits = 0, frac = -1, dropped = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (c < '0' || c > '9')
            return KILN_EINVAL;
        digits++;
        if (frac >= 0) {
            if (frac >= scale) {
                dropped |= c != '0';
                continue;
            }
            frac++;
        }
        if (!over) {
            if (mag > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
                over = 1;
            else
                mag = mag * 10 + (uint64_t)(c - '0');
        }
    }
    if (!digits)
        return KILN_EINVAL;
    for (int k = frac < 0 ? 0 : frac; k < scale && !over; k++) {
        if (mag > UINT64_MAX / 10)
            over = 1;
        else
            mag *= 10;
    }
    const uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    /* a negative inexact value floors one further away from zero */
    if (!over && neg && dropped && mag == lim)
        over = 1;
    if (over || mag > lim) {
        *out = neg ? INT64_MIN : INT64_MAX;
        *exact = 0;
        return KILN_ELIMIT;
    }
    *exact = !dropped;
    if (neg)
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag - (dropped ? 1 : 0);
    else
        *out = (int64_t)mag;
    return 0;
}

int kiln_decimal_format_i128(__int128 unscaled, int scale, char *out)
{
    if (scale < 0 || scale > 38)
        scale = 0;
    int neg = unscaled < 0;
    unsigned __int128 v = neg ? (unsigned __int128)0 - (unsigned __int128)unscaled : (unsigned __int128)unscaled;
    char digits[48];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    while (nd <= scale)
        digits[nd++] = '0'; /* at least one digit before the point */
    int o = 0;
    if (neg)
        out[o++] = '-';
    for (int i = nd - 1; i >= 0; i--) {
        out[o++] = digits[i];
        if (i == scale && scale > 0)
            out[o++] = '.';
    }
    out[o] = 0;
    return o;
}

int kiln_decimal_format(int64_t unscaled, int scale, char *out)
{
    return kiln_decimal_format_i128((__int128)unscaled, scale, out);
}

/* ------------------------------------------------------------ time and uuid text (interop types) */

void kiln_time_format(int64_t us, char *out)
{
    int neg = us < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)us : (uint64_t)us;
    uint64_t s = u / 1000000, f = u % 1000000;
    int o = snprintf(out, 32, "%s%02llu:%02llu:%02llu", neg ? "-" : "", (unsigned long long)(s / 3600),
                     (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
    if (f) {
        char frac[8];
        snprintf(frac, sizeof frac, "%06llu", (unsigned long long)f);
        int l = 6;
        while (l > 1 && frac[l - 1] == '0')
            l--;
        frac[l] = 0;
        snprintf(out + o, (size_t)(32 - o), ".%s", frac);
    }
}

void kiln_uuid_format(const uint8_t *b, char *out)
{
    static const char hx[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hx[b[i] >> 4];
        out[o++] = hx[b[i] & 15];
    }
    out[o] = 0;
}

int kiln_uuid_parse(const char *s, size_t n, uint8_t *out)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0) {
            if (c == '-' && n == 36 && (i == 8 || i == 13 || i == 18 || i == 23))
                continue;
            return KILN_EINVAL;
        }
        if (k >= 32)
            return KILN_EINVAL;
        if (k % 2 == 0)
            out[k / 2] = (uint8_t)(v << 4);
        else
            out[k / 2] |= (uint8_t)v;
        k++;
    }
    return k == 32 ? 0 : KILN_EINVAL;
}
