/*
 * parquet_sink.c - a kiln_sink that writes one Parquet file atomically:
 * batches stream into "<path>.tmp-<pid>-<n>" through the Parquet writer;
 * commit writes the footer, fsyncs and renames onto path; abort (or free
 * without commit) removes the temp file.
 */
#include "format/parquet/parquet.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct pq_sink {
    kiln_sink base;
    kiln_parquet_writer *w;
    char *path, *tmp;
    kiln_parquet_file_stats *stats_out;
    int done;
} pq_sink;

static atomic_uint tmp_counter;

static int sink_write(kiln_sink *s, const kiln_batch *b, kiln_err *err)
{
    pq_sink *p = (pq_sink *)s;
    if (p->done)
        return kiln_err_set(err, KILN_EINVAL, "parquet sink %s: write after commit/abort", p->path);
    return kiln_parquet_writer_write(p->w, b, err);
}

static int sink_commit(kiln_sink *s, kiln_err *err)
{
    pq_sink *p = (pq_sink *)s;
    if (p->done)
        return kiln_err_set(err, KILN_EINVAL, "parquet sink %s: already committed or aborted", p->path);
    int rc = kiln_parquet_writer_close(p->w, p->stats_out, err);
    if (rc == 0 && rename(p->tmp, p->path) != 0)
        rc = kiln_err_set(err, KILN_EIO, "%s: cannot rename %s into place: %s", p->path, p->tmp, strerror(errno));
    if (rc) {
        unlink(p->tmp);
        if (p->stats_out)
            kiln_parquet_file_stats_free(p->stats_out);
    }
    p->done = 1;
    return rc;
}

static void sink_abort(kiln_sink *s)
{
    pq_sink *p = (pq_sink *)s;
    if (!p->done)
        unlink(p->tmp);
    p->done = 1;
}

static void sink_free(kiln_sink *s)
{
    pq_sink *p = (pq_sink *)s;
    if (!p->done && p->tmp)
        unlink(p->tmp);
    kiln_parquet_writer_free(p->w);
    kiln_free(p->path);
    kiln_free(p->tmp);
    kiln_free(p);
}

static const kiln_sink_ops ops = {sink_write, sink_commit, sink_abort, sink_free};

int kiln_parquet_sink_new(kiln_sink **out, const char *path, const kiln_schema *schema,
                          const kiln_parquet_write_opts *opts, kiln_parquet_file_stats *stats_out, kiln_err *err)
{
    *out = NULL;
    pq_sink *p = kiln_calloc(1, sizeof *p);
    if (!p)
        return KILN_OOM(err);
    p->base.ops = &ops;
    p->stats_out = stats_out;
    p->path = kiln_strdup(path);
    p->tmp = kiln_sprintf("%s.tmp-%d-%u", path, (int)getpid(), atomic_fetch_add(&tmp_counter, 1));
    if (!p->path || !p->tmp) {
        p->done = 1;
        sink_free(&p->base);
        return KILN_OOM(err);
    }
    int rc = kiln_parquet_writer_open(&p->w, p->tmp, schema, opts, err);
    if (rc) {
        p->done = 1;
        sink_free(&p->base);
        return rc;
    }
    *out = &p->base;
    return 0;
}
