/*
 * gh_iceberg.c - the Iceberg sink of `kiln job gh-events --format iceberg`:
 * loads the job's staged per-day Parquet output into two Iceberg tables,
 * github.pushes (MERGE on push_id) and github.commits (MERGE on
 * repo_id,sha), both partitioned by day(created_at), created on first use
 * with the schemas (and field ids) of gh_events.h.
 *
 * How it works: the job itself runs with the Parquet format into a staging
 * directory (STAGE/pushes/date=D/part-HH.parquet, ...), so the scan keeps its
 * threads, dedupe and per-day atomic swap. Then, on the caller's thread, the
 * days that succeeded are read back hour file by hour file and given to a
 * lake writer in MERGE mode. The lake writer stages a commit's rows in
 * memory, so a big load is cut into chunks: when the rows staged pass the
 * budget (stage_bytes, default 32 MB estimated) they are committed, at the
 * next reader batch. Chunks never land on the target ref directly
 * (write-audit-publish): they are committed to a private staging branch
 * "kiln-stage-gh-events-PID-N" cut from the target's head, and when the unit
 * is loaded (the run for commit=job, each day for commit=partition) one
 * commit fast-forwards the target to the staging head and drops the branch
 * (kiln_lake_publish). Both tables are loaded into their staging branches
 * before either is published, and then published back to back. Readers of
 * the target therefore see one change per run (or day), never a half-loaded
 * day, and pushes and commits out of step only for the moment between the
 * two publishes; memory stays bounded (figures in docs/engine.md); a big
 * run's chunk snapshots are ancestors of the published head. A day bigger
 * than the budget is spilled into key-range buckets first, one chunk each
 * (see "big days" below). If the target moved meanwhile (another writer),
 * the publish conflicts: the staging branch is dropped and the unit is
 * loaded again on the target's new head (up to 3 attempts; MERGE makes that
 * correct whatever the other writer did).
 * A day that failed in the scan (truncated gzip, ...) is not given to the
 * writer at all: it contributes nothing and the others commit. MERGE
 * rewrites only files whose rows change, so a re-run of the same input adds
 * no snapshot (the writer reports noop, the staging branch is never
 * created). A crash at any point leaves the target at its previous
 * snapshot; files written meanwhile are orphans (`kiln table
 * remove-orphans`), and a staging branch left by a killed run is dropped by
 * the next run on this machine (its PID no longer runs).
 *
 * Test hook: KILN_TEST_GH_ICEBERG_KILL=TABLE:POINT[:N] (TABLE pushes|commits,
 * POINT data|manifests) SIGKILLs the process the Nth time (default 1) the
 * writer of that table reaches that lake fault point.
 */
#include "engine/gh_events.h"
#include "engine/gh_int.h"
#include "format/parquet/parquet.h"
#include "lake/lake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Row groups of the table's data files are cut at this many rows: the
 * writer then buffers ~30 MB of encoded columns instead of up to 128 MB. */
#define GH_ICEBERG_RG_ROWS 131072
/* Default staging budget (estimated bytes of rows held by the lake writer,
 * which stages a commit's rows in memory): past it, the rows so far are
 * committed to the staging branch. */
#define GH_ICEBERG_STAGE_DEFAULT ((uint64_t)32 << 20)
/* At most this many key-range buckets for one big day (bigger buckets then). */
#define GH_SPILL_MAX 256

typedef struct gh_table {
    const char *name; /* "github.pushes" */
    const char *sub;  /* "pushes" */
    const char *keys; /* merge keys */
    const kiln_schema *schema;
    const char *range_col; /* big days are bucketed by ranges of this key column */
} gh_table;

#define STAGE_PREFIX "kiln-stage-gh-events-"

typedef struct kill_spec {
    char point[16]; /* "data" | "manifests" */
    int nth, seen;
} kill_spec;

static int kill_fault(kiln_lake_fault_point where, void *ctx)
{
    kill_spec *k = ctx;
    if (((where == KILN_LAKE_FAULT_AFTER_DATA_FILES && strcmp(k->point, "data") == 0) ||
         (where == KILN_LAKE_FAULT_AFTER_MANIFESTS && strcmp(k->point, "manifests") == 0)) &&
        ++k->seen >= k->nth)
        kill(getpid(), SIGKILL);
    return 0;
}

/* Drop staging branches that killed runs on this machine left behind
 * (their PID is gone; names "PREFIX<pid>" or "PREFIX<pid>-<n>"). A live
 * run's branch, this process's included, is left alone. */
