/*
 * pq_enc.c - Parquet value encodings: bit packing, the RLE / bit-packed
 * hybrid, PLAIN, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY,
 * DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT (API and ownership in pq_enc.h).
 *
 * DESIGN
 * Bit unpacking works in groups of 8 values: 8 values of width w occupy
 * exactly w bytes, and each value is one unaligned 64-bit load, a shift and
 * a mask. The group loop is instantiated once per width 1..32 (a switch on
 * the width picks the instance) so the compiler sees constant shifts. The
 * 64-bit loads may read up to 8 bytes past a group, so the fast loop only
 * runs while that many bytes remain in the input; the last groups are
 * copied into a zero-padded local buffer first. Nothing ever reads outside
 * the caller's input.
 *
 * Every decoder bounds-checks against (in, n) before touching bytes and
 * writes at most `count` values; errors carry the byte offset in `in`.
 * Arithmetic on DELTA values is done in unsigned types so it wraps as the
 * spec requires (no signed-overflow UB).
 */
#include "format/parquet/pq_enc.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pq_enc.c assumes a little-endian host (PLAIN values are memcpy'd)"
#endif

/* Sanity caps on DELTA_BINARY_PACKED headers from input. */
#define DBP_MAX_BLOCK ((uint64_t)1 << 16)
#define DBP_MAX_MINIBLOCKS 256

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

static inline uint32_t load32(const uint8_t *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    return x;
}

/* ------------------------------------------------------------ bit packing */

int kiln_pq_bit_width(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

size_t kiln_pq_bitpacked_size(size_t count, int width)
{
    /* count * width / 8 without overflowing for huge counts */
    return (count / 8) * (size_t)width + ((count % 8) * (size_t)width + 7) / 8;
}

/* Unpack 8 values of width W; p must be readable for W + 8 bytes. */
static inline __attribute__((always_inline)) void unpack8(uint32_t *out, const uint8_t *p, const int w)
{
    const uint64_t mask = w >= 32 ? 0xffffffffu : (((uint64_t)1 << w) - 1);
    for (int i = 0; i < 8; i++) {
        unsigned off = (unsigned)(i * w);
        out[i] = (uint32_t)((load64(p + (off >> 3)) >> (off & 7)) & mask);
    }
}

#define DEF_UNPACK(W)                                                                                                  \
    static void unpack_groups_##W(uint32_t *out, const uint8_t *p, size_t ngroups)                                     \
    {                                                                                                                  \
        for (size_t g = 0; g < ngroups; g++, out += 8, p += W)                                                         \
            unpack8(out, p, W);                                                                                        \
    }
/* clang-format off */
DEF_UNPACK(1) DEF_UNPACK(2) DEF_UNPACK(3) DEF_UNPACK(4) DEF_UNPACK(5) DEF_UNPACK(6)
DEF_UNPACK(7) DEF_UNPACK(8) DEF_UNPACK(9) DEF_UNPACK(10) DEF_UNPACK(11) DEF_UNPACK(12)
DEF_UNPACK(13) DEF_UNPACK(14) DEF_UNPACK(15) DEF_UNPACK(16) DEF_UNPACK(17) DEF_UNPACK(18)
DEF_UNPACK(19) DEF_UNPACK(20) DEF_UNPACK(21) DEF_UNPACK(22) DEF_UNPACK(23) DEF_UNPACK(24)
DEF_UNPACK(25) DEF_UNPACK(26) DEF_UNPACK(27) DEF_UNPACK(28) DEF_UNPACK(29) DEF_UNPACK(30)
DEF_UNPACK(31) DEF_UNPACK(32)
    /* clang-format on */

    typedef void (*unpack_fn)(uint32_t *, const uint8_t *, size_t);
static const unpack_fn unpack_table[33] = {NULL,
                                           unpack_groups_1,
                                           unpack_groups_2,
                                           unpack_groups_3,
                                           unpack_groups_4,
                                           unpack_groups_5,
                                           unpack_groups_6,
                                           unpack_groups_7,
                                           unpack_groups_8,
                                           unpack_groups_9,
                                           unpack_groups_10,
                                           unpack_groups_11,
                                           unpack_groups_12,
                                           unpack_groups_13,
                                           unpack_groups_14,
                                           unpack_groups_15,
                                           unpack_groups_16,
                                           unpack_groups_17,
                                           unpack_groups_18,
                                           unpack_groups_19,
                                           unpack_groups_20,
                                           unpack_groups_21,
                                           unpack_groups_22,
                                           unpack_groups_23,
                                           unpack_groups_24,
                                           unpack_groups_25,
                                           unpack_groups_26,
                                           unpack_groups_27,
                                           unpack_groups_28,
                                           unpack_groups_29,
                                           unpack_groups_30,
                                           unpack_groups_31,
                                           unpack_groups_32};

/* Unpack with `avail` >= kiln_pq_bitpacked_size(count, width) readable
 * bytes at in: the more there are, the more groups take the fast path. */
static void unpack32_avail(uint32_t *out, const uint8_t *in, size_t count, int width, size_t avail)
{
    if (width <= 0 || width > 32) {
        memset(out, 0, count * sizeof *out);
        return;
    }
    size_t w = (size_t)width;
    size_t ngroups = count / 8;
    /* Groups whose 64-bit loads stay inside the input: group g starts at
     * g*w and loads up to g*w + w + 8 bytes. */
    size_t fast = avail >= w + 8 ? (avail - w - 8) / w + 1 : 0;
    if (fast > ngroups)
        fast = ngroups;
    if (width == 8) {
        for (size_t i = 0; i < fast * 8; i++)
            out[i] = in[i];
    } else if (width == 16) {
        for (size_t i = 0; i < fast * 8; i++)
            out[i] = (uint32_t)in[2 * i] | (uint32_t)in[2 * i + 1] << 8;
    } else if (width == 32) {
        memcpy(out, in, fast * 8 * 4);
    } else {
        unpack_table[width](out, in, fast);
    }
    size_t done = fast * 8;
    const uint8_t *p = in + fast * w;
    /* Remaining values (full groups near the end and a partial one) go
     * through a zero-padded copy. */
    while (done < count) {
        uint8_t tmp[32 + 8] = {0};
        size_t left = count - done;
        size_t take = left < 8 ? left : 8;
        size_t bytes = kiln_pq_bitpacked_size(take, width);
        memcpy(tmp, p, bytes);
        uint32_t vals[8];
        unpack_table[width](vals, tmp, 1);
        memcpy(out + done, vals, take * sizeof *vals);
        done += take;
        p += bytes;
    }
}

void kiln_pq_bitunpack32(uint32_t *out, const uint8_t *in, size_t count, int width)
{
    unpack32_avail(out, in, count, width, kiln_pq_bitpacked_size(count, width));
}

/* Unpack up to 8 values of width 0..64 from a zero-padded 80-byte copy or
 * from input with >= w + 16 readable bytes. */
static void unpack8_64(uint64_t *out, const uint8_t *p, int w)
{
    if (w == 0) {
        memset(out, 0, 8 * sizeof *out);
        return;
    }
    const uint64_t mask = w == 64 ? ~(uint64_t)0 : (((uint64_t)1 << w) - 1);
    for (int i = 0; i < 8; i++) {
        unsigned off = (unsigned)(i * w);
        unsigned s = off & 7;
        const uint8_t *q = p + (off >> 3);
        uint64_t v = load64(q) >> s;
        if (s && w + (int)s > 64)
            v |= (uint64_t)q[8] << (64 - s);
        out[i] = v & mask;
    }
}

static int put_bits_flush(kiln_buf *out, unsigned __int128 *acc, int *nbits, kiln_err *err)
{
    uint8_t bytes[16];
    int nb = 0;
    while (*nbits >= 8) {
        bytes[nb++] = (uint8_t)*acc;
        *acc >>= 8;
        *nbits -= 8;
    }
    return nb ? kiln_buf_append(out, bytes, (size_t)nb, err) : 0;
}

/* Pack count values of width 0..64 LSB first, zero-padding the last byte. */
static int bitpack64(kiln_buf *out, const uint64_t *vals, size_t count, int width, kiln_err *err)
{
    int rc = 0;
    if (width == 0 || count == 0)
        return 0;
    rc = kiln_buf_reserve(out, kiln_pq_bitpacked_size(count, width), err);
    if (rc)
        return rc;
    const uint64_t mask = width == 64 ? ~(uint64_t)0 : (((uint64_t)1 << width) - 1);
    unsigned __int128 acc = 0;
    int nbits = 0;
    for (size_t i = 0; i < count; i++) {
        acc |= (unsigned __int128)(vals[i] & mask) << nbits;
        nbits += width;
        if (nbits >= 64) {
            rc = put_bits_flush(out, &acc, &nbits, err);
            if (rc)
                return rc;
        }
    }
    rc = put_bits_flush(out, &acc, &nbits, err);
    if (rc == 0 && nbits > 0) {
        uint8_t last = (uint8_t)acc;
        rc = kiln_buf_append(out, &last, 1, err);
    }
    return rc;
}

int kiln_pq_bitpack32(kiln_buf *out, const uint32_t *vals, size_t count, int width, kiln_err *err)
{
    if (width < 0 || width > 32)
        return kiln_err_set(err, KILN_EINVAL, "bit width %d is outside 0..32", width);
    if (width == 0 || count == 0)
        return 0;
    int rc = kiln_buf_reserve(out, kiln_pq_bitpacked_size(count, width), err);
    if (rc)
        return rc;
    const uint64_t mask = width == 32 ? 0xffffffffu : (((uint64_t)1 << width) - 1);
    uint8_t *dst = (uint8_t *)out->data + out->len;
    uint64_t acc = 0;
    int nbits = 0;
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        acc |= (vals[i] & mask) << nbits;
        nbits += width;
        if (nbits >= 32) {
            uint32_t lo = (uint32_t)acc;
            memcpy(dst + k, &lo, 4);
            k += 4;
            acc >>= 32;
            nbits -= 32;
        }
    }
    while (nbits > 0) {
        dst[k++] = (uint8_t)acc;
        acc >>= 8;
        nbits -= 8;
    }
    out->len += k;
    out->data[out->len] = '\0';
    return 0;
}

