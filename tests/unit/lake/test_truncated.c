/*
 * test_truncated.c - a file truncated by another process while a reader
 * has it mapped gives an error naming the file, never SIGBUS: the Parquet
 * reader (page bodies from the map; one thread and a decoding pool) and
 * the gzip reader (mapped input). Also a SIGBUS outside any guarded
 * mapping still kills the process (the guard does not swallow faults that
 * are not its own).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "harness/harness.h"
#include "format/gzip/gzip_read.h"
#include "format/parquet/parquet.h"

static const kiln_column_def TCOLS[] = {
    {"id", KILN_T_INT64, 1, 1, 0, 0},
    {"s", KILN_T_STRING, 0, 2, 0, 0},
};
static const kiln_schema TSCHEMA = {2, TCOLS};

/* 8 row groups of 20,000 rows, PLAIN and uncompressed so the reader's
 * strings point into the map. */
static int write_parquet(const char *path, kiln_err *err)
{
    kiln_parquet_write_opts o;
    kiln_parquet_write_opts_init(&o);
    o.codec = KILN_PQ_UNCOMPRESSED;
    o.no_dictionary = 1;
    o.row_group_rows = 20000;
    kiln_parquet_writer *w = NULL;
    kiln_batch *b = NULL;
    int rc = kiln_parquet_writer_open(&w, path, &TSCHEMA, &o, err);
    if (!rc)
        rc = kiln_batch_new(&b, &TSCHEMA, 20000, 0, err);
    for (int g = 0; !rc && g < 8; g++) {
        kiln_batch_clear(b);
        for (int i = 0; i < 20000 && !rc; i++) {
            char s[64];
            int n = snprintf(s, sizeof s, "row %d of group %d, some text to fill pages", i, g);
            kiln_batch_put_i64(b, 0, (int64_t)g * 20000 + i, err);
            kiln_batch_put_str(b, 1, s, (size_t)n, err);
            rc = kiln_batch_end_row(b, err);
        }
        if (!rc)
            rc = kiln_parquet_writer_write(w, b, err);
    }
    if (!rc)
        rc = kiln_parquet_writer_close(w, NULL, err);
    kiln_parquet_writer_free(w);
    kiln_batch_free(b);
    return rc;
}

static void parquet_truncated(int threads)
{
    kiln_err err = {0};
    char *path = kiln_sprintf("%s/t%d.parquet", kt_tmpdir(), threads);
    CHECK_OK(write_parquet(path, &err), &err);
    kiln_parquet_reader *r = NULL;
    kiln_parquet_read_opts ro = {4096, threads};
    CHECK_OK(kiln_parquet_reader_open(&r, path, &ro, &err), &err);
    const kiln_batch *b = NULL;
    CHECK_EQ_INT(kiln_parquet_reader_next(r, &b, &err), 1);
    /* another process cuts the file inside the page the reader is in the
     * middle of (its strings are still to be copied out of the map) */
    kiln_parquet_chunk_info ci;
    CHECK_EQ_INT(kiln_parquet_reader_chunk(r, 0, 1, &ci), 0);
    CHECK(truncate(path, (off_t)(ci.data_page_offset + 300)) == 0);
    int rc;
    int64_t rows = (int64_t)b->nrows;
    while ((rc = kiln_parquet_reader_next(r, &b, &err)) == 1)
        rows += (int64_t)b->nrows;
    CHECK_MSG(rc < 0, "reading on after the truncation returned %d (%lld rows)", rc, (long long)rows);
    CHECK_MSG(strstr(err.msg, path) != NULL, "error does not name the file: %s", err.msg);
    CHECK_MSG(strstr(err.msg, "shrank") != NULL, "%s", err.msg);
    CHECK(rows < 160000);
    kiln_parquet_reader_free(r);
    kiln_free(path);
}

TEST(truncated, parquet_read_while_mapped_is_an_error) { parquet_truncated(1); }

TEST(truncated, parquet_read_with_a_decoding_pool_is_an_error) { parquet_truncated(2); }

TEST(truncated, gzip_read_while_mapped_is_an_error)
{
    char *path = kiln_sprintf("%s/t.json.gz", kt_tmpdir());
    gzFile gz = gzopen(path, "wb1");
    CHECK(gz != NULL);
    /* ~24 MB of text that compresses poorly enough to span many pages */
    uint64_t x = 88172645463325252ULL;
    char line[128];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int n = snprintf(line, sizeof line, "{\"i\":%d,\"v\":\"%016llx%016llx\"}\n", i, (unsigned long long)x,
                         (unsigned long long)(x * 2654435761u));
        gzwrite(gz, line, (unsigned)n);
    }
    gzclose(gz);
    kiln_err err = {0};
    kiln_gz_reader *r = NULL;
    CHECK_OK(kiln_gz_reader_open(&r, path, &err), &err);
    char *buf = kiln_malloc(1 << 16);
    size_t n = 0;
    CHECK_OK(kiln_gz_reader_read(r, buf, 1 << 16, &n, &err), &err);
    CHECK(n > 0);
    CHECK(truncate(path, (off_t)(kiln_gz_reader_file_size(r) / 4)) == 0);
    int rc = 0;
    uint64_t total = n;
    while ((rc = kiln_gz_reader_read(r, buf, 1 << 16, &n, &err)) == 0 && n > 0)
        total += n;
    CHECK_MSG(rc < 0, "reading on after the truncation ended cleanly after %llu bytes", (unsigned long long)total);
    CHECK_MSG(strstr(err.msg, path) != NULL, "error does not name the file: %s", err.msg);
    CHECK_MSG(strstr(err.msg, "shrank") != NULL, "%s", err.msg);
    /* the reader stays failed */
    CHECK(kiln_gz_reader_read(r, buf, 1 << 16, &n, &err) < 0);
    kiln_free(buf);
    kiln_gz_reader_free(r);
    kiln_free(path);
}

TEST(truncated, a_fault_outside_a_guard_still_kills)
{
    /* install the handler (a guard pushed and popped), then fault on a
     * mapping no guard names: the child must die of SIGBUS as before */
    char *path = kiln_sprintf("%s/f.bin", kt_tmpdir());
    CHECK(kt_write_file(path, "0123456789", 10) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int fd = open(path, O_RDWR);
        volatile const char *m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
        kiln_map_guard g;
        if (sigsetjmp(g.env, 0))
            _exit(3);
        kiln_map_guard_push(&g, (const void *)m, 10);
        kiln_map_guard_pop(&g);
        (void)ftruncate(fd, 0);
        char c = m[0]; /* SIGBUS, not guarded */
        _exit(c == 0 ? 4 : 5);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    kiln_free(path);
    /* dies of SIGBUS (under ASan: its report, then exit 1); never one of
     * the child's own exits, which would mean the fault was swallowed */
    int swallowed = WIFEXITED(st) && (WEXITSTATUS(st) == 3 || WEXITSTATUS(st) == 4 || WEXITSTATUS(st) == 5);
    CHECK_MSG(!swallowed && (WIFSIGNALED(st) ? WTERMSIG(st) == SIGBUS : WEXITSTATUS(st) != 0), "child status %d", st);
}
