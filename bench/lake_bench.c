/*
 * lake_bench.c - kiln's Iceberg layer benchmarks (issue 4 "Benchmark",
 * PRODUCT.md's lake targets). Built and run by bench/lake.sh against
 * BUILD/libkiln.a through the public headers lake/lake.h and format/batch.h.
 *
 *   lake_bench commit WAREHOUSE   commit latency on a table with LAKE_FILES
 *                                 data files in LAKE_SNAPSHOTS snapshots
 *   lake_bench merge WAREHOUSE    MERGE of one day into a LAKE_DAYS-day table
 *                                 partitioned by day(created_at), the same
 *                                 MERGE re-run (must be a no-op), and a
 *                                 whole-table overwrite (the naive peer)
 *
 * Sizes come from environment variables (see bench/lake.sh); BENCH_RUNS is
 * the number of timed runs each figure is the median of. Every phase checks
 * its result (row counts, files touched, no-op) and exits 2 if it is wrong,
 * so a fast-but-wrong build never prints a figure.
 */
#include <ftw.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/batch.h"
#include "lake/lake.h"

#define DAY0 20089 /* 2025-01-01 in days since the epoch */
#define US_PER_DAY 86400000000LL

static kiln_err err;

static void die_rc(int rc, const char *what)
{
    fprintf(stderr, "lake_bench: %s failed: %s (%s)\n", what, err.msg, kiln_err_name(rc));
    exit(1);
}
#define OK(call, what)                                                                                                 \
    do {                                                                                                               \
        int rc_ = (call);                                                                                              \
        if (rc_ < 0)                                                                                                   \
            die_rc(rc_, what);                                                                                         \
    } while (0)

static void check(int cond, const char *fmt, const char *detail, long long a, long long b)
{
    if (cond)
        return;
    fprintf(stderr, "lake_bench: WRONG RESULT: ");
    fprintf(stderr, fmt, detail, a, b);
    fprintf(stderr, "\n");
    exit(2);
}

static long env_long(const char *name, long def)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return def;
    long v = strtol(s, NULL, 10);
    return v > 0 ? v : def;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
static double p90(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int i = (int)((n * 9 + 9) / 10) - 1; /* nearest rank */
    return v[i < 0 ? 0 : i];
}

/* ---------------------------------------------------------------- files on disk */

static long long disk_files;
static int count_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)p, (void)st, (void)f;
    if (flag == FTW_F)
        disk_files++;
    return 0;
}
static long long count_files(const char *dir)
{
    disk_files = 0;
    nftw(dir, count_cb, 16, FTW_PHYS);
    return disk_files;
}

typedef struct live_stats {
    long long files, rows;
} live_stats;
static int live_cb(void *ctx, const kiln_lake_entry *e)
{
    live_stats *s = ctx;
    if (e->df.content == KILN_LAKE_CONTENT_DATA) {
        s->files++;
        s->rows += e->df.record_count;
    }
    return 0;
}
static live_stats live(kiln_lake_table *t)
{
    live_stats s = {0, 0};
    OK(kiln_lake_files_list(t, -1, live_cb, &s, &err), "files list");
    return s;
}

/* Manifests in main's head's manifest list. */
static long long manifests_of(kiln_lake_table *t)
{
    const kiln_lake_snapshot *sn = kiln_lake_meta_current_snapshot(kiln_lake_table_meta(t));
    if (!sn)
        return 0;
    char *lp = NULL;
    kiln_lake_manifest *ms = NULL;
    size_t n = 0;
    kiln_arena *a = kiln_arena_new(0);
    OK(kiln_lake_uri_to_path(&lp, sn->manifest_list, &err), "manifest list path");
    OK(kiln_lake_manifest_list_read(&ms, &n, a, lp, &err), "manifest list read");
    kiln_free(lp);
    kiln_arena_free(a);
    return (long long)n;
}

/* ================================================================ 1. commit latency */

