/* Unit tests for src/format/pq_enc.c: bit packing, the RLE / bit-packed
 * hybrid, PLAIN, INT96, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY,
 * DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT. Round trips over edge cases,
 * known-answer vectors from the Parquet spec (Encodings.md), and hostile
 * input (every truncation of valid streams, bad headers). */
#include "harness/harness.h"
#include "format/parquet/pq_enc.h"

#include <stdlib.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Fill vals with a pattern of values that fit `width` bits. */
static void fill_pattern(uint32_t *vals, size_t n, int width, int pattern)
{
    uint32_t mask = width >= 32 ? 0xffffffffu : ((1u << width) - 1);
    for (size_t i = 0; i < n; i++) {
        switch (pattern) {
        case 0: vals[i] = (uint32_t)rnd() & mask; break;                             /* random */
        case 1: vals[i] = mask; break;                                               /* all equal (max) */
        case 2: vals[i] = (i & 1) ? mask : 0; break;                                 /* alternating */
        case 3: vals[i] = ((i / 37) & 1) ? mask : (uint32_t)(i / 100) & mask; break; /* runs */
        default: vals[i] = (rnd() % 5 == 0) ? (uint32_t)rnd() & mask : 1 & mask; break;
        }
    }
}

TEST(pq_enc, bit_width)
{
    CHECK_EQ_INT(kiln_pq_bit_width(0), 0);
    CHECK_EQ_INT(kiln_pq_bit_width(1), 1);
    CHECK_EQ_INT(kiln_pq_bit_width(2), 2);
    CHECK_EQ_INT(kiln_pq_bit_width(3), 2);
    CHECK_EQ_INT(kiln_pq_bit_width(255), 8);
    CHECK_EQ_INT(kiln_pq_bit_width(256), 9);
    CHECK_EQ_INT(kiln_pq_bit_width(UINT32_MAX), 32);
    CHECK_EQ_INT(kiln_pq_bit_width(UINT64_MAX), 64);
    CHECK_EQ_INT(kiln_pq_bitpacked_size(8, 3), 3);
    CHECK_EQ_INT(kiln_pq_bitpacked_size(9, 3), 4);
    CHECK_EQ_INT(kiln_pq_bitpacked_size(5, 32), 20);
}

/* Encodings.md: 0..7 at width 3 packs to 10001000 11000110 11111010. */
TEST(pq_enc, bitpack_spec_vector)
{
    kiln_err err = {0};
    kiln_buf b;
    kiln_buf_init(&b, 0);
    uint32_t vals[8] = {0, 1, 2, 3, 4, 5, 6, 7}, back[8];
    CHECK_OK(kiln_pq_bitpack32(&b, vals, 8, 3, &err), &err);
    CHECK_EQ_INT(b.len, 3);
    CHECK_EQ_INT((uint8_t)b.data[0], 0x88);
    CHECK_EQ_INT((uint8_t)b.data[1], 0xC6);
    CHECK_EQ_INT((uint8_t)b.data[2], 0xFA);
    kiln_pq_bitunpack32(back, (const uint8_t *)b.data, 8, 3);
    CHECK(memcmp(back, vals, sizeof vals) == 0);
    kiln_buf_free(&b);
}

TEST(pq_enc, bitpack_roundtrip_all_widths)
{
    kiln_err err = {0};
    uint32_t vals[300], back[300];
    for (int w = 0; w <= 32; w++) {
        for (size_t n = 0; n <= 300; n += (n < 20 ? 1 : 37)) {
            fill_pattern(vals, n, w, 0);
            kiln_buf b;
            kiln_buf_init(&b, 0);
            CHECK_OK(kiln_pq_bitpack32(&b, vals, n, w, &err), &err);
            CHECK_EQ_INT(b.len, kiln_pq_bitpacked_size(n, w));
            /* copy into an exact-size heap block so ASan sees over-reads */
            uint8_t *exact = malloc(b.len ? b.len : 1);
            if (b.len)
                memcpy(exact, b.data, b.len);
            kiln_pq_bitunpack32(back, exact, n, w);
            free(exact);
            kiln_buf_free(&b);
            for (size_t i = 0; i < n; i++)
                CHECK_MSG(back[i] == vals[i], "width %d n %zu value %zu: %u != %u", w, n, i, back[i], vals[i]);
        }
    }
}

/* The hybrid form of the spec's example: one bit-packed group of 8. */
TEST(pq_enc, rle_known_answers)
{
    kiln_err err = {0};
    kiln_buf b;
    kiln_buf_init(&b, 0);
    uint32_t vals[100];
    for (int i = 0; i < 8; i++)
        vals[i] = (uint32_t)i;
    CHECK_OK(kiln_pq_rle_encode(&b, vals, 8, 3, &err), &err);
    const uint8_t want1[] = {0x03, 0x88, 0xC6, 0xFA};
    CHECK_EQ_INT(b.len, sizeof want1);
    CHECK(memcmp(b.data, want1, sizeof want1) == 0);
    /* 100 copies of 5 at width 3: RLE header varint(100 << 1) = C8 01, value 05 */
    kiln_buf_reset(&b);
    for (int i = 0; i < 100; i++)
        vals[i] = 5;
    CHECK_OK(kiln_pq_rle_encode(&b, vals, 100, 3, &err), &err);
    const uint8_t want2[] = {0xC8, 0x01, 0x05};
    CHECK_EQ_INT(b.len, sizeof want2);
    CHECK(memcmp(b.data, want2, sizeof want2) == 0);
    /* width 9 uses a 2-byte run value */
    kiln_buf_reset(&b);
    for (int i = 0; i < 10; i++)
        vals[i] = 300;
    CHECK_OK(kiln_pq_rle_encode(&b, vals, 10, 9, &err), &err);
    const uint8_t want3[] = {0x14, 0x2C, 0x01};
    CHECK_EQ_INT(b.len, sizeof want3);
    CHECK(memcmp(b.data, want3, sizeof want3) == 0);
    /* length-prefixed form */
    kiln_buf_reset(&b);
    CHECK_OK(kiln_pq_rle_encode_prefixed(&b, vals, 10, 9, &err), &err);
    const uint8_t want4[] = {3, 0, 0, 0, 0x14, 0x2C, 0x01};
    CHECK_EQ_INT(b.len, sizeof want4);
    CHECK(memcmp(b.data, want4, sizeof want4) == 0);
    kiln_buf_free(&b);

    /* hand-built stream: run of 3 x 1, then a bit-packed group at width 1 */
    const uint8_t in[] = {0x06, 0x01, 0x03, 0xA5};
    uint32_t out[11];
    size_t used = 0;
    CHECK_OK(kiln_pq_rle_decode(out, 11, 1, in, sizeof in, &used, &err), &err);
    const uint32_t want5[] = {1, 1, 1, 1, 0, 1, 0, 0, 1, 0, 1};
    CHECK(memcmp(out, want5, sizeof want5) == 0);
    CHECK_EQ_INT(used, 4);
}

