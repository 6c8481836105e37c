/*
 * fuzz_parquet.c - fuzz target for kiln's Parquet reader (footer, page
 * headers, pages, statistics, predicates): the input is a whole file.
 * It is written to a memfd and read through the normal path-based reader
 * (/proc/self/fd/N), every column projected, a predicate on column 0
 * parsed and applied, every statistic formatted. At most FZ_MAX_ROWS rows
 * are read so a tiny file describing billions of rows cannot stall a run.
 */
#include "harness/harness.h"
#include "format/parquet/parquet.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define FZ_MAX_ROWS 200000

int kiln_fuzz_parquet(const uint8_t *d, size_t n);

int kiln_fuzz_parquet(const uint8_t *d, size_t n)
{
    int fd = memfd_create("kiln-fuzz-parquet", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < n) {
        ssize_t k = write(fd, d + off, n - off);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    kiln_err err = {0};
    kiln_parquet_reader *r = NULL;
    kiln_parquet_read_opts ro = {.batch_rows = 1024};
    kiln_buf txt;
    kiln_buf_init(&txt, 0);
    if (kiln_parquet_reader_open(&r, path, &ro, &err) == 0) {
        int nc = kiln_parquet_reader_ncolumns(r);
        for (int g = 0; g < kiln_parquet_reader_num_row_groups(r); g++)
            for (int c = 0; c < nc; c++) {
                kiln_parquet_chunk_info ci;
                if (kiln_parquet_reader_chunk(r, g, c, &ci) == 0) {
                    if (ci.has_min)
                        kiln_parquet_stat_format(r, c, ci.min, ci.min_len, &txt, &err);
                    if (ci.has_max)
                        kiln_parquet_stat_format(r, c, ci.max, ci.max_len, &txt, &err);
                }
            }
        kiln_parquet_pred p;
        char expr[300];
        const kiln_parquet_column *c0 = kiln_parquet_reader_column(r, 0);
        snprintf(expr, sizeof expr, "%.200s >= 1", c0 ? c0->name : "x");
        if (kiln_parquet_pred_parse(&p, r, expr, &err) == 0)
            kiln_parquet_reader_filter(r, &p, &err);
        const kiln_batch *b;
        size_t rows = 0;
        while (rows < FZ_MAX_ROWS && kiln_parquet_reader_next(r, &b, &err) == 1) {
            for (size_t i = 0; i < b->nrows && i < 4; i++)
                for (int c = 0; c < b->schema->ncols; c++) {
                    kiln_buf_reset(&txt);
                    kiln_parquet_format_value(&txt, b, c, i, &err);
                }
            rows += b->nrows;
        }
        kiln_parquet_reader_free(r);
    }
    kiln_buf_free(&txt);
    close(fd);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_parquet(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(parquet, kiln_fuzz_parquet)