/* ---------------------------------------------------------------- varints */

/* ULEB128 into *v (at most 10 bytes, 64 bits). */
static int get_uleb(uint64_t *v, const uint8_t *in, size_t n, size_t *pos, const char *what, kiln_err *err)
{
    uint64_t x = 0;
    size_t start = *pos;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*pos >= n)
            return kiln_err_set_at(err, KILN_ETRUNC, start, "%s: varint at byte %zu runs past the end (%zu bytes)",
                                   what, start, n);
        uint8_t b = in[(*pos)++];
        if (shift == 63 && (b & 0x7e))
            return kiln_err_set_at(err, KILN_EFORMAT, start, "%s: varint at byte %zu overflows 64 bits", what, start);
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return kiln_err_set_at(err, KILN_EFORMAT, start, "%s: varint at byte %zu is longer than 10 bytes", what, start);
}

static int put_uleb(kiln_buf *out, uint64_t v, kiln_err *err)
{
    uint8_t b[10];
    size_t k = 0;
    do {
        b[k] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[k] |= 0x80;
        k++;
    } while (v);
    return kiln_buf_append(out, b, k, err);
}

static inline uint64_t zigzag_enc(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }

static inline int64_t zigzag_dec(uint64_t v) { return (int64_t)((v >> 1) ^ (~(v & 1) + 1)); }

/* ------------------------------------------- RLE / bit-packed hybrid */