static const kiln_column_def small_cols[] = {
    {"id", KILN_T_INT64, 1, 1, 0, 0},
    {"v", KILN_T_STRING, 0, 2, 0, 0},
};
static const kiln_schema small_schema = {2, small_cols};

/* Append n rows, one data file per row (target_file_rows = 1). */
static void append_rows(kiln_lake_table *t, kiln_batch *b, long long first, int n, kiln_lake_write_result *res)
{
    kiln_lake_write_opts o = {0};
    o.mode = KILN_LAKE_WRITE_APPEND;
    o.target_file_rows = 1;
    kiln_lake_writer *w = NULL;
    OK(kiln_lake_writer_open(&w, t, &o, &err), "writer open");
    kiln_batch_clear(b);
    for (int i = 0; i < n; i++) {
        char s[32];
        int len = snprintf(s, sizeof s, "row-%lld", first + i);
        OK(kiln_batch_put_i64(b, 0, first + i, &err), "put");
        OK(kiln_batch_put_str(b, 1, s, (size_t)len, &err), "put");
        OK(kiln_batch_end_row(b, &err), "end row");
    }
    OK(kiln_lake_writer_write(w, b, &err), "writer write");
    OK(kiln_lake_writer_commit(w, res, &err), "writer commit");
    kiln_lake_writer_free(w);
}