TEST(pq_enc, rle_roundtrip_widths_patterns)
{
    kiln_err err = {0};
    static const size_t counts[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 100, 1000, 4099};
    uint32_t *vals = malloc(4099 * sizeof *vals), *back = malloc(4100 * sizeof *back);
    for (int w = 0; w <= 32; w++) {
        for (int pat = 0; pat < 5; pat++) {
            for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
                size_t n = counts[ci];
                fill_pattern(vals, n, w, pat);
                kiln_buf b;
                kiln_buf_init(&b, 0);
                int rc = kiln_pq_rle_encode_prefixed(&b, vals, n, w, &err);
                CHECK_MSG(rc == 0, "encode w=%d pat=%d n=%zu: %s", w, pat, n, err.msg);
                uint8_t *exact = malloc(b.len + 3);
                memcpy(exact, b.data, b.len);
                memcpy(exact + b.len, "xyz", 3); /* trailing bytes must be left alone */
                size_t used = 0;
                back[n] = 0xdeadbeef;
                rc = kiln_pq_rle_decode_prefixed(back, n, w, exact, b.len + 3, &used, &err);
                CHECK_MSG(rc == 0, "decode w=%d pat=%d n=%zu: %s", w, pat, n, err.msg);
                CHECK_EQ_INT(used, b.len);
                CHECK_EQ_INT(back[n], 0xdeadbeef); /* no write past count */
                for (size_t i = 0; i < n; i++)
                    CHECK_MSG(back[i] == vals[i], "w=%d pat=%d n=%zu i=%zu: %u != %u", w, pat, n, i, back[i], vals[i]);
                free(exact);
                kiln_buf_free(&b);
            }
        }
    }
    free(vals);
    free(back);
}

/* Run choice: long runs become RLE runs, so all-equal data is tiny and
 * runs after an odd literal stretch still work. */
TEST(pq_enc, rle_encoder_picks_runs)
{
    kiln_err err = {0};
    size_t n = 100000;
    uint32_t *vals = malloc(n * sizeof *vals), *back = malloc(n * sizeof *back);
    for (size_t i = 0; i < n; i++)
        vals[i] = 1;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_rle_encode(&b, vals, n, 1, &err), &err);
    CHECK(b.len <= 4);
    /* 3 literals, then 20 equal, then 5 literals, then 1000 equal */
    size_t k = 0;
    vals[k++] = 0;
    vals[k++] = 1;
    vals[k++] = 0;
    for (int i = 0; i < 20; i++)
        vals[k++] = 1;
    for (int i = 0; i < 5; i++)
        vals[k++] = (uint32_t)(i & 1);
    for (int i = 0; i < 1000; i++)
        vals[k++] = 0;
    kiln_buf_reset(&b);
    CHECK_OK(kiln_pq_rle_encode(&b, vals, k, 1, &err), &err);
    CHECK(b.len < 20);
    CHECK_OK(kiln_pq_rle_decode(back, k, 1, (const uint8_t *)b.data, b.len, NULL, &err), &err);
    CHECK(memcmp(back, vals, k * sizeof *vals) == 0);
    /* values wider than the width are refused */
    vals[0] = 2;
    CHECK_EQ_INT(kiln_pq_rle_encode(&b, vals, 1, 1, &err), KILN_EINVAL);
    CHECK_EQ_INT(kiln_pq_rle_encode(&b, vals, 1, 33, &err), KILN_EINVAL);
    kiln_buf_free(&b);
    free(vals);
    free(back);
}

TEST(pq_enc, rle_hostile)
{
    kiln_err err = {0};
    uint32_t out[64];
    /* bit-packed run of 2 groups at width 3 needs 6 bytes; only 2 present */
    const uint8_t t1[] = {0x05, 0xff, 0xff};
    CHECK_EQ_INT(kiln_pq_rle_decode(out, 16, 3, t1, sizeof t1, NULL, &err), KILN_ETRUNC);
    /* run value 9 does not fit 3 bits */
    const uint8_t t2[] = {0x10, 0x09};
    CHECK_EQ_INT(kiln_pq_rle_decode(out, 8, 3, t2, sizeof t2, NULL, &err), KILN_EFORMAT);
    CHECK_EQ_INT(err.offset, 1);
    /* stream ends before count values */
    const uint8_t t3[] = {0x08, 0x01};
    CHECK_EQ_INT(kiln_pq_rle_decode(out, 8, 3, t3, sizeof t3, NULL, &err), KILN_ETRUNC);
    /* unterminated varint */
    const uint8_t t4[] = {0x80, 0x80, 0x80};
    CHECK_EQ_INT(kiln_pq_rle_decode(out, 8, 3, t4, sizeof t4, NULL, &err), KILN_ETRUNC);
    /* varint over 32 bits */
    const uint8_t t5[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00};
    CHECK_EQ_INT(kiln_pq_rle_decode(out, 8, 3, t5, sizeof t5, NULL, &err), KILN_EFORMAT);
    /* length prefix larger than the data */
    const uint8_t t6[] = {0x10, 0, 0, 0, 0x10, 0x01};
    CHECK_EQ_INT(kiln_pq_rle_decode_prefixed(out, 8, 3, t6, sizeof t6, NULL, &err), KILN_ETRUNC);
    CHECK_EQ_INT(kiln_pq_rle_decode_prefixed(out, 8, 3, t6, 3, NULL, &err), KILN_ETRUNC);
    /* a huge run only fills count values */
    const uint8_t t7[] = {0xfe, 0xff, 0xff, 0xff, 0x0f, 0x01};
    out[10] = 77;
    CHECK_OK(kiln_pq_rle_decode(out, 10, 1, t7, sizeof t7, NULL, &err), &err);
    CHECK_EQ_INT(out[9], 1);
    CHECK_EQ_INT(out[10], 77);
    /* bad width */
    CHECK_EQ_INT(kiln_pq_rle_decode(out, 8, 33, t7, sizeof t7, NULL, &err), KILN_EINVAL);
    /* every truncation of a valid stream errors or decodes the same values */
    uint32_t vals[300], back[300];
    fill_pattern(vals, 300, 5, 3);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_rle_encode(&b, vals, 300, 5, &err), &err);
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, b.data, cut);
        int rc = kiln_pq_rle_decode(back, 300, 5, p, cut, NULL, &err);
        free(p);
        if (rc == 0)
            CHECK(memcmp(back, vals, sizeof vals) == 0);
        else
            CHECK(rc == KILN_ETRUNC);
    }
    kiln_buf_free(&b);
}

/* Encodings.md, deprecated BIT_PACKED: 0..7 at width 3 is
 * 00000101 00111001 01110111 (MSB first). */
TEST(pq_enc, bitpacked_legacy)
{
    kiln_err err = {0};
    const uint8_t in[] = {0x05, 0x39, 0x77};
    uint32_t out[8];
    size_t used = 0;
    CHECK_OK(kiln_pq_bitpacked_legacy_decode(out, 8, 3, in, 3, &used, &err), &err);
    CHECK_EQ_INT(used, 3);
    for (int i = 0; i < 8; i++)
        CHECK_EQ_INT(out[i], i);
    CHECK_EQ_INT(kiln_pq_bitpacked_legacy_decode(out, 8, 3, in, 2, &used, &err), KILN_ETRUNC);
}

