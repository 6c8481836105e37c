/*
 * test_gzip_read.c - the streaming ISA-L gzip reader: small reads across
 * chunk boundaries, multi-member files, truncation and corruption reported
 * with the compressed byte offset, empty files and trailing garbage.
 */
#include "harness/harness.h"
#include "format/gzip/gzip_read.h"

#include <stdlib.h>
#include <zlib.h>

/* gzip data in memory (zlib, gzip wrapper); caller frees. */
static unsigned char *gz_bytes(const void *data, size_t n, int level, size_t *out_n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, n) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *out_n = z.total_out;
    deflateEnd(&z);
    return out;
}

static char *read_all(const char *path, size_t cap, size_t *n, kiln_err *err, int *rc_out)
{
    kiln_gz_reader *r = NULL;
    char *buf = malloc(64 << 20);
    *n = 0;
    int rc = kiln_gz_reader_open(&r, path, err);
    while (rc == 0) {
        size_t got = 0;
        rc = kiln_gz_reader_read(r, buf + *n, cap, &got, err);
        if (rc || got == 0)
            break;
        *n += got;
    }
    kiln_gz_reader_free(r);
    *rc_out = rc;
    return buf;
}

static char *pattern(size_t n)
{
    char *p = malloc(n);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (char)("{}\":,abcdefghij0123456789\n"[x % 26]);
    }
    return p;
}

TEST(gzip_read, small_reads_across_chunks)
{
    size_t n = 3u << 20, gzn;
    char *data = pattern(n);
    unsigned char *gz = gz_bytes(data, n, 6, &gzn);
    char path[4096];
    snprintf(path, sizeof path, "%s/a.gz", kt_tmpdir());
    kt_write_file(path, gz, gzn);
    kiln_err err = {0};
    size_t got;
    int rc;
    char *out = read_all(path, 1000, &got, &err, &rc);
    CHECK_OK(rc, &err);
    CHECK_EQ_INT(got, n);
    CHECK(memcmp(out, data, n) == 0);
    free(out);
    free(gz);
    free(data);
}

TEST(gzip_read, multi_member)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/gh/multi_member.json.gz", kt_root());
    kiln_err err = {0};
    size_t got;
    int rc;
    char *out = read_all(path, 1 << 20, &got, &err, &rc);
    CHECK_OK(rc, &err);
    out[got] = 0;
    CHECK_STR(out, "{\"id\":\"1\",\"type\":\"WatchEvent\"}\n{\"id\":\"2\",\"type\":\"ForkEvent\"}\n");
    free(out);
    /* three members built here, the middle one empty */
    size_t a, b, c;
    unsigned char *m1 = gz_bytes("one\n", 4, 9, &a), *m2 = gz_bytes("", 0, 1, &b), *m3 = gz_bytes("three\n", 6, 1, &c);
    unsigned char *all = malloc(a + b + c);
    memcpy(all, m1, a);
    memcpy(all + a, m2, b);
    memcpy(all + a + b, m3, c);
    snprintf(path, sizeof path, "%s/m.gz", kt_tmpdir());
    kt_write_file(path, all, a + b + c);
    out = read_all(path, 3, &got, &err, &rc);
    CHECK_OK(rc, &err);
    out[got] = 0;
    CHECK_STR(out, "one\nthree\n");
    free(out);
    free(m1);
    free(m2);
    free(m3);
    free(all);
}

TEST(gzip_read, truncated_reports_offset)
{
    size_t n = 1u << 20, gzn;
    char *data = pattern(n);
    unsigned char *gz = gz_bytes(data, n, 6, &gzn);
    char path[4096];
    snprintf(path, sizeof path, "%s/t.gz", kt_tmpdir());
    size_t cut = gzn / 2;
    kt_write_file(path, gz, cut);
    kiln_err err = {0};
    size_t got;
    int rc;
    char *out = read_all(path, 1 << 16, &got, &err, &rc);
    CHECK_EQ_INT(rc, KILN_ETRUNC);
    CHECK(strstr(err.msg, "truncated gzip") != NULL);
    char want[64];
    snprintf(want, sizeof want, "offset %zu", cut);
    CHECK_MSG(strstr(err.msg, want) != NULL, "message lacks '%s': %s", want, err.msg);
    CHECK(err.offset == cut);
    CHECK(got > 0 && got < n && memcmp(out, data, got) == 0); /* what came out is right */
    free(out);
    /* cut inside the 8-byte trailer */
    kt_write_file(path, gz, gzn - 3);
    out = read_all(path, 1 << 20, &got, &err, &rc);
    CHECK_EQ_INT(rc, KILN_ETRUNC);
    free(out);
    /* empty file */
    kt_write_file(path, "", 0);
    out = read_all(path, 1 << 20, &got, &err, &rc);
    CHECK_EQ_INT(rc, KILN_ETRUNC);
    CHECK(strstr(err.msg, "empty") != NULL);
    free(out);
    free(gz);
    free(data);
}

TEST(gzip_read, corrupt)
{
    size_t n = 1u << 20, gzn;
    char *data = pattern(n);
    unsigned char *gz = gz_bytes(data, n, 6, &gzn);
    char path[4096];
    snprintf(path, sizeof path, "%s/c.gz", kt_tmpdir());
    kiln_err err = {0};
    size_t got;
    int rc;
    /* a flipped CRC32 in the trailer */
    gz[gzn - 8] ^= 0x55;
    kt_write_file(path, gz, gzn);
    char *out = read_all(path, 1 << 20, &got, &err, &rc);
    CHECK_EQ_INT(rc, KILN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "compressed byte offset") != NULL, "%s", err.msg);
    free(out);
    gz[gzn - 8] ^= 0x55;
    /* garbage in the deflate stream */
    for (size_t i = gzn / 3; i < gzn / 3 + 64; i++)
        gz[i] = 0xff;
    kt_write_file(path, gz, gzn);
    out = read_all(path, 1 << 20, &got, &err, &rc);
    CHECK_EQ_INT(rc, KILN_EFORMAT);
    free(out);
    /* not gzip at all */
    kt_write_file(path, "hello world, not gzip", 21);
    out = read_all(path, 1 << 20, &got, &err, &rc);
    CHECK_EQ_INT(rc, KILN_EFORMAT);
    free(out);
    /* trailing garbage after a good member */
    size_t sn;
    unsigned char *small = gz_bytes("x\n", 2, 6, &sn);
    unsigned char *two = malloc(sn + 4);
    memcpy(two, small, sn);
    memcpy(two + sn, "JUNK", 4);
    kt_write_file(path, two, sn + 4);
    out = read_all(path, 1 << 20, &got, &err, &rc);
    CHECK_EQ_INT(rc, KILN_EFORMAT);
    CHECK(strstr(err.msg, "trailing garbage") != NULL);
    free(out);
    free(two);
    free(small);
    free(gz);
    free(data);
    /* a missing file */
    kiln_gz_reader *r = NULL;
    CHECK_EQ_INT(kiln_gz_reader_open(&r, "/nonexistent/x.gz", &err), KILN_ENOTFOUND);
}