int kiln_pq_rle_decode(uint32_t *out, size_t count, int width, const uint8_t *in, size_t n, size_t *consumed,
                       kiln_err *err)
{
    if (width < 0 || width > 32)
        return kiln_err_set(err, KILN_EINVAL, "RLE: bit width %d is outside 0..32", width);
    if (width == 0) {
        memset(out, 0, count * sizeof *out);
        if (consumed)
            *consumed = 0;
        return 0;
    }
    size_t pos = 0, i = 0;
    size_t vbytes = ((size_t)width + 7) / 8;
    while (i < count) {
        size_t hstart = pos;
        uint64_t hdr;
        if (pos >= n)
            return kiln_err_set_at(err, KILN_ETRUNC, pos, "RLE: data ends at byte %zu after %zu of %zu values", pos, i,
                                   count);
        int rc = get_uleb(&hdr, in, n, &pos, "RLE run header", err);
        if (rc)
            return rc;
        if (hdr > 0xffffffffu)
            return kiln_err_set_at(err, KILN_EFORMAT, hstart, "RLE: run header at byte %zu exceeds 32 bits", hstart);
        size_t left = count - i;
        if (hdr & 1) {
            size_t groups = (size_t)(hdr >> 1);
            size_t nvals = groups * 8;
            size_t take = nvals < left ? nvals : left;
            size_t need = kiln_pq_bitpacked_size(take, width);
            if (need > n - pos)
                return kiln_err_set_at(err, KILN_ETRUNC, hstart,
                                       "RLE: bit-packed run at byte %zu needs %zu bytes, %zu left", hstart, need,
                                       n - pos);
            unpack32_avail(out + i, in + pos, take, width, n - pos);
            size_t full = groups * (size_t)width;
            pos += full < n - pos ? full : n - pos;
            i += take;
        } else {
            size_t run = (size_t)(hdr >> 1);
            if (vbytes > n - pos)
                return kiln_err_set_at(err, KILN_ETRUNC, hstart, "RLE: run value at byte %zu is cut off", pos);
            uint32_t v = 0;
            for (size_t b = 0; b < vbytes; b++)
                v |= (uint32_t)in[pos + b] << (8 * b);
            if (width < 32 && (v >> width))
                return kiln_err_set_at(err, KILN_EFORMAT, pos, "RLE: run value %u at byte %zu does not fit %d bits", v,
                                       pos, width);
            pos += vbytes;
            size_t take = run < left ? run : left;
            for (size_t k = 0; k < take; k++)
                out[i + k] = v;
            i += take;
        }
    }
    if (consumed)
        *consumed = pos;
    return 0;
}

int kiln_pq_rle_decode_prefixed(uint32_t *out, size_t count, int width, const uint8_t *in, size_t n, size_t *consumed,
                                kiln_err *err)
{
    if (n < 4)
        return kiln_err_set_at(err, KILN_ETRUNC, 0, "RLE: %zu bytes is too short for the 4-byte length prefix", n);
    uint32_t len = load32(in);
    if (len > n - 4)
        return kiln_err_set_at(err, KILN_ETRUNC, 0, "RLE: length prefix says %u bytes but only %zu follow", len, n - 4);
    int rc = kiln_pq_rle_decode(out, count, width, in + 4, len, NULL, err);
    if (rc) {
        if (err)
            err->offset += 4;
        return rc;
    }
    if (consumed)
        *consumed = 4 + (size_t)len;
    return 0;
}

int kiln_pq_dict_indices_decode(uint32_t *out, size_t count, uint32_t dict_size, const uint8_t *in, size_t n,
                                kiln_err *err)
{
    if (count == 0)
        return 0;
    if (n < 1)
        return kiln_err_set_at(err, KILN_ETRUNC, 0, "dictionary indices: page is empty but %zu values are expected",
                               count);
    int width = in[0];
    if (width > 32)
        return kiln_err_set_at(err, KILN_EFORMAT, 0, "dictionary indices: bit width %d is over 32", width);
    int rc = kiln_pq_rle_decode(out, count, width, in + 1, n - 1, NULL, err);
    if (rc) {
        if (err)
            err->offset += 1;
        return rc;
    }
    /* one pass over the output to validate: cheap next to decoding */
    for (size_t i = 0; i < count; i++)
        if (out[i] >= dict_size)
            return kiln_err_set_at(err, KILN_EFORMAT, 0,
                                   "dictionary indices: value %zu is index %u but the "
                                   "dictionary has %u entries",
                                   i, out[i], dict_size);
    return 0;
}

int kiln_pq_bitpacked_legacy_decode(uint32_t *out, size_t count, int width, const uint8_t *in, size_t n,
                                    size_t *consumed, kiln_err *err)
{
    if (width < 0 || width > 32)
        return kiln_err_set(err, KILN_EINVAL, "BIT_PACKED: bit width %d is outside 0..32", width);
    size_t need = kiln_pq_bitpacked_size(count, width);
    if (need > n)
        return kiln_err_set_at(err, KILN_ETRUNC, n, "BIT_PACKED: %zu values of %d bits need %zu bytes, %zu present",
                               count, width, need, n);
    size_t bit = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t v = 0;
        for (int k = 0; k < width; k++, bit++)
            v = (v << 1) | ((in[bit >> 3] >> (7 - (bit & 7))) & 1);
        out[i] = v;
    }
    if (consumed)
        *consumed = need;
    return 0;
}

static int rle_flush_literals(kiln_buf *out, const uint32_t *vals, size_t len, int width, kiln_err *err)
{
    if (len == 0)
        return 0;
    size_t groups = (len + 7) / 8;
    int rc = put_uleb(out, ((uint64_t)groups << 1) | 1, err);
    if (rc == 0)
        rc = kiln_pq_bitpack32(out, vals, len, width, err);
    size_t pad = groups * (size_t)width - kiln_pq_bitpacked_size(len, width);
    static const uint8_t zeros[32];
    if (rc == 0 && pad)
        rc = kiln_buf_append(out, zeros, pad, err);
    return rc;
}

static int rle_put_run(kiln_buf *out, uint32_t v, size_t run, int width, kiln_err *err)
{
    int rc = put_uleb(out, (uint64_t)run << 1, err);
    uint8_t b[4];
    size_t vb = ((size_t)width + 7) / 8;
    for (size_t k = 0; k < vb; k++)
        b[k] = (uint8_t)(v >> (8 * k));
    if (rc == 0)
        rc = kiln_buf_append(out, b, vb, err);
    return rc;
}

