/*
 * parquet_copy.c - whole-file operations over the Parquet reader and
 * writer: choosing columns and a row filter (kiln_parquet_reader_select), a
 * parallel checksum scan (kiln_parquet_scan_file) and a rewrite through
 * kiln's writer (kiln_parquet_rewrite). `kiln parquet scan|cat|rewrite`
 * are thin callers.
 *
 * Scan: N readers of the same file share the row groups through the
 * reader's claim hook (an atomic flag per row group), so a file with a few
 * heavy columns still keeps every core busy: each thread decodes whole row
 * groups, as DuckDB does. Rewrite with threads: a producer thread decodes
 * the next batch (into one of two batches) while the writer encodes the
 * previous one, so reading the source does not stall the writer's pool.
 */
#include "format/parquet/parquet_int.h"

#include <pthread.h>
#include <string.h>

int kiln_parquet_reader_select(kiln_parquet_reader *r, const char *columns, const char *where, kiln_parquet_pred *pred,
                               int *pred_col, int *appended, kiln_err *err)
{
    int rc;
    *pred_col = -1;
    *appended = 0;
    if (columns && (rc = kiln_parquet_reader_project_names(r, columns, err)))
        return rc;
    if (!where)
        return 0;
    if ((rc = kiln_parquet_pred_parse(pred, r, where, err)) || (rc = kiln_parquet_reader_filter(r, pred, err)))
        return rc;
    const kiln_schema *s = kiln_parquet_reader_schema(r);
    const char *name = kiln_parquet_reader_column(r, pred->col)->name;
    *pred_col = kiln_schema_find(s, name);
    if (*pred_col >= 0)
        return 0;
    /* filter on a column not shown: read it too, last (by name, so that
     * nested sub-paths among the shown columns stay what they were) */
    int n = s->ncols + 1;
    kiln_buf names;
    kiln_buf_init(&names, 0);
    rc = 0;
    for (int i = 0; !rc && i < s->ncols; i++)
        rc = kiln_buf_printf(&names, err, "%s,", s->cols[i].name);
    if (!rc)
        rc = kiln_buf_printf(&names, err, "%s", name);
    if (!rc)
        rc = kiln_parquet_reader_project_names(r, names.data, err);
    kiln_buf_free(&names);
    if (rc)
        return rc;
    *pred_col = n - 1;
    *appended = 1;
    return 0;
}

/* ------------------------------------------------------------ scan */

typedef struct scan_part {
    const kiln_parquet_scan_opts *o;
    kiln_parquet_reader *r;
    uint8_t *claimed; /* shared: one flag per row group */
    double *fsum;
    int64_t *isum, *nulls;
    long long rows;
    int rc;
    kiln_err err;
} scan_part;

static int claim_rg(void *ctx, int rg)
{
    scan_part *p = ctx;
    return __atomic_exchange_n(&p->claimed[rg], 1, __ATOMIC_ACQ_REL) == 0;
}

static void scan_worker(void *arg, int worker_index)
{
    (void)worker_index;
    scan_part *p = arg;
    kiln_parquet_pred pred;
    int pred_col, appended;
    kiln_parquet_reader *r = p->r;
    if ((p->rc = kiln_parquet_reader_select(r, p->o->columns, p->o->where, &pred, &pred_col, &appended, &p->err)))
        return;
    const kiln_schema *s = kiln_parquet_reader_schema(r);
    p->fsum = kiln_calloc((size_t)s->ncols, sizeof(double));
    p->isum = kiln_calloc((size_t)s->ncols, sizeof(int64_t));
    p->nulls = kiln_calloc((size_t)s->ncols, sizeof(int64_t));
    if (!p->fsum || !p->isum || !p->nulls) {
        p->rc = KILN_OOM(&p->err);
        return;
    }
    const kiln_batch *b;
    int rc;
    while ((rc = kiln_parquet_reader_next(r, &b, &p->err)) == 1) {
        for (size_t i = 0; i < b->nrows; i++) {
            if (pred_col >= 0 && !kiln_parquet_pred_match(&pred, b, pred_col, i))
                continue;
            p->rows++;
            for (int c = 0; c < s->ncols; c++) {
                const kiln_col *col = &b->cols[c];
                if (kiln_batch_is_null(b, c, i)) {
                    p->nulls[c]++;
                    continue;
                }
                switch (col->type) {
                case KILN_T_BOOL: p->isum[c] += col->v.b[i]; break;
                case KILN_T_INT32:
                case KILN_T_DATE: p->isum[c] += col->v.i32[i]; break;
                case KILN_T_FLOAT: p->fsum[c] += col->v.f32[i]; break;
                case KILN_T_DOUBLE: p->fsum[c] += col->v.f64[i]; break;
                case KILN_T_STRING:
                case KILN_T_BINARY:
                case KILN_T_DECIMAL_WIDE:
                case KILN_T_JSON:
                case KILN_T_UUID: p->isum[c] += col->offsets[i + 1] - col->offsets[i]; break;
                default: p->isum[c] = (int64_t)((uint64_t)p->isum[c] + (uint64_t)col->v.i64[i]);
                }
            }
        }
    }
    p->rc = rc < 0 ? rc : 0;
}