static int bench_commit(const char *warehouse)
{
    long nfiles = env_long("LAKE_FILES", 10000), nsnaps = env_long("LAKE_SNAPSHOTS", 1000);
    int runs = (int)env_long("LAKE_COMMITS", 20);
    long per = (nfiles + nsnaps - 1) / nsnaps;
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL;
    kiln_batch *b = NULL;
    OK(kiln_lake_catalog_open(&c, warehouse, KILN_LAKE_CATALOG_SQLITE, &err), "catalog open");
    kiln_lake_create_opts co = {0};
    co.schema_ddl = "id long not null, v string";
    OK(kiln_lake_table_create(&t, c, "bench.commits", &co, &err), "table create");
    OK(kiln_batch_new(&b, &small_schema, 1024, 0, &err), "batch");

    /* build: nsnaps real appends through the writer, `per` one-row Parquet files each */
    double t0 = kiln_mono_seconds();
    long long id = 0;
    for (long s = 0; s < nsnaps; s++) {
        kiln_lake_write_result r;
        append_rows(t, b, id, (int)per, &r);
        check(r.files_added == per, "%s: build append added %lld files, want %lld", "commit", r.files_added, per);
        id += per;
    }
    double build_s = kiln_mono_seconds() - t0;
    live_stats ls = live(t);
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    check(ls.files == id, "%s: table has %lld live data files, want %lld", "commit", ls.files, id);
    check((long long)m->nsnapshots == nsnaps, "%s: table has %lld snapshots, want %lld", "commit",
          (long long)m->nsnapshots, nsnaps);
    printf("commit: built table with %lld data files (%lld rows) in %zu snapshots (%ld appends of %ld "
           "one-row Parquet files via kiln_lake_writer) in %.1f s\n",
           ls.files, ls.rows, m->nsnapshots, nsnaps, per, build_s);

    /* table load (catalog lookup + metadata parse) */
    double *lt = calloc((size_t)runs, sizeof *lt), *ct = calloc((size_t)runs, sizeof *ct),
           *pt = calloc((size_t)runs, sizeof *pt), *et = calloc((size_t)runs, sizeof *et);
    for (int i = 0; i < runs; i++) {
        kiln_lake_table *t2 = NULL;
        double a = kiln_mono_seconds();
        OK(kiln_lake_table_load(&t2, c, "bench.commits", &err), "table load");
        lt[i] = (kiln_mono_seconds() - a) * 1e3;
        kiln_lake_table_free(t2);
    }
    /* single-file append commits on the loaded table: writer open .. commit */
    for (int i = 0; i < runs; i++) {
        kiln_lake_write_result r;
        double a = kiln_mono_seconds();
        append_rows(t, b, id++, 1, &r);
        ct[i] = (kiln_mono_seconds() - a) * 1e3;
        check(r.files_added == 1 && !r.noop, "%s: append added %lld files, want %lld", "commit", r.files_added, 1);
    }
    /* end to end from nothing loaded: load + open + write + commit */
    for (int i = 0; i < runs; i++) {
        kiln_lake_write_result r;
        kiln_lake_table *t2 = NULL;
        double a = kiln_mono_seconds();
        OK(kiln_lake_table_load(&t2, c, "bench.commits", &err), "table load");
        append_rows(t2, b, id++, 1, &r);
        et[i] = (kiln_mono_seconds() - a) * 1e3;
        kiln_lake_table_free(t2);
        check(r.files_added == 1 && !r.noop, "%s: append added %lld files, want %lld", "commit", r.files_added, 1);
    }
    OK(kiln_lake_table_refresh(t, &err), "refresh");
    /* metadata-only commits: set-properties */
    for (int i = 0; i < runs; i++) {
        char v[32];
        snprintf(v, sizeof v, "%d", i);
        kiln_lake_kv kv = {"bench.counter", v};
        double a = kiln_mono_seconds();
        OK(kiln_lake_set_properties(t, &kv, 1, &err), "set properties");
        pt[i] = (kiln_mono_seconds() - a) * 1e3;
    }
    ls = live(t);
    check(ls.files == id, "%s: after commits %lld live data files, want %lld", "commit", ls.files, id);
    const char *pv = kiln_lake_meta_property(kiln_lake_table_meta(t), "bench.counter");
    check(pv && atoi(pv) == runs - 1, "%s: property is %lld, want %lld", "commit", pv ? atoll(pv) : -1, runs - 1);

    double target = 100.0;
    printf("commit: runs %d each; peer = the PRODUCT.md target itself (%.0f ms); ratio = target/kiln (> 1 "
           "means under target)\n",
           runs, target);
    double lm = median(lt, runs), lp = p90(lt, runs);
    double cm = median(ct, runs), cp = p90(ct, runs);
    double em = median(et, runs), ep = p90(et, runs);
    double pm = median(pt, runs), pp = p90(pt, runs);
    printf("commit  table load                     median %7.2f ms  p90 %7.2f ms\n", lm, lp);
    printf("commit  append 1 file (loaded table)   median %7.2f ms  p90 %7.2f ms  ratio target/kiln %.2f\n", cm, cp,
           target / cm);
    printf("commit  load + append 1 file           median %7.2f ms  p90 %7.2f ms  ratio target/kiln %.2f\n", em, ep,
           target / em);
    printf("commit  set-properties (metadata only) median %7.2f ms  p90 %7.2f ms  ratio target/kiln %.2f\n", pm, pp,
           target / pm);
    {
        char *mp = NULL;
        struct stat st = {0};
        OK(kiln_lake_uri_to_path(&mp, kiln_lake_table_metadata_location(t), &err), "metadata path");
        stat(mp, &st);
        printf("commit  metadata file v%d.metadata.json: %.1f KB, %zu snapshots, %lld manifests in the head's list\n",
               kiln_lake_table_version(t), st.st_size / 1024.0, kiln_lake_table_meta(t)->nsnapshots, manifests_of(t));
        kiln_free(mp);
    }
    free(lt), free(ct), free(pt), free(et);
    kiln_batch_free(b);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
    return 0;
}

/* ================================================================ 2+3. MERGE of one day */

static const kiln_column_def commit_cols[] = {
    {"repo_id", KILN_T_INT64, 1, 1, 0, 0},          {"sha", KILN_T_STRING, 1, 2, 0, 0},
    {"push_id", KILN_T_INT64, 0, 3, 0, 0},          {"message", KILN_T_STRING, 0, 4, 0, 0},
    {"created_at", KILN_T_TIMESTAMPTZ, 1, 5, 0, 0},
};
static const kiln_schema commit_schema = {5, commit_cols};

static long rows_min, rows_max;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}
static long day_rows(int d) { return rows_min + (long)(mix((uint64_t)d + 7) % (uint64_t)(rows_max - rows_min + 1)); }