static int drop_stale_staging(kiln_lake_table *t, kiln_gh_iceberg_table_result *tr, kiln_err *err)
{
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    KILN_VEC(char *) stale = {0};
    int rc = 0;
    for (size_t i = 0; i < m->nrefs && !rc; i++) {
        const char *n = m->refs[i].name;
        if (strncmp(n, STAGE_PREFIX, strlen(STAGE_PREFIX)) != 0)
            continue;
        char *end;
        long pid = strtol(n + strlen(STAGE_PREFIX), &end, 10);
        if ((*end && *end != '-') || pid <= 0 || pid == (long)getpid() || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue;
        char *s = kiln_sprintf("%s", n);
        if ((rc = kiln_vec_push(&stale, s, err)))
            kiln_free(s);
    }
    for (size_t i = 0; i < stale.len; i++) {
        if (!rc) {
            /* another load running beside this one (a backfill's
             * parallel days) may drop the same stale branch first: gone is
             * what was wanted, not an error of this load */
            kiln_err de = {0};
            int drc = kiln_lake_ref_drop(t, stale.items[i], &de);
            tr->stale_branches_dropped += drc == 0;
            if (drc && drc != KILN_ENOTFOUND)
                rc = kiln_err_set(err, drc, "%s", de.msg);
        }
        kiln_free(stale.items[i]);
    }
    kiln_vec_free(&stale);
    return rc;
}

/* Iceberg schema JSON of a kiln schema (ids and requiredness kept). */
static int schema_json(const kiln_schema *s, kiln_buf *out, kiln_err *err)
{
    int rc = kiln_buf_printf(out, err, "{\"type\":\"struct\",\"schema-id\":0,\"fields\":[");
    for (int i = 0; !rc && i < s->ncols; i++)
        rc = kiln_buf_printf(out, err, "%s{\"id\":%d,\"name\":\"%s\",\"required\":%s,\"type\":\"%s\"}", i ? "," : "",
                             s->cols[i].field_id, s->cols[i].name, s->cols[i].required ? "true" : "false",
                             kiln_type_name(s->cols[i].type));
    if (!rc)
        rc = kiln_buf_printf(out, err, "]}");
    return rc;
}

static int table_open(kiln_lake_table **out, kiln_lake_catalog *cat, const gh_table *gt, kiln_err *err)
{
    int rc = kiln_lake_table_load(out, cat, gt->name, err);
    if (rc != KILN_ENOTFOUND)
        return rc;
    kiln_err_clear(err);
    kiln_buf js;
    kiln_buf_init(&js, 0);
    if ((rc = schema_json(gt->schema, &js, err)))
        goto done;
    kiln_lake_create_opts co = {0};
    co.schema_json = js.data;
    co.partition = "day(created_at)";
    rc = kiln_lake_table_create(out, cat, gt->name, &co, err);
    if (rc == KILN_EEXIST) { /* created meanwhile by another run */
        kiln_err_clear(err);
        rc = kiln_lake_table_load(out, cat, gt->name, err);
    }
done:
    kiln_buf_free(&js);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void add_result(kiln_gh_iceberg_table_result *t, const kiln_lake_write_result *r);

/* One table's load: the open writer and how much it has staged. */
typedef struct loader {
    kiln_lake_table *t;
    const kiln_lake_write_opts *wo; /* branch = the staging branch, branch_from = target */
    const char *target;             /* the ref the run publishes to */
    kiln_lake_writer *w;            /* NULL until rows arrive */
    uint64_t staged;                /* estimated bytes of rows staged in w */
    uint64_t budget;                /* commit a chunk past this */
    kiln_gh_iceberg_table_result *tr;
} loader;

static int loader_commit(loader *l, kiln_err *err)
{
    if (!l->w)
        return 0;
    kiln_lake_write_result wr;
    int rc = kiln_lake_writer_commit(l->w, &wr, err);
    if (!rc)
        add_result(l->tr, &wr);
    kiln_lake_writer_free(l->w);
    l->w = NULL;
    l->staged = 0;
    return rc;
}

/* The unit (run or day) is loaded and flushed to the staging branch: move
 * the target to the staging head and drop the branch, in one commit. */
static int loader_publish(loader *l, kiln_err *err)
{
    if (!kiln_lake_meta_ref(kiln_lake_table_meta(l->t), l->wo->branch))
        return 0; /* nothing was committed: every chunk was a no-op */
    int rc = kiln_lake_publish(l->t, l->target, l->wo->branch, err);
    if (!rc)
        l->tr->published++;
    return rc;
}

/* After a failure: drop the staging branch (best effort), so the target is
 * as it was and no ref keeps the chunks alive. */
static void loader_abandon(loader *l)
{
    kiln_lake_writer_free(l->w);
    l->w = NULL;
    kiln_err e2 = {0};
    if (l->t && kiln_lake_meta_ref(kiln_lake_table_meta(l->t), l->wo->branch) &&
        kiln_lake_ref_drop(l->t, l->wo->branch, &e2))
        snprintf(l->tr->warning, sizeof l->tr->warning, "could not drop staging branch %s: %s", l->wo->branch, e2.msg);
}

/* Rough in-memory size of a batch once the writer has copied it. */
static uint64_t batch_bytes(const kiln_batch *b)
{
    uint64_t n = (uint64_t)b->nrows * (uint64_t)b->schema->ncols * 9;
    for (int c = 0; c < b->schema->ncols; c++)
        if (b->cols[c].type == KILN_T_STRING || b->cols[c].type == KILN_T_BINARY)
            n += b->cols[c].offsets[b->nrows] + 4 * (uint64_t)b->nrows;
    return n;
}

/* Give rows to the loader's writer; commits a chunk whenever the budget is
 * passed (even inside an hour file: chunks are MERGEd in order, so where
 * they are cut does not change the result). */
static int loader_put(loader *l, const kiln_batch *b, kiln_err *err)
{
    int rc;
    if (!l->w && (rc = kiln_lake_writer_open(&l->w, l->t, l->wo, err)))
        return rc;
    if ((rc = kiln_lake_writer_write(l->w, b, err)))
        return rc;
    l->staged += batch_bytes(b);
    if (l->budget && l->staged >= l->budget)
        return loader_commit(l, err);
    return 0;
}

/* ---------------------------------------------------------------- big days
 *
 * A day bigger than the budget is loaded in several chunks. Cut in arrival
 * order, every chunk would overlap all the others in key space (sha is
 * random), so each chunk's MERGE would read every file the earlier chunks
 * of the day wrote: k chunks, ~k^2/2 file reads. Instead the day is first
 * spilled into P buckets by *range* of one key column (commits: the first
 * four hex digits of sha; pushes: push_id between the day's min and max
 * from the Parquet footers), in arrival order within a bucket, and each
 * bucket is one chunk. A bucket's data files then have tight bounds on that
 * column, so the next buckets' MERGEs skip them by their statistics, and so
 * does a re-run: bucket b only reads the files of the same key range. The
 * spill format is kiln's own: one record per row (per column: a null flag,
 * then the value; strings as u32 length + bytes; gh_int.h), buffered per
 * bucket. */

typedef struct spill {
    int n; /* buckets */
    int fds[GH_SPILL_MAX];
    char *paths[GH_SPILL_MAX];
    kiln_buf bufs[GH_SPILL_MAX];
    size_t flush_at; /* per-bucket buffer size */
} spill;

static int spill_flush(spill *sp, int k, kiln_err *err)
{
    kiln_buf *b = &sp->bufs[k];
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(sp->fds[k], b->data + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return kiln_err_set(err, KILN_EIO, "%s: write: %s", sp->paths[k], strerror(errno));
        off += (size_t)w;
    }
    kiln_buf_reset(b);
    return 0;
}

static int hexval(int ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : 0;
}

/* The bucket of a range-column value: a string's first four hex digits
 * (uniform), or an integer's place between lo and hi. */
static int bucket_val(int is_str, const char *p, size_t len, int64_t v, int n, int64_t lo, int64_t hi)
{
    if (is_str) {
        unsigned x = 0;
        for (size_t i = 0; i < 4; i++)
            x = x * 16 + (unsigned)(i < len ? hexval((unsigned char)p[i]) : 0);
        return (int)(((uint64_t)x * (uint64_t)n) >> 16);
    }
    if (v <= lo || hi <= lo)
        return 0;
    if (v >= hi)
        return n - 1;
    int k = (int)(((double)(v - lo) / ((double)(hi - lo) + 1.0)) * n);
    return k < 0 ? 0 : k >= n ? n - 1 : k;
}

/* The bucket of a row: ranges of the table's range column, in order. */
static int bucket_of(const kiln_batch *b, size_t row, int col, int n, int64_t lo, int64_t hi)
{
    if (kiln_batch_is_null(b, col, row))
        return 0;
    size_t len = 0;
    int is_str = b->cols[col].type == KILN_T_STRING;
    const char *p = is_str ? kiln_batch_str(b, col, row, &len) : NULL;
    return bucket_val(is_str, p, len, is_str ? 0 : b->cols[col].v.i64[row], n, lo, hi);
}

/* The same for a spill record's value (kiln_gh__spill_field; NULL = null). */
static int bucket_of_raw(kiln_type t, const uint8_t *val, size_t len, int n, int64_t lo, int64_t hi)
{
    if (!val)
        return 0;
    int64_t v = 0;
    if (t != KILN_T_STRING)
        memcpy(&v, val, sizeof v);
    return bucket_val(t == KILN_T_STRING, (const char *)val, len, v, n, lo, hi);
}

static void spill_free(spill *sp)
{
    for (int k = 0; k < sp->n; k++) {
        if (sp->fds[k] >= 0)
            close(sp->fds[k]);
        if (sp->paths[k]) {
            unlink(sp->paths[k]);
            kiln_free(sp->paths[k]);
        }
        kiln_buf_free(&sp->bufs[k]);
    }
    sp->n = 0;
}

/* Load bucket k of a spill: map its file and give its rows to the loader. */
static int load_bucket(loader *l, spill *sp, int k, const kiln_schema *schema, kiln_err *err)
{
    struct stat st;
    kiln_batch *b = NULL;
    void *map = NULL;
    int rc = 0;
    if (fstat(sp->fds[k], &st) != 0)
        return kiln_err_set(err, KILN_EIO, "%s: %s", sp->paths[k], strerror(errno));
    if (st.st_size == 0)
        return 0;
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, sp->fds[k], 0);
    if (map == MAP_FAILED)
        return kiln_err_set(err, KILN_EIO, "%s: mmap: %s", sp->paths[k], strerror(errno));
    madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
    if ((rc = kiln_batch_new(&b, schema, 16384, 0, err)))
        goto done;
    const uint8_t *p = map, *end = p + st.st_size;
    while (p < end) {
        if ((rc = kiln_gh__spill_get(&p, end, schema, b, sp->paths[k], err)))
            goto done;
        if (kiln_batch_full(b)) {
            if ((rc = loader_put(l, b, err)))
                goto done;
            kiln_batch_clear(b);
        }
    }
    if (b->nrows)
        rc = loader_put(l, b, err);
done:
    kiln_batch_free(b);
    munmap(map, (size_t)st.st_size);
    return rc;
}

typedef KILN_VEC(char *) name_vec;

static int is_rows(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, KILN_GH_STAGE_EXT) == 0;
}