/* Longest runs / literal stretches one header may describe (the spec caps
 * run lengths at 2^31 - 1; literal runs are split well below that). */
#define RLE_MAX_RUN (((size_t)1 << 31) - 1)
#define RLE_MAX_LITERAL ((size_t)1 << 20)

int kiln_pq_rle_encode(kiln_buf *out, const uint32_t *vals, size_t count, int width, kiln_err *err)
{
    int rc = 0;
    if (width < 0 || width > 32)
        return kiln_err_set(err, KILN_EINVAL, "RLE: bit width %d is outside 0..32", width);
    if (width < 32) {
        uint32_t all = 0;
        for (size_t i = 0; i < count; i++)
            all |= vals[i];
        if (all >> width)
            return kiln_err_set(err, KILN_EINVAL, "RLE: a value does not fit the bit width %d (or of values %#x)",
                                width, all);
    }
    size_t i = 0, lit_start = 0, lit_len = 0;
    while (i < count) {
        size_t r = 1;
        while (i + r < count && vals[i + r] == vals[i] && r < RLE_MAX_RUN)
            r++;
        if (r >= 8) {
            size_t pad = (8 - lit_len % 8) % 8;
            if (lit_len && pad) {
                if (r - pad < 8) {
                    lit_len += r;
                    i += r;
                    goto check_literal;
                }
                lit_len += pad;
                i += pad;
                r -= pad;
            }
            rc = rle_flush_literals(out, vals + lit_start, lit_len, width, err);
            if (rc)
                return rc;
            rc = rle_put_run(out, vals[i], r, width, err);
            if (rc)
                return rc;
            i += r;
            lit_start = i;
            lit_len = 0;
            continue;
        }
        lit_len += r;
        i += r;
    check_literal:
        if (lit_len >= RLE_MAX_LITERAL) {
            size_t whole = lit_len / 8 * 8;
            rc = rle_flush_literals(out, vals + lit_start, whole, width, err);
            if (rc)
                return rc;
            lit_start += whole;
            lit_len -= whole;
        }
    }
    return rle_flush_literals(out, vals + lit_start, lit_len, width, err);
}

int kiln_pq_rle_encode_prefixed(kiln_buf *out, const uint32_t *vals, size_t count, int width, kiln_err *err)
{
    size_t at = out->len;
    static const uint8_t zero4[4];
    int rc = kiln_buf_append(out, zero4, 4, err);
    if (rc)
        return rc;
    rc = kiln_pq_rle_encode(out, vals, count, width, err);
    if (rc)
        return rc;
    size_t len = out->len - at - 4;
    if (len > 0xffffffffu)
        return kiln_err_set(err, KILN_ELIMIT, "RLE: encoded levels exceed 4 GiB");
    uint32_t l32 = (uint32_t)len;
    memcpy(out->data + at, &l32, 4);
    return 0;
}

int kiln_pq_dict_indices_encode(kiln_buf *out, const uint32_t *idx, size_t count, int width, kiln_err *err)
{
    if (width < 0) {
        uint32_t mx = 0;
        for (size_t i = 0; i < count; i++)
            mx = idx[i] > mx ? idx[i] : mx;
        width = kiln_pq_bit_width(mx);
    }
    if (width > 32)
        return kiln_err_set(err, KILN_EINVAL, "dictionary indices: bit width %d over 32", width);
    int rc = kiln_buf_putc(out, (char)width, err);
    if (rc)
        return rc;
    return kiln_pq_rle_encode(out, idx, count, width, err);
}

/* ------------------------------------------------------------------ PLAIN */

int kiln_pq_plain_decode_bool(uint8_t *out, size_t count, const uint8_t *in, size_t n, size_t *consumed, kiln_err *err)
{
    size_t need = (count + 7) / 8;
    if (need > n)
        return kiln_err_set_at(err, KILN_ETRUNC, n, "PLAIN BOOLEAN: %zu values need %zu bytes, page has %zu", count,
                               need, n);
    for (size_t i = 0; i < count; i++)
        out[i] = (in[i >> 3] >> (i & 7)) & 1;
    if (consumed)
        *consumed = need;
    return 0;
}

int kiln_pq_plain_encode_bool(kiln_buf *out, const uint8_t *vals, size_t count, kiln_err *err)
{
    size_t need = (count + 7) / 8;
    int rc = kiln_buf_reserve(out, need, err);
    if (rc)
        return rc;
    uint8_t *dst = (uint8_t *)out->data + out->len;
    memset(dst, 0, need);
    for (size_t i = 0; i < count; i++)
        if (vals[i])
            dst[i >> 3] |= (uint8_t)(1u << (i & 7));
    out->len += need;
    out->data[out->len] = '\0';
    return 0;
}

int kiln_pq_plain_decode_fixed(void *out, size_t count, size_t width, const uint8_t *in, size_t n, size_t *consumed,
                               kiln_err *err)
{
    if (width == 0)
        return kiln_err_set(err, KILN_EINVAL, "PLAIN: value width 0");
    if (count > n / width)
        return kiln_err_set_at(err, KILN_ETRUNC, n, "PLAIN: %zu values of %zu bytes do not fit in %zu bytes", count,
                               width, n);
    if (count)
        memcpy(out, in, count * width);
    if (consumed)
        *consumed = count * width;
    return 0;
}

int kiln_pq_plain_encode_fixed(kiln_buf *out, const void *vals, size_t count, size_t width, kiln_err *err)
{
    if (width == 0)
        return kiln_err_set(err, KILN_EINVAL, "PLAIN: value width 0");
    if (count > SIZE_MAX / width)
        return kiln_err_set(err, KILN_ELIMIT, "PLAIN: %zu values overflow", count);
    return kiln_buf_append(out, vals, count * width, err);
}

