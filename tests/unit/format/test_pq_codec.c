/* Unit tests for src/format/pq_codec.c: round trips for every supported
 * codec, strict size checks (a lying uncompressed size is an error),
 * corrupt and truncated data, gzip multi-member and zlib input, and the
 * unsupported codecs. */
#include "harness/harness.h"
#include "format/parquet/pq_enc.h"

#include <libdeflate.h>
#include <stdlib.h>

static const int codecs[] = {KILN_PQ_UNCOMPRESSED, KILN_PQ_SNAPPY, KILN_PQ_GZIP, KILN_PQ_ZSTD};

static uint8_t *make_data(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (i % 100 < 60) ? (uint8_t) "parquet page "[i % 13] : (uint8_t)(x >> 24);
    }
    return p;
}

TEST(pq_codec, roundtrip)
{
    kiln_err err = {0};
    static const size_t sizes[] = {0, 1, 13, 1000, 65536, 300001};
    for (size_t ci = 0; ci < sizeof codecs / sizeof codecs[0]; ci++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            int c = codecs[ci];
            uint8_t *data = make_data(n);
            kiln_buf b;
            kiln_buf_init(&b, 0);
            CHECK_OK(kiln_buf_append(&b, "pre", 3, &err), &err); /* compress appends */
            int rc = kiln_pq_compress(&b, c, 0, data, n, &err);
            CHECK_MSG(rc == 0, "%s compress %zu: %s", kiln_pq_codec_name(c), n, err.msg);
            CHECK(memcmp(b.data, "pre", 3) == 0);
            if (n >= 1000 && c != KILN_PQ_UNCOMPRESSED)
                CHECK_MSG(b.len - 3 < n * 3 / 4, "%s did not compress", kiln_pq_codec_name(c));
            uint8_t *back = malloc(n ? n : 1);
            rc = kiln_pq_decompress(back, n, c, b.data + 3, b.len - 3, &err);
            CHECK_MSG(rc == 0, "%s decompress %zu: %s", kiln_pq_codec_name(c), n, err.msg);
            CHECK(n == 0 || memcmp(back, data, n) == 0);
            /* a lying uncompressed size, both ways, is EFORMAT */
            if (n > 0) {
                rc = kiln_pq_decompress(back, n - 1, c, b.data + 3, b.len - 3, &err);
                CHECK_MSG(rc == KILN_EFORMAT, "%s n-1: rc %d", kiln_pq_codec_name(c), rc);
                CHECK(strstr(err.msg, kiln_pq_codec_name(c)) != NULL);
            }
            uint8_t *bigger = malloc(n + 10);
            rc = kiln_pq_decompress(bigger, n + 10, c, b.data + 3, b.len - 3, &err);
            CHECK_MSG(rc == KILN_EFORMAT, "%s n+10: rc %d", kiln_pq_codec_name(c), rc);
            free(bigger);
            free(back);
            free(data);
            kiln_buf_free(&b);
        }
    }
}

TEST(pq_codec, levels)
{
    kiln_err err = {0};
    uint8_t *data = make_data(50000), *back = malloc(50000);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_compress(&b, KILN_PQ_ZSTD, 19, data, 50000, &err), &err);
    CHECK_OK(kiln_pq_decompress(back, 50000, KILN_PQ_ZSTD, b.data, b.len, &err), &err);
    kiln_buf_reset(&b);
    CHECK_OK(kiln_pq_compress(&b, KILN_PQ_GZIP, 9, data, 50000, &err), &err);
    CHECK_OK(kiln_pq_decompress(back, 50000, KILN_PQ_GZIP, b.data, b.len, &err), &err);
    CHECK(memcmp(back, data, 50000) == 0);
    CHECK_EQ_INT(kiln_pq_compress(&b, KILN_PQ_GZIP, 13, data, 10, &err), KILN_EINVAL);
    kiln_buf_free(&b);
    free(data);
    free(back);
}

/* Corrupt data: every truncation and a sweep of byte flips must give an
 * error or (when the codec has no checksum) output of exactly the size
 * asked for, never a crash; ASan checks the bounds. */