/* The day's staged part-HH.parquet / part-HH.rows names (sorted) and the
 * estimated bytes their rows take in memory: ~4-5x a ZSTD Parquet file
 * (6x errs on the side of more, smaller buckets), ~1x-1.5x kiln's row
 * format (2x). */
static int list_parts(const char *dir, name_vec *names, uint64_t *est, kiln_err *err)
{
    *est = 0;
    DIR *dh = opendir(dir);
    if (!dh) /* a day without rows still has a directory; absent = nothing to load */
        return 0;
    int rc = 0;
    for (struct dirent *de; rc == 0 && (de = readdir(dh));) {
        size_t n = strlen(de->d_name);
        if (strncmp(de->d_name, "part-", 5) != 0 ||
            !((n > 8 && strcmp(de->d_name + n - 8, ".parquet") == 0) || is_rows(de->d_name)))
            continue;
        char *s = kiln_sprintf("%s", de->d_name);
        if (!s || (rc = kiln_vec_push(names, s, err))) {
            kiln_free(s);
            rc = rc ? rc : KILN_OOM(err);
            break;
        }
        struct stat st;
        char *p = kiln_sprintf("%s/%s", dir, de->d_name);
        if (p && stat(p, &st) == 0)
            *est += (uint64_t)st.st_size * (is_rows(de->d_name) ? 2 : 6);
        kiln_free(p);
    }
    closedir(dh);
    kiln_sort(names->items, names->len, sizeof names->items[0], cmp_str);
    return rc;
}