TEST(pq_enc, dict_indices)
{
    kiln_err err = {0};
    uint32_t idx[1000], back[1000];
    for (int i = 0; i < 1000; i++)
        idx[i] = (uint32_t)(i % 7 == 0 ? 99 : (i / 50) % 100);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_dict_indices_encode(&b, idx, 1000, -1, &err), &err);
    CHECK_EQ_INT((uint8_t)b.data[0], 7);
    CHECK_OK(kiln_pq_dict_indices_decode(back, 1000, 100, (const uint8_t *)b.data, b.len, &err), &err);
    CHECK(memcmp(back, idx, sizeof idx) == 0);
    /* an index past the dictionary is caught */
    CHECK_EQ_INT(kiln_pq_dict_indices_decode(back, 1000, 99, (const uint8_t *)b.data, b.len, &err), KILN_EFORMAT);
    CHECK(strstr(err.msg, "99") != NULL);
    /* width byte over 32 */
    const uint8_t bad[] = {40, 0x02, 0x00};
    CHECK_EQ_INT(kiln_pq_dict_indices_decode(back, 1, 10, bad, sizeof bad, &err), KILN_EFORMAT);
    /* width 0 (dictionary of one) */
    const uint8_t zero[] = {0, 0x10};
    CHECK_OK(kiln_pq_dict_indices_decode(back, 8, 1, zero, sizeof zero, &err), &err);
    CHECK_EQ_INT(back[7], 0);
    /* empty page with values expected */
    CHECK_EQ_INT(kiln_pq_dict_indices_decode(back, 1, 1, zero, 0, &err), KILN_ETRUNC);
    kiln_buf_free(&b);
}

TEST(pq_enc, plain_bool_and_fixed)
{
    kiln_err err = {0};
    uint8_t bools[21], bback[21];
    for (int i = 0; i < 21; i++)
        bools[i] = (uint8_t)((i * 7) % 3 == 0);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_plain_encode_bool(&b, bools, 21, &err), &err);
    CHECK_EQ_INT(b.len, 3);
    CHECK_EQ_INT((uint8_t)b.data[0], 0x49); /* 1,0,0,1,0,0,1,0 LSB first */
    size_t used = 0;
    CHECK_OK(kiln_pq_plain_decode_bool(bback, 21, (const uint8_t *)b.data, b.len, &used, &err), &err);
    CHECK_EQ_INT(used, 3);
    CHECK(memcmp(bools, bback, 21) == 0);
    CHECK_EQ_INT(kiln_pq_plain_decode_bool(bback, 25, (const uint8_t *)b.data, b.len, &used, &err), KILN_ETRUNC);

    int32_t i32[] = {0, 1, -1, INT32_MIN, INT32_MAX}, i32b[5];
    kiln_buf_reset(&b);
    CHECK_OK(kiln_pq_plain_encode_fixed(&b, i32, 5, 4, &err), &err);
    CHECK_EQ_INT(b.len, 20);
    CHECK_EQ_INT((uint8_t)b.data[12], 0x00);
    CHECK_EQ_INT((uint8_t)b.data[15], 0x80); /* INT32_MIN little-endian */
    CHECK_OK(kiln_pq_plain_decode_fixed(i32b, 5, 4, (const uint8_t *)b.data, b.len, &used, &err), &err);
    CHECK(memcmp(i32, i32b, sizeof i32) == 0);
    CHECK_EQ_INT(kiln_pq_plain_decode_fixed(i32b, 6, 4, (const uint8_t *)b.data, b.len, &used, &err), KILN_ETRUNC);
    double d[] = {0.0, -1.5, 1e308}, db[3];
    kiln_buf_reset(&b);
    CHECK_OK(kiln_pq_plain_encode_fixed(&b, d, 3, 8, &err), &err);
    CHECK_OK(kiln_pq_plain_decode_fixed(db, 3, 8, (const uint8_t *)b.data, b.len, NULL, &err), &err);
    CHECK(db[1] == -1.5 && db[2] == 1e308);
    /* a huge count cannot overflow the size check */
    CHECK_EQ_INT(kiln_pq_plain_decode_fixed(db, SIZE_MAX / 2, 12, (const uint8_t *)b.data, b.len, NULL, &err),
                 KILN_ETRUNC);
    kiln_buf_free(&b);
}

TEST(pq_enc, plain_bytes)
{
    kiln_err err = {0};
    char *big = malloc(100000);
    memset(big, 'q', 100000);
    kiln_pq_bytes vals[4] = {{(const uint8_t *)"", 0},
                             {(const uint8_t *)"abc", 3},
                             {(const uint8_t *)big, 100000},
                             {(const uint8_t *)"", 0}};
    kiln_pq_bytes back[4];
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_plain_encode_bytes(&b, vals, 4, &err), &err);
    CHECK_EQ_INT(b.len, 16 + 3 + 100000);
    size_t used = 0;
    CHECK_OK(kiln_pq_plain_decode_bytes(back, 4, (const uint8_t *)b.data, b.len, &used, &err), &err);
    CHECK_EQ_INT(used, b.len);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(back[i].len, vals[i].len);
        CHECK(memcmp(back[i].ptr, vals[i].ptr, vals[i].len) == 0);
    }
    CHECK(back[1].ptr == (const uint8_t *)b.data + 8); /* zero copy */
    for (size_t cut = 0; cut < 30; cut++)
        CHECK_EQ_INT(kiln_pq_plain_decode_bytes(back, 4, (const uint8_t *)b.data, cut, NULL, &err), KILN_ETRUNC);
    /* length 0xffffffff near the end does not wrap the bounds check */
    const uint8_t bad[] = {0xff, 0xff, 0xff, 0xff, 'a'};
    CHECK_EQ_INT(kiln_pq_plain_decode_bytes(back, 1, bad, sizeof bad, NULL, &err), KILN_ETRUNC);
    CHECK_EQ_INT(err.offset, 0);
    kiln_buf_free(&b);
    free(big);
}

TEST(pq_enc, int96)
{
    uint8_t b[12];
    int64_t us = -1;
    kiln_pq_int96_from_micros(b, 0);
    CHECK_EQ_INT(b[8] | b[9] << 8 | b[10] << 16 | (uint32_t)b[11] << 24, 2440588);
    CHECK_OK(kiln_pq_int96_to_micros(&us, b), NULL);
    CHECK_EQ_INT(us, 0);
    /* 2000-01-01T00:00:01.5Z: Julian day 2451545, 1.5e9 nanos */
    uint64_t nanos = 1500000000ull;
    uint32_t jd = 2451545;
    memcpy(b, &nanos, 8);
    memcpy(b + 8, &jd, 4);
    CHECK_OK(kiln_pq_int96_to_micros(&us, b), NULL);
    CHECK_EQ_INT(us, INT64_C(946684801500000));
    int64_t samples[] = {1, -1, INT64_C(-86400000000), INT64_C(1700000000123456), INT64_C(-62135596800000000)};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        kiln_pq_int96_from_micros(b, samples[i]);
        CHECK_OK(kiln_pq_int96_to_micros(&us, b), NULL);
        CHECK_EQ_INT(us, samples[i]);
    }
    nanos = 86400000000000ull; /* one full day of nanos is out of range */
    memcpy(b, &nanos, 8);
    CHECK_EQ_INT(kiln_pq_int96_to_micros(&us, b), KILN_EFORMAT);
    nanos = 0;
    jd = UINT32_MAX; /* far future overflows int64 micros */
    memcpy(b, &nanos, 8);
    memcpy(b + 8, &jd, 4);
    CHECK_EQ_INT(kiln_pq_int96_to_micros(&us, b), KILN_EFORMAT);
}

/* Encodings.md examples (block size 8, which real files must not use but
 * readers can decode). */
