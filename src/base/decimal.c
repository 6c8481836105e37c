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