/* Open nb bucket files STAGE/_spill-PID-N-SUB-DAY-K (PID-N: this load's,
 * as in its staging branch name, so a concurrent load's files are told
 * apart from a killed one's). */
static int spill_open(spill *sp, int nb, const char *stage, const char *tag, const char *sub, const char *ds,
                      kiln_err *err)
{
    sp->n = nb;
    for (int k = 0; k < nb; k++) {
        sp->fds[k] = -1;
        kiln_buf_init(&sp->bufs[k], 0);
    }
    sp->flush_at = (size_t)(16u << 20) / (size_t)nb;
    if (sp->flush_at < 4096)
        sp->flush_at = 4096;
    for (int k = 0; k < nb; k++) {
        sp->paths[k] = kiln_sprintf("%s/_spill-%s-%s-%s-%d", stage, tag, sub, ds, k);
        sp->fds[k] = sp->paths[k] ? open(sp->paths[k], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
        if (sp->fds[k] < 0)
            return kiln_err_set(err, KILN_EIO, "%s: %s", sp->paths[k] ? sp->paths[k] : stage, strerror(errno));
    }
    return 0;
}

/* One staged file, read a batch at a time: Parquet (an explicit --out) or
 * kiln's row format (the job's own staging directory: no Parquet encode in
 * the scan and no decode here; gh_int.h). */
typedef struct part_rd {
    kiln_parquet_reader *pq;
    void *map;
    size_t size;
    const uint8_t *p, *end;
    kiln_batch *b;
    const kiln_schema *schema;
    char *path;
} part_rd;

static int part_open(part_rd *r, const char *path, const kiln_schema *schema, kiln_err *err)
{
    memset(r, 0, sizeof *r);
    r->schema = schema;
    if (!(r->path = kiln_strdup(path)))
        return KILN_OOM(err);
    if (!is_rows(path)) {
        kiln_parquet_read_opts ro = {16384, 0}; /* small batches: the writer copies each one */
        return kiln_parquet_reader_open(&r->pq, path, &ro, err);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(e));
    }
    r->size = (size_t)st.st_size;
    if (r->size) {
        r->map = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (r->map == MAP_FAILED) {
            r->map = NULL;
            close(fd);
            return kiln_err_set(err, KILN_EIO, "%s: mmap: %s", path, strerror(errno));
        }
        madvise(r->map, r->size, MADV_SEQUENTIAL);
        r->p = r->map;
        r->end = r->p + r->size;
    }
    close(fd);
    return kiln_batch_new(&r->b, schema, 16384, 0, err);
}

/* 1 and *out = the next batch (valid until the next call), 0 at the end, or an error. */
static int part_next(part_rd *r, const kiln_batch **out, kiln_err *err)
{
    if (r->pq)
        return kiln_parquet_reader_next(r->pq, out, err);
    kiln_batch_clear(r->b);
    while (r->p < r->end && !kiln_batch_full(r->b)) {
        int rc = kiln_gh__spill_get(&r->p, r->end, r->schema, r->b, r->path, err);
        if (rc)
            return rc;
    }
    *out = r->b;
    return r->b->nrows ? 1 : 0;
}

static void part_close(part_rd *r)
{
    kiln_parquet_reader_free(r->pq);
    kiln_batch_free(r->b);
    if (r->map)
        munmap(r->map, r->size);
    kiln_free(r->path);
    memset(r, 0, sizeof *r);
}

/* The range column's bounds over the day's files: from the footers of
 * Parquet files, by reading the rows of row-format ones. */
