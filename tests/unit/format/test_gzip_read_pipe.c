/*
 * test_gzip_read_pipe.c - the gzip reader's read() path. A regular file is
 * mmap'ed (see gzip_read.c); a FIFO cannot be, so these tests feed one from
 * a thread and check that the chunked read() path gives the same bytes,
 * handles a member boundary past the 256 KB input chunk, and still reports
 * truncation with the compressed byte offset.
 */
#include "harness/harness.h"
#include "format/gzip/gzip_read.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

typedef struct {
    const char *path;
    const unsigned char *data;
    size_t n;
} feeder;

static void *feed(void *arg)
{
    feeder *f = arg;
    int fd = open(f->path, O_WRONLY);
    if (fd < 0)
        return NULL;
    size_t off = 0;
    while (off < f->n) {
        size_t k = f->n - off < 10000 ? f->n - off : 10000; /* small writes: many short reads */
        ssize_t w = write(fd, f->data + off, k);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    return NULL;
}

/* gzip member of data (zlib, level 1); appended to *out. */
static void gz_append(unsigned char **out, size_t *out_n, const void *data, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, n) + 64;
    *out = realloc(*out, *out_n + cap);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)n;
    z.next_out = *out + *out_n;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *out_n += z.total_out;
    deflateEnd(&z);
}

/* Read path (a FIFO fed with gz) to the end; returns rc, output in *buf. */
static int read_fifo(const char *path, const unsigned char *gz, size_t gzn, char **buf, size_t *n, kiln_err *err)
{
    feeder f = {path, gz, gzn};
    pthread_t th;
    pthread_create(&th, NULL, feed, &f);
    kiln_gz_reader *r = NULL;
    *buf = malloc(8 << 20);
    *n = 0;
    int rc = kiln_gz_reader_open(&r, path, err);
    while (rc == 0) {
        size_t got = 0;
        rc = kiln_gz_reader_read(r, *buf + *n, 100000, &got, err);
        if (rc || got == 0)
            break;
        *n += got;
    }
    kiln_gz_reader_free(r);
    pthread_join(th, NULL);
    return rc;
}

static char *noise(size_t n, uint64_t seed)
{
    char *p = malloc(n);
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        p[i] = (char)("{}\":,abcdefghij0123456789\n"[seed % 26]);
    }
    return p;
}

TEST(gzip_read, fifo_two_members)
{
    char path[512];
    snprintf(path, sizeof path, "%s/in.fifo", kt_tmpdir());
    CHECK(mkfifo(path, 0600) == 0);
    size_t n1 = 1500000, n2 = 700000; /* compressed > 256 KB: several read() chunks */
    char *a = noise(n1, 88172645463325252ull), *b = noise(n2, 1234567ull);
    unsigned char *gz = NULL;
    size_t gzn = 0;
    gz_append(&gz, &gzn, a, n1);
    gz_append(&gz, &gzn, b, n2);
    CHECK(gzn > 300000);
    char *out;
    size_t n;
    kiln_err err = {0};
    int rc = read_fifo(path, gz, gzn, &out, &n, &err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(n, n1 + n2);
    CHECK(memcmp(out, a, n1) == 0);
    CHECK(memcmp(out + n1, b, n2) == 0);
    free(out);
    free(gz);
    free(a);
    free(b);
}

TEST(gzip_read, fifo_truncated)
{
    char path[512];
    snprintf(path, sizeof path, "%s/in.fifo", kt_tmpdir());
    CHECK(mkfifo(path, 0600) == 0);
    size_t n1 = 1000000;
    char *a = noise(n1, 42);
    unsigned char *gz = NULL;
    size_t gzn = 0;
    gz_append(&gz, &gzn, a, n1);
    size_t cut = gzn - 1000;
    char *out;
    size_t n;
    kiln_err err = {0};
    int rc = read_fifo(path, gz, cut, &out, &n, &err);
    CHECK_EQ_INT(rc, KILN_ETRUNC);
    char want[64];
    snprintf(want, sizeof want, "offset %zu", cut);
    CHECK(strstr(err.msg, want) != NULL);
    free(out);
    free(gz);
    free(a);
}