TEST(pq_codec, corrupt_input)
{
    kiln_err err = {0};
    size_t n = 20000;
    uint8_t *data = make_data(n), *back = malloc(n);
    for (size_t ci = 1; ci < sizeof codecs / sizeof codecs[0]; ci++) {
        int c = codecs[ci];
        kiln_buf b;
        kiln_buf_init(&b, 0);
        CHECK_OK(kiln_pq_compress(&b, c, 0, data, n, &err), &err);
        uint8_t *copy = malloc(b.len);
        for (size_t cut = 0; cut < b.len; cut += 1 + cut / 8) {
            memcpy(copy, b.data, cut);
            int rc = kiln_pq_decompress(back, n, c, copy, cut, &err);
            CHECK_MSG(rc == KILN_EFORMAT, "%s cut %zu of %zu: rc %d", kiln_pq_codec_name(c), cut, b.len, rc);
        }
        for (size_t pos = 0; pos < b.len; pos += 1 + pos / 4) {
            memcpy(copy, b.data, b.len);
            copy[pos] ^= 0x5a;
            int rc = kiln_pq_decompress(back, n, c, copy, b.len, &err);
            CHECK(rc == 0 || rc == KILN_EFORMAT);
            /* CRC-32 catches every flip outside the header's mtime/xfl/os */
            if (c == KILN_PQ_GZIP && (pos < 4 || pos > 9))
                CHECK_MSG(rc == KILN_EFORMAT, "gzip flip at %zu accepted", pos);
        }
        free(copy);
        kiln_buf_free(&b);
    }
    /* garbage */
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x01};
    for (size_t ci = 1; ci < sizeof codecs / sizeof codecs[0]; ci++)
        CHECK_EQ_INT(kiln_pq_decompress(back, 100, codecs[ci], junk, sizeof junk, &err), KILN_EFORMAT);
    /* snappy whose length header claims 4 GB */
    CHECK_EQ_INT(kiln_pq_decompress(back, n, KILN_PQ_SNAPPY, junk, 5, &err), KILN_EFORMAT);
    CHECK(strstr(err.msg, "SNAPPY") != NULL);
    /* uncompressed size mismatch */
    CHECK_EQ_INT(kiln_pq_decompress(back, 7, KILN_PQ_UNCOMPRESSED, junk, 8, &err), KILN_EFORMAT);
    free(data);
    free(back);
}

TEST(pq_codec, gzip_members_and_zlib)
{
    kiln_err err = {0};
    uint8_t *data = make_data(3000), back[3000];
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_pq_compress(&b, KILN_PQ_GZIP, 0, data, 1000, &err), &err);
    CHECK_OK(kiln_pq_compress(&b, KILN_PQ_GZIP, 0, data + 1000, 2000, &err), &err);
    CHECK_OK(kiln_pq_decompress(back, 3000, KILN_PQ_GZIP, b.data, b.len, &err), &err);
    CHECK(memcmp(back, data, 3000) == 0);
    CHECK_EQ_INT(kiln_pq_decompress(back, 2999, KILN_PQ_GZIP, b.data, b.len, &err), KILN_EFORMAT);
    /* trailing garbage after a member */
    CHECK_OK(kiln_buf_append(&b, "zz", 2, &err), &err);
    CHECK_EQ_INT(kiln_pq_decompress(back, 3000, KILN_PQ_GZIP, b.data, b.len, &err), KILN_EFORMAT);
    /* a zlib stream */
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
    uint8_t z[4000];
    size_t zn = libdeflate_zlib_compress(c, data, 3000, z, sizeof z);
    libdeflate_free_compressor(c);
    CHECK(zn > 0);
    CHECK_OK(kiln_pq_decompress(back, 3000, KILN_PQ_GZIP, z, zn, &err), &err);
    CHECK(memcmp(back, data, 3000) == 0);
    CHECK_EQ_INT(kiln_pq_decompress(back, 3000, KILN_PQ_GZIP, z, zn - 1, &err), KILN_EFORMAT);
    kiln_buf_free(&b);
    free(data);
}

TEST(pq_codec, unsupported_and_names)
{
    kiln_err err = {0};
    uint8_t out[16];
    int unsupp[] = {KILN_PQ_LZO, KILN_PQ_BROTLI, KILN_PQ_LZ4, KILN_PQ_LZ4_RAW, 99};
    for (size_t i = 0; i < sizeof unsupp / sizeof unsupp[0]; i++) {
        CHECK(!kiln_pq_codec_supported(unsupp[i]));
        CHECK_EQ_INT(kiln_pq_decompress(out, 16, unsupp[i], "x", 1, &err), KILN_EUNSUPP);
        CHECK(strstr(err.msg, kiln_pq_codec_name(unsupp[i])) != NULL);
        kiln_buf b;
        kiln_buf_init(&b, 0);
        CHECK_EQ_INT(kiln_pq_compress(&b, unsupp[i], 0, "x", 1, &err), KILN_EUNSUPP);
        kiln_buf_free(&b);
    }
    CHECK_STR(kiln_pq_codec_name(KILN_PQ_LZ4_RAW), "LZ4_RAW");
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
        CHECK(kiln_pq_codec_supported(codecs[i]));
    int c = -1;
    CHECK_OK(kiln_pq_codec_parse(&c, "ZSTD", &err), &err);
    CHECK_EQ_INT(c, KILN_PQ_ZSTD);
    CHECK_OK(kiln_pq_codec_parse(&c, "none", &err), &err);
    CHECK_EQ_INT(c, KILN_PQ_UNCOMPRESSED);
    CHECK_EQ_INT(kiln_pq_codec_parse(&c, "lz4", &err), KILN_EINVAL);
    CHECK(strstr(err.msg, "snappy") != NULL);
}