static int day_key_bounds(const char *dir, const name_vec *names, const kiln_schema *schema, const char *col,
                          int64_t *lo, int64_t *hi, kiln_err *err)
{
    for (size_t i = 0; i < names->len; i++) {
        if (is_rows(names->items[i])) { /* the records walked, not decoded */
            part_rd pr;
            char *p = kiln_sprintf("%s/%s", dir, names->items[i]);
            int rc = p ? part_open(&pr, p, schema, err) : KILN_OOM(err);
            kiln_free(p);
            int c = kiln_schema_find(schema, col);
            while (rc == 0 && c >= 0 && pr.p < pr.end) {
                const uint8_t *val;
                size_t len;
                if ((rc = kiln_gh__spill_field(&pr.p, pr.end, schema, c, &val, &len, pr.path, err)) || !val ||
                    len != sizeof(int64_t))
                    continue;
                int64_t v;
                memcpy(&v, val, sizeof v);
                *lo = v < *lo ? v : *lo;
                *hi = v > *hi ? v : *hi;
            }
            part_close(&pr);
            if (rc < 0)
                return rc;
            continue;
        }
        kiln_parquet_reader *r = NULL;
        char *p = kiln_sprintf("%s/%s", dir, names->items[i]);
        int rc = p ? kiln_parquet_reader_open(&r, p, NULL, err) : KILN_OOM(err);
        kiln_free(p);
        if (rc)
            return rc;
        int c = kiln_parquet_reader_find(r, col);
        for (int g = 0; c >= 0 && g < kiln_parquet_reader_num_row_groups(r); g++) {
            kiln_parquet_chunk_info ci;
            if (kiln_parquet_reader_chunk(r, g, c, &ci) != 0)
                continue;
            int64_t v;
            if (ci.has_min && ci.min_len == 8) {
                memcpy(&v, ci.min, 8);
                *lo = v < *lo ? v : *lo;
            }
            if (ci.has_max && ci.max_len == 8) {
                memcpy(&v, ci.max, 8);
                *hi = v > *hi ? v : *hi;
            }
        }
        kiln_parquet_reader_free(r);
    }
    return 0;
}

/* Give every STAGE/<sub>/date=D/part-*.parquet of day d to the loader,
 * hours ascending; a day bigger than the budget goes through key-range
 * buckets (above). */
static int load_day(loader *l, const char *stage, const gh_table *gt, int64_t day, kiln_err *err)
{
    char ds[16];
    kiln_date_format(day, ds);
    char *dir = kiln_sprintf("%s/%s/date=%s", stage, gt->sub, ds);
    name_vec names = {0};
    part_rd r;
    memset(&r, 0, sizeof r);
    spill sp;
    memset(&sp, 0, sizeof sp);
    uint64_t est = 0;
    int rc = dir ? list_parts(dir, &names, &est, err) : KILN_OOM(err);
    if (rc)
        goto done;
    int nb = l->budget && est > l->budget ? (int)((est + l->budget - 1) / l->budget) : 1;
    if (nb > GH_SPILL_MAX)
        nb = GH_SPILL_MAX;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    int rcol = -1;
    /* the range column in the staged records' layout (the table schema),
     * when its value can be read from a record as it is */
    int rcol_raw = kiln_schema_find(gt->schema, gt->range_col);
    if (rcol_raw >= 0 && gt->schema->cols[rcol_raw].type != KILN_T_STRING &&
        gt->schema->cols[rcol_raw].type != KILN_T_INT64)
        rcol_raw = -1;
    if (nb > 1 && ((rc = loader_commit(l, err)) || /* earlier days' rows: their own chunk */
                   (rc = spill_open(&sp, nb, stage, l->wo->branch + strlen(STAGE_PREFIX), gt->sub, ds, err))))
        goto done;
    if (nb > 1 && gt->schema->cols[kiln_schema_find(gt->schema, gt->range_col)].type != KILN_T_STRING &&
        (rc = day_key_bounds(dir, &names, gt->schema, gt->range_col, &lo, &hi, err))) /* pushes: push_id */
        goto done;
    for (size_t i = 0; i < names.len; i++) {
        char *p = kiln_sprintf("%s/%s", dir, names.items[i]);
        rc = p ? part_open(&r, p, gt->schema, err) : KILN_OOM(err);
        kiln_free(p);
        if (rc)
            goto done;
        if (nb > 1 && r.map && rcol_raw >= 0) {
            /* row-format staging: each record is copied into its bucket as
             * it is (same format), not decoded and encoded again */
            while (r.p < r.end) {
                const uint8_t *rec = r.p, *val;
                size_t len;
                if ((rc = kiln_gh__spill_field(&r.p, r.end, gt->schema, rcol_raw, &val, &len, r.path, err)))
                    goto done;
                int k = bucket_of_raw(gt->schema->cols[rcol_raw].type, val, len, nb, lo, hi);
                if ((rc = kiln_buf_append(&sp.bufs[k], rec, (size_t)(r.p - rec), err)))
                    goto done;
                if (sp.bufs[k].len >= sp.flush_at && (rc = spill_flush(&sp, k, err)))
                    goto done;
            }
            part_close(&r);
            continue;
        }
        const kiln_batch *b;
        while ((rc = part_next(&r, &b, err)) == 1) {
            if (nb <= 1) {
                if ((rc = loader_put(l, b, err)))
                    goto done;
                continue;
            }
            if (rcol < 0 && (rcol = kiln_schema_find(b->schema, gt->range_col)) < 0) {
                rc = kiln_err_set(err, KILN_EINTERNAL, "%s: staged file lacks column %s", gt->name, gt->range_col);
                goto done;
            }
            for (size_t row = 0; row < b->nrows; row++) {
                int k = bucket_of(b, row, rcol, nb, lo, hi);
                if ((rc = kiln_gh__spill_put(&sp.bufs[k], b, row, err)))
                    goto done;
                if (sp.bufs[k].len >= sp.flush_at && (rc = spill_flush(&sp, k, err)))
                    goto done;
            }
        }
        if (rc < 0)
            goto done;
        rc = 0;
        part_close(&r);
    }
    /* one chunk per bucket, in key order */
    for (int k = 0; k < sp.n; k++) {
        if ((rc = spill_flush(&sp, k, err)))
            goto done;
        kiln_buf_free(&sp.bufs[k]);
        struct stat st;
        if (fstat(sp.fds[k], &st) == 0 && st.st_size > 0)
            l->tr->buckets++;
        if ((rc = load_bucket(l, &sp, k, gt->schema, err)) || (rc = loader_commit(l, err)))
            goto done;
    }
    rc = 0;
done:
    spill_free(&sp);
    part_close(&r);
    for (size_t i = 0; i < names.len; i++)
        kiln_free(names.items[i]);
    kiln_vec_free(&names);
    kiln_free(dir);
    return rc;
}