typedef struct sink_ctx {
    kiln_lake_writer *w;
    kiln_batch *b;
} sink_ctx;

static void flush(sink_ctx *s)
{
    if (s->b->nrows) {
        if (s->w) /* NULL: generation alone (timing the generator) */
            OK(kiln_lake_writer_write(s->w, s->b, &err), "writer write");
        kiln_batch_clear(s->b);
    }
}

/* Row i of day d; `updated` changes push_id/message (the MERGE's update). */
static void put_row(sink_ctx *s, int d, long i, int updated)
{
    uint64_t h = mix(((uint64_t)d << 32) | (uint64_t)i);
    char sha[41], msg[96];
    snprintf(sha, sizeof sha, "%016llx%016llx%08x", (unsigned long long)h, (unsigned long long)mix(h),
             (unsigned)(h >> 7));
    int ml = snprintf(msg, sizeof msg, "%s commit %ld of day %d: fix things in module %u", updated ? "upd" : "orig", i,
                      d, (unsigned)(h % 97));
    int64_t ts = (int64_t)(DAY0 + d) * US_PER_DAY + (int64_t)(h % (uint64_t)US_PER_DAY);
    OK(kiln_batch_put_i64(s->b, 0, (int64_t)(h % 200000), &err), "put");
    OK(kiln_batch_put_str(s->b, 1, sha, 40, &err), "put");
    OK(kiln_batch_put_i64(s->b, 2, (int64_t)(h >> 20) + (updated ? 1 : 0), &err), "put");
    OK(kiln_batch_put_str(s->b, 3, msg, (size_t)ml, &err), "put");
    OK(kiln_batch_put_i64(s->b, 4, ts, &err), "put");
    OK(kiln_batch_end_row(s->b, &err), "end row");
    if (kiln_batch_full(s->b))
        flush(s);
}

/* The original rows of day d, or with `merged` the rows it has after the
 * MERGE: first half updated, plus n/2 inserted rows. */
static void put_day(sink_ctx *s, int d, int merged)
{
    long n = day_rows(d);
    for (long i = 0; i < n; i++)
        put_row(s, d, i, merged && i < n / 2);
    if (merged)
        for (long i = n; i < n + n / 2; i++)
            put_row(s, d, i, 0);
}

/* MERGE source of day d: n/2 updates of existing keys, n/2 new keys. */
static void put_merge_source(sink_ctx *s, int d)
{
    long n = day_rows(d);
    for (long i = 0; i < n / 2; i++)
        put_row(s, d, i, 1);
    for (long i = n; i < n + n / 2; i++)
        put_row(s, d, i, 0);
}

typedef struct file_set {
    char **paths;
    int *day;
    size_t n, cap;
} file_set;
static int fs_cb(void *ctx, const kiln_lake_entry *e)
{
    file_set *f = ctx;
    if (e->df.content != KILN_LAKE_CONTENT_DATA)
        return 0;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 512;
        f->paths = realloc(f->paths, f->cap * sizeof *f->paths);
        f->day = realloc(f->day, f->cap * sizeof *f->day);
    }
    f->paths[f->n] = strdup(e->df.file_path);
    f->day[f->n] = e->df.npart > 0 ? (int)e->df.partition[0].i - DAY0 : -1;
    f->n++;
    return 0;
}
static file_set files_of(kiln_lake_table *t)
{
    file_set f = {0};
    OK(kiln_lake_files_list(t, -1, fs_cb, &f, &err), "files list");
    return f;
}
static void fs_free(file_set *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->paths[i]);
    free(f->paths), free(f->day);
}
static int fs_has(const file_set *f, const char *p)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->paths[i], p))
            return 1;
    return 0;
}