int kiln_pq_plain_decode_bytes(kiln_pq_bytes *out, size_t count, const uint8_t *in, size_t n, size_t *consumed,
                               kiln_err *err)
{
    size_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        if (n - pos < 4)
            return kiln_err_set_at(err, KILN_ETRUNC, pos,
                                   "PLAIN BYTE_ARRAY: value %zu of %zu: length at byte %zu is "
                                   "cut off",
                                   i, count, pos);
        uint32_t len = load32(in + pos);
        if (len > n - pos - 4)
            return kiln_err_set_at(err, KILN_ETRUNC, pos,
                                   "PLAIN BYTE_ARRAY: value %zu at byte %zu says %u bytes, only "
                                   "%zu left",
                                   i, pos, len, n - pos - 4);
        out[i].ptr = in + pos + 4;
        out[i].len = len;
        pos += 4 + (size_t)len;
    }
    if (consumed)
        *consumed = pos;
    return 0;
}

int kiln_pq_plain_encode_bytes(kiln_buf *out, const kiln_pq_bytes *vals, size_t count, kiln_err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        total += 4 + (size_t)vals[i].len;
        if (total < (size_t)vals[i].len)
            return kiln_err_set(err, KILN_ELIMIT, "PLAIN BYTE_ARRAY: total size overflows");
    }
    int rc = kiln_buf_reserve(out, total, err);
    if (rc)
        return rc;
    uint8_t *dst = (uint8_t *)out->data + out->len;
    for (size_t i = 0; i < count; i++) {
        uint32_t len = vals[i].len;
        memcpy(dst, &len, 4);
        if (len)
            memcpy(dst + 4, vals[i].ptr, len);
        dst += 4 + (size_t)len;
    }
    out->len += total;
    out->data[out->len] = '\0';
    return 0;
}

#define JULIAN_EPOCH 2440588 /* Julian day number of 1970-01-01 */
#define MICROS_PER_DAY INT64_C(86400000000)
#define NANOS_PER_DAY UINT64_C(86400000000000)

int kiln_pq_int96_to_micros(int64_t *out, const uint8_t in[12])
{
    uint64_t nanos = load64(in);
    uint32_t jd = load32(in + 8);
    if (nanos >= NANOS_PER_DAY)
        return KILN_EFORMAT;
    int64_t days = (int64_t)jd - JULIAN_EPOCH, m;
    if (__builtin_mul_overflow(days, MICROS_PER_DAY, &m) || __builtin_add_overflow(m, (int64_t)(nanos / 1000), &m))
        return KILN_EFORMAT;
    *out = m;
    return 0;
}

void kiln_pq_int96_from_micros(uint8_t out[12], int64_t micros)
{
    int64_t days = micros / MICROS_PER_DAY, rem = micros % MICROS_PER_DAY;
    if (rem < 0) {
        rem += MICROS_PER_DAY;
        days--;
    }
    uint64_t nanos = (uint64_t)rem * 1000;
    uint32_t jd = (uint32_t)(days + JULIAN_EPOCH);
    memcpy(out, &nanos, 8);
    memcpy(out + 8, &jd, 4);
}

/* ---------------------------------------------------- DELTA_BINARY_PACKED */

typedef struct dbp_hdr {
    uint64_t block_size, nminiblocks, total, per_mb;
    uint64_t first; /* zigzag-decoded, as raw bits */
} dbp_hdr;

static int dbp_read_header(dbp_hdr *h, const uint8_t *in, size_t n, size_t *pos, kiln_err *err)
{
    uint64_t z;
    int rc;
    if ((rc = get_uleb(&h->block_size, in, n, pos, "DELTA_BINARY_PACKED block size", err)) ||
        (rc = get_uleb(&h->nminiblocks, in, n, pos, "DELTA_BINARY_PACKED miniblock count", err)) ||
        (rc = get_uleb(&h->total, in, n, pos, "DELTA_BINARY_PACKED value count", err)) ||
        (rc = get_uleb(&z, in, n, pos, "DELTA_BINARY_PACKED first value", err)))
        return rc;
    /* The spec requires multiples of 128 / 32; we accept any miniblock size
     * that is a multiple of 8 (the spec's own examples use 8) within caps. */
    if (h->block_size == 0 || h->block_size > DBP_MAX_BLOCK || h->nminiblocks == 0 ||
        h->nminiblocks > DBP_MAX_MINIBLOCKS || h->block_size % h->nminiblocks != 0 ||
        (h->block_size / h->nminiblocks) % 8 != 0)
        return kiln_err_set_at(err, KILN_EFORMAT, 0,
                               "DELTA_BINARY_PACKED: bad header: block size %llu with %llu "
                               "miniblocks",
                               (unsigned long long)h->block_size, (unsigned long long)h->nminiblocks);
    h->per_mb = h->block_size / h->nminiblocks;
    h->first = (uint64_t)zigzag_dec(z);
    return 0;
}

int kiln_pq_delta_count(uint64_t *out, const uint8_t *in, size_t n, kiln_err *err)
{
    dbp_hdr h;
    size_t pos = 0;
    int rc = dbp_read_header(&h, in, n, &pos, err);
    if (rc == 0)
        *out = h.total;
    return rc;
}

/* Shared decoder: is64 selects the value width (wrapping arithmetic is done
 * in uint64 and truncated for int32). */