static void add_result(kiln_gh_iceberg_table_result *t, const kiln_lake_write_result *r)
{
    if (r->noop || r->snapshot_id < 0) {
        t->noop_commits++;
    } else {
        t->snapshots++;
        t->last_snapshot_id = r->snapshot_id;
    }
    t->rows_inserted += r->rows_inserted;
    t->rows_updated += r->rows_updated;
    t->files_added += r->files_added;
    t->files_removed += r->files_removed;
}

/* ---- re-run fast path: what each table records about the inputs it holds.
 * Table properties, per target ref B:
 *   kiln.gh-events.head.B          the snapshot id of B when the last gh-events
 *                                  run on B finished (after its publish)
 *   kiln.gh-events.inputs.B.DAY    the input fingerprint (gh_events.h) of DAY
 *                                  as loaded by a run on B
 * A day is unchanged when both tables record its fingerprint and B's head in
 * both is still the recorded one: no other writer (a DELETE, a compaction, a
 * rollback, a run killed after its publish) has touched B since, so the rows
 * the fingerprinted inputs gave are still there. Anything else reloads. */
#define FP_HEAD "kiln.gh-events.head."
#define FP_INPUTS "kiln.gh-events.inputs."

struct kiln_gh__loaded {
    kiln_lake_table *t[2];
    char *branch;
    int valid; /* both tables exist and B's heads are the recorded ones */
};

static const char *const fp_tables[2] = {"github.pushes", "github.commits"};

int kiln_gh__loaded_open(kiln_gh__loaded **out, const kiln_gh_iceberg_opts *o, kiln_err *err)
{
    *out = NULL;
    kiln_gh__loaded *ld = kiln_calloc(1, sizeof *ld);
    kiln_lake_catalog *cat = NULL;
    if (!ld)
        return KILN_OOM(err);
    ld->branch = kiln_strdup(o->branch && *o->branch ? o->branch : "main");
    int rc = ld->branch ? 0 : KILN_OOM(err);
    if (!rc)
        rc = kiln_lake_catalog_open(&cat, o->warehouse, KILN_LAKE_CATALOG_SQLITE, err);
    ld->valid = rc == 0;
    for (int ti = 0; ti < 2 && !rc && ld->valid; ti++) {
        rc = kiln_lake_table_load(&ld->t[ti], cat, fp_tables[ti], err);
        if (rc == KILN_ENOTFOUND) { /* first load: nothing recorded */
            kiln_err_clear(err);
            rc = 0;
            ld->valid = 0;
            break;
        }
        if (rc)
            break;
        const kiln_lake_meta *m = kiln_lake_table_meta(ld->t[ti]);
        const kiln_lake_ref *ref = kiln_lake_meta_ref(m, ld->branch);
        char key[256], now[32];
        snprintf(key, sizeof key, FP_HEAD "%s", ld->branch);
        const char *rec = kiln_lake_meta_property(m, key);
        snprintf(now, sizeof now, "%lld", ref ? (long long)ref->snapshot_id : -1LL);
        if (!ref || !rec || strcmp(rec, now) != 0)
            ld->valid = 0;
    }
    kiln_lake_catalog_free(cat);
    if (rc) {
        kiln_gh__loaded_free(ld);
        return rc;
    }
    *out = ld;
    return 0;
}

int kiln_gh__loaded_unchanged(void *ctx, int64_t day, const char *fp)
{
    kiln_gh__loaded *ld = ctx;
    if (!ld || !ld->valid)
        return 0;
    char key[256], ds[16];
    kiln_date_format(day, ds);
    snprintf(key, sizeof key, FP_INPUTS "%s.%s", ld->branch, ds);
    for (int ti = 0; ti < 2; ti++) {
        const char *v = kiln_lake_meta_property(kiln_lake_table_meta(ld->t[ti]), key);
        if (!v || strcmp(v, fp) != 0)
            return 0;
    }
    return 1;
}