TEST(pq_enc, delta_spec_examples)
{
    kiln_err err = {0};
    int32_t out[8];
    size_t used = 0;
    const uint8_t ex1[] = {0x08, 0x01, 0x05, 0x02, 0x02, 0x00};
    CHECK_OK(kiln_pq_delta_decode_i32(out, 5, ex1, sizeof ex1, &used, &err), &err);
    CHECK_EQ_INT(used, sizeof ex1);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(out[i], i + 1);
    const uint8_t ex2[] = {0x08, 0x01, 0x08, 0x0E, 0x03, 0x02, 0xC0, 0x3F};
    const int32_t want2[] = {7, 5, 3, 1, 2, 3, 4, 5};
    CHECK_OK(kiln_pq_delta_decode_i32(out, 8, ex2, sizeof ex2, &used, &err), &err);
    CHECK_EQ_INT(used, sizeof ex2);
    CHECK(memcmp(out, want2, sizeof want2) == 0);
    int64_t out64[8];
    CHECK_OK(kiln_pq_delta_decode_i64(out64, 8, ex2, sizeof ex2, &used, &err), &err);
    CHECK_EQ_INT(out64[0], 7);
    CHECK_EQ_INT(out64[3], 1);
    uint64_t total = 0;
    CHECK_OK(kiln_pq_delta_count(&total, ex2, sizeof ex2, &err), &err);
    CHECK_EQ_INT(total, 8);
    /* our encoder on example 1: header 128 4 5 zigzag(1), min 1, widths 0 */
    kiln_buf b;
    kiln_buf_init(&b, 0);
    const int32_t v1[] = {1, 2, 3, 4, 5};
    CHECK_OK(kiln_pq_delta_encode_i32(&b, v1, 5, &err), &err);
    const uint8_t want_enc[] = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0, 0, 0, 0};
    CHECK_EQ_INT(b.len, sizeof want_enc);
    CHECK(memcmp(b.data, want_enc, sizeof want_enc) == 0);
    kiln_buf_free(&b);
}

static int delta_rt32(const int32_t *vals, size_t n, char *why, size_t whylen)
{
    kiln_err err = {0};
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int ok = 0;
    int32_t *back = malloc((n + 1) * sizeof *back);
    uint8_t *exact = NULL;
    if (kiln_pq_delta_encode_i32(&b, vals, n, &err)) {
        snprintf(why, whylen, "encode: %s", err.msg);
        goto done;
    }
    exact = malloc(b.len);
    memcpy(exact, b.data, b.len);
    size_t used = 0;
    back[n] = 12345;
    if (kiln_pq_delta_decode_i32(back, n, exact, b.len, &used, &err)) {
        snprintf(why, whylen, "decode n=%zu: %s", n, err.msg);
        goto done;
    }
    if (used != b.len || back[n] != 12345 || (n && memcmp(back, vals, n * sizeof *vals))) {
        snprintf(why, whylen, "mismatch n=%zu used %zu of %zu", n, used, b.len);
        goto done;
    }
    /* every truncation is an error */
    for (size_t cut = 0; cut < b.len; cut++) {
        int rc = kiln_pq_delta_decode_i32(back, n, exact, cut, NULL, &err);
        if (rc != KILN_ETRUNC) {
            snprintf(why, whylen, "n=%zu cut at %zu of %zu gave %d", n, cut, b.len, rc);
            goto done;
        }
    }
    ok = 1;
done:
    free(exact);
    free(back);
    kiln_buf_free(&b);
    return ok;
}

static int delta_rt64(const int64_t *vals, size_t n, char *why, size_t whylen)
{
    kiln_err err = {0};
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int ok = 0;
    int64_t *back = malloc((n + 1) * sizeof *back);
    uint8_t *exact = NULL;
    if (kiln_pq_delta_encode_i64(&b, vals, n, &err)) {
        snprintf(why, whylen, "encode: %s", err.msg);
        goto done;
    }
    exact = malloc(b.len);
    memcpy(exact, b.data, b.len);
    size_t used = 0;
    if (kiln_pq_delta_decode_i64(back, n, exact, b.len, &used, &err)) {
        snprintf(why, whylen, "decode n=%zu: %s", n, err.msg);
        goto done;
    }
    if (used != b.len || (n && memcmp(back, vals, n * sizeof *vals))) {
        snprintf(why, whylen, "mismatch n=%zu", n);
        goto done;
    }
    for (size_t cut = 0; cut < b.len; cut += 1 + cut / 16) {
        if (kiln_pq_delta_decode_i64(back, n, exact, cut, NULL, &err) != KILN_ETRUNC) {
            snprintf(why, whylen, "n=%zu cut %zu not ETRUNC", n, cut);
            goto done;
        }
    }
    ok = 1;
done:
    free(exact);
    free(back);
    kiln_buf_free(&b);
    return ok;
}

TEST(pq_enc, delta_roundtrip)
{
    char why[600] = "";
    static const size_t counts[] = {0, 1, 2, 31, 32, 33, 127, 128, 129, 130, 257, 1000};
    int32_t *v32 = malloc(1000 * sizeof *v32);
    int64_t *v64 = malloc(1000 * sizeof *v64);
    for (int pat = 0; pat < 7; pat++) {
        for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
            size_t n = counts[ci];
            for (size_t i = 0; i < n; i++) {
                switch (pat) {
                case 0:
                    v32[i] = 42;
                    v64[i] = -42;
                    break; /* all equal */
                case 1:
                    v32[i] = (int32_t)i * 3;
                    v64[i] = (int64_t)i * 1000000007;
                    break;
                case 2:
                    v32[i] = 1000 - (int32_t)i * 7;
                    v64[i] = -(int64_t)i * 3;
                    break;
                case 3:
                    v32[i] = (i & 1) ? INT32_MAX : INT32_MIN; /* wrap */
                    v64[i] = (i & 1) ? INT64_MAX : INT64_MIN;
                    break;
                case 4:
                    v32[i] = (int32_t)rnd();
                    v64[i] = (int64_t)rnd();
                    break;
                case 5:
                    v32[i] = (int32_t)(rnd() % 100);
                    v64[i] = (int64_t)(rnd() % 100) - 50;
                    break;
                default:
                    v32[i] = i % 200 < 100 ? (int32_t)i : -(int32_t)(rnd() % 1000000);
                    v64[i] = (int64_t)(i / 10) << 40;
                    break;
                }
            }
            CHECK_MSG(delta_rt32(v32, n, why, sizeof why), "int32 pattern %d: %s", pat, why);
            CHECK_MSG(delta_rt64(v64, n, why, sizeof why), "int64 pattern %d: %s", pat, why);
        }
    }
    free(v32);
    free(v64);
}