static int dbp_decode(void *outv, int is64, size_t count, const uint8_t *in, size_t n, size_t *consumed, kiln_err *err)
{
    dbp_hdr h;
    size_t pos = 0;
    int rc = dbp_read_header(&h, in, n, &pos, err);
    if (rc)
        return rc;
    if (h.total < count)
        return kiln_err_set_at(err, KILN_EFORMAT, 0, "DELTA_BINARY_PACKED: stream holds %llu values, page expects %zu",
                               (unsigned long long)h.total, count);
    int32_t *o32 = is64 ? NULL : outv;
    int64_t *o64 = is64 ? outv : NULL;
    /* The spec caps INT32 miniblocks at 32 bits, but DuckDB (1.5) computes
     * INT32 deltas in 64 bits and writes widths up to 33; the sums are the
     * same modulo 2^32, so accept up to 64 for both and truncate. */
    const int maxw = 64;
    size_t produced = 0;
    uint64_t prev = h.first;
    if (count > 0) {
        if (is64)
            o64[0] = (int64_t)prev;
        else
            o32[0] = (int32_t)(uint32_t)prev;
        produced = 1;
    }
    uint64_t remaining = h.total ? h.total - 1 : 0;
    uint8_t widths[DBP_MAX_MINIBLOCKS];
    while (remaining > 0) {
        size_t bstart = pos;
        uint64_t zmin;
        rc = get_uleb(&zmin, in, n, &pos, "DELTA_BINARY_PACKED min delta", err);
        if (rc)
            return rc;
        uint64_t min_delta = (uint64_t)zigzag_dec(zmin);
        if (h.nminiblocks > n - pos)
            return kiln_err_set_at(err, KILN_ETRUNC, pos,
                                   "DELTA_BINARY_PACKED: block at byte %zu: miniblock widths cut "
                                   "off (%llu values still to come)",
                                   bstart, (unsigned long long)remaining);
        memcpy(widths, in + pos, h.nminiblocks);
        pos += h.nminiblocks;
        for (uint64_t m = 0; m < h.nminiblocks && remaining > 0; m++) {
            int w = widths[m];
            if (w > maxw)
                return kiln_err_set_at(err, KILN_EFORMAT, bstart + 1,
                                       "DELTA_BINARY_PACKED: block at byte %zu: miniblock bit "
                                       "width %d over %d",
                                       bstart, w, maxw);
            size_t mbbytes = (size_t)h.per_mb * (size_t)w / 8;
            if (mbbytes > n - pos)
                return kiln_err_set_at(err, KILN_ETRUNC, pos,
                                       "DELTA_BINARY_PACKED: miniblock at byte %zu needs %zu "
                                       "bytes, %zu left",
                                       pos, mbbytes, n - pos);
            size_t take = h.per_mb < remaining ? (size_t)h.per_mb : (size_t)remaining;
            size_t want = count - produced;
            if (want > take)
                want = take;
            const uint8_t *p = in + pos;
            size_t done = 0;
            if (!is64 && w <= 32) {
                /* int32 fast path: unpack 256 at a time, then prefix-sum */
                uint32_t tmp[256];
                uint32_t pv = (uint32_t)prev, md = (uint32_t)min_delta;
                while (done < want) {
                    size_t k = want - done < 256 ? want - done : 256;
                    const uint8_t *q = p + kiln_pq_bitpacked_size(done, w);
                    unpack32_avail(tmp, q, k, w, (size_t)(in + n - q));
                    for (size_t j = 0; j < k; j++) {
                        pv += md + tmp[j];
                        o32[produced + done + j] = (int32_t)pv;
                    }
                    done += k;
                }
                prev = pv;
            } else if (w <= 32) {
                uint32_t tmp[256];
                uint64_t pv = prev;
                while (done < want) {
                    size_t k = want - done < 256 ? want - done : 256;
                    const uint8_t *q = p + kiln_pq_bitpacked_size(done, w);
                    unpack32_avail(tmp, q, k, w, (size_t)(in + n - q));
                    for (size_t j = 0; j < k; j++) {
                        pv += min_delta + tmp[j];
                        o64[produced + done + j] = (int64_t)pv;
                    }
                    done += k;
                }
                prev = pv;
            } else {
                /* widths 33..64: groups of 8, with a padded copy when
                 * near the end of the input */
                uint64_t vals[8];
                uint64_t pv = prev;
                while (done < want) {
                    const uint8_t *g = p + (done / 8) * (size_t)w;
                    size_t left = (size_t)(in + n - g);
                    if (left >= (size_t)w + 16) {
                        unpack8_64(vals, g, w);
                    } else {
                        uint8_t tmpb[64 + 16] = {0};
                        memcpy(tmpb, g, left < (size_t)w ? left : (size_t)w);
                        unpack8_64(vals, tmpb, w);
                    }
                    size_t k = want - done < 8 ? want - done : 8;
                    for (size_t j = 0; j < k; j++) {
                        pv += min_delta + vals[j];
                        if (is64)
                            o64[produced + done + j] = (int64_t)pv;
                        else
                            o32[produced + done + j] = (int32_t)(uint32_t)pv;
                    }
                    done += k;
                }
                prev = pv;
            }
            produced += want;
            pos += mbbytes;
            remaining -= take;
        }
    }
    if (consumed)
        *consumed = pos;
    return 0;
}

int kiln_pq_delta_decode_i32(int32_t *out, size_t count, const uint8_t *in, size_t n, size_t *consumed, kiln_err *err)
{
    return dbp_decode(out, 0, count, in, n, consumed, err);
}

int kiln_pq_delta_decode_i64(int64_t *out, size_t count, const uint8_t *in, size_t n, size_t *consumed, kiln_err *err)
{
    return dbp_decode(out, 1, count, in, n, consumed, err);
}

#define DBP_BLOCK 128
#define DBP_MINIBLOCKS 4
#define DBP_PER_MB (DBP_BLOCK / DBP_MINIBLOCKS)

/* Shared encoder over values given as raw 64-bit patterns (int32 values
 * sign-extended; is64 = 0 makes deltas wrap at 32 bits). */