void kiln_gh__loaded_free(kiln_gh__loaded *ld)
{
    if (!ld)
        return;
    for (int ti = 0; ti < 2; ti++)
        kiln_lake_table_free(ld->t[ti]);
    kiln_free(ld->branch);
    kiln_free(ld);
}

/* After a run: record, in each table, the fingerprints of the days it
 * loaded and the target's head as this run left it (the snapshot its last
 * publish made, or the head its no-op MERGEs were checked against). A
 * writer that commits between the publish and this makes the head differ,
 * so the next run reloads: never a wrong skip. */
static int record_inputs(loader *ls, const char *target, const kiln_gh_report *rep, kiln_err *err)
{
    size_t nfp = 0;
    for (size_t i = 0; i < rep->nparts; i++)
        nfp += rep->parts[i].status == KILN_GH_PART_OK && rep->parts[i].input_fp[0];
    if (!nfp)
        return 0;
    int rc = 0;
    kiln_lake_kv *kv = kiln_calloc(nfp + 1, sizeof *kv);
    char **keys = kiln_calloc(nfp + 1, sizeof *keys);
    if (!kv || !keys)
        rc = KILN_OOM(err);
    for (int ti = 0; ti < 2 && !rc; ti++) {
        const kiln_lake_ref *ref = kiln_lake_meta_ref(kiln_lake_table_meta(ls[ti].t), target);
        if (!ref)
            continue; /* nothing in the table on this ref: nothing to vouch for */
        char head[32];
        snprintf(head, sizeof head, "%lld", (long long)ref->snapshot_id);
        size_t n = 0;
        keys[n] = kiln_sprintf(FP_HEAD "%s", target);
        kv[n] = (kiln_lake_kv){keys[n], head};
        n++;
        for (size_t i = 0; i < rep->nparts; i++) {
            const kiln_gh_partition *p = &rep->parts[i];
            if (p->status != KILN_GH_PART_OK || !p->input_fp[0])
                continue;
            char ds[16];
            kiln_date_format(p->day, ds);
            keys[n] = kiln_sprintf(FP_INPUTS "%s.%s", target, ds);
            kv[n] = (kiln_lake_kv){keys[n], p->input_fp};
            n++;
        }
        for (size_t i = 0; i < n && !rc; i++)
            if (!keys[i])
                rc = KILN_OOM(err);
        if (!rc)
            rc = kiln_lake_set_properties(ls[ti].t, kv, n, err);
        for (size_t i = 0; i < n; i++) {
            kiln_free(keys[i]);
            keys[i] = NULL;
        }
    }
    kiln_free(kv);
    kiln_free(keys);
    return rc;
}

/* Load days [first, last) of rep for one table into its staging branch. */
static int load_unit(loader *l, const char *stage, const gh_table *gt, const kiln_gh_report *rep, size_t first,
                     size_t last, kiln_err *err)
{
    int rc;
    for (size_t i = first; i < last; i++) {
        /* failed days contribute nothing; days without an hour file in this
         * run may hold an older run's staging, not this input */
        if (rep->parts[i].failed || rep->parts[i].counts.files == 0)
            continue;
        if ((rc = load_day(l, stage, gt, rep->parts[i].day, err)))
            return rc;
    }
    return loader_commit(l, err);
}