TEST(pq_enc, delta_partial_and_hostile)
{
    kiln_err err = {0};
    int32_t vals[300], back[300];
    for (int i = 0; i < 300; i++)
        vals[i] = i * i;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_delta_encode_i32(&b, vals, 300, &err), &err);
    /* fewer values than the stream holds: consumed still covers it all */
    size_t used = 0;
    CHECK_OK(kiln_pq_delta_decode_i32(back, 10, (const uint8_t *)b.data, b.len, &used, &err), &err);
    CHECK_EQ_INT(used, b.len);
    CHECK_EQ_INT(back[9], 81);
    /* more values than it holds */
    CHECK_EQ_INT(kiln_pq_delta_decode_i32(back, 301, (const uint8_t *)b.data, b.len, NULL, &err), KILN_EFORMAT);
    /* a miniblock width over 64 */
    uint8_t *p = (uint8_t *)b.data;
    size_t wpos = 0;
    /* header: 80 01 04 AC 02 00 then min delta varint, then 4 widths */
    wpos = 6;
    while (p[wpos] & 0x80)
        wpos++;
    wpos++;
    uint8_t save = p[wpos];
    p[wpos] = 65;
    CHECK_EQ_INT(kiln_pq_delta_decode_i32(back, 300, p, b.len, NULL, &err), KILN_EFORMAT);
    p[wpos] = save;
    /* bad headers */
    const uint8_t h1[] = {0x00, 0x04, 0x01, 0x00};       /* block size 0 */
    const uint8_t h2[] = {0x80, 0x01, 0x03, 0x01, 0x00}; /* 128 % 3 != 0 */
    const uint8_t h3[] = {0x80, 0x01, 0x00, 0x01, 0x00}; /* 0 miniblocks */
    const uint8_t h4[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    CHECK_EQ_INT(kiln_pq_delta_decode_i32(back, 1, h1, sizeof h1, NULL, &err), KILN_EFORMAT);
    CHECK_EQ_INT(kiln_pq_delta_decode_i32(back, 1, h2, sizeof h2, NULL, &err), KILN_EFORMAT);
    CHECK_EQ_INT(kiln_pq_delta_decode_i32(back, 1, h3, sizeof h3, NULL, &err), KILN_EFORMAT);
    CHECK_EQ_INT(kiln_pq_delta_decode_i32(back, 1, h4, sizeof h4, NULL, &err), KILN_EFORMAT);
    /* a huge claimed total with no data: error, not a long loop */
    const uint8_t h5[] = {0x80, 0x01, 0x04, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    CHECK_EQ_INT(kiln_pq_delta_decode_i32(back, 2, h5, sizeof h5, NULL, &err), KILN_ETRUNC);
    kiln_buf_free(&b);
}

TEST(pq_enc, dlba_spec_example)
{
    kiln_err err = {0};
    kiln_pq_bytes vals[4] = {{(const uint8_t *)"Hello", 5},
                             {(const uint8_t *)"World", 5},
                             {(const uint8_t *)"Foobar", 6},
                             {(const uint8_t *)"ABCDEF", 6}};
    kiln_pq_bytes back[4];
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_dlba_encode(&b, vals, 4, &err), &err);
    const char *tail = "HelloWorldFoobarABCDEF";
    CHECK(b.len > 22 && memcmp(b.data + b.len - 22, tail, 22) == 0);
    size_t used = 0;
    CHECK_OK(kiln_pq_dlba_decode(back, 4, (const uint8_t *)b.data, b.len, &used, &err), &err);
    CHECK_EQ_INT(used, b.len);
    for (int i = 0; i < 4; i++)
        CHECK(back[i].len == vals[i].len && memcmp(back[i].ptr, vals[i].ptr, vals[i].len) == 0);
    for (size_t cut = 0; cut < b.len; cut++)
        CHECK(kiln_pq_dlba_decode(back, 4, (const uint8_t *)b.data, cut, NULL, &err) != 0);
    /* negative length */
    kiln_buf_reset(&b);
    int32_t lens[2] = {1, -1};
    CHECK_OK(kiln_pq_delta_encode_i32(&b, lens, 2, &err), &err);
    CHECK_OK(kiln_buf_append(&b, "xyz", 3, &err), &err);
    CHECK_EQ_INT(kiln_pq_dlba_decode(back, 2, (const uint8_t *)b.data, b.len, NULL, &err), KILN_EFORMAT);
    kiln_buf_free(&b);
}

TEST(pq_enc, dba_spec_example_and_roundtrip)
{
    kiln_err err = {0};
    kiln_arena *arena = kiln_arena_new(0);
    kiln_pq_bytes vals[4] = {{(const uint8_t *)"axis", 4},
                             {(const uint8_t *)"axle", 4},
                             {(const uint8_t *)"babble", 6},
                             {(const uint8_t *)"babyhood", 8}};
    kiln_pq_bytes back[600];
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_dba_encode(&b, vals, 4, &err), &err);
    CHECK(b.len > 17 && memcmp(b.data + b.len - 17, "axislebabbleyhood", 17) == 0);
    /* the prefix lengths 0,2,0,3 come first */
    int32_t pre[4];
    size_t used = 0;
    CHECK_OK(kiln_pq_delta_decode_i32(pre, 4, (const uint8_t *)b.data, b.len, &used, &err), &err);
    CHECK(pre[0] == 0 && pre[1] == 2 && pre[2] == 0 && pre[3] == 3);
    CHECK_OK(kiln_pq_dba_decode(back, 4, (const uint8_t *)b.data, b.len, arena, &used, &err), &err);
    CHECK_EQ_INT(used, b.len);
    for (int i = 0; i < 4; i++)
        CHECK(back[i].len == vals[i].len && memcmp(back[i].ptr, vals[i].ptr, vals[i].len) == 0);
    for (size_t cut = 0; cut < b.len; cut++)
        CHECK(kiln_pq_dba_decode(back, 4, (const uint8_t *)b.data, cut, arena, NULL, &err) != 0);

    /* larger round trip: sorted keys with shared prefixes, empties, a long one */
    static char store[600][40];
    kiln_pq_bytes many[600];
    char *longv = malloc(5000);
    memset(longv, 'L', 5000);
    for (int i = 0; i < 600; i++) {
        int len = snprintf(store[i], sizeof store[i], "user/%05d/item", i / 3);
        many[i].ptr = (const uint8_t *)store[i];
        many[i].len = (uint32_t)(i % 50 == 0 ? 0 : len);
    }
    many[300].ptr = (const uint8_t *)longv;
    many[300].len = 5000;
    kiln_buf_reset(&b);
    CHECK_OK(kiln_pq_dba_encode(&b, many, 600, &err), &err);
    CHECK_OK(kiln_pq_dba_decode(back, 600, (const uint8_t *)b.data, b.len, arena, &used, &err), &err);
    for (int i = 0; i < 600; i++)
        CHECK_MSG(back[i].len == many[i].len &&
                      (many[i].len == 0 || memcmp(back[i].ptr, many[i].ptr, many[i].len) == 0),
                  "value %d", i);
    /* a prefix longer than the previous value is refused */
    kiln_buf_reset(&b);
    int32_t badpre[2] = {0, 5};
    kiln_pq_bytes sfx[2] = {{(const uint8_t *)"ab", 2}, {(const uint8_t *)"", 0}};
    CHECK_OK(kiln_pq_delta_encode_i32(&b, badpre, 2, &err), &err);
    CHECK_OK(kiln_pq_dlba_encode(&b, sfx, 2, &err), &err);
    CHECK_EQ_INT(kiln_pq_dba_decode(back, 2, (const uint8_t *)b.data, b.len, arena, NULL, &err), KILN_EFORMAT);
    CHECK(strstr(err.msg, "prefix") != NULL);
    /* empty page */
    CHECK_OK(kiln_pq_dba_decode(back, 0, (const uint8_t *)"", 0, arena, &used, &err), &err);
    CHECK_EQ_INT(used, 0);
    free(longv);
    kiln_buf_free(&b);
    kiln_arena_free(arena);
}