int kiln_parquet_scan_file(kiln_parquet_scan_result *out, kiln_parquet_reader *r, const char *path,
                           const kiln_parquet_scan_opts *o, kiln_err *err)
{
    memset(out, 0, sizeof *out);
    int nrg = kiln_parquet_reader_num_row_groups(r);
    int n = o->threads;
    if (n > nrg)
        n = nrg;
    if (n < 1)
        n = 1;
    scan_part *parts = kiln_calloc((size_t)n, sizeof *parts);
    uint8_t *claimed = kiln_calloc((size_t)(nrg ? nrg : 1), 1);
    kiln_pool *pool = NULL;
    int rc = 0;
    if (!parts || !claimed) {
        rc = KILN_OOM(err);
        goto done;
    }
    /* worker 0 uses the caller's reader; the others open their own */
    for (int i = 0; i < n; i++) {
        parts[i].o = o;
        parts[i].claimed = claimed;
        if (i == 0) {
            parts[i].r = r;
        } else {
            kiln_parquet_read_opts ro = {0, 1};
            if ((rc = kiln_parquet_reader_open(&parts[i].r, path, &ro, err)))
                goto done;
        }
        if (n > 1)
            kiln_parquet_reader_claim(parts[i].r, claim_rg, &parts[i]);
    }
    double t0 = kiln_mono_seconds();
    if (n == 1) {
        scan_worker(&parts[0], 0);
    } else {
        if ((rc = kiln_pool_new(&pool, n, err)))
            goto done;
        for (int i = 0; i < n; i++)
            if ((rc = kiln_pool_submit(pool, scan_worker, &parts[i], err))) {
                kiln_pool_wait(pool);
                goto done;
            }
        kiln_pool_wait(pool);
    }
    out->seconds = kiln_mono_seconds() - t0;
    for (int i = 0; i < n; i++)
        if (parts[i].rc) {
            *err = parts[i].err;
            rc = parts[i].rc;
            goto done;
        }
    const kiln_schema *s = kiln_parquet_reader_schema(r);
    for (int i = 0; i < n; i++) {
        out->rows += parts[i].rows;
        out->row_groups_pruned += kiln_parquet_reader_pruned(parts[i].r);
        for (int c = 0; i && c < s->ncols; c++) {
            parts[0].fsum[c] += parts[i].fsum[c];
            parts[0].isum[c] = (int64_t)((uint64_t)parts[0].isum[c] + (uint64_t)parts[i].isum[c]);
            parts[0].nulls[c] += parts[i].nulls[c];
        }
    }
    out->row_groups = nrg;
    out->threads = n;
    out->ncols = s->ncols;
    out->fsum = parts[0].fsum;
    out->isum = parts[0].isum;
    out->nulls = parts[0].nulls;
    parts[0].fsum = NULL;
    parts[0].isum = NULL;
    parts[0].nulls = NULL;
done:
    kiln_pool_free(pool);
    for (int i = 0; parts && i < n; i++) {
        if (i)
            kiln_parquet_reader_free(parts[i].r);
        kiln_free(parts[i].fsum);
        kiln_free(parts[i].isum);
        kiln_free(parts[i].nulls);
    }
    kiln_free(parts);
    kiln_free(claimed);
    return rc;
}

void kiln_parquet_scan_result_free(kiln_parquet_scan_result *res)
{
    kiln_free(res->fsum);
    kiln_free(res->isum);
    kiln_free(res->nulls);
    memset(res, 0, sizeof *res);
}

/* ------------------------------------------------------------ rewrite */

typedef struct rw_pipe {
    kiln_parquet_reader *r;
    kiln_batch *slot[2];
    int state[2]; /* 0 free, 1 full, 2 end (or error) */
    int stop;
    int rc;
    kiln_err err;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} rw_pipe;