static int dbp_encode(kiln_buf *out, const void *valsv, int is64, size_t count, kiln_err *err)
{
    const int32_t *v32 = is64 ? NULL : valsv;
    const int64_t *v64 = is64 ? valsv : NULL;
#define VAL(i) (is64 ? v64[(i)] : (int64_t)v32[(i)])
    int rc;
    if ((rc = put_uleb(out, DBP_BLOCK, err)) || (rc = put_uleb(out, DBP_MINIBLOCKS, err)) ||
        (rc = put_uleb(out, count, err)) || (rc = put_uleb(out, zigzag_enc(count ? VAL(0) : 0), err)))
        return rc;
    size_t i = 1;
    while (i < count) {
        size_t nd = count - i < DBP_BLOCK ? count - i : DBP_BLOCK;
        int64_t deltas[DBP_BLOCK];
        int64_t mind = 0;
        for (size_t k = 0; k < nd; k++) {
            int64_t d;
            if (is64)
                d = (int64_t)((uint64_t)v64[i + k] - (uint64_t)v64[i + k - 1]);
            else
                d = (int32_t)((uint32_t)v32[i + k] - (uint32_t)v32[i + k - 1]);
            deltas[k] = d;
            if (k == 0 || d < mind)
                mind = d;
        }
        uint64_t rel[DBP_BLOCK];
        for (size_t k = 0; k < DBP_BLOCK; k++) {
            if (k < nd) {
                uint64_t r = (uint64_t)deltas[k] - (uint64_t)mind;
                rel[k] = is64 ? r : (uint32_t)r;
            } else {
                rel[k] = 0;
            }
        }
        uint8_t widths[DBP_MINIBLOCKS] = {0};
        size_t nmb = (nd + DBP_PER_MB - 1) / DBP_PER_MB;
        for (size_t m = 0; m < nmb; m++) {
            uint64_t all = 0;
            for (size_t k = 0; k < DBP_PER_MB; k++)
                all |= rel[m * DBP_PER_MB + k];
            widths[m] = (uint8_t)kiln_pq_bit_width(all);
        }
        if ((rc = put_uleb(out, zigzag_enc(mind), err)) || (rc = kiln_buf_append(out, widths, DBP_MINIBLOCKS, err)))
            return rc;
        for (size_t m = 0; m < nmb; m++) {
            rc = bitpack64(out, rel + m * DBP_PER_MB, DBP_PER_MB, widths[m], err);
            if (rc)
                return rc;
        }
        i += nd;
    }
#undef VAL
    return 0;
}

int kiln_pq_delta_encode_i32(kiln_buf *out, const int32_t *vals, size_t count, kiln_err *err)
{
    return dbp_encode(out, vals, 0, count, err);
}

int kiln_pq_delta_encode_i64(kiln_buf *out, const int64_t *vals, size_t count, kiln_err *err)
{
    return dbp_encode(out, vals, 1, count, err);
}

/* ------------------------------------------------ DELTA_LENGTH_BYTE_ARRAY */

int kiln_pq_dlba_decode(kiln_pq_bytes *out, size_t count, const uint8_t *in, size_t n, size_t *consumed, kiln_err *err)
{
    int rc = 0;
    int32_t *lens = NULL;
    size_t pos = 0;
    if (count == 0 && n == 0)
        goto ok;
    if (count > SIZE_MAX / sizeof *lens)
        return kiln_err_set(err, KILN_ELIMIT, "DELTA_LENGTH_BYTE_ARRAY: count %zu", count);
    lens = kiln_malloc(count ? count * sizeof *lens : 1);
    if (!lens)
        return kiln_err_set(err, KILN_ENOMEM,
                            "DELTA_LENGTH_BYTE_ARRAY: out of memory for %zu "
                            "lengths",
                            count);
    rc = kiln_pq_delta_decode_i32(lens, count, in, n, &pos, err);
    if (rc)
        goto done;
    for (size_t i = 0; i < count; i++) {
        if (lens[i] < 0) {
            rc = kiln_err_set_at(err, KILN_EFORMAT, 0, "DELTA_LENGTH_BYTE_ARRAY: value %zu has negative length %d", i,
                                 lens[i]);
            goto done;
        }
        if ((size_t)lens[i] > n - pos) {
            rc = kiln_err_set_at(err, KILN_ETRUNC, pos,
                                 "DELTA_LENGTH_BYTE_ARRAY: value %zu at byte %zu needs %d bytes, "
                                 "%zu left",
                                 i, pos, lens[i], n - pos);
            goto done;
        }
        out[i].ptr = in + pos;
        out[i].len = (uint32_t)lens[i];
        pos += (size_t)lens[i];
    }
ok:
    if (consumed)
        *consumed = pos;
done:
    kiln_free(lens);
    return rc;
}

static int collect_lens(int32_t **out, const kiln_pq_bytes *vals, size_t count, kiln_err *err)
{
    int32_t *lens = kiln_malloc(count ? count * sizeof *lens : 1);
    if (!lens)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory for %zu lengths", count);
    for (size_t i = 0; i < count; i++) {
        if (vals[i].len > INT32_MAX) {
            kiln_free(lens);
            return kiln_err_set(err, KILN_EINVAL, "byte array %zu is longer than 2 GiB", i);
        }
        lens[i] = (int32_t)vals[i].len;
    }
    *out = lens;
    return 0;
}

int kiln_pq_dlba_encode(kiln_buf *out, const kiln_pq_bytes *vals, size_t count, kiln_err *err)
{
    int32_t *lens = NULL;
    int rc = collect_lens(&lens, vals, count, err);
    if (rc)
        goto done;
    rc = kiln_pq_delta_encode_i32(out, lens, count, err);
    for (size_t i = 0; rc == 0 && i < count; i++)
        if (vals[i].len)
            rc = kiln_buf_append(out, vals[i].ptr, vals[i].len, err);
done:
    kiln_free(lens);
    return rc;
}

/* --------------------------------------------------------- DELTA_BYTE_ARRAY */