/* A quadratic blow-up (each value repeats a long prefix) hits the cap. */
TEST(pq_enc, dba_materialize_cap)
{
    kiln_err err = {0};
    size_t n = 2000;
    int32_t *pre = malloc(n * sizeof *pre);
    kiln_pq_bytes *sfx = malloc(n * sizeof *sfx), *back = malloc(n * sizeof *back);
    char *first = malloc(1 << 20);
    memset(first, 'p', 1 << 20);
    for (size_t i = 0; i < n; i++) {
        pre[i] = i ? 1 << 20 : 0;
        sfx[i].ptr = (const uint8_t *)first;
        sfx[i].len = i ? 0 : 1 << 20;
    }
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_delta_encode_i32(&b, pre, n, &err), &err);
    CHECK_OK(kiln_pq_dlba_encode(&b, sfx, n, &err), &err);
    kiln_arena *arena = kiln_arena_new(0);
    CHECK_EQ_INT(kiln_pq_dba_decode(back, n, (const uint8_t *)b.data, b.len, arena, NULL, &err), KILN_ELIMIT);
    kiln_arena_free(arena);
    kiln_buf_free(&b);
    free(pre);
    free(sfx);
    free(back);
    free(first);
}

TEST(pq_enc, byte_stream_split)
{
    kiln_err err = {0};
    const uint8_t raw[12] = {0xAA, 0xBB, 0xCC, 0xDD, 0x00, 0x11, 0x22, 0x33, 0xA3, 0xB4, 0xC5, 0xD6};
    const uint8_t want[12] = {0xAA, 0x00, 0xA3, 0xBB, 0x11, 0xB4, 0xCC, 0x22, 0xC5, 0xDD, 0x33, 0xD6};
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_bss_encode(&b, raw, 3, 4, &err), &err);
    CHECK(b.len == 12 && memcmp(b.data, want, 12) == 0);
    uint8_t back[64];
    size_t used = 0;
    CHECK_OK(kiln_pq_bss_decode(back, 3, 4, want, 12, &used, &err), &err);
    CHECK(used == 12 && memcmp(back, raw, 12) == 0);
    CHECK_EQ_INT(kiln_pq_bss_decode(back, 4, 4, want, 12, NULL, &err), KILN_ETRUNC);
    double d[5] = {1.0, -2.5, 3e-300, 0.0, 12345.678}, dback[5];
    kiln_buf_reset(&b);
    CHECK_OK(kiln_pq_bss_encode(&b, d, 5, 8, &err), &err);
    CHECK_OK(kiln_pq_bss_decode(dback, 5, 8, (const uint8_t *)b.data, b.len, NULL, &err), &err);
    CHECK(memcmp(d, dback, sizeof d) == 0);
    /* odd widths (FIXED_LEN_BYTE_ARRAY(3)) */
    kiln_buf_reset(&b);
    CHECK_OK(kiln_pq_bss_encode(&b, "abcdefghi", 3, 3, &err), &err);
    CHECK(memcmp(b.data, "adgbehcfi", 9) == 0);
    CHECK_OK(kiln_pq_bss_decode(back, 3, 3, (const uint8_t *)b.data, 9, NULL, &err), &err);
    CHECK(memcmp(back, "abcdefghi", 9) == 0);
    kiln_buf_free(&b);
}

/* Allocation failure inside the decoders is reported, not a crash. */
TEST(pq_enc, alloc_failure)
{
    kiln_err err = {0};
    kiln_pq_bytes vals[2] = {{(const uint8_t *)"aa", 2}, {(const uint8_t *)"ab", 2}}, back[2];
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_dba_encode(&b, vals, 2, &err), &err);
    kiln_arena *arena = kiln_arena_new(0);
    kiln_alloc_fail_after(0);
    int rc = kiln_pq_dba_decode(back, 2, (const uint8_t *)b.data, b.len, arena, NULL, &err);
    kiln_alloc_fail_after(-1);
    CHECK_EQ_INT(rc, KILN_ENOMEM);
    kiln_arena_free(arena);
    kiln_buf_free(&b);
}

/* ------------------------------------------------------------------------
 * Interop: Parquet files written by DuckDB (tests/node/penc_gen.mjs ->
 * tests/data/pq_enc/NAME.parquet, one column each) are walked page by page
 * with a minimal Thrift compact reader below, and every page is
 * decompressed and decoded with pq_enc; the values must equal the formula
 * the generator used. This checks our decoders against another writer
 * (DELTA_BINARY_PACKED with DuckDB's block layout, DELTA_LENGTH_BYTE_ARRAY,
 * dictionary indices, BYTE_STREAM_SPLIT, v1 and v2 levels, all codecs).
 * ------------------------------------------------------------------------ */

typedef struct tc {
    const uint8_t *p;
    size_t n, pos;
    int bad;
} tc;

static uint64_t tc_varint(tc *t)
{
    uint64_t v = 0;
    for (int s = 0; s < 64; s += 7) {
        if (t->pos >= t->n) {
            t->bad = 1;
            return 0;
        }
        uint8_t b = t->p[t->pos++];
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80))
            return v;
    }
    t->bad = 1;
    return 0;
}