static void *rw_producer(void *arg)
{
    rw_pipe *p = arg;
    for (int i = 0;; i ^= 1) {
        pthread_mutex_lock(&p->mu);
        while (p->state[i] != 0 && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return NULL;
        kiln_err e = {0};
        int rc = kiln_parquet_reader_next_into(p->r, p->slot[i], &e);
        pthread_mutex_lock(&p->mu);
        if (rc == 1) {
            p->state[i] = 1;
        } else {
            p->state[i] = 2;
            p->rc = rc < 0 ? rc : 0;
            if (rc < 0)
                p->err = e;
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (rc != 1)
            return NULL;
    }
}

/* Write every batch of r to sink (batches re-labelled with schema ws). */
static int rewrite_pipelined(kiln_parquet_reader *r, kiln_sink *sink, const kiln_schema *ws, kiln_err *err)
{
    rw_pipe p;
    memset(&p, 0, sizeof p);
    p.r = r;
    int rc;
    if ((rc = kiln_parquet_reader_batch_new(r, &p.slot[0], err)) ||
        (rc = kiln_parquet_reader_batch_new(r, &p.slot[1], err))) {
        kiln_batch_free(p.slot[0]);
        return rc;
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, rw_producer, &p) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "cannot start a reader thread");
        goto done;
    }
    for (int i = 0;; i ^= 1) {
        pthread_mutex_lock(&p.mu);
        while (p.state[i] == 0)
            pthread_cond_wait(&p.cv, &p.mu);
        int st = p.state[i];
        pthread_mutex_unlock(&p.mu);
        if (st == 2) {
            if (p.rc) {
                *err = p.err;
                rc = p.rc;
            }
            break;
        }
        kiln_batch view = *p.slot[i];
        view.schema = ws;
        rc = kiln_sink_write(sink, &view, err);
        pthread_mutex_lock(&p.mu);
        p.state[i] = 0;
        if (rc)
            p.stop = 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        if (rc)
            break;
    }
    pthread_join(th, NULL);
done:
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    kiln_batch_free(p.slot[0]);
    kiln_batch_free(p.slot[1]);
    return rc;
}

int kiln_parquet_rewrite(kiln_parquet_reader *r, const char *out_path, const kiln_parquet_write_opts *opts,
                         kiln_parquet_file_stats *st, kiln_err *err)
{
    kiln_parquet_write_opts wo = *opts;
    int rc = 0;
    /* nanosecond timestamps are read as text: written back they would change type */
    const char *ns = kiln_pq__ns_text_leaf(r);
    if (ns)
        return kiln_err_set(err, KILN_EUNSUPP,
                            "column %s is INT64 TIMESTAMP(NANOS), which kiln reads as text and cannot write back; "
                            "nothing was written",
                            ns);
    int nkv = kiln_parquet_reader_nkv(r);
    kiln_parquet_kv *kv = kiln_calloc((size_t)(nkv ? nkv : 1), sizeof *kv);
    if (!kv)
        return KILN_OOM(err);
    for (int i = 0; i < nkv; i++)
        kv[i].key = kiln_parquet_reader_kv(r, i, &kv[i].value);
    wo.kv = kv;
    wo.nkv = nkv;
    /* field ids: keep the file's; number the columns 1.. when it has none */
    const kiln_schema *fs = kiln_parquet_reader_schema(r);
    kiln_column_def *defs = kiln_calloc((size_t)(fs->ncols ? fs->ncols : 1), sizeof *defs);
    kiln_sink *sink = NULL;
    const kiln_nested **shapes = NULL;
    kiln_arena *sa = NULL;
    if (!defs) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int i = 0; i < fs->ncols; i++) {
        defs[i] = fs->cols[i];
        if (defs[i].field_id <= 0)
            defs[i].field_id = i + 1;
    }
    kiln_schema ws = {fs->ncols, defs};
    /* nested columns: written back in the standard shapes (3-level lists) */
    shapes = kiln_calloc((size_t)(fs->ncols ? fs->ncols : 1), sizeof *shapes);
    sa = kiln_arena_new(4096);
    if (!shapes || !sa) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int i = 0; i < fs->ncols; i++)
        if ((rc = kiln_parquet__reader_shape(r, i, sa, &shapes[i], err)))
            goto done;
    wo.nested = shapes;
    wo.nnested = fs->ncols;
    memset(st, 0, sizeof *st);
    if ((rc = kiln_parquet_sink_new(&sink, out_path, &ws, &wo, st, err)))
        goto done;
    if (wo.threads > 1) {
        rc = rewrite_pipelined(r, sink, &ws, err);
    } else {
        const kiln_batch *b;
        while ((rc = kiln_parquet_reader_next(r, &b, err)) == 1) {
            kiln_batch view = *b;
            view.schema = &ws;
            if ((rc = kiln_sink_write(sink, &view, err)))
                break;
        }
    }
    if (rc == 0)
        rc = kiln_sink_commit(sink, err);
    else
        kiln_sink_abort(sink);
    if (rc)
        kiln_parquet_file_stats_free(st);
done:
    kiln_sink_free(sink);
    kiln_free(defs);
    kiln_free(kv);
    kiln_free(shapes);
    kiln_arena_free(sa);
    return rc;
}