/* Rows of day d seen by a scan, and how many carry the update marker. */
static void scan_day(kiln_lake_table *t, int d, long long *rows, long long *upd)
{
    char where[160];
    int64_t lo = (int64_t)(DAY0 + d) * 86400, hi = lo + 86400;
    struct tm a, b;
    time_t tl = (time_t)lo, th = (time_t)hi;
    gmtime_r(&tl, &a);
    gmtime_r(&th, &b);
    snprintf(where, sizeof where,
             "created_at >= '%04d-%02d-%02dT00:00:00Z' and created_at < '%04d-%02d-%02dT00:00:00Z'", a.tm_year + 1900,
             a.tm_mon + 1, a.tm_mday, b.tm_year + 1900, b.tm_mon + 1, b.tm_mday);
    kiln_lake_scan_opts so = {0};
    so.columns = "message";
    so.where = where;
    kiln_lake_scan *s = NULL;
    OK(kiln_lake_scan_open(&s, t, &so, &err), "scan open");
    const kiln_batch *bt;
    int rc;
    *rows = *upd = 0;
    while ((rc = kiln_lake_scan_next(s, &bt, &err)) == 1) {
        for (size_t r = 0; r < bt->nrows; r++) {
            size_t n;
            const char *m = kiln_batch_str(bt, 0, r, &n);
            if (n >= 3 && !memcmp(m, "upd", 3))
                (*upd)++;
        }
        *rows += (long long)bt->nrows;
    }
    if (rc < 0)
        die_rc(rc, "scan");
    kiln_lake_scan_free(s);
}