static int64_t tc_zz(tc *t)
{
    uint64_t v = tc_varint(t);
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void tc_skip(tc *t, int type);

static void tc_skip_struct(tc *t)
{
    while (!t->bad) {
        if (t->pos >= t->n) {
            t->bad = 1;
            return;
        }
        uint8_t h = t->p[t->pos++];
        if (h == 0)
            return;
        if ((h >> 4) == 0)
            tc_zz(t);
        tc_skip(t, h & 15);
    }
}

static void tc_skip(tc *t, int type)
{
    switch (type) {
    case 1:
    case 2: break;
    case 3: t->pos++; break;
    case 4:
    case 5:
    case 6: tc_zz(t); break;
    case 7: t->pos += 8; break;
    case 8: {
        uint64_t l = tc_varint(t);
        t->pos += l;
        break;
    }
    case 9:
    case 10: {
        if (t->pos >= t->n) {
            t->bad = 1;
            return;
        }
        uint8_t h = t->p[t->pos++];
        uint64_t sz = h >> 4;
        if (sz == 15)
            sz = tc_varint(t);
        for (uint64_t i = 0; i < sz && !t->bad; i++)
            tc_skip(t, (h & 15) == 1 || (h & 15) == 2 ? 3 : h & 15);
        break;
    }
    case 11: {
        uint64_t sz = tc_varint(t);
        if (sz) {
            uint8_t kv = t->p[t->pos++];
            for (uint64_t i = 0; i < sz && !t->bad; i++) {
                tc_skip(t, kv >> 4);
                tc_skip(t, kv & 15);
            }
        }
        break;
    }
    case 12: tc_skip_struct(t); break;
    default: t->bad = 1;
    }
    if (t->pos > t->n)
        t->bad = 1;
}

/* Read a struct, keeping i32 and bool fields with ids 1..15 in f[]. */
static void tc_read_fields(tc *t, int64_t f[16])
{
    int id = 0;
    for (int i = 0; i < 16; i++)
        f[i] = -1;
    while (!t->bad) {
        if (t->pos >= t->n) {
            t->bad = 1;
            return;
        }
        uint8_t h = t->p[t->pos++];
        if (h == 0)
            return;
        id = (h >> 4) ? id + (h >> 4) : (int)tc_zz(t);
        int type = h & 15;
        if (type == 5 && id > 0 && id < 16)
            f[id] = tc_zz(t);
        else if ((type == 1 || type == 2) && id > 0 && id < 16)
            f[id] = type == 1;
        else
            tc_skip(t, type);
    }
}

typedef struct pg_hdr {
    int64_t top[16], dp[16], dict[16], v2[16];
} pg_hdr;

static void tc_read_page_header(tc *t, pg_hdr *h)
{
    int id = 0;
    for (int i = 0; i < 16; i++)
        h->top[i] = h->dp[i] = h->dict[i] = h->v2[i] = -1;
    while (!t->bad) {
        if (t->pos >= t->n) {
            t->bad = 1;
            return;
        }
        uint8_t b = t->p[t->pos++];
        if (b == 0)
            return;
        id = (b >> 4) ? id + (b >> 4) : (int)tc_zz(t);
        int type = b & 15;
        if (type == 5 && id < 16)
            h->top[id] = tc_zz(t);
        else if (type == 12 && id == 5)
            tc_read_fields(t, h->dp);
        else if (type == 12 && id == 7)
            tc_read_fields(t, h->dict);
        else if (type == 12 && id == 8)
            tc_read_fields(t, h->v2);
        else
            tc_skip(t, type);
    }
}

enum { PT_I32, PT_I64, PT_F32, PT_F64, PT_STR, PT_BOOL };

typedef struct expect {
    int null;
    int64_t i;
    double d;
    char s[64];
    int b;
} expect;

typedef struct interop_file {
    const char *name;
    int ptype, codec;
    void (*want)(int64_t i, expect *e);
} interop_file;

static void want_i32(int64_t i, expect *e)
{
    e->null = i % 13 == 0;
    e->i = i % 100 == 1 ? INT32_MIN : (i * i) % 100003 - 50000;
}
static void want_i64(int64_t i, expect *e)
{
    e->null = 0;
    e->i = i * 1000000007 - (i % 5) * INT64_C(3000000000000);
}
static void want_str(int64_t i, expect *e)
{
    e->null = i % 17 == 0;
    if (i % 17 == 1)
        e->s[0] = 0;
    else
        snprintf(e->s, sizeof e->s, "key/%06lld/x", (long long)(i / 3));
}
static void want_dict(int64_t i, expect *e)
{
    e->null = i % 11 == 0;
    snprintf(e->s, sizeof e->s, "color_%d", (int)(i % 7));
}
static void want_f64(int64_t i, expect *e)
{
    e->null = i % 9 == 0;
    e->d = (double)i * 0.25 - 100;
}
static void want_f32(int64_t i, expect *e)
{
    e->null = 0;
    e->d = (double)i * 0.5;
}
static void want_bool(int64_t i, expect *e)
{
    e->null = i % 7 == 0;
    e->b = i % 3 == 0;
}

static const interop_file interop_files[] = {
    {"i32_delta_zstd", PT_I32, KILN_PQ_ZSTD, want_i32}, {"i64_delta_snappy", PT_I64, KILN_PQ_SNAPPY, want_i64},
    {"str_delta_gzip", PT_STR, KILN_PQ_GZIP, want_str}, {"str_dict_snappy", PT_STR, KILN_PQ_SNAPPY, want_dict},
    {"f64_plain_zstd", PT_F64, KILN_PQ_ZSTD, want_f64}, {"f32_v2_uncompressed", PT_F32, KILN_PQ_UNCOMPRESSED, want_f32},
    {"bool_v1_gzip", PT_BOOL, KILN_PQ_GZIP, want_bool},
};

static size_t ptype_width(int pt)
{
    return pt == PT_I32 || pt == PT_F32 ? 4 : pt == PT_STR ? sizeof(kiln_pq_bytes) : pt == PT_BOOL ? 1 : 8;
}

/* Decode `nvals` non-null values of one page body into vals (element size
 * ptype_width). Returns 0 or an error code. */
static int interop_decode_values(const interop_file *f, int encoding, const uint8_t *in, size_t n, size_t nvals,
                                 void *vals, const void *dict, size_t ndict, kiln_arena *arena, kiln_err *err)
{
    int pt = f->ptype;
    size_t w = ptype_width(pt);
    switch (encoding) {
    case 0: /* PLAIN */
        if (pt == PT_STR)
            return kiln_pq_plain_decode_bytes(vals, nvals, in, n, NULL, err);
        if (pt == PT_BOOL)
            return kiln_pq_plain_decode_bool(vals, nvals, in, n, NULL, err);
        return kiln_pq_plain_decode_fixed(vals, nvals, w, in, n, NULL, err);
    case 2:
    case 8: { /* dictionary indices */
        uint32_t *idx = malloc((nvals + 1) * sizeof *idx);
        int rc = kiln_pq_dict_indices_decode(idx, nvals, (uint32_t)ndict, in, n, err);
        for (size_t k = 0; rc == 0 && k < nvals; k++)
            memcpy((char *)vals + k * w, (const char *)dict + idx[k] * w, w);
        free(idx);
        return rc;
    }
    case 3: { /* RLE booleans: length-prefixed, width 1 */
        uint32_t *tmp = malloc((nvals + 1) * sizeof *tmp);
        int rc = kiln_pq_rle_decode_prefixed(tmp, nvals, 1, in, n, NULL, err);
        for (size_t k = 0; rc == 0 && k < nvals; k++)
            ((uint8_t *)vals)[k] = (uint8_t)tmp[k];
        free(tmp);
        return rc;
    }
    case 5:
        return pt == PT_I32 ? kiln_pq_delta_decode_i32(vals, nvals, in, n, NULL, err)
                            : kiln_pq_delta_decode_i64(vals, nvals, in, n, NULL, err);
    case 6: return kiln_pq_dlba_decode(vals, nvals, in, n, NULL, err);
    case 7: return kiln_pq_dba_decode(vals, nvals, in, n, arena, NULL, err);
    case 9: return kiln_pq_bss_decode(vals, nvals, w, in, n, NULL, err);
    default: return kiln_err_set(err, KILN_EUNSUPP, "encoding %d", encoding);
    }
}

static void interop_check_file(const interop_file *f, int *pages_seen, int encodings_seen[16])
{
    kiln_err err = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/pq_enc/%s.parquet", kt_root(), f->name);
    size_t flen = 0;
    uint8_t *file = (uint8_t *)kt_read_file(path, &flen);
    CHECK_MSG(file != NULL, "cannot read %s (regenerate with node tests/node/penc_gen.mjs)", path);
    CHECK(flen > 12 && memcmp(file, "PAR1", 4) == 0);
    uint32_t footer_len;
    memcpy(&footer_len, file + flen - 8, 4);
    size_t end = flen - 8 - footer_len;
    size_t w = ptype_width(f->ptype);
    kiln_arena *arena = kiln_arena_new(0);
    void *dict = NULL;
    size_t ndict = 0;
    int64_t row = 0;
    size_t pos = 4;
    /* pages follow each other from byte 4; stop after the last row (DuckDB
     * puts a bloom filter after dictionary-encoded chunks) */
    while (pos < end && row < 5000) {
        tc t = {file, end, pos, 0};
        pg_hdr h;
        tc_read_page_header(&t, &h);
        CHECK_MSG(!t.bad, "%s: bad page header at %zu", f->name, pos);
        int type = (int)h.top[1];
        size_t ulen = (size_t)h.top[2], clen = (size_t)h.top[3];
        const uint8_t *body = file + t.pos;
        CHECK(t.pos + clen <= end);
        pos = t.pos + clen;
        (*pages_seen)++;
        if (type == 2) { /* dictionary page: PLAIN values */
            uint8_t *raw = kiln_arena_alloc(arena, ulen + 1);
            CHECK_OK(kiln_pq_decompress(raw, ulen, f->codec, body, clen, &err), &err);
            ndict = (size_t)h.dict[1];
            dict = kiln_arena_alloc(arena, (ndict + 1) * w);
            CHECK_OK(interop_decode_values(f, 0, raw, ulen, ndict, dict, NULL, 0, arena, &err), &err);
            continue;
        }
        CHECK_MSG(type == 0 || type == 3, "%s: page type %d at %zu", f->name, type, (size_t)(body - file));
        size_t nv, defs_n, nnull = 0;
        const uint8_t *vin;
        size_t vn;
        uint32_t *defs;
        int encoding;
        uint8_t *raw;
        if (type == 0) {
            nv = (size_t)h.dp[1];
            encoding = (int)h.dp[2];
            raw = kiln_arena_alloc(arena, ulen + 1);
            CHECK_OK(kiln_pq_decompress(raw, ulen, f->codec, body, clen, &err), &err);
            defs = kiln_arena_alloc(arena, (nv + 1) * sizeof *defs);
            CHECK_OK(kiln_pq_rle_decode_prefixed(defs, nv, 1, raw, ulen, &defs_n, &err), &err);
            vin = raw + defs_n;
            vn = ulen - defs_n;
        } else {
            nv = (size_t)h.v2[1];
            encoding = (int)h.v2[4];
            size_t dl = (size_t)h.v2[5], rl = (size_t)h.v2[6];
            int compressed = h.v2[7] != 0; /* absent (-1) means true */
            CHECK_EQ_INT(rl, 0);
            defs = kiln_arena_alloc(arena, (nv + 1) * sizeof *defs);
            CHECK_OK(kiln_pq_rle_decode(defs, nv, 1, body, dl, NULL, &err), &err);
            size_t vulen = ulen - dl - rl;
            raw = kiln_arena_alloc(arena, vulen + 1);
            CHECK_OK(kiln_pq_decompress(raw, vulen, compressed ? f->codec : KILN_PQ_UNCOMPRESSED, body + dl + rl,
                                        clen - dl - rl, &err),
                     &err);
            vin = raw;
            vn = vulen;
        }
        encodings_seen[encoding & 15] = 1;
        for (size_t k = 0; k < nv; k++)
            nnull += defs[k] == 0;
        void *vals = kiln_arena_alloc(arena, (nv - nnull + 1) * w);
        int rc = interop_decode_values(f, encoding, vin, vn, nv - nnull, vals, dict, ndict, arena, &err);
        CHECK_MSG(rc == 0, "%s page at row %lld (encoding %d): %s", f->name, (long long)row, encoding, err.msg);
        size_t vi = 0;
        for (size_t k = 0; k < nv; k++, row++) {
            expect e = {0};
            f->want(row, &e);
            CHECK_MSG(e.null == (defs[k] == 0), "%s row %lld: null mismatch", f->name, (long long)row);
            if (e.null)
                continue;
            const char *v = (const char *)vals + vi++ * w;
            switch (f->ptype) {
            case PT_I32: {
                int32_t x;
                memcpy(&x, v, 4);
                CHECK_MSG(x == e.i, "%s row %lld: %d != %lld", f->name, (long long)row, x, (long long)e.i);
                break;
            }
            case PT_I64: {
                int64_t x;
                memcpy(&x, v, 8);
                CHECK_MSG(x == e.i, "%s row %lld: %lld != %lld", f->name, (long long)row, (long long)x, (long long)e.i);
                break;
            }
            case PT_F32: {
                float x;
                memcpy(&x, v, 4);
                CHECK_MSG(x == (float)e.d, "%s row %lld: %g != %g", f->name, (long long)row, x, e.d);
                break;
            }
            case PT_F64: {
                double x;
                memcpy(&x, v, 8);
                CHECK_MSG(x == e.d, "%s row %lld: %g != %g", f->name, (long long)row, x, e.d);
                break;
            }
            case PT_BOOL: CHECK_MSG(*(const uint8_t *)v == e.b, "%s row %lld", f->name, (long long)row); break;
            default: {
                kiln_pq_bytes x;
                memcpy(&x, v, sizeof x);
                CHECK_MSG(x.len == strlen(e.s) && memcmp(x.ptr, e.s, x.len) == 0, "%s row %lld: '%.*s' != '%s'",
                          f->name, (long long)row, (int)x.len, (const char *)x.ptr, e.s);
            }
            }
        }
    }
    CHECK_EQ_INT(row, 5000);
    kiln_arena_free(arena);
    free(file);
}

TEST(pq_enc, duckdb_files)
{
    int pages = 0, encodings[16] = {0};
    for (size_t i = 0; i < sizeof interop_files / sizeof interop_files[0]; i++) {
        interop_check_file(&interop_files[i], &pages, encodings);
        if (kt_failed())
            return;
    }
    CHECK(pages >= 7);
    /* the files really exercise the encodings they are named for */
    CHECK(encodings[5] && encodings[6] && encodings[9] && encodings[0]);
    CHECK(encodings[2] || encodings[8]);
}

/* Every allocation failing in turn inside the encoders and decoders gives
 * KILN_ENOMEM (or success), never a crash or a leak (ASan). */
TEST(pq_enc, alloc_failure_sweep)
{
    kiln_err err = {0};
    uint32_t vals[500];
    int32_t ints[500];
    kiln_pq_bytes strs[500], back[500];
    char store[500][16];
    for (int i = 0; i < 500; i++) {
        vals[i] = (uint32_t)(i / 9) % 5;
        ints[i] = i * 31 - 7000;
        int len = snprintf(store[i], sizeof store[i], "s%04d", i / 2);
        strs[i].ptr = (const uint8_t *)store[i];
        strs[i].len = (uint32_t)len;
    }
    int saw_enomem = 0;
    for (long k = 0; k < 40; k++) {
        kiln_buf b;
        kiln_buf_init(&b, 0);
        kiln_arena *arena = kiln_arena_new(0);
        kiln_alloc_fail_after(k);
        int rc1 = kiln_pq_rle_encode(&b, vals, 500, 3, &err);
        int rc2 = kiln_pq_delta_encode_i32(&b, ints, 500, &err);
        kiln_buf_reset(&b);
        int rc3 = kiln_pq_dba_encode(&b, strs, 500, &err);
        int rc4 = rc3 ? rc3 : kiln_pq_dba_decode(back, 500, (const uint8_t *)b.data, b.len, arena, NULL, &err);
        kiln_alloc_fail_after(-1);
        int rcs[4] = {rc1, rc2, rc3, rc4};
        for (int j = 0; j < 4; j++) {
            CHECK_MSG(rcs[j] == 0 || rcs[j] == KILN_ENOMEM, "fail_after %ld call %d: rc %d", k, j, rcs[j]);
            saw_enomem |= rcs[j] == KILN_ENOMEM;
        }
        if (rc4 == 0)
            for (int i = 0; i < 500; i++)
                CHECK(back[i].len == strs[i].len && memcmp(back[i].ptr, strs[i].ptr, strs[i].len) == 0);
        kiln_arena_free(arena);
        kiln_buf_free(&b);
    }
    CHECK(saw_enomem);
}