int kiln_pq_dba_decode(kiln_pq_bytes *out, size_t count, const uint8_t *in, size_t n, kiln_arena *arena,
                       size_t *consumed, kiln_err *err)
{
    static const uint8_t empty[1];
    int rc = 0;
    int32_t *prefix = NULL;
    size_t pos = 0, sfx_used = 0;
    if (count == 0 && n == 0)
        goto ok;
    if (count > SIZE_MAX / sizeof *prefix)
        return kiln_err_set(err, KILN_ELIMIT, "DELTA_BYTE_ARRAY: count %zu", count);
    prefix = kiln_malloc(count ? count * sizeof *prefix : 1);
    if (!prefix)
        return kiln_err_set(err, KILN_ENOMEM,
                            "DELTA_BYTE_ARRAY: out of memory for %zu "
                            "prefix lengths",
                            count);
    rc = kiln_pq_delta_decode_i32(prefix, count, in, n, &pos, err);
    if (rc) {
        kiln_err_prefix(err, "DELTA_BYTE_ARRAY prefix lengths: ");
        goto done;
    }
    /* suffixes land in out[] first (zero copy), then values are rebuilt */
    rc = kiln_pq_dlba_decode(out, count, in + pos, n - pos, &sfx_used, err);
    if (rc) {
        if (err)
            err->offset += pos;
        kiln_err_prefix(err, "DELTA_BYTE_ARRAY suffixes: ");
        goto done;
    }
    size_t total = 0, prev_len = 0;
    for (size_t i = 0; i < count; i++) {
        if (prefix[i] < 0 || (size_t)prefix[i] > prev_len) {
            rc = kiln_err_set_at(err, KILN_EFORMAT, 0,
                                 "DELTA_BYTE_ARRAY: value %zu has prefix length %d but the "
                                 "previous value has %zu bytes",
                                 i, prefix[i], prev_len);
            goto done;
        }
        prev_len = (size_t)prefix[i] + out[i].len;
        total += prev_len;
        if (total > KILN_PQ_MATERIALIZE_CAP) {
            rc = kiln_err_set_at(err, KILN_ELIMIT, 0, "DELTA_BYTE_ARRAY: values rebuild to more than %zu bytes",
                                 KILN_PQ_MATERIALIZE_CAP);
            goto done;
        }
    }
    uint8_t *mem = NULL;
    if (total) {
        mem = kiln_arena_alloc(arena, total);
        if (!mem) {
            rc = kiln_err_set(err, KILN_ENOMEM, "DELTA_BYTE_ARRAY: out of memory for %zu bytes", total);
            goto done;
        }
    }
    const uint8_t *prev = empty;
    uint8_t *dst = mem;
    for (size_t i = 0; i < count; i++) {
        size_t pl = (size_t)prefix[i], sl = out[i].len;
        if (pl + sl == 0) {
            out[i].ptr = empty;
            out[i].len = 0;
            prev = empty;
            continue;
        }
        if (pl)
            memcpy(dst, prev, pl);
        if (sl)
            memcpy(dst + pl, out[i].ptr, sl);
        out[i].ptr = dst;
        out[i].len = (uint32_t)(pl + sl);
        prev = dst;
        dst += pl + sl;
    }
    pos += sfx_used;
ok:
    if (consumed)
        *consumed = pos;
done:
    kiln_free(prefix);
    return rc;
}

int kiln_pq_dba_encode(kiln_buf *out, const kiln_pq_bytes *vals, size_t count, kiln_err *err)
{
    int rc = 0;
    int32_t *prefix = NULL;
    kiln_pq_bytes *sfx = NULL;
    prefix = kiln_malloc(count ? count * sizeof *prefix : 1);
    sfx = kiln_malloc(count ? count * sizeof *sfx : 1);
    if (!prefix || !sfx) {
        rc = kiln_err_set(err, KILN_ENOMEM, "DELTA_BYTE_ARRAY: out of memory for %zu values", count);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        if (vals[i].len > INT32_MAX) {
            rc = kiln_err_set(err, KILN_EINVAL, "DELTA_BYTE_ARRAY: value %zu is over 2 GiB", i);
            goto done;
        }
        uint32_t pl = 0;
        if (i > 0) {
            uint32_t lim = vals[i].len < vals[i - 1].len ? vals[i].len : vals[i - 1].len;
            while (pl < lim && vals[i].ptr[pl] == vals[i - 1].ptr[pl])
                pl++;
        }
        prefix[i] = (int32_t)pl;
        sfx[i].ptr = vals[i].len ? vals[i].ptr + pl : vals[i].ptr;
        sfx[i].len = vals[i].len - pl;
    }
    rc = kiln_pq_delta_encode_i32(out, prefix, count, err);
    if (rc == 0)
        rc = kiln_pq_dlba_encode(out, sfx, count, err);
done:
    kiln_free(prefix);
    kiln_free(sfx);
    return rc;
}

/* ------------------------------------------------------- BYTE_STREAM_SPLIT */

int kiln_pq_bss_decode(void *out, size_t count, size_t width, const uint8_t *in, size_t n, size_t *consumed,
                       kiln_err *err)
{
    if (width == 0)
        return kiln_err_set(err, KILN_EINVAL, "BYTE_STREAM_SPLIT: value width 0");
    if (count > n / width)
        return kiln_err_set_at(err, KILN_ETRUNC, n,
                               "BYTE_STREAM_SPLIT: %zu values of %zu bytes need more than the "
                               "%zu bytes present",
                               count, width, n);
    uint8_t *o = out;
    if (width == 4) {
        const uint8_t *s0 = in, *s1 = in + count, *s2 = in + 2 * count, *s3 = in + 3 * count;
        for (size_t i = 0; i < count; i++) {
            o[4 * i] = s0[i];
            o[4 * i + 1] = s1[i];
            o[4 * i + 2] = s2[i];
            o[4 * i + 3] = s3[i];
        }
    } else {
        for (size_t b = 0; b < width; b++) {
            const uint8_t *s = in + b * count;
            for (size_t i = 0; i < count; i++)
                o[i * width + b] = s[i];
        }
    }
    if (consumed)
        *consumed = count * width;
    return 0;
}

int kiln_pq_bss_encode(kiln_buf *out, const void *vals, size_t count, size_t width, kiln_err *err)
{
    if (width == 0)
        return kiln_err_set(err, KILN_EINVAL, "BYTE_STREAM_SPLIT: value width 0");
    if (count > SIZE_MAX / width)
        return kiln_err_set(err, KILN_ELIMIT, "BYTE_STREAM_SPLIT: %zu values overflow", count);
    int rc = kiln_buf_reserve(out, count * width, err);
    if (rc)
        return rc;
    const uint8_t *v = vals;
    uint8_t *dst = (uint8_t *)out->data + out->len;
    for (size_t b = 0; b < width; b++)
        for (size_t i = 0; i < count; i++)
            dst[b * count + i] = v[i * width + b];
    out->len += count * width;
    out->data[out->len] = '\0';
    return 0;
}