int kiln_gh_iceberg_load(const kiln_gh_iceberg_opts *o, const char *stage, const kiln_gh_report *rep,
                         kiln_gh_iceberg_result *res, kiln_err *err)
{
    const gh_table tables[2] = {
        {"github.pushes", "pushes", "push_id", kiln_gh_pushes_schema(), "push_id"},
        {"github.commits", "commits", "repo_id,sha", kiln_gh_commits_schema(), "sha"},
    };
    kiln_lake_catalog *cat = NULL;
    kiln_lake_write_opts wo[2];
    kill_spec ks[2];
    loader ls[2];
    int rc;
    memset(res, 0, sizeof *res);
    memset(ls, 0, sizeof ls);
    if (!o->warehouse)
        return kiln_err_set(err, KILN_EINVAL, "gh-events --format iceberg needs --warehouse DIR");
    if ((rc = kiln_lake_catalog_open(&cat, o->warehouse, KILN_LAKE_CATALOG_SQLITE, err)))
        goto done;
    const char *kill_env = getenv("KILN_TEST_GH_ICEBERG_KILL");
    if (kill_env && !*kill_env)
        kill_env = NULL;
    /* PID (a killed run's branch is found by it) and a per-process number:
     * the server or the orchestrator may run two loads at once */
    static unsigned load_seq;
    char staging[64];
    snprintf(staging, sizeof staging, STAGE_PREFIX "%ld-%u", (long)getpid(),
             __atomic_add_fetch(&load_seq, 1, __ATOMIC_RELAXED));
    /* spill files a killed run left in the staging directory (its PID is
     * gone; a live load's, in this process or another, stay) */
    DIR *sd = opendir(stage);
    for (struct dirent *de; sd && (de = readdir(sd));) {
        if (strncmp(de->d_name, "_spill-", 7) != 0)
            continue;
        long pid = strtol(de->d_name + 7, NULL, 10);
        if (pid > 0 && (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue;
        unlinkat(dirfd(sd), de->d_name, 0);
    }
    if (sd)
        closedir(sd);
    for (int ti = 0; ti < 2; ti++) {
        const gh_table *gt = &tables[ti];
        kiln_gh_iceberg_table_result *tr = &res->tables[ti];
        snprintf(tr->name, sizeof tr->name, "%s", gt->name);
        tr->last_snapshot_id = -1;
        memset(&wo[ti], 0, sizeof wo[ti]);
        wo[ti].mode = KILN_LAKE_WRITE_MERGE;
        wo[ti].branch = staging;
        wo[ti].branch_from = o->branch;
        wo[ti].merge_keys = gt->keys;
        wo[ti].row_group_rows = GH_ICEBERG_RG_ROWS;
        wo[ti].threads = o->threads;
        ks[ti] = (kill_spec){{0}, 1, 0};
        if (kill_env) {
            const char *colon = strchr(kill_env, ':');
            if (colon && (size_t)(colon - kill_env) == strlen(gt->sub) &&
                strncmp(kill_env, gt->sub, strlen(gt->sub)) == 0) {
                snprintf(ks[ti].point, sizeof ks[ti].point, "%.*s", (int)strcspn(colon + 1, ":"), colon + 1);
                const char *nth = strchr(colon + 1, ':');
                if (nth && atoi(nth + 1) > 0)
                    ks[ti].nth = atoi(nth + 1);
                wo[ti].fault = kill_fault;
                wo[ti].fault_ctx = &ks[ti];
            }
        }
        ls[ti] = (loader){NULL, &wo[ti], o->branch && *o->branch ? o->branch : "main",
                          NULL, 0,       o->stage_bytes ? o->stage_bytes : GH_ICEBERG_STAGE_DEFAULT,
                          tr};
        if ((rc = table_open(&ls[ti].t, cat, gt, err)) || (rc = drop_stale_staging(ls[ti].t, tr, err)))
            goto done;
    }
    /* A unit is the run (commit=job) or one day (commit=partition). Both
     * tables are loaded into their staging branches (one writer at a time,
     * so memory stays that of one), then both are published back to back:
     * a failure before the publishes shows nothing of the unit, and readers
     * see the two tables out of step only for the ~30 ms between them. */
    size_t first = 0;
    while (first < rep->nparts) {
        size_t last = o->per_partition ? first + 1 : rep->nparts;
        kiln_gh_iceberg_table_result saved[2];
        for (int ti = 0; ti < 2; ti++) {
            saved[ti] = res->tables[ti];
            if ((rc = load_unit(&ls[ti], stage, &tables[ti], rep, first, last, err)))
                goto done;
        }
        for (int ti = 0; ti < 2; ti++) {
            for (int attempt = 1;; attempt++) {
                if (o->before_publish)
                    o->before_publish(o->hook_ctx, tables[ti].name);
                rc = loader_publish(&ls[ti], err);
                if (rc != KILN_ECONFLICT || attempt >= 3)
                    break;
                /* another writer moved the target while this run loaded (a
                 * concurrent job on other days, say): load the unit again on
                 * the new head; MERGE makes the second load see its rows */
                loader_abandon(&ls[ti]);
                kiln_err_clear(err);
                kiln_gh_iceberg_table_result now = res->tables[ti];
                res->tables[ti] = saved[ti];               /* the unit's counts start again... */
                res->tables[ti].reloads = now.reloads + 1; /* ...not what happened to it */
                memcpy(res->tables[ti].warning, now.warning, sizeof now.warning);
                if ((rc = kiln_lake_table_refresh(ls[ti].t, err)) ||
                    (rc = load_unit(&ls[ti], stage, &tables[ti], rep, first, last, err)))
                    break;
            }
            if (rc)
                goto done;
        }
        first = last;
    }
    rc = record_inputs(ls, ls[0].target, rep, err);
done:
    for (int ti = 0; ti < 2; ti++) {
        if (rc)
            loader_abandon(&ls[ti]);
        kiln_lake_table_free(ls[ti].t);
    }
    kiln_lake_catalog_free(cat);
    return rc;
}

int kiln_gh_iceberg_result_json(const kiln_gh_iceberg_result *r, kiln_buf *out, kiln_err *err)
{
    int rc = kiln_buf_printf(out, err, "[");
    for (int i = 0; !rc && i < 2; i++) {
        const kiln_gh_iceberg_table_result *t = &r->tables[i];
        rc = kiln_buf_printf(out, err,
                             "%s{\"table\":\"%s\",\"snapshots\":%d,\"published\":%d,\"buckets\":%d,\"noop_commits\":%d,"
                             "\"snapshot_id\":%lld,"
                             "\"rows_inserted\":%lld,\"rows_updated\":%lld,\"files_added\":%lld,"
                             "\"files_removed\":%lld,\"stale_branches_dropped\":%d,\"reloads\":%d,\"warning\":",
                             i ? "," : "", t->name, t->snapshots, t->published, t->buckets, t->noop_commits,
                             (long long)t->last_snapshot_id, (long long)t->rows_inserted, (long long)t->rows_updated,
                             (long long)t->files_added, (long long)t->files_removed, t->stale_branches_dropped,
                             t->reloads);
        if (!rc)
            rc = t->warning[0] ? kiln_json_write_str(out, t->warning, strlen(t->warning), err)
                               : kiln_buf_append(out, "null", 4, err);
        if (!rc)
            rc = kiln_buf_putc(out, '}', err);
    }
    if (!rc)
        rc = kiln_buf_printf(out, err, "]");
    return rc;
}