static int bench_merge(const char *warehouse)
{
    int days = (int)env_long("LAKE_DAYS", 365);
    int runs = (int)env_long("BENCH_RUNS", 5);
    rows_min = env_long("LAKE_DAY_ROWS_MIN", 2000);
    rows_max = env_long("LAKE_DAY_ROWS_MAX", 5000);
    if (rows_max < rows_min)
        rows_max = rows_min;
    if (runs > days)
        runs = days;
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL;
    sink_ctx sc = {0};
    OK(kiln_lake_catalog_open(&c, warehouse, KILN_LAKE_CATALOG_SQLITE, &err), "catalog open");
    kiln_lake_create_opts co = {0};
    co.schema_ddl = "repo_id long not null, sha string not null, push_id long, message string, "
                    "created_at timestamptz not null";
    co.partition = "day(created_at)";
    OK(kiln_lake_table_create(&t, c, "bench.year", &co, &err), "table create");
    OK(kiln_batch_new(&sc.b, &commit_schema, 8192, 0, &err), "batch");

    /* build: one append per day (as a daily pipeline would: one manifest and
     * one snapshot per day), or with LAKE_YEAR_BUILD=once a single append */
    const char *how = getenv("LAKE_YEAR_BUILD");
    int once = how && !strcmp(how, "once");
    long long total = 0;
    double t0 = kiln_mono_seconds();
    kiln_lake_write_opts ao = {0};
    ao.mode = KILN_LAKE_WRITE_APPEND;
    kiln_lake_write_result r;
    for (int d = 0; d < days; d++) {
        if (d == 0 || !once)
            OK(kiln_lake_writer_open(&sc.w, t, &ao, &err), "writer open");
        put_day(&sc, d, 0);
        total += day_rows(d);
        if (d == days - 1 || !once) {
            flush(&sc);
            OK(kiln_lake_writer_commit(sc.w, &r, &err), "build commit");
            kiln_lake_writer_free(sc.w);
        }
    }
    double build_s = kiln_mono_seconds() - t0;
    live_stats ls = live(t);
    check(ls.rows == total, "%s: table has %lld rows, want %lld", "merge", ls.rows, total);
    printf("merge: built %d-day table partitioned by day(created_at): %lld rows, %lld data files, %zu snapshots, "
           "in %.1f s (%s)\n",
           days, total, ls.files, kiln_lake_table_meta(t)->nsnapshots, build_s,
           once ? "one append" : "one append per day");

    /* 2. MERGE one day per run (different days, so each run does the same work) */
    double *mt = calloc((size_t)runs, sizeof *mt), *it = calloc((size_t)runs, sizeof *it),
           *ot = calloc((size_t)runs, sizeof *ot);
    long long rewritten_max = 0, src_rows_sum = 0;
    int first_day = days / 3;
    for (int k = 0; k < runs; k++) {
        int d = first_day + k;
        long n = day_rows(d);
        file_set before = files_of(t);
        kiln_lake_write_opts mo = {0};
        mo.mode = KILN_LAKE_WRITE_MERGE;
        mo.merge_keys = "repo_id,sha";
        double a = kiln_mono_seconds();
        OK(kiln_lake_writer_open(&sc.w, t, &mo, &err), "merge writer open");
        put_merge_source(&sc, d);
        flush(&sc);
        OK(kiln_lake_writer_commit(sc.w, &r, &err), "merge commit");
        mt[k] = (kiln_mono_seconds() - a) * 1e3;
        kiln_lake_writer_free(sc.w);
        src_rows_sum += 2 * (n / 2);
        /* correctness: counts, and only day d's files replaced */
        check(!r.noop && r.snapshot_id >= 0, "%s: MERGE committed nothing (noop %lld, snapshot %lld)", "merge", r.noop,
              r.snapshot_id);
        check(r.rows_updated == n / 2, "%s: MERGE updated %lld rows, want %lld", "merge", r.rows_updated, n / 2);
        check(r.rows_inserted == n / 2, "%s: MERGE inserted %lld rows, want %lld", "merge", r.rows_inserted, n / 2);
        file_set after = files_of(t);
        long long removed = 0, removed_other = 0, added_other = 0;
        for (size_t i = 0; i < before.n; i++)
            if (!fs_has(&after, before.paths[i])) {
                removed++;
                if (before.day[i] != d)
                    removed_other++;
            }
        for (size_t i = 0; i < after.n; i++)
            if (!fs_has(&before, after.paths[i]) && after.day[i] != d)
                added_other++;
        check(removed >= 1 && removed == r.files_removed, "%s: %lld files left the table, result says %lld", "merge",
              removed, r.files_removed);
        check(removed_other == 0, "%s: MERGE removed %lld files of other days (added elsewhere: %lld)", "merge",
              removed_other, added_other);
        check(added_other == 0, "%s: MERGE added %lld files outside day %lld", "merge", added_other, d);
        if (removed > rewritten_max)
            rewritten_max = removed;
        fs_free(&before), fs_free(&after);
        total += n / 2;
        long long dr, du;
        scan_day(t, d, &dr, &du);
        check(dr == n + n / 2, "%s: day has %lld rows after MERGE, want %lld", "merge", dr, n + n / 2);
        check(du == n / 2, "%s: day has %lld updated rows after MERGE, want %lld", "merge", du, n / 2);
    }
    ls = live(t);
    check(ls.rows == total, "%s: table has %lld rows after MERGEs, want %lld", "merge", ls.rows, total);

    /* 3. the same MERGEs again: nothing to change, nothing written */
    for (int k = 0; k < runs; k++) {
        int d = first_day + k;
        int ver = kiln_lake_table_version(t);
        int64_t snap = kiln_lake_table_meta(t)->current_snapshot_id;
        long long nfiles = count_files(kiln_lake_table_dir(t));
        kiln_lake_write_opts mo = {0};
        mo.mode = KILN_LAKE_WRITE_MERGE;
        mo.merge_keys = "repo_id,sha";
        double a = kiln_mono_seconds();
        OK(kiln_lake_writer_open(&sc.w, t, &mo, &err), "merge writer open");
        put_merge_source(&sc, d);
        flush(&sc);
        OK(kiln_lake_writer_commit(sc.w, &r, &err), "merge re-run commit");
        it[k] = (kiln_mono_seconds() - a) * 1e3;
        kiln_lake_writer_free(sc.w);
        check(r.noop == 1 && r.snapshot_id == -1, "%s: re-run MERGE was not a no-op (noop %lld, snapshot %lld)",
              "idempotency", r.noop, r.snapshot_id);
        check(kiln_lake_table_version(t) == ver, "%s: metadata version moved %lld -> %lld", "idempotency", ver,
              kiln_lake_table_version(t));
        check(kiln_lake_table_meta(t)->current_snapshot_id == snap, "%s: snapshot moved %lld -> %lld", "idempotency",
              snap, kiln_lake_table_meta(t)->current_snapshot_id);
        kiln_lake_table *t2 = NULL; /* what the catalog says, not just our handle */
        OK(kiln_lake_table_load(&t2, c, "bench.year", &err), "table load");
        check(kiln_lake_table_version(t2) == ver, "%s: catalog's metadata version moved %lld -> %lld", "idempotency",
              ver, kiln_lake_table_version(t2));
        kiln_lake_table_free(t2);
        long long nf2 = count_files(kiln_lake_table_dir(t));
        check(nf2 == nfiles, "%s: files on disk %lld -> %lld", "idempotency", nfiles, nf2);
    }

    /* peer: rewrite the whole table with the merged rows (dynamic overwrite of every day) */
    for (int k = 0; k < runs; k++) {
        kiln_lake_write_opts oo = {0};
        oo.mode = KILN_LAKE_WRITE_OVERWRITE;
        double a = kiln_mono_seconds();
        OK(kiln_lake_writer_open(&sc.w, t, &oo, &err), "overwrite writer open");
        for (int d = 0; d < days; d++)
            put_day(&sc, d, d >= first_day && d < first_day + runs);
        flush(&sc);
        OK(kiln_lake_writer_commit(sc.w, &r, &err), "overwrite commit");
        ot[k] = (kiln_mono_seconds() - a) * 1e3;
        kiln_lake_writer_free(sc.w);
        ls = live(t);
        check(ls.rows == total, "%s: table has %lld rows after overwrite, want %lld", "overwrite", ls.rows, total);
        check(r.files_removed >= days, "%s: overwrite removed %lld files, want >= %lld", "overwrite", r.files_removed,
              days);
    }

    /* what generating the rows costs (included in the timings above) */
    double g0 = kiln_mono_seconds();
    sc.w = NULL;
    put_merge_source(&sc, first_day);
    flush(&sc);
    double gen_merge_ms = (kiln_mono_seconds() - g0) * 1e3;
    g0 = kiln_mono_seconds();
    for (int d = 0; d < days; d++)
        put_day(&sc, d, 0);
    flush(&sc);
    double gen_all_ms = (kiln_mono_seconds() - g0) * 1e3;

    double mm = median(mt, runs), mp = p90(mt, runs), im = median(it, runs), ip = p90(it, runs);
    double om = median(ot, runs);
    printf("merge: runs %d each (MERGE run k merges day %d+k: %ld..%ld rows/day, half updates, half inserts, "
           "keys repo_id,sha)\n",
           runs, first_day, rows_min, rows_max);
    printf("merge   MERGE one day                 median %8.1f ms  p90 %8.1f ms  files rewritten <= %lld "
           "(only that day's; checked)\n",
           mm, mp, rewritten_max);
    printf("merge   peer: overwrite whole table   median %8.1f ms  (%lld rows, every day's files replaced)\n", om,
           total);
    printf("merge   ratio overwrite/MERGE speed: %.1f (peer = naive full-table rewrite; > 1 means MERGE is faster)\n",
           om / mm);
    printf("idem    MERGE re-run (no-op)          median %8.1f ms  p90 %8.1f ms  ratio target/kiln %.2f "
           "(peer = PRODUCT.md target 50 ms; no snapshot, no file written: checked)\n",
           im, ip, 50.0 / im);
    printf("merge   (timings include generating the rows in memory: %.1f ms for one MERGE source, %.1f ms for "
           "the whole table)\n",
           gen_merge_ms, gen_all_ms);
    free(mt), free(it), free(ot);
    kiln_batch_free(sc.b);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: lake_bench commit|merge WAREHOUSE\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(argv[1], "commit"))
        return bench_commit(argv[2]);
    if (!strcmp(argv[1], "merge"))
        return bench_merge(argv[2]);
    fprintf(stderr, "lake_bench: unknown benchmark '%s'\n", argv[1]);
    return 1;
}
